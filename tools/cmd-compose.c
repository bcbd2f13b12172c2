// tools/cmd-compose.c: `fedbundle compose`: N personalised bundles of S
// items for one user, by beam search over the completion scores
// (compose.h), diverse across the results, optionally from allowed items.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundlectx.h"
#include "cli.h"
#include "fedbundle/util/fsutil.h"

static const char *const usage_text =
		"usage: fedbundle compose --data DIR --model FILE --user ID "
		"--size S [options]\n"
		"\n"
		"Composes N bundles of S items for the user: a beam search "
		"adding one item\nat a time by the user term plus the public "
		"compatibility with the items\nchosen so far; each use of an "
		"item lowers its user term in later bundles.\n"
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
		"  --size S         items per bundle (required)\n"
		"  -n N             number of bundles (default 5)\n"
		"  --allowed FILE   only these item ids (comma- or "
		"newline-separated;\n"
		"                   the retailer's own when the folder has "
		"items.map)\n"
		"  --max-price P    each bundle's summed item price at most P "
		"(needs the\n"
		"                   catalogue's prices, item_prices.txt; "
		"unpriced items\n"
		"                   are left out)\n"
		"  --beam B         beam width (default 4)\n"
		"  --penalty P      user-term penalty per earlier use (default "
		"1)\n"
		"  --weight W       weight of the compatibility term\n"
		"  --json           JSON output\n"
		"  --help           this text\n";

static int
load_allowed(const struct bundlectx *c, const char *path, uint8_t *allowed)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, (size_t)64 << 20, &text, &len);
	if (err != FB_OK) {
		return cli_arg_fail("compose", err, "--allowed");
	}
	uint32_t *ids = calloc(c->m.ds->n_items + 1, sizeof(*ids)), n = 0;
	int status = 0;
	if (ids == NULL) {
		status = cli_fail("compose", FB_ENOMEM, "--allowed");
	} else if (!modelctx_parse_items(&c->m, "compose", path, text, false,
				   ids, c->m.ds->n_items + 1, &n)) {
		status = 2;
	} else {
		for (uint32_t k = 0; k < n; k++) {
			allowed[ids[k]] = 1;
		}
	}
	free(ids);
	free(text);
	return status;
}

// The summed price of the n items, NAN if one has none (or no prices).
static double
bundle_price(const struct fb_catdir_ids *ids, const uint32_t *b, uint32_t n)
{
	double sum = 0;
	for (uint32_t k = 0; k < n; k++) {
		sum += ids->item_prices != NULL ? ids->item_prices[b[k]] : NAN;
	}
	return sum;
}

// With id maps, each item also carries its original id and name.
static void
print_result(const struct fb_catdir_ids *ids, uint32_t user,
		const struct fb_compose_opts *o, const uint32_t *items,
		const float *totals, uint32_t got, bool json)
{
	if (json) {
		printf("{\"user\": %u, \"size\": %u, \"bundles\": [", user,
				o->size);
	} else {
		printf("user %u: %u bundle(s) of %u items\n", user, got,
				o->size);
	}
	for (uint32_t r = 0; r < got; r++) {
		const uint32_t *b = items + (size_t)r * o->size;
		double price = bundle_price(ids, b, o->size);
		if (json) {
			printf("%s{\"score\": %.6f", r > 0 ? ", " : "",
					totals[r]);
			if (!isnan(price)) {
				printf(", \"price\": %.2f", price);
			}
			printf(", \"items\": [");
		} else {
			printf("%3u  score %8.4f", r + 1, totals[r]);
			if (!isnan(price)) {
				printf("  price %.2f", price);
			}
			printf("  items");
		}
		for (uint32_t k = 0; k < o->size && ids->items.n == 0; k++) {
			printf(json ? "%s%u" : "%s %u",
					json && k > 0 ? ", " : "", b[k]);
		}
		for (uint32_t k = 0; k < o->size && ids->items.n > 0; k++) {
			if (json) {
				printf("%s{\"item\": %u", k > 0 ? ", " : "",
						b[k]);
				fb_catdir_print_item(stdout, ids, b[k], true);
				putchar('}');
			} else {
				printf("\n     %9u", b[k]);
				fb_catdir_print_item(stdout, ids, b[k], false);
			}
		}
		printf(json ? "]}" : "\n");
	}
	if (json) {
		printf("]}\n");
	}
}

struct args {
	const char *data, *model, *allowed, *user_id;
	uint32_t user;
	bool have_user, json;
	double weight, penalty, max_price;
	struct fb_compose_opts o;
};

static int
parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"user", required_argument, NULL, 'u'},
			{"user-id", required_argument, NULL, 'U'},
			{"size", required_argument, NULL, 's'},
			{"allowed", required_argument, NULL, 'a'},
			{"max-price", required_argument, NULL, 'P'},
			{"beam", required_argument, NULL, 'b'},
			{"penalty", required_argument, NULL, 'p'},
			{"weight", required_argument, NULL, 'w'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd':
			a->data = optarg;
			break;
		case 'm':
			a->model = optarg;
			break;
		case 'a':
			a->allowed = optarg;
			break;
		case 'u':
			ok = cli_parse_user("compose", optarg, &a->user);
			a->have_user = true;
			break;
		case 'U':
			a->user_id = optarg;
			a->have_user = true;
			break;
		case 's':
			ok = cli_parse_u32("compose", "--size", optarg,
					&a->o.size);
			break;
		case 'n':
			ok = cli_parse_u32(
					"compose", "-n", optarg, &a->o.count);
			break;
		case 'b':
			ok = cli_parse_u32("compose", "--beam", optarg,
					&a->o.beam);
			break;
		case 'p':
			ok = cli_parse_double("compose", "--penalty", optarg,
					&a->penalty);
			break;
		case 'P':
			ok = cli_parse_double("compose", "--max-price", optarg,
					&a->max_price);
			if (ok && !(a->max_price > 0 && isfinite(a->max_price))) {
				return cli_usage_error("compose",
						"--max-price must be a positive "
						"number");
			}
			break;
		case 'w':
			ok = cli_parse_double("compose", "--weight", optarg,
					&a->weight);
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("compose", "unknown option");
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc) {
		return cli_usage_error("compose", "unexpected argument '%s'",
				argv[optind]);
	}
	if (a->data == NULL || a->model == NULL || !a->have_user ||
			a->o.size == 0) {
		return cli_usage_error("compose",
				"--data, --model, --user (or --user-id) and "
				"--size (>= 1) are required");
	}
	if (a->o.count == 0 || a->o.count > 1000 ||
			a->o.size > FB_COMPOSE_MAX_SIZE || a->o.beam == 0 ||
			a->o.beam > FB_COMPOSE_MAX_BEAM || !(a->penalty >= 0) ||
			!(a->weight >= 0)) {
		return cli_usage_error("compose",
				"-n must be 1..1000, --size 1..%d, --beam "
				"1..%d, --penalty and --weight >= 0",
				FB_COMPOSE_MAX_SIZE, FB_COMPOSE_MAX_BEAM);
	}
	return -1;
}

static int
run(struct bundlectx *ctx, struct args *a)
{
	if (a->user_id != NULL &&
			fb_catdir_user(&ctx->m.ids, a->data, a->user_id,
					&a->user) != FB_OK) {
		return cli_usage_error("compose", "--user-id: %s",
				fb_last_error(FB_EINVAL));
	}
	if (a->user >= ctx->m.ds->n_users) {
		return cli_usage_error("compose",
				"--user %u out of range (%u users)", a->user,
				ctx->m.ds->n_users);
	}
	uint8_t *allowed = NULL;
	uint32_t *items =
			calloc((size_t)a->o.count * a->o.size, sizeof(*items));
	float *totals = calloc(a->o.count, sizeof(*totals));
	int status = 0;
	if (items == NULL || totals == NULL) {
		status = cli_fail("compose", FB_ENOMEM, "cannot compose");
	} else if (a->allowed != NULL) {
		allowed = calloc(ctx->m.ds->n_items, 1);
		status = allowed == NULL
				? cli_fail("compose", FB_ENOMEM, "--allowed")
				: load_allowed(ctx, a->allowed, allowed);
	}
	if (status == 0 && a->max_price > 0 && ctx->m.ids.item_prices == NULL) {
		status = cli_usage_error("compose",
				"--max-price: %s has no item prices "
				"(item_prices.txt: add a price column to the "
				"items file of `fedbundle catalog build`)",
				a->data);
	}
	if (status == 0) {
		a->o.allowed = allowed;
		a->o.price = ctx->m.ids.item_prices;
		a->o.max_price = a->max_price;
		a->o.reuse_penalty = (float)a->penalty;
		fb_scorer_set_user(&ctx->scorer,
				fb_matrix_row(&ctx->users, a->user));
		uint32_t got = 0;
		fb_err err = fb_compose(
				&ctx->scorer, &a->o, items, totals, &got);
		if (err != FB_OK) {
			status = cli_arg_fail("compose", err, "cannot compose");
		} else {
			print_result(&ctx->m.ids, a->user, &a->o, items, totals,
					got, a->json);
		}
	}
	free(allowed);
	free(items);
	free(totals);
	return status;
}

int
cmd_compose(int argc, char **argv)
{
	struct args a = {
			.weight = FB_COMPOSE_DEFAULT_WEIGHT,
			.penalty = 1.0,
			.o = {.count = 5, .beam = 4},
	};
	int status = parse(argc, argv, &a);
	if (status >= 0) {
		return status;
	}
	fb_blas_set_threads(1);
	struct bundlectx ctx;
	fb_err err = bundlectx_init(&ctx, a.data, a.model, (float)a.weight);
	if (err != FB_OK) {
		bundlectx_finish(&ctx);
		return cli_arg_fail("compose", err, "cannot load");
	}
	status = run(&ctx, &a);
	bundlectx_finish(&ctx);
	return status;
}
