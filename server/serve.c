// server/serve.c: see serve.h. The order of checks on a sealed request is
// §4.4's: peek the header and session id, check the version is one spoken,
// find the session, check it came on the session's pipe (§1.6) and has its
// version, open (seq, then tag); only an opened body
// reaches a decoder, and only a decoded body reaches the round logic.
// Until a message opened, its header is a claim: logs of a refusal before
// that name no type and no round.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/log.h"
#include "serve.h"

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

// Counts a refusal; true if its log line may be written (the interval's
// budget of its kind is not spent; named: the message opened).
static bool
note_refusal(struct agg_server *srv, bool named, uint16_t reason)
{
	struct agg_refusal_log *g = &srv->log;
	srv->refused++;
	g->refused++;
	g->by_reason[reason < AGG_LOG_REASONS ? reason : 0]++;
	uint32_t *lines = named ? &g->lines_named : &g->lines_anon;
	if (*lines < (named ? AGG_LOG_LINES_NAMED : AGG_LOG_LINES_ANON)) {
		(*lines)++;
		return true;
	}
	g->suppressed++;
	return false;
}

// Refuses a message that did not open (or is plaintext) with ERROR_PLAIN
// (§4.4): what names the message as far as it was understood ("a
// message", "a sealed message", "HELLO"...), client the client whose
// session the connection holds (NULL: none). A strike against the
// connection (§1.8).
static void
refused_plain(struct agg_server *srv, struct fb_request *req, const char *what,
		const char *client, uint32_t round, uint16_t reason,
		const char *detail)
{
	uint32_t pipe = fb_request_pipe(req);
	bool out = fb_request_strike(req);
	if (note_refusal(srv, false, reason)) {
		char on[FB_ID_NAME_MAX + 48];
		if (client != NULL) {
			snprintf(on, sizeof(on), "on %s's connection (pipe %u)",
					client, pipe);
		} else {
			snprintf(on, sizeof(on), "from pipe %u", pipe);
		}
		fb_log(FB_LOG_WARN, "refused %s %s: %s: %s%s", what, on,
				fb_wire_reason_name(reason), detail,
				out ? "; closing the connection: too many "
				      "refusals in a row"
				    : "");
	}
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

// The client index of an established session's peer; -1 if it is not
// enrolled (revoked by a reload).
static int
client_of(const struct agg_server *srv, const struct fb_session *s)
{
	const uint8_t *pk = fb_session_peer_key(s);
	for (uint32_t c = 0; c < srv->fed->n_clients; c++) {
		const struct agg_client *cl = &srv->fed->clients[c];
		if (!cl->revoked && memcmp(cl->pk, pk, FB_ID_PK_LEN) == 0) {
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
		struct fb_wire_reason_text r = {0};
		if (out_len < FB_WIRE_HDR_LEN ||
				fb_wire_error_decode(&r, out + FB_WIRE_HDR_LEN,
						out_len - FB_WIRE_HDR_LEN) !=
						FB_OK) {
			r.reason = FB_WIRE_REASON_INTERNAL;
		}
		bool out_now = fb_request_strike(req);
		if (note_refusal(srv, false, r.reason)) {
			fb_log(FB_LOG_WARN, "refused %s from pipe %u: %s: %s%s",
					fb_wire_type_name(type), pipe,
					fb_wire_reason_name(r.reason),
					fb_last_error(err),
					out_now ? "; closing the connection: "
						  "too many refusals in a row"
						: "");
		}
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
	double t0 = fb_clock_s();
	fb_err err = fb_env_seal(
			e->s, fb_msg_data(m), fb_msg_len(m), type, round);
	srv->fed->st.seal_s += fb_clock_s() - t0;
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

static void send_plan(struct agg_server *srv, struct fb_request *req,
		struct agg_session *e, const struct fb_wire_header *h,
		const struct fb_wire_plan *p);
static void sa_request(struct agg_server *srv, struct fb_request *req,
		struct agg_session *e, const struct fb_wire_header *h,
		const uint8_t *body, size_t blen, uint64_t now_ms);

static void
on_poll(struct agg_server *srv, struct fb_request *req, struct agg_session *e,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen, uint64_t now_ms)
{
	struct fb_wire_poll poll;
	fb_err derr = fb_wire_poll_decode(&poll, body, blen);
	if (derr != FB_OK) {
		if (note_refusal(srv, true, FB_WIRE_REASON_MALFORMED)) {
			fb_log(FB_LOG_WARN,
					"refused POLL from %s (round %u): "
					"malformed: %s",
					srv->fed->clients[e->client].name,
					h->round_id, fb_last_error(derr));
		}
		send_error(srv, req, e, h->round_id, FB_WIRE_REASON_MALFORMED,
				"malformed POLL");
		return;
	}
	struct fb_wire_plan plan;
	if (poll.status == FB_WIRE_POLL_UNMASK) {
		sa_request(srv, req, e, h, NULL, 0, now_ms);
		return;
	}
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
	send_plan(srv, req, e, h, &plan);
}

// Encodes, seals and sends plan (header round: the current round).
static void
send_plan(struct agg_server *srv, struct fb_request *req, struct agg_session *e,
		const struct fb_wire_header *h, const struct fb_wire_plan *p)
{
	struct fb_wire_plan plan = *p;
	size_t plen = fb_wire_plan_len(&plan);
	struct fb_msg *m = plen > 0 ? alloc_sealed(plen) : NULL;
	// A plan the codec refuses has no length: its encoder names why.
	fb_err perr = plen == 0
			? fb_wire_plan_encode(NULL, 0, &plan, &plen, NULL)
			: m == NULL
			? fb_errorf(FB_ENOMEM,
					  "no memory for a PLAN of %zu bytes",
					  plen)
			: fb_wire_plan_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					  plen, &plan, &plen, NULL);
	if (perr == FB_OK && m == NULL) {
		perr = fb_errorf(FB_EINVAL, "PLAN has no length");
	}
	if (perr != FB_OK) {
		fb_log(FB_LOG_ERROR, "cannot build PLAN: %s",
				fb_last_error(perr));
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

// A request of secure aggregation (SA_ADVERT, SA_SHARES, SA_CONSISTENCY,
// SA_UNMASK, or a
// POLL UNMASK when body is NULL): its stage's reply, a PLAN WAIT, an ACK
// or a sealed ERROR (round.h agg_fed_sa_request).
static void
sa_request(struct agg_server *srv, struct fb_request *req,
		struct agg_session *e, const struct fb_wire_header *h,
		const uint8_t *body, size_t blen, uint64_t now_ms)
{
	struct agg_fed *fed = srv->fed;
	uint8_t type = body == NULL ? FB_WIRE_POLL : h->type;
	struct agg_sa_reply rep;
	agg_fed_sa_request(fed, e->client, type, h->round_id, body, blen,
			now_ms, &rep);
	if (rep.kind == AGG_SA_REPLY_OUT) {
		if (rep.out.error && note_refusal(srv, true, rep.out.reason)) {
			fb_log(FB_LOG_WARN, "refused %s from %s (round %u): %s",
					fb_wire_type_name(h->type),
					fed->clients[e->client].name,
					h->round_id,
					fb_wire_reason_name(rep.out.reason));
		}
		send_ack(srv, req, e, h->round_id, &rep.out);
		return;
	}
	if (rep.kind == AGG_SA_REPLY_WAIT) {
		struct fb_wire_plan plan;
		memset(&plan, 0, sizeof(plan));
		plan.kind = FB_WIRE_PLAN_WAIT;
		plan.retry_after_ms = rep.retry_after_ms;
		send_plan(srv, req, e, h, &plan);
		return;
	}
	struct fb_msg *m = alloc_sealed(rep.len);
	if (m == NULL) {
		reply_plain(srv, req, h->round_id, FB_WIRE_REASON_INTERNAL,
				"internal");
		return;
	}
	agg_fed_sa_write(
			fed, e->client, &rep, fb_msg_data(m) + FB_ENV_BODY_OFF);
	seal_and_send(srv, req, e, m, rep.type, h->round_id);
}

static void
sealed(struct agg_server *srv, struct fb_request *req, uint64_t now_ms)
{
	uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	uint32_t pipe = fb_request_pipe(req);
	struct fb_wire_header ph;
	uint8_t sid[FB_ENV_SID_LEN];
	fb_err perr = fb_env_peek(msg, len, &ph, sid);
	if (perr != FB_OK) {
		refused_plain(srv, req, "a sealed message", NULL, 0,
				FB_WIRE_REASON_MALFORMED, fb_last_error(perr));
		return;
	}
	if (ph.ver < FB_WIRE_VERSION_MIN || ph.ver > FB_WIRE_VERSION_MAX) {
		refused_plain(srv, req, "a sealed message", NULL, ph.round_id,
				FB_WIRE_REASON_UNSUPPORTED_VERSION,
				"a version this server does not speak");
		return;
	}
	struct agg_session *e = agg_sessions_find(&srv->sessions, sid);
	if (e == NULL) {
		refused_plain(srv, req, "a sealed message", NULL, ph.round_id,
				FB_WIRE_REASON_UNKNOWN_SESSION,
				"no session with this id");
		return;
	}
	if (e->pipe != pipe) {
		// The session id is no proof: name no client.
		refused_plain(srv, req, "a sealed message", NULL, ph.round_id,
				FB_WIRE_REASON_WRONG_CONNECTION,
				"session of another connection");
		return;
	}
	const char *peer = srv->fed->clients[e->client].name;
	if (ph.ver != fb_session_version(e->s)) {
		refused_plain(srv, req, "a sealed message", peer, ph.round_id,
				FB_WIRE_REASON_UNSUPPORTED_VERSION,
				"not the session's version");
		return;
	}
	double t0 = fb_clock_s();
	struct fb_wire_header h;
	uint8_t *body = NULL;
	size_t blen = 0;
	fb_err err = fb_env_open(e->s, msg, len, &h, &body, &blen);
	if (err != FB_OK) {
		// On the session's connection, but its type and round are
		// not authenticated.
		refused_plain(srv, req, "a sealed message", peer, ph.round_id,
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
		srv->fed->st.open_s += fb_clock_s() - t0;
		agg_fed_update(srv->fed, e->client, h.round_id, body, blen,
				now_ms, &o);
		srv->fed->st.aggregation_s += fb_clock_s() - t0;
		if (o.error && note_refusal(srv, true, o.reason)) {
			fb_log(FB_LOG_WARN,
					"refused UPDATE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		} else if (!o.error && o.status != FB_WIRE_ACK_ACCEPTED) {
			fb_log(FB_LOG_INFO, "UPDATE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		}
		send_ack(srv, req, e, h.round_id, &o);
		return;
	case FB_WIRE_REFUSE: {
		struct fb_wire_reason_text r;
		if (fb_wire_refuse_decode(&r, body, blen) != FB_OK) {
			if (note_refusal(srv, true, FB_WIRE_REASON_MALFORMED)) {
				fb_log(FB_LOG_WARN,
						"refused REFUSE from %s (round "
						"%u): malformed",
						peer, h.round_id);
			}
			send_error(srv, req, e, h.round_id,
					FB_WIRE_REASON_MALFORMED,
					"malformed REFUSE");
			return;
		}
		agg_fed_refuse(srv->fed, e->client, h.round_id, &r, now_ms, &o);
		if (o.error && note_refusal(srv, true, o.reason)) {
			fb_log(FB_LOG_WARN,
					"refused REFUSE from %s (round %u): %s",
					peer, h.round_id,
					fb_wire_reason_name(o.reason));
		}
		send_ack(srv, req, e, h.round_id, &o);
		return;
	}
	case FB_WIRE_SA_ADVERT:
	case FB_WIRE_SA_SHARES:
	case FB_WIRE_SA_CONSISTENCY:
	case FB_WIRE_SA_UNMASK:
		sa_request(srv, req, e, &h, body, blen, now_ms);
		return;
	case FB_WIRE_ERROR: {
		struct fb_wire_reason_text r;
		if (fb_wire_error_decode(&r, body, blen) == FB_OK) {
			fb_log(r.reason == FB_WIRE_REASON_SECAGG_REFUSED
							? FB_LOG_WARN
							: FB_LOG_INFO,
					"%s reported an error: %s (%s)", peer,
					fb_wire_reason_name(r.reason), r.text);
		}
		agg_fed_client_error(srv->fed, e->client, h.round_id);
		struct agg_outcome a = {.status = FB_WIRE_ACK_ACCEPTED};
		send_ack(srv, req, e, h.round_id, &a);
		agg_sessions_remove(&srv->sessions, e);
		sync_connected(srv);
		return;
	}
	default:
		if (note_refusal(srv, true, FB_WIRE_REASON_UNEXPECTED)) {
			fb_log(FB_LOG_WARN,
					"refused %s from %s (round %u): "
					"unexpected",
					fb_wire_type_name(h.type), peer,
					h.round_id);
		}
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
	struct fb_wire_header h;
	fb_err herr = fb_wire_header_decode(&h, msg, len);
	if (herr != FB_OK) {
		refused_plain(srv, req, "a message", NULL, 0,
				FB_WIRE_REASON_MALFORMED, fb_last_error(herr));
		return;
	}
	if (fb_wire_type_is_sealed(h.type)) {
		sealed(srv, req, now_ms);
	} else if (h.type == FB_WIRE_HELLO || h.type == FB_WIRE_AUTH) {
		handshake(srv, req, now_ms, h.type);
	} else {
		refused_plain(srv, req, "a plaintext message", NULL, h.round_id,
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

// Appends ", name n" (or "name n" first) to buf.
static void
append_count(char *buf, size_t cap, bool *first, const char *name, uint64_t n)
{
	size_t at = strlen(buf);
	if (at < cap) {
		snprintf(buf + at, cap - at, "%s%s %llu", *first ? "" : ", ",
				name, (unsigned long long)n);
	}
	*first = false;
}

void
agg_serve_tick(struct agg_server *srv, uint64_t now_ms, bool last)
{
	struct agg_refusal_log *g = &srv->log;
	uint32_t iv = srv->fed->cfg->log_interval_ms > 0
			? srv->fed->cfg->log_interval_ms
			: 10000;
	struct fb_listener_stats st = {0};
	if (g->start_ms != 0 && now_ms - g->start_ms < iv && !last) {
		return;
	}
	if (srv->listener != NULL) {
		fb_listener_stats(srv->listener, &st);
	}
	uint64_t closed = 0;
	for (int k = 1; k < FB_LISTENER_CLOSE_N; k++) {
		closed += st.closed[k] - g->st.closed[k];
	}
	if (g->start_ms != 0 && (g->refused > 0 || closed > 0)) {
		char why[512] = "", shut[512] = "";
		bool first = true;
		for (int r = 1; r < AGG_LOG_REASONS; r++) {
			if (g->by_reason[r] > 0) {
				append_count(why, sizeof(why), &first,
						fb_wire_reason_name(
								(uint16_t)r),
						g->by_reason[r]);
			}
		}
		if (g->by_reason[0] > 0) {
			append_count(why, sizeof(why), &first, "other",
					g->by_reason[0]);
		}
		first = true;
		for (int k = 1; k < FB_LISTENER_CLOSE_N; k++) {
			uint64_t n = st.closed[k] - g->st.closed[k];
			if (n > 0) {
				append_count(shut, sizeof(shut), &first,
						fb_listener_close_name((
								enum fb_listener_close)
										k),
						n);
			}
		}
		fb_log(FB_LOG_WARN,
				"summary of the last %.1f s: %llu messages "
				"refused (%s), %llu of their log lines "
				"suppressed; %llu connections closed (%s); "
				"%llu accepted; open now: %u unauthenticated, "
				"%u authenticated",
				(double)(now_ms - g->start_ms) / 1e3,
				(unsigned long long)g->refused,
				g->refused > 0 ? why : "none",
				(unsigned long long)g->suppressed,
				(unsigned long long)closed,
				closed > 0 ? shut : "none",
				(unsigned long long)(st.accepted -
						g->st.accepted),
				st.untrusted, st.trusted);
	}
	memset(g, 0, sizeof(*g));
	g->start_ms = now_ms;
	g->st = st;
}

void
agg_serve_loop(struct agg_server *srv, struct fb_listener *listener,
		const char *(*stop)(void *ctx), void *ctx)
{
	struct agg_fed *fed = srv->fed;
	srv->listener = listener;
	srv->sessions.removed = session_removed;
	srv->sessions.removed_ctx = srv;
	memset(&srv->log, 0, sizeof(srv->log));
	while (true) {
		uint64_t now = fb_clock_ms();
		if (srv->turn != NULL) {
			srv->turn(srv->turn_ctx, now);
		}
		const char *why = stop != NULL ? stop(ctx) : NULL;
		if (why != NULL) {
			agg_fed_stop(fed, now, why);
			break;
		}
		agg_fed_tick(fed, now);
		agg_serve_tick(srv, now, false);
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
			agg_serve_request(srv, ev.req, fb_clock_ms());
		} else {
			agg_serve_pipe_closed(srv, ev.pipe);
		}
	}
	agg_serve_tick(srv, fb_clock_ms(), true);
	srv->sessions.removed = NULL;
	srv->listener = NULL;
}
