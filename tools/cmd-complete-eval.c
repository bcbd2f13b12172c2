// tools/cmd-complete-eval.c: `fedbundle complete-eval`: the bundle
// completion protocol of docs/bundle-completion.md on the test split, for
// the model and the three baselines, after choosing the compatibility
// weight on the TUNE split (never on test); with --compose, also the
// overlap of composed bundles with the test bundles (§3 of the doc).
// --split tune reports on the tune split instead, to choose composition
// options (penalty, weight) without looking at test.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

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
		"  --model FILE     model file or client state with user factors, "
		"or an\n"
		"                   aggregator checkpoint (users' factors then "
		"solved\n"
		"                   from DIR's training split: see `fedbundle "
		"eval`)\n"
		"                   (required)\n"
		"  --weight W       fixed weight (skips the tune search)\n"
		"  --seed N         seed of the hidden items (default 1)\n"
		"  --max-pairs N    evaluate only the first N pairs (0: all)\n"
		"  --split S        report on test (default) or tune (to "
		"choose options\n                   such as --penalty without "
		"looking at test)\n"
		"  --compose        also compose N bundles of S items per test "
		"pair and\n                   print their item precision, "
		"recall and best Jaccard\n"
		"  --size S         composed bundle size (default 5)\n"
		"  -n N             composed bundles per pair (default 10)\n"
		"  --penalty P      composition reuse penalty (default 1)\n"
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

// Which split the report reads: ub and its name.
struct split {
	const struct fb_csr *ub;
	const char *name;
};

// Completion on split s; with json, the object is left open when more
// follows (leave_open).
static int
report(struct bundlectx *c, const struct split *s, uint64_t seed,
		uint32_t max_pairs, bool json, bool leave_open)
{
	if (json) {
		printf("{\"weight\": %g", c->scorer.weight);
	} else {
		printf("completion on the %s split (weight %g)\n", s->name,
				c->scorer.weight);
		printf("%-11s %6s %9s %9s %9s %9s %9s %9s\n", "method", "pairs",
				"R@5", "R@10", "R@20", "N@5", "N@10", "N@20");
	}
	for (int k = 0; k < 4; k++) {
		struct fb_metrics m;
		uint32_t n;
		fb_err err = eval(c, (enum fb_complete_method)k, s->ub, seed,
				max_pairs, &m, &n);
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
	if (json && !leave_open) {
		printf("}\n");
	}
	return 0;
}

// Composition on split s: the model, then the user term alone (weight
// 0), both with the same options.
static int
report_compose(struct bundlectx *c, const struct split *s,
		const struct fb_compose_opts *o, uint32_t max_pairs, bool json)
{
	float weight = c->scorer.weight;
	if (json) {
		printf(", \"composition\": {\"size\": %u, \"bundles\": %u, "
		       "\"penalty\": %g",
				o->size, o->count, o->reuse_penalty);
	} else {
		printf("composition on the %s split (%u bundles of %u items, "
		       "penalty %g)\n%-11s %6s %9s %9s %9s\n",
				s->name, o->count, o->size, o->reuse_penalty,
				"method", "pairs", "precision", "recall",
				"jaccard");
	}
	static const char *const rows[] = {"model", "itemset"};
	int status = 0;
	for (int k = 0; k < 2 && status == 0; k++) {
		c->scorer.weight = k == 0 ? weight : 0;
		struct fb_composition_metrics m;
		uint32_t n;
		fb_err err = fb_composition_eval(&c->scorer, &c->m.ds->bi,
				s->ub, &c->users, o, max_pairs, &m, &n);
		if (err != FB_OK) {
			status = cli_fail("complete-eval", err, "composition");
		} else if (json) {
			printf(", \"%s\": {\"pairs\": %u, \"precision\": %.6f, "
			       "\"recall\": %.6f, \"jaccard\": %.6f}",
					rows[k], n, m.precision, m.recall,
					m.jaccard);
		} else {
			printf("%-11s %6u %9.4f %9.4f %9.4f\n", rows[k], n,
					m.precision, m.recall, m.jaccard);
		}
	}
	if (json && status == 0) {
		printf("}}\n");
	}
	c->scorer.weight = weight;
	return status;
}

struct args {
	const char *data, *model_path;
	bool tune_split; // --split tune
	double weight, penalty;
	uint64_t seed;
	uint32_t max_pairs;
	bool json, compose;
	struct fb_compose_opts o;
};

// Parses one option into a; false after printing a usage error.
static bool
parse_opt(int c, struct args *a)
{
	switch (c) {
	case 'd':
		a->data = optarg;
		return true;
	case 'm':
		a->model_path = optarg;
		return true;
	case 'w':
		if (!cli_parse_double("complete-eval", "--weight", optarg,
				    &a->weight)) {
			return false;
		}
		if (!(a->weight >= 0)) {
			cli_usage_error("complete-eval",
					"--weight must be >= 0");
			return false;
		}
		return true;
	case 's':
		return cli_parse_u64(
				"complete-eval", "--seed", optarg, &a->seed);
	case 'p':
		return cli_parse_u32("complete-eval", "--max-pairs", optarg,
				&a->max_pairs);
	case 'j':
		a->json = true;
		return true;
	case 'c':
		a->compose = true;
		return true;
	case 'z':
		return cli_parse_u32(
				"complete-eval", "--size", optarg, &a->o.size);
	case 'n':
		return cli_parse_u32(
				"complete-eval", "-n", optarg, &a->o.count);
	case 'S':
		if (strcmp(optarg, "test") != 0 &&
				strcmp(optarg, "tune") != 0) {
			cli_usage_error("complete-eval",
					"--split must be test or tune, not '%s'",
					optarg);
			return false;
		}
		a->tune_split = strcmp(optarg, "tune") == 0;
		return true;
	case 'P':
		return cli_parse_double("complete-eval", "--penalty", optarg,
				&a->penalty);
	default:
		cli_usage_error("complete-eval", "unknown option");
		return false;
	}
}

// Usage errors of a complete set of options; 0 if none.
static int
check_args(const struct args *a, int argc)
{
	if (optind < argc || a->data == NULL || a->model_path == NULL) {
		return cli_usage_error("complete-eval",
				"--data and --model are required (and no "
				"other argument)");
	}
	if (a->o.size == 0 || a->o.size > FB_COMPOSE_MAX_SIZE ||
			a->o.count == 0 || !(a->penalty >= 0)) {
		return cli_usage_error("complete-eval",
				"--size must be 1..64, -n >= 1 and --penalty "
				">= 0");
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
			{"compose", no_argument, NULL, 'c'},
			{"size", required_argument, NULL, 'z'},
			{"penalty", required_argument, NULL, 'P'},
			{"split", required_argument, NULL, 'S'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	struct args a = {.weight = -1,
			.penalty = 1,
			.seed = 1,
			.o = {.size = 5, .count = 10, .beam = 4}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!parse_opt(c, &a)) {
			return 2;
		}
	}
	int status = check_args(&a, argc);
	if (status != 0) {
		return status;
	}
	a.o.reuse_penalty = (float)a.penalty;
	fb_blas_set_threads(1);
	struct bundlectx ctx;
	fb_err err = bundlectx_init(&ctx, a.data, a.model_path,
			a.weight >= 0 ? (float)a.weight : 0);
	if (err == FB_OK && a.weight < 0) {
		err = tune(&ctx, a.seed, a.max_pairs, a.json);
	}
	struct split s = {&ctx.m.ds->ub_test, "test"};
	if (err == FB_OK && a.tune_split) {
		s = (struct split){&ctx.m.ds->ub_tune, "tune"};
	}
	status = err != FB_OK
			? cli_arg_fail("complete-eval", err, "cannot evaluate")
			: report(&ctx, &s, a.seed, a.max_pairs, a.json,
					  a.compose);
	if (status == 0 && a.compose) {
		status = report_compose(&ctx, &s, &a.o, a.max_pairs, a.json);
	}
	bundlectx_finish(&ctx);
	return status;
}
