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
#include "fedbundle/util/tensorfile.h"

struct fb_model_meta {
	struct fb_rep_opts opts; // how representations are formed
	char dataset[64];        // name of the dataset it was trained on
	uint32_t epoch;          // epoch (or round) the parameters come from
	// Set by the loaders, not saved:
	enum fb_tfile_kind kind; // the kind of file the model came from
	// False for an aggregator checkpoint written before issue 14, which
	// does not record the representation options its rounds plan: opts
	// are then all false. Later checkpoints record them.
	bool opts_known;
};

// Writes model (and P when not NULL) with meta to path.
fb_err fb_modelio_save(const char *path, const struct fb_model *model,
		const struct fb_matrix *P, const struct fb_model_meta *meta);

// Reads path into a new model (the caller finishes it) and, when P is not
// NULL, the users' factors (FB_EFORMAT if the file has none: for an
// aggregator checkpoint the detail says where user factors come from;
// floors.h's fb_floors_model_users solves them from a retailer's data). path
// may be any file fb_modelio_load_any reads. Shapes are checked for
// consistency (same d everywhere).
fb_err fb_modelio_load(const char *path, struct fb_model *model,
		struct fb_matrix *P, struct fb_model_meta *meta);

// Reads the shared factors V, W, M from a model file (FB_TFILE_MODEL), an
// aggregator checkpoint (FB_TFILE_CHECKPOINT: no user factors; the
// representation options its rounds plan, opts_known false when it records
// none, as before issue 14) or a client state (FB_TFILE_CLIENT: the global
// model the client holds and its own users' factors). When P is not NULL
// it receives the users' factors, or 0 rows if the file has none. The
// metadata of a checkpoint or a client state is read leniently (only the
// keys a model needs; their owners parse it strictly). FB_EFORMAT for a
// client state that holds no model yet, or a file of another kind.
fb_err fb_modelio_load_any(const char *path, struct fb_model *model,
		struct fb_matrix *P, struct fb_model_meta *meta);

// Reads the users' factors P of a client state (FB_TFILE_CLIENT) and the
// representation options it trains with (meta), whether or not it still
// holds a global model (a simulated client drops it after its round).
// FB_EFORMAT naming path for another kind of file or a state without user
// factors.
fb_err fb_modelio_load_users(const char *path, struct fb_matrix *P,
		struct fb_model_meta *meta);

#endif
