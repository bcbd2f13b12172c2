// include/fedbundle/secagg/shares.h: end-to-end sealing of the two Shamir
// shares a sender gives one receiver in a round of secure aggregation
// (protocols/secagg-v1.md §3.2): its share of its self-mask seed and its
// share of its mask secret key. The aggregator routes the sealed bytes and
// cannot read or alter them.
// Sealed layout (FB_SECAGG_SHARES_SEALED_LEN bytes):
//   nonce (24, random) || ciphertext (2 * FB_SHAMIR_SHARE_LEN) || tag (16)
// Construction: XChaCha20-Poly1305-IETF, key from fb_secagg_share_key()
// (sender first), associated data FB_SECAGG_LABEL_SHARES || consortium ||
// round u32 BE || sender u32 BE || receiver u32 BE, so a sealed bundle
// opens only for that round, that sender and that receiver.
// Thread-safety: stateless; any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_SHARES_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_SHARES_H

#include <stdint.h>

#include "fedbundle/secagg/kx.h"
#include "fedbundle/secagg/shamir.h"
#include "fedbundle/util/err.h"

#define FB_SECAGG_SHARES_PLAIN_LEN (2 * FB_SHAMIR_SHARE_LEN)
#define FB_SECAGG_SHARES_SEALED_LEN (24 + FB_SECAGG_SHARES_PLAIN_LEN + 16)
#define FB_SECAGG_LABEL_SHARES "fedbundle/secagg-v1/shares"

// Seals self_share || mask_share for receiver. Both shares must carry the
// receiver's index (FB_EINVAL otherwise). The nonce is drawn from
// randombytes_buf.
fb_err fb_secagg_shares_seal(uint8_t out[FB_SECAGG_SHARES_SEALED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t sender,
		uint32_t receiver, const uint8_t key[FB_SECAGG_KEY_LEN],
		const uint8_t self_share[FB_SHAMIR_SHARE_LEN],
		const uint8_t mask_share[FB_SHAMIR_SHARE_LEN]);

// Opens a sealed bundle; writes the two shares only on success.
// FB_ECRYPTO if it does not authenticate (wrong key, round, sender or
// receiver, or altered); FB_EPROTO if a share is malformed or does not
// carry the receiver's index (a sender that lies about its shares is named
// in the detail).
fb_err fb_secagg_shares_open(uint8_t self_share[FB_SHAMIR_SHARE_LEN],
		uint8_t mask_share[FB_SHAMIR_SHARE_LEN],
		const uint8_t in[FB_SECAGG_SHARES_SEALED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t sender,
		uint32_t receiver, const uint8_t key[FB_SECAGG_KEY_LEN])
		__attribute__((warn_unused_result));

#endif
