// common/secagg/advert.c: encoding, signing and verification of round key
// advertisements (include/fedbundle/secagg/advert.h, secagg-v1 §3.1).
// Invariant: nothing of an advertisement is decoded or used before its
// signature verified against the roster key the caller supplies.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/advert.h"
#include "fedbundle/util/fsutil.h"

#define OFF_ROUND 16
#define OFF_INDEX 20
#define OFF_SHARE_PK 24
#define OFF_MASK_PK 56
#define OFF_COMMIT 88
#define LABEL_LEN (sizeof(FB_SECAGG_LABEL_ADVERT) - 1)

_Static_assert(OFF_COMMIT + FB_SECAGG_COMMIT_LEN == FB_SECAGG_ADVERT_BODY_LEN,
		"advert layout");

fb_err
fb_secagg_consortium(const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path, uint8_t out[FB_SECAGG_CONSORTIUM_LEN])
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(roster_path, 1u << 26, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	uint8_t roster_hash[32], full[32];
	crypto_generichash(roster_hash, sizeof(roster_hash),
			(const uint8_t *)text, len, NULL, 0);
	free(text);
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof(full));
	crypto_generichash_update(&st,
			(const uint8_t *)FB_SECAGG_LABEL_CONSORTIUM,
			sizeof(FB_SECAGG_LABEL_CONSORTIUM) - 1);
	crypto_generichash_update(&st, agg_pk, FB_ID_PK_LEN);
	crypto_generichash_update(&st, roster_hash, sizeof(roster_hash));
	crypto_generichash_final(&st, full, sizeof(full));
	memcpy(out, full, FB_SECAGG_CONSORTIUM_LEN);
	return FB_OK;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			(uint32_t)p[2] << 8 | p[3];
}

void
fb_secagg_self_commit(uint8_t commit[FB_SECAGG_COMMIT_LEN],
		const uint8_t seed[FB_SECAGG_SEED_LEN])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, FB_SECAGG_COMMIT_LEN);
	crypto_generichash_update(&st,
			(const uint8_t *)FB_SECAGG_LABEL_SELF_COMMIT,
			sizeof(FB_SECAGG_LABEL_SELF_COMMIT) - 1);
	crypto_generichash_update(&st, seed, FB_SECAGG_SEED_LEN);
	crypto_generichash_final(&st, commit, FB_SECAGG_COMMIT_LEN);
	sodium_memzero(&st, sizeof(st));
}

// label || body: the signed message.
static void
signed_message(uint8_t m[LABEL_LEN + FB_SECAGG_ADVERT_BODY_LEN],
		const uint8_t *body)
{
	memcpy(m, FB_SECAGG_LABEL_ADVERT, LABEL_LEN);
	memcpy(m + LABEL_LEN, body, FB_SECAGG_ADVERT_BODY_LEN);
}

fb_err
fb_secagg_advert_sign(uint8_t out[FB_SECAGG_ADVERT_LEN],
		const struct fb_secagg_advert *ad, const struct fb_identity *id)
{
	if (ad->index == 0) {
		return fb_errorf(FB_EINVAL, "secagg advert: index 0");
	}
	uint8_t body[FB_SECAGG_ADVERT_BODY_LEN];
	memcpy(body, ad->ctx.consortium, FB_SECAGG_CONSORTIUM_LEN);
	put32(body + OFF_ROUND, ad->ctx.round);
	put32(body + OFF_INDEX, ad->index);
	memcpy(body + OFF_SHARE_PK, ad->share_pk, FB_SECAGG_PK_LEN);
	memcpy(body + OFF_MASK_PK, ad->mask_pk, FB_SECAGG_PK_LEN);
	memcpy(body + OFF_COMMIT, ad->self_commit, FB_SECAGG_COMMIT_LEN);
	uint8_t m[LABEL_LEN + FB_SECAGG_ADVERT_BODY_LEN];
	signed_message(m, body);
	fb_err err = fb_identity_sign(
			id, out + FB_SECAGG_ADVERT_BODY_LEN, m, sizeof(m));
	if (err != FB_OK) {
		return err;
	}
	memcpy(out, body, sizeof(body));
	return FB_OK;
}

fb_err
fb_secagg_advert_open(struct fb_secagg_advert *out,
		const uint8_t in[FB_SECAGG_ADVERT_LEN],
		const uint8_t id_pk[FB_ID_PK_LEN],
		const struct fb_secagg_ctx *expect, uint32_t n_max)
{
	uint8_t m[LABEL_LEN + FB_SECAGG_ADVERT_BODY_LEN];
	signed_message(m, in);
	if (crypto_sign_verify_detached(in + FB_SECAGG_ADVERT_BODY_LEN, m,
			    sizeof(m), id_pk) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"secagg advert: signature does "
				"not verify with the roster key");
	}
	uint32_t round = get32(in + OFF_ROUND), index = get32(in + OFF_INDEX);
	if (sodium_memcmp(in, expect->consortium, FB_SECAGG_CONSORTIUM_LEN) !=
			0) {
		return fb_errorf(
				FB_EPROTO, "secagg advert: another consortium");
	}
	if (round != expect->round) {
		return fb_errorf(FB_EPROTO,
				"secagg advert: round %u, expected %u", round,
				expect->round);
	}
	if (index == 0 || index > n_max) {
		return fb_errorf(FB_EPROTO,
				"secagg advert: index %u outside 1..%u", index,
				n_max);
	}
	out->ctx = *expect;
	out->index = index;
	memcpy(out->share_pk, in + OFF_SHARE_PK, FB_SECAGG_PK_LEN);
	memcpy(out->mask_pk, in + OFF_MASK_PK, FB_SECAGG_PK_LEN);
	memcpy(out->self_commit, in + OFF_COMMIT, FB_SECAGG_COMMIT_LEN);
	return FB_OK;
}
