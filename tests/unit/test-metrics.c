// tests/unit/test-metrics.c: top-K selection and the ranking metrics on
// hand-computed cases: ties, masked candidates, users with more positives
// than K, NaN scores, and the all-ranking evaluator against them.
#include <math.h>

#include "fedbundle/model/eval.h"
#include "fedbundle/model/metrics.h"
#include "harness.h"

static const double L3 = 0.63092975357145743710; // 1 / log2(3)
static const double L6 = 0.38685280723454158687; // 1 / log2(6)

TEST(topk_orders_by_score_then_id_and_masks)
{
	const float s[6] = {0.9f, 0.5f, 0.9f, 0.1f, 0.7f, 0.3f};
	const uint32_t ex[1] = {4};
	uint32_t top[6];
	uint32_t n = fb_topk(s, 6, ex, 1, 6, top);
	CHECK(n == 5);
	const uint32_t want[5] = {0, 2, 1, 5, 3};
	for (int k = 0; k < 5; k++) {
		CHECK(top[k] == want[k]);
	}
	n = fb_topk(s, 6, ex, 1, 2, top);
	CHECK(n == 2 && top[0] == 0 && top[1] == 2);
}

TEST(topk_all_ties_rank_by_id)
{
	float s[50];
	for (int k = 0; k < 50; k++) {
		s[k] = 1.0f;
	}
	const uint32_t ex[3] = {0, 7, 49};
	uint32_t top[10];
	CHECK(fb_topk(s, 50, ex, 3, 10, top) == 10);
	const uint32_t want[10] = {1, 2, 3, 4, 5, 6, 8, 9, 10, 11};
	for (int k = 0; k < 10; k++) {
		CHECK(top[k] == want[k]);
	}
}

TEST(topk_nan_ranks_last)
{
	const float s[4] = {NAN, 0.1f, NAN, -5.0f};
	uint32_t top[4];
	CHECK(fb_topk(s, 4, NULL, 0, 4, top) == 4);
	CHECK(top[0] == 1 && top[1] == 3 && top[2] == 0 && top[3] == 2);
}

TEST(topk_matches_full_sort_on_random_scores)
{
	float s[1000];
	uint32_t seed = 12345;
	for (int k = 0; k < 1000; k++) {
		seed = seed * 1103515245u + 12345u;
		s[k] = (float)((seed >> 8) % 97); // many ties
	}
	uint32_t top[40];
	CHECK(fb_topk(s, 1000, NULL, 0, 40, top) == 40);
	for (int k = 1; k < 40; k++) {
		CHECK(s[top[k - 1]] > s[top[k]] ||
				(s[top[k - 1]] == s[top[k]] &&
						top[k - 1] < top[k]));
	}
	// Nothing outside the list beats its last element.
	for (uint32_t c = 0; c < 1000; c++) {
		int in = 0;
		for (int k = 0; k < 40; k++) {
			in |= top[k] == c;
		}
		if (!in) {
			CHECK(s[c] < s[top[39]] ||
					(s[c] == s[top[39]] && c > top[39]));
		}
	}
}

// Reference ranking by full sort.
static const float *ref_scores;

static int
ref_order(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	float sa = isnan(ref_scores[a]) ? -INFINITY : ref_scores[a];
	float sb = isnan(ref_scores[b]) ? -INFINITY : ref_scores[b];
	if (sa != sb) {
		return sa > sb ? -1 : 1;
	}
	return a < b ? -1 : a > b;
}

// Long rows take the sampled-threshold path; it must agree exactly with a
// full sort, including ties, NaN, signed zeros, infinities and masked
// candidates among the best.
TEST(topk_long_rows_match_full_sort)
{
	enum { N = 5000 };
	static float s[N];
	static uint32_t all[N];
	uint32_t seed = 99;
	for (int trial = 0; trial < 40; trial++) {
		for (uint32_t k = 0; k < N; k++) {
			seed = seed * 1103515245u + 12345u;
			uint32_t v = seed >> 8;
			// Mixes: heavy ties, a few NaN, skewed scores.
			s[k] = trial % 4 == 0 ? (float)(v % 50)
					: trial % 4 == 1
					? (float)(v % 100000) * 1e-3f
					: trial % 4 == 2
					? (float)((v % 1000) * (v % 7 == 0))
					// Negative scores, signed zeros and
					// infinities, which must tie or order
					// as float comparison does.
					: v % 5 == 0 ? (v % 2 ? -0.0f : 0.0f)
					: v % 211 == 0
					? (v % 2 ? INFINITY : -INFINITY)
					: -(float)(v % 3000) * 1e-2f;
			if (v % 997 == 0) {
				s[k] = NAN;
			}
		}
		// Mask some of the best candidates and some random ones.
		uint32_t ex[64], n_ex = 0;
		for (uint32_t k = 0; k < N && n_ex < 64; k += 79 + trial) {
			ex[n_ex++] = k;
		}
		uint32_t n_all = 0, e = 0;
		for (uint32_t k = 0; k < N; k++) {
			if (e < n_ex && ex[e] == k) {
				e++;
				continue;
			}
			all[n_all++] = k;
		}
		ref_scores = s;
		qsort(all, n_all, sizeof(uint32_t), ref_order);
		uint32_t kk = (trial / 4) % 2 == 0 ? 40 : 20;
		uint32_t top[40];
		CHECK(fb_topk(s, N, ex, n_ex, kk, top) == kk);
		for (uint32_t k = 0; k < kk; k++) {
			CHECK(top[k] == all[k]);
		}
	}
}

TEST(metrics_hand_computed)
{
	const uint32_t top[5] = {0, 2, 1, 5, 3};
	const uint32_t pos[2] = {2, 3};
	const uint32_t ks[3] = {2, 3, 5};
	struct fb_metrics m;
	CHECK_OK(fb_metrics_init(&m, ks, 3));
	fb_metrics_user(&m, top, 5, pos, 2);
	// K = 2: one hit at rank 2.
	CHECK_NEAR(m.recall[0], 0.5, 1e-12);
	CHECK_NEAR(m.precision[0], 0.5, 1e-12);
	CHECK_NEAR(m.ndcg[0], L3 / (1 + L3), 1e-12);
	CHECK_NEAR(m.f1[0], 0.5, 1e-12);
	CHECK_NEAR(m.hit_rate[0], 1, 0);
	// K = 3: still one hit.
	CHECK_NEAR(m.recall[1], 0.5, 1e-12);
	CHECK_NEAR(m.precision[1], 1.0 / 3, 1e-12);
	CHECK_NEAR(m.ndcg[1], L3 / (1 + L3), 1e-12);
	CHECK_NEAR(m.f1[1], 0.4, 1e-12);
	// K = 5: hits at ranks 2 and 5.
	CHECK_NEAR(m.recall[2], 1.0, 1e-12);
	CHECK_NEAR(m.precision[2], 0.4, 1e-12);
	CHECK_NEAR(m.ndcg[2], (L3 + L6) / (1 + L3), 1e-12);
	CHECK_NEAR(m.f1[2], 2 * 0.4 / 1.4, 1e-12);
}

TEST(metrics_more_positives_than_k)
{
	const uint32_t top[3] = {0, 2, 7};
	const uint32_t pos[5] = {0, 1, 2, 3, 5};
	const uint32_t ks[1] = {2};
	struct fb_metrics m;
	CHECK_OK(fb_metrics_init(&m, ks, 1));
	fb_metrics_user(&m, top, 3, pos, 5);
	CHECK_NEAR(m.recall[0], 0.4, 1e-12); // no min(K, .) cap
	CHECK_NEAR(m.ndcg[0], 1.0, 1e-12);   // IDCG over min(5, 2) hits
	CHECK_NEAR(m.precision[0], 1.0, 1e-12);
}

TEST(metrics_no_hit_and_short_list)
{
	const uint32_t top[2] = {4, 5};
	const uint32_t pos[1] = {1};
	const uint32_t ks[1] = {20};
	struct fb_metrics m;
	CHECK_OK(fb_metrics_init(&m, ks, 1));
	fb_metrics_user(&m, top, 2, pos, 1);
	CHECK(m.recall[0] == 0 && m.ndcg[0] == 0 && m.f1[0] == 0 &&
			m.hit_rate[0] == 0);
}

TEST(metrics_init_validates)
{
	struct fb_metrics m;
	const uint32_t zero[1] = {0};
	const uint32_t big[1] = {FB_METRICS_MAX_CUTOFF + 1};
	const uint32_t ok[1] = {10};
	CHECK_ERR(fb_metrics_init(&m, zero, 1), FB_EINVAL);
	CHECK_ERR(fb_metrics_init(&m, big, 1), FB_EINVAL);
	CHECK_ERR(fb_metrics_init(&m, ok, 0), FB_EINVAL);
	CHECK_ERR(fb_metrics_init(&m, ok, FB_METRICS_MAX_K + 1), FB_EINVAL);
}

// A 3-user x 6-bundle case evaluated through the blocked sgemm path.
TEST(eval_ranking_matches_hand_computation)
{
	// Users and bundles in d = 2 so that scores are easy to read:
	// user 0 = (1, 0) scores bundle b as its first coordinate.
	float ud[] = {1, 0, 0, 1, 1, 1};
	float bd[] = {6, 0, 5, 1, 4, 2, 3, 3, 2, 4, 1, 5};
	struct fb_matrix users = {3, 2, ud}, bundles = {6, 2, bd};
	// Train mask: user 0 has bundle 0; truth: user 0 -> {1, 5};
	// user 1 -> {} (dropped); user 2 -> {3}.
	uint32_t tr_r[] = {0}, tr_c[] = {0};
	uint32_t te_r[] = {0, 0, 2}, te_c[] = {1, 5, 3};
	struct fb_csr train, test;
	CHECK_OK(fb_csr_from_pairs(&train, 3, 6, tr_r, tr_c, 1, false));
	CHECK_OK(fb_csr_from_pairs(&test, 3, 6, te_r, te_c, 3, false));
	const uint32_t ks[1] = {2};
	struct fb_eval_result r1, r3;
	CHECK_OK(fb_eval_ranking(
			&users, &bundles, &train, &test, ks, 1, 1, &r1));
	CHECK_OK(fb_eval_ranking(
			&users, &bundles, &train, &test, ks, 1, 3, &r3));
	CHECK(r1.n_users == 2);
	// User 0: scores 6,5,4,3,2,1, bundle 0 masked: top-2 = {1, 2}: one
	// hit (bundle 1, rank 1) of 2 positives: recall 0.5, NDCG 1/(1+L3).
	// User 2: all scores 6 (ties): top-2 = {0, 1}: no hit.
	CHECK_NEAR(r1.mean.recall[0], (0.5 + 0) / 2, 1e-9);
	CHECK_NEAR(r1.mean.ndcg[0], (1 / (1 + L3)) / 2, 1e-6);
	CHECK_NEAR(r1.sum.recall[0], 0.5, 1e-9);
	CHECK(memcmp(&r1.mean, &r3.mean, sizeof(r1.mean)) == 0);
	fb_csr_finish(&train);
	fb_csr_finish(&test);
}

TEST(eval_popularity_baseline)
{
	// Bundle popularity in train: b2 (3 users) > b0 (2) > b1 = b3 (1).
	uint32_t tr_r[] = {0, 1, 2, 1, 2, 3, 3}, tr_c[] = {2, 2, 2, 0, 0, 1, 3};
	uint32_t te_r[] = {0, 3}, te_c[] = {0, 0};
	struct fb_csr train, test;
	CHECK_OK(fb_csr_from_pairs(&train, 4, 4, tr_r, tr_c, 7, false));
	CHECK_OK(fb_csr_from_pairs(&test, 4, 4, te_r, te_c, 2, false));
	const uint32_t ks[1] = {1};
	struct fb_eval_result r;
	CHECK_OK(fb_eval_popularity(&train, &test, ks, 1, &r));
	// User 0 (trained on b2): ranking b0, b1, b3 -> hit at 1.
	// User 3 (trained on b1, b3): ranking b2, b0 -> miss at 1.
	CHECK(r.n_users == 2);
	CHECK_NEAR(r.mean.recall[0], 0.5, 1e-12);
	CHECK_NEAR(r.mean.hit_rate[0], 0.5, 1e-12);
	fb_csr_finish(&train);
	fb_csr_finish(&test);
}

int
main(void)
{
	RUN(topk_orders_by_score_then_id_and_masks);
	RUN(topk_all_ties_rank_by_id);
	RUN(topk_nan_ranks_last);
	RUN(topk_matches_full_sort_on_random_scores);
	RUN(topk_long_rows_match_full_sort);
	RUN(metrics_hand_computed);
	RUN(metrics_more_positives_than_k);
	RUN(metrics_no_hit_and_short_list);
	RUN(metrics_init_validates);
	RUN(eval_ranking_matches_hand_computation);
	RUN(eval_popularity_baseline);
	return harness_done();
}
