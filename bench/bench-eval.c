// bench/bench-eval.c: all-ranking evaluation speed against the machine's
// sgemm peak, measured by the same program.
//   peak      cblas_sgemm 2048^3 (compute peak) and at the evaluation's own
//             shape (users x bundles x d, one call), GFLOP/s;
//   eval      fb_eval_ranking over ALL Youshu users (one held-out bundle
//             each, training bundles masked) x all 4,771 bundles: blocked
//             sgemm plus top-K ranking and metrics; GFLOP/s counts the
//             2 * users * bundles * d flops of scoring;
//   test      the real test-split evaluation (2,959 users).
// 1 and 2 threads. Usage: bench-eval [--youshu DIR] [--dim D] [--json]
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/eval.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/clock.h"

// Best of `reps` runs of one sgemm of m x n x k, in GFLOP/s.
static double
sgemm_gflops(int m, int n, int k, int reps)
{
	float *a = calloc((size_t)m * k, sizeof(float));
	float *b = calloc((size_t)n * k, sizeof(float));
	float *c = calloc((size_t)m * n, sizeof(float));
	double best = 0;
	if (a != NULL && b != NULL && c != NULL) {
		for (size_t i = 0; i < (size_t)m * k; i++) {
			a[i] = (float)(i % 7) * 0.1f;
		}
		for (size_t i = 0; i < (size_t)n * k; i++) {
			b[i] = (float)(i % 5) * 0.1f;
		}
		for (int r = 0; r < reps + 1; r++) {
			double t0 = fb_clock_s();
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m,
					n, k, 1.0f, a, k, b, k, 0.0f, c, n);
			double dt = fb_clock_s() - t0;
			double g = 2.0 * m * n * k / dt / 1e9;
			if (r > 0 && g > best) { // the first run pays page faults
				best = g;
			}
		}
	}
	free(a);
	free(b);
	free(c);
	return best;
}

int
main(int argc, char **argv)
{
	const char *youshu = "../shared/data/youshu";
	uint32_t dim = 64;
	int json = 0, c;
	static const struct option opts[] = {
			{"youshu", required_argument, NULL, 'y'},
			{"dim", required_argument, NULL, 'd'},
			{"json", no_argument, NULL, 'j'},
			{NULL, 0, NULL, 0},
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'y') {
			youshu = optarg;
		} else if (c == 'd') {
			dim = (uint32_t)strtoul(optarg, NULL, 10);
		} else if (c == 'j') {
			json = 1;
		} else {
			fprintf(stderr,
					"usage: bench-eval [--youshu DIR] "
					"[--dim D] [--json]\n");
			return 2;
		}
	}
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, youshu);
	if (err != FB_OK) {
		fprintf(stderr, "bench-eval: %s (skipped)\n",
				fb_last_error(err));
		return 77;
	}
	struct fb_matrix users, bundles;
	struct fb_rng rng;
	fb_rng_seed(&rng, 1, 0);
	if (fb_matrix_init(&users, ds->n_users, dim) != FB_OK ||
			fb_matrix_init(&bundles, ds->n_bundles, dim) != FB_OK) {
		return 1;
	}
	fb_matrix_randn(&users, &rng, 1);
	fb_matrix_randn(&bundles, &rng, 1);
	// Every user gets one held-out bundle it did not train on.
	uint32_t *r = malloc(ds->n_users * sizeof(uint32_t));
	uint32_t *col = malloc(ds->n_users * sizeof(uint32_t));
	for (uint32_t u = 0; u < ds->n_users; u++) {
		r[u] = u;
		do {
			col[u] = fb_rng_below(&rng, ds->n_bundles);
		} while (fb_csr_has(&ds->ub_train, u, col[u]));
	}
	struct fb_csr all;
	err = fb_csr_from_pairs(&all, ds->n_users, ds->n_bundles, r, col,
			ds->n_users, false);
	free(r);
	free(col);
	if (err != FB_OK) {
		return 1;
	}
	const uint32_t ks[2] = {20, 40};
	double flops = 2.0 * ds->n_users * ds->n_bundles * dim;
	for (int th = 1; th <= 2; th++) {
		fb_blas_set_threads(th);
		double peak = sgemm_gflops(2048, 2048, 2048, 3);
		double shape = sgemm_gflops((int)ds->n_users,
				(int)ds->n_bundles, (int)dim, 5);
		// Evaluation threads each call sgemm single-threaded.
		fb_blas_set_threads(1);
		double best_all = 1e9, best_test = 1e9;
		for (int rep = 0; rep < 5; rep++) {
			struct fb_eval_result res;
			err = fb_eval_ranking(&users, &bundles, &ds->ub_train,
					&all, ks, 2, th, &res);
			if (err == FB_OK && res.seconds < best_all) {
				best_all = res.seconds;
			}
			err = err ? err
				  : fb_eval_ranking(&users, &bundles,
						    &ds->ub_train, &ds->ub_test,
						    ks, 2, th, &res);
			if (err == FB_OK && res.seconds < best_test) {
				best_test = res.seconds;
			}
			if (err != FB_OK) {
				fprintf(stderr, "bench-eval: %s\n",
						fb_last_error(err));
				return 1;
			}
		}
		double g = flops / best_all / 1e9;
		if (json) {
			printf("{\"threads\": %d, \"users\": %u, \"bundles\": %u, "
			       "\"dim\": %u, \"eval_all_seconds\": %.4f, "
			       "\"eval_gflops\": %.1f, \"eval_test_seconds\": "
			       "%.4f, \"sgemm_shape_gflops\": %.1f, "
			       "\"sgemm_peak_gflops\": %.1f}\n",
					th, ds->n_users, ds->n_bundles, dim,
					best_all, g, best_test, shape, peak);
		} else {
			printf("%d thread(s): sgemm peak %.1f GFLOP/s (2048^3), "
			       "%.1f at %ux%ux%u\n",
					th, peak, shape, ds->n_users,
					ds->n_bundles, dim);
			printf("  all %u users x %u bundles: %.4f s, %.1f "
			       "GFLOP/s = %.0f%% of peak; test split (%u-ish "
			       "users): %.4f s\n",
					ds->n_users, ds->n_bundles, best_all, g,
					100 * g / peak, 2959u, best_test);
		}
	}
	fb_csr_finish(&all);
	fb_matrix_finish(&users);
	fb_matrix_finish(&bundles);
	fb_dataset_destroy(ds);
	return 0;
}
