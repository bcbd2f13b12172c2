// server/serve.h: answering one request (protocols/wire-v1.md §3-§6): the
// handshake through fb_hs_server, then sealed messages opened in place in
// the request buffer, dispatched to the round state machine (round.h), and
// the sealed reply built in place in the reply message. Every request gets
// exactly one reply (§1.2). A refused message changes no state. The log
// names a refusal with what was authenticated only: for a message that
// did not open, the connection (pipe; the client whose session it holds,
// if any) and the reason; for an opened one, also its type and round.
// Connections (§1.8): one is trusted by the transport while it holds a
// session; every refusal answered in plaintext is a strike against it.
// Refusal lines are rate-limited: AGG_LOG_LINES_* per interval
// (log_interval_ms), the rest counted, and an interval with refusals or
// closed connections ends with one summary line (agg_serve_tick).
// Thread-safety: the server's one owner thread.
#ifndef FB_SERVER_SERVE_H
#define FB_SERVER_SERVE_H

#include <stdint.h>

#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "round.h"
#include "sessions.h"

// Refusal lines written per log interval: of unauthenticated messages
// (named by pipe), and of a client's opened messages (named by client).
#define AGG_LOG_LINES_ANON 10
#define AGG_LOG_LINES_NAMED 20
#define AGG_LOG_REASONS 32 // reason codes counted one by one (§8)

struct agg_refusal_log {
	uint64_t start_ms; // of the current interval; 0: not started
	uint32_t lines_anon, lines_named;
	uint64_t refused, suppressed;
	uint64_t by_reason[AGG_LOG_REASONS]; // [0]: codes beyond the table
	struct fb_listener_stats st;         // at the interval's start
};

struct agg_server {
	const struct fb_roster *roster;
	struct fb_hs_server *hs;
	struct agg_sessions sessions;
	struct agg_fed *fed;
	uint64_t refused;             // messages refused so far
	struct fb_listener *listener; // set by agg_serve_loop; NULL: none
	// Called by agg_serve_loop at every turn, before the schedule
	// advances (a daemon's signals, its status snapshot); NULL: nothing.
	void (*turn)(void *ctx, uint64_t now_ms);
	void *turn_ctx;
	struct agg_refusal_log log;
};

// Answers req (consumed) received at now_ms.
void agg_serve_request(struct agg_server *srv, struct fb_request *req,
		uint64_t now_ms);

// Forgets the sessions of a closed connection.
void agg_serve_pipe_closed(struct agg_server *srv, uint32_t pipe);

// Ends the refusal log's interval once log_interval_ms passed (or if last,
// as the loop ends): writes the summary line (refusals by reason, lines
// suppressed, connections closed by cause, connections open) if there
// was anything to say.
void agg_serve_tick(struct agg_server *srv, uint64_t now_ms, bool last);

// The aggregator's event loop once it is set up (fedbundle-server, or a
// simulation): advances the schedule, answers the requests of listener
// and forgets closed connections, until training is over and the
// connected clients got PLAN DONE, or until stop(ctx) (NULL: never)
// returns a reason, which abandons a collecting round and ends training.
void agg_serve_loop(struct agg_server *srv, struct fb_listener *listener,
		const char *(*stop)(void *ctx), void *ctx);

#endif
