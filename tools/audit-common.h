// tools/audit-common.h: the set-up and comparisons the sensitivity audit's
// client-level modes (tools/audit-sensitivity.c) and secure modes
// (tools/audit-secure.c) share: the seed mixer, the IID split into
// retailers, a retailer's base policy, the base of a training plan, and
// bit-for-bit comparisons of factor matrices.
// Memory: the caller owns every array and what audit_partition creates.
// Thread-safety: stateless; single-threaded use from the audits.
#ifndef FB_TOOLS_AUDIT_COMMON_H
#define FB_TOOLS_AUDIT_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "client/policy.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/err.h"

// splitmix64's finaliser: independent seeds from one.
uint64_t audit_mix(uint64_t x);

// ds split IID into K retailers, seeded by seed (fb_partition_assign):
// owner[u] (n_users entries) u's retailer, part[r] (K entries, NULL on
// entry; fb_dataset_destroy each) retailer r's dataset and, if local is
// not NULL, local[u] u's index there. FB_EINVAL naming the counts if ds
// has fewer than K users; the partition's errors; FB_ENOMEM.
fb_err audit_partition(const struct fb_dataset *ds, uint32_t K, uint64_t seed,
		uint32_t *owner, uint32_t *local, struct fb_dataset **part);

// Retailer r's policy for an audit seeded by seed, holding users users:
// the defaults with no noise floor, no evaluation report, one thread, a
// 4096-dimension cap and the seed mix(seed + r); the granularity it
// allows and the rest are the caller's.
void audit_policy(struct node_policy *pol, uint64_t users, uint64_t seed,
		uint32_t r);

// A training plan over model m with hyper-parameters hp and dpc's clip,
// sigma and delta: f32 tensors (items, bundles, attributes if any), one
// local step, sampling rate 1, a 10-minute deadline. The caller sets the
// granularity, and the rate, steps and secagg fields where they differ.
void audit_plan(struct fb_wire_plan *p, const struct fb_model *m,
		const struct fb_hparams *hp, const struct fb_dp_config *dpc);

// True if a and b have the same shape and bits.
bool audit_same_matrix(const struct fb_matrix *a, const struct fb_matrix *b);

// True if P and Q have the same shape and bits in every row but skip (a
// skip of rows or more, e.g. UINT32_MAX: none skipped).
bool audit_same_rows_but(const struct fb_matrix *P, const struct fb_matrix *Q,
		uint32_t skip);

#endif
