// client/reload.h: the client's copy of the consortium roster reloaded
// while it runs (SIGHUP; docs/operations.md "Enrolling a retailer"), as
// the aggregator reloads its own (server/reload.h): a new member enrolled
// at the aggregator is enrolled here by updating the file the policy's
// roster key names and sending SIGHUP, without a restart. node_run()
// reloads only between rounds (no secure round in progress), so a round's
// peers are checked against one roster from its plan to its end. A file
// that does not load, or whose consortium id cannot be computed, leaves
// the old roster and consortium id in force.
// Thread-safety: the client's one thread.
#ifndef FB_CLIENT_RELOAD_H
#define FB_CLIENT_RELOAD_H

#include "fedbundle/util/err.h"
#include "node.h"

// Reads n->pol->roster again and, if it loads, makes it n's roster and
// its hash n's consortium id (secagg-v1 §3.6), logging at warning the
// names added and removed. FB_EINVAL if the policy names no roster;
// FB_EFORMAT "file:line: ..." or FB_EIO with nothing changed (the caller
// logs it).
fb_err node_reload_roster(struct node *n);

#endif
