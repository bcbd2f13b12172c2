// tools/cmd-plot.c: `fedbundle plot`, the figures of a sweep's
// results.csv (cmd-sweep.c) with gnuplot, found on PATH at run time:
//   privacy-utility  Recall@20 against the target epsilon, one line per
//                    privacy mode, error bars over seeds, the non-private
//                    run as a labelled point at "inf" and a dashed line;
//   training-curves  Recall@20 per round (mean over seeds), from every
//                    point's rounds.jsonl;
//   retailers        Recall@20 against the number of retailers.
// One panel per combination of the other parameters (retailers, IID or
// Dirichlet alpha, clip, q, ...); a non-private row belongs to every
// panel whose other parameters it shares (clip and q mean nothing to it).
// Each figure is written as PNG and SVG, with its data (.dat) and gnuplot
// script (.gp) beside it, so that it can be redrawn or restyled. This
// file reads the options; tools/plot/ (plot.h) draws, one file per job.
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/util/fsutil.h"
#include "plot/plot.h"
#include "sim/sim.h"

static const char cmd[] = "plot";

static void
usage(void)
{
	printf("usage: fedbundle plot --results FILE --out DIR [--metric "
	       "final|best]\n"
	       "                      [--title TEXT]\n"
	       "\n"
	       "Draws the figures of a sweep (fedbundle sweep) with gnuplot "
	       "(PNG and SVG,\nwith their .dat and .gp files):\n"
	       "  privacy-utility   test Recall@20 against the target epsilon, "
	       "per privacy\n"
	       "                    mode, mean and standard deviation over "
	       "seeds; the\n"
	       "                    non-private run at \"inf\" and as a dashed "
	       "line\n"
	       "  training-curves   test Recall@20 per round (mean over seeds), "
	       "from each\n"
	       "                    point's rounds.jsonl\n"
	       "  retailers         test Recall@20 against the number of "
	       "retailers\n"
	       "One panel per combination of the other parameters "
	       "(retailers, partition...).\n"
	       "\n"
	       "options:\n"
	       "  --results FILE  the sweep's results.csv (its points/ folder "
	       "beside it)\n"
	       "  --out DIR       where the figures go (created)\n"
	       "  --metric M      final (default: after the last round) or "
	       "best (the best\n"
	       "                  round's, chosen on the test split: "
	       "optimistic)\n"
	       "  --title TEXT    what the figures' titles call the run "
	       "(default: the\n"
	       "                  dataset column)\n"
	       "  --reference NAME=VALUE  a dotted horizontal line (e.g. "
	       "popularity=0.2032)\n"
	       "                  on the privacy-utility and retailers "
	       "figures; up to 4\n"
	       "  --help          this text\n"
	       "\n"
	       "gnuplot (Debian: gnuplot-nox) must be on PATH.\n");
}

// ---- reading the CSV ----

// Cuts one CSV field at *p (quotes per RFC 4180); returns it, NUL-ended,

int
cmd_plot(int argc, char **argv)
{
	static const struct option opts[] = {
			{"results", required_argument, NULL, 'r'},
			{"out", required_argument, NULL, 'o'},
			{"metric", required_argument, NULL, 'm'},
			{"title", required_argument, NULL, 't'},
			{"reference", required_argument, NULL, 'R'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	static struct plot_ctx c;
	memset(&c, 0, sizeof(c));
	const char *results = NULL, *title = NULL;
	bool best = false;
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			results = optarg;
			break;
		case 'o':
			c.out = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "best") != 0 &&
					strcmp(optarg, "final") != 0) {
				return cli_usage_error(cmd,
						"--metric: '%s' is not final or "
						"best",
						optarg);
			}
			best = strcmp(optarg, "best") == 0;
			break;
		case 't':
			title = optarg;
			break;
		case 'R': {
			const char *eq = strrchr(optarg, '=');
			double v = 0;
			if (eq == NULL || eq == optarg || eq - optarg >= 64 ||
					strpbrk(optarg, "\"\\") != NULL ||
					!cli_parse_double(cmd, "--reference",
							eq + 1, &v)) {
				return cli_usage_error(cmd,
						"--reference: '%s' is not "
						"NAME=VALUE",
						optarg);
			}
			if (c.n_refs == 4) {
				return cli_usage_error(
						cmd, "--reference: at most 4");
			}
			snprintf(c.ref_name[c.n_refs], 64, "%.*s",
					(int)(eq - optarg), optarg);
			c.ref_value[c.n_refs++] = v;
			break;
		}
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
	if (results == NULL || c.out == NULL) {
		return cli_usage_error(cmd,
				"--results FILE and --out DIR are "
				"required");
	}
	char gnuplot[SIM_PATH_MAX];
	fb_err err = plot_find_gnuplot(gnuplot, sizeof(gnuplot));
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	c.gnuplot = gnuplot;
	if ((err = plot_table_load(&c.t, results)) != FB_OK) {
		plot_table_free(&c.t);
		return cli_fail(cmd, err, "reading the results");
	}
	static const char *const need[] = {"privacy", "epsilon", "retailers",
			"partition", "seed", "final_recall@20",
			"best_recall@20", "dir", NULL};
	for (size_t i = 0; need[i] != NULL; i++) {
		if (plot_col(&c.t, need[i]) < 0) {
			fprintf(stderr,
					"fedbundle %s: %s: no column \"%s\" (not a "
					"fedbundle sweep's results.csv?)\n",
					cmd, results, need[i]);
			plot_table_free(&c.t);
			return 1;
		}
	}
	if (c.t.n_rows == 0) {
		fprintf(stderr, "fedbundle %s: %s: no finished point yet\n",
				cmd, results);
		plot_table_free(&c.t);
		return 1;
	}
	char dir_buf[SIM_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", results);
	c.csv_dir = dirname(dir_buf);
	c.metric_col = best ? "best_recall@20" : "final_recall@20";
	c.metric_text = best ? "best-round test Recall\\\\@20"
			     : "test Recall\\\\@20 after the last round";
	snprintf(c.title, sizeof(c.title), "%s",
			title != NULL ? title : plot_cell(&c.t, 0, "dataset"));
	if (c.title[0] == '\0') {
		snprintf(c.title, sizeof(c.title), "fedbundle simulation");
	}
	// Seeds per point, rounds and delta, for the labels.
	size_t seeds = 0;
	for (size_t r = 0; r < c.t.n_rows; r++) {
		size_t n = 0;
		for (size_t q = 0; q < c.t.n_rows; q++) {
			n += plot_same_panel(&c.t, q, r, NULL) &&
					strcmp(plot_cell(&c.t, q, "privacy"),
							plot_cell(&c.t, r,
									"privacy")) ==
							0 &&
					strcmp(plot_cell(&c.t, q, "epsilon"),
							plot_cell(&c.t, r,
									"epsilon")) ==
							0;
		}
		seeds = n > seeds ? n : seeds;
	}
	c.seeds = seeds;
	snprintf(c.delta, sizeof(c.delta), "%s", "?");
	snprintf(c.rounds, sizeof(c.rounds), "%s",
			plot_cell(&c.t, 0, "rounds"));
	for (size_t r = 0; r < c.t.n_rows; r++) {
		double n = plot_num(plot_cell(&c.t, r, "rounds"));
		c.max_rounds = n > c.max_rounds ? n : c.max_rounds;
	}
	for (size_t r = 0; r < c.t.n_rows; r++) {
		if (plot_cell(&c.t, r, "delta")[0] != '\0') {
			snprintf(c.delta, sizeof(c.delta), "%s",
					plot_cell(&c.t, r, "delta"));
		}
	}
	snprintf(c.note, sizeof(c.note),
			"{/*0.75 %s rounds; user DP: each retailer noises its "
			"own customers' contributions (trust nobody); client "
			"DP: the aggregator adds the noise (trust the "
			"aggregator)}\\n{/*0.75 %s}",
			c.rounds, SIM_NOISE_NOTE);
	if ((err = fb_mkdir_p(c.out)) != FB_OK ||
			(err = plot_write_tables(&c)) != FB_OK ||
			(err = plot_privacy_utility(&c)) != FB_OK ||
			(err = plot_curves(&c)) != FB_OK ||
			(err = plot_retailers(&c)) != FB_OK) {
		plot_table_free(&c.t);
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	printf("fedbundle plot: wrote privacy-utility, training-curves and "
	       "retailers (.png, .svg, .dat, .gp) and privacy-utility.md in "
	       "%s\n",
			c.out);
	plot_table_free(&c.t);
	return 0;
}
