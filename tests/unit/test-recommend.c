// tests/unit/test-recommend.c: one user's recommendations
// (common/model/recommend.c) against the evaluation's own path: the scores of the
// user's row of fb_user_reps_compute over every user, a brute-force top K
// without the training bundles, and the refusals.
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/recommend.h"
#include "fedbundle/util/rng.h"
#include "harness.h"

struct fixture {
	struct fb_dataset *ds;
	struct fb_model model;
	struct fb_matrix P;
	struct fb_catalog cat;
	struct fb_reps reps;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	struct fb_datagen_config c;
	fb_datagen_config_defaults(&c);
	c.n_users = 300;
	c.n_items = 200;
	c.n_bundles = 60;
	CHECK_OK(fb_datagen_run(&f->ds, &c, NULL));
	uint32_t dim = 8;
	CHECK_OK(fb_model_init(
			&f->model, f->ds->n_items, f->ds->n_bundles, 0, dim));
	CHECK_OK(fb_matrix_init(&f->P, f->ds->n_users, dim));
	struct fb_rng rng;
	fb_rng_seed(&rng, 7, 0);
	fb_model_randomize(&f->model, &rng, 0.5f);
	fb_matrix_randn(&f->P, &rng, 0.5f);
	struct fb_rep_opts opts = {0};
	CHECK_OK(fb_catalog_init(&f->cat, f->ds));
	CHECK_OK(fb_reps_init(&f->reps, &f->model, &opts));
	fb_reps_compute(&f->reps, &f->model, &f->cat);
}

static void
fixture_finish(struct fixture *f)
{
	fb_reps_finish(&f->reps);
	fb_catalog_finish(&f->cat);
	fb_matrix_finish(&f->P);
	fb_model_finish(&f->model);
	fb_dataset_destroy(f->ds);
}

// The brute-force rank of bundle b for the user: how many candidates
// score strictly higher.
static uint32_t
better(const float *s, uint32_t n, uint32_t b, const struct fb_csr *seen,
		uint32_t user)
{
	uint32_t k = 0;
	for (uint32_t j = 0; j < n; j++) {
		k += (seen == NULL || !fb_csr_has(seen, user, j)) &&
				s[j] > s[b];
	}
	return k;
}

TEST(ranking_matches_the_evaluation_path)
{
	struct fixture f;
	fixture_init(&f);
	const struct fb_dataset *ds = f.ds;
	struct fb_matrix U = {0};
	CHECK_OK(fb_matrix_init(&U, ds->n_users, f.P.cols));
	fb_user_reps_compute(&U, &f.P, &ds->ui, &f.reps);
	float *all = calloc(ds->n_bundles, sizeof(float));
	CHECK(all != NULL);
	uint32_t users_with_seen = 0;
	for (uint32_t u = 0; u < ds->n_users; u += 7) {
		struct fb_ranking r;
		CHECK_OK(fb_ranking_compute(
				&r, ds, &f.reps, &f.P, u, 10, false));
		fb_model_score_block(&U, u, 1, &f.reps.bundle, all);
		for (uint32_t b = 0; b < ds->n_bundles; b++) {
			CHECK_NEAR(r.scores[b], all[b], 1e-5);
		}
		uint32_t n_seen = fb_csr_row_len(&ds->ub_train, u);
		users_with_seen += n_seen > 0;
		CHECK(r.n_seen == n_seen);
		CHECK(r.n_top ==
				(ds->n_bundles - n_seen < 10 ? ds->n_bundles - n_seen
							     : 10));
		for (uint32_t i = 0; i < r.n_top; i++) {
			uint32_t b = r.top[i];
			CHECK(!fb_csr_has(&ds->ub_train, u, b));
			CHECK(better(r.scores, ds->n_bundles, b, &ds->ub_train,
					      u) == i);
		}
		fb_ranking_finish(&r);
	}
	CHECK(users_with_seen > 0); // the exclusion was exercised
	free(all);
	fb_matrix_finish(&U);
	fixture_finish(&f);
}

TEST(include_seen_ranks_the_whole_catalogue)
{
	struct fixture f;
	fixture_init(&f);
	uint32_t u = 0;
	while (fb_csr_row_len(&f.ds->ub_train, u) == 0) {
		u++;
	}
	struct fb_ranking r;
	CHECK_OK(fb_ranking_compute(
			&r, f.ds, &f.reps, &f.P, u, f.ds->n_bundles + 5, true));
	CHECK(r.n_top == f.ds->n_bundles);
	for (uint32_t i = 0; i + 1 < r.n_top; i++) {
		CHECK(r.scores[r.top[i]] >= r.scores[r.top[i + 1]]);
	}
	fb_ranking_finish(&r);
	fixture_finish(&f);
}

TEST(refusals_name_the_problem)
{
	struct fixture f;
	fixture_init(&f);
	struct fb_ranking r;
	CHECK_ERR(fb_ranking_compute(&r, f.ds, &f.reps, &f.P, f.ds->n_users, 10,
				  false),
			FB_EINVAL);
	CHECK(strstr(fb_last_error(FB_EINVAL), "users") != NULL);
	fb_ranking_finish(&r);
	CHECK_ERR(fb_ranking_compute(&r, f.ds, &f.reps, &f.P, 0, 0, false),
			FB_EINVAL);
	fb_ranking_finish(&r);
	struct fb_matrix narrow = {0};
	CHECK_OK(fb_matrix_init(&narrow, f.ds->n_users, 4));
	CHECK_ERR(fb_ranking_compute(&r, f.ds, &f.reps, &narrow, 0, 10, false),
			FB_EINVAL);
	CHECK(strstr(fb_last_error(FB_EINVAL), "does not fit") != NULL);
	fb_ranking_finish(&r);
	fb_matrix_finish(&narrow);
	fixture_finish(&f);
}

int
main(void)
{
	RUN(ranking_matches_the_evaluation_path);
	RUN(include_seen_ranks_the_whole_catalogue);
	RUN(refusals_name_the_problem);
	return harness_done();
}
