// bench/bench-train.c: training throughput of fedbundle beside the
// machine's BPR-step ceiling measured by the same program.
// Figures (samples = (user, positive, negative) triples):
//   ceiling    a plain matrix-factorisation BPR step (two dot products, two
//              row updates) on a 120k x 64 item table: what one core can do
//              on random rows (../shared/MACHINE-NOTES.md: ~6M/s);
//   step       fedbundle's sample loop alone (fb_trainer_batch_gradient over
//              every active user: representation gradients accumulated,
//              user factors updated), 1 and 2 threads;
//   epoch      a whole non-private epoch including the optimizer steps and
//              representation refreshes, 1 and 2 threads.
// Datasets: Youshu (if ../shared/data/youshu exists) and the synthetic
// "large" preset (1M users x 100k items x 20k bundles), generated in memory.
// Usage: bench-train [--youshu DIR] [--no-large] [--batch N] [--json]
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/train.h"
#include "fedbundle/util/clock.h"

static double
peak_rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

// The ceiling: plain BPR on P (users x d) and Q (items x d).
static double
ceiling(size_t n_items, size_t d, uint64_t samples)
{
	size_t n_users = 100000;
	struct fb_matrix P, Q;
	if (fb_matrix_init(&P, n_users, d) != FB_OK ||
			fb_matrix_init(&Q, n_items, d) != FB_OK) {
		return 0;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, 1, 0);
	fb_matrix_randn(&P, &rng, 0.1f);
	fb_matrix_randn(&Q, &rng, 0.1f);
	float lr = 0.01f;
	double t0 = fb_clock_s();
	for (uint64_t s = 0; s < samples; s++) {
		float *p = fb_matrix_row(
				&P, fb_rng_below(&rng, (uint32_t)n_users));
		float *qi = fb_matrix_row(
				&Q, fb_rng_below(&rng, (uint32_t)n_items));
		float *qj = fb_matrix_row(
				&Q, fb_rng_below(&rng, (uint32_t)n_items));
		float x = fb_dot(p, qi, d) - fb_dot(p, qj, d);
		float g = lr / (1.0f + expf(x));
		for (size_t k = 0; k < d; k++) {
			float pk = p[k];
			p[k] += g * (qi[k] - qj[k]);
			qi[k] += g * pk;
			qj[k] -= g * pk;
		}
	}
	double rate = samples / (fb_clock_s() - t0);
	fb_matrix_finish(&P);
	fb_matrix_finish(&Q);
	return rate;
}

struct figures {
	double step_rate[2];  // samples/s, 1 and 2 threads
	double epoch_rate[2]; // samples/s end to end
	double epoch_s[2];
	uint64_t samples;
};

static fb_err
measure(const struct fb_dataset *ds, uint32_t batch, struct figures *f)
{
	memset(f, 0, sizeof(*f));
	for (int th = 1; th <= 2; th++) {
		struct fb_train_config cfg;
		fb_train_config_defaults(&cfg);
		cfg.threads = (uint32_t)th;
		cfg.hp.batch_users = batch;
		struct fb_model model;
		struct fb_matrix P;
		fb_err err = fb_model_init(&model, ds->n_items, ds->n_bundles,
				ds->n_attrs, cfg.hp.dim);
		if (err == FB_OK) {
			err = fb_matrix_init(&P, ds->n_users, cfg.hp.dim);
		}
		if (err != FB_OK) {
			return err;
		}
		struct fb_rng rng;
		fb_rng_seed(&rng, 1, 0);
		fb_model_randomize(&model, &rng, 0.1f);
		fb_matrix_randn(&P, &rng, 0.1f);
		struct fb_trainer *t = NULL;
		struct fb_rep_grad g;
		err = fb_trainer_create(&t, ds, &model, &P, &cfg);
		if (err == FB_OK) {
			err = fb_rep_grad_init(&g, &model);
		}
		if (err != FB_OK) {
			return err;
		}
		uint32_t n_active;
		const uint32_t *active = fb_trainer_active_users(t, &n_active);
		struct fb_train_stats s;
		double t0 = fb_clock_s();
		err = fb_trainer_batch_gradient(
				t, active, n_active, 1.0, 1, &g, &s);
		double dt = fb_clock_s() - t0;
		f->step_rate[th - 1] = s.samples / dt;
		f->samples = s.samples;
		t0 = fb_clock_s();
		err = err ? err : fb_trainer_epoch(t, 1, &s);
		dt = fb_clock_s() - t0;
		f->epoch_rate[th - 1] = s.samples / dt;
		f->epoch_s[th - 1] = dt;
		fb_rep_grad_finish(&g);
		fb_trainer_destroy(t);
		fb_model_finish(&model);
		fb_matrix_finish(&P);
		if (err != FB_OK) {
			return err;
		}
	}
	return FB_OK;
}

static void
report(const char *name, const struct fb_dataset *ds, uint32_t batch,
		const struct figures *f, double ceil_rate, int json)
{
	if (json) {
		printf("{\"dataset\": \"%s\", \"users\": %u, \"items\": %u, "
		       "\"bundles\": %u, \"batch_users\": %u, "
		       "\"samples_per_epoch\": %llu, \"step_1t\": %.0f, "
		       "\"step_2t\": %.0f, \"epoch_1t\": %.0f, \"epoch_2t\": "
		       "%.0f, \"epoch_seconds_1t\": %.3f, \"epoch_seconds_2t\": "
		       "%.3f, \"ceiling_1t\": %.0f, \"peak_rss_mib\": %.0f}\n",
				name, ds->n_users, ds->n_items, ds->n_bundles,
				batch, (unsigned long long)f->samples,
				f->step_rate[0], f->step_rate[1],
				f->epoch_rate[0], f->epoch_rate[1],
				f->epoch_s[0], f->epoch_s[1], ceil_rate,
				peak_rss_mib());
		return;
	}
	printf("%s: %u users x %u items x %u bundles, %llu samples/epoch, "
	       "batch %u users\n",
			name, ds->n_users, ds->n_items, ds->n_bundles,
			(unsigned long long)f->samples, batch);
	printf("  sample loop   1 thread %6.2f M/s (%3.0f%% of the "
	       "ceiling), 2 threads %6.2f M/s\n",
			f->step_rate[0] / 1e6,
			100 * f->step_rate[0] / ceil_rate,
			f->step_rate[1] / 1e6);
	printf("  whole epoch   1 thread %6.2f M/s (%.3f s), 2 threads "
	       "%6.2f M/s (%.3f s)\n",
			f->epoch_rate[0] / 1e6, f->epoch_s[0],
			f->epoch_rate[1] / 1e6, f->epoch_s[1]);
	printf("  peak RSS so far %.0f MiB\n", peak_rss_mib());
}

int
main(int argc, char **argv)
{
	const char *youshu = "../shared/data/youshu";
	int large = 1, json = 0;
	uint32_t batch = 0;
	static const struct option opts[] = {
			{"youshu", required_argument, NULL, 'y'},
			{"no-large", no_argument, NULL, 'n'},
			{"batch", required_argument, NULL, 'b'},
			{"json", no_argument, NULL, 'j'},
			{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'y':
			youshu = optarg;
			break;
		case 'n':
			large = 0;
			break;
		case 'b':
			batch = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'j':
			json = 1;
			break;
		default:
			fprintf(stderr,
					"usage: bench-train [--youshu DIR] "
					"[--no-large] [--batch N] [--json]\n");
			return 2;
		}
	}
	fb_blas_set_threads(1);
	double ceil_rate = ceiling(120000, 64, 5000000);
	if (!json) {
		printf("ceiling: plain BPR step, d=64, 120k-item table, 1 "
		       "thread: %.2f M samples/s\n",
				ceil_rate / 1e6);
	}
	struct fb_dataset *ds = NULL;
	if (fb_dataset_load(&ds, youshu) == FB_OK) {
		struct figures f;
		uint32_t b = batch > 0 ? batch : 2048;
		if (measure(ds, b, &f) == FB_OK) {
			report("Youshu", ds, b, &f, ceil_rate, json);
		}
		fb_dataset_destroy(ds);
	} else if (!json) {
		printf("Youshu: skipped (%s not loadable)\n", youshu);
	}
	if (large) {
		struct fb_datagen_config cfg;
		fb_datagen_config_defaults(&cfg);
		fb_datagen_apply_preset(&cfg, "large");
		cfg.threads = 2;
		double t0 = fb_clock_s();
		fb_err err = fb_datagen_run(&ds, &cfg, NULL);
		if (err != FB_OK) {
			fprintf(stderr, "bench-train: datagen: %s\n",
					fb_last_error(err));
			return 1;
		}
		if (!json) {
			printf("(generated the large synthetic set in %.1f s)\n",
					fb_clock_s() - t0);
		}
		struct fb_train_config defaults;
		fb_train_config_defaults(&defaults);
		uint32_t b = batch > 0 ? batch : 16384;
		struct figures f;
		err = measure(ds, b, &f);
		if (err != FB_OK) {
			fprintf(stderr, "bench-train: %s\n",
					fb_last_error(err));
			return 1;
		}
		report("synthetic-large", ds, b, &f, ceil_rate, json);
		fb_dataset_destroy(ds);
	}
	return 0;
}
