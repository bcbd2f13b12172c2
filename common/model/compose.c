// common/model/compose.c: completion and composition over the scores of
// compose.h. The user term is computed once per user (one dot product per
// item) and standardised, so the weight w of the public compatibility is in
// units of the spread of the user's item scores whatever the model's scale.
// The beam search keeps, after each added item, the `beam` best partial
// bundles by their summed added scores; each is extended by its `beam`
// best items (fb_topk over all items), children equal as sets merged.
#include "fedbundle/model/compose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/metrics.h"

fb_err
fb_scorer_init(struct fb_scorer *s, const struct fb_compat *compat,
		const struct fb_matrix *items, float weight)
{
	memset(s, 0, sizeof(*s));
	if (items->rows != compat->bi->n_cols) {
		return fb_errorf(FB_EINVAL,
				"scorer: %zu item representations for a "
				"catalogue of %u items",
				items->rows, compat->bi->n_cols);
	}
	s->compat = compat;
	s->items = items;
	s->weight = weight;
	s->n_items = (uint32_t)items->rows;
	size_t n = s->n_items > 0 ? s->n_items : 1;
	s->user = calloc(n, sizeof(*s->user));
	s->scratch = calloc(n, sizeof(*s->scratch));
	s->tmp = calloc(n, sizeof(*s->tmp));
	if (s->user == NULL || s->scratch == NULL || s->tmp == NULL) {
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
fb_scorer_finish(struct fb_scorer *s)
{
	if (s == NULL) {
		return;
	}
	free(s->user);
	free(s->scratch);
	free(s->tmp);
	memset(s, 0, sizeof(*s));
}

void
fb_scorer_set_user(struct fb_scorer *s, const float *rep)
{
	size_t d = s->items->cols;
	double sum = 0, sq = 0;
	for (uint32_t j = 0; j < s->n_items; j++) {
		float x = fb_dot(rep, fb_matrix_row(s->items, j), d);
		s->user[j] = x;
		sum += x;
		sq += (double)x * x;
	}
	double n = s->n_items > 0 ? s->n_items : 1;
	double mean = sum / n, var = sq / n - mean * mean;
	float inv = var > 1e-20 ? (float)(1.0 / sqrt(var)) : 1.0f;
	for (uint32_t j = 0; j < s->n_items; j++) {
		s->user[j] = (s->user[j] - (float)mean) * inv;
	}
}

void
fb_scorer_scores(struct fb_scorer *s, enum fb_complete_method method,
		const uint32_t *given, uint32_t n, uint32_t skip, float *out)
{
	uint32_t n_items = s->n_items;
	switch (method) {
	case FB_COMPLETE_MODEL:
		fb_compat_scores(s->compat, FB_COMPAT_COSINE, given, n, skip,
				out);
		for (uint32_t j = 0; j < n_items; j++) {
			out[j] = s->user[j] + s->weight * out[j];
		}
		break;
	case FB_COMPLETE_POPULARITY:
		for (uint32_t j = 0; j < n_items; j++) {
			out[j] = (float)fb_compat_degree(s->compat, j, skip);
		}
		break;
	case FB_COMPLETE_COOCCUR: {
		// Ties in the count (most items: 0) go to the more popular.
		fb_compat_scores(s->compat, FB_COMPAT_COUNT, given, n, skip,
				out);
		float inv = 1.0f / (1.0f + (float)s->compat->bi->n_rows);
		for (uint32_t j = 0; j < n_items; j++) {
			out[j] += inv *
					(float)fb_compat_degree(
							s->compat, j, skip);
		}
		break;
	}
	case FB_COMPLETE_ITEMSET:
		memcpy(out, s->user, n_items * sizeof(*out));
		break;
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

// Copies items[0..n) sorted into out; FB_EINVAL naming a bad or repeated id.
static fb_err
sorted_given(const struct fb_scorer *s, const uint32_t *items, uint32_t n,
		uint32_t *out)
{
	if (n == 0 || n > FB_COMPOSE_MAX_GIVEN) {
		return fb_errorf(FB_EINVAL,
				"a partial bundle needs 1..%d items, not %u",
				FB_COMPOSE_MAX_GIVEN, n);
	}
	for (uint32_t k = 0; k < n; k++) {
		if (items[k] >= s->n_items) {
			return fb_errorf(FB_EINVAL,
					"item %u out of range (%u items)",
					items[k], s->n_items);
		}
	}
	memcpy(out, items, n * sizeof(*out));
	qsort(out, n, sizeof(*out), cmp_u32);
	for (uint32_t k = 1; k < n; k++) {
		if (out[k] == out[k - 1]) {
			return fb_errorf(FB_EINVAL, "item %u given twice",
					out[k]);
		}
	}
	return FB_OK;
}

fb_err
fb_complete(struct fb_scorer *s, const uint32_t *given, uint32_t n, uint32_t k,
		uint32_t *top, float *scores, uint32_t *n_top)
{
	fb_err err = sorted_given(s, given, n, s->tmp);
	if (err != FB_OK) {
		return err;
	}
	fb_scorer_scores(s, FB_COMPLETE_MODEL, given, n, FB_COMPAT_NO_BUNDLE,
			s->scratch);
	uint32_t got = fb_topk(s->scratch, s->n_items, s->tmp, n, k, top);
	for (uint32_t r = 0; r < got; r++) {
		scores[r] = s->scratch[top[r]];
	}
	*n_top = got;
	return FB_OK;
}

// A partial bundle of the beam: its items in the order added and sorted.
struct state {
	uint32_t n;
	float total;
	double price; // summed price of the items (under a price cap)
	uint32_t items[FB_COMPOSE_MAX_SIZE];
	uint32_t sorted[FB_COMPOSE_MAX_SIZE];
};

static int
cmp_state(const void *a, const void *b)
{
	const struct state *x = a, *y = b;
	if (x->total != y->total) {
		return x->total > y->total ? -1 : 1;
	}
	return memcmp(x->sorted, y->sorted, x->n * sizeof(x->sorted[0]));
}

static bool
same_set(const struct state *a, const uint32_t *sorted, uint32_t n)
{
	return a->n == n &&
			memcmp(a->sorted, sorted, n * sizeof(sorted[0])) == 0;
}

static void
state_add(struct state *child, const struct state *parent, uint32_t item,
		float gain)
{
	*child = *parent;
	child->items[child->n] = item;
	uint32_t p = child->n++;
	while (p > 0 && child->sorted[p - 1] > item) {
		child->sorted[p] = child->sorted[p - 1];
		p--;
	}
	child->sorted[p] = item;
	child->total += gain;
}

// True if a state equal as a set to sorted[0..n) is in list[0..m).
static bool
listed(const struct state *list, uint32_t m, const uint32_t *sorted, uint32_t n)
{
	for (uint32_t k = 0; k < m; k++) {
		if (same_set(&list[k], sorted, n)) {
			return true;
		}
	}
	return false;
}

struct search {
	struct fb_scorer *s;
	const struct fb_compose_opts *opts;
	const float *base;  // user term minus reuse penalty; -inf: barred
	struct state *cur;  // beam states
	struct state *next; // beam * beam children
	struct state *done; // results so far
	uint32_t n_done;
	// Under a price cap: rest[k], the summed price of the k cheapest
	// usable items (a lower bound on what k more items cost).
	double *rest;
};

static bool
capped(const struct fb_compose_opts *o)
{
	return o->max_price > 0;
}

// Bars (-inf) the candidates whose price leaves no room under the cap
// for the cheapest possible rest of the bundle.
static void
bar_too_dear(const struct search *sr, const struct state *st, float *cand)
{
	const struct fb_compose_opts *o = sr->opts;
	double room = o->max_price - st->price - sr->rest[o->size - st->n - 1] +
			1e-9;
	for (uint32_t j = 0; j < sr->s->n_items; j++) {
		if (!(o->price[j] <= room)) {
			cand[j] = -INFINITY;
		}
	}
}

// Extends every state of the beam by its best items; returns the new
// number of states (0: nothing could be added).
static uint32_t
step(struct search *sr, uint32_t n_cur, bool last)
{
	struct fb_scorer *s = sr->s;
	uint32_t beam = sr->opts->beam, n_next = 0, top[FB_COMPOSE_MAX_BEAM];
	for (uint32_t b = 0; b < n_cur; b++) {
		const struct state *st = &sr->cur[b];
		float *cand = s->scratch;
		if (st->n == 0) {
			memcpy(cand, sr->base, s->n_items * sizeof(*cand));
		} else {
			uint32_t skip = sr->opts->hold_out
					? sr->opts->skip
					: FB_COMPAT_NO_BUNDLE;
			fb_compat_scores(s->compat, FB_COMPAT_COSINE, st->items,
					st->n, skip, cand);
			for (uint32_t j = 0; j < s->n_items; j++) {
				cand[j] = sr->base[j] + s->weight * cand[j];
			}
		}
		if (capped(sr->opts)) {
			bar_too_dear(sr, st, cand);
		}
		uint32_t got = fb_topk(
				cand, s->n_items, st->sorted, st->n, beam, top);
		for (uint32_t r = 0; r < got; r++) {
			if (!isfinite(cand[top[r]])) {
				break;
			}
			struct state *child = &sr->next[n_next];
			state_add(child, st, top[r], cand[top[r]]);
			if (capped(sr->opts)) {
				child->price += sr->opts->price[top[r]];
			}
			if (listed(sr->next, n_next, child->sorted, child->n) ||
					(last &&
							listed(sr->done,
									sr->n_done,
									child->sorted,
									child->n))) {
				continue;
			}
			n_next++;
		}
	}
	qsort(sr->next, n_next, sizeof(*sr->next), cmp_state);
	uint32_t keep = n_next < beam ? n_next : beam;
	memcpy(sr->cur, sr->next, keep * sizeof(*sr->cur));
	return keep;
}

// Whether item j may go into a bundle: allowed, and priced within the
// cap when there is one.
static bool
usable(const struct fb_compose_opts *o, uint32_t j)
{
	if (o->allowed != NULL && o->allowed[j] == 0) {
		return false;
	}
	return !capped(o) || o->price[j] <= o->max_price;
}

static fb_err
check_opts(const struct fb_scorer *s, const struct fb_compose_opts *o)
{
	if (o->size == 0 || o->size > FB_COMPOSE_MAX_SIZE || o->beam == 0 ||
			o->beam > FB_COMPOSE_MAX_BEAM || o->count == 0 ||
			!(o->reuse_penalty >= 0)) {
		return fb_errorf(FB_EINVAL,
				"compose: size must be 1..%d, beam 1..%d, "
				"count >= 1 and the penalty >= 0",
				FB_COMPOSE_MAX_SIZE, FB_COMPOSE_MAX_BEAM);
	}
	if (capped(o) && (o->price == NULL || !isfinite(o->max_price))) {
		return fb_errorf(FB_EINVAL,
				"compose: a price cap needs item prices and a "
				"finite cap");
	}
	uint32_t allowed = 0;
	for (uint32_t j = 0; j < s->n_items; j++) {
		allowed += usable(o, j);
	}
	if (allowed < o->size) {
		return fb_errorf(FB_EINVAL,
				"compose: bundles of %u items asked for, but "
				"only %u items are allowed%s",
				o->size, allowed,
				capped(o) ? " and priced at most the cap" : "");
	}
	return FB_OK;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

// sr->rest[k] for k < size: the k cheapest usable items' summed price.
// FB_EINVAL if even the size cheapest exceed the cap.
static fb_err
cheapest_rest(struct search *sr)
{
	const struct fb_compose_opts *o = sr->opts;
	uint32_t n = 0;
	double *p = malloc(sr->s->n_items * sizeof(*p) + sizeof(*p));
	if (p == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t j = 0; j < sr->s->n_items; j++) {
		if (usable(o, j)) {
			p[n++] = o->price[j];
		}
	}
	qsort(p, n, sizeof(*p), cmp_double);
	double sum = 0;
	for (uint32_t k = 0; k < o->size; k++) {
		sr->rest[k] = sum;
		sum += p[k];
	}
	free(p);
	if (sum > o->max_price + 1e-9) {
		return fb_errorf(FB_EINVAL,
				"compose: no bundle of %u items fits under the "
				"price cap %g (the %u cheapest usable items cost "
				"%g)",
				o->size, o->max_price, o->size, sum);
	}
	return FB_OK;
}

static fb_err
search_run(struct search *sr, float *base, uint32_t *items, float *totals,
		uint32_t *n_out)
{
	const struct fb_compose_opts *o = sr->opts;
	struct fb_scorer *s = sr->s;
	sr->base = base;
	for (uint32_t j = 0; j < s->n_items; j++) {
		base[j] = usable(o, j) ? s->user[j] : -INFINITY;
	}
	for (uint32_t r = 0; r < o->count; r++) {
		memset(&sr->cur[0], 0, sizeof(sr->cur[0]));
		uint32_t n_cur = 1;
		for (uint32_t t = 0; t < o->size && n_cur > 0; t++) {
			n_cur = step(sr, n_cur, t + 1 == o->size);
		}
		if (n_cur == 0) {
			break;
		}
		const struct state *best = &sr->cur[0];
		sr->done[sr->n_done++] = *best;
		memcpy(items + (size_t)r * o->size, best->items,
				o->size * sizeof(*items));
		totals[r] = best->total;
		for (uint32_t k = 0; k < o->size; k++) {
			base[best->items[k]] -= o->reuse_penalty;
		}
	}
	*n_out = sr->n_done;
	return FB_OK;
}

fb_err
fb_compose(struct fb_scorer *s, const struct fb_compose_opts *opts,
		uint32_t *items, float *totals, uint32_t *n_out)
{
	fb_err err = check_opts(s, opts);
	if (err != FB_OK) {
		return err;
	}
	struct search sr = {.s = s, .opts = opts};
	float *base = malloc(s->n_items * sizeof(*base));
	sr.cur = calloc(opts->beam, sizeof(*sr.cur));
	sr.next = calloc((size_t)opts->beam * opts->beam, sizeof(*sr.next));
	sr.done = calloc(opts->count, sizeof(*sr.done));
	sr.rest = calloc(opts->size, sizeof(*sr.rest));
	if (base == NULL || sr.cur == NULL || sr.next == NULL ||
			sr.done == NULL || sr.rest == NULL) {
		err = FB_ENOMEM;
	} else if (capped(opts)) {
		err = cheapest_rest(&sr);
	}
	if (err == FB_OK) {
		err = search_run(&sr, base, items, totals, n_out);
	}
	free(base);
	free(sr.cur);
	free(sr.next);
	free(sr.done);
	free(sr.rest);
	return err;
}
