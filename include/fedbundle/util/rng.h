// include/fedbundle/util/rng.h: a fast, seeded, reproducible PRNG (xoshiro256**)
// for sampling training examples, shuffling and synthetic data. It is NOT a
// source of privacy noise: DP noise comes from include/fedbundle/privacy/noise.h,
// which draws from libsodium's CSPRNG.
// Thread-safety: one struct fb_rng per thread; functions are pure on it.
#ifndef FB_INCLUDE_FEDBUNDLE_RNG_H
#define FB_INCLUDE_FEDBUNDLE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct fb_rng {
	uint64_t s[4];
};

// Seeds rng from (seed, stream): distinct streams give independent
// sequences, so per-thread or per-epoch generators can be derived from one
// user-visible seed.
void fb_rng_seed(struct fb_rng *rng, uint64_t seed, uint64_t stream);

// The next 64 uniform bits.
static inline uint64_t
fb_rng_next(struct fb_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t x = s[1] * 5;
	uint64_t result = ((x << 7) | (x >> 57)) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

// Uniform integer in [0, bound), bound > 0, without modulo bias (Lemire).
uint32_t fb_rng_below(struct fb_rng *rng, uint32_t bound);

// Uniform double in [0, 1) with 53 random bits.
static inline double
fb_rng_uniform(struct fb_rng *rng)
{
	return (double)(fb_rng_next(rng) >> 11) * 0x1.0p-53;
}

// Standard normal deviate (Marsaglia polar); for data generation and
// initialisation only.
double fb_rng_normal(struct fb_rng *rng);

// Gamma(shape, 1) deviate, shape > 0 (Marsaglia-Tsang); for Dirichlet draws.
double fb_rng_gamma(struct fb_rng *rng, double shape);

// Shuffles n uint32 values in place (Fisher-Yates).
void fb_rng_shuffle_u32(struct fb_rng *rng, uint32_t *v, size_t n);

#endif
