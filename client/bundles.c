// client/bundles.c: `fedbundle-client complete` and `compose` (bundles.h).
// The node's state gives the federated item representations and the
// user's own factor; the catalogue gives the public compatibility; the
// scoring is fb_complete / fb_compose, never a copy of it.
#include "bundles.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/model/compose.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/fsutil.h"
#include "node.h"

// Everything a query loads: the node, the original ids, the federated
// representations, every local user's representation and a scorer.
struct bctx {
	struct node n;
	struct fb_catdir_ids ids;
	struct fb_catalog cat;
	struct fb_reps reps;
	struct fb_matrix users;
	struct fb_compat compat;
	struct fb_scorer scorer;
	uint32_t user;
	bool opened, cat_ok;
};

static int
arg_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "fedbundle-client %s: %s (see --help)\n", cmd, msg);
	return 2;
}

static int
failed(const char *cmd, const char *what, fb_err err)
{
	fprintf(stderr, "fedbundle-client %s: %s: %s\n", cmd, what,
			fb_last_error(err));
	return 1;
}

static void
bctx_finish(struct bctx *c)
{
	fb_scorer_finish(&c->scorer);
	fb_compat_finish(&c->compat);
	fb_matrix_finish(&c->users);
	fb_reps_finish(&c->reps);
	if (c->cat_ok) {
		fb_catalog_finish(&c->cat);
	}
	fb_catdir_ids_finish(&c->ids);
	if (c->opened) {
		node_close(&c->n);
	}
}

// The dense user of a: --user in range, or --user-id found in users.map.
static int
resolve_user(struct bctx *c, const struct node_policy *pol, const char *cmd,
		const struct client_bundle_args *a)
{
	char msg[512];
	if (a->user_id != NULL) {
		fb_err err = fb_catdir_user(
				&c->ids, pol->data_dir, a->user_id, &c->user);
		if (err != FB_OK) {
			snprintf(msg, sizeof(msg), "--user-id: %s",
					fb_last_error(err));
			return arg_error(cmd, msg);
		}
		return 0;
	}
	if (a->user >= c->n.ds->n_users) {
		snprintf(msg, sizeof(msg), "--user %u out of range (%u users)",
				a->user, c->n.ds->n_users);
		return arg_error(cmd, msg);
	}
	c->user = a->user;
	return 0;
}

// Loads the node read-only and prepares the scorer for the user of a.
static int
bctx_init(struct bctx *c, const struct node_policy *pol, const char *cmd,
		const struct client_bundle_args *a)
{
	memset(c, 0, sizeof(*c));
	fb_err err = node_open(&c->n, pol, NODE_READ);
	c->opened = true;
	if (err == FB_OK) {
		err = fb_catdir_ids_load(&c->ids, c->n.ds, pol->data_dir);
	}
	if (err != FB_OK) {
		return failed(cmd, "cannot load", err);
	}
	int rc = resolve_user(c, pol, cmd, a);
	if (rc != 0) {
		return rc;
	}
	const struct node_state *st = &c->n.st;
	if (st->global.dim == 0 || st->P.rows != c->n.ds->n_users) {
		return failed(cmd, "cannot score",
				fb_errorf(FB_ESTATE,
						"%s: no trained state yet (no "
						"round completed)",
						c->n.state_path));
	}
	if ((err = fb_catalog_init(&c->cat, c->n.ds)) == FB_OK) {
		c->cat_ok = true;
		err = fb_reps_init(&c->reps, &st->global, &st->opts);
	}
	if (err == FB_OK) {
		fb_reps_compute(&c->reps, &st->global, &c->cat);
		err = fb_matrix_init(&c->users, st->P.rows, st->P.cols);
	}
	if (err == FB_OK) {
		fb_user_reps_compute(&c->users, &st->P, &c->n.ds->ui, &c->reps);
		err = fb_compat_init(&c->compat, &c->n.ds->bi);
	}
	if (err == FB_OK) {
		err = fb_scorer_init(&c->scorer, &c->compat, &c->reps.item,
				FB_COMPOSE_DEFAULT_WEIGHT);
	}
	if (err != FB_OK) {
		return failed(cmd, "cannot prepare the scorer", err);
	}
	fb_scorer_set_user(&c->scorer, fb_matrix_row(&c->users, c->user));
	return 0;
}

// Parses list (fb_catdir_parse_items: the retailer's item ids with the
// folder's items.map, else dense ids) into items (room for max); 0, or 2
// after a message naming the bad id.
static int
parse_items(const struct bctx *c, const char *cmd, const char *what,
		const char *list, bool unique, uint32_t *items, uint32_t max,
		uint32_t *n)
{
	fb_err err = fb_catdir_parse_items(&c->ids, c->n.ds->n_items, what,
			list, unique, items, max, n);
	if (err == FB_ENOMEM) {
		return failed(cmd, what, err);
	}
	return err == FB_OK ? 0 : arg_error(cmd, fb_last_error(err));
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
		} else if (ch < 0x20) {
			printf("\\u%04x", ch);
		} else {
			putchar(ch);
		}
	}
	putchar('"');
}

// Item j's original id and name: JSON keys, or text columns.
static void
print_item_ids(const struct fb_catdir_ids *ids, uint32_t j, bool json)
{
	fb_catdir_print_item(stdout, ids, j, json);
}

// The common head of both outputs: the user (and original id), the round.
static void
print_user(const struct bctx *c, bool json)
{
	const char *uid = c->user < c->ids.users.n
			? fb_idmap_str(&c->ids.users, c->user)
			: NULL;
	if (json) {
		printf("{\"user\": %u, ", c->user);
		if (uid != NULL) {
			fputs("\"user_id\": ", stdout);
			json_string(uid);
			fputs(", ", stdout);
		}
		printf("\"round\": %u, ", c->n.st.last_completed);
		return;
	}
	printf("user %u%s%s%s (federated model after round %u)", c->user,
			uid != NULL ? " '" : "", uid != NULL ? uid : "",
			uid != NULL ? "'" : "", c->n.st.last_completed);
}

static void
print_completion(const struct bctx *c, const uint32_t *given, uint32_t n,
		const uint32_t *top, const float *scores, uint32_t got,
		bool json)
{
	print_user(c, json);
	if (json) {
		fputs("\"given\": [", stdout);
		for (uint32_t i = 0; i < n; i++) {
			printf("%s%u", i > 0 ? ", " : "", given[i]);
		}
		putchar(']');
		fb_catdir_print_item_list(
				stdout, &c->ids, "given_ids", given, n, true);
		fputs(", \"items\": [", stdout);
	} else {
		printf(": %u item(s) completing a bundle of %u", got, n);
		fb_catdir_print_item_list(
				stdout, &c->ids, NULL, given, n, false);
		putchar('\n');
		printf("%5s %9s %10s%s\n", "rank", "item", "score",
				c->ids.items.n > 0 ? "  id  name" : "");
	}
	for (uint32_t r = 0; r < got; r++) {
		if (json) {
			printf("%s{\"rank\": %u, \"item\": %u",
					r > 0 ? ", " : "", r + 1, top[r]);
			print_item_ids(&c->ids, top[r], true);
			printf(", \"score\": %.6f}", scores[r]);
		} else {
			printf("%5u %9u %10.4f", r + 1, top[r], scores[r]);
			print_item_ids(&c->ids, top[r], false);
			putchar('\n');
		}
	}
	if (json) {
		puts("]}");
	}
}

int
client_complete(const struct node_policy *pol,
		const struct client_bundle_args *a)
{
	if (!a->have_user || a->items == NULL) {
		return arg_error("complete",
				"--user ID (or --user-id ID) and --items "
				"I1,I2,... are required");
	}
	struct bctx c;
	int rc = bctx_init(&c, pol, "complete", a);
	uint32_t *given = NULL, *top = NULL, n = 0, got = 0;
	float *scores = NULL;
	if (rc == 0) {
		given = calloc(FB_COMPOSE_MAX_GIVEN, sizeof(*given));
		top = calloc(a->k, sizeof(*top));
		scores = calloc(a->k, sizeof(*scores));
		rc = given == NULL || top == NULL || scores == NULL
				? failed("complete", "cannot rank", FB_ENOMEM)
				: parse_items(&c, "complete", "--items",
						  a->items, true, given,
						  FB_COMPOSE_MAX_GIVEN, &n);
	}
	if (rc == 0) {
		fb_err err = fb_complete(
				&c.scorer, given, n, a->k, top, scores, &got);
		if (err != FB_OK) { // a repeated item: the caller's input
			fprintf(stderr, "fedbundle-client complete: --items: %s\n",
					fb_last_error(err));
			rc = err == FB_EINVAL ? 2 : 1;
		} else {
			print_completion(&c, given, n, top, scores, got,
					a->json);
		}
	}
	free(given);
	free(top);
	free(scores);
	bctx_finish(&c);
	return rc;
}

// Sets allowed[j] for the items listed in the file at path.
static int
load_allowed(const struct bctx *c, const char *path, uint8_t *allowed)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, (size_t)64 << 20, &text, &len);
	if (err != FB_OK) {
		return failed("compose", "--allowed", err);
	}
	uint32_t n_items = c->n.ds->n_items, n = 0;
	uint32_t *ids = calloc((size_t)n_items + 1, sizeof(*ids));
	int rc = ids == NULL ? failed("compose", "--allowed", FB_ENOMEM)
			     : parse_items(c, "compose", path, text, false, ids,
					       n_items + 1, &n);
	for (uint32_t k = 0; rc == 0 && k < n; k++) {
		allowed[ids[k]] = 1;
	}
	free(ids);
	free(text);
	return rc;
}

static void
print_composition(const struct bctx *c, uint32_t size, const uint32_t *items,
		const float *totals, uint32_t got, bool json)
{
	print_user(c, json);
	if (json) {
		printf("\"size\": %u, \"bundles\": [", size);
	} else {
		printf(": %u bundle(s) of %u items\n", got, size);
	}
	for (uint32_t r = 0; r < got; r++) {
		const uint32_t *b = items + (size_t)r * size;
		double price = 0;
		for (uint32_t k = 0; k < size; k++) {
			price += c->ids.item_prices != NULL
					? c->ids.item_prices[b[k]]
					: NAN;
		}
		if (json) {
			printf("%s{\"rank\": %u, \"score\": %.6f",
					r > 0 ? ", " : "", r + 1, totals[r]);
			if (!isnan(price)) {
				printf(", \"price\": %.2f", price);
			}
			fputs(", \"items\": [", stdout);
		} else if (!isnan(price)) {
			printf("bundle %u  score %.4f  price %.2f\n", r + 1,
					totals[r], price);
		} else {
			printf("bundle %u  score %.4f\n", r + 1, totals[r]);
		}
		for (uint32_t k = 0; k < size; k++) {
			if (json) {
				printf("%s{\"item\": %u", k > 0 ? ", " : "",
						b[k]);
				print_item_ids(&c->ids, b[k], true);
				putchar('}');
			} else {
				printf("  %9u", b[k]);
				print_item_ids(&c->ids, b[k], false);
				putchar('\n');
			}
		}
		if (json) {
			fputs("]}", stdout);
		}
	}
	if (json) {
		puts("]}");
	}
}

int
client_compose(const struct node_policy *pol,
		const struct client_bundle_args *a)
{
	if (!a->have_user || a->size == 0) {
		return arg_error("compose",
				"--user ID (or --user-id ID) and --size S are "
				"required");
	}
	struct bctx c;
	int rc = bctx_init(&c, pol, "compose", a);
	struct fb_compose_opts o = {.size = a->size,
			.count = a->count,
			.beam = 4,
			.reuse_penalty = 1.0f};
	uint8_t *allowed = NULL;
	uint32_t *items = NULL, got = 0;
	float *totals = NULL;
	if (rc == 0) {
		items = calloc((size_t)o.count * o.size, sizeof(*items));
		totals = calloc(o.count, sizeof(*totals));
		rc = items == NULL || totals == NULL
				? failed("compose", "cannot compose", FB_ENOMEM)
				: 0;
	}
	if (rc == 0 && a->allowed != NULL) {
		allowed = calloc(c.n.ds->n_items, 1);
		rc = allowed == NULL ? failed("compose", "--allowed", FB_ENOMEM)
				     : load_allowed(&c, a->allowed, allowed);
		o.allowed = allowed;
	}
	if (rc == 0 && a->max_price > 0) {
		rc = c.ids.item_prices == NULL
				? arg_error("compose",
						  "--max-price: the data folder has "
						  "no item prices (item_prices.txt "
						  "from the catalogue's items file)")
				: 0;
		o.price = c.ids.item_prices;
		o.max_price = a->max_price;
	}
	if (rc == 0) {
		fb_err err = fb_compose(&c.scorer, &o, items, totals, &got);
		if (err != FB_OK) { // too few allowed items for --size
			fprintf(stderr, "fedbundle-client compose: %s\n",
					fb_last_error(err));
			rc = err == FB_EINVAL ? 2 : 1;
		} else {
			print_composition(&c, o.size, items, totals, got,
					a->json);
		}
	}
	free(allowed);
	free(items);
	free(totals);
	bctx_finish(&c);
	return rc;
}
