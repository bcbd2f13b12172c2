// tests/unit/test-pretrain.c: public item factors from the catalogue:
// items that share bundles end up close, items of different communities
// apart, the scale is the one asked for, and items in no bundle still get
// factors.
#include <math.h>
#include <stdlib.h>

#include "fedbundle/model/pretrain.h"
#include "harness.h"

static double
cosine(const float *a, const float *b, size_t d)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t k = 0; k < d; k++) {
		ab += (double)a[k] * b[k];
		aa += (double)a[k] * a[k];
		bb += (double)b[k] * b[k];
	}
	return ab / sqrt(aa * bb + 1e-30);
}

TEST(communities_are_recovered)
{
	// 40 items: 0-17 community A, 18-35 community B, 36-39 in no bundle.
	// 30 bundles of 5 items each, each within one community.
	enum { ITEMS = 40, BUNDLES = 30, SIZE = 5 };
	uint32_t r[BUNDLES * SIZE], c[BUNDLES * SIZE];
	struct fb_rng rng;
	fb_rng_seed(&rng, 4, 0);
	size_t n = 0;
	for (uint32_t b = 0; b < BUNDLES; b++) {
		uint32_t base = b % 2 == 0 ? 0 : 18;
		uint32_t pick[18];
		for (uint32_t k = 0; k < 18; k++) {
			pick[k] = base + k;
		}
		fb_rng_shuffle_u32(&rng, pick, 18);
		for (uint32_t k = 0; k < SIZE; k++) {
			r[n] = b;
			c[n++] = pick[k];
		}
	}
	struct fb_csr bi;
	CHECK_OK(fb_csr_from_pairs(&bi, BUNDLES, ITEMS, r, c, n, false));
	struct fb_matrix V;
	CHECK_OK(fb_matrix_init(&V, ITEMS, 4));
	CHECK_OK(fb_pretrain_items(&V, &bi, 30, 0.5f, &rng));
	double within = 0, across = 0;
	int nw = 0, na = 0;
	for (uint32_t i = 0; i < 36; i++) {
		for (uint32_t j = i + 1; j < 36; j++) {
			double cs = cosine(fb_matrix_row(&V, i),
					fb_matrix_row(&V, j), 4);
			if ((i < 18) == (j < 18)) {
				within += cs;
				nw++;
			} else {
				across += cs;
				na++;
			}
		}
	}
	within /= nw;
	across /= na;
	printf("# mean cosine within %.3f, across %.3f\n", within, across);
	CHECK(within > across + 0.3);
	// RMS row norm of items in bundles is the one requested.
	double sq = 0;
	for (uint32_t i = 0; i < 36; i++) {
		for (size_t k = 0; k < 4; k++) {
			double x = fb_matrix_row(&V, i)[k];
			sq += x * x;
		}
	}
	CHECK_NEAR(sqrt(sq / 36), 0.5, 1e-3);
	// Items in no bundle get non-zero random rows.
	for (uint32_t i = 36; i < ITEMS; i++) {
		double s = 0;
		for (size_t k = 0; k < 4; k++) {
			s += fabs(fb_matrix_row(&V, i)[k]);
		}
		CHECK(s > 0);
	}
	fb_matrix_finish(&V);
	fb_csr_finish(&bi);
}

TEST(bad_shapes_are_refused)
{
	uint32_t r[1] = {0}, c[1] = {0};
	struct fb_csr bi;
	CHECK_OK(fb_csr_from_pairs(&bi, 1, 3, r, c, 1, false));
	struct fb_matrix V;
	struct fb_rng rng;
	fb_rng_seed(&rng, 1, 0);
	CHECK_OK(fb_matrix_init(&V, 4, 2));
	CHECK_ERR(fb_pretrain_items(&V, &bi, 5, 1, &rng), FB_EINVAL);
	fb_matrix_finish(&V);
	CHECK_OK(fb_matrix_init(&V, 3, 4)); // d > items
	CHECK_ERR(fb_pretrain_items(&V, &bi, 5, 1, &rng), FB_EINVAL);
	fb_matrix_finish(&V);
	fb_csr_finish(&bi);
}

int
main(void)
{
	RUN(communities_are_recovered);
	RUN(bad_shapes_are_refused);
	return harness_done();
}
