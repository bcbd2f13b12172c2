// tests/integration/evilagg.c: a hostile (or badly misconfigured) fake
// aggregator for test-fed-lockout.sh. It speaks protocols/wire-v1.md with
// the common primitives (transport listener, fb_hs_server, envelope, wire)
// to one real fedbundle-client with a user-level DP policy, and sends it
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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/rng.h"

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

static struct fb_session *session;
static uint32_t session_pipe;
static float *V, *W;
static uint32_t n_items, n_bundles;
static uint32_t polls, polls_not_ready, handshakes;
static int n_checks, n_failed;

static void
report(bool ok, const char *fmt, const char *name)
{
	printf("%s %d - ", ok ? "ok" : "not ok", ++n_checks);
	printf(fmt, name);
	printf("\n");
	n_failed += !ok;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// The honest plan: user-level DP with q 0.5, sigma 2, one step.
static void
honest_plan(struct fb_wire_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = FB_WIRE_PLAN_TRAIN;
	p->deadline_ms = 60000;
	struct fb_wire_round_config *c = &p->config;
	c->granularity = FB_WIRE_GRAN_USER;
	c->sampling_rate = 0.5;
	c->noise_multiplier = 2.0;
	c->clip_norm = 1.0;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = 1;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	fb_wire_hparams_defaults(&c->hp);
	c->hp.lr = 0.01;
	c->hp.item_weight = 1.0;
	c->hp.negatives = 1;
	c->hp.dim = DIM;
	c->hp.item_view = false;
	c->hp.use_attrs = false;
	c->hp.user_item_view = false;
	p->n_tensors = 2;
	p->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, n_items, DIM, V};
	p->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, n_bundles, DIM, W};
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
	p->tensors[0].rows = n_items - 1;
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

static void
reply_body(struct fb_request *req, uint8_t type, uint32_t round,
		struct fb_msg *m)
{
	if (fb_env_seal(session, fb_msg_data(m), fb_msg_len(m), type, round) !=
			FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	fb_request_reply_take(req, m);
}

static void
reply_plan(struct fb_request *req, const struct fb_wire_plan *p, uint32_t round,
		const struct evil_case *k)
{
	size_t blen = fb_wire_plan_len(p);
	struct fb_msg *m = NULL;
	if (blen == 0 || fb_msg_alloc(&m, FB_SEALED_LEN(blen)) != FB_OK ||
			fb_wire_plan_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, p, &blen, NULL) != FB_OK) {
		printf("# cannot encode the plan of '%s': %s\n",
				k != NULL ? k->name : "DONE",
				fb_last_error(FB_EINVAL));
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	if (k != NULL && k->from != 0 &&
			!patch_f64(fb_msg_data(m) + FB_ENV_BODY_OFF, blen,
					k->from, k->to)) {
		printf("# '%s': sentinel not found\n", k->name);
	}
	reply_body(req, FB_WIRE_PLAN, round, m);
}

static void
reply_ack(struct fb_request *req, uint32_t round)
{
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_ACCEPTED};
	size_t blen = fb_wire_ack_len("");
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, FB_SEALED_LEN(blen)) != FB_OK ||
			fb_wire_ack_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, &a, &blen) != FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	reply_body(req, FB_WIRE_ACK, round, m);
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
on_sealed(struct fb_request *req)
{
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	if (session == NULL || fb_request_pipe(req) != session_pipe ||
			fb_env_open(session, fb_request_data(req),
					fb_request_len(req), &h, &body,
					&blen) != FB_OK) {
		uint8_t out[FB_WIRE_PLAIN_ERROR_MAX];
		size_t len = 0;
		if (fb_wire_plain_error_encode(out, sizeof(out), 0,
				    FB_WIRE_REASON_UNKNOWN_SESSION,
				    "unknown-session", &len) == FB_OK) {
			fb_request_reply_copy(req, out, len);
		} else {
			fb_request_drop(req);
		}
		return;
	}
	struct fb_wire_reason_text r;
	if (h.type == FB_WIRE_POLL) {
		on_poll(req, &h, body, blen);
	} else if (h.type == FB_WIRE_REFUSE && at < N_CASES &&
			fb_wire_refuse_decode(&r, body, blen) == FB_OK) {
		record(h.type, r.reason, r.text);
		reply_ack(req, h.round_id);
	} else if (h.type == FB_WIRE_ERROR && at < N_CASES &&
			fb_wire_error_decode(&r, body, blen) == FB_OK) {
		record(h.type, r.reason, r.text);
		reply_ack(req, h.round_id);
		fb_session_destroy(session); // an ERROR ends it (§5.1)
		session = NULL;
	} else if (h.type == FB_WIRE_UPDATE && at < N_CASES) {
		record(h.type, 0, "");
		reply_ack(req, h.round_id);
	} else {
		printf("# unexpected %s (round %u)\n",
				fb_wire_type_name(h.type), h.round_id);
		reply_ack(req, h.round_id);
	}
}

static void
on_handshake(struct fb_hs_server *hs, struct fb_request *req)
{
	uint8_t out[FB_HS_MSG_MAX];
	size_t out_len = 0;
	struct fb_session *s = NULL;
	fb_err err = fb_hs_server_handle(hs, now_ms(), fb_request_data(req),
			fb_request_len(req), out, sizeof(out), &out_len, &s);
	if (err == FB_OK && s != NULL) {
		fb_session_destroy(session);
		session = s;
		session_pipe = fb_request_pipe(req);
		handshakes++;
	}
	if (out_len > 0) {
		fb_request_reply_copy(req, out, out_len);
	} else {
		fb_request_drop(req);
	}
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
	if (argc != 5 || sodium_init() < 0) {
		fprintf(stderr,
				"usage: evilagg URL AGGREGATOR.key ROSTER "
				"DATA\n");
		return 99;
	}
	struct fb_identity *id = NULL;
	struct fb_roster *roster = NULL;
	struct fb_dataset *ds = NULL;
	if (fb_identity_load(&id, argv[2]) != FB_OK ||
			fb_roster_load(&roster, argv[3]) != FB_OK ||
			fb_dataset_load(&ds, argv[4]) != FB_OK) {
		fprintf(stderr, "evilagg: %s\n", fb_last_error(FB_EIO));
		return 99;
	}
	n_items = ds->n_items;
	n_bundles = ds->n_bundles;
	V = malloc((size_t)n_items * DIM * sizeof(float));
	W = malloc((size_t)n_bundles * DIM * sizeof(float));
	struct fb_rng rng;
	fb_rng_seed(&rng, 11, 0);
	for (size_t k = 0; k < (size_t)n_items * DIM; k++) {
		V[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	for (size_t k = 0; k < (size_t)n_bundles * DIM; k++) {
		W[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	struct fb_hs_server *hs = NULL;
	struct fb_hs_server_config hc = {0};
	const char *urls[] = {argv[1]};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 16u << 20};
	struct fb_listener *l = NULL;
	if (fb_hs_server_create(&hs, id, roster, &hc) != FB_OK ||
			fb_listener_create(&l, &lc) != FB_OK) {
		fprintf(stderr, "evilagg: %s\n", fb_last_error(FB_ENET));
		return 99;
	}
	uint64_t start = now_ms(), done_at = 0;
	while (done_at == 0 || now_ms() - done_at < 500) {
		if (now_ms() - start > 90000) {
			printf("# timed out at case %zu\n", at + 1);
			break;
		}
		if (done_sent && done_at == 0) {
			done_at = now_ms(); // let the DONE reply leave
		}
		struct fb_listener_event ev;
		if (fb_listener_wait(l, 100, &ev) != FB_OK ||
				ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		uint8_t type = fb_request_len(ev.req) > 3
				? fb_request_data(ev.req)[3]
				: 0;
		if (fb_wire_type_is_sealed(type)) {
			on_sealed(ev.req);
		} else {
			on_handshake(hs, ev.req);
		}
	}
	printf("# %u READY polls, %u handshakes, %.1f s\n", polls, handshakes,
			(double)(now_ms() - start) / 1000);
	for (size_t k = 0; k < N_CASES; k++) {
		const struct evil_case *c = &cases[k];
		char what[160];
		snprintf(what, sizeof(what), "%s%s",
				c->honest ? "trained: " : "refused: ", c->name);
		report(accepted(c, &outcomes[k]), "%s", what);
	}
	report(polls_not_ready == 0,
			"%s: every POLL said READY (never exhausted)",
			"client");
	report(done_sent, "%s: reached DONE", "client");
	printf("1..%d\n", n_checks);
	fb_listener_destroy(l);
	fb_hs_server_destroy(hs);
	fb_session_destroy(session);
	fb_dataset_destroy(ds);
	free(V);
	free(W);
	fb_roster_destroy(roster);
	fb_identity_destroy(id);
	fb_transport_fini();
	return n_failed == 0 ? 0 : 1;
}
