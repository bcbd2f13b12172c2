// tools/plot/plot-gnuplot.c: gnuplot, found on PATH (or $FB_GNUPLOT) at
// run time and run once per terminal (PNG, SVG) on a figure's script, and
// the styles every figure gives its series (colour, point, legend).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedbundle/util/fsutil.h"
#include "plot.h"
#include "sim/sim.h"

fb_err
plot_find_gnuplot(char *out, size_t cap)
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
fb_err
plot_run_gnuplot(const char *gnuplot, const char *out, const char *name,
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
void
plot_series_colour(const char *privacy, size_t rank, size_t n, char *buf,
		size_t cap)
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
int
plot_series_point(const char *privacy, size_t rank)
{
	static const int pts[] = {6, 4, 8, 12, 10, 14};
	if (strcmp(privacy, "none") == 0) {
		return 9;
	}
	return pts[rank % 6];
}

const char *
plot_mode_label(const char *privacy)
{
	return strcmp(privacy, "user") == 0
			? "user-level DP (noise at each retailer)"
			: strcmp(privacy, "client") == 0
			? "client-level DP (central noise)"
			: "non-private";
}

// The legend of one curve of the training-curves and retailers figures:
// mode m (0 user DP, 1 client DP, 2 none) at target epsilon eps.
void
plot_series_label(char *buf, size_t cap, int m, double eps)
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
void
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

void
plot_layout(size_t n, int *rows, int *cols, int *w, int *h)
{
	*cols = n <= 1 ? 1 : 2;
	*rows = (int)((n + (size_t)*cols - 1) / (size_t)*cols);
	*w = 640 * *cols + (n <= 1 ? 260 : 0); // room for the subtitle
	*h = 520 * *rows + 110;
}

// The mean and standard deviation of column metric over the rows of
