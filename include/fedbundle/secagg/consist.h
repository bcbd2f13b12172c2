// include/fedbundle/secagg/consist.h: the signatures of the consistency
// round of secure aggregation (protocols/secagg-v1.md §3.5). Each survivor
// signs, with its enrolled Ed25519 identity (the key that signs its
// SA_ADVERT), the survivor and dropped sets the aggregator sent it, so that
// the aggregator cannot show different clients different sets: a client
// reveals only after it verified t signatures over exactly its own sets.
// The signed message is
//   "fedbundle/secagg-v1/consistency" || consortium (16) || round (u32 BE)
//   || the SA_UNMASK_REQ body (u16 ns, u16 nd, ns + nd u32 BE parties)
// (the request's canonical encoding, msg.h: decode -> encode is the
// identity, so the bytes are fixed by the sets).
// Thread-safety: reentrant; touches only its arguments.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_CONSIST_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_CONSIST_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

#define FB_SECAGG_LABEL_CONSISTENCY "fedbundle/secagg-v1/consistency"
#define FB_SECAGG_CONSIST_SIG_LEN FB_ID_SIG_LEN // 64

// Signs the sets of the SA_UNMASK_REQ body req (len bytes, as encoded by
// fb_sa_unmask_req_encode) in round ctx with id. Errors of
// fb_identity_sign(); FB_ENOMEM.
fb_err fb_secagg_consist_sign(uint8_t sig[FB_SECAGG_CONSIST_SIG_LEN],
		const struct fb_secagg_ctx *ctx, const uint8_t *req, size_t len,
		const struct fb_identity *id);

// FB_OK if sig is id_pk's signature over req in round ctx, FB_ECRYPTO
// (detail naming signer) otherwise; FB_ENOMEM.
fb_err fb_secagg_consist_verify(const uint8_t sig[FB_SECAGG_CONSIST_SIG_LEN],
		const struct fb_secagg_ctx *ctx, const uint8_t *req, size_t len,
		const uint8_t id_pk[FB_ID_PK_LEN], uint32_t signer)
		__attribute__((warn_unused_result));

#endif
