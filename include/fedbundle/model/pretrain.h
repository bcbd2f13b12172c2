// include/fedbundle/model/pretrain.h: item factors from the public catalogue.
// Items that appear in the same bundles are alike: the top-d eigenvectors
// of the item co-membership matrix A^T A (A = bundles x items, rows scaled
// by 1/sqrt(|b|)) give every item a position learnt from public data only,
// so initialising V with them costs no privacy and lets DP training start
// from a meaningful geometry. Computed by subspace iteration with sparse
// products (no LAPACK).
// Thread-safety: reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_PRETRAIN_H
#define FB_INCLUDE_FEDBUNDLE_PRETRAIN_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/rng.h"

// Overwrites V (n_items x d) with the top-d eigenvectors of the scaled
// co-membership matrix of bi (bundles x items), each column scaled by the
// square root of its eigenvalue and the whole matrix scaled so that its
// RMS row norm is row_norm. Items in no bundle get N(0, (row_norm^2/d))
// rows from rng. iters: subspace iterations (about 20).
fb_err fb_pretrain_items(struct fb_matrix *V, const struct fb_csr *bi,
		uint32_t iters, float row_norm, struct fb_rng *rng);

#endif
