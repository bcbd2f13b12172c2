// server/status.h: the aggregator's status page (config status_listen,
// docs/operations.md "Monitoring"): GET /metrics answers the Prometheus
// text exposition format (0.0.4) from a snapshot of counts: rounds,
// their stage, clients enrolled and connected, traffic, the last round's
// time and global metrics, the aggregator's own epsilon under client-level
// DP. Nothing about a user, and no per-retailer value, is exposed. The
// page is served by include/fedbundle/net/statuspage.h on NNG's threads.
// Thread-safety: agg_status_publish and agg_status_observe run on the
// server's owner thread and copy the snapshot under a mutex; the HTTP
// handler formats its copy under the same mutex. Create and destroy on
// the owner thread, destroy after the HTTP server stopped answering.
#ifndef FB_SERVER_STATUS_H
#define FB_SERVER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"
#include "round.h"
#include "serve.h"

struct agg_status;

// Serves GET /metrics on url (http://host:port). FB_EINVAL for a bad URL,
// FB_EIO if it cannot listen (the detail names the URL and the reason),
// FB_ENOMEM. start_unix_s: the process's start time, seconds since 1970.
fb_err agg_status_start(
		struct agg_status **out, const char *url, double start_unix_s);

// Publishes what fed and srv say now (called at every turn of the loop).
void agg_status_publish(struct agg_status *st, const struct agg_fed *fed,
		const struct agg_server *srv);

// For struct agg_fed.observer: counts closed rounds by reason and keeps
// the last one's time and the aggregator's epsilon (ctx: the status).
void agg_status_observe(
		void *ctx, const struct agg_fed *fed, enum agg_event event);

// The page of the current snapshot into buf (cap bytes, NUL-terminated);
// returns its length, or cap or more if it did not fit.
size_t agg_status_format(struct agg_status *st, char *buf, size_t cap);

// Stops the HTTP server and frees st; NULL-safe.
void agg_status_stop(struct agg_status *st);

#endif
