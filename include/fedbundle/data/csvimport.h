// include/fedbundle/data/csvimport.h: turns a retailer's own CSV exports into a
// dataset folder that fb_dataset_load reads.
//
// Inputs are RFC 4180 CSV (comma-separated, fields optionally in double
// quotes, "" for a quote inside quotes, commas and line breaks allowed
// inside quotes, CR LF or LF line ends, a UTF-8 byte-order mark is skipped)
// whose first row names the columns:
//   * bundle catalogue:  bundle_id,item_id  (one row per membership)
//   * interactions:      user_id,bundle_id  (one row per user-bundle event)
//   * user-item, optional: user_id,item_id
// Columns are found by their exact header name, in any order; other columns
// (a timestamp, a price, a comment...) are allowed and ignored. Blank lines
// are skipped. Files must be UTF-8: the first invalid byte is an error
// naming file:line:column. Every file needs at least one data row after
// its header. Ids are arbitrary non-empty strings without control
// characters (TAB, CR, LF...), compared byte for byte after spaces around
// them are trimmed (counted in struct fb_csvimport_notes: a warning).
//
// Thread-safety: every function works on its own arguments only.
#ifndef FB_INCLUDE_FEDBUNDLE_CSVIMPORT_H
#define FB_INCLUDE_FEDBUNDLE_CSVIMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/util/err.h"

// Largest CSV file fb_csvimport_run reads; bigger ones are FB_EFORMAT.
#define FB_CSVIMPORT_MAX_FILE_BYTES ((uint64_t)16 << 30)

// An RFC 4180 record reader over a caller-held buffer. Caller storage:
// fb_csvimport_reader_init, then _next until it reports the end, then
// _finish. Only the public fields below may be read.
struct fb_csvimport_reader {
	size_t n_fields;    // fields of the current record
	char **field;       // field[i]: NUL-terminated copy, unquoted
	size_t *field_len;  // its length (a field may hold NUL bytes)
	size_t record_line; // line (1-based) where the current record starts
	// Private.
	const char *label;
	const char *buf;
	size_t len, pos, line;
	char *text;
	size_t text_cap;
	size_t *offs;
	size_t fields_cap;
};

// Starts reading buf[0 .. len) (which must outlive the reader); label names
// the input in messages. Skips a leading UTF-8 byte-order mark.
void fb_csvimport_reader_init(struct fb_csvimport_reader *rd, const char *label,
		const char *buf, size_t len);

// Reads the next record into the public fields. Stores true in *got for a
// record, false at the end of input. FB_EFORMAT "<label>:<line>: <problem>"
// for a quote inside an unquoted field, text after a closing quote, a bare
// CR, an unterminated quoted field; FB_ENOMEM. After an error the reader
// only accepts _finish.
fb_err fb_csvimport_reader_next(struct fb_csvimport_reader *rd, bool *got);

// Releases the reader's memory; NULL-safe and idempotent.
void fb_csvimport_reader_finish(struct fb_csvimport_reader *rd);

// Splits user-bundle interactions per user (PROVENANCE.md protocol): each
// user's pairs are shuffled with a PRNG seeded from seed, a user with at
// least 3 pairs gets round(n * frac) pairs in tune and test (randomised
// rounding, so the totals match the fractions) with at least one in each
// split whose fraction is > 0 and at least one left in train; a user with
// 1 or 2 pairs keeps them in train. frac = {train, tune, test}, each >= 0,
// train > 0, summing to 1 (within 1e-6), else FB_EINVAL. On success out[0..2]
// (train, tune, test) are CSRs shaped like all; the caller finishes them.
// Deterministic for (all, seed, frac).
fb_err fb_csvimport_split(struct fb_csr out[3], const struct fb_csr *all,
		uint64_t seed, const double frac[3]);

struct fb_csvimport_options {
	// The consortium's catalogue folder (catdir.h), or NULL. With it,
	// bundles and items take the catalogue's dense ids, rows naming one
	// it lacks are counted and skipped (refused with strict), and
	// bundles_path must be NULL.
	const char *catalog_dir;
	bool strict;                   // with catalog_dir: unknown ids fail
	const char *bundles_path;      // catalogue CSV, required without
				       // catalog_dir
	const char *interactions_path; // user-bundle CSV, required
	const char *user_items_path;   // user-item CSV, or NULL
	const char *name;              // dataset name (file prefix), required
	uint64_t seed;                 // for the split
	double split[3];               // train, tune, test fractions
};

// What an import accepted but its user should hear about: ids written with
// spaces around them (trimmed, so " A1" and "A1" are one id).
struct fb_csvimport_notes {
	uint64_t trimmed;         // ids trimmed
	const char *trimmed_path; // the first: its file (an option's path)
	size_t trimmed_line;      //   and line
};

// Fills the defaults: no paths, name "Imported", seed 1, split 0.7/0.1/0.2.
void fb_csvimport_options_init(struct fb_csvimport_options *opt);

// How many rows of one input named ids the catalogue lacks, and where
// the first FB_CSVIMPORT_FIRST_UNKNOWN of them are.
#define FB_CSVIMPORT_FIRST_UNKNOWN 3
struct fb_csvimport_file_report {
	uint64_t rows;    // data rows read
	uint64_t unknown; // of which named an unknown bundle or item (skipped)
	uint32_t n_first;
	size_t first_line[FB_CSVIMPORT_FIRST_UNKNOWN];
	char first_id[FB_CSVIMPORT_FIRST_UNKNOWN][48]; // truncated
};

// What an import produced.
struct fb_csvimport_summary {
	// With catalog_dir: the interactions and user-item files.
	struct fb_csvimport_file_report interactions, user_items;
	uint32_t n_users, n_bundles, n_items;
	uint64_t n_bundle_items; // distinct memberships
	uint64_t n_user_bundles; // distinct user-bundle pairs
	uint64_t n_split[3];     // of which train, tune, test
	uint64_t n_user_items;   // distinct user-item pairs
	// Repeated rows merged into one pair (not an error: real exports
	// repeat purchases and catalogue rows).
	uint64_t dup_bundle_items, dup_user_bundles, dup_user_items;
	struct fb_csvimport_notes notes;
};

// Reads the CSVs named in opt and writes out_dir: the dataset files
// (fb_dataset_save) plus users.map, bundles.map and items.map, one
// "dense_id\toriginal_id" line per id, dense ids 0-based in order of first
// appearance (bundles and items: catalogue first; users: interactions
// first; then the user-item file). Errors (file and line named): a missing
// column, an empty id or one with a control character, an interaction
// naming a bundle absent from the catalogue, malformed CSV, invalid UTF-8
// (file:line:column), a file with no data rows (FB_EFORMAT);
// bad options (FB_EINVAL); FB_EIO, FB_ENOMEM. Fills *summary on success
// (summary may be NULL).
// With opt->catalog_dir the bundles, items and attributes, their dense ids
// and the files of catdir.h come from the catalogue, which out_dir then
// holds too (same catalogue digest); only users are numbered here
// (users.map). Rows naming a bundle or an item the catalogue lacks are
// skipped and reported in summary->interactions and ->user_items; with
// opt->strict any such row makes the import fail with FB_EFORMAT before
// anything is written (the reports are filled then too).
fb_err fb_csvimport_run(const struct fb_csvimport_options *opt,
		const char *out_dir, struct fb_csvimport_summary *summary);

// The consortium's catalogue from CSV exports (`fedbundle catalog build`).
struct fb_csvimport_catalog_options {
	const char *bundles_path; // bundle_id,item_id (one row a membership)
	const char *items_path;   // item_id[,name][,attrs][,price], or NULL;
				  // attrs: attribute ids separated by '|';
				  // price: a non-negative decimal, or empty
	const char *attrs_path;   // item_id,attr_id, or NULL
	const char *bundle_names_path; // bundle_id,name, or NULL
	const char *name;              // dataset name (file prefix)
};

struct fb_csvimport_catalog_summary {
	uint32_t n_bundles, n_items, n_attrs;
	uint64_t n_bundle_items, n_item_attrs;
	uint32_t named_bundles, named_items;
	uint32_t priced_items; // items with a price (item_prices.txt)
	uint64_t dup_bundle_items, dup_item_attrs; // merged repeats
	struct fb_csvimport_notes notes;
	uint8_t digest[FB_HASH_LEN];
};

// Builds the catalogue folder out_dir (catdir.h). Dense ids in order of
// first appearance: bundles and items in the bundles file, then items of
// the items file, attributes in the items file then the attributes file.
// The items file may add items no bundle holds. Errors (file and line
// named): a missing column, an empty or control-character id, an item of
// the attributes file or a bundle of the names file absent from the
// catalogue, two different names for one id (FB_EFORMAT); FB_EIO,
// FB_ENOMEM. Fills *summary on success (may be NULL).
fb_err fb_csvimport_catalog(const struct fb_csvimport_catalog_options *opt,
		const char *out_dir,
		struct fb_csvimport_catalog_summary *summary);

#endif
