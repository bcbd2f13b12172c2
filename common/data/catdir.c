// common/data/catdir.c: the catalogue folder (catdir.h): original ids and
// names beside a dataset, the catalogue digest that names a catalogue
// version, and its manifest. The digest is computed from the files every
// time a folder is loaded, never trusted from a label: two folders agree
// on it only if their catalogues (relations and original ids) are equal,
// which is what the aggregator and its clients must agree on before a
// round's rows mean the same bundles and items to all of them.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"

static const char *const copied_files[] = {"bundles.map", "items.map",
		"attrs.map", "bundle_names.txt", "item_names.txt",
		"item_prices.txt", FB_CATDIR_MANIFEST};

static bool
exists(const char *dir, const char *file)
{
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return false;
	}
	FILE *fp = fopen(path, "rb");
	free(path);
	if (fp == NULL) {
		return false;
	}
	fclose(fp);
	return true;
}

// Loads dir/file into m if it exists; its count must be want.
static fb_err
load_map(struct fb_idmap *m, const char *dir, const char *file, uint32_t want,
		const char *what)
{
	if (!exists(dir, file)) {
		return FB_OK;
	}
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_idmap_load(m, path);
	if (err == FB_OK && m->n != want) {
		err = fb_errorf(FB_EFORMAT,
				"%s: %u %s ids, but the dataset has %u %ss (the map belongs to another dataset or catalogue)",
				path, m->n, what, want, what);
		fb_idmap_finish(m);
	}
	free(path);
	return err;
}

static void free_names(char **names, uint32_t n);

// Loads dir/file, "dense_id<TAB>name" lines, into a names array of n.
static fb_err
load_names(char ***out, const char *dir, const char *file, uint32_t n)
{
	*out = NULL;
	if (!exists(dir, file)) {
		return FB_OK;
	}
	char *path = fb_path_join(dir, file);
	char *buf = NULL;
	size_t len = 0;
	char **names = calloc(n > 0 ? n : 1, sizeof(*names));
	fb_err err = path == NULL || names == NULL ? FB_ENOMEM : FB_OK;
	if (err == FB_OK) {
		err = fb_read_file(path, (size_t)1 << 32, &buf, &len);
	}
	size_t pos = 0, line = 0;
	while (err == FB_OK && pos < len) {
		line++;
		char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;
		buf[end] = '\0';
		char *tab = strchr(buf + pos, '\t');
		char *stop = NULL;
		unsigned long id = strtoul(buf + pos, &stop, 10);
		if (tab == NULL || stop != tab || tab == buf + pos || id >= n) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: not \"dense_id<TAB>name\" with a dense id below %u",
					path, line, n);
		} else if (names[id] != NULL) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: a second name for id %lu",
					path, line, id);
		} else if ((names[id] = strdup(tab + 1)) == NULL) {
			err = FB_ENOMEM;
		}
		pos = end + 1;
	}
	free(buf);
	free(path);
	if (err != FB_OK) {
		for (uint32_t i = 0; names != NULL && i < n; i++) {
			free(names[i]);
		}
		free(names);
		return err;
	}
	*out = names;
	return FB_OK;
}

static fb_err
load_maps(struct fb_catdir_ids *ids, const struct fb_dataset *ds,
		const char *dir)
{
	fb_err err = load_map(
			&ids->users, dir, "users.map", ds->n_users, "user");
	if (err == FB_OK) {
		err = load_map(&ids->bundles, dir, "bundles.map", ds->n_bundles,
				"bundle");
	}
	if (err == FB_OK) {
		err = load_map(&ids->items, dir, "items.map", ds->n_items,
				"item");
	}
	if (err == FB_OK) {
		err = load_map(&ids->attrs, dir, "attrs.map", ds->n_attrs,
				"attr");
	}
	if (err != FB_OK) {
		return err;
	}
	bool b = exists(dir, "bundles.map"), i = exists(dir, "items.map");
	if (b != i) {
		return fb_errorf(FB_EFORMAT,
				"%s: has %s but not %s (both or neither)", dir,
				b ? "bundles.map" : "items.map",
				b ? "items.map" : "bundles.map");
	}
	ids->have = b;
	return FB_OK;
}

// Loads dir/item_prices.txt ("dense_id<TAB>price") into ids->item_prices
// (NAN for an item without a price), if the file exists.
static fb_err
load_prices(struct fb_catdir_ids *ids, const char *dir, uint32_t n)
{
	char **text = NULL;
	fb_err err = load_names(&text, dir, "item_prices.txt", n);
	if (err != FB_OK || text == NULL) {
		return err;
	}
	ids->item_prices = malloc((n > 0 ? n : 1) * sizeof(double));
	err = ids->item_prices == NULL ? FB_ENOMEM : FB_OK;
	for (uint32_t j = 0; err == FB_OK && j < n; j++) {
		char *end = NULL;
		double v = text[j] != NULL ? strtod(text[j], &end) : NAN;
		if (text[j] != NULL &&
				(end == text[j] || *end != '\0' ||
						!isfinite(v) || v < 0)) {
			err = fb_errorf(FB_EFORMAT,
					"%s/item_prices.txt: item %u: '%.40s' is not a non-negative price",
					dir, j, text[j]);
		}
		if (err == FB_OK) {
			ids->item_prices[j] = v;
		}
	}
	free_names(text, n);
	return err;
}

fb_err
fb_catdir_ids_load(struct fb_catdir_ids *ids, const struct fb_dataset *ds,
		const char *dir)
{
	memset(ids, 0, sizeof(*ids));
	ids->users.what = "user";
	ids->bundles.what = "bundle";
	ids->items.what = "item";
	ids->attrs.what = "attr";
	fb_err err = load_maps(ids, ds, dir);
	if (err == FB_OK) {
		ids->n_bundles = ds->n_bundles;
		err = load_names(&ids->bundle_names, dir, "bundle_names.txt",
				ds->n_bundles);
	}
	if (err == FB_OK) {
		ids->n_items = ds->n_items;
		err = load_names(&ids->item_names, dir, "item_names.txt",
				ds->n_items);
	}
	if (err == FB_OK) {
		err = load_prices(ids, dir, ds->n_items);
	}
	if (err != FB_OK) {
		fb_catdir_ids_finish(ids);
	}
	return err;
}

fb_err
fb_catdir_user(const struct fb_catdir_ids *ids, const char *dir, const char *s,
		uint32_t *user)
{
	if (ids->users.n == 0) {
		return fb_errorf(FB_EINVAL,
				"%s has no users.map: give the dense user id "
				"(--user), or import with `fedbundle import`",
				dir);
	}
	if (!fb_idmap_find(&ids->users, s, strlen(s), user)) {
		return fb_errorf(FB_EINVAL,
				"customer '%.80s' is not in %s/users.map", s,
				dir);
	}
	return FB_OK;
}

// Whether c separates ids in an item list: commas and line breaks, and
// for dense ids white space too (an original id may hold spaces).
static bool
is_sep(char c, bool original)
{
	return c == ',' || c == '\n' || c == '\r' ||
			(!original && (c == ' ' || c == '\t'));
}

// The dense id of the token s[0 .. len): an original id with items.map,
// else a decimal dense id.
static fb_err
item_of(const struct fb_catdir_ids *ids, uint32_t n_items, const char *what,
		const char *s, size_t len, uint32_t *out)
{
	int shown = (int)(len < 80 ? len : 80);
	if (ids != NULL && ids->items.n > 0) {
		if (!fb_idmap_find(&ids->items, s, len, out)) {
			return fb_errorf(FB_EINVAL,
					"%s: item '%.*s' is not in the folder's items.map (%u items; give the retailer's item ids)",
					what, shown, s, ids->items.n);
		}
		return FB_OK;
	}
	uint64_t v = 0;
	bool ok = len > 0 && len <= 10;
	for (size_t k = 0; ok && k < len; k++) {
		ok = s[k] >= '0' && s[k] <= '9';
		v = v * 10 + (uint64_t)(s[k] - '0');
	}
	if (!ok || v >= n_items) {
		return fb_errorf(FB_EINVAL,
				"%s: item '%.*s' is not a dense item id 0..%u (the folder has no items.map)",
				what, shown, s, n_items > 0 ? n_items - 1 : 0);
	}
	*out = (uint32_t)v;
	return FB_OK;
}

fb_err
fb_catdir_parse_items(const struct fb_catdir_ids *ids, uint32_t n_items,
		const char *what, const char *list, bool unique,
		uint32_t *items, uint32_t max, uint32_t *n)
{
	uint32_t got = 0;
	uint8_t *seen = unique ? calloc((size_t)n_items + 1, 1) : NULL;
	if (unique && seen == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	bool original = ids != NULL && ids->items.n > 0;
	for (const char *p = list; err == FB_OK && *p != '\0';) {
		const char *end = p;
		while (*end != '\0' && !is_sep(*end, original)) {
			end++;
		}
		const char *a = p, *b = end;
		while (a < b && (*a == ' ' || *a == '\t')) {
			a++;
		}
		while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
			b--;
		}
		p = *end != '\0' ? end + 1 : end;
		if (a == b) {
			continue;
		}
		uint32_t j = 0;
		if (got == max) {
			err = fb_errorf(FB_EINVAL, "%s: at most %u items", what,
					max);
		} else {
			err = item_of(ids, n_items, what, a, (size_t)(b - a),
					&j);
		}
		if (err == FB_OK && seen != NULL && seen[j]) {
			err = fb_errorf(FB_EINVAL,
					"%s: item '%.*s' given twice", what,
					(int)(b - a < 80 ? b - a : 80), a);
		}
		if (err == FB_OK) {
			if (seen != NULL) {
				seen[j] = 1;
			}
			items[got++] = j;
		}
	}
	free(seen);
	if (err == FB_OK && got == 0) {
		err = fb_errorf(FB_EINVAL, "%s: no item ids", what);
	}
	if (err == FB_OK) {
		*n = got;
	}
	return err;
}

const char *
fb_catdir_item_id(const struct fb_catdir_ids *ids, uint32_t j)
{
	return ids != NULL && j < ids->items.n ? fb_idmap_str(&ids->items, j)
					       : NULL;
}

const char *
fb_catdir_item_name(const struct fb_catdir_ids *ids, uint32_t j)
{
	return ids != NULL && ids->item_names != NULL && j < ids->n_items
			? ids->item_names[j]
			: NULL;
}

void
fb_catdir_print_item(FILE *fp, const struct fb_catdir_ids *ids, uint32_t j,
		bool json)
{
	const char *id = fb_catdir_item_id(ids, j);
	const char *name = fb_catdir_item_name(ids, j);
	if (json) {
		if (id != NULL) {
			fputs(", \"item_id\": ", fp);
			fb_config_write_string(fp, id);
		}
		if (name != NULL) {
			fputs(", \"name\": ", fp);
			fb_config_write_string(fp, name);
		}
		if (ids != NULL && ids->item_prices != NULL &&
				!isnan(ids->item_prices[j])) {
			fprintf(fp, ", \"price\": %.2f", ids->item_prices[j]);
		}
	} else if (id != NULL) {
		fprintf(fp, "  %s%s%s", id, name != NULL ? "  " : "",
				name != NULL ? name : "");
	}
}

void
fb_catdir_print_item_list(FILE *fp, const struct fb_catdir_ids *ids,
		const char *key, const uint32_t *items, uint32_t n, bool json)
{
	if (ids == NULL || ids->items.n == 0) {
		return;
	}
	if (json) {
		fprintf(fp, ", \"%s\": [", key);
	} else {
		fputs(" (", fp);
	}
	for (uint32_t k = 0; k < n; k++) {
		const char *id = fb_catdir_item_id(ids, items[k]);
		fputs(k > 0 ? ", " : "", fp);
		if (json) {
			fb_config_write_string(fp, id != NULL ? id : "");
		} else {
			fputs(id != NULL ? id : "?", fp);
		}
	}
	fputs(json ? "]" : ")", fp);
}

void
fb_catdir_print_item_score(FILE *fp, const struct fb_catdir_ids *ids,
		const struct fb_catdir_item_score *s, bool json)
{
	if (json) {
		fprintf(fp, "{\"user\": %u, \"items\": [", s->user);
		for (uint32_t k = 0; k < s->n; k++) {
			fprintf(fp, "%s%u", k > 0 ? ", " : "", s->items[k]);
		}
		fputc(']', fp);
		fb_catdir_print_item_list(
				fp, ids, "item_ids", s->items, s->n, true);
		fprintf(fp,
				", \"score\": %.6f, "
				"\"outranks_catalogue_share\": %.6f}\n",
				s->score, s->share);
	} else {
		fprintf(fp, "user %u, bundle of %u item(s)", s->user, s->n);
		fb_catdir_print_item_list(fp, ids, NULL, s->items, s->n, false);
		fprintf(fp,
				": score %.4f, above %.1f%% of the %u catalogue "
				"bundles for this user\n",
				s->score, 100 * s->share, s->n_bundles);
	}
}

static void
free_names(char **names, uint32_t n)
{
	for (uint32_t i = 0; names != NULL && i < n; i++) {
		free(names[i]);
	}
	free(names);
}

void
fb_catdir_ids_finish(struct fb_catdir_ids *ids)
{
	if (ids == NULL) {
		return;
	}
	fb_idmap_finish(&ids->users);
	fb_idmap_finish(&ids->bundles);
	fb_idmap_finish(&ids->items);
	fb_idmap_finish(&ids->attrs);
	free_names(ids->bundle_names, ids->n_bundles);
	free_names(ids->item_names, ids->n_items);
	free(ids->item_prices);
	memset(ids, 0, sizeof(*ids));
}

// ------------------------------------------------------------------ digest

static void
put_u32(struct fb_hash *h, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			(uint8_t)(v >> 24)};
	fb_hash_update(h, b, sizeof(b));
}

// Rows of m (n_rows of them; an absent relation has empty rows): each
// row's length, then its columns, as u32 little-endian.
static void
put_relation(struct fb_hash *h, const struct fb_csr *m, uint32_t n_rows)
{
	for (uint32_t r = 0; r < n_rows; r++) {
		uint32_t len = m->row_ptr != NULL && r < m->n_rows
				? fb_csr_row_len(m, r)
				: 0;
		put_u32(h, len);
		const uint32_t *col = len > 0 ? fb_csr_row(m, r) : NULL;
		for (uint32_t k = 0; k < len; k++) {
			put_u32(h, col[k]);
		}
	}
}

// A byte 1 and every original id (length, bytes), or a byte 0 if absent.
static void
put_ids(struct fb_hash *h, const struct fb_idmap *m)
{
	uint8_t present = m != NULL && m->n > 0;
	fb_hash_update(h, &present, 1);
	for (uint32_t id = 0; present && id < m->n; id++) {
		const char *s = fb_idmap_str(m, id);
		size_t n = strlen(s);
		put_u32(h, (uint32_t)n);
		fb_hash_update(h, s, n);
	}
}

void
fb_catdir_digest_of(const struct fb_dataset *ds,
		const struct fb_catdir_ids *ids, uint8_t out[FB_HASH_LEN])
{
	static const char label[] = "fedbundle catalogue v1";
	struct fb_hash h;
	fb_hash_init(&h);
	fb_hash_update(&h, label, sizeof(label)); // with its NUL
	put_u32(&h, ds->n_bundles);
	put_u32(&h, ds->n_items);
	put_u32(&h, ds->n_attrs);
	put_relation(&h, &ds->bi, ds->n_bundles);
	put_relation(&h, &ds->ia, ds->n_attrs > 0 ? ds->n_items : 0);
	bool have = ids != NULL && ids->have;
	put_ids(&h, have ? &ids->bundles : NULL);
	put_ids(&h, have ? &ids->items : NULL);
	put_ids(&h, have ? &ids->attrs : NULL);
	fb_hash_final(&h, out);
}

void
fb_catdir_digest(const struct fb_dataset *ds, uint8_t out[FB_HASH_LEN])
{
	if (ds->has_digest) {
		memcpy(out, ds->catalog_digest, FB_HASH_LEN);
	} else {
		fb_catdir_digest_of(ds, NULL, out);
	}
}

bool
fb_catdir_parse_hex(const char *hex, uint8_t out[FB_HASH_LEN])
{
	if (strlen(hex) != FB_CATDIR_HEX_LEN) {
		return false;
	}
	for (size_t i = 0; i < FB_HASH_LEN; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + (size_t)k];
			unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
					: c >= 'a' && c <= 'f'
					? (unsigned)(c - 'a' + 10)
					: c >= 'A' && c <= 'F'
					? (unsigned)(c - 'A' + 10)
					: 16;
			if (d > 15) {
				return false;
			}
			v = v * 16 + d;
		}
		out[i] = (uint8_t)v;
	}
	return true;
}

// ---------------------------------------------------------------- manifest

// Checks dir/catalog.txt, if present, records digest.
static fb_err
check_manifest(const char *dir, const uint8_t digest[FB_HASH_LEN])
{
	if (!exists(dir, FB_CATDIR_MANIFEST)) {
		return FB_OK;
	}
	char *path = fb_path_join(dir, FB_CATDIR_MANIFEST);
	char *buf = NULL;
	size_t len = 0;
	fb_err err = path == NULL ? FB_ENOMEM
				  : fb_read_file(path, 1 << 16, &buf, &len);
	if (err != FB_OK) {
		free(path);
		return err;
	}
	char hex[FB_CATDIR_HEX_LEN + 1];
	const char *at = strstr(buf, "\ndigest ");
	uint8_t recorded[FB_HASH_LEN];
	if (at == NULL || sscanf(at + 8, "%64s", hex) != 1 ||
			!fb_catdir_parse_hex(hex, recorded)) {
		err = fb_errorf(FB_EFORMAT,
				"%s: no \"digest <64 hex digits>\" line", path);
	} else if (memcmp(recorded, digest, FB_HASH_LEN) != 0) {
		char got[FB_CATDIR_HEX_LEN + 1];
		fb_hash_hex(digest, got);
		err = fb_errorf(FB_EFORMAT,
				"%s records catalogue %s, but the folder's catalogue files give %s (a file was changed or comes from another catalogue)",
				path, hex, got);
	}
	free(buf);
	free(path);
	return err;
}

fb_err
fb_catdir_load_digest(struct fb_dataset *ds, const char *dir)
{
	struct fb_catdir_ids ids;
	memset(&ids, 0, sizeof(ids));
	fb_err err = load_maps(&ids, ds, dir);
	if (err == FB_OK) {
		fb_catdir_digest_of(ds, &ids, ds->catalog_digest);
		ds->has_digest = true;
		ds->has_ids = ids.have;
		err = check_manifest(dir, ds->catalog_digest);
	}
	fb_catdir_ids_finish(&ids);
	return err;
}

fb_err
fb_catdir_write_manifest(const struct fb_dataset *ds, const char *dir)
{
	uint8_t d[FB_HASH_LEN];
	fb_catdir_digest(ds, d);
	char hex[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(d, hex);
	char text[512];
	int n = snprintf(text, sizeof(text),
			"fedbundle catalogue (docs/operations.md)\n"
			"digest %s\nbundles %u\nitems %u\nattrs %u\n",
			hex, ds->n_bundles, ds->n_items, ds->n_attrs);
	char *path = fb_path_join(dir, FB_CATDIR_MANIFEST);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_write_file_atomic(path, text, (size_t)n, 0644);
	free(path);
	return err;
}

fb_err
fb_catdir_copy_files(const char *cat_dir, const char *dir)
{
	size_t n = sizeof(copied_files) / sizeof(copied_files[0]);
	fb_err err = FB_OK;
	for (size_t i = 0; i < n && err == FB_OK; i++) {
		if (!exists(cat_dir, copied_files[i])) {
			continue;
		}
		char *from = fb_path_join(cat_dir, copied_files[i]);
		char *to = fb_path_join(dir, copied_files[i]);
		char *buf = NULL;
		size_t len = 0;
		err = from == NULL || to == NULL
				? FB_ENOMEM
				: fb_read_file(from, (size_t)1 << 34, &buf,
						  &len);
		if (err == FB_OK) {
			err = fb_write_file_atomic(to, buf, len, 0644);
		}
		free(buf);
		free(from);
		free(to);
	}
	return err;
}
