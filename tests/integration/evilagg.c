// tests/integration/evilagg.c: a hostile (or badly misconfigured) fake
// aggregator for test-fed-lockout.sh. It speaks protocols/wire-v1.md through
// the shared fake aggregator (fakeagg.h) to one real fedbundle-client
// with a user-level DP policy, and sends it
// one plan per case below: extreme noise multipliers (far too small for
// the budget, below the policy's minimum, 0, NaN, Inf, enormous),
// sampling rates (0, above 1, 1, vanishing), local steps, clip norms,
// shapes, granularities and round ids (repeated, decreasing), then one
// honest plan and DONE. NaN, Inf, q = 0 or > 1 and clip 0 are not
// encodable (wire-v1 §5.3.1): they are patched into an encoded plan's
// config entry. Each case says what answers it accepts; the client must
// refuse every hostile plan (REFUSE, or a sealed ERROR for a plan that
// does not decode), poll READY throughout (never BUDGET_EXHAUSTED: it has
// spent nothing), and train the honest plan. Prints TAP; exit 0 if every
// check holds. The test script reads the client's ledger afterwards.
// usage: evilagg URL AGGREGATOR.key ROSTER DATA
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeagg.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/clock.h"

#define DIM 16

// What a case changes in the honest plan; patch: a config f64 equal to
// `from` is overwritten with `to` in the encoded body (unencodable values).
struct evil_case {
	const char *name;
	uint32_t round;
	void (*edit)(struct fb_wire_plan *p);
	double from, to;    // patch if from != 0
	bool honest;        // expects an UPDATE
	uint16_t accept[3]; // REFUSE or ERROR reasons accepted (0-ended)
};

// The client's answer to a case.
struct outcome {
	bool answered;
	uint8_t type; // FB_WIRE_REFUSE, FB_WIRE_ERROR or FB_WIRE_UPDATE
	uint16_t reason;
};

static struct fakeagg fa;
static uint32_t polls, polls_not_ready;

// The honest plan: user-level DP with q 0.5, sigma 2, one step.
static void
honest_plan(struct fb_wire_plan *p)
{
	fakeagg_train_plan(&fa, p);
	struct fb_wire_round_config *c = &p->config;
	c->granularity = FB_WIRE_GRAN_USER;
	c->sampling_rate = 0.5;
	c->noise_multiplier = 2.0;
	c->clip_norm = 1.0;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = 1;
	c->hp.lr = 0.01;
	c->hp.item_weight = 1.0;
	c->hp.negatives = 1;
	c->hp.item_view = false;
	c->hp.use_attrs = false;
	c->hp.user_item_view = false;
}

// ---- the cases' edits ----
static void
sigma_tiny(struct fb_wire_plan *p)
{
	// Above the policy's minimum (0.3), far below what 40 full-batch
	// steps need within epsilon 4.
	p->config.sampling_rate = 1;
	p->config.noise_multiplier = 0.35;
	p->config.local_steps = 40;
}
static void
sigma_below_min(struct fb_wire_plan *p)
{
	p->config.noise_multiplier = 0.1;
}
static void
sigma_zero(struct fb_wire_plan *p)
{
	p->config.noise_multiplier = 0;
}
static void
sigma_huge(struct fb_wire_plan *p)
{
	p->config.noise_multiplier = 1e300;
}
static void
q_one(struct fb_wire_plan *p)
{
	p->config.sampling_rate = 1;
	p->config.noise_multiplier = 0.5;
	p->config.local_steps = 4;
}
static void
q_vanishing(struct fb_wire_plan *p)
{
	// One epoch of ceil(1/q) = 1e12 steps (a u32 overflow, once).
	p->config.sampling_rate = 1e-12;
	p->config.local_steps = 0;
	p->config.local_epochs = 1;
}
static void
steps_huge(struct fb_wire_plan *p)
{
	p->config.local_steps = 4000000000u;
}
static void
steps_many(struct fb_wire_plan *p)
{
	p->config.local_steps = 1000000;
}
static void
epochs_huge(struct fb_wire_plan *p)
{
	p->config.local_steps = 0;
	p->config.local_epochs = 4000000000u;
}
static void
clip_huge(struct fb_wire_plan *p)
{
	p->config.clip_norm = 1e300;
}
static void
clip_tiny(struct fb_wire_plan *p)
{
	p->config.clip_norm = 1e-300;
}
static void
rows_wrong(struct fb_wire_plan *p)
{
	p->tensors[0].rows = fa.n_items - 1;
}
static void
dim_disagrees(struct fb_wire_plan *p)
{
	p->config.hp.dim = DIM / 2; // the tensors keep DIM columns
}
static void
dim_over_max(struct fb_wire_plan *p)
{
	p->config.hp.dim = 64; // over the policy's max_dim 32; tensors of DIM
}
static void
no_bundles(struct fb_wire_plan *p)
{
	p->n_tensors = 1;
}
static void
gran_none(struct fb_wire_plan *p)
{
	p->config.granularity = FB_WIRE_GRAN_NONE;
	p->config.noise_multiplier = 0;
}
static void
gran_client(struct fb_wire_plan *p)
{
	p->config.granularity = FB_WIRE_GRAN_CLIENT;
	p->config.noise_multiplier = 0.01;
}
static void
eval_asked(struct fb_wire_plan *p)
{
	p->config.report_eval = true;
}
static void
min_users_over(struct fb_wire_plan *p)
{
	p->config.min_users = 1000000000ull;
}
static void
plain(struct fb_wire_plan *p)
{
	(void)p;
}

#define PR FB_WIRE_REASON_POLICY_REFUSED
#define SM FB_WIRE_REASON_SHAPE_MISMATCH
#define MF FB_WIRE_REASON_MALFORMED
#define WR FB_WIRE_REASON_WRONG_ROUND
// Sentinels patched into the encoded config (distinct from every value
// the honest plan sends).
#define S_SIGMA 1.75
#define S_Q 0.375
#define S_CLIP 1.625

static void
sentinel_sigma(struct fb_wire_plan *p)
{
	p->config.noise_multiplier = S_SIGMA;
}
static void
sentinel_q(struct fb_wire_plan *p)
{
	p->config.sampling_rate = S_Q;
}
static void
sentinel_clip(struct fb_wire_plan *p)
{
	p->config.clip_norm = S_CLIP;
}

static const struct evil_case cases[] = {
		{"sigma far below the budget's need", 1, sigma_tiny, 0, 0,
				false, {PR}},
		{"sigma below min_noise_multiplier", 2, sigma_below_min, 0, 0,
				false, {PR}},
		{"sigma 0", 3, sigma_zero, 0, 0, false, {PR}},
		{"sigma NaN", 4, sentinel_sigma, S_SIGMA, NAN, false, {MF}},
		{"sigma +Inf", 4, sentinel_sigma, S_SIGMA, INFINITY, false,
				{MF}},
		{"sigma -1", 4, sentinel_sigma, S_SIGMA, -1, false, {MF}},
		{"sigma 1e300", 4, sigma_huge, 0, 0, false, {PR}},
		{"q 0", 5, sentinel_q, S_Q, 0, false, {MF}},
		{"q 1.5", 5, sentinel_q, S_Q, 1.5, false, {MF}},
		{"q NaN", 5, sentinel_q, S_Q, NAN, false, {MF}},
		{"q 1 with a small sigma", 5, q_one, 0, 0, false, {PR}},
		{"q 1e-12 (1e12 steps per epoch)", 6, q_vanishing, 0, 0, false,
				{PR}},
		{"4e9 local steps", 7, steps_huge, 0, 0, false, {PR}},
		{"1e6 local steps", 8, steps_many, 0, 0, false, {PR}},
		{"4e9 local epochs", 9, epochs_huge, 0, 0, false, {PR}},
		{"clip 0", 10, sentinel_clip, S_CLIP, 0, false, {MF}},
		{"clip +Inf", 10, sentinel_clip, S_CLIP, INFINITY, false, {MF}},
		{"clip 1e300", 10, clip_huge, 0, 0, false, {PR}},
		{"clip 1e-300", 11, clip_tiny, 0, 0, false, {PR}},
		{"item tensor of the wrong height", 12, rows_wrong, 0, 0, false,
				{SM, MF}},
		{"config dim disagrees with the tensors", 13, dim_disagrees, 0,
				0, false, {SM, MF}},
		{"dim over the policy's max_dim", 14, dim_over_max, 0, 0, false,
				{PR, SM, MF}},
		{"no bundle tensor", 15, no_bundles, 0, 0, false, {SM, MF}},
		{"granularity none (not allowed)", 16, gran_none, 0, 0, false,
				{PR}},
		{"granularity client (not allowed)", 17, gran_client, 0, 0,
				false, {PR}},
		{"metrics asked of a policy without them", 18, eval_asked, 0, 0,
				false, {PR}},
		{"min_users over the declared users", 19, min_users_over, 0, 0,
				false, {PR}},
		{"round id repeated", 19, plain, 0, 0, false, {WR}},
		{"round id decreasing", 3, plain, 0, 0, false, {WR}},
		{"round id 0", 0, plain, 0, 0, false, {WR, MF}},
		{"the honest plan", 20, plain, 0, 0, true, {0}},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))
static struct outcome outcomes[N_CASES];
static size_t at; // the case being played

// Overwrites the first 8-byte big-endian f64 equal to from in the config
// block (after the 16-byte fixed part) with to. False if not found.
static bool
patch_f64(uint8_t *body, size_t len, double from, double to)
{
	uint8_t a[8], b[8];
	uint64_t x, y;
	memcpy(&x, &from, 8);
	memcpy(&y, &to, 8);
	for (int k = 0; k < 8; k++) {
		a[k] = (uint8_t)(x >> (56 - 8 * k));
		b[k] = (uint8_t)(y >> (56 - 8 * k));
	}
	size_t cfg = fb_wire_load_u32(body + 12);
	for (size_t off = 16; off + 8 <= 16 + cfg && off + 8 <= len; off++) {
		if (memcmp(body + off, a, 8) == 0) {
			memcpy(body + off, b, 8);
			return true;
		}
	}
	return false;
}

// Replies with plan p of round; for a case with a sentinel, the encoded
// body is patched first.
static void
reply_plan(struct fb_request *req, const struct fb_wire_plan *p, uint32_t round,
		const struct evil_case *k)
{
	if (k == NULL || k->from == 0) {
		fakeagg_reply_plan(&fa, req, 0, round, p);
		return;
	}
	size_t blen = fb_wire_plan_len(p);
	uint8_t *b = blen > 0 ? malloc(blen) : NULL;
	if (b == NULL ||
			fb_wire_plan_encode(b, blen, p, &blen, NULL) != FB_OK) {
		printf("# cannot encode the plan of '%s': %s\n", k->name,
				fb_last_error(FB_EINVAL));
		free(b);
		fb_request_drop(req);
		return;
	}
	if (!patch_f64(b, blen, k->from, k->to)) {
		printf("# '%s': sentinel not found\n", k->name);
	}
	fakeagg_reply(&fa, req, 0, FB_WIRE_PLAN, round, b, blen);
	free(b);
}

// The client's answer to the current case.
static void
record(uint8_t type, uint16_t reason, const char *text)
{
	const struct evil_case *k = &cases[at];
	outcomes[at] = (struct outcome){true, type, reason};
	printf("# case %zu '%s' (round %u): %s %s: %s\n", at + 1, k->name,
			k->round, fb_wire_type_name(type),
			fb_wire_reason_name(reason), text);
	at++;
}

static bool done_sent;

static void
on_poll(struct fb_request *req, const struct fb_wire_header *h,
		const uint8_t *body, size_t blen)
{
	struct fb_wire_poll poll;
	if (fb_wire_poll_decode(&poll, body, blen) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	if (poll.status == FB_WIRE_POLL_UPLOAD) {
		// An upload slot for the honest plan's UPDATE.
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_UPLOAD,
				.deadline_ms = 60000};
		reply_plan(req, &p, h->round_id, NULL);
		return;
	}
	polls++;
	if (poll.status != FB_WIRE_POLL_READY) {
		polls_not_ready++;
		printf("# a POLL with status %u before case %zu\n", poll.status,
				at + 1);
	}
	struct fb_wire_plan p;
	if (at >= N_CASES) {
		memset(&p, 0, sizeof(p));
		p.kind = FB_WIRE_PLAN_DONE;
		reply_plan(req, &p, cases[N_CASES - 1].round, NULL);
		done_sent = true;
		return;
	}
	const struct evil_case *k = &cases[at];
	honest_plan(&p);
	k->edit(&p);
	reply_plan(req, &p, k->round, k);
}

static void
on_sealed(struct fakeagg *agg, struct fb_request *req, int who,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen)
{
	struct fb_wire_reason_text r;
	if (h->type == FB_WIRE_POLL) {
		on_poll(req, h, body, blen);
	} else if (h->type == FB_WIRE_REFUSE && at < N_CASES &&
			fb_wire_refuse_decode(&r, body, blen) == FB_OK) {
		record(h->type, r.reason, r.text);
		fakeagg_reply_ack(agg, req, who, h->round_id);
	} else if (h->type == FB_WIRE_ERROR && at < N_CASES &&
			fb_wire_error_decode(&r, body, blen) == FB_OK) {
		record(h->type, r.reason, r.text);
		fakeagg_reply_ack(agg, req, who, h->round_id);
		fakeagg_end_session(agg, who); // an ERROR ends it (§5.1)
	} else if (h->type == FB_WIRE_UPDATE && at < N_CASES) {
		record(h->type, 0, "");
		fakeagg_reply_ack(agg, req, who, h->round_id);
	} else {
		printf("# unexpected %s (round %u)\n",
				fb_wire_type_name(h->type), h->round_id);
		fakeagg_reply_ack(agg, req, who, h->round_id);
	}
}

static bool
finished(struct fakeagg *agg)
{
	(void)agg;
	return done_sent;
}

static bool
accepted(const struct evil_case *k, const struct outcome *o)
{
	if (!o->answered) {
		return false;
	}
	if (k->honest) {
		return o->type == FB_WIRE_UPDATE;
	}
	if (o->type != FB_WIRE_REFUSE && o->type != FB_WIRE_ERROR) {
		return false;
	}
	for (int j = 0; j < 3 && k->accept[j] != 0; j++) {
		if (k->accept[j] == o->reason) {
			return true;
		}
	}
	return false;
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr,
				"usage: evilagg URL AGGREGATOR.key ROSTER "
				"DATA\n");
		return 99;
	}
	struct fb_dataset *ds = NULL;
	if (!fakeagg_init(&fa, "evilagg", argv[1], argv[2], argv[3],
			    16u << 20) ||
			fb_dataset_load(&ds, argv[4]) != FB_OK ||
			!fakeagg_model(&fa, ds->n_items, ds->n_bundles, DIM,
					11)) {
		fprintf(stderr, "evilagg: %s\n", fb_last_error(FB_EIO));
		fb_dataset_destroy(ds);
		fakeagg_finish(&fa);
		return 99;
	}
	fb_dataset_destroy(ds);
	uint64_t start = fb_clock_ms();
	const struct fakeagg_ops ops = {
			.on_sealed = on_sealed, .finished = finished};
	// The linger lets the DONE reply leave.
	if (!fakeagg_serve(&fa, &ops, 500, 90000)) {
		printf("# timed out at case %zu\n", at + 1);
	}
	printf("# %u READY polls, %u handshakes, %.1f s\n", polls,
			fa.handshakes, (double)(fb_clock_ms() - start) / 1000);
	for (size_t k = 0; k < N_CASES; k++) {
		const struct evil_case *c = &cases[k];
		char what[160];
		snprintf(what, sizeof(what), "%s%s",
				c->honest ? "trained: " : "refused: ", c->name);
		fakeagg_check(&fa, accepted(c, &outcomes[k]), what);
	}
	fakeagg_check(&fa, polls_not_ready == 0,
			"client: every POLL said READY (never exhausted)");
	fakeagg_check(&fa, done_sent, "client: reached DONE");
	int rc = fakeagg_checks_end(&fa);
	fakeagg_finish(&fa);
	return rc;
}
