// common/privacy/dp.c: the release protocol of include/fedbundle/privacy/dp.h: budget
// check, durable ledger entry, dense fixed-point discrete Gaussian noise.
// The accountant is replayed from the ledger at open, so what the budget
// check sees is exactly what the ledger proves.
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/privacy/noise.h"
#include "fedbundle/util/log.h"

struct fb_dp {
	struct fb_dp_config cfg;
	struct fb_ledger *ledger; // the caller's, locked (dp.h)
	struct fb_acct *acct;
	struct fb_noise *noise;
	size_t dim;
	double granularity;
	double sigma_noise;       // std / clip
	double sigma_accounted;   // std / clip: the same (exact sums)
	struct fb_acct_grid grid; // every release's (accountant.h)
	// Releases known to fit in the budget: at open, the planned ones if
	// they all fit (one accountant call), else, and whenever they run
	// out, the exact count found by search over the accountant (monotone
	// in the count) instead of an accountant call per release.
	uint64_t remaining;
	bool remaining_exact; // no release beyond `remaining` fits
	// Distributed noise (fb_dp_set_shares): shares > 0, each release
	// a share of share_steps grid steps accounted as ddg.
	uint64_t shares; // honest shares accounted; 0: whole noise
	double share_steps;
	struct fb_acct_ddg ddg; // one release, for the accountant
};

// Whether n more releases fit in the budget.
static fb_err
fits(struct fb_dp *dp, uint64_t n, bool *ok)
{
	bool exceed = false;
	fb_err err = fb_acct_would_exceed(dp->acct, dp->cfg.q,
			dp->sigma_accounted, n, &dp->grid, dp->cfg.epsilon,
			dp->cfg.delta, &exceed);
	*ok = !exceed;
	return err;
}

// The largest k such that k more releases keep the accountant within
// the budget.
static fb_err
count_remaining(struct fb_dp *dp, uint64_t *out)
{
	uint64_t lo = 0, hi = 1;
	fb_err err;
	// Exponential search for a count that exceeds, then bisection.
	for (;;) {
		bool ok = false;
		err = fits(dp, hi, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (!ok) {
			break;
		}
		lo = hi;
		if (hi >= (UINT64_C(1) << 40)) {
			*out = hi;
			return FB_OK;
		}
		hi *= 2;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		bool ok = false;
		err = fits(dp, mid, &ok);
		if (err != FB_OK) {
			return err;
		}
		if (!ok) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	*out = lo;
	return FB_OK;
}

static const char *const mode_names[] = {"none", "user", "client", NULL};
static const char *const acct_names[] = {"rdp", "pld", NULL};

void
fb_dp_config_defaults(struct fb_dp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = FB_DP_NONE;
	cfg->epsilon = 8;
	cfg->delta = 1e-6;
	cfg->clip = 1;
	cfg->q = 0.25;
	cfg->sigma = 0;
	cfg->steps = 0;
	cfg->accountant = FB_ACCT_PLD;
	cfg->granularity_log2 = -20;
	cfg->seeded = false;
	cfg->seed = 0;
}

#define F(f) offsetof(struct fb_dp_config, f)
static const struct fb_cfg_field dp_fields[] = {
		{.name = "mode",
				.type = FB_CFG_ENUM,
				.offset = F(mode),
				.choices = mode_names,
				.help = "privacy granularity: none, user or client"},
		{.name = "epsilon",
				.type = FB_CFG_DOUBLE,
				.offset = F(epsilon),
				.min = 1e-6,
				.max = 1e6,
				.help = "privacy budget epsilon"},
		{.name = "delta",
				.type = FB_CFG_DOUBLE,
				.offset = F(delta),
				.min = 1e-300,
				.max = 0.1,
				.help = "privacy budget delta"},
		{.name = "clip",
				.type = FB_CFG_DOUBLE,
				.offset = F(clip),
				.min = 1e-9,
				.max = 1e6,
				.help = "L2 clipping norm of one contribution"},
		{.name = "q",
				.type = FB_CFG_DOUBLE,
				.offset = F(q),
				.min = 1e-9,
				.max = 1,
				.help = "sampling rate per step"},
		{.name = "sigma",
				.type = FB_CFG_DOUBLE,
				.offset = F(sigma),
				.min = 0,
				.max = 1e6,
				.help = "noise multiplier (0: smallest meeting the budget)"},
		{.name = "steps",
				.type = FB_CFG_U32,
				.offset = F(steps),
				.min = 0,
				.max = 1e9,
				.help = "planned releases for calibration (0: from epochs)"},
		{.name = "accountant",
				.type = FB_CFG_ENUM,
				.offset = F(accountant),
				.choices = acct_names,
				.help = "rdp or pld"},
		{.name = "users",
				.type = FB_CFG_U64,
				.offset = F(users),
				.min = 0,
				.max = 9007199254740992.0,
				.help = "user level: the PUBLIC number of users a "
					"release is normalised by, declared by the "
					"data owner (never counted from its data)"},
		{.name = "seeded",
				.type = FB_CFG_BOOL,
				.offset = F(seeded),
				.help = "reproducible noise: NOT private, tests only"},
		{.name = "seed",
				.type = FB_CFG_U64,
				.offset = F(seed),
				.min = 0,
				.max = 9007199254740992.0,
				.help = "seed of seeded noise"},
};

const struct fb_cfg_field *
fb_dp_config_fields(size_t *n)
{
	// The grid (granularity_log2) is not a JSON key: fb_dp_open chooses it
	// from the noise.
	*n = sizeof(dp_fields) / sizeof(dp_fields[0]);
	return dp_fields;
}

fb_err
fb_dp_config_check(const struct fb_dp_config *c)
{
	if ((unsigned)c->mode > FB_DP_CLIENT) {
		return fb_errorf(FB_EINVAL, "dp.mode: unknown");
	}
	if (c->mode == FB_DP_NONE) {
		return FB_OK;
	}
	if (!(c->epsilon > 0) || !(c->delta > 0 && c->delta < 1)) {
		return fb_errorf(FB_EINVAL,
				"dp: epsilon must be > 0 and delta in (0, 1)");
	}
	if (!(c->clip > 0) || !isfinite(c->clip)) {
		return fb_errorf(FB_EINVAL, "dp.clip: must be > 0");
	}
	if (!(c->q > 0 && c->q <= 1)) {
		return fb_errorf(FB_EINVAL, "dp.q: must be in (0, 1]");
	}
	if (!(c->sigma >= 0) || !isfinite(c->sigma)) {
		return fb_errorf(FB_EINVAL, "dp.sigma: must be >= 0");
	}
	return FB_OK;
}

void
fb_dp_close(struct fb_dp *dp)
{
	if (dp == NULL) {
		return;
	}
	fb_acct_destroy(dp->acct);
	fb_noise_destroy(dp->noise);
	free(dp);
}

// The grid: 2^26 to 2^27 steps of noise, half of what the sampler takes
// (noise.h: 2^28), so that rounding never reaches its limit.
int32_t
fb_dp_grid_for(double std, double clip)
{
	int e = ilogb(std) - 26;
	int coarsest_clip = ilogb(clip) + 1 - 31; // clip < 2^31 steps
	if (e < coarsest_clip) {
		e = coarsest_clip;
	}
	if (e < -40) {
		e = -40;
	}
	return e > 20 ? 20 : (int32_t)e;
}

// The grid and the noise multiplier for sigma0 (the calibrated one, or the
// configured one): the grid follows the noise (fb_dp_grid_for). Both
// levels sum exactly on the grid (user level: fb_trainer_batch_release;
// client level: server/aggregate.h agg_central), so the sensitivity is
// the clip itself and the multiplier accounted is the one added.
static fb_err
set_noise(struct fb_dp *dp, const struct fb_dp_config *cfg, double sigma0)
{
	dp->cfg.granularity_log2 =
			fb_dp_grid_for(sigma0 * cfg->clip, cfg->clip);
	dp->granularity = ldexp(1.0, dp->cfg.granularity_log2);
	if (cfg->clip / dp->granularity > FB_DP_CLIP_STEPS_MAX) {
		return fb_errorf(FB_EINVAL,
				"dp: clip %g is more than 2^31 grid steps of 2^%d",
				cfg->clip, dp->cfg.granularity_log2);
	}
	dp->sigma_noise = sigma0;
	dp->sigma_accounted = sigma0;
	return FB_OK;
}

fb_err
fb_dp_open(struct fb_dp **out, const struct fb_dp_config *cfg,
		struct fb_ledger *ledger, size_t dim, uint64_t planned_steps)
{
	fb_err err = fb_dp_config_check(cfg);
	if (err != FB_OK) {
		return err;
	}
	if (cfg->mode == FB_DP_NONE) {
		return fb_errorf(FB_EINVAL, "dp: mode none has no DP state");
	}
	struct fb_dp *dp = calloc(1, sizeof(*dp));
	if (dp == NULL) {
		return FB_ENOMEM;
	}
	dp->cfg = *cfg;
	dp->dim = dim;
	// Calibration accounts for the grid's terms (accountant.h), which
	// depend on the noise in grid steps, which depends on sigma and on
	// the grid chosen for it: calibrate with a lower bound of the noise
	// in grid steps, and again with a lower one if the grid chosen for
	// the result gives less.
	uint64_t steps = cfg->steps > 0 ? cfg->steps : planned_steps;
	if (!(cfg->sigma > 0) && steps == 0) {
		err = fb_errorf(FB_EINVAL,
				"dp: sigma 0 needs planned steps to calibrate");
		goto fail;
	}
	// The accountant replayed from the ledger: the budget checks', and
	// with compose_ledger the base the calibration adds the plan to.
	dp->ledger = ledger;
	err = fb_ledger_accountant(dp->ledger, cfg->accountant, &dp->acct);
	if (err != FB_OK) {
		goto fail;
	}
	double s_lb = 0; // 0: the first pass calibrates without the grid
	for (int pass = 0;; pass++) {
		double sigma0 = cfg->sigma;
		if (!(cfg->sigma > 0)) {
			struct fb_acct_grid g = {dim, s_lb};
			err = cfg->compose_ledger
					? fb_acct_calibrate_sigma_after(
							  dp->acct, cfg->q,
							  steps,
							  s_lb > 0 ? &g : NULL,
							  cfg->epsilon,
							  cfg->delta, &sigma0)
					: fb_acct_calibrate_sigma(
							  cfg->accountant,
							  cfg->q, steps,
							  s_lb > 0 ? &g : NULL,
							  cfg->epsilon,
							  cfg->delta, &sigma0);
			if (err != FB_OK) {
				goto fail;
			}
			dp->cfg.steps = (uint32_t)steps;
		}
		err = set_noise(dp, cfg, sigma0);
		if (err != FB_OK) {
			goto fail;
		}
		double s = dp->sigma_noise * cfg->clip / dp->granularity;
		if (cfg->sigma > 0 || (s_lb > 0 && s >= s_lb) || pass == 4) {
			break;
		}
		s_lb = s_lb > 0 && s_lb < s ? s_lb : s;
	}
	dp->grid.dim = dim;
	dp->grid.noise_steps = dp->sigma_noise * cfg->clip / dp->granularity;
	dp->cfg.sigma = dp->sigma_noise;
	double std_steps = dp->sigma_noise * cfg->clip / dp->granularity;
	if (std_steps > FB_NOISE_SIGMA_INT_MAX ||
			std_steps < FB_NOISE_SIGMA_INT_MIN) {
		err = fb_errorf(FB_EINVAL,
				"dp: noise std %g is %g grid steps of 2^%d, "
				"outside what the sampler supports",
				dp->sigma_noise * cfg->clip, std_steps,
				dp->cfg.granularity_log2);
		goto fail;
	}
	if (cfg->seeded) {
		uint8_t seed[FB_NOISE_SEED_LEN] = {0};
		for (int k = 0; k < 8; k++) {
			seed[k] = (uint8_t)(cfg->seed >> (8 * k));
		}
		err = fb_noise_create_seeded(&dp->noise, seed);
		fb_log(FB_LOG_WARN,
				"seeded noise: this run is reproducible and NOT "
				"private");
	} else {
		err = fb_noise_create(&dp->noise);
	}
	if (err == FB_OK && cfg->test_no_noise) {
		fb_log(FB_LOG_WARN,
				"test switch: releases carry NO noise; this run "
				"is NOT private");
	}
	uint64_t planned = dp->cfg.steps > 0 ? dp->cfg.steps : planned_steps;
	if (err == FB_OK && planned > 0) {
		bool ok = false;
		err = fits(dp, planned, &ok);
		dp->remaining = ok ? planned : 0;
	}
	if (err != FB_OK) {
		goto fail;
	}
	*out = dp;
	return FB_OK;
fail:
	fb_dp_close(dp);
	return err;
}

fb_err
fb_dp_set_shares(struct fb_dp *dp, uint64_t noise_shares, uint64_t honest)
{
	if (dp->cfg.mode != FB_DP_USER || noise_shares == 0 || honest == 0) {
		return fb_errorf(FB_EINVAL,
				"dp: distributed noise needs user level and at "
				"least one share (%llu noise shares, %llu "
				"honest)",
				(unsigned long long)noise_shares,
				(unsigned long long)honest);
	}
	double steps = dp->grid.noise_steps / sqrt((double)noise_shares);
	if (!(steps >= 2)) {
		return fb_errorf(FB_EINVAL,
				"dp: a noise share of %g grid steps (%llu "
				"shares) is below 2 steps",
				steps, (unsigned long long)noise_shares);
	}
	dp->shares = honest;
	dp->share_steps = steps;
	dp->ddg = (struct fb_acct_ddg){.q = dp->cfg.q,
			.sigma_share = steps,
			.n_honest = honest,
			.l2 = dp->cfg.clip / dp->granularity,
			.l1 = 0,
			.dim = dp->dim};
	return FB_OK;
}

double
fb_dp_noise_steps(const struct fb_dp *dp)
{
	return dp->shares > 0 ? dp->share_steps : dp->grid.noise_steps;
}

// The epsilon of the ledger replayed (alone: with distributed-noise
// releases at their own share, ledger.h) after one more release of dp.
static fb_err
epsilon_after(struct fb_dp *dp, bool alone, double *eps)
{
	struct fb_acct *a = NULL;
	fb_err err = alone ? fb_ledger_accountant_alone(
					     dp->ledger, dp->cfg.accountant, &a)
			   : fb_ledger_accountant(dp->ledger,
					     dp->cfg.accountant, &a);
	if (err == FB_OK && dp->shares > 0) {
		struct fb_acct_ddg m = dp->ddg;
		m.n_honest = alone ? 1 : m.n_honest;
		err = fb_acct_add_ddg(a, &m, 1);
	} else if (err == FB_OK) {
		err = fb_acct_add(a, dp->cfg.q, dp->sigma_accounted, 1);
		if (err == FB_OK) {
			err = fb_acct_add_grid(a, &dp->grid, 1);
		}
	}
	if (err == FB_OK) {
		err = fb_acct_epsilon(a, dp->cfg.delta, eps);
	}
	fb_acct_destroy(a);
	return err;
}

fb_err
fb_dp_next_epsilon(struct fb_dp *dp, double *assumed, double *alone)
{
	double a = 0, b = 0;
	fb_err err = epsilon_after(dp, false, &a);
	if (err == FB_OK) {
		err = dp->shares > 0 ? epsilon_after(dp, true, &b) : FB_OK;
		b = dp->shares > 0 ? b : a;
	}
	if (err != FB_OK) {
		return err;
	}
	*assumed = a;
	*alone = b;
	return FB_OK;
}

// A finite value for the ledger (an infinite epsilon is written as the
// largest the ledger accepts: nothing is private any more either way).
static double
ledger_eps(double eps)
{
	return eps < 1e300 ? eps : 1e300;
}

// begin_release with distributed noise: the budget by the assumed
// epsilon, then the entry with both epsilons.
static fb_err
begin_release_ddg(struct fb_dp *dp, uint64_t round, bool sync)
{
	double assumed = 0, alone = 0;
	fb_err err = fb_dp_next_epsilon(dp, &assumed, &alone);
	if (err != FB_OK) {
		return err;
	}
	if (!(assumed <= dp->cfg.epsilon)) {
		return fb_errorf(FB_EBUDGET,
				"privacy budget (epsilon %g, delta %g) would be "
				"exceeded by one more release after %zu: "
				"epsilon %.4f with %llu honest noise shares; "
				"no update computed",
				dp->cfg.epsilon, dp->cfg.delta,
				fb_ledger_releases(dp->ledger), assumed,
				(unsigned long long)dp->shares);
	}
	struct fb_ledger_entry e = {0};
	e.round = round;
	strcpy(e.mode, "user");
	e.q = dp->cfg.q;
	e.sigma = dp->sigma_accounted;
	e.steps = 1;
	e.clip = dp->cfg.clip;
	e.delta = dp->cfg.delta;
	e.dim = dp->grid.dim;
	e.noise_steps = dp->grid.noise_steps;
	strcpy(e.mech, FB_LEDGER_MECH_DDG);
	e.shares = dp->shares;
	e.sigma_share = dp->share_steps;
	e.eps_assumed = ledger_eps(assumed);
	e.eps_alone = ledger_eps(alone);
	err = sync ? fb_ledger_append(dp->ledger, &e)
		   : fb_ledger_append_deferred(dp->ledger, &e);
	if (err == FB_OK) {
		err = fb_acct_add_ddg(dp->acct, &dp->ddg, 1);
	}
	return err;
}

static fb_err
begin_release(struct fb_dp *dp, uint64_t round, bool sync)
{
	if (dp->shares > 0) {
		return begin_release_ddg(dp, round, sync);
	}
	fb_err err = FB_OK;
	if (dp->remaining == 0 && !dp->remaining_exact) {
		err = count_remaining(dp, &dp->remaining);
		if (err != FB_OK) {
			return err;
		}
		dp->remaining_exact = true;
	}
	if (dp->remaining == 0) {
		double spent = 0;
		fb_acct_epsilon(dp->acct, dp->cfg.delta, &spent);
		return fb_errorf(FB_EBUDGET,
				"privacy budget (epsilon %g, delta %g) would be "
				"exceeded by one more release after %zu: spent "
				"epsilon %.4f; no update computed",
				dp->cfg.epsilon, dp->cfg.delta,
				fb_ledger_releases(dp->ledger), spent);
	}
	struct fb_ledger_entry e = {0};
	e.round = round;
	strcpy(e.mode, dp->cfg.mode == FB_DP_USER ? "user" : "client");
	e.q = dp->cfg.q;
	e.sigma = dp->sigma_accounted;
	e.steps = 1;
	e.clip = dp->cfg.clip;
	e.delta = dp->cfg.delta;
	e.dim = dp->grid.dim;
	e.noise_steps = dp->grid.noise_steps;
	err = sync ? fb_ledger_append(dp->ledger, &e)
		   : fb_ledger_append_deferred(dp->ledger, &e);
	if (err == FB_OK) {
		err = fb_acct_add(dp->acct, e.q, e.sigma, 1);
	}
	if (err == FB_OK) {
		err = fb_acct_add_grid(dp->acct, &dp->grid, 1);
	}
	if (err == FB_OK) {
		dp->remaining--;
	} else {
		// Recount from what is recorded.
		dp->remaining = 0;
		dp->remaining_exact = false;
	}
	return err;
}

fb_err
fb_dp_begin_release(struct fb_dp *dp, uint64_t round)
{
	return begin_release(dp, round, true);
}

fb_err
fb_dp_begin_release_deferred(struct fb_dp *dp, uint64_t round)
{
	return begin_release(dp, round, false);
}

fb_err
fb_dp_sync(struct fb_dp *dp)
{
	return fb_ledger_sync(dp->ledger);
}

fb_err
fb_dp_noise_i64(struct fb_dp *dp, int64_t *v, size_t n)
{
	if (n != dp->dim) {
		return fb_errorf(FB_EINVAL,
				"dp: release of %zu coordinates, opened for %zu",
				n, dp->dim);
	}
	if (dp->cfg.test_no_noise) {
		return FB_OK;
	}
	uint64_t num, den;
	fb_err err = fb_noise_sigma2_rational(
			fb_dp_noise_steps(dp), &num, &den);
	if (err == FB_OK) {
		err = fb_noise_add_discrete_gaussian_i64(
				dp->noise, v, n, num, den);
	}
	return err;
}

void
fb_dp_acct_grid(const struct fb_dp *dp, struct fb_acct_grid *out)
{
	*out = dp->grid;
}

int32_t
fb_dp_grid_log2(const struct fb_dp *dp)
{
	return dp->cfg.granularity_log2;
}

void
fb_dp_sample(struct fb_dp *dp, const uint32_t *candidates, uint32_t n,
		uint32_t *out, uint32_t *m)
{
	// P[u64 < threshold] = threshold / 2^64 = q up to 2^-64.
	double q = dp->cfg.q;
	uint64_t threshold = q >= 1 ? UINT64_MAX : (uint64_t)ldexp(q, 64);
	uint32_t k = 0;
	for (uint32_t j = 0; j < n; j++) {
		if (q >= 1 || fb_noise_u64(dp->noise) < threshold) {
			out[k++] = candidates[j];
		}
	}
	*m = k;
}

fb_err
fb_dp_spent(struct fb_dp *dp, double *epsilon, size_t *releases)
{
	*releases = fb_ledger_releases(dp->ledger);
	if (*releases == 0) {
		*epsilon = 0;
		return FB_OK;
	}
	return fb_acct_epsilon(dp->acct, dp->cfg.delta, epsilon);
}

size_t
fb_dp_releases(const struct fb_dp *dp)
{
	return fb_ledger_releases(dp->ledger);
}

double
fb_dp_sigma_noise(const struct fb_dp *dp)
{
	return dp->sigma_noise;
}

double
fb_dp_sigma_accounted(const struct fb_dp *dp)
{
	return dp->sigma_accounted;
}

bool
fb_dp_is_private(const struct fb_dp *dp)
{
	return fb_noise_is_private(dp->noise) && !dp->cfg.test_no_noise;
}

const struct fb_dp_config *
fb_dp_config_of(const struct fb_dp *dp)
{
	return &dp->cfg;
}
