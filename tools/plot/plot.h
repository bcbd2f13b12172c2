// tools/plot/plot.h: what the files of `fedbundle plot` (tools/cmd-plot.c)
// share: the results table of a sweep cut into panels (plot-table.c),
// gnuplot and the series' styles (plot-gnuplot.c), and one file per
// figure, each writing its data (.dat) and gnuplot script (.gp) and then
// drawing it as PNG and SVG: plot-privacy.c (privacy-utility, and the
// tables every figure shares), plot-curves.c (training curves),
// plot-retailers.c (utility against the number of retailers).
// Thread-safety: none; one plot at a time.
#ifndef FB_TOOLS_PLOT_PLOT_H
#define FB_TOOLS_PLOT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fedbundle/util/err.h"

#define MAX_COLS 64
#define MAX_PANELS 12
#define MAX_SERIES 32
#define MAX_ROUNDS 10000

// results.csv, read whole.
struct plot_table {
	char *text; // the file, cut into fields in place
	char *names[MAX_COLS];
	size_t n_cols;
	char ***rows; // rows[r][c]
	size_t n_rows;
};

// The panels of a figure.
struct plot_panels {
	size_t rep[MAX_PANELS]; // a row standing for each panel
	size_t n;
};

// One `fedbundle plot` run: the table, the options and what every figure
// shares.
struct plot_ctx {
	struct plot_table t;
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

// ---- plot-table.c: the results table and its panels ----

// Frees the table; its fields are cut from t->text.
void plot_table_free(struct plot_table *t);

// Reads the CSV file path (a header line, then rows of as many fields;
// quoted fields allowed). FB_EIO, FB_EFORMAT naming the line.
fb_err plot_table_load(struct plot_table *t, const char *path);

// The index of column name, or -1.
int plot_col(const struct plot_table *t, const char *name);

// The field of row r in column name ("" if there is no such column).
const char *plot_cell(const struct plot_table *t, size_t r, const char *name);

// A number, NAN for an empty cell, INFINITY for "inf".
double plot_num(const char *s);

// True if row r belongs to the panel of row p (skip: a parameter that does
// not define panels in this figure). An empty cell matches anything: the
// row's privacy mode ignores that parameter (clip and q without privacy,
// q under client-level DP). A non-private row is the reference of every
// panel of its consortium (dataset, retailers, partition, rounds),
// whatever its training settings.
bool plot_same_panel(const struct plot_table *t, size_t r, size_t p,
		const char *skip);

// Panels from the private rows (a non-private row joins them), or from
// the non-private rows when there are only those.
fb_err plot_find_panels(const struct plot_table *t, const char *skip,
		struct plot_panels *ps);

// A panel's title: the parameters that vary between panels.
void plot_panel_title(const struct plot_table *t, const struct plot_panels *ps,
		size_t i, const char *skip, char *buf, size_t cap);

// Mean and sample standard deviation of v[0..n).
void plot_mean_std(const double *v, size_t n, double *mean, double *std);

// The distinct finite epsilons of the private rows, ascending.
size_t plot_epsilons(const struct plot_table *t, double *eps, size_t cap);

// ---- plot-gnuplot.c: drawing with gnuplot ----

// The gnuplot to run: $FB_GNUPLOT, else the first on PATH. FB_EINVAL
// saying how to install it.
fb_err plot_find_gnuplot(char *out, size_t cap);

// Runs gnuplot on out/name.gp once per terminal; the script starts with a
// line "TERMINAL" that is replaced, and "OUTPUT".
fb_err plot_run_gnuplot(const char *gnuplot, const char *out, const char *name,
		const char *body, int width, int height);

// Colours: a hue per mode, darker for a larger epsilon.
void plot_series_colour(const char *privacy, size_t rank, size_t n, char *buf,
		size_t cap);

// Point types: one shape per epsilon (open circle, square, triangle,
// diamond, ...), a filled triangle without privacy.
int plot_series_point(const char *privacy, size_t rank);

// The legend of a privacy mode ("user", "client", else non-private).
const char *plot_mode_label(const char *privacy);

// The legend of one curve of the training-curves and retailers figures:
// mode m (0 user DP, 1 client DP, 2 none) at target epsilon eps.
void plot_series_label(char *buf, size_t cap, int m, double eps);

// One clause of a gnuplot "plot" command: data block `block` of `dat`
// drawn with `style` (columns and style, e.g. "1:2 with linespoints"),
// client DP dashed. *first tells whether the clause opens the command.
void plot_series(FILE *gp, bool *first, const char *dat, size_t block,
		const char *style, const char *colour, int point,
		double point_size, int m, const char *label);

// The grid of n panels (one or two columns) and the figure's size.
void plot_layout(size_t n, int *rows, int *cols, int *w, int *h);

// ---- plot-privacy.c: privacy-utility (and the tables every figure shares) ----

// privacy-utility.md: the numbers of the figure, as markdown tables.
fb_err plot_write_tables(struct plot_ctx *c);

// The top of a y axis shared by every panel: above the largest value of
// column (and the references), so that panels compare at a glance.
double plot_y_top(const struct plot_ctx *c, const char *column);

// The --reference lines, appended to a panel's plot command.
void plot_write_references(FILE *gp, const struct plot_ctx *c);

// Figure 1: the privacy-utility trade-off.
fb_err plot_privacy_utility(struct plot_ctx *c);

// ---- plot-curves.c: training curves ----

// Figure 2: Recall@20 per round.
fb_err plot_curves(struct plot_ctx *c);

// ---- plot-retailers.c: utility against the number of retailers ----

// retailers: Recall@20 against the number of retailers.
fb_err plot_retailers(struct plot_ctx *c);

#endif
