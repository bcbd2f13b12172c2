// include/fedbundle/model/compat.h: how well two items go together, from the
// catalogue's PUBLIC bundle-item membership only (no user data, so it costs
// no privacy under DP). Two items are compatible when they sit in the same
// bundles: c(i, j) = co(i, j) / sqrt(deg(i) deg(j)), the cosine of their
// bundle-membership vectors (co: bundles holding both, deg: bundles
// holding one). The statistics are computed from the sparse membership on
// demand, so one bundle can be left out of them exactly (the bundle being
// evaluated, docs/bundle-completion.md §3): the same query then sees the
// catalogue as if that bundle had never been published.
// Thread-safety: a built fb_compat is read-only; the scratch-free query
// functions may run concurrently on distinct output buffers.
#ifndef FB_INCLUDE_FEDBUNDLE_MODEL_COMPAT_H
#define FB_INCLUDE_FEDBUNDLE_MODEL_COMPAT_H

#include <stdint.h>

#include "fedbundle/data/csr.h"
#include "fedbundle/util/err.h"

// No bundle left out of the statistics.
#define FB_COMPAT_NO_BUNDLE UINT32_MAX

// The statistic a query accumulates.
enum fb_compat_kind {
	FB_COMPAT_COSINE, // (1/|S|) sum_{i in S} c(i, j), c the cosine above
	FB_COMPAT_COUNT,  // sum_{i in S} co(i, j): raw co-occurrence counts
};

struct fb_compat {
	const struct fb_csr *bi; // bundles x items (borrowed)
	struct fb_csr ib;        // items x bundles (owned transpose)
};

// Prepares the statistics of bi (which must outlive c). FB_ENOMEM.
// The caller finishes c, also on failure.
fb_err fb_compat_init(struct fb_compat *c, const struct fb_csr *bi);

// Frees what fb_compat_init allocated; safe on a zeroed c.
void fb_compat_finish(struct fb_compat *c);

// Number of catalogue bundles holding item j, not counting skip (a bundle
// id, or FB_COMPAT_NO_BUNDLE).
uint32_t fb_compat_degree(const struct fb_compat *c, uint32_t j, uint32_t skip);

// out[j] for every item j (out holds bi->n_cols floats, overwritten): the
// statistic kind of the given items items[0..n) (ids < n_cols, checked by
// the caller) towards j, computed without bundle skip. An item is not
// compatible with itself (its own pairs are not counted).
void fb_compat_scores(const struct fb_compat *c, enum fb_compat_kind kind,
		const uint32_t *items, uint32_t n, uint32_t skip, float *out);

#endif
