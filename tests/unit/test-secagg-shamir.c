// tests/unit/test-secagg-shamir.c: Shamir sharing of secure aggregation
// (common/secagg/shamir.c): round trips for every threshold subset of a
// small committee and one of 1000 parties, and the refusals (fewer than t
// shares, index 0, repeated index, non-canonical element, inconsistent
// shares, bad parameters).
#include <sodium.h>

#include "fedbundle/secagg/shamir.h"
#include "harness.h"

#define SH FB_SHAMIR_SHARE_LEN

static void
random_secret(uint8_t s[FB_SHAMIR_SECRET_LEN])
{
	randombytes_buf(s, FB_SHAMIR_SECRET_LEN);
}

// Every t-subset of n = 6 shares (bitmask enumeration) reconstructs.
TEST(every_subset_reconstructs)
{
	uint8_t secret[32], got[32], shares[6 * SH], pick[6 * SH];
	for (uint32_t t = 1; t <= 6; t++) {
		random_secret(secret);
		CHECK_OK(fb_shamir_split(shares, secret, t, 6));
		for (unsigned m = 1; m < 64; m++) {
			size_t k = 0;
			for (unsigned i = 0; i < 6; i++) {
				if (m & (1u << i)) {
					memcpy(pick + k++ * SH, shares + i * SH,
							SH);
				}
			}
			if (k < t) {
				CHECK_ERR(fb_shamir_combine(got, pick, k, t),
						FB_EPROTO);
				continue;
			}
			memset(got, 0, sizeof(got));
			CHECK_OK(fb_shamir_combine(got, pick, k, t));
			CHECK(memcmp(got, secret, 32) == 0);
		}
	}
}

// All-0xff and all-zero secrets (the halves' extremes) round trip, and
// the share indices are 1..n in order.
TEST(extreme_secrets_and_indices)
{
	uint8_t secret[32], got[32], shares[4 * SH];
	for (int v = 0; v < 2; v++) {
		memset(secret, v ? 0xff : 0, sizeof(secret));
		CHECK_OK(fb_shamir_split(shares, secret, 3, 4));
		for (uint32_t i = 0; i < 4; i++) {
			CHECK(fb_shamir_share_index(shares + i * SH) == i + 1);
			CHECK_OK(fb_shamir_share_check(shares + i * SH));
		}
		CHECK_OK(fb_shamir_combine(got, shares + SH, 3, 3));
		CHECK(memcmp(got, secret, 32) == 0);
	}
}

// n = 1000, t = 501: not a bytewise GF(2^8) scheme; the last 501 shares,
// and the coefficients computed once for many secrets.
TEST(thousand_parties)
{
	enum { N = 1000, T = 501 };
	uint8_t secret[32], got[32];
	uint8_t *shares = malloc((size_t)N * SH);
	uint8_t *lambda = malloc((size_t)T * FB_SHAMIR_SCALAR_LEN);
	uint32_t *idx = malloc(T * sizeof(*idx));
	CHECK(shares != NULL && lambda != NULL && idx != NULL);
	random_secret(secret);
	CHECK_OK(fb_shamir_split(shares, secret, T, N));
	const uint8_t *last = shares + (size_t)(N - T) * SH;
	for (uint32_t i = 0; i < T; i++) {
		idx[i] = fb_shamir_share_index(last + (size_t)i * SH);
	}
	CHECK_OK(fb_shamir_lagrange(lambda, idx, T));
	CHECK_OK(fb_shamir_combine_with(got, last, T, lambda));
	CHECK(memcmp(got, secret, 32) == 0);
	CHECK_ERR(fb_shamir_combine(got, last + SH, T - 1, T), FB_EPROTO);
	free(shares);
	free(lambda);
	free(idx);
}

TEST(refuses_bad_shares)
{
	uint8_t secret[32], got[32], shares[5 * SH], bad[5 * SH];
	random_secret(secret);
	CHECK_OK(fb_shamir_split(shares, secret, 3, 5));

	// A repeated index.
	memcpy(bad, shares, 3 * SH);
	memcpy(bad + 2 * SH, shares, SH);
	CHECK_ERR(fb_shamir_combine(got, bad, 3, 3), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "repeats index 1");

	// Index 0 and an index above the maximum.
	memcpy(bad, shares, 3 * SH);
	memset(bad + SH, 0, 4);
	CHECK_ERR(fb_shamir_combine(got, bad, 3, 3), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "index 0");
	memcpy(bad, shares, 3 * SH);
	bad[SH] = 0x01; // index 2^24 + 2
	CHECK_ERR(fb_shamir_combine(got, bad, 3, 3), FB_EPROTO);

	// A non-canonical element (>= L): the top byte 0xff.
	memcpy(bad, shares, 3 * SH);
	bad[SH + 4 + 31] = 0xff;
	CHECK_ERR(fb_shamir_combine(got, bad, 3, 3), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "canonical");

	// One share's element replaced by a random scalar (a corrupted
	// share): detected, the value at 0 is no longer below 2^128.
	memcpy(bad, shares, 4 * SH);
	crypto_core_ed25519_scalar_random(bad + 2 * SH + 4);
	CHECK_ERR(fb_shamir_combine(got, bad, 4, 3), FB_ECRYPTO);
	CHECK_ERR(fb_shamir_combine(got, bad, 3, 3), FB_ECRYPTO);

	// A deliberately small error is NOT detected by combine (shares 1-3:
	// lambda_3 = 1, so +1 on share 3 is +1 on the secret): this is why
	// the protocol checks reconstructed secrets against commitments
	// (secagg/unmask.c). Documented here so nobody relies on combine.
	memcpy(bad, shares, 3 * SH);
	bad[2 * SH + 4] ^= 1;
	CHECK_OK(fb_shamir_combine(got, bad, 3, 3));
	CHECK(memcmp(got, secret, 32) != 0);

	// Shares of two different secrets.
	uint8_t other[5 * SH], mix[3 * SH];
	CHECK_OK(fb_shamir_split(other, secret, 3, 5)); // new polynomial
	memcpy(mix, shares, 2 * SH);
	memcpy(mix + 2 * SH, other + 2 * SH, SH);
	memset(got, 0, 32);
	CHECK_ERR(fb_shamir_combine(got, mix, 3, 3), FB_ECRYPTO);
	uint8_t zero[32] = {0};
	CHECK(memcmp(got, zero, 32) == 0); // written only on success
}

TEST(refuses_bad_parameters)
{
	uint8_t secret[32] = {1}, shares[4 * SH], lambda[64];
	CHECK_ERR(fb_shamir_split(shares, secret, 0, 4), FB_EINVAL);
	CHECK_ERR(fb_shamir_split(shares, secret, 5, 4), FB_EINVAL);
	CHECK_ERR(fb_shamir_split(shares, secret, 1, FB_SHAMIR_N_MAX + 1),
			FB_EINVAL);
	uint32_t dup[2] = {3, 3}, zero[2] = {0, 1};
	CHECK_ERR(fb_shamir_lagrange(lambda, dup, 2), FB_EINVAL);
	CHECK_ERR(fb_shamir_lagrange(lambda, zero, 2), FB_EINVAL);
	CHECK_ERR(fb_shamir_lagrange(lambda, dup, 0), FB_EINVAL);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	RUN(every_subset_reconstructs);
	RUN(extreme_secrets_and_indices);
	RUN(thousand_parties);
	RUN(refuses_bad_shares);
	RUN(refuses_bad_parameters);
	return harness_done();
}
