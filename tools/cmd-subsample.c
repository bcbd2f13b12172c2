// tools/cmd-subsample.c: `fedbundle subsample`, a dataset cut down to N
// users drawn uniformly at random for a seed (a public stand-in for a
// small retailer, issue 15): the chosen users keep all their interactions
// (every split, user_item), renumbered in increasing global id, with the
// whole catalogue; users.map holds "local<TAB>global". The cut is
// partition.h's fb_partition_extract with a two-way owner array.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/data/partition.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/rng.h"

static const char cmd[] = "subsample";

static void
usage(void)
{
	printf("usage: fedbundle subsample --data DIR --users N --out DIR "
	       "[--seed S] [--with-bundles]\n"
	       "\n"
	       "Writes OUT: the dataset of DIR restricted to N users drawn "
	       "uniformly at\nrandom (seeded Fisher-Yates), each with all "
	       "its interactions, renumbered\nfrom 0 in increasing global "
	       "id, with the whole catalogue and users.map\n"
	       "(\"local<TAB>global\").\n"
	       "\n"
	       "  --seed S          seed (default 1)\n"
	       "  --with-bundles    draw only among users with training "
	       "bundles\n");
}

static fb_err
write_map(const char *dir, const uint32_t *global, uint32_t n)
{
	char *path = fb_path_join(dir, "users.map");
	if (path == NULL) {
		return FB_ENOMEM;
	}
	size_t cap = (size_t)n * 24 + 1, len = 0;
	char *buf = malloc(cap);
	for (uint32_t k = 0; buf != NULL && k < n; k++) {
		len += (size_t)snprintf(
				buf + len, cap - len, "%u\t%u\n", k, global[k]);
	}
	fb_err err = buf == NULL ? FB_ENOMEM
				 : fb_write_file_atomic(path, buf, len, 0644);
	free(buf);
	free(path);
	return err;
}

// owner[u] = 0 for the n drawn users, 1 for the others.
static fb_err
draw(const struct fb_dataset *ds, uint32_t n, uint64_t seed, bool active,
		uint32_t *owner)
{
	uint32_t *pool = malloc(((size_t)ds->n_users + 1) * sizeof(*pool));
	if (pool == NULL) {
		return FB_ENOMEM;
	}
	uint32_t m = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		owner[u] = 1;
		if (!active || fb_csr_row_len(&ds->ub_train, u) > 0) {
			pool[m++] = u;
		}
	}
	if (n > m) {
		free(pool);
		return fb_errorf(FB_EINVAL,
				"--users %u: the dataset has only "
				"%u users to draw from",
				n, m);
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 0x5ab5a3ULL);
	fb_rng_shuffle_u32(&rng, pool, m);
	for (uint32_t k = 0; k < n; k++) {
		owner[pool[k]] = 0;
	}
	free(pool);
	return FB_OK;
}

int
cmd_subsample(int argc, char **argv)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"users", required_argument, NULL, 'u'},
			{"out", required_argument, NULL, 'o'},
			{"seed", required_argument, NULL, 's'},
			{"with-bundles", no_argument, NULL, 'b'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *data = NULL, *out = NULL;
	uint32_t n = 0;
	uint64_t seed = 1;
	bool active = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'u':
			ok = cli_parse_u32(cmd, "--users", optarg, &n);
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			ok = cli_parse_u64(cmd, "--seed", optarg, &seed);
			break;
		case 'b':
			active = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
		if (!ok) {
			return 2;
		}
	}
	if (data == NULL || out == NULL || n == 0 || optind < argc) {
		return cli_usage_error(cmd,
				"--data, --out and --users N > 0 "
				"are required");
	}
	struct fb_dataset *ds = NULL, *sub = NULL;
	uint32_t *owner = NULL, *global = NULL;
	fb_err err = fb_dataset_load(&ds, data);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "cannot load the dataset");
	}
	owner = malloc(((size_t)ds->n_users + 1) * sizeof(*owner));
	err = owner == NULL ? FB_ENOMEM : draw(ds, n, seed, active, owner);
	if (err == FB_OK) {
		err = fb_partition_extract(ds, owner, 0, &sub, &global);
	}
	if (err == FB_OK) {
		err = fb_dataset_save(sub, out);
	}
	if (err == FB_OK) {
		err = write_map(out, global, sub->n_users);
	}
	if (err == FB_OK) {
		fprintf(stderr,
				"subsample: %u of %u users (seed %llu%s), %llu "
				"train pairs, into %s\n",
				sub->n_users, ds->n_users,
				(unsigned long long)seed,
				active ? ", users with bundles" : "",
				(unsigned long long)fb_csr_nnz(&sub->ub_train),
				out);
	}
	free(owner);
	free(global);
	fb_dataset_destroy(sub);
	fb_dataset_destroy(ds);
	return err == FB_OK ? 0 : cli_fail(cmd, err, "subsample failed");
}
