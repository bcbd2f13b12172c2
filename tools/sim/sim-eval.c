// tools/sim/sim-eval.c: the simulation's evaluation of a round's model on
// every client's test users, as each client would compute it
// (fb_fit_evaluate), with the item and bundle representations computed
// once and one user-representation buffer reused for every client.
#include <string.h>

#include "sim-internal.h"

const uint32_t sim_eval_ks[2] = {20, 40};

fb_err
sim_eval_init(struct sim_evaluator *e, const struct sim_data *d,
		const struct fb_model *shape, const struct sim_config *cfg)
{
	memset(e, 0, sizeof(*e));
	fb_err err = fb_catalog_init(&e->cat, d->ds);
	if (err != FB_OK) {
		return err;
	}
	e->cat_ok = true;
	const struct agg_round_config *r = &cfg->server.round;
	struct fb_rep_opts o = {r->hp.item_view, r->hp.use_attrs,
			r->hp.user_item_view, r->hp.bias};
	err = fb_reps_init(&e->reps, shape, &o);
	if (err == FB_OK) {
		err = fb_matrix_init(&e->users, d->max_users, shape->dim);
	}
	return err;
}

void
sim_eval_finish(struct sim_evaluator *e)
{
	fb_matrix_finish(&e->users);
	fb_reps_finish(&e->reps);
	if (e->cat_ok) {
		fb_catalog_finish(&e->cat);
	}
}

// Sums of Recall/NDCG@20/40 over the test users of every client that has
// user factors, for model: as each client would compute them
// (fb_fit_evaluate), with the representations computed once.
fb_err
sim_eval_round(struct sim_evaluator *e, const struct fb_model *model,
		const struct sim_data *d, struct sim_client *cl, int threads,
		double sums[4], uint64_t *users)
{
	fb_reps_compute(&e->reps, model, &e->cat);
	memset(sums, 0, 4 * sizeof(double));
	*users = 0;
	for (uint32_t k = 0; k < d->k; k++) {
		const struct fb_matrix *P = &cl[k].n.st.P;
		const struct fb_dataset *ds = d->parts[k];
		if (P->rows != ds->n_users || P->cols != model->dim) {
			continue; // never trained: nothing to evaluate
		}
		struct fb_matrix u = {P->rows, P->cols, e->users.data};
		fb_user_reps_compute(&u, P, &ds->ui, &e->reps);
		struct fb_eval_result r;
		fb_err err = fb_eval_ranking(&u, &e->reps.bundle, &ds->ub_train,
				&ds->ub_test, sim_eval_ks, 2, threads, &r);
		if (err != FB_OK) {
			return err;
		}
		sums[0] += r.sum.recall[0];
		sums[1] += r.sum.ndcg[0];
		sums[2] += r.sum.recall[1];
		sums[3] += r.sum.ndcg[1];
		*users += r.n_users;
	}
	return FB_OK;
}
