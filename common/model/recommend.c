// common/model/recommend.c: one user's recommendations (include/fedbundle/
// recommend.h).
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/metrics.h"
#include "fedbundle/model/recommend.h"
#include "fedbundle/util/config.h"

fb_err
fb_ranking_compute(struct fb_ranking *r, const struct fb_dataset *ds,
		const struct fb_reps *reps, const struct fb_matrix *P,
		uint32_t user, uint32_t k, bool include_seen)
{
	memset(r, 0, sizeof(*r));
	if (user >= ds->n_users || user >= P->rows) {
		return fb_errorf(FB_EINVAL,
				"user %u: the data has %u users (%zu with "
				"factors)",
				user, ds->n_users, P->rows);
	}
	if (k == 0) {
		return fb_errorf(FB_EINVAL, "k must be at least 1");
	}
	if (P->cols != reps->bundle.cols ||
			reps->bundle.rows != ds->n_bundles ||
			reps->item.rows != ds->n_items) {
		return fb_errorf(FB_EINVAL,
				"the model (%zu bundles, %zu items, dim %zu) "
				"does not fit the data (%u bundles, %u items, "
				"user factors of dim %zu)",
				reps->bundle.rows, reps->item.rows,
				reps->bundle.cols, ds->n_bundles, ds->n_items,
				P->cols);
	}
	r->user = user;
	r->dim = P->cols;
	r->include_seen = include_seen;
	r->n_seen = fb_csr_row_len(&ds->ub_train, user);
	r->rep = calloc(r->dim + 1, sizeof(float));
	r->scores = calloc((size_t)ds->n_bundles + 1, sizeof(float));
	r->top = calloc(k, sizeof(uint32_t));
	if (r->rep == NULL || r->scores == NULL || r->top == NULL) {
		return FB_ENOMEM;
	}
	// One row of fb_user_reps_compute: p_u plus the user's item view.
	struct fb_matrix one = {1, r->dim, r->rep};
	struct fb_matrix p_row = {1, r->dim, (float *)fb_matrix_row(P, user)};
	uint64_t ptr[2] = {0, 0};
	struct fb_csr ui_row = {1, ds->n_items, ptr, NULL};
	if (ds->ui.row_ptr != NULL) {
		ptr[1] = fb_csr_row_len(&ds->ui, user);
		ui_row.col = (uint32_t *)fb_csr_row(&ds->ui, user);
	}
	fb_user_reps_compute(&one, &p_row, &ui_row, reps);
	fb_model_score_block(&one, 0, 1, &reps->bundle, r->scores);
	const uint32_t *seen =
			include_seen ? NULL : fb_csr_row(&ds->ub_train, user);
	r->n_top = fb_topk(r->scores, ds->n_bundles, seen,
			include_seen ? 0 : r->n_seen, k, r->top);
	return FB_OK;
}

void
fb_ranking_finish(struct fb_ranking *r)
{
	free(r->rep);
	free(r->scores);
	free(r->top);
	memset(r, 0, sizeof(*r));
}

// The original id of user u, or NULL without users.map.
static const char *
user_id(const struct fb_catdir_ids *ids, uint32_t u)
{
	return ids != NULL && u < ids->users.n ? fb_idmap_str(&ids->users, u)
					       : NULL;
}

static const char *
bundle_id(const struct fb_catdir_ids *ids, uint32_t b)
{
	return ids != NULL && b < ids->bundles.n
			? fb_idmap_str(&ids->bundles, b)
			: NULL;
}

static const char *
bundle_name(const struct fb_catdir_ids *ids, uint32_t b)
{
	return ids != NULL && ids->bundle_names != NULL && b < ids->n_bundles
			? ids->bundle_names[b]
			: NULL;
}

static void
print_head(FILE *fp, const struct fb_ranking *r,
		const struct fb_catdir_ids *ids, const char *source,
		int64_t round, bool json)
{
	const char *uid = user_id(ids, r->user);
	bool orig = ids != NULL && ids->bundles.n > 0;
	if (json) {
		fprintf(fp, "{\"user\": %u, ", r->user);
		if (uid != NULL) {
			fputs("\"user_id\": ", fp);
			fb_config_write_string(fp, uid);
			fputs(", ", fp);
		}
		if (round >= 0) {
			fprintf(fp, "\"round\": %lld, ", (long long)round);
		}
		fprintf(fp, "\"k\": %u, \"bundles\": [", r->n_top);
		return;
	}
	fprintf(fp,
			"top %u bundles for user %u%s%s%s (%s%s%u training "
			"bundles %s):\n",
			r->n_top, r->user, uid != NULL ? " '" : "",
			uid != NULL ? uid : "", uid != NULL ? "'" : "",
			source != NULL ? source : "",
			source != NULL ? "; " : "", r->n_seen,
			r->include_seen ? "included" : "excluded");
	fprintf(fp, "%5s %8s %9s %6s  %-8s%s\n", "rank", "bundle", "score",
			"items", "held out", orig ? "  id  name" : "");
}

void
fb_ranking_print(FILE *fp, const struct fb_ranking *r,
		const struct fb_dataset *ds, const struct fb_catdir_ids *ids,
		const char *source, int64_t round, bool json)
{
	print_head(fp, r, ids, source, round, json);
	for (uint32_t i = 0; i < r->n_top; i++) {
		uint32_t b = r->top[i];
		const char *held = fb_csr_has(&ds->ub_test, r->user, b) ? "test"
				: fb_csr_has(&ds->ub_tune, r->user, b)  ? "tune"
									: "";
		const char *bid = bundle_id(ids, b),
			   *name = bundle_name(ids, b);
		if (json) {
			fprintf(fp, "%s{\"rank\": %u, \"bundle\": %u, ",
					i > 0 ? ", " : "", i + 1, b);
			if (bid != NULL) {
				fputs("\"bundle_id\": ", fp);
				fb_config_write_string(fp, bid);
				fputs(", ", fp);
			}
			if (name != NULL) {
				fputs("\"name\": ", fp);
				fb_config_write_string(fp, name);
				fputs(", ", fp);
			}
			fprintf(fp,
					"\"score\": %.6f, \"items\": %u, "
					"\"held_out\": \"%s\"}",
					r->scores[b],
					fb_csr_row_len(&ds->bi, b), held);
		} else {
			fprintf(fp, "%5u %8u %9.4f %6u  %-8s", i + 1, b,
					r->scores[b],
					fb_csr_row_len(&ds->bi, b), held);
			if (bid != NULL) {
				fprintf(fp, "  %s%s%s", bid,
						name != NULL ? "  " : "",
						name != NULL ? name : "");
			}
			fputc('\n', fp);
		}
	}
	if (json) {
		fprintf(fp, "]}\n");
	}
}

// s as a CSV field: quoted (quotes doubled) if it holds a comma or quote.
static void
csv_field(FILE *fp, const char *s)
{
	if (strpbrk(s, ",\"") == NULL) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"') {
			fputc('"', fp);
		}
		fputc(*s, fp);
	}
	fputc('"', fp);
}

// One user's top list (top[0 .. n), scores of every bundle) to fp.
static void
write_user(FILE *fp, const struct fb_catdir_ids *ids, uint32_t u,
		const uint32_t *top, uint32_t n, const float *scores,
		enum fb_ranking_format fmt)
{
	const char *uid = user_id(ids, u);
	if (fmt == FB_RANKING_JSONL) {
		fprintf(fp, "{\"user\": %u, ", u);
		if (uid != NULL) {
			fputs("\"user_id\": ", fp);
			fb_config_write_string(fp, uid);
			fputs(", ", fp);
		}
		fprintf(fp, "\"k\": %u, \"bundles\": [", n);
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t b = top[i];
		const char *bid = bundle_id(ids, b);
		if (fmt == FB_RANKING_JSONL) {
			fprintf(fp, "%s{\"rank\": %u, \"bundle\": %u, ",
					i > 0 ? ", " : "", i + 1, b);
			if (bid != NULL) {
				fputs("\"bundle_id\": ", fp);
				fb_config_write_string(fp, bid);
				fputs(", ", fp);
			}
			const char *name = bundle_name(ids, b);
			if (name != NULL) {
				fputs("\"name\": ", fp);
				fb_config_write_string(fp, name);
				fputs(", ", fp);
			}
			fprintf(fp, "\"score\": %.6f}", scores[b]);
			continue;
		}
		if (uid != NULL) {
			csv_field(fp, uid);
		} else {
			fprintf(fp, "%u", u);
		}
		fprintf(fp, ",%u,", i + 1);
		if (bid != NULL) {
			csv_field(fp, bid);
		} else {
			fprintf(fp, "%u", b);
		}
		fprintf(fp, ",%.6f\n", scores[b]);
	}
	if (fmt == FB_RANKING_JSONL) {
		fputs("]}\n", fp);
	}
}

// The representations of users [u0, u0 + nu) into out (nu x dim), as
// fb_ranking_compute forms one user's.
static void
block_reps(struct fb_matrix *out, const struct fb_dataset *ds,
		const struct fb_reps *reps, const struct fb_matrix *P,
		uint32_t u0, uint32_t nu)
{
	struct fb_matrix p = {nu, P->cols, (float *)fb_matrix_row(P, u0)};
	struct fb_csr ui = {0, ds->n_items, NULL, ds->ui.col};
	if (ds->ui.row_ptr != NULL && u0 < ds->ui.n_rows) {
		ui.n_rows = ds->ui.n_rows - u0 < nu ? ds->ui.n_rows - u0 : nu;
		ui.row_ptr = ds->ui.row_ptr + u0;
	}
	fb_user_reps_compute(out, &p, &ui, reps);
}

fb_err
fb_ranking_write_all(FILE *fp, const struct fb_dataset *ds,
		const struct fb_reps *reps, const struct fb_matrix *P,
		const struct fb_catdir_ids *ids, uint32_t k, bool include_seen,
		enum fb_ranking_format fmt)
{
	// Checks the shapes and k the way one user's ranking does.
	struct fb_ranking one;
	fb_err err = ds->n_users > 0 ? fb_ranking_compute(&one, ds, reps, P, 0,
						       k, include_seen)
				     : FB_OK;
	fb_ranking_finish(&one);
	if (err != FB_OK) {
		return err;
	}
	if (P->rows < ds->n_users) {
		return fb_errorf(FB_EINVAL,
				"%zu users have factors, the data has %u",
				P->rows, ds->n_users);
	}
	enum { BLOCK = 128 };
	size_t nb = ds->n_bundles;
	struct fb_matrix urep = {0};
	float *scores = malloc((BLOCK * nb + 1) * sizeof(float));
	uint32_t *top = malloc(k * sizeof(uint32_t));
	err = fb_matrix_init(&urep, BLOCK, P->cols);
	if (err == FB_OK && (scores == NULL || top == NULL)) {
		err = FB_ENOMEM;
	}
	if (err == FB_OK && fmt == FB_RANKING_CSV) {
		fputs("user,rank,bundle,score\n", fp);
	}
	for (uint32_t u0 = 0; err == FB_OK && u0 < ds->n_users; u0 += BLOCK) {
		uint32_t nu = ds->n_users - u0 < BLOCK ? ds->n_users - u0
						       : BLOCK;
		urep.rows = nu;
		block_reps(&urep, ds, reps, P, u0, nu);
		fb_model_score_block(&urep, 0, nu, &reps->bundle, scores);
		for (uint32_t i = 0; i < nu; i++) {
			uint32_t u = u0 + i;
			const float *s = scores + (size_t)i * nb;
			uint32_t n_seen = include_seen
					? 0
					: fb_csr_row_len(&ds->ub_train, u);
			uint32_t n = fb_topk(s, ds->n_bundles,
					fb_csr_row(&ds->ub_train, u), n_seen, k,
					top);
			write_user(fp, ids, u, top, n, s, fmt);
		}
	}
	urep.rows = BLOCK;
	fb_matrix_finish(&urep);
	free(scores);
	free(top);
	if (err == FB_OK && ferror(fp)) {
		err = fb_errorf(FB_EIO, "writing the recommendations failed");
	}
	return err;
}
