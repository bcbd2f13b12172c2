// tools/cmd-complete.c: `fedbundle complete`: the K items that best
// complete a partial bundle for one user (compose.h), with their scores.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundlectx.h"
#include "cli.h"
#include "fedbundle/model/metrics.h"

static const char *const usage_text =
		"usage: fedbundle complete --data DIR --model FILE --user ID "
		"--items I1,I2,... [options]\n"
		"\n"
		"Prints the K items that best complete the partial bundle for "
		"the user:\nthe model's user term plus the public compatibility "
		"of each item with the\ngiven ones "
		"(docs/bundle-completion.md).\n"
		"\n"
		"options:\n"
		"  --data DIR       dataset folder (required)\n"
		"  --model FILE     model file with user factors (required)\n"
		"  --user ID        dense user id (required)\n"
		"  --items LIST     the partial bundle: comma-separated item ids\n"
		"  -k, --top K      number of items (default 10)\n"
		"  --weight W       weight of the compatibility term (default "
		"the tuned one)\n"
		"  --json           JSON output\n"
		"  --help           this text\n";

static void
print_result(uint32_t user, const uint32_t *given, uint32_t n,
		const uint32_t *top, const float *scores, uint32_t got,
		bool json)
{
	if (json) {
		printf("{\"user\": %u, \"given\": [", user);
		for (uint32_t k = 0; k < n; k++) {
			printf("%s%u", k > 0 ? ", " : "", given[k]);
		}
		printf("], \"items\": [");
		for (uint32_t r = 0; r < got; r++) {
			printf("%s{\"item\": %u, \"score\": %.6f}",
					r > 0 ? ", " : "", top[r], scores[r]);
		}
		printf("]}\n");
		return;
	}
	printf("user %u: %u item(s) completing a bundle of %u\n", user, got, n);
	printf("%5s %9s %10s\n", "rank", "item", "score");
	for (uint32_t r = 0; r < got; r++) {
		printf("%5u %9u %10.4f\n", r + 1, top[r], scores[r]);
	}
}

int
cmd_complete(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"user", required_argument, NULL, 'u'},
			{"items", required_argument, NULL, 'i'},
			{"top", required_argument, NULL, 'k'},
			{"weight", required_argument, NULL, 'w'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *model_path = NULL, *list = NULL;
	uint32_t user = 0, k = 10;
	double weight = FB_COMPOSE_DEFAULT_WEIGHT;
	int have_user = 0, json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'm':
			model_path = optarg;
			break;
		case 'u':
			if (!cli_parse_u32("complete", "--user", optarg,
					    &user)) {
				return 2;
			}
			have_user = 1;
			break;
		case 'i':
			list = optarg;
			break;
		case 'k':
			if (!cli_parse_u32("complete", "-k", optarg, &k)) {
				return 2;
			}
			if (k == 0 || k > FB_METRICS_MAX_CUTOFF) {
				return cli_usage_error("complete",
						"-k must be 1..%d",
						FB_METRICS_MAX_CUTOFF);
			}
			break;
		case 'w':
			if (!cli_parse_double("complete", "--weight", optarg,
					    &weight)) {
				return 2;
			}
			if (!(weight >= 0)) {
				return cli_usage_error("complete",
						"--weight must be >= 0");
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("complete", "unknown option");
		}
	}
	if (optind < argc) {
		return cli_usage_error("complete", "unexpected argument '%s'",
				argv[optind]);
	}
	if (data == NULL || model_path == NULL || !have_user || list == NULL) {
		return cli_usage_error("complete",
				"--data, --model, --user and --items are "
				"required");
	}
	fb_blas_set_threads(1);
	struct bundlectx ctx;
	fb_err err = bundlectx_init(&ctx, data, model_path, (float)weight);
	if (err != FB_OK) {
		bundlectx_finish(&ctx);
		return cli_arg_fail("complete", err, "cannot load");
	}
	int status = 2;
	uint32_t given[FB_COMPOSE_MAX_GIVEN], n = 0, got = 0;
	uint32_t *top = calloc(k, sizeof(*top));
	float *scores = calloc(k, sizeof(*scores));
	if (top == NULL || scores == NULL) {
		status = cli_fail("complete", FB_ENOMEM, "cannot rank");
	} else if (user >= ctx.m.ds->n_users) {
		status = cli_usage_error("complete",
				"--user %u out of range (%u users)", user,
				ctx.m.ds->n_users);
	} else if (modelctx_parse_items(&ctx.m, "complete", list, given,
				   FB_COMPOSE_MAX_GIVEN, &n)) {
		fb_scorer_set_user(
				&ctx.scorer, fb_matrix_row(&ctx.users, user));
		err = fb_complete(&ctx.scorer, given, n, k, top, scores, &got);
		if (err != FB_OK) {
			status = cli_arg_fail("complete", err, "--items");
		} else {
			print_result(user, given, n, top, scores, got, json);
			status = 0;
		}
	}
	free(top);
	free(scores);
	bundlectx_finish(&ctx);
	return status;
}
