// common/util/tensorfile.c: writing and verifying fedbundle tensor files. The
// writer streams the checksum as it writes, so a 100 MB model is hashed in
// the same pass; the reader checks the trailing checksum before it parses
// a single header field, so no field of a corrupt file is ever trusted.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/hash.h"
#include "fedbundle/util/tensorfile.h"

static const char magic[8] = {'F', 'B', 'T', 'F', '\r', '\n', 0x1a, '\n'};
#define HEADER_LEN 24
#define TENSOR_HEADER_LEN (FB_TFILE_NAME_LEN + 24)
#define MAX_FILE ((size_t)1 << 40)

struct entry {
	char name[FB_TFILE_NAME_LEN];
	size_t rows;
	size_t cols;
	const float *data;
};

struct fb_tfile {
	char *buf;
	size_t len;
	char *meta;
	size_t n;
	struct entry *entries;
	uint32_t kind;
	char label[256];
};

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++) {
		p[k] = (uint8_t)(v >> (8 * k));
	}
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++) {
		p[k] = (uint8_t)(v >> (8 * k));
	}
}

static uint32_t
get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int k = 3; k >= 0; k--) {
		v = (v << 8) | p[k];
	}
	return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--) {
		v = (v << 8) | p[k];
	}
	return v;
}

size_t
fb_tfile_sum_len(uint32_t version)
{
	switch (version) {
	case 1:
		return FB_HASH_LEN;
	case 2:
		return sizeof(XXH128_canonical_t);
	default:
		return 0;
	}
}

static void
xxh_out(XXH128_hash_t h, uint8_t *out)
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, sizeof(c.digest));
}

void
fb_tfile_sum(uint32_t version, const void *body, size_t len, uint8_t *out)
{
	if (version == 1) {
		fb_hash_buf(body, len, out);
	} else {
		xxh_out(XXH3_128bits(body, len), out);
	}
}

static fb_err
write_hashed(struct fb_atomic_file *f, XXH3_state_t *h, const void *buf,
		size_t len)
{
	XXH3_128bits_update(h, buf, len);
	return fb_atomic_write(f, buf, len);
}

static size_t
pad8(size_t n)
{
	return (8 - (n & 7)) & 7;
}

fb_err
fb_tfile_write(const char *path, enum fb_tfile_kind kind, const char *meta,
		const struct fb_tensor_view *tensors, size_t n_tensors)
{
	for (size_t k = 0; k < n_tensors; k++) {
		size_t nl = strlen(tensors[k].name);
		if (nl == 0 || nl >= FB_TFILE_NAME_LEN) {
			return fb_errorf(FB_EINVAL, "%s: bad tensor name '%s'",
					path, tensors[k].name);
		}
	}
	size_t meta_len = meta != NULL ? strlen(meta) : 0;
	if (meta_len > UINT32_MAX || n_tensors > UINT32_MAX) {
		return fb_errorf(FB_EINVAL, "%s: metadata too large", path);
	}
	XXH3_state_t *h = XXH3_createState();
	if (h == NULL || XXH3_128bits_reset(h) != XXH_OK) {
		XXH3_freeState(h);
		return FB_ENOMEM;
	}
	struct fb_atomic_file f;
	// Client states and model files hold users' factors (customer data):
	// owner only, like the ledger. Checkpoints hold shared factors only.
	mode_t mode = kind == FB_TFILE_CLIENT || kind == FB_TFILE_MODEL ? 0600
									: 0644;
	fb_err err = fb_atomic_open(&f, path, mode);
	if (err != FB_OK) {
		XXH3_freeState(h);
		return err;
	}
	uint8_t hdr[HEADER_LEN];
	static const uint8_t zeros[8] = {0};
	memcpy(hdr, magic, 8);
	put_u32(hdr + 8, FB_TFILE_VERSION);
	put_u32(hdr + 12, (uint32_t)kind);
	put_u32(hdr + 16, (uint32_t)n_tensors);
	put_u32(hdr + 20, (uint32_t)meta_len);
	err = write_hashed(&f, h, hdr, sizeof(hdr));
	if (err == FB_OK && meta_len > 0) {
		err = write_hashed(&f, h, meta, meta_len);
	}
	if (err == FB_OK) {
		err = write_hashed(&f, h, zeros, pad8(meta_len));
	}
	for (size_t k = 0; err == FB_OK && k < n_tensors; k++) {
		uint8_t th[TENSOR_HEADER_LEN] = {0};
		strncpy((char *)th, tensors[k].name, FB_TFILE_NAME_LEN - 1);
		put_u32(th + FB_TFILE_NAME_LEN, 1);
		put_u64(th + FB_TFILE_NAME_LEN + 8, tensors[k].rows);
		put_u64(th + FB_TFILE_NAME_LEN + 16, tensors[k].cols);
		err = write_hashed(&f, h, th, sizeof(th));
		size_t bytes = tensors[k].rows * tensors[k].cols *
				sizeof(float);
		if (err == FB_OK && bytes > 0) {
			err = write_hashed(&f, h, tensors[k].data, bytes);
		}
		if (err == FB_OK) {
			err = write_hashed(&f, h, zeros, pad8(bytes));
		}
	}
	uint8_t digest[FB_TFILE_SUM_MAX];
	xxh_out(XXH3_128bits_digest(h), digest);
	XXH3_freeState(h);
	if (err == FB_OK) {
		err = fb_atomic_write(
				&f, digest, fb_tfile_sum_len(FB_TFILE_VERSION));
	}
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		return err;
	}
	return fb_atomic_commit(&f);
}

void
fb_tfile_destroy(struct fb_tfile *f)
{
	if (f == NULL) {
		return;
	}
	free(f->buf);
	free(f->meta);
	free(f->entries);
	free(f);
}

fb_err
fb_tfile_parse(struct fb_tfile **out, const char *label, char *buf, size_t len,
		enum fb_tfile_kind want)
{
	struct fb_tfile *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		free(buf);
		return FB_ENOMEM;
	}
	f->buf = buf;
	f->len = len;
	snprintf(f->label, sizeof(f->label), "%s", label);
	const uint8_t *p = (const uint8_t *)buf;
	fb_err err;
	if (len < HEADER_LEN || memcmp(p, magic, 8) != 0) {
		err = fb_errorf(FB_EFORMAT,
				"%s: not a fedbundle tensor file (bad magic "
				"or truncated to %zu bytes)",
				label, len);
		goto fail;
	}
	uint32_t version = get_u32(p + 8);
	size_t sum_len = fb_tfile_sum_len(version);
	if (sum_len == 0) {
		err = fb_errorf(FB_EFORMAT,
				"%s: format version %u, this build reads 1 "
				"to %u",
				label, version, FB_TFILE_VERSION);
		goto fail;
	}
	if (len < HEADER_LEN + sum_len) {
		err = fb_errorf(FB_EFORMAT, "%s: truncated to %zu bytes", label,
				len);
		goto fail;
	}
	uint8_t digest[FB_TFILE_SUM_MAX];
	size_t body = len - sum_len;
	fb_tfile_sum(version, p, body, digest);
	if (memcmp(digest, p + body, sum_len) != 0) {
		err = fb_errorf(FB_EFORMAT,
				"%s: checksum mismatch: the file is corrupt or "
				"truncated",
				label);
		goto fail;
	}
	uint32_t kind = get_u32(p + 12);
	if (want == FB_TFILE_ANY ? kind < FB_TFILE_MODEL ||
							kind > FB_TFILE_CLIENT
				 : kind != (uint32_t)want) {
		err = fb_errorf(FB_EFORMAT, "%s: file kind %u, expected %u",
				label, kind, (unsigned)want);
		goto fail;
	}
	f->kind = kind;
	size_t n = get_u32(p + 16);
	size_t meta_len = get_u32(p + 20);
	size_t off = HEADER_LEN;
	if (meta_len > body - off) {
		err = fb_errorf(FB_EFORMAT, "%s: metadata runs past the end",
				label);
		goto fail;
	}
	// Every tensor needs its header: refuse a count the file cannot
	// hold before allocating for it (a checksummed 100-byte file could
	// otherwise announce 2^32 tensors).
	if (n > (body - off - meta_len) / TENSOR_HEADER_LEN) {
		err = fb_errorf(FB_EFORMAT,
				"%s: %zu tensors announced, the file has room "
				"for %zu",
				label, n,
				(body - off - meta_len) / TENSOR_HEADER_LEN);
		goto fail;
	}
	f->meta = malloc(meta_len + 1);
	f->entries = calloc(n > 0 ? n : 1, sizeof(*f->entries));
	if (f->meta == NULL || f->entries == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	memcpy(f->meta, p + off, meta_len);
	f->meta[meta_len] = '\0';
	if (strlen(f->meta) != meta_len) {
		err = fb_errorf(FB_EFORMAT, "%s: NUL byte in metadata", label);
		goto fail;
	}
	off += meta_len + pad8(meta_len);
	for (size_t k = 0; k < n; k++) {
		if (off > body || body - off < TENSOR_HEADER_LEN) {
			err = fb_errorf(FB_EFORMAT,
					"%s: tensor %zu header runs past the end",
					label, k);
			goto fail;
		}
		struct entry *e = &f->entries[k];
		memcpy(e->name, p + off, FB_TFILE_NAME_LEN);
		if (e->name[FB_TFILE_NAME_LEN - 1] != '\0' ||
				e->name[0] == '\0') {
			err = fb_errorf(FB_EFORMAT, "%s: tensor %zu: bad name",
					label, k);
			goto fail;
		}
		uint32_t dtype = get_u32(p + off + FB_TFILE_NAME_LEN);
		e->rows = get_u64(p + off + FB_TFILE_NAME_LEN + 8);
		e->cols = get_u64(p + off + FB_TFILE_NAME_LEN + 16);
		off += TENSOR_HEADER_LEN;
		if (dtype != 1) {
			err = fb_errorf(FB_EFORMAT,
					"%s: tensor '%s': unknown dtype %u",
					label, e->name, dtype);
			goto fail;
		}
		if (e->cols != 0 && e->rows > (body - off) / 4 / e->cols) {
			err = fb_errorf(FB_EFORMAT,
					"%s: tensor '%s' (%zu x %zu) runs past "
					"the end",
					label, e->name, e->rows, e->cols);
			goto fail;
		}
		size_t bytes = e->rows * e->cols * 4;
		e->data = (const float *)(const void *)(p + off);
		off += bytes + pad8(bytes);
	}
	if (off != body) {
		err = fb_errorf(FB_EFORMAT, "%s: %zu unexpected trailing bytes",
				label, body > off ? body - off : 0);
		goto fail;
	}
	f->n = n;
	*out = f;
	return FB_OK;
fail:
	fb_tfile_destroy(f);
	return err;
}

fb_err
fb_tfile_read(struct fb_tfile **out, const char *path, enum fb_tfile_kind want)
{
	char *buf = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, MAX_FILE, &buf, &len);
	if (err != FB_OK) {
		return err;
	}
	return fb_tfile_parse(out, path, buf, len, want);
}

enum fb_tfile_kind
fb_tfile_kind(const struct fb_tfile *f)
{
	return (enum fb_tfile_kind)f->kind;
}

const char *
fb_tfile_meta(const struct fb_tfile *f)
{
	return f->meta != NULL ? f->meta : "";
}

fb_err
fb_tfile_get(const struct fb_tfile *f, const char *name,
		struct fb_tensor_view *out)
{
	for (size_t k = 0; k < f->n; k++) {
		if (strcmp(f->entries[k].name, name) == 0) {
			out->name = f->entries[k].name;
			out->rows = f->entries[k].rows;
			out->cols = f->entries[k].cols;
			out->data = f->entries[k].data;
			return FB_OK;
		}
	}
	return fb_errorf(FB_EFORMAT, "%s: no tensor '%s'", f->label, name);
}
