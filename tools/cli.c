// tools/cli.c: shared helpers of the `fedbundle` subcommands.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fedbundle %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'fedbundle %s --help')\n", cmd);
	return 2;
}

int
cli_fail(const char *cmd, fb_err err, const char *what)
{
	fprintf(stderr, "fedbundle %s: %s: %s\n", cmd, what,
			fb_last_error(err));
	return 1;
}

int
cli_arg_fail(const char *cmd, fb_err err, const char *what)
{
	int status = cli_fail(cmd, err, what);
	return err == FB_EINVAL ? 2 : status;
}

// True (and *out set) if all of s is a non-negative decimal integer that
// fits 64 bits; prints nothing.
static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	if (s == NULL || *s == '\0' || *s == '-') {
		return false;
	}
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		return false;
	}
	*out = v;
	return true;
}

bool
cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	if (!parse_u64(s, out)) {
		cli_usage_error(cmd, "%s: '%s' is not a non-negative integer",
				opt, s != NULL ? s : "");
		return false;
	}
	return true;
}

bool
cli_parse_user(const char *cmd, const char *s, uint32_t *out)
{
	uint64_t v = 0;
	bool ok = parse_u64(s, &v);
	if (!ok && errno != ERANGE) {
		// Most likely the retailer's own customer id.
		bool id = s != NULL && *s != '\0';
		cli_usage_error(cmd,
				"--user '%s': not a dense user number (0..N-1 "
				"for a model of N users)%s%s",
				id ? s : "",
				id ? "; for an original customer id use "
				     "--user-id "
				   : "",
				id ? s : "");
		return false;
	}
	if (!ok || v > UINT32_MAX) {
		cli_usage_error(cmd, "--user: %s is too large", s);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

bool
cli_parse_u32(const char *cmd, const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;
	if (!cli_parse_u64(cmd, opt, s, &v)) {
		return false;
	}
	if (v > UINT32_MAX) {
		cli_usage_error(cmd, "%s: %s is too large", opt, s);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

bool
cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
	char *end = NULL;
	errno = 0;
	double v = s != NULL ? strtod(s, &end) : 0;
	if (s == NULL || *s == '\0' || errno != 0 || *end != '\0' ||
			!isfinite(v)) {
		cli_usage_error(cmd, "%s: '%s' is not a finite number", opt,
				s != NULL ? s : "");
		return false;
	}
	*out = v;
	return true;
}

bool
cli_stderr_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}
