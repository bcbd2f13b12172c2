// include/fedbundle/model/metrics.h: top-K ranking metrics of one user, by the
// protocol of the bundle-recommendation papers (../shared/data/PROVENANCE.md):
// every candidate is ranked except the excluded ones (the user's training
// positives); Recall@K = hits / #positives (no min(K, .) cap);
// NDCG@K = DCG / IDCG with binary gains, discount 1/log2(rank + 1) and IDCG
// over min(#positives, K) hits; Precision@K = hits / K; F1@K is the
// harmonic mean of that user's Precision@K and Recall@K; HitRate@K is 1 if
// any hit. Ties in score are broken towards the lower candidate id, so the
// ranking is a deterministic function of the scores.
// Thread-safety: functions are pure on their arguments.
#ifndef FB_INCLUDE_FEDBUNDLE_METRICS_H
#define FB_INCLUDE_FEDBUNDLE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

#define FB_METRICS_MAX_K 8         // at most this many cut-offs at once
#define FB_METRICS_MAX_CUTOFF 1000 // largest K accepted

// Metric values of one user (or means over users) at each cut-off.
struct fb_metrics {
	uint32_t n_k;
	uint32_t k[FB_METRICS_MAX_K];
	double recall[FB_METRICS_MAX_K];
	double ndcg[FB_METRICS_MAX_K];
	double precision[FB_METRICS_MAX_K];
	double f1[FB_METRICS_MAX_K];
	double hit_rate[FB_METRICS_MAX_K];
};

// Sets up m for the cut-offs ks (1..FB_METRICS_MAX_CUTOFF, at most
// FB_METRICS_MAX_K of them), all values 0. FB_EINVAL on a bad list.
fb_err fb_metrics_init(struct fb_metrics *m, const uint32_t *ks, uint32_t n_k);

// Selects the top max_k candidates of scores[0..n) that are not in
// exclude (sorted ascending), best first, into top (room for max_k ids);
// returns how many were written (less than max_k if fewer candidates).
uint32_t fb_topk(const float *scores, uint32_t n, const uint32_t *exclude,
		uint32_t n_exclude, uint32_t max_k, uint32_t *top);

// Computes one user's metrics into out (initialised with the cut-offs)
// from a ranked list top[0..n_top) and the sorted positives (n_pos > 0).
void fb_metrics_user(struct fb_metrics *out, const uint32_t *top,
		uint32_t n_top, const uint32_t *pos, uint32_t n_pos);

// acc += m, elementwise (same cut-offs).
void fb_metrics_add(struct fb_metrics *acc, const struct fb_metrics *m);

// acc /= n, elementwise (n > 0).
void fb_metrics_scale(struct fb_metrics *acc, double inv_n);

#endif
