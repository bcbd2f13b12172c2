// server/catver.c: see catver.h. The stored copy of a catalogue's maps is
// written into catalog-<digest>.tmp and renamed, so the folder named by a
// digest is complete whenever it exists; it is small (the original ids
// only, no relation and no customer).
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catver.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"

static const char *const map_files[AGG_CV_KINDS] = {
		"items.map", "bundles.map", "attrs.map"};
static const char *const kind_names[AGG_CV_KINDS] = {
		"items", "bundles", "attrs"};
static const char *const stored_files[] = {
		"items.map", "bundles.map", "attrs.map", FB_CATDIR_MANIFEST};

fb_err
agg_catver_rows_map(struct agg_catver_rows *r, const struct fb_idmap *old,
		const struct fb_idmap *cur)
{
	uint32_t *from = calloc(cur->n > 0 ? cur->n : 1, sizeof(*from));
	if (from == NULL) {
		return FB_ENOMEM;
	}
	uint32_t kept = 0;
	for (uint32_t k = 0; k < cur->n; k++) {
		const char *s = fb_idmap_str(cur, k);
		uint32_t o = 0;
		from[k] = fb_idmap_find(old, s, strlen(s), &o) ? o
							       : AGG_CATVER_NEW;
		kept += from[k] != AGG_CATVER_NEW;
	}
	free(r->from);
	*r = (struct agg_catver_rows){.n_old = old->n,
			.n_new = cur->n,
			.kept = kept,
			.added = cur->n - kept,
			.retired = old->n - kept,
			.from = from};
	return FB_OK;
}

void
agg_catver_copy_rows(struct fb_matrix *dst, const struct fb_matrix *src,
		const struct agg_catver_rows *r)
{
	for (uint32_t k = 0; k < r->n_new && k < dst->rows; k++) {
		uint32_t o = r->from[k];
		if (o != AGG_CATVER_NEW && o < src->rows) {
			memcpy(fb_matrix_row(dst, k), fb_matrix_row(src, o),
					dst->cols * sizeof(float));
		}
	}
}

// ckpt_dir/catalog-<hex>[suffix] into a malloc'd string.
static char *
stored_dir(const char *ckpt_dir, const uint8_t digest[FB_HASH_LEN],
		const char *suffix)
{
	char hex[FB_CATDIR_HEX_LEN + 1], name[FB_CATDIR_HEX_LEN + 32];
	fb_hash_hex(digest, hex);
	snprintf(name, sizeof(name), "catalog-%s%s", hex, suffix);
	return fb_path_join(ckpt_dir, name);
}

static bool
file_exists(const char *dir, const char *file)
{
	char *p = fb_path_join(dir, file);
	bool ok = p != NULL && access(p, F_OK) == 0;
	free(p);
	return ok;
}

// Copies dir/file to to/file atomically if it exists.
static fb_err
copy_file(const char *dir, const char *to, const char *file)
{
	if (!file_exists(dir, file)) {
		return FB_OK;
	}
	char *from = fb_path_join(dir, file), *dst = fb_path_join(to, file);
	char *buf = NULL;
	size_t len = 0;
	fb_err err = from == NULL || dst == NULL
			? FB_ENOMEM
			: fb_read_file(from, (size_t)1 << 34, &buf, &len);
	if (err == FB_OK) {
		err = fb_write_file_atomic(dst, buf, len, 0644);
	}
	free(buf);
	free(from);
	free(dst);
	return err;
}

fb_err
agg_catver_store(const char *ckpt_dir, const char *cat_dir,
		const uint8_t digest[FB_HASH_LEN])
{
	if (cat_dir[0] == '\0' || !file_exists(cat_dir, "items.map") ||
			!file_exists(cat_dir, "bundles.map")) {
		return FB_OK; // no original ids: nothing to remap by
	}
	char *dir = stored_dir(ckpt_dir, digest, "");
	char *tmp = stored_dir(ckpt_dir, digest, ".tmp");
	fb_err err = dir == NULL || tmp == NULL ? FB_ENOMEM : FB_OK;
	if (err == FB_OK && access(dir, F_OK) == 0) {
		goto done;
	}
	if (err == FB_OK) {
		err = fb_mkdir_p(tmp);
	}
	size_t n = sizeof(stored_files) / sizeof(stored_files[0]);
	for (size_t i = 0; i < n && err == FB_OK; i++) {
		err = copy_file(cat_dir, tmp, stored_files[i]);
	}
	if (err == FB_OK && rename(tmp, dir) != 0) {
		err = fb_errorf(FB_EIO, "rename %s to %s: %s", tmp, dir,
				strerror(errno));
	}
	if (err == FB_OK) {
		err = fb_fsync_dir_of(dir);
	}
done:
	free(dir);
	free(tmp);
	return err;
}

// The refusal when a version has no original ids to match rows by.
static fb_err
no_ids(const struct agg_catver *cv, const char *ckpt_dir, bool old_missing)
{
	char a[FB_CATDIR_HEX_LEN + 1], b[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(cv->old_digest, a);
	fb_hash_hex(cv->new_digest, b);
	return fb_errorf(FB_EINVAL,
			"the checkpoint in %.100s is of catalogue %s, the "
			"configured one is %s and %s has no original ids "
			"(items.map, bundles.map): rows cannot be matched; "
			"configure the checkpoint's catalogue, build both "
			"with `fedbundle catalog build`, or empty "
			"checkpoint_dir for a new federation",
			ckpt_dir, a, b,
			old_missing ? "the checkpoint's"
				    : "the configured one");
}

// Loads dir/file into m if want > 0 (m left empty otherwise); its count
// must be want.
static fb_err
load_map(struct fb_idmap *m, const char *dir, const char *file, uint32_t want)
{
	if (want == 0) {
		return FB_OK;
	}
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_idmap_load(m, path);
	if (err == FB_OK && m->n != want) {
		err = fb_errorf(FB_EFORMAT,
				"%s: %u ids, the model has %u rows of them",
				path, m->n, want);
	}
	free(path);
	return err;
}

fb_err
agg_catver_plan(struct agg_catver *cv, const char *ckpt_dir,
		const uint8_t old[FB_HASH_LEN],
		const uint32_t old_n[AGG_CV_KINDS], const char *cat_dir,
		const uint32_t new_n[AGG_CV_KINDS])
{
	memcpy(cv->old_digest, old, FB_HASH_LEN);
	cv->changed = true;
	char *dir = stored_dir(ckpt_dir, old, "");
	if (dir == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	if (cat_dir[0] == '\0' || !file_exists(cat_dir, "items.map") ||
			!file_exists(cat_dir, "bundles.map")) {
		err = no_ids(cv, ckpt_dir, false);
	} else if (!file_exists(dir, "items.map") ||
			!file_exists(dir, "bundles.map")) {
		err = no_ids(cv, ckpt_dir, true);
	}
	for (int k = 0; k < AGG_CV_KINDS && err == FB_OK; k++) {
		struct fb_idmap mo = {.what = kind_names[k]};
		struct fb_idmap mn = {.what = kind_names[k]};
		err = load_map(&mo, dir, map_files[k], old_n[k]);
		if (err == FB_OK) {
			err = load_map(&mn, cat_dir, map_files[k], new_n[k]);
		}
		if (err == FB_OK) {
			err = agg_catver_rows_map(&cv->rows[k], &mo, &mn);
		}
		fb_idmap_finish(&mo);
		fb_idmap_finish(&mn);
	}
	free(dir);
	return err;
}

// Removes dir's files, then dir.
static void
remove_tree(const char *dir)
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
		if (p != NULL && unlink(p) != 0) {
			fb_log(FB_LOG_WARN, "cannot remove %s: %s", p,
					strerror(errno));
		}
		free(p);
	}
	closedir(d);
	if (rmdir(dir) != 0) {
		fb_log(FB_LOG_WARN, "cannot remove %s: %s", dir,
				strerror(errno));
	}
}

void
agg_catver_prune(const char *ckpt_dir, const uint8_t keep[FB_HASH_LEN])
{
	char hex[FB_CATDIR_HEX_LEN + 1], name[FB_CATDIR_HEX_LEN + 16];
	fb_hash_hex(keep, hex);
	snprintf(name, sizeof(name), "catalog-%s", hex);
	DIR *d = opendir(ckpt_dir);
	if (d == NULL) {
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "catalog-", 8) != 0 ||
				strcmp(e->d_name, name) == 0) {
			continue;
		}
		char *p = fb_path_join(ckpt_dir, e->d_name);
		if (p != NULL) {
			remove_tree(p);
		}
		free(p);
	}
	closedir(d);
}

void
agg_catver_describe(const struct agg_catver *cv, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int k = 0; k < AGG_CV_KINDS && len < cap; k++) {
		const struct agg_catver_rows *r = &cv->rows[k];
		int n = snprintf(buf + len, cap - len,
				"%s%s: %u kept, %u new, %u retired",
				k > 0 ? "; " : "", kind_names[k], r->kept,
				r->added, r->retired);
		if (n < 0) {
			return;
		}
		len += (size_t)n;
	}
}

void
agg_catver_finish(struct agg_catver *cv)
{
	for (int k = 0; k < AGG_CV_KINDS; k++) {
		free(cv->rows[k].from);
		cv->rows[k] = (struct agg_catver_rows){0};
	}
	cv->changed = false;
}
