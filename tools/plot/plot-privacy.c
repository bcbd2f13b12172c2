// tools/plot/plot-privacy.c: the privacy-utility figure: Recall@20
// against the target epsilon, one line per privacy mode, error bars over
// seeds, the non-private run as a labelled point at "inf" and a dashed
// line; and the tables (.dat, privacy-utility.md) the figures share.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/fsutil.h"
#include "plot.h"
#include "sim/sim.h"

static size_t
cell_stats(const struct plot_table *t, const struct plot_panels *ps, size_t p,
		const char *mode, double eps, const char *metric, double *mean,
		double *sd)
{
	double v[256];
	size_t n = 0;
	for (size_t r = 0; r < t->n_rows && n < 256; r++) {
		double y = plot_num(plot_cell(t, r, metric));
		if (strcmp(plot_cell(t, r, "privacy"), mode) != 0 ||
				!plot_same_panel(t, r, ps->rep[p], NULL) ||
				isnan(y) ||
				(strcmp(mode, "none") != 0 &&
						plot_num(plot_cell(t, r,
								"epsilon")) !=
								eps)) {
			continue;
		}
		v[n++] = y;
	}
	plot_mean_std(v, n, mean, sd);
	return n;
}

// privacy-utility.md: the numbers of the figure, as markdown tables.
fb_err
plot_write_tables(struct plot_ctx *c)
{
	const struct plot_table *t = &c->t;
	struct plot_panels ps;
	fb_err err = plot_find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = plot_epsilons(t, eps, 16);
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
			plot_panel_title(t, &ps, p, NULL, title, sizeof(title));
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
double
plot_y_top(const struct plot_ctx *c, const char *column)
{
	double top = 0;
	for (size_t r = 0; r < c->t.n_rows; r++) {
		double v = plot_num(plot_cell(&c->t, r, column));
		top = isfinite(v) && v > top ? v : top;
	}
	for (size_t i = 0; i < c->n_refs; i++) {
		top = c->ref_value[i] > top ? c->ref_value[i] : top;
	}
	return top > 0 ? ceil(top * 1.1 * 20) / 20 : 1;
}

// The --reference lines, appended to a panel's plot command.
void
plot_write_references(FILE *gp, const struct plot_ctx *c)
{
	for (size_t i = 0; i < c->n_refs; i++) {
		fprintf(gp,
				", \\\n     %.6f with lines dt 3 lw 1.5 lc rgb "
				"'#7f7f7f' title \"%s\"",
				c->ref_value[i], c->ref_name[i]);
	}
}

// Figure 1: the privacy-utility trade-off.
fb_err
plot_privacy_utility(struct plot_ctx *c)
{
	const struct plot_table *t = &c->t;
	struct plot_panels ps;
	fb_err err = plot_find_panels(t, NULL, &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = plot_epsilons(t, eps, 16);
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
	plot_layout(ps.n, &rows, &cols, &w, &h);
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
			plot_y_top(c, c->metric_col), c->delta, c->seeds);
	fprintf(gp, "set xtics (");
	for (size_t i = 0; i < n_eps; i++) {
		fprintf(gp, "\"%g\" %g, ", eps[i], eps[i]);
	}
	fprintf(gp, "\"∞\" %g)\n", inf_x);
	static const char *const modes[] = {"user", "client", "none"};
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		plot_panel_title(t, &ps, p, NULL, title, sizeof(title));
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
					double e = plot_num(plot_cell(
							t, r, "epsilon"));
					double y = plot_num(plot_cell(
							t, r, c->metric_col));
					if (strcmp(plot_cell(t, r, "privacy"),
							    modes[m]) != 0 ||
							!plot_same_panel(t, r,
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
				plot_mean_std(v, n, &mean, &sd);
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
			plot_series_colour(
					modes[m], 3, 5, colour, sizeof(colour));
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
					plot_mode_label(modes[m]));
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
		plot_write_references(gp, c);
		fputc('\n', gp);
	}
	fprintf(gp, "unset multiplot\n");
	fclose(gp);
	fclose(dat);
	err = plot_run_gnuplot(
			c->gnuplot, c->out, "privacy-utility", body, w, h);
	free(body);
	return err;
}
