// tools/cmd-catalog.c: `fedbundle catalog`, the consortium's catalogue.
// `build` turns the catalogue's CSV exports into the catalogue folder
// every party uses (include/fedbundle/data/catdir.h; the CSV work is in
// csvimport.h); `digest` prints the catalogue digest of any dataset
// folder, the version id the aggregator's `catalog_digest` names. The
// digest goes to stdout alone, so scripts can capture it.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/data/csvimport.h"

static const char *const usage_text =
		"usage: fedbundle catalog build --bundles FILE --out DIR "
		"[options]\n"
		"       fedbundle catalog digest DIR\n"
		"\n"
		"build: the consortium's catalogue, built once and given to "
		"the aggregator\nand every retailer (docs/operations.md). "
		"CSV files with a header row:\n"
		"  --bundles FILE       bundle_id,item_id: one row per "
		"membership (required)\n"
		"  --items FILE         item_id[,name][,attrs][,price]: items, "
		"their names,\n"
		"                       attribute ids separated by '|' and "
		"prices (a\n"
		"                       decimal such as 4.99, for compose "
		"--max-price);\n"
		"                       may add items no bundle holds\n"
		"  --attrs FILE         item_id,attr_id: one row per item "
		"attribute\n"
		"  --bundle-names FILE  bundle_id,name\n"
		"  --out DIR            the catalogue folder (required)\n"
		"  --name NAME          dataset name (default Catalog)\n"
		"Dense ids follow first appearance (bundles file, then items "
		"file, then\nattributes file). Prints the catalogue digest on "
		"stdout.\n"
		"\n"
		"digest: prints the catalogue digest of a dataset folder (a "
		"catalogue or a\nretailer's folder imported onto it: both "
		"give the same digest).\n";

static const char cmd[] = "catalog";

static int
build(int argc, char **argv)
{
	static const struct option opts[] = {
			{"bundles", required_argument, NULL, 'b'},
			{"items", required_argument, NULL, 'i'},
			{"attrs", required_argument, NULL, 'a'},
			{"bundle-names", required_argument, NULL, 'n'},
			{"out", required_argument, NULL, 'o'},
			{"name", required_argument, NULL, 'N'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	struct fb_csvimport_catalog_options opt = {.name = "Catalog"};
	const char *out = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			opt.bundles_path = optarg;
			break;
		case 'i':
			opt.items_path = optarg;
			break;
		case 'a':
			opt.attrs_path = optarg;
			break;
		case 'n':
			opt.bundle_names_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'N':
			opt.name = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
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
	if (opt.bundles_path == NULL || out == NULL) {
		return cli_usage_error(cmd, "build needs --bundles and --out");
	}
	struct fb_csvimport_catalog_summary sum;
	fb_err err = fb_csvimport_catalog(&opt, out, &sum);
	if (err == FB_EINVAL) {
		return cli_usage_error(cmd, "%s", fb_last_error(err));
	}
	if (err != FB_OK) {
		return cli_fail(cmd, err, "build failed");
	}
	char hex[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(sum.digest, hex);
	fprintf(stderr,
			"fedbundle catalog: wrote %s: %u bundles, %u items, %u "
			"attrs; %llu bundle-item, %llu item-attr; names: %u "
			"bundles, %u items; prices: %u items; merged "
			"duplicates: %llu bundle-item, %llu item-attr\n",
			out, sum.n_bundles, sum.n_items, sum.n_attrs,
			(unsigned long long)sum.n_bundle_items,
			(unsigned long long)sum.n_item_attrs, sum.named_bundles,
			sum.named_items, sum.priced_items,
			(unsigned long long)sum.dup_bundle_items,
			(unsigned long long)sum.dup_item_attrs);
	if (sum.dup_bundle_items > 0 || sum.dup_item_attrs > 0) {
		fprintf(stderr,
				"fedbundle catalog: warning: repeated rows merged "
				"(a pair counts once): %llu bundle-item (%s), "
				"%llu item-attr\n",
				(unsigned long long)sum.dup_bundle_items,
				opt.bundles_path,
				(unsigned long long)sum.dup_item_attrs);
	}
	if (sum.notes.trimmed > 0) {
		fprintf(stderr,
				"fedbundle catalog: warning: %llu id(s) had "
				"spaces around them and were trimmed (first "
				"%s:%zu)\n",
				(unsigned long long)sum.notes.trimmed,
				sum.notes.trimmed_path, sum.notes.trimmed_line);
	}
	printf("%s\n", hex);
	return 0;
}

static int
digest(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		return cli_usage_error(cmd, "digest takes one folder");
	}
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, argv[1]);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "cannot load");
	}
	uint8_t d[FB_HASH_LEN];
	fb_catdir_digest(ds, d);
	char hex[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(d, hex);
	printf("%s\n", hex);
	if (!ds->has_ids) {
		fprintf(stderr,
				"fedbundle catalog: %s has no bundles.map and "
				"items.map: the digest covers its relations "
				"only\n",
				argv[1]);
	}
	fb_dataset_destroy(ds);
	return 0;
}

int
cmd_catalog(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
			strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "build") == 0) {
		return build(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "digest") == 0) {
		return digest(argc - 1, argv + 1);
	}
	return cli_usage_error(cmd, "unknown subcommand '%s' (build, digest)",
			argv[1]);
}
