// include/fedbundle/util/hash.h: BLAKE2b-256 checksums (libsodium's
// crypto_generichash) for files and hash chains.
// Thread-safety: a struct fb_hash belongs to one thread.
#ifndef FB_INCLUDE_FEDBUNDLE_HASH_H
#define FB_INCLUDE_FEDBUNDLE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FB_HASH_LEN 32

// Streaming state; opaque storage big enough for libsodium's state.
struct fb_hash {
	_Alignas(64) unsigned char opaque[384];
};

// Starts an unkeyed BLAKE2b-256.
void fb_hash_init(struct fb_hash *h);

// Absorbs len bytes.
void fb_hash_update(struct fb_hash *h, const void *buf, size_t len);

// Writes the FB_HASH_LEN-byte digest.
void fb_hash_final(struct fb_hash *h, uint8_t out[FB_HASH_LEN]);

// One-shot digest of buf.
void fb_hash_buf(const void *buf, size_t len, uint8_t out[FB_HASH_LEN]);

// Lower-case hex of a digest into out (2 * FB_HASH_LEN + 1 bytes).
void fb_hash_hex(const uint8_t digest[FB_HASH_LEN],
		char out[2 * FB_HASH_LEN + 1]);

#endif
