// tools/cmd-eval.c: `fedbundle eval`, all-ranking evaluation of a saved
// model on a dataset split, beside the popularity baseline. With --json it
// prints the keys of the train contract ("recall@20", "ndcg@20", ...).
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/model/modelio.h"
#include "modelctx.h"
#include "report.h"

static const char *const usage_text =
		"usage: fedbundle eval --data DIR --model FILE [options]\n"
		"\n"
		"Ranks all bundles for every user with positives in the split, "
		"masking\nthe user's training bundles, and reports Recall, NDCG, "
		"Precision, F1\nand hit rate at each K, beside the popularity "
		"baseline.\n"
		"\n"
		"options:\n"
		"  --data DIR     dataset folder the model was trained on "
		"(required)\n"
		"  --model FILE   model file written by `fedbundle train --out`, "
		"a\n"
		"                 retailer's client state (state.fbc) or an "
		"aggregator\n"
		"                 checkpoint (checkpoint.fbc: shared factors only; "
		"the\n"
		"                 users' factors are then solved locally from "
		"DIR's\n"
		"                 training split, said on stderr and in the JSON's\n"
		"                 \"users\"); required\n"
		"  --config FILE  with a checkpoint: the representation options "
		"from\n"
		"                 the aggregator's config (its \"round\") or a train\n"
		"                 config, not those the checkpoint records (default:\n"
		"                 the checkpoint's; the federation's defaults, no bias,\n"
		"                 for a checkpoint that records none)\n"
		"  --split NAME   test (default) or tune\n"
		"  --ks LIST      cut-offs, comma-separated (default 20,40)\n"
		"  --threads N    worker threads (default 1)\n"
		"  --json         print one JSON object on stdout\n"
		"  --help         this text\n";

// Parses "20,40" into ks; false (after a usage error) if malformed.
static bool
parse_ks(const char *s, uint32_t *ks, uint32_t *n_k)
{
	char buf[128];
	if (strlen(s) >= sizeof(buf)) {
		cli_usage_error("eval", "--ks: list too long");
		return false;
	}
	strcpy(buf, s);
	*n_k = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
			tok = strtok_r(NULL, ",", &save)) {
		if (*n_k == FB_METRICS_MAX_K) {
			cli_usage_error("eval", "--ks: at most %d cut-offs",
					FB_METRICS_MAX_K);
			return false;
		}
		if (!cli_parse_u32("eval", "--ks", tok, &ks[*n_k]) ||
				ks[*n_k] == 0) {
			return false;
		}
		(*n_k)++;
	}
	return *n_k > 0;
}

int
cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"config", required_argument, NULL, 'c'},
			{"split", required_argument, NULL, 's'},
			{"ks", required_argument, NULL, 'k'},
			{"threads", required_argument, NULL, 't'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *model_path = NULL, *split_name = "test";
	const char *config = NULL;
	uint32_t ks[FB_METRICS_MAX_K] = {20, 40}, n_k = 2, threads = 1;
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'm':
			model_path = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 's':
			split_name = optarg;
			break;
		case 'k':
			if (!parse_ks(optarg, ks, &n_k)) {
				return 2;
			}
			break;
		case 't':
			if (!cli_parse_u32("eval", "--threads", optarg,
					    &threads) ||
					threads == 0 || threads > 64) {
				return cli_usage_error("eval",
						"--threads must be 1..64");
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("eval", "unknown option");
		}
	}
	if (optind < argc) {
		return cli_usage_error("eval", "unexpected argument '%s'",
				argv[optind]);
	}
	if (data == NULL || model_path == NULL) {
		return cli_usage_error(
				"eval", "--data and --model are required");
	}
	if (strcmp(split_name, "test") != 0 &&
			strcmp(split_name, "tune") != 0) {
		return cli_usage_error("eval", "--split must be test or tune");
	}
	fb_blas_set_threads(1);
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, data);
	if (err != FB_OK) {
		return cli_fail("eval", err, "cannot load the dataset");
	}
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_model_meta meta;
	int status = 1;
	err = modelctx_load_model(
			ds, data, model_path, config, &model, &P, &meta);
	if (err != FB_OK) {
		cli_fail("eval", err, "cannot load the model");
		goto out;
	}
	if (model.n_items != ds->n_items || model.n_bundles != ds->n_bundles ||
			P.rows != ds->n_users ||
			(model.n_attrs != 0 && model.n_attrs != ds->n_attrs)) {
		cli_fail("eval",
				fb_errorf(FB_EINVAL,
						"model has %zu users, %u items, "
						"%u bundles; dataset %s has %u, "
						"%u, %u",
						P.rows, model.n_items,
						model.n_bundles, ds->name,
						ds->n_users, ds->n_items,
						ds->n_bundles),
				"model and dataset do not match");
		goto out;
	}
	const struct fb_csr *split = strcmp(split_name, "test") == 0
			? &ds->ub_test
			: &ds->ub_tune;
	struct fb_eval_result res, pop;
	err = fb_fit_evaluate(ds, &model, &P, &meta.opts, split, ks, n_k,
			(int)threads, &res);
	if (err == FB_OK) {
		err = fb_eval_popularity(&ds->ub_train, split, ks, n_k, &pop);
	}
	if (err != FB_OK) {
		cli_fail("eval", err, "evaluation failed");
		goto out;
	}
	bool solved = meta.kind == FB_TFILE_CHECKPOINT;
	if (json) {
		printf("{\"dataset\": \"%s\", \"split\": \"%s\", \"epoch\": %u, "
		       "\"users\": \"%s\", "
		       "\"users_evaluated\": %llu, \"eval_seconds\": %.4f, ",
				ds->name, split_name, meta.epoch,
				solved ? "solved locally from the training split"
				       : "trained",
				(unsigned long long)res.n_users, res.seconds);
		report_metrics_json(stdout, &res.mean);
		printf(", \"popularity\": {");
		report_metrics_json(stdout, &pop.mean);
		printf("}}\n");
	} else {
		printf("%s split of %s, %llu users, model from %s %u%s "
		       "(%.3f s):\n",
				split_name, ds->name,
				(unsigned long long)res.n_users,
				solved ? "round" : "epoch", meta.epoch,
				solved ? ", users' factors solved locally" : "",
				res.seconds);
		report_metrics_table(stdout, "model", &res.mean, 1);
		report_metrics_table(
				stdout, "popularity baseline", &pop.mean, 0);
	}
	status = 0;
out:
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	fb_dataset_destroy(ds);
	return status;
}
