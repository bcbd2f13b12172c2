// common/model/floors.c: the two floors of include/fedbundle/model/floors.h.
// DP popularity: every user's weight vector is bounded on the DP layer's
// grid in integers before it is summed, so the exact sum moves by at most
// the clip when a user is removed, and the DP layer (budget, ledger, exact
// discrete Gaussian noise) releases it. The zero-release model: public
// factors from the catalogue, then one small least-squares solve per user
// that reads that user's row and the public matrices, nothing else, so a
// user's factor is a function of its own data alone, bit for bit. The same
// solve, against a model's representations instead of the public ones,
// gives the users' factors of a model that has none (an aggregator
// checkpoint evaluated at a retailer).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/floors.h"
#include "fedbundle/model/pretrain.h"
#include "fedbundle/util/rng.h"

#define MAX_DIM 256

void
fb_floors_pop_dp_config(
		const struct fb_dp_config *base, struct fb_dp_config *out)
{
	*out = *base;
	out->mode = FB_DP_USER;
	out->q = 1;
	out->steps = 1;
	out->clip = 1;
	out->sigma = 0;
}

uint64_t
fb_floors_clip_steps(double clip, int32_t grid_log2)
{
	double s = floor(ldexp(clip, -grid_log2));
	return s >= 0x1p63 ? UINT64_MAX : (uint64_t)s;
}

// floor(sqrt(x)) exactly.
static uint64_t
isqrt(uint64_t x)
{
	uint64_t r = (uint64_t)sqrt((double)x);
	while (r > 0 && r > x / r) {
		r--;
	}
	while ((r + 1) <= x / (r + 1)) {
		r++;
	}
	return r;
}

uint64_t
fb_floors_pop_weight(uint64_t clip_steps, uint32_t k, uint32_t m)
{
	uint64_t K = k > m ? k : m;
	if (K == 0 || clip_steps > (UINT64_C(1) << 31)) {
		return 0;
	}
	uint64_t s2 = clip_steps * clip_steps;
	uint64_t w = isqrt(s2 / K);
	// The bound, in integers: K w^2 <= S^2 (w^2 <= floor(S^2 / K)).
	while (w > 0 && w * w > s2 / K) {
		w--;
	}
	return w;
}

fb_err
fb_floors_pop_counts(const struct fb_csr *train, uint64_t clip_steps,
		uint32_t m, int64_t *counts)
{
	if (m == 0 || clip_steps > (UINT64_C(1) << 31)) {
		return fb_errorf(FB_EINVAL,
				"popularity floor: m %u must be >= 1 and the clip "
				"%llu grid steps at most 2^31",
				m, (unsigned long long)clip_steps);
	}
	memset(counts, 0, (size_t)train->n_cols * sizeof(*counts));
	for (uint32_t u = 0; u < train->n_rows; u++) {
		uint32_t k = fb_csr_row_len(train, u);
		if (k == 0) {
			continue;
		}
		int64_t w = (int64_t)fb_floors_pop_weight(clip_steps, k, m);
		const uint32_t *b = fb_csr_row(train, u);
		for (uint32_t j = 0; j < k; j++) {
			counts[b[j]] += w;
		}
	}
	return FB_OK;
}

fb_err
fb_floors_pop_release(struct fb_dp *dp, const struct fb_csr *train, uint32_t m,
		uint64_t round, int64_t *counts)
{
	const struct fb_dp_config *c = fb_dp_config_of(dp);
	struct fb_acct_grid g;
	fb_dp_acct_grid(dp, &g);
	if (c->mode != FB_DP_USER || c->q != 1 || g.dim != train->n_cols) {
		return fb_errorf(FB_EINVAL,
				"popularity floor: needs user-level DP with q 1 "
				"over %u bundles (have q %g over %llu)",
				train->n_cols, c->q, (unsigned long long)g.dim);
	}
	uint64_t S = fb_floors_clip_steps(c->clip, fb_dp_grid_log2(dp));
	if (m == 0 || S > (UINT64_C(1) << 31)) {
		return fb_errorf(FB_EINVAL,
				"popularity floor: m %u must be >= 1 and the clip "
				"at most 2^31 grid steps",
				m);
	}
	fb_err err = fb_dp_begin_release(dp, round);
	if (err == FB_OK) {
		err = fb_floors_pop_counts(train, S, m, counts);
	}
	if (err == FB_OK) {
		err = fb_dp_noise_i64(dp, counts, train->n_cols);
	}
	return err;
}

fb_err
fb_floors_prior_dp_config(const struct fb_dp_config *base, double share,
		struct fb_dp_config *out)
{
	if (!(share > 0 && share <= 1)) {
		return fb_errorf(FB_EINVAL,
				"popularity prior: share %g of the budget must "
				"be in (0, 1]",
				share);
	}
	struct fb_dp_config c;
	fb_floors_pop_dp_config(base, &c);
	double sigma = 0;
	fb_err err = fb_acct_calibrate_sigma(
			c.accountant, 1, 1, NULL, c.epsilon, c.delta, &sigma);
	if (err != FB_OK) {
		return err;
	}
	c.sigma = sigma / sqrt(share);
	*out = c;
	return FB_OK;
}

void
fb_floors_pop_bias(const int64_t *counts, uint32_t n, int32_t grid_log2,
		double clip, double sigma, float *bias)
{
	double unit = ldexp(1.0, grid_log2) / clip;
	for (uint32_t b = 0; b < n; b++) {
		double c = (double)counts[b] * unit;
		bias[b] = c > sigma ? (float)log(c / sigma) : 0.0f;
	}
}

struct ranked {
	int64_t count;
	uint32_t id;
};

static int
by_count_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->count != y->count) {
		return x->count > y->count ? -1 : 1;
	}
	return x->id < y->id ? -1 : (x->id > y->id);
}

fb_err
fb_floors_rank_scores(const int64_t *counts, uint32_t n, float *scores)
{
	if (n > (UINT32_C(1) << 24)) {
		return fb_errorf(FB_EINVAL,
				"popularity floor: %u bundles, more than float "
				"ranks hold exactly",
				n);
	}
	struct ranked *r = malloc((n > 0 ? n : 1) * sizeof(*r));
	if (r == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t b = 0; b < n; b++) {
		r[b].count = counts[b];
		r[b].id = b;
	}
	qsort(r, n, sizeof(*r), by_count_desc);
	for (uint32_t k = 0; k < n; k++) {
		scores[r[k].id] = (float)(n - k);
	}
	free(r);
	return FB_OK;
}

void
fb_floors_zr_defaults(struct fb_floors_zr_config *cfg)
{
	cfg->dim = 64;
	cfg->iters = 20;
	cfg->alpha = 20;
	cfg->lambda = 1;
	cfg->item_weight = 0.1;
	cfg->seed = 1;
}

void
fb_floors_public_finish(struct fb_floors_public *pub)
{
	if (pub == NULL) {
		return;
	}
	fb_matrix_finish(&pub->items);
	fb_matrix_finish(&pub->bundles);
	free(pub->gram);
	memset(pub, 0, sizeof(*pub));
}

// bundles[b] = mean of its items' rows, then the whole matrix scaled to
// RMS row norm 1.
static void
bundle_means(struct fb_floors_public *pub, const struct fb_csr *bi)
{
	size_t d = pub->dim;
	double sq = 0;
	for (uint32_t b = 0; b < bi->n_rows; b++) {
		float *q = fb_matrix_row(&pub->bundles, b);
		uint32_t n = fb_csr_row_len(bi, b);
		const uint32_t *it = fb_csr_row(bi, b);
		for (uint32_t k = 0; k < n; k++) {
			const float *v = fb_matrix_row(&pub->items, it[k]);
			for (size_t j = 0; j < d; j++) {
				q[j] += v[j];
			}
		}
		double nn = 0;
		for (size_t j = 0; j < d && n > 0; j++) {
			q[j] /= (float)n;
			nn += (double)q[j] * q[j];
		}
		if (nn > 0) {
			for (size_t j = 0; j < d; j++) {
				q[j] = (float)(q[j] / sqrt(nn));
			}
			nn = 1;
		}
		sq += nn;
	}
	pub->scale = sq > 0 ? 1.0 / sqrt(sq / bi->n_rows) : 1;
	fb_matrix_scale(&pub->bundles, (float)pub->scale);
}

// pub->gram = bundles^T bundles, in double.
static void
fill_gram(struct fb_floors_public *pub)
{
	size_t d = pub->dim;
	for (size_t b = 0; b < pub->bundles.rows; b++) {
		const float *q = fb_matrix_row(&pub->bundles, b);
		for (size_t i = 0; i < d; i++) {
			for (size_t j = 0; j <= i; j++) {
				pub->gram[i * d + j] += (double)q[i] * q[j];
			}
		}
	}
	for (size_t i = 0; i < d; i++) {
		for (size_t j = i + 1; j < d; j++) {
			pub->gram[i * d + j] = pub->gram[j * d + i];
		}
	}
}

fb_err
fb_floors_public_init(struct fb_floors_public *pub, const struct fb_csr *bi,
		const struct fb_floors_zr_config *cfg)
{
	memset(pub, 0, sizeof(*pub));
	if (cfg->dim == 0 || cfg->dim > MAX_DIM) {
		return fb_errorf(FB_EINVAL,
				"zero-release floor: dim %u not in 1..%d",
				cfg->dim, MAX_DIM);
	}
	size_t d = cfg->dim;
	pub->dim = cfg->dim;
	fb_err err = fb_matrix_init(&pub->items, bi->n_cols, d);
	if (err == FB_OK) {
		err = fb_matrix_init(&pub->bundles, bi->n_rows, d);
	}
	pub->gram = calloc(d * d, sizeof(*pub->gram));
	if (err == FB_OK && pub->gram == NULL) {
		err = FB_ENOMEM;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, cfg->seed, 0x1417ULL);
	if (err == FB_OK) {
		err = fb_pretrain_items(
				&pub->items, bi, cfg->iters, 1.0f, &rng);
	}
	if (err != FB_OK) {
		fb_floors_public_finish(pub);
		return err;
	}
	bundle_means(pub, bi);
	fill_gram(pub);
	return FB_OK;
}

fb_err
fb_floors_fixed_init(struct fb_floors_public *pub,
		const struct fb_matrix *bundles, const struct fb_matrix *items,
		bool bias)
{
	memset(pub, 0, sizeof(*pub));
	size_t d = bundles->cols;
	if (d == 0 || d > MAX_DIM || items->cols != d || (bias && d < 2)) {
		return fb_errorf(FB_EINVAL,
				"fixed representations: bundles %zu x %zu and "
				"items %zu x %zu need one width in 1..%d (2.. "
				"with a bias)",
				bundles->rows, bundles->cols, items->rows,
				items->cols, MAX_DIM);
	}
	pub->dim = (uint32_t)d;
	pub->bias = bias;
	fb_err err = fb_matrix_init(&pub->items, items->rows, d);
	if (err == FB_OK) {
		err = fb_matrix_init(&pub->bundles, bundles->rows, d);
	}
	pub->gram = calloc(d * d, sizeof(*pub->gram));
	if (err == FB_OK && pub->gram == NULL) {
		err = FB_ENOMEM;
	}
	if (err == FB_OK) {
		err = fb_matrix_copy(&pub->items, items);
	}
	if (err == FB_OK) {
		err = fb_matrix_copy(&pub->bundles, bundles);
	}
	if (err != FB_OK) {
		fb_floors_public_finish(pub);
		return err;
	}
	double sq = fb_matrix_sqnorm(&pub->bundles);
	pub->scale = sq > 0 && bundles->rows > 0 ? sqrt(sq / bundles->rows) : 1;
	fill_gram(pub);
	return FB_OK;
}

// Solves A x = y in place (x overwrites y) for symmetric positive definite
// A (d x d, overwritten by its Cholesky factor). False if not definite.
static bool
cholesky_solve(double *A, double *y, size_t d)
{
	for (size_t j = 0; j < d; j++) {
		double s = A[j * d + j];
		for (size_t k = 0; k < j; k++) {
			s -= A[j * d + k] * A[j * d + k];
		}
		if (!(s > 0)) {
			return false;
		}
		A[j * d + j] = sqrt(s);
		for (size_t i = j + 1; i < d; i++) {
			double t = A[i * d + j];
			for (size_t k = 0; k < j; k++) {
				t -= A[i * d + k] * A[j * d + k];
			}
			A[i * d + j] = t / A[j * d + j];
		}
	}
	for (size_t i = 0; i < d; i++) { // L z = y
		double t = y[i];
		for (size_t k = 0; k < i; k++) {
			t -= A[i * d + k] * y[k];
		}
		y[i] = t / A[i * d + i];
	}
	for (size_t i = d; i-- > 0;) { // L^T x = z
		double t = y[i];
		for (size_t k = i + 1; k < d; k++) {
			t -= A[k * d + i] * y[k];
		}
		y[i] = t / A[i * d + i];
	}
	return true;
}

// A += c x x^T, y += t x for x = row (d floats) scaled by s.
static void
add_term(double *A, double *y, const float *row, double s, double c, double t,
		size_t d)
{
	for (size_t i = 0; i < d; i++) {
		double xi = s * row[i];
		y[i] += t * xi;
		for (size_t j = 0; j < d; j++) {
			A[i * d + j] += c * xi * (s * row[j]);
		}
	}
}

// The system A x = y (d x d) with x's last coordinate fixed to 1: y
// loses A's last column, and the leading (d - 1) x (d - 1) block is packed
// at the start of A with stride d - 1 (in place: no element moves up).
static void
fix_last(double *A, double *y, size_t d)
{
	size_t n = d - 1;
	for (size_t i = 0; i < n; i++) {
		y[i] -= A[i * d + n];
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			A[i * n + j] = A[i * d + j];
		}
	}
}

fb_err
fb_floors_user_solve(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_floors_history *h, float *p)
{
	size_t d = pub->dim;
	memset(p, 0, d * sizeof(*p));
	if (pub->bias) {
		p[d - 1] = 1.0f;
	}
	uint32_t n_items = cfg->item_weight > 0 ? h->n_items : 0;
	if (h->n_bundles == 0 && n_items == 0) {
		return FB_OK;
	}
	double *A = malloc(d * (d + 1) * sizeof(*A));
	if (A == NULL) {
		return FB_ENOMEM;
	}
	double *y = A + d * d;
	memcpy(A, pub->gram, d * d * sizeof(*A));
	memset(y, 0, d * sizeof(*y));
	for (size_t i = 0; i < d; i++) {
		A[i * d + i] += cfg->lambda;
	}
	fb_err err = FB_OK;
	for (uint32_t k = 0; k < h->n_bundles && err == FB_OK; k++) {
		if (h->bundles[k] >= pub->bundles.rows) {
			err = fb_errorf(FB_EINVAL,
					"zero-release floor: bundle %u of %zu",
					h->bundles[k], pub->bundles.rows);
			break;
		}
		add_term(A, y, fb_matrix_row(&pub->bundles, h->bundles[k]), 1,
				cfg->alpha, 1 + cfg->alpha, d);
	}
	// The user's own items, as extra positives in the same space (unit
	// rows scaled like a bundle's), weighted item_weight.
	double c = cfg->item_weight * (1 + cfg->alpha);
	for (uint32_t k = 0; k < n_items && err == FB_OK; k++) {
		if (h->items[k] >= pub->items.rows) {
			err = fb_errorf(FB_EINVAL,
					"zero-release floor: item %u of %zu",
					h->items[k], pub->items.rows);
			break;
		}
		const float *v = fb_matrix_row(&pub->items, h->items[k]);
		double nn = 0;
		for (size_t j = 0; j < d; j++) {
			nn += (double)v[j] * v[j];
		}
		if (nn > 0) {
			add_term(A, y, v, pub->scale / sqrt(nn), c, c, d);
		}
	}
	size_t n = pub->bias ? d - 1 : d; // the coordinates solved for
	if (pub->bias) {
		fix_last(A, y, d);
	}
	bool ok = err == FB_OK && cholesky_solve(A, y, n);
	for (size_t i = 0; ok && i < n; i++) {
		p[i] = (float)y[i];
	}
	if (pub->bias) {
		p[d - 1] = 1.0f;
	}
	free(A);
	if (err == FB_OK && !ok) {
		err = fb_errorf(FB_EINVAL,
				"zero-release floor: the system of a user with "
				"%u bundles is not positive definite (lambda %g)",
				h->n_bundles, cfg->lambda);
	}
	return err;
}

fb_err
fb_floors_users(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_csr *train, const struct fb_csr *ui,
		struct fb_matrix *P)
{
	if (train->n_cols != pub->bundles.rows) {
		return fb_errorf(FB_EINVAL,
				"zero-release floor: %u bundles vs %zu public",
				train->n_cols, pub->bundles.rows);
	}
	fb_err err = fb_matrix_init(P, train->n_rows, pub->dim);
	for (uint32_t u = 0; err == FB_OK && u < train->n_rows; u++) {
		struct fb_floors_history h = {fb_csr_row(train, u),
				fb_csr_row_len(train, u), NULL, 0};
		if (ui != NULL && u < ui->n_rows && fb_csr_nnz(ui) > 0) {
			h.items = fb_csr_row(ui, u);
			h.n_items = fb_csr_row_len(ui, u);
		}
		err = fb_floors_user_solve(pub, cfg, &h, fb_matrix_row(P, u));
	}
	if (err != FB_OK) {
		fb_matrix_finish(P);
	}
	return err;
}

fb_err
fb_floors_model_users(const struct fb_floors_public *pub,
		const struct fb_floors_zr_config *cfg,
		const struct fb_reps *reps, const struct fb_csr *train,
		const struct fb_csr *ui, struct fb_matrix *P)
{
	struct fb_floors_zr_config c = *cfg;
	if (ui == NULL) {
		c.item_weight = 0;
	}
	struct fb_matrix R = {0}, zero = {0}, base = {0};
	fb_err err = fb_floors_users(pub, &c, train, ui, &R);
	if (err == FB_OK) {
		err = fb_matrix_init(&zero, R.rows, R.cols);
	}
	if (err == FB_OK) {
		err = fb_matrix_init(&base, R.rows, R.cols);
	}
	if (err == FB_OK && ui != NULL) {
		// What the model adds to a user's factor: from a zero factor
		// (bias coordinate 0), exactly that.
		fb_user_reps_compute(&base, &zero, ui, reps);
	}
	if (err == FB_OK) {
		err = fb_matrix_axpy(&R, -1.0f, &base);
	}
	fb_matrix_finish(&zero);
	fb_matrix_finish(&base);
	if (err != FB_OK) {
		fb_matrix_finish(&R);
		return err;
	}
	*P = R;
	return FB_OK;
}
