// include/fedbundle/data/partition.h: splitting one dataset's users across K
// retailers to simulate a consortium. IID assigns users uniformly at
// random (sizes differ by at most one); non-IID follows the usual
// Dirichlet label-skew recipe with user taste clusters as labels: for each
// cluster, retailer shares p ~ Dir(alpha) and the cluster's shuffled users
// are cut by those shares (smaller alpha, more skew). Every user goes to
// exactly one retailer and no retailer is empty. Each retailer folder is a
// complete dataset (dataset.h) with the whole public catalogue and its own
// users renumbered densely in increasing global id, plus users.map.
// Everything is deterministic for a seed.
// Thread-safety: functions are reentrant; the dataset is only read.
#ifndef FB_INCLUDE_FEDBUNDLE_PARTITION_H
#define FB_INCLUDE_FEDBUNDLE_PARTITION_H

#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/util/err.h"

enum fb_partition_mode {
	FB_PARTITION_IID = 0,   // uniform random, balanced sizes
	FB_PARTITION_DIRICHLET, // Dirichlet(alpha) over user clusters
};

struct fb_partition_config {
	uint32_t n_retailers;        // K >= 1 (4)
	enum fb_partition_mode mode; // (FB_PARTITION_IID)
	double alpha;        // > 0; used by FB_PARTITION_DIRICHLET (0.5)
	uint64_t seed;       // (1)
	uint32_t n_clusters; // clusters to compute when user_cluster is NULL (16)
	const uint32_t *user_cluster; // optional, n_users ids, borrowed
	const char *cluster_source;   // label for partition.json, borrowed
};

// Per-retailer counts, as written to partition.json.
struct fb_partition_stats {
	uint32_t n_users;
	uint64_t n_user_item;
	uint64_t n_user_bundle[3]; // train, tune, test
};

// Fills cfg with the defaults in parentheses above.
void fb_partition_config_defaults(struct fb_partition_config *cfg);

// Reads a "user\tcluster" file (user_cluster.txt, as the generator writes
// it): every user < n_users exactly once, strict lines. On success *out is
// a malloc'd array of n_users ids the caller frees and *n_clusters is the
// largest id + 1. FB_EIO if unreadable, FB_EFORMAT "<path>:<line>: ...".
fb_err fb_partition_read_clusters(const char *path, uint32_t n_users,
		uint32_t **out, uint32_t *n_clusters);

// Clusters the users of ds into n_clusters groups, deterministically for
// seed: a seeded random projection (32 dims) of the co-occurrence graph
// gives each item the normalised sum of random vectors of the bundles
// holding it and the users taking it; each user becomes the normalised
// sum of its U-I items' and its training bundles' item vectors, so users
// of similar taste come out close even without common items; spherical
// k-means (k-means++ start, Lloyd iterations until stable, at most 20)
// groups them. Users with no interactions get a seeded uniform cluster.
// Tune and test pairs are not used. Writes cluster[0 .. n_users).
// FB_EINVAL if n_clusters is 0 or over 65536. O(nnz x 32 + users x
// n_clusters x 32 x iterations) time, O(users x 32) memory.
fb_err fb_partition_cluster_users(const struct fb_dataset *ds,
		uint32_t n_clusters, uint64_t seed, uint32_t *cluster);

// Assigns each of n_users users a retailer in owner[] by cfg (cluster and
// n_clusters are only read in Dirichlet mode and may be NULL/0 for IID).
// If a retailer comes out empty, users are moved to it one at a time from
// the largest retailer. FB_EINVAL if n_retailers is 0 or exceeds n_users,
// or alpha is not a positive finite number in Dirichlet mode.
fb_err fb_partition_assign(uint32_t n_users, const uint32_t *cluster,
		uint32_t n_clusters, const struct fb_partition_config *cfg,
		uint32_t *owner);

// Builds retailer r's dataset: its users (owner[u] == r) in increasing
// global id, renumbered from 0, with all their U-B (every split) and U-I
// rows, and a copy of the whole catalogue (bundle_item, item_attr, sizes).
// On success *out (fb_dataset_destroy) and *global (malloc'd, local ->
// global id, (*out)->n_users entries) belong to the caller.
fb_err fb_partition_extract(const struct fb_dataset *ds, const uint32_t *owner,
		uint32_t r, struct fb_dataset **out, uint32_t **global);

// Partitions ds by cfg and writes out_dir/retailer-00, retailer-01, ...
// (each with users.map, "local\tglobal") and out_dir/partition.json (K,
// mode, alpha, seed, cluster source, per-retailer counts and cluster
// histograms, the mean total-variation distance between the retailers'
// cluster mixes and the whole). Clusters come from cfg->user_cluster or,
// in Dirichlet mode without them, from fb_partition_cluster_users. If
// stats is not NULL, *stats receives a malloc'd array of K entries the
// caller frees. Errors: those of the functions above, FB_EIO, FB_ENOMEM.
fb_err fb_partition_run(const struct fb_dataset *ds,
		const struct fb_partition_config *cfg, const char *out_dir,
		struct fb_partition_stats **stats);

#endif
