// tests/unit/test-secure-client.c: the client's local part of a secure
// round (client/local.c node_local_secure_*, protocols/secagg-v1.md): the
// plan checks (no roster, a key not enrolled, this client's key not at
// its index, too many assumed colluders, secure_aggregation "require" on
// a plain plan, a release over the budget: each refused with a clear text
// and nothing written), and a whole round of three retailers on the toy
// consortium through the aggregator's coordinator (secagg/server.h): each
// release is a distributed-noise ledger entry written before the masked
// input exists, the UPDATE carries one u64 tensor of the release layout,
// and the unmasked sum is exactly the sum of the three releases.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/local.h"
#include "client/policy.h"
#include "client/state.h"
#include "fedbundle/data/datagen.h"
#include "fedbundle/data/partition.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/util/log.h"
#include "harness.h"

#define K 3 // retailers

static char workdir[64];
static struct fb_dataset *whole, *part[K];
static struct fb_identity *ids[K];
static uint8_t keys[K * FB_ID_PK_LEN];
static struct fb_roster *roster;

static void
consortium_make(void)
{
	struct fb_datagen_config gc;
	fb_datagen_config_defaults(&gc);
	CHECK_OK(fb_datagen_apply_preset(&gc, "toy"));
	gc.seed = 3;
	gc.threads = 1;
	CHECK_OK(fb_datagen_run(&whole, &gc, NULL));
	struct fb_partition_config pc;
	fb_partition_config_defaults(&pc);
	pc.n_retailers = K;
	pc.seed = 3;
	uint32_t *owner = malloc(whole->n_users * sizeof(*owner));
	CHECK(owner != NULL);
	CHECK_OK(fb_partition_assign(whole->n_users, NULL, 0, &pc, owner));
	CHECK_OK(fb_roster_create(&roster));
	for (uint32_t r = 0; r < K; r++) {
		uint32_t *global = NULL;
		CHECK_OK(fb_partition_extract(
				whole, owner, r, &part[r], &global));
		free(global);
		uint8_t seed[FB_ID_SEED_LEN] = {(uint8_t)(r + 1)};
		char name[16];
		snprintf(name, sizeof(name), "shop%u", r + 1);
		CHECK_OK(fb_identity_from_seed(&ids[r], seed, name));
		memcpy(keys + r * FB_ID_PK_LEN, fb_identity_public_key(ids[r]),
				FB_ID_PK_LEN);
		CHECK_OK(fb_roster_add(
				roster, fb_identity_public_key(ids[r]), name));
	}
	free(owner);
}

// A secure plan of round for index (1..K) over model m.
static void
plan_make(struct fb_wire_plan *p, const struct fb_model *m, uint32_t index)
{
	memset(p, 0, sizeof(*p));
	p->kind = FB_WIRE_PLAN_TRAIN;
	p->deadline_ms = 1000;
	struct fb_wire_round_config *c = &p->config;
	c->granularity = FB_WIRE_GRAN_USER;
	c->sampling_rate = 0.25;
	c->noise_multiplier = 1.0;
	c->clip_norm = 1;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = 1;
	c->hp.lr = 0.05;
	c->hp.l2 = 6e-4;
	c->hp.item_weight = 0.2;
	c->hp.negatives = 1;
	c->hp.dim = m->dim;
	fb_wire_hparams_defaults(&c->hp);
	c->hp.batch_users = 32;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	c->has_secagg = true;
	memset(c->sa.consortium, 0xc5, sizeof(c->sa.consortium));
	c->sa.n = K;
	c->sa.t = 2;
	c->sa.n_min = 3;
	c->sa.noise_shares = 3;
	c->sa.index = index;
	c->sa.keys = keys;
	p->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, m->n_items, m->dim, m->V.data};
	p->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, m->n_bundles, m->dim, m->W.data};
	p->n_tensors = 2;
	if (m->n_attrs > 0) {
		p->tensors[2] = (struct fb_wire_tensor){
				FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
				m->n_attrs, m->dim, m->M.data};
		p->n_tensors = 3;
	}
}

static void
policy_make(struct node_policy *pol, uint32_t r, const char *ledger)
{
	node_policy_defaults(pol);
	pol->allow_user = true;
	pol->min_noise_multiplier = 0;
	pol->epsilon = 50;
	pol->accountant = FB_ACCT_RDP; // fast; not under test
	pol->users = part[r]->n_users;
	pol->seed = 10 + r;
	pol->seeded_noise = true;
	pol->noise_seed = 77 + r;
	snprintf(pol->roster, sizeof(pol->roster), "roster");
	snprintf(pol->ledger, sizeof(pol->ledger), "%s/%s", workdir, ledger);
	unlink(pol->ledger);
}

static struct fb_model model;

static void
model_make(void)
{
	if (model.dim > 0) {
		return;
	}
	CHECK_OK(fb_model_init(&model, whole->n_items, whole->n_bundles,
			whole->n_attrs, 16));
	for (size_t k = 0; k < fb_matrix_len(&model.V); k++) {
		model.V.data[k] = 0.01f * (float)((k * 7) % 13) - 0.06f;
	}
	for (size_t k = 0; k < fb_matrix_len(&model.W); k++) {
		model.W.data[k] = 0.01f * (float)((k * 5) % 11) - 0.05f;
	}
}

// Prepares retailer r's secure round; the refusal text in out. The
// client's own consortium id is 0xc5... (plan_make's), unless set here.
static struct node_work work0; // retailer 0's workspace
static uint8_t own_consortium[16] = {0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5,
		0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5, 0xc5};

static fb_err
prepare(const struct node_policy *pol, uint32_t r, const struct fb_roster *ro,
		const struct fb_wire_plan *plan, struct fb_ledger **led,
		struct node_state *st, struct node_secure **sec,
		struct node_round *out)
{
	fb_err err = fb_ledger_open(led, pol->ledger, true);
	if (err == FB_OK) {
		err = node_local_secure_prepare(pol, part[r], st, *led, ro,
				own_consortium, fb_identity_public_key(ids[r]),
				plan, 7, r == 0 ? &work0 : NULL, sec, out);
	}
	return err;
}

// Expects retailer 0's plan refused with a text containing want, and no
// release in its ledger.
static void
expect_refused_for(const struct node_policy *pol, const struct fb_roster *ro,
		const struct fb_wire_plan *plan, const char *want,
		uint16_t reason)
{
	struct fb_ledger *led = NULL;
	struct node_state st = {0};
	struct node_secure *sec = NULL;
	struct node_round out;
	CHECK_OK(prepare(pol, 0, ro, plan, &led, &st, &sec, &out));
	CHECK(out.refuse && sec == NULL);
	CHECK(out.reason == reason);
	CHECK_STR_CONTAINS(out.text, want);
	CHECK(fb_ledger_releases(led) == 0);
	fb_ledger_close(led);
	node_state_finish(&st);
}

static void
expect_refused(const struct node_policy *pol, const struct fb_roster *ro,
		const struct fb_wire_plan *plan, const char *want)
{
	expect_refused_for(pol, ro, plan, want, FB_WIRE_REASON_POLICY_REFUSED);
}

TEST(secure_plans_are_checked_before_anything_is_released)
{
	model_make();
	struct node_policy pol;
	policy_make(&pol, 0, "refused.ledger");
	struct fb_wire_plan plan;
	plan_make(&plan, &model, 1);
	expect_refused(&pol, NULL, &plan,
			"secure aggregation needs the consortium roster "
			"(policy key roster)");
	// A key of the plan's map that the roster does not enroll.
	struct fb_roster *two = NULL;
	CHECK_OK(fb_roster_create(&two));
	CHECK_OK(fb_roster_add(two, keys, "shop1"));
	CHECK_OK(fb_roster_add(two, keys + 2 * FB_ID_PK_LEN, "shop3"));
	expect_refused(&pol, two, &plan, "the key of index 2 is not in");
	fb_roster_destroy(two);
	// A consortium id other than the one this client computed from its
	// pinned aggregator key and roster (secagg-v1 §3.6): both named.
	own_consortium[15] = 0xc6;
	expect_refused(&pol, roster, &plan,
			"plan consortium c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5 is not "
			"c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c6, its own (pinned "
			"aggregator key + roster)");
	own_consortium[15] = 0xc5;
	// This client's key is not the one at its index.
	plan.config.sa.index = 2;
	expect_refused(&pol, roster, &plan, "index 2 is not this client's");
	plan.config.sa.index = 1;
	// One assumed colluder: t = 2 of 3 is not above (3 + 1) / 2.
	pol.secagg_assumed_colluders = 1;
	expect_refused(&pol, roster, &plan, "is not above (n + 1 assumed");
	// Assuming n_min colluders would leave no honest share; t <= n_min
	// makes the threshold check refuse it first (t > (n + c) / 2 and
	// c >= n_min >= t cannot both hold).
	plan.config.sa.t = 3;
	pol.secagg_assumed_colluders = 3;
	expect_refused(&pol, roster, &plan, "(n + 3 assumed colluders)");
	pol.secagg_assumed_colluders = 0;
	plan.config.sa.t = 2;
	// One release per round.
	plan.config.local_steps = 2;
	expect_refused(&pol, roster, &plan, "local_steps must be 1");
	plan.config.local_steps = 1;
	// secagg-v1 §2.2: a ring the client's own check says can wrap. At
	// fedbundle's grid the noise alone passes 2^31; with 2^21 declared
	// users 48 bits do not hold either.
	plan.config.sa.ring_bits = 32;
	expect_refused_for(&pol, roster, &plan, "the ring Z_(2^32) can wrap",
			FB_WIRE_REASON_SECAGG_REFUSED);
	plan.config.sa.ring_bits = 48;
	uint64_t users = pol.users;
	pol.users = (uint64_t)1 << 21;
	expect_refused_for(&pol, roster, &plan, "the ring Z_(2^48) can wrap",
			FB_WIRE_REASON_SECAGG_REFUSED);
	pol.users = users;
	plan.config.sa.ring_bits = 0;
	// A release whose distributed-noise epsilon is over the budget.
	pol.epsilon = 0.01;
	expect_refused(&pol, roster, &plan, "over budget");
	pol.epsilon = 50;
	// secure_aggregation "require": a plain user-level plan is refused.
	pol.secure_aggregation = NODE_SECAGG_REQUIRE;
	plan.config.has_secagg = false;
	struct node_state st = {0};
	struct node_round out;
	CHECK_OK(node_local_round(
			&pol, part[0], &st, NULL, &plan, 7, NULL, &out));
	CHECK(out.refuse && out.reason == FB_WIRE_REASON_POLICY_REFUSED);
	CHECK_STR_CONTAINS(out.text, "requires secure aggregation");
	node_state_finish(&st);
}

// The masked tensor of an UPDATE message (its one tensor).
static const struct fb_wire_tensor *
masked_of(struct fb_msg *m, struct fb_wire_update *u)
{
	struct fb_wire_limits wl = {FB_WIRE_MAX_TENSORS, UINT32_MAX, 1, true};
	CHECK_OK(fb_wire_update_decode(u, fb_msg_data(m) + FB_ENV_BODY_OFF,
			fb_msg_len(m) - FB_ENV_OVERHEAD, &wl));
	CHECK(u->n_tensors == 1);
	return &u->tensors[0];
}

TEST(a_secure_round_sums_exactly_what_was_released)
{
	model_make();
	struct node_policy pol[K];
	struct fb_ledger *led[K];
	struct node_state st[K];
	struct node_secure *sec[K];
	struct node_round out[K];
	struct fb_secagg_client *sa[K];
	struct fb_wire_plan plan;
	memset(st, 0, sizeof(st));
	size_t dim = 0;
	for (uint32_t r = 0; r < K; r++) {
		char name[32];
		snprintf(name, sizeof(name), "round-%u.ledger", r);
		policy_make(&pol[r], r, name);
		// Retailer 3 assumes one colluder: t must exceed (3 + 1) / 2.
		pol[r].secagg_assumed_colluders = r == 2 ? 1 : 0;
		plan_make(&plan, &model, r + 1);
		plan.config.sa.t = 3;
		CHECK_OK(prepare(&pol[r], r, roster, &plan, &led[r], &st[r],
				&sec[r], &out[r]));
		CHECK(!out[r].refuse);
		// Checked and prepared: nothing released yet.
		CHECK(fb_ledger_releases(led[r]) == 0);
		CHECK(dim == 0 || dim == node_local_secure_len(sec[r]));
		dim = node_local_secure_len(sec[r]);
		struct fb_secagg_client_params p = {
				.n = K, .t = 2, .index = r + 1};
		memcpy(p.ctx.consortium, plan.config.sa.consortium, 16);
		p.ctx.round = 7;
		CHECK_OK(fb_secagg_client_create(&sa[r], &p));
	}
	// The coordinator: adverts, shares, inboxes.
	struct fb_secagg_server *srv = NULL;
	struct fb_secagg_server_params sp = {.n = K,
			.t = 2,
			.n_min = 3,
			.id_keys = keys,
			.dim = dim};
	memcpy(sp.ctx.consortium, plan.config.sa.consortium, 16);
	sp.ctx.round = 7;
	CHECK_OK(fb_secagg_server_create(&srv, &sp));
	bool dup = false;
	for (uint32_t r = 0; r < K; r++) {
		uint8_t ad[FB_SECAGG_ADVERT_LEN];
		CHECK_OK(fb_secagg_client_advert(sa[r], ids[r], ad));
		CHECK_OK(fb_secagg_server_add_advert(
				srv, r + 1, ad, pol[r].users, &dup));
	}
	CHECK_OK(fb_secagg_server_close_adverts(srv));
	uint8_t *peers = malloc(fb_secagg_server_peers_len(srv));
	CHECK(peers != NULL);
	fb_secagg_server_peers(srv, peers);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_peers_decode(
			&l, peers, fb_secagg_server_peers_len(srv)));
	for (uint32_t r = 0; r < K; r++) {
		for (uint32_t i = 0; i < l.count; i++) {
			const uint8_t *ad = fb_sa_peers_advert(&l, i);
			uint32_t idx = fb_sa_advert_index(ad);
			if (idx != r + 1) {
				CHECK_OK(fb_secagg_client_add_peer(sa[r], ad,
						keys + (idx - 1) * FB_ID_PK_LEN));
			}
		}
		uint8_t body[2048];
		CHECK(fb_sa_bundles_len(K - 1) <= sizeof(body));
		uint8_t *first = fb_sa_bundles_init(body, K - 1);
		for (uint32_t i = 0, k = 0; i < K; i++) {
			if (i == r) {
				continue;
			}
			uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN];
			CHECK_OK(fb_secagg_client_seal_shares(
					sa[r], i + 1, sealed));
			fb_sa_bundles_put(first, k++, i + 1, sealed);
		}
		CHECK_OK(fb_secagg_server_add_shares(srv, r + 1, body,
				fb_sa_bundles_len(K - 1), &dup));
	}
	free(peers);
	CHECK_OK(fb_secagg_server_close_shares(srv));
	// Each retailer: its inbox, its release, its mask, its UPDATE.
	int64_t *want = calloc(dim, sizeof(*want));
	uint64_t *y = malloc(dim * sizeof(*y));
	CHECK(want != NULL && y != NULL);
	for (uint32_t r = 0; r < K; r++) {
		uint8_t inbox[2048];
		size_t il = fb_secagg_server_inbox_len(srv, r + 1);
		CHECK(il > 0 && il <= sizeof(inbox));
		CHECK_OK(fb_secagg_server_inbox(srv, r + 1, inbox));
		CHECK_OK(fb_sa_bundles_decode(&l, inbox, il));
		for (uint32_t i = 0; i < l.count; i++) {
			CHECK_OK(fb_secagg_client_open_shares(sa[r],
					fb_sa_bundles_party(&l, i),
					fb_sa_bundles_sealed(&l, i)));
		}
		int64_t *x = NULL;
		CHECK_OK(node_local_secure_release(sec[r], &x, &out[r]));
		// The ledger entry exists before the masked input does.
		CHECK(fb_ledger_releases(led[r]) == 1);
		struct fb_ledger_entry e;
		CHECK_OK(fb_ledger_entry_at(
				led[r], fb_ledger_count(led[r]) - 1, &e));
		CHECK(fb_ledger_is_ddg(&e) && e.round == 7 && e.steps == 1);
		CHECK(e.shares == (r == 2 ? 2u : 3u));
		CHECK(e.dim == dim && e.sigma == 1.0);
		CHECK(e.sigma_share == e.noise_steps / sqrt(3.0));
		CHECK(e.eps_assumed > 0 && e.eps_alone > e.eps_assumed);
		CHECK(out[r].epsilon == e.eps_assumed &&
				out[r].eps_alone == e.eps_alone);
		for (size_t k = 0; k < dim; k++) {
			want[k] += x[k];
		}
		CHECK_OK(fb_secagg_client_mask(sa[r], x, dim, y));
		CHECK_OK(node_local_secure_encode(sec[r], y, &out[r]));
		struct fb_wire_update u;
		const struct fb_wire_tensor *t = masked_of(out[r].update, &u);
		CHECK(t->id == FB_WIRE_TENSOR_MASKED &&
				t->dtype == FB_WIRE_DTYPE_U64 &&
				t->rows == dim && t->cols == 1);
		CHECK(u.clip_norm == 1 && u.noise_multiplier == 1.0 &&
				u.train_loss == 0 && u.eval_users == 0);
		CHECK(fb_wire_tensor_u64(t, 0) == y[0]);
		CHECK_OK(fb_secagg_server_add_masked(
				srv, r + 1, t->data, dim, &dup));
		fb_msg_free(out[r].update);
		out[r].update = NULL;
		// The received model is the client's latest global one.
		CHECK(st[r].global.dim == model.dim);
	}
	CHECK_OK(fb_secagg_server_close_masked(srv));
	size_t ql = fb_secagg_server_unmask_req_len(srv);
	uint8_t req[256];
	CHECK(ql <= sizeof(req));
	fb_secagg_server_unmask_req(srv, req);
	struct fb_sa_unmask_req rq;
	CHECK_OK(fb_sa_unmask_req_decode(&rq, req, ql));
	CHECK(rq.ns == K && rq.nd == 0);
	for (uint32_t r = 0; r < K; r++) { // t = 3 responders
		uint32_t surv[K], drop[1];
		fb_sa_unmask_req_copy(&rq, surv, drop);
		uint8_t shares[K * FB_SHAMIR_SHARE_LEN];
		uint8_t body[512];
		CHECK_OK(fb_secagg_client_reveal(
				sa[r], surv, K, drop, 0, shares, NULL));
		CHECK_OK(fb_sa_unmask_encode(body, K, 0, shares, NULL));
		CHECK_OK(fb_secagg_server_add_reveal(srv, r + 1, body,
				fb_sa_unmask_len(K, 0), &dup));
	}
	int64_t *sum = malloc(dim * sizeof(*sum));
	CHECK(sum != NULL);
	CHECK_OK(fb_secagg_server_finish(srv, sum));
	size_t differ = 0;
	double sq = 0;
	for (size_t k = 0; k < dim; k++) {
		differ += sum[k] != want[k];
		sq += (double)sum[k] * (double)sum[k];
	}
	CHECK(differ == 0);
	// The sum carries about the central noise: sqrt(3) shares of
	// noise_steps / sqrt(3) grid steps on every coordinate.
	struct fb_ledger_entry e;
	CHECK_OK(fb_ledger_entry_at(led[0], fb_ledger_count(led[0]) - 1, &e));
	double rms = sqrt(sq / (double)dim) / e.noise_steps;
	printf("# dim %zu: the unmasked sum's rms is %.4f central noise "
	       "std\n",
			dim, rms);
	CHECK(rms > 0.9 && rms < 1.2);
	free(sum);
	free(want);
	free(y);
	fb_secagg_server_destroy(srv);
	for (uint32_t r = 0; r < K; r++) {
		fb_secagg_client_destroy(sa[r]);
		node_local_secure_destroy(sec[r]);
		fb_ledger_close(led[r]);
	}
	// Retailer 0's workspace keeps its trainer through a plan refused
	// by the policy checks (a larger dimension than it accepts).
	CHECK(work0.trainer != NULL);
	CHECK_OK(fb_ledger_open(&led[0], pol[0].ledger, false));
	plan_make(&plan, &model, 1);
	plan.config.sa.t = 3;
	pol[0].max_dim = 8;
	struct node_secure *again = NULL;
	CHECK_OK(node_local_secure_prepare(&pol[0], part[0], &st[0], led[0],
			roster, own_consortium, fb_identity_public_key(ids[0]),
			&plan, 8, &work0, &again, &out[0]));
	CHECK(out[0].refuse && again == NULL);
	CHECK_STR_CONTAINS(out[0].text, "dimension");
	CHECK(work0.trainer != NULL);
	fb_ledger_close(led[0]);
	for (uint32_t r = 0; r < K; r++) {
		node_state_finish(&st[r]);
	}
	node_work_finish(&work0);
}

int
main(void)
{
	fb_log_set_level(FB_LOG_ERROR);
	if (sodium_init() < 0) {
		return 99;
	}
	snprintf(workdir, sizeof(workdir), "/tmp/fb-test-secure-XXXXXX");
	if (mkdtemp(workdir) == NULL) {
		return 99;
	}
	harness_current_failed = 0;
	if (setjmp(harness_jmp) == 0) {
		consortium_make();
	}
	if (harness_current_failed) {
		printf("Bail out! cannot make the toy consortium\n");
		return 99;
	}
	RUN(secure_plans_are_checked_before_anything_is_released);
	RUN(a_secure_round_sums_exactly_what_was_released);
	fb_model_finish(&model);
	for (uint32_t r = 0; r < K; r++) {
		fb_dataset_destroy(part[r]);
		fb_identity_destroy(ids[r]);
	}
	fb_dataset_destroy(whole);
	fb_roster_destroy(roster);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
	return system(cmd) == 0 ? rc : 99;
}
