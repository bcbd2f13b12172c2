// include/fedbundle/data/dataset.h: a bundle-recommendation dataset in memory.
// The on-disk form is the standard bundle-dataset folder (BGCN/CrossCBR):
// <Name>_data_size.txt ("#users\t#bundles\t#items", optionally "\t#attrs"),
// user_bundle_{train,tune,test}.txt, bundle_item.txt, optional user_item.txt
// and, fedbundle additions, optional item_attr.txt ("item\tattr") and the
// original ids and catalogue manifest of catdir.h (bundles.map, items.map,
// attrs.map, users.map, bundle_names.txt, item_names.txt, catalog.txt).
// In memory every relation is a CSR matrix with sorted, unique columns
// (csr.h).
// Thread-safety: a loaded dataset is immutable and may be read by any
// number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_DATASET_H
#define FB_INCLUDE_FEDBUNDLE_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/data/csr.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

struct fb_dataset {
	char *name; // e.g. "Youshu": prefix of <Name>_data_size.txt
	uint32_t n_users;
	uint32_t n_bundles;
	uint32_t n_items;
	uint32_t n_attrs;       // 0 when the dataset has no item attributes
	struct fb_csr ub_train; // users x bundles
	struct fb_csr ub_tune;  // users x bundles
	struct fb_csr ub_test;  // users x bundles
	struct fb_csr ui;       // users x items; nnz 0 if user_item.txt absent
	struct fb_csr bi;       // bundles x items
	struct fb_csr ia;       // items x attrs; nnz 0 if item_attr.txt absent
	// The catalogue digest (catdir.h), set by fb_dataset_load from the
	// folder's relations and id maps; unset in a dataset built in memory.
	bool has_digest;
	bool has_ids; // the folder has bundles.map and items.map
	uint8_t catalog_digest[FB_HASH_LEN];
};

// Loads and validates the dataset folder dir. Every problem is an error
// whose detail names the file, the line and the problem: a malformed line,
// an id out of range, a duplicate pair, a pair present in two splits; an
// id map whose count differs from the dataset's, or a catalog.txt whose
// digest is not the folder's (catdir.h). A bundle with no items (public
// datasets have them) is accepted with one FB_LOG_WARN line naming the
// first ones. Computes the catalogue digest. On success *out is owned by the caller
// (fb_dataset_destroy).
fb_err fb_dataset_load(struct fb_dataset **out, const char *dir);

// Writes ds into dir (created if missing) in the same format, each file
// written to a temporary name, fsync'd and renamed.
fb_err fb_dataset_save(const struct fb_dataset *ds, const char *dir);

// Creates an empty dataset with the given sizes and all relations empty;
// for builders (generator, importer, partitioner). The caller fills the CSRs.
fb_err fb_dataset_create(struct fb_dataset **out, const char *name,
		uint32_t n_users, uint32_t n_bundles, uint32_t n_items,
		uint32_t n_attrs);

// Frees ds; NULL is a no-op.
void fb_dataset_destroy(struct fb_dataset *ds);

// Checks the invariants load guarantees: name usable as a file prefix
// (non-empty, no '/' or control character), every relation shaped after
// the counts with sorted, unique, in-range columns (a bundle may have no
// items), and no user-bundle pair in two splits. FB_EINVAL with a
// detail naming the relation, row and problem. fb_dataset_save calls it.
fb_err fb_dataset_check(const struct fb_dataset *ds);

// Largest dataset file fb_dataset_load reads; bigger ones are FB_EFORMAT.
#define FB_DATASET_MAX_FILE_BYTES ((uint64_t)16 << 30)

// Largest count of users, bundles, items or attributes a size file may
// declare (FB_EFORMAT beyond): a relation costs 8 bytes per row up front.
#define FB_DATASET_MAX_COUNT (1u << 28)

// How to read one two-column file: its label for messages and what each
// column holds. Ids of the first column must be < n_first, of the second
// < n_second. Names are singular nouns ("user", "bundle", "item", "attr").
struct fb_pairs_spec {
	const char *label; // e.g. "data/youshu/bundle_item.txt"
	const char *first_name;
	const char *second_name;
	uint32_t n_first;
	uint32_t n_second;
};

// The records of a two-column file in file order: pair k comes from line
// k + 1 (a file has no blank or comment lines). Caller storage.
struct fb_pairs {
	uint32_t *first;
	uint32_t *second;
	size_t n;
};

// Parses buf[0 .. len) (need not be NUL-terminated; NUL bytes are
// malformed input) as lines "<first>\t<second>\n" of decimal ids in range.
// A final line without its LF is accepted; CR LF, blank lines, spaces,
// signs and numbers over UINT32_MAX are not. FB_EFORMAT with a detail
// "<label>:<line>: <problem>", FB_ENOMEM. On success initialises *out,
// which the caller releases with fb_pairs_finish. Thread-safe.
fb_err fb_pairs_parse(struct fb_pairs *out, const struct fb_pairs_spec *spec,
		const char *buf, size_t len);

// Builds an n_first x n_second CSR (rows sorted, unique) from pairs parsed
// by fb_pairs_parse with the same spec. A repeated pair is FB_EFORMAT
// "<label>:<line>: duplicate pair (a, b) (first at line <k>)"; an id out of
// range is FB_EINVAL. pairs is not modified; the caller finishes both
// pairs and, on success, *out (fb_csr_finish).
fb_err fb_pairs_to_csr(struct fb_csr *out, const struct fb_pairs *pairs,
		const struct fb_pairs_spec *spec);

// Frees the arrays of pairs and zeroes it; NULL-safe and idempotent.
void fb_pairs_finish(struct fb_pairs *pairs);

// fb_pairs_parse followed by fb_pairs_to_csr, with the same result and the
// same errors, but straight into the CSR when the file is sorted by its
// first column (the usual case), which needs a third of the memory.
// On success the caller finishes *out. Thread-safe.
fb_err fb_pairs_parse_csr(struct fb_csr *out, const struct fb_pairs_spec *spec,
		const char *buf, size_t len);

#endif
