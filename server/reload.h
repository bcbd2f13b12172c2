// server/reload.h: the roster reloaded while the aggregator runs (SIGHUP;
// docs/operations.md §1). A roster that does not load leaves the old one
// in force. A key that left the file is revoked at once: its sessions are
// dropped, its pending handshakes are refused at AUTH, it is never planned
// again, and a round it is in counts it as dropped (a secure round stops
// waiting for it). A new key is enrolled: it can handshake and joins the
// next round planned. With secure aggregation the party tables and the
// consortium id (the roster file's hash) change only when a key is
// enrolled (a revocation alone keeps them: the clients' copies still
// match), and only between secure rounds: while one runs, new keys wait
// (agg_reload_due) and no further round is planned (agg_fed.hold_plan)
// until agg_reload_roster, called again once it closed, enrolled them.
// Thread-safety: the server's one owner thread.
#ifndef FB_SERVER_RELOAD_H
#define FB_SERVER_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/util/err.h"
#include "serve.h"

// What a reload needs besides the server: the roster file and the
// aggregator's public key (for the consortium id).
struct agg_reload {
	const char *path;
	const uint8_t *agg_pk;
	struct fb_roster *roster; // the roster in force once reloaded; owned
	bool pending;             // new keys wait for a secure round's end
};

// Reads rl->path and applies it to srv at now_ms (see above), logging at
// warning the names added and revoked. FB_EFORMAT/FB_EIO (the file and
// line in the detail) or FB_EINVAL (it would leave fewer clients than the
// quorum) with nothing changed; the caller logs it.
fb_err agg_reload_roster(
		struct agg_reload *rl, struct agg_server *srv, uint64_t now_ms);

// True if a reload waits for the current secure round to end and can now
// be completed by calling agg_reload_roster again.
bool agg_reload_due(const struct agg_reload *rl, const struct agg_server *srv);

// Frees the roster the reloads made; NULL-safe.
void agg_reload_finish(struct agg_reload *rl);

#endif
