// tools/bundlectx.h: what `fedbundle complete`, `compose` and
// `complete-eval` load alike: a model context (modelctx.h), every user's
// representation, the public compatibility statistics and a scorer.
// Thread-safety: single-threaded use from a command's main path.
#ifndef FB_TOOLS_BUNDLECTX_H
#define FB_TOOLS_BUNDLECTX_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/compose.h"
#include "fedbundle/model/modelio.h"
#include "modelctx.h"

struct bundlectx {
	struct modelctx m;      // the folder, the model, the representations
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

#endif
