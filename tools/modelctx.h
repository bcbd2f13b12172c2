// tools/modelctx.h: what every command that uses a trained model loads
// alike (recommend, complete, compose, complete-eval): the dataset folder
// with its original-id maps, a model file (a model, or a retailer's client
// state: modelio.h) that must fit the folder, and the item and bundle
// representations formed as the model was trained. One loader, so the
// commands cannot score with different representations.
// Thread-safety: single-threaded use from a command's main path.
#ifndef FB_TOOLS_MODELCTX_H
#define FB_TOOLS_MODELCTX_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/modelio.h"

struct modelctx {
	struct fb_dataset *ds;
	struct fb_catdir_ids ids; // original ids, when the folder has maps
	struct fb_model model;
	struct fb_matrix P; // the users' factors
	struct fb_model_meta meta;
	struct fb_catalog cat;
	struct fb_reps reps;
};

// Loads the folder data and model_path and computes the representations.
// FB_EINVAL naming both when the model does not fit the folder. The
// caller finishes c, also on failure.
fb_err modelctx_load(
		struct modelctx *c, const char *data, const char *model_path);

// Frees c; safe on a zeroed c.
void modelctx_finish(struct modelctx *c);

// Parses list, item ids of c's catalogue separated by commas or line
// breaks (the retailer's original ids when the folder has items.map,
// else dense ids: fb_catdir_parse_items), into items (room for max);
// with unique, a repeated id is refused. On a bad list prints one usage
// error naming cmd, what and the id, and returns false.
bool modelctx_parse_items(const struct modelctx *c, const char *cmd,
		const char *what, const char *list, bool unique,
		uint32_t *items, uint32_t max, uint32_t *n);

#endif
