// include/fedbundle/secagg/shamir.h: t-of-n Shamir secret sharing of 32-byte
// secrets for secure aggregation (protocols/secagg-v1.md §5).
// The field is the scalar field of Ed25519, prime
// L = 2^252 + 27742317777372353535851937790883648493, with libsodium's
// constant-time crypto_core_ed25519_scalar_* arithmetic. A secret is split
// into two 16-byte halves (each < 2^128 < L), each shared with its own
// random polynomial of degree t - 1, so one share holds two field elements.
// Parties are indexed 1..FB_SHAMIR_N_MAX; the index is the share's x.
// Share encoding (FB_SHAMIR_SHARE_LEN bytes):
//   u32 index (big-endian) || y_lo (32 bytes) || y_hi (32 bytes)
// each y the canonical little-endian encoding of a scalar < L.
// Constant time: evaluation and combination touch secret values only
// through libsodium's constant-time scalar add/mul; decoding compares with
// sodium_memcmp. Indices, counts and t are public and branched on; so are
// the results of the checks (a refusal says which share is malformed).
// Thread-safety: stateless; any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_SHAMIR_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

#define FB_SHAMIR_SECRET_LEN 32
#define FB_SHAMIR_SCALAR_LEN 32
#define FB_SHAMIR_SHARE_LEN (4 + 2 * FB_SHAMIR_SCALAR_LEN) // 68
// Largest number of parties (and largest index).
#define FB_SHAMIR_N_MAX 65535u

// Splits secret into n shares, any t of which reconstruct it: share k
// (k = 0..n-1) has index k + 1 and is written to shares + k *
// FB_SHAMIR_SHARE_LEN. Coefficients come from randombytes_buf (through
// crypto_core_ed25519_scalar_random). FB_EINVAL unless 1 <= t <= n <=
// FB_SHAMIR_N_MAX. The coefficients are wiped before returning.
fb_err fb_shamir_split(uint8_t *shares,
		const uint8_t secret[FB_SHAMIR_SECRET_LEN], uint32_t t,
		uint32_t n);

// The index of an encoded share (its first four bytes, not validated).
uint32_t fb_shamir_share_index(const uint8_t share[FB_SHAMIR_SHARE_LEN]);

// Checks one encoded share: index in 1..FB_SHAMIR_N_MAX and both field
// elements canonical (< L). FB_EPROTO with a detail otherwise.
fb_err fb_shamir_share_check(const uint8_t share[FB_SHAMIR_SHARE_LEN])
		__attribute__((warn_unused_result));

// The Lagrange coefficients at 0 of the indices idx[0..count), into
// lambda (count * FB_SHAMIR_SCALAR_LEN bytes): for reconstructing many
// secrets from one set of parties. FB_EINVAL for count 0 or above
// FB_SHAMIR_N_MAX, an index 0 or above FB_SHAMIR_N_MAX, or a repeated
// index (detail names it).
fb_err fb_shamir_lagrange(uint8_t *lambda, const uint32_t *idx, size_t count);

// Reconstructs a secret from count >= t encoded shares (count *
// FB_SHAMIR_SHARE_LEN bytes, any order), using all of them. Refuses with
// FB_EPROTO (detail naming the share) fewer than t shares, an index 0 or
// above the maximum, a repeated index, a non-canonical element; and with
// FB_ECRYPTO shares whose value at 0 is not a valid secret (each half
// must be < 2^128: shares of different secrets, or a share replaced by
// random bytes, pass this with probability about 2^-124). A deliberately
// chosen small error is NOT detected (it moves the secret by a small
// multiple of a Lagrange coefficient): callers that face malicious share
// holders check the secret against a commitment (secagg-v1 §3.4).
// secret is written only on success.
fb_err fb_shamir_combine(uint8_t secret[FB_SHAMIR_SECRET_LEN],
		const uint8_t *shares, size_t count, uint32_t t)
		__attribute__((warn_unused_result));

// Like fb_shamir_combine() with the coefficients of fb_shamir_lagrange()
// for the same indices in the same order (the caller checked the shares
// with fb_shamir_share_check() and the count against t).
fb_err fb_shamir_combine_with(uint8_t secret[FB_SHAMIR_SECRET_LEN],
		const uint8_t *shares, size_t count, const uint8_t *lambda)
		__attribute__((warn_unused_result));

#endif
