// include/fedbundle/transport.h: the request/reply transport of
// protocols/wire-v1.md §1 over NNG, the only code that calls NNG.
// Listener (aggregator): a rep0 socket on one or more URLs with N contexts,
// each waiting for a request through an aio callback; received requests and
// pipe closures are queued for ONE owner thread, which takes them with
// fb_listener_wait() and answers each request on its own context with
// fb_request_reply_take(). No thread per client, no lock in the protocol
// code. Dialer (client): a req0 socket with NNG's automatic resending
// disabled (a resent sealed request is a replay, §1.5), send/recv with
// timeouts, and background reconnection.
// Both set NNG_OPT_RECVMAXSZ before listening or dialing (§1.4). NNG errors
// are translated once, here, into FB_ENET (timeouts into FB_ETIMEOUT) with
// nng_strerror() in the log and the error detail.
// Messages are struct fb_msg: a byte buffer whose data is 4-byte aligned,
// so sealed bodies at FB_ENV_BODY_OFF decode in place (wire.h).
// Thread-safety: a listener's owner functions (wait, reply, drop) belong to
// one thread; a dialer belongs to one thread; messages to one thread at a
// time. Internally NNG's threads only touch the listener's queue.
#ifndef FB_INCLUDE_FEDBUNDLE_TRANSPORT_H
#define FB_INCLUDE_FEDBUNDLE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/err.h"

// ---- messages ----

struct fb_msg;

// On success stores a message of len bytes (contents unspecified) in *out;
// the caller owns it until it hands it to a *_take function. FB_ENOMEM.
fb_err fb_msg_alloc(struct fb_msg **out, size_t len);

// Frees the message; NULL is a no-op.
void fb_msg_free(struct fb_msg *msg);

// The message bytes (4-byte aligned) and their number.
uint8_t *fb_msg_data(struct fb_msg *msg);
size_t fb_msg_len(const struct fb_msg *msg);

// Shortens the message to len <= fb_msg_len() bytes. FB_EINVAL if longer.
fb_err fb_msg_truncate(struct fb_msg *msg, size_t len);

// The id of the connection (NNG pipe) a received message came on, 0 if
// none (a message built locally).
uint32_t fb_msg_pipe(const struct fb_msg *msg);

// ---- listener (aggregator side) ----

struct fb_listener_config {
	const char *const *urls; // tcp://host:port, ipc:///path, inproc://name
	size_t n_urls;           // >= 1
	size_t recv_max;         // largest request accepted, bytes, > 0 (1)
	uint32_t n_contexts;     // requests in flight at once; 0: 32
};

// (1) NNG_OPT_RECVMAXSZ is set to recv_max plus 64 bytes of room for
// NNG's own protocol header, which NNG counts in the limit: messages of
// recv_max bytes always arrive, longer ones may be dropped with the
// connection.

struct fb_listener;

// Opens the rep0 socket, listens on every URL and starts the contexts.
// FB_EINVAL for a bad config, FB_ENET (detail names the URL and NNG's
// error) if a URL cannot be listened on, FB_ENOMEM. The caller destroys it.
fb_err fb_listener_create(
		struct fb_listener **out, const struct fb_listener_config *cfg);

// Closes the socket (queued replies may be lost: answer first), drops
// requests not yet answered and frees everything; NULL is a no-op.
void fb_listener_destroy(struct fb_listener *l);

// A received request waiting for its reply. Owned by the listener; valid
// until it is answered or dropped.
struct fb_request;

enum fb_listener_event_kind {
	FB_LISTENER_REQUEST = 1,     // req holds a request to answer
	FB_LISTENER_PIPE_CLOSED = 2, // connection pipe closed
};

struct fb_listener_event {
	enum fb_listener_event_kind kind;
	uint32_t pipe;          // the connection concerned
	struct fb_request *req; // FB_LISTENER_REQUEST only
};

// Waits up to timeout_ms (0: do not wait) for the next event, in arrival
// order. FB_ETIMEOUT if none came. Owner thread only.
fb_err fb_listener_wait(struct fb_listener *l, int timeout_ms,
		struct fb_listener_event *ev);

// The request's bytes (4-byte aligned, writable: open sealed messages in
// place), its length and the pipe it came on.
uint8_t *fb_request_data(struct fb_request *req);
size_t fb_request_len(const struct fb_request *req);
uint32_t fb_request_pipe(const struct fb_request *req);

// Sends reply on the request's context and releases the request. Takes
// reply and req in every case. FB_ENOMEM (nothing was sent).
fb_err fb_request_reply_take(struct fb_request *req, struct fb_msg *reply);

// Like fb_request_reply_take() with a copy of len bytes of buf.
fb_err fb_request_reply_copy(
		struct fb_request *req, const void *buf, size_t len);

// Releases the request without answering it (the requester times out).
void fb_request_drop(struct fb_request *req);

// ---- dialer (client side) ----

struct fb_dialer_config {
	const char *url;           // the aggregator's URL
	size_t recv_max;           // largest reply accepted, bytes, > 0 (1)
	uint32_t reconnect_min_ms; // 0: 100
	uint32_t reconnect_max_ms; // 0: 2000
};

struct fb_dialer;

// Opens a req0 socket with resending disabled and dials url in the
// background (the aggregator need not be up yet). FB_EINVAL, FB_ENET,
// FB_ENOMEM. The caller destroys it.
fb_err fb_dialer_create(
		struct fb_dialer **out, const struct fb_dialer_config *cfg);

// Closes the socket; NULL is a no-op.
void fb_dialer_destroy(struct fb_dialer *d);

// Sends req (taken in every case) and waits up to timeout_ms for its reply,
// stored in *reply (the caller frees it). FB_ETIMEOUT if no reply came in
// time (the request is abandoned: a later reply to it is discarded),
// FB_ENET for other NNG failures, FB_ENOMEM.
fb_err fb_dialer_call_take(struct fb_dialer *d, struct fb_msg *req,
		int timeout_ms, struct fb_msg **reply);

// Releases NNG's global resources at process exit (after every listener
// and dialer is destroyed); optional, for leak checkers.
void fb_transport_fini(void);

#endif
