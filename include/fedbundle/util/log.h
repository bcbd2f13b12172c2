// include/fedbundle/util/log.h: levelled logging to stderr.
// fb_log() tests the level before formatting anything (valkey), and adds
// [file:line] (sway); each line starts with the UTC date and time (ISO
// 8601), or is one JSON object with --log-format json. Never log keys, plaintext updates, ratings or user ids:
// log round ids, peer ids, sizes and error codes.
// Thread-safety: safe; each line is written with one stdio call.
#ifndef FB_INCLUDE_FEDBUNDLE_LOG_H
#define FB_INCLUDE_FEDBUNDLE_LOG_H

#include <stdbool.h>

enum fb_log_level {
	FB_LOG_SILENT = 0,
	FB_LOG_ERROR,
	FB_LOG_WARN,
	FB_LOG_INFO,
	FB_LOG_DEBUG,
};

// Sets the most verbose level that is printed (default FB_LOG_INFO).
void fb_log_set_level(enum fb_log_level level);

// The current level.
enum fb_log_level fb_log_get_level(void);

// Parses "silent", "error", "warn", "info" or "debug"; false if unknown.
bool fb_log_parse_level(const char *name, enum fb_log_level *out);

// Prefixes every line with tag (a process name such as "server"); the
// string must outlive all logging. NULL means no tag.
void fb_log_set_tag(const char *tag);

enum fb_log_format {
	FB_LOG_TEXT = 0, // "2026-12-07T14:40:08.106Z I server [f.c:12] msg"
	FB_LOG_JSON,     // one JSON object a line: time level program file
			 // line msg
};

// Chooses the line format (default FB_LOG_TEXT). Call before threads start.
void fb_log_set_format(enum fb_log_format f);

// Parses "text" or "json"; false if unknown.
bool fb_log_parse_format(const char *name, enum fb_log_format *out);

// A program's own stderr line that is printed whatever the level (its
// start-up banner, the error it exits with): "prefix: msg" in text format,
// a JSON line at level in json format, so that json stderr is all JSON.
#define fb_log_say(level, prefix, ...)                                         \
	fb_log_say_at((level), __FILE__, __LINE__, (prefix), __VA_ARGS__)

// Do not call directly: use fb_log_say().
void fb_log_say_at(enum fb_log_level level, const char *file, int line,
		const char *prefix, const char *fmt, ...)
		__attribute__((format(printf, 5, 6)));

// Do not call directly: use fb_log().
void fb_log_write(enum fb_log_level level, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define fb_log(level, ...)                                                     \
	do {                                                                   \
		if ((level) <= fb_log_get_level()) {                           \
			fb_log_write((level), __FILE__, __LINE__,              \
					__VA_ARGS__);                          \
		}                                                              \
	} while (0)

// Like fb_log() with ": strerror(errno)" appended.
#define fb_log_errno(level, fmt, ...)                                          \
	fb_log((level), fmt ": %s", __VA_ARGS__, strerror(errno))

#endif
