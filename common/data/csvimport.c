// common/data/csvimport.c: retailers' CSV exports -> a dataset folder. Three
// parts: an RFC 4180 record reader (strict: anything RFC 4180 does not
// allow is an error naming file and line, never a guess), string-id maps
// (open addressing over an arena; dense ids in order of first appearance,
// so an import is a pure function of its inputs and seed) and the per-user
// train/tune/test split of PROVENANCE.md. Duplicated rows are merged and
// counted, because real exports repeat purchases; an interaction with a
// bundle the catalogue lacks is an error, because it means the two files
// do not belong together. Real exports are messy: spaces around an id are
// trimmed and counted (a spreadsheet's "A1 " is the id "A1"), while text
// that is not UTF-8 or a file without data rows is refused, naming the
// file, because every later step would carry the damage silently.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/csvimport.h"
#include "fedbundle/data/idmap.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/rng.h"

// ------------------------------------------------------------ CSV reader

void
fb_csvimport_reader_init(struct fb_csvimport_reader *rd, const char *label,
		const char *buf, size_t len)
{
	memset(rd, 0, sizeof(*rd));
	rd->label = label;
	rd->buf = buf;
	rd->len = len;
	rd->line = 1;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		rd->pos = 3;
	}
}

void
fb_csvimport_reader_finish(struct fb_csvimport_reader *rd)
{
	if (rd == NULL) {
		return;
	}
	free(rd->text);
	free(rd->offs);
	free(rd->field);
	free(rd->field_len);
	memset(rd, 0, sizeof(*rd));
}

// Makes room for n more bytes of field text.
static fb_err
text_reserve(struct fb_csvimport_reader *rd, size_t used, size_t n)
{
	if (used + n <= rd->text_cap) {
		return FB_OK;
	}
	if (n > SIZE_MAX / 2 - used) {
		return FB_ENOMEM;
	}
	size_t cap = rd->text_cap > 0 ? rd->text_cap : 256;
	while (cap < used + n) {
		cap *= 2;
	}
	char *t = realloc(rd->text, cap);
	if (t == NULL) {
		return FB_ENOMEM;
	}
	rd->text = t;
	rd->text_cap = cap;
	return FB_OK;
}

// Makes room for field index nf.
static fb_err
fields_reserve(struct fb_csvimport_reader *rd, size_t nf)
{
	if (nf < rd->fields_cap) {
		return FB_OK;
	}
	size_t cap = rd->fields_cap > 0 ? rd->fields_cap * 2 : 8;
	size_t *offs = realloc(rd->offs, cap * sizeof(*offs));
	if (offs == NULL) {
		return FB_ENOMEM;
	}
	rd->offs = offs;
	size_t *lens = realloc(rd->field_len, cap * sizeof(*lens));
	if (lens == NULL) {
		return FB_ENOMEM;
	}
	rd->field_len = lens;
	char **field = realloc(rd->field, cap * sizeof(*field));
	if (field == NULL) {
		return FB_ENOMEM;
	}
	rd->field = field;
	rd->fields_cap = cap;
	return FB_OK;
}

static const char *
describe_char(const char *b, size_t pos, size_t len, char *out, size_t size)
{
	unsigned char c = pos < len ? (unsigned char)b[pos] : 0;
	if (pos >= len) {
		snprintf(out, size, "end of file");
	} else if (c > 0x20 && c < 0x7f) {
		snprintf(out, size, "'%c'", c);
	} else if (c == ' ') {
		snprintf(out, size, "space");
	} else {
		snprintf(out, size, "byte 0x%02x", c);
	}
	return out;
}

// True if b[pos] ends a record: LF, CR LF or the end of input.
static bool
at_record_end(const char *b, size_t pos, size_t len)
{
	return pos >= len || b[pos] == '\n' ||
			(b[pos] == '\r' && pos + 1 < len && b[pos + 1] == '\n');
}

fb_err
fb_csvimport_reader_next(struct fb_csvimport_reader *rd, bool *got)
{
	const char *b = rd->buf;
	size_t len = rd->len, pos = rd->pos;
	// Blank lines carry no data.
	while (pos < len && at_record_end(b, pos, len)) {
		pos += b[pos] == '\r' ? 2 : 1;
		rd->line++;
	}
	if (pos >= len) {
		rd->pos = pos;
		rd->n_fields = 0;
		*got = false;
		return FB_OK;
	}
	size_t record_line = rd->line;
	size_t used = 0, nf = 0;
	fb_err err = FB_OK;
	char what[32];
	for (;;) {
		err = fields_reserve(rd, nf);
		if (err != FB_OK) {
			goto fail;
		}
		rd->offs[nf] = used;
		if (pos < len && b[pos] == '"') {
			size_t open_line = rd->line;
			pos++;
			for (;;) {
				if (pos >= len) {
					err = fb_errorf(FB_EFORMAT,
							"%s:%zu: quoted field opened on line %zu is never closed",
							rd->label, rd->line,
							open_line);
					goto fail;
				}
				// Copy up to the next quote in one go.
				const char *q = memchr(b + pos, '"', len - pos);
				size_t run = (q != NULL ? (size_t)(q - b)
							: len) -
						pos;
				err = text_reserve(rd, used, run + 1);
				if (err != FB_OK) {
					goto fail;
				}
				for (size_t k = 0; k < run; k++) {
					rd->line += b[pos + k] == '\n';
				}
				memcpy(rd->text + used, b + pos, run);
				used += run;
				pos += run;
				if (pos >= len) {
					continue; // reports the open quote
				}
				if (pos + 1 < len && b[pos + 1] == '"') {
					rd->text[used++] = '"';
					pos += 2;
					continue;
				}
				pos++; // the closing quote
				break;
			}
			if (pos < len && b[pos] != ',' &&
					!at_record_end(b, pos, len)) {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: unexpected %s after a closing quote (expected a comma or the end of the line)",
						rd->label, rd->line,
						describe_char(b, pos, len, what,
								sizeof(what)));
				goto fail;
			}
		} else {
			size_t start = pos;
			while (pos < len && b[pos] != ',' && b[pos] != '\n' &&
					b[pos] != '\r' && b[pos] != '"') {
				pos++;
			}
			if (pos < len && b[pos] == '"') {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: quote inside an unquoted field (quote the whole field and double the quote)",
						rd->label, rd->line);
				goto fail;
			}
			if (pos < len && b[pos] == '\r' &&
					!at_record_end(b, pos, len)) {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: CR not followed by LF outside quotes",
						rd->label, rd->line);
				goto fail;
			}
			err = text_reserve(rd, used, pos - start + 1);
			if (err != FB_OK) {
				goto fail;
			}
			memcpy(rd->text + used, b + start, pos - start);
			used += pos - start;
		}
		rd->field_len[nf] = used - rd->offs[nf];
		err = text_reserve(rd, used, 1);
		if (err != FB_OK) {
			goto fail;
		}
		rd->text[used++] = '\0';
		nf++;
		if (pos < len && b[pos] == ',') {
			pos++;
			continue;
		}
		if (pos < len) {
			pos += b[pos] == '\r' ? 2 : 1;
			rd->line++;
		}
		break;
	}
	for (size_t i = 0; i < nf; i++) {
		rd->field[i] = rd->text + rd->offs[i];
	}
	rd->n_fields = nf;
	rd->record_line = record_line;
	rd->pos = pos;
	*got = true;
	return FB_OK;
fail:
	// Refuse further reads: the position is inside a broken record.
	rd->pos = rd->len;
	rd->n_fields = 0;
	if (err == FB_ENOMEM) {
		err = fb_errorf(FB_ENOMEM, "%s:%zu: record too large",
				rd->label, record_line);
	}
	return err;
}

// ----------------------------------------------------------------- pairs

struct pairvec {
	uint32_t *a, *b;
	size_t n, cap;
};

static fb_err
pairvec_push(struct pairvec *v, uint32_t a, uint32_t b)
{
	if (v->n == v->cap) {
		size_t cap = v->cap > 0 ? v->cap * 2 : 4096;
		uint32_t *na = realloc(v->a, cap * sizeof(*na));
		if (na == NULL) {
			return FB_ENOMEM;
		}
		v->a = na;
		uint32_t *nb = realloc(v->b, cap * sizeof(*nb));
		if (nb == NULL) {
			return FB_ENOMEM;
		}
		v->b = nb;
		v->cap = cap;
	}
	v->a[v->n] = a;
	v->b[v->n] = b;
	v->n++;
	return FB_OK;
}

static void
pairvec_finish(struct pairvec *v)
{
	free(v->a);
	free(v->b);
	memset(v, 0, sizeof(*v));
}

// ------------------------------------------------------------ CSV import

// One input file being read: its buffer, reader and the two columns.
struct csv_input {
	const char *path;
	char *buf;
	struct fb_csvimport_reader rd;
	size_t col[4];
	uint64_t rows;                    // data rows read so far
	struct fb_csvimport_notes *notes; // where trimmed ids are counted
};

// Length of the valid UTF-8 sequence at b[0 .. n), or 0 if it is not one
// (overlong forms, surrogates and code points above U+10FFFF included).
static size_t
utf8_seq(const unsigned char *b, size_t n)
{
	if (b[0] < 0x80) {
		return 1;
	}
	size_t len;
	uint32_t min, cp;
	if ((b[0] & 0xe0) == 0xc0) {
		len = 2, min = 0x80, cp = b[0] & 0x1f;
	} else if ((b[0] & 0xf0) == 0xe0) {
		len = 3, min = 0x800, cp = b[0] & 0x0f;
	} else if ((b[0] & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, cp = b[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len) {
		return 0;
	}
	for (size_t k = 1; k < len; k++) {
		if ((b[k] & 0xc0) != 0x80) {
			return 0;
		}
		cp = cp << 6 | (b[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

// FB_EFORMAT "path:line:column" (1-based, the column in bytes) at the
// first byte of buf that does not start a valid UTF-8 sequence.
static fb_err
check_utf8(const char *path, const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t line = 1, line_start = 0;
	for (size_t pos = 0; pos < len;) {
		size_t k = utf8_seq(b + pos, len - pos);
		if (k == 0) {
			return fb_errorf(FB_EFORMAT,
					"%s:%zu:%zu: invalid UTF-8 (byte 0x%02x): the file must be UTF-8 (convert it, e.g. iconv -f latin1 -t utf-8)",
					path, line, pos - line_start + 1,
					b[pos]);
		}
		if (b[pos] == '\n') {
			line++;
			line_start = pos + 1;
		}
		pos += k;
	}
	return FB_OK;
}

// The next data record of in; after the last, FB_EFORMAT if there was
// none (a header-only file is a wrong export, not an empty one).
static fb_err
csv_input_next(struct csv_input *in, bool *got)
{
	fb_err err = fb_csvimport_reader_next(&in->rd, got);
	if (err == FB_OK && *got) {
		in->rows++;
	} else if (err == FB_OK && in->rows == 0) {
		err = fb_errorf(FB_EFORMAT,
				"%s: no data rows after the header: nothing to import",
				in->path);
	}
	return err;
}

static void
csv_input_finish(struct csv_input *in)
{
	fb_csvimport_reader_finish(&in->rd);
	free(in->buf);
	in->buf = NULL;
}

// Reads path and its header; finds the columns names[0 .. n): the first
// n_req are required, the others optional (col SIZE_MAX when absent).
static fb_err
csv_input_open_cols(struct csv_input *in, const char *path,
		const char *const *names, size_t n_req, size_t n,
		struct fb_csvimport_notes *notes)
{
	memset(in, 0, sizeof(*in));
	in->path = path;
	in->notes = notes;
	size_t len = 0;
	size_t max = FB_CSVIMPORT_MAX_FILE_BYTES > SIZE_MAX
			? SIZE_MAX
			: (size_t)FB_CSVIMPORT_MAX_FILE_BYTES;
	fb_err err = fb_read_file(path, max, &in->buf, &len);
	if (err != FB_OK) {
		return err;
	}
	err = check_utf8(path, in->buf, len);
	if (err != FB_OK) {
		goto fail;
	}
	fb_csvimport_reader_init(&in->rd, path, in->buf, len);
	bool got;
	err = fb_csvimport_reader_next(&in->rd, &got);
	if (err != FB_OK) {
		goto fail;
	}
	if (!got) {
		err = fb_errorf(FB_EFORMAT,
				"%s: empty file (expected a header row naming the columns %s%s%s)",
				path, names[0], n_req > 1 ? "," : "",
				n_req > 1 ? names[1] : "");
		goto fail;
	}
	const struct fb_csvimport_reader *rd = &in->rd;
	for (size_t c = 0; c < n; c++) {
		bool found = false;
		in->col[c] = SIZE_MAX;
		for (size_t i = 0; i < rd->n_fields; i++) {
			if (strcmp(rd->field[i], names[c]) != 0 ||
					rd->field_len[i] != strlen(names[c])) {
				continue;
			}
			if (found) {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: column '%s' appears twice in the header",
						path, rd->record_line,
						names[c]);
				goto fail;
			}
			found = true;
			in->col[c] = i;
		}
		if (!found && c < n_req) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: no '%s' column in the header (need %s%s%s)",
					path, rd->record_line, names[c],
					names[0], n_req > 1 ? " and " : "",
					n_req > 1 ? names[1] : "");
			goto fail;
		}
	}
	return FB_OK;
fail:
	csv_input_finish(in);
	return err;
}

// Reads path and its header; finds the columns names[0], names[1].
static fb_err
csv_input_open(struct csv_input *in, const char *path, const char *names[2],
		struct fb_csvimport_notes *notes)
{
	return csv_input_open_cols(in, path, names, 2, 2, notes);
}

// Trims the spaces around the id s[0 .. *n), counting it in in->notes.
static const char *
trim_id(const struct csv_input *in, const char *s, size_t *n)
{
	size_t a = 0, b = *n;
	while (a < b && s[a] == ' ') {
		a++;
	}
	while (b > a && s[b - 1] == ' ') {
		b--;
	}
	if ((a > 0 || b < *n) && b > a && in->notes != NULL) {
		struct fb_csvimport_notes *nt = in->notes;
		if (nt->trimmed++ == 0) {
			nt->trimmed_path = in->path;
			nt->trimmed_line = in->rd.record_line;
		}
	}
	*n = b - a;
	return s + a;
}

// Checks the record has the header's width and returns column c's id.
static fb_err
csv_input_id(struct csv_input *in, size_t n_header, int c, const char *name,
		const char **s, size_t *n)
{
	const struct fb_csvimport_reader *rd = &in->rd;
	if (rd->n_fields != n_header) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: %zu fields, but the header has %zu",
				in->path, rd->record_line, rd->n_fields,
				n_header);
	}
	size_t len = rd->field_len[in->col[c]];
	const char *f = trim_id(in, rd->field[in->col[c]], &len);
	if (len == 0) {
		return fb_errorf(FB_EFORMAT, "%s:%zu: empty %s", in->path,
				rd->record_line, name);
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)f[i];
		if (ch < 0x20 || ch == 0x7f) {
			return fb_errorf(FB_EFORMAT,
					"%s:%zu: %s contains a control character (byte 0x%02x), which the .map files cannot hold",
					in->path, rd->record_line, name, ch);
		}
	}
	*s = f;
	*n = len;
	return FB_OK;
}

// How a column's ids are mapped: interned (new ids allowed) or looked up.
enum id_mode { ID_INTERN, ID_LOOKUP };

// Records a row naming an id the catalogue lacks (s[0 .. n)).
static void
note_unknown(struct fb_csvimport_file_report *rep, size_t line, const char *s,
		size_t n)
{
	if (rep->n_first < FB_CSVIMPORT_FIRST_UNKNOWN) {
		rep->first_line[rep->n_first] = line;
		size_t cap = sizeof(rep->first_id[0]) - 1;
		size_t k = n < cap ? n : cap;
		memcpy(rep->first_id[rep->n_first], s, k);
		rep->first_id[rep->n_first][k] = '\0';
		rep->n_first++;
	}
	rep->unknown++;
}

// Reads every record of path into pairs, mapping the two columns. A
// looked-up id the map lacks is an error, or, with rep, a row counted
// there and skipped.
static fb_err
read_pairs(const char *path, const char *names[2], struct fb_idmap *maps[2],
		const enum id_mode modes[2], const char *lookup_source,
		struct pairvec *out, struct fb_csvimport_file_report *rep,
		struct fb_csvimport_notes *notes)
{
	struct csv_input in;
	fb_err err = csv_input_open(&in, path, names, notes);
	if (err != FB_OK) {
		return err;
	}
	size_t n_header = in.rd.n_fields;
	for (;;) {
		bool got;
		err = csv_input_next(&in, &got);
		if (err != FB_OK || !got) {
			break;
		}
		uint32_t id[2];
		bool skip = false;
		if (rep != NULL) {
			rep->rows++;
		}
		for (int c = 0; c < 2 && err == FB_OK && !skip; c++) {
			const char *s = NULL;
			size_t n = 0;
			err = csv_input_id(&in, n_header, c, names[c], &s, &n);
			if (err != FB_OK) {
				break;
			}
			if (modes[c] == ID_INTERN) {
				err = fb_idmap_intern(maps[c], s, n, &id[c]);
				if (err == FB_ENOMEM) {
					err = fb_errorf(FB_ENOMEM,
							"%s:%zu: out of memory",
							path,
							in.rd.record_line);
				}
			} else if (!fb_idmap_find(maps[c], s, n, &id[c]) &&
					rep != NULL) {
				note_unknown(rep, in.rd.record_line, s, n);
				skip = true;
			} else if (!fb_idmap_find(maps[c], s, n, &id[c])) {
				err = fb_errorf(FB_EFORMAT,
						"%s:%zu: %s '%.*s' is not in the catalogue %s",
						path, in.rd.record_line,
						names[c],
						(int)(n < 80 ? n : 80), s,
						lookup_source);
			}
		}
		if (err == FB_OK && !skip) {
			err = pairvec_push(out, id[0], id[1]);
		}
		if (err != FB_OK) {
			break;
		}
	}
	csv_input_finish(&in);
	return err;
}

void
fb_csvimport_options_init(struct fb_csvimport_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->name = "Imported";
	opt->seed = 1;
	opt->split[0] = 0.7;
	opt->split[1] = 0.1;
	opt->split[2] = 0.2;
}

static fb_err
check_fractions(const double frac[3])
{
	double sum = 0;
	for (int s = 0; s < 3; s++) {
		if (!isfinite(frac[s]) || frac[s] < 0 || frac[s] > 1) {
			return fb_errorf(FB_EINVAL,
					"split fraction %g is not in [0, 1]",
					frac[s]);
		}
		sum += frac[s];
	}
	if (frac[0] <= 0 || fabs(sum - 1) > 1e-6) {
		return fb_errorf(FB_EINVAL,
				"split %g,%g,%g: fractions must sum to 1 with train > 0",
				frac[0], frac[1], frac[2]);
	}
	return FB_OK;
}

// Stream of fb_rng reserved for the import split ("split" in ASCII).
#define SPLIT_STREAM 0x73706c6974u

// n * f rounded up with probability equal to its fractional part.
static uint32_t
random_round(struct fb_rng *rng, uint32_t n, double f)
{
	double x = n * f;
	double fl = floor(x);
	return (uint32_t)fl + (fb_rng_uniform(rng) < x - fl);
}

fb_err
fb_csvimport_split(struct fb_csr out[3], const struct fb_csr *all,
		uint64_t seed, const double frac[3])
{
	fb_err err = check_fractions(frac);
	if (err != FB_OK) {
		return err;
	}
	uint32_t n_rows = all->n_rows;
	uint64_t nnz = fb_csr_nnz(all);
	uint32_t longest = 0;
	for (uint32_t r = 0; r < n_rows; r++) {
		uint32_t len = fb_csr_row_len(all, r);
		longest = len > longest ? len : longest;
	}
	uint8_t *which = malloc(nnz > 0 ? nnz : 1);
	uint32_t *perm = malloc((longest > 0 ? longest : 1) * sizeof(*perm));
	struct fb_csr m[3] = {{0}};
	if (which == NULL || perm == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (int s = 0; s < 3; s++) {
		m[s].n_rows = n_rows;
		m[s].n_cols = all->n_cols;
		m[s].row_ptr = calloc(
				(size_t)n_rows + 1, sizeof(*m[s].row_ptr));
		if (m[s].row_ptr == NULL) {
			err = FB_ENOMEM;
			goto fail;
		}
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, SPLIT_STREAM);
	memset(which, 0, nnz);
	for (uint32_t r = 0; r < n_rows; r++) {
		uint32_t len = fb_csr_row_len(all, r);
		uint8_t *w = which + all->row_ptr[r];
		if (len >= 3) {
			bool want_tune = frac[1] > 0, want_test = frac[2] > 0;
			uint32_t n_test = random_round(&rng, len, frac[2]);
			uint32_t n_tune = random_round(&rng, len, frac[1]);
			if (want_test && n_test == 0) {
				n_test = 1;
			}
			if (want_tune && n_tune == 0) {
				n_tune = 1;
			}
			// Keep one in train, taking from the larger split first
			// but never below the minimum of one.
			while (n_test + n_tune > len - 1) {
				if (n_test > (uint32_t)want_test &&
						(n_test >= n_tune ||
								n_tune <= (uint32_t)want_tune)) {
					n_test--;
				} else {
					n_tune--;
				}
			}
			for (uint32_t k = 0; k < len; k++) {
				perm[k] = k;
			}
			fb_rng_shuffle_u32(&rng, perm, len);
			for (uint32_t k = 0; k < n_test; k++) {
				w[perm[k]] = 2;
			}
			for (uint32_t k = n_test; k < n_test + n_tune; k++) {
				w[perm[k]] = 1;
			}
		}
		for (uint32_t k = 0; k < len; k++) {
			m[w[k]].row_ptr[r + 1]++;
		}
	}
	for (int s = 0; s < 3; s++) {
		for (uint32_t r = 0; r < n_rows; r++) {
			m[s].row_ptr[r + 1] += m[s].row_ptr[r];
		}
		uint64_t n = m[s].row_ptr[n_rows];
		m[s].col = malloc((n > 0 ? n : 1) * sizeof(*m[s].col));
		if (m[s].col == NULL) {
			err = FB_ENOMEM;
			goto fail;
		}
	}
	// Walking each sorted row in order keeps every split's rows sorted.
	uint64_t fill[3] = {0, 0, 0};
	for (uint64_t k = 0; k < nnz; k++) {
		m[which[k]].col[fill[which[k]]++] = all->col[k];
	}
	free(which);
	free(perm);
	for (int s = 0; s < 3; s++) {
		out[s] = m[s];
	}
	return FB_OK;
fail:
	free(which);
	free(perm);
	for (int s = 0; s < 3; s++) {
		fb_csr_finish(&m[s]);
	}
	return err;
}

// Builds a relation from pairs, merging repeats; *dups counts them.
static fb_err
build_relation(struct fb_csr *out, uint32_t n_rows, uint32_t n_cols,
		const struct pairvec *v, uint64_t *dups)
{
	fb_err err = fb_csr_from_pairs(
			out, n_rows, n_cols, v->a, v->b, v->n, true);
	if (err == FB_OK) {
		*dups = v->n - fb_csr_nnz(out);
	}
	return err;
}

static fb_err
check_name(const char *name)
{
	if (name == NULL || name[0] == '\0') {
		return fb_errorf(FB_EINVAL, "the dataset name is empty");
	}
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f) {
			return fb_errorf(FB_EINVAL,
					"dataset name '%s' cannot be a file prefix (it has '/' or a control character)",
					name);
		}
	}
	return FB_OK;
}

static fb_err run_on_catalog(const struct fb_csvimport_options *opt,
		const char *out_dir, struct fb_csvimport_summary *summary);

fb_err
fb_csvimport_run(const struct fb_csvimport_options *opt, const char *out_dir,
		struct fb_csvimport_summary *summary)
{
	if (opt->catalog_dir != NULL) {
		return run_on_catalog(opt, out_dir, summary);
	}
	if (opt->bundles_path == NULL || opt->interactions_path == NULL) {
		return fb_errorf(FB_EINVAL,
				"both a bundle catalogue and an interactions file are needed");
	}
	fb_err err = check_name(opt->name);
	if (err == FB_OK) {
		err = check_fractions(opt->split);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_idmap users = {.what = "user"}, bundles = {.what = "bundle"},
			items = {.what = "item"};
	struct pairvec bi = {0}, ub = {0}, ui = {0};
	struct fb_csr ub_all = {0};
	struct fb_dataset *ds = NULL;
	struct fb_csvimport_summary sum;
	memset(&sum, 0, sizeof(sum));

	const char *bi_names[2] = {"bundle_id", "item_id"};
	struct fb_idmap *bi_maps[2] = {&bundles, &items};
	const enum id_mode intern2[2] = {ID_INTERN, ID_INTERN};
	err = read_pairs(opt->bundles_path, bi_names, bi_maps, intern2, NULL,
			&bi, NULL, &sum.notes);
	if (err != FB_OK) {
		goto fail;
	}
	const char *ub_names[2] = {"user_id", "bundle_id"};
	struct fb_idmap *ub_maps[2] = {&users, &bundles};
	const enum id_mode ub_modes[2] = {ID_INTERN, ID_LOOKUP};
	err = read_pairs(opt->interactions_path, ub_names, ub_maps, ub_modes,
			opt->bundles_path, &ub, NULL, &sum.notes);
	if (err != FB_OK) {
		goto fail;
	}
	if (opt->user_items_path != NULL) {
		const char *ui_names[2] = {"user_id", "item_id"};
		struct fb_idmap *ui_maps[2] = {&users, &items};
		err = read_pairs(opt->user_items_path, ui_names, ui_maps,
				intern2, NULL, &ui, NULL, &sum.notes);
		if (err != FB_OK) {
			goto fail;
		}
	}
	err = fb_dataset_create(&ds, opt->name, users.n, bundles.n, items.n, 0);
	if (err != FB_OK) {
		goto fail;
	}
	fb_csr_finish(&ds->bi);
	err = build_relation(&ds->bi, bundles.n, items.n, &bi,
			&sum.dup_bundle_items);
	if (err != FB_OK) {
		goto fail;
	}
	fb_csr_finish(&ds->ui);
	err = build_relation(
			&ds->ui, users.n, items.n, &ui, &sum.dup_user_items);
	if (err != FB_OK) {
		goto fail;
	}
	err = build_relation(&ub_all, users.n, bundles.n, &ub,
			&sum.dup_user_bundles);
	if (err != FB_OK) {
		goto fail;
	}
	struct fb_csr split[3];
	err = fb_csvimport_split(split, &ub_all, opt->seed, opt->split);
	if (err != FB_OK) {
		goto fail;
	}
	fb_csr_finish(&ds->ub_train);
	fb_csr_finish(&ds->ub_tune);
	fb_csr_finish(&ds->ub_test);
	ds->ub_train = split[0];
	ds->ub_tune = split[1];
	ds->ub_test = split[2];
	err = fb_dataset_save(ds, out_dir);
	if (err == FB_OK) {
		err = fb_idmap_save(&users, out_dir, "users.map");
	}
	if (err == FB_OK) {
		err = fb_idmap_save(&bundles, out_dir, "bundles.map");
	}
	if (err == FB_OK) {
		err = fb_idmap_save(&items, out_dir, "items.map");
	}
	if (err != FB_OK) {
		goto fail;
	}
	sum.n_users = users.n;
	sum.n_bundles = bundles.n;
	sum.n_items = items.n;
	sum.n_bundle_items = fb_csr_nnz(&ds->bi);
	sum.n_user_bundles = fb_csr_nnz(&ub_all);
	sum.n_split[0] = fb_csr_nnz(&ds->ub_train);
	sum.n_split[1] = fb_csr_nnz(&ds->ub_tune);
	sum.n_split[2] = fb_csr_nnz(&ds->ub_test);
	sum.n_user_items = fb_csr_nnz(&ds->ui);
	if (summary != NULL) {
		*summary = sum;
	}
fail:
	fb_dataset_destroy(ds);
	fb_csr_finish(&ub_all);
	pairvec_finish(&bi);
	pairvec_finish(&ub);
	pairvec_finish(&ui);
	fb_idmap_finish(&users);
	fb_idmap_finish(&bundles);
	fb_idmap_finish(&items);
	return err;
}

// ------------------------------------------------- onto a shared catalogue

// Moves src's relation into dst (an empty relation of fb_dataset_create).
static void
take_relation(struct fb_csr *dst, struct fb_csr *src)
{
	fb_csr_finish(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

// Loads the catalogue folder and its maps.
static fb_err
open_catalog(const char *dir, struct fb_dataset **cat,
		struct fb_catdir_ids *ids)
{
	fb_err err = fb_dataset_load(cat, dir);
	if (err != FB_OK) {
		return err;
	}
	err = fb_catdir_ids_load(ids, *cat, dir);
	if (err == FB_OK && !ids->have) {
		err = fb_errorf(FB_EINVAL,
				"%s is not a catalogue folder: it has no bundles.map and items.map (build one with `fedbundle catalog build`)",
				dir);
	} else if (err == FB_OK && (*cat)->n_users > 0) {
		err = fb_errorf(FB_EINVAL,
				"%s holds %u users: a catalogue folder has none (give the consortium's catalogue, not a retailer's dataset)",
				dir, (*cat)->n_users);
	}
	if (err != FB_OK) {
		fb_catdir_ids_finish(ids);
		fb_dataset_destroy(*cat);
		*cat = NULL;
	}
	return err;
}

static fb_err
strict_refusal(const struct fb_csvimport_options *opt,
		const struct fb_csvimport_summary *sum)
{
	const struct fb_csvimport_file_report *r = sum->interactions.unknown > 0
			? &sum->interactions
			: &sum->user_items;
	const char *path = r == &sum->interactions ? opt->interactions_path
						   : opt->user_items_path;
	return fb_errorf(FB_EFORMAT,
			"%llu row(s) name bundles or items absent from the catalogue %s, first %s:%zu '%s' (--strict: nothing written)",
			(unsigned long long)(sum->interactions.unknown +
					sum->user_items.unknown),
			opt->catalog_dir, path, r->first_line[0],
			r->first_id[0]);
}

static fb_err
run_on_catalog(const struct fb_csvimport_options *opt, const char *out_dir,
		struct fb_csvimport_summary *summary)
{
	if (opt->bundles_path != NULL || opt->interactions_path == NULL) {
		return fb_errorf(FB_EINVAL,
				"with a catalogue, give the interactions and no bundle file (the catalogue holds the bundles)");
	}
	fb_err err = check_name(opt->name);
	if (err == FB_OK) {
		err = check_fractions(opt->split);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_dataset *cat = NULL, *ds = NULL;
	struct fb_catdir_ids ids;
	memset(&ids, 0, sizeof(ids));
	struct fb_idmap users = {.what = "user"};
	struct pairvec ub = {0}, ui = {0};
	struct fb_csr ub_all = {0};
	struct fb_csvimport_summary sum;
	memset(&sum, 0, sizeof(sum));
	err = open_catalog(opt->catalog_dir, &cat, &ids);
	if (err != FB_OK) {
		return err;
	}
	const char *ub_names[2] = {"user_id", "bundle_id"};
	struct fb_idmap *ub_maps[2] = {&users, &ids.bundles};
	const enum id_mode modes[2] = {ID_INTERN, ID_LOOKUP};
	err = read_pairs(opt->interactions_path, ub_names, ub_maps, modes,
			opt->catalog_dir, &ub, &sum.interactions, &sum.notes);
	if (err == FB_OK && opt->user_items_path != NULL) {
		const char *ui_names[2] = {"user_id", "item_id"};
		struct fb_idmap *ui_maps[2] = {&users, &ids.items};
		err = read_pairs(opt->user_items_path, ui_names, ui_maps, modes,
				opt->catalog_dir, &ui, &sum.user_items,
				&sum.notes);
	}
	if (summary != NULL) {
		summary->interactions = sum.interactions;
		summary->user_items = sum.user_items;
		summary->notes = sum.notes;
	}
	if (err == FB_OK && opt->strict &&
			sum.interactions.unknown + sum.user_items.unknown > 0) {
		err = strict_refusal(opt, &sum);
	}
	if (err == FB_OK) {
		err = fb_dataset_create(&ds, opt->name, users.n, cat->n_bundles,
				cat->n_items, cat->n_attrs);
	}
	if (err != FB_OK) {
		goto out;
	}
	take_relation(&ds->bi, &cat->bi);
	take_relation(&ds->ia, &cat->ia);
	fb_csr_finish(&ds->ui);
	err = build_relation(&ds->ui, users.n, ds->n_items, &ui,
			&sum.dup_user_items);
	if (err == FB_OK) {
		err = build_relation(&ub_all, users.n, ds->n_bundles, &ub,
				&sum.dup_user_bundles);
	}
	struct fb_csr split[3];
	if (err == FB_OK) {
		err = fb_csvimport_split(split, &ub_all, opt->seed, opt->split);
	}
	if (err != FB_OK) {
		goto out;
	}
	take_relation(&ds->ub_train, &split[0]);
	take_relation(&ds->ub_tune, &split[1]);
	take_relation(&ds->ub_test, &split[2]);
	err = fb_dataset_save(ds, out_dir);
	if (err == FB_OK) {
		err = fb_idmap_save(&users, out_dir, "users.map");
	}
	if (err == FB_OK) {
		err = fb_catdir_copy_files(opt->catalog_dir, out_dir);
	}
	if (err != FB_OK) {
		goto out;
	}
	sum.n_users = users.n;
	sum.n_bundles = ds->n_bundles;
	sum.n_items = ds->n_items;
	sum.n_bundle_items = fb_csr_nnz(&ds->bi);
	sum.n_user_bundles = fb_csr_nnz(&ub_all);
	sum.n_split[0] = fb_csr_nnz(&ds->ub_train);
	sum.n_split[1] = fb_csr_nnz(&ds->ub_tune);
	sum.n_split[2] = fb_csr_nnz(&ds->ub_test);
	sum.n_user_items = fb_csr_nnz(&ds->ui);
	if (summary != NULL) {
		*summary = sum;
	}
out:
	fb_dataset_destroy(ds);
	fb_dataset_destroy(cat);
	fb_catdir_ids_finish(&ids);
	fb_csr_finish(&ub_all);
	pairvec_finish(&ub);
	pairvec_finish(&ui);
	fb_idmap_finish(&users);
	return err;
}

// ------------------------------------------------------ catalogue build

// Names by dense id, grown on demand.
struct namevec {
	char **s;
	size_t cap;
};

static void
namevec_finish(struct namevec *v)
{
	for (size_t i = 0; i < v->cap; i++) {
		free(v->s[i]);
	}
	free(v->s);
	memset(v, 0, sizeof(*v));
}

// Sets the name of id from field f of the current record (empty: none).
static fb_err
namevec_set(struct namevec *v, uint32_t id, const struct csv_input *in,
		size_t col, const char *what)
{
	const struct fb_csvimport_reader *rd = &in->rd;
	const char *f = rd->field[col];
	size_t len = rd->field_len[col];
	if (len == 0) {
		return FB_OK;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)f[i];
		if (ch < 0x20 || ch == 0x7f) {
			return fb_errorf(FB_EFORMAT,
					"%s:%zu: the %s name contains a control character (byte 0x%02x)",
					in->path, rd->record_line, what, ch);
		}
	}
	if (id >= v->cap) {
		size_t cap = v->cap > 0 ? v->cap : 256;
		while (cap <= id) {
			cap *= 2;
		}
		char **s = realloc(v->s, cap * sizeof(*s));
		if (s == NULL) {
			return FB_ENOMEM;
		}
		memset(s + v->cap, 0, (cap - v->cap) * sizeof(*s));
		v->s = s;
		v->cap = cap;
	}
	if (v->s[id] != NULL) {
		if (strcmp(v->s[id], f) == 0) {
			return FB_OK;
		}
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: a second name '%.60s' for %s '%.60s' (first '%.60s')",
				in->path, rd->record_line, f, what,
				rd->field[in->col[0]], v->s[id]);
	}
	v->s[id] = strdup(f);
	return v->s[id] != NULL ? FB_OK : FB_ENOMEM;
}

static fb_err
namevec_save(const struct namevec *v, uint32_t n, const char *dir,
		const char *file, uint32_t *named)
{
	*named = 0;
	for (uint32_t i = 0; i < n && i < v->cap; i++) {
		*named += v->s[i] != NULL;
	}
	if (*named == 0) {
		return FB_OK;
	}
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, 0644);
	free(path);
	for (uint32_t i = 0; err == FB_OK && i < n && i < v->cap; i++) {
		if (v->s[i] == NULL) {
			continue;
		}
		char head[16];
		int hl = snprintf(head, sizeof(head), "%u\t", i);
		err = fb_atomic_write(&f, head, (size_t)hl);
		if (err == FB_OK) {
			err = fb_atomic_write(&f, v->s[i], strlen(v->s[i]));
		}
		if (err == FB_OK) {
			err = fb_atomic_write(&f, "\n", 1);
		}
		if (err != FB_OK) {
			fb_atomic_abort(&f);
			return err;
		}
	}
	return err == FB_OK ? fb_atomic_commit(&f) : err;
}

// What a catalogue build collects.
struct catalog_parts {
	struct fb_idmap bundles, items, attrs;
	struct pairvec bi, ia;
	struct namevec bundle_names, item_names, item_prices;
	struct fb_csvimport_notes notes;
};

// Interns the '|'-separated attribute ids of the items file's attrs field.
static fb_err
item_attrs(struct catalog_parts *c, uint32_t item, const struct csv_input *in)
{
	const struct fb_csvimport_reader *rd = &in->rd;
	const char *f = rd->field[in->col[2]];
	size_t len = rd->field_len[in->col[2]], start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && f[i] != '|') {
			unsigned char ch = (unsigned char)f[i];
			if (ch < 0x20 || ch == 0x7f) {
				return fb_errorf(FB_EFORMAT,
						"%s:%zu: attrs contains a control character (byte 0x%02x)",
						in->path, rd->record_line, ch);
			}
			continue;
		}
		size_t n = i - start;
		const char *id = trim_id(in, f + start, &n);
		if (n > 0) {
			uint32_t a;
			fb_err err = fb_idmap_intern(&c->attrs, id, n, &a);
			if (err == FB_OK) {
				err = pairvec_push(&c->ia, item, a);
			}
			if (err != FB_OK) {
				return err;
			}
		}
		start = i + 1;
	}
	return FB_OK;
}

// Checks the price field of the current record: empty (no price), or a
// plain non-negative decimal ("12", "4.99"; no sign, exponent or unit).
static fb_err
check_price(const struct csv_input *in, size_t col)
{
	const struct fb_csvimport_reader *rd = &in->rd;
	const char *f = rd->field[col];
	size_t len = rd->field_len[col], digits = 0, dots = 0;
	for (size_t i = 0; i < len; i++) {
		digits += f[i] >= '0' && f[i] <= '9';
		dots += f[i] == '.';
	}
	if (len > 0 &&
			(digits + dots != len || dots > 1 || digits == 0 ||
					len > 20)) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: price '%.40s' is not a non-negative decimal number (such as 4.99)",
				in->path, rd->record_line, f);
	}
	return FB_OK;
}

// The items file: item_id, optional name, attrs and price.
static fb_err
read_items(struct catalog_parts *c, const char *path)
{
	static const char *const names[4] = {
			"item_id", "name", "attrs", "price"};
	struct csv_input in;
	fb_err err = csv_input_open_cols(&in, path, names, 1, 4, &c->notes);
	if (err != FB_OK) {
		return err;
	}
	size_t n_header = in.rd.n_fields;
	for (;;) {
		bool got;
		err = csv_input_next(&in, &got);
		if (err != FB_OK || !got) {
			break;
		}
		const char *s = NULL;
		size_t n = 0;
		uint32_t item;
		err = csv_input_id(&in, n_header, 0, "item_id", &s, &n);
		if (err == FB_OK) {
			err = fb_idmap_intern(&c->items, s, n, &item);
		}
		if (err == FB_OK && in.col[1] != SIZE_MAX) {
			err = namevec_set(&c->item_names, item, &in, in.col[1],
					"item");
		}
		if (err == FB_OK && in.col[2] != SIZE_MAX) {
			err = item_attrs(c, item, &in);
		}
		if (err == FB_OK && in.col[3] != SIZE_MAX) {
			err = check_price(&in, in.col[3]);
		}
		if (err == FB_OK && in.col[3] != SIZE_MAX) {
			err = namevec_set(&c->item_prices, item, &in, in.col[3],
					"item price");
		}
		if (err != FB_OK) {
			break;
		}
	}
	csv_input_finish(&in);
	return err;
}

// The bundle names file: bundle_id,name, bundles of the catalogue only.
static fb_err
read_bundle_names(struct catalog_parts *c, const char *path)
{
	static const char *const names[2] = {"bundle_id", "name"};
	struct csv_input in;
	fb_err err = csv_input_open_cols(&in, path, names, 2, 2, &c->notes);
	if (err != FB_OK) {
		return err;
	}
	size_t n_header = in.rd.n_fields;
	for (;;) {
		bool got;
		err = csv_input_next(&in, &got);
		if (err != FB_OK || !got) {
			break;
		}
		const char *s = NULL;
		size_t n = 0;
		uint32_t b;
		err = csv_input_id(&in, n_header, 0, "bundle_id", &s, &n);
		if (err == FB_OK && !fb_idmap_find(&c->bundles, s, n, &b)) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: bundle '%.80s' has no items in the bundles file",
					path, in.rd.record_line, s);
		}
		if (err == FB_OK) {
			err = namevec_set(&c->bundle_names, b, &in, in.col[1],
					"bundle");
		}
		if (err != FB_OK) {
			break;
		}
	}
	csv_input_finish(&in);
	return err;
}

static fb_err
read_catalog_parts(struct catalog_parts *c,
		const struct fb_csvimport_catalog_options *opt)
{
	const char *bi_names[2] = {"bundle_id", "item_id"};
	struct fb_idmap *bi_maps[2] = {&c->bundles, &c->items};
	const enum id_mode intern2[2] = {ID_INTERN, ID_INTERN};
	fb_err err = read_pairs(opt->bundles_path, bi_names, bi_maps, intern2,
			NULL, &c->bi, NULL, &c->notes);
	if (err == FB_OK && opt->items_path != NULL) {
		err = read_items(c, opt->items_path);
	}
	if (err == FB_OK && opt->attrs_path != NULL) {
		const char *ia_names[2] = {"item_id", "attr_id"};
		struct fb_idmap *ia_maps[2] = {&c->items, &c->attrs};
		const enum id_mode modes[2] = {ID_LOOKUP, ID_INTERN};
		err = read_pairs(opt->attrs_path, ia_names, ia_maps, modes,
				opt->items_path != NULL
						? "(bundles and items files)"
						: opt->bundles_path,
				&c->ia, NULL, &c->notes);
	}
	if (err == FB_OK && opt->bundle_names_path != NULL) {
		err = read_bundle_names(c, opt->bundle_names_path);
	}
	return err;
}

static fb_err
save_catalog(const struct catalog_parts *c, struct fb_dataset *ds,
		const char *out_dir, struct fb_csvimport_catalog_summary *sum)
{
	fb_err err = fb_dataset_save(ds, out_dir);
	if (err == FB_OK) {
		err = fb_idmap_save(&c->bundles, out_dir, "bundles.map");
	}
	if (err == FB_OK) {
		err = fb_idmap_save(&c->items, out_dir, "items.map");
	}
	if (err == FB_OK && c->attrs.n > 0) {
		err = fb_idmap_save(&c->attrs, out_dir, "attrs.map");
	}
	if (err == FB_OK) {
		err = namevec_save(&c->bundle_names, ds->n_bundles, out_dir,
				"bundle_names.txt", &sum->named_bundles);
	}
	if (err == FB_OK) {
		err = namevec_save(&c->item_names, ds->n_items, out_dir,
				"item_names.txt", &sum->named_items);
	}
	if (err == FB_OK) {
		err = namevec_save(&c->item_prices, ds->n_items, out_dir,
				"item_prices.txt", &sum->priced_items);
	}
	// The digest from the files as every party will read them.
	struct fb_dataset *back = NULL;
	if (err == FB_OK) {
		err = fb_dataset_load(&back, out_dir);
	}
	if (err == FB_OK) {
		err = fb_catdir_write_manifest(back, out_dir);
		fb_catdir_digest(back, sum->digest);
	}
	fb_dataset_destroy(back);
	return err;
}

fb_err
fb_csvimport_catalog(const struct fb_csvimport_catalog_options *opt,
		const char *out_dir,
		struct fb_csvimport_catalog_summary *summary)
{
	if (opt->bundles_path == NULL) {
		return fb_errorf(FB_EINVAL, "the bundles file is required");
	}
	fb_err err = check_name(opt->name);
	if (err != FB_OK) {
		return err;
	}
	struct catalog_parts c;
	memset(&c, 0, sizeof(c));
	c.bundles.what = "bundle";
	c.items.what = "item";
	c.attrs.what = "attr";
	struct fb_dataset *ds = NULL;
	struct fb_csvimport_catalog_summary sum;
	memset(&sum, 0, sizeof(sum));
	err = read_catalog_parts(&c, opt);
	if (err == FB_OK) {
		err = fb_dataset_create(&ds, opt->name, 0, c.bundles.n,
				c.items.n, c.attrs.n);
	}
	if (err == FB_OK) {
		fb_csr_finish(&ds->bi);
		err = build_relation(&ds->bi, c.bundles.n, c.items.n, &c.bi,
				&sum.dup_bundle_items);
	}
	if (err == FB_OK) {
		fb_csr_finish(&ds->ia);
		err = build_relation(&ds->ia, c.items.n, c.attrs.n, &c.ia,
				&sum.dup_item_attrs);
	}
	if (err == FB_OK) {
		err = save_catalog(&c, ds, out_dir, &sum);
	}
	if (err == FB_OK) {
		sum.n_bundles = ds->n_bundles;
		sum.n_items = ds->n_items;
		sum.n_attrs = ds->n_attrs;
		sum.n_bundle_items = fb_csr_nnz(&ds->bi);
		sum.n_item_attrs = fb_csr_nnz(&ds->ia);
		sum.notes = c.notes;
		if (summary != NULL) {
			*summary = sum;
		}
	}
	fb_dataset_destroy(ds);
	fb_idmap_finish(&c.bundles);
	fb_idmap_finish(&c.items);
	fb_idmap_finish(&c.attrs);
	pairvec_finish(&c.bi);
	pairvec_finish(&c.ia);
	namevec_finish(&c.bundle_names);
	namevec_finish(&c.item_names);
	namevec_finish(&c.item_prices);
	return err;
}
