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
// script (.gp) beside it, so that it can be redrawn or restyled.
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
#include "fedbundle/fsutil.h"
#include "sim/sim.h"

static const char cmd[] = "plot";

#define MAX_COLS 64
#define MAX_PANELS 12
#define MAX_SERIES 32
#define MAX_ROUNDS 10000

// The parameters that define a panel (besides privacy, epsilon, seed).
static const char *const panel_params[] = {"dataset", "retailers", "partition",
		"alpha", "rounds", "clip", "q", "local_epochs", "lr", NULL};
// panel_params from this index on are training settings.
#define FIRST_TRAINING_PARAM 5

struct table {
	char *text; // the file, cut into fields in place
	char *names[MAX_COLS];
	size_t n_cols;
	char ***rows; // rows[r][c]
	size_t n_rows;
};

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
// and moves *p past its separator. *eol is set at the end of a line.
static char *
next_field(char **p, bool *eol)
{
	char *s = *p, *out = s, *w = s;
	if (*s == '"') {
		s++;
		for (;;) {
			if (*s == '\0') {
				break;
			}
			if (*s == '"' && s[1] == '"') {
				*w++ = '"';
				s += 2;
				continue;
			}
			if (*s == '"') {
				s++;
				break;
			}
			*w++ = *s++;
		}
	} else {
		while (*s != '\0' && *s != ',' && *s != '\n' && *s != '\r') {
			*w++ = *s++;
		}
	}
	*eol = *s != ',';
	if (*s == '\r') {
		s++;
	}
	if (*s != '\0') {
		s++;
	}
	*w = '\0';
	*p = s;
	return out;
}

static void
table_free(struct table *t)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		free(t->rows[r]);
	}
	free(t->rows);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

static fb_err
table_load(struct table *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	size_t len = 0;
	fb_err err = fb_read_file(path, (size_t)1 << 30, &t->text, &len);
	if (err != FB_OK) {
		return err;
	}
	char *p = t->text;
	bool eol = false;
	while (!eol && *p != '\0') {
		if (t->n_cols == MAX_COLS) {
			return fb_errorf(FB_EFORMAT,
					"%s:1: more than %d columns", path,
					MAX_COLS);
		}
		t->names[t->n_cols++] = next_field(&p, &eol);
	}
	size_t cap = 0, line = 1;
	while (*p != '\0') {
		line++;
		if (*p == '\n') {
			p++;
			continue;
		}
		if (t->n_rows == cap) {
			cap = cap > 0 ? 2 * cap : 64;
			char ***rows = realloc(t->rows, cap * sizeof(*rows));
			if (rows == NULL) {
				return FB_ENOMEM;
			}
			t->rows = rows;
		}
		char **row = calloc(t->n_cols, sizeof(*row));
		if (row == NULL) {
			return FB_ENOMEM;
		}
		t->rows[t->n_rows++] = row;
		size_t c = 0;
		eol = false;
		while (!eol) {
			char *f = next_field(&p, &eol);
			if (c < t->n_cols) {
				row[c] = f;
			}
			c++;
		}
		if (c != t->n_cols) {
			return fb_errorf(FB_EFORMAT,
					"%s:%zu: %zu fields, the header has %zu",
					path, line, c, t->n_cols);
		}
	}
	return FB_OK;
}

static int
col(const struct table *t, const char *name)
{
	for (size_t c = 0; c < t->n_cols; c++) {
		if (strcmp(t->names[c], name) == 0) {
			return (int)c;
		}
	}
	return -1;
}

static const char *
cell(const struct table *t, size_t r, const char *name)
{
	int c = col(t, name);
	return c >= 0 && t->rows[r][c] != NULL ? t->rows[r][c] : "";
}

// A number, NAN for an empty cell, INFINITY for "inf".
static double
num(const char *s)
{
	if (s[0] == '\0') {
		return NAN;
	}
	if (strcmp(s, "inf") == 0) {
		return INFINITY;
	}
	char *end = NULL;
	double v = strtod(s, &end);
	return end != s ? v : NAN;
}

// ---- grouping ----

static bool
is_none(const struct table *t, size_t r)
{
	return strcmp(cell(t, r, "privacy"), "none") == 0;
}

// True if row r belongs to the panel of row p (skip: a parameter that does
// not define panels in this figure). An empty cell matches anything: the
// row's privacy mode ignores that parameter (clip and q without privacy,
// q under client-level DP). A non-private row is the reference of every
// panel of its consortium (dataset, retailers, partition, rounds),
// whatever its training settings.
static bool
same_panel(const struct table *t, size_t r, size_t p, const char *skip)
{
	bool none = is_none(t, r) || is_none(t, p);
	for (size_t i = 0; panel_params[i] != NULL; i++) {
		const char *k = panel_params[i];
		if (skip != NULL && strcmp(k, skip) == 0) {
			continue;
		}
		if (none && i >= FIRST_TRAINING_PARAM) {
			// The non-private reference of a consortium has its
			// own training settings (a sweep's per_privacy).
			continue;
		}
		const char *a = cell(t, r, k), *b = cell(t, p, k);
		// Empty: a parameter the row's privacy mode does not use.
		if (a[0] != '\0' && b[0] != '\0' && strcmp(a, b) != 0) {
			return false;
		}
	}
	return true;
}

struct panels {
	size_t rep[MAX_PANELS]; // a row standing for each panel
	size_t n;
};

// Panels from the private rows (a non-private row joins them), or from
// the non-private rows when there are only those.
static fb_err
find_panels(const struct table *t, const char *skip, struct panels *ps)
{
	ps->n = 0;
	for (int pass = 0; pass < 2 && ps->n == 0; pass++) {
		for (size_t r = 0; r < t->n_rows; r++) {
			if (pass == 0 && is_none(t, r)) {
				continue;
			}
			bool found = false;
			for (size_t i = 0; i < ps->n && !found; i++) {
				found = same_panel(t, r, ps->rep[i], skip);
			}
			if (found) {
				continue;
			}
			if (ps->n == MAX_PANELS) {
				return fb_errorf(FB_EINVAL,
						"more than %d combinations of "
						"parameters to draw: plot a "
						"smaller sweep",
						MAX_PANELS);
			}
			ps->rep[ps->n++] = r;
		}
	}
	return FB_OK;
}

// A panel's title: the parameters that vary between panels.
static void
panel_title(const struct table *t, const struct panels *ps, size_t i,
		const char *skip, char *buf, size_t cap)
{
	size_t r = ps->rep[i], n = 0;
	buf[0] = '\0';
	if (skip == NULL || strcmp(skip, "retailers") != 0) {
		n += (size_t)snprintf(buf + n, cap - n, "%s retailers",
				cell(t, r, "retailers"));
	}
	if (strcmp(cell(t, r, "partition"), "iid") == 0) {
		n += (size_t)snprintf(
				buf + n, cap - n, "%sIID", n > 0 ? ", " : "");
	} else {
		n += (size_t)snprintf(buf + n, cap - n,
				"%snon-IID (Dirichlet α = %s)",
				n > 0 ? ", " : "", cell(t, r, "alpha"));
	}
	static const char *const extra[] = {
			"clip", "q", "local_epochs", "rounds", "lr", NULL};
	for (size_t k = 0; extra[k] != NULL && n < cap; k++) {
		bool varies = false;
		for (size_t j = 0; j < ps->n; j++) {
			const char *a = cell(t, ps->rep[j], extra[k]);
			varies |= a[0] != '\0' &&
					strcmp(a, cell(t, r, extra[k])) != 0;
		}
		if (varies && cell(t, r, extra[k])[0] != '\0') {
			n += (size_t)snprintf(buf + n, cap - n, ", %s %s",
					strcmp(extra[k], "local_epochs") == 0
							? "local epochs"
							: extra[k],
					cell(t, r, extra[k]));
		}
	}
}

// Mean and sample standard deviation of v[0..n).
static void
mean_std(const double *v, size_t n, double *mean, double *std)
{
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++) {
		s += v[i];
	}
	*mean = n > 0 ? s / (double)n : NAN;
	for (size_t i = 0; i < n; i++) {
		ss += (v[i] - *mean) * (v[i] - *mean);
	}
	*std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
}

// The distinct finite epsilons of the private rows, ascending.
static size_t
epsilons(const struct table *t, double *eps, size_t cap)
{
	size_t n = 0;
	for (size_t r = 0; r < t->n_rows; r++) {
		double e = num(cell(t, r, "epsilon"));
		if (!isfinite(e) || is_none(t, r)) {
			continue;
		}
		bool seen = false;
		for (size_t i = 0; i < n; i++) {
			seen |= eps[i] == e;
		}
		if (!seen && n < cap) {
			eps[n++] = e;
		}
	}
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && eps[j - 1] > eps[j]; j--) {
			double x = eps[j];
			eps[j] = eps[j - 1];
			eps[j - 1] = x;
		}
	}
	return n;
}

// ---- gnuplot ----

static fb_err
find_gnuplot(char *out, size_t cap)
{
	const char *env = getenv("FB_GNUPLOT");
	if (env != NULL && env[0] != '\0') {
		snprintf(out, cap, "%s", env);
		return access(out, X_OK) == 0
				? FB_OK
				: fb_errorf(FB_EINVAL,
						  "FB_GNUPLOT=%s is not an "
						  "executable",
						  env);
	}
	const char *path = getenv("PATH");
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path != NULL ? path : "/usr/bin:/bin");
	for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir != NULL;
			dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/gnuplot", dir);
		if (access(out, X_OK) == 0) {
			return FB_OK;
		}
	}
	return fb_errorf(FB_EINVAL,
			"gnuplot not found on PATH: install it (Debian: "
			"apt-get install gnuplot-nox) or set FB_GNUPLOT");
}

static const char *const terminals[2][2] = {
		{"png",
				"set terminal pngcairo enhanced size %d,%d font "
				"'DejaVu Sans,%d' linewidth 1.5"},
		{"svg",
				"set terminal svg enhanced size %d,%d font "
				"'DejaVu Sans,%d' linewidth 1.5 background '#ffffff'"},
};

// Runs gnuplot on out/name.gp once per terminal; the script starts with a
// line "TERMINAL" that is replaced, and "OUTPUT".
static fb_err
run_gnuplot(const char *gnuplot, const char *out, const char *name,
		const char *body, int width, int height)
{
	for (int k = 0; k < 2; k++) {
		char path[SIM_PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s.gp", out, name);
		FILE *fp = fopen(path, "w");
		if (fp == NULL) {
			return fb_errorf(FB_EIO, "%s: %s", path,
					strerror(errno));
		}
		fprintf(fp,
				"# %s.gp: drawn by fedbundle plot; run `gnuplot "
				"%s.gp` in this folder\nset encoding utf8\n",
				name, name);
		fprintf(fp, terminals[k][1], width, height, k == 0 ? 11 : 12);
		fprintf(fp, "\nset output '%s.%s'\n%s", name, terminals[k][0],
				body);
		fclose(fp);
		pid_t pid = fork();
		if (pid < 0) {
			return fb_errorf(FB_EIO, "fork: %s", strerror(errno));
		}
		if (pid == 0) {
			if (chdir(out) != 0) {
				_exit(126);
			}
			char script[128];
			snprintf(script, sizeof(script), "%s.gp", name);
			execl(gnuplot, "gnuplot", script, (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
				WEXITSTATUS(st) != 0) {
			return fb_errorf(FB_EIO, "gnuplot failed on %s/%s.gp",
					out, name);
		}
	}
	return FB_OK;
}

// Colours: a hue per mode, darker for a larger epsilon.
static void
series_colour(const char *privacy, size_t rank, size_t n, char *buf, size_t cap)
{
	static const char *const blue[] = {
			"#9ecae1", "#4292c6", "#08519c", "#081d58"};
	static const char *const red[] = {
			"#fcae91", "#fb6a4a", "#cb181d", "#67000d"};
	if (strcmp(privacy, "none") == 0) {
		snprintf(buf, cap, "#000000");
		return;
	}
	size_t i = n <= 1 ? 2 : (rank * 3 + (n - 1) / 2) / (n - 1);
	i = i > 3 ? 3 : i;
	snprintf(buf, cap, "%s",
			strcmp(privacy, "user") == 0 ? blue[i] : red[i]);
}

// Point types: one shape per epsilon (open circle, square, triangle,
// diamond, ...), a filled triangle without privacy.
static int
series_point(const char *privacy, size_t rank)
{
	static const int pts[] = {6, 4, 8, 12, 10, 14};
	if (strcmp(privacy, "none") == 0) {
		return 9;
	}
	return pts[rank % 6];
}

static const char *
mode_label(const char *privacy)
{
	return strcmp(privacy, "user") == 0
			? "user-level DP (noise at each retailer)"
			: strcmp(privacy, "client") == 0
			? "client-level DP (central noise)"
			: "non-private";
}

// The legend of one curve of the training-curves and retailers figures:
// mode m (0 user DP, 1 client DP, 2 none) at target epsilon eps.
static void
series_label(char *buf, size_t cap, int m, double eps)
{
	if (m == 2) {
		snprintf(buf, cap, "non-private");
	} else {
		snprintf(buf, cap, "%s, ε = %g",
				m == 0 ? "user DP" : "client DP", eps);
	}
}

// One clause of a gnuplot "plot" command: data block `block` of `dat`
// drawn with `style` (columns and style, e.g. "1:2 with linespoints"),
// client DP dashed. *first tells whether the clause opens the command.
static void
plot_series(FILE *gp, bool *first, const char *dat, size_t block,
		const char *style, const char *colour, int point,
		double point_size, int m, const char *label)
{
	fprintf(gp,
			"%s'%s' index %zu using %s lc rgb '%s' pt %d ps %g "
			"dt %d title \"%s\"",
			*first ? "plot " : ", \\\n     ", dat, block, style,
			colour, point, point_size, m == 1 ? 2 : 1, label);
	*first = false;
}

struct ctx {
	struct table t;
	const char *out;
	const char *csv_dir;
	const char *gnuplot;
	const char *metric_col; // "final_recall@20" or "best_recall@20"
	const char *metric_text;
	char ref_name[4][64]; // --reference NAME=VALUE lines
	double ref_value[4];
	size_t n_refs;
	char title[256];
	char note[512];
	size_t seeds;
	char delta[32];
	char rounds[32];
	double max_rounds;
};

static void
layout(size_t n, int *rows, int *cols, int *w, int *h)
{
	*cols = n <= 1 ? 1 : 2;
	*rows = (int)((n + (size_t)*cols - 1) / (size_t)*cols);
	*w = 640 * *cols + (n <= 1 ? 260 : 0); // room for the subtitle
	*h = 520 * *rows + 110;
}

// The mean and standard deviation of column metric over the rows of
// privacy mode at epsilon eps (any epsilon for "none") in panel p.
static size_t
cell_stats(const struct table *t, const struct panels *ps, size_t p,
		const char *mode, double eps, const char *metric, double *mean,
		double *sd)
{
	double v[256];
	size_t n = 0;
	for (size_t r = 0; r < t->n_rows && n < 256; r++) {
		double y = num(cell(t, r, metric));
		if (strcmp(cell(t, r, "privacy"), mode) != 0 ||
				!same_panel(t, r, ps->rep[p], NULL) ||
				isnan(y) ||
				(strcmp(mode, "none") != 0 &&
						num(cell(t, r, "epsilon")) !=
								eps)) {
			continue;
		}
		v[n++] = y;
	}
	mean_std(v, n, mean, sd);
	return n;
}

// privacy-utility.md: the numbers of the figure, as markdown tables.
static fb_err
write_tables(struct ctx *c)
{
	const struct table *t = &c->t;
	struct panels ps;
	fb_err err = find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = epsilons(t, eps, 16);
	char path[SIM_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/privacy-utility.md", c->out);
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		return fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	}
	const char *which = strcmp(c->metric_col, "best_recall@20") == 0
			? "best"
			: "final";
	static const char *const modes[] = {"user", "client"};
	for (int k = 0; k < 2; k++) {
		char metric[64];
		snprintf(metric, sizeof(metric), "%s_%s", which,
				k == 0 ? "recall@20" : "ndcg@20");
		fprintf(fp,
				"%s%s test %s (%s round), mean ± std over seeds "
				"(n = seeds); δ = %s; %s\n\n| retailers, "
				"partition | privacy |",
				k > 0 ? "\n" : "", c->title,
				k == 0 ? "Recall@20" : "NDCG@20", which,
				c->delta, SIM_NOISE_NOTE);
		for (size_t i = 0; i < n_eps; i++) {
			fprintf(fp, " ε = %g |", eps[i]);
		}
		fprintf(fp, " ∞ (non-private) |\n|---|---|");
		for (size_t i = 0; i <= n_eps; i++) {
			fprintf(fp, "---|");
		}
		fputc('\n', fp);
		for (size_t p = 0; p < ps.n; p++) {
			char title[256];
			panel_title(t, &ps, p, NULL, title, sizeof(title));
			double nm, nsd;
			size_t nn = cell_stats(t, &ps, p, "none", 0, metric,
					&nm, &nsd);
			for (int m = 0; m < 2; m++) {
				fprintf(fp, "| %s | %s |", title,
						m == 0 ? "user-level DP"
						       : "client-level DP");
				for (size_t i = 0; i < n_eps; i++) {
					double mean, sd;
					size_t n = cell_stats(t, &ps, p,
							modes[m], eps[i],
							metric, &mean, &sd);
					if (n > 0) {
						fprintf(fp, " %.4f ± %.4f (%zu) |",
								mean, sd, n);
					} else {
						fprintf(fp, " |");
					}
				}
				if (nn > 0) {
					fprintf(fp, " %.4f ± %.4f (%zu) |\n",
							nm, nsd, nn);
				} else {
					fprintf(fp, " |\n");
				}
			}
		}
	}
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	return bad ? fb_errorf(FB_EIO, "%s: write error", path) : FB_OK;
}

// The top of a y axis shared by every panel: above the largest value of
// column (and the references), so that panels compare at a glance.
static double
y_top(const struct ctx *c, const char *column)
{
	double top = 0;
	for (size_t r = 0; r < c->t.n_rows; r++) {
		double v = num(cell(&c->t, r, column));
		top = isfinite(v) && v > top ? v : top;
	}
	for (size_t i = 0; i < c->n_refs; i++) {
		top = c->ref_value[i] > top ? c->ref_value[i] : top;
	}
	return top > 0 ? ceil(top * 1.1 * 20) / 20 : 1;
}

// The --reference lines, appended to a panel's plot command.
static void
write_references(FILE *gp, const struct ctx *c)
{
	for (size_t i = 0; i < c->n_refs; i++) {
		fprintf(gp,
				", \\\n     %.6f with lines dt 3 lw 1.5 lc rgb "
				"'#7f7f7f' title \"%s\"",
				c->ref_value[i], c->ref_name[i]);
	}
}

// Figure 1: the privacy-utility trade-off.
static fb_err
plot_privacy_utility(struct ctx *c)
{
	const struct table *t = &c->t;
	struct panels ps;
	fb_err err = find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = epsilons(t, eps, 16);
	double inf_x = n_eps > 0 ? eps[n_eps - 1] * 2 : 1;
	char path[SIM_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/privacy-utility.dat", c->out);
	FILE *dat = fopen(path, "w");
	if (dat == NULL) {
		return fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	}
	fprintf(dat,
			"# privacy-utility.dat: %s (mean, std over seeds, "
			"n) per target epsilon; blocks: panel x {user, client, "
			"none}; none is drawn at x = %g\n",
			c->metric_col, inf_x);
	char *body = NULL;
	size_t blen = 0;
	FILE *gp = open_memstream(&body, &blen);
	if (gp == NULL) {
		fclose(dat);
		return FB_ENOMEM;
	}
	int rows, cols, w, h;
	layout(ps.n, &rows, &cols, &w, &h);
	fprintf(gp,
			"set multiplot layout %d,%d title \"%s: %s against "
			"the privacy budget\\n%s\" font ',14'\n"
			"set logscale x 2\nset xrange [%g:%g]\nset yrange [0:%g]\n"
			"set grid\nset key below\nset bmargin 10\n"
			"set xlabel \"target ε of the whole run "
			"(δ = %s; log scale; ∞ = no privacy)\"\n"
			"set ylabel \"test Recall\\\\@20 (mean ± std, %zu seeds)\"\n"
			"set bars 2\n",
			rows, cols, c->title, c->metric_text, c->note,
			n_eps > 0 ? eps[0] / 1.5 : 0.5, inf_x * 1.5,
			y_top(c, c->metric_col), c->delta, c->seeds);
	fprintf(gp, "set xtics (");
	for (size_t i = 0; i < n_eps; i++) {
		fprintf(gp, "\"%g\" %g, ", eps[i], eps[i]);
	}
	fprintf(gp, "\"∞\" %g)\n", inf_x);
	static const char *const modes[] = {"user", "client", "none"};
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		panel_title(t, &ps, p, NULL, title, sizeof(title));
		fprintf(gp, "set title \"%s\"\n", title);
		bool first = true;
		double none_mean = NAN;
		for (size_t m = 0; m < 3; m++) {
			bool any = false;
			size_t n_x = m == 2 ? 1 : n_eps;
			for (size_t i = 0; i < n_x; i++) {
				double v[256];
				size_t n = 0;
				for (size_t r = 0; r < t->n_rows && n < 256;
						r++) {
					double e = num(cell(t, r, "epsilon"));
					double y = num(cell(
							t, r, c->metric_col));
					if (strcmp(cell(t, r, "privacy"),
							    modes[m]) != 0 ||
							!same_panel(t, r,
									ps.rep[p],
									NULL) ||
							isnan(y) ||
							(m < 2 && e != eps[i])) {
						continue;
					}
					v[n++] = y;
				}
				if (n == 0) {
					continue;
				}
				double mean, sd;
				mean_std(v, n, &mean, &sd);
				fprintf(dat, "%g %.6f %.6f %zu\n",
						m == 2 ? inf_x : eps[i], mean,
						sd, n);
				if (m == 2) {
					none_mean = mean;
				}
				any = true;
			}
			fprintf(dat, "%s\n\n", any ? "" : "NaN NaN NaN 0\n");
			if (!any) {
				block++;
				continue;
			}
			char colour[16];
			series_colour(modes[m], 3, 5, colour, sizeof(colour));
			fprintf(gp,
					"%s'privacy-utility.dat' index %zu using "
					"1:2:3 with %s lc rgb '%s' pt %d ps 1.2 "
					"title \"%s\"",
					first ? "plot " : ", \\\n     ", block,
					m == 2 ? "yerrorbars" : "yerrorlines",
					colour,
					m == 0                   ? 7
							: m == 1 ? 5
								 : 9,
					mode_label(modes[m]));
			first = false;
			block++;
		}
		if (isfinite(none_mean)) {
			fprintf(gp,
					", \\\n     %.6f with lines dt 2 lc rgb "
					"'#000000' title \"non-private level\"",
					none_mean);
		}
		if (first) {
			fprintf(gp, "plot NaN notitle");
		}
		write_references(gp, c);
		fputc('\n', gp);
	}
	fprintf(gp, "unset multiplot\n");
	fclose(gp);
	fclose(dat);
	err = run_gnuplot(c->gnuplot, c->out, "privacy-utility", body, w, h);
	free(body);
	return err;
}

// The metric of one point's rounds.jsonl line (NAN if absent or null).
static double
line_value(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *p = strstr(line, pat);
	if (p == NULL) {
		return NAN;
	}
	p += strlen(pat);
	if (strncmp(p, "null", 4) == 0) {
		return NAN;
	}
	return strtod(p, NULL);
}

// Adds a point's Recall@20 per round into sum/count (by round id).
static void
add_curve(const struct ctx *c, size_t r, double *sum, size_t *count,
		uint32_t *max_round)
{
	char path[SIM_PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s/rounds.jsonl", c->csv_dir,
			cell(&c->t, r, "dir"));
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		return;
	}
	char line[8192];
	while (fgets(line, sizeof(line), fp) != NULL) {
		double round = line_value(line, "round");
		double v = line_value(line, "recall@20");
		if (isnan(v)) {
			v = line_value(line, "reported_recall@20");
		}
		if (!(round >= 1 && round < MAX_ROUNDS) || isnan(v)) {
			continue;
		}
		size_t k = (size_t)round;
		sum[k] += v;
		count[k]++;
		*max_round = k > *max_round ? (uint32_t)k : *max_round;
	}
	fclose(fp);
}

// A round-axis tic step giving at most about 12 tics.
static double
tic_step(double rounds)
{
	static const double steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (rounds / steps[i] <= 12) {
			return steps[i];
		}
	}
	return 1000;
}

// Figure 2: Recall@20 per round.
static fb_err
plot_curves(struct ctx *c)
{
	const struct table *t = &c->t;
	struct panels ps;
	fb_err err = find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = epsilons(t, eps, 16);
	double *sum = calloc(MAX_ROUNDS, sizeof(double));
	size_t *count = calloc(MAX_ROUNDS, sizeof(size_t));
	char path[SIM_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/training-curves.dat", c->out);
	FILE *dat = sum != NULL && count != NULL ? fopen(path, "w") : NULL;
	char *body = NULL;
	size_t blen = 0;
	FILE *gp = dat != NULL ? open_memstream(&body, &blen) : NULL;
	if (gp == NULL) {
		if (dat != NULL) {
			fclose(dat);
		}
		free(sum);
		free(count);
		return fb_errorf(FB_EIO, "%s: cannot write", path);
	}
	fprintf(dat,
			"# training-curves.dat: round, Recall@20 of the "
			"round's model (mean over seeds), seeds; blocks: panel x "
			"series\n");
	int rows, cols, w, h;
	layout(ps.n, &rows, &cols, &w, &h);
	fprintf(gp,
			"set multiplot layout %d,%d title \"%s: test Recall\\\\@20 "
			"round by round (mean over %zu seeds)\\n%s\" "
			"font ',14'\nset yrange [0:%g]\nset grid\n"
			"set key outside right top\nset xtics %g format '%%.0f'\n"
			"set xlabel \"round\"\nset ylabel \"test Recall\\\\@20\"\n",
			rows, cols, c->title, c->seeds, c->note,
			y_top(c, "best_recall@20"), tic_step(c->max_rounds));
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		panel_title(t, &ps, p, NULL, title, sizeof(title));
		fprintf(gp, "set title \"%s\"\n", title);
		bool first = true;
		static const char *const modes[] = {"user", "client", "none"};
		for (size_t m = 0; m < 3; m++) {
			size_t n_x = m == 2 ? 1 : n_eps;
			for (size_t i = 0; i < n_x; i++) {
				memset(sum, 0, MAX_ROUNDS * sizeof(double));
				memset(count, 0, MAX_ROUNDS * sizeof(size_t));
				uint32_t max_round = 0;
				for (size_t r = 0; r < t->n_rows; r++) {
					double e = num(cell(t, r, "epsilon"));
					if (strcmp(cell(t, r, "privacy"),
							    modes[m]) != 0 ||
							!same_panel(t, r,
									ps.rep[p],
									NULL) ||
							(m < 2 && e != eps[i])) {
						continue;
					}
					add_curve(c, r, sum, count, &max_round);
				}
				if (max_round == 0) {
					continue;
				}
				for (uint32_t k = 1; k <= max_round; k++) {
					if (count[k] > 0) {
						fprintf(dat, "%u %.6f %zu\n", k,
								sum[k] / (double)count[k],
								count[k]);
					}
				}
				fprintf(dat, "\n\n");
				char colour[16], label[96];
				series_colour(modes[m], i, n_eps, colour,
						sizeof(colour));
				series_label(label, sizeof(label), m, eps[i]);
				plot_series(gp, &first, "training-curves.dat",
						block, "1:2 with linespoints",
						colour,
						series_point(modes[m], i), 0.9,
						m, label);
				block++;
			}
		}
		if (first) {
			fprintf(gp, "plot NaN notitle");
		}
		fputc('\n', gp);
	}
	fprintf(gp, "unset multiplot\n");
	fclose(gp);
	fclose(dat);
	free(sum);
	free(count);
	err = run_gnuplot(c->gnuplot, c->out, "training-curves", body,
			w + 260 * cols, h);
	free(body);
	return err;
}

// Figure 3: the number of retailers.
static fb_err
plot_retailers(struct ctx *c)
{
	const struct table *t = &c->t;
	double ks[64];
	size_t n_k = 0;
	for (size_t r = 0; r < t->n_rows; r++) {
		double k = num(cell(t, r, "retailers"));
		bool seen = false;
		for (size_t i = 0; i < n_k; i++) {
			seen |= ks[i] == k;
		}
		if (!seen && n_k < 64 && isfinite(k)) {
			ks[n_k++] = k;
		}
	}
	if (n_k < 2) {
		printf("fedbundle plot: retailers: skipped (one number of "
		       "retailers in the results)\n");
		return FB_OK;
	}
	for (size_t i = 1; i < n_k; i++) {
		for (size_t j = i; j > 0 && ks[j - 1] > ks[j]; j--) {
			double x = ks[j];
			ks[j] = ks[j - 1];
			ks[j - 1] = x;
		}
	}
	struct panels ps;
	fb_err err = find_panels(t, "retailers", &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = epsilons(t, eps, 16);
	// The smallest and the largest budget, and no privacy.
	double show[2] = {n_eps > 0 ? eps[0] : NAN,
			n_eps > 1 ? eps[n_eps - 1] : NAN};
	char path[SIM_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/retailers.dat", c->out);
	FILE *dat = fopen(path, "w");
	char *body = NULL;
	size_t blen = 0;
	FILE *gp = dat != NULL ? open_memstream(&body, &blen) : NULL;
	if (gp == NULL) {
		if (dat != NULL) {
			fclose(dat);
		}
		return fb_errorf(FB_EIO, "%s: cannot write", path);
	}
	fprintf(dat,
			"# retailers.dat: retailers, %s mean, std, seeds; "
			"blocks: panel x series\n",
			c->metric_col);
	int rows, cols, w, h;
	layout(ps.n, &rows, &cols, &w, &h);
	fprintf(gp,
			"set multiplot layout %d,%d title \"%s: %s against the "
			"number of retailers\\n%s\" font ',14'\n"
			"set logscale x 2\nset xrange [%g:%g]\nset yrange [0:%g]\n"
			"set grid\nset key outside right top\nset bars 2\n"
			"set xlabel \"retailers in the consortium (the same users "
			"split among them; log scale)\"\n"
			"set ylabel \"test Recall\\\\@20 (mean ± std, %zu seeds)\"\n",
			rows, cols, c->title, c->metric_text, c->note,
			ks[0] / 1.4, ks[n_k - 1] * 1.4, y_top(c, c->metric_col),
			c->seeds);
	fprintf(gp, "set xtics (");
	for (size_t i = 0; i < n_k; i++) {
		fprintf(gp, "%s\"%g\" %g", i > 0 ? ", " : "", ks[i], ks[i]);
	}
	fprintf(gp, ")\n");
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		panel_title(t, &ps, p, "retailers", title, sizeof(title));
		fprintf(gp, "set title \"%s\"\n", title);
		bool first = true;
		static const char *const modes[] = {"user", "client", "none"};
		for (size_t m = 0; m < 3; m++) {
			size_t n_x = m == 2 ? 1 : 2;
			for (size_t i = 0; i < n_x; i++) {
				if (m < 2 && (isnan(show[i]) || (i == 1 && show[1] == show[0]))) {
					continue;
				}
				bool any = false;
				for (size_t j = 0; j < n_k; j++) {
					double v[256];
					size_t n = 0;
					for (size_t r = 0; r < t->n_rows &&
							n < 256;
							r++) {
						double e = num(cell(t, r,
								"epsilon"));
						double y = num(cell(t, r,
								c->metric_col));
						if (strcmp(cell(t, r, "privacy"),
								    modes[m]) !=
										0 ||
								num(cell(t, r, "retailers")) !=
										ks[j] ||
								!same_panel(t, r,
										ps.rep[p],
										"retailers") ||
								isnan(y) ||
								(m < 2 && e != show[i])) {
							continue;
						}
						v[n++] = y;
					}
					if (n > 0) {
						double mean, sd;
						mean_std(v, n, &mean, &sd);
						fprintf(dat, "%g %.6f %.6f %zu\n",
								ks[j], mean, sd,
								n);
						any = true;
					}
				}
				fprintf(dat, "%s\n\n",
						any ? "" : "NaN NaN NaN 0\n");
				if (!any) {
					block++;
					continue;
				}
				char colour[16], label[96];
				size_t rank = 0;
				for (size_t q = 0; q < n_eps; q++) {
					rank = m < 2 && eps[q] == show[i]
							? q
							: rank;
				}
				series_colour(modes[m], rank, n_eps, colour,
						sizeof(colour));
				series_label(label, sizeof(label), m, show[i]);
				plot_series(gp, &first, "retailers.dat", block,
						"1:2:3 with yerrorlines",
						colour,
						series_point(modes[m], rank),
						1.1, m, label);
				block++;
			}
		}
		if (first) {
			fprintf(gp, "plot NaN notitle");
		}
		write_references(gp, c);
		fputc('\n', gp);
	}
	fprintf(gp, "unset multiplot\n");
	fclose(gp);
	fclose(dat);
	err = run_gnuplot(c->gnuplot, c->out, "retailers", body, w + 260 * cols,
			h);
	free(body);
	return err;
}

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
	static struct ctx c;
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
	fb_err err = find_gnuplot(gnuplot, sizeof(gnuplot));
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	c.gnuplot = gnuplot;
	if ((err = table_load(&c.t, results)) != FB_OK) {
		table_free(&c.t);
		return cli_fail(cmd, err, "reading the results");
	}
	static const char *const need[] = {"privacy", "epsilon", "retailers",
			"partition", "seed", "final_recall@20",
			"best_recall@20", "dir", NULL};
	for (size_t i = 0; need[i] != NULL; i++) {
		if (col(&c.t, need[i]) < 0) {
			fprintf(stderr,
					"fedbundle %s: %s: no column \"%s\" (not a "
					"fedbundle sweep's results.csv?)\n",
					cmd, results, need[i]);
			table_free(&c.t);
			return 1;
		}
	}
	if (c.t.n_rows == 0) {
		fprintf(stderr, "fedbundle %s: %s: no finished point yet\n",
				cmd, results);
		table_free(&c.t);
		return 1;
	}
	char dir_buf[SIM_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", results);
	c.csv_dir = dirname(dir_buf);
	c.metric_col = best ? "best_recall@20" : "final_recall@20";
	c.metric_text = best ? "best-round test Recall\\\\@20"
			     : "test Recall\\\\@20 after the last round";
	snprintf(c.title, sizeof(c.title), "%s",
			title != NULL ? title : cell(&c.t, 0, "dataset"));
	if (c.title[0] == '\0') {
		snprintf(c.title, sizeof(c.title), "fedbundle simulation");
	}
	// Seeds per point, rounds and delta, for the labels.
	size_t seeds = 0;
	for (size_t r = 0; r < c.t.n_rows; r++) {
		size_t n = 0;
		for (size_t q = 0; q < c.t.n_rows; q++) {
			n += same_panel(&c.t, q, r, NULL) &&
					strcmp(cell(&c.t, q, "privacy"),
							cell(&c.t, r, "privacy")) ==
							0 &&
					strcmp(cell(&c.t, q, "epsilon"),
							cell(&c.t, r, "epsilon")) ==
							0;
		}
		seeds = n > seeds ? n : seeds;
	}
	c.seeds = seeds;
	snprintf(c.delta, sizeof(c.delta), "%s", "?");
	snprintf(c.rounds, sizeof(c.rounds), "%s", cell(&c.t, 0, "rounds"));
	for (size_t r = 0; r < c.t.n_rows; r++) {
		double n = num(cell(&c.t, r, "rounds"));
		c.max_rounds = n > c.max_rounds ? n : c.max_rounds;
	}
	for (size_t r = 0; r < c.t.n_rows; r++) {
		if (cell(&c.t, r, "delta")[0] != '\0') {
			snprintf(c.delta, sizeof(c.delta), "%s",
					cell(&c.t, r, "delta"));
		}
	}
	snprintf(c.note, sizeof(c.note),
			"{/*0.75 %s rounds; user DP: each retailer noises its "
			"own customers' contributions (trust nobody); client "
			"DP: the aggregator adds the noise (trust the "
			"aggregator)}\\n{/*0.75 %s}",
			c.rounds, SIM_NOISE_NOTE);
	if ((err = fb_mkdir_p(c.out)) != FB_OK ||
			(err = write_tables(&c)) != FB_OK ||
			(err = plot_privacy_utility(&c)) != FB_OK ||
			(err = plot_curves(&c)) != FB_OK ||
			(err = plot_retailers(&c)) != FB_OK) {
		table_free(&c.t);
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	printf("fedbundle plot: wrote privacy-utility, training-curves and "
	       "retailers (.png, .svg, .dat, .gp) and privacy-utility.md in "
	       "%s\n",
			c.out);
	table_free(&c.t);
	return 0;
}
