// tests/unit/test-dprule.c: the DP settings rule (include/fedbundle/model/
// dprule.h, docs/privacy.md section 12). The rank grows with what the
// mechanism allows (more declared users, a larger epsilon: less noise per
// step), the learning rate follows the planned releases, the values stay
// in range and follow the stated formulas, and nothing overrides what the
// user set explicitly. The constant Youshu-tuned defaults (lr 20, rank 8
// whatever n and epsilon) fail the first two tests.
#include <math.h>

#include "fedbundle/model/dprule.h"
#include "harness.h"

// A Youshu-sized public catalogue; RDP keeps the calibrations quick.
static struct fb_dprule_input
youshu_like(uint64_t users, double epsilon)
{
	struct fb_dprule_input in = {
			.users = users,
			.n_bundles = 4771,
			.n_items = 32770,
			.dim = 64,
			.bias = true,
			.train_items = false,
			.l2 = 6e-4,
			.epochs = 30,
			.epsilon = epsilon,
			.delta = 1e-6,
			.clip = 1,
			.q = FB_DPRULE_Q,
			.sigma = 0,
			.accountant = FB_ACCT_RDP,
	};
	return in;
}

static const uint64_t users[] = {300, 1500, 8100, 50000, 1000000};
static const double epsilons[] = {0.5, 1, 2, 4, 8, 16};
#define N_USERS (sizeof(users) / sizeof(users[0]))
#define N_EPS (sizeof(epsilons) / sizeof(epsilons[0]))

static struct fb_dprule grid[N_USERS][N_EPS];

static void
fill_grid(void)
{
	for (size_t i = 0; i < N_USERS; i++) {
		for (size_t j = 0; j < N_EPS; j++) {
			struct fb_dprule_input in =
					youshu_like(users[i], epsilons[j]);
			CHECK_OK(fb_dprule_derive(&in, &grid[i][j]));
		}
	}
}

TEST(monotonic_in_users_and_epsilon)
{
	fill_grid();
	for (size_t i = 0; i < N_USERS; i++) {
		for (size_t j = 0; j < N_EPS; j++) {
			const struct fb_dprule *r = &grid[i][j];
			if (i > 0) {
				const struct fb_dprule *s = &grid[i - 1][j];
				CHECK(r->lr >= s->lr);
				CHECK(r->bundle_rank >= s->bundle_rank);
				CHECK(r->noise_per_step < s->noise_per_step);
			}
			if (j > 0) {
				const struct fb_dprule *s = &grid[i][j - 1];
				CHECK(r->lr >= s->lr);
				CHECK(r->bundle_rank >= s->bundle_rank);
				CHECK(r->sigma < s->sigma);
			}
		}
	}
	// Not constant: a small owner at a small epsilon trains the lowest
	// rank, a large one at a large epsilon every coordinate, and a step
	// in n or in epsilon raises it.
	CHECK(grid[0][0].bundle_rank == 1);
	CHECK(grid[N_USERS - 1][N_EPS - 1].bundle_rank == 63);
	CHECK(grid[2][1].bundle_rank < grid[2][4].bundle_rank);
	CHECK(grid[1][4].bundle_rank < grid[2][4].bundle_rank);
}

TEST(values_in_range_and_as_stated)
{
	fill_grid();
	for (size_t i = 0; i < N_USERS; i++) {
		for (size_t j = 0; j < N_EPS; j++) {
			const struct fb_dprule *r = &grid[i][j];
			CHECK(r->q == FB_DPRULE_Q);
			CHECK(r->releases == 30 * 4);
			CHECK(r->sigma > 0 && isfinite(r->sigma));
			CHECK(r->lr >= FB_DPRULE_LR_MIN &&
					r->lr <= FB_DPRULE_LR_MAX);
			CHECK(r->bundle_rank >= 1 && r->bundle_rank <= 63);
			double nu = r->sigma / (FB_DPRULE_Q * (double)users[i]);
			CHECK_NEAR(r->noise_per_step, nu, 1e-12 * nu);
			double lr = FB_DPRULE_CONVERGE / (6e-4 * 120);
			CHECK_NEAR(r->lr, lr, 1e-9 * lr);
			// The release stays within the coordinate budget
			// unless the rank is already at its floor of 1.
			double d = (double)(r->bundle_rank + 1) * 4771;
			CHECK(d <= r->max_coords || r->bundle_rank == 1);
			if (r->bundle_rank < 63) {
				CHECK(d + 4771 > r->max_coords);
			}
		}
	}
	// Twice the releases, half the rate; a given noise multiplier is
	// used as given, and the rank's budget is (kappa q n / sigma)^2.
	struct fb_dprule_input in = youshu_like(1000, 8);
	in.sigma = 2;
	struct fb_dprule a, b;
	CHECK_OK(fb_dprule_derive(&in, &a));
	in.epochs = 60;
	CHECK_OK(fb_dprule_derive(&in, &b));
	CHECK_NEAR(b.lr, a.lr / 2, 1e-9 * a.lr);
	CHECK(a.sigma == 2);
	in.steps = 60; // dp.steps: the releases sigma is calibrated for
	CHECK_OK(fb_dprule_derive(&in, &b));
	CHECK(b.releases == 60);
	CHECK_NEAR(b.lr, 2 * a.lr, 1e-9 * a.lr);
	in.steps = 0;
	in.epochs = 30;
	double k = FB_DPRULE_KAPPA * 250 / 2;
	CHECK_NEAR(a.max_coords, k * k, 1e-9 * k * k);
	// Trained item factors use up the coordinate budget first.
	in = youshu_like(8100, 8);
	in.train_items = true;
	CHECK_OK(fb_dprule_derive(&in, &a));
	CHECK(a.bundle_rank == 1);
}

TEST(explicit_settings_win)
{
	struct fb_train_config cfg;
	struct fb_dp_config dpc;
	fb_train_config_defaults_dp(&cfg);
	fb_dp_config_defaults(&dpc);
	dpc.mode = FB_DP_USER;
	dpc.users = 1500;
	dpc.accountant = FB_ACCT_RDP;
	struct fb_dprule_explicit none = {0};
	struct fb_dprule r;
	CHECK_OK(fb_dprule_apply(&cfg, &dpc, 32770, 4771, &none, &r));
	CHECK(cfg.hp.lr == r.lr);
	CHECK(cfg.hp.bundle_rank == r.bundle_rank);
	CHECK(dpc.q == FB_DPRULE_Q);

	fb_train_config_defaults_dp(&cfg);
	cfg.hp.lr = 3;
	cfg.hp.bundle_rank = 5;
	dpc.q = 0.5;
	struct fb_dprule_explicit all = {
			.q = true, .lr = true, .bundle_rank = true};
	CHECK_OK(fb_dprule_apply(&cfg, &dpc, 32770, 4771, &all, &r));
	CHECK(cfg.hp.lr == 3);
	CHECK(cfg.hp.bundle_rank == 5);
	CHECK(dpc.q == 0.5);
	// The rule still reports what it would have chosen, for the
	// explicit q.
	CHECK(r.q == 0.5 && r.releases == (uint64_t)cfg.epochs * 2);
	CHECK(r.lr != 3);

	// One explicit, the others from the rule.
	fb_train_config_defaults_dp(&cfg);
	cfg.hp.bundle_rank = 7;
	struct fb_dprule_explicit rank = {.bundle_rank = true};
	CHECK_OK(fb_dprule_apply(&cfg, &dpc, 32770, 4771, &rank, &r));
	CHECK(cfg.hp.bundle_rank == 7);
	CHECK(cfg.hp.lr == r.lr && dpc.q == FB_DPRULE_Q);
}

TEST(undeclared_users_are_refused)
{
	struct fb_dprule_input in = youshu_like(0, 8);
	struct fb_dprule r;
	CHECK_ERR(fb_dprule_derive(&in, &r), FB_EINVAL);
	CHECK_STR_CONTAINS(
			fb_last_error(FB_EINVAL), "declared number of users");
	in = youshu_like(100, 8);
	in.epochs = 0;
	CHECK_ERR(fb_dprule_derive(&in, &r), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "epochs");
	in = youshu_like(100, 8);
	in.l2 = 0;
	CHECK_ERR(fb_dprule_derive(&in, &r), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "give lr explicitly");
}

int
main(void)
{
	RUN(monotonic_in_users_and_epsilon);
	RUN(values_in_range_and_as_stated);
	RUN(explicit_settings_win);
	RUN(undeclared_users_are_refused);
	return harness_done();
}
