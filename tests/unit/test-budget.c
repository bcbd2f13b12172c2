// tests/unit/test-budget.c: the client's budget projections (client/
// budget.c). A secure round is accounted as a distributed discrete
// Gaussian release (fb_acct_add_ddg: the central Gaussian plus the grid's
// and the coupling's terms), so its projection must be the ddg one: the
// plain projection at the equivalent central sigma counts rounds that the
// ledger would then refuse. Also: the last secure release of a ledger is
// found for `fedbundle-client budget --secure`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/budget.h"
#include "harness.h"

// A secure plan whose grid terms are not negligible: 4 honest shares of
// 256 grid steps (512 in the sum), L2 sensitivity 512 steps (clip 1 on
// the grid 2^-9), so the central noise multiplier is 1; 200 coordinates.
static struct fb_acct_ddg
plan(void)
{
	return (struct fb_acct_ddg){.q = 0.25,
			.sigma_share = 256,
			.n_honest = 4,
			.l2 = 512,
			.l1 = 0,
			.dim = 200};
}

static void
policy(struct node_policy *pol, int kind)
{
	node_policy_defaults(pol);
	pol->epsilon = 6;
	pol->delta = 1e-6;
	pol->accountant = kind;
}

// The ddg projection is what adding the releases gives (k fit, k + 1 do
// not), and the plain one at the same central sigma says more fit.
TEST(secure_projection_is_ddg)
{
	for (int kind = 0; kind < 2; kind++) {
		struct node_policy pol;
		policy(&pol, kind);
		struct fb_acct_ddg m = plan();
		uint64_t plain = 0, secure = 0;
		CHECK_OK(node_budget_rounds_fit(&pol, NULL, m.q,
				fb_acct_ddg_sigma(&m), 1, 100000, &plain));
		CHECK_OK(node_budget_rounds_fit_ddg(
				&pol, NULL, &m, 100000, &secure));
		printf("# %s: plain %llu rounds, ddg %llu\n",
				fb_acct_kind_name((enum fb_acct_kind)kind),
				(unsigned long long)plain,
				(unsigned long long)secure);
		CHECK(secure > 0);
		CHECK(secure < plain);
		double at = 0, above = 0;
		CHECK_OK(node_budget_epsilon_after_ddg(
				&pol, NULL, &m, secure, &at));
		CHECK_OK(node_budget_epsilon_after_ddg(
				&pol, NULL, &m, secure + 1, &above));
		CHECK(at <= pol.epsilon);
		CHECK(above > pol.epsilon);
		// The plain count, as ddg releases, is over the budget.
		CHECK_OK(node_budget_epsilon_after_ddg(
				&pol, NULL, &m, plain, &above));
		CHECK(above > pol.epsilon);
	}
}

// On top of a ledger: its releases count, and its last secure release is
// the plan of --secure.
TEST(secure_projection_over_ledger)
{
	char dir[] = "/tmp/fb-test-budget-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/ledger.jsonl", dir);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, path, true));
	struct node_policy pol;
	policy(&pol, FB_ACCT_PLD);
	snprintf(pol.ledger, sizeof(pol.ledger), "%s", path);
	struct fb_acct_ddg m = {0};
	uint64_t seq = 0;
	CHECK_ERR(node_budget_last_ddg(&pol, l, &m, &seq), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "no secure");
	uint64_t before = 0, after = 0;
	struct fb_acct_ddg p = plan();
	CHECK_OK(node_budget_rounds_fit_ddg(&pol, l, &p, 100000, &before));
	// One secure release as fb_dp records it: the grid is clip / l2.
	struct fb_ledger_entry e = {0};
	e.round = 1;
	strcpy(e.mode, "user");
	e.q = p.q;
	e.sigma = fb_acct_ddg_sigma(&p);
	e.steps = 1;
	e.clip = 1;
	e.delta = pol.delta;
	e.dim = p.dim;
	strcpy(e.mech, FB_LEDGER_MECH_DDG);
	e.shares = p.n_honest;
	e.sigma_share = p.sigma_share;
	e.eps_assumed = 0.1;
	e.eps_alone = 0.2;
	e.noise_steps = 512; // sigma clip / grid
	CHECK_OK(fb_ledger_append(l, &e));
	CHECK_OK(node_budget_last_ddg(&pol, l, &m, &seq));
	CHECK(seq == 1);
	CHECK(m.q == p.q && m.sigma_share == p.sigma_share &&
			m.n_honest == p.n_honest && m.dim == p.dim);
	CHECK_NEAR(m.l2, p.l2, 1e-9);
	CHECK_OK(node_budget_rounds_fit_ddg(&pol, l, &m, 100000, &after));
	CHECK(after == before - 1);
	fb_ledger_close(l);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	RUN(secure_projection_is_ddg);
	RUN(secure_projection_over_ledger);
	return harness_done();
}
