// tests/integration/refuser.c: a fake aggregator that never lets a client
// take part, for test-fed-reconnect.sh (protocols/wire-v1.md §6.1): it
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeagg.h"
#include "fedbundle/util/clock.h"

#define MAX_HELLOS 4096

static const char *mode;
static double t0; // when serving began
static double hello_at[MAX_HELLOS];
static size_t n_hellos;
static unsigned errors_by_reason[32];

static void
on_sealed(struct fakeagg *fa, struct fb_request *req, int who,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen)
{
	uint8_t buf[512];
	size_t len = 0;
	if (h->type == FB_WIRE_ERROR) {
		struct fb_wire_reason_text e;
		if (fb_wire_error_decode(&e, body, blen) == FB_OK) {
			printf("# the client sent ERROR %s (round %u): %s\n",
					fb_wire_reason_name(e.reason),
					h->round_id, e.text);
			errors_by_reason[e.reason < 32 ? e.reason : 0]++;
		}
		fakeagg_reply_ack(fa, req, who, h->round_id);
	} else if (strcmp(mode, "badplan") == 0 && h->type == FB_WIRE_POLL) {
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_WAIT,
				.retry_after_ms = 100};
		if (fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL) ==
				FB_OK) {
			buf[1] = 1; // a reserved byte: it does not decode
			fakeagg_reply(fa, req, who, FB_WIRE_PLAN, 1, buf, len);
		}
	} else {
		struct fb_wire_reason_text e = {
				.reason = FB_WIRE_REASON_SERVER_BUSY};
		strcpy(e.text, "not now");
		if (fb_wire_error_encode(buf, sizeof(buf), &e, &len) == FB_OK) {
			fakeagg_reply(fa, req, who, FB_WIRE_ERROR, h->round_id,
					buf, len);
		}
	}
	if (h->type != FB_WIRE_POLL || strcmp(mode, "poll") == 0) {
		fakeagg_end_session(fa, who); // an ERROR ends it (§5.1)
	}
}

// Counts HELLOs; in mode hello refuses them all.
static bool
on_plain(struct fakeagg *fa, struct fb_request *req)
{
	(void)fa;
	const uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	if (len <= 3 || msg[3] != FB_WIRE_HELLO) {
		return false;
	}
	if (n_hellos < MAX_HELLOS) {
		hello_at[n_hellos++] = fb_clock_s() - t0;
	}
	if (strcmp(mode, "hello") != 0) {
		return false;
	}
	uint8_t out[FB_WIRE_PLAIN_ERROR_MAX];
	size_t out_len = 0;
	if (fb_wire_plain_error_encode(out, sizeof(out), 0,
			    FB_WIRE_REASON_SERVER_BUSY, "server-busy",
			    &out_len) == FB_OK) {
		fb_request_reply_copy(req, out, out_len);
	} else {
		fb_request_drop(req);
	}
	return true;
}

int
main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr,
				"usage: refuser URL AGGREGATOR.key ROSTER MODE "
				"SECONDS SKIP\n");
		return 99;
	}
	mode = argv[4];
	double seconds = atof(argv[5]), skip = atof(argv[6]);
	struct fakeagg fa;
	if (!fakeagg_init(&fa, "refuser", argv[1], argv[2], argv[3],
			    1u << 20)) {
		fakeagg_finish(&fa);
		return 99;
	}
	t0 = fb_clock_s();
	const struct fakeagg_ops ops = {
			.on_sealed = on_sealed, .on_plain = on_plain};
	fakeagg_serve(&fa, &ops, 0, (uint64_t)(seconds * 1000));
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
	fakeagg_finish(&fa);
	return 0;
}
