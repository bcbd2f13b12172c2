// common/data/partition.c: users -> retailers (partition.h). The recipe:
// clusters (given, or spherical k-means on a random projection of each
// user's rows into item space), then an IID shuffle or a per-cluster
// Dirichlet split, then a repair pass so no retailer is empty, then one
// dataset folder per retailer. Invariants: owner[] is a function from
// users onto [0, K); a retailer's local ids follow increasing global ids;
// every relation of a user is copied whole, so the union of the retailers
// mapped back through users.map is the input. Random draws come from
// fb_rng streams of the seed, so a seed fixes the output.
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedbundle/data/partition.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"

// Random streams of the seed.
#define S_ASSIGN (UINT64_C(1) << 40)
#define S_PROJECT (UINT64_C(2) << 40)
#define S_KMEANS (UINT64_C(3) << 40)

#define PROJ_DIM 32
#define KMEANS_MAX_ITER 20
// Largest accepted cluster id + 1: per-cluster tables stay small.
#define MAX_CLUSTERS 65536

void
fb_partition_config_defaults(struct fb_partition_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->n_retailers = 4;
	cfg->mode = FB_PARTITION_IID;
	cfg->alpha = 0.5;
	cfg->seed = 1;
	cfg->n_clusters = 16;
}

fb_err
fb_partition_read_clusters(const char *path, uint32_t n_users, uint32_t **out,
		uint32_t *n_clusters)
{
	char *buf = NULL;
	size_t len = 0;
	uint32_t *cluster = NULL;
	struct fb_pairs pairs = {0};
	fb_err err = fb_read_file(path, (size_t)n_users * 24 + 64, &buf, &len);
	if (err != FB_OK) {
		return err;
	}
	struct fb_pairs_spec spec = {
			.label = path,
			.first_name = "user",
			.second_name = "cluster",
			.n_first = n_users,
			.n_second = MAX_CLUSTERS,
	};
	if ((err = fb_pairs_parse(&pairs, &spec, buf, len)) != FB_OK) {
		goto fail;
	}
	cluster = malloc(((size_t)n_users + 1) * sizeof(*cluster));
	if (cluster == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	// UINT32_MAX marks "not seen yet"; ids are < MAX_CLUSTERS.
	for (uint32_t u = 0; u < n_users; u++) {
		cluster[u] = UINT32_MAX;
	}
	uint32_t top = 0;
	for (size_t k = 0; k < pairs.n; k++) {
		uint32_t u = pairs.first[k];
		if (cluster[u] != UINT32_MAX) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: user %u appears a second time",
					path, k + 1, u);
			goto fail;
		}
		cluster[u] = pairs.second[k];
		top = pairs.second[k] > top ? pairs.second[k] : top;
	}
	for (uint32_t u = 0; u < n_users; u++) {
		if (cluster[u] == UINT32_MAX) {
			err = fb_errorf(FB_EFORMAT,
					"%s: user %u has no cluster (the file "
					"must list all %u users)",
					path, u, n_users);
			goto fail;
		}
	}
	fb_pairs_finish(&pairs);
	free(buf);
	*out = cluster;
	*n_clusters = n_users > 0 ? top + 1 : 0;
	return FB_OK;
fail:
	fb_pairs_finish(&pairs);
	free(buf);
	free(cluster);
	return err;
}

// ------------------------------------------------------------- clustering

static void
normalise(float *x, uint32_t d)
{
	double n2 = 0;
	for (uint32_t k = 0; k < d; k++) {
		n2 += (double)x[k] * x[k];
	}
	if (n2 > 0) {
		float s = (float)(1.0 / sqrt(n2));
		for (uint32_t k = 0; k < d; k++) {
			x[k] *= s;
		}
	}
}

// Four partial sums: one running sum is a single dependency chain, and
// this is the k-means inner loop. PROJ_DIM is a multiple of 4.
static double
dot(const float *a, const float *b)
{
	double s[4] = {0, 0, 0, 0};
	for (uint32_t k = 0; k < PROJ_DIM; k += 4) {
		s[0] += (double)a[k] * b[k];
		s[1] += (double)a[k + 1] * b[k + 1];
		s[2] += (double)a[k + 2] * b[k + 2];
		s[3] += (double)a[k + 3] * b[k + 3];
	}
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static void
gaussian(struct fb_rng *r, float *v)
{
	for (uint32_t k = 0; k < PROJ_DIM; k++) {
		v[k] = (float)fb_rng_normal(r);
	}
}

static void
add(float *dst, const float *src, float w)
{
	for (uint32_t k = 0; k < PROJ_DIM; k++) {
		dst[k] += w * src[k];
	}
}

// User vectors from a random projection of the co-occurrence graph. Every
// bundle and every user draws a seeded Gaussian vector; an item's vector
// is the normalised sum of the vectors of the bundles that hold it and of
// the users who took it (through U-I, or through a training bundle), so
// items that share bundles or users point alike. A user then sums the
// (mean-centred) vectors of its U-I items and of its training bundles'
// items, each part normalised, so two users of similar taste come out
// close even without an item in common. Cost O(nnz x PROJ_DIM).
// has[u] is false for users with no U-I and no training pair.
static fb_err
project_users(const struct fb_dataset *ds, uint64_t seed, float *x, bool *has)
{
	const uint32_t D = PROJ_DIM;
	uint32_t I = ds->n_items, B = ds->n_bundles;
	float *iv = calloc((size_t)I * D, sizeof(*iv));
	float *bw = calloc((size_t)B * D, sizeof(*bw)); // bundle + its users
	float *bv = calloc((size_t)B * D, sizeof(*bv)); // mean item vector
	if (iv == NULL || bw == NULL || bv == NULL) {
		free(iv);
		free(bw);
		free(bv);
		return FB_ENOMEM;
	}
	float w[PROJ_DIM], a[PROJ_DIM], b[PROJ_DIM];
	struct fb_rng r;
	for (uint32_t t = 0; t < B; t++) {
		fb_rng_seed(&r, seed, S_PROJECT + t);
		gaussian(&r, w);
		add(bw + (size_t)t * D, w, 1.0f);
	}
	for (uint32_t u = 0; u < ds->n_users; u++) {
		fb_rng_seed(&r, seed, S_PROJECT + B + (uint64_t)u);
		gaussian(&r, w);
		const uint32_t *row = fb_csr_row(&ds->ui, u);
		uint32_t n = fb_csr_row_len(&ds->ui, u);
		for (uint32_t e = 0; e < n; e++) {
			add(iv + (size_t)row[e] * D, w, 1.0f);
		}
		row = fb_csr_row(&ds->ub_train, u);
		n = fb_csr_row_len(&ds->ub_train, u);
		for (uint32_t e = 0; e < n; e++) {
			add(bw + (size_t)row[e] * D, w, 1.0f);
		}
	}
	for (uint32_t t = 0; t < B; t++) {
		const uint32_t *row = fb_csr_row(&ds->bi, t);
		uint32_t n = fb_csr_row_len(&ds->bi, t);
		for (uint32_t e = 0; e < n; e++) {
			add(iv + (size_t)row[e] * D, bw + (size_t)t * D, 1.0f);
		}
	}
	double mean[PROJ_DIM] = {0};
	for (uint32_t i = 0; i < I; i++) {
		normalise(iv + (size_t)i * D, D);
		for (uint32_t k = 0; k < D; k++) {
			mean[k] += iv[(size_t)i * D + k];
		}
	}
	for (uint32_t i = 0; i < I; i++) {
		for (uint32_t k = 0; k < D; k++) {
			iv[(size_t)i * D + k] -= (float)(mean[k] / I);
		}
	}
	for (uint32_t t = 0; t < B; t++) {
		const uint32_t *row = fb_csr_row(&ds->bi, t);
		uint32_t n = fb_csr_row_len(&ds->bi, t);
		for (uint32_t e = 0; e < n; e++) {
			add(bv + (size_t)t * D, iv + (size_t)row[e] * D,
					1.0f / (float)n);
		}
	}
	for (uint32_t u = 0; u < ds->n_users; u++) {
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		const uint32_t *row = fb_csr_row(&ds->ui, u);
		uint32_t n = fb_csr_row_len(&ds->ui, u);
		for (uint32_t e = 0; e < n; e++) {
			add(a, iv + (size_t)row[e] * D, 1.0f);
		}
		row = fb_csr_row(&ds->ub_train, u);
		uint32_t m = fb_csr_row_len(&ds->ub_train, u);
		for (uint32_t e = 0; e < m; e++) {
			add(b, bv + (size_t)row[e] * D, 1.0f);
		}
		normalise(a, D);
		normalise(b, D);
		float *xu = x + (size_t)u * D;
		for (uint32_t k = 0; k < D; k++) {
			xu[k] = a[k] + b[k];
		}
		normalise(xu, D);
		has[u] = n + m > 0;
	}
	free(iv);
	free(bw);
	free(bv);
	return FB_OK;
}

// k-means++ seeding on unit vectors: distance^2 = 2 - 2 cos.
static void
kmeans_seed(const float *x, const bool *has, uint32_t U, uint32_t G,
		struct fb_rng *r, float *centre, double *d2)
{
	uint32_t n_has = 0;
	for (uint32_t u = 0; u < U; u++) {
		n_has += has[u];
	}
	for (uint32_t g = 0; g < G; g++) {
		double total = 0;
		for (uint32_t u = 0; g > 0 && u < U; u++) {
			total += has[u] ? d2[u] : 0;
		}
		uint32_t pick = 0;
		if (total > 0) {
			double t = fb_rng_uniform(r) * total;
			uint32_t last = 0;
			for (pick = 0; pick < U; pick++) {
				if (!has[pick] || d2[pick] <= 0) {
					continue;
				}
				last = pick;
				t -= d2[pick];
				if (t < 0) {
					break;
				}
			}
			pick = pick < U ? pick : last;
		} else {
			// First centre, or every point coincides with one:
			// a uniform user with vectors (or any user).
			uint32_t j = fb_rng_below(r, n_has > 0 ? n_has : U);
			for (pick = 0; pick < U; pick++) {
				if (n_has == 0 || has[pick]) {
					if (j == 0) {
						break;
					}
					j--;
				}
			}
		}
		float *c = centre + (size_t)g * PROJ_DIM;
		memcpy(c, x + (size_t)pick * PROJ_DIM, PROJ_DIM * sizeof(*c));
		for (uint32_t u = 0; u < U; u++) {
			double d = 2.0 - 2.0 * dot(x + (size_t)u * PROJ_DIM, c);
			d = d < 0 ? 0 : d;
			d2[u] = g == 0 || d < d2[u] ? d : d2[u];
		}
	}
}

fb_err
fb_partition_cluster_users(const struct fb_dataset *ds, uint32_t n_clusters,
		uint64_t seed, uint32_t *cluster)
{
	if (n_clusters == 0 || n_clusters > MAX_CLUSTERS) {
		return fb_errorf(FB_EINVAL, "clusters: %u not in [1, %u]",
				n_clusters, MAX_CLUSTERS);
	}
	uint32_t U = ds->n_users, G = n_clusters;
	float *x = malloc(((size_t)U * PROJ_DIM + 1) * sizeof(*x));
	bool *has = malloc((size_t)U + 1);
	double *d2 = malloc(((size_t)U + 1) * sizeof(*d2));
	float *centre = malloc((size_t)G * PROJ_DIM * sizeof(*centre));
	double *sum = malloc((size_t)G * PROJ_DIM * sizeof(*sum));
	uint32_t *count = malloc((size_t)G * sizeof(*count));
	uint32_t *assign = malloc(((size_t)U + 1) * sizeof(*assign));
	fb_err err = FB_ENOMEM;
	if (x == NULL || has == NULL || d2 == NULL || centre == NULL ||
			sum == NULL || count == NULL || assign == NULL) {
		goto fail;
	}
	if ((err = project_users(ds, seed, x, has)) != FB_OK) {
		goto fail;
	}
	struct fb_rng r;
	fb_rng_seed(&r, seed, S_KMEANS);
	kmeans_seed(x, has, U, G, &r, centre, d2);
	for (uint32_t u = 0; u < U; u++) {
		assign[u] = UINT32_MAX;
	}
	for (int it = 0; it < KMEANS_MAX_ITER; it++) {
		uint64_t changed = 0;
		for (uint32_t u = 0; u < U; u++) {
			if (!has[u]) {
				continue;
			}
			const float *xu = x + (size_t)u * PROJ_DIM;
			uint32_t best = 0;
			double best_s = -INFINITY;
			for (uint32_t g = 0; g < G; g++) {
				double s = dot(xu,
						centre + (size_t)g * PROJ_DIM);
				if (s > best_s) {
					best_s = s;
					best = g;
				}
			}
			changed += assign[u] != best;
			assign[u] = best;
			d2[u] = best_s; // similarity to the own centre
		}
		if (changed == 0) {
			break;
		}
		memset(sum, 0, (size_t)G * PROJ_DIM * sizeof(*sum));
		memset(count, 0, (size_t)G * sizeof(*count));
		for (uint32_t u = 0; u < U; u++) {
			if (!has[u]) {
				continue;
			}
			double *s = sum + (size_t)assign[u] * PROJ_DIM;
			for (uint32_t k = 0; k < PROJ_DIM; k++) {
				s[k] += x[(size_t)u * PROJ_DIM + k];
			}
			count[assign[u]]++;
		}
		for (uint32_t g = 0; g < G; g++) {
			float *c = centre + (size_t)g * PROJ_DIM;
			if (count[g] == 0) {
				// An empty cluster restarts at the user least
				// similar to its centre among clusters of > 1.
				uint32_t far = UINT32_MAX;
				for (uint32_t u = 0; u < U; u++) {
					if (has[u] && count[assign[u]] > 1 &&
							(far == UINT32_MAX ||
									d2[u] < d2[far])) {
						far = u;
					}
				}
				if (far != UINT32_MAX) {
					memcpy(c, x + (size_t)far * PROJ_DIM,
							PROJ_DIM * sizeof(*c));
					count[assign[far]]--;
					count[g] = 1;
					d2[far] = 1.0;
				}
				continue;
			}
			for (uint32_t k = 0; k < PROJ_DIM; k++) {
				c[k] = (float)(sum[(size_t)g * PROJ_DIM + k] /
						count[g]);
			}
			normalise(c, PROJ_DIM);
		}
	}
	for (uint32_t u = 0; u < U; u++) {
		cluster[u] = has[u] ? assign[u] : fb_rng_below(&r, G);
	}
	err = FB_OK;
fail:
	free(x);
	free(has);
	free(d2);
	free(centre);
	free(sum);
	free(count);
	free(assign);
	return err;
}

// ------------------------------------------------------------- assignment

// p ~ Dirichlet(alpha, ..., alpha) over k parts. When every Gamma draw
// underflows (tiny alpha), all mass goes to one uniform part, the limit of
// the distribution as alpha -> 0.
static void
dirichlet(struct fb_rng *r, double alpha, uint32_t k, double *p)
{
	double s = 0;
	for (uint32_t j = 0; j < k; j++) {
		p[j] = fb_rng_gamma(r, alpha);
		s += p[j];
	}
	if (!(s > 0) || !isfinite(s)) {
		uint32_t one = fb_rng_below(r, k);
		for (uint32_t j = 0; j < k; j++) {
			p[j] = j == one ? 1.0 : 0.0;
		}
		return;
	}
	for (uint32_t j = 0; j < k; j++) {
		p[j] /= s;
	}
}

// Cuts n items by shares p into integer counts summing to n: floors, then
// the remainder to the largest fractional parts (lower index on ties).
static void
largest_remainder(const double *p, uint32_t k, uint32_t n, uint32_t *cnt,
		double *frac)
{
	uint64_t given = 0;
	for (uint32_t j = 0; j < k; j++) {
		double want = p[j] * n;
		double f = floor(want);
		cnt[j] = f >= n ? n : (uint32_t)f;
		frac[j] = want - f;
		given += cnt[j];
	}
	while (given > n) { // only through rounding of p; take from the top
		uint32_t top = 0;
		for (uint32_t j = 1; j < k; j++) {
			top = cnt[j] > cnt[top] ? j : top;
		}
		cnt[top]--;
		given--;
	}
	while (given < n) {
		uint32_t best = 0;
		for (uint32_t j = 1; j < k; j++) {
			best = frac[j] > frac[best] ? j : best;
		}
		cnt[best]++;
		frac[best] = -1.0;
		given++;
		bool all_taken = true;
		for (uint32_t j = 0; j < k; j++) {
			all_taken = all_taken && frac[j] < 0;
		}
		for (uint32_t j = 0; all_taken && j < k; j++) {
			frac[j] = p[j]; // wrap around (n > sum of floors + k)
		}
	}
}

fb_err
fb_partition_assign(uint32_t n_users, const uint32_t *cluster,
		uint32_t n_clusters, const struct fb_partition_config *cfg,
		uint32_t *owner)
{
	uint32_t K = cfg->n_retailers, U = n_users;
	if (K == 0 || K > U) {
		return fb_errorf(FB_EINVAL,
				"retailers: %u not in [1, %u] (every retailer "
				"needs at least one user)",
				K, U);
	}
	bool dir = cfg->mode == FB_PARTITION_DIRICHLET;
	if (dir && !(isfinite(cfg->alpha) && cfg->alpha > 0)) {
		return fb_errorf(FB_EINVAL,
				"alpha: %g is not a positive number",
				cfg->alpha);
	}
	if (dir && (cluster == NULL || n_clusters == 0)) {
		return fb_errorf(FB_EINVAL,
				"a Dirichlet split needs user clusters");
	}
	for (uint32_t u = 0; dir && u < U; u++) {
		if (cluster[u] >= n_clusters) {
			return fb_errorf(FB_EINVAL,
					"user %u has cluster %u, not below %u",
					u, cluster[u], n_clusters);
		}
	}
	uint32_t G = dir ? n_clusters : 1;
	uint32_t *perm = malloc((size_t)U * sizeof(*perm));
	uint32_t *ptr = calloc((size_t)G + 1, sizeof(*ptr));
	uint32_t *cnt = malloc((size_t)K * sizeof(*cnt));
	uint32_t *size = calloc(K, sizeof(*size));
	double *p = malloc((size_t)K * sizeof(*p));
	double *frac = malloc((size_t)K * sizeof(*frac));
	fb_err err = FB_ENOMEM;
	if (perm == NULL || ptr == NULL || cnt == NULL || size == NULL ||
			p == NULL || frac == NULL) {
		goto fail;
	}
	// Users grouped by cluster (one group in IID mode), in id order.
	for (uint32_t u = 0; u < U; u++) {
		ptr[(dir ? cluster[u] : 0) + 1]++;
	}
	for (uint32_t g = 0; g < G; g++) {
		ptr[g + 1] += ptr[g];
	}
	for (uint32_t u = 0; u < U; u++) {
		perm[ptr[dir ? cluster[u] : 0]++] = u;
	}
	for (uint32_t g = G; g > 0; g--) {
		ptr[g] = ptr[g - 1];
	}
	ptr[0] = 0;
	struct fb_rng r;
	fb_rng_seed(&r, cfg->seed, S_ASSIGN);
	for (uint32_t g = 0; g < G; g++) {
		uint32_t *us = perm + ptr[g];
		uint32_t n = ptr[g + 1] - ptr[g];
		fb_rng_shuffle_u32(&r, us, n);
		if (!dir) {
			for (uint32_t e = 0; e < n; e++) {
				owner[us[e]] = e % K;
			}
			continue;
		}
		dirichlet(&r, cfg->alpha, K, p);
		largest_remainder(p, K, n, cnt, frac);
		uint32_t e = 0;
		for (uint32_t j = 0; j < K; j++) {
			for (uint32_t c = 0; c < cnt[j]; c++) {
				owner[us[e++]] = j;
			}
		}
	}
	for (uint32_t u = 0; u < U; u++) {
		size[owner[u]]++;
	}
	// Repair: an empty retailer takes a random user of the largest.
	for (uint32_t j = 0; j < K; j++) {
		if (size[j] > 0) {
			continue;
		}
		uint32_t big = 0;
		for (uint32_t k = 1; k < K; k++) {
			big = size[k] > size[big] ? k : big;
		}
		uint32_t pick = fb_rng_below(&r, size[big]);
		for (uint32_t u = 0; u < U; u++) {
			if (owner[u] == big && pick-- == 0) {
				owner[u] = j;
				break;
			}
		}
		size[big]--;
		size[j] = 1;
	}
	err = FB_OK;
fail:
	free(perm);
	free(ptr);
	free(cnt);
	free(size);
	free(p);
	free(frac);
	return err;
}

// ------------------------------------------------------------- extraction

// dst (rows x src->n_cols, row_ptr already allocated with rows + 1
// entries) receives the rows users[0 .. n) of src.
static fb_err
copy_rows(struct fb_csr *dst, const struct fb_csr *src, const uint32_t *users,
		uint32_t n)
{
	uint64_t nnz = 0;
	for (uint32_t k = 0; k < n; k++) {
		dst->row_ptr[k] = nnz;
		nnz += fb_csr_row_len(src, users[k]);
	}
	dst->row_ptr[n] = nnz;
	uint32_t *col = malloc((nnz > 0 ? nnz : 1) * sizeof(*col));
	if (col == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t k = 0; k < n; k++) {
		memcpy(col + dst->row_ptr[k], fb_csr_row(src, users[k]),
				fb_csr_row_len(src, users[k]) * sizeof(*col));
	}
	free(dst->col);
	dst->col = col;
	return FB_OK;
}

static fb_err
copy_csr(struct fb_csr *dst, const struct fb_csr *src)
{
	uint64_t nnz = fb_csr_nnz(src);
	uint64_t *ptr = malloc(((size_t)src->n_rows + 1) * sizeof(*ptr));
	uint32_t *col = malloc((nnz > 0 ? nnz : 1) * sizeof(*col));
	if (ptr == NULL || col == NULL) {
		free(ptr);
		free(col);
		return FB_ENOMEM;
	}
	if (src->row_ptr != NULL) {
		memcpy(ptr, src->row_ptr,
				((size_t)src->n_rows + 1) * sizeof(*ptr));
	} else {
		memset(ptr, 0, ((size_t)src->n_rows + 1) * sizeof(*ptr));
	}
	if (nnz > 0) {
		memcpy(col, src->col, nnz * sizeof(*col));
	}
	fb_csr_finish(dst);
	dst->n_rows = src->n_rows;
	dst->n_cols = src->n_cols;
	dst->row_ptr = ptr;
	dst->col = col;
	return FB_OK;
}

static fb_err
extract_users(const struct fb_dataset *ds, const uint32_t *users, uint32_t n,
		struct fb_dataset **out)
{
	struct fb_dataset *rd = NULL;
	fb_err err = fb_dataset_create(&rd, ds->name, n, ds->n_bundles,
			ds->n_items, ds->n_attrs);
	if (err != FB_OK) {
		return err;
	}
	if ((err = copy_rows(&rd->ub_train, &ds->ub_train, users, n)) !=
					FB_OK ||
			(err = copy_rows(&rd->ub_tune, &ds->ub_tune, users,
					 n)) != FB_OK ||
			(err = copy_rows(&rd->ub_test, &ds->ub_test, users,
					 n)) != FB_OK ||
			(err = copy_rows(&rd->ui, &ds->ui, users, n)) !=
					FB_OK ||
			(err = copy_csr(&rd->bi, &ds->bi)) != FB_OK ||
			(err = copy_csr(&rd->ia, &ds->ia)) != FB_OK) {
		fb_dataset_destroy(rd);
		return err;
	}
	*out = rd;
	return FB_OK;
}

fb_err
fb_partition_extract(const struct fb_dataset *ds, const uint32_t *owner,
		uint32_t r, struct fb_dataset **out, uint32_t **global)
{
	uint32_t n = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		n += owner[u] == r;
	}
	uint32_t *users = malloc(((size_t)n + 1) * sizeof(*users));
	if (users == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t u = 0, k = 0; u < ds->n_users; u++) {
		if (owner[u] == r) {
			users[k++] = u;
		}
	}
	struct fb_dataset *rd;
	fb_err err = extract_users(ds, users, n, &rd);
	if (err != FB_OK) {
		free(users);
		return err;
	}
	*out = rd;
	*global = users;
	return FB_OK;
}

// ------------------------------------------------------------------ output

static fb_err
write_users_map(const char *dir, const uint32_t *users, uint32_t n)
{
	char *path = fb_path_join(dir, "users.map");
	if (path == NULL) {
		return FB_ENOMEM;
	}
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, 0644);
	free(path);
	if (err != FB_OK) {
		return err;
	}
	char line[32];
	for (uint32_t k = 0; k < n; k++) {
		int len = snprintf(line, sizeof(line), "%u\t%u\n", k, users[k]);
		if ((err = fb_atomic_write(&f, line, (size_t)len)) != FB_OK) {
			fb_atomic_abort(&f);
			return err;
		}
	}
	return fb_atomic_commit(&f);
}

// A double as the manifest always printed it (byte-identical to earlier
// releases): an int-valued one as %d, else %1.15g when it
// reads back (within an ulp), else %1.17g.
static void
json_number(FILE *fp, double d)
{
	if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d) {
		fprintf(fp, "%d", (int)d);
		return;
	}
	char text[32];
	snprintf(text, sizeof(text), "%1.15g", d);
	double back = strtod(text, NULL);
	double big = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
	if (fabs(back - d) <= big * DBL_EPSILON) {
		fputs(text, fp);
	} else {
		fprintf(fp, "%1.17g", d);
	}
}

// Writes "\t...\tkey":\t (depth tabs), the manifest's layout.
static void
json_key(FILE *fp, int depth, const char *key)
{
	for (int k = 0; k < depth; k++) {
		fputc('\t', fp);
	}
	fb_config_write_string(fp, key);
	fputs(":\t", fp);
}

static void
json_u64(FILE *fp, int depth, const char *key, uint64_t v, bool last)
{
	json_key(fp, depth, key);
	fprintf(fp, "%llu%s\n", (unsigned long long)v, last ? "" : ",");
}

static void
json_string(FILE *fp, int depth, const char *key, const char *v)
{
	json_key(fp, depth, key);
	fb_config_write_string(fp, v);
	fputs(",\n", fp);
}

// One retailer's entry of retailer_list (its keys at depth 3).
static void
json_retailer(FILE *fp, uint32_t j, uint32_t G, const uint32_t *hist,
		const struct fb_partition_stats *st)
{
	char name[32];
	snprintf(name, sizeof(name), "retailer-%02u", j);
	fputs("{\n", fp);
	json_string(fp, 3, "dir", name);
	json_u64(fp, 3, "users", st->n_users, false);
	json_u64(fp, 3, "user_item", st->n_user_item, false);
	json_u64(fp, 3, "user_bundle_train", st->n_user_bundle[0], false);
	json_u64(fp, 3, "user_bundle_tune", st->n_user_bundle[1], false);
	json_u64(fp, 3, "user_bundle_test", st->n_user_bundle[2], G == 0);
	if (G > 0) {
		json_key(fp, 3, "cluster_users");
		fputc('[', fp);
		for (uint32_t g = 0; g < G; g++) {
			fprintf(fp, "%s%u", g > 0 ? ", " : "",
					hist[(size_t)j * G + g]);
		}
		fputs("]\n", fp);
	}
	fputs("\t\t}", fp);
}

// The mean over retailers, weighted by users, of the total-variation
// distance between the retailer's cluster mix and the whole population's.
static double
cluster_divergence(const uint32_t *hist, uint32_t K, uint32_t G,
		const struct fb_partition_stats *st, uint32_t U)
{
	double tv_sum = 0;
	for (uint32_t j = 0; j < K; j++) {
		double tv = 0;
		for (uint32_t g = 0; g < G; g++) {
			uint64_t all = 0;
			for (uint32_t k = 0; k < K; k++) {
				all += hist[(size_t)k * G + g];
			}
			tv += fabs((double)hist[(size_t)j * G + g] /
							st[j].n_users -
					(double)all / U);
		}
		tv_sum += 0.5 * tv * st[j].n_users;
	}
	return tv_sum / U;
}

// Writes OUT/partition.json in its fixed layout (tabs, one
// key a line, arrays on one line), byte for byte.
static fb_err
write_json(const char *out_dir, const struct fb_dataset *ds,
		const struct fb_partition_config *cfg, const char *source,
		uint32_t G, const uint32_t *hist,
		const struct fb_partition_stats *st)
{
	uint32_t K = cfg->n_retailers;
	char *text = NULL, *path = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	if (fp == NULL) {
		return FB_ENOMEM;
	}
	bool dir = cfg->mode == FB_PARTITION_DIRICHLET;
	fputs("{\n", fp);
	json_string(fp, 1, "dataset", ds->name);
	json_u64(fp, 1, "users", ds->n_users, false);
	json_u64(fp, 1, "bundles", ds->n_bundles, false);
	json_u64(fp, 1, "items", ds->n_items, false);
	json_u64(fp, 1, "retailers", K, false);
	json_string(fp, 1, "mode", dir ? "dirichlet" : "iid");
	json_key(fp, 1, "alpha");
	if (dir) {
		json_number(fp, cfg->alpha);
	} else {
		fputs("null", fp);
	}
	fputs(",\n", fp);
	json_u64(fp, 1, "seed", cfg->seed, false);
	json_string(fp, 1, "cluster_source", source);
	json_u64(fp, 1, "clusters", G, false);
	if (G > 0) {
		json_key(fp, 1, "cluster_divergence");
		fprintf(fp, "%.6f,\n",
				cluster_divergence(
						hist, K, G, st, ds->n_users));
	}
	json_key(fp, 1, "retailer_list");
	fputc('[', fp);
	for (uint32_t j = 0; j < K; j++) {
		fputs(j > 0 ? ", " : "", fp);
		json_retailer(fp, j, G, hist, &st[j]);
	}
	fputs("]\n}\n", fp);
	bool ok = !ferror(fp);
	fb_err err = fclose(fp) == 0 && ok ? FB_OK : FB_ENOMEM;
	path = fb_path_join(out_dir, "partition.json");
	if (err == FB_OK && path == NULL) {
		err = FB_ENOMEM;
	}
	if (err == FB_OK) {
		err = fb_write_file_atomic(path, text, len, 0644);
	}
	free(text);
	free(path);
	return err;
}

fb_err
fb_partition_run(const struct fb_dataset *ds,
		const struct fb_partition_config *cfg, const char *out_dir,
		struct fb_partition_stats **stats)
{
	uint32_t K = cfg->n_retailers, U = ds->n_users;
	uint32_t *owner = malloc(((size_t)U + 1) * sizeof(*owner));
	uint32_t *computed = NULL, *users = NULL, *hist = NULL, *ptr = NULL;
	struct fb_partition_stats *st = NULL;
	struct fb_dataset *rd = NULL;
	char *rdir = NULL;
	fb_err err = FB_ENOMEM;
	if (owner == NULL) {
		goto fail;
	}
	if (K == 0 || K > U) {
		err = fb_errorf(FB_EINVAL,
				"retailers: %u not in [1, %u] (every retailer "
				"needs at least one user)",
				K, U);
		goto fail;
	}
	const uint32_t *cluster = cfg->user_cluster;
	const char *source = cfg->cluster_source;
	uint32_t G = 0;
	if (cluster != NULL) {
		for (uint32_t u = 0; u < U; u++) {
			if (cluster[u] >= MAX_CLUSTERS) {
				err = fb_errorf(FB_EINVAL,
						"user %u: cluster %u is not "
						"below %u",
						u, cluster[u], MAX_CLUSTERS);
				goto fail;
			}
			G = cluster[u] + 1 > G ? cluster[u] + 1 : G;
		}
		source = source != NULL ? source : "given";
	} else if (cfg->mode == FB_PARTITION_DIRICHLET) {
		computed = malloc(((size_t)U + 1) * sizeof(*computed));
		if (computed == NULL) {
			goto fail;
		}
		err = fb_partition_cluster_users(
				ds, cfg->n_clusters, cfg->seed, computed);
		if (err != FB_OK) {
			goto fail;
		}
		cluster = computed;
		G = cfg->n_clusters;
		source = "kmeans";
	} else {
		source = "none";
	}
	if ((err = fb_partition_assign(U, cluster, G, cfg, owner)) != FB_OK) {
		goto fail;
	}
	// Users grouped by retailer, in increasing id.
	users = malloc(((size_t)U + 1) * sizeof(*users));
	ptr = calloc((size_t)K + 1, sizeof(*ptr));
	hist = calloc((size_t)K * (G > 0 ? G : 1), sizeof(*hist));
	st = calloc(K, sizeof(*st));
	if (users == NULL || ptr == NULL || hist == NULL || st == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (uint32_t u = 0; u < U; u++) {
		ptr[owner[u] + 1]++;
		if (G > 0) {
			hist[(size_t)owner[u] * G + cluster[u]]++;
		}
	}
	for (uint32_t j = 0; j < K; j++) {
		ptr[j + 1] += ptr[j];
	}
	for (uint32_t u = 0; u < U; u++) {
		users[ptr[owner[u]]++] = u;
	}
	for (uint32_t j = K; j > 0; j--) {
		ptr[j] = ptr[j - 1];
	}
	ptr[0] = 0;
	if ((err = fb_mkdir_p(out_dir)) != FB_OK) {
		goto fail;
	}
	for (uint32_t j = 0; j < K; j++) {
		char name[32];
		snprintf(name, sizeof(name), "retailer-%02u", j);
		uint32_t n = ptr[j + 1] - ptr[j];
		if ((rdir = fb_path_join(out_dir, name)) == NULL) {
			err = FB_ENOMEM;
			goto fail;
		}
		if ((err = extract_users(ds, users + ptr[j], n, &rd)) !=
						FB_OK ||
				(err = fb_dataset_save(rd, rdir)) != FB_OK ||
				(err = write_users_map(rdir, users + ptr[j],
						 n)) != FB_OK) {
			goto fail;
		}
		st[j].n_users = n;
		st[j].n_user_item = fb_csr_nnz(&rd->ui);
		st[j].n_user_bundle[0] = fb_csr_nnz(&rd->ub_train);
		st[j].n_user_bundle[1] = fb_csr_nnz(&rd->ub_tune);
		st[j].n_user_bundle[2] = fb_csr_nnz(&rd->ub_test);
		fb_dataset_destroy(rd);
		rd = NULL;
		free(rdir);
		rdir = NULL;
	}
	if ((err = write_json(out_dir, ds, cfg, source, G, hist, st)) !=
			FB_OK) {
		goto fail;
	}
	// A folder beyond K is left over from an earlier, larger run.
	char name[32];
	snprintf(name, sizeof(name), "retailer-%02u", K);
	if ((rdir = fb_path_join(out_dir, name)) != NULL) {
		struct stat sb;
		if (stat(rdir, &sb) == 0) {
			fb_log(FB_LOG_WARN,
					"%s is not part of this partition "
					"(partition.json lists %u retailers)",
					rdir, K);
		}
	}
	if (stats != NULL) {
		*stats = st;
		st = NULL;
	}
	err = FB_OK;
fail:
	fb_dataset_destroy(rd);
	free(rdir);
	free(owner);
	free(computed);
	free(users);
	free(ptr);
	free(hist);
	free(st);
	return err;
}
