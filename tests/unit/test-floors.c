// tests/unit/test-floors.c: the two floors of include/fedbundle/model/floors.h.
// DP popularity: every user's weights are within the bound however many
// bundles it has; on neighbouring datasets (one user removed) the exact
// pre-noise counts move by at most the clip in L2, checked in integers;
// the release is a ledger entry of q 1, one step, and the epsilon it
// reports is the accountant's; its noise is the CSPRNG's unless the test
// switch seeds it; at a huge epsilon it ranks exactly like the counts.
// The zero-release model: a user's factor depends on its own history only,
// bit for bit. The same solve against any fixed representations (an
// aggregator checkpoint's) is the least-squares optimum, with or without
// a bias coordinate held at 1, and a model's solved users are scored with
// the solved representation.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/model/floors.h"
#include "fedbundle/model/metrics.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/rng.h"
#include "harness.h"

static char dir[64];

#define N_USERS 40
#define N_BUNDLES 60
#define N_ITEMS 200

// A users x bundles training split: user 0 holds every bundle (the user a
// missing bound would let through), the others 1 to 12 random bundles.
// skip: a user whose row is left empty (UINT32_MAX: none).
static void
make_train(struct fb_csr *out, uint32_t skip, uint64_t seed)
{
	uint32_t *r = malloc(N_USERS * N_BUNDLES * sizeof(*r));
	uint32_t *c = malloc(N_USERS * N_BUNDLES * sizeof(*c));
	size_t n = 0;
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 1);
	for (uint32_t u = 0; u < N_USERS; u++) {
		uint32_t k = u == 0 ? N_BUNDLES : 1 + fb_rng_below(&rng, 12);
		for (uint32_t j = 0; j < k; j++) {
			uint32_t b = u == 0 ? j : fb_rng_below(&rng, N_BUNDLES);
			if (u != skip) {
				r[n] = u;
				c[n++] = b;
			}
		}
	}
	if (fb_csr_from_pairs(out, N_USERS, N_BUNDLES, r, c, n, true) !=
			FB_OK) {
		abort();
	}
	free(r);
	free(c);
}

TEST(weights_meet_the_bound_and_are_the_largest_that_do)
{
	const uint64_t S[] = {1, 7, 1000, UINT64_C(1) << 24, UINT64_C(1) << 31};
	const uint32_t ks[] = {1, 2, 3, 10, 99, 4771, 1000000};
	const uint32_t ms[] = {1, 5, 64};
	for (size_t i = 0; i < sizeof(S) / sizeof(S[0]); i++) {
		for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
			for (size_t l = 0; l < sizeof(ms) / sizeof(ms[0]);
					l++) {
				uint64_t K = ks[j] > ms[l] ? ks[j] : ms[l];
				uint64_t w = fb_floors_pop_weight(
						S[i], ks[j], ms[l]);
				// k w^2 <= K w^2 <= S^2, in integers.
				CHECK(w == 0 || w <= S[i] * S[i] / K / w);
				CHECK((w + 1) > S[i] * S[i] / K / (w + 1));
			}
		}
	}
	CHECK(fb_floors_pop_weight(UINT64_C(1) << 31, 1, 1) ==
			UINT64_C(1) << 31);
}

// sum_b (a_b - b_b)^2 <= S^2, exactly (stops once above it).
static bool
within(const int64_t *a, const int64_t *b, size_t n, uint64_t S)
{
	uint64_t s2 = S * S, acc = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t d = (uint64_t)(a[k] > b[k] ? a[k] - b[k]
						    : b[k] - a[k]);
		if (d > S || d * d > s2 - acc) {
			return false;
		}
		acc += d * d;
	}
	return true;
}

TEST(removing_one_user_moves_the_counts_by_at_most_the_clip)
{
	struct fb_csr full;
	make_train(&full, UINT32_MAX, 3);
	int64_t a[N_BUNDLES], b[N_BUNDLES];
	const uint64_t S[] = {1000, UINT64_C(1) << 24, UINT64_C(1) << 31};
	for (size_t i = 0; i < 3; i++) {
		for (uint32_t m = 1; m <= 16; m *= 4) {
			CHECK_OK(fb_floors_pop_counts(&full, S[i], m, a));
			for (uint32_t u = 0; u < N_USERS; u++) {
				struct fb_csr nb;
				make_train(&nb, u, 3);
				CHECK_OK(fb_floors_pop_counts(&nb, S[i], m, b));
				fb_csr_finish(&nb);
				CHECK(within(a, b, N_BUNDLES, S[i]));
			}
		}
	}
	// The user with every bundle does contribute (not dropped).
	struct fb_csr nb;
	make_train(&nb, 0, 3);
	CHECK_OK(fb_floors_pop_counts(&full, 1000, 1, a));
	CHECK_OK(fb_floors_pop_counts(&nb, 1000, 1, b));
	CHECK(a[0] - b[0] == (int64_t)fb_floors_pop_weight(1000, N_BUNDLES, 1));
	CHECK(a[0] > b[0]);
	fb_csr_finish(&nb);
	CHECK_ERR(fb_floors_pop_counts(&full, 1000, 0, a), FB_EINVAL);
	fb_csr_finish(&full);
}

static struct fb_dp_config
pop_config(double eps, bool seeded, uint64_t seed)
{
	struct fb_dp_config base, c;
	fb_dp_config_defaults(&base);
	base.epsilon = eps;
	base.delta = 1e-6;
	base.seeded = seeded;
	base.seed = seed;
	fb_floors_pop_dp_config(&base, &c);
	return c;
}

// One release over a fresh ledger `name`; the counts into out.
static void
release(const char *name, const struct fb_dp_config *c,
		const struct fb_csr *train, uint32_t m, int64_t *out,
		double *eps, double *sigma, bool *priv)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	struct fb_ledger *l = NULL;
	struct fb_dp *dp = NULL;
	size_t rel = 0;
	if (fb_ledger_open(&l, path, true) != FB_OK ||
			fb_dp_open(&dp, c, l, train->n_cols, 1) != FB_OK ||
			fb_floors_pop_release(dp, train, m, 0, out) != FB_OK ||
			fb_dp_spent(dp, eps, &rel) != FB_OK || rel != 1) {
		abort();
	}
	*sigma = fb_dp_sigma_accounted(dp);
	*priv = fb_dp_is_private(dp);
	fb_dp_close(dp);
	fb_ledger_close(l);
}

TEST(the_release_is_one_ledger_entry_and_its_epsilon_the_accountants)
{
	struct fb_csr train;
	make_train(&train, UINT32_MAX, 4);
	struct fb_dp_config c = pop_config(1, false, 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/acct.ledger", dir);
	unlink(path);
	struct fb_ledger *l = NULL;
	struct fb_dp *dp = NULL;
	int64_t counts[N_BUNDLES];
	CHECK_OK(fb_ledger_open(&l, path, true));
	CHECK_OK(fb_dp_open(&dp, &c, l, N_BUNDLES, 1));
	CHECK(fb_dp_is_private(dp)); // the CSPRNG unless seeded
	CHECK_OK(fb_floors_pop_release(dp, &train, 1, 0, counts));
	struct fb_ledger_entry e;
	CHECK(fb_ledger_count(l) == 1);
	CHECK_OK(fb_ledger_entry_at(l, 0, &e));
	CHECK(e.q == 1 && e.steps == 1 && e.clip == 1 && e.dim == N_BUNDLES);
	CHECK(e.sigma == fb_dp_sigma_accounted(dp));
	double spent = 0, want = 0;
	size_t rel = 0;
	CHECK_OK(fb_dp_spent(dp, &spent, &rel));
	struct fb_acct *acct = NULL;
	struct fb_acct_grid g = {e.dim, e.noise_steps};
	CHECK_OK(fb_acct_create(&acct, FB_ACCT_PLD));
	CHECK_OK(fb_acct_add(acct, 1, e.sigma, 1));
	CHECK_OK(fb_acct_add_grid(acct, &g, 1));
	CHECK_OK(fb_acct_epsilon(acct, 1e-6, &want));
	fb_acct_destroy(acct);
	CHECK(spent == want);
	CHECK(spent <= 1 && spent > 0.99);
	// The budget holds one release: a second one is refused, unwritten.
	CHECK_ERR(fb_floors_pop_release(dp, &train, 1, 1, counts), FB_EBUDGET);
	CHECK(fb_ledger_count(l) == 1);
	fb_dp_close(dp);
	// A DP state of another shape or q is refused before the ledger.
	struct fb_dp_config c2 = c;
	c2.q = 0.5;
	c2.epsilon = 100;
	CHECK_OK(fb_dp_open(&dp, &c2, l, N_BUNDLES, 1));
	CHECK_ERR(fb_floors_pop_release(dp, &train, 1, 2, counts), FB_EINVAL);
	CHECK(fb_ledger_count(l) == 1);
	fb_dp_close(dp);
	fb_ledger_close(l);
	fb_csr_finish(&train);
}

TEST(noise_is_the_csprngs_unless_seeded)
{
	struct fb_csr train;
	make_train(&train, UINT32_MAX, 5);
	int64_t a[N_BUNDLES], b[N_BUNDLES], exact[N_BUNDLES];
	double eps, sigma;
	bool priv;
	struct fb_dp_config c = pop_config(1, false, 0);
	release("n1.ledger", &c, &train, 1, a, &eps, &sigma, &priv);
	CHECK(priv);
	release("n2.ledger", &c, &train, 1, b, &eps, &sigma, &priv);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	c = pop_config(1, true, 42);
	release("n3.ledger", &c, &train, 1, a, &eps, &sigma, &priv);
	CHECK(!priv);
	release("n4.ledger", &c, &train, 1, b, &eps, &sigma, &priv);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	// The noise is there, of about sigma * clip / grid steps.
	int32_t grid = fb_dp_grid_for(sigma, 1);
	CHECK_OK(fb_floors_pop_counts(
			&train, fb_floors_clip_steps(1, grid), 1, exact));
	double ss = 0;
	for (int k = 0; k < N_BUNDLES; k++) {
		double d = (double)(a[k] - exact[k]);
		ss += d * d;
	}
	double std = sqrt(ss / N_BUNDLES) / ldexp(sigma, -grid);
	CHECK(std > 0.6 && std < 1.5);
	fb_csr_finish(&train);
}

TEST(at_a_huge_epsilon_it_ranks_like_exact_popularity)
{
	// Bundle b is in the rows of users 0 .. b (distinct counts), and the
	// users' weights are all equal (m >= every k).
	uint32_t r[N_BUNDLES * N_BUNDLES], c[N_BUNDLES * N_BUNDLES];
	size_t n = 0;
	for (uint32_t b = 0; b < N_BUNDLES; b++) {
		for (uint32_t u = 0; u <= b; u++) {
			r[n] = u;
			c[n++] = b;
		}
	}
	struct fb_csr train;
	CHECK_OK(fb_csr_from_pairs(
			&train, N_BUNDLES, N_BUNDLES, r, c, n, false));
	int64_t noisy[N_BUNDLES], raw[N_BUNDLES];
	float s_noisy[N_BUNDLES], s_raw[N_BUNDLES];
	double eps, sigma;
	bool priv;
	struct fb_dp_config cfg = pop_config(1000, false, 0);
	release("huge.ledger", &cfg, &train, N_BUNDLES, noisy, &eps, &sigma,
			&priv);
	CHECK(eps <= 1000 && sigma < 0.05);
	for (uint32_t b = 0; b < N_BUNDLES; b++) {
		raw[b] = (int64_t)b + 1;
	}
	CHECK_OK(fb_floors_rank_scores(noisy, N_BUNDLES, s_noisy));
	CHECK_OK(fb_floors_rank_scores(raw, N_BUNDLES, s_raw));
	CHECK(memcmp(s_noisy, s_raw, sizeof(s_raw)) == 0);
	// And the most popular bundle comes first.
	uint32_t top[3];
	CHECK(fb_topk(s_noisy, N_BUNDLES, NULL, 0, 3, top) == 3);
	CHECK(top[0] == N_BUNDLES - 1 && top[2] == N_BUNDLES - 3);
	fb_csr_finish(&train);
}

TEST(rank_scores_break_ties_by_the_lower_id)
{
	int64_t counts[] = {5, 9, 5, -3, 9};
	float s[5];
	CHECK_OK(fb_floors_rank_scores(counts, 5, s));
	// Order: 1, 4, 0, 2, 3.
	CHECK(s[1] == 5 && s[4] == 4 && s[0] == 3 && s[2] == 2 && s[3] == 1);
}

// A catalogue of N_BUNDLES bundles of 5 to 14 items.
static void
make_catalogue(struct fb_csr *bi)
{
	uint32_t r[N_BUNDLES * 14], c[N_BUNDLES * 14];
	size_t n = 0;
	struct fb_rng rng;
	fb_rng_seed(&rng, 9, 2);
	for (uint32_t b = 0; b < N_BUNDLES; b++) {
		uint32_t k = 5 + fb_rng_below(&rng, 10);
		for (uint32_t j = 0; j < k; j++) {
			r[n] = b;
			c[n++] = (b * 3 + fb_rng_below(&rng, 40)) % N_ITEMS;
		}
	}
	if (fb_csr_from_pairs(bi, N_BUNDLES, N_ITEMS, r, c, n, true) != FB_OK) {
		abort();
	}
}

// Users' items: user u takes items u .. u + 5.
static void
make_ui(struct fb_csr *ui, uint32_t changed)
{
	uint32_t r[N_USERS * 6], c[N_USERS * 6];
	size_t n = 0;
	for (uint32_t u = 0; u < N_USERS; u++) {
		for (uint32_t j = 0; j < 6; j++) {
			r[n] = u;
			c[n++] = (u * (u == changed ? 7 : 1) + j) % N_ITEMS;
		}
	}
	if (fb_csr_from_pairs(ui, N_USERS, N_ITEMS, r, c, n, false) != FB_OK) {
		abort();
	}
}

TEST(a_zero_release_factor_depends_on_its_own_history_only)
{
	struct fb_csr bi, t1, t2, u1, u2;
	make_catalogue(&bi);
	make_train(&t1, UINT32_MAX, 6);
	make_train(&t2, 7, 6); // user 7's bundles removed
	make_ui(&u1, UINT32_MAX);
	make_ui(&u2, 9); // user 9's items changed
	struct fb_floors_zr_config cfg;
	fb_floors_zr_defaults(&cfg);
	cfg.dim = 8;
	struct fb_floors_public pub;
	struct fb_matrix P1 = {0}, P2 = {0};
	CHECK_OK(fb_floors_public_init(&pub, &bi, &cfg));
	CHECK_OK(fb_floors_users(&pub, &cfg, &t1, &u1, &P1));
	CHECK_OK(fb_floors_users(&pub, &cfg, &t2, &u2, &P2));
	size_t row = cfg.dim * sizeof(float);
	for (uint32_t u = 0; u < N_USERS; u++) {
		bool same = memcmp(fb_matrix_row(&P1, u), fb_matrix_row(&P2, u),
					    row) == 0;
		CHECK(same == (u != 7 && u != 9));
	}
	// The same rankings for everybody else, bit for bit.
	float s1[N_BUNDLES], s2[N_BUNDLES];
	uint32_t top1[20], top2[20];
	for (uint32_t u = 0; u < N_USERS; u++) {
		if (u == 7 || u == 9) {
			continue;
		}
		for (uint32_t b = 0; b < N_BUNDLES; b++) {
			const float *q = fb_matrix_row(&pub.bundles, b);
			s1[b] = s2[b] = 0;
			for (uint32_t j = 0; j < cfg.dim; j++) {
				s1[b] += fb_matrix_row(&P1, u)[j] * q[j];
				s2[b] += fb_matrix_row(&P2, u)[j] * q[j];
			}
		}
		CHECK(fb_topk(s1, N_BUNDLES, NULL, 0, 20, top1) == 20);
		CHECK(fb_topk(s2, N_BUNDLES, NULL, 0, 20, top2) == 20);
		CHECK(memcmp(top1, top2, sizeof(top1)) == 0);
	}
	// One user alone gives the same factor as in the whole set.
	float p[8];
	struct fb_floors_history h = {fb_csr_row(&t1, 3),
			fb_csr_row_len(&t1, 3), fb_csr_row(&u1, 3),
			fb_csr_row_len(&u1, 3)};
	CHECK_OK(fb_floors_user_solve(&pub, &cfg, &h, p));
	CHECK(memcmp(p, fb_matrix_row(&P1, 3), sizeof(p)) == 0);
	// Ids out of range are refused.
	uint32_t bad = N_BUNDLES;
	struct fb_floors_history hb = {&bad, 1, NULL, 0};
	CHECK_ERR(fb_floors_user_solve(&pub, &cfg, &hb, p), FB_EINVAL);
	fb_matrix_finish(&P1);
	fb_matrix_finish(&P2);
	fb_floors_public_finish(&pub);
	fb_csr_finish(&bi);
	fb_csr_finish(&t1);
	fb_csr_finish(&t2);
	fb_csr_finish(&u1);
	fb_csr_finish(&u2);
}

#define FIX_D 8

// Random fixed representations: N_BUNDLES x FIX_D and N_ITEMS x FIX_D.
static void
make_fixed(struct fb_matrix *B, struct fb_matrix *I)
{
	struct fb_rng rng;
	fb_rng_seed(&rng, 17, 3);
	if (fb_matrix_init(B, N_BUNDLES, FIX_D) != FB_OK ||
			fb_matrix_init(I, N_ITEMS, FIX_D) != FB_OK) {
		abort();
	}
	fb_matrix_randn(B, &rng, 0.5f);
	fb_matrix_randn(I, &rng, 0.5f);
}

// The gradient of the solve's objective (floors.h) at p, coordinate i,
// for user u of train and ui, in double.
static double
objective_grad(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg, const struct fb_csr *t,
		const struct fb_csr *ui, uint32_t u, const float *p, size_t i)
{
	size_t d = pub->dim;
	double g = cfg->lambda * p[i];
	for (uint32_t b = 0; b < pub->bundles.rows; b++) {
		bool pos = false;
		for (uint32_t k = 0; k < fb_csr_row_len(t, u); k++) {
			pos = pos || fb_csr_row(t, u)[k] == b;
		}
		const float *q = fb_matrix_row(&pub->bundles, b);
		double s = 0;
		for (size_t j = 0; j < d; j++) {
			s += (double)p[j] * q[j];
		}
		g += (pos ? 1 + cfg->alpha : 1) * (s - (pos ? 1 : 0)) * q[i];
	}
	double c = cfg->item_weight * (1 + cfg->alpha);
	for (uint32_t k = 0; k < fb_csr_row_len(ui, u); k++) {
		const float *v = fb_matrix_row(
				&pub->items, fb_csr_row(ui, u)[k]);
		double nn = 0, s = 0;
		for (size_t j = 0; j < d; j++) {
			nn += (double)v[j] * v[j];
			s += (double)p[j] * v[j];
		}
		double sc = pub->scale / sqrt(nn);
		g += c * (sc * s - 1) * sc * v[i];
	}
	return g;
}

TEST(a_solve_against_given_reps_is_the_least_squares_optimum)
{
	struct fb_matrix B = {0}, I = {0};
	make_fixed(&B, &I);
	struct fb_csr t, ui;
	make_train(&t, UINT32_MAX, 6);
	make_ui(&ui, UINT32_MAX);
	struct fb_floors_zr_config cfg;
	fb_floors_zr_defaults(&cfg);
	float p[FIX_D], p_free[FIX_D];
	for (int bias = 0; bias < 2; bias++) {
		struct fb_floors_public pub;
		CHECK_OK(fb_floors_fixed_init(&pub, &B, &I, bias));
		CHECK(pub.dim == FIX_D && pub.bias == bias);
		CHECK_NEAR(pub.scale, sqrt(fb_matrix_sqnorm(&B) / N_BUNDLES),
				1e-9);
		double g01 = 0;
		for (uint32_t b = 0; b < N_BUNDLES; b++) {
			g01 += (double)fb_matrix_row(&B, b)[0] *
					fb_matrix_row(&B, b)[1];
		}
		CHECK_NEAR(pub.gram[1], g01, 1e-9);
		for (uint32_t u = 1; u < 6; u++) {
			struct fb_floors_history h = {fb_csr_row(&t, u),
					fb_csr_row_len(&t, u),
					fb_csr_row(&ui, u),
					fb_csr_row_len(&ui, u)};
			CHECK_OK(fb_floors_user_solve(&pub, &cfg, &h, p));
			// Zero gradient in every solved coordinate; the
			// bias coordinate is held at 1.
			size_t n = bias ? FIX_D - 1 : FIX_D;
			for (size_t i = 0; i < n; i++) {
				double g = objective_grad(
						&pub, &cfg, &t, &ui, u, p, i);
				CHECK(fabs(g) < 1e-3);
			}
			if (bias) {
				CHECK(p[FIX_D - 1] == 1.0f);
				CHECK(memcmp(p, p_free, sizeof(p)) != 0);
			} else if (u == 5) {
				memcpy(p_free, p, sizeof(p));
			}
		}
		// An empty history: zero, with the bias at 1.
		struct fb_floors_history none = {NULL, 0, NULL, 0};
		CHECK_OK(fb_floors_user_solve(&pub, &cfg, &none, p));
		for (size_t i = 0; i < FIX_D; i++) {
			CHECK(p[i] == (bias && i == FIX_D - 1 ? 1.0f : 0.0f));
		}
		fb_floors_public_finish(&pub);
	}
	// Widths that do not agree are refused.
	struct fb_matrix narrow = {0};
	CHECK_OK(fb_matrix_init(&narrow, N_ITEMS, FIX_D - 1));
	struct fb_floors_public bad;
	CHECK_ERR(fb_floors_fixed_init(&bad, &B, &narrow, false), FB_EINVAL);
	fb_matrix_finish(&narrow);
	fb_matrix_finish(&B);
	fb_matrix_finish(&I);
	fb_csr_finish(&t);
	fb_csr_finish(&ui);
}

TEST(a_models_solved_users_are_scored_with_their_solved_reps)
{
	struct fb_reps reps = {0};
	make_fixed(&reps.bundle, &reps.item);
	reps.opts = (struct fb_rep_opts){.item_view = true,
			.user_item_view = true,
			.bias = true};
	struct fb_csr t, ui;
	make_train(&t, UINT32_MAX, 6);
	make_ui(&ui, UINT32_MAX);
	struct fb_floors_zr_config cfg;
	fb_floors_zr_defaults(&cfg);
	struct fb_floors_public pub;
	struct fb_matrix P = {0}, R = {0};
	CHECK_OK(fb_floors_fixed_init(&pub, &reps.bundle, &reps.item, true));
	CHECK_OK(fb_floors_model_users(&pub, &cfg, &reps, &t, &ui, &P));
	CHECK(P.rows == N_USERS && P.cols == FIX_D);
	CHECK_OK(fb_matrix_init(&R, N_USERS, FIX_D));
	fb_user_reps_compute(&R, &P, &ui, &reps);
	for (uint32_t u = 0; u < N_USERS; u++) {
		float r[FIX_D];
		struct fb_floors_history h = {fb_csr_row(&t, u),
				fb_csr_row_len(&t, u), fb_csr_row(&ui, u),
				fb_csr_row_len(&ui, u)};
		CHECK_OK(fb_floors_user_solve(&pub, &cfg, &h, r));
		double diff = 0, norm = 0;
		for (size_t j = 0; j < FIX_D; j++) {
			diff = fmax(diff, fabs(fb_matrix_row(&R, u)[j] - r[j]));
			norm = fmax(norm, fabs(r[j]));
		}
		CHECK(diff <= 1e-5 * (1 + norm));
		// P is not the user representation itself: the model adds
		// the mean of the user's items to it, bias coordinate aside.
		CHECK(fb_matrix_row(&P, u)[FIX_D - 1] == 1.0f);
		CHECK(fabs(fb_matrix_row(&P, u)[0] - r[0]) > 0);
	}
	fb_matrix_finish(&P);
	fb_matrix_finish(&R);
	fb_floors_public_finish(&pub);
	fb_reps_finish(&reps);
	fb_csr_finish(&t);
	fb_csr_finish(&ui);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-floors-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return 99;
	}
	RUN(weights_meet_the_bound_and_are_the_largest_that_do);
	RUN(removing_one_user_moves_the_counts_by_at_most_the_clip);
	RUN(the_release_is_one_ledger_entry_and_its_epsilon_the_accountants);
	RUN(noise_is_the_csprngs_unless_seeded);
	RUN(at_a_huge_epsilon_it_ranks_like_exact_popularity);
	RUN(rank_scores_break_ties_by_the_lower_id);
	RUN(a_zero_release_factor_depends_on_its_own_history_only);
	RUN(a_solve_against_given_reps_is_the_least_squares_optimum);
	RUN(a_models_solved_users_are_scored_with_their_solved_reps);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? rc : 99;
}
