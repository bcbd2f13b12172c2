// common/util/fsutil.c: temp-file + fsync + rename + fsync(dir) writes, the one
// way fedbundle replaces a file. fault injection for tests: if the
// environment variable FB_FAULT_WRITE_AFTER is set to N, every atomic file
// fails with ENOSPC once N bytes have been written to it. Opening an atomic
// file removes PATH.tmp.PID files of writers that no longer run (a crash
// between the temporary file and the rename), so crashes leave no litter;
// writers of one path must share a PID namespace.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/fsutil.h"

char *
fb_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (p == NULL) {
		return NULL;
	}
	memcpy(p, dir, a);
	size_t k = a;
	if (a > 0 && dir[a - 1] != '/') {
		p[k++] = '/';
	}
	memcpy(p + k, name, b + 1);
	return p;
}

static long
fault_limit(void)
{
	const char *v = getenv("FB_FAULT_WRITE_AFTER");
	return v != NULL ? atol(v) : -1;
}

// Removes PATH.tmp.PID files left by writers that died between their
// temporary file and the rename (a crash): PID no longer exists. Best
// effort; a live writer's file (another process) is never touched.
static void
remove_stale_tmp(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL) {
		return;
	}
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	size_t blen = strlen(base);
	const char *dir = dirname(copy);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strncmp(n, base, blen) != 0 ||
				strncmp(n + blen, ".tmp.", 5) != 0) {
			continue;
		}
		char *end = NULL;
		long pid = strtol(n + blen + 5, &end, 10);
		if (end == n + blen + 5 || *end != '\0' || pid <= 0 ||
				pid == (long)getpid() ||
				kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			continue;
		}
		char *stale = fb_path_join(dir, n);
		if (stale != NULL) {
			unlink(stale);
			free(stale);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
	free(copy);
}

fb_err
fb_atomic_open(struct fb_atomic_file *f, const char *path, mode_t mode)
{
	remove_stale_tmp(path);
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	size_t n = strlen(path) + 32;
	f->tmp_path = malloc(n);
	if (f->path == NULL || f->tmp_path == NULL) {
		fb_atomic_abort(f);
		return FB_ENOMEM;
	}
	snprintf(f->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			mode);
	if (fd < 0) {
		fb_err err = fb_errorf(FB_EIO, "%s: cannot create: %s",
				f->tmp_path, strerror(errno));
		free(f->path);
		free(f->tmp_path);
		memset(f, 0, sizeof(*f));
		return err;
	}
	// open() applies the umask; the mode must hold exactly (keys: 0600).
	fchmod(fd, mode);
	f->fp = fdopen(fd, "wb");
	if (f->fp == NULL) {
		close(fd);
		fb_atomic_abort(f);
		return fb_errorf(FB_EIO, "%s: fdopen failed", path);
	}
	return FB_OK;
}

fb_err
fb_atomic_write(struct fb_atomic_file *f, const void *buf, size_t len)
{
	if (f->fp == NULL || f->failed) {
		return fb_errorf(FB_EIO, "%s: write after a failure",
				f->path != NULL ? f->path : "(closed file)");
	}
	long limit = fault_limit();
	if (limit >= 0 && ftell(f->fp) + (long)len > limit) {
		f->failed = true;
		return fb_errorf(FB_EIO, "%s: write failed: %s (injected)",
				f->path, strerror(ENOSPC));
	}
	if (len > 0 && fwrite(buf, 1, len, f->fp) != len) {
		f->failed = true;
		return fb_errorf(FB_EIO, "%s: write failed: %s", f->path,
				strerror(errno));
	}
	return FB_OK;
}

fb_err
fb_fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL) {
		return FB_ENOMEM;
	}
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fb_err err = FB_OK;
	if (fd < 0 || fsync(fd) != 0) {
		err = fb_errorf(FB_EIO, "%s: cannot sync its folder: %s", path,
				strerror(errno));
	}
	if (fd >= 0) {
		close(fd);
	}
	free(copy);
	return err;
}

fb_err
fb_atomic_commit(struct fb_atomic_file *f)
{
	fb_err err = FB_OK;
	if (f->fp == NULL || f->failed) {
		err = fb_errorf(FB_EIO, "%s: not written, a write failed",
				f->path != NULL ? f->path : "(closed file)");
		goto fail;
	}
	if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) {
		err = fb_errorf(FB_EIO, "%s: flush failed: %s", f->path,
				strerror(errno));
		goto fail;
	}
	FILE *fp = f->fp;
	f->fp = NULL;
	if (fclose(fp) != 0) {
		err = fb_errorf(FB_EIO, "%s: close failed: %s", f->path,
				strerror(errno));
		goto fail;
	}
	// Crash-safety tests: a kill between the temporary file and the
	// rename (crashpoint.h), e.g. FB_CRASH_AT=rename:checkpoint.fbc.
	char point[96];
	const char *base = strrchr(f->path, '/');
	snprintf(point, sizeof(point), "rename:%s",
			base != NULL ? base + 1 : f->path);
	fb_crashpoint(point);
	if (rename(f->tmp_path, f->path) != 0) {
		err = fb_errorf(FB_EIO, "%s: rename failed: %s", f->path,
				strerror(errno));
		goto fail;
	}
	err = fb_fsync_dir_of(f->path);
	free(f->path);
	free(f->tmp_path);
	memset(f, 0, sizeof(*f));
	return err;
fail:
	fb_atomic_abort(f);
	return err;
}

void
fb_atomic_abort(struct fb_atomic_file *f)
{
	if (f->fp != NULL) {
		fclose(f->fp);
	}
	if (f->tmp_path != NULL) {
		unlink(f->tmp_path);
	}
	free(f->path);
	free(f->tmp_path);
	memset(f, 0, sizeof(*f));
}

fb_err
fb_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, mode);
	if (err != FB_OK) {
		return err;
	}
	err = fb_atomic_write(&f, buf, len);
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		return err;
	}
	return fb_atomic_commit(&f);
}

fb_err
fb_read_file(const char *path, size_t max_len, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return fb_errorf(FB_EIO, "%s: cannot open: %s", path,
				strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fb_errorf(FB_EIO, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > max_len) {
		close(fd);
		return fb_errorf(FB_EFORMAT, "%s: %lld bytes, more than %zu",
				path, (long long)st.st_size, max_len);
	}
	size_t cap = (size_t)st.st_size;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return FB_ENOMEM;
	}
	size_t got = 0;
	while (got < cap) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			free(buf);
			close(fd);
			return fb_errorf(FB_EIO, "%s: read failed: %s", path,
					r < 0 ? strerror(errno)
					      : "file shrank");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return FB_OK;
}

fb_err
fb_mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (p == NULL) {
		return FB_ENOMEM;
	}
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST) {
				fb_err err = fb_errorf(FB_EIO,
						"%s: cannot create folder: %s",
						p, strerror(errno));
				free(p);
				return err;
			}
			*s = c;
			if (c == '\0') {
				break;
			}
		}
	}
	free(p);
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		return fb_errorf(FB_EIO, "%s: not a folder", dir);
	}
	return FB_OK;
}
