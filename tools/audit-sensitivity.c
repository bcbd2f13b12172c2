// tools/audit-sensitivity.c: `fedbundle audit sensitivity` (issue 10). For a
// dataset D and a configuration it computes the exact pre-noise release on D
// and on D' = D without one user, for many users and in every mode, and
// fails if a distance exceeds the sensitivity the accountant assumes.
//
// User level, for each checked user u, S steps (adaptive composition: a
// step's sensitivity is taken given the public state, the model built from
// the previous noised releases): two trainers, on D and on D', start from
// the same model and user factors. Each step Poisson-samples D's active
// users with fb_dp_sample (seeded), adds u if it was not drawn (a step
// without u has equal samples, hence equal releases), and gives D' the same
// sample without u. fb_trainer_batch_release computes both exact releases;
// their distance is the exact integer L2 norm of the difference, in grid
// steps, against floor(kappa C / grid) with kappa = sigma_noise /
// sigma_accounted of a fb_dp opened as the trainer would (1 at user
// level). Then one seeded noise draw goes on D's release, and the same
// unpacked step is applied to both models: they must stay bit-identical,
// and so must every user's factors but u's. With more than one thread a
// third, single-threaded trainer on D must produce the same release bit
// for bit.
// D' empties u's rows (bundles and items) and keeps every other user's
// index: a user's random choices are keyed by (seed, batch, index), and the
// index is the user's identity, not a rank among the present users, so
// this is what removing u means to the mechanism (u is no longer active,
// never sampled, consumes no randomness). Renumbering the later users would
// change their streams, i.e. their identities.
//
// Client level, the retailer's and the aggregator's real code: the dataset
// is split into retailers (IID), each runs node_local_round (client/local.c)
// on a client-level plan and its UPDATE is decoded; the aggregator's checks
// and exact integer sum are the server's own (agg_update_check,
// agg_central_add on the grid of a client-mode fb_dp). Removing a retailer
// removes its whole update: the distance is the exact integer norm of the
// difference of the sums with and without it, against floor(kappa C /
// grid), kappa = sigma_noise / sigma_accounted of the DP layer (1).
// Secure aggregation (issue 13, tools/audit-secure.c): the user-level
// release of each retailer's secure round, masked and unmasked by the
// real secure-aggregation code in process, on D and D'; the distance of
// the unmasked sums against the l2 (and L1) the ledger's distributed-noise
// entry gives the accountant, and every other retailer's UPDATE and every
// other user's factors bit-identical, over several rounds, in the ring
// the aggregator's rule picks for the audited consortium
// (fb_secagg_ring_plan) or the one --ring-bits forces.
// Sampling, noise and the choice of users are seeded (--seed): an audit is
// reproducible and releases nothing; its fb_dp ledger stays empty and is
// removed with its temporary folder.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit-common.h"
#include "audit-secure.h"
#include "audit.h"
#include "cli.h"
#include "client/local.h"
#include "client/policy.h"
#include "client/state.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/pretrain.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/bound.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"
#include "server/aggregate.h"

#define CMD "audit sensitivity"

static const char *const usage_text =
		"usage: fedbundle audit sensitivity --data DIR [options]\n"
		"\n"
		"Computes the exact pre-noise release on the dataset D and on D "
		"without one\nuser, for many users, in every mode, and fails if "
		"a distance exceeds the\nsensitivity the accountant assumes (C "
		"times the grid's accounted\ninflation). User level: items "
		"frozen and trained, 1 and N threads, over\nseveral steps of "
		"the same public model. Client level: a retailer's clipped\n"
		"update (the client's own code), removed from the aggregator's "
		"sum.\nSecure: each retailer's secure round (the client's, "
		"masked and unmasked\nby the real secure aggregation, in "
		"process), on D and on D without one\nuser: the unmasked sums "
		"against the ledger's distributed-noise bound,\nover several "
		"rounds; every other retailer's UPDATE bit-identical.\n"
		"\n"
		"options:\n"
		"  --data DIR            dataset folder (required)\n"
		"  --config FILE         training JSON as `fedbundle train "
		"--config` takes,\n"
		"                        over the DP defaults; its \"dp\" "
		"object gives clip,\n"
		"                        q, sigma (default 1), users "
		"(default: the dataset's)\n"
		"  --users N             users checked per mode (default 24): "
		"first, middle,\n"
		"                        last, zero-contribution, heaviest, "
		"seeded random\n"
		"  --steps N             steps (user level), local steps "
		"(client level) and\n"
		"                        rounds (secure) per check (default "
		"4)\n"
		"  --threads N           thread count of the multi-threaded "
		"modes (default 2;\n"
		"                        1: single-threaded modes only)\n"
		"  --retailers K         retailers of the client-level and "
		"secure modes\n"
		"                        (default 4; secure: 3 or more)\n"
		"  --ring-bits B         secure modes: run in Z_(2^B), B 32, "
		"48 or 64\n"
		"                        (default: the aggregator's choice "
		"for the retailers'\n"
		"                        declared users; a ring that could "
		"wrap is refused)\n"
		"  --mode M              all (default), or a mode or a prefix "
		"of modes: user,\n"
		"                        user-frozen, user-trained-2t, client, "
		"secure, ...;\n"
		"                        several separated by commas "
		"(user,client)\n"
		"  --seed N              seed of the choice of users, the "
		"sampling and the\n"
		"                        noise (default 1)\n"
		"  --no-noise            apply noise-free steps (the model then "
		"follows the\n"
		"                        exact releases)\n"
		"  --test-shared-stream  TEST ONLY: draw every user of a worker "
		"from one\n"
		"                        stream (the behaviour before the fix); "
		"the user-level\n"
		"                        and secure modes must then fail\n"
		"  --json                one JSON object: every mode and an "
		"overall \"ok\"\n"
		"  --quiet               no progress on stderr\n"
		"\n"
		"Exit status: 0 no violation, 1 a violation, 2 usage or input "
		"error.\n";

struct args {
	const char *data, *config, *mode;
	uint32_t users, steps, threads, retailers;
	uint32_t ring_bits; // 0: the aggregator's choice
	uint64_t seed;
	bool json, quiet, no_noise, shared_stream;
};

enum level {
	LEVEL_USER,
	LEVEL_CLIENT,
	LEVEL_SECURE, // user level through secure aggregation
};

struct mode {
	char name[32];
	enum level level;
	bool train_items;
	uint32_t threads;
};

// Why a user is checked.
enum kind {
	KIND_FIRST,
	KIND_MIDDLE,
	KIND_LAST,
	KIND_ZERO,
	KIND_HEAVY,
	KIND_RANDOM,
	KIND_RETAILER,
	N_KINDS,
};

static const char *const level_names[] = {"user", "client", "secure"};

static const char *const kind_names[N_KINDS] = {"first", "middle", "last",
		"zero-contribution", "heaviest", "random", "retailer"};

struct pick {
	uint32_t user;
	enum kind kind;
};

struct tally {
	uint32_t units;      // users (retailers) checked
	uint64_t checks;     // distances measured
	double max_steps;    // largest distance, grid steps
	uint64_t violations; // distances above the bound
};

struct result {
	struct mode mode;
	struct tally kinds[N_KINDS];
	struct tally all;
	size_t coordinates; // of a release (client: trained coordinates)
	double grid;        // the mode's fixed-point grid (the DP layer's)
	double kappa;       // the grid's accounted inflation
	double bound_steps; // kappa C / grid (user level: floored)
	uint64_t state_divergences;
	uint64_t thread_mismatches;
	uint64_t refused; // client: updates the aggregator would reject
	double max_norm;  // client: largest update norm as sent
	struct audit_secure_out sec; // secure: its figures (per_user freed)
	double max_l1;               // secure: largest L1 distance, steps
	double seconds;
};

// What every mode shares.
struct audit {
	const struct args *a;
	struct fb_dataset *ds;
	struct fb_train_config base; // config file over the DP defaults
	struct fb_dp_config dpc;     // its "dp" object, checked
	int32_t grid_log2;           // the user-level grid (dp.h)
	double grid;                 // 2^grid_log2
	// The initial model and user factors (init_model): no mode changes
	// what they depend on.
	struct fb_model model0;
	struct fb_matrix P0;
	char dir[64];     // temporary folder of the audit's (empty) ledger
	char ledger[128]; // the ledger the fb_dp of a check borrows
	struct fb_ledger *held;
	struct pick *picks;
	uint32_t n_picks;
};

// Prints the error of err (naming what failed) and returns 2: no verdict.
static int
fail(fb_err err, const char *what)
{
	cli_fail(CMD, err, what);
	return 2;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	enum {
		O_DATA = 1,
		O_CONFIG,
		O_USERS,
		O_STEPS,
		O_THREADS,
		O_RETAILERS,
		O_RING_BITS,
		O_MODE,
		O_SEED,
		O_NO_NOISE,
		O_SHARED,
		O_JSON,
		O_QUIET,
		O_HELP,
	};
	static const struct option opts[] = {
			{"data", required_argument, NULL, O_DATA},
			{"config", required_argument, NULL, O_CONFIG},
			{"users", required_argument, NULL, O_USERS},
			{"steps", required_argument, NULL, O_STEPS},
			{"threads", required_argument, NULL, O_THREADS},
			{"retailers", required_argument, NULL, O_RETAILERS},
			{"ring-bits", required_argument, NULL, O_RING_BITS},
			{"mode", required_argument, NULL, O_MODE},
			{"seed", required_argument, NULL, O_SEED},
			{"no-noise", no_argument, NULL, O_NO_NOISE},
			{"test-shared-stream", no_argument, NULL, O_SHARED},
			{"json", no_argument, NULL, O_JSON},
			{"quiet", no_argument, NULL, O_QUIET},
			{"help", no_argument, NULL, O_HELP},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->users = 24;
	a->steps = 4;
	a->threads = 2;
	a->retailers = 4;
	a->seed = 1;
	a->mode = "all";
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case O_DATA:
			a->data = optarg;
			break;
		case O_CONFIG:
			a->config = optarg;
			break;
		case O_USERS:
			ok = cli_parse_u32(CMD, "--users", optarg, &a->users);
			if (ok && a->users == 0) {
				return cli_usage_error(CMD,
						"--users must be positive");
			}
			break;
		case O_STEPS:
			ok = cli_parse_u32(CMD, "--steps", optarg, &a->steps);
			if (ok && (a->steps == 0 || a->steps > 1000)) {
				return cli_usage_error(CMD,
						"--steps must be 1 to 1000");
			}
			break;
		case O_THREADS:
			ok = cli_parse_u32(
					CMD, "--threads", optarg, &a->threads);
			if (ok && (a->threads == 0 || a->threads > 64)) {
				return cli_usage_error(CMD,
						"--threads must be 1 to 64");
			}
			break;
		case O_RETAILERS:
			ok = cli_parse_u32(CMD, "--retailers", optarg,
					&a->retailers);
			if (ok && (a->retailers < 2 || a->retailers > 64)) {
				return cli_usage_error(CMD,
						"--retailers must be 2 to 64");
			}
			break;
		case O_RING_BITS:
			ok = cli_parse_u32(CMD, "--ring-bits", optarg,
					&a->ring_bits);
			if (ok && !fb_secagg_ring_ok(a->ring_bits)) {
				return cli_usage_error(CMD,
						"--ring-bits must be 32, 48 or "
						"64, not %s",
						optarg);
			}
			break;
		case O_MODE:
			a->mode = optarg;
			break;
		case O_SEED:
			ok = cli_parse_u64(CMD, "--seed", optarg, &a->seed);
			break;
		case O_NO_NOISE:
			a->no_noise = true;
			break;
		case O_SHARED:
			a->shared_stream = true;
			break;
		case O_JSON:
			a->json = true;
			break;
		case O_QUIET:
			a->quiet = true;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			return -1;
		default:
			return cli_usage_error(CMD, "unknown option");
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				CMD, "unexpected argument '%s'", argv[optind]);
	}
	if (a->data == NULL) {
		return cli_usage_error(CMD, "--data DIR is required");
	}
	return 0;
}

// The modes, in the order they run; *n of them.
static void
list_modes(const struct args *a, struct mode *out, size_t *n)
{
	size_t k = 0;
	for (int items = 0; items < 2; items++) {
		uint32_t th[2] = {1, a->threads};
		for (int j = 0; j < (a->threads > 1 ? 2 : 1); j++) {
			struct mode *m = &out[k++];
			snprintf(m->name, sizeof(m->name), "user-%s-%ut",
					items ? "trained" : "frozen", th[j]);
			m->level = LEVEL_USER;
			m->train_items = items;
			m->threads = th[j];
		}
	}
	for (int items = 0; items < 2; items++) {
		struct mode *m = &out[k++];
		snprintf(m->name, sizeof(m->name), "client-%s",
				items ? "trained" : "frozen");
		m->level = LEVEL_CLIENT;
		m->train_items = items;
		m->threads = 1;
	}
	for (int items = 0; items < 2; items++) {
		struct mode *m = &out[k++];
		snprintf(m->name, sizeof(m->name), "secure-%s",
				items ? "trained" : "frozen");
		m->level = LEVEL_SECURE;
		m->train_items = items;
		m->threads = 1;
	}
	*n = k;
}

// True if --mode selects m: "all", its name, or a prefix ending where the
// name has a '-', or a comma-separated list of those.
static bool
selected(const char *want, const struct mode *m)
{
	while (*want != '\0') {
		size_t n = strcspn(want, ",");
		if ((n == 3 && strncmp(want, "all", 3) == 0) ||
				(n > 0 && strncmp(m->name, want, n) == 0 &&
						(m->name[n] == '\0' ||
								m->name[n] == '-'))) {
			return true;
		}
		want += n + (want[n] == ',');
	}
	return false;
}

// The training and DP configuration: the DP defaults, then the file.
static int
load_config(struct audit *au)
{
	const struct args *a = au->a;
	fb_train_config_defaults_dp(&au->base);
	fb_dp_config_defaults(&au->dpc);
	if (a->config != NULL) {
		size_t n_dp;
		const struct fb_cfg_field *fd = fb_dp_config_fields(&n_dp);
		struct fb_cfg_section s[FB_TRAIN_CONFIG_SECTIONS + 1] = {
				{"dp", fd, n_dp, &au->dpc},
		};
		fb_train_config_sections(&au->base, "", s + 1);
		fb_err err = fb_config_load(
				a->config, s, FB_TRAIN_CONFIG_SECTIONS + 1);
		if (err != FB_OK) {
			return fail(err, "bad config");
		}
	}
	struct fb_dp_config *d = &au->dpc;
	// The audit's own noise: seeded and reproducible (nothing leaves),
	// RDP for a quick open; the mode is set per check.
	d->mode = FB_DP_USER;
	d->accountant = FB_ACCT_RDP;
	d->seeded = true;
	d->sigma = d->sigma > 0 ? d->sigma : 1.0;
	d->test_no_noise = a->no_noise;
	fb_err err = fb_train_config_check(&au->base);
	if (err == FB_OK) {
		err = fb_dp_config_check(d);
	}
	if (err != FB_OK) {
		return fail(err,
				a->config != NULL ? a->config
						  : "bad configuration");
	}
	// The grid the DP layer chooses for user-level noise (dp.h); at
	// client level each mode reads the aggregator's from its DP layer.
	au->grid_log2 = fb_dp_grid_for(d->sigma * d->clip, d->clip);
	au->grid = ldexp(1.0, au->grid_log2);
	double steps = floor(d->clip / au->grid);
	if (!(steps >= 1) || steps > FB_DP_CLIP_STEPS_MAX) {
		return fail(fb_errorf(FB_EINVAL,
					    "dp.clip: %g is not 1 to 2^31 grid "
					    "steps of %g",
					    d->clip, au->grid),
				a->config != NULL ? a->config : "dp.clip");
	}
	return 0;
}

// The initial model and user factors as fb_fit makes them
// (common/model/fit.c): seeded N(0, init_std^2), item factors from the public
// catalogue, bundle factors 0 under public_init, the bias column.
static fb_err
init_model(const struct fb_dataset *ds, const struct fb_train_config *cfg,
		struct fb_model *m, struct fb_matrix *P)
{
	uint32_t n_attrs = cfg->hp.use_attrs ? ds->n_attrs : 0;
	fb_err err = fb_model_init(
			m, ds->n_items, ds->n_bundles, n_attrs, cfg->hp.dim);
	if (err == FB_OK) {
		err = fb_matrix_init(P, ds->n_users, cfg->hp.dim);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, cfg->seed, 0x1417ULL);
	fb_model_randomize(m, &rng, (float)cfg->hp.init_std);
	fb_matrix_randn(P, &rng, (float)cfg->hp.init_std);
	if (cfg->public_init) {
		err = fb_pretrain_items(&m->V, &ds->bi, 20,
				(float)(cfg->hp.init_std *
						sqrt((double)cfg->hp.dim)),
				&rng);
		if (err != FB_OK) {
			return err;
		}
		fb_matrix_zero(&m->W);
	}
	fb_train_init_bias(cfg, m, P);
	return FB_OK;
}

// ---- D' = D with one user's rows emptied (audit-secure.h) ----

// out = m with row r emptied (same shape); a relation without storage
// (row_ptr NULL) stays so.
static fb_err
csr_without_row(struct fb_csr *out, const struct fb_csr *m, uint32_t r)
{
	memset(out, 0, sizeof(*out));
	out->n_rows = m->n_rows;
	out->n_cols = m->n_cols;
	if (m->row_ptr == NULL) {
		return FB_OK;
	}
	uint64_t nnz = fb_csr_nnz(m), len = fb_csr_row_len(m, r);
	out->row_ptr = malloc(((size_t)m->n_rows + 1) * sizeof(uint64_t));
	out->col = malloc((size_t)(nnz - len + 1) * sizeof(uint32_t));
	if (out->row_ptr == NULL || out->col == NULL) {
		fb_csr_finish(out);
		return FB_ENOMEM;
	}
	uint64_t a = m->row_ptr[r], b = m->row_ptr[r + 1];
	memcpy(out->col, m->col, a * sizeof(uint32_t));
	memcpy(out->col + a, m->col + b, (nnz - b) * sizeof(uint32_t));
	for (uint32_t k = 0; k <= m->n_rows; k++) {
		out->row_ptr[k] = m->row_ptr[k] - (k > r ? len : 0);
	}
	return FB_OK;
}

void
audit_without_finish(struct audit_without *w)
{
	fb_csr_finish(&w->ub);
	fb_csr_finish(&w->ui);
}

fb_err
audit_without_init(struct audit_without *w, const struct fb_dataset *ds,
		uint32_t u)
{
	memset(w, 0, sizeof(*w));
	w->ds = *ds; // the catalogue and the other splits are shared
	fb_err err = csr_without_row(&w->ub, &ds->ub_train, u);
	if (err == FB_OK) {
		err = csr_without_row(&w->ui, &ds->ui, u);
	}
	if (err != FB_OK) {
		audit_without_finish(w);
		return err;
	}
	w->ds.ub_train = w->ub;
	w->ds.ui = w->ui;
	return FB_OK;
}

// ---- one trainer with its own copy of the model and user factors ----

struct side {
	struct fb_model model;
	struct fb_matrix P;
	struct fb_trainer *t;
};

static void
side_finish(struct side *s)
{
	fb_trainer_destroy(s->t);
	fb_model_finish(&s->model);
	fb_matrix_finish(&s->P);
	memset(s, 0, sizeof(*s));
}

static fb_err
side_init(struct side *s, const struct fb_dataset *ds,
		const struct fb_model *m0, const struct fb_matrix *P0,
		const struct fb_train_config *cfg)
{
	memset(s, 0, sizeof(*s));
	fb_err err = fb_model_copy(&s->model, m0);
	if (err == FB_OK) {
		err = fb_matrix_init(&s->P, P0->rows, P0->cols);
	}
	if (err == FB_OK) {
		err = fb_matrix_copy(&s->P, P0);
	}
	if (err == FB_OK) {
		err = fb_trainer_create(&s->t, ds, &s->model, &s->P, cfg);
	}
	if (err != FB_OK) {
		side_finish(s);
	}
	return err;
}

// Makes s what side_init(ds, m0, P0, its configuration) would make, in its
// own buffers.
static fb_err
side_reset(struct side *s, const struct fb_model *m0,
		const struct fb_matrix *P0)
{
	fb_err err = fb_model_copy(&s->model, m0);
	if (err == FB_OK) {
		err = fb_matrix_copy(&s->P, P0);
	}
	if (err == FB_OK) {
		struct fb_train_config cfg = *fb_trainer_config(s->t);
		err = fb_trainer_restart(s->t, &cfg);
	}
	return err;
}

static bool
same_model(const struct fb_model *a, const struct fb_model *b)
{
	return audit_same_matrix(&a->V, &b->V) &&
			audit_same_matrix(&a->W, &b->W) &&
			audit_same_matrix(&a->M, &b->M);
}

// Squared L2 distance of a and b (integers) exactly, saturating at
// UINT64_MAX; *approx receives it in double.
static uint64_t
dist2_i64(const int64_t *a, const int64_t *b, size_t n, double *approx)
{
	uint64_t sum = 0;
	double d2 = 0;
	for (size_t k = 0; k < n; k++) {
		// |a - b| in unsigned arithmetic: no overflow whatever the sums.
		uint64_t d = a[k] >= b[k] ? (uint64_t)a[k] - (uint64_t)b[k]
					  : (uint64_t)b[k] - (uint64_t)a[k];
		d2 += (double)d * (double)d;
		if (d > UINT32_MAX || sum > UINT64_MAX - d * d) {
			sum = UINT64_MAX;
		} else {
			sum += d * d;
		}
	}
	*approx = d2;
	return sum;
}

static void
tally_add(struct tally *t, double steps, bool violation)
{
	t->checks++;
	t->max_steps = steps > t->max_steps ? steps : t->max_steps;
	t->violations += violation;
}

// A seeded fb_dp as the trainer's owner opens it: noise and sampling for
// the audit's steps, and the accounted inflation kappa of mode over dim
// coordinates. The audit never begins a release: its ledger stays empty.
static fb_err
open_dp(const struct audit *au, enum fb_dp_mode mode, size_t dim, uint64_t seed,
		struct fb_dp **dp, double *kappa)
{
	struct fb_dp_config d = au->dpc;
	d.mode = mode;
	d.seed = seed;
	fb_err err = fb_dp_open(dp, &d, au->held, dim, 1);
	if (err != FB_OK) {
		return err;
	}
	*kappa = fb_dp_sigma_noise(*dp) / fb_dp_sigma_accounted(*dp);
	return FB_OK;
}

// ---- user level ----

// What the checks of one user-level mode share.
struct user_run {
	struct fb_train_config cfg; // the mode's
	struct fb_train_config one; // the same, single-threaded
	struct fb_release_layout L;
	int64_t *r1, *r2, *r3;
	uint32_t *drawn, *sampled, *less;
	struct fb_rep_grad g;
	double scale;    // grid / (q * declared users)
	uint64_t bound;  // floor(kappa C / grid): distance in grid steps
	uint64_t bound2; // bound^2
	double kappa;
	// The trainers on D, of the mode and (more than one thread) of one
	// thread, reset for every user (D' differs per user).
	struct side d, d1;
};

static void
user_run_finish(struct user_run *ur)
{
	side_finish(&ur->d);
	side_finish(&ur->d1);
	fb_rep_grad_finish(&ur->g);
	free(ur->r1);
	free(ur->r2);
	free(ur->r3);
	free(ur->drawn);
	free(ur->sampled);
	free(ur->less);
}

// Checks user pk->user over the mode's steps, into res.
static fb_err
check_user(const struct audit *au, struct user_run *ur, const struct pick *pk,
		struct result *res)
{
	const struct fb_dataset *ds = au->ds;
	const struct fb_dp_config *dc = &au->dpc;
	uint32_t u = pk->user;
	bool ref = ur->cfg.threads > 1;
	struct audit_without w;
	struct side *d = &ur->d, *d1 = &ur->d1, dn = {0};
	struct fb_dp *dp = NULL;
	fb_err err = audit_without_init(&w, ds, u);
	if (err != FB_OK) {
		return err;
	}
	double kappa = 0;
	if ((err = side_reset(d, &au->model0, &au->P0)) != FB_OK ||
			(ref &&
					(err = side_reset(d1, &au->model0,
							 &au->P0)) != FB_OK) ||
			(err = side_init(&dn, &w.ds, &au->model0, &au->P0,
					 &ur->cfg)) != FB_OK ||
			(err = open_dp(au, FB_DP_USER, ur->L.len,
					 audit_mix(au->a->seed ^ audit_mix(u)),
					 &dp, &kappa)) != FB_OK) {
		goto out;
	}
	if (kappa != ur->kappa) {
		err = fb_errorf(FB_ESTATE, "the accounted inflation changed");
		goto out;
	}
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(d->t, &n_active);
	struct tally *tk = &res->kinds[pk->kind];
	tk->units++;
	res->all.units++;
	bool diverged = false;
	for (uint32_t s = 0; s < au->a->steps; s++) {
		uint64_t stream = ((uint64_t)1 << 24) + s;
		uint32_t m = 0;
		fb_dp_sample(dp, active, n_active, ur->drawn, &m);
		// D's sample has u at its place in the candidates' order;
		// D''s is the same without u.
		uint32_t n = 0, k = 0;
		bool placed = false;
		for (uint32_t j = 0; j < m; j++) {
			uint32_t v = ur->drawn[j];
			if (!placed && v >= u) {
				ur->sampled[n++] = u;
				placed = true;
			}
			if (v != u) {
				ur->sampled[n++] = v;
				ur->less[k++] = v;
			}
		}
		if (!placed) {
			ur->sampled[n++] = u;
		}
		err = fb_trainer_batch_release(d->t, ur->sampled, n, dc->clip,
				au->grid_log2, stream, ur->r1, ur->L.len, NULL);
		if (err == FB_OK) {
			err = fb_trainer_batch_release(dn.t, ur->less, k,
					dc->clip, au->grid_log2, stream, ur->r2,
					ur->L.len, NULL);
		}
		if (err == FB_OK && ref) {
			err = fb_trainer_batch_release(d1->t, ur->sampled, n,
					dc->clip, au->grid_log2, stream, ur->r3,
					ur->L.len, NULL);
		}
		if (err != FB_OK) {
			goto out;
		}
		double approx;
		uint64_t d2 = dist2_i64(ur->r1, ur->r2, ur->L.len, &approx);
		bool bad = d2 > ur->bound2;
		tally_add(tk, sqrt(approx), bad);
		tally_add(&res->all, sqrt(approx), bad);
		if (ref &&
				memcmp(ur->r1, ur->r3,
						ur->L.len * sizeof(int64_t)) !=
						0) {
			res->thread_mismatches++;
		}
		// One noised release of D moves both models alike.
		memcpy(ur->r2, ur->r1, ur->L.len * sizeof(int64_t));
		err = fb_dp_noise_i64(dp, ur->r2, ur->L.len);
		if (err == FB_OK) {
			err = fb_trainer_release_unpack(d->t, ur->r2, ur->L.len,
					ur->scale, &ur->g);
		}
		if (err == FB_OK) {
			err = fb_trainer_apply(d->t, &ur->g);
		}
		if (err == FB_OK) {
			err = fb_trainer_apply(dn.t, &ur->g);
		}
		if (err == FB_OK && ref) {
			err = fb_trainer_apply(d1->t, &ur->g);
		}
		if (err != FB_OK) {
			goto out;
		}
		bool same = same_model(&d->model, &dn.model) &&
				audit_same_rows_but(&d->P, &dn.P, u) &&
				(!ref ||
						(same_model(&d->model,
								 &d1->model) &&
								audit_same_matrix(
										&d->P,
										&d1->P)));
		if (!same && !diverged) {
			// Counted once per user: what follows runs on
			// different private states.
			res->state_divergences++;
			diverged = true;
		}
	}
out:
	fb_dp_close(dp);
	side_finish(&dn);
	audit_without_finish(&w);
	return err;
}

static void
progress(const struct audit *au, const char *mode, uint32_t k, uint32_t n)
{
	if (!au->a->quiet && cli_stderr_is_tty()) {
		fprintf(stderr, "\r%s: %u/%u ", mode, k, n);
		if (k == n) {
			fprintf(stderr, "\r%*s\r", 40, "");
		}
		fflush(stderr);
	}
}

static fb_err
run_user_mode(const struct audit *au, struct result *res)
{
	const struct fb_dataset *ds = au->ds;
	const struct fb_dp_config *dc = &au->dpc;
	struct user_run ur = {0};
	ur.cfg = au->base;
	ur.cfg.hp.train_items = res->mode.train_items;
	ur.cfg.threads = res->mode.threads;
	ur.cfg.test_shared_stream = au->a->shared_stream;
	ur.one = ur.cfg;
	ur.one.threads = 1;
	fb_train_release_layout(&ur.cfg, ds->n_items, ds->n_bundles, &ur.L);
	res->coordinates = ur.L.len;
	fb_err err = FB_OK;
	ur.r1 = malloc((ur.L.len + 1) * sizeof(int64_t));
	ur.r2 = malloc((ur.L.len + 1) * sizeof(int64_t));
	ur.r3 = malloc((ur.L.len + 1) * sizeof(int64_t));
	ur.drawn = malloc(((size_t)ds->n_users + 1) * sizeof(uint32_t));
	ur.sampled = malloc(((size_t)ds->n_users + 1) * sizeof(uint32_t));
	ur.less = malloc(((size_t)ds->n_users + 1) * sizeof(uint32_t));
	if (ur.r1 == NULL || ur.r2 == NULL || ur.r3 == NULL ||
			ur.drawn == NULL || ur.sampled == NULL ||
			ur.less == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	if ((err = fb_rep_grad_init(&ur.g, &au->model0)) != FB_OK ||
			(err = side_init(&ur.d, ds, &au->model0, &au->P0,
					 &ur.cfg)) != FB_OK ||
			(ur.cfg.threads > 1 &&
					(err = side_init(&ur.d1, ds,
							 &au->model0, &au->P0,
							 &ur.one)) != FB_OK)) {
		goto out;
	}
	uint64_t users = dc->users > 0 ? dc->users : ds->n_users;
	ur.scale = au->grid / (dc->q * (double)users);
	// The accounted sensitivity, from the DP layer itself.
	struct fb_dp *dp = NULL;
	err = open_dp(au, FB_DP_USER, ur.L.len, au->a->seed, &dp, &ur.kappa);
	fb_dp_close(dp);
	if (err != FB_OK) {
		goto out;
	}
	res->kappa = ur.kappa;
	res->grid = au->grid;
	ur.bound = (uint64_t)floor(ur.kappa * dc->clip / au->grid);
	ur.bound2 = ur.bound * ur.bound;
	res->bound_steps = (double)ur.bound;
	for (uint32_t k = 0; k < au->n_picks && err == FB_OK; k++) {
		progress(au, res->mode.name, k, au->n_picks);
		err = check_user(au, &ur, &au->picks[k], res);
	}
	progress(au, res->mode.name, au->n_picks, au->n_picks);
out:
	user_run_finish(&ur);
	return err;
}

// ---- the users to check ----

// The users whose own clipped contribution at the first step is exactly 0
// with items frozen: their whole gradient goes to the frozen item factors.
// Candidates are the active users without a training bundle (any bundle
// sample moves the released bundle gradient); each is confirmed by its
// release alone. Writes them in active order into zeros, *nz of them.
static fb_err
find_zero(const struct audit *au, struct side *s, uint32_t *zeros, uint32_t *nz)
{
	const struct fb_train_config *cfg = fb_trainer_config(s->t);
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(s->t, &n_active);
	struct fb_release_layout L;
	fb_train_release_layout(cfg, au->ds->n_items, au->ds->n_bundles, &L);
	int64_t *r = malloc((L.len + 1) * sizeof(*r));
	if (r == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	*nz = 0;
	for (uint32_t j = 0; j < n_active && err == FB_OK; j++) {
		if (fb_csr_row_len(&au->ds->ub_train, active[j]) > 0) {
			continue;
		}
		// The user alone with its first-step stream: only its own
		// factors change, in a copy that is then dropped.
		err = fb_trainer_batch_release(s->t, &active[j], 1,
				au->dpc.clip, au->grid_log2, (uint64_t)1 << 24,
				r, L.len, NULL);
		bool zero = true;
		for (size_t c = 0; c < L.len && zero; c++) {
			zero = r[c] == 0;
		}
		if (zero) {
			zeros[(*nz)++] = active[j];
		}
	}
	free(r);
	return err;
}

static uint32_t
interactions(const struct fb_dataset *ds, uint32_t u)
{
	uint32_t n = fb_csr_row_len(&ds->ub_train, u);
	if (ds->ui.row_ptr != NULL) {
		n += fb_csr_row_len(&ds->ui, u);
	}
	return n;
}

static const struct fb_dataset *sort_ds; // for by_weight (qsort has no ctx)

// Heaviest first, then by index.
static int
by_weight(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	uint32_t wa = interactions(sort_ds, a), wb = interactions(sort_ds, b);
	if (wa != wb) {
		return wa > wb ? -1 : 1;
	}
	return a < b ? -1 : (a > b);
}

// The picks so far, and who is taken.
struct picking {
	struct pick *picks;
	uint32_t n, want;
	bool *taken; // per user
};

// Adds user as a k pick unless it is taken or the list is full; true if
// it was added.
static bool
take(struct picking *p, uint32_t user, enum kind k)
{
	if (p->n == p->want || p->taken[user]) {
		return false;
	}
	p->taken[user] = true;
	p->picks[p->n++] = (struct pick){user, k};
	return true;
}

// Picks min(--users, active users) users: the first, middle and last
// active users, zero-contribution users spread over the order, the
// heaviest (training bundles and items), and a seeded random rest.
static fb_err
pick_users(struct audit *au)
{
	const struct fb_dataset *ds = au->ds;
	struct fb_train_config cfg = au->base;
	cfg.hp.train_items = false;
	cfg.threads = 1;
	cfg.test_shared_stream = false;
	struct side s;
	struct picking p = {0};
	uint32_t *order = NULL, *zeros = NULL;
	fb_err err = side_init(&s, ds, &au->model0, &au->P0, &cfg);
	if (err != FB_OK) {
		return err;
	}
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(s.t, &n_active);
	if (n_active == 0) {
		err = fb_errorf(FB_EINVAL,
				"%s: no user has a training interaction",
				au->a->data);
		goto out;
	}
	p.want = au->a->users < n_active ? au->a->users : n_active;
	p.picks = malloc((size_t)p.want * sizeof(*p.picks));
	p.taken = calloc(ds->n_users, sizeof(*p.taken));
	order = malloc((size_t)n_active * sizeof(*order));
	zeros = malloc((size_t)n_active * sizeof(*zeros));
	if (p.picks == NULL || p.taken == NULL || order == NULL ||
			zeros == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	take(&p, active[0], KIND_FIRST);
	take(&p, active[n_active / 2], KIND_MIDDLE);
	take(&p, active[n_active - 1], KIND_LAST);
	uint32_t nz = 0;
	if ((err = find_zero(au, &s, zeros, &nz)) != FB_OK) {
		goto out;
	}
	uint32_t quota = p.want / 8 > 0 ? p.want / 8 : 1;
	for (uint32_t j = 0; j < quota; j++) {
		// Spread over the order (what a user could shift is what
		// comes after it): the first one not taken from there on.
		for (uint64_t i = (uint64_t)j * nz / quota; i < nz; i++) {
			if (take(&p, zeros[i], KIND_ZERO)) {
				break;
			}
		}
	}
	memcpy(order, active, (size_t)n_active * sizeof(*order));
	sort_ds = ds;
	qsort(order, n_active, sizeof(*order), by_weight);
	quota = p.want / 4 > 0 ? p.want / 4 : 1;
	for (uint32_t j = 0, got = 0; j < n_active && got < quota; j++) {
		got += take(&p, order[j], KIND_HEAVY);
	}
	memcpy(order, active, (size_t)n_active * sizeof(*order));
	struct fb_rng rng;
	fb_rng_seed(&rng, au->a->seed, 0xa0d17ULL);
	fb_rng_shuffle_u32(&rng, order, n_active);
	for (uint32_t j = 0; j < n_active && p.n < p.want; j++) {
		take(&p, order[j], KIND_RANDOM);
	}
	au->picks = p.picks;
	au->n_picks = p.n;
	p.picks = NULL;
out:
	free(p.picks);
	free(p.taken);
	free(order);
	free(zeros);
	side_finish(&s);
	return err;
}

// ---- client level ----

// The plan a client-level round of cfg would carry, over model.
static void
client_plan(const struct audit *au, const struct fb_train_config *cfg,
		const struct fb_model *model, struct fb_wire_plan *plan)
{
	audit_plan(plan, model, &cfg->hp, &au->dpc);
	struct fb_wire_round_config *c = &plan->config;
	c->granularity = FB_WIRE_GRAN_CLIENT;
	c->sampling_rate = au->dpc.q;
	c->local_steps = au->a->steps;
}

// The exact squared distance of two central sums, in grid steps, and
// as a double.
static double
central_sqdist(const struct agg_central *a, const struct agg_central *b,
		uint64_t *exact)
{
	uint64_t sum = 0;
	double d2 = 0;
	for (size_t k = 0; k < a->len; k++) {
		int64_t x = a->sum[k], y = b->sum[k];
		uint64_t d = x >= y ? (uint64_t)x - (uint64_t)y
				    : (uint64_t)y - (uint64_t)x;
		d2 += (double)d * (double)d;
		sum = d > UINT32_MAX || sum > UINT64_MAX - d * d ? UINT64_MAX
								 : sum + d * d;
	}
	*exact = sum;
	return d2;
}

static fb_err
run_client_mode(const struct audit *au, struct result *res)
{
	const struct fb_dataset *ds = au->ds;
	const struct args *a = au->a;
	uint32_t K = a->retailers;
	struct fb_train_config cfg = au->base;
	cfg.hp.train_items = res->mode.train_items;
	cfg.threads = 1;
	const struct fb_model *m0 = &au->model0;
	uint32_t *owner = NULL;
	struct fb_dataset **part = calloc(K, sizeof(*part));
	struct fb_msg **msg = calloc(K, sizeof(*msg));
	struct fb_wire_update *up = calloc(K, sizeof(*up));
	double *norm = calloc(K, sizeof(*norm));
	struct agg_central all = {0}, less = {0};
	struct fb_dp *dp = NULL;
	owner = malloc(((size_t)ds->n_users + 1) * sizeof(*owner));
	fb_err err = part == NULL || owner == NULL || msg == NULL ||
					up == NULL || norm == NULL
			? FB_ENOMEM
			: audit_partition(ds, K, a->seed, owner, NULL, part);
	if (err != FB_OK) {
		goto out;
	}
	struct fb_wire_plan plan;
	client_plan(au, &cfg, m0, &plan);
	struct fb_wire_limits lim = {FB_WIRE_MAX_TENSORS,
			ds->n_items > ds->n_bundles ? ds->n_items
						    : ds->n_bundles,
			cfg.hp.dim, true};
	lim.max_rows = lim.max_rows > ds->n_attrs ? lim.max_rows : ds->n_attrs;
	for (uint32_t r = 0; r < K; r++) {
		progress(au, res->mode.name, r, K);
		struct node_policy pol;
		audit_policy(&pol, part[r]->n_users, a->seed, r);
		pol.allow_client = true;
		struct node_state st = {0};
		struct node_round out;
		err = node_local_round(
				&pol, part[r], &st, NULL, &plan, 1, NULL, &out);
		node_state_finish(&st);
		if (err == FB_OK && out.refuse) {
			err = fb_errorf(FB_EINVAL,
					"retailer %u refused the plan: %s", r,
					out.text);
		}
		if (err != FB_OK) {
			goto out;
		}
		msg[r] = out.update;
		size_t len = fb_msg_len(msg[r]) - FB_ENV_OVERHEAD;
		err = fb_wire_update_decode(&up[r],
				fb_msg_data(msg[r]) + FB_ENV_BODY_OFF, len,
				&lim);
		if (err != FB_OK) {
			goto out;
		}
		char text[256];
		// The aggregator's client-level limit: the clip (bound.h).
		struct fb_bound_shape sh = {m0->n_items, m0->n_bundles,
				m0->n_attrs, {1, m0->n_bundles, 0}, 0};
		struct fb_bound bd;
		err = fb_bound_update(&plan.config, &sh, &bd);
		if (err != FB_OK) {
			goto out;
		}
		struct agg_update_limit ulim = {bd.l2, bd.linf};
		if (agg_update_check(&up[r], &plan.config, m0, &ulim, text,
				    sizeof(text),
				    NULL) != FB_WIRE_REASON_NONE) {
			res->refused++;
		}
		double sq = 0;
		for (uint32_t k = 0; k < up[r].n_tensors; k++) {
			const struct fb_wire_tensor *t = &up[r].tensors[k];
			const float *x = t->data;
			for (size_t j = 0; j < (size_t)t->rows * t->cols; j++) {
				sq += (double)x[j] * x[j];
			}
		}
		norm[r] = sqrt(sq);
		res->max_norm = norm[r] > res->max_norm ? norm[r]
							: res->max_norm;
	}
	progress(au, res->mode.name, K, K);
	// The aggregator's exact sum with every retailer, then without each
	// one, on the grid of its client-level DP layer; clipped there too
	// (agg_central_add).
	struct fb_release_layout L;
	fb_train_release_layout(&cfg, m0->n_items, m0->n_bundles, &L);
	size_t D = agg_central_len(m0, &L);
	res->coordinates = D;
	err = open_dp(au, FB_DP_CLIENT, D, a->seed, &dp, &res->kappa);
	if (err != FB_OK) {
		goto out;
	}
	res->grid = ldexp(1.0, fb_dp_grid_log2(dp));
	if ((err = agg_central_init(&all, m0, &L, au->dpc.clip,
			     fb_dp_grid_log2(dp))) != FB_OK ||
			(err = agg_central_init(&less, m0, &L, au->dpc.clip,
					 fb_dp_grid_log2(dp))) != FB_OK) {
		goto out;
	}
	bool clipped;
	for (uint32_t r = 0; r < K; r++) {
		agg_central_add(&all, &up[r], &clipped);
	}
	res->bound_steps = floor(res->kappa * au->dpc.clip / res->grid);
	for (uint32_t r = 0; r < K; r++) {
		agg_central_reset(&less);
		for (uint32_t j = 0; j < K; j++) {
			if (j != r) {
				agg_central_add(&less, &up[j], &clipped);
			}
		}
		uint64_t exact;
		double d2 = central_sqdist(&all, &less, &exact);
		uint64_t b = (uint64_t)res->bound_steps;
		bool bad = exact > b * b || norm[r] > res->kappa * au->dpc.clip;
		res->kinds[KIND_RETAILER].units++;
		res->all.units++;
		tally_add(&res->kinds[KIND_RETAILER], sqrt(d2), bad);
		tally_add(&res->all, sqrt(d2), bad);
	}
out:
	fb_dp_close(dp);
	agg_central_finish(&all);
	agg_central_finish(&less);
	for (uint32_t r = 0; r < K; r++) {
		if (msg != NULL) {
			fb_msg_free(msg[r]);
		}
		if (part != NULL) {
			fb_dataset_destroy(part[r]);
		}
	}
	free(msg);
	free(part);
	free(up);
	free(norm);
	free(owner);
	return err;
}

// ---- secure aggregation (tools/audit-secure.c) ----

static void
secure_progress(const void *ctx, uint32_t done, uint32_t n)
{
	const struct audit *au = ctx;
	progress(au, "secure", done, n);
}

static fb_err
run_secure_mode(const struct audit *au, struct result *res)
{
	struct fb_train_config cfg = au->base;
	cfg.hp.train_items = res->mode.train_items;
	cfg.threads = 1;
	uint32_t *users = malloc(((size_t)au->n_picks + 1) * sizeof(*users));
	struct audit_secure_user *pu = calloc(au->n_picks + 1, sizeof(*pu));
	if (users == NULL || pu == NULL) {
		free(users);
		free(pu);
		return FB_ENOMEM;
	}
	for (uint32_t k = 0; k < au->n_picks; k++) {
		users[k] = au->picks[k].user;
	}
	struct audit_secure_in in = {.ds = au->ds,
			.cfg = &cfg,
			.dpc = &au->dpc,
			.model0 = &au->model0,
			.users = users,
			.n_users = au->n_picks,
			.steps = au->a->steps,
			.retailers = au->a->retailers,
			.seed = au->a->seed,
			.no_noise = au->a->no_noise,
			.shared_stream = au->a->shared_stream,
			.dir = au->dir,
			.ring_bits = au->a->ring_bits,
			.progress = secure_progress,
			.ctx = au};
	res->sec.per_user = pu;
	fb_err err = audit_secure_run(&in, &res->sec);
	res->coordinates = res->sec.dim;
	res->grid = ldexp(1.0, res->sec.grid_log2);
	res->kappa = 1; // the ddg entry accounts clip / grid, its own l2
	res->bound_steps = res->sec.l2;
	for (uint32_t k = 0; k < au->n_picks && err == FB_OK; k++) {
		struct tally *t[2] = {
				&res->kinds[au->picks[k].kind], &res->all};
		for (int j = 0; j < 2; j++) {
			t[j]->units++;
			t[j]->checks += pu[k].checks;
			t[j]->violations += pu[k].violations;
			t[j]->max_steps = pu[k].max_l2 > t[j]->max_steps
					? pu[k].max_l2
					: t[j]->max_steps;
		}
		res->max_l1 = pu[k].max_l1 > res->max_l1 ? pu[k].max_l1
							 : res->max_l1;
	}
	res->state_divergences = res->sec.state_divergences;
	res->sec.per_user = NULL;
	free(pu);
	free(users);
	return err;
}

// ---- report ----

static bool
result_ok(const struct result *r)
{
	const struct audit_secure_out *s = &r->sec;
	return r->all.violations == 0 && r->state_divergences == 0 &&
			r->thread_mismatches == 0 && r->refused == 0 &&
			s->masked_mismatches == 0 &&
			s->unmask_mismatches == 0 &&
			s->ledger_mismatches == 0 && s->public_mismatches == 0;
}

static void
print_table(const struct audit *au, const struct result *r)
{
	double g = r->grid, C = au->dpc.clip;
	const struct mode *m = &r->mode;
	if (m->level == LEVEL_USER) {
		printf("\nmode %s: user level, items %s, %u thread%s, %u "
		       "steps, releases of %zu coordinates\n",
				m->name, m->train_items ? "trained" : "frozen",
				m->threads, m->threads > 1 ? "s" : "",
				au->a->steps, r->coordinates);
		printf("  bound: floor(kappa C / grid) = %.0f grid steps = "
		       "%.6f C (kappa %.6f)\n",
				r->bound_steps, r->bound_steps * g / C,
				r->kappa);
	} else if (m->level == LEVEL_SECURE) {
		const struct audit_secure_out *s = &r->sec;
		printf("\nmode %s: user level through secure aggregation, "
		       "items %s, %u retailers x %u rounds, sums of %zu "
		       "coordinates\n",
				m->name, m->train_items ? "trained" : "frozen",
				au->a->retailers, au->a->steps, r->coordinates);
		printf("  ring: Z_(2^%u) (%s)\n", s->ring_bits,
				au->a->ring_bits != 0
						? "forced by --ring-bits"
						: "the aggregator's choice");
		printf("  bound: the ledger's ddg entry, l2 = C / grid = %.1f "
		       "grid steps, l1 %.1f; %llu honest shares of %.3f "
		       "steps; largest L1 distance %.1f\n",
				s->l2, s->l1, (unsigned long long)s->n_honest,
				s->sigma_share, r->max_l1);
	} else {
		printf("\nmode %s: client level, items %s, %u retailers x %u "
		       "local steps, %zu trained coordinates\n",
				m->name, m->train_items ? "trained" : "frozen",
				au->a->retailers, au->a->steps, r->coordinates);
		printf("  bound: floor(kappa C / grid) = %.0f grid steps = "
		       "%.6f C (kappa %.6f); largest update as sent %.6f C\n",
				r->bound_steps, r->bound_steps * g / C,
				r->kappa, r->max_norm / C);
	}
	printf("  %-18s %7s %7s %16s %10s %10s\n", "checked", "units", "checks",
			"max grid steps", "max / C", "violations");
	for (int k = 0; k < N_KINDS; k++) {
		const struct tally *t = &r->kinds[k];
		if (t->units == 0) {
			continue;
		}
		printf("  %-18s %7u %7llu %16.1f %10.6f %10llu\n",
				kind_names[k], t->units,
				(unsigned long long)t->checks, t->max_steps,
				t->max_steps * g / C,
				(unsigned long long)t->violations);
	}
	printf("  %-18s %7u %7llu %16.1f %10.6f %10llu\n", "all", r->all.units,
			(unsigned long long)r->all.checks, r->all.max_steps,
			r->all.max_steps * g / C,
			(unsigned long long)r->all.violations);
	if (m->level == LEVEL_USER) {
		printf("  state: %llu user(s) whose model or other users' "
		       "factors diverged",
				(unsigned long long)r->state_divergences);
		if (m->threads > 1) {
			printf("; %llu step(s) where %u threads released "
			       "other bits than 1",
					(unsigned long long)
							r->thread_mismatches,
					m->threads);
		}
		printf("\n");
	} else if (m->level == LEVEL_SECURE) {
		const struct audit_secure_out *s = &r->sec;
		printf("  %llu user(s) whose other users' state diverged; "
		       "mismatches: other retailers' UPDATEs %llu, unmasked "
		       "sums %llu, ledger entries %llu, public fields %llu\n",
				(unsigned long long)r->state_divergences,
				(unsigned long long)s->masked_mismatches,
				(unsigned long long)s->unmask_mismatches,
				(unsigned long long)s->ledger_mismatches,
				(unsigned long long)s->public_mismatches);
	} else {
		printf("  the aggregator's checks refused %llu update(s)\n",
				(unsigned long long)r->refused);
	}
	printf("  %s (%.1f s)\n", result_ok(r) ? "PASS" : "FAIL", r->seconds);
}

static void
print_json_mode(const struct audit *au, const struct result *r)
{
	double g = r->grid, C = au->dpc.clip;
	const struct mode *m = &r->mode;
	printf("{\"mode\": \"%s\", \"level\": \"%s\", \"train_items\": %s, "
	       "\"threads\": %u, \"steps\": %u, \"coordinates\": %zu, "
	       "\"kappa\": %.9f, \"bound_steps\": %.1f, \"bound_c\": %.9f, "
	       "\"checked\": %u, \"checks\": %llu, "
	       "\"max_distance_steps\": %.1f, \"max_distance_c\": %.9f, "
	       "\"violations\": %llu, ",
			m->name, level_names[m->level],
			m->train_items ? "true" : "false", m->threads,
			au->a->steps, r->coordinates, r->kappa, r->bound_steps,
			r->bound_steps * g / C, r->all.units,
			(unsigned long long)r->all.checks, r->all.max_steps,
			r->all.max_steps * g / C,
			(unsigned long long)r->all.violations);
	if (m->level == LEVEL_USER) {
		printf("\"state_divergences\": %llu, \"thread_mismatches\": "
		       "%llu, ",
				(unsigned long long)r->state_divergences,
				(unsigned long long)r->thread_mismatches);
	} else if (m->level == LEVEL_SECURE) {
		const struct audit_secure_out *s = &r->sec;
		printf("\"retailers\": %u, \"ring_bits\": %u, \"ring_forced\": "
		       "%s, \"grid_log2\": %d, \"l2_steps\": "
		       "%.9g, \"l1_steps\": %.9g, \"max_l1_steps\": %.1f, "
		       "\"n_honest\": %llu, \"sigma_share_steps\": %.9g, "
		       "\"state_divergences\": %llu, \"masked_mismatches\": "
		       "%llu, \"unmask_mismatches\": %llu, "
		       "\"ledger_mismatches\": %llu, \"public_mismatches\": "
		       "%llu, ",
				au->a->retailers, s->ring_bits,
				au->a->ring_bits != 0 ? "true" : "false",
				s->grid_log2, s->l2, s->l1, r->max_l1,
				(unsigned long long)s->n_honest, s->sigma_share,
				(unsigned long long)r->state_divergences,
				(unsigned long long)s->masked_mismatches,
				(unsigned long long)s->unmask_mismatches,
				(unsigned long long)s->ledger_mismatches,
				(unsigned long long)s->public_mismatches);
	} else {
		printf("\"retailers\": %u, \"max_update_norm_c\": %.9f, "
		       "\"refused\": %llu, ",
				au->a->retailers, r->max_norm / C,
				(unsigned long long)r->refused);
	}
	printf("\"by_kind\": {");
	const char *sep = "";
	for (int k = 0; k < N_KINDS; k++) {
		const struct tally *t = &r->kinds[k];
		if (t->units == 0) {
			continue;
		}
		printf("%s\"%s\": {\"checked\": %u, \"max_distance_c\": %.9f, "
		       "\"violations\": %llu}",
				sep, kind_names[k], t->units,
				t->max_steps * g / C,
				(unsigned long long)t->violations);
		sep = ", ";
	}
	printf("}, \"seconds\": %.3f, \"ok\": %s}", r->seconds,
			result_ok(r) ? "true" : "false");
}

// True if a secure mode of modes[0..n) is selected.
static bool
any_secure(const struct args *a, const struct mode *modes, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (modes[k].level == LEVEL_SECURE &&
				selected(a->mode, &modes[k])) {
			return true;
		}
	}
	return false;
}

int
audit_sensitivity(int argc, char **argv)
{
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	struct mode modes[10];
	size_t n_modes, n_run = 0;
	list_modes(&a, modes, &n_modes);
	for (size_t k = 0; k < n_modes; k++) {
		n_run += selected(a.mode, &modes[k]);
	}
	if (n_run == 0) {
		return cli_usage_error(CMD,
				"--mode: '%s' selects no mode (all, user, "
				"client, secure, user-frozen, user-trained, "
				"client-frozen, client-trained, secure-frozen, "
				"secure-trained, or a full name such as %s)",
				a.mode, modes[0].name);
	}
	bool secure = any_secure(&a, modes, n_modes);
	if (secure && a.retailers < 3) {
		return cli_usage_error(CMD,
				"--retailers: the secure modes need 3 or more, "
				"not %u (--mode user,client runs the others)",
				a.retailers);
	}
	struct audit au = {0};
	au.a = &a;
	if ((rc = load_config(&au)) != 0) {
		return rc;
	}
	fb_log_set_level(FB_LOG_ERROR); // the seeded noise warns every open
	fb_blas_set_threads(1);
	fb_err err = fb_dataset_load(&au.ds, a.data);
	if (err != FB_OK) {
		return fail(err, "cannot load the dataset");
	}
	// A ring that could wrap is refused before any mode runs: the
	// partition gives every user to one retailer, who declares it.
	uint32_t ring;
	if (secure &&
			(err = audit_secure_ring(&au.dpc, a.retailers,
					 au.ds->n_users, a.ring_bits, &ring)) !=
					FB_OK) {
		fb_dataset_destroy(au.ds);
		return fail(err, "secure modes");
	}
	struct result *res = calloc(n_modes, sizeof(*res));
	const char *tmp = getenv("TMPDIR");
	snprintf(au.dir, sizeof(au.dir), "%s/fb-audit-XXXXXX",
			tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	if (res == NULL) {
		err = FB_ENOMEM;
	} else if (mkdtemp(au.dir) == NULL) {
		err = fb_errorf(FB_EIO, "%s: %s", au.dir, strerror(errno));
		au.dir[0] = '\0';
	}
	if (err != FB_OK) {
		rc = fail(err, "cannot start");
		goto out;
	}
	snprintf(au.ledger, sizeof(au.ledger), "%s/ledger", au.dir);
	if ((err = fb_ledger_open(&au.held, au.ledger, true)) != FB_OK) {
		rc = fail(err, "cannot create the audit's ledger");
		goto out;
	}
	if ((err = init_model(au.ds, &au.base, &au.model0, &au.P0)) != FB_OK) {
		rc = fail(err, "cannot initialise the model");
		goto out;
	}
	if ((err = pick_users(&au)) != FB_OK) {
		rc = fail(err, "cannot choose the users to check");
		goto out;
	}
	// Text is printed mode by mode; JSON once every mode ran, so that a
	// run that stops on an error leaves no half object on stdout.
	bool ok = true;
	if (!a.json) {
		printf("fedbundle audit sensitivity: %s (%u users, %u bundles, "
		       "%u items), C = %g, grid 2^%d, %s noise (sigma %g), "
		       "seed %llu%s\n",
				au.ds->name, au.ds->n_users, au.ds->n_bundles,
				au.ds->n_items, au.dpc.clip, au.grid_log2,
				a.no_noise ? "no" : "seeded", au.dpc.sigma,
				(unsigned long long)a.seed,
				a.shared_stream ? ", TEST SWITCH: shared stream "
						  "(the behaviour before the "
						  "fix)"
						: "");
	}
	for (size_t k = 0; k < n_modes; k++) {
		if (!selected(a.mode, &modes[k])) {
			continue;
		}
		struct result *r = &res[k];
		r->mode = modes[k];
		double t0 = fb_clock_s();
		err = modes[k].level == LEVEL_USER ? run_user_mode(&au, r)
				: modes[k].level == LEVEL_CLIENT
				? run_client_mode(&au, r)
				: run_secure_mode(&au, r);
		r->seconds = fb_clock_s() - t0;
		if (err != FB_OK) {
			fflush(stdout);
			char what[64];
			snprintf(what, sizeof(what), "mode %.31s",
					modes[k].name);
			rc = fail(err, what);
			goto out;
		}
		ok = ok && result_ok(r);
		if (!a.json) {
			print_table(&au, r);
			fflush(stdout);
		}
	}
	if (a.json) {
		printf("{\"dataset\": \"%s\", \"dataset_users\": %u, "
		       "\"clip\": %g, \"grid_log2\": %d, \"steps\": %u, "
		       "\"noise\": %s, \"sigma\": %g, \"seed\": %llu, "
		       "\"test_shared_stream\": %s, \"modes\": [",
				au.ds->name, au.ds->n_users, au.dpc.clip,
				au.grid_log2, a.steps,
				a.no_noise ? "false" : "true", au.dpc.sigma,
				(unsigned long long)a.seed,
				a.shared_stream ? "true" : "false");
		const char *sep = "";
		for (size_t k = 0; k < n_modes; k++) {
			if (selected(a.mode, &modes[k])) {
				printf("%s", sep);
				print_json_mode(&au, &res[k]);
				sep = ", ";
			}
		}
		printf("], \"ok\": %s}\n", ok ? "true" : "false");
	} else {
		printf("\n%s\n",
				ok ? "ok: no distance above the accounted "
				     "sensitivity"
				   : "FAILED: see the modes above");
	}
	rc = ok ? 0 : 1;
out:
	fb_ledger_close(au.held);
	if (au.ledger[0] != '\0') {
		unlink(au.ledger);
	}
	if (au.dir[0] != '\0') {
		rmdir(au.dir);
	}
	free(au.picks);
	free(res);
	fb_model_finish(&au.model0);
	fb_matrix_finish(&au.P0);
	fb_dataset_destroy(au.ds);
	return rc;
}
