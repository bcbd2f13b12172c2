// include/fedbundle/privacy/auditbound.h: the statistics of a one-run privacy
// audit (Steinke, Nasr and Jagielski 2023, "Privacy auditing with one (1)
// training run", Theorem 3 / their Algorithm 2 for (epsilon, delta)).
//
// The game: m canaries, each included in the training data by an
// independent fair coin; after ONE run an auditor guesses "in" or "out"
// for r of them (abstaining on the rest) from the output alone, and v of
// the guesses are right. If the run is (epsilon, delta)-DP with respect to
// each canary, then
//   P[v correct or more] <= P[Bin(r, p) >= v]
//                 + 2 m delta max_{1 <= i <= v} P[v - i <= Bin(r, p) < v] / i
// with p = e^eps / (1 + e^eps) (for delta = 0, the binomial tail alone).
// That right-hand side is the p-value of the hypothesis "(eps, delta)-DP";
// the audit's lower bound is the smallest eps the observation does NOT
// reject at level beta, so that P[lower bound > true epsilon] <= beta.
// Thread-safety: pure functions, callable from any thread.
#ifndef FB_INCLUDE_FEDBUNDLE_AUDITBOUND_H
#define FB_INCLUDE_FEDBUNDLE_AUDITBOUND_H

#include <stdint.h>

#include "fedbundle/util/err.h"

// P[Bin(r, p) >= v] for 0 <= p <= 1, by summing the probability mass
// function in log space (relative error about 1e-12 for r up to 10^7).
// v > r gives 0, v == 0 gives 1.
double fb_auditbound_binom_tail(uint64_t r, uint64_t v, double p);

// The p-value above of v correct guesses out of r among m canaries under
// the hypothesis that the run is (eps, delta)-DP, capped at 1.
// FB_EINVAL unless v <= r <= m, m >= 1, eps >= 0 and finite, delta in
// [0, 1]. The result is rounded up by a relative 1e-9 to cover the
// floating-point error of the sum.
fb_err fb_auditbound_pvalue(uint64_t m, uint64_t r, uint64_t v, double eps,
		double delta, double *out);

// The lower bound: the first eps >= 0 at which the p-value of (m, r, v,
// eps, delta) reaches beta, found by a scan up from 0 in steps of 1/64
// and bisection (to 1e-7, keeping the rejected end) inside the first step
// that reaches it. The delta term is not monotone in eps; taking the first
// crossing on the grid, not the last, keeps the bound from jumping past
// an eps the data do not reject. 0 if even eps = 0 is not rejected; 100
// if nothing up to 100 is.
// FB_EINVAL for the arguments of fb_auditbound_pvalue or beta outside
// (0, 1).
fb_err fb_auditbound_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta,
		double beta, double *out);

// The largest epsilon_lower any audit of m canaries with r guesses can
// report at level beta and delta (every guess right): what the audit can
// detect at all. FB_EINVAL as above.
fb_err fb_auditbound_ceiling(
		uint64_t m, uint64_t r, double delta, double beta, double *out);

#endif
