// common/metrics.c: top-K selection and the ranking metrics. Long rows are
// filtered against a sampled threshold and the few candidates left are
// selected by integer rank keys; short rows, and long rows the filter
// cannot settle, go through a bounded min-heap keyed by (score, -id).
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/metrics.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

fb_err
fb_metrics_init(struct fb_metrics *m, const uint32_t *ks, uint32_t n_k)
{
	if (n_k == 0 || n_k > FB_METRICS_MAX_K) {
		return fb_errorf(FB_EINVAL, "between 1 and %d cut-offs needed",
				FB_METRICS_MAX_K);
	}
	memset(m, 0, sizeof(*m));
	for (uint32_t j = 0; j < n_k; j++) {
		if (ks[j] == 0 || ks[j] > FB_METRICS_MAX_CUTOFF) {
			return fb_errorf(FB_EINVAL, "cut-off %u outside 1..%d",
					ks[j], FB_METRICS_MAX_CUTOFF);
		}
		m->k[j] = ks[j];
	}
	m->n_k = n_k;
	return FB_OK;
}

int
fb_metrics_find(const struct fb_metrics *m, uint32_t k)
{
	for (uint32_t j = 0; j < m->n_k; j++) {
		if (m->k[j] == k) {
			return (int)j;
		}
	}
	return -1;
}

// A kept candidate: its score (NaN replaced by -infinity) and id.
struct cand {
	float s;
	uint32_t id;
};

// a ranks strictly before b: higher score, then lower id.
static inline bool
before(struct cand a, struct cand b)
{
	return a.s > b.s || (a.s == b.s && a.id < b.id);
}

// Restores the min-heap (root = worst kept candidate) below i.
static void
sift_down(struct cand *heap, uint32_t n, uint32_t i)
{
	struct cand x = heap[i];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, worst = l;
		if (l >= n) {
			break;
		}
		if (r < n && before(heap[l], heap[r])) {
			worst = r;
		}
		if (!before(x, heap[worst])) {
			break;
		}
		heap[i] = heap[worst];
		i = worst;
	}
	heap[i] = x;
}

static void
heap_push(struct cand *heap, uint32_t size, struct cand x)
{
	uint32_t i = size;
	while (i > 0 && before(heap[(i - 1) / 2], x)) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = x;
}

static inline bool
excluded(const uint32_t *exclude, uint32_t n_exclude, uint32_t *ex, uint32_t c)
{
	while (*ex < n_exclude && exclude[*ex] < c) {
		(*ex)++;
	}
	return *ex < n_exclude && exclude[*ex] == c;
}

static inline struct cand
cand_of(const float *scores, uint32_t c)
{
	struct cand x = {isnan(scores[c]) ? -INFINITY : scores[c], c};
	return x;
}

// The heap selection over every score of the row (ids ascending), writing
// the ranked ids into top. Returns the number written.
static uint32_t
select_heap(const float *scores, uint32_t n, const uint32_t *exclude,
		uint32_t n_exclude, uint32_t max_k, uint32_t *top,
		struct cand *heap)
{
	uint32_t size = 0, ex = 0, j = 0;
	for (; j < n && size < max_k; j++) {
		if (!excluded(exclude, n_exclude, &ex, j)) {
			heap_push(heap, size++, cand_of(scores, j));
		}
	}
	// Candidates come in increasing id, so a later one with the same
	// score as the worst kept one ranks after it: only a strictly
	// greater score enters. Blocks whose scores are all <= the worst
	// kept cost one vectorised comparison; NaN compares false and never
	// enters.
	enum { BLOCK = 16 };
	while (j < n) {
		float thr = heap[0].s;
		uint32_t end = n - j >= BLOCK ? j + BLOCK : n;
		int any = 0;
		for (uint32_t k = j; k < end; k++) {
			any |= scores[k] > thr;
		}
		if (!any) {
			j = end;
			continue;
		}
		for (; j < end; j++) {
			if (scores[j] > heap[0].s &&
					!excluded(exclude, n_exclude, &ex, j)) {
				heap[0] = cand_of(scores, j);
				sift_down(heap, size, 0);
			}
		}
	}
	// Heap sort: move the worst to the end until the list is ranked.
	for (uint32_t end = size; end > 1; end--) {
		struct cand t = heap[0];
		heap[0] = heap[end - 1];
		heap[end - 1] = t;
		sift_down(heap, end - 1, 0);
	}
	for (uint32_t k = 0; k < size; k++) {
		top[k] = heap[k].id;
	}
	return size;
}

// A threshold that about 2 max_k scores reach, from every STRIDE-th score:
// the r-th largest sample. Any value is correct (the caller checks that
// enough candidates reach it); a good one makes the second pass small.
#define STRIDE 8
// Room for candidates of the fast path (4 max_k + 64 at most).
#define TOPK_FAST_CAP 4096
static float
sample_threshold(const float *scores, uint32_t n, uint32_t max_k)
{
	// The r largest samples so far, in decreasing order; a sample enters
	// only if it beats the smallest kept, which random order makes rare
	// (about r ln(n / (STRIDE r)) insertions). NaN never enters.
	float best[TOPK_FAST_CAP / STRIDE + 2];
	uint32_t r = (2 * max_k + STRIDE - 1) / STRIDE + 2;
	for (uint32_t j = 0; j < r; j++) {
		best[j] = -INFINITY;
	}
	for (uint32_t c = 0; c < n; c += STRIDE) {
		float x = scores[c];
		if (x > best[r - 1]) {
			uint32_t j = r - 1;
			while (j > 0 && best[j - 1] < x) {
				best[j] = best[j - 1];
				j--;
			}
			best[j] = x;
		}
	}
	return best[r - 1];
}

// A candidate's rank as one integer: a larger key ranks first (higher
// score, then lower id). The float's bits are mapped to an unsigned order
// (negative scores flipped, positive ones offset), -0 made +0 so that the
// two zeros tie as they do under float comparison. Only finite and
// infinite scores reach here, never NaN.
static inline uint64_t
rank_key(float s, uint32_t id)
{
	uint32_t b;
	s += 0.0f; // -0 -> +0
	memcpy(&b, &s, sizeof(b));
	b = (b & 0x80000000u) != 0 ? ~b : b | 0x80000000u;
	return (uint64_t)b << 32 | (uint64_t)(UINT32_MAX - id);
}

// Moves the k largest of keys[0..n) (distinct) to keys[0..k), in order,
// best first: quickselect around a median-of-three pivot, then insertion
// sort of the k kept. n is small (a few hundred at most).
static void
select_keys(uint64_t *keys, uint32_t n, uint32_t k)
{
	uint32_t lo = 0, hi = n; // the k-th largest lies in [lo, hi)
	while (hi - lo > 16) {
		uint64_t a = keys[lo], b = keys[lo + (hi - lo) / 2],
			 c = keys[hi - 1];
		uint64_t pivot = a < b ? (b < c ? b : (a < c ? c : a))
				       : (a < c ? a : (b < c ? c : b));
		// Partition [lo, hi): keys > pivot first.
		uint32_t i = lo;
		for (uint32_t j = lo; j < hi; j++) {
			uint64_t x = keys[j];
			if (x > pivot) {
				keys[j] = keys[i];
				keys[i++] = x;
			}
		}
		// Put the pivot right after the larger keys.
		for (uint32_t j = i; j < hi; j++) {
			if (keys[j] == pivot) {
				keys[j] = keys[i];
				keys[i] = pivot;
				break;
			}
		}
		if (i >= k) {
			hi = i; // the k largest are all > pivot
		} else if (i + 1 == k) {
			hi = k; // the pivot is the k-th
			break;
		} else {
			lo = i + 1; // the pivot is kept: look among the smaller
		}
	}
	// keys[0..hi) holds the k largest (and at most 16 more): sort it.
	for (uint32_t i = 1; i < hi; i++) {
		uint64_t x = keys[i];
		uint32_t j = i;
		while (j > 0 && keys[j - 1] < x) {
			keys[j] = keys[j - 1];
			j--;
		}
		keys[j] = x;
	}
}

// Appends to keys[*m..] the ids c of scores[c] >= thr (NaN never), in
// increasing order, 16 scores at a time; stops once more than cap were
// found (keys needs room for cap + 16). Returns where it stopped (n when
// the whole row was scanned). Most blocks of 16 hold no candidate and
// cost four vector comparisons.
static uint32_t
collect(const float *scores, uint32_t n, float thr, uint32_t cap,
		uint64_t *keys, uint32_t *m)
{
	uint32_t c = 0, found = *m;
#ifdef __SSE2__
	__m128 t = _mm_set1_ps(thr);
	for (; c + 16 <= n && found <= cap; c += 16) {
		const float *p = scores + c;
		unsigned bits = (unsigned)_mm_movemask_ps(_mm_cmpge_ps(
						_mm_loadu_ps(p), t)) |
				(unsigned)_mm_movemask_ps(_mm_cmpge_ps(
						_mm_loadu_ps(p + 4), t))
						<< 4 |
				(unsigned)_mm_movemask_ps(_mm_cmpge_ps(
						_mm_loadu_ps(p + 8), t))
						<< 8 |
				(unsigned)_mm_movemask_ps(_mm_cmpge_ps(
						_mm_loadu_ps(p + 12), t))
						<< 12;
		while (bits != 0) {
			keys[found++] = c + (uint32_t)__builtin_ctz(bits);
			bits &= bits - 1;
		}
	}
#endif
	for (; c < n && found <= cap; c++) {
		keys[found] = c;
		found += scores[c] >= thr;
	}
	*m = found;
	return c;
}

uint32_t
fb_topk(const float *scores, uint32_t n, const uint32_t *exclude,
		uint32_t n_exclude, uint32_t max_k, uint32_t *top)
{
	if (max_k == 0) {
		return 0;
	}
	size_t cap = max_k + 64;
	struct cand stack_heap[320];
	struct cand *heap =
			cap <= 320 ? stack_heap : malloc(cap * sizeof(*heap));
	uint64_t keys[TOPK_FAST_CAP + 64];
	uint32_t n_written = 0;
	if (heap == NULL) {
		return 0;
	}
	// Long rows: keep only the scores >= a sampled threshold (branch-free
	// append), drop the masked ones, then select among the few left by
	// integer keys. If too many or too few eligible candidates reach it,
	// or the threshold is not a real number, fall back to the full scan.
	// Either way the result is exact.
	uint32_t cap_keys = 4 * max_k + 64;
	if (n >= 64 * (uint64_t)max_k && cap_keys <= TOPK_FAST_CAP) {
		float thr = sample_threshold(scores, n, max_k);
		uint32_t m = 0;
		uint32_t c = 0;
		if (thr > -INFINITY) {
			c = collect(scores, n, thr, cap_keys, keys, &m);
		}
		if (c >= n && m <= cap_keys) {
			uint32_t kept = 0;
			for (uint32_t k = 0, ex = 0; k < m; k++) {
				uint32_t id = (uint32_t)keys[k];
				if (!excluded(exclude, n_exclude, &ex, id)) {
					keys[kept++] = rank_key(scores[id], id);
				}
			}
			if (kept >= max_k) {
				select_keys(keys, kept, max_k);
				for (uint32_t k = 0; k < max_k; k++) {
					top[k] = UINT32_MAX - (uint32_t)keys[k];
				}
				n_written = max_k;
				goto out;
			}
		}
	}
	n_written = select_heap(
			scores, n, exclude, n_exclude, max_k, top, heap);
out:
	if (heap != stack_heap) {
		free(heap);
	}
	return n_written;
}

static int
contains(const uint32_t *sorted, uint32_t n, uint32_t x)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sorted[mid] < x) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < n && sorted[lo] == x;
}

void
fb_metrics_user(struct fb_metrics *out, const uint32_t *top, uint32_t n_top,
		const uint32_t *pos, uint32_t n_pos)
{
	for (uint32_t j = 0; j < out->n_k; j++) {
		uint32_t k = out->k[j];
		uint32_t hits = 0;
		double dcg = 0, idcg = 0;
		for (uint32_t r = 0; r < k && r < n_top; r++) {
			if (contains(pos, n_pos, top[r])) {
				hits++;
				dcg += 1.0 / log2((double)r + 2.0);
			}
		}
		for (uint32_t r = 0; r < k && r < n_pos; r++) {
			idcg += 1.0 / log2((double)r + 2.0);
		}
		double recall = (double)hits / n_pos;
		double precision = (double)hits / k;
		out->recall[j] = recall;
		out->precision[j] = precision;
		out->ndcg[j] = idcg > 0 ? dcg / idcg : 0;
		out->f1[j] = hits > 0
				? 2 * precision * recall / (precision + recall)
				: 0;
		out->hit_rate[j] = hits > 0;
	}
}

void
fb_metrics_add(struct fb_metrics *acc, const struct fb_metrics *m)
{
	for (uint32_t j = 0; j < acc->n_k; j++) {
		acc->recall[j] += m->recall[j];
		acc->ndcg[j] += m->ndcg[j];
		acc->precision[j] += m->precision[j];
		acc->f1[j] += m->f1[j];
		acc->hit_rate[j] += m->hit_rate[j];
	}
}

void
fb_metrics_scale(struct fb_metrics *acc, double inv_n)
{
	for (uint32_t j = 0; j < acc->n_k; j++) {
		acc->recall[j] *= inv_n;
		acc->ndcg[j] *= inv_n;
		acc->precision[j] *= inv_n;
		acc->f1[j] *= inv_n;
		acc->hit_rate[j] *= inv_n;
	}
}
