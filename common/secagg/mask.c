// common/secagg/mask.c: ChaCha20 mask expansion and application
// (include/fedbundle/secagg/mask.h, protocols/secagg-v1.md §4.4), in the
// ring Z_(2^b) of the round, b in {32, 48, 64}: word i of a mask is the
// little-endian b-bit integer at keystream bytes i b/8 .. (i+1) b/8 - 1.
// Masks are applied in blocks of 2048 words of v: for each block, every
// mask's keystream for that block (2048 b/8 bytes, a whole number of
// ChaCha20 blocks) is generated into an L1-resident buffer and added or
// subtracted, so v crosses the memory bus once and the cost is k ChaCha20
// keystreams of b/8 bytes a coordinate, close to libsodium's throughput.
// The adds read a word as 8 bytes and reduce once a block; in Z_(2^48) (the
// ring of fedbundle's grid) they run on AVX2 where the CPU has it.
// Vectors hold one ring element a uint64 word (zero-extended for b < 64).
// Invariant: the keystream buffer is wiped before return.
#include <math.h>
#include <sodium.h>
#include <string.h>

#include "fedbundle/secagg/mask.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "secagg masks are little-endian words: big-endian hosts unsupported"
#endif

#define BLOCK_WORDS 2048 // 16 KiB of 64-bit keystream, 12 KiB of 48-bit
#define CHACHA_BLOCK 64

static const uint8_t zero_nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
static const uint8_t zeros[BLOCK_WORDS * 8];

bool
fb_secagg_ring_ok(uint32_t bits)
{
	return bits == 32 || bits == 48 || bits == 64;
}

static uint64_t
ring_mask(uint32_t bits)
{
	return bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

// Keystream bytes [off, off + len) of seed into ks; off is a multiple of
// the ChaCha20 block.
static void
keystream(uint8_t *ks, size_t off, size_t len, const uint8_t *seed)
{
	crypto_stream_chacha20_ietf_xor_ic(ks, zeros, (unsigned long long)len,
			zero_nonce, (uint32_t)(off / CHACHA_BLOCK), seed);
}

// The adds below read each b-bit word as the 8 bytes at i b/8 (the top
// 64 - b bits are the next word's): the low b bits of a sum depend only on
// the low b bits of its terms, so v is reduced once per block instead.
static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

// v[i] += or -= the b-bit words of ks, portable C (any len).
static void
addsub_c(uint64_t *restrict v, const uint8_t *restrict ks, size_t len,
		size_t wb, bool add)
{
	if (wb == 4) {
		for (size_t i = 0; i < len; i++) {
			uint32_t w;
			memcpy(&w, ks + i * 4, sizeof(w));
			v[i] = add ? v[i] + w : v[i] - w;
		}
		return;
	}
	for (size_t i = 0; i < len; i++) {
		uint64_t w = load64(ks + i * wb);
		v[i] = add ? v[i] + w : v[i] - w;
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1

// The 48-bit words with AVX2, 4 a step: bytes 0-11 and 12-23 of the step's
// 24 into the two 128-bit lanes, each lane's two 6-byte words spread to
// 8-byte ones by a byte shuffle (reads 4 bytes past the last word: the
// keystream buffer has 8 spare). The tail in C.
__attribute__((target("avx2"))) static void
addsub48_avx2(uint64_t *restrict v, const uint8_t *restrict ks, size_t len,
		bool add)
{
	const __m256i spread = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, -1, -1, 6, 7,
			8, 9, 10, 11, -1, -1, 0, 1, 2, 3, 4, 5, -1, -1, 6, 7, 8,
			9, 10, 11, -1, -1);
	size_t i = 0;
	for (; i + 4 <= len; i += 4) {
		const uint8_t *p = ks + i * 6;
		__m256i b = _mm256_inserti128_si256(
				_mm256_castsi128_si256(_mm_loadu_si128(
						(const __m128i *)(const void *)
								p)),
				_mm_loadu_si128((const __m128i *)(const void
								*)(p + 12)),
				1);
		__m256i w = _mm256_shuffle_epi8(b, spread);
		__m256i *q = (__m256i *)(void *)(v + i);
		__m256i x = _mm256_loadu_si256(q);
		_mm256_storeu_si256(q,
				add ? _mm256_add_epi64(x, w)
				    : _mm256_sub_epi64(x, w));
	}
	addsub_c(v + i, ks + i * 6, len - i, 6, add);
}

#endif

// v[i] += (add) or -= the b-bit words of ks, i < len, v left unreduced.
// avx2: the CPU has it (asked once per call, __builtin_cpu_supports).
static void
addsub_words(uint64_t *restrict v, const uint8_t *restrict ks, size_t len,
		uint32_t bits, bool add, bool avx2)
{
#ifdef HAVE_AVX2_PATH
	if (bits == 48 && avx2) {
		addsub48_avx2(v, ks, len, add);
		return;
	}
#endif
	(void)avx2;
	addsub_c(v, ks, len, bits / 8, add);
}

fb_err
fb_secagg_expand_ring(uint64_t *out, size_t n, uint32_t bits,
		const uint8_t seed[FB_SECAGG_SEED_LEN])
{
	if ((out == NULL && n > 0) || n > FB_SECAGG_DIM_MAX || seed == NULL ||
			!fb_secagg_ring_ok(bits)) {
		return fb_errorf(FB_EINVAL,
				"secagg expand: %zu words of %u bits (at most "
				"2^35 words of 32, 48 or 64 bits)",
				n, bits);
	}
	if (bits == 64) {
		if (n > 0) {
			crypto_stream_chacha20_ietf((unsigned char *)out,
					(unsigned long long)n * 8, zero_nonce,
					seed);
		}
		return FB_OK;
	}
	struct fb_secagg_mask m = {seed, 1};
	return fb_secagg_mask_sum_ring(out, n, bits, &m, 1);
}

fb_err
fb_secagg_expand(
		uint64_t *out, size_t n, const uint8_t seed[FB_SECAGG_SEED_LEN])
{
	return fb_secagg_expand_ring(out, n, 64, seed);
}

static fb_err
check_masks(size_t n, uint32_t bits, const struct fb_secagg_mask *masks,
		size_t k)
{
	if (n > FB_SECAGG_DIM_MAX || (masks == NULL && k > 0) ||
			!fb_secagg_ring_ok(bits)) {
		return fb_errorf(FB_EINVAL,
				"secagg mask: %zu words of %u bits, %zu masks",
				n, bits, k);
	}
	for (size_t j = 0; j < k; j++) {
		if (masks[j].seed == NULL ||
				(masks[j].sign != 1 && masks[j].sign != -1)) {
			return fb_errorf(FB_EINVAL,
					"secagg mask %zu: sign %d or no seed",
					j, masks[j].sign);
		}
	}
	return FB_OK;
}

// v[0..n) += the masks (set: v = the masks, v not read), reduced in
// Z_(2^bits), block by block; arguments checked.
static void
apply_blocks(uint64_t *v, size_t n, uint32_t bits,
		const struct fb_secagg_mask *masks, size_t k, bool set)
{
	size_t wb = bits / 8;
	uint64_t m = ring_mask(bits);
	bool avx2 = false;
#ifdef HAVE_AVX2_PATH
	avx2 = __builtin_cpu_supports("avx2");
#endif
	// 8 spare bytes: the adds read 8 bytes at the last b/8-byte word.
	_Alignas(64) uint8_t ks[BLOCK_WORDS * 8 + 8];
	for (size_t w = 0; w < n; w += BLOCK_WORDS) {
		size_t len = n - w < BLOCK_WORDS ? n - w : BLOCK_WORDS;
		if (set) {
			memset(v + w, 0, len * sizeof(*v)); // in L1: no pass
		}
		for (size_t j = 0; j < k; j++) {
			keystream(ks, w * wb, len * wb, masks[j].seed);
			addsub_words(v + w, ks, len, bits, masks[j].sign > 0,
					avx2);
		}
		for (size_t i = 0; bits < 64 && i < len; i++) {
			v[w + i] &= m;
		}
	}
	sodium_memzero(ks, sizeof(ks));
}

fb_err
fb_secagg_mask_apply_ring(uint64_t *v, size_t n, uint32_t bits,
		const struct fb_secagg_mask *masks, size_t k)
{
	if (v == NULL && n > 0) {
		return fb_errorf(FB_EINVAL, "secagg mask: no vector");
	}
	fb_err err = check_masks(n, bits, masks, k);
	if (err == FB_OK) {
		apply_blocks(v, n, bits, masks, k, false);
	}
	return err;
}

fb_err
fb_secagg_mask_sum_ring(uint64_t *out, size_t n, uint32_t bits,
		const struct fb_secagg_mask *masks, size_t k)
{
	if (out == NULL && n > 0) {
		return fb_errorf(FB_EINVAL, "secagg mask sum: no vector");
	}
	fb_err err = check_masks(n, bits, masks, k);
	if (err == FB_OK) {
		apply_blocks(out, n, bits, masks, k, true);
	}
	return err;
}

fb_err
fb_secagg_mask_apply(uint64_t *v, size_t n, const struct fb_secagg_mask *masks,
		size_t k)
{
	return fb_secagg_mask_apply_ring(v, n, 64, masks, k);
}

void
fb_secagg_ring_pack(void *out, const uint64_t *v, size_t n, uint32_t bits)
{
	uint8_t *o = out;
	size_t wb = bits / 8;
	if (wb == 8) {
		memmove(o, v, n * 8);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t x = v[i];
		memcpy(o + i * wb, &x, wb); // the low b/8 bytes: little-endian
	}
}

void
fb_secagg_ring_add_packed(
		uint64_t *acc, const void *in, size_t n, uint32_t bits)
{
	const uint8_t *p = in;
	size_t wb = bits / 8;
	uint64_t m = ring_mask(bits);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = 0;
		memcpy(&x, p + i * wb, wb);
		acc[i] = (acc[i] + x) & m;
	}
}

int64_t
fb_secagg_ring_signed(uint64_t x, uint32_t bits)
{
	if (bits == 64) {
		return (int64_t)x;
	}
	uint64_t m = ring_mask(bits), top = UINT64_C(1) << (bits - 1);
	x &= m;
	// (x ^ top) - top sign-extends bit b - 1 without overflow.
	return (int64_t)((x ^ top) - top);
}

bool
fb_secagg_ring_fits(uint32_t bits, uint64_t users, uint32_t n, uint32_t h,
		double sigma, double clip, int32_t grid_log2)
{
	if (!fb_secagg_ring_ok(bits) || h < 1) {
		return false;
	}
	double g = ldexp(1.0, grid_log2);
	double noise = sigma * clip / g * sqrt((double)n / (double)h);
	return (double)users * floor(clip / g) + 40.0 * noise <
			ldexp(1.0, (int)bits - 1);
}

uint32_t
fb_secagg_ring_choose(uint64_t users, uint32_t n, uint32_t h, double sigma,
		double clip, int32_t grid_log2)
{
	static const uint32_t rings[3] = {32, 48, 64};
	for (int k = 0; k < 3; k++) {
		if (fb_secagg_ring_fits(rings[k], users, n, h, sigma, clip,
				    grid_log2)) {
			return rings[k];
		}
	}
	return 0;
}

uint32_t
fb_secagg_ring_plan(uint64_t users_hint, uint32_t n, uint32_t h, double sigma,
		double clip, int32_t grid_log2)
{
	// A consortium's declarations change little from round to round.
	uint64_t users = users_hint > n ? users_hint : n;
	uint32_t bits = fb_secagg_ring_choose(
			users, n, h, sigma, clip, grid_log2);
	if (bits == 0) {
		bits = fb_secagg_ring_choose(n, n, h, sigma, clip, grid_log2);
	}
	return bits;
}
