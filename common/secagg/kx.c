// common/secagg/kx.c: per-round X25519 key pairs and the two key
// derivations of secure aggregation (include/fedbundle/secagg/kx.h,
// protocols/secagg-v1.md §4.3). Invariants: the X25519 shared secret and
// the KDF state live on the stack and are wiped before return; the label
// and both public keys enter every derivation, so a seed is bound to the
// round, the pair and the keys advertised.
#include <sodium.h>
#include <string.h>

#include "fedbundle/secagg/kx.h"

_Static_assert(FB_SECAGG_PK_LEN == crypto_scalarmult_BYTES, "pk size");
_Static_assert(FB_SECAGG_SK_LEN == crypto_scalarmult_SCALARBYTES, "sk size");

static void
be32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

fb_err
fb_secagg_keypair_from_sk(struct fb_secagg_keypair *kp)
{
	if (crypto_scalarmult_base(kp->pk, kp->sk) != 0) {
		return fb_errorf(FB_ECRYPTO, "secagg: X25519 base mult failed");
	}
	return FB_OK;
}

fb_err
fb_secagg_keypair_generate(struct fb_secagg_keypair *kp)
{
	randombytes_buf(kp->sk, sizeof(kp->sk));
	return fb_secagg_keypair_from_sk(kp);
}

// BLAKE2b-256(key = X25519(mine.sk, peer_pk), label || ctx || a || b ||
// pk_a || pk_b), (a, pk_a) first.
static fb_err
derive(uint8_t out[32], const char *label, const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_keypair *mine,
		const uint8_t peer_pk[FB_SECAGG_PK_LEN], uint32_t a,
		const uint8_t *pk_a, uint32_t b, const uint8_t *pk_b)
{
	uint8_t shared[crypto_scalarmult_BYTES];
	if (crypto_scalarmult(shared, mine->sk, peer_pk) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"secagg: X25519 of parties %u and %u failed "
				"(low-order public key)",
				a, b);
	}
	uint8_t hdr[4 + 4 + 4];
	be32(hdr, ctx->round);
	be32(hdr + 4, a);
	be32(hdr + 8, b);
	crypto_generichash_state st;
	crypto_generichash_init(&st, shared, sizeof(shared), 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(
			&st, ctx->consortium, sizeof(ctx->consortium));
	crypto_generichash_update(&st, hdr, sizeof(hdr));
	crypto_generichash_update(&st, pk_a, FB_SECAGG_PK_LEN);
	crypto_generichash_update(&st, pk_b, FB_SECAGG_PK_LEN);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(shared, sizeof(shared));
	return FB_OK;
}

static fb_err
check_pair(uint32_t mine, uint32_t peer)
{
	if (mine == 0 || peer == 0 || mine == peer) {
		return fb_errorf(FB_EINVAL,
				"secagg: pair of indices %u and %u (must be "
				"distinct and non-zero)",
				mine, peer);
	}
	return FB_OK;
}

fb_err
fb_secagg_pair_seed(uint8_t seed[FB_SECAGG_SEED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t my_index,
		const struct fb_secagg_keypair *mine, uint32_t peer_index,
		const uint8_t peer_pk[FB_SECAGG_PK_LEN])
{
	fb_err err = check_pair(my_index, peer_index);
	if (err != FB_OK) {
		return err;
	}
	if (my_index < peer_index) {
		return derive(seed, FB_SECAGG_LABEL_PAIR, ctx, mine, peer_pk,
				my_index, mine->pk, peer_index, peer_pk);
	}
	return derive(seed, FB_SECAGG_LABEL_PAIR, ctx, mine, peer_pk,
			peer_index, peer_pk, my_index, mine->pk);
}

fb_err
fb_secagg_share_key(uint8_t key[FB_SECAGG_KEY_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t my_index,
		const struct fb_secagg_keypair *mine, uint32_t peer_index,
		const uint8_t peer_pk[FB_SECAGG_PK_LEN], int i_am_sender)
{
	fb_err err = check_pair(my_index, peer_index);
	if (err != FB_OK) {
		return err;
	}
	if (i_am_sender) {
		return derive(key, FB_SECAGG_LABEL_SHARE_KEY, ctx, mine,
				peer_pk, my_index, mine->pk, peer_index,
				peer_pk);
	}
	return derive(key, FB_SECAGG_LABEL_SHARE_KEY, ctx, mine, peer_pk,
			peer_index, peer_pk, my_index, mine->pk);
}
