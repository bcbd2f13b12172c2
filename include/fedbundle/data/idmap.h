// include/fedbundle/data/idmap.h: original string ids <-> dense ids. A
// retailer's exports name customers, bundles and items by its own strings;
// every dataset relation uses dense 0-based ids. The map is saved beside a
// dataset as a .map file, one "dense_id<TAB>original_id" line per id in
// dense order (users.map, bundles.map, items.map, attrs.map). Original ids
// are non-empty and hold no control character (so no TAB, CR or LF).
// Thread-safety: a map belongs to one thread; a filled map may be read by
// any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_IDMAP_H
#define FB_INCLUDE_FEDBUNDLE_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

// Strings -> dense ids in order of interning. Zero-initialise it (setting
// what, the noun for messages: "user", "bundle", "item", "attr"); only n
// and what may be read.
struct fb_idmap {
	const char *what;
	uint32_t n; // ids interned: 0 .. n-1
	// Private.
	char *arena; // the strings, each NUL-terminated, back to back
	size_t arena_len, arena_cap;
	uint64_t *off; // per id: start in arena
	uint32_t *len; // per id: length
	uint32_t ids_cap;
	uint32_t *slot; // 0 = empty, else id + 1
	size_t n_slots; // power of two, > 2 n
};

// Frees the map's memory and zeroes it; NULL-safe and idempotent.
void fb_idmap_finish(struct fb_idmap *m);

// Stores in *id the dense id of s[0 .. n) and returns true, or false if
// the map does not hold it.
bool fb_idmap_find(const struct fb_idmap *m, const char *s, size_t n,
		uint32_t *id);

// The dense id of s[0 .. n) in *id, adding it as id m->n if new.
// FB_EFORMAT beyond UINT32_MAX - 1 ids, FB_ENOMEM.
fb_err fb_idmap_intern(
		struct fb_idmap *m, const char *s, size_t n, uint32_t *id);

// The original id of dense id (< m->n), NUL-terminated, owned by the map.
const char *fb_idmap_str(const struct fb_idmap *m, uint32_t id);

// Writes dir/file atomically in the .map format.
fb_err fb_idmap_save(
		const struct fb_idmap *m, const char *dir, const char *file);

// Reads path, a .map file, into an empty map: line k must be "k<TAB>id"
// with a unique, non-empty original id without control characters.
// FB_EFORMAT "<path>:<line>: <problem>", FB_EIO, FB_ENOMEM; on failure the
// map is left empty.
fb_err fb_idmap_load(struct fb_idmap *m, const char *path);

#endif
