// tests/unit/test-round.c: the aggregator's round state machine
// (server/round.c, protocols/wire-v1.md §6.2) driven in-process on a fake
// clock, without sockets: the calls server/serve.c makes for each opened
// message (agg_fed_poll, agg_fed_update, agg_fed_refuse) and for the
// schedule (agg_fed_tick) are made here directly, with UPDATE bodies
// encoded by the real wire codec, on a federation set up from a
// configuration and the toy synthetic catalogue (common/data/datagen.c). The
// observer interface a simulation uses (round.h) records each closed
// round's statistics before they are reset. Checked: when a round is
// planned, how it closes at its deadline, late and duplicate updates,
// exhausted and paused clients, client-level accounting, the bound on
// updates, the refusal of a non-finite model and the representation
// options a checkpoint records.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/log.h"
#include "harness.h"
#include "server/checkpoint.h"
#include "server/config.h"
#include "server/round.h"

static char workdir[64];
static struct fb_dataset *catalogue;

#define DEADLINE_MS 10000
#define PLAN_WAIT_MS 2000

// A federation under test, its fake clock and what its observer saw.
struct rig {
	struct agg_config cfg;
	struct fb_roster *roster;
	struct agg_fed fed;
	bool open;
	uint64_t now;
	uint32_t planned;              // AGG_EV_PLANNED seen
	uint32_t closed;               // AGG_EV_CLOSED seen
	uint32_t closed_round;         // id of the last round closed
	struct agg_round_stats last;   // its statistics
	uint32_t participants_at_plan; // of the last round planned
};

static void
observe(void *ctx, const struct agg_fed *fed, enum agg_event event)
{
	struct rig *g = ctx;
	if (event == AGG_EV_PLANNED) {
		g->planned++;
		g->participants_at_plan = fed->st.participants;
	} else if (event == AGG_EV_CLOSED) {
		g->closed++;
		g->closed_round = fed->round;
		g->last = fed->st;
	}
}

// n enrolled clients, quorum 2, every enrolled client wanted, a small
// model trained with SGD; granularity gran; state under workdir/dir.
static void
rig_config(struct rig *g, int gran, const char *dir, uint32_t n)
{
	memset(g, 0, sizeof(*g));
	agg_config_defaults(&g->cfg);
	snprintf(g->cfg.checkpoint_dir, sizeof(g->cfg.checkpoint_dir), "%s/%s",
			workdir, dir);
	g->cfg.rounds = 5;
	g->cfg.quorum = 2;
	g->cfg.min_clients = 0;
	g->cfg.plan_wait_ms = PLAN_WAIT_MS;
	g->cfg.deadline_ms = DEADLINE_MS;
	g->cfg.public_init = false;
	g->cfg.round.granularity = gran;
	g->cfg.round.noise_multiplier = 1;
	g->cfg.round.target_epsilon = 1e6;
	g->cfg.round.hp.dim = 8;
	g->cfg.round.hp.use_attrs = false;
	g->cfg.round.hp.optimizer = FB_OPT_SGD;
	g->cfg.round.local_steps = 2;
	g->cfg.round.min_users = 100;
	CHECK_OK(fb_roster_create(&g->roster));
	for (uint32_t c = 0; c < n; c++) {
		uint8_t pk[FB_ID_PK_LEN];
		memset(pk, (int)c + 1, sizeof(pk));
		char name[16];
		snprintf(name, sizeof(name), "retailer-%u", c);
		CHECK_OK(fb_roster_add(g->roster, pk, name));
	}
}

// Sets the federation up at the clock's time; no client is connected.
static void
rig_open(struct rig *g)
{
	CHECK_OK(agg_fed_init(&g->fed, &g->cfg, catalogue, g->roster, g->now));
	g->open = true;
	g->fed.human = NULL;
	g->fed.metrics = NULL;
	g->fed.observer = observe;
	g->fed.observer_ctx = g;
}

static void
rig_close(struct rig *g)
{
	if (g->open) {
		agg_fed_finish(&g->fed);
	}
	g->open = false;
	fb_roster_destroy(g->roster);
	g->roster = NULL;
}

// What the server loop does when a client's session starts.
static void
rig_connect(struct rig *g, uint32_t c)
{
	g->fed.clients[c].connected = true;
}

// Moves the fake clock to ms and advances the schedule.
static void
rig_tick(struct rig *g, uint64_t ms)
{
	CHECK(ms >= g->now);
	g->now = ms;
	agg_fed_tick(&g->fed, g->now);
}

// A POLL of client c with status; returns the plan's kind.
static uint8_t
rig_poll(struct rig *g, uint32_t c, uint8_t status)
{
	struct fb_wire_plan plan;
	agg_fed_poll(&g->fed, c, status, g->now, &plan);
	if (plan.kind == FB_WIRE_PLAN_TRAIN) {
		CHECK(plan.deadline_ms == g->fed.deadline_ms - g->now);
		CHECK(plan.config.clip_norm == g->fed.plan_cfg.clip_norm);
	}
	return plan.kind;
}

// An update of the model's shapes as a client would send for the current
// plan: every coordinate of W is w, V is zero; the caller may edit data.
struct upd {
	struct fb_wire_update u;
	float *data[2];
};

static void
upd_make(struct upd *x, const struct rig *g, float w)
{
	const struct agg_fed *fed = &g->fed;
	memset(x, 0, sizeof(*x));
	x->u.clip_norm = fed->plan_cfg.clip_norm;
	x->u.noise_multiplier = fed->plan_cfg.noise_multiplier;
	x->u.epsilon_spent = 1;
	const struct fb_matrix *mats[2] = {&fed->model.V, &fed->model.W};
	static const uint16_t ids[2] = {
			FB_WIRE_TENSOR_ITEMS, FB_WIRE_TENSOR_BUNDLES};
	for (int k = 0; k < 2; k++) {
		size_t n = fb_matrix_len(mats[k]);
		x->data[k] = calloc(n, sizeof(float));
		CHECK(x->data[k] != NULL);
		for (size_t j = 0; k == 1 && j < n; j++) {
			x->data[k][j] = w;
		}
		x->u.tensors[k] = (struct fb_wire_tensor){ids[k],
				FB_WIRE_DTYPE_F32, 0, (uint32_t)mats[k]->rows,
				(uint32_t)mats[k]->cols, x->data[k]};
	}
	x->u.n_tensors = 2;
}

static void
upd_free(struct upd *x)
{
	free(x->data[0]);
	free(x->data[1]);
}

// Encodes x and hands it to the state machine as client c's UPDATE for
// round_id, as server/serve.c does once the message is opened.
static struct agg_outcome
upd_send(struct rig *g, uint32_t c, uint32_t round_id, const struct upd *x)
{
	size_t len = fb_wire_update_len(&x->u);
	CHECK(len > 0);
	uint8_t *body = aligned_alloc(16, (len + 15) / 16 * 16);
	CHECK(body != NULL);
	fb_err err = fb_wire_update_encode(body, len, &x->u, &len, NULL);
	struct agg_outcome out;
	memset(&out, 0, sizeof(out));
	if (err == FB_OK) {
		agg_fed_update(&g->fed, c, round_id, body, len, g->now, &out);
	}
	free(body);
	CHECK_OK(err);
	return out;
}

// Client c's UPDATE for round_id with every W coordinate w.
static struct agg_outcome
rig_update(struct rig *g, uint32_t c, uint32_t round_id, float w)
{
	struct upd x;
	upd_make(&x, g, w);
	struct agg_outcome out = upd_send(g, c, round_id, &x);
	upd_free(&x);
	return out;
}

static struct agg_outcome
rig_refuse(struct rig *g, uint32_t c, uint32_t round_id, uint16_t reason)
{
	struct fb_wire_reason_text r = {reason, "test"};
	struct agg_outcome out;
	agg_fed_refuse(&g->fed, c, round_id, &r, g->now, &out);
	return out;
}

static bool
accepted(struct agg_outcome o)
{
	return !o.error && o.status == FB_WIRE_ACK_ACCEPTED &&
			o.reason == FB_WIRE_REASON_NONE;
}

// A copy of the model's W, to tell whether a round moved it.
static float *
w_copy(const struct rig *g)
{
	size_t n = fb_matrix_len(&g->fed.model.W) * sizeof(float);
	float *w = malloc(n);
	CHECK(w != NULL);
	memcpy(w, g->fed.model.W.data, n);
	return w;
}

static bool
w_same(const struct rig *g, const float *w)
{
	size_t n = fb_matrix_len(&g->fed.model.W) * sizeof(float);
	return memcmp(w, g->fed.model.W.data, n) == 0;
}

static bool
has_checkpoint(const struct rig *g)
{
	return access(g->fed.ckpt_path, F_OK) == 0;
}

// Opens g with clients 0..n-1 connected and plans round 1 at time 0.
static void
rig_start(struct rig *g, uint32_t n)
{
	rig_open(g);
	for (uint32_t c = 0; c < n; c++) {
		rig_connect(g, c);
	}
	rig_tick(g, 0);
	CHECK(g->fed.state == AGG_COLLECTING && g->fed.round == 1);
	for (uint32_t c = 0; c < n; c++) {
		CHECK(rig_poll(g, c, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	}
}

// ---- planning ----

TEST(plans_at_once_when_every_client_is_ready)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "plan-all", 3);
	rig_open(&g);
	rig_tick(&g, 0);
	CHECK(g.fed.state == AGG_IDLE && g.planned == 0);
	// Nobody may train before a round is planned.
	rig_connect(&g, 0);
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_WAIT);
	rig_connect(&g, 1);
	rig_connect(&g, 2);
	rig_tick(&g, 10);
	CHECK(g.fed.state == AGG_COLLECTING);
	CHECK(g.fed.round == 1 && g.planned == 1);
	CHECK(g.participants_at_plan == 3);
	CHECK(g.fed.deadline_ms == 10 + DEADLINE_MS);
	// The id is on disk before any PLAN leaves.
	uint32_t marker = 0;
	CHECK_OK(agg_planned_read(g.fed.planned_path, &marker));
	CHECK(marker == 1);
	for (uint32_t c = 0; c < 3; c++) {
		CHECK(g.fed.clients[c].participant);
		CHECK(rig_poll(&g, c, FB_WIRE_POLL_READY) ==
				FB_WIRE_PLAN_TRAIN);
		CHECK(g.fed.clients[c].offered == 1);
	}
	rig_close(&g);
}

TEST(waits_for_the_quorum_before_planning)
{
	// Every enrolled client is wanted (min_clients 0): with two of three
	// ready, the round waits plan_wait_ms, then goes without the third.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "plan-wait", 3);
	rig_open(&g);
	rig_connect(&g, 0);
	rig_connect(&g, 1);
	rig_tick(&g, 100);
	rig_tick(&g, PLAN_WAIT_MS - 1);
	CHECK(g.fed.state == AGG_IDLE && g.planned == 0);
	rig_tick(&g, PLAN_WAIT_MS);
	CHECK(g.fed.state == AGG_COLLECTING && g.fed.round == 1);
	CHECK(g.participants_at_plan == 2);
	CHECK(g.fed.clients[0].participant && g.fed.clients[1].participant);
	CHECK(!g.fed.clients[2].participant);
	rig_connect(&g, 2);
	CHECK(rig_poll(&g, 2, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_WAIT);
	rig_close(&g);

	// Quorum 2: one ready client is not enough however long it waits.
	rig_config(&g, FB_WIRE_GRAN_NONE, "plan-quorum", 3);
	rig_open(&g);
	rig_connect(&g, 0);
	rig_tick(&g, 100);
	rig_tick(&g, 10 * PLAN_WAIT_MS);
	CHECK(g.fed.state == AGG_IDLE && g.planned == 0);
	rig_connect(&g, 1);
	rig_tick(&g, 10 * PLAN_WAIT_MS + 1);
	CHECK(g.fed.state == AGG_COLLECTING && g.participants_at_plan == 2);
	rig_close(&g);
}

// ---- closing ----

TEST(deadline_abandons_a_round_below_quorum)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "close-abandon", 3);
	rig_start(&g, 3);
	float *w0 = w_copy(&g);
	struct agg_outcome out = rig_update(&g, 0, 1, 0.01f);
	CHECK(accepted(out));
	rig_tick(&g, DEADLINE_MS - 1);
	CHECK(g.fed.state == AGG_COLLECTING && g.closed == 0);
	rig_tick(&g, DEADLINE_MS);
	CHECK(g.closed == 1 && g.closed_round == 1);
	CHECK(!g.last.committed);
	CHECK(g.last.abandoned != NULL &&
			strcmp(g.last.abandoned, "quorum") == 0);
	CHECK(g.last.updates == 1 && g.last.participants == 3);
	CHECK(g.fed.n_abandoned == 1 && g.fed.n_committed == 0);
	CHECK(g.fed.last_committed == 0);
	CHECK(w_same(&g, w0));
	CHECK(!has_checkpoint(&g));
	// The next round is planned at once, under a new id.
	CHECK(g.fed.state == AGG_COLLECTING && g.fed.round == 2);
	free(w0);
	rig_close(&g);
}

TEST(deadline_commits_a_round_at_quorum)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "close-commit", 3);
	rig_start(&g, 3);
	float *w0 = w_copy(&g);
	struct agg_outcome a = rig_update(&g, 0, 1, 0.01f);
	struct agg_outcome b = rig_update(&g, 1, 1, -0.02f);
	CHECK(accepted(a) && accepted(b));
	rig_tick(&g, DEADLINE_MS - 1); // client 2 may still answer
	CHECK(g.fed.state == AGG_COLLECTING && g.closed == 0);
	rig_tick(&g, DEADLINE_MS);
	CHECK(g.closed == 1 && g.last.committed && g.last.abandoned == NULL);
	CHECK(g.last.updates == 2);
	CHECK(g.fed.n_committed == 1 && g.fed.last_committed == 1);
	CHECK(!w_same(&g, w0));
	// FedAvg, lr 1: W moved by the mean delta.
	CHECK_NEAR(g.fed.model.W.data[0], w0[0] - 0.005f, 1e-6);
	CHECK(has_checkpoint(&g));
	CHECK(g.fed.clients[0].updates == 1 &&
			g.fed.clients[0].last_round == 1);
	CHECK(g.fed.clients[2].updates == 0);
	free(w0);
	rig_close(&g);
}

TEST(closes_when_every_participant_answered)
{
	// A REFUSE is an answer: the round closes before its deadline.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "close-early", 3);
	rig_start(&g, 3);
	CHECK(accepted(rig_update(&g, 0, 1, 0.01f)));
	CHECK(accepted(rig_update(&g, 1, 1, 0.01f)));
	rig_tick(&g, 100);
	CHECK(g.closed == 0);
	struct agg_outcome r =
			rig_refuse(&g, 2, 1, FB_WIRE_REASON_POLICY_REFUSED);
	CHECK(accepted(r));
	rig_tick(&g, 101);
	CHECK(g.closed == 1 && g.last.committed && g.last.refusals == 1);
	CHECK(g.fed.last_committed == 1);
	rig_close(&g);
}

TEST(late_update_is_refused)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "late", 3);
	g.cfg.quorum = 1;
	rig_start(&g, 3);
	CHECK(accepted(rig_update(&g, 0, 1, 0.01f)));
	// At the deadline, before the schedule closed the round.
	g.now = DEADLINE_MS;
	struct agg_outcome out = rig_update(&g, 1, 1, 0.01f);
	CHECK(!out.error && out.status == FB_WIRE_ACK_LATE);
	CHECK(out.reason == FB_WIRE_REASON_LATE);
	CHECK(g.fed.acc.n == 1);
	rig_tick(&g, DEADLINE_MS);
	CHECK(g.closed == 1 && g.last.committed);
	CHECK(g.last.updates == 1 && g.last.late == 1);
	// After the close, for the closed round.
	rig_tick(&g, DEADLINE_MS + 5);
	out = rig_update(&g, 2, 1, 0.01f);
	CHECK(!out.error && out.status == FB_WIRE_ACK_LATE);
	CHECK(out.reason == FB_WIRE_REASON_LATE);
	CHECK(g.fed.clients[2].updates == 0);
	rig_close(&g);
}

TEST(duplicate_update_is_counted_once)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "dup", 2);
	g.cfg.quorum = 1;
	rig_start(&g, 2);
	float *w0 = w_copy(&g);
	CHECK(accepted(rig_update(&g, 0, 1, 0.01f)));
	struct agg_outcome out = rig_update(&g, 0, 1, 0.01f);
	CHECK(!out.error && out.status == FB_WIRE_ACK_REJECTED);
	CHECK(out.reason == FB_WIRE_REASON_DUPLICATE);
	CHECK(g.fed.acc.n == 1 && g.fed.st.updates == 1);
	CHECK(accepted(rig_update(&g, 1, 1, 0.03f)));
	rig_tick(&g, 50);
	CHECK(g.closed == 1 && g.last.committed && g.last.updates == 2);
	// Counted once: FedAvg, lr 1, moves W by the mean of 0.01 and 0.03.
	CHECK_NEAR(g.fed.model.W.data[0], w0[0] + 0.02f, 1e-6);
	CHECK(g.fed.clients[0].updates == 1);
	// Resent after the commit (its ACK was lost): a duplicate, not late.
	out = rig_update(&g, 0, 1, 0.01f);
	CHECK(!out.error && out.status == FB_WIRE_ACK_REJECTED);
	CHECK(out.reason == FB_WIRE_REASON_DUPLICATE);
	CHECK(g.fed.clients[0].updates == 1);
	CHECK(g.fed.acc.n == 0); // round 2 counts nothing of it
	free(w0);
	rig_close(&g);
}

// ---- who is planned ----

TEST(exhausted_and_paused_clients_are_not_planned)
{
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "exhausted", 3);
	g.cfg.quorum = 1;
	rig_open(&g);
	for (uint32_t c = 0; c < 3; c++) {
		rig_connect(&g, c);
	}
	CHECK(rig_poll(&g, 1, FB_WIRE_POLL_BUDGET_EXHAUSTED) ==
			FB_WIRE_PLAN_WAIT);
	CHECK(rig_poll(&g, 2, FB_WIRE_POLL_PAUSED) == FB_WIRE_PLAN_WAIT);
	// Two eligible, one ready: planned once plan_wait_ms passed.
	rig_tick(&g, 0);
	CHECK(g.fed.state == AGG_IDLE);
	rig_tick(&g, PLAN_WAIT_MS);
	CHECK(g.fed.state == AGG_COLLECTING && g.participants_at_plan == 1);
	CHECK(g.fed.clients[0].participant);
	CHECK(!g.fed.clients[1].participant && !g.fed.clients[2].participant);
	CHECK(rig_poll(&g, 1, FB_WIRE_POLL_BUDGET_EXHAUSTED) ==
			FB_WIRE_PLAN_WAIT);
	CHECK(rig_poll(&g, 2, FB_WIRE_POLL_PAUSED) == FB_WIRE_PLAN_WAIT);
	struct agg_outcome out = rig_update(&g, 2, 1, 0.01f);
	CHECK(out.status == FB_WIRE_ACK_REJECTED &&
			out.reason == FB_WIRE_REASON_NOT_SELECTED);
	// A participant that pauses mid-round is dropped: it answered.
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_PAUSED) == FB_WIRE_PLAN_WAIT);
	CHECK(g.fed.clients[0].status == AGG_CL_DROPPED);
	rig_tick(&g, PLAN_WAIT_MS + 1);
	CHECK(g.closed == 1 && !g.last.committed && g.last.dropped == 1);
	// Back and ready: planned again; a REFUSE for want of budget marks
	// it exhausted.
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_WAIT);
	rig_tick(&g, 3 * PLAN_WAIT_MS);
	CHECK(g.fed.state == AGG_COLLECTING && g.fed.round == 2);
	CHECK(g.fed.clients[0].participant && g.participants_at_plan == 1);
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	out = rig_refuse(&g, 0, 2, FB_WIRE_REASON_BUDGET_EXHAUSTED);
	CHECK(accepted(out) && g.fed.clients[0].exhausted);
	rig_tick(&g, g.now + 1);
	CHECK(g.closed == 2);
	// Left: client 2 (paused); once it is exhausted too, nobody is
	// eligible and training is over.
	CHECK(g.fed.state == AGG_IDLE);
	CHECK(rig_poll(&g, 2, FB_WIRE_POLL_BUDGET_EXHAUSTED) ==
			FB_WIRE_PLAN_WAIT);
	rig_tick(&g, g.now + 1);
	CHECK(g.fed.state == AGG_OVER);
	CHECK_STR_CONTAINS(g.fed.over_reason, "privacy budget left");
	CHECK(rig_poll(&g, 2, FB_WIRE_POLL_BUDGET_EXHAUSTED) ==
			FB_WIRE_PLAN_DONE);
	rig_close(&g);
}

// ---- privacy ----

TEST(client_level_accounts_every_planned_round)
{
	// Quorum 2, but under client-level DP whether a round commits must
	// not depend on what arrived: every planned round is a ledger entry
	// (written before its first PLAN) and a noised commit.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_CLIENT, "central", 2);
	g.cfg.rounds = 3;
	rig_open(&g);
	CHECK(g.fed.ledger != NULL && fb_ledger_count(g.fed.ledger) == 0);
	rig_connect(&g, 0);
	rig_connect(&g, 1);
	rig_tick(&g, 0);
	CHECK(g.fed.state == AGG_COLLECTING && g.fed.round == 1);
	CHECK(fb_ledger_count(g.fed.ledger) == 1);
	float *w0 = w_copy(&g);
	// Round 1: nobody answers.
	rig_tick(&g, DEADLINE_MS);
	CHECK(g.closed == 1 && g.last.committed && g.last.updates == 0);
	CHECK(g.fed.n_abandoned == 0 && g.fed.last_committed == 1);
	CHECK(!w_same(&g, w0)); // the noise was released
	CHECK(g.fed.round == 2 && fb_ledger_count(g.fed.ledger) == 2);
	// Round 2: one update of two.
	uint64_t t = g.now;
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	CHECK(accepted(rig_update(&g, 0, 2, 0.001f)));
	rig_tick(&g, t + DEADLINE_MS);
	CHECK(g.closed == 2 && g.last.committed && g.last.updates == 1);
	// Round 3: both.
	CHECK(g.fed.round == 3 && fb_ledger_count(g.fed.ledger) == 3);
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	CHECK(rig_poll(&g, 1, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	CHECK(accepted(rig_update(&g, 0, 3, 0.001f)));
	CHECK(accepted(rig_update(&g, 1, 3, 0.001f)));
	rig_tick(&g, g.now + 1);
	CHECK(g.closed == 3 && g.last.committed);
	CHECK(g.fed.n_committed == 3 && g.fed.n_abandoned == 0);
	CHECK(g.fed.state == AGG_OVER);
	CHECK(fb_ledger_count(g.fed.ledger) == 3);
	CHECK(fb_dp_releases(g.fed.dp) == 3);
	free(w0);
	rig_close(&g);
}

TEST(update_over_the_bound_is_refused)
{
	CHECK(FB_WIRE_REASON_OVER_BOUND == 23);
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_USER, "bound", 3);
	g.cfg.quorum = 1;
	rig_start(&g, 3);
	double lim = g.fed.limit.linf;
	CHECK(lim > 0 && isfinite(lim) && lim <= g.fed.limit.l2);
	// One coordinate just above the limit.
	struct upd x;
	upd_make(&x, &g, 0);
	x.data[1][0] = (float)(1.01 * lim);
	struct agg_outcome out = upd_send(&g, 0, 1, &x);
	CHECK(!out.error && out.status == FB_WIRE_ACK_REJECTED);
	CHECK(out.reason == 23);
	CHECK(g.fed.clients[0].status == AGG_CL_REJECTED);
	CHECK(g.fed.acc.n == 0);
	// The same just below: counted.
	x.data[1][0] = (float)(0.99 * lim);
	out = upd_send(&g, 1, 1, &x);
	CHECK(accepted(out) && g.fed.acc.n == 1);
	upd_free(&x);
	// Over the L2 bound with every coordinate small.
	size_t n = fb_matrix_len(&g.fed.model.W);
	float spread = (float)(1.01 * g.fed.limit.l2 / sqrt((double)n));
	CHECK(spread < lim);
	out = rig_update(&g, 2, 1, spread);
	CHECK(out.status == FB_WIRE_ACK_REJECTED && out.reason == 23);
	rig_tick(&g, 1);
	CHECK(g.closed == 1 && g.last.committed);
	CHECK(g.last.updates == 1 && g.last.rejected == 2);
	CHECK(g.fed.clients[0].updates == 0 && g.fed.clients[1].updates == 1);
	rig_close(&g);
}

TEST(nonfinite_candidate_is_never_committed)
{
	// Granularity none without max_update_norm has no bound: two finite
	// updates of 3e38 are counted, but their float sum overflows.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "finite-avg", 2);
	rig_start(&g, 2);
	float *w0 = w_copy(&g);
	CHECK(accepted(rig_update(&g, 0, 1, -3e38f)));
	CHECK(accepted(rig_update(&g, 1, 1, -3e38f)));
	rig_tick(&g, 1);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(g.last.abandoned != NULL &&
			strcmp(g.last.abandoned, "non-finite-model") == 0);
	CHECK(w_same(&g, w0));
	CHECK(!has_checkpoint(&g) && g.fed.last_committed == 0);
	CHECK(!g.fed.fatal && g.fed.round == 2);
	free(w0);
	rig_close(&g);

	// FedAdam: one update whose square overflows the second moment.
	rig_config(&g, FB_WIRE_GRAN_NONE, "finite-adam", 2);
	g.cfg.quorum = 1;
	g.cfg.server_optimizer = AGG_OPT_FEDADAM;
	g.cfg.server_lr = 0.01;
	rig_start(&g, 2);
	w0 = w_copy(&g);
	struct upd x;
	upd_make(&x, &g, 0);
	x.data[1][0] = 3e38f;
	CHECK(accepted(upd_send(&g, 0, 1, &x)));
	upd_free(&x);
	CHECK(g.fed.clients[1].participant);
	CHECK(rig_refuse(&g, 1, 1, FB_WIRE_REASON_POLICY_REFUSED).status ==
			FB_WIRE_ACK_ACCEPTED);
	rig_tick(&g, 1);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(strcmp(g.last.abandoned, "non-finite-model") == 0);
	CHECK(w_same(&g, w0));
	CHECK(fb_matrix_all_finite(&g.fed.opt.v.W));
	CHECK(!has_checkpoint(&g));
	// The next round starts from the same model and commits.
	CHECK(g.fed.round == 2);
	CHECK(rig_poll(&g, 0, FB_WIRE_POLL_READY) == FB_WIRE_PLAN_TRAIN);
	CHECK(accepted(rig_update(&g, 0, 2, 0.01f)));
	rig_tick(&g, DEADLINE_MS + 1);
	CHECK(g.closed == 2 && g.last.committed);
	CHECK(has_checkpoint(&g) && g.fed.last_committed == 2);
	free(w0);
	rig_close(&g);
}

// ---- restarts ----

TEST(restart_never_reuses_a_round_id)
{
	// Round 1 commits, round 2 is collecting when the aggregator stops:
	// the restarted one plans round 3 and takes an update resent for 2
	// as late, one resent for 1 as a duplicate.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "restart", 2);
	rig_start(&g, 2);
	CHECK(accepted(rig_update(&g, 0, 1, 0.01f)));
	CHECK(accepted(rig_update(&g, 1, 1, 0.01f)));
	rig_tick(&g, 1);
	CHECK(g.fed.last_committed == 1 && g.fed.round == 2);
	agg_fed_finish(&g.fed);
	g.open = false;
	g.now = 0; // a new process: a new monotonic clock
	rig_open(&g);
	CHECK(g.fed.resumed && g.fed.last_committed == 1);
	CHECK(g.fed.clients[0].last_round == 1);
	rig_connect(&g, 0);
	rig_connect(&g, 1);
	struct agg_outcome out = rig_update(&g, 0, 2, 0.01f);
	CHECK(out.status == FB_WIRE_ACK_LATE);
	out = rig_update(&g, 1, 1, 0.01f);
	CHECK(out.status == FB_WIRE_ACK_REJECTED &&
			out.reason == FB_WIRE_REASON_DUPLICATE);
	rig_tick(&g, 0);
	CHECK(g.fed.state == AGG_COLLECTING && g.fed.round == 3);
	rig_close(&g);
}

TEST(checkpoint_records_the_rounds_rep_options)
{
	// Issue 14: `fedbundle eval` forms a checkpoint's representations as
	// the rounds had the clients form them; the restarted aggregator
	// reads its own metadata back.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "rep-opts", 2);
	g.cfg.round.hp.bias = true;
	g.cfg.round.hp.user_item_view = false;
	rig_start(&g, 2);
	CHECK(accepted(rig_update(&g, 0, 1, 0.01f)));
	CHECK(accepted(rig_update(&g, 1, 1, 0.01f)));
	rig_tick(&g, 1);
	CHECK(has_checkpoint(&g) && g.fed.last_committed == 1);
	struct fb_model m;
	struct fb_matrix P;
	struct fb_model_meta meta;
	CHECK_OK(fb_modelio_load_any(g.fed.ckpt_path, &m, &P, &meta));
	CHECK(meta.kind == FB_TFILE_CHECKPOINT && meta.opts_known);
	CHECK(meta.opts.item_view && !meta.opts.use_attrs &&
			!meta.opts.user_item_view && meta.opts.bias);
	fb_model_finish(&m);
	fb_matrix_finish(&P);
	agg_fed_finish(&g.fed);
	g.open = false;
	rig_open(&g);
	CHECK(g.fed.resumed && g.fed.last_committed == 1);
	rig_close(&g);
}

TEST(federation_id_follows_the_round_numbering)
{
	// wire-v1 §2.3: the id TRAIN plans carry is drawn for a numbering
	// that starts at 1 and kept while the numbering is resumed. A folder
	// whose checkpoint and marker are gone starts a new numbering, so a
	// new id, even if the id file survived.
	struct rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "federation", 2);
	rig_start(&g, 2);
	uint8_t first[FB_WIRE_FEDERATION_ID_LEN];
	memcpy(first, g.fed.plan_cfg.federation_id, sizeof(first));
	CHECK(fb_wire_federation_id_set(first));
	struct fb_wire_plan plan;
	agg_fed_poll(&g.fed, 0, FB_WIRE_POLL_READY, g.now, &plan);
	CHECK(plan.kind == FB_WIRE_PLAN_TRAIN);
	CHECK(memcmp(plan.config.federation_id, first, sizeof(first)) == 0);
	char path[AGG_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/federation-id", g.cfg.checkpoint_dir);
	uint8_t on_disk[FB_WIRE_FEDERATION_ID_LEN];
	bool found = false;
	CHECK_OK(agg_federation_read(path, on_disk, &found));
	CHECK(found && memcmp(on_disk, first, sizeof(first)) == 0);
	// Restarted on the same folder (round 1 planned): the same id.
	agg_fed_finish(&g.fed);
	g.open = false;
	rig_open(&g);
	CHECK(g.fed.last_planned == 1);
	CHECK(memcmp(g.fed.plan_cfg.federation_id, first, sizeof(first)) == 0);
	// The numbering gone (marker removed, no checkpoint yet): a new id.
	agg_fed_finish(&g.fed);
	g.open = false;
	char marker[AGG_PATH_MAX + 32];
	snprintf(marker, sizeof(marker), "%s/planned-round",
			g.cfg.checkpoint_dir);
	CHECK(unlink(marker) == 0);
	rig_open(&g);
	CHECK(g.fed.last_planned == 0);
	CHECK(fb_wire_federation_id_set(g.fed.plan_cfg.federation_id));
	CHECK(memcmp(g.fed.plan_cfg.federation_id, first, sizeof(first)) != 0);
	CHECK_OK(agg_federation_read(path, on_disk, &found));
	CHECK(memcmp(on_disk, g.fed.plan_cfg.federation_id, sizeof(first)) ==
			0);
	rig_close(&g);
}

int
main(void)
{
	fb_log_set_level(FB_LOG_ERROR);
	snprintf(workdir, sizeof(workdir), "/tmp/fb-test-round-XXXXXX");
	if (mkdtemp(workdir) == NULL) {
		return 99;
	}
	struct fb_datagen_config gc;
	fb_datagen_config_defaults(&gc);
	gc.seed = 1;
	gc.threads = 1;
	if (fb_datagen_apply_preset(&gc, "toy") != FB_OK ||
			fb_datagen_run(&catalogue, &gc, NULL) != FB_OK) {
		printf("Bail out! cannot make the toy catalogue\n");
		return 99;
	}
	RUN(plans_at_once_when_every_client_is_ready);
	RUN(waits_for_the_quorum_before_planning);
	RUN(deadline_abandons_a_round_below_quorum);
	RUN(deadline_commits_a_round_at_quorum);
	RUN(closes_when_every_participant_answered);
	RUN(late_update_is_refused);
	RUN(duplicate_update_is_counted_once);
	RUN(exhausted_and_paused_clients_are_not_planned);
	RUN(client_level_accounts_every_planned_round);
	RUN(update_over_the_bound_is_refused);
	RUN(nonfinite_candidate_is_never_committed);
	RUN(restart_never_reuses_a_round_id);
	RUN(checkpoint_records_the_rounds_rep_options);
	RUN(federation_id_follows_the_round_numbering);
	fb_dataset_destroy(catalogue);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", workdir);
	}
	return harness_done();
}
