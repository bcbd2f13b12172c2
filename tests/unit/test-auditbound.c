// tests/unit/test-auditbound.c: the one-run audit's p-value and lower
// bound (include/fedbundle/privacy/auditbound.h) against values computed another
// way: exact rational arithmetic (Python's fractions.Fraction and
// math.comb summing the same formula term by term, p chosen rational:
// eps = log 3 gives p = 3/4, eps = log 9 gives p = 9/10), closed forms
// (all guesses right: P = p^r), monotonicity, and a Monte Carlo check
// that the bound exceeds the true epsilon of randomized response at most
// a beta share of the time.
#include <math.h>
#include <stdint.h>

#include "fedbundle/privacy/auditbound.h"
#include "fedbundle/util/rng.h"
#include "harness.h"

TEST(binomial_tail_exact)
{
	// sum_{k>=8} C(10,k) / 2^10 = 56 / 1024
	CHECK_NEAR(fb_auditbound_binom_tail(10, 8, 0.5), 56.0 / 1024.0, 1e-14);
	// Fraction: sum_{k>=18} C(20,k) (3/4)^k (1/4)^(20-k)
	CHECK_NEAR(fb_auditbound_binom_tail(20, 18, 0.75), 0.09126043246487825,
			1e-13);
	// A far tail: P[Bin(1000, 1/2) >= 560].
	double t = fb_auditbound_binom_tail(1000, 560, 0.5);
	CHECK(fabs(t / 8.252493527522651e-05 - 1) < 1e-9);
	CHECK(fb_auditbound_binom_tail(5, 0, 0.3) == 1.0);
	CHECK(fb_auditbound_binom_tail(5, 6, 0.3) == 0.0);
	CHECK_NEAR(fb_auditbound_binom_tail(7, 7, 0.9), pow(0.9, 7), 1e-14);
}

TEST(pvalue_exact)
{
	double p;
	// delta 0: the binomial tail with p = e^eps / (1 + e^eps).
	CHECK_OK(fb_auditbound_pvalue(100, 20, 18, log(3.0), 0, &p));
	CHECK(fabs(p / 0.09126043246487825 - 1) < 1e-8);
	// delta > 0: tail + 2 m delta max_i P[v-i <= X < v] / i, exact
	// rational reference.
	CHECK_OK(fb_auditbound_pvalue(100, 20, 18, log(3.0), 1e-3, &p));
	CHECK(fabs(p / 0.12632124725969335 - 1) < 1e-8);
	CHECK_OK(fb_auditbound_pvalue(1000, 50, 45, log(9.0), 1e-5, &p));
	CHECK(fabs(p / 0.6192050844058639 - 1) < 1e-8);
	// Never below the exact value (rounded up).
	CHECK_OK(fb_auditbound_pvalue(100, 20, 18, log(3.0), 0, &p));
	CHECK(p >= 0.09126043246487825);
	// Capped at 1.
	CHECK_OK(fb_auditbound_pvalue(1000, 10, 1, 0, 0.5, &p));
	CHECK(p == 1.0);
}

TEST(pvalue_monotone_in_epsilon)
{
	double prev = 0;
	for (double e = 0; e <= 12; e += 0.125) {
		double p;
		CHECK_OK(fb_auditbound_pvalue(5000, 400, 390, e, 0, &p));
		CHECK(p >= prev);
		prev = p;
	}
}

TEST(epsilon_closed_form)
{
	// Every guess right, delta 0: the bound solves p^r = beta, so
	// p = beta^(1/r) and eps = log(p / (1 - p)).
	uint64_t rs[] = {10, 100, 1000, 10000};
	double betas[] = {0.05, 0.01};
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 2; j++) {
			double p = pow(betas[j], 1.0 / (double)rs[i]);
			double want = log(p /
					-expm1(log(betas[j]) / (double)rs[i]));
			double got;
			CHECK_OK(fb_auditbound_epsilon(rs[i], rs[i], rs[i], 0,
					betas[j], &got));
			CHECK(got <= want);
			CHECK_NEAR(got, want, 1e-6);
			double c;
			CHECK_OK(fb_auditbound_ceiling(
					rs[i], rs[i], 0, betas[j], &c));
			CHECK(c == got);
		}
	}
	// r = 1000, beta = 0.05: 5.809 (p^1000 = 0.05, p = 0.997009).
	double e;
	CHECK_OK(fb_auditbound_epsilon(1000, 1000, 1000, 0, 0.05, &e));
	CHECK_NEAR(e, 5.8091, 1e-3);
}

TEST(epsilon_at_the_bound_rejects_below_and_not_above)
{
	double e, p;
	CHECK_OK(fb_auditbound_epsilon(2000, 300, 280, 1e-6, 0.05, &e));
	CHECK(e > 0);
	CHECK_OK(fb_auditbound_pvalue(2000, 300, 280, e, 1e-6, &p));
	CHECK(p < 0.05);
	CHECK_OK(fb_auditbound_pvalue(2000, 300, 280, e + 1e-5, 1e-6, &p));
	CHECK(p >= 0.05);
}

TEST(epsilon_monotone)
{
	double prev = -1;
	// More correct guesses, a larger bound.
	for (uint64_t v = 100; v <= 200; v += 10) {
		double e;
		CHECK_OK(fb_auditbound_epsilon(1000, 200, v, 1e-6, 0.05, &e));
		CHECK(e >= prev);
		prev = e;
	}
	// More confidence or more delta, a smaller bound.
	double a, b, c;
	CHECK_OK(fb_auditbound_epsilon(1000, 200, 190, 0, 0.05, &a));
	CHECK_OK(fb_auditbound_epsilon(1000, 200, 190, 0, 0.01, &b));
	CHECK_OK(fb_auditbound_epsilon(1000, 200, 190, 1e-4, 0.05, &c));
	CHECK(b < a);
	CHECK(c < a);
	// Guessing at chance rejects nothing.
	CHECK_OK(fb_auditbound_epsilon(1000, 200, 100, 0, 0.05, &a));
	CHECK(a == 0);
}

TEST(bad_arguments)
{
	double x;
	CHECK_ERR(fb_auditbound_pvalue(10, 11, 1, 1, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_pvalue(10, 5, 6, 1, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_pvalue(0, 0, 0, 1, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_pvalue(10, 5, 5, -1, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_pvalue(10, 5, 5, INFINITY, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_pvalue(10, 5, 5, 1, 1.5, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_epsilon(10, 5, 5, 0, 0, &x), FB_EINVAL);
	CHECK_ERR(fb_auditbound_epsilon(10, 5, 5, 0, 1, &x), FB_EINVAL);
}

// Randomized response at eps0 is exactly eps0-DP per canary: each guess is
// right with probability e^eps0 / (1 + e^eps0), independently. The bound
// may exceed eps0 in at most a beta share of runs.
TEST(coverage_of_randomized_response)
{
	struct fb_rng rng;
	fb_rng_seed(&rng, 7, 0xa0d17ULL);
	double eps0 = 1.0, beta = 0.05;
	double p0 = 1.0 / (1.0 + exp(-eps0));
	int runs = 400, above = 0;
	double mean = 0;
	for (int k = 0; k < runs; k++) {
		uint64_t v = 0, r = 300;
		for (uint64_t j = 0; j < r; j++) {
			v += fb_rng_uniform(&rng) < p0;
		}
		double e;
		CHECK_OK(fb_auditbound_epsilon(1000, r, v, 0, beta, &e));
		above += e > eps0;
		mean += e / runs;
	}
	printf("# randomized response eps 1: bound above 1 in %d of %d runs, "
	       "mean bound %.3f\n",
			above, runs, mean);
	CHECK(above <= 30); // beta * runs = 20, plus slack for chance
	CHECK(mean > 0.5);  // and the bound is not vacuous
}

int
main(void)
{
	RUN(binomial_tail_exact);
	RUN(pvalue_exact);
	RUN(pvalue_monotone_in_epsilon);
	RUN(epsilon_closed_form);
	RUN(epsilon_at_the_bound_rejects_below_and_not_above);
	RUN(epsilon_monotone);
	RUN(bad_arguments);
	RUN(coverage_of_randomized_response);
	return harness_done();
}
