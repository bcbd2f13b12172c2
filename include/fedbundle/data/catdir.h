// include/fedbundle/data/catdir.h: the consortium's catalogue, built once
// and distributed (docs/operations.md), and the original ids beside a
// dataset folder.
//
// A catalogue folder is a dataset folder (dataset.h) with no users: its
// <Name>_data_size.txt says "0<TAB>#bundles<TAB>#items[<TAB>#attrs]", its
// user_bundle_*.txt are empty, bundle_item.txt and item_attr.txt hold the
// catalogue; beside them bundles.map, items.map and (with attributes)
// attrs.map give every dense id its original id (idmap.h), the optional
// bundle_names.txt and item_names.txt give "dense_id<TAB>name" lines, the
// optional item_prices.txt "dense_id<TAB>price" (a non-negative decimal), and
// catalog.txt records the catalogue's digest and counts. A retailer's
// folder imported onto it (`fedbundle import --catalog`) holds the same
// catalogue files plus its user files and users.map, so the aggregator's
// catalogue folder and every retailer's folder have the same digest.
//
// The catalogue digest is its version id: BLAKE2b-256 over the canonical
// content (docs/operations.md, "The catalogue digest"): the counts, the
// bundle-item and item-attribute relations in dense ids, and the original
// ids of bundles, items and attributes when the folder has them. Names
// and prices are not in it: they change nothing a model learns.
// Thread-safety: every function works on its own arguments only.
#ifndef FB_INCLUDE_FEDBUNDLE_CATDIR_H
#define FB_INCLUDE_FEDBUNDLE_CATDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/data/idmap.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

// The manifest file of a catalogue folder.
#define FB_CATDIR_MANIFEST "catalog.txt"

// Characters of a digest in hex, without the NUL.
#define FB_CATDIR_HEX_LEN (2 * FB_HASH_LEN)

// The original ids (and names) of a dataset folder's dense ids. Caller
// storage; fb_catdir_ids_finish releases it.
struct fb_catdir_ids {
	bool have;               // bundles.map and items.map were found
	struct fb_idmap users;   // empty without users.map
	struct fb_idmap bundles; // empty without bundles.map
	struct fb_idmap items;   // empty without items.map
	struct fb_idmap attrs;   // empty without attrs.map
	char **bundle_names;     // n_bundles entries (NULL: no name), or
	char **item_names;       //   NULL without the names file
	double *item_prices; // n_items (NAN: no price); NULL: no prices file
	uint32_t n_bundles, n_items; // entries of the name arrays
};

// Loads the .map and names files of dir for ds (loaded from dir). A map
// present must list exactly the dataset's count of its ids; bundles.map
// and items.map come together. FB_EFORMAT naming the file and the line or
// the count, FB_EIO, FB_ENOMEM. On failure *ids is left empty.
fb_err fb_catdir_ids_load(struct fb_catdir_ids *ids,
		const struct fb_dataset *ds, const char *dir);

// The dense id of the customer whose original id is s, from users.map of
// dir (loaded in ids). FB_EINVAL naming dir if it has no users.map or s
// is not in it.
fb_err fb_catdir_user(const struct fb_catdir_ids *ids, const char *dir,
		const char *s, uint32_t *user);

// Parses list, item ids separated by commas or line breaks (spaces and
// TABs around each trimmed, empty ones skipped), into items[0 .. *n) in
// order (room for max). With the folder's items.map (ids->items.n > 0)
// each is the retailer's original item id (which may hold spaces, not
// commas), else a dense id below n_items (then white space separates
// too). what names the list in messages ("--items", a file). With
// unique, an id given twice is an error. FB_EINVAL naming what and the
// token: an unknown id, more than max ids, a repeat, an empty list;
// FB_ENOMEM. *n is written only on success.
fb_err fb_catdir_parse_items(const struct fb_catdir_ids *ids, uint32_t n_items,
		const char *what, const char *list, bool unique,
		uint32_t *items, uint32_t max, uint32_t *n);

// Item j's original id (items.map) and name (item_names.txt), or NULL.
const char *fb_catdir_item_id(const struct fb_catdir_ids *ids, uint32_t j);
const char *fb_catdir_item_name(const struct fb_catdir_ids *ids, uint32_t j);

// Writes item j's original id, name and price where the folder has them:
// in JSON, the members ', "item_id": "...", "name": "...", "price": 4.99'
// (strings escaped); in text, "  <id>  <name>". Nothing without them.
void fb_catdir_print_item(FILE *fp, const struct fb_catdir_ids *ids, uint32_t j,
		bool json);

// Writes the original ids of items[0 .. n) where the folder has
// items.map: in JSON the member ', "<key>": ["id", ...]'; in text
// " (id, ...)". Nothing without it.
void fb_catdir_print_item_list(FILE *fp, const struct fb_catdir_ids *ids,
		const char *key, const uint32_t *items, uint32_t n, bool json);

// A set of items scored for a user as one bundle (`recommend --items`,
// the client's and the tool's): the score and the share of the n_bundles
// catalogue bundles that score below it.
struct fb_catdir_item_score {
	uint32_t user;
	const uint32_t *items;
	uint32_t n;
	float score;
	double share; // in [0, 1]
	uint32_t n_bundles;
};

// Writes s as one line: in JSON the object {"user", "items", "item_ids"
// (fb_catdir_print_item_list), "score", "outranks_catalogue_share"}; in
// text "user U, bundle of N item(s) (ids): score S, above P% of the B
// catalogue bundles for this user".
void fb_catdir_print_item_score(FILE *fp, const struct fb_catdir_ids *ids,
		const struct fb_catdir_item_score *s, bool json);

// Frees what fb_catdir_ids_load allocated; safe on a zeroed *ids.
void fb_catdir_ids_finish(struct fb_catdir_ids *ids);

// The catalogue digest of ds with the original ids in ids (NULL, or ids
// without maps: the relations alone, as for a synthetic dataset).
void fb_catdir_digest_of(const struct fb_dataset *ds,
		const struct fb_catdir_ids *ids, uint8_t out[FB_HASH_LEN]);

// The catalogue digest of ds: the one fb_dataset_load computed from the
// folder, or, for a dataset built in memory, that of its relations alone.
void fb_catdir_digest(const struct fb_dataset *ds, uint8_t out[FB_HASH_LEN]);

// Called by fb_dataset_load: loads the maps of dir, checks them against
// ds, stores the digest in ds and, if dir has catalog.txt, checks it
// records that digest. FB_EFORMAT with a detail naming the file.
fb_err fb_catdir_load_digest(struct fb_dataset *ds, const char *dir);

// Writes dir/catalog.txt for ds (loaded from or saved to dir), whose
// digest fb_catdir_digest gives.
fb_err fb_catdir_write_manifest(const struct fb_dataset *ds, const char *dir);

// Copies the catalogue's id maps, names files and manifest from cat_dir
// into dir (a dataset folder holding the same catalogue). FB_EIO.
fb_err fb_catdir_copy_files(const char *cat_dir, const char *dir);

// Parses a digest written in hex (64 characters). False if it is not.
bool fb_catdir_parse_hex(const char *hex, uint8_t out[FB_HASH_LEN]);

#endif
