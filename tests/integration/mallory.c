// tests/integration/mallory.c: a misbehaving client for
// test-fed-security.sh. It speaks protocols/wire-v1.md with the common
// primitives (transport, handshake, envelope, wire) against a running
// fedbundle-server and misbehaves on purpose, one attack per session:
//   1. HELLO with a key that is not enrolled          -> unknown-key
//   2. a sealed POLL sent a second time (replay)      -> replay
//   3. an UPDATE with one ciphertext byte flipped     -> auth-failed
//   4. a sealed UPDATE cut short by 5 bytes           -> auth-failed
//      and a POLL cut below the envelope's 48 bytes   -> malformed
//   5. a well-sealed UPDATE for a round not offered   -> sealed ERROR
//                                                        wrong-round
// then it declines the round politely (REFUSE -> ACK) and pauses, so the
// honest clients' rounds go on. Prints TAP; exit 0 if every attack was
// refused as the spec says.
// usage: mallory URL SERVER.pub ENROLLED.key STRANGER.key
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/envelope.h"
#include "fedbundle/handshake.h"
#include "fedbundle/identity.h"
#include "fedbundle/transport.h"
#include "fedbundle/wire.h"

static int n_checks, n_failed;
static struct fb_dialer *dialer;
static struct fb_peer_key server;

static void
report(bool ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n_checks, what);
	fflush(stdout);
	n_failed += !ok;
}

static struct fb_msg *
send_bytes(const uint8_t *buf, size_t len)
{
	struct fb_msg *m = NULL, *reply = NULL;
	if (fb_msg_alloc(&m, len) != FB_OK) {
		return NULL;
	}
	memcpy(fb_msg_data(m), buf, len);
	fb_err err = fb_dialer_call_take(dialer, m, 10000, &reply);
	if (err != FB_OK) {
		printf("# no reply: %s\n", fb_last_error(err));
		return NULL;
	}
	return reply;
}

// The reason of a plaintext ERROR, 0 if the message is not one.
static uint16_t
plain_reason(struct fb_msg *m)
{
	struct fb_wire_header h;
	struct fb_wire_reason_text e;
	if (m == NULL ||
			fb_wire_header_decode(&h, fb_msg_data(m),
					fb_msg_len(m)) != FB_OK ||
			h.type != FB_WIRE_ERROR_PLAIN ||
			fb_wire_error_decode(&e, fb_msg_data(m) + 8,
					fb_msg_len(m) - 8) != FB_OK) {
		return 0;
	}
	return e.reason;
}

// A full handshake; *refusal is the server's reason when it refused.
static struct fb_session *
handshake(const struct fb_identity *id, uint16_t *refusal)
{
	struct fb_hs_client *hs = NULL;
	struct fb_session *s = NULL;
	uint8_t buf[FB_HS_MSG_MAX];
	size_t len = 0;
	*refusal = 0;
	if (fb_hs_client_create(&hs, id, &server) != FB_OK ||
			fb_hs_client_hello(hs, buf, sizeof(buf), &len) !=
					FB_OK) {
		fb_hs_client_destroy(hs);
		return NULL;
	}
	struct fb_msg *r = send_bytes(buf, len);
	if (r != NULL &&
			fb_hs_client_welcome(hs, fb_msg_data(r), fb_msg_len(r),
					buf, sizeof(buf), &len) == FB_OK) {
		fb_msg_free(r);
		r = send_bytes(buf, len);
		uint64_t max = 0;
		if (r != NULL &&
				fb_hs_client_finish(hs, fb_msg_data(r),
						fb_msg_len(r), &s,
						&max) != FB_OK) {
			s = NULL;
		}
	}
	*refusal = fb_hs_client_refusal(hs);
	fb_msg_free(r);
	fb_hs_client_destroy(hs);
	return s;
}

// Seals a POLL with status for round into buf (FB_SEALED_LEN(4) bytes).
static size_t
sealed_poll(struct fb_session *s, uint8_t *buf, uint8_t status, uint32_t round)
{
	struct fb_wire_poll p = {.status = status};
	size_t blen = 0;
	if (fb_wire_poll_encode(buf + FB_ENV_BODY_OFF, 4, &p, &blen) != FB_OK ||
			fb_env_seal(s, buf, FB_SEALED_LEN(blen), FB_WIRE_POLL,
					round) != FB_OK) {
		return 0;
	}
	return FB_SEALED_LEN(blen);
}

// Opens a sealed reply; returns its type (0 if it does not open).
static uint8_t
open_reply(struct fb_session *s, struct fb_msg *r, struct fb_wire_header *h,
		uint8_t **body, size_t *blen)
{
	if (r == NULL ||
			fb_env_open(s, fb_msg_data(r), fb_msg_len(r), h, body,
					blen) != FB_OK) {
		return 0;
	}
	return h->type;
}

// Polls until a PLAN TRAIN; *plan_msg keeps the plan's bytes (views).
static bool
poll_until_train(struct fb_session *s, struct fb_wire_plan *plan,
		uint32_t *round, struct fb_msg **plan_msg, uint8_t *first,
		size_t *first_len)
{
	static const struct fb_wire_limits lim = {16, 1u << 24, 4096, true};
	for (int tries = 0; tries < 600; tries++) {
		uint8_t buf[64];
		size_t len = sealed_poll(s, buf, FB_WIRE_POLL_READY, 0);
		if (first != NULL && tries == 0) {
			memcpy(first, buf, len);
			*first_len = len;
		}
		struct fb_msg *r = send_bytes(buf, len);
		struct fb_wire_header h;
		uint8_t *body;
		size_t blen;
		if (open_reply(s, r, &h, &body, &blen) != FB_WIRE_PLAN ||
				fb_wire_plan_decode(plan, body, blen, &lim) !=
						FB_OK) {
			fb_msg_free(r);
			return false;
		}
		if (plan->kind == FB_WIRE_PLAN_TRAIN) {
			*round = h.round_id;
			*plan_msg = r;
			return true;
		}
		fb_msg_free(r);
		if (plan->kind == FB_WIRE_PLAN_DONE) {
			return false;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return false;
}

// A sealed all-zero UPDATE for round, shaped like plan, into a new buffer.
static uint8_t *
sealed_update(struct fb_session *s, const struct fb_wire_plan *plan,
		uint32_t round, size_t *len)
{
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = plan->config.clip_norm;
	u.noise_multiplier = plan->config.noise_multiplier;
	u.epsilon_spent = 0;
	u.n_tensors = plan->n_tensors;
	for (uint32_t k = 0; k < plan->n_tensors; k++) {
		u.tensors[k] = plan->tensors[k];
		u.tensors[k].data = NULL;
	}
	size_t blen = fb_wire_update_len(&u);
	uint8_t *buf = aligned_alloc(16, (FB_SEALED_LEN(blen) + 15) / 16 * 16);
	if (buf == NULL ||
			fb_wire_update_encode(buf + FB_ENV_BODY_OFF, blen, &u,
					&blen, NULL) != FB_OK ||
			fb_env_seal(s, buf, FB_SEALED_LEN(blen), FB_WIRE_UPDATE,
					round) != FB_OK) {
		free(buf);
		return NULL;
	}
	*len = FB_SEALED_LEN(blen);
	return buf;
}

int
main(int argc, char **argv)
{
	if (argc != 5 || sodium_init() < 0) {
		fprintf(stderr,
				"usage: mallory URL SERVER.pub ENROLLED.key "
				"STRANGER.key\n");
		return 99;
	}
	struct fb_identity *me = NULL, *stranger = NULL;
	if (fb_peer_key_load(&server, argv[2]) != FB_OK ||
			fb_identity_load(&me, argv[3]) != FB_OK ||
			fb_identity_load(&stranger, argv[4]) != FB_OK) {
		fprintf(stderr, "mallory: %s\n", fb_last_error(FB_EIO));
		return 99;
	}
	struct fb_dialer_config dc = {argv[1], 64u << 20, 50, 500};
	if (fb_dialer_create(&dialer, &dc) != FB_OK) {
		return 99;
	}
	uint16_t refusal = 0;

	// 1. Not enrolled.
	struct fb_session *s = handshake(stranger, &refusal);
	report(s == NULL && refusal == FB_WIRE_REASON_UNKNOWN_KEY,
			"unenrolled key refused with unknown-key");
	fb_session_destroy(s);

	// 2. Replay of an earlier sealed request.
	s = handshake(me, &refusal);
	report(s != NULL, "enrolled key: session established");
	struct fb_wire_plan plan;
	uint32_t round = 0;
	struct fb_msg *plan_msg = NULL;
	uint8_t first[64];
	size_t first_len = 0;
	bool train = s != NULL &&
			poll_until_train(s, &plan, &round, &plan_msg, first,
					&first_len);
	report(train, "PLAN TRAIN received");
	if (!train) {
		printf("1..%d\n", n_checks);
		return 1;
	}
	printf("# round %u offered\n", round);
	struct fb_msg *r = send_bytes(first, first_len);
	report(plain_reason(r) == FB_WIRE_REASON_REPLAY,
			"replayed POLL refused with replay");
	fb_msg_free(r);

	// 3. A tampered UPDATE (the same session: the server's counter did
	// not move on the replay).
	size_t ulen = 0;
	uint8_t *upd = sealed_update(s, &plan, round, &ulen);
	upd[FB_ENV_BODY_OFF + 100] ^= 0x01;
	r = send_bytes(upd, ulen);
	report(plain_reason(r) == FB_WIRE_REASON_AUTH_FAILED,
			"UPDATE with a flipped byte refused with auth-failed");
	fb_msg_free(r);
	free(upd);
	fb_session_destroy(s);

	// 4. Truncated messages.
	s = handshake(me, &refusal);
	upd = s != NULL ? sealed_update(s, &plan, round, &ulen) : NULL;
	r = upd != NULL ? send_bytes(upd, ulen - 5) : NULL;
	report(plain_reason(r) == FB_WIRE_REASON_AUTH_FAILED,
			"UPDATE cut by 5 bytes refused with auth-failed");
	fb_msg_free(r);
	free(upd);
	uint8_t buf[64];
	size_t len = s != NULL ? sealed_poll(s, buf, FB_WIRE_POLL_READY, 0) : 0;
	r = len > 0 ? send_bytes(buf, 40) : NULL;
	report(plain_reason(r) == FB_WIRE_REASON_MALFORMED,
			"POLL cut to 40 bytes refused with malformed");
	fb_msg_free(r);
	fb_session_destroy(s);

	// 5. A well-sealed UPDATE for a round it was not offered.
	s = handshake(me, &refusal);
	upd = s != NULL ? sealed_update(s, &plan, round + 7, &ulen) : NULL;
	r = upd != NULL ? send_bytes(upd, ulen) : NULL;
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	struct fb_wire_reason_text e = {0};
	bool wrong = open_reply(s, r, &h, &body, &blen) == FB_WIRE_ERROR &&
			fb_wire_error_decode(&e, body, blen) == FB_OK &&
			e.reason == FB_WIRE_REASON_WRONG_ROUND;
	report(wrong,
			"UPDATE for a round not offered: sealed ERROR "
			"wrong-round");
	fb_msg_free(r);
	free(upd);
	fb_session_destroy(s);
	fb_msg_free(plan_msg);

	// 6. Decline the round and pause, so the honest rounds go on.
	s = handshake(me, &refusal);
	train = s != NULL &&
			poll_until_train(s, &plan, &round, &plan_msg, NULL,
					NULL);
	fb_msg_free(plan_msg);
	struct fb_wire_reason_text no = {
			.reason = FB_WIRE_REASON_POLICY_REFUSED};
	snprintf(no.text, sizeof(no.text), "mallory declines");
	blen = fb_wire_reason_text_len(no.text);
	uint8_t rbuf[FB_SEALED_LEN(4 + FB_WIRE_TEXT_MAX)];
	struct fb_wire_ack ack = {0};
	bool acked = train &&
			fb_wire_refuse_encode(rbuf + FB_ENV_BODY_OFF, blen, &no,
					&blen) == FB_OK &&
			fb_env_seal(s, rbuf, FB_SEALED_LEN(blen),
					FB_WIRE_REFUSE, round) == FB_OK;
	r = acked ? send_bytes(rbuf, FB_SEALED_LEN(blen)) : NULL;
	acked = acked && open_reply(s, r, &h, &body, &blen) == FB_WIRE_ACK &&
			fb_wire_ack_decode(&ack, body, blen) == FB_OK &&
			ack.status == FB_WIRE_ACK_ACCEPTED;
	fb_msg_free(r);
	report(acked, "REFUSE of the offered round acknowledged");
	len = s != NULL ? sealed_poll(s, buf, FB_WIRE_POLL_PAUSED, round) : 0;
	r = len > 0 ? send_bytes(buf, len) : NULL;
	report(open_reply(s, r, &h, &body, &blen) == FB_WIRE_PLAN,
			"PAUSED poll answered with a PLAN");
	fb_msg_free(r);
	fb_session_destroy(s);
	fb_dialer_destroy(dialer);
	fb_identity_destroy(me);
	fb_identity_destroy(stranger);
	fb_transport_fini();
	printf("1..%d\n", n_checks);
	return n_failed == 0 ? 0 : 1;
}
