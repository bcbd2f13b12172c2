// tools/cmd-complete-eval.c: `fedbundle complete-eval`: the bundle
// completion protocol of docs/bundle-completion.md on the test split, for
// the model and the three baselines, after choosing the compatibility
// weight on the TUNE split (never on test).
#include <getopt.h>
#include <stdio.h>

#include "bundlectx.h"
#include "cli.h"
#include "fedbundle/model/completion.h"

static const char *const usage_text =
		"usage: fedbundle complete-eval --data DIR --model FILE "
		"[options]\n"
		"\n"
		"Bundle completion (docs/bundle-completion.md): hides half of "
		"each test\nbundle's items, ranks every item not given, and "
		"prints Recall@K and NDCG@K\n(K = 5, 10, 20) for the model and "
		"the popularity, co-occurrence and\nitem-set baselines. The "
		"evaluated bundle is left out of the catalogue\nstatistics. The "
		"weight is chosen on the tune split unless --weight.\n"
		"\n"
		"options:\n"
		"  --data DIR       dataset folder (required)\n"
		"  --model FILE     model file with user factors (required)\n"
		"  --weight W       fixed weight (skips the tune search)\n"
		"  --seed N         seed of the hidden items (default 1)\n"
		"  --max-pairs N    evaluate only the first N pairs (0: all)\n"
		"  --json           one JSON object on stdout\n"
		"  --help           this text\n";

static const float grid[] = {0, 4, 16, 64, 256, 1024, 4096};

static const char *const names[] = {
		"model", "popularity", "cooccur", "itemset"};

static fb_err
eval(struct bundlectx *c, enum fb_complete_method method,
		const struct fb_csr *ub, uint64_t seed, uint32_t max_pairs,
		struct fb_metrics *m, uint32_t *n)
{
	static const uint32_t ks[] = {5, 10, 20};
	fb_metrics_init(m, ks, 3);
	struct fb_completion_opts o = {.method = method,
			.seed = seed,
			.hold_out = true,
			.max_pairs = max_pairs};
	return fb_completion_eval(
			&c->scorer, &c->m.ds->bi, ub, &c->users, &o, m, n);
}

// Picks the weight of the grid with the best tune Recall@20.
static fb_err
tune(struct bundlectx *c, uint64_t seed, uint32_t max_pairs, bool json)
{
	float best = grid[0];
	double best_r = -1;
	for (size_t g = 0; g < sizeof(grid) / sizeof(grid[0]); g++) {
		c->scorer.weight = grid[g];
		struct fb_metrics m;
		uint32_t n;
		fb_err err = eval(c, FB_COMPLETE_MODEL, &c->m.ds->ub_tune, seed,
				max_pairs, &m, &n);
		if (err != FB_OK) {
			return err;
		}
		if (!json) {
			fprintf(stderr, "tune: weight %g recall@20 %.4f\n",
					grid[g], m.recall[2]);
		}
		if (m.recall[2] > best_r) {
			best_r = m.recall[2];
			best = grid[g];
		}
	}
	c->scorer.weight = best;
	return FB_OK;
}

static int
report(struct bundlectx *c, uint64_t seed, uint32_t max_pairs, bool json)
{
	if (json) {
		printf("{\"weight\": %g", c->scorer.weight);
	} else {
		printf("completion on the test split (weight %g)\n",
				c->scorer.weight);
		printf("%-11s %6s %9s %9s %9s %9s %9s %9s\n", "method", "pairs",
				"R@5", "R@10", "R@20", "N@5", "N@10", "N@20");
	}
	for (int k = 0; k < 4; k++) {
		struct fb_metrics m;
		uint32_t n;
		fb_err err = eval(c, (enum fb_complete_method)k,
				&c->m.ds->ub_test, seed, max_pairs, &m, &n);
		if (err != FB_OK) {
			return cli_fail("complete-eval", err, names[k]);
		}
		if (json) {
			printf(", \"%s\": {\"pairs\": %u", names[k], n);
			for (int j = 0; j < 3; j++) {
				printf(", \"recall@%u\": %.6f, \"ndcg@%u\": "
				       "%.6f",
						m.k[j], m.recall[j], m.k[j],
						m.ndcg[j]);
			}
			printf("}");
		} else {
			printf("%-11s %6u %9.4f %9.4f %9.4f %9.4f %9.4f "
			       "%9.4f\n",
					names[k], n, m.recall[0], m.recall[1],
					m.recall[2], m.ndcg[0], m.ndcg[1],
					m.ndcg[2]);
		}
	}
	if (json) {
		printf("}\n");
	}
	return 0;
}

int
cmd_complete_eval(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"weight", required_argument, NULL, 'w'},
			{"seed", required_argument, NULL, 's'},
			{"max-pairs", required_argument, NULL, 'p'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *model_path = NULL;
	double weight = -1;
	uint64_t seed = 1;
	uint32_t max_pairs = 0;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'm':
			model_path = optarg;
			break;
		case 'w':
			ok = cli_parse_double("complete-eval", "--weight",
					optarg, &weight);
			if (ok && !(weight >= 0)) {
				return cli_usage_error("complete-eval",
						"--weight must be >= 0");
			}
			break;
		case 's':
			ok = cli_parse_u64("complete-eval", "--seed", optarg,
					&seed);
			break;
		case 'p':
			ok = cli_parse_u32("complete-eval", "--max-pairs",
					optarg, &max_pairs);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error(
					"complete-eval", "unknown option");
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc || data == NULL || model_path == NULL) {
		return cli_usage_error("complete-eval",
				"--data and --model are required (and no "
				"other argument)");
	}
	fb_blas_set_threads(1);
	struct bundlectx ctx;
	fb_err err = bundlectx_init(&ctx, data, model_path,
			weight >= 0 ? (float)weight : 0);
	if (err == FB_OK && weight < 0) {
		err = tune(&ctx, seed, max_pairs, json);
	}
	int status = err != FB_OK
			? cli_fail("complete-eval", err, "cannot evaluate")
			: report(&ctx, seed, max_pairs, json);
	bundlectx_finish(&ctx);
	return status;
}
