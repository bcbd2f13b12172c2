// server/catver.h: a new catalogue version adopted at a round boundary
// (docs/operations.md, "Rolling out a new catalogue version"). The
// checkpoint records the catalogue its rows are numbered by: the digest
// in its metadata and, beside it, copies of that catalogue's id maps in
// checkpoint_dir/catalog-<digest>/, written and renamed into place before
// any checkpoint names the digest (so a checkpoint never names maps that
// are not on disk). An aggregator started with a catalogue of another
// digest maps its model's rows by original id: a row whose id is in both
// versions keeps its learned values, a new one keeps the public
// initialisation of a fresh model, a retired one is dropped; the FedAdam
// moments follow the rows (0 for new rows, as in a fresh model).
// Thread-safety: reentrant; called from the owner thread.
#ifndef FB_SERVER_CATVER_H
#define FB_SERVER_CATVER_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/idmap.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

// A row of the new catalogue that no row of the old one becomes.
#define AGG_CATVER_NEW UINT32_MAX

enum agg_catver_kind {
	AGG_CV_ITEMS = 0,
	AGG_CV_BUNDLES,
	AGG_CV_ATTRS,
	AGG_CV_KINDS,
};

// How the rows of one kind map from the old version to the new one.
struct agg_catver_rows {
	uint32_t n_old, n_new;
	uint32_t kept, added, retired;
	uint32_t *from; // n_new entries: the old row, or AGG_CATVER_NEW
};

// The catalogue change found when the checkpoint was loaded. Caller
// storage, zero-initialised; agg_catver_finish releases it.
struct agg_catver {
	bool changed; // the checkpoint's catalogue is not the configured one
	uint8_t old_digest[FB_HASH_LEN]; // the checkpoint's (if changed)
	uint8_t new_digest[FB_HASH_LEN]; // the configured catalogue's
	struct agg_catver_rows rows[AGG_CV_KINDS];
};

// The rows of the new catalogue by original id: r->from[k] is the row of
// old holding cur's id k, or AGG_CATVER_NEW. FB_ENOMEM.
fb_err agg_catver_rows_map(struct agg_catver_rows *r,
		const struct fb_idmap *old, const struct fb_idmap *cur);

// Copies every kept row of src (r->n_old rows) to its row of dst
// (r->n_new rows, same columns); new rows of dst are left as they are.
void agg_catver_copy_rows(struct fb_matrix *dst, const struct fb_matrix *src,
		const struct agg_catver_rows *r);

// Makes ckpt_dir/catalog-<hex of digest>/ hold copies of cat_dir's id
// maps (nothing if cat_dir has none or the folder exists). FB_EIO.
fb_err agg_catver_store(const char *ckpt_dir, const char *cat_dir,
		const uint8_t digest[FB_HASH_LEN]);

// Fills cv for a checkpoint numbered by the catalogue old (stored by
// agg_catver_store) with old_n[kind] rows, the configured catalogue being
// cat_dir (digest cv->new_digest) with new_n[kind] rows (attributes: 0
// when the model has none). FB_EINVAL naming both digests and the fix
// when either version has no original ids, FB_EFORMAT for a stored copy
// that does not fit the checkpoint, FB_EIO, FB_ENOMEM.
fb_err agg_catver_plan(struct agg_catver *cv, const char *ckpt_dir,
		const uint8_t old[FB_HASH_LEN],
		const uint32_t old_n[AGG_CV_KINDS], const char *cat_dir,
		const uint32_t new_n[AGG_CV_KINDS]);

// Removes every ckpt_dir/catalog-* folder but the one of keep (called
// once a checkpoint names keep). Failures are logged, not returned.
void agg_catver_prune(const char *ckpt_dir, const uint8_t keep[FB_HASH_LEN]);

// "items: 290 kept, 20 new, 10 retired; bundles: ..." into buf.
void agg_catver_describe(const struct agg_catver *cv, char *buf, size_t cap);

// Frees the row maps; the digests stay. Safe on a zeroed cv.
void agg_catver_finish(struct agg_catver *cv);

#endif
