// tests/unit/test-dp.c: the release protocol: calibration meets the target,
// the budget refuses the release that would exceed it (nothing computed,
// nothing written), the ledger is written before the noise, the noise has
// the stated standard deviation on every released coordinate and none on
// coordinates a shaped release leaves out, seeded noise says it is not
// private, and a DP state borrows its owner's locked ledger.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fedbundle/dp.h"
#include "fedbundle/ledger.h"
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
	struct fb_rep_grad g;
	struct fb_model shape = {0};
	CHECK_OK(fb_model_init(&shape, 300, 200, 0, 16));
	CHECK_OK(fb_rep_grad_init(&g, &shape));
	struct fb_dp *dp = NULL;
	size_t dim = fb_matrix_len(&g.bundle) + fb_matrix_len(&g.item);
	CHECK_OK(open_dp(&dp, &c, path, true, dim, 0));
	CHECK_OK(fb_dp_begin_release(dp, 1));
	CHECK_OK(fb_dp_noise(dp, &g));
	double s2 = 0;
	size_t zeros = 0;
	for (size_t k = 0; k < fb_matrix_len(&g.bundle); k++) {
		s2 += (double)g.bundle.data[k] * g.bundle.data[k];
		zeros += g.bundle.data[k] == 0.0f;
	}
	for (size_t k = 0; k < fb_matrix_len(&g.item); k++) {
		s2 += (double)g.item.data[k] * g.item.data[k];
		zeros += g.item.data[k] == 0.0f;
	}
	double std = sqrt(s2 / (double)dim);
	// 8000 coordinates: the sample std is within 3% of 0.75.
	CHECK_NEAR(std, 0.75, 0.0225);
	CHECK(zeros < 5);
	// The accounted multiplier allows for the grid: std / (C + g sqrt(D)).
	CHECK_NEAR(fb_dp_sigma_accounted(dp),
			0.75 / (0.5 + ldexp(1, -20) * sqrt((double)dim)), 1e-9);
	close_dp(dp);
	fb_rep_grad_finish(&g);
	fb_model_finish(&shape);
	free(path);
}

TEST(shaped_release_noises_only_what_it_releases)
{
	struct fb_dp_config c = user_config(8);
	c.sigma = 1;
	char *path = ledger_path("c.ledger");
	struct fb_model shape = {0};
	CHECK_OK(fb_model_init(&shape, 50, 40, 0, 8));
	struct fb_rep_grad g;
	CHECK_OK(fb_rep_grad_init(&g, &shape));
	for (size_t k = 0; k < fb_matrix_len(&g.item); k++) {
		g.item.data[k] = 3.0f; // not released: must come back as 0
	}
	struct fb_dp_shape s = {3, true, false};
	CHECK(fb_dp_shape_count(&s, &g) == 40 * 4);
	struct fb_dp *dp = NULL;
	CHECK_OK(open_dp(&dp, &c, path, true, 40 * 4, 0));
	CHECK_OK(fb_dp_begin_release(dp, 1));
	struct fb_dp_shape wrong = {4, true, false};
	CHECK_ERR(fb_dp_noise_shaped(dp, &g, &wrong), FB_EINVAL);
	CHECK_OK(fb_dp_noise_shaped(dp, &g, &s));
	size_t noised = 0;
	for (size_t b = 0; b < 40; b++) {
		const float *row = fb_matrix_row(&g.bundle, b);
		for (size_t k = 0; k < 8; k++) {
			if (k < 3 || k == 7) {
				noised += row[k] != 0.0f;
			} else {
				CHECK(row[k] == 0.0f);
			}
		}
	}
	CHECK(noised > 150);
	for (size_t k = 0; k < fb_matrix_len(&g.item); k++) {
		CHECK(g.item.data[k] == 0.0f);
	}
	close_dp(dp);
	fb_rep_grad_finish(&g);
	fb_model_finish(&shape);
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
	RUN(shaped_release_noises_only_what_it_releases);
	RUN(poisson_sampling_rate);
	RUN(dp_state_borrows_the_ledger);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? rc : 99;
}
