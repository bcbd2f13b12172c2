// tests/unit/test-secround.c: the aggregator's side of secure aggregation
// (server/secround.c, protocols/secagg-v1.md): its configuration keys and
// their refusals, the parameters of a round of n parties, the no-wrap
// bound of §2.2, the consortium id of §3.6 and the step the aggregator
// makes from an unmasked sum, checked against the formula of the plan
// (gradient = sum * grid / (q * N), one SGD step) on the toy catalogue;
// and whole secure rounds driven in-process through the calls
// server/serve.c makes (agg_fed_poll, agg_fed_sa_request, agg_fed_update,
// agg_fed_tick) by clients built on the real client state
// (include/fedbundle/secagg/client.h): a commit that moves the model by
// exactly the step of the inputs' sum, a dropout after the shares, too
// few parties, a sum over the honest bound, resends and late messages.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/util/log.h"
#include "harness.h"
#include "server/config.h"
#include "server/round.h"
#include "server/secround.h"

static char workdir[64];
static struct fb_dataset *catalogue;

// Writes the configuration {base keys, round: {round}, extra top keys}
// and loads it into *cfg.
static fb_err
load(struct agg_config *cfg, const char *top, const char *round)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/agg.json", workdir);
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		return FB_EIO;
	}
	fprintf(fp,
			"{\"key\": \"k\", \"roster\": \"r\", \"catalog\": "
			"\"c\"%s%s, \"round\": {\"min_users\": 10, "
			"\"noise_multiplier\": 1%s%s}}\n",
			top[0] != '\0' ? ", " : "", top,
			round[0] != '\0' ? ", " : "", round);
	fclose(fp);
	return agg_config_load(cfg, path);
}

TEST(secure_defaults_one_sgd_release_per_round)
{
	struct agg_config cfg;
	CHECK_OK(load(&cfg, "", "\"secure_aggregation\": true"));
	CHECK(cfg.round.secure_aggregation);
	CHECK(cfg.round.local_steps == 1);
	CHECK(cfg.round.hp.optimizer == FB_OPT_SGD);
	CHECK(cfg.round.secagg_threshold == 0);
	CHECK(cfg.round.secagg_min_survivors == 0);
	CHECK(cfg.round.secagg_assumed_colluders == 0);
	CHECK(cfg.round.secagg_stage_ms == 10000);
	// Without it, the defaults are the usual ones.
	struct agg_config d, plain;
	agg_config_defaults(&d);
	CHECK_OK(load(&plain, "", ""));
	CHECK(!plain.round.secure_aggregation);
	CHECK(plain.round.local_steps == d.round.local_steps);
	CHECK(plain.round.hp.optimizer == d.round.hp.optimizer);
	// Explicit values that fit are kept.
	CHECK_OK(load(&cfg, "",
			"\"secure_aggregation\": true, \"local_steps\": 1, "
			"\"optimizer\": \"sgd\", \"secagg_threshold\": 3, "
			"\"secagg_min_survivors\": 4, "
			"\"secagg_assumed_colluders\": 1, "
			"\"secagg_stage_ms\": 500"));
	CHECK(cfg.round.secagg_threshold == 3);
	CHECK(cfg.round.secagg_min_survivors == 4);
	CHECK(cfg.round.secagg_assumed_colluders == 1);
	CHECK(cfg.round.secagg_stage_ms == 500);
}

// Loads and expects FB_EINVAL whose detail names key.
static void
refused(const char *top, const char *round, const char *key)
{
	struct agg_config cfg;
	CHECK_ERR(load(&cfg, top, round), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), key);
}

TEST(secure_refuses_what_it_cannot_run)
{
	refused("", "\"secure_aggregation\": true, \"local_steps\": 2",
			"round.local_steps");
	refused("", "\"secure_aggregation\": true, \"optimizer\": \"adam\"",
			"round.optimizer");
	refused("", "\"secure_aggregation\": true, \"granularity\": \"client\"",
			"round.granularity");
	refused("", "\"secure_aggregation\": true, \"granularity\": \"none\"",
			"round.granularity");
	refused("\"participation\": \"sampled\"",
			"\"secure_aggregation\": true", "participation");
	refused("",
			"\"secure_aggregation\": true, \"secagg_threshold\": 4, "
			"\"secagg_min_survivors\": 3",
			"round.secagg_min_survivors");
	refused("",
			"\"secure_aggregation\": true, \"secagg_threshold\": 3, "
			"\"secagg_assumed_colluders\": 3",
			"round.secagg_assumed_colluders");
	refused("", "\"secure_aggregation\": true, \"secagg_threshold\": 2001",
			"secagg_threshold");
	refused("", "\"secure_aggregation\": true, \"secagg_stage_ms\": 0",
			"secagg_stage_ms");
}

TEST(round_parameters_follow_the_parties)
{
	struct agg_config cfg;
	agg_config_defaults(&cfg);
	struct agg_round_config *r = &cfg.round;
	r->secure_aggregation = true;
	struct agg_secagg_params p;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.n == 4 && p.t == 3 && p.n_min == 3 && p.h == 3);
	// The default n_min tolerates max(1, floor(n / 10)) dropouts, never
	// below t.
	CHECK_OK(agg_secagg_params(r, 5, &p));
	CHECK(p.t == 3 && p.n_min == 4 && p.h == 4);
	CHECK_OK(agg_secagg_params(r, 3, &p));
	CHECK(p.t == 2 && p.n_min == 2 && p.h == 2);
	CHECK_OK(agg_secagg_params(r, 16, &p));
	CHECK(p.t == 9 && p.n_min == 15 && p.h == 15);
	CHECK_OK(agg_secagg_params(r, 100, &p));
	CHECK(p.t == 51 && p.n_min == 90 && p.h == 90);
	CHECK_ERR(agg_secagg_params(r, 2, &p), FB_EINVAL);
	CHECK_ERR(agg_secagg_params(r, 2001, &p), FB_EINVAL);
	// c colluders: t > (n + c) / 2 (secagg-v1 §10.3), h = n_min - c.
	r->secagg_assumed_colluders = 1;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.t == 3 && p.n_min == 3 && p.h == 2);
	r->secagg_threshold = 2; // 2 * 2 <= 4 + 1
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_threshold");
	r->secagg_threshold = 5; // more than the parties
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	r->secagg_threshold = 3;
	r->secagg_min_survivors = 5;
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_min_survivors");
	r->secagg_min_survivors = 4;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.t == 3 && p.n_min == 4 && p.h == 3);
}

TEST(no_wrap_bound_of_the_ring)
{
	struct agg_secagg_params p = {4, 3, 3, 3};
	// fedbundle's grid: 2^26..2^27 noise steps, clip below 2^31 steps.
	int32_t g = fb_dp_grid_for(1.0 * 1.0, 1.0);
	CHECK(agg_secagg_no_wrap(&p, 4, 1.0, 1.0, g, 64));
	CHECK(agg_secagg_no_wrap(&p, 1000000, 1.0, 1.0, g, 64));
	// A grid so fine that the clip alone is 2^62 steps: 4 users wrap.
	CHECK(!agg_secagg_no_wrap(&p, 4, 1.0, 1.0, -62, 64));
	// 2^31 steps a user: 2^32 users wrap, 2^30 do not.
	CHECK(agg_secagg_no_wrap(&p, (uint64_t)1 << 30, 1e-9, 1.0, -31, 64));
	CHECK(!agg_secagg_no_wrap(&p, (uint64_t)1 << 32, 1e-9, 1.0, -31, 64));
	// The narrower rings: at fedbundle's grid the noise term alone
	// (40 x 2^26 steps) passes 2^31, so 32 bits never fit; 48 bits fit
	// a million users at sigma 1 but not 2^21.
	CHECK(!agg_secagg_no_wrap(&p, 4, 1.0, 1.0, g, 32));
	CHECK(agg_secagg_no_wrap(&p, 1000000, 1.0, 1.0, g, 48));
	CHECK(!agg_secagg_no_wrap(&p, (uint64_t)1 << 21, 1.0, 1.0, g, 48));
	CHECK(fb_secagg_ring_choose(4, 4, 3, 1.0, 1.0, g) == 48);
	CHECK(fb_secagg_ring_choose((uint64_t)1 << 21, 4, 3, 1.0, 1.0, g) ==
			64);
	// Without noise and with a coarse grid 32 bits fit.
	CHECK(fb_secagg_ring_choose(1000, 4, 3, 0.0, 1.0, -20) == 32);
	CHECK(fb_secagg_ring_choose(4, 4, 3, 1.0, 1.0, -62) == 0);
	// The aggregator's plan: n users before any declaration, the
	// declared users after, n again when even 64 bits cannot hold those.
	CHECK(fb_secagg_ring_plan(0, 4, 3, 1.0, 1.0, g) == 48);
	CHECK(fb_secagg_ring_plan((uint64_t)1 << 21, 4, 3, 1.0, 1.0, g) == 64);
	CHECK(fb_secagg_ring_plan((uint64_t)1 << 40, 4, 3, 1.0, 1.0, g) == 48);
	CHECK(fb_secagg_ring_plan(0, 4, 3, 1.0, 1.0, -62) == 0);
	// The honest sum bound: the users sampled times one user's bound,
	// plus the noise's bound; more users, more parties: larger.
	double B = floor(ldexp(1.0, -g));
	double b1 = agg_secagg_sum_bound(&p, 3, 300, 0.1, 1.0, 1.0, g, 100);
	double b2 = agg_secagg_sum_bound(&p, 4, 300, 0.1, 1.0, 1.0, g, 100);
	double b3 = agg_secagg_sum_bound(&p, 4, 3000, 0.1, 1.0, 1.0, g, 100);
	CHECK(b1 > 30 * B && b2 > b1 && b3 > b2 + 200 * B);
}

TEST(consortium_id_is_the_spec_hash)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/roster", workdir);
	FILE *fp = fopen(path, "w");
	CHECK(fp != NULL);
	fputs("a line\n", fp);
	fclose(fp);
	uint8_t pk[FB_ID_PK_LEN];
	memset(pk, 7, sizeof(pk));
	uint8_t id[FB_SECAGG_CONSORTIUM_LEN];
	CHECK_OK(agg_secagg_consortium(pk, path, id));
	// secagg-v1 §3.6, computed here from the definition.
	uint8_t rh[32], full[32];
	crypto_generichash(rh, 32, (const uint8_t *)"a line\n", 7, NULL, 0);
	uint8_t msg[30 + 32 + 32];
	memcpy(msg, "fedbundle/secagg-v1/consortium", 30);
	memcpy(msg + 30, pk, 32);
	memcpy(msg + 62, rh, 32);
	crypto_generichash(full, 32, msg, sizeof(msg), NULL, 0);
	CHECK(memcmp(id, full, FB_SECAGG_CONSORTIUM_LEN) == 0);
	snprintf(path, sizeof(path), "%s/no-such-roster", workdir);
	CHECK(agg_secagg_consortium(pk, path, id) != FB_OK);
}

// A federation with secure aggregation over the toy catalogue.
static void
open_fed(struct agg_fed *fed, struct agg_config *cfg, struct fb_roster **ro)
{
	agg_config_defaults(cfg);
	snprintf(cfg->checkpoint_dir, sizeof(cfg->checkpoint_dir), "%s/ck",
			workdir);
	cfg->public_init = false;
	cfg->round.noise_multiplier = 1;
	cfg->round.hp.dim = 8;
	cfg->round.hp.use_attrs = false;
	cfg->round.hp.optimizer = FB_OPT_SGD;
	cfg->round.hp.l2 = 0;
	cfg->round.hp.lr = 0.5;
	cfg->round.local_steps = 1;
	cfg->round.min_users = 10;
	cfg->round.secure_aggregation = true;
	strcpy(cfg->key, "k");
	strcpy(cfg->roster, "r");
	strcpy(cfg->catalog, "c");
	CHECK_OK(agg_config_check(cfg, "test"));
	CHECK_OK(fb_roster_create(ro));
	for (uint32_t c = 0; c < 4; c++) {
		uint8_t pk[FB_ID_PK_LEN];
		memset(pk, (int)c + 1, sizeof(pk));
		char name[16];
		snprintf(name, sizeof(name), "retailer-%u", c);
		CHECK_OK(fb_roster_add(*ro, pk, name));
	}
	CHECK_OK(agg_fed_init(fed, cfg, catalogue, *ro, 0));
	fed->human = NULL;
}

TEST(step_from_the_sum_is_the_clients_dp_step)
{
	static struct agg_config cfg;
	static struct agg_fed fed;
	struct fb_roster *ro = NULL;
	open_fed(&fed, &cfg, &ro);
	struct agg_secround *sa = &fed.sa;
	CHECK(sa->enabled && sa->dim > 0);
	CHECK(sa->grid_log2 ==
			fb_dp_grid_for(fed.plan_cfg.noise_multiplier *
							cfg.round.clip,
					cfg.round.clip));
	struct fb_release_layout L;
	fb_hparams_release_layout(&fed.plan_cfg.hp, fed.model.n_items,
			fed.model.n_bundles, &L);
	CHECK(L.len == sa->dim);
	int64_t *sum = calloc(sa->dim, sizeof(*sum));
	CHECK(sum != NULL);
	for (size_t k = 0; k < sa->dim; k++) {
		sum[k] = (int64_t)(k % 7) * 1000003 - 3000000;
	}
	struct fb_model delta;
	CHECK_OK(fb_model_init(&delta, fed.model.n_items, fed.model.n_bundles,
			fed.model.n_attrs, fed.model.dim));
	uint64_t users = 123;
	CHECK_OK(agg_secround_delta(&fed, sum, users, &delta));
	// SGD, l2 0: W_b moves by -lr * grad of b's representation, which
	// is the layout's coordinates of b times grid / (q N).
	double scale = ldexp(1.0, sa->grid_log2) /
			(fed.plan_cfg.sampling_rate * (double)users);
	double lr = fed.plan_cfg.hp.lr;
	for (uint32_t b = 0; b < L.n_bundles; b++) {
		for (uint32_t c = 0; c < L.per_bundle; c++) {
			uint32_t col = c < L.lead ? c : L.dim - 1;
			double want = -lr *
					(float)((double)sum[b * L.per_bundle +
								c] *
							scale);
			double got = fb_matrix_row(&delta.W, b)[col];
			CHECK_NEAR(got, want, 1e-6 + 1e-4 * fabs(want));
		}
	}
	CHECK_ERR(agg_secround_delta(&fed, sum, 0, &delta), FB_EINVAL);
	fb_model_finish(&delta);
	free(sum);
	agg_fed_finish(&fed);
	fb_roster_destroy(ro);
}

TEST(parameters_that_never_fit_the_roster_are_refused_at_start)
{
	static struct agg_config cfg;
	static struct agg_fed fed;
	struct fb_roster *ro = NULL;
	open_fed(&fed, &cfg, &ro);
	agg_fed_finish(&fed);
	cfg.round.secagg_threshold = 5; // 4 enrolled clients
	CHECK_ERR(agg_fed_init(&fed, &cfg, catalogue, ro, 0), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_threshold");
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "4 enrolled");
	cfg.round.secagg_threshold = 0;
	cfg.round.secagg_assumed_colluders = 3; // t = 4, n_min 4, h = 1
	CHECK_OK(agg_fed_init(&fed, &cfg, catalogue, ro, 0));
	agg_fed_finish(&fed);
	cfg.round.secagg_assumed_colluders = 4; // t = 5 > 4
	CHECK_ERR(agg_fed_init(&fed, &cfg, catalogue, ro, 0), FB_EINVAL);
	fb_roster_destroy(ro);
}

// ---- Whole rounds ----

#define N_PARTIES 4
#define STAGE_MS 1000

// A federation of N_PARTIES real identities and what its parties hold.
struct party {
	struct fb_identity *id;
	struct fb_secagg_client *sc;
	uint32_t index;
	uint64_t users;
	int64_t *x; // its input (the release a client would mask)
	uint8_t *last;
	size_t last_len;
	uint8_t *shares; // its SA_SHARES body, for resends
	size_t shares_len;
	uint32_t sets[N_PARTIES]; // the signed survivors then dropped
	uint32_t ns, nd;
	uint8_t sig[FB_SA_CONSISTENCY_LEN]; // its SA_CONSISTENCY body
};

struct srig {
	struct agg_config cfg;
	struct fb_roster *roster;
	struct agg_fed fed;
	struct party p[N_PARTIES];
	uint8_t keys[N_PARTIES * FB_ID_PK_LEN]; // from the plan
	struct fb_wire_secagg sa;               // client 0's plan field
	uint64_t now;
	uint32_t round;              // the round the parties were planned for
	struct agg_round_stats last; // of the last closed round
	uint32_t closed;
};

static void
srig_observe(void *ctx, const struct agg_fed *fed, enum agg_event ev)
{
	struct srig *g = ctx;
	if (ev == AGG_EV_CLOSED) {
		g->last = fed->st;
		g->closed++;
	}
}

static void
srig_open(struct srig *g)
{
	memset(g, 0, sizeof(*g));
	struct agg_config *cfg = &g->cfg;
	agg_config_defaults(cfg);
	static unsigned counter;
	snprintf(cfg->checkpoint_dir, sizeof(cfg->checkpoint_dir), "%s/r%u",
			workdir, counter++);
	cfg->rounds = 3;
	cfg->public_init = false;
	cfg->deadline_ms = 5000;
	cfg->round.noise_multiplier = 1;
	cfg->round.hp.dim = 8;
	cfg->round.hp.use_attrs = false;
	cfg->round.hp.optimizer = FB_OPT_SGD;
	cfg->round.local_steps = 1;
	cfg->round.min_users = 10;
	cfg->round.secure_aggregation = true;
	cfg->round.secagg_stage_ms = STAGE_MS;
	CHECK_OK(fb_roster_create(&g->roster));
	char path[128];
	snprintf(path, sizeof(path), "%s/roster-%u", workdir, counter);
	FILE *fp = fopen(path, "w");
	CHECK(fp != NULL);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		char name[16];
		snprintf(name, sizeof(name), "retailer-%u", c);
		CHECK_OK(fb_identity_generate(&g->p[c].id, name));
		const uint8_t *pk = fb_identity_public_key(g->p[c].id);
		CHECK_OK(fb_roster_add(g->roster, pk, name));
		char line[FB_ID_PUB_LINE_MAX + 1];
		CHECK_OK(fb_peer_key_format(pk, name, line, sizeof(line)));
		fputs(line, fp);
		g->p[c].users = 100 + 10 * c;
	}
	fclose(fp);
	CHECK_OK(agg_fed_init(&g->fed, cfg, catalogue, g->roster, 0));
	g->fed.human = NULL;
	g->fed.observer = srig_observe;
	g->fed.observer_ctx = g;
	uint8_t agg_pk[FB_ID_PK_LEN];
	memset(agg_pk, 9, sizeof(agg_pk));
	CHECK_OK(agg_fed_set_consortium(&g->fed, agg_pk, path));
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		g->fed.clients[c].connected = true;
		g->p[c].x = calloc(g->fed.sa.dim, sizeof(int64_t));
		CHECK(g->p[c].x != NULL);
		for (size_t k = 0; k < g->fed.sa.dim; k++) {
			g->p[c].x[k] = ((int64_t)((k + c) % 9) - 4) * 100000;
		}
	}
}

static void
srig_close(struct srig *g)
{
	agg_fed_finish(&g->fed);
	fb_roster_destroy(g->roster);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		fb_identity_destroy(g->p[c].id);
		fb_secagg_client_destroy(g->p[c].sc);
		free(g->p[c].x);
		free(g->p[c].last);
		free(g->p[c].shares);
	}
}

static void
srig_tick(struct srig *g, uint64_t ms)
{
	g->now = ms;
	agg_fed_tick(&g->fed, ms);
}

// Client c's request; a body reply is written into p->last.
static struct agg_sa_reply
srig_request(struct srig *g, uint32_t c, uint8_t type, const uint8_t *body,
		size_t len)
{
	struct agg_sa_reply rep;
	agg_fed_sa_request(&g->fed, c, type, g->round, body, len, g->now, &rep);
	if (rep.kind == AGG_SA_REPLY_BODY) {
		struct party *p = &g->p[c];
		free(p->last);
		p->last = malloc(rep.len);
		CHECK(p->last != NULL);
		p->last_len = rep.len;
		agg_fed_sa_write(&g->fed, c, &rep, p->last);
	}
	return rep;
}

// Round 1 planned, every party sent PLAN TRAIN and its client state made.
static void
srig_plan(struct srig *g)
{
	srig_tick(g, 0);
	CHECK(g->fed.state == AGG_COLLECTING && g->fed.sa.active);
	g->round = g->fed.round;
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct fb_wire_plan plan;
		agg_fed_poll(&g->fed, c, FB_WIRE_POLL_READY, g->now, &plan);
		CHECK(plan.kind == FB_WIRE_PLAN_TRAIN);
		CHECK(plan.config.has_secagg);
		const struct fb_wire_secagg *sa = &plan.config.sa;
		CHECK(sa->n == N_PARTIES && sa->index == c + 1);
		CHECK(sa->t == 3 && sa->n_min == 3 && sa->noise_shares == 3);
		CHECK(memcmp(sa->keys + c * FB_ID_PK_LEN,
				      fb_identity_public_key(g->p[c].id),
				      FB_ID_PK_LEN) == 0);
		// The plan encodes (the codec checks the field).
		size_t len = fb_wire_plan_len(&plan);
		CHECK(len > 0);
		if (c == 0) {
			g->sa = *sa;
			memcpy(g->keys, sa->keys, sizeof(g->keys));
			g->sa.keys = g->keys;
		}
		struct fb_secagg_client_params cp = {.n = sa->n,
				.t = sa->t,
				.index = sa->index,
				.ring_bits = sa->ring_bits,
				.consistency = true};
		// fedbundle's grid: the aggregator picks Z_(2^48) (§2.2).
		CHECK(sa->ring_bits == 48);
		memcpy(cp.ctx.consortium, sa->consortium,
				FB_SECAGG_CONSORTIUM_LEN);
		cp.ctx.round = g->fed.round;
		CHECK_OK(fb_secagg_client_create(&g->p[c].sc, &cp));
		g->p[c].index = sa->index;
	}
}

static struct agg_sa_reply
send_advert(struct srig *g, uint32_t c)
{
	uint8_t adv[FB_SECAGG_ADVERT_LEN], body[FB_SA_ADVERT_MSG_LEN];
	CHECK_OK(fb_secagg_client_advert(g->p[c].sc, g->p[c].id, adv));
	CHECK_OK(fb_sa_advert_msg_encode(body, adv, g->p[c].users));
	return srig_request(g, c, FB_WIRE_SA_ADVERT, body, sizeof(body));
}

// Client c takes its SA_PEERS and sends its SA_SHARES.
static struct agg_sa_reply
send_shares(struct srig *g, uint32_t c)
{
	struct party *p = &g->p[c];
	struct fb_sa_list l;
	CHECK_OK(fb_sa_peers_decode(&l, p->last, p->last_len));
	uint32_t peers[N_PARTIES], n = 0;
	for (uint32_t i = 0; i < l.count; i++) {
		const uint8_t *adv = fb_sa_peers_advert(&l, i);
		uint32_t k = fb_sa_advert_index(adv);
		if (k == p->index) {
			continue;
		}
		CHECK_OK(fb_secagg_client_add_peer(
				p->sc, adv, g->keys + (k - 1) * FB_ID_PK_LEN));
		peers[n++] = k;
	}
	size_t len = fb_sa_bundles_len(n);
	uint8_t *body = malloc(len);
	CHECK(body != NULL);
	uint8_t *first = fb_sa_bundles_init(body, n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN];
		CHECK_OK(fb_secagg_client_seal_shares(p->sc, peers[i], sealed));
		fb_sa_bundles_put(first, i, peers[i], sealed);
	}
	free(p->shares);
	p->shares = body;
	p->shares_len = len;
	return srig_request(g, c, FB_WIRE_SA_SHARES, body, len);
}

// Client c opens its SA_INBOX, masks x and sends its UPDATE.
static struct agg_outcome
send_masked(struct srig *g, uint32_t c)
{
	struct party *p = &g->p[c];
	struct fb_sa_list l;
	CHECK_OK(fb_sa_bundles_decode(&l, p->last, p->last_len));
	for (uint32_t i = 0; i < l.count; i++) {
		CHECK_OK(fb_secagg_client_open_shares(p->sc,
				fb_sa_bundles_party(&l, i),
				fb_sa_bundles_sealed(&l, i)));
	}
	size_t dim = g->fed.sa.dim;
	uint64_t *y = malloc(dim * sizeof(*y));
	CHECK(y != NULL);
	CHECK_OK(fb_secagg_client_mask(p->sc, p->x, dim, y));
	fb_secagg_ring_pack(y, y, dim, g->sa.ring_bits); // in place: 6 <= 8
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = g->fed.plan_cfg.clip_norm;
	u.noise_multiplier = g->fed.plan_cfg.noise_multiplier;
	u.epsilon_spent = 1;
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			fb_wire_dtype_of_ring(g->sa.ring_bits),
			(int8_t)g->fed.sa.grid_log2, (uint32_t)dim, 1, y};
	u.n_tensors = 1;
	size_t len = fb_wire_update_len(&u);
	uint8_t *body = aligned_alloc(16, (len + 15) / 16 * 16);
	CHECK(body != NULL);
	CHECK_OK(fb_wire_update_encode(body, len, &u, &len, NULL));
	struct agg_outcome out;
	agg_fed_update(&g->fed, c, g->round, body, len, g->now, &out);
	free(body);
	free(y);
	return out;
}

// Client c polls UNMASK, signs the request's sets and sends its
// SA_CONSISTENCY (secagg-v1 §3.5).
static struct agg_sa_reply
send_consistency(struct srig *g, uint32_t c)
{
	struct party *p = &g->p[c];
	struct agg_sa_reply rep = srig_request(g, c, FB_WIRE_POLL, NULL, 0);
	CHECK(rep.kind == AGG_SA_REPLY_BODY &&
			rep.type == FB_WIRE_SA_UNMASK_REQ);
	struct fb_sa_unmask_req r;
	CHECK_OK(fb_sa_unmask_req_decode(&r, p->last, p->last_len));
	fb_sa_unmask_req_copy(&r, p->sets, p->sets + r.ns);
	p->ns = r.ns;
	p->nd = r.nd;
	CHECK_OK(fb_secagg_client_sign_sets(p->sc, p->id, p->sets, r.ns,
			p->sets + r.ns, r.nd, p->sig));
	return srig_request(
			g, c, FB_WIRE_SA_CONSISTENCY, p->sig, sizeof(p->sig));
}

// The first k parties sign (the last of all survivors closes the stage).
static void
srig_sign(struct srig *g, uint32_t k)
{
	for (uint32_t c = 0; c < k; c++) {
		struct agg_sa_reply r = send_consistency(g, c);
		CHECK(r.kind == AGG_SA_REPLY_WAIT ||
				(r.kind == AGG_SA_REPLY_BODY &&
						r.type == FB_WIRE_SA_SIGNATURES));
	}
}

// Client c sends its SA_CONSISTENCY again, verifies the SA_SIGNATURES
// and answers with its shares.
static struct agg_sa_reply
send_reveal(struct srig *g, uint32_t c)
{
	struct party *p = &g->p[c];
	struct agg_sa_reply rep = srig_request(
			g, c, FB_WIRE_SA_CONSISTENCY, p->sig, sizeof(p->sig));
	CHECK(rep.kind == AGG_SA_REPLY_BODY &&
			rep.type == FB_WIRE_SA_SIGNATURES);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_sigs_decode(&l, p->last, p->last_len));
	uint32_t signers[N_PARTIES];
	uint8_t sigs[N_PARTIES * FB_SA_CONSISTENCY_LEN];
	for (uint32_t i = 0; i < l.count && i < N_PARTIES; i++) {
		signers[i] = fb_sa_sigs_signer(&l, i);
		memcpy(sigs + i * FB_SA_CONSISTENCY_LEN, fb_sa_sigs_sig(&l, i),
				FB_SA_CONSISTENCY_LEN);
	}
	CHECK_OK(fb_secagg_client_check_sigs(
			p->sc, signers, sigs, l.count, g->keys));
	uint8_t self[N_PARTIES * FB_SHAMIR_SHARE_LEN];
	uint8_t mask[N_PARTIES * FB_SHAMIR_SHARE_LEN];
	CHECK_OK(fb_secagg_client_reveal(p->sc, p->sets, p->ns, p->sets + p->ns,
			p->nd, self, mask));
	size_t len = fb_sa_unmask_len(p->ns, p->nd);
	uint8_t *body = malloc(len);
	CHECK(body != NULL);
	CHECK_OK(fb_sa_unmask_encode(body, p->ns, p->nd, self, mask));
	rep = srig_request(g, c, FB_WIRE_SA_UNMASK, body, len);
	free(body);
	return rep;
}

static bool
is_ack(struct agg_sa_reply r, uint8_t status)
{
	return r.kind == AGG_SA_REPLY_OUT && !r.out.error &&
			r.out.status == status;
}

// The adverts and shares of every party (the last one closes each stage).
static void
srig_share(struct srig *g)
{
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_sa_reply r = send_advert(g, c);
		CHECK(r.kind ==
				(c + 1 < N_PARTIES ? AGG_SA_REPLY_WAIT
						   : AGG_SA_REPLY_BODY));
	}
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		// A resend is answered with the peers now.
		struct agg_sa_reply r = send_advert(g, c);
		CHECK(r.kind == AGG_SA_REPLY_BODY &&
				r.type == FB_WIRE_SA_PEERS);
	}
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_sa_reply r = send_shares(g, c);
		CHECK(r.kind ==
				(c + 1 < N_PARTIES ? AGG_SA_REPLY_WAIT
						   : AGG_SA_REPLY_BODY));
	}
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		// The same bytes again: the inbox; other bytes: not counted.
		struct agg_sa_reply r = srig_request(g, c, FB_WIRE_SA_SHARES,
				g->p[c].shares, g->p[c].shares_len);
		CHECK(r.kind == AGG_SA_REPLY_BODY &&
				r.type == FB_WIRE_SA_INBOX);
		r = srig_request(g, c, FB_WIRE_SA_SHARES, NULL, 0);
		CHECK(r.kind == AGG_SA_REPLY_OUT &&
				(r.out.error || r.out.status != FB_WIRE_ACK_ACCEPTED));
	}
}

// The model step of the sum of parties [0, n) as agg_secround_delta makes
// it on the current model, in *delta.
static void
expected_delta(struct srig *g, uint32_t n, struct fb_model *delta)
{
	size_t dim = g->fed.sa.dim;
	int64_t *sum = calloc(dim, sizeof(*sum));
	CHECK(sum != NULL);
	uint64_t users = 0;
	for (uint32_t c = 0; c < n; c++) {
		for (size_t k = 0; k < dim; k++) {
			sum[k] += g->p[c].x[k];
		}
		users += g->p[c].users;
	}
	const struct fb_model *m = &g->fed.model;
	CHECK_OK(fb_model_init(
			delta, m->n_items, m->n_bundles, m->n_attrs, m->dim));
	CHECK_OK(agg_secround_delta(&g->fed, sum, users, delta));
	free(sum);
}

// max |(after - before) - delta| over W.
static double
w_error(const float *before, const struct fb_model *after,
		const struct fb_model *delta)
{
	double worst = 0;
	for (size_t k = 0; k < fb_matrix_len(&after->W); k++) {
		double d = (double)after->W.data[k] - before[k] -
				delta->W.data[k];
		worst = fabs(d) > worst ? fabs(d) : worst;
	}
	return worst;
}

TEST(secure_round_commits_the_step_of_the_sum)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	struct fb_model delta;
	expected_delta(&g, N_PARTIES, &delta);
	size_t wn = fb_matrix_len(&g.fed.model.W);
	float *before = malloc(wn * sizeof(float));
	CHECK(before != NULL);
	memcpy(before, g.fed.model.W.data, wn * sizeof(float));
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		// Unmask before the masked stage closed: wait.
		if (c > 0) {
			struct agg_sa_reply w = srig_request(
					&g, 0, FB_WIRE_POLL, NULL, 0);
			CHECK(w.kind == AGG_SA_REPLY_WAIT);
		}
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	srig_sign(&g, N_PARTIES);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	CHECK(g.fed.sa.stage == AGG_SA_DONE);
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 1 && g.last.committed && g.last.secure);
	CHECK(g.last.sa_n == 4 && g.last.sa_u1 == 4 && g.last.sa_u2 == 4 &&
			g.last.sa_u3 == 4 && g.last.sa_u4 == 4);
	CHECK(g.last.updates == 4);
	// FedAvg, server_lr 1, divisor 1: the model moved by the step.
	CHECK(w_error(before, &g.fed.model, &delta) < 1e-6);
	CHECK(g.fed.clients[0].last_round == 1);
	// After the commit: the unmask resent is its round's answer.
	CHECK(is_ack(srig_request(&g, 0, FB_WIRE_SA_UNMASK, NULL, 0),
			FB_WIRE_ACK_ACCEPTED));
	CHECK(is_ack(srig_request(&g, 0, FB_WIRE_SA_ADVERT, NULL, 0),
			FB_WIRE_ACK_LATE));
	fb_model_finish(&delta);
	free(before);
	srig_close(&g);
}

TEST(secure_round_survives_a_dropout_after_the_shares)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	struct fb_model delta;
	expected_delta(&g, N_PARTIES - 1, &delta);
	size_t wn = fb_matrix_len(&g.fed.model.W);
	float *before = malloc(wn * sizeof(float));
	CHECK(before != NULL);
	memcpy(before, g.fed.model.W.data, wn * sizeof(float));
	srig_share(&g);
	for (uint32_t c = 0; c + 1 < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	// The last party never masks: the masked stage waits for the deadline.
	srig_tick(&g, g.now + 10);
	CHECK(g.fed.sa.stage == AGG_SA_MASKED);
	srig_tick(&g, g.fed.deadline_ms);
	CHECK(g.fed.sa.stage == AGG_SA_CONSIST);
	// Its late input is refused.
	struct agg_outcome o = send_masked(&g, N_PARTIES - 1);
	CHECK(!o.error && o.status == FB_WIRE_ACK_LATE);
	srig_sign(&g, N_PARTIES - 1);
	for (uint32_t c = 0; c + 1 < N_PARTIES; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 1 && g.last.committed);
	CHECK(g.last.sa_u2 == 4 && g.last.sa_u3 == 3 && g.last.sa_u4 == 3);
	CHECK(w_error(before, &g.fed.model, &delta) < 1e-6);
	fb_model_finish(&delta);
	free(before);
	srig_close(&g);
}

TEST(secure_round_abandoned_with_too_few_parties)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	for (uint32_t c = 0; c < 2; c++) {
		CHECK(send_advert(&g, c).kind == AGG_SA_REPLY_WAIT);
	}
	srig_tick(&g, STAGE_MS - 1);
	CHECK(g.closed == 0);
	srig_tick(&g, STAGE_MS);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(strcmp(g.last.abandoned, "secagg-too-few") == 0);
	CHECK(g.last.sa_u1 == 2);
	// The round is closed: a late advertisement is told so.
	CHECK(is_ack(send_advert(&g, 2), FB_WIRE_ACK_LATE));
	// The next round is planned with every party again.
	srig_tick(&g, g.now + 1);
	CHECK(g.fed.round == 2 && g.fed.sa.active);
	srig_close(&g);
}

TEST(secure_round_over_the_bound_is_abandoned)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	// One party's input is far beyond what a clipped, noised release
	// can be: the unmasked sum exceeds the honest bound. (2^46: inside
	// the plan's ring Z_(2^48); a client's input is only ever its value
	// modulo 2^b, so 2^50 would count as 0.)
	for (size_t k = 0; k < g.fed.sa.dim; k++) {
		g.p[1].x[k] = (int64_t)1 << 46;
	}
	size_t wn = fb_matrix_len(&g.fed.model.W);
	float *before = malloc(wn * sizeof(float));
	CHECK(before != NULL);
	memcpy(before, g.fed.model.W.data, wn * sizeof(float));
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	srig_sign(&g, N_PARTIES);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(strcmp(g.last.abandoned, "secagg-over-bound") == 0);
	CHECK(memcmp(before, g.fed.model.W.data, wn * sizeof(float)) == 0);
	free(before);
	srig_close(&g);
}

TEST(secure_round_of_many_users_is_within_the_bound)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	// The parties' sampled users all push one coordinate: a sum above n
	// users' bound (one user a party) but within what 460 declared users
	// sampled at q, with the noise's bound, can honestly make.
	struct agg_secround *sa = &g.fed.sa;
	double B = floor(g.fed.plan_cfg.clip_norm / ldexp(1.0, sa->grid_log2));
	double sigma = g.fed.plan_cfg.noise_multiplier;
	double by_parties = agg_secagg_sum_bound(&sa->p, N_PARTIES, N_PARTIES,
			1.0, sigma, g.fed.plan_cfg.clip_norm, sa->grid_log2,
			sa->dim);
	double by_users = agg_secagg_sum_bound(&sa->p, N_PARTIES, 460,
			g.fed.plan_cfg.sampling_rate, sigma,
			g.fed.plan_cfg.clip_norm, sa->grid_log2, sa->dim);
	// Each party's users push coordinate 0 by push / N_PARTIES users'
	// bound (at most its 100..130 users); the L2 norm of the sum is then
	// above the parties' bound, within the users'.
	double each = ceil((ceil(by_parties / B) + 2) / N_PARTIES);
	CHECK(each <= 100);
	CHECK((N_PARTIES * each + 1) * B < by_users);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		g.p[c].x[0] = (int64_t)(each * B);
	}
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	srig_sign(&g, N_PARTIES);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 1);
	CHECK(g.last.committed);
	srig_close(&g);
}

TEST(secure_round_unmask_needs_the_threshold)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	// Two reveals of a threshold of 3, then the stage's time is up.
	srig_sign(&g, N_PARTIES);
	for (uint32_t c = 0; c < 2; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	srig_tick(&g, g.now + STAGE_MS);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(strcmp(g.last.abandoned, "secagg-unmask-failed") == 0);
	CHECK(g.last.sa_u4 == 2);
	srig_close(&g);
}

TEST(secure_round_refuses_non_parties_and_wrong_rounds)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	struct agg_sa_reply r;
	agg_fed_sa_request(&g.fed, 0, FB_WIRE_SA_ADVERT, 7, NULL, 0, g.now, &r);
	CHECK(r.kind == AGG_SA_REPLY_OUT && r.out.error &&
			r.out.reason == FB_WIRE_REASON_WRONG_ROUND);
	// A malformed advertisement ends the session.
	r = srig_request(&g, 0, FB_WIRE_SA_ADVERT, (const uint8_t *)"x", 1);
	CHECK(r.kind == AGG_SA_REPLY_OUT && r.out.error &&
			r.out.reason == FB_WIRE_REASON_MALFORMED);
	// An advertisement signed by another party's key is refused.
	uint8_t adv[FB_SECAGG_ADVERT_LEN], body[FB_SA_ADVERT_MSG_LEN];
	CHECK_OK(fb_secagg_client_advert(g.p[1].sc, g.p[0].id, adv));
	CHECK_OK(fb_sa_advert_msg_encode(body, adv, 5));
	r = srig_request(&g, 1, FB_WIRE_SA_ADVERT, body, sizeof(body));
	CHECK(r.kind == AGG_SA_REPLY_OUT && r.out.error);
	// A second, different advertisement of a party: duplicate.
	CHECK(send_advert(&g, 2).kind == AGG_SA_REPLY_WAIT);
	g.p[2].users++;
	r = send_advert(&g, 2);
	CHECK(r.kind == AGG_SA_REPLY_OUT && !r.out.error &&
			r.out.status == FB_WIRE_ACK_REJECTED &&
			r.out.reason == FB_WIRE_REASON_DUPLICATE);
	// An UPDATE before the inboxes: unexpected.
	struct agg_outcome o;
	agg_fed_update(&g.fed, 3, g.round, body, sizeof(body), g.now, &o);
	CHECK(o.error && o.reason == FB_WIRE_REASON_UNEXPECTED);
	srig_close(&g);
}

TEST(secure_round_stops_waiting_for_a_party_that_quit)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	srig_sign(&g, N_PARTIES);
	for (uint32_t c = 0; c + 1 < N_PARTIES; c++) {
		CHECK(is_ack(send_reveal(&g, c), FB_WIRE_ACK_ACCEPTED));
	}
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 0); // waits for the last party's reveal
	// Its guard refused the request: it says so with a sealed ERROR.
	agg_fed_client_error(&g.fed, N_PARTIES - 1, g.round);
	srig_tick(&g, g.now + 1);
	CHECK(g.closed == 1 && g.last.committed && g.last.sa_u4 == 3);
	srig_close(&g);
}

// secagg-v1 §3.5: the reveals wait for the signatures of the survivors; a
// signature over other sets is refused and not counted, a resend is
// answered as the first copy, and fewer than t signatures when the stage's
// time is up abandon the round before any share is revealed.
TEST(secure_round_collects_t_signatures_before_reveals)
{
	static struct srig g;
	srig_open(&g);
	srig_plan(&g);
	srig_share(&g);
	for (uint32_t c = 0; c < N_PARTIES; c++) {
		struct agg_outcome o = send_masked(&g, c);
		CHECK(!o.error && o.status == FB_WIRE_ACK_ACCEPTED);
	}
	CHECK(g.fed.sa.stage == AGG_SA_CONSIST);
	// Shares before the signatures: not the stage's message.
	uint8_t junk[4 + FB_SHAMIR_SHARE_LEN] = {0};
	struct agg_sa_reply r = srig_request(
			&g, 0, FB_WIRE_SA_UNMASK, junk, sizeof(junk));
	CHECK(r.kind == AGG_SA_REPLY_OUT && r.out.error &&
			r.out.reason == FB_WIRE_REASON_UNEXPECTED);
	// Party 1 signs sets that are not the request's.
	static const uint32_t surv[3] = {1, 2, 3}, drop[1] = {4};
	uint8_t other[4 + 4 * 4], sig[FB_SA_CONSISTENCY_LEN];
	CHECK_OK(fb_sa_unmask_req_encode(other, surv, 3, drop, 1));
	struct fb_secagg_ctx ctx = {.round = g.round};
	memcpy(ctx.consortium, g.sa.consortium, FB_SECAGG_CONSORTIUM_LEN);
	CHECK_OK(fb_secagg_consist_sign(
			sig, &ctx, other, sizeof(other), g.p[1].id));
	r = srig_request(&g, 1, FB_WIRE_SA_CONSISTENCY, sig, sizeof(sig));
	CHECK(r.kind == AGG_SA_REPLY_OUT && r.out.error &&
			r.out.reason == FB_WIRE_REASON_MALFORMED);
	CHECK(fb_secagg_server_signers(g.fed.sa.co) == 0);
	// Two honest signatures of a threshold of 3; a resend waits too.
	srig_sign(&g, 2);
	r = srig_request(&g, 0, FB_WIRE_SA_CONSISTENCY, g.p[0].sig,
			sizeof(g.p[0].sig));
	CHECK(r.kind == AGG_SA_REPLY_WAIT);
	srig_tick(&g, g.now + STAGE_MS);
	CHECK(g.closed == 1 && !g.last.committed);
	CHECK(strcmp(g.last.abandoned, "secagg-too-few") == 0);
	CHECK(g.last.sa_u4 == 0);
	srig_close(&g);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	fb_log_set_level(FB_LOG_ERROR);
	snprintf(workdir, sizeof(workdir), "/tmp/fb-test-secround-XXXXXX");
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
	RUN(secure_defaults_one_sgd_release_per_round);
	RUN(secure_refuses_what_it_cannot_run);
	RUN(round_parameters_follow_the_parties);
	RUN(no_wrap_bound_of_the_ring);
	RUN(consortium_id_is_the_spec_hash);
	RUN(step_from_the_sum_is_the_clients_dp_step);
	RUN(parameters_that_never_fit_the_roster_are_refused_at_start);
	RUN(secure_round_commits_the_step_of_the_sum);
	RUN(secure_round_survives_a_dropout_after_the_shares);
	RUN(secure_round_abandoned_with_too_few_parties);
	RUN(secure_round_over_the_bound_is_abandoned);
	RUN(secure_round_of_many_users_is_within_the_bound);
	RUN(secure_round_unmask_needs_the_threshold);
	RUN(secure_round_refuses_non_parties_and_wrong_rounds);
	RUN(secure_round_stops_waiting_for_a_party_that_quit);
	RUN(secure_round_collects_t_signatures_before_reveals);
	fb_dataset_destroy(catalogue);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", workdir);
	}
	return harness_done();
}
