// common/secagg/server.c: the aggregator's round of secure aggregation
// (include/fedbundle/secagg/server.h, protocols/secagg-v1.md §3).
// Invariants: a party enters a set (U1, U2, U3, responders) only after its
// message passed every check, and its message's digest is kept to tell a
// resend from a different message; the sets only grow within their stage
// and are frozen by its close; masked inputs are added into one u64
// accumulator and never kept; revealed shares and reconstructed secrets
// live in sodium_malloc memory.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/secagg/unmask.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "masked inputs are read as little-endian words in place"
#endif

#define SH FB_SHAMIR_SHARE_LEN
#define BOX FB_SECAGG_SHARES_SEALED_LEN
#define DIGEST_LEN 32
#define ADVERT_OFF_SHARE_PK 24
#define ADVERT_OFF_MASK_PK 56
#define ADVERT_OFF_COMMIT 88

// The four sets, indexed like the stage whose messages fill them.
enum set { U1, U2, U3, RESP, N_SETS };

struct party {
	bool in[N_SETS];
	uint8_t digest[N_SETS][DIGEST_LEN]; // of the message that added it
	uint64_t users;
	uint8_t advert[FB_SECAGG_ADVERT_LEN];
	uint32_t rank1; // position in U1 (from close_adverts)
	uint32_t rank3; // position in U3 (from close_masked)
	uint32_t req;   // position in the unmask request (U2 members)
	bool signed_;   // its consistency signature verified (§3.5)
	uint8_t sig[FB_SECAGG_CONSIST_SIG_LEN];
};

struct fb_secagg_server {
	struct fb_secagg_server_params p; // p.id_keys points to keys
	uint8_t *keys;
	enum fb_secagg_stage stage;
	struct party *pt; // indexed 1..n
	uint32_t count[N_SETS];
	uint8_t probe_sk[32]; // for the low-order key check
	uint8_t *box;         // m1 x m1 bundles [rank1 sender][rank1 receiver]
	uint64_t *acc;        // sum of the masked inputs, dim words
	uint32_t *req;        // the unmask request: U3 then U2 \ U3
	uint8_t *shares;      // m2 x m3 shares [req target][rank3 responder]
	bool masked_closed;
	uint32_t signers;    // parties with signed_
	bool consist_closed; // close_consistency succeeded
};

static void
digest(uint8_t out[DIGEST_LEN], const void *a, size_t alen, const void *b,
		size_t blen)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, DIGEST_LEN);
	crypto_generichash_update(&st, a, alen);
	if (blen > 0) {
		crypto_generichash_update(&st, b, blen);
	}
	crypto_generichash_final(&st, out, DIGEST_LEN);
}

fb_err
fb_secagg_server_create(struct fb_secagg_server **out,
		const struct fb_secagg_server_params *p)
{
	if (p->n < 3 || p->n > FB_SA_PARTY_MAX || p->t > p->n ||
			2 * p->t <= p->n || p->n_min < p->t ||
			p->n_min > p->n || p->id_keys == NULL || p->dim == 0 ||
			p->dim > FB_SECAGG_DIM_MAX ||
			(p->ring_bits != 0 &&
					!fb_secagg_ring_ok(p->ring_bits))) {
		return fb_errorf(FB_EINVAL,
				"secagg server: n %u, t %u, n_min %u, dim %zu "
				"(need 3 <= n <= %d, n/2 < t <= n_min <= n, "
				"dim >= 1, keys)",
				p->n, p->t, p->n_min, p->dim, FB_SA_PARTY_MAX);
	}
	struct fb_secagg_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg server");
	}
	s->p = *p;
	if (s->p.ring_bits == 0) {
		s->p.ring_bits = 64;
	}
	s->stage = FB_SA_ADVERTS;
	s->keys = malloc((size_t)p->n * FB_ID_PK_LEN);
	s->pt = calloc((size_t)p->n + 1, sizeof(*s->pt));
	s->acc = calloc(p->dim, sizeof(*s->acc));
	if (s->keys == NULL || s->pt == NULL || s->acc == NULL) {
		fb_secagg_server_destroy(s);
		return fb_errorf(FB_ENOMEM,
				"secagg server: %u parties, dim %zu", p->n,
				p->dim);
	}
	memcpy(s->keys, p->id_keys, (size_t)p->n * FB_ID_PK_LEN);
	s->p.id_keys = s->keys;
	randombytes_buf(s->probe_sk, sizeof(s->probe_sk));
	*out = s;
	return FB_OK;
}

void
fb_secagg_server_destroy(struct fb_secagg_server *s)
{
	if (s == NULL) {
		return;
	}
	sodium_free(s->shares);
	free(s->req);
	free(s->acc);
	free(s->box);
	free(s->pt);
	free(s->keys);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

enum fb_secagg_stage
fb_secagg_server_stage(const struct fb_secagg_server *s)
{
	return s->stage;
}

static const char *const set_msg[N_SETS] = {
		"SA_ADVERT", "SA_SHARES", "masked input", "SA_UNMASK"};

// The checks every add_* starts with: index range, then a second message
// of the party (same digest: FB_OK with *dup; other: FB_EPROTO), then the
// stage. *done is true when the caller must return the result as is.
static fb_err
add_begin(struct fb_secagg_server *s, enum set set, uint32_t index,
		const uint8_t d[DIGEST_LEN], bool *dup, bool *done)
{
	*done = true;
	if (dup != NULL) {
		*dup = false;
	}
	if (index == 0 || index > s->p.n) {
		return fb_errorf(FB_EINVAL,
				"secagg round %u: %s of index %u, n is %u",
				s->p.ctx.round, set_msg[set], index, s->p.n);
	}
	struct party *pt = &s->pt[index];
	if (pt->in[set]) {
		if (sodium_memcmp(pt->digest[set], d, DIGEST_LEN) != 0) {
			return fb_errorf(FB_EPROTO,
					"secagg round %u: duplicate: party %u "
					"sent a different %s",
					s->p.ctx.round, index, set_msg[set]);
		}
		if (dup != NULL) {
			*dup = true;
		}
		return FB_OK;
	}
	if (s->stage != (enum fb_secagg_stage)set) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: %s of party %u outside its "
				"stage",
				s->p.ctx.round, set_msg[set], index);
	}
	*done = false;
	return FB_OK;
}

static void
add_commit(struct fb_secagg_server *s, enum set set, uint32_t index,
		const uint8_t d[DIGEST_LEN])
{
	struct party *pt = &s->pt[index];
	memcpy(pt->digest[set], d, DIGEST_LEN);
	pt->in[set] = true;
	s->count[set]++;
}

// FB_ECRYPTO if pk is of low order (X25519 with it gives all zeros).
static fb_err
check_pk(const struct fb_secagg_server *s, uint32_t index, const uint8_t *pk,
		const char *what)
{
	uint8_t q[crypto_scalarmult_BYTES];
	int rc = crypto_scalarmult(q, s->probe_sk, pk);
	sodium_memzero(q, sizeof(q));
	if (rc != 0) {
		return fb_errorf(FB_ECRYPTO,
				"secagg round %u: party %u advertised a "
				"low-order %s key",
				s->p.ctx.round, index, what);
	}
	return FB_OK;
}

fb_err
fb_secagg_server_add_advert(struct fb_secagg_server *s, uint32_t index,
		const uint8_t advert[FB_SECAGG_ADVERT_LEN], uint64_t users,
		bool *dup)
{
	uint8_t d[DIGEST_LEN], ub[8];
	fb_wire_store_u64(ub, users);
	digest(d, advert, FB_SECAGG_ADVERT_LEN, ub, sizeof(ub));
	bool done;
	fb_err err = add_begin(s, U1, index, d, dup, &done);
	if (done) {
		return err;
	}
	if (users == 0) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u declares 0 users",
				s->p.ctx.round, index);
	}
	struct fb_secagg_advert ad;
	err = fb_secagg_advert_open(&ad, advert,
			s->keys + (size_t)(index - 1) * FB_ID_PK_LEN, &s->p.ctx,
			s->p.n);
	if (err != FB_OK) {
		return err;
	}
	if (ad.index != index) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u sent the "
				"advertisement of index %u",
				s->p.ctx.round, index, ad.index);
	}
	err = check_pk(s, index, ad.share_pk, "share");
	if (err == FB_OK) {
		err = check_pk(s, index, ad.mask_pk, "mask");
	}
	if (err != FB_OK) {
		return err;
	}
	struct party *pt = &s->pt[index];
	memcpy(pt->advert, advert, FB_SECAGG_ADVERT_LEN);
	pt->users = users;
	add_commit(s, U1, index, d);
	return FB_OK;
}

// Leaves stage from for the next one if set has at least n_min members,
// else for FAILED (FB_ESTATE).
static fb_err
close_stage(struct fb_secagg_server *s, enum fb_secagg_stage from, enum set set)
{
	if (s->stage != from) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: closing stage %d in stage %d",
				s->p.ctx.round, (int)from, (int)s->stage);
	}
	if (s->count[set] < s->p.n_min) {
		s->stage = FB_SA_FAILED;
		return fb_errorf(FB_ESTATE,
				"secagg round %u: secagg-too-few: %u %s, "
				"n_min %u",
				s->p.ctx.round, s->count[set], set_msg[set],
				s->p.n_min);
	}
	s->stage = (enum fb_secagg_stage)(from + 1);
	return FB_OK;
}

fb_err
fb_secagg_server_close_adverts(struct fb_secagg_server *s)
{
	if (s->stage == FB_SA_ADVERTS && s->count[U1] >= s->p.n_min) {
		size_t m = s->count[U1];
		s->box = calloc(m * m, BOX);
		if (s->box == NULL) {
			return fb_errorf(FB_ENOMEM,
					"secagg round %u: bundles of %zu "
					"parties",
					s->p.ctx.round, m);
		}
		uint32_t r = 0;
		for (uint32_t v = 1; v <= s->p.n; v++) {
			if (s->pt[v].in[U1]) {
				s->pt[v].rank1 = r++;
			}
		}
	}
	return close_stage(s, FB_SA_ADVERTS, U1);
}

size_t
fb_secagg_server_peers_len(const struct fb_secagg_server *s)
{
	if (s->stage == FB_SA_ADVERTS || s->stage == FB_SA_FAILED) {
		return 0;
	}
	return fb_sa_peers_len(s->count[U1]);
}

void
fb_secagg_server_peers(const struct fb_secagg_server *s, uint8_t *out)
{
	uint8_t *p = fb_sa_peers_init(out, s->count[U1]);
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (s->pt[v].in[U1]) {
			memcpy(p, s->pt[v].advert, FB_SECAGG_ADVERT_LEN);
			p += FB_SECAGG_ADVERT_LEN;
		}
	}
}

static uint8_t *
box_at(const struct fb_secagg_server *s, uint32_t sender, uint32_t receiver)
{
	size_t m = s->count[U1];
	return s->box +
			((size_t)s->pt[sender].rank1 * m +
					s->pt[receiver].rank1) *
			BOX;
}

// FB_OK if the bundles of l address exactly U1 minus sender.
static fb_err
check_addressees(const struct fb_secagg_server *s, uint32_t sender,
		const struct fb_sa_list *l)
{
	uint32_t round = s->p.ctx.round;
	if (l->count != s->count[U1] - 1) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u sent %u bundles, "
				"expected %u (U1 minus itself)",
				round, sender, l->count, s->count[U1] - 1);
	}
	uint32_t i = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (!s->pt[v].in[U1] || v == sender) {
			continue;
		}
		uint32_t got = fb_sa_bundles_party(l, i++);
		if (got != v) {
			return fb_errorf(FB_EPROTO,
					"secagg round %u: party %u addressed a "
					"bundle to %u where %u was expected",
					round, sender, got, v);
		}
	}
	return FB_OK;
}

fb_err
fb_secagg_server_add_shares(struct fb_secagg_server *s, uint32_t sender,
		const uint8_t *body, size_t len, bool *dup)
{
	uint8_t d[DIGEST_LEN];
	digest(d, body, len, NULL, 0);
	bool done;
	fb_err err = add_begin(s, U2, sender, d, dup, &done);
	if (done) {
		return err;
	}
	if (!s->pt[sender].in[U1]) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u sent shares "
				"without an advertisement",
				s->p.ctx.round, sender);
	}
	struct fb_sa_list l;
	err = fb_sa_bundles_decode(&l, body, len);
	if (err == FB_OK) {
		err = check_addressees(s, sender, &l);
	}
	if (err != FB_OK) {
		return err;
	}
	for (uint32_t i = 0; i < l.count; i++) {
		memcpy(box_at(s, sender, fb_sa_bundles_party(&l, i)),
				fb_sa_bundles_sealed(&l, i), BOX);
	}
	add_commit(s, U2, sender, d);
	return FB_OK;
}

fb_err
fb_secagg_server_close_shares(struct fb_secagg_server *s)
{
	return close_stage(s, FB_SA_SHARES, U2);
}

static bool
past_shares(const struct fb_secagg_server *s)
{
	return s->stage == FB_SA_MASKED || s->stage == FB_SA_UNMASK ||
			s->stage == FB_SA_DONE;
}

size_t
fb_secagg_server_inbox_len(const struct fb_secagg_server *s, uint32_t receiver)
{
	if (!past_shares(s) || receiver == 0 || receiver > s->p.n ||
			!s->pt[receiver].in[U2]) {
		return 0;
	}
	return fb_sa_bundles_len(s->count[U2] - 1);
}

fb_err
fb_secagg_server_inbox(const struct fb_secagg_server *s, uint32_t receiver,
		uint8_t *out)
{
	if (fb_secagg_server_inbox_len(s, receiver) == 0) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: no inbox for party %u",
				s->p.ctx.round, receiver);
	}
	uint8_t *first = fb_sa_bundles_init(out, s->count[U2] - 1);
	uint32_t i = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (s->pt[v].in[U2] && v != receiver) {
			fb_sa_bundles_put(
					first, i++, v, box_at(s, v, receiver));
		}
	}
	return FB_OK;
}

fb_err
fb_secagg_server_add_masked(struct fb_secagg_server *s, uint32_t sender,
		const void *le, size_t dim, bool *dup)
{
	size_t wb = s->p.ring_bits / 8;
	uint8_t d[DIGEST_LEN];
	if (dim != s->p.dim || le == NULL) {
		if (dup != NULL) {
			*dup = false;
		}
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u sent a masked input "
				"of %zu words, expected %zu",
				s->p.ctx.round, sender, dim, s->p.dim);
	}
	digest(d, le, dim * wb, NULL, 0);
	bool done;
	fb_err err = add_begin(s, U3, sender, d, dup, &done);
	if (done) {
		return err;
	}
	if (!s->pt[sender].in[U2]) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: masked input of party %u, "
				"which did not share keys",
				s->p.ctx.round, sender);
	}
	fb_secagg_ring_add_packed(s->acc, le, dim, s->p.ring_bits);
	add_commit(s, U3, sender, d);
	return FB_OK;
}

// The unmask request and positions, and the share store of m2 x m3.
static fb_err
prepare_unmask(struct fb_secagg_server *s)
{
	uint32_t m2 = s->count[U2], m3 = s->count[U3];
	s->req = malloc((size_t)m2 * sizeof(*s->req));
	s->shares = sodium_allocarray((size_t)m2 * m3, SH);
	if (s->req == NULL || s->shares == NULL) {
		return fb_errorf(FB_ENOMEM,
				"secagg round %u: shares of %u x %u parties",
				s->p.ctx.round, m2, m3);
	}
	uint32_t ns = 0, nd = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		struct party *pt = &s->pt[v];
		if (pt->in[U3]) {
			pt->rank3 = ns;
			pt->req = ns;
			s->req[ns++] = v;
		}
	}
	for (uint32_t v = 1; v <= s->p.n; v++) {
		struct party *pt = &s->pt[v];
		if (pt->in[U2] && !pt->in[U3]) {
			pt->req = ns + nd;
			s->req[ns + nd++] = v;
		}
	}
	return FB_OK;
}

fb_err
fb_secagg_server_close_masked(struct fb_secagg_server *s)
{
	if (s->stage == FB_SA_MASKED && s->count[U3] >= s->p.n_min) {
		fb_err err = prepare_unmask(s);
		if (err != FB_OK) {
			return err;
		}
		s->masked_closed = true;
	}
	return close_stage(s, FB_SA_MASKED, U3);
}

size_t
fb_secagg_server_unmask_req_len(const struct fb_secagg_server *s)
{
	if (s->stage != FB_SA_UNMASK && s->stage != FB_SA_DONE) {
		return 0;
	}
	return fb_sa_unmask_req_len(s->count[U3], s->count[U2] - s->count[U3]);
}

void
fb_secagg_server_unmask_req(const struct fb_secagg_server *s, uint8_t *out)
{
	uint32_t ns = s->count[U3], nd = s->count[U2] - ns;
	// Valid by construction (ascending, disjoint, ns >= n_min >= 2).
	(void)fb_sa_unmask_req_encode(out, s->req, ns, s->req + ns, nd);
}

fb_err
fb_secagg_server_add_consistency(struct fb_secagg_server *s, uint32_t signer,
		const uint8_t sig[64], bool *dup)
{
	uint32_t round = s->p.ctx.round;
	if (dup != NULL) {
		*dup = false;
	}
	if (signer == 0 || signer > s->p.n) {
		return fb_errorf(FB_EINVAL,
				"secagg round %u: SA_CONSISTENCY of index %u, "
				"n is %u",
				round, signer, s->p.n);
	}
	struct party *pt = &s->pt[signer];
	if (pt->signed_) {
		if (sodium_memcmp(pt->sig, sig, FB_SECAGG_CONSIST_SIG_LEN) !=
				0) {
			return fb_errorf(FB_EPROTO,
					"secagg round %u: duplicate: party %u "
					"sent a different SA_CONSISTENCY",
					round, signer);
		}
		if (dup != NULL) {
			*dup = true;
		}
		return FB_OK;
	}
	if (!s->p.consistency || s->stage != FB_SA_UNMASK ||
			s->consist_closed) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: SA_CONSISTENCY of party %u "
				"outside its stage",
				round, signer);
	}
	if (!pt->in[U3]) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: SA_CONSISTENCY of party %u, "
				"which is not a survivor",
				round, signer);
	}
	size_t len = fb_secagg_server_unmask_req_len(s);
	uint8_t *req = malloc(len);
	if (req == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg round %u: request", round);
	}
	fb_secagg_server_unmask_req(s, req);
	fb_err err = fb_secagg_consist_verify(sig, &s->p.ctx, req, len,
			s->keys + (size_t)(signer - 1) * FB_ID_PK_LEN, signer);
	free(req);
	if (err != FB_OK) {
		return err;
	}
	memcpy(pt->sig, sig, FB_SECAGG_CONSIST_SIG_LEN);
	pt->signed_ = true;
	s->signers++;
	return FB_OK;
}

fb_err
fb_secagg_server_close_consistency(struct fb_secagg_server *s)
{
	uint32_t round = s->p.ctx.round;
	if (!s->p.consistency || s->stage != FB_SA_UNMASK ||
			s->consist_closed) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: closing the consistency "
				"round in stage %d",
				round, (int)s->stage);
	}
	if (s->signers < s->p.t) {
		s->stage = FB_SA_FAILED;
		return fb_errorf(FB_ESTATE,
				"secagg round %u: secagg-too-few: %u "
				"consistency signatures, threshold %u",
				round, s->signers, s->p.t);
	}
	s->consist_closed = true;
	return FB_OK;
}

uint32_t
fb_secagg_server_signers(const struct fb_secagg_server *s)
{
	return s->signers;
}

bool
fb_secagg_server_signed(const struct fb_secagg_server *s, uint32_t index)
{
	return index >= 1 && index <= s->p.n && s->pt[index].signed_;
}

size_t
fb_secagg_server_sigs_len(const struct fb_secagg_server *s)
{
	if (!s->consist_closed || s->stage == FB_SA_FAILED) {
		return 0;
	}
	return fb_sa_sigs_len(s->signers);
}

void
fb_secagg_server_sigs(const struct fb_secagg_server *s, uint8_t *out)
{
	uint8_t *first = fb_sa_sigs_init(out, s->signers);
	uint32_t i = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (s->pt[v].signed_) {
			fb_sa_sigs_put(first, i++, v, s->pt[v].sig);
		}
	}
}

fb_err
fb_secagg_server_add_reveal(struct fb_secagg_server *s, uint32_t responder,
		const uint8_t *body, size_t len, bool *dup)
{
	uint8_t d[DIGEST_LEN];
	digest(d, body, len, NULL, 0);
	bool done;
	fb_err err = add_begin(s, RESP, responder, d, dup, &done);
	if (done) {
		return err;
	}
	uint32_t round = s->p.ctx.round;
	if (s->p.consistency && !s->consist_closed) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: SA_UNMASK of party %u before "
				"the consistency round closed",
				round, responder);
	}
	if (s->p.consistency && !s->pt[responder].signed_) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: SA_UNMASK of party %u, which "
				"did not sign the sets",
				round, responder);
	}
	if (!s->pt[responder].in[U3]) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: unmask shares of party %u, "
				"which is not a survivor",
				round, responder);
	}
	struct fb_sa_unmask u;
	err = fb_sa_unmask_decode(&u, body, len);
	if (err != FB_OK) {
		return err;
	}
	uint32_t m2 = s->count[U2], m3 = s->count[U3];
	if (u.ns != m3 || u.nd != m2 - m3) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: party %u revealed %u + %u "
				"shares, the request asked for %u + %u",
				round, responder, u.ns, u.nd, m3, m2 - m3);
	}
	for (uint32_t k = 0; k < m2; k++) {
		const uint8_t *sh = k < m3
				? u.self_shares + (size_t)k * SH
				: u.mask_shares + (size_t)(k - m3) * SH;
		err = fb_shamir_share_check(sh);
		if (err == FB_OK && fb_shamir_share_index(sh) != responder) {
			err = fb_errorf(FB_EPROTO,
					"secagg round %u: party %u revealed a "
					"share of index %u",
					round, responder,
					fb_shamir_share_index(sh));
		}
		if (err != FB_OK) {
			return err;
		}
	}
	uint32_t r = s->pt[responder].rank3;
	for (uint32_t k = 0; k < m2; k++) {
		const uint8_t *sh = k < m3
				? u.self_shares + (size_t)k * SH
				: u.mask_shares + (size_t)(k - m3) * SH;
		memcpy(s->shares + ((size_t)k * m3 + r) * SH, sh, SH);
	}
	add_commit(s, RESP, responder, d);
	return FB_OK;
}

uint32_t
fb_secagg_server_count(
		const struct fb_secagg_server *s, enum fb_secagg_stage which)
{
	return which <= FB_SA_UNMASK ? s->count[which] : 0;
}

bool
fb_secagg_server_in(const struct fb_secagg_server *s,
		enum fb_secagg_stage which, uint32_t index)
{
	return which <= FB_SA_UNMASK && index >= 1 && index <= s->p.n &&
			s->pt[index].in[which];
}

uint64_t
fb_secagg_server_users(const struct fb_secagg_server *s)
{
	enum set set = s->masked_closed ? U3 : U1;
	uint64_t total = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (s->pt[v].in[set]) {
			total += s->pt[v].users;
		}
	}
	return total;
}

// Reconstructs the secret of request position k from the responders'
// shares (their ranks in rk, count nr) with the Lagrange coefficients
// lambda; tmp holds nr shares.
static fb_err
reconstruct(const struct fb_secagg_server *s, uint32_t k, const uint32_t *rk,
		uint32_t nr, const uint8_t *lambda, uint8_t *tmp,
		uint8_t secret[FB_SHAMIR_SECRET_LEN])
{
	uint32_t m3 = s->count[U3];
	for (uint32_t i = 0; i < nr; i++) {
		memcpy(tmp + (size_t)i * SH,
				s->shares + ((size_t)k * m3 + rk[i]) * SH, SH);
	}
	fb_err err = fb_shamir_combine_with(secret, tmp, nr, lambda);
	if (err != FB_OK) {
		return fb_errorf(FB_ECRYPTO,
				"secagg round %u: the %s of party %u does not "
				"reconstruct (a responder sent a wrong share)",
				s->p.ctx.round,
				k < m3 ? "self-mask seed" : "mask key",
				s->req[k]);
	}
	return FB_OK;
}

// The survivors and dropped parties with their reconstructed secrets, in
// sodium_malloc memory (surv then dropped).
struct recon {
	struct fb_secagg_survivor *surv;
	struct fb_secagg_dropped *drop;
};

static fb_err
reconstruct_all(struct fb_secagg_server *s, struct recon *rc, uint8_t *tmp,
		uint32_t *idx, uint32_t *rk, uint8_t *lambda)
{
	uint32_t nr = 0;
	for (uint32_t v = 1; v <= s->p.n; v++) {
		if (s->pt[v].in[RESP]) {
			idx[nr] = v;
			rk[nr++] = s->pt[v].rank3;
		}
	}
	fb_err err = fb_shamir_lagrange(lambda, idx, nr);
	uint32_t m2 = s->count[U2], m3 = s->count[U3];
	for (uint32_t k = 0; k < m2 && err == FB_OK; k++) {
		const struct party *pt = &s->pt[s->req[k]];
		if (k < m3) {
			struct fb_secagg_survivor *sv = &rc->surv[k];
			sv->index = s->req[k];
			sv->masked = NULL;
			memcpy(sv->mask_pk, pt->advert + ADVERT_OFF_MASK_PK,
					FB_SECAGG_PK_LEN);
			sv->self_commit = pt->advert + ADVERT_OFF_COMMIT;
			err = reconstruct(s, k, rk, nr, lambda, tmp,
					sv->self_seed);
		} else {
			struct fb_secagg_dropped *dp = &rc->drop[k - m3];
			dp->index = s->req[k];
			memcpy(dp->mask_pk, pt->advert + ADVERT_OFF_MASK_PK,
					FB_SECAGG_PK_LEN);
			err = reconstruct(
					s, k, rk, nr, lambda, tmp, dp->mask_sk);
		}
	}
	return err;
}

fb_err
fb_secagg_server_finish(struct fb_secagg_server *s, int64_t *sum)
{
	uint32_t round = s->p.ctx.round, nr = s->count[RESP];
	if (s->stage != FB_SA_UNMASK || nr < s->p.t) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: unmask with %u responders "
				"(threshold %u) in stage %d",
				round, nr, s->p.t, (int)s->stage);
	}
	uint32_t m2 = s->count[U2], m3 = s->count[U3];
	struct recon rc = {
			.surv = sodium_allocarray(m3, sizeof(*rc.surv)),
			.drop = sodium_allocarray(
					m2 - m3 + 1, sizeof(*rc.drop)),
	};
	uint8_t *tmp = sodium_allocarray(nr, SH);
	uint32_t *idx = malloc(2 * (size_t)nr * sizeof(*idx));
	uint8_t *lambda = sodium_allocarray(nr, FB_SHAMIR_SCALAR_LEN);
	fb_err err;
	if (rc.surv == NULL || rc.drop == NULL || tmp == NULL || idx == NULL ||
			lambda == NULL) {
		err = fb_errorf(FB_ENOMEM, "secagg round %u: unmask", round);
		goto out;
	}
	err = reconstruct_all(s, &rc, tmp, idx, idx + nr, lambda);
	if (err == FB_OK) {
		err = fb_secagg_unmask_sum(sum, s->acc, s->p.dim,
				s->p.ring_bits, &s->p.ctx, rc.surv, m3, rc.drop,
				m2 - m3);
	}
	if (err == FB_OK) {
		s->stage = FB_SA_DONE;
	} else if (err == FB_ECRYPTO) {
		s->stage = FB_SA_FAILED;
	}
out:
	sodium_free(rc.surv); // each wipes; NULL is a no-op
	sodium_free(rc.drop);
	sodium_free(tmp);
	sodium_free(lambda);
	free(idx);
	return err;
}
