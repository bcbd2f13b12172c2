// common/data/csr.c: building, querying and transposing CSR relations. Builders
// sort (row, col) pairs with a counting pass per row, so the cost is linear
// in the number of pairs plus a sort of each (short) row.
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/csr.h"

bool
fb_csr_has(const struct fb_csr *m, uint32_t r, uint32_t c)
{
	if (m->row_ptr == NULL || r >= m->n_rows) {
		return false;
	}
	const uint32_t *lo = fb_csr_row(m, r);
	size_t n = fb_csr_row_len(m, r);
	while (n > 0) {
		size_t half = n / 2;
		if (lo[half] < c) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo != m->col + m->row_ptr[r + 1] && *lo == c;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

fb_err
fb_csr_from_pairs(struct fb_csr *out, uint32_t n_rows, uint32_t n_cols,
		const uint32_t *rows, const uint32_t *cols, size_t n,
		bool allow_dups)
{
	uint64_t *ptr = calloc((size_t)n_rows + 1, sizeof(*ptr));
	uint32_t *col = malloc((n > 0 ? n : 1) * sizeof(*col));
	uint64_t *fill = malloc(((size_t)n_rows + 1) * sizeof(*fill));
	fb_err err = FB_OK;
	if (ptr == NULL || col == NULL || fill == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (size_t k = 0; k < n; k++) {
		if (rows[k] >= n_rows || cols[k] >= n_cols) {
			err = fb_errorf(FB_EINVAL,
					"pair (%u, %u) outside a %u x %u relation",
					rows[k], cols[k], n_rows, n_cols);
			goto fail;
		}
		ptr[rows[k] + 1]++;
	}
	for (uint32_t r = 0; r < n_rows; r++) {
		ptr[r + 1] += ptr[r];
	}
	memcpy(fill, ptr, ((size_t)n_rows + 1) * sizeof(*fill));
	for (size_t k = 0; k < n; k++) {
		col[fill[rows[k]]++] = cols[k];
	}
	// Sort each row, then squeeze out (or refuse) duplicates.
	uint64_t w = 0;
	for (uint32_t r = 0; r < n_rows; r++) {
		uint64_t begin = ptr[r], end = ptr[r + 1];
		qsort(col + begin, end - begin, sizeof(*col), cmp_u32);
		ptr[r] = w;
		for (uint64_t k = begin; k < end; k++) {
			if (k > begin && col[k] == col[k - 1]) {
				if (!allow_dups) {
					err = fb_errorf(FB_EFORMAT,
							"duplicate pair (%u, %u)",
							r, col[k]);
					goto fail;
				}
				continue;
			}
			col[w++] = col[k];
		}
	}
	ptr[n_rows] = w;
	free(fill);
	out->n_rows = n_rows;
	out->n_cols = n_cols;
	out->row_ptr = ptr;
	out->col = col;
	return FB_OK;
fail:
	free(ptr);
	free(col);
	free(fill);
	return err;
}

fb_err
fb_csr_transpose(struct fb_csr *out, const struct fb_csr *m)
{
	uint64_t nnz = fb_csr_nnz(m);
	uint64_t *ptr = calloc((size_t)m->n_cols + 1, sizeof(*ptr));
	uint32_t *col = malloc((nnz > 0 ? nnz : 1) * sizeof(*col));
	if (ptr == NULL || col == NULL) {
		free(ptr);
		free(col);
		return FB_ENOMEM;
	}
	for (uint64_t k = 0; k < nnz; k++) {
		ptr[m->col[k] + 1]++;
	}
	for (uint32_t c = 0; c < m->n_cols; c++) {
		ptr[c + 1] += ptr[c];
	}
	// Rows are visited in order, so every output row comes out sorted.
	for (uint32_t r = 0; r < m->n_rows; r++) {
		for (uint64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) {
			col[ptr[m->col[k]]++] = r;
		}
	}
	for (uint32_t c = m->n_cols; c > 0; c--) {
		ptr[c] = ptr[c - 1];
	}
	ptr[0] = 0;
	out->n_rows = m->n_cols;
	out->n_cols = m->n_rows;
	out->row_ptr = ptr;
	out->col = col;
	return FB_OK;
}

void
fb_csr_finish(struct fb_csr *m)
{
	if (m == NULL) {
		return;
	}
	free(m->row_ptr);
	free(m->col);
	memset(m, 0, sizeof(*m));
}
