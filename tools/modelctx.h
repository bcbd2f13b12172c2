// tools/modelctx.h: what every command that uses a trained model loads
// alike (recommend, complete, compose, complete-eval, and eval's model):
// the dataset folder with its original-id maps, a model file (a model, a
// retailer's client state, or an aggregator checkpoint whose users'
// factors are solved from the folder: modelio.h, floors.h) that must fit
// the folder, and the item and bundle
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

// The representation options a federation's clients use unless its
// aggregator's round says otherwise (server/config.c: the centralized
// defaults, fb_train_config_defaults): item_view, use_attrs and
// user_item_view on, no bias: those of an aggregator checkpoint written
// before issue 14, which does not record them (modelio.h).
void modelctx_federation_opts(struct fb_rep_opts *opts);

// The representation options written in the JSON config file path, over
// those already in opts: the aggregator's configuration (its "round"
// object, resolved as the aggregator resolves it: granularity user, its
// default, turns the bias on unless "bias" is given: server/dpdefaults.c)
// or a `fedbundle train --config` file (the keys at its top level). Only
// item_view, use_attrs, user_item_view, bias (and round.granularity) are
// read; other keys are left to their owners. FB_EINVAL naming path and
// the key for a value of the wrong type, FB_EIO for an unreadable file.
fb_err modelctx_config_opts(const char *path, struct fb_rep_opts *opts);

// Reads model_path for the dataset ds loaded from the folder data: a model
// file or a client state with its users' factors, or an aggregator
// checkpoint (shared factors only), whose users' factors are then solved
// here, each from that user's own training bundles in ds alone, against
// the checkpoint's representations formed with the options of the config
// file config (modelctx_config_opts over modelctx_federation_opts), or
// when config is NULL those the checkpoint records (its rounds' options),
// or modelctx_federation_opts for a checkpoint that records none:
// fb_floors_model_users. For a checkpoint meta->opts are those options,
// and one line on stderr says how the factors were made and where the
// options came from (checkpoint, --config, defaults). FB_EINVAL naming
// both when the checkpoint's catalogue does not fit ds; the caller
// finishes model and P, also on failure.
fb_err modelctx_load_model(const struct fb_dataset *ds, const char *data,
		const char *model_path, const char *config,
		struct fb_model *model, struct fb_matrix *P,
		struct fb_model_meta *meta);

// Loads the folder data and model_path and computes the representations;
// config as in modelctx_load_model. FB_EINVAL naming both when the model
// does not fit the folder. The caller finishes c, also on failure.
fb_err modelctx_load(struct modelctx *c, const char *data,
		const char *model_path, const char *config);

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
