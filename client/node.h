// client/node.h: the client's side of protocols/wire-v1.md §6.1:
// CONNECT -> HANDSHAKE -> POLL loop. It dials the aggregator (it never
// listens), authenticates with fb_hs_client against the pinned server key,
// and polls: WAIT sleeps retry_after_ms plus up to 20% jitter (at least
// 100 ms); TRAIN runs the local round (local.h) and sends UPDATE or REFUSE;
// DONE keeps the final model and ends. Any refusal, timeout or dropped
// connection discards the session and starts again after a backoff with
// jitter (100 ms doubling to 5 s). The state is written after every
// acknowledged round; the privacy ledger is written before an UPDATE
// exists. Logs round ids, sizes, epsilon and loss, never user data.
// Thread-safety: one thread.
#ifndef FB_CLIENT_NODE_H
#define FB_CLIENT_NODE_H

#include "fedbundle/dataset.h"
#include "fedbundle/err.h"
#include "fedbundle/identity.h"
#include "policy.h"
#include "state.h"

struct node {
	const struct node_policy *pol;
	struct fb_identity *id;
	struct fb_peer_key server;
	struct fb_dataset *ds;
	struct node_state st;
	char state_path[NODE_PATH_MAX + 32];
};

// Loads the identity, the pinned key, the dataset and the state, and
// checks the privacy ledger against the state's anchor (refusing a
// missing or altered ledger). FB_EIO/FB_EFORMAT/FB_EINVAL with a detail.
fb_err node_open(
		struct node *n, const struct node_policy *pol, bool need_state);

// Frees what node_open loaded; NULL-safe.
void node_close(struct node *n);

// Runs the POLL loop until PLAN DONE (0), a fatal refusal or giving up
// (non-zero exit status).
int node_run(struct node *n);

#endif
