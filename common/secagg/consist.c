// common/secagg/consist.c: signing and verifying the survivor sets of the
// consistency round (include/fedbundle/secagg/consist.h, secagg-v1 §3.5).
// Invariant: the signed message binds the label, the round context (§4.2)
// and the exact bytes of the unmask request, nothing else.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/secagg/consist.h"

#define LABEL_LEN (sizeof(FB_SECAGG_LABEL_CONSISTENCY) - 1)
#define PREFIX_LEN (LABEL_LEN + FB_SECAGG_CONSORTIUM_LEN + 4)

// label || consortium || round || req, in a new buffer (*out, freed by
// the caller) of *mlen bytes.
static fb_err
message(uint8_t **out, size_t *mlen, const struct fb_secagg_ctx *ctx,
		const uint8_t *req, size_t len)
{
	uint8_t *m = malloc(PREFIX_LEN + len);
	if (m == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg consistency: %zu bytes",
				len);
	}
	memcpy(m, FB_SECAGG_LABEL_CONSISTENCY, LABEL_LEN);
	memcpy(m + LABEL_LEN, ctx->consortium, FB_SECAGG_CONSORTIUM_LEN);
	fb_wire_store_u32(m + LABEL_LEN + FB_SECAGG_CONSORTIUM_LEN, ctx->round);
	memcpy(m + PREFIX_LEN, req, len);
	*out = m;
	*mlen = PREFIX_LEN + len;
	return FB_OK;
}

fb_err
fb_secagg_consist_sign(uint8_t sig[FB_SECAGG_CONSIST_SIG_LEN],
		const struct fb_secagg_ctx *ctx, const uint8_t *req, size_t len,
		const struct fb_identity *id)
{
	uint8_t *m = NULL;
	size_t mlen = 0;
	fb_err err = message(&m, &mlen, ctx, req, len);
	if (err == FB_OK) {
		err = fb_identity_sign(id, sig, m, mlen);
	}
	free(m);
	return err;
}

fb_err
fb_secagg_consist_verify(const uint8_t sig[FB_SECAGG_CONSIST_SIG_LEN],
		const struct fb_secagg_ctx *ctx, const uint8_t *req, size_t len,
		const uint8_t id_pk[FB_ID_PK_LEN], uint32_t signer)
{
	uint8_t *m = NULL;
	size_t mlen = 0;
	fb_err err = message(&m, &mlen, ctx, req, len);
	if (err == FB_OK &&
			crypto_sign_verify_detached(sig, m, mlen, id_pk) != 0) {
		err = fb_errorf(FB_ECRYPTO,
				"secagg round %u: the consistency signature "
				"of party %u does not verify over these sets "
				"with its roster key",
				ctx->round, signer);
	}
	free(m);
	return err;
}
