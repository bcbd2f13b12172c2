// include/fedbundle/data/datagen.h: a deterministic synthetic consortium
// catalogue and its customers, in the bundle-dataset format of dataset.h.
// The model: users belong to taste clusters in a small latent space; items
// have latent factors around the centre of their category and Zipf
// popularity; bundles gather items around a bundle centre, weighted by
// popularity; users pick items and bundles by taste x popularity; U-B pairs
// are split per user about 70/10/20 (BGCN protocol, data/PROVENANCE.md).
// Item attributes form three groups in one attribute id space:
//   [0, P) price bands, [P, P + R) brands, [P + R, P + R + C) categories,
// with P = n_price_bands, R = n_brands, C = n_categories (after
// fb_datagen_resolve); every item has exactly one attribute per group.
// The output depends only on the configuration: same seed, same bytes.
// Cost: O(users x categories x dim + nnz x dim) time, memory linear in the
// output. Thread-safety: functions are reentrant; configs are plain data.
#ifndef FB_INCLUDE_FEDBUNDLE_DATAGEN_H
#define FB_INCLUDE_FEDBUNDLE_DATAGEN_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/util/err.h"

struct fb_datagen_config {
	const char *name; // dataset name (file prefix), borrowed; "Synth"
	uint64_t seed;    // everything random derives from it
	uint32_t n_users;
	uint32_t n_items;
	uint32_t n_bundles;
	uint32_t dim;           // latent dimension (16)
	uint32_t n_clusters;    // user taste clusters (16)
	uint32_t n_categories;  // 0 = auto: n_items / 500 within [8, 256]
	uint32_t n_brands;      // 0 = auto: n_items / 50 within [4, 4096]
	uint32_t n_price_bands; // (5)
	double user_spread;  // user's noise norm relative to its centre (0.6)
	double item_spread;  // item's noise norm relative to its category (0.6)
	double taste;        // sharpness of the user's category choice (12)
	double fine_taste;   // sharpness of the choice inside a category (4)
	double bundle_focus; // sharpness of a bundle's category mix (8)
	double item_zipf;    // item popularity ~ rank^-item_zipf (1.0)
	double bundle_zipf;  // bundle popularity ~ rank^-bundle_zipf (1.0)
	double bundle_size_mean;  // mean items per bundle (37, Youshu)
	uint32_t bundle_size_min; // (5)
	uint32_t bundle_size_max; // (150); capped at n_items
	double ui_mean;           // mean U-I pairs per user (17)
	uint32_t ui_min;          // (1)
	uint32_t ui_max;          // (60); capped at n_items
	double ub_user_frac;      // fraction of users with U-B pairs (0.37)
	double ub_mean;           // mean U-B pairs per such user (16.7)
	uint32_t ub_min;  // (3); users with >= 3 get one pair in each split
	uint32_t ub_max;  // (300); capped at n_bundles
	double tune_frac; // share of a user's U-B pairs in tune (0.1)
	double test_frac; // share of a user's U-B pairs in test (0.2)
	uint32_t threads; // worker threads (2); output does not depend on it
};

// A named size: the preset table that `fedbundle datagen --help` prints.
struct fb_datagen_preset {
	const char *name;
	uint32_t n_users;
	uint32_t n_items;
	uint32_t n_bundles;
	const char *about; // one line
};

// The presets, in increasing size ("toy", "small", "medium", "large");
// *n receives their number. Static storage.
const struct fb_datagen_preset *fb_datagen_presets(size_t *n);

// Fills cfg with the defaults above and the "small" preset's sizes.
void fb_datagen_config_defaults(struct fb_datagen_config *cfg);

// Sets the sizes of cfg from the named preset; other fields are untouched.
// FB_EINVAL (cfg untouched) for an unknown name.
fb_err fb_datagen_apply_preset(struct fb_datagen_config *cfg, const char *name);

// Replaces the automatic (0) counts of cfg by their values and caps the
// size limits at the catalogue sizes (and clusters at users), then
// validates everything:
// FB_EINVAL with a detail naming the field if a value is out of range.
fb_err fb_datagen_resolve(struct fb_datagen_config *cfg);

// Generates the dataset described by cfg (resolved internally on a copy),
// generating users on cfg->threads threads.
// On success *out is a dataset the caller destroys (fb_dataset_destroy) and,
// if user_cluster is not NULL, *user_cluster a malloc'd array of n_users
// taste-cluster ids (< n_clusters) that the caller frees.
// Errors: FB_EINVAL for a bad configuration, FB_ENOMEM.
fb_err fb_datagen_run(struct fb_dataset **out,
		const struct fb_datagen_config *cfg, uint32_t **user_cluster);

// Writes dir/user_cluster.txt ("user\tcluster" per line, every user in
// order, atomically). The dataset loader ignores the file; the partitioner
// reads it (fb_partition_read_clusters). Errors: FB_EIO, FB_ENOMEM.
fb_err fb_datagen_write_clusters(const char *dir, const uint32_t *user_cluster,
		uint32_t n_users);

#endif
