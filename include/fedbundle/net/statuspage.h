// include/fedbundle/net/statuspage.h: a daemon's status page, shared by
// the aggregator (server/status.h) and the retailer's node
// (client/status.h): GET (or HEAD) /metrics on http://host:port answers
// the Prometheus text exposition format (0.0.4), any other path 404.
// NNG's HTTP server (nng/supplemental/http) answers on its own threads
// and calls the owner's format function there for every scrape; what that
// function reads is the owner's business (a snapshot under its lock).
// Thread-safety: start and stop on one thread; format runs on NNG's
// threads until fb_statuspage_stop returned.
#ifndef FB_NET_STATUSPAGE_H
#define FB_NET_STATUSPAGE_H

#include <stddef.h>

#include "fedbundle/util/err.h"

// The page's size limit.
#define FB_STATUSPAGE_MAX (32 << 10)

// A page being written into buf (cap bytes, kept NUL-terminated); pos
// runs past cap when it does not fit (the scrape then fails).
struct fb_statuspage_text {
	char *buf;
	size_t cap, pos;
};

// Appends printf-style text to p.
void fb_statuspage_put(struct fb_statuspage_text *p, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

// Appends the HELP and TYPE lines of metric name (type "gauge" or
// "counter").
void fb_statuspage_head(struct fb_statuspage_text *p, const char *name,
		const char *type, const char *help);

// Appends a metric of one unlabelled sample: its HELP, TYPE and value.
void fb_statuspage_one(struct fb_statuspage_text *p, const char *name,
		const char *type, const char *help, double v);

// Writes the whole page into p; called on an NNG thread per scrape.
typedef void fb_statuspage_format_fn(void *ctx, struct fb_statuspage_text *p);

struct fb_statuspage;

// Serves GET /metrics on url (http://host:port) with format(ctx, ...).
// key names the setting url came from in errors ("status_listen").
// FB_EINVAL for a URL that is not http://, FB_EIO if it cannot listen
// (the detail names key, the URL and NNG's reason), FB_ENOMEM. The caller
// stops *out.
fb_err fb_statuspage_start(struct fb_statuspage **out, const char *url,
		const char *key, fb_statuspage_format_fn *format, void *ctx);

// Stops answering (no format call runs after it returns) and frees sp;
// NULL-safe.
void fb_statuspage_stop(struct fb_statuspage *sp);

#endif
