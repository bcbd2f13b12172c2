// tools/plot/plot-curves.c: the training-curves figure: Recall@20 per
// round (mean over seeds), from every point's rounds.jsonl.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/fsutil.h"
#include "plot.h"
#include "sim/sim.h"

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
add_curve(const struct plot_ctx *c, size_t r, double *sum, size_t *count,
		uint32_t *max_round)
{
	char path[SIM_PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s/rounds.jsonl", c->csv_dir,
			plot_cell(&c->t, r, "dir"));
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
fb_err
plot_curves(struct plot_ctx *c)
{
	const struct plot_table *t = &c->t;
	struct plot_panels ps;
	fb_err err = plot_find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = plot_epsilons(t, eps, 16);
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
	plot_layout(ps.n, &rows, &cols, &w, &h);
	fprintf(gp,
			"set multiplot layout %d,%d title \"%s: test Recall\\\\@20 "
			"round by round (mean over %zu seeds)\\n%s\" "
			"font ',14'\nset yrange [0:%g]\nset grid\n"
			"set key outside right top\nset xtics %g format '%%.0f'\n"
			"set xlabel \"round\"\nset ylabel \"test Recall\\\\@20\"\n",
			rows, cols, c->title, c->seeds, c->note,
			plot_y_top(c, "best_recall@20"),
			tic_step(c->max_rounds));
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		plot_panel_title(t, &ps, p, NULL, title, sizeof(title));
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
					double e = plot_num(plot_cell(
							t, r, "epsilon"));
					if (strcmp(plot_cell(t, r, "privacy"),
							    modes[m]) != 0 ||
							!plot_same_panel(t, r,
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
				plot_series_colour(modes[m], i, n_eps, colour,
						sizeof(colour));
				plot_series_label(label, sizeof(label), m,
						eps[i]);
				plot_series(gp, &first, "training-curves.dat",
						block, "1:2 with linespoints",
						colour,
						plot_series_point(modes[m], i),
						0.9, m, label);
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
	err = plot_run_gnuplot(c->gnuplot, c->out, "training-curves", body,
			w + 260 * cols, h);
	free(body);
	return err;
}
