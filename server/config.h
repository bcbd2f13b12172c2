// server/config.h: the aggregator's configuration file (strict JSON via
// include/fedbundle/util/config.h): where it listens, its identity and roster,
// the public catalogue, the round schedule and the round configuration it
// plans (protocols/wire-v1.md §5.3.1). Relative paths are taken relative
// to the folder of the configuration file.
// Thread-safety: plain data; parse once in main().
#ifndef FB_SERVER_CONFIG_H
#define FB_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedbundle/model/hparams.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"

#define AGG_PATH_MAX 1024
#define AGG_MAX_URLS 8

enum agg_participation {
	AGG_PART_ALL = 0,     // every connected client with budget left
	AGG_PART_SAMPLED = 1, // Poisson sample of the enrolled clients
};

enum agg_server_opt {
	AGG_OPT_FEDAVG = 0,  // global += lr * sum / n
	AGG_OPT_FEDADAM = 1, // Reddi et al. 2021, -mean delta as gradient
};

// The "round" section: what every TRAIN plan carries.
struct agg_round_config {
	int granularity;         // enum fb_wire_granularity
	double q;                // user sampling rate per local DP step
	double noise_multiplier; // sigma; 0 with target_epsilon: calibrate
	double target_epsilon;   // calibration target over all rounds
	double clip;             // C
	double delta;
	uint32_t local_epochs;
	uint32_t local_steps;
	// The shared hyper-parameters (the keys of fb_hparams_fields).
	struct fb_hparams hp;
	bool report_eval;
	// Granularity user: the fewest users a retailer may declare (the
	// plan's min_users, protocols/wire-v1.md §5.3.1, §9.7).
	uint64_t min_users;
	// Secure aggregation (protocols/secagg-v1.md; granularity user,
	// participation all, one release per round). 0 in threshold and
	// min_survivors: the default of the round's n parties
	// (agg_secagg_params).
	bool secure_aggregation;
	uint32_t secagg_threshold;         // t; 0: floor((n + c) / 2) + 1
	uint32_t secagg_min_survivors;     // n_min; 0: the default below
	uint32_t secagg_assumed_colluders; // c
	uint32_t secagg_stage_ms; // advert, share and unmask stages' wait
	// The most users a retailer whose roster line has no max_users may
	// declare in a secure round (secagg-v1 §10.4); 0: no cap.
	uint64_t secagg_max_users;
	// The AGG_KEY_* bits of the keys a configuration gave explicitly
	// (agg_round_note_given): at granularity user the others take the
	// DP defaults and the rule's values (server/dpdefaults.h).
	uint32_t given;
};

// Round keys whose default differs at granularity user (dpdefaults.h):
// bits of agg_round_config.given.
enum agg_round_key {
	AGG_KEY_Q = 1u << 0,
	AGG_KEY_LR = 1u << 1,
	AGG_KEY_BUNDLE_RANK = 1u << 2,
	AGG_KEY_OPTIMIZER = 1u << 3,
	AGG_KEY_BIAS = 1u << 4,
	AGG_KEY_TRAIN_ITEMS = 1u << 5,
	AGG_KEY_LR_USER = 1u << 6,
};

// Adds to r->given the AGG_KEY_* bits of the keys the "round" object of
// the JSON text (len bytes, a configuration labelled label) names.
// Errors are fb_config_each's (text that is not a JSON object).
fb_err agg_round_note_given(struct agg_round_config *r, const char *label,
		const char *text, size_t len);

// The parameters of a secure round of n parties under r: t, n_min and the
// noise shares h = n_min - c. FB_EINVAL with a detail naming the key when
// they do not fit n (n < 3, t outside ((n + c) / 2, n], n_min outside
// [t, n], h < 1).
struct agg_secagg_params {
	uint32_t n, t, n_min, h;
};
fb_err agg_secagg_params(const struct agg_round_config *r, uint32_t n,
		struct agg_secagg_params *out);

// n_min when round.secagg_min_survivors is 0: n - max(1, floor(n / 10)),
// at least t (one dropout or a tenth of the parties tolerated).
uint32_t agg_secagg_default_min_survivors(uint32_t n, uint32_t t);

// Before parsing a "round" section over r: marks local_steps and the
// optimizer as not given, so that agg_round_resolve can tell a value the
// file names from a default.
void agg_round_preset(struct agg_round_config *r);

// After parsing: what was not given takes its default (secure
// aggregation: local_steps 1, optimizer sgd, its one release per round;
// otherwise the value in before, r's before agg_round_preset).
// agg_config_check then refuses an explicit value that secure
// aggregation cannot run with.
void agg_round_resolve(struct agg_round_config *r,
		const struct agg_round_config *before);

struct agg_config {
	char listen[AGG_PATH_MAX]; // comma-separated URLs
	// The status page's URL (http://host:port, GET /metrics; status.h),
	// or empty: none.
	char status_listen[256];
	char key[AGG_PATH_MAX];
	char roster[AGG_PATH_MAX];
	char catalog[AGG_PATH_MAX];
	// The catalogue version the consortium agreed on (`fedbundle catalog
	// digest`, 64 hex digits), or empty: the catalogue folder must have
	// that digest, or the aggregator refuses to start.
	char catalog_digest[80];
	char checkpoint_dir[AGG_PATH_MAX];
	uint32_t rounds;
	uint32_t quorum;
	uint32_t min_clients; // 0: every enrolled client
	uint32_t plan_wait_ms;
	uint32_t deadline_ms;
	uint32_t retry_after_ms;
	uint32_t upload_slots;      // uploads granted at once (0: no limit)
	uint32_t upload_grant_ms;   // an unused grant lapses after this
	uint32_t upload_retry_ms;   // PLAN WAIT to an upload request
	uint32_t download_slots;    // model downloads at once (0: no limit)
	uint32_t download_grant_ms; // an unconfirmed download lapses after
	uint32_t download_retry_ms; // PLAN WAIT while every slot is taken
	uint32_t linger_ms;
	int participation; // enum agg_participation
	double q_clients;
	int server_optimizer; // enum agg_server_opt
	double server_lr;
	double server_beta1;
	double server_beta2;
	double server_tau;
	double init_std;
	bool public_init; // V from the public catalogue (pretrain.h), W = 0
	uint64_t seed;
	int accountant; // enum fb_acct_kind (client-level DP ledger)
	uint32_t contexts;
	// Connections before authentication (protocols/wire-v1.md §1.8).
	uint32_t preauth_timeout_ms;  // to authenticate after connecting
	uint32_t preauth_message_ms;  // a started message, unauthenticated
	uint32_t message_timeout_ms;  // a started message or reply, after
	uint32_t preauth_connections; // unauthenticated ones open at once
	uint32_t max_refusals;        // refused messages in a row: closed
	uint32_t log_interval_ms;     // refusal log budget and summary period
	// Honest updates (protocols/wire-v1.md §9.7): an update above
	// max_update_norm (0: none) is refused like one above the bound the
	// plan gives; a round whose new model has a coordinate above
	// max_model_abs is abandoned.
	double max_update_norm;
	double max_model_abs;
	struct agg_round_config round;
	// Derived by agg_config_load().
	char *urls[AGG_MAX_URLS];
	size_t n_urls;
	char url_buf[AGG_PATH_MAX];
	// Set only in memory by a simulation (tools/sim/), never from the
	// file: client sampling and central noise from a seeded generator, a
	// reproducible run that is NOT private (noise.h).
	bool seeded_noise;
	uint64_t noise_seed;
};

// Fills cfg with the defaults.
void agg_config_defaults(struct agg_config *cfg);

// Loads path over the defaults, resolves relative paths against its
// folder, splits the URLs and checks ranges. FB_EINVAL/FB_EIO with a
// detail naming the file and the key.
fb_err agg_config_load(struct agg_config *cfg, const char *path);

// Splits cfg->listen into cfg->urls (after an override of listen).
fb_err agg_config_split_urls(struct agg_config *cfg);

// Prints every key with its help line and default (style FB_CFG_HELP,
// for --help) or as the Markdown table of docs/configuration.md.
void agg_config_print_keys(FILE *fp, enum fb_cfg_style style);

// The schema of the top-level keys, for tools that embed the
// configuration (the simulation); static storage, *n entries.
const struct fb_cfg_field *agg_config_fields(size_t *n);

// The schema of the "round" section over r, in the order of its keys:
// the aggregator's own keys and the shared hyper-parameters (hparams.h),
// as sections named name (config.h) for tools that embed it.
#define AGG_ROUND_SECTIONS 3
void agg_round_sections(struct agg_round_config *r, const char *name,
		struct fb_cfg_section out[AGG_ROUND_SECTIONS]);

// The listener configuration of cfg for requests of up to max_msg bytes
// (cfg's URLs stay referenced: cfg must outlive the listener's creation).
struct fb_listener_config agg_config_listener(
		const struct agg_config *cfg, size_t max_msg);

// The consistency checks agg_config_load() applies after parsing; label
// names the input in the detail. FB_EINVAL.
fb_err agg_config_check(const struct agg_config *cfg, const char *label);

#endif
