// bench/bench-accountant.c: how long the privacy accountants take: epsilon
// of 1, 100 and 10^4 (and 10^6) steps of the subsampled Gaussian by RDP and
// by PLD, a heterogeneous PLD composition, and calibrations. Times are
// medians of several runs of the whole public call (wall clock).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/clock.h"

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	return v[n / 2];
}

int
main(void)
{
	const double q = 256.0 / 60000, sigma = 1.1, delta = 1e-5;
	static const uint64_t steps[] = {1, 100, 10000, 1000000};
	printf("accountant bench: q = %.6g, sigma = %g, delta = %g\n", q, sigma,
			delta);
	printf("%-34s %12s %12s\n", "operation", "median ms", "epsilon");
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		for (int i = 0; i < 4; i++) {
			double t[7], eps = 0;
			int reps = kind == FB_ACCT_RDP ? 7 : 5;
			for (int r = 0; r < reps; r++) {
				double t0 = fb_clock_s();
				fb_err err = fb_acct_epsilon_for(kind, q, sigma,
						steps[i], delta, &eps);
				t[r] = fb_clock_s() - t0;
				if (err != FB_OK) {
					fprintf(stderr, "bench: %s\n",
							fb_last_error(err));
					return 1;
				}
			}
			char name[64];
			snprintf(name, sizeof(name), "%s epsilon, %llu steps",
					fb_acct_kind_name(kind),
					(unsigned long long)steps[i]);
			printf("%-34s %12.3f %12.6f\n", name,
					1e3 * median(t, reps), eps);
		}
	}
	// Heterogeneous: 10 entries of different sigma, 1000 steps each.
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		double t[5], eps = 0;
		for (int r = 0; r < 5; r++) {
			double t0 = fb_clock_s();
			struct fb_acct *a = NULL;
			fb_err err = fb_acct_create(&a, kind);
			for (int e = 0; e < 10 && err == FB_OK; e++) {
				err = fb_acct_add(a, q, 0.9 + 0.05 * e, 1000);
			}
			if (err == FB_OK) {
				err = fb_acct_epsilon(a, delta, &eps);
			}
			fb_acct_destroy(a);
			t[r] = fb_clock_s() - t0;
			if (err != FB_OK) {
				fprintf(stderr, "bench: %s\n",
						fb_last_error(err));
				return 1;
			}
		}
		char name[64];
		snprintf(name, sizeof(name), "%s 10 entries x 1000 steps",
				fb_acct_kind_name(kind));
		printf("%-34s %12.3f %12.6f\n", name, 1e3 * median(t, 5), eps);
	}
	printf("%-34s %12s %12s\n", "calibration (eps 3, 14063 steps)",
			"median ms", "sigma");
	for (int k = 0; k < 2; k++) {
		enum fb_acct_kind kind = k == 0 ? FB_ACCT_RDP : FB_ACCT_PLD;
		double t[3], s = 0;
		for (int r = 0; r < 3; r++) {
			double t0 = fb_clock_s();
			fb_err err = fb_acct_calibrate_sigma(
					kind, q, 14063, NULL, 3.0, delta, &s);
			t[r] = fb_clock_s() - t0;
			if (err != FB_OK) {
				fprintf(stderr, "bench: %s\n",
						fb_last_error(err));
				return 1;
			}
		}
		char name[64];
		snprintf(name, sizeof(name), "%s calibrate sigma",
				fb_acct_kind_name(kind));
		printf("%-34s %12.3f %12.6f\n", name, 1e3 * median(t, 3), s);
	}
	return 0;
}
