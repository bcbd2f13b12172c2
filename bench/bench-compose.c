// bench/bench-compose.c: time per bundle completion (k = 20 from 2 given
// items) and per composition (10 bundles of 5 items, beam 4), one core,
// docs/benchmarks.md §9. The catalogue and model are RANDOM of the right
// shape (timing depends on the shape, not on what was learned): items
// drawn with a skew towards low ids so some items sit in many bundles as
// in real catalogues. Shapes: Youshu (32,770 items, 4,771 bundles of 37
// items on average) and 100,000 items (14,560 bundles, same density).
// The user term (one dot product per item) is timed apart: it is paid
// once per user, not per query. Times are CPU seconds of this
// single-threaded process (the machine may be shared), after one warm-up
// query; completions start from 2 items of a random bundle.
// Usage: bench-compose [-d DIM] [-r REPS]
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "fedbundle/model/compose.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/rng.h"

struct shape {
	const char *name;
	uint32_t items, bundles, mean_len;
};

// A random catalogue: bundle b holds about mean_len items, item
// floor(n * u^2) for u uniform (skewed popularity).
static fb_err
random_catalogue(const struct shape *sh, struct fb_rng *rng, struct fb_csr *bi)
{
	size_t n = (size_t)sh->bundles * sh->mean_len;
	uint32_t *r = malloc(n * sizeof(*r)), *c = malloc(n * sizeof(*c));
	fb_err err = FB_ENOMEM;
	if (r != NULL && c != NULL) {
		for (size_t e = 0; e < n; e++) {
			double u = fb_rng_uniform(rng);
			r[e] = (uint32_t)(e / sh->mean_len);
			c[e] = (uint32_t)(u * u * sh->items) % sh->items;
		}
		err = fb_csr_from_pairs(
				bi, sh->bundles, sh->items, r, c, n, true);
	}
	free(r);
	free(c);
	return err;
}

static int
bench_shape(const struct shape *sh, size_t dim, int reps)
{
	struct fb_rng rng;
	fb_rng_seed(&rng, 7, sh->items);
	struct fb_csr bi = {0};
	struct fb_compat compat = {0};
	struct fb_matrix reps_m = {0}, user = {0};
	struct fb_scorer s = {0};
	fb_err err = random_catalogue(sh, &rng, &bi);
	if (err == FB_OK) {
		err = fb_compat_init(&compat, &bi);
	}
	if (err == FB_OK) {
		err = fb_matrix_init(&reps_m, sh->items, dim);
	}
	if (err == FB_OK) {
		err = fb_matrix_init(&user, 1, dim);
	}
	if (err == FB_OK) {
		for (size_t k = 0; k < (size_t)sh->items * dim; k++) {
			reps_m.data[k] = (float)fb_rng_normal(&rng);
		}
		for (size_t k = 0; k < dim; k++) {
			user.data[k] = (float)fb_rng_normal(&rng);
		}
		err = fb_scorer_init(&s, &compat, &reps_m,
				FB_COMPOSE_DEFAULT_WEIGHT);
	}
	if (err != FB_OK) {
		fprintf(stderr, "bench-compose: %s: %s\n", sh->name,
				fb_last_error(err));
		return 1;
	}
	fb_scorer_set_user(&s, user.data);
	double t0 = fb_clock_cpu_s();
	for (int r = 0; r < reps; r++) {
		fb_scorer_set_user(&s, user.data);
	}
	double t_user = (fb_clock_cpu_s() - t0) / reps;
	uint32_t top[20], items[50], got = 0;
	float scores[20], totals[10];
	t0 = fb_clock_cpu_s();
	for (int r = 0; r <= reps && err == FB_OK; r++) {
		if (r == 1) { // the first query warms up
			t0 = fb_clock_cpu_s();
		}
		uint32_t b = fb_rng_below(&rng, sh->bundles);
		uint32_t given[2] = {bi.col[bi.row_ptr[b]],
				bi.col[bi.row_ptr[b] + 1]};
		err = fb_complete(&s, given, 2, 20, top, scores, &got);
	}
	double t_complete = (fb_clock_cpu_s() - t0) / reps;
	struct fb_compose_opts o = {
			.size = 5, .count = 10, .beam = 4, .reuse_penalty = 1};
	err = err == FB_OK ? fb_compose(&s, &o, items, totals, &got) : err;
	t0 = fb_clock_cpu_s();
	for (int r = 0; r < reps && err == FB_OK; r++) {
		err = fb_compose(&s, &o, items, totals, &got);
	}
	double t_compose = (fb_clock_cpu_s() - t0) / reps;
	printf("%-8s items %6u bundles %6u d %3zu  user term %7.2f ms  "
	       "completion k=20 %7.2f ms  composition 10x5 %8.2f ms%s\n",
			sh->name, sh->items, sh->bundles, dim, 1e3 * t_user,
			1e3 * t_complete, 1e3 * t_compose,
			err == FB_OK ? "" : "  (FAILED)");
	fb_scorer_finish(&s);
	fb_matrix_finish(&user);
	fb_matrix_finish(&reps_m);
	fb_compat_finish(&compat);
	fb_csr_finish(&bi);
	return err == FB_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	size_t dim = 64;
	int reps = 20, c;
	while ((c = getopt(argc, argv, "d:r:")) != -1) {
		if (c == 'd') {
			dim = (size_t)strtoul(optarg, NULL, 10);
		} else if (c == 'r') {
			reps = atoi(optarg);
		} else {
			fprintf(stderr, "usage: bench-compose [-d DIM] [-r REPS]\n");
			return 2;
		}
	}
	if (dim == 0 || reps <= 0) {
		fprintf(stderr, "bench-compose: -d and -r must be >= 1\n");
		return 2;
	}
	static const struct shape shapes[] = {
			{"youshu", 32770, 4771, 37},
			{"100k", 100000, 14560, 37},
	};
	int status = 0;
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		status |= bench_shape(&shapes[k], dim, reps);
	}
	return status;
}
