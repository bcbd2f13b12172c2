// include/fedbundle/util/tensorfile.h: the versioned binary container of models,
// checkpoints and client state. Layout (little-endian, version 2):
//   magic "FBTF\r\n\x1a\n" | u32 version | u32 kind | u32 n_tensors |
//   u32 meta_len | meta (UTF-8 JSON) padded to 8 |
//   per tensor: name[24] (NUL-padded) | u32 dtype (1 = f32) | u32 0 |
//               u64 rows | u64 cols | rows*cols*4 bytes padded to 8 |
//   checksum of everything before it: version 2 XXH3-128 in xxHash's
//   canonical (big-endian) form, 16 bytes; version 1, still read,
//   BLAKE2b-256, 32 bytes.
// The checksum finds torn and corrupted files; it authenticates nothing
// (whoever can write the file can recompute any unkeyed hash), so version
// 2 takes the hash that runs at memory speed: BLAKE2b made checksumming
// most of the cost of saving a 27 MB state (docs/architecture.md).
// Files are written atomically (fsutil.h); a reader verifies the size, the
// magic, the version and the checksum before it trusts any field, and
// refuses a truncated or corrupt file with a detail naming the file.
// Thread-safety: none needed; functions are reentrant.
#ifndef FB_INCLUDE_FEDBUNDLE_TENSORFILE_H
#define FB_INCLUDE_FEDBUNDLE_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

#define FB_TFILE_VERSION 2  // written; versions 1 and 2 are read
#define FB_TFILE_SUM_MAX 32 // the longest checksum (version 1)
#define FB_TFILE_NAME_LEN 24

enum fb_tfile_kind {
	FB_TFILE_ANY = 0,        // read: accept any kind below (never written)
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
// atomically, mode 0600 for a client state (customer data), else 0644. FB_EINVAL for a bad name, FB_EIO on a write failure (the
// previous file at path is then untouched).
fb_err fb_tfile_write(const char *path, enum fb_tfile_kind kind,
		const char *meta, const struct fb_tensor_view *tensors,
		size_t n_tensors);

// The length of the trailing checksum of a file of this format version,
// 0 for a version this build does not read.
size_t fb_tfile_sum_len(uint32_t version);

// Writes the checksum of body (len bytes) for this format version to out
// (fb_tfile_sum_len(version) bytes). The fuzzer uses it to reach the
// fields behind the checksum.
void fb_tfile_sum(uint32_t version, const void *body, size_t len, uint8_t *out);

struct fb_tfile; // a verified file in memory

// Reads and verifies path, which must be of kind want (FB_TFILE_ANY: any
// of the kinds; fb_tfile_kind says which). The caller
// destroys *out.
fb_err fb_tfile_read(struct fb_tfile **out, const char *path,
		enum fb_tfile_kind want);

// Verifies and parses a file image (takes ownership of buf, a malloc'd
// buffer of len bytes, even on failure). label names it in errors.
fb_err fb_tfile_parse(struct fb_tfile **out, const char *label, char *buf,
		size_t len, enum fb_tfile_kind want);

// The kind of a verified file.
enum fb_tfile_kind fb_tfile_kind(const struct fb_tfile *f);

// The metadata JSON (NUL-terminated, "" if none).
const char *fb_tfile_meta(const struct fb_tfile *f);

// The tensor called name, or FB_EFORMAT (detail names file and tensor) if
// absent. The view stays valid until fb_tfile_destroy.
fb_err fb_tfile_get(const struct fb_tfile *f, const char *name,
		struct fb_tensor_view *out);

// Frees f; NULL is a no-op.
void fb_tfile_destroy(struct fb_tfile *f);

#endif
