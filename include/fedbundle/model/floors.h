// include/fedbundle/model/floors.h: the two floors every DP figure is compared
// with (issue 15, docs/privacy.md section 11). A DP model that does not
// beat both at the same (epsilon, delta) is not worth its noise.
//
// (a) Popularity from noisy counts: one user-level DP release (q = 1, one
//     step) of per-bundle counts. Each user's contribution is a weight
//     vector over the user's k training bundles, w = floor(sqrt(S^2 /
//     max(k, m))) grid steps on each, S = floor(clip / grid): its L2 norm
//     is at most S steps (= clip), checked in integers, whatever k is. The
//     counts are summed exactly in 64-bit integers and exact discrete
//     Gaussian noise is added by the DP layer (dp.h), whose ledger entry
//     and budget check come first. The ranking is the noisy counts, ties
//     to the lower bundle id.
// (b) The zero-release model: item factors from the public catalogue
//     alone (pretrain.h), bundle representations the mean of their items'
//     unit factors, and each user's factor the implicit-feedback least-squares
//     solution (Hu, Koren and Volinsky 2008) on that user's own training
//     bundles against all bundles, with the public representations fixed.
//     Nothing computed from any user's data is released: epsilon 0.
// Thread-safety: the functions are reentrant; a struct fb_floors_public is
// read-only after fb_floors_public_init and may be shared by threads.
#ifndef FB_INCLUDE_FEDBUNDLE_FLOORS_H
#define FB_INCLUDE_FEDBUNDLE_FLOORS_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/err.h"

// ---- (a) DP popularity ----

// The DP configuration of the popularity release derived from base (its
// epsilon, delta, accountant, seeded switch): user level, q = 1, one step,
// clip 1, sigma 0 (calibrated by fb_dp_open with the grid's terms).
void fb_floors_pop_dp_config(
		const struct fb_dp_config *base, struct fb_dp_config *out);

// The clip in grid steps: floor(clip / 2^grid_log2).
uint64_t fb_floors_clip_steps(double clip, int32_t grid_log2);

// The weight, in grid steps, that a user with k training bundles puts on
// each of them: the largest w with max(k, m) w^2 <= clip_steps^2 (so k w^2
// <= clip_steps^2). m >= 1 sets how far the weights follow raw counts: 1
// normalises every user to the same L2 norm, m >= every user's k gives
// every interaction the same weight (raw popularity, scaled).
uint64_t fb_floors_pop_weight(uint64_t clip_steps, uint32_t k, uint32_t m);

// The exact pre-noise counts: counts[b] (room for train->n_cols) = the
// sum over users of fb_floors_pop_weight on each of their training
// bundles. Removing one user moves the vector by at most clip_steps in L2,
// exactly. FB_EINVAL if clip_steps > 2^31 or m == 0 (so the sum of up to
// 2^28 users' weights fits in 63 bits).
fb_err fb_floors_pop_counts(const struct fb_csr *train, uint64_t clip_steps,
		uint32_t m, int64_t *counts);

// The release: the budget check and ledger entry (fb_dp_begin_release,
// round `round`), then the exact counts on dp's grid, then noise on every
// coordinate (fb_dp_noise_i64). dp must be user level with q = 1 and
// opened for train->n_cols coordinates (FB_EINVAL otherwise, before
// anything is written); FB_EBUDGET if the budget does not allow it.
// counts: room for train->n_cols, written on success.
fb_err fb_floors_pop_release(struct fb_dp *dp, const struct fb_csr *train,
		uint32_t m, uint64_t round, int64_t *counts);

// Scores that rank bundles like counts[0 .. n) (higher first, ties to the
// lower id) when fed to fb_eval_fixed: scores[b] = n - rank of b, exact in
// float for n <= 2^24 (FB_EINVAL beyond), FB_ENOMEM.
fb_err fb_floors_rank_scores(const int64_t *counts, uint32_t n, float *scores);

// ---- the popularity prior of `train --dp user` (docs/privacy.md §12) ----

// The share of the noise budget the prior's count release takes: its
// noise multiplier is the popularity floor's at the whole (epsilon,
// delta) divided by sqrt(FB_FLOORS_PRIOR_SHARE), i.e. this fraction of
// the 1 / sigma^2 that one release alone could have. A public constant,
// selected among 0.1, 0.25, 0.5, 0.75 on the synthetic `small` preset's
// tune split (docs/privacy.md section 12), never on Youshu.
#define FB_FLOORS_PRIOR_SHARE 0.5

// The DP configuration of the prior's count release: fb_floors_pop_dp_config
// of base with sigma the floor's continuous calibration at base's (epsilon,
// delta) divided by sqrt(share) (share in (0, 1]). The training after it
// calibrates on top of it (fb_dp_config.compose_ledger). FB_EINVAL.
fb_err fb_floors_prior_dp_config(const struct fb_dp_config *base, double share,
		struct fb_dp_config *out);

// The bundle-bias prior from a release's noisy counts (grid steps on the
// grid 2^grid_log2, clip the release's, sigma its noise multiplier):
// bias[b] = ln(max(c_b, s) / s), c_b = counts[b] 2^grid_log2 / clip the
// noisy count in units of one user's whole weight, s = sigma the noise's
// std in those units (a count below the noise is not told apart from
// none). Monotone in the count, 0 at or below the noise; natural log, the
// scale at which a softmax over bundles reproduces the counts'
// proportions. Post-processing of the release.
void fb_floors_pop_bias(const int64_t *counts, uint32_t n, int32_t grid_log2,
		double clip, double sigma, float *bias);

// ---- (b) the zero-release model ----

struct fb_floors_zr_config {
	uint32_t dim;   // factor dimension (default 64)
	uint32_t iters; // subspace iterations of the pretraining (20)
	double alpha;   // extra confidence of a positive (default 20)
	double lambda;  // L2 regularisation of a user's factor (default 1)
	// Weight of the user's own items (user_item) as positives (0.1)
	double item_weight;
	uint64_t seed; // pretraining's random rows (items in no bundle)
};

// Fills cfg with the defaults above.
void fb_floors_zr_defaults(struct fb_floors_zr_config *cfg);

// The fixed representations users' factors are solved against: the
// public half of the zero-release floor, computed from the catalogue only
// (fb_floors_public_init), or any model's item and bundle representations
// (fb_floors_fixed_init, e.g. an aggregator checkpoint's).
struct fb_floors_public {
	uint32_t dim;
	struct fb_matrix items; // n_items x dim: fb_pretrain_items
	// n_bundles x dim: the mean of its items' rows, normalised to norm
	// `scale` (so that the RMS row norm is 1; 1 unless a bundle is empty)
	struct fb_matrix bundles;
	double scale; // the RMS row norm of bundles
	double *gram; // dim x dim: bundles^T bundles
	// The last coordinate of a user's factor is a bias fixed to 1
	// (model.h): only the others are solved. False for the floor.
	bool bias;
};

// Computes the public half from bi (bundles x items) alone. The caller
// finishes pub. FB_EINVAL for dim 0 or over 256, FB_ENOMEM.
fb_err fb_floors_public_init(struct fb_floors_public *pub,
		const struct fb_csr *bi, const struct fb_floors_zr_config *cfg);

// Takes copies of a model's representations (bundles n_bundles x d,
// items n_items x d, same d: a struct fb_reps) as the fixed half: scale
// their RMS bundle row norm, gram bundles^T bundles, and bias as given
// (d >= 2 then). The caller finishes pub. FB_EINVAL naming the shapes for
// d 0 or over 256 or unequal widths, FB_ENOMEM.
fb_err fb_floors_fixed_init(struct fb_floors_public *pub,
		const struct fb_matrix *bundles, const struct fb_matrix *items,
		bool bias);

// Frees pub; NULL-safe, idempotent.
void fb_floors_public_finish(struct fb_floors_public *pub);

// One user's own history: its training bundles and its items (user_item;
// n_items 0 if it has none or they are not used).
struct fb_floors_history {
	const uint32_t *bundles;
	uint32_t n_bundles;
	const uint32_t *items;
	uint32_t n_items;
};

// One user's factor p (dim floats) from that user's history h alone:
// argmin sum_b c_b (y_b - p . q_b)^2 + lambda |p|^2 over all bundles b,
// y_b = 1 and c_b = 1 + alpha on the user's bundles, y_b = 0 and c_b = 1
// elsewhere, plus, if item_weight > 0, each of the user's items as one more
// positive (its unit factor scaled like a bundle's, confidence item_weight
// (1 + alpha)): (G + alpha sum q q^T + c sum v v^T + lambda I) p = (1 +
// alpha) sum q + c sum v, solved by Cholesky in double. With pub->bias
// the last coordinate of p is fixed to 1 and the same objective is
// minimised over the others (the system without that row and column, its
// column moved to the right-hand side). An empty history gives p = 0
// (with pub->bias, p = (0, ..., 0, 1)). FB_EINVAL for an id out of range or a system that is not
// positive definite; FB_ENOMEM.
fb_err fb_floors_user_solve(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_floors_history *h, float *p);

// Every user's factor into P (train->n_rows x dim, allocated here; the
// caller finishes it), each from its own rows of train and ui (ui may be
// NULL or empty) alone.
fb_err fb_floors_users(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_csr *train, const struct fb_csr *ui,
		struct fb_matrix *P);

// ---- (c) a shared model without its users' factors ----

// Every user's factor for a model whose user factors are not at hand (an
// aggregator checkpoint), into P (train->n_rows x d, allocated here; the
// caller finishes it). pub is fb_floors_fixed_init of reps' bundles and
// items (bias = reps->opts.bias). User u's representation r_u is
// fb_floors_user_solve on u's own rows of train (and of ui when ui is not
// NULL and cfg->item_weight > 0) alone; P[u] is r_u less what
// fb_user_reps_compute adds to it (the mean of u's item representations
// in ui under reps->opts.user_item_view), so the model scores u with r_u
// up to float rounding. FB_EINVAL if train's bundles are not pub's.
fb_err fb_floors_model_users(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_reps *reps, const struct fb_csr *train,
		const struct fb_csr *ui, struct fb_matrix *P);

#endif
