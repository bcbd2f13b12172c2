// server/serve.h: answering one request (protocols/wire-v1.md §3-§6): the
// handshake through fb_hs_server, then sealed messages opened in place in
// the request buffer, dispatched to the round state machine (round.h), and
// the sealed reply built in place in the reply message. Every request gets
// exactly one reply (§1.2). A refused message changes no state; the log
// names every refusal with the message type, the peer (name or pipe), the
// round and the reason code. A connection is trusted by the transport
// while it holds a session (§1.8).
// Thread-safety: the server's one owner thread.
#ifndef FB_SERVER_SERVE_H
#define FB_SERVER_SERVE_H

#include <stdint.h>

#include "fedbundle/handshake.h"
#include "fedbundle/identity.h"
#include "fedbundle/transport.h"
#include "round.h"
#include "sessions.h"

struct agg_server {
	const struct fb_roster *roster;
	struct fb_hs_server *hs;
	struct agg_sessions sessions;
	struct agg_fed *fed;
	uint64_t refused;             // messages refused so far
	struct fb_listener *listener; // set by agg_serve_loop; NULL: none
};

// Answers req (consumed) received at now_ms.
void agg_serve_request(struct agg_server *srv, struct fb_request *req,
		uint64_t now_ms);

// Forgets the sessions of a closed connection.
void agg_serve_pipe_closed(struct agg_server *srv, uint32_t pipe);

// The aggregator's event loop once it is set up (fedbundle-server, or a
// simulation): advances the schedule, answers the requests of listener
// and forgets closed connections, until training is over and the
// connected clients got PLAN DONE, or until stop(ctx) (NULL: never)
// returns a reason, which abandons a collecting round and ends training.
void agg_serve_loop(struct agg_server *srv, struct fb_listener *listener,
		const char *(*stop)(void *ctx), void *ctx);

#endif
