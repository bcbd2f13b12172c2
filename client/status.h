// client/status.h: the retailer's status page (policy key status_listen,
// docs/operations.md "Monitoring"): GET /metrics in the Prometheus text
// format (include/fedbundle/net/statuspage.h). Epsilon spent and left and
// the releases are accounted from the ledger at every scrape, by the
// policy's accountant at its delta, exactly as `fedbundle-client budget`
// does (never a cached figure); with them the last secure release's
// eps_assumed and eps_alone as the ledger recorded them, the last round
// completed, trained and refused (with the refusal's reason), and the
// uptime. Nothing about a user and no model value is on it
// (docs/privacy.md "What leaves a client").
// Thread-safety: node_status_round and node_status_refused run on the
// client's thread and copy into the snapshot under a mutex; the page is
// formatted on NNG's threads from that copy and a fresh read-only ledger
// handle. Start and stop on the client's thread; pol must outlive st.
#ifndef FB_CLIENT_STATUS_H
#define FB_CLIENT_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/util/err.h"
#include "policy.h"

struct node_status;

// Serves the page on pol->status_listen. FB_EINVAL for a bad URL, FB_EIO
// if it cannot listen (the detail names status_listen and the URL),
// FB_ENOMEM. start_unix_s: the process's start time (seconds since 1970);
// last_completed: the state's last completed round at start.
fb_err node_status_start(struct node_status **out,
		const struct node_policy *pol, double start_unix_s,
		uint32_t last_completed);

// Round was acknowledged: trained (an update was released) or refused.
// NULL-safe.
void node_status_round(struct node_status *st, uint32_t round, bool trained);

// This client refused round with reason (a wire-v1 §6 reason code).
// NULL-safe.
void node_status_refused(
		struct node_status *st, uint32_t round, uint16_t reason);

// Stops the page and frees st; NULL-safe.
void node_status_stop(struct node_status *st);

#endif
