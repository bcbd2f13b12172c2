// common/util/log.c: the logging sink. Level filtering happens in the fb_log()
// macro so that a disabled level costs one load and one compare.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fedbundle/util/log.h"

static enum fb_log_level current = FB_LOG_INFO;
static const char *process_tag;

void
fb_log_set_level(enum fb_log_level level)
{
	current = level;
}

enum fb_log_level
fb_log_get_level(void)
{
	return current;
}

void
fb_log_set_tag(const char *tag)
{
	process_tag = tag;
}

bool
fb_log_parse_level(const char *name, enum fb_log_level *out)
{
	static const char *const names[] = {
			"silent", "error", "warn", "info", "debug"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum fb_log_level)i;
			return true;
		}
	}
	return false;
}

void
fb_log_write(enum fb_log_level level, const char *file, int line,
		const char *fmt, ...)
{
	static const char *const labels[] = {"", "E", "W", "I", "D"};
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	const char *base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s%s[%s:%d] %s\n", tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
			labels[level], process_tag != NULL ? process_tag : "",
			process_tag != NULL ? " " : "", base, line, msg);
}
