// tools/sweep/sweep-results.c: what `fedbundle sweep` leaves in its output folder
// (sweep.h): each point's done marker, results.csv, the grid's record.

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fb_vcs.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "sharedfs.h"
#include "sweep.h"

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
fb_err
sweep_write_done(const char *dir, const struct point *p,
		const struct sim_result *r)
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
bool
sweep_read_done(const char *out, const struct point *p, char vals[][128])
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
fb_err
sweep_write_csv(const char *out, const struct point *pts, size_t n,
		size_t *n_done)
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
		if (!sweep_read_done(out, &pts[j], vals)) {
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

// The grid's hash: the points in their order, each its folder name and
// the hash of its resolved configuration. Whitespace or key order in the
// grid file does not count; a changed base, axis or value does.
void
sweep_grid_hash(const struct point *pts, size_t n,
		char hex[2 * FB_HASH_LEN + 1])
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
	fprintf(fp, "{\"sweep_grid_hash\": \"%s\", \"points\": %zu, \"grid\": ",
			hash, n);
	fb_config_write_string(fp, abs != NULL ? abs : grid_path);
	fprintf(fp, ", \"version\": ");
	fb_config_write_string(fp, FB_VCS_TAG);
	fprintf(fp, "}\n");
	free(abs);
	fclose(fp);
	return text;
}

// What sweep_check_record reads from a record; other keys are ignored.
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
	if (strcmp(v->key, "sweep_grid_hash") == 0 && v->string != NULL) {
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
fb_err
sweep_check_record(const char *out, const char *grid_path,
		const struct point *pts, size_t n, bool create)
{
	char hash[2 * FB_HASH_LEN + 1];
	sweep_grid_hash(pts, n, hash);
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
				"%s: no \"sweep_grid_hash\" string: not a sweep "
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
