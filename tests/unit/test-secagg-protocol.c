// tests/unit/test-secagg-protocol.c: whole rounds of secure aggregation in
// memory (common/secagg/*): n clients with enrolled Ed25519 identities and
// an aggregator that verifies advertisements against the roster keys,
// routes sealed shares, collects masked inputs, asks for the unmask shares,
// reconstructs and unmasks. The unmasked sum must equal the plaintext int64
// sum of the survivors' inputs bit for bit, for n = 5 and 10 (t = n/2 + 1)
// with parties dropping at every step. Also: a masked input looks uniform
// (chi-square on its bytes) where the plain input does not; the client's
// guard against revealing both shares of one peer; replayed and tampered
// messages; a wrong share caught by the commitments; the consistency
// check (secagg-v1 §3.5): a reveal only after t valid signatures over
// exactly the client's signed sets.
#include <sodium.h>

#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/unmask.h"
#include "fedbundle/util/log.h"
#include "harness.h"

#define NMAX 10
#define SH FB_SHAMIR_SHARE_LEN

// The step at which a party drops (or DROP_NONE).
enum drop {
	DROP_NONE,
	DROP_ADVERT, // never advertises
	DROP_SHARE,  // advertises, sends no shares
	DROP_MASK,   // shares, sends no masked input
	DROP_UNMASK, // sends its masked input, not its unmask shares
};

struct sim {
	uint32_t n, t;
	size_t dim;
	struct fb_secagg_ctx ctx;
	struct fb_identity *id[NMAX + 1];
	struct fb_secagg_client *c[NMAX + 1];
	struct fb_secagg_advert ad[NMAX + 1]; // as the aggregator verified
	enum drop drop[NMAX + 1];
	int64_t *x[NMAX + 1];
	uint64_t *y[NMAX + 1];
	bool u1[NMAX + 1], u2[NMAX + 1], u3[NMAX + 1];
};

// n_min of the clients created by sim_init (0: t).
static uint32_t sim_n_min;
// Whether they run the consistency round (secagg-v1 §3.5).
static bool sim_consistency;

static void
sim_init(struct sim *s, uint32_t n, size_t dim, uint32_t round)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->t = n / 2 + 1;
	s->dim = dim;
	s->ctx.round = round;
	memset(s->ctx.consortium, 0xc5, sizeof(s->ctx.consortium));
	struct fb_secagg_client_params p = {
			s->ctx, n, s->t, 0, sim_n_min, 64, sim_consistency};
	for (uint32_t i = 1; i <= n; i++) {
		uint8_t seed[FB_ID_SEED_LEN];
		char name[16];
		memset(seed, (int)i, sizeof(seed));
		snprintf(name, sizeof(name), "r%u", i);
		CHECK_OK(fb_identity_from_seed(&s->id[i], seed, name));
		p.index = i;
		CHECK_OK(fb_secagg_client_create(&s->c[i], &p));
		s->x[i] = malloc(dim * sizeof(int64_t));
		s->y[i] = malloc(dim * sizeof(uint64_t));
		CHECK(s->x[i] != NULL && s->y[i] != NULL);
		// Inputs on a grid, both signs, up to 2^40 in magnitude.
		randombytes_buf(s->x[i], dim * sizeof(int64_t));
		for (size_t k = 0; k < dim; k++) {
			s->x[i][k] >>= 23;
		}
	}
}

static void
sim_finish(struct sim *s)
{
	for (uint32_t i = 1; i <= s->n; i++) {
		fb_secagg_client_destroy(s->c[i]);
		fb_identity_destroy(s->id[i]);
		free(s->x[i]);
		free(s->y[i]);
	}
}

// Advertise keys: the aggregator verifies each against the roster key and
// forwards every verified advertisement to every advertiser.
static void
step_advertise(struct sim *s)
{
	uint8_t adv[NMAX + 1][FB_SECAGG_ADVERT_LEN];
	for (uint32_t i = 1; i <= s->n; i++) {
		if (s->drop[i] == DROP_ADVERT) {
			continue;
		}
		CHECK_OK(fb_secagg_client_advert(s->c[i], s->id[i], adv[i]));
		CHECK_OK(fb_secagg_advert_open(&s->ad[i], adv[i],
				fb_identity_public_key(s->id[i]), &s->ctx,
				s->n));
		s->u1[i] = true;
	}
	for (uint32_t i = 1; i <= s->n; i++) {
		for (uint32_t j = 1; j <= s->n && s->u1[i]; j++) {
			if (j != i && s->u1[j]) {
				CHECK_OK(fb_secagg_client_add_peer(s->c[i],
						adv[j],
						fb_identity_public_key(
								s->id[j])));
			}
		}
	}
}

// Share keys: each sharer seals a bundle to every other advertiser; the
// aggregator routes the bundles of the sharers (U2) to the sharers.
static void
step_share(struct sim *s)
{
	static uint8_t box[NMAX + 1][NMAX + 1][FB_SECAGG_SHARES_SEALED_LEN];
	for (uint32_t i = 1; i <= s->n; i++) {
		if (!s->u1[i] || s->drop[i] == DROP_SHARE) {
			continue;
		}
		for (uint32_t j = 1; j <= s->n; j++) {
			if (j != i && s->u1[j]) {
				CHECK_OK(fb_secagg_client_seal_shares(
						s->c[i], j, box[i][j]));
			}
		}
		s->u2[i] = true;
	}
	for (uint32_t j = 1; j <= s->n; j++) {
		for (uint32_t i = 1; i <= s->n && s->u2[j]; i++) {
			if (i != j && s->u2[i]) {
				CHECK_OK(fb_secagg_client_open_shares(
						s->c[j], i, box[i][j]));
			}
		}
	}
}

static void
step_mask(struct sim *s)
{
	for (uint32_t i = 1; i <= s->n; i++) {
		if (!s->u2[i] || s->drop[i] == DROP_MASK) {
			continue;
		}
		s->u3[i] = true;
		if (i % 2 == 1) {
			CHECK_OK(fb_secagg_client_mask(
					s->c[i], s->x[i], s->dim, s->y[i]));
			continue;
		}
		// Even parties as client/secround.c does: the masks taken,
		// their sum expanded apart (another thread there), then
		// added; the unmasked sum must be as exact. The expansion
		// writes m without reading it (filled with garbage first),
		// and the add leaves m wiped.
		struct fb_secagg_maskset *ms = NULL;
		uint64_t *m = malloc(s->dim * sizeof(*m));
		CHECK(m != NULL);
		memset(m, 0x5a, s->dim * sizeof(*m));
		CHECK_OK(fb_secagg_client_take_masks(s->c[i], &ms));
		CHECK_ERR(fb_secagg_client_take_masks(s->c[i], &ms), FB_ESTATE);
		CHECK_OK(fb_secagg_maskset_expand(ms, m, s->dim));
		fb_secagg_maskset_add(ms, s->x[i], m, s->dim, s->y[i]);
		bool wiped = true;
		for (size_t j = 0; j < s->dim; j++) {
			wiped = wiped && m[j] == 0;
		}
		CHECK(wiped);
		fb_secagg_maskset_destroy(ms);
		free(m);
	}
}

// Unmask: every responder reveals; the aggregator reconstructs from the
// responders' shares and removes the masks; the sum must be exact.
static void
step_unmask(struct sim *s)
{
	uint32_t surv[NMAX], drop[NMAX], resp[NMAX];
	size_t ns = 0, nd = 0, nr = 0;
	for (uint32_t i = 1; i <= s->n; i++) {
		if (s->u3[i]) {
			surv[ns++] = i;
		} else if (s->u2[i]) {
			drop[nd++] = i;
		}
		if (s->u3[i] && s->drop[i] != DROP_UNMASK) {
			resp[nr++] = i;
		}
	}
	CHECK(ns >= s->t && nr >= s->t);
	static uint8_t self_sh[NMAX][NMAX][SH], mask_sh[NMAX][NMAX][SH];
	for (size_t r = 0; r < nr; r++) {
		CHECK_OK(fb_secagg_client_reveal(s->c[resp[r]], surv, ns, drop,
				nd, self_sh[r][0], mask_sh[r][0]));
	}
	struct fb_secagg_survivor sv[NMAX];
	struct fb_secagg_dropped dv[NMAX];
	uint8_t col[NMAX * SH];
	for (size_t u = 0; u < ns; u++) {
		for (size_t r = 0; r < nr; r++) {
			memcpy(col + r * SH, self_sh[r][u], SH);
		}
		sv[u].index = surv[u];
		sv[u].masked = s->y[surv[u]];
		sv[u].self_commit = s->ad[surv[u]].self_commit;
		memcpy(sv[u].mask_pk, s->ad[surv[u]].mask_pk, 32);
		CHECK_OK(fb_shamir_combine(sv[u].self_seed, col, nr, s->t));
	}
	for (size_t v = 0; v < nd; v++) {
		for (size_t r = 0; r < nr; r++) {
			memcpy(col + r * SH, mask_sh[r][v], SH);
		}
		dv[v].index = drop[v];
		memcpy(dv[v].mask_pk, s->ad[drop[v]].mask_pk, 32);
		CHECK_OK(fb_shamir_combine(dv[v].mask_sk, col, nr, s->t));
	}
	int64_t *sum = malloc(s->dim * sizeof(int64_t));
	CHECK(sum != NULL);
	CHECK_OK(fb_secagg_unmask(sum, s->dim, &s->ctx, sv, ns, dv, nd));
	size_t wrong = 0;
	for (size_t k = 0; k < s->dim; k++) {
		int64_t want = 0;
		for (size_t u = 0; u < ns; u++) {
			want += s->x[surv[u]][k];
		}
		wrong += sum[k] != want;
	}
	free(sum);
	CHECK(wrong == 0);
}

// One round of n parties where party i drops at step drops[i - 1].
static void
run_round(uint32_t n, const enum drop *drops)
{
	struct sim s;
	sim_init(&s, n, 3001, 42);
	for (uint32_t i = 1; i <= n; i++) {
		s.drop[i] = drops == NULL ? DROP_NONE : drops[i - 1];
	}
	step_advertise(&s);
	step_share(&s);
	step_mask(&s);
	step_unmask(&s);
	sim_finish(&s);
}

// The parties that drop at step d, spread over the indices (so that both
// lower and higher neighbours of a dropped party survive).
static void
spread(enum drop *drops, uint32_t n, uint32_t count, enum drop d,
		uint32_t start)
{
	for (uint32_t k = 0, i = start; k < count; k++, i = (i + 3) % n) {
		while (drops[i] != DROP_NONE) {
			i = (i + 1) % n;
		}
		drops[i] = d;
	}
}

TEST(no_drops)
{
	run_round(5, NULL);
	run_round(10, NULL);
}

TEST(drops_after_masked_input)
{
	uint32_t ns[2] = {5, 10};
	for (int k = 0; k < 2; k++) {
		uint32_t n = ns[k], t = n / 2 + 1;
		enum drop d[NMAX] = {0};
		spread(d, n, 1, DROP_UNMASK, 1);
		run_round(n, d);
		memset(d, 0, sizeof(d));
		spread(d, n, n - t, DROP_UNMASK, 0);
		run_round(n, d);
	}
}

TEST(drops_before_masked_input)
{
	uint32_t ns[2] = {5, 10};
	for (int k = 0; k < 2; k++) {
		uint32_t n = ns[k], t = n / 2 + 1;
		enum drop d[NMAX] = {0};
		spread(d, n, 1, DROP_MASK, 2);
		run_round(n, d);
		memset(d, 0, sizeof(d));
		spread(d, n, n - t, DROP_MASK, 1);
		run_round(n, d);
	}
}

// Drops at the earlier steps, and at all four in one round of 10.
TEST(drops_at_every_step)
{
	enum drop d[NMAX] = {0};
	spread(d, 5, 1, DROP_ADVERT, 0);
	spread(d, 5, 1, DROP_SHARE, 3);
	run_round(5, d);
	memset(d, 0, sizeof(d));
	d[0] = DROP_ADVERT;
	d[3] = DROP_SHARE;
	d[4] = DROP_MASK;
	d[9] = DROP_UNMASK;
	run_round(10, d);
}

// Pearson's chi-square of the byte values of buf against uniform.
static double
chi_square_bytes(const void *buf, size_t len)
{
	size_t count[256] = {0};
	const uint8_t *b = buf;
	for (size_t i = 0; i < len; i++) {
		count[b[i]]++;
	}
	double e = (double)len / 256, chi = 0;
	for (int v = 0; v < 256; v++) {
		chi += ((double)count[v] - e) * ((double)count[v] - e) / e;
	}
	return chi;
}

// 255 degrees of freedom: mean 255, sd 22.6; 400 is 6.4 sd above the
// mean (a uniform input exceeds it with probability about 1e-9), while an
// unmasked update (small integers: mostly 0x00 and 0xff high bytes) is
// far beyond it.
TEST(masked_input_looks_uniform)
{
	struct sim s;
	sim_init(&s, 3, 65536, 9);
	step_advertise(&s);
	step_share(&s);
	step_mask(&s);
	size_t len = s.dim * 8;
	double chi_masked = chi_square_bytes(s.y[1], len);
	double chi_plain = chi_square_bytes(s.x[1], len);
	printf("# chi-square: masked %.1f, plain %.1f (threshold 400)\n",
			chi_masked, chi_plain);
	CHECK(chi_masked < 400);
	CHECK(chi_plain > 400);
	sim_finish(&s);
}

static void
sim_upto_mask(struct sim *s, uint32_t n, const enum drop *drops)
{
	sim_init(s, n, 64, 5);
	for (uint32_t i = 1; i <= n && drops != NULL; i++) {
		s->drop[i] = drops[i - 1];
	}
	step_advertise(s);
	step_share(s);
	step_mask(s);
}

TEST(client_refuses_both_shares_of_a_peer)
{
	struct sim s;
	sim_upto_mask(&s, 5, NULL);
	uint8_t a[5 * SH], b[5 * SH];
	uint32_t s123[] = {1, 2, 3}, d345[] = {3, 4, 5};
	uint32_t s1234[] = {1, 2, 3, 4}, d5[] = {5};
	uint32_t s1235[] = {1, 2, 3, 5}, d4[] = {4};
	uint32_t s1345[] = {1, 3, 4, 5}, d2[] = {2};
	uint32_t s12[] = {1, 2};

	// One request naming party 3 as survivor and as dropped.
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s123, 3, d345, 3, a, b),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "survivor and as dropped");
	// A refusal changes nothing: a consistent request still works, and
	// may be repeated (a resend).
	CHECK_OK(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b));
	CHECK_OK(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b));
	// Two requests: 4 was a survivor, 5 dropped; now the reverse.
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s1235, 4, d4, 1, a, b),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "revealed as");
	// This client listed as dropped; too few survivors; a party missing.
	CHECK_ERR(fb_secagg_client_reveal(s.c[2], s1345, 4, d2, 1, a, b),
			FB_EPROTO);
	CHECK_ERR(fb_secagg_client_reveal(s.c[2], s12, 2, d345, 3, a, b),
			FB_EPROTO);
	CHECK_ERR(fb_secagg_client_reveal(s.c[2], s123, 3, d4, 1, a, b),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "neither");
	// The same index twice in one list.
	uint32_t s1224[] = {1, 2, 2, 4};
	CHECK_ERR(fb_secagg_client_reveal(s.c[2], s1224, 4, d5, 1, a, b),
			FB_EPROTO);
	// After all those refusals client 2 answers a consistent request.
	CHECK_OK(fb_secagg_client_reveal(s.c[2], s1235, 4, d4, 1, a, b));
	sim_finish(&s);
}

// The plan's n_min above t: the client's noise share is sized for n_min -
// c honest shares, so it refuses to reveal for a sum of fewer survivors
// (t <= survivors < n_min), which would carry less noise than it
// accounted; a request with n_min survivors is answered.
TEST(client_refuses_fewer_survivors_than_n_min)
{
	struct fb_secagg_client_params bad = {.n = 5, .t = 3, .index = 1};
	struct fb_secagg_client *c = NULL;
	bad.n_min = 2; // below t
	CHECK_ERR(fb_secagg_client_create(&c, &bad), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "n_min");
	bad.n_min = 6; // above n
	CHECK_ERR(fb_secagg_client_create(&c, &bad), FB_EINVAL);

	struct sim s;
	sim_n_min = 4;
	sim_upto_mask(&s, 5, NULL);
	sim_n_min = 0;
	uint8_t a[5 * SH], b[5 * SH];
	uint32_t s123[] = {1, 2, 3}, d45[] = {4, 5};
	uint32_t s1234[] = {1, 2, 3, 4}, d5[] = {5};
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s123, 3, d45, 2, a, b),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "needs 4 (n_min)");
	CHECK_OK(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b));
	sim_finish(&s);

	// Fewer than n_min parties advertised or shared: no shares are
	// sealed, no masked input is made.
	enum drop d[5] = {DROP_NONE, DROP_NONE, DROP_NONE, DROP_ADVERT,
			DROP_ADVERT};
	sim_n_min = 4;
	sim_init(&s, 5, 8, 7);
	sim_n_min = 0;
	for (uint32_t i = 1; i <= 5; i++) {
		s.drop[i] = d[i - 1];
	}
	step_advertise(&s);
	uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
	CHECK_ERR(fb_secagg_client_seal_shares(s.c[1], 2, box), FB_ESTATE);
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "n_min");
	sim_finish(&s);
}

// secagg-v1 §3.5: with the consistency round a client signs the sets it
// is asked for (once per round) and reveals only after at least t valid
// signatures of distinct survivors over exactly those sets; too few, a
// forged one, one over another U3, one of a non-member, one from a key
// outside the roster and a duplicate signer are each refused, changing
// nothing.
TEST(client_reveals_only_after_t_signatures)
{
	struct sim s;
	sim_consistency = true;
	sim_upto_mask(&s, 5, NULL); // t = 3
	sim_consistency = false;
	uint8_t keys[5 * FB_ID_PK_LEN];
	for (uint32_t i = 1; i <= 5; i++) {
		memcpy(keys + (i - 1) * FB_ID_PK_LEN,
				fb_identity_public_key(s.id[i]), FB_ID_PK_LEN);
	}
	uint32_t s1234[] = {1, 2, 3, 4}, d5[] = {5};
	uint32_t s1235[] = {1, 2, 3, 5}, d4[] = {4};
	uint8_t sig[6][64], again[64], a[5 * SH], b[5 * SH];
	// No signatures before this client signed.
	uint32_t one[] = {1};
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], one, sig[1], 1, keys),
			FB_ESTATE);
	for (uint32_t i = 1; i <= 4; i++) {
		CHECK_OK(fb_secagg_client_sign_sets(
				s.c[i], s.id[i], s1234, 4, d5, 1, sig[i]));
	}
	// The same sets sign the same bytes; other sets are refused.
	CHECK_OK(fb_secagg_client_sign_sets(
			s.c[1], s.id[1], s1234, 4, d5, 1, again));
	CHECK(memcmp(again, sig[1], 64) == 0);
	CHECK_ERR(fb_secagg_client_sign_sets(
				  s.c[1], s.id[1], s1235, 4, d4, 1, again),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "signed before");
	// A request the guard refuses is not signed either.
	uint32_t s12[] = {1, 2}, d345[] = {3, 4, 5};
	CHECK_ERR(fb_secagg_client_sign_sets(
				  s.c[5], s.id[5], s12, 2, d345, 3, again),
			FB_EPROTO);
	// Not before the signatures are verified.
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "consistency");

	uint8_t buf[4 * 64];
	uint32_t who[4];
	// Too few: 2 of a threshold of 3.
	who[0] = 1, who[1] = 2;
	memcpy(buf, sig[1], 64);
	memcpy(buf + 64, sig[2], 64);
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 2, keys),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "threshold is 3");
	// A forged one (a byte flipped).
	who[2] = 3;
	memcpy(buf + 128, sig[3], 64);
	buf[128 + 7] ^= 1;
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 3, keys),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(
			fb_last_error(FB_ECRYPTO), "party 3 does not verify");
	// 3's signature over another U3 (5 a survivor, 4 dropped).
	uint8_t other[4 + 5 * 4];
	CHECK_OK(fb_sa_unmask_req_encode(other, s1235, 4, d4, 1));
	CHECK_OK(fb_secagg_consist_sign(
			buf + 128, &s.ctx, other, sizeof(other), s.id[3]));
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 3, keys),
			FB_ECRYPTO);
	// A valid signature of 5 over these sets: 5 is not a survivor.
	uint8_t mine[4 + 5 * 4];
	CHECK_OK(fb_sa_unmask_req_encode(mine, s1234, 4, d5, 1));
	who[2] = 5;
	CHECK_OK(fb_secagg_consist_sign(
			buf + 128, &s.ctx, mine, sizeof(mine), s.id[5]));
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 3, keys),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "not a survivor");
	// A key outside the roster signing as 3.
	struct fb_identity *stranger = NULL;
	uint8_t seed[FB_ID_SEED_LEN];
	memset(seed, 0x77, sizeof(seed));
	CHECK_OK(fb_identity_from_seed(&stranger, seed, "stranger"));
	who[2] = 3;
	CHECK_OK(fb_secagg_consist_sign(
			buf + 128, &s.ctx, mine, sizeof(mine), stranger));
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 3, keys),
			FB_ECRYPTO);
	fb_identity_destroy(stranger);
	// A duplicate signer: 2 twice (three entries, two signers).
	who[2] = 2;
	memcpy(buf + 128, sig[2], 64);
	CHECK_ERR(fb_secagg_client_check_sigs(s.c[1], who, buf, 3, keys),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "two consistency");
	// Every refusal changed nothing: still no reveal.
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b),
			FB_EPROTO);
	// Three valid signatures (and a fourth): the reveal of exactly the
	// signed sets, and of no others.
	who[2] = 3, who[3] = 4;
	memcpy(buf + 128, sig[3], 64);
	memcpy(buf + 192, sig[4], 64);
	CHECK_OK(fb_secagg_client_check_sigs(s.c[1], who, buf, 4, keys));
	CHECK_ERR(fb_secagg_client_reveal(s.c[1], s1235, 4, d4, 1, a, b),
			FB_EPROTO);
	CHECK_OK(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b));
	CHECK_OK(fb_secagg_client_reveal(s.c[1], s1234, 4, d5, 1, a, b));
	sim_finish(&s);
}

TEST(client_state_order)
{
	enum drop d[5] = {DROP_NONE, DROP_NONE, DROP_MASK};
	struct sim s;
	sim_upto_mask(&s, 5, d);
	uint8_t a[5 * SH], b[5 * SH];
	uint32_t s1245[] = {1, 2, 4, 5}, d3[] = {3};
	// Client 3 never made its masked input: it reveals nothing.
	CHECK_ERR(fb_secagg_client_reveal(s.c[3], s1245, 4, d3, 1, a, b),
			FB_ESTATE);
	// Masking twice, sharing after masking, peers after sharing.
	CHECK_ERR(fb_secagg_client_mask(s.c[1], s.x[1], s.dim, s.y[1]),
			FB_ESTATE);
	uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
	CHECK_ERR(fb_secagg_client_seal_shares(s.c[1], 2, box), FB_ESTATE);
	uint8_t adv[FB_SECAGG_ADVERT_LEN];
	CHECK_OK(fb_secagg_client_advert(s.c[2], s.id[2], adv));
	CHECK_ERR(fb_secagg_client_add_peer(
				  s.c[3], adv, fb_identity_public_key(s.id[2])),
			FB_ESTATE);
	sim_finish(&s);
}

// Advertisements of another round or under another roster key; bundles
// replayed from another round, routed to another receiver, altered or
// sent twice.
TEST(refuses_replayed_and_forged_messages)
{
	struct sim s;
	sim_init(&s, 5, 8, 42);
	uint8_t adv[FB_SECAGG_ADVERT_LEN];
	struct fb_secagg_advert ad;
	CHECK_OK(fb_secagg_client_advert(s.c[2], s.id[2], adv));
	struct fb_secagg_ctx next = s.ctx;
	next.round = 43;
	CHECK_ERR(fb_secagg_advert_open(&ad, adv,
				  fb_identity_public_key(s.id[2]), &next, 5),
			FB_EPROTO);
	CHECK_ERR(fb_secagg_advert_open(&ad, adv,
				  fb_identity_public_key(s.id[3]), &s.ctx, 5),
			FB_ECRYPTO);
	adv[30] ^= 1; // a substituted share key
	CHECK_ERR(fb_secagg_client_add_peer(
				  s.c[1], adv, fb_identity_public_key(s.id[2])),
			FB_ECRYPTO);
	adv[30] ^= 1;
	CHECK_OK(fb_secagg_client_add_peer(
			s.c[1], adv, fb_identity_public_key(s.id[2])));
	CHECK_ERR(fb_secagg_client_add_peer(
				  s.c[1], adv, fb_identity_public_key(s.id[2])),
			FB_EPROTO); // a second advertisement for index 2

	uint8_t key[32], sh[2][SH], box[FB_SECAGG_SHARES_SEALED_LEN];
	uint8_t secret[32] = {1}, all[5 * SH];
	randombytes_buf(key, sizeof(key));
	CHECK_OK(fb_shamir_split(all, secret, 3, 5));
	CHECK_OK(fb_secagg_shares_seal(
			box, &s.ctx, 1, 2, key, all + SH, all + SH));
	CHECK_OK(fb_secagg_shares_open(sh[0], sh[1], box, &s.ctx, 1, 2, key));
	CHECK_ERR(fb_secagg_shares_open(sh[0], sh[1], box, &next, 1, 2, key),
			FB_ECRYPTO);
	CHECK_ERR(fb_secagg_shares_open(sh[0], sh[1], box, &s.ctx, 1, 3, key),
			FB_ECRYPTO);
	CHECK_ERR(fb_secagg_shares_open(sh[0], sh[1], box, &s.ctx, 4, 2, key),
			FB_ECRYPTO);
	box[40] ^= 1;
	CHECK_ERR(fb_secagg_shares_open(sh[0], sh[1], box, &s.ctx, 1, 2, key),
			FB_ECRYPTO);
	// A share addressed to the wrong party is refused when sealing.
	CHECK_ERR(fb_secagg_shares_seal(box, &s.ctx, 1, 2, key, all, all),
			FB_EINVAL);
	sim_finish(&s);
}

// A wrong share changes the reconstructed seed or key: the commitments of
// the advertisements catch it and the round is abandoned, never a wrong
// sum committed.
TEST(unmask_catches_wrong_reconstruction)
{
	struct sim s;
	sim_upto_mask(&s, 5, NULL);
	struct fb_secagg_survivor sv[2];
	struct fb_secagg_dropped dv;
	int64_t sum[64];
	for (int u = 0; u < 2; u++) {
		sv[u].index = (uint32_t)u + 1;
		sv[u].masked = s.y[u + 1];
		sv[u].self_commit = s.ad[u + 1].self_commit;
		memcpy(sv[u].mask_pk, s.ad[u + 1].mask_pk, 32);
		randombytes_buf(sv[u].self_seed, 32); // not the real seed
	}
	CHECK_ERR(fb_secagg_unmask(sum, 64, &s.ctx, sv, 2, NULL, 0),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "survivor 1");
	sv[0].self_commit = sv[1].self_commit = NULL;
	dv.index = 3;
	memcpy(dv.mask_pk, s.ad[3].mask_pk, 32);
	randombytes_buf(dv.mask_sk, 32);
	CHECK_ERR(fb_secagg_unmask(sum, 64, &s.ctx, sv, 2, &dv, 1), FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "dropped party 3");
	dv.index = 2; // listed as survivor and dropped
	CHECK_ERR(fb_secagg_unmask(sum, 64, &s.ctx, sv, 2, &dv, 1), FB_EINVAL);
	sim_finish(&s);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	fb_log_set_level(FB_LOG_ERROR); // the guard's warnings are expected
	RUN(no_drops);
	RUN(drops_after_masked_input);
	RUN(drops_before_masked_input);
	RUN(drops_at_every_step);
	RUN(masked_input_looks_uniform);
	RUN(client_refuses_both_shares_of_a_peer);
	RUN(client_refuses_fewer_survivors_than_n_min);
	RUN(client_reveals_only_after_t_signatures);
	RUN(client_state_order);
	RUN(refuses_replayed_and_forged_messages);
	RUN(unmask_catches_wrong_reconstruction);
	return harness_done();
}
