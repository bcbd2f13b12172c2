// tools/audit-membership.c: `fedbundle audit membership`, an empirical
// lower bound on the epsilon of user-level DP training that can fail.
//
// Method: the one-run audit of Steinke, Nasr and Jagielski 2023
// (include/fedbundle/privacy/auditbound.h). m canaries, each in the training data
// by an independent fair coin (libsodium's CSPRNG, or --seed for a
// reproducible, NOT PRIVATE run); ONE training run; each canary scored
// from what the mode's adversary sees; "in" guessed for the k highest
// scores and "out" for the k lowest, abstaining on the rest; the correct
// guesses give the largest epsilon rejected at confidence 1 - beta, with
// the accountant's delta in the bound. k is one of 7 shares of m fixed in
// advance (0.5% to 50%), each tested at beta / 7 (Bonferroni), so the
// search over k is paid for. One run, not the many-run method of
// Jagielski et al. 2020 / Nasr et al. 2021: a Youshu run is seconds, but
// a many-run bound needs hundreds to thousands of runs per epsilon for
// the same confidence, and the one-run bound needs no assumption beyond
// the independence of the coins.
//
// Modes (what the adversary sees):
//   central-whitebox  every noised release of `train --dp user` steps,
//                     reproduced here with fit.c's primitives (sample,
//                     exact clipped sum, discrete Gaussian noise, unpack,
//                     apply). A canary is a user whose contribution the
//                     adversary chooses: floor(C / grid) grid steps (norm
//                     exactly C) on one coordinate of a canary bundle
//                     added to the catalogue, Poisson-sampled at rate q
//                     like every user and added to the exact integer sum
//                     before the noise. Score: the sum over releases of
//                     its coordinate, centred per column.
//   central-blackbox  the final model of the real fb_fit only. A canary
//                     is a user whose one training interaction is its
//                     own rare bundle added to the catalogue. Score: that
//                     bundle's bias factor (its squared factor norm
//                     without the bias coordinate).
//   federated         the final global model of `fedbundle simulate`
//                     (real aggregator and clients, IID partition); the
//                     canary users are spread over the retailers by the
//                     partition. Score as central-blackbox.
// Neighbouring stays exact: every canary bundle exists in both worlds (the
// catalogue is public), and a canary left out is absent from the data
// (white-box) or a user without interactions, whom training never visits
// (black-box, federated: so the partition of the real users cannot depend
// on the coins). The public user count every release is divided by is
// declared as the real users plus m, whatever the coins.
#include <getopt.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/pretrain.h"
#include "fedbundle/model/train.h"
#include "fedbundle/privacy/auditbound.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"
#include "sim/sim.h"

static const char cmd[] = "audit membership";

enum mode {
	MODE_WHITEBOX = 0,
	MODE_BLACKBOX = 1,
	MODE_FEDERATED = 2,
};

static const char *const mode_names[] = {
		"central-whitebox", "central-blackbox", "federated"};

// The shares of m tried as k (k "in" and k "out" guesses), fixed before
// any score is seen; each is tested at beta / N_SHARES.
static const double k_shares[] = {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5};
#define N_SHARES (sizeof(k_shares) / sizeof(k_shares[0]))

static const char usage_text[] =
		"usage: fedbundle audit membership --data DIR [options]\n"
		"\n"
		"Audits user-level DP training with canaries in ONE run "
		"(Steinke, Nasr,\nJagielski 2023): m canaries, each included by "
		"a secret fair coin, are\nscored from what the mode's adversary "
		"sees; the correct membership\nguesses give a lower bound on "
		"epsilon at the stated confidence, printed\nnext to the "
		"accountant's epsilon. Exit 0: epsilon_lower <= epsilon; 1: "
		"the\naudit found a violation (or the run failed); 2: usage.\n"
		"\n"
		"options:\n"
		"  --data DIR          dataset folder (required)\n"
		"  --mode M            central-whitebox (default), "
		"central-blackbox or\n"
		"                      federated\n"
		"  --epsilon E         target epsilon: sigma is calibrated for "
		"the planned\n"
		"                      releases by the PLD accountant (default "
		"8)\n"
		"  --delta D           delta (default 1e-6)\n"
		"  --canaries M        number of canaries (default 10000 "
		"white-box, 5000\n"
		"                      otherwise)\n"
		"  --confidence C      confidence of the bound (default 0.95)\n"
		"  --epochs N          epochs of central training (default: "
		"the DP\n"
		"                      defaults', 30)\n"
		"  --rounds N          rounds of the federation (default 10)\n"
		"  --retailers K       retailers of the federation (default "
		"4)\n"
		"  --q Q               user sampling rate per release (default "
		"0.25)\n"
		"  --threads N         training threads (default 1)\n"
		"  --seed N            coins, sampling and noise from seed N: "
		"reproducible\n"
		"                      and NOT PRIVATE (default: the CSPRNG)\n"
		"  --json              one JSON object on stdout\n"
		"  --quiet             no progress on stderr\n"
		"  --test-no-noise     TEST ONLY: releases without noise (NOT "
		"PRIVATE)\n"
		"  --test-shared-stream TEST ONLY: the old shared negative "
		"stream (NOT\n"
		"                      PRIVATE)\n"
		"  --help              this text\n";

struct args {
	const char *data;
	int mode;
	double epsilon, delta, confidence, q;
	uint32_t canaries, epochs, rounds, retailers, threads;
	uint64_t seed;
	bool have_seed, json, quiet, no_noise, shared_stream;
};

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"mode", required_argument, NULL, 'M'},
			{"epsilon", required_argument, NULL, 'E'},
			{"delta", required_argument, NULL, 'L'},
			{"canaries", required_argument, NULL, 'm'},
			{"confidence", required_argument, NULL, 'c'},
			{"epochs", required_argument, NULL, 'e'},
			{"rounds", required_argument, NULL, 'r'},
			{"retailers", required_argument, NULL, 'K'},
			{"q", required_argument, NULL, 'Q'},
			{"threads", required_argument, NULL, 't'},
			{"seed", required_argument, NULL, 's'},
			{"json", no_argument, NULL, 'j'},
			{"quiet", no_argument, NULL, 'z'},
			{"test-no-noise", no_argument, NULL, 'N'},
			{"test-shared-stream", no_argument, NULL, 'S'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->epsilon = 8;
	a->delta = 1e-6;
	a->confidence = 0.95;
	a->q = 0.25;
	a->rounds = 10;
	a->retailers = 4;
	a->threads = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd':
			a->data = optarg;
			break;
		case 'M':
			a->mode = -1;
			for (int k = 0; k < 3; k++) {
				if (strcmp(optarg, mode_names[k]) == 0) {
					a->mode = k;
				}
			}
			if (a->mode < 0) {
				return cli_usage_error(cmd,
						"--mode: '%s' is not "
						"central-whitebox, "
						"central-blackbox or federated",
						optarg);
			}
			break;
		case 'E':
			ok = cli_parse_double(
					cmd, "--epsilon", optarg, &a->epsilon);
			if (ok && !(a->epsilon > 0 && a->epsilon <= 1000)) {
				return cli_usage_error(cmd,
						"--epsilon must be in (0, 1000]");
			}
			break;
		case 'L':
			ok = cli_parse_double(
					cmd, "--delta", optarg, &a->delta);
			if (ok && !(a->delta > 0 && a->delta < 1)) {
				return cli_usage_error(cmd,
						"--delta must be in (0, 1)");
			}
			break;
		case 'm':
			ok = cli_parse_u32(cmd, "--canaries", optarg,
					&a->canaries);
			if (ok && (a->canaries < 10 || a->canaries > 1000000)) {
				return cli_usage_error(cmd,
						"--canaries must be 10 to "
						"1000000");
			}
			break;
		case 'c':
			ok = cli_parse_double(cmd, "--confidence", optarg,
					&a->confidence);
			if (ok && !(a->confidence > 0 && a->confidence < 1)) {
				return cli_usage_error(cmd,
						"--confidence must be in (0, 1)");
			}
			break;
		case 'e':
			ok = cli_parse_u32(cmd, "--epochs", optarg, &a->epochs);
			if (ok && (a->epochs == 0 || a->epochs > 100000)) {
				return cli_usage_error(cmd,
						"--epochs must be 1 to 100000");
			}
			break;
		case 'r':
			ok = cli_parse_u32(cmd, "--rounds", optarg, &a->rounds);
			if (ok && (a->rounds == 0 || a->rounds > 100000)) {
				return cli_usage_error(cmd,
						"--rounds must be 1 to 100000");
			}
			break;
		case 'K':
			ok = cli_parse_u32(cmd, "--retailers", optarg,
					&a->retailers);
			if (ok && (a->retailers == 0 || a->retailers > 1024)) {
				return cli_usage_error(cmd,
						"--retailers must be 1 to 1024");
			}
			break;
		case 'Q':
			ok = cli_parse_double(cmd, "--q", optarg, &a->q);
			if (ok && !(a->q > 0 && a->q <= 1)) {
				return cli_usage_error(
						cmd, "--q must be in (0, 1]");
			}
			break;
		case 't':
			ok = cli_parse_u32(
					cmd, "--threads", optarg, &a->threads);
			if (ok && (a->threads == 0 || a->threads > 64)) {
				return cli_usage_error(cmd,
						"--threads must be 1 to 64");
			}
			break;
		case 's':
			ok = cli_parse_u64(cmd, "--seed", optarg, &a->seed);
			a->have_seed = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'z':
			a->quiet = true;
			break;
		case 'N':
			a->no_noise = true;
			break;
		case 'S':
			a->shared_stream = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			return cli_usage_error(
					cmd, "unknown option (see --help)");
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (a->data == NULL) {
		return cli_usage_error(cmd, "--data DIR is required");
	}
	if (a->canaries == 0) {
		a->canaries = a->mode == MODE_WHITEBOX ? 10000 : 5000;
	}
	return 0;
}

// ---- the canaries and the dataset that holds them ----

struct canaries {
	uint32_t m;
	uint8_t *in;         // the secret coins
	uint32_t n_in;       // canaries in
	uint32_t bundle0;    // first canary bundle
	uint32_t n_bundles;  // canary bundles
	uint32_t user0;      // first canary user (black-box, federated)
	uint32_t per_bundle; // white-box canaries per canary bundle
	uint64_t real_users; // users of the dataset as loaded
	uint32_t *in_list;   // white-box: the canaries in
	size_t *coord;       // white-box: each canary's release coordinate
	double *score;       // each canary's score
};

static void
canaries_finish(struct canaries *c)
{
	free(c->in);
	free(c->in_list);
	free(c->coord);
	free(c->score);
	memset(c, 0, sizeof(*c));
}

// The coins: from seed (reproducible, NOT private) or the CSPRNG.
static fb_err
draw_coins(struct canaries *c, const struct args *a)
{
	c->in = calloc(c->m, 1);
	c->score = calloc(c->m, sizeof(*c->score));
	if (c->in == NULL || c->score == NULL) {
		return FB_ENOMEM;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, a->seed, 0xc0175ULL);
	for (uint32_t j = 0; j < c->m; j++) {
		uint8_t b;
		if (a->have_seed) {
			b = (uint8_t)(fb_rng_next(&rng) >> 63);
		} else {
			randombytes_buf(&b, 1);
			b &= 1;
		}
		c->in[j] = b;
		c->n_in += b;
	}
	return FB_OK;
}

// out = in with n_cols columns and extra rows appended: extra row k holds
// xcol[xptr[k] .. xptr[k+1]) (sorted). in may have no arrays (no entries).
static fb_err
csr_extend(struct fb_csr *out, const struct fb_csr *in, uint32_t n_cols,
		uint32_t n_extra, const uint64_t *xptr, const uint32_t *xcol)
{
	uint64_t nnz0 = fb_csr_nnz(in);
	uint64_t nnz = nnz0 + (n_extra > 0 ? xptr[n_extra] : 0);
	uint32_t rows = in->n_rows + n_extra;
	struct fb_csr m = {rows, n_cols, NULL, NULL};
	m.row_ptr = calloc((size_t)rows + 1, sizeof(*m.row_ptr));
	m.col = malloc((size_t)nnz * sizeof(*m.col) + sizeof(*m.col));
	if (m.row_ptr == NULL || m.col == NULL) {
		fb_csr_finish(&m);
		return FB_ENOMEM;
	}
	for (uint32_t r = 0; r <= in->n_rows; r++) {
		m.row_ptr[r] = in->row_ptr != NULL ? in->row_ptr[r] : 0;
	}
	if (nnz0 > 0) {
		memcpy(m.col, in->col, (size_t)nnz0 * sizeof(*m.col));
	}
	for (uint32_t k = 0; k < n_extra; k++) {
		m.row_ptr[in->n_rows + k + 1] = nnz0 + xptr[k + 1];
	}
	if (n_extra > 0 && xptr[n_extra] > 0) {
		memcpy(m.col + nnz0, xcol,
				(size_t)xptr[n_extra] * sizeof(*m.col));
	}
	fb_csr_finish(out);
	*out = m;
	return FB_OK;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

// The dataset with the canary bundles (each of 3 distinct real items,
// drawn from the training seed: public) and, with users, one canary user
// per canary whose only training interaction, if its coin says in, is its
// own bundle.
static fb_err
build_dataset(struct fb_dataset **out, const struct fb_dataset *ds,
		struct canaries *c, bool users, uint64_t seed)
{
	enum { ITEMS = 3 };
	if (ds->n_items < ITEMS) {
		return fb_errorf(FB_EINVAL,
				"audit: the catalogue needs at least %d items",
				ITEMS);
	}
	uint32_t nb = c->n_bundles;
	uint32_t nu = users ? c->m : 0;
	if ((uint64_t)ds->n_bundles + nb > FB_DATASET_MAX_COUNT ||
			(uint64_t)ds->n_users + nu > FB_DATASET_MAX_COUNT) {
		return fb_errorf(FB_EINVAL, "audit: too many canaries");
	}
	c->bundle0 = ds->n_bundles;
	c->user0 = ds->n_users;
	c->real_users = ds->n_users;
	struct fb_dataset *x = NULL;
	uint64_t *bptr = malloc(((size_t)nb + 1) * sizeof(*bptr));
	uint32_t *bcol = malloc(((size_t)nb * ITEMS + 1) * sizeof(*bcol));
	uint64_t *uptr = malloc(((size_t)nu + 1) * sizeof(*uptr));
	uint64_t *zptr = calloc((size_t)nu + 1, sizeof(*zptr));
	uint32_t *ucol = malloc(((size_t)nu + 1) * sizeof(*ucol));
	fb_err err = FB_ENOMEM;
	if (bptr == NULL || bcol == NULL || uptr == NULL || zptr == NULL ||
			ucol == NULL) {
		goto out;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 0xca4a71ULL);
	bptr[0] = 0;
	for (uint32_t b = 0; b < nb; b++) {
		uint32_t *it = bcol + (size_t)b * ITEMS;
		for (int k = 0; k < ITEMS; k++) {
			bool dup;
			do {
				it[k] = fb_rng_below(&rng, ds->n_items);
				dup = false;
				for (int l = 0; l < k; l++) {
					dup |= it[l] == it[k];
				}
			} while (dup);
		}
		qsort(it, ITEMS, sizeof(*it), cmp_u32);
		bptr[b + 1] = (uint64_t)(b + 1) * ITEMS;
	}
	uptr[0] = 0;
	uint64_t n = 0;
	for (uint32_t j = 0; j < nu; j++) {
		if (c->in[j]) {
			ucol[n++] = c->bundle0 + j;
		}
		uptr[j + 1] = n;
	}
	err = fb_dataset_create(&x, ds->name, ds->n_users + nu,
			ds->n_bundles + nb, ds->n_items, ds->n_attrs);
	if (err != FB_OK) {
		goto out;
	}
	uint32_t NB = x->n_bundles;
	if ((err = csr_extend(&x->ub_train, &ds->ub_train, NB, nu, uptr,
			     ucol)) != FB_OK ||
			(err = csr_extend(&x->ub_tune, &ds->ub_tune, NB, nu,
					 zptr, NULL)) != FB_OK ||
			(err = csr_extend(&x->ub_test, &ds->ub_test, NB, nu,
					 zptr, NULL)) != FB_OK ||
			(err = csr_extend(&x->ui, &ds->ui, ds->n_items, nu,
					 zptr, NULL)) != FB_OK ||
			(err = csr_extend(&x->bi, &ds->bi, ds->n_items, nb,
					 bptr, bcol)) != FB_OK ||
			(err = csr_extend(&x->ia, &ds->ia, ds->n_attrs, 0, NULL,
					 NULL)) != FB_OK ||
			(err = fb_dataset_check(x)) != FB_OK) {
		goto out;
	}
	*out = x;
	x = NULL;
out:
	fb_dataset_destroy(x);
	free(bptr);
	free(bcol);
	free(uptr);
	free(zptr);
	free(ucol);
	return err;
}

// ---- the runs ----

struct run_info {
	double epsilon;     // the accountant's, spent by the run
	double sigma;       // noise multiplier added
	uint64_t releases;  // noised releases (per retailer: the largest)
	bool private_noise; // noise from the CSPRNG and present
};

// Opens user-level DP for a central run over x under cfg.
static fb_err
open_dp(struct fb_dp **dp, const struct args *a, const struct fb_dataset *x,
		const struct fb_train_config *cfg, const struct canaries *c,
		struct fb_ledger *ledger)
{
	struct fb_dp_config d;
	fb_dp_config_defaults(&d);
	d.mode = FB_DP_USER;
	d.epsilon = a->epsilon;
	d.delta = a->delta;
	d.q = a->q;
	d.accountant = FB_ACCT_PLD;
	d.users = c->real_users + c->m; // declared, whatever the coins
	d.seeded = a->have_seed;
	d.seed = a->seed ^ 0x5eedULL;
	d.test_no_noise = a->no_noise;
	struct fb_release_layout L;
	fb_train_release_layout(cfg, x->n_items, x->n_bundles, &L);
	return fb_dp_open(dp, &d, ledger, L.len,
			fb_fit_dp_steps(cfg->epochs, a->q));
}

// White-box: fit.c's dp_epoch, step for step, with the canaries that are
// in added to the exact sum before the noise, and every release scored.
static fb_err
run_whitebox(const struct fb_dataset *x, const struct fb_train_config *cfg,
		struct fb_dp *dp, struct canaries *c, const struct args *a)
{
	struct fb_model model = {0};
	struct fb_matrix users = {0};
	struct fb_trainer *t = NULL;
	struct fb_rep_grad g = {0};
	const struct fb_dp_config *dc = fb_dp_config_of(dp);
	struct fb_release_layout L;
	fb_train_release_layout(cfg, x->n_items, x->n_bundles, &L);
	uint32_t *sampled = malloc(((size_t)x->n_users + 1) * sizeof(*sampled));
	uint32_t *csampled = malloc(((size_t)c->m + 1) * sizeof(*csampled));
	int64_t *release = malloc((L.len + 1) * sizeof(*release));
	fb_err err = sampled == NULL || csampled == NULL || release == NULL
			? FB_ENOMEM
			: FB_OK;
	uint32_t n_attrs = cfg->hp.use_attrs ? x->n_attrs : 0;
	if (err != FB_OK ||
			(err = fb_model_init(&model, x->n_items, x->n_bundles,
					 n_attrs, cfg->hp.dim)) != FB_OK ||
			(err = fb_matrix_init(&users, x->n_users,
					 cfg->hp.dim)) != FB_OK) {
		goto out;
	}
	// The initialisation of fb_fit.
	struct fb_rng rng;
	fb_rng_seed(&rng, cfg->seed, 0x1417ULL);
	fb_model_randomize(&model, &rng, (float)cfg->hp.init_std);
	fb_matrix_randn(&users, &rng, (float)cfg->hp.init_std);
	if (cfg->public_init) {
		err = fb_pretrain_items(&model.V, &x->bi, 20,
				(float)(cfg->hp.init_std *
						sqrt((double)cfg->hp.dim)),
				&rng);
		if (err != FB_OK) {
			goto out;
		}
		fb_matrix_zero(&model.W);
	}
	fb_train_init_bias(cfg, &model, &users);
	if ((err = fb_trainer_create(&t, x, &model, &users, cfg)) != FB_OK ||
			(err = fb_rep_grad_init(&g, &model)) != FB_OK) {
		goto out;
	}
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(t, &n_active);
	int32_t grid = fb_dp_grid_log2(dp);
	int64_t bump = (int64_t)floor(dc->clip / ldexp(1.0, grid));
	double scale = ldexp(1.0, grid) / (dc->q * (double)dc->users);
	uint64_t steps = (uint64_t)ceil(1.0 / dc->q);
	for (uint32_t epoch = 1; epoch <= cfg->epochs; epoch++) {
		for (uint64_t s = 0; s < steps && err == FB_OK; s++) {
			err = fb_dp_begin_release_deferred(
					dp, fb_dp_releases(dp) + 1);
			if (err != FB_OK) {
				break;
			}
			uint32_t nm, k;
			fb_dp_sample(dp, active, n_active, sampled, &nm);
			uint64_t stream = ((uint64_t)epoch << 24) + s;
			err = fb_trainer_batch_release(t, sampled, nm, dc->clip,
					grid, stream, release, L.len, NULL);
			if (err != FB_OK) {
				break;
			}
			// The canaries in, Poisson-sampled like every user:
			// each a contribution of norm exactly C.
			fb_dp_sample(dp, c->in_list, c->n_in, csampled, &k);
			for (uint32_t i = 0; i < k; i++) {
				release[c->coord[csampled[i]]] += bump;
			}
			err = fb_dp_noise_i64(dp, release, L.len);
			if (err != FB_OK) {
				break;
			}
			for (uint32_t j = 0; j < c->m; j++) {
				c->score[j] += (double)release[c->coord[j]] /
						(double)bump;
			}
			err = fb_trainer_release_unpack(
					t, release, L.len, scale, &g);
			if (err == FB_OK) {
				err = fb_trainer_apply(t, &g);
			}
		}
		if (err != FB_OK) {
			break;
		}
		if (!a->quiet && cli_stderr_is_tty()) {
			fprintf(stderr, "\raudit: epoch %u of %u", epoch,
					cfg->epochs);
		}
	}
	if (!a->quiet && cli_stderr_is_tty()) {
		fputc('\n', stderr);
	}
	fb_err sync_err = fb_dp_sync(dp);
	err = err != FB_OK ? err : sync_err;
	// Centre each column of the canary bundles: real users' negatives
	// move every bundle, by amounts that differ per column (the bias
	// column always the same way), the same for canaries in and out.
	for (uint32_t col = 0; err == FB_OK && col < c->per_bundle; col++) {
		double mean = 0;
		uint32_t n = 0;
		for (uint32_t j = col; j < c->m; j += c->per_bundle) {
			mean += c->score[j];
			n++;
		}
		mean /= n > 0 ? n : 1;
		for (uint32_t j = col; j < c->m; j += c->per_bundle) {
			c->score[j] -= mean;
		}
	}
out:
	fb_trainer_destroy(t);
	fb_rep_grad_finish(&g);
	fb_model_finish(&model);
	fb_matrix_finish(&users);
	free(sampled);
	free(csampled);
	free(release);
	return err;
}

// Black-box scores from a released model: each canary bundle's bias
// factor (or, without a bias, its squared factor norm), centred.
static void
score_model(const struct fb_model *model, bool bias, struct canaries *c)
{
	size_t d = model->dim;
	double mean = 0;
	for (uint32_t j = 0; j < c->m; j++) {
		const float *w = fb_matrix_row(&model->W, c->bundle0 + j);
		double s = 0;
		if (bias) {
			s = w[d - 1];
		} else {
			for (size_t k = 0; k < d; k++) {
				s += (double)w[k] * w[k];
			}
		}
		c->score[j] = s;
		mean += s / c->m;
	}
	for (uint32_t j = 0; j < c->m; j++) {
		c->score[j] -= mean;
	}
}

static fb_err
run_blackbox(const struct fb_dataset *x, struct fb_train_config *cfg,
		struct fb_dp *dp, struct canaries *c, struct run_info *info)
{
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_fit_result res;
	// One evaluation, after the last epoch: the released model is the
	// last one, not one chosen on the tune split.
	cfg->eval_every = cfg->epochs;
	cfg->patience = 0;
	fb_err err = fb_fit(x, cfg, dp, &model, &P, NULL, NULL, &res);
	if (err == FB_OK) {
		score_model(&model, cfg->hp.bias, c);
		info->epsilon = res.epsilon;
	}
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	return err;
}

// The federation of docs/research/youshu-sim.json (the DP configuration
// of the central runs) on x, written to tmp/data.
static fb_err
run_federated(const struct fb_dataset *x, const struct args *a, const char *tmp,
		struct canaries *c, struct run_info *info)
{
	char data[SIM_PATH_MAX + 16], out[SIM_PATH_MAX + 16];
	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(out, sizeof(out), "%s/sim", tmp);
	fb_err err = fb_dataset_save(x, data);
	if (err != FB_OK) {
		return err;
	}
	uint64_t seed = a->seed;
	if (!a->have_seed) {
		// The simulation's noise is always seeded; without --seed
		// the seed is secret and never printed.
		randombytes_buf(&seed, sizeof(seed));
		seed &= (UINT64_C(1) << 53) - 1;
	}
	char json[4096];
	snprintf(json, sizeof(json),
			"{\"data\": \"%s\", \"retailers\": %u, \"partition\": "
			"\"iid\", \"rounds\": %u, \"privacy\": \"user\", "
			"\"epsilon\": %.17g, \"seed\": %llu, \"threads\": %u, "
			"\"eval_every\": %u, \"accountant\": \"pld\", "
			"\"server\": {\"public_init\": true, "
			"\"server_optimizer\": \"fedavg\", \"server_lr\": 1}, "
			"\"round\": {\"optimizer\": \"sgd\", \"lr\": 20, "
			"\"bias\": true, \"train_items\": false, "
			"\"bundle_rank\": 8, \"lr_user\": 0.02, \"q\": %.17g, "
			"\"clip\": 1, \"local_epochs\": 1, \"delta\": %.17g, "
			"\"dim\": 64}}",
			data, a->retailers, a->rounds, a->epsilon,
			(unsigned long long)seed, a->threads, a->rounds, a->q,
			a->delta);
	struct sim_config sc;
	sim_config_defaults(&sc);
	err = sim_config_parse(&sc, "audit", json, strlen(json), NULL);
	if (err != FB_OK) {
		return err;
	}
	struct fb_model model = {0};
	struct sim_options so = {0};
	so.quiet = true;
	so.command = "fedbundle audit membership";
	so.final_model = &model;
	so.test_no_noise = a->no_noise;
	so.test_shared_stream = a->shared_stream;
	struct sim_result res;
	err = sim_run(&sc, out, &so, &res);
	if (err == FB_OK) {
		score_model(&model, true, c);
		info->epsilon = res.epsilon;
		info->sigma = res.noise_multiplier;
		info->releases = (uint64_t)res.rounds *
				(uint64_t)ceil(1.0 / a->q);
	}
	fb_model_finish(&model);
	return err;
}

// ---- guesses and the bound ----

struct scored {
	double s;
	uint32_t j;
};

static int
cmp_scored(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->s != y->s) {
		return x->s < y->s ? -1 : 1;
	}
	return (x->j > y->j) - (x->j < y->j); // ties: by index, not coin
}

struct verdict {
	double epsilon_lower;
	uint32_t k;       // guesses "in" and "out" each
	uint64_t correct; // of 2k
	double ceiling;   // the largest bound m canaries could give
};

static fb_err
judge(const struct canaries *c, double delta, double beta, struct verdict *v)
{
	struct scored *o = malloc(((size_t)c->m + 1) * sizeof(*o));
	if (o == NULL) {
		return FB_ENOMEM;
	}
	for (uint32_t j = 0; j < c->m; j++) {
		o[j].s = isfinite(c->score[j]) ? c->score[j] : 0;
		o[j].j = j;
	}
	qsort(o, c->m, sizeof(*o), cmp_scored);
	memset(v, 0, sizeof(*v));
	double b = beta / (double)N_SHARES;
	fb_err err = FB_OK;
	for (size_t i = 0; i < N_SHARES && err == FB_OK; i++) {
		uint32_t k = (uint32_t)floor(k_shares[i] * c->m);
		k = k < 1 ? 1 : k;
		uint64_t right = 0;
		for (uint32_t l = 0; l < k; l++) {
			right += c->in[o[c->m - 1 - l].j] ? 1 : 0;
			right += c->in[o[l].j] ? 0 : 1;
		}
		double e, top;
		err = fb_auditbound_epsilon(
				c->m, 2 * (uint64_t)k, right, delta, b, &e);
		if (err == FB_OK) {
			err = fb_auditbound_ceiling(
					c->m, 2 * (uint64_t)k, delta, b, &top);
		}
		if (err == FB_OK && (i == 0 || e > v->epsilon_lower)) {
			v->epsilon_lower = e;
			v->k = k;
			v->correct = right;
		}
		if (err == FB_OK && top > v->ceiling) {
			v->ceiling = top;
		}
	}
	free(o);
	return err;
}

// ---- the command ----

static void
print_result(const struct args *a, const char *dataset,
		const struct canaries *c, const struct run_info *info,
		const struct verdict *v, double seconds)
{
	bool violation = v->epsilon_lower > info->epsilon;
	double tight = info->epsilon > 0 ? v->epsilon_lower / info->epsilon : 0;
	if (a->json) {
		printf("{\"mode\": \"%s\", \"dataset\": ", mode_names[a->mode]);
		fb_config_write_string(stdout, dataset);
		printf(", \"epsilon\": %.6f, \"epsilon_target\": %g, "
		       "\"delta\": %g, \"accountant\": \"pld\", \"sigma\": %.6f, "
		       "\"q\": %g, \"releases\": %llu, \"epsilon_lower\": %.6f, "
		       "\"confidence\": %g, \"canaries\": %u, \"canaries_in\": "
		       "%u, \"k\": %u, \"guesses\": %llu, \"correct\": %llu, "
		       "\"k_choices\": %zu, \"epsilon_lower_max\": %.6f, "
		       "\"tightness\": %.6f, \"violation\": %s, \"private\": %s, "
		       "\"test_no_noise\": %s, \"test_shared_stream\": %s, "
		       "\"seed\": ",
				info->epsilon, a->epsilon, a->delta,
				info->sigma, a->q,
				(unsigned long long)info->releases,
				v->epsilon_lower, a->confidence, c->m, c->n_in,
				v->k, 2 * (unsigned long long)v->k,
				(unsigned long long)v->correct, N_SHARES,
				v->ceiling, tight, violation ? "true" : "false",
				info->private_noise && !a->have_seed ? "true"
								     : "false",
				a->no_noise ? "true" : "false",
				a->shared_stream ? "true" : "false");
		if (a->have_seed) {
			printf("%llu", (unsigned long long)a->seed);
		} else {
			printf("null");
		}
		printf(", \"seconds\": %.3f}\n", seconds);
		return;
	}
	printf("audit membership: mode %s, dataset %s, %u canaries (%u in)\n",
			mode_names[a->mode], dataset, c->m, c->n_in);
	printf("  accountant: epsilon %.4f at delta %g (pld), noise "
	       "multiplier %.4f, q %g, %llu releases\n",
			info->epsilon, a->delta, info->sigma, a->q,
			(unsigned long long)info->releases);
	printf("  guesses: %u in + %u out, %llu of %llu right (k chosen "
	       "among %zu shares of m, each tested at confidence %.4g)\n",
			v->k, v->k, (unsigned long long)v->correct,
			2 * (unsigned long long)v->k, N_SHARES,
			1 - (1 - a->confidence) / N_SHARES);
	printf("  epsilon_lower %.4f at confidence %g (tightness %.3f; %u "
	       "canaries can show at most %.2f)\n",
			v->epsilon_lower, a->confidence, tight, c->m,
			v->ceiling);
	printf("  %s\n",
			violation ? "VIOLATION: epsilon_lower is above the "
				    "accountant's epsilon"
				  : "consistent: epsilon_lower <= epsilon");
	printf("  %.1f s\n", seconds);
}

int
audit_membership(int argc, char **argv)
{
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	if (a.have_seed || a.no_noise || a.shared_stream) {
		fprintf(stderr,
				"audit membership: %s%s%s: this run is NOT "
				"PRIVATE (an audit of the code, never of real "
				"users' data)\n",
				a.have_seed ? "coins, sampling and noise from "
					      "--seed"
					    : "",
				a.no_noise ? " --test-no-noise: NO NOISE" : "",
				a.shared_stream ? " --test-shared-stream: the "
						  "BROKEN shared negative stream"
						: "");
	}
	fb_log_set_level(FB_LOG_ERROR);
	fb_blas_set_threads(1);
	double t0 = fb_clock_s();
	struct fb_dataset *ds = NULL, *x = NULL;
	struct canaries c = {0};
	struct fb_dp *dp = NULL;
	struct fb_ledger *held = NULL; // the run's ledger, under dp
	struct run_info info = {0};
	struct verdict v;
	// The ledger, and the federation's files, are thrown away after the
	// run: in memory (/dev/shm) where there is one, so that the fsyncs
	// that guard a real ledger cost nothing here.
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s/fedbundle-audit-XXXXXX",
			access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	bool have_tmp = false;
	int status = 1;
	fb_err err = fb_dataset_load(&ds, a.data);
	if (err != FB_OK) {
		cli_fail(cmd, err, "cannot load the dataset");
		status = 2;
		goto out;
	}
	struct fb_train_config cfg;
	fb_train_config_defaults_dp(&cfg);
	cfg.epochs = a.epochs > 0 ? a.epochs : cfg.epochs;
	cfg.threads = a.threads;
	cfg.seed = a.have_seed ? (a.seed & ((UINT64_C(1) << 53) - 1)) : 1;
	cfg.test_shared_stream = a.shared_stream;
	struct fb_release_layout L;
	fb_train_release_layout(&cfg, ds->n_items, ds->n_bundles, &L);
	c.m = a.canaries;
	c.per_bundle = a.mode == MODE_WHITEBOX ? L.lead : 1;
	c.n_bundles = (c.m + c.per_bundle - 1) / c.per_bundle;
	if ((err = draw_coins(&c, &a)) != FB_OK ||
			(err = build_dataset(&x, ds, &c,
					 a.mode != MODE_WHITEBOX, cfg.seed)) !=
					FB_OK) {
		cli_fail(cmd, err, "cannot add the canaries");
		goto out;
	}
	if (mkdtemp(tmp) == NULL) {
		cli_fail(cmd, fb_errorf(FB_EIO, "%s: cannot create", tmp),
				"temporary folder");
		goto out;
	}
	have_tmp = true;
	if (!a.quiet) {
		fprintf(stderr,
				"audit: %s on %s: %u users + %u canaries, %u "
				"bundles + %u canary bundles, epsilon %g\n",
				mode_names[a.mode], ds->name, ds->n_users, c.m,
				ds->n_bundles, c.n_bundles, a.epsilon);
	}
	if (a.mode == MODE_FEDERATED) {
		err = run_federated(x, &a, tmp, &c, &info);
		info.private_noise = false; // the simulation's noise is seeded
	} else {
		char ledger[sizeof(tmp) + 32];
		snprintf(ledger, sizeof(ledger), "%s/privacy.ledger", tmp);
		err = fb_ledger_open(&held, ledger, true);
		if (err == FB_OK) {
			err = open_dp(&dp, &a, x, &cfg, &c, held);
		}
		if (err == FB_OK && a.mode == MODE_WHITEBOX) {
			c.in_list = malloc(
					((size_t)c.m + 1) * sizeof(*c.in_list));
			c.coord = malloc(((size_t)c.m + 1) * sizeof(*c.coord));
			struct fb_release_layout LX;
			fb_train_release_layout(
					&cfg, x->n_items, x->n_bundles, &LX);
			if (c.in_list == NULL || c.coord == NULL) {
				err = FB_ENOMEM;
			}
			// Canary j: column j % per_bundle of canary bundle
			// j / per_bundle (leading columns: never the bias).
			uint32_t n = 0;
			for (uint32_t j = 0; err == FB_OK && j < c.m; j++) {
				c.coord[j] = (size_t)(c.bundle0 +
							     j / c.per_bundle) *
								LX.per_bundle +
						j % c.per_bundle;
				if (c.in[j]) {
					c.in_list[n++] = j;
				}
			}
			if (err == FB_OK) {
				err = run_whitebox(x, &cfg, dp, &c, &a);
			}
		} else if (err == FB_OK) {
			err = run_blackbox(x, &cfg, dp, &c, &info);
		}
		if (err == FB_OK) {
			size_t rel = 0;
			err = fb_dp_spent(dp, &info.epsilon, &rel);
			info.releases = rel;
			info.sigma = fb_dp_sigma_noise(dp);
			info.private_noise = fb_dp_is_private(dp);
		}
	}
	if (err != FB_OK) {
		cli_fail(cmd, err, "the audited run failed");
		goto out;
	}
	if (a.no_noise) {
		info.sigma = 0;
	}
	err = judge(&c, a.delta, 1 - a.confidence, &v);
	if (err != FB_OK) {
		cli_fail(cmd, err, "cannot compute the bound");
		goto out;
	}
	print_result(&a, ds->name, &c, &info, &v, fb_clock_s() - t0);
	status = v.epsilon_lower > info.epsilon ? 1 : 0;
out:
	fb_dp_close(dp);
	fb_ledger_close(held);
	if (have_tmp) {
		sim_remove_tree(tmp);
	}
	canaries_finish(&c);
	fb_dataset_destroy(x);
	fb_dataset_destroy(ds);
	return status;
}
