// include/fedbundle/net/envelope.h: the sealed envelope of protocols/wire-v1.md
// §4 and the session it runs in. A sealed message is
//   header(8) | session_id(16) | seq(u64 BE) | ciphertext | tag(16)
// with XChaCha20-Poly1305-IETF, AD = its first 32 bytes, nonce = bytes
// 8..31 (session id || seq), one key per direction. Sealing and opening
// work in place in the caller's buffer (e.g. an nng_msg body): encode the
// body at FB_ENV_BODY_OFF, seal, send; receive, open, decode the body where
// it lies. The receiver accepts only the next expected seq, so replays and
// reordering are refused; a message that fails to open leaves the session
// unchanged.
// Thread-safety: a session belongs to one thread at a time (it holds the two
// sequence counters); distinct sessions are independent.
#ifndef FB_INCLUDE_FEDBUNDLE_ENVELOPE_H
#define FB_INCLUDE_FEDBUNDLE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"

#define FB_ENV_SID_LEN 16  // session id
#define FB_ENV_KEY_LEN 32  // one direction's key
#define FB_ENV_TAG_LEN 16  // Poly1305 tag
#define FB_ENV_BODY_OFF 32 // header + session id + seq: where the body goes
#define FB_ENV_OVERHEAD (FB_ENV_BODY_OFF + FB_ENV_TAG_LEN) // 48 bytes
// Bytes of a sealed message carrying a body of n bytes.
#define FB_SEALED_LEN(n) ((size_t)(n) + FB_ENV_OVERHEAD)
// Body bytes of a sealed message of n >= FB_ENV_OVERHEAD bytes.
#define FB_SEALED_BODY_LEN(n) ((size_t)(n)-FB_ENV_OVERHEAD)

// An established session: version, id, one key and one seq per direction,
// and the peer's identity. Opaque; lives in sodium_malloc memory.
struct fb_session;

// Creates a session from already derived keys (the handshake does this; so
// do tests and the golden vectors). tx_key seals what this side sends,
// rx_key opens what it receives; both sequence counters start at 0.
// peer_name must satisfy fb_id_name_valid(). FB_EINVAL, FB_ENOMEM. The
// caller destroys it.
fb_err fb_session_create(struct fb_session **out, uint8_t version,
		const uint8_t sid[FB_ENV_SID_LEN],
		const uint8_t tx_key[FB_ENV_KEY_LEN],
		const uint8_t rx_key[FB_ENV_KEY_LEN],
		const uint8_t peer_pk[FB_ID_PK_LEN], const char *peer_name);

// Wipes and frees the session; NULL is a no-op.
void fb_session_destroy(struct fb_session *s);

// The protocol version, the 16-byte session id, the peer's public key and
// name (a client's roster name; for a client, the server's pinned name).
uint8_t fb_session_version(const struct fb_session *s);
const uint8_t *fb_session_id(const struct fb_session *s);
const uint8_t *fb_session_peer_key(const struct fb_session *s);
const char *fb_session_peer_name(const struct fb_session *s);

// The seq the next sealed message will carry, and the seq the next opened
// message must carry.
uint64_t fb_session_tx_seq(const struct fb_session *s);
uint64_t fb_session_rx_seq(const struct fb_session *s);

// Seals in place: msg has len = FB_SEALED_LEN(body_len) bytes with the
// plaintext body already at msg + FB_ENV_BODY_OFF. Writes the header
// (session version, type, round_id), session id and seq, encrypts the body
// in place, writes the tag and advances the send seq. FB_EINVAL if type is
// not a sealed type or len < FB_ENV_OVERHEAD; FB_ESTATE if the send seq is
// exhausted. On failure the session is unchanged.
fb_err fb_env_seal(struct fb_session *s, uint8_t *msg, size_t len, uint8_t type,
		uint32_t round_id) __attribute__((warn_unused_result));

// Opens msg of len bytes in place. On success stores the header, points
// *body at the plaintext (msg + FB_ENV_BODY_OFF, FB_SEALED_BODY_LEN(len)
// bytes) and advances the receive seq. Refusals, each with a detail, leave
// the session unchanged:
//   FB_EPROTO  shorter than FB_ENV_OVERHEAD, bad magic, not a sealed type,
//              version other than the session's, other session id;
//   FB_ESTATE  seq is not the next expected one (replay or reordering);
//   FB_ECRYPTO the tag does not verify (tampered, or another key).
// After FB_ECRYPTO the ciphertext bytes of msg may have been zeroed.
fb_err fb_env_open(struct fb_session *s, uint8_t *msg, size_t len,
		struct fb_wire_header *hdr, uint8_t **body, size_t *body_len)
		__attribute__((warn_unused_result));

// Reads the header and session id of a sealed message without opening it,
// so a server can find the session: FB_EPROTO if len < FB_ENV_OVERHEAD,
// the magic is bad or the type is not sealed.
fb_err fb_env_peek(const uint8_t *msg, size_t len, struct fb_wire_header *hdr,
		uint8_t sid[FB_ENV_SID_LEN])
		__attribute__((warn_unused_result));

// The reason code (§8) to answer a refusal of fb_env_open() with:
// FB_ESTATE -> REPLAY, FB_ECRYPTO -> AUTH_FAILED, else MALFORMED.
uint16_t fb_env_reason(fb_err err);

#endif
