// tools/cmd-sweep.c: `fedbundle sweep`, many simulations (sim.h) over the
// cartesian product of chosen parameters, resumable, into one CSV.
// Grid file: {"base": "sim.json" or {...a simulation config...},
//             "axes": {"epsilon": [1, 2, "inf"], "privacy": ["user"], ...}}
// An axis is any key of the simulation config ("rounds", "round.lr",
// "server.server_lr", ...) or one of: epsilon (a number, or "inf" for the
// non-private run), partition ("iid", or a number: Dirichlet alpha),
// clip, q, local_epochs (round.clip, round.q, round.local_epochs).
// Every point is checked before anything runs. Points that differ only in
// what their privacy mode ignores (epsilon, clip and q without privacy; q
// under client-level DP) are one run.
// Resumable: each point runs in its own child process (forked by this
// parent, which never touches NNG) into OUT/points/<id>/ and, when it
// finished, writes OUT/points/<id>/done atomically (its results, and the
// hash of its resolved configuration). A rerun skips points whose marker
// holds the same hash; OUT/results.csv is rewritten atomically from the
// markers after every point, so it holds each finished point once.
// On a cluster an existing engine (a Slurm job array, GNU parallel over
// ssh) runs the points: --list numbers them, --point K runs one into the
// shared OUT through the same runner, --collect writes results.csv. OUT
// records the grid's hash (OUT/sweep.json) and refuses another grid; a
// point runs only under its flock (OUT/points/<id>/lock), so two workers
// on one point cannot both run it; only --jobs and --collect write the
// top-level results.csv, each by an atomic rename (sharedfs.h).

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "sweep/sweep.h"

static const char cmd[] = SWEEP_CMD;

static void
usage(void)
{
	printf("usage: fedbundle sweep --grid FILE --out DIR [--jobs N] "
	       "[--scratch DIR]\n"
	       "       fedbundle sweep --grid FILE [--out DIR] --list "
	       "[--json]\n"
	       "       fedbundle sweep --grid FILE --out DIR --point K\n"
	       "       fedbundle sweep --grid FILE --out DIR --collect\n"
	       "\n"
	       "Runs one simulation (`fedbundle simulate`) per point of the "
	       "cartesian product\nof the grid's axes and collects "
	       "OUT/results.csv: one row per point with\nits parameters, "
	       "final and best Recall@20, NDCG@20, Recall@40, NDCG@40,\n"
	       "the epsilon spent, the rounds and the wall time. Each point "
	       "runs in its own\nprocess into OUT/points/<id>/ (the "
	       "simulation's files) and leaves a 'done'\nmarker: an "
	       "interrupted sweep run again skips the finished points.\n"
	       "Every run: %s.\n"
	       "\n"
	       "grid file:\n"
	       "  {\"base\": \"sim.json\" (relative to the grid file) or "
	       "{...inline config...},\n"
	       "   \"axes\": {\"epsilon\": [1, 2, 4, 8, \"inf\"], \"privacy\": "
	       "[\"user\", \"client\"],\n"
	       "            \"retailers\": [4, 16], \"partition\": [\"iid\", "
	       "0.5], \"seed\": [1, 2, 3]}}\n"
	       "  axes: any simulation key (\"rounds\", \"round.lr\", "
	       "\"server.server_lr\"...),\n"
	       "  epsilon (\"inf\": the non-private run), partition (\"iid\" or "
	       "a Dirichlet alpha),\n"
	       "  clip, q, local_epochs (the round's clip, q, "
	       "local_epochs).\n"
	       "  Points a privacy mode makes identical (epsilon, clip, q "
	       "without privacy;\n"
	       "  q with client-level DP) run once.\n"
	       "  \"per_privacy\": {\"none\": {...}, \"user\": {...}, "
	       "\"client\": {...}} (optional):\n"
	       "  keys applied to the points of that privacy mode after the "
	       "axes (e.g. the\n"
	       "  non-private runs' own optimizer).\n"
	       "\n"
	       "options:\n"
	       "  --grid FILE     the grid (required)\n"
	       "  --out DIR       output folder (required; reuse it to "
	       "resume)\n"
	       "  --jobs N        points run at the same time (default 1; "
	       "each uses the\n"
	       "                  configuration's threads)\n"
	       "  --scratch DIR   ledgers, states and checkpoints under DIR "
	       "(e.g. tmpfs)\n"
	       "  --keep-work     keep each point's work folder (ledgers, "
	       "states)\n"
	       "  --dry-run       print the points' folder names and exit\n"
	       "\n"
	       "on a cluster (a Slurm job array, GNU parallel; "
	       "docs/research.md):\n"
	       "  --list          print every point: its index K, folder "
	       "name and settings\n"
	       "                  (tab-separated, grid order), then the "
	       "count\n"
	       "  --json          with --list: one JSON object instead\n"
	       "  --point K       run point K (0-based) into the shared "
	       "OUT; a done point\n"
	       "                  is skipped; one running elsewhere (its "
	       "lock held) is\n"
	       "                  refused with status 75\n"
	       "  --collect       write OUT/results.csv from the finished "
	       "points; name the\n"
	       "                  missing ones (status 1 if any)\n"
	       "  --help          this text\n"
	       "\n"
	       "OUT/sweep.json records the grid's hash: OUT refuses another "
	       "grid.\n",
			SIM_NOISE_NOTE);
}

// ---- the modes ----

struct args {
	const char *grid;
	uint32_t jobs;
	bool jobs_set;
	bool dry;
	bool list;
	bool json;
	bool collect;
	bool point_set;
	uint32_t point;
};

// --list: index, folder name and settings of every point, then the count;
// with --json one object. With --out, the folder's grid must be this one.
static int
list_points(const struct grid *g, const struct sweep *sw, const struct args *a)
{
	if (sw->out != NULL) {
		fb_err err = sweep_check_record(
				sw->out, a->grid, sw->pts, sw->n, false);
		if (err != FB_OK) {
			fprintf(stderr, "fedbundle %s: %s\n", cmd,
					fb_last_error(err));
			return 1;
		}
	}
	char hash[2 * FB_HASH_LEN + 1];
	sweep_grid_hash(sw->pts, sw->n, hash);
	if (a->json) {
		printf("{\"sweep_grid_hash\": \"%s\", \"count\": %zu, \"points\": [",
				hash, sw->n);
	}
	static char vals[N_COLUMNS][128];
	for (size_t k = 0; k < sw->n; k++) {
		const struct point *p = &sw->pts[k];
		if (a->json) {
			printf("%s\n {\"index\": %zu, \"id\": ",
					k > 0 ? "," : "", k);
			fb_config_write_string(stdout, p->id);
			printf(", \"hash\": \"%s\", \"settings\": {", p->hash);
		} else {
			printf("%zu\t%s\t", k, p->id);
		}
		for (size_t i = 0; i < g->n_axes; i++) {
			const char *v = sweep_point_value(p, g, i);
			if (a->json) {
				printf("%s", i > 0 ? ", " : "");
				fb_config_write_string(stdout, g->axes[i].name);
				printf(": %s", v);
			} else {
				char val[VALUE_MAX];
				sweep_unquote(val, sizeof(val), v);
				printf("%s%s=%s", i > 0 ? " " : "",
						g->axes[i].name, val);
			}
		}
		if (!a->json) {
			printf("\n");
		} else if (sw->out != NULL) {
			printf("}, \"done\": %s}",
					sweep_read_done(sw->out, p, vals)
							? "true"
							: "false");
		} else {
			printf("}}");
		}
	}
	if (a->json) {
		printf("\n]}\n");
	} else {
		printf("%zu points\n", sw->n);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

// --collect: results.csv from the markers; names the points missing and
// fails if any is.
static int
collect(const struct sweep *sw, const struct args *a)
{
	struct stat st;
	if (stat(sw->out, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr,
				"fedbundle %s: %s: no such output folder (no "
				"point ran into it)\n",
				cmd, sw->out);
		return 1;
	}
	fb_err err = sweep_check_record(
			sw->out, a->grid, sw->pts, sw->n, false);
	size_t n_done = 0;
	if (err == FB_OK) {
		err = sweep_write_csv(sw->out, sw->pts, sw->n, &n_done);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	fprintf(stderr,
			"fedbundle sweep: %zu of %zu points done; results in "
			"%s/results.csv\n",
			n_done, sw->n, sw->out);
	if (n_done == sw->n) {
		return 0;
	}
	static char vals[N_COLUMNS][128];
	char path[SIM_PATH_MAX + 700];
	fprintf(stderr, "fedbundle sweep: %zu missing:\n", sw->n - n_done);
	for (size_t k = 0; k < sw->n; k++) {
		const struct point *p = &sw->pts[k];
		if (sweep_read_done(sw->out, p, vals)) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/points/%s/log.txt", sw->out,
				p->id);
		bool started = access(path, F_OK) == 0;
		fprintf(stderr, "  %zu\t%s\t%s%s\n", k, p->id,
				started ? "running or failed: see " : "not run",
				started ? path : "");
	}
	fprintf(stderr, "fedbundle sweep: missing indices (for --array): ");
	for (size_t k = 0, first = 1; k < sw->n; k++) {
		if (!sweep_read_done(sw->out, &sw->pts[k], vals)) {
			fprintf(stderr, "%s%zu", first ? "" : ",", k);
			first = 0;
		}
	}
	fputc('\n', stderr);
	return 1;
}

// Creates OUT/points and records (or checks) the grid.
static int
prepare_out(const struct sweep *sw, const struct args *a)
{
	char *points_dir = fb_path_join(sw->out, "points");
	fb_err err = points_dir == NULL ? FB_ENOMEM : fb_mkdir_p(points_dir);
	free(points_dir);
	if (err == FB_OK) {
		err = sweep_check_record(
				sw->out, a->grid, sw->pts, sw->n, true);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	return 0;
}

// --point K: runs point K into the shared folder, unless it is done.
static int
run_one(struct sweep *sw, const struct args *a)
{
	size_t k = a->point;
	struct point *p = &sw->pts[k];
	static char vals[N_COLUMNS][128];
	if (sweep_read_done(sw->out, p, vals)) {
		fprintf(stderr,
				"fedbundle sweep: point %zu (%s) is already done: "
				"skipped\n",
				k, p->id);
		return 0;
	}
	p->todo = true;
	sw->single = true;
	fprintf(stderr,
			"fedbundle sweep: point %zu of %zu: %s; log in "
			"%s/points/%s/log.txt; %s\n",
			k, sw->n, p->id, sw->out, p->id, SIM_NOISE_NOTE);
	sweep_catch_signals();
	struct tally t = {0};
	sweep_run_points(sw, 1, 1, &t);
	if (sweep_stop_signal != 0) {
		return 130;
	}
	return t.busy > 0 ? EXIT_BUSY : t.failed > 0 || t.ran == 0 ? 1 : 0;
}

// The whole sweep, --jobs at a time, results.csv after every point.
static int
run_all(struct sweep *sw, uint32_t jobs)
{
	static char vals[N_COLUMNS][128];
	size_t skipped = 0;
	for (size_t i = 0; i < sw->n; i++) {
		sw->pts[i].done = sweep_read_done(sw->out, &sw->pts[i], vals);
		sw->pts[i].todo = !sw->pts[i].done;
		skipped += sw->pts[i].done;
	}
	struct tally t = {0};
	fb_err err = sweep_write_csv(sw->out, sw->pts, sw->n, &t.n_done);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "writing results.csv");
	}
	fprintf(stderr,
			"fedbundle sweep: %zu points (%zu already done), %u at "
			"a time; %s\n",
			sw->n, skipped, jobs, SIM_NOISE_NOTE);
	sweep_catch_signals();
	double t0 = fb_clock_s();
	sweep_run_points(sw, jobs, sw->n - skipped, &t);
	char e[32], busy[64] = "";
	sweep_hms(e, sizeof(e), fb_clock_s() - t0);
	if (t.busy > 0) {
		snprintf(busy, sizeof(busy), ", %zu being run elsewhere",
				t.busy);
	}
	fprintf(stderr,
			"fedbundle sweep: %zu of %zu points done (%zu run now, "
			"%zu failed%s) in %s; results in %s/results.csv\n",
			t.n_done, sw->n, t.ran - t.busy - t.elsewhere, t.failed,
			busy, e, sw->out);
	if (sweep_stop_signal != 0) {
		return 130;
	}
	return t.failed > 0 ? 1 : 0;
}

// Checks the options against each other; a usage error's status or 0.
static int
check_args(const struct args *a, const char *out)
{
	int modes = a->dry + a->list + a->collect + a->point_set;
	if (modes > 1) {
		return cli_usage_error(cmd,
				"--list, --point, --collect and "
				"--dry-run exclude each other");
	}
	if (a->json && !a->list) {
		return cli_usage_error(cmd, "--json goes with --list");
	}
	if (a->jobs_set && modes > 0) {
		return cli_usage_error(cmd,
				"--jobs: only for a whole sweep "
				"(not with --list, --point, "
				"--collect or --dry-run)");
	}
	if (a->grid == NULL) {
		return cli_usage_error(cmd, "--grid FILE is required");
	}
	if (out == NULL && !a->dry && !a->list) {
		return cli_usage_error(cmd, "--out DIR is required");
	}
	return 0;
}

// Parses the options into a and sw; a usage error's status, -1 for
// --help (printed), or 0.
static int
parse_args(int argc, char **argv, struct args *a, struct sweep *sw)
{
	static const struct option opts[] = {
			{"grid", required_argument, NULL, 'g'},
			{"out", required_argument, NULL, 'o'},
			{"jobs", required_argument, NULL, 'j'},
			{"scratch", required_argument, NULL, 'S'},
			{"keep-work", no_argument, NULL, 'k'},
			{"dry-run", no_argument, NULL, 'n'},
			{"list", no_argument, NULL, 'l'},
			{"json", no_argument, NULL, 'J'},
			{"point", required_argument, NULL, 'p'},
			{"collect", no_argument, NULL, 'c'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			a->grid = optarg;
			break;
		case 'o':
			sw->out = optarg;
			break;
		case 'j':
			if (!cli_parse_u32(cmd, "--jobs", optarg, &a->jobs)) {
				return 2;
			}
			if (a->jobs == 0 || a->jobs > 64) {
				return cli_usage_error(
						cmd, "--jobs: must be 1..64");
			}
			a->jobs_set = true;
			break;
		case 'S':
			sw->scratch = optarg;
			break;
		case 'k':
			sw->keep_work = true;
			break;
		case 'n':
			a->dry = true;
			break;
		case 'l':
			a->list = true;
			break;
		case 'J':
			a->json = true;
			break;
		case 'p':
			if (!cli_parse_u32(cmd, "--point", optarg, &a->point)) {
				return 2;
			}
			a->point_set = true;
			break;
		case 'c':
			a->collect = true;
			break;
		case 'h':
			usage();
			return -1;
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
	return check_args(a, sw->out);
}

static int
dispatch(struct sweep *sw, const struct grid *g, const struct args *a)
{
	if (a->dry) {
		for (size_t i = 0; i < sw->n; i++) {
			printf("%s\n", sw->pts[i].id);
		}
		printf("%zu points\n", sw->n);
		return 0;
	}
	if (a->list) {
		return list_points(g, sw, a);
	}
	if (a->point_set && a->point >= sw->n) {
		return cli_usage_error(cmd,
				"--point %u: out of range: %s has %zu points "
				"(0 to %zu)",
				a->point, a->grid, sw->n, sw->n - 1);
	}
	if (a->collect) {
		return collect(sw, a);
	}
	int rc = prepare_out(sw, a);
	if (rc != 0) {
		return rc;
	}
	return a->point_set ? run_one(sw, a) : run_all(sw, a->jobs);
}

int
cmd_sweep(int argc, char **argv)
{
	struct args a = {.jobs = 1};
	struct sweep sw = {0};
	fb_log_set_level(FB_LOG_ERROR);
	int rc = parse_args(argc, argv, &a, &sw);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	static struct grid g;
	fb_err err = sweep_grid_load(&g, a.grid);
	if (err == FB_OK) {
		err = sweep_make_points(&g, &sw.pts, &sw.n);
	}
	free(g.base_text);
	for (int k = 0; k < 3; k++) {
		free(g.per_privacy[k]);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	rc = dispatch(&sw, &g, &a);
	free(sw.pts);
	return rc;
}
