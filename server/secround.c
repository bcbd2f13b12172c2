// server/secround.c: see secround.h. Invariants: a secure round's model
// step is made only from a sum the coordinator unmasked with every
// commitment checked, that passed the honest bound (secagg-v1 §10.4),
// over at least n_min survivors; the aggregator never holds a party's
// input, only the running ring sum (the coordinator's one u64
// accumulator) and the unmasked int64 sum.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/model/train.h"
#include "fedbundle/net/bound.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "round.h"
#include "secround.h"

fb_err
agg_secround_init(struct agg_secround *sa, const struct agg_config *cfg,
		const struct fb_dataset *ds, const struct fb_model *model,
		uint32_t n_clients, double sigma)
{
	memset(sa, 0, sizeof(*sa));
	const struct agg_round_config *r = &cfg->round;
	if (!r->secure_aggregation) {
		return FB_OK;
	}
	// Parameters that cannot fit even with every enrolled client a party
	// would abandon every round: refused at start-up.
	struct agg_secagg_params all;
	fb_err err = agg_secagg_params(r, n_clients, &all);
	if (err != FB_OK) {
		return fb_errorf(err, "with the %u enrolled client(s): %s",
				n_clients, fb_last_error(err));
	}
	sa->enabled = true;
	sa->cat = *ds;
	// The trainer of the commit visits no user.
	sa->cat.n_users = 0;
	sa->grid_log2 = fb_dp_grid_for(sigma * r->clip, r->clip);
	struct fb_release_layout L;
	struct fb_hparams hp = r->hp;
	hp.use_attrs = model->n_attrs > 0;
	fb_hparams_release_layout(&hp, model->n_items, model->n_bundles, &L);
	sa->dim = L.len;
	sa->index = calloc(n_clients, sizeof(*sa->index));
	sa->client = calloc((size_t)n_clients + 1, sizeof(*sa->client));
	sa->keys = calloc(n_clients, FB_ID_PK_LEN);
	sa->quit = calloc(n_clients, sizeof(*sa->quit));
	sa->sum = malloc(sa->dim * sizeof(*sa->sum));
	if (sa->index == NULL || sa->client == NULL || sa->keys == NULL ||
			sa->quit == NULL || sa->sum == NULL) {
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
agg_secround_finish(struct agg_secround *sa)
{
	if (sa == NULL) {
		return;
	}
	free(sa->index);
	free(sa->client);
	free(sa->keys);
	free(sa->quit);
	free(sa->sum);
	sa->index = NULL;
	sa->client = NULL;
	sa->keys = NULL;
	sa->quit = NULL;
	sa->sum = NULL;
}

fb_err
agg_secagg_consortium(const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path, uint8_t out[FB_SECAGG_CONSORTIUM_LEN])
{
	return fb_secagg_consortium(agg_pk, roster_path, out);
}

fb_err
agg_fed_set_consortium(struct agg_fed *fed, const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path)
{
	struct agg_secround *sa = &fed->sa;
	if (!sa->enabled) {
		return FB_OK;
	}
	fb_err err = agg_secagg_consortium(agg_pk, roster_path, sa->consortium);
	if (err != FB_OK) {
		return fb_errorf(err,
				"secure aggregation: the consortium id needs "
				"the roster file: %s",
				fb_last_error(err));
	}
	sa->have_consortium = true;
	char hex[2 * FB_SECAGG_CONSORTIUM_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), sa->consortium,
			FB_SECAGG_CONSORTIUM_LEN);
	fb_log(FB_LOG_INFO, "secure aggregation: consortium %s (roster %s)",
			hex, roster_path);
	return FB_OK;
}

// The std, in grid steps, of the sum of n shares each calibrated for h
// honest ones (secagg-v1 §2.2, §7).
static double
sum_noise_std(const struct agg_secagg_params *p, uint32_t n, double sigma,
		double clip, int32_t grid_log2)
{
	double s = sigma * clip / ldexp(1.0, grid_log2);
	return s * sqrt((double)n / (double)p->h);
}

bool
agg_secagg_no_wrap(const struct agg_secagg_params *p, uint64_t users,
		double sigma, double clip, int32_t grid_log2, uint32_t bits)
{
	return fb_secagg_ring_fits(
			bits, users, p->n, p->h, sigma, clip, grid_log2);
}

double
agg_secagg_sum_bound(const struct agg_secagg_params *p, uint32_t n,
		uint64_t users, double q, double sigma, double clip,
		int32_t grid_log2, size_t dim)
{
	double B = floor(clip / ldexp(1.0, grid_log2));
	// The users sampled among the declared ones, and the noise's norm,
	// each beyond its bound with probability at most half of it.
	double k = fb_bound_binomial(users, q, FB_BOUND_FAIL_PROB / 2);
	double noise = sum_noise_std(p, n, sigma, clip, grid_log2) *
			fb_bound_noise(sqrt((double)dim), 1,
					FB_BOUND_FAIL_PROB / 2);
	return k * B + noise;
}

// dst = a - b, element-wise (same shapes).
static void
sub_matrix(struct fb_matrix *dst, const struct fb_matrix *b)
{
	size_t n = fb_matrix_len(dst);
	for (size_t k = 0; k < n; k++) {
		dst->data[k] -= b->data[k];
	}
}

fb_err
agg_secround_delta(struct agg_fed *fed, const int64_t *sum, uint64_t users,
		struct fb_model *delta)
{
	const struct agg_secround *sa = &fed->sa;
	const struct fb_wire_round_config *p = &fed->plan_cfg;
	const struct fb_model *m = &fed->model;
	if (users == 0) {
		return fb_errorf(FB_EINVAL, "secure round: no declared users");
	}
	struct fb_train_config tc;
	fb_train_config_defaults(&tc);
	tc.hp = p->hp;
	tc.epochs = 1;
	tc.threads = 1;
	struct fb_matrix P;
	fb_matrix_init(&P, 0, m->dim); // no user: allocates nothing
	fb_err err = fb_matrix_copy(&delta->V, &m->V);
	if (err == FB_OK) {
		err = fb_matrix_copy(&delta->W, &m->W);
	}
	if (err == FB_OK && m->n_attrs > 0) {
		err = fb_matrix_copy(&delta->M, &m->M);
	}
	struct fb_trainer *t = NULL;
	struct fb_rep_grad g = {0};
	if (err == FB_OK) {
		err = fb_trainer_create(&t, &sa->cat, delta, &P, &tc);
	}
	if (err == FB_OK) {
		err = fb_rep_grad_init(&g, delta);
	}
	// As client/local.c train_dp scales its own release: grid / (q N),
	// N the survivors' public numbers of users together.
	double scale = ldexp(1.0, sa->grid_log2) /
			(p->sampling_rate * (double)users);
	if (err == FB_OK) {
		err = fb_trainer_release_unpack(t, sum, sa->dim, scale, &g);
	}
	if (err == FB_OK) {
		err = fb_trainer_apply(t, &g);
	}
	fb_rep_grad_finish(&g);
	fb_trainer_destroy(t);
	if (err != FB_OK) {
		return err;
	}
	sub_matrix(&delta->V, &m->V);
	sub_matrix(&delta->W, &m->W);
	if (m->n_attrs > 0) {
		sub_matrix(&delta->M, &m->M);
	}
	return FB_OK;
}

// ---- The stage machine ----

static void
set_out(struct agg_outcome *out, bool error, uint8_t status, uint16_t reason,
		const char *text)
{
	memset(out, 0, sizeof(*out));
	out->error = error;
	out->status = status;
	out->reason = reason;
	snprintf(out->text, sizeof(out->text), "%s", text);
}

// The coordinator's stage of each of our stages' sets.
static const enum fb_secagg_stage set_of[4] = {
		FB_SA_ADVERTS, FB_SA_SHARES, FB_SA_MASKED, FB_SA_UNMASK};

// |U1|..|U4| into the round's statistics.
static void
note_counts(struct agg_fed *fed)
{
	struct agg_secround *sa = &fed->sa;
	if (sa->co == NULL) {
		return;
	}
	uint32_t *u[4] = {&fed->st.sa_u1, &fed->st.sa_u2, &fed->st.sa_u3,
			&fed->st.sa_u4};
	for (int k = 0; k < 4; k++) {
		*u[k] = fb_secagg_server_count(sa->co, set_of[k]);
	}
}

static void
fail_round(struct agg_fed *fed, uint64_t now_ms, const char *why,
		const char *detail)
{
	struct agg_secround *sa = &fed->sa;
	note_counts(fed);
	sa->stage = AGG_SA_FAILED;
	fed->st.abandoned = why;
	fed->st.secagg_s = (double)(now_ms - fed->round_start_ms) / 1000.0;
	fb_log(FB_LOG_WARN, "round %u abandoned (%s): %s", fed->round, why,
			detail);
}

void
agg_secround_plan(struct agg_fed *fed, uint64_t now_ms)
{
	struct agg_secround *sa = &fed->sa;
	const struct agg_config *cfg = fed->cfg;
	if (!sa->have_consortium) {
		fb_panic("secure round planned before agg_fed_set_consortium");
	}
	sa->active = true;
	fed->st.secure = true;
	sa->stage = AGG_SA_ADVERTS;
	sa->stage_since_ms = now_ms;
	sa->stage_deadline_ms = now_ms + cfg->round.secagg_stage_ms;
	sa->users = 0;
	uint32_t n = 0;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		sa->index[c] = 0;
		sa->quit[c] = false;
		if (!cl->participant || n == FB_WIRE_SECAGG_N_MAX) {
			continue;
		}
		sa->index[c] = ++n;
		sa->client[n] = c;
		memcpy(sa->keys + (size_t)(n - 1) * FB_ID_PK_LEN, cl->pk,
				FB_ID_PK_LEN);
	}
	fed->st.sa_n = n;
	fb_err err = agg_secagg_params(&cfg->round, n, &sa->p);
	if (err != FB_OK) {
		fail_round(fed, now_ms, "secagg-too-few", fb_last_error(err));
		return;
	}
	double sigma = fed->plan_cfg.noise_multiplier;
	// Every party has at least one user; their declared users are
	// checked when the advertisements close. The ring is the narrowest
	// that fits n users, or the users declared last time if more.
	sa->ring_bits = fb_secagg_ring_plan(sa->users_hint, n, sa->p.h, sigma,
			fed->plan_cfg.clip_norm, sa->grid_log2);
	if (sa->ring_bits == 0) {
		fail_round(fed, now_ms, "secagg-over-bound",
				"the sum could wrap around 2^64 (secagg-v1 "
				"§2.2): fewer parties or a coarser grid");
		return;
	}
	struct fb_secagg_server_params sp = {
			.consistency = true,
			.n = n,
			.t = sa->p.t,
			.n_min = sa->p.n_min,
			.id_keys = sa->keys,
			.dim = sa->dim,
			.ring_bits = sa->ring_bits,
	};
	memcpy(sp.ctx.consortium, sa->consortium, FB_SECAGG_CONSORTIUM_LEN);
	sp.ctx.round = fed->round;
	err = fb_secagg_server_create(&sa->co, &sp);
	if (err != FB_OK) {
		fail_round(fed, now_ms, "secagg-unmask-failed",
				fb_last_error(err));
		return;
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation of %u parties, threshold "
			"%u, at least %u survivors, noise in %u honest shares, "
			"ring Z_(2^%u)",
			fed->round, n, sa->p.t, sa->p.n_min, sa->p.h,
			sa->ring_bits);
}

bool
agg_secround_may_train(const struct agg_fed *fed, uint32_t c)
{
	const struct agg_secround *sa = &fed->sa;
	return sa->active && sa->stage == AGG_SA_ADVERTS && sa->index[c] != 0;
}

void
agg_secround_plan_tlv(const struct agg_fed *fed, uint32_t c,
		struct fb_wire_round_config *cfg)
{
	const struct agg_secround *sa = &fed->sa;
	cfg->has_secagg = true;
	memcpy(cfg->sa.consortium, sa->consortium, FB_SECAGG_CONSORTIUM_LEN);
	cfg->sa.n = sa->p.n;
	cfg->sa.t = sa->p.t;
	cfg->sa.n_min = sa->p.n_min;
	cfg->sa.noise_shares = sa->p.h;
	cfg->sa.index = sa->index[c];
	cfg->sa.keys = sa->keys;
	cfg->sa.ring_bits = sa->ring_bits;
}

// Whether party i is in the set our stage k fills (k up to UNMASK).
static bool
stage_has(const struct agg_secround *sa, int k, uint32_t i)
{
	switch (k) {
	case AGG_SA_ADVERTS:
		return fb_secagg_server_in(sa->co, FB_SA_ADVERTS, i);
	case AGG_SA_SHARES:
		return fb_secagg_server_in(sa->co, FB_SA_SHARES, i);
	case AGG_SA_MASKED:
		return fb_secagg_server_in(sa->co, FB_SA_MASKED, i);
	case AGG_SA_CONSIST:
		return fb_secagg_server_signed(sa->co, i);
	default:
		return fb_secagg_server_in(sa->co, FB_SA_UNMASK, i);
	}
}

// Parties still expected in the current stage: in the previous stage's
// set (every party for the advertisements), not in this one's, and not
// out of the round (refused, dropped, rejected).
static uint32_t
expected(const struct agg_fed *fed)
{
	const struct agg_secround *sa = &fed->sa;
	uint32_t waiting = 0;
	int k = (int)sa->stage;
	for (uint32_t i = 1; i <= sa->p.n; i++) {
		const struct agg_client *cl = &fed->clients[sa->client[i]];
		bool out = cl->status == AGG_CL_REFUSED ||
				cl->status == AGG_CL_DROPPED ||
				cl->status == AGG_CL_REJECTED ||
				sa->quit[sa->client[i]];
		if (out || (k > 0 && !stage_has(sa, k - 1, i)) ||
				stage_has(sa, k, i)) {
			continue;
		}
		waiting++;
	}
	return waiting;
}

// The L2 norm of v[0..n) (exact enough: each term is below 2^126).
static double
l2_i64(const int64_t *v, size_t n)
{
	long double s = 0;
	for (size_t k = 0; k < n; k++) {
		long double x = (long double)v[k];
		s += x * x;
	}
	return (double)sqrtl(s);
}

// The unmask stage closed: the sum, checked against the honest bound.
static void
finish(struct agg_fed *fed, uint64_t now_ms)
{
	struct agg_secround *sa = &fed->sa;
	note_counts(fed);
	struct timespec c0, c1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	double t0 = fb_clock_s();
	fb_err err = fb_secagg_server_finish(sa->co, sa->sum);
	double unmask_s = fb_clock_s() - t0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	double unmask_cpu = (double)(c1.tv_sec - c0.tv_sec) +
			1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
	if (err != FB_OK) {
		fail_round(fed, now_ms, "secagg-unmask-failed",
				fb_last_error(err));
		return;
	}
	uint32_t n3 = fed->st.sa_u3;
	uint64_t users = fb_secagg_server_users(sa->co);
	double bound = agg_secagg_sum_bound(&sa->p, n3, users,
			fed->plan_cfg.sampling_rate,
			fed->plan_cfg.noise_multiplier, fed->plan_cfg.clip_norm,
			sa->grid_log2, sa->dim);
	double norm = l2_i64(sa->sum, sa->dim);
	if (!(norm <= bound)) {
		char detail[160];
		snprintf(detail, sizeof(detail),
				"the unmasked sum of %u releases (%llu users) "
				"has L2 norm %.6g grid steps, above the honest "
				"bound %.6g (secagg-v1 §10.4)",
				n3, (unsigned long long)users, norm, bound);
		fail_round(fed, now_ms, "secagg-over-bound", detail);
		return;
	}
	sa->users = users;
	sa->stage = AGG_SA_DONE;
	fed->st.secagg_s = (double)(now_ms - fed->round_start_ms) / 1000.0;
	fb_log(FB_LOG_INFO,
			"round %u: unmasked the sum of %u releases (%u of %u "
			"revealed; %llu users) in %.3f s (reconstruction and "
			"mask removal %.3f s, %.3f s CPU)",
			fed->round, n3, fed->st.sa_u4, n3,
			(unsigned long long)sa->users, fed->st.secagg_s,
			unmask_s, unmask_cpu);
}

// Closes the current stage (its parties answered or its time is up).
static void
close_stage(struct agg_fed *fed, uint64_t now_ms)
{
	struct agg_secround *sa = &fed->sa;
	uint32_t ms = fed->cfg->round.secagg_stage_ms;
	fb_err err = FB_OK;
	switch (sa->stage) {
	case AGG_SA_ADVERTS:
		err = fb_secagg_server_close_adverts(sa->co);
		break;
	case AGG_SA_SHARES:
		err = fb_secagg_server_close_shares(sa->co);
		break;
	case AGG_SA_MASKED:
		err = fb_secagg_server_close_masked(sa->co);
		break;
	case AGG_SA_CONSIST:
		err = fb_secagg_server_close_consistency(sa->co);
		break;
	case AGG_SA_UNMASK:
		finish(fed, now_ms);
		return;
	case AGG_SA_DONE:
	case AGG_SA_FAILED:
		return;
	}
	note_counts(fed);
	if (err != FB_OK) {
		fail_round(fed, now_ms, "secagg-too-few", fb_last_error(err));
		return;
	}
	if (sa->stage == AGG_SA_ADVERTS) {
		sa->users_hint = fb_secagg_server_users(sa->co);
	}
	if (sa->stage == AGG_SA_ADVERTS &&
			!agg_secagg_no_wrap(&sa->p, sa->users_hint,
					fed->plan_cfg.noise_multiplier,
					fed->plan_cfg.clip_norm, sa->grid_log2,
					sa->ring_bits)) {
		fail_round(fed, now_ms, "secagg-over-bound",
				"the declared users' sum could wrap around "
				"the round's ring (secagg-v1 §2.2): the next "
				"round plans a wider one");
		return;
	}
	sa->stage++;
	sa->stage_since_ms = now_ms;
	sa->stage_deadline_ms = now_ms + ms;
	if (sa->stage == AGG_SA_MASKED) {
		// The masked inputs come until the round's deadline, at least
		// a stage's time after the inboxes are ready.
		if (fed->deadline_ms < now_ms + ms) {
			fed->deadline_ms = now_ms + ms;
		}
		sa->stage_deadline_ms = fed->deadline_ms;
	}
	fb_log(FB_LOG_DEBUG, "round %u: secure stage %d (U1 %u, U2 %u, U3 %u)",
			fed->round, (int)sa->stage, fed->st.sa_u1,
			fed->st.sa_u2, fed->st.sa_u3);
}

bool
agg_secround_tick(struct agg_fed *fed, uint64_t now_ms)
{
	struct agg_secround *sa = &fed->sa;
	while (sa->stage != AGG_SA_DONE && sa->stage != AGG_SA_FAILED) {
		if (expected(fed) > 0 && now_ms < sa->stage_deadline_ms) {
			return false;
		}
		close_stage(fed, now_ms);
	}
	return true;
}

uint64_t
agg_secround_deadline(const struct agg_fed *fed)
{
	return fed->sa.stage_deadline_ms;
}

void
agg_secround_close(struct agg_fed *fed)
{
	struct agg_secround *sa = &fed->sa;
	fb_secagg_server_destroy(sa->co);
	sa->co = NULL;
	sa->active = false;
	if (sa->index != NULL) {
		memset(sa->index, 0, fed->n_clients * sizeof(*sa->index));
	}
}

size_t
agg_secround_max_msg(const struct agg_fed *fed)
{
	const struct agg_secround *sa = &fed->sa;
	if (!sa->enabled) {
		return 0;
	}
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = fed->plan_cfg.clip_norm;
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			FB_WIRE_DTYPE_U64, 0, (uint32_t)sa->dim, 1,
			NULL}; // the widest ring: an upper bound
	u.n_tensors = 1;
	size_t n = fed->n_clients < FB_SA_PARTY_MAX ? fed->n_clients
						    : FB_SA_PARTY_MAX;
	size_t m = fb_wire_update_len(&u);
	size_t lists[4] = {fb_sa_peers_len((uint32_t)n),
			fb_sa_bundles_len((uint32_t)n),
			fb_sa_unmask_len((uint32_t)n, 0),
			fb_sa_sigs_len((uint32_t)n)};
	for (int k = 0; k < 4; k++) {
		m = lists[k] > m ? lists[k] : m;
	}
	return FB_SEALED_LEN(m);
}

// ---- Messages ----

// The checks every message of a secure round passes first: true if it is
// for the current secure round and c is one of its parties, else *out
// holds the answer. counted: the message may come after the round
// committed with c's input (an unmask), which is then its complete answer.
static bool
gate(struct agg_fed *fed, uint32_t c, uint32_t round_id, bool counted,
		struct agg_outcome *out)
{
	const struct agg_client *cl = &fed->clients[c];
	bool current = fed->state == AGG_COLLECTING && round_id == fed->round &&
			fed->sa.active;
	if (!current) {
		if (round_id != 0 &&
				(cl->offered == round_id ||
						round_id <= fed->earlier_life)) {
			if (counted && cl->last_round == round_id) {
				set_out(out, false, FB_WIRE_ACK_ACCEPTED,
						FB_WIRE_REASON_NONE, "");
			} else {
				set_out(out, false, FB_WIRE_ACK_LATE,
						FB_WIRE_REASON_LATE,
						"the round is closed");
			}
		} else {
			set_out(out, true, 0, FB_WIRE_REASON_WRONG_ROUND,
					"not a round you were offered");
		}
		return false;
	}
	if (!cl->participant || fed->sa.index[c] == 0) {
		set_out(out, false, FB_WIRE_ACK_REJECTED,
				FB_WIRE_REASON_NOT_SELECTED,
				"not a party of this round");
		return false;
	}
	if (cl->offered != round_id) {
		set_out(out, true, 0, FB_WIRE_REASON_WRONG_ROUND,
				"not a round you were offered");
		return false;
	}
	if (fed->sa.stage == AGG_SA_FAILED) {
		set_out(out, false, FB_WIRE_ACK_LATE, FB_WIRE_REASON_LATE,
				"the round is abandoned");
		return false;
	}
	return true;
}

// The answer to a coordinator's refusal of what c sent (what names it;
// set, the stage set it would have joined): another message of a party
// already in the set is a different copy (duplicate); out of its stage,
// late; otherwise malformed, which ends the session.
static void
refusal(struct agg_fed *fed, uint32_t c, const char *what,
		enum fb_secagg_stage set, fb_err err, struct agg_outcome *out)
{
	const char *detail = fb_last_error(err);
	uint32_t idx = fed->sa.index[c];
	if (err == FB_ESTATE) {
		fb_log(FB_LOG_INFO, "%s from %s (round %u): late: %s", what,
				fed->clients[c].name, fed->round, detail);
		set_out(out, false, FB_WIRE_ACK_LATE, FB_WIRE_REASON_LATE,
				"its stage is closed");
		return;
	}
	fb_log(FB_LOG_WARN, "refused %s from %s (round %u): %s", what,
			fed->clients[c].name, fed->round, detail);
	if (err == FB_EPROTO && fb_secagg_server_in(fed->sa.co, set, idx)) {
		set_out(out, false, FB_WIRE_ACK_REJECTED,
				FB_WIRE_REASON_DUPLICATE,
				"a different copy was counted");
	} else if (err == FB_EPROTO || err == FB_ECRYPTO) {
		set_out(out, true, 0, FB_WIRE_REASON_MALFORMED, what);
	} else {
		set_out(out, true, 0, FB_WIRE_REASON_INTERNAL, "internal");
	}
}

static void
wait_reply(const struct agg_fed *fed, struct agg_sa_reply *rep)
{
	rep->kind = AGG_SA_REPLY_WAIT;
	rep->retry_after_ms = fed->cfg->retry_after_ms;
}

static void
body_reply(struct agg_sa_reply *rep, uint8_t type, size_t len)
{
	rep->kind = AGG_SA_REPLY_BODY;
	rep->type = type;
	rep->len = len;
}

static void
late_reply(struct agg_sa_reply *rep, const char *text)
{
	rep->kind = AGG_SA_REPLY_OUT;
	set_out(&rep->out, false, FB_WIRE_ACK_LATE, FB_WIRE_REASON_LATE, text);
}

// Whether the users client c declares fit the bounds the operator set
// (secagg-v1 §10.4): at least the plan's min_users, at most its roster
// line's max_users or else round.secagg_max_users. If not, logs why
// (naming the retailer, the declared and the allowed numbers) and refuses
// the advertisement (out): the party is left out of the round.
static bool
users_allowed(const struct agg_fed *fed, uint32_t c, uint64_t users,
		struct agg_outcome *out)
{
	const struct agg_client *cl = &fed->clients[c];
	uint64_t min = fed->plan_cfg.min_users;
	uint64_t max = cl->max_users > 0 ? cl->max_users
					 : fed->cfg->round.secagg_max_users;
	const char *src = cl->max_users > 0 ? "its roster line's max_users"
					    : "round.secagg_max_users";
	if (max > 0 && users > max) {
		fb_log(FB_LOG_WARN,
				"refused SA_ADVERT from %s (round %u): it "
				"declares %llu users, above the %llu allowed "
				"(%s); left out of the round",
				cl->name, fed->round, (unsigned long long)users,
				(unsigned long long)max, src);
	} else if (users < min) {
		fb_log(FB_LOG_WARN,
				"refused SA_ADVERT from %s (round %u): it "
				"declares %llu users, below the plan's "
				"min_users %llu; left out of the round",
				cl->name, fed->round, (unsigned long long)users,
				(unsigned long long)min);
	} else {
		return true;
	}
	set_out(out, true, 0, FB_WIRE_REASON_POLICY_REFUSED,
			"declared users outside the allowed range");
	return false;
}

static void
on_advert(struct agg_fed *fed, uint32_t c, uint32_t idx, const uint8_t *body,
		size_t len, uint64_t now_ms, struct agg_sa_reply *rep)
{
	struct agg_secround *sa = &fed->sa;
	struct fb_sa_advert_msg m;
	fb_err err = fb_sa_advert_msg_decode(&m, body, len);
	if (err != FB_OK) {
		refusal(fed, c, "SA_ADVERT", FB_SA_ADVERTS, err, &rep->out);
		return;
	}
	if (!users_allowed(fed, c, m.users, &rep->out)) {
		return;
	}
	// A resend of the same bytes is answered as the first copy was,
	// whatever the stage (the coordinator tells it, *dup).
	bool dup = false;
	err = fb_secagg_server_add_advert(sa->co, idx, m.advert, m.users, &dup);
	if (err != FB_OK) {
		refusal(fed, c, "SA_ADVERT", FB_SA_ADVERTS, err, &rep->out);
		return;
	}
	if (!dup) {
		fb_crashpoint("agg.sa_advert"); // kept, not answered
	}
	agg_secround_tick(fed, now_ms);
	if (sa->stage == AGG_SA_ADVERTS) {
		wait_reply(fed, rep);
	} else if (sa->stage != AGG_SA_FAILED &&
			fb_secagg_server_in(sa->co, FB_SA_ADVERTS, idx)) {
		body_reply(rep, FB_WIRE_SA_PEERS,
				fb_secagg_server_peers_len(sa->co));
	} else {
		late_reply(rep, "the advertisements are closed");
	}
}

static void
on_shares(struct agg_fed *fed, uint32_t c, uint32_t idx, const uint8_t *body,
		size_t len, uint64_t now_ms, struct agg_sa_reply *rep)
{
	struct agg_secround *sa = &fed->sa;
	if (sa->stage == AGG_SA_ADVERTS) {
		set_out(&rep->out, true, 0, FB_WIRE_REASON_UNEXPECTED,
				"SA_SHARES before SA_PEERS");
		return;
	}
	bool dup = false;
	fb_err err = fb_secagg_server_add_shares(sa->co, idx, body, len, &dup);
	if (err != FB_OK) {
		refusal(fed, c, "SA_SHARES", FB_SA_SHARES, err, &rep->out);
		return;
	}
	if (!dup) {
		fb_crashpoint("agg.sa_shares"); // kept, not answered
	}
	agg_secround_tick(fed, now_ms);
	if (sa->stage == AGG_SA_SHARES) {
		wait_reply(fed, rep);
	} else if (sa->stage != AGG_SA_FAILED &&
			fb_secagg_server_inbox_len(sa->co, idx) > 0) {
		body_reply(rep, FB_WIRE_SA_INBOX,
				fb_secagg_server_inbox_len(sa->co, idx));
	} else {
		late_reply(rep, "the shares are closed");
	}
}

static void
on_unmask_poll(struct agg_fed *fed, uint32_t idx, struct agg_sa_reply *rep)
{
	struct agg_secround *sa = &fed->sa;
	if (!fb_secagg_server_in(sa->co, FB_SA_MASKED, idx)) {
		late_reply(rep, "your masked input is not in the round");
	} else if (sa->stage < AGG_SA_CONSIST) {
		wait_reply(fed, rep);
	} else {
		body_reply(rep, FB_WIRE_SA_UNMASK_REQ,
				fb_secagg_server_unmask_req_len(sa->co));
	}
}

// SA_CONSISTENCY (secagg-v1 §3.5): the survivor's signature of the sets,
// verified and kept; answered with PLAN WAIT until the signatures close,
// then with SA_SIGNATURES (to a signer).
static void
on_consist(struct agg_fed *fed, uint32_t c, uint32_t idx, const uint8_t *body,
		size_t len, uint64_t now_ms, struct agg_sa_reply *rep)
{
	struct agg_secround *sa = &fed->sa;
	if (sa->stage < AGG_SA_CONSIST) {
		set_out(&rep->out, true, 0, FB_WIRE_REASON_UNEXPECTED,
				"SA_CONSISTENCY before SA_UNMASK_REQ");
		return;
	}
	if (!fb_secagg_server_in(sa->co, FB_SA_MASKED, idx)) {
		late_reply(rep, "your masked input is not in the round");
		return;
	}
	const uint8_t *sig = NULL;
	bool dup = false;
	fb_err err = fb_sa_consistency_decode(&sig, body, len);
	if (err == FB_OK) {
		err = fb_secagg_server_add_consistency(sa->co, idx, sig, &dup);
	}
	if (err == FB_EPROTO && fb_secagg_server_signed(sa->co, idx)) {
		fb_log(FB_LOG_WARN, "refused SA_CONSISTENCY from %s: %s",
				fed->clients[c].name, fb_last_error(err));
		set_out(&rep->out, false, FB_WIRE_ACK_REJECTED,
				FB_WIRE_REASON_DUPLICATE,
				"a different copy was counted");
		return;
	}
	if (err != FB_OK) {
		refusal(fed, c, "SA_CONSISTENCY", FB_SA_DONE, err, &rep->out);
		return;
	}
	if (!dup) {
		fb_crashpoint("agg.sa_consist"); // kept, not answered
	}
	agg_secround_tick(fed, now_ms);
	size_t sl = fb_secagg_server_sigs_len(sa->co);
	if (sa->stage == AGG_SA_CONSIST) {
		wait_reply(fed, rep);
	} else if (sa->stage != AGG_SA_FAILED && sl > 0) {
		body_reply(rep, FB_WIRE_SA_SIGNATURES, sl);
	} else {
		late_reply(rep, "the consistency round is closed");
	}
}

static void
on_unmask(struct agg_fed *fed, uint32_t c, uint32_t idx, const uint8_t *body,
		size_t len, uint64_t now_ms, struct agg_sa_reply *rep)
{
	struct agg_secround *sa = &fed->sa;
	if (sa->stage < AGG_SA_UNMASK) {
		set_out(&rep->out, true, 0, FB_WIRE_REASON_UNEXPECTED,
				"SA_UNMASK before SA_SIGNATURES");
		return;
	}
	if (!fb_secagg_server_in(sa->co, FB_SA_MASKED, idx)) {
		late_reply(rep, "your masked input is not in the round");
		return;
	}
	if (sa->stage == AGG_SA_UNMASK) {
		bool dup = false;
		fb_err err = fb_secagg_server_add_reveal(
				sa->co, idx, body, len, &dup);
		if (err != FB_OK) {
			refusal(fed, c, "SA_UNMASK", FB_SA_UNMASK, err,
					&rep->out);
			return;
		}
		if (!dup) {
			fb_crashpoint("agg.sa_unmask"); // kept, not answered
		}
		agg_secround_tick(fed, now_ms);
	}
	set_out(&rep->out, false, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE,
			"");
}

void
agg_fed_sa_request(struct agg_fed *fed, uint32_t c, uint8_t type,
		uint32_t round_id, const uint8_t *body, size_t len,
		uint64_t now_ms, struct agg_sa_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->kind = AGG_SA_REPLY_OUT;
	bool counted = type == FB_WIRE_POLL || type == FB_WIRE_SA_UNMASK ||
			type == FB_WIRE_SA_CONSISTENCY;
	if (!gate(fed, c, round_id, counted, &rep->out)) {
		return;
	}
	uint32_t idx = fed->sa.index[c];
	switch (type) {
	case FB_WIRE_SA_ADVERT:
		on_advert(fed, c, idx, body, len, now_ms, rep);
		return;
	case FB_WIRE_SA_SHARES:
		on_shares(fed, c, idx, body, len, now_ms, rep);
		return;
	case FB_WIRE_POLL:
		on_unmask_poll(fed, idx, rep);
		return;
	case FB_WIRE_SA_CONSISTENCY:
		on_consist(fed, c, idx, body, len, now_ms, rep);
		return;
	case FB_WIRE_SA_UNMASK:
		on_unmask(fed, c, idx, body, len, now_ms, rep);
		return;
	default:
		set_out(&rep->out, true, 0, FB_WIRE_REASON_UNEXPECTED,
				"not a request");
	}
}

void
agg_fed_sa_write(const struct agg_fed *fed, uint32_t c,
		const struct agg_sa_reply *rep, uint8_t *out)
{
	const struct agg_secround *sa = &fed->sa;
	switch (rep->type) {
	case FB_WIRE_SA_PEERS:
		fb_secagg_server_peers(sa->co, out);
		break;
	case FB_WIRE_SA_INBOX:
		if (fb_secagg_server_inbox(sa->co, sa->index[c], out) !=
				FB_OK) {
			fb_panic("agg_fed_sa_write: no inbox for index %u",
					sa->index[c]);
		}
		break;
	case FB_WIRE_SA_UNMASK_REQ:
		fb_secagg_server_unmask_req(sa->co, out);
		break;
	case FB_WIRE_SA_SIGNATURES:
		fb_secagg_server_sigs(sa->co, out);
		break;
	default:
		fb_panic("agg_fed_sa_write: no body of type 0x%02x", rep->type);
	}
}

void
agg_secround_update(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const uint8_t *body, size_t len, uint64_t now_ms,
		struct agg_outcome *out)
{
	struct agg_secround *sa = &fed->sa;
	struct agg_client *cl = &fed->clients[c];
	if (sa->stage != AGG_SA_MASKED) {
		if (sa->stage < AGG_SA_MASKED) {
			set_out(out, true, 0, FB_WIRE_REASON_UNEXPECTED,
					"UPDATE before SA_INBOX");
		} else {
			fed->st.late++;
			set_out(out, false, FB_WIRE_ACK_LATE,
					FB_WIRE_REASON_LATE,
					"the masked inputs are closed");
		}
		return;
	}
	const struct fb_model *m = &fed->model;
	uint32_t rows = m->n_items > m->n_bundles ? m->n_items : m->n_bundles;
	rows = rows > m->n_attrs ? rows : m->n_attrs;
	rows = rows > sa->dim ? rows : (uint32_t)sa->dim;
	struct fb_wire_limits lim = {FB_WIRE_MAX_TENSORS, rows, m->dim, true};
	struct fb_wire_update u;
	fb_err err = fb_wire_update_decode(&u, body, len, &lim);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN,
				"refused UPDATE from %s (round %u): "
				"malformed: %s",
				cl->name, round_id, fb_last_error(err));
		set_out(out, true, 0, FB_WIRE_REASON_MALFORMED,
				"malformed UPDATE");
		return;
	}
	const struct fb_wire_tensor *t = NULL;
	for (uint32_t k = 0; k < u.n_tensors; k++) {
		if (u.tensors[k].id == FB_WIRE_TENSOR_MASKED) {
			t = &u.tensors[k];
		}
	}
	uint16_t reason = FB_WIRE_REASON_NONE;
	const char *text = "";
	if (t == NULL || t->dtype != fb_wire_dtype_of_ring(sa->ring_bits) ||
			t->rows != sa->dim || t->cols != 1) {
		reason = FB_WIRE_REASON_SHAPE_MISMATCH;
		text = "a secure round's UPDATE is one MASKED tensor of the "
		       "release's length in the plan's ring (u64, u48, u32)";
	} else if (u.clip_norm != fed->plan_cfg.clip_norm ||
			u.noise_multiplier != fed->plan_cfg.noise_multiplier) {
		reason = FB_WIRE_REASON_PRIVACY_MISMATCH;
		text = "clip_norm or noise_multiplier differ from the plan's";
	}
	if (reason != FB_WIRE_REASON_NONE) {
		fb_log(FB_LOG_WARN, "refused UPDATE from %s (round %u): %s: %s",
				cl->name, round_id, fb_wire_reason_name(reason),
				text);
		cl->status = AGG_CL_REJECTED;
		cl->refuse_reason = reason;
		fed->st.rejected++;
		set_out(out, false, FB_WIRE_ACK_REJECTED, reason, text);
		return;
	}
	bool dup = false;
	err = fb_secagg_server_add_masked(
			sa->co, sa->index[c], t->data, sa->dim, &dup);
	if (err != FB_OK) {
		refusal(fed, c, "UPDATE", FB_SA_MASKED, err, out);
		return;
	}
	cl->status = AGG_CL_UPDATE;
	cl->epsilon = u.epsilon_spent;
	cl->reported = true;
	fed->st.updates++;
	fed->acc.n++;
	note_counts(fed);
	if (!dup) {
		fb_crashpoint("agg.sa_masked"); // summed, not acknowledged
	}
	fb_log(FB_LOG_DEBUG, "round %u: masked input of %s counted", round_id,
			cl->name);
	agg_secround_tick(fed, now_ms);
	set_out(out, false, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE, "");
}

void
agg_fed_client_error(struct agg_fed *fed, uint32_t c, uint32_t round_id)
{
	struct agg_secround *sa = &fed->sa;
	if (fed->state != AGG_COLLECTING || !sa->active ||
			round_id != fed->round || sa->index[c] == 0) {
		return;
	}
	// Its round state is gone (it refused a stage's message, or a reply
	// it could not use): a stage no longer waits for it.
	sa->quit[c] = true;
	fb_log(FB_LOG_INFO, "round %u: %s left the secure round", round_id,
			fed->clients[c].name);
}
