// include/fedbundle/util/log.h: levelled logging to stderr.
// fb_log() tests the level before formatting anything (valkey), and adds
// [file:line] (sway). Never log keys, plaintext updates, ratings or user ids:
// log round ids, peer ids, sizes and error codes.
// Thread-safety: safe; each line is written with one fprintf.
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
