// tests/fuzz/fuzz-dataset.c: libFuzzer target for the dataset line parser.
// The first 4 input bytes choose the id bounds, the rest is file text.
// Besides "no crash, no sanitizer report" it checks, and aborts on: parsed
// pairs in range; the fast path (fb_pairs_parse_csr) and the general path
// (fb_pairs_parse + fb_pairs_to_csr) agreeing on the result or on the exact
// error message; the CSR sorted, unique and holding every parsed pair; and
// printing the CSR back as text and parsing it again giving the same CSR.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-dataset: invariant broken: %s\n", what);
		abort();
	}
}

static bool
csr_equal(const struct fb_csr *a, const struct fb_csr *b)
{
	if (a->n_rows != b->n_rows || a->n_cols != b->n_cols ||
			fb_csr_nnz(a) != fb_csr_nnz(b)) {
		return false;
	}
	if (memcmp(a->row_ptr, b->row_ptr,
			    ((size_t)a->n_rows + 1) * sizeof(*a->row_ptr)) !=
			0) {
		return false;
	}
	return fb_csr_nnz(a) == 0 ||
			memcmp(a->col, b->col,
					fb_csr_nnz(a) * sizeof(*a->col)) == 0;
}

// Prints m in the file format and parses it again.
static void
reparse(const struct fb_csr *m, const struct fb_pairs_spec *spec)
{
	size_t cap = fb_csr_nnz(m) * 22 + 1, len = 0;
	char *text = malloc(cap);
	require(text != NULL, "allocation");
	for (uint32_t r = 0; r < m->n_rows; r++) {
		for (uint32_t k = 0; k < fb_csr_row_len(m, r); k++) {
			len += (size_t)snprintf(text + len, cap - len,
					"%u\t%u\n", r, fb_csr_row(m, r)[k]);
		}
	}
	struct fb_csr again;
	require(fb_pairs_parse_csr(&again, spec, text, len) == FB_OK,
			"printed CSR parses");
	require(csr_equal(m, &again), "printed CSR parses to itself");
	fb_csr_finish(&again);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4) {
		return 0;
	}
	// Small first-column bounds (so CSRs are cheap to build), or, with
	// the top bit of data[1], the largest ones (parsing only).
	bool huge = (data[1] & 0x80) != 0;
	uint32_t n_first = huge ? UINT32_MAX - data[0]
				: (uint32_t)(data[0] | (data[1] & 0x7f) << 8);
	uint32_t n_second = (data[3] & 0x80) != 0
			? UINT32_MAX - data[2]
			: (uint32_t)(data[2] | (data[3] & 0x7f) << 8);
	const char *text = (const char *)data + 4;
	size_t len = size - 4;
	struct fb_pairs_spec spec = {
			"fuzz.txt", "user", "item", n_first, n_second};

	struct fb_pairs pairs;
	fb_err err = fb_pairs_parse(&pairs, &spec, text, len);
	char message[512];
	snprintf(message, sizeof(message), "%s", fb_last_error(err));
	if (err != FB_OK) {
		require(err == FB_EFORMAT || err == FB_ENOMEM,
				"parse error code");
		require(strncmp(message, "fuzz.txt:", 9) == 0,
				"error names the file");
		if (!huge) {
			struct fb_csr m;
			fb_err e2 = fb_pairs_parse_csr(&m, &spec, text, len);
			require(e2 == err, "fast path: same error code");
			require(strcmp(message, fb_last_error(e2)) == 0,
					"fast path: same message");
		}
		return 0;
	}
	size_t lines = 0;
	for (size_t i = 0; i < len; i++) {
		lines += text[i] == '\n';
	}
	require(pairs.n <= lines + 1, "no more pairs than lines");
	for (size_t k = 0; k < pairs.n; k++) {
		require(pairs.first[k] < n_first && pairs.second[k] < n_second,
				"pairs in range");
	}
	if (huge) {
		fb_pairs_finish(&pairs);
		return 0;
	}
	struct fb_csr slow, fast;
	err = fb_pairs_to_csr(&slow, &pairs, &spec);
	snprintf(message, sizeof(message), "%s", fb_last_error(err));
	fb_err e2 = fb_pairs_parse_csr(&fast, &spec, text, len);
	require(e2 == err, "fast path: same result code");
	if (err != FB_OK) {
		require(err == FB_EFORMAT, "only duplicates fail here");
		require(strstr(message, "duplicate pair") != NULL,
				"duplicate message");
		require(strcmp(message, fb_last_error(e2)) == 0,
				"fast path: same duplicate message");
		fb_pairs_finish(&pairs);
		return 0;
	}
	require(csr_equal(&slow, &fast), "fast path: same CSR");
	require(fb_csr_nnz(&slow) == pairs.n, "no pair lost");
	for (uint32_t r = 0; r < slow.n_rows; r++) {
		const uint32_t *row = fb_csr_row(&slow, r);
		for (uint32_t k = 1; k < fb_csr_row_len(&slow, r); k++) {
			require(row[k - 1] < row[k],
					"rows strictly increasing");
		}
	}
	for (size_t k = 0; k < pairs.n; k++) {
		require(fb_csr_has(&slow, pairs.first[k], pairs.second[k]),
				"every pair stored");
	}
	reparse(&slow, &spec);
	fb_csr_finish(&slow);
	fb_csr_finish(&fast);
	fb_pairs_finish(&pairs);
	return 0;
}
