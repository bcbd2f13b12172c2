// common/data/datagen.c: the synthetic consortium generator (datagen.h).
// Every random choice draws from an fb_rng stream derived from (seed, what,
// index): one stream for the global set-up, one per item, per bundle and
// per user. So the output depends only on the configuration (not on the
// thread count), and any entity can be regenerated alone. A choice "by
// taste x popularity" picks a category from the entity's own category
// weights (cumulative sums + binary search, O(categories) to build), then
// a member of that category by popularity (a per-category alias table,
// O(1)), accepted with a bounded (sigmoid) taste factor; so no step ever
// costs O(users x items) and the time is O(users x categories + nnz).
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/rng.h"

// Stream families: fb_rng_seed(seed, family + index).
#define S_GLOBAL (UINT64_C(1) << 40)
#define S_ITEM (UINT64_C(2) << 40)
#define S_BUNDLE (UINT64_C(3) << 40)
#define S_USER (UINT64_C(4) << 40)

// Gamma shapes of the count distributions (shape 1 is exponential).
#define UI_SHAPE 1.5
#define UB_SHAPE 0.8
#define SIZE_SHAPE 1.5
// A bundle centre's noise norm relative to its primary category centre.
#define BUNDLE_SPREAD 0.5
// Share of an item's brand drawn among its category's brands.
#define BRAND_LOYALTY 0.8
// Rejection-sampling budget per wanted draw before the uniform fallback.
#define ATTEMPTS_PER_DRAW 32

static const struct fb_datagen_preset presets[] = {
		{"toy", 500, 2000, 300, "unit tests and demos"},
		{"small", 8000, 32000, 4800, "the size of Youshu"},
		{"medium", 100000, 40000, 8000, "a regional consortium"},
		{"large", 1000000, 100000, 20000, "a national consortium"},
};

const struct fb_datagen_preset *
fb_datagen_presets(size_t *n)
{
	*n = sizeof(presets) / sizeof(presets[0]);
	return presets;
}

void
fb_datagen_config_defaults(struct fb_datagen_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "Synth";
	cfg->seed = 1;
	cfg->n_users = presets[1].n_users;
	cfg->n_items = presets[1].n_items;
	cfg->n_bundles = presets[1].n_bundles;
	cfg->dim = 16;
	cfg->n_clusters = 16;
	cfg->n_price_bands = 5;
	cfg->user_spread = 0.6;
	cfg->item_spread = 0.6;
	cfg->taste = 12.0;
	cfg->fine_taste = 4.0;
	cfg->bundle_focus = 8.0;
	cfg->item_zipf = 1.0;
	cfg->bundle_zipf = 1.0;
	cfg->bundle_size_mean = 37.0;
	cfg->bundle_size_min = 5;
	cfg->bundle_size_max = 150;
	cfg->ui_mean = 17.0;
	cfg->ui_min = 1;
	cfg->ui_max = 60;
	cfg->ub_user_frac = 0.37;
	cfg->ub_mean = 16.7;
	cfg->ub_min = 3;
	cfg->ub_max = 300;
	cfg->tune_frac = 0.1;
	cfg->test_frac = 0.2;
	cfg->threads = 2;
}

fb_err
fb_datagen_apply_preset(struct fb_datagen_config *cfg, const char *name)
{
	for (size_t k = 0; k < sizeof(presets) / sizeof(presets[0]); k++) {
		if (strcmp(presets[k].name, name) == 0) {
			cfg->n_users = presets[k].n_users;
			cfg->n_items = presets[k].n_items;
			cfg->n_bundles = presets[k].n_bundles;
			return FB_OK;
		}
	}
	return fb_errorf(FB_EINVAL,
			"unknown preset '%s' (toy, small, medium, large)",
			name);
}

static uint32_t
clamp_u32(uint64_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

static bool
in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

fb_err
fb_datagen_resolve(struct fb_datagen_config *cfg)
{
	if (cfg->name == NULL || cfg->name[0] == '\0' ||
			strchr(cfg->name, '/') != NULL) {
		return fb_errorf(FB_EINVAL,
				"name: must be a non-empty file-name prefix");
	}
	if (cfg->n_users == 0 || cfg->n_items == 0 || cfg->n_bundles == 0) {
		return fb_errorf(FB_EINVAL,
				"users, items and bundles must all be > 0");
	}
	if (cfg->threads == 0 || cfg->threads > 256) {
		return fb_errorf(FB_EINVAL, "threads: %u not in [1, 256]",
				cfg->threads);
	}
	if (cfg->dim == 0 || cfg->dim > 256) {
		return fb_errorf(
				FB_EINVAL, "dim: %u not in [1, 256]", cfg->dim);
	}
	if (cfg->n_clusters > cfg->n_users) {
		cfg->n_clusters = cfg->n_users;
	}
	if (cfg->n_clusters == 0 || cfg->n_clusters > 65536) {
		return fb_errorf(FB_EINVAL, "clusters: %u not in [1, 65536]",
				cfg->n_clusters);
	}
	if (cfg->n_categories == 0) {
		cfg->n_categories = clamp_u32(cfg->n_items / 500, 8, 256);
	}
	if (cfg->n_brands == 0) {
		cfg->n_brands = clamp_u32(cfg->n_items / 50, 4, 4096);
	}
	if (cfg->n_price_bands == 0) {
		return fb_errorf(FB_EINVAL, "price bands: must be > 0");
	}
	if ((uint64_t)cfg->n_categories + cfg->n_brands + cfg->n_price_bands >
			UINT32_MAX) {
		return fb_errorf(FB_EINVAL, "too many attribute values");
	}
	if (cfg->bundle_size_max > cfg->n_items) {
		cfg->bundle_size_max = cfg->n_items;
	}
	if (cfg->ui_max > cfg->n_items) {
		cfg->ui_max = cfg->n_items;
	}
	if (cfg->ub_max > cfg->n_bundles) {
		cfg->ub_max = cfg->n_bundles;
	}
	if (cfg->bundle_size_min == 0 ||
			cfg->bundle_size_min > cfg->bundle_size_max) {
		return fb_errorf(FB_EINVAL,
				"bundle size: min %u not in [1, max %u] (max is "
				"capped at the number of items)",
				cfg->bundle_size_min, cfg->bundle_size_max);
	}
	if (cfg->ui_min > cfg->ui_max) {
		return fb_errorf(FB_EINVAL, "user items: min %u > max %u",
				cfg->ui_min, cfg->ui_max);
	}
	if (cfg->ub_min == 0 || cfg->ub_min > cfg->ub_max) {
		return fb_errorf(FB_EINVAL,
				"user bundles: min %u not in [1, max %u] (max "
				"is capped at the number of bundles)",
				cfg->ub_min, cfg->ub_max);
	}
	struct {
		const char *what;
		double v, lo, hi;
	} checks[] = {
			{"user spread", cfg->user_spread, 0, 100},
			{"item spread", cfg->item_spread, 0, 100},
			{"taste", cfg->taste, 0, 100},
			{"fine taste", cfg->fine_taste, 0, 100},
			{"bundle focus", cfg->bundle_focus, 0, 100},
			{"item zipf", cfg->item_zipf, 0, 10},
			{"bundle zipf", cfg->bundle_zipf, 0, 10},
			{"bundle size mean", cfg->bundle_size_mean, 1, 1e6},
			{"user items mean", cfg->ui_mean, 0, 1e6},
			{"user bundles mean", cfg->ub_mean, 1, 1e6},
			{"fraction of users with bundles", cfg->ub_user_frac, 0,
					1},
			{"tune fraction", cfg->tune_frac, 0, 1},
			{"test fraction", cfg->test_frac, 0, 1},
	};
	for (size_t k = 0; k < sizeof(checks) / sizeof(checks[0]); k++) {
		if (!in_range(checks[k].v, checks[k].lo, checks[k].hi)) {
			return fb_errorf(FB_EINVAL, "%s: %g not in [%g, %g]",
					checks[k].what, checks[k].v,
					checks[k].lo, checks[k].hi);
		}
	}
	if (cfg->tune_frac + cfg->test_frac >= 1.0) {
		return fb_errorf(FB_EINVAL,
				"tune + test fractions (%g) leave no training "
				"share",
				cfg->tune_frac + cfg->test_frac);
	}
	return FB_OK;
}

// A growable array of uint32.
struct vec {
	uint32_t *v;
	size_t n, cap;
};

static fb_err
vec_push(struct vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap < 1024 ? 1024 : a->cap + a->cap / 2;
		uint32_t *v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL) {
			return FB_ENOMEM;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return FB_OK;
}

// Everything the generator derives before the users.
struct gen {
	struct fb_datagen_config cfg; // resolved
	uint32_t d, C;
	double *cluster_c; // n_clusters x d, unit vectors
	double *cat_c;     // C x d, unit vectors
	float *item_v;     // n_items x d
	float *item_vg;    // the same rows in category order (cat_items)
	double *item_pop;  // n_items
	uint32_t *item_cat;
	uint32_t *cat_ptr;   // C + 1: items of category j in [ptr[j], ptr[j+1])
	uint32_t *cat_items; // items grouped by category
	double *cat_prob;    // within-category alias table by popularity:
	uint32_t *cat_alias; // position p keeps p w.p. prob[p], else alias[p]
	double *cat_mass;    // C: total popularity of the category
	float *bundle_q;     // n_bundles x d: mean item factor
	float *bundle_qg;    // the same rows in category order (bcat_bundles)
	double *bundle_pop;
	uint32_t *bundle_cat; // primary category
	uint32_t *bcat_ptr;   // C + 1, as cat_ptr for bundles
	uint32_t *bcat_bundles;
	double *bcat_prob;
	uint32_t *bcat_alias;
	double *bcat_mass;
	float *bcat_mean; // C x d: mean bundle_q of the category's bundles
};

static void
gen_finish(struct gen *g)
{
	free(g->cluster_c);
	free(g->cat_c);
	free(g->item_v);
	free(g->item_vg);
	free(g->item_pop);
	free(g->item_cat);
	free(g->cat_ptr);
	free(g->cat_items);
	free(g->cat_prob);
	free(g->cat_alias);
	free(g->cat_mass);
	free(g->bundle_q);
	free(g->bundle_qg);
	free(g->bundle_pop);
	free(g->bundle_cat);
	free(g->bcat_ptr);
	free(g->bcat_bundles);
	free(g->bcat_prob);
	free(g->bcat_alias);
	free(g->bcat_mass);
	free(g->bcat_mean);
}

static void
unit_vector(struct fb_rng *r, double *v, uint32_t d)
{
	double n2 = 0;
	do {
		n2 = 0;
		for (uint32_t k = 0; k < d; k++) {
			v[k] = fb_rng_normal(r);
			n2 += v[k] * v[k];
		}
	} while (n2 < 1e-12);
	double s = 1.0 / sqrt(n2);
	for (uint32_t k = 0; k < d; k++) {
		v[k] *= s;
	}
}

// out = normalize(centre + spread * N(0, I/d)).
static void
noisy_unit(struct fb_rng *r, const double *centre, double spread, double *out,
		uint32_t d)
{
	double sd = spread / sqrt((double)d), n2 = 0;
	for (uint32_t k = 0; k < d; k++) {
		out[k] = centre[k] + sd * fb_rng_normal(r);
		n2 += out[k] * out[k];
	}
	double s = n2 > 1e-24 ? 1.0 / sqrt(n2) : 0.0;
	for (uint32_t k = 0; k < d; k++) {
		out[k] *= s;
	}
}

// Dot products with four partial sums (a single running sum is one long
// dependency chain); the summation order is fixed, so results are
// reproducible.
static double
dot_df(const double *a, const float *b, uint32_t d)
{
	double s[4] = {0, 0, 0, 0};
	uint32_t k = 0;
	for (; k + 4 <= d; k += 4) {
		s[0] += a[k] * b[k];
		s[1] += a[k + 1] * b[k + 1];
		s[2] += a[k + 2] * b[k + 2];
		s[3] += a[k + 3] * b[k + 3];
	}
	for (; k < d; k++) {
		s[0] += a[k] * b[k];
	}
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static double
dot_dd(const double *a, const double *b, uint32_t d)
{
	double s[4] = {0, 0, 0, 0};
	uint32_t k = 0;
	for (; k + 4 <= d; k += 4) {
		s[0] += a[k] * b[k];
		s[1] += a[k + 1] * b[k + 1];
		s[2] += a[k + 2] * b[k + 2];
		s[3] += a[k + 3] * b[k + 3];
	}
	for (; k < d; k++) {
		s[0] += a[k] * b[k];
	}
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static double
sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

// Index of the first cum[k] > x in cum[0..n), cum non-decreasing with
// cum[n-1] > 0 and x in [0, cum[n-1]); the last positive-weight index if
// rounding put x at the total. Branch-free halving: the comparisons are
// unpredictable, and this is the generator's inner loop.
static size_t
pick_cum(const double *cum, size_t n, double x)
{
	size_t lo = 0, len = n;
	while (len > 1) {
		size_t half = len / 2;
		lo += cum[lo + half - 1] <= x ? half : 0;
		len -= half;
	}
	lo += cum[lo] <= x;
	if (lo == n) {
		lo = n - 1;
		while (lo > 0 && cum[lo] == cum[lo - 1]) {
			lo--;
		}
	}
	return lo;
}

// A count min + round(Gamma(shape) scaled to the mean), capped at max.
static uint32_t
draw_count(struct fb_rng *r, double mean, double shape, uint32_t min,
		uint32_t max)
{
	if (mean <= min) {
		return min;
	}
	double x = fb_rng_gamma(r, shape) * (mean - min) / shape;
	double n = floor(min + x + 0.5);
	return n >= max ? max : (uint32_t)n;
}

// Zipf weights (rank + 1)^-s over a seeded random ranking.
static fb_err
zipf_weights(struct fb_rng *r, double s, uint32_t n, double *w)
{
	uint32_t *rank = malloc((size_t)n * sizeof(*rank));
	if (rank == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t k = 0; k < n; k++) {
		rank[k] = k;
	}
	fb_rng_shuffle_u32(r, rank, n);
	for (uint32_t k = 0; k < n; k++) {
		w[k] = pow((double)rank[k] + 1.0, -s);
	}
	free(rank);
	return FB_OK;
}

// Walker's alias table (Vose's construction) for weights w[0..n), n > 0,
// total > 0: slot k keeps k with probability prob[k], else goes to
// alias[k]; entries are offsets by base. work has room for n indices.
static void
alias_build(const double *w, uint32_t n, double total, uint32_t base,
		double *prob, uint32_t *alias, uint32_t *work)
{
	// Small slots stack up from the front of work, large from the back.
	uint32_t n_small = 0, n_large = 0;
	for (uint32_t k = 0; k < n; k++) {
		prob[k] = w[k] * n / total;
		if (prob[k] < 1.0) {
			work[n_small++] = k;
		} else {
			work[n - 1 - n_large++] = k;
		}
	}
	while (n_small > 0 && n_large > 0) {
		uint32_t sm = work[--n_small];
		uint32_t lg = work[n - n_large];
		alias[sm] = base + lg;
		prob[lg] = (prob[lg] + prob[sm]) - 1.0;
		if (prob[lg] < 1.0) {
			n_large--;
			work[n_small++] = lg;
		}
	}
	// Leftovers are 1 up to rounding.
	while (n_large > 0) {
		uint32_t lg = work[n - n_large--];
		prob[lg] = 1.0;
		alias[lg] = base + lg;
	}
	while (n_small > 0) {
		uint32_t sm = work[--n_small];
		prob[sm] = 1.0;
		alias[sm] = base + sm;
	}
}

// Groups n entities by category (counting sort, stable) and builds each
// category's alias table over its members' weights and its mass.
static fb_err
group_by_category(uint32_t C, uint32_t n, const uint32_t *cat, const double *w,
		uint32_t **ptr_out, uint32_t **members_out, double **prob_out,
		uint32_t **alias_out, double **mass_out)
{
	uint32_t *ptr = calloc((size_t)C + 1, sizeof(*ptr));
	uint32_t *members = malloc((size_t)n * sizeof(*members));
	double *prob = malloc((size_t)n * sizeof(*prob));
	uint32_t *alias = malloc((size_t)n * sizeof(*alias));
	double *mass = calloc(C, sizeof(*mass));
	double *wg = malloc((size_t)n * sizeof(*wg));
	uint32_t *work = malloc((size_t)n * sizeof(*work));
	uint32_t *fill = malloc((size_t)C * sizeof(*fill));
	if (ptr == NULL || members == NULL || prob == NULL || alias == NULL ||
			mass == NULL || wg == NULL || work == NULL ||
			fill == NULL) {
		free(ptr);
		free(members);
		free(prob);
		free(alias);
		free(mass);
		free(wg);
		free(work);
		free(fill);
		return FB_ENOMEM;
	}
	for (uint32_t k = 0; k < n; k++) {
		ptr[cat[k] + 1]++;
	}
	for (uint32_t j = 0; j < C; j++) {
		ptr[j + 1] += ptr[j];
		fill[j] = ptr[j];
	}
	for (uint32_t k = 0; k < n; k++) {
		members[fill[cat[k]]++] = k;
	}
	for (uint32_t j = 0; j < C; j++) {
		uint32_t a = ptr[j], len = ptr[j + 1] - ptr[j];
		double s = 0;
		for (uint32_t p = a; p < a + len; p++) {
			wg[p] = w[members[p]];
			s += wg[p];
		}
		mass[j] = s;
		if (len > 0 && s > 0) {
			alias_build(wg + a, len, s, a, prob + a, alias + a,
					work);
		}
	}
	free(wg);
	free(work);
	free(fill);
	*ptr_out = ptr;
	*members_out = members;
	*prob_out = prob;
	*alias_out = alias;
	*mass_out = mass;
	return FB_OK;
}

// Category weights of an entity with unit taste t: mass_j * exp(beta *
// (t . c_j - max)), accumulated into cum[0..C); dots[j] receives t . c_j
// and ex[j] the exponential factor.
static void
category_cum(const struct gen *g, const double *t, const double *mass,
		double beta, double *dots, double *ex, double *cum)
{
	double top = -INFINITY;
	for (uint32_t j = 0; j < g->C; j++) {
		dots[j] = dot_dd(t, g->cat_c + (size_t)j * g->d, g->d);
		if (dots[j] > top) {
			top = dots[j];
		}
	}
	double s = 0;
	for (uint32_t j = 0; j < g->C; j++) {
		ex[j] = exp(beta * (dots[j] - top));
		s += mass[j] * ex[j];
		cum[j] = s;
	}
}

// Draws `want` distinct members into out[], each one by: category from
// the entity's weights, member of the category by popularity (alias),
// accepted with sigmoid(fine * (t . f_m - centre_j)), where f_m is the
// member's factor row and centre_j = t . (category centre). Members already
// stamped with `mark` are redrawn. When the attempt budget runs out, the
// remainder is filled by a scan from a random start, so exactly `want`
// members come back (want <= n_members). Factor rows and stamps are kept
// in category order (by position), so the draws of one entity, which
// stay in a few categories, touch few cache lines.
struct draw_ctx {
	const struct gen *g;
	const double *cat_cum;   // C, the entity's own category weights
	const uint32_t *ptr;     // C + 1 positions per category
	const uint32_t *members; // member id at each position
	const double *prob;      // alias table by position
	const uint32_t *alias;
	const float *factor;      // n_members x d, by position
	const double *centre_dot; // C: t . centre of category j, or NULL
	const float *centre;      // C x d when centre_dot is NULL
	double fine;
	uint32_t *stamp; // n_members, by position
	uint32_t n_members;
};

static uint32_t
draw_members(const struct draw_ctx *x, struct fb_rng *r, const double *t,
		uint32_t want, uint32_t mark, uint32_t *out)
{
	const struct gen *g = x->g;
	uint32_t got = 0;
	uint64_t budget = (uint64_t)want * ATTEMPTS_PER_DRAW + 64;
	double total = x->cat_cum[g->C - 1];
	while (got < want && budget > 0 && total > 0) {
		budget--;
		size_t j = pick_cum(
				x->cat_cum, g->C, fb_rng_uniform(r) * total);
		uint32_t a = x->ptr[j], b = x->ptr[j + 1];
		size_t p = a + fb_rng_below(r, b - a);
		if (fb_rng_uniform(r) >= x->prob[p]) {
			p = x->alias[p];
		}
		if (x->stamp[p] == mark) {
			continue;
		}
		double cd = x->centre_dot != NULL
				? x->centre_dot[j]
				: dot_df(t, x->centre + j * g->d, g->d);
		double s = dot_df(t, x->factor + p * g->d, g->d) - cd;
		if (fb_rng_uniform(r) >= sigmoid(x->fine * s)) {
			continue;
		}
		x->stamp[p] = mark;
		out[got++] = x->members[p];
	}
	if (got < want) {
		uint32_t p = fb_rng_below(r, x->n_members);
		while (got < want) {
			if (x->stamp[p] != mark) {
				x->stamp[p] = mark;
				out[got++] = x->members[p];
			}
			p = p + 1 == x->n_members ? 0 : p + 1;
		}
	}
	return got;
}

static void
sort_u32(uint32_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t x = v[i];
		size_t k = i;
		while (k > 0 && v[k - 1] > x) {
			v[k] = v[k - 1];
			k--;
		}
		v[k] = x;
	}
}

// The rows of by_id (n x d) in the order of members.
static float *
regroup(const float *by_id, const uint32_t *members, uint32_t n, uint32_t d)
{
	float *out = malloc((size_t)n * d * sizeof(*out));
	if (out == NULL) {
		return NULL;
	}
	for (uint32_t p = 0; p < n; p++) {
		memcpy(out + (size_t)p * d, by_id + (size_t)members[p] * d,
				d * sizeof(*out));
	}
	return out;
}

// Clusters, categories, items and their attributes.
static fb_err
make_items(struct gen *g, struct fb_dataset *ds)
{
	const struct fb_datagen_config *cfg = &g->cfg;
	uint32_t d = g->d, C = g->C, I = cfg->n_items;
	struct fb_rng r;
	fb_rng_seed(&r, cfg->seed, S_GLOBAL);
	g->cluster_c = malloc((size_t)cfg->n_clusters * d * sizeof(double));
	g->cat_c = malloc((size_t)C * d * sizeof(double));
	double *price_dir = malloc((size_t)d * sizeof(double));
	g->item_v = malloc((size_t)I * d * sizeof(float));
	g->item_pop = malloc((size_t)I * sizeof(double));
	g->item_cat = malloc((size_t)I * sizeof(uint32_t));
	double *cat_cw = malloc((size_t)C * sizeof(double));
	double *v = malloc((size_t)d * sizeof(double));
	fb_err err = FB_ENOMEM;
	if (g->cluster_c == NULL || g->cat_c == NULL || price_dir == NULL ||
			g->item_v == NULL || g->item_pop == NULL ||
			g->item_cat == NULL || cat_cw == NULL || v == NULL) {
		goto fail;
	}
	for (uint32_t k = 0; k < cfg->n_clusters; k++) {
		unit_vector(&r, g->cluster_c + (size_t)k * d, d);
	}
	double s = 0;
	for (uint32_t j = 0; j < C; j++) {
		unit_vector(&r, g->cat_c + (size_t)j * d, d);
		s += fb_rng_gamma(&r, 2.0);
		cat_cw[j] = s;
	}
	unit_vector(&r, price_dir, d);
	if ((err = zipf_weights(&r, cfg->item_zipf, I, g->item_pop)) != FB_OK) {
		goto fail;
	}
	// Attribute rows: price band, brand, category (ascending ids).
	uint64_t *ptr = ds->ia.row_ptr;
	uint32_t *col = malloc((size_t)I * 3 * sizeof(*col));
	if (col == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	uint32_t P = cfg->n_price_bands, R = cfg->n_brands;
	for (uint32_t i = 0; i < I; i++) {
		struct fb_rng ri;
		fb_rng_seed(&ri, cfg->seed, S_ITEM + i);
		uint32_t j = (uint32_t)pick_cum(
				cat_cw, C, fb_rng_uniform(&ri) * cat_cw[C - 1]);
		g->item_cat[i] = j;
		double sd = cfg->item_spread / sqrt((double)d), p = 0;
		for (uint32_t k = 0; k < d; k++) {
			v[k] = g->cat_c[(size_t)j * d + k] +
					sd * fb_rng_normal(&ri);
			g->item_v[(size_t)i * d + k] = (float)v[k];
			p += v[k] * price_dir[k];
		}
		double q = sigmoid(2.0 * p + 0.5 * fb_rng_normal(&ri));
		uint32_t band = (uint32_t)(q * P);
		band = band >= P ? P - 1 : band;
		// Brands j, j + C, j + 2C... belong to category j.
		uint32_t brand, own = j < R ? (R - j + C - 1) / C : 0;
		if (own > 0 && fb_rng_uniform(&ri) < BRAND_LOYALTY) {
			brand = j + C * fb_rng_below(&ri, own);
		} else {
			brand = fb_rng_below(&ri, R);
		}
		ptr[i] = (uint64_t)i * 3;
		col[(size_t)i * 3] = band;
		col[(size_t)i * 3 + 1] = P + brand;
		col[(size_t)i * 3 + 2] = P + R + j;
	}
	ptr[I] = (uint64_t)I * 3;
	ds->ia.col = col;
	err = group_by_category(C, I, g->item_cat, g->item_pop, &g->cat_ptr,
			&g->cat_items, &g->cat_prob, &g->cat_alias,
			&g->cat_mass);
	if (err == FB_OK) {
		g->item_vg = regroup(g->item_v, g->cat_items, I, d);
		err = g->item_vg != NULL ? FB_OK : FB_ENOMEM;
	}
fail:
	free(price_dir);
	free(cat_cw);
	free(v);
	return err;
}

// Bundles: centre near a primary category, items drawn by the bundle's own
// category mix and popularity.
static fb_err
make_bundles(struct gen *g, struct fb_dataset *ds)
{
	const struct fb_datagen_config *cfg = &g->cfg;
	uint32_t d = g->d, C = g->C, B = cfg->n_bundles, I = cfg->n_items;
	fb_err err = FB_ENOMEM;
	double *item_cnt_cum = malloc((size_t)C * sizeof(double));
	double *z = malloc((size_t)d * sizeof(double));
	double *dots = malloc((size_t)C * sizeof(double));
	double *ex = malloc((size_t)C * sizeof(double));
	double *cum = malloc((size_t)C * sizeof(double));
	uint32_t *stamp = calloc(I, sizeof(uint32_t));
	uint32_t *buf = malloc((size_t)cfg->bundle_size_max * sizeof(*buf));
	struct vec col = {0};
	uint64_t *ptr = ds->bi.row_ptr;
	g->bundle_q = calloc((size_t)B * d, sizeof(float));
	g->bundle_pop = malloc((size_t)B * sizeof(double));
	g->bundle_cat = malloc((size_t)B * sizeof(uint32_t));
	g->bcat_mean = calloc((size_t)C * d, sizeof(float));
	double *acc = calloc((size_t)C * d, sizeof(double));
	if (item_cnt_cum == NULL || z == NULL || dots == NULL || ex == NULL ||
			cum == NULL || stamp == NULL || buf == NULL ||
			g->bundle_q == NULL || g->bundle_pop == NULL ||
			g->bundle_cat == NULL || g->bcat_mean == NULL ||
			acc == NULL) {
		goto fail;
	}
	double s = 0;
	for (uint32_t j = 0; j < C; j++) {
		s += g->cat_ptr[j + 1] - g->cat_ptr[j];
		item_cnt_cum[j] = s;
	}
	struct fb_rng r;
	fb_rng_seed(&r, cfg->seed, S_GLOBAL + 1);
	if ((err = zipf_weights(&r, cfg->bundle_zipf, B, g->bundle_pop)) !=
			FB_OK) {
		goto fail;
	}
	struct draw_ctx x = {
			.g = g,
			.cat_cum = cum,
			.ptr = g->cat_ptr,
			.members = g->cat_items,
			.prob = g->cat_prob,
			.alias = g->cat_alias,
			.factor = g->item_vg,
			.centre_dot = dots,
			.fine = cfg->fine_taste,
			.stamp = stamp,
			.n_members = I,
	};
	for (uint32_t b = 0; b < B; b++) {
		struct fb_rng rb;
		fb_rng_seed(&rb, cfg->seed, S_BUNDLE + b);
		uint32_t j = (uint32_t)pick_cum(item_cnt_cum, C,
				fb_rng_uniform(&rb) * item_cnt_cum[C - 1]);
		g->bundle_cat[b] = j;
		noisy_unit(&rb, g->cat_c + (size_t)j * d, BUNDLE_SPREAD, z, d);
		category_cum(g, z, g->cat_mass, cfg->bundle_focus, dots, ex,
				cum);
		uint32_t n = draw_count(&rb, cfg->bundle_size_mean, SIZE_SHAPE,
				cfg->bundle_size_min, cfg->bundle_size_max);
		n = draw_members(&x, &rb, z, n, b + 1, buf);
		sort_u32(buf, n);
		ptr[b] = col.n;
		float *q = g->bundle_q + (size_t)b * d;
		for (uint32_t k = 0; k < n; k++) {
			if ((err = vec_push(&col, buf[k])) != FB_OK) {
				goto fail;
			}
			const float *iv = g->item_v + (size_t)buf[k] * d;
			for (uint32_t e = 0; e < d; e++) {
				q[e] += iv[e];
			}
		}
		for (uint32_t e = 0; e < d; e++) {
			q[e] /= (float)n;
			acc[(size_t)j * d + e] += q[e];
		}
	}
	ptr[B] = col.n;
	ds->bi.col = col.v;
	col.v = NULL;
	err = group_by_category(C, B, g->bundle_cat, g->bundle_pop,
			&g->bcat_ptr, &g->bcat_bundles, &g->bcat_prob,
			&g->bcat_alias, &g->bcat_mass);
	if (err != FB_OK) {
		goto fail;
	}
	g->bundle_qg = regroup(g->bundle_q, g->bcat_bundles, B, d);
	if (g->bundle_qg == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (uint32_t j = 0; j < C; j++) {
		uint32_t n = g->bcat_ptr[j + 1] - g->bcat_ptr[j];
		for (uint32_t e = 0; n > 0 && e < d; e++) {
			g->bcat_mean[(size_t)j * d + e] =
					(float)(acc[(size_t)j * d + e] / n);
		}
	}
fail:
	free(col.v);
	free(item_cnt_cum);
	free(z);
	free(dots);
	free(ex);
	free(cum);
	free(stamp);
	free(buf);
	free(acc);
	return err;
}

// Stochastic rounding: floor(x) plus one with probability frac(x).
static uint32_t
round_random(struct fb_rng *r, double x)
{
	double f = floor(x);
	return (uint32_t)f + (fb_rng_uniform(r) < x - f ? 1 : 0);
}

// One worker's share of the users: a contiguous range whose rows it
// appends to its own arrays; row_ptr entries of the range are written as
// offsets into those arrays and rebased when the chunks are joined.
struct user_chunk {
	const struct gen *g;
	struct fb_dataset *ds;
	uint32_t *cluster;
	uint32_t u0, u1;
	struct vec ui, split[3];
	fb_err err;
};

// Splits a user's n U-B pairs (in random order in buf) into train, tune
// and test counts: about tune_frac and test_frac of n by stochastic
// rounding, with at least one in each split when n >= 3.
static void
split_counts(const struct fb_datagen_config *cfg, struct fb_rng *r, uint32_t n,
		uint32_t *n_tune, uint32_t *n_test)
{
	uint32_t te = 0, tu = 0;
	if (n >= 3) {
		te = round_random(r, cfg->test_frac * n);
		tu = round_random(r, cfg->tune_frac * n);
		te = te < 1 ? 1 : te;
		tu = tu < 1 ? 1 : tu;
		while (te + tu > n - 1) {
			if (te >= tu) {
				te--;
			} else {
				tu--;
			}
		}
	}
	*n_tune = tu;
	*n_test = te;
}

static fb_err
push_all(struct vec *a, const uint32_t *v, uint32_t n)
{
	for (uint32_t e = 0; e < n; e++) {
		if (vec_push(a, v[e]) != FB_OK) {
			return FB_ENOMEM;
		}
	}
	return FB_OK;
}

// Users: taste, U-I pairs and, for a fraction of them, split U-B pairs.
static fb_err
make_user_range(struct user_chunk *ch)
{
	const struct gen *g = ch->g;
	const struct fb_datagen_config *cfg = &g->cfg;
	struct fb_dataset *ds = ch->ds;
	uint32_t d = g->d, C = g->C;
	fb_err err = FB_ENOMEM;
	double *t = malloc((size_t)d * sizeof(double));
	double *dots = malloc((size_t)C * sizeof(double));
	double *ex = malloc((size_t)C * sizeof(double));
	double *icum = malloc((size_t)C * sizeof(double));
	double *bcum = malloc((size_t)C * sizeof(double));
	uint32_t *istamp = calloc(cfg->n_items, sizeof(uint32_t));
	uint32_t *bstamp = calloc(cfg->n_bundles, sizeof(uint32_t));
	uint32_t max = cfg->ui_max > cfg->ub_max ? cfg->ui_max : cfg->ub_max;
	uint32_t *buf = malloc((size_t)max * sizeof(*buf));
	struct fb_csr *csr[3] = {&ds->ub_train, &ds->ub_tune, &ds->ub_test};
	if (t == NULL || dots == NULL || ex == NULL || icum == NULL ||
			bcum == NULL || istamp == NULL || bstamp == NULL ||
			buf == NULL) {
		goto fail;
	}
	struct draw_ctx xi = {
			.g = g,
			.cat_cum = icum,
			.ptr = g->cat_ptr,
			.members = g->cat_items,
			.prob = g->cat_prob,
			.alias = g->cat_alias,
			.factor = g->item_vg,
			.centre_dot = dots,
			.fine = cfg->fine_taste,
			.stamp = istamp,
			.n_members = cfg->n_items,
	};
	struct draw_ctx xb = {
			.g = g,
			.cat_cum = bcum,
			.ptr = g->bcat_ptr,
			.members = g->bcat_bundles,
			.prob = g->bcat_prob,
			.alias = g->bcat_alias,
			.factor = g->bundle_qg,
			.centre = g->bcat_mean,
			.fine = cfg->fine_taste,
			.stamp = bstamp,
			.n_members = cfg->n_bundles,
	};
	for (uint32_t u = ch->u0; u < ch->u1; u++) {
		struct fb_rng r;
		fb_rng_seed(&r, cfg->seed, S_USER + u);
		uint32_t k = fb_rng_below(&r, cfg->n_clusters);
		ch->cluster[u] = k;
		noisy_unit(&r, g->cluster_c + (size_t)k * d, cfg->user_spread,
				t, d);
		category_cum(g, t, g->cat_mass, cfg->taste, dots, ex, icum);
		uint32_t n = draw_count(&r, cfg->ui_mean, UI_SHAPE, cfg->ui_min,
				cfg->ui_max);
		n = draw_members(&xi, &r, t, n, u + 1, buf);
		sort_u32(buf, n);
		ds->ui.row_ptr[u] = ch->ui.n;
		if ((err = push_all(&ch->ui, buf, n)) != FB_OK) {
			goto fail;
		}
		for (int s = 0; s < 3; s++) {
			csr[s]->row_ptr[u] = ch->split[s].n;
		}
		if (fb_rng_uniform(&r) >= cfg->ub_user_frac) {
			continue;
		}
		// Bundle categories weigh their bundles' popularity by the
		// same taste factors as item categories.
		double sum = 0;
		for (uint32_t j = 0; j < C; j++) {
			sum += g->bcat_mass[j] * ex[j];
			bcum[j] = sum;
		}
		n = draw_count(&r, cfg->ub_mean, UB_SHAPE, cfg->ub_min,
				cfg->ub_max);
		n = draw_members(&xb, &r, t, n, u + 1, buf);
		fb_rng_shuffle_u32(&r, buf, n);
		uint32_t n_tune, n_test;
		split_counts(cfg, &r, n, &n_tune, &n_test);
		uint32_t bounds[4] = {0, n - n_test - n_tune, n - n_test, n};
		for (int s = 0; s < 3; s++) {
			uint32_t len = bounds[s + 1] - bounds[s];
			sort_u32(buf + bounds[s], len);
			err = push_all(&ch->split[s], buf + bounds[s], len);
			if (err != FB_OK) {
				goto fail;
			}
		}
	}
	err = FB_OK;
fail:
	free(t);
	free(dots);
	free(ex);
	free(icum);
	free(bcum);
	free(istamp);
	free(bstamp);
	free(buf);
	return err;
}

static void *
user_worker(void *arg)
{
	struct user_chunk *ch = arg;
	ch->err = make_user_range(ch);
	return NULL;
}

// Appends the chunks' arrays into m's col array and rebases row_ptr.
static fb_err
join_chunks(struct fb_csr *m, struct user_chunk *ch, uint32_t n_chunks,
		int which)
{
	uint64_t total = 0;
	for (uint32_t c = 0; c < n_chunks; c++) {
		struct vec *a = which < 0 ? &ch[c].ui : &ch[c].split[which];
		for (uint32_t u = ch[c].u0; u < ch[c].u1; u++) {
			m->row_ptr[u] += total;
		}
		total += a->n;
	}
	m->row_ptr[m->n_rows] = total;
	// The first chunk's buffer grows to hold everything.
	struct vec *first = which < 0 ? &ch[0].ui : &ch[0].split[which];
	uint32_t *col = realloc(
			first->v, (total > 0 ? total : 1) * sizeof(*col));
	if (col == NULL) {
		return FB_ENOMEM;
	}
	first->v = NULL;
	uint64_t at = first->n;
	for (uint32_t c = 1; c < n_chunks; c++) {
		struct vec *a = which < 0 ? &ch[c].ui : &ch[c].split[which];
		memcpy(col + at, a->v, a->n * sizeof(*col));
		at += a->n;
		free(a->v);
		a->v = NULL;
	}
	m->col = col;
	return FB_OK;
}

// Runs the user ranges on up to cfg->threads threads. The output does not
// depend on the thread count: every user has its own random stream.
static fb_err
make_users(struct gen *g, struct fb_dataset *ds, uint32_t *cluster)
{
	uint32_t U = g->cfg.n_users;
	uint32_t n = g->cfg.threads;
	n = n > U / 1024 ? U / 1024 : n;
	n = n < 1 ? 1 : n;
	struct user_chunk *ch = calloc(n, sizeof(*ch));
	pthread_t *tid = calloc(n, sizeof(*tid));
	bool *started = calloc(n, sizeof(*started));
	fb_err err = FB_ENOMEM;
	if (ch == NULL || tid == NULL || started == NULL) {
		goto fail;
	}
	for (uint32_t c = 0; c < n; c++) {
		ch[c].g = g;
		ch[c].ds = ds;
		ch[c].cluster = cluster;
		ch[c].u0 = (uint32_t)((uint64_t)U * c / n);
		ch[c].u1 = (uint32_t)((uint64_t)U * (c + 1) / n);
	}
	for (uint32_t c = 1; c < n; c++) {
		started[c] = pthread_create(&tid[c], NULL, user_worker,
					     &ch[c]) == 0;
	}
	// Ranges whose thread did not start run here.
	for (uint32_t c = 0; c < n; c++) {
		if (!started[c]) {
			user_worker(&ch[c]);
		}
	}
	err = FB_OK;
	for (uint32_t c = 0; c < n; c++) {
		if (started[c]) {
			pthread_join(tid[c], NULL);
		}
		if (ch[c].err != FB_OK) {
			err = ch[c].err;
		}
	}
	if (err != FB_OK || (err = join_chunks(&ds->ui, ch, n, -1)) != FB_OK ||
			(err = join_chunks(&ds->ub_train, ch, n, 0)) != FB_OK ||
			(err = join_chunks(&ds->ub_tune, ch, n, 1)) != FB_OK ||
			(err = join_chunks(&ds->ub_test, ch, n, 2)) != FB_OK) {
		goto fail;
	}
fail:
	for (uint32_t c = 0; ch != NULL && c < n; c++) {
		free(ch[c].ui.v);
		for (int s = 0; s < 3; s++) {
			free(ch[c].split[s].v);
		}
	}
	free(ch);
	free(tid);
	free(started);
	return err;
}

fb_err
fb_datagen_run(struct fb_dataset **out, const struct fb_datagen_config *cfg,
		uint32_t **user_cluster)
{
	struct gen g = {.cfg = *cfg};
	struct fb_dataset *ds = NULL;
	uint32_t *cluster = NULL;
	fb_err err = fb_datagen_resolve(&g.cfg);
	if (err != FB_OK) {
		return err;
	}
	g.d = g.cfg.dim;
	g.C = g.cfg.n_categories;
	uint32_t n_attrs = g.cfg.n_price_bands + g.cfg.n_brands +
			g.cfg.n_categories;
	err = fb_dataset_create(&ds, g.cfg.name, g.cfg.n_users, g.cfg.n_bundles,
			g.cfg.n_items, n_attrs);
	if (err != FB_OK) {
		goto fail;
	}
	cluster = malloc((size_t)g.cfg.n_users * sizeof(*cluster));
	if (cluster == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	if ((err = make_items(&g, ds)) != FB_OK ||
			(err = make_bundles(&g, ds)) != FB_OK ||
			(err = make_users(&g, ds, cluster)) != FB_OK) {
		goto fail;
	}
	gen_finish(&g);
	*out = ds;
	if (user_cluster != NULL) {
		*user_cluster = cluster;
	} else {
		free(cluster);
	}
	return FB_OK;
fail:
	gen_finish(&g);
	fb_dataset_destroy(ds);
	free(cluster);
	return err;
}

fb_err
fb_datagen_write_clusters(
		const char *dir, const uint32_t *user_cluster, uint32_t n_users)
{
	char *path = fb_path_join(dir, "user_cluster.txt");
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
	for (uint32_t u = 0; u < n_users; u++) {
		int len = snprintf(line, sizeof(line), "%u\t%u\n", u,
				user_cluster[u]);
		if ((err = fb_atomic_write(&f, line, (size_t)len)) != FB_OK) {
			fb_atomic_abort(&f);
			return err;
		}
	}
	return fb_atomic_commit(&f);
}
