// tools/sharedfs.h: file primitives for an output folder that several
// processes, possibly on several hosts over a shared filesystem, write at
// once (`fedbundle sweep --point`): a replace whose temporary name is
// unique per host and process, a create-once through link(2), and a
// per-file exclusive lock through flock(2). fsutil.h's atomic writes name
// their temporary PATH.tmp.PID and remove those of PIDs that do not run
// here, which is right on one host only; these names never match that.
// Thread-safety: no shared state; each call stands alone.
#ifndef FB_TOOLS_SHAREDFS_H
#define FB_TOOLS_SHAREDFS_H

#include <stdbool.h>
#include <stddef.h>

#include "fedbundle/util/err.h"

// Replaces path with buf atomically: PATH.tmp.HOST.PID, fsync, rename,
// fsync of the folder. Concurrent writers each leave one whole version.
// FB_EIO naming the file on failure (path untouched, temporary removed).
fb_err sharedfs_replace(const char *path, const void *buf, size_t len);

// Creates path holding buf unless it exists, atomically (link(2) of a
// fully written temporary, which fails if path exists, also over NFS).
// *created is true if this call made it, false if path was there.
fb_err sharedfs_create_once(
		const char *path, const void *buf, size_t len, bool *created);

// Takes an exclusive flock(2) on path (created, mode 0644) without
// waiting. On success *fd is the open lock (held until it is closed or
// the process ends, even by SIGKILL), or -1 with *busy true if another
// open file holds it. FB_EIO naming the file if it cannot be opened or
// the filesystem refuses the lock.
fb_err sharedfs_trylock(const char *path, int *fd, bool *busy);

#endif
