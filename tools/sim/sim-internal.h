// tools/sim/sim-internal.h: what the files of the simulation share
// (sim.h is what the commands see). One run (struct sim_runner) is set up
// by sim-setup.c, runs the aggregator of sim-server.c and either the
// in-process driver (sim-inproc.c) or client processes (sim-procs.c);
// sim-eval.c evaluates a round's model on every client's test users and
// sim-output.c writes what a run leaves (config.json, manifest.json,
// rounds.jsonl, timing.jsonl, summary.json); sim-run.c ties them together.
// Thread-safety: a struct sim_runner belongs to the thread of sim_run; the
// aggregator's thread and the driver share only struct sim_sync, under
// its mutex.
#ifndef FB_TOOLS_SIM_SIM_INTERNAL_H
#define FB_TOOLS_SIM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "client/node.h"
#include "client/policy.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/eval.h"
#include "fedbundle/model/model.h"
#include "fedbundle/net/identity.h"
#include "server/round.h"
#include "server/serve.h"
#include "sim.h"

// ---- sim-setup.c: the data, identities, configurations ----

// The dataset and its partition.
struct sim_data {
	struct fb_dataset *ds;     // whole dataset; user relations freed
	struct fb_dataset **parts; // K retailers; catalogue borrowed from ds
	uint32_t k;
	uint32_t max_users;
};

// Loads cfg->data and partitions its users among cfg->retailers (writing
// out_dir/partitions if cfg->save_partitions). FB_EINVAL naming the key,
// FB_EIO, FB_ENOMEM; on error d is finished.
fb_err sim_data_load(struct sim_data *d, const struct sim_config *cfg,
		const char *out_dir);

// Frees d (the retailers' catalogue is ds's, freed once).
void sim_data_finish(struct sim_data *d);

// Client k's policy: a retailer of users users connecting to url, with its
// state under work/client-NNN and its seeds derived from cfg->seed.
void sim_client_policy(struct node_policy *p, const struct sim_config *cfg,
		const char *url, const char *work, uint32_t k, uint32_t users);

// ---- sim-server.c: the aggregator and what its observer hands the driver ----

// The record of a closed round.
struct sim_round_rec {
	uint32_t round;
	bool committed;
	struct agg_round_stats st;
	uint32_t n_updates;
	double loss;
	uint64_t reported_users;
	double reported_recall, reported_ndcg;
	bool have_agg_eps;
	double agg_eps;
	double *client_eps; // NAN: no counted update this round
	uint8_t *client_status;
	double planned_s; // when it was planned (fb_clock_s)
	double close_s;   // when it closed
};

struct sim_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t n_clients;
	uint32_t planned;         // last planned round id
	double planned_s;         // when
	uint8_t *participant;     // of the last planned round
	uint32_t closed;          // last closed round id
	struct sim_round_rec rec; // of the last closed round
	struct fb_model model;    // the model after the last closed round
	fb_err model_err;
	bool over;
	char over_reason[160];
	bool server_ended; // agg_serve_loop returned
	atomic_bool stop;  // the driver asks the aggregator to stop
	char stop_reason[160];
};

// Sets s up for n_clients; FB_ENOMEM. sim_sync_finish frees it.
fb_err sim_sync_init(struct sim_sync *s, uint32_t n_clients);
void sim_sync_finish(struct sim_sync *s);

struct sim_server {
	struct agg_config cfg;
	struct agg_fed fed;
	bool fed_ok;
	struct agg_server srv;
	struct fb_hs_server *hs;
	struct fb_listener *listener;
	pthread_t thread;
	bool running;
	struct sim_sync *sync;
	FILE *metrics;
};

// Sets up the aggregator of sv->cfg (its url set) on catalogue, observed
// through sync; metrics_path (NULL: none) receives its JSON lines.
fb_err sim_server_open(struct sim_server *sv,
		const struct fb_dataset *catalogue,
		const struct fb_identity *id, const struct fb_roster *roster,
		struct sim_sync *sync, const char *metrics_path);

// Starts the aggregator's thread (agg_serve_loop). FB_ENOMEM.
fb_err sim_server_start(struct sim_server *sv);

// Stops the aggregator's thread (if running, telling it why) and frees it.
void sim_server_close(struct sim_server *sv, const char *why);

// ---- sim-eval.c: every client's test users, on one model ----

// The cut-offs of the metrics (sim_metric_names): 20 and 40.
extern const uint32_t sim_eval_ks[2];

struct sim_client {
	struct node_policy pol;
	struct node n;
	struct node_conn conn;
	bool open, conn_open;
	double train_s; // driver time in this client's rounds, this round
};

struct sim_evaluator {
	struct fb_catalog cat;
	struct fb_reps reps;
	struct fb_matrix users; // scratch, max users x dim
	bool cat_ok;
};

// Sets e up for the models shaped like shape and the users of d.
fb_err sim_eval_init(struct sim_evaluator *e, const struct sim_data *d,
		const struct fb_model *shape, const struct sim_config *cfg);
void sim_eval_finish(struct sim_evaluator *e);

// Sums of Recall/NDCG@20/40 over the test users of every client that has
// user factors, for model: as each client would compute them
// (fb_fit_evaluate), with the representations computed once.
fb_err sim_eval_round(struct sim_evaluator *e, const struct fb_model *model,
		const struct sim_data *d, struct sim_client *cl, int threads,
		double sums[4], uint64_t *users);

// ---- one run ----

struct sim_runner {
	// The run's configuration: resolved, with the round keys the
	// aggregator's DP defaults filled in (sim_server_config).
	const struct sim_config *cfg;
	struct sim_config resolved;
	const struct sim_options *opt;
	const char *out;
	char work[SIM_PATH_MAX + 64];
	struct sim_data data;
	struct fb_identity *server_id;
	struct fb_identity **ids; // clients' (taken by their nodes)
	struct fb_roster *roster;
	struct fb_peer_key server_pk;
	struct sim_server sv;
	struct sim_sync sync;
	struct sim_client *cl;
	struct sim_evaluator ev;
	bool ev_ok;
	FILE *rounds, *timing;
	char url[128];
	struct sim_result res;
	double t_start, t_first_plan, t_last_close;
	bool have_best;
	double last_eps;
	uint32_t last_evaluated;
};

// sim-setup.c: the aggregator's identity, the clients' ones and the roster.
fb_err sim_make_identities(struct sim_runner *R);

// sim-setup.c: the aggregator's configuration for this run (R->sv.cfg).
fb_err sim_server_config(struct sim_runner *R);

// ---- sim-output.c: what a run writes ----

// Opens out/name for writing. FB_EIO naming it.
fb_err sim_open_out(const char *out, const char *name, FILE **fp);

// config.json: the resolved configuration, runnable as it is.
fb_err sim_write_config_file(struct sim_runner *R);

// manifest.json: version, command, seed, privacy, configuration, the
// dataset's checksums and the retailers' sizes.
fb_err sim_write_manifest(struct sim_runner *R);

// Handles a closed round: evaluation (model NULL: none), its lines in
// rounds.jsonl and timing.jsonl, the results and the best so far, and the
// line on stdout.
fb_err sim_on_closed(struct sim_runner *R, const struct sim_round_rec *r,
		const struct fb_model *model, double round_s, double train_s);

// summary.json: R->res.
fb_err sim_write_summary(struct sim_runner *R);

// ---- sim-inproc.c and sim-procs.c: the two ways to run the clients ----

// In-process: the aggregator on its own thread, the clients opened and
// driven here in roster order (deterministic). agg_log: the aggregator's
// metrics file.
fb_err sim_run_inproc(struct sim_runner *R, const char *agg_log);

// A free tcp port on the loopback interface, for --processes and --tcp.
fb_err sim_free_port(int *port);

// --processes: fork the clients (pids receives their ids), run the
// aggregator on this thread.
fb_err sim_run_processes(struct sim_runner *R, pid_t *pids);

#endif
