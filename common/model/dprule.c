// common/model/dprule.c: user-level DP training settings from public
// quantities (include/fedbundle/model/dprule.h, docs/privacy.md section 12),
// so that nobody tunes them on private data. The one place the rule lives.
#include <math.h>

#include "fedbundle/model/dprule.h"
#include "fedbundle/privacy/accountant.h"

static fb_err
check_input(const struct fb_dprule_input *in)
{
	if (in->users == 0) {
		return fb_errorf(FB_EINVAL,
				"dp rule: users: the declared number of users "
				"is needed (0 given)");
	}
	if (in->n_bundles == 0 || in->dim < (in->bias ? 2u : 1u)) {
		return fb_errorf(FB_EINVAL,
				"dp rule: %u bundles, dim %u: nothing to train",
				in->n_bundles, in->dim);
	}
	if (in->epochs == 0 && in->steps == 0) {
		return fb_errorf(FB_EINVAL, "dp rule: epochs: must be >= 1");
	}
	if (!(in->epsilon > 0) || !(in->delta > 0 && in->delta < 1) ||
			!(in->clip > 0) || !(in->q > 0 && in->q <= 1) ||
			!(in->l2 > 0) || !(in->sigma >= 0)) {
		return fb_errorf(FB_EINVAL,
				"dp rule: epsilon %g, delta %g, clip %g, q %g, "
				"l2 %g, sigma %g: out of range (l2 0 has no "
				"stationary point: give lr explicitly)",
				in->epsilon, in->delta, in->clip, in->q, in->l2,
				in->sigma);
	}
	return FB_OK;
}

// The largest rank whose release has at most max_coords coordinates (may
// be below 1, or NaN).
static double
rank_fitting(const struct fb_dprule_input *in, double max_coords)
{
	double items = in->train_items ? (double)in->n_items * in->dim : 0;
	double per_bundle = floor((max_coords - items) / in->n_bundles);
	return per_bundle - (in->bias ? 1 : 0);
}

// rank_fitting clamped to [1, the trainable coordinates].
static uint32_t
rank_for(const struct fb_dprule_input *in, double max_coords)
{
	uint32_t end = in->bias ? in->dim - 1 : in->dim;
	double rank = rank_fitting(in, max_coords);
	if (!(rank >= 1)) {
		return 1;
	}
	return rank >= end ? end : (uint32_t)rank;
}

fb_err
fb_dprule_derive(const struct fb_dprule_input *in, struct fb_dprule *out)
{
	fb_err err = check_input(in);
	if (err != FB_OK) {
		return err;
	}
	struct fb_dprule r = {.q = in->q};
	// The releases fb_dp_open calibrates sigma for (dp.h).
	r.releases = in->steps > 0
			? in->steps
			: (uint64_t)in->epochs * (uint64_t)ceil(1.0 / in->q);
	r.sigma = in->sigma;
	if (r.sigma == 0) {
		err = fb_acct_calibrate_sigma(in->accountant, in->q, r.releases,
				NULL, in->epsilon, in->delta, &r.sigma);
		if (err != FB_OK) {
			return err;
		}
	}
	double qn = in->q * (double)in->users;
	r.noise_per_step = r.sigma * in->clip / qn;
	r.lr = FB_DPRULE_CONVERGE / (in->l2 * (double)r.releases);
	r.lr = fmin(fmax(r.lr, FB_DPRULE_LR_MIN), FB_DPRULE_LR_MAX);
	double k = FB_DPRULE_KAPPA * in->clip / r.noise_per_step;
	r.max_coords = k * k;
	r.bundle_rank = rank_for(in, r.max_coords);
	r.trainable = rank_fitting(in, r.max_coords) >= 1;
	*out = r;
	return FB_OK;
}

fb_err
fb_dprule_apply(struct fb_train_config *cfg, struct fb_dp_config *dpc,
		uint32_t n_items, uint32_t n_bundles,
		const struct fb_dprule_explicit *set, struct fb_dprule *out)
{
	struct fb_dprule_input in = {
			.users = dpc->users,
			.n_bundles = n_bundles,
			.n_items = n_items,
			.dim = cfg->hp.dim,
			.bias = cfg->hp.bias,
			.train_items = cfg->hp.train_items,
			.l2 = cfg->hp.l2,
			.epochs = cfg->epochs,
			.steps = dpc->steps,
			.epsilon = dpc->epsilon,
			.delta = dpc->delta,
			.clip = dpc->clip,
			.q = set->q ? dpc->q : FB_DPRULE_Q,
			.sigma = dpc->sigma,
			.accountant = dpc->accountant,
	};
	struct fb_dprule r;
	fb_err err = fb_dprule_derive(&in, &r);
	if (err != FB_OK) {
		return err;
	}
	dpc->q = r.q;
	if (!set->lr) {
		cfg->hp.lr = r.lr;
	}
	if (!set->bundle_rank) {
		cfg->hp.bundle_rank = r.bundle_rank;
	}
	if (out != NULL) {
		*out = r;
	}
	return FB_OK;
}
