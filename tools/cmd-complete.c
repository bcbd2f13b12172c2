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
		"  --model FILE     model file or client state with user factors, "
		"or an\n"
		"                   aggregator checkpoint (users' factors then "
		"solved\n"
		"                   from DIR's training split: see `fedbundle "
		"eval`)\n"
		"                   (required)\n"
		"  --user ID        dense user id\n"
		"  --user-id ID     the retailer's own customer id (users.map); "
		"--user or\n"
		"                   --user-id is required\n"
		"  --items LIST     the partial bundle: comma-separated item ids "
		"(the\n"
		"                   retailer's own when the folder has "
		"items.map, else\n"
		"                   dense ids)\n"
		"  -k, --top K      number of items (default 10)\n"
		"  --weight W       weight of the compatibility term (default "
		"the tuned one)\n"
		"  --json           JSON output\n"
		"  --help           this text\n";

// With id maps, the given and ranked items also carry their original ids
// and names (JSON "given_ids", "item_id", "name"; text columns).
static void
print_result(const struct fb_catdir_ids *ids, uint32_t user,
		const uint32_t *given, uint32_t n, const uint32_t *top,
		const float *scores, uint32_t got, bool json)
{
	if (json) {
		printf("{\"user\": %u, \"given\": [", user);
		for (uint32_t k = 0; k < n; k++) {
			printf("%s%u", k > 0 ? ", " : "", given[k]);
		}
		putchar(']');
		fb_catdir_print_item_list(
				stdout, ids, "given_ids", given, n, true);
		printf(", \"items\": [");
		for (uint32_t r = 0; r < got; r++) {
			printf("%s{\"item\": %u", r > 0 ? ", " : "", top[r]);
			fb_catdir_print_item(stdout, ids, top[r], true);
			printf(", \"score\": %.6f}", scores[r]);
		}
		printf("]}\n");
		return;
	}
	printf("user %u: %u item(s) completing a bundle of %u", user, got, n);
	fb_catdir_print_item_list(stdout, ids, NULL, given, n, false);
	printf("\n%5s %9s %10s%s\n", "rank", "item", "score",
			ids->items.n > 0 ? "  id  name" : "");
	for (uint32_t r = 0; r < got; r++) {
		printf("%5u %9u %10.4f", r + 1, top[r], scores[r]);
		fb_catdir_print_item(stdout, ids, top[r], false);
		putchar('\n');
	}
}

int
cmd_complete(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"user", required_argument, NULL, 'u'},
			{"user-id", required_argument, NULL, 'U'},
			{"items", required_argument, NULL, 'i'},
			{"top", required_argument, NULL, 'k'},
			{"weight", required_argument, NULL, 'w'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *model_path = NULL, *list = NULL;
	const char *original = NULL;
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
			if (!cli_parse_user("complete", optarg, &user)) {
				return 2;
			}
			have_user = 1;
			break;
		case 'U':
			original = optarg;
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
				"--data, --model, --user (or --user-id) and "
				"--items are required");
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
	if (original != NULL &&
			fb_catdir_user(&ctx.m.ids, data, original, &user) !=
					FB_OK) {
		status = cli_usage_error("complete", "--user-id: %s",
				fb_last_error(FB_EINVAL));
	} else if (top == NULL || scores == NULL) {
		status = cli_fail("complete", FB_ENOMEM, "cannot rank");
	} else if (user >= ctx.m.ds->n_users) {
		status = cli_usage_error("complete",
				"--user %u out of range (%u users)", user,
				ctx.m.ds->n_users);
	} else if (modelctx_parse_items(&ctx.m, "complete", "--items", list,
				   true, given, FB_COMPOSE_MAX_GIVEN, &n)) {
		fb_scorer_set_user(
				&ctx.scorer, fb_matrix_row(&ctx.users, user));
		err = fb_complete(&ctx.scorer, given, n, k, top, scores, &got);
		if (err != FB_OK) {
			status = cli_arg_fail("complete", err, "--items");
		} else {
			print_result(&ctx.m.ids, user, given, n, top, scores,
					got, json);
			status = 0;
		}
	}
	free(top);
	free(scores);
	bundlectx_finish(&ctx);
	return status;
}
