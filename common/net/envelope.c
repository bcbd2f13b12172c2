// common/net/envelope.c: sealing and opening of protocols/wire-v1.md §4.
// Invariants: a (key, nonce) pair is never reused, because the nonce is
// session id || seq, seq strictly increases per direction and each
// direction has its own key; fb_env_open() checks everything, including the
// tag, before it writes anything to the session, so a refused message never
// changes the session state. Keys live in sodium_malloc memory.
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "fedbundle/net/envelope.h"

_Static_assert(FB_ENV_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
		"tag size");
_Static_assert(FB_ENV_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
		"key size");
_Static_assert(FB_ENV_SID_LEN + 8 ==
				crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		"the nonce is session id || seq");

struct fb_session {
	uint8_t tx_key[FB_ENV_KEY_LEN];
	uint8_t rx_key[FB_ENV_KEY_LEN];
	uint64_t tx_seq;
	uint64_t rx_seq;
	uint8_t version;
	uint8_t sid[FB_ENV_SID_LEN];
	uint8_t peer_pk[FB_ID_PK_LEN];
	char peer_name[FB_ID_NAME_MAX + 1];
};

fb_err
fb_session_create(struct fb_session **out, uint8_t version,
		const uint8_t sid[FB_ENV_SID_LEN],
		const uint8_t tx_key[FB_ENV_KEY_LEN],
		const uint8_t rx_key[FB_ENV_KEY_LEN],
		const uint8_t peer_pk[FB_ID_PK_LEN], const char *peer_name)
{
	if (version < FB_WIRE_VERSION_MIN || version > FB_WIRE_VERSION_MAX) {
		return fb_errorf(FB_EINVAL, "session version %u not supported",
				version);
	}
	if (!fb_id_name_valid(peer_name)) {
		return fb_errorf(FB_EINVAL, "peer name '%s' is not valid",
				peer_name != NULL ? peer_name : "(null)");
	}
	struct fb_session *s = sodium_malloc(sizeof(*s));
	if (s == NULL) {
		return FB_ENOMEM;
	}
	memcpy(s->tx_key, tx_key, FB_ENV_KEY_LEN);
	memcpy(s->rx_key, rx_key, FB_ENV_KEY_LEN);
	s->tx_seq = 0;
	s->rx_seq = 0;
	s->version = version;
	memcpy(s->sid, sid, FB_ENV_SID_LEN);
	memcpy(s->peer_pk, peer_pk, FB_ID_PK_LEN);
	snprintf(s->peer_name, sizeof(s->peer_name), "%s", peer_name);
	*out = s;
	return FB_OK;
}

void
fb_session_destroy(struct fb_session *s)
{
	if (s != NULL) {
		sodium_free(s); // wipes the keys
	}
}

uint8_t
fb_session_version(const struct fb_session *s)
{
	return s->version;
}

const uint8_t *
fb_session_id(const struct fb_session *s)
{
	return s->sid;
}

const uint8_t *
fb_session_peer_key(const struct fb_session *s)
{
	return s->peer_pk;
}

const char *
fb_session_peer_name(const struct fb_session *s)
{
	return s->peer_name;
}

uint64_t
fb_session_tx_seq(const struct fb_session *s)
{
	return s->tx_seq;
}

uint64_t
fb_session_rx_seq(const struct fb_session *s)
{
	return s->rx_seq;
}

fb_err
fb_env_seal(struct fb_session *s, uint8_t *msg, size_t len, uint8_t type,
		uint32_t round_id)
{
	if (len < FB_ENV_OVERHEAD || !fb_wire_type_is_sealed(type)) {
		return fb_errorf(FB_EINVAL,
				"seal: %zu-byte buffer or type 0x%02x cannot be "
				"sealed",
				len, type);
	}
	if (s->tx_seq == UINT64_MAX) {
		return fb_errorf(FB_ESTATE,
				"seal: send sequence numbers exhausted; start "
				"a new session");
	}
	struct fb_wire_header hdr = {
			.ver = s->version,
			.type = type,
			.round_id = round_id,
	};
	fb_wire_header_encode(msg, &hdr);
	memcpy(msg + FB_WIRE_HDR_LEN, s->sid, FB_ENV_SID_LEN);
	fb_wire_store_u64(msg + FB_WIRE_HDR_LEN + FB_ENV_SID_LEN, s->tx_seq);
	size_t n = FB_SEALED_BODY_LEN(len);
	uint8_t *body = msg + FB_ENV_BODY_OFF;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt_detached(body, body + n,
			    NULL, body, n, msg, FB_ENV_BODY_OFF, NULL,
			    msg + FB_WIRE_HDR_LEN, s->tx_key) != 0) {
		return fb_errorf(FB_ECRYPTO, "seal: encryption failed");
	}
	s->tx_seq++;
	return FB_OK;
}

fb_err
fb_env_peek(const uint8_t *msg, size_t len, struct fb_wire_header *hdr,
		uint8_t sid[FB_ENV_SID_LEN])
{
	struct fb_wire_header h;
	if (len < FB_ENV_OVERHEAD) {
		return fb_errorf(FB_EPROTO,
				"sealed message of %zu bytes is shorter than "
				"the %d-byte envelope",
				len, FB_ENV_OVERHEAD);
	}
	fb_err err = fb_wire_header_decode(&h, msg, len);
	if (err != FB_OK) {
		return err;
	}
	if (!fb_wire_type_is_sealed(h.type)) {
		return fb_errorf(FB_EPROTO, "type 0x%02x is not a sealed type",
				h.type);
	}
	*hdr = h;
	memcpy(sid, msg + FB_WIRE_HDR_LEN, FB_ENV_SID_LEN);
	return FB_OK;
}

fb_err
fb_env_open(struct fb_session *s, uint8_t *msg, size_t len,
		struct fb_wire_header *hdr, uint8_t **body, size_t *body_len)
{
	struct fb_wire_header h;
	uint8_t sid[FB_ENV_SID_LEN];
	fb_err err = fb_env_peek(msg, len, &h, sid);
	if (err != FB_OK) {
		return err;
	}
	if (h.ver != s->version) {
		return fb_errorf(FB_EPROTO,
				"sealed message in the session with %s: "
				"version %u in a version %u session",
				s->peer_name, h.ver, s->version);
	}
	if (memcmp(sid, s->sid, FB_ENV_SID_LEN) != 0) {
		return fb_errorf(FB_EPROTO,
				"sealed message: session id is not %s's",
				s->peer_name);
	}
	uint64_t seq = fb_wire_load_u64(msg + FB_WIRE_HDR_LEN + FB_ENV_SID_LEN);
	// UINT64_MAX is never sealed, so rx_seq never wraps back to 0.
	if (seq != s->rx_seq || seq == UINT64_MAX) {
		return fb_errorf(FB_ESTATE,
				"sealed message in the session with %s: seq "
				"%llu, expected %llu (replayed or reordered)",
				s->peer_name, (unsigned long long)seq,
				(unsigned long long)s->rx_seq);
	}
	size_t n = FB_SEALED_BODY_LEN(len);
	uint8_t *p = msg + FB_ENV_BODY_OFF;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(p, NULL, p, n,
			    p + n, msg, FB_ENV_BODY_OFF, msg + FB_WIRE_HDR_LEN,
			    s->rx_key) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"sealed message in the session with %s: "
				"authentication tag does not verify",
				s->peer_name);
	}
	s->rx_seq++;
	*hdr = h;
	*body = p;
	*body_len = n;
	return FB_OK;
}

uint16_t
fb_env_reason(fb_err err)
{
	switch (err) {
	case FB_ESTATE:
		return FB_WIRE_REASON_REPLAY;
	case FB_ECRYPTO:
		return FB_WIRE_REASON_AUTH_FAILED;
	default:
		return FB_WIRE_REASON_MALFORMED;
	}
}
