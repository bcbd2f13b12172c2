// include/fedbundle/privacy/dp.h: differential privacy of releases of summed
// per-user gradients (granularity "user") or of a whole client update
// (granularity "client"): budget check, ledger entry, then noise.
//
// One release, in this order (and nothing else may release the data):
//   1. fb_dp_begin_release(): refuses with FB_EBUDGET if the release would
//      take the accountant past the owner's (epsilon, delta) budget;
//      otherwise appends the release to the ledger and fsyncs it;
//   2. the caller computes the exact clipped sum on the fixed-point grid
//      (train.h: fb_trainer_batch_release): each user's contribution is
//      clipped, truncated toward zero onto the grid and checked in
//      integers to have L2 norm at most floor(clip / grid) grid steps,
//      then summed in 64-bit integers, so removing one user moves the sum
//      by at most clip, bit for bit;
//   3. fb_dp_noise_i64(): exact discrete Gaussian noise of std sigma * clip
//      (noise.h, from libsodium's CSPRNG) on EVERY coordinate, so the
//      release is dense and its shape never depends on the data;
//   4. the caller scales by grid / (q * n), n the PUBLIC number of users
//      the owner declared (fb_dp_config.users), never a count of its data.
// Client level is the same at the aggregator (server/aggregate.h,
// agg_central): each retailer's clipped update is bounded on the grid
// exactly and the sum kept in integers. So at both levels the sensitivity
// is exactly clip, and the noise multiplier accounted is the one added.
// A seeded (reproducible) noise source is available for tests and
// simulations; it is NOT private and fb_dp_is_private() says so.
// Thread-safety: a struct fb_dp belongs to one thread.
#ifndef FB_INCLUDE_FEDBUNDLE_DP_H
#define FB_INCLUDE_FEDBUNDLE_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"

enum fb_dp_mode {
	FB_DP_NONE = 0,   // non-private baseline, labelled as such
	FB_DP_USER = 1,   // each customer of a data owner is protected
	FB_DP_CLIENT = 2, // each retailer's whole contribution is the unit
};

struct fb_dp_config {
	enum fb_dp_mode mode;
	double epsilon; // budget (and calibration target)
	double delta;   // budget delta
	double clip;    // L2 clipping norm C
	double q;       // sampling rate per step
	double sigma;   // noise multiplier; 0: calibrate from epsilon
	uint32_t steps; // planned steps (calibration), 0: from epochs
	enum fb_acct_kind accountant;
	// The fixed-point grid is 2^granularity_log2: chosen by fb_dp_open
	// from the noise (fb_dp_config_of() tells it; the input is ignored).
	int32_t granularity_log2;
	bool seeded;   // reproducible NOT-private noise (tests only)
	uint64_t seed; // seed of the seeded mode
	// User level: the public number of users a release is normalised by
	// (the owner's declaration, never counted from its data); 0: not
	// declared (callers that normalise refuse to run).
	uint64_t users;
	// Not a configuration key: calibrate sigma (when 0) so that the
	// planned releases ON TOP OF what the ledger already holds meet
	// (epsilon, delta) (fb_acct_calibrate_sigma_after), not the plan
	// alone. `train --dp user` sets it after its popularity prior's
	// release (docs/privacy.md section 12).
	bool compose_ledger;
	// TEST ONLY, never a configuration key: no noise at all (the audits'
	// check that they can fail). fb_dp_is_private() is then false.
	bool test_no_noise;
};

// The largest clip / grid of user-level DP (so that a user's squared norm
// in grid steps, checked exactly, fits in 64 bits).
#define FB_DP_CLIP_STEPS_MAX 0x1p31

// Defaults: mode none, epsilon 8, delta 1e-6, clip 1, q 0.25, sigma 0
// (calibrate), steps 0, accountant pld, secure noise.
void fb_dp_config_defaults(struct fb_dp_config *cfg);

// The JSON schema of struct fb_dp_config (config.h), n entries.
const struct fb_cfg_field *fb_dp_config_fields(size_t *n);

// Range checks; FB_EINVAL naming the field.
fb_err fb_dp_config_check(const struct fb_dp_config *cfg);

struct fb_dp;
struct fb_ledger;

// Opens the DP state of a data owner over its ledger, which the caller
// opened for appending (fb_ledger_open, so it holds the ledger's one-
// writer lock) and keeps open until after fb_dp_close(): the accountant
// is replayed from it, every release is appended to it (nothing else may
// append to it meanwhile), and the caller may read it (anchors, budget
// checks). Also opens the noise source. dim is the number of coordinates
// of every release. If cfg->sigma is 0 it is calibrated so that
// planned_steps releases at rate cfg->q meet (cfg->epsilon, cfg->delta),
// with the fixed-point grid's terms (accountant.h, fb_acct_grid); with
// cfg->compose_ledger, on top of the ledger's releases.
fb_err fb_dp_open(struct fb_dp **out, const struct fb_dp_config *cfg,
		struct fb_ledger *ledger, size_t dim, uint64_t planned_steps);

// Wipes the noise source and frees dp, leaving its ledger to the caller;
// NULL is a no-op.
void fb_dp_close(struct fb_dp *dp);

// Step 1 above for `round`: FB_EBUDGET (nothing written) if the release
// would exceed the budget; FB_EIO if the ledger cannot be written (the
// release must then not happen).
fb_err fb_dp_begin_release(struct fb_dp *dp, uint64_t round);

// Like fb_dp_begin_release() but the ledger entry is not yet fsync'd
// (fb_ledger_append_deferred): for releases that stay in the process.
// fb_dp_sync() MUST run before anything derived from them leaves it.
fb_err fb_dp_begin_release_deferred(struct fb_dp *dp, uint64_t round);

// Makes deferred ledger entries durable. FB_EIO: nothing may leave.
fb_err fb_dp_sync(struct fb_dp *dp);

// Step 3 above on an exact integer sum v[0..n) on the grid
// 2^granularity_log2 (train.h: fb_trainer_batch_release), n the dim dp
// was opened for: adds N_Z(0, s^2) to every coordinate, s = sigma * clip /
// grid in grid steps (s^2 rounded up, noise.h). FB_EINVAL (v untouched)
// for another n.
fb_err fb_dp_noise_i64(struct fb_dp *dp, int64_t *v, size_t n);

// Distributed noise (secure aggregation, protocols/secagg-v1.md §7): from
// this call on, every release of dp (user level) carries a SHARE of the
// noise. The configured sigma is the central target that the sum of
// noise_shares shares meets: each release adds N_Z(0, s_share^2), s_share
// = sigma clip / grid / sqrt(noise_shares) grid steps, and is accounted as
// `honest` such shares (fb_acct_add_ddg, l2 = clip / grid, l1 0); its
// ledger entry (ledger.h, FB_LEDGER_MECH_DDG) records the shares, s_share,
// and the total epsilon under that assumption and with its own shares
// alone (fb_ledger_accountant_alone). Budget checks (fb_dp_begin_release)
// use the assumed epsilon. FB_EINVAL (dp unchanged) for client level,
// noise_shares or honest 0, or a share below 2 grid steps (noise.h).
fb_err fb_dp_set_shares(
		struct fb_dp *dp, uint64_t noise_shares, uint64_t honest);

// The std of dp's noise share in grid steps (after fb_dp_set_shares;
// otherwise the whole noise's).
double fb_dp_noise_steps(const struct fb_dp *dp);

// The total epsilon at the configured delta after one more release of dp
// (with fb_dp_set_shares: assumed, and alone as in the ledger entry;
// otherwise both the same). The accountants are replayed from the ledger;
// dp is unchanged. FB_EINVAL, FB_ENOMEM.
fb_err fb_dp_next_epsilon(struct fb_dp *dp, double *assumed, double *alone);

// The grid's exponent: releases are integer multiples of 2^this.
int32_t fb_dp_grid_log2(const struct fb_dp *dp);

// The shape of every release of dp for the accountant (accountant.h):
// its coordinates and its noise in grid steps.
void fb_dp_acct_grid(const struct fb_dp *dp, struct fb_acct_grid *out);

// The grid fb_dp_open chooses for noise of standard deviation std (sigma
// times clip): the finest power of two at which the noise is 2^26 to 2^27
// grid steps (the finer the grid, the closer the discrete Gaussian is to
// the continuous one the accountant assumes: docs/privacy.md section 3),
// but coarse enough that clip is below 2^31 steps (a user's squared norm
// is then checked exactly in 64 bits), within 2^-40..2^20.
int32_t fb_dp_grid_for(double std, double clip);

// Poisson sampling with rate q from the CSPRNG: writes the users of
// candidates[0..n) that are sampled into out (room for n) and their
// number into *m.
void fb_dp_sample(struct fb_dp *dp, const uint32_t *candidates, uint32_t n,
		uint32_t *out, uint32_t *m);

// Epsilon spent so far (at the configured delta) by the configured
// accountant, and the number of releases in the ledger (its budget
// entries not counted).
fb_err fb_dp_spent(struct fb_dp *dp, double *epsilon, size_t *releases);

// Number of releases in the ledger (its budget entries not counted).
size_t fb_dp_releases(const struct fb_dp *dp);

// The noise multiplier added (std / clip) and the one accounted (std /
// sensitivity): equal, since every sum is exact on the grid (kept as two
// names so that a future mechanism with an inflated sensitivity has a
// place to say so).
double fb_dp_sigma_noise(const struct fb_dp *dp);
double fb_dp_sigma_accounted(const struct fb_dp *dp);

// False if the noise source is seeded: then every output must say the run
// is not private.
bool fb_dp_is_private(const struct fb_dp *dp);

// The configuration in use (sigma filled in after calibration).
const struct fb_dp_config *fb_dp_config_of(const struct fb_dp *dp);

#endif
