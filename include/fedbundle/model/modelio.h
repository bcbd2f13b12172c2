// include/fedbundle/model/modelio.h: model files: the shared parameters V, W, M,
// optionally the users' factors P, and the switches that define how
// representations are formed, in a tensor file (tensorfile.h) of kind
// FB_TFILE_MODEL. Written atomically; corrupt files are refused.
// Thread-safety: reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_MODELIO_H
#define FB_INCLUDE_FEDBUNDLE_MODELIO_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/model/model.h"
#include "fedbundle/util/err.h"

struct fb_model_meta {
	struct fb_rep_opts opts; // how representations are formed
	char dataset[64];        // name of the dataset it was trained on
	uint32_t epoch;          // epoch (or round) the parameters come from
};

// Writes model (and P when not NULL) with meta to path.
fb_err fb_modelio_save(const char *path, const struct fb_model *model,
		const struct fb_matrix *P, const struct fb_model_meta *meta);

// Reads path into a new model (the caller finishes it) and, when P is not
// NULL, the users' factors (FB_EFORMAT if the file has none). Shapes are
// checked for consistency (same d everywhere).
fb_err fb_modelio_load(const char *path, struct fb_model *model,
		struct fb_matrix *P, struct fb_model_meta *meta);

#endif
