// include/fedbundle/model/completion.h: the bundle-completion evaluation of
// docs/bundle-completion.md. For each (user, bundle) pair of a split whose
// bundle has at least 2 items, a seeded choice hides floor(|b|/2) of its
// items (at least 1); every item not given is ranked by a method of
// compose.h with that bundle LEFT OUT of the catalogue statistics (it is
// public, so counting it would hand its items back), and Recall@K and
// NDCG@K of the hidden items are averaged over the pairs.
// Thread-safety: one evaluation per scorer.
#ifndef FB_INCLUDE_FEDBUNDLE_MODEL_COMPLETION_H
#define FB_INCLUDE_FEDBUNDLE_MODEL_COMPLETION_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/csr.h"
#include "fedbundle/model/compose.h"
#include "fedbundle/model/metrics.h"
#include "fedbundle/util/err.h"

// One bundle split into the given and the hidden items, both sorted.
// given and hidden need room for the bundle's length each; *n_given +
// *n_hidden = n, *n_hidden = max(1, n / 2). The choice is a function of
// (seed, user, bundle) only. n >= 2.
void fb_completion_split(const uint32_t *bundle_items, uint32_t n,
		uint64_t seed, uint32_t user, uint32_t bundle, uint32_t *given,
		uint32_t *n_given, uint32_t *hidden, uint32_t *n_hidden);

struct fb_completion_opts {
	enum fb_complete_method method;
	uint64_t seed;
	// Leave the evaluated bundle out of the catalogue statistics. Always
	// true but in the test that shows what leaving it in would do.
	bool hold_out;
	uint32_t max_pairs; // 0: every pair; else the first max_pairs
};

// Evaluates the pairs of ub (users x bundles, e.g. ds->ub_test) of the
// catalogue bi. user_reps (ub->n_rows x d, may be NULL for the popularity
// and co-occurrence methods) gives each user's representation. out must be
// initialised with the cut-offs (fb_metrics_init); it receives the means
// and *n_pairs the pairs counted. FB_EINVAL if shapes differ, FB_ENOMEM.
fb_err fb_completion_eval(struct fb_scorer *s, const struct fb_csr *bi,
		const struct fb_csr *ub, const struct fb_matrix *user_reps,
		const struct fb_completion_opts *opts, struct fb_metrics *out,
		uint32_t *n_pairs);

// Composition (docs/bundle-completion.md §3): how N composed bundles of
// one user overlap the bundle b of a test pair. precision: share of the
// distinct composed items that are in b; recall: share of b's items
// composed; jaccard: the best |c ∩ b| / |c ∪ b| over the composed
// bundles c.
struct fb_composition_metrics {
	double precision;
	double recall;
	double jaccard;
};

// The metrics of n_bundles composed bundles of size items each (items
// holds n_bundles * size ids, bundle r at r * size, each bundle of
// distinct items) against target[0..n_target) (sorted, distinct). All
// zero when n_bundles or n_target is 0.
void fb_composition_overlap(const uint32_t *items, uint32_t n_bundles,
		uint32_t size, const uint32_t *target, uint32_t n_target,
		struct fb_composition_metrics *m);

// For each pair of ub (as fb_completion_eval: bundles of at least 2
// items, the first max_pairs if max_pairs > 0) composes with fb_compose
// and *copts (hold_out and skip set per pair: the pair's bundle is left
// out of the catalogue statistics) for the pair's user and averages the
// overlap with the pair's bundle into *out; *n_pairs the pairs counted.
// FB_EINVAL if shapes differ or fb_compose refuses copts, FB_ENOMEM.
fb_err fb_composition_eval(struct fb_scorer *s, const struct fb_csr *bi,
		const struct fb_csr *ub, const struct fb_matrix *user_reps,
		const struct fb_compose_opts *copts, uint32_t max_pairs,
		struct fb_composition_metrics *out, uint32_t *n_pairs);

#endif
