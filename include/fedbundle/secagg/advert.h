// include/fedbundle/secagg/advert.h: a client's signed key advertisement for
// one round of secure aggregation (protocols/secagg-v1.md §3.1): its two
// X25519 public keys (share transport and masks), a commitment to its
// self-mask seed, the round context and its index, signed with its
// enrolled Ed25519 identity so that an aggregator cannot substitute keys.
// Layout (FB_SECAGG_ADVERT_LEN bytes, integers big-endian):
//   0 consortium (16) | 16 round u32 | 20 index u32 | 24 share_pk (32) |
//   56 mask_pk (32) | 88 self_commit (32) | 120 signature (64)
// The signature is Ed25519 over FB_SECAGG_LABEL_ADVERT || bytes 0..119.
// Thread-safety: stateless; any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_ADVERT_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_ADVERT_H

#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

#define FB_SECAGG_COMMIT_LEN 32
#define FB_SECAGG_ADVERT_BODY_LEN 120
#define FB_SECAGG_ADVERT_LEN (FB_SECAGG_ADVERT_BODY_LEN + FB_ID_SIG_LEN)
#define FB_SECAGG_LABEL_ADVERT "fedbundle/secagg-v1/advert"
#define FB_SECAGG_LABEL_SELF_COMMIT "fedbundle/secagg-v1/self-commit"

struct fb_secagg_advert {
	struct fb_secagg_ctx ctx;
	uint32_t index;                     // the party's index, 1..n
	uint8_t share_pk[FB_SECAGG_PK_LEN]; // X25519 key sealing shares
	uint8_t mask_pk[FB_SECAGG_PK_LEN];  // X25519 key of pairwise masks
	uint8_t self_commit[FB_SECAGG_COMMIT_LEN]; // fb_secagg_self_commit()
};

#define FB_SECAGG_LABEL_CONSORTIUM "fedbundle/secagg-v1/consortium"

// secagg-v1 §3.6: the consortium id of the aggregator's Ed25519 public key
// and the roster file's bytes: the first 16 bytes of BLAKE2b-256(label ||
// agg_pk || BLAKE2b-256(roster file)). The aggregator puts it in its
// plans; a client computes it from its pinned aggregator key and its own
// copy of the roster and refuses a plan that carries another. FB_EIO (or
// FB_ENOMEM) if the file cannot be read; the error names it.
fb_err fb_secagg_consortium(const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path, uint8_t out[FB_SECAGG_CONSORTIUM_LEN]);

// commit = BLAKE2b-256(FB_SECAGG_LABEL_SELF_COMMIT || seed): binds the
// self-mask seed so that a wrongly reconstructed one is detected.
void fb_secagg_self_commit(uint8_t commit[FB_SECAGG_COMMIT_LEN],
		const uint8_t seed[FB_SECAGG_SEED_LEN]);

// Encodes ad and signs it with id into out. FB_EINVAL for index 0;
// FB_ECRYPTO if signing fails.
fb_err fb_secagg_advert_sign(uint8_t out[FB_SECAGG_ADVERT_LEN],
		const struct fb_secagg_advert *ad,
		const struct fb_identity *id);

// Verifies in against the signer's enrolled Ed25519 key id_pk, then checks
// that it is for the context expect and has an index in 1..n_max. Stores
// the decoded advertisement in *out only on success. FB_ECRYPTO for a bad
// signature; FB_EPROTO (detail says which) for another consortium, another
// round or a bad index.
fb_err fb_secagg_advert_open(struct fb_secagg_advert *out,
		const uint8_t in[FB_SECAGG_ADVERT_LEN],
		const uint8_t id_pk[FB_ID_PK_LEN],
		const struct fb_secagg_ctx *expect, uint32_t n_max)
		__attribute__((warn_unused_result));

#endif
