// common/secagg/shares.c: sealing of share bundles between two clients
// (include/fedbundle/secagg/shares.h, protocols/secagg-v1.md §3.2).
// Invariants: the plaintext buffer is wiped before return; nothing of an
// opened bundle reaches the caller unless the tag verified and both shares
// are well formed and addressed to the receiver.
#include <sodium.h>
#include <string.h>

#include "fedbundle/secagg/shares.h"

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define LABEL_LEN (sizeof(FB_SECAGG_LABEL_SHARES) - 1)
#define AD_LEN (LABEL_LEN + FB_SECAGG_CONSORTIUM_LEN + 12)

_Static_assert(NONCE_LEN == 24 && TAG_LEN == 16, "sealed layout");

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
make_ad(uint8_t ad[AD_LEN], const struct fb_secagg_ctx *ctx, uint32_t sender,
		uint32_t receiver)
{
	memcpy(ad, FB_SECAGG_LABEL_SHARES, LABEL_LEN);
	memcpy(ad + LABEL_LEN, ctx->consortium, FB_SECAGG_CONSORTIUM_LEN);
	uint8_t *p = ad + LABEL_LEN + FB_SECAGG_CONSORTIUM_LEN;
	put32(p, ctx->round);
	put32(p + 4, sender);
	put32(p + 8, receiver);
}

fb_err
fb_secagg_shares_seal(uint8_t out[FB_SECAGG_SHARES_SEALED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t sender,
		uint32_t receiver, const uint8_t key[FB_SECAGG_KEY_LEN],
		const uint8_t self_share[FB_SHAMIR_SHARE_LEN],
		const uint8_t mask_share[FB_SHAMIR_SHARE_LEN])
{
	if (fb_shamir_share_index(self_share) != receiver ||
			fb_shamir_share_index(mask_share) != receiver) {
		return fb_errorf(FB_EINVAL,
				"secagg seal: shares for %u sealed to %u",
				fb_shamir_share_index(self_share), receiver);
	}
	uint8_t ad[AD_LEN], plain[FB_SECAGG_SHARES_PLAIN_LEN];
	make_ad(ad, ctx, sender, receiver);
	memcpy(plain, self_share, FB_SHAMIR_SHARE_LEN);
	memcpy(plain + FB_SHAMIR_SHARE_LEN, mask_share, FB_SHAMIR_SHARE_LEN);
	randombytes_buf(out, NONCE_LEN);
	unsigned long long clen;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_LEN, &clen,
			plain, sizeof(plain), ad, sizeof(ad), NULL, out, key);
	sodium_memzero(plain, sizeof(plain));
	return FB_OK;
}

fb_err
fb_secagg_shares_open(uint8_t self_share[FB_SHAMIR_SHARE_LEN],
		uint8_t mask_share[FB_SHAMIR_SHARE_LEN],
		const uint8_t in[FB_SECAGG_SHARES_SEALED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t sender,
		uint32_t receiver, const uint8_t key[FB_SECAGG_KEY_LEN])
{
	uint8_t ad[AD_LEN], plain[FB_SECAGG_SHARES_PLAIN_LEN];
	make_ad(ad, ctx, sender, receiver);
	unsigned long long mlen;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL,
			    in + NONCE_LEN,
			    FB_SECAGG_SHARES_SEALED_LEN - NONCE_LEN, ad,
			    sizeof(ad), in, key) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"secagg shares from %u to %u (round %u): do "
				"not authenticate",
				sender, receiver, ctx->round);
	}
	fb_err err = FB_OK;
	for (int k = 0; k < 2 && err == FB_OK; k++) {
		const uint8_t *sh = plain + k * FB_SHAMIR_SHARE_LEN;
		err = fb_shamir_share_check(sh);
		if (err == FB_OK && fb_shamir_share_index(sh) != receiver) {
			err = fb_errorf(FB_EPROTO,
					"secagg shares from %u: share for %u "
					"sent to %u",
					sender, fb_shamir_share_index(sh),
					receiver);
		}
	}
	if (err == FB_OK) {
		memcpy(self_share, plain, FB_SHAMIR_SHARE_LEN);
		memcpy(mask_share, plain + FB_SHAMIR_SHARE_LEN,
				FB_SHAMIR_SHARE_LEN);
	}
	sodium_memzero(plain, sizeof(plain));
	return err;
}
