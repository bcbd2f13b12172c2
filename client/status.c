// client/status.c: see status.h. The client's thread only copies round
// ids and a reason code under the mutex; every privacy figure is read at
// scrape time from the ledger file through node_budget_open_ledger() and
// node_budget_check(), the functions `fedbundle-client budget` calls, so
// the page can never disagree with it or show a stale epsilon. If the
// ledger cannot be read or accounted the epsilon metrics are left out
// and fedbundle_client_ledger_ok is 0.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "fedbundle/net/statuspage.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/ledger.h"
#include "status.h"

#define REASONS_MAX 16 // refusal reasons counted; the last takes the rest

struct snap {
	uint32_t last_completed, last_trained, last_refused;
	uint64_t trained, refused;
	uint16_t last_reason;
	uint32_t n_reasons;
	uint16_t reason[REASONS_MAX];
	uint64_t refused_by[REASONS_MAX];
};

struct node_status {
	pthread_mutex_t mu;
	struct snap s; // under mu
	const struct node_policy *pol;
	double start_s;
	struct fb_statuspage *page;
};

void
node_status_round(struct node_status *st, uint32_t round, bool trained)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->mu);
	st->s.last_completed = round;
	if (trained) {
		st->s.last_trained = round;
		st->s.trained++;
	}
	pthread_mutex_unlock(&st->mu);
}

void
node_status_refused(struct node_status *st, uint32_t round, uint16_t reason)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->mu);
	struct snap *s = &st->s;
	s->last_refused = round;
	s->last_reason = reason;
	s->refused++;
	uint32_t k = 0;
	while (k < s->n_reasons && s->reason[k] != reason) {
		k++;
	}
	if (k == s->n_reasons) {
		k = k < REASONS_MAX ? s->n_reasons++ : REASONS_MAX - 1;
		s->reason[k] = reason;
	}
	s->refused_by[k]++;
	pthread_mutex_unlock(&st->mu);
}

static void
format_rounds(struct fb_statuspage_text *p, const struct snap *s)
{
	fb_statuspage_one(p, "fedbundle_client_round_last_completed", "gauge",
			"The last round acknowledged (trained or refused; 0: "
			"none).",
			s->last_completed);
	fb_statuspage_one(p, "fedbundle_client_round_last_trained", "gauge",
			"The last round this process released an update for "
			"(0: none).",
			s->last_trained);
	fb_statuspage_one(p, "fedbundle_client_rounds_trained_total", "counter",
			"Rounds this process trained and answered.",
			(double)s->trained);
	fb_statuspage_one(p, "fedbundle_client_round_last_refused", "gauge",
			"The last round this process refused (0: none).",
			s->last_refused);
	fb_statuspage_head(p, "fedbundle_client_round_last_refused_reason",
			"gauge", "1 for the reason of the last refusal.");
	if (s->last_refused > 0) {
		fb_statuspage_put(p,
				"fedbundle_client_round_last_refused_reason"
				"{reason=\"%s\"} 1\n",
				fb_wire_reason_name(s->last_reason));
	}
	fb_statuspage_head(p, "fedbundle_client_rounds_refused_total",
			"counter", "Rounds this process refused, by reason.");
	for (uint32_t k = 0; k < s->n_reasons; k++) {
		fb_statuspage_put(p,
				"fedbundle_client_rounds_refused_total"
				"{reason=\"%s\"} %llu\n",
				fb_wire_reason_name(s->reason[k]),
				(unsigned long long)s->refused_by[k]);
	}
}

// The last release with distributed noise in l, if any.
static bool
last_secure(const struct fb_ledger *l, struct fb_ledger_entry *e)
{
	for (size_t k = fb_ledger_count(l); k > 0; k--) {
		if (fb_ledger_entry_at(l, k - 1, e) == FB_OK &&
				fb_ledger_is_ddg(e)) {
			return true;
		}
	}
	return false;
}

static void
format_secure(struct fb_statuspage_text *p, const struct fb_ledger *l)
{
	struct fb_ledger_entry e;
	if (l == NULL || !last_secure(l, &e)) {
		return;
	}
	fb_statuspage_one(p, "fedbundle_client_secagg_last_round", "gauge",
			"The round of the last secure release (ledger).",
			(double)e.round);
	fb_statuspage_one(p, "fedbundle_client_secagg_last_shares", "gauge",
			"Honest noise shares that release was accounted "
			"with.",
			(double)e.shares);
	fb_statuspage_one(p, "fedbundle_client_secagg_last_eps_assumed",
			"gauge",
			"Epsilon spent after it, assuming those honest "
			"shares (ledger eps_assumed).",
			e.eps_assumed);
	fb_statuspage_one(p, "fedbundle_client_secagg_last_eps_alone", "gauge",
			"Epsilon spent after it if its own noise share had "
			"been the only noise (ledger eps_alone).",
			e.eps_alone);
}

// Epsilon and releases: the ledger accounted now (see the file comment).
static void
format_budget(struct fb_statuspage_text *p, const struct node_policy *pol)
{
	struct fb_ledger *l = NULL;
	double spent = 0;
	bool exhausted = false;
	fb_err err = node_budget_open_ledger(pol, &l);
	if (err == FB_OK) {
		err = node_budget_check(pol, l, &spent, &exhausted);
	}
	fb_statuspage_one(p, "fedbundle_client_ledger_ok", "gauge",
			"1 if the privacy ledger was read and accounted for "
			"this page.",
			err == FB_OK);
	fb_statuspage_one(p, "fedbundle_client_epsilon_budget", "gauge",
			"The policy's epsilon budget.", pol->epsilon);
	fb_statuspage_one(p, "fedbundle_client_delta", "gauge",
			"The policy's delta (epsilon is accounted at it).",
			pol->delta);
	if (err == FB_OK) {
		fb_statuspage_one(p, "fedbundle_client_epsilon_spent", "gauge",
				"Epsilon spent by the ledger's releases.",
				spent);
		fb_statuspage_one(p, "fedbundle_client_epsilon_left", "gauge",
				"Epsilon left of the budget.",
				pol->epsilon > spent ? pol->epsilon - spent
						     : 0);
		fb_statuspage_one(p, "fedbundle_client_budget_exhausted",
				"gauge", "1 once the budget is spent.",
				exhausted);
		fb_statuspage_one(p, "fedbundle_client_releases", "gauge",
				"Releases recorded in the ledger.",
				l != NULL ? (double)fb_ledger_releases(l) : 0);
		format_secure(p, l);
	}
	fb_ledger_close(l);
}

// The page (fb_statuspage_format_fn), on an NNG thread.
static void
format_page(void *ctx, struct fb_statuspage_text *p)
{
	struct node_status *st = ctx;
	struct snap s;
	pthread_mutex_lock(&st->mu);
	s = st->s;
	pthread_mutex_unlock(&st->mu);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	double t = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
	fb_statuspage_one(p, "process_start_time_seconds", "gauge",
			"Start time of the process since the Unix epoch.",
			st->start_s);
	fb_statuspage_one(p, "fedbundle_client_uptime_seconds", "gauge",
			"Seconds since the client started.",
			t > st->start_s ? t - st->start_s : 0);
	format_budget(p, st->pol);
	format_rounds(p, &s);
}

fb_err
node_status_start(struct node_status **out, const struct node_policy *pol,
		double start_unix_s, uint32_t last_completed)
{
	struct node_status *st = calloc(1, sizeof(*st));
	if (st == NULL) {
		return FB_ENOMEM;
	}
	pthread_mutex_init(&st->mu, NULL);
	st->pol = pol;
	st->start_s = start_unix_s;
	st->s.last_completed = last_completed;
	fb_err err = fb_statuspage_start(&st->page, pol->status_listen,
			"status_listen", format_page, st);
	if (err != FB_OK) {
		node_status_stop(st);
		return err;
	}
	*out = st;
	return FB_OK;
}

void
node_status_stop(struct node_status *st)
{
	if (st == NULL) {
		return;
	}
	fb_statuspage_stop(st->page);
	pthread_mutex_destroy(&st->mu);
	free(st);
}
