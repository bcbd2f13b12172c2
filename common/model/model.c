// common/model/model.c: dense matrices, the shared model, representation caching
// and scoring. This is the only file that calls BLAS. The small vector
// kernels use eight partial sums so that gcc vectorises them at -O2 without
// -ffast-math (a single running sum does not vectorise).
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fb_config.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/parallel.h"

fb_err
fb_matrix_init(struct fb_matrix *m, size_t rows, size_t cols)
{
	m->rows = rows;
	m->cols = cols;
	m->data = NULL;
	size_t n = rows * cols;
	if (n == 0) {
		return FB_OK;
	}
	if (cols != 0 && n / cols != rows) {
		return FB_ENOMEM;
	}
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes);
	if (p == NULL) {
		return FB_ENOMEM;
	}
	memset(p, 0, bytes);
	m->data = p;
	return FB_OK;
}

void
fb_matrix_finish(struct fb_matrix *m)
{
	if (m == NULL) {
		return;
	}
	free(m->data);
	m->data = NULL;
	m->rows = 0;
	m->cols = 0;
}

fb_err
fb_matrix_copy(struct fb_matrix *dst, const struct fb_matrix *src)
{
	if (dst->rows != src->rows || dst->cols != src->cols) {
		return fb_errorf(FB_EINVAL, "matrix copy: %zux%zu into %zux%zu",
				src->rows, src->cols, dst->rows, dst->cols);
	}
	if (fb_matrix_len(src) > 0) {
		memcpy(dst->data, src->data,
				fb_matrix_len(src) * sizeof(float));
	}
	return FB_OK;
}

void
fb_matrix_zero(struct fb_matrix *m)
{
	if (fb_matrix_len(m) > 0) {
		memset(m->data, 0, fb_matrix_len(m) * sizeof(float));
	}
}

void
fb_matrix_randn(struct fb_matrix *m, struct fb_rng *rng, float std)
{
	size_t n = fb_matrix_len(m);
	for (size_t k = 0; k < n; k++) {
		m->data[k] = (float)(fb_rng_normal(rng) * std);
	}
}

bool
fb_matrix_all_finite(const struct fb_matrix *m)
{
	size_t n = fb_matrix_len(m);
	for (size_t k = 0; k < n; k++) {
		if (!isfinite(m->data[k])) {
			return false;
		}
	}
	return true;
}

double
fb_matrix_sqnorm(const struct fb_matrix *m)
{
	size_t n = fb_matrix_len(m);
	double s = 0;
	for (size_t k = 0; k < n; k++) {
		s += (double)m->data[k] * m->data[k];
	}
	return s;
}

void
fb_matrix_scale(struct fb_matrix *m, float alpha)
{
	size_t n = fb_matrix_len(m);
	for (size_t k = 0; k < n; k++) {
		m->data[k] *= alpha;
	}
}

fb_err
fb_matrix_axpy(struct fb_matrix *y, float alpha, const struct fb_matrix *x)
{
	if (y->rows != x->rows || y->cols != x->cols) {
		return fb_errorf(FB_EINVAL, "matrix axpy: %zux%zu += %zux%zu",
				y->rows, y->cols, x->rows, x->cols);
	}
	fb_axpy(y->data, alpha, x->data, fb_matrix_len(x));
	return FB_OK;
}

fb_err
fb_model_init(struct fb_model *model, uint32_t n_items, uint32_t n_bundles,
		uint32_t n_attrs, uint32_t dim)
{
	memset(model, 0, sizeof(*model));
	if (dim == 0) {
		return fb_errorf(FB_EINVAL, "model dimension must be positive");
	}
	model->dim = dim;
	model->n_items = n_items;
	model->n_bundles = n_bundles;
	model->n_attrs = n_attrs;
	if (fb_matrix_init(&model->V, n_items, dim) != FB_OK ||
			fb_matrix_init(&model->W, n_bundles, dim) != FB_OK ||
			fb_matrix_init(&model->M, n_attrs, dim) != FB_OK) {
		fb_model_finish(model);
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
fb_model_finish(struct fb_model *model)
{
	if (model == NULL) {
		return;
	}
	fb_matrix_finish(&model->V);
	fb_matrix_finish(&model->W);
	fb_matrix_finish(&model->M);
}

void
fb_model_randomize(struct fb_model *model, struct fb_rng *rng, float std)
{
	fb_matrix_randn(&model->V, rng, std);
	fb_matrix_randn(&model->W, rng, std);
	fb_matrix_randn(&model->M, rng, std);
}

fb_err
fb_model_copy(struct fb_model *dst, const struct fb_model *src)
{
	if (dst->V.data == NULL && dst->W.data == NULL) {
		fb_err err = fb_model_init(dst, src->n_items, src->n_bundles,
				src->n_attrs, src->dim);
		if (err != FB_OK) {
			return err;
		}
	}
	if (dst->dim != src->dim || dst->n_items != src->n_items ||
			dst->n_bundles != src->n_bundles ||
			dst->n_attrs != src->n_attrs) {
		return fb_errorf(FB_EINVAL, "model copy: shapes differ");
	}
	fb_matrix_copy(&dst->V, &src->V);
	fb_matrix_copy(&dst->W, &src->W);
	fb_matrix_copy(&dst->M, &src->M);
	return FB_OK;
}

fb_err
fb_catalog_init(struct fb_catalog *cat, const struct fb_dataset *ds)
{
	memset(cat, 0, sizeof(*cat));
	cat->bi = &ds->bi;
	cat->ia = &ds->ia;
	fb_err err = fb_csr_transpose(&cat->ib, &ds->bi);
	if (err == FB_OK) {
		err = fb_csr_transpose(&cat->ai, &ds->ia);
	}
	if (err != FB_OK) {
		fb_catalog_finish(cat);
	}
	return err;
}

void
fb_catalog_finish(struct fb_catalog *cat)
{
	if (cat == NULL) {
		return;
	}
	fb_csr_finish(&cat->ib);
	fb_csr_finish(&cat->ai);
}

fb_err
fb_reps_init(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_rep_opts *opts)
{
	memset(reps, 0, sizeof(*reps));
	reps->opts = *opts;
	reps->opts.use_attrs = opts->use_attrs && model->n_attrs > 0;
	reps->threads = 1;
	if (fb_matrix_init(&reps->item, model->n_items, model->dim) != FB_OK ||
			fb_matrix_init(&reps->bundle, model->n_bundles,
					model->dim) != FB_OK) {
		fb_reps_finish(reps);
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
fb_reps_finish(struct fb_reps *reps)
{
	if (reps == NULL) {
		return;
	}
	fb_matrix_finish(&reps->item);
	fb_matrix_finish(&reps->bundle);
}

struct reps_job {
	struct fb_reps *reps;
	const struct fb_model *model;
	const struct fb_catalog *cat;
};

// out = base[r] + mean over the columns c of row r of rel of src[c].
static void
mean_rows(float *restrict out, const float *restrict base,
		const struct fb_csr *rel, uint32_t r,
		const struct fb_matrix *src, size_t d)
{
	memcpy(out, base, d * sizeof(float));
	uint32_t n = fb_csr_row_len(rel, r);
	if (n == 0) {
		return;
	}
	const uint32_t *cols = fb_csr_row(rel, r);
	float w = 1.0f / (float)n;
	for (uint32_t k = 0; k < n; k++) {
		fb_axpy(out, w, fb_matrix_row(src, cols[k]), d);
	}
}

static void
item_reps_range(void *arg, int thread, size_t begin, size_t end)
{
	struct reps_job *j = arg;
	size_t d = j->model->dim;
	for (size_t i = begin; i < end; i++) {
		float *out = fb_matrix_row(&j->reps->item, i);
		const float *v = fb_matrix_row(&j->model->V, i);
		if (j->reps->opts.use_attrs) {
			mean_rows(out, v, j->cat->ia, (uint32_t)i, &j->model->M,
					d);
		} else {
			memcpy(out, v, d * sizeof(float));
		}
	}
}

static void
bundle_reps_range(void *arg, int thread, size_t begin, size_t end)
{
	struct reps_job *j = arg;
	size_t d = j->model->dim;
	for (size_t b = begin; b < end; b++) {
		float *out = fb_matrix_row(&j->reps->bundle, b);
		const float *w = fb_matrix_row(&j->model->W, b);
		if (j->reps->opts.item_view) {
			mean_rows(out, w, j->cat->bi, (uint32_t)b,
					&j->reps->item, d);
		} else {
			memcpy(out, w, d * sizeof(float));
		}
	}
}

void
fb_reps_compute(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_catalog *cat)
{
	struct reps_job j = {reps, model, cat};
	fb_parallel_for(reps->threads, model->n_items, item_reps_range, &j);
	fb_reps_compute_bundles(reps, model, cat);
}

void
fb_reps_compute_bundles(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_catalog *cat)
{
	struct reps_job j = {reps, model, cat};
	fb_parallel_for(reps->threads, model->n_bundles, bundle_reps_range, &j);
}

void
fb_user_reps_compute(struct fb_matrix *out, const struct fb_matrix *P,
		const struct fb_csr *ui, const struct fb_reps *reps)
{
	fb_matrix_copy(out, P);
	if (!reps->opts.user_item_view || ui->row_ptr == NULL) {
		return;
	}
	size_t d = P->cols;
	for (uint32_t u = 0; u < ui->n_rows && u < P->rows; u++) {
		uint32_t n = fb_csr_row_len(ui, u);
		const uint32_t *items = fb_csr_row(ui, u);
		float *row = fb_matrix_row(out, u);
		for (uint32_t k = 0; k < n; k++) {
			fb_axpy(row, 1.0f / (float)n,
					fb_matrix_row(&reps->item, items[k]),
					d);
		}
		if (reps->opts.bias) {
			row[d - 1] = fb_matrix_row(P, u)[d - 1];
		}
	}
}

void
fb_blas_set_threads(int n)
{
#ifdef FB_HAVE_OPENBLAS
	openblas_set_num_threads(n);
#else
	(void)n;
#endif
}

void
fb_model_score_block(const struct fb_matrix *users, size_t u0, size_t nu,
		const struct fb_matrix *targets, float *out)
{
	if (nu == 0 || targets->rows == 0) {
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nu,
			(int)targets->rows, (int)users->cols, 1.0f,
			fb_matrix_row(users, u0), (int)users->cols,
			targets->data, (int)targets->cols, 0.0f, out,
			(int)targets->rows);
}
