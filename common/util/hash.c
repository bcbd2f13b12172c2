// common/util/hash.c: a thin wrapper over libsodium's BLAKE2b so that file
// formats and hash chains do not each include sodium.h.
#include <sodium.h>
#include <string.h>

#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

_Static_assert(sizeof(crypto_generichash_state) <=
				sizeof(((struct fb_hash *)0)->opaque),
		"struct fb_hash too small for crypto_generichash_state");

void
fb_hash_init(struct fb_hash *h)
{
	if (crypto_generichash_init(
			    (crypto_generichash_state *)(void *)h->opaque, NULL,
			    0, FB_HASH_LEN) != 0) {
		fb_panic("crypto_generichash_init failed");
	}
}

void
fb_hash_update(struct fb_hash *h, const void *buf, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)(void *)h->opaque,
			buf, len);
}

void
fb_hash_final(struct fb_hash *h, uint8_t out[FB_HASH_LEN])
{
	crypto_generichash_final((crypto_generichash_state *)(void *)h->opaque,
			out, FB_HASH_LEN);
}

void
fb_hash_buf(const void *buf, size_t len, uint8_t out[FB_HASH_LEN])
{
	crypto_generichash(out, FB_HASH_LEN, buf, len, NULL, 0);
}

void
fb_hash_hex(const uint8_t digest[FB_HASH_LEN], char out[2 * FB_HASH_LEN + 1])
{
	sodium_bin2hex(out, 2 * FB_HASH_LEN + 1, digest, FB_HASH_LEN);
}
