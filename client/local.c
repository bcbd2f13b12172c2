// client/local.c: see local.h. Invariants: no ledger entry is written and
// nothing is trained before every policy check passed; in user mode the
// whole round's releases are checked against the budget first, so a round
// is either refused before any release or fully accounted; the update is
// written straight into the message buffer (no copy of the model).
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evalrelease.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/rng.h"
#include "local.h"

double
node_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static fb_err __attribute__((format(printf, 3, 4)))
refuse(struct node_round *out, uint16_t reason, const char *fmt, ...)
{
	out->refuse = true;
	out->reason = reason;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof(out->text), fmt, ap);
	va_end(ap);
	return FB_OK;
}

// The plan's tensor of id, or NULL.
static const struct fb_wire_tensor *
plan_tensor(const struct fb_wire_plan *plan, uint16_t id)
{
	for (uint32_t k = 0; k < plan->n_tensors; k++) {
		if (plan->tensors[k].id == id) {
			return &plan->tensors[k];
		}
	}
	return NULL;
}

static bool
tensor_fits(const struct fb_wire_tensor *t, uint32_t rows, uint32_t cols)
{
	return t != NULL && t->dtype == FB_WIRE_DTYPE_F32 && t->exp == 0 &&
			t->rows == rows && t->cols == cols;
}

static const char *const gran_names[] = {"none", "user", "client"};

// The most DP steps (releases) one round may ask for: far above any
// useful plan (a release per step, each a model-sized noise draw), and a
// bound on the time an accountant spends on a hostile plan.
#define MAX_DP_STEPS 1000000u

// wire-v1 §5.3.1 0x001b: false, with out->refuse set, if the plan's rows
// are numbered by another catalogue than our data (same shapes or not).
static bool
same_catalog(const struct fb_dataset *ds, const struct fb_wire_round_config *c,
		struct node_round *out)
{
	uint8_t mine[FB_HASH_LEN];
	if (!c->has_catalog_digest) {
		return true;
	}
	fb_catdir_digest(ds, mine);
	if (memcmp(mine, c->catalog_digest, FB_HASH_LEN) == 0) {
		return true;
	}
	char a[FB_CATDIR_HEX_LEN + 1], b[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(mine, a);
	fb_hash_hex(c->catalog_digest, b);
	fb_log(FB_LOG_ERROR,
			"the data folder's catalogue %s is not the aggregator's "
			"%s: import the retailer's exports with `fedbundle "
			"import --catalog` onto the consortium's catalogue of "
			"that version (after a new version is rolled out, "
			"import again with the new catalogue folder); no round "
			"is trained until then",
			a, b);
	refuse(out, FB_WIRE_REASON_CATALOG_MISMATCH,
			"data catalogue %.16s (%u items, %u bundles%s), plan "
			"%.16s: import with --catalog onto that version",
			a, ds->n_items, ds->n_bundles,
			ds->has_ids ? "" : ", no id maps", b);
	return false;
}

// Policy checks of §5.3.1 / §6.1 that need no budget. Sets out->refuse.
static void
check_policy(const struct node_policy *pol, const struct fb_dataset *ds,
		const struct fb_wire_round_config *c,
		const struct fb_wire_plan *plan, struct node_round *out)
{
	bool allowed = (c->granularity == FB_WIRE_GRAN_NONE &&
				       pol->allow_none) ||
			(c->granularity == FB_WIRE_GRAN_USER &&
					pol->allow_user) ||
			(c->granularity == FB_WIRE_GRAN_CLIENT &&
					pol->allow_client);
	if (!allowed) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"granularity %s is not allowed by the policy",
				gran_names[c->granularity]);
		return;
	}
	if (c->granularity == FB_WIRE_GRAN_USER && !c->has_secagg &&
			pol->secure_aggregation == NODE_SECAGG_REQUIRE) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"the policy requires secure aggregation for "
				"user-level rounds (secure_aggregation "
				"\"require\")");
		return;
	}
	if (c->report_eval && !pol->report_eval && !c->has_secagg) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"the policy does not report metrics");
		return;
	}
	if (c->report_eval && c->granularity == FB_WIRE_GRAN_CLIENT) {
		// Metric sums are computed from the retailer's data: under
		// client-level DP only the aggregator's noise protects it, and
		// the aggregator does not noise metrics.
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"metrics are not released in client-level DP "
				"rounds");
		return;
	}
	if (c->hp.dim > pol->max_dim) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"dimension %u over the policy's %u", c->hp.dim,
				pol->max_dim);
		return;
	}
	if (c->granularity != FB_WIRE_GRAN_NONE &&
			(c->noise_multiplier < pol->min_noise_multiplier ||
					!(c->noise_multiplier > 0))) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"noise multiplier %g below the policy's %g",
				c->noise_multiplier, pol->min_noise_multiplier);
		return;
	}
	if (c->granularity == FB_WIRE_GRAN_USER && c->min_users > 0 &&
			pol->users < c->min_users) {
		// Our releases would be divided by fewer users than the
		// aggregator bounds them with (§9.7): refuse before spending.
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"the policy declares %llu users, the plan's "
				"min_users is %llu (raise users: it only scales "
				"the updates)",
				(unsigned long long)pol->users,
				(unsigned long long)c->min_users);
		return;
	}
	if (c->update_dtype != FB_WIRE_DTYPE_F32) {
		refuse(out, FB_WIRE_REASON_UNSUPPORTED_FIELD,
				"only f32 updates are supported");
		return;
	}
	if (!same_catalog(ds, c, out)) {
		return;
	}
	bool attrs = c->hp.use_attrs && ds->n_attrs > 0;
	const struct fb_wire_tensor *m =
			plan_tensor(plan, FB_WIRE_TENSOR_ATTR_PROJ);
	if (!tensor_fits(plan_tensor(plan, FB_WIRE_TENSOR_ITEMS), ds->n_items,
			    c->hp.dim) ||
			!tensor_fits(plan_tensor(plan, FB_WIRE_TENSOR_BUNDLES),
					ds->n_bundles, c->hp.dim) ||
			(attrs && !tensor_fits(m, ds->n_attrs, c->hp.dim)) ||
			(!attrs && m != NULL)) {
		refuse(out, FB_WIRE_REASON_SHAPE_MISMATCH,
				"the model does not fit the catalogue (%u items, "
				"%u bundles, %u attrs, d=%u)",
				ds->n_items, ds->n_bundles, ds->n_attrs,
				c->hp.dim);
		return;
	}
}

// The UPDATE descriptor for the model's shapes (payloads left to fill).
static void
update_shape(struct fb_wire_update *u, const struct fb_model *m,
		const struct fb_wire_round_config *c)
{
	memset(u, 0, sizeof(*u));
	u->clip_norm = c->clip_norm;
	u->noise_multiplier = c->noise_multiplier;
	u->epsilon_spent = INFINITY;
	u->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, m->n_items, m->dim, NULL};
	u->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, m->n_bundles, m->dim, NULL};
	u->n_tensors = 2;
	if (m->n_attrs > 0) {
		u->tensors[2] = (struct fb_wire_tensor){
				FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
				m->n_attrs, m->dim, NULL};
		u->n_tensors = 3;
	}
}

static void
copy_plan_tensor(struct fb_matrix *dst, const struct fb_wire_tensor *t)
{
	if (t != NULL && fb_matrix_len(dst) > 0) {
		memcpy(dst->data, t->data, fb_matrix_len(dst) * sizeof(float));
	} else {
		fb_matrix_zero(dst); // as a new model would be
	}
}

// The training configuration a plan asks for.
static void
train_config(struct fb_train_config *tc, const struct node_policy *pol,
		const struct fb_wire_round_config *c, uint32_t round)
{
	fb_train_config_defaults(tc);
	tc->hp = c->hp;
	tc->epochs = 1;
	tc->threads = pol->threads;
	tc->test_shared_stream = pol->test_shared_stream;
	// Per-round seed of negative sampling and shuffling (not of noise).
	tc->seed = (pol->seed ^ ((uint64_t)round * 0x9E3779B97F4A7C15ULL)) &
			((UINT64_C(1) << 53) - 1);
}

// A secure round's UPDATE: one masked tensor, the release layout's length
// of u64 ring elements (its grid exponent set when it is encoded).
static void
secure_shape(struct fb_wire_update *u, const struct node_policy *pol,
		const struct fb_dataset *ds,
		const struct fb_wire_round_config *c)
{
	struct fb_train_config tc;
	struct fb_release_layout L;
	train_config(&tc, pol, c, 0);
	fb_train_release_layout(&tc, ds->n_items, ds->n_bundles, &L);
	memset(u, 0, sizeof(*u));
	u->clip_norm = c->clip_norm;
	u->noise_multiplier = c->noise_multiplier;
	u->epsilon_spent = INFINITY;
	u->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			fb_wire_dtype_of_ring(
					c->has_secagg ? c->sa.ring_bits : 64),
			0, (uint32_t)L.len, 1, NULL};
	u->n_tensors = 1;
}

static const volatile sig_atomic_t *stop_flag; // node_local_set_stop()

void
node_local_set_stop(const volatile sig_atomic_t *flag)
{
	stop_flag = flag;
}

// FB_ECLOSED once a stop was asked for, before step (of n) of round.
static fb_err
check_stop(uint32_t round, uint32_t step, uint32_t n, const char *what)
{
	if (stop_flag == NULL || *stop_flag == 0) {
		return FB_OK;
	}
	return fb_errorf(FB_ECLOSED,
			"stopped during the training of round %u after %u of "
			"%u %s; nothing was sent",
			round, step, n, what);
}

// Non-private local training: local_epochs epochs, or local_steps batches
// of batch_users users from a shuffled cycle over the active users.
static fb_err
train_plain(struct fb_trainer *t, const struct fb_model *local,
		const struct fb_wire_round_config *c,
		const struct fb_train_config *tc, uint32_t round,
		struct node_round *out)
{
	double loss = 0;
	uint64_t samples = 0;
	if (c->local_steps == 0) {
		for (uint32_t e = 1; e <= c->local_epochs; e++) {
			struct fb_train_stats s;
			fb_err err = check_stop(round, e - 1, c->local_epochs,
					"epochs");
			if (err == FB_OK) {
				err = fb_trainer_epoch(t, e, &s);
			}
			if (err != FB_OK) {
				return err;
			}
			loss += s.loss * (double)s.samples;
			samples += s.samples;
			fb_crashpoint("client.train");
		}
		out->steps = c->local_epochs;
		out->loss = samples > 0 ? loss / (double)samples : 0;
		return FB_OK;
	}
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(t, &n_active);
	uint32_t *order = malloc(((size_t)n_active + 1) * sizeof(*order));
	struct fb_rep_grad g = {0};
	fb_err err = order == NULL ? FB_ENOMEM : fb_rep_grad_init(&g, local);
	if (err != FB_OK || n_active == 0) {
		goto out;
	}
	memcpy(order, active, n_active * sizeof(*order));
	struct fb_rng rng;
	fb_rng_seed(&rng, tc->seed, 0x57e95ULL);
	fb_rng_shuffle_u32(&rng, order, n_active);
	uint32_t pos = 0;
	for (uint32_t s = 0; s < c->local_steps; s++) {
		uint32_t n = tc->hp.batch_users < n_active ? tc->hp.batch_users
							   : n_active;
		if (pos + n > n_active) {
			fb_rng_shuffle_u32(&rng, order, n_active);
			pos = 0;
		}
		struct fb_train_stats st;
		uint64_t stream = ((uint64_t)round << 24) + s;
		if ((err = check_stop(round, s, c->local_steps, "steps")) !=
				FB_OK) {
			goto out;
		}
		err = fb_trainer_batch_gradient(
				t, order + pos, n, (double)n, stream, &g, &st);
		if (err == FB_OK) {
			err = fb_trainer_apply(t, &g);
		}
		if (err != FB_OK) {
			goto out;
		}
		pos += n;
		loss += st.loss;
		samples += st.samples;
		fb_crashpoint("client.train");
	}
	out->steps = c->local_steps;
	out->loss = samples > 0 ? loss / (double)samples : 0;
out:
	fb_rep_grad_finish(&g);
	free(order);
	return err;
}

// A round whose releases do not fit (client/budget.h): budget-exhausted
// only if nothing is left to spend, else policy-refused with what it
// would spend and what remains; the client stays READY then.
static void
refuse_over_budget(const struct node_policy *pol,
		const struct fb_wire_round_config *c, uint32_t steps,
		double spent, double after, struct node_round *out)
{
	if (spent >= pol->epsilon) {
		out->exhausted = true;
		refuse(out, FB_WIRE_REASON_BUDGET_EXHAUSTED,
				"privacy budget exhausted: epsilon %.4f spent "
				"of %g (delta %g)",
				spent, pol->epsilon, pol->delta);
		return;
	}
	refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
			"over budget: the round's %u releases (q %g, sigma %g%s) "
			"would bring epsilon to %.4g, over the policy's %g "
			"(delta %g): %.4f spent, %.4f remains",
			steps, c->sampling_rate, c->noise_multiplier,
			c->report_eval && !c->has_secagg
					? ", with the metric release"
					: "",
			after, pol->epsilon, pol->delta, spent,
			pol->epsilon - spent);
}

// The honest noise shares a secure round's release is accounted with:
// the plan's n_min less the colluders the policy assumes (0 if none are
// left; check_secure refuses that plan).
static uint64_t
secure_honest(const struct node_policy *pol,
		const struct fb_wire_round_config *c)
{
	uint32_t colluders = pol->secagg_assumed_colluders;
	return c->sa.n_min > colluders ? c->sa.n_min - colluders : 0;
}

// A secure round's one release (with its share of the noise, accounted
// as distributed noise) against the budget: refused (out) if it does not
// fit, *dp closed then.
static fb_err
secure_budget(const struct node_policy *pol,
		const struct fb_wire_round_config *c, struct fb_dp **dp,
		struct node_round *out)
{
	double spent = 0, after = 0, alone = 0;
	size_t releases = 0;
	fb_err err = fb_dp_spent(*dp, &spent, &releases);
	if (err == FB_OK) {
		err = fb_dp_next_epsilon(*dp, &after, &alone);
	}
	if (err == FB_OK && !(after <= pol->epsilon)) {
		refuse_over_budget(pol, c, 1, spent, after, out);
	}
	if (err != FB_OK || out->refuse) {
		fb_dp_close(*dp);
		*dp = NULL;
	}
	return err;
}

// User-level DP: the DP state of this round over the client's ledger
// (which it holds, locked, for its whole life), with the budget from its
// policy and the plan's q, clip and sigma. Refuses (out) a round whose
// releases would not all fit in the budget, before any
// (refuse_over_budget).
static fb_err
open_dp(const struct node_policy *pol, const struct fb_dataset *ds,
		const struct fb_wire_round_config *c, uint32_t steps,
		uint64_t ledger_count, struct fb_ledger *ledger,
		struct fb_dp **dp, struct node_round *out)
{
	if (ledger == NULL) {
		return fb_errorf(FB_ESTATE,
				"%s: the privacy ledger is not open",
				pol->ledger);
	}
	struct fb_dp_config d;
	fb_dp_config_defaults(&d);
	d.mode = FB_DP_USER;
	d.epsilon = pol->epsilon;
	d.delta = pol->delta;
	d.clip = c->clip_norm;
	d.q = c->sampling_rate;
	d.sigma = c->noise_multiplier;
	d.accountant = (enum fb_acct_kind)pol->accountant;
	d.seeded = pol->seeded_noise; // a simulation only (policy.h)
	d.seed = pol->noise_seed ^ (ledger_count * 0x9E3779B97F4A7C15ULL);
	d.users = pol->users;
	d.test_no_noise = pol->test_no_noise;
	struct fb_train_config tc;
	train_config(&tc, pol, c, 0);
	struct fb_release_layout layout;
	fb_train_release_layout(&tc, ds->n_items, ds->n_bundles, &layout);
	size_t dim = layout.len;
	fb_err err = fb_dp_open(dp, &d, ledger, dim, steps);
	if (err == FB_OK && c->has_secagg) {
		err = fb_dp_set_shares(
				*dp, c->sa.noise_shares, secure_honest(pol, c));
		if (err != FB_OK) {
			fb_dp_close(*dp);
			*dp = NULL;
		}
	}
	if (err == FB_EINVAL) {
		// A plan the sampler or the accountant cannot honour.
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED, "%s",
				fb_last_error(err));
		return FB_OK;
	}
	if (err != FB_OK) {
		return err;
	}
	if (c->has_secagg) {
		return secure_budget(pol, c, dp, out);
	}
	// Whether all the round's releases fit (with the metric release, if
	// the plan asks for metrics), asked of an accountant replayed from the
	// same (held) ledger: what is spent now, and what would be after.
	struct fb_acct *acct = NULL;
	double spent = 0, after = 0;
	err = fb_ledger_accountant(ledger, d.accountant, &acct);
	if (err == FB_OK) {
		err = fb_acct_epsilon(acct, d.delta, &spent);
	}
	if (err == FB_OK && c->report_eval) {
		struct fb_dp_config e;
		struct fb_acct_grid eg;
		node_eval_dp_config(pol, &e);
		node_eval_acct_grid(pol, &eg);
		err = fb_acct_add(acct, e.q, e.sigma, 1);
		if (err == FB_OK) {
			err = fb_acct_add_grid(acct, &eg, 1);
		}
	}
	if (err == FB_OK) {
		struct fb_acct_grid g;
		fb_dp_acct_grid(*dp, &g);
		err = fb_acct_add(acct, d.q, fb_dp_sigma_accounted(*dp), steps);
		if (err == FB_OK) {
			err = fb_acct_add_grid(acct, &g, steps);
		}
	}
	if (err == FB_OK) {
		err = fb_acct_epsilon(acct, d.delta, &after);
	}
	fb_acct_destroy(acct);
	if (err != FB_OK) {
		fb_dp_close(*dp);
		*dp = NULL;
		return err;
	}
	if (!(after <= d.epsilon)) {
		fb_dp_close(*dp);
		*dp = NULL;
		refuse_over_budget(pol, c, steps, spent, after, out);
	}
	return FB_OK;
}

// One DP release per step, as fit.c's dp_epoch (include/fedbundle/privacy/dp.h).
static fb_err
train_dp(struct fb_trainer *t, const struct fb_model *local, struct fb_dp *dp,
		const struct node_policy *pol,
		const struct fb_wire_round_config *c, uint32_t steps,
		uint32_t round, struct node_round *out)
{
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(t, &n_active);
	struct fb_release_layout L;
	fb_train_release_layout(fb_trainer_config(t), local->n_items,
			local->n_bundles, &L);
	uint32_t *sampled = malloc(((size_t)n_active + 1) * sizeof(*sampled));
	int64_t *release = malloc((L.len + 1) * sizeof(*release));
	struct fb_rep_grad g = {0};
	fb_err err = sampled == NULL || release == NULL
			? FB_ENOMEM
			: fb_rep_grad_init(&g, local);
	// The expected batch of the policy's PUBLIC number of users, never
	// a count of the data (dp.h).
	double scale = ldexp(1.0, fb_dp_grid_log2(dp)) /
			(c->sampling_rate * (double)pol->users);
	double loss = 0;
	uint64_t samples = 0;
	for (uint32_t s = 0; s < steps && err == FB_OK; s++) {
		err = check_stop(round, s, steps, "DP steps");
		if (err == FB_OK) {
			err = fb_dp_begin_release(dp, round);
		}
		if (err != FB_OK) {
			break;
		}
		fb_crashpoint("client.after_ledger"); // entry durable
		uint32_t m = 0;
		fb_dp_sample(dp, active, n_active, sampled, &m);
		struct fb_train_stats st;
		uint64_t stream = ((uint64_t)round << 24) + s;
		err = fb_trainer_batch_release(t, sampled, m, c->clip_norm,
				fb_dp_grid_log2(dp), stream, release, L.len,
				&st);
		if (err == FB_OK) {
			err = fb_dp_noise_i64(dp, release, L.len);
		}
		if (err == FB_OK) {
			err = fb_trainer_release_unpack(
					t, release, L.len, scale, &g);
		}
		if (err == FB_OK) {
			err = fb_trainer_apply(t, &g);
		}
		if (err != FB_OK) {
			break;
		}
		fb_crashpoint("client.train");
		loss += st.loss;
		samples += st.samples;
		out->steps = s + 1;
	}
	out->loss = samples > 0 ? loss / (double)samples : 0;
	fb_rep_grad_finish(&g);
	free(release);
	free(sampled);
	return err;
}

static double
delta_sqnorm(const struct fb_matrix *a, const struct fb_matrix *b)
{
	double s = 0;
	size_t n = fb_matrix_len(a);
	for (size_t k = 0; k < n; k++) {
		double d = (double)a->data[k] - b->data[k];
		s += d * d;
	}
	return s;
}

static void
write_delta(float *dst, const struct fb_matrix *local,
		const struct fb_matrix *global, float scale)
{
	size_t n = fb_matrix_len(local);
	for (size_t k = 0; k < n; k++) {
		dst[k] = scale * (local->data[k] - global->data[k]);
	}
}

fb_err
node_local_eval(const struct node_policy *pol, const struct fb_dataset *ds,
		const struct node_state *st, double *recall_sum,
		double *ndcg_sum, uint32_t *users)
{
	if (st->global.dim == 0 || st->P.rows != ds->n_users ||
			st->P.cols != st->global.dim) {
		return fb_errorf(FB_ESTATE,
				"no trained state to evaluate yet (no round "
				"completed)");
	}
	static const uint32_t ks[1] = {20};
	struct fb_eval_result r;
	fb_err err = fb_fit_evaluate(ds, &st->global, &st->P, &st->opts,
			&ds->ub_test, ks, 1, (int)pol->threads, &r);
	if (err != FB_OK) {
		return err;
	}
	*recall_sum = r.sum.recall[0];
	*ndcg_sum = r.sum.ndcg[0];
	*users = (uint32_t)r.n_users;
	return FB_OK;
}

// True if m has this shape (a zeroed model has none).
static bool
shaped(const struct fb_model *m, uint32_t items, uint32_t bundles,
		uint32_t attrs, uint32_t dim)
{
	return m->n_items == items && m->n_bundles == bundles &&
			m->n_attrs == attrs && m->dim == dim && dim > 0;
}

void
node_work_finish(struct node_work *w)
{
	if (w == NULL) {
		return;
	}
	fb_trainer_destroy(w->trainer);
	fb_model_finish(&w->local);
	fb_model_finish(&w->spare);
	memset(w, 0, sizeof(*w));
}

// One round in the making, handed from stage to stage by node_local_round.
struct round_run {
	const struct node_policy *pol;
	const struct fb_dataset *ds;
	struct node_state *st;
	struct fb_ledger *ledger;
	const struct fb_wire_plan *plan;
	const struct fb_wire_round_config *c;
	uint32_t round;
	uint32_t n_attrs;
	uint32_t steps;       // local steps (DP releases at user level)
	struct fb_model recv; // the plan's model, then the new global one
	struct fb_model own;  // the working copy when there is no node_work
	struct fb_model *local, *spare;
	struct fb_trainer *t;
	struct fb_dp *dp;
	struct fb_wire_update u; // the UPDATE's shape and fields
	size_t blen;             // its body's length
};

// The received model into the working copy, the user factors (fresh in
// the first round or for a new dimension) and the trainer over them.
static fb_err
prepare_trainer(struct round_run *r)
{
	const struct fb_wire_round_config *c = r->c;
	struct node_state *st = r->st;
	copy_plan_tensor(
			&r->recv.V, plan_tensor(r->plan, FB_WIRE_TENSOR_ITEMS));
	copy_plan_tensor(&r->recv.W,
			plan_tensor(r->plan, FB_WIRE_TENSOR_BUNDLES));
	copy_plan_tensor(&r->recv.M,
			plan_tensor(r->plan, FB_WIRE_TENSOR_ATTR_PROJ));
	if (!shaped(r->local, r->recv.n_items, r->recv.n_bundles,
			    r->recv.n_attrs, r->recv.dim)) {
		// A new shape (or the first round): a new workspace.
		fb_trainer_destroy(r->t);
		r->t = NULL;
		fb_model_finish(r->local);
		memset(r->local, 0, sizeof(*r->local));
	}
	fb_err err = fb_model_copy(r->local, &r->recv);
	if (err != FB_OK) {
		return err;
	}
	struct fb_train_config tc;
	train_config(&tc, r->pol, c, r->round);
	if (st->P.rows != r->ds->n_users || st->P.cols != c->hp.dim) {
		fb_matrix_finish(&st->P);
		err = fb_matrix_init(&st->P, r->ds->n_users, c->hp.dim);
		if (err != FB_OK) {
			return err;
		}
		struct fb_rng rng;
		fb_rng_seed(&rng, r->pol->seed, 0x9a11ULL);
		fb_matrix_randn(&st->P, &rng, (float)c->hp.init_std);
		if (c->hp.bias) {
			// The users' bias coordinate is fixed to 1 (model.h).
			for (size_t u = 0; u < st->P.rows; u++) {
				fb_matrix_row(&st->P, u)[c->hp.dim - 1] = 1.0f;
			}
		}
	}
	if (r->t != NULL && fb_trainer_restart(r->t, &tc) != FB_OK) {
		fb_trainer_destroy(r->t); // built for another configuration
		r->t = NULL;
	}
	if (r->t == NULL) {
		err = fb_trainer_create(&r->t, r->ds, r->local, &st->P, &tc);
	}
	return err;
}

// Stage 1: the plan against the policy, the buffers, the UPDATE's size,
// the number of steps and (user level) the DP state, the user factors and
// the trainer. Refusals go to out; errors are returned.
static fb_err
round_prepare(struct round_run *r, struct node_work *work,
		struct node_round *out)
{
	const struct fb_wire_round_config *c = r->c;
	const struct fb_dataset *ds = r->ds;
	check_policy(r->pol, ds, c, r->plan, out);
	if (out->refuse) {
		return FB_OK;
	}
	r->n_attrs = c->hp.use_attrs ? ds->n_attrs : 0;
	r->local = work != NULL ? &work->local : &r->own;
	r->t = work != NULL ? work->trainer : NULL;
	r->spare = work != NULL ? &work->spare : NULL;
	fb_err err = FB_OK;
	if (r->spare != NULL &&
			shaped(r->spare, ds->n_items, ds->n_bundles, r->n_attrs,
					c->hp.dim)) {
		r->recv = *r->spare; // the previous global model's buffers
		memset(r->spare, 0, sizeof(*r->spare));
	} else {
		fb_model_finish(r->spare);
		err = fb_model_init(&r->recv, ds->n_items, ds->n_bundles,
				r->n_attrs, c->hp.dim);
	}
	if (err != FB_OK) {
		return err;
	}
	if (c->has_secagg) {
		secure_shape(&r->u, r->pol, ds, c);
	} else {
		update_shape(&r->u, &r->recv, c);
	}
	r->blen = fb_wire_update_len(&r->u);
	if (r->blen == 0) {
		return fb_errorf(FB_EINVAL, "cannot size the UPDATE");
	}
	if (r->pol->max_update_bytes > 0 &&
			FB_SEALED_LEN(r->blen) > r->pol->max_update_bytes) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"an update of %zu bytes is over the policy's "
				"%llu",
				FB_SEALED_LEN(r->blen),
				(unsigned long long)r->pol->max_update_bytes);
		return FB_OK;
	}
	// In double: local_epochs x ceil(1/q) overflows u32 for a tiny q.
	double steps_d = c->local_steps > 0 ? (double)c->local_steps
					    : (double)c->local_epochs *
					ceil(1.0 / c->sampling_rate);
	if (c->granularity == FB_WIRE_GRAN_USER && steps_d > MAX_DP_STEPS) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"a round of %.0f DP steps is more than the %u "
				"this client runs",
				steps_d, MAX_DP_STEPS);
		return FB_OK;
	}
	r->steps = steps_d > MAX_DP_STEPS ? MAX_DP_STEPS : (uint32_t)steps_d;
	if (c->granularity == FB_WIRE_GRAN_USER) {
		err = open_dp(r->pol, ds, c, r->steps, r->st->ledger_count,
				r->ledger, &r->dp, out);
		if (err != FB_OK || out->refuse) {
			return err;
		}
	}
	return prepare_trainer(r);
}

// Stage 2: the local steps (DP releases at user level), the check that
// they did not diverge, and the received model adopted as the latest
// global one.
static fb_err
round_train(struct round_run *r, struct node_round *out)
{
	double t0 = fb_clock_s(), cpu1 = node_cpu_s();
	fb_err err;
	if (r->dp != NULL) {
		err = train_dp(r->t, r->local, r->dp, r->pol, r->c, r->steps,
				r->round, out);
	} else {
		struct fb_train_config tc;
		train_config(&tc, r->pol, r->c, r->round);
		err = train_plain(r->t, r->local, r->c, &tc, r->round, out);
	}
	out->train_s = fb_clock_s() - t0;
	out->cpu.train = node_cpu_s() - cpu1;
	if (err != FB_OK) {
		return err;
	}
	struct node_state *st = r->st;
	if (!fb_matrix_all_finite(&r->local->V) ||
			!fb_matrix_all_finite(&r->local->W) ||
			!fb_matrix_all_finite(&r->local->M) ||
			!fb_matrix_all_finite(&st->P)) {
		return fb_errorf(FB_ESTATE,
				"local training diverged (non-finite factors): "
				"the plan's learning rate is too high");
	}
	// The received model becomes the latest global one; the previous
	// one's buffers take the next round's.
	if (r->spare != NULL) {
		*r->spare = st->global;
	} else {
		fb_model_finish(&st->global);
	}
	st->global = r->recv;
	memset(&r->recv, 0, sizeof(r->recv));
	// The representation switches the trainer actually used.
	st->opts = *fb_trainer_rep_opts(r->t);
	if (r->dp != NULL) {
		return fb_dp_spent(r->dp, &out->epsilon, &out->releases);
	}
	return FB_OK;
}

// Stage 3: the metrics the plan asks for: at user level a DP release of
// their own (evalrelease.h), with epsilon recomputed from the whole
// ledger; otherwise the plain sums.
static fb_err
round_metrics(struct round_run *r, struct node_round *out)
{
	if (!r->c->report_eval) {
		return FB_OK;
	}
	double t0 = fb_clock_s(), cpu1 = node_cpu_s();
	fb_err err;
	if (r->dp != NULL) {
		struct node_eval_sums e;
		err = node_eval_release(r->pol, r->ds, r->st, r->ledger,
				r->round, (uint64_t)out->releases, &e);
		if (err != FB_OK) {
			return err;
		}
		out->recall_sum = e.recall_sum;
		out->ndcg_sum = e.ndcg_sum;
		out->eval_users = e.users;
		// What is spent now: the ledger, with both kinds of release.
		struct fb_acct *acct = NULL;
		err = fb_ledger_accountant(r->ledger,
				(enum fb_acct_kind)r->pol->accountant, &acct);
		if (err == FB_OK) {
			err = fb_acct_epsilon(
					acct, r->pol->delta, &out->epsilon);
			out->releases = fb_ledger_count(r->ledger);
		}
		fb_acct_destroy(acct);
	} else {
		err = node_local_eval(r->pol, r->ds, r->st, &out->recall_sum,
				&out->ndcg_sum, &out->eval_users);
	}
	out->eval_s = fb_clock_s() - t0;
	out->cpu.eval = node_cpu_s() - cpu1;
	return err;
}

// Stage 4: the UPDATE body: the fields, then the model delta (clipped to
// C as a whole at client level, DP-FedAvg).
static fb_err
round_encode(struct round_run *r, struct node_round *out)
{
	const struct fb_wire_round_config *c = r->c;
	struct fb_wire_update *u = &r->u;
	u->epsilon_spent = out->epsilon;
	// The loss is computed from the customers' data without noise: it
	// leaves only in non-private rounds (docs/privacy.md, what leaves).
	u->train_loss = c->granularity == FB_WIRE_GRAN_NONE &&
					isfinite(out->loss)
			? out->loss
			: 0;
	u->recall_sum = out->recall_sum;
	u->ndcg_sum = out->ndcg_sum;
	u->eval_users = out->eval_users;
	struct fb_msg *msg = NULL;
	fb_err err = fb_msg_alloc(&msg, FB_SEALED_LEN(r->blen));
	if (err != FB_OK) {
		return err;
	}
	void *slots[3] = {NULL, NULL, NULL};
	size_t blen = r->blen;
	err = fb_wire_update_encode(fb_msg_data(msg) + FB_ENV_BODY_OFF, blen, u,
			&blen, slots);
	if (err != FB_OK) {
		fb_msg_free(msg);
		return err;
	}
	float scale = 1.0f;
	const struct fb_model *g = &r->st->global;
	const struct fb_model *local = r->local;
	if (c->granularity == FB_WIRE_GRAN_CLIENT) {
		double norm = sqrt(delta_sqnorm(&local->V, &g->V) +
				delta_sqnorm(&local->W, &g->W) +
				delta_sqnorm(&local->M, &g->M));
		if (norm > c->clip_norm) {
			scale = nextafterf((float)(c->clip_norm / norm), 0.0f);
		}
	}
	write_delta(slots[0], &local->V, &g->V, scale);
	write_delta(slots[1], &local->W, &g->W, scale);
	if (r->n_attrs > 0) {
		write_delta(slots[2], &local->M, &g->M, scale);
	}
	out->update = msg;
	return FB_OK;
}

fb_err
node_local_round(const struct node_policy *pol, const struct fb_dataset *ds,
		struct node_state *st, struct fb_ledger *ledger,
		const struct fb_wire_plan *plan, uint32_t round,
		struct node_work *work, struct node_round *out)
{
	memset(out, 0, sizeof(*out));
	out->epsilon = INFINITY;
	if (plan->config.has_secagg) {
		return fb_errorf(FB_EINVAL,
				"round %u: a secure aggregation plan goes "
				"through node_local_secure_prepare",
				round);
	}
	struct round_run r = {.pol = pol,
			.ds = ds,
			.st = st,
			.ledger = ledger,
			.plan = plan,
			.c = &plan->config,
			.round = round,
			// The kept trainer goes back to work even if the plan
			// is refused before round_prepare takes it.
			.t = work != NULL ? work->trainer : NULL};
	double cpu0 = node_cpu_s();
	fb_err err = round_prepare(&r, work, out);
	out->cpu.prepare = node_cpu_s() - cpu0;
	if (err == FB_OK && !out->refuse) {
		err = round_train(&r, out);
	}
	if (err == FB_OK && !out->refuse) {
		err = round_metrics(&r, out);
	}
	if (err == FB_OK && !out->refuse) {
		// The checks of the trained factors, the DP account and the
		// encoding.
		cpu0 = node_cpu_s();
		err = round_encode(&r, out);
		out->cpu.encode = node_cpu_s() - cpu0;
	}
	if (work != NULL) {
		work->trainer = r.t;
	} else {
		fb_trainer_destroy(r.t);
	}
	fb_dp_close(r.dp);
	fb_model_finish(&r.own);
	fb_model_finish(&r.recv);
	return err;
}

// ---- secure aggregation (local.h) ----

struct node_secure {
	struct round_run r;
	struct fb_wire_plan plan; // the plan's configuration, no tensors
	uint8_t *keys;            // copy of plan.config.sa.keys
	struct node_work *work;
	int64_t *release; // the noised release, len coordinates
	size_t len;
};

// The secure plan against this client's roster and policy (secagg-v1
// §3.1, §3.6, §2.3, wire-v1 §5.3.1 0x801d): the consortium id this client
// computed from its pinned aggregator key and its roster, every index's
// key enrolled, its own
// key at its index, a threshold above (n + c) / 2 and an honest share left
// for the c colluders it assumes, and one release per round. Sets
// out->refuse.
static void check_ring(const struct node_policy *pol,
		const struct fb_wire_round_config *c, struct node_round *out);

static void
check_secure(const struct node_policy *pol, const struct fb_roster *roster,
		const uint8_t consortium[FB_WIRE_SECAGG_CONSORTIUM_LEN],
		const uint8_t own_pk[FB_ID_PK_LEN],
		const struct fb_wire_round_config *c, struct node_round *out)
{
	const struct fb_wire_secagg *sa = &c->sa;
	if (roster == NULL) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation needs the consortium "
				"roster (policy key roster)");
		return;
	}
	if (sodium_memcmp(sa->consortium, consortium,
			    FB_WIRE_SECAGG_CONSORTIUM_LEN) != 0) {
		char got[2 * FB_WIRE_SECAGG_CONSORTIUM_LEN + 1];
		char want[2 * FB_WIRE_SECAGG_CONSORTIUM_LEN + 1];
		sodium_bin2hex(got, sizeof(got), sa->consortium,
				FB_WIRE_SECAGG_CONSORTIUM_LEN);
		sodium_bin2hex(want, sizeof(want), consortium,
				FB_WIRE_SECAGG_CONSORTIUM_LEN);
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation: plan consortium %s is "
				"not %s, its own (pinned aggregator key + "
				"roster)",
				got, want);
		return;
	}
	for (uint32_t i = 1; i <= sa->n; i++) {
		const uint8_t *k = sa->keys + (size_t)(i - 1) * FB_ID_PK_LEN;
		if (fb_roster_find(roster, k) == NULL) {
			refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
					"secure aggregation: the key of index "
					"%u is not in the roster %s",
					i, pol->roster);
			return;
		}
	}
	const uint8_t *mine = sa->keys + (size_t)(sa->index - 1) * FB_ID_PK_LEN;
	if (memcmp(mine, own_pk, FB_ID_PK_LEN) != 0) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation: index %u is not this "
				"client's key",
				sa->index);
		return;
	}
	// §2.3: against the aggregator and c colluders, t > (n + c) / 2;
	// otherwise they could gather t shares of both secrets of an honest
	// party from clients told different stories (no §3.5 round yet).
	uint64_t colluders = pol->secagg_assumed_colluders;
	if (2 * (uint64_t)sa->t <= (uint64_t)sa->n + colluders) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation: threshold %u of %u parties "
				"is not above (n + %u assumed colluders) / 2",
				sa->t, sa->n, pol->secagg_assumed_colluders);
		return;
	}
	if (secure_honest(pol, c) == 0) { // implied by the check above
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation: the policy assumes %u "
				"colluders, the plan's n_min is %u: no honest "
				"noise share left",
				pol->secagg_assumed_colluders, sa->n_min);
		return;
	}
	if (c->local_steps != 1) {
		refuse(out, FB_WIRE_REASON_POLICY_REFUSED,
				"secure aggregation releases once per round: "
				"local_steps must be 1, not %u",
				c->local_steps);
		return;
	}
	check_ring(pol, c, out);
}

void
node_local_secure_destroy(struct node_secure *s)
{
	if (s == NULL) {
		return;
	}
	if (s->work != NULL) {
		s->work->trainer = s->r.t;
	} else {
		fb_trainer_destroy(s->r.t);
	}
	fb_dp_close(s->r.dp);
	fb_model_finish(&s->r.own);
	if (s->work != NULL && s->r.recv.dim > 0 && s->work->spare.dim == 0) {
		s->work->spare = s->r.recv; // buffers for the next round
	} else {
		fb_model_finish(&s->r.recv);
	}
	free(s->keys);
	free(s->release);
	free(s);
}

fb_err
node_local_secure_prepare(const struct node_policy *pol,
		const struct fb_dataset *ds, struct node_state *st,
		struct fb_ledger *ledger, const struct fb_roster *roster,
		const uint8_t consortium[FB_WIRE_SECAGG_CONSORTIUM_LEN],
		const uint8_t own_pk[FB_ID_PK_LEN],
		const struct fb_wire_plan *plan, uint32_t round,
		struct node_work *work, struct node_secure **sec,
		struct node_round *out)
{
	memset(out, 0, sizeof(*out));
	out->epsilon = INFINITY;
	*sec = NULL;
	const struct fb_wire_round_config *c = &plan->config;
	if (!c->has_secagg) {
		return fb_errorf(FB_EINVAL, "round %u: not a secure plan",
				round);
	}
	check_secure(pol, roster, consortium, own_pk, c, out);
	if (out->refuse) {
		return FB_OK;
	}
	struct node_secure *s = calloc(1, sizeof(*s));
	size_t klen = (size_t)c->sa.n * FB_ID_PK_LEN;
	if (s == NULL || (s->keys = malloc(klen)) == NULL) {
		free(s);
		return FB_ENOMEM;
	}
	memcpy(s->keys, c->sa.keys, klen);
	s->plan.kind = plan->kind;
	s->plan.deadline_ms = plan->deadline_ms;
	s->plan.config = *c;
	s->plan.config.sa.keys = s->keys;
	s->work = work;
	s->r = (struct round_run){.pol = pol,
			.ds = ds,
			.st = st,
			.ledger = ledger,
			.plan = plan, // its tensors: read by round_prepare only
			.c = &s->plan.config,
			.round = round,
			.t = work != NULL ? work->trainer : NULL};
	double cpu0 = node_cpu_s();
	fb_err err = round_prepare(&s->r, work, out);
	out->cpu.prepare = node_cpu_s() - cpu0;
	s->r.plan = &s->plan;
	if (err == FB_OK && !out->refuse) {
		s->len = s->r.u.tensors[0].rows;
		s->release = malloc((s->len + 1) * sizeof(*s->release));
		err = s->release == NULL ? FB_ENOMEM : FB_OK;
	}
	if (err != FB_OK || out->refuse) {
		node_local_secure_destroy(s);
		return err;
	}
	*sec = s;
	return FB_OK;
}

// secagg-v1 §2.2: the plan's ring must hold the sum by the bound a client
// can check itself: its own declared users plus one for every other party
// (each holds at least one), B grid steps each, plus the noise of the n
// shares calibrated for the plan's h (the grid as every party derives it
// from sigma and C). The aggregator's check with every declared user is
// stricter; a narrower ring than this one is refused (secagg-refused).
static void
check_ring(const struct node_policy *pol, const struct fb_wire_round_config *c,
		struct node_round *out)
{
	const struct fb_wire_secagg *sa = &c->sa;
	uint32_t bits = sa->ring_bits == 0 ? 64 : sa->ring_bits;
	double sigma = c->noise_multiplier;
	int32_t grid = fb_dp_grid_for(sigma * c->clip_norm, c->clip_norm);
	uint64_t users = pol->users + (uint64_t)sa->n - 1;
	if (!fb_secagg_ring_fits(bits, users, sa->n, sa->noise_shares, sigma,
			    c->clip_norm, grid)) {
		refuse(out, FB_WIRE_REASON_SECAGG_REFUSED,
				"secure aggregation: the ring Z_(2^%u) can "
				"wrap: %llu users (this client's %llu and one "
				"for each other party) and the noise of %u "
				"shares pass 2^%u (secagg-v1 §2.2)",
				bits, (unsigned long long)users,
				(unsigned long long)pol->users, sa->n,
				bits - 1);
	}
}

size_t
node_local_secure_len(const struct node_secure *s)
{
	return s->len;
}

// The one release of a secure round: the ledger entry (fsync'd), the
// Poisson sample, the exact clipped sum on the release layout and the
// noise share, into s->release.
static fb_err
secure_release(struct node_secure *s, struct node_round *out)
{
	struct round_run *r = &s->r;
	uint32_t n_active;
	const uint32_t *active = fb_trainer_active_users(r->t, &n_active);
	uint32_t *sampled = malloc(((size_t)n_active + 1) * sizeof(*sampled));
	if (sampled == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_dp_begin_release(r->dp, r->round);
	if (err == FB_OK) {
		fb_crashpoint("client.after_ledger"); // entry durable
		uint32_t m = 0;
		fb_dp_sample(r->dp, active, n_active, sampled, &m);
		struct fb_train_stats st = {0};
		err = fb_trainer_batch_release(r->t, sampled, m,
				r->c->clip_norm, fb_dp_grid_log2(r->dp),
				(uint64_t)r->round << 24, s->release, s->len,
				&st);
		out->loss = err == FB_OK && st.samples > 0
				? st.loss / (double)st.samples
				: 0;
	}
	if (err == FB_OK) {
		err = fb_dp_noise_i64(r->dp, s->release, s->len);
	}
	free(sampled);
	out->steps = err == FB_OK ? 1 : 0;
	return err;
}

fb_err
node_local_secure_release(
		struct node_secure *s, int64_t **x, struct node_round *out)
{
	struct round_run *r = &s->r;
	double t0 = fb_clock_s(), cpu1 = node_cpu_s();
	fb_err err = secure_release(s, out);
	out->train_s = fb_clock_s() - t0;
	out->cpu.train = node_cpu_s() - cpu1;
	if (err != FB_OK) {
		return err;
	}
	struct node_state *st = r->st;
	if (!fb_matrix_all_finite(&st->P)) {
		return fb_errorf(FB_ESTATE,
				"local training diverged (non-finite user "
				"factors): the plan's learning rate is too high");
	}
	// The received model becomes the latest global one.
	if (r->spare != NULL) {
		*r->spare = st->global;
	} else {
		fb_model_finish(&st->global);
	}
	st->global = r->recv;
	memset(&r->recv, 0, sizeof(r->recv));
	st->opts = *fb_trainer_rep_opts(r->t);
	struct fb_ledger_entry e;
	err = fb_dp_spent(r->dp, &out->epsilon, &out->releases);
	if (err == FB_OK) {
		err = fb_ledger_entry_at(
				r->ledger, fb_ledger_count(r->ledger) - 1, &e);
	}
	if (err == FB_OK) {
		out->eps_alone = e.eps_alone;
	}
	*x = s->release;
	return err;
}

fb_err
node_local_secure_encode(struct node_secure *s, const uint64_t *y,
		struct node_round *out)
{
	struct fb_wire_update *u = &s->r.u;
	u->epsilon_spent = out->epsilon;
	u->tensors[0].exp = (int8_t)fb_dp_grid_log2(s->r.dp);
	u->tensors[0].data = NULL; // packed into the slot below
	struct fb_msg *msg = NULL;
	fb_err err = fb_msg_alloc(&msg, FB_SEALED_LEN(s->r.blen));
	if (err != FB_OK) {
		return err;
	}
	size_t blen = s->r.blen;
	void *slots[1] = {NULL};
	err = fb_wire_update_encode(fb_msg_data(msg) + FB_ENV_BODY_OFF, blen, u,
			&blen, slots);
	if (err != FB_OK) {
		fb_msg_free(msg);
		return err;
	}
	// secagg-v1 §6: ring_bits / 8 little-endian bytes an element.
	uint32_t bits = s->plan.config.sa.ring_bits;
	fb_secagg_ring_pack(slots[0], y, s->len, bits == 0 ? 64 : bits);
	out->update = msg;
	return FB_OK;
}
