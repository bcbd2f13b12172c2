// client/evalrelease.h: federated evaluation under user-level DP. The
// Recall@20 and NDCG@20 sums over a retailer's test users and their number
// are computed from its customers, so in a private round they leave only as
// a DP release of their own (docs/privacy.md section 6): each evaluated
// user contributes (recall, ndcg, 1), at most sqrt(3) in L2, put on the
// fixed-point grid and summed exactly in integers; exact discrete Gaussian
// noise of std eval_noise_multiplier x NODE_EVAL_CLIP is added to the three
// sums; the release is a ledger entry (q 1, that noise multiplier) written
// before anything is computed and checked against the budget with the
// round's training releases. The noised values are then clamped to what the
// wire allows (sums in [0, users]): post-processing.
// Thread-safety: one call at a time.
#ifndef FB_CLIENT_EVALRELEASE_H
#define FB_CLIENT_EVALRELEASE_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/err.h"
#include "policy.h"
#include "state.h"

// The L2 bound used for one user's (recall, ndcg, 1): >= sqrt(3), and a
// power of two so that a user's integer vector needs no shrinking.
#define NODE_EVAL_CLIP 2.0

// The released (noised, clamped) evaluation of one round.
struct node_eval_sums {
	double recall_sum;
	double ndcg_sum;
	uint32_t users;
};

// The DP configuration of the evaluation release under pol (budget,
// accountant, noise multiplier pol->eval_noise_multiplier, q 1, clip
// NODE_EVAL_CLIP), for budget checks.
void node_eval_dp_config(
		const struct node_policy *pol, struct fb_dp_config *out);

// The release's shape for the accountant: 3 coordinates, and the noise
// in grid steps of the grid the DP layer chooses for it.
void node_eval_acct_grid(
		const struct node_policy *pol, struct fb_acct_grid *out);

// Makes the release for round over ledger (held by the caller): ledger
// entry first (FB_EBUDGET: nothing computed; FB_EIO: nothing may leave),
// then the sums of st's model on ds's test split. ledger_count keys the
// simulation's seeded noise (policy.h).
fb_err node_eval_release(const struct node_policy *pol,
		const struct fb_dataset *ds, const struct node_state *st,
		struct fb_ledger *ledger, uint32_t round_id,
		uint64_t ledger_count, struct node_eval_sums *out);

#endif
