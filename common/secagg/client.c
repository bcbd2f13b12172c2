// common/secagg/client.c: a client's round of secure aggregation
// (include/fedbundle/secagg/client.h, protocols/secagg-v1.md §3).
// Invariants: secrets (key pairs, self seed, shares) live in one
// sodium_malloc block wiped on destroy; the per-peer reveal mark is set
// only after a whole reveal request passed every check, and a peer once
// marked "self" (survived) is never revealed "mask" (dropped) or the
// reverse; the peer set is frozen at the first share operation and the
// sharing set at mask; with the consistency round (§3.5) the client signs
// one pair of sets per round and reveals only for those, after t valid
// signatures over them.
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/util/log.h"

#define SH FB_SHAMIR_SHARE_LEN

enum state { ST_ADVERTISE, ST_SHARING, ST_MASKED };
enum reveal { RV_NONE, RV_SELF, RV_MASK };

struct peer {
	bool known;
	bool shared;    // its bundle was opened (or it is this client)
	uint8_t reveal; // enum reveal
	uint8_t share_pk[FB_SECAGG_PK_LEN];
	uint8_t mask_pk[FB_SECAGG_PK_LEN];
};

// The secret part, in sodium_malloc memory.
struct secrets {
	struct fb_secagg_keypair share_kp, mask_kp;
	uint8_t self_seed[FB_SECAGG_SEED_LEN];
	uint8_t self_commit[FB_SECAGG_COMMIT_LEN];
	uint8_t mine[]; // n self shares then n mask shares, then received
};

struct fb_secagg_client {
	struct fb_secagg_client_params p;
	enum state state;
	struct peer *peers; // indexed 1..n
	struct secrets *sec;
	uint8_t *signed_req; // the SA_UNMASK_REQ body signed (§3.5), or NULL
	size_t signed_len;
	bool consistent; // t signatures over signed_req verified
};

static uint8_t *
my_share(struct fb_secagg_client *c, int kind, uint32_t peer)
{
	return c->sec->mine + ((size_t)kind * c->p.n + peer - 1) * SH;
}

// Shares peer sent to this client: kind 0 self seed, 1 mask key.
static uint8_t *
got_share(struct fb_secagg_client *c, int kind, uint32_t peer)
{
	return c->sec->mine + ((size_t)(2 + kind) * c->p.n + peer - 1) * SH;
}

fb_err
fb_secagg_client_create(struct fb_secagg_client **out,
		const struct fb_secagg_client_params *p)
{
	uint32_t n_min = p->n_min > 0 ? p->n_min : p->t;
	if (p->n < 2 || p->n > FB_SHAMIR_N_MAX || p->t > p->n ||
			2 * p->t <= p->n || p->index == 0 || p->index > p->n ||
			n_min < p->t || n_min > p->n ||
			(p->ring_bits != 0 &&
					!fb_secagg_ring_ok(p->ring_bits))) {
		return fb_errorf(FB_EINVAL,
				"secagg client: n %u, t %u, n_min %u, index %u, "
				"ring %u bits (need n/2 < t <= n_min <= n, 1 <= "
				"index <= n, a ring of 32, 48 or 64 bits)",
				p->n, p->t, n_min, p->index, p->ring_bits);
	}
	struct fb_secagg_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg client");
	}
	c->p = *p;
	c->p.n_min = n_min;
	if (c->p.ring_bits == 0) {
		c->p.ring_bits = 64;
	}
	c->peers = calloc((size_t)p->n + 1, sizeof(*c->peers));
	size_t len = sizeof(struct secrets) + (size_t)4 * p->n * SH;
	c->sec = sodium_malloc(len);
	fb_err err = FB_ENOMEM;
	if (c->peers == NULL || c->sec == NULL) {
		fb_errorf(err, "secagg client: state of %u parties", p->n);
		goto fail;
	}
	sodium_memzero(c->sec, len);
	err = fb_secagg_keypair_generate(&c->sec->share_kp);
	if (err == FB_OK) {
		err = fb_secagg_keypair_generate(&c->sec->mask_kp);
	}
	if (err != FB_OK) {
		goto fail;
	}
	randombytes_buf(c->sec->self_seed, FB_SECAGG_SEED_LEN);
	fb_secagg_self_commit(c->sec->self_commit, c->sec->self_seed);
	struct peer *me = &c->peers[p->index];
	me->known = true;
	memcpy(me->share_pk, c->sec->share_kp.pk, FB_SECAGG_PK_LEN);
	memcpy(me->mask_pk, c->sec->mask_kp.pk, FB_SECAGG_PK_LEN);
	*out = c;
	return FB_OK;
fail:
	fb_secagg_client_destroy(c);
	return err;
}

void
fb_secagg_client_destroy(struct fb_secagg_client *c)
{
	if (c == NULL) {
		return;
	}
	sodium_free(c->sec);
	free(c->signed_req);
	free(c->peers);
	free(c);
}

fb_err
fb_secagg_client_advert(const struct fb_secagg_client *c,
		const struct fb_identity *id, uint8_t out[FB_SECAGG_ADVERT_LEN])
{
	struct fb_secagg_advert ad = {.ctx = c->p.ctx, .index = c->p.index};
	memcpy(ad.share_pk, c->sec->share_kp.pk, FB_SECAGG_PK_LEN);
	memcpy(ad.mask_pk, c->sec->mask_kp.pk, FB_SECAGG_PK_LEN);
	memcpy(ad.self_commit, c->sec->self_commit, FB_SECAGG_COMMIT_LEN);
	return fb_secagg_advert_sign(out, &ad, id);
}

fb_err
fb_secagg_client_add_peer(struct fb_secagg_client *c,
		const uint8_t advert[FB_SECAGG_ADVERT_LEN],
		const uint8_t id_pk[FB_ID_PK_LEN])
{
	if (c->state != ST_ADVERTISE) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: peers are fixed "
				"once shares are exchanged",
				c->p.ctx.round);
	}
	struct fb_secagg_advert ad;
	fb_err err = fb_secagg_advert_open(
			&ad, advert, id_pk, &c->p.ctx, c->p.n);
	if (err != FB_OK) {
		return err;
	}
	if (c->peers[ad.index].known) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: a second advertisement for "
				"index %u",
				c->p.ctx.round, ad.index);
	}
	struct peer *pe = &c->peers[ad.index];
	pe->known = true;
	memcpy(pe->share_pk, ad.share_pk, FB_SECAGG_PK_LEN);
	memcpy(pe->mask_pk, ad.mask_pk, FB_SECAGG_PK_LEN);
	return FB_OK;
}

// ADVERTISE -> SHARING: at least t known parties; split both secrets.
static fb_err
enter_sharing(struct fb_secagg_client *c)
{
	if (c->state == ST_SHARING) {
		return FB_OK;
	}
	if (c->state != ST_ADVERTISE) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: shares after the "
				"masked input",
				c->p.ctx.round);
	}
	uint32_t known = 0;
	for (uint32_t i = 1; i <= c->p.n; i++) {
		known += c->peers[i].known;
	}
	if (known < c->p.n_min) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: %u parties advertised, "
				"the round needs %u (n_min)",
				c->p.ctx.round, known, c->p.n_min);
	}
	fb_err err = fb_shamir_split(
			my_share(c, 0, 1), c->sec->self_seed, c->p.t, c->p.n);
	if (err == FB_OK) {
		err = fb_shamir_split(my_share(c, 1, 1), c->sec->mask_kp.sk,
				c->p.t, c->p.n);
	}
	if (err != FB_OK) {
		return err;
	}
	uint32_t me = c->p.index;
	memcpy(got_share(c, 0, me), my_share(c, 0, me), SH);
	memcpy(got_share(c, 1, me), my_share(c, 1, me), SH);
	c->peers[me].shared = true;
	c->state = ST_SHARING;
	return FB_OK;
}

static fb_err
known_peer(const struct fb_secagg_client *c, uint32_t peer)
{
	if (peer == 0 || peer > c->p.n || peer == c->p.index ||
			!c->peers[peer].known) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: %u is not a peer that "
				"advertised",
				c->p.ctx.round, peer);
	}
	return FB_OK;
}

fb_err
fb_secagg_client_seal_shares(struct fb_secagg_client *c, uint32_t peer,
		uint8_t out[FB_SECAGG_SHARES_SEALED_LEN])
{
	fb_err err = known_peer(c, peer);
	if (err != FB_OK) {
		return fb_errorf(FB_EINVAL, "%s", fb_last_error(err));
	}
	err = enter_sharing(c);
	if (err != FB_OK) {
		return err;
	}
	uint8_t key[FB_SECAGG_KEY_LEN];
	err = fb_secagg_share_key(key, &c->p.ctx, c->p.index, &c->sec->share_kp,
			peer, c->peers[peer].share_pk, 1);
	if (err == FB_OK) {
		err = fb_secagg_shares_seal(out, &c->p.ctx, c->p.index, peer,
				key, my_share(c, 0, peer),
				my_share(c, 1, peer));
	}
	sodium_memzero(key, sizeof(key));
	return err;
}

fb_err
fb_secagg_client_open_shares(struct fb_secagg_client *c, uint32_t sender,
		const uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN])
{
	fb_err err = known_peer(c, sender);
	if (err == FB_OK) {
		err = enter_sharing(c);
	}
	if (err != FB_OK) {
		return err;
	}
	if (c->peers[sender].shared) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: a second share bundle from %u",
				c->p.ctx.round, sender);
	}
	uint8_t key[FB_SECAGG_KEY_LEN];
	err = fb_secagg_share_key(key, &c->p.ctx, c->p.index, &c->sec->share_kp,
			sender, c->peers[sender].share_pk, 0);
	if (err == FB_OK) {
		err = fb_secagg_shares_open(got_share(c, 0, sender),
				got_share(c, 1, sender), sealed, &c->p.ctx,
				sender, c->p.index, key);
	}
	sodium_memzero(key, sizeof(key));
	if (err == FB_OK) {
		c->peers[sender].shared = true;
	}
	return err;
}

struct fb_secagg_maskset {
	uint32_t round;
	uint32_t bits;
	size_t k;
	uint8_t *seeds; // k seeds, sodium_malloc
	struct fb_secagg_mask masks[];
};

void
fb_secagg_maskset_destroy(struct fb_secagg_maskset *ms)
{
	if (ms != NULL) {
		sodium_free(ms->seeds); // wipes; NULL is a no-op
		free(ms);
	}
}

// The self mask then one pairwise mask per peer that shared (§3.3).
static fb_err
derive_masks(struct fb_secagg_client *c, struct fb_secagg_maskset *ms,
		uint32_t shared)
{
	ms->seeds = sodium_malloc((size_t)shared * FB_SECAGG_SEED_LEN);
	if (ms->seeds == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg round %u: %u masks",
				c->p.ctx.round, shared);
	}
	memcpy(ms->seeds, c->sec->self_seed, FB_SECAGG_SEED_LEN);
	ms->masks[0] = (struct fb_secagg_mask){ms->seeds, 1};
	ms->k = 1;
	fb_err err = FB_OK;
	for (uint32_t v = 1; v <= c->p.n && err == FB_OK; v++) {
		if (v == c->p.index || !c->peers[v].shared) {
			continue;
		}
		uint8_t *s = ms->seeds + ms->k * FB_SECAGG_SEED_LEN;
		err = fb_secagg_pair_seed(s, &c->p.ctx, c->p.index,
				&c->sec->mask_kp, v, c->peers[v].mask_pk);
		ms->masks[ms->k++] = (struct fb_secagg_mask){
				s, c->p.index < v ? 1 : -1};
	}
	return err;
}

fb_err
fb_secagg_client_take_masks(
		struct fb_secagg_client *c, struct fb_secagg_maskset **out)
{
	if (c->state != ST_SHARING) {
		return fb_errorf(FB_ESTATE, "secagg round %u: mask %s",
				c->p.ctx.round,
				c->state == ST_MASKED ? "twice"
						      : "before shares");
	}
	uint32_t shared = 0;
	for (uint32_t i = 1; i <= c->p.n; i++) {
		shared += c->peers[i].shared;
	}
	if (shared < c->p.n_min) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: %u parties shared, the round "
				"needs %u (n_min)",
				c->p.ctx.round, shared, c->p.n_min);
	}
	struct fb_secagg_maskset *ms = calloc(1,
			sizeof(*ms) + shared * sizeof(struct fb_secagg_mask));
	if (ms == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg round %u: %u masks",
				c->p.ctx.round, shared);
	}
	ms->round = c->p.ctx.round;
	ms->bits = c->p.ring_bits;
	fb_err err = derive_masks(c, ms, shared);
	if (err != FB_OK) {
		fb_secagg_maskset_destroy(ms);
		return err;
	}
	c->state = ST_MASKED;
	*out = ms;
	return FB_OK;
}

fb_err
fb_secagg_maskset_expand(
		const struct fb_secagg_maskset *ms, uint64_t *m, size_t dim)
{
	return fb_secagg_mask_sum_ring(m, dim, ms->bits, ms->masks, ms->k);
}

fb_err
fb_secagg_maskset_apply(const struct fb_secagg_maskset *ms, const int64_t *x,
		size_t dim, uint64_t *y)
{
	for (size_t i = 0; (const void *)y != x && i < dim; i++) {
		y[i] = (uint64_t)x[i]; // two's complement into the ring
	}
	return fb_secagg_mask_apply_ring(y, dim, ms->bits, ms->masks, ms->k);
}

void
fb_secagg_maskset_add(const struct fb_secagg_maskset *ms, const int64_t *x,
		uint64_t *m, size_t dim, uint64_t *y)
{
	uint64_t r = ms->bits == 64 ? UINT64_MAX
				    : (UINT64_C(1) << ms->bits) - 1;
	// m wiped in the same pass, its lines in cache for the add.
	for (size_t i = 0; i < dim; i++) {
		y[i] = ((uint64_t)x[i] + m[i]) & r;
		m[i] = 0;
	}
#ifdef __GNUC__
	// The zeroes are stored even if the caller frees m next (as
	// sodium_memzero guarantees).
	__asm__ __volatile__("" : : "r"(m) : "memory");
#endif
}

fb_err
fb_secagg_client_mask(struct fb_secagg_client *c, const int64_t *x, size_t dim,
		uint64_t *y)
{
	struct fb_secagg_maskset *ms = NULL;
	fb_err err = fb_secagg_client_take_masks(c, &ms);
	if (err == FB_OK) {
		err = fb_secagg_maskset_apply(ms, x, dim, y);
	}
	fb_secagg_maskset_destroy(ms);
	return err;
}

// FB_OK, or why one list of a reveal request must be refused; marks the
// listed parties with kind in seen.
static fb_err
check_reveal(struct fb_secagg_client *c, const uint32_t *list, size_t n,
		uint8_t kind, uint8_t *seen)
{
	uint32_t round = c->p.ctx.round;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = list[i];
		if (v == 0 || v > c->p.n || !c->peers[v].shared) {
			return fb_errorf(FB_EPROTO,
					"secagg round %u: reveal asks for %u, "
					"which did not share",
					round, v);
		}
		if (seen[v] != RV_NONE) {
			bool both = seen[v] != kind;
			if (both) {
				fb_log(FB_LOG_WARN,
						"secagg round %u: refusing an "
						"aggregator that asks for both "
						"shares of party %u",
						round, v);
			}
			return fb_errorf(FB_EPROTO,
					"secagg round %u: party %u listed %s",
					round, v,
					both ? "as survivor and as dropped"
					     : "twice");
		}
		uint8_t before = c->peers[v].reveal;
		if (before != RV_NONE && before != kind) {
			fb_log(FB_LOG_WARN,
					"secagg round %u: refusing to reveal "
					"the %s share of party %u after its %s "
					"share",
					round,
					kind == RV_SELF ? "self" : "mask", v,
					kind == RV_SELF ? "mask" : "self");
			return fb_errorf(FB_EPROTO,
					"secagg round %u: party %u was "
					"revealed as %s before",
					round, v,
					before == RV_SELF ? "survivor"
							  : "dropped");
		}
		seen[v] = kind;
	}
	return FB_OK;
}

static fb_err
check_reveal_all(struct fb_secagg_client *c, const uint32_t *surv, size_t ns,
		const uint32_t *dropped, size_t nd)
{
	uint32_t round = c->p.ctx.round;
	if (c->state != ST_MASKED) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: reveal before the "
				"masked input was made",
				round);
	}
	// Fewer than n_min survivors: the sum would carry fewer honest noise
	// shares than this client's share was sized for (secagg-v1 §7).
	if (ns < c->p.n_min) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: %zu survivors, the round "
				"needs %u (n_min)",
				round, ns, c->p.n_min);
	}
	uint8_t *seen = calloc((size_t)c->p.n + 1, 1);
	if (seen == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg reveal");
	}
	fb_err err = check_reveal(c, surv, ns, RV_SELF, seen);
	if (err == FB_OK) {
		err = check_reveal(c, dropped, nd, RV_MASK, seen);
	}
	if (err == FB_OK && seen[c->p.index] != RV_SELF) {
		err = fb_errorf(FB_EPROTO,
				"secagg round %u: this client is "
				"not listed as a survivor",
				round);
	}
	for (uint32_t v = 1; v <= c->p.n && err == FB_OK; v++) {
		if (c->peers[v].shared && seen[v] == RV_NONE) {
			err = fb_errorf(FB_EPROTO,
					"secagg round %u: party %u is neither "
					"survivor nor dropped",
					round, v);
		}
	}
	free(seen);
	return err;
}

// The canonical SA_UNMASK_REQ body of the sets into *out (freed by the
// caller); FB_EPROTO if they cannot be encoded (not ascending).
static fb_err
encode_sets(const struct fb_secagg_client *c, const uint32_t *surv, size_t ns,
		const uint32_t *drop, size_t nd, uint8_t **out, size_t *len)
{
	if (ns + nd > FB_SA_PARTY_MAX) {
		return fb_errorf(FB_EPROTO, "secagg round %u: %zu parties",
				c->p.ctx.round, ns + nd);
	}
	size_t l = fb_sa_unmask_req_len((uint32_t)ns, (uint32_t)nd);
	uint8_t *b = malloc(l);
	if (b == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg round %u: sets",
				c->p.ctx.round);
	}
	fb_err err = fb_sa_unmask_req_encode(
			b, surv, (uint32_t)ns, drop, (uint32_t)nd);
	if (err != FB_OK) {
		free(b);
		return fb_errorf(FB_EPROTO, "secagg round %u: %s",
				c->p.ctx.round, fb_last_error(err));
	}
	*out = b;
	*len = l;
	return FB_OK;
}

static bool
same_sets(const struct fb_secagg_client *c, const uint8_t *b, size_t len)
{
	return c->signed_req != NULL && len == c->signed_len &&
			memcmp(b, c->signed_req, len) == 0;
}

fb_err
fb_secagg_client_sign_sets(struct fb_secagg_client *c,
		const struct fb_identity *id, const uint32_t *survivors,
		size_t n_surv, const uint32_t *dropped, size_t n_dropped,
		uint8_t sig[64])
{
	fb_err err = check_reveal_all(c, survivors, n_surv, dropped, n_dropped);
	uint8_t *b = NULL;
	size_t len = 0;
	if (err == FB_OK) {
		err = encode_sets(c, survivors, n_surv, dropped, n_dropped, &b,
				&len);
	}
	if (err == FB_OK && c->signed_req != NULL && !same_sets(c, b, len)) {
		fb_log(FB_LOG_WARN,
				"secagg round %u: refusing to sign a second "
				"survivor set (%zu survivors, %zu dropped): "
				"the aggregator sent this client two",
				c->p.ctx.round, n_surv, n_dropped);
		err = fb_errorf(FB_EPROTO,
				"secagg round %u: other sets than the ones "
				"signed before",
				c->p.ctx.round);
	}
	if (err == FB_OK) {
		err = fb_secagg_consist_sign(sig, &c->p.ctx, b, len, id);
	}
	if (err == FB_OK && c->signed_req == NULL) {
		c->signed_req = b;
		c->signed_len = len;
		b = NULL;
	}
	free(b);
	return err;
}

// FB_OK if entry i (signer, sig) is a valid signature of a survivor of
// the signed sets not seen before (seen, n + 1 flags, marked).
static fb_err
check_sig(const struct fb_secagg_client *c, uint32_t signer, const uint8_t *sig,
		const uint8_t *id_keys, uint8_t *seen)
{
	uint32_t round = c->p.ctx.round;
	struct fb_sa_unmask_req rq;
	if (fb_sa_unmask_req_decode(&rq, c->signed_req, c->signed_len) !=
			FB_OK) {
		return fb_errorf(FB_EPROTO, "secagg round %u: signed sets",
				round); // not reached: encoded by sign_sets
	}
	bool member = false;
	for (uint32_t k = 0; k < rq.ns && !member; k++) {
		member = fb_sa_u32(rq.surv, k) == signer;
	}
	if (signer == 0 || signer > c->p.n || !member) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: a consistency signature of "
				"%u, not a survivor of the signed sets",
				round, signer);
	}
	if (seen[signer]) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: two consistency signatures "
				"of party %u",
				round, signer);
	}
	seen[signer] = 1;
	return fb_secagg_consist_verify(sig, &c->p.ctx, c->signed_req,
			c->signed_len,
			id_keys + (size_t)(signer - 1) * FB_ID_PK_LEN, signer);
}

fb_err
fb_secagg_client_check_sigs(struct fb_secagg_client *c, const uint32_t *signers,
		const uint8_t *sigs, size_t count, const uint8_t *id_keys)
{
	uint32_t round = c->p.ctx.round;
	if (c->signed_req == NULL) {
		return fb_errorf(FB_ESTATE,
				"secagg round %u: consistency signatures "
				"before this client signed its sets",
				round);
	}
	fb_err err = FB_OK;
	if (count < c->p.t) {
		err = fb_errorf(FB_EPROTO,
				"secagg round %u: %zu consistency signatures, "
				"the threshold is %u",
				round, count, c->p.t);
	}
	uint8_t *seen = calloc((size_t)c->p.n + 1, 1);
	if (seen == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg consistency");
	}
	for (size_t i = 0; i < count && err == FB_OK; i++) {
		err = check_sig(c, signers[i], sigs + i * FB_SA_CONSISTENCY_LEN,
				id_keys, seen);
	}
	free(seen);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN,
				"secagg round %u: refusing to reveal: the "
				"consistency check fails: %s",
				round, fb_last_error(err));
		return err;
	}
	c->consistent = true;
	return FB_OK;
}

// With the consistency round, the sets must be the signed ones, verified.
static fb_err
check_consistent(struct fb_secagg_client *c, const uint32_t *surv, size_t ns,
		const uint32_t *drop, size_t nd)
{
	if (!c->p.consistency) {
		return FB_OK;
	}
	if (!c->consistent) {
		return fb_errorf(FB_EPROTO,
				"secagg round %u: reveal before the "
				"consistency signatures were verified",
				c->p.ctx.round);
	}
	uint8_t *b = NULL;
	size_t len = 0;
	fb_err err = encode_sets(c, surv, ns, drop, nd, &b, &len);
	if (err == FB_OK && !same_sets(c, b, len)) {
		err = fb_errorf(FB_EPROTO,
				"secagg round %u: reveal for other sets than "
				"the signed ones",
				c->p.ctx.round);
	}
	free(b);
	return err;
}

fb_err
fb_secagg_client_reveal(struct fb_secagg_client *c, const uint32_t *survivors,
		size_t n_surv, const uint32_t *dropped, size_t n_dropped,
		uint8_t *self_shares, uint8_t *mask_shares)
{
	fb_err err = check_reveal_all(c, survivors, n_surv, dropped, n_dropped);
	if (err == FB_OK) {
		err = check_consistent(
				c, survivors, n_surv, dropped, n_dropped);
	}
	if (err != FB_OK) {
		return err;
	}
	for (size_t i = 0; i < n_surv; i++) {
		c->peers[survivors[i]].reveal = RV_SELF;
		memcpy(self_shares + i * SH, got_share(c, 0, survivors[i]), SH);
	}
	for (size_t i = 0; i < n_dropped; i++) {
		c->peers[dropped[i]].reveal = RV_MASK;
		memcpy(mask_shares + i * SH, got_share(c, 1, dropped[i]), SH);
	}
	return FB_OK;
}
