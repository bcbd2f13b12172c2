// server/dpdefaults.h: the aggregator's user-level DP defaults (issue 15,
// docs/privacy.md section 12). At granularity user, the round keys the
// configuration did not give take what `fedbundle train --dp user` takes:
// the DP model defaults (fb_train_config_defaults_dp: optimizer sgd, the
// bias, item factors frozen, lr_user) and the rule's q, lr and bundle_rank
// (include/fedbundle/model/dprule.h), from public quantities only:
// round.min_users, the clients a round expects, the catalogue's sizes,
// target_epsilon (or the noise multiplier), delta, clip, rounds and the
// steps per round. Nothing here reads a retailer's data or a message.
// Thread-safety: plain functions over the caller's data.
#ifndef FB_SERVER_DPDEFAULTS_H
#define FB_SERVER_DPDEFAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fedbundle/model/dprule.h"

// What agg_dpdefaults_apply did, for the start-up line.
struct agg_dpdefaults {
	bool applied;       // granularity user: the fields below are set
	uint32_t clients;   // K: the updates a round expects
	uint64_t min_users; // round.min_users
	// n: what one averaged release is divided by, in the rule's terms:
	// min_users * sqrt(K) (K independent noises averaged), or
	// min_users * K with secure aggregation (one noise over the sum).
	uint64_t users;
	struct fb_dprule rule; // what the rule derived (explicit or not)
	uint32_t given;        // round.given: which values are explicit
	uint32_t n_bundles;    // the catalogue's
};

// At granularity user, fills the round keys of cfg not in
// cfg->round.given (AGG_KEY_*) with the DP defaults and the rule's
// values over a catalogue of n_items and n_bundles and a roster of
// enrolled clients (K: min_clients, or every enrolled client; times
// q_clients with sampled participation). Other granularities: cfg is
// untouched and out->applied is false. FB_EINVAL naming the input the
// rule cannot use (dprule.h), with cfg untouched.
fb_err agg_dpdefaults_apply(struct agg_config *cfg, uint32_t n_items,
		uint32_t n_bundles, uint32_t enrolled,
		struct agg_dpdefaults *out) __attribute__((warn_unused_result));

// One line saying every value the rule covers and where it came from
// ("rule", "DP default" or "explicit"), and the rule's inputs, into buf
// (cap bytes, always NUL-terminated).
void agg_dpdefaults_describe(const struct agg_config *cfg,
		const struct agg_dpdefaults *d, char *buf, size_t cap);

#endif
