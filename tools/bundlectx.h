// tools/bundlectx.h: what `fedbundle complete`, `compose` and
// `complete-eval` load alike: the dataset, a model file, the item and user
// representations, the public compatibility statistics and a scorer.
// Thread-safety: single-threaded use from a command's main path.
#ifndef FB_TOOLS_BUNDLECTX_H
#define FB_TOOLS_BUNDLECTX_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/compose.h"
#include "fedbundle/model/modelio.h"

struct bundlectx {
	struct fb_dataset *ds;
	struct fb_model model;
	struct fb_matrix P;
	struct fb_model_meta meta;
	struct fb_catalog cat;
	struct fb_reps reps;
	struct fb_matrix users; // every user's representation
	struct fb_compat compat;
	struct fb_scorer scorer;
};

// Loads data and model_path (which must fit) and prepares everything with
// the compatibility weight. The caller finishes c, also on failure.
fb_err bundlectx_init(struct bundlectx *c, const char *data,
		const char *model_path, float weight);

// Frees c; safe on a zeroed c.
void bundlectx_finish(struct bundlectx *c);

// Parses a comma-separated list of item ids of c's catalogue into items
// (room for max); prints a usage error naming cmd and returns false.
bool bundlectx_parse_items(const struct bundlectx *c, const char *cmd,
		const char *list, uint32_t *items, uint32_t max, uint32_t *n);

#endif
