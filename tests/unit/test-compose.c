// tests/unit/test-compose.c: bundle completion and composition
// (common/model/compat.c, compose.c, completion.c) on hand-made catalogues:
// a planted compatible item ranks first, composition returns distinct
// bundles of distinct allowed items, the evaluation hides and scores as
// computed by hand, and the evaluated bundle does not leak into the
// catalogue statistics, also when composing.
#include "harness.h"

#include "fedbundle/model/compat.h"
#include "fedbundle/model/completion.h"
#include "fedbundle/model/compose.h"

// A toy catalogue: bundles[k] lists items (terminated by UINT32_MAX).
struct toy {
	struct fb_csr bi;
	struct fb_compat compat;
	struct fb_matrix reps;
	struct fb_scorer scorer;
};

static void
toy_init(struct toy *t, uint32_t n_items, const uint32_t *rows,
		const uint32_t *cols, size_t n, uint32_t n_bundles, float w)
{
	memset(t, 0, sizeof(*t));
	CHECK_OK(fb_csr_from_pairs(
			&t->bi, n_bundles, n_items, rows, cols, n, false));
	CHECK_OK(fb_compat_init(&t->compat, &t->bi));
	CHECK_OK(fb_matrix_init(&t->reps, n_items, 2));
	for (uint32_t j = 0; j < n_items; j++) {
		// The user (1, 0) mildly prefers higher ids.
		fb_matrix_row(&t->reps, j)[0] = 0.01f * (float)j;
	}
	CHECK_OK(fb_scorer_init(&t->scorer, &t->compat, &t->reps, w));
	float user[2] = {1, 0};
	fb_scorer_set_user(&t->scorer, user);
}

static void
toy_finish(struct toy *t)
{
	fb_scorer_finish(&t->scorer);
	fb_compat_finish(&t->compat);
	fb_matrix_finish(&t->reps);
	fb_csr_finish(&t->bi);
}

TEST(test_complete_planted)
{
	// b0 {0,1,2}, b1 {0,1,3}, b2 {4,5}, b3 {6,7}: item 1 is 0's partner.
	static const uint32_t r[] = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3};
	static const uint32_t c[] = {0, 1, 2, 0, 1, 3, 4, 5, 6, 7};
	struct toy t;
	toy_init(&t, 8, r, c, 10, 4, 10.0f);
	uint32_t given[] = {0}, top[4], got;
	float scores[4];
	CHECK_OK(fb_complete(&t.scorer, given, 1, 4, top, scores, &got));
	CHECK(got == 4);
	CHECK(top[0] == 1);
	CHECK(scores[0] > scores[1]);
	for (uint32_t k = 0; k < got; k++) {
		CHECK(top[k] != 0);
	}
	// The user term alone prefers item 7.
	t.scorer.weight = 0;
	CHECK_OK(fb_complete(&t.scorer, given, 1, 1, top, scores, &got));
	CHECK(top[0] == 7);
	uint32_t bad[] = {8};
	CHECK_ERR(fb_complete(&t.scorer, bad, 1, 1, top, scores, &got),
			FB_EINVAL);
	uint32_t twice[] = {2, 2};
	CHECK_ERR(fb_complete(&t.scorer, twice, 2, 1, top, scores, &got),
			FB_EINVAL);
	toy_finish(&t);
}

TEST(test_compose_distinct_allowed)
{
	static const uint32_t r[] = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3};
	static const uint32_t c[] = {0, 1, 2, 0, 1, 3, 4, 5, 6, 7};
	struct toy t;
	toy_init(&t, 8, r, c, 10, 4, 4.0f);
	uint8_t allowed[8] = {1, 1, 1, 1, 1, 1, 0, 0};
	struct fb_compose_opts o = {.size = 2,
			.count = 4,
			.beam = 3,
			.reuse_penalty = 1,
			.allowed = allowed};
	uint32_t items[8];
	float totals[4];
	uint32_t got;
	CHECK_OK(fb_compose(&t.scorer, &o, items, totals, &got));
	CHECK(got == 4);
	for (uint32_t a = 0; a < got; a++) {
		uint32_t x = items[2 * a], y = items[2 * a + 1];
		CHECK(x != y && allowed[x] && allowed[y]);
		for (uint32_t b = 0; b < a; b++) {
			uint32_t p = items[2 * b], q = items[2 * b + 1];
			CHECK(!((x == p && y == q) || (x == q && y == p)));
		}
	}
	// First bundle: the best item by the user term (5), then its partner.
	CHECK(items[0] == 5 && items[1] == 4);
	o.size = 7;
	CHECK_ERR(fb_compose(&t.scorer, &o, items, totals, &got), FB_EINVAL);
	toy_finish(&t);
}

// A price cap: every bundle's price is within it, items without a price
// are left out, the beam does not keep a partial bundle the rest cannot
// fill, and a cap below the cheapest bundle is refused naming it.
TEST(test_compose_price_cap)
{
	static const uint32_t r[] = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3};
	static const uint32_t c[] = {0, 1, 2, 0, 1, 3, 4, 5, 6, 7};
	struct toy t;
	toy_init(&t, 8, r, c, 10, 4, 0.0f);
	// The user prefers 7, 6, 5, ...; 7 has no price, 6 is dear.
	double price[8] = {1, 1, 2, 2, 3, 4, 9, NAN};
	struct fb_compose_opts o = {.size = 2,
			.count = 3,
			.beam = 4,
			.reuse_penalty = 0.5f,
			.price = price,
			.max_price = 6};
	uint32_t items[6];
	float totals[3];
	uint32_t got;
	CHECK_OK(fb_compose(&t.scorer, &o, items, totals, &got));
	CHECK(got == 3);
	for (uint32_t a = 0; a < got; a++) {
		uint32_t x = items[2 * a], y = items[2 * a + 1];
		CHECK(x != 7 && y != 7 && x != 6 && y != 6);
		CHECK(price[x] + price[y] <= 6);
	}
	// With beam 1 the best first item (5, price 4) leaves room for 2:
	// then the best item that fits (3, price 2), not 4 (price 3).
	o.beam = 1;
	o.count = 1;
	CHECK_OK(fb_compose(&t.scorer, &o, items, totals, &got));
	CHECK(got == 1 && items[0] == 5 && items[1] == 3);
	// Three items at most 5: the first pick must leave room for two
	// of the cheapest (1 + 1): 4 (price 3), then 1 and 0.
	o.size = 3;
	o.max_price = 5;
	CHECK_OK(fb_compose(&t.scorer, &o, items, totals, &got));
	CHECK(got == 1 && items[0] == 4 && items[1] == 1 && items[2] == 0);
	CHECK(price[items[0]] + price[items[1]] + price[items[2]] <= 5);
	o.max_price = 3;
	CHECK_ERR(fb_compose(&t.scorer, &o, items, totals, &got), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"no bundle of 3 items fits under the price cap 3");
	o.price = NULL;
	CHECK_ERR(fb_compose(&t.scorer, &o, items, totals, &got), FB_EINVAL);
	toy_finish(&t);
}

TEST(test_split)
{
	uint32_t b[] = {3, 9, 11, 20, 42}, g[5], h[5], ng, nh;
	fb_completion_split(b, 5, 7, 1, 2, g, &ng, h, &nh);
	CHECK(nh == 2 && ng == 3);
	uint32_t g2[5], h2[5], ng2, nh2;
	fb_completion_split(b, 5, 7, 1, 2, g2, &ng2, h2, &nh2);
	CHECK(memcmp(g, g2, sizeof(g[0]) * 3) == 0);
	CHECK(memcmp(h, h2, sizeof(h[0]) * 2) == 0);
	uint32_t seen = 0;
	for (uint32_t k = 0; k < 3; k++) {
		CHECK(k == 0 || g[k] > g[k - 1]);
		for (uint32_t m = 0; m < 2; m++) {
			CHECK(g[k] != h[m]);
		}
	}
	for (uint32_t k = 0; k < 5; k++) {
		for (uint32_t m = 0; m < 5; m++) {
			seen += (k < 3 ? g[k] : h[k - 3]) == b[m];
		}
	}
	CHECK(seen == 5);
	uint32_t two[] = {4, 8};
	fb_completion_split(two, 2, 7, 1, 2, g, &ng, h, &nh);
	CHECK(nh == 1 && ng == 1);
}

// One user whose test bundle is b0; returns Recall@1, @2, NDCG@1.
static void
eval_one(struct toy *t, bool hold_out, struct fb_metrics *m)
{
	uint32_t ur[] = {0}, uc[] = {0}, n;
	struct fb_csr ub;
	CHECK_OK(fb_csr_from_pairs(&ub, 1, t->bi.n_rows, ur, uc, 1, false));
	static const uint32_t ks[] = {1, 2};
	CHECK_OK(fb_metrics_init(m, ks, 2));
	struct fb_completion_opts o = {.method = FB_COMPLETE_COOCCUR,
			.seed = 3,
			.hold_out = hold_out};
	CHECK_OK(fb_completion_eval(&t->scorer, &t->bi, &ub, NULL, &o, m, &n));
	fb_csr_finish(&ub);
	CHECK(n == 1);
}

TEST(test_eval_by_hand)
{
	// b0 {0,1,2,3} evaluated; b1 the same items; b2 {4,5}, b3 {4,6}.
	// Given two of 0..3, the hidden two each co-occur twice (in b1), all
	// else never: they rank 1 and 2. Recall@1 = 1/2, @2 = 1, NDCG@1 = 1.
	static const uint32_t r[] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3};
	static const uint32_t c[] = {0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 4, 6};
	struct toy t;
	toy_init(&t, 7, r, c, 12, 4, 1.0f);
	struct fb_metrics m;
	eval_one(&t, true, &m);
	CHECK_NEAR(m.recall[0], 0.5, 1e-9);
	CHECK_NEAR(m.recall[1], 1.0, 1e-9);
	CHECK_NEAR(m.ndcg[0], 1.0, 1e-9);
	toy_finish(&t);
}

TEST(test_held_out_does_not_leak)
{
	// b0 {0,1} is evaluated and the only bundle pairing 0 and 1; the
	// other items are more popular. Left in, co-occurrence finds the
	// hidden item first; held out, it must not.
	static const uint32_t r[] = {0, 0, 1, 1, 2, 2, 3, 3};
	static const uint32_t c[] = {0, 1, 2, 3, 2, 4, 3, 4};
	struct toy t;
	toy_init(&t, 5, r, c, 8, 4, 1.0f);
	struct fb_metrics m;
	eval_one(&t, true, &m);
	CHECK_NEAR(m.recall[1], 0.0, 1e-9);
	eval_one(&t, false, &m);
	CHECK_NEAR(m.recall[0], 1.0, 1e-9);
	// The statistic itself: without b0, 0 and 1 never co-occur.
	float out[5];
	uint32_t given[] = {0};
	fb_compat_scores(&t.compat, FB_COMPAT_COUNT, given, 1, 0, out);
	CHECK(out[1] == 0.0f);
	CHECK(fb_compat_degree(&t.compat, 1, 0) == 0);
	toy_finish(&t);
}

TEST(test_composition_overlap_by_hand)
{
	// Target {1,2,3,4}; composed {1,2,9} and {3,9,8}: distinct composed
	// {1,2,3,8,9}, 3 of them in the target: precision 3/5, recall 3/4;
	// Jaccard 2/5 and 1/6, the best 2/5.
	uint32_t items[] = {1, 2, 9, 3, 9, 8}, target[] = {1, 2, 3, 4};
	struct fb_composition_metrics m;
	fb_composition_overlap(items, 2, 3, target, 4, &m);
	CHECK_NEAR(m.precision, 0.6, 1e-12);
	CHECK_NEAR(m.recall, 0.75, 1e-12);
	CHECK_NEAR(m.jaccard, 0.4, 1e-12);
	fb_composition_overlap(items, 0, 3, target, 4, &m);
	CHECK(m.precision == 0 && m.recall == 0 && m.jaccard == 0);
}

TEST(test_composition_eval_held_out)
{
	// b0 {0,4} is the user's test bundle, b1 {3,4}, b2 {1,3}. The user
	// prefers higher ids: the first item is 4. Held out, 4's only partner
	// is 3 (cosine 1/sqrt(2)); left in, 0 (1/sqrt(2)) would beat 3 (1/2).
	// Composed {4,3} against {0,4}: precision 1/2, recall 1/2, Jaccard 1/3.
	static const uint32_t r[] = {0, 0, 1, 1, 2, 2};
	static const uint32_t c[] = {0, 4, 3, 4, 1, 3};
	struct toy t;
	toy_init(&t, 5, r, c, 6, 3, 20.0f);
	uint32_t ur[] = {0}, uc[] = {0}, n;
	struct fb_csr ub;
	CHECK_OK(fb_csr_from_pairs(&ub, 1, 3, ur, uc, 1, false));
	struct fb_matrix users;
	CHECK_OK(fb_matrix_init(&users, 1, 2));
	fb_matrix_row(&users, 0)[0] = 1;
	struct fb_compose_opts o = {.size = 2, .count = 1, .beam = 2};
	struct fb_composition_metrics m;
	CHECK_OK(fb_composition_eval(
			&t.scorer, &t.bi, &ub, &users, &o, 0, &m, &n));
	CHECK(n == 1);
	CHECK_NEAR(m.precision, 0.5, 1e-12);
	CHECK_NEAR(m.recall, 0.5, 1e-12);
	CHECK_NEAR(m.jaccard, 1.0 / 3.0, 1e-12);
	// The same composition without holding b0 out finds b0 itself.
	uint32_t items[2], got;
	float totals[1];
	CHECK_OK(fb_compose(&t.scorer, &o, items, totals, &got));
	CHECK(got == 1 && items[0] == 4 && items[1] == 0);
	fb_matrix_finish(&users);
	fb_csr_finish(&ub);
	toy_finish(&t);
}

int
main(void)
{
	RUN(test_complete_planted);
	RUN(test_compose_distinct_allowed);
	RUN(test_compose_price_cap);
	RUN(test_split);
	RUN(test_eval_by_hand);
	RUN(test_held_out_does_not_leak);
	RUN(test_composition_overlap_by_hand);
	RUN(test_composition_eval_held_out);
	return harness_done();
}
