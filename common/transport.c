// common/transport.c: include/fedbundle/transport.h over NNG 1.5.
// Listener invariants: each context slot is in exactly one state: RECV (an
// nng_ctx_recv is in flight), HELD (its request sits in the queue or with
// the owner; no operation in flight), SEND (an nng_ctx_send is in flight)
// or IDLE (closing). Only the aio callback moves RECV -> HELD and
// SEND -> RECV; only the owner moves HELD -> SEND/RECV. The queue is the
// only shared state and is guarded by one mutex. A send takes its message
// only on success (NNG's rule): the callback frees a message whose send
// failed. Message data is 4-byte aligned: NNG bodies are, and a received
// body that is not is copied (never observed on glibc).
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/log.h"
#include "fedbundle/transport.h"

#define DEFAULT_CONTEXTS 32
// NNG counts its protocol header (req0's request id, rep0's backtrace) in
// NNG_OPT_RECVMAXSZ; the configured limits are for our message bytes.
#define PROTO_HEADER_SLACK 64
#define MAX_CONTEXTS 1024

struct fb_msg {
	nng_msg *m;    // NULL when the bytes live in copy
	uint8_t *copy; // aligned private copy, or NULL
	size_t len;
};

// The one place NNG errors become fb_err.
static fb_err
net_err(int rv, const char *what, const char *where)
{
	if (rv == NNG_ETIMEDOUT) {
		return fb_errorf(FB_ETIMEOUT, "%s%s%s: %s", what,
				where != NULL ? " " : "",
				where != NULL ? where : "", nng_strerror(rv));
	}
	if (rv == NNG_ENOMEM) {
		return fb_errorf(FB_ENOMEM, "%s: %s", what, nng_strerror(rv));
	}
	fb_log(FB_LOG_DEBUG, "%s%s%s: %s", what, where != NULL ? " " : "",
			where != NULL ? where : "", nng_strerror(rv));
	return fb_errorf(FB_ENET, "%s%s%s: %s", what, where != NULL ? " " : "",
			where != NULL ? where : "", nng_strerror(rv));
}

static bool
aligned4(const void *p)
{
	return ((uintptr_t)p & 3u) == 0;
}

fb_err
fb_msg_alloc(struct fb_msg **out, size_t len)
{
	struct fb_msg *msg = calloc(1, sizeof(*msg));
	if (msg == NULL) {
		return FB_ENOMEM;
	}
	int rv = nng_msg_alloc(&msg->m, len);
	if (rv != 0) {
		free(msg);
		return net_err(rv, "nng_msg_alloc", NULL);
	}
	msg->len = len;
	if (!aligned4(nng_msg_body(msg->m))) {
		msg->copy = aligned_alloc(16, (len + 15) / 16 * 16 + 16);
		nng_msg_free(msg->m);
		msg->m = NULL;
		if (msg->copy == NULL) {
			free(msg);
			return FB_ENOMEM;
		}
	}
	*out = msg;
	return FB_OK;
}

void
fb_msg_free(struct fb_msg *msg)
{
	if (msg == NULL) {
		return;
	}
	if (msg->m != NULL) {
		nng_msg_free(msg->m);
	}
	free(msg->copy);
	free(msg);
}

uint8_t *
fb_msg_data(struct fb_msg *msg)
{
	return msg->copy != NULL ? msg->copy : nng_msg_body(msg->m);
}

size_t
fb_msg_len(const struct fb_msg *msg)
{
	return msg->len;
}

fb_err
fb_msg_truncate(struct fb_msg *msg, size_t len)
{
	if (len > msg->len) {
		return fb_errorf(FB_EINVAL,
				"message of %zu bytes cannot grow "
				"to %zu",
				msg->len, len);
	}
	if (msg->m != NULL) {
		nng_msg_chop(msg->m, msg->len - len);
	}
	msg->len = len;
	return FB_OK;
}

uint32_t
fb_msg_pipe(const struct fb_msg *msg)
{
	if (msg->m == NULL) {
		return 0;
	}
	int id = nng_pipe_id(nng_msg_get_pipe(msg->m));
	return id > 0 ? (uint32_t)id : 0;
}

// Wraps a received nng_msg (taken). NULL on allocation failure (m freed).
static struct fb_msg *
wrap_received(nng_msg *m, uint32_t *pipe)
{
	int id = nng_pipe_id(nng_msg_get_pipe(m));
	*pipe = id > 0 ? (uint32_t)id : 0;
	struct fb_msg *msg = calloc(1, sizeof(*msg));
	if (msg == NULL) {
		nng_msg_free(m);
		return NULL;
	}
	msg->m = m;
	msg->len = nng_msg_len(m);
	if (!aligned4(nng_msg_body(m))) {
		msg->copy = aligned_alloc(16, (msg->len + 15) / 16 * 16 + 16);
		if (msg->copy == NULL) {
			fb_msg_free(msg);
			return NULL;
		}
		memcpy(msg->copy, nng_msg_body(m), msg->len);
	}
	return msg;
}

// Turns msg (taken) into an nng_msg to send; NULL on allocation failure.
static nng_msg *
unwrap_for_send(struct fb_msg *msg)
{
	nng_msg *m = NULL;
	if (msg->copy == NULL) {
		m = msg->m;
		msg->m = NULL;
	} else if (nng_msg_alloc(&m, msg->len) == 0) {
		memcpy(nng_msg_body(m), msg->copy, msg->len);
	} else {
		m = NULL;
	}
	fb_msg_free(msg);
	return m;
}

// ---- listener ----

enum slot_state { SLOT_IDLE, SLOT_RECV, SLOT_HELD, SLOT_SEND };

struct event {
	enum fb_listener_event_kind kind;
	uint32_t pipe;
	struct fb_request *req;
	struct event *next;
	bool heap; // a pipe event: freed once taken
};

struct fb_request {
	struct slot *slot;
	struct fb_msg *msg;
	uint32_t pipe;
};

struct slot {
	struct fb_listener *l;
	nng_ctx ctx;
	nng_aio *aio;
	bool ctx_open;
	enum slot_state state;
	struct fb_request req;
	struct event ev;
};

struct fb_listener {
	nng_socket sock;
	bool sock_open;
	atomic_bool closing;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct event *head, *tail;
	struct slot *slots;
	uint32_t n_slots;
};

static void
push_event(struct fb_listener *l, struct event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->tail == NULL) {
		l->head = ev;
	} else {
		l->tail->next = ev;
	}
	l->tail = ev;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void
slot_recv(struct slot *s)
{
	s->state = SLOT_RECV;
	nng_ctx_recv(s->ctx, s->aio);
}

static void
slot_cb(void *arg)
{
	struct slot *s = arg;
	struct fb_listener *l = s->l;
	int rv = nng_aio_result(s->aio);
	if (s->state == SLOT_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			nng_aio_set_msg(s->aio, NULL);
			if (rv != NNG_ECLOSED && rv != NNG_ECANCELED) {
				fb_log(FB_LOG_DEBUG, "reply not sent: %s",
						nng_strerror(rv));
			}
		}
		if (atomic_load(&l->closing)) {
			s->state = SLOT_IDLE;
			return;
		}
		slot_recv(s);
		return;
	}
	if (rv != 0) {
		if (atomic_load(&l->closing) || rv == NNG_ECLOSED) {
			s->state = SLOT_IDLE;
			return;
		}
		fb_log(FB_LOG_WARN, "receive failed: %s", nng_strerror(rv));
		slot_recv(s);
		return;
	}
	nng_msg *m = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	uint32_t pipe = 0;
	struct fb_msg *msg = wrap_received(m, &pipe);
	if (msg == NULL) {
		fb_log(FB_LOG_WARN, "request dropped: out of memory");
		slot_recv(s);
		return;
	}
	s->state = SLOT_HELD;
	s->req.slot = s;
	s->req.msg = msg;
	s->req.pipe = pipe;
	s->ev.kind = FB_LISTENER_REQUEST;
	s->ev.pipe = pipe;
	s->ev.req = &s->req;
	s->ev.heap = false;
	push_event(l, &s->ev);
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct fb_listener *l = arg;
	if (ev != NNG_PIPE_EV_REM_POST || atomic_load(&l->closing)) {
		return;
	}
	struct event *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		fb_log(FB_LOG_WARN, "pipe closure not reported: out of memory");
		return;
	}
	int id = nng_pipe_id(p);
	e->kind = FB_LISTENER_PIPE_CLOSED;
	e->pipe = id > 0 ? (uint32_t)id : 0;
	e->heap = true;
	push_event(l, e);
}

void
fb_listener_destroy(struct fb_listener *l)
{
	if (l == NULL) {
		return;
	}
	atomic_store(&l->closing, true);
	if (l->sock_open) {
		nng_close(l->sock); // cancels every context operation
	}
	for (uint32_t k = 0; k < l->n_slots; k++) {
		struct slot *s = &l->slots[k];
		if (s->aio != NULL) {
			nng_aio_free(s->aio); // waits for its callback
		}
		if (s->state == SLOT_HELD) {
			fb_msg_free(s->req.msg);
		}
	}
	for (struct event *e = l->head, *next; e != NULL; e = next) {
		next = e->next;
		if (e->heap) {
			free(e);
		}
	}
	free(l->slots);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

fb_err
fb_listener_create(
		struct fb_listener **out, const struct fb_listener_config *cfg)
{
	if (cfg->n_urls == 0 || cfg->urls == NULL || cfg->recv_max == 0 ||
			cfg->n_contexts > MAX_CONTEXTS) {
		return fb_errorf(FB_EINVAL,
				"listener: need at least one URL, recv_max > 0 "
				"and at most %d contexts",
				MAX_CONTEXTS);
	}
	struct fb_listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return FB_ENOMEM;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->closing, false);
	l->n_slots = cfg->n_contexts > 0 ? cfg->n_contexts : DEFAULT_CONTEXTS;
	fb_err err = FB_OK;
	l->slots = calloc(l->n_slots, sizeof(*l->slots));
	if (l->slots == NULL) {
		l->n_slots = 0;
		err = FB_ENOMEM;
		goto fail;
	}
	int rv = nng_rep0_open(&l->sock);
	if (rv != 0) {
		err = net_err(rv, "nng_rep0_open", NULL);
		goto fail;
	}
	l->sock_open = true;
	rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, pipe_cb, l);
	if (rv != 0) {
		err = net_err(rv, "nng_pipe_notify", NULL);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_urls; i++) {
		nng_listener lst;
		const char *url = cfg->urls[i];
		rv = nng_listener_create(&lst, l->sock, url);
		if (rv == 0) {
			// §1.4: before listening, so no pipe is ever unbounded.
			rv = nng_listener_set_size(lst, NNG_OPT_RECVMAXSZ,
					cfg->recv_max + PROTO_HEADER_SLACK);
		}
		if (rv == 0) {
			rv = nng_listener_start(lst, 0);
		}
		if (rv != 0) {
			err = net_err(rv, "cannot listen on", url);
			goto fail;
		}
	}
	for (uint32_t k = 0; k < l->n_slots; k++) {
		struct slot *s = &l->slots[k];
		s->l = l;
		rv = nng_aio_alloc(&s->aio, slot_cb, s);
		if (rv == 0) {
			rv = nng_ctx_open(&s->ctx, l->sock);
		}
		if (rv != 0) {
			err = net_err(rv, "nng_ctx_open", NULL);
			goto fail;
		}
		s->ctx_open = true;
	}
	for (uint32_t k = 0; k < l->n_slots; k++) {
		slot_recv(&l->slots[k]);
	}
	*out = l;
	return FB_OK;
fail:
	fb_listener_destroy(l);
	return err;
}

fb_err
fb_listener_wait(struct fb_listener *l, int timeout_ms,
		struct fb_listener_event *ev)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&l->mu);
	while (l->head == NULL && timeout_ms > 0) {
		if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0) {
			break;
		}
	}
	struct event *e = l->head;
	if (e != NULL) {
		l->head = e->next;
		if (l->head == NULL) {
			l->tail = NULL;
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (e == NULL) {
		return FB_ETIMEOUT;
	}
	ev->kind = e->kind;
	ev->pipe = e->pipe;
	ev->req = e->req;
	if (e->heap) {
		free(e);
	}
	return FB_OK;
}

uint8_t *
fb_request_data(struct fb_request *req)
{
	return fb_msg_data(req->msg);
}

size_t
fb_request_len(const struct fb_request *req)
{
	return fb_msg_len(req->msg);
}

uint32_t
fb_request_pipe(const struct fb_request *req)
{
	return req->pipe;
}

void
fb_request_drop(struct fb_request *req)
{
	struct slot *s = req->slot;
	fb_msg_free(req->msg);
	req->msg = NULL;
	if (atomic_load(&s->l->closing)) {
		s->state = SLOT_IDLE;
		return;
	}
	slot_recv(s);
}

fb_err
fb_request_reply_take(struct fb_request *req, struct fb_msg *reply)
{
	struct slot *s = req->slot;
	fb_msg_free(req->msg);
	req->msg = NULL;
	nng_msg *m = unwrap_for_send(reply);
	if (m == NULL) {
		slot_recv(s);
		return fb_errorf(FB_ENOMEM, "reply not sent: out of memory");
	}
	s->state = SLOT_SEND;
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
	return FB_OK;
}

fb_err
fb_request_reply_copy(struct fb_request *req, const void *buf, size_t len)
{
	struct fb_msg *msg = NULL;
	fb_err err = fb_msg_alloc(&msg, len);
	if (err != FB_OK) {
		fb_request_drop(req);
		return err;
	}
	memcpy(fb_msg_data(msg), buf, len);
	return fb_request_reply_take(req, msg);
}

// ---- dialer ----

struct fb_dialer {
	nng_socket sock;
	bool sock_open;
	char url[512];
};

void
fb_dialer_destroy(struct fb_dialer *d)
{
	if (d == NULL) {
		return;
	}
	if (d->sock_open) {
		nng_close(d->sock);
	}
	free(d);
}

fb_err
fb_dialer_create(struct fb_dialer **out, const struct fb_dialer_config *cfg)
{
	if (cfg->url == NULL || cfg->recv_max == 0 ||
			strlen(cfg->url) >=
					sizeof(((struct fb_dialer *)0)->url)) {
		return fb_errorf(FB_EINVAL,
				"dialer: need a URL (under 512 bytes) and "
				"recv_max > 0");
	}
	struct fb_dialer *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return FB_ENOMEM;
	}
	strcpy(d->url, cfg->url);
	fb_err err = FB_OK;
	int rv = nng_req0_open(&d->sock);
	if (rv != 0) {
		err = net_err(rv, "nng_req0_open", NULL);
		goto fail;
	}
	d->sock_open = true;
	nng_duration rmin = cfg->reconnect_min_ms > 0
			? (nng_duration)cfg->reconnect_min_ms
			: 100;
	nng_duration rmax = cfg->reconnect_max_ms > 0
			? (nng_duration)cfg->reconnect_max_ms
			: 2000;
	// §1.5: a resent sealed request would be a replay.
	rv = nng_socket_set_ms(
			d->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0) {
		rv = nng_socket_set_ms(d->sock, NNG_OPT_RECONNMINT, rmin);
	}
	if (rv == 0) {
		rv = nng_socket_set_ms(d->sock, NNG_OPT_RECONNMAXT, rmax);
	}
	if (rv != 0) {
		err = net_err(rv, "cannot set socket options for", d->url);
		goto fail;
	}
	nng_dialer dl;
	rv = nng_dialer_create(&dl, d->sock, d->url);
	if (rv == 0) {
		rv = nng_dialer_set_size(dl, NNG_OPT_RECVMAXSZ,
				cfg->recv_max + PROTO_HEADER_SLACK);
	}
	if (rv == 0) {
		rv = nng_dialer_start(dl, NNG_FLAG_NONBLOCK);
	}
	if (rv != 0) {
		err = net_err(rv, "cannot dial", d->url);
		goto fail;
	}
	*out = d;
	return FB_OK;
fail:
	fb_dialer_destroy(d);
	return err;
}

fb_err
fb_dialer_call_take(struct fb_dialer *d, struct fb_msg *req, int timeout_ms,
		struct fb_msg **reply)
{
	nng_duration t = timeout_ms > 0 ? (nng_duration)timeout_ms : 1;
	int rv = nng_socket_set_ms(d->sock, NNG_OPT_SENDTIMEO, t);
	if (rv == 0) {
		rv = nng_socket_set_ms(d->sock, NNG_OPT_RECVTIMEO, t);
	}
	if (rv != 0) {
		fb_msg_free(req);
		return net_err(rv, "cannot set timeouts for", d->url);
	}
	nng_msg *m = unwrap_for_send(req);
	if (m == NULL) {
		return FB_ENOMEM;
	}
	rv = nng_sendmsg(d->sock, m, 0);
	if (rv != 0) {
		nng_msg_free(m); // a failed send leaves the message with us
		return net_err(rv, "send to", d->url);
	}
	nng_msg *r = NULL;
	rv = nng_recvmsg(d->sock, &r, 0);
	if (rv != 0) {
		return net_err(rv, "no reply from", d->url);
	}
	uint32_t pipe;
	struct fb_msg *msg = wrap_received(r, &pipe);
	if (msg == NULL) {
		return FB_ENOMEM;
	}
	*reply = msg;
	return FB_OK;
}

void
fb_transport_fini(void)
{
	nng_fini();
}
