// include/fedbundle/secagg/client.h: one client's state for one round of
// secure aggregation (protocols/secagg-v1.md §3), in the order
//   advert -> add_peer (each advertisement) -> seal_shares (each peer) and
//   open_shares (each peer's bundle) -> mask -> [sign_sets -> check_sigs]
//   -> reveal
// (the bracketed consistency round of §3.5 when params.consistency).
// It holds the round's X25519 key pairs, the self-mask seed, its shares of
// those and the shares peers sent it, all in sodium_malloc memory wiped on
// destroy. The guard of §3.4: for each peer, the client reveals either its
// share of the peer's self-mask seed (the peer survived) or its share of
// the peer's mask key (the peer dropped), never both in one round, whatever
// the aggregator asks and in how many requests; a refused request changes
// nothing and is logged (round and party indices only, never a secret).
// Thread-safety: none; one owner.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_CLIENT_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/shares.h"
#include "fedbundle/util/err.h"

struct fb_secagg_client_params {
	struct fb_secagg_ctx ctx;
	uint32_t n;     // parties that may take part, indices 1..n
	uint32_t t;     // threshold; MUST exceed n / 2 (§2.3)
	uint32_t index; // this client's index
	// The fewest parties the round may commit with (the plan's n_min,
	// secagg-v1 §7); 0: t. The noise share is sized for n_min - c honest
	// shares, so the client refuses to share, mask or reveal for fewer.
	uint32_t n_min;
	// The ring Z_(2^ring_bits) of the round (secagg-v1 §2.2): 32, 48 or
	// 64; 0 means 64 (a plan without the secagg_ring field).
	uint32_t ring_bits;
	// The consistency round (secagg-v1 §3.5): reveal answers only the
	// sets this client signed (sign_sets), once check_sigs verified t
	// signatures over them. false: reveal without it (tests of the
	// other stages; the daemon always sets it).
	bool consistency;
};

struct fb_secagg_client;

// Creates the round state with fresh key pairs and self-mask seed.
// FB_EINVAL unless 2 <= n <= FB_SHAMIR_N_MAX, n / 2 < t <= n, t <= n_min
// <= n (n_min 0: t), 1 <= index <= n and ring_bits is 0, 32, 48 or 64;
// FB_ENOMEM. The caller destroys it.
fb_err fb_secagg_client_create(struct fb_secagg_client **out,
		const struct fb_secagg_client_params *p);

// Wipes and frees; NULL is a no-op.
void fb_secagg_client_destroy(struct fb_secagg_client *c);

// This client's advertisement, signed by id (the enrolled identity).
fb_err fb_secagg_client_advert(const struct fb_secagg_client *c,
		const struct fb_identity *id,
		uint8_t out[FB_SECAGG_ADVERT_LEN]);

// Verifies a peer's advertisement against its roster key id_pk and
// records its public keys. FB_ECRYPTO (bad signature), FB_EPROTO (other
// round, bad index, this client's own index, an index already recorded),
// FB_ESTATE once shares have been sealed or opened.
fb_err fb_secagg_client_add_peer(struct fb_secagg_client *c,
		const uint8_t advert[FB_SECAGG_ADVERT_LEN],
		const uint8_t id_pk[FB_ID_PK_LEN]);

// Seals this client's shares for peer. The first call of seal_shares or
// open_shares fixes the set of peers and splits the secrets: FB_ESTATE if
// fewer than t parties (this one included) are known, or after mask;
// FB_EINVAL for an unknown peer.
fb_err fb_secagg_client_seal_shares(struct fb_secagg_client *c, uint32_t peer,
		uint8_t out[FB_SECAGG_SHARES_SEALED_LEN]);

// Opens the bundle sender sealed for this client and keeps the shares.
// Errors of fb_secagg_shares_open(); FB_EPROTO for an unknown sender or a
// second bundle from one sender; FB_ESTATE as seal_shares.
fb_err fb_secagg_client_open_shares(struct fb_secagg_client *c, uint32_t sender,
		const uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN])
		__attribute__((warn_unused_result));

// y = x + self mask + sum over the peers whose shares it received of the
// pairwise mask (added if this index is the lower, subtracted otherwise),
// in Z_(2^b), b the round's ring_bits: x is read modulo 2^b (two's
// complement), y is left reduced, in [0, 2^b) (pack it with
// fb_secagg_ring_pack). y may be (uint64_t *)x (masked in place). Once
// per round: FB_ESTATE if called again, before shares,
// or if fewer than t parties (this one included) shared.
fb_err fb_secagg_client_mask(struct fb_secagg_client *c, const int64_t *x,
		size_t dim, uint64_t *y);

// The masks of one masked input (§3.3: the self mask and the pairwise
// masks, in the round's ring), apart from the client's state, so that
// they can be expanded on another thread (they depend only on the keys
// and the peers that shared, not on the input) while the input is made.
// Its seeds are in sodium_malloc memory, wiped on destroy.
struct fb_secagg_maskset;

// Takes this round's masks into *out (the caller destroys it): the client
// is then masked (it never masks again; it may reveal). Errors and state
// as fb_secagg_client_mask().
fb_err fb_secagg_client_take_masks(
		struct fb_secagg_client *c, struct fb_secagg_maskset **out);

// m[0..dim) = the sum of the masks of ms, each word reduced in the ring.
// Reads only ms (any thread, while the client is used elsewhere). Errors
// of fb_secagg_mask_sum_ring() (m written only: no need to zero it).
fb_err fb_secagg_maskset_expand(
		const struct fb_secagg_maskset *ms, uint64_t *m, size_t dim);

// y = x + the masks of ms (x read modulo 2^b), expanded in one blocked
// pass; y may be (uint64_t *)x.
fb_err fb_secagg_maskset_apply(const struct fb_secagg_maskset *ms,
		const int64_t *x, size_t dim, uint64_t *y);

// y = x + m in the ring of ms, m from fb_secagg_maskset_expand(), and m
// wiped (all zero) in the same pass; y may be (uint64_t *)x.
void fb_secagg_maskset_add(const struct fb_secagg_maskset *ms, const int64_t *x,
		uint64_t *m, size_t dim, uint64_t *y);

// Wipes and frees; NULL is a no-op.
void fb_secagg_maskset_destroy(struct fb_secagg_maskset *ms);

// Answers the aggregator's unmask request: for each survivors[i] this
// client's share of its self-mask seed into self_shares + i *
// FB_SHAMIR_SHARE_LEN, for each dropped[i] its share of the mask key into
// mask_shares + i * FB_SHAMIR_SHARE_LEN. Refuses with FB_EPROTO (and logs
// a warning) a party in both lists or asked before for the other kind,
// this client listed as dropped, a party that did not share with it or
// listed twice, lists that do not cover every party that shared, or fewer
// than t survivors; FB_ESTATE before mask. With params.consistency it
// also refuses (FB_EPROTO) before check_sigs succeeded and sets other than
// the signed ones. A refusal changes no state.
fb_err fb_secagg_client_reveal(struct fb_secagg_client *c,
		const uint32_t *survivors, size_t n_surv,
		const uint32_t *dropped, size_t n_dropped, uint8_t *self_shares,
		uint8_t *mask_shares);

// secagg-v1 §3.5: checks the unmask request's sets as reveal does (the
// same refusals, logged, no state change) and signs them with id (the
// enrolled identity): sig is the SA_CONSISTENCY body. The first sets
// signed are the round's: a call with other sets is refused (FB_EPROTO,
// logged: the aggregator showed this client two survivor sets), one with
// the same sets signs the same bytes again (Ed25519 is deterministic).
// The lists must ascend (as decoded); FB_ESTATE before mask.
fb_err fb_secagg_client_sign_sets(struct fb_secagg_client *c,
		const struct fb_identity *id, const uint32_t *survivors,
		size_t n_surv, const uint32_t *dropped, size_t n_dropped,
		uint8_t sig[64]) __attribute__((warn_unused_result));

// secagg-v1 §3.5: verifies the count signatures the aggregator forwarded
// (SA_SIGNATURES: signers[i] signed sigs + 64 i) against id_keys, the
// plan's n identity keys of indices 1..n (FB_ID_PK_LEN each). Refuses
// (FB_EPROTO or FB_ECRYPTO, logged at warning, state unchanged) before
// sign_sets, fewer than t signatures, a signer that is not a survivor of
// the signed sets (or not in 1..n), a signer listed twice, and any
// signature that does not verify over exactly the signed sets. On success
// reveal may answer the signed sets (and only them).
fb_err fb_secagg_client_check_sigs(struct fb_secagg_client *c,
		const uint32_t *signers, const uint8_t *sigs, size_t count,
		const uint8_t *id_keys) __attribute__((warn_unused_result));

#endif
