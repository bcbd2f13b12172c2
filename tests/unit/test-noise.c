// tests/unit/test-noise.c: the exact samplers against their exact laws.
// Frequencies, moments and chi-square statistics are compared with values
// computed here from the exact pmf; thresholds sit at about the 1e-6 tail
// (5 standard errors, Wilson-Hilferty chi-square quantile at z = 4.753), so
// the seeded runs are deterministic and the secure-mode checks do not
// flake. Hand-computed constants say where they come from.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fedbundle/privacy/noise.h"
#include "harness.h"

#define Z_TAIL 5.0    // two-sided normal tail 5.7e-7
#define Z_CHI2 4.7534 // one-sided normal 1e-6 quantile

static struct fb_noise *
seeded(uint8_t tag)
{
	uint8_t seed[FB_NOISE_SEED_LEN];
	for (int i = 0; i < FB_NOISE_SEED_LEN; i++) {
		seed[i] = (uint8_t)(tag * 31 + i);
	}
	struct fb_noise *n = NULL;
	if (fb_noise_create_seeded(&n, seed) != FB_OK) {
		fb_panic("seeded generator: %s", fb_last_error(FB_ENOMEM));
	}
	return n;
}

// Upper 1e-6 quantile of chi-square with df degrees (Wilson-Hilferty).
static double
chi2_limit(int df)
{
	double a = 2.0 / (9.0 * df);
	double c = 1 - a + Z_CHI2 * sqrt(a);
	return df * c * c * c;
}

// An integer law on [-half, half]: pmf[x + half].
struct law {
	int half;
	double *pmf;
};

static void
law_finish(struct law *l)
{
	free(l->pmf);
	l->pmf = NULL;
}

// Discrete Gaussian N_Z(0, s2), truncated where the mass is below 1e-300.
static struct law
law_dgauss(double s2)
{
	struct law l;
	l.half = (int)ceil(40 * sqrt(s2)) + 10;
	l.pmf = calloc((size_t)(2 * l.half + 1), sizeof(double));
	if (l.pmf == NULL) {
		fb_panic("out of memory");
	}
	double z = 0;
	for (int x = -l.half; x <= l.half; x++) {
		double w = exp(-(double)x * x / (2 * s2));
		l.pmf[x + l.half] = w;
		z += w;
	}
	for (int x = -l.half; x <= l.half; x++) {
		l.pmf[x + l.half] /= z;
	}
	return l;
}

// Discrete Laplace, P[x] proportional to exp(-|x| / b).
static struct law
law_dlaplace(double b)
{
	struct law l;
	l.half = (int)ceil(700 * b) + 10;
	l.pmf = calloc((size_t)(2 * l.half + 1), sizeof(double));
	if (l.pmf == NULL) {
		fb_panic("out of memory");
	}
	double z = 0;
	for (int x = -l.half; x <= l.half; x++) {
		double w = exp(-fabs((double)x) / b);
		l.pmf[x + l.half] = w;
		z += w;
	}
	for (int x = -l.half; x <= l.half; x++) {
		l.pmf[x + l.half] /= z;
	}
	return l;
}

static double
law_moment(const struct law *l, int k)
{
	double m = 0;
	for (int x = -l->half; x <= l->half; x++) {
		m += l->pmf[x + l->half] * pow((double)x, k);
	}
	return m;
}

// Checks n draws against the law: mean, second, third and fourth moments
// each within Z_TAIL standard errors, and the chi-square over the cells
// |x| <= c with both each cell and each pooled tail |x| > c expecting at
// least 10 draws.

static void
check_law(const struct law *l, const int64_t *xs, size_t n, const char *what)
{
	long *count = calloc((size_t)(2 * l->half + 1), sizeof(long));
	if (count == NULL) {
		fb_panic("out of memory");
	}
	double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
	long out = 0;
	for (size_t i = 0; i < n; i++) {
		double x = (double)xs[i];
		s1 += x;
		s2 += x * x;
		s3 += x * x * x;
		s4 += x * x * x * x;
		if (xs[i] < -l->half || xs[i] > l->half) {
			out++;
		} else {
			count[xs[i] + l->half]++;
		}
	}
	double mu2 = law_moment(l, 2), mu4 = law_moment(l, 4);
	double mu6 = law_moment(l, 6), mu8 = law_moment(l, 8);
	double m1 = s1 / n, m2 = s2 / n, m3 = s3 / n, m4 = s4 / n;
	printf("# %s: n %zu mean %.4g var %.6g (exact %.6g) skew %.3g "
	       "kurt %.5g (exact %.5g)\n",
			what, n, m1, m2, mu2, m3 / pow(m2, 1.5), m4 / (m2 * m2),
			mu4 / (mu2 * mu2));
	int failed = out != 0;
	failed |= !(fabs(m1) <= Z_TAIL * sqrt(mu2 / n));
	failed |= !(fabs(m2 - mu2) <= Z_TAIL * sqrt((mu4 - mu2 * mu2) / n));
	failed |= !(fabs(m3) <= Z_TAIL * sqrt(mu6 / n));
	failed |= !(fabs(m4 - mu4) <= Z_TAIL * sqrt((mu8 - mu4 * mu4) / n));
	int c = 0;
	for (;;) {
		double tail = 0; // P[X > c + 1]
		for (int x = c + 2; x <= l->half; x++) {
			tail += l->pmf[x + l->half];
		}
		if (c + 1 >= l->half || l->pmf[c + 1 + l->half] * n < 10 ||
				tail * n < 10) {
			break;
		}
		c++;
	}
	double chi2 = 0;
	int cells = 0;
	double e_lo = 0, e_hi = 0;
	long o_lo = 0, o_hi = 0;
	for (int x = -l->half; x <= l->half; x++) {
		double e = l->pmf[x + l->half] * n;
		long o = count[x + l->half];
		if (x < -c) {
			e_lo += e;
			o_lo += o;
		} else if (x > c) {
			e_hi += e;
			o_hi += o;
		} else {
			chi2 += (o - e) * (o - e) / e;
			cells++;
		}
	}
	if (e_lo > 0) {
		chi2 += (o_lo - e_lo) * (o_lo - e_lo) / e_lo;
		cells++;
	}
	if (e_hi > 0) {
		chi2 += (o_hi - e_hi) * (o_hi - e_hi) / e_hi;
		cells++;
	}
	double lim = chi2_limit(cells - 1);
	printf("# %s: chi2 %.1f on %d df (1e-6 limit %.1f)\n", what, chi2,
			cells - 1, lim);
	failed |= !(chi2 <= lim) || cells < 3;
	free(count);
	if (failed) {
		HARNESS_FAIL("%s does not follow its law (out of range: %ld)",
				what, out);
	}
}

// hi 2^64 + lo = a b, schoolbook on 32-bit halves.
static void
mul_u64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
	uint64_t a0 = a & 0xffffffff, a1 = a >> 32;
	uint64_t b0 = b & 0xffffffff, b1 = b >> 32;
	uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	uint64_t mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
	*lo = (mid << 32) | (p00 & 0xffffffff);
	*hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

// num / den >= sigma^2 exactly, den a power of two: with sigma = m 2^-k
// it reads num 2^(2k) >= m^2 den, compared in 128 bits.
static bool
rational_ge_square(uint64_t num, uint64_t den, double sigma)
{
	int e;
	double f = frexp(sigma, &e);
	uint64_t m = (uint64_t)ldexp(f, 53);
	int k = 53 - e;
	while ((m & 1) == 0) {
		m >>= 1;
		k--;
	}
	int d = 0;
	while ((UINT64_C(1) << d) != den) {
		d++;
	}
	uint64_t sh, sl; // m^2 < 2^106
	mul_u64(m, m, &sh, &sl);
	if (num == 0) {
		return false;
	}
	int s = 2 * k - d; // compare num 2^s with m^2 (or num, m^2 2^-s)
	// Both sides as 192-bit numbers [w2 w1 w0] shifted into place.
	uint64_t a[3] = {num, 0, 0}, b[3] = {sl, sh, 0};
	uint64_t *x = s >= 0 ? a : b;
	int t = s >= 0 ? s : -s;
	if (t >= 128 || (s < 0 && t >= 64)) {
		return s >= 0; // then one side is past the other's 2^128
	}
	for (; t >= 64; t -= 64) {
		x[2] = x[1];
		x[1] = x[0];
		x[0] = 0;
	}
	if (t > 0) {
		x[2] = (x[2] << t) | (x[1] >> (64 - t));
		x[1] = (x[1] << t) | (x[0] >> (64 - t));
		x[0] <<= t;
	}
	for (int i = 2; i >= 0; i--) {
		if (a[i] != b[i]) {
			return a[i] > b[i];
		}
	}
	return true;
}

static int64_t *
draws(size_t n)
{
	int64_t *xs = malloc(n * sizeof(*xs));
	if (xs == NULL) {
		fb_panic("out of memory");
	}
	return xs;
}

// ---- tests --------------------------------------------------------------

TEST(bernoulli_rational_frequencies)
{
	struct fb_noise *g = seeded(1);
	// p/q, with q on both sides of 2^32 (32- and 64-bit Lemire paths).
	const uint64_t pq[][2] = {{1, 3}, {2, 7}, {1, 2},
			{UINT64_C(1) << 40, UINT64_C(3) << 40},
			{UINT64_MAX / 3, UINT64_MAX}, {0, 5}, {5, 5}};
	const size_t n = 400000;
	for (size_t j = 0; j < sizeof(pq) / sizeof(pq[0]); j++) {
		size_t hits = 0;
		for (size_t i = 0; i < n; i++) {
			bool b;
			CHECK_OK(fb_noise_bernoulli(g, pq[j][0], pq[j][1], &b));
			hits += b;
		}
		double p = (double)pq[j][0] / (double)pq[j][1];
		CHECK_NEAR((double)hits / n, p,
				Z_TAIL * sqrt(p * (1 - p) / n) + 1e-12);
	}
	fb_noise_destroy(g);
}

TEST(uniform_below_is_uniform)
{
	struct fb_noise *g = seeded(2);
	// bound 7 (32-bit path) and 3 * 2^61 + 1 (64-bit path, folded into 6
	// cells of 2^60 values; the one value 6 * 2^60 has probability 2^-63).
	const uint64_t bounds[] = {7, (UINT64_C(3) << 61) + 1};
	const size_t n = 600000;
	for (int j = 0; j < 2; j++) {
		size_t count[7] = {0};
		int cells = j == 0 ? 7 : 6;
		for (size_t i = 0; i < n; i++) {
			uint64_t x;
			CHECK_OK(fb_noise_uniform(g, bounds[j], &x));
			CHECK(x < bounds[j]);
			count[j == 0 ? x : x >> 60]++;
		}
		double chi2 = 0;
		for (int k = 0; k < cells; k++) {
			double e = (double)n / cells;
			chi2 += (count[k] - e) * (count[k] - e) / e;
		}
		CHECK(chi2 <= chi2_limit(cells - 1));
	}
	fb_noise_destroy(g);
}

TEST(bernoulli_exp_frequencies)
{
	struct fb_noise *g = seeded(3);
	// exp(-num/den); den > 2^32 and den near 2^64 take the wide paths.
	const uint64_t x[][2] = {{0, 1}, {1, 3}, {1, 1}, {5, 2}, {7, 1},
			{UINT64_C(7) << 40, UINT64_C(3) << 40},
			{UINT64_MAX - 1, UINT64_MAX / 2}, {30, 1}};
	const size_t n = 400000;
	for (size_t j = 0; j < sizeof(x) / sizeof(x[0]); j++) {
		size_t hits = 0;
		for (size_t i = 0; i < n; i++) {
			bool b;
			CHECK_OK(fb_noise_bernoulli_exp(
					g, x[j][0], x[j][1], &b));
			hits += b;
		}
		double p = exp(-(double)x[j][0] / (double)x[j][1]);
		printf("# exp(-%llu/%llu): %.6f expected %.6f\n",
				(unsigned long long)x[j][0],
				(unsigned long long)x[j][1], (double)hits / n,
				p);
		CHECK_NEAR((double)hits / n, p,
				Z_TAIL * sqrt(p * (1 - p) / n) + 1e-12);
	}
	fb_noise_destroy(g);
}

TEST(discrete_laplace_law)
{
	struct fb_noise *g = seeded(4);
	// scale t/s: 1, 7/3, 100, 1/2.
	const uint64_t ts[][2] = {{1, 1}, {7, 3}, {100, 1}, {1, 2}};
	const size_t n = 400000;
	int64_t *xs = draws(n);
	for (int j = 0; j < 4; j++) {
		for (size_t i = 0; i < n; i++) {
			CHECK_OK(fb_noise_discrete_laplace(
					g, ts[j][0], ts[j][1], &xs[i]));
		}
		double b = (double)ts[j][0] / (double)ts[j][1];
		struct law l = law_dlaplace(b);
		// Closed form: Var = 2 e^(-1/b) / (1 - e^(-1/b))^2.
		double q = exp(-1 / b);
		CHECK_NEAR(law_moment(&l, 2), 2 * q / ((1 - q) * (1 - q)),
				1e-9 * b * b);
		char what[64];
		snprintf(what, sizeof(what), "DLap(%llu/%llu)",
				(unsigned long long)ts[j][0],
				(unsigned long long)ts[j][1]);
		check_law(&l, xs, n, what);
		law_finish(&l);
	}
	free(xs);
	fb_noise_destroy(g);
}

TEST(discrete_gaussian_law)
{
	struct fb_noise *g = seeded(5);
	// sigma = 0.5, 1, 3, 20, 1000 (sigma^2 = 1/4, 1, 9, 400, 10^6).
	const uint64_t s2[][2] = {
			{1, 4}, {1, 1}, {9, 1}, {400, 1}, {1000000, 1}};
	const size_t n = 1000000;
	int64_t *xs = draws(n);
	for (int j = 0; j < 5; j++) {
		for (size_t i = 0; i < n; i++) {
			CHECK_OK(fb_noise_discrete_gaussian(
					g, s2[j][0], s2[j][1], &xs[i]));
		}
		double v = (double)s2[j][0] / (double)s2[j][1];
		struct law l = law_dgauss(v);
		char what[64];
		snprintf(what, sizeof(what), "N_Z(0, %g)", v);
		check_law(&l, xs, n, what);
		law_finish(&l);
	}
	free(xs);
	fb_noise_destroy(g);
}

TEST(discrete_gaussian_small_sigma_variance_below_sigma2)
{
	// The exact variance of N_Z(0, 1/4), summed from its pmf in Python:
	// 0.21501267508813854; of N_Z(0, 1): 0.9999997887677279.
	struct law l = law_dgauss(0.25);
	CHECK_NEAR(law_moment(&l, 2), 0.21501267508813854, 1e-12);
	law_finish(&l);
	l = law_dgauss(1.0);
	CHECK_NEAR(law_moment(&l, 2), 0.9999997887677279, 1e-12);
	law_finish(&l);
	// And the sampler reproduces the deficit: 0.215, not 0.25.
	struct fb_noise *g = seeded(6);
	const size_t n = 400000;
	double s2 = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		CHECK_OK(fb_noise_discrete_gaussian(g, 1, 4, &x));
		s2 += (double)(x * x);
	}
	CHECK_NEAR(s2 / n, 0.21501267508813854, 0.004);
	CHECK(s2 / n < 0.24);
	fb_noise_destroy(g);
}

TEST(discrete_gaussian_wide_arithmetic)
{
	// sigma^2 = 2^50/3 (q = 2 n d t^2 ~ 2^102, the 128-bit paths),
	// 10^12 (sigma = 10^6) and 2^56 (the largest): moments only.
	struct fb_noise *g = seeded(7);
	const uint64_t s2[][2] = {{UINT64_C(1) << 50, 3},
			{UINT64_C(1000000000000), 1}, {UINT64_C(1) << 56, 1},
			{7, UINT64_C(1) << 32}};
	const size_t n = 200000;
	for (int j = 0; j < 4; j++) {
		double v = (double)s2[j][0] / (double)s2[j][1];
		double m1 = 0, m2 = 0, m4 = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t x;
			CHECK_OK(fb_noise_discrete_gaussian(
					g, s2[j][0], s2[j][1], &x));
			double y = (double)x;
			m1 += y;
			m2 += y * y;
			m4 += y * y * y * y;
		}
		m1 /= n;
		m2 /= n;
		m4 /= n;
		printf("# N_Z(0, %g): var/sigma^2 %.5f kurt %.4f\n", v, m2 / v,
				m4 / (m2 * m2));
		if (v > 1) {
			// Continuous limit: Var = v, E x^4 = 3 v^2.
			CHECK_NEAR(m1, 0, Z_TAIL * sqrt(v / n));
			CHECK_NEAR(m2 / v, 1, Z_TAIL * sqrt(2.0 / n));
			// Var x^4 = 105 v^4 - 9 v^4.
			CHECK_NEAR(m4 / (3 * v * v), 1,
					Z_TAIL * sqrt(96.0 / n) / 3);
		} else {
			// sigma^2 = 7 * 2^-32: P[x != 0] = 2 e^(-1/(2v)) / Z,
			// about e^(-3e8): never.
			CHECK(m2 == 0);
		}
	}
	fb_noise_destroy(g);
}

TEST(sigma2_rational_rounds_up)
{
	uint64_t num, den;
	// Exact squares are kept exactly.
	CHECK_OK(fb_noise_sigma2_rational(1.0, &num, &den));
	CHECK(num == 1 && den == 1);
	CHECK_OK(fb_noise_sigma2_rational(0.5, &num, &den));
	CHECK(num == 1 && den == 4);
	CHECK_OK(fb_noise_sigma2_rational(65536.0, &num, &den));
	CHECK(num == UINT64_C(1) << 32 && den == 1);
	CHECK_OK(fb_noise_sigma2_rational(0x1p28, &num, &den));
	CHECK(num == UINT64_C(1) << 56 && den == 1);
	CHECK_OK(fb_noise_sigma2_rational(1000.5, &num, &den));
	CHECK(num == 4004001 && den == 4); // 1000.5^2 = 1001000.25
	// Not dyadic, or squares that double rounds down (the last: 101343649
	// * 2^-15, whose square rounds down to a multiple of 2^-32, found by
	// a search in Python): num/den is the smallest multiple of 1/den at or
	// above the exact square, den = 2^32 before reduction.
	const double sig[] = {12.8, 0.1, 1.0 / 3, 3000.7,
			0x1.8298684p+11 /* 101343649 * 2^-15 */, 0x1p-16};
	for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
		CHECK_OK(fb_noise_sigma2_rational(sig[i], &num, &den));
		CHECK(den <= UINT64_C(1) << 32 && num <= UINT64_C(1) << 56);
		CHECK(rational_ge_square(num, den, sig[i]));
		CHECK(!rational_ge_square(num - 1, den, sig[i]));
		CHECK_NEAR((double)num / (double)den, sig[i] * sig[i],
				0x1p-32 + 1e-15 * sig[i] * sig[i]);
	}
	CHECK(ldexp(101343649, -15) == 0x1.8298684p+11);
	CHECK_ERR(fb_noise_sigma2_rational(0x1p-17, &num, &den), FB_EINVAL);
	CHECK_ERR(fb_noise_sigma2_rational(0x1p28 * 1.0001, &num, &den),
			FB_EINVAL);
	CHECK_ERR(fb_noise_sigma2_rational(NAN, &num, &den), FB_EINVAL);
	CHECK_ERR(fb_noise_sigma2_rational(1.0, NULL, &den), FB_EINVAL);
}

// The i64 API of the DP releases: the noise added to an exact sum has the
// discrete Gaussian's law, the sum is otherwise untouched, and bad input
// leaves it untouched.
TEST(i64_noise_moments_and_bad_input)
{
	struct fb_noise *g = seeded(8);
	const size_t n = 400000;
	int64_t *v = malloc(n * sizeof(*v));
	CHECK(v != NULL);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t)i - 1000;
	}
	// sigma = 0.75 grid steps: the discrete variance, 0.562123714371284
	// from the pmf in Python, not 0.5625.
	uint64_t num, den;
	CHECK_OK(fb_noise_sigma2_rational(0.75, &num, &den));
	CHECK_OK(fb_noise_add_discrete_gaussian_i64(g, v, n, num, den));
	struct law l = law_dgauss(0.5625);
	double mu2 = law_moment(&l, 2), mu4 = law_moment(&l, 4);
	law_finish(&l);
	double s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		double z = (double)(v[i] - ((int64_t)i - 1000));
		s1 += z;
		s2 += z * z;
	}
	CHECK_NEAR(mu2, 0.562123714371284, 1e-12);
	CHECK_NEAR(s1 / n, 0, Z_TAIL * sqrt(mu2 / n));
	CHECK_NEAR(s2 / n, mu2, Z_TAIL * sqrt((mu4 - mu2 * mu2) / n));
	int64_t w[3] = {1, INT64_C(1) << 62, 3};
	CHECK_OK(fb_noise_add_discrete_gaussian_i64(g, w, 3, num, den));
	int64_t big[2] = {0, (INT64_C(1) << 62) + 1};
	CHECK_ERR(fb_noise_add_discrete_gaussian_i64(g, big, 2, num, den),
			FB_EINVAL);
	CHECK(big[0] == 0 && big[1] == (INT64_C(1) << 62) + 1);
	CHECK_ERR(fb_noise_add_discrete_gaussian_i64(g, NULL, 2, num, den),
			FB_EINVAL);
	CHECK_ERR(fb_noise_add_discrete_gaussian_i64(g, w, 3, 0, 1), FB_EINVAL);
	free(v);
	fb_noise_destroy(g);
}

TEST(integer_api_moments_and_saturation)
{
	struct fb_noise *g = seeded(10);
	const size_t n = 200000;
	int32_t *v = calloc(n, sizeof(*v));
	CHECK(v != NULL);
	size_t sat = 99;
	CHECK_OK(fb_noise_add_discrete_gaussian_i32(g, v, n, 9, 1, &sat));
	CHECK(sat == 0);
	int64_t *xs = draws(n);
	for (size_t i = 0; i < n; i++) {
		xs[i] = v[i];
	}
	struct law l = law_dgauss(9);
	check_law(&l, xs, n, "i32 N_Z(0, 9)");
	law_finish(&l);
	free(xs);
	// Near the top, about half the sums saturate, none wraps.
	const size_t m = 20000;
	for (size_t i = 0; i < m; i++) {
		v[i] = i % 2 ? INT32_MAX : INT32_MIN + 1;
	}
	CHECK_OK(fb_noise_add_discrete_gaussian_i32(g, v, m, 100, 1, &sat));
	size_t top = 0, bottom = 0;
	for (size_t i = 0; i < m; i++) {
		if (i % 2) {
			CHECK(v[i] > INT32_MAX - 100);
			top += v[i] == INT32_MAX;
		} else {
			CHECK(v[i] < INT32_MIN + 100);
			bottom += v[i] == INT32_MIN;
		}
	}
	// N_Z(0, 100): P[0] = 0.0398942, P[1] = 0.0396953 (Python). At the top
	// z > 0 saturates and z >= 0 ends at INT32_MAX: 0.480053 and 0.519947
	// of 10000; at the bottom z <= -2 saturates (0.440358) and z <= -1
	// ends at INT32_MIN (0.480053). Tolerance: 5 standard deviations.
	CHECK_NEAR((double)sat, 10000 * (0.480053 + 0.440358), 355);
	CHECK_NEAR((double)top, 5199.47, 250);
	CHECK_NEAR((double)bottom, 4800.53, 250);
	CHECK_ERR(fb_noise_add_discrete_gaussian_i32(g, v, m, 0, 1, NULL),
			FB_EINVAL);
	CHECK_ERR(fb_noise_add_discrete_gaussian_i32(g, NULL, m, 1, 1, NULL),
			FB_EINVAL);
	free(v);
	fb_noise_destroy(g);
}

TEST(seeded_is_reproducible_and_not_private)
{
	struct fb_noise *a = seeded(11), *b = seeded(11), *c = seeded(12);
	CHECK(!fb_noise_is_private(a));
	int differ = 0;
	for (int i = 0; i < 20000; i++) {
		int64_t x, y, z;
		CHECK_OK(fb_noise_discrete_gaussian(a, 100, 1, &x));
		CHECK_OK(fb_noise_discrete_gaussian(b, 100, 1, &y));
		CHECK_OK(fb_noise_discrete_gaussian(c, 100, 1, &z));
		CHECK(x == y);
		differ += x != z;
	}
	CHECK(differ > 19000);
	// Across many keystream blocks (fast key erasure) too.
	static uint8_t ba[1 << 20], bb[1 << 20];
	for (int i = 0; i < 8; i++) {
		fb_noise_fill(a, ba, sizeof(ba));
		fb_noise_fill(b, bb, sizeof(bb));
		CHECK(memcmp(ba, bb, sizeof(ba)) == 0);
	}
	CHECK(fb_noise_u64(a) == fb_noise_u64(b));
	fb_noise_destroy(a);
	fb_noise_destroy(b);
	fb_noise_destroy(c);
}

TEST(secure_mode_differs_and_is_private)
{
	struct fb_noise *a = NULL, *b = NULL;
	CHECK_OK(fb_noise_create(&a));
	CHECK_OK(fb_noise_create(&b));
	CHECK(fb_noise_is_private(a) && fb_noise_is_private(b));
	CHECK(!fb_noise_is_private(NULL));
	int same = 0;
	for (int i = 0; i < 4; i++) {
		same += fb_noise_u64(a) == fb_noise_u64(b);
	}
	CHECK(same == 0);
	// Loose statistics on the secure stream: N_Z(0, 9), 200k draws.
	const size_t n = 200000;
	double s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		CHECK_OK(fb_noise_discrete_gaussian(a, 9, 1, &x));
		s1 += (double)x;
		s2 += (double)(x * x);
	}
	CHECK_NEAR(s1 / n, 0, 0.05);
	CHECK_NEAR(s2 / n, 9, 0.3);
	fb_noise_destroy(a);
	fb_noise_destroy(b);
}

TEST(secure_mode_rekeys_past_2_30_bytes)
{
	struct fb_noise *a = NULL;
	CHECK_OK(fb_noise_create(&a));
	static uint8_t buf[1 << 20];
	uint64_t ones = 0;
	while (fb_noise_stream_bytes(a) < FB_NOISE_REKEY_BYTES + (1 << 21)) {
		fb_noise_fill(a, buf, sizeof(buf));
	}
	for (size_t i = 0; i < sizeof(buf); i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, 8);
		for (; w != 0; w &= w - 1) {
			ones++;
		}
	}
	// 2^23 bits, half ones: 4194304 +- 5 * 1448.
	CHECK_NEAR((double)ones, 4194304.0, 7300);
	int64_t x;
	CHECK_OK(fb_noise_discrete_gaussian(a, 9, 1, &x));
	fb_noise_destroy(a);
}

TEST(argument_validation)
{
	struct fb_noise *g = seeded(13);
	int64_t x = 12345;
	bool b;
	uint64_t u;
	CHECK_ERR(fb_noise_discrete_gaussian(g, 0, 1, &x), FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_gaussian(g, 1, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_gaussian(
				  g, FB_NOISE_SIGMA2_NUM_MAX + 1, 1, &x),
			FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_gaussian(
				  g, 1, FB_NOISE_SIGMA2_DEN_MAX + 1, &x),
			FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_gaussian(g, 1, 1, NULL), FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_gaussian(NULL, 1, 1, &x), FB_EINVAL);
	CHECK(x == 12345); // out-parameters written only on success
	CHECK_ERR(fb_noise_discrete_gaussian(g, 3, 0, &x), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "sigma^2 = 3/0");
	CHECK_ERR(fb_noise_discrete_laplace(g, 0, 1, &x), FB_EINVAL);
	CHECK_ERR(fb_noise_discrete_laplace(g, 1, FB_NOISE_LAPLACE_MAX + 1, &x),
			FB_EINVAL);
	CHECK_ERR(fb_noise_bernoulli(g, 2, 1, &b), FB_EINVAL);
	CHECK_ERR(fb_noise_bernoulli(g, 0, 0, &b), FB_EINVAL);
	CHECK_ERR(fb_noise_bernoulli_exp(g, 1, 0, &b), FB_EINVAL);
	CHECK_ERR(fb_noise_uniform(g, 0, &u), FB_EINVAL);
	CHECK_ERR(fb_noise_create_seeded(&g, NULL), FB_EINVAL);
	CHECK_ERR(fb_noise_create(NULL), FB_EINVAL);
	// The bounds themselves are accepted.
	CHECK_OK(fb_noise_discrete_gaussian(g, FB_NOISE_SIGMA2_NUM_MAX,
			FB_NOISE_SIGMA2_DEN_MAX, &x));
	CHECK_OK(fb_noise_discrete_laplace(
			g, FB_NOISE_LAPLACE_MAX, FB_NOISE_LAPLACE_MAX, &x));
	fb_noise_destroy(g);
	fb_noise_destroy(NULL);
}

TEST(tau_of_shared_noise)
{
	// 10 exp(-pi^2) and 10 (exp(-pi^2/4) + exp(-pi^2/3)), from Python.
	CHECK(fb_noise_dgauss_tau(1.0, 1) == 0.0);
	// Relative tolerance 1e-11: the result is rounded up by 2^-40.
	CHECK_NEAR(fb_noise_dgauss_tau(1.0, 2) / 5.172318620381233e-4, 1,
			1e-11);
	CHECK_NEAR(fb_noise_dgauss_tau(0.5, 3) / 1.2206373471865504, 1, 1e-11);
	CHECK_NEAR(fb_noise_dgauss_tau(2.0, 2) / 7.157165835186059e-17, 1,
			1e-11);
	// Never below the exact sum; the documented bound holds.
	CHECK(fb_noise_dgauss_tau(1.0, 2) >= 5.172318620381233e-4);
	double t = fb_noise_dgauss_tau(2.0, UINT64_C(1) << 40);
	CHECK(t > 0 && t <= 10 * 0x1p40 * exp(-4 * 9.8696044010893586));
	CHECK(isnan(fb_noise_dgauss_tau(0.0, 2)));
}

int
main(void)
{
	if (sodium_init() < 0) {
		HARNESS_SKIP_ALL("libsodium failed to initialise");
	}
	RUN(bernoulli_rational_frequencies);
	RUN(uniform_below_is_uniform);
	RUN(bernoulli_exp_frequencies);
	RUN(discrete_laplace_law);
	RUN(discrete_gaussian_law);
	RUN(discrete_gaussian_small_sigma_variance_below_sigma2);
	RUN(discrete_gaussian_wide_arithmetic);
	RUN(sigma2_rational_rounds_up);
	RUN(i64_noise_moments_and_bad_input);
	RUN(integer_api_moments_and_saturation);
	RUN(seeded_is_reproducible_and_not_private);
	RUN(secure_mode_differs_and_is_private);
	RUN(secure_mode_rekeys_past_2_30_bytes);
	RUN(argument_validation);
	RUN(tau_of_shared_noise);
	return harness_done();
}
