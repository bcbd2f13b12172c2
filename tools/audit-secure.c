// tools/audit-secure.c: the secure-aggregation modes of `fedbundle audit
// sensitivity` (issue 13). The ddg accountant (fb_acct_add_ddg, through
// the ledger's distributed-noise entry) assumes that removing one user of
// one retailer moves the SUM of the parties' integer releases by at most
// l2 = clip / grid in L2 (and its L1 bound); this checks that end to end
// on the real code: the dataset split into retailers (IID, seeded), each
// running the client's secure round (client/local.c
// node_local_secure_prepare, _release, _encode: the plan's checks, the
// ledger entry, the exact clipped release and its noise share), masked by
// the real secagg client and unmasked by the real coordinator
// (common/secagg) in the ring the aggregator would plan for the consortium
// (audit_secure_ring: fb_secagg_ring_plan, or --ring-bits if it fits), in
// process, on D and on D' = D without user u (its
// rows emptied at its retailer, every index kept, as the user-level
// modes). Both sides draw the same: the plan samples at q = 1 (every
// active user, no draw; the real sample would draw per candidate, so D'
// with one candidate fewer would shift every later draw), each
// retailer's noise share comes from the same seeded stream on both
// sides, and libsodium's randombytes is a seeded stream restarted for
// each session, so keys, self seeds, shares and masks are the same: then
// any other retailer's UPDATE must be bit-identical, the unmasked sums
// must differ by exactly u's retailer's release difference, whose L2
// (and L1) norm must be within the ledger's bound. Several rounds run,
// each from the model the aggregator's own step (agg_secround_delta)
// makes of D's sum (the public state, as the user-level modes take it),
// and every other user's factors must stay bit-identical.
// Nothing leaves the process: the ledgers live in the audit's temporary
// folder and are removed after each user; the seeded randomness is NOT
// private, and the default randombytes is restored at the end.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit-common.h"
#include "audit-secure.h"
#include "client/local.h"
#include "client/policy.h"
#include "client/state.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "server/round.h"
#include "server/secround.h"

// ---- a seeded randombytes (the audit only) ----

static uint8_t det_key[crypto_generichash_KEYBYTES];
static uint64_t det_count;

static const char *
det_name(void)
{
	return "fedbundle-audit-seeded";
}

// Draw k = ChaCha20 (randombytes_buf_deterministic) keyed by BLAKE2b of k
// under det_key.
static void
det_buf(void *const buf, const size_t size)
{
	uint8_t kb[8], seed[randombytes_SEEDBYTES];
	for (int i = 0; i < 8; i++) {
		kb[i] = (uint8_t)(det_count >> (8 * i));
	}
	det_count++;
	crypto_generichash(seed, sizeof(seed), kb, sizeof(kb), det_key,
			sizeof(det_key));
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t
det_random(void)
{
	uint32_t v;
	det_buf(&v, sizeof(v));
	return v;
}

static struct randombytes_implementation det_impl = {
		det_name, det_random, NULL, NULL, det_buf, NULL};

// Restarts the seeded randombytes at (seed, round): a session's draws.
static void
det_restart(uint64_t seed, uint32_t round)
{
	uint64_t a = audit_mix(seed),
		 b = audit_mix(seed ^ ((uint64_t)round << 32));
	memset(det_key, 0, sizeof(det_key));
	memcpy(det_key, &a, sizeof(a));
	memcpy(det_key + 8, &b, sizeof(b));
	det_count = 0;
	randombytes_set_implementation(&det_impl);
}

// ---- the consortium: retailers, identities, policies ----

struct consortium {
	uint32_t K;
	uint32_t *owner;          // per dataset user: its retailer
	uint32_t *local;          // per dataset user: its index there
	struct fb_dataset **part; // per retailer
	struct fb_identity **ids;
	uint8_t *keys; // K identity keys, index order
	struct fb_roster *roster;
	uint8_t id[FB_WIRE_SECAGG_CONSORTIUM_LEN];
	struct node_policy *pol;
	uint32_t ring_bits; // the rounds' ring (audit_secure_ring)
};

static void
consortium_finish(struct consortium *cs)
{
	for (uint32_t r = 0; r < cs->K; r++) {
		if (cs->part != NULL) {
			fb_dataset_destroy(cs->part[r]);
		}
		if (cs->ids != NULL) {
			fb_identity_destroy(cs->ids[r]);
		}
	}
	fb_roster_destroy(cs->roster);
	free(cs->owner);
	free(cs->local);
	free(cs->part);
	free(cs->ids);
	free(cs->keys);
	free(cs->pol);
	memset(cs, 0, sizeof(*cs));
}

// Retailer r's policy: user level and secure rounds allowed, seeded noise
// keyed by r (the same on D and D'), its public number of users, no
// budget limit that an audit could reach.
static void
policy_of(const struct audit_secure_in *in, const struct consortium *cs,
		uint32_t r, struct node_policy *pol)
{
	audit_policy(pol, cs->part[r]->n_users, in->seed, r);
	pol->allow_user = true;
	pol->epsilon = 1e9;
	pol->accountant = FB_ACCT_RDP; // the account is not under test
	pol->seeded_noise = true;
	pol->noise_seed = audit_mix(in->seed ^ audit_mix(r + 1));
	pol->test_no_noise = in->no_noise;
	pol->test_shared_stream = in->shared_stream;
	snprintf(pol->roster, sizeof(pol->roster), "audit");
}

fb_err
audit_secure_ring(const struct fb_dp_config *dpc, uint32_t retailers,
		uint64_t users, uint32_t forced, uint32_t *bits)
{
	double sigma = dpc->sigma, clip = dpc->clip;
	int32_t grid = fb_dp_grid_for(sigma * clip, clip);
	uint32_t K = retailers;
	uint32_t plan = fb_secagg_ring_plan(users, K, K, sigma, clip, grid);
	if (forced == 0 && plan == 0) {
		return fb_errorf(FB_EINVAL,
				"no ring of 64 bits or fewer holds the sum of "
				"%u retailers' releases (secagg-v1 §2.2)",
				K);
	}
	if (forced != 0 &&
			!fb_secagg_ring_fits(forced, users, K, K, sigma, clip,
					grid)) {
		return fb_errorf(FB_EINVAL,
				"--ring-bits %u: the sum of the %llu users %u "
				"retailers declare (%.0f grid steps each) and "
				"the noise of %u shares could wrap around "
				"Z_(2^%u) (secagg-v1 §2.2): the aggregator "
				"would refuse it; its rule picks Z_(2^%u)",
				forced, (unsigned long long)users, K,
				floor(clip / ldexp(1.0, grid)), K, forced,
				plan);
	}
	*bits = forced != 0 ? forced : plan;
	return FB_OK;
}

// The ring of the audited rounds: the users the retailers declare are
// their policies' (exchange_adverts), the same on D and D' and in every
// round.
static fb_err
consortium_ring(const struct audit_secure_in *in, struct consortium *cs)
{
	uint64_t users = 0;
	for (uint32_t r = 0; r < cs->K; r++) {
		users += cs->pol[r].users;
	}
	return audit_secure_ring(
			in->dpc, cs->K, users, in->ring_bits, &cs->ring_bits);
}

static fb_err
consortium_init(const struct audit_secure_in *in, struct consortium *cs)
{
	memset(cs, 0, sizeof(*cs));
	uint32_t K = cs->K = in->retailers;
	const struct fb_dataset *ds = in->ds;
	cs->owner = malloc(((size_t)ds->n_users + 1) * sizeof(*cs->owner));
	cs->local = malloc(((size_t)ds->n_users + 1) * sizeof(*cs->local));
	cs->part = calloc(K, sizeof(*cs->part));
	cs->ids = calloc(K, sizeof(*cs->ids));
	cs->keys = malloc((size_t)K * FB_ID_PK_LEN);
	cs->pol = calloc(K, sizeof(*cs->pol));
	fb_err err = cs->owner == NULL || cs->local == NULL ||
					cs->part == NULL || cs->ids == NULL ||
					cs->keys == NULL || cs->pol == NULL
			? FB_ENOMEM
			: FB_OK;
	if (err == FB_OK && K < 3) {
		err = fb_errorf(FB_EINVAL,
				"--retailers: secure aggregation needs 3 or "
				"more parties, not %u",
				K);
	}
	if (err == FB_OK) {
		err = audit_partition(ds, K, in->seed, cs->owner, cs->local,
				cs->part);
	}
	if (err == FB_OK) {
		err = fb_roster_create(&cs->roster);
	}
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		uint8_t seed[FB_ID_SEED_LEN] = {0};
		uint64_t s = audit_mix(in->seed ^ (0x5ec0ULL + r));
		memcpy(seed, &s, sizeof(s));
		seed[8] = (uint8_t)r;
		char name[24];
		snprintf(name, sizeof(name), "retailer%u", r + 1);
		err = fb_identity_from_seed(&cs->ids[r], seed, name);
		if (err == FB_OK) {
			const uint8_t *pk = fb_identity_public_key(cs->ids[r]);
			memcpy(cs->keys + (size_t)r * FB_ID_PK_LEN, pk,
					FB_ID_PK_LEN);
			err = fb_roster_add(cs->roster, pk, name);
		}
		if (err == FB_OK) {
			policy_of(in, cs, r, &cs->pol[r]);
		}
	}
	uint64_t c = audit_mix(in->seed ^ 0xc0550ULL);
	memcpy(cs->id, &c, sizeof(c));
	memcpy(cs->id + 8, &c, sizeof(c));
	if (err == FB_OK) {
		err = consortium_ring(in, cs);
	}
	if (err != FB_OK) {
		consortium_finish(cs);
	}
	return err;
}

// The secure plan of a round for index (1..K) over model m: user level,
// q = 1 (see the top), one step, every party needed (n_min = K, K noise
// shares, all honest).
static void
plan_make(const struct audit_secure_in *in, const struct consortium *cs,
		const struct fb_model *m, uint32_t index,
		struct fb_wire_plan *p)
{
	audit_plan(p, m, &in->cfg->hp, in->dpc);
	struct fb_wire_round_config *c = &p->config;
	c->granularity = FB_WIRE_GRAN_USER;
	c->has_secagg = true;
	memcpy(c->sa.consortium, cs->id, sizeof(c->sa.consortium));
	c->sa.n = cs->K;
	c->sa.t = cs->K / 2 + 1;
	c->sa.n_min = cs->K;
	c->sa.noise_shares = cs->K;
	c->sa.index = index;
	c->sa.keys = cs->keys;
	c->sa.ring_bits = cs->ring_bits;
}

// ---- one secure round of every retailer (one side: D or D') ----

// A side's retailers: datasets (borrowed), states and ledgers.
struct side {
	const struct fb_dataset **ds;
	struct node_state *st;
	struct fb_ledger **led;
};

// What a session produced, per retailer and in all.
struct session {
	int64_t **x;    // the releases before masking (dim each)
	uint8_t **body; // the UPDATE bodies (unsealed)
	size_t *blen;
	struct fb_ledger_entry *entry; // each release's ledger entry
	double *replayed;              // the ledger's epsilon replayed then
	int32_t *exp;                  // the grid the UPDATE names
	int64_t *sum;                  // the unmasked sum
	uint64_t users;                // the survivors' declared users
	size_t dim;                    // of every release (the layout's)
};

// The parties' live objects of one session.
struct parties {
	uint32_t K;
	size_t dim;
	struct node_secure **sec;
	struct fb_secagg_client **sa;
	struct fb_secagg_server *srv;
};

static void
parties_finish(struct parties *p)
{
	for (uint32_t r = 0; r < p->K; r++) {
		if (p->sa != NULL) {
			fb_secagg_client_destroy(p->sa[r]);
		}
		if (p->sec != NULL) {
			node_local_secure_destroy(p->sec[r]);
		}
	}
	fb_secagg_server_destroy(p->srv);
	free(p->sec);
	free(p->sa);
	memset(p, 0, sizeof(*p));
}

// Each retailer takes its plan (the client's checks, its DP state) and
// creates its secagg state; the coordinator for their dimension.
static fb_err
parties_prepare(const struct audit_secure_in *in, const struct consortium *cs,
		struct side *sd, const struct fb_model *m, uint32_t round,
		struct parties *p)
{
	uint32_t K = p->K = cs->K;
	p->sec = calloc(K, sizeof(*p->sec));
	p->sa = calloc(K, sizeof(*p->sa));
	if (p->sec == NULL || p->sa == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		struct fb_wire_plan plan;
		plan_make(in, cs, m, r + 1, &plan);
		struct node_round out;
		sd->st[r].ledger_count = round - 1;
		err = node_local_secure_prepare(&cs->pol[r], sd->ds[r],
				&sd->st[r], sd->led[r], cs->roster, cs->id,
				fb_identity_public_key(cs->ids[r]), &plan,
				round, NULL, &p->sec[r], &out);
		if (err == FB_OK && out.refuse) {
			err = fb_errorf(FB_EINVAL,
					"retailer %u refused the secure plan: "
					"%s",
					r + 1, out.text);
		}
		if (err != FB_OK) {
			break;
		}
		size_t len = node_local_secure_len(p->sec[r]);
		if (len != p->dim) {
			return fb_errorf(FB_ESTATE,
					"retailer %u releases %zu coordinates, "
					"the release layout has %zu",
					r + 1, len, p->dim);
		}
		struct fb_secagg_client_params sp = {.n = K,
				.t = plan.config.sa.t,
				.index = r + 1,
				.n_min = plan.config.sa.n_min,
				.ring_bits = plan.config.sa.ring_bits};
		memcpy(sp.ctx.consortium, cs->id, sizeof(sp.ctx.consortium));
		sp.ctx.round = round;
		err = fb_secagg_client_create(&p->sa[r], &sp);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_secagg_server_params sv = {.n = K,
			.t = K / 2 + 1,
			.n_min = K,
			.id_keys = cs->keys,
			.dim = p->dim,
			.ring_bits = cs->ring_bits};
	memcpy(sv.ctx.consortium, cs->id, sizeof(sv.ctx.consortium));
	sv.ctx.round = round;
	return fb_secagg_server_create(&p->srv, &sv);
}

// The advertisements through the coordinator, each party's peers.
static fb_err
exchange_adverts(const struct consortium *cs, struct parties *p)
{
	bool dup = false;
	fb_err err = FB_OK;
	for (uint32_t r = 0; r < p->K && err == FB_OK; r++) {
		uint8_t ad[FB_SECAGG_ADVERT_LEN];
		err = fb_secagg_client_advert(p->sa[r], cs->ids[r], ad);
		if (err == FB_OK) {
			err = fb_secagg_server_add_advert(p->srv, r + 1, ad,
					cs->pol[r].users, &dup);
		}
	}
	if (err == FB_OK) {
		err = fb_secagg_server_close_adverts(p->srv);
	}
	if (err != FB_OK) {
		return err;
	}
	size_t len = fb_secagg_server_peers_len(p->srv);
	uint8_t *peers = malloc(len + 1);
	if (peers == NULL) {
		return FB_ENOMEM;
	}
	fb_secagg_server_peers(p->srv, peers);
	struct fb_sa_list l;
	err = fb_sa_peers_decode(&l, peers, len);
	for (uint32_t r = 0; r < p->K && err == FB_OK; r++) {
		for (uint32_t i = 0; i < l.count && err == FB_OK; i++) {
			const uint8_t *ad = fb_sa_peers_advert(&l, i);
			uint32_t idx = fb_sa_advert_index(ad);
			if (idx != r + 1) {
				err = fb_secagg_client_add_peer(p->sa[r], ad,
						cs->keys + (size_t)(idx - 1) * FB_ID_PK_LEN);
			}
		}
	}
	free(peers);
	return err;
}

// Every party's shares sealed to the others, routed, opened.
static fb_err
exchange_shares(struct parties *p)
{
	uint32_t K = p->K;
	size_t blen = fb_sa_bundles_len(K - 1);
	uint8_t *body = malloc(blen);
	if (body == NULL) {
		return FB_ENOMEM;
	}
	bool dup = false;
	fb_err err = FB_OK;
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		uint8_t *first = fb_sa_bundles_init(body, K - 1);
		for (uint32_t i = 0, k = 0; i < K && err == FB_OK; i++) {
			uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN];
			if (i != r) {
				err = fb_secagg_client_seal_shares(
						p->sa[r], i + 1, sealed);
				fb_sa_bundles_put(first, k++, i + 1, sealed);
			}
		}
		if (err == FB_OK) {
			err = fb_secagg_server_add_shares(
					p->srv, r + 1, body, blen, &dup);
		}
	}
	free(body);
	if (err == FB_OK) {
		err = fb_secagg_server_close_shares(p->srv);
	}
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		size_t il = fb_secagg_server_inbox_len(p->srv, r + 1);
		uint8_t *inbox = malloc(il + 1);
		struct fb_sa_list l;
		err = inbox == NULL
				? FB_ENOMEM
				: fb_secagg_server_inbox(p->srv, r + 1, inbox);
		if (err == FB_OK) {
			err = fb_sa_bundles_decode(&l, inbox, il);
		}
		for (uint32_t i = 0; err == FB_OK && i < l.count; i++) {
			err = fb_secagg_client_open_shares(p->sa[r],
					fb_sa_bundles_party(&l, i),
					fb_sa_bundles_sealed(&l, i));
		}
		free(inbox);
	}
	return err;
}

// The epsilon of led replayed by the accountant of pol (what a restarted
// client would count), into *eps.
static fb_err
replay_epsilon(const struct node_policy *pol, const struct fb_ledger *led,
		double *eps)
{
	struct fb_acct *a = NULL;
	fb_err err = fb_ledger_accountant(
			led, (enum fb_acct_kind)pol->accountant, &a);
	if (err == FB_OK) {
		err = fb_acct_epsilon(a, pol->delta, eps);
	}
	fb_acct_destroy(a);
	return err;
}

// Retailer r's release, masked input and UPDATE, into s; the masked
// tensor as the coordinator receives it (decoded from the UPDATE).
static fb_err
upload(const struct consortium *cs, struct side *sd, struct parties *p,
		uint32_t r, struct session *s)
{
	struct node_round out;
	int64_t *x = NULL;
	uint64_t *y = malloc((p->dim + 1) * sizeof(*y));
	if (y == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = node_local_secure_release(p->sec[r], &x, &out);
	if (err == FB_OK) {
		memcpy(s->x[r], x, p->dim * sizeof(*x));
		err = fb_ledger_entry_at(sd->led[r],
				fb_ledger_count(sd->led[r]) - 1, &s->entry[r]);
	}
	if (err == FB_OK) {
		err = replay_epsilon(&cs->pol[r], sd->led[r], &s->replayed[r]);
	}
	if (err == FB_OK) {
		err = fb_secagg_client_mask(p->sa[r], x, p->dim, y);
	}
	if (err == FB_OK) {
		err = node_local_secure_encode(p->sec[r], y, &out);
	}
	free(y);
	if (err != FB_OK) {
		return err;
	}
	size_t len = fb_msg_len(out.update) - FB_ENV_OVERHEAD;
	const uint8_t *b = fb_msg_data(out.update) + FB_ENV_BODY_OFF;
	s->body[r] = malloc(len + 1);
	struct fb_wire_update u;
	struct fb_wire_limits wl = {FB_WIRE_MAX_TENSORS, UINT32_MAX, 1, true};
	err = s->body[r] == NULL ? FB_ENOMEM
				 : fb_wire_update_decode(&u, b, len, &wl);
	if (err == FB_OK &&
			(u.n_tensors != 1 ||
					u.tensors[0].id !=
							FB_WIRE_TENSOR_MASKED ||
					u.tensors[0].rows != p->dim)) {
		err = fb_errorf(FB_EPROTO,
				"retailer %u: its UPDATE is not one masked "
				"tensor of %zu rows",
				r + 1, p->dim);
	}
	if (err == FB_OK) {
		memcpy(s->body[r], b, len);
		s->blen[r] = len;
		s->exp[r] = u.tensors[0].exp;
		bool dup = false;
		err = fb_secagg_server_add_masked(
				p->srv, r + 1, u.tensors[0].data, p->dim, &dup);
	}
	fb_msg_free(out.update);
	return err;
}

// The unmask request answered by every survivor; the sum.
static fb_err
unmask(struct parties *p, struct session *s)
{
	uint32_t K = p->K;
	fb_err err = fb_secagg_server_close_masked(p->srv);
	size_t ql = fb_secagg_server_unmask_req_len(p->srv);
	uint8_t *req = malloc(ql + 1);
	uint32_t *surv = malloc(((size_t)K + 1) * sizeof(*surv));
	uint8_t *shares = malloc((size_t)K * FB_SHAMIR_SHARE_LEN);
	uint8_t *body = malloc(fb_sa_unmask_len(K, 0));
	if (req == NULL || surv == NULL || shares == NULL || body == NULL) {
		err = FB_ENOMEM;
	}
	struct fb_sa_unmask_req rq = {0};
	if (err == FB_OK) {
		fb_secagg_server_unmask_req(p->srv, req);
		err = fb_sa_unmask_req_decode(&rq, req, ql);
	}
	if (err == FB_OK && (rq.ns != K || rq.nd != 0)) {
		err = fb_errorf(FB_ESTATE, "%u survivors of %u", rq.ns, K);
	}
	bool dup = false;
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		uint32_t none[1];
		fb_sa_unmask_req_copy(&rq, surv, none);
		err = fb_secagg_client_reveal(
				p->sa[r], surv, K, none, 0, shares, NULL);
		if (err == FB_OK) {
			err = fb_sa_unmask_encode(body, K, 0, shares, NULL);
		}
		if (err == FB_OK) {
			err = fb_secagg_server_add_reveal(p->srv, r + 1, body,
					fb_sa_unmask_len(K, 0), &dup);
		}
	}
	if (err == FB_OK) {
		err = fb_secagg_server_finish(p->srv, s->sum);
	}
	if (err == FB_OK) {
		s->users = fb_secagg_server_users(p->srv);
	}
	free(req);
	free(surv);
	free(shares);
	free(body);
	return err;
}

// One secure round of every retailer of side sd over the public model m,
// with the randomness of (seed, round): into s.
static fb_err
session_run(const struct audit_secure_in *in, const struct consortium *cs,
		struct side *sd, const struct fb_model *m, uint32_t round,
		struct session *s)
{
	struct parties p = {.dim = s->dim};
	det_restart(in->seed, round);
	fb_err err = parties_prepare(in, cs, sd, m, round, &p);
	if (err == FB_OK) {
		err = exchange_adverts(cs, &p);
	}
	if (err == FB_OK) {
		err = exchange_shares(&p);
	}
	for (uint32_t r = 0; r < cs->K && err == FB_OK; r++) {
		free(s->body[r]);
		s->body[r] = NULL;
		err = upload(cs, sd, &p, r, s);
	}
	if (err == FB_OK) {
		err = unmask(&p, s);
	}
	parties_finish(&p);
	return err;
}

static void
session_finish(struct session *s, uint32_t K)
{
	for (uint32_t r = 0; r < K; r++) {
		if (s->x != NULL) {
			free(s->x[r]);
		}
		if (s->body != NULL) {
			free(s->body[r]);
		}
	}
	free(s->x);
	free(s->body);
	free(s->blen);
	free(s->entry);
	free(s->replayed);
	free(s->exp);
	free(s->sum);
	memset(s, 0, sizeof(*s));
}

static fb_err
session_init(struct session *s, uint32_t K, size_t dim)
{
	memset(s, 0, sizeof(*s));
	s->dim = dim;
	s->x = calloc(K, sizeof(*s->x));
	s->body = calloc(K, sizeof(*s->body));
	s->blen = calloc(K, sizeof(*s->blen));
	s->entry = calloc(K, sizeof(*s->entry));
	s->replayed = calloc(K, sizeof(*s->replayed));
	s->exp = calloc(K, sizeof(*s->exp));
	s->sum = malloc((dim + 1) * sizeof(*s->sum));
	fb_err err = s->x == NULL || s->body == NULL || s->blen == NULL ||
					s->entry == NULL ||
					s->replayed == NULL || s->exp == NULL ||
					s->sum == NULL
			? FB_ENOMEM
			: FB_OK;
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		s->x[r] = malloc((dim + 1) * sizeof(*s->x[r]));
		err = s->x[r] == NULL ? FB_ENOMEM : FB_OK;
	}
	if (err != FB_OK) {
		session_finish(s, K);
	}
	return err;
}

// ---- the checks ----

// The ledger entry of a release against the release made: a distributed-
// noise entry of dim coordinates, on the grid the UPDATE names, with the
// plan's honest shares (all K), whose epsilon (the live accountant's) is
// the ledger's replayed; its accounted terms into out.
static bool
entry_ok(const struct fb_ledger_entry *e, double replayed, int32_t exp,
		size_t dim, uint32_t K, double clip,
		struct audit_secure_out *out)
{
	if (!fb_ledger_is_ddg(e)) {
		return false;
	}
	struct fb_acct_ddg m;
	fb_ledger_ddg_of(e, &m);
	out->l2 = m.l2;
	out->l1 = m.l1 > 0 ? m.l1 : fb_acct_ddg_l1_bound(m.l2, m.dim);
	out->n_honest = m.n_honest;
	out->sigma_share = m.sigma_share;
	out->grid_log2 = exp;
	return m.dim == dim && m.n_honest == K && m.l2 == ldexp(clip, -exp) &&
			fabs(e->eps_assumed - replayed) <= 1e-9 * replayed;
}

// Exact L2^2 (saturating) and L1 (double) of a - b in Z_2^64 read as
// signed; *same: a - b equals c - d coordinate by coordinate.
static uint64_t
diff_norms(const int64_t *a, const int64_t *b, const int64_t *c,
		const int64_t *d, size_t n, double *l1, double *approx2,
		bool *same)
{
	uint64_t sum = 0;
	double s1 = 0, s2 = 0;
	bool eq = true;
	for (size_t k = 0; k < n; k++) {
		uint64_t v = (uint64_t)a[k] - (uint64_t)b[k];
		eq = eq && v == (uint64_t)c[k] - (uint64_t)d[k];
		uint64_t m = (int64_t)v < 0 ? (uint64_t)0 - v : v;
		s1 += (double)m;
		s2 += (double)m * (double)m;
		sum = m > UINT32_MAX || sum > UINT64_MAX - m * m ? UINT64_MAX
								 : sum + m * m;
	}
	*l1 = s1;
	*approx2 = s2;
	*same = eq;
	return sum;
}

// The fields of two UPDATE bodies of the owner outside the masked
// tensor's data: the same (public) on D and D'.
static bool
same_public(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
	struct fb_wire_limits wl = {FB_WIRE_MAX_TENSORS, UINT32_MAX, 1, true};
	struct fb_wire_update u, v;
	if (la != lb || fb_wire_update_decode(&u, a, la, &wl) != FB_OK ||
			fb_wire_update_decode(&v, b, lb, &wl) != FB_OK) {
		return false;
	}
	return u.clip_norm == v.clip_norm &&
			u.noise_multiplier == v.noise_multiplier &&
			u.epsilon_spent == v.epsilon_spent &&
			u.train_loss == v.train_loss &&
			u.eval_users == v.eval_users &&
			u.n_tensors == v.n_tensors &&
			u.tensors[0].rows == v.tensors[0].rows &&
			u.tensors[0].exp == v.tensors[0].exp;
}

// The round's checks of user u (retailer ru) on the sessions of D (a)
// and D' (b), into pu and out.
static void
check_round(const struct audit_secure_in *in, const struct consortium *cs,
		uint32_t ru, const struct session *a, const struct session *b,
		size_t dim, struct audit_secure_user *pu,
		struct audit_secure_out *out)
{
	for (uint32_t r = 0; r < cs->K; r++) {
		bool ok = entry_ok(&a->entry[r], a->replayed[r], a->exp[r], dim,
					  cs->K, in->dpc->clip, out) &&
				entry_ok(&b->entry[r], b->replayed[r],
						b->exp[r], dim, cs->K,
						in->dpc->clip, out);
		out->ledger_mismatches += !ok;
		if (r == ru) {
			out->public_mismatches += !same_public(a->body[r],
					a->blen[r], b->body[r], b->blen[r]);
			continue;
		}
		bool same = a->blen[r] == b->blen[r] &&
				memcmp(a->body[r], b->body[r], a->blen[r]) ==
						0 &&
				memcmp(a->x[r], b->x[r],
						dim * sizeof(int64_t)) == 0;
		out->masked_mismatches += !same;
	}
	out->public_mismatches += a->users != b->users;
	double l1, approx2;
	bool exact;
	uint64_t d2 = diff_norms(a->sum, b->sum, a->x[ru], b->x[ru], dim, &l1,
			&approx2, &exact);
	out->unmask_mismatches += !exact;
	// The integer distance against the accounted real l2: d2 <= l2^2.
	long double l2 = out->l2;
	bool bad = (long double)d2 > l2 * l2 || l1 > out->l1;
	pu->checks++;
	pu->violations += bad;
	double dist = sqrt(approx2);
	pu->max_l2 = dist > pu->max_l2 ? dist : pu->max_l2;
	pu->max_l1 = l1 > pu->max_l1 ? l1 : pu->max_l1;
}

// The aggregator's step from D's sum, onto m (the next round's public
// model), through its own code (agg_secround_delta).
static fb_err
commit(const struct audit_secure_in *in, const struct session *a,
		struct fb_model *m, size_t dim)
{
	struct agg_fed *fed = calloc(1, sizeof(*fed));
	struct fb_model delta = {0};
	if (fed == NULL) {
		return FB_ENOMEM;
	}
	fed->sa.cat = *in->ds;
	fed->sa.cat.n_users = 0; // the trainer of the commit visits no user
	fed->sa.grid_log2 = a->exp[0];
	fed->sa.dim = dim;
	struct fb_wire_plan plan;
	struct consortium none = {0};
	plan_make(in, &none, m, 1, &plan);
	fed->plan_cfg = plan.config;
	fed->model = *m; // borrowed: read only
	fb_err err = fb_model_init(
			&delta, m->n_items, m->n_bundles, m->n_attrs, m->dim);
	if (err == FB_OK) {
		err = agg_secround_delta(fed, a->sum, a->users, &delta);
	}
	if (err == FB_OK) {
		err = fb_matrix_axpy(&m->V, 1.0f, &delta.V);
	}
	if (err == FB_OK) {
		err = fb_matrix_axpy(&m->W, 1.0f, &delta.W);
	}
	if (err == FB_OK && m->n_attrs > 0) {
		err = fb_matrix_axpy(&m->M, 1.0f, &delta.M);
	}
	fb_model_finish(&delta);
	free(fed);
	return err;
}

// ---- one user ----

// The two sides' retailers: D's datasets but u's retailer's, emptied of
// u in D'; fresh states; a ledger each in the audit's folder.
struct pair {
	uint32_t K;
	struct audit_without w;
	const struct fb_dataset **ds[2];
	struct node_state *st[2];
	struct fb_ledger **led[2];
	char **path;
};

static void
pair_finish(struct pair *pr)
{
	for (int s = 0; s < 2; s++) {
		for (uint32_t r = 0; r < pr->K; r++) {
			if (pr->st[s] != NULL) {
				node_state_finish(&pr->st[s][r]);
			}
			if (pr->led[s] != NULL) {
				fb_ledger_close(pr->led[s][r]);
			}
		}
		free(pr->ds[s]);
		free(pr->st[s]);
		free(pr->led[s]);
	}
	for (uint32_t k = 0; pr->path != NULL && k < 2 * pr->K; k++) {
		if (pr->path[k] != NULL) {
			unlink(pr->path[k]);
		}
		free(pr->path[k]);
	}
	free(pr->path);
	audit_without_finish(&pr->w);
	memset(pr, 0, sizeof(*pr));
}

static fb_err
pair_init(const struct audit_secure_in *in, const struct consortium *cs,
		uint32_t u, struct pair *pr)
{
	memset(pr, 0, sizeof(*pr));
	uint32_t K = pr->K = cs->K, ru = cs->owner[u];
	fb_err err = audit_without_init(&pr->w, cs->part[ru], cs->local[u]);
	pr->path = calloc(2 * (size_t)K, sizeof(*pr->path));
	err = err == FB_OK && pr->path == NULL ? FB_ENOMEM : err;
	for (int s = 0; s < 2 && err == FB_OK; s++) {
		pr->ds[s] = calloc(K, sizeof(*pr->ds[s]));
		pr->st[s] = calloc(K, sizeof(*pr->st[s]));
		pr->led[s] = calloc(K, sizeof(*pr->led[s]));
		if (pr->ds[s] == NULL || pr->st[s] == NULL ||
				pr->led[s] == NULL) {
			err = FB_ENOMEM;
			break;
		}
		for (uint32_t r = 0; r < K && err == FB_OK; r++) {
			pr->ds[s][r] = s == 1 && r == ru ? &pr->w.ds
							 : cs->part[r];
			size_t n = strlen(in->dir) + 32;
			char *p = pr->path[s * K + r] = malloc(n);
			if (p == NULL) {
				err = FB_ENOMEM;
				break;
			}
			snprintf(p, n, "%s/secure-%d-%u.ledger", in->dir, s, r);
			unlink(p);
			err = fb_ledger_open(&pr->led[s][r], p, true);
		}
	}
	if (err != FB_OK) {
		pair_finish(pr);
	}
	return err;
}

// Every other user's factors and the received model, the same on both
// sides after a round; true if so.
static bool
same_states(const struct consortium *cs, const struct pair *pr, uint32_t u)
{
	uint32_t ru = cs->owner[u];
	for (uint32_t r = 0; r < cs->K; r++) {
		const struct node_state *a = &pr->st[0][r], *b = &pr->st[1][r];
		if (!audit_same_rows_but(&a->P, &b->P,
				    r == ru ? cs->local[u] : UINT32_MAX) ||
				!audit_same_matrix(
						&a->global.V, &b->global.V) ||
				!audit_same_matrix(
						&a->global.W, &b->global.W)) {
			return false;
		}
	}
	return true;
}

static fb_err
check_user(const struct audit_secure_in *in, const struct consortium *cs,
		uint32_t k, struct session *a, struct session *b,
		struct audit_secure_out *out)
{
	uint32_t u = in->users[k];
	struct audit_secure_user *pu = &out->per_user[k];
	pu->retailer = cs->owner[u] + 1;
	struct pair pr;
	struct fb_model m = {0};
	fb_err err = pair_init(in, cs, u, &pr);
	if (err != FB_OK) {
		return err;
	}
	err = fb_model_copy(&m, in->model0);
	bool diverged = false;
	for (uint32_t s = 0; s < in->steps && err == FB_OK; s++) {
		uint32_t round = s + 1;
		struct side d = {pr.ds[0], pr.st[0], pr.led[0]};
		struct side dn = {pr.ds[1], pr.st[1], pr.led[1]};
		err = session_run(in, cs, &d, &m, round, a);
		if (err == FB_OK) {
			err = session_run(in, cs, &dn, &m, round, b);
		}
		if (err != FB_OK) {
			break;
		}
		check_round(in, cs, cs->owner[u], a, b, out->dim, pu, out);
		if (!diverged && !same_states(cs, &pr, u)) {
			out->state_divergences++; // once per user
			diverged = true;
		}
		err = commit(in, a, &m, out->dim);
	}
	fb_model_finish(&m);
	pair_finish(&pr);
	return err;
}

fb_err
audit_secure_run(const struct audit_secure_in *in, struct audit_secure_out *out)
{
	struct consortium cs;
	struct session a = {0}, b = {0};
	fb_err err = consortium_init(in, &cs);
	if (err != FB_OK) {
		return err;
	}
	struct fb_release_layout L;
	fb_train_release_layout(
			in->cfg, in->ds->n_items, in->ds->n_bundles, &L);
	out->dim = L.len;
	out->ring_bits = cs.ring_bits;
	if ((err = session_init(&a, cs.K, L.len)) != FB_OK ||
			(err = session_init(&b, cs.K, L.len)) != FB_OK) {
		goto out;
	}
	for (uint32_t k = 0; k < in->n_users && err == FB_OK; k++) {
		if (in->progress != NULL) {
			in->progress(in->ctx, k, in->n_users);
		}
		err = check_user(in, &cs, k, &a, &b, out);
	}
	if (in->progress != NULL) {
		in->progress(in->ctx, in->n_users, in->n_users);
	}
out:
	// Back to a CSPRNG for whatever the process does next.
	randombytes_set_implementation(&randombytes_internal_implementation);
	randombytes_stir();
	session_finish(&a, cs.K);
	session_finish(&b, cs.K);
	consortium_finish(&cs);
	return err;
}
