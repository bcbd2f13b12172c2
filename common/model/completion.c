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

static bool
in_sorted(const uint32_t *a, uint32_t n, uint32_t x)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a[mid] == x) {
			return true;
		}
		if (a[mid] < x) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return false;
}

void
fb_composition_overlap(const uint32_t *items, uint32_t n_bundles, uint32_t size,
		const uint32_t *target, uint32_t n_target,
		struct fb_composition_metrics *m)
{
	memset(m, 0, sizeof(*m));
	if (n_bundles == 0 || size == 0 || n_target == 0) {
		return;
	}
	size_t total = (size_t)n_bundles * size;
	uint32_t distinct = 0, hits = 0;
	for (size_t k = 0; k < total; k++) {
		bool seen = false;
		for (size_t p = 0; p < k && !seen; p++) {
			seen = items[p] == items[k];
		}
		if (!seen) {
			distinct++;
			hits += in_sorted(target, n_target, items[k]);
		}
	}
	for (uint32_t r = 0; r < n_bundles; r++) {
		uint32_t inter = 0;
		for (uint32_t k = 0; k < size; k++) {
			inter += in_sorted(target, n_target,
					items[(size_t)r * size + k]);
		}
		double j = (double)inter / (double)(size + n_target - inter);
		m->jaccard = j > m->jaccard ? j : m->jaccard;
	}
	m->precision = (double)hits / distinct;
	m->recall = (double)hits / n_target;
}

struct compose_buffers {
	uint32_t *target; // the pair's bundle, sorted
	uint32_t *items;  // count * size composed ids
	float *totals;    // count
};

// Composes for the current user with bundle b held out and adds the
// overlap with b to out.
static fb_err
compose_pair(struct fb_scorer *s, const struct fb_csr *bi, uint32_t b,
		const struct fb_compose_opts *copts,
		struct compose_buffers *buf, struct fb_composition_metrics *out)
{
	uint32_t n = fb_csr_row_len(bi, b), got = 0;
	memcpy(buf->target, fb_csr_row(bi, b), n * sizeof(*buf->target));
	qsort(buf->target, n, sizeof(*buf->target), cmp_u32);
	struct fb_compose_opts o = *copts;
	o.hold_out = true;
	o.skip = b;
	fb_err err = fb_compose(s, &o, buf->items, buf->totals, &got);
	if (err != FB_OK) {
		return err;
	}
	struct fb_composition_metrics m;
	fb_composition_overlap(buf->items, got, o.size, buf->target, n, &m);
	out->precision += m.precision;
	out->recall += m.recall;
	out->jaccard += m.jaccard;
	return FB_OK;
}

fb_err
fb_composition_eval(struct fb_scorer *s, const struct fb_csr *bi,
		const struct fb_csr *ub, const struct fb_matrix *user_reps,
		const struct fb_compose_opts *copts, uint32_t max_pairs,
		struct fb_composition_metrics *out, uint32_t *n_pairs)
{
	memset(out, 0, sizeof(*out));
	*n_pairs = 0;
	if (bi->n_cols != s->n_items || ub->n_cols != bi->n_rows ||
			user_reps->rows != ub->n_rows || copts->count == 0) {
		return fb_errorf(FB_EINVAL,
				"composition: shapes differ (%u items, %u x %u "
				"pairs for %u bundles) or no bundle asked for",
				bi->n_cols, ub->n_rows, ub->n_cols, bi->n_rows);
	}
	uint32_t max_len = 1;
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		uint32_t len = fb_csr_row_len(bi, b);
		max_len = len > max_len ? len : max_len;
	}
	struct compose_buffers buf = {
			.target = malloc(max_len * sizeof(uint32_t)),
			.items = calloc((size_t)copts->count * copts->size + 1,
					sizeof(uint32_t)),
			.totals = calloc(copts->count, sizeof(float)),
	};
	fb_err err = FB_OK;
	uint32_t n = 0;
	if (buf.target == NULL || buf.items == NULL || buf.totals == NULL) {
		err = FB_ENOMEM;
	}
	for (uint32_t u = 0; err == FB_OK && u < ub->n_rows; u++) {
		bool user_set = false;
		for (uint64_t e = ub->row_ptr[u];
				err == FB_OK && e < ub->row_ptr[u + 1]; e++) {
			uint32_t b = ub->col[e];
			if (fb_csr_row_len(bi, b) < 2 ||
					(max_pairs > 0 && n >= max_pairs)) {
				continue;
			}
			if (!user_set) {
				fb_scorer_set_user(
						s, fb_matrix_row(user_reps, u));
				user_set = true;
			}
			err = compose_pair(s, bi, b, copts, &buf, out);
			n += err == FB_OK;
		}
	}
	if (err == FB_OK && n > 0) {
		out->precision /= n;
		out->recall /= n;
		out->jaccard /= n;
	}
	*n_pairs = n;
	free(buf.target);
	free(buf.items);
	free(buf.totals);
	return err;
}
