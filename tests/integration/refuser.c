// tests/integration/refuser.c: a fake aggregator that never lets a client
// take part, for test-fed-backoff.sh (protocols/wire-v1.md §6.1): it
// counts the client's handshakes to check that they back off. Modes:
//   hello    every HELLO is refused with ERROR_PLAIN server-busy;
//   poll     handshakes succeed, every POLL is answered with a sealed
//            ERROR server-busy (the session ends);
//   badplan  handshakes succeed, every READY POLL gets a PLAN whose
//            body does not decode (a reserved byte set): the client
//            must answer with a sealed ERROR malformed, which is
//            acknowledged.
// It serves for SECONDS, then prints the number of HELLOs, the most in
// any one second from SKIP seconds after the first on (the backoff's
// steady state), and the client's sealed ERRORs by reason; exit 0.
// usage: refuser URL AGGREGATOR.key ROSTER MODE SECONDS SKIP
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/clock.h"

#define MAX_HELLOS 4096

static struct fb_session *session; // the latest one
static uint32_t session_pipe;
static double hello_at[MAX_HELLOS];
static size_t n_hellos;
static unsigned errors_by_reason[32];

// Seals body (blen bytes at FB_ENV_BODY_OFF of a new message) and replies.
static void
reply_sealed(struct fb_request *req, uint8_t type, uint32_t round,
		const uint8_t *body, size_t blen)
{
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, FB_SEALED_LEN(blen)) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	memcpy(fb_msg_data(m) + FB_ENV_BODY_OFF, body, blen);
	if (fb_env_seal(session, fb_msg_data(m), fb_msg_len(m), type, round) !=
			FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	fb_request_reply_take(req, m);
}

static void
on_sealed(struct fb_request *req, const char *mode)
{
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	if (session == NULL || fb_request_pipe(req) != session_pipe ||
			fb_env_open(session, fb_request_data(req),
					fb_request_len(req), &h, &body,
					&blen) != FB_OK) {
		uint8_t out[FB_WIRE_PLAIN_ERROR_MAX];
		size_t len = 0;
		if (fb_wire_plain_error_encode(out, sizeof(out), 0,
				    FB_WIRE_REASON_UNKNOWN_SESSION,
				    "unknown-session", &len) == FB_OK) {
			fb_request_reply_copy(req, out, len);
		} else {
			fb_request_drop(req);
		}
		return;
	}
	uint8_t buf[512];
	size_t len = 0;
	if (h.type == FB_WIRE_ERROR) {
		struct fb_wire_reason_text e;
		if (fb_wire_error_decode(&e, body, blen) == FB_OK) {
			printf("# the client sent ERROR %s (round %u): %s\n",
					fb_wire_reason_name(e.reason),
					h.round_id, e.text);
			errors_by_reason[e.reason < 32 ? e.reason : 0]++;
		}
		struct fb_wire_ack a = {.status = FB_WIRE_ACK_ACCEPTED};
		if (fb_wire_ack_encode(buf, sizeof(buf), &a, &len) == FB_OK) {
			reply_sealed(req, FB_WIRE_ACK, h.round_id, buf, len);
		}
	} else if (strcmp(mode, "badplan") == 0 && h.type == FB_WIRE_POLL) {
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_WAIT,
				.retry_after_ms = 100};
		if (fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL) ==
				FB_OK) {
			buf[1] = 1; // a reserved byte: it does not decode
			reply_sealed(req, FB_WIRE_PLAN, 1, buf, len);
		}
	} else {
		struct fb_wire_reason_text e = {
				.reason = FB_WIRE_REASON_SERVER_BUSY};
		strcpy(e.text, "not now");
		if (fb_wire_error_encode(buf, sizeof(buf), &e, &len) == FB_OK) {
			reply_sealed(req, FB_WIRE_ERROR, h.round_id, buf, len);
		}
	}
	if (h.type != FB_WIRE_POLL || strcmp(mode, "poll") == 0) {
		fb_session_destroy(session); // an ERROR ends it (§5.1)
		session = NULL;
	}
}

static void
on_plain(struct fb_request *req, struct fb_hs_server *hs, const char *mode,
		double t0)
{
	const uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	uint8_t out[FB_HS_MSG_MAX];
	size_t out_len = 0;
	if (len > 3 && msg[3] == FB_WIRE_HELLO) {
		if (n_hellos < MAX_HELLOS) {
			hello_at[n_hellos++] = fb_clock_s() - t0;
		}
		if (strcmp(mode, "hello") == 0) {
			if (fb_wire_plain_error_encode(out, sizeof(out), 0,
					    FB_WIRE_REASON_SERVER_BUSY,
					    "server-busy", &out_len) == FB_OK) {
				fb_request_reply_copy(req, out, out_len);
			} else {
				fb_request_drop(req);
			}
			return;
		}
	}
	struct fb_session *s = NULL;
	fb_err err = fb_hs_server_handle(hs,
			(uint64_t)((fb_clock_s() - t0) * 1000), msg, len, out,
			sizeof(out), &out_len, &s);
	if (err == FB_OK && s != NULL) {
		fb_session_destroy(session);
		session = s;
		session_pipe = fb_request_pipe(req);
	}
	if (out_len > 0) {
		fb_request_reply_copy(req, out, out_len);
	} else {
		fb_request_drop(req);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 7 || sodium_init() < 0) {
		fprintf(stderr,
				"usage: refuser URL AGGREGATOR.key ROSTER MODE "
				"SECONDS SKIP\n");
		return 99;
	}
	const char *mode = argv[4];
	double seconds = atof(argv[5]), skip = atof(argv[6]);
	struct fb_identity *id = NULL;
	struct fb_roster *roster = NULL;
	struct fb_hs_server *hs = NULL;
	struct fb_hs_server_config hc = {0}; // max_msg_len not announced
	const char *urls[] = {argv[1]};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 1u << 20};
	struct fb_listener *l = NULL;
	if (fb_identity_load(&id, argv[2]) != FB_OK ||
			fb_roster_load(&roster, argv[3]) != FB_OK ||
			fb_hs_server_create(&hs, id, roster, &hc) != FB_OK ||
			fb_listener_create(&l, &lc) != FB_OK) {
		fprintf(stderr, "refuser: %s\n", fb_last_error(FB_EIO));
		return 99;
	}
	double t0 = fb_clock_s();
	while (fb_clock_s() - t0 < seconds) {
		struct fb_listener_event ev;
		if (fb_listener_wait(l, 100, &ev) != FB_OK ||
				ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		size_t len = fb_request_len(ev.req);
		uint8_t type = len > 3 ? fb_request_data(ev.req)[3] : 0;
		if (fb_wire_type_is_sealed(type)) {
			on_sealed(ev.req, mode);
		} else {
			on_plain(ev.req, hs, mode, t0);
		}
	}
	size_t peak = 0;
	for (size_t i = 0; i < n_hellos; i++) {
		if (hello_at[i] < hello_at[0] + skip) {
			continue;
		}
		size_t k = i;
		while (k < n_hellos && hello_at[k] < hello_at[i] + 1.0) {
			k++;
		}
		peak = k - i > peak ? k - i : peak;
	}
	for (size_t i = 0; i < n_hellos; i++) {
		printf("# HELLO at %.3f s\n", hello_at[i]);
	}
	printf("hellos %zu\nmax_per_second %zu\nerror_malformed %u\n"
	       "error_unexpected %u\n",
			n_hellos, peak,
			errors_by_reason[FB_WIRE_REASON_MALFORMED],
			errors_by_reason[FB_WIRE_REASON_UNEXPECTED]);
	fflush(stdout);
	fb_session_destroy(session);
	fb_listener_destroy(l);
	fb_hs_server_destroy(hs);
	fb_roster_destroy(roster);
	fb_identity_destroy(id);
	fb_transport_fini();
	return 0;
}
