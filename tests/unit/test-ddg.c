// tests/unit/test-ddg.c: the accounting of distributed discrete Gaussian
// noise (accountant.h, fb_acct_add_ddg): both bounds against a brute-force
// Renyi divergence of the exact sum distribution (1-D, small shares), the
// reductions to one discrete Gaussian and to the continuous Gaussian,
// monotonicity, calibration and input validation. docs/privacy.md 4a.
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/noise.h"
#include "harness.h"

// --- brute force: the exact pmf of a sum of discrete Gaussians ---

// Support [-BF_M, BF_M]: shares of std <= 1, at most 5 of them, so the
// sum's std is <= 2.3 and the mass beyond 60 is below e^-680.
#define BF_M 60
#define BF_N (2 * BF_M + 1)

static double
lse2(double a, double b)
{
	if (a == -INFINITY) {
		return b;
	}
	if (b == -INFINITY) {
		return a;
	}
	double hi = a > b ? a : b;
	return hi + log(exp(a - hi) + exp(b - hi));
}

// log pmf of N_Z(0, s^2) on the support.
static void
bf_dgauss(double s, double *lp)
{
	double z = -INFINITY;
	for (int k = -BF_M; k <= BF_M; k++) {
		lp[k + BF_M] = -(double)k * k / (2 * s * s);
		z = lse2(z, lp[k + BF_M]);
	}
	for (int i = 0; i < BF_N; i++) {
		lp[i] -= z;
	}
}

// out = a * b (convolution in log space, truncated to the support).
static void
bf_conv(const double *a, const double *b, double *out)
{
	for (int k = -BF_M; k <= BF_M; k++) {
		double acc = -INFINITY;
		for (int j = -BF_M; j <= BF_M; j++) {
			int i = k - j;
			if (i >= -BF_M && i <= BF_M) {
				acc = lse2(acc, a[j + BF_M] + b[i + BF_M]);
			}
		}
		out[k + BF_M] = acc;
	}
}

// log pmf of the sum of n shares N_Z(0, s^2).
static void
bf_sum(double s, int n, double *out)
{
	double one[BF_N], tmp[BF_N];
	bf_dgauss(s, one);
	for (int i = 0; i < BF_N; i++) {
		out[i] = one[i];
	}
	for (int k = 1; k < n; k++) {
		bf_conv(out, one, tmp);
		for (int i = 0; i < BF_N; i++) {
			out[i] = tmp[i];
		}
	}
}

// log of the Poisson-sampled output: (1-q) P(x) + q P(x - shift).
static double
bf_mix(const double *lp, int x, int shift, double q)
{
	double a = log1p(-q) + lp[x + BF_M];
	int y = x - shift;
	if (y < -BF_M || y > BF_M || q == 0) {
		return a;
	}
	return q == 1 ? lp[y + BF_M] : lse2(a, log(q) + lp[y + BF_M]);
}

// D_alpha(P || Q) over x in [-BF_M + shift, BF_M], P the sampled output
// (rate q, shift) and Q the plain sum, or the reverse if reverse.
static double
bf_renyi(const double *lp, int shift, double q, double alpha, int reverse)
{
	double acc = -INFINITY;
	for (int x = -BF_M + shift; x <= BF_M; x++) {
		double lmix = bf_mix(lp, x, shift, q), lpl = lp[x + BF_M];
		double lP = reverse ? lpl : lmix, lQ = reverse ? lmix : lpl;
		acc = lse2(acc, alpha * lP + (1 - alpha) * lQ);
	}
	return acc / (alpha - 1);
}

static struct fb_acct_ddg
ddg(double q, double s, uint64_t n, double l2, uint64_t dim)
{
	return (struct fb_acct_ddg){
			.q = q,
			.sigma_share = s,
			.n_honest = n,
			.l2 = l2,
			.l1 = 0,
			.dim = dim,
	};
}

// The theorem's bound is never below the true Renyi divergence of the
// sum, in 1-D where it is computable exactly; the shares are small enough
// that the sum is visibly NOT a discrete Gaussian (checked: its divergence
// exceeds the Gaussian value alpha D^2 / (2V), so a bound without tau
// would fail here).
TEST(kls_bound_above_brute_force)
{
	static const double sig[] = {0.5, 0.6, 0.8, 1.0};
	static const double alphas[] = {1.5, 2, 4, 8, 16};
	double worst_excess = 0; // max of bf - Gaussian value
	for (size_t si = 0; si < 4; si++) {
		for (int n = 2; n <= 5; n++) {
			double lp[BF_N];
			bf_sum(sig[si], n, lp);
			double v = n * sig[si] * sig[si];
			for (int d = 1; d <= 2; d++) {
				struct fb_acct_ddg m = ddg(
						1, sig[si], (uint64_t)n, d, 1);
				m.l1 = d;
				for (size_t ai = 0; ai < 5; ai++) {
					double a = alphas[ai], bound;
					CHECK_OK(fb_acct_ddg_rdp(
							&m, a, &bound));
					double bf = bf_renyi(lp, d, 1, a, 0);
					if (!(bf <= bound)) {
						HARNESS_FAIL("s %g n %d D %d alpha %g: "
							     "true %.9g > bound %.9g",
								sig[si], n, d,
								a, bf, bound);
					}
					double g = a * d * d / (2 * v);
					if (bf - g > worst_excess) {
						worst_excess = bf - g;
					}
				}
			}
		}
	}
	printf("# largest excess of the sum over the Gaussian value: %g\n",
			worst_excess);
	CHECK(worst_excess > 0.05);
}

// With Poisson sampling (rate q, integer orders): the mixture against the
// plain sum in both directions stays below the Zhu-Wang bound on KLS.
TEST(kls_sampled_above_brute_force)
{
	static const double sig[] = {0.5, 0.8};
	static const double qs[] = {0.1, 0.5, 0.9};
	static const double alphas[] = {2, 3, 4, 8, 16};
	for (size_t si = 0; si < 2; si++) {
		for (int n = 2; n <= 4; n++) {
			double lp[BF_N];
			bf_sum(sig[si], n, lp);
			for (size_t qi = 0; qi < 3; qi++) {
				struct fb_acct_ddg m = ddg(qs[qi], sig[si],
						(uint64_t)n, 1, 1);
				m.l1 = 1;
				for (size_t ai = 0; ai < 5; ai++) {
					double a = alphas[ai], bound;
					CHECK_OK(fb_acct_ddg_rdp(
							&m, a, &bound));
					for (int rev = 0; rev <= 1; rev++) {
						double bf = bf_renyi(lp, 1,
								qs[qi], a, rev);
						if (!(bf <= bound)) {
							HARNESS_FAIL("s %g n %d q %g alpha %g "
								     "rev %d: %.9g > %.9g",
									sig[si],
									n,
									qs[qi],
									a, rev,
									bf,
									bound);
						}
					}
				}
			}
		}
	}
}

// The coupling route's lemma: the sum's pmf is within e^(+-A) of the
// discrete Gaussian with the summed variance, at every integer.
TEST(ratio_bound_above_brute_force)
{
	static const double sig[] = {0.5, 0.6, 0.8, 1.0, 1.5};
	for (size_t si = 0; si < 5; si++) {
		for (int n = 1; n <= 5; n++) {
			double lp[BF_N], ref[BF_N];
			bf_sum(sig[si], n, lp);
			bf_dgauss(sig[si] * sqrt((double)n), ref);
			double worst = 0;
			for (int i = 0; i < BF_N; i++) {
				if (ref[i] > -600) {
					double r = fabs(lp[i] - ref[i]);
					worst = r > worst ? r : worst;
				}
			}
			double a = fb_acct_ddg_ratio(sig[si], (uint64_t)n);
			if (!(worst <= a)) {
				HARNESS_FAIL("s %g n %d: log-ratio %.9g > A %.9g",
						sig[si], n, worst, a);
			}
			if (n == 1) {
				CHECK(a == 0);
			}
		}
	}
	CHECK(isnan(fb_acct_ddg_ratio(0.49, 2)));
	CHECK(isnan(fb_acct_ddg_ratio(1, 0)));
	// Past 2^20 terms the rest is bounded by the last term computed,
	// which is above every later one (the terms decrease in k).
	double a20 = fb_acct_ddg_ratio(0.5, (UINT64_C(1) << 20) + 1);
	double a21 = fb_acct_ddg_ratio(0.5, (UINT64_C(1) << 21) + 1);
	CHECK(a21 >= 2 * a20 * 0.999);
}

// Zhu-Wang on the one-share curve (tau = 0, the Gaussian's alpha /
// (2 sigma^2)) is a bound for any mechanism with that curve, so never
// below the exact sampled Gaussian's RDP (fb_acct_rdp).
TEST(zhu_wang_above_exact_sampled_gaussian)
{
	static const double qs[] = {0.01, 0.25, 0.5, 0.9};
	static const double sigs[] = {0.7, 1.5, 4};
	static const double alphas[] = {2, 3, 5, 10, 32, 128};
	for (size_t qi = 0; qi < 4; qi++) {
		for (size_t si = 0; si < 3; si++) {
			struct fb_acct_ddg m = ddg(
					qs[qi], sigs[si] * 1000, 1, 1000, 1);
			for (size_t ai = 0; ai < 6; ai++) {
				double zw, exact;
				CHECK_OK(fb_acct_ddg_rdp(&m, alphas[ai], &zw));
				CHECK_OK(fb_acct_rdp(qs[qi], sigs[si],
						alphas[ai], &exact));
				CHECK(zw >= exact * (1 - 1e-12));
				// and never above the unsampled value
				CHECK(zw <= alphas[ai] / (2 * sigs[si] * sigs[si]) *
								(1 + 1e-11));
			}
		}
	}
	// Fractional orders are not covered by Theorem 5: for q < 1 they get
	// the unsampled value (sampling never hurts: joint convexity).
	struct fb_acct_ddg m = ddg(0.25, 3, 4, 1, 10);
	double r, r1, r3;
	CHECK_OK(fb_acct_ddg_rdp(&m, 2.5, &r));
	CHECK_OK(fb_acct_ddg_rdp(&m, 3, &r3));
	m.q = 1;
	CHECK_OK(fb_acct_ddg_rdp(&m, 2.5, &r1));
	CHECK(r == r1);
	CHECK_OK(fb_acct_ddg_rdp(&m, 3, &r1));
	CHECK(r3 < r1);
}

// (a) One honest share is one discrete Gaussian: the PLD kind gives
// exactly the existing single-noise accounting, the RDP kind at q = 1
// the continuous Gaussian's RDP (CKS 2020 Thm 14) and at q < 1 never less
// than the continuous accountant nor more than the existing one.
TEST(one_share_is_one_discrete_gaussian)
{
	const double l2 = 0x1p20, s = 1.3 * 0x1p20, delta = 1e-6;
	const uint64_t dim = 42939, steps = 40;
	for (int qi = 0; qi < 2; qi++) {
		double q = qi == 0 ? 1.0 : 0.25;
		struct fb_acct_ddg m = ddg(q, s, 1, l2, dim);
		struct fb_acct_grid g = {dim, s};
		for (int k = 0; k < 2; k++) {
			enum fb_acct_kind kind =
					k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
			struct fb_acct *a = NULL;
			CHECK_OK(fb_acct_create(&a, kind));
			CHECK_OK(fb_acct_add(a, q, s / l2, steps));
			CHECK_OK(fb_acct_add_grid(a, &g, steps));
			double old, cont, e, alone;
			CHECK_OK(fb_acct_epsilon(a, delta, &old));
			fb_acct_destroy(a);
			CHECK_OK(fb_acct_epsilon_for(
					kind, q, s / l2, steps, delta, &cont));
			CHECK_OK(fb_acct_ddg_epsilon_for(
					kind, &m, steps, delta, &e));
			CHECK_OK(fb_acct_ddg_alone_epsilon(
					kind, &m, steps, delta, &alone));
			CHECK(alone == e);
			printf("# n=1 q=%g %s: ddg %.9g, single DG %.9g, "
			       "continuous %.9g\n",
					q, fb_acct_kind_name(kind), e, old,
					cont);
			if (kind == FB_ACCT_PLD) {
				CHECK(e == old);
			} else if (q == 1) {
				CHECK_NEAR(e / cont, 1, 1e-11);
			} else {
				CHECK(e <= old && e >= cont * (1 - 1e-12));
			}
		}
	}
}

// (b) Large shares: the epsilon of the sum approaches that of a continuous
// Gaussian with the summed variance. RDP: the same conversion, so equal
// once tau * dim underflows (sigma_share >= 4: tau < 1e-60); PLD: within
// 0.3% of the exact (Balle-Wang) value and never below it (the PLD
// discretisation is within 0.2%, docs/privacy.md section 4, and the grid
// terms add about 1e-7 here).
TEST(large_shares_approach_continuous)
{
	const uint64_t n = 16, dim = 42939, steps = 120;
	const double delta = 1e-6, sigma = 8; // central noise multiplier
	double prev_gap = INFINITY;
	static const double shares[] = {1, 2, 4, 0x1p24};
	for (size_t i = 0; i < 4; i++) {
		double s = shares[i];
		double l2 = sqrt((double)n) * s / sigma;
		struct fb_acct_ddg m = ddg(1, s, n, l2, dim);
		double e, cont;
		CHECK_OK(fb_acct_ddg_epsilon_for(
				FB_ACCT_RDP, &m, steps, delta, &e));
		CHECK_OK(fb_acct_epsilon_for(
				FB_ACCT_RDP, 1, sigma, steps, delta, &cont));
		double gap = e - cont;
		printf("# share %g: RDP eps %.9g vs continuous %.9g\n", s, e,
				cont);
		CHECK(gap >= -1e-12 * cont);
		CHECK(gap <= prev_gap);
		prev_gap = gap;
		if (s >= 4) {
			CHECK_NEAR(e / cont, 1, 1e-11);
		}
	}
	double exact, e;
	CHECK_OK(fb_acct_gaussian_epsilon(
			sigma / sqrt((double)steps), delta, &exact));
	struct fb_acct_ddg m = ddg(1, 0x1p24, n, 4 * 0x1p24 / sigma, dim);
	CHECK_OK(fb_acct_ddg_epsilon_for(FB_ACCT_PLD, &m, steps, delta, &e));
	printf("# share 2^24: PLD eps %.9g vs exact %.9g\n", e, exact);
	CHECK(e >= exact);
	CHECK(e <= exact * 1.003);
}

// (c) More honest shares or larger shares never raise epsilon (shares of
// 2 grid steps and more, where tau is below 1e-15; for shares below about
// 1 grid step the theorem's tau grows with n faster than the Gaussian
// term falls and the bound, not the mechanism, stops being monotone).
TEST(monotone_in_n_and_sigma)
{
	static const uint64_t ns[] = {1, 2, 4, 16, 100, 1000};
	static const double shares[] = {2, 8, 64};
	const double delta = 1e-6;
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		// The PLD kind bounds the discrete noise by its coupling with
		// the continuous one, whose terms need shares of many grid
		// steps: the same noise multipliers on a 2^12 times finer grid.
		double scale = k == 0 ? 1 : 0x1p12;
		for (int qi = 0; qi < 2; qi++) {
			double q = qi == 0 ? 1 : 0.25;
			double prev_s = INFINITY;
			for (size_t si = 0; si < 3; si++) {
				double prev_n = INFINITY;
				for (size_t ni = 0; ni < 6; ni++) {
					struct fb_acct_ddg m = ddg(q,
							shares[si] * scale,
							ns[ni], 4 * scale, 10);
					double e;
					CHECK_OK(fb_acct_ddg_epsilon_for(kind,
							&m, 10, delta, &e));
					CHECK(e < prev_n);
					prev_n = e;
					if (ni == 2) {
						CHECK(e < prev_s);
						prev_s = e;
					}
				}
			}
		}
	}
}

// 3. Calibration: the share found meets the target, 0.1% less does not,
// and for large shares it is the central calibration over sqrt(n).
TEST(calibrate_share_round_trip)
{
	const double delta = 1e-6, l2 = 0x1p20;
	const uint64_t dim = 42939, steps = 120;
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		static const uint64_t ns[] = {1, 4, 100};
		for (size_t ni = 0; ni < 3; ni++) {
			struct fb_acct_ddg m = ddg(0.25, 1, ns[ni], l2, dim);
			double s, e, e_lo, central;
			CHECK_OK(fb_acct_calibrate_ddg_share(
					kind, &m, steps, 4.0, delta, &s));
			m.sigma_share = s;
			CHECK_OK(fb_acct_ddg_epsilon_for(
					kind, &m, steps, delta, &e));
			CHECK(e <= 4.0);
			m.sigma_share = s * 0.999;
			CHECK_OK(fb_acct_ddg_epsilon_for(
					kind, &m, steps, delta, &e_lo));
			CHECK(e_lo > 4.0);
			CHECK_OK(fb_acct_calibrate_sigma(kind, 0.25, steps,
					NULL, 4.0, delta, &central));
			double ratio = s * sqrt((double)ns[ni]) / l2 / central;
			printf("# %s n=%llu: share %.6g steps, x sqrt(n) / l2 / "
			       "central = %.6f\n",
					fb_acct_kind_name(kind),
					(unsigned long long)ns[ni], s, ratio);
			CHECK(ratio >= 1 - 1e-4 && ratio <= 1.001);
		}
	}
	// A target no share can reach.
	struct fb_acct_ddg m = ddg(1, 1, 4, 1, 1u << 30);
	double s;
	CHECK_ERR(fb_acct_calibrate_ddg_share(
				  FB_ACCT_RDP, &m, 1000, 1e-6, delta, &s),
			FB_EINVAL);
}

// The epsilon a retailer keeps alone is its share's, far above the one
// under the trust assumption, and equal to per-retailer noise of the same
// std.
TEST(alone_epsilon)
{
	struct fb_acct_ddg m = ddg(0.25, 0x1p24, 16, 0x1p24, 1000);
	double e16, alone;
	CHECK_OK(fb_acct_ddg_epsilon_for(FB_ACCT_PLD, &m, 40, 1e-6, &e16));
	CHECK_OK(fb_acct_ddg_alone_epsilon(FB_ACCT_PLD, &m, 40, 1e-6, &alone));
	CHECK(alone > 3 * e16);
	double single;
	CHECK_OK(fb_acct_epsilon_for(
			FB_ACCT_PLD, 0.25, 1.0, 40, 1e-6, &single));
	CHECK_NEAR(alone / single, 1, 1e-6);
}

TEST(accountant_mixes_entries)
{
	// A DDG release on top of plain ones: epsilon grows, both kinds,
	// the state (entries, steps) records it, and a clone for the budget
	// check sees it.
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		struct fb_acct *a = NULL;
		CHECK_OK(fb_acct_create(&a, kind));
		CHECK_OK(fb_acct_add(a, 0.25, 2.0, 10));
		double e0, e1, e2;
		CHECK_OK(fb_acct_epsilon(a, 1e-6, &e0));
		struct fb_acct_ddg m = ddg(0.25, 100, 4, 100, 50);
		CHECK_OK(fb_acct_add_ddg(a, &m, 10));
		CHECK(fb_acct_total_steps(a) == 20);
		CHECK(fb_acct_count(a) == 1); // sigma 2 both: merged
		CHECK_OK(fb_acct_epsilon(a, 1e-6, &e1));
		CHECK(e1 > e0);
		bool exceed = false;
		CHECK_OK(fb_acct_would_exceed(a, 0.25, 2.0, 10, NULL,
				e1 * 1.0001, 1e-6, &exceed));
		CHECK(exceed);
		CHECK_OK(fb_acct_epsilon(a, 1e-6, &e2));
		CHECK(e2 == e1);
		double d;
		CHECK_OK(fb_acct_delta(a, e1, &d));
		CHECK(d <= 1e-6 * 1.001);
		fb_acct_destroy(a);
	}
	// An accountant of only DDG releases is not empty.
	struct fb_acct *a = NULL;
	CHECK_OK(fb_acct_create(&a, FB_ACCT_RDP));
	struct fb_acct_ddg m = ddg(1, 3, 4, 1, 1);
	CHECK_OK(fb_acct_add_ddg(a, &m, 1));
	double e;
	CHECK_OK(fb_acct_epsilon(a, 1e-6, &e));
	CHECK(e > 0);
	fb_acct_destroy(a);
}

// The budget check for distributed-noise releases agrees with adding
// them: on top of plain and ddg entries, k releases exceed a budget just
// below the epsilon they reach and fit one just above it; the accountant
// is left as it was. The plain check at the equivalent central sigma
// misses the grid's terms and says they fit the lower budget.
TEST(would_exceed_ddg_matches_adding)
{
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		struct fb_acct *a = NULL, *b = NULL;
		CHECK_OK(fb_acct_create(&a, kind));
		CHECK_OK(fb_acct_create(&b, kind));
		struct fb_acct_ddg m = ddg(0.25, 256, 4, 512, 200);
		CHECK_OK(fb_acct_add(a, 0.5, 3.0, 4));
		CHECK_OK(fb_acct_add_ddg(a, &m, 2));
		CHECK_OK(fb_acct_add(b, 0.5, 3.0, 4));
		CHECK_OK(fb_acct_add_ddg(b, &m, 2));
		double e0, e;
		CHECK_OK(fb_acct_epsilon(a, 1e-6, &e0));
		CHECK_OK(fb_acct_add_ddg(b, &m, 5));
		CHECK_OK(fb_acct_epsilon(b, 1e-6, &e));
		bool ex = true;
		CHECK_OK(fb_acct_would_exceed_ddg(
				a, &m, 5, e * (1 + 1e-9), 1e-6, &ex));
		CHECK(!ex);
		CHECK_OK(fb_acct_would_exceed_ddg(
				a, &m, 5, e * (1 - 1e-6), 1e-6, &ex));
		CHECK(ex);
		double e1;
		CHECK_OK(fb_acct_epsilon(a, 1e-6, &e1));
		CHECK(e1 == e0 && fb_acct_total_steps(a) == 6);
		CHECK_OK(fb_acct_would_exceed(a, m.q, fb_acct_ddg_sigma(&m), 5,
				NULL, e * (1 - 1e-6), 1e-6, &ex));
		CHECK(!ex);
		CHECK_ERR(fb_acct_would_exceed_ddg(a, &m, 0, 1, 1e-6, &ex),
				FB_EINVAL);
		CHECK_ERR(fb_acct_would_exceed_ddg(a, &m, 1, 1, 2, &ex),
				FB_EINVAL);
		fb_acct_destroy(a);
		fb_acct_destroy(b);
	}
}

TEST(l1_bound)
{
	CHECK_NEAR(fb_acct_ddg_l1_bound(3, 100), 9, 1e-12);       // l2^2
	CHECK_NEAR(fb_acct_ddg_l1_bound(1000, 100), 10000, 1e-9); // sqrt(d) l2
	CHECK_NEAR(fb_acct_ddg_l1_bound(0.5, 4), 1, 1e-12); // below 1 step
}

TEST(rejects_bad_input)
{
	struct fb_acct *a = NULL;
	CHECK_OK(fb_acct_create(&a, FB_ACCT_RDP));
	struct fb_acct_ddg m = ddg(0.25, 1, 4, 1, 10);
	struct fb_acct_ddg b = m;
	b.sigma_share = 0.49;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.n_honest = 0;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.l2 = 0;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.l1 = 0.5;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.dim = 0;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.q = 0;
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	b = m;
	b.n_honest = 1;
	b.sigma_share = 0.9; // the sum is below one grid step
	CHECK_ERR(fb_acct_add_ddg(a, &b, 1), FB_EINVAL);
	CHECK_ERR(fb_acct_add_ddg(a, &m, 0), FB_EINVAL);
	CHECK(fb_acct_total_steps(a) == 0);
	double r;
	CHECK_ERR(fb_acct_ddg_rdp(&m, 1.0, &r), FB_EINVAL);
	fb_acct_destroy(a);
}

// fb_noise_dgauss_tau past 2^20 terms: the rest is bounded by the last
// term computed (the terms decrease towards exp(-c)); bounding it by
// exp(-c) under-stated tau.
TEST(tau_tail_not_understated)
{
	const double s = 0.5, c = 2 * M_PI * M_PI * s * s;
	double t20 = fb_noise_dgauss_tau(s, (UINT64_C(1) << 20) + 1);
	double t21 = fb_noise_dgauss_tau(s, (UINT64_C(1) << 21) + 1);
	// Each term past 2^20 exceeds exp(-c) (1 + c / (2^21 + 1)).
	double rest = 10 * 0x1p20 * exp(-c) * (1 + c / (0x1p21 + 1));
	CHECK(t21 >= t20 / (1 + 0x1p-40) + rest);
}

int
main(void)
{
	RUN(kls_bound_above_brute_force);
	RUN(kls_sampled_above_brute_force);
	RUN(ratio_bound_above_brute_force);
	RUN(zhu_wang_above_exact_sampled_gaussian);
	RUN(one_share_is_one_discrete_gaussian);
	RUN(large_shares_approach_continuous);
	RUN(monotone_in_n_and_sigma);
	RUN(calibrate_share_round_trip);
	RUN(alone_epsilon);
	RUN(accountant_mixes_entries);
	RUN(would_exceed_ddg_matches_adding);
	RUN(l1_bound);
	RUN(rejects_bad_input);
	RUN(tau_tail_not_understated);
	return harness_done();
}
