// common/util/rng.c: xoshiro256** seeding and derived distributions. Everything
// here is deterministic for a seed so that training and data generation are
// reproducible; none of it may be used for privacy noise.
#include <math.h>

#include "fedbundle/util/rng.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
fb_rng_seed(struct fb_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	x = splitmix64(&x) ^ stream;
	for (int i = 0; i < 4; i++) {
		rng->s[i] = splitmix64(&x);
	}
}

uint32_t
fb_rng_below(struct fb_rng *rng, uint32_t bound)
{
	uint64_t m = (uint64_t)(uint32_t)(fb_rng_next(rng) >> 32) * bound;
	uint32_t low = (uint32_t)m;
	if (low < bound) {
		uint32_t threshold = (uint32_t)(-bound) % bound;
		while (low < threshold) {
			m = (uint64_t)(uint32_t)(fb_rng_next(rng) >> 32) *
					bound;
			low = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

double
fb_rng_normal(struct fb_rng *rng)
{
	double u, v, s;
	do {
		u = 2.0 * fb_rng_uniform(rng) - 1.0;
		v = 2.0 * fb_rng_uniform(rng) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
}

double
fb_rng_gamma(struct fb_rng *rng, double shape)
{
	if (shape < 1.0) {
		// Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
		double u = fb_rng_uniform(rng);
		while (u == 0.0) {
			u = fb_rng_uniform(rng);
		}
		return fb_rng_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
	}
	double d = shape - 1.0 / 3.0;
	double c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = fb_rng_normal(rng);
		double v = 1.0 + c * x;
		if (v <= 0.0) {
			continue;
		}
		v = v * v * v;
		double u = fb_rng_uniform(rng);
		if (u < 1.0 - 0.0331 * x * x * x * x) {
			return d * v;
		}
		if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) {
			return d * v;
		}
	}
}

void
fb_rng_shuffle_u32(struct fb_rng *rng, uint32_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = fb_rng_below(rng, (uint32_t)i);
		uint32_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}
