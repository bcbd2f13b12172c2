// tools/plot/plot-retailers.c: the retailers figure: Recall@20 against
// the number of retailers, one curve per privacy mode and epsilon.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/fsutil.h"
#include "plot.h"
#include "sim/sim.h"

fb_err
plot_retailers(struct plot_ctx *c)
{
	const struct plot_table *t = &c->t;
	double ks[64];
	size_t n_k = 0;
	for (size_t r = 0; r < t->n_rows; r++) {
		double k = plot_num(plot_cell(t, r, "retailers"));
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
	struct plot_panels ps;
	fb_err err = plot_find_panels(t, "retailers", &ps);
	if (err != FB_OK) {
		return err;
	}
	double eps[16];
	size_t n_eps = plot_epsilons(t, eps, 16);
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
	plot_layout(ps.n, &rows, &cols, &w, &h);
	fprintf(gp,
			"set multiplot layout %d,%d title \"%s: %s against the "
			"number of retailers\\n%s\" font ',14'\n"
			"set logscale x 2\nset xrange [%g:%g]\nset yrange [0:%g]\n"
			"set grid\nset key outside right top\nset bars 2\n"
			"set xlabel \"retailers in the consortium (the same users "
			"split among them; log scale)\"\n"
			"set ylabel \"test Recall\\\\@20 (mean ± std, %zu seeds)\"\n",
			rows, cols, c->title, c->metric_text, c->note,
			ks[0] / 1.4, ks[n_k - 1] * 1.4,
			plot_y_top(c, c->metric_col), c->seeds);
	fprintf(gp, "set xtics (");
	for (size_t i = 0; i < n_k; i++) {
		fprintf(gp, "%s\"%g\" %g", i > 0 ? ", " : "", ks[i], ks[i]);
	}
	fprintf(gp, ")\n");
	size_t block = 0;
	for (size_t p = 0; p < ps.n; p++) {
		char title[256];
		plot_panel_title(t, &ps, p, "retailers", title, sizeof(title));
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
						double e = plot_num(plot_cell(t,
								r, "epsilon"));
						double y = plot_num(plot_cell(t,
								r,
								c->metric_col));
						if (strcmp(plot_cell(t, r, "privacy"),
								    modes[m]) !=
										0 ||
								plot_num(plot_cell(
										t,
										r,
										"retailers")) !=
										ks[j] ||
								!plot_same_panel(
										t,
										r,
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
						plot_mean_std(v, n, &mean, &sd);
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
				plot_series_colour(modes[m], rank, n_eps,
						colour, sizeof(colour));
				plot_series_label(label, sizeof(label), m,
						show[i]);
				plot_series(gp, &first, "retailers.dat", block,
						"1:2:3 with yerrorlines",
						colour,
						plot_series_point(
								modes[m], rank),
						1.1, m, label);
				block++;
			}
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
	err = plot_run_gnuplot(c->gnuplot, c->out, "retailers", body,
			w + 260 * cols, h);
	free(body);
	return err;
}
