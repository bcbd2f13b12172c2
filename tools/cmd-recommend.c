// tools/cmd-recommend.c: `fedbundle recommend`: the top-K catalogue
// bundles for one user, or the user's preference for a new bundle composed
// of given items (the item view of a bundle: the mean of its items' reps,
// with no bundle factor since the bundle is new). Scores are BPR scores:
// only their order is meaningful, so an item set's score is also given as
// the share of catalogue bundles it outranks for that user.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/metrics.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/model/recommend.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/fsutil.h"
#include "modelctx.h"

static const char *const usage_text =
		"usage: fedbundle recommend --data DIR --model FILE --user ID "
		"[options]\n"
		"       fedbundle recommend --data DIR --model FILE --all "
		"[--format csv|jsonl]\n"
		"                           [--out FILE] [-k K]\n"
		"\n"
		"Prints the K best catalogue bundles for a user (training bundles "
		"excluded),\nor with --items the user's preference for a bundle "
		"made of those items,\nor with --all every user's K best.\n"
		"\n"
		"options:\n"
		"  --data DIR       dataset folder (required)\n"
		"  --model FILE     a model file (`fedbundle train --out`), a "
		"retailer's\n"
		"                   client state (state.fbc: the federated model "
		"and its\n"
		"                   users' factors) or an aggregator checkpoint\n"
		"                   (checkpoint.fbc: shared factors only; the "
		"users'\n"
		"                   factors are then solved locally from DIR's "
		"training\n"
		"                   split, said on stderr); required\n"
		"  --config FILE    with a checkpoint: the representation options "
		"from\n"
		"                   the aggregator's config (its \"round\") or a train\n"
		"                   config, not those the checkpoint records (default:\n"
		"                   the checkpoint's; the federation's defaults, no bias,\n"
		"                   for a checkpoint that records none)\n"
		"  --user ID        dense user id\n"
		"  --user-id ID     the retailer's own customer id (from the "
		"folder's\n"
		"                   users.map); --user or --user-id is "
		"required.\n"
		"                   With id maps (`fedbundle import`), bundles "
		"are listed\n"
		"                   with their original ids and names\n"
		"  -k, --top K      number of bundles (default 10)\n"
		"  --items LIST     score the item set LIST (comma-separated "
		"item ids: the\n"
		"                   retailer's own when the folder has "
		"items.map, else\n"
		"                   dense ids)\n"
		"  --include-seen   do not exclude the user's training bundles\n"
		"  --all            every user of the folder, in user order\n"
		"  --format F       with --all: csv (user,rank,bundle,score; "
		"original ids\n"
		"                   when the folder has maps; the default) or "
		"jsonl (one\n"
		"                   JSON object per user, with bundle names where\n"
		"                   the catalogue has them)\n"
		"  --out FILE       with --all: write there (default standard "
		"output)\n"
		"  --json           JSON output\n"
		"  --help           this text\n";

struct context {
	struct modelctx m;      // the folder, its ids, the model, the reps
	struct fb_ranking rank; // the user's scores and top K
	uint32_t user;
};

static void
context_finish(struct context *c)
{
	fb_ranking_finish(&c->rank);
	modelctx_finish(&c->m);
}

// The model context, then one user's ranking.
static fb_err
context_init(struct context *c, const char *data, const char *model_path,
		const char *config, const char *original, uint32_t user,
		uint32_t k, bool include_seen)
{
	memset(c, 0, sizeof(*c));
	fb_err err = modelctx_load(&c->m, data, model_path, config);
	if (err == FB_OK && original != NULL) {
		err = fb_catdir_user(&c->m.ids, data, original, &user);
	}
	if (err != FB_OK) {
		return err;
	}
	c->user = user;
	return fb_ranking_compute(&c->rank, c->m.ds, &c->m.reps, &c->m.P, user,
			k, include_seen);
}

// --all: every user's top k to out (NULL: stdout), written atomically.
static int
recommend_all(const char *data, const char *model_path, const char *config,
		uint32_t k, bool include_seen, enum fb_ranking_format fmt,
		const char *out)
{
	struct context ctx = {0};
	struct fb_atomic_file af = {0};
	fb_err err = modelctx_load(&ctx.m, data, model_path, config);
	if (err == FB_OK && out != NULL) {
		err = fb_atomic_open(&af, out, 0644);
	}
	if (err != FB_OK) {
		context_finish(&ctx);
		return cli_fail("recommend", err, "cannot score");
	}
	double t0 = fb_clock_s();
	err = fb_ranking_write_all(out != NULL ? af.fp : stdout, ctx.m.ds,
			&ctx.m.reps, &ctx.m.P,
			ctx.m.ids.have ? &ctx.m.ids : NULL, k, include_seen,
			fmt);
	if (err == FB_OK && out != NULL) {
		err = fb_atomic_commit(&af);
	} else {
		fb_atomic_abort(&af);
	}
	double dt = fb_clock_s() - t0;
	if (err == FB_OK) {
		fprintf(stderr,
				"recommend: top %u for %u users in %.3f s (%.0f "
				"users/s)\n",
				k, ctx.m.ds->n_users, dt,
				dt > 0 ? ctx.m.ds->n_users / dt : 0);
	}
	context_finish(&ctx);
	return err == FB_OK
			? 0
			: cli_fail("recommend", err,
					  "cannot write the recommendations");
}

static int
recommend_items(struct context *c, uint32_t user, const char *list, int json)
{
	uint32_t items[256], n = 0;
	if (!modelctx_parse_items(&c->m, "recommend", "--items", list, true,
			    items, 256, &n)) {
		return 2;
	}
	size_t d = c->m.model.dim;
	float q[4096] = {0};
	for (uint32_t k = 0; k < n; k++) {
		fb_axpy(q, 1.0f / (float)n,
				fb_matrix_row(&c->m.reps.item, items[k]), d);
	}
	float score = fb_dot(c->rank.rep, q, d);
	uint32_t below = 0;
	for (uint32_t b = 0; b < c->m.ds->n_bundles; b++) {
		below += c->rank.scores[b] < score;
	}
	uint32_t nb = c->m.ds->n_bundles;
	struct fb_catdir_item_score s = {user, items, n, score,
			nb > 0 ? (double)below / nb : 0, nb};
	fb_catdir_print_item_score(stdout, &c->m.ids, &s, json);
	return 0;
}

int
cmd_recommend(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"model", required_argument, NULL, 'm'},
			{"config", required_argument, NULL, 'c'},
			{"user", required_argument, NULL, 'u'},
			{"user-id", required_argument, NULL, 'U'},
			{"top", required_argument, NULL, 'k'},
			{"items", required_argument, NULL, 'i'},
			{"include-seen", no_argument, NULL, 's'},
			{"all", no_argument, NULL, 'a'},
			{"format", required_argument, NULL, 'f'},
			{"out", required_argument, NULL, 'o'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *model_path = NULL, *items = NULL;
	const char *original = NULL, *out = NULL, *config = NULL;
	uint32_t user = 0, k = 10;
	int have_user = 0, include_seen = 0, json = 0, all = 0, c;
	enum fb_ranking_format fmt = FB_RANKING_CSV;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
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
		case 'u':
			if (!cli_parse_user("recommend", optarg, &user)) {
				return 2;
			}
			have_user = 1;
			break;
		case 'U':
			original = optarg;
			have_user = 1;
			break;
		case 'k':
			if (!cli_parse_u32("recommend", "-k", optarg, &k)) {
				return 2;
			}
			if (k == 0 || k > FB_METRICS_MAX_CUTOFF) {
				return cli_usage_error("recommend",
						"-k must be 1..%d",
						FB_METRICS_MAX_CUTOFF);
			}
			break;
		case 'i':
			items = optarg;
			break;
		case 's':
			include_seen = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'f':
			if (strcmp(optarg, "csv") == 0) {
				fmt = FB_RANKING_CSV;
			} else if (strcmp(optarg, "jsonl") == 0) {
				fmt = FB_RANKING_JSONL;
			} else {
				return cli_usage_error("recommend",
						"--format must be csv or jsonl");
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("recommend", "unknown option");
		}
	}
	if (optind < argc) {
		return cli_usage_error("recommend", "unexpected argument '%s'",
				argv[optind]);
	}
	if (all && (have_user || items != NULL || json)) {
		return cli_usage_error("recommend",
				"--all ranks every user: no --user, --user-id, "
				"--items or --json (use --format)");
	}
	if (!all && out != NULL) {
		return cli_usage_error("recommend", "--out needs --all");
	}
	if (all && data != NULL && model_path != NULL) {
		fb_blas_set_threads(1);
		return recommend_all(data, model_path, config, k,
				include_seen != 0, fmt, out);
	}
	if (data == NULL || model_path == NULL || !have_user) {
		return cli_usage_error("recommend",
				"--data, --model and --user (or --user-id) are "
				"required");
	}
	fb_blas_set_threads(1);
	struct context ctx;
	fb_err err = context_init(&ctx, data, model_path, config, original,
			user, k, include_seen != 0);
	int status;
	if (err != FB_OK) {
		status = cli_fail("recommend", err, "cannot score");
	} else if (items != NULL) {
		status = recommend_items(&ctx, ctx.user, items, json);
	} else {
		fb_ranking_print(stdout, &ctx.rank, ctx.m.ds, &ctx.m.ids, NULL,
				-1, json);
		status = 0;
	}
	context_finish(&ctx);
	return status;
}
