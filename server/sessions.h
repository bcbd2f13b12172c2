// server/sessions.h: the aggregator's table of established sessions
// (protocols/wire-v1.md §4), keyed by session id, each bound to the NNG
// pipe its AUTH came on (§1.6) and to a roster client. A client has at most
// one session: a new handshake replaces the old one. The table has a fixed
// capacity; when full, the least recently used session is evicted.
// Thread-safety: owned by the server's one owner thread.
#ifndef FB_SERVER_SESSIONS_H
#define FB_SERVER_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/util/err.h"

struct agg_session {
	struct fb_session *s; // NULL: free entry
	uint32_t pipe;        // the connection the AUTH came on
	uint32_t client;      // roster index
	uint64_t last_ms;     // last use, for eviction
};

struct agg_sessions {
	struct agg_session *v;
	size_t cap;
	// Called after an entry's session is destroyed by agg_sessions_remove
	// (replaced, evicted, ended, its pipe closed), with the entry's pipe;
	// NULL: nothing. The server untrusts a connection left without one.
	void (*removed)(void *ctx, uint32_t pipe);
	void *removed_ctx;
};

// Allocates room for cap sessions (no removed hook). FB_ENOMEM.
fb_err agg_sessions_init(struct agg_sessions *t, size_t cap);

// Destroys every session and frees the table; NULL-safe.
void agg_sessions_finish(struct agg_sessions *t);

// Adds a session (taken) for client on pipe, replacing the client's older
// session and evicting the least recently used one if the table is full.
// Returns the entry.
struct agg_session *agg_sessions_add(struct agg_sessions *t,
		struct fb_session *s, uint32_t pipe, uint32_t client,
		uint64_t now_ms);

// The entry whose session id is sid, or NULL.
struct agg_session *agg_sessions_find(
		struct agg_sessions *t, const uint8_t sid[FB_ENV_SID_LEN]);

// Destroys the entry's session, then calls the removed hook.
void agg_sessions_remove(struct agg_sessions *t, struct agg_session *e);

// Destroys the sessions of pipe; returns how many there were.
size_t agg_sessions_pipe_closed(struct agg_sessions *t, uint32_t pipe);

// True if client has a live session.
int agg_sessions_has_client(const struct agg_sessions *t, uint32_t client);

#endif
