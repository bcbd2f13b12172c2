// include/fedbundle/model/recommend.h: one user's recommendations from a trained
// model. The scores of every catalogue bundle for that user are formed as
// the evaluation ranks them (the user's factor plus the mean of its items'
// representations, eval.h), the top K are those of its scores outside its
// training bundles, and the list is printed as text or JSON. `fedbundle
// recommend` (a model file) and `fedbundle-client recommend` (the federated
// model and the retailer's own user factors) both use it, so the two can
// never rank or print differently.
// Thread-safety: a ranking belongs to one thread.
#ifndef FB_INCLUDE_FEDBUNDLE_RECOMMEND_H
#define FB_INCLUDE_FEDBUNDLE_RECOMMEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"

struct fb_ranking {
	uint32_t user;
	size_t dim;
	float *rep;        // dim: the user's representation
	float *scores;     // n_bundles: its score of every catalogue bundle
	uint32_t *top;     // the best bundles, best first
	uint32_t n_top;    // how many (fewer than k if the catalogue is small)
	uint32_t n_seen;   // its training bundles
	bool include_seen; // training bundles were ranked too
};

// Ranks the catalogue of ds for user (a row of P, whose columns match the
// representations reps, computed by fb_reps_compute) and keeps the top k
// (k > 0), excluding the user's training bundles unless include_seen.
// FB_EINVAL with a detail for a user outside P or ds, or shapes that do not
// match; FB_ENOMEM. The caller finishes *r, also on failure.
fb_err fb_ranking_compute(struct fb_ranking *r, const struct fb_dataset *ds,
		const struct fb_reps *reps, const struct fb_matrix *P,
		uint32_t user, uint32_t k, bool include_seen);

// Frees what fb_ranking_compute allocated; safe on a zeroed r.
void fb_ranking_finish(struct fb_ranking *r);

// Prints r to fp: a table (rank, bundle, score, number of items, and
// whether the bundle is held out in the user's tune or test split) or, if
// json, one JSON object. source, if not NULL, says where the model comes
// from in the table's title ("federated model after round 12"); round, if
// not negative, is added to the JSON object as "round". ids, if not NULL
// (the folder's id maps, catdir.h), adds the original ids: the user's
// from users.map, each bundle's from bundles.map and its name where the
// catalogue has one (JSON: "user_id", "bundle_id", "name" beside the dense
// "user" and "bundle").
void fb_ranking_print(FILE *fp, const struct fb_ranking *r,
		const struct fb_dataset *ds, const struct fb_catdir_ids *ids,
		const char *source, int64_t round, bool json);

enum fb_ranking_format {
	FB_RANKING_CSV,   // "user,rank,bundle,score" lines under that header
	FB_RANKING_JSONL, // one JSON object per user, as fb_ranking_print's
};

// Ranks every user of ds as fb_ranking_compute ranks one (the same user
// representations, exclusions and top-K selection), scoring blocks of
// users through one sgemm each (fb_model_score_block), and writes each
// user's top k to fp in user order. ids, if not NULL, gives original user
// and bundle ids (CSV: in place of the dense ones; JSON: beside them).
// Errors as fb_ranking_compute's; FB_EIO if a write to fp failed.
fb_err fb_ranking_write_all(FILE *fp, const struct fb_dataset *ds,
		const struct fb_reps *reps, const struct fb_matrix *P,
		const struct fb_catdir_ids *ids, uint32_t k, bool include_seen,
		enum fb_ranking_format fmt);

#endif
