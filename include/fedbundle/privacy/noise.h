// include/fedbundle/privacy/noise.h: differential-privacy noise from a CSPRNG.
// The exact discrete Gaussian of Canonne, Kamath and Steinke 2020 ("The
// Discrete Gaussian for Differential Privacy", Algorithms 1-3) on a
// fixed-point grid, drawn from ChaCha20 keyed by libsodium's randombytes_buf.
// Accept/reject decisions use exact integer arithmetic only: no floating
// point touches a sampled value before it is an integer (Mironov 2012).
// Randomness: a 32-byte key from randombytes_buf expands through ChaCha20 in
// 16 KiB blocks with fast key erasure (the 32 keystream bytes after each block
// become the next key) and a fresh key from randombytes_buf every 2^30 bytes.
// Thread-safety: none; one struct fb_noise per thread. Not fork-safe for the
// scalar calls: create a generator after fork(), never before (the vector
// calls notice a fork and re-key, the scalar calls may first finish the
// current 16 KiB block).
#ifndef FB_INCLUDE_FEDBUNDLE_NOISE_H
#define FB_INCLUDE_FEDBUNDLE_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

// Length of the seed of fb_noise_create_seeded().
#define FB_NOISE_SEED_LEN 32
// Bounds of sigma^2 = num / den in fb_noise_discrete_gaussian() and
// fb_noise_add_discrete_gaussian_i32(): 1 <= num <= 2^56, 1 <= den <= 2^32,
// so 2^-32 <= sigma^2 <= 2^56 (sigma up to 2^28 grid steps).
#define FB_NOISE_SIGMA2_NUM_MAX (UINT64_C(1) << 56)
#define FB_NOISE_SIGMA2_DEN_MAX (UINT64_C(1) << 32)
// Bounds of the scale t/s of fb_noise_discrete_laplace(): 1 <= t, s <= 2^32.
#define FB_NOISE_LAPLACE_MAX (UINT64_C(1) << 32)
// Bounds of sigma (in grid steps) accepted by fb_noise_sigma2_rational().
#define FB_NOISE_SIGMA_INT_MIN 0x1p-16
#define FB_NOISE_SIGMA_INT_MAX 0x1p28
// Re-key interval of the secure mode, in keystream bytes.
#define FB_NOISE_REKEY_BYTES (UINT64_C(1) << 30)

// A noise generator. Its key and buffered keystream live in sodium_malloc
// memory (guarded, locked), wiped on destroy. In the calls below that do
// not return fb_err, noise must not be NULL.
struct fb_noise;

// On success stores a secure generator in *out, keyed from randombytes_buf;
// the caller destroys it. Calls sodium_init() (FB_ECRYPTO if it fails);
// FB_ENOMEM if sodium_malloc fails.
fb_err fb_noise_create(struct fb_noise **out);

// Like fb_noise_create() but keyed by seed (FB_NOISE_SEED_LEN bytes) and
// never re-keyed from the system: the same seed gives the same numbers on
// the same platform. FOR TESTS AND SIMULATIONS ONLY: its noise is known to
// whoever knows the seed, so fb_noise_is_private() is false for it.
fb_err fb_noise_create_seeded(struct fb_noise **out, const uint8_t *seed);

// Wipes and frees the generator; NULL is a no-op.
void fb_noise_destroy(struct fb_noise *noise);

// True for generators from fb_noise_create(), false for seeded ones. Every
// output made with a non-private generator must say that it is not private.
bool fb_noise_is_private(const struct fb_noise *noise);

// Keystream bytes this generator has produced so far (for benchmarks).
uint64_t fb_noise_stream_bytes(const struct fb_noise *noise);

// Fills buf with len uniform bytes from the generator's stream (bytes no
// other call receives).
void fb_noise_fill(struct fb_noise *noise, void *buf, size_t len);

// 64 uniform bits.
uint64_t fb_noise_u64(struct fb_noise *noise);

// Uniform integer in [0, bound), without modulo bias (Lemire's method).
// FB_EINVAL if bound == 0.
fb_err fb_noise_uniform(struct fb_noise *noise, uint64_t bound, uint64_t *out);

// Exact Bernoulli(p/q). FB_EINVAL unless q >= 1 and p <= q.
fb_err fb_noise_bernoulli(
		struct fb_noise *noise, uint64_t p, uint64_t q, bool *out);

// Exact Bernoulli(exp(-num/den)) (CKS 2020 Algorithm 1). FB_EINVAL unless
// den >= 1.
fb_err fb_noise_bernoulli_exp(
		struct fb_noise *noise, uint64_t num, uint64_t den, bool *out);

// Exact discrete Laplace with scale t/s: P[x] proportional to
// exp(-|x| s / t) on the integers (CKS 2020 Algorithm 2). FB_EINVAL unless
// 1 <= t, s <= FB_NOISE_LAPLACE_MAX. |x| < 2^62 (a truncation whose mass is
// below exp(-2^30)).
fb_err fb_noise_discrete_laplace(
		struct fb_noise *noise, uint64_t t, uint64_t s, int64_t *out);

// Exact discrete Gaussian N_Z(0, sigma^2), sigma^2 = sigma2_num/sigma2_den:
// P[x] proportional to exp(-x^2 / (2 sigma^2)) (CKS 2020 Algorithm 3).
// FB_EINVAL outside the FB_NOISE_SIGMA2_* bounds. The proposal is cut
// beyond 253 sigma (so that every product fits in 128 bits): the
// output differs from N_Z(0, sigma^2) by a total variation below
// exp(-32000). The last (num, den) is cached: repeated calls with the same
// sigma^2 skip the set-up.
fb_err fb_noise_discrete_gaussian(struct fb_noise *noise, uint64_t sigma2_num,
		uint64_t sigma2_den, int64_t *out);

// v[i] += N_Z(0, sigma2_num/sigma2_den), each coordinate independent. The
// sum saturates at INT32_MIN/INT32_MAX; saturation is a function of the
// noised value only (post-processing), so it keeps the DP guarantee. If
// n_saturated is not NULL it receives the number of saturated coordinates.
// FB_EINVAL (v untouched) for bad sigma^2 or v == NULL with len > 0.
fb_err fb_noise_add_discrete_gaussian_i32(struct fb_noise *noise, int32_t *v,
		size_t len, uint64_t sigma2_num, uint64_t sigma2_den,
		size_t *n_saturated);

// v[i] += N_Z(0, sigma2_num/sigma2_den), each coordinate independent, for
// sums kept exactly in 64-bit integers (fixed point). FB_EINVAL (v
// untouched) for bad sigma^2, v == NULL with len > 0, or |v[i]| > 2^62.
fb_err fb_noise_add_discrete_gaussian_i64(struct fb_noise *noise, int64_t *v,
		size_t len, uint64_t sigma2_num, uint64_t sigma2_den);

// Rounds sigma^2 UP to the rational num/den used for a noise of sigma grid
// steps: den = 2^D with D <= 32 the largest such that num = ceil(sigma^2
// 2^D) <= 2^56, computed exactly in integers from the double sigma, then
// reduced. So num/den >= sigma^2 always, and it is the smallest multiple of
// 2^-D that is: the excess is below 2^-32 when sigma^2 <= 2^24 and below
// 2^-55 sigma^2 above. The noise never falls short of the one the privacy
// analysis assumed. FB_EINVAL unless FB_NOISE_SIGMA_INT_MIN <= sigma <=
// FB_NOISE_SIGMA_INT_MAX, or if num or den is NULL.
fb_err fb_noise_sigma2_rational(double sigma, uint64_t *num, uint64_t *den);

// tau of Kairouz, Liu and Steinke 2021 (Theorem 1 / Proposition 14): the
// extra term when n_shares independent N_Z(0, sigma_int^2) are summed (the
// distributed discrete Gaussian): tau = 10 sum_{k=1}^{n_shares-1}
// exp(-2 pi^2 sigma_int^2 k / (k + 1)); the sum then gives RDP of order a
// min(a D^2 / (2 n sigma^2) + tau dim, a/2 (D / (sqrt(n) sigma) +
// tau sqrt(dim))^2). A single discrete Gaussian (n_shares <= 1) has tau = 0
// (CKS 2020 Theorem 14: exactly the continuous Gaussian's bound). tau <=
// 10 (n_shares - 1) exp(-pi^2 sigma_int^2): below 1e-15 n_shares for
// sigma_int >= 2 and below 1e-37 n_shares for sigma_int >= 3, so the DP
// layer should refuse sigma_int < 2 for shared noise. Rounded up; NaN for
// sigma_int <= 0 or non-finite.
double fb_noise_dgauss_tau(double sigma_int, uint64_t n_shares);

#endif
