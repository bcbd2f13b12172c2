// common/util/log.c: the logging sink. Level filtering happens in the fb_log()
// macro so that a disabled level costs one load and one compare. A line is
// "2026-12-07T14:40:08.106Z I server [round.c:828] msg" (text) or one JSON
// object (json); either way it is built in a buffer and written with one
// fputs so that lines from different threads do not interleave.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fedbundle/util/log.h"

static enum fb_log_level current = FB_LOG_INFO;
static const char *process_tag;
static enum fb_log_format format = FB_LOG_TEXT;

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

void
fb_log_set_format(enum fb_log_format f)
{
	format = f;
}

bool
fb_log_parse_format(const char *name, enum fb_log_format *out)
{
	if (strcmp(name, "text") == 0) {
		*out = FB_LOG_TEXT;
		return true;
	}
	if (strcmp(name, "json") == 0) {
		*out = FB_LOG_JSON;
		return true;
	}
	return false;
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

// Appends s to buf[*at..cap) as a quoted JSON string, escaped the way
// fb_config_write_string does; truncates (keeping the closing quote) when
// the buffer is short.
static void
put_json_string(char *buf, size_t cap, size_t *at, const char *s)
{
	size_t n = *at;
	const size_t stop = cap - 8; // room for one escape, '"' and NUL
	buf[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)s;
			*p != '\0' && n < stop; p++) {
		static const char short_esc[] = "btn\0fr";
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p;
		} else if (*p >= '\b' && *p <= '\r' && *p != 0x0b) {
			buf[n++] = '\\';
			buf[n++] = short_esc[*p - '\b'];
		} else if (*p < 0x20) {
			n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", *p);
		} else {
			buf[n++] = (char)*p;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
	*at = n;
}

// "2026-12-07T14:40:08.106Z", UTC, into out (at least 32 bytes).
static void
format_time(char *out, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L));
}

static void write_line(enum fb_log_level level, const char *file, int line,
		const char *msg);

static void
write_json(enum fb_log_level level, const char *when, const char *base,
		int line, const char *msg)
{
	static const char *const names[] = {
			"silent", "error", "warn", "info", "debug"};
	char out[2560];
	size_t at = (size_t)snprintf(out, sizeof(out),
			"{\"time\": \"%s\", \"level\": \"%s\", \"program\": ",
			when, names[level]);
	put_json_string(out, sizeof(out), &at,
			process_tag != NULL ? process_tag : "");
	at += (size_t)snprintf(out + at, sizeof(out) - at, ", \"file\": ");
	put_json_string(out, sizeof(out), &at, base);
	at += (size_t)snprintf(out + at, sizeof(out) - at,
			", \"line\": %d, \"msg\": ", line);
	put_json_string(out, sizeof(out), &at, msg);
	snprintf(out + at, sizeof(out) - at, "}\n");
	fputs(out, stderr);
}

void
fb_log_write(enum fb_log_level level, const char *file, int line,
		const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(level, file, line, msg);
}

void
fb_log_say_at(enum fb_log_level level, const char *file, int line,
		const char *prefix, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (format == FB_LOG_JSON) {
		write_line(level, file, line, msg);
	} else {
		fprintf(stderr, "%s: %s\n", prefix, msg);
	}
}

static void
write_line(enum fb_log_level level, const char *file, int line, const char *msg)
{
	static const char *const labels[] = {"", "E", "W", "I", "D"};
	char when[48];
	format_time(when, sizeof(when));
	const char *base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	if (format == FB_LOG_JSON) {
		write_json(level, when, base, line, msg);
		return;
	}
	fprintf(stderr, "%s %s %s%s[%s:%d] %s\n", when, labels[level],
			process_tag != NULL ? process_tag : "",
			process_tag != NULL ? " " : "", base, line, msg);
}
