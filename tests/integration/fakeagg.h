// tests/integration/fakeagg.h: what every fake aggregator of the
// integration tests (curious, sneaky, evilagg, refuser) shares: it loads
// the aggregator's identity and roster, listens, answers handshakes, binds
// one session to each enrolled client (by roster index, on the connection
// that made it, as protocols/wire-v1.md §4 asks), opens sealed requests,
// seals replies, holds a random model to put in plans and counts TAP
// checks. Each program keeps only its own behaviour: what it answers to a
// sealed request, and when it is done.
// Thread-safety: none; one fake aggregator per process, one thread.
#ifndef FB_TESTS_FAKEAGG_H
#define FB_TESTS_FAKEAGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"

// The most clients a fake aggregator serves.
#define FAKEAGG_MAX 8

struct fakeagg;

// What a program does with the requests the shared part does not handle.
struct fakeagg_ops {
	// A sealed request that opened in the session of roster index who;
	// body (blen bytes) lives in req. Must reply to or drop req.
	void (*on_sealed)(struct fakeagg *fa, struct fb_request *req, int who,
			const struct fb_wire_header *h, const uint8_t *body,
			size_t blen);
	// Optional: a plaintext request before the handshake sees it; true if
	// it replied to (or dropped) req itself.
	bool (*on_plain)(struct fakeagg *fa, struct fb_request *req);
	// Optional: true once the program has seen all it waits for.
	bool (*finished)(struct fakeagg *fa);
};

struct fakeagg {
	const char *name; // for messages: the program's name
	struct fb_identity *id;
	struct fb_roster *roster;
	size_t n_clients; // the roster's size, at most FAKEAGG_MAX
	struct fb_hs_server *hs;
	struct fb_listener *l;
	struct fb_session *s[FAKEAGG_MAX]; // by roster index; NULL: none
	uint32_t pipe[FAKEAGG_MAX];        // the connection of s[k]
	uint32_t handshakes;               // sessions established
	// The model put in plans (fakeagg_model), row-major, dim columns.
	float *V, *W;
	uint32_t n_items, n_bundles, dim;
	int n_checks, n_failed; // TAP
	void *arg;              // the program's own state, if it wants
};

// Loads the identity at key_path and the roster at roster_path, and
// listens on url with a receive limit of recv_max bytes. On failure prints
// why to stderr and returns false; fakeagg_finish cleans up either way.
bool fakeagg_init(struct fakeagg *fa, const char *name, const char *url,
		const char *key_path, const char *roster_path, size_t recv_max);

// Frees all fa holds (NULL fields are skipped) and shuts NNG down.
void fakeagg_finish(struct fakeagg *fa);

// Serves requests until ops->finished says so and linger_ms more have
// passed (replies in flight leave), or until timeout_ms from the call.
// True if finished, false on the timeout.
bool fakeagg_serve(struct fakeagg *fa, const struct fakeagg_ops *ops,
		uint64_t linger_ms, uint64_t timeout_ms);

// Ends the session of roster index who (after an ERROR, §5.1).
void fakeagg_end_session(struct fakeagg *fa, int who);

// Seals body (blen bytes) as type of round in who's session and replies
// to req with it; drops req if that fails.
void fakeagg_reply(struct fakeagg *fa, struct fb_request *req, int who,
		uint8_t type, uint32_t round, const uint8_t *body, size_t blen);

// Encodes p and replies with it as a sealed PLAN; drops req on failure.
void fakeagg_reply_plan(struct fakeagg *fa, struct fb_request *req, int who,
		uint32_t round, const struct fb_wire_plan *p);

// Replies with a sealed ACK accepted.
void fakeagg_reply_ack(struct fakeagg *fa, struct fb_request *req, int who,
		uint32_t round);

// Fills fa->V and fa->W (n_items, n_bundles rows of dim) with N(0, 0.1^2)
// values drawn from seed. False on OOM.
bool fakeagg_model(struct fakeagg *fa, uint32_t n_items, uint32_t n_bundles,
		uint32_t dim, uint64_t seed);

// A TRAIN plan with the wire defaults of the hyper-parameters, dim, a
// 60 s deadline, f32 updates and the model as its two tensors; the caller
// sets the round's privacy and training settings.
void fakeagg_train_plan(const struct fakeagg *fa, struct fb_wire_plan *p);

// Prints one TAP line for a check.
void fakeagg_check(struct fakeagg *fa, bool ok, const char *what);

// Prints the TAP plan; returns the exit status (0 if every check held).
int fakeagg_checks_end(const struct fakeagg *fa);

#endif
