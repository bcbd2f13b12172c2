// tools/plot/plot-table.c: a sweep's results.csv read whole and cut into
// panels: one per combination of the parameters other than privacy,
// epsilon and seed; a non-private row belongs to every panel whose other
// parameters it shares (clip and q mean nothing to it).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/fsutil.h"
#include "plot.h"

// The parameters that define a panel (besides privacy, epsilon, seed).
static const char *const panel_params[] = {"dataset", "retailers", "partition",
		"alpha", "rounds", "clip", "q", "local_epochs", "lr", NULL};
// panel_params from this index on are training settings.
#define FIRST_TRAINING_PARAM 5

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

void
plot_table_free(struct plot_table *t)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		free(t->rows[r]);
	}
	free(t->rows);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

fb_err
plot_table_load(struct plot_table *t, const char *path)
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

int
plot_col(const struct plot_table *t, const char *name)
{
	for (size_t c = 0; c < t->n_cols; c++) {
		if (strcmp(t->names[c], name) == 0) {
			return (int)c;
		}
	}
	return -1;
}

const char *
plot_cell(const struct plot_table *t, size_t r, const char *name)
{
	int c = plot_col(t, name);
	return c >= 0 && t->rows[r][c] != NULL ? t->rows[r][c] : "";
}

// A number, NAN for an empty cell, INFINITY for "inf".
double
plot_num(const char *s)
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
is_none(const struct plot_table *t, size_t r)
{
	return strcmp(plot_cell(t, r, "privacy"), "none") == 0;
}

// True if row r belongs to the panel of row p (skip: a parameter that does
// not define panels in this figure). An empty cell matches anything: the
// row's privacy mode ignores that parameter (clip and q without privacy,
// q under client-level DP). A non-private row is the reference of every
// panel of its consortium (dataset, retailers, partition, rounds),
// whatever its training settings.
bool
plot_same_panel(const struct plot_table *t, size_t r, size_t p,
		const char *skip)
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
		const char *a = plot_cell(t, r, k), *b = plot_cell(t, p, k);
		// Empty: a parameter the row's privacy mode does not use.
		if (a[0] != '\0' && b[0] != '\0' && strcmp(a, b) != 0) {
			return false;
		}
	}
	return true;
}

// Panels from the private rows (a non-private row joins them), or from
// the non-private rows when there are only those.
fb_err
plot_find_panels(const struct plot_table *t, const char *skip,
		struct plot_panels *ps)
{
	ps->n = 0;
	for (int pass = 0; pass < 2 && ps->n == 0; pass++) {
		for (size_t r = 0; r < t->n_rows; r++) {
			if (pass == 0 && is_none(t, r)) {
				continue;
			}
			bool found = false;
			for (size_t i = 0; i < ps->n && !found; i++) {
				found = plot_same_panel(t, r, ps->rep[i], skip);
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
void
plot_panel_title(const struct plot_table *t, const struct plot_panels *ps,
		size_t i, const char *skip, char *buf, size_t cap)
{
	size_t r = ps->rep[i], n = 0;
	buf[0] = '\0';
	if (skip == NULL || strcmp(skip, "retailers") != 0) {
		n += (size_t)snprintf(buf + n, cap - n, "%s retailers",
				plot_cell(t, r, "retailers"));
	}
	if (strcmp(plot_cell(t, r, "partition"), "iid") == 0) {
		n += (size_t)snprintf(
				buf + n, cap - n, "%sIID", n > 0 ? ", " : "");
	} else {
		n += (size_t)snprintf(buf + n, cap - n,
				"%snon-IID (Dirichlet α = %s)",
				n > 0 ? ", " : "", plot_cell(t, r, "alpha"));
	}
	static const char *const extra[] = {
			"clip", "q", "local_epochs", "rounds", "lr", NULL};
	for (size_t k = 0; extra[k] != NULL && n < cap; k++) {
		bool varies = false;
		for (size_t j = 0; j < ps->n; j++) {
			const char *a = plot_cell(t, ps->rep[j], extra[k]);
			varies |= a[0] != '\0' &&
					strcmp(a, plot_cell(t, r, extra[k])) !=
							0;
		}
		if (varies && plot_cell(t, r, extra[k])[0] != '\0') {
			n += (size_t)snprintf(buf + n, cap - n, ", %s %s",
					strcmp(extra[k], "local_epochs") == 0
							? "local epochs"
							: extra[k],
					plot_cell(t, r, extra[k]));
		}
	}
}

// Mean and sample standard deviation of v[0..n).
void
plot_mean_std(const double *v, size_t n, double *mean, double *std)
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
size_t
plot_epsilons(const struct plot_table *t, double *eps, size_t cap)
{
	size_t n = 0;
	for (size_t r = 0; r < t->n_rows; r++) {
		double e = plot_num(plot_cell(t, r, "epsilon"));
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
