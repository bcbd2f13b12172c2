// common/metrics.c: top-K selection and the ranking metrics. Selection is a
// bounded min-heap keyed by (score, -id), so each candidate costs one
// comparison against the current K-th best in the common case.
#include <math.h>
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

// Candidate a ranks strictly before b: higher score, then lower id. NaN
// ranks as -infinity so that it never displaces a number.
static inline int
before(const float *scores, uint32_t a, uint32_t b)
{
	float sa = isnan(scores[a]) ? -INFINITY : scores[a];
	float sb = isnan(scores[b]) ? -INFINITY : scores[b];
	return sa > sb || (sa == sb && a < b);
}

// Restores the min-heap (root = worst kept candidate) below i.
static void
sift_down(uint32_t *heap, const float *scores, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, worst = i;
		if (l < n && before(scores, heap[worst], heap[l])) {
			worst = l;
		}
		if (r < n && before(scores, heap[worst], heap[r])) {
			worst = r;
		}
		if (worst == i) {
			return;
		}
		uint32_t t = heap[i];
		heap[i] = heap[worst];
		heap[worst] = t;
		i = worst;
	}
}

uint32_t
fb_topk(const float *scores, uint32_t n, const uint32_t *exclude,
		uint32_t n_exclude, uint32_t max_k, uint32_t *top)
{
	uint32_t size = 0, ex = 0;
	if (max_k == 0) {
		return 0;
	}
	for (uint32_t c = 0; c < n; c++) {
		while (ex < n_exclude && exclude[ex] < c) {
			ex++;
		}
		if (ex < n_exclude && exclude[ex] == c) {
			continue;
		}
		if (size < max_k) {
			uint32_t i = size++;
			while (i > 0 && before(scores, top[(i - 1) / 2], c)) {
				top[i] = top[(i - 1) / 2];
				i = (i - 1) / 2;
			}
			top[i] = c;
		} else if (before(scores, c, top[0])) {
			top[0] = c;
			sift_down(top, scores, size, 0);
		}
	}
	// Heap sort: move the worst to the end until the list is ranked.
	for (uint32_t end = size; end > 1; end--) {
		uint32_t t = top[0];
		top[0] = top[end - 1];
		top[end - 1] = t;
		sift_down(top, scores, end - 1, 0);
	}
	return size;
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
