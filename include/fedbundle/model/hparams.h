// include/fedbundle/model/hparams.h: the training hyper-parameters, in one
// struct that every party shares: the centralized trainer's configuration
// (train.h), the aggregator's "round" section (server/config.h), the
// round configuration of a TRAIN plan (wire.h) and the simulation all
// embed a struct fb_hparams and copy it whole. One schema table (the
// configuration keys, with their ranges), one validation (those ranges
// plus the checks across keys), and one derivation of what training
// changes (the release layout): a check or a shape written once cannot
// drift between the party that plans a round and the party that runs it.
// Thread-safety: plain data; functions are reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_HPARAMS_H
#define FB_INCLUDE_FEDBUNDLE_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"

// The optimizer of the shared factors. The values are the wire's
// (protocols/wire-v1.md §5.3.1, local_optimizer).
enum fb_optimizer {
	FB_OPT_SGD = 0,
	FB_OPT_ADAM = 1,
};

// The hyper-parameters of training the bundle model, wherever it runs.
struct fb_hparams {
	uint32_t dim;         // factor dimension d
	uint32_t batch_users; // users per non-private batch
	uint32_t negatives;   // negatives sampled per positive pair
	double lr;            // learning rate of the shared factors
	double lr_user;       // learning rate of the user factors (SGD)
	double l2;            // L2 weight
	double item_weight;   // weight of the user-item BPR term
	// std of the N(0, std^2) initial factors the trainer creates (the
	// users' factors; in a centralized run, every factor).
	double init_std;
	enum fb_optimizer optimizer;
	bool item_view; // bundle rep includes the mean of its items
	bool use_attrs; // item rep includes the attribute projection
	// User rep for bundles adds the mean of the user's item reps (computed
	// where the user's data lives; never shared).
	bool user_item_view;
	// The last factor coordinate is a popularity bias (model.h).
	bool bias;
	// Item and attribute factors are trained (false: they stay at their
	// initialisation, e.g. public_init, and only W is trained and, under
	// DP, released: a release of |B| x d instead of (|B| + |I|) x d).
	bool train_items;
	// Only the first bundle_rank coordinates of W (and the bias, if any)
	// are trained; the others stay as they are. 0: all. At most dim. A
	// low rank concentrates a user's clipped contribution on few
	// coordinates, which is what DP noise hurts least.
	uint32_t bundle_rank;
};

// Fills hp with the defaults (tuned on Youshu's tune split, non-private).
void fb_hparams_defaults(struct fb_hparams *hp);

// The configuration schema of struct fb_hparams (offsets into it), the
// same keys in every configuration file that holds them (the "train"
// configuration, the aggregator's and the simulation's "round" section);
// static storage, *n entries.
const struct fb_cfg_field *fb_hparams_fields(size_t *n);

// Checks every value against the schema's range, then the rules across
// keys (bundle_rank at most dim, bias needs dim >= 2). FB_EINVAL with a
// detail "<where><key>: <problem>", e.g. where "server.json: round."
// gives "server.json: round.bundle_rank: 64 is more than dim (8): ...".
// where may be "" (not NULL).
fb_err fb_hparams_check(const struct fb_hparams *hp, const char *where)
		__attribute__((warn_unused_result));

// What training under some hyper-parameters changes, and the packed
// layout of one user-level DP release, computed only here so that the
// release, its noise, its accounting, the trainer's masks and the
// aggregator's client-level sum cannot disagree: for each bundle b, its
// `lead` leading coordinates and then, if `last`, its last one (the
// bias); then, if `items`, every coordinate of every item, row by row.
// Other coordinates are not trained (bundle_rank, train_items false) and
// carry no data.
struct fb_release_layout {
	uint32_t n_bundles, n_items, dim;
	uint32_t lead;     // leading bundle coordinates released
	bool last;         // and the last bundle coordinate (the bias)
	bool items;        // and the whole item gradient
	size_t per_bundle; // lead + last
	size_t len;        // coordinates of a user-level release in all
};

// Fills out for hp over a catalogue of n_items and n_bundles.
void fb_hparams_release_layout(const struct fb_hparams *hp, uint32_t n_items,
		uint32_t n_bundles, struct fb_release_layout *out);

// The coordinates of the model (W: n_bundles x dim; V: n_items x dim and
// M: n_attrs x dim) training changes: what a client-level update carries.
size_t fb_release_model_len(const struct fb_release_layout *L, size_t n_attrs);

// Zeroes, in rows x L->dim row-major values (W or its gradient), the
// bundle coordinates that are not trained.
void fb_release_mask_bundles(
		const struct fb_release_layout *L, float *w, size_t rows);

#endif
