// tools/cmd-datagen.c: `fedbundle datagen`, a synthetic consortium dataset
// (include/fedbundle/data/datagen.h does the work) written with
// fb_dataset_save plus user_cluster.txt. A preset sets the sizes first,
// whatever its position on the command line; every explicit flag then
// overrides. The option table drives both parsing and --help, whose
// defaults are printed from fb_datagen_config_defaults, so they cannot
// drift. Errors are one line; the summary goes to stderr.
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/datagen.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/clock.h"

static const char cmd[] = "datagen";

enum kind { K_U32, K_U64, K_DBL, K_STR };

struct opt {
	const char *name;
	enum kind kind;
	size_t off; // into struct fb_datagen_config
	const char *arg;
	const char *help;
};

#define F(field) offsetof(struct fb_datagen_config, field)

static const struct opt opts[] = {
		{"users", K_U32, F(n_users), "N", "number of users"},
		{"items", K_U32, F(n_items), "N", "number of items"},
		{"bundles", K_U32, F(n_bundles), "N", "number of bundles"},
		{"seed", K_U64, F(seed), "N", "random seed"},
		{"name", K_STR, F(name), "NAME",
				"dataset name, prefix of NAME_data_size.txt"},
		{"dim", K_U32, F(dim), "N", "latent dimension"},
		{"clusters", K_U32, F(n_clusters), "N",
				"user taste clusters (user_cluster.txt)"},
		{"categories", K_U32, F(n_categories), "N",
				"item categories (0: items/500 in [8, 256])"},
		{"brands", K_U32, F(n_brands), "N",
				"brands (0: items/50 in [4, 4096])"},
		{"price-bands", K_U32, F(n_price_bands), "N", "price bands"},
		{"user-spread", K_DBL, F(user_spread), "X",
				"user noise around its cluster centre"},
		{"item-spread", K_DBL, F(item_spread), "X",
				"item noise around its category centre"},
		{"taste", K_DBL, F(taste), "X",
				"sharpness of users' category preferences"},
		{"fine-taste", K_DBL, F(fine_taste), "X",
				"sharpness of choices inside a category"},
		{"bundle-focus", K_DBL, F(bundle_focus), "X",
				"how tightly a bundle keeps to its category"},
		{"zipf", K_DBL, F(item_zipf), "S",
				"item popularity exponent (rank^-S)"},
		{"bundle-zipf", K_DBL, F(bundle_zipf), "S",
				"bundle popularity exponent"},
		{"bundle-size", K_DBL, F(bundle_size_mean), "X",
				"mean items per bundle"},
		{"bundle-size-min", K_U32, F(bundle_size_min), "N",
				"smallest bundle"},
		{"bundle-size-max", K_U32, F(bundle_size_max), "N",
				"largest bundle"},
		{"ui-mean", K_DBL, F(ui_mean), "X", "mean U-I pairs per user"},
		{"ui-min", K_U32, F(ui_min), "N", "fewest U-I pairs per user"},
		{"ui-max", K_U32, F(ui_max), "N", "most U-I pairs per user"},
		{"ub-users", K_DBL, F(ub_user_frac), "F",
				"fraction of users with U-B pairs"},
		{"ub-mean", K_DBL, F(ub_mean), "X",
				"mean U-B pairs of such a user"},
		{"ub-min", K_U32, F(ub_min), "N",
				"fewest U-B pairs of such a user"},
		{"ub-max", K_U32, F(ub_max), "N",
				"most U-B pairs of such a user"},
		{"tune", K_DBL, F(tune_frac), "F",
				"per-user share of U-B pairs in tune"},
		{"test", K_DBL, F(test_frac), "F",
				"per-user share of U-B pairs in test"},
		{"threads", K_U32, F(threads), "N",
				"worker threads (output does not depend on it)"},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))
// getopt_long values: table options are their index; these come after.
enum { O_OUT = N_OPTS, O_PRESET, O_HELP };

static void
print_default(const struct opt *o, const struct fb_datagen_config *def)
{
	const char *p = (const char *)def + o->off;
	switch (o->kind) {
	case K_U32:
		printf("%u", *(const uint32_t *)(const void *)p);
		break;
	case K_U64:
		printf("%llu",
				(unsigned long long)*(
						const uint64_t *)(const void *)
						p);
		break;
	case K_DBL:
		printf("%g", *(const double *)(const void *)p);
		break;
	case K_STR:
		printf("%s", *(const char *const *)(const void *)p);
		break;
	}
}

static void
usage(void)
{
	struct fb_datagen_config def;
	fb_datagen_config_defaults(&def);
	size_t n_presets;
	const struct fb_datagen_preset *pr = fb_datagen_presets(&n_presets);
	printf("usage: fedbundle datagen --out DIR [--preset P] [options]\n"
	       "\n"
	       "Writes a deterministic synthetic consortium dataset: users "
	       "in taste clusters,\nitems with Zipf popularity and "
	       "attributes (price band, brand, category),\nbundles of "
	       "related items, U-I and U-B interactions by taste x "
	       "popularity,\nU-B split per user into train/tune/test. "
	       "The same options and seed give\nbyte-identical files. "
	       "Besides the dataset files, DIR/user_cluster.txt holds\n"
	       "each user's taste cluster (\"user<TAB>cluster\"), which "
	       "`fedbundle partition`\nuses.\n"
	       "\n"
	       "presets (sizes only; default %s):\n",
			"small");
	for (size_t k = 0; k < n_presets; k++) {
		printf("  %-7s %7u users, %6u items, %5u bundles: %s\n",
				pr[k].name, pr[k].n_users, pr[k].n_items,
				pr[k].n_bundles, pr[k].about);
	}
	printf("\noptions (explicit options override the preset):\n"
	       "  --out DIR                output folder, created if "
	       "missing (required)\n"
	       "  --preset P               toy, small, medium or large\n");
	for (size_t k = 0; k < N_OPTS; k++) {
		char left[40];
		snprintf(left, sizeof(left), "--%s %s", opts[k].name,
				opts[k].arg);
		printf("  %-24s %s (", left, opts[k].help);
		print_default(&opts[k], &def);
		printf(")\n");
	}
	printf("  --help                   this text\n");
}

static bool
apply(const struct opt *o, const char *val, struct fb_datagen_config *cfg)
{
	char flag[40];
	snprintf(flag, sizeof(flag), "--%s", o->name);
	void *p = (char *)cfg + o->off;
	switch (o->kind) {
	case K_U32:
		return cli_parse_u32(cmd, flag, val, (uint32_t *)p);
	case K_U64:
		return cli_parse_u64(cmd, flag, val, (uint64_t *)p);
	case K_DBL:
		return cli_parse_double(cmd, flag, val, (double *)p);
	case K_STR:
		*(const char **)p = val;
		return true;
	}
	return false;
}

int
cmd_datagen(int argc, char **argv)
{
	struct option lopts[N_OPTS + 4];
	for (size_t k = 0; k < N_OPTS; k++) {
		lopts[k] = (struct option){
				opts[k].name, required_argument, NULL, (int)k};
	}
	lopts[N_OPTS] = (struct option){"out", required_argument, NULL, O_OUT};
	lopts[N_OPTS + 1] = (struct option){
			"preset", required_argument, NULL, O_PRESET};
	lopts[N_OPTS + 2] = (struct option){"help", no_argument, NULL, O_HELP};
	lopts[N_OPTS + 3] = (struct option){NULL, 0, NULL, 0};
	const char *val[N_OPTS] = {NULL};
	const char *out = NULL, *preset = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
		if (c >= 0 && (size_t)c < N_OPTS) {
			val[c] = optarg;
		} else if (c == O_OUT) {
			out = optarg;
		} else if (c == O_PRESET) {
			preset = optarg;
		} else if (c == O_HELP) {
			usage();
			return 0;
		} else if (c == ':') {
			return cli_usage_error(cmd, "%s needs a value",
					argv[optind - 1]);
		} else {
			return cli_usage_error(cmd, "unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (out == NULL) {
		return cli_usage_error(cmd, "--out DIR is required");
	}
	struct fb_datagen_config cfg;
	fb_datagen_config_defaults(&cfg);
	if (preset != NULL && fb_datagen_apply_preset(&cfg, preset) != FB_OK) {
		return cli_usage_error(cmd,
				"--preset: '%s' is not toy, small, medium or "
				"large",
				preset);
	}
	for (size_t k = 0; k < N_OPTS; k++) {
		if (val[k] != NULL && !apply(&opts[k], val[k], &cfg)) {
			return 2;
		}
	}
	fb_err err = fb_datagen_resolve(&cfg);
	if (err != FB_OK) {
		return cli_usage_error(cmd, "%s", fb_last_error(err));
	}
	double t0 = fb_clock_s();
	struct fb_dataset *ds = NULL;
	uint32_t *cluster = NULL;
	if ((err = fb_datagen_run(&ds, &cfg, &cluster)) != FB_OK) {
		return cli_fail(cmd, err, "generating");
	}
	double t1 = fb_clock_s();
	if ((err = fb_dataset_save(ds, out)) != FB_OK ||
			(err = fb_datagen_write_clusters(
					 out, cluster, ds->n_users)) != FB_OK) {
		fb_dataset_destroy(ds);
		free(cluster);
		return cli_fail(cmd, err, "writing");
	}
	double t2 = fb_clock_s();
	uint64_t ub[3] = {fb_csr_nnz(&ds->ub_train), fb_csr_nnz(&ds->ub_tune),
			fb_csr_nnz(&ds->ub_test)};
	uint64_t ub_all = ub[0] + ub[1] + ub[2];
	uint32_t ub_users = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		ub_users += ds->ub_train.row_ptr[u + 1] >
				ds->ub_train.row_ptr[u];
	}
	double denom = ub_all > 0 ? (double)ub_all / 100.0 : 1.0;
	fprintf(stderr,
			"fedbundle datagen: wrote %s (%s, seed %llu): %u users, "
			"%u bundles, %u items, %u attrs; %llu bundle-item "
			"(mean size %.1f), %llu user-item, %llu user-bundle "
			"over %u users (train %.1f%%, tune %.1f%%, test "
			"%.1f%%); generated in %.2f s, written in %.2f s\n",
			out, cfg.name, (unsigned long long)cfg.seed,
			ds->n_users, ds->n_bundles, ds->n_items, ds->n_attrs,
			(unsigned long long)fb_csr_nnz(&ds->bi),
			(double)fb_csr_nnz(&ds->bi) / ds->n_bundles,
			(unsigned long long)fb_csr_nnz(&ds->ui),
			(unsigned long long)ub_all, ub_users, ub[0] / denom,
			ub[1] / denom, ub[2] / denom, t1 - t0, t2 - t1);
	fb_dataset_destroy(ds);
	free(cluster);
	return 0;
}
