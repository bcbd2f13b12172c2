// common/secagg/mask.c: ChaCha20 mask expansion and application
// (include/fedbundle/secagg/mask.h, protocols/secagg-v1.md §4.4).
// Masks are applied in blocks of 16 KiB of v: for each block, every
// mask's keystream for that block is generated into an L1-resident buffer
// and added or subtracted, so v crosses the memory bus once and the cost is
// k ChaCha20 keystreams, close to libsodium's ChaCha20 throughput.
// Invariant: the keystream buffer is wiped before return.
#include <sodium.h>
#include <string.h>

#include "fedbundle/secagg/mask.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "secagg masks are little-endian words: big-endian hosts unsupported"
#endif

#define BLOCK_WORDS 2048   // 16 KiB
#define WORDS_PER_CHACHA 8 // a ChaCha20 block is 64 bytes

static const uint8_t zero_nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
static const uint64_t zeros[BLOCK_WORDS];

fb_err
fb_secagg_expand(
		uint64_t *out, size_t n, const uint8_t seed[FB_SECAGG_SEED_LEN])
{
	if ((out == NULL && n > 0) || n > FB_SECAGG_DIM_MAX || seed == NULL) {
		return fb_errorf(FB_EINVAL,
				"secagg expand: %zu words (at most "
				"2^35)",
				n);
	}
	if (n > 0) {
		crypto_stream_chacha20_ietf((unsigned char *)out,
				(unsigned long long)n * 8, zero_nonce, seed);
	}
	return FB_OK;
}

// Keystream words [w, w + len) of seed into ks.
static void
keystream(uint64_t *ks, size_t w, size_t len, const uint8_t *seed)
{
	crypto_stream_chacha20_ietf_xor_ic((unsigned char *)ks,
			(const unsigned char *)zeros,
			(unsigned long long)len * 8, zero_nonce,
			(uint32_t)(w / WORDS_PER_CHACHA), seed);
}

static void
add_words(uint64_t *restrict v, const uint64_t *restrict ks, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		v[i] += ks[i];
	}
}

static void
sub_words(uint64_t *restrict v, const uint64_t *restrict ks, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		v[i] -= ks[i];
	}
}

fb_err
fb_secagg_mask_apply(uint64_t *v, size_t n, const struct fb_secagg_mask *masks,
		size_t k)
{
	if ((v == NULL && n > 0) || n > FB_SECAGG_DIM_MAX ||
			(masks == NULL && k > 0)) {
		return fb_errorf(FB_EINVAL, "secagg mask: %zu words, %zu masks",
				n, k);
	}
	for (size_t j = 0; j < k; j++) {
		if (masks[j].seed == NULL ||
				(masks[j].sign != 1 && masks[j].sign != -1)) {
			return fb_errorf(FB_EINVAL,
					"secagg mask %zu: sign %d or no seed",
					j, masks[j].sign);
		}
	}
	_Alignas(64) uint64_t ks[BLOCK_WORDS];
	for (size_t w = 0; w < n; w += BLOCK_WORDS) {
		size_t len = n - w < BLOCK_WORDS ? n - w : BLOCK_WORDS;
		for (size_t j = 0; j < k; j++) {
			keystream(ks, w, len, masks[j].seed);
			if (masks[j].sign > 0) {
				add_words(v + w, ks, len);
			} else {
				sub_words(v + w, ks, len);
			}
		}
	}
	sodium_memzero(ks, sizeof(ks));
	return FB_OK;
}
