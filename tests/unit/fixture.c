// tests/unit/fixture.c: the data unit tests' temporary folder
// (fixture.h). Paths are handed out from small static rings so that a
// test can pass them straight to the code under test without freeing
// them; the rings are sized for the most any test holds at once.
#include "fixture.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/util/fsutil.h"

static char root[64];
static int dir_counter;

static void
bail(const char *what, const char *path)
{
	printf("Bail out! fixture: %s %s: %s\n", what, path, strerror(errno));
	exit(99);
}

void
fixture_init(const char *name)
{
	snprintf(root, sizeof(root), "/tmp/fb-test-%s-XXXXXX", name);
	if (mkdtemp(root) == NULL) {
		bail("cannot create", root);
	}
}

void
fixture_finish(void)
{
	fixture_remove_tree(root);
}

const char *
fixture_root(void)
{
	return root;
}

void
fixture_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
				strcmp(e->d_name, "..") == 0) {
			continue;
		}
		char *p = fb_path_join(dir, e->d_name);
		struct stat st;
		if (p != NULL && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			fixture_remove_tree(p);
		} else if (p != NULL) {
			unlink(p);
		}
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

const char *
fixture_dir(void)
{
	static char path[16][256];
	char *p = path[dir_counter % 16];
	snprintf(p, sizeof(path[0]), "%s/d%d", root, dir_counter++);
	if (mkdir(p, 0755) != 0) {
		bail("cannot create", p);
	}
	return p;
}

const char *
fixture_path(const char *dir, const char *name)
{
	static char path[16][320];
	static int slot;
	char *p = path[slot++ % 16];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

const char *
fixture_write(const char *dir, const char *name, const void *buf, size_t len)
{
	const char *p = fixture_path(dir, name);
	FILE *fp = fopen(p, "wb");
	if (fp == NULL) {
		bail("cannot open", p);
	}
	if (fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
		bail("cannot write", p);
	}
	return p;
}

const char *
fixture_put(const char *dir, const char *name, const char *text)
{
	return fixture_write(dir, name, text, strlen(text));
}
