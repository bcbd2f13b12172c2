// common/net/bound.c: see bound.h. Every case computes an upper bound in
// double from the plan: the client's steps are those of client/local.c
// (train_dp, train_plain) and common/model/train.c (fb_trainer_apply), whose
// Adam constants come from fb_train_config_defaults. The float arithmetic
// of those steps is covered by a relative slack of 1e-5 and an absolute
// one of (T + 2) 2^-22 (|theta_0| + B): a few float roundings of the model
// per step and one of the delta.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/train.h"
#include "fedbundle/net/bound.h"

#define REL_SLACK 1e-5

double
fb_bound_binomial(uint64_t n, double q, double p)
{
	double L = log(1.0 / p);
	double nq = (double)n * q;
	double t = L / 3 + sqrt(L * L / 9 + 2 * nq * (1 - q) * L);
	double k = nq + t;
	return k < (double)n ? k : (double)n;
}

double
fb_bound_noise(double fro, double a, double p)
{
	double t = log(1.0 / p);
	return sqrt(fro * fro + 2 * a * fro * sqrt(t) + 2 * a * a * t);
}

double
fb_bound_adam_ratio(
		double beta1, double beta2, uint64_t t, bool bias_correction)
{
	if (t == 0) {
		return 0;
	}
	if (!(beta2 > 0)) {
		return beta1 == 0 ? 1 : INFINITY;
	}
	double g2 = beta1 * beta1 / beta2;
	double tt = (double)t;
	double s = g2 == 1 ? tt : (1 - pow(g2, tt)) / (1 - g2);
	double r = (1 - beta1) * sqrt(s / (1 - beta2));
	if (bias_correction) {
		r *= sqrt(1 - pow(beta2, tt)) / (1 - pow(beta1, tt));
	}
	return r;
}

double
fb_bound_model_norm(const struct fb_model *m, bool train_items)
{
	double sq = fb_matrix_sqnorm(&m->W);
	if (train_items) {
		sq += fb_matrix_sqnorm(&m->V);
		if (m->n_attrs > 0) {
			sq += fb_matrix_sqnorm(&m->M);
		}
	}
	return sqrt(sq);
}

// The coordinates the local optimizer steps (fb_trainer_apply): all of W,
// and V and M when items are trained.
static double
stepped(const struct fb_wire_round_config *p, const struct fb_bound_shape *s)
{
	double rows = s->n_bundles;
	if (p->hp.train_items) {
		rows += (double)s->n_items + s->n_attrs;
	}
	return rows * p->hp.dim;
}

// A bound b of a computation of T float steps from a model of norm theta.
static double
slack(double b, uint32_t T, double theta)
{
	return b * (1 + REL_SLACK) + (T + 2.0) * ldexp(1.0, -22) * (theta + b);
}

static void
adam(const struct fb_wire_round_config *p, const struct fb_bound_shape *s,
		uint32_t T, struct fb_bound *out)
{
	struct fb_train_config tc;
	fb_train_config_defaults(&tc);
	double sum = 0;
	for (uint32_t t = 1; t <= T; t++) {
		sum += fb_bound_adam_ratio(
				tc.adam_beta1, tc.adam_beta2, t, true);
	}
	double lin = p->hp.lr * sum;
	out->linf = slack(lin, T, s->model_norm);
	out->l2 = slack(lin * sqrt(stepped(p, s)), T, s->model_norm);
	out->bounded = isfinite(out->l2);
}

static uint32_t
dp_steps(const struct fb_wire_round_config *p)
{
	// client/local.c: local_steps releases, or local_epochs x ceil(1/q).
	if (p->local_steps > 0) {
		return p->local_steps;
	}
	double n = (double)p->local_epochs * ceil(1.0 / p->sampling_rate);
	return n < 4e9 ? (uint32_t)n : UINT32_MAX;
}

static void
user_level(const struct fb_wire_round_config *p, const struct fb_bound_shape *s,
		struct fb_bound *out)
{
	uint32_t T = dp_steps(p);
	out->steps = T;
	struct fb_release_layout L;
	fb_hparams_release_layout(&p->hp, s->n_items, s->n_bundles, &L);
	out->release_dim = L.len;
	if (p->hp.optimizer == FB_OPT_ADAM) {
		out->why = "user level, Adam: per-coordinate step bound";
		adam(p, s, T, out);
		return;
	}
	out->why = "user level, SGD: sampled users, noise tail, weight decay";
	double n = (double)p->min_users;
	double C = p->clip_norm, q = p->sampling_rate, lr = p->hp.lr;
	double kappa = 1 - lr * p->hp.l2;
	// w: the largest weight |kappa|^j of a step's release in the delta;
	// r2: the sum of the squared weights (the noise of the steps adds up
	// independently).
	double w = 1, r2 = 0, pw = 1;
	for (uint32_t j = 0; j < T; j++) {
		r2 += pw * pw;
		w = fabs(pw) > w ? fabs(pw) : w;
		pw *= kappa;
	}
	// The users sampled over the T steps: Binomial(n T, q) at most.
	double total = (double)p->min_users * T;
	out->sampled = fb_bound_binomial(
			total < 9e15 ? (uint64_t)total : UINT64_MAX, q,
			FB_BOUND_FAIL_PROB / 2);
	const struct fb_bound_catalog *A = &s->catalog;
	out->signal = A->norm * C * out->sampled * w;
	// A on the released coordinates: its Frobenius norm.
	double fro2 = (double)L.per_bundle * A->fro_bundles +
			(L.items ? (double)p->hp.dim * A->fro_items : 0);
	// The discrete Gaussian's variance is rounded up to a dyadic rational
	// (noise.h): by at most 2^-32 grid steps^2, the grid at most 1.
	double std = sqrt(pow(p->noise_multiplier * C, 2) + ldexp(1.0, -32));
	out->noise = std * sqrt(r2) *
			fb_bound_noise(sqrt(fro2), A->norm,
					FB_BOUND_FAIL_PROB / 2);
	out->decay = fabs(pow(kappa, T) - 1) * s->model_norm;
	double b = out->decay + lr / (q * n) * (out->signal + out->noise);
	out->l2 = slack(b, T, s->model_norm);
	out->linf = out->l2;
	out->bounded = isfinite(out->l2);
}

fb_err
fb_bound_update(const struct fb_wire_round_config *plan,
		const struct fb_bound_shape *shape, struct fb_bound *out)
{
	if (!(shape->catalog.norm > 0 && isfinite(shape->catalog.norm)) ||
			!(shape->model_norm >= 0 &&
					isfinite(shape->model_norm))) {
		return fb_errorf(FB_EINVAL,
				"bound: catalogue norm %g or model norm %g is "
				"not a finite positive number",
				shape->catalog.norm, shape->model_norm);
	}
	if (plan->granularity == FB_WIRE_GRAN_USER && plan->min_users == 0) {
		return fb_errorf(FB_EINVAL,
				"bound: a user-level plan without min_users "
				"has no bound");
	}
	struct fb_bound b;
	memset(&b, 0, sizeof(b));
	b.l2 = INFINITY;
	b.linf = INFINITY;
	switch (plan->granularity) {
	case FB_WIRE_GRAN_CLIENT:
		b.why = "client level: the clip";
		b.l2 = plan->clip_norm * (1 + FB_BOUND_CLIP_SLACK);
		b.linf = b.l2;
		b.bounded = true;
		break;
	case FB_WIRE_GRAN_USER:
		user_level(plan, shape, &b);
		break;
	default:
		if (plan->hp.optimizer != FB_OPT_ADAM) {
			b.why = "granularity none, SGD: unclipped gradients, "
				"no bound";
		} else if (plan->local_steps == 0) {
			b.why = "granularity none, local_epochs: the step "
				"count depends on the data, no bound";
		} else {
			b.why = "granularity none, Adam: per-coordinate step "
				"bound";
			b.steps = plan->local_steps;
			adam(plan, shape, plan->local_steps, &b);
		}
		break;
	}
	*out = b;
	return FB_OK;
}

fb_err
fb_bound_catalog(const struct fb_dataset *ds, const struct fb_hparams *opts,
		struct fb_bound_catalog *out)
{
	uint32_t nb = ds->n_bundles, ni = ds->n_items;
	if (!opts->train_items) {
		// Only W moves: the identity on the bundle gradient.
		*out = (struct fb_bound_catalog){1, nb, 0};
		return FB_OK;
	}
	bool attrs = opts->use_attrs && ds->n_attrs > 0 &&
			ds->ia.row_ptr != NULL;
	uint32_t na = attrs ? ds->n_attrs : 0;
	// Row sums of |A| (every entry is >= 0): r_v (rows of V), r_m (rows
	// of M); W's are 1. acc: one bundle's column in M.
	double *r_v = calloc((size_t)ni + 1, sizeof(double));
	double *r_m = calloc((size_t)na + 1, sizeof(double));
	double *s_m = calloc((size_t)ni + 1, sizeof(double));
	double *acc = calloc((size_t)na + 1, sizeof(double));
	if (r_v == NULL || r_m == NULL || s_m == NULL || acc == NULL) {
		free(r_v);
		free(r_m);
		free(s_m);
		free(acc);
		return FB_ENOMEM;
	}
	for (uint32_t i = 0; i < ni; i++) {
		r_v[i] = 1;
	}
	if (opts->item_view) {
		for (uint32_t b = 0; b < nb; b++) {
			uint32_t n = fb_csr_row_len(&ds->bi, b);
			const uint32_t *items = fb_csr_row(&ds->bi, b);
			for (uint32_t k = 0; k < n; k++) {
				r_v[items[k]] += 1.0 / n;
			}
		}
	}
	for (uint32_t i = 0; attrs && i < ni; i++) {
		uint32_t n = fb_csr_row_len(&ds->ia, i);
		const uint32_t *as = fb_csr_row(&ds->ia, i);
		for (uint32_t k = 0; k < n; k++) {
			r_m[as[k]] += r_v[i] / n;
		}
	}
	// Item columns: Schur sums and squared norms (1 in V, 1/|attrs| in
	// M).
	double worst = 1; // a bundle column without the item view
	double fro_i = 0, fro_b = 0;
	for (uint32_t i = 0; i < ni; i++) {
		uint32_t n = attrs ? fb_csr_row_len(&ds->ia, i) : 0;
		const uint32_t *as = attrs ? fb_csr_row(&ds->ia, i) : NULL;
		for (uint32_t k = 0; k < n; k++) {
			s_m[i] += r_m[as[k]] / n;
		}
		double c = r_v[i] + s_m[i];
		worst = c > worst ? c : worst;
		fro_i += 1 + (n > 0 ? 1.0 / n : 0);
	}
	// Bundle columns: 1 in W, 1/|b| on each of its items in V, and in
	// M the sum over its items i and their attributes a of
	// 1/(|b| |attrs(i)|).
	for (uint32_t b = 0; b < nb; b++) {
		uint32_t n = opts->item_view ? fb_csr_row_len(&ds->bi, b) : 0;
		const uint32_t *items = fb_csr_row(&ds->bi, b);
		double c = 0, sq = 1;
		for (uint32_t k = 0; k < n; k++) {
			c += r_v[items[k]] + s_m[items[k]];
			sq += 1.0 / ((double)n * n);
			uint32_t m = attrs ? fb_csr_row_len(&ds->ia, items[k])
					   : 0;
			const uint32_t *as = attrs
					? fb_csr_row(&ds->ia, items[k])
					: NULL;
			for (uint32_t j = 0; j < m; j++) {
				acc[as[j]] += 1.0 / ((double)n * m);
			}
		}
		for (uint32_t k = 0; k < n; k++) {
			uint32_t m = attrs ? fb_csr_row_len(&ds->ia, items[k])
					   : 0;
			const uint32_t *as = attrs
					? fb_csr_row(&ds->ia, items[k])
					: NULL;
			for (uint32_t j = 0; j < m; j++) {
				sq += acc[as[j]] * acc[as[j]];
				acc[as[j]] = 0; // each attribute counted once
			}
		}
		c = 1 + (n > 0 ? c / n : 0);
		worst = c > worst ? c : worst;
		fro_b += sq;
	}
	free(r_v);
	free(r_m);
	free(s_m);
	free(acc);
	// The trainer's float coefficients (1/|b|, 1/|attrs|) may exceed the
	// exact ones by a rounding.
	out->norm = sqrt(worst) * (1 + 1e-6);
	out->fro_bundles = fro_b * (1 + 1e-6);
	out->fro_items = fro_i * (1 + 1e-6);
	return FB_OK;
}
