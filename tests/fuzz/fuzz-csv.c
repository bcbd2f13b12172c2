// tests/fuzz/fuzz-csv.c: libFuzzer target for the RFC 4180 record reader
// of common/data/csvimport.c. Besides "no crash, no sanitizer report" it checks,
// and aborts on: fields NUL-terminated and no longer than the input, record
// lines increasing and within the input's line count, errors naming the
// file, and re-encoding every record (all fields quoted, CR LF) and reading
// it back giving the same fields.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/csvimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-csv: invariant broken: %s\n", what);
		abort();
	}
}

struct buf {
	char *p;
	size_t len, cap;
};

static void
append(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 256;
		while (cap < b->len + n) {
			cap *= 2;
		}
		b->p = realloc(b->p, cap);
		require(b->p != NULL, "allocation");
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

// Appends the current record as quoted fields and CR LF.
static void
encode(struct buf *b, const struct fb_csvimport_reader *rd)
{
	for (size_t i = 0; i < rd->n_fields; i++) {
		if (i > 0) {
			append(b, ",", 1);
		}
		append(b, "\"", 1);
		for (size_t k = 0; k < rd->field_len[i]; k++) {
			char c = rd->field[i][k];
			append(b, c == '"' ? "\"\"" : &c, c == '"' ? 2 : 1);
		}
		append(b, "\"", 1);
	}
	append(b, "\r\n", 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t lines = 1;
	for (size_t i = 0; i < size; i++) {
		lines += text[i] == '\n';
	}
	struct fb_csvimport_reader rd;
	fb_csvimport_reader_init(&rd, "fuzz.csv", text, size);
	struct buf out = {0};
	size_t n_records = 0, last_line = 0;
	fb_err err;
	for (;;) {
		bool got;
		err = fb_csvimport_reader_next(&rd, &got);
		if (err != FB_OK || !got) {
			break;
		}
		require(rd.n_fields >= 1, "a record has a field");
		require(rd.record_line > last_line, "record lines increase");
		require(rd.record_line <= lines, "record line within input");
		last_line = rd.record_line;
		size_t bytes = 0;
		for (size_t i = 0; i < rd.n_fields; i++) {
			require(rd.field[i][rd.field_len[i]] == '\0',
					"fields NUL-terminated");
			bytes += rd.field_len[i];
		}
		require(bytes <= size, "fields no longer than the input");
		encode(&out, &rd);
		n_records++;
	}
	if (err != FB_OK) {
		require(err == FB_EFORMAT || err == FB_ENOMEM, "error code");
		require(strncmp(fb_last_error(err), "fuzz.csv:", 9) == 0,
				"error names the file");
		bool got = true;
		require(fb_csvimport_reader_next(&rd, &got) == FB_OK && !got,
				"no records after an error");
		fb_csvimport_reader_finish(&rd);
		free(out.p);
		return 0;
	}
	fb_csvimport_reader_finish(&rd);

	// Read the re-encoded records back: same count, same fields.
	struct fb_csvimport_reader a, b;
	fb_csvimport_reader_init(&a, "fuzz.csv", text, size);
	fb_csvimport_reader_init(
			&b, "again.csv", out.p != NULL ? out.p : "", out.len);
	for (size_t k = 0; k <= n_records; k++) {
		bool got_a, got_b;
		require(fb_csvimport_reader_next(&a, &got_a) == FB_OK,
				"first read repeats");
		require(fb_csvimport_reader_next(&b, &got_b) == FB_OK,
				"re-encoded records read");
		require(got_a == got_b && got_a == (k < n_records),
				"same number of records");
		if (!got_a) {
			break;
		}
		require(a.n_fields == b.n_fields, "same number of fields");
		for (size_t i = 0; i < a.n_fields; i++) {
			require(a.field_len[i] == b.field_len[i] &&
							memcmp(a.field[i],
									b.field[i],
									a.field_len[i]) ==
									0,
					"same fields");
		}
	}
	fb_csvimport_reader_finish(&a);
	fb_csvimport_reader_finish(&b);
	free(out.p);
	return 0;
}
