// common/model/metrics.c: top-K selection and the ranking metrics. Long rows are
// filtered against a sampled threshold and the few candidates left are
// selected by integer rank keys; short rows, and long rows the filter
// cannot settle, go through a bounded min-heap keyed by (score, -id).
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/metrics.h"

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

// Room for candidates of the fast path; the longest row it takes (in
// blocks of TOPK_BLOCK scores); the histogram's resolution.
#define TOPK_FAST_CAP 4096
#define TOPK_BLOCK 16
#define TOPK_MAX_BLOCKS 4096
#define TOPK_BINS 64

// The largest score of each whole block into bmax (NaN skipped: a block
// of NaN only gets -infinity), and their least and greatest.
static void
block_maxima(const float *scores, uint32_t n_blocks, float *bmax, float *lo,
		float *hi)
{
	float l = INFINITY, h = -INFINITY;
	for (uint32_t b = 0; b < n_blocks; b++) {
		const float *p = scores + (size_t)b * TOPK_BLOCK;
		float m = -INFINITY;
#ifdef __SSE2__
		// max_ps(x, acc) returns acc when x is NaN.
		__m128 acc = _mm_set1_ps(-INFINITY);
		for (uint32_t k = 0; k < TOPK_BLOCK; k += 4) {
			acc = _mm_max_ps(_mm_loadu_ps(p + k), acc);
		}
		acc = _mm_max_ps(acc, _mm_movehl_ps(acc, acc));
		acc = _mm_max_ps(acc, _mm_shuffle_ps(acc, acc, 1));
		m = _mm_cvtss_f32(acc);
#else
		for (uint32_t k = 0; k < TOPK_BLOCK; k++) {
			m = p[k] > m ? p[k] : m;
		}
#endif
		bmax[b] = m;
		l = m < l ? m : l;
		h = m > h ? m : h;
	}
	*lo = l;
	*hi = h;
}

// Appends to keys[0..) the ids of the scores >= t such that at least r
// scores reach t, few more, and returns how many; UINT32_MAX if the row
// is not settled this way (too short or too long, r above the number of
// blocks, infinite or equal block maxima) or more than cap reach t (keys
// needs room for cap + TOPK_BLOCK). t is the least block maximum among
// the histogram bins from the top down to the one where r block maxima
// are reached: r blocks, so r distinct scores, reach it. Only blocks
// whose maximum reaches t are scanned, and the tail.
static uint32_t
threshold_candidates(const float *scores, uint32_t n, uint32_t r, uint32_t cap,
		uint64_t *keys)
{
	uint32_t n_blocks = n / TOPK_BLOCK;
	if (n_blocks > TOPK_MAX_BLOCKS || r > n_blocks || r == 0) {
		return UINT32_MAX;
	}
	float bmax[TOPK_MAX_BLOCKS];
	uint8_t bin[TOPK_MAX_BLOCKS];
	float lo, hi;
	block_maxima(scores, n_blocks, bmax, &lo, &hi);
	// The spread and the scale must be finite and positive, so that every
	// bin index below is a number in [0, TOPK_BINS].
	float spread = hi - lo, scale = (float)TOPK_BINS / spread;
	if (!(lo > -INFINITY && hi < INFINITY && spread > 0 &&
			    spread < INFINITY && scale > 0 &&
			    scale < INFINITY)) {
		return UINT32_MAX;
	}
	uint32_t count[TOPK_BINS] = {0};
	for (uint32_t b = 0; b < n_blocks; b++) {
		int j = (int)((bmax[b] - lo) * scale);
		j = j < 0 ? 0 : j >= TOPK_BINS ? TOPK_BINS - 1 : j;
		bin[b] = (uint8_t)j;
		count[j]++;
	}
	int top_bin = TOPK_BINS - 1;
	for (uint32_t reached = 0;; top_bin--) {
		reached += count[top_bin];
		if (reached >= r || top_bin == 0) {
			break;
		}
	}
	// Without a branch: blocks below top_bin are pushed to +infinity.
	static const float lift[2] = {INFINITY, 0.0f};
	float t = INFINITY;
	for (uint32_t b = 0; b < n_blocks; b++) {
		float x = bmax[b] + lift[bin[b] >= top_bin];
		t = x < t ? x : t;
	}
	// The blocks to scan, listed without a branch: which blocks reach t
	// is unpredictable, a loop over the list is not.
	uint16_t chosen[TOPK_MAX_BLOCKS];
	uint32_t n_chosen = 0;
	for (uint32_t b = 0; b < n_blocks; b++) {
		chosen[n_chosen] = (uint16_t)b;
		n_chosen += bmax[b] >= t;
	}
	uint32_t m = 0;
	for (uint32_t i = 0; i < n_chosen && m <= cap; i++) {
		uint32_t b = chosen[i];
		const float *p = scores + (size_t)b * TOPK_BLOCK;
		for (uint32_t k = 0; k < TOPK_BLOCK; k++) {
			keys[m] = (uint64_t)b * TOPK_BLOCK + k;
			m += p[k] >= t;
		}
	}
	for (uint32_t c = n_blocks * TOPK_BLOCK; c < n && m <= cap; c++) {
		keys[m] = c;
		m += scores[c] >= t;
	}
	return m <= cap ? m : UINT32_MAX;
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
	uint64_t keys[TOPK_FAST_CAP + TOPK_BLOCK];
	uint32_t n_written = 0;
	if (heap == NULL) {
		return 0;
	}
	// Long rows: keep only the scores at or above a threshold that at
	// least max_k + n_exclude of them reach (so at least max_k that are
	// not masked), drop the masked ones, then select among the few left
	// by integer keys. Rows the threshold cannot settle go through the
	// full heap scan. Either way the result is exact.
	uint32_t cap_keys = 4 * max_k + 64;
	if (n >= 64 * (uint64_t)max_k && cap_keys <= TOPK_FAST_CAP &&
			(uint64_t)max_k + n_exclude <= UINT32_MAX) {
		uint32_t m = threshold_candidates(
				scores, n, max_k + n_exclude, cap_keys, keys);
		uint32_t kept = 0;
		for (uint32_t k = 0, ex = 0; m != UINT32_MAX && k < m; k++) {
			uint32_t id = (uint32_t)keys[k];
			if (!excluded(exclude, n_exclude, &ex, id)) {
				keys[kept++] = rank_key(scores[id], id);
			}
		}
		if (m != UINT32_MAX && kept >= max_k) {
			select_keys(keys, kept, max_k);
			for (uint32_t k = 0; k < max_k; k++) {
				top[k] = UINT32_MAX - (uint32_t)keys[k];
			}
			n_written = max_k;
			goto out;
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
