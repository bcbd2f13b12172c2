// include/fedbundle/model/compose.h: personalised bundle completion and
// composition (docs/bundle-completion.md). The preference of user u for
// adding item j to a partial bundle S is
//   s(u, S, j) = z_u(j) + w * (1/|S|) sum_{i in S} c(i, j)
// where z_u(j) = (rep_u . v_j) / std_j'(rep_u . v_j') is the trained
// model's user term (as private as that model: the user's representation
// of recommend.h and the items' representations), c the public
// compatibility of compat.h, and w a fixed weight (chosen on the tune
// split, never on test). Completion ranks every item not in S; composition
// builds bundles item by item with a beam search over these scores.
// The baselines of the evaluation score through the same calls.
// Thread-safety: a scorer belongs to one thread (it holds scratch).
#ifndef FB_INCLUDE_FEDBUNDLE_MODEL_COMPOSE_H
#define FB_INCLUDE_FEDBUNDLE_MODEL_COMPOSE_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/model/compat.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"

// How candidates are scored.
enum fb_complete_method {
	FB_COMPLETE_MODEL,      // z_u(j) + w * mean cosine compatibility
	FB_COMPLETE_POPULARITY, // bundles holding j (baseline)
	FB_COMPLETE_COOCCUR,    // co-occurrence count with S (baseline)
	FB_COMPLETE_ITEMSET,    // rep_u . mean(v_{S+j}): z_u(j) (baseline)
};

// Largest partial bundle a query takes, and largest composed bundle.
#define FB_COMPOSE_MAX_GIVEN 4096
#define FB_COMPOSE_MAX_SIZE 64
#define FB_COMPOSE_MAX_BEAM 16

// The compatibility weight w the commands use unless told otherwise: the
// best of a grid on Youshu's TUNE split (docs/bundle-completion.md §4).
#define FB_COMPOSE_DEFAULT_WEIGHT 256.0

struct fb_scorer {
	const struct fb_compat *compat; // borrowed
	const struct fb_matrix *items;  // item representations (borrowed)
	float weight;                   // w
	uint32_t n_items;
	float *user;    // n_items: z_u(j) of the current user
	float *scratch; // n_items
	uint32_t *tmp;  // n_items
};

// Prepares a scorer over items (n_items x d, from fb_reps_compute) and
// compat (same items). FB_EINVAL if the item counts differ, FB_ENOMEM.
// The caller finishes s, also on failure.
fb_err fb_scorer_init(struct fb_scorer *s, const struct fb_compat *compat,
		const struct fb_matrix *items, float weight);

// Frees the scorer's buffers; safe on a zeroed s.
void fb_scorer_finish(struct fb_scorer *s);

// Sets the user: rep is the user's representation (items->cols floats).
void fb_scorer_set_user(struct fb_scorer *s, const float *rep);

// out[j] (n_items floats) = the method's score of adding j to the items
// given[0..n) (distinct ids < n_items), with bundle skip left out of the
// catalogue statistics (FB_COMPAT_NO_BUNDLE: none).
void fb_scorer_scores(struct fb_scorer *s, enum fb_complete_method method,
		const uint32_t *given, uint32_t n, uint32_t skip, float *out);

// The k best items completing given[0..n) (n >= 1), best first, never one
// of the given: ids into top and their scores into scores (room for k
// each); returns how many (fewer if the catalogue is small). FB_EINVAL
// with a detail for an item out of range or repeated, or n outside
// 1..FB_COMPOSE_MAX_GIVEN.
fb_err fb_complete(struct fb_scorer *s, const uint32_t *given, uint32_t n,
		uint32_t k, uint32_t *top, float *scores, uint32_t *n_top);

// What a composition is asked for.
struct fb_compose_opts {
	uint32_t size;          // items per bundle, 1..FB_COMPOSE_MAX_SIZE
	uint32_t count;         // bundles wanted
	uint32_t beam;          // beam width, 1..FB_COMPOSE_MAX_BEAM
	float reuse_penalty;    // subtracted from z_u(j) per earlier use of j
	const uint8_t *allowed; // n_items flags (NULL: every item allowed)
	// A price cap: with max_price > 0, price (n_items entries, NAN for
	// an unknown price) must be given, and every bundle's summed price
	// is at most max_price; items without a price are left out.
	const double *price;
	double max_price;
	// Leave bundle skip out of the catalogue statistics (the evaluation
	// of completion.h; false: skip is ignored and nothing is left out).
	bool hold_out;
	uint32_t skip;
};

// N bundles of opts->size distinct allowed items for the current user:
// each is the best of a beam search that adds one item at a time by
// s(u, S, j) (the first item by z_u alone), summing the added scores;
// diversity: every earlier use of an item lowers its user term by
// reuse_penalty, and a bundle equal (as a set) to an earlier one is never
// returned. items receives count * size ids (bundle r at r * size, in the
// order added), totals the count summed scores. *n_out is how many
// bundles were found (fewer than count only if the allowed items run out
// of distinct sets, or under a price cap the beam finds no more that
// fit). With a price cap, a partial bundle is extended only by items
// that leave room for the cheapest usable items to fill the rest (a lower
// bound, so no bundle that fits is cut early; every bundle returned fits). FB_EINVAL with a
// detail if fewer than size items are allowed (and priced, under a cap),
// if the size cheapest of them exceed the cap, or an option is out of
// range; FB_ENOMEM.
fb_err fb_compose(struct fb_scorer *s, const struct fb_compose_opts *opts,
		uint32_t *items, float *totals, uint32_t *n_out);

#endif
