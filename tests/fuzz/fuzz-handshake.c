// tests/fuzz/fuzz-handshake.c: libFuzzer target for the handshake state
// machines of common/net/handshake.c. Randomness is a deterministic stream
// (tests only) restarted for every input, so every input replays exactly.
// The first byte picks what the rest of the input becomes:
//   0  a request to a fresh server (HELLO, AUTH or anything)
//   1  the client's WELCOME, then the client's AUTH_OK
//   2  bytes XORed onto the genuine HELLO before the server sees it
//   3  bytes XORed onto the genuine WELCOME
//   4  bytes XORed onto the genuine AUTH
//   5  bytes XORed onto the genuine AUTH_OK
// It aborts when: a reply is longer than FB_HS_MSG_MAX; a refusal's reply is
// not a well-formed plaintext ERROR; the pending table exceeds its bound; a
// tampered message is accepted; or, after a refusal, the genuine message is
// no longer accepted (refusals must not change state).
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-handshake: invariant broken: %s\n", what);
		abort();
	}
}

// Deterministic randombytes: ChaCha20 (randombytes_buf_deterministic) of
// a fixed seed and a draw counter restarted for each input.
static uint64_t draws;

static void
det_buf(void *const buf, const size_t size)
{
	uint8_t seed[32] = {0x66, 0x75, 0x7a, 0x7a};
	memcpy(seed + 8, &draws, sizeof(draws));
	draws++;
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t
det_random(void)
{
	uint32_t r;
	det_buf(&r, sizeof(r));
	return r;
}

static const char *
det_name(void)
{
	return "fuzz-deterministic";
}

static randombytes_implementation det_impl = {
		.implementation_name = det_name,
		.random = det_random,
		.buf = det_buf,
};

static struct fb_identity *server_id, *client_id;
static struct fb_roster *roster;
static struct fb_peer_key pin;

static void
setup(void)
{
	static bool done;
	if (done) {
		return;
	}
	randombytes_set_implementation(&det_impl);
	if (sodium_init() < 0) {
		abort();
	}
	uint8_t seed[32];
	memset(seed, 0x53, 32);
	fb_err e1 = fb_identity_from_seed(&server_id, seed, "aggregator");
	memset(seed, 0x43, 32);
	fb_err e2 = fb_identity_from_seed(&client_id, seed, "retailer-a");
	if (e1 != FB_OK || e2 != FB_OK || fb_roster_create(&roster) != FB_OK ||
			fb_roster_add(roster, fb_identity_public_key(client_id),
					"retailer-a") != FB_OK) {
		abort();
	}
	memcpy(pin.pk, fb_identity_public_key(server_id), 32);
	strcpy(pin.name, "aggregator");
	done = true;
}

static const struct fb_hs_server_config cfg = {
		.max_pending = 4,
		.max_age_ms = 1000,
		.max_msg_len = 4096,
};

// Checks a server reply: bounded, and an ERROR whenever err != FB_OK.
static void
check_reply(fb_err err, const uint8_t *out, size_t len)
{
	require(len <= FB_HS_MSG_MAX, "reply longer than FB_HS_MSG_MAX");
	if (err == FB_OK) {
		return;
	}
	struct fb_wire_header h;
	struct fb_wire_reason_text e;
	require(fb_wire_header_decode(&h, out, len) == FB_OK &&
					h.type == FB_WIRE_ERROR_PLAIN &&
					h.ver == FB_WIRE_VERSION_FROZEN &&
					fb_wire_error_decode(&e, out + 8,
							len - 8) == FB_OK &&
					e.reason != 0,
			"refusal without a well-formed ERROR reply");
}

// XORs mask onto msg (up to len bytes); true if anything changed.
static bool
apply(uint8_t *msg, size_t len, const uint8_t *mask, size_t n)
{
	bool changed = false;
	for (size_t i = 0; i < n && i < len; i++) {
		msg[i] ^= mask[i];
		changed |= mask[i] != 0;
	}
	return changed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1 || size > 4096) {
		return 0;
	}
	draws = 0;
	uint8_t mode = data[0] % 6;
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	uint8_t *copy = malloc(n > 0 ? n : 1); // exact size for ASan
	if (copy == NULL) {
		return 0;
	}
	memcpy(copy, in, n);

	struct fb_hs_server *s = NULL;
	struct fb_hs_client *c = NULL;
	struct fb_session *cs = NULL, *ss = NULL;
	uint8_t hello[FB_HS_MSG_MAX], welcome[FB_HS_MSG_MAX];
	uint8_t auth[FB_HS_MSG_MAX], auth_ok[FB_HS_MSG_MAX];
	uint8_t out[FB_HS_MSG_MAX], tmp[FB_HS_MSG_MAX];
	size_t hl = 0, wl = 0, al = 0, okl = 0, ol = 0;
	uint64_t max = 0;
	fb_err err;
	if (fb_hs_server_create(&s, server_id, roster, &cfg) != FB_OK ||
			fb_hs_client_create(&c, client_id, &pin) != FB_OK) {
		abort();
	}

	if (mode == 0) {
		// Several requests from one input: split at 0xff 0xff.
		uint64_t now = 0;
		size_t start = 0;
		for (size_t i = 0; i <= n; i++) {
			if (i < n &&
					!(i + 1 < n && copy[i] == 0xff &&
							copy[i + 1] == 0xff)) {
				continue;
			}
			struct fb_session *got = NULL;
			err = fb_hs_server_handle(s, now, copy + start,
					i - start, out, sizeof(out), &ol, &got);
			check_reply(err, out, ol);
			require(fb_hs_server_pending(s) <= cfg.max_pending,
					"pending table over its bound");
			require((err == FB_OK) == (ol > 0 && out[3] != 0x0f),
					"reply type does not match the result");
			fb_session_destroy(got);
			now += 300;
			start = i + 2;
			i++;
		}
		goto done;
	}

	// The genuine exchange, up to the message being fuzzed.
	require(fb_hs_client_hello(c, hello, sizeof(hello), &hl) == FB_OK,
			"hello");
	if (mode == 2) {
		memcpy(tmp, hello, hl);
		bool changed = apply(tmp, hl, copy, n);
		err = fb_hs_server_handle(
				s, 0, tmp, hl, out, sizeof(out), &ol, &ss);
		check_reply(err, out, ol);
		if (err == FB_OK) {
			err = fb_hs_client_welcome(
					c, out, ol, auth, sizeof(auth), &al);
			require(err == FB_OK || changed,
					"genuine HELLO did not complete");
			require(err != FB_OK || !changed,
					"tampered HELLO accepted by the client");
		}
		goto done;
	}
	require(fb_hs_server_handle(s, 0, hello, hl, welcome, sizeof(welcome),
				&wl, &ss) == FB_OK,
			"server refused the genuine HELLO");
	if (mode == 1 || mode == 3) {
		const uint8_t *w = copy;
		size_t len = n;
		bool changed = true;
		if (mode == 3) {
			memcpy(tmp, welcome, wl);
			changed = apply(tmp, wl, copy, n);
			w = tmp;
			len = wl;
		} else if (n == wl && memcmp(copy, welcome, wl) == 0) {
			changed = false;
		}
		err = fb_hs_client_welcome(c, w, len, out, sizeof(out), &ol);
		require(err != FB_OK || !changed, "tampered WELCOME accepted");
		if (err != FB_OK) {
			// State unchanged: the genuine WELCOME still works.
			require(fb_hs_client_welcome(c, welcome, wl, auth,
						sizeof(auth), &al) == FB_OK,
					"genuine WELCOME refused after a "
					"refusal");
		} else {
			memcpy(auth, out, ol);
			al = ol;
		}
	} else {
		require(fb_hs_client_welcome(c, welcome, wl, auth, sizeof(auth),
					&al) == FB_OK,
				"genuine WELCOME refused");
	}
	if (mode == 4) {
		memcpy(tmp, auth, al);
		bool changed = apply(tmp, al, copy, n);
		err = fb_hs_server_handle(
				s, 1, tmp, al, out, sizeof(out), &ol, &ss);
		check_reply(err, out, ol);
		require(err != FB_OK || !changed, "tampered AUTH accepted");
		require(fb_hs_server_pending(s) == (err == FB_OK ? 0 : 1),
				"pending table changed by a refused AUTH");
		if (err == FB_OK) {
			goto done;
		}
	}
	require(fb_hs_server_handle(s, 1, auth, al, auth_ok, sizeof(auth_ok),
				&okl, &ss) == FB_OK,
			"genuine AUTH refused");
	if (mode == 1 || mode == 5) {
		uint8_t *m = copy;
		size_t len = n;
		bool changed = true;
		if (mode == 5) {
			memcpy(tmp, auth_ok, okl);
			changed = apply(tmp, okl, copy, n);
			m = tmp;
			len = okl;
		}
		err = fb_hs_client_finish(c, m, len, &cs, &max);
		require(err != FB_OK || !changed, "tampered AUTH_OK accepted");
		if (err == FB_OK) {
			goto done;
		}
	}
	require(fb_hs_client_finish(c, auth_ok, okl, &cs, &max) == FB_OK &&
					max == cfg.max_msg_len,
			"genuine AUTH_OK refused after a refusal");
done:
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_hs_client_destroy(c);
	fb_hs_server_destroy(s);
	free(copy);
	return 0;
}
