// common/privacy/pld.c: a privacy-loss-distribution (PLD) accountant for the
// Poisson-subsampled Gaussian that never reports less than the truth.
//
// Per step, P = N(0, s^2) and M = (1-q) P + q N(1, s^2) (s = sigma). The
// "remove" direction is the pair (M, P), "add" is (P, M); each is composed
// separately over all steps (the neighbouring pair is the same at every
// step) and delta(eps) is the worse of the two (Zhu, Dong, Wang 2022).
// Why the result is an upper bound, step by step:
//  1. Discretisation. Grid l_k = k h. With connect-the-dots, the mass of
//     each cell (l_k, l_k+1] is split between its ends so that mass and
//     E[e^-L] are kept; the hockey-stick curve of the result interpolates
//     the true (convex in e^eps) one from above, i.e. it dominates it for
//     every eps, which survives composition (Doroshenko et al. 2022). With
//     round-up, every loss moves up to the next grid point. The computed
//     cell masses carry explicit error bounds and are rounded in the safe
//     direction (more mass, more of it on the upper end).
//  2. Truncation. Losses beyond the Gaussian's 10-sigma range go to +inf
//     (upper side) or to the lowest grid point (lower side): both only move
//     mass upwards.
//  3. Composition by FFT in a window [a, b] chosen by Chernoff bounds on
//     the discrete distributions: the mass outside it (<= 1e-18 a side,
//     bounded exactly) is added to delta; what wraps around only adds mass.
//  4. FFT round-off: a bound on the error of the composed vector, per
//     entry and in L2 (each FFT output off by <= 32 u log2 N times the
//     input's L1 norm, amplified by the powering only where the spectrum
//     is near 1, plus the powering and products), times the L1 or L2 norm
//     of the delta weights, whichever is smaller, is added to delta.
// Everything added is printed by fb_pld_stats(); for the usual deltas it is
// far below delta itself.
#include <complex.h>
#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/privacy/pld.h"

#define U (DBL_EPSILON / 2)
#define SQRT2 1.41421356237309504880
#define INV_SQRT_2PI 0.39894228040143267794
#define Z_TRUNC 10.0   // Gaussian range kept per step, in std units
#define TAIL_TAU 1e-18 // Chernoff target outside the window, a side
#define DEFAULT_POINTS (1u << 17)
#define MAX_POINTS ((size_t)1 << 25)
#define MAX_STEP_POINTS ((size_t)1 << 24)

enum { DIR_REMOVE = 0, DIR_ADD = 1 };

// One step's discretised PLD in one direction: atoms p[i] at loss
// (k_lo + i) h, plus mass at +infinity.
struct step_pmf {
	int64_t k_lo;
	size_t len;
	double *p;
	double inf;
	uint64_t steps;
	double mass;        // sum of p
	double l2;          // L2 norm of p
	size_t first, last; // p[first..last) holds every non-zero atom
};

// One direction of the composition: window values p[i] at loss
// (a_idx + i) h with suffix sums for delta(eps), and what is added.
struct dir_result {
	double h;
	int64_t a_idx;
	size_t n;
	double *p;
	double *s0;   // s0[i] = sum_{j >= i} p[j]
	double *s1;   // s1[i] = sum_{j >= i} p[j] e^{-(j - i) h}
	double inf;   // mass at +infinity
	double tails; // Chernoff bounds on mass outside the window
	double e2;    // bound on the L2 error of p
	double einf;  // bound on the error of each p[i]
	size_t fft_len;
};

struct fb_pld {
	struct dir_result dir[2];
};

static pthread_mutex_t fftw_lock = PTHREAD_MUTEX_INITIALIZER;

// --- the mechanism ---

// log(a + b) for logs a, b.
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

// Remove-direction privacy loss at output x:
// log(M(x) / P(x)) = log((1-q) + q e^{(2x-1)/(2 s^2)}).
static double
loss_remove(double q, double sigma, double x)
{
	double l1q = q < 1 ? log1p(-q) : -INFINITY;
	return log_add(l1q, log(q) + (2 * x - 1) / (2 * sigma * sigma));
}

// The x where the remove loss equals l (increasing in l), -inf below the
// loss range; *err bounds its absolute rounding error. The add loss is
// minus the remove loss, so its x is x_of_loss(-l) (decreasing in l).
static double
x_of_loss(double q, double sigma, double l, double *err)
{
	double s2 = sigma * sigma, lg, cond;
	if (q == 1.0) {
		lg = l;
		cond = 1.0;
	} else if (l > 0) {
		// log(e^l - (1-q)) = l + log1p(-(1-q) e^-l)
		double t = (1 - q) * exp(-l);
		lg = l + log1p(-t);
		cond = 1.0 + t / (1.0 - t);
	} else {
		double arg = expm1(l) + q;
		if (!(arg > 0)) {
			*err = 0;
			return -INFINITY;
		}
		lg = log(arg);
		cond = (fabs(expm1(l)) + q) / arg;
	}
	double x = s2 * (lg - log(q)) + 0.5;
	*err = 8 * U * (fabs(x) + 1.0 + s2 * (fabs(l) + fabs(log(q)) + cond));
	return x;
}

// The loss range kept for one step in one direction (see the header
// comment, point 2).
static void
loss_range(double q, double sigma, int dir, double *lo, double *hi)
{
	double zs = Z_TRUNC * sigma;
	if (dir == DIR_REMOVE) {
		*lo = q < 1 ? log1p(-q) : loss_remove(q, sigma, -zs);
		*hi = loss_remove(q, sigma, 1 + zs);
	} else {
		*lo = -loss_remove(q, sigma, zs);
		*hi = q < 1 ? -log1p(-q) : -loss_remove(q, sigma, -zs);
	}
}

// Gaussian mass values at one x for means 0 and 1: the smaller of the two
// tails (CDF for t <= 0, survival for t > 0) and a bound on its error,
// which includes the mass of the sliver the rounding of x may misplace.
struct edge {
	double x;
	double t[2], s[2], e[2];
};

static void
edge_at(struct edge *g, double q, double sigma, int dir, double l)
{
	double xe;
	double x = x_of_loss(q, sigma, dir == DIR_REMOVE ? l : -l, &xe);
	g->x = x;
	for (int m = 0; m < 2; m++) {
		double t = (x - m) / sigma;
		g->t[m] = t;
		if (isinf(t)) {
			g->s[m] = 0;
			g->e[m] = 0;
			continue;
		}
		double s = 0.5 * erfc(fabs(t) / SQRT2);
		double dens = INV_SQRT_2PI * exp(-0.5 * t * t);
		g->s[m] = s;
		g->e[m] = 16 * U * s + dens * (xe / sigma + 4 * U * fabs(t));
	}
}

// Mass of N(m, s^2) on the x-interval between edges a and b (a.x <= b.x),
// with its error bound.
static double
interval_mass(const struct edge *a, const struct edge *b, int m, double *err)
{
	double ta = a->t[m], tb = b->t[m], v;
	if (tb <= 0) {
		v = b->s[m] - a->s[m];
	} else if (ta >= 0) {
		v = a->s[m] - b->s[m];
	} else {
		v = 1.0 - a->s[m] - b->s[m];
	}
	*err = a->e[m] + b->e[m] + 4 * U * (fabs(v) + 1e-300);
	if (ta < 0 && tb > 0) {
		*err += 4 * U; // 1 - ... loses up to an ulp of 1
	}
	return v > 0 ? v : 0;
}

// Mass of N(m, s^2) below (upper == 0) or above (upper == 1) edge g.
static double
half_mass(const struct edge *g, int m, int upper, double *err)
{
	double t = g->t[m], s = g->s[m];
	bool small = upper ? t > 0 : t <= 0;
	double v = small ? s : 1.0 - s;
	*err = g->e[m] + (small ? 0 : 4 * U); // 1 - s rounds to an ulp of 1
	return v > 0 ? v : 0;
}

// Masses under the first (p1) and second (p2) distribution of the pair of
// direction dir, from the N(0) and N(1) masses, with error bounds.
static void
pair_masses(double q, int dir, double g0, double e0, double g1, double e1,
		double *p1, double *ep1, double *p2, double *ep2)
{
	double mix = (1 - q) * g0 + q * g1;
	double emix = (1 - q) * e0 + q * e1 + 2 * U * mix;
	if (dir == DIR_REMOVE) {
		*p1 = mix, *ep1 = emix, *p2 = g0, *ep2 = e0;
	} else {
		*p1 = g0, *ep1 = e0, *p2 = mix, *ep2 = emix;
	}
}

// Discretises one step of (q, sigma) in direction dir on the grid of step h
// (header comment, points 1 and 2).
static fb_err
discretise(struct step_pmf *out, double q, double sigma, uint64_t steps,
		int dir, double h, enum fb_pld_disc disc)
{
	double lo, hi;
	loss_range(q, sigma, dir, &lo, &hi);
	double klo = floor(lo / h), khi = ceil(hi / h);
	if (!(khi - klo < (double)MAX_STEP_POINTS)) {
		return fb_errorf(FB_EINVAL,
				"PLD grid step %g is too fine for "
				"q = %g, sigma = %g",
				h, q, sigma);
	}
	if (khi <= klo) {
		khi = klo + 1;
	}
	size_t len = (size_t)(khi - klo) + 1;
	double *p = calloc(len, sizeof(double));
	if (p == NULL) {
		return FB_ENOMEM;
	}
	int64_t k_lo = (int64_t)klo;
	double eh = exp(h), em1 = expm1(h);
	struct edge cur, nxt;
	edge_at(&cur, q, sigma, dir, (double)k_lo * h);
	// Below the grid (losses < l_k_lo): all of it to the lowest atom.
	{
		double g[2], e[2], p1, ep1, p2, ep2;
		for (int m = 0; m < 2; m++) {
			g[m] = half_mass(&cur, m, dir == DIR_ADD, &e[m]);
		}
		pair_masses(q, dir, g[0], e[0], g[1], e[1], &p1, &ep1, &p2,
				&ep2);
		p[0] += p1 + ep1;
	}
	for (size_t i = 0; i + 1 < len; i++) {
		double l_up = (double)(k_lo + (int64_t)i + 1) * h;
		edge_at(&nxt, q, sigma, dir, l_up);
		const struct edge *a = dir == DIR_REMOVE ? &cur : &nxt;
		const struct edge *b = dir == DIR_REMOVE ? &nxt : &cur;
		double g[2], e[2], p1, ep1, p2, ep2;
		for (int m = 0; m < 2; m++) {
			g[m] = interval_mass(a, b, m, &e[m]);
		}
		pair_masses(q, dir, g[0], e[0], g[1], e[1], &p1, &ep1, &p2,
				&ep2);
		double m_up = p1 + ep1; // at least the cell's mass
		double upper = m_up;
		if (disc == FB_PLD_CONNECT_DOTS && m_up > 0) {
			// Share on l_up of a cell with first-distribution mass
			// P and second Q: (e^h P - e^{l_up} Q) / (e^h - 1),
			// taken with P high and Q low, plus the rounding.
			double p2lo = p2 - ep2 > 0 ? p2 - ep2 : 0;
			double a1 = eh * m_up, a2 = exp(l_up) * p2lo;
			double num = a1 - a2 + 4 * U * (a1 + a2);
			upper = num / em1 * (1 + 4 * U);
			if (!(upper >= 0)) {
				upper = 0;
			}
			if (upper > m_up) {
				upper = m_up;
			}
		}
		p[i + 1] += upper;
		p[i] += m_up - upper;
		cur = nxt;
	}
	// Above the grid (losses > l_k_hi): to +infinity.
	double g[2], e[2], p1, ep1, p2, ep2;
	for (int m = 0; m < 2; m++) {
		g[m] = half_mass(&cur, m, dir == DIR_REMOVE, &e[m]);
	}
	pair_masses(q, dir, g[0], e[0], g[1], e[1], &p1, &ep1, &p2, &ep2);
	out->inf = p1 > 0 ? p1 + ep1 : 0;
	out->k_lo = k_lo;
	out->len = len;
	out->p = p;
	out->steps = steps;
	double mass = 0, l2 = 0;
	for (size_t i = 0; i < len; i++) {
		mass += p[i];
		l2 += p[i] * p[i];
	}
	size_t first = 0, last = len;
	while (first < last && p[first] == 0) {
		first++;
	}
	while (last > first && p[last - 1] == 0) {
		last--;
	}
	out->first = first;
	out->last = last;
	out->mass = mass * (1 + len * U);
	out->l2 = sqrt(l2) * (1 + len * U);
	return FB_OK;
}

// --- Chernoff window ---

// log sum_i p[i] e^{lam l_i} with l_i = (k_lo + i) h, by a recurrence from
// the end where lam l_i is largest (no overflow), four chains at a time;
// once the factor falls below 1e-300 the rest is bounded by 1e-300 times
// its mass (no subnormal arithmetic). -inf for an empty pmf.
static double
log_mgf(const struct step_pmf *s, double lam, double h)
{
	size_t first = s->first, last = s->last;
	if (first >= last) {
		return -INFINITY;
	}
	size_t n = last - first;
	const double *p = s->p + first;
	bool up = lam >= 0;
	double r = exp(-fabs(lam) * h), r4 = r * r * r * r;
	double w[4] = {1, r, r * r, r * r * r}, acc[4] = {0, 0, 0, 0};
	size_t k = 0;
	for (; k + 4 <= n && w[0] > 1e-300; k += 4) {
		for (int c = 0; c < 4; c++) {
			acc[c] += p[up ? n - 1 - (k + c) : k + c] * w[c];
			w[c] *= r4;
		}
	}
	double sum = acc[0] + acc[1] + acc[2] + acc[3], w1 = w[0];
	for (; k < n && w1 > 1e-300; k++) {
		sum += p[up ? n - 1 - k : k] * w1;
		w1 *= r;
	}
	if (k < n) {
		sum += 1e-300 * s->mass; // factors of the rest are < 1e-300
	}
	double l_end = (double)(s->k_lo + (int64_t)(up ? last - 1 : first)) * h;
	return lam * l_end + log(sum);
}

// sum_j T_j log M_j(lam), inflated by the rounding of the recurrences.
static double
log_mgf_total(const struct step_pmf *s, size_t n, double lam, double h)
{
	double k = 0;
	for (size_t j = 0; j < n; j++) {
		double lm = log_mgf(&s[j], lam, h);
		k += (double)s[j].steps * (lm + 4 * U * (double)s[j].len);
	}
	return k;
}

// For side +1: an index b with P(S > b h) <= bound, from the Chernoff
// bound e^{-lam (b+1) h} prod M_j(lam)^T_j; for side -1 an index a with
// P(S < a h) <= bound likewise. Any lam > 0 gives a valid bound; the one
// that gives the narrowest window is found by golden section on log lam
// (the edge is quasi-convex in lam) unless *lam holds a hint (> 0), which
// is then used as is. *lam returns the lam used.
static void
chernoff(const struct step_pmf *s, size_t n, double h, int side, double *lam,
		int64_t *idx, double *bound)
{
	const double log_tau = log(TAIL_TAU);
	const double sg = side > 0 ? 1.0 : -1.0;
#define EDGE(l) (sg * (log_mgf_total(s, n, sg * (l), h) - log_tau) / (l))
	double best_lam = *lam;
	if (!(best_lam > 0)) {
		double lo = log(1e-4), hi = log(1e5);
		const double gr = 0.6180339887498949;
		double x1 = hi - gr * (hi - lo), x2 = lo + gr * (hi - lo);
		double f1 = EDGE(exp(x1)), f2 = EDGE(exp(x2));
		for (int it = 0; it < 28; it++) {
			bool first_better = side > 0 ? f1 < f2 : f1 > f2;
			if (first_better) {
				hi = x2;
				x2 = x1;
				f2 = f1;
				x1 = hi - gr * (hi - lo);
				f1 = EDGE(exp(x1));
			} else {
				lo = x1;
				x1 = x2;
				f1 = f2;
				x2 = lo + gr * (hi - lo);
				f2 = EDGE(exp(x2));
			}
		}
		best_lam = exp(0.5 * (lo + hi));
	}
#undef EDGE
	double k = log_mgf_total(s, n, sg * best_lam, h);
	double edge = (k - log_tau) / best_lam; // distance from 0, signed
	if (side > 0) {
		// Mass above index b: S >= (b + 1) h >= edge.
		int64_t b = (int64_t)ceil(edge / h) - 1;
		*idx = b;
		*bound = exp(-best_lam * (double)(b + 1) * h + k);
	} else {
		// Mass below index a: S <= (a - 1) h <= -edge.
		int64_t a = (int64_t)floor(-edge / h) + 1;
		*idx = a;
		*bound = exp(best_lam * (double)(a - 1) * h + k);
	}
	*bound *= 1 + 1e-9;
	*lam = best_lam;
}

// --- FFT composition ---

static size_t
nice_size(size_t m)
{
	for (size_t n = m > 16 ? m : 16;; n++) {
		size_t r = n;
		static const size_t f[] = {2, 3, 5, 7};
		for (int i = 0; i < 4; i++) {
			while (r % f[i] == 0) {
				r /= f[i];
			}
		}
		if (r == 1) {
			return n;
		}
	}
}

static void
dir_finish(struct dir_result *d)
{
	free(d->p);
	free(d->s0);
	free(d->s1);
}

// Composes the step pmfs of one direction into d (header comment, points
// 3 and 4).
static fb_err
compose_dir(struct dir_result *d, const struct step_pmf *s, size_t n, double h,
		const double lam_hint[2])
{
	fb_err err = FB_OK;
	int64_t a_idx, b_idx;
	double t_lo, t_hi, lam_lo = lam_hint[0], lam_hi = lam_hint[1];
	chernoff(s, n, h, -1, &lam_lo, &a_idx, &t_lo);
	chernoff(s, n, h, +1, &lam_hi, &b_idx, &t_hi);
	if (b_idx < a_idx) {
		b_idx = a_idx;
	}
	if ((double)(b_idx - a_idx) >= (double)MAX_POINTS) {
		return fb_errorf(FB_EINVAL,
				"PLD window of %.0f points at grid "
				"step %g is too large",
				(double)(b_idx - a_idx) + 1, h);
	}
	size_t win = (size_t)(b_idx - a_idx) + 1;
	size_t N = nice_size(win);
	size_t nc = N / 2 + 1;
	double *buf = fftw_malloc(N * sizeof(double));
	fftw_complex *spec = fftw_malloc(nc * sizeof(fftw_complex));
	fftw_complex *acc = fftw_malloc(nc * sizeof(fftw_complex));
	double *out = calloc(N, sizeof(double));
	fftw_plan fwd = NULL, inv = NULL;
	if (buf == NULL || spec == NULL || acc == NULL || out == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&fftw_lock);
	fwd = fftw_plan_dft_r2c_1d((int)N, buf, spec, FFTW_ESTIMATE);
	inv = fftw_plan_dft_c2r_1d((int)N, acc, buf, FFTW_ESTIMATE);
	pthread_mutex_unlock(&fftw_lock);
	if (fwd == NULL || inv == NULL) {
		err = fb_errorf(FB_ENOMEM, "FFTW could not plan length %zu", N);
		goto fail;
	}
	// Round-off bookkeeping (header comment, point 4). Assumed: every
	// output of an FFTW transform of length N is off by at most
	// rho * (L1 norm of the input), rho = 32 u log2 N (each Cooley-Tukey
	// stage adds at most a few u times a sum of |inputs| over disjoint
	// index sets; 32 leaves a margin). Per frequency k we track
	// m = |A^_k| + rho |a|_1 >= max(|A_k|, |A^_k|), log M_k = sum T log m
	// (M_k bounds |C_k|, exact and computed) and the relative error
	// sum T rho |a|_1 / m + powering rounding, so that
	// |C^_k - C_k| <= M_k * rel_k.
	double lgN = ceil(log2((double)N));
	double rho = 32 * U * lgN;
	double sqN = sqrt((double)N);
	double *lm = calloc(nc, sizeof(double));
	double *rel = calloc(nc, sizeof(double));
	if (lm == NULL || rel == NULL) {
		free(lm);
		free(rel);
		err = FB_ENOMEM;
		goto fail;
	}
	double log_inf = 0;
	int64_t k0 = 0;
	for (size_t i = 0; i < nc; i++) {
		acc[i] = 1.0;
	}
	for (size_t j = 0; j < n; j++) {
		const struct step_pmf *sj = &s[j];
		double T = (double)sj->steps;
		memset(buf, 0, N * sizeof(double));
		for (size_t i = 0; i < sj->len; i++) {
			buf[i % N] += sj->p[i];
		}
		fftw_execute_dft_r2c(fwd, buf, spec);
		double dA = rho * sj->mass;
		for (size_t k = 0; k < nc; k++) {
			double re = creal(spec[k]), im = cimag(spec[k]);
			double r = hypot(re, im), m = r + dA;
			lm[k] += T * log(m);
			rel[k] += T * dA / m;
			if (acc[k] == 0) {
				continue;
			}
			double lr = r > 0 ? log(r) : -INFINITY;
			double mag = exp(T * lr);
			if (!(mag > 0)) {
				acc[k] = 0; // |A_k|^T underflows: below 1e-308
				continue;
			}
			double th = atan2(im, re), ang = T * th;
			acc[k] *= mag * (cos(ang) + I * sin(ang));
			rel[k] += U *
					(8 * T * (fabs(lr) + fabs(th) + 1) + 8 +
							4 * (double)n);
		}
		k0 += (int64_t)sj->steps * sj->k_lo;
		log_inf += T * log1p(-(sj->inf < 1 ? sj->inf : 1));
	}
	// Spectrum error |C^_k - C_k| <= b_k; the inverse transform adds
	// rho * |C^|_1 per output; both are divided by N. Sums run over the
	// full (Hermitian) spectrum.
	double b1 = 0, b2 = 0, c1 = 0;
	for (size_t k = 0; k < nc; k++) {
		double w = (k == 0 || 2 * k == N) ? 1 : 2;
		double M = exp(lm[k]);
		double b = M * rel[k] + (acc[k] == 0 ? M : 0);
		b1 += w * b;
		b2 += w * b * b;
		c1 += w * cabs(acc[k]);
	}
	free(lm);
	free(rel);
	fftw_execute_dft_c2r(inv, acc, buf);
	double inv_n = 1.0 / (double)N;
	d->h = h;
	d->a_idx = a_idx;
	d->n = N; // the whole period: the window grows to fill it
	d->fft_len = N;
	d->p = out;
	out = NULL;
	for (size_t i = 0; i < N; i++) {
		// loss index a_idx + i sits at circular position (. - k0) mod N
		int64_t pos = (a_idx + (int64_t)i - k0) % (int64_t)N;
		if (pos < 0) {
			pos += (int64_t)N;
		}
		double v = buf[pos] * inv_n;
		d->p[i] = v > 0 ? v : 0;
	}
	// Per-entry and L2 bounds on the error of p (before clamping at 0,
	// which only adds).
	double margin = 1 + 8 * rho;
	d->einf = (b1 + rho * c1) * inv_n * margin;
	d->e2 = (sqrt(b2) / sqN + sqN * rho * c1 * inv_n) * margin;
	d->inf = -expm1(log_inf) * (1 + 1e-12);
	d->tails = t_lo + t_hi;
	d->s0 = malloc(N * sizeof(double));
	d->s1 = malloc(N * sizeof(double));
	if (d->s0 == NULL || d->s1 == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	double e_h = exp(-h), a0 = 0, a1 = 0;
	for (size_t i = N; i-- > 0;) {
		a0 += d->p[i];
		a1 = d->p[i] + e_h * a1;
		d->s0[i] = a0;
		d->s1[i] = a1;
	}
fail:
	pthread_mutex_lock(&fftw_lock);
	if (fwd != NULL) {
		fftw_destroy_plan(fwd);
	}
	if (inv != NULL) {
		fftw_destroy_plan(inv);
	}
	pthread_mutex_unlock(&fftw_lock);
	fftw_free(buf);
	fftw_free(spec);
	fftw_free(acc);
	free(out);
	return err;
}

// --- public ---

static void
free_pmfs(struct step_pmf *s, size_t n)
{
	if (s == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		free(s[i].p);
	}
	free(s);
}

static fb_err
discretise_all(struct step_pmf **out, const struct fb_acct_entry *e, size_t n,
		int dir, double h, enum fb_pld_disc disc)
{
	struct step_pmf *s = calloc(n, sizeof(*s));
	if (s == NULL) {
		return FB_ENOMEM;
	}
	for (size_t j = 0; j < n; j++) {
		fb_err err = discretise(&s[j], e[j].q, e[j].sigma, e[j].steps,
				dir, h, disc);
		if (err != FB_OK) {
			free_pmfs(s, n);
			return err;
		}
	}
	*out = s;
	return FB_OK;
}

// The automatic grid step: a coarse pilot composition gives the width of
// the window; the grid then puts about `points` points in it (and at most
// 4 * points in any one step's range). The pilot's Chernoff parameters
// are kept as hints for the real composition.
static fb_err
auto_step(const struct fb_acct_entry *e, size_t n, enum fb_pld_disc disc,
		size_t points, double *h, double lam[2][2])
{
	double support = 0;
	for (size_t j = 0; j < n; j++) {
		for (int dir = 0; dir < 2; dir++) {
			double lo, hi;
			loss_range(e[j].q, e[j].sigma, dir, &lo, &hi);
			if (hi - lo > support) {
				support = hi - lo;
			}
		}
	}
	double h0 = support / 2048;
	double width = 0;
	for (int dir = 0; dir < 2; dir++) {
		struct step_pmf *s = NULL;
		fb_err err = discretise_all(&s, e, n, dir, h0, disc);
		if (err != FB_OK) {
			return err;
		}
		int64_t a, b;
		double t;
		lam[dir][0] = lam[dir][1] = 0;
		chernoff(s, n, h0, -1, &lam[dir][0], &a, &t);
		chernoff(s, n, h0, +1, &lam[dir][1], &b, &t);
		free_pmfs(s, n);
		double w = (double)(b - a + 2) * h0;
		if (w > width) {
			width = w;
		}
	}
	double hw = width / (double)points, hs = support / (4.0 * points);
	*h = hw > hs ? hw : hs;
	if (*h < 1e-9) {
		*h = 1e-9;
	}
	return FB_OK;
}

fb_err
fb_pld_create(struct fb_pld **out, const struct fb_acct_entry *entries,
		size_t n, const struct fb_pld_opts *opts)
{
	if (n == 0) {
		return fb_errorf(FB_EINVAL, "no entries to compose");
	}
	for (size_t j = 0; j < n; j++) {
		const struct fb_acct_entry *e = &entries[j];
		if (!(e->q > 0 && e->q <= 1)) {
			return fb_errorf(FB_EINVAL,
					"sampling rate q = %g is outside (0, 1]",
					e->q);
		}
		if (!(e->sigma > 0) || !isfinite(e->sigma)) {
			return fb_errorf(FB_EINVAL,
					"noise multiplier sigma = %g must be "
					"positive and finite",
					e->sigma);
		}
		if (e->steps < 1) {
			return fb_errorf(FB_EINVAL,
					"steps = 0: must be at least 1");
		}
	}
	struct fb_pld_opts o = {FB_PLD_CONNECT_DOTS, 0, 0};
	if (opts != NULL) {
		o = *opts;
	}
	if (o.points == 0) {
		o.points = DEFAULT_POINTS;
	}
	fb_err err = FB_OK;
	double h = o.h, lam[2][2] = {{0, 0}, {0, 0}};
	if (!(h > 0)) {
		err = auto_step(entries, n, o.disc, o.points, &h, lam);
		if (err != FB_OK) {
			return err;
		}
	}
	struct fb_pld *pld = calloc(1, sizeof(*pld));
	if (pld == NULL) {
		return FB_ENOMEM;
	}
	for (int dir = 0; dir < 2 && err == FB_OK; dir++) {
		struct step_pmf *s = NULL;
		err = discretise_all(&s, entries, n, dir, h, o.disc);
		if (err == FB_OK) {
			err = compose_dir(&pld->dir[dir], s, n, h, lam[dir]);
		}
		free_pmfs(s, n);
	}
	if (err != FB_OK) {
		fb_pld_destroy(pld);
		return err;
	}
	*out = pld;
	return FB_OK;
}

void
fb_pld_destroy(struct fb_pld *pld)
{
	if (pld == NULL) {
		return;
	}
	dir_finish(&pld->dir[0]);
	dir_finish(&pld->dir[1]);
	free(pld);
}

// Upper bound on one direction's delta(eps).
static double
dir_delta(const struct dir_result *d, double eps)
{
	// i: the first window index whose loss is > eps.
	double fi = floor(eps / d->h - (double)d->a_idx) + 1;
	size_t i;
	if (fi <= 0) {
		i = 0;
	} else if (fi >= (double)d->n) {
		i = d->n;
	} else {
		i = (size_t)fi;
	}
	while (i > 0 && (double)(d->a_idx + (int64_t)i - 1) * d->h > eps) {
		i--;
	}
	while (i < d->n && (double)(d->a_idx + (int64_t)i) * d->h <= eps) {
		i++;
	}
	double sum = 0, s0 = 0;
	if (i < d->n) {
		double li = (double)(d->a_idx + (int64_t)i) * d->h;
		s0 = d->s0[i];
		sum = s0 - exp(eps - li) * d->s1[i];
		if (sum < 0) {
			sum = 0;
		}
	}
	double na = (double)(d->n - i);
	double fft = fmin(d->e2 * sqrt(na), d->einf * na);
	double slack = (3 * (double)d->n + 4) * U * s0 + fft;
	return (sum + slack + d->inf + d->tails) * (1 + 1e-12);
}

double
fb_pld_delta_dir(const struct fb_pld *pld, int dir, double eps)
{
	double d = dir_delta(&pld->dir[dir != 0], eps);
	return d < 1 ? d : 1;
}

double
fb_pld_delta(const struct fb_pld *pld, double eps)
{
	double a = dir_delta(&pld->dir[0], eps);
	double b = dir_delta(&pld->dir[1], eps);
	double d = a > b ? a : b;
	return d < 1 ? d : 1;
}

double
fb_pld_epsilon(const struct fb_pld *pld, double delta)
{
	if (fb_pld_delta(pld, 0) <= delta) {
		return 0;
	}
	double hi = 0;
	for (int dir = 0; dir < 2; dir++) {
		const struct dir_result *d = &pld->dir[dir];
		double top = (double)(d->a_idx + (int64_t)d->n) * d->h;
		if (top > hi) {
			hi = top;
		}
	}
	if (fb_pld_delta(pld, hi) > delta) {
		return INFINITY;
	}
	double lo = 0;
	for (int it = 0; it < 200 && hi - lo > 1e-12 * (1 + hi); it++) {
		double mid = 0.5 * (lo + hi);
		if (fb_pld_delta(pld, mid) <= delta) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	return hi;
}

void
fb_pld_stats(const struct fb_pld *pld, int dir, struct fb_pld_stats *out)
{
	const struct dir_result *d = &pld->dir[dir != 0];
	out->h = d->h;
	out->window = d->n;
	out->fft_len = d->fft_len;
	out->inf_mass = d->inf;
	out->tail_bound = d->tails;
	out->fft_err_l2 = d->e2;
	out->fft_err_max = d->einf;
	out->lo = (double)d->a_idx * d->h;
	out->hi = (double)(d->a_idx + (int64_t)d->n - 1) * d->h;
}
