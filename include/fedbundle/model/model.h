// include/fedbundle/model/model.h: the factor model and its dense math.
// Shared parameters (the global model the consortium trains): item factors
// V (|I| x d), bundle factors W (|B| x d) and an optional item-attribute
// projection M (|A| x d). Representations derived from them:
//   item   v_i = V_i + mean_{a in attrs(i)} M_a
//   bundle q_b = W_b + mean_{i in b} v_i          (bundle view + item view)
// User factors p_u are local to their owner and are a separate matrix.
// Scores: s(u, b) = p_u . q_b, s(u, i) = p_u . v_i.
// All matrices are row-major float, rows 64-byte aligned (cols padded to a
// multiple of 16 is NOT done: stride == cols). BLAS is called only here.
// Thread-safety: none; one owner at a time. fb_model_score_block may run
// concurrently on distinct output buffers.
#ifndef FB_INCLUDE_FEDBUNDLE_MODEL_H
#define FB_INCLUDE_FEDBUNDLE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/rng.h"

// A dense row-major rows x cols float matrix in 64-byte aligned memory.
struct fb_matrix {
	size_t rows;
	size_t cols;
	float *data;
};

// Allocates a zeroed rows x cols matrix (0 rows is allowed: data NULL).
fb_err fb_matrix_init(struct fb_matrix *m, size_t rows, size_t cols);

// Frees m's storage and zeroes it; NULL-safe, idempotent.
void fb_matrix_finish(struct fb_matrix *m);

// Copies src into dst; FB_EINVAL if shapes differ.
fb_err fb_matrix_copy(struct fb_matrix *dst, const struct fb_matrix *src);

// Sets every element to 0.
void fb_matrix_zero(struct fb_matrix *m);

// Fills m with N(0, std^2) draws from rng (initialisation only).
void fb_matrix_randn(struct fb_matrix *m, struct fb_rng *rng, float std);

// Row r of m.
static inline float *
fb_matrix_row(const struct fb_matrix *m, size_t r)
{
	return m->data + r * m->cols;
}

// Number of elements.
static inline size_t
fb_matrix_len(const struct fb_matrix *m)
{
	return m->rows * m->cols;
}

// True if every element is finite.
bool fb_matrix_all_finite(const struct fb_matrix *m);

// Squared L2 (Frobenius) norm, accumulated in double.
double fb_matrix_sqnorm(const struct fb_matrix *m);

// m *= alpha elementwise.
void fb_matrix_scale(struct fb_matrix *m, float alpha);

// y += alpha * x elementwise over the whole matrix; FB_EINVAL if shapes
// differ (y untouched).
fb_err fb_matrix_axpy(
		struct fb_matrix *y, float alpha, const struct fb_matrix *x);

// The shared (global) parameters.
struct fb_model {
	uint32_t dim;
	uint32_t n_items;
	uint32_t n_bundles;
	uint32_t n_attrs;   // 0: no attribute projection
	struct fb_matrix V; // n_items x dim
	struct fb_matrix W; // n_bundles x dim
	struct fb_matrix M; // n_attrs x dim (0 rows when n_attrs == 0)
};

// Allocates a zeroed model. The caller finishes it with fb_model_finish.
fb_err fb_model_init(struct fb_model *model, uint32_t n_items,
		uint32_t n_bundles, uint32_t n_attrs, uint32_t dim);

// Frees the model's matrices; NULL-safe.
void fb_model_finish(struct fb_model *model);

// Random N(0, std^2) initialisation of V, W and M from a seeded rng.
void fb_model_randomize(struct fb_model *model, struct fb_rng *rng, float std);

// dst = src (same shapes) / allocates-and-copies when dst is zeroed.
fb_err fb_model_copy(struct fb_model *dst, const struct fb_model *src);

// The public catalogue a model is defined over: bundle -> items and
// item -> attributes, with their transposes, precomputed once.
struct fb_catalog {
	const struct fb_csr *bi; // bundles x items (borrowed)
	const struct fb_csr *ia; // items x attrs (borrowed; nnz may be 0)
	struct fb_csr ib;        // items x bundles (owned transpose)
	struct fb_csr ai;        // attrs x items (owned transpose)
};

// Prepares the catalogue of ds (which must outlive it).
fb_err fb_catalog_init(struct fb_catalog *cat, const struct fb_dataset *ds);

// Frees what fb_catalog_init allocated; NULL-safe.
void fb_catalog_finish(struct fb_catalog *cat);

// How representations are formed from the parameters.
struct fb_rep_opts {
	bool item_view; // bundle rep adds the mean of its item reps
	bool use_attrs; // item rep adds the mean of its attribute factors
	// User rep (for bundles) adds the mean of the user's item reps;
	// computed where the user's data lives, never shared.
	bool user_item_view;
	// The last coordinate is a bias: every user's is fixed to 1, so an
	// item's or bundle's last coordinate is its popularity term.
	bool bias;
};

// Derived representations of items and bundles (see the top of this file).
struct fb_reps {
	struct fb_matrix item;   // n_items x dim
	struct fb_matrix bundle; // n_bundles x dim
	struct fb_rep_opts opts; // use_attrs is false if the model has no M
	int threads;             // threads fb_reps_compute uses (default 1)
};

// Allocates reps for model's shapes.
fb_err fb_reps_init(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_rep_opts *opts);

// Frees reps; NULL-safe.
void fb_reps_finish(struct fb_reps *reps);

// Recomputes all representations from model over cat, with reps->threads
// threads (the result does not depend on the thread count).
void fb_reps_compute(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_catalog *cat);

// Recomputes only the bundle representations, from W and the item
// representations already in reps (enough after a change of W alone).
void fb_reps_compute_bundles(struct fb_reps *reps, const struct fb_model *model,
		const struct fb_catalog *cat);

// User representations for scoring bundles: out[u] = P[u], plus the mean
// of the item reps of u's items (row u of ui) when opts->user_item_view.
// out must be P's shape.
void fb_user_reps_compute(struct fb_matrix *out, const struct fb_matrix *P,
		const struct fb_csr *ui, const struct fb_reps *reps);

// Sets the BLAS thread count (OpenBLAS uses every core by default).
void fb_blas_set_threads(int n);

// out[r][c] = users[r] . bundles[c] for users rows [u0, u0+nu) of `users`
// and all rows of `targets`: out is nu x targets->rows, row-major, through
// cblas_sgemm. out must hold nu * targets->rows floats.
void fb_model_score_block(const struct fb_matrix *users, size_t u0, size_t nu,
		const struct fb_matrix *targets, float *out);

// Dot product of two d-vectors with several partial sums (vectorises
// without -ffast-math).
static inline float
fb_dot(const float *restrict a, const float *restrict b, size_t d)
{
	float acc[8] = {0};
	size_t blocks = d / 8;
	for (size_t j = 0; j < blocks; j++) {
		for (size_t k = 0; k < 8; k++) {
			acc[k] += a[8 * j + k] * b[8 * j + k];
		}
	}
	float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
			((acc[4] + acc[5]) + (acc[6] + acc[7]));
	for (size_t k = 8 * blocks; k < d; k++) {
		s += a[k] * b[k];
	}
	return s;
}

// y += alpha * x over d elements.
static inline void
fb_axpy(float *restrict y, float alpha, const float *restrict x, size_t d)
{
	for (size_t i = 0; i < d; i++) {
		y[i] += alpha * x[i];
	}
}

// Hints that the d floats at p will be read soon (a no-op where the
// compiler has no prefetch builtin).
static inline void
fb_prefetch_row(const float *p, size_t d)
{
#if defined(__GNUC__)
	for (size_t k = 0; k < d; k += 16) {
		__builtin_prefetch(p + k);
	}
#else
	(void)p;
	(void)d;
#endif
}

#endif
