// tests/unit/test-bound.c: the bound on an honest update (common/net/bound.c,
// protocols/wire-v1.md §9.7) and the aggregator's use of it
// (server/aggregate.c). Its parts are checked against exact computations
// (binomial tails summed exactly, Adam on adversarial gradients, the
// catalogue map by power iteration, norms of discrete Gaussian vectors).
// Then small federations run the real client code path (client/local.c
// node_local_round: user-level DP with its sampler, clipping and discrete
// Gaussian noise, seeded; Adam; client level) and the aggregator's own
// check and sum, at several configurations: every honest update must fall
// under the bound (the largest ratio is printed). Last, one hostile update
// at the bound is added to a round and the move it causes under FedAvg and
// FedAdam is measured against the documented bound.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/local.h"
#include "client/node.h"
#include "client/policy.h"
#include "client/state.h"
#include "fedbundle/data/datagen.h"
#include "fedbundle/data/partition.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/bound.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/privacy/noise.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"
#include "harness.h"
#include "server/aggregate.h"
#include "server/checkpoint.h"
#include "server/config.h"
#include "server/round.h"

// ---- the parts ----

// ln P[Binomial(n, q) = k], by lgamma.
static double
log_pmf(uint64_t n, double q, uint64_t k)
{
	double ln = lgamma((double)n + 1) - lgamma((double)k + 1) -
			lgamma((double)(n - k) + 1);
	return ln + (double)k * log(q) + (double)(n - k) * log1p(-q);
}

// P[Binomial(n, q) > k], summed term by term (k < n).
static double
upper_tail(uint64_t n, double q, uint64_t k)
{
	double s = 0;
	for (uint64_t j = k + 1; j <= n; j++) {
		s += exp(log_pmf(n, q, j));
	}
	return s;
}

TEST(binomial_tail_holds)
{
	static const uint64_t ns[] = {1, 7, 30, 60, 125, 400, 1000, 5000};
	static const double qs[] = {0.01, 0.05, 0.1, 0.25, 0.5, 0.9, 1.0};
	static const double ps[] = {1e-3, 1e-6, 1e-9};
	double worst = 0;
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
		for (size_t b = 0; b < sizeof(qs) / sizeof(qs[0]); b++) {
			for (size_t c = 0; c < sizeof(ps) / sizeof(ps[0]);
					c++) {
				double k = fb_bound_binomial(
						ns[a], qs[b], ps[c]);
				CHECK(k <= (double)ns[a]);
				CHECK(k >= ns[a] * qs[b]);
				uint64_t kk = (uint64_t)floor(k);
				if (kk >= ns[a] || qs[b] >= 1) {
					continue;
				}
				double tail = upper_tail(ns[a], qs[b], kk);
				CHECK(tail <= ps[c]);
				worst = tail / ps[c] > worst ? tail / ps[c]
							     : worst;
			}
		}
	}
	printf("# binomial: the exact tail beyond k is at most %.3g of the "
	       "failure probability\n",
			worst);
	// k / n never grows with n: a larger declaration is covered.
	for (double q = 0.01; q < 1; q += 0.07) {
		double prev = INFINITY;
		for (uint64_t n = 1; n <= 20000; n += n < 100 ? 1 : 37) {
			double r = fb_bound_binomial(n, q, 1e-9 / 8) / n;
			CHECK(r <= prev * (1 + 1e-12));
			prev = r;
		}
	}
}

TEST(noise_tail_holds)
{
	// D discrete Gaussians of parameter s (the client's sampler):
	// |Z| <= s N(sqrt(D), 1, p) must fail at most about p of the time.
	struct fb_noise *nz = NULL;
	uint8_t seed[FB_NOISE_SEED_LEN] = {7};
	CHECK_OK(fb_noise_create_seeded(&nz, seed));
	static const size_t dims[] = {1, 10, 300, 5000};
	double s = 3.0;
	uint64_t num, den;
	CHECK_OK(fb_noise_sigma2_rational(s, &num, &den));
	for (size_t a = 0; a < sizeof(dims) / sizeof(dims[0]); a++) {
		size_t D = dims[a];
		int64_t *v = malloc(D * sizeof(*v));
		CHECK(v != NULL);
		double rd = sqrt((double)D);
		double lim1 = s * fb_bound_noise(rd, 1, 0.1);
		double lim9 = s * fb_bound_noise(rd, 1, 1e-9);
		int over1 = 0, over9 = 0, trials = D > 1000 ? 400 : 2000;
		double largest = 0;
		for (int t = 0; t < trials; t++) {
			memset(v, 0, D * sizeof(*v));
			CHECK_OK(fb_noise_add_discrete_gaussian_i64(
					nz, v, D, num, den));
			double sq = 0;
			for (size_t k = 0; k < D; k++) {
				sq += (double)v[k] * v[k];
			}
			over1 += sqrt(sq) > lim1;
			over9 += sqrt(sq) > lim9;
			largest = sqrt(sq) > largest ? sqrt(sq) : largest;
		}
		free(v);
		printf("# noise: D %zu: largest norm %.4g s sqrt(D); bound at "
		       "1e-9 %.4g s sqrt(D); over the 0.1 bound %d of %d\n",
				D, largest / s / rd, lim9 / s / rd, over1,
				trials);
		CHECK(over9 == 0);
		// 0.1 expected at most; 3 standard deviations of slack.
		CHECK(over1 <= trials / 10 + 3 * sqrt(trials * 0.09));
	}
	fb_noise_destroy(nz);
	// Large D: the bound approaches sqrt(D).
	CHECK(fb_bound_noise(1000, 1, 1e-9) / 1000.0 < 1.01);
}

// Adam from zero moments on g[0..T) in double: the largest
// |m_hat| / sqrt(v_hat) over the steps.
static double
adam_run(const double *g, int T, double b1, double b2, bool corr, int *at)
{
	double m = 0, v = 0, worst = 0;
	for (int t = 1; t <= T; t++) {
		m = b1 * m + (1 - b1) * g[t - 1];
		v = b2 * v + (1 - b2) * g[t - 1] * g[t - 1];
		double mh = corr ? m / (1 - pow(b1, t)) : m;
		double vh = corr ? v / (1 - pow(b2, t)) : v;
		double r = vh > 0 ? fabs(mh) / sqrt(vh) : 0;
		if (r > worst) {
			worst = r;
			*at = t;
		}
	}
	return worst;
}

TEST(adam_ratio_holds)
{
	static const double betas[][2] = {
			{0.9, 0.999}, {0.9, 0.99}, {0.5, 0.9}, {0, 0.999}};
	struct fb_rng rng;
	fb_rng_seed(&rng, 3, 0);
	double g[200];
	for (size_t b = 0; b < sizeof(betas) / sizeof(betas[0]); b++) {
		double b1 = betas[b][0], b2 = betas[b][1];
		for (int corr = 0; corr < 2; corr++) {
			for (int T = 1; T <= 200; T += T < 10 ? 1 : 17) {
				double bound = fb_bound_adam_ratio(
						b1, b2, (uint64_t)T, corr);
				// The Cauchy-Schwarz equality case: |g_k|
				// proportional to (b1 / b2)^(T - k).
				for (int k = 0; k < T; k++) {
					g[k] = pow(b1 / b2, T - 1 - k);
				}
				int at = 0;
				double r = adam_run(g, T, b1, b2, corr, &at);
				CHECK(r <= bound * (1 + 1e-9));
				CHECK(at != T || b1 == 0 ||
						r >= bound * (1 - 1e-9));
				// Random sign and scale sequences.
				for (int trial = 0; trial < 20; trial++) {
					for (int k = 0; k < T; k++) {
						g[k] = exp(6 * fb_rng_normal(&rng)) *
								(fb_rng_uniform(&rng) < 0.8 ? 1
											    : -1);
					}
					int a2 = 0;
					double r2 = adam_run(g, T, b1, b2, corr,
							&a2);
					CHECK(r2 <= fb_bound_adam_ratio(b1, b2,
								    (uint64_t)a2,
								    corr) *
									(1 + 1e-9));
				}
			}
		}
	}
	// Step 1 of bias-corrected Adam is a sign step.
	CHECK_NEAR(fb_bound_adam_ratio(0.9, 0.999, 1, true), 1, 1e-12);
	printf("# adam: bias-corrected ratio bound (0.9, 0.999) at t = 1, "
	       "2, 10, 100: %.4f %.4f %.4f %.4f; FedAdam (0.9, 0.99) at "
	       "t = 1000: %.4f\n",
			fb_bound_adam_ratio(0.9, 0.999, 1, true),
			fb_bound_adam_ratio(0.9, 0.999, 2, true),
			fb_bound_adam_ratio(0.9, 0.999, 10, true),
			fb_bound_adam_ratio(0.9, 0.999, 100, true),
			fb_bound_adam_ratio(0.9, 0.99, 1000, false));
}

// ---- the toy consortium ----

struct toy {
	struct fb_dataset *ds;
	struct fb_dataset *part[4];
	uint32_t k;
};

static struct toy toy;

static void
toy_make(void)
{
	struct fb_datagen_config gc;
	fb_datagen_config_defaults(&gc);
	CHECK_OK(fb_datagen_apply_preset(&gc, "toy"));
	gc.seed = 1;
	gc.threads = 1;
	CHECK_OK(fb_datagen_run(&toy.ds, &gc, NULL));
	struct fb_partition_config pc;
	fb_partition_config_defaults(&pc);
	pc.n_retailers = 4;
	pc.seed = 1;
	uint32_t *owner = malloc(toy.ds->n_users * sizeof(*owner));
	CHECK(owner != NULL);
	CHECK_OK(fb_partition_assign(toy.ds->n_users, NULL, 0, &pc, owner));
	toy.k = 4;
	for (uint32_t r = 0; r < toy.k; r++) {
		uint32_t *global = NULL;
		CHECK_OK(fb_partition_extract(
				toy.ds, owner, r, &toy.part[r], &global));
		free(global);
	}
	free(owner);
}

// The catalogue map of fb_trainer_apply on one coordinate column: x (bundle
// representation gradients) and y (item ones) to W, V and M gradients.
static void
apply_map(const struct fb_dataset *ds, bool attrs, const double *x,
		const double *y, double *w, double *v, double *m)
{
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		w[b] = x[b];
	}
	for (uint32_t i = 0; i < ds->n_items; i++) {
		v[i] = y[i];
	}
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		uint32_t n = fb_csr_row_len(&ds->bi, b);
		const uint32_t *it = fb_csr_row(&ds->bi, b);
		for (uint32_t k = 0; k < n; k++) {
			v[it[k]] += x[b] / n;
		}
	}
	for (uint32_t a = 0; attrs && a < ds->n_attrs; a++) {
		m[a] = 0;
	}
	for (uint32_t i = 0; attrs && i < ds->n_items; i++) {
		uint32_t n = fb_csr_row_len(&ds->ia, i);
		const uint32_t *as = fb_csr_row(&ds->ia, i);
		for (uint32_t k = 0; k < n; k++) {
			m[as[k]] += v[i] / n;
		}
	}
}

// The transpose of apply_map.
static void
apply_map_t(const struct fb_dataset *ds, bool attrs, const double *w,
		const double *v, const double *m, double *x, double *y)
{
	for (uint32_t i = 0; i < ds->n_items; i++) {
		y[i] = v[i];
	}
	for (uint32_t i = 0; attrs && i < ds->n_items; i++) {
		uint32_t n = fb_csr_row_len(&ds->ia, i);
		const uint32_t *as = fb_csr_row(&ds->ia, i);
		for (uint32_t k = 0; k < n; k++) {
			y[i] += m[as[k]] / n;
		}
	}
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		uint32_t n = fb_csr_row_len(&ds->bi, b);
		const uint32_t *it = fb_csr_row(&ds->bi, b);
		x[b] = w[b];
		for (uint32_t k = 0; k < n; k++) {
			x[b] += y[it[k]] / n;
		}
	}
}

// |A (x, y)|^2 for one column.
static double
map_sqnorm(const struct fb_dataset *ds, bool attrs, const double *x,
		const double *y, double *w, double *v, double *m)
{
	apply_map(ds, attrs, x, y, w, v, m);
	double out = 0;
	for (size_t k = 0; k < ds->n_bundles; k++) {
		out += w[k] * w[k];
	}
	for (size_t k = 0; k < ds->n_items; k++) {
		out += v[k] * v[k];
	}
	for (size_t k = 0; attrs && k < ds->n_attrs; k++) {
		out += m[k] * m[k];
	}
	return out;
}

TEST(catalog_map_holds)
{
	const struct fb_dataset *ds = toy.ds;
	struct fb_noise *nz = NULL;
	uint8_t seed[FB_NOISE_SEED_LEN] = {9};
	CHECK_OK(fb_noise_create_seeded(&nz, seed));
	for (int attrs = 0; attrs < 2; attrs++) {
		struct fb_hparams o;
		fb_wire_hparams_defaults(&o);
		o.use_attrs = attrs;
		struct fb_bound_catalog cat;
		CHECK_OK(fb_bound_catalog(ds, &o, &cat));
		size_t nb = ds->n_bundles, ni = ds->n_items, na = ds->n_attrs;
		double *x = calloc(nb, sizeof(double));
		double *y = calloc(ni, sizeof(double));
		double *w = malloc(nb * sizeof(double));
		double *v = malloc(ni * sizeof(double));
		double *m = malloc((na + 1) * sizeof(double));
		int64_t *z = malloc((nb + ni) * sizeof(int64_t));
		CHECK(x && y && w && v && m && z);
		// The Frobenius sums, column by column.
		double fb = 0, fi = 0;
		for (size_t k = 0; k < nb; k++) {
			x[k] = 1;
			fb += map_sqnorm(ds, attrs, x, y, w, v, m);
			x[k] = 0;
		}
		for (size_t k = 0; k < ni; k++) {
			y[k] = 1;
			fi += map_sqnorm(ds, attrs, x, y, w, v, m);
			y[k] = 0;
		}
		CHECK(fabs(cat.fro_bundles - fb) <= 1e-5 * fb);
		CHECK(fabs(cat.fro_items - fi) <= 1e-5 * fi);
		// Power iteration on A^T A: the estimate is below the norm.
		for (size_t k = 0; k < nb; k++) {
			x[k] = 1;
		}
		for (size_t k = 0; k < ni; k++) {
			y[k] = 1;
		}
		double est = 0;
		for (int it = 0; it < 300; it++) {
			double sq = 0;
			for (size_t k = 0; k < nb; k++) {
				sq += x[k] * x[k];
			}
			for (size_t k = 0; k < ni; k++) {
				sq += y[k] * y[k];
			}
			double nrm = sqrt(sq);
			for (size_t k = 0; k < nb; k++) {
				x[k] /= nrm;
			}
			for (size_t k = 0; k < ni; k++) {
				y[k] /= nrm;
			}
			est = sqrt(map_sqnorm(ds, attrs, x, y, w, v, m));
			apply_map_t(ds, attrs, w, v, m, x, y);
		}
		CHECK(est <= cat.norm);
		CHECK(cat.norm <= 3 * est);
		// Noise through the map (Hsu, Kakade, Zhang): discrete
		// Gaussians of parameter s on every column.
		double s = 2.0, fro = sqrt(fb + fi);
		uint64_t num, den;
		CHECK_OK(fb_noise_sigma2_rational(s, &num, &den));
		double lim1 = s * fb_bound_noise(fro, cat.norm, 0.1);
		double lim9 = s * fb_bound_noise(fro, cat.norm, 1e-9);
		int over1 = 0, trials = 300;
		double largest = 0;
		for (int t = 0; t < trials; t++) {
			memset(z, 0, (nb + ni) * sizeof(*z));
			CHECK_OK(fb_noise_add_discrete_gaussian_i64(
					nz, z, nb + ni, num, den));
			for (size_t k = 0; k < nb; k++) {
				x[k] = (double)z[k];
			}
			for (size_t k = 0; k < ni; k++) {
				y[k] = (double)z[nb + k];
			}
			double r = sqrt(map_sqnorm(ds, attrs, x, y, w, v, m));
			over1 += r > lim1;
			largest = r > largest ? r : largest;
		}
		printf("# catalogue map (toy, attributes %s): norm %.4f by "
		       "power iteration, bound %.4f; Frobenius %.2f = %.4f "
		       "sqrt(columns); noise through it: largest %.4g s, "
		       "bound at 1e-9 %.4g s (a sqrt(columns) would be "
		       "%.4g s), over the 0.1 bound %d of %d\n",
				attrs ? "on" : "off", est, cat.norm, fro,
				fro / sqrt((double)(nb + ni)), largest / s,
				lim9 / s, cat.norm * sqrt((double)(nb + ni)),
				over1, trials);
		CHECK(largest <= lim9);
		CHECK(over1 <= trials / 10 + 3 * sqrt(trials * 0.09));
		free(x);
		free(y);
		free(w);
		free(v);
		free(m);
		free(z);
	}
	fb_noise_destroy(nz);
	struct fb_hparams o;
	fb_wire_hparams_defaults(&o);
	o.train_items = false;
	struct fb_bound_catalog one;
	CHECK_OK(fb_bound_catalog(toy.ds, &o, &one));
	CHECK(one.norm == 1 && one.fro_bundles == toy.ds->n_bundles);
}

// ---- honest federations ----

struct config {
	const char *name;
	struct fb_wire_round_config c;
	double declare; // each retailer declares users x this
	uint32_t rounds;
	int server_opt; // enum agg_server_opt
};

static void
base_config(struct fb_wire_round_config *c, uint8_t gran)
{
	memset(c, 0, sizeof(*c));
	c->granularity = gran;
	c->sampling_rate = 0.25;
	c->noise_multiplier = gran == FB_WIRE_GRAN_NONE ? 0 : 1.0;
	c->clip_norm = 1;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = 4;
	c->hp.lr = 0.05;
	c->hp.l2 = 6e-4;
	c->hp.item_weight = 0.2;
	c->hp.negatives = 1;
	c->hp.dim = 16;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	fb_wire_hparams_defaults(&c->hp);
	c->hp.batch_users = 32;
}

static void
plan_of(struct fb_wire_plan *p, const struct fb_wire_round_config *c,
		const struct fb_model *m)
{
	memset(p, 0, sizeof(*p));
	p->kind = FB_WIRE_PLAN_TRAIN;
	p->deadline_ms = 1000;
	p->config = *c;
	p->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, m->n_items, m->dim, m->V.data};
	p->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, m->n_bundles, m->dim, m->W.data};
	p->n_tensors = 2;
	if (m->n_attrs > 0) {
		p->tensors[2] = (struct fb_wire_tensor){
				FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
				m->n_attrs, m->dim, m->M.data};
		p->n_tensors = 3;
	}
}

static char workdir[64];

// A hostile update of m's shapes: every coordinate value.
struct hostile {
	struct fb_wire_update u;
	float *data[3];
};

static void
hostile_make(struct hostile *h, const struct fb_model *m,
		const struct fb_wire_round_config *c, float value)
{
	memset(h, 0, sizeof(*h));
	h->u.clip_norm = c->clip_norm;
	h->u.noise_multiplier = c->noise_multiplier;
	const struct fb_matrix *mats[3] = {&m->V, &m->W, &m->M};
	static const uint16_t ids[3] = {FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_TENSOR_BUNDLES, FB_WIRE_TENSOR_ATTR_PROJ};
	for (int k = 0; k < (m->n_attrs > 0 ? 3 : 2); k++) {
		size_t n = fb_matrix_len(mats[k]);
		h->data[k] = malloc(n * sizeof(float));
		for (size_t j = 0; j < n; j++) {
			h->data[k][j] = value;
		}
		h->u.tensors[k] = (struct fb_wire_tensor){ids[k],
				FB_WIRE_DTYPE_F32, 0, (uint32_t)mats[k]->rows,
				(uint32_t)mats[k]->cols, h->data[k]};
		h->u.n_tensors = k + 1;
	}
}

static void
hostile_free(struct hostile *h)
{
	for (int k = 0; k < 3; k++) {
		free(h->data[k]);
	}
}

static double
model_dist(const struct fb_model *a, const struct fb_model *b)
{
	const struct fb_matrix *x[3] = {&a->V, &a->W, &a->M};
	const struct fb_matrix *y[3] = {&b->V, &b->W, &b->M};
	double sq = 0;
	for (int k = 0; k < 3; k++) {
		for (size_t j = 0; j < fb_matrix_len(x[k]); j++) {
			double d = (double)x[k]->data[j] - y[k]->data[j];
			sq += d * d;
		}
	}
	return sqrt(sq);
}

// The last round's hostile experiment: an update at 0.999 of the limit is
// accepted and one just above refused (as is a finite 3e38); the move it
// causes beside the honest sum acc is measured under FedAvg and FedAdam.
static void
hostile_round(const struct config *cf, const struct fb_model *model,
		const struct agg_accum *acc, const struct fb_bound *bd,
		int *checked)
{
	const struct fb_wire_round_config *c = &cf->c;
	struct agg_update_limit lim = {bd->l2, bd->linf};
	size_t P = fb_matrix_len(&model->V) + fb_matrix_len(&model->W) +
			fb_matrix_len(&model->M);
	float v = (float)(0.999 * bd->l2 / sqrt((double)P));
	char text[160];
	struct hostile h, over, huge;
	hostile_make(&h, model, c, v);
	hostile_make(&over, model, c,
			(float)(1.001 * bd->l2 / sqrt((double)P)));
	hostile_make(&huge, model, c, 0);
	huge.data[1][0] = 3e38f;
	double norm = 0;
	CHECK(agg_update_check(&h.u, c, model, &lim, text, sizeof(text),
			      &norm) == FB_WIRE_REASON_NONE);
	CHECK(agg_update_check(&over.u, c, model, &lim, text, sizeof(text),
			      NULL) == FB_WIRE_REASON_OVER_BOUND);
	CHECK(agg_update_check(&huge.u, c, model, &lim, text, sizeof(text),
			      NULL) == FB_WIRE_REASON_OVER_BOUND);
	// FedAvg (server lr 1) and FedAdam, with and without the hostile
	// update beside the same honest ones.
	for (int kind = 0; kind < 2; kind++) {
		struct agg_opt with = {0}, without = {0};
		double lr = kind == AGG_OPT_FEDAVG ? 1.0 : 0.01;
		CHECK_OK(agg_opt_init(&with, kind, lr, 0.9, 0.99, 1e-3, model));
		CHECK_OK(agg_opt_init(
				&without, kind, lr, 0.9, 0.99, 1e-3, model));
		struct fb_model a = {0}, b = {0}, honest = {0};
		CHECK_OK(fb_model_copy(&a, model));
		CHECK_OK(fb_model_copy(&b, model));
		struct agg_accum all = {0};
		CHECK_OK(agg_accum_init(&all, model));
		CHECK_OK(fb_model_copy(&honest, &acc->sum));
		CHECK_OK(fb_model_copy(&all.sum, &acc->sum));
		double n = acc->n;
		if (kind == AGG_OPT_FEDADAM) {
			// Some history first: the honest mean, 5 rounds.
			for (int r = 0; r < 5; r++) {
				agg_opt_apply(&with, &a, &honest, n);
				agg_opt_apply(&without, &b, &honest, n);
			}
			CHECK(model_dist(&a, &b) == 0);
		}
		struct fb_model before = {0};
		CHECK_OK(fb_model_copy(&before, &a));
		agg_accum_add(&all, &h.u, 0, NULL);
		struct agg_candidate cand;
		agg_opt_check(&with, &a, &all.sum, n + 1, &cand);
		CHECK(cand.finite);
		agg_opt_apply(&with, &a, &all.sum, n + 1);
		agg_opt_apply(&without, &b, &honest, n);
		CHECK_NEAR(cand.move_l2, model_dist(&a, &before),
				1e-5 * cand.move_l2 + 1e-12);
		double moved = model_dist(&a, &b);
		if (kind == AGG_OPT_FEDAVG) {
			// Its own share is norm / (n + 1); with the divisor's
			// change, at most (norm + |honest mean|) / (n + 1).
			double mean = sqrt(fb_matrix_sqnorm(&honest.V) +
						      fb_matrix_sqnorm(
								      &honest.W) +
						      fb_matrix_sqnorm(
								      &honest.M)) /
					n;
			printf("# %s: FedAvg, %g honest updates: the hostile "
			       "update of norm %.4g (0.999 of the bound) adds "
			       "%.4g = norm / %g to the model; the model "
			       "differs from the honest round's by %.4g "
			       "(bound 2 B / (n + 1) = %.4g)\n",
					cf->name, n, norm, norm / (n + 1),
					n + 1, moved, 2 * bd->l2 / (n + 1));
			CHECK(moved <= (norm + mean) / (n + 1) * (1 + 1e-4));
			CHECK(moved <= 2 * bd->l2 / (n + 1));
		} else {
			// Per coordinate: the step is lr L_c-Lipschitz in the
			// pseudo-gradient (wire-v1 §9.7), and each step is at
			// most lr R.
			double R = fb_bound_adam_ratio(
					0.9, 0.99, with.t, false);
			double Lc = lr * (0.1 + R * sqrt(0.01) / 4) / 1e-3;
			double delta = 0;
			const struct fb_matrix *s1[3] = {
					&all.sum.V, &all.sum.W, &all.sum.M};
			const struct fb_matrix *s0[3] = {
					&honest.V, &honest.W, &honest.M};
			for (int k = 0; k < 3; k++) {
				for (size_t j = 0; j < fb_matrix_len(s1[k]);
						j++) {
					double d = s1[k]->data[j] / (n + 1) -
							s0[k]->data[j] / n;
					delta += d * d;
				}
			}
			delta = sqrt(delta);
			double bound = fmin(Lc * delta,
					2 * lr * R * sqrt((double)P));
			printf("# %s: FedAdam (lr %g, 0.9, 0.99, tau 1e-3): the "
			       "hostile update moved the model by %.4g beyond "
			       "the honest round (bound min(L_c |delta|, 2 lr "
			       "R sqrt(P)) = %.4g, |delta| %.4g)\n",
					cf->name, lr, moved, bound, delta);
			CHECK(moved <= bound * (1 + 1e-4));
		}
		fb_model_finish(&a);
		fb_model_finish(&b);
		fb_model_finish(&before);
		fb_model_finish(&honest);
		agg_accum_finish(&all);
		agg_opt_finish(&with);
		agg_opt_finish(&without);
	}
	// Two finite 3e38 updates in one sum: the candidate is not finite.
	struct agg_accum two = {0};
	struct agg_opt avg = {0};
	CHECK_OK(agg_accum_init(&two, model));
	CHECK_OK(agg_opt_init(&avg, AGG_OPT_FEDAVG, 1, 0.9, 0.99, 1e-3, model));
	agg_accum_add(&two, &huge.u, 0, NULL);
	agg_accum_add(&two, &huge.u, 0, NULL);
	struct agg_candidate cand;
	agg_opt_check(&avg, model, &two.sum, 2, &cand);
	CHECK(!cand.finite);
	agg_accum_finish(&two);
	agg_opt_finish(&avg);
	hostile_free(&h);
	hostile_free(&over);
	hostile_free(&huge);
	(*checked)++;
}

// One configuration: R rounds of the toy consortium's 4 retailers from a
// random model, the aggregator averaging (FedAvg, lr 1); every update is
// checked against the round's bound. Returns the largest ratio.
static double
federate(const struct config *cf, bool hostile)
{
	const struct fb_dataset *ds = toy.ds;
	const struct fb_wire_round_config *c = &cf->c;
	uint32_t n_attrs = c->hp.use_attrs ? ds->n_attrs : 0;
	struct fb_model model = {0};
	CHECK_OK(fb_model_init(&model, ds->n_items, ds->n_bundles, n_attrs,
			c->hp.dim));
	struct fb_rng rng;
	fb_rng_seed(&rng, 11, 0);
	fb_model_randomize(&model, &rng, 0.1f);
	if (c->hp.bias) {
		struct fb_matrix *mats[3] = {&model.V, &model.W, &model.M};
		for (int k = 0; k < 3; k++) {
			for (size_t r = 0; r < mats[k]->rows; r++) {
				fb_matrix_row(mats[k], r)[c->hp.dim - 1] = 0;
			}
		}
	}
	struct fb_bound_catalog catalog;
	CHECK_OK(fb_bound_catalog(ds, &c->hp, &catalog));
	struct node_state st[4];
	struct node_work work[4];
	memset(st, 0, sizeof(st));
	memset(work, 0, sizeof(work));
	struct agg_accum acc = {0};
	CHECK_OK(agg_accum_init(&acc, &model));
	struct agg_opt opt = {0};
	CHECK_OK(agg_opt_init(
			&opt, AGG_OPT_FEDAVG, 1, 0.9, 0.99, 1e-3, &model));
	double worst = 0, worst_inf = 0, largest = 0, t0 = fb_clock_s();
	uint32_t count = 0;
	struct fb_bound bd = {0};
	int checked = 0;
	uint64_t min_users = 0;
	for (uint32_t round = 1; round <= cf->rounds; round++) {
		struct fb_wire_round_config rc = *c;
		uint64_t fewest = UINT64_MAX;
		for (uint32_t r = 0; r < toy.k; r++) {
			uint64_t d = (uint64_t)ceil(
					toy.part[r]->n_users * cf->declare);
			fewest = d < fewest ? d : fewest;
		}
		rc.min_users = c->granularity == FB_WIRE_GRAN_USER ? fewest : 0;
		min_users = rc.min_users;
		struct fb_bound_shape sh = {ds->n_items, ds->n_bundles, n_attrs,
				catalog,
				fb_bound_model_norm(&model, c->hp.train_items)};
		CHECK_OK(fb_bound_update(&rc, &sh, &bd));
		CHECK(bd.bounded);
		struct agg_update_limit lim = {bd.l2, bd.linf};
		struct fb_wire_plan plan;
		plan_of(&plan, &rc, &model);
		agg_accum_reset(&acc);
		for (uint32_t r = 0; r < toy.k; r++) {
			struct node_policy pol;
			node_policy_defaults(&pol);
			pol.allow_none = pol.allow_user = pol.allow_client =
					true;
			pol.min_noise_multiplier = 0;
			pol.epsilon = 1e6;
			// The accountant is not under test: the fast one.
			pol.accountant = FB_ACCT_RDP;
			pol.max_dim = 4096;
			pol.threads = 1;
			pol.users = (uint64_t)ceil(
					toy.part[r]->n_users * cf->declare);
			pol.seed = 100 + r;
			pol.seeded_noise = true;
			pol.noise_seed = round * 7919 + r;
			snprintf(pol.ledger, sizeof(pol.ledger),
					"%s/ledger-%u-%u", workdir, round, r);
			struct node_round out;
			struct fb_ledger *led = NULL;
			CHECK_OK(fb_ledger_open(&led, pol.ledger, true));
			CHECK_OK(node_local_round(&pol, toy.part[r], &st[r],
					led, &plan, round, &work[r], &out));
			fb_ledger_close(led);
			CHECK(!out.refuse);
			unlink(pol.ledger);
			struct fb_wire_limits wl = {FB_WIRE_MAX_TENSORS,
					ds->n_items, c->hp.dim, true};
			struct fb_wire_update u;
			CHECK_OK(fb_wire_update_decode(&u,
					fb_msg_data(out.update) +
							FB_ENV_BODY_OFF,
					fb_msg_len(out.update) -
							FB_ENV_OVERHEAD,
					&wl));
			char text[160];
			double norm = 0;
			uint16_t why = agg_update_check(&u, &rc, &model, &lim,
					text, sizeof(text), &norm);
			if (why != FB_WIRE_REASON_NONE) {
				printf("# %s round %u retailer %u: %s: %s\n",
						cf->name, round, r,
						fb_wire_reason_name(why), text);
			}
			CHECK(why == FB_WIRE_REASON_NONE);
			double amax = 0;
			for (uint32_t k = 0; k < u.n_tensors; k++) {
				const float *x = u.tensors[k].data;
				size_t n = (size_t)u.tensors[k].rows *
						u.tensors[k].cols;
				for (size_t j = 0; j < n; j++) {
					amax = fabs(x[j]) > amax ? fabs(x[j])
								 : amax;
				}
			}
			worst = norm / bd.l2 > worst ? norm / bd.l2 : worst;
			worst_inf = amax / bd.linf > worst_inf ? amax / bd.linf
							       : worst_inf;
			largest = norm > largest ? norm : largest;
			agg_accum_add(&acc, &u,
					c->granularity == FB_WIRE_GRAN_CLIENT
							? c->clip_norm
							: 0,
					NULL);
			count++;
			fb_msg_free(out.update);
		}
		if (hostile && round == cf->rounds) {
			hostile_round(cf, &model, &acc, &bd, &checked);
		}
		agg_opt_apply(&opt, &model, &acc.sum, acc.n);
	}
	printf("# %s: %u honest updates, the largest norm %.5g is %.4f of "
	       "its bound, the largest coordinate %.4f of its bound; the "
	       "last round's bound %.5g (%s, T %u",
			cf->name, count, largest, worst, worst_inf, bd.l2,
			bd.why, bd.steps);
	if (bd.signal > 0) {
		printf(", D %zu, min_users %llu, users sampled <= %.1f: lr / "
		       "(q n) x (signal %.4g + noise %.4g) + decay %.4g",
				bd.release_dim, (unsigned long long)min_users,
				bd.sampled, bd.signal, bd.noise, bd.decay);
	}
	printf(") in %.1f s\n", fb_clock_s() - t0);
	CHECK(!hostile || checked == 1);
	for (uint32_t r = 0; r < toy.k; r++) {
		node_state_finish(&st[r]);
		node_work_finish(&work[r]);
	}
	agg_accum_finish(&acc);
	agg_opt_finish(&opt);
	fb_model_finish(&model);
	CHECK(worst <= 1 && worst_inf <= 1);
	return worst;
}

TEST(honest_updates_fall_under_the_bound)
{
	struct config cf[7];
	size_t n = 0;
	// The user-level DP defaults (fb_train_config_defaults_dp): SGD at
	// lr 20, items frozen, 8 bundle columns and the bias.
	cf[n] = (struct config){"user SGD, DP defaults", {0}, 1, 12, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_USER);
	cf[n].c.hp.lr = 20;
	cf[n].c.hp.optimizer = FB_OPT_SGD;
	cf[n].c.hp.train_items = false;
	cf[n].c.hp.bias = true;
	cf[n].c.hp.bundle_rank = 8;
	cf[n].c.hp.lr_user = 0.02;
	n++;
	// Items trained through the catalogue map, little noise: the
	// sampled users' share of the bound dominates.
	cf[n] = (struct config){"user SGD, items, sigma 0.3", {0}, 1, 10, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_USER);
	cf[n].c.hp.lr = 2;
	cf[n].c.noise_multiplier = 0.3;
	cf[n].c.sampling_rate = 0.5;
	cf[n].c.local_steps = 3;
	cf[n].c.hp.optimizer = FB_OPT_SGD;
	n++;
	// Declared users twice the data, local_epochs (T = ceil(1/q)).
	cf[n] = (struct config){"user SGD, epochs, 2x declared", {0}, 2, 6, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_USER);
	cf[n].c.hp.lr = 5;
	cf[n].c.sampling_rate = 0.1;
	cf[n].c.local_steps = 0;
	cf[n].c.hp.l2 = 1e-2;
	cf[n].c.hp.optimizer = FB_OPT_SGD;
	n++;
	// Adam, one step: every trained coordinate moves by lr (the bound
	// is reached up to eps and rounding).
	cf[n] = (struct config){"user Adam, 1 step", {0}, 1, 8, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_USER);
	cf[n].c.hp.lr = 0.01;
	cf[n].c.local_steps = 1;
	n++;
	cf[n] = (struct config){"user Adam, 4 steps, items", {0}, 1, 8, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_USER);
	cf[n].c.hp.lr = 0.01;
	n++;
	cf[n] = (struct config){"none Adam, 5 steps", {0}, 1, 10, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_NONE);
	cf[n].c.hp.lr = 0.003;
	cf[n].c.local_steps = 5;
	n++;
	cf[n] = (struct config){"client level", {0}, 1, 10, 0};
	base_config(&cf[n].c, FB_WIRE_GRAN_CLIENT);
	cf[n].c.local_steps = 5;
	n++;
	for (size_t k = 0; k < n; k++) {
		double w = federate(&cf[k], k == 0 || k == 1 || k == 4);
		CHECK(w > 0);
	}
}

TEST(no_bound_where_none_can_be_derived)
{
	struct fb_wire_round_config c;
	base_config(&c, FB_WIRE_GRAN_NONE);
	struct fb_bound_shape sh = {10, 10, 0, {1, 10, 10}, 1};
	struct fb_bound b;
	c.hp.optimizer = FB_OPT_SGD;
	CHECK_OK(fb_bound_update(&c, &sh, &b));
	CHECK(!b.bounded && isinf(b.l2));
	c.hp.optimizer = FB_OPT_ADAM;
	c.local_steps = 0;
	CHECK_OK(fb_bound_update(&c, &sh, &b));
	CHECK(!b.bounded);
	base_config(&c, FB_WIRE_GRAN_USER);
	CHECK_ERR(fb_bound_update(&c, &sh, &b), FB_EINVAL);
	c.min_users = 100;
	CHECK_OK(fb_bound_update(&c, &sh, &b));
	CHECK(b.bounded);
	// A larger declaration never raises the bound.
	double prev = b.l2;
	for (uint64_t n = 101; n < 100000; n = n * 3 / 2) {
		c.min_users = n;
		CHECK_OK(fb_bound_update(&c, &sh, &b));
		CHECK(b.l2 <= prev);
		prev = b.l2;
	}
	base_config(&c, FB_WIRE_GRAN_CLIENT);
	CHECK_OK(fb_bound_update(&c, &sh, &b));
	CHECK_NEAR(b.l2, c.clip_norm * (1 + FB_BOUND_CLIP_SLACK), 1e-15);
}

// ---- the aggregator's round: refusal, commit check, checkpoint ----

struct agg_rig {
	struct agg_config cfg;
	struct fb_roster *roster;
	struct agg_fed fed;
	FILE *metrics;
	char *metrics_text;
	size_t metrics_len;
	uint64_t now;
};

static void
rig_config(struct agg_rig *g, int gran, const char *dir)
{
	memset(g, 0, sizeof(*g));
	agg_config_defaults(&g->cfg);
	snprintf(g->cfg.checkpoint_dir, sizeof(g->cfg.checkpoint_dir), "%s/%s",
			workdir, dir);
	g->cfg.rounds = 3;
	g->cfg.quorum = 2;
	g->cfg.min_clients = 2;
	g->cfg.public_init = false;
	g->cfg.round.granularity = gran;
	g->cfg.round.noise_multiplier = 1;
	g->cfg.round.hp.dim = 8;
	g->cfg.round.hp.use_attrs = false;
	g->cfg.round.hp.optimizer = FB_OPT_SGD;
	g->cfg.round.local_steps = 2;
	g->cfg.round.min_users = 100;
	CHECK_OK(fb_roster_create(&g->roster));
	for (int c = 0; c < 2; c++) {
		uint8_t pk[FB_ID_PK_LEN];
		memset(pk, c + 1, sizeof(pk));
		char name[16];
		snprintf(name, sizeof(name), "retailer-%d", c);
		CHECK_OK(fb_roster_add(g->roster, pk, name));
	}
}

static fb_err
rig_open(struct agg_rig *g)
{
	fb_err err = agg_fed_init(&g->fed, &g->cfg, toy.ds, g->roster, 0);
	if (err != FB_OK) {
		return err;
	}
	g->fed.human = NULL;
	g->metrics = open_memstream(&g->metrics_text, &g->metrics_len);
	g->fed.metrics = g->metrics;
	for (uint32_t c = 0; c < g->fed.n_clients; c++) {
		g->fed.clients[c].connected = true;
	}
	return FB_OK;
}

static void
rig_close(struct agg_rig *g)
{
	agg_fed_finish(&g->fed);
	if (g->metrics != NULL) {
		fclose(g->metrics);
	}
	free(g->metrics_text);
	fb_roster_destroy(g->roster);
	memset(g, 0, sizeof(*g));
}

// One round where client c sends an update with every coordinate of W
// set to w[c]; returns the outcome of client 0's.
static struct agg_outcome
rig_round(struct agg_rig *g, const float w[2])
{
	struct agg_fed *fed = &g->fed;
	g->now += 1000;
	agg_fed_tick(fed, g->now);
	CHECK(fed->state == AGG_COLLECTING);
	struct agg_outcome first;
	memset(&first, 0, sizeof(first));
	for (uint32_t c = 0; c < 2; c++) {
		struct fb_wire_plan plan;
		agg_fed_poll(fed, c, FB_WIRE_POLL_READY, g->now, &plan);
		CHECK(plan.kind == FB_WIRE_PLAN_TRAIN);
		struct hostile h;
		hostile_make(&h, &fed->model, &plan.config, 0);
		for (size_t k = 0; k < fb_matrix_len(&fed->model.W); k++) {
			h.data[1][k] = w[c];
		}
		size_t len = fb_wire_update_len(&h.u);
		uint8_t *body = aligned_alloc(16, (len + 15) / 16 * 16);
		CHECK(body != NULL);
		CHECK_OK(fb_wire_update_encode(body, len, &h.u, &len, NULL));
		struct agg_outcome out;
		agg_fed_update(fed, c, fed->round, body, len, g->now, &out);
		if (c == 0) {
			first = out;
		}
		free(body);
		hostile_free(&h);
	}
	agg_fed_tick(fed, g->now); // every participant answered: close
	fflush(g->metrics);
	return first;
}

static bool
rig_finite(const struct agg_rig *g)
{
	const struct fb_model *m = &g->fed.model;
	return fb_matrix_all_finite(&m->V) && fb_matrix_all_finite(&m->W) &&
			fb_matrix_all_finite(&m->M);
}

TEST(aggregator_never_commits_a_broken_model)
{
	// Granularity none with SGD: no bound, so two finite 3e38 updates
	// are counted; their sum is +infinity: the round is abandoned, the
	// model stays, nothing is checkpointed.
	struct agg_rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "none");
	CHECK_OK(rig_open(&g));
	const float huge[2] = {3e38f, 3e38f};
	struct agg_outcome out = rig_round(&g, huge);
	CHECK(out.status == FB_WIRE_ACK_ACCEPTED);
	CHECK(g.fed.n_abandoned == 1 && g.fed.last_committed == 0);
	CHECK(rig_finite(&g));
	CHECK(access(g.fed.ckpt_path, F_OK) != 0);
	CHECK_STR_CONTAINS(
			g.metrics_text, "\"abandoned\": \"non-finite-model\"");
	// Finite, but beyond max_model_abs: abandoned too.
	const float far[2] = {3e4f, 3e4f};
	rig_round(&g, far);
	CHECK(g.fed.n_abandoned == 2 && g.fed.last_committed == 0);
	CHECK_STR_CONTAINS(g.metrics_text,
			"\"abandoned\": \"model-out-of-bounds\"");
	// A sane round commits and checkpoints.
	const float sane[2] = {0.01f, -0.02f};
	rig_round(&g, sane);
	CHECK(g.fed.n_committed == 1 && g.fed.last_committed == 3);
	CHECK(access(g.fed.ckpt_path, F_OK) == 0);
	CHECK_STR_CONTAINS(g.metrics_text, "\"model_move\": ");
	rig_close(&g);

	// max_update_norm caps what granularity none can send.
	rig_config(&g, FB_WIRE_GRAN_NONE, "cap");
	g.cfg.max_update_norm = 5;
	CHECK_OK(rig_open(&g));
	out = rig_round(&g, huge);
	CHECK(out.status == FB_WIRE_ACK_REJECTED &&
			out.reason == FB_WIRE_REASON_OVER_BOUND);
	CHECK_STR_CONTAINS(out.text, "above the bound 5");
	rig_close(&g);
}

TEST(user_level_refuses_over_the_bound)
{
	struct agg_rig g;
	rig_config(&g, FB_WIRE_GRAN_USER, "user");
	CHECK_OK(rig_open(&g));
	CHECK(g.fed.plan_cfg.min_users == 100);
	const float w[2] = {3e38f, 0.001f};
	struct agg_outcome out = rig_round(&g, w);
	CHECK(out.status == FB_WIRE_ACK_REJECTED &&
			out.reason == FB_WIRE_REASON_OVER_BOUND);
	// The other update alone is below the quorum of 2: abandoned for
	// that, not for the model.
	CHECK(g.fed.n_abandoned == 1);
	CHECK_STR_CONTAINS(g.metrics_text, "\"abandoned\": \"quorum\"");
	CHECK_STR_CONTAINS(g.metrics_text, "\"reason\": \"over-bound\"");
	CHECK(rig_finite(&g));
	rig_close(&g);
	// Without min_users there is no bound: refused at start.
	rig_config(&g, FB_WIRE_GRAN_USER, "user2");
	g.cfg.round.min_users = 0;
	CHECK_ERR(rig_open(&g), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "min_users");
	fb_roster_destroy(g.roster);
}

TEST(restart_refuses_a_nonfinite_checkpoint)
{
	struct agg_rig g;
	rig_config(&g, FB_WIRE_GRAN_NONE, "restart");
	CHECK_OK(rig_open(&g));
	const float sane[2] = {0.01f, -0.02f};
	rig_round(&g, sane);
	CHECK(g.fed.last_committed == 1);
	// What an aggregator before issue 11 could checkpoint.
	g.fed.model.W.data[5] = INFINITY;
	CHECK_OK(agg_checkpoint_save(&g.fed));
	struct agg_config cfg = g.cfg;
	struct fb_roster *roster = g.roster;
	g.roster = NULL;
	rig_close(&g);
	struct agg_fed fed;
	CHECK_ERR(agg_fed_init(&fed, &cfg, toy.ds, roster, 0), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "non-finite");
	fb_roster_destroy(roster);
}

// The client's side of the bound (wire-v1 §6.1, §5.3.1): it refuses to
// start with fewer users declared than its data holds, and refuses a plan
// whose min_users is above its declaration.
TEST(client_declares_enough_users)
{
	const struct fb_dataset *ds = toy.part[0];
	struct node_policy pol;
	node_policy_defaults(&pol);
	snprintf(pol.state_dir, sizeof(pol.state_dir), "%s/client", workdir);
	snprintf(pol.ledger, sizeof(pol.ledger), "%s/client/ledger", workdir);
	pol.users = ds->n_users - 1;
	struct fb_peer_key server;
	memset(&server, 0, sizeof(server));
	struct node n;
	CHECK_ERR(node_open_with(&n, &pol, NULL, &server,
				  (struct fb_dataset *)ds),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "fewer than the");
	node_close(&n);
	pol.users = ds->n_users;
	CHECK_OK(node_open_with(
			&n, &pol, NULL, &server, (struct fb_dataset *)ds));
	node_close(&n);

	struct fb_wire_round_config c;
	base_config(&c, FB_WIRE_GRAN_USER);
	c.min_users = ds->n_users + 1;
	struct fb_model model = {0};
	CHECK_OK(fb_model_init(&model, ds->n_items, ds->n_bundles, ds->n_attrs,
			c.hp.dim));
	struct fb_wire_plan plan;
	plan_of(&plan, &c, &model);
	pol.allow_user = true;
	pol.min_noise_multiplier = 0;
	struct node_state st = {0};
	struct node_round out;
	CHECK_OK(node_local_round(&pol, ds, &st, NULL, &plan, 1, NULL, &out));
	CHECK(out.refuse && out.reason == FB_WIRE_REASON_POLICY_REFUSED);
	CHECK_STR_CONTAINS(out.text, "min_users");
	// Nothing released: the ledger (created when the node opened, with
	// the budget entry of its first start) holds no release.
	struct fb_ledger *l = NULL;
	if (access(pol.ledger, F_OK) == 0) {
		CHECK_OK(fb_ledger_open_read(&l, pol.ledger));
		CHECK(fb_ledger_releases(l) == 0);
		fb_ledger_close(l);
	}
	node_state_finish(&st);
	fb_model_finish(&model);
}

int
main(void)
{
	fb_log_set_level(FB_LOG_ERROR);
	snprintf(workdir, sizeof(workdir), "/tmp/fb-test-bound-XXXXXX");
	if (mkdtemp(workdir) == NULL) {
		return 99;
	}
	RUN(binomial_tail_holds);
	RUN(noise_tail_holds);
	RUN(adam_ratio_holds);
	harness_current_failed = 0;
	if (setjmp(harness_jmp) == 0) {
		toy_make();
	}
	if (harness_current_failed) {
		printf("Bail out! cannot make the toy consortium\n");
		return 99;
	}
	RUN(catalog_map_holds);
	RUN(honest_updates_fall_under_the_bound);
	RUN(no_bound_where_none_can_be_derived);
	RUN(aggregator_never_commits_a_broken_model);
	RUN(user_level_refuses_over_the_bound);
	RUN(restart_refuses_a_nonfinite_checkpoint);
	RUN(client_declares_enough_users);
	for (uint32_t r = 0; r < toy.k; r++) {
		fb_dataset_destroy(toy.part[r]);
	}
	fb_dataset_destroy(toy.ds);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", workdir);
	}
	return harness_done();
}
