// common/model/completion.c: the completion evaluation of completion.h.
// Pairs are visited user by user so the user term is computed once per
// user; the hidden items are chosen by a shuffle seeded from (seed, user,
// bundle), so every method sees the same given and hidden items.
#include "fedbundle/model/completion.h"

#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/rng.h"

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

void
fb_completion_split(const uint32_t *bundle_items, uint32_t n, uint64_t seed,
		uint32_t user, uint32_t bundle, uint32_t *given,
		uint32_t *n_given, uint32_t *hidden, uint32_t *n_hidden)
{
	uint32_t h = n / 2 > 0 ? n / 2 : 1;
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, ((uint64_t)user << 32) | bundle);
	// hidden doubles as the shuffle buffer: it has room for n ids.
	memcpy(hidden, bundle_items, n * sizeof(*hidden));
	fb_rng_shuffle_u32(&rng, hidden, n);
	memcpy(given, hidden + h, (n - h) * sizeof(*given));
	qsort(hidden, h, sizeof(*hidden), cmp_u32);
	qsort(given, n - h, sizeof(*given), cmp_u32);
	*n_hidden = h;
	*n_given = n - h;
}

struct buffers {
	uint32_t *given;
	uint32_t *hidden;
	uint32_t *top;
	float *scores;
};

// Scores one pair and adds its metrics to out.
static void
eval_pair(struct fb_scorer *s, const struct fb_csr *bi, uint32_t u, uint32_t b,
		const struct fb_completion_opts *opts, struct buffers *buf,
		struct fb_metrics *out)
{
	uint32_t ng, nh;
	fb_completion_split(fb_csr_row(bi, b), fb_csr_row_len(bi, b),
			opts->seed, u, b, buf->given, &ng, buf->hidden, &nh);
	uint32_t skip = opts->hold_out ? b : FB_COMPAT_NO_BUNDLE;
	fb_scorer_scores(s, opts->method, buf->given, ng, skip, buf->scores);
	uint32_t max_k = out->k[out->n_k - 1];
	uint32_t got = fb_topk(buf->scores, s->n_items, buf->given, ng, max_k,
			buf->top);
	struct fb_metrics m;
	fb_metrics_init(&m, out->k, out->n_k);
	fb_metrics_user(&m, buf->top, got, buf->hidden, nh);
	fb_metrics_add(out, &m);
}

fb_err
fb_completion_eval(struct fb_scorer *s, const struct fb_csr *bi,
		const struct fb_csr *ub, const struct fb_matrix *user_reps,
		const struct fb_completion_opts *opts, struct fb_metrics *out,
		uint32_t *n_pairs)
{
	if (bi->n_cols != s->n_items || ub->n_cols != bi->n_rows ||
			(user_reps != NULL && user_reps->rows != ub->n_rows)) {
		return fb_errorf(FB_EINVAL,
				"completion: shapes differ (%u items, %u x %u "
				"pairs for %u bundles)",
				bi->n_cols, ub->n_rows, ub->n_cols, bi->n_rows);
	}
	bool needs_user = opts->method == FB_COMPLETE_MODEL ||
			opts->method == FB_COMPLETE_ITEMSET;
	if (needs_user && user_reps == NULL) {
		return fb_errorf(FB_EINVAL,
				"completion: this method needs the users' "
				"representations");
	}
	uint32_t max_len = 1;
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		uint32_t len = fb_csr_row_len(bi, b);
		max_len = len > max_len ? len : max_len;
	}
	struct buffers buf = {
			.given = malloc(max_len * sizeof(uint32_t)),
			.hidden = malloc(max_len * sizeof(uint32_t)),
			.top = malloc(FB_METRICS_MAX_CUTOFF * sizeof(uint32_t)),
			.scores = malloc((s->n_items + 1) * sizeof(float)),
	};
	fb_err err = FB_OK;
	if (buf.given == NULL || buf.hidden == NULL || buf.top == NULL ||
			buf.scores == NULL) {
		err = FB_ENOMEM;
		goto done;
	}
	uint32_t n = 0;
	for (uint32_t u = 0; u < ub->n_rows; u++) {
		if (opts->max_pairs > 0 && n >= opts->max_pairs) {
			break;
		}
		bool user_set = false;
		for (uint64_t e = ub->row_ptr[u]; e < ub->row_ptr[u + 1]; e++) {
			uint32_t b = ub->col[e];
			if (fb_csr_row_len(bi, b) < 2 ||
					(opts->max_pairs > 0 &&
							n >= opts->max_pairs)) {
				continue;
			}
			if (needs_user && !user_set) {
				fb_scorer_set_user(
						s, fb_matrix_row(user_reps, u));
				user_set = true;
			}
			eval_pair(s, bi, u, b, opts, &buf, out);
			n++;
		}
	}
	if (n > 0) {
		fb_metrics_scale(out, 1.0 / n);
	}
	*n_pairs = n;
done:
	free(buf.given);
	free(buf.hidden);
	free(buf.top);
	free(buf.scores);
	return err;
}
