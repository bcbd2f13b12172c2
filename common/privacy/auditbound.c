// common/privacy/auditbound.c: the p-value and lower bound of a one-run audit
// (include/fedbundle/privacy/auditbound.h; Steinke, Nasr, Jagielski 2023).
// Everything is computed in doubles from the log of the binomial mass
// function: the terms that matter here (p-values near beta, 1e-4 to 0.5)
// have relative error near 1e-12, and terms that underflow are below
// 1e-300, far from any level an audit tests. The p-value is rounded up
// and the bound is taken at the first crossing, so both errors make the
// reported lower bound smaller, never larger.
#include <math.h>

#include "fedbundle/privacy/auditbound.h"

#define EPS_MAX 100.0
#define EPS_STEP (1.0 / 64.0)

// log P[Bin(r, p) = k], with log p and log(1 - p) given (either may be
// -INFINITY for p = 0 or 1).
static double
log_pmf(uint64_t r, uint64_t k, double lp, double lq)
{
	double c = lgamma((double)r + 1) - lgamma((double)k + 1) -
			lgamma((double)(r - k) + 1);
	double a = k > 0 ? (double)k * lp : 0.0;
	double b = r - k > 0 ? (double)(r - k) * lq : 0.0;
	return c + a + b;
}

// The tail and the delta term of the p-value for log p, log(1 - p).
static double
tail_lp(uint64_t r, uint64_t v, double lp, double lq)
{
	if (v == 0) {
		return 1.0;
	}
	if (v > r) {
		return 0.0;
	}
	double s = 0;
	for (uint64_t k = v; k <= r; k++) {
		s += exp(log_pmf(r, k, lp, lq));
	}
	return s < 1.0 ? s : 1.0;
}

double
fb_auditbound_binom_tail(uint64_t r, uint64_t v, double p)
{
	if (!(p >= 0)) {
		p = 0;
	}
	if (p > 1) {
		p = 1;
	}
	double lp = p > 0 ? log(p) : -INFINITY;
	double lq = p < 1 ? log1p(-p) : -INFINITY;
	return tail_lp(r, v, lp, lq);
}

static fb_err
check(uint64_t m, uint64_t r, uint64_t v, double delta)
{
	if (m < 1 || r > m || v > r) {
		return fb_errorf(FB_EINVAL,
				"audit bound: need v <= r <= m and m >= 1 (m %llu, "
				"r %llu, v %llu)",
				(unsigned long long)m, (unsigned long long)r,
				(unsigned long long)v);
	}
	if (!(delta >= 0 && delta <= 1)) {
		return fb_errorf(FB_EINVAL,
				"audit bound: delta must be in [0, 1]");
	}
	return FB_OK;
}

// The p-value, arguments checked.
static double
pvalue(uint64_t m, uint64_t r, uint64_t v, double eps, double delta)
{
	// p = e^eps / (1 + e^eps): log p = -log1p(e^-eps),
	// log(1 - p) = -eps - log1p(e^-eps), both accurate for large eps.
	double l1 = log1p(exp(-eps));
	double lp = -l1, lq = -eps - l1;
	double p = tail_lp(r, v, lp, lq);
	if (delta > 0 && v > 0) {
		double s = 0, alpha = 0;
		for (uint64_t i = 1; i <= v; i++) {
			s += exp(log_pmf(r, v - i, lp, lq));
			if (s / (double)i > alpha) {
				alpha = s / (double)i;
			}
		}
		p += 2.0 * (double)m * delta * alpha;
	}
	p *= 1.0 + 1e-9;
	return p < 1.0 ? p : 1.0;
}

fb_err
fb_auditbound_pvalue(uint64_t m, uint64_t r, uint64_t v, double eps,
		double delta, double *out)
{
	fb_err err = check(m, r, v, delta);
	if (err != FB_OK) {
		return err;
	}
	if (!(eps >= 0) || !isfinite(eps)) {
		return fb_errorf(FB_EINVAL,
				"audit bound: epsilon must be >= 0 and finite");
	}
	*out = pvalue(m, r, v, eps, delta);
	return FB_OK;
}

fb_err
fb_auditbound_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta,
		double beta, double *out)
{
	fb_err err = check(m, r, v, delta);
	if (err != FB_OK) {
		return err;
	}
	if (!(beta > 0 && beta < 1)) {
		return fb_errorf(FB_EINVAL,
				"audit bound: beta must be in (0, 1)");
	}
	if (pvalue(m, r, v, 0, delta) >= beta) {
		*out = 0;
		return FB_OK;
	}
	// lo is rejected (p < beta) and so is everything below it.
	double lo = 0, hi = -1;
	for (double e = EPS_STEP; e <= EPS_MAX; e += EPS_STEP) {
		if (pvalue(m, r, v, e, delta) >= beta) {
			hi = e;
			break;
		}
		lo = e;
	}
	if (hi < 0) {
		*out = lo;
		return FB_OK;
	}
	while (hi - lo > 1e-7) {
		double mid = 0.5 * (lo + hi);
		if (pvalue(m, r, v, mid, delta) >= beta) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	*out = lo;
	return FB_OK;
}

fb_err
fb_auditbound_ceiling(
		uint64_t m, uint64_t r, double delta, double beta, double *out)
{
	return fb_auditbound_epsilon(m, r, r, delta, beta, out);
}
