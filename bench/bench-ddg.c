// bench/bench-ddg.c: the privacy a retailer gets from distributed noise
// under secure aggregation against per-retailer noise, for Youshu-sized
// user-level releases (docs/benchmarks.md, "Distributed noise"): 42,939
// coordinates on the grid fb_dp_grid_for chooses, clip 1, Poisson rate
// 0.25, 120 releases, delta 1e-6, from the implemented accountant
// (fb_acct_add_ddg). Table 1 holds the accuracy fixed (the std of the
// noise in the aggregate); table 2 holds the privacy fixed and prints the
// noise the aggregate carries.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/dp.h"

#define DIM 42939
#define STEPS 120
#define Q 0.25
#define DELTA 1e-6
#define CLIP 1.0

static void
die(fb_err err, const char *what)
{
	fprintf(stderr, "bench-ddg: %s: %s: %s\n", what, fb_strerror(err),
			fb_last_error(err));
	exit(1);
}

// A release on the grid of noise std (times clip): s total grid steps,
// shared by n clients, n_honest of them honest.
static struct fb_acct_ddg
release(double std, uint64_t n, uint64_t n_honest)
{
	double g = ldexp(1.0, fb_dp_grid_for(std, CLIP));
	return (struct fb_acct_ddg){
			.q = Q,
			.sigma_share = std / g / sqrt((double)n),
			.n_honest = n_honest,
			.l2 = CLIP / g,
			.l1 = 0,
			.dim = DIM,
	};
}

static double
eps_ddg(enum fb_acct_kind kind, const struct fb_acct_ddg *m)
{
	double e;
	fb_err err = fb_acct_ddg_epsilon_for(kind, m, STEPS, DELTA, &e);
	if (err != FB_OK) {
		die(err, "epsilon");
	}
	return e;
}

static double
eps_alone(enum fb_acct_kind kind, const struct fb_acct_ddg *m)
{
	double e;
	fb_err err = fb_acct_ddg_alone_epsilon(kind, m, STEPS, DELTA, &e);
	if (err != FB_OK) {
		die(err, "alone");
	}
	return e;
}

static void
equal_accuracy(enum fb_acct_kind kind)
{
	static const double targets[] = {1, 2, 4, 8};
	static const uint64_t ns[] = {4, 16, 100};
	printf("\n%s: the aggregate's noise fixed at the central sigma of "
	       "the target\n",
			fb_acct_kind_name(kind));
	printf("%6s %8s %4s %20s %12s %12s\n", "target", "sigma", "n",
			"per-retailer = alone", "ddg h=n", "ddg h=n/2");
	for (size_t t = 0; t < 4; t++) {
		struct fb_acct_grid g0 = {DIM, 0x1p26};
		double sigma;
		fb_err err = fb_acct_calibrate_sigma(
				kind, Q, STEPS, &g0, targets[t], DELTA, &sigma);
		if (err != FB_OK) {
			die(err, "calibrate");
		}
		for (size_t i = 0; i < 3; i++) {
			uint64_t n = ns[i];
			struct fb_acct_ddg all = release(sigma * CLIP, n, n);
			struct fb_acct_ddg half =
					release(sigma * CLIP, n, n / 2);
			// Today each retailer adds the same std with no secure
			// aggregation: its epsilon is that of its own noise,
			// which is also what a retailer keeps alone under ddg.
			double alone = eps_alone(kind, &all);
			printf("%6g %8.4g %4llu %20.4g %12.4g %12.4g\n",
					targets[t], sigma,
					(unsigned long long)n, alone,
					eps_ddg(kind, &all),
					eps_ddg(kind, &half));
		}
	}
}

static void
equal_privacy(enum fb_acct_kind kind)
{
	static const uint64_t ns[] = {4, 16, 100};
	const double target = 8;
	printf("\n%s: epsilon %g for every retailer; std of the aggregate's "
	       "noise (sum of n updates, clip 1)\n",
			fb_acct_kind_name(kind), target);
	printf("%4s %14s %12s %12s\n", "n", "per-retailer", "ddg h=n",
			"ddg h=n/2");
	double sigma;
	fb_err err = fb_acct_calibrate_sigma(
			kind, Q, STEPS, NULL, target, DELTA, &sigma);
	if (err != FB_OK) {
		die(err, "calibrate");
	}
	for (size_t i = 0; i < 3; i++) {
		uint64_t n = ns[i];
		double agg[2];
		for (int h = 0; h < 2; h++) {
			struct fb_acct_ddg m = release(sigma * CLIP, n, n);
			m.n_honest = h == 0 ? n : n / 2;
			double share;
			err = fb_acct_calibrate_ddg_share(
					kind, &m, STEPS, target, DELTA, &share);
			if (err != FB_OK) {
				die(err, "calibrate share");
			}
			// All n add their share: the aggregate carries sqrt(n).
			agg[h] = share * sqrt((double)n) / m.l2 * CLIP;
		}
		printf("%4llu %14.4g %12.4g %12.4g\n", (unsigned long long)n,
				sigma * sqrt((double)n), agg[0], agg[1]);
	}
}

int
main(void)
{
	printf("distributed discrete Gaussian vs per-retailer noise: "
	       "%d coordinates, clip %g, q %g, %d releases, delta %g\n",
			DIM, CLIP, Q, STEPS, DELTA);
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_PLD : FB_ACCT_RDP;
		equal_accuracy(kind);
		equal_privacy(kind);
	}
	return 0;
}
