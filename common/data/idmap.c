// common/data/idmap.c: original string ids <-> dense ids (idmap.h), by
// open addressing over an arena of NUL-terminated strings. Dense ids are
// given in order of interning, so whoever interns the same strings in the
// same order gets the same numbering; the .map files keep it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/idmap.h"
#include "fedbundle/util/fsutil.h"

void
fb_idmap_finish(struct fb_idmap *m)
{
	free(m->arena);
	free(m->off);
	free(m->len);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

// FNV-1a with a final avalanche, so the low bits index slots well.
static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return h;
}

// The slot holding s, or the empty slot where it would go.
static size_t
probe(const struct fb_idmap *m, const char *s, size_t n)
{
	size_t mask = m->n_slots - 1;
	size_t i = (size_t)hash_bytes(s, n) & mask;
	while (m->slot[i] != 0) {
		uint32_t id = m->slot[i] - 1;
		if (m->len[id] == n &&
				memcmp(m->arena + m->off[id], s, n) == 0) {
			return i;
		}
		i = (i + 1) & mask;
	}
	return i;
}

bool
fb_idmap_find(const struct fb_idmap *m, const char *s, size_t n, uint32_t *id)
{
	if (m->n_slots == 0) {
		return false;
	}
	size_t i = probe(m, s, n);
	if (m->slot[i] == 0) {
		return false;
	}
	*id = m->slot[i] - 1;
	return true;
}

static fb_err
grow(struct fb_idmap *m)
{
	size_t n_slots = m->n_slots > 0 ? m->n_slots * 2 : 1024;
	uint32_t *slot = calloc(n_slots, sizeof(*slot));
	if (slot == NULL) {
		return FB_ENOMEM;
	}
	free(m->slot);
	m->slot = slot;
	m->n_slots = n_slots;
	for (uint32_t id = 0; id < m->n; id++) {
		size_t i = probe(m, m->arena + m->off[id], m->len[id]);
		m->slot[i] = id + 1;
	}
	return FB_OK;
}

fb_err
fb_idmap_intern(struct fb_idmap *m, const char *s, size_t n, uint32_t *id)
{
	if (fb_idmap_find(m, s, n, id)) {
		return FB_OK;
	}
	if (m->n >= UINT32_MAX - 1 || n > UINT32_MAX) {
		return fb_errorf(FB_EFORMAT, "more than %lu distinct %s ids",
				(unsigned long)(UINT32_MAX - 1), m->what);
	}
	if ((size_t)m->n * 2 + 2 > m->n_slots && grow(m) != FB_OK) {
		return FB_ENOMEM;
	}
	if (m->n == m->ids_cap) {
		uint32_t cap = m->ids_cap > 0 ? m->ids_cap : 1024;
		cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
		uint64_t *off = realloc(m->off, (size_t)cap * sizeof(*off));
		if (off == NULL) {
			return FB_ENOMEM;
		}
		m->off = off;
		uint32_t *len = realloc(m->len, (size_t)cap * sizeof(*len));
		if (len == NULL) {
			return FB_ENOMEM;
		}
		m->len = len;
		m->ids_cap = cap;
	}
	if (m->arena_len + n + 1 > m->arena_cap) {
		size_t cap = m->arena_cap > 0 ? m->arena_cap : 4096;
		while (cap < m->arena_len + n + 1) {
			cap *= 2;
		}
		char *a = realloc(m->arena, cap);
		if (a == NULL) {
			return FB_ENOMEM;
		}
		m->arena = a;
		m->arena_cap = cap;
	}
	memcpy(m->arena + m->arena_len, s, n);
	m->arena[m->arena_len + n] = '\0';
	m->off[m->n] = m->arena_len;
	m->len[m->n] = (uint32_t)n;
	m->arena_len += n + 1;
	m->slot[probe(m, s, n)] = m->n + 1;
	*id = m->n++;
	return FB_OK;
}

// Writes "dense_id\toriginal\n" lines atomically.
fb_err
fb_idmap_save(const struct fb_idmap *m, const char *dir, const char *file)
{
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, 0644);
	free(path);
	if (err != FB_OK) {
		return err;
	}
	for (uint32_t id = 0; id < m->n && err == FB_OK; id++) {
		char head[16];
		int hl = snprintf(head, sizeof(head), "%u\t", id);
		err = fb_atomic_write(&f, head, (size_t)hl);
		if (err == FB_OK) {
			err = fb_atomic_write(
					&f, m->arena + m->off[id], m->len[id]);
		}
		if (err == FB_OK) {
			err = fb_atomic_write(&f, "\n", 1);
		}
	}
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		return err;
	}
	return fb_atomic_commit(&f);
}

const char *
fb_idmap_str(const struct fb_idmap *m, uint32_t id)
{
	return m->arena + m->off[id];
}

// Parses the decimal dense id at s[0 .. n), which must equal want.
static bool
dense_is(const char *s, size_t n, uint32_t want)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", want);
	return n == (size_t)len && memcmp(s, buf, n) == 0;
}

fb_err
fb_idmap_load(struct fb_idmap *m, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, (size_t)1 << 34, &buf, &len);
	if (err != FB_OK) {
		return err;
	}
	size_t pos = 0, line = 0;
	while (pos < len && err == FB_OK) {
		line++;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;
		const char *tab = memchr(buf + pos, '\t', end - pos);
		if (tab == NULL) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: not \"dense_id<TAB>original_id\"",
					path, line);
			break;
		}
		size_t t = (size_t)(tab - buf);
		if (!dense_is(buf + pos, t - pos, m->n)) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: dense id '%.*s', expected %u (ids are listed in order from 0)",
					path, line,
					(int)(t - pos > 20 ? 20 : t - pos),
					buf + pos, m->n);
			break;
		}
		const char *s = buf + t + 1;
		size_t n = end - t - 1;
		for (size_t i = 0; i < n && err == FB_OK; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f) {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: the original id holds a control character (byte 0x%02x)",
						path, line, c);
			}
		}
		uint32_t id;
		if (err == FB_OK && n == 0) {
			err = fb_errorf(FB_EFORMAT, "%s:%zu: empty original id",
					path, line);
		}
		if (err == FB_OK && fb_idmap_find(m, s, n, &id)) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: original id '%.*s' is also dense id %u",
					path, line, (int)(n > 80 ? 80 : n), s,
					id);
		}
		if (err == FB_OK) {
			err = fb_idmap_intern(m, s, n, &id);
		}
		pos = end + 1;
	}
	free(buf);
	if (err != FB_OK) {
		fb_idmap_finish(m);
	}
	return err;
}
