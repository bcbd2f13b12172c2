// tests/unit/test-train.c: the BPR trainer. The analytic gradient (through
// the representations and the catalogue's linear map, with every view on)
// is checked against finite differences of the sampled loss; a DP release
// is checked to be the exact sum of bounded per-user contributions that
// do not depend on the other users or the thread count (the sensitivity);
// runs are reproducible; and a planted two-community dataset is learnt
// well beyond popularity.
#include <math.h>
#include <stdlib.h>

#include "fedbundle/model/fit.h"
#include "fedbundle/model/train.h"
#include "harness.h"

// users x bundles x items with a planted structure: user u, bundle b and
// item i belong to community (x % 2); users interact with bundles and items
// of their community only. Bundles hold 4 items of their community.
static struct fb_dataset *
planted(uint32_t n_users, uint32_t n_bundles, uint32_t n_items, uint64_t seed)
{
	struct fb_dataset *ds = NULL;
	if (fb_dataset_create(&ds, "planted", n_users, n_bundles, n_items, 0) !=
			FB_OK) {
		return NULL;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 0);
	size_t cap = (size_t)n_users * 32 + n_bundles * 4;
	uint32_t *r[4], *c[4];
	size_t n[4] = {0};
	for (int k = 0; k < 4; k++) {
		r[k] = malloc(cap * sizeof(uint32_t));
		c[k] = malloc(cap * sizeof(uint32_t));
	}
	// bundle -> items
	for (uint32_t b = 0; b < n_bundles; b++) {
		for (uint32_t k = 0; k < 4; k++) {
			uint32_t i = (2 * ((b / 2) * 4 + k) + b % 2) % n_items;
			r[0][n[0]] = b;
			c[0][n[0]++] = i;
		}
	}
	// Each user gets 5 distinct bundles of its community: 3 train, 1
	// tune, 1 test.
	uint32_t half = n_bundles / 2;
	uint32_t *pick = malloc(half * sizeof(uint32_t));
	for (uint32_t u = 0; u < n_users; u++) {
		for (uint32_t k = 0; k < half; k++) {
			pick[k] = 2 * k + u % 2;
		}
		fb_rng_shuffle_u32(&rng, pick, half);
		for (int k = 0; k < 5; k++) {
			int split = k < 3 ? 1 : k == 3 ? 2 : 3;
			r[split][n[split]] = u;
			c[split][n[split]++] = pick[k];
		}
	}
	free(pick);
	fb_csr_finish(&ds->bi);
	fb_csr_finish(&ds->ub_train);
	fb_err err = fb_csr_from_pairs(
			&ds->bi, n_bundles, n_items, r[0], c[0], n[0], true);
	err = err ? err
		  : fb_csr_from_pairs(&ds->ub_train, n_users, n_bundles, r[1],
				    c[1], n[1], false);
	// Items: every user has 6 items of its community.
	size_t ni = 0;
	for (uint32_t u = 0; u < n_users; u++) {
		for (int k = 0; k < 6; k++) {
			r[0][ni] = u;
			c[0][ni++] = 2 * fb_rng_below(&rng, n_items / 2) +
					u % 2;
		}
	}
	struct fb_csr *tune = &ds->ub_tune, *test = &ds->ub_test;
	fb_csr_finish(tune);
	fb_csr_finish(test);
	fb_csr_finish(&ds->ui);
	err = err ? err
		  : fb_csr_from_pairs(tune, n_users, n_bundles, r[2], c[2],
				    n[2], true);
	err = err ? err
		  : fb_csr_from_pairs(test, n_users, n_bundles, r[3], c[3],
				    n[3], true);
	err = err ? err
		  : fb_csr_from_pairs(&ds->ui, n_users, n_items, r[0], c[0], ni,
				    true);
	for (int k = 0; k < 4; k++) {
		free(r[k]);
		free(c[k]);
	}
	if (err != FB_OK) {
		fb_dataset_destroy(ds);
		return NULL;
	}
	return ds;
}

struct rig {
	struct fb_dataset *ds;
	struct fb_model model;
	struct fb_matrix P;
	struct fb_trainer *t;
	struct fb_rep_grad g;
};

static fb_err
rig_init(struct rig *r, const struct fb_train_config *cfg, uint32_t users)
{
	memset(r, 0, sizeof(*r));
	r->ds = planted(users, 20, 40, 3);
	if (r->ds == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_model_init(&r->model, 40, 20, 0, cfg->hp.dim);
	if (err == FB_OK) {
		err = fb_matrix_init(&r->P, users, cfg->hp.dim);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, 11, 0);
	fb_model_randomize(&r->model, &rng, 0.5f);
	fb_matrix_randn(&r->P, &rng, 0.5f);
	err = fb_trainer_create(&r->t, r->ds, &r->model, &r->P, cfg);
	if (err == FB_OK) {
		err = fb_rep_grad_init(&r->g, &r->model);
	}
	return err;
}

static void
rig_finish(struct rig *r)
{
	fb_trainer_destroy(r->t);
	fb_rep_grad_finish(&r->g);
	fb_model_finish(&r->model);
	fb_matrix_finish(&r->P);
	fb_dataset_destroy(r->ds);
}

static double
batch_loss(struct rig *r, const uint32_t *users, uint32_t n)
{
	struct fb_train_stats s;
	fb_trainer_refresh(r->t);
	if (fb_trainer_batch_gradient(r->t, users, n, 1.0, 99, &r->g, &s) !=
			FB_OK) {
		return NAN;
	}
	return s.loss;
}

TEST(gradient_matches_finite_differences)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 4;
	cfg.hp.optimizer = FB_OPT_SGD;
	cfg.hp.lr = 1.0;    // apply() then subtracts exactly the gradient
	cfg.hp.lr_user = 0; // user factors frozen inside the batch
	cfg.hp.l2 = 0;
	cfg.hp.item_weight = 0.7;
	cfg.hp.negatives = 2;
	struct rig r;
	CHECK_OK(rig_init(&r, &cfg, 6));
	const uint32_t users[3] = {0, 1, 4};
	batch_loss(&r, users, 3);
	// Analytic gradient of V and W: one SGD step with lr 1.
	struct fb_model before = {0};
	CHECK_OK(fb_model_copy(&before, &r.model));
	CHECK_OK(fb_trainer_apply(r.t, &r.g));
	struct fb_model grad = {0};
	CHECK_OK(fb_model_copy(&grad, &before));
	fb_matrix_axpy(&grad.V, -1, &r.model.V);
	fb_matrix_axpy(&grad.W, -1, &r.model.W);
	fb_model_copy(&r.model, &before);
	const float eps = 1e-2f;
	int checked = 0;
	for (int which = 0; which < 2; which++) {
		struct fb_matrix *m = which == 0 ? &r.model.V : &r.model.W;
		struct fb_matrix *gm = which == 0 ? &grad.V : &grad.W;
		for (size_t k = 0; k < fb_matrix_len(m); k += 3) {
			float keep = m->data[k];
			m->data[k] = keep + eps;
			double lp = batch_loss(&r, users, 3);
			m->data[k] = keep - eps;
			double lm = batch_loss(&r, users, 3);
			m->data[k] = keep;
			double num = (lp - lm) / (2 * eps);
			CHECK_NEAR(gm->data[k], num, 2e-3 + 2e-3 * fabs(num));
			checked += fabs(num) > 1e-3;
		}
	}
	CHECK(checked > 10); // the check is not vacuous
	fb_model_finish(&before);
	fb_model_finish(&grad);
	rig_finish(&r);
}

#define GRID_LOG2 (-20)

// Exact squared L2 norm of v[0..n) (|v| < 2^31 here).
static uint64_t
sqnorm_i64(const int64_t *v, size_t n)
{
	uint64_t s = 0;
	for (size_t k = 0; k < n; k++) {
		s += (uint64_t)(v[k] * v[k]);
	}
	return s;
}

// The release of users[0..n) from the same user factors every time (a
// release updates the factors of the users it runs).
static fb_err
release_of(struct rig *r, const struct fb_matrix *P0, const uint32_t *users,
		uint32_t n, double clip, uint64_t stream, int64_t *out,
		size_t len, struct fb_train_stats *s)
{
	fb_matrix_copy(&r->P, P0);
	return fb_trainer_batch_release(
			r->t, users, n, clip, GRID_LOG2, stream, out, len, s);
}

// The DP sensitivity, exactly: each user's contribution is at most C on
// the grid, and a batch's release is the exact sum of its users' own
// contributions, whatever the other users, their order and the thread
// count, so removing any user moves the release by exactly that user's
// contribution. With the test switch that restores one shared stream per
// worker (the old code), removing a user moves the others' negatives and
// the check fails, which shows it can.
static void
check_release_is_a_sum(uint32_t threads, bool shared, bool items)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.threads = threads;
	cfg.hp.train_items = items;
	cfg.test_shared_stream = shared;
	struct rig r;
	CHECK_OK(rig_init(&r, &cfg, 30));
	struct fb_matrix P0;
	CHECK_OK(fb_matrix_init(&P0, r.P.rows, r.P.cols));
	CHECK_OK(fb_matrix_copy(&P0, &r.P));
	struct fb_release_layout L;
	fb_train_release_layout(&cfg, 40, 20, &L);
	CHECK(L.len == 20 * 8 + (items ? 40 * 8 : 0));
	int64_t *all = calloc(L.len, sizeof(int64_t));
	int64_t *less = calloc(L.len, sizeof(int64_t));
	int64_t *one = calloc(L.len, sizeof(int64_t));
	const double C = 0.05;
	uint64_t kc = (uint64_t)floor(C / ldexp(1.0, GRID_LOG2));
	uint32_t users[30];
	for (uint32_t u = 0; u < 30; u++) {
		users[u] = u;
	}
	struct fb_train_stats s;
	CHECK_OK(release_of(&r, &P0, users, 30, C, 5, all, L.len, &s));
	CHECK(s.clipped > 0 && s.max_user_norm > C); // clipping is active
	int mismatches = 0;
	for (uint32_t gone = 0; gone < 30; gone++) {
		// users without `gone`, in another order.
		uint32_t rest[29], m = 0;
		for (uint32_t k = 0; k < 30; k++) {
			uint32_t u = (k * 7 + 3) % 30;
			if (u != gone) {
				rest[m++] = u;
			}
		}
		CHECK_OK(release_of(
				&r, &P0, rest, 29, C, 5, less, L.len, NULL));
		CHECK_OK(release_of(&r, &P0, &gone, 1, C, 5, one, L.len, NULL));
		CHECK(sqnorm_i64(one, L.len) <= kc * kc);
		for (size_t k = 0; k < L.len; k++) {
			less[k] = all[k] - less[k];
		}
		mismatches += memcmp(less, one, L.len * sizeof(int64_t)) != 0;
	}
	if (shared) {
		CHECK(mismatches > 10);
	} else {
		CHECK(mismatches == 0);
	}
	free(all);
	free(less);
	free(one);
	fb_matrix_finish(&P0);
	rig_finish(&r);
}

TEST(release_is_the_exact_sum_of_bounded_contributions)
{
	check_release_is_a_sum(1, false, false);
	check_release_is_a_sum(1, false, true);
	check_release_is_a_sum(2, false, true);
	check_release_is_a_sum(3, false, false);
}

TEST(shared_stream_switch_breaks_it)
{
	check_release_is_a_sum(1, true, true);
	check_release_is_a_sum(2, true, false);
}

TEST(release_is_the_same_for_every_thread_count)
{
	int64_t *v[3];
	size_t len = 0;
	for (uint32_t th = 1; th <= 3; th++) {
		struct fb_train_config cfg;
		fb_train_config_defaults(&cfg);
		cfg.hp.dim = 8;
		cfg.threads = th;
		struct rig r;
		CHECK_OK(rig_init(&r, &cfg, 30));
		struct fb_release_layout L;
		fb_train_release_layout(&cfg, 40, 20, &L);
		len = L.len;
		v[th - 1] = calloc(len, sizeof(int64_t));
		uint32_t users[30];
		for (uint32_t u = 0; u < 30; u++) {
			users[u] = u;
		}
		CHECK_OK(fb_trainer_batch_release(r.t, users, 30, 0.05,
				GRID_LOG2, 9, v[th - 1], len, NULL));
		// Wrong length, clip below one grid step: refused.
		CHECK_ERR(fb_trainer_batch_release(r.t, users, 30, 0.05,
					  GRID_LOG2, 9, v[th - 1], len - 1,
					  NULL),
				FB_EINVAL);
		CHECK_ERR(fb_trainer_batch_release(r.t, users, 30, 1e-9,
					  GRID_LOG2, 9, v[th - 1], len, NULL),
				FB_EINVAL);
		rig_finish(&r);
	}
	CHECK(memcmp(v[0], v[1], len * sizeof(int64_t)) == 0);
	CHECK(memcmp(v[0], v[2], len * sizeof(int64_t)) == 0);
	for (int k = 0; k < 3; k++) {
		free(v[k]);
	}
}

static void
train_once(uint32_t threads, struct fb_model *out)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.threads = threads;
	cfg.hp.batch_users = 16;
	struct rig r;
	if (rig_init(&r, &cfg, 64) != FB_OK) {
		return;
	}
	for (uint32_t e = 1; e <= 3; e++) {
		fb_trainer_epoch(r.t, e, NULL);
	}
	fb_model_copy(out, &r.model);
	rig_finish(&r);
}

TEST(training_is_reproducible)
{
	struct fb_model a = {0}, b = {0}, c = {0}, d = {0};
	train_once(1, &a);
	train_once(1, &b);
	train_once(2, &c);
	train_once(2, &d);
	CHECK(a.V.data != NULL && c.V.data != NULL);
	CHECK(memcmp(a.V.data, b.V.data, fb_matrix_len(&a.V) * 4) == 0);
	CHECK(memcmp(a.W.data, b.W.data, fb_matrix_len(&a.W) * 4) == 0);
	CHECK(memcmp(c.V.data, d.V.data, fb_matrix_len(&c.V) * 4) == 0);
	CHECK(memcmp(c.W.data, d.W.data, fb_matrix_len(&c.W) * 4) == 0);
	fb_model_finish(&a);
	fb_model_finish(&b);
	fb_model_finish(&c);
	fb_model_finish(&d);
}

// A trainer restarted on a new model (a client's next round) trains
// exactly as a new trainer on that model would, with either optimizer;
// a configuration the buffers were not built for is refused.
static void
restart_matches_create(enum fb_optimizer opt)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.hp.batch_users = 16;
	cfg.hp.optimizer = opt;
	struct rig r;
	CHECK_OK(rig_init(&r, &cfg, 64));
	for (uint32_t e = 1; e <= 2; e++) {
		CHECK_OK(fb_trainer_epoch(r.t, e, NULL));
	}
	// The next round: a new model, other learning rates and seed.
	struct fb_rng rng;
	fb_rng_seed(&rng, 12, 0);
	fb_model_randomize(&r.model, &rng, 0.5f);
	cfg.hp.lr *= 2;
	cfg.hp.lr_user *= 0.5;
	cfg.seed = 99;
	struct fb_model fresh = {0};
	struct fb_matrix P = {0};
	CHECK_OK(fb_model_copy(&fresh, &r.model));
	CHECK_OK(fb_matrix_init(&P, r.P.rows, r.P.cols));
	CHECK_OK(fb_matrix_copy(&P, &r.P));
	struct fb_trainer *t = NULL;
	CHECK_OK(fb_trainer_create(&t, r.ds, &fresh, &P, &cfg));
	CHECK_OK(fb_trainer_restart(r.t, &cfg));
	for (uint32_t e = 1; e <= 2; e++) {
		CHECK_OK(fb_trainer_epoch(r.t, e, NULL));
		CHECK_OK(fb_trainer_epoch(t, e, NULL));
	}
	CHECK(memcmp(fresh.V.data, r.model.V.data,
			      fb_matrix_len(&fresh.V) * sizeof(float)) == 0);
	CHECK(memcmp(fresh.W.data, r.model.W.data,
			      fb_matrix_len(&fresh.W) * sizeof(float)) == 0);
	CHECK(memcmp(P.data, r.P.data, fb_matrix_len(&P) * sizeof(float)) == 0);
	struct fb_train_config other = cfg;
	other.threads = 2;
	CHECK_ERR(fb_trainer_restart(r.t, &other), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "restart");
	other = cfg;
	other.hp.negatives++;
	CHECK_ERR(fb_trainer_restart(r.t, &other), FB_EINVAL);
	other = cfg;
	other.hp.item_view = !other.hp.item_view;
	CHECK_ERR(fb_trainer_restart(r.t, &other), FB_EINVAL);
	fb_trainer_destroy(t);
	fb_model_finish(&fresh);
	fb_matrix_finish(&P);
	rig_finish(&r);
}

TEST(restart_equals_a_new_trainer)
{
	restart_matches_create(FB_OPT_ADAM);
	restart_matches_create(FB_OPT_SGD);
}

// A step leaves the representations to be computed when next read
// (fb_trainer_apply; only the bundles' when items are frozen): what the
// trainer then returns is exactly the representations of the stepped
// model, with items trained and frozen.
TEST(reps_follow_the_model_after_a_step)
{
	for (int train_items = 0; train_items <= 1; train_items++) {
		struct fb_train_config cfg;
		fb_train_config_defaults(&cfg);
		cfg.hp.dim = 4;
		cfg.hp.train_items = train_items;
		struct rig r;
		CHECK_OK(rig_init(&r, &cfg, 6));
		const uint32_t users[3] = {0, 2, 5};
		struct fb_catalog cat;
		struct fb_reps fresh;
		CHECK_OK(fb_catalog_init(&cat, r.ds));
		CHECK_OK(fb_reps_init(
				&fresh, &r.model, fb_trainer_rep_opts(r.t)));
		struct fb_model before = {0};
		for (uint64_t step = 1; step <= 3; step++) {
			CHECK_OK(fb_model_copy(&before, &r.model));
			CHECK_OK(fb_trainer_batch_gradient(
					r.t, users, 3, 3.0, step, &r.g, NULL));
			CHECK_OK(fb_trainer_apply(r.t, &r.g));
			fb_reps_compute(&fresh, &r.model, &cat);
			const struct fb_reps *got = fb_trainer_reps(r.t);
			CHECK(memcmp(got->item.data, fresh.item.data,
					      fb_matrix_len(&fresh.item) *
							      sizeof(float)) ==
					0);
			CHECK(memcmp(got->bundle.data, fresh.bundle.data,
					      fb_matrix_len(&fresh.bundle) *
							      sizeof(float)) ==
					0);
			// The step changed them.
			fb_reps_compute(&fresh, &before, &cat);
			CHECK(memcmp(got->bundle.data, fresh.bundle.data,
					      fb_matrix_len(&fresh.bundle) *
							      sizeof(float)) !=
					0);
		}
		fb_model_finish(&before);
		fb_reps_finish(&fresh);
		fb_catalog_finish(&cat);
		rig_finish(&r);
	}
}

TEST(learns_planted_communities)
{
	struct fb_dataset *ds = planted(200, 40, 80, 5);
	CHECK(ds != NULL);
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.epochs = 30;
	cfg.hp.batch_users = 32;
	cfg.hp.lr = 0.03;
	cfg.public_init = false; // learn the communities from the data alone
	const uint32_t ks[1] = {5};
	memcpy(cfg.ks, ks, sizeof(ks));
	cfg.n_k = 1;
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_fit_result res;
	CHECK_OK(fb_fit(ds, &cfg, NULL, &model, &P, NULL, NULL, &res));
	struct fb_eval_result pop;
	CHECK_OK(fb_eval_popularity(&ds->ub_train, &ds->ub_test, ks, 1, &pop));
	// Half the bundles are the user's community: a model that learnt
	// the communities puts the test bundle in the top 5 of 20 far more
	// often than popularity (about 5/37 of the time) does.
	printf("# planted: model Recall@5 %.3f, popularity %.3f\n",
			res.test.mean.recall[0], pop.mean.recall[0]);
	CHECK(res.test.mean.recall[0] > pop.mean.recall[0] + 0.1);
	CHECK(res.test.mean.recall[0] > 0.3);
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	fb_dataset_destroy(ds);
}

// bias, train_items = false and bundle_rank restrict what is trained:
// the bias coordinate of users stays 1, V does not move, and the untrained
// coordinates of W stay exactly 0, also under clipping.
TEST(restricted_training_keeps_what_it_must)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.hp.bias = true;
	cfg.hp.train_items = false;
	cfg.hp.bundle_rank = 3;
	cfg.hp.batch_users = 8;
	struct rig r;
	CHECK_OK(rig_init(&r, &cfg, 40));
	fb_matrix_zero(&r.model.W);
	fb_train_init_bias(&cfg, &r.model, &r.P);
	fb_trainer_refresh(r.t);
	struct fb_matrix V0;
	CHECK_OK(fb_matrix_init(&V0, r.model.V.rows, r.model.V.cols));
	CHECK_OK(fb_matrix_copy(&V0, &r.model.V));
	for (uint32_t e = 1; e <= 3; e++) {
		CHECK_OK(fb_trainer_epoch(r.t, e, NULL));
	}
	uint32_t all[40];
	for (uint32_t u = 0; u < 40; u++) {
		all[u] = u;
	}
	// A DP release: the bundle gradient's 3 leading coordinates and the
	// bias, nothing of the items.
	struct fb_release_layout L;
	fb_train_release_layout(&cfg, 40, 20, &L);
	CHECK(L.len == 20 * 4 && L.lead == 3 && L.last && !L.items);
	int64_t rel[20 * 4];
	CHECK_OK(fb_trainer_batch_release(
			r.t, all, 40, 0.1, GRID_LOG2, 7, rel, L.len, NULL));
	for (size_t k = 0; k < fb_matrix_len(&r.g.item); k++) {
		r.g.item.data[k] = 3.0f; // not in the release: never read
	}
	for (size_t k = 0; k < fb_matrix_len(&r.g.bundle); k++) {
		r.g.bundle.data[k] = 5.0f; // outside the layout: must become 0
	}
	CHECK_OK(fb_trainer_release_unpack(
			r.t, rel, L.len, ldexp(1.0, GRID_LOG2), &r.g));
	CHECK_OK(fb_trainer_apply(r.t, &r.g));
	CHECK(memcmp(V0.data, r.model.V.data, fb_matrix_len(&V0) * 4) == 0);
	double trained = 0;
	for (size_t b = 0; b < r.model.W.rows; b++) {
		const float *w = fb_matrix_row(&r.model.W, b);
		for (size_t k = 3; k < 7; k++) {
			CHECK(w[k] == 0.0f);
		}
		trained += fabs(w[0]) + fabs(w[7]);
		const float *gb = fb_matrix_row(&r.g.bundle, b);
		for (size_t k = 3; k < 7; k++) {
			CHECK(gb[k] == 0.0f);
		}
	}
	CHECK(trained > 0); // the rank and bias coordinates did learn
	for (size_t u = 0; u < r.P.rows; u++) {
		CHECK(fb_matrix_row(&r.P, u)[7] == 1.0f);
	}
	fb_matrix_finish(&V0);
	rig_finish(&r);
}

// The popularity prior (issue 15): with an anchor the bias's weight decay
// pulls toward it, and with freeze_bias the bias is neither released nor
// moved: it stays at the anchor while the rank coordinates learn.
TEST(bias_anchor_and_frozen_bias)
{
	for (int frozen = 0; frozen < 2; frozen++) {
		struct fb_train_config cfg;
		fb_train_config_defaults(&cfg);
		cfg.hp.dim = 8;
		cfg.hp.bias = true;
		cfg.hp.train_items = false;
		cfg.hp.bundle_rank = 3;
		cfg.hp.batch_users = 8;
		cfg.hp.optimizer = FB_OPT_SGD;
		cfg.hp.lr = 5;
		cfg.hp.l2 = 0.01;
		cfg.freeze_bias = frozen;
		struct fb_release_layout L;
		fb_train_release_layout(&cfg, 40, 20, &L);
		CHECK(L.len == 20 * (frozen ? 3 : 4) && L.last == !frozen);
		struct rig r;
		CHECK_OK(rig_init(&r, &cfg, 40));
		fb_matrix_zero(&r.model.W);
		fb_train_init_bias(&cfg, &r.model, &r.P);
		float anchor[20];
		for (uint32_t b = 0; b < 20; b++) {
			anchor[b] = 0.25f * (float)b;
			fb_matrix_row(&r.model.W, b)[7] = anchor[b];
		}
		CHECK_OK(fb_trainer_set_bias_anchor(r.t, anchor));
		fb_trainer_refresh(r.t);
		// A zero gradient: the decay alone leaves the bias at the
		// anchor (without one it would shrink it by lr l2 = 5%).
		fb_matrix_zero(&r.g.bundle);
		CHECK_OK(fb_trainer_apply(r.t, &r.g));
		for (uint32_t b = 0; b < 20; b++) {
			CHECK(fabsf(fb_matrix_row(&r.model.W, b)[7] -
					      anchor[b]) < 1e-5f);
		}
		for (uint32_t e = 1; e <= 3; e++) {
			CHECK_OK(fb_trainer_epoch(r.t, e, NULL));
		}
		double moved = 0, rank = 0;
		for (uint32_t b = 0; b < 20; b++) {
			const float *w = fb_matrix_row(&r.model.W, b);
			moved += fabs(w[7] - anchor[b]);
			rank += fabs(w[0]);
		}
		CHECK(rank > 0);
		CHECK(frozen ? moved < 1e-4 : moved > 1e-3);
		rig_finish(&r);
	}
	// Only with sgd and the bias.
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp.dim = 8;
	cfg.hp.optimizer = FB_OPT_ADAM;
	cfg.hp.bias = true;
	struct rig r;
	CHECK_OK(rig_init(&r, &cfg, 40));
	float zero[20] = {0};
	CHECK_ERR(fb_trainer_set_bias_anchor(r.t, zero), FB_EINVAL);
	rig_finish(&r);
}

TEST(config_is_checked)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	CHECK_OK(fb_train_config_check(&cfg));
	cfg.hp.dim = 0;
	CHECK_ERR(fb_train_config_check(&cfg), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "dim");
	fb_train_config_defaults(&cfg);
	cfg.hp.lr = -1;
	CHECK_ERR(fb_train_config_check(&cfg), FB_EINVAL);
	fb_train_config_defaults(&cfg);
	cfg.threads = 0;
	CHECK_ERR(fb_train_config_check(&cfg), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "threads");
}

int
main(void)
{
	RUN(gradient_matches_finite_differences);
	RUN(release_is_the_exact_sum_of_bounded_contributions);
	RUN(shared_stream_switch_breaks_it);
	RUN(release_is_the_same_for_every_thread_count);
	RUN(training_is_reproducible);
	RUN(restart_equals_a_new_trainer);
	RUN(reps_follow_the_model_after_a_step);
	RUN(learns_planted_communities);
	RUN(restricted_training_keeps_what_it_must);
	RUN(bias_anchor_and_frozen_bias);
	RUN(config_is_checked);
	return harness_done();
}
