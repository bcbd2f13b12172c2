// server/status.c: see status.h. The owner thread copies a small struct
// of counts under the mutex at every turn (a few hundred bytes, far below
// the cost of the turn); the HTTP thread formats the page from it under
// the same mutex, so a scrape never reads the federation itself.
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/statuspage.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "status.h"

#define REASONS_MAX 16 // abandon reasons kept (static texts)

struct snap {
	bool live; // published at least once
	uint32_t rounds, round, last_committed, participants;
	enum agg_state state;
	bool secure_active;
	uint32_t secure_stage;
	uint32_t n_committed;
	uint32_t n_reasons;
	const char *reason[REASONS_MAX];
	uint64_t abandoned[REASONS_MAX];
	uint32_t enrolled, connected, exhausted;
	uint64_t bytes_in, bytes_out, refused_msgs;
	uint32_t refused_by[AGG_REASONS];
	bool have_last;
	double last_round_s;
	bool have_eval;
	double recall, ndcg;
	bool client_dp;
	double eps_spent, eps_budget, delta;
};

struct agg_status {
	pthread_mutex_t mu;
	struct snap pub;  // under mu
	struct snap mine; // the owner thread's
	double start_s;
	struct fb_statuspage *http;
};

// Counts a closed round's abandon reason (owner thread).
static void
count_abandoned(struct snap *s, const char *why)
{
	uint32_t k = 0;
	while (k < s->n_reasons && strcmp(s->reason[k], why) != 0) {
		k++;
	}
	if (k == s->n_reasons) {
		if (k == REASONS_MAX) {
			k = REASONS_MAX - 1; // the last slot takes the rest
			s->reason[k] = "other";
		} else {
			s->reason[k] = why;
			s->n_reasons++;
		}
	}
	s->abandoned[k]++;
}

static void
read_epsilon(struct snap *s, const struct agg_fed *fed)
{
	s->client_dp = fed->dp != NULL &&
			fed->plan_cfg.granularity == FB_WIRE_GRAN_CLIENT;
	if (!s->client_dp) {
		return;
	}
	size_t rel = 0;
	if (fb_dp_spent(fed->dp, &s->eps_spent, &rel) != FB_OK) {
		s->eps_spent = -1;
	}
	s->eps_budget = fed->cfg->round.target_epsilon;
	s->delta = fed->cfg->round.delta;
}

void
agg_status_observe(void *ctx, const struct agg_fed *fed, enum agg_event event)
{
	struct agg_status *st = ctx;
	if (event != AGG_EV_CLOSED) {
		return;
	}
	if (!fed->st.committed) {
		count_abandoned(&st->mine,
				fed->st.abandoned != NULL ? fed->st.abandoned
							  : "unknown");
	}
	st->mine.have_last = true;
	st->mine.last_round_s = fed->st.collection_s + fed->st.commit_s;
	read_epsilon(&st->mine, fed);
}

void
agg_status_publish(struct agg_status *st, const struct agg_fed *fed,
		const struct agg_server *srv)
{
	struct snap *s = &st->mine;
	if (!s->live) {
		read_epsilon(s, fed);
	}
	s->live = true;
	s->rounds = fed->cfg->rounds;
	s->round = fed->round;
	s->last_committed = fed->last_committed;
	s->state = fed->state;
	s->participants =
			fed->state == AGG_COLLECTING ? fed->st.participants : 0;
	s->secure_active = fed->sa.active;
	s->secure_stage = fed->sa.active ? (uint32_t)fed->sa.stage + 1 : 0;
	s->n_committed = fed->n_committed;
	s->enrolled = s->connected = s->exhausted = 0;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		s->enrolled += !cl->revoked;
		s->connected += !cl->revoked && cl->connected;
		s->exhausted += !cl->revoked && cl->exhausted;
	}
	s->bytes_in = fed->total_in;
	s->bytes_out = fed->total_out;
	s->refused_msgs = srv->refused;
	memcpy(s->refused_by, fed->refused_by, sizeof(s->refused_by));
	s->have_eval = fed->have_eval;
	s->recall = fed->last_recall;
	s->ndcg = fed->last_ndcg;
	pthread_mutex_lock(&st->mu);
	st->pub = *s;
	pthread_mutex_unlock(&st->mu);
}

static void
format_rounds(struct fb_statuspage_text *p, const struct snap *s)
{
	static const char *const states[] = {"idle", "collecting", "over"};
	fb_statuspage_one(p, "fedbundle_rounds_configured", "gauge",
			"Rounds the configuration runs.", s->rounds);
	fb_statuspage_one(p, "fedbundle_round", "gauge",
			"The current round id (the last one between rounds).",
			s->round);
	fb_statuspage_one(p, "fedbundle_round_last_committed", "gauge",
			"The last committed round id (0: none).",
			s->last_committed);
	fb_statuspage_head(p, "fedbundle_round_stage", "gauge",
			"1 for the aggregator's current stage.");
	for (int k = 0; k < 3; k++) {
		fb_statuspage_put(p, "fedbundle_round_stage{stage=\"%s\"} %d\n",
				states[k], (int)s->state == k);
	}
	fb_statuspage_one(p, "fedbundle_secagg_stage", "gauge",
			"The secure round's stage (1 adverts, 2 shares, 3 masked, "
			"4 unmask, 5 unmasked, 6 failed; 0: "
			"none running).",
			s->secure_stage);
	fb_statuspage_one(p, "fedbundle_round_participants", "gauge",
			"Participants of the round being collected.",
			s->participants);
	fb_statuspage_one(p, "fedbundle_rounds_committed_total", "counter",
			"Rounds committed by this process.", s->n_committed);
	fb_statuspage_head(p, "fedbundle_rounds_abandoned_total", "counter",
			"Rounds abandoned by this process, by reason.");
	for (uint32_t k = 0; k < s->n_reasons; k++) {
		fb_statuspage_put(p,
				"fedbundle_rounds_abandoned_total{reason=\"%s\"} %llu\n",
				s->reason[k],
				(unsigned long long)s->abandoned[k]);
	}
	if (s->have_last) {
		fb_statuspage_one(p, "fedbundle_last_round_seconds", "gauge",
				"The last closed round's time from its start "
				"to its commit or abandon.",
				s->last_round_s);
	}
}

static void
format_traffic(struct fb_statuspage_text *p, const struct snap *s)
{
	fb_statuspage_one(p, "fedbundle_clients_enrolled", "gauge",
			"Clients the roster enrols.", s->enrolled);
	fb_statuspage_one(p, "fedbundle_clients_connected", "gauge",
			"Enrolled clients with a live session.", s->connected);
	fb_statuspage_one(p, "fedbundle_clients_exhausted", "gauge",
			"Enrolled clients whose last POLL said their privacy "
			"budget is spent.",
			s->exhausted);
	fb_statuspage_one(p, "fedbundle_received_bytes_total", "counter",
			"Bytes received, counted as each round closes.",
			(double)s->bytes_in);
	fb_statuspage_one(p, "fedbundle_sent_bytes_total", "counter",
			"Bytes sent, counted as each round closes.",
			(double)s->bytes_out);
	fb_statuspage_one(p, "fedbundle_messages_refused_total", "counter",
			"Messages refused (any reason).",
			(double)s->refused_msgs);
	fb_statuspage_head(p, "fedbundle_refusals_total", "counter",
			"REFUSE messages of clients, by reason.");
	for (int r = 1; r < AGG_REASONS; r++) {
		if (s->refused_by[r] > 0) {
			fb_statuspage_put(p,
					"fedbundle_refusals_total{reason=\"%s\"} %u\n",
					r == AGG_REASONS - 1
							? "other"
							: fb_wire_reason_name((
									  uint16_t)r),
					s->refused_by[r]);
		}
	}
}

static void
format_model(struct fb_statuspage_text *p, const struct snap *s)
{
	if (s->have_eval) {
		fb_statuspage_one(p, "fedbundle_global_recall_at_20", "gauge",
				"The last round's federated Recall@20 (as "
				"reported by clients).",
				s->recall);
		fb_statuspage_one(p, "fedbundle_global_ndcg_at_20", "gauge",
				"The last round's federated NDCG@20 (as "
				"reported by clients).",
				s->ndcg);
	}
	if (s->client_dp) {
		fb_statuspage_one(p, "fedbundle_dp_epsilon_spent", "gauge",
				"Client-level DP: the aggregator's epsilon "
				"spent (its ledger; -1: unknown).",
				s->eps_spent);
		fb_statuspage_one(p, "fedbundle_dp_epsilon_budget", "gauge",
				"Client-level DP: the epsilon budget.",
				s->eps_budget);
		fb_statuspage_one(p, "fedbundle_dp_delta", "gauge",
				"Client-level DP: the delta of the budget.",
				s->delta);
	}
}

// The page of the current snapshot (fb_statuspage_format_fn).
static void
format_page(void *ctx, struct fb_statuspage_text *p)
{
	struct agg_status *st = ctx;
	struct snap s;
	pthread_mutex_lock(&st->mu);
	s = st->pub;
	pthread_mutex_unlock(&st->mu);
	fb_statuspage_one(p, "process_start_time_seconds", "gauge",
			"Start time of the process since the Unix epoch.",
			st->start_s);
	fb_statuspage_one(p, "fedbundle_up", "gauge",
			"1 once the aggregator's loop runs.", s.live ? 1 : 0);
	if (s.live) {
		format_rounds(p, &s);
		format_traffic(p, &s);
		format_model(p, &s);
	}
}

size_t
agg_status_format(struct agg_status *st, char *buf, size_t cap)
{
	struct fb_statuspage_text p = {buf, cap, 0};
	if (cap > 0) {
		buf[0] = '\0';
	}
	format_page(st, &p);
	return p.pos;
}

fb_err
agg_status_start(struct agg_status **out, const char *url, double start_unix_s)
{
	struct agg_status *st = calloc(1, sizeof(*st));
	if (st == NULL) {
		return FB_ENOMEM;
	}
	pthread_mutex_init(&st->mu, NULL);
	st->start_s = start_unix_s;
	st->mine.reason[0] = "quorum"; // the usual one: always shown
	st->mine.n_reasons = 1;
	fb_err err = fb_statuspage_start(
			&st->http, url, "status_listen", format_page, st);
	if (err != FB_OK) {
		agg_status_stop(st);
		return err;
	}
	*out = st;
	return FB_OK;
}

void
agg_status_stop(struct agg_status *st)
{
	if (st == NULL) {
		return;
	}
	fb_statuspage_stop(st->http);
	pthread_mutex_destroy(&st->mu);
	free(st);
}
