// server/serve.c: see serve.h. The order of checks on a sealed request is
// §4.4's: peek the header and session id, find the session, check it came
// on the session's pipe (§1.6), open (seq, then tag); only an opened body
// reaches a decoder, and only a decoded body reaches the round logic.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fedbundle/crashpoint.h"
#include "fedbundle/envelope.h"
#include "fedbundle/log.h"
#include "fedbundle/wire.h"
#include "serve.h"

static double
mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
sync_connected(struct agg_server *srv)
{
	struct agg_fed *fed = srv->fed;
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		fed->clients[c].connected =
				agg_sessions_has_client(&srv->sessions, c);
	}
}

static void
send_reply(struct agg_server *srv, struct fb_request *req, struct fb_msg *m)
{
	srv->fed->st.bytes_out += fb_msg_len(m);
	fb_err err = fb_request_reply_take(req, m);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN, "reply not sent: %s", fb_last_error(err));
	}
}

// Answers with a plaintext ERROR (§5.7).
static void
reply_plain(struct agg_server *srv, struct fb_request *req, uint32_t round,
		uint16_t reason, const char *text)
{
	uint8_t buf[FB_WIRE_PLAIN_ERROR_MAX];
	size_t len = 0;
	if (fb_wire_plain_error_encode(buf, sizeof(buf), round, reason, text,
			    &len) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	srv->fed->st.bytes_out += len;
	if (fb_request_reply_copy(req, buf, len) != FB_OK) {
		fb_log(FB_LOG_WARN, "reply not sent: out of memory");
	}
}

static void
refused(struct agg_server *srv, struct fb_request *req, uint8_t type,
		const char *peer, uint32_t round, uint16_t reason,
		const char *detail)
{
	srv->refused++;
	fb_log(FB_LOG_WARN, "refused %s from %s (round %u): %s: %s",
			fb_wire_type_name(type), peer, round,
			fb_wire_reason_name(reason), detail);
	reply_plain(srv, req, round, reason, fb_wire_reason_name(reason));
}

static bool
pipe_has_session(const struct agg_server *srv, uint32_t pipe)
{
	for (size_t i = 0; i < srv->sessions.cap; i++) {
		const struct agg_session *e = &srv->sessions.v[i];
		if (e->s != NULL && e->pipe == pipe) {
			return true;
		}
	}
	return false;
}

// The sessions table's removed hook: a connection without a session is
// untrusted again (§1.8).
static void
session_removed(void *ctx, uint32_t pipe)
{
	struct agg_server *srv = ctx;
	if (srv->listener != NULL && !pipe_has_session(srv, pipe)) {
		fb_listener_trust(srv->listener, pipe, false);
	}
}

// The roster index of an established session's peer.
static int
client_of(const struct agg_server *srv, const struct fb_session *s)
{
	const uint8_t *pk = fb_session_peer_key(s);
	for (uint32_t c = 0; c < srv->fed->n_clients; c++) {
		if (memcmp(fb_roster_at(srv->roster, c)->pk, pk,
				    FB_ID_PK_LEN) == 0) {
			return (int)c;
		}
	}
	return -1;
}

static void
handshake(struct agg_server *srv, struct fb_request *req, uint64_t now_ms,
		uint8_t type)
{
	uint8_t out[FB_HS_MSG_MAX];
	size_t out_len = 0;
	struct fb_session *s = NULL;
	uint32_t pipe = fb_request_pipe(req);
	fb_err err = fb_hs_server_handle(srv->hs, now_ms, fb_request_data(req),
			fb_request_len(req), out, sizeof(out), &out_len, &s);
	if (err == FB_EINVAL) {
		fb_log(FB_LOG_ERROR, "handshake: %s", fb_last_error(err));
		fb_request_drop(req);
		return;
	}
	if (err != FB_OK) {
		srv->refused++;
		struct fb_wire_reason_text r = {0};
		if (out_len < FB_WIRE_HDR_LEN ||
				fb_wire_error_decode(&r, out + FB_WIRE_HDR_LEN,
						out_len - FB_WIRE_HDR_LEN) !=
						FB_OK) {
			r.reason = FB_WIRE_REASON_INTERNAL;
		}
		fb_log(FB_LOG_WARN, "refused %s from pipe %u: %s: %s",
				fb_wire_type_name(type), pipe,
				fb_wire_reason_name(r.reason),
				fb_last_error(err));
	} else if (s != NULL) {
		int c = client_of(srv, s);
		if (c < 0) {
			fb_session_destroy(s); // roster changed under us
		} else {
			agg_sessions_add(&srv->sessions, s, pipe, (uint32_t)c,
					now_ms);
			if (srv->listener != NULL) {
				fb_listener_trust(srv->listener, pipe, true);
			}
			sync_connected(srv);
			fb_log(FB_LOG_INFO, "client %s authenticated (pipe %u)",
					srv->fed->clients[c].name, pipe);
		}
	}
	srv->fed->st.bytes_out += out_len;
	if (fb_request_reply_copy(req, out, out_len) != FB_OK) {
		fb_log(FB_LOG_WARN, "reply not sent: out of memory");
	}
}

// Seals a body already encoded at FB_ENV_BODY_OFF of m and replies.
static void
seal_and_send(struct agg_server *srv, struct fb_request *req,
		struct agg_session *e, struct fb_msg *m, uint8_t type,
		uint32_t round)
{
	double t0 = mono_s();
	fb_err err = fb_env_seal(
			e->s, fb_msg_data(m), fb_msg_len(m), type, round);
	srv->fed->st.seal_s += mono_s() - t0;
	if (err != FB_OK) {
		fb_msg_free(m);
		fb_log(FB_LOG_ERROR, "cannot seal %s: %s",
				fb_wire_type_name(type), fb_last_error(err));
		reply_plain(srv, req, round, FB_WIRE_REASON_INTERNAL,
				"internal");
		return;
	}
	send_reply(srv, req, m);
}

static struct fb_msg *
alloc_sealed(size_t body_len)
{
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, FB_SEALED_LEN(body_len)) != FB_OK) {
		return NULL;
	}
	return m;
}

// A sealed ERROR ends the session for both sides (§5.1).
static void
send_error(struct agg_server *srv, struct fb_request *req,
		struct agg_session *e, uint32_t round, uint16_t reason,
		const char *text)
{
	struct fb_wire_reason_text body = {.reason = reason};
	snprintf(body.text, sizeof(body.text), "%s", text);
	size_t blen = fb_wire_reason_text_len(body.text);
	struct fb_msg *m = alloc_sealed(blen);
	if (m == NULL ||
			fb_wire_error_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, &body, &blen) != FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
	} else {
		seal_and_send(srv, req, e, m, FB_WIRE_ERROR, round);
	}
	agg_sessions_remove(&srv->sessions, e);
	sync_connected(srv);
}

static void
send_ack(struct agg_server *srv, struct fb_request *req, struct agg_session *e,
		uint32_t round, const struct agg_outcome *o)
{
	if (o->error) {
		send_error(srv, req, e, round, o->reason, o->text);
		return;
	}
	struct fb_wire_ack a = {.status = o->status, .reason = o->reason};
	snprintf(a.text, sizeof(a.text), "%s", o->text);
	size_t blen = fb_wire_ack_len(a.text);
	struct fb_msg *m = alloc_sealed(blen);
	if (m == NULL ||
			fb_wire_ack_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, &a, &blen) != FB_OK) {
		fb_msg_free(m);
		reply_plain(srv, req, round, FB_WIRE_REASON_INTERNAL,
				"internal");
		return;
	}
	seal_and_send(srv, req, e, m, FB_WIRE_ACK, round);
}

static void
on_poll(struct agg_server *srv, struct fb_request *req, struct agg_session *e,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen, uint64_t now_ms)
{
	struct fb_wire_poll poll;
	if (fb_wire_poll_decode(&poll, body, blen) != FB_OK) {
		fb_log(FB_LOG_WARN, "refused POLL from %s: malformed: %s",
				srv->fed->clients[e->client].name,
				fb_last_error(FB_EPROTO));
		send_error(srv, req, e, h->round_id, FB_WIRE_REASON_MALFORMED,
				"malformed POLL");
		return;
	}
	struct fb_wire_plan plan;
	if (poll.status == FB_WIRE_POLL_UPLOAD) {
		struct agg_outcome o;
		if (!agg_fed_upload_ask(srv->fed, e->client, h->round_id,
				    now_ms, &plan, &o)) {
			send_ack(srv, req, e, h->round_id, &o);
			return;
		}
	} else {
		agg_fed_poll(srv->fed, e->client, poll.status, now_ms, &plan);
	}
	size_t plen = fb_wire_plan_len(&plan);
	struct fb_msg *m = plen > 0 ? alloc_sealed(plen) : NULL;
	if (m == NULL ||
			fb_wire_plan_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					plen, &plan, &plen, NULL) != FB_OK) {
		fb_log(FB_LOG_ERROR, "cannot build PLAN: %s",
				fb_last_error(FB_EINVAL));
		fb_msg_free(m);
		reply_plain(srv, req, h->round_id, FB_WIRE_REASON_INTERNAL,
				"internal");
		return;
	}
	if (plan.kind == FB_WIRE_PLAN_TRAIN) {
		fb_log(FB_LOG_DEBUG, "round %u: PLAN TRAIN to %s (%zu bytes)",
				srv->fed->round,
				srv->fed->clients[e->client].name,
				FB_SEALED_LEN(plen));
		fb_crashpoint("agg.broadcast"); // before this PLAN leaves
	}
	seal_and_send(srv, req, e, m, FB_WIRE_PLAN, srv->fed->round);
}

static void
sealed(struct agg_server *srv, struct fb_request *req, uint64_t now_ms)
{
	uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	uint32_t pipe = fb_request_pipe(req);
	char peer[FB_ID_NAME_MAX + 32];
	snprintf(peer, sizeof(peer), "pipe %u", pipe);
	struct fb_wire_header ph;
	uint8_t sid[FB_ENV_SID_LEN];
	if (fb_env_peek(msg, len, &ph, sid) != FB_OK) {
		refused(srv, req, msg[3], peer, 0, FB_WIRE_REASON_MALFORMED,
				fb_last_error(FB_EPROTO));
		return;
	}
	struct agg_session *e = agg_sessions_find(&srv->sessions, sid);
	if (e == NULL) {
		refused(srv, req, ph.type, peer, ph.round_id,
				FB_WIRE_REASON_UNKNOWN_SESSION,
				"no session with this id");
		return;
	}
	snprintf(peer, sizeof(peer), "%s", srv->fed->clients[e->client].name);
	if (e->pipe != pipe) {
		refused(srv, req, ph.type, peer, ph.round_id,
				FB_WIRE_REASON_UNKNOWN_SESSION,
				"session used on another connection");
		return;
	}
	double t0 = mono_s();
	struct fb_wire_header h;
	uint8_t *body = NULL;
	size_t blen = 0;
	fb_err err = fb_env_open(e->s, msg, len, &h, &body, &blen);
	if (err != FB_OK) {
		refused(srv, req, ph.type, peer, ph.round_id,
				fb_env_reason(err), fb_last_error(err));
		return;
	}
	e->last_ms = now_ms;
	agg_fed_heard(srv->fed, e->client); // it has what it was sent
	struct agg_outcome o;
	switch (h.type) {
	case FB_WIRE_POLL:
		on_poll(srv, req, e, &h, body, blen, now_ms);
		return;
	case FB_WIRE_UPDATE:
		srv->fed->st.open_s += mono_s() - t0;
		agg_fed_update(srv->fed, e->client, h.round_id, body, blen,
				now_ms, &o);
		srv->fed->st.aggregation_s += mono_s() - t0;
		if (o.error) {
			srv->refused++;
			fb_log(FB_LOG_WARN,
					"refused UPDATE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		} else if (o.status != FB_WIRE_ACK_ACCEPTED) {
			fb_log(FB_LOG_INFO, "UPDATE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		}
		send_ack(srv, req, e, h.round_id, &o);
		return;
	case FB_WIRE_REFUSE: {
		struct fb_wire_reason_text r;
		if (fb_wire_refuse_decode(&r, body, blen) != FB_OK) {
			srv->refused++;
			fb_log(FB_LOG_WARN,
					"refused REFUSE from %s (round %u): "
					"malformed",
					peer, h.round_id);
			send_error(srv, req, e, h.round_id,
					FB_WIRE_REASON_MALFORMED,
					"malformed REFUSE");
			return;
		}
		agg_fed_refuse(srv->fed, e->client, h.round_id, &r, now_ms, &o);
		if (o.error) {
			srv->refused++;
			fb_log(FB_LOG_WARN,
					"refused REFUSE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		}
		send_ack(srv, req, e, h.round_id, &o);
		return;
	}
	case FB_WIRE_ERROR: {
		struct fb_wire_reason_text r;
		if (fb_wire_error_decode(&r, body, blen) == FB_OK) {
			fb_log(FB_LOG_INFO, "%s reported an error: %s (%s)",
					peer, fb_wire_reason_name(r.reason),
					r.text);
		}
		struct agg_outcome a = {.status = FB_WIRE_ACK_ACCEPTED};
		send_ack(srv, req, e, h.round_id, &a);
		agg_sessions_remove(&srv->sessions, e);
		sync_connected(srv);
		return;
	}
	default:
		srv->refused++;
		fb_log(FB_LOG_WARN, "refused %s from %s (round %u): unexpected",
				fb_wire_type_name(h.type), peer, h.round_id);
		send_error(srv, req, e, h.round_id, FB_WIRE_REASON_UNEXPECTED,
				"not a request");
		return;
	}
}

void
agg_serve_request(
		struct agg_server *srv, struct fb_request *req, uint64_t now_ms)
{
	uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	srv->fed->st.bytes_in += len;
	char peer[32];
	snprintf(peer, sizeof(peer), "pipe %u", fb_request_pipe(req));
	struct fb_wire_header h;
	if (fb_wire_header_decode(&h, msg, len) != FB_OK) {
		refused(srv, req, len > 3 ? msg[3] : 0, peer, 0,
				FB_WIRE_REASON_MALFORMED,
				fb_last_error(FB_EPROTO));
		return;
	}
	if (fb_wire_type_is_sealed(h.type)) {
		sealed(srv, req, now_ms);
	} else if (h.type == FB_WIRE_HELLO || h.type == FB_WIRE_AUTH) {
		handshake(srv, req, now_ms, h.type);
	} else {
		refused(srv, req, h.type, peer, h.round_id,
				FB_WIRE_REASON_UNEXPECTED,
				"not a request type");
	}
}

void
agg_serve_pipe_closed(struct agg_server *srv, uint32_t pipe)
{
	for (size_t i = 0; i < srv->sessions.cap; i++) {
		const struct agg_session *e = &srv->sessions.v[i];
		if (e->s != NULL && e->pipe == pipe) {
			agg_fed_heard(srv->fed, e->client); // reply dropped
		}
	}
	size_t n = agg_sessions_pipe_closed(&srv->sessions, pipe);
	if (n > 0) {
		fb_log(FB_LOG_DEBUG, "pipe %u closed: %zu session(s) discarded",
				pipe, n);
		sync_connected(srv);
	}
}

static uint64_t
loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
agg_serve_loop(struct agg_server *srv, struct fb_listener *listener,
		const char *(*stop)(void *ctx), void *ctx)
{
	struct agg_fed *fed = srv->fed;
	srv->listener = listener;
	srv->sessions.removed = session_removed;
	srv->sessions.removed_ctx = srv;
	while (true) {
		uint64_t now = loop_now_ms();
		const char *why = stop != NULL ? stop(ctx) : NULL;
		if (why != NULL) {
			agg_fed_stop(fed, now, why);
			break;
		}
		agg_fed_tick(fed, now);
		if (agg_fed_finished(fed, now)) {
			break;
		}
		struct fb_listener_event ev;
		fb_err err = fb_listener_wait(
				listener, agg_fed_wakeup_ms(fed, now), &ev);
		if (err != FB_OK) {
			continue;
		}
		if (ev.kind == FB_LISTENER_REQUEST) {
			agg_serve_request(srv, ev.req, loop_now_ms());
		} else {
			agg_serve_pipe_closed(srv, ev.pipe);
		}
	}
	srv->sessions.removed = NULL;
	srv->listener = NULL;
}
