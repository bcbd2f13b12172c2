// common/data/dataset.c: the in-memory dataset and its folder format
// (PROVENANCE.md "File format"). Loading is one pass per file: a strict
// hand-written parser turns the text into (first, second) arrays in file
// order, a stable counting sort by row builds the CSR, each row is sorted
// (insertion or radix) and checked for duplicates. Nothing is tracked for
// error messages on the fast path: pair k is line k + 1, and the rare error
// paths (duplicate, pair in two splits) re-scan the pairs or re-read the
// file to name the lines. Saving writes rows in CSR order, so a saved file
// is sorted by first then second column and load(save(x)) == x.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"

static const char size_suffix[] = "_data_size.txt";

static fb_err
empty_csr(struct fb_csr *m, uint32_t n_rows, uint32_t n_cols)
{
	m->n_rows = n_rows;
	m->n_cols = n_cols;
	m->col = NULL;
	m->row_ptr = calloc((size_t)n_rows + 1, sizeof(*m->row_ptr));
	return m->row_ptr != NULL ? FB_OK : FB_ENOMEM;
}

fb_err
fb_dataset_create(struct fb_dataset **out, const char *name, uint32_t n_users,
		uint32_t n_bundles, uint32_t n_items, uint32_t n_attrs)
{
	struct fb_dataset *ds = calloc(1, sizeof(*ds));
	if (ds == NULL) {
		return FB_ENOMEM;
	}
	ds->name = strdup(name);
	ds->n_users = n_users;
	ds->n_bundles = n_bundles;
	ds->n_items = n_items;
	ds->n_attrs = n_attrs;
	if (ds->name == NULL ||
			empty_csr(&ds->ub_train, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ub_tune, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ub_test, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ui, n_users, n_items) != FB_OK ||
			empty_csr(&ds->bi, n_bundles, n_items) != FB_OK ||
			empty_csr(&ds->ia, n_items, n_attrs) != FB_OK) {
		fb_dataset_destroy(ds);
		return FB_ENOMEM;
	}
	*out = ds;
	return FB_OK;
}

void
fb_dataset_destroy(struct fb_dataset *ds)
{
	if (ds == NULL) {
		return;
	}
	fb_csr_finish(&ds->ub_train);
	fb_csr_finish(&ds->ub_tune);
	fb_csr_finish(&ds->ub_test);
	fb_csr_finish(&ds->ui);
	fb_csr_finish(&ds->bi);
	fb_csr_finish(&ds->ia);
	free(ds->name);
	free(ds);
}

// ---------------------------------------------------------------- parsing

// Describes the byte at p (or the end of input) for a message.
static const char *
describe_byte(const unsigned char *p, const unsigned char *end, char *buf,
		size_t size)
{
	if (p >= end) {
		snprintf(buf, size, "end of file");
	} else if (*p == '\n') {
		snprintf(buf, size, "end of line");
	} else if (*p == '\t') {
		snprintf(buf, size, "TAB");
	} else if (*p == ' ') {
		snprintf(buf, size, "space");
	} else if (*p > 0x20 && *p < 0x7f) {
		snprintf(buf, size, "'%c'", *p);
	} else {
		snprintf(buf, size, "byte 0x%02x", *p);
	}
	return buf;
}

// The outcome of reading one line; both parsers share parse_line, so the
// fast path and the general path accept exactly the same language.
enum line_status {
	LINE_OK,
	LINE_MALFORMED,
	LINE_BIG_FIRST,
	LINE_BIG_SECOND,
};

// Reads "<digits>\t<digits>" and an LF (or the end of input) from *pp.
// On LINE_OK *pp is the start of the next line; otherwise it points at the
// offending byte.
static inline enum line_status
parse_line(const unsigned char **pp, const unsigned char *end, uint32_t *a,
		uint32_t *b)
{
	const unsigned char *p = *pp;
	enum line_status st = LINE_MALFORMED;
	uint64_t x = 0, y = 0;
	if ((unsigned)(*p - '0') > 9) {
		goto bad;
	}
	// Each step is bounded, so 64 bits never wrap.
	do {
		x = x * 10 + (unsigned)(*p - '0');
		if (x > UINT32_MAX) {
			st = LINE_BIG_FIRST;
			goto bad;
		}
		p++;
	} while (p < end && (unsigned)(*p - '0') <= 9);
	if (p == end || *p != '\t') {
		goto bad;
	}
	p++;
	if (p == end || (unsigned)(*p - '0') > 9) {
		goto bad;
	}
	do {
		y = y * 10 + (unsigned)(*p - '0');
		if (y > UINT32_MAX) {
			st = LINE_BIG_SECOND;
			goto bad;
		}
		p++;
	} while (p < end && (unsigned)(*p - '0') <= 9);
	if (p < end) {
		if (*p != '\n') {
			goto bad;
		}
		p++;
	}
	*pp = p;
	*a = (uint32_t)x;
	*b = (uint32_t)y;
	return LINE_OK;
bad:
	*pp = p;
	return st;
}

// The detail of a line parse_line refused; p is where it stopped.
static fb_err
line_error(const struct fb_pairs_spec *spec, size_t line, enum line_status st,
		const unsigned char *start, const unsigned char *p,
		const unsigned char *end)
{
	if (st == LINE_BIG_FIRST || st == LINE_BIG_SECOND) {
		return fb_errorf(FB_EFORMAT, "%s:%zu: %s id is larger than %lu",
				spec->label, line,
				st == LINE_BIG_FIRST ? spec->first_name
						     : spec->second_name,
				(unsigned long)UINT32_MAX);
	}
	if (p == start && p < end && *p == '\n') {
		return fb_errorf(FB_EFORMAT, "%s:%zu: empty line", spec->label,
				line);
	}
	if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n') {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: CR LF line ending (the format requires LF line endings)",
				spec->label, line);
	}
	char what[32];
	return fb_errorf(FB_EFORMAT,
			"%s:%zu: malformed line (expected two TAB-separated integers): unexpected %s at column %zu",
			spec->label, line,
			describe_byte(p, end, what, sizeof(what)),
			(size_t)(p - start) + 1);
}

static fb_err
out_of_range(const struct fb_pairs_spec *spec, size_t line, const char *name,
		uint32_t id, uint32_t count)
{
	return fb_errorf(FB_EFORMAT, "%s:%zu: %s id %u out of range (%u %ss)",
			spec->label, line, name, id, count, name);
}

// Number of records buf can hold: its LFs plus an unterminated last line.
// Counts 8 bytes at a time: a byte of x is zero where buf has an LF, and
// the exact zero-byte mask below has 0x80 there (no carries between bytes).
static size_t
count_lines(const char *buf, size_t len)
{
	const uint64_t ones = 0x0101010101010101u, low7 = 0x7f7f7f7f7f7f7f7fu;
	size_t n = 0, i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, sizeof(w));
		uint64_t x = w ^ (ones * '\n');
		uint64_t zero = ~(((x & low7) + low7) | x | low7);
		n += (size_t)(((zero >> 7) * ones) >> 56);
	}
	for (; i < len; i++) {
		n += buf[i] == '\n';
	}
	return n + (len > 0 && buf[len - 1] != '\n');
}

fb_err
fb_pairs_parse(struct fb_pairs *out, const struct fb_pairs_spec *spec,
		const char *buf, size_t len)
{
	size_t cap = count_lines(buf, len);
	uint32_t *first = malloc((cap > 0 ? cap : 1) * sizeof(*first));
	uint32_t *second = malloc((cap > 0 ? cap : 1) * sizeof(*second));
	fb_err err = FB_OK;
	if (first == NULL || second == NULL) {
		err = fb_errorf(FB_ENOMEM, "%s: cannot hold %zu pairs",
				spec->label, cap);
		goto fail;
	}
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end = p + len;
	size_t n = 0;
	while (p < end) {
		const unsigned char *start = p;
		uint32_t a, b;
		enum line_status st = parse_line(&p, end, &a, &b);
		if (st != LINE_OK) {
			err = line_error(spec, n + 1, st, start, p, end);
			goto fail;
		}
		if (a >= spec->n_first) {
			err = out_of_range(spec, n + 1, spec->first_name, a,
					spec->n_first);
			goto fail;
		}
		if (b >= spec->n_second) {
			err = out_of_range(spec, n + 1, spec->second_name, b,
					spec->n_second);
			goto fail;
		}
		first[n] = a;
		second[n] = b;
		n++;
	}
	out->first = first;
	out->second = second;
	out->n = n;
	return FB_OK;
fail:
	free(first);
	free(second);
	return err;
}

void
fb_pairs_finish(struct fb_pairs *pairs)
{
	if (pairs == NULL) {
		return;
	}
	free(pairs->first);
	free(pairs->second);
	memset(pairs, 0, sizeof(*pairs));
}

// ------------------------------------------------------------- CSR build

// Rows up to this length are insertion-sorted; longer ones radix-sorted.
#define SHORT_ROW 48

// Sorts v[0..n) ascending; tmp has room for n values when n > SHORT_ROW.
// Radix sort keeps the worst case linear whatever the input order.
static void
sort_u32(uint32_t *v, size_t n, uint32_t *tmp)
{
	if (n <= SHORT_ROW) {
		for (size_t i = 1; i < n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			while (j > 0 && v[j - 1] > x) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = x;
		}
		return;
	}
	uint32_t *src = v, *dst = tmp;
	for (unsigned shift = 0; shift < 32; shift += 8) {
		size_t count[257] = {0};
		for (size_t i = 0; i < n; i++) {
			count[((src[i] >> shift) & 0xff) + 1]++;
		}
		if (count[((src[0] >> shift) & 0xff) + 1] == n) {
			continue; // every value has this byte: nothing moves
		}
		for (size_t b = 1; b < 257; b++) {
			count[b] += count[b - 1];
		}
		for (size_t i = 0; i < n; i++) {
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
		}
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v) {
		memcpy(v, src, n * sizeof(*v));
	}
}

// Sorts every row of (ptr, col) that is not already strictly increasing.
// Returns FB_EFORMAT without a detail and the pair in *dup_row, *dup_col if
// a row holds a value twice; FB_ENOMEM.
static fb_err
sort_rows(const uint64_t *ptr, uint32_t *col, uint32_t n_rows,
		uint32_t *dup_row, uint32_t *dup_col)
{
	uint64_t longest = 0;
	for (uint32_t r = 0; r < n_rows; r++) {
		uint64_t len = ptr[r + 1] - ptr[r];
		longest = len > longest ? len : longest;
	}
	uint32_t *tmp = NULL;
	if (longest > SHORT_ROW) {
		tmp = malloc(longest * sizeof(*tmp));
		if (tmp == NULL) {
			return FB_ENOMEM;
		}
	}
	fb_err err = FB_OK;
	for (uint32_t r = 0; r < n_rows; r++) {
		uint32_t *row = col + ptr[r];
		size_t len = ptr[r + 1] - ptr[r];
		size_t k = 1;
		while (k < len && row[k - 1] < row[k]) {
			k++;
		}
		if (k >= len) {
			continue; // already strictly increasing
		}
		sort_u32(row, len, tmp);
		for (k = 1; k < len; k++) {
			if (row[k] == row[k - 1]) {
				*dup_row = r;
				*dup_col = row[k];
				err = FB_EFORMAT;
				goto done;
			}
		}
	}
done:
	free(tmp);
	return err;
}

// The lines (1-based) of the first two occurrences of (a, b) in pairs.
static void
find_duplicate(const struct fb_pairs *pairs, uint32_t a, uint32_t b,
		size_t *line1, size_t *line2)
{
	*line1 = 0;
	*line2 = 0;
	for (size_t k = 0; k < pairs->n; k++) {
		if (pairs->first[k] == a && pairs->second[k] == b) {
			if (*line1 == 0) {
				*line1 = k + 1;
			} else {
				*line2 = k + 1;
				return;
			}
		}
	}
}

fb_err
fb_pairs_to_csr(struct fb_csr *out, const struct fb_pairs *pairs,
		const struct fb_pairs_spec *spec)
{
	size_t n = pairs->n;
	uint32_t n_rows = spec->n_first;
	uint64_t *ptr = calloc((size_t)n_rows + 1, sizeof(*ptr));
	uint32_t *col = malloc((n > 0 ? n : 1) * sizeof(*col));
	fb_err err = FB_OK;
	if (ptr == NULL || col == NULL) {
		err = fb_errorf(FB_ENOMEM,
				"%s: cannot hold %u rows and %zu pairs",
				spec->label, n_rows, n);
		goto fail;
	}
	for (size_t k = 0; k < n; k++) {
		if (pairs->first[k] >= n_rows ||
				pairs->second[k] >= spec->n_second) {
			err = fb_errorf(FB_EINVAL,
					"%s:%zu: pair (%u, %u) outside a %u x %u relation",
					spec->label, k + 1, pairs->first[k],
					pairs->second[k], n_rows,
					spec->n_second);
			goto fail;
		}
		ptr[pairs->first[k] + 1]++;
	}
	for (uint32_t r = 0; r < n_rows; r++) {
		ptr[r + 1] += ptr[r];
	}
	// Stable scatter by row: ptr[r] walks to the end of row r and is
	// shifted back afterwards.
	for (size_t k = 0; k < n; k++) {
		col[ptr[pairs->first[k]]++] = pairs->second[k];
	}
	for (uint32_t r = n_rows; r > 0; r--) {
		ptr[r] = ptr[r - 1];
	}
	ptr[0] = 0;
	uint32_t dr, dc;
	err = sort_rows(ptr, col, n_rows, &dr, &dc);
	if (err == FB_EFORMAT) {
		size_t l1, l2;
		find_duplicate(pairs, dr, dc, &l1, &l2);
		err = fb_errorf(FB_EFORMAT,
				"%s:%zu: duplicate pair (%u, %u) (first at line %zu)",
				spec->label, l2, dr, dc, l1);
	}
	if (err != FB_OK) {
		goto fail;
	}
	out->n_rows = n_rows;
	out->n_cols = spec->n_second;
	out->row_ptr = ptr;
	out->col = col;
	return FB_OK;
fail:
	free(ptr);
	free(col);
	return err;
}

// The general path: parse into pairs, then build.
static fb_err
parse_csr_slow(struct fb_csr *out, const struct fb_pairs_spec *spec,
		const char *buf, size_t len)
{
	struct fb_pairs pairs;
	fb_err err = fb_pairs_parse(&pairs, spec, buf, len);
	if (err != FB_OK) {
		return err;
	}
	err = fb_pairs_to_csr(out, &pairs, spec);
	fb_pairs_finish(&pairs);
	return err;
}

fb_err
fb_pairs_parse_csr(struct fb_csr *out, const struct fb_pairs_spec *spec,
		const char *buf, size_t len)
{
	size_t cap = count_lines(buf, len);
	uint32_t n_rows = spec->n_first;
	uint64_t *ptr = calloc((size_t)n_rows + 1, sizeof(*ptr));
	uint32_t *col = malloc((cap > 0 ? cap : 1) * sizeof(*col));
	if (ptr == NULL || col == NULL) {
		free(ptr);
		free(col);
		return fb_errorf(FB_ENOMEM,
				"%s: cannot hold %u rows and %zu pairs",
				spec->label, n_rows, cap);
	}
	// Anything unusual (an error, a row out of order, a duplicate) hands
	// the whole buffer to the general path, which words the error.
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end = p + len;
	size_t n = 0;
	uint32_t last_a = 0, last_b = 0;
	bool sorted = true;
	while (p < end) {
		uint32_t a, b;
		if (parse_line(&p, end, &a, &b) != LINE_OK ||
				a >= spec->n_first || b >= spec->n_second ||
				a < last_a) {
			goto slow;
		}
		if (a == last_a && b <= last_b && n > 0) {
			sorted = false;
		}
		ptr[a + 1]++;
		col[n++] = b;
		last_a = a;
		last_b = b;
	}
	for (uint32_t r = 0; r < n_rows; r++) {
		ptr[r + 1] += ptr[r];
	}
	if (!sorted) {
		uint32_t dr, dc;
		fb_err err = sort_rows(ptr, col, n_rows, &dr, &dc);
		if (err == FB_EFORMAT) {
			goto slow;
		}
		if (err != FB_OK) {
			free(ptr);
			free(col);
			return err;
		}
	}
	out->n_rows = n_rows;
	out->n_cols = spec->n_second;
	out->row_ptr = ptr;
	out->col = col;
	return FB_OK;
slow:
	free(ptr);
	free(col);
	return parse_csr_slow(out, spec, buf, len);
}

// ---------------------------------------------------------------- loading

// Parses "<Name>_data_size.txt": one line of 3 or 4 TAB-separated counts.
static fb_err
parse_sizes(const char *label, const char *buf, size_t len, uint32_t v[4],
		int *n_fields)
{
	static const char expect[] =
			"expected '#users<TAB>#bundles<TAB>#items[<TAB>#attrs]'";
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end = p + len;
	int n = 0;
	while (true) {
		if (p == end || (unsigned)(*p - '0') > 9) {
			char what[32];
			return fb_errorf(FB_EFORMAT, "%s:1: %s, found %s",
					label, expect,
					describe_byte(p, end, what,
							sizeof(what)));
		}
		uint64_t x = 0;
		while (p < end && (unsigned)(*p - '0') <= 9) {
			x = x * 10 + (unsigned)(*p - '0');
			if (x > UINT32_MAX) {
				return fb_errorf(FB_EFORMAT,
						"%s:1: count larger than %lu",
						label,
						(unsigned long)UINT32_MAX);
			}
			p++;
		}
		v[n++] = (uint32_t)x;
		if (p < end && *p == '\t' && n < 4) {
			p++;
			continue;
		}
		break;
	}
	if (n < 3 || (p < end && *p != '\n')) {
		char what[32];
		return fb_errorf(FB_EFORMAT, "%s:1: %s, found %s", label,
				expect,
				describe_byte(p, end, what, sizeof(what)));
	}
	if (p < end && p + 1 < end) {
		return fb_errorf(FB_EFORMAT, "%s:2: unexpected second line",
				label);
	}
	if (n == 3) {
		v[3] = 0;
	}
	static const char *const what[4] = {
			"users", "bundles", "items", "attrs"};
	for (int k = 0; k < 4; k++) {
		if (v[k] > FB_DATASET_MAX_COUNT) {
			return fb_errorf(FB_EFORMAT,
					"%s:1: %u %s, more than the supported %u",
					label, v[k], what[k],
					(unsigned)FB_DATASET_MAX_COUNT);
		}
	}
	*n_fields = n;
	return FB_OK;
}

// Finds the one "<Name>_data_size.txt" of dir; *name and *file are malloc'd.
static fb_err
find_size_file(const char *dir, char **name, char **file)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		return fb_errorf(FB_EIO, "%s: cannot open folder: %s", dir,
				strerror(errno));
	}
	char *found = NULL;
	fb_err err = FB_OK;
	struct dirent *e;
	size_t sl = sizeof(size_suffix) - 1;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < sl ||
				strcmp(e->d_name + len - sl, size_suffix) !=
						0) {
			continue;
		}
		if (found != NULL) {
			err = fb_errorf(FB_EFORMAT,
					"%s: two size files, %s and %s; a dataset folder holds exactly one *%s",
					dir, found, e->d_name, size_suffix);
			goto done;
		}
		found = strdup(e->d_name);
		if (found == NULL) {
			err = FB_ENOMEM;
			goto done;
		}
	}
	if (found == NULL) {
		err = fb_errorf(FB_EFORMAT,
				"%s: no *%s file; not a dataset folder", dir,
				size_suffix);
		goto done;
	}
	if (strlen(found) == sl) {
		err = fb_errorf(FB_EFORMAT,
				"%s: %s has an empty dataset name before %s",
				dir, found, size_suffix);
		goto done;
	}
	*name = strndup(found, strlen(found) - sl);
	if (*name == NULL) {
		err = FB_ENOMEM;
		goto done;
	}
	*file = found;
	found = NULL;
done:
	free(found);
	closedir(d);
	return err;
}

// Maps path read-only: unlike reading into a buffer, it costs no page
// clearing and no copy. fedbundle replaces dataset files by rename, never in
// place; a file truncated in place by another program while it is being
// parsed would fault (SIGBUS), like with any mmap reader. *map_len is what to pass
// to munmap (0: nothing mapped, for an empty file).
static fb_err
map_file(const char *path, const char **buf, size_t *len, size_t *map_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return fb_errorf(FB_EIO, "%s: cannot open: %s", path,
				strerror(errno));
	}
	struct stat st;
	fb_err err = FB_OK;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = fb_errorf(FB_EIO, "%s: not a regular file", path);
		goto done;
	}
	if ((uint64_t)st.st_size > FB_DATASET_MAX_FILE_BYTES ||
			(uint64_t)st.st_size > SIZE_MAX) {
		err = fb_errorf(FB_EFORMAT,
				"%s: %lld bytes, more than the limit of %llu",
				path, (long long)st.st_size,
				(unsigned long long)FB_DATASET_MAX_FILE_BYTES);
		goto done;
	}
	*len = (size_t)st.st_size;
	*map_len = *len;
	*buf = "";
	if (*len > 0) {
		void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			err = fb_errorf(FB_EIO, "%s: cannot map: %s", path,
					strerror(errno));
			goto done;
		}
		posix_madvise(m, *len, POSIX_MADV_SEQUENTIAL);
		*buf = m;
	}
done:
	close(fd);
	return err;
}

// Reads dir/file into *out (replacing it). A missing optional file leaves
// *out an empty n_first x n_second relation.
static fb_err
load_relation(struct fb_csr *out, const char *dir, const char *file,
		bool required, const char *first_name, uint32_t n_first,
		const char *second_name, uint32_t n_second)
{
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	struct fb_csr m = {0};
	fb_err err = FB_OK;
	struct stat st;
	if (!required && stat(path, &st) != 0 && errno == ENOENT) {
		err = empty_csr(&m, n_first, n_second);
	} else {
		const char *buf = "";
		size_t len = 0, map_len = 0;
		err = map_file(path, &buf, &len, &map_len);
		if (err == FB_OK) {
			struct fb_pairs_spec spec = {
					.label = path,
					.first_name = first_name,
					.second_name = second_name,
					.n_first = n_first,
					.n_second = n_second,
			};
			err = fb_pairs_parse_csr(&m, &spec, buf, len);
			if (map_len > 0) {
				munmap((void *)buf, map_len);
			}
		}
	}
	free(path);
	if (err != FB_OK) {
		return err;
	}
	fb_csr_finish(out);
	*out = m;
	return FB_OK;
}

// Line (1-based) of pair (a, b) in dir/file, or 0 if it cannot be found
// again (the file changed under us). Only used to word an error.
static size_t
line_of_pair(const char *dir, const char *file, uint32_t a, uint32_t b)
{
	char *path = fb_path_join(dir, file);
	char *buf = NULL;
	size_t len = 0, line = 0;
	if (path == NULL ||
			fb_read_file(path, SIZE_MAX / 2, &buf, &len) != FB_OK) {
		free(path);
		return 0;
	}
	struct fb_pairs_spec spec = {
			path, "first", "second", UINT32_MAX, UINT32_MAX};
	struct fb_pairs pairs;
	if (fb_pairs_parse(&pairs, &spec, buf, len) == FB_OK) {
		for (size_t k = 0; k < pairs.n; k++) {
			if (pairs.first[k] == a && pairs.second[k] == b) {
				line = k + 1;
				break;
			}
		}
		fb_pairs_finish(&pairs);
	}
	free(buf);
	free(path);
	return line;
}

// fb_errorf with "<dir>/<file>:<line>: " (line > 0) or "<dir>/<file>: "
// before the message.
static fb_err in_dir(const char *dir, const char *file, size_t line,
		fb_err code, const char *fmt, ...)
		__attribute__((format(printf, 5, 6)));

static fb_err
in_dir(const char *dir, const char *file, size_t line, fb_err code,
		const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t dl = strlen(dir);
	bool slash = dl > 0 && dir[dl - 1] == '/';
	char at[24] = "";
	if (line > 0) {
		snprintf(at, sizeof(at), ":%zu", line);
	}
	return fb_errorf(code, "%s%s%s%s: %s", dir, slash ? "" : "/", file, at,
			msg);
}

// True if dir/file exists and is not empty.
static bool
has_data(const char *dir, const char *file)
{
	char *path = fb_path_join(dir, file);
	struct stat st;
	bool yes = path != NULL && stat(path, &st) == 0 && st.st_size > 0;
	free(path);
	return yes;
}

// First column present in both sorted rows, if any.
static bool
rows_intersect(const uint32_t *x, size_t nx, const uint32_t *y, size_t ny,
		uint32_t *common)
{
	size_t i = 0, j = 0;
	while (i < nx && j < ny) {
		if (x[i] < y[j]) {
			i++;
		} else if (x[i] > y[j]) {
			j++;
		} else {
			*common = x[i];
			return true;
		}
	}
	return false;
}

static const char *const split_files[3] = {
		"user_bundle_train.txt",
		"user_bundle_tune.txt",
		"user_bundle_test.txt",
};

// Finds a user-bundle pair present in two splits: *s1 < *s2 index the
// splits, in the order of split_files.
static bool
splits_overlap(const struct fb_csr *split[3], uint32_t n_users, uint32_t *u,
		uint32_t *b, int *s1, int *s2)
{
	for (uint32_t r = 0; r < n_users; r++) {
		for (int x = 0; x < 3; x++) {
			for (int y = x + 1; y < 3; y++) {
				if (rows_intersect(fb_csr_row(split[x], r),
						    fb_csr_row_len(split[x], r),
						    fb_csr_row(split[y], r),
						    fb_csr_row_len(split[y], r),
						    b)) {
					*u = r;
					*s1 = x;
					*s2 = y;
					return true;
				}
			}
		}
	}
	return false;
}

// Public datasets list bundles with no items (Youshu has a few): they
// are kept, with no item view (the model's own bundle factor alone), and
// named in one warning, since in a retailer's catalogue one is a mistake.
static void
warn_empty_bundles(const struct fb_dataset *ds, const char *dir)
{
	uint32_t n = 0, first[3];
	for (uint32_t r = 0; r < ds->n_bundles; r++) {
		if (fb_csr_row_len(&ds->bi, r) == 0 && n++ < 3) {
			first[n - 1] = r;
		}
	}
	if (n == 0) {
		return;
	}
	char list[64];
	int len = 0;
	for (uint32_t k = 0; k < n && k < 3; k++) {
		len += snprintf(list + len, sizeof(list) - (size_t)len, "%s%u",
				k > 0 ? ", " : "", first[k]);
	}
	fb_log(FB_LOG_WARN,
			"%s%sbundle_item.txt: %u bundle(s) list no items (bundle "
			"%s%s): kept, scored by their bundle factor alone",
			dir,
			dir[0] != '\0' && dir[strlen(dir) - 1] != '/' ? "/"
								      : "",
			n, list, n > 3 ? ", ..." : "");
}

fb_err
fb_dataset_load(struct fb_dataset **out, const char *dir)
{
	char *name = NULL, *size_file = NULL, *size_path = NULL, *buf = NULL;
	struct fb_dataset *ds = NULL;
	size_t len = 0;
	fb_err err = find_size_file(dir, &name, &size_file);
	if (err != FB_OK) {
		return err;
	}
	size_path = fb_path_join(dir, size_file);
	if (size_path == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	err = fb_read_file(size_path, 4096, &buf, &len);
	if (err != FB_OK) {
		goto fail;
	}
	uint32_t v[4];
	int n_fields;
	err = parse_sizes(size_path, buf, len, v, &n_fields);
	if (err != FB_OK) {
		goto fail;
	}
	err = fb_dataset_create(&ds, name, v[0], v[1], v[2], v[3]);
	if (err != FB_OK) {
		err = fb_errorf(err,
				"%s: cannot hold %u users, %u bundles, %u items",
				size_path, v[0], v[1], v[2]);
		goto fail;
	}
	struct fb_csr *split[3] = {&ds->ub_train, &ds->ub_tune, &ds->ub_test};
	for (int s = 0; s < 3; s++) {
		err = load_relation(split[s], dir, split_files[s], true, "user",
				ds->n_users, "bundle", ds->n_bundles);
		if (err != FB_OK) {
			goto fail;
		}
	}
	err = load_relation(&ds->bi, dir, "bundle_item.txt", true, "bundle",
			ds->n_bundles, "item", ds->n_items);
	if (err != FB_OK) {
		goto fail;
	}
	warn_empty_bundles(ds, dir);
	err = load_relation(&ds->ui, dir, "user_item.txt", false, "user",
			ds->n_users, "item", ds->n_items);
	if (err != FB_OK) {
		goto fail;
	}
	if (ds->n_attrs == 0 && has_data(dir, "item_attr.txt")) {
		err = in_dir(dir, "item_attr.txt", 0, FB_EFORMAT,
				"present, but %s declares no attributes (add a 4th field, #attrs)",
				size_file);
		goto fail;
	}
	err = load_relation(&ds->ia, dir, "item_attr.txt", false, "item",
			ds->n_items, "attr", ds->n_attrs);
	if (err != FB_OK) {
		goto fail;
	}
	uint32_t u, b;
	int s1, s2;
	const struct fb_csr *splits_c[3] = {split[0], split[1], split[2]};
	if (splits_overlap(splits_c, ds->n_users, &u, &b, &s1, &s2)) {
		size_t l1 = line_of_pair(dir, split_files[s1], u, b);
		size_t l2 = line_of_pair(dir, split_files[s2], u, b);
		err = in_dir(dir, split_files[s2], l2, FB_EFORMAT,
				"pair (%u, %u) is also in %s:%zu", u, b,
				split_files[s1], l1);
		goto fail;
	}
	err = fb_catdir_load_digest(ds, dir);
	if (err != FB_OK) {
		goto fail;
	}
	free(name);
	free(size_file);
	free(size_path);
	free(buf);
	*out = ds;
	return FB_OK;
fail:
	fb_dataset_destroy(ds);
	free(name);
	free(size_file);
	free(size_path);
	free(buf);
	return err;
}

// --------------------------------------------------------------- checking

static fb_err
check_csr(const struct fb_csr *m, const char *what, uint32_t n_rows,
		uint32_t n_cols)
{
	if (m->n_rows != n_rows || m->n_cols != n_cols || m->row_ptr == NULL) {
		return fb_errorf(FB_EINVAL,
				"%s: shape %u x %u, expected %u x %u", what,
				m->n_rows, m->n_cols, n_rows, n_cols);
	}
	if (m->row_ptr[0] != 0 || (m->row_ptr[n_rows] > 0 && m->col == NULL)) {
		return fb_errorf(FB_EINVAL, "%s: inconsistent row pointers",
				what);
	}
	for (uint32_t r = 0; r < n_rows; r++) {
		if (m->row_ptr[r + 1] < m->row_ptr[r]) {
			return fb_errorf(FB_EINVAL,
					"%s: row %u has a negative length",
					what, r);
		}
		const uint32_t *row = fb_csr_row(m, r);
		uint32_t len = fb_csr_row_len(m, r);
		for (uint32_t k = 0; k < len; k++) {
			if (row[k] >= n_cols) {
				return fb_errorf(FB_EINVAL,
						"%s: row %u: column %u out of range (%u columns)",
						what, r, row[k], n_cols);
			}
			if (k > 0 && row[k] <= row[k - 1]) {
				return fb_errorf(FB_EINVAL,
						"%s: row %u: columns not strictly increasing at %u",
						what, r, row[k]);
			}
		}
	}
	return FB_OK;
}

fb_err
fb_dataset_check(const struct fb_dataset *ds)
{
	if (ds->name == NULL || ds->name[0] == '\0') {
		return fb_errorf(FB_EINVAL, "dataset has an empty name");
	}
	for (const char *c = ds->name; *c != '\0'; c++) {
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f) {
			return fb_errorf(FB_EINVAL,
					"dataset name '%s' cannot be a file prefix (it has '/' or a control character)",
					ds->name);
		}
	}
	const struct {
		const struct fb_csr *m;
		const char *what;
		uint32_t rows, cols;
	} rel[] = {
			{&ds->ub_train, "user_bundle_train", ds->n_users,
					ds->n_bundles},
			{&ds->ub_tune, "user_bundle_tune", ds->n_users,
					ds->n_bundles},
			{&ds->ub_test, "user_bundle_test", ds->n_users,
					ds->n_bundles},
			{&ds->bi, "bundle_item", ds->n_bundles, ds->n_items},
			{&ds->ui, "user_item", ds->n_users, ds->n_items},
			{&ds->ia, "item_attr", ds->n_items, ds->n_attrs},
	};
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		fb_err err = check_csr(rel[i].m, rel[i].what, rel[i].rows,
				rel[i].cols);
		if (err != FB_OK) {
			return err;
		}
	}
	const struct fb_csr *split[3] = {
			&ds->ub_train, &ds->ub_tune, &ds->ub_test};
	uint32_t u, b;
	int s1, s2;
	if (splits_overlap(split, ds->n_users, &u, &b, &s1, &s2)) {
		return fb_errorf(FB_EINVAL,
				"pair (%u, %u) is in both %s and %s", u, b,
				split_files[s1], split_files[s2]);
	}
	return FB_OK;
}

// ----------------------------------------------------------------- saving

// Writes the decimal digits of x ending just before end; returns the start.
static char *
put_u32(char *end, uint32_t x)
{
	do {
		*--end = (char)('0' + x % 10);
		x /= 10;
	} while (x != 0);
	return end;
}

static fb_err
save_relation(const struct fb_csr *m, const char *dir, const char *file)
{
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	enum { CHUNK = 1 << 16, LINE_MAX_LEN = 2 * 10 + 2 };
	char *out = malloc(CHUNK);
	if (out == NULL) {
		free(path);
		return FB_ENOMEM;
	}
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, 0644);
	if (err != FB_OK) {
		goto done;
	}
	size_t used = 0;
	for (uint32_t r = 0; r < m->n_rows && err == FB_OK; r++) {
		char head[12];
		char *h = put_u32(head + sizeof(head), r);
		size_t hl = (size_t)(head + sizeof(head) - h);
		const uint32_t *row = fb_csr_row(m, r);
		uint32_t len = fb_csr_row_len(m, r);
		for (uint32_t k = 0; k < len; k++) {
			if (used + LINE_MAX_LEN > CHUNK) {
				err = fb_atomic_write(&f, out, used);
				used = 0;
				if (err != FB_OK) {
					break;
				}
			}
			memcpy(out + used, h, hl);
			used += hl;
			out[used++] = '\t';
			char num[12];
			char *c = put_u32(num + sizeof(num), row[k]);
			size_t cl = (size_t)(num + sizeof(num) - c);
			memcpy(out + used, c, cl);
			used += cl;
			out[used++] = '\n';
		}
	}
	if (err == FB_OK) {
		err = fb_atomic_write(&f, out, used);
	}
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		goto done;
	}
	err = fb_atomic_commit(&f);
done:
	free(out);
	free(path);
	return err;
}

// Removes dir/file if present: an optional file of an older dataset in the
// same folder must not be read back with the new one.
static fb_err
remove_stale(const char *dir, const char *file)
{
	char *path = fb_path_join(dir, file);
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	if (unlink(path) != 0 && errno != ENOENT) {
		err = fb_errorf(FB_EIO, "%s: cannot remove stale file: %s",
				path, strerror(errno));
	}
	free(path);
	return err;
}

// Refuses to write into a folder whose size file names another dataset:
// load would then find two size files.
static fb_err
check_no_other_dataset(const char *dir, const char *size_file)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		return fb_errorf(FB_EIO, "%s: cannot open folder: %s", dir,
				strerror(errno));
	}
	fb_err err = FB_OK;
	struct dirent *e;
	size_t sl = sizeof(size_suffix) - 1;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len >= sl &&
				strcmp(e->d_name + len - sl, size_suffix) ==
						0 &&
				strcmp(e->d_name, size_file) != 0) {
			err = fb_errorf(FB_EINVAL,
					"%s: already holds another dataset (%s); refusing to write %s beside it",
					dir, e->d_name, size_file);
			break;
		}
	}
	closedir(d);
	return err;
}

fb_err
fb_dataset_save(const struct fb_dataset *ds, const char *dir)
{
	fb_err err = fb_dataset_check(ds);
	if (err != FB_OK) {
		return err;
	}
	err = fb_mkdir_p(dir);
	if (err != FB_OK) {
		return err;
	}
	size_t nl = strlen(ds->name);
	char *size_file = malloc(nl + sizeof(size_suffix));
	char *size_path = NULL;
	if (size_file == NULL) {
		return FB_ENOMEM;
	}
	memcpy(size_file, ds->name, nl);
	memcpy(size_file + nl, size_suffix, sizeof(size_suffix));
	err = check_no_other_dataset(dir, size_file);
	if (err != FB_OK) {
		goto done;
	}
	const struct fb_csr *split[3] = {
			&ds->ub_train, &ds->ub_tune, &ds->ub_test};
	for (int s = 0; s < 3 && err == FB_OK; s++) {
		err = save_relation(split[s], dir, split_files[s]);
	}
	if (err == FB_OK) {
		err = save_relation(&ds->bi, dir, "bundle_item.txt");
	}
	if (err == FB_OK) {
		err = fb_csr_nnz(&ds->ui) > 0
				? save_relation(&ds->ui, dir, "user_item.txt")
				: remove_stale(dir, "user_item.txt");
	}
	if (err == FB_OK) {
		err = fb_csr_nnz(&ds->ia) > 0
				? save_relation(&ds->ia, dir, "item_attr.txt")
				: remove_stale(dir, "item_attr.txt");
	}
	if (err != FB_OK) {
		goto done;
	}
	char line[64];
	int len;
	if (ds->n_attrs > 0) {
		len = snprintf(line, sizeof(line), "%u\t%u\t%u\t%u\n",
				ds->n_users, ds->n_bundles, ds->n_items,
				ds->n_attrs);
	} else {
		len = snprintf(line, sizeof(line), "%u\t%u\t%u\n", ds->n_users,
				ds->n_bundles, ds->n_items);
	}
	size_path = fb_path_join(dir, size_file);
	if (size_path == NULL) {
		err = FB_ENOMEM;
		goto done;
	}
	err = fb_write_file_atomic(size_path, line, (size_t)len, 0644);
done:
	free(size_file);
	free(size_path);
	return err;
}
