// tools/audit-secure.h: what tools/audit-sensitivity.c (the command) and
// tools/audit-secure.c (its secure-aggregation modes, issue 13) share:
// D' = D without one user, and the secure modes' inputs and figures.
// Memory: every pointer of an input is borrowed; the caller owns out's
// per_user array. Thread-safety: single-threaded use from main(); the
// secure modes replace libsodium's randombytes for their duration.
#ifndef FB_TOOLS_AUDIT_SECURE_H
#define FB_TOOLS_AUDIT_SECURE_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/train.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/err.h"

// A shallow copy of a dataset whose user-bundle training and user-item
// relations are its own, with one user's rows emptied and every index
// kept (what removing a user means to the mechanism: its streams are
// keyed by its index).
struct audit_without {
	struct fb_dataset ds;
	struct fb_csr ub, ui;
};

// w = ds without user u's rows; ds must outlive w. FB_ENOMEM.
fb_err audit_without_init(struct audit_without *w, const struct fb_dataset *ds,
		uint32_t u);
void audit_without_finish(struct audit_without *w);

struct audit_secure_in {
	const struct fb_dataset *ds;
	const struct fb_train_config *cfg; // its hp (train_items) and seed
	const struct fb_dp_config *dpc;    // clip and sigma
	const struct fb_model *model0;     // the first round's global model
	const uint32_t *users;             // the dataset's users to check
	uint32_t n_users;
	uint32_t steps;     // secure rounds per user
	uint32_t retailers; // parties, 3 or more
	uint64_t seed;      // partition, identities, masks, noise
	bool no_noise;      // TEST ONLY: no noise shares
	bool shared_stream; // TEST ONLY: the old shared negative stream
	const char *dir;    // a private folder for the retailers' ledgers
	// The ring Z_(2^ring_bits) of the rounds: 0 the aggregator's choice
	// (audit_secure_ring), or 32, 48, 64 forced (refused if it can wrap).
	uint32_t ring_bits;
	void (*progress)(const void *ctx, uint32_t done, uint32_t n);
	const void *ctx;
};

// One checked user's distances between the unmasked sums on D and D'.
struct audit_secure_user {
	uint32_t retailer; // the retailer holding it
	uint64_t checks, violations;
	double max_l2, max_l1; // grid steps
};

struct audit_secure_out {
	struct audit_secure_user *per_user; // n_users of them (caller's)
	size_t dim;                         // coordinates of a release
	uint32_t ring_bits;                 // the ring the rounds ran in
	int32_t grid_log2;
	// What the ledger's distributed-noise entry tells the accountant
	// (fb_ledger_ddg_of, fb_acct_add_ddg): L2 and the L1 bound in grid
	// steps, the honest shares and a share's std.
	double l2, l1;
	uint64_t n_honest;
	double sigma_share;
	uint64_t masked_mismatches; // another retailer's UPDATE differed
	uint64_t unmask_mismatches; // sum(D) - sum(D') is not the owner's
	uint64_t ledger_mismatches; // an entry is not the release made
	uint64_t public_mismatches; // declared users or fields differed
	uint64_t state_divergences; // users whose others' state diverged
};

// The ring of a secure round of retailers parties (every one needed and
// honest: n = n_min = h) declaring users users together, under dpc's
// sigma and clip on the grid the parties derive from them, into *bits:
// the aggregator's (fb_secagg_ring_plan with those users declared, the
// ring of every round after the first to close its advertisements), or
// forced (32, 48, 64; 0: none) if the aggregator's no-wrap check of the
// declared users (fb_secagg_ring_fits) accepts it. FB_EINVAL naming
// --ring-bits and the figures if it does not, or if no ring fits.
fb_err audit_secure_ring(const struct fb_dp_config *dpc, uint32_t retailers,
		uint64_t users, uint32_t forced, uint32_t *bits);

// Runs the secure modes' checks (tools/audit-secure.c) into out, whose
// per_user the caller allocated; FB_EINVAL naming the problem if the
// consortium cannot run a secure round.
fb_err audit_secure_run(
		const struct audit_secure_in *in, struct audit_secure_out *out);

#endif
