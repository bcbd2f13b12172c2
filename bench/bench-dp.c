// bench/bench-dp.c: what user-level DP costs per epoch on Youshu.
// Both runs use the DP training configuration (fb_train_config_defaults_dp):
//   plain   non-private epochs with the same number of optimizer steps per
//           epoch (batches of q * |users| users), no clipping, no noise;
//   dp      DP epochs: ceil(1/q) releases, each a Poisson sample, per-user
//           clipping, the ledger append (fsync), exact discrete Gaussian
//           noise on every released coordinate, the optimizer step.
// Per epoch it prints wall seconds and process CPU seconds (the ratio of
// the latter holds on a machine shared with other work).
// It also times one release's noise alone and the ledger append alone.
// Usage: bench-dp [--youshu DIR] [--epochs N] [--threads T] [--json]
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/model/fit.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/clock.h"

int
main(int argc, char **argv)
{
	const char *youshu = "../shared/data/youshu";
	uint32_t epochs = 3, threads = 1;
	int json = 0, c;
	static const struct option opts[] = {
			{"youshu", required_argument, NULL, 'y'},
			{"epochs", required_argument, NULL, 'e'},
			{"threads", required_argument, NULL, 't'},
			{"json", no_argument, NULL, 'j'},
			{NULL, 0, NULL, 0},
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'y') {
			youshu = optarg;
		} else if (c == 'e') {
			epochs = (uint32_t)strtoul(optarg, NULL, 10);
		} else if (c == 't') {
			threads = (uint32_t)strtoul(optarg, NULL, 10);
		} else if (c == 'j') {
			json = 1;
		} else {
			fprintf(stderr,
					"usage: bench-dp [--youshu DIR] "
					"[--epochs N] [--threads T] [--json]\n");
			return 2;
		}
	}
	fb_blas_set_threads(1);
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, youshu);
	if (err != FB_OK) {
		fprintf(stderr, "bench-dp: %s (skipped)\n", fb_last_error(err));
		return 77;
	}
	struct fb_train_config cfg;
	fb_train_config_defaults_dp(&cfg);
	cfg.epochs = epochs;
	cfg.eval_every = epochs; // evaluation is not what is measured
	cfg.threads = threads;
	struct fb_dp_config dpc;
	fb_dp_config_defaults(&dpc);
	dpc.mode = FB_DP_USER;
	dpc.epsilon = 100; // a budget that does not stop the benchmark
	dpc.sigma = 1.0;
	dpc.users = ds->n_users; // a benchmark: the count is public here

	// Users with training interactions, as the trainer counts them.
	uint32_t active = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		active += fb_csr_row_len(&ds->ub_train, u) > 0 ||
				fb_csr_row_len(&ds->ui, u) > 0;
	}
	struct fb_train_config plain = cfg;
	plain.hp.batch_users = (uint32_t)(dpc.q * active + 0.5);

	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_fit_result plain_res, dp_res;
	err = fb_fit(ds, &plain, NULL, &model, &P, NULL, NULL, &plain_res);
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	if (err != FB_OK) {
		fprintf(stderr, "bench-dp: %s\n", fb_last_error(err));
		return 1;
	}

	char ledger[] = "/tmp/fb-bench-dp-XXXXXX";
	int fd = mkstemp(ledger);
	if (fd < 0) {
		return 1;
	}
	close(fd);
	unlink(ledger);
	struct fb_release_layout layout;
	fb_train_release_layout(&cfg, ds->n_items, ds->n_bundles, &layout);
	size_t dim = layout.len;
	struct fb_ledger *l = NULL;
	struct fb_dp *dp = NULL;
	err = fb_ledger_open(&l, ledger, true);
	if (err == FB_OK) {
		err = fb_dp_open(&dp, &dpc, l, dim,
				fb_fit_dp_steps(cfg.epochs, dpc.q));
	}
	if (err == FB_OK) {
		err = fb_fit(ds, &cfg, dp, &model, &P, NULL, NULL, &dp_res);
	}
	if (err != FB_OK) {
		fprintf(stderr, "bench-dp: %s\n", fb_last_error(err));
		return 1;
	}
	// One release's parts, alone.
	int64_t *release = calloc(dim + 1, sizeof(*release));
	err = release == NULL ? FB_ENOMEM : FB_OK;
	double t0 = fb_clock_s();
	for (int k = 0; k < 5 && err == FB_OK; k++) {
		err = fb_dp_noise_i64(dp, release, dim);
	}
	double noise_s = (fb_clock_s() - t0) / 5;
	t0 = fb_clock_s();
	for (int k = 0; k < 5 && err == FB_OK; k++) {
		err = fb_dp_begin_release(dp, 1000 + (uint64_t)k);
	}
	double ledger_s = (fb_clock_s() - t0) / 5;
	if (err != FB_OK) {
		fprintf(stderr, "bench-dp: %s\n", fb_last_error(err));
		return 1;
	}
	double plain_e = plain_res.train_seconds / plain_res.epochs_run;
	double dp_e = dp_res.train_seconds / dp_res.epochs_run;
	// CPU seconds: the same ratio on a machine shared with other work,
	// where wall time also counts the wait for a core.
	double plain_c = plain_res.train_cpu_seconds / plain_res.epochs_run;
	double dp_c = dp_res.train_cpu_seconds / dp_res.epochs_run;
	if (json) {
		printf("{\"threads\": %u, \"plain_seconds_per_epoch\": %.4f, "
		       "\"dp_seconds_per_epoch\": %.4f, \"ratio\": %.3f, "
		       "\"plain_cpu_seconds_per_epoch\": %.4f, "
		       "\"dp_cpu_seconds_per_epoch\": %.4f, \"cpu_ratio\": %.3f, "
		       "\"released_coordinates\": %zu, \"noise_seconds\": "
		       "%.4f, \"noise_per_second\": %.0f, "
		       "\"ledger_append_seconds\": %.5f}\n",
				threads, plain_e, dp_e, dp_e / plain_e, plain_c,
				dp_c, dp_c / plain_c, dim, noise_s,
				dim / noise_s, ledger_s);
	} else {
		printf("Youshu, DP configuration, %u thread(s), %u epochs:\n",
				threads, epochs);
		printf("  non-private  %.3f s/epoch (%u users per step)\n",
				plain_e, plain.hp.batch_users);
		printf("  user-level DP %.3f s/epoch (q %g, %u releases per "
		       "epoch): %.2fx\n",
				dp_e, dpc.q, (unsigned)(1.0 / dpc.q + 0.999),
				dp_e / plain_e);
		printf("  CPU per epoch: non-private %.3f s, DP %.3f s: "
		       "%.2fx\n",
				plain_c, dp_c, dp_c / plain_c);
		printf("  one release: noise on %zu coordinates %.1f ms "
		       "(%.1f M/s), ledger append + fsync %.2f ms\n",
				dim, noise_s * 1e3, dim / noise_s / 1e6,
				ledger_s * 1e3);
	}
	unlink(ledger);
	free(release);
	fb_dp_close(dp);
	fb_ledger_close(l);
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	fb_dataset_destroy(ds);
	return 0;
}
