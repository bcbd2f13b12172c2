// tools/cmd-floors.c: `fedbundle floors`, the two floors beside a DP
// figure (include/fedbundle/model/floors.h, docs/privacy.md section 11): the
// non-private popularity baseline, popularity from one user-level DP
// release of bounded per-user counts at the given (epsilon, delta), and
// the zero-release model (public factors, each user's factor solved from
// its own history; epsilon 0). The epsilon printed for the DP release is
// the accountant's over the ledger after the release (fb_dp_spent). With
// --ledger the release is an entry of that ledger (budget enforced);
// without, of a temporary one, removed at exit: a research measurement.
// Contract: with --json the last thing on stdout is one JSON object with
// "popularity", "dp_popularity" and "zero_release", each holding
// "recall@20" and "ndcg@20" (and the other metrics at 20 and 40).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/eval.h"
#include "fedbundle/model/floors.h"
#include "fedbundle/model/model.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/fsutil.h"
#include "report.h"

static const char cmd[] = "floors";

static void
usage(void)
{
	struct fb_floors_zr_config zr;
	fb_floors_zr_defaults(&zr);
	printf("usage: fedbundle floors --data DIR --epsilon E [options]\n"
	       "\n"
	       "Prints Recall/NDCG on the test split of the two floors a DP "
	       "model must beat\nat the same (epsilon, delta): popularity "
	       "from noisy counts (each user's\nweights over its training "
	       "bundles bounded to L2 norm 1, exact integer sums,\nexact "
	       "discrete Gaussian noise, sigma calibrated by the accountant "
	       "for one\nrelease) and the zero-release model (public item "
	       "factors from the catalogue,\neach user's factor solved "
	       "from its own training bundles; epsilon 0), beside\nthe "
	       "non-private popularity baseline.\n"
	       "\n"
	       "options:\n"
	       "  --data DIR         dataset folder (required)\n"
	       "  --epsilon E        epsilon of the DP release (required)\n"
	       "  --delta D          delta (default 1e-6)\n"
	       "  --users N          the PUBLIC number of users (declared); "
	       "only reported:\n"
	       "                     the ranking does not depend on it\n"
	       "  --pop-m M          a user with k bundles puts 1/sqrt(max(k, "
	       "M)) on each\n"
	       "                     (default 1: every user has norm 1)\n"
	       "  --accountant A     pld (default) or rdp\n"
	       "  --ledger FILE      append the release to this ledger "
	       "(budget enforced)\n"
	       "  --new-ledger       create the ledger if missing\n"
	       "  --seeded-noise N   reproducible noise: NOT private (tests "
	       "only)\n"
	       "  --seed S           seed of the public pretraining (default "
	       "%llu)\n"
	       "  --dim N            zero-release factor dimension (default "
	       "%u)\n"
	       "  --alpha A          zero-release confidence of a positive "
	       "(default %g)\n"
	       "  --lambda L         zero-release regularisation (default "
	       "%g)\n"
	       "  --item-weight W    zero-release weight of the user's own "
	       "items (default %g)\n"
	       "  --split S          test (default) or tune\n"
	       "  --threads N        evaluation threads (default 1)\n"
	       "  --json             one JSON object on stdout\n"
	       "  --quiet            no progress on stderr\n"
	       "  --help             this text\n",
			(unsigned long long)zr.seed, zr.dim, zr.alpha,
			zr.lambda, zr.item_weight);
}

struct floors_args {
	const char *data, *ledger;
	int json, quiet, new_ledger, seeded, tune;
	uint32_t m, threads;
	uint64_t users, noise_seed;
	struct fb_dp_config dp;
	struct fb_floors_zr_config zr;
};

enum {
	O_DATA = 256,
	O_EPS,
	O_DELTA,
	O_USERS,
	O_POPM,
	O_ACCT,
	O_LEDGER,
	O_NEWLEDGER,
	O_SEEDED,
	O_SEED,
	O_DIM,
	O_ALPHA,
	O_LAMBDA,
	O_ITEMW,
	O_SPLIT,
	O_THREADS,
	O_JSON,
	O_QUIET,
	O_HELP,
};

static bool
parse_one(int c, struct floors_args *a)
{
	switch (c) {
	case O_DATA:
		a->data = optarg;
		return true;
	case O_EPS:
		return cli_parse_double(
				cmd, "--epsilon", optarg, &a->dp.epsilon);
	case O_DELTA:
		return cli_parse_double(cmd, "--delta", optarg, &a->dp.delta);
	case O_USERS:
		return cli_parse_u64(cmd, "--users", optarg, &a->users);
	case O_POPM:
		return cli_parse_u32(cmd, "--pop-m", optarg, &a->m);
	case O_ACCT:
		if (fb_acct_kind_parse(optarg, &a->dp.accountant) != FB_OK) {
			cli_usage_error(cmd,
					"--accountant: '%s' is not rdp or "
					"pld",
					optarg);
			return false;
		}
		return true;
	case O_LEDGER:
		a->ledger = optarg;
		return true;
	case O_NEWLEDGER:
		a->new_ledger = 1;
		return true;
	case O_SEEDED:
		a->seeded = 1;
		return cli_parse_u64(
				cmd, "--seeded-noise", optarg, &a->noise_seed);
	case O_SEED:
		return cli_parse_u64(cmd, "--seed", optarg, &a->zr.seed);
	case O_DIM:
		return cli_parse_u32(cmd, "--dim", optarg, &a->zr.dim);
	case O_ALPHA:
		return cli_parse_double(cmd, "--alpha", optarg, &a->zr.alpha);
	case O_LAMBDA:
		return cli_parse_double(cmd, "--lambda", optarg, &a->zr.lambda);
	case O_ITEMW:
		return cli_parse_double(cmd, "--item-weight", optarg,
				&a->zr.item_weight);
	case O_SPLIT:
		if (strcmp(optarg, "test") != 0 &&
				strcmp(optarg, "tune") != 0) {
			cli_usage_error(cmd,
					"--split: '%s' is not test or tune",
					optarg);
			return false;
		}
		a->tune = strcmp(optarg, "tune") == 0;
		return true;
	case O_THREADS:
		return cli_parse_u32(cmd, "--threads", optarg, &a->threads);
	case O_JSON:
		a->json = 1;
		return true;
	case O_QUIET:
		a->quiet = 1;
		return true;
	default:
		cli_usage_error(cmd, "unknown option");
		return false;
	}
}

// 0: go on; -1: --help printed; otherwise the exit status.
static int
parse_args(int argc, char **argv, struct floors_args *a)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, O_DATA},
			{"epsilon", required_argument, NULL, O_EPS},
			{"delta", required_argument, NULL, O_DELTA},
			{"users", required_argument, NULL, O_USERS},
			{"pop-m", required_argument, NULL, O_POPM},
			{"accountant", required_argument, NULL, O_ACCT},
			{"ledger", required_argument, NULL, O_LEDGER},
			{"new-ledger", no_argument, NULL, O_NEWLEDGER},
			{"seeded-noise", required_argument, NULL, O_SEEDED},
			{"seed", required_argument, NULL, O_SEED},
			{"dim", required_argument, NULL, O_DIM},
			{"alpha", required_argument, NULL, O_ALPHA},
			{"lambda", required_argument, NULL, O_LAMBDA},
			{"item-weight", required_argument, NULL, O_ITEMW},
			{"split", required_argument, NULL, O_SPLIT},
			{"threads", required_argument, NULL, O_THREADS},
			{"json", no_argument, NULL, O_JSON},
			{"quiet", no_argument, NULL, O_QUIET},
			{"help", no_argument, NULL, O_HELP},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	fb_dp_config_defaults(&a->dp);
	a->dp.epsilon = 0;
	fb_floors_zr_defaults(&a->zr);
	a->m = 1;
	a->threads = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			usage();
			return -1;
		}
		if (!parse_one(c, a)) {
			return 2;
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (a->data == NULL || !(a->dp.epsilon > 0)) {
		return cli_usage_error(cmd,
				"--data and --epsilon E > 0 are "
				"required");
	}
	if (a->m == 0 || a->threads == 0) {
		return cli_usage_error(cmd,
				"--pop-m and --threads must be "
				"positive");
	}
	if (a->seeded) {
		a->dp.seeded = true;
		a->dp.seed = a->noise_seed;
	}
	return 0;
}

// What the DP release gave.
struct dp_pop {
	struct fb_eval_result res;
	double epsilon, sigma;
	int32_t grid_log2;
	size_t releases;
	bool private_noise;
	bool temp_ledger;
};

// The ledger to append to: --ledger, or a fresh one in a temporary folder
// tmp (then *tmp_used). The caller closes *l.
static fb_err
open_ledger(const struct floors_args *a, char *tmp, bool *tmp_used,
		struct fb_ledger **l)
{
	if (a->ledger != NULL) {
		return fb_ledger_open(l, a->ledger, a->new_ledger);
	}
	if (mkdtemp(tmp) == NULL) {
		return fb_errorf(FB_EIO, "%s: cannot create", tmp);
	}
	*tmp_used = true;
	char *path = fb_path_join(tmp, "privacy.ledger");
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_ledger_open(l, path, true);
	free(path);
	return err;
}

static void
remove_temp(const char *tmp)
{
	char *path = fb_path_join(tmp, "privacy.ledger");
	if (path != NULL) {
		unlink(path);
		free(path);
	}
	rmdir(tmp);
}

// The DP popularity floor: one release, ranked, evaluated.
static fb_err
run_dp_popularity(const struct floors_args *a, const struct fb_dataset *ds,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		struct dp_pop *out)
{
	char tmp[] = "/tmp/fedbundle-floors-XXXXXX";
	bool tmp_used = false;
	struct fb_ledger *l = NULL;
	struct fb_dp *dp = NULL;
	struct fb_dp_config c;
	fb_floors_pop_dp_config(&a->dp, &c);
	uint32_t n_b = ds->n_bundles;
	int64_t *counts = malloc(((size_t)n_b + 1) * sizeof(*counts));
	float *scores = malloc(((size_t)n_b + 1) * sizeof(*scores));
	fb_err err = counts == NULL || scores == NULL ? FB_ENOMEM : FB_OK;
	if (err == FB_OK) {
		err = open_ledger(a, tmp, &tmp_used, &l);
	}
	if (err == FB_OK) {
		err = fb_dp_open(&dp, &c, l, n_b, 1);
	}
	if (err == FB_OK) {
		err = fb_floors_pop_release(dp, &ds->ub_train, a->m,
				fb_dp_releases(dp), counts);
	}
	if (err == FB_OK) {
		err = fb_dp_spent(dp, &out->epsilon, &out->releases);
	}
	if (err == FB_OK) {
		out->sigma = fb_dp_sigma_accounted(dp);
		out->grid_log2 = fb_dp_grid_log2(dp);
		out->private_noise = fb_dp_is_private(dp);
		out->temp_ledger = tmp_used;
		err = fb_floors_rank_scores(counts, n_b, scores);
	}
	if (err == FB_OK) {
		err = fb_eval_fixed(scores, &ds->ub_train, truth, ks, n_k,
				&out->res);
	}
	fb_dp_close(dp);
	fb_ledger_close(l);
	if (tmp_used) {
		remove_temp(tmp);
	}
	free(counts);
	free(scores);
	return err;
}

// The zero-release floor: public factors, local solves, evaluated.
static fb_err
run_zero_release(const struct floors_args *a, const struct fb_dataset *ds,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		struct fb_eval_result *out)
{
	struct fb_floors_public pub;
	struct fb_matrix P = {0};
	fb_err err = fb_floors_public_init(&pub, &ds->bi, &a->zr);
	if (err == FB_OK) {
		err = fb_floors_users(&pub, &a->zr, &ds->ub_train, &ds->ui, &P);
	}
	if (err == FB_OK) {
		err = fb_eval_ranking(&P, &pub.bundles, &ds->ub_train, truth,
				ks, n_k, (int)a->threads, out);
	}
	fb_matrix_finish(&P);
	fb_floors_public_finish(&pub);
	return err;
}

static void
print_json(const struct floors_args *a, const struct fb_dataset *ds,
		const struct fb_eval_result *pop, const struct dp_pop *dpp,
		const struct fb_eval_result *zr)
{
	printf("{\"dataset\": \"%s\", \"split\": \"%s\", "
	       "\"users_evaluated\": %llu, \"declared_users\": %llu, "
	       "\"popularity\": {\"epsilon\": null, \"private\": false, ",
			ds->name, a->tune ? "tune" : "test",
			(unsigned long long)pop->n_users,
			(unsigned long long)a->users);
	report_metrics_json(stdout, &pop->mean);
	printf("}, \"dp_popularity\": {\"epsilon\": %.6f, "
	       "\"epsilon_target\": %g, \"delta\": %g, \"accountant\": "
	       "\"%s\", \"sigma\": %.6f, \"grid_log2\": %d, \"m\": %u, "
	       "\"releases_in_ledger\": %zu, \"private\": %s, ",
			dpp->epsilon, a->dp.epsilon, a->dp.delta,
			fb_acct_kind_name(a->dp.accountant), dpp->sigma,
			dpp->grid_log2, a->m, dpp->releases,
			dpp->private_noise ? "true" : "false");
	report_metrics_json(stdout, &dpp->res.mean);
	printf("}, \"zero_release\": {\"epsilon\": 0, \"dim\": %u, "
	       "\"alpha\": %g, \"lambda\": %g, \"item_weight\": %g, ",
			a->zr.dim, a->zr.alpha, a->zr.lambda,
			a->zr.item_weight);
	report_metrics_json(stdout, &zr->mean);
	printf("}}\n");
}

static void
print_text(const struct floors_args *a, const struct fb_dataset *ds,
		const struct fb_eval_result *pop, const struct dp_pop *dpp,
		const struct fb_eval_result *zr)
{
	printf("floors on %s, %s split, %llu users:\n", ds->name,
			a->tune ? "tune" : "test",
			(unsigned long long)pop->n_users);
	printf("  DP popularity: one release, epsilon %.4f spent (%s, "
	       "ledger's total over %zu release(s)), delta %g, noise "
	       "multiplier %.4f, per-user L2 bound 1 (m %u)%s\n",
			dpp->epsilon, fb_acct_kind_name(a->dp.accountant),
			dpp->releases, a->dp.delta, dpp->sigma, a->m,
			dpp->private_noise ? ""
					   : ", SEEDED noise (NOT PRIVATE)");
	printf("  zero-release: epsilon 0, dim %u, alpha %g, lambda %g, "
	       "item weight %g\n",
			a->zr.dim, a->zr.alpha, a->zr.lambda,
			a->zr.item_weight);
	report_metrics_table(stdout, "popularity (non-private)", &pop->mean, 1);
	report_metrics_table(stdout, "DP popularity", &dpp->res.mean, 0);
	report_metrics_table(stdout, "zero-release (eps 0)", &zr->mean, 0);
}

int
cmd_floors(int argc, char **argv)
{
	struct floors_args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	fb_blas_set_threads(1);
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, a.data);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "cannot load the dataset");
	}
	const struct fb_csr *truth = a.tune ? &ds->ub_tune : &ds->ub_test;
	if (!a.quiet) {
		fprintf(stderr,
				"floors: %s: %u users, %u bundles, %u items; "
				"epsilon %g, delta %g\n",
				ds->name, ds->n_users, ds->n_bundles,
				ds->n_items, a.dp.epsilon, a.dp.delta);
	}
	const uint32_t ks[] = FB_EVAL_DEFAULT_KS;
	uint32_t n_k = sizeof(ks) / sizeof(ks[0]);
	struct fb_eval_result pop, zr;
	struct dp_pop dpp = {0};
	int status = 1;
	err = fb_eval_popularity(&ds->ub_train, truth, ks, n_k, &pop);
	if (err != FB_OK) {
		cli_fail(cmd, err, "popularity baseline failed");
		goto out;
	}
	err = run_dp_popularity(&a, ds, truth, ks, n_k, &dpp);
	if (err != FB_OK) {
		cli_fail(cmd, err, "DP popularity failed");
		goto out;
	}
	err = run_zero_release(&a, ds, truth, ks, n_k, &zr);
	if (err != FB_OK) {
		cli_fail(cmd, err, "zero-release model failed");
		goto out;
	}
	if (a.json) {
		print_json(&a, ds, &pop, &dpp, &zr);
	} else {
		print_text(&a, ds, &pop, &dpp, &zr);
	}
	status = 0;
out:
	fb_dataset_destroy(ds);
	return status;
}
