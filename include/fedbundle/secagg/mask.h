// include/fedbundle/secagg/mask.h: masks of secure aggregation: a 32-byte
// seed expanded into ring elements of Z_(2^64) with ChaCha20
// (protocols/secagg-v1.md §4.4), and masks added to or subtracted from a
// vector in one cache-blocked pass.
// Expansion: ChaCha20-IETF (RFC 8439; libsodium crypto_stream_chacha20_ietf)
// with key = seed, nonce = 12 zero bytes, initial block counter 0; word i is
// the little-endian u64 at keystream bytes 8i..8i+7. A seed is used for one
// expansion only (each is derived for one round and one pair, or drawn
// fresh), so the fixed nonce never repeats under a key.
// Thread-safety: stateless; any number of threads on distinct vectors.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_MASK_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

// Longest expansion: 2^32 ChaCha20 blocks of 64 bytes, i.e. 2^35 words.
#define FB_SECAGG_DIM_MAX ((size_t)1 << 35)

// Writes the first n words of seed's expansion into out. FB_EINVAL for n
// above FB_SECAGG_DIM_MAX or out NULL with n > 0.
fb_err fb_secagg_expand(uint64_t *out, size_t n,
		const uint8_t seed[FB_SECAGG_SEED_LEN]);

// One mask to apply: v += expansion of seed (sign +1) or v -= it (-1).
struct fb_secagg_mask {
	const uint8_t *seed; // FB_SECAGG_SEED_LEN bytes
	int sign;            // +1 or -1
};

// Applies masks[0..k) to v[0..n) modulo 2^64, block by block so that v is
// read and written once whatever k is. FB_EINVAL (v untouched) for n above
// FB_SECAGG_DIM_MAX, a sign other than +1/-1 or a NULL seed. The keystream
// buffer is wiped before return.
fb_err fb_secagg_mask_apply(uint64_t *v, size_t n,
		const struct fb_secagg_mask *masks, size_t k);

#endif
