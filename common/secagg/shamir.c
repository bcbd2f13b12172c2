// common/secagg/shamir.c: Shamir secret sharing over the scalar field of
// Ed25519 (include/fedbundle/secagg/shamir.h, protocols/secagg-v1.md §5).
// Invariants: every scalar that depends on a secret (coefficients, shares,
// partial sums) is handled by libsodium's constant-time scalar functions and
// wiped with sodium_memzero before return; only public values (indices,
// counts, t) decide branches and loop bounds.
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/shamir.h"

#define SC FB_SHAMIR_SCALAR_LEN
#define HALF (FB_SHAMIR_SECRET_LEN / 2)
#define Y_OFF(h) (4 + (h)*SC)

_Static_assert(SC == crypto_core_ed25519_SCALARBYTES, "scalar size");

static void
scalar_of_u32(uint8_t s[SC], uint32_t x)
{
	memset(s, 0, SC);
	s[0] = (uint8_t)x;
	s[1] = (uint8_t)(x >> 8);
	s[2] = (uint8_t)(x >> 16);
	s[3] = (uint8_t)(x >> 24);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
fb_shamir_share_index(const uint8_t share[FB_SHAMIR_SHARE_LEN])
{
	return (uint32_t)share[0] << 24 | (uint32_t)share[1] << 16 |
			(uint32_t)share[2] << 8 | share[3];
}

// True if s < L: reducing s (as a 64-byte number) leaves it unchanged.
static bool
canonical(const uint8_t s[SC])
{
	uint8_t wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES] = {0};
	uint8_t r[SC];
	memcpy(wide, s, SC);
	crypto_core_ed25519_scalar_reduce(r, wide);
	bool ok = sodium_memcmp(r, s, SC) == 0;
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(r, sizeof(r));
	return ok;
}

// y = sum_k coef[k] x^k by Horner's rule, in constant time in the coef.
static void
eval_poly(uint8_t y[SC], const uint8_t *coef, uint32_t t, uint32_t x)
{
	uint8_t xs[SC];
	scalar_of_u32(xs, x);
	memcpy(y, coef + (size_t)(t - 1) * SC, SC);
	for (uint32_t k = t - 1; k-- > 0;) {
		crypto_core_ed25519_scalar_mul(y, y, xs);
		crypto_core_ed25519_scalar_add(y, y, coef + (size_t)k * SC);
	}
}

fb_err
fb_shamir_split(uint8_t *shares, const uint8_t secret[FB_SHAMIR_SECRET_LEN],
		uint32_t t, uint32_t n)
{
	if (shares == NULL || secret == NULL || t == 0 || t > n ||
			n > FB_SHAMIR_N_MAX) {
		return fb_errorf(FB_EINVAL,
				"shamir split: need 1 <= t <= n <= %u, got t %u n %u",
				FB_SHAMIR_N_MAX, t, n);
	}
	uint8_t *coef = sodium_malloc((size_t)t * SC);
	if (coef == NULL) {
		return fb_errorf(FB_ENOMEM, "shamir split: %u coefficients", t);
	}
	for (int h = 0; h < 2; h++) {
		memset(coef, 0, SC);
		memcpy(coef, secret + h * HALF, HALF);
		for (uint32_t k = 1; k < t; k++) {
			crypto_core_ed25519_scalar_random(
					coef + (size_t)k * SC);
		}
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *sh = shares + (size_t)i * FB_SHAMIR_SHARE_LEN;
			put_be32(sh, i + 1);
			eval_poly(sh + Y_OFF(h), coef, t, i + 1);
		}
	}
	sodium_free(coef); // sodium_free wipes
	return FB_OK;
}

fb_err
fb_shamir_share_check(const uint8_t share[FB_SHAMIR_SHARE_LEN])
{
	uint32_t idx = fb_shamir_share_index(share);
	if (idx == 0 || idx > FB_SHAMIR_N_MAX) {
		return fb_errorf(FB_EPROTO,
				"shamir share: index %u outside 1..%u", idx,
				FB_SHAMIR_N_MAX);
	}
	for (int h = 0; h < 2; h++) {
		if (!canonical(share + Y_OFF(h))) {
			return fb_errorf(FB_EPROTO,
					"shamir share %u: element %d is not a "
					"canonical scalar (>= L)",
					idx, h);
		}
	}
	return FB_OK;
}

// Refuses index 0, indices above the maximum and repeats (a bitmap).
static fb_err
check_indices(const uint32_t *idx, size_t count, fb_err code)
{
	uint8_t *seen = calloc(FB_SHAMIR_N_MAX / 8 + 1, 1);
	if (seen == NULL) {
		return fb_errorf(FB_ENOMEM, "shamir: index bitmap");
	}
	fb_err err = FB_OK;
	for (size_t i = 0; i < count && err == FB_OK; i++) {
		uint32_t x = idx[i];
		if (x == 0 || x > FB_SHAMIR_N_MAX) {
			err = fb_errorf(code,
					"shamir: share %zu has index %u "
					"outside 1..%u",
					i, x, FB_SHAMIR_N_MAX);
		} else if (seen[x / 8] & (1u << (x % 8))) {
			err = fb_errorf(code,
					"shamir: share %zu repeats index %u", i,
					x);
		} else {
			seen[x / 8] |= (uint8_t)(1u << (x % 8));
		}
	}
	free(seen);
	return err;
}

// lambda_i = prod_{j != i} x_j / (x_j - x_i): public values only.
static void
lagrange(uint8_t *lambda, const uint32_t *idx, size_t count)
{
	uint8_t num[SC], den[SC], xi[SC], xj[SC], d[SC];
	for (size_t i = 0; i < count; i++) {
		scalar_of_u32(num, 1);
		scalar_of_u32(den, 1);
		scalar_of_u32(xi, idx[i]);
		for (size_t j = 0; j < count; j++) {
			if (j == i) {
				continue;
			}
			scalar_of_u32(xj, idx[j]);
			crypto_core_ed25519_scalar_mul(num, num, xj);
			crypto_core_ed25519_scalar_sub(d, xj, xi);
			crypto_core_ed25519_scalar_mul(den, den, d);
		}
		// den != 0: the indices are distinct and below L.
		if (crypto_core_ed25519_scalar_invert(den, den) != 0) {
			fb_panic("shamir: zero denominator for distinct indices");
		}
		crypto_core_ed25519_scalar_mul(lambda + i * SC, num, den);
	}
}

fb_err
fb_shamir_lagrange(uint8_t *lambda, const uint32_t *idx, size_t count)
{
	if (lambda == NULL || idx == NULL || count == 0 ||
			count > FB_SHAMIR_N_MAX) {
		return fb_errorf(FB_EINVAL, "shamir lagrange: %zu indices",
				count);
	}
	fb_err err = check_indices(idx, count, FB_EINVAL);
	if (err != FB_OK) {
		return err;
	}
	lagrange(lambda, idx, count);
	return FB_OK;
}

fb_err
fb_shamir_combine_with(uint8_t secret[FB_SHAMIR_SECRET_LEN],
		const uint8_t *shares, size_t count, const uint8_t *lambda)
{
	uint8_t acc[2][SC], term[SC];
	memset(acc, 0, sizeof(acc));
	for (size_t i = 0; i < count; i++) {
		const uint8_t *sh = shares + i * FB_SHAMIR_SHARE_LEN;
		for (int h = 0; h < 2; h++) {
			crypto_core_ed25519_scalar_mul(
					term, lambda + i * SC, sh + Y_OFF(h));
			crypto_core_ed25519_scalar_add(acc[h], acc[h], term);
		}
	}
	// A valid secret half is below 2^128: OR the high bytes, no branch.
	uint8_t high = 0;
	for (int h = 0; h < 2; h++) {
		for (int b = HALF; b < SC; b++) {
			high |= acc[h][b];
		}
	}
	fb_err err = FB_OK;
	if (high != 0) {
		err = fb_errorf(FB_ECRYPTO,
				"shamir combine: the %zu shares are not shares "
				"of one secret (inconsistent or corrupted)",
				count);
	} else {
		memcpy(secret, acc[0], HALF);
		memcpy(secret + HALF, acc[1], HALF);
	}
	sodium_memzero(acc, sizeof(acc));
	sodium_memzero(term, sizeof(term));
	return err;
}

fb_err
fb_shamir_combine(uint8_t secret[FB_SHAMIR_SECRET_LEN], const uint8_t *shares,
		size_t count, uint32_t t)
{
	if (secret == NULL || (shares == NULL && count > 0) || t == 0) {
		return fb_errorf(FB_EINVAL, "shamir combine: bad arguments");
	}
	if (count < t) {
		return fb_errorf(FB_EPROTO,
				"shamir combine: %zu shares, threshold %u",
				count, t);
	}
	if (count > FB_SHAMIR_N_MAX) {
		return fb_errorf(FB_EPROTO,
				"shamir combine: %zu shares, "
				"at most %u",
				count, FB_SHAMIR_N_MAX);
	}
	uint32_t *idx = malloc(count * sizeof(*idx));
	uint8_t *lambda = malloc(count * SC);
	fb_err err = FB_ENOMEM;
	if (idx == NULL || lambda == NULL) {
		fb_errorf(err, "shamir combine: %zu shares", count);
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		const uint8_t *sh = shares + i * FB_SHAMIR_SHARE_LEN;
		idx[i] = fb_shamir_share_index(sh);
		err = fb_shamir_share_check(sh);
		if (err != FB_OK) {
			goto out;
		}
	}
	err = check_indices(idx, count, FB_EPROTO);
	if (err != FB_OK) {
		goto out;
	}
	lagrange(lambda, idx, count);
	err = fb_shamir_combine_with(secret, shares, count, lambda);
out:
	free(idx);
	free(lambda);
	return err;
}
