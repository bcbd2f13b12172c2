// include/fedbundle/secagg/kx.h: the round context, per-round X25519 key
// pairs and the key derivations of secure aggregation
// (protocols/secagg-v1.md §4). Every derived key is
//   BLAKE2b-256(key = X25519(sk_a, pk_b),
//               label || consortium (16) || round (u32 BE) ||
//               first index (u32 BE) || second index (u32 BE) ||
//               first pk (32) || second pk (32))
// where the pairwise mask seed orders the two parties by index (so both
// derive the same seed) and the share-transport key puts the sender first
// (so each direction has its own key).
// Thread-safety: stateless; any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_KX_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_KX_H

#include <stdint.h>

#include "fedbundle/util/err.h"

#define FB_SECAGG_PK_LEN 32   // X25519 public key
#define FB_SECAGG_SK_LEN 32   // X25519 secret key
#define FB_SECAGG_SEED_LEN 32 // mask seed (ChaCha20 key)
#define FB_SECAGG_KEY_LEN 32  // share-transport AEAD key
#define FB_SECAGG_CONSORTIUM_LEN 16

// KDF labels of protocols/secagg-v1.md §4.3.
#define FB_SECAGG_LABEL_PAIR "fedbundle/secagg-v1/pair-mask"
#define FB_SECAGG_LABEL_SHARE_KEY "fedbundle/secagg-v1/share-key"

// What every party of one round agrees on before it starts: the
// consortium id (from the aggregator's plan) and the wire round id.
struct fb_secagg_ctx {
	uint8_t consortium[FB_SECAGG_CONSORTIUM_LEN];
	uint32_t round;
};

// A per-round X25519 key pair (caller's storage; wipe sk when done).
struct fb_secagg_keypair {
	uint8_t pk[FB_SECAGG_PK_LEN];
	uint8_t sk[FB_SECAGG_SK_LEN];
};

// Fills kp with a fresh key pair (sk from randombytes_buf). FB_ECRYPTO if
// libsodium refuses the key (it does not for random keys).
fb_err fb_secagg_keypair_generate(struct fb_secagg_keypair *kp);

// Fills kp->pk from kp->sk. FB_ECRYPTO if libsodium refuses sk.
fb_err fb_secagg_keypair_from_sk(struct fb_secagg_keypair *kp);

// The pairwise mask seed of parties my_index and peer_index (distinct,
// non-zero) from my key pair and the peer's public key: the same bytes on
// both sides. FB_EINVAL for equal or zero indices; FB_ECRYPTO if the
// agreement fails (a low-order peer key) — the peer's advertisement is
// then refused.
fb_err fb_secagg_pair_seed(uint8_t seed[FB_SECAGG_SEED_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t my_index,
		const struct fb_secagg_keypair *mine, uint32_t peer_index,
		const uint8_t peer_pk[FB_SECAGG_PK_LEN])
		__attribute__((warn_unused_result));

// The key that seals shares from sender to receiver: the sender calls it
// with its own key pair (i_am_sender true), the receiver with its own
// (i_am_sender false); both get the same key. Errors as
// fb_secagg_pair_seed().
fb_err fb_secagg_share_key(uint8_t key[FB_SECAGG_KEY_LEN],
		const struct fb_secagg_ctx *ctx, uint32_t my_index,
		const struct fb_secagg_keypair *mine, uint32_t peer_index,
		const uint8_t peer_pk[FB_SECAGG_PK_LEN], int i_am_sender)
		__attribute__((warn_unused_result));

#endif
