// common/model/train.c: the BPR trainer. A batch of users is split into one
// contiguous range per worker thread; each worker runs its users' samples
// against the batch's (fixed) representations, updates their user factors
// by SGD, and sums their representation gradients into its own
// accumulator. Every user's negatives come from a stream keyed by the
// seed, the batch's stream and the user alone, so what a user contributes
// never depends on the other users, the batch order or the thread count.
// A DP release (fb_trainer_batch_release) clips each user's contribution,
// puts it on the fixed-point grid with an exact integer norm check and sums
// in 64-bit integers: removing a user moves the sum by at most the clip,
// bit for bit, and the sum is the same for every thread count. The
// non-private float accumulators are reduced in thread order, so a run
// depends only on the seed and the thread count. The optimizer then
// updates V, W, M through the catalogue's public linear map.
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/model/train.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/parallel.h"

#define MAX_WORKERS 64
#define NEG_TRIES 16 // rejection-sampling attempts for a negative

// A set of rows of a matrix, with O(1) insertion and cheap reset.
struct rowset {
	uint8_t *mark;
	uint32_t *rows;
	uint32_t n;
};

struct worker {
	struct fb_trainer *t;
	struct fb_rep_grad acc;     // this worker's sum over its users
	struct rowset acc_b, acc_i; // rows of acc that are non-zero
	struct fb_rep_grad one;     // one user's contribution (clipping)
	struct rowset one_b, one_i;
	float *urep; // d floats: the current user's representation
	float *gu;   // d floats: one sample's gradient w.r.t. urep
	float *gh;   // d floats: summed gradient w.r.t. the user's item view
	// 2 d floats: where item gradients go when items are not trained.
	float *sink;
	uint32_t *spos, *sneg; // one user's samples (positive, negative)
	// A DP release's exact sum over this worker's users (the packed
	// layout; rows listed in acc_b, acc_i), allocated by the first one.
	int64_t *iacc;
	size_t iacc_len;
	// The current task.
	const uint32_t *users;
	uint32_t n_users;
	uint64_t stream;
	double clip;     // > 0: a DP release (worker_release)
	double inv_grid; // 1 / grid
	uint64_t bound2; // floor(clip / grid)^2
	struct fb_release_layout layout;
	struct fb_train_stats stats;
};

struct fb_trainer {
	const struct fb_dataset *ds;
	struct fb_catalog cat;
	struct fb_model *model;
	struct fb_matrix *P;
	struct fb_train_config cfg;
	struct fb_reps reps;
	// The model changed since reps were computed (an apply): they are
	// recomputed when next read (ensure_reps), so the last step of a
	// client's round does not pay for representations nobody reads.
	// With items frozen a step changes only W, so only the bundle
	// representations are stale.
	bool item_reps_stale;
	bool bundle_reps_stale;
	int n_workers;
	struct worker workers[MAX_WORKERS];
	struct fb_rep_grad batch;   // reduced batch gradient
	struct fb_matrix grad_item; // gradient of item reps incl. bundle view
	struct fb_model grad;       // gradient of V, W, M
	struct fb_model adam_m, adam_v;
	uint64_t adam_t;
	float *inv_bundle_size; // 1 / |b|
	float *inv_attr_count;  // 1 / |attrs(i)|
	uint32_t *active;       // users with training interactions
	uint32_t n_active;
	uint32_t *order; // epoch's shuffled copy of active
	// fb_trainer_set_bias_anchor: the bias column's weight decay pulls
	// toward this (n_bundles) instead of 0; NULL: toward 0.
	float *bias_anchor;
};

void
fb_train_config_defaults(struct fb_train_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	fb_hparams_defaults(&cfg->hp);
	cfg->epochs = 200;
	cfg->eval_every = 1;
	cfg->patience = 20;
	cfg->adam_beta1 = 0.9;
	cfg->adam_beta2 = 0.999;
	cfg->adam_eps = 1e-8;
	cfg->public_init = true;
	cfg->threads = 1;
	cfg->seed = 1;
	cfg->n_k = 2;
	cfg->ks[0] = 20;
	cfg->ks[1] = 40;
}

#define F(field) offsetof(struct fb_train_config, field)

// The keys of a centralized run beside the shared ones (hparams.c).
static const struct fb_cfg_field train_fields[] = {
		{"epochs", FB_CFG_U32, F(epochs), 1, 1e6,
				.help = "maximum epochs"},
		{"eval_every", FB_CFG_U32, F(eval_every), 1, 1e6,
				.help = "evaluate on the tune split every N epochs"},
		{"patience", FB_CFG_U32, F(patience), 0, 1e6,
				.help = "stop after N evaluations without improvement "
					"(0: never; ignored under DP, where the "
					"last epoch is kept)"},
		// The name this file used before the shared schema.
		{"neg_per_pos", FB_CFG_U32, F(hp.negatives), 1, 64,
				.help = "the same as negatives"},
		{"adam_beta1", FB_CFG_DOUBLE, F(adam_beta1), 0, 0.999999,
				.help = "Adam first-moment decay"},
		{"adam_beta2", FB_CFG_DOUBLE, F(adam_beta2), 0, 0.999999999,
				.help = "Adam second-moment decay"},
		{"adam_eps", FB_CFG_DOUBLE, F(adam_eps), 1e-30, 1,
				.help = "Adam epsilon"},
		{"public_init", FB_CFG_BOOL, F(public_init),
				.help = "initialise item factors from the public catalogue "
					"(bundle co-membership eigenvectors)"},
		{"threads", FB_CFG_U32, F(threads), 1, MAX_WORKERS,
				.help = "worker threads"},
		{"seed", FB_CFG_U64, F(seed), 0, 9007199254740992.0,
				.help = "random seed"},
		{"ks", FB_CFG_U32_LIST, F(ks), 1, FB_METRICS_MAX_CUTOFF,
				.list_max = FB_METRICS_MAX_K,
				.count_offset = F(n_k),
				.help = "evaluation cut-offs"},
};

const struct fb_cfg_field *
fb_train_config_fields(size_t *n)
{
	*n = sizeof(train_fields) / sizeof(train_fields[0]);
	return train_fields;
}

void
fb_train_config_sections(struct fb_train_config *cfg, const char *name,
		struct fb_cfg_section out[FB_TRAIN_CONFIG_SECTIONS])
{
	size_t n;
	const struct fb_cfg_field *f = fb_train_config_fields(&n);
	out[0] = (struct fb_cfg_section){name, f, n, cfg};
	f = fb_hparams_fields(&n);
	out[1] = (struct fb_cfg_section){name, f, n, &cfg->hp};
}

void
fb_train_rep_opts(const struct fb_train_config *cfg, struct fb_rep_opts *out)
{
	out->item_view = cfg->hp.item_view;
	out->use_attrs = cfg->hp.use_attrs;
	out->user_item_view = cfg->hp.user_item_view;
	out->bias = cfg->hp.bias;
}

void
fb_train_config_defaults_dp(struct fb_train_config *cfg)
{
	fb_train_config_defaults(cfg);
	cfg->epochs = 30;
	cfg->hp.optimizer = FB_OPT_SGD;
	// lr and bundle_rank: the pre-rule Youshu values (train.h); `train
	// --dp user` derives both from public quantities (dprule.h).
	cfg->hp.lr = 20;
	cfg->public_init = true;
	cfg->hp.train_items = false;
	cfg->hp.bias = true;
	cfg->hp.bundle_rank = 8;
	cfg->hp.lr_user = 0.02;
}

void
fb_train_release_layout(const struct fb_train_config *cfg, uint32_t n_items,
		uint32_t n_bundles, struct fb_release_layout *out)
{
	fb_hparams_release_layout(&cfg->hp, n_items, n_bundles, out);
	if (cfg->freeze_bias && out->last) {
		out->last = false;
		out->per_bundle = out->lead;
		out->len -= n_bundles;
	}
}

static void
set_column(struct fb_matrix *m, size_t col, float value)
{
	for (size_t r = 0; r < m->rows; r++) {
		fb_matrix_row(m, r)[col] = value;
	}
}

void
fb_train_init_bias(const struct fb_train_config *cfg, struct fb_model *model,
		struct fb_matrix *P)
{
	if (!cfg->hp.bias) {
		return;
	}
	size_t last = model->dim - 1;
	set_column(P, last, 1.0f);
	set_column(&model->V, last, 0.0f);
	set_column(&model->W, last, 0.0f);
	set_column(&model->M, last, 0.0f);
}

fb_err
fb_train_config_check(const struct fb_train_config *c)
{
	fb_err err = fb_hparams_check(&c->hp, "");
	if (err != FB_OK) {
		return err;
	}
	if (c->epochs < 1) {
		return fb_errorf(FB_EINVAL, "epochs: must be at least 1");
	}
	if (c->eval_every < 1) {
		return fb_errorf(FB_EINVAL, "eval_every: must be at least 1");
	}
	if (!(c->adam_beta1 >= 0 && c->adam_beta1 < 1) ||
			!(c->adam_beta2 >= 0 && c->adam_beta2 < 1) ||
			!(c->adam_eps > 0)) {
		return fb_errorf(FB_EINVAL,
				"adam: betas must be in [0, 1), eps > 0");
	}
	if (c->threads < 1 || c->threads > MAX_WORKERS) {
		return fb_errorf(FB_EINVAL, "threads: outside 1..%d",
				MAX_WORKERS);
	}
	struct fb_metrics m;
	err = fb_metrics_init(&m, c->ks, c->n_k);
	if (err != FB_OK) {
		return fb_errorf(err, "ks: %s", fb_last_error(err));
	}
	return FB_OK;
}

fb_err
fb_rep_grad_init(struct fb_rep_grad *g, const struct fb_model *model)
{
	memset(g, 0, sizeof(*g));
	if (fb_matrix_init(&g->bundle, model->n_bundles, model->dim) != FB_OK ||
			fb_matrix_init(&g->item, model->n_items, model->dim) !=
					FB_OK) {
		fb_rep_grad_finish(g);
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
fb_rep_grad_finish(struct fb_rep_grad *g)
{
	if (g == NULL) {
		return;
	}
	fb_matrix_finish(&g->bundle);
	fb_matrix_finish(&g->item);
}

static fb_err
rowset_init(struct rowset *s, size_t n)
{
	s->n = 0;
	s->mark = calloc(n > 0 ? n : 1, 1);
	s->rows = malloc((n > 0 ? n : 1) * sizeof(*s->rows));
	return s->mark != NULL && s->rows != NULL ? FB_OK : FB_ENOMEM;
}

static void
rowset_finish(struct rowset *s)
{
	free(s->mark);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}

static inline void
rowset_add(struct rowset *s, uint32_t r)
{
	if (!s->mark[r]) {
		s->mark[r] = 1;
		s->rows[s->n++] = r;
	}
}

// Zeroes the listed rows of m and empties the set.
static void
rowset_clear(struct rowset *s, struct fb_matrix *m)
{
	for (uint32_t k = 0; k < s->n; k++) {
		s->mark[s->rows[k]] = 0;
		memset(fb_matrix_row(m, s->rows[k]), 0,
				m->cols * sizeof(float));
	}
	s->n = 0;
}

static void
worker_finish(struct worker *w)
{
	fb_rep_grad_finish(&w->acc);
	fb_rep_grad_finish(&w->one);
	rowset_finish(&w->acc_b);
	rowset_finish(&w->acc_i);
	rowset_finish(&w->one_b);
	rowset_finish(&w->one_i);
	free(w->urep);
	free(w->gu);
	free(w->gh);
	free(w->sink);
	free(w->spos);
	free(w->sneg);
	free(w->iacc);
	w->iacc = NULL;
	w->iacc_len = 0;
	w->urep = w->gu = w->gh = w->sink = NULL;
	w->spos = w->sneg = NULL;
}

static fb_err
worker_init(struct worker *w, struct fb_trainer *t)
{
	memset(w, 0, sizeof(*w));
	w->t = t;
	const struct fb_model *m = t->model;
	w->urep = malloc(m->dim * sizeof(float));
	w->gu = malloc(m->dim * sizeof(float));
	w->gh = malloc(m->dim * sizeof(float));
	w->sink = malloc(2 * m->dim * sizeof(float));
	// Room for the samples of the user with the most interactions.
	const struct fb_dataset *ds = t->ds;
	size_t most = 1;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		size_t a = fb_csr_row_len(&ds->ub_train, u);
		size_t b = ds->ui.row_ptr != NULL ? fb_csr_row_len(&ds->ui, u)
						  : 0;
		most = a > most ? a : most;
		most = b > most ? b : most;
	}
	most *= t->cfg.hp.negatives;
	w->spos = malloc(most * sizeof(uint32_t));
	w->sneg = malloc(most * sizeof(uint32_t));
	if (w->urep == NULL || w->gu == NULL || w->gh == NULL ||
			w->sink == NULL || w->spos == NULL || w->sneg == NULL ||
			fb_rep_grad_init(&w->acc, m) != FB_OK ||
			fb_rep_grad_init(&w->one, m) != FB_OK ||
			rowset_init(&w->acc_b, m->n_bundles) != FB_OK ||
			rowset_init(&w->acc_i, m->n_items) != FB_OK ||
			rowset_init(&w->one_b, m->n_bundles) != FB_OK ||
			rowset_init(&w->one_i, m->n_items) != FB_OK) {
		worker_finish(w);
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
fb_trainer_destroy(struct fb_trainer *t)
{
	if (t == NULL) {
		return;
	}
	for (int k = 0; k < t->n_workers; k++) {
		worker_finish(&t->workers[k]);
	}
	fb_catalog_finish(&t->cat);
	fb_reps_finish(&t->reps);
	fb_rep_grad_finish(&t->batch);
	fb_matrix_finish(&t->grad_item);
	fb_model_finish(&t->grad);
	fb_model_finish(&t->adam_m);
	fb_model_finish(&t->adam_v);
	free(t->inv_bundle_size);
	free(t->inv_attr_count);
	free(t->active);
	free(t->order);
	free(t->bias_anchor);
	free(t);
}

fb_err
fb_trainer_create(struct fb_trainer **out, const struct fb_dataset *ds,
		struct fb_model *model, struct fb_matrix *P,
		const struct fb_train_config *cfg)
{
	fb_err err = fb_train_config_check(cfg);
	if (err != FB_OK) {
		return err;
	}
	if (model->n_items != ds->n_items ||
			model->n_bundles != ds->n_bundles ||
			P->rows != ds->n_users || P->cols != model->dim ||
			(model->n_attrs != 0 &&
					model->n_attrs != ds->n_attrs)) {
		return fb_errorf(FB_EINVAL,
				"model (%u items, %u bundles, %u attrs, d=%u) "
				"and users (%zu x %zu) do not fit the dataset "
				"(%u users, %u items, %u bundles, %u attrs)",
				model->n_items, model->n_bundles,
				model->n_attrs, model->dim, P->rows, P->cols,
				ds->n_users, ds->n_items, ds->n_bundles,
				ds->n_attrs);
	}
	struct fb_trainer *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		return FB_ENOMEM;
	}
	t->ds = ds;
	t->model = model;
	t->P = P;
	t->cfg = *cfg;
	err = fb_catalog_init(&t->cat, ds);
	if (err != FB_OK) {
		goto fail;
	}
	err = FB_ENOMEM;
	struct fb_rep_opts ro;
	fb_train_rep_opts(cfg, &ro);
	if (fb_reps_init(&t->reps, model, &ro) != FB_OK ||
			fb_rep_grad_init(&t->batch, model) != FB_OK ||
			fb_matrix_init(&t->grad_item, model->n_items,
					model->dim) != FB_OK ||
			fb_model_init(&t->grad, model->n_items,
					model->n_bundles, model->n_attrs,
					model->dim) != FB_OK) {
		goto fail;
	}
	if (cfg->hp.optimizer == FB_OPT_ADAM &&
			(fb_model_init(&t->adam_m, model->n_items,
					 model->n_bundles, model->n_attrs,
					 model->dim) != FB_OK ||
					fb_model_init(&t->adam_v,
							model->n_items,
							model->n_bundles,
							model->n_attrs,
							model->dim) != FB_OK)) {
		goto fail;
	}
	t->inv_bundle_size = calloc(ds->n_bundles + 1, sizeof(float));
	t->inv_attr_count = calloc(ds->n_items + 1, sizeof(float));
	t->active = malloc(((size_t)ds->n_users + 1) * sizeof(uint32_t));
	t->order = malloc(((size_t)ds->n_users + 1) * sizeof(uint32_t));
	if (t->inv_bundle_size == NULL || t->inv_attr_count == NULL ||
			t->active == NULL || t->order == NULL) {
		goto fail;
	}
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		uint32_t n = fb_csr_row_len(&ds->bi, b);
		t->inv_bundle_size[b] = n > 0 ? 1.0f / (float)n : 0.0f;
	}
	for (uint32_t i = 0; i < ds->n_items && ds->ia.row_ptr != NULL; i++) {
		uint32_t n = fb_csr_row_len(&ds->ia, i);
		t->inv_attr_count[i] = n > 0 ? 1.0f / (float)n : 0.0f;
	}
	for (uint32_t u = 0; u < ds->n_users; u++) {
		if (fb_csr_row_len(&ds->ub_train, u) > 0 ||
				(cfg->hp.item_weight > 0 &&
						fb_csr_row_len(&ds->ui, u) >
								0)) {
			t->active[t->n_active++] = u;
		}
	}
	for (uint32_t k = 0; k < cfg->threads; k++) {
		err = worker_init(&t->workers[k], t);
		if (err != FB_OK) {
			goto fail;
		}
		t->n_workers++;
	}
	t->reps.threads = (int)cfg->threads;
	fb_reps_compute(&t->reps, model, &t->cat);
	*out = t;
	return FB_OK;
fail:
	fb_trainer_destroy(t);
	return err;
}

fb_err
fb_trainer_restart(struct fb_trainer *t, const struct fb_train_config *cfg)
{
	fb_err err = fb_train_config_check(cfg);
	if (err != FB_OK) {
		return err;
	}
	// What fb_trainer_create sized or selected from the configuration.
	const struct fb_train_config *was = &t->cfg;
	struct fb_rep_opts ro, had;
	fb_train_rep_opts(cfg, &ro);
	fb_train_rep_opts(was, &had);
	if (cfg->threads != was->threads ||
			cfg->hp.optimizer != was->hp.optimizer ||
			cfg->hp.negatives != was->hp.negatives ||
			(cfg->hp.item_weight > 0) !=
					(was->hp.item_weight > 0) ||
			ro.item_view != had.item_view ||
			ro.use_attrs != had.use_attrs ||
			ro.user_item_view != had.user_item_view ||
			ro.bias != had.bias) {
		return fb_errorf(FB_EINVAL,
				"restart: the configuration changed what the "
				"trainer was built for");
	}
	t->cfg = *cfg;
	if (cfg->hp.optimizer == FB_OPT_ADAM) {
		fb_matrix_zero(&t->adam_m.V);
		fb_matrix_zero(&t->adam_m.W);
		fb_matrix_zero(&t->adam_m.M);
		fb_matrix_zero(&t->adam_v.V);
		fb_matrix_zero(&t->adam_v.W);
		fb_matrix_zero(&t->adam_v.M);
	}
	t->adam_t = 0;
	fb_trainer_refresh(t);
	return FB_OK;
}

const struct fb_train_config *
fb_trainer_config(const struct fb_trainer *t)
{
	return &t->cfg;
}

static void
ensure_reps(struct fb_trainer *t)
{
	if (t->item_reps_stale) {
		fb_reps_compute(&t->reps, t->model, &t->cat);
	} else if (t->bundle_reps_stale) {
		fb_reps_compute_bundles(&t->reps, t->model, &t->cat);
	}
	t->item_reps_stale = t->bundle_reps_stale = false;
}

const struct fb_reps *
fb_trainer_reps(struct fb_trainer *t)
{
	ensure_reps(t);
	return &t->reps;
}

const struct fb_rep_opts *
fb_trainer_rep_opts(const struct fb_trainer *t)
{
	return &t->reps.opts;
}

void
fb_trainer_refresh(struct fb_trainer *t)
{
	fb_reps_compute(&t->reps, t->model, &t->cat);
	t->item_reps_stale = t->bundle_reps_stale = false;
}

const uint32_t *
fb_trainer_active_users(const struct fb_trainer *t, uint32_t *n)
{
	*n = t->n_active;
	return t->active;
}

static inline double
softplus(double x)
{
	return x > 30 ? x : log1p(exp(x));
}

// Draws a column of [0, n_cols) that is not in the sorted row; returns
// UINT32_MAX if NEG_TRIES draws all hit the row (a user who has nearly
// everything), in which case the sample is skipped.
static uint32_t
draw_negative(struct fb_rng *rng, uint32_t n_cols, const uint32_t *row,
		uint32_t len)
{
	for (int k = 0; k < NEG_TRIES; k++) {
		uint32_t c = fb_rng_below(rng, n_cols);
		// Binary search in the user's (short, sorted) row.
		uint32_t lo = 0, hi = len;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (row[mid] < c) {
				lo = mid + 1;
			} else {
				hi = mid;
			}
		}
		if (lo == len || row[lo] != c) {
			return c;
		}
	}
	return UINT32_MAX;
}

// One BPR triple for the user representation u: adds the gradient of the
// loss with respect to the positive and negative representations into
// g_pos and g_neg, and writes the gradient with respect to u into gu.
// Returns the sample's loss.
static double
bpr_triple(const float *restrict u, const float *restrict pos,
		const float *restrict neg, float *restrict g_pos,
		float *restrict g_neg, float weight, float *restrict gu,
		size_t d)
{
	float x = fb_dot(u, pos, d) - fb_dot(u, neg, d);
	double loss = weight * softplus(-(double)x);
	float s = weight / (1.0f + expf(x)); // weight * sigmoid(-x)
	// d loss / d pos = -s u, d loss / d neg = +s u, d loss / d u =
	// -s (pos - neg), all at the current u.
	fb_axpy(g_pos, -s, u, d);
	fb_axpy(g_neg, s, u, d);
	for (size_t k = 0; k < d; k++) {
		gu[k] = s * (neg[k] - pos[k]);
	}
	return loss;
}

// SGD step of the user's factors p from the gradient gu of one sample;
// the same step is applied to the representation u built on p.
static void
user_step(float *restrict p, float *restrict u, const float *restrict gu,
		float lr, float l2, size_t d)
{
	// d excludes a bias coordinate, which stays at 1.
	for (size_t k = 0; k < d; k++) {
		float step = -lr * (gu[k] + l2 * p[k]);
		p[k] += step;
		u[k] += step;
	}
}

// Samples ahead whose rows are prefetched.
#define PREFETCH 4

// Draws cfg->hp.negatives negatives for every positive of row (sorted,
// len entries) into w->spos / w->sneg; returns the number of samples.
static uint32_t
draw_samples(struct worker *w, struct fb_rng *rng, const uint32_t *row,
		uint32_t len, uint32_t n_cols)
{
	uint32_t n = 0, per = w->t->cfg.hp.negatives;
	for (uint32_t k = 0; k < len; k++) {
		for (uint32_t r = 0; r < per; r++) {
			uint32_t neg = draw_negative(rng, n_cols, row, len);
			if (neg == UINT32_MAX) {
				continue;
			}
			w->spos[n] = row[k];
			w->sneg[n++] = neg;
		}
	}
	return n;
}

// Runs one user's samples, adding its representation gradient into
// (gb, sb) and (gi, si). Bundle scores use the user representation
// p_u + h_u, where h_u = mean of the item reps of the user's items when
// cfg->hp.user_item_view (its gradient flows to those items); item scores use
// p_u alone, so that an item never scores itself through h_u.
static void
run_user(struct worker *w, struct fb_rng *rng, uint32_t u, struct fb_matrix *gb,
		struct rowset *sb, struct fb_matrix *gi, struct rowset *si)
{
	const struct fb_trainer *t = w->t;
	const struct fb_dataset *ds = t->ds;
	const struct fb_train_config *cfg = &t->cfg;
	size_t d = t->model->dim;
	float *p = fb_matrix_row(t->P, u);
	float lr_user = (float)cfg->hp.lr_user, l2 = (float)cfg->hp.l2;
	float *urep = w->urep, *gu = w->gu, *gh = w->gh;
	size_t d_user = cfg->hp.bias ? d - 1 : d; // coordinates p_u learns
	bool items_trained = cfg->hp.train_items;
	// Item gradients go nowhere when items are not trained.
	float *sink_pos = w->sink, *sink_neg = w->sink + d;

	const uint32_t *items = NULL;
	uint32_t n_items = 0;
	if (ds->ui.row_ptr != NULL) {
		items = fb_csr_row(&ds->ui, u);
		n_items = fb_csr_row_len(&ds->ui, u);
	}
	bool view = cfg->hp.user_item_view && n_items > 0;
	memcpy(urep, p, d * sizeof(float));
	if (view) {
		memset(gh, 0, d * sizeof(float));
		float wt = 1.0f / (float)n_items;
		for (uint32_t k = 0; k < n_items; k++) {
			fb_axpy(urep, wt,
					fb_matrix_row(&t->reps.item, items[k]),
					d);
		}
		if (cfg->hp.bias) {
			urep[d - 1] = p[d - 1];
		}
	}

	// The samples are drawn first, so that the rows of the ones a few
	// places ahead can be prefetched while the current one is computed:
	// the rows are random, and their cache misses dominate otherwise.
	const uint32_t *row = fb_csr_row(&ds->ub_train, u);
	uint32_t len = fb_csr_row_len(&ds->ub_train, u);
	uint32_t n = draw_samples(w, rng, row, len, ds->n_bundles);
	for (uint32_t s = 0; s < n; s++) {
		if (s + PREFETCH < n) {
			uint32_t ap = w->spos[s + PREFETCH];
			uint32_t an = w->sneg[s + PREFETCH];
			fb_prefetch_row(fb_matrix_row(&t->reps.bundle, ap), d);
			fb_prefetch_row(fb_matrix_row(&t->reps.bundle, an), d);
			fb_prefetch_row(fb_matrix_row(gb, ap), d);
			fb_prefetch_row(fb_matrix_row(gb, an), d);
		}
		uint32_t pos = w->spos[s], neg = w->sneg[s];
		rowset_add(sb, pos);
		rowset_add(sb, neg);
		w->stats.loss += bpr_triple(urep,
				fb_matrix_row(&t->reps.bundle, pos),
				fb_matrix_row(&t->reps.bundle, neg),
				fb_matrix_row(gb, pos), fb_matrix_row(gb, neg),
				1.0f, gu, d);
		w->stats.samples++;
		user_step(p, urep, gu, lr_user, l2, d_user);
		if (view) {
			fb_axpy(gh, 1.0f, gu, d);
		}
	}
	if (view && items_trained) {
		// h_u = mean of the user's item reps: its gradient is spread
		// evenly over them.
		float wt = 1.0f / (float)n_items;
		for (uint32_t k = 0; k < n_items; k++) {
			rowset_add(si, items[k]);
			fb_axpy(fb_matrix_row(gi, items[k]), wt, gh, d);
		}
	}
	if (cfg->hp.item_weight <= 0) {
		return;
	}
	n = draw_samples(w, rng, items, n_items, ds->n_items);
	for (uint32_t s = 0; s < n; s++) {
		if (s + PREFETCH < n) {
			uint32_t ap = w->spos[s + PREFETCH];
			uint32_t an = w->sneg[s + PREFETCH];
			fb_prefetch_row(fb_matrix_row(&t->reps.item, ap), d);
			fb_prefetch_row(fb_matrix_row(&t->reps.item, an), d);
			if (items_trained) {
				fb_prefetch_row(fb_matrix_row(gi, ap), d);
				fb_prefetch_row(fb_matrix_row(gi, an), d);
			}
		}
		uint32_t pos = w->spos[s], neg = w->sneg[s];
		float *g_pos = sink_pos, *g_neg = sink_neg;
		if (items_trained) {
			rowset_add(si, pos);
			rowset_add(si, neg);
			g_pos = fb_matrix_row(gi, pos);
			g_neg = fb_matrix_row(gi, neg);
		}
		w->stats.loss += bpr_triple(p,
				fb_matrix_row(&t->reps.item, pos),
				fb_matrix_row(&t->reps.item, neg), g_pos, g_neg,
				(float)cfg->hp.item_weight, gu, d);
		w->stats.samples++;
		user_step(p, urep, gu, lr_user, l2, d_user);
	}
}

static double
rowset_sqnorm(const struct rowset *s, const struct fb_matrix *m)
{
	double sum = 0;
	for (uint32_t k = 0; k < s->n; k++) {
		const float *r = fb_matrix_row(m, s->rows[k]);
		for (size_t j = 0; j < m->cols; j++) {
			sum += (double)r[j] * r[j];
		}
	}
	return sum;
}

// Zeroes the bundle-factor coordinates that are not trained (the release
// layout's, hparams.h: what the aggregator masks too) in the rows of m
// listed in s, or in every row if s is NULL.
static void
mask_bundle_rows(const struct fb_trainer *t, struct fb_matrix *m,
		const struct rowset *s)
{
	struct fb_release_layout L;
	fb_train_release_layout(&t->cfg, 0, (uint32_t)m->rows, &L);
	if (s == NULL) {
		fb_release_mask_bundles(&L, m->data, m->rows);
		return;
	}
	for (size_t k = 0; k < s->n; k++) {
		fb_release_mask_bundles(&L, fb_matrix_row(m, s->rows[k]), 1);
	}
}

// The stream of user u's random choices in the batch of `stream`: a
// function of public values and the user alone (never of the other users
// or the thread that runs u).
static uint64_t
user_stream(uint64_t stream, uint32_t u)
{
	return (stream * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)u << 1 | 1);
}

// The generator of user u: its own stream, or (TEST ONLY,
// cfg.test_shared_stream) the worker's one stream seeded once per batch,
// which lets a user move every later user's negatives.
static void
seed_user(struct worker *w, struct fb_rng *rng, int thread, uint32_t u,
		bool first)
{
	const struct fb_train_config *cfg = &w->t->cfg;
	if (!cfg->test_shared_stream) {
		fb_rng_seed(rng, cfg->seed, user_stream(w->stream, u));
	} else if (first) {
		fb_rng_seed(rng, cfg->seed, w->stream * MAX_WORKERS + thread);
	}
}

// Non-private: every user's gradient summed in float.
static void
worker_run(void *ctx, int thread, size_t begin, size_t end)
{
	struct fb_trainer *t = ctx;
	struct worker *w = &t->workers[thread];
	struct fb_rng rng;
	memset(&w->stats, 0, sizeof(w->stats));
	for (size_t k = begin; k < end; k++) {
		uint32_t u = w->users[k];
		seed_user(w, &rng, thread, u, k == begin);
		w->stats.users++;
		run_user(w, &rng, u, &w->acc.bundle, &w->acc_b, &w->acc.item,
				&w->acc_i);
	}
}

// Sum of squares of trunc(x * s) over the released coordinates of the
// user's rows (w->one), stopping once it exceeds limit (so it never
// overflows: every term is below 2^62 when limit < 2^62); with add, the
// truncated values are added into w->iacc instead and the rows recorded.
static uint64_t
quantise_user(struct worker *w, double s, uint64_t limit, bool add)
{
	const struct fb_release_layout *L = &w->layout;
	uint64_t sum = 0;
	for (uint32_t k = 0; k < w->one_b.n; k++) {
		uint32_t r = w->one_b.rows[k];
		const float *x = fb_matrix_row(&w->one.bundle, r);
		int64_t *acc = w->iacc + (size_t)r * L->per_bundle;
		for (uint32_t c = 0; c < L->per_bundle; c++) {
			uint32_t col = c < L->lead ? c : L->dim - 1;
			int64_t q = (int64_t)((double)x[col] * s);
			if (add) {
				acc[c] += q;
			} else if ((sum += (uint64_t)(q * q)) > limit) {
				return sum;
			}
		}
		if (add) {
			rowset_add(&w->acc_b, r);
		}
	}
	size_t base = (size_t)L->n_bundles * L->per_bundle;
	for (uint32_t k = 0; k < w->one_i.n && L->items; k++) {
		uint32_t r = w->one_i.rows[k];
		const float *x = fb_matrix_row(&w->one.item, r);
		int64_t *acc = w->iacc + base + (size_t)r * L->dim;
		for (uint32_t c = 0; c < L->dim; c++) {
			int64_t q = (int64_t)((double)x[c] * s);
			if (add) {
				acc[c] += q;
			} else if ((sum += (uint64_t)(q * q)) > limit) {
				return sum;
			}
		}
		if (add) {
			rowset_add(&w->acc_i, r);
		}
	}
	return sum;
}

// A DP release: each user's contribution clipped to w->clip, truncated
// toward zero onto the grid (so no coordinate grows) and its squared norm
// in grid steps checked exactly against floor(clip / grid)^2; if float
// rounding of the clip left it a hair above, the scale shrinks until it
// fits. The integers are then added to the worker's exact sum.
static void
worker_release(void *ctx, int thread, size_t begin, size_t end)
{
	struct fb_trainer *t = ctx;
	struct worker *w = &t->workers[thread];
	double clip = w->clip;
	struct fb_rng rng;
	memset(&w->stats, 0, sizeof(w->stats));
	for (size_t k = begin; k < end; k++) {
		uint32_t u = w->users[k];
		seed_user(w, &rng, thread, u, k == begin);
		w->stats.users++;
		run_user(w, &rng, u, &w->one.bundle, &w->one_b, &w->one.item,
				&w->one_i);
		mask_bundle_rows(t, &w->one.bundle, &w->one_b);
		double norm = sqrt(rowset_sqnorm(&w->one_b, &w->one.bundle) +
				rowset_sqnorm(&w->one_i, &w->one.item));
		double scale = 1.0;
		if (!isfinite(norm)) {
			scale = 0.0; // a diverged user contributes nothing
		} else if (norm > clip) {
			scale = clip / norm;
			w->stats.clipped++;
		}
		if (norm > w->stats.max_user_norm) {
			w->stats.max_user_norm = norm;
		}
		double s = scale * w->inv_grid;
		for (int tries = 0; quantise_user(w, s, w->bound2, false) >
				w->bound2;
				tries++) {
			s = tries < 64 ? s * (1.0 - 0x1p-20) : 0.0;
		}
		quantise_user(w, s, w->bound2, true);
		rowset_clear(&w->one_b, &w->one.bundle);
		rowset_clear(&w->one_i, &w->one.item);
	}
}

// g += scale * acc over acc's rows, then acc is cleared.
static void
reduce_rows(struct fb_matrix *g, struct rowset *s, struct fb_matrix *acc,
		float scale)
{
	for (uint32_t k = 0; k < s->n; k++) {
		uint32_t r = s->rows[k];
		fb_axpy(fb_matrix_row(g, r), scale, fb_matrix_row(acc, r),
				g->cols);
	}
	rowset_clear(s, acc);
}

// Checks the batch's users and hands them to the workers.
static fb_err
start_batch(struct fb_trainer *t, const uint32_t *users, uint32_t n,
		uint64_t stream)
{
	for (uint32_t k = 0; k < n; k++) {
		if (users[k] >= t->ds->n_users) {
			return fb_errorf(FB_EINVAL, "batch: user %u of %u",
					users[k], t->ds->n_users);
		}
	}
	ensure_reps(t);
	for (int k = 0; k < t->n_workers; k++) {
		t->workers[k].users = users;
		t->workers[k].stream = stream;
		memset(&t->workers[k].stats, 0, sizeof(t->workers[k].stats));
	}
	return FB_OK;
}

static void
add_stats(struct fb_train_stats *sum, const struct fb_train_stats *s)
{
	sum->loss += s->loss;
	sum->samples += s->samples;
	sum->users += s->users;
	sum->clipped += s->clipped;
	if (s->max_user_norm > sum->max_user_norm) {
		sum->max_user_norm = s->max_user_norm;
	}
}

fb_err
fb_trainer_batch_gradient(struct fb_trainer *t, const uint32_t *users,
		uint32_t n, double normalizer, uint64_t stream,
		struct fb_rep_grad *g, struct fb_train_stats *stats)
{
	if (!(normalizer > 0)) {
		return fb_errorf(FB_EINVAL, "batch: normalizer must be > 0");
	}
	if (g->bundle.rows != t->model->n_bundles ||
			g->item.rows != t->model->n_items ||
			g->bundle.cols != t->model->dim) {
		return fb_errorf(FB_EINVAL, "batch: gradient shape mismatch");
	}
	fb_err err = start_batch(t, users, n, stream);
	if (err != FB_OK) {
		return err;
	}
	double t0 = fb_clock_s();
	fb_parallel_for(t->n_workers, n, worker_run, t);
	fb_matrix_zero(&g->bundle);
	fb_matrix_zero(&g->item);
	float scale = (float)(1.0 / normalizer);
	struct fb_train_stats sum = {0};
	for (int k = 0; k < t->n_workers; k++) {
		struct worker *w = &t->workers[k];
		reduce_rows(&g->bundle, &w->acc_b, &w->acc.bundle, scale);
		reduce_rows(&g->item, &w->acc_i, &w->acc.item, scale);
		add_stats(&sum, &w->stats);
	}
	mask_bundle_rows(t, &g->bundle, NULL);
	sum.seconds = fb_clock_s() - t0;
	if (stats != NULL) {
		*stats = sum;
	}
	return FB_OK;
}

// out += the worker's exact sum over its rows, which are then zeroed.
static void
reduce_release(struct worker *w, int64_t *out)
{
	const struct fb_release_layout *L = &w->layout;
	for (uint32_t k = 0; k < w->acc_b.n; k++) {
		uint32_t r = w->acc_b.rows[k];
		int64_t *src = w->iacc + (size_t)r * L->per_bundle;
		int64_t *dst = out + (size_t)r * L->per_bundle;
		for (size_t c = 0; c < L->per_bundle; c++) {
			dst[c] += src[c];
		}
		memset(src, 0, L->per_bundle * sizeof(*src));
		w->acc_b.mark[r] = 0;
	}
	w->acc_b.n = 0;
	size_t base = (size_t)L->n_bundles * L->per_bundle;
	for (uint32_t k = 0; k < w->acc_i.n; k++) {
		uint32_t r = w->acc_i.rows[k];
		int64_t *src = w->iacc + base + (size_t)r * L->dim;
		int64_t *dst = out + base + (size_t)r * L->dim;
		for (size_t c = 0; c < L->dim; c++) {
			dst[c] += src[c];
		}
		memset(src, 0, L->dim * sizeof(*src));
		w->acc_i.mark[r] = 0;
	}
	w->acc_i.n = 0;
}

fb_err
fb_trainer_batch_release(struct fb_trainer *t, const uint32_t *users,
		uint32_t n, double clip, int32_t grid_log2, uint64_t stream,
		int64_t *out, size_t len, struct fb_train_stats *stats)
{
	struct fb_release_layout L;
	fb_train_release_layout(
			&t->cfg, t->model->n_items, t->model->n_bundles, &L);
	double grid = ldexp(1.0, grid_log2);
	double steps = floor(clip / grid);
	if (!(clip > 0) || !(steps >= 1) || steps > FB_DP_CLIP_STEPS_MAX) {
		return fb_errorf(FB_EINVAL,
				"release: clip %g must be 1 to 2^31 grid steps of "
				"2^%d",
				clip, grid_log2);
	}
	if (len != L.len) {
		return fb_errorf(FB_EINVAL,
				"release: %zu coordinates, the layout has %zu",
				len, L.len);
	}
	if ((double)n * steps > 0x1p62) {
		return fb_errorf(FB_EINVAL,
				"release: %u users of %g grid steps could "
				"overflow the exact sum",
				n, steps);
	}
	fb_err err = start_batch(t, users, n, stream);
	if (err != FB_OK) {
		return err;
	}
	for (int k = 0; k < t->n_workers; k++) {
		struct worker *w = &t->workers[k];
		if (w->iacc_len != L.len) {
			free(w->iacc);
			w->iacc = calloc(L.len + 1, sizeof(*w->iacc));
			w->iacc_len = w->iacc != NULL ? L.len : 0;
			if (w->iacc == NULL) {
				return FB_ENOMEM;
			}
		}
		w->clip = clip;
		w->inv_grid = 1.0 / grid;
		w->bound2 = (uint64_t)steps * (uint64_t)steps;
		w->layout = L;
	}
	double t0 = fb_clock_s();
	fb_parallel_for(t->n_workers, n, worker_release, t);
	memset(out, 0, len * sizeof(*out));
	struct fb_train_stats sum = {0};
	for (int k = 0; k < t->n_workers; k++) {
		reduce_release(&t->workers[k], out);
		add_stats(&sum, &t->workers[k].stats);
	}
	sum.seconds = fb_clock_s() - t0;
	if (stats != NULL) {
		*stats = sum;
	}
	return FB_OK;
}

fb_err
fb_trainer_release_unpack(const struct fb_trainer *t, const int64_t *v,
		size_t len, double scale, struct fb_rep_grad *g)
{
	struct fb_release_layout L;
	fb_train_release_layout(
			&t->cfg, t->model->n_items, t->model->n_bundles, &L);
	if (len != L.len || g->bundle.rows != L.n_bundles ||
			g->item.rows != L.n_items || g->bundle.cols != L.dim ||
			g->item.cols != L.dim) {
		return fb_errorf(FB_EINVAL,
				"release: %zu coordinates for a layout of %zu",
				len, L.len);
	}
	// Each bundle row written whole (its untrained columns 0); the item
	// gradient only when the layout holds it (fb_trainer_apply does not
	// read it otherwise, and zeroing |I| x d floats per release costs more
	// than the release's noise).
	for (size_t r = 0; r < L.n_bundles; r++) {
		float *row = fb_matrix_row(&g->bundle, r);
		const int64_t *src = v + r * L.per_bundle;
		memset(row, 0, L.dim * sizeof(float));
		for (uint32_t c = 0; c < L.per_bundle; c++) {
			uint32_t col = c < L.lead ? c : L.dim - 1;
			row[col] = (float)((double)src[c] * scale);
		}
	}
	if (L.items) {
		const int64_t *src = v + (size_t)L.n_bundles * L.per_bundle;
		size_t m = (size_t)L.n_items * L.dim;
		for (size_t k = 0; k < m; k++) {
			g->item.data[k] = (float)((double)src[k] * scale);
		}
	}
	return FB_OK;
}

// Parallel pieces of fb_trainer_apply, each over disjoint output rows.
struct apply_ctx {
	struct fb_trainer *t;
	const struct fb_rep_grad *g;
};

// grad_item[i] = g.item[i] + sum over bundles b containing i of
// g.bundle[b] / |b| (the bundle view's mean is linear in the item reps).
static void
apply_item_grad(void *arg, int thread, size_t begin, size_t end)
{
	struct apply_ctx *c = arg;
	struct fb_trainer *t = c->t;
	size_t d = t->model->dim;
	for (size_t i = begin; i < end; i++) {
		float *out = fb_matrix_row(&t->grad_item, i);
		memcpy(out, fb_matrix_row(&c->g->item, i), d * sizeof(float));
		if (!t->reps.opts.item_view) {
			continue;
		}
		uint32_t n = fb_csr_row_len(&t->cat.ib, (uint32_t)i);
		const uint32_t *bs = fb_csr_row(&t->cat.ib, (uint32_t)i);
		for (uint32_t k = 0; k < n; k++) {
			fb_axpy(out, t->inv_bundle_size[bs[k]],
					fb_matrix_row(&c->g->bundle, bs[k]), d);
		}
	}
}

// grad M[a] = sum over items i with attribute a of grad_item[i] / |attrs(i)|.
static void
apply_attr_grad(void *arg, int thread, size_t begin, size_t end)
{
	struct apply_ctx *c = arg;
	struct fb_trainer *t = c->t;
	size_t d = t->model->dim;
	for (size_t a = begin; a < end; a++) {
		float *out = fb_matrix_row(&t->grad.M, a);
		memset(out, 0, d * sizeof(float));
		uint32_t n = fb_csr_row_len(&t->cat.ai, (uint32_t)a);
		const uint32_t *items = fb_csr_row(&t->cat.ai, (uint32_t)a);
		for (uint32_t k = 0; k < n; k++) {
			fb_axpy(out, t->inv_attr_count[items[k]],
					fb_matrix_row(&t->grad_item, items[k]),
					d);
		}
	}
}

// One optimizer step on a flat parameter array [begin, end).
static void
step_params(const struct fb_trainer *t, float *restrict param,
		const float *restrict grad, float *restrict m,
		float *restrict v, size_t begin, size_t end)
{
	float lr = (float)t->cfg.hp.lr, l2 = (float)t->cfg.hp.l2;
	if (t->cfg.hp.optimizer == FB_OPT_SGD) {
		for (size_t k = begin; k < end; k++) {
			param[k] -= lr * (grad[k] + l2 * param[k]);
		}
		return;
	}
	float b1 = (float)t->cfg.adam_beta1, b2 = (float)t->cfg.adam_beta2;
	float eps = (float)t->cfg.adam_eps;
	double tt = (double)t->adam_t;
	float c1 = (float)(1.0 / (1.0 - pow(t->cfg.adam_beta1, tt)));
	float c2 = (float)(1.0 / (1.0 - pow(t->cfg.adam_beta2, tt)));
	for (size_t k = begin; k < end; k++) {
		float gk = grad[k] + l2 * param[k];
		m[k] = b1 * m[k] + (1.0f - b1) * gk;
		v[k] = b2 * v[k] + (1.0f - b2) * gk * gk;
		param[k] -= lr * (m[k] * c1) / (sqrtf(v[k] * c2) + eps);
	}
}

struct step_ctx {
	struct fb_trainer *t;
	struct fb_matrix *param, *grad, *m, *v;
};

static void
step_range(void *arg, int thread, size_t begin, size_t end)
{
	struct step_ctx *c = arg;
	step_params(c->t, c->param->data, c->grad->data,
			c->m != NULL ? c->m->data : NULL,
			c->v != NULL ? c->v->data : NULL, begin, end);
}

static void
step_matrix(struct fb_trainer *t, struct fb_matrix *param,
		struct fb_matrix *grad, struct fb_matrix *m,
		struct fb_matrix *v)
{
	struct step_ctx c = {t, param, grad,
			t->cfg.hp.optimizer == FB_OPT_ADAM ? m : NULL,
			t->cfg.hp.optimizer == FB_OPT_ADAM ? v : NULL};
	fb_parallel_for(t->n_workers, fb_matrix_len(param), step_range, &c);
}

fb_err
fb_trainer_set_bias_anchor(struct fb_trainer *t, const float *anchor)
{
	if (!t->cfg.hp.bias || t->cfg.hp.optimizer != FB_OPT_SGD) {
		return fb_errorf(FB_EINVAL,
				"bias anchor: needs the bias and sgd (have bias "
				"%d, optimizer %s)",
				(int)t->cfg.hp.bias,
				t->cfg.hp.optimizer == FB_OPT_SGD ? "sgd"
								  : "adam");
	}
	size_t n = t->model->n_bundles;
	float *a = malloc((n > 0 ? n : 1) * sizeof(*a));
	if (a == NULL) {
		return FB_ENOMEM;
	}
	memcpy(a, anchor, n * sizeof(*a));
	free(t->bias_anchor);
	t->bias_anchor = a;
	return FB_OK;
}

// With an anchor, the SGD step on W's bias column just taken decayed it
// by lr l2 w; adding lr l2 a makes that lr l2 (w - a): the weight decay
// shrinks the correction w - a, not the prior.
static void
pull_to_anchor(struct fb_trainer *t)
{
	if (t->bias_anchor == NULL) {
		return;
	}
	float k = (float)(t->cfg.hp.lr * t->cfg.hp.l2);
	size_t last = t->model->dim - 1;
	for (uint32_t b = 0; b < t->model->n_bundles; b++) {
		fb_matrix_row(&t->model->W, b)[last] += k * t->bias_anchor[b];
	}
}

fb_err
fb_trainer_apply(struct fb_trainer *t, const struct fb_rep_grad *g)
{
	if (g->bundle.rows != t->model->n_bundles ||
			g->item.rows != t->model->n_items ||
			g->bundle.cols != t->model->dim ||
			g->item.cols != t->model->dim) {
		return fb_errorf(FB_EINVAL, "apply: gradient shape mismatch");
	}
	t->adam_t++;
	// The gradient of W, with untrained coordinates (bundle_rank) zeroed:
	// under DP they carry only noise.
	fb_matrix_copy(&t->grad.W, &g->bundle);
	mask_bundle_rows(t, &t->grad.W, NULL);
	step_matrix(t, &t->model->W, &t->grad.W, &t->adam_m.W, &t->adam_v.W);
	pull_to_anchor(t);
	t->bundle_reps_stale = true;
	if (!t->cfg.hp.train_items) {
		// V and M stay: neither the item representations nor the
		// gradient's map back to items and attributes is needed.
		return FB_OK;
	}
	// The map back reads only g, so it may follow W's step.
	struct apply_ctx c = {t, g};
	fb_parallel_for(t->n_workers, t->model->n_items, apply_item_grad, &c);
	if (t->reps.opts.use_attrs) {
		fb_parallel_for(t->n_workers, t->model->n_attrs,
				apply_attr_grad, &c);
	}
	t->item_reps_stale = true;
	step_matrix(t, &t->model->V, &t->grad_item, &t->adam_m.V, &t->adam_v.V);
	if (t->reps.opts.use_attrs) {
		step_matrix(t, &t->model->M, &t->grad.M, &t->adam_m.M,
				&t->adam_v.M);
	}
	return FB_OK;
}

fb_err
fb_trainer_epoch(struct fb_trainer *t, uint32_t epoch,
		struct fb_train_stats *stats)
{
	double t0 = fb_clock_s();
	struct fb_rng rng;
	fb_rng_seed(&rng, t->cfg.seed, 0x5eed0000ULL + epoch);
	memcpy(t->order, t->active, t->n_active * sizeof(uint32_t));
	fb_rng_shuffle_u32(&rng, t->order, t->n_active);
	struct fb_train_stats total = {0};
	uint32_t batch = t->cfg.hp.batch_users;
	for (uint32_t first = 0, k = 0; first < t->n_active;
			first += batch, k++) {
		uint32_t n = t->n_active - first < batch ? t->n_active - first
							 : batch;
		struct fb_train_stats s;
		uint64_t stream = ((uint64_t)epoch << 24) + k;
		fb_err err = fb_trainer_batch_gradient(t, t->order + first, n,
				(double)n, stream, &t->batch, &s);
		if (err == FB_OK) {
			err = fb_trainer_apply(t, &t->batch);
		}
		if (err != FB_OK) {
			return err;
		}
		total.loss += s.loss;
		total.samples += s.samples;
		total.users += s.users;
	}
	if (total.samples > 0) {
		total.loss /= (double)total.samples;
	}
	total.seconds = fb_clock_s() - t0;
	if (stats != NULL) {
		*stats = total;
	}
	return FB_OK;
}
