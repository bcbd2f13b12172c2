// include/fedbundle/secagg/msg.h: the bodies of the eight wire messages of
// secure aggregation (protocols/secagg-v1.md §6; types 0x90-0x97 of
// include/fedbundle/net/wire.h), all sealed, header round_id = the round:
//   SA_ADVERT     advertisement (184) || u64 declared users
//   SA_PEERS      u16 count, u16 0, count x advertisement, ascending index
//   SA_SHARES     u16 count, u16 0, count x (u32 receiver, bundle 176)
//   SA_INBOX      u16 count, u16 0, count x (u32 sender, bundle 176)
//   SA_UNMASK_REQ u16 ns, u16 nd, ns x u32 survivors, nd x u32 dropped
//   SA_UNMASK     u16 ns, u16 nd, ns x share (68), nd x share (68)
//   SA_CONSISTENCY the 64-byte signature of the sets (consist.h)
//   SA_SIGNATURES u16 count, u16 0, count x (u32 signer, signature 64)
// Integers big-endian; parties in each list strictly ascending, in
// 1..FB_SA_PARTY_MAX. Encoders write into caller buffers sized by the
// *_len() functions. Decoders never copy: they return views into the
// caller's buffer (which must outlive them), check every length before
// reading, and refuse with FB_EPROTO (detail naming the message, field and
// offset) trailing bytes, non-zero reserved fields, empty or too long
// lists and out-of-order or out-of-range parties. Nothing cryptographic is
// checked here (signatures, bundles and shares are the callers').
// Thread-safety: all functions are reentrant; they touch only their
// arguments.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_MSG_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/shamir.h"
#include "fedbundle/secagg/shares.h"
#include "fedbundle/util/err.h"

// Largest party index and longest list (the PLAN's n, wire.h).
#define FB_SA_PARTY_MAX FB_WIRE_SECAGG_N_MAX
// Bytes of the list header (u16 count or ns, u16 reserved or nd).
#define FB_SA_LIST_HDR_LEN 4
// One entry of SA_SHARES / SA_INBOX: u32 party || sealed bundle.
#define FB_SA_BUNDLE_ENTRY_LEN (4 + FB_SECAGG_SHARES_SEALED_LEN) // 180

// ---- SA_ADVERT (0x90) ----

#define FB_SA_ADVERT_MSG_LEN (FB_SECAGG_ADVERT_LEN + 8) // 192

struct fb_sa_advert_msg {
	const uint8_t *advert; // FB_SECAGG_ADVERT_LEN bytes, not verified
	uint64_t users;        // declared users, >= 1
};

// Writes advert || users (FB_SA_ADVERT_MSG_LEN bytes). FB_EINVAL for
// users 0.
fb_err fb_sa_advert_msg_encode(uint8_t out[FB_SA_ADVERT_MSG_LEN],
		const uint8_t advert[FB_SECAGG_ADVERT_LEN], uint64_t users);

// Refuses a length other than FB_SA_ADVERT_MSG_LEN and users 0.
fb_err fb_sa_advert_msg_decode(struct fb_sa_advert_msg *m, const uint8_t *b,
		size_t len) __attribute__((warn_unused_result));

// ---- lists: SA_PEERS (0x91), SA_SHARES (0x92), SA_INBOX (0x93) ----

// A decoded list: count entries of a fixed size at items.
struct fb_sa_list {
	uint32_t count;
	const uint8_t *items;
};

// The party of entry i of an SA_SHARES / SA_INBOX list.
uint32_t fb_sa_bundles_party(const struct fb_sa_list *l, uint32_t i);
// The sealed bundle (FB_SECAGG_SHARES_SEALED_LEN bytes) of entry i.
const uint8_t *fb_sa_bundles_sealed(const struct fb_sa_list *l, uint32_t i);
// Advertisement i (FB_SECAGG_ADVERT_LEN bytes) of an SA_PEERS list, and
// the index it names (bytes 20..23, not verified).
const uint8_t *fb_sa_peers_advert(const struct fb_sa_list *l, uint32_t i);
uint32_t fb_sa_advert_index(const uint8_t advert[FB_SECAGG_ADVERT_LEN]);

// Body bytes of an SA_PEERS of count advertisements.
size_t fb_sa_peers_len(uint32_t count);
// Writes the SA_PEERS header and returns where the count advertisements
// go (the caller copies them in ascending index). The caller passes
// 1 <= count <= FB_SA_PARTY_MAX (asserted).
uint8_t *fb_sa_peers_init(uint8_t *out, uint32_t count);
// Refuses count 0 or above FB_SA_PARTY_MAX, a wrong length, a non-zero
// reserved field, an index 0, above FB_SA_PARTY_MAX or not ascending.
fb_err fb_sa_peers_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
		__attribute__((warn_unused_result));

// Body bytes of an SA_SHARES or SA_INBOX of count entries.
size_t fb_sa_bundles_len(uint32_t count);
// Writes the header and returns the first entry; entry i is at the result
// + i * FB_SA_BUNDLE_ENTRY_LEN: write it with fb_sa_bundles_put().
// 1 <= count <= FB_SA_PARTY_MAX (asserted).
uint8_t *fb_sa_bundles_init(uint8_t *out, uint32_t count);
// Writes entry i (party, sealed bundle) of a list started by _init.
void fb_sa_bundles_put(uint8_t *first, uint32_t i, uint32_t party,
		const uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN]);
// Refuses as fb_sa_peers_decode() (parties strictly ascending).
fb_err fb_sa_bundles_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
		__attribute__((warn_unused_result));

// ---- SA_UNMASK_REQ (0x94) ----

// Decoded: surv and drop are ns and nd big-endian u32 (use fb_sa_u32()).
struct fb_sa_unmask_req {
	uint32_t ns, nd;
	const uint8_t *surv, *drop;
};

// Element i of a big-endian u32 array view.
uint32_t fb_sa_u32(const uint8_t *arr, uint32_t i);

size_t fb_sa_unmask_req_len(uint32_t ns, uint32_t nd);
// FB_EINVAL unless ns >= 1, ns + nd <= FB_SA_PARTY_MAX, each list
// strictly ascending in 1..FB_SA_PARTY_MAX and no party in both.
fb_err fb_sa_unmask_req_encode(uint8_t *out, const uint32_t *surv, uint32_t ns,
		const uint32_t *drop, uint32_t nd);
// Refuses what the encoder refuses, and a wrong length.
fb_err fb_sa_unmask_req_decode(struct fb_sa_unmask_req *r, const uint8_t *b,
		size_t len) __attribute__((warn_unused_result));
// Copies the decoded lists into host arrays of ns and nd entries (for
// fb_secagg_client_reveal()).
void fb_sa_unmask_req_copy(const struct fb_sa_unmask_req *r, uint32_t *surv,
		uint32_t *drop);

// ---- SA_UNMASK (0x95) ----

// Decoded: ns shares of self-mask seeds, then nd of mask keys, each
// FB_SHAMIR_SHARE_LEN bytes, in the request's order (not checked here).
struct fb_sa_unmask {
	uint32_t ns, nd;
	const uint8_t *self_shares, *mask_shares;
};

size_t fb_sa_unmask_len(uint32_t ns, uint32_t nd);
// Copies ns and nd shares after the header. FB_EINVAL unless ns >= 1 and
// ns + nd <= FB_SA_PARTY_MAX.
fb_err fb_sa_unmask_encode(uint8_t *out, uint32_t ns, uint32_t nd,
		const uint8_t *self_shares, const uint8_t *mask_shares);
// Refuses ns 0, ns + nd above FB_SA_PARTY_MAX and a wrong length.
fb_err fb_sa_unmask_decode(struct fb_sa_unmask *u, const uint8_t *b, size_t len)
		__attribute__((warn_unused_result));

// ---- SA_CONSISTENCY (0x96), SA_SIGNATURES (0x97) ----

#define FB_SA_CONSISTENCY_LEN 64 // FB_SECAGG_CONSIST_SIG_LEN
// One entry of SA_SIGNATURES: u32 signer || signature.
#define FB_SA_SIG_ENTRY_LEN (4 + FB_SA_CONSISTENCY_LEN) // 68

// Refuses a length other than FB_SA_CONSISTENCY_LEN; *sig is a view.
fb_err fb_sa_consistency_decode(const uint8_t **sig, const uint8_t *b,
		size_t len) __attribute__((warn_unused_result));

// Body bytes of an SA_SIGNATURES of count entries.
size_t fb_sa_sigs_len(uint32_t count);
// Writes the header and returns the first entry; write entry i with
// fb_sa_sigs_put(). 1 <= count <= FB_SA_PARTY_MAX (asserted).
uint8_t *fb_sa_sigs_init(uint8_t *out, uint32_t count);
void fb_sa_sigs_put(uint8_t *first, uint32_t i, uint32_t signer,
		const uint8_t sig[FB_SA_CONSISTENCY_LEN]);
// Refuses as fb_sa_peers_decode() (signers strictly ascending, so none
// twice). Entry i: fb_sa_sigs_signer(), fb_sa_sigs_sig().
fb_err fb_sa_sigs_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
		__attribute__((warn_unused_result));
uint32_t fb_sa_sigs_signer(const struct fb_sa_list *l, uint32_t i);
const uint8_t *fb_sa_sigs_sig(const struct fb_sa_list *l, uint32_t i);

#endif
