// server/oplog.c: see oplog.h. JSON numbers that may be infinite (a
// non-private client's epsilon) are written as null with "private": false.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "oplog.h"

static const char *
status_name(enum agg_client_status s)
{
	switch (s) {
	case AGG_CL_IDLE:
		return "idle";
	case AGG_CL_WAITING:
		return "missing";
	case AGG_CL_UPDATE:
		return "update";
	case AGG_CL_REFUSED:
		return "refused";
	case AGG_CL_REJECTED:
		return "rejected";
	case AGG_CL_DROPPED:
		return "dropped";
	}
	return "?";
}

static double
mb(uint64_t bytes)
{
	return (double)bytes / 1e6;
}

static void
human_line(const struct agg_fed *fed)
{
	FILE *fp = fed->human;
	const struct agg_round_stats *st = &fed->st;
	fprintf(fp,
			"round %3u %-9s participants %u  updates %u refusals "
			"%u late %u rejected %u  in %.2f MB out %.2f MB  "
			"broadcast %.2fs collection %.2fs aggregation %.3fs "
			"commit %.3fs",
			fed->round, st->committed ? "committed" : "abandoned",
			st->participants, st->updates, st->refusals, st->late,
			st->rejected, mb(st->bytes_in), mb(st->bytes_out),
			st->broadcast_s, st->collection_s, st->aggregation_s,
			st->commit_s);
	if (!st->committed && st->abandoned != NULL) {
		fprintf(fp, "  (%s)", st->abandoned);
	}
	if (st->secure) {
		fprintf(fp, "  secagg %u parties U1..U4 %u/%u/%u/%u %.3fs",
				st->sa_n, st->sa_u1, st->sa_u2, st->sa_u3,
				st->sa_u4, st->secagg_s);
	}
	if (fed->acc.eval_users > 0) {
		fprintf(fp, "  Recall@20 %.4f NDCG@20 %.4f (%llu users)",
				fed->acc.recall_sum / fed->acc.eval_users,
				fed->acc.ndcg_sum / fed->acc.eval_users,
				(unsigned long long)fed->acc.eval_users);
	}
	fprintf(fp, "  epsilon");
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		if (!cl->participant) {
			continue;
		}
		if (cl->status != AGG_CL_UPDATE) {
			fprintf(fp, " %s=%s", cl->name,
					status_name(cl->status));
		} else if (isfinite(cl->epsilon)) {
			fprintf(fp, " %s=%.3f", cl->name, cl->epsilon);
		} else {
			fprintf(fp, " %s=inf(not private)", cl->name);
		}
	}
	fputc('\n', fp);
	fflush(fp);
}

static void
json_line(const struct agg_fed *fed, FILE *fp)
{
	const struct agg_round_stats *st = &fed->st;
	static const char *const gran[] = {"none", "user", "client"};
	fprintf(fp,
			"{\"round\": %u, \"status\": \"%s\", \"granularity\": "
			"\"%s\", \"noise_multiplier\": %.17g, \"participants\": "
			"%u, \"updates\": %u, \"refusals\": %u, \"late\": %u, "
			"\"rejected\": %u, \"dropped\": %u, \"bytes_in\": %llu, "
			"\"bytes_out\": %llu, \"broadcast_s\": %.4f, "
			"\"collection_s\": %.4f, \"aggregation_s\": %.4f, "
			"\"commit_s\": %.4f, \"eval_users\": %llu",
			fed->round, st->committed ? "committed" : "abandoned",
			gran[fed->plan_cfg.granularity],
			fed->plan_cfg.noise_multiplier, st->participants,
			st->updates, st->refusals, st->late, st->rejected,
			st->dropped, (unsigned long long)st->bytes_in,
			(unsigned long long)st->bytes_out, st->broadcast_s,
			st->collection_s, st->aggregation_s, st->commit_s,
			(unsigned long long)fed->acc.eval_users);
	fprintf(fp, ", \"open_s\": %.4f, \"seal_s\": %.4f", st->open_s,
			st->seal_s);
	// A secure round (secagg-v1): its parties, the sizes of the stage
	// sets U1 (advertised) .. U4 (revealed) and its time to the sum.
	if (st->secure) {
		fprintf(fp,
				", \"secure\": true, \"secagg_parties\": %u, "
				"\"secagg_u1\": %u, \"secagg_u2\": %u, "
				"\"secagg_u3\": %u, \"secagg_u4\": %u, "
				"\"secagg_s\": %.4f",
				st->sa_n, st->sa_u1, st->sa_u2, st->sa_u3,
				st->sa_u4, st->secagg_s);
	}
	// wire-v1 §9.7: the limit updates were checked against, the largest
	// norm counted, and how far the commit moved the model.
	if (isfinite(fed->limit.l2)) {
		fprintf(fp, ", \"update_bound\": %.9g", fed->limit.l2);
	} else {
		fprintf(fp, ", \"update_bound\": null");
	}
	fprintf(fp, ", \"largest_update\": %.9g", fed->acc.max_norm);
	if (st->committed) {
		fprintf(fp, ", \"model_move\": %.9g", st->model_move);
	} else {
		fprintf(fp, ", \"abandoned\": \"%s\"",
				st->abandoned != NULL ? st->abandoned : "?");
	}
	fprintf(fp,
			", \"upload_grants\": %u, \"upload_waits\": %u, "
			"\"uploads_peak\": %u, \"download_grants\": %u, "
			"\"download_waits\": %u, \"downloads_peak\": %u",
			st->upload_grants, st->upload_waits, st->uploads_peak,
			st->download_grants, st->download_waits,
			st->downloads_peak);
	if (fed->acc.eval_users > 0) {
		fprintf(fp, ", \"recall@20\": %.6f, \"ndcg@20\": %.6f",
				fed->acc.recall_sum / fed->acc.eval_users,
				fed->acc.ndcg_sum / fed->acc.eval_users);
	}
	if (fed->dp != NULL) {
		double eps = 0;
		size_t rel = 0;
		if (fb_dp_spent(fed->dp, &eps, &rel) == FB_OK) {
			fprintf(fp,
					", \"aggregator_epsilon\": %.17g, "
					"\"aggregator_releases\": %zu",
					eps, rel);
		}
	}
	fprintf(fp, ", \"clients\": [");
	int first = 1;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		if (!cl->participant) {
			continue;
		}
		fprintf(fp, "%s{\"name\": \"%s\", \"status\": \"%s\"",
				first ? "" : ", ", cl->name,
				status_name(cl->status));
		first = 0;
		if (cl->status == AGG_CL_UPDATE) {
			if (isfinite(cl->epsilon)) {
				fprintf(fp,
						", \"epsilon\": %.17g, "
						"\"private\": true",
						cl->epsilon);
			} else {
				fprintf(fp,
						", \"epsilon\": null, "
						"\"private\": false");
			}
		}
		if (cl->status == AGG_CL_REFUSED ||
				cl->status == AGG_CL_REJECTED) {
			fprintf(fp, ", \"reason\": \"%s\"",
					fb_wire_reason_name(cl->refuse_reason));
		}
		fputc('}', fp);
	}
	fprintf(fp, "]}\n");
	fflush(fp);
}

void
agg_oplog_round(const struct agg_fed *fed)
{
	if (fed->human != NULL) {
		human_line(fed);
	}
	if (fed->metrics != NULL) {
		json_line(fed, fed->metrics);
	}
}

// The file beside the checkpoint that holds the committing round's line.
static void
line_path(const struct agg_fed *fed, char *path, size_t cap)
{
	snprintf(path, cap, "%s/round-line.json", fed->cfg->checkpoint_dir);
}

fb_err
agg_oplog_keep_line(const struct agg_fed *fed)
{
	if (fed->metrics == NULL) {
		return FB_OK;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		return fb_errorf(FB_ENOMEM, "round line: out of memory");
	}
	json_line(fed, fp);
	fb_err err = ferror(fp) ? fb_errorf(FB_ENOMEM,
						  "round line: out of "
						  "memory")
				: FB_OK;
	fclose(fp);
	char path[AGG_PATH_MAX + 32];
	line_path(fed, path, sizeof(path));
	if (err == FB_OK) {
		err = fb_write_file_atomic(path, buf, len, 0644);
	}
	free(buf);
	return err;
}

void
agg_oplog_recover(const struct agg_fed *fed, const char *metrics_path)
{
	char path[AGG_PATH_MAX + 32];
	line_path(fed, path, sizeof(path));
	char *line = NULL, *log = NULL;
	size_t len = 0, log_len = 0;
	unsigned round = 0;
	if (fed->metrics == NULL || fed->last_committed == 0 ||
			fb_read_file(path, 1u << 24, &line, &len) != FB_OK) {
		return; // nothing kept (or no metrics file to complete)
	}
	char want[64];
	int wl = snprintf(want, sizeof(want), "{\"round\": %u, ",
			fed->last_committed);
	if (sscanf(line, "{\"round\": %u, ", &round) != 1 ||
			round != fed->last_committed || len < 3 ||
			strcmp(line + len - 2, "}\n") != 0) {
		free(line); // of a round the checkpoint does not hold
		return;
	}
	bool found = false;
	if (fb_read_file(metrics_path, (size_t)1 << 30, &log, &log_len) ==
			FB_OK) {
		for (const char *p = log; p != NULL && !found;) {
			found = strncmp(p, want, (size_t)wl) == 0;
			p = strchr(p, '\n');
			p = p != NULL ? p + 1 : NULL;
		}
	}
	free(log);
	if (!found) {
		fprintf(fed->metrics, "%.*s, \"recovered\": true}\n",
				(int)(len - 2), line);
		fflush(fed->metrics);
		fb_log(FB_LOG_WARN,
				"round %u: its metrics line was lost (a stop "
				"after the commit); appended from %s",
				round, path);
	}
	free(line);
}

void
agg_oplog_catalog(const struct agg_fed *fed)
{
	const struct agg_catver *cv = &fed->catver;
	if (!cv->changed) {
		return;
	}
	static const char *const kinds[AGG_CV_KINDS] = {
			"items", "bundles", "attrs"};
	char a[FB_CATDIR_HEX_LEN + 1], b[FB_CATDIR_HEX_LEN + 1], what[256];
	fb_hash_hex(cv->old_digest, a);
	fb_hash_hex(cv->new_digest, b);
	if (fed->human != NULL) {
		agg_catver_describe(cv, what, sizeof(what));
		fprintf(fed->human,
				"catalogue %.16s -> %.16s after round %u: %s\n",
				a, b, fed->last_committed, what);
		fflush(fed->human);
	}
	if (fed->metrics == NULL) {
		return;
	}
	fprintf(fed->metrics,
			"{\"event\": \"catalog\", \"after_round\": %u, "
			"\"old\": \"%s\", \"new\": \"%s\"",
			fed->last_committed, a, b);
	for (int k = 0; k < AGG_CV_KINDS; k++) {
		const struct agg_catver_rows *r = &cv->rows[k];
		fprintf(fed->metrics,
				", \"%s\": {\"kept\": %u, \"new\": %u, "
				"\"retired\": %u}",
				kinds[k], r->kept, r->added, r->retired);
	}
	fprintf(fed->metrics, "}\n");
	fflush(fed->metrics);
}

void
agg_oplog_summary(const struct agg_fed *fed, FILE *fp, uint64_t now_ms)
{
	static const char *const gran[] = {"none (NOT private)",
			"user-level DP (at each client)",
			"client-level DP (DP-FedAvg, noise at the aggregator)"};
	fprintf(fp,
			"federation finished: %s\n"
			"  rounds: %u committed, %u abandoned (last committed "
			"round %u)%s\n"
			"  privacy: %s, noise multiplier %.4f, clip %g\n",
			fed->over_reason, fed->n_committed, fed->n_abandoned,
			fed->last_committed,
			fed->resumed ? ", resumed from a checkpoint" : "",
			gran[fed->plan_cfg.granularity],
			fed->plan_cfg.noise_multiplier,
			fed->plan_cfg.clip_norm);
	if (fed->dp != NULL) {
		double eps = 0;
		size_t rel = 0;
		if (fb_dp_spent(fed->dp, &eps, &rel) == FB_OK) {
			fprintf(fp,
					"  aggregator ledger %s: %zu releases, "
					"epsilon %.4f (delta %g)\n",
					fed->ledger_path, rel, eps,
					fed->plan_cfg.delta);
		}
	}
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		fprintf(fp, "  client %-16s %3u updates", cl->name,
				cl->updates);
		if (!cl->reported) {
			fprintf(fp, ", no epsilon reported");
		} else if (isfinite(cl->epsilon)) {
			fprintf(fp, ", epsilon %.4f as reported", cl->epsilon);
		} else {
			fprintf(fp, ", not private");
		}
		fprintf(fp, "%s\n", cl->exhausted ? ", budget exhausted" : "");
	}
	if (fed->have_eval) {
		fprintf(fp,
				"  global test metrics of the last round: "
				"Recall@20 %.4f NDCG@20 %.4f over %llu users\n",
				fed->last_recall, fed->last_ndcg,
				(unsigned long long)fed->last_eval_users);
	}
	fprintf(fp,
			"  traffic: %.2f MB in, %.2f MB out; wall time %.1f s; "
			"checkpoint %s\n",
			mb(fed->total_in), mb(fed->total_out),
			(double)(now_ms - fed->started_ms) / 1000.0,
			fed->ckpt_path);
	fflush(fp);
}
