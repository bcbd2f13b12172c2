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
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fb_vcs.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/hash.h"
#include "fedbundle/util/log.h"
#include "sharedfs.h"
#include "sim/sim.h"

static const char cmd[] = "sweep";

#define MAX_AXES 16
#define MAX_VALUES 64
#define VALUE_MAX 128
#define MAX_POINTS 100000

struct axis {
	char name[64]; // as written in the grid
	char key[64];  // the config key it sets ("round.clip")
	char values[MAX_VALUES][VALUE_MAX]; // JSON text of each value
	size_t n;
};

struct point {
	struct sim_config cfg;
	size_t value[MAX_AXES]; // index of each axis's value
	char id[512];           // folder name
	char hash[2 * FB_HASH_LEN + 1];
	bool done;
	bool todo; // to run now
	bool failed;
	int status; // the exit status of its child (POINT_*)
	double wall_s;
	pid_t pid;
};

struct grid {
	char path[SIM_PATH_MAX];
	char base_label[2 * SIM_PATH_MAX + 32];
	char *base_text; // the base configuration's JSON
	size_t base_len;
	char base_dir[SIM_PATH_MAX];
	struct axis axes[MAX_AXES];
	size_t n_axes;
	char *per_privacy[3]; // JSON fragment applied to points of a mode
};

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

static fb_err
grid_load(struct grid *g, const char *path)
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
static const char *
point_value(const struct point *p, const struct grid *g, size_t i)
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
static void
unquote(char *out, size_t cap, const char *v)
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
		unquote(val, sizeof(val), point_value(p, g, i));
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
static fb_err
make_points(const struct grid *g, struct point **out, size_t *n_out)
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

// ---- done markers and the CSV ----

// The columns of results.csv, in order.
static const char *const columns[] = {"point", "dataset", "privacy", "epsilon",
		"delta", "retailers", "partition", "alpha", "seed", "clip", "q",
		"local_epochs", "rounds", "lr", "noise_multiplier",
		"epsilon_spent", "final_recall@20", "final_ndcg@20",
		"final_recall@40", "final_ndcg@40", "best_recall@20",
		"best_ndcg@20", "best_recall@40", "best_ndcg@40", "best_round",
		"rounds_run", "wall_s", "rounds_per_min", "peak_rss_mb", "dir",
		"noise", NULL};
#define N_COLUMNS 31
#define COL_FINAL_RECALL20 16

static void
fmt_num(char *buf, size_t cap, double v)
{
	if (isnan(v)) {
		snprintf(buf, cap, "%s", "");
	} else if (isinf(v)) {
		snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
	} else {
		snprintf(buf, cap, "%.6g", v);
	}
}

// The marker: "column<TAB>value" lines, then "hash<TAB>...".
static fb_err
write_done(const char *dir, const struct point *p, const struct sim_result *r)
{
	const struct sim_config *c = &p->cfg;
	const struct agg_round_config *rc = &c->server.round;
	bool none = c->privacy == SIM_PRIV_NONE;
	static char v[N_COLUMNS][128];
	size_t k = 0;
	char data[SIM_PATH_MAX];
	snprintf(data, sizeof(data), "%s", c->data);
	snprintf(v[k++], 128, "%.120s", p->id);
	snprintf(v[k++], 128, "%s", basename(data));
	snprintf(v[k++], 128, "%s", sim_privacy_name(c->privacy));
	fmt_num(v[k++], 128, none ? INFINITY : c->epsilon);
	fmt_num(v[k++], 128, none ? NAN : rc->delta);
	snprintf(v[k++], 128, "%u", c->retailers);
	snprintf(v[k++], 128, "%s",
			c->partition == SIM_PART_IID ? "iid" : "dirichlet");
	fmt_num(v[k++], 128, c->partition == SIM_PART_IID ? NAN : c->alpha);
	snprintf(v[k++], 128, "%llu", (unsigned long long)c->seed);
	fmt_num(v[k++], 128, none ? NAN : rc->clip);
	fmt_num(v[k++], 128, c->privacy == SIM_PRIV_USER ? rc->q : NAN);
	snprintf(v[k++], 128, "%u", rc->local_epochs);
	snprintf(v[k++], 128, "%u", c->rounds);
	fmt_num(v[k++], 128, rc->hp.lr);
	fmt_num(v[k++], 128, r->noise_multiplier);
	fmt_num(v[k++], 128, r->epsilon);
	for (int i = 0; i < 4; i++) {
		fmt_num(v[k++], 128, r->have_eval ? r->final_metric[i] : NAN);
	}
	for (int i = 0; i < 4; i++) {
		fmt_num(v[k++], 128, r->have_eval ? r->best_metric[i] : NAN);
	}
	snprintf(v[k++], 128, "%u", r->best_round);
	snprintf(v[k++], 128, "%u", r->rounds);
	snprintf(v[k++], 128, "%.2f", r->wall_s);
	snprintf(v[k++], 128, "%.3f", r->rounds_per_min);
	snprintf(v[k++], 128, "%.1f", (double)r->peak_rss_kb / 1024.0);
	snprintf(v[k++], 128, "points/%.100s", p->id);
	snprintf(v[k++], 128, "%s", SIM_NOISE_NOTE);
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	if (fp == NULL) {
		return FB_ENOMEM;
	}
	for (size_t i = 0; i < k && columns[i] != NULL; i++) {
		fprintf(fp, "%s\t%s\n", columns[i], v[i]);
	}
	fprintf(fp, "hash\t%s\n", p->hash);
	fclose(fp);
	char *path = fb_path_join(dir, "done");
	fb_err err = path == NULL ? FB_ENOMEM
				  : fb_write_file_atomic(path, text, len, 0644);
	free(path);
	free(text);
	return err;
}

// Reads a marker into vals (one per column); true if it is there and its
// hash is the point's.
static bool
read_done(const char *out, const struct point *p, char vals[][128])
{
	char path[SIM_PATH_MAX + 600];
	snprintf(path, sizeof(path), "%s/points/%s/done", out, p->id);
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		return false;
	}
	bool hash_ok = false;
	char line[1024];
	for (size_t i = 0; columns[i] != NULL; i++) {
		vals[i][0] = '\0';
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *tab = strchr(line, '\t');
		if (tab == NULL) {
			continue;
		}
		*tab = '\0';
		if (strcmp(line, "hash") == 0) {
			hash_ok = strcmp(tab + 1, p->hash) == 0;
			continue;
		}
		for (size_t i = 0; columns[i] != NULL; i++) {
			if (strcmp(line, columns[i]) == 0) {
				snprintf(vals[i], 128, "%s", tab + 1);
			}
		}
	}
	fclose(fp);
	return hash_ok;
}

static void
csv_field(FILE *fp, const char *s)
{
	if (strpbrk(s, ",\"\n") == NULL) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"') {
			fputc('"', fp);
		}
		fputc(*s, fp);
	}
	fputc('"', fp);
}

// Rewrites OUT/results.csv from the markers, in grid order. *n_done
// receives the number of finished points.
static fb_err
write_csv(const char *out, const struct point *pts, size_t n, size_t *n_done)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	if (fp == NULL) {
		return FB_ENOMEM;
	}
	for (size_t i = 0; columns[i] != NULL; i++) {
		fprintf(fp, "%s%s", i > 0 ? "," : "", columns[i]);
	}
	fputc('\n', fp);
	static char vals[N_COLUMNS][128];
	size_t done = 0;
	for (size_t j = 0; j < n; j++) {
		if (!read_done(out, &pts[j], vals)) {
			continue;
		}
		done++;
		for (size_t i = 0; columns[i] != NULL; i++) {
			if (i > 0) {
				fputc(',', fp);
			}
			csv_field(fp, vals[i]);
		}
		fputc('\n', fp);
	}
	fclose(fp);
	// --collect and a --jobs sweep may write it at once, from two hosts.
	char *path = fb_path_join(out, "results.csv");
	fb_err err = path == NULL ? FB_ENOMEM
				  : sharedfs_replace(path, text, len);
	free(path);
	free(text);
	*n_done = done;
	return err;
}

// ---- the grid's record in the output folder ----

// OUT/sweep.json: the hash of the grid the folder was started with. What
// `--point K` runs is the K-th point of that grid, so a folder refuses
// any other grid rather than let two workers mean two points by one K.
#define RECORD_NAME "sweep.json"

// The grid's hash: the points in their order, each its folder name and
// the hash of its resolved configuration. Whitespace or key order in the
// grid file does not count; a changed base, axis or value does.
static void
grid_hash(const struct point *pts, size_t n, char hex[2 * FB_HASH_LEN + 1])
{
	struct fb_hash h;
	fb_hash_init(&h);
	for (size_t i = 0; i < n; i++) {
		fb_hash_update(&h, pts[i].id, strlen(pts[i].id));
		fb_hash_update(&h, "\t", 1);
		fb_hash_update(&h, pts[i].hash, strlen(pts[i].hash));
		fb_hash_update(&h, "\n", 1);
	}
	uint8_t d[FB_HASH_LEN];
	fb_hash_final(&h, d);
	fb_hash_hex(d, hex);
}

// The record's text for this grid, malloc'd (NULL: out of memory).
static char *
record_text(const char *grid_path, const char *hash, size_t n, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);
	if (fp == NULL) {
		return NULL;
	}
	char *abs = realpath(grid_path, NULL);
	fprintf(fp, "{\"grid_hash\": \"%s\", \"points\": %zu, \"grid\": ", hash,
			n);
	sim_json_string(fp, abs != NULL ? abs : grid_path);
	fprintf(fp, ", \"version\": ");
	sim_json_string(fp, FB_VCS_TAG);
	fprintf(fp, "}\n");
	free(abs);
	fclose(fp);
	return text;
}

// What check_record reads from a record; other keys are ignored.
struct record {
	bool has_hash;
	char hash[2 * FB_HASH_LEN + 2]; // one more: a longer one differs
	double points;                  // -1 when absent
	char grid[SIM_PATH_MAX];        // "?" when absent
};

static fb_err
record_key(void *ctx, const struct fb_cfg_item *v)
{
	struct record *r = ctx;
	if (strcmp(v->key, "grid_hash") == 0 && v->string != NULL) {
		snprintf(r->hash, sizeof(r->hash), "%s", v->string);
		r->has_hash = true;
	} else if (strcmp(v->key, "points") == 0 &&
			v->kind == FB_CFG_KIND_NUMBER) {
		r->points = strtod(v->text, NULL);
	} else if (strcmp(v->key, "grid") == 0 && v->string != NULL) {
		snprintf(r->grid, sizeof(r->grid), "%s", v->string);
	}
	return FB_OK;
}

// Checks the grid against the folder's record: FB_EINVAL naming both if
// they differ. With create, a folder without a record gets this grid's
// (atomically, once: of concurrent first workers one record wins and the
// others check against it); without, a missing record is fine.
static fb_err
check_record(const char *out, const char *grid_path, const struct point *pts,
		size_t n, bool create)
{
	char hash[2 * FB_HASH_LEN + 1];
	grid_hash(pts, n, hash);
	char *path = fb_path_join(out, RECORD_NAME);
	size_t len = 0;
	char *mine = record_text(grid_path, hash, n, &len);
	char *text = NULL;
	fb_err err = path == NULL || mine == NULL ? FB_ENOMEM : FB_OK;
	bool created = false;
	if (err == FB_OK && create) {
		err = sharedfs_create_once(path, mine, len, &created);
	} else if (err == FB_OK && access(path, F_OK) != 0) {
		created = true; // nothing recorded, nothing to check
	}
	if (err != FB_OK || created) {
		goto out;
	}
	if ((err = fb_read_file(path, 1u << 16, &text, &len)) != FB_OK) {
		goto out;
	}
	struct record rec = {.points = -1, .grid = "?"};
	if (fb_config_each(path, "", text, len, FB_CFG_KIND_OBJECT, record_key,
			    &rec) != FB_OK ||
			!rec.has_hash) {
		err = fb_errorf(FB_EFORMAT,
				"%s: no \"grid_hash\" string: not a sweep "
				"record (remove it to adopt %s)",
				path, grid_path);
		goto out;
	}
	if (strcmp(rec.hash, hash) != 0) {
		err = fb_errorf(FB_EINVAL,
				"%s: the grid changed since %s was started: its "
				"%zu points hash to %.16s, but %s records "
				"%.16s (%.0f points, grid %s); use a new --out, "
				"or remove %s to adopt this grid (points whose "
				"configuration did not change are kept)",
				grid_path, out, n, hash, path, rec.hash,
				rec.points, rec.grid, path);
	}
out:
	free(text);
	free(mine);
	free(path);
	return err;
}

// ---- running points ----

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

struct sweep {
	const char *out;
	const char *scratch;
	bool keep_work;
	bool single; // --point: one point, no results.csv
	struct point *pts;
	size_t n;
};

// A point child's exit status.
enum {
	POINT_RAN = 0,      // ran; its marker is written
	POINT_FAILED = 1,   // the simulation or its marker failed
	POINT_BUSY = 3,     // another process holds the point's lock
	POINT_WAS_DONE = 4, // finished by another process meanwhile
};

// `--point K` of a point another process is running: refused, with the
// status of sysexits.h's EX_TEMPFAIL (try again later).
#define EXIT_BUSY 75

// The child: takes the point's lock (OUT/points/<id>/lock, flock: it
// dies with the process), checks the marker again under it, then runs
// one simulation and writes its marker. Its output goes to
// OUT/points/<id>/log.txt, opened only under the lock, so a second
// worker on the same point never touches the first one's files.
static int
run_point(const struct sweep *sw, struct point *p)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	char dir[SIM_PATH_MAX + 600], log[SIM_PATH_MAX + 700];
	snprintf(dir, sizeof(dir), "%s/points/%s", sw->out, p->id);
	fb_err err = fb_mkdir_p(dir);
	snprintf(log, sizeof(log), "%s/lock", dir);
	int lock = -1;
	bool busy = false;
	if (err == FB_OK) {
		err = sharedfs_trylock(log, &lock, &busy);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle sweep: %s: %s\n", p->id,
				fb_last_error(err));
		return POINT_FAILED;
	}
	if (busy) {
		return POINT_BUSY;
	}
	static char vals[N_COLUMNS][128];
	if (read_done(sw->out, p, vals)) {
		return POINT_WAS_DONE;
	}
	snprintf(log, sizeof(log), "%s/log.txt", dir);
	if (freopen(log, "w", stdout) == NULL ||
			dup2(fileno(stdout), STDERR_FILENO) < 0) {
		return POINT_FAILED;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char scratch[SIM_PATH_MAX + 600];
	struct sim_options so = {0};
	so.quiet = false;
	so.command = "fedbundle sweep";
	if (sw->scratch != NULL) {
		snprintf(scratch, sizeof(scratch), "%s/%s", sw->scratch, p->id);
		so.scratch = scratch;
	}
	struct sim_result r;
	err = sim_run(&p->cfg, dir, &so, &r);
	if (err == FB_OK) {
		err = write_done(dir, p, &r);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle sweep: %s: %s\n", p->id,
				fb_last_error(err));
		return POINT_FAILED;
	}
	if (!sw->keep_work) {
		char work[SIM_PATH_MAX + 700];
		// The simulation's work folder: the scratch one, or OUT/work.
		if (sw->scratch != NULL) {
			snprintf(work, sizeof(work), "%s", scratch);
		} else {
			snprintf(work, sizeof(work), "%s/work", dir);
		}
		err = sim_remove_tree(work);
		if (err != FB_OK) {
			fprintf(stderr, "%s\n", fb_last_error(err));
		}
	}
	return POINT_RAN;
}

static void
hms(char *buf, size_t cap, double s)
{
	long t = s > 0 ? (long)(s + 0.5) : 0;
	snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

// The last line of a failed point's log.
static void
last_line(const char *out, const struct point *p, char *buf, size_t cap)
{
	char path[SIM_PATH_MAX + 700];
	snprintf(path, sizeof(path), "%s/points/%s/log.txt", out, p->id);
	snprintf(buf, cap, "%s", "(no log)");
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		return;
	}
	char line[512];
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0') {
			snprintf(buf, cap, "%s", line);
		}
	}
	fclose(fp);
}

// The terminal's progress line while points run: done, elapsed, the
// estimate of the time left and the points running.
static void
redraw(const struct sweep *sw, size_t n_done, double elapsed, size_t ran,
		double work_s, size_t todo, uint32_t jobs)
{
	char e[32], l[32] = "?";
	hms(e, sizeof(e), elapsed);
	if (ran > 0) {
		hms(l, sizeof(l),
				(double)(todo - ran) * (work_s / (double)ran) /
						(double)jobs);
	}
	fprintf(stderr, "\r\033[K[%zu/%zu] %3.0f%%  elapsed %s  left ~%s  running:",
			n_done, sw->n, 100.0 * (double)n_done / (double)sw->n,
			e, l);
	for (size_t i = 0, shown = 0; i < sw->n && shown < 2; i++) {
		if (sw->pts[i].pid > 0) {
			fprintf(stderr, " %.60s", sw->pts[i].id);
			shown++;
		}
	}
	fflush(stderr);
}

// What run_points did.
struct tally {
	size_t n_done;    // points with a marker, whole grid (not --point)
	size_t ran;       // children that ended
	size_t failed;    // of which failed
	size_t busy;      // of which found the point locked by another
	size_t elsewhere; // of which found it finished by another
};

// One line on a point that ended (status: the child's exit status).
static void
report(const struct sweep *sw, const struct point *p, int status,
		const struct tally *t, double elapsed, double left, bool tty)
{
	static char vals[N_COLUMNS][128];
	char what[1200];
	if (status == POINT_BUSY) {
		snprintf(what, sizeof(what),
				"%s: another process is running it (its lock "
				"%s/points/%.100s/lock is held): %s",
				p->id, sw->out, p->id,
				sw->single ? "refused" : "skipped");
	} else if (status == POINT_WAS_DONE) {
		snprintf(what, sizeof(what),
				"%s: finished by another process: skipped",
				p->id);
	} else if (p->done) {
		read_done(sw->out, p, vals);
		snprintf(what, sizeof(what), "%s: Recall@20 %s", p->id,
				vals[COL_FINAL_RECALL20][0] != '\0'
						? vals[COL_FINAL_RECALL20]
						: "-");
	} else {
		char why[512];
		last_line(sw->out, p, why, sizeof(why));
		snprintf(what, sizeof(what), "%s FAILED: %.400s", p->id, why);
	}
	char e[32], l[32];
	hms(e, sizeof(e), elapsed);
	hms(l, sizeof(l), left);
	if (sw->single) {
		fprintf(stderr, "fedbundle sweep: point %zu: %s (%.1f s)\n",
				(size_t)(p - sw->pts), what, p->wall_s);
	} else if (tty) {
		fprintf(stderr,
				"\r\033[K[%zu/%zu] %3.0f%%  elapsed %s  left ~%s  "
				"%s%s",
				t->n_done, sw->n,
				100.0 * (double)t->n_done / (double)sw->n, e, l,
				what, p->done ? "" : "\n");
	} else {
		fprintf(stderr,
				"point %zu/%zu done in %.1f s (elapsed %s, ~%s "
				"left): %s\n",
				t->n_done, sw->n, p->wall_s, e, l, what);
	}
}

// Notes how a child ended in p and t; with a whole sweep, rewrites
// results.csv.
static void
finish_point(struct sweep *sw, struct point *p, int st, struct tally *t)
{
	static char vals[N_COLUMNS][128];
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : POINT_FAILED;
	t->ran++;
	p->done = (status == POINT_RAN || status == POINT_WAS_DONE) &&
			read_done(sw->out, p, vals);
	if (status == POINT_BUSY) {
		t->busy++;
	} else if (status == POINT_WAS_DONE) {
		t->elsewhere++;
	} else if (!p->done) {
		p->failed = true;
		t->failed++;
	}
	p->status = status;
	if (!sw->single) {
		fb_err err = write_csv(sw->out, sw->pts, sw->n, &t->n_done);
		if (err != FB_OK) {
			fprintf(stderr, "fedbundle sweep: results.csv: %s\n",
					fb_last_error(err));
		}
	}
}

// The one point runner: forks a child (run_point) for every point with
// todo set, at most jobs at a time, until they all ended or a signal came
// (then the children are killed; their locks die with them).
static void
run_points(struct sweep *sw, uint32_t jobs, size_t todo, struct tally *t)
{
	bool tty = !sw->single && cli_stderr_is_tty();
	double t0 = fb_clock_s(), work_s = 0;
	size_t next = 0, running = 0;
	fflush(NULL);
	while (stop_signal == 0) {
		while (running < jobs && next < sw->n) {
			struct point *p = &sw->pts[next++];
			if (!p->todo) {
				continue;
			}
			p->wall_s = fb_clock_s();
			pid_t pid = fork();
			if (pid < 0) {
				fprintf(stderr, "fedbundle sweep: fork: %s\n",
						strerror(errno));
				stop_signal = SIGTERM;
				break;
			}
			if (pid == 0) {
				_exit(run_point(sw, p));
			}
			p->pid = pid;
			running++;
		}
		if (running == 0) {
			break;
		}
		int st = 0;
		pid_t pid = waitpid(-1, &st, tty ? WNOHANG : 0);
		if (pid == 0) {
			// On a terminal the line ticks while points run.
			redraw(sw, t->n_done, fb_clock_s() - t0, t->ran, work_s,
					todo, jobs);
			struct timespec ts = {0, 200 * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		struct point *p = NULL;
		for (size_t i = 0; i < sw->n; i++) {
			if (sw->pts[i].pid == pid) {
				p = &sw->pts[i];
			}
		}
		if (p == NULL) {
			continue;
		}
		running--;
		p->pid = 0;
		p->wall_s = fb_clock_s() - p->wall_s;
		work_s += p->wall_s;
		finish_point(sw, p, st, t);
		double left = (double)(todo - t->ran) *
				(work_s / (double)t->ran) / (double)jobs;
		report(sw, p, p->status, t, fb_clock_s() - t0, left, tty);
	}
	for (size_t i = 0; stop_signal != 0 && i < sw->n; i++) {
		if (sw->pts[i].pid > 0) {
			kill(sw->pts[i].pid, SIGKILL);
			waitpid(sw->pts[i].pid, NULL, 0);
		}
	}
	if (tty) {
		fputc('\n', stderr);
	}
}

static void
catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
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
		fb_err err = check_record(
				sw->out, a->grid, sw->pts, sw->n, false);
		if (err != FB_OK) {
			fprintf(stderr, "fedbundle %s: %s\n", cmd,
					fb_last_error(err));
			return 1;
		}
	}
	char hash[2 * FB_HASH_LEN + 1];
	grid_hash(sw->pts, sw->n, hash);
	if (a->json) {
		printf("{\"grid_hash\": \"%s\", \"count\": %zu, \"points\": [",
				hash, sw->n);
	}
	static char vals[N_COLUMNS][128];
	for (size_t k = 0; k < sw->n; k++) {
		const struct point *p = &sw->pts[k];
		if (a->json) {
			printf("%s\n {\"index\": %zu, \"id\": ",
					k > 0 ? "," : "", k);
			sim_json_string(stdout, p->id);
			printf(", \"hash\": \"%s\", \"settings\": {", p->hash);
		} else {
			printf("%zu\t%s\t", k, p->id);
		}
		for (size_t i = 0; i < g->n_axes; i++) {
			const char *v = point_value(p, g, i);
			if (a->json) {
				printf("%s", i > 0 ? ", " : "");
				sim_json_string(stdout, g->axes[i].name);
				printf(": %s", v);
			} else {
				char val[VALUE_MAX];
				unquote(val, sizeof(val), v);
				printf("%s%s=%s", i > 0 ? " " : "",
						g->axes[i].name, val);
			}
		}
		if (!a->json) {
			printf("\n");
		} else if (sw->out != NULL) {
			printf("}, \"done\": %s}",
					read_done(sw->out, p, vals) ? "true"
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
	fb_err err = check_record(sw->out, a->grid, sw->pts, sw->n, false);
	size_t n_done = 0;
	if (err == FB_OK) {
		err = write_csv(sw->out, sw->pts, sw->n, &n_done);
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
		if (read_done(sw->out, p, vals)) {
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
		if (!read_done(sw->out, &sw->pts[k], vals)) {
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
		err = check_record(sw->out, a->grid, sw->pts, sw->n, true);
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
	if (read_done(sw->out, p, vals)) {
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
	catch_signals();
	struct tally t = {0};
	run_points(sw, 1, 1, &t);
	if (stop_signal != 0) {
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
		sw->pts[i].done = read_done(sw->out, &sw->pts[i], vals);
		sw->pts[i].todo = !sw->pts[i].done;
		skipped += sw->pts[i].done;
	}
	struct tally t = {0};
	fb_err err = write_csv(sw->out, sw->pts, sw->n, &t.n_done);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "writing results.csv");
	}
	fprintf(stderr,
			"fedbundle sweep: %zu points (%zu already done), %u at "
			"a time; %s\n",
			sw->n, skipped, jobs, SIM_NOISE_NOTE);
	catch_signals();
	double t0 = fb_clock_s();
	run_points(sw, jobs, sw->n - skipped, &t);
	char e[32], busy[64] = "";
	hms(e, sizeof(e), fb_clock_s() - t0);
	if (t.busy > 0) {
		snprintf(busy, sizeof(busy), ", %zu being run elsewhere",
				t.busy);
	}
	fprintf(stderr,
			"fedbundle sweep: %zu of %zu points done (%zu run now, "
			"%zu failed%s) in %s; results in %s/results.csv\n",
			t.n_done, sw->n, t.ran - t.busy - t.elsewhere, t.failed,
			busy, e, sw->out);
	if (stop_signal != 0) {
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
	fb_err err = grid_load(&g, a.grid);
	if (err == FB_OK) {
		err = make_points(&g, &sw.pts, &sw.n);
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
