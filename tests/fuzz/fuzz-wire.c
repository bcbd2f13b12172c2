// tests/fuzz/fuzz-wire.c: libFuzzer target for the wire codec of
// common/net/wire.c and the envelope parsing of common/net/envelope.c. The first
// input byte picks the decoder (low 3 bits) and whether float32 payloads
// must be finite (bit 3); the rest is the body, copied to an exact-size
// buffer so ASan sees any read past it. Besides "no crash, no sanitizer
// report" it aborts when: a tensor view leaves the body or is misaligned;
// re-encoding an accepted body does not give back the same bytes (PLAN:
// the same fields, since unknown optional config fields are skipped and
// any field order is accepted); the re-encoded body does not decode again
// to the same thing; a sealed-message refusal changes the session.
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-wire: invariant broken: %s\n", what);
		abort();
	}
}

static _Alignas(16) uint8_t enc1[1 << 20];
static _Alignas(16) uint8_t enc2[1 << 20];

static void
check_views(const uint8_t *body, size_t len, uint32_t n,
		const struct fb_wire_tensor *t)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = t[i].data;
		uint64_t bytes = fb_wire_tensor_bytes(&t[i]);
		require(p >= body && p <= body + len &&
						bytes <= (uint64_t)(body + len -
									 p),
				"tensor view outside the body");
		require(((uintptr_t)p & 3) == 0, "tensor view misaligned");
	}
}

static bool
same_tensors(uint32_t n, const struct fb_wire_tensor *a,
		const struct fb_wire_tensor *b)
{
	for (uint32_t i = 0; i < n; i++) {
		if (a[i].id != b[i].id || a[i].dtype != b[i].dtype ||
				a[i].exp != b[i].exp ||
				a[i].rows != b[i].rows ||
				a[i].cols != b[i].cols ||
				memcmp(a[i].data, b[i].data,
						(size_t)fb_wire_tensor_bytes(
								&a[i])) != 0) {
			return false;
		}
	}
	return true;
}

static bool
same_secagg(const struct fb_wire_round_config *a,
		const struct fb_wire_round_config *b)
{
	if (a->has_secagg != b->has_secagg) {
		return false;
	}
	const struct fb_wire_secagg *x = &a->sa, *y = &b->sa;
	return !a->has_secagg ||
			(memcmp(x->consortium, y->consortium,
					 sizeof(x->consortium)) == 0 &&
					x->n == y->n && x->t == y->t &&
					x->n_min == y->n_min &&
					x->noise_shares == y->noise_shares &&
					x->index == y->index &&
					x->ring_bits == y->ring_bits &&
					memcmp(x->keys, y->keys,
							(size_t)x->n * FB_WIRE_SECAGG_KEY_LEN) ==
							0);
}

static bool
same_config(const struct fb_wire_round_config *a,
		const struct fb_wire_round_config *b)
{
	// Compared field by field: NaN never gets here (refused).
	return a->granularity == b->granularity &&
			a->sampling_rate == b->sampling_rate &&
			a->noise_multiplier == b->noise_multiplier &&
			a->clip_norm == b->clip_norm && a->delta == b->delta &&
			a->local_epochs == b->local_epochs &&
			a->local_steps == b->local_steps &&
			a->hp.lr == b->hp.lr && a->hp.l2 == b->hp.l2 &&
			a->hp.item_weight == b->hp.item_weight &&
			a->hp.negatives == b->hp.negatives &&
			a->hp.dim == b->hp.dim &&
			a->report_eval == b->report_eval &&
			a->update_dtype == b->update_dtype &&
			a->update_exp == b->update_exp && same_secagg(a, b);
}

static void
fuzz_plan(const uint8_t *body, size_t len, const struct fb_wire_limits *lim)
{
	struct fb_wire_plan p, q;
	if (fb_wire_plan_decode(&p, body, len, lim) != FB_OK) {
		return;
	}
	check_views(body, len, p.n_tensors, p.tensors);
	size_t n1 = 0, n2 = 0;
	require(fb_wire_plan_encode(enc1, sizeof(enc1), &p, &n1, NULL) == FB_OK,
			"accepted PLAN does not re-encode");
	require(fb_wire_plan_decode(&q, enc1, n1, lim) == FB_OK,
			"re-encoded PLAN refused");
	require(q.kind == p.kind && q.deadline_ms == p.deadline_ms &&
					q.retry_after_ms == p.retry_after_ms &&
					q.n_tensors == p.n_tensors &&
					same_tensors(p.n_tensors, p.tensors,
							q.tensors),
			"PLAN changed through re-encoding");
	require(p.kind != FB_WIRE_PLAN_TRAIN ||
					same_config(&p.config, &q.config),
			"PLAN config changed through re-encoding");
	require(fb_wire_plan_encode(enc2, sizeof(enc2), &q, &n2, NULL) ==
							FB_OK &&
					n1 == n2 && memcmp(enc1, enc2, n1) == 0,
			"PLAN encoding is not canonical");
}

static void
fuzz_update(const uint8_t *body, size_t len, const struct fb_wire_limits *lim)
{
	struct fb_wire_update u, v;
	if (fb_wire_update_decode(&u, body, len, lim) != FB_OK) {
		return;
	}
	check_views(body, len, u.n_tensors, u.tensors);
	size_t n = 0;
	require(fb_wire_update_encode(enc1, sizeof(enc1), &u, &n, NULL) ==
					FB_OK,
			"accepted UPDATE does not re-encode");
	require(n == len && memcmp(enc1, body, len) == 0,
			"UPDATE re-encoding differs");
	require(fb_wire_update_decode(&v, enc1, n, lim) == FB_OK &&
					same_tensors(u.n_tensors, u.tensors,
							v.tensors),
			"re-encoded UPDATE refused or changed");
}

static void
fuzz_texts(uint8_t which, const uint8_t *body, size_t len)
{
	size_t n = 0;
	if (which == 0) {
		struct fb_wire_poll p;
		if (fb_wire_poll_decode(&p, body, len) != FB_OK) {
			return;
		}
		require(fb_wire_poll_encode(enc1, sizeof(enc1), &p, &n) ==
						FB_OK,
				"POLL does not re-encode");
	} else if (which == 4) {
		struct fb_wire_ack a;
		if (fb_wire_ack_decode(&a, body, len) != FB_OK) {
			return;
		}
		require(strlen(a.text) <= FB_WIRE_TEXT_MAX,
				"ACK text too long");
		require(fb_wire_ack_encode(enc1, sizeof(enc1), &a, &n) == FB_OK,
				"ACK does not re-encode");
	} else {
		struct fb_wire_reason_text r;
		fb_err err = which == 3 ? fb_wire_refuse_decode(&r, body, len)
					: fb_wire_error_decode(&r, body, len);
		if (err != FB_OK) {
			return;
		}
		require(strlen(r.text) <= FB_WIRE_TEXT_MAX, "text too long");
		err = which == 3 ? fb_wire_refuse_encode(
						   enc1, sizeof(enc1), &r, &n)
				 : fb_wire_error_encode(
						   enc1, sizeof(enc1), &r, &n);
		require(err == FB_OK, "REFUSE/ERROR does not re-encode");
	}
	require(n == len && memcmp(enc1, body, len) == 0,
			"re-encoding differs from the accepted body");
}

// Whole messages: header, plaintext ERROR, and the envelope's checks in
// front of the tag (a random tag never verifies).
static void
fuzz_message(uint8_t *msg, size_t len)
{
	static struct fb_session *s;
	if (s == NULL) {
		static const uint8_t sid[16] = {1}, k[32] = {2}, pk[32] = {3};
		if (sodium_init() < 0 ||
				fb_session_create(&s, 1, sid, k, k, pk,
						"peer") != FB_OK) {
			abort();
		}
	}
	struct fb_wire_header h;
	if (fb_wire_header_decode(&h, msg, len) != FB_OK) {
		return;
	}
	if (h.type == FB_WIRE_ERROR_PLAIN) {
		struct fb_wire_reason_text r;
		if (fb_wire_error_decode(&r, msg + 8, len - 8) == FB_OK) {
			require(strlen(r.text) <= FB_WIRE_TEXT_MAX, "text");
		}
	}
	uint8_t sid[FB_ENV_SID_LEN];
	if (fb_env_peek(msg, len, &h, sid) != FB_OK) {
		return;
	}
	uint64_t rx = fb_session_rx_seq(s);
	uint8_t *body = NULL;
	size_t blen = 0;
	fb_err err = fb_env_open(s, msg, len, &h, &body, &blen);
	require(err != FB_OK || blen == FB_SEALED_BODY_LEN(len),
			"opened body length");
	require(err == FB_OK || fb_session_rx_seq(s) == rx,
			"refused message changed the session");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20)) {
		return 0;
	}
	uint8_t sel = data[0];
	size_t len = size - 1;
	uint8_t *body = malloc(len > 0 ? len : 1); // malloc: 16-byte aligned
	if (body == NULL) {
		return 0;
	}
	memcpy(body, data + 1, len);
	const struct fb_wire_limits lim = {
			.max_tensors = FB_WIRE_MAX_TENSORS,
			.max_rows = 1u << 20,
			.max_cols = 4096,
			.require_finite = (sel & 8) != 0,
	};
	switch (sel & 7) {
	case 1:
		fuzz_plan(body, len, &lim);
		break;
	case 2:
		fuzz_update(body, len, &lim);
		break;
	case 6:
	case 7:
		fuzz_message(body, len);
		break;
	default:
		fuzz_texts(sel & 7, body, len);
		break;
	}
	free(body);
	return 0;
}
