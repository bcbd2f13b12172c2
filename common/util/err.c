// common/util/err.c: error strings and the thread-local error detail.
// The detail lets deep parsers say "file:line: problem" without threading a
// message buffer through every call; the fb_err code stays the contract.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/err.h"

static _Thread_local char detail[512];
static _Thread_local fb_err detail_err = FB_OK;

const char *
fb_strerror(fb_err err)
{
	switch (err) {
	case FB_OK:
		return "success";
	case FB_ENOMEM:
		return "out of memory";
	case FB_EINVAL:
		return "invalid argument";
	case FB_EIO:
		return "input/output error";
	case FB_EFORMAT:
		return "malformed file";
	case FB_EPROTO:
		return "protocol error";
	case FB_ECRYPTO:
		return "cryptographic failure";
	case FB_ENET:
		return "network error";
	case FB_EBUDGET:
		return "privacy budget exceeded";
	case FB_ESTATE:
		return "invalid state";
	case FB_ETIMEOUT:
		return "timed out";
	case FB_ECLOSED:
		return "closed";
	}
	return "unknown error";
}

fb_err
fb_errorf(fb_err err, const char *fmt, ...)
{
	// Formatted aside first: callers wrap the previous detail, e.g.
	// fb_errorf(e, "%s: %s", path, fb_last_error(e)), and vsnprintf
	// into the buffer it reads from is undefined (it gave "").
	char buf[sizeof(detail)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(detail, buf, sizeof(detail));
	detail_err = err;
	return err;
}

const char *
fb_last_error(fb_err err)
{
	if (detail_err == err && detail[0] != '\0') {
		return detail;
	}
	return fb_strerror(err);
}

void
fb_clear_error(void)
{
	detail[0] = '\0';
	detail_err = FB_OK;
}

void
fb_panic(const char *fmt, ...)
{
	va_list ap;
	fputs("fedbundle: internal error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
