// include/fedbundle/model/dprule.h: the rule that derives user-level DP
// training settings (sampling rate, learning rate, rank of the trained
// bundle slice) from PUBLIC quantities only (issue 15, "hyper-parameters
// without peeking"; docs/privacy.md section 12): the declared number of
// users, the catalogue's sizes, epsilon, delta, the planned epochs and the
// model's public weight decay. Tuning these on private tune data would be a leak
// nothing accounts; the rule reads no user data at all.
// Thread-safety: reentrant; no state.
#ifndef FB_INCLUDE_FEDBUNDLE_MODEL_DPRULE_H
#define FB_INCLUDE_FEDBUNDLE_MODEL_DPRULE_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/model/train.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/err.h"

// The rule's design constants (docs/privacy.md section 12 says why each
// has its value; the two numbers were selected on the synthetic `small`
// preset's tune split, never on Youshu).
// Sampling rate: at fixed epochs the final signal-to-noise of noisy SGD
// does not depend on q to first order, so q only trades steps for cost.
#define FB_DPRULE_Q 0.25
// SGD with weight decay l2 is an exponential average over 1 / (lr * l2)
// releases; lr = FB_DPRULE_CONVERGE / (l2 * T) is the smallest rate (the
// least noise) that gets within exp(-FB_DPRULE_CONVERGE) of its
// stationary point in the T planned releases.
#define FB_DPRULE_CONVERGE 2.0
// The noise norm of one normalised release, sqrt(D) * nu, is at most
// FB_DPRULE_KAPPA times the clip (the largest mean gradient): this bounds
// D, the released coordinates, hence the rank.
#define FB_DPRULE_KAPPA 0.5
// The learning rate is kept in [FB_DPRULE_LR_MIN, FB_DPRULE_LR_MAX].
#define FB_DPRULE_LR_MIN 1e-3
#define FB_DPRULE_LR_MAX 1e3

// The public inputs. Nothing here may be counted from user data.
struct fb_dprule_input {
	uint64_t users;     // declared number of users n (dp.users)
	uint32_t n_bundles; // catalogue
	uint32_t n_items;
	uint32_t dim;     // factor dimension
	bool bias;        // the last coordinate is a trained bias
	bool train_items; // item factors trained (and released) too
	double l2;        // weight decay of the trained factors (> 0)
	uint32_t epochs;  // planned epochs
	uint64_t steps;   // planned releases (dp.steps); 0: from epochs
	double epsilon, delta, clip;
	double q;     // sampling rate (the caller's, or FB_DPRULE_Q)
	double sigma; // noise multiplier; 0: the accountant's for the plan
	enum fb_acct_kind accountant;
};

// What the rule derives, with the quantities it derived them from.
struct fb_dprule {
	double q;
	uint64_t releases;     // T = steps, or epochs * ceil(1 / q)
	double sigma;          // for (q, T, epsilon, delta), continuous
	double noise_per_step; // nu = sigma * clip / (q * n)
	double lr;             // CONVERGE / (l2 * T), clamped
	uint32_t bundle_rank;  // from D <= (kappa * clip / nu)^2, in [1, dim)
	double max_coords;     // that bound on D
	// The smallest trainable release (rank 1, with the bias and the item
	// factors if trained) meets that bound. False: bundle_rank is 1 only
	// because it cannot be less, and the noise of every release exceeds
	// kappa * clip: `train --dp user --plan auto` then releases the
	// popularity counts alone (docs/privacy.md section 12).
	bool trainable;
};

// Derives the settings for in. FB_EINVAL naming the input for a zero
// users, bundles, epochs or dim, or epsilon, delta, clip, q, l2 out of
// range (l2 = 0 has no stationary point: give lr explicitly);
// the accountant's errors otherwise.
fb_err fb_dprule_derive(const struct fb_dprule_input *in, struct fb_dprule *out)
		__attribute__((warn_unused_result));

// Which settings the user gave explicitly: those win over the rule.
struct fb_dprule_explicit {
	bool q, lr, bundle_rank;
};

// Fills the rule's input from a training and DP configuration over a
// catalogue (q: the configuration's if explicit, else FB_DPRULE_Q), derives,
// and writes q, lr and bundle_rank into cfg and dpc except those marked
// explicit. *out (may be NULL) gets what the rule derived, explicit or not.
// dpc->users must be declared (FB_EINVAL otherwise).
fb_err fb_dprule_apply(struct fb_train_config *cfg, struct fb_dp_config *dpc,
		uint32_t n_items, uint32_t n_bundles,
		const struct fb_dprule_explicit *set, struct fb_dprule *out)
		__attribute__((warn_unused_result));

#endif
