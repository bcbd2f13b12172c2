// tools/sharedfs.c: see sharedfs.h. Every write goes to a temporary file
// whose name holds the host name and the PID, so two writers never share
// one, not even on two hosts with the same PID; the final name appears
// only by rename(2) (replace) or link(2) (create once), which a shared
// filesystem performs atomically.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fedbundle/util/fsutil.h"
#include "sharedfs.h"

// PATH.tmp.HOST.PID into buf (cap bytes); false if it does not fit.
static bool
tmp_name(char *buf, size_t cap, const char *path)
{
	char host[256] = "host";
	if (gethostname(host, sizeof(host)) != 0) {
		strcpy(host, "host");
	}
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c != '\0'; c++) {
		*c = *c == '/' ? '-' : *c;
	}
	int n = snprintf(buf, cap, "%s.tmp.%s.%ld", path, host, (long)getpid());
	return n > 0 && (size_t)n < cap;
}

// Writes buf into a new temporary file for path and fsyncs it.
static fb_err
write_tmp(char *tmp, size_t cap, const char *path, const void *buf, size_t len)
{
	if (!tmp_name(tmp, cap, path)) {
		return fb_errorf(FB_EINVAL, "%s: path too long", path);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		return fb_errorf(FB_EIO, "%s: cannot create: %s", tmp,
				strerror(errno));
	}
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	int saved = errno;
	bool ok = left == 0 && fsync(fd) == 0;
	saved = ok ? 0 : (errno != 0 ? errno : saved);
	if (close(fd) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		unlink(tmp);
		return fb_errorf(FB_EIO, "%s: write failed: %s", tmp,
				strerror(saved));
	}
	return FB_OK;
}

fb_err
sharedfs_replace(const char *path, const void *buf, size_t len)
{
	char tmp[4096];
	fb_err err = write_tmp(tmp, sizeof(tmp), path, buf, len);
	if (err != FB_OK) {
		return err;
	}
	if (rename(tmp, path) != 0) {
		err = fb_errorf(FB_EIO, "%s: rename failed: %s", path,
				strerror(errno));
		unlink(tmp);
		return err;
	}
	return fb_fsync_dir_of(path);
}

fb_err
sharedfs_create_once(
		const char *path, const void *buf, size_t len, bool *created)
{
	char tmp[4096];
	fb_err err = write_tmp(tmp, sizeof(tmp), path, buf, len);
	if (err != FB_OK) {
		return err;
	}
	int rc = link(tmp, path);
	int saved = errno;
	unlink(tmp);
	if (rc != 0 && saved != EEXIST) {
		return fb_errorf(FB_EIO,
				"%s: cannot create (link(2) failed: %s; the "
				"output folder needs hard links)",
				path, strerror(saved));
	}
	*created = rc == 0;
	return rc == 0 ? fb_fsync_dir_of(path) : FB_OK;
}

fb_err
sharedfs_trylock(const char *path, int *fd, bool *busy)
{
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f < 0) {
		return fb_errorf(FB_EIO, "%s: cannot open the lock: %s", path,
				strerror(errno));
	}
	while (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;
		if (saved == EINTR) {
			continue;
		}
		close(f);
		if (saved == EWOULDBLOCK) {
			*fd = -1;
			*busy = true;
			return FB_OK;
		}
		return fb_errorf(FB_EIO,
				"%s: flock(2) refused: %s (the output folder's "
				"filesystem must support flock)",
				path, strerror(saved));
	}
	*fd = f;
	*busy = false;
	return FB_OK;
}
