// tests/unit/test-secagg-mask.c: mask expansion and key derivation of
// secure aggregation (common/secagg/mask.c, kx.c). Known answers:
// - the expansion of the all-zero seed is the ChaCha20 keystream of
//   RFC 8439 Appendix A.1 test vectors #1 (block 0) and #2 (block 1), an
//   independent check of the word order and the nonce/counter convention;
// - the expansion of seed 00 01 .. 1f and the KDF outputs for fixed keys
//   are golden values computed once by this code and reproduced
//   independently with Python's `cryptography` (ChaCha20, X25519) and
//   hashlib.blake2b (protocols/secagg-v1.md §8 lists them and the script):
//   they pin the labels and the byte order of every KDF input.
// And the blocked multi-mask pass equals expansions added one by one; the
// narrow rings' words equal libsodium's keystream bytes at every length
// class of the vector path.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/kx.h"
#include "fedbundle/secagg/mask.h"
#include "harness.h"

static void
seq_bytes(uint8_t *b, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++) {
		b[i] = (uint8_t)(start + i);
	}
}

static void
hex(char *out, const uint8_t *b, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

TEST(rfc8439_keystream)
{
	uint8_t seed[32] = {0};
	uint64_t w[16];
	CHECK_OK(fb_secagg_expand(w, 16, seed));
	// A.1 #1: 76 b8 e0 ad a0 f1 3d 90 ...; #2 (counter 1): 9f 07 e7 be
	// 55 51 38 7a ...; words are little-endian.
	CHECK(w[0] == UINT64_C(0x903df1a0ade0b876));
	CHECK(w[8] == UINT64_C(0x7a385155bee7079f));
}

TEST(expansion_golden)
{
	uint8_t seed[32];
	seq_bytes(seed, 32, 0);
	uint64_t w[4];
	CHECK_OK(fb_secagg_expand(w, 4, seed));
	CHECK(w[0] == UINT64_C(0x6a19c5d97d2bfd39));
	CHECK(w[1] == UINT64_C(0x494adcb87703bd8d));
	CHECK(w[2] == UINT64_C(0xcc6adebc6fd8358a));
	CHECK(w[3] == UINT64_C(0x9224ead84c7dccb2));
}

// The narrower rings (§4.4): word i is the little-endian b-bit integer at
// keystream bytes i b/8 ..; from the same keystream as expansion_golden
// (bytes 39 fd 2b 7d d9 c5 19 6a 8d bd 03 77 b8 dc 4a 49 8a 35 ..).
TEST(expansion_golden_narrow)
{
	uint8_t seed[32];
	seq_bytes(seed, 32, 0);
	uint64_t w[3];
	CHECK_OK(fb_secagg_expand_ring(w, 3, 48, seed));
	CHECK(w[0] == UINT64_C(0xc5d97d2bfd39));
	CHECK(w[1] == UINT64_C(0x7703bd8d6a19));
	CHECK(w[2] == UINT64_C(0x358a494adcb8));
	CHECK_OK(fb_secagg_expand_ring(w, 3, 32, seed));
	CHECK(w[0] == 0x7d2bfd39 && w[1] == 0x6a19c5d9 && w[2] == 0x7703bd8d);
	CHECK_ERR(fb_secagg_expand_ring(w, 3, 40, seed), FB_EINVAL);
	// Packing and signed reading.
	uint8_t p[6 * 3];
	uint64_t v[3] = {UINT64_C(0xc5d97d2bfd39), 1, UINT64_C(0xffffffffffff)};
	fb_secagg_ring_pack(p, v, 3, 48);
	CHECK(p[0] == 0x39 && p[5] == 0xc5 && p[6] == 1 && p[12] == 0xff);
	uint64_t acc[3] = {0, 0, 2};
	fb_secagg_ring_add_packed(acc, p, 3, 48);
	CHECK(acc[0] == v[0] && acc[1] == 1 && acc[2] == 1); // wraps
	CHECK(fb_secagg_ring_signed(UINT64_C(0xffffffffffff), 48) == -1);
	CHECK(fb_secagg_ring_signed(UINT64_C(0x7fffffffffff), 48) ==
			INT64_C(0x7fffffffffff));
	CHECK(fb_secagg_ring_signed(UINT64_C(0x800000000000), 48) ==
			-INT64_C(0x800000000000));
	CHECK(fb_secagg_ring_signed(0x80000000u, 32) == -INT64_C(0x80000000));
}

// Consortium a0..af, round 7, parties 3 (sk 01..20) and 5 (sk 02..21).
TEST(kdf_golden)
{
	struct fb_secagg_ctx ctx = {.round = 7};
	seq_bytes(ctx.consortium, 16, 0xa0);
	struct fb_secagg_keypair a, b;
	seq_bytes(a.sk, 32, 1);
	seq_bytes(b.sk, 32, 2);
	CHECK_OK(fb_secagg_keypair_from_sk(&a));
	CHECK_OK(fb_secagg_keypair_from_sk(&b));
	uint8_t s1[32], s2[32], k1[32], k2[32], k3[32];
	char h[65];
	hex(h, a.pk, 32);
	CHECK(strcmp(h,
			      "07a37cbc142093c8b755dc1b10e86cb4"
			      "26374ad16aa853ed0bdfc0b2b86d1c7c") == 0);
	hex(h, b.pk, 32);
	CHECK(strcmp(h,
			      "ab9f2628c325c141e9fb2430f106850f"
			      "62930bc3f0b12df39a9b84a49c7c1d12") == 0);
	CHECK_OK(fb_secagg_pair_seed(s1, &ctx, 3, &a, 5, b.pk));
	CHECK_OK(fb_secagg_pair_seed(s2, &ctx, 5, &b, 3, a.pk));
	CHECK(memcmp(s1, s2, 32) == 0);
	hex(h, s1, 32);
	CHECK(strcmp(h,
			      "50bb5afd8b675047c10dadeafe09643f"
			      "78c0fa629c73b9019c44cd0ce5ff86a5") == 0);
	CHECK_OK(fb_secagg_share_key(k1, &ctx, 3, &a, 5, b.pk, 1));
	CHECK_OK(fb_secagg_share_key(k2, &ctx, 5, &b, 3, a.pk, 0));
	CHECK(memcmp(k1, k2, 32) == 0);
	hex(h, k1, 32);
	CHECK(strcmp(h,
			      "e786d6ea775093af9e2d9317aef8725a"
			      "3e3882d6483255cc2ef04f1b0246c42e") == 0);
	CHECK_OK(fb_secagg_share_key(k3, &ctx, 5, &b, 3, a.pk, 1));
	CHECK(memcmp(k1, k3, 32) != 0); // each direction its own key
}

// Another round, another pair or another consortium gives another seed.
TEST(kdf_domain_separation)
{
	struct fb_secagg_ctx ctx = {.round = 7}, other;
	struct fb_secagg_keypair a, b;
	CHECK_OK(fb_secagg_keypair_generate(&a));
	CHECK_OK(fb_secagg_keypair_generate(&b));
	uint8_t s[32], t[32];
	CHECK_OK(fb_secagg_pair_seed(s, &ctx, 1, &a, 2, b.pk));
	other = ctx;
	other.round = 8;
	CHECK_OK(fb_secagg_pair_seed(t, &other, 1, &a, 2, b.pk));
	CHECK(memcmp(s, t, 32) != 0);
	other = ctx;
	other.consortium[15] = 1;
	CHECK_OK(fb_secagg_pair_seed(t, &other, 1, &a, 2, b.pk));
	CHECK(memcmp(s, t, 32) != 0);
	CHECK_OK(fb_secagg_pair_seed(t, &ctx, 1, &a, 3, b.pk));
	CHECK(memcmp(s, t, 32) != 0);
	CHECK_OK(fb_secagg_share_key(t, &ctx, 1, &a, 2, b.pk, 1));
	CHECK(memcmp(s, t, 32) != 0); // labels separate the two KDFs
	CHECK_ERR(fb_secagg_pair_seed(t, &ctx, 2, &a, 2, b.pk), FB_EINVAL);
	CHECK_ERR(fb_secagg_pair_seed(t, &ctx, 0, &a, 2, b.pk), FB_EINVAL);
	uint8_t low_order[32] = {0}; // the identity point
	CHECK_ERR(fb_secagg_pair_seed(t, &ctx, 1, &a, 2, low_order),
			FB_ECRYPTO);
}

// The blocked pass of several masks equals expanding and adding or
// subtracting each, at lengths around the 2048-word block.
TEST(apply_matches_expansion)
{
	size_t lens[] = {0, 1, 7, 8, 2047, 2048, 2049, 10000};
	uint8_t seeds[3][32];
	for (int j = 0; j < 3; j++) {
		randombytes_buf(seeds[j], 32);
	}
	struct fb_secagg_mask m[3] = {
			{seeds[0], 1}, {seeds[1], -1}, {seeds[2], 1}};
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t n = lens[l];
		uint64_t *v = malloc((n + 1) * 8), *want = malloc((n + 1) * 8);
		uint64_t *e = malloc((n + 1) * 8);
		CHECK(v != NULL && want != NULL && e != NULL);
		for (size_t i = 0; i < n; i++) {
			v[i] = want[i] = (uint64_t)i * 0x9e3779b97f4a7c15u;
		}
		for (int j = 0; j < 3; j++) {
			CHECK_OK(fb_secagg_expand(e, n, seeds[j]));
			for (size_t i = 0; i < n; i++) {
				want[i] += m[j].sign > 0 ? e[i] : -e[i];
			}
		}
		CHECK_OK(fb_secagg_mask_apply(v, n, m, 3));
		CHECK(n == 0 || memcmp(v, want, n * 8) == 0);
		// +mask then -mask is the identity.
		struct fb_secagg_mask inv[3] = {
				{seeds[0], -1}, {seeds[1], 1}, {seeds[2], -1}};
		CHECK_OK(fb_secagg_mask_apply(v, n, inv, 3));
		for (size_t i = 0; i < n; i++) {
			CHECK(v[i] == (uint64_t)i * 0x9e3779b97f4a7c15u);
		}
		free(v);
		free(want);
		free(e);
	}
}

// The same in Z_(2^48) and Z_(2^32): the blocked pass reads the keystream
// at b/8 bytes a word across block boundaries and leaves v reduced.
TEST(apply_matches_expansion_narrow)
{
	const uint32_t rings[2] = {48, 32};
	size_t lens[] = {1, 7, 2047, 2048, 2049, 10000};
	uint8_t seeds[2][32];
	randombytes_buf(seeds, sizeof(seeds));
	struct fb_secagg_mask m[2] = {{seeds[0], 1}, {seeds[1], -1}};
	for (int b = 0; b < 2; b++) {
		uint64_t mod = (UINT64_C(1) << rings[b]) - 1;
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t n = lens[l];
			uint64_t *v = malloc(n * 8), *want = malloc(n * 8);
			uint64_t *e = malloc(n * 8);
			CHECK(v != NULL && want != NULL && e != NULL);
			for (size_t i = 0; i < n; i++) {
				v[i] = want[i] = (uint64_t)i *
						0x9e3779b97f4a7c15u;
			}
			for (int j = 0; j < 2; j++) {
				CHECK_OK(fb_secagg_expand_ring(
						e, n, rings[b], seeds[j]));
				for (size_t i = 0; i < n; i++) {
					CHECK(e[i] <= mod);
					want[i] += m[j].sign > 0 ? e[i] : -e[i];
				}
			}
			CHECK_OK(fb_secagg_mask_apply_ring(
					v, n, rings[b], m, 2));
			bool same = true;
			for (size_t i = 0; i < n; i++) {
				same = same && v[i] == (want[i] & mod);
			}
			CHECK(same);
			free(v);
			free(want);
			free(e);
		}
	}
}

// Word i of a narrow expansion is keystream bytes i b/8 .. (i+1) b/8 - 1,
// checked against libsodium's keystream itself at lengths that take the
// vector path (4 words a step), its tail, and block boundaries.
TEST(expansion_narrow_is_keystream)
{
	const uint32_t rings[2] = {48, 32};
	size_t lens[] = {4, 5, 8, 2047, 2048, 2051, 4099};
	uint8_t seed[32];
	randombytes_buf(seed, sizeof(seed));
	uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
	size_t max = 4099;
	uint8_t *ks = malloc(max * 8);
	uint64_t *w = malloc(max * 8);
	CHECK(ks != NULL && w != NULL);
	CHECK(crypto_stream_chacha20_ietf(ks, max * 8, nonce, seed) == 0);
	for (int b = 0; b < 2; b++) {
		size_t wb = rings[b] / 8;
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			CHECK_OK(fb_secagg_expand_ring(
					w, lens[l], rings[b], seed));
			bool same = true;
			for (size_t i = 0; i < lens[l]; i++) {
				uint64_t x = 0;
				memcpy(&x, ks + i * wb, wb);
				same = same && w[i] == x;
			}
			CHECK(same);
		}
	}
	free(ks);
	free(w);
}

// The sum of masks writes its output without reading it: the same as
// applying the masks to zeros, whatever the buffer held.
TEST(sum_matches_apply)
{
	const uint32_t rings[3] = {48, 32, 64};
	size_t n = 5000;
	uint8_t seeds[3][32];
	randombytes_buf(seeds, sizeof(seeds));
	struct fb_secagg_mask m[3] = {
			{seeds[0], 1}, {seeds[1], -1}, {seeds[2], -1}};
	uint64_t *s = malloc(n * 8), *a = calloc(n, 8);
	CHECK(s != NULL && a != NULL);
	for (int b = 0; b < 3; b++) {
		memset(s, 0xa5, n * 8);
		memset(a, 0, n * 8);
		CHECK_OK(fb_secagg_mask_sum_ring(s, n, rings[b], m, 3));
		CHECK_OK(fb_secagg_mask_apply_ring(a, n, rings[b], m, 3));
		CHECK(memcmp(s, a, n * 8) == 0);
	}
	CHECK_ERR(fb_secagg_mask_sum_ring(NULL, 1, 48, m, 3), FB_EINVAL);
	free(s);
	free(a);
}

TEST(apply_refuses_bad_masks)
{
	uint8_t seed[32] = {0};
	uint64_t v[4] = {1, 2, 3, 4};
	struct fb_secagg_mask bad[2] = {{seed, 1}, {seed, 2}};
	CHECK_ERR(fb_secagg_mask_apply(v, 4, bad, 2), FB_EINVAL);
	CHECK(v[0] == 1 && v[3] == 4); // untouched
	struct fb_secagg_mask none = {NULL, 1};
	CHECK_ERR(fb_secagg_mask_apply(v, 4, &none, 1), FB_EINVAL);
	CHECK_ERR(fb_secagg_expand(v, FB_SECAGG_DIM_MAX + 1, seed), FB_EINVAL);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	RUN(rfc8439_keystream);
	RUN(expansion_golden);
	RUN(expansion_golden_narrow);
	RUN(kdf_golden);
	RUN(kdf_domain_separation);
	RUN(apply_matches_expansion);
	RUN(apply_matches_expansion_narrow);
	RUN(expansion_narrow_is_keystream);
	RUN(sum_matches_apply);
	RUN(apply_refuses_bad_masks);
	return harness_done();
}
