// include/fedbundle/secagg/mask.h: masks of secure aggregation: a 32-byte
// seed expanded into ring elements of Z_(2^b), b in {32, 48, 64} the
// round's ring width (protocols/secagg-v1.md §2.2, §4.4), masks added to
// or subtracted from a vector in one cache-blocked pass, and the packing
// of ring elements as b/8-byte little-endian words (§6 dtypes u64, u48,
// u32).
// Expansion: ChaCha20-IETF (RFC 8439; libsodium crypto_stream_chacha20_ietf)
// with key = seed, nonce = 12 zero bytes, initial block counter 0; word i is
// the little-endian b-bit integer at keystream bytes i b/8 .. (i+1) b/8 - 1
// (b = 64: the u64 at 8i..8i+7). A seed is used for one expansion only
// (each is derived for one round and one pair, or drawn fresh), so the
// fixed nonce never repeats under a key. In memory a ring element is a
// uint64 word, zero-extended below 2^b.
// Thread-safety: stateless; any number of threads on distinct vectors.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_MASK_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_MASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

// Longest expansion: 2^32 ChaCha20 blocks of 64 bytes, i.e. 2^35 words.
#define FB_SECAGG_DIM_MAX ((size_t)1 << 35)

// True for a ring width secagg-v1 §2.2 allows: 32, 48 or 64 bits.
bool fb_secagg_ring_ok(uint32_t bits);

// secagg-v1 §2.2, the no-wrap bound in Z_(2^bits): true if users users'
// clipped contributions (each at most B = floor(clip / 2^grid_log2) grid
// steps) plus the noise of n shares calibrated for h honest ones (std
// sigma clip / 2^grid_log2 sqrt(n / h) steps, taken at 40 std) stay
// below 2^(bits - 1): N B + 40 s sqrt(n/h) < 2^(bits-1). False for bits
// not allowed or h of 0.
bool fb_secagg_ring_fits(uint32_t bits, uint64_t users, uint32_t n, uint32_t h,
		double sigma, double clip, int32_t grid_log2);

// The narrowest allowed ring (32, 48 then 64 bits) that
// fb_secagg_ring_fits(); 0 if none does.
uint32_t fb_secagg_ring_choose(uint64_t users, uint32_t n, uint32_t h,
		double sigma, double clip, int32_t grid_log2);

// The aggregator's ring for a round of n parties with h honest noise
// shares (secagg-v1 §2.2; the PLAN's TLV 0x801e): the narrowest
// (fb_secagg_ring_choose) for max(users_hint, n) users, users_hint the
// users the parties declared in the last round that closed its
// advertisements (0: none yet); if none fits them, the narrowest for n
// users (one a party: the round then fails at the advertisements if the
// declared users do not fit); 0 if none fits even n. A pure function of
// public figures: the server plans with it, and the sensitivity audit
// (tools/audit-secure.c) runs its rounds in the ring it gives.
uint32_t fb_secagg_ring_plan(uint64_t users_hint, uint32_t n, uint32_t h,
		double sigma, double clip, int32_t grid_log2);

// Writes the first n words of seed's expansion in Z_(2^bits) into out.
// FB_EINVAL for n above FB_SECAGG_DIM_MAX, out NULL with n > 0 or bits
// not allowed.
fb_err fb_secagg_expand_ring(uint64_t *out, size_t n, uint32_t bits,
		const uint8_t seed[FB_SECAGG_SEED_LEN]);

// fb_secagg_expand_ring() in Z_(2^64).
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

// As fb_secagg_mask_apply() in Z_(2^bits): the words of v may be any
// uint64 (they are read modulo 2^bits) and are left reduced, in
// [0, 2^bits). FB_EINVAL (v untouched) also for bits not allowed.
fb_err fb_secagg_mask_apply_ring(uint64_t *v, size_t n, uint32_t bits,
		const struct fb_secagg_mask *masks, size_t k);

// out[0..n) = the sum of masks[0..k) (each +1 or -1 times its expansion)
// in Z_(2^bits), reduced; out is written only, block by block (no pass to
// zero it first). Errors as fb_secagg_mask_apply_ring() (out untouched).
fb_err fb_secagg_mask_sum_ring(uint64_t *out, size_t n, uint32_t bits,
		const struct fb_secagg_mask *masks, size_t k);

// Packs v[0..n) (each read modulo 2^bits) into n * bits/8 bytes at out,
// each element little-endian (bits allowed: a caller bug otherwise). out
// may be (void *)v: packed in place.
void fb_secagg_ring_pack(void *out, const uint64_t *v, size_t n, uint32_t bits);

// acc[i] = (acc[i] + element i of the packed in) mod 2^bits, i < n; in
// has n * bits/8 bytes, any alignment (the view of an UPDATE tensor).
void fb_secagg_ring_add_packed(
		uint64_t *acc, const void *in, size_t n, uint32_t bits);

// The ring element x of Z_(2^bits) read as a signed integer in
// [-2^(bits-1), 2^(bits-1)) (two's complement of width bits).
int64_t fb_secagg_ring_signed(uint64_t x, uint32_t bits);

#endif
