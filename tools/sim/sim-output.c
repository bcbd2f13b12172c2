// tools/sim/sim-output.c: what a run writes into its folder: config.json
// (runnable as it is), manifest.json (version, command, seed, privacy and
// the dataset's BLAKE2b-256 checksums), rounds.jsonl (one line per closed
// round, deterministic for a seed: no times), timing.jsonl, summary.json,
// and the per-round lines on stdout. Every output carries SIM_NOISE_NOTE.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fb_vcs.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/hash.h"
#include "sim-internal.h"

// A finite number, or null.
static void
json_number(FILE *fp, double v)
{
	if (isfinite(v)) {
		fprintf(fp, "%.10g", v);
	} else {
		fputs("null", fp);
	}
}

// BLAKE2b-256 of every regular file of dir, in name order, as JSON.
static fb_err
write_checksums(FILE *fp, const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		return fb_errorf(FB_EIO, "%s: %s", dir, strerror(errno));
	}
	fb_err err = FB_OK;
	unsigned char *buf = malloc(1u << 20);
	if (buf == NULL) {
		err = FB_ENOMEM;
	}
	bool first = true;
	fprintf(fp, "[");
	for (int i = 0; i < n; i++) {
		char *path = err == FB_OK ? fb_path_join(dir, names[i]->d_name)
					  : NULL;
		struct stat sb;
		if (path != NULL && stat(path, &sb) == 0 &&
				S_ISREG(sb.st_mode)) {
			FILE *f = fopen(path, "rb");
			if (f == NULL) {
				err = fb_errorf(FB_EIO, "%s: %s", path,
						strerror(errno));
			} else {
				struct fb_hash h;
				fb_hash_init(&h);
				size_t got;
				while ((got = fread(buf, 1, 1u << 20, f)) > 0) {
					fb_hash_update(&h, buf, got);
				}
				if (ferror(f)) {
					err = fb_errorf(FB_EIO,
							"%s: read error", path);
				}
				fclose(f);
				uint8_t digest[FB_HASH_LEN];
				char hex[2 * FB_HASH_LEN + 1];
				fb_hash_final(&h, digest);
				fb_hash_hex(digest, hex);
				fprintf(fp, "%s\n    {\"file\": ",
						first ? "" : ",");
				fb_config_write_string(fp, names[i]->d_name);
				fprintf(fp,
						", \"bytes\": %lld, \"blake2b-256\": "
						"\"%s\"}",
						(long long)sb.st_size, hex);
				first = false;
			}
		}
		free(path);
		free(names[i]);
	}
	fprintf(fp, "\n  ]");
	free(names);
	free(buf);
	return err;
}

static const char *const status_names[] = {
		"idle", "missing", "update", "refused", "rejected", "dropped"};

// One line of rounds.jsonl: deterministic for a seed (no times).
static void
write_round_line(FILE *fp, const struct sim_config *cfg,
		const struct sim_round_rec *r, double sigma, bool evaluated,
		const double m[4], uint64_t users)
{
	fprintf(fp,
			"{\"round\": %u, \"status\": \"%s\", \"privacy\": \"%s\", "
			"\"noise_multiplier\": ",
			r->round, r->committed ? "committed" : "abandoned",
			sim_privacy_name(cfg->privacy));
	json_number(fp, sigma);
	fprintf(fp,
			", \"participants\": %u, \"updates\": %u, "
			"\"refusals\": %u, \"loss\": ",
			r->st.participants, r->st.updates, r->st.refusals);
	json_number(fp, r->loss);
	if (!r->committed && r->st.abandoned != NULL) {
		fprintf(fp, ", \"abandoned\": \"%s\"", r->st.abandoned);
	}
	if (r->st.secure) {
		// Secure aggregation: the parties and the stage sets U1..U4.
		fprintf(fp,
				", \"secagg_parties\": %u, \"secagg_u\": [%u, %u, "
				"%u, %u]",
				r->st.sa_n, r->st.sa_u1, r->st.sa_u2,
				r->st.sa_u3, r->st.sa_u4);
	}
	if (evaluated) {
		for (int i = 0; i < 4; i++) {
			fprintf(fp, ", \"%s\": ", sim_metric_names[i]);
			json_number(fp, users > 0 ? m[i] / (double)users : NAN);
		}
		fprintf(fp, ", \"eval_users\": %llu",
				(unsigned long long)users);
	}
	if (r->reported_users > 0) {
		fprintf(fp, ", \"reported_recall@20\": ");
		json_number(fp, r->reported_recall / (double)r->reported_users);
		fprintf(fp, ", \"reported_ndcg@20\": ");
		json_number(fp, r->reported_ndcg / (double)r->reported_users);
		fprintf(fp, ", \"reported_users\": %llu",
				(unsigned long long)r->reported_users);
	}
	double max_eps = -1;
	fprintf(fp, ", \"epsilon\": [");
	for (uint32_t c = 0; c < cfg->retailers; c++) {
		fprintf(fp, "%s", c > 0 ? ", " : "");
		if (r->client_status[c] == AGG_CL_UPDATE) {
			json_number(fp, r->client_eps[c]);
			if (!isfinite(r->client_eps[c]) ||
					r->client_eps[c] > max_eps) {
				max_eps = isfinite(r->client_eps[c])
						? r->client_eps[c]
						: INFINITY;
			}
		} else {
			fb_config_write_string(fp,
					status_names[r->client_status[c] < 6
									? r->client_status[c]
									: 0]);
		}
	}
	fprintf(fp, "], \"epsilon_max\": ");
	json_number(fp, max_eps >= 0 ? max_eps : NAN);
	if (r->have_agg_eps) {
		fprintf(fp, ", \"aggregator_epsilon\": ");
		json_number(fp, r->agg_eps);
	}
	fprintf(fp,
			", \"bytes_in\": %llu, \"bytes_out\": %llu, \"noise\": "
			"\"" SIM_NOISE_NOTE "\"}\n",
			(unsigned long long)r->st.bytes_in,
			(unsigned long long)r->st.bytes_out);
	fflush(fp);
}

// The epsilon a round spent, as the run reports it.
static double
round_epsilon(const struct sim_config *cfg, const struct sim_round_rec *r)
{
	if (cfg->privacy == SIM_PRIV_NONE) {
		return INFINITY;
	}
	if (cfg->privacy == SIM_PRIV_CLIENT) {
		return r->have_agg_eps ? r->agg_eps : NAN;
	}
	double e = NAN;
	for (uint32_t c = 0; c < cfg->retailers; c++) {
		if (r->client_status[c] == AGG_CL_UPDATE &&
				(isnan(e) || r->client_eps[c] > e)) {
			e = r->client_eps[c];
		}
	}
	return e;
}

fb_err
sim_write_config_file(struct sim_runner *R)
{
	char *path = fb_path_join(R->out, "config.json");
	FILE *fp = path != NULL ? fopen(path, "w") : NULL;
	if (fp == NULL) {
		fb_err err = path == NULL ? FB_ENOMEM
					  : fb_errorf(FB_EIO, "%s: %s", path,
							    strerror(errno));
		free(path);
		return err;
	}
	sim_config_write_json(fp, R->cfg, 0);
	fputc('\n', fp);
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	fb_err err = bad ? fb_errorf(FB_EIO, "%s: write error", path) : FB_OK;
	free(path);
	return err;
}

fb_err
sim_write_manifest(struct sim_runner *R)
{
	const struct sim_config *cfg = R->cfg;
	char *path = fb_path_join(R->out, "manifest.json");
	FILE *fp = path != NULL ? fopen(path, "w") : NULL;
	if (fp == NULL) {
		fb_err err = path == NULL ? FB_ENOMEM
					  : fb_errorf(FB_EIO, "%s: %s", path,
							    strerror(errno));
		free(path);
		return err;
	}
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(fp, "{\n  \"tool\": \"fedbundle simulate\",\n  \"version\": ");
	fb_config_write_string(fp, FB_VCS_TAG);
	fprintf(fp, ",\n  \"command\": ");
	fb_config_write_string(
			fp, R->opt->command != NULL ? R->opt->command : "");
	fprintf(fp,
			",\n  \"started\": \"%s\",\n  \"noise\": \"" SIM_NOISE_NOTE
			"\",\n  \"seed\": %llu,\n  \"mode\": \"%s\",\n"
			"  \"privacy\": {\"mode\": \"%s\", \"noise_multiplier\": ",
			when, (unsigned long long)cfg->seed,
			R->opt->processes ? "processes (tcp loopback)"
					: R->opt->tcp
					? "in-process (tcp loopback)"
					: "in-process (inproc)",
			sim_privacy_name(cfg->privacy));
	json_number(fp, R->res.noise_multiplier);
	fprintf(fp, ", \"target_epsilon\": ");
	json_number(fp,
			cfg->privacy == SIM_PRIV_NONE ? INFINITY
						      : cfg->epsilon);
	fprintf(fp, ", \"delta\": %.10g, \"trust\": ", cfg->server.round.delta);
	fb_config_write_string(fp, sim_trust_text(cfg));
	fprintf(fp, "},\n  \"config\": ");
	sim_config_write_json(fp, cfg, 2);
	fprintf(fp, ",\n  \"dataset\": {\"path\": ");
	fb_config_write_string(fp, cfg->data);
	fprintf(fp,
			", \"users\": %u, \"bundles\": %u, \"items\": %u, "
			"\"attrs\": %u,\n  \"files\": ",
			R->data.ds->n_users, R->data.ds->n_bundles,
			R->data.ds->n_items, R->data.ds->n_attrs);
	fb_err err = write_checksums(fp, cfg->data);
	fprintf(fp, "},\n  \"retailers\": [");
	for (uint32_t k = 0; k < R->data.k; k++) {
		const struct fb_dataset *p = R->data.parts[k];
		fprintf(fp,
				"%s\n    {\"users\": %u, \"train_pairs\": %llu, "
				"\"test_pairs\": %llu}",
				k > 0 ? "," : "", p->n_users,
				(unsigned long long)fb_csr_nnz(&p->ub_train),
				(unsigned long long)fb_csr_nnz(&p->ub_test));
	}
	fprintf(fp, "\n  ]\n}\n");
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	if (err == FB_OK && bad) {
		err = fb_errorf(FB_EIO, "%s: write error", path);
	}
	free(path);
	return err;
}

fb_err
sim_open_out(const char *out, const char *name, FILE **fp)
{
	char *path = fb_path_join(out, name);
	*fp = path != NULL ? fopen(path, "w") : NULL;
	fb_err err = *fp != NULL ? FB_OK
			: path == NULL
			? FB_ENOMEM
			: fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	free(path);
	return err;
}

// Handles a closed round: evaluation, the lines, the best so far.
fb_err
sim_on_closed(struct sim_runner *R, const struct sim_round_rec *r,
		const struct fb_model *model, double round_s, double train_s)
{
	const struct sim_config *cfg = R->cfg;
	bool evaluate = !R->opt->processes &&
			(r->round % cfg->eval_every == 0 ||
					r->round >= cfg->rounds);
	double sums[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
	uint64_t users = 0;
	double t0 = fb_clock_s();
	if (evaluate) {
		fb_err err = sim_eval_round(&R->ev, model, &R->data, R->cl,
				(int)cfg->threads, sums, &users);
		if (err != FB_OK) {
			return err;
		}
		R->last_evaluated = r->round;
	}
	double eval_s = fb_clock_s() - t0;
	write_round_line(R->rounds, cfg, r, R->res.noise_multiplier, evaluate,
			sums, users);
	fprintf(R->timing,
			"{\"round\": %u, \"wall_s\": %.4f, \"clients_s\": %.4f, "
			"\"eval_s\": %.4f, \"aggregation_s\": %.4f, "
			"\"commit_s\": %.4f}\n",
			r->round, round_s + eval_s, train_s, eval_s,
			r->st.aggregation_s, r->st.commit_s);
	fflush(R->timing);
	struct sim_result *res = &R->res;
	res->rounds++;
	res->committed += r->committed;
	res->bytes += r->st.bytes_in + r->st.bytes_out;
	double eps = round_epsilon(cfg, r);
	if (!isnan(eps)) {
		R->last_eps = eps;
	}
	if (evaluate && users > 0) {
		for (int i = 0; i < 4; i++) {
			m[i] = sums[i] / (double)users;
			res->final_metric[i] = m[i];
			if (!R->have_best || m[i] > res->best_metric[i]) {
				res->best_metric[i] = m[i];
				if (i == 0) {
					res->best_round = r->round;
				}
			}
		}
		R->have_best = true;
		res->have_eval = true;
		res->eval_users = users;
	}
	if (!R->opt->quiet) {
		printf("round %3u %-9s participants %u", r->round,
				r->committed ? "committed" : "abandoned",
				r->st.participants);
		if (isfinite(r->loss)) {
			printf("  loss %.4f", r->loss);
		}
		if (evaluate && users > 0) {
			printf("  Recall@20 %.4f NDCG@20 %.4f", m[0], m[1]);
		} else if (r->reported_users > 0) {
			printf("  Recall@20 %.4f (reported, model of the "
			       "round before)",
					r->reported_recall / r->reported_users);
		}
		if (isfinite(eps)) {
			printf("  epsilon %.3f", eps);
		} else if (cfg->privacy == SIM_PRIV_NONE) {
			printf("  epsilon inf (non-private)");
		}
		if (!r->committed && r->st.abandoned != NULL) {
			printf("  (%s)", r->st.abandoned);
		}
		if (r->st.secure) {
			printf("  secagg U1..U4 %u/%u/%u/%u of %u, %.2f s",
					r->st.sa_u1, r->st.sa_u2, r->st.sa_u3,
					r->st.sa_u4, r->st.sa_n,
					r->st.secagg_s);
		}
		printf("  %.2f s\n", round_s + eval_s);
		fflush(stdout);
	}
	return FB_OK;
}

fb_err
sim_write_summary(struct sim_runner *R)
{
	FILE *fp = NULL;
	fb_err err = sim_open_out(R->out, "summary.json", &fp);
	if (err != FB_OK) {
		return err;
	}
	const struct sim_result *s = &R->res;
	fprintf(fp,
			"{\"noise\": \"" SIM_NOISE_NOTE
			"\", \"privacy\": \"%s\", "
			"\"retailers\": %u, \"rounds\": %u, \"committed\": %u, "
			"\"noise_multiplier\": ",
			sim_privacy_name(R->cfg->privacy), R->cfg->retailers,
			s->rounds, s->committed);
	json_number(fp, s->noise_multiplier);
	fprintf(fp, ", \"epsilon\": ");
	json_number(fp, s->epsilon);
	for (int i = 0; i < 4; i++) {
		fprintf(fp, ", \"final_%s\": ", sim_metric_names[i]);
		json_number(fp, s->have_eval ? s->final_metric[i] : NAN);
	}
	for (int i = 0; i < 4; i++) {
		fprintf(fp, ", \"best_%s\": ", sim_metric_names[i]);
		json_number(fp, s->have_eval ? s->best_metric[i] : NAN);
	}
	fprintf(fp,
			", \"best_round\": %u, \"eval_users\": %llu, "
			"\"bytes\": %llu, \"wall_s\": %.3f, "
			"\"rounds_per_min\": %.4f, \"peak_rss_kb\": %ld, "
			"\"aggregator_peak_rss_kb\": %ld, \"trust\": ",
			s->best_round, (unsigned long long)s->eval_users,
			(unsigned long long)s->bytes, s->wall_s,
			s->rounds_per_min, s->peak_rss_kb, s->agg_peak_rss_kb);
	fb_config_write_string(fp, sim_trust_text(R->cfg));
	fprintf(fp, "}\n");
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	return bad ? fb_errorf(FB_EIO, "%s/summary.json: write error", R->out)
		   : FB_OK;
}
