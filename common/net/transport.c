// common/net/transport.c: include/fedbundle/net/transport.h over NNG 1.5.
// Why the listener speaks SP itself on tcp:// and ipc://: NNG's rep0 reads
// every announced frame whole, up to NNG_OPT_RECVMAXSZ (one limit per
// socket, so the model's size), before the application sees a byte, and
// never times a stalled one out: 150 peers without a key held 770 MB
// (docs/architecture.md, "Connections before authentication"). Reading
// the frames here lets each connection have its own limit and deadlines.
// Connection invariants (all under l->mu): rx is NEGO (the peer's SP
// header), HEAD (a frame header), BODY, or HELD (its request is queued or
// with the owner: nothing is read meanwhile, so a connection holds at most
// one request); tx is NEGO (our SP header), IDLE or REPLY. rx_busy/tx_busy
// say an aio operation is in flight. Only the timer thread (janitor) calls
// nng_stream_close and frees a connection, once it is closing with no
// operation in flight and no request held. NNG calls that start an
// operation are made after unlocking, with the busy flag already set.
// Context slots (inproc://): RECV (an nng_ctx_recv in flight), HELD, SEND
// or IDLE (closing); only the aio callback moves RECV -> HELD and
// SEND -> RECV; only the owner moves HELD -> SEND/RECV. A send takes its
// message only on success (NNG's rule): the callback frees a message
// whose send failed. Message data is 4-byte aligned: NNG bodies are, a
// received body that is not is copied (never observed on glibc), and
// frames read here go to a 16-byte aligned buffer.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/net/transport.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/log.h"

#define DEFAULT_CONTEXTS 32
// NNG counts its protocol header (req0's request id, rep0's backtrace) in
// NNG_OPT_RECVMAXSZ; the configured limits are for our message bytes.
#define PROTO_HEADER_SLACK 64
#define MAX_CONTEXTS 1024

struct fb_msg {
	nng_msg *m;    // NULL when the bytes live in copy
	uint8_t *copy; // aligned private buffer, or NULL
	size_t off;    // the data starts at copy + off
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
	return msg->copy != NULL ? msg->copy + msg->off : nng_msg_body(msg->m);
}

size_t
fb_msg_len(const struct fb_msg *msg)
{
	return msg->len;
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
		memcpy(nng_msg_body(m), fb_msg_data(msg), msg->len);
	} else {
		m = NULL;
	}
	fb_msg_free(msg);
	return m;
}

// ---- listener ----

// NNG's SP wire format (nng's tcp and ipc transports): each side first
// sends 00 'S' 'P' 00, its protocol (u16 BE) and 00 00; then every message
// is a u64 BE length (after a type byte 0x01 over ipc) and that many
// bytes. A req0 request starts with its backtrace, 4-byte words up to one
// with bit 31 set (the request id; more words only through devices); a
// rep0 reply echoes them before its body.
#define SP_PROTO_REQ0 0x30
#define SP_PROTO_REP0 0x31
#define SP_MAX_HOPS 8 // NNG's default NNG_OPT_MAXTTL
#define JANITOR_TICK_MS 100
// A connection closed for its strikes lingers this long after its last
// reply is written: NNG's req0 fails a request whose pipe closes before it
// has matched the reply, even when the reply's bytes had arrived.
#define STRIKES_LINGER_MS 200

enum slot_state { SLOT_IDLE, SLOT_RECV, SLOT_HELD, SLOT_SEND };
enum rx_state { RX_NEGO, RX_HEAD, RX_BODY, RX_HELD };
enum tx_state { TX_NEGO, TX_IDLE, TX_REPLY };

struct event {
	enum fb_listener_event_kind kind;
	uint32_t pipe;
	struct fb_request *req;
	struct event *next;
	bool heap; // a pipe event: freed once taken
};

struct fb_request {
	struct slot *slot; // inproc://, or NULL
	struct conn *conn; // tcp:// or ipc://, or NULL
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

struct conn {
	struct fb_listener *l;
	struct conn *next;       // l->conns, newest first
	struct conn *close_next; // the janitor's list of streams to close
	nng_stream *s;
	nng_aio *rx, *tx;
	uint32_t id;
	bool ipc; // 9-byte frame headers
	bool trusted;
	bool closing; // no new operation starts; the janitor closes it
	bool closed;  // nng_stream_close was called
	bool rx_busy, tx_busy;
	bool close_after_send;
	bool reported; // it delivered a request: report its closure
	enum rx_state rx_state;
	enum tx_state tx_state;
	uint8_t head[9];  // the SP header or a frame header being read
	size_t want, got; // of the current read
	uint8_t *buf;     // the frame being read (16-byte aligned)
	size_t len;
	uint8_t bt[4 * SP_MAX_HOPS]; // the held request's backtrace
	size_t bt_len;
	uint8_t sp_out[8];
	uint8_t tx_head[9];
	size_t tx_hl;
	struct fb_msg *tx_msg; // the reply being (or waiting to be) sent
	size_t tx_off, tx_total;
	uint64_t trust_deadline_base_ms; // opened, or lost its trust
	uint64_t rx_started_ms; // first byte of the message being read, or 0
	uint64_t tx_started_ms; // a reply is being sent since, or 0
	uint64_t linger_ms;     // closed for its strikes at this time, or 0
	uint32_t strikes;
	uint32_t n_requests;
	struct fb_msg rxmsg; // the held request's bytes
	struct fb_request req;
	struct event ev;
};

struct endpoint {
	struct fb_listener *l;
	nng_stream_listener *sl;
	nng_aio *aio;
	bool ipc;
	bool paused; // accept failed (out of files?): the janitor retries
	bool rearm;  // the janitor's copy of paused
};

struct fb_listener {
	atomic_bool closing;
	pthread_mutex_t mu;
	pthread_cond_t cv;  // the owner waits for events
	pthread_cond_t jcv; // the janitor waits for work or its tick
	struct event *head, *tail;
	// inproc://
	nng_socket sock;
	bool sock_open;
	struct slot *slots;
	uint32_t n_slots;
	// tcp:// and ipc://
	struct endpoint *eps;
	size_t n_eps;
	struct conn *conns;
	uint32_t next_id;
	bool janitor_started, janitor_stop, janitor_work;
	pthread_t janitor;
	size_t recv_max, preauth_recv_max;
	uint32_t preauth_timeout_ms, preauth_message_ms, message_timeout_ms;
	uint32_t preauth_max, max_strikes;
	struct fb_listener_stats st;
};

static void
push_event_locked(struct fb_listener *l, struct event *ev)
{
	ev->next = NULL;
	if (l->tail == NULL) {
		l->head = ev;
	} else {
		l->tail->next = ev;
	}
	l->tail = ev;
	pthread_cond_signal(&l->cv);
}

static void
push_event(struct fb_listener *l, struct event *ev)
{
	pthread_mutex_lock(&l->mu);
	push_event_locked(l, ev);
	pthread_mutex_unlock(&l->mu);
}

static void
push_closed_locked(struct fb_listener *l, uint32_t pipe)
{
	struct event *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		fb_log(FB_LOG_WARN, "pipe closure not reported: out of memory");
		return;
	}
	e->kind = FB_LISTENER_PIPE_CLOSED;
	e->pipe = pipe;
	e->heap = true;
	push_event_locked(l, e);
}

// ---- inproc:// : NNG rep0 contexts ----

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
	s->req.conn = NULL;
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
	int id = nng_pipe_id(p);
	pthread_mutex_lock(&l->mu);
	push_closed_locked(l, id > 0 ? (uint32_t)id : 0);
	pthread_mutex_unlock(&l->mu);
}

static fb_err
sp_open(struct fb_listener *l, const struct fb_listener_config *cfg)
{
	int rv = nng_rep0_open(&l->sock);
	if (rv != 0) {
		return net_err(rv, "nng_rep0_open", NULL);
	}
	l->sock_open = true;
	rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, pipe_cb, l);
	if (rv != 0) {
		return net_err(rv, "nng_pipe_notify", NULL);
	}
	l->n_slots = cfg->n_contexts > 0 ? cfg->n_contexts : DEFAULT_CONTEXTS;
	l->slots = calloc(l->n_slots, sizeof(*l->slots));
	if (l->slots == NULL) {
		l->n_slots = 0;
		return FB_ENOMEM;
	}
	for (uint32_t k = 0; k < l->n_slots; k++) {
		struct slot *s = &l->slots[k];
		s->l = l;
		rv = nng_aio_alloc(&s->aio, slot_cb, s);
		if (rv == 0) {
			rv = nng_ctx_open(&s->ctx, l->sock);
		}
		if (rv != 0) {
			return net_err(rv, "nng_ctx_open", NULL);
		}
		s->ctx_open = true;
	}
	return FB_OK;
}

static fb_err
sp_listen(struct fb_listener *l, const char *url, size_t recv_max)
{
	nng_listener lst;
	int rv = nng_listener_create(&lst, l->sock, url);
	if (rv == 0) {
		// §1.4: before listening, so no pipe is ever unbounded.
		rv = nng_listener_set_size(lst, NNG_OPT_RECVMAXSZ,
				recv_max + PROTO_HEADER_SLACK);
	}
	if (rv == 0) {
		rv = nng_listener_start(lst, 0);
	}
	return rv == 0 ? FB_OK : net_err(rv, "cannot listen on", url);
}

// ---- tcp:// and ipc:// : SP framing read here ----

static void conn_rx_cb(void *arg);
static void conn_tx_cb(void *arg);

static void
janitor_wake_locked(struct fb_listener *l)
{
	l->janitor_work = true;
	pthread_cond_signal(&l->jcv);
}

// Marks c closing (once): it starts nothing new, its closure is counted
// and reported, and the janitor closes and frees it.
static void
conn_close_locked(struct conn *c, enum fb_listener_close why)
{
	struct fb_listener *l = c->l;
	if (c->closing) {
		return;
	}
	c->closing = true;
	l->st.closed[why]++;
	if (c->trusted) {
		l->st.trusted--;
	} else {
		l->st.untrusted--;
	}
	if (why != FB_LISTENER_CLOSE_PEER) {
		fb_log(FB_LOG_DEBUG, "pipe %u closed: %s", c->id,
				fb_listener_close_name(why));
	}
	if (c->reported && !atomic_load(&l->closing)) {
		push_closed_locked(l, c->id);
	}
	janitor_wake_locked(l);
}

static size_t
frame_head_len(const struct conn *c)
{
	return c->ipc ? 9 : 8;
}

// Prepares c->rx to read what remains of the current read.
static void
rx_set_iov_locked(struct conn *c)
{
	nng_iov iov;
	iov.iov_buf = (c->rx_state == RX_BODY ? c->buf : c->head) + c->got;
	iov.iov_len = c->want - c->got;
	nng_aio_set_iov(c->rx, 1, &iov);
	c->rx_busy = true;
}

static void
rx_start_head_locked(struct conn *c)
{
	c->rx_state = RX_HEAD;
	c->want = frame_head_len(c);
	c->got = 0;
	rx_set_iov_locked(c);
}

// Prepares c->tx to send what remains of our SP header or of the reply.
static void
tx_set_iov_locked(struct conn *c)
{
	nng_iov iov[3];
	unsigned n = 0;
	if (c->tx_state == TX_NEGO) {
		iov[n].iov_buf = c->sp_out + c->tx_off;
		iov[n++].iov_len = sizeof(c->sp_out) - c->tx_off;
	} else {
		const struct {
			void *p;
			size_t len;
		} seg[3] = {{c->tx_head, c->tx_hl}, {c->bt, c->bt_len},
				{fb_msg_data(c->tx_msg),
						fb_msg_len(c->tx_msg)}};
		size_t off = c->tx_off;
		for (int k = 0; k < 3; k++) {
			if (off >= seg[k].len) {
				off -= seg[k].len;
				continue;
			}
			iov[n].iov_buf = (uint8_t *)seg[k].p + off;
			iov[n++].iov_len = seg[k].len - off;
			off = 0;
		}
	}
	nng_aio_set_iov(c->tx, n, iov);
	c->tx_busy = true;
}

static void
tx_start_reply_locked(struct conn *c)
{
	uint64_t len = (uint64_t)c->bt_len + fb_msg_len(c->tx_msg);
	size_t k = 0;
	if (c->ipc) {
		c->tx_head[k++] = 1;
	}
	for (int i = 7; i >= 0; i--) {
		c->tx_head[k++] = (uint8_t)(len >> (8 * i));
	}
	c->tx_hl = k;
	c->tx_off = 0;
	c->tx_total = k + len;
	c->tx_state = TX_REPLY;
	tx_set_iov_locked(c);
}

// A frame header is in c->head: checks it against c's limit and prepares
// the read of the body. False if c was closed.
static bool
rx_head_done_locked(struct conn *c)
{
	struct fb_listener *l = c->l;
	const uint8_t *p = c->head;
	if (c->ipc && *p++ != 1) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PROTOCOL);
		return false;
	}
	uint64_t len = 0;
	for (int i = 0; i < 8; i++) {
		len = len << 8 | p[i];
	}
	size_t limit = c->trusted || l->preauth_recv_max == 0
			? l->recv_max
			: l->preauth_recv_max;
	if (len > limit + PROTO_HEADER_SLACK) {
		fb_log(FB_LOG_DEBUG,
				"pipe %u announced a message of %llu bytes, over "
				"its limit of %zu",
				c->id, (unsigned long long)len, limit);
		conn_close_locked(c, FB_LISTENER_CLOSE_TOO_LARGE);
		return false;
	}
	if (len < 4) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PROTOCOL);
		return false;
	}
	c->buf = aligned_alloc(16, ((size_t)len + 15) / 16 * 16);
	if (c->buf == NULL) {
		conn_close_locked(c, FB_LISTENER_CLOSE_NOMEM);
		return false;
	}
	c->len = (size_t)len;
	c->rx_state = RX_BODY;
	c->want = c->len;
	c->got = 0;
	rx_set_iov_locked(c);
	return true;
}

// A whole frame is in c->buf: splits off the backtrace and queues the
// request for the owner, or closes c if it has none.
static void
rx_body_done_locked(struct conn *c)
{
	struct fb_listener *l = c->l;
	size_t bt = 0;
	for (size_t k = 0; k < SP_MAX_HOPS && 4 * (k + 1) <= c->len; k++) {
		if ((c->buf[4 * k] & 0x80) != 0) {
			bt = 4 * (k + 1);
			break;
		}
	}
	if (bt == 0) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PROTOCOL);
		return;
	}
	memcpy(c->bt, c->buf, bt);
	c->bt_len = bt;
	c->rxmsg = (struct fb_msg){NULL, c->buf, bt, c->len - bt};
	c->buf = NULL;
	c->rx_state = RX_HELD;
	c->rx_started_ms = 0;
	c->n_requests++;
	c->reported = true;
	c->req = (struct fb_request){NULL, c, &c->rxmsg, c->id};
	c->ev = (struct event){
			FB_LISTENER_REQUEST, c->id, &c->req, NULL, false};
	push_event_locked(l, &c->ev);
}

static bool
sp_header_ok(const uint8_t h[8])
{
	return h[0] == 0 && h[1] == 'S' && h[2] == 'P' && h[3] == 0 &&
			h[4] == 0 && h[5] == SP_PROTO_REQ0 && h[6] == 0 &&
			h[7] == 0;
}

static void
conn_rx_cb(void *arg)
{
	struct conn *c = arg;
	struct fb_listener *l = c->l;
	int rv = nng_aio_result(c->rx);
	size_t n = rv == 0 ? nng_aio_count(c->rx) : 0;
	uint64_t now = fb_clock_ms();
	bool more = false;
	pthread_mutex_lock(&l->mu);
	c->rx_busy = false;
	if (rv != 0 || n == 0 || c->closing || atomic_load(&l->closing)) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PEER);
		pthread_mutex_unlock(&l->mu);
		return;
	}
	if (c->rx_started_ms == 0) {
		c->rx_started_ms = now; // a message (or the SP header) began
	}
	c->got += n;
	if (c->got < c->want) {
		rx_set_iov_locked(c);
		more = true;
	} else if (c->rx_state == RX_NEGO) {
		if (!sp_header_ok(c->head)) {
			conn_close_locked(c, FB_LISTENER_CLOSE_PROTOCOL);
		} else {
			c->rx_started_ms = 0;
			rx_start_head_locked(c);
			more = true;
		}
	} else if (c->rx_state == RX_HEAD) {
		more = rx_head_done_locked(c);
	} else {
		rx_body_done_locked(c);
	}
	pthread_mutex_unlock(&l->mu);
	if (more) {
		nng_stream_recv(c->s, c->rx);
	}
}

static void
conn_tx_cb(void *arg)
{
	struct conn *c = arg;
	struct fb_listener *l = c->l;
	int rv = nng_aio_result(c->tx);
	size_t n = rv == 0 ? nng_aio_count(c->tx) : 0;
	bool send = false, recv = false;
	struct fb_msg *sent = NULL;
	pthread_mutex_lock(&l->mu);
	c->tx_busy = false;
	if (rv != 0 || c->closing || atomic_load(&l->closing)) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PEER);
		pthread_mutex_unlock(&l->mu);
		return;
	}
	c->tx_off += n;
	size_t total = c->tx_state == TX_NEGO ? sizeof(c->sp_out) : c->tx_total;
	if (c->tx_off < total) {
		tx_set_iov_locked(c);
		send = true;
	} else if (c->tx_state == TX_NEGO) {
		c->tx_state = TX_IDLE;
		c->tx_off = 0;
		if (c->tx_msg != NULL) {
			// The owner answered before our SP header was out.
			tx_start_reply_locked(c);
			send = true;
		}
	} else {
		sent = c->tx_msg;
		c->tx_msg = NULL;
		c->tx_state = TX_IDLE;
		c->tx_started_ms = 0;
		if (c->close_after_send) {
			c->linger_ms = fb_clock_ms() + STRIKES_LINGER_MS;
		} else {
			rx_start_head_locked(c);
			recv = true;
		}
	}
	pthread_mutex_unlock(&l->mu);
	fb_msg_free(sent);
	if (send) {
		nng_stream_send(c->s, c->tx);
	}
	if (recv) {
		nng_stream_recv(c->s, c->rx);
	}
}

// The untrusted connection to close when a new one would exceed the cap:
// the oldest that has sent no complete message or has strikes, else the
// oldest. (c->next runs from newest to oldest.)
static struct conn *
cap_victim_locked(struct fb_listener *l)
{
	struct conn *idle = NULL, *any = NULL;
	for (struct conn *c = l->conns; c != NULL; c = c->next) {
		if (c->closing || c->trusted) {
			continue;
		}
		any = c;
		if (c->n_requests == 0 || c->strikes > 0) {
			idle = c;
		}
	}
	return idle != NULL ? idle : any;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL) {
		return;
	}
	if (c->rx != NULL) {
		nng_aio_free(c->rx); // waits for its callback
	}
	if (c->tx != NULL) {
		nng_aio_free(c->tx);
	}
	if (c->s != NULL) {
		nng_stream_free(c->s);
	}
	free(c->buf);
	free(c->rxmsg.copy);
	fb_msg_free(c->tx_msg);
	free(c);
}

static void
accept_cb(void *arg)
{
	struct endpoint *ep = arg;
	struct fb_listener *l = ep->l;
	int rv = nng_aio_result(ep->aio);
	if (atomic_load(&l->closing) || rv == NNG_ECLOSED ||
			rv == NNG_ECANCELED) {
		if (rv == 0) {
			nng_stream_free(nng_aio_get_output(ep->aio, 0));
		}
		return;
	}
	if (rv != 0) {
		// Out of files or memory: the janitor tries again at its
		// next tick. A peer that left before the accept: at once.
		if (rv == NNG_ECONNABORTED || rv == NNG_ECONNRESET) {
			nng_stream_listener_accept(ep->sl, ep->aio);
			return;
		}
		fb_log(FB_LOG_WARN, "accept failed: %s", nng_strerror(rv));
		pthread_mutex_lock(&l->mu);
		ep->paused = true;
		pthread_mutex_unlock(&l->mu);
		return;
	}
	nng_stream *s = nng_aio_get_output(ep->aio, 0);
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL || nng_aio_alloc(&c->rx, conn_rx_cb, c) != 0 ||
			nng_aio_alloc(&c->tx, conn_tx_cb, c) != 0) {
		nng_stream_free(s);
		conn_free(c);
		pthread_mutex_lock(&l->mu);
		l->st.accepted++;
		l->st.closed[FB_LISTENER_CLOSE_NOMEM]++;
		pthread_mutex_unlock(&l->mu);
		nng_stream_listener_accept(ep->sl, ep->aio);
		return;
	}
	c->l = l;
	c->s = s;
	c->ipc = ep->ipc;
	memcpy(c->sp_out, (const uint8_t[8]){0, 'S', 'P', 0, 0, SP_PROTO_REP0},
			8);
	c->trust_deadline_base_ms = fb_clock_ms();
	pthread_mutex_lock(&l->mu);
	if (l->preauth_max > 0 && l->st.untrusted >= l->preauth_max) {
		struct conn *v = cap_victim_locked(l);
		if (v != NULL) {
			conn_close_locked(v, FB_LISTENER_CLOSE_CAP);
		}
	}
	do {
		c->id = ++l->next_id; // 0 is no pipe
	} while (c->id == 0);
	c->next = l->conns;
	l->conns = c;
	l->st.accepted++;
	l->st.untrusted++;
	c->rx_state = RX_NEGO;
	c->want = sizeof(c->sp_out);
	c->got = 0;
	rx_set_iov_locked(c);
	c->tx_state = TX_NEGO;
	c->tx_off = 0;
	tx_set_iov_locked(c);
	pthread_mutex_unlock(&l->mu);
	nng_stream_send(s, c->tx);
	nng_stream_recv(s, c->rx);
	nng_stream_listener_accept(ep->sl, ep->aio);
}

// The deadlines of §1.8, for one connection at now.
static void
check_deadlines_locked(struct fb_listener *l, struct conn *c, uint64_t now)
{
	if (c->linger_ms != 0) {
		if (now >= c->linger_ms) {
			conn_close_locked(c, FB_LISTENER_CLOSE_STRIKES);
		}
		return;
	}
	uint32_t msg_ms = c->trusted ? l->message_timeout_ms
				     : l->preauth_message_ms;
	if (msg_ms > 0 && c->rx_started_ms != 0 &&
			now - c->rx_started_ms > msg_ms) {
		conn_close_locked(c, FB_LISTENER_CLOSE_STALLED);
	} else if (msg_ms > 0 && c->tx_started_ms != 0 &&
			now - c->tx_started_ms > msg_ms) {
		conn_close_locked(c, FB_LISTENER_CLOSE_STALLED);
	} else if (!c->trusted && l->preauth_timeout_ms > 0 &&
			now - c->trust_deadline_base_ms >
					l->preauth_timeout_ms) {
		conn_close_locked(c, FB_LISTENER_CLOSE_PREAUTH);
	}
}

// The timer thread: deadlines, closing streams, freeing closed
// connections, retrying accepts that failed. It alone closes and frees
// connections, so those it picks stay valid after it unlocks.
static void *
janitor_main(void *arg)
{
	struct fb_listener *l = arg;
	pthread_mutex_lock(&l->mu);
	while (!l->janitor_stop) {
		if (!l->janitor_work) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += JANITOR_TICK_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&l->jcv, &l->mu, &until);
			if (l->janitor_stop) {
				break;
			}
		}
		l->janitor_work = false;
		uint64_t now = fb_clock_ms();
		struct conn *to_close = NULL, *dead = NULL;
		for (struct conn **pp = &l->conns; *pp != NULL;) {
			struct conn *c = *pp;
			if (!c->closing) {
				check_deadlines_locked(l, c, now);
			}
			if (c->closed && !c->rx_busy && !c->tx_busy &&
					c->rx_state != RX_HELD) {
				*pp = c->next;
				c->next = dead;
				dead = c;
				continue;
			}
			if (c->closing && !c->closed) {
				c->closed = true;
				c->close_next = to_close;
				to_close = c;
			}
			pp = &c->next;
		}
		for (size_t k = 0; k < l->n_eps; k++) {
			l->eps[k].rearm = l->eps[k].paused;
			l->eps[k].paused = false;
		}
		pthread_mutex_unlock(&l->mu);
		for (struct conn *c = to_close; c != NULL; c = c->close_next) {
			nng_stream_close(c->s); // fails its operations
		}
		for (struct conn *c = dead, *next; c != NULL; c = next) {
			next = c->next;
			conn_free(c);
		}
		for (size_t k = 0; k < l->n_eps; k++) {
			if (l->eps[k].rearm) {
				nng_stream_listener_accept(
						l->eps[k].sl, l->eps[k].aio);
			}
		}
		pthread_mutex_lock(&l->mu);
		// Closed ones are freed at the next tick, once their
		// operations have failed.
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

const char *
fb_listener_close_name(enum fb_listener_close why)
{
	static const char *const names[FB_LISTENER_CLOSE_N] = {
			[FB_LISTENER_CLOSE_PEER] = "peer",
			[FB_LISTENER_CLOSE_PROTOCOL] = "protocol",
			[FB_LISTENER_CLOSE_TOO_LARGE] = "too-large",
			[FB_LISTENER_CLOSE_STALLED] = "stalled",
			[FB_LISTENER_CLOSE_PREAUTH] = "not-authenticated",
			[FB_LISTENER_CLOSE_CAP] = "over-the-cap",
			[FB_LISTENER_CLOSE_STRIKES] = "refusals",
			[FB_LISTENER_CLOSE_NOMEM] = "out-of-memory",
	};
	return (unsigned)why < FB_LISTENER_CLOSE_N ? names[why] : "unknown";
}

void
fb_listener_destroy(struct fb_listener *l)
{
	if (l == NULL) {
		return;
	}
	atomic_store(&l->closing, true);
	if (l->janitor_started) {
		pthread_mutex_lock(&l->mu);
		l->janitor_stop = true;
		pthread_cond_signal(&l->jcv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->janitor, NULL);
	}
	for (size_t k = 0; k < l->n_eps; k++) {
		nng_stream_listener_close(l->eps[k].sl);
		if (l->eps[k].aio != NULL) {
			nng_aio_stop(l->eps[k].aio); // waits for accept_cb
		}
	}
	// No connection is added now; none is freed but here.
	for (struct conn *c = l->conns; c != NULL; c = c->next) {
		nng_stream_close(c->s);
	}
	for (struct conn *c = l->conns; c != NULL; c = c->next) {
		nng_aio_stop(c->rx); // waits for its callback
		nng_aio_stop(c->tx);
	}
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
	// Events may live in slots and connections: drop them first.
	for (struct event *e = l->head, *next; e != NULL; e = next) {
		next = e->next;
		if (e->heap) {
			free(e);
		}
	}
	for (struct conn *c = l->conns, *next; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	for (size_t k = 0; k < l->n_eps; k++) {
		if (l->eps[k].aio != NULL) {
			nng_aio_free(l->eps[k].aio);
		}
		nng_stream_listener_free(l->eps[k].sl);
	}
	free(l->eps);
	free(l->slots);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->jcv);
	free(l);
}

// tcp-like (8-byte frame headers) or ipc-like (9), or neither.
static bool
stream_scheme(const char *url, bool *ipc)
{
	static const char *const tcp[] = {"tcp://", "tcp4://", "tcp6://"};
	static const char *const ipcs[] = {"ipc://", "abstract://"};
	for (size_t k = 0; k < sizeof(tcp) / sizeof(tcp[0]); k++) {
		if (strncmp(url, tcp[k], strlen(tcp[k])) == 0) {
			*ipc = false;
			return true;
		}
	}
	for (size_t k = 0; k < sizeof(ipcs) / sizeof(ipcs[0]); k++) {
		if (strncmp(url, ipcs[k], strlen(ipcs[k])) == 0) {
			*ipc = true;
			return true;
		}
	}
	return false;
}

static fb_err
stream_listen(struct fb_listener *l, const char *url)
{
	bool ipc = false;
	if (!stream_scheme(url, &ipc)) {
		return fb_errorf(FB_ENET,
				"cannot listen on %s: scheme not supported "
				"(tcp://, ipc://, abstract://, inproc://)",
				url);
	}
	struct endpoint *ep = &l->eps[l->n_eps];
	ep->l = l;
	ep->ipc = ipc;
	int rv = nng_stream_listener_alloc(&ep->sl, url);
	if (rv != 0) {
		return net_err(rv, "cannot listen on", url);
	}
	l->n_eps++;
	if (!ipc) {
		// As NNG's tcp transport: requests and replies are latency.
		(void)nng_stream_listener_set_bool(
				ep->sl, NNG_OPT_TCP_NODELAY, true);
	}
	rv = nng_stream_listener_listen(ep->sl);
	if (rv == 0) {
		rv = nng_aio_alloc(&ep->aio, accept_cb, ep);
	}
	return rv == 0 ? FB_OK : net_err(rv, "cannot listen on", url);
}

static void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
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
	cond_init_mono(&l->cv);
	cond_init_mono(&l->jcv);
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->closing, false);
	l->recv_max = cfg->recv_max;
	l->preauth_recv_max = cfg->preauth_recv_max;
	l->preauth_timeout_ms = cfg->preauth_timeout_ms;
	l->preauth_message_ms = cfg->preauth_message_ms;
	l->message_timeout_ms = cfg->message_timeout_ms;
	l->preauth_max = cfg->preauth_max;
	l->max_strikes = cfg->max_strikes;
	fb_err err = FB_OK;
	// Pipe ids come from NNG on inproc:// and from here on the others:
	// one listener does not mix them.
	size_t inproc = 0;
	for (size_t i = 0; i < cfg->n_urls; i++) {
		inproc += strncmp(cfg->urls[i], "inproc://", 9) == 0;
	}
	if (inproc > 0 && inproc < cfg->n_urls) {
		err = fb_errorf(FB_EINVAL,
				"listener: inproc:// cannot be mixed with "
				"other URLs");
		goto fail;
	}
	if (inproc > 0 && (err = sp_open(l, cfg)) != FB_OK) {
		goto fail;
	}
	l->eps = calloc(cfg->n_urls, sizeof(*l->eps));
	if (l->eps == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_urls; i++) {
		const char *url = cfg->urls[i];
		err = strncmp(url, "inproc://", 9) == 0
				? sp_listen(l, url, cfg->recv_max)
				: stream_listen(l, url);
		if (err != FB_OK) {
			goto fail;
		}
	}
	if (l->n_eps > 0) {
		if (pthread_create(&l->janitor, NULL, janitor_main, l) != 0) {
			err = fb_errorf(FB_ENOMEM, "listener: no timer thread");
			goto fail;
		}
		l->janitor_started = true;
	}
	for (uint32_t k = 0; k < l->n_slots; k++) {
		slot_recv(&l->slots[k]);
	}
	for (size_t k = 0; k < l->n_eps; k++) {
		nng_stream_listener_accept(l->eps[k].sl, l->eps[k].aio);
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
		ev->kind = e->kind;
		ev->pipe = e->pipe;
		ev->req = e->req;
	}
	pthread_mutex_unlock(&l->mu);
	if (e == NULL) {
		return FB_ETIMEOUT;
	}
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

// The owner is done with c's request: frees it; c reads nothing until
// the caller starts the next read or reply.
static void
conn_release_locked(struct conn *c)
{
	free(c->rxmsg.copy);
	c->rxmsg.copy = NULL;
	c->rx_state = RX_HEAD;
}

void
fb_request_drop(struct fb_request *req)
{
	struct conn *c = req->conn;
	if (c == NULL) {
		struct slot *s = req->slot;
		fb_msg_free(req->msg);
		req->msg = NULL;
		if (atomic_load(&s->l->closing)) {
			s->state = SLOT_IDLE;
			return;
		}
		slot_recv(s);
		return;
	}
	struct fb_listener *l = c->l;
	bool recv = false;
	pthread_mutex_lock(&l->mu);
	conn_release_locked(c);
	if (c->close_after_send) {
		conn_close_locked(c, FB_LISTENER_CLOSE_STRIKES);
	} else if (!c->closing && !atomic_load(&l->closing)) {
		rx_start_head_locked(c);
		recv = true;
	}
	pthread_mutex_unlock(&l->mu);
	if (recv) {
		nng_stream_recv(c->s, c->rx);
	}
}

fb_err
fb_request_reply_take(struct fb_request *req, struct fb_msg *reply)
{
	struct conn *c = req->conn;
	if (c == NULL) {
		struct slot *s = req->slot;
		fb_msg_free(req->msg);
		req->msg = NULL;
		nng_msg *m = unwrap_for_send(reply);
		if (m == NULL) {
			slot_recv(s);
			return fb_errorf(FB_ENOMEM,
					"reply not sent: out of memory");
		}
		s->state = SLOT_SEND;
		nng_aio_set_msg(s->aio, m);
		nng_ctx_send(s->ctx, s->aio);
		return FB_OK;
	}
	struct fb_listener *l = c->l;
	bool send = false;
	pthread_mutex_lock(&l->mu);
	conn_release_locked(c);
	if (c->closing || atomic_load(&l->closing)) {
		pthread_mutex_unlock(&l->mu);
		fb_msg_free(reply);
		return FB_OK;
	}
	c->tx_msg = reply;
	c->tx_started_ms = fb_clock_ms();
	if (c->tx_state == TX_IDLE) {
		tx_start_reply_locked(c);
		send = true;
	} // else our SP header is still going out: conn_tx_cb sends it
	pthread_mutex_unlock(&l->mu);
	if (send) {
		nng_stream_send(c->s, c->tx);
	}
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

bool
fb_request_strike(struct fb_request *req)
{
	struct conn *c = req->conn;
	if (c == NULL) {
		return false;
	}
	struct fb_listener *l = c->l;
	pthread_mutex_lock(&l->mu);
	c->strikes++;
	bool out = l->max_strikes > 0 && c->strikes >= l->max_strikes;
	c->close_after_send |= out;
	pthread_mutex_unlock(&l->mu);
	return out;
}

void
fb_listener_trust(struct fb_listener *l, uint32_t pipe, bool trusted)
{
	if (l->n_eps == 0) {
		return; // inproc://
	}
	pthread_mutex_lock(&l->mu);
	for (struct conn *c = l->conns; c != NULL; c = c->next) {
		if (c->id != pipe || c->closing) {
			continue;
		}
		if (trusted) {
			c->strikes = 0;
			if (!c->trusted) {
				c->trusted = true;
				l->st.untrusted--;
				l->st.trusted++;
			}
		} else if (c->trusted) {
			c->trusted = false;
			l->st.trusted--;
			l->st.untrusted++;
			c->trust_deadline_base_ms = fb_clock_ms();
		}
		break;
	}
	pthread_mutex_unlock(&l->mu);
}

void
fb_listener_stats(struct fb_listener *l, struct fb_listener_stats *st)
{
	pthread_mutex_lock(&l->mu);
	*st = l->st;
	pthread_mutex_unlock(&l->mu);
}

// ---- dialer ----

struct fb_dialer {
	nng_socket sock;
	bool sock_open;
	char url[512];
	const volatile sig_atomic_t *abort; // fb_dialer_set_abort(); NULL
};

void
fb_dialer_set_abort(struct fb_dialer *d, const volatile sig_atomic_t *flag)
{
	d->abort = flag;
}

// One send or receive of an abortable call: its aio's completion, waited
// for in slices of ABORT_POLL_MS so that the abort flag (set by a signal
// handler, which cannot wake a condition variable) is seen within one.
#define ABORT_POLL_MS 100

struct abortable {
	nng_mtx *mtx;
	nng_cv *cv;
	bool done;
};

static void
abortable_done(void *arg)
{
	struct abortable *a = arg;
	nng_mtx_lock(a->mtx);
	a->done = true;
	nng_cv_wake(a->cv);
	nng_mtx_unlock(a->mtx);
}

// Waits for aio's operation (started by the caller) to complete, cancelling
// it when d's abort flag is set. Returns its NNG result.
static int
abortable_wait(struct fb_dialer *d, struct abortable *a, nng_aio *aio)
{
	bool cancelled = false;
	nng_mtx_lock(a->mtx);
	while (!a->done) {
		if (!cancelled && *d->abort != 0) {
			cancelled = true;
			nng_mtx_unlock(a->mtx);
			nng_aio_cancel(aio); // completes it with NNG_ECANCELED
			nng_mtx_lock(a->mtx);
			continue;
		}
		nng_cv_until(a->cv, nng_clock() + ABORT_POLL_MS);
	}
	a->done = false;
	nng_mtx_unlock(a->mtx);
	return nng_aio_result(aio);
}

// fb_dialer_call_take() through aios, abortable by d->abort.
static fb_err
call_abortable(struct fb_dialer *d, nng_msg *m, nng_duration t,
		struct fb_msg **reply)
{
	struct abortable a = {0};
	nng_aio *aio = NULL;
	int rv = nng_mtx_alloc(&a.mtx);
	if (rv == 0) {
		rv = nng_cv_alloc(&a.cv, a.mtx);
	}
	if (rv == 0) {
		rv = nng_aio_alloc(&aio, abortable_done, &a);
	}
	if (rv != 0) {
		nng_msg_free(m);
		goto out;
	}
	nng_aio_set_timeout(aio, t);
	nng_aio_set_msg(aio, m);
	nng_send_aio(d->sock, aio);
	rv = abortable_wait(d, &a, aio);
	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); // a failed send leaves it
		goto out;
	}
	nng_aio_set_timeout(aio, t);
	nng_recv_aio(d->sock, aio);
	rv = abortable_wait(d, &a, aio);
	if (rv == 0) {
		uint32_t pipe;
		*reply = wrap_received(nng_aio_get_msg(aio), &pipe);
	}
out:
	nng_aio_free(aio);
	if (a.cv != NULL) {
		nng_cv_free(a.cv);
	}
	if (a.mtx != NULL) {
		nng_mtx_free(a.mtx);
	}
	if (rv == NNG_ECANCELED) {
		return fb_errorf(FB_ECLOSED, "%s: request abandoned: stopping",
				d->url);
	}
	if (rv != 0) {
		return net_err(rv, "no reply from", d->url);
	}
	return *reply != NULL ? FB_OK : FB_ENOMEM;
}

// NNG 1.5.2's nng_close() of a req0 socket can deadlock when the peer
// closes the pipe at the same moment (nanomsg/nng#1543, #1813, fixed in
// 1.8): a client told to stop after a refused handshake hung there for
// good. So the close runs on its own thread and the caller waits at most
// CLOSE_WAIT_MS; a close still stuck then is left behind (its socket
// leaks, the thread ends with the process) and logged, rather than
// blocking a shutdown or a redial.
#define CLOSE_WAIT_MS 500

struct closer {
	nng_socket sock;
	atomic_bool done;
};

// A close left behind makes nng_fini() wait for it forever too.
static atomic_bool close_left_behind;

static void *
close_thread(void *arg)
{
	struct closer *c = arg;
	nng_close(c->sock);
	atomic_store(&c->done, true);
	return NULL;
}

static void
close_bounded(nng_socket sock, const char *url)
{
	struct closer *c = malloc(sizeof(*c));
	pthread_t t;
	if (c == NULL) {
		nng_close(sock);
		return;
	}
	c->sock = sock;
	atomic_init(&c->done, false);
	if (pthread_create(&t, NULL, close_thread, c) != 0) {
		free(c);
		nng_close(sock);
		return;
	}
	uint64_t end = fb_clock_ms() + CLOSE_WAIT_MS;
	while (!atomic_load(&c->done) && fb_clock_ms() < end) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&c->done)) {
		pthread_join(t, NULL);
		free(c);
		return;
	}
	pthread_detach(t); // c stays with the stuck thread
	atomic_store(&close_left_behind, true);
	fb_log(FB_LOG_WARN,
			"%s: closing the socket did not finish within %d ms "
			"(NNG 1.5 close deadlock); left behind",
			url, CLOSE_WAIT_MS);
}

void
fb_dialer_destroy(struct fb_dialer *d)
{
	if (d == NULL) {
		return;
	}
	if (d->sock_open) {
		close_bounded(d->sock, d->url);
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
	if (d->abort != NULL) {
		nng_msg *am = unwrap_for_send(req);
		if (am == NULL) {
			return FB_ENOMEM;
		}
		*reply = NULL;
		return call_abortable(d, am, t, reply);
	}
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
	if (!atomic_load(&close_left_behind)) {
		nng_fini();
	}
}
