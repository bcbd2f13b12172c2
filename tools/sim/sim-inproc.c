// tools/sim/sim-inproc.c: the in-process run. The clients are the library
// of client/ (node_step(): the loop body of fedbundle-client), driven one
// at a time by the calling thread in roster order, so that every run sends
// the aggregator the same requests in the same order. Memory: each client
// keeps only its data, its user factors and its small state: it drops the
// received model after its round (node.keep_global false), and since one
// client trains at a time the trainer's per-round buffers exist once.
// Each client holds its own ledger (locked) from its node_open_with to
// its node_close, so the run needs a file descriptor per client.
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fedbundle/util/clock.h"
#include "fedbundle/util/log.h"
#include "sim-internal.h"

static fb_err
wait_locked(struct sim_sync *s,
		bool (*ready)(const struct sim_sync *s, uint32_t), uint32_t arg)
{
	while (!ready(s, arg)) {
		if (s->server_ended) {
			return fb_errorf(FB_ESTATE,
					"the aggregator stopped: %s",
					s->over ? s->over_reason
						: "an internal error (see the "
						  "log)");
		}
		pthread_cond_wait(&s->cv, &s->mu);
	}
	return FB_OK;
}

static bool
planned_after(const struct sim_sync *s, uint32_t r)
{
	return s->planned > r || s->over;
}

static bool
closed_at(const struct sim_sync *s, uint32_t r)
{
	return s->closed >= r;
}

// Runs client k until it has answered round r (or is done).
static fb_err
client_round(struct sim_runner *R, uint32_t k, uint32_t r)
{
	struct sim_client *c = &R->cl[k];
	for (int tries = 0; c->n.st.last_completed < r &&
			c->n.dropped_round != r && tries < 5;
			tries++) {
		enum node_step s = node_step(&c->n, &c->conn);
		if (s == NODE_STEP_FATAL) {
			return fb_errorf(FB_ESTATE,
					"retailer-%03u failed in "
					"round %u (see the log)",
					k, r);
		}
		if (s == NODE_STEP_DONE) {
			return FB_OK;
		}
	}
	if (c->n.st.last_completed < r && c->n.dropped_round != r) {
		return fb_errorf(FB_ESTATE,
				"retailer-%03u did not complete round %u", k,
				r);
	}
	return FB_OK;
}

// Whether client c is through with round r: completed it, dropped out
// of it (a simulated dropout), done, or r closed (abandoned) while c
// holds no secure round: stepping it again would fetch the next plan.
static bool
through(const struct sim_client *cl, uint32_t r, bool closed)
{
	return cl->n.st.last_completed >= r || cl->n.dropped_round == r ||
			cl->n.st.done || (closed && cl->n.sr == NULL);
}

// A secure round (secagg-v1): no client can finish it alone, since each
// stage waits for the others' messages, so every participant that is not
// through with r is stepped once in turn (roster order: still
// deterministic) until all are; a stage a client waits on answers PLAN
// WAIT, which it sleeps out (a 1/K share: node.wait_scale). A client that
// just took the plan is stepped again at once: its advertisement frees
// its download slot for the next one. A client that dropped out of r (a
// simulated dropout) is not stepped again in r: the stage it left closes
// at its deadline.
static fb_err
secure_round(struct sim_runner *R, const uint8_t *part, uint32_t r)
{
	uint32_t k = R->cfg->retailers;
	for (int pass = 0; pass < 100000; pass++) {
		pthread_mutex_lock(&R->sync.mu);
		bool closed = R->sync.closed >= r;
		pthread_mutex_unlock(&R->sync.mu);
		bool all = true;
		for (uint32_t c = 0; c < k; c++) {
			struct sim_client *cl = &R->cl[c];
			if (!part[c] || through(cl, r, closed)) {
				continue;
			}
			all = false;
			bool idle = cl->n.sr == NULL;
			enum node_step st = node_step(&cl->n, &cl->conn);
			if (st != NODE_STEP_FATAL && idle && cl->n.sr != NULL) {
				st = node_step(&cl->n, &cl->conn);
			}
			if (st == NODE_STEP_FATAL) {
				return fb_errorf(FB_ESTATE,
						"retailer-%03u failed in "
						"round %u (see the log)",
						c, r);
			}
		}
		if (all) {
			return FB_OK;
		}
	}
	return fb_errorf(FB_ESTATE,
			"secure round %u: not every retailer completed it", r);
}

// The in-process driver: the clients' rounds in roster order.
static fb_err
drive(struct sim_runner *R)
{
	struct sim_sync *s = &R->sync;
	uint32_t k = R->cfg->retailers;
	fb_err err = FB_OK;
	for (uint32_t c = 0; c < k && err == FB_OK; c++) {
		for (int tries = 0; R->cl[c].conn.s == NULL && tries < 5;
				tries++) {
			if (node_connect(&R->cl[c].n, &R->cl[c].conn) ==
					NODE_STEP_FATAL) {
				return fb_errorf(FB_ESTATE,
						"retailer-%03u could not connect",
						c);
			}
		}
		if (R->cl[c].conn.s == NULL) {
			err = fb_errorf(FB_ESTATE,
					"retailer-%03u: no session with the "
					"aggregator",
					c);
		}
	}
	uint8_t *part = calloc(k, 1);
	if (part == NULL) {
		return FB_ENOMEM;
	}
	uint32_t done = 0; // last round handled
	while (err == FB_OK) {
		pthread_mutex_lock(&s->mu);
		err = wait_locked(s, planned_after, done);
		uint32_t r = s->planned;
		double planned_s = s->planned_s;
		bool over = s->over && r <= done;
		memcpy(part, s->participant, k);
		pthread_mutex_unlock(&s->mu);
		if (err != FB_OK || over) {
			break;
		}
		if (R->t_first_plan == 0) {
			R->t_first_plan = planned_s;
		}
		double t0 = fb_clock_s();
		if (R->cfg->server.round.secure_aggregation) {
			err = secure_round(R, part, r);
		}
		for (uint32_t c = 0; c < k && err == FB_OK &&
				!R->cfg->server.round.secure_aggregation;
				c++) {
			if (part[c]) {
				err = client_round(R, c, r);
			}
		}
		double train_s = fb_clock_s() - t0;
		if (err != FB_OK) {
			break;
		}
		pthread_mutex_lock(&s->mu);
		err = wait_locked(s, closed_at, r);
		pthread_mutex_unlock(&s->mu);
		if (err != FB_OK) {
			break;
		}
		// The copy stays valid: the next round cannot close before
		// the driver runs its clients.
		if (s->model_err != FB_OK) {
			err = s->model_err;
			break;
		}
		R->t_last_close = s->rec.close_s;
		err = sim_on_closed(R, &s->rec, &s->model,
				s->rec.close_s - planned_s, train_s);
		done = r;
	}
	free(part);
	if (err == FB_OK && done > 0 && R->last_evaluated < done) {
		// Training ended before a round due for evaluation (a budget
		// or the quorum): the final model is evaluated all the same.
		double sums[4];
		uint64_t users = 0;
		err = sim_eval_round(&R->ev, &s->model, &R->data, R->cl,
				(int)R->cfg->threads, sums, &users);
		for (int i = 0; err == FB_OK && users > 0 && i < 4; i++) {
			R->res.final_metric[i] = sums[i] / (double)users;
			if (!R->have_best) {
				R->res.best_metric[i] = R->res.final_metric[i];
				R->res.best_round = done;
			}
			R->res.have_eval = true;
			R->res.eval_users = users;
		}
	}
	if (err != FB_OK) {
		return err;
	}
	// Training is over: every client fetches PLAN DONE and hangs up, as
	// fedbundle-client does, which frees its download slot (§5.2); until
	// then others may be told to wait (at least 100 ms a time).
	for (uint32_t c = 0; c < k; c++) {
		struct sim_client *cl = &R->cl[c];
		for (int tries = 0; !cl->n.st.done && tries < 100; tries++) {
			if (node_step(&cl->n, &cl->conn) == NODE_STEP_FATAL) {
				return fb_errorf(FB_ESTATE,
						"retailer-%03u failed at the end",
						c);
			}
		}
		if (cl->conn_open) {
			node_conn_close(&cl->conn);
			cl->conn_open = false;
		}
	}
	return FB_OK;
}

// In one process every client holds its ledger open (and locked) for the
// whole run, one descriptor each: raises the soft limit on descriptors,
// up to the hard one, if k clients and some spare would not fit.
static void
raise_fd_limit(uint32_t k)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)k + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
		return;
	}
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want
			? rl.rlim_max
			: want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fb_log_errno(FB_LOG_WARN, "cannot raise the %s limit",
				"descriptor");
	}
}

fb_err
sim_run_inproc(struct sim_runner *R, const char *agg_log)
{
	const struct sim_config *cfg = R->cfg;
	uint32_t k = cfg->retailers;
	fb_err err = sim_server_open(&R->sv, R->data.ds, R->server_id,
			R->roster, &R->sync, agg_log);
	if (err != FB_OK) {
		return err;
	}
	R->res.noise_multiplier = R->sv.fed.plan_cfg.noise_multiplier;
	if ((err = sim_write_manifest(R)) != FB_OK ||
			(err = sim_eval_init(&R->ev, &R->data, &R->sv.fed.model,
					 cfg)) != FB_OK) {
		return err;
	}
	R->ev_ok = true;
	raise_fd_limit(k);
	for (uint32_t c = 0; c < k && err == FB_OK; c++) {
		struct sim_client *cl = &R->cl[c];
		err = node_open_with(&cl->n, &cl->pol, R->ids[c], &R->server_pk,
				R->data.parts[c]);
		R->ids[c] = NULL; // taken
		cl->open = true;
		cl->n.keep_global = false;
		cl->n.wait_scale = 1.0 / k; // stepped in turn (node.h)
		if (err == FB_OK) {
			err = node_conn_open(&cl->n, &cl->conn);
			cl->conn_open = err == FB_OK;
		}
	}
	if (err != FB_OK || (err = sim_server_start(&R->sv)) != FB_OK) {
		return err;
	}
	return drive(R);
}
