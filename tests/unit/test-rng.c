// tests/unit/test-rng.c: the seeded PRNG is reproducible, its streams differ
// and its derived distributions have the right moments.
#include "fedbundle/util/rng.h"
#include "harness.h"

TEST(same_seed_same_sequence)
{
	struct fb_rng a, b;
	fb_rng_seed(&a, 42, 7);
	fb_rng_seed(&b, 42, 7);
	for (int i = 0; i < 1000; i++) {
		CHECK(fb_rng_next(&a) == fb_rng_next(&b));
	}
}

TEST(streams_differ)
{
	struct fb_rng a, b;
	fb_rng_seed(&a, 42, 0);
	fb_rng_seed(&b, 42, 1);
	int same = 0;
	for (int i = 0; i < 1000; i++) {
		same += fb_rng_next(&a) == fb_rng_next(&b);
	}
	CHECK(same == 0);
}

TEST(below_is_uniform_and_in_range)
{
	struct fb_rng r;
	fb_rng_seed(&r, 1, 0);
	unsigned counts[7] = {0};
	const int n = 700000;
	for (int i = 0; i < n; i++) {
		uint32_t x = fb_rng_below(&r, 7);
		CHECK(x < 7);
		counts[x]++;
	}
	// Chi-square with 6 degrees of freedom: 22.46 is the 0.999 quantile.
	double chi2 = 0;
	for (int k = 0; k < 7; k++) {
		double d = counts[k] - n / 7.0;
		chi2 += d * d / (n / 7.0);
	}
	CHECK(chi2 < 22.46);
}

TEST(normal_moments)
{
	struct fb_rng r;
	fb_rng_seed(&r, 3, 0);
	double s1 = 0, s2 = 0;
	const int n = 400000;
	for (int i = 0; i < n; i++) {
		double x = fb_rng_normal(&r);
		s1 += x;
		s2 += x * x;
	}
	CHECK_NEAR(s1 / n, 0.0, 0.01);
	CHECK_NEAR(s2 / n, 1.0, 0.01);
}

TEST(gamma_mean)
{
	struct fb_rng r;
	fb_rng_seed(&r, 5, 0);
	const double shapes[] = {0.3, 1.0, 4.5};
	for (int k = 0; k < 3; k++) {
		double s = 0;
		const int n = 200000;
		for (int i = 0; i < n; i++) {
			double g = fb_rng_gamma(&r, shapes[k]);
			CHECK(g >= 0);
			s += g;
		}
		CHECK_NEAR(s / n, shapes[k], 0.03 * shapes[k] + 0.01);
	}
}

TEST(shuffle_is_permutation)
{
	struct fb_rng r;
	fb_rng_seed(&r, 9, 0);
	uint32_t v[100];
	for (uint32_t i = 0; i < 100; i++) {
		v[i] = i;
	}
	fb_rng_shuffle_u32(&r, v, 100);
	int seen[100] = {0};
	int moved = 0;
	for (uint32_t i = 0; i < 100; i++) {
		CHECK(v[i] < 100 && !seen[v[i]]);
		seen[v[i]] = 1;
		moved += v[i] != i;
	}
	CHECK(moved > 50);
}

int
main(void)
{
	RUN(same_seed_same_sequence);
	RUN(streams_differ);
	RUN(below_is_uniform_and_in_range);
	RUN(normal_moments);
	RUN(gamma_mean);
	RUN(shuffle_is_permutation);
	return harness_done();
}
