// tests/integration/fakeagg.c: the shared part of the fake aggregators
// (fakeagg.h). A session belongs to the roster index whose key made the
// handshake and to the connection it came on; a sealed request of an
// unknown session, or on another connection, gets ERROR_PLAIN
// unknown-session, as from the real aggregator, and never reaches the
// program.
#include "fakeagg.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/clock.h"
#include "fedbundle/util/rng.h"

bool
fakeagg_init(struct fakeagg *fa, const char *name, const char *url,
		const char *key_path, const char *roster_path, size_t recv_max)
{
	memset(fa, 0, sizeof(*fa));
	fa->name = name;
	if (sodium_init() < 0 || fb_identity_load(&fa->id, key_path) != FB_OK ||
			fb_roster_load(&fa->roster, roster_path) != FB_OK) {
		fprintf(stderr, "%s: %s\n", name, fb_last_error(FB_EIO));
		return false;
	}
	fa->n_clients = fb_roster_count(fa->roster);
	if (fa->n_clients > FAKEAGG_MAX) {
		fprintf(stderr, "%s: %s: %zu clients, at most %d\n", name,
				roster_path, fa->n_clients, FAKEAGG_MAX);
		return false;
	}
	struct fb_hs_server_config hc = {0};
	const char *urls[] = {url};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = recv_max};
	if (fb_hs_server_create(&fa->hs, fa->id, fa->roster, &hc) != FB_OK ||
			fb_listener_create(&fa->l, &lc) != FB_OK) {
		fprintf(stderr, "%s: %s\n", name, fb_last_error(FB_ENET));
		return false;
	}
	return true;
}

void
fakeagg_finish(struct fakeagg *fa)
{
	fb_listener_destroy(fa->l);
	fb_hs_server_destroy(fa->hs);
	for (size_t k = 0; k < FAKEAGG_MAX; k++) {
		fb_session_destroy(fa->s[k]);
	}
	free(fa->V);
	free(fa->W);
	fb_roster_destroy(fa->roster);
	fb_identity_destroy(fa->id);
	fb_transport_fini();
	memset(fa, 0, sizeof(*fa));
}

void
fakeagg_end_session(struct fakeagg *fa, int who)
{
	fb_session_destroy(fa->s[who]);
	fa->s[who] = NULL;
}

static void
on_handshake(struct fakeagg *fa, struct fb_request *req)
{
	uint8_t out[FB_HS_MSG_MAX];
	size_t out_len = 0;
	struct fb_session *s = NULL;
	fb_err err = fb_hs_server_handle(fa->hs, fb_clock_ms(),
			fb_request_data(req), fb_request_len(req), out,
			sizeof(out), &out_len, &s);
	if (err == FB_OK && s != NULL) {
		const uint8_t *pk = fb_session_peer_key(s);
		for (size_t c = 0; c < fa->n_clients && s != NULL; c++) {
			if (memcmp(fb_roster_at(fa->roster, c)->pk, pk,
					    FB_ID_PK_LEN) == 0) {
				fb_session_destroy(fa->s[c]);
				fa->s[c] = s;
				fa->pipe[c] = fb_request_pipe(req);
				fa->handshakes++;
				s = NULL;
			}
		}
		fb_session_destroy(s);
	}
	if (out_len > 0) {
		fb_request_reply_copy(req, out, out_len);
	} else {
		fb_request_drop(req);
	}
}

// The roster index of the session req is sealed in, or -1.
static int
session_of(const struct fakeagg *fa, struct fb_request *req)
{
	struct fb_wire_header h;
	uint8_t sid[FB_ENV_SID_LEN];
	if (fb_env_peek(fb_request_data(req), fb_request_len(req), &h, sid) !=
			FB_OK) {
		return -1;
	}
	for (size_t c = 0; c < fa->n_clients; c++) {
		if (fa->s[c] != NULL && fa->pipe[c] == fb_request_pipe(req) &&
				memcmp(fb_session_id(fa->s[c]), sid,
						FB_ENV_SID_LEN) == 0) {
			return (int)c;
		}
	}
	return -1;
}

static void
on_sealed(struct fakeagg *fa, const struct fakeagg_ops *ops,
		struct fb_request *req)
{
	int who = session_of(fa, req);
	struct fb_wire_header h;
	uint8_t *body;
	size_t blen;
	if (who < 0 ||
			fb_env_open(fa->s[who], fb_request_data(req),
					fb_request_len(req), &h, &body,
					&blen) != FB_OK) {
		printf("# a sealed message did not open\n");
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
	ops->on_sealed(fa, req, who, &h, body, blen);
}

bool
fakeagg_serve(struct fakeagg *fa, const struct fakeagg_ops *ops,
		uint64_t linger_ms, uint64_t timeout_ms)
{
	uint64_t start = fb_clock_ms(), done_at = 0;
	while (done_at == 0 || fb_clock_ms() - done_at < linger_ms) {
		if (fb_clock_ms() - start > timeout_ms) {
			return false;
		}
		if (done_at == 0 && ops->finished != NULL &&
				ops->finished(fa)) {
			done_at = fb_clock_ms();
		}
		struct fb_listener_event ev;
		if (fb_listener_wait(fa->l, 100, &ev) != FB_OK ||
				ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		size_t len = fb_request_len(ev.req);
		uint8_t type = len > 3 ? fb_request_data(ev.req)[3] : 0;
		if (fb_wire_type_is_sealed(type)) {
			on_sealed(fa, ops, ev.req);
		} else if (ops->on_plain == NULL ||
				!ops->on_plain(fa, ev.req)) {
			on_handshake(fa, ev.req);
		}
	}
	return true;
}

void
fakeagg_reply(struct fakeagg *fa, struct fb_request *req, int who, uint8_t type,
		uint32_t round, const uint8_t *body, size_t blen)
{
	struct fb_msg *m = NULL;
	if (who < 0 || fa->s[who] == NULL ||
			fb_msg_alloc(&m, FB_SEALED_LEN(blen)) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	memcpy(fb_msg_data(m) + FB_ENV_BODY_OFF, body, blen);
	if (fb_env_seal(fa->s[who], fb_msg_data(m), fb_msg_len(m), type,
			    round) != FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	fb_request_reply_take(req, m);
}

void
fakeagg_reply_plan(struct fakeagg *fa, struct fb_request *req, int who,
		uint32_t round, const struct fb_wire_plan *p)
{
	size_t len = fb_wire_plan_len(p);
	uint8_t *b = len > 0 ? malloc(len) : NULL;
	if (b == NULL || fb_wire_plan_encode(b, len, p, &len, NULL) != FB_OK) {
		printf("# cannot encode a plan: %s\n",
				fb_last_error(FB_EINVAL));
		free(b);
		fb_request_drop(req);
		return;
	}
	fakeagg_reply(fa, req, who, FB_WIRE_PLAN, round, b, len);
	free(b);
}

void
fakeagg_reply_ack(struct fakeagg *fa, struct fb_request *req, int who,
		uint32_t round)
{
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_ACCEPTED};
	uint8_t b[64];
	size_t len = 0;
	if (fb_wire_ack_encode(b, sizeof(b), &a, &len) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	fakeagg_reply(fa, req, who, FB_WIRE_ACK, round, b, len);
}

bool
fakeagg_model(struct fakeagg *fa, uint32_t n_items, uint32_t n_bundles,
		uint32_t dim, uint64_t seed)
{
	free(fa->V);
	free(fa->W);
	fa->n_items = n_items;
	fa->n_bundles = n_bundles;
	fa->dim = dim;
	fa->V = malloc((size_t)n_items * dim * sizeof(float));
	fa->W = malloc((size_t)n_bundles * dim * sizeof(float));
	if (fa->V == NULL || fa->W == NULL) {
		return false;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 0);
	for (size_t k = 0; k < (size_t)n_items * dim; k++) {
		fa->V[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	for (size_t k = 0; k < (size_t)n_bundles * dim; k++) {
		fa->W[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	return true;
}

void
fakeagg_train_plan(const struct fakeagg *fa, struct fb_wire_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = FB_WIRE_PLAN_TRAIN;
	p->deadline_ms = 60000;
	struct fb_wire_round_config *c = &p->config;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	fb_wire_hparams_defaults(&c->hp);
	c->hp.dim = fa->dim;
	p->n_tensors = 2;
	p->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, fa->n_items, fa->dim, fa->V};
	p->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, fa->n_bundles, fa->dim, fa->W};
}

void
fakeagg_check(struct fakeagg *fa, bool ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++fa->n_checks, what);
	fa->n_failed += !ok;
}

int
fakeagg_checks_end(const struct fakeagg *fa)
{
	printf("1..%d\n", fa->n_checks);
	return fa->n_failed == 0 ? 0 : 1;
}
