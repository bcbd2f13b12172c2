// tests/unit/test-envelope.c: the sealed envelope of protocols/wire-v1.md §4.
// The construction is checked against libsodium's combined-mode AEAD called
// as the spec describes it (AD = bytes 0..31, nonce = bytes 8..31); every
// refusal (each flipped byte, truncation, replay, reordering, other session
// id, other key, other version) must leave the session state unchanged.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/util/clock.h"
#include "harness.h"

static const uint8_t sid[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
		0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static uint8_t k_c2s[32], k_s2c[32], pk_c[32], pk_s[32];

static void
fixed_keys(void)
{
	for (int i = 0; i < 32; i++) {
		k_c2s[i] = (uint8_t)(0xa0 + i);
		k_s2c[i] = (uint8_t)(0x40 + i);
		pk_c[i] = (uint8_t)i;
		pk_s[i] = (uint8_t)(0xff - i);
	}
}

// A client and a server session sharing the two fixed keys.
static void
pair(struct fb_session **c, struct fb_session **s)
{
	CHECK_OK(fb_session_create(c, 1, sid, k_c2s, k_s2c, pk_s, "server"));
	CHECK_OK(fb_session_create(s, 1, sid, k_s2c, k_c2s, pk_c, "client-a"));
}

static size_t
seal_text(struct fb_session *s, uint8_t *msg, const char *text, uint8_t type,
		uint32_t round)
{
	size_t n = strlen(text);
	memcpy(msg + FB_ENV_BODY_OFF, text, n);
	CHECK_OK(fb_env_seal(s, msg, FB_SEALED_LEN(n), type, round));
	return FB_SEALED_LEN(n);
}

TEST(sizes)
{
	CHECK(FB_ENV_OVERHEAD == 48);
	CHECK(FB_SEALED_LEN(0) == 48);
	CHECK(FB_SEALED_LEN(1000) == 1048);
	CHECK(FB_SEALED_BODY_LEN(1048) == 1000);
	CHECK(FB_ENV_BODY_OFF % 4 == 0);
}

TEST(matches_the_spec_construction)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	uint8_t msg[128];
	size_t len = seal_text(c, msg, "ready", FB_WIRE_POLL, 7);
	CHECK(len == 53);
	// Header and prefix in clear: magic, ver 1, POLL, round 7, sid, seq 0.
	const uint8_t hdr[8] = {0x46, 0x42, 1, 0x82, 0, 0, 0, 7};
	CHECK(memcmp(msg, hdr, 8) == 0);
	CHECK(memcmp(msg + 8, sid, 16) == 0);
	const uint8_t seq0[8] = {0};
	CHECK(memcmp(msg + 24, seq0, 8) == 0);
	// Independent computation: combined mode, AD = bytes 0..31, nonce =
	// bytes 8..31, key c2s; output = ciphertext || tag.
	uint8_t want[5 + 16];
	unsigned long long wlen = 0;
	CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(want, &wlen,
			      (const uint8_t *)"ready", 5, msg, 32, NULL,
			      msg + 8, k_c2s) == 0);
	CHECK(wlen == 21 && memcmp(msg + 32, want, 21) == 0);
	CHECK(fb_session_tx_seq(c) == 1);

	// The second message carries seq 1.
	len = seal_text(c, msg, "x", FB_WIRE_POLL, 7);
	CHECK(msg[31] == 1 && msg[30] == 0);
	fb_session_destroy(c);
	fb_session_destroy(s);
}

TEST(round_trip_in_place)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	CHECK(strcmp(fb_session_peer_name(s), "client-a") == 0);
	CHECK(memcmp(fb_session_peer_key(s), pk_c, 32) == 0);
	CHECK(memcmp(fb_session_id(c), sid, 16) == 0);
	CHECK(fb_session_version(c) == 1);
	for (uint32_t i = 0; i < 5; i++) {
		uint8_t msg[128];
		size_t len = seal_text(c, msg, "update bytes", FB_WIRE_UPDATE,
				100 + i);
		CHECK(memcmp(msg + 32, "update bytes", 12) != 0);
		struct fb_wire_header h;
		uint8_t *body = NULL;
		size_t blen = 0;
		CHECK_OK(fb_env_open(s, msg, len, &h, &body, &blen));
		CHECK(h.type == FB_WIRE_UPDATE && h.round_id == 100 + i);
		CHECK(h.ver == 1);
		CHECK(body == msg + 32 && blen == 12);
		CHECK(memcmp(body, "update bytes", 12) == 0);
		CHECK(fb_session_rx_seq(s) == i + 1);
		// And the reply direction.
		len = seal_text(s, msg, "ack", FB_WIRE_ACK, 100 + i);
		CHECK_OK(fb_env_open(c, msg, len, &h, &body, &blen));
		CHECK(blen == 3 && memcmp(body, "ack", 3) == 0);
	}
	// An empty body.
	uint8_t msg[48];
	CHECK_OK(fb_env_seal(c, msg, 48, FB_WIRE_POLL, 0));
	struct fb_wire_header h;
	uint8_t *body = NULL;
	size_t blen = 1;
	CHECK_OK(fb_env_open(s, msg, 48, &h, &body, &blen));
	CHECK(blen == 0);
	fb_session_destroy(c);
	fb_session_destroy(s);
}

TEST(every_flipped_byte_refused_state_unchanged)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	uint8_t msg[128], copy[128];
	size_t len = seal_text(
			c, msg, "a plan of some length", FB_WIRE_PLAN, 3);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			memcpy(copy, msg, len);
			copy[i] ^= (uint8_t)(1u << bit);
			struct fb_wire_header h = {0};
			uint8_t *body = NULL;
			size_t blen = 0;
			fb_err err = fb_env_open(
					s, copy, len, &h, &body, &blen);
			CHECK(err == FB_EPROTO || err == FB_ESTATE ||
					err == FB_ECRYPTO);
			CHECK(body == NULL && blen == 0 && h.type == 0);
			CHECK(fb_session_rx_seq(s) == 0);
		}
	}
	// The genuine message still opens afterwards.
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	CHECK_OK(fb_env_open(s, msg, len, &h, &body, &blen));
	fb_session_destroy(c);
	fb_session_destroy(s);
}

TEST(truncated_refused)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	uint8_t msg[128], copy[128];
	size_t len = seal_text(c, msg, "twelve bytes", FB_WIRE_POLL, 0);
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, msg, len);
		struct fb_wire_header h;
		uint8_t *body;
		size_t blen;
		fb_err err = fb_env_open(s, copy, n, &h, &body, &blen);
		CHECK(err == (n < 48 ? FB_EPROTO : FB_ECRYPTO));
		CHECK(fb_session_rx_seq(s) == 0);
	}
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	CHECK_OK(fb_env_open(s, msg, len, &h, &body, &blen));
	fb_session_destroy(c);
	fb_session_destroy(s);
}

TEST(replay_and_reorder_refused)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	uint8_t m0[64], m1[64], keep0[64], keep1[64];
	size_t l0 = seal_text(c, m0, "first", FB_WIRE_POLL, 1);
	size_t l1 = seal_text(c, m1, "second", FB_WIRE_POLL, 1);
	memcpy(keep0, m0, l0);
	memcpy(keep1, m1, l1);
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	// Reordered: seq 1 before seq 0.
	CHECK_ERR(fb_env_open(s, m1, l1, &h, &body, &blen), FB_ESTATE);
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "seq 1, expected 0");
	CHECK(fb_session_rx_seq(s) == 0);
	CHECK_OK(fb_env_open(s, m0, l0, &h, &body, &blen));
	CHECK(blen == 5 && memcmp(body, "first", 5) == 0);
	// Replayed: seq 0 again.
	memcpy(m0, keep0, l0);
	CHECK_ERR(fb_env_open(s, m0, l0, &h, &body, &blen), FB_ESTATE);
	CHECK(fb_env_reason(FB_ESTATE) == FB_WIRE_REASON_REPLAY);
	CHECK(fb_session_rx_seq(s) == 1);
	CHECK_OK(fb_env_open(s, m1, l1, &h, &body, &blen));
	CHECK(blen == 6 && memcmp(body, "second", 6) == 0);
	memcpy(m1, keep1, l1);
	CHECK_ERR(fb_env_open(s, m1, l1, &h, &body, &blen), FB_ESTATE);
	CHECK(fb_session_rx_seq(s) == 2);
	fb_session_destroy(c);
	fb_session_destroy(s);
}

TEST(other_session_key_or_version_refused)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	uint8_t other_sid[16];
	memcpy(other_sid, sid, 16);
	other_sid[15] ^= 1;
	struct fb_session *s2 = NULL, *s3 = NULL;
	CHECK_OK(fb_session_create(
			&s2, 1, other_sid, k_s2c, k_c2s, pk_c, "client-a"));
	CHECK_OK(fb_session_create(
			&s3, 1, sid, k_s2c, k_s2c, pk_c, "client-a"));
	uint8_t msg[64], copy[64];
	size_t len = seal_text(c, msg, "poll", FB_WIRE_POLL, 0);
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	memcpy(copy, msg, len);
	CHECK_ERR(fb_env_open(s2, copy, len, &h, &body, &blen), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "session id");
	CHECK_ERR(fb_env_open(s3, copy, len, &h, &body, &blen), FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "tag");
	CHECK(fb_env_reason(FB_ECRYPTO) == FB_WIRE_REASON_AUTH_FAILED);
	CHECK(fb_session_rx_seq(s3) == 0);
	memcpy(copy, msg, len);
	copy[2] = 2; // version 2 in a version 1 session
	CHECK_ERR(fb_env_open(s, copy, len, &h, &body, &blen), FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "version 2");
	memcpy(copy, msg, len);
	copy[3] = FB_WIRE_HELLO; // not a sealed type
	CHECK_ERR(fb_env_open(s, copy, len, &h, &body, &blen), FB_EPROTO);
	uint8_t peek_sid[16];
	CHECK_OK(fb_env_peek(msg, len, &h, peek_sid));
	CHECK(h.type == FB_WIRE_POLL && memcmp(peek_sid, sid, 16) == 0);
	CHECK_OK(fb_env_open(s, msg, len, &h, &body, &blen));
	// Caller mistakes.
	CHECK_ERR(fb_env_seal(c, msg, 47, FB_WIRE_POLL, 0), FB_EINVAL);
	CHECK_ERR(fb_env_seal(c, msg, 48, FB_WIRE_HELLO, 0), FB_EINVAL);
	CHECK(fb_session_tx_seq(c) == 1);
	struct fb_session *bad = NULL;
	CHECK_ERR(fb_session_create(&bad, 2, sid, k_c2s, k_s2c, pk_s, "x"),
			FB_EINVAL);
	CHECK_ERR(fb_session_create(&bad, 1, sid, k_c2s, k_s2c, pk_s, "a b"),
			FB_EINVAL);
	CHECK(bad == NULL);
	fb_session_destroy(NULL);
	fb_session_destroy(c);
	fb_session_destroy(s);
	fb_session_destroy(s2);
	fb_session_destroy(s3);
}

TEST(large_message_in_place)
{
	struct fb_session *c = NULL, *s = NULL;
	pair(&c, &s);
	size_t n = 30u << 20; // a 30 MB update
	uint8_t *msg = malloc(FB_SEALED_LEN(n));
	CHECK(msg != NULL);
	for (size_t i = 0; i < n; i++) {
		msg[FB_ENV_BODY_OFF + i] = (uint8_t)(i * 131u);
	}
	double t0 = fb_clock_s();
	CHECK_OK(fb_env_seal(c, msg, FB_SEALED_LEN(n), FB_WIRE_UPDATE, 9));
	double t1 = fb_clock_s();
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	CHECK_OK(fb_env_open(s, msg, FB_SEALED_LEN(n), &h, &body, &blen));
	double t2 = fb_clock_s();
	CHECK(blen == n && body == msg + FB_ENV_BODY_OFF);
	for (size_t i = 0; i < n; i += 4097) {
		CHECK(body[i] == (uint8_t)(i * 131u));
	}
	printf("# 30 MiB body: seal %.1f ms (%.2f GB/s), open %.1f ms "
	       "(%.2f GB/s)\n",
			(t1 - t0) * 1e3, n / (t1 - t0) / 1e9, (t2 - t1) * 1e3,
			n / (t2 - t1) / 1e9);
	free(msg);
	fb_session_destroy(c);
	fb_session_destroy(s);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	fixed_keys();
	RUN(sizes);
	RUN(matches_the_spec_construction);
	RUN(round_trip_in_place);
	RUN(every_flipped_byte_refused_state_unchanged);
	RUN(truncated_refused);
	RUN(replay_and_reorder_refused);
	RUN(other_session_key_or_version_refused);
	RUN(large_message_in_place);
	return harness_done();
}
