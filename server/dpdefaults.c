// server/dpdefaults.c: the aggregator's user-level DP defaults
// (dpdefaults.h). The rule itself lives in common/model/dprule.c; this
// file only says what the aggregator feeds it: the federation's releases
// are rounds x steps per round, and one round's averaged release carries
// the noise of min_users users per retailer, averaged over the K updates
// a round expects.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dpdefaults.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/wire.h"

// The DP model keys (train --dp user's defaults) not given in r.
static void
model_defaults(struct agg_round_config *r)
{
	struct fb_train_config dp;
	fb_train_config_defaults_dp(&dp);
	if (!(r->given & AGG_KEY_OPTIMIZER) && !r->secure_aggregation) {
		r->hp.optimizer = dp.hp.optimizer;
	}
	if (!(r->given & AGG_KEY_BIAS)) {
		r->hp.bias = dp.hp.bias;
	}
	if (!(r->given & AGG_KEY_TRAIN_ITEMS)) {
		r->hp.train_items = dp.hp.train_items;
	}
	if (!(r->given & AGG_KEY_LR_USER)) {
		r->hp.lr_user = dp.hp.lr_user;
	}
}

// K: the updates a round expects from the configuration and the roster.
static uint32_t
expected_clients(const struct agg_config *cfg, uint32_t enrolled)
{
	double k = cfg->min_clients > 0 ? cfg->min_clients : enrolled;
	if (cfg->participation == AGG_PART_SAMPLED) {
		k = floor(k * cfg->q_clients);
	}
	return k >= 1 ? (uint32_t)k : 1;
}

fb_err
agg_dpdefaults_apply(struct agg_config *cfg, uint32_t n_items,
		uint32_t n_bundles, uint32_t enrolled,
		struct agg_dpdefaults *out)
{
	memset(out, 0, sizeof(*out));
	if (cfg->round.granularity != FB_WIRE_GRAN_USER) {
		return FB_OK;
	}
	struct agg_round_config r = cfg->round;
	model_defaults(&r);
	struct agg_dpdefaults d = {.applied = true,
			.given = r.given,
			.n_bundles = n_bundles};
	d.clients = expected_clients(cfg, enrolled);
	d.min_users = r.min_users;
	double n = (double)r.min_users *
			(r.secure_aggregation ? d.clients
					      : sqrt((double)d.clients));
	d.users = (uint64_t)floor(n);
	struct fb_dprule_input in = {
			.users = d.users,
			.n_bundles = n_bundles,
			.n_items = n_items,
			.dim = r.hp.dim,
			.bias = r.hp.bias,
			.train_items = r.hp.train_items,
			.l2 = r.hp.l2,
			.epochs = cfg->rounds * r.local_epochs,
			.steps = r.local_steps > 0
					? (uint64_t)cfg->rounds * r.local_steps
					: 0,
			// A given noise multiplier needs no epsilon to calibrate.
			.epsilon = r.target_epsilon > 0 ? r.target_epsilon
							: INFINITY,
			.delta = r.delta,
			.clip = r.clip,
			.q = (r.given & AGG_KEY_Q) ? r.q : FB_DPRULE_Q,
			.sigma = r.noise_multiplier,
			.accountant = (enum fb_acct_kind)cfg->accountant,
	};
	fb_err err = fb_dprule_derive(&in, &d.rule);
	if (err != FB_OK) {
		return fb_errorf(err,
				"round: the DP rule (docs/privacy.md "
				"section 12): %s",
				fb_last_error(err));
	}
	r.q = d.rule.q;
	if (!(r.given & AGG_KEY_LR) && r.hp.optimizer == FB_OPT_SGD) {
		r.hp.lr = d.rule.lr;
	}
	if (!(r.given & AGG_KEY_BUNDLE_RANK)) {
		r.hp.bundle_rank = d.rule.bundle_rank;
	}
	cfg->round = r;
	*out = d;
	return FB_OK;
}

static const char *
from(const struct agg_dpdefaults *d, uint32_t bit)
{
	return (d->given & bit) ? "explicit" : "rule";
}

void
agg_dpdefaults_describe(const struct agg_config *cfg,
		const struct agg_dpdefaults *d, char *buf, size_t cap)
{
	const struct agg_round_config *r = &cfg->round;
	if (!d->applied) {
		snprintf(buf, cap, "DP rule: not used (granularity not user)");
		return;
	}
	const char *lr_from = (d->given & AGG_KEY_LR) ? "explicit"
			: r->hp.optimizer == FB_OPT_SGD
			? "rule"
			: "default: the rule's lr is for sgd";
	const uint32_t model =
			AGG_KEY_OPTIMIZER | AGG_KEY_BIAS | AGG_KEY_TRAIN_ITEMS;
	const char *model_from = (d->given & model) == model
			? "explicit"
			: "DP defaults where not given";
	snprintf(buf, cap,
			"DP rule (docs/privacy.md section 12) from min_users "
			"%llu and %u clients a round (n %llu), %u bundles, "
			"epsilon %g, delta %g, %llu releases: noise per step "
			"%.3g; q %g (%s), lr %.4g (%s), bundle_rank %u (%s); "
			"optimizer %s, bias %s, train_items %s (%s)",
			(unsigned long long)d->min_users, d->clients,
			(unsigned long long)d->users, d->n_bundles,
			r->target_epsilon, r->delta,
			(unsigned long long)d->rule.releases,
			d->rule.noise_per_step, r->q, from(d, AGG_KEY_Q),
			r->hp.lr, lr_from, r->hp.bundle_rank,
			from(d, AGG_KEY_BUNDLE_RANK),
			r->hp.optimizer == FB_OPT_SGD ? "sgd" : "adam",
			r->hp.bias ? "on" : "off",
			r->hp.train_items ? "on" : "off", model_from);
}
