// tools/cmd-train.c: `fedbundle train`, the centralized reference run,
// non-private or with user-level differential privacy, whose q, lr and
// bundle_rank come from the rule of dprule.h unless given explicitly.
// Warns on stderr when the tune split is too small (warn_small_tune).
// Contract (scripts rely on it): with --json the last thing on stdout is
// one JSON object with at least "recall@20", "ndcg@20", "recall@40",
// "ndcg@40" (test split, kept epoch: the best on tune, or under DP the
// last, since tune data may not select a release) and "epoch"; progress goes to
// stderr; --metrics-out appends one JSON line per epoch. With --dp user it
// holds its ledger (locked, fb_ledger_open) from before the first release
// until exit, so a second run or a client on the same ledger is refused.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/dprule.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/model/floors.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/fsutil.h"
#include "report.h"

static const char *const usage_text =
		"usage: fedbundle train --data DIR [options]\n"
		"\n"
		"Trains the bundle recommender on one dataset folder (the "
		"centralized,\nnon-federated reference), with early stopping on "
		"the tune split, and\nreports test metrics at the best tune "
		"epoch beside a popularity baseline.\nUnder --dp user the tune "
		"split selects nothing (no ledger accounts it):\nevery planned "
		"epoch runs and the last one is kept and reported.\n"
		"\n"
		"options:\n"
		"  --data DIR          dataset folder (required)\n"
		"  --config FILE       JSON hyper-parameters (see "
		"docs/configuration.md)\n"
		"  --out FILE          write the kept model (with user "
		"factors) here\n"
		"  --json              print the result as one JSON object on "
		"stdout\n"
		"  --metrics-out FILE  append one JSON line per epoch to FILE\n"
		"  --epochs N          override the config's epochs\n"
		"  --threads N         override the config's threads\n"
		"  --seed N            override the config's seed\n"
		"  --quiet             no progress on stderr\n"
		"  --help              this text\n"
		"\n"
		"user-level differential privacy (each user's contribution "
		"clipped,\nexact discrete Gaussian noise from libsodium's "
		"CSPRNG, budget enforced):\n"
		"  --dp MODE           none (default) or user; user switches the\n"
		"                      training defaults to the DP ones (public item\n"
		"                      factors, low-rank bundle factors, SGD); q, lr\n"
		"                      and bundle_rank not given are derived from\n"
		"                      --users, the catalogue, epsilon, delta and the\n"
		"                      epochs by the rule of docs/privacy.md section 12\n"
		"  --epsilon E         budget epsilon (default 8)\n"
		"  --delta D           budget delta (default 1e-6)\n"
		"  --clip C            L2 clipping norm per user (default 1)\n"
		"  --q Q               user sampling rate per step (default: "
		"the rule's)\n"
		"  --sigma S           noise multiplier (default: the smallest "
		"that spends\n"
		"                      the budget over the planned epochs)\n"
		"  --users N           the PUBLIC number of users releases are\n"
		"                      normalised by (required: declared, e.g.\n"
		"                      your user count rounded up, never counted\n"
		"                      from the data)\n"
		"  --accountant A      pld (default, tightest) or rdp\n"
		"  --ledger FILE       privacy ledger (default "
		"DATA/privacy.ledger)\n"
		"  --new-ledger        create the ledger if it does not exist\n"
		"  --prior MODE        popularity prior: off (default), on or\n"
		"                      fixed. First one release of noisy per-bundle\n"
		"                      counts (the DP popularity floor's, at a share\n"
		"                      of the noise budget) sets the bundle bias,\n"
		"                      then the training, calibrated so that both\n"
		"                      together meet the budget: on trains the bias\n"
		"                      as a correction to the prior, fixed keeps it\n"
		"                      and trains (and releases) only the rest\n"
		"  --prior-share F     the prior's share of the noise budget, in\n"
		"                      (0, 1) (default 0.5)\n"
		"  --plan P            auto (default), train or counts. counts\n"
		"                      spends the whole budget on one release of\n"
		"                      noisy per-bundle counts (the DP popularity\n"
		"                      floor) and trains nothing: the model is the\n"
		"                      public factors with that bias. auto does so\n"
		"                      when the rule finds that even a rank-1 slice\n"
		"                      is noisier than it allows (bundle_rank not\n"
		"                      given), and trains otherwise\n"
		"  --seeded-noise N    reproducible noise: NOT private (tests "
		"only)\n"
		"The config file may hold the same settings in a \"dp\" "
		"object.\n";

struct progress {
	FILE *metrics;
	int quiet;
	uint32_t k0;
	int dp;
};

static void
on_epoch(void *ctx, const struct fb_fit_progress *p)
{
	struct progress *pr = ctx;
	if (!pr->quiet) {
		fprintf(stderr, "epoch %4u  loss %.4f  %6.2fs", p->epoch,
				p->stats.loss, p->stats.seconds);
		if (pr->dp && (p->epoch > 0 || p->epsilon > 0)) {
			fprintf(stderr, "  eps %.3f", p->epsilon);
		}
		if (p->evaluated) {
			fprintf(stderr, "  tune Recall@%u %.4f  NDCG@%u %.4f%s",
					pr->k0, p->tune.mean.recall[0], pr->k0,
					p->tune.mean.ndcg[0],
					p->best && !pr->dp ? "  *" : "");
		}
		fputc('\n', stderr);
	}
	if (pr->metrics != NULL) {
		fprintf(pr->metrics,
				"{\"epoch\": %u, \"loss\": %.6f, \"samples\": "
				"%llu, \"seconds\": %.4f",
				p->epoch, p->stats.loss,
				(unsigned long long)p->stats.samples,
				p->stats.seconds);
		if (pr->dp) {
			fprintf(pr->metrics,
					", \"epsilon\": %.6f, \"releases\": %zu, "
					"\"clipped_users\": %llu",
					p->epsilon, p->releases,
					(unsigned long long)p->stats.clipped);
		}
		if (p->evaluated) {
			fprintf(pr->metrics, ", \"split\": \"tune\", ");
			report_metrics_json(pr->metrics, &p->tune.mean);
		}
		fprintf(pr->metrics, "}\n");
		fflush(pr->metrics);
	}
}

// Below these, the tune split cannot select reliably: fewer than
// TUNE_MIN_USERS users with tune interactions, or a standard error of the
// mean tune Recall@20 above TUNE_MAX_SE (0.01: the smallest difference
// worth selecting on). Recall is in [0, 1] with mean R, so its variance
// is at most R(1 - R) and the standard error at most sqrt(R(1 - R) / n).
#define TUNE_MIN_USERS 200
#define TUNE_MAX_SE 0.01

static uint32_t
tune_users(const struct fb_dataset *ds)
{
	uint32_t n = 0;
	for (uint32_t u = 0; u < ds->ub_tune.n_rows; u++) {
		n += ds->ub_tune.row_ptr[u + 1] > ds->ub_tune.row_ptr[u];
	}
	return n;
}

// Warns (on stderr, even with --quiet) when the tune split is too small
// to choose the best epoch or a configuration on.
static void
warn_small_tune(const struct fb_dataset *ds, double recall)
{
	uint32_t n = tune_users(ds);
	double se = n > 0 ? sqrt(recall * (1 - recall) / n) : 1;
	if (n >= TUNE_MIN_USERS && se <= TUNE_MAX_SE) {
		return;
	}
	fprintf(stderr,
			"train: warning: the tune split is too small to select "
			"reliably: %u users with tune interactions (the rule: "
			"at least %d) and a standard error of tune Recall@20 "
			"up to %.4f (the rule: at most %.2f); the best epoch "
			"and any tuning on it are mostly noise\n",
			n, TUNE_MIN_USERS, se, TUNE_MAX_SE);
}

// --prior: none, the bias trained as a correction, or the bias fixed.
enum { PRIOR_OFF = 0, PRIOR_ON = 1, PRIOR_FIXED = 2 };

// --plan: train unless the rule affords no slice (auto), train, or
// release the popularity counts alone (the whole budget, no training).
enum { PLAN_AUTO = 0, PLAN_TRAIN = 1, PLAN_COUNTS = 2 };

// Options as parsed; DP values of 0 / -1 mean "not given".
struct train_args {
	const char *data, *config, *out, *metrics, *ledger;
	int json, quiet, new_ledger, seeded, have_seed, prior, plan;
	uint32_t epochs, threads;
	uint64_t seed, noise_seed, users;
	int dp_mode, accountant;
	double epsilon, delta, clip, q, sigma, prior_share;
};

static int
parse_args(int argc, char **argv, struct train_args *a)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"config", required_argument, NULL, 'c'},
			{"out", required_argument, NULL, 'o'},
			{"json", no_argument, NULL, 'j'},
			{"metrics-out", required_argument, NULL, 'm'},
			{"epochs", required_argument, NULL, 'e'},
			{"threads", required_argument, NULL, 't'},
			{"seed", required_argument, NULL, 's'},
			{"quiet", no_argument, NULL, 'q'},
			{"help", no_argument, NULL, 'h'},
			{"dp", required_argument, NULL, 'D'},
			{"epsilon", required_argument, NULL, 'E'},
			{"delta", required_argument, NULL, 'L'},
			{"clip", required_argument, NULL, 'C'},
			{"q", required_argument, NULL, 'Q'},
			{"sigma", required_argument, NULL, 'S'},
			{"accountant", required_argument, NULL, 'A'},
			{"ledger", required_argument, NULL, 'G'},
			{"new-ledger", no_argument, NULL, 'N'},
			{"seeded-noise", required_argument, NULL, 'R'},
			{"users", required_argument, NULL, 'U'},
			{"prior", required_argument, NULL, 'P'},
			{"prior-share", required_argument, NULL, 'F'},
			{"plan", required_argument, NULL, 'W'},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->dp_mode = -1;
	a->accountant = -1;
	a->prior_share = FB_FLOORS_PRIOR_SHARE;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd':
			a->data = optarg;
			break;
		case 'c':
			a->config = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'm':
			a->metrics = optarg;
			break;
		case 'e':
			ok = cli_parse_u32("train", "--epochs", optarg,
					&a->epochs);
			if (ok && a->epochs == 0) {
				return cli_usage_error("train",
						"--epochs must be positive");
			}
			break;
		case 't':
			ok = cli_parse_u32("train", "--threads", optarg,
					&a->threads);
			break;
		case 's':
			ok = cli_parse_u64("train", "--seed", optarg, &a->seed);
			a->have_seed = 1;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'D':
			if (strcmp(optarg, "none") == 0) {
				a->dp_mode = FB_DP_NONE;
			} else if (strcmp(optarg, "user") == 0) {
				a->dp_mode = FB_DP_USER;
			} else {
				return cli_usage_error("train",
						"--dp: '%s' is not none or user "
						"(client-level DP needs a "
						"federation)",
						optarg);
			}
			break;
		case 'E':
			ok = cli_parse_double("train", "--epsilon", optarg,
					&a->epsilon);
			break;
		case 'L':
			ok = cli_parse_double(
					"train", "--delta", optarg, &a->delta);
			break;
		case 'C':
			ok = cli_parse_double(
					"train", "--clip", optarg, &a->clip);
			break;
		case 'Q':
			ok = cli_parse_double("train", "--q", optarg, &a->q);
			break;
		case 'S':
			ok = cli_parse_double(
					"train", "--sigma", optarg, &a->sigma);
			break;
		case 'A': {
			enum fb_acct_kind k;
			if (fb_acct_kind_parse(optarg, &k) != FB_OK) {
				return cli_usage_error("train",
						"--accountant: '%s' is not rdp "
						"or pld",
						optarg);
			}
			a->accountant = (int)k;
			break;
		}
		case 'G':
			a->ledger = optarg;
			break;
		case 'N':
			a->new_ledger = 1;
			break;
		case 'R':
			ok = cli_parse_u64("train", "--seeded-noise", optarg,
					&a->noise_seed);
			a->seeded = 1;
			break;
		case 'P':
			if (strcmp(optarg, "off") == 0) {
				a->prior = PRIOR_OFF;
			} else if (strcmp(optarg, "on") == 0) {
				a->prior = PRIOR_ON;
			} else if (strcmp(optarg, "fixed") == 0) {
				a->prior = PRIOR_FIXED;
			} else {
				return cli_usage_error("train",
						"--prior: '%s' is not off, on or "
						"fixed",
						optarg);
			}
			break;
		case 'W':
			if (strcmp(optarg, "auto") == 0) {
				a->plan = PLAN_AUTO;
			} else if (strcmp(optarg, "train") == 0) {
				a->plan = PLAN_TRAIN;
			} else if (strcmp(optarg, "counts") == 0) {
				a->plan = PLAN_COUNTS;
			} else {
				return cli_usage_error("train",
						"--plan: '%s' is not auto, train or "
						"counts",
						optarg);
			}
			break;
		case 'F':
			ok = cli_parse_double("train", "--prior-share", optarg,
					&a->prior_share);
			if (ok && !(a->prior_share > 0 && a->prior_share < 1)) {
				return cli_usage_error("train",
						"--prior-share must be in (0, "
						"1)");
			}
			break;
		case 'U':
			ok = cli_parse_u64(
					"train", "--users", optarg, &a->users);
			if (ok && a->users == 0) {
				return cli_usage_error("train",
						"--users must be positive");
			}
			break;
		default:
			return cli_usage_error("train", "unknown option");
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc) {
		return cli_usage_error("train", "unexpected argument '%s'",
				argv[optind]);
	}
	if (a->data == NULL) {
		return cli_usage_error("train", "--data is required");
	}
	return 0;
}

// The keys the DP rule derives (dprule.h) start as "not given" markers,
// so that a value from the file or the command line is known to be
// explicit and wins over the rule.
static void
unset_rule_keys(struct fb_train_config *cfg, struct fb_dp_config *dpc)
{
	cfg->hp.lr = NAN;
	cfg->hp.bundle_rank = UINT32_MAX;
	dpc->q = NAN;
}

// Records which rule keys were given and puts placeholders (the values
// without a rule) in the others until the dataset's catalogue is known
// and fb_dprule_apply fills them.
static void
note_explicit(struct fb_train_config *cfg, struct fb_dp_config *dpc,
		struct fb_dprule_explicit *set)
{
	set->lr = !isnan(cfg->hp.lr);
	set->bundle_rank = cfg->hp.bundle_rank != UINT32_MAX;
	set->q = !isnan(dpc->q);
	struct fb_train_config fallback;
	fb_train_config_defaults_dp(&fallback);
	struct fb_dp_config dfall;
	fb_dp_config_defaults(&dfall);
	cfg->hp.lr = set->lr ? cfg->hp.lr : fallback.hp.lr;
	cfg->hp.bundle_rank = set->bundle_rank ? cfg->hp.bundle_rank
					       : fallback.hp.bundle_rank;
	dpc->q = set->q ? dpc->q : dfall.q;
}

// Config file first, then command-line overrides, then checks; *set
// tells which of the rule's keys were given.
static int
resolve_config(const struct train_args *a, struct fb_train_config *cfg,
		struct fb_dp_config *dpc, struct fb_dprule_explicit *set)
{
	fb_train_config_defaults(cfg);
	fb_dp_config_defaults(dpc);
	// The training defaults depend on the privacy mode, which may come
	// from the file: read it once for the mode, then for real over the
	// mode's defaults.
	for (int pass = 0; pass < 2 && a->config != NULL; pass++) {
		size_t n_dp;
		const struct fb_cfg_field *fd = fb_dp_config_fields(&n_dp);
		struct fb_cfg_section s[FB_TRAIN_CONFIG_SECTIONS + 1] = {
				{"dp", fd, n_dp, dpc},
		};
		fb_train_config_sections(cfg, "", s + 1);
		fb_err err = fb_config_load(
				a->config, s, FB_TRAIN_CONFIG_SECTIONS + 1);
		if (err != FB_OK) {
			return cli_fail("train", err, "bad config");
		}
		if (pass == 0) {
			int mode = a->dp_mode >= 0 ? a->dp_mode
						   : (int)dpc->mode;
			if (mode == FB_DP_USER) {
				fb_train_config_defaults_dp(cfg);
			} else {
				fb_train_config_defaults(cfg);
			}
			fb_dp_config_defaults(dpc);
			if (mode == FB_DP_USER) {
				unset_rule_keys(cfg, dpc);
			}
		}
	}
	if (a->config == NULL && a->dp_mode == FB_DP_USER) {
		fb_train_config_defaults_dp(cfg);
		unset_rule_keys(cfg, dpc);
	}
	cfg->epochs = a->epochs > 0 ? a->epochs : cfg->epochs;
	cfg->threads = a->threads > 0 ? a->threads : cfg->threads;
	cfg->seed = a->have_seed ? a->seed : cfg->seed;
	dpc->mode = a->dp_mode >= 0 ? (enum fb_dp_mode)a->dp_mode : dpc->mode;
	dpc->accountant = a->accountant >= 0 ? (enum fb_acct_kind)a->accountant
					     : dpc->accountant;
	dpc->epsilon = a->epsilon != 0 ? a->epsilon : dpc->epsilon;
	dpc->delta = a->delta != 0 ? a->delta : dpc->delta;
	dpc->clip = a->clip != 0 ? a->clip : dpc->clip;
	dpc->q = a->q != 0 ? a->q : dpc->q;
	dpc->sigma = a->sigma != 0 ? a->sigma : dpc->sigma;
	dpc->users = a->users != 0 ? a->users : dpc->users;
	if (a->seeded) {
		dpc->seeded = true;
		dpc->seed = a->noise_seed;
	}
	note_explicit(cfg, dpc, set);
	fb_err err = fb_train_config_check(cfg);
	if (err == FB_OK) {
		err = fb_dp_config_check(dpc);
	}
	if (err != FB_OK) {
		return cli_fail("train", err, "bad configuration");
	}
	if (dpc->mode == FB_DP_CLIENT) {
		return cli_usage_error("train",
				"dp mode client needs a federation "
				"(fedbundle-server and fedbundle-client)");
	}
	if (dpc->mode == FB_DP_USER && dpc->users == 0) {
		return cli_usage_error("train",
				"--dp user needs --users N (or \"users\" in the "
				"config's \"dp\" object): the public number of "
				"users every release is divided by q * N. Declare "
				"it (for example your user count rounded up); it "
				"is treated as public, never counted from the "
				"data");
	}
	return 0;
}

// The "dp_settings" object: each DP setting the rule covers, its value and
// whether it came from the rule or was given explicitly.
static void
print_settings_json(const struct fb_train_config *cfg,
		const struct fb_dp_config *c,
		const struct fb_dprule_explicit *set,
		const struct fb_dprule *rule)
{
	printf(", \"dp_settings\": {\"q\": %g, \"q_from\": \"%s\", "
	       "\"lr\": %.6g, \"lr_from\": \"%s\", \"bundle_rank\": %u, "
	       "\"bundle_rank_from\": \"%s\", \"rule\": {\"q\": %g, "
	       "\"lr\": %.6g, \"bundle_rank\": %u, \"releases\": %llu, "
	       "\"sigma\": %.6g, \"noise_per_step\": %.6g, "
	       "\"max_coords\": %.6g, \"trainable\": %s}}",
			c->q, set->q ? "explicit" : "rule", cfg->hp.lr,
			set->lr ? "explicit" : "rule", cfg->hp.bundle_rank,
			set->bundle_rank ? "explicit" : "rule", rule->q,
			rule->lr, rule->bundle_rank,
			(unsigned long long)rule->releases, rule->sigma,
			rule->noise_per_step, rule->max_coords,
			rule->trainable ? "true" : "false");
}

// What the popularity prior released (prior.released false: no prior).
struct prior_info {
	bool released;
	bool fixed;           // the bias stays at the prior (--prior fixed)
	double share;         // of the noise budget
	double sigma;         // its noise multiplier
	double epsilon_after; // the ledger's epsilon right after it
	size_t releases;      // the ledger's releases right after it
	uint64_t round;       // its ledger round
	float *bias;          // n_bundles: the bias it starts (owned)
};

// The training run's privacy fields (without the closing brace).
static void
print_train_privacy_json(struct fb_dp *dp, const struct fb_dp_config *c,
		const struct fb_fit_result *res)
{
	printf("\"privacy\": {\"mode\": \"user\", \"plan\": \"train\", "
	       "\"private\": %s, "
	       "\"epsilon_spent\": %.6f, \"selection\": \"last epoch\", "
	       "\"epsilon_budget\": %g, \"delta\": %g, \"accountant\": \"%s\", "
	       "\"q\": %g, \"clip\": %g, \"sigma\": %.6f, "
	       "\"sigma_accounted\": %.6f, \"releases\": %zu, "
	       "\"budget_reached\": %s",
			fb_dp_is_private(dp) ? "true" : "false", res->epsilon,
			c->epsilon, c->delta, fb_acct_kind_name(c->accountant),
			c->q, c->clip, fb_dp_sigma_noise(dp),
			fb_dp_sigma_accounted(dp), res->releases,
			res->budget_reached ? "true" : "false");
}

// The counts-only run's privacy fields (--plan counts; no closing brace).
static void
print_counts_privacy_json(
		const struct fb_dp_config *c, const struct prior_info *pi)
{
	printf("\"privacy\": {\"mode\": \"user\", \"plan\": \"counts\", "
	       "\"private\": %s, \"epsilon_spent\": %.6f, "
	       "\"epsilon_budget\": %g, \"delta\": %g, \"accountant\": "
	       "\"%s\", \"clip\": %g, \"sigma\": %.6f, \"releases\": %zu, "
	       "\"budget_reached\": false",
			c->seeded ? "false" : "true", pi->epsilon_after,
			c->epsilon, c->delta, fb_acct_kind_name(c->accountant),
			c->clip, pi->sigma, pi->releases);
}

// dp NULL: non-private, or (pi->released) the counts alone.
static void
print_privacy_json(struct fb_dp *dp, const struct fb_dp_config *c,
		const struct fb_fit_result *res, const struct prior_info *pi)
{
	if (dp == NULL && !pi->released) {
		printf("\"privacy\": {\"mode\": \"none\", \"private\": false}");
		return;
	}
	if (dp == NULL) {
		print_counts_privacy_json(c, pi);
	} else {
		print_train_privacy_json(dp, c, res);
	}
	if (pi->released) {
		printf(", \"prior\": {\"released\": true, \"mode\": \"%s\", "
		       "\"share\": %g, \"sigma\": %.6f, \"round\": %llu, "
		       "\"epsilon_after\": %.6f}",
				pi->fixed ? "fixed" : "on", pi->share,
				pi->sigma, (unsigned long long)pi->round,
				pi->epsilon_after);
	} else {
		printf(", \"prior\": {\"released\": false}");
	}
	printf("}");
}

// The popularity prior (docs/privacy.md section 12): one release of noisy
// per-bundle counts on ledger l, exactly the DP popularity floor's
// (fb_floors_pop_release) at `share` of the noise budget (1: the floor's
// own release, the whole budget), turned into a bundle-bias prior
// (fb_floors_pop_bias) in pi->bias. fixed: the bias is not trained.
static fb_err
release_prior(const struct train_args *a, const struct fb_dataset *ds,
		const struct fb_dp_config *dpc, double share, bool fixed,
		struct fb_ledger *l, const char *ledger, struct prior_info *pi)
{
	struct fb_dp_config pc;
	fb_err err = FB_OK;
	if (share < 1) {
		err = fb_floors_prior_dp_config(dpc, share, &pc);
	} else {
		fb_floors_pop_dp_config(dpc, &pc);
	}
	pc.seed = dpc->seed ^ 0x9e3779b97f4a7c15ULL; // seeded: its own stream
	struct fb_dp *pdp = NULL;
	int64_t *counts = malloc(((size_t)ds->n_bundles + 1) * sizeof(*counts));
	pi->bias = malloc(((size_t)ds->n_bundles + 1) * sizeof(*pi->bias));
	if (err == FB_OK && (counts == NULL || pi->bias == NULL)) {
		err = FB_ENOMEM;
	}
	if (err == FB_OK) {
		err = fb_dp_open(&pdp, &pc, l, ds->n_bundles, 1);
	}
	if (err == FB_OK) {
		pi->round = fb_ledger_releases(l) + 1;
		err = fb_floors_pop_release(
				pdp, &ds->ub_train, 1, pi->round, counts);
	}
	if (err == FB_EBUDGET) {
		char why[512];
		snprintf(why, sizeof(why), "%s", fb_last_error(err));
		err = fb_errorf(FB_EBUDGET,
				"%s: privacy budget spent (epsilon %g at delta "
				"%g): the counts' release does not fit (%s); "
				"nothing released, no model written",
				ledger, dpc->epsilon, dpc->delta, why);
	}
	if (err == FB_OK) {
		err = fb_dp_spent(pdp, &pi->epsilon_after, &pi->releases);
	}
	if (err == FB_OK) {
		pi->released = true;
		pi->fixed = fixed;
		pi->share = share;
		pi->sigma = fb_dp_sigma_noise(pdp);
		fb_floors_pop_bias(counts, ds->n_bundles, fb_dp_grid_log2(pdp),
				pc.clip, pi->sigma, pi->bias);
	}
	if (err == FB_OK && !a->quiet) {
		fprintf(stderr,
				"train: popularity prior: one release of %u "
				"bundles' noisy counts (ledger round %llu), noise "
				"multiplier %.4f (%g of the noise budget), epsilon "
				"%.4f after it; bias = ln(max(count, sigma) / "
				"sigma)\n",
				ds->n_bundles, (unsigned long long)pi->round,
				pi->sigma, share, pi->epsilon_after);
	}
	fb_dp_close(pdp);
	free(counts);
	return err;
}

// Opens (and locks) the ledger into *l and the DP state over it into *dp,
// after the popularity prior's release when a->prior. counts_only: the
// prior's release with the whole budget, and no DP state (*dp NULL).
static fb_err
open_dp(const struct train_args *a, const struct fb_dataset *ds,
		const struct fb_train_config *cfg,
		const struct fb_dp_config *dpc, bool counts_only,
		struct fb_ledger **l, struct fb_dp **dp, struct prior_info *pi)
{
	char *ledger = a->ledger != NULL
			? strdup(a->ledger)
			: fb_path_join(a->data, "privacy.ledger");
	if (ledger == NULL) {
		return FB_ENOMEM;
	}
	struct fb_release_layout layout;
	fb_train_release_layout(cfg, ds->n_items, ds->n_bundles, &layout);
	fb_err err = fb_ledger_open(l, ledger, a->new_ledger);
	if (err != FB_OK && !a->new_ledger && access(ledger, F_OK) != 0 &&
			errno == ENOENT) {
		err = fb_errorf(err,
				"%s: privacy ledger missing; pass --new-ledger "
				"to start a new one (only for a dataset no "
				"release has touched yet)",
				ledger);
	}
	struct fb_dp_config tc = *dpc;
	if (err == FB_OK && counts_only) {
		err = release_prior(a, ds, dpc, 1, true, *l, ledger, pi);
		free(ledger);
		return err;
	}
	if (err == FB_OK && a->prior) {
		err = release_prior(a, ds, dpc, a->prior_share,
				a->prior == PRIOR_FIXED, *l, ledger, pi);
		tc.compose_ledger = true;
	}
	if (err == FB_OK) {
		err = fb_dp_open(dp, &tc, *l, layout.len,
				fb_fit_dp_steps(cfg->epochs, dpc->q));
	}
	if (err == FB_OK && !a->quiet) {
		double spent = 0;
		size_t releases = 0;
		err = fb_dp_spent(*dp, &spent, &releases);
		fprintf(stderr,
				"train: user-level DP%s: budget epsilon %g "
				"delta %g, clip %g, q %g, noise multiplier %.4f "
				"(accounted %.4f, %s), ledger %s: %zu releases, "
				"epsilon %.4f spent before training\n",
				fb_dp_is_private(*dp)
						? ""
						: " WITH SEEDED NOISE (NOT PRIVATE)",
				dpc->epsilon, dpc->delta, dpc->clip, dpc->q,
				fb_dp_sigma_noise(*dp),
				fb_dp_sigma_accounted(*dp),
				fb_acct_kind_name(dpc->accountant), ledger,
				releases, spent);
	}
	free(ledger);
	return err;
}

// The DP rule (dprule.h) over the catalogue's public sizes: fills the
// settings not given explicitly and says where each came from.
static int
apply_rule(const struct train_args *a, const struct fb_dataset *ds,
		struct fb_train_config *cfg, struct fb_dp_config *dpc,
		const struct fb_dprule_explicit *set, struct fb_dprule *rule)
{
	fb_err err = fb_dprule_apply(
			cfg, dpc, ds->n_items, ds->n_bundles, set, rule);
	if (err == FB_OK) {
		err = fb_train_config_check(cfg);
	}
	if (err != FB_OK) {
		return cli_fail("train", err, "DP settings rule");
	}
	if (!a->quiet) {
		fprintf(stderr,
				"train: DP rule (docs/privacy.md section 12) from "
				"users %llu, %u bundles, epsilon %g, delta %g, "
				"%llu releases: noise per step %.3g; q %g (%s), "
				"lr %.4g (%s), bundle_rank %u (%s)\n",
				(unsigned long long)dpc->users, ds->n_bundles,
				dpc->epsilon, dpc->delta,
				(unsigned long long)rule->releases,
				rule->noise_per_step, dpc->q,
				set->q ? "explicit" : "rule", cfg->hp.lr,
				set->lr ? "explicit" : "rule",
				cfg->hp.bundle_rank,
				set->bundle_rank ? "explicit" : "rule");
	}
	return 0;
}

// --plan: whether this DP run trains or releases the counts alone. auto
// chooses counts only when the rule (public quantities only) finds that
// even a rank-1 slice is noisier than it allows and bundle_rank was not
// given; counts need the bias coordinate. Returns a status (0: go on).
static int
choose_plan(const struct train_args *a, const struct fb_train_config *cfg,
		const struct fb_dprule_explicit *set,
		const struct fb_dprule *rule, bool *counts_only)
{
	*counts_only = a->plan == PLAN_COUNTS ||
			(a->plan == PLAN_AUTO && !set->bundle_rank &&
					!rule->trainable && cfg->hp.bias &&
					cfg->hp.optimizer == FB_OPT_SGD);
	if (*counts_only && a->plan == PLAN_COUNTS && !cfg->hp.bias) {
		return cli_usage_error("train",
				"--plan counts needs the bias coordinate "
				"(\"bias\": true, the DP default)");
	}
	if (*counts_only && a->plan == PLAN_AUTO && !a->quiet) {
		fprintf(stderr,
				"train: DP plan: counts only: the rule allows %.0f "
				"released coordinates a step, fewer than the "
				"smallest trained slice (rank 1: %s); the whole "
				"budget goes to one release of noisy per-bundle "
				"counts and nothing is trained (--plan train "
				"trains anyway)\n",
				rule->max_coords,
				cfg->hp.bias ? "2 x bundles" : "bundles");
	}
	return 0;
}

int
cmd_train(int argc, char **argv)
{
	struct train_args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	struct fb_train_config cfg;
	struct fb_dp_config dpc;
	struct fb_dprule_explicit set = {0};
	rc = resolve_config(&a, &cfg, &dpc, &set);
	if (rc != 0) {
		return rc;
	}
	fb_blas_set_threads(1);
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, a.data);
	if (err != FB_OK) {
		return cli_fail("train", err, "cannot load the dataset");
	}
	struct fb_dprule rule = {0};
	if (dpc.mode == FB_DP_USER) {
		rc = apply_rule(&a, ds, &cfg, &dpc, &set, &rule);
		if (rc != 0) {
			fb_dataset_destroy(ds);
			return rc;
		}
	}
	struct progress pr = {NULL, a.quiet, cfg.ks[0], dpc.mode == FB_DP_USER};
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_fit_result res;
	struct fb_eval_result pop;
	struct fb_ledger *ledger = NULL;
	struct fb_dp *dp = NULL;
	struct prior_info prior = {0};
	int status = 1;
	if (a.metrics != NULL) {
		pr.metrics = fopen(a.metrics, "a");
		if (pr.metrics == NULL) {
			cli_fail("train",
					fb_errorf(FB_EIO, "%s: cannot open",
							a.metrics),
					"--metrics-out");
			goto out;
		}
	}
	if (!a.quiet) {
		fprintf(stderr,
				"train: %s: %u users, %u bundles, %u items, "
				"%llu train pairs; d=%u, %s, %u thread(s)%s\n",
				ds->name, ds->n_users, ds->n_bundles,
				ds->n_items,
				(unsigned long long)fb_csr_nnz(&ds->ub_train),
				cfg.hp.dim,
				cfg.hp.optimizer == FB_OPT_ADAM ? "adam"
								: "sgd",
				cfg.threads,
				dpc.mode == FB_DP_NONE ? ", non-private" : "");
	}
	if (a.prior != PRIOR_OFF &&
			(dpc.mode != FB_DP_USER || !cfg.hp.bias ||
					cfg.hp.optimizer != FB_OPT_SGD)) {
		cli_usage_error("train",
				"--prior needs --dp user, the bias and sgd (the "
				"DP defaults)");
		status = 2;
		goto out;
	}
	if (a.plan != PLAN_AUTO && dpc.mode != FB_DP_USER) {
		cli_usage_error("train", "--plan needs --dp user");
		status = 2;
		goto out;
	}
	bool counts_only = false;
	if (dpc.mode == FB_DP_USER &&
			(rc = choose_plan(&a, &cfg, &set, &rule,
					 &counts_only)) != 0) {
		status = rc;
		goto out;
	}
	cfg.freeze_bias = a.prior == PRIOR_FIXED;
	if (dpc.mode == FB_DP_USER) {
		err = open_dp(&a, ds, &cfg, &dpc, counts_only, &ledger, &dp,
				&prior);
		if (err != FB_OK) {
			cli_fail("train", err, "cannot set up privacy");
			goto out;
		}
	}
	size_t releases_before = dp != NULL ? fb_dp_releases(dp) : 0;
	struct fb_fit_start start = {
			prior.released ? prior.bias : NULL, counts_only};
	err = fb_fit_from(
			ds, &cfg, dp, &start, &model, &P, on_epoch, &pr, &res);
	if (err == FB_OK && dp != NULL && res.budget_reached &&
			fb_dp_releases(dp) == releases_before) {
		// Not one release fitted: the model would be the untrained
		// initialisation, presented as a DP model.
		err = fb_errorf(FB_EBUDGET,
				"%s: privacy budget spent (epsilon %g at delta "
				"%g): no release fits, nothing trained, no "
				"model written",
				a.ledger != NULL ? a.ledger : "privacy.ledger",
				dpc.epsilon, dpc.delta);
	}
	if (err != FB_OK) {
		cli_fail("train", err, "training failed");
		goto out;
	}
	if (dpc.mode == FB_DP_NONE) {
		warn_small_tune(ds, res.tune.mean.recall[0]);
	}
	err = fb_eval_popularity(
			&ds->ub_train, &ds->ub_test, cfg.ks, cfg.n_k, &pop);
	if (err != FB_OK) {
		cli_fail("train", err, "popularity baseline failed");
		goto out;
	}
	if (a.out != NULL) {
		struct fb_model_meta meta = {.epoch = res.best_epoch};
		fb_train_rep_opts(&cfg, &meta.opts);
		snprintf(meta.dataset, sizeof(meta.dataset), "%s", ds->name);
		err = fb_modelio_save(a.out, &model, &P, &meta);
		if (err != FB_OK) {
			cli_fail("train", err, "cannot save the model");
			goto out;
		}
	}
	double per_epoch = res.epochs_run > 0
			? res.train_seconds / res.epochs_run
			: 0;
	const struct fb_dp_config *used =
			dp != NULL ? fb_dp_config_of(dp) : &dpc;
	if (a.json) {
		printf("{\"dataset\": \"%s\", \"epoch\": %u, \"epochs_run\": "
		       "%u, \"users_evaluated\": %llu, \"train_seconds\": %.3f, "
		       "\"seconds_per_epoch\": %.4f, "
		       "\"eval_seconds_total\": %.3f, "
		       "\"test_eval_seconds\": %.3f, ",
				ds->name, res.best_epoch, res.epochs_run,
				(unsigned long long)res.test.n_users,
				res.train_seconds, per_epoch,
				res.eval_seconds_total, res.test_eval_seconds);
		print_privacy_json(dp, used, &res, &prior);
		if (dpc.mode == FB_DP_USER) {
			print_settings_json(&cfg, used, &set, &rule);
		}
		printf(", ");
		report_metrics_json(stdout, &res.test.mean);
		printf(", \"tune\": {");
		report_metrics_json(stdout, &res.tune.mean);
		printf("}, \"popularity\": {");
		report_metrics_json(stdout, &pop.mean);
		printf("}}\n");
	} else {
		printf("test split, %llu users, %s epoch %u of %u "
		       "(%.3f s/epoch), ",
				(unsigned long long)res.test.n_users,
				dpc.mode == FB_DP_NONE ? "best tune" : "last",
				res.best_epoch, res.epochs_run, per_epoch);
		if (dpc.mode == FB_DP_NONE) {
			printf("non-private:\n");
		} else if (counts_only) {
			printf("user-level DP%s, counts only (nothing trained), "
			       "epsilon %.3f spent, delta %g:\n",
					used->seeded ? " with SEEDED noise "
						       "(NOT PRIVATE)"
						     : "",
					prior.epsilon_after, used->delta);
		} else {
			printf("user-level DP%s, epsilon %.3f spent, delta "
			       "%g%s:\n",
					fb_dp_is_private(dp)
							? ""
							: " with SEEDED noise "
							  "(NOT PRIVATE)",
					res.epsilon, used->delta,
					res.budget_reached ? ", budget reached"
							   : "");
		}
		if (prior.released) {
			printf("popularity prior: one release of noisy bundle "
			       "counts, noise multiplier %.4f (%g of the noise "
			       "budget), ledger round %llu, epsilon %.4f after "
			       "it; the bias %s\n",
					prior.sigma, prior.share,
					(unsigned long long)prior.round,
					prior.epsilon_after,
					counts_only ? "is the model's only "
						      "private part"
							: prior.fixed
							? "kept, the rest trained"
							: "trained as a correction");
		}
		if (dp != NULL || counts_only) {
			printf("DP settings: q %g (%s), lr %.4g (%s), "
			       "bundle_rank %u (%s); the rule "
			       "(docs/privacy.md section 12): q %g, lr %.4g, "
			       "bundle_rank %u\n",
					used->q, set.q ? "explicit" : "rule",
					cfg.hp.lr, set.lr ? "explicit" : "rule",
					cfg.hp.bundle_rank,
					set.bundle_rank ? "explicit" : "rule",
					rule.q, rule.lr, rule.bundle_rank);
		}
		report_metrics_table(stdout, "fedbundle", &res.test.mean, 1);
		report_metrics_table(
				stdout, "popularity baseline", &pop.mean, 0);
	}
	status = 0;
out:
	fb_dp_close(dp);
	fb_ledger_close(ledger); // the lock is held until here
	if (pr.metrics != NULL) {
		fclose(pr.metrics);
	}
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	free(prior.bias);
	fb_dataset_destroy(ds);
	return status;
}
