// client/main.c: `fedbundle-client`, a retailer's node. Subcommands:
//   run        take part in the federation (node.h) until training is over;
//   recommend  the top-K catalogue bundles for one of the retailer's users,
//              from its state (its user factors and the latest global
//              model) and its data, like `fedbundle recommend`; with
//              --items, the user's score of a new bundle of those items;
//   budget     the privacy budget: epsilon spent (its ledger replayed by
//              its policy's accountant at its delta), left, the last
//              recorded budget decision, the ledger's anchor, and with
//              --q/--sigma/--steps how many rounds of such a plan fit
//              (the state does not keep the last plan: an operator reads
//              it from the aggregator's round configuration), or with
//              --secure how many more secure rounds fit, each shaped
//              like the ledger's last secure release (the ledger records
//              everything the distributed-noise accountant needs);
//   eval       the retailer's test-split Recall@20 / NDCG@20 sums and user
//              count for the state (what a round reports, on demand);
//   complete   the K items best completing a partial bundle for a user,
//   compose    N bundles of S items for a user (bundles.h), like
//              `fedbundle complete|compose` on the node's state.
// Everything comes from the policy file (policy.h).
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "bundles.h"
#include "fb_config.h"
#include "fb_vcs.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/model/compose.h"
#include "fedbundle/model/metrics.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/recommend.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/log.h"
#include "local.h"
#include "node.h"
#include "policy.h"
#include "status.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle-client run --policy FILE [--log-level L] "
			"[--log-format F]\n"
			"       fedbundle-client recommend --policy FILE --user ID "
			"[-k K] [--json]\n"
			"       fedbundle-client recommend --policy FILE "
			"--user-id CUSTOMER [-k K] [--json]\n"
			"       fedbundle-client recommend --policy FILE --user ID "
			"| --user-id CUSTOMER\n"
			"                        --items I1,I2,... [--json]\n"
			"       fedbundle-client eval --policy FILE [--json]\n"
			"       fedbundle-client complete --policy FILE --user ID "
			"| --user-id CUSTOMER\n"
			"                        --items I1,I2,... [-k K] "
			"[--json]\n"
			"       fedbundle-client compose --policy FILE --user ID "
			"| --user-id CUSTOMER\n"
			"                        --size S [-n N] [--allowed FILE] "
			"[--max-price P] [--json]\n"
			"       fedbundle-client budget --policy FILE [--q Q "
			"--sigma S --steps N | --secure [--honest H]]\n"
			"                        [--json]\n"
			"\n"
			"A retailer's node of the fedbundle federation: trains "
			"on its own customers,\nsends only clipped, noised "
			"updates of the shared item and bundle factors,\nand "
			"enforces its own privacy budget (protocols/wire-v1.md).\n"
			"\n"
			"run        connect to the aggregator and take part until "
			"training is over\n"
			"recommend  top-K bundles for one of this retailer's users "
			"(dense local id,\n"
			"           or --user-id: the customer id of users.map); "
			"with id maps,\n"
			"           bundles are listed with original ids and "
			"names; with --items,\n"
			"           the user's score of a new bundle of those items "
			"(item ids as\n"
			"           for complete) and the share of catalogue bundles "
			"it outranks\n"
			"eval       test-split Recall@20 / NDCG@20 of the current "
			"state\n"
			"complete   the K items that best complete a partial "
			"bundle (item ids:\n"
			"           the retailer's own with items.map, else "
			"dense)\n"
			"           for the user: the user term of the federated "
			"model plus the\n"
			"           public compatibility "
			"(docs/bundle-completion.md)\n"
			"compose    N bundles (default 5) of S items for the user, "
			"optionally only\n"
			"           from the item ids of --allowed FILE, each "
			"bundle's price at most\n"
			"           --max-price P (the catalogue's item_prices.txt)\n"
			"budget     epsilon spent and left, the last budget "
			"decision, the ledger's\n"
			"           anchor; with --q Q --sigma S --steps N (a "
			"round's sampling rate,\n"
			"           noise multiplier and releases), how many such "
			"rounds still fit;\n"
			"           with --secure, how many more secure rounds "
			"fit, each one release\n"
			"           like the ledger's last secure one (its q, "
			"noise share, grid,\n"
			"           size and honest shares; --honest H: assume H "
			"honest shares,\n"
			"           the plan's n_min less the colluders), by the "
			"distributed\n"
			"           discrete Gaussian accountant the ledger "
			"uses\n"
			"\n"
			"options: -h, --help (this text), --version, "
			"-k K / --top K (default 10),\n"
			"--log-level L (silent, error, warn, info (default) or "
			"debug),\n"
			"--log-format F (text (default) or json: one object a "
			"line)\n"
			"\n"
			"policy keys (relative paths are relative to the policy "
			"file):\n");
	node_policy_print_keys(fp, FB_CFG_HELP);
}

static void
print_version(void)
{
	printf("fedbundle-client %s (%s)\n", FB_VERSION, FB_VCS_TAG);
}

static int
usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "fedbundle-client: ");
	fprintf(stderr, msg, arg);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

// --user N: a dense user number; anything else is most likely the
// retailer's own customer id, so the error suggests --user-id. 0 or 2.
static int
parse_user(const char *s, uint32_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || s[0] == '-') {
		bool id = *s != '\0';
		fprintf(stderr,
				"fedbundle-client: --user '%s': not a dense "
				"user number (0..N-1 for a model of N users)"
				"%s%s (see --help)\n",
				s,
				id ? "; for an original customer id use "
				     "--user-id "
				   : "",
				s);
		return 2;
	}
	if (errno == ERANGE || v > UINT32_MAX) {
		return usage_error("--user: %s is too large", s);
	}
	*out = (uint32_t)v;
	return 0;
}

static int
fail(const char *what, fb_err err)
{
	fb_log_say(FB_LOG_ERROR, "fedbundle-client", "%s: %s", what,
			fb_last_error(err));
	return 1;
}

struct args {
	const char *policy;
	uint32_t user, k;
	int have_user, json;
	const char *user_id;  // --user-id: an original customer id
	double q, sigma;      // budget: a plan's rate and noise multiplier
	uint64_t steps;       // budget: its releases per round; 0: no plan
	int secure;           // budget: --secure, like the last secure release
	uint64_t honest;      // budget: --honest; 0: the last release's
	const char *items;    // complete: --items
	const char *allowed;  // compose: --allowed
	uint32_t size, count; // compose: --size, -n
	double max_price;     // compose: --max-price (0: none)
};

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
			{"policy", required_argument, NULL, 'p'},
			{"user", required_argument, NULL, 'u'},
			{"user-id", required_argument, NULL, 'U'},
			{"top", required_argument, NULL, 'k'},
			{"json", no_argument, NULL, 'j'},
			{"q", required_argument, NULL, 'q'},
			{"sigma", required_argument, NULL, 's'},
			{"steps", required_argument, NULL, 'S'},
			{"secure", no_argument, NULL, 'Z'},
			{"honest", required_argument, NULL, 'H'},
			{"items", required_argument, NULL, 'i'},
			{"size", required_argument, NULL, 'z'},
			{"allowed", required_argument, NULL, 'a'},
			{"max-price", required_argument, NULL, 'M'},
			{"log-level", required_argument, NULL, 'L'},
			{"log-format", required_argument, NULL, 'F'},
			{"help", no_argument, NULL, 'h'},
			{"version", no_argument, NULL, 'V'},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->k = 10;
	a->count = 5;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hk:n:", opts, NULL)) != -1) {
		char *end = NULL;
		unsigned long v;
		switch (c) {
		case 'p':
			a->policy = optarg;
			break;
		case 'U':
			a->user_id = optarg;
			a->have_user = 1;
			break;
		case 'u':
			if (parse_user(optarg, &a->user) != 0) {
				return 2;
			}
			a->have_user = 1;
			break;
		case 'k':
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || optarg[0] == '-' ||
					v > UINT32_MAX) {
				return usage_error(
						"'%s' is not a number", optarg);
			}
			if (v == 0 || v > FB_METRICS_MAX_CUTOFF) {
				return usage_error("-k %s: must be 1..1000",
						optarg);
			}
			a->k = (uint32_t)v;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'i':
			a->items = optarg;
			break;
		case 'a':
			a->allowed = optarg;
			break;
		case 'z':
		case 'n':
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || optarg[0] == '-' ||
					v == 0 ||
					v > (c == 'z' ? FB_COMPOSE_MAX_SIZE
						      : 1000)) {
				return usage_error(c == 'z' ? "--size '%s': "
							      "must be 1..64"
							    : "-n '%s': must "
							      "be 1..1000",
						optarg);
			}
			*(c == 'z' ? &a->size : &a->count) = (uint32_t)v;
			break;
		case 'q':
		case 's':
		case 'M': {
			double d = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(d > 0) ||
					!isfinite(d)) {
				return usage_error("'%s' is not a positive "
						   "number",
						optarg);
			}
			*(c == 'q' ? &a->q
							: c == 's'
							? &a->sigma
							: &a->max_price) = d;
			break;
		}
		case 'Z':
			a->secure = 1;
			break;
		case 'S':
		case 'H':
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || optarg[0] == '-' ||
					v == 0) {
				return usage_error(
						c == 'S' ? "--steps '%s': "
							   "expected a whole "
							   "number >= 1"
							 : "--honest '%s': "
							   "expected a whole "
							   "number >= 1",
						optarg);
			}
			*(c == 'S' ? &a->steps : &a->honest) = v;
			break;
		case 'L': {
			enum fb_log_level lv;
			if (!fb_log_parse_level(optarg, &lv)) {
				return usage_error("--log-level: unknown level "
						   "'%s'",
						optarg);
			}
			fb_log_set_level(lv);
			break;
		}
		case 'F': {
			enum fb_log_format lf;
			if (!fb_log_parse_format(optarg, &lf)) {
				return usage_error(
						"--log-format: unknown format "
						"'%s' (text or json)",
						optarg);
			}
			fb_log_set_format(lf);
			break;
		}
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			print_version();
			return -1;
		default:
			return usage_error("%s", "unknown option");
		}
	}
	if (optind < argc) {
		return usage_error("unexpected argument '%s'", argv[optind]);
	}
	if (a->policy == NULL) {
		return usage_error("%s", "--policy FILE is required");
	}
	return 0;
}

// The time now, seconds since 1970 (the status page's start time).
static double
start_unix_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmd_run(const struct node_policy *pol)
{
	struct node n;
	node_catch_hup(); // a SIGHUP while the data loads is not fatal
	fb_err err = node_open(&n, pol, NODE_RUN);
	if (err != FB_OK) {
		node_close(&n);
		return fail("cannot start", err);
	}
	static char tag[FB_ID_NAME_MAX + 1];
	snprintf(tag, sizeof(tag), "%s", fb_identity_name(n.id));
	fb_log_set_tag(tag);
	if (pol->status_listen[0] != '\0') {
		err = node_status_start(&n.status, pol, start_unix_s(),
				n.st.last_completed);
		if (err != FB_OK) {
			node_close(&n);
			return fail("cannot serve the status page", err);
		}
		fb_log(FB_LOG_INFO, "status page on %s/metrics",
				pol->status_listen);
	}
	int rc = node_run(&n);
	node_status_stop(n.status);
	node_close(&n);
	return rc;
}

// budget --secure: the ledger's last secure release as the plan, and
// what the distributed-noise accountant says of more such rounds.
struct secure_plan {
	struct fb_acct_ddg m;
	uint64_t entry;  // the ledger entry it comes from
	uint64_t fit;    // rounds that fit (capped)
	double eps_next; // epsilon after one more round
};

static fb_err
secure_plan(const struct node_policy *pol, const struct fb_ledger *l,
		uint64_t honest, struct secure_plan *out)
{
	fb_err err = node_budget_last_ddg(pol, l, &out->m, &out->entry);
	if (err == FB_OK && honest > 0) {
		out->m.n_honest = honest;
	}
	if (err == FB_OK) {
		err = node_budget_rounds_fit_ddg(
				pol, l, &out->m, 1000000, &out->fit);
	}
	if (err == FB_OK) {
		err = node_budget_epsilon_after_ddg(
				pol, l, &out->m, 1, &out->eps_next);
	}
	return err;
}

static void
print_secure_plan_json(const struct secure_plan *sp)
{
	printf(", \"secure_plan\": {\"from_entry\": %llu, \"q\": %g, "
	       "\"sigma_share\": %.17g, \"honest\": %llu, \"l2\": %.17g, "
	       "\"dim\": %llu, \"epsilon_next\": ",
			(unsigned long long)sp->entry, sp->m.q,
			sp->m.sigma_share, (unsigned long long)sp->m.n_honest,
			sp->m.l2, (unsigned long long)sp->m.dim);
	if (isfinite(sp->eps_next)) {
		printf("%.6f", sp->eps_next);
	} else {
		printf("null"); // no finite epsilon: nothing private is left
	}
	printf(", \"rounds_fit\": %llu}", (unsigned long long)sp->fit);
}

static void
print_secure_plan(const struct secure_plan *sp)
{
	printf("secure rounds like ledger entry %llu (q %g, noise share %g "
	       "grid steps, %llu honest shares, %llu coordinates): epsilon "
	       "%.4f after one more; rounds that fit: %llu\n",
			(unsigned long long)sp->entry, sp->m.q,
			sp->m.sigma_share, (unsigned long long)sp->m.n_honest,
			(unsigned long long)sp->m.dim, sp->eps_next,
			(unsigned long long)sp->fit);
}

static int
cmd_budget(const struct node_policy *pol, const struct args *a)
{
	bool plan = a->q > 0 || a->sigma > 0 || a->steps > 0;
	if (plan && !(a->q > 0 && a->sigma > 0 && a->steps > 0)) {
		return usage_error(
				"%s", "--q, --sigma and --steps go together");
	}
	if (a->q > 1) {
		return usage_error("%s", "--q must be in (0, 1]");
	}
	if (a->secure && plan) {
		return usage_error("%s",
				"--secure takes its plan from the ledger: not "
				"with --q, --sigma and --steps");
	}
	if (a->honest > 0 && !a->secure) {
		return usage_error("%s", "--honest goes with --secure");
	}
	struct fb_ledger *l = NULL;
	double spent = 0;
	bool exhausted = false;
	uint64_t fit = 0;
	fb_err err = node_budget_open_ledger(pol, &l);
	if (err == FB_OK) {
		err = node_budget_check(pol, l, &spent, &exhausted);
	}
	if (err == FB_OK && plan) {
		err = node_budget_rounds_fit(pol, l, a->q, a->sigma, a->steps,
				1000000, &fit);
	}
	struct secure_plan sp = {0};
	if (err == FB_OK && a->secure) {
		err = secure_plan(pol, l, a->honest, &sp);
	}
	if (err != FB_OK) {
		fb_ledger_close(l);
		return fail("cannot account the budget", err);
	}
	struct fb_ledger_entry last = {0};
	bool have_last = false;
	size_t n = 0, releases = 0;
	char hex[2 * FB_HASH_LEN + 1] = "";
	uint8_t head[FB_HASH_LEN] = {0};
	if (l != NULL) {
		fb_ledger_last_budget(l, &last, &have_last);
		n = fb_ledger_count(l);
		releases = fb_ledger_releases(l);
		fb_ledger_head(l, head);
		fb_hash_hex(head, hex);
	}
	double left = pol->epsilon > spent ? pol->epsilon - spent : 0;
	const char *acct =
			fb_acct_kind_name((enum fb_acct_kind)pol->accountant);
	if (a->json) {
		printf("{\"epsilon_budget\": %.17g, \"delta\": %g, "
		       "\"accountant\": \"%s\", \"epsilon_spent\": %.6f, "
		       "\"epsilon_left\": %.6f, \"exhausted\": %s, "
		       "\"releases\": %zu, \"ledger\": \"%s\", ",
				pol->epsilon, pol->delta, acct, spent, left,
				exhausted ? "true" : "false", releases,
				pol->ledger);
		if (l != NULL) {
			printf("\"anchor\": \"%zu:%s\"", n, hex);
		} else {
			printf("\"anchor\": null"); // no ledger yet
		}
		if (have_last) {
			printf(", \"last_decision\": {\"entry\": %llu, "
			       "\"round\": %llu, \"epsilon\": %.17g, "
			       "\"delta\": %g, \"time\": \"%s\"}",
					(unsigned long long)last.seq,
					(unsigned long long)last.round,
					last.epsilon, last.delta, last.time);
		}
		if (plan) {
			printf(", \"plan\": {\"q\": %g, \"sigma\": %g, "
			       "\"steps\": %llu, \"rounds_fit\": %llu}",
					a->q, a->sigma,
					(unsigned long long)a->steps,
					(unsigned long long)fit);
		}
		if (a->secure) {
			print_secure_plan_json(&sp);
		}
		printf("}\n");
	} else {
		printf("privacy budget: epsilon %g at delta %g (%s)\n",
				pol->epsilon, pol->delta, acct);
		printf("spent: epsilon %.4f over %zu releases%s\n", spent,
				releases, exhausted ? " (exhausted)" : "");
		printf("left: epsilon %.4f\n", left);
		if (have_last) {
			printf("last budget decision: entry %llu, after round "
			       "%llu, epsilon %g at delta %g (%s)\n",
					(unsigned long long)last.seq,
					(unsigned long long)last.round,
					last.epsilon, last.delta, last.time);
		} else {
			printf("last budget decision: none recorded yet\n");
		}
		if (l != NULL) {
			printf("ledger %s, anchor (for fedbundle ledger "
			       "verify --anchor): %zu:%s\n",
					pol->ledger, n, hex);
		} else {
			printf("ledger %s: none yet (nothing spent)\n",
					pol->ledger);
		}
		if (plan) {
			printf("rounds of q %g, sigma %g, %llu steps that "
			       "fit: %llu\n",
					a->q, a->sigma,
					(unsigned long long)a->steps,
					(unsigned long long)fit);
		}
		if (a->secure) {
			print_secure_plan(&sp);
		}
	}
	fb_ledger_close(l);
	return 0;
}

static int
cmd_eval(const struct node_policy *pol, int json)
{
	struct node n;
	fb_err err = node_open(&n, pol, NODE_READ);
	double recall = 0, ndcg = 0;
	uint32_t users = 0;
	if (err == FB_OK) {
		err = node_local_eval(pol, n.ds, &n.st, &recall, &ndcg, &users);
	}
	if (err != FB_OK) {
		node_close(&n);
		return fail("cannot evaluate", err);
	}
	if (json) {
		// Means, then the sums they come from (to pool retailers).
		printf("{\"recall@20\": %.6f, \"ndcg@20\": %.6f, "
		       "\"users\": %u, \"recall@20_sum\": %.17g, "
		       "\"ndcg@20_sum\": %.17g, \"last_completed\": %u}\n",
				users > 0 ? recall / users : 0,
				users > 0 ? ndcg / users : 0, users, recall,
				ndcg, n.st.last_completed);
	} else {
		printf("test split: %u users, Recall@20 %.4f, NDCG@20 %.4f "
		       "(state after round %u)\n",
				users, users > 0 ? recall / users : 0,
				users > 0 ? ndcg / users : 0,
				n.st.last_completed);
	}
	node_close(&n);
	return 0;
}

// Prints the user's score of a new bundle made of the items of list (the
// retailer's item ids with items.map, else dense ids): the item view of
// a bundle, the mean of its items' reps, as `fedbundle recommend --items`,
// and the share of catalogue bundles it outranks. FB_EINVAL naming a bad
// or repeated id.
static fb_err
print_item_score(const struct fb_ranking *rank, const struct fb_reps *reps,
		const struct fb_dataset *ds, const struct fb_catdir_ids *ids,
		uint32_t user, const char *list, int json)
{
	uint32_t items[256], n = 0;
	fb_err err = fb_catdir_parse_items(ids, ds->n_items, "--items", list,
			true, items, 256, &n);
	size_t d = reps->item.cols;
	float *q = err == FB_OK ? calloc(d, sizeof(*q)) : NULL;
	if (err != FB_OK || q == NULL) {
		return err != FB_OK ? err
				    : fb_errorf(FB_ENOMEM,
						      "--items: %zu floats", d);
	}
	for (uint32_t k = 0; k < n; k++) {
		fb_axpy(q, 1.0f / (float)n,
				fb_matrix_row(&reps->item, items[k]), d);
	}
	float score = fb_dot(rank->rep, q, d);
	free(q);
	uint32_t below = 0;
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		below += rank->scores[b] < score;
	}
	struct fb_catdir_item_score s = {user, items, n, score,
			ds->n_bundles > 0 ? (double)below / ds->n_bundles : 0,
			ds->n_bundles};
	fb_catdir_print_item_score(stdout, ids, &s, json);
	return FB_OK;
}

static int
cmd_recommend(const struct node_policy *pol, const struct args *a)
{
	if (!a->have_user) {
		return usage_error(
				"%s", "--user ID or --user-id ID is required");
	}
	struct node n;
	struct fb_catdir_ids ids = {0};
	uint32_t user = a->user;
	fb_err err = node_open(&n, pol, NODE_READ);
	if (err == FB_OK) {
		err = fb_catdir_ids_load(&ids, n.ds, pol->data_dir);
	}
	if (err == FB_OK && a->user_id != NULL) {
		err = fb_catdir_user(&ids, pol->data_dir, a->user_id, &user);
	}
	if (err == FB_OK &&
			(n.st.global.dim == 0 ||
					n.st.P.rows != n.ds->n_users)) {
		err = fb_errorf(FB_ESTATE,
				"no trained state yet (no round "
				"completed)");
	}
	struct fb_catalog cat = {0};
	struct fb_reps reps = {0};
	struct fb_ranking rank = {0};
	bool cat_ok = false, bad_items = false;
	if (err == FB_OK && (err = fb_catalog_init(&cat, n.ds)) == FB_OK) {
		cat_ok = true;
		err = fb_reps_init(&reps, &n.st.global, &n.st.opts);
	}
	if (err == FB_OK) {
		fb_reps_compute(&reps, &n.st.global, &cat);
		err = fb_ranking_compute(
				&rank, n.ds, &reps, &n.st.P, user, a->k, false);
	}
	if (err == FB_OK && a->items != NULL) {
		err = print_item_score(&rank, &reps, n.ds, &ids, user, a->items,
				a->json);
		bad_items = err == FB_EINVAL;
	} else if (err == FB_OK) {
		char source[64];
		snprintf(source, sizeof(source),
				"federated model after round %u",
				n.st.last_completed);
		fb_ranking_print(stdout, &rank, n.ds, &ids, source,
				n.st.last_completed, a->json);
	}
	fb_ranking_finish(&rank);
	fb_catdir_ids_finish(&ids);
	fb_reps_finish(&reps);
	if (cat_ok) {
		fb_catalog_finish(&cat);
	}
	if (err != FB_OK) {
		node_close(&n);
		int rc = fail("cannot recommend", err);
		return bad_items ? 2 : rc; // a bad --items is a usage error
	}
	node_close(&n);
	return 0;
}

static int
cmd_bundles(const struct node_policy *pol, const struct args *a, bool complete)
{
	struct client_bundle_args b = {
			.user = a->user,
			.user_id = a->user_id,
			.have_user = a->have_user != 0,
			.items = a->items,
			.k = a->k,
			.size = a->size,
			.count = a->count,
			.allowed = a->allowed,
			.max_price = a->max_price,
			.json = a->json != 0,
	};
	return complete ? client_complete(pol, &b) : client_compose(pol, &b);
}

// Every round allocates and frees buffers of the model's size (a 100k x 64
// item model is 27 MB a buffer). glibc serves blocks that large with
// mmap, so each round would fault in and zero fresh pages, and trims the
// heap's top on free. Keeping them in the heap lets the next round reuse
// the pages: bench/bench-federation.sh, 16 clients, round 8.9 -> 7.1 s.
// One arena: NNG's threads allocate the received PLANs, each thread from
// its own arena, so without this a round's 27 MB reply often landed in an
// arena with no free block of that size and faulted in fresh pages
// (a third of the clients' CPU in page zeroing; round 5.2 -> 4.1 s).
// A client's working set is the same every round, so nothing is lost.
static void
keep_round_buffers(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); // glibc's upper limit
	mallopt(M_TRIM_THRESHOLD, -1);
	mallopt(M_ARENA_MAX, 1);
#endif
}

int
main(int argc, char **argv)
{
	keep_round_buffers();
	if (sodium_init() < 0) {
		fprintf(stderr,
				"fedbundle-client: libsodium failed to "
				"initialise\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
			strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		print_version();
		return 0;
	}
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "recommend") != 0 &&
			strcmp(cmd, "eval") != 0 &&
			strcmp(cmd, "budget") != 0 &&
			strcmp(cmd, "complete") != 0 &&
			strcmp(cmd, "compose") != 0) {
		return usage_error("unknown command '%s'", cmd);
	}
	fb_log_set_tag("client");
	struct args a;
	int rc = parse_args(argc - 1, argv + 1, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	static struct node_policy pol;
	fb_err err = node_policy_load(&pol, a.policy);
	if (err != FB_OK) {
		return fail("bad policy", err);
	}
	fb_blas_set_threads(1);
	if (strcmp(cmd, "run") == 0) {
		rc = cmd_run(&pol);
	} else if (strcmp(cmd, "eval") == 0) {
		rc = cmd_eval(&pol, a.json);
	} else if (strcmp(cmd, "budget") == 0) {
		rc = cmd_budget(&pol, &a);
	} else if (strcmp(cmd, "complete") == 0 ||
			strcmp(cmd, "compose") == 0) {
		rc = cmd_bundles(&pol, &a, strcmp(cmd, "complete") == 0);
	} else {
		rc = cmd_recommend(&pol, &a);
	}
	fb_transport_fini();
	return rc;
}
