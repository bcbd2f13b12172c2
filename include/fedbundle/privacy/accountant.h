// include/fedbundle/privacy/accountant.h: privacy accounting for the
// Poisson-subsampled Gaussian mechanism (sampling rate q, noise multiplier
// sigma = noise std / L2 sensitivity) under add/remove-one neighbouring,
// composed over steps that may differ in (q, sigma).
//
// Two accountants, both upper bounds on the true epsilon(delta):
//   FB_ACCT_RDP  Renyi DP of the sampled Gaussian (Mironov, Talwar, Zhang
//                2019) over a dense set of orders, with the tight
//                RDP -> (eps, delta) conversion (Balle et al. 2020, Prop. 12).
//   FB_ACCT_PLD  a pessimistic privacy-loss-distribution accountant: both
//                neighbouring directions are discretised so the result
//                dominates the true one, composed by FFT (FFTW), and every
//                truncation and the FFT round-off is bounded and added to
//                delta. Tighter than RDP, slower (tens of ms).
//
// The state of an accountant is its list of entries (q, sigma, steps): small,
// plain data that a ledger can store and replay through fb_acct_add().
// Inputs are validated everywhere: q in (0,1], sigma > 0 and finite,
// steps >= 1, delta in (0,1), epsilon > 0; a bad one is FB_EINVAL with a
// detail naming the parameter.
// Thread-safety: an accountant belongs to one thread at a time; distinct
// accountants and all free functions may be used from any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_ACCOUNTANT_H
#define FB_INCLUDE_FEDBUNDLE_ACCOUNTANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

enum fb_acct_kind {
	FB_ACCT_RDP = 0,
	FB_ACCT_PLD = 1,
};

// One ledger line: `steps` steps of the mechanism with rate q and noise
// multiplier sigma.
struct fb_acct_entry {
	double q;
	double sigma;
	uint64_t steps;
};

struct fb_acct;

// "rdp" or "pld"; a static string, "?" for an unknown kind.
const char *fb_acct_kind_name(enum fb_acct_kind kind);

// Parses "rdp" or "pld" (case-sensitive). FB_EINVAL otherwise.
fb_err fb_acct_kind_parse(const char *s, enum fb_acct_kind *out);

// On success stores an empty accountant in *out; the caller owns it
// (fb_acct_destroy). FB_EINVAL for an unknown kind, FB_ENOMEM.
fb_err fb_acct_create(struct fb_acct **out, enum fb_acct_kind kind);

// Frees the accountant; NULL is a no-op.
void fb_acct_destroy(struct fb_acct *acct);

// Composes `steps` more steps of (q, sigma). A run of entries with the same
// (q, sigma) is merged into one. FB_EINVAL (accountant untouched) for bad
// parameters or if the total step count would overflow; FB_ENOMEM.
fb_err fb_acct_add(
		struct fb_acct *acct, double q, double sigma, uint64_t steps);

// Number of (merged) entries, and the i-th of them (FB_EINVAL if i is out
// of range). Together they are the whole state of the accountant.
size_t fb_acct_count(const struct fb_acct *acct);
fb_err fb_acct_entry_at(const struct fb_acct *acct, size_t i,
		struct fb_acct_entry *out);

// Sum of the steps of all entries.
uint64_t fb_acct_total_steps(const struct fb_acct *acct);

// The smallest epsilon >= 0 for which the composition is (epsilon, delta)-DP
// according to this accountant (an upper bound on the true one). 0 for an
// empty accountant; INFINITY if no finite epsilon reaches delta. The PLD
// result is cached until the next fb_acct_add(). FB_EINVAL, FB_ENOMEM.
fb_err fb_acct_epsilon(struct fb_acct *acct, double delta, double *eps);

// Like fb_acct_epsilon(); also stores the optimal Renyi order of the RDP
// accountant in *order (NAN for the PLD accountant or when epsilon is 0 by
// the KL bound).
fb_err fb_acct_epsilon_order(
		struct fb_acct *acct, double delta, double *eps, double *order);

// The delta (an upper bound, at most 1) for which the composition is
// (eps, delta)-DP; eps >= 0 here. FB_EINVAL, FB_ENOMEM.
fb_err fb_acct_delta(struct fb_acct *acct, double eps, double *delta);

// Releases of integers with exact discrete Gaussian noise on a fixed-point
// grid (noise.h): dim coordinates each, noise of noise_steps grid steps
// (>= 1). The accountants above are those of the continuous Gaussian; the
// discrete one differs from the rounded continuous one by a likelihood
// ratio within e^(+-dim (1 + c^2) / (24 s^2)) up to a tail eta beyond c =
// 60 standard deviations (docs/privacy.md section 3). A composition that
// holds such releases is (eps0 + eps_grid, delta)-DP where eps0 is the
// continuous accountant's epsilon at delta0 = delta e^-eps_grid (1 -
// 1e-9), provided the tail fits in 1e-9 delta (otherwise epsilon is
// reported infinite).
struct fb_acct_grid {
	uint64_t dim;       // coordinates of one release
	double noise_steps; // noise std in grid steps (sigma * clip / grid)
};

// Adds the grid's terms of `steps` releases shaped like g (their (q,
// sigma) are added with fb_acct_add). FB_EINVAL if noise_steps < 1.
fb_err fb_acct_add_grid(struct fb_acct *acct, const struct fb_acct_grid *g,
		uint64_t steps);

// Budget enforcement: *exceed is true if composing (q, sigma, steps), with
// the grid's terms of grid (NULL: continuous releases), on top of the
// current entries would make the composition not (eps_budget,
// delta_budget)-DP by this accountant. The accountant is left unchanged.
// FB_EINVAL, FB_ENOMEM.
fb_err fb_acct_would_exceed(struct fb_acct *acct, double q, double sigma,
		uint64_t steps, const struct fb_acct_grid *grid,
		double eps_budget, double delta_budget, bool *exceed);

// One-shot helpers on a single homogeneous entry.
fb_err fb_acct_epsilon_for(enum fb_acct_kind kind, double q, double sigma,
		uint64_t steps, double delta, double *eps);
fb_err fb_acct_delta_for(enum fb_acct_kind kind, double q, double sigma,
		uint64_t steps, double eps, double *delta);

// Calibration: the smallest noise multiplier (to ~1e-5 relative, rounded
// up) for which `steps` steps at rate q, with the grid's terms of grid
// (NULL: continuous; its noise_steps a lower bound of the releases'), are
// (target_eps, delta)-DP by this accountant; the returned sigma is checked
// to meet the target. FB_EINVAL for bad parameters or if no sigma <= 1e6
// meets the target.
fb_err fb_acct_calibrate_sigma(enum fb_acct_kind kind, double q, uint64_t steps,
		const struct fb_acct_grid *grid, double target_eps,
		double delta, double *sigma);

// Calibration on top of what base already holds (an earlier release of
// the same owner, replayed from its ledger): the smallest noise multiplier
// (to ~1e-5 relative, rounded up) for which base's entries plus `steps`
// steps at rate q, with the grid's terms of grid (NULL: continuous), are
// (target_eps, delta)-DP by base's accountant, checked with
// fb_acct_would_exceed exactly as the budget checks them. base is left
// unchanged; with no entries it is fb_acct_calibrate_sigma. FB_EINVAL if
// what base holds leaves no room (no sigma up to 1e6 meets the target).
fb_err fb_acct_calibrate_sigma_after(struct fb_acct *base, double q,
		uint64_t steps, const struct fb_acct_grid *grid,
		double target_eps, double delta, double *sigma);

// --- RDP building blocks (exposed for tests and for other mechanisms) ---

// The default Renyi orders: 1.01..1.99 by 0.01, 2..10 by 0.1, 10..32 by
// 0.25, 32..64 by 0.5, 64..128 by 1, 128..256 by 2, then up to 4096.
// Stores the count in *n; the array is static.
const double *fb_acct_rdp_orders(size_t *n);

// Renyi DP of ONE step of the sampled Gaussian at order alpha > 1:
// log(A_alpha) / (alpha - 1), computed in log space (integer alpha by the
// binomial expansion, fractional alpha by the two-sided series of Mironov
// et al. 2019 Sec. 3.3). q in (0,1], sigma > 0. FB_EINVAL.
fb_err fb_acct_rdp(double q, double sigma, double alpha, double *rdp);

// The tight conversion: min over i of
//   rdp[i] + log((a-1)/a) - (log(delta) + log(a)) / (a-1),  a = orders[i],
// and 0 if sqrt(1 - exp(-min rdp)) <= delta (KL bound); never below 0.
// orders[i] > 1, rdp[i] >= 0 (already multiplied by the step count).
// *order gets the minimising order (NAN if the KL bound gave 0).
fb_err fb_acct_rdp_to_epsilon(const double *orders, const double *rdp, size_t n,
		double delta, double *eps, double *order);

// The matching conversion eps -> delta (min over orders, at most 1).
fb_err fb_acct_rdp_to_delta(const double *orders, const double *rdp, size_t n,
		double eps, double *delta, double *order);

// --- the Gaussian mechanism without subsampling, exactly ---

// The tight delta(eps) of the Gaussian mechanism with noise multiplier sigma
// (Balle and Wang 2018, Thm. 8):
//   Phi(1/(2 sigma) - eps sigma) - e^eps Phi(-1/(2 sigma) - eps sigma).
// T steps compose to one Gaussian with sigma / sqrt(T). eps >= 0.
fb_err fb_acct_gaussian_delta(double sigma, double eps, double *delta);

// The inverse: the smallest eps >= 0 with gaussian_delta(sigma, eps) <= delta
// (bisection to ~1e-12).
fb_err fb_acct_gaussian_epsilon(double sigma, double delta, double *eps);

// --- distributed discrete Gaussian noise (secure aggregation) ---
//
// A release whose noise is the sum of the shares of n_honest clients, each
// share N_Z(0, sigma_share^2) per coordinate on the integer grid, added to
// an integer vector whose change by one unit has L2 norm at most l2 and L1
// norm at most l1 (grid steps), the unit included by Poisson sampling with
// rate q. Only the honest shares count: dropped clients add nothing and
// colluders' shares are known to the adversary; any further independent
// share is post-processing, so the bound at n_honest holds for every round
// with at least n_honest honest survivors (docs/privacy.md section 4a).
// Equal shares are assumed by the KLS route below; the coupling route
// also covers unequal shares of at least sigma_share each.
struct fb_acct_ddg {
	double q;           // Poisson sampling rate of the unit, in (0, 1]
	double sigma_share; // std of one honest share, grid steps, >= 1/2
	uint64_t n_honest;  // honest shares in the sum, at least 1
	double l2;          // L2 sensitivity, grid steps, > 0
	double l1;          // L1 sensitivity, grid steps (0: the bound below)
	uint64_t dim;       // coordinates of one release, >= 1
};

// The smallest sigma_share accepted (Prop. 14 of KLS assumes sigma >= 1/2).
#define FB_ACCT_DDG_SIGMA_MIN 0.5

// The L1 sensitivity of an integer vector of L2 norm at most l2 in dim
// coordinates: min(sqrt(dim) l2, l2^2) if l2 >= 1 (every non-zero integer
// coordinate has |x| <= x^2), else sqrt(dim) l2. Rounded up.
double fb_acct_ddg_l1_bound(double l2, uint64_t dim);

// The noise multiplier of the equivalent central Gaussian:
// sqrt(n_honest) sigma_share / l2.
double fb_acct_ddg_sigma(const struct fb_acct_ddg *m);

// Route "KLS": Kairouz, Liu and Steinke 2021 (ICML; arXiv:2102.06387,
// Proposition 14, Eq. (17)): with V = n sigma_share^2 and tau =
// fb_noise_dgauss_tau(sigma_share, n), one step at q = 1 has Renyi
// divergence at order alpha at most
//   min(alpha l2^2 / (2V) + tau dim,
//       alpha/2 (l2^2 / V + 2 tau l1 / sqrt(V) + tau^2 dim),
//       alpha/2 (l2 / sqrt(V) + tau sqrt(dim))^2),
// for every alpha > 1. For q < 1, the general Poisson-subsampled RDP bound
// of Zhu and Wang 2019 (ICML, Theorem 5) on that curve at integer alpha,
// and never above the q = 1 value (the only bound at fractional alpha).
// Stores the bound for ONE step in *rdp. FB_EINVAL for bad parameters.
fb_err fb_acct_ddg_rdp(const struct fb_acct_ddg *m, double alpha, double *rdp);

// Route "coupling": A such that the sum of n independent N_Z(0, s_i^2),
// every s_i >= sigma, has a probability at every integer within e^(+-A) of
// the discrete Gaussian N_Z(0, sum s_i^2) (per coordinate; docs/privacy.md
// section 4a): A = sum_{k=1}^{n-1} log((1 + E_k) / (1 - E_k)), E_k = 2
// sum_{m>=1} exp(-2 pi^2 m^2 sigma^2 k / (k+1)). 0 for n = 1. Rounded up;
// NAN for sigma < FB_ACCT_DDG_SIGMA_MIN or n = 0.
double fb_acct_ddg_ratio(double sigma, uint64_t n);

// Composes `steps` releases shaped like m. The coupling route (both kinds):
// the Gaussian entry (q, fb_acct_ddg_sigma(m), steps) plus the grid's
// terms of a discrete Gaussian of sqrt(n) sigma_share grid steps
// (fb_acct_add_grid) widened by 2 dim A per release. The RDP kind also
// composes route KLS and reports the smaller epsilon of the two. The entry
// list holds the Gaussian entry (replaying a ledger needs this call, not
// fb_acct_add). FB_EINVAL (accountant untouched) for bad parameters,
// among them sqrt(n) sigma_share < 1 grid step; FB_ENOMEM.
fb_err fb_acct_add_ddg(struct fb_acct *acct, const struct fb_acct_ddg *m,
		uint64_t steps);

// Budget enforcement for distributed-noise releases, exactly as they will
// be composed (fb_acct_add_ddg): *exceed is true if `steps` releases
// shaped like m on top of the current entries would make the composition
// not (eps_budget, delta_budget)-DP by this accountant. The accountant is
// left unchanged. FB_EINVAL (bad m, steps, budget), FB_ENOMEM.
fb_err fb_acct_would_exceed_ddg(struct fb_acct *acct,
		const struct fb_acct_ddg *m, uint64_t steps, double eps_budget,
		double delta_budget, bool *exceed);

// One-shot: epsilon of `steps` releases shaped like m at delta.
fb_err fb_acct_ddg_epsilon_for(enum fb_acct_kind kind,
		const struct fb_acct_ddg *m, uint64_t steps, double delta,
		double *eps);

// What a retailer keeps if every other party colludes with the aggregator:
// the epsilon of its own share alone, a single discrete Gaussian of
// sigma_share grid steps (m with n_honest = 1, accounted like any
// single-noise release: fb_acct_add + fb_acct_add_grid, and for the RDP
// kind also route KLS with tau = 0, CKS 2020 Theorem 14). m->n_honest is
// ignored.
fb_err fb_acct_ddg_alone_epsilon(enum fb_acct_kind kind,
		const struct fb_acct_ddg *m, uint64_t steps, double delta,
		double *eps);

// Calibration: the smallest sigma_share (grid steps, to ~1e-5 relative,
// rounded up and re-checked) such that `steps` releases shaped like m
// (its sigma_share ignored) are (target_eps, delta)-DP by this accountant
// when n_honest shares are summed. FB_EINVAL for bad parameters or if no
// sigma_share reaches the target (none below 1e6 l2 / sqrt(n)).
fb_err fb_acct_calibrate_ddg_share(enum fb_acct_kind kind,
		const struct fb_acct_ddg *m, uint64_t steps, double target_eps,
		double delta, double *sigma_share);

#endif
