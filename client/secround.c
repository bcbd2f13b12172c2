// client/secround.c: see secround.h. Invariants: the release is made
// (ledger entry fsync'd first) only after the shares were exchanged and
// every bundle addressed to this client opened, and its unmasked values
// are wiped as soon as the masked input exists; a stage's request bytes
// are kept until its answer came, so a resend is byte-identical; the
// round state never outlives the round (n->sr is cleared at its end), and
// nothing of it is written to disk except the ledger entry.
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/log.h"
#include "secround.h"

// Failed requests in a row after which a stage gives up (the round is
// then dropped, not completed: the aggregator answers a later READY).
#define SR_TRIES 8

enum sr_stage { SR_ADVERT, SR_SHARES, SR_UPLOAD, SR_UNMASK, SR_CONSIST };

static const char *const stage_names[] = {
		"advert", "shares", "upload", "unmask", "consistency"};

struct node_secround {
	uint32_t round;
	enum sr_stage stage;
	struct fb_secagg_client *sa;
	struct node_secure *local;
	uint32_t n, t, n_min, index;
	uint64_t honest; // shares accounted (n_min - colluders)
	uint8_t *keys;   // the plan's n identity keys
	uint8_t *msg;    // this stage's request body, resent as is
	size_t len;
	uint8_t type;            // its wire type
	uint32_t fails;          // failed requests in a row
	uint32_t peers, senders; // |U1| - 1, |U2| - 1 as this client saw
	bool released;           // the ledger entry exists
	uint32_t *sets;          // the signed survivors then dropped (§3.5)
	uint32_t ns, nd;
	double t0, t_stage;    // wall clock of the round's and stage's start
	struct node_round res; // the round's figures (and update)
};

void
node_secround_destroy(struct node_secround *sr)
{
	if (sr == NULL) {
		return;
	}
	fb_secagg_client_destroy(sr->sa);
	node_local_secure_destroy(sr->local);
	fb_msg_free(sr->res.update);
	free(sr->keys);
	free(sr->msg);
	free(sr->sets);
	free(sr);
}

// Replaces the stage's request with body (taken).
static void
set_request(struct node_secround *sr, enum sr_stage stage, uint8_t type,
		uint8_t *body, size_t len)
{
	free(sr->msg);
	sr->msg = body;
	sr->len = len;
	sr->type = type;
	sr->stage = stage;
	sr->fails = 0;
	sr->t_stage = fb_clock_s();
}

fb_err
node_secround_begin(struct node *n, const struct fb_wire_plan *plan,
		uint32_t round, struct node_round *res)
{
	struct node_secure *local = NULL;
	fb_err err = node_local_secure_prepare(n->pol, n->ds, &n->st, n->ledger,
			n->roster, n->consortium, fb_identity_public_key(n->id),
			plan, round, n->keep_global ? &n->work : NULL, &local,
			res);
	if (err != FB_OK || res->refuse) {
		return err;
	}
	const struct fb_wire_secagg *p = &plan->config.sa;
	struct node_secround *sr = calloc(1, sizeof(*sr));
	size_t klen = (size_t)p->n * FB_ID_PK_LEN;
	uint8_t *body = malloc(FB_SA_ADVERT_MSG_LEN);
	if (sr == NULL || body == NULL || (sr->keys = malloc(klen)) == NULL) {
		free(body);
		free(sr);
		node_local_secure_destroy(local);
		return FB_ENOMEM;
	}
	sr->local = local;
	sr->round = round;
	sr->n = p->n;
	sr->t = p->t;
	sr->n_min = p->n_min;
	sr->index = p->index;
	sr->honest = p->n_min - n->pol->secagg_assumed_colluders;
	memcpy(sr->keys, p->keys, klen);
	sr->res = *res;
	sr->t0 = fb_clock_s();
	struct fb_secagg_client_params sp = {.n = p->n,
			.t = p->t,
			.index = p->index,
			.n_min = p->n_min,
			.ring_bits = p->ring_bits,
			.consistency = true};
	memcpy(sp.ctx.consortium, p->consortium, sizeof(sp.ctx.consortium));
	sp.ctx.round = round;
	uint8_t ad[FB_SECAGG_ADVERT_LEN];
	err = fb_secagg_client_create(&sr->sa, &sp);
	if (err == FB_OK) {
		err = fb_secagg_client_advert(sr->sa, n->id, ad);
	}
	if (err == FB_OK) {
		err = fb_sa_advert_msg_encode(body, ad, n->pol->users);
	}
	if (err != FB_OK) {
		free(body);
		node_secround_destroy(sr);
		return err;
	}
	set_request(sr, SR_ADVERT, FB_WIRE_SA_ADVERT, body,
			FB_SA_ADVERT_MSG_LEN);
	n->sr = sr;
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: index %u of %u, "
			"threshold %u, at least %u survivors; advertising "
			"(%zu bytes)",
			round, sr->index, sr->n, sr->t, sr->n_min,
			FB_SEALED_LEN(sr->len));
	return FB_OK;
}

// The round is over: completed (the state records it, with the two
// epsilons logged if a release was made) or dropped.
static enum node_step
end_round(struct node *n, struct node_conn *c, bool completed)
{
	struct node_secround *sr = n->sr;
	n->sr = NULL;
	uint32_t round = sr->round;
	if (sr->released) {
		fb_log(FB_LOG_INFO,
				"round %u: secure aggregation %s after %.2fs: "
				"epsilon %.4f spent assuming %llu honest noise "
				"shares, %.4f with its own shares alone (delta "
				"%g, %zu releases)",
				round, completed ? "over" : "dropped",
				fb_clock_s() - sr->t0, sr->res.epsilon,
				(unsigned long long)sr->honest,
				sr->res.eps_alone, n->pol->delta,
				sr->res.releases);
	} else {
		fb_log(FB_LOG_INFO,
				"round %u: secure aggregation %s at stage %s "
				"after %.2fs, nothing released",
				round, completed ? "over" : "dropped",
				stage_names[sr->stage], fb_clock_s() - sr->t0);
	}
	bool trained = sr->released;
	struct node_cpu cpu = sr->res.cpu;
	node_secround_destroy(sr);
	return completed ? node_complete(n, c, round, trained, &cpu)
			 : NODE_STEP_AGAIN;
}

// The round refused with reason and text (a REFUSE; its ACK ends it).
static enum node_step __attribute__((format(printf, 4, 5)))
refuse_round(struct node *n, struct node_conn *c, uint16_t reason,
		const char *fmt, ...)
{
	struct node_secround *sr = n->sr;
	struct node_round r = {.refuse = true, .reason = reason};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	fb_log(FB_LOG_WARN, "round %u: secure aggregation refused: %s",
			sr->round, r.text);
	struct fb_wire_ack ack;
	if (!node_answer(n, c, sr->round, &r, &ack)) {
		node_backoff(n, c);
	}
	// Completed either way: a second try would start the round again
	// with new keys, which the aggregator refuses as a duplicate.
	return end_round(n, c, true);
}

// A request failed (the session is gone): the same bytes go again after
// a new handshake, up to SR_TRIES times in a row.
static enum node_step
failed(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	node_backoff(n, c);
	if (++sr->fails < SR_TRIES) {
		return NODE_STEP_AGAIN;
	}
	fb_log(FB_LOG_WARN,
			"round %u: secure aggregation: giving up at stage %s "
			"after %u failed requests",
			sr->round, stage_names[sr->stage], sr->fails);
	return end_round(n, c, false);
}

// A reply the stage cannot use: a sealed ERROR to the aggregator, and a
// failed request.
static enum node_step
bad_reply(struct node *n, struct node_conn *c, uint16_t reason,
		const char *what)
{
	struct node_secround *sr = n->sr;
	fb_log(FB_LOG_WARN, "round %u: secure aggregation, stage %s: %s",
			sr->round, stage_names[sr->stage], what);
	node_report_error(n, c, sr->round, reason, what);
	return failed(n, c);
}

// The answers every stage may get instead of its own: PLAN WAIT (ask
// again later, *handled) or an ACK (the round is over: late, abandoned or
// rejected). NODE_STEP_AGAIN with *handled false: the reply is the
// stage's.
static enum node_step
common_reply(struct node *n, struct node_conn *c,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen, bool *handled)
{
	struct node_secround *sr = n->sr;
	*handled = true;
	if (h->round_id != sr->round) {
		return bad_reply(n, c, FB_WIRE_REASON_WRONG_ROUND,
				"an answer for another round");
	}
	if (h->type == FB_WIRE_PLAN) {
		// Only a WAIT (no tensors) is expected here.
		struct fb_wire_plan p;
		struct fb_wire_limits lim = {FB_WIRE_MAX_TENSORS, 1, 1, true};
		if (fb_wire_plan_decode(&p, body, blen, &lim) != FB_OK ||
				p.kind != FB_WIRE_PLAN_WAIT) {
			return bad_reply(n, c, FB_WIRE_REASON_UNEXPECTED,
					"a PLAN other than WAIT");
		}
		sr->fails = 0; // an answer: the stage is open, not failing
		node_wait(n, p.retry_after_ms);
		return NODE_STEP_AGAIN;
	}
	if (h->type == FB_WIRE_ACK) {
		struct fb_wire_ack ack;
		if (fb_wire_ack_decode(&ack, body, blen) != FB_OK) {
			return bad_reply(n, c, FB_WIRE_REASON_MALFORMED,
					"an ACK that does not decode");
		}
		fb_log(FB_LOG_WARN,
				"round %u: secure aggregation ended by the "
				"aggregator at stage %s: ACK %s%s%s",
				sr->round, stage_names[sr->stage],
				ack.status == FB_WIRE_ACK_LATE ? "late"
							       : "rejected",
				ack.reason != 0 ? ", " : "",
				ack.reason != 0 ? fb_wire_reason_name(
								  ack.reason)
						: "");
		return end_round(n, c, true);
	}
	*handled = false;
	return NODE_STEP_AGAIN;
}

// A simulated dropout at point at (node.h): true if this client leaves
// the round here, its round state freed and nothing more sent.
static bool
drop_here(struct node *n, enum node_drop at)
{
	if (n->drop_at != (int)at) {
		return false;
	}
	uint32_t round = n->sr->round;
	node_secround_destroy(n->sr);
	n->sr = NULL;
	if (!n->keep_global) {
		fb_model_finish(&n->st.global);
		memset(&n->st.global, 0, sizeof(n->st.global));
	}
	node_drop_round(n, round, at);
	return true;
}

// SA_PEERS: every advertisement verified against the roster key of its
// index (its own skipped), then one sealed bundle of shares per peer: the
// SA_SHARES request.
static enum node_step
on_peers(struct node *n, struct node_conn *c, const uint8_t *body, size_t blen)
{
	if (drop_here(n, NODE_DROP_AFTER_ADVERT)) {
		return NODE_STEP_AGAIN;
	}
	struct node_secround *sr = n->sr;
	fb_crashpoint("client.sa_peers"); // advertised, no shares sent
	struct fb_sa_list l;
	if (fb_sa_peers_decode(&l, body, blen) != FB_OK) {
		return bad_reply(n, c, FB_WIRE_REASON_MALFORMED,
				"SA_PEERS does not decode");
	}
	uint32_t *peers = malloc(((size_t)l.count + 1) * sizeof(*peers));
	if (peers == NULL) {
		return failed(n, c);
	}
	uint32_t np = 0;
	bool self = false;
	for (uint32_t i = 0; i < l.count; i++) {
		const uint8_t *ad = fb_sa_peers_advert(&l, i);
		uint32_t idx = fb_sa_advert_index(ad);
		if (idx == sr->index) {
			self = true;
			continue;
		}
		if (idx > sr->n ||
				fb_secagg_client_add_peer(sr->sa, ad,
						sr->keys + (size_t)(idx - 1) * FB_ID_PK_LEN) !=
						FB_OK) {
			free(peers);
			return refuse_round(n, c, FB_WIRE_REASON_SECAGG_REFUSED,
					"the advertisement of index %u does not "
					"verify",
					idx);
		}
		peers[np++] = idx;
	}
	if (!self || np + 1 < sr->n_min) {
		free(peers);
		return refuse_round(n, c, FB_WIRE_REASON_SECAGG_REFUSED,
				"SA_PEERS lists %u parties%s, the round needs "
				"%u (n_min)",
				np + self, self ? "" : " without this client",
				sr->n_min);
	}
	size_t len = fb_sa_bundles_len(np);
	uint8_t *req = malloc(len);
	fb_err err = req == NULL ? FB_ENOMEM : FB_OK;
	uint8_t *first = req != NULL ? fb_sa_bundles_init(req, np) : NULL;
	for (uint32_t i = 0; err == FB_OK && i < np; i++) {
		uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN];
		err = fb_secagg_client_seal_shares(sr->sa, peers[i], sealed);
		if (err == FB_OK) {
			fb_sa_bundles_put(first, i, peers[i], sealed);
		}
	}
	free(peers);
	if (err != FB_OK) {
		free(req);
		fb_log(FB_LOG_ERROR, "round %u: sealing shares: %s", sr->round,
				fb_last_error(err));
		return end_round(n, c, false);
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: %u peer advertisements "
			"verified in %.2fs; shares sealed for each (%zu bytes)",
			sr->round, np, fb_clock_s() - sr->t_stage,
			FB_SEALED_LEN(len));
	sr->peers = np;
	set_request(sr, SR_SHARES, FB_WIRE_SA_SHARES, req, len);
	return NODE_STEP_AGAIN;
}

// The expansion of the masks on a second thread while the release is
// made (secagg-v1 §3.3: the masks depend on the keys and the peers that
// shared, known once the inbox opened, not on the input): on a machine
// with a spare core the masking hides behind the training.
struct expansion {
	const struct fb_secagg_maskset *ms;
	uint64_t *m; // dim words, the sum of the masks
	size_t dim;
	fb_err err;
	double cpu; // the expansion's CPU seconds (its thread's)
	pthread_t thread;
	bool started;
	bool wiped; // m all zero (fb_secagg_maskset_add wiped it)
};

static void *
expand_main(void *arg)
{
	struct expansion *e = arg;
	double cpu0 = node_cpu_s();
	e->err = fb_secagg_maskset_expand(e->ms, e->m, e->dim);
	e->cpu = node_cpu_s() - cpu0;
	return NULL;
}

// Starts the expansion; if no thread can be started, expand_join runs
// it on the caller.
static void
expand_start(struct expansion *e, const struct fb_secagg_maskset *ms,
		size_t dim)
{
	*e = (struct expansion){.ms = ms, .dim = dim, .err = FB_ENOMEM};
	e->m = malloc((dim + 1) * sizeof(*e->m));
	if (e->m != NULL) {
		e->started = pthread_create(&e->thread, NULL, expand_main, e) ==
				0;
	}
}

static fb_err
expand_join(struct expansion *e)
{
	if (e->started) {
		pthread_join(e->thread, NULL);
	} else if (e->m != NULL) {
		expand_main(e);
	}
	return e->m == NULL ? fb_errorf(FB_ENOMEM, "secagg masks: %zu words",
					      e->dim)
			    : e->err;
}

// Wipes (unless the add did) and frees the masks' sum.
static void
expand_finish(struct expansion *e)
{
	if (e->m != NULL) {
		if (!e->wiped) {
			sodium_memzero(e->m, e->dim * sizeof(*e->m));
		}
		free(e->m);
		e->m = NULL;
	}
}

// The release, its noise share, the mask and the UPDATE (the upload
// stage's message), once every bundle addressed to this client opened:
// the masks expand on a second thread while the release is made, then
// are added to it in place (the release's buffer becomes the masked
// input, and the unmasked release is gone).
static enum node_step
release_and_mask(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	double t0 = fb_clock_s();
	size_t len = node_local_secure_len(sr->local);
	struct fb_secagg_maskset *ms = NULL;
	fb_err err = fb_secagg_client_take_masks(sr->sa, &ms);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "round %u: masks: %s", sr->round,
				fb_last_error(err));
		return end_round(n, c, false);
	}
	struct expansion e;
	expand_start(&e, ms, len);
	int64_t *x = NULL;
	err = node_local_secure_release(sr->local, &x, &sr->res);
	fb_err merr = expand_join(&e);
	sr->released = sr->res.releases > 0 && sr->res.steps > 0;
	if (!n->keep_global) {
		fb_model_finish(&n->st.global);
		memset(&n->st.global, 0, sizeof(n->st.global));
	}
	if (err != FB_OK) {
		expand_finish(&e);
		fb_secagg_maskset_destroy(ms);
		fb_log(FB_LOG_ERROR, "round %u: %s", sr->round,
				fb_last_error(err));
		return NODE_STEP_FATAL; // nothing may leave (local.h)
	}
	uint64_t *y = (uint64_t *)x; // may alias (C17 6.5p7)
	double cpu0 = node_cpu_s();
	if (merr == FB_OK) {
		fb_secagg_maskset_add(ms, x, e.m, len, y);
		e.wiped = true;
	}
	double mask_cpu = e.cpu + node_cpu_s() - cpu0;
	expand_finish(&e);
	fb_secagg_maskset_destroy(ms);
	err = merr;
	if (err != FB_OK) {
		sodium_memzero(x, len * sizeof(*x)); // the unmasked release
	} else {
		err = node_local_secure_encode(sr->local, y, &sr->res);
	}
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "round %u: masking: %s", sr->round,
				fb_last_error(err));
		return end_round(n, c, false);
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: release of %zu "
			"coordinates with its noise share (%.2fs), masked with "
			"%u peers (%.2fs; mask expansion %.3f s CPU, on a "
			"second thread during the release); update %.2f MB",
			sr->round, len, sr->res.train_s, sr->senders,
			fb_clock_s() - t0 - sr->res.train_s, mask_cpu,
			(double)fb_msg_len(sr->res.update) / 1e6);
	free(sr->msg);
	sr->msg = NULL;
	sr->len = 0;
	sr->stage = SR_UPLOAD;
	sr->fails = 0;
	sr->t_stage = fb_clock_s();
	return NODE_STEP_AGAIN;
}

// SA_INBOX: the bundles of U2 addressed to this client, each opened; one
// that does not open refuses the round (naming its sender).
static enum node_step
on_inbox(struct node *n, struct node_conn *c, const uint8_t *body, size_t blen)
{
	if (drop_here(n, NODE_DROP_AFTER_SHARES)) {
		return NODE_STEP_AGAIN;
	}
	struct node_secround *sr = n->sr;
	struct fb_sa_list l;
	if (fb_sa_bundles_decode(&l, body, blen) != FB_OK) {
		return bad_reply(n, c, FB_WIRE_REASON_MALFORMED,
				"SA_INBOX does not decode");
	}
	for (uint32_t i = 0; i < l.count; i++) {
		uint32_t from = fb_sa_bundles_party(&l, i);
		if (fb_secagg_client_open_shares(sr->sa, from,
				    fb_sa_bundles_sealed(&l, i)) != FB_OK) {
			return refuse_round(n, c, FB_WIRE_REASON_SECAGG_REFUSED,
					"the shares of index %u do not open",
					from);
		}
	}
	if (l.count + 1 < sr->n_min) {
		return refuse_round(n, c, FB_WIRE_REASON_SECAGG_REFUSED,
				"shares from %u parties, the round needs %u "
				"(n_min)",
				l.count + 1, sr->n_min);
	}
	sr->senders = l.count;
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: %u bundles of shares "
			"opened (%.2fs)",
			sr->round, l.count, fb_clock_s() - sr->t_stage);
	return release_and_mask(n, c);
}

static enum node_step on_sigs(struct node *n, struct node_conn *c,
		const uint8_t *body, size_t blen);

// Stages 1, 2 and 5: the stored request, then SA_PEERS, SA_INBOX or
// SA_SIGNATURES.
static enum node_step
exchange(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	struct fb_msg *reply = NULL;
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	if (node_call_body(n, c, sr->msg, sr->len, sr->type, sr->round, &reply,
			    &h, &body, &blen) != FB_OK) {
		return failed(n, c);
	}
	c->last_ok_ms = fb_clock_ms();
	// Read before common_reply, which may end the round (and free sr).
	enum sr_stage stage = sr->stage;
	bool handled = false;
	enum node_step st = common_reply(n, c, &h, body, blen, &handled);
	static const uint8_t want[] = {[SR_ADVERT] = FB_WIRE_SA_PEERS,
			[SR_SHARES] = FB_WIRE_SA_INBOX,
			[SR_CONSIST] = FB_WIRE_SA_SIGNATURES};
	static const char *const wrong[] = {
			[SR_ADVERT] = "not SA_PEERS to SA_ADVERT",
			[SR_SHARES] = "not SA_INBOX to SA_SHARES",
			[SR_CONSIST] = "not SA_SIGNATURES to SA_CONSISTENCY"};
	if (!handled && h.type != want[stage]) {
		st = bad_reply(n, c, FB_WIRE_REASON_UNEXPECTED, wrong[stage]);
	} else if (!handled && stage == SR_ADVERT) {
		st = on_peers(n, c, body, blen);
	} else if (!handled && stage == SR_SHARES) {
		st = on_inbox(n, c, body, blen);
	} else if (!handled) {
		st = on_sigs(n, c, body, blen);
	}
	fb_msg_free(reply);
	return st;
}

// Stage 3: the masked UPDATE (or, after a lost ACK, the same bytes from
// the pending copy); ACK accepted moves on to the unmask stage.
static enum node_step
upload(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	if (sr->res.update == NULL) {
		struct node_pending *p = &n->pending;
		if (!p->active || p->round != sr->round ||
				fb_msg_alloc(&sr->res.update, p->len) !=
						FB_OK) {
			fb_log(FB_LOG_WARN,
					"round %u: the masked update cannot be "
					"sent again (no copy)",
					sr->round);
			return end_round(n, c, false);
		}
		memcpy(fb_msg_data(sr->res.update), p->bytes, p->len);
	}
	struct fb_wire_ack ack;
	if (!node_answer(n, c, sr->round, &sr->res, &ack)) {
		return failed(n, c); // a copy waits in n->pending
	}
	c->last_ok_ms = fb_clock_ms();
	if (ack.status != FB_WIRE_ACK_ACCEPTED) {
		return end_round(n, c, true); // logged by node_answer
	}
	fb_crashpoint("client.sa_uploaded"); // masked input acknowledged
	if (drop_here(n, NODE_DROP_AFTER_MASKED)) {
		return NODE_STEP_AGAIN;
	}
	sr->stage = SR_UNMASK;
	sr->fails = 0;
	sr->t_stage = fb_clock_s();
	return NODE_STEP_AGAIN;
}

// The unmask request is refused (a sealed ERROR secagg-refused, and the
// round is over): what says which check failed.
static enum node_step
refuse_unmask(struct node *n, struct node_conn *c, const char *what, fb_err err)
{
	struct node_secround *sr = n->sr;
	fb_log(FB_LOG_WARN,
			"round %u: secure aggregation: unmask request refused "
			"(%u survivors, %u dropped): %s: %s",
			sr->round, sr->ns, sr->nd, what, fb_last_error(err));
	node_report_error(n, c, sr->round, FB_WIRE_REASON_SECAGG_REFUSED,
			"unmask request refused");
	return end_round(n, c, true);
}

// SA_UNMASK_REQ: the sets checked as the reveal will check them and
// signed (secagg-v1 §3.5): the SA_CONSISTENCY request of the next stage;
// nothing is revealed before t signatures over them are verified.
static enum node_step
on_unmask_req(struct node *n, struct node_conn *c, const uint8_t *body,
		size_t blen)
{
	struct node_secround *sr = n->sr;
	fb_crashpoint("client.sa_unmask"); // asked, nothing revealed
	struct fb_sa_unmask_req rq;
	if (fb_sa_unmask_req_decode(&rq, body, blen) != FB_OK) {
		return bad_reply(n, c, FB_WIRE_REASON_MALFORMED,
				"SA_UNMASK_REQ does not decode");
	}
	uint32_t *sets = malloc(((size_t)rq.ns + rq.nd) * sizeof(*sets));
	uint8_t *sig = malloc(FB_SA_CONSISTENCY_LEN);
	if (sets == NULL || sig == NULL) {
		free(sets);
		free(sig);
		return failed(n, c);
	}
	fb_sa_unmask_req_copy(&rq, sets, sets + rq.ns);
	free(sr->sets);
	sr->sets = sets;
	sr->ns = rq.ns;
	sr->nd = rq.nd;
	fb_err err = fb_secagg_client_sign_sets(
			sr->sa, n->id, sets, rq.ns, sets + rq.ns, rq.nd, sig);
	if (err != FB_OK) {
		free(sig);
		return refuse_unmask(n, c, "not signed", err);
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: survivor sets signed "
			"(%u survivors, %u dropped); waiting for %u signatures",
			sr->round, rq.ns, rq.nd, sr->t);
	set_request(sr, SR_CONSIST, FB_WIRE_SA_CONSISTENCY, sig,
			FB_SA_CONSISTENCY_LEN);
	return NODE_STEP_AGAIN;
}

// The consistency check passed: this client's shares for the survivors'
// self masks and the dropped parties' mask keys (SA_UNMASK), ACKed.
static enum node_step
reveal(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	size_t len = fb_sa_unmask_len(sr->ns, sr->nd);
	uint8_t *shares = sodium_malloc(
			((size_t)sr->ns + sr->nd + 1) * FB_SHAMIR_SHARE_LEN);
	uint8_t *req = malloc(len);
	if (shares == NULL || req == NULL) {
		sodium_free(shares);
		free(req);
		return failed(n, c);
	}
	uint8_t *self = shares;
	uint8_t *mask = shares + (size_t)sr->ns * FB_SHAMIR_SHARE_LEN;
	fb_err err = fb_secagg_client_reveal(sr->sa, sr->sets, sr->ns,
			sr->sets + sr->ns, sr->nd, self, mask);
	if (err == FB_OK) {
		err = fb_sa_unmask_encode(req, sr->ns, sr->nd, self, mask);
	}
	sodium_free(shares);
	if (err != FB_OK) {
		free(req);
		return refuse_unmask(n, c, "not revealed", err);
	}
	struct fb_msg *reply = NULL;
	struct fb_wire_header h;
	uint8_t *rb;
	size_t rl;
	err = node_call_body(n, c, req, len, FB_WIRE_SA_UNMASK, sr->round,
			&reply, &h, &rb, &rl);
	sodium_memzero(req, len);
	free(req);
	if (err != FB_OK) {
		return failed(n, c); // the SA_CONSISTENCY again, then this
	}
	struct fb_wire_ack ack;
	bool ok = h.type == FB_WIRE_ACK && h.round_id == sr->round &&
			fb_wire_ack_decode(&ack, rb, rl) == FB_OK;
	fb_msg_free(reply);
	if (!ok) {
		return bad_reply(n, c, FB_WIRE_REASON_UNEXPECTED,
				"not an ACK to SA_UNMASK");
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: shares revealed for %u "
			"survivors and %u dropped parties (%.2fs); ACK %s",
			sr->round, sr->ns, sr->nd, fb_clock_s() - sr->t_stage,
			ack.status == FB_WIRE_ACK_ACCEPTED ? "accepted"
					: ack.status == FB_WIRE_ACK_LATE
					? "late"
					: "rejected");
	return end_round(n, c, true);
}

// SA_SIGNATURES (secagg-v1 §3.5): at least t valid signatures of
// distinct survivors over exactly the sets this client signed, or it
// refuses to reveal (a sealed ERROR secagg-refused; nothing revealed).
static enum node_step
on_sigs(struct node *n, struct node_conn *c, const uint8_t *body, size_t blen)
{
	struct node_secround *sr = n->sr;
	fb_crashpoint("client.sa_consist"); // signatures in, nothing revealed
	struct fb_sa_list l;
	fb_err err = fb_sa_sigs_decode(&l, body, blen);
	if (err != FB_OK) {
		return refuse_unmask(
				n, c, "SA_SIGNATURES does not decode", err);
	}
	uint32_t *signers = malloc((size_t)l.count * sizeof(*signers));
	uint8_t *sigs = malloc((size_t)l.count * FB_SA_CONSISTENCY_LEN);
	if (signers == NULL || sigs == NULL) {
		free(signers);
		free(sigs);
		return failed(n, c);
	}
	for (uint32_t i = 0; i < l.count; i++) {
		signers[i] = fb_sa_sigs_signer(&l, i);
		memcpy(sigs + (size_t)i * FB_SA_CONSISTENCY_LEN,
				fb_sa_sigs_sig(&l, i), FB_SA_CONSISTENCY_LEN);
	}
	err = fb_secagg_client_check_sigs(
			sr->sa, signers, sigs, l.count, sr->keys);
	free(signers);
	free(sigs);
	if (err != FB_OK) {
		return refuse_unmask(n, c, "the consistency check fails", err);
	}
	fb_log(FB_LOG_INFO,
			"round %u: secure aggregation: %u consistency "
			"signatures verified (threshold %u)",
			sr->round, l.count, sr->t);
	return reveal(n, c);
}

// Stage 4: POLL UNMASK until the unmask request comes.
static enum node_step
unmask(struct node *n, struct node_conn *c)
{
	struct node_secround *sr = n->sr;
	struct fb_msg *reply = NULL;
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	if (node_call_poll(n, c, FB_WIRE_POLL_UNMASK, sr->round, &reply, &h,
			    &body, &blen) != FB_OK) {
		return failed(n, c);
	}
	c->last_ok_ms = fb_clock_ms();
	bool handled = false;
	enum node_step st = common_reply(n, c, &h, body, blen, &handled);
	if (!handled && h.type != FB_WIRE_SA_UNMASK_REQ) {
		st = bad_reply(n, c, FB_WIRE_REASON_UNEXPECTED,
				"not SA_UNMASK_REQ to POLL UNMASK");
	} else if (!handled) {
		st = on_unmask_req(n, c, body, blen);
	}
	fb_msg_free(reply);
	return st;
}

enum node_step
node_secround_step(struct node *n, struct node_conn *c)
{
	if (node_stopping()) {
		return NODE_STEP_AGAIN;
	}
	switch (n->sr->stage) {
	case SR_ADVERT:
	case SR_SHARES:
	case SR_CONSIST:
		return exchange(n, c);
	case SR_UPLOAD:
		return upload(n, c);
	case SR_UNMASK:
		return unmask(n, c);
	}
	return NODE_STEP_FATAL;
}
