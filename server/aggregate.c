// server/aggregate.c: see aggregate.h. The tensors of an update are views
// into the opened message (wire.h); they are added straight into the
// accumulator with fb_axpy, so no copy of an update is ever made. An
// update is added only after agg_update_check, and a sum is applied only
// after agg_opt_check found the new model finite (round.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "config.h"
#include "fedbundle/net/bound.h"

fb_err
agg_accum_init(struct agg_accum *a, const struct fb_model *model)
{
	memset(a, 0, sizeof(*a));
	return fb_model_init(&a->sum, model->n_items, model->n_bundles,
			model->n_attrs, model->dim);
}

void
agg_accum_finish(struct agg_accum *a)
{
	if (a != NULL) {
		fb_model_finish(&a->sum);
	}
}

void
agg_accum_reset(struct agg_accum *a)
{
	fb_matrix_zero(&a->sum.V);
	fb_matrix_zero(&a->sum.W);
	if (a->sum.n_attrs > 0) {
		fb_matrix_zero(&a->sum.M);
	}
	a->n = 0;
	a->clipped = 0;
	a->max_norm = 0;
	a->recall_sum = 0;
	a->ndcg_sum = 0;
	a->eval_users = 0;
	a->loss_sum = 0;
}

// The model matrix a tensor id stands for, NULL for an unknown id.
static const struct fb_matrix *
target(const struct fb_model *m, uint16_t id)
{
	switch (id) {
	case FB_WIRE_TENSOR_ITEMS:
		return &m->V;
	case FB_WIRE_TENSOR_BUNDLES:
		return &m->W;
	case FB_WIRE_TENSOR_ATTR_PROJ:
		return m->n_attrs > 0 ? &m->M : NULL;
	}
	return NULL;
}

// Squared L2 norm and largest |element| of x[0..n).
static double sqnorm(const float *x, size_t n, float *amax);

uint16_t
agg_update_check(const struct fb_wire_update *u,
		const struct fb_wire_round_config *cfg,
		const struct fb_model *model,
		const struct agg_update_limit *lim, char *text, size_t cap,
		double *norm)
{
	bool seen[4] = {false, false, false, false};
	for (uint32_t k = 0; k < u->n_tensors; k++) {
		const struct fb_wire_tensor *t = &u->tensors[k];
		const struct fb_matrix *m = target(model, t->id);
		if (m == NULL) {
			continue; // §5.8: unknown ids are ignored
		}
		if (t->dtype != FB_WIRE_DTYPE_F32 || t->exp != 0) {
			snprintf(text, cap,
					"tensor %u: dtype %u, plan wants "
					"f32",
					t->id, t->dtype);
			return FB_WIRE_REASON_SHAPE_MISMATCH;
		}
		if (t->rows != m->rows || t->cols != m->cols) {
			snprintf(text, cap,
					"tensor %u is %ux%u, model is %zux%zu",
					t->id, t->rows, t->cols, m->rows,
					m->cols);
			return FB_WIRE_REASON_SHAPE_MISMATCH;
		}
		seen[t->id] = true;
	}
	for (uint16_t id = 1; id <= 3; id++) {
		if (target(model, id) != NULL && !seen[id]) {
			snprintf(text, cap, "tensor %u is missing", id);
			return FB_WIRE_REASON_SHAPE_MISMATCH;
		}
	}
	double sq = 0;
	float amax = 0;
	for (uint32_t k = 0; k < u->n_tensors; k++) {
		const struct fb_wire_tensor *t = &u->tensors[k];
		if (target(model, t->id) != NULL) {
			float a = 0;
			sq += sqnorm(t->data, (size_t)t->rows * t->cols, &a);
			amax = a > amax ? a : amax;
		}
	}
	if (norm != NULL) {
		*norm = sqrt(sq);
	}
	if (u->clip_norm != cfg->clip_norm ||
			u->noise_multiplier != cfg->noise_multiplier) {
		snprintf(text, cap,
				"claimed clip %g sigma %g, plan has clip %g "
				"sigma %g",
				u->clip_norm, u->noise_multiplier,
				cfg->clip_norm, cfg->noise_multiplier);
		return FB_WIRE_REASON_PRIVACY_MISMATCH;
	}
	// Every value is finite (the decoder's rule), so sq is finite: at
	// most 2^256 per element in double.
	if (lim != NULL && sqrt(sq) > lim->l2) {
		snprintf(text, cap, "update norm %.6g above the bound %.6g",
				sqrt(sq), lim->l2);
		return FB_WIRE_REASON_OVER_BOUND;
	}
	if (lim != NULL && amax > lim->linf) {
		snprintf(text, cap,
				"a coordinate of %.6g, above the bound %.6g",
				(double)amax, lim->linf);
		return FB_WIRE_REASON_OVER_BOUND;
	}
	text[0] = '\0';
	return FB_WIRE_REASON_NONE;
}

static double
sqnorm(const float *x, size_t n, float *amax)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	float a = 0;
	size_t k = 0;
	for (; k + 4 <= n; k += 4) {
		s0 += (double)x[k] * x[k];
		s1 += (double)x[k + 1] * x[k + 1];
		s2 += (double)x[k + 2] * x[k + 2];
		s3 += (double)x[k + 3] * x[k + 3];
		for (size_t j = 0; j < 4; j++) {
			float v = fabsf(x[k + j]);
			a = v > a ? v : a;
		}
	}
	for (; k < n; k++) {
		s0 += (double)x[k] * x[k];
		float v = fabsf(x[k]);
		a = v > a ? v : a;
	}
	if (amax != NULL) {
		*amax = a;
	}
	return s0 + s1 + s2 + s3;
}

void
agg_accum_add(struct agg_accum *a, const struct fb_wire_update *u, double clip,
		double *norm)
{
	double sq = 0;
	for (uint32_t k = 0; k < u->n_tensors; k++) {
		const struct fb_wire_tensor *t = &u->tensors[k];
		if (target(&a->sum, t->id) != NULL) {
			sq += sqnorm(t->data, (size_t)t->rows * t->cols, NULL);
		}
	}
	double nrm = sqrt(sq);
	a->max_norm = nrm > a->max_norm ? nrm : a->max_norm;
	float scale = 1.0f;
	if (clip > 0 && nrm > clip) {
		// Rounded down so the clipped norm never exceeds clip.
		scale = nextafterf((float)(clip / nrm), 0.0f);
		a->clipped++;
	}
	for (uint32_t k = 0; k < u->n_tensors; k++) {
		const struct fb_wire_tensor *t = &u->tensors[k];
		struct fb_matrix *m =
				(struct fb_matrix *)target(&a->sum, t->id);
		if (m != NULL) {
			fb_axpy(m->data, scale, t->data, fb_matrix_len(m));
		}
	}
	a->n++;
	a->recall_sum += u->recall_sum;
	a->ndcg_sum += u->ndcg_sum;
	a->eval_users += u->eval_users;
	a->loss_sum += u->train_loss;
	if (norm != NULL) {
		*norm = nrm;
	}
}

void
agg_accum_note(struct agg_accum *a, const struct fb_wire_update *u, double norm,
		bool clipped)
{
	a->max_norm = norm > a->max_norm ? norm : a->max_norm;
	a->clipped += clipped;
	a->n++;
	a->recall_sum += u->recall_sum;
	a->ndcg_sum += u->ndcg_sum;
	a->eval_users += u->eval_users;
	a->loss_sum += u->train_loss;
}

size_t
agg_central_len(const struct fb_model *model, const struct fb_release_layout *L)
{
	return fb_release_model_len(L, model->n_attrs);
}

fb_err
agg_central_init(struct agg_central *c, const struct fb_model *model,
		const struct fb_release_layout *L, double clip,
		int32_t grid_log2)
{
	memset(c, 0, sizeof(*c));
	double grid = ldexp(1.0, grid_log2);
	double steps = floor(clip / grid);
	if (!(steps >= 1) || steps > 0x1p31) {
		return fb_errorf(FB_EINVAL,
				"central sum: clip %g is not 1 to 2^31 grid steps "
				"of 2^%d",
				clip, grid_log2);
	}
	c->len = agg_central_len(model, L);
	c->sum = calloc(c->len + 1, sizeof(*c->sum));
	if (c->sum == NULL) {
		return FB_ENOMEM;
	}
	c->lead = L->lead;
	c->last = L->last;
	c->items = L->items;
	c->clip = clip;
	c->inv_grid = 1.0 / grid;
	c->bound2 = (uint64_t)steps * (uint64_t)steps;
	return FB_OK;
}

void
agg_central_finish(struct agg_central *c)
{
	if (c != NULL) {
		free(c->sum);
		memset(c, 0, sizeof(*c));
	}
}

void
agg_central_reset(struct agg_central *c)
{
	memset(c->sum, 0, c->len * sizeof(*c->sum));
}

// The update's tensor of id, or NULL.
static const struct fb_wire_tensor *
tensor_of(const struct fb_wire_update *u, uint16_t id)
{
	for (uint32_t k = 0; k < u->n_tensors; k++) {
		if (u->tensors[k].id == id) {
			return &u->tensors[k];
		}
	}
	return NULL;
}

// Walks the trained coordinates of u in packed order: with add, adds
// trunc(x * s) into c->sum; without, returns the sum of their squares,
// stopping once above limit (every term is below 2^62, so no overflow).
// With s = 0 and `square` it returns the float sum of squares instead.
static double
walk(struct agg_central *c, const struct fb_wire_update *u, double s,
		uint64_t limit, bool add, bool square)
{
	uint64_t acc = 0;
	double fsq = 0;
	size_t at = 0;
	const struct fb_wire_tensor *w = tensor_of(u, FB_WIRE_TENSOR_BUNDLES);
	uint32_t per = c->lead + (c->last ? 1 : 0);
	for (uint32_t r = 0; w != NULL && r < w->rows; r++) {
		const float *row = (const float *)w->data + (size_t)r * w->cols;
		for (uint32_t k = 0; k < per; k++, at++) {
			double x = row[k < c->lead ? k : w->cols - 1];
			if (square) {
				fsq += x * x;
				continue;
			}
			int64_t q = (int64_t)(x * s);
			if (add) {
				c->sum[at] += q;
			} else if ((acc += (uint64_t)(q * q)) > limit) {
				return (double)acc;
			}
		}
	}
	static const uint16_t ids[2] = {
			FB_WIRE_TENSOR_ITEMS, FB_WIRE_TENSOR_ATTR_PROJ};
	for (int t = 0; t < 2 && c->items; t++) {
		const struct fb_wire_tensor *m = tensor_of(u, ids[t]);
		size_t n = m != NULL ? (size_t)m->rows * m->cols : 0;
		const float *x = m != NULL ? m->data : NULL;
		for (size_t j = 0; j < n && at < c->len; j++, at++) {
			if (square) {
				fsq += (double)x[j] * x[j];
				continue;
			}
			int64_t q = (int64_t)((double)x[j] * s);
			if (add) {
				c->sum[at] += q;
			} else if ((acc += (uint64_t)(q * q)) > limit) {
				return (double)acc;
			}
		}
	}
	return square ? fsq : (double)acc;
}

void
agg_central_add(struct agg_central *c, const struct fb_wire_update *u,
		bool *clipped)
{
	double norm = sqrt(walk(c, u, 0, 0, false, true));
	double scale = 1.0;
	*clipped = false;
	if (!isfinite(norm)) {
		scale = 0.0; // the checks refuse these; contribute nothing
	} else if (norm > c->clip) {
		scale = c->clip / norm;
		*clipped = true;
	}
	double s = scale * c->inv_grid;
	for (int tries = 0; walk(c, u, s, c->bound2, false, false) >
			(double)c->bound2;
			tries++) {
		s = tries < 64 ? s * (1.0 - 0x1p-20) : 0.0;
	}
	walk(c, u, s, 0, true, false);
}

void
agg_central_unpack(const struct agg_central *c, const int64_t *v,
		struct fb_model *sum)
{
	double grid = 1.0 / c->inv_grid;
	fb_matrix_zero(&sum->W);
	fb_matrix_zero(&sum->V);
	fb_matrix_zero(&sum->M);
	size_t at = 0;
	uint32_t per = c->lead + (c->last ? 1 : 0);
	for (size_t r = 0; r < sum->W.rows; r++) {
		float *row = fb_matrix_row(&sum->W, r);
		for (uint32_t k = 0; k < per; k++, at++) {
			row[k < c->lead ? k : sum->W.cols - 1] =
					(float)((double)v[at] * grid);
		}
	}
	struct fb_matrix *ms[2] = {&sum->V, &sum->M};
	for (int t = 0; t < 2 && c->items; t++) {
		size_t n = fb_matrix_len(ms[t]);
		for (size_t j = 0; j < n && at < c->len; j++, at++) {
			ms[t]->data[j] = (float)((double)v[at] * grid);
		}
	}
}

fb_err
agg_opt_init(struct agg_opt *o, int kind, double lr, double beta1, double beta2,
		double tau, const struct fb_model *model)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->lr = lr;
	o->beta1 = beta1;
	o->beta2 = beta2;
	o->tau = tau;
	if (kind != AGG_OPT_FEDADAM) {
		return FB_OK;
	}
	fb_err err = fb_model_init(&o->m, model->n_items, model->n_bundles,
			model->n_attrs, model->dim);
	if (err == FB_OK) {
		err = fb_model_init(&o->v, model->n_items, model->n_bundles,
				model->n_attrs, model->dim);
	}
	if (err != FB_OK) {
		agg_opt_finish(o);
	}
	return err;
}

void
agg_opt_finish(struct agg_opt *o)
{
	if (o == NULL) {
		return;
	}
	fb_model_finish(&o->m);
	fb_model_finish(&o->v);
}

static void
adam_matrix(const struct agg_opt *o, struct fb_matrix *x,
		const struct fb_matrix *sum, struct fb_matrix *m,
		struct fb_matrix *v, double inv)
{
	float b1 = (float)o->beta1, b2 = (float)o->beta2;
	float lr = (float)o->lr, tau = (float)o->tau, s = (float)inv;
	size_t n = fb_matrix_len(x);
	for (size_t k = 0; k < n; k++) {
		float g = -sum->data[k] * s; // pseudo-gradient: -mean delta
		m->data[k] = b1 * m->data[k] + (1.0f - b1) * g;
		v->data[k] = b2 * v->data[k] + (1.0f - b2) * g * g;
		x->data[k] -= lr * m->data[k] / (sqrtf(v->data[k]) + tau);
	}
}

void
agg_opt_apply(struct agg_opt *o, struct fb_model *model,
		const struct fb_model *sum, double divisor)
{
	double inv = 1.0 / divisor;
	o->t++;
	if (o->kind == AGG_OPT_FEDAVG) {
		float a = (float)(o->lr * inv);
		fb_matrix_axpy(&model->V, a, &sum->V);
		fb_matrix_axpy(&model->W, a, &sum->W);
		if (model->n_attrs > 0) {
			fb_matrix_axpy(&model->M, a, &sum->M);
		}
		return;
	}
	adam_matrix(o, &model->V, &sum->V, &o->m.V, &o->v.V, inv);
	adam_matrix(o, &model->W, &sum->W, &o->m.W, &o->v.W, inv);
	if (model->n_attrs > 0) {
		adam_matrix(o, &model->M, &sum->M, &o->m.M, &o->v.M, inv);
	}
}

// The move of one coordinate x by FedAvg (a = lr / divisor) or FedAdam,
// with adam_matrix's float operations; *x_new and the moments are not
// written anywhere.
struct cand_acc {
	bool finite;
	float max_abs, move_linf;
	double move_sq;
};

static void
cand_add(struct cand_acc *c, float x, float x_new)
{
	float d = x_new - x;
	if (!isfinite(x_new) || !isfinite(d)) {
		c->finite = false;
		return;
	}
	float a = fabsf(x_new), m = fabsf(d);
	c->max_abs = a > c->max_abs ? a : c->max_abs;
	c->move_linf = m > c->move_linf ? m : c->move_linf;
	c->move_sq += (double)d * d;
}

static void
cand_matrix(const struct agg_opt *o, const struct fb_matrix *x,
		const struct fb_matrix *sum, const struct fb_matrix *m,
		const struct fb_matrix *v, double inv, struct cand_acc *c)
{
	size_t n = fb_matrix_len(x);
	if (o->kind == AGG_OPT_FEDAVG) {
		float a = (float)(o->lr * inv);
		for (size_t k = 0; k < n; k++) {
			cand_add(c, x->data[k], x->data[k] + a * sum->data[k]);
		}
		return;
	}
	float b1 = (float)o->beta1, b2 = (float)o->beta2;
	float lr = (float)o->lr, tau = (float)o->tau, s = (float)inv;
	for (size_t k = 0; k < n; k++) {
		float g = -sum->data[k] * s;
		float mk = b1 * m->data[k] + (1.0f - b1) * g;
		float vk = b2 * v->data[k] + (1.0f - b2) * g * g;
		if (!isfinite(mk) || !isfinite(vk)) {
			c->finite = false;
			continue;
		}
		cand_add(c, x->data[k],
				x->data[k] - lr * mk / (sqrtf(vk) + tau));
	}
}

void
agg_opt_check(const struct agg_opt *o, const struct fb_model *model,
		const struct fb_model *sum, double divisor,
		struct agg_candidate *out)
{
	double inv = 1.0 / divisor;
	struct cand_acc c = {true, 0, 0, 0};
	bool adam = o->kind == AGG_OPT_FEDADAM;
	cand_matrix(o, &model->V, &sum->V, adam ? &o->m.V : NULL,
			adam ? &o->v.V : NULL, inv, &c);
	cand_matrix(o, &model->W, &sum->W, adam ? &o->m.W : NULL,
			adam ? &o->v.W : NULL, inv, &c);
	if (model->n_attrs > 0) {
		cand_matrix(o, &model->M, &sum->M, adam ? &o->m.M : NULL,
				adam ? &o->v.M : NULL, inv, &c);
	}
	out->finite = c.finite && isfinite(c.move_sq);
	out->max_abs = c.max_abs;
	out->move_l2 = sqrt(c.move_sq);
	out->move_linf = c.move_linf;
}

double
agg_opt_step_linf(const struct agg_opt *o)
{
	if (o->kind != AGG_OPT_FEDADAM) {
		return INFINITY;
	}
	return o->lr * fb_bound_adam_ratio(o->beta1, o->beta2, o->t + 1, false);
}
