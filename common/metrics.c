// common/metrics.c: top-K selection and the ranking metrics. Selection is a
// bounded min-heap keyed by (score, -id), so each candidate costs one
// comparison against the current K-th best in the common case.
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/metrics.h"

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

// The heap selection over candidates cand[0..n) (ids ascending), writing
// the ranked ids into top. Returns the number written.
static uint32_t
select_heap(const float *scores, const uint32_t *ids, uint32_t n_ids,
		uint32_t n, const uint32_t *exclude, uint32_t n_exclude,
		uint32_t max_k, uint32_t *top, struct cand *heap)
{
	uint32_t size = 0, ex = 0, j = 0;
	// ids == NULL means every candidate 0..n-1.
	uint32_t count = ids != NULL ? n_ids : n;
	for (; j < count && size < max_k; j++) {
		uint32_t c = ids != NULL ? ids[j] : j;
		if (!excluded(exclude, n_exclude, &ex, c)) {
			heap_push(heap, size++, cand_of(scores, c));
		}
	}
	// Candidates come in increasing id, so a later one with the same
	// score as the worst kept one ranks after it: only a strictly
	// greater score enters. Without an id list, blocks whose scores are
	// all <= the threshold cost one vectorised comparison; NaN compares
	// false and never enters.
	enum { BLOCK = 16 };
	while (j < count) {
		if (ids == NULL) {
			float thr = heap[0].s;
			uint32_t end = count - j >= BLOCK ? j + BLOCK : count;
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
						!excluded(exclude, n_exclude,
								&ex, j)) {
					heap[0] = cand_of(scores, j);
					sift_down(heap, size, 0);
				}
			}
			continue;
		}
		uint32_t c = ids[j++];
		if (scores[c] > heap[0].s &&
				!excluded(exclude, n_exclude, &ex, c)) {
			heap[0] = cand_of(scores, c);
			sift_down(heap, size, 0);
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
static float
sample_threshold(const float *scores, uint32_t n, uint32_t max_k,
		struct cand *heap)
{
	uint32_t r = (2 * max_k + STRIDE - 1) / STRIDE + 2, size = 0;
	for (uint32_t c = 0; c < n; c += STRIDE) {
		struct cand x = cand_of(scores, c);
		if (size < r) {
			heap_push(heap, size++, x);
		} else if (before(x, heap[0])) {
			heap[0] = x;
			sift_down(heap, size, 0);
		}
	}
	return heap[0].s;
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
	uint32_t stack_ids[4096];
	uint32_t *ids = stack_ids;
	uint32_t n_written = 0;
	if (heap == NULL) {
		return 0;
	}
	// Long rows: keep only the scores >= a sampled threshold, then select
	// among them. If fewer than max_k eligible candidates reach it (the
	// threshold was too high, or the user's masked bundles were among
	// them), fall back to the full scan. Either way the result is exact.
	if (n >= 64 * (uint64_t)max_k && 4 * (uint64_t)max_k + 64 <= 4096) {
		float thr = sample_threshold(scores, n, max_k, heap);
		uint32_t m = 0, cap_ids = 4 * max_k + 64;
		enum { BLOCK = 16 };
		for (uint32_t c = 0; c < n && m <= cap_ids;) {
			uint32_t end = n - c >= BLOCK ? c + BLOCK : n;
			int any = 0;
			for (uint32_t k = c; k < end; k++) {
				any |= scores[k] >= thr;
			}
			for (; any && c < end && m <= cap_ids; c++) {
				if (scores[c] >= thr) {
					if (m == cap_ids) {
						m++; // too many: fall back
						break;
					}
					ids[m++] = c;
				}
			}
			c = end > c ? end : c;
		}
		uint32_t eligible = m;
		for (uint32_t k = 0, ex = 0; k < m && m <= cap_ids; k++) {
			eligible -= excluded(exclude, n_exclude, &ex, ids[k]);
		}
		if (m <= cap_ids && eligible >= max_k) {
			n_written = select_heap(scores, ids, m, n, exclude,
					n_exclude, max_k, top, heap);
			goto out;
		}
	}
	n_written = select_heap(scores, NULL, 0, n, exclude, n_exclude, max_k,
			top, heap);
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
