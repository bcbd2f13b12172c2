// include/fedbundle/net/transport.h: the request/reply transport of
// protocols/wire-v1.md §1 over NNG, the only code that calls NNG.
// Listener (aggregator): serves rep0 requests on one or more URLs;
// received requests and connection closures are queued for ONE owner
// thread, which takes them with fb_listener_wait() and answers each with
// fb_request_reply_take(). No thread per client, no lock in the protocol
// code. On tcp:// and ipc:// the listener reads NNG's SP framing itself
// (nng_stream), so that it decides, per connection, how much of a message
// it buffers: a connection is untrusted until the owner says its peer
// authenticated (fb_listener_trust), and an untrusted one gets the small
// limits of §1.8 (message size, deadlines, a cap on their number, closing
// after repeated refusals). On inproc:// (one process, simulations) it is
// an NNG rep0 socket with N contexts, without those limits.
// Dialer (client): a req0 socket with NNG's automatic resending disabled
// (a resent sealed request is a replay, §1.5), send/recv with timeouts,
// and background reconnection.
// Both bound what a peer can make them allocate before reading (§1.4).
// NNG errors are translated once, here, into FB_ENET (timeouts into
// FB_ETIMEOUT) with nng_strerror() in the log and the error detail.
// Messages are struct fb_msg: a byte buffer whose data is 4-byte aligned,
// so sealed bodies at FB_ENV_BODY_OFF decode in place (wire.h).
// Thread-safety: a listener's owner functions (wait, reply, drop, trust,
// strike, stats) belong to one thread; a dialer belongs to one thread;
// messages to one thread at a time. Internally NNG's threads and the
// listener's own timer thread share one mutex with those functions.
#ifndef FB_INCLUDE_FEDBUNDLE_TRANSPORT_H
#define FB_INCLUDE_FEDBUNDLE_TRANSPORT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

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

// The id of the connection (NNG pipe) a received message came on, 0 if
// none (a message built locally).
uint32_t fb_msg_pipe(const struct fb_msg *msg);

// ---- listener (aggregator side) ----

struct fb_listener_config {
	const char *const *urls; // tcp://host:port, ipc:///path, inproc://name
	size_t n_urls;           // >= 1
	size_t recv_max;         // largest request accepted, bytes, > 0 (1)
	uint32_t n_contexts;     // inproc:// requests in flight at once; 0: 32
	// tcp:// and ipc:// connections (2); 0 turns a limit off.
	size_t preauth_recv_max;     // largest request of an untrusted one
	uint32_t preauth_timeout_ms; // an untrusted one is closed after this
	uint32_t preauth_message_ms; // a message it started must be in by then
	uint32_t message_timeout_ms; // the same for trusted ones, and replies
	uint32_t preauth_max;        // untrusted connections open at once
	uint32_t max_strikes;        // fb_request_strike() calls in a row
};

// (1) Messages of recv_max bytes always arrive; a connection that
// announces a longer one is closed before anything is allocated (on
// inproc://, NNG_OPT_RECVMAXSZ is set to recv_max plus 64 bytes of room
// for NNG's own protocol header, which NNG counts in the limit).
// (2) A connection is untrusted from its opening until the owner calls
// fb_listener_trust(.., true) for it, and again after (.., false). Its
// requests are limited to preauth_recv_max bytes (announcing more closes
// it, so it never makes the listener allocate more); it is closed
// preauth_timeout_ms after it opened or lost its trust; a message whose
// first byte came (the SP header counts as one) must be complete within
// preauth_message_ms (message_timeout_ms once trusted; the latter also
// bounds sending a reply); when preauth_max untrusted connections are
// open, a new one closes the oldest untrusted connection that has sent no
// complete message or has strikes, else the oldest one; max_strikes
// consecutive fb_request_strike() close it 200 ms after the reply is
// written (reading nothing more; NNG's req0 would lose a reply whose pipe
// closes at once). Every
// closure is counted by cause (fb_listener_stats).

struct fb_listener;

// Listens on every URL (tcp://, tcp4://, tcp6://, ipc://, abstract://,
// inproc://) and starts serving. FB_EINVAL for a bad config, FB_ENET
// (detail names the URL and NNG's error) if a URL cannot be listened on or
// has another scheme, FB_ENOMEM. The caller destroys it.
fb_err fb_listener_create(
		struct fb_listener **out, const struct fb_listener_config *cfg);

// Closes every connection (replies not yet written are lost: answer
// first), drops requests not yet answered and frees everything; NULL is a
// no-op.
void fb_listener_destroy(struct fb_listener *l);

// A received request waiting for its reply. Owned by the listener; valid
// until it is answered or dropped.
struct fb_request;

enum fb_listener_event_kind {
	FB_LISTENER_REQUEST = 1,     // req holds a request to answer
	FB_LISTENER_PIPE_CLOSED = 2, // connection pipe closed (one that
				     // delivered a request)
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

// Sends reply on the request's connection and releases the request. Takes
// reply and req in every case; a reply to a connection closed meanwhile
// is dropped. FB_ENOMEM (nothing was sent).
fb_err fb_request_reply_take(struct fb_request *req, struct fb_msg *reply);

// Like fb_request_reply_take() with a copy of len bytes of buf.
fb_err fb_request_reply_copy(
		struct fb_request *req, const void *buf, size_t len);

// Releases the request without answering it (the requester times out).
void fb_request_drop(struct fb_request *req);

// Counts a refusal against the request's connection (call before
// answering). Returns true if it was the max_strikes-th in a row: the
// connection is then closed 200 ms after the reply is written (at once if
// the request is dropped). fb_listener_trust()
// resets the count. Always false on inproc://.
bool fb_request_strike(struct fb_request *req);

// Marks connection pipe trusted (its peer authenticated: the larger
// limits) or untrusted again (the deadline to authenticate restarts). An
// unknown or closed pipe is ignored.
void fb_listener_trust(struct fb_listener *l, uint32_t pipe, bool trusted);

// Why the listener closed a connection.
enum fb_listener_close {
	FB_LISTENER_CLOSE_PEER = 0,  // the peer closed it, or an I/O error
	FB_LISTENER_CLOSE_PROTOCOL,  // not an SP req0 peer, or a bad frame
	FB_LISTENER_CLOSE_TOO_LARGE, // announced a message over its limit
	FB_LISTENER_CLOSE_STALLED,   // a started message or reply timed out
	FB_LISTENER_CLOSE_PREAUTH,   // not authenticated in time
	FB_LISTENER_CLOSE_CAP,       // too many untrusted connections
	FB_LISTENER_CLOSE_STRIKES,   // max_strikes refusals in a row
	FB_LISTENER_CLOSE_NOMEM,     // out of memory
	FB_LISTENER_CLOSE_N,
};

// A short name of why ("peer", "protocol", "too-large", "stalled",
// "not-authenticated", "over-the-cap", "refusals", "out-of-memory").
const char *fb_listener_close_name(enum fb_listener_close why);

struct fb_listener_stats {
	uint64_t accepted;                    // connections so far
	uint64_t closed[FB_LISTENER_CLOSE_N]; // closures so far, by cause
	uint32_t untrusted;                   // open now, untrusted
	uint32_t trusted;                     // open now, trusted
};

// The listener's counters (tcp:// and ipc:// connections only).
void fb_listener_stats(struct fb_listener *l, struct fb_listener_stats *st);

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

// Makes d's calls abortable: while one waits, *flag is read at least every
// 100 ms, and once it is non-zero the call is abandoned with FB_ECLOSED
// (a signal handler's stop flag: SIGTERM ends a client within a second
// whatever it waits for). NULL: calls wait for their timeout.
void fb_dialer_set_abort(
		struct fb_dialer *d, const volatile sig_atomic_t *flag);

// Sends req (taken in every case) and waits up to timeout_ms for its reply,
// stored in *reply (the caller frees it). FB_ETIMEOUT if no reply came in
// time (the request is abandoned: a later reply to it is discarded),
// FB_ENET for other NNG failures, FB_ENOMEM.
fb_err fb_dialer_call_take(struct fb_dialer *d, struct fb_msg *req,
		int timeout_ms, struct fb_msg **reply);

// Releases NNG's global resources at process exit (after every listener
// and dialer is destroyed); optional, for leak checkers. Skipped when a
// socket's close was left behind (fb_dialer_destroy()), which it would
// wait for forever.
void fb_transport_fini(void);

#endif
