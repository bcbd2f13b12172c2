// common/model/fit.c: the epoch loop. Non-private, with tune-based early
// stopping: it owns a copy of the best parameters so that the final test
// evaluation and the saved model are those of the best tune epoch, never
// of the last one. Under DP the tune split selects nothing (it is private
// data no ledger accounts): the planned epochs all run and the kept model
// is the last one; tune is only evaluated for the owner's progress view.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/model/fit.h"
#include "fedbundle/model/pretrain.h"
#include "fedbundle/util/clock.h"

fb_err
fb_fit_evaluate(const struct fb_dataset *ds, const struct fb_model *model,
		const struct fb_matrix *P, const struct fb_rep_opts *opts,
		const struct fb_csr *split, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out)
{
	return fb_fit_evaluate_users(
			ds, model, P, opts, split, ks, n_k, threads, out, NULL);
}

fb_err
fb_fit_evaluate_users(const struct fb_dataset *ds, const struct fb_model *model,
		const struct fb_matrix *P, const struct fb_rep_opts *opts,
		const struct fb_csr *split, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out,
		struct fb_metrics **per_user)
{
	struct fb_catalog cat;
	struct fb_reps reps = {0};
	struct fb_matrix users = {0};
	fb_err err = fb_catalog_init(&cat, ds);
	if (err != FB_OK) {
		return err;
	}
	err = fb_reps_init(&reps, model, opts);
	if (err == FB_OK) {
		err = fb_matrix_init(&users, P->rows, P->cols);
	}
	if (err == FB_OK) {
		fb_reps_compute(&reps, model, &cat);
		fb_user_reps_compute(&users, P, &ds->ui, &reps);
		err = fb_eval_ranking_users(&users, &reps.bundle, &ds->ub_train,
				split, ks, n_k, threads, out, per_user);
	}
	fb_matrix_finish(&users);
	fb_reps_finish(&reps);
	fb_catalog_finish(&cat);
	return err;
}

// a is better than b: higher Recall@K, then higher NDCG@K.
static bool
better(const struct fb_eval_result *a, const struct fb_eval_result *b)
{
	if (a->mean.recall[0] != b->mean.recall[0]) {
		return a->mean.recall[0] > b->mean.recall[0];
	}
	return a->mean.ndcg[0] > b->mean.ndcg[0];
}

uint64_t
fb_fit_dp_steps(uint32_t epochs, double q)
{
	return (uint64_t)epochs * (uint64_t)ceil(1.0 / q);
}

// The buffers of DP epochs: the sampled users and one release, exact and
// then as a gradient.
struct dp_work {
	uint32_t *sampled;
	int64_t *release;
	size_t len;
	struct fb_rep_grad g;
};

// One DP epoch: ceil(1/q) releases. FB_EBUDGET when the budget stops it.
static fb_err
dp_epoch(struct fb_trainer *t, struct fb_dp *dp, struct dp_work *wk,
		uint32_t epoch, struct fb_train_stats *stats)
{
	const struct fb_dp_config *c = fb_dp_config_of(dp);
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(t, &n_active);
	uint64_t steps = (uint64_t)ceil(1.0 / c->q);
	// The release is normalised by the expected batch of the PUBLIC
	// number of users (dp.h), never by a count of the data.
	double scale = ldexp(1.0, fb_dp_grid_log2(dp)) /
			(c->q * (double)c->users);
	double t0 = fb_clock_s();
	struct fb_train_stats total = {0};
	fb_err err = FB_OK;
	for (uint64_t s = 0; s < steps; s++) {
		// The noisy steps stay in this process: their entries are
		// synced once per epoch, before anything is evaluated,
		// printed or saved.
		err = fb_dp_begin_release_deferred(dp, fb_dp_releases(dp) + 1);
		if (err != FB_OK) {
			break;
		}
		uint32_t m;
		fb_dp_sample(dp, active, n_active, wk->sampled, &m);
		struct fb_train_stats st;
		uint64_t stream = ((uint64_t)epoch << 24) + s;
		err = fb_trainer_batch_release(t, wk->sampled, m, c->clip,
				fb_dp_grid_log2(dp), stream, wk->release,
				wk->len, &st);
		if (err == FB_OK) {
			err = fb_dp_noise_i64(dp, wk->release, wk->len);
		}
		if (err == FB_OK) {
			err = fb_trainer_release_unpack(
					t, wk->release, wk->len, scale, &wk->g);
		}
		if (err == FB_OK) {
			err = fb_trainer_apply(t, &wk->g);
		}
		if (err != FB_OK) {
			break;
		}
		total.loss += st.loss;
		total.samples += st.samples;
		total.users += st.users;
		total.clipped += st.clipped;
		if (st.max_user_norm > total.max_user_norm) {
			total.max_user_norm = st.max_user_norm;
		}
	}
	fb_err sync_err = fb_dp_sync(dp);
	if (err == FB_OK || err == FB_EBUDGET) {
		err = sync_err != FB_OK ? sync_err : err;
	}
	if (total.samples > 0) {
		total.loss /= (double)total.samples;
	}
	total.seconds = fb_clock_s() - t0;
	*stats = total;
	return err;
}

// Starts W's bias column at start->bundle_bias and anchors its weight
// decay there (fb_trainer_set_bias_anchor). The users' factors start at 0
// (their bias coordinate at 1), so that the start ranks every user's
// bundles by the prior alone, not by random factors.
static fb_err
apply_start(const struct fb_train_config *cfg, const struct fb_fit_start *start,
		struct fb_model *cur, struct fb_matrix *users,
		struct fb_trainer *t)
{
	if (start != NULL && start->untrained && start->bundle_bias == NULL) {
		return fb_errorf(FB_EINVAL,
				"fit: an untrained start needs a bundle-bias "
				"prior (it is the whole model)");
	}
	if (start == NULL || start->bundle_bias == NULL) {
		return FB_OK;
	}
	if (!cfg->hp.bias) {
		return fb_errorf(FB_EINVAL,
				"fit: a bundle-bias prior needs the bias "
				"coordinate (\"bias\": true)");
	}
	size_t last = cur->dim - 1;
	for (uint32_t b = 0; b < cur->n_bundles; b++) {
		fb_matrix_row(&cur->W, b)[last] = start->bundle_bias[b];
	}
	fb_matrix_zero(users);
	for (size_t u = 0; u < users->rows; u++) {
		fb_matrix_row(users, u)[last] = 1.0f;
	}
	fb_err err = fb_trainer_set_bias_anchor(t, start->bundle_bias);
	if (err == FB_OK) {
		fb_trainer_refresh(t);
	}
	return err;
}

// Evaluates the current parameters on tune into p->tune and keeps them in
// best/best_users if they beat r's best so far, or always when `select` is
// false (DP: the latest parameters are kept, whatever tune says).
static fb_err
consider(const struct fb_dataset *ds, const struct fb_train_config *cfg,
		struct fb_trainer *t, const struct fb_model *cur,
		const struct fb_matrix *users, struct fb_matrix *user_reps,
		bool select, struct fb_fit_progress *p, struct fb_fit_result *r,
		bool *have_best, struct fb_model *best,
		struct fb_matrix *best_users)
{
	double t0 = fb_clock_s();
	fb_user_reps_compute(user_reps, users, &ds->ui, fb_trainer_reps(t));
	fb_err err = fb_eval_ranking(user_reps, &fb_trainer_reps(t)->bundle,
			&ds->ub_train, &ds->ub_tune, cfg->ks, cfg->n_k,
			(int)cfg->threads, &p->tune);
	r->eval_seconds_total += fb_clock_s() - t0;
	if (err != FB_OK) {
		return err;
	}
	p->evaluated = true;
	if (select && *have_best && !better(&p->tune, &r->tune)) {
		return FB_OK;
	}
	*have_best = true;
	p->best = true;
	r->best_epoch = p->epoch;
	r->tune = p->tune;
	fb_model_copy(best, cur);
	fb_matrix_copy(best_users, users);
	return FB_OK;
}

fb_err
fb_fit(const struct fb_dataset *ds, const struct fb_train_config *cfg,
		struct fb_dp *dp, struct fb_model *model, struct fb_matrix *P,
		fb_fit_callback cb, void *ctx, struct fb_fit_result *res)
{
	return fb_fit_from(ds, cfg, dp, NULL, model, P, cb, ctx, res);
}

fb_err
fb_fit_from(const struct fb_dataset *ds, const struct fb_train_config *cfg,
		struct fb_dp *dp, const struct fb_fit_start *start,
		struct fb_model *model, struct fb_matrix *P, fb_fit_callback cb,
		void *ctx, struct fb_fit_result *res)
{
	fb_err err = fb_train_config_check(cfg);
	if (err != FB_OK) {
		return err;
	}
	struct fb_model cur = {0}, best = {0};
	struct fb_matrix users = {0}, best_users = {0}, user_reps = {0};
	struct fb_trainer *t = NULL;
	struct dp_work wk = {0};
	uint32_t n_attrs = cfg->hp.use_attrs ? ds->n_attrs : 0;
	if ((err = fb_model_init(&cur, ds->n_items, ds->n_bundles, n_attrs,
			     cfg->hp.dim)) != FB_OK ||
			(err = fb_model_init(&best, ds->n_items, ds->n_bundles,
					 n_attrs, cfg->hp.dim)) != FB_OK ||
			(err = fb_matrix_init(&users, ds->n_users,
					 cfg->hp.dim)) != FB_OK ||
			(err = fb_matrix_init(&best_users, ds->n_users,
					 cfg->hp.dim)) != FB_OK ||
			(err = fb_matrix_init(&user_reps, ds->n_users,
					 cfg->hp.dim)) != FB_OK) {
		goto out;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, cfg->seed, 0x1417ULL);
	fb_model_randomize(&cur, &rng, (float)cfg->hp.init_std);
	fb_matrix_randn(&users, &rng, (float)cfg->hp.init_std);
	if (cfg->public_init) {
		err = fb_pretrain_items(&cur.V, &ds->bi, 20,
				(float)(cfg->hp.init_std *
						sqrt((double)cfg->hp.dim)),
				&rng);
		if (err != FB_OK) {
			goto out;
		}
		// The bundle view then starts as the mean of its items' public
		// factors, not drowned in random bundle factors.
		fb_matrix_zero(&cur.W);
	}
	fb_train_init_bias(cfg, &cur, &users);
	err = fb_trainer_create(&t, ds, &cur, &users, cfg);
	if (err == FB_OK) {
		err = apply_start(cfg, start, &cur, &users, t);
	}
	if (err != FB_OK) {
		goto out;
	}
	if (dp != NULL) {
		if (fb_dp_config_of(dp)->users == 0) {
			err = fb_errorf(FB_EINVAL,
					"dp.users: user-level DP needs the public "
					"number of users to normalise by (declared, "
					"not counted from the data)");
			goto out;
		}
		struct fb_release_layout L;
		fb_train_release_layout(cfg, ds->n_items, ds->n_bundles, &L);
		wk.len = L.len;
		wk.sampled = malloc(((size_t)ds->n_users + 1) *
				sizeof(*wk.sampled));
		wk.release = malloc((L.len + 1) * sizeof(*wk.release));
		err = wk.sampled == NULL || wk.release == NULL
				? FB_ENOMEM
				: fb_rep_grad_init(&wk.g, &cur);
		if (err != FB_OK) {
			goto out;
		}
	}
	struct fb_fit_result r = {0};
	// Under DP nothing is chosen on tune: no best epoch, no early stop.
	bool select = dp == NULL;
	bool have_best = false;
	uint32_t since_best = 0;
	if (start != NULL && start->bundle_bias != NULL) {
		// Epoch 0, the prior alone, evaluated for the record (a
		// non-private fit keeps it if no epoch beats it on tune).
		struct fb_fit_progress p0 = {0};
		if (dp != NULL) {
			fb_dp_spent(dp, &p0.epsilon, &p0.releases);
		}
		err = consider(ds, cfg, t, &cur, &users, &user_reps, select,
				&p0, &r, &have_best, &best, &best_users);
		if (err != FB_OK) {
			goto out;
		}
		r.epsilon = p0.epsilon;
		r.releases = p0.releases;
		if (cb != NULL) {
			cb(ctx, &p0);
		}
	}
	uint32_t epochs = start != NULL && start->untrained ? 0 : cfg->epochs;
	for (uint32_t epoch = 1; epoch <= epochs; epoch++) {
		struct fb_fit_progress p = {0};
		p.epoch = epoch;
		double cpu0 = fb_clock_cpu_s();
		if (dp == NULL) {
			err = fb_trainer_epoch(t, epoch, &p.stats);
			r.train_cpu_seconds += fb_clock_cpu_s() - cpu0;
		} else {
			err = dp_epoch(t, dp, &wk, epoch, &p.stats);
			r.train_cpu_seconds += fb_clock_cpu_s() - cpu0;
			fb_dp_spent(dp, &p.epsilon, &p.releases);
			if (err == FB_EBUDGET) {
				r.budget_reached = true;
				fb_clear_error();
				err = FB_OK;
			}
		}
		if (err != FB_OK) {
			goto out;
		}
		r.train_seconds += p.stats.seconds;
		r.epochs_run = epoch;
		if (!fb_matrix_all_finite(&cur.V) ||
				!fb_matrix_all_finite(&cur.W)) {
			err = fb_errorf(FB_ESTATE,
					"training diverged at epoch %u (non-finite "
					"factors): lower lr",
					epoch);
			goto out;
		}
		bool last = epoch == cfg->epochs || r.budget_reached;
		if (epoch % cfg->eval_every == 0 || last) {
			err = consider(ds, cfg, t, &cur, &users, &user_reps,
					select, &p, &r, &have_best, &best,
					&best_users);
			if (err != FB_OK) {
				goto out;
			}
			since_best = p.best ? 0 : since_best + 1;
		}
		if (cb != NULL) {
			cb(ctx, &p);
		}
		r.epsilon = p.epsilon;
		r.releases = p.releases;
		if (select && cfg->patience > 0 &&
				since_best >= cfg->patience) {
			break;
		}
		if (r.budget_reached) {
			break;
		}
	}
	double t0 = fb_clock_s();
	struct fb_rep_opts ro;
	fb_train_rep_opts(cfg, &ro);
	err = fb_fit_evaluate(ds, &best, &best_users, &ro, &ds->ub_test,
			cfg->ks, cfg->n_k, (int)cfg->threads, &r.test);
	r.test_eval_seconds = fb_clock_s() - t0;
	r.eval_seconds_total += r.test_eval_seconds;
	if (err != FB_OK) {
		goto out;
	}
	*res = r;
	*model = best;
	*P = best_users;
	memset(&best, 0, sizeof(best));
	memset(&best_users, 0, sizeof(best_users));
out:
	fb_trainer_destroy(t);
	fb_rep_grad_finish(&wk.g);
	free(wk.sampled);
	free(wk.release);
	fb_model_finish(&cur);
	fb_model_finish(&best);
	fb_matrix_finish(&users);
	fb_matrix_finish(&best_users);
	fb_matrix_finish(&user_reps);
	return err;
}
