// tools/sim/sim.h: a consortium on one machine, for research: the aggregator
// (server/, the code of fedbundle-server) and K clients (client/, the code
// of fedbundle-client) over NNG inproc:// in one process, or as separate
// processes over tcp loopback, with the real handshake, sealing, round
// logic and DP code. Only the data set-up is the simulation's: one dataset
// folder partitioned in memory (include/fedbundle/data/partition.h), identities
// made in memory, and seeded noise so that a run can be repeated.
// Determinism (in-process): one driver thread runs the clients' rounds in
// a fixed order (client 0, 1, ...), so the aggregator sees the same
// requests in the same order every time; with the same configuration,
// seed and thread count the per-round lines are byte-identical (with
// "dropout", but for their traffic: a stage a dropped party left runs out
// its time, and how often the others poll meanwhile is the clock's).
// Seeded noise makes every run a reproducible simulation, NOT a private
// deployment, and every output says so (SIM_NOISE_NOTE).
// Thread-safety: one simulation per call; it starts its own threads.
#ifndef FB_TOOLS_SIM_H
#define FB_TOOLS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedbundle/model/model.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"
#include "server/config.h"

// The label every output of a simulation carries.
#define SIM_NOISE_NOTE                                                         \
	"seeded noise: a reproducible simulation, not a private deployment"

#define SIM_PATH_MAX 1024

enum sim_privacy {
	SIM_PRIV_NONE = 0,   // non-private baseline
	SIM_PRIV_USER = 1,   // user-level DP, noise at each retailer
	SIM_PRIV_CLIENT = 2, // client-level DP, central noise at the aggregator
};

enum sim_partition {
	SIM_PART_IID = 0,       // users uniformly at random
	SIM_PART_DIRICHLET = 1, // Dirichlet(alpha) over user clusters
};

// A simulation's configuration: the top-level keys below, a "server"
// section (the aggregator's optimizer and participation keys) and a
// "round" section with the keys of fedbundle-server's "round" section
// (except granularity and target_epsilon: "privacy" and "epsilon").
struct sim_config {
	char data[SIM_PATH_MAX]; // dataset folder (relative: to the file)
	uint32_t retailers;      // K >= 1
	int partition;           // enum sim_partition
	double alpha;            // Dirichlet concentration
	uint32_t clusters;       // k-means clusters without user_cluster.txt
	uint32_t rounds;         // rounds of the federation
	int privacy;             // enum sim_privacy
	double epsilon;          // target epsilon (budget) of the whole run
	uint64_t seed;           // everything random derives from it
	uint64_t partition_seed; // 0: seed
	uint32_t threads;        // training threads per client
	uint32_t eval_every;     // evaluate every N rounds (and the last)
	int accountant;          // enum fb_acct_kind, aggregator and clients
	bool save_partitions;    // also write OUT/partitions (fb_partition_run)
	// Each retailer drops out of each round with this probability
	// (seeded: node_policy.sim_dropout); 0: none.
	double dropout;
	struct agg_config server; // "server" and "round" sections
};

// Fills cfg with the defaults: the aggregator's (agg_config_defaults),
// except round.report_eval false (the simulation evaluates every client
// itself, at K = 20 and 40, on the model of the round) and
// server.deadline_ms a day (a round ends when all answered; a run with
// dropouts sets it short).
void sim_config_defaults(struct sim_config *cfg);

// Parses JSON text over cfg (keys absent keep their value; label names
// the input in errors, a relative "data" is resolved against base_dir
// when not NULL) and checks it. FB_EINVAL with a one-line detail naming
// the key. On error cfg may be partly written: parse into a copy.
fb_err sim_config_parse(struct sim_config *cfg, const char *label,
		const char *text, size_t len, const char *base_dir);

// Reads path (at most 1 MiB) and parses it over the defaults into *out.
fb_err sim_config_load(struct sim_config *out, const char *path);

// Range and consistency checks; FB_EINVAL naming the key.
fb_err sim_config_check(const struct sim_config *cfg, const char *label);

// Writes cfg as a JSON object holding every key (a configuration that
// sim_config_parse reads back to the same values), indented by indent
// spaces, without a final newline.
void sim_config_write_json(FILE *fp, const struct sim_config *cfg, int indent);

// Prints every key with its help line and default (style FB_CFG_HELP,
// for --help) or as the Markdown table of docs/configuration.md.
void sim_config_print_keys(FILE *fp, enum fb_cfg_style style);

// "none", "user", "client".
const char *sim_privacy_name(int privacy);

// Which party must be trusted under the configuration's privacy mode
// (and secure aggregation, which makes user-level noise a share that
// protects only while few retailers collude): one sentence.
const char *sim_trust_text(const struct sim_config *cfg);

struct sim_options {
	bool processes;      // clients as processes over tcp loopback
	bool tcp;            // in-process clients, but over tcp loopback
	bool quiet;          // no per-round lines on stdout
	const char *scratch; // folder for ledgers, states, checkpoints
			     // (NULL: OUT/work)
	const char *command; // the command line, for the manifest
	// Not NULL (in-process runs): receives a copy of the model of the
	// last closed round; the caller finishes it (fb_model_finish).
	struct fb_model *final_model;
	// TEST ONLY (the membership audit): every retailer releases without
	// noise, or draws negatives from the old shared stream. NOT private.
	bool test_no_noise;
	bool test_shared_stream;
};

// What a run gives (summary.json holds the same).
struct sim_result {
	uint32_t rounds;         // rounds closed
	uint32_t committed;      // rounds committed
	double noise_multiplier; // sigma of the plans (0: none)
	double epsilon;          // spent: max over clients (user), the
				 // aggregator's (client), INFINITY (none)
	bool have_eval;          // metrics below are valid
	double final_metric[4];  // Recall@20, NDCG@20, Recall@40, NDCG@40
	double best_metric[4];   // best over evaluated rounds (by each)
	uint32_t best_round;     // round of the best Recall@20
	uint64_t eval_users;     // users evaluated (last evaluation)
	uint64_t bytes;          // in + out, all rounds
	double wall_s;           // whole run
	double rounds_per_min;   // closed rounds / training wall time
	long peak_rss_kb;        // this process's peak resident set
				 // (--processes: the largest process's)
	long agg_peak_rss_kb;    // --processes: the aggregator's process
				 // alone (0: in-process, not apart)
};

// Runs the simulation of cfg, writing into out_dir (created):
// config.json, manifest.json, rounds.jsonl, timing.jsonl, summary.json
// and the work folder. FB_EINVAL/FB_EIO/... with a one-line detail.
fb_err sim_run(const struct sim_config *cfg, const char *out_dir,
		const struct sim_options *opt, struct sim_result *res);

// The names of the four metrics of sim_result, e.g. "recall@20".
extern const char *const sim_metric_names[4];

// Removes path and everything under it, like rm -rf (a missing path is
// fine). FB_EIO naming the file that could not be removed.
fb_err sim_remove_tree(const char *path);

#endif
