// server/status.c: see status.h. The owner thread copies a small struct
// of counts under the mutex at every turn (a few hundred bytes, far below
// the cost of the turn); the HTTP thread formats the page from it under
// the same mutex, so a scrape never reads the federation itself.
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "status.h"

#define REASONS_MAX 16      // abandon reasons kept (static texts)
#define PAGE_MAX (32 << 10) // the page's size limit

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
	nng_http_server *http;
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

// Appends to a page; pos runs past cap when it does not fit.
struct page {
	char *buf;
	size_t cap, pos;
};

static void
put(struct page *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = p->pos < p->cap ? p->cap - p->pos : 0;
	int n = vsnprintf(room > 0 ? p->buf + p->pos : NULL, room, fmt, ap);
	va_end(ap);
	p->pos += n > 0 ? (size_t)n : 0;
}

// The HELP and TYPE lines of a metric.
static void
head(struct page *p, const char *name, const char *type, const char *help)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct page *p, const char *name, const char *type, const char *help,
		double v)
{
	head(p, name, type, help);
	put(p, "%s %.15g\n", name, v);
}

static void
format_rounds(struct page *p, const struct snap *s)
{
	static const char *const states[] = {"idle", "collecting", "over"};
	one(p, "fedbundle_rounds_configured", "gauge",
			"Rounds the configuration runs.", s->rounds);
	one(p, "fedbundle_round", "gauge",
			"The current round id (the last one between rounds).",
			s->round);
	one(p, "fedbundle_round_last_committed", "gauge",
			"The last committed round id (0: none).",
			s->last_committed);
	head(p, "fedbundle_round_stage", "gauge",
			"1 for the aggregator's current stage.");
	for (int k = 0; k < 3; k++) {
		put(p, "fedbundle_round_stage{stage=\"%s\"} %d\n", states[k],
				(int)s->state == k);
	}
	one(p, "fedbundle_secagg_stage", "gauge",
			"The secure round's stage (1 adverts, 2 shares, 3 masked, "
			"4 unmask, 5 unmasked, 6 failed; 0: "
			"none running).",
			s->secure_stage);
	one(p, "fedbundle_round_participants", "gauge",
			"Participants of the round being collected.",
			s->participants);
	one(p, "fedbundle_rounds_committed_total", "counter",
			"Rounds committed by this process.", s->n_committed);
	head(p, "fedbundle_rounds_abandoned_total", "counter",
			"Rounds abandoned by this process, by reason.");
	for (uint32_t k = 0; k < s->n_reasons; k++) {
		put(p, "fedbundle_rounds_abandoned_total{reason=\"%s\"} %llu\n",
				s->reason[k],
				(unsigned long long)s->abandoned[k]);
	}
	if (s->have_last) {
		one(p, "fedbundle_last_round_seconds", "gauge",
				"The last closed round's time from its start "
				"to its commit or abandon.",
				s->last_round_s);
	}
}

static void
format_traffic(struct page *p, const struct snap *s)
{
	one(p, "fedbundle_clients_enrolled", "gauge",
			"Clients the roster enrols.", s->enrolled);
	one(p, "fedbundle_clients_connected", "gauge",
			"Enrolled clients with a live session.", s->connected);
	one(p, "fedbundle_clients_exhausted", "gauge",
			"Enrolled clients whose last POLL said their privacy "
			"budget is spent.",
			s->exhausted);
	one(p, "fedbundle_received_bytes_total", "counter",
			"Bytes received, counted as each round closes.",
			(double)s->bytes_in);
	one(p, "fedbundle_sent_bytes_total", "counter",
			"Bytes sent, counted as each round closes.",
			(double)s->bytes_out);
	one(p, "fedbundle_messages_refused_total", "counter",
			"Messages refused (any reason).",
			(double)s->refused_msgs);
	head(p, "fedbundle_refusals_total", "counter",
			"REFUSE messages of clients, by reason.");
	for (int r = 1; r < AGG_REASONS; r++) {
		if (s->refused_by[r] > 0) {
			put(p, "fedbundle_refusals_total{reason=\"%s\"} %u\n",
					r == AGG_REASONS - 1
							? "other"
							: fb_wire_reason_name((
									  uint16_t)r),
					s->refused_by[r]);
		}
	}
}

static void
format_model(struct page *p, const struct snap *s)
{
	if (s->have_eval) {
		one(p, "fedbundle_global_recall_at_20", "gauge",
				"The last round's federated Recall@20 (as "
				"reported by clients).",
				s->recall);
		one(p, "fedbundle_global_ndcg_at_20", "gauge",
				"The last round's federated NDCG@20 (as "
				"reported by clients).",
				s->ndcg);
	}
	if (s->client_dp) {
		one(p, "fedbundle_dp_epsilon_spent", "gauge",
				"Client-level DP: the aggregator's epsilon "
				"spent (its ledger; -1: unknown).",
				s->eps_spent);
		one(p, "fedbundle_dp_epsilon_budget", "gauge",
				"Client-level DP: the epsilon budget.",
				s->eps_budget);
		one(p, "fedbundle_dp_delta", "gauge",
				"Client-level DP: the delta of the budget.",
				s->delta);
	}
}

size_t
agg_status_format(struct agg_status *st, char *buf, size_t cap)
{
	struct snap s;
	pthread_mutex_lock(&st->mu);
	s = st->pub;
	pthread_mutex_unlock(&st->mu);
	struct page p = {buf, cap, 0};
	if (cap > 0) {
		buf[0] = '\0';
	}
	one(&p, "process_start_time_seconds", "gauge",
			"Start time of the process since the Unix epoch.",
			st->start_s);
	one(&p, "fedbundle_up", "gauge", "1 once the aggregator's loop runs.",
			s.live ? 1 : 0);
	if (s.live) {
		format_rounds(&p, &s);
		format_traffic(&p, &s);
		format_model(&p, &s);
	}
	return p.pos;
}

// GET /metrics (an NNG HTTP handler, on NNG's threads).
static void
on_metrics(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct agg_status *st = nng_http_handler_get_data(h);
	nng_http_res *res = NULL;
	char *page = malloc(PAGE_MAX);
	size_t len = page != NULL ? agg_status_format(st, page, PAGE_MAX)
				  : PAGE_MAX;
	if (len >= PAGE_MAX || nng_http_res_alloc(&res) != 0 ||
			nng_http_res_set_header(res, "Content-Type",
					"text/plain; version=0.0.4; "
					"charset=utf-8") != 0 ||
			nng_http_res_copy_data(res, page, len) != 0) {
		nng_http_res_free(res);
		free(page);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	free(page);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static fb_err
serve(struct agg_status *st, const char *url)
{
	nng_url *u = NULL;
	nng_http_handler *h = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv != 0 || strcmp(u->u_scheme, "http") != 0) {
		nng_url_free(u);
		return fb_errorf(FB_EINVAL,
				"status_listen '%s': not an http://host:port URL",
				url);
	}
	if ((rv = nng_http_server_hold(&st->http, u)) == 0 &&
			(rv = nng_http_handler_alloc(
					 &h, "/metrics", on_metrics)) == 0 &&
			(rv = nng_http_handler_set_data(h, st, NULL)) == 0) {
		rv = nng_http_server_add_handler(st->http, h);
		if (rv != 0) {
			nng_http_handler_free(h);
		}
	}
	if (rv == 0) {
		rv = nng_http_server_start(st->http);
	}
	nng_url_free(u);
	if (rv != 0) {
		return fb_errorf(FB_EIO, "status_listen '%s': %s", url,
				nng_strerror(rv));
	}
	return FB_OK;
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
	fb_err err = serve(st, url);
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
	if (st->http != NULL) {
		nng_http_server_stop(st->http);
		nng_http_server_release(st->http);
	}
	pthread_mutex_destroy(&st->mu);
	free(st);
}
