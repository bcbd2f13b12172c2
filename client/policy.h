// client/policy.h: a retailer's policy file (strict JSON via
// include/fedbundle/util/config.h): where its data, keys, state and privacy
// ledger live, the aggregator it talks to (URL and pinned key), and what
// it agrees to: its privacy budget (epsilon, delta), the granularities it
// allows, the smallest noise multiplier, the largest update and factor
// dimension. The aggregator cannot override any of it: a plan that
// violates it is refused (protocols/wire-v1.md §5.3.1, §6.1). Relative
// paths are relative to the policy file's folder.
// Thread-safety: plain data; parse once in main().
#ifndef FB_CLIENT_POLICY_H
#define FB_CLIENT_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"

#define NODE_PATH_MAX 1024

struct node_policy {
	char data_dir[NODE_PATH_MAX];
	char server_url[NODE_PATH_MAX];
	char server_key[NODE_PATH_MAX];
	char key[NODE_PATH_MAX];
	char state_dir[NODE_PATH_MAX];
	char ledger[NODE_PATH_MAX];
	// The public number of users the retailer declares: user-level
	// releases are divided by q * users (never by a count of its data).
	uint64_t users;
	double epsilon;
	double delta;
	bool allow_none;
	bool allow_user;
	bool allow_client;
	double min_noise_multiplier;
	uint64_t max_update_bytes; // 0: no limit
	uint32_t max_dim;
	bool report_eval; // false: refuse plans that ask for metrics
	// Noise multiplier of the metric release in private rounds
	// (evalrelease.h): noise std / its L2 bound.
	double eval_noise_multiplier;
	int accountant; // enum fb_acct_kind
	uint32_t threads;
	uint64_t seed; // training randomness only (noise is a CSPRNG)
	uint32_t request_timeout_ms;
	uint32_t give_up_ms; // 0: retry forever
	// Reconnection backoff (wire-v1 §6.1): the first wait after a lost
	// session, doubled per failure in a row up to the second, jittered;
	// 0: 100 and 5000 ms. NNG's connection attempts back off from the
	// first to at most 1 s.
	uint32_t reconnect_min_ms;
	uint32_t reconnect_max_ms;
	// Secure aggregation (protocols/secagg-v1.md): whether a user-level
	// plan without it is refused (enum node_secagg), how many other
	// clients this one assumes may collude with the aggregator (its
	// releases are accounted with that many fewer honest noise shares),
	// and the consortium roster (the aggregator's file) that peers'
	// advertisements are verified against; required for a secure round.
	int secure_aggregation;
	uint32_t secagg_assumed_colluders;
	char roster[NODE_PATH_MAX];
	// The status page (client/status.h): http://host:port of GET
	// /metrics; empty: none.
	char status_listen[256];
	// Set only in memory by a simulation (tools/sim/), never from the
	// file: user-level DP noise and sampling from a seeded generator
	// (keyed by noise_seed and the ledger's length), a reproducible run
	// that is NOT private (noise.h).
	bool seeded_noise;
	uint64_t noise_seed;
	// TEST ONLY, set in memory by a simulation, never from the file:
	// no DP noise (fb_dp_config.test_no_noise) and the old shared negative
	// stream (fb_train_config.test_shared_stream), so that the membership
	// audit (tools/audit-membership.c) can show it fails on a broken run.
	bool test_no_noise;
	bool test_shared_stream;
	// SIMULATION ONLY, set in memory by tools/sim/, never from the file:
	// the probability that the retailer drops out of a round after it
	// received the plan (independently each round, drawn from
	// dropout_seed and the round id, so a run repeats): it stops
	// answering that round, in a secure round at a point drawn uniformly
	// among before advertising, after advertising, after sending its
	// shares and after uploading its masked input (node.h,
	// node_drop_point). 0: never.
	double sim_dropout;
	uint64_t sim_dropout_seed;
};

// Values of node_policy.secure_aggregation.
enum node_secagg {
	NODE_SECAGG_ALLOW = 0,   // secure and plain user-level rounds
	NODE_SECAGG_REQUIRE = 1, // user-level rounds only with secure agg.
};

// Fills p with the defaults.
void node_policy_defaults(struct node_policy *p);

// Loads path over the defaults and resolves relative paths. FB_EINVAL /
// FB_EIO with a detail naming the file and the key.
fb_err node_policy_load(struct node_policy *p, const char *path);

// Prints every key with its help line and default (style FB_CFG_HELP,
// for --help) or as the Markdown table of docs/configuration.md.
void node_policy_print_keys(FILE *fp, enum fb_cfg_style style);

#endif
