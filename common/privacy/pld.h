// common/privacy/pld.h: the privacy-loss-distribution accountant behind FB_ACCT_PLD
// (private to common/ and its tests). A composed PLD is built from a list of
// (q, sigma, steps) entries and answers delta(eps) and eps(delta), always
// from above: see common/privacy/pld.c for the argument.
// Thread-safety: a composed PLD is immutable once built; building one takes
// a process-wide lock only around FFTW planning.
#ifndef FB_COMMON_PLD_H
#define FB_COMMON_PLD_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/err.h"

// How one step's PLD is put on the grid.
enum fb_pld_disc {
	// Split each grid cell's mass between its two end points so that the
	// hockey-stick curve is interpolated from above (Doroshenko et al.
	// 2022, "connect the dots"). The default: second-order accurate.
	FB_PLD_CONNECT_DOTS = 0,
	// Move every privacy loss up to the next grid point (Meiser and
	// Mohammadi 2018, Koskela et al. 2020). Simpler, first-order bias.
	FB_PLD_ROUND_UP = 1,
};

struct fb_pld_opts {
	enum fb_pld_disc disc;
	// Grid step of the privacy loss; 0 picks one so that the composed
	// window holds about `points` grid points.
	double h;
	// Target window size when h is 0; 0 means 2^17.
	size_t points;
};

// Diagnostics of one neighbouring direction of a composed PLD.
struct fb_pld_stats {
	double h;           // grid step
	size_t window;      // grid points kept after composition
	size_t fft_len;     // FFT length
	double inf_mass;    // mass at +infinity after composition
	double tail_bound;  // Chernoff bound on mass outside the window
	double fft_err_l2;  // bound on the L2 error of the composed vector
	double fft_err_max; // bound on the error of each of its entries
	double lo, hi;      // privacy losses of the window's ends
};

struct fb_pld;

// Composes the entries (each validated: q in (0,1], sigma > 0, steps >= 1).
// opts may be NULL for the defaults. The caller owns *out (fb_pld_destroy).
// FB_EINVAL, FB_ENOMEM.
fb_err fb_pld_create(struct fb_pld **out, const struct fb_acct_entry *entries,
		size_t n, const struct fb_pld_opts *opts);

// Frees a composed PLD; NULL is a no-op.
void fb_pld_destroy(struct fb_pld *pld);

// Upper bound on delta(eps), eps >= 0: the worse of the two directions,
// at most 1.
double fb_pld_delta(const struct fb_pld *pld, double eps);

// The same bound for one direction only (0 remove, 1 add).
double fb_pld_delta_dir(const struct fb_pld *pld, int dir, double eps);

// Smallest eps >= 0 with fb_pld_delta(eps) <= delta (bisection, rounded
// up); INFINITY if none.
double fb_pld_epsilon(const struct fb_pld *pld, double delta);

// Diagnostics; dir 0 is "remove" (the mixture against the plain Gaussian),
// 1 is "add".
void fb_pld_stats(const struct fb_pld *pld, int dir, struct fb_pld_stats *out);

#endif
