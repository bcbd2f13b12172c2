// tests/unit/test-handshake.c: the handshake of protocols/wire-v1.md §3 in
// memory, client <-> server: a full run gives two sessions that talk; every
// refusal is exercised (unknown client key, wrong pinned server key, each
// byte of each message flipped, truncations, replays, version downgrade,
// stale and evicted pending handshakes) and must leave both sides' state
// unchanged, so that the genuine message still succeeds afterwards.
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "fedbundle/net/handshake.h"
#include "fedbundle/util/clock.h"
#include "harness.h"

static struct fb_identity *server_id, *client_id, *stranger_id;
static struct fb_roster *roster;
static struct fb_peer_key server_pin;

static const struct fb_hs_server_config cfg = {
		.max_pending = 8,
		.max_age_ms = 1000,
		.max_msg_len = 123456789,
		.max_per_key = 8, // the tests below use one client key
};

static fb_err
seeded(struct fb_identity **id, uint8_t fill, const char *name)
{
	uint8_t seed[32];
	memset(seed, fill, sizeof(seed));
	return fb_identity_from_seed(id, seed, name);
}

// The reason code of a plaintext ERROR reply.
static uint16_t
error_reason(const uint8_t *msg, size_t len)
{
	struct fb_wire_header h;
	CHECK_OK(fb_wire_header_decode(&h, msg, len));
	CHECK(h.type == FB_WIRE_ERROR_PLAIN && h.ver == 1);
	struct fb_wire_reason_text e;
	CHECK_OK(fb_wire_error_decode(&e, msg + 8, len - 8));
	return e.reason;
}

// Both sessions talk to each other in both directions.
static void
check_sessions_talk(struct fb_session *cs, struct fb_session *ss)
{
	uint8_t msg[64];
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	memcpy(msg + FB_ENV_BODY_OFF, "poll", 4);
	CHECK_OK(fb_env_seal(cs, msg, FB_SEALED_LEN(4), FB_WIRE_POLL, 0));
	CHECK_OK(fb_env_open(ss, msg, FB_SEALED_LEN(4), &h, &body, &blen));
	CHECK(blen == 4 && memcmp(body, "poll", 4) == 0);
	memcpy(msg + FB_ENV_BODY_OFF, "plan!", 5);
	CHECK_OK(fb_env_seal(ss, msg, FB_SEALED_LEN(5), FB_WIRE_PLAN, 1));
	CHECK_OK(fb_env_open(cs, msg, FB_SEALED_LEN(5), &h, &body, &blen));
	CHECK(blen == 5 && memcmp(body, "plan!", 5) == 0 && h.round_id == 1);
}

// A handshake in progress, with every message kept.
struct run {
	struct fb_hs_client *c;
	struct fb_hs_server *s;
	uint8_t hello[FB_HS_MSG_MAX], welcome[FB_HS_MSG_MAX];
	uint8_t auth[FB_HS_MSG_MAX], auth_ok[FB_HS_MSG_MAX];
	size_t hello_len, welcome_len, auth_len, auth_ok_len;
};

static void
start(struct run *r, struct fb_hs_server *s, const struct fb_identity *id,
		uint64_t now)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	CHECK_OK(fb_hs_client_create(&r->c, id, &server_pin));
	CHECK_OK(fb_hs_client_hello(
			r->c, r->hello, sizeof(r->hello), &r->hello_len));
	CHECK(r->hello_len == FB_HS_HELLO_LEN);
	struct fb_session *none = NULL;
	CHECK_OK(fb_hs_server_handle(s, now, r->hello, r->hello_len, r->welcome,
			sizeof(r->welcome), &r->welcome_len, &none));
	CHECK(r->welcome_len == FB_HS_WELCOME_LEN && none == NULL);
	CHECK_OK(fb_hs_client_welcome(r->c, r->welcome, r->welcome_len, r->auth,
			sizeof(r->auth), &r->auth_len));
	CHECK(r->auth_len == FB_HS_AUTH_LEN);
}

static void
finish(struct run *r, uint64_t now, struct fb_session **cs,
		struct fb_session **ss)
{
	CHECK_OK(fb_hs_server_handle(r->s, now, r->auth, r->auth_len,
			r->auth_ok, sizeof(r->auth_ok), &r->auth_ok_len, ss));
	CHECK(r->auth_ok_len == FB_HS_AUTH_OK_LEN);
	uint64_t max = 0;
	CHECK_OK(fb_hs_client_finish(
			r->c, r->auth_ok, r->auth_ok_len, cs, &max));
	CHECK(max == cfg.max_msg_len);
	fb_hs_client_destroy(r->c);
	r->c = NULL;
}

TEST(full_handshake)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct run r;
	start(&r, s, client_id, 0);
	// Layouts of §3.2 and §3.3.
	const uint8_t hello_head[12] = {
			0x46, 0x42, 1, 0x01, 0, 0, 0, 0, 1, 1, 0, 0};
	CHECK(memcmp(r.hello, hello_head, 12) == 0);
	CHECK(memcmp(r.hello + 12, fb_identity_public_key(client_id), 32) == 0);
	const uint8_t welcome_head[12] = {
			0x46, 0x42, 1, 0x02, 0, 0, 0, 0, 0, 0, 0, 0};
	CHECK(memcmp(r.welcome, welcome_head, 12) == 0);
	CHECK(memcmp(r.welcome + 12, server_pin.pk, 32) == 0);
	CHECK(memcmp(r.auth + 8, r.welcome + 108, 16) == 0);
	CHECK(fb_hs_server_pending(s) == 1);
	struct fb_session *cs = NULL, *ss = NULL;
	finish(&r, 10, &cs, &ss);
	CHECK(fb_hs_server_pending(s) == 0);
	CHECK(strcmp(fb_session_peer_name(ss), "retailer-a") == 0);
	CHECK(strcmp(fb_session_peer_name(cs), "aggregator") == 0);
	CHECK(memcmp(fb_session_peer_key(ss), fb_identity_public_key(client_id),
			      32) == 0);
	CHECK(memcmp(fb_session_id(cs), r.welcome + 108, 16) == 0);
	CHECK(memcmp(fb_session_id(ss), fb_session_id(cs), 16) == 0);
	// AUTH_OK used the server's seq 0; the client's next message is seq 0.
	CHECK(fb_session_rx_seq(cs) == 1 && fb_session_tx_seq(ss) == 1);
	CHECK(fb_session_tx_seq(cs) == 0 && fb_session_rx_seq(ss) == 0);
	check_sessions_talk(cs, ss);

	// Two handshakes never share keys or session ids.
	struct run r2;
	struct fb_session *cs2 = NULL, *ss2 = NULL;
	start(&r2, s, client_id, 20);
	finish(&r2, 20, &cs2, &ss2);
	CHECK(memcmp(fb_session_id(cs2), fb_session_id(cs), 16) != 0);
	uint8_t msg[64];
	CHECK_OK(fb_env_seal(cs2, msg, FB_SEALED_LEN(0), FB_WIRE_POLL, 0));
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	memcpy(msg + 8, fb_session_id(ss), 16); // claim the other session
	CHECK_ERR(fb_env_open(ss, msg, FB_SEALED_LEN(0), &h, &body, &blen),
			FB_ESTATE); // its seq 0 is already used there...
	CHECK_OK(fb_env_seal(cs2, msg, FB_SEALED_LEN(0), FB_WIRE_POLL, 0));
	memcpy(msg + 8, fb_session_id(ss), 16);
	msg[31] = 1; // ...and with the right seq the key is wrong
	CHECK_ERR(fb_env_open(ss, msg, FB_SEALED_LEN(0), &h, &body, &blen),
			FB_ECRYPTO);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_session_destroy(cs2);
	fb_session_destroy(ss2);
	fb_hs_server_destroy(s);
}

TEST(unknown_client_key_refused)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, stranger_id, &server_pin));
	uint8_t hello[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX], auth[FB_HS_MSG_MAX];
	size_t hl, rl, al;
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	struct fb_session *ss = NULL;
	CHECK_ERR(fb_hs_server_handle(s, 0, hello, hl, reply, sizeof(reply),
				  &rl, &ss),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "unknown client key");
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNKNOWN_KEY);
	CHECK(fb_hs_server_pending(s) == 0 && ss == NULL);
	CHECK_ERR(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "unknown-key");
	CHECK(fb_hs_client_refusal(c) == FB_WIRE_REASON_UNKNOWN_KEY);
	fb_hs_client_destroy(c);
	fb_hs_server_destroy(s);
}

TEST(wrong_pinned_server_key_refused)
{
	// An impostor server holding the stranger's key, enrolled clients alike.
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, stranger_id, roster, &cfg));
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, client_id, &server_pin));
	uint8_t hello[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX], auth[FB_HS_MSG_MAX];
	size_t hl, rl, al;
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	struct fb_session *ss = NULL;
	CHECK_OK(fb_hs_server_handle(
			s, 0, hello, hl, reply, sizeof(reply), &rl, &ss));
	CHECK_ERR(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "not the pinned key");
	// Even with the pinned key pasted in, the signature gives it away.
	memcpy(reply + 12, server_pin.pk, 32);
	CHECK_ERR(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "signature");
	fb_hs_client_destroy(c);
	fb_hs_server_destroy(s);
}

TEST(tampered_hello_never_completes)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	int by_server = 0, by_client = 0;
	for (size_t i = 0; i < FB_HS_HELLO_LEN; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			struct fb_hs_client *c = NULL;
			CHECK_OK(fb_hs_client_create(
					&c, client_id, &server_pin));
			uint8_t hello[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX],
					auth[FB_HS_MSG_MAX];
			size_t hl, rl, al;
			CHECK_OK(fb_hs_client_hello(
					c, hello, sizeof(hello), &hl));
			hello[i] ^= (uint8_t)(1u << bit);
			struct fb_session *ss = NULL;
			fb_err err = fb_hs_server_handle(s, 0, hello, hl, reply,
					sizeof(reply), &rl, &ss);
			if (err != FB_OK) {
				CHECK(error_reason(reply, rl) != 0);
				by_server++;
			} else {
				fb_err cerr = fb_hs_client_welcome(c, reply, rl,
						auth, sizeof(auth), &al);
				CHECK(cerr == FB_ECRYPTO);
				by_client++;
			}
			fb_hs_client_destroy(c);
		}
	}
	printf("# tampered HELLO: %d refused by the server, %d by the "
	       "client's signature check\n",
			by_server, by_client);
	CHECK(by_server > 0 && by_client > 0);
	fb_hs_server_destroy(s);
}

TEST(tampered_welcome_refused_state_unchanged)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, client_id, &server_pin));
	uint8_t hello[FB_HS_MSG_MAX], welcome[FB_HS_MSG_MAX],
			bad[FB_HS_MSG_MAX];
	uint8_t auth[FB_HS_MSG_MAX];
	size_t hl, wl, al;
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	struct fb_session *ss = NULL;
	CHECK_OK(fb_hs_server_handle(
			s, 0, hello, hl, welcome, sizeof(welcome), &wl, &ss));
	for (size_t i = 0; i < wl; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, welcome, wl);
			bad[i] ^= (uint8_t)(1u << bit);
			fb_err err = fb_hs_client_welcome(
					c, bad, wl, auth, sizeof(auth), &al);
			CHECK(err == FB_EPROTO || err == FB_ECRYPTO);
		}
	}
	for (size_t n = 0; n < wl; n++) {
		CHECK_ERR(fb_hs_client_welcome(c, welcome, n, auth,
					  sizeof(auth), &al),
				FB_EPROTO);
	}
	welcome[wl] = 0;
	CHECK_ERR(fb_hs_client_welcome(
				  c, welcome, wl + 1, auth, sizeof(auth), &al),
			FB_EPROTO);
	// The genuine WELCOME still completes the handshake.
	CHECK_OK(fb_hs_client_welcome(c, welcome, wl, auth, sizeof(auth), &al));
	// A replayed WELCOME is out of place now.
	CHECK_ERR(fb_hs_client_welcome(c, welcome, wl, bad, sizeof(bad), &al),
			FB_ESTATE);
	uint8_t ok[FB_HS_MSG_MAX];
	size_t okl;
	CHECK_OK(fb_hs_server_handle(
			s, 1, auth, FB_HS_AUTH_LEN, ok, sizeof(ok), &okl, &ss));
	struct fb_session *cs = NULL;
	uint64_t max;
	CHECK_OK(fb_hs_client_finish(c, ok, okl, &cs, &max));
	check_sessions_talk(cs, ss);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_hs_client_destroy(c);
	fb_hs_server_destroy(s);
}

TEST(tampered_auth_refused_state_unchanged)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct run r;
	start(&r, s, client_id, 0);
	uint8_t bad[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX];
	size_t rl;
	int reasons[32] = {0};
	for (size_t i = 0; i < r.auth_len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, r.auth, r.auth_len);
			bad[i] ^= (uint8_t)(1u << bit);
			struct fb_session *ss = NULL;
			fb_err err = fb_hs_server_handle(s, 1, bad, r.auth_len,
					reply, sizeof(reply), &rl, &ss);
			CHECK(err != FB_OK && ss == NULL);
			uint16_t why = error_reason(reply, rl);
			CHECK(why < 32);
			reasons[why]++;
			CHECK(fb_hs_server_pending(s) == 1);
		}
	}
	CHECK(reasons[FB_WIRE_REASON_BAD_SIGNATURE] == 64 * 8);
	CHECK(reasons[FB_WIRE_REASON_UNKNOWN_SESSION] == 16 * 8);
	CHECK(reasons[FB_WIRE_REASON_MALFORMED] > 0);
	CHECK(reasons[FB_WIRE_REASON_UNSUPPORTED_VERSION] == 8);
	for (size_t n = 0; n < r.auth_len; n++) {
		struct fb_session *ss = NULL;
		CHECK(fb_hs_server_handle(s, 1, r.auth, n, reply, sizeof(reply),
				      &rl, &ss) != FB_OK);
		CHECK(fb_hs_server_pending(s) == 1);
	}
	struct fb_session *cs = NULL, *ss = NULL;
	finish(&r, 2, &cs, &ss);
	check_sessions_talk(cs, ss);
	// Replaying the AUTH now finds no pending handshake.
	struct fb_session *again = NULL;
	CHECK_ERR(fb_hs_server_handle(s, 3, r.auth, r.auth_len, reply,
				  sizeof(reply), &rl, &again),
			FB_ESTATE);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNKNOWN_SESSION);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_hs_server_destroy(s);
}

TEST(tampered_auth_ok_refused_state_unchanged)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct run r;
	start(&r, s, client_id, 0);
	struct fb_session *ss = NULL, *cs = NULL;
	CHECK_OK(fb_hs_server_handle(s, 1, r.auth, r.auth_len, r.auth_ok,
			sizeof(r.auth_ok), &r.auth_ok_len, &ss));
	uint8_t bad[FB_HS_MSG_MAX];
	uint64_t max = 7;
	for (size_t i = 0; i < r.auth_ok_len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, r.auth_ok, r.auth_ok_len);
			bad[i] ^= (uint8_t)(1u << bit);
			fb_err err = fb_hs_client_finish(
					r.c, bad, r.auth_ok_len, &cs, &max);
			CHECK(err == FB_EPROTO || err == FB_ECRYPTO ||
					err == FB_ESTATE);
			CHECK(cs == NULL && max == 7);
		}
	}
	for (size_t n = 0; n < r.auth_ok_len; n++) {
		memcpy(bad, r.auth_ok, r.auth_ok_len);
		CHECK(fb_hs_client_finish(r.c, bad, n, &cs, &max) != FB_OK);
	}
	CHECK_OK(fb_hs_client_finish(r.c, r.auth_ok, r.auth_ok_len, &cs, &max));
	check_sessions_talk(cs, ss);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_hs_client_destroy(r.c);
	fb_hs_server_destroy(s);
}

TEST(version_downgrade_detected)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	// A man in the middle rewrites the offered range 1-1 into 1-2: the
	// server still answers (it picks 1), but it signs what it received,
	// so the client's transcript differs and the signature fails.
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, client_id, &server_pin));
	uint8_t hello[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX], auth[FB_HS_MSG_MAX];
	size_t hl, rl, al;
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	hello[9] = 2;
	struct fb_session *ss = NULL;
	CHECK_OK(fb_hs_server_handle(
			s, 0, hello, hl, reply, sizeof(reply), &rl, &ss));
	CHECK(reply[2] == 1);
	CHECK_ERR(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "signature");
	// Rewriting the chosen version in WELCOME is refused outright.
	hello[9] = 1;
	CHECK_OK(fb_hs_server_handle(
			s, 0, hello, hl, reply, sizeof(reply), &rl, &ss));
	reply[2] = 2;
	CHECK_ERR(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al),
			FB_EPROTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), "outside the offered");
	reply[2] = 1;
	CHECK_OK(fb_hs_client_welcome(c, reply, rl, auth, sizeof(auth), &al));
	fb_hs_client_destroy(c);

	// Ranges the server cannot serve.
	CHECK_OK(fb_hs_client_create(&c, client_id, &server_pin));
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	hello[8] = 2;
	hello[9] = 3;
	CHECK_ERR(fb_hs_server_handle(s, 0, hello, hl, reply, sizeof(reply),
				  &rl, &ss),
			FB_EPROTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNSUPPORTED_VERSION);
	hello[8] = hello[9] = 1;
	hello[2] = 2; // HELLO's header version is frozen at 1
	CHECK_ERR(fb_hs_server_handle(s, 0, hello, hl, reply, sizeof(reply),
				  &rl, &ss),
			FB_EPROTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNSUPPORTED_VERSION);
	hello[2] = 1;
	hello[8] = 2;
	hello[9] = 1; // min > max
	CHECK_ERR(fb_hs_server_handle(s, 0, hello, hl, reply, sizeof(reply),
				  &rl, &ss),
			FB_EPROTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_MALFORMED);
	fb_hs_client_destroy(c);
	fb_hs_server_destroy(s);
}

TEST(stale_and_evicted_pending)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	// Expired: AUTH 1001 ms after HELLO with max_age 1000 ms.
	struct run r;
	start(&r, s, client_id, 5000);
	uint8_t reply[FB_HS_MSG_MAX];
	size_t rl;
	struct fb_session *ss = NULL;
	CHECK_ERR(fb_hs_server_handle(s, 6001, r.auth, r.auth_len, reply,
				  sizeof(reply), &rl, &ss),
			FB_ESTATE);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNKNOWN_SESSION);
	CHECK(fb_hs_server_pending(s) == 0);
	fb_hs_client_destroy(r.c);
	// Within the age it works.
	start(&r, s, client_id, 5000);
	struct fb_session *cs = NULL;
	finish(&r, 6000, &cs, &ss);
	fb_session_destroy(cs);
	fb_session_destroy(ss);

	// Full table (8): the oldest is evicted.
	struct run runs[9];
	for (int i = 0; i < 9; i++) {
		start(&runs[i], s, client_id, 7000 + (uint64_t)i);
		CHECK(fb_hs_server_pending(s) == (size_t)(i < 8 ? i + 1 : 8));
	}
	ss = NULL;
	CHECK_ERR(fb_hs_server_handle(s, 7010, runs[0].auth, runs[0].auth_len,
				  reply, sizeof(reply), &rl, &ss),
			FB_ESTATE);
	for (int i = 1; i < 9; i++) {
		cs = ss = NULL;
		finish(&runs[i], 7010, &cs, &ss);
		fb_session_destroy(cs);
		fb_session_destroy(ss);
	}
	CHECK(fb_hs_server_pending(s) == 0);
	fb_hs_client_destroy(runs[0].c);

	// A flood of HELLOs (one replayed HELLO, over and over) stays bounded.
	for (int i = 0; i < 1000; i++) {
		uint8_t w[FB_HS_MSG_MAX];
		size_t wl;
		CHECK_OK(fb_hs_server_handle(s, 8000, r.hello, r.hello_len, w,
				sizeof(w), &wl, &ss));
		CHECK(fb_hs_server_pending(s) == (size_t)(i < 8 ? i + 1 : 8));
	}
	fb_hs_server_destroy(s);
}

// A flood of HELLOs with one enrolled (public) key takes at most
// max_per_key entries: another client's pending handshake survives it,
// even in a table smaller than the flood.
TEST(flood_of_one_key_evicts_only_that_key)
{
	struct fb_identity *other = NULL;
	struct fb_roster *two = NULL;
	CHECK_OK(seeded(&other, 0x44, "retailer-b"));
	CHECK_OK(fb_roster_create(&two));
	CHECK_OK(fb_roster_add(
			two, fb_identity_public_key(client_id), "retailer-a"));
	CHECK_OK(fb_roster_add(
			two, fb_identity_public_key(other), "retailer-b"));
	struct fb_hs_server_config c = cfg;
	c.max_per_key = 2;
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, two, &c));
	struct run b;
	start(&b, s, other, 9000);
	struct run flood[50];
	for (int i = 0; i < 50; i++) {
		start(&flood[i], s, client_id, 9001 + (uint64_t)i);
		CHECK(fb_hs_server_pending(s) == (size_t)(i < 1 ? 2 : 3));
	}
	struct fb_session *cs = NULL, *ss = NULL;
	finish(&b, 9100, &cs, &ss); // retailer-b's handshake survived
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	// Of the flood only the newest 2 can still complete.
	uint8_t reply[FB_HS_MSG_MAX];
	size_t rl;
	for (int i = 0; i < 50; i++) {
		cs = ss = NULL;
		if (i >= 48) {
			finish(&flood[i], 9100, &cs, &ss);
			fb_session_destroy(cs);
			fb_session_destroy(ss);
			continue;
		}
		CHECK_ERR(fb_hs_server_handle(s, 9100, flood[i].auth,
					  flood[i].auth_len, reply,
					  sizeof(reply), &rl, &ss),
				FB_ESTATE);
		CHECK(error_reason(reply, rl) ==
				FB_WIRE_REASON_UNKNOWN_SESSION);
		fb_hs_client_destroy(flood[i].c);
	}
	CHECK(fb_hs_server_pending(s) == 0);
	fb_hs_server_destroy(s);
	fb_roster_destroy(two);
	fb_identity_destroy(other);
}

TEST(replayed_hello_cannot_be_completed)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	struct run r;
	struct fb_session *cs = NULL, *ss = NULL;
	start(&r, s, client_id, 0);
	finish(&r, 1, &cs, &ss);
	// The attacker replays the recorded HELLO, gets a fresh WELCOME and
	// tries the recorded AUTH signature under the new session id.
	uint8_t w[FB_HS_MSG_MAX], reply[FB_HS_MSG_MAX], auth[FB_HS_AUTH_LEN];
	size_t wl, rl;
	struct fb_session *evil = NULL;
	CHECK_OK(fb_hs_server_handle(
			s, 2, r.hello, r.hello_len, w, sizeof(w), &wl, &evil));
	memcpy(auth, r.auth, FB_HS_AUTH_LEN);
	memcpy(auth + 8, w + 108, 16);
	CHECK_ERR(fb_hs_server_handle(s, 3, auth, FB_HS_AUTH_LEN, reply,
				  sizeof(reply), &rl, &evil),
			FB_ECRYPTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_BAD_SIGNATURE);
	CHECK(evil == NULL);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_hs_server_destroy(s);
}

TEST(odd_requests_and_misuse)
{
	struct fb_hs_server *s = NULL;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &cfg));
	uint8_t reply[FB_HS_MSG_MAX];
	size_t rl;
	struct fb_session *ss = NULL;
	const uint8_t junk[5] = {1, 2, 3, 4, 5};
	CHECK_ERR(fb_hs_server_handle(s, 0, junk, 5, reply, sizeof(reply), &rl,
				  &ss),
			FB_EPROTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_MALFORMED);
	uint8_t poll[FB_SEALED_LEN(4)] = {0x46, 0x42, 1, FB_WIRE_POLL};
	CHECK_ERR(fb_hs_server_handle(s, 0, poll, sizeof(poll), reply,
				  sizeof(reply), &rl, &ss),
			FB_EPROTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNEXPECTED);
	CHECK_ERR(fb_hs_server_handle(s, 0, poll, sizeof(poll), reply, 100, &rl,
				  &ss),
			FB_EINVAL);

	// A low-order ephemeral key (the all-zero point) is refused.
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, client_id, &server_pin));
	uint8_t hello[FB_HS_MSG_MAX], auth[FB_HS_MSG_MAX];
	size_t hl, al;
	CHECK_OK(fb_hs_client_hello(c, hello, sizeof(hello), &hl));
	CHECK_ERR(fb_hs_client_hello(c, hello, sizeof(hello), &hl), FB_ESTATE);
	uint8_t ok[FB_HS_MSG_MAX];
	struct fb_session *cs = NULL;
	uint64_t max;
	CHECK_ERR(fb_hs_client_finish(c, ok, 0, &cs, &max), FB_ESTATE);
	uint8_t zero_eph[FB_HS_MSG_MAX];
	memcpy(zero_eph, hello, hl);
	memset(zero_eph + 44, 0, 32);
	CHECK_ERR(fb_hs_server_handle(s, 0, zero_eph, hl, reply, sizeof(reply),
				  &rl, &ss),
			FB_ECRYPTO);
	CHECK_STR_CONTAINS(fb_last_error(FB_ECRYPTO), "low order");
	CHECK(fb_hs_server_pending(s) == 0);

	// A client removed from the roster between HELLO and AUTH.
	size_t wl;
	CHECK_OK(fb_hs_server_handle(
			s, 0, hello, hl, reply, sizeof(reply), &wl, &ss));
	CHECK_OK(fb_hs_client_welcome(c, reply, wl, auth, sizeof(auth), &al));
	struct fb_roster *empty = NULL;
	CHECK_OK(fb_roster_create(&empty));
	fb_hs_server_set_roster(s, empty);
	CHECK_ERR(fb_hs_server_handle(s, 1, auth, al, reply, sizeof(reply), &rl,
				  &ss),
			FB_ECRYPTO);
	CHECK(error_reason(reply, rl) == FB_WIRE_REASON_UNKNOWN_KEY);
	// The client gets the server's refusal of its AUTH.
	CHECK_ERR(fb_hs_client_finish(c, reply, rl, &cs, &max), FB_EPROTO);
	CHECK(fb_hs_client_refusal(c) == FB_WIRE_REASON_UNKNOWN_KEY);
	fb_hs_server_set_roster(s, roster);
	fb_roster_destroy(empty);
	fb_hs_client_destroy(c);
	fb_hs_client_destroy(NULL);
	fb_hs_server_destroy(s);
	fb_hs_server_destroy(NULL);
}

// Costs quoted in protocols/wire-v1.md §9.6: the server's work per HELLO
// and per AUTH, and a whole handshake (both sides, in memory).
TEST(timing)
{
	struct fb_hs_server *s = NULL;
	struct fb_hs_server_config big = cfg;
	big.max_pending = 1024;
	CHECK_OK(fb_hs_server_create(&s, server_id, roster, &big));
	enum { N = 300 };
	static struct run runs[N];
	double hello = 0, auth = 0;
	double t0 = fb_clock_s();
	for (int i = 0; i < N; i++) {
		struct run *r = &runs[i];
		memset(r, 0, sizeof(*r));
		r->s = s;
		CHECK_OK(fb_hs_client_create(&r->c, client_id, &server_pin));
		CHECK_OK(fb_hs_client_hello(r->c, r->hello, sizeof(r->hello),
				&r->hello_len));
		struct fb_session *none = NULL;
		double a = fb_clock_s();
		CHECK_OK(fb_hs_server_handle(s, 0, r->hello, r->hello_len,
				r->welcome, sizeof(r->welcome), &r->welcome_len,
				&none));
		hello += fb_clock_s() - a;
		CHECK_OK(fb_hs_client_welcome(r->c, r->welcome, r->welcome_len,
				r->auth, sizeof(r->auth), &r->auth_len));
		struct fb_session *cs = NULL, *ss = NULL;
		a = fb_clock_s();
		CHECK_OK(fb_hs_server_handle(s, 0, r->auth, r->auth_len,
				r->auth_ok, sizeof(r->auth_ok), &r->auth_ok_len,
				&ss));
		auth += fb_clock_s() - a;
		uint64_t max;
		CHECK_OK(fb_hs_client_finish(
				r->c, r->auth_ok, r->auth_ok_len, &cs, &max));
		fb_session_destroy(cs);
		fb_session_destroy(ss);
		fb_hs_client_destroy(r->c);
	}
	double total = fb_clock_s() - t0;
	printf("# server per HELLO %.1f us, per AUTH %.1f us; whole "
	       "handshake (both sides) %.1f us\n",
			hello / N * 1e6, auth / N * 1e6, total / N * 1e6);
	fb_hs_server_destroy(s);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	if (seeded(&server_id, 0x53, "aggregator") != FB_OK ||
			seeded(&client_id, 0x43, "retailer-a") != FB_OK ||
			seeded(&stranger_id, 0x58, "stranger") != FB_OK ||
			fb_roster_create(&roster) != FB_OK ||
			fb_roster_add(roster, fb_identity_public_key(client_id),
					"retailer-a") != FB_OK) {
		return 99;
	}
	memcpy(server_pin.pk, fb_identity_public_key(server_id), 32);
	strcpy(server_pin.name, "aggregator");
	RUN(full_handshake);
	RUN(unknown_client_key_refused);
	RUN(wrong_pinned_server_key_refused);
	RUN(tampered_hello_never_completes);
	RUN(tampered_welcome_refused_state_unchanged);
	RUN(tampered_auth_refused_state_unchanged);
	RUN(tampered_auth_ok_refused_state_unchanged);
	RUN(version_downgrade_detected);
	RUN(stale_and_evicted_pending);
	RUN(flood_of_one_key_evicts_only_that_key);
	RUN(replayed_hello_cannot_be_completed);
	RUN(odd_requests_and_misuse);
	RUN(timing);
	fb_roster_destroy(roster);
	fb_identity_destroy(server_id);
	fb_identity_destroy(client_id);
	fb_identity_destroy(stranger_id);
	return harness_done();
}
