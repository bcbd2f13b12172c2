// include/fedbundle/data/csr.h: relations as compressed sparse rows, the
// one representation every user-bundle, user-item, bundle-item and
// item-attribute relation of fedbundle has in memory (dataset.h holds a
// dataset's relations; csr.c builds, queries and transposes them).
// Thread-safety: a built CSR is immutable and may be read by any number of
// threads.
#ifndef FB_INCLUDE_FEDBUNDLE_DATA_CSR_H
#define FB_INCLUDE_FEDBUNDLE_DATA_CSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

// Compressed sparse rows: row r holds col[row_ptr[r] .. row_ptr[r+1]),
// strictly increasing. row_ptr has n_rows + 1 entries.
struct fb_csr {
	uint32_t n_rows;
	uint32_t n_cols;
	uint64_t *row_ptr;
	uint32_t *col;
};

// Number of stored entries.
static inline uint64_t
fb_csr_nnz(const struct fb_csr *m)
{
	return m->row_ptr != NULL ? m->row_ptr[m->n_rows] : 0;
}

// Number of entries of row r.
static inline uint32_t
fb_csr_row_len(const struct fb_csr *m, uint32_t r)
{
	return (uint32_t)(m->row_ptr[r + 1] - m->row_ptr[r]);
}

// Pointer to the first column of row r.
static inline const uint32_t *
fb_csr_row(const struct fb_csr *m, uint32_t r)
{
	return m->col + m->row_ptr[r];
}

// True if (r, c) is stored (binary search; rows are sorted).
bool fb_csr_has(const struct fb_csr *m, uint32_t r, uint32_t c);

// Builds a CSR from n (row, col) pairs (any order); duplicates are an error
// (FB_EFORMAT, detail names the first duplicate) unless allow_dups, in which
// case they are merged. On success *out owns its arrays (fb_csr_finish).
fb_err fb_csr_from_pairs(struct fb_csr *out, uint32_t n_rows, uint32_t n_cols,
		const uint32_t *rows, const uint32_t *cols, size_t n,
		bool allow_dups);

// The transpose of m (n_cols x n_rows), sorted. The caller finishes *out.
fb_err fb_csr_transpose(struct fb_csr *out, const struct fb_csr *m);

// Frees the arrays of m and zeroes it; NULL-safe and idempotent.
void fb_csr_finish(struct fb_csr *m);

#endif
