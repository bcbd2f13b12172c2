// common/model/pretrain.c: subspace iteration for the top eigenvectors of
// A^T A, A the bundle-item matrix with rows scaled by 1/sqrt(|b|). Each
// iteration is two sparse products (2 nnz d multiply-adds) and a
// modified Gram-Schmidt of d columns; the Rayleigh quotients give the
// eigenvalues used to weight the columns.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/pretrain.h"

// Y = A^T (A X) for X, Y items x d; tmp is bundles x d.
static void
apply_ata(const struct fb_csr *bi, const float *inv_sqrt,
		const struct fb_matrix *X, struct fb_matrix *tmp,
		struct fb_matrix *Y)
{
	size_t d = X->cols;
	fb_matrix_zero(tmp);
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		float *t = fb_matrix_row(tmp, b);
		const uint32_t *items = fb_csr_row(bi, b);
		uint32_t n = fb_csr_row_len(bi, b);
		for (uint32_t k = 0; k < n; k++) {
			fb_axpy(t, inv_sqrt[b], fb_matrix_row(X, items[k]), d);
		}
	}
	fb_matrix_zero(Y);
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		const float *t = fb_matrix_row(tmp, b);
		const uint32_t *items = fb_csr_row(bi, b);
		uint32_t n = fb_csr_row_len(bi, b);
		for (uint32_t k = 0; k < n; k++) {
			fb_axpy(fb_matrix_row(Y, items[k]), inv_sqrt[b], t, d);
		}
	}
}

// Orthonormalises the columns of X (modified Gram-Schmidt, in double).
static void
orthonormalise(struct fb_matrix *X, double *col_a, double *col_b)
{
	size_t n = X->rows, d = X->cols;
	for (size_t j = 0; j < d; j++) {
		for (size_t r = 0; r < n; r++) {
			col_a[r] = fb_matrix_row(X, r)[j];
		}
		for (size_t i = 0; i < j; i++) {
			double dot = 0;
			for (size_t r = 0; r < n; r++) {
				col_b[r] = fb_matrix_row(X, r)[i];
				dot += col_a[r] * col_b[r];
			}
			for (size_t r = 0; r < n; r++) {
				col_a[r] -= dot * col_b[r];
			}
		}
		double norm = 0;
		for (size_t r = 0; r < n; r++) {
			norm += col_a[r] * col_a[r];
		}
		norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
		for (size_t r = 0; r < n; r++) {
			fb_matrix_row(X, r)[j] = (float)(col_a[r] * norm);
		}
	}
}

fb_err
fb_pretrain_items(struct fb_matrix *V, const struct fb_csr *bi, uint32_t iters,
		float row_norm, struct fb_rng *rng)
{
	size_t n = V->rows, d = V->cols;
	if (bi->n_cols == n && d > n) {
		return fb_errorf(FB_EINVAL,
				"pretrain: factor dimension %zu is more than the "
				"catalogue's %zu items (the public initialisation "
				"takes d eigenvectors): set dim to at most %zu",
				d, n, n);
	}
	if (bi->n_cols != n || d == 0 || d > n) {
		return fb_errorf(FB_EINVAL,
				"pretrain: %zu x %zu factors for %u items", n,
				d, bi->n_cols);
	}
	struct fb_matrix Y = {0}, tmp = {0};
	float *inv_sqrt = malloc((bi->n_rows + 1) * sizeof(float));
	double *col_a = malloc(n * sizeof(double));
	double *col_b = malloc(n * sizeof(double));
	double *lambda = calloc(d, sizeof(double));
	fb_err err = FB_ENOMEM;
	if (inv_sqrt == NULL || col_a == NULL || col_b == NULL ||
			lambda == NULL || fb_matrix_init(&Y, n, d) != FB_OK ||
			fb_matrix_init(&tmp, bi->n_rows, d) != FB_OK) {
		goto out;
	}
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		uint32_t len = fb_csr_row_len(bi, b);
		inv_sqrt[b] = len > 0 ? 1.0f / sqrtf((float)len) : 0.0f;
	}
	fb_matrix_randn(V, rng, 1.0f);
	orthonormalise(V, col_a, col_b);
	for (uint32_t it = 0; it < iters; it++) {
		apply_ata(bi, inv_sqrt, V, &tmp, &Y);
		struct fb_matrix t = *V;
		*V = Y;
		Y = t;
		orthonormalise(V, col_a, col_b);
	}
	// Eigenvalues: Rayleigh quotients of the converged columns.
	apply_ata(bi, inv_sqrt, V, &tmp, &Y);
	for (size_t r = 0; r < n; r++) {
		for (size_t j = 0; j < d; j++) {
			lambda[j] += (double)fb_matrix_row(V, r)[j] *
					fb_matrix_row(&Y, r)[j];
		}
	}
	double total = 0;
	for (size_t r = 0; r < n; r++) {
		float *row = fb_matrix_row(V, r);
		for (size_t j = 0; j < d; j++) {
			row[j] *= (float)sqrt(lambda[j] > 0 ? lambda[j] : 0);
			total += (double)row[j] * row[j];
		}
	}
	// Scale to the requested RMS row norm over the items in bundles.
	uint32_t in_bundles = 0;
	uint8_t *seen = calloc(n, 1);
	if (seen == NULL) {
		goto out;
	}
	for (uint64_t k = 0; k < fb_csr_nnz(bi); k++) {
		in_bundles += !seen[bi->col[k]];
		seen[bi->col[k]] = 1;
	}
	double rms = in_bundles > 0 ? sqrt(total / in_bundles) : 0;
	float scale = rms > 0 ? (float)(row_norm / rms) : 0.0f;
	float std = row_norm / sqrtf((float)d);
	for (size_t r = 0; r < n; r++) {
		float *row = fb_matrix_row(V, r);
		for (size_t j = 0; j < d; j++) {
			row[j] = seen[r] ? row[j] * scale
					 : (float)(fb_rng_normal(rng) * std);
		}
	}
	free(seen);
	err = FB_OK;
out:
	fb_matrix_finish(&Y);
	fb_matrix_finish(&tmp);
	free(inv_sqrt);
	free(col_a);
	free(col_b);
	free(lambda);
	return err;
}
