// client/evalrelease.c: see evalrelease.h. A user's (recall, ndcg, 1) is
// truncated toward zero onto the grid g of the DP layer: each integer is at
// most 1 / g, so the vector's squared norm is at most 3 / g^2 <=
// (NODE_EVAL_CLIP / g)^2 exactly, and the sum over users in int64 moves by
// at most NODE_EVAL_CLIP when one user is removed.
#include <math.h>
#include <stdlib.h>

#include "evalrelease.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/privacy/dp.h"

void
node_eval_dp_config(const struct node_policy *pol, struct fb_dp_config *out)
{
	fb_dp_config_defaults(out);
	out->mode = FB_DP_USER;
	out->epsilon = pol->epsilon;
	out->delta = pol->delta;
	out->clip = NODE_EVAL_CLIP;
	out->q = 1.0;
	out->sigma = pol->eval_noise_multiplier;
	out->accountant = (enum fb_acct_kind)pol->accountant;
	out->users = pol->users;
	out->seeded = pol->seeded_noise;
	out->test_no_noise = pol->test_no_noise;
}

void
node_eval_acct_grid(const struct node_policy *pol, struct fb_acct_grid *out)
{
	double std = pol->eval_noise_multiplier * NODE_EVAL_CLIP;
	out->dim = 3;
	out->noise_steps =
			std / ldexp(1.0, fb_dp_grid_for(std, NODE_EVAL_CLIP));
}

// Clamps a noised sum to [0, hi]: post-processing.
static double
clamp(double x, double hi)
{
	return x < 0 ? 0 : x > hi ? hi : x;
}

fb_err
node_eval_release(const struct node_policy *pol, const struct fb_dataset *ds,
		const struct node_state *st, struct fb_ledger *ledger,
		uint32_t round_id, uint64_t ledger_count,
		struct node_eval_sums *out)
{
	if (st->global.dim == 0 || st->P.rows != ds->n_users ||
			st->P.cols != st->global.dim) {
		return fb_errorf(FB_ESTATE,
				"no trained state to evaluate yet (no round "
				"completed)");
	}
	struct fb_dp_config d;
	node_eval_dp_config(pol, &d);
	d.seed = pol->noise_seed ^ (ledger_count * 0xC2B2AE3D27D4EB4FULL);
	struct fb_dp *dp = NULL;
	fb_err err = fb_dp_open(&dp, &d, ledger, 3, 1);
	if (err == FB_OK) {
		// The entry is durable before anything is computed.
		err = fb_dp_begin_release(dp, round_id);
	}
	if (err != FB_OK) {
		fb_dp_close(dp);
		return err;
	}
	static const uint32_t ks[1] = {20};
	struct fb_eval_result r;
	struct fb_metrics *per_user = NULL;
	err = fb_fit_evaluate_users(ds, &st->global, &st->P, &st->opts,
			&ds->ub_test, ks, 1, (int)pol->threads, &r, &per_user);
	if (err == FB_OK) {
		double inv_g = ldexp(1.0, -fb_dp_grid_log2(dp));
		int64_t sum[3] = {0, 0, 0};
		for (uint64_t u = 0; u < r.n_users; u++) {
			// Truncation never raises a value: each is <= 1 / g.
			sum[0] += (int64_t)(per_user[u].recall[0] * inv_g);
			sum[1] += (int64_t)(per_user[u].ndcg[0] * inv_g);
			sum[2] += (int64_t)inv_g;
		}
		err = fb_dp_noise_i64(dp, sum, 3);
		if (err == FB_OK) {
			double g = 1.0 / inv_g;
			double users = fmax(0.0, round((double)sum[2] * g));
			users = users > UINT32_MAX ? UINT32_MAX : users;
			out->users = (uint32_t)users;
			out->recall_sum = clamp((double)sum[0] * g, users);
			out->ndcg_sum = clamp((double)sum[1] * g, users);
		}
	}
	free(per_user);
	fb_dp_close(dp);
	return err;
}
