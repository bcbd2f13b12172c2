// tools/cmd-import.c: `fedbundle import`, a retailer's CSV exports -> a
// dataset folder (include/fedbundle/data/csvimport.h does the work). Errors are
// one line naming the file and line; on success one summary line with the
// counts goes to stderr, so scripts can keep stdout for themselves.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/csvimport.h"

static const char *const usage_text =
		"usage: fedbundle import --bundles FILE --interactions FILE "
		"--out DIR [options]\n"
		"       fedbundle import --catalog DIR --interactions FILE "
		"--out DIR [options]\n"
		"\n"
		"In a consortium, import with --catalog: bundles and items "
		"then take the\nconsortium's catalogue numbering (`fedbundle "
		"catalog build`), the folder\nholds the catalogue's files, "
		"and rows naming a bundle or an item the\ncatalogue lacks are "
		"counted, reported (file:line) and skipped, or with\n--strict "
		"refused. Customers are numbered here (users.map).\n"
		"Without --catalog:\n"
		"Turns CSV exports (RFC 4180, header row naming the columns) "
		"into a dataset\nfolder: the bundle catalogue (columns "
		"bundle_id,item_id: one row per\nmembership), the user-bundle "
		"interactions (user_id,bundle_id) and,\noptionally, user-item "
		"interactions (user_id,item_id). Other columns, such as\na "
		"timestamp, are ignored. Ids may be any strings; they are "
		"numbered densely\nin order of first appearance and the "
		"numbering is saved in users.map,\nbundles.map and items.map "
		"(\"dense_id<TAB>original_id\"). Repeated rows are\nmerged and "
		"counted. Interactions are split per user into train/tune/test;\n"
		"users with at least 3 get at least one in each split.\n"
		"\n"
		"Files must be UTF-8 (the first bad byte is an error at "
		"file:line:column)\nand hold at least one data row. Spaces "
		"around ids are trimmed; trimmed\nids, merged repeated rows and "
		"an empty split are warned about on stderr.\n"
		"\n"
		"options:\n"
		"  --catalog DIR         the consortium's catalogue folder\n"
		"  --strict              with --catalog: refuse (exit 1, "
		"nothing written)\n"
		"                        if a row names an unknown bundle or "
		"item\n"
		"  --bundles FILE        bundle catalogue CSV (required "
		"without --catalog)\n"
		"  --interactions FILE   user-bundle CSV (required)\n"
		"  --user-items FILE     user-item CSV\n"
		"  --out DIR             output folder, created if missing "
		"(required)\n"
		"  --name NAME           dataset name, the prefix of "
		"NAME_data_size.txt\n"
		"                        (default: the last component of DIR)\n"
		"  --seed N              seed of the split (default 1)\n"
		"  --split T,V,E         train,tune,test fractions (default "
		"0.7,0.1,0.2)\n"
		"  --help                this text\n";

static const char cmd[] = "import";

// Parses "T,V,E" into three fractions; prints one usage error if it
// cannot. Range and sum are checked by the importer.
static bool
parse_split(const char *s, double frac[3])
{
	const char *p = s;
	for (int k = 0; k < 3; k++) {
		char *end = NULL;
		errno = 0;
		frac[k] = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(frac[k]) ||
				*end != (k < 2 ? ',' : '\0')) {
			cli_usage_error(cmd,
					"--split: '%s' is not three comma-separated fractions",
					s);
			return false;
		}
		p = end + 1;
	}
	return true;
}

// The last path component of dir (without trailing slashes), malloc'd.
static char *
default_name(const char *dir)
{
	size_t end = strlen(dir);
	while (end > 1 && dir[end - 1] == '/') {
		end--;
	}
	size_t start = end;
	while (start > 0 && dir[start - 1] != '/') {
		start--;
	}
	return strndup(dir + start, end - start);
}

// One line for one input mapped onto the catalogue: rows, rows kept, rows
// naming what the catalogue lacks and where the first of them are.
static void
report(const char *path, const struct fb_csvimport_file_report *r,
		const char *what)
{
	fprintf(stderr,
			"fedbundle import: %s: %llu rows, %llu mapped, %llu "
			"name %s not in the catalogue",
			path, (unsigned long long)r->rows,
			(unsigned long long)(r->rows - r->unknown),
			(unsigned long long)r->unknown, what);
	for (uint32_t k = 0; k < r->n_first; k++) {
		fprintf(stderr, "%s%s:%zu '%s'", k == 0 ? " (" : ", ", path,
				r->first_line[k], r->first_id[k]);
	}
	fprintf(stderr, "%s\n",
			r->n_first == 0                           ? ""
					: r->unknown > r->n_first ? ", ...)"
								  : ")");
}

// Warns (stderr) of what the import accepted but changed or found
// wanting: trimmed ids, merged repeated rows, a split left empty.
static void
warn_import(const struct fb_csvimport_options *opt,
		const struct fb_csvimport_summary *sum)
{
	const struct fb_csvimport_notes *nt = &sum->notes;
	if (nt->trimmed > 0) {
		fprintf(stderr,
				"fedbundle import: warning: %llu id(s) had spaces "
				"around them and were trimmed (first %s:%zu)\n",
				(unsigned long long)nt->trimmed,
				nt->trimmed_path, nt->trimmed_line);
	}
	const struct {
		const char *path, *what;
		uint64_t n;
	} dup[] = {
			{opt->bundles_path, "bundle-item",
					sum->dup_bundle_items},
			{opt->interactions_path, "user-bundle",
					sum->dup_user_bundles},
			{opt->user_items_path, "user-item",
					sum->dup_user_items},
	};
	for (size_t k = 0; k < sizeof(dup) / sizeof(dup[0]); k++) {
		if (dup[k].n > 0 && dup[k].path != NULL) {
			fprintf(stderr,
					"fedbundle import: warning: %s: %llu "
					"repeated %s row(s) merged (a pair "
					"counts once)\n",
					dup[k].path,
					(unsigned long long)dup[k].n,
					dup[k].what);
		}
	}
	static const char *const split[3] = {"train", "tune", "test"};
	for (int k = 0; k < 3; k++) {
		if (opt->split[k] > 0 && sum->n_split[k] == 0) {
			fprintf(stderr,
					"fedbundle import: warning: the %s split "
					"is empty (--split gives it %g; only "
					"users with at least 3 interactions "
					"get tune and test pairs)\n",
					split[k], opt->split[k]);
		}
	}
}

int
cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
			{"catalog", required_argument, NULL, 'c'},
			{"strict", no_argument, NULL, 'S'},
			{"bundles", required_argument, NULL, 'b'},
			{"interactions", required_argument, NULL, 'i'},
			{"user-items", required_argument, NULL, 'u'},
			{"out", required_argument, NULL, 'o'},
			{"name", required_argument, NULL, 'n'},
			{"seed", required_argument, NULL, 's'},
			{"split", required_argument, NULL, 'p'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	struct fb_csvimport_options opt;
	fb_csvimport_options_init(&opt);
	opt.name = NULL;
	const char *out = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.catalog_dir = optarg;
			break;
		case 'S':
			opt.strict = true;
			break;
		case 'b':
			opt.bundles_path = optarg;
			break;
		case 'i':
			opt.interactions_path = optarg;
			break;
		case 'u':
			opt.user_items_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'n':
			opt.name = optarg;
			break;
		case 's':
			if (!cli_parse_u64(cmd, "--seed", optarg, &opt.seed)) {
				return 2;
			}
			break;
		case 'p':
			if (!parse_split(optarg, opt.split)) {
				return 2;
			}
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
	if (opt.catalog_dir != NULL && opt.bundles_path != NULL) {
		return cli_usage_error(cmd,
				"--catalog and --bundles exclude each other (the "
				"catalogue holds the bundles)");
	}
	if (opt.catalog_dir == NULL && opt.strict) {
		return cli_usage_error(cmd, "--strict needs --catalog");
	}
	if (opt.bundles_path == NULL && opt.catalog_dir == NULL) {
		return cli_usage_error(cmd,
				"--bundles FILE or --catalog DIR is required");
	}
	if (opt.interactions_path == NULL) {
		return cli_usage_error(cmd, "--interactions FILE is required");
	}
	if (out == NULL) {
		return cli_usage_error(cmd, "--out DIR is required");
	}
	char *name = NULL;
	if (opt.name == NULL) {
		name = default_name(out);
		if (name == NULL) {
			return cli_fail(cmd, FB_ENOMEM, "import");
		}
		if (name[0] == '\0' || strcmp(name, "/") == 0 ||
				strcmp(name, ".") == 0 ||
				strcmp(name, "..") == 0) {
			free(name);
			return cli_usage_error(cmd,
					"cannot derive a dataset name from '%s'; give --name",
					out);
		}
		opt.name = name;
	}
	struct fb_csvimport_summary sum;
	memset(&sum, 0, sizeof(sum));
	fb_err err = fb_csvimport_run(&opt, out, &sum);
	free(name);
	if (opt.catalog_dir != NULL) {
		report(opt.interactions_path, &sum.interactions, "bundles");
		if (opt.user_items_path != NULL) {
			report(opt.user_items_path, &sum.user_items, "items");
		}
	}
	if (err == FB_EINVAL) {
		// Bad options: a split that does not sum to 1, a bad name, an
		// --out folder that holds another dataset.
		return cli_usage_error(cmd, "%s", fb_last_error(err));
	}
	if (err != FB_OK) {
		return cli_fail(cmd, err, "failed");
	}
	fprintf(stderr,
			"fedbundle import: wrote %s: %u users, %u bundles, %u "
			"items; %llu bundle-item, %llu user-bundle (train %llu, "
			"tune %llu, test %llu), %llu user-item; merged "
			"duplicates: %llu bundle-item, %llu user-bundle, %llu "
			"user-item\n",
			out, sum.n_users, sum.n_bundles, sum.n_items,
			(unsigned long long)sum.n_bundle_items,
			(unsigned long long)sum.n_user_bundles,
			(unsigned long long)sum.n_split[0],
			(unsigned long long)sum.n_split[1],
			(unsigned long long)sum.n_split[2],
			(unsigned long long)sum.n_user_items,
			(unsigned long long)sum.dup_bundle_items,
			(unsigned long long)sum.dup_user_bundles,
			(unsigned long long)sum.dup_user_items);
	warn_import(&opt, &sum);
	return 0;
}
