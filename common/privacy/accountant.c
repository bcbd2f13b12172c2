// common/privacy/accountant.c: the accountant object shared by both kinds, the RDP
// accountant, calibration and the exact Gaussian mechanism.
// Invariants: an accountant's state is its entry list (merged runs of equal
// (q, sigma)); the RDP accountant also keeps the composed RDP curve over
// fb_acct_rdp_orders() (steps times the one-step curve, summed over
// entries), the PLD accountant a cached composition that fb_acct_add()
// drops. Everything is computed in log space; an order whose series does not
// converge gets RDP = +inf, which only ever makes epsilon larger.
// Releases with distributed discrete Gaussian noise (fb_acct_add_ddg) are
// bounded two ways (docs/privacy.md section 4a): route "coupling" (their
// equivalent Gaussian entry plus likelihood-ratio terms, both kinds) and,
// for the RDP kind, route "KLS" (Kairouz, Liu and Steinke 2021, Prop. 14);
// the RDP kind keeps both routes' curves and reports the smaller epsilon.
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/privacy/pld.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/noise.h"

// The discrete noise's distance from the continuous one accumulated over
// releases (fb_acct_add_grid, fb_acct_add_ddg): the epsilon it adds, the
// part of it (T1) that multiplies delta, and the log of the tail mass eta.
struct grid_sum {
	double eps, t1, log_eta;
};

struct fb_acct {
	enum fb_acct_kind kind;
	struct fb_acct_entry *entries;
	size_t n, cap;
	uint64_t total_steps;
	double *rdp;        // RDP only: composed curve over the default orders
	struct fb_pld *pld; // PLD only: cached composition, NULL when stale
	struct grid_sum grid; // every release's coupling terms
	// RDP only, the KLS route: the curve with distributed releases by
	// Prop. 14 and the grid terms of the other releases only.
	double *rdp_kls;
	struct grid_sum grid_kls;
	uint64_t n_ddg; // distributed releases added (both kinds)
};

// --- validation ---

static fb_err
check_q(double q)
{
	if (!(q > 0 && q <= 1)) {
		return fb_errorf(FB_EINVAL,
				"sampling rate q = %g is outside (0, 1]", q);
	}
	return FB_OK;
}

static fb_err
check_sigma(double sigma)
{
	if (!(sigma > 0) || !isfinite(sigma)) {
		return fb_errorf(FB_EINVAL,
				"noise multiplier sigma = %g must be positive "
				"and finite",
				sigma);
	}
	return FB_OK;
}

static fb_err
check_steps(uint64_t steps)
{
	if (steps < 1) {
		return fb_errorf(FB_EINVAL, "steps = 0: must be at least 1");
	}
	return FB_OK;
}

static fb_err
check_delta(double delta)
{
	if (!(delta > 0 && delta < 1)) {
		return fb_errorf(FB_EINVAL, "delta = %g is outside (0, 1)",
				delta);
	}
	return FB_OK;
}

static fb_err
check_eps_target(double eps)
{
	if (!(eps > 0) || !isfinite(eps)) {
		return fb_errorf(FB_EINVAL,
				"epsilon = %g must be positive and finite",
				eps);
	}
	return FB_OK;
}

static fb_err
check_eps_query(double eps)
{
	if (!(eps >= 0) || !isfinite(eps)) {
		return fb_errorf(FB_EINVAL,
				"epsilon = %g must be non-negative and finite",
				eps);
	}
	return FB_OK;
}

// --- log-space helpers ---

#define LOG_PI 1.14472988584940017414
#define SQRT2 1.41421356237309504880
#define SQRT_PI 1.77245385090551602730

static double
log_add(double a, double b)
{
	if (a == -INFINITY) {
		return b;
	}
	if (b == -INFINITY) {
		return a;
	}
	double hi = a > b ? a : b, lo = a > b ? b : a;
	return hi + log1p(exp(lo - hi));
}

// log(erfc(x)), accurate where erfc underflows: beyond x = 25 the
// asymptotic series erfc(x) = e^{-x^2} / (x sqrt(pi)) * (1 - 1/(2x^2) +
// 3/(4x^4) - ...) is used; its terms fall below 1e-16 by the sixth.
static double
log_erfc(double x)
{
	if (x < 25.0) {
		return log(erfc(x));
	}
	double inv2 = 1.0 / (2.0 * x * x);
	double term = 1.0, sum = 1.0;
	for (int k = 1; k <= 7; k++) {
		term *= -(2.0 * k - 1.0) * inv2;
		sum += term;
	}
	return -x * x - log(x) - 0.5 * LOG_PI + log(sum);
}

// --- RDP of the sampled Gaussian ---

// log A_alpha for integer alpha >= 2 and q < 1 (binomial expansion; every
// term is positive).
static double
log_a_int(double q, double sigma, long alpha)
{
	double lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma;
	double log_a = -INFINITY, log_coef = 0.0;
	for (long k = 0; k <= alpha; k++) {
		double kk = (double)k;
		double t = log_coef + kk * lq + (double)(alpha - k) * l1q +
				(kk * kk - kk) / s2;
		log_a = log_add(log_a, t);
		log_coef += log((double)(alpha - k)) - log(kk + 1.0);
	}
	return log_a;
}

// log A_alpha for fractional alpha and q < 1: the integral of
// ((1-q) + q e^{(2z-1)/(2 sigma^2)})^alpha against N(0, sigma^2) split at
// z0, where the two summands are equal, each side expanded as a binomial
// series whose terms are Gaussian integrals (Mironov, Talwar, Zhang 2019,
// Sec. 3.3). Coefficients C(alpha, i) change sign past alpha, so positive
// and negative terms are summed apart.
// Stopping rule with a proof. Write term i as C(alpha, i) (f0(i) + f1(i))
// with f0, f1 >= 0, and K = (1-q)^alpha e^{-z0^2/(2 sigma^2)}. For
// i >= z0, f0(i) <= K min(1/2, 1/(2 y sqrt(pi))) with y the (growing)
// erfc argument (erfc(y) <= e^{-y^2} min(1, 1/(y sqrt(pi))) for y > 0 and
// an exact cancellation of the exponents); below z0, f0(i) <=
// (1-q)^alpha g(i) with g(i) = (q/(1-q))^i e^{(i^2-i)/(2 sigma^2)}, which
// decreases up to z0 where (1-q)^alpha g = K. f1 obeys the first bound for
// i >= alpha - z0. And for n > alpha, sum_{i>n} |C(alpha, i)| =
// |C(alpha-1, n)|. So past n the terms add up to at most |C(alpha-1, n)|
// times the largest of those bounds. The series stops once that is below
// 1e-6 of log A and the bound is ADDED, so the result is never below the
// true value. If the rule cannot be met within max_iter terms (alpha near
// 1 with small sigma), +inf is returned: the order is then useless, never
// wrong.
static double
log_a_frac(double q, double sigma, double alpha)
{
	const int max_iter = 5000;
	double lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma;
	double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
	double rs2 = 1.0 / (SQRT2 * sigma);
	double log_k = alpha * l1q - z0 * z0 / s2;
	double i_min = fmax(alpha - z0, alpha + 1.0);
	double pos = -INFINITY, neg = -INFINITY;
	double log_coef = 0.0; // log |C(alpha, i)|
	int sign = 1;
	for (int i = 0; i < max_iter; i++) {
		double di = (double)i, j = alpha - di;
		double t0 = log_coef + di * lq + j * l1q;
		double t1 = log_coef + j * lq + di * l1q;
		double e0 = log(0.5) + log_erfc((di - z0) * rs2);
		double e1 = log(0.5) + log_erfc((z0 - j) * rs2);
		double s = log_add(t0 + (di * di - di) / s2 + e0,
				t1 + (j * j - j) / s2 + e1);
		if (sign > 0) {
			pos = log_add(pos, s);
		} else {
			neg = log_add(neg, s);
		}
		if (di >= i_min && pos > neg) {
			double la = pos + log1p(-exp(neg - pos));
			// Bounds on f0, f1 past i (see above), in logs.
			double n1 = di + 1;
			double y0 = (n1 - z0) * rs2,
			       y1 = (z0 - alpha + n1) * rs2;
			double lf0 = n1 < z0
					? alpha * l1q + n1 * (lq - l1q) +
							(n1 * n1 - n1) / s2
					: log_k + log(fmin(0.5, 0.5 / (y0 * SQRT_PI)));
			double lf1 = log_k +
					log(fmin(0.5, 0.5 / (y1 * SQRT_PI)));
			// log |C(alpha-1, i)| = log |C(alpha, i)| |alpha-i|/alpha
			double tail = log_coef + log(fabs(alpha - di) / alpha) +
					log_add(lf0, lf1);
			double want = log(1e-6) +
					log(la > 1e-300 ? la : 1e-300);
			if (tail < want) {
				pos = log_add(pos, tail);
				return pos + log1p(-exp(neg - pos));
			}
			// |C(alpha-1, n)| falls like n^-alpha: give up early
			// when the rule cannot be met within max_iter terms.
			if (n1 >= z0 &&
					log(max_iter / (di + 1.0)) * alpha <
							tail - want) {
				return INFINITY;
			}
		}
		// C(alpha, i+1) = C(alpha, i) (alpha - i) / (i + 1)
		double f = alpha - di;
		if (f < 0) {
			sign = -sign;
		}
		log_coef += log(fabs(f)) - log(di + 1.0);
	}
	return INFINITY;
}

fb_err
fb_acct_rdp(double q, double sigma, double alpha, double *rdp)
{
	fb_err err = check_q(q);
	if (err == FB_OK) {
		err = check_sigma(sigma);
	}
	if (err != FB_OK) {
		return err;
	}
	if (!(alpha > 1) || !isfinite(alpha)) {
		return fb_errorf(FB_EINVAL,
				"Renyi order alpha = %g must be finite and > 1",
				alpha);
	}
	double r;
	if (q == 1.0) {
		r = alpha / (2.0 * sigma * sigma);
	} else {
		double la;
		if (alpha == floor(alpha) && alpha < 1e9) {
			la = log_a_int(q, sigma, (long)alpha);
		} else {
			la = log_a_frac(q, sigma, alpha);
		}
		r = la / (alpha - 1.0);
	}
	// log A >= 0 in exact arithmetic; a rounding below 0 is 0.
	*rdp = r > 0 ? r : 0.0;
	return FB_OK;
}

// The default orders, built once under pthread_once.
#define N_ORDERS_MAX 600
static double orders_tab[N_ORDERS_MAX];
static size_t orders_n;

static void
build_orders(void)
{
	size_t n = 0;
	for (int i = 1; i <= 99; i++) {
		orders_tab[n++] = 1.0 + i / 100.0;
	}
	for (int i = 0; i < 80; i++) {
		orders_tab[n++] = 2.0 + i / 10.0;
	}
	for (int i = 0; i < 88; i++) {
		orders_tab[n++] = 10.0 + i / 4.0;
	}
	for (int i = 0; i < 64; i++) {
		orders_tab[n++] = 32.0 + i / 2.0;
	}
	for (int i = 0; i < 64; i++) {
		orders_tab[n++] = 64.0 + i;
	}
	for (int i = 0; i < 64; i++) {
		orders_tab[n++] = 128.0 + 2.0 * i;
	}
	static const double big[] = {256, 288, 320, 384, 448, 512, 640, 768,
			1024, 1536, 2048, 3072, 4096};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		orders_tab[n++] = big[i];
	}
	orders_n = n;
}

static pthread_once_t orders_once = PTHREAD_ONCE_INIT;

const double *
fb_acct_rdp_orders(size_t *n)
{
	pthread_once(&orders_once, build_orders);
	*n = orders_n;
	return orders_tab;
}

// out[i] += steps * rdp(q, sigma, orders[i]) over the default orders.
static fb_err
rdp_accumulate(double *out, double q, double sigma, uint64_t steps)
{
	size_t n;
	const double *orders = fb_acct_rdp_orders(&n);
	for (size_t i = 0; i < n; i++) {
		double r;
		fb_err err = fb_acct_rdp(q, sigma, orders[i], &r);
		if (err != FB_OK) {
			return err;
		}
		out[i] += (double)steps * r;
	}
	return FB_OK;
}

static fb_err
check_rdp_input(const double *orders, const double *rdp, size_t n)
{
	if (n == 0) {
		return fb_errorf(FB_EINVAL, "no Renyi orders given");
	}
	for (size_t i = 0; i < n; i++) {
		if (!(orders[i] > 1)) {
			return fb_errorf(FB_EINVAL,
					"Renyi order %g at index %zu is not > 1",
					orders[i], i);
		}
		if (!(rdp[i] >= 0)) {
			return fb_errorf(FB_EINVAL,
					"RDP value %g at index %zu is not >= 0",
					rdp[i], i);
		}
	}
	return FB_OK;
}

fb_err
fb_acct_rdp_to_epsilon(const double *orders, const double *rdp, size_t n,
		double delta, double *eps, double *order)
{
	fb_err err = check_delta(delta);
	if (err == FB_OK) {
		err = check_rdp_input(orders, rdp, n);
	}
	if (err != FB_OK) {
		return err;
	}
	double best = INFINITY, best_order = NAN, log_delta = log(delta);
	for (size_t i = 0; i < n; i++) {
		double a = orders[i], r = rdp[i];
		// Total variation <= sqrt(1 - e^{-KL}) <= sqrt(1 - e^{-r}):
		// then delta alone covers everything and epsilon is 0.
		if (delta * delta + expm1(-r) > 0) {
			*eps = 0.0;
			*order = NAN;
			return FB_OK;
		}
		double e = r + log1p(-1.0 / a) -
				(log_delta + log(a)) / (a - 1.0);
		if (e < best) {
			best = e;
			best_order = a;
		}
	}
	*eps = best > 0 ? best : 0.0;
	*order = best_order;
	return FB_OK;
}

fb_err
fb_acct_rdp_to_delta(const double *orders, const double *rdp, size_t n,
		double eps, double *delta, double *order)
{
	fb_err err = check_eps_query(eps);
	if (err == FB_OK) {
		err = check_rdp_input(orders, rdp, n);
	}
	if (err != FB_OK) {
		return err;
	}
	double best = 0.0, best_order = NAN; // log delta <= 0 always
	for (size_t i = 0; i < n; i++) {
		double a = orders[i], r = rdp[i];
		double kl = 0.5 * log(-expm1(-r)); // log sqrt(1 - e^{-r})
		if (kl < best) {
			best = kl;
			best_order = NAN;
		}
		double ld = (a - 1.0) * (r - eps + log1p(-1.0 / a)) - log(a);
		if (ld < best) {
			best = ld;
			best_order = a;
		}
	}
	*delta = exp(best);
	*order = best_order;
	return FB_OK;
}

// --- the accountant object ---

const char *
fb_acct_kind_name(enum fb_acct_kind kind)
{
	switch (kind) {
	case FB_ACCT_RDP:
		return "rdp";
	case FB_ACCT_PLD:
		return "pld";
	}
	return "?";
}

fb_err
fb_acct_kind_parse(const char *s, enum fb_acct_kind *out)
{
	if (s != NULL && strcmp(s, "rdp") == 0) {
		*out = FB_ACCT_RDP;
		return FB_OK;
	}
	if (s != NULL && strcmp(s, "pld") == 0) {
		*out = FB_ACCT_PLD;
		return FB_OK;
	}
	return fb_errorf(FB_EINVAL,
			"accountant '%s' is neither 'rdp' nor 'pld'",
			s != NULL ? s : "");
}

// --- the fixed-point discrete Gaussian (docs/privacy.md section 3) ---

// The cut of the argument: noise beyond GRID_CUT standard deviations is
// the tail eta.
#define GRID_CUT 60.0

// The three terms of steps releases of dim coordinates with noise of s
// grid steps: t1 = dim / (24 s^2), t2 = dim (c^2 / (24 s^2) + 3
// exp(-2 pi^2 s^2)) per release, and log eta = log(2 dim) - (c - 1/(2s))^2
// / 2 per release, all times steps.
static fb_err
grid_terms(uint64_t steps, uint64_t dim, double s, double *t1, double *t2,
		double *log_eta)
{
	if (!(s >= 1) || !isfinite(s) || steps == 0 || dim == 0) {
		return fb_errorf(FB_EINVAL,
				"grid: %llu releases of %llu coordinates with "
				"noise of %g grid steps: the noise must be at "
				"least 1 grid step",
				(unsigned long long)steps,
				(unsigned long long)dim, s);
	}
	double n = (double)steps * (double)dim;
	double inv = 1.0 / (24.0 * s * s);
	*t1 = n * inv;
	*t2 = n *
			(GRID_CUT * GRID_CUT * inv +
					3.0 * exp(-2.0 * M_PI * M_PI * s * s));
	double c = GRID_CUT - 0.5 / s;
	*log_eta = log(2.0 * n) - c * c / 2.0;
	// Round the slack up a little: the sums above are floating point.
	*t1 *= 1.0 + 1e-12;
	*t2 *= 1.0 + 1e-12;
	return FB_OK;
}

static void
grid_sum_add(struct grid_sum *g, double t1, double t2, double log_eta)
{
	g->eps += t1 + t2;
	g->t1 += t1;
	g->log_eta = log_add(g->log_eta, log_eta);
}

fb_err
fb_acct_add_grid(struct fb_acct *acct, const struct fb_acct_grid *g,
		uint64_t steps)
{
	double t1 = 0, t2 = 0, le = 0;
	fb_err err = grid_terms(steps, g->dim, g->noise_steps, &t1, &t2, &le);
	if (err != FB_OK) {
		return err;
	}
	grid_sum_add(&acct->grid, t1, t2, le);
	grid_sum_add(&acct->grid_kls, t1, t2, le);
	return FB_OK;
}

// The relative part of delta kept for the tail term.
#define GRID_DELTA_SHARE 1e-9

fb_err
fb_acct_create(struct fb_acct **out, enum fb_acct_kind kind)
{
	if (kind != FB_ACCT_RDP && kind != FB_ACCT_PLD) {
		return fb_errorf(FB_EINVAL, "unknown accountant kind %d",
				(int)kind);
	}
	struct fb_acct *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return FB_ENOMEM;
	}
	a->kind = kind;
	a->grid.log_eta = -INFINITY;
	a->grid_kls.log_eta = -INFINITY;
	if (kind == FB_ACCT_RDP) {
		size_t n;
		fb_acct_rdp_orders(&n);
		a->rdp = calloc(n, sizeof(double));
		a->rdp_kls = calloc(n, sizeof(double));
		if (a->rdp == NULL || a->rdp_kls == NULL) {
			fb_acct_destroy(a);
			return FB_ENOMEM;
		}
	}
	*out = a;
	return FB_OK;
}

void
fb_acct_destroy(struct fb_acct *acct)
{
	if (acct == NULL) {
		return;
	}
	fb_pld_destroy(acct->pld);
	free(acct->rdp);
	free(acct->rdp_kls);
	free(acct->entries);
	free(acct);
}

static fb_err
check_entry(double q, double sigma, uint64_t steps)
{
	fb_err err = check_q(q);
	if (err == FB_OK) {
		err = check_sigma(sigma);
	}
	if (err == FB_OK) {
		err = check_steps(steps);
	}
	return err;
}

// Appends (q, sigma, steps); its sampled-Gaussian curve goes into the
// coupling route and, if kls_too, into the KLS route as well.
static fb_err
add_entry(struct fb_acct *acct, double q, double sigma, uint64_t steps,
		bool kls_too)
{
	fb_err err = check_entry(q, sigma, steps);
	if (err != FB_OK) {
		return err;
	}
	if (steps > UINT64_MAX - acct->total_steps) {
		return fb_errorf(FB_EINVAL,
				"steps = %llu: total step count "
				"would overflow",
				(unsigned long long)steps);
	}
	bool merge = acct->n > 0 && acct->entries[acct->n - 1].q == q &&
			acct->entries[acct->n - 1].sigma == sigma;
	if (!merge && acct->n == acct->cap) {
		size_t cap = acct->cap != 0 ? 2 * acct->cap : 8;
		struct fb_acct_entry *e =
				realloc(acct->entries, cap * sizeof(*e));
		if (e == NULL) {
			return FB_ENOMEM;
		}
		acct->entries = e;
		acct->cap = cap;
	}
	if (acct->kind == FB_ACCT_RDP) {
		size_t n;
		fb_acct_rdp_orders(&n);
		double *tmp = calloc(n, sizeof(double));
		if (tmp == NULL) {
			return FB_ENOMEM;
		}
		err = rdp_accumulate(tmp, q, sigma, steps);
		if (err != FB_OK) {
			free(tmp);
			return err;
		}
		for (size_t i = 0; i < n; i++) {
			acct->rdp[i] += tmp[i];
			if (kls_too) {
				acct->rdp_kls[i] += tmp[i];
			}
		}
		free(tmp);
	}
	if (merge) {
		acct->entries[acct->n - 1].steps += steps;
	} else {
		acct->entries[acct->n++] =
				(struct fb_acct_entry){q, sigma, steps};
	}
	acct->total_steps += steps;
	fb_pld_destroy(acct->pld);
	acct->pld = NULL;
	return FB_OK;
}

fb_err
fb_acct_add(struct fb_acct *acct, double q, double sigma, uint64_t steps)
{
	return add_entry(acct, q, sigma, steps, true);
}

size_t
fb_acct_count(const struct fb_acct *acct)
{
	return acct->n;
}

fb_err
fb_acct_entry_at(
		const struct fb_acct *acct, size_t i, struct fb_acct_entry *out)
{
	if (i >= acct->n) {
		return fb_errorf(FB_EINVAL,
				"entry index %zu is out of range (%zu entries)",
				i, acct->n);
	}
	*out = acct->entries[i];
	return FB_OK;
}

uint64_t
fb_acct_total_steps(const struct fb_acct *acct)
{
	return acct->total_steps;
}

static fb_err
ensure_pld(struct fb_acct *acct)
{
	if (acct->pld != NULL) {
		return FB_OK;
	}
	return fb_pld_create(&acct->pld, acct->entries, acct->n, NULL);
}

// The RDP curve of a route: KLS (kls true) or coupling.
static const double *
route_curve(const struct fb_acct *acct, bool kls)
{
	return kls ? acct->rdp_kls : acct->rdp;
}

static const struct grid_sum *
route_grid(const struct fb_acct *acct, bool kls)
{
	return kls ? &acct->grid_kls : &acct->grid;
}

static bool
acct_empty(const struct fb_acct *acct)
{
	return acct->n == 0 && acct->n_ddg == 0;
}

static fb_err
raw_epsilon(struct fb_acct *acct, bool kls, double delta, double *eps,
		double *order)
{
	fb_err err = check_delta(delta);
	if (err != FB_OK) {
		return err;
	}
	if (acct_empty(acct)) {
		*eps = 0.0;
		*order = NAN;
		return FB_OK;
	}
	if (acct->kind == FB_ACCT_RDP) {
		size_t n;
		const double *orders = fb_acct_rdp_orders(&n);
		return fb_acct_rdp_to_epsilon(orders, route_curve(acct, kls), n,
				delta, eps, order);
	}
	err = ensure_pld(acct);
	if (err != FB_OK) {
		return err;
	}
	*eps = fb_pld_epsilon(acct->pld, delta);
	*order = NAN;
	return FB_OK;
}

static fb_err
route_epsilon(struct fb_acct *acct, bool kls, double delta, double *eps,
		double *order)
{
	const struct grid_sum *g = route_grid(acct, kls);
	if (g->eps == 0) {
		return raw_epsilon(acct, kls, delta, eps, order);
	}
	fb_err err = check_delta(delta);
	if (err != FB_OK) {
		return err;
	}
	// The continuous accountant at delta0 = delta e^-eps_grid (1 - share),
	// then: eps = eps0 + eps_grid, provided the tail e^(t1 + eps0) eta
	// fits in share x delta (docs/privacy.md section 3).
	double delta0 = delta * exp(-g->eps) * (1.0 - GRID_DELTA_SHARE);
	if (!(delta0 > 0)) {
		// The coupling terms alone exceed what delta can absorb.
		*eps = INFINITY;
		*order = NAN;
		return FB_OK;
	}
	double eps0;
	err = raw_epsilon(acct, kls, delta0, &eps0, order);
	if (err != FB_OK) {
		return err;
	}
	double tail = g->t1 + eps0 + g->log_eta;
	*eps = tail <= log(GRID_DELTA_SHARE * delta) ? eps0 + g->eps : INFINITY;
	return FB_OK;
}

fb_err
fb_acct_epsilon_order(
		struct fb_acct *acct, double delta, double *eps, double *order)
{
	double e, o;
	fb_err err = route_epsilon(acct, false, delta, &e, &o);
	if (err != FB_OK || acct->kind != FB_ACCT_RDP || acct->n_ddg == 0) {
		if (err == FB_OK) {
			*eps = e;
			*order = o;
		}
		return err;
	}
	// Both routes bound the same composition: the smaller one holds.
	double ek, ok;
	err = route_epsilon(acct, true, delta, &ek, &ok);
	if (err != FB_OK) {
		return err;
	}
	*eps = ek < e ? ek : e;
	*order = ek < e ? ok : o;
	return FB_OK;
}

fb_err
fb_acct_epsilon(struct fb_acct *acct, double delta, double *eps)
{
	double order;
	return fb_acct_epsilon_order(acct, delta, eps, &order);
}

static fb_err
raw_delta(struct fb_acct *acct, bool kls, double eps, double *delta)
{
	fb_err err = check_eps_query(eps);
	if (err != FB_OK) {
		return err;
	}
	if (acct_empty(acct)) {
		*delta = 0.0;
		return FB_OK;
	}
	if (acct->kind == FB_ACCT_RDP) {
		size_t n;
		double order;
		const double *orders = fb_acct_rdp_orders(&n);
		return fb_acct_rdp_to_delta(orders, route_curve(acct, kls), n,
				eps, delta, &order);
	}
	err = ensure_pld(acct);
	if (err != FB_OK) {
		return err;
	}
	*delta = fb_pld_delta(acct->pld, eps);
	return FB_OK;
}

static fb_err
route_delta(struct fb_acct *acct, bool kls, double eps, double *delta)
{
	const struct grid_sum *g = route_grid(acct, kls);
	if (g->eps == 0) {
		return raw_delta(acct, kls, eps, delta);
	}
	fb_err err = check_eps_query(eps);
	if (err != FB_OK) {
		return err;
	}
	// delta = e^t1 delta_raw(eps - eps_grid) + e^(t1 + eps) eta.
	double eps0 = eps - g->eps, d0 = 1.0;
	if (eps0 >= 0) {
		err = raw_delta(acct, kls, eps0, &d0);
		if (err != FB_OK) {
			return err;
		}
	}
	double d = exp(g->t1) * d0 + exp(g->t1 + eps + g->log_eta);
	*delta = d < 1.0 ? d : 1.0;
	return FB_OK;
}

fb_err
fb_acct_delta(struct fb_acct *acct, double eps, double *delta)
{
	double d;
	fb_err err = route_delta(acct, false, eps, &d);
	if (err != FB_OK || acct->kind != FB_ACCT_RDP || acct->n_ddg == 0) {
		if (err == FB_OK) {
			*delta = d;
		}
		return err;
	}
	double dk;
	err = route_delta(acct, true, eps, &dk);
	if (err != FB_OK) {
		return err;
	}
	*delta = dk < d ? dk : d;
	return FB_OK;
}

// A private copy of acct's state (entries, RDP curves and grid terms,
// no PLD cache), as an accountant.
static fb_err
clone(struct fb_acct **out, const struct fb_acct *acct)
{
	struct fb_acct *c = NULL;
	fb_err err = fb_acct_create(&c, acct->kind);
	if (err != FB_OK) {
		return err;
	}
	if (acct->n > 0) {
		c->entries = malloc(acct->n * sizeof(*c->entries));
		if (c->entries == NULL) {
			fb_acct_destroy(c);
			return FB_ENOMEM;
		}
		memcpy(c->entries, acct->entries,
				acct->n * sizeof(*c->entries));
		c->n = c->cap = acct->n;
	}
	c->total_steps = acct->total_steps;
	if (acct->kind == FB_ACCT_RDP) {
		size_t n;
		fb_acct_rdp_orders(&n);
		memcpy(c->rdp, acct->rdp, n * sizeof(double));
		memcpy(c->rdp_kls, acct->rdp_kls, n * sizeof(double));
	}
	c->grid = acct->grid;
	c->grid_kls = acct->grid_kls;
	c->n_ddg = acct->n_ddg;
	*out = c;
	return FB_OK;
}

// *exceed: the epsilon of c at delta_budget is above eps_budget. Destroys
// c.
static fb_err
exceeds_and_destroy(struct fb_acct *c, double eps_budget, double delta_budget,
		bool *exceed)
{
	double eps;
	fb_err err = fb_acct_epsilon(c, delta_budget, &eps);
	fb_acct_destroy(c);
	if (err != FB_OK) {
		return err;
	}
	*exceed = eps > eps_budget;
	return FB_OK;
}

fb_err
fb_acct_would_exceed(struct fb_acct *acct, double q, double sigma,
		uint64_t steps, const struct fb_acct_grid *grid,
		double eps_budget, double delta_budget, bool *exceed)
{
	fb_err err = check_entry(q, sigma, steps);
	if (err == FB_OK) {
		err = check_eps_target(eps_budget);
	}
	if (err == FB_OK) {
		err = check_delta(delta_budget);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_acct *c = NULL;
	err = clone(&c, acct);
	if (err == FB_OK) {
		err = fb_acct_add(c, q, sigma, steps);
	}
	if (err == FB_OK && grid != NULL) {
		err = fb_acct_add_grid(c, grid, steps);
	}
	if (err != FB_OK) {
		fb_acct_destroy(c);
		return err;
	}
	return exceeds_and_destroy(c, eps_budget, delta_budget, exceed);
}

fb_err
fb_acct_would_exceed_ddg(struct fb_acct *acct, const struct fb_acct_ddg *m,
		uint64_t steps, double eps_budget, double delta_budget,
		bool *exceed)
{
	fb_err err = check_eps_target(eps_budget);
	if (err == FB_OK) {
		err = check_delta(delta_budget);
	}
	struct fb_acct *c = NULL;
	if (err == FB_OK) {
		err = clone(&c, acct);
	}
	if (err == FB_OK) {
		err = fb_acct_add_ddg(c, m, steps);
	}
	if (err != FB_OK) {
		fb_acct_destroy(c);
		return err;
	}
	return exceeds_and_destroy(c, eps_budget, delta_budget, exceed);
}

fb_err
fb_acct_epsilon_for(enum fb_acct_kind kind, double q, double sigma,
		uint64_t steps, double delta, double *eps)
{
	fb_err err = check_entry(q, sigma, steps);
	if (err == FB_OK) {
		err = check_delta(delta);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_acct *a = NULL;
	err = fb_acct_create(&a, kind);
	if (err == FB_OK) {
		err = fb_acct_add(a, q, sigma, steps);
	}
	if (err == FB_OK) {
		err = fb_acct_epsilon(a, delta, eps);
	}
	fb_acct_destroy(a);
	return err;
}

fb_err
fb_acct_delta_for(enum fb_acct_kind kind, double q, double sigma,
		uint64_t steps, double eps, double *delta)
{
	fb_err err = check_entry(q, sigma, steps);
	if (err == FB_OK) {
		err = check_eps_query(eps);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_acct *a = NULL;
	err = fb_acct_create(&a, kind);
	if (err == FB_OK) {
		err = fb_acct_add(a, q, sigma, steps);
	}
	if (err == FB_OK) {
		err = fb_acct_delta(a, eps, delta);
	}
	fb_acct_destroy(a);
	return err;
}

// --- calibration: one search for both calibrations ---

#define CAL_SIGMA_MAX 1e6  // no calibration answers above this
#define CAL_SIGMA_MIN 1e-3 // below this, any noise meets the target
#define CAL_REL_TOL 1e-5   // the bisection's relative width

// A search for the least noise multiplier at which meets() holds; meets()
// is non-decreasing in sigma. The two calibrations differ only in the
// predicate and in how they bracket the answer.
struct search {
	fb_err (*meets)(void *ctx, double sigma, bool *ok);
	void *ctx;
	double start; // the first upper guess
	double grow;  // while meets() fails at hi: hi *= grow
	// > 0: then lo = hi * shrink, halved while it still meets;
	// 0: lo is the last hi that failed (start if none)
	double shrink;
	bool round; // report a 6-significant-digit decimal >= the answer
};

// Grows hi from s->start until meets() holds there; lo is the last value
// that failed. *reached = false (lo, hi unset) past CAL_SIGMA_MAX.
static fb_err
search_up(const struct search *s, double *lo, double *hi, bool *reached)
{
	double l = s->start, h = s->start;
	for (;;) {
		bool ok = false;
		fb_err err = s->meets(s->ctx, h, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			break;
		}
		if (h >= CAL_SIGMA_MAX) {
			*reached = false;
			return FB_OK;
		}
		l = h;
		h *= s->grow;
	}
	*lo = l;
	*hi = h;
	*reached = true;
	return FB_OK;
}

// Walks lo = hi * s->shrink down by halves while meets() still holds there,
// moving hi down with it. *at_min = true when even CAL_SIGMA_MIN meets the
// target: *hi is then the answer as it is.
static fb_err
search_down(const struct search *s, double *lo, double *hi, bool *at_min)
{
	double l = *hi * s->shrink, h = *hi;
	for (;;) {
		bool ok = false;
		fb_err err = s->meets(s->ctx, l, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (!ok) {
			break;
		}
		h = l;
		if (l <= CAL_SIGMA_MIN) {
			*hi = h;
			*at_min = true;
			return FB_OK;
		}
		l *= 0.5;
	}
	*lo = l;
	*hi = h;
	*at_min = false;
	return FB_OK;
}

// Bisects [lo, *hi] geometrically to CAL_REL_TOL; *hi keeps meeting.
static fb_err
search_bisect(const struct search *s, double lo, double *hi)
{
	double h = *hi;
	while (h - lo > CAL_REL_TOL * h) {
		double mid = sqrt(lo * h);
		bool ok = false;
		fb_err err = s->meets(s->ctx, mid, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			h = mid;
		} else {
			lo = mid;
		}
	}
	*hi = h;
	return FB_OK;
}

// Replaces *hi by a 6-significant-digit decimal >= it that still meets the
// target (meets() is non-decreasing in sigma; checked anyway).
static fb_err
search_round(const struct search *s, double *hi)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%.5e", *hi);
	double r = strtod(buf, NULL);
	if (r < *hi) {
		snprintf(buf, sizeof(buf), "%.5e",
				*hi + pow(10.0, floor(log10(*hi)) - 5));
		r = strtod(buf, NULL);
	}
	if (r >= *hi) {
		bool ok = false;
		fb_err err = s->meets(s->ctx, r, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			*hi = r;
		}
	}
	return FB_OK;
}

// The search: *reached = false (*sigma unset) when no noise multiplier up
// to CAL_SIGMA_MAX meets the target; the caller words that error.
static fb_err
search_sigma(const struct search *s, double *sigma, bool *reached)
{
	double lo = 0, hi = 0;
	fb_err err = search_up(s, &lo, &hi, reached);
	if (err != FB_OK || !*reached) {
		return err;
	}
	if (s->shrink > 0) {
		bool at_min = false;
		err = search_down(s, &lo, &hi, &at_min);
		if (err != FB_OK) {
			return err;
		}
		if (at_min) {
			*sigma = hi; // even tiny noise meets the target
			return FB_OK;
		}
	}
	err = search_bisect(s, lo, &hi);
	if (err == FB_OK && s->round) {
		err = search_round(s, &hi);
	}
	if (err == FB_OK) {
		*sigma = hi;
	}
	return err;
}

// The plain calibration's predicate: epsilon(sigma) <= target.
struct plain_target {
	enum fb_acct_kind kind;
	double q;
	uint64_t steps;
	double target, delta;
};

static fb_err
meets(void *ctx, double sigma, bool *ok)
{
	const struct plain_target *t = ctx;
	double eps;
	fb_err err = fb_acct_epsilon_for(
			t->kind, t->q, sigma, t->steps, t->delta, &eps);
	if (err != FB_OK) {
		return err;
	}
	*ok = eps <= t->target;
	return FB_OK;
}

fb_err
fb_acct_calibrate_sigma(enum fb_acct_kind kind, double q, uint64_t steps,
		const struct fb_acct_grid *grid, double target_eps,
		double delta, double *sigma)
{
	if (grid != NULL) {
		// The continuous calibration for what the grid leaves: the
		// grid's terms do not depend on sigma (the noise in grid
		// steps is given), so eps = eps0 + eps_grid at delta0.
		double t1 = 0, t2 = 0, le = 0;
		fb_err err = grid_terms(steps, grid->dim, grid->noise_steps,
				&t1, &t2, &le);
		if (err != FB_OK) {
			return err;
		}
		double eps0 = target_eps - (t1 + t2);
		if (!(eps0 > 0)) {
			return fb_errorf(FB_EINVAL,
					"epsilon = %g: the fixed-point grid alone "
					"takes %g of it",
					target_eps, t1 + t2);
		}
		double delta0 = delta * exp(-(t1 + t2)) *
				(1.0 - GRID_DELTA_SHARE);
		if (t1 + eps0 + le > log(GRID_DELTA_SHARE * delta)) {
			return fb_errorf(FB_EINVAL,
					"epsilon = %g at delta = %g: the grid's "
					"tail does not fit",
					target_eps, delta);
		}
		return fb_acct_calibrate_sigma(
				kind, q, steps, NULL, eps0, delta0, sigma);
	}
	fb_err err = check_q(q);
	if (err == FB_OK) {
		err = check_steps(steps);
	}
	if (err == FB_OK) {
		err = check_eps_target(target_eps);
	}
	if (err == FB_OK) {
		err = check_delta(delta);
	}
	if (err != FB_OK) {
		return err;
	}
	if (kind != FB_ACCT_RDP && kind != FB_ACCT_PLD) {
		return fb_errorf(FB_EINVAL, "unknown accountant kind %d",
				(int)kind);
	}
	// Bracket [lo, hi] with eps(hi) <= target < eps(lo). The PLD bound
	// is below the RDP one, so the RDP answer is a good upper start.
	double hi = 1.0;
	if (kind == FB_ACCT_PLD) {
		err = fb_acct_calibrate_sigma(FB_ACCT_RDP, q, steps, NULL,
				target_eps, delta, &hi);
		if (err != FB_OK) {
			return err;
		}
	}
	struct plain_target t = {kind, q, steps, target_eps, delta};
	struct search s = {
			.meets = meets,
			.ctx = &t,
			.start = hi,
			.grow = 2.0,
			.shrink = kind == FB_ACCT_PLD ? 0.75 : 0.5,
			.round = true,
	};
	bool reached = false;
	err = search_sigma(&s, sigma, &reached);
	if (err == FB_OK && !reached) {
		return fb_errorf(FB_EINVAL,
				"epsilon = %g: no noise multiplier up to "
				"%g reaches it at delta = %g",
				target_eps, CAL_SIGMA_MAX, delta);
	}
	return err;
}

// The predicate on top of earlier releases: base plus `steps` releases of
// (q, sigma) meet the target (base left unchanged).
struct after_target {
	struct fb_acct *base;
	double q;
	uint64_t steps;
	const struct fb_acct_grid *grid;
	double target, delta;
};

static fb_err
meets_after(void *ctx, double sigma, bool *ok)
{
	const struct after_target *t = ctx;
	bool exceed = true;
	fb_err err = fb_acct_would_exceed(t->base, t->q, sigma, t->steps,
			t->grid, t->target, t->delta, &exceed);
	*ok = !exceed;
	return err;
}

fb_err
fb_acct_calibrate_sigma_after(struct fb_acct *base, double q, uint64_t steps,
		const struct fb_acct_grid *grid, double target_eps,
		double delta, double *sigma)
{
	// The plan alone needs at least this much noise: a lower bracket.
	double lo = 0;
	fb_err err = fb_acct_calibrate_sigma(
			base->kind, q, steps, grid, target_eps, delta, &lo);
	if (err != FB_OK) {
		return err;
	}
	if (base->n == 0) {
		*sigma = lo;
		return FB_OK;
	}
	struct after_target t = {base, q, steps, grid, target_eps, delta};
	struct search s = {
			.meets = meets_after,
			.ctx = &t,
			.start = lo,
			.grow = 1.25,
			.shrink = 0,
			.round = false,
	};
	bool reached = false;
	err = search_sigma(&s, sigma, &reached);
	if (err == FB_OK && !reached) {
		return fb_errorf(FB_EINVAL,
				"epsilon = %g: what the accountant holds "
				"(%llu steps) leaves no room for %llu more "
				"at any noise multiplier up to %g",
				target_eps,
				(unsigned long long)base->total_steps,
				(unsigned long long)steps, CAL_SIGMA_MAX);
	}
	return err;
}

// --- the Gaussian mechanism ---

// log Phi(x) = log(erfc(-x / sqrt 2) / 2), accurate for very negative x.
static double
log_ndtr(double x)
{
	return log(0.5) + log_erfc(-x / SQRT2);
}

fb_err
fb_acct_gaussian_delta(double sigma, double eps, double *delta)
{
	fb_err err = check_sigma(sigma);
	if (err == FB_OK) {
		err = check_eps_query(eps);
	}
	if (err != FB_OK) {
		return err;
	}
	double a = 0.5 / sigma - eps * sigma, b = -0.5 / sigma - eps * sigma;
	double la = log_ndtr(a), lb = eps + log_ndtr(b);
	// delta = e^la - e^lb with lb < la; computed as e^la (1 - e^{lb-la}).
	double d = lb < la ? exp(la) * -expm1(lb - la) : 0.0;
	*delta = d > 0 ? d : 0.0;
	return FB_OK;
}

fb_err
fb_acct_gaussian_epsilon(double sigma, double delta, double *eps)
{
	fb_err err = check_sigma(sigma);
	if (err == FB_OK) {
		err = check_delta(delta);
	}
	if (err != FB_OK) {
		return err;
	}
	double d;
	fb_acct_gaussian_delta(sigma, 0.0, &d);
	if (d <= delta) {
		*eps = 0.0;
		return FB_OK;
	}
	double lo = 0.0, hi = 1.0;
	for (;;) {
		fb_acct_gaussian_delta(sigma, hi, &d);
		if (d <= delta) {
			break;
		}
		lo = hi;
		hi *= 2.0;
		if (hi > 1e12) {
			*eps = INFINITY;
			return FB_OK;
		}
	}
	for (int it = 0; it < 200 && hi - lo > 1e-13 * hi; it++) {
		double mid = 0.5 * (lo + hi);
		fb_acct_gaussian_delta(sigma, mid, &d);
		if (d <= delta) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	*eps = hi;
	return FB_OK;
}

// --- distributed discrete Gaussian (docs/privacy.md section 4a) ---

static fb_err
check_ddg(const struct fb_acct_ddg *m)
{
	fb_err err = check_q(m->q);
	if (err != FB_OK) {
		return err;
	}
	if (!(m->sigma_share >= FB_ACCT_DDG_SIGMA_MIN) ||
			!isfinite(m->sigma_share)) {
		return fb_errorf(FB_EINVAL,
				"distributed noise: sigma_share = %g grid "
				"steps must be finite and >= %g",
				m->sigma_share, FB_ACCT_DDG_SIGMA_MIN);
	}
	if (m->n_honest < 1) {
		return fb_errorf(FB_EINVAL,
				"distributed noise: n_honest = 0: at least one "
				"honest share must be in the sum");
	}
	if (!(m->l2 > 0) || !isfinite(m->l2)) {
		return fb_errorf(FB_EINVAL,
				"distributed noise: L2 sensitivity %g must be "
				"positive and finite",
				m->l2);
	}
	if (m->dim < 1) {
		return fb_errorf(FB_EINVAL,
				"distributed noise: dim = 0 coordinates");
	}
	if (!(m->l1 == 0 || (m->l1 >= m->l2 && isfinite(m->l1)))) {
		return fb_errorf(FB_EINVAL,
				"distributed noise: L1 sensitivity %g is below "
				"the L2 one %g (0 means: derive it)",
				m->l1, m->l2);
	}
	return FB_OK;
}

double
fb_acct_ddg_l1_bound(double l2, uint64_t dim)
{
	double l1 = sqrt((double)dim) * l2;
	if (l2 >= 1 && l2 * l2 < l1) {
		l1 = l2 * l2;
	}
	return l1 * (1.0 + 1e-15);
}

double
fb_acct_ddg_sigma(const struct fb_acct_ddg *m)
{
	return sqrt((double)m->n_honest) * m->sigma_share / m->l2;
}

// Prop. 14 of KLS at q = 1 for one step: a2 = l2^2 / V, a1 = l1 / sqrt(V).
static double
kls_rdp(double alpha, double a2, double a1, double tau, double dim)
{
	double t1 = alpha * a2 / 2.0 + tau * dim;
	double t2 = alpha / 2.0 * (a2 + 2.0 * a1 * tau + tau * tau * dim);
	double r = sqrt(a2) + tau * sqrt(dim);
	double t3 = alpha / 2.0 * r * r;
	double t = t1 < t2 ? t1 : t2;
	return t < t3 ? t : t3;
}

// Zhu and Wang 2019, Theorem 5, at integer alpha >= 2 and q < 1, on the
// curve kls_rdp(l, ...):
//   log((1-q)^(alpha-1) (alpha q - q + 1)
//       + C(alpha,2) q^2 (1-q)^(alpha-2) e^eps(2)
//       + 3 sum_{l=3}^alpha C(alpha,l) q^l (1-q)^(alpha-l) e^((l-1) eps(l)))
//   / (alpha - 1).
static double
zhu_wang(long alpha, double q, double a2, double a1, double tau, double dim)
{
	double lq = log(q), l1q = log1p(-q), da = (double)alpha;
	double s = (da - 1.0) * l1q + log(da * q - q + 1.0);
	double log_c = log(da * (da - 1.0) / 2.0); // log C(alpha, 2)
	for (long l = 2; l <= alpha; l++) {
		double dl = (double)l;
		double t = log_c + dl * lq + (da - dl) * l1q +
				(dl - 1.0) * kls_rdp(dl, a2, a1, tau, dim);
		if (l >= 3) {
			t += log(3.0);
		}
		s = log_add(s, t);
		log_c += log(da - dl) - log(dl + 1.0);
	}
	return s / (da - 1.0);
}

fb_err
fb_acct_ddg_rdp(const struct fb_acct_ddg *m, double alpha, double *rdp)
{
	fb_err err = check_ddg(m);
	if (err != FB_OK) {
		return err;
	}
	if (!(alpha > 1) || !isfinite(alpha)) {
		return fb_errorf(FB_EINVAL,
				"Renyi order alpha = %g must be finite and > 1",
				alpha);
	}
	double v = (double)m->n_honest * m->sigma_share * m->sigma_share;
	double l1 = m->l1 > 0 ? m->l1 : fb_acct_ddg_l1_bound(m->l2, m->dim);
	double tau = fb_noise_dgauss_tau(m->sigma_share, m->n_honest);
	double a2 = m->l2 * m->l2 / v, a1 = l1 / sqrt(v), d = (double)m->dim;
	double r = kls_rdp(alpha, a2, a1, tau, d);
	if (m->q < 1.0) {
		double sub = INFINITY;
		if (alpha == floor(alpha) && alpha <= 65536) {
			sub = zhu_wang((long)alpha, m->q, a2, a1, tau, d);
		}
		r = sub < r ? sub : r;
	}
	*rdp = r * (1.0 + 1e-12);
	return FB_OK;
}

// log((1 + E) / (1 - E)), E = 2 sum_{m>=1} exp(-2 pi^2 s^2 m^2): the
// spread of theta(u) = sum_j exp(-(j - u)^2 / (2 s^2)) over u, relative.
static double
theta_spread(double s)
{
	double c = 2.0 * M_PI * M_PI * s * s, e = 0.0, t = 1.0;
	for (int m = 1; m <= 64 && t > 0; m++) {
		t = exp(-c * (double)m * (double)m);
		e += t;
	}
	e = 2.0 * (e + t); // + t: bounds the rest (terms fall faster)
	if (!(e < 1.0)) {
		return INFINITY;
	}
	return (log1p(e) - log1p(-e)) * (1.0 + 1e-12);
}

double
fb_acct_ddg_ratio(double sigma, uint64_t n)
{
	if (!(sigma >= FB_ACCT_DDG_SIGMA_MIN) || !isfinite(sigma) || n == 0) {
		return NAN;
	}
	uint64_t terms = n - 1;
	if (terms == 0 || theta_spread(sigma * sqrt(0.5)) == 0) {
		return 0.0; // the first term bounds every other one
	}
	uint64_t exact =
			terms < (UINT64_C(1) << 20) ? terms : UINT64_C(1) << 20;
	double a = 0.0, last = 0.0;
	for (uint64_t k = 1; k <= exact; k++) {
		double kk = (double)k;
		last = theta_spread(sigma * sqrt(kk / (kk + 1.0)));
		a += last;
	}
	// The terms decrease in k: the last one bounds every later one.
	a += (double)(terms - exact) * last;
	return a;
}

// The coupling route's terms of steps releases shaped like m.
static fb_err
ddg_grid(const struct fb_acct_ddg *m, uint64_t steps, double *t1, double *t2,
		double *le)
{
	double s = sqrt((double)m->n_honest) * m->sigma_share;
	fb_err err = grid_terms(steps, m->dim, s, t1, t2, le);
	if (err != FB_OK) {
		return err;
	}
	double a = fb_acct_ddg_ratio(m->sigma_share, m->n_honest);
	double extra = (double)steps * (double)m->dim * a * (1.0 + 1e-12);
	*t1 += extra;
	*t2 += extra;
	return FB_OK;
}

fb_err
fb_acct_add_ddg(struct fb_acct *acct, const struct fb_acct_ddg *m,
		uint64_t steps)
{
	fb_err err = check_ddg(m);
	if (err == FB_OK) {
		err = check_steps(steps);
	}
	double t1 = 0, t2 = 0, le = 0;
	if (err == FB_OK) {
		err = ddg_grid(m, steps, &t1, &t2, &le);
	}
	if (err != FB_OK) {
		return err;
	}
	double *kls = NULL;
	size_t n = 0;
	if (acct->kind == FB_ACCT_RDP) {
		const double *orders = fb_acct_rdp_orders(&n);
		kls = malloc(n * sizeof(double));
		if (kls == NULL) {
			return FB_ENOMEM;
		}
		for (size_t i = 0; i < n && err == FB_OK; i++) {
			err = fb_acct_ddg_rdp(m, orders[i], &kls[i]);
		}
	}
	if (err == FB_OK) {
		err = add_entry(acct, m->q, fb_acct_ddg_sigma(m), steps, false);
	}
	if (err != FB_OK) {
		free(kls);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		acct->rdp_kls[i] += (double)steps * kls[i];
	}
	free(kls);
	grid_sum_add(&acct->grid, t1, t2, le);
	acct->n_ddg += steps;
	return FB_OK;
}

fb_err
fb_acct_ddg_epsilon_for(enum fb_acct_kind kind, const struct fb_acct_ddg *m,
		uint64_t steps, double delta, double *eps)
{
	fb_err err = check_delta(delta);
	if (err != FB_OK) {
		return err;
	}
	struct fb_acct *a = NULL;
	err = fb_acct_create(&a, kind);
	if (err == FB_OK) {
		err = fb_acct_add_ddg(a, m, steps);
	}
	if (err == FB_OK) {
		err = fb_acct_epsilon(a, delta, eps);
	}
	fb_acct_destroy(a);
	return err;
}

fb_err
fb_acct_ddg_alone_epsilon(enum fb_acct_kind kind, const struct fb_acct_ddg *m,
		uint64_t steps, double delta, double *eps)
{
	struct fb_acct_ddg one = *m;
	one.n_honest = 1;
	return fb_acct_ddg_epsilon_for(kind, &one, steps, delta, eps);
}

// *ok = epsilon(m with sigma_share s) <= target.
static fb_err
ddg_meets(enum fb_acct_kind kind, const struct fb_acct_ddg *m, double s,
		uint64_t steps, double target, double delta, bool *ok)
{
	struct fb_acct_ddg c = *m;
	c.sigma_share = s;
	double eps;
	fb_err err = fb_acct_ddg_epsilon_for(kind, &c, steps, delta, &eps);
	if (err != FB_OK) {
		return err;
	}
	*ok = eps <= target;
	return FB_OK;
}

fb_err
fb_acct_calibrate_ddg_share(enum fb_acct_kind kind, const struct fb_acct_ddg *m,
		uint64_t steps, double target_eps, double delta,
		double *sigma_share)
{
	struct fb_acct_ddg c = *m;
	double rn = sqrt((double)m->n_honest);
	// The smallest share the accountant takes: 1/2, and 1 grid step in
	// the sum.
	double s_min = fmax(FB_ACCT_DDG_SIGMA_MIN, 1.0 / rn);
	c.sigma_share = s_min;
	fb_err err = check_ddg(&c);
	if (err == FB_OK) {
		err = check_steps(steps);
	}
	if (err == FB_OK) {
		err = check_eps_target(target_eps);
	}
	if (err == FB_OK) {
		err = check_delta(delta);
	}
	if (err != FB_OK) {
		return err;
	}
	// Start from the central continuous calibration.
	double sig;
	err = fb_acct_calibrate_sigma(
			kind, m->q, steps, NULL, target_eps, delta, &sig);
	if (err != FB_OK) {
		return err;
	}
	double hi = fmax(sig * m->l2 / rn, s_min), s_max = 1e6 * m->l2 / rn;
	bool ok = false;
	for (;;) {
		err = ddg_meets(kind, &c, hi, steps, target_eps, delta, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			break;
		}
		if (hi >= s_max) {
			return fb_errorf(FB_EINVAL,
					"epsilon = %g: no noise share up to %g "
					"grid steps reaches it at delta = %g",
					target_eps, s_max, delta);
		}
		hi *= 2.0;
	}
	double lo = hi;
	while (ok && lo > s_min) {
		hi = lo;
		lo = fmax(lo * 0.5, s_min);
		err = ddg_meets(kind, &c, lo, steps, target_eps, delta, &ok);
		if (err != FB_OK) {
			return err;
		}
	}
	if (ok) {
		*sigma_share = lo; // even the smallest share meets it
		return FB_OK;
	}
	while (hi - lo > 1e-5 * hi) {
		double mid = sqrt(lo * hi);
		err = ddg_meets(kind, &c, mid, steps, target_eps, delta, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	// A 6-significant-digit decimal >= hi, kept if it still meets it.
	char buf[32];
	snprintf(buf, sizeof(buf), "%.5e",
			hi + pow(10.0, floor(log10(hi)) - 5));
	double r = strtod(buf, NULL);
	if (r >= hi) {
		err = ddg_meets(kind, &c, r, steps, target_eps, delta, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (ok) {
			hi = r;
		}
	}
	*sigma_share = hi;
	return FB_OK;
}
