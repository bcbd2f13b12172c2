// tools/sweep/sweep-grid.c: the grid file of `fedbundle sweep` and its points
// (sweep.h): parsing, checking, ids and configuration hashes.

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/fsutil.h"
#include "sweep.h"

// The config key an axis name sets.
static void
axis_key(const char *name, char *key, size_t cap)
{
	static const char *const alias[][2] = {{"clip", "round.clip"},
			{"q", "round.q"},
			{"local_epochs", "round.local_epochs"}, {NULL, NULL}};
	const char *k = name;
	for (size_t i = 0; alias[i][0] != NULL; i++) {
		if (strcmp(name, alias[i][0]) == 0) {
			k = alias[i][1];
		}
	}
	size_t n = strlen(k) < cap ? strlen(k) : cap - 1;
	memmove(key, k, n);
	key[n] = '\0';
}

// Counts the elements fb_config_each hands over.
static fb_err
count_item(void *ctx, const struct fb_cfg_item *item)
{
	(void)item;
	(*(size_t *)ctx)++;
	return FB_OK;
}

// An axis being filled by fb_config_each: its values' JSON text.
struct axis_fill {
	const char *path; // the grid file
	struct axis *ax;
};

static fb_err
axis_value(void *ctx, const struct fb_cfg_item *v)
{
	struct axis_fill *af = ctx;
	struct axis *ax = af->ax;
	if ((v->kind != FB_CFG_KIND_NUMBER && v->kind != FB_CFG_KIND_STRING &&
			    v->kind != FB_CFG_KIND_BOOL) ||
			strlen(v->text) >= VALUE_MAX) {
		return fb_errorf(FB_EINVAL,
				"%s: axes.%s[%zu]: expected a number, a short "
				"string or a boolean, got %s",
				af->path, ax->name, ax->n,
				fb_config_kind_name(v->kind));
	}
	strcpy(ax->values[ax->n++], v->text);
	return FB_OK;
}

static fb_err
parse_axis(const char *path, const struct fb_cfg_item *a, struct axis *ax)
{
	memset(ax, 0, sizeof(*ax));
	if (strlen(a->key) >= sizeof(ax->name)) {
		return fb_errorf(FB_EINVAL, "%s: axes.%.60s...: name too long",
				path, a->key);
	}
	strcpy(ax->name, a->key);
	axis_key(ax->name, ax->key, sizeof(ax->key));
	if (a->kind != FB_CFG_KIND_ARRAY) {
		return fb_errorf(FB_EINVAL,
				"%s: axes.%s: expected an array of values, got %s",
				path, ax->name, fb_config_kind_name(a->kind));
	}
	char where[80];
	snprintf(where, sizeof(where), "axes.%s", ax->name);
	size_t n = 0;
	fb_err err = fb_config_each(path, where, a->text, strlen(a->text),
			FB_CFG_KIND_ARRAY, count_item, &n);
	if (err != FB_OK) {
		return err;
	}
	if (n == 0 || n > MAX_VALUES) {
		return fb_errorf(FB_EINVAL,
				"%s: axes.%s: needs 1 to %d values, has %zu",
				path, ax->name, MAX_VALUES, n);
	}
	struct axis_fill af = {path, ax};
	err = fb_config_each(path, where, a->text, strlen(a->text),
			FB_CFG_KIND_ARRAY, axis_value, &af);
	if (err != FB_OK) {
		return err;
	}
	for (size_t i = 0; i < ax->n; i++) {
		for (size_t j = i + 1; j < ax->n; j++) {
			if (strcmp(ax->values[i], ax->values[j]) == 0) {
				return fb_errorf(FB_EINVAL,
						"%s: axes.%s: value %s appears "
						"twice",
						path, ax->name, ax->values[i]);
			}
		}
	}
	return FB_OK;
}

// The grid file's keys, kept as JSON text (a string base as its value).
enum { GRID_BASE, GRID_AXES, GRID_PER, GRID_KEYS };
struct grid_raw {
	const char *path;
	char *text[GRID_KEYS];
	enum fb_cfg_kind kind[GRID_KEYS];
};

static fb_err
grid_key(void *ctx, const struct fb_cfg_item *v)
{
	static const char *const names[GRID_KEYS] = {
			"base", "axes", "per_privacy"};
	struct grid_raw *r = ctx;
	int k = -1;
	for (int i = 0; i < GRID_KEYS; i++) {
		k = strcmp(v->key, names[i]) == 0 ? i : k;
	}
	if (k < 0) {
		return fb_errorf(FB_EINVAL,
				"%s: %s: unknown key (expected \"base\", "
				"\"axes\" and \"per_privacy\")",
				r->path, v->key);
	}
	if (r->text[k] != NULL) {
		return fb_errorf(FB_EINVAL, "%s: %s: key appears twice",
				r->path, v->key);
	}
	r->text[k] = strdup(v->string != NULL ? v->string : v->text);
	r->kind[k] = v->kind;
	return r->text[k] != NULL ? FB_OK : FB_ENOMEM;
}

static fb_err
grid_axis(void *ctx, const struct fb_cfg_item *a)
{
	struct grid *g = ctx;
	if (g->n_axes == MAX_AXES) {
		return fb_errorf(FB_EINVAL, "%s: axes: more than %d axes",
				g->path, MAX_AXES);
	}
	for (size_t i = 0; i < g->n_axes; i++) {
		if (strcmp(g->axes[i].name, a->key) == 0) {
			return fb_errorf(FB_EINVAL,
					"%s: axes.%s: key appears twice",
					g->path, a->key);
		}
	}
	fb_err err = parse_axis(g->path, a, &g->axes[g->n_axes]);
	if (err == FB_OK) {
		g->n_axes++;
	}
	return err;
}

static fb_err
grid_per_privacy(void *ctx, const struct fb_cfg_item *v)
{
	struct grid *g = ctx;
	int m = -1;
	for (int k = 0; k < 3; k++) {
		m = strcmp(v->key, sim_privacy_name(k)) == 0 ? k : m;
	}
	if (m < 0 || v->kind != FB_CFG_KIND_OBJECT ||
			g->per_privacy[m] != NULL) {
		return fb_errorf(FB_EINVAL,
				"%s: per_privacy.%s: expected one object "
				"for each of none, user, client",
				g->path, v->key);
	}
	g->per_privacy[m] = strdup(v->text);
	return g->per_privacy[m] != NULL ? FB_OK : FB_ENOMEM;
}

// Reads the base configuration: a file named relative to the grid, or
// the inline object's text.
static fb_err
grid_base(struct grid *g, const struct grid_raw *r)
{
	const char *b = r->text[GRID_BASE];
	if (r->kind[GRID_BASE] == FB_CFG_KIND_OBJECT) {
		g->base_text = strdup(b);
		if (g->base_text == NULL) {
			return FB_ENOMEM;
		}
		g->base_len = strlen(g->base_text);
		snprintf(g->base_label, sizeof(g->base_label), "%s: base",
				g->path);
		return FB_OK;
	}
	if (r->kind[GRID_BASE] != FB_CFG_KIND_STRING) {
		return fb_errorf(FB_EINVAL,
				"%s: base: expected a file name or an object, "
				"got %s",
				g->path,
				fb_config_kind_name(r->kind[GRID_BASE]));
	}
	char bpath[2 * SIM_PATH_MAX];
	snprintf(bpath, sizeof(bpath), "%s%s%s", b[0] == '/' ? "" : g->base_dir,
			b[0] == '/' ? "" : "/", b);
	fb_err err = fb_read_file(bpath, 1u << 20, &g->base_text, &g->base_len);
	if (err != FB_OK) {
		return fb_errorf(err, "%s: base: %s", g->path,
				fb_last_error(err));
	}
	snprintf(g->base_label, sizeof(g->base_label), "%s", bpath);
	snprintf(g->base_dir, sizeof(g->base_dir), "%s", dirname(bpath));
	return FB_OK;
}

fb_err
sweep_grid_load(struct grid *g, const char *path)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->path, sizeof(g->path), "%s", path);
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 1u << 20, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	char dir_buf[SIM_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	snprintf(g->base_dir, sizeof(g->base_dir), "%s", dirname(dir_buf));
	struct grid_raw r = {.path = g->path};
	err = fb_config_each(g->path, "", text, len, FB_CFG_KIND_OBJECT,
			grid_key, &r);
	free(text);
	if (err != FB_OK) {
		goto out;
	}
	if (r.text[GRID_BASE] == NULL || r.text[GRID_AXES] == NULL) {
		err = fb_errorf(FB_EINVAL, "%s: %s: required", path,
				r.text[GRID_BASE] == NULL ? "base" : "axes");
		goto out;
	}
	if ((err = grid_base(g, &r)) != FB_OK) {
		goto out;
	}
	if (r.kind[GRID_AXES] != FB_CFG_KIND_OBJECT) {
		err = fb_errorf(FB_EINVAL,
				"%s: axes: expected an object, got %s", path,
				fb_config_kind_name(r.kind[GRID_AXES]));
		goto out;
	}
	const char *axes = r.text[GRID_AXES];
	err = fb_config_each(g->path, "axes", axes, strlen(axes),
			FB_CFG_KIND_OBJECT, grid_axis, g);
	if (err != FB_OK) {
		goto out;
	}
	if (g->n_axes == 0) {
		err = fb_errorf(FB_EINVAL, "%s: axes: no axis", path);
		goto out;
	}
	const char *per = r.text[GRID_PER];
	if (per != NULL && r.kind[GRID_PER] != FB_CFG_KIND_OBJECT) {
		err = fb_errorf(FB_EINVAL,
				"%s: per_privacy: expected an object, got %s",
				path, fb_config_kind_name(r.kind[GRID_PER]));
		goto out;
	}
	if (per != NULL) {
		err = fb_config_each(g->path, "per_privacy", per, strlen(per),
				FB_CFG_KIND_OBJECT, grid_per_privacy, g);
	}
out:
	for (int k = 0; k < GRID_KEYS; k++) {
		free(r.text[k]);
	}
	return err;
}

// Applies "key": value (key "a" or "section.a") on cfg.
static fb_err
apply_key(struct sim_config *cfg, const char *label, const char *key,
		const char *value)
{
	char text[512];
	const char *dot = strchr(key, '.');
	if (dot != NULL) {
		snprintf(text, sizeof(text), "{\"%.*s\": {\"%s\": %s}}",
				(int)(dot - key), key, dot + 1, value);
	} else {
		snprintf(text, sizeof(text), "{\"%s\": %s}", key, value);
	}
	struct sim_config c = *cfg;
	fb_err err = sim_config_parse(&c, label, text, strlen(text), NULL);
	if (err == FB_OK) {
		*cfg = c;
	}
	return err;
}

// Sets one axis value on cfg, with the axes' special meanings.
static fb_err
apply_axis(struct sim_config *cfg, const struct grid *g, const struct axis *ax,
		size_t vi)
{
	const char *v = ax->values[vi];
	char label[SIM_PATH_MAX + 128];
	snprintf(label, sizeof(label), "%s: axes.%s[%zu]", g->path, ax->name,
			vi);
	if (strcmp(ax->key, "epsilon") == 0 && strcmp(v, "\"inf\"") == 0) {
		return apply_key(cfg, label, "privacy", "\"none\"");
	}
	if (strcmp(ax->key, "partition") == 0 && v[0] != '"') {
		fb_err err = apply_key(
				cfg, label, "partition", "\"dirichlet\"");
		return err == FB_OK ? apply_key(cfg, label, "alpha", v) : err;
	}
	return apply_key(cfg, label, ax->key, v);
}

// A point's configuration with what its privacy mode ignores set to fixed
// values, as JSON text: two points with the same text are the same run.
static char *
canonical_text(const struct sim_config *cfg)
{
	struct sim_config c = *cfg;
	if (c.privacy == SIM_PRIV_NONE) {
		c.epsilon = 1;
		c.server.round.clip = 1;
		c.server.round.q = 1;
	} else if (c.privacy == SIM_PRIV_CLIENT) {
		c.server.round.q = 1;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		return NULL;
	}
	sim_config_write_json(fp, &c, 0);
	fclose(fp);
	return buf;
}

// The JSON text of axis i's value as point p runs it: a non-private
// point has epsilon "inf" and privacy "none" whatever its axes said.
const char *
sweep_point_value(const struct point *p, const struct grid *g, size_t i)
{
	bool none = p->cfg.privacy == SIM_PRIV_NONE;
	if (none && strcmp(g->axes[i].key, "epsilon") == 0) {
		return "\"inf\"";
	}
	if (none && strcmp(g->axes[i].key, "privacy") == 0) {
		return "\"none\"";
	}
	return g->axes[i].values[p->value[i]];
}

// A value's text without the quotes of a JSON string.
void
sweep_unquote(char *out, size_t cap, const char *v)
{
	size_t len = strnlen(v, cap - 1);
	size_t skip = len >= 2 && v[0] == '"' ? 1 : 0;
	memcpy(out, v + skip, len - 2 * skip);
	out[len - 2 * skip] = '\0';
}

// Folder name: axis=value pairs, the value as the point runs it.
static void
point_id(struct point *p, const struct grid *g)
{
	char *s = p->id;
	size_t cap = sizeof(p->id), n = 0;
	for (size_t i = 0; i < g->n_axes && n < cap; i++) {
		char val[VALUE_MAX];
		sweep_unquote(val, sizeof(val), sweep_point_value(p, g, i));
		n += (size_t)snprintf(s + n, cap - n, "%s%s=%s",
				i > 0 ? "_" : "", g->axes[i].name, val);
	}
	if (strlen(s) > 100) {
		// Long names: a readable prefix and the configuration's hash.
		snprintf(s + 80, cap - 80, "-%.12s", p->hash);
	}
	for (char *c = s; *c != '\0'; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') ||
				(*c >= 'A' && *c <= 'Z') ||
				(*c >= '0' && *c <= '9') || *c == '.' ||
				*c == '=' || *c == '_' || *c == '-' ||
				*c == '+';
		if (!ok) {
			*c = '-';
		}
	}
}

// Builds every point, checks it and drops the duplicates.
fb_err
sweep_make_points(const struct grid *g, struct point **out, size_t *n_out)
{
	size_t total = 1;
	for (size_t i = 0; i < g->n_axes; i++) {
		total *= g->axes[i].n;
		if (total > MAX_POINTS) {
			return fb_errorf(FB_EINVAL, "%s: more than %d points",
					g->path, MAX_POINTS);
		}
	}
	struct sim_config base;
	sim_config_defaults(&base);
	fb_err err = sim_config_parse(&base, g->base_label, g->base_text,
			g->base_len, g->base_dir);
	if (err != FB_OK) {
		return err;
	}
	struct point *pts = calloc(total, sizeof(*pts));
	char **canon = calloc(total, sizeof(*canon));
	if (pts == NULL || canon == NULL) {
		free(pts);
		free(canon);
		return FB_ENOMEM;
	}
	size_t n = 0;
	size_t idx[MAX_AXES] = {0};
	for (size_t t = 0; t < total && err == FB_OK; t++) {
		struct point *p = &pts[n];
		p->cfg = base;
		// The privacy axis first, so that "inf" (privacy none) wins.
		for (size_t pass = 0; pass < 2 && err == FB_OK; pass++) {
			for (size_t i = 0; i < g->n_axes && err == FB_OK; i++) {
				bool eps = strcmp(g->axes[i].key, "epsilon") ==
						0;
				if ((pass == 0) == eps) {
					continue;
				}
				p->value[i] = idx[i];
				err = apply_axis(&p->cfg, g, &g->axes[i],
						idx[i]);
			}
		}
		const char *frag = err == FB_OK ? g->per_privacy[p->cfg.privacy]
						: NULL;
		if (frag != NULL) {
			char label[SIM_PATH_MAX + 64];
			snprintf(label, sizeof(label), "%s: per_privacy.%s",
					g->path,
					sim_privacy_name(p->cfg.privacy));
			struct sim_config cc = p->cfg;
			err = sim_config_parse(&cc, label, frag, strlen(frag),
					g->base_dir);
			if (err == FB_OK && cc.privacy != p->cfg.privacy) {
				err = fb_errorf(FB_EINVAL,
						"%s: privacy: cannot be changed "
						"here",
						label);
			}
			if (err == FB_OK) {
				p->cfg = cc;
			}
		}
		char *text = err == FB_OK ? canonical_text(&p->cfg) : NULL;
		if (err == FB_OK && text == NULL) {
			err = FB_ENOMEM;
		}
		bool dup = false;
		for (size_t j = 0; err == FB_OK && j < n && !dup; j++) {
			dup = strcmp(canon[j], text) == 0;
		}
		if (err == FB_OK && !dup) {
			uint8_t h[FB_HASH_LEN];
			fb_hash_buf(text, strlen(text), h);
			fb_hash_hex(h, p->hash);
			point_id(p, g);
			canon[n++] = text;
		} else {
			free(text);
		}
		// Next index, the last axis fastest.
		for (size_t i = g->n_axes; i-- > 0;) {
			if (++idx[i] < g->axes[i].n) {
				break;
			}
			idx[i] = 0;
		}
	}
	for (size_t j = 0; j < n; j++) {
		free(canon[j]);
	}
	free(canon);
	if (err != FB_OK) {
		free(pts);
		return err;
	}
	*out = pts;
	*n_out = n;
	return FB_OK;
}
