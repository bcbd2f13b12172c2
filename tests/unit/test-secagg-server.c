// tests/unit/test-secagg-server.c: the aggregator's round of secure
// aggregation (common/secagg/server.c) driven by n real fb_secagg_client
// instances in process, every message through its wire codec
// (secagg/msg.h; the masked input as the MASKED tensor of an UPDATE, u64,
// u48 or u32 for the round's ring of 64, 48 or 32 bits). The unmasked sum
// must equal the plaintext int64 sum of the survivors' inputs bit for bit
// with parties dropping at every stage, in each ring; fewer than t
// responders, too few parties at a close, wrong or repeated messages and
// wrong shares must be refused.
#include <sodium.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/util/log.h"
#include "harness.h"

#define NMAX 9
#define SH FB_SHAMIR_SHARE_LEN

enum drop {
	DROP_NONE,
	DROP_ADVERT, // never advertises
	DROP_SHARE,  // advertises, sends no shares
	DROP_MASK,   // shares, sends no masked input
	DROP_UNMASK, // sends its masked input, never answers the request
};

struct run {
	uint32_t n, t, n_min;
	size_t dim;
	uint32_t bits; // the ring's width (secagg-v1 §2.2)
	struct fb_secagg_ctx ctx;
	struct fb_identity *id[NMAX + 1];
	struct fb_secagg_client *c[NMAX + 1];
	struct fb_secagg_server *srv;
	enum drop drop[NMAX + 1];
	int64_t *x[NMAX + 1];
	uint8_t keys[NMAX * FB_ID_PK_LEN];
	// The last message each party sent, for resends.
	uint8_t advert[NMAX + 1][FB_SA_ADVERT_MSG_LEN];
	uint8_t *shares[NMAX + 1];
	size_t shares_len[NMAX + 1];
	uint8_t *update[NMAX + 1]; // UPDATE body (4-byte aligned)
	size_t update_len[NMAX + 1];
	uint8_t *reveal[NMAX + 1];
	size_t reveal_len[NMAX + 1];
	// Reveal tampering: responder corrupt_by flips a bit of its share at
	// request position corrupt_k; with forge, every responder's share at
	// forge_k is replaced by its share of another secret.
	uint32_t corrupt_by;
	uint32_t corrupt_k;
	bool forge;
	uint32_t forge_k;
};

static const struct fb_wire_limits lim = {
		.max_tensors = 4,
		.max_rows = 1u << 20,
		.max_cols = 1,
		.require_finite = true,
};

// Whether run_init_ring's clients and aggregator run the consistency
// round (secagg-v1 §3.5).
static bool run_consistency;

// A round in Z_(2^bits) whose inputs' sum cannot wrap: each input below
// 2^(bits - 6) in magnitude (2^40 in Z_(2^64)), at most 9 parties.
static void
run_init_ring(struct run *r, uint32_t n, uint32_t t, uint32_t n_min, size_t dim,
		uint32_t bits)
{
	memset(r, 0, sizeof(*r));
	r->bits = bits;
	r->n = n;
	r->t = t;
	r->n_min = n_min;
	r->dim = dim;
	r->ctx.round = 42;
	memset(r->ctx.consortium, 0x5c, sizeof(r->ctx.consortium));
	struct fb_secagg_client_params p = {
			r->ctx, n, t, 0, 0, bits, run_consistency};
	int shift = bits == 64 ? 23 : 69 - (int)bits;
	for (uint32_t i = 1; i <= n; i++) {
		uint8_t seed[FB_ID_SEED_LEN];
		char name[16];
		memset(seed, (int)(0x30 + i), sizeof(seed));
		snprintf(name, sizeof(name), "shop%u", i);
		CHECK_OK(fb_identity_from_seed(&r->id[i], seed, name));
		memcpy(r->keys + (i - 1) * FB_ID_PK_LEN,
				fb_identity_public_key(r->id[i]), FB_ID_PK_LEN);
		p.index = i;
		CHECK_OK(fb_secagg_client_create(&r->c[i], &p));
		r->x[i] = malloc(dim * sizeof(int64_t));
		CHECK(r->x[i] != NULL);
		// Clipped-and-noised inputs: both signs, up to 2^40.
		randombytes_buf(r->x[i], dim * sizeof(int64_t));
		for (size_t k = 0; k < dim; k++) {
			r->x[i][k] >>= shift;
		}
	}
	struct fb_secagg_server_params sp = {r->ctx, n, t, n_min, r->keys, dim,
			bits, run_consistency};
	CHECK_OK(fb_secagg_server_create(&r->srv, &sp));
}

static void
run_init(struct run *r, uint32_t n, uint32_t t, uint32_t n_min, size_t dim)
{
	run_init_ring(r, n, t, n_min, dim, 64);
}

// The UPDATE dtype of a ring (secagg-v1 §6).
static uint8_t
ring_dtype(uint32_t bits)
{
	return bits == 64            ? FB_WIRE_DTYPE_U64
			: bits == 48 ? FB_WIRE_DTYPE_U48
				     : FB_WIRE_DTYPE_U32;
}

static void
run_finish(struct run *r)
{
	fb_secagg_server_destroy(r->srv);
	for (uint32_t i = 1; i <= r->n; i++) {
		fb_secagg_client_destroy(r->c[i]);
		fb_identity_destroy(r->id[i]);
		free(r->x[i]);
		free(r->shares[i]);
		free(r->update[i]);
		free(r->reveal[i]);
	}
}

static bool
in(const struct run *r, enum fb_secagg_stage set, uint32_t i)
{
	return fb_secagg_server_in(r->srv, set, i);
}

// SA_ADVERT from every party that does not drop before; users 10 i.
static void
step_adverts(struct run *r)
{
	for (uint32_t i = 1; i <= r->n; i++) {
		if (r->drop[i] == DROP_ADVERT) {
			continue;
		}
		uint8_t ad[FB_SECAGG_ADVERT_LEN];
		CHECK_OK(fb_secagg_client_advert(r->c[i], r->id[i], ad));
		CHECK_OK(fb_sa_advert_msg_encode(r->advert[i], ad, 10 * i));
		struct fb_sa_advert_msg m;
		CHECK_OK(fb_sa_advert_msg_decode(
				&m, r->advert[i], FB_SA_ADVERT_MSG_LEN));
		bool dup = true;
		CHECK_OK(fb_secagg_server_add_advert(
				r->srv, i, m.advert, m.users, &dup));
		CHECK(!dup);
	}
}

// Close; every advertiser verifies SA_PEERS against the roster.
static void
step_peers(struct run *r)
{
	CHECK_OK(fb_secagg_server_close_adverts(r->srv));
	size_t len = fb_secagg_server_peers_len(r->srv);
	CHECK(len ==
			fb_sa_peers_len(fb_secagg_server_count(
					r->srv, FB_SA_ADVERTS)));
	uint8_t *body = malloc(len);
	CHECK(body != NULL);
	fb_secagg_server_peers(r->srv, body);
	struct fb_sa_list l;
	fb_err err = fb_sa_peers_decode(&l, body, len);
	for (uint32_t i = 1; i <= r->n && err == FB_OK; i++) {
		for (uint32_t k = 0; k < l.count && in(r, FB_SA_ADVERTS, i) &&
				err == FB_OK;
				k++) {
			const uint8_t *ad = fb_sa_peers_advert(&l, k);
			uint32_t j = fb_sa_advert_index(ad);
			if (j != i) {
				err = fb_secagg_client_add_peer(r->c[i], ad,
						r->keys + (j - 1) * FB_ID_PK_LEN);
			}
		}
	}
	free(body);
	CHECK_OK(err);
}

// The SA_SHARES body of advertiser i: a bundle for every other one.
static void
make_shares(struct run *r, uint32_t i)
{
	uint32_t count = fb_secagg_server_count(r->srv, FB_SA_ADVERTS) - 1;
	free(r->shares[i]);
	r->shares_len[i] = fb_sa_bundles_len(count);
	r->shares[i] = malloc(r->shares_len[i]);
	CHECK(r->shares[i] != NULL);
	uint8_t *first = fb_sa_bundles_init(r->shares[i], count);
	uint32_t k = 0;
	for (uint32_t j = 1; j <= r->n; j++) {
		if (j == i || !in(r, FB_SA_ADVERTS, j)) {
			continue;
		}
		uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
		CHECK_OK(fb_secagg_client_seal_shares(r->c[i], j, box));
		fb_sa_bundles_put(first, k++, j, box);
	}
}

static void
step_shares(struct run *r)
{
	for (uint32_t i = 1; i <= r->n; i++) {
		if (!in(r, FB_SA_ADVERTS, i) || r->drop[i] == DROP_SHARE) {
			continue;
		}
		make_shares(r, i);
		bool dup = true;
		CHECK_OK(fb_secagg_server_add_shares(r->srv, i, r->shares[i],
				r->shares_len[i], &dup));
		CHECK(!dup);
	}
}

// Close; every sharer opens its SA_INBOX.
static void
step_inbox(struct run *r)
{
	CHECK_OK(fb_secagg_server_close_shares(r->srv));
	uint32_t m2 = fb_secagg_server_count(r->srv, FB_SA_SHARES);
	for (uint32_t i = 1; i <= r->n; i++) {
		size_t len = fb_secagg_server_inbox_len(r->srv, i);
		if (!in(r, FB_SA_SHARES, i)) {
			CHECK(len == 0);
			continue;
		}
		CHECK(len == fb_sa_bundles_len(m2 - 1));
		uint8_t *body = malloc(len);
		CHECK(body != NULL);
		CHECK_OK(fb_secagg_server_inbox(r->srv, i, body));
		struct fb_sa_list l;
		fb_err err = fb_sa_bundles_decode(&l, body, len);
		for (uint32_t k = 0; k < l.count && err == FB_OK; k++) {
			err = fb_secagg_client_open_shares(r->c[i],
					fb_sa_bundles_party(&l, k),
					fb_sa_bundles_sealed(&l, k));
		}
		free(body);
		CHECK_OK(err);
	}
}

// The UPDATE body of sharer i carrying its masked input.
static void
make_update(struct run *r, uint32_t i)
{
	uint64_t *y = malloc(r->dim * sizeof(*y));
	uint8_t *packed = malloc(r->dim * 8);
	CHECK(y != NULL && packed != NULL);
	fb_err err = fb_secagg_client_mask(r->c[i], r->x[i], r->dim, y);
	for (size_t k = 0; k < r->dim && r->bits < 64; k++) {
		CHECK(y[k] >> r->bits == 0); // reduced
	}
	fb_secagg_ring_pack(packed, y, r->dim, r->bits);
	struct fb_wire_update u = {
			.clip_norm = 1.0,
			.noise_multiplier = 1.0,
			.n_tensors = 1,
	};
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			ring_dtype(r->bits), -20, (uint32_t)r->dim, 1, packed};
	size_t len = fb_wire_update_len(&u);
	free(r->update[i]);
	r->update[i] = malloc(len);
	if (err == FB_OK && r->update[i] != NULL) {
		err = fb_wire_update_encode(
				r->update[i], len, &u, &r->update_len[i], NULL);
	}
	free(y);
	free(packed);
	CHECK_OK(err);
}

// The server's side of an UPDATE: decode, add the MASKED tensor.
static fb_err
send_update(struct run *r, uint32_t i, bool *dup)
{
	struct fb_wire_update d;
	fb_err err = fb_wire_update_decode(
			&d, r->update[i], r->update_len[i], &lim);
	if (err != FB_OK) {
		return err;
	}
	const struct fb_wire_tensor *t = &d.tensors[0];
	if (t->id != FB_WIRE_TENSOR_MASKED || t->dtype != ring_dtype(r->bits)) {
		return FB_EPROTO;
	}
	return fb_secagg_server_add_masked(r->srv, i, t->data, t->rows, dup);
}

static void
step_masked(struct run *r)
{
	for (uint32_t i = 1; i <= r->n; i++) {
		if (!in(r, FB_SA_SHARES, i) || r->drop[i] == DROP_MASK) {
			continue;
		}
		make_update(r, i);
		bool dup = true;
		CHECK_OK(send_update(r, i, &dup));
		CHECK(!dup);
	}
}

// The SA_UNMASK body of survivor i for the request body req, tampered
// with as r says.
static void
make_reveal(struct run *r, uint32_t i, const uint8_t *req, size_t req_len)
{
	struct fb_sa_unmask_req q;
	CHECK_OK(fb_sa_unmask_req_decode(&q, req, req_len));
	uint32_t surv[NMAX], drop[NMAX];
	fb_sa_unmask_req_copy(&q, surv, drop);
	uint8_t self[NMAX * SH], mask[NMAX * SH];
	CHECK_OK(fb_secagg_client_reveal(
			r->c[i], surv, q.ns, drop, q.nd, self, mask));
	free(r->reveal[i]);
	r->reveal_len[i] = fb_sa_unmask_len(q.ns, q.nd);
	r->reveal[i] = malloc(r->reveal_len[i]);
	CHECK(r->reveal[i] != NULL);
	CHECK_OK(fb_sa_unmask_encode(r->reveal[i], q.ns, q.nd, self, mask));
	if (r->corrupt_by == i) {
		// Bit 80 of f_lo: not a bit X25519 clamping would hide in a
		// mask key (the lowest 3), so the secret really changes.
		r->reveal[i][4 + r->corrupt_k * SH + 4 + 10] ^= 1;
	}
	if (r->forge) {
		// Shares of a forged secret, consistent across responders.
		static uint8_t forged[NMAX * SH];
		static bool made;
		if (!made) {
			uint8_t secret[32];
			memset(secret, 0, sizeof(secret));
			randombytes_buf(secret, 16);
			randombytes_buf(secret + 16, 15); // halves < 2^128
			CHECK_OK(fb_shamir_split(forged, secret, r->t, r->n));
			made = true;
		}
		memcpy(r->reveal[i] + 4 + r->forge_k * SH,
				forged + (i - 1) * SH, SH);
	}
}

// Close; every survivor that does not drop answers the request.
static void
step_reveal(struct run *r)
{
	CHECK_OK(fb_secagg_server_close_masked(r->srv));
	size_t len = fb_secagg_server_unmask_req_len(r->srv);
	CHECK(len > 0);
	uint8_t *req = malloc(len);
	CHECK(req != NULL);
	fb_secagg_server_unmask_req(r->srv, req);
	fb_err err = FB_OK;
	for (uint32_t i = 1; i <= r->n && err == FB_OK; i++) {
		if (!in(r, FB_SA_MASKED, i) || r->drop[i] == DROP_UNMASK) {
			continue;
		}
		make_reveal(r, i, req, len);
		bool dup = true;
		err = fb_secagg_server_add_reveal(r->srv, i, r->reveal[i],
				r->reveal_len[i], &dup);
		CHECK(!dup);
	}
	free(req);
	CHECK_OK(err);
}

static void
run_to_reveal(struct run *r)
{
	step_adverts(r);
	step_peers(r);
	step_shares(r);
	step_inbox(r);
	step_masked(r);
	step_reveal(r);
}

// finish, and compare with the plaintext sum over U3 if it succeeds.
static fb_err
finish_and_compare(struct run *r)
{
	int64_t *sum = malloc(r->dim * sizeof(*sum));
	// The inputs' sum in Z_(2^64) is the int64 sum: run_init_ring keeps
	// it inside every ring.
	uint64_t *want = calloc(r->dim, sizeof(*want));
	CHECK(sum != NULL && want != NULL);
	uint64_t users = 0;
	for (uint32_t i = 1; i <= r->n; i++) {
		if (!in(r, FB_SA_MASKED, i)) {
			continue;
		}
		users += 10 * i;
		for (size_t k = 0; k < r->dim; k++) {
			want[k] += (uint64_t)r->x[i][k];
		}
	}
	memset(sum, 0x77, r->dim * sizeof(*sum));
	fb_err err = fb_secagg_server_finish(r->srv, sum);
	bool same = true;
	for (size_t k = 0; k < r->dim; k++) {
		int64_t w = (int64_t)want[k];
		same = same &&
				(err == FB_OK ? sum[k] == w
					      : sum[k] == 0x7777777777777777);
	}
	free(sum);
	free(want);
	CHECK(same); // exact on success; untouched on failure
	CHECK(fb_secagg_server_users(r->srv) == users);
	return err;
}

// The unmasked sum with 0, 1 and n - t survivors that never answer the
// unmask request (exactly t responders in the last case).
TEST(sum_exact_with_silent_survivors)
{
	const uint32_t silent[3] = {0, 1, 3};
	for (int c = 0; c < 3; c++) {
		struct run r;
		run_init(&r, 7, 4, 4, 1000 + (size_t)c);
		for (uint32_t k = 0; k < silent[c]; k++) {
			r.drop[2 + 2 * k] = DROP_UNMASK;
		}
		run_to_reveal(&r);
		CHECK(fb_secagg_server_count(r.srv, FB_SA_MASKED) == 7);
		CHECK(fb_secagg_server_count(r.srv, FB_SA_UNMASK) ==
				7 - silent[c]);
		CHECK_OK(finish_and_compare(&r));
		CHECK(fb_secagg_server_stage(r.srv) == FB_SA_DONE);
		run_finish(&r);
	}
}

// Drops at every stage in one round: U1 8, U2 7, U3 6, responders 5 = t.
TEST(sum_exact_with_drops_at_every_stage)
{
	struct run r;
	run_init(&r, 9, 5, 5, 4099);
	r.drop[9] = DROP_ADVERT;
	r.drop[1] = DROP_SHARE;
	r.drop[5] = DROP_MASK;
	r.drop[4] = DROP_UNMASK;
	run_to_reveal(&r);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_ADVERTS) == 8);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_SHARES) == 7);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_MASKED) == 6);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_UNMASK) == 5);
	CHECK(!in(&r, FB_SA_MASKED, 5) && in(&r, FB_SA_SHARES, 5));
	CHECK_OK(finish_and_compare(&r));
	run_finish(&r);
	// A dropped party below the lowest survivor and above the highest.
	run_init(&r, 5, 3, 3, 64);
	r.drop[1] = DROP_MASK;
	r.drop[5] = DROP_MASK;
	run_to_reveal(&r);
	CHECK_OK(finish_and_compare(&r));
	run_finish(&r);
}

// In each ring (32, 48, 64 bits) the sum is exact with drops at every
// stage, both signs, magnitudes near the ring's bound; and a wrap of
// Z_(2^32) is not hidden by the int64 accumulator: two inputs of 2^30
// each sum to -2^31 read back, as the ring defines.
TEST(sum_exact_in_every_ring)
{
	const uint32_t rings[3] = {32, 48, 64};
	for (int b = 0; b < 3; b++) {
		struct run r;
		run_init_ring(&r, 9, 5, 5, 2049 + 4099 * (size_t)b, rings[b]);
		r.drop[9] = DROP_ADVERT;
		r.drop[1] = DROP_SHARE;
		r.drop[5] = DROP_MASK;
		r.drop[4] = DROP_UNMASK;
		run_to_reveal(&r);
		CHECK(fb_secagg_server_count(r.srv, FB_SA_MASKED) == 6);
		CHECK_OK(finish_and_compare(&r));
		run_finish(&r);
	}
	struct run r;
	run_init_ring(&r, 3, 2, 2, 5, 32);
	for (uint32_t i = 1; i <= 3; i++) {
		for (size_t k = 0; k < 5; k++) {
			r.x[i][k] = i == 3 ? 0 : INT64_C(1) << 30;
		}
	}
	run_to_reveal(&r);
	int64_t sum[5];
	CHECK_OK(fb_secagg_server_finish(r.srv, sum));
	CHECK(sum[0] == -(INT64_C(1) << 31) && sum[4] == sum[0]);
	run_finish(&r);
}

// Fewer than t responders: finish refuses and leaves the state as is.
TEST(fewer_than_t_responders)
{
	struct run r;
	run_init(&r, 5, 3, 3, 16);
	r.drop[1] = r.drop[3] = r.drop[5] = DROP_UNMASK;
	run_to_reveal(&r);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_UNMASK) == 2);
	CHECK_ERR(finish_and_compare(&r), FB_ESTATE);
	CHECK(fb_secagg_server_stage(r.srv) == FB_SA_UNMASK);
	run_finish(&r);
}

// A close with fewer than n_min parties fails the round.
TEST(too_few_at_a_close)
{
	enum drop what[3] = {DROP_ADVERT, DROP_SHARE, DROP_MASK};
	for (int c = 0; c < 3; c++) {
		struct run r;
		run_init(&r, 5, 3, 4, 8);
		r.drop[2] = r.drop[4] = what[c];
		step_adverts(&r);
		fb_err err = FB_OK;
		if (c == 0) {
			err = fb_secagg_server_close_adverts(r.srv);
		} else if (c == 1) {
			step_peers(&r);
			step_shares(&r);
			err = fb_secagg_server_close_shares(r.srv);
		} else {
			step_peers(&r);
			step_shares(&r);
			step_inbox(&r);
			step_masked(&r);
			err = fb_secagg_server_close_masked(r.srv);
		}
		CHECK_ERR(err, FB_ESTATE);
		CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "secagg-too-few");
		CHECK(fb_secagg_server_stage(r.srv) == FB_SA_FAILED);
		CHECK(fb_secagg_server_peers_len(r.srv) == 0);
		CHECK_ERR(fb_secagg_server_close_masked(r.srv), FB_ESTATE);
		run_finish(&r);
	}
}

// secagg-v1 §3.5: signatures of survivors only, verified over the unmask
// request with the signer's roster key, resends told apart from other
// copies; reveals only after the close and only from signers; the
// unmasked sum is exact. Fewer than t signatures fail the round.
TEST(consistency_round)
{
	struct run r;
	run_consistency = true;
	run_init(&r, 5, 3, 3, 8);
	run_consistency = false;
	r.drop[5] = DROP_MASK;
	step_adverts(&r);
	step_peers(&r);
	step_shares(&r);
	step_inbox(&r);
	step_masked(&r);
	CHECK_OK(fb_secagg_server_close_masked(r.srv));
	uint8_t req[64];
	size_t len = fb_secagg_server_unmask_req_len(r.srv);
	CHECK(len > 0 && len <= sizeof(req));
	fb_secagg_server_unmask_req(r.srv, req);
	uint8_t junk[8] = {0};
	CHECK_ERR(fb_secagg_server_add_reveal(r.srv, 1, junk, 8, NULL),
			FB_ESTATE);
	struct fb_sa_unmask_req q;
	CHECK_OK(fb_sa_unmask_req_decode(&q, req, len));
	uint32_t surv[NMAX], drop[NMAX];
	fb_sa_unmask_req_copy(&q, surv, drop);
	CHECK(q.ns == 4 && q.nd == 1);
	uint8_t sig[NMAX + 1][64];
	for (uint32_t i = 1; i <= 4; i++) {
		CHECK_OK(fb_secagg_client_sign_sets(r.c[i], r.id[i], surv, q.ns,
				drop, q.nd, sig[i]));
	}
	bool dup = true;
	// 5 is not a survivor; 1's signature is not 2's.
	CHECK_ERR(fb_secagg_server_add_consistency(r.srv, 5, sig[1], &dup),
			FB_EPROTO);
	CHECK_ERR(fb_secagg_server_add_consistency(r.srv, 2, sig[1], &dup),
			FB_ECRYPTO);
	CHECK_OK(fb_secagg_server_add_consistency(r.srv, 1, sig[1], &dup));
	CHECK(!dup);
	CHECK_OK(fb_secagg_server_add_consistency(r.srv, 1, sig[1], &dup));
	CHECK(dup);
	CHECK_ERR(fb_secagg_server_add_consistency(r.srv, 1, sig[2], &dup),
			FB_EPROTO);
	CHECK(fb_secagg_server_sigs_len(r.srv) == 0);
	CHECK_OK(fb_secagg_server_add_consistency(r.srv, 2, sig[2], NULL));
	CHECK_OK(fb_secagg_server_add_consistency(r.srv, 3, sig[3], NULL));
	CHECK_OK(fb_secagg_server_close_consistency(r.srv));
	CHECK_ERR(fb_secagg_server_add_consistency(r.srv, 4, sig[4], NULL),
			FB_ESTATE);
	CHECK(fb_secagg_server_signers(r.srv) == 3);
	size_t sl = fb_secagg_server_sigs_len(r.srv);
	CHECK(sl == fb_sa_sigs_len(3));
	uint8_t body[4 + 3 * 68];
	fb_secagg_server_sigs(r.srv, body);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_sigs_decode(&l, body, sl));
	uint32_t who[3];
	uint8_t sigs[3 * 64];
	for (uint32_t k = 0; k < 3; k++) {
		who[k] = fb_sa_sigs_signer(&l, k);
		memcpy(sigs + k * 64, fb_sa_sigs_sig(&l, k), 64);
	}
	CHECK(who[0] == 1 && who[2] == 3);
	for (uint32_t i = 1; i <= 4; i++) {
		CHECK_OK(fb_secagg_client_check_sigs(
				r.c[i], who, sigs, 3, r.keys));
		make_reveal(&r, i, req, len);
		fb_err want = i <= 3 ? FB_OK : FB_EPROTO; // 4 did not sign
		CHECK_ERR(fb_secagg_server_add_reveal(r.srv, i, r.reveal[i],
					  r.reveal_len[i], NULL),
				want);
	}
	CHECK_OK(finish_and_compare(&r));
	run_finish(&r);

	run_consistency = true;
	run_init(&r, 5, 3, 3, 8);
	run_consistency = false;
	step_adverts(&r);
	step_peers(&r);
	step_shares(&r);
	step_inbox(&r);
	step_masked(&r);
	CHECK_OK(fb_secagg_server_close_masked(r.srv));
	len = fb_secagg_server_unmask_req_len(r.srv);
	fb_secagg_server_unmask_req(r.srv, req);
	CHECK_OK(fb_sa_unmask_req_decode(&q, req, len));
	fb_sa_unmask_req_copy(&q, surv, drop);
	for (uint32_t i = 1; i <= 2; i++) {
		CHECK_OK(fb_secagg_client_sign_sets(r.c[i], r.id[i], surv, q.ns,
				drop, q.nd, sig[i]));
		CHECK_OK(fb_secagg_server_add_consistency(
				r.srv, i, sig[i], NULL));
	}
	CHECK_ERR(fb_secagg_server_close_consistency(r.srv), FB_ESTATE);
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "secagg-too-few");
	CHECK(fb_secagg_server_stage(r.srv) == FB_SA_FAILED);
	CHECK(fb_secagg_server_sigs_len(r.srv) == 0);
	run_finish(&r);
}

// Identical resends are answered as duplicates at any later stage;
// different messages for the same party are refused and change nothing.
TEST(resends)
{
	struct run r;
	run_init(&r, 5, 3, 3, 300);
	r.drop[5] = DROP_MASK;
	step_adverts(&r);
	struct fb_sa_advert_msg m;
	CHECK_OK(fb_sa_advert_msg_decode(
			&m, r.advert[2], FB_SA_ADVERT_MSG_LEN));
	bool dup = false;
	CHECK_OK(fb_secagg_server_add_advert(
			r.srv, 2, m.advert, m.users, &dup));
	CHECK(dup);
	CHECK_ERR(fb_secagg_server_add_advert(
				  r.srv, 2, m.advert, m.users + 1, &dup),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "duplicate");
	CHECK(!dup);
	step_peers(&r);
	CHECK_OK(fb_secagg_server_add_advert(
			r.srv, 2, m.advert, m.users, &dup));
	CHECK(dup); // after the close too

	step_shares(&r);
	CHECK_OK(fb_secagg_server_add_shares(
			r.srv, 3, r.shares[3], r.shares_len[3], &dup));
	CHECK(dup);
	uint8_t *first = malloc(r.shares_len[3]);
	CHECK(first != NULL);
	memcpy(first, r.shares[3], r.shares_len[3]);
	make_shares(&r, 3); // sealed again: fresh nonces, other bytes
	CHECK(memcmp(first, r.shares[3], r.shares_len[3]) != 0);
	CHECK_ERR(fb_secagg_server_add_shares(
				  r.srv, 3, r.shares[3], r.shares_len[3], &dup),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "duplicate");
	memcpy(r.shares[3], first, r.shares_len[3]);
	free(first);
	step_inbox(&r);

	step_masked(&r);
	CHECK_OK(send_update(&r, 1, &dup));
	CHECK(dup);
	uint8_t *u = r.update[1];
	size_t payload = r.update_len[1] - 8 * r.dim; // first word
	u[payload] ^= 0x80;
	CHECK_ERR(send_update(&r, 1, &dup), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "duplicate");
	u[payload] ^= 0x80;

	step_reveal(&r);
	CHECK_OK(fb_secagg_server_add_reveal(
			r.srv, 4, r.reveal[4], r.reveal_len[4], &dup));
	CHECK(dup);
	r.reveal[4][10] ^= 1;
	CHECK_ERR(fb_secagg_server_add_reveal(
				  r.srv, 4, r.reveal[4], r.reveal_len[4], &dup),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "duplicate");
	// The sum is the one of the first messages.
	CHECK_OK(finish_and_compare(&r));
	run_finish(&r);
}

// A responder's wrong share: a corrupted one does not reconstruct; a
// consistent set of shares of another secret fails the commitment (self
// seed of a survivor) or the advertised key (mask key of a dropped
// party). The round fails.
TEST(wrong_shares_fail_finish)
{
	for (int c = 0; c < 4; c++) {
		struct run r;
		run_init(&r, 5, 3, 3, 32);
		r.drop[2] = DROP_MASK; // U3 = {1, 3, 4, 5}, dropped {2}
		if (c < 2) {
			r.corrupt_by = 3;
			r.corrupt_k = c == 0 ? 1 : 4; // self of 3, mask of 2
		} else {
			r.forge = true;
			r.forge_k = c == 2 ? 0 : 4; // self of 1, mask of 2
		}
		run_to_reveal(&r);
		CHECK_ERR(finish_and_compare(&r), FB_ECRYPTO);
		// The detail names the party whose secret failed.
		const char *why = fb_last_error(FB_ECRYPTO);
		const char *party[4] = {"3", "2", "survivor 1", "party 2"};
		CHECK_STR_CONTAINS(why, party[c]);
		if (c == 2) {
			CHECK_STR_CONTAINS(why, "commitment");
		}
		if (c == 3) {
			CHECK_STR_CONTAINS(why, "advertised");
		}
		CHECK(fb_secagg_server_stage(r.srv) == FB_SA_FAILED);
		run_finish(&r);
	}
}

// SA_SHARES must address exactly U1 minus the sender.
TEST(shares_addressing)
{
	struct run r;
	run_init(&r, 5, 3, 3, 8);
	r.drop[5] = DROP_ADVERT;
	step_adverts(&r);
	step_peers(&r);
	make_shares(&r, 1); // to 2, 3, 4
	uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
	memcpy(box, r.shares[1] + 8, sizeof(box));
	uint8_t body[FB_SA_LIST_HDR_LEN + 4 * FB_SA_BUNDLE_ENTRY_LEN];
	const uint32_t bad[4][4] = {
			{2, 3, 0, 0}, // 4 missing
			{1, 2, 3, 4}, // itself
			{2, 3, 5, 0}, // 5 did not advertise
			{2, 3, 4, 5}, // one too many
	};
	const uint32_t count[4] = {2, 4, 3, 4};
	for (int c = 0; c < 4; c++) {
		uint8_t *first = fb_sa_bundles_init(body, count[c]);
		for (uint32_t k = 0; k < count[c]; k++) {
			fb_sa_bundles_put(first, k, bad[c][k], box);
		}
		CHECK_ERR(fb_secagg_server_add_shares(r.srv, 1, body,
					  fb_sa_bundles_len(count[c]), NULL),
				FB_EPROTO);
	}
	CHECK_ERR(fb_secagg_server_add_shares(r.srv, 1, r.shares[1], 7, NULL),
			FB_EPROTO); // malformed
	// A party that did not advertise may not send shares.
	CHECK_ERR(fb_secagg_server_add_shares(
				  r.srv, 5, r.shares[1], r.shares_len[1], NULL),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "without");
	CHECK(fb_secagg_server_count(r.srv, FB_SA_SHARES) == 0);
	step_shares(&r); // the right bodies are still accepted
	CHECK(fb_secagg_server_count(r.srv, FB_SA_SHARES) == 4);
	step_inbox(&r);
	step_masked(&r);
	step_reveal(&r);
	CHECK_OK(finish_and_compare(&r));
	run_finish(&r);
}

// Masked inputs: only from U2, in their stage, of the plan's length.
TEST(masked_refusals)
{
	struct run r;
	run_init(&r, 5, 3, 3, 8);
	r.drop[4] = DROP_SHARE;
	step_adverts(&r);
	step_peers(&r);
	step_shares(&r);
	uint64_t y[9] = {0};
	CHECK_ERR(fb_secagg_server_add_masked(r.srv, 1, y, 8, NULL),
			FB_ESTATE); // before the share stage closed
	step_inbox(&r);
	CHECK_ERR(fb_secagg_server_add_masked(r.srv, 4, y, 8, NULL), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "did not share");
	CHECK_ERR(fb_secagg_server_add_masked(r.srv, 1, y, 9, NULL), FB_EPROTO);
	CHECK_ERR(fb_secagg_server_add_masked(r.srv, 6, y, 8, NULL), FB_EINVAL);
	CHECK(fb_secagg_server_count(r.srv, FB_SA_MASKED) == 0);
	step_masked(&r);
	// Reveals: only from U3, with the request's counts and own shares.
	CHECK_OK(fb_secagg_server_close_masked(r.srv));
	size_t len = fb_secagg_server_unmask_req_len(r.srv);
	uint8_t req[64];
	CHECK(len <= sizeof(req));
	fb_secagg_server_unmask_req(r.srv, req);
	make_reveal(&r, 1, req, len);
	CHECK_ERR(fb_secagg_server_add_reveal(
				  r.srv, 4, r.reveal[1], r.reveal_len[1], NULL),
			FB_EPROTO); // 4 is not a survivor
	CHECK_ERR(fb_secagg_server_add_reveal(
				  r.srv, 2, r.reveal[1], r.reveal_len[1], NULL),
			FB_EPROTO); // shares of index 1
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "index 1");
	uint8_t short_body[4 + 3 * SH];
	CHECK_OK(fb_sa_unmask_encode(short_body, 3, 0, r.reveal[1] + 4, NULL));
	CHECK_ERR(fb_secagg_server_add_reveal(r.srv, 1, short_body,
				  sizeof(short_body), NULL),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "asked for 4 + 0");
	CHECK(fb_secagg_server_count(r.srv, FB_SA_UNMASK) == 0);
	CHECK_OK(fb_secagg_server_add_reveal(
			r.srv, 1, r.reveal[1], r.reveal_len[1], NULL));
	run_finish(&r);
}

// Advertisements: signature against the roster key of the index, the
// index inside, the round, users >= 1, low-order keys, the stage.
TEST(advert_refusals)
{
	struct run r;
	run_init(&r, 5, 3, 3, 8);
	uint8_t ad[FB_SECAGG_ADVERT_LEN];
	CHECK_OK(fb_secagg_client_advert(r.c[2], r.id[2], ad));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 3, ad, 1, NULL),
			FB_ECRYPTO); // 2's advert is not signed by 3's key
	CHECK_OK(fb_secagg_client_advert(r.c[2], r.id[3], ad));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 3, ad, 1, NULL),
			FB_EPROTO); // signed by 3, names index 2
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "index 2");
	CHECK_OK(fb_secagg_client_advert(r.c[2], r.id[2], ad));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 2, ad, 0, NULL),
			FB_EPROTO);
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 0, ad, 1, NULL),
			FB_EINVAL);
	struct fb_secagg_advert a = {.ctx = r.ctx, .index = 2};
	a.ctx.round = 41;
	randombytes_buf(a.share_pk, 32);
	randombytes_buf(a.mask_pk, 32);
	CHECK_OK(fb_secagg_advert_sign(ad, &a, r.id[2]));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 2, ad, 1, NULL),
			FB_EPROTO); // another round
	a.ctx.round = 42;
	memset(a.mask_pk, 0, 32); // a low-order point
	CHECK_OK(fb_secagg_advert_sign(ad, &a, r.id[2]));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 2, ad, 1, NULL),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "low-order mask");
	CHECK(fb_secagg_server_count(r.srv, FB_SA_ADVERTS) == 0);
	r.drop[4] = DROP_ADVERT;
	step_adverts(&r);
	CHECK_OK(fb_secagg_server_close_adverts(r.srv));
	CHECK_OK(fb_secagg_client_advert(r.c[4], r.id[4], ad));
	CHECK_ERR(fb_secagg_server_add_advert(r.srv, 4, ad, 1, NULL),
			FB_ESTATE); // late
	CHECK_ERR(fb_secagg_server_close_adverts(r.srv), FB_ESTATE);
	run_finish(&r);
}

TEST(create_refusals)
{
	uint8_t keys[5 * FB_ID_PK_LEN] = {0};
	struct fb_secagg_server_params p = {
			{{0}, 1}, 5, 3, 3, keys, 4, 0, false};
	struct fb_secagg_server *s = NULL;
	CHECK_OK(fb_secagg_server_create(&s, &p));
	fb_secagg_server_destroy(s);
	fb_secagg_server_destroy(NULL);
	struct fb_secagg_server_params bad[7] = {p, p, p, p, p, p, p};
	bad[6].ring_bits = 40;
	bad[0].n = 2;
	bad[1].t = 2;
	bad[2].n_min = 2;
	bad[3].n_min = 6;
	bad[4].dim = 0;
	bad[5].id_keys = NULL;
	for (int k = 0; k < 7; k++) {
		CHECK_ERR(fb_secagg_server_create(&s, &bad[k]), FB_EINVAL);
	}
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	fb_log_set_level(FB_LOG_ERROR); // the client guard's warnings
	RUN(sum_exact_with_silent_survivors);
	RUN(sum_exact_with_drops_at_every_stage);
	RUN(sum_exact_in_every_ring);
	RUN(fewer_than_t_responders);
	RUN(too_few_at_a_close);
	RUN(resends);
	RUN(consistency_round);
	RUN(wrong_shares_fail_finish);
	RUN(shares_addressing);
	RUN(masked_refusals);
	RUN(advert_refusals);
	RUN(create_refusals);
	return harness_done();
}
