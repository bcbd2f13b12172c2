// common/net/statuspage.c: see statuspage.h. The handler allocates the
// page per scrape (FB_STATUSPAGE_MAX bytes, freed before it returns), so
// that concurrent scrapes share nothing but the owner's format function.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "fedbundle/net/statuspage.h"

struct fb_statuspage {
	nng_http_server *http;
	fb_statuspage_format_fn *format;
	void *ctx;
};

void
fb_statuspage_put(struct fb_statuspage_text *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = p->pos < p->cap ? p->cap - p->pos : 0;
	int n = vsnprintf(room > 0 ? p->buf + p->pos : NULL, room, fmt, ap);
	va_end(ap);
	p->pos += n > 0 ? (size_t)n : 0;
}

void
fb_statuspage_head(struct fb_statuspage_text *p, const char *name,
		const char *type, const char *help)
{
	fb_statuspage_put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
			type);
}

void
fb_statuspage_one(struct fb_statuspage_text *p, const char *name,
		const char *type, const char *help, double v)
{
	fb_statuspage_head(p, name, type, help);
	fb_statuspage_put(p, "%s %.15g\n", name, v);
}

// The page into a fresh buffer: its length into *len, NULL when out of
// memory or too large.
static char *
render(const struct fb_statuspage *sp, size_t *len)
{
	char *buf = malloc(FB_STATUSPAGE_MAX);
	if (buf == NULL) {
		return NULL;
	}
	buf[0] = '\0';
	struct fb_statuspage_text p = {buf, FB_STATUSPAGE_MAX, 0};
	sp->format(sp->ctx, &p);
	if (p.pos >= FB_STATUSPAGE_MAX) {
		free(buf);
		return NULL;
	}
	*len = p.pos;
	return buf;
}

// GET /metrics (an NNG HTTP handler, on NNG's threads).
static void
on_metrics(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	const struct fb_statuspage *sp = nng_http_handler_get_data(h);
	nng_http_res *res = NULL;
	size_t len = 0;
	char *page = render(sp, &len);
	if (page == NULL || nng_http_res_alloc(&res) != 0 ||
			nng_http_res_set_header(res, "Content-Type",
					"text/plain; version=0.0.4; "
					"charset=utf-8") != 0 ||
			nng_http_res_copy_data(res, page, len) != 0) {
		nng_http_res_free(res);
		free(page);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	free(page);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static fb_err
serve(struct fb_statuspage *sp, const char *url, const char *key)
{
	nng_url *u = NULL;
	nng_http_handler *h = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv != 0 || strcmp(u->u_scheme, "http") != 0) {
		nng_url_free(u);
		return fb_errorf(FB_EINVAL,
				"%s '%s': not an http://host:port URL", key,
				url);
	}
	if ((rv = nng_http_server_hold(&sp->http, u)) == 0 &&
			(rv = nng_http_handler_alloc(
					 &h, "/metrics", on_metrics)) == 0 &&
			(rv = nng_http_handler_set_data(h, sp, NULL)) == 0) {
		rv = nng_http_server_add_handler(sp->http, h);
		if (rv != 0) {
			nng_http_handler_free(h);
		}
	}
	if (rv == 0) {
		rv = nng_http_server_start(sp->http);
	}
	nng_url_free(u);
	if (rv != 0) {
		return fb_errorf(FB_EIO, "%s '%s': %s", key, url,
				nng_strerror(rv));
	}
	return FB_OK;
}

fb_err
fb_statuspage_start(struct fb_statuspage **out, const char *url,
		const char *key, fb_statuspage_format_fn *format, void *ctx)
{
	struct fb_statuspage *sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		return FB_ENOMEM;
	}
	sp->format = format;
	sp->ctx = ctx;
	fb_err err = serve(sp, url, key);
	if (err != FB_OK) {
		fb_statuspage_stop(sp);
		return err;
	}
	*out = sp;
	return FB_OK;
}

void
fb_statuspage_stop(struct fb_statuspage *sp)
{
	if (sp == NULL) {
		return;
	}
	if (sp->http != NULL) {
		nng_http_server_stop(sp->http);
		nng_http_server_release(sp->http);
	}
	free(sp);
}
