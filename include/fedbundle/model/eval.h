// include/fedbundle/model/eval.h: all-ranking evaluation over all bundles, by
// the protocol of ../shared/data/PROVENANCE.md: every user with at least one
// positive in the evaluated split is scored against every bundle (blocks of
// users through cblas_sgemm), the user's training positives are masked, and
// the per-user metrics of include/fedbundle/model/metrics.h are averaged over
// users. Users without positives in the split are dropped.
// Thread-safety: the functions may be called from any thread; each call
// uses its own worker threads and buffers.
#ifndef FB_INCLUDE_FEDBUNDLE_EVAL_H
#define FB_INCLUDE_FEDBUNDLE_EVAL_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/metrics.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"

// Cut-offs evaluated by default: 20 and 40, the papers' figures.
#define FB_EVAL_DEFAULT_KS                                                     \
	{                                                                      \
		20, 40                                                         \
	}

struct fb_eval_result {
	struct fb_metrics mean; // means over evaluated users
	struct fb_metrics sum;  // sums (federated evaluation adds these)
	uint64_t n_users;       // users evaluated
	double seconds;         // wall time of the evaluation
};

// Evaluates scores user_reps[u] . bundle_reps[b] for every user with
// positives in truth, masking mask (the training split; may be NULL).
// ks/n_k: cut-offs. threads >= 1 worker threads (results do not depend on
// the thread count). FB_EINVAL on shape mismatches.
fb_err fb_eval_ranking(const struct fb_matrix *user_reps,
		const struct fb_matrix *bundle_reps, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out);

// Like fb_eval_ranking(), and on success *per_user (which the caller
// frees) holds each evaluated user's own metrics, out->n_users of them, in
// increasing user order: for releases that must bound each user's
// contribution (client/evalrelease.c).
fb_err fb_eval_ranking_users(const struct fb_matrix *user_reps,
		const struct fb_matrix *bundle_reps, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out,
		struct fb_metrics **per_user);

// One ranking for every user: bundles by scores[0 .. truth->n_cols)
// (higher first, ties to the lower id), mask's bundles (the training
// split; may be NULL) left out for each user. For the popularity baselines
// (fb_eval_popularity, and the DP one of floors.h). FB_EINVAL on shape
// mismatches.
fb_err fb_eval_fixed(const float *scores, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		struct fb_eval_result *out);

// The popularity baseline: every user gets the bundles ranked by their
// number of training interactions (ties to the lower id), training
// positives masked.
fb_err fb_eval_popularity(const struct fb_csr *train,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		struct fb_eval_result *out);

#endif
