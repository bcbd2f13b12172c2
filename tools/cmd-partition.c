// tools/cmd-partition.c: `fedbundle partition`, one dataset's users split
// across K retailer folders (include/fedbundle/data/partition.h does the work).
// Clusters for the non-IID split come from DIR/user_cluster.txt when the
// dataset folder has one (the generator writes it), else from k-means on
// the data. Errors are one line; the summary goes to stderr.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/data/partition.h"
#include "fedbundle/util/fsutil.h"

static const char cmd[] = "partition";

static void
usage(void)
{
	struct fb_partition_config def;
	fb_partition_config_defaults(&def);
	printf("usage: fedbundle partition --data DIR --retailers K --out DIR "
	       "[--iid | --alpha A]\n"
	       "                           [--seed N] [--clusters G]\n"
	       "\n"
	       "Splits the users of the dataset in DIR across K retailers "
	       "and writes\nOUT/retailer-00, retailer-01, ...: each a "
	       "complete dataset folder with the\nwhole catalogue, that "
	       "retailer's users renumbered from 0 with all their\n"
	       "interactions, and users.map (\"local<TAB>global\"), plus "
	       "OUT/partition.json\n(mode, alpha, seed, per-retailer "
	       "counts and cluster mixes). Every user goes\nto exactly one "
	       "retailer; no retailer is empty.\n"
	       "\n"
	       "--iid spreads users uniformly at random (sizes differ by at "
	       "most one).\n--alpha A is non-IID: for each user cluster, "
	       "retailer shares ~ Dirichlet(A)\ncut that cluster's users; "
	       "a smaller A gives more skewed retailers. Clusters\ncome "
	       "from DIR/user_cluster.txt when present (`fedbundle datagen` "
	       "writes it),\nelse from spherical k-means on a seeded random "
	       "projection of each user's\nuser-item and training "
	       "user-bundle rows.\n"
	       "\n"
	       "options:\n"
	       "  --data DIR        dataset folder (required)\n"
	       "  --retailers K     number of retailers, 1..#users "
	       "(required)\n"
	       "  --out DIR         output folder, created if missing "
	       "(required)\n"
	       "  --iid             IID split (the default)\n"
	       "  --alpha A         non-IID Dirichlet split, A > 0\n"
	       "  --seed N          random seed (default %llu)\n"
	       "  --clusters G      k-means clusters when DIR has no "
	       "user_cluster.txt\n"
	       "                    (default %u)\n"
	       "  --help            this text\n",
			(unsigned long long)def.seed, def.n_clusters);
}

int
cmd_partition(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"retailers", required_argument, NULL, 'k'},
			{"out", required_argument, NULL, 'o'},
			{"iid", no_argument, NULL, 'i'},
			{"alpha", required_argument, NULL, 'a'},
			{"seed", required_argument, NULL, 's'},
			{"clusters", required_argument, NULL, 'g'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	const char *data = NULL, *out = NULL;
	bool have_k = false, iid = false, alpha = false, clusters = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'k':
			if (!cli_parse_u32(cmd, "--retailers", optarg,
					    &cfg.n_retailers)) {
				return 2;
			}
			have_k = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'i':
			iid = true;
			break;
		case 'a':
			if (!cli_parse_double(cmd, "--alpha", optarg,
					    &cfg.alpha)) {
				return 2;
			}
			if (!(cfg.alpha > 0)) {
				return cli_usage_error(cmd,
						"--alpha: %s is not > 0",
						optarg);
			}
			alpha = true;
			break;
		case 's':
			if (!cli_parse_u64(cmd, "--seed", optarg, &cfg.seed)) {
				return 2;
			}
			break;
		case 'g':
			if (!cli_parse_u32(cmd, "--clusters", optarg,
					    &cfg.n_clusters)) {
				return 2;
			}
			if (cfg.n_clusters == 0) {
				return cli_usage_error(
						cmd, "--clusters: must be > 0");
			}
			clusters = true;
			break;
		case 'h':
			usage();
			return 0;
		case ':':
			return cli_usage_error(cmd, "%s needs a value",
					argv[optind - 1]);
		default:
			return cli_usage_error(cmd, "unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (data == NULL) {
		return cli_usage_error(cmd, "--data DIR is required");
	}
	if (!have_k) {
		return cli_usage_error(cmd, "--retailers K is required");
	}
	if (out == NULL) {
		return cli_usage_error(cmd, "--out DIR is required");
	}
	if (iid && alpha) {
		return cli_usage_error(cmd,
				"--iid and --alpha exclude each "
				"other");
	}
	cfg.mode = alpha ? FB_PARTITION_DIRICHLET : FB_PARTITION_IID;
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, data);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "loading the dataset");
	}
	if (cfg.n_retailers == 0 || cfg.n_retailers > ds->n_users) {
		uint32_t n = ds->n_users;
		fb_dataset_destroy(ds);
		return cli_usage_error(cmd,
				"--retailers: %u not in [1, %u] (the dataset "
				"has %u users; no retailer may be empty)",
				cfg.n_retailers, n, n);
	}
	uint32_t *cluster = NULL, n_clusters = 0;
	char *cpath = fb_path_join(data, "user_cluster.txt");
	if (cpath == NULL) {
		fb_dataset_destroy(ds);
		return cli_fail(cmd, FB_ENOMEM, "partitioning");
	}
	if (access(cpath, F_OK) == 0) {
		err = fb_partition_read_clusters(
				cpath, ds->n_users, &cluster, &n_clusters);
		if (err != FB_OK) {
			free(cpath);
			fb_dataset_destroy(ds);
			return cli_fail(cmd, err, "reading the clusters");
		}
		cfg.user_cluster = cluster;
		cfg.cluster_source = "user_cluster.txt";
		if (clusters) {
			fprintf(stderr,
					"fedbundle %s: --clusters ignored: "
					"%s gives %u clusters\n",
					cmd, cpath, n_clusters);
		}
	}
	free(cpath);
	struct fb_partition_stats *st = NULL;
	err = fb_partition_run(ds, &cfg, out, &st);
	if (err != FB_OK) {
		free(cluster);
		fb_dataset_destroy(ds);
		return cli_fail(cmd, err, "partitioning");
	}
	uint32_t lo = UINT32_MAX, hi = 0;
	for (uint32_t j = 0; j < cfg.n_retailers; j++) {
		lo = st[j].n_users < lo ? st[j].n_users : lo;
		hi = st[j].n_users > hi ? st[j].n_users : hi;
	}
	const char *source = cfg.user_cluster != NULL ? "user_cluster.txt"
			: alpha                       ? "k-means"
						      : "not used";
	if (alpha) {
		fprintf(stderr,
				"fedbundle partition: wrote %s: %u users of "
				"%s over %u retailers (%u..%u users each), "
				"Dirichlet alpha %g, seed %llu, clusters: %s\n",
				out, ds->n_users, data, cfg.n_retailers, lo, hi,
				cfg.alpha, (unsigned long long)cfg.seed,
				source);
	} else {
		fprintf(stderr,
				"fedbundle partition: wrote %s: %u users of "
				"%s over %u retailers (%u..%u users each), "
				"IID, seed %llu\n",
				out, ds->n_users, data, cfg.n_retailers, lo, hi,
				(unsigned long long)cfg.seed);
	}
	free(st);
	free(cluster);
	fb_dataset_destroy(ds);
	return 0;
}
