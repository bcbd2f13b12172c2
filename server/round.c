// server/round.c: the round state machine of protocols/wire-v1.md §6.2 and
// the federation state it drives (round.h). Invariants: the model changes
// only in commit(), and only for a round that reached the quorum or, under
// client-level DP, for every planned round (accounted when planned, so
// that whether it commits never depends on what arrived); a round
// id is written to disk (planned marker) before its first PLAN leaves and
// is never planned again; the running sum holds only checked updates of
// the current round's participants that arrived before the deadline.
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/model/pretrain.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"
#include "oplog.h"
#include "round.h"

static void __attribute__((format(printf, 3, 4)))
set_over(struct agg_fed *fed, uint64_t now_ms, const char *fmt, ...)
{
	if (fed->state == AGG_OVER) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fed->over_reason, sizeof(fed->over_reason), fmt, ap);
	va_end(ap);
	fed->state = AGG_OVER;
	fed->over_since_ms = now_ms;
	fb_log(FB_LOG_INFO, "training over: %s", fed->over_reason);
	if (fed->observer != NULL) {
		fed->observer(fed->observer_ctx, fed, AGG_EV_OVER);
	}
}

// The plan's configuration from the "round" section and the model.
static void
fill_plan_config(struct agg_fed *fed)
{
	const struct agg_round_config *r = &fed->cfg->round;
	struct fb_wire_round_config *p = &fed->plan_cfg;
	memset(p, 0, sizeof(*p));
	p->granularity = (uint8_t)r->granularity;
	p->sampling_rate = r->q;
	p->noise_multiplier = 0;
	p->clip_norm = r->clip;
	p->delta = r->delta;
	p->local_epochs = r->local_epochs;
	p->local_steps = r->local_steps;
	p->report_eval = r->report_eval;
	p->update_dtype = FB_WIRE_DTYPE_F32;
	p->update_exp = 0;
	p->has_train_opts = true;
	p->hp = r->hp;
	p->hp.use_attrs = fed->model.n_attrs > 0;
	p->min_users = r->granularity == FB_WIRE_GRAN_USER ? r->min_users : 0;
	// federation_id: set once by federation_id().
	fed->steps_per_round = r->local_steps > 0
			? r->local_steps
			: r->local_epochs * (uint32_t)ceil(1.0 / r->q);
}

// What the round's clients train: the one release layout (hparams.h)
// of the plan's hyper-parameters, which the clients' trainers and their
// user-level releases use too, so the coordinates the aggregator sums,
// masks and accounts for are the clients' by construction.
static void
round_layout(const struct agg_fed *fed, struct fb_release_layout *L)
{
	fb_hparams_release_layout(&fed->plan_cfg.hp, fed->model.n_items,
			fed->model.n_bundles, L);
}

// How many coordinates of V, W and M the round trains: the others stay as
// planned, so they carry no data.
static size_t
trained_coordinates(const struct agg_fed *fed)
{
	struct fb_release_layout L;
	round_layout(fed, &L);
	return fb_release_model_len(&L, fed->model.n_attrs);
}

// Zeroes, in the summed update, the coordinates the round does not train:
// honest clients send exact zeros there, and nothing else may reach the
// model unnoised.
static void
mask_untrained(const struct agg_fed *fed, struct fb_model *sum)
{
	struct fb_release_layout L;
	round_layout(fed, &L);
	fb_release_mask_bundles(&L, sum->W.data, sum->W.rows);
	if (!L.items) {
		fb_matrix_zero(&sum->V);
		fb_matrix_zero(&sum->M);
	}
}

// User-level DP: the noise multiplier every client adds. Calibrated, when
// not given, so that rounds x steps releases at rate q spend
// target_epsilon, with the fixed-point grid's terms that the clients
// account (accountant.h): their releases hold the release layout's
// coordinates (hparams.h), with noise of at least 2^26 grid steps when the clip does
// not bind the grid (dp.h, fb_dp_grid_for), else what the first pass
// gives. The clients bound each user's contribution on the grid exactly
// (dp.h), so what they account is what they add.
static fb_err
user_sigma(struct agg_fed *fed, double *sigma)
{
	const struct agg_config *cfg = fed->cfg;
	const struct agg_round_config *r = &cfg->round;
	if (r->noise_multiplier > 0) {
		*sigma = r->noise_multiplier;
		return FB_OK;
	}
	double s = 0;
	uint64_t steps = (uint64_t)cfg->rounds * fed->steps_per_round;
	enum fb_acct_kind kind = (enum fb_acct_kind)cfg->accountant;
	fb_err err = fb_acct_calibrate_sigma(kind, r->q, steps, NULL,
			r->target_epsilon, r->delta, &s);
	if (err != FB_OK) {
		return err;
	}
	double noise = s * r->clip /
			ldexp(1.0, fb_dp_grid_for(s * r->clip, r->clip));
	// The clients' user-level release: exactly the layout's coordinates.
	struct fb_release_layout L;
	round_layout(fed, &L);
	struct fb_acct_grid g = {L.len, noise < 0x1p26 ? noise : 0x1p26};
	err = fb_acct_calibrate_sigma(
			kind, r->q, steps, &g, r->target_epsilon, r->delta, &s);
	if (err != FB_OK) {
		return err;
	}
	*sigma = s;
	fb_log(FB_LOG_INFO,
			"user-level DP: noise multiplier %.6f calibrated for "
			"epsilon %g, delta %g over %u rounds x %u releases at "
			"q %g (%s)",
			*sigma, r->target_epsilon, r->delta, cfg->rounds,
			fed->steps_per_round, r->q,
			fb_acct_kind_name((enum fb_acct_kind)cfg->accountant));
	return FB_OK;
}

// Client-level DP: the aggregator's own ledger and accountant.
static fb_err
open_client_dp(struct agg_fed *fed, const struct agg_ledger_anchor *anchor)
{
	const struct agg_config *cfg = fed->cfg;
	const struct agg_round_config *r = &cfg->round;
	struct fb_dp_config d;
	fb_dp_config_defaults(&d);
	d.mode = FB_DP_CLIENT;
	d.epsilon = r->target_epsilon;
	d.delta = r->delta;
	d.clip = r->clip;
	d.q = cfg->participation == AGG_PART_SAMPLED ? cfg->q_clients : 1.0;
	d.sigma = r->noise_multiplier;
	d.accountant = (enum fb_acct_kind)cfg->accountant;
	d.seeded = cfg->seeded_noise; // a simulation only (config.h)
	d.seed = cfg->noise_seed;
	size_t dim = trained_coordinates(fed);
	// Locked for the daemon's life before anything reads it; created
	// only if the checkpoint anchors no entry.
	fb_err err = fb_ledger_open(
			&fed->ledger, fed->ledger_path, anchor->count == 0);
	if (err != FB_OK) {
		return err;
	}
	// The ledger must hold at least what the checkpoint saw (a count of 0
	// anchors nothing).
	if (anchor->count > 0) {
		err = fb_ledger_check_anchor(
				fed->ledger, anchor->count, anchor->head);
	}
	if (err != FB_OK) {
		return fb_errorf(err,
				"aggregator ledger %s does not match the "
				"checkpoint (%llu entries): %s",
				fed->ledger_path,
				(unsigned long long)anchor->count,
				fb_last_error(err));
	}
	err = fb_dp_open(&fed->dp, &d, fed->ledger, dim, cfg->rounds);
	if (err != FB_OK) {
		return err;
	}
	struct fb_release_layout L;
	round_layout(fed, &L);
	err = agg_central_init(&fed->central, &fed->model, &L, r->clip,
			fb_dp_grid_log2(fed->dp));
	if (err != FB_OK) {
		return err;
	}
	double spent = 0;
	size_t rel = 0;
	fb_dp_spent(fed->dp, &spent, &rel);
	fb_log(FB_LOG_INFO,
			"client-level DP at the aggregator: noise multiplier "
			"%.6f, clip %g, q %g, budget epsilon %g delta %g; "
			"ledger %s: %zu releases, epsilon %.4f spent",
			fb_dp_sigma_noise(fed->dp), r->clip, d.q, d.epsilon,
			d.delta, fed->ledger_path, rel, spent);
	return FB_OK;
}

// The aggregator's CSPRNG, or the seeded generator of a simulation.
static fb_err
open_noise(struct agg_fed *fed)
{
	if (!fed->cfg->seeded_noise) {
		return fb_noise_create(&fed->rng);
	}
	uint8_t seed[FB_NOISE_SEED_LEN] = {0};
	for (int k = 0; k < 8; k++) {
		seed[k] = (uint8_t)(fed->cfg->noise_seed >> (8 * k));
	}
	return fb_noise_create_seeded(&fed->rng, seed);
}

// The federation id TRAIN plans carry (wire-v1 §2.3, §5.3.1 0x001c): kept
// from checkpoint_dir/federation-id while a round numbering is resumed,
// drawn from the CSPRNG when the numbering starts again at 1 (whatever
// the file says: the same id with restarted round ids would make every
// client refuse every plan as completed), and durable before any PLAN.
static fb_err
federation_id(struct agg_fed *fed)
{
	char path[AGG_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/federation-id",
			fed->cfg->checkpoint_dir);
	uint8_t *id = fed->plan_cfg.federation_id;
	bool found = false;
	fb_err err = agg_federation_read(path, id, &found);
	if (err != FB_OK && fed->last_planned > 0) {
		return err; // resuming: the operator must repair or remove it
	}
	char old[2 * FB_WIRE_FEDERATION_ID_LEN + 1] = "none";
	if (found) {
		sodium_bin2hex(old, sizeof(old), id, FB_WIRE_FEDERATION_ID_LEN);
	}
	if (found && fed->last_planned > 0) {
		fb_log(FB_LOG_INFO,
				"federation %s: round numbering resumed "
				"after round %u",
				old, fed->last_planned);
		return FB_OK;
	}
	do {
		randombytes_buf(id, FB_WIRE_FEDERATION_ID_LEN);
	} while (!fb_wire_federation_id_set(id));
	char hex[2 * FB_WIRE_FEDERATION_ID_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), id, FB_WIRE_FEDERATION_ID_LEN);
	if (fed->last_planned > 0) {
		// Round ids go on increasing: clients reset their counters for
		// the new id and accept the next round as they would have.
		fb_log(FB_LOG_WARN,
				"%s: no federation id: new federation %s, round "
				"numbering continued after round %u",
				path, hex, fed->last_planned);
	} else {
		fb_log(FB_LOG_INFO,
				"new federation %s (previous id: %s): round "
				"numbering starts at 1",
				hex, old);
	}
	return agg_federation_write(path, id);
}

fb_err
agg_fed_init(struct agg_fed *fed, const struct agg_config *cfg,
		const struct fb_dataset *ds, const struct fb_roster *roster,
		uint64_t now_ms)
{
	memset(fed, 0, sizeof(*fed));
	fed->cfg = cfg;
	fed->started_ms = now_ms;
	fed->human = stdout;
	const struct agg_round_config *r = &cfg->round;
	uint32_t n_attrs = r->hp.use_attrs ? ds->n_attrs : 0;
	fb_err err = fb_model_init(&fed->model, ds->n_items, ds->n_bundles,
			n_attrs, r->hp.dim);
	if (err != FB_OK) {
		goto fail;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, cfg->seed, 0x1417ULL);
	fb_model_randomize(&fed->model, &rng, (float)cfg->init_std);
	if (cfg->public_init) {
		// As fb_fit does: public item factors, bundle factors from 0.
		err = fb_pretrain_items(&fed->model.V, &ds->bi, 20,
				(float)(cfg->init_std *
						sqrt((double)r->hp.dim)),
				&rng);
		if (err != FB_OK) {
			goto fail;
		}
		fb_matrix_zero(&fed->model.W);
	}
	if (r->hp.bias) {
		// The bias coordinates start at 0 (train.h fb_train_init_bias).
		struct fb_matrix *mats[3] = {
				&fed->model.V, &fed->model.W, &fed->model.M};
		for (int k = 0; k < 3; k++) {
			for (size_t row = 0; row < mats[k]->rows; row++) {
				fb_matrix_row(mats[k], row)[r->hp.dim - 1] =
						0.0f;
			}
		}
	}
	if ((err = agg_opt_init(&fed->opt, cfg->server_optimizer,
			     cfg->server_lr, cfg->server_beta1,
			     cfg->server_beta2, cfg->server_tau,
			     &fed->model)) != FB_OK ||
			(err = agg_accum_init(&fed->acc, &fed->model)) !=
					FB_OK ||
			(err = open_noise(fed)) != FB_OK) {
		goto fail;
	}
	fed->n_clients = (uint32_t)fb_roster_count(roster);
	if (fed->n_clients == 0) {
		err = fb_errorf(FB_EINVAL, "the roster enrolls no client");
		goto fail;
	}
	fed->clients = calloc(fed->n_clients, sizeof(*fed->clients));
	if (fed->clients == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		snprintf(fed->clients[c].name, sizeof(fed->clients[c].name),
				"%s", fb_roster_at(roster, c)->name);
		memcpy(fed->clients[c].pk, fb_roster_at(roster, c)->pk,
				FB_ID_PK_LEN);
		fed->clients[c].max_users = fb_roster_at(roster, c)->max_users;
	}
	if (cfg->quorum > fed->n_clients) {
		err = fb_errorf(FB_EINVAL,
				"quorum %u is more than the %u enrolled clients",
				cfg->quorum, fed->n_clients);
		goto fail;
	}
	err = fb_mkdir_p(cfg->checkpoint_dir);
	if (err != FB_OK) {
		goto fail;
	}
	snprintf(fed->ckpt_path, sizeof(fed->ckpt_path), "%s/checkpoint.fbc",
			cfg->checkpoint_dir);
	snprintf(fed->planned_path, sizeof(fed->planned_path),
			"%s/planned-round", cfg->checkpoint_dir);
	snprintf(fed->ledger_path, sizeof(fed->ledger_path),
			"%s/aggregator.ledger", cfg->checkpoint_dir);
	bool found = false;
	struct agg_ledger_anchor anchor = {0};
	fb_catdir_digest(ds, fed->catver.new_digest);
	if ((err = agg_checkpoint_load(fed, &found, &anchor)) != FB_OK ||
			(err = agg_catver_store(cfg->checkpoint_dir,
					 cfg->catalog,
					 fed->catver.new_digest)) != FB_OK) {
		goto fail;
	}
	fed->resumed = found;
	uint32_t planned = 0;
	if ((err = agg_planned_read(fed->planned_path, &planned)) != FB_OK) {
		goto fail;
	}
	if (planned > fed->last_planned) {
		fed->last_planned = planned;
	}
	if (found) {
		fb_log(FB_LOG_INFO,
				"resuming from %s: last committed round %u, "
				"last planned round %u",
				fed->ckpt_path, fed->last_committed,
				fed->last_planned);
	}
	fed->round = fed->last_planned;
	fed->earlier_life = fed->last_planned;
	fill_plan_config(fed);
	// Clients refuse a plan of another catalogue (wire-v1 §5.3.1).
	fb_catdir_digest(ds, fed->plan_cfg.catalog_digest);
	fed->plan_cfg.has_catalog_digest = true;
	if ((err = federation_id(fed)) != FB_OK) {
		goto fail;
	}
	if (r->granularity == FB_WIRE_GRAN_USER && r->min_users == 0) {
		err = fb_errorf(FB_EINVAL,
				"round.min_users: required with granularity "
				"user (protocols/wire-v1.md §9.7)");
		goto fail;
	}
	if ((err = fb_bound_catalog(ds, &fed->plan_cfg.hp, &fed->catalog)) !=
			FB_OK) {
		goto fail;
	}
	if (r->granularity == FB_WIRE_GRAN_USER) {
		err = user_sigma(fed, &fed->plan_cfg.noise_multiplier);
	} else if (r->granularity == FB_WIRE_GRAN_CLIENT) {
		err = open_client_dp(fed, &anchor);
		if (err == FB_OK) {
			fed->plan_cfg.noise_multiplier =
					fb_dp_sigma_noise(fed->dp);
		}
	}
	if (err == FB_OK) {
		err = agg_secround_init(&fed->sa, cfg, ds, &fed->model,
				fed->n_clients, fed->plan_cfg.noise_multiplier);
	}
	if (err == FB_OK && fed->catver.changed) {
		err = agg_checkpoint_adopt(fed);
	}
	if (err != FB_OK) {
		goto fail;
	}
	fed->state = AGG_IDLE;
	fed->idle_since_ms = now_ms;
	return FB_OK;
fail:
	agg_fed_finish(fed);
	return err;
}

void
agg_fed_finish(struct agg_fed *fed)
{
	if (fed == NULL) {
		return;
	}
	fb_model_finish(&fed->model);
	agg_opt_finish(&fed->opt);
	agg_accum_finish(&fed->acc);
	agg_central_finish(&fed->central);
	agg_secround_finish(&fed->sa);
	agg_catver_finish(&fed->catver);
	free(fed->clients);
	fed->clients = NULL;
	fb_noise_destroy(fed->rng);
	fed->rng = NULL;
	fb_dp_close(fed->dp);
	fed->dp = NULL;
	fb_ledger_close(fed->ledger); // releases its lock
	fed->ledger = NULL;
}

static bool
answered(const struct agg_client *cl)
{
	return cl->status != AGG_CL_WAITING;
}

// How far a commit of the current sum may move the model (wire-v1 §9.7):
// FedAvg, lr (n B + noise) / divisor with B each update's limit (the clip
// under granularity client) and the noise the aggregator added; FedAdam,
// its per-coordinate step bound (*linf) times the root of the model's
// size. +infinity when the updates have no limit. Never reached unless a
// check of this file is wrong: a last line of defence.
static double
move_limit(const struct agg_fed *fed, double divisor, double *linf)
{
	const struct fb_wire_round_config *p = &fed->plan_cfg;
	const struct fb_model *m = &fed->model;
	double slack = 1 + 1e-4;
	*linf = agg_opt_step_linf(&fed->opt) * slack + 1e-30;
	if (fed->opt.kind == AGG_OPT_FEDADAM) {
		double n = (double)fb_matrix_len(&m->V) + fb_matrix_len(&m->W) +
				fb_matrix_len(&m->M);
		return *linf * sqrt(n);
	}
	double noise = 0, each = fed->limit.l2;
	if (p->granularity == FB_WIRE_GRAN_CLIENT) {
		double g = ldexp(1.0,
				fb_dp_config_of(fed->dp)->granularity_log2);
		size_t D = trained_coordinates(fed);
		noise = (fb_dp_sigma_noise(fed->dp) * p->clip_norm + g) *
						fb_bound_noise(sqrt((double)D),
								1,
								FB_BOUND_FAIL_PROB) +
				g * sqrt((double)D);
		each = p->clip_norm;
	}
	// A secure round's step is the survivors' users' weighted mean of
	// what each one's own step would be: within one honest update's bound.
	double count = fed->st.secure ? 1 : fed->acc.n;
	return fed->opt.lr * (count * each + noise) / divisor * slack + 1e-30;
}

// NULL if the model the commit would make may be committed, else why not
// (and the detail): its coordinates must be finite and within
// max_model_abs, and it must not move further than move_limit.
static const char *
candidate_problem(struct agg_fed *fed, double divisor, char *detail, size_t cap)
{
	struct agg_candidate c;
	agg_opt_check(&fed->opt, &fed->model, &fed->acc.sum, divisor, &c);
	fed->st.model_move = c.finite ? c.move_l2 : INFINITY;
	if (!c.finite) {
		snprintf(detail, cap,
				"the new model (or a FedAdam moment) would "
				"have a non-finite coordinate");
		return "non-finite-model";
	}
	if (c.max_abs > fed->cfg->max_model_abs) {
		snprintf(detail, cap,
				"the new model would have a coordinate of "
				"%.6g, above max_model_abs %g",
				c.max_abs, fed->cfg->max_model_abs);
		return "model-out-of-bounds";
	}
	double linf = INFINITY;
	double l2 = move_limit(fed, divisor, &linf);
	// The float rounding of theta + move: half an ulp of each coordinate.
	const struct fb_model *m = &fed->model;
	double theta = sqrt(fb_matrix_sqnorm(&m->V) + fb_matrix_sqnorm(&m->W) +
			fb_matrix_sqnorm(&m->M));
	l2 += ldexp(1.0, -22) * theta;
	linf += ldexp(1.0, -22) * (c.max_abs + c.move_linf);
	if (c.move_l2 > l2 || c.move_linf > linf) {
		snprintf(detail, cap,
				"the model would move by %.6g (one coordinate "
				"by %.6g), beyond the bound %.6g (%.6g)",
				c.move_l2, c.move_linf, l2, linf);
		return "moved-beyond-bound";
	}
	return NULL;
}

static bool
model_finite(const struct fb_model *m)
{
	return fb_matrix_all_finite(&m->V) && fb_matrix_all_finite(&m->W) &&
			fb_matrix_all_finite(&m->M);
}

static void
commit(struct agg_fed *fed, uint64_t now_ms)
{
	double t0 = fb_clock_s();
	const struct fb_wire_round_config *p = &fed->plan_cfg;
	double divisor = fed->acc.n;
	if (p->granularity == FB_WIRE_GRAN_CLIENT) {
		// DP-FedAvg with central noise: the release was accounted
		// when the round was planned (plan_round); noise on the sum of
		// clipped deltas, then the division by the EXPECTED number of
		// participants.
		fb_err err = fb_dp_noise_i64(
				fed->dp, fed->central.sum, fed->central.len);
		if (err == FB_OK) {
			agg_central_unpack(&fed->central, fed->central.sum,
					&fed->acc.sum);
		}
		if (err != FB_OK) {
			fb_log(FB_LOG_ERROR, "round %u: noise failed: %s",
					fed->round, fb_last_error(err));
			fed->fatal = true;
			set_over(fed, now_ms, "internal error adding noise");
			return;
		}
		divisor = fed->cfg->participation == AGG_PART_SAMPLED
				? fed->cfg->q_clients * agg_fed_enrolled(fed)
				: fed->st.participants;
	} else if (fed->st.secure) {
		// The step the clients' one DP step would make from the
		// unmasked sum, through the server optimizer undivided.
		fb_err err = agg_secround_delta(
				fed, fed->sa.sum, fed->sa.users, &fed->acc.sum);
		if (err != FB_OK) {
			fb_log(FB_LOG_ERROR, "round %u: secure step failed: %s",
					fed->round, fb_last_error(err));
			fed->fatal = true;
			set_over(fed, now_ms,
					"internal error in a secure step");
			return;
		}
		divisor = 1;
	}
	mask_untrained(fed, &fed->acc.sum);
	char detail[200];
	const char *why =
			candidate_problem(fed, divisor, detail, sizeof(detail));
	if (why != NULL) {
		// Never applied, never checkpointed: the round is abandoned
		// and the next one is planned from the same model.
		fb_log(FB_LOG_ERROR,
				"round %u abandoned (%s): %s; the model is "
				"unchanged",
				fed->round, why, detail);
		fed->st.abandoned = why;
		fed->st.commit_s = fb_clock_s() - t0;
		return;
	}
	agg_opt_apply(&fed->opt, &fed->model, &fed->acc.sum, divisor);
	if (!model_finite(&fed->model)) {
		// The check above computes the same values: a bug. The model
		// in memory is lost; the checkpoint on disk is the last good
		// one.
		fb_log(FB_LOG_ERROR,
				"round %u: the new model is not finite although "
				"its check passed; stopping without a checkpoint",
				fed->round);
		fed->st.abandoned = "non-finite-model";
		fed->fatal = true;
		set_over(fed, now_ms, "internal error: a non-finite model");
		return;
	}
	fb_crashpoint("agg.aggregate"); // applied in memory, not on disk
	uint32_t prev_committed = fed->last_committed;
	fed->last_committed = fed->round;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		struct agg_client *cl = &fed->clients[c];
		if (cl->participant && cl->status == AGG_CL_UPDATE) {
			cl->updates++;
			cl->last_round = fed->round;
		}
	}
	// Committed if the checkpoint below is written; the kept line, written
	// first, already says so (it counts only if the checkpoint exists).
	fed->st.committed = true;
	fed->st.commit_s = fb_clock_s() - t0;
	fb_err err = agg_oplog_keep_line(fed);
	if (err == FB_OK) {
		err = agg_checkpoint_save(fed);
	}
	if (err != FB_OK) {
		fed->st.committed = false;
		fed->st.abandoned = "checkpoint-failed";
		fb_log(FB_LOG_ERROR, "round %u: checkpoint not written: %s",
				fed->round, fb_last_error(err));
		fed->fatal = true;
		set_over(fed, now_ms, "the checkpoint could not be written");
		// Not durable, so not committed: a restart resumes from the
		// previous checkpoint and this round counts as abandoned.
		fed->last_committed = prev_committed;
		return;
	}
	fed->n_committed++;
	fed->st.commit_s = fb_clock_s() - t0;
	fb_crashpoint("agg.after_commit"); // checkpoint durable, log not yet
}

// "catalog-mismatch 2, shape-mismatch 1" from counts by reason.
static void
format_refusals(const uint32_t by[AGG_REASONS], char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (uint16_t r = 0; r < AGG_REASONS && used < cap; r++) {
		if (by[r] == 0) {
			continue;
		}
		int n = snprintf(buf + used, cap - used, "%s%s %u",
				used > 0 ? ", " : "",
				r == AGG_REASONS - 1 ? "other"
						     : fb_wire_reason_name(r),
				by[r]);
		if (n < 0) {
			break;
		}
		used += (size_t)n;
	}
}

// One warning for a round's refusals, with counts by reason.
static void
log_refusals(const struct agg_fed *fed)
{
	if (fed->st.refusals == 0) {
		return;
	}
	char counts[256];
	format_refusals(fed->st.refused_by, counts, sizeof(counts));
	fb_log(FB_LOG_WARN,
			"round %u: %u of %u participant(s) refused the plan: "
			"%s (first: %s)",
			fed->round, fed->st.refusals, fed->st.participants,
			counts, fed->st.first_refusal);
}

void
agg_fed_failure(const struct agg_fed *fed, char *buf, size_t cap)
{
	char counts[256];
	format_refusals(fed->refused_by, counts, sizeof(counts));
	uint32_t total = 0;
	for (int r = 0; r < AGG_REASONS; r++) {
		total += fed->refused_by[r];
	}
	if (total == 0) {
		snprintf(buf, cap,
				"all %u round(s) abandoned, none committed "
				"(last: %s)",
				fed->n_abandoned,
				fed->last_abandoned != NULL
						? fed->last_abandoned
						: "unknown");
		return;
	}
	snprintf(buf, cap,
			"all %u round(s) abandoned, none committed (last: %s); "
			"clients refused %u plan(s): %s; first: %s",
			fed->n_abandoned,
			fed->last_abandoned != NULL ? fed->last_abandoned
						    : "unknown",
			total, counts, fed->first_refusal);
}

static void
close_round(struct agg_fed *fed, uint64_t now_ms)
{
	fed->st.collection_s = (double)(now_ms - fed->round_start_ms) / 1000.0;
	fed->st.committed = false;
	// Client-level DP: whether a round commits must not depend on how many
	// clipped updates arrived (that count changes with one retailer); the
	// release was accounted at plan time and is made whatever arrived.
	bool central = fed->plan_cfg.granularity == FB_WIRE_GRAN_CLIENT;
	// A secure round commits only from its unmasked, checked sum.
	bool unmasked = !fed->st.secure || fed->sa.stage == AGG_SA_DONE;
	if (fed->st.secure && !unmasked && fed->st.abandoned == NULL) {
		fed->st.abandoned = "secagg-too-few";
	}
	if (central ||
			(unmasked && fed->acc.n >= fed->cfg->quorum &&
					fed->acc.n > 0)) {
		commit(fed, now_ms);
	} else if (fed->st.abandoned == NULL) {
		fed->st.abandoned = "quorum";
		fb_log(FB_LOG_INFO,
				"round %u abandoned: %u update(s), quorum %u; the "
				"model is unchanged",
				fed->round, fed->acc.n, fed->cfg->quorum);
	}
	if (!fed->st.committed) {
		fed->n_abandoned++;
		fed->last_abandoned = fed->st.abandoned;
	}
	log_refusals(fed);
	if (fed->acc.eval_users > 0) {
		fed->have_eval = true;
		fed->last_recall = fed->acc.recall_sum / fed->acc.eval_users;
		fed->last_ndcg = fed->acc.ndcg_sum / fed->acc.eval_users;
		fed->last_eval_users = fed->acc.eval_users;
	}
	fed->total_in += fed->st.bytes_in;
	fed->total_out += fed->st.bytes_out;
	agg_oplog_round(fed);
	if (fed->observer != NULL) {
		fed->observer(fed->observer_ctx, fed, AGG_EV_CLOSED);
	}
	if (fed->sa.active) {
		agg_secround_close(fed);
	}
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		fed->clients[c].participant = false;
		fed->clients[c].status = AGG_CL_IDLE;
	}
	if (fed->state == AGG_COLLECTING) {
		fed->state = AGG_IDLE;
	}
	fed->idle_since_ms = now_ms;
	memset(&fed->st, 0, sizeof(fed->st));
}

// Client-level DP: the round's release is accounted (budget check and a
// durable ledger entry) as soon as its cohort is drawn, before any PLAN
// leaves, so every sampled round is accounted whether it later commits or
// not. False (the federation is over) if the budget or the ledger says no.
static bool
account_client_round(struct agg_fed *fed, uint64_t now_ms)
{
	fb_err err = fb_dp_begin_release(fed->dp, fed->round);
	if (err == FB_EBUDGET) {
		fb_log(FB_LOG_WARN, "round %u not run: %s", fed->round,
				fb_last_error(err));
		set_over(fed, now_ms,
				"the aggregator's client-level privacy budget is "
				"spent");
		return false;
	}
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "round %u not run: %s", fed->round,
				fb_last_error(err));
		fed->fatal = true;
		set_over(fed, now_ms,
				"the privacy ledger could not be written");
		return false;
	}
	return true;
}

// The bound of an honest update of the round being planned, from the
// model it will send (wire-v1 §9.7), and the limit updates are checked
// against. False (the federation is over) if it cannot be computed.
static bool
round_bound(struct agg_fed *fed, uint64_t now_ms)
{
	const struct fb_model *m = &fed->model;
	struct fb_bound_shape sh = {m->n_items, m->n_bundles, m->n_attrs,
			fed->catalog,
			fb_bound_model_norm(m, fed->plan_cfg.hp.train_items)};
	fb_err err = fb_bound_update(&fed->plan_cfg, &sh, &fed->bound);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "round %u not run: %s", fed->round,
				fb_last_error(err));
		fed->fatal = true;
		set_over(fed, now_ms, "no bound for the updates");
		return false;
	}
	struct agg_update_limit *lim = &fed->limit;
	lim->l2 = fed->bound.l2;
	lim->linf = fed->bound.linf;
	double cap = fed->cfg->max_update_norm;
	if (cap > 0 && cap < lim->l2) {
		lim->l2 = cap;
	}
	lim->linf = lim->linf < lim->l2 ? lim->linf : lim->l2;
	char coord[64] = "";
	if (lim->linf < lim->l2) {
		snprintf(coord, sizeof(coord), " or %.6g in a coordinate",
				lim->linf);
	}
	fb_log(FB_LOG_INFO,
			"round %u: an update is refused above %.6g in L2 "
			"norm%s: %s%s",
			fed->round, lim->l2, coord, fed->bound.why,
			lim->l2 < fed->bound.l2 ? ", lowered by max_update_norm"
						: "");
	return true;
}

static void
plan_round(struct agg_fed *fed, uint64_t now_ms)
{
	const struct agg_config *cfg = fed->cfg;
	uint32_t next = (fed->last_planned > fed->last_committed
							? fed->last_planned
							: fed->last_committed) +
			1;
	if (next > cfg->rounds) {
		set_over(fed, now_ms, "all %u rounds run", cfg->rounds);
		return;
	}
	uint32_t eligible = 0, ready = 0;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		eligible += !cl->exhausted && !cl->revoked;
		ready += !cl->exhausted && !cl->revoked && !cl->paused &&
				cl->connected;
	}
	if (eligible < cfg->quorum) {
		set_over(fed, now_ms,
				"%u client(s) with privacy budget left, fewer "
				"than the quorum %u",
				eligible, cfg->quorum);
		return;
	}
	uint32_t want = cfg->min_clients > 0 ? cfg->min_clients
					     : agg_fed_enrolled(fed);
	want = want < eligible ? want : eligible;
	bool waited = now_ms - fed->idle_since_ms >= cfg->plan_wait_ms;
	if (ready < want && !(waited && ready >= cfg->quorum)) {
		return;
	}
	fb_err err = agg_planned_write(fed->planned_path, next);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "cannot record round %u: %s", next,
				fb_last_error(err));
		fed->fatal = true;
		set_over(fed, now_ms, "the round marker could not be written");
		return;
	}
	fed->last_planned = next;
	fed->round = next;
	agg_accum_reset(&fed->acc);
	if (fed->central.sum != NULL) {
		agg_central_reset(&fed->central);
	}
	uint64_t bytes_in = fed->st.bytes_in, bytes_out = fed->st.bytes_out;
	memset(&fed->st, 0, sizeof(fed->st));
	fed->st.bytes_in = bytes_in; // traffic between rounds counts here
	fed->st.bytes_out = bytes_out;
	uint64_t threshold = cfg->q_clients >= 1
			? UINT64_MAX
			: (uint64_t)ldexp(cfg->q_clients, 64);
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		struct agg_client *cl = &fed->clients[c];
		bool in;
		if (cfg->participation == AGG_PART_SAMPLED) {
			// Poisson sampling over the enrolled population, from
			// the CSPRNG (client-level DP amplification).
			in = !cl->exhausted && !cl->revoked &&
					(cfg->q_clients >= 1 ||
							fb_noise_u64(fed->rng) <
									threshold);
		} else {
			in = cl->connected && !cl->exhausted && !cl->revoked &&
					!cl->paused;
		}
		cl->participant = in;
		cl->status = in ? AGG_CL_WAITING : AGG_CL_IDLE;
		cl->up.held = false;
		fed->st.participants += in;
	}
	if (fed->plan_cfg.granularity == FB_WIRE_GRAN_CLIENT &&
			!account_client_round(fed, now_ms)) {
		return;
	}
	if (!round_bound(fed, now_ms)) {
		return;
	}
	fed->state = AGG_COLLECTING;
	fed->round_start_ms = now_ms;
	fed->deadline_ms = now_ms + cfg->deadline_ms;
	if (fed->sa.enabled) {
		agg_secround_plan(fed, now_ms); // may mark it abandoned
	}
	fb_log(FB_LOG_INFO,
			"round %u planned: %u participant(s), deadline %u ms",
			next, fed->st.participants, cfg->deadline_ms);
	fb_crashpoint("agg.after_plan"); // marker on disk, no PLAN sent
	if (fed->observer != NULL) {
		fed->observer(fed->observer_ctx, fed, AGG_EV_PLANNED);
	}
}

uint32_t
agg_fed_enrolled(const struct agg_fed *fed)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		n += !fed->clients[c].revoked;
	}
	return n;
}

void
agg_fed_tick(struct agg_fed *fed, uint64_t now_ms)
{
	if (fed->state == AGG_COLLECTING && fed->sa.active) {
		if (agg_secround_tick(fed, now_ms)) {
			close_round(fed, now_ms);
		}
	} else if (fed->state == AGG_COLLECTING) {
		bool all = true;
		for (uint32_t c = 0; c < fed->n_clients && all; c++) {
			const struct agg_client *cl = &fed->clients[c];
			all = !cl->participant || answered(cl);
		}
		if (all || now_ms >= fed->deadline_ms) {
			close_round(fed, now_ms);
		}
	}
	if (fed->state == AGG_IDLE && !fed->fatal) {
		plan_round(fed, now_ms);
	}
}

int
agg_fed_wakeup_ms(const struct agg_fed *fed, uint64_t now_ms)
{
	uint64_t t = 100;
	uint64_t due = fed->sa.active ? agg_secround_deadline(fed)
				      : fed->deadline_ms;
	if (fed->state == AGG_COLLECTING && due > now_ms && due - now_ms < t) {
		t = due - now_ms;
	}
	return t > 0 ? (int)t : 1;
}

// Upload and download slots (§5.2) share one mechanism: at most `slots`
// clients hold a live slot of a kind (0: no limit); asking again while
// holding one renews it.
typedef bool slot_live_fn(const struct agg_fed *fed,
		const struct agg_client *cl, uint64_t now_ms);

// An upload slot lives until upload_grant_ms passed or the client answered
// the round.
static bool
upload_live(const struct agg_fed *fed, const struct agg_client *cl,
		uint64_t now_ms)
{
	return cl->participant && cl->status == AGG_CL_WAITING && cl->up.held &&
			now_ms - cl->up.since_ms < fed->cfg->upload_grant_ms;
}

// A download slot lives until download_grant_ms passed or the client was
// heard from (agg_fed_heard).
static bool
download_live(const struct agg_fed *fed, const struct agg_client *cl,
		uint64_t now_ms)
{
	return cl->down.held &&
			now_ms - cl->down.since_ms <
			fed->cfg->download_grant_ms;
}

// Takes or renews cl's slot *mine of the kind live tells apart; false if
// all `slots` are held by other clients. Counts the grant and the peak.
static bool
take_slot(struct agg_fed *fed, struct agg_client *cl, slot_live_fn *live,
		struct agg_slot *mine, uint32_t slots, uint64_t now_ms,
		uint32_t *grants, uint32_t *peak)
{
	uint32_t held = 0;
	for (uint32_t k = 0; k < fed->n_clients; k++) {
		held += live(fed, &fed->clients[k], now_ms);
	}
	bool holds = live(fed, cl, now_ms);
	if (!holds && slots > 0 && held >= slots) {
		return false;
	}
	held += !holds;
	mine->held = true;
	mine->since_ms = now_ms;
	(*grants)++;
	*peak = held > *peak ? held : *peak;
	return true;
}

// A download slot for cl: the model's replies in flight, each held by the
// transport until written, are then at most download_slots.
static bool
download_slot(struct agg_fed *fed, struct agg_client *cl, uint64_t now_ms)
{
	return take_slot(fed, cl, download_live, &cl->down,
			fed->cfg->download_slots, now_ms,
			&fed->st.download_grants, &fed->st.downloads_peak);
}

void
agg_fed_heard(struct agg_fed *fed, uint32_t c)
{
	fed->clients[c].down.held = false;
}

void
agg_fed_poll(struct agg_fed *fed, uint32_t c, uint8_t status, uint64_t now_ms,
		struct fb_wire_plan *plan)
{
	struct agg_client *cl = &fed->clients[c];
	cl->exhausted = status == FB_WIRE_POLL_BUDGET_EXHAUSTED;
	cl->paused = status == FB_WIRE_POLL_PAUSED;
	if ((cl->exhausted || cl->paused) && cl->participant &&
			cl->status == AGG_CL_WAITING) {
		cl->status = AGG_CL_DROPPED;
		fed->st.dropped++;
	}
	memset(plan, 0, sizeof(*plan));
	bool train = fed->state == AGG_COLLECTING && cl->participant &&
			cl->status == AGG_CL_WAITING &&
			status == FB_WIRE_POLL_READY &&
			now_ms < fed->deadline_ms &&
			(!fed->sa.active || agg_secround_may_train(fed, c));
	if ((train || fed->state == AGG_OVER) &&
			!download_slot(fed, cl, now_ms)) {
		plan->kind = FB_WIRE_PLAN_WAIT;
		plan->retry_after_ms = fed->cfg->download_retry_ms;
		fed->st.download_waits++;
		return;
	}
	if (fed->state == AGG_OVER) {
		plan->kind = FB_WIRE_PLAN_DONE;
		cl->done_sent = true;
	} else if (train) {
		plan->kind = FB_WIRE_PLAN_TRAIN;
		plan->deadline_ms = (uint32_t)(fed->deadline_ms - now_ms);
		plan->config = fed->plan_cfg;
		if (fed->sa.active) {
			agg_secround_plan_tlv(fed, c, &plan->config);
		}
		cl->offered = fed->round;
		double t = (double)(now_ms - fed->round_start_ms) / 1000.0;
		if (t > fed->st.broadcast_s) {
			fed->st.broadcast_s = t;
		}
	} else {
		plan->kind = FB_WIRE_PLAN_WAIT;
		plan->retry_after_ms = fed->cfg->retry_after_ms;
		return;
	}
	const struct fb_model *m = &fed->model;
	plan->n_tensors = 0;
	plan->tensors[plan->n_tensors++] = (struct fb_wire_tensor){
			FB_WIRE_TENSOR_ITEMS, FB_WIRE_DTYPE_F32, 0, m->n_items,
			m->dim, m->V.data};
	plan->tensors[plan->n_tensors++] = (struct fb_wire_tensor){
			FB_WIRE_TENSOR_BUNDLES, FB_WIRE_DTYPE_F32, 0,
			m->n_bundles, m->dim, m->W.data};
	if (m->n_attrs > 0) {
		plan->tensors[plan->n_tensors++] = (struct fb_wire_tensor){
				FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
				m->n_attrs, m->dim, m->M.data};
	}
}

static void
ack(struct agg_outcome *out, uint8_t status, uint16_t reason, const char *text)
{
	memset(out, 0, sizeof(*out));
	out->status = status;
	out->reason = reason;
	snprintf(out->text, sizeof(out->text), "%s", text);
}

static void
error_out(struct agg_outcome *out, uint16_t reason, const char *text)
{
	memset(out, 0, sizeof(*out));
	out->error = true;
	out->reason = reason;
	snprintf(out->text, sizeof(out->text), "%s", text);
}

// The checks common to UPDATE and REFUSE (§6.2 step 2). Returns true if
// the message is for the current round from a waiting participant;
// otherwise *out holds the answer.
static bool
current_participant(struct agg_fed *fed, struct agg_client *cl,
		uint32_t round_id, bool is_update, uint64_t now_ms,
		struct agg_outcome *out)
{
	bool current = fed->state == AGG_COLLECTING && round_id == fed->round;
	if (!current) {
		if (round_id != 0 &&
				(cl->offered == round_id ||
						round_id <= fed->earlier_life)) {
			// Committed, abandoned or never reached: §6.3. A
			// round of an earlier life is closed too (an update
			// resent after the aggregator restarted, §6.1). An
			// update counted in a committed round (last_round is
			// checkpointed) is a duplicate, not late: it was used.
			if (is_update && cl->last_round == round_id) {
				ack(out, FB_WIRE_ACK_REJECTED,
						FB_WIRE_REASON_DUPLICATE,
						"already counted; the round "
						"is committed");
			} else if (is_update) {
				fed->st.late++;
				ack(out, FB_WIRE_ACK_LATE, FB_WIRE_REASON_LATE,
						"the round is closed");
			} else {
				ack(out, FB_WIRE_ACK_ACCEPTED,
						FB_WIRE_REASON_NONE, "");
			}
		} else {
			error_out(out, FB_WIRE_REASON_WRONG_ROUND,
					"not a round you were offered");
		}
		return false;
	}
	if (!cl->participant) {
		ack(out, FB_WIRE_ACK_REJECTED, FB_WIRE_REASON_NOT_SELECTED,
				"not a participant of this round");
		return false;
	}
	if (cl->offered != round_id) {
		error_out(out, FB_WIRE_REASON_WRONG_ROUND,
				"not a round you were offered");
		return false;
	}
	if (cl->status != AGG_CL_WAITING) {
		if (is_update && cl->status == AGG_CL_UPDATE) {
			ack(out, FB_WIRE_ACK_REJECTED, FB_WIRE_REASON_DUPLICATE,
					"already counted");
		} else if (is_update) {
			ack(out, FB_WIRE_ACK_REJECTED, FB_WIRE_REASON_DUPLICATE,
					"already answered");
		} else {
			ack(out, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE, "");
		}
		return false;
	}
	if (now_ms >= fed->deadline_ms) {
		if (is_update) {
			fed->st.late++;
			ack(out, FB_WIRE_ACK_LATE, FB_WIRE_REASON_LATE,
					"after the deadline");
		} else {
			ack(out, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE, "");
		}
		return false;
	}
	return true;
}

bool
agg_fed_upload_ask(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		uint64_t now_ms, struct fb_wire_plan *plan,
		struct agg_outcome *out)
{
	struct agg_client *cl = &fed->clients[c];
	if (!current_participant(fed, cl, round_id, true, now_ms, out)) {
		return false;
	}
	memset(plan, 0, sizeof(*plan));
	// Asking again (a lost reply) renews the grant.
	if (!take_slot(fed, cl, upload_live, &cl->up, fed->cfg->upload_slots,
			    now_ms, &fed->st.upload_grants,
			    &fed->st.uploads_peak)) {
		plan->kind = FB_WIRE_PLAN_WAIT;
		plan->retry_after_ms = fed->cfg->upload_retry_ms;
		fed->st.upload_waits++;
		return true;
	}
	plan->kind = FB_WIRE_PLAN_UPLOAD;
	plan->deadline_ms = (uint32_t)(fed->deadline_ms - now_ms);
	return true;
}

void
agg_fed_update(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const uint8_t *body, size_t len, uint64_t now_ms,
		struct agg_outcome *out)
{
	struct agg_client *cl = &fed->clients[c];
	if (!current_participant(fed, cl, round_id, true, now_ms, out)) {
		return;
	}
	if (fed->sa.active) {
		agg_secround_update(fed, c, round_id, body, len, now_ms, out);
		return;
	}
	const struct fb_model *m = &fed->model;
	uint32_t rows = m->n_items > m->n_bundles ? m->n_items : m->n_bundles;
	rows = rows > m->n_attrs ? rows : m->n_attrs;
	struct fb_wire_limits lim = {FB_WIRE_MAX_TENSORS, rows, m->dim, true};
	struct fb_wire_update u;
	fb_err err = fb_wire_update_decode(&u, body, len, &lim);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN,
				"refused UPDATE from %s (round %u): "
				"malformed: %s",
				cl->name, round_id, fb_last_error(err));
		error_out(out, FB_WIRE_REASON_MALFORMED, "malformed UPDATE");
		return;
	}
	char text[128];
	double norm = 0;
	uint16_t reason = agg_update_check(&u, &fed->plan_cfg, m, &fed->limit,
			text, sizeof(text), &norm);
	if (reason != FB_WIRE_REASON_NONE) {
		fb_log(FB_LOG_WARN, "refused UPDATE from %s (round %u): %s: %s",
				cl->name, round_id, fb_wire_reason_name(reason),
				text);
		cl->status = AGG_CL_REJECTED;
		cl->refuse_reason = reason;
		fed->st.rejected++;
		ack(out, FB_WIRE_ACK_REJECTED, reason, text);
		return;
	}
	if (fed->plan_cfg.granularity == FB_WIRE_GRAN_CLIENT) {
		// Client-level DP: clipped and summed exactly (aggregate.h).
		bool clipped = false;
		agg_central_add(&fed->central, &u, &clipped);
		agg_accum_note(&fed->acc, &u, norm, clipped);
	} else {
		agg_accum_add(&fed->acc, &u, 0, &norm);
	}
	cl->status = AGG_CL_UPDATE;
	cl->epsilon = u.epsilon_spent;
	cl->reported = true;
	fed->st.updates++;
	fb_crashpoint("agg.collect"); // counted, not acknowledged
	fb_log(FB_LOG_DEBUG, "round %u: update of %s counted (norm %.4g)",
			round_id, cl->name, norm);
	ack(out, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE, "");
}

void
agg_fed_refuse(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const struct fb_wire_reason_text *refuse, uint64_t now_ms,
		struct agg_outcome *out)
{
	struct agg_client *cl = &fed->clients[c];
	if (refuse->reason == FB_WIRE_REASON_BUDGET_EXHAUSTED) {
		cl->exhausted = true;
	}
	if (!current_participant(fed, cl, round_id, false, now_ms, out)) {
		return;
	}
	// One warning per round with the counts (log_refusals), not one line
	// per refusal.
	fb_log(FB_LOG_DEBUG, "round %u: %s refused: %s (%s)", round_id,
			cl->name, fb_wire_reason_name(refuse->reason),
			refuse->text);
	cl->status = AGG_CL_REFUSED;
	cl->refuse_reason = refuse->reason;
	fed->st.refusals++;
	uint16_t slot = refuse->reason < AGG_REASONS - 1 ? refuse->reason
							 : AGG_REASONS - 1;
	fed->st.refused_by[slot]++;
	fed->refused_by[slot]++;
	if (fed->st.first_refusal[0] == '\0') {
		snprintf(fed->st.first_refusal, sizeof(fed->st.first_refusal),
				"%s: %s (%s)", cl->name,
				fb_wire_reason_name(refuse->reason),
				refuse->text);
	}
	if (fed->first_refusal[0] == '\0') {
		memcpy(fed->first_refusal, fed->st.first_refusal,
				sizeof(fed->first_refusal));
	}
	ack(out, FB_WIRE_ACK_ACCEPTED, FB_WIRE_REASON_NONE, "");
}

bool
agg_fed_finished(const struct agg_fed *fed, uint64_t now_ms)
{
	if (fed->fatal) {
		return true;
	}
	if (fed->state != AGG_OVER) {
		return false;
	}
	uint64_t since = now_ms - fed->over_since_ms;
	if (since >= fed->cfg->linger_ms) {
		return true;
	}
	if (since < 500) {
		return false;
	}
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		const struct agg_client *cl = &fed->clients[c];
		if (cl->connected && !cl->done_sent) {
			return false;
		}
	}
	return true;
}

void
agg_fed_stop(struct agg_fed *fed, uint64_t now_ms, const char *why)
{
	if (fed->state == AGG_COLLECTING) {
		fb_log(FB_LOG_INFO, "round %u abandoned: %s", fed->round, why);
		fed->acc.n = 0; // never commit a round on the way out
		fed->st.abandoned = "stopped";
		close_round(fed, now_ms);
	}
	set_over(fed, now_ms, "%s", why);
}

size_t
agg_fed_max_msg(const struct agg_fed *fed)
{
	const struct fb_model *m = &fed->model;
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 1;
	p.config = fed->plan_cfg;
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = fed->plan_cfg.clip_norm;
	struct fb_wire_tensor t[3] = {
			{FB_WIRE_TENSOR_ITEMS, FB_WIRE_DTYPE_F32, 0, m->n_items,
					m->dim, NULL},
			{FB_WIRE_TENSOR_BUNDLES, FB_WIRE_DTYPE_F32, 0,
					m->n_bundles, m->dim, NULL},
			{FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
					m->n_attrs, m->dim, NULL},
	};
	uint32_t n = m->n_attrs > 0 ? 3 : 2;
	for (uint32_t k = 0; k < n; k++) {
		p.tensors[k] = t[k];
		u.tensors[k] = t[k];
	}
	p.n_tensors = n;
	u.n_tensors = n;
	size_t a = FB_SEALED_LEN(fb_wire_plan_len(&p));
	if (fed->sa.enabled) {
		// TLV 0x801d with every enrolled client a party.
		a += 4 + 36 + 3 +
				(size_t)fed->n_clients * FB_WIRE_SECAGG_KEY_LEN;
	}
	size_t b = FB_SEALED_LEN(fb_wire_update_len(&u));
	size_t s = agg_secround_max_msg(fed);
	a = a > b ? a : b;
	return a > s ? a : s;
}

struct fb_hs_server_config
agg_fed_hs_config(const struct agg_fed *fed)
{
	uint32_t room = FB_HS_DEFAULT_MAX_PER_KEY * fed->n_clients + 16;
	struct fb_hs_server_config hc = {
			.max_pending = room > FB_HS_DEFAULT_MAX_PENDING ? room
									: 0,
			.max_msg_len = agg_fed_max_msg(fed),
	};
	return hc;
}
