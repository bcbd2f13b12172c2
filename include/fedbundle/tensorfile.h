// include/fedbundle/tensorfile.h: the versioned binary container of models,
// checkpoints and client state. Layout (little-endian, version 1):
//   magic "FBTF\r\n\x1a\n" | u32 version | u32 kind | u32 n_tensors |
//   u32 meta_len | meta (UTF-8 JSON) padded to 8 |
//   per tensor: name[24] (NUL-padded) | u32 dtype (1 = f32) | u32 0 |
//               u64 rows | u64 cols | rows*cols*4 bytes padded to 8 |
//   BLAKE2b-256 of everything before it (32 bytes).
// Files are written atomically (fsutil.h); a reader verifies the size, the
// magic, the version and the checksum before it trusts any field, and
// refuses a truncated or corrupt file with a detail naming the file.
// Thread-safety: none needed; functions are reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_TENSORFILE_H
#define FB_INCLUDE_FEDBUNDLE_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/err.h"

#define FB_TFILE_VERSION 1
#define FB_TFILE_NAME_LEN 24

enum fb_tfile_kind {
	FB_TFILE_MODEL = 1,      // a trained model (tools, eval, recommend)
	FB_TFILE_CHECKPOINT = 2, // aggregator state
	FB_TFILE_CLIENT = 3,     // client node state
};

// A named float matrix view (borrowed data).
struct fb_tensor_view {
	const char *name; // < FB_TFILE_NAME_LEN bytes
	size_t rows;
	size_t cols;
	const float *data;
};

// Writes the tensors and the metadata JSON (may be NULL) to path
// atomically. FB_EINVAL for a bad name, FB_EIO on a write failure (the
// previous file at path is then untouched).
fb_err fb_tfile_write(const char *path, enum fb_tfile_kind kind,
		const char *meta, const struct fb_tensor_view *tensors,
		size_t n_tensors);

struct fb_tfile; // a verified file in memory

// Reads and verifies path, which must be of kind want. The caller
// destroys *out.
fb_err fb_tfile_read(struct fb_tfile **out, const char *path,
		enum fb_tfile_kind want);

// Verifies and parses a file image (takes ownership of buf, a malloc'd
// buffer of len bytes, even on failure). label names it in errors.
fb_err fb_tfile_parse(struct fb_tfile **out, const char *label, char *buf,
		size_t len, enum fb_tfile_kind want);

// The metadata JSON (NUL-terminated, "" if none).
const char *fb_tfile_meta(const struct fb_tfile *f);

// The tensor called name, or FB_EFORMAT (detail names file and tensor) if
// absent. The view stays valid until fb_tfile_destroy.
fb_err fb_tfile_get(const struct fb_tfile *f, const char *name,
		struct fb_tensor_view *out);

// Frees f; NULL is a no-op.
void fb_tfile_destroy(struct fb_tfile *f);

#endif
