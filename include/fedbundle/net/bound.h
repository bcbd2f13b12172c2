// include/fedbundle/net/bound.h: how large an honest UPDATE can be
// (protocols/wire-v1.md §9.7). From the plan and public values only (the
// catalogue, the global model the plan carries, and min_users, the
// smallest number of users a retailer may declare), a bound on the L2 norm
// of the delta an honest client sends, and under Adam on each coordinate,
// which an honest update exceeds with probability at most
// FB_BOUND_FAIL_PROB (the number of users sampled and the noise's norm are
// random; everything else is deterministic, float rounding included). The
// aggregator refuses an update beyond it (reason over-bound), so that one
// enrolled client moves the model by at most the bound per round, divided
// by the updates averaged (FedAvg).
//
// User level, SGD, T local steps: step s releases g_s = (S_s + Z_s) /
// (q n) on D coordinates, S_s a sum of m_s user contributions of norm at
// most C, Z_s discrete Gaussian noise of parameter sigma C, n = min_users;
// the shared factors move by A g_s, A the catalogue's linear map
// (fb_bound_catalog), plus weight decay. With kappa = 1 - lr l2,
//   B = |kappa^T - 1| |theta_0| + lr / (q n) (a C k w + sigma C r N)
// where k bounds sum_s m_s (Bernstein, Binomial(n T, q)), w the largest
// |kappa|^j (j < T), r^2 = sum_{j<T} kappa^2j, and N the norm of A applied
// to a unit-parameter subgaussian vector (Hsu, Kakade, Zhang 2012):
// N^2 = F^2 + 2 a F sqrt(t) + 2 a^2 t, F A's Frobenius norm on the D
// released coordinates, a its operator norm, t = ln(2 / p); the sampled
// count and the noise each fail with probability p / 2.
// Adam (any granularity with a fixed step count): every coordinate moves
// by at most lr sum_{t<=T} rho_t (fb_bound_adam_ratio), so B = that times
// sqrt(P), P the trained coordinates. Granularity client: B = C. None with
// SGD, or with local_epochs (a step count that depends on the data): no
// bound (bounded false).
// Thread-safety: reentrant, no state.
#ifndef FB_INCLUDE_FEDBUNDLE_BOUND_H
#define FB_INCLUDE_FEDBUNDLE_BOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"

// The probability that an honest update exceeds its bound (wire-v1 §9.7).
#define FB_BOUND_FAIL_PROB 1e-9

// The relative slack of the client-level check (an honest client clips,
// rounding its scale down; the slack covers float rounding of the norm).
#define FB_BOUND_CLIP_SLACK 1e-5

// The catalogue's linear map A from the representation gradient (bundle
// and item representations, one factor column; every column is mapped
// alike) to the gradient of the shared factors the plan trains (W; and V,
// M when train_items), as fb_trainer_apply computes it.
struct fb_bound_catalog {
	double norm;        // a >= ||A||, by the Schur test
	double fro_bundles; // sum over bundles b of |A e_b|^2
	double fro_items;   // sum over items i of |A e_i|^2
};

// What a round's bound needs beside its plan.
struct fb_bound_shape {
	uint32_t n_items, n_bundles;
	uint32_t n_attrs;                // rows of M in the model (0: no M)
	struct fb_bound_catalog catalog; // fb_bound_catalog() of the plan
	double model_norm; // fb_bound_model_norm() of the model sent
};

// A round's bound, with its parts for logs and tests.
struct fb_bound {
	bool bounded;       // false: nothing derivable (l2, linf +infinity)
	double l2;          // L2 norm of an honest update, all tensors
	double linf;        // largest |coordinate| (Adam; else = l2)
	uint32_t steps;     // T, local steps (optimizer steps) assumed
	size_t release_dim; // D, coordinates of a user-level release
	double sampled;     // k, users sampled over the T steps at most
	double signal;      // a C k w: the users' share before lr / (q n)
	double noise;       // sigma C r N: the noise's share, the same
	double decay;       // |kappa^T - 1| |theta_0|
	const char *why;    // static: which case of wire-v1 §9.7 applies
};

// Fills out for plan (a TRAIN plan's configuration) and shape.
// FB_EINVAL (detail) if they do not fit: user granularity without
// min_users, a catalogue norm that is not positive and finite, a model
// norm that is negative or not finite.
fb_err fb_bound_update(const struct fb_wire_round_config *plan,
		const struct fb_bound_shape *shape, struct fb_bound *out);

// A of catalogue ds under the plan's switches opts (only the identity on
// W when items are not trained). The norm is the Schur test's,
// ||A||^2 <= max_j sum_r |A_rj| sum_k |A_rk|; the Frobenius sums are
// exact. FB_ENOMEM.
fb_err fb_bound_catalog(const struct fb_dataset *ds,
		const struct fb_hparams *opts, struct fb_bound_catalog *out);

// The L2 norm of the tensors of m that a plan's local optimizer steps: W,
// and V and M when train_items (the others stay as sent).
double fb_bound_model_norm(const struct fb_model *m, bool train_items);

// A real k >= the users a Poisson sample of rate q draws from at most n
// users, except with probability p (Bernstein): min(n, n q + L / 3 +
// sqrt(L^2 / 9 + 2 n q (1 - q) L)), L = ln(1/p). k / n does not increase
// with n, so the bound of n covers every larger declaration.
double fb_bound_binomial(uint64_t n, double q, double p);

// N such that |A z| <= s N except with probability p, z a vector of
// independent discrete Gaussians of parameter s (each s-subgaussian:
// Canonne, Kamath, Steinke 2020, Cor. 9), for a map A of Frobenius norm
// fro and operator norm at most a (Hsu, Kakade, Zhang 2012, Thm. 1):
// N^2 = fro^2 + 2 a fro sqrt(t) + 2 a^2 t, t = ln(1/p). With A the
// identity on D coordinates (fro^2 = D, a = 1) it is the chi-square tail
// of Laurent and Massart 2000.
double fb_bound_noise(double fro, double a, double p);

// The largest |m_t| / sqrt(v_t) of Adam's step t >= 1 (moments from zero,
// any gradients), with bias correction (|m_t / (1 - b1^t)| / sqrt(v_t /
// (1 - b2^t))) or without: (1 - b1) sqrt(sum_{j<t} (b1^2/b2)^j / (1 - b2)),
// times sqrt(1 - b2^t) / (1 - b1^t) when corrected (Cauchy-Schwarz).
// +infinity if b2 is 0 and b1 is not.
double fb_bound_adam_ratio(
		double beta1, double beta2, uint64_t t, bool bias_correction);

#endif
