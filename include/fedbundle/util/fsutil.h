// include/fedbundle/util/fsutil.h: durable file writes. Every file fedbundle
// owns (datasets, models, checkpoints, ledgers, keys) is written to a
// temporary name in the same folder, fsync'd, renamed over the target and
// the folder fsync'd, so a crash leaves either the old or the new file,
// never a mix.
// Thread-safety: an fb_atomic_file belongs to one thread.
#ifndef FB_INCLUDE_FEDBUNDLE_FSUTIL_H
#define FB_INCLUDE_FEDBUNDLE_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "fedbundle/util/err.h"

struct fb_atomic_file {
	FILE *fp;       // write through this (buffered)
	char *path;     // final path
	char *tmp_path; // temporary path in the same folder
	bool failed;    // a write failed; commit will refuse
};

// Opens a temporary file beside path with permissions mode (e.g. 0644,
// 0600 for secrets). Errors: FB_EIO with the path in the detail.
fb_err fb_atomic_open(struct fb_atomic_file *f, const char *path, mode_t mode);

// Appends len bytes. On a short write marks the file failed and returns
// FB_EIO; the target is untouched.
fb_err fb_atomic_write(struct fb_atomic_file *f, const void *buf, size_t len);

// Flushes, fsyncs, renames over the target and fsyncs the folder. On any
// failure the temporary file is removed, the target is untouched and
// FB_EIO is returned. Always releases f.
fb_err fb_atomic_commit(struct fb_atomic_file *f);

// Removes the temporary file and releases f; the target is untouched.
// Safe on a released or never-opened (zeroed) f.
void fb_atomic_abort(struct fb_atomic_file *f);

// Writes a whole buffer atomically: open + write + commit.
fb_err fb_write_file_atomic(
		const char *path, const void *buf, size_t len, mode_t mode);

// Fsyncs the folder that holds path, so that a file just created or
// renamed there survives a crash. FB_EIO with the path in the detail.
fb_err fb_fsync_dir_of(const char *path);

// Reads a whole file into a malloc'd buffer (NUL-terminated for
// convenience; *len excludes the NUL). Refuses files over max_len bytes
// with FB_EFORMAT. The caller frees *out.
fb_err fb_read_file(const char *path, size_t max_len, char **out, size_t *len);

// Creates dir and missing parents with mode 0755 (mkdir -p).
fb_err fb_mkdir_p(const char *dir);

// Joins a folder and a file name into a malloc'd string, or NULL on OOM.
char *fb_path_join(const char *dir, const char *name);

#endif
