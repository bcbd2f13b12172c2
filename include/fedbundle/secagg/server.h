// include/fedbundle/secagg/server.h: the aggregator's state for one round
// of secure aggregation (protocols/secagg-v1.md §3, the round flow of the
// wiring plan), without I/O: it checks and records what clients send,
// builds the bodies it answers with (include/fedbundle/secagg/msg.h) and,
// at the end, reconstructs the secrets and unmasks the sum. Stages:
//   ADVERTS  add_advert (U1)        -> close_adverts
//   SHARES   add_shares (U2)        -> close_shares
//   MASKED   add_masked (U3)        -> close_masked
//   UNMASK   [add_consistency (signers) -> close_consistency]
//            add_reveal (responders) -> finish -> DONE
// (the bracketed consistency round of §3.5 when params.consistency: a
// reveal is then accepted only from a signer, after the close).
// A close leaves FAILED when too few parties are left (fewer than n_min);
// finish leaves FAILED when a reconstructed secret fails its commitment.
// Memory: O(dim) for the masked inputs (one u64 accumulator to which each
// input is added as it arrives; no input is kept) plus O(|U1|^2 * 250
// bytes) for the routed bundles and the revealed shares (the shares in
// sodium_malloc memory, wiped on destroy).
// Resends: every add_* answers a second message of a party with the same
// bytes as the first with FB_OK and *dup = true (whatever the stage, so the
// caller answers it as it answered the first), and one with other bytes
// with FB_EPROTO ("duplicate"); compared by BLAKE2b-256 digests.
// Errors of add_*: FB_EINVAL an index outside 1..n (a caller bug),
// FB_ESTATE not in that message's stage (late or early), FB_ECRYPTO a bad
// signature or key, FB_EPROTO anything else the party got wrong; nothing
// is recorded on error.
// Thread-safety: none; one owner.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_SERVER_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

struct fb_secagg_server_params {
	struct fb_secagg_ctx ctx;
	uint32_t n;     // parties, indices 1..n, 3..FB_SA_PARTY_MAX
	uint32_t t;     // threshold, n/2 < t <= n
	uint32_t n_min; // fewest survivors a commit may have, t..n
	// n * FB_ID_PK_LEN bytes: the Ed25519 identity key of index k at
	// (k - 1) * FB_ID_PK_LEN (the roster order of the PLAN); copied.
	const uint8_t *id_keys;
	size_t dim; // length of a masked input, 1..FB_SECAGG_DIM_MAX
	// The ring Z_(2^ring_bits) of the round (secagg-v1 §2.2): 32, 48 or
	// 64; 0 means 64.
	uint32_t ring_bits;
	// The consistency round (secagg-v1 §3.5) before the reveals.
	bool consistency;
};

enum fb_secagg_stage {
	FB_SA_ADVERTS,
	FB_SA_SHARES,
	FB_SA_MASKED,
	FB_SA_UNMASK,
	FB_SA_DONE,
	FB_SA_FAILED,
};

struct fb_secagg_server;

// FB_EINVAL for parameters outside their domain; FB_ENOMEM.
fb_err fb_secagg_server_create(struct fb_secagg_server **out,
		const struct fb_secagg_server_params *p);

// Wipes and frees; NULL is a no-op.
void fb_secagg_server_destroy(struct fb_secagg_server *s);

enum fb_secagg_stage fb_secagg_server_stage(const struct fb_secagg_server *s);

// Records the advertisement of the client at index (SA_ADVERT) after
// verifying its signature against the roster key of index
// (FB_ECRYPTO), its context and its index (FB_EPROTO), that its public
// keys are not of low order (FB_ECRYPTO), and users >= 1.
fb_err fb_secagg_server_add_advert(struct fb_secagg_server *s, uint32_t index,
		const uint8_t advert[FB_SECAGG_ADVERT_LEN], uint64_t users,
		bool *dup) __attribute__((warn_unused_result));

// ADVERTS -> SHARES; FB_ESTATE (and FAILED) if |U1| < n_min, or if not
// in ADVERTS.
fb_err fb_secagg_server_close_adverts(struct fb_secagg_server *s);

// The SA_PEERS body (every advertisement of U1, ascending index), from
// SHARES on; its length is 0 before.
size_t fb_secagg_server_peers_len(const struct fb_secagg_server *s);
void fb_secagg_server_peers(const struct fb_secagg_server *s, uint8_t *out);

// Records an SA_SHARES body of sender (a member of U1): its bundles must
// address exactly U1 minus sender (FB_EPROTO otherwise).
fb_err fb_secagg_server_add_shares(struct fb_secagg_server *s, uint32_t sender,
		const uint8_t *body, size_t len, bool *dup)
		__attribute__((warn_unused_result));

// SHARES -> MASKED; FB_ESTATE (and FAILED) if |U2| < n_min.
fb_err fb_secagg_server_close_shares(struct fb_secagg_server *s);

// The SA_INBOX body of receiver (a member of U2): the bundles of U2 minus
// receiver addressed to it, ascending sender; from MASKED on. Length 0
// when there is none (another stage, receiver not in U2).
size_t fb_secagg_server_inbox_len(
		const struct fb_secagg_server *s, uint32_t receiver);
fb_err fb_secagg_server_inbox(const struct fb_secagg_server *s,
		uint32_t receiver, uint8_t *out);

// Adds the masked input of sender (a member of U2) into the accumulator:
// dim little-endian ring elements of ring_bits / 8 bytes at le (any
// alignment: the view of an UPDATE's MASKED tensor). FB_EPROTO for
// another dim or a sender not in U2.
fb_err fb_secagg_server_add_masked(struct fb_secagg_server *s, uint32_t sender,
		const void *le, size_t dim, bool *dup)
		__attribute__((warn_unused_result));

// MASKED -> UNMASK; FB_ESTATE (and FAILED) if |U3| < n_min.
fb_err fb_secagg_server_close_masked(struct fb_secagg_server *s);

// The SA_UNMASK_REQ body (survivors U3, dropped U2 minus U3), from UNMASK
// on; length 0 before.
size_t fb_secagg_server_unmask_req_len(const struct fb_secagg_server *s);
void fb_secagg_server_unmask_req(
		const struct fb_secagg_server *s, uint8_t *out);

// secagg-v1 §3.5: records the SA_CONSISTENCY signature of signer (a member
// of U3, FB_EPROTO otherwise) after verifying it over the unmask request
// with signer's roster key (FB_ECRYPTO). In UNMASK before
// close_consistency (FB_ESTATE otherwise); resends as every add_*.
fb_err fb_secagg_server_add_consistency(struct fb_secagg_server *s,
		uint32_t signer, const uint8_t sig[64], bool *dup)
		__attribute__((warn_unused_result));

// Ends the collection of signatures: FB_ESTATE (and FAILED) with fewer
// than t of them; FB_ESTATE (state unchanged) outside UNMASK, without
// params.consistency or a second time.
fb_err fb_secagg_server_close_consistency(struct fb_secagg_server *s);

// The number of signers, and whether index is one.
uint32_t fb_secagg_server_signers(const struct fb_secagg_server *s);
bool fb_secagg_server_signed(const struct fb_secagg_server *s, uint32_t index);

// The SA_SIGNATURES body (every signature collected, ascending signer)
// once close_consistency succeeded; length 0 before.
size_t fb_secagg_server_sigs_len(const struct fb_secagg_server *s);
void fb_secagg_server_sigs(const struct fb_secagg_server *s, uint8_t *out);

// Records an SA_UNMASK body of responder (a member of U3): as many shares
// as the request names, each well formed and carrying the responder's
// index (FB_EPROTO otherwise). With params.consistency: FB_ESTATE before
// close_consistency, FB_EPROTO from a party that did not sign.
fb_err fb_secagg_server_add_reveal(struct fb_secagg_server *s,
		uint32_t responder, const uint8_t *body, size_t len, bool *dup)
		__attribute__((warn_unused_result));

// |U1|, |U2|, |U3| and the number of responders for which FB_SA_ADVERTS,
// FB_SA_SHARES, FB_SA_MASKED and FB_SA_UNMASK; 0 otherwise.
uint32_t fb_secagg_server_count(
		const struct fb_secagg_server *s, enum fb_secagg_stage which);
// True if index is in the set fb_secagg_server_count() counts.
bool fb_secagg_server_in(const struct fb_secagg_server *s,
		enum fb_secagg_stage which, uint32_t index);
// The sum of the users declared in SA_ADVERT over U3 (over U1 before
// close_masked).
uint64_t fb_secagg_server_users(const struct fb_secagg_server *s);

// Reconstructs from the responders' shares the self-mask seed of every
// survivor and the mask key of every dropped party, checks them against
// the advertisements and writes the sum of the survivors' inputs (dim
// int64, the ring element as two's complement of ring_bits; the caller
// checks the
// no-wrap bound of secagg-v1 §2.2) -> DONE. FB_ESTATE (state unchanged)
// outside UNMASK or with fewer than t responders; FB_ECRYPTO (-> FAILED,
// detail names the party) when a reconstruction or a commitment fails (a
// responder sent a wrong share); FB_ENOMEM. sum is written only on
// success.
fb_err fb_secagg_server_finish(struct fb_secagg_server *s, int64_t *sum)
		__attribute__((warn_unused_result));

#endif
