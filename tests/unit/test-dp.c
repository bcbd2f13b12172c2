// tests/unit/test-dp.c: the release protocol: calibration meets the target,
// the budget refuses the release that would exceed it (nothing computed,
// nothing written), the ledger is written before the noise, the noise has
// the stated standard deviation on every released coordinate, the
// accounted multiplier is the added one at both levels, seeded noise and the test switch say they are
// not private, the noise shares of h clients are independent and sum to
// the central noise, a DP state borrows its owner's locked ledger, and
// with compose_ledger the calibration leaves room for an earlier release
// (issue 15's popularity prior) so that the whole run meets the target.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "harness.h"

static char dir[64];

static struct fb_dp_config
user_config(double eps)
{
	struct fb_dp_config c;
	fb_dp_config_defaults(&c);
	c.mode = FB_DP_USER;
	c.epsilon = eps;
	c.delta = 1e-6;
	c.q = 0.2;
	c.clip = 1;
	c.seeded = true;
	c.seed = 5;
	return c;
}

static char *
ledger_path(const char *name)
{
	char *p = malloc(128);
	snprintf(p, 128, "%s/%s", dir, name);
	unlink(p);
	return p;
}

// The ledger of the DP state open_dp() opened (one at a time here).
static struct fb_ledger *held;

// Opens the ledger at path for appending (as its owner does) and a DP
// state over it.
static fb_err
open_dp(struct fb_dp **dp, const struct fb_dp_config *c, const char *path,
		bool create, size_t dim, uint64_t steps)
{
	fb_err err = fb_ledger_open(&held, path, create);
	if (err == FB_OK) {
		err = fb_dp_open(dp, c, held, dim, steps);
	}
	if (err != FB_OK) {
		fb_ledger_close(held);
		held = NULL;
	}
	return err;
}

static void
close_dp(struct fb_dp *dp)
{
	fb_dp_close(dp);
	fb_ledger_close(held);
	held = NULL;
}

TEST(calibrated_sigma_meets_the_target_and_budget_is_enforced)
{
	struct fb_dp_config c = user_config(2.0);
	char *path = ledger_path("a.ledger");
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, 1000, 50));
	CHECK(!fb_dp_is_private(dp));
	double sa = fb_dp_sigma_accounted(dp), sn = fb_dp_sigma_noise(dp);
	CHECK(sa > 0 && sn >= sa);
	double eps;
	CHECK_OK(fb_acct_epsilon_for(FB_ACCT_PLD, c.q, sa, 50, c.delta, &eps));
	CHECK(eps <= 2.0);
	// 50 releases fit; the 51st would exceed the budget.
	for (int k = 0; k < 50; k++) {
		CHECK_OK(fb_dp_begin_release(dp, (uint64_t)k + 1));
	}
	size_t n;
	CHECK_OK(fb_dp_spent(dp, &eps, &n));
	CHECK(n == 50 && eps <= 2.0 && eps > 1.9);
	CHECK_ERR(fb_dp_begin_release(dp, 51), FB_EBUDGET);
	CHECK_STR_CONTAINS(fb_last_error(FB_EBUDGET), "would be exceeded");
	CHECK(fb_dp_releases(dp) == 50);
	close_dp(dp);
	// The ledger holds exactly those releases, and reopening continues
	// the count: still no room.
	CHECK_OK(open_dp(&dp, &c, path, false, 1000, 50));
	CHECK(fb_dp_releases(dp) == 50);
	CHECK_ERR(fb_dp_begin_release(dp, 51), FB_EBUDGET);
	close_dp(dp);
	free(path);
}

TEST(missing_ledger_is_refused)
{
	struct fb_dp_config c = user_config(8);
	char *path = ledger_path("missing.ledger");
	struct fb_dp *dp = NULL;
	CHECK_ERR(open_dp(&dp, &c, path, false, 100, 10), FB_EIO);
	free(path);
}

TEST(noise_has_the_stated_std_on_every_coordinate)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 1.5;
	c.clip = 0.5;
	char *path = ledger_path("b.ledger");
	enum { DIM = 8000 };
	static int64_t v[DIM];
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, DIM, 0));
	CHECK_OK(fb_dp_begin_release(dp, 1));
	CHECK_ERR(fb_dp_noise_i64(dp, v, DIM - 1), FB_EINVAL);
	for (size_t k = 0; k < DIM; k++) {
		v[k] = (int64_t)k - 4000; // the noise is added to the sum
	}
	CHECK_OK(fb_dp_noise_i64(dp, v, DIM));
	double grid = ldexp(1.0, fb_dp_grid_log2(dp));
	double s2 = 0;
	size_t same = 0;
	for (size_t k = 0; k < DIM; k++) {
		double z = (double)(v[k] - ((int64_t)k - 4000)) * grid;
		s2 += z * z;
		same += z == 0.0;
	}
	double std = sqrt(s2 / DIM);
	// 8000 coordinates: the sample std is within 3% of 0.75.
	CHECK_NEAR(std, 0.75, 0.0225);
	CHECK(same < 5);
	// User level: every contribution is bounded on the grid exactly,
	// so the multiplier accounted is the one added.
	CHECK(fb_dp_sigma_accounted(dp) == fb_dp_sigma_noise(dp));
	CHECK(fb_dp_sigma_noise(dp) == 1.5);
	close_dp(dp);
	// Client level is exact too (the aggregator's agg_central): the
	// same multiplier, and a grid that follows the noise.
	c.mode = FB_DP_CLIENT;
	CHECK_OK(open_dp(&dp, &c, path, false, DIM, 0));
	CHECK(fb_dp_sigma_accounted(dp) == fb_dp_sigma_noise(dp));
	double steps = 0.75 / ldexp(1.0, fb_dp_grid_log2(dp));
	CHECK(steps >= 0x1p26 && steps < 0x1p27);
	close_dp(dp);
	free(path);
}

// Distributed noise (secure aggregation): each release adds a share of
// the central noise (std / sqrt(noise shares)), is accounted as the
// honest shares assumed, records both epsilons in its ledger entry, and
// a release that does not fit the budget under the assumption is refused
// before anything is written.
TEST(noise_share_is_a_share_and_accounted_as_ddg)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 1.5;
	c.clip = 0.5;
	c.q = 0.1;
	char *path = ledger_path("ddg.ledger");
	enum { DIM = 20000 };
	static int64_t v[DIM];
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, DIM, 0));
	CHECK_ERR(fb_dp_set_shares(dp, 0, 1), FB_EINVAL);
	CHECK_ERR(fb_dp_set_shares(dp, 4, 0), FB_EINVAL);
	double grid = ldexp(1.0, fb_dp_grid_log2(dp));
	double central = 1.5 * 0.5 / grid; // grid steps
	CHECK(fb_dp_noise_steps(dp) == central);
	// 4 noise shares, 3 of them assumed honest.
	CHECK_OK(fb_dp_set_shares(dp, 4, 3));
	CHECK(fb_dp_noise_steps(dp) == central / 2);
	double assumed = 0, alone = 0;
	CHECK_OK(fb_dp_next_epsilon(dp, &assumed, &alone));
	struct fb_acct_ddg m = {0.1, central / 2, 3, 0.5 / grid, 0, DIM};
	double want = 0, want_alone = 0;
	CHECK_OK(fb_acct_ddg_epsilon_for(FB_ACCT_PLD, &m, 1, 1e-6, &want));
	CHECK_OK(fb_acct_ddg_alone_epsilon(
			FB_ACCT_PLD, &m, 1, 1e-6, &want_alone));
	CHECK_NEAR(assumed, want, 1e-9 * want);
	CHECK_NEAR(alone, want_alone, 1e-9 * want_alone);
	CHECK(alone > assumed);
	CHECK_OK(fb_dp_begin_release(dp, 7));
	struct fb_ledger_entry e;
	CHECK_OK(fb_ledger_entry_at(held, 0, &e));
	CHECK(fb_ledger_is_ddg(&e) && e.shares == 3 &&
			e.sigma_share == central / 2 && e.round == 7 &&
			e.eps_assumed == assumed && e.eps_alone == alone &&
			e.sigma == 1.5 && e.noise_steps == central);
	// The noise: std central / 2 grid steps on every coordinate.
	for (size_t k = 0; k < DIM; k++) {
		v[k] = 1000 - (int64_t)k;
	}
	CHECK_OK(fb_dp_noise_i64(dp, v, DIM));
	double s2 = 0;
	for (size_t k = 0; k < DIM; k++) {
		double z = (double)(v[k] - (1000 - (int64_t)k));
		s2 += z * z;
	}
	// 20000 coordinates: the sample std is within 2% of the target.
	CHECK_NEAR(sqrt(s2 / DIM) / (central / 2), 1.0, 0.02);
	double spent = 0;
	size_t n = 0;
	CHECK_OK(fb_dp_spent(dp, &spent, &n));
	CHECK(n == 1);
	CHECK_NEAR(spent, assumed, 1e-9 * assumed);
	close_dp(dp);
	// A budget below the next release's assumed epsilon: refused, and
	// nothing written.
	c.epsilon = assumed * 1.05; // one fits (spent), a second not
	CHECK_OK(open_dp(&dp, &c, path, false, DIM, 0));
	CHECK_OK(fb_dp_set_shares(dp, 4, 3));
	CHECK_OK(fb_dp_next_epsilon(dp, &assumed, &alone));
	CHECK(assumed > c.epsilon);
	CHECK_ERR(fb_dp_begin_release(dp, 8), FB_EBUDGET);
	CHECK_STR_CONTAINS(fb_last_error(FB_EBUDGET), "3 honest noise shares");
	CHECK(fb_dp_releases(dp) == 1);
	// More honest shares assumed: the same release fits.
	CHECK_OK(fb_dp_set_shares(dp, 4, 12));
	CHECK_OK(fb_dp_begin_release(dp, 8));
	CHECK(fb_dp_releases(dp) == 2);
	close_dp(dp);
	free(path);
}

// The noise of a secure round is the sum of the h clients' shares
// (secagg-v1 §7): each client's fb_dp, told h shares, adds N_Z(0,
// (sigma C / grid)^2 / h), and the clients draw independent streams, so
// the sum has variance (sigma C / grid)^2, what the ddg accountant
// assumes of h honest shares. Checked with the CSPRNG (a process per
// client, as deployed) and with per-client seeds (as the simulation and
// the audit derive them), on SHARE_DIM coordinates: the sample variance's
// relative std is sqrt(2 / SHARE_DIM) = 0.45%, the tolerance 4% (9 std);
// a pair's sample correlation has std 0.32%, the tolerance 0.025 (8
// std). Clients drawing the same stream would make the sum's variance h
// times too large: shown with one seed for all, far outside.
enum { SHARES = 4, SHARE_DIM = 100000 };
static int64_t share[SHARES][SHARE_DIM];

// Client k's share of one release under c, into share[k]; *central: the
// central noise's std in grid steps, *grid: the grid.
static void
draw_share(const struct fb_dp_config *c, int k, double *central, double *grid)
{
	char name[32];
	snprintf(name, sizeof(name), "share-%d.ledger", k);
	char *path = ledger_path(name);
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, c, path, true, SHARE_DIM, 0));
	*central = fb_dp_noise_steps(dp);
	*grid = ldexp(1.0, fb_dp_grid_log2(dp));
	CHECK_OK(fb_dp_set_shares(dp, SHARES, SHARES));
	CHECK(fb_dp_noise_steps(dp) == *central / sqrt((double)SHARES));
	CHECK_OK(fb_dp_begin_release(dp, 1));
	memset(share[k], 0, sizeof(share[k]));
	CHECK_OK(fb_dp_noise_i64(dp, share[k], SHARE_DIM));
	close_dp(dp);
	free(path);
}

// The sum's variance over central^2; every client's share variance and
// the pairs' correlations checked.
static double
sum_variance_ratio(double central)
{
	double sum2 = 0, var[SHARES] = {0};
	for (size_t j = 0; j < SHARE_DIM; j++) {
		double t = 0;
		for (int k = 0; k < SHARES; k++) {
			double z = (double)share[k][j];
			t += z;
			var[k] += z * z;
		}
		sum2 += t * t;
	}
	double want = central * central / SHARES;
	for (int k = 0; k < SHARES; k++) {
		var[k] /= SHARE_DIM;
		CHECK_NEAR(var[k] / want, 1.0, 0.04);
	}
	return sum2 / SHARE_DIM / (central * central);
}

// The largest |correlation| of two clients' shares, and how many
// coordinates any two share exactly.
static double
max_correlation(size_t *equal)
{
	double worst = 0;
	*equal = 0;
	for (int a = 0; a < SHARES; a++) {
		for (int b = a + 1; b < SHARES; b++) {
			double ab = 0, aa = 0, bb = 0;
			for (size_t j = 0; j < SHARE_DIM; j++) {
				double x = (double)share[a][j];
				double y = (double)share[b][j];
				ab += x * y;
				aa += x * x;
				bb += y * y;
				*equal += share[a][j] == share[b][j];
			}
			double r = fabs(ab / sqrt(aa * bb));
			worst = r > worst ? r : worst;
		}
	}
	return worst;
}

TEST(shares_of_h_clients_sum_to_the_central_noise)
{
	struct fb_dp_config c = user_config(1e6);
	c.sigma = 1.3;
	c.clip = 0.8;
	double central = 0, grid = 0;
	for (int mode = 0; mode < 3; mode++) {
		// 0: CSPRNG; 1: per-client seeds; 2: one seed for all.
		for (int k = 0; k < SHARES; k++) {
			c.seeded = mode > 0;
			c.seed = mode == 1
					? 5 ^ ((uint64_t)(k + 1) * 0x9E3779B97F4A7C15ULL)
					: 5;
			draw_share(&c, k, &central, &grid);
		}
		double want = 1.3 * 0.8 / grid; // sigma C / grid
		CHECK(central >= want && central < want * (1 + 1e-12));
		double ratio = sum_variance_ratio(central);
		size_t equal = 0;
		double corr = max_correlation(&equal);
		printf("# %s: sum variance / (sigma C / grid)^2 = %.4f, max "
		       "|correlation| %.4f, %zu equal coordinates\n",
				mode == 0 ? "CSPRNG"
						: mode == 1
						? "per-client seeds"
						: "one seed for all",
				ratio, corr, equal);
		if (mode < 2) {
			CHECK_NEAR(ratio, 1.0, 0.04);
			CHECK(corr < 0.025);
			CHECK(equal < 20);
		} else {
			CHECK(ratio > SHARES * 0.9 && corr > 0.999);
		}
	}
}

TEST(test_switch_and_the_grid)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 2;
	c.seeded = false;
	c.test_no_noise = true;
	char *path = ledger_path("c.ledger");
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, 4, 0));
	CHECK(!fb_dp_is_private(dp));
	int64_t v[4] = {1, -2, 3, 0};
	CHECK_OK(fb_dp_noise_i64(dp, v, 4));
	CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3 && v[3] == 0);
	close_dp(dp);
	// The grid follows the noise: 2^26 to 2^27 steps of noise, a clip of
	// at most 2^31 steps, whatever sigma and the clip.
	c.test_no_noise = false;
	const double sigmas[] = {0.05, 0.7, 2, 30, 900};
	const double clips[] = {1e-3, 1, 5000};
	for (int i = 0; i < 5; i++) {
		for (int j = 0; j < 3; j++) {
			c.sigma = sigmas[i];
			c.clip = clips[j];
			CHECK_OK(open_dp(&dp, &c, path, false, 4, 0));
			double grid = ldexp(1.0, fb_dp_grid_log2(dp));
			double steps = c.sigma * c.clip / grid;
			CHECK(c.clip / grid <= 0x1p31);
			CHECK(steps <= 0x1p27);
			// Fewer noise steps only where the clip bounds it.
			CHECK(steps >= 0x1p26 || c.clip / grid >= 0x1p30);
			close_dp(dp);
		}
	}
	free(path);
}

TEST(poisson_sampling_rate)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 1;
	c.q = 0.3;
	char *path = ledger_path("d.ledger");
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, 10, 0));
	enum { N = 20000 };
	static uint32_t cand[N], out[N];
	for (uint32_t k = 0; k < N; k++) {
		cand[k] = k;
	}
	uint32_t m;
	fb_dp_sample(dp, cand, N, out, &m);
	// Binomial(20000, 0.3): std 64.8; 5 std = 324.
	CHECK(fabs((double)m - 6000) < 324);
	for (uint32_t k = 1; k < m; k++) {
		CHECK(out[k] > out[k - 1]);
	}
	close_dp(dp);
	free(path);
}

TEST(dp_state_borrows_the_ledger)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 1;
	char *path = ledger_path("e.ledger");
	struct fb_ledger *l = NULL, *other = NULL;
	CHECK_OK(fb_ledger_open(&l, path, true));
	struct fb_dp *dp = NULL;
	CHECK_OK(fb_dp_open(&dp, &c, l, 10, 0));
	CHECK_OK(fb_dp_begin_release(dp, 1));
	// The owner reads its releases through its handle, holds the lock
	// meanwhile, and keeps the ledger after the DP state is closed.
	CHECK(fb_ledger_count(l) == 1);
	CHECK_ERR(fb_ledger_open(&other, path, false), FB_ESTATE);
	fb_dp_close(dp);
	CHECK(fb_ledger_count(l) == 1);
	CHECK_ERR(fb_ledger_open(&other, path, false), FB_ESTATE);
	CHECK_OK(fb_dp_open(&dp, &c, l, 10, 0));
	CHECK(fb_dp_releases(dp) == 1);
	fb_dp_close(dp);
	fb_ledger_close(l);
	CHECK_OK(fb_ledger_open(&other, path, false));
	fb_ledger_close(other);
	free(path);
}

// One q = 1 release of dim coordinates at noise multiplier sigma on the
// held ledger (the popularity prior's shape).
static void
prior_release(const struct fb_dp_config *c, double sigma, size_t dim)
{
	struct fb_dp_config pc = *c;
	pc.q = 1;
	pc.sigma = sigma;
	struct fb_dp *p = NULL;
	CHECK_OK(fb_dp_open(&p, &pc, held, dim, 1));
	CHECK_OK(fb_dp_begin_release(p, 1));
	fb_dp_close(p);
}

// How many of `steps` releases the budget lets through.
static uint64_t
releases_allowed(struct fb_dp *dp, uint64_t steps)
{
	uint64_t k = 0;
	while (k < steps && fb_dp_begin_release(dp, k + 2) == FB_OK) {
		k++;
	}
	fb_clear_error();
	return k;
}

TEST(calibration_composes_with_an_earlier_release)
{
	const enum fb_acct_kind kinds[] = {FB_ACCT_RDP, FB_ACCT_PLD};
	for (int k = 0; k < 2; k++) {
		struct fb_dp_config c = user_config(2.0);
		c.accountant = kinds[k];
		// Before: the plan was calibrated alone, so after a prior
		// release the budget cuts it short.
		char *path = ledger_path("prior-old.ledger");
		struct fb_dp *dp = NULL;
		CHECK_OK(fb_ledger_open(&held, path, true));
		prior_release(&c, 8.0, 300);
		CHECK_OK(fb_dp_open(&dp, &c, held, 1000, 50));
		double alone = fb_dp_sigma_noise(dp);
		CHECK(releases_allowed(dp, 50) < 50);
		close_dp(dp);
		free(path);
		// compose_ledger: all 50 fit, the whole is at the target.
		path = ledger_path("prior.ledger");
		CHECK_OK(fb_ledger_open(&held, path, true));
		prior_release(&c, 8.0, 300);
		c.compose_ledger = true;
		CHECK_OK(fb_dp_open(&dp, &c, held, 1000, 50));
		CHECK(fb_dp_sigma_noise(dp) > alone);
		CHECK(releases_allowed(dp, 50) == 50);
		double eps = 0;
		size_t n = 0;
		CHECK_OK(fb_dp_spent(dp, &eps, &n));
		CHECK(n == 51 && eps <= 2.0 && eps > 2.0 - 1e-3);
		CHECK_ERR(fb_dp_begin_release(dp, 52), FB_EBUDGET);
		close_dp(dp);
		// Replayed from the ledger: the same epsilon.
		double eps2 = 0;
		CHECK_OK(fb_ledger_open(&held, path, false));
		c.compose_ledger = false;
		c.sigma = 1;
		CHECK_OK(fb_dp_open(&dp, &c, held, 1000, 0));
		CHECK_OK(fb_dp_spent(dp, &eps2, &n));
		CHECK(n == 51 && fabs(eps2 - eps) < 1e-12);
		close_dp(dp);
		free(path);
	}
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-dp-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return 99;
	}
	RUN(calibrated_sigma_meets_the_target_and_budget_is_enforced);
	RUN(missing_ledger_is_refused);
	RUN(noise_has_the_stated_std_on_every_coordinate);
	RUN(noise_share_is_a_share_and_accounted_as_ddg);
	RUN(shares_of_h_clients_sum_to_the_central_noise);
	RUN(test_switch_and_the_grid);
	RUN(poisson_sampling_rate);
	RUN(dp_state_borrows_the_ledger);
	RUN(calibration_composes_with_an_earlier_release);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? rc : 99;
}
