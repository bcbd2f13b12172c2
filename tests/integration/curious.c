// tests/integration/curious.c: a curious fake aggregator for
// test-fed-privacy.sh. It speaks protocols/wire-v1.md with the common
// primitives (transport listener, fb_hs_server, envelope, wire) to two
// real fedbundle-client processes with very different data, and looks at
// what a curious aggregator sees in their UPDATEs:
//   round 1, granularity none (control): the delta of an item that none
//   of the client's users interacted with is exactly zero for many such
//   items (with l2 = 0, no bundle or user item view and no attributes, an
//   item's factors move only if it was a positive or a sampled negative);
//   round 2, granularity user: every coordinate of the update is noised,
//   so no coordinate of the untouched items (nor of anything else) is
//   exactly zero, both clients' UPDATEs have exactly the same size, and
//   nothing computed from the customers leaves un-noised (the local loss
//   and the metric sums are 0; in round 1 the loss is sent).
// The oracle (which items a client's users touched) comes from the
// clients' dataset folders, which a real aggregator never sees.
// Prints TAP; exit 0 if every check holds.
// usage: curious URL AGGREGATOR.key ROSTER DATA_0 DATA_1
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/rng.h"

#define DIM 16

struct client {
	struct fb_dataset *ds;
	uint8_t *touched; // items in some user's U-I row
	uint32_t n_untouched;
	struct fb_session *s;
	uint32_t pipe;
	int phase;            // 0: round 1 next, 1: round 2 next, 2: done
	size_t update_len[2]; // sealed UPDATE sizes of rounds 1 and 2
	// What each round's UPDATE says beside its tensors.
	double loss[2], metric_sums[2];
	uint32_t eval_users[2];
	uint64_t zero_rows_untouched[2];
	uint64_t zero_coords_untouched[2];
	uint64_t zero_coords_all[2];
};

static struct client clients[2];
static const struct fb_roster *roster;
static float *V, *W;
static uint32_t n_items, n_bundles;
static int n_checks, n_failed;

static void
report(bool ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n_checks, what);
	n_failed += !ok;
}

static struct fb_wire_plan
make_plan(int round)
{
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 60000;
	struct fb_wire_round_config *c = &p.config;
	c->granularity = round == 1 ? FB_WIRE_GRAN_NONE : FB_WIRE_GRAN_USER;
	c->sampling_rate = round == 1 ? 1.0 : 0.5;
	c->noise_multiplier = round == 1 ? 0.0 : 1.0;
	c->clip_norm = 1.0;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = round == 1 ? 0 : 1;
	c->hp.lr = 0.01;
	c->hp.l2 = 0;
	c->hp.item_weight = 1.0;
	c->hp.negatives = 1;
	c->hp.dim = DIM;
	c->report_eval = false;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	fb_wire_hparams_defaults(&c->hp);
	c->hp.item_view = false;
	c->hp.use_attrs = false;
	c->hp.user_item_view = false;
	p.n_tensors = 2;
	p.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, n_items, DIM, V};
	p.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, n_bundles, DIM, W};
	return p;
}

static void
reply_sealed(struct fb_request *req, struct client *cl, uint8_t type,
		uint32_t round, const void *body_src, size_t blen,
		fb_err (*encode)(uint8_t *, size_t, const void *, size_t *))
{
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, FB_SEALED_LEN(blen)) != FB_OK ||
			encode(fb_msg_data(m) + FB_ENV_BODY_OFF, blen, body_src,
					&blen) != FB_OK ||
			fb_env_seal(cl->s, fb_msg_data(m), fb_msg_len(m), type,
					round) != FB_OK) {
		fb_msg_free(m);
		fb_request_drop(req);
		return;
	}
	fb_request_reply_take(req, m);
}

static fb_err
enc_plan(uint8_t *b, size_t cap, const void *p, size_t *len)
{
	return fb_wire_plan_encode(b, cap, p, len, NULL);
}

static fb_err
enc_ack(uint8_t *b, size_t cap, const void *a, size_t *len)
{
	return fb_wire_ack_encode(b, cap, a, len);
}

static void
analyse(struct client *cl, int r, const uint8_t *body, size_t len)
{
	struct fb_wire_limits lim = {16, n_items, DIM, true};
	struct fb_wire_update u;
	if (fb_wire_update_decode(&u, body, len, &lim) != FB_OK) {
		printf("# UPDATE does not decode: %s\n",
				fb_last_error(FB_EPROTO));
		return;
	}
	cl->loss[r] = u.train_loss;
	cl->metric_sums[r] = u.recall_sum + u.ndcg_sum;
	cl->eval_users[r] = u.eval_users;
	for (uint32_t k = 0; k < u.n_tensors; k++) {
		const struct fb_wire_tensor *t = &u.tensors[k];
		const float *x = t->data;
		for (uint32_t i = 0; i < t->rows; i++) {
			uint32_t zeros = 0;
			for (uint32_t j = 0; j < t->cols; j++) {
				zeros += x[(size_t)i * t->cols + j] == 0.0f;
			}
			cl->zero_coords_all[r] += zeros;
			if (t->id == FB_WIRE_TENSOR_ITEMS && !cl->touched[i]) {
				cl->zero_coords_untouched[r] += zeros;
				cl->zero_rows_untouched[r] += zeros == t->cols;
			}
		}
	}
}

static void
on_sealed(struct fb_request *req)
{
	uint8_t *msg = fb_request_data(req);
	size_t len = fb_request_len(req);
	struct fb_wire_header h;
	uint8_t sid[FB_ENV_SID_LEN];
	struct client *cl = NULL;
	if (fb_env_peek(msg, len, &h, sid) == FB_OK) {
		for (int c = 0; c < 2; c++) {
			if (clients[c].s != NULL &&
					memcmp(fb_session_id(clients[c].s), sid,
							FB_ENV_SID_LEN) == 0) {
				cl = &clients[c];
			}
		}
	}
	uint8_t *body;
	size_t blen;
	if (cl == NULL ||
			fb_env_open(cl->s, msg, len, &h, &body, &blen) !=
					FB_OK) {
		printf("# a sealed message did not open\n");
		fb_request_drop(req);
		return;
	}
	struct fb_wire_poll poll;
	if (h.type == FB_WIRE_POLL &&
			fb_wire_poll_decode(&poll, body, blen) == FB_OK &&
			poll.status == FB_WIRE_POLL_UPLOAD) {
		// An honest aggregator's answer: upload now.
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_UPLOAD,
				.deadline_ms = 60000};
		reply_sealed(req, cl, FB_WIRE_PLAN, h.round_id, &p,
				fb_wire_plan_len(&p), enc_plan);
		return;
	}
	if (h.type == FB_WIRE_POLL) {
		struct fb_wire_plan p;
		if (cl->phase < 2) {
			p = make_plan(cl->phase + 1);
		} else {
			memset(&p, 0, sizeof(p));
			p.kind = FB_WIRE_PLAN_DONE;
		}
		reply_sealed(req, cl, FB_WIRE_PLAN,
				(uint32_t)(cl->phase < 2 ? cl->phase + 1 : 2),
				&p, fb_wire_plan_len(&p), enc_plan);
		if (cl->phase == 2) {
			cl->phase = 3;
		}
		return;
	}
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_ACCEPTED};
	if (h.type == FB_WIRE_UPDATE && cl->phase < 2 &&
			h.round_id == (uint32_t)cl->phase + 1) {
		cl->update_len[cl->phase] = len;
		analyse(cl, cl->phase, body, blen);
		cl->phase++;
	} else if (h.type == FB_WIRE_REFUSE) {
		struct fb_wire_reason_text r;
		if (fb_wire_refuse_decode(&r, body, blen) == FB_OK) {
			printf("# client refused round %u: %s\n", h.round_id,
					r.text);
		}
		cl->phase = 3;
	}
	reply_sealed(req, cl, FB_WIRE_ACK, h.round_id, &a, fb_wire_ack_len(""),
			enc_ack);
}

static void
on_handshake(struct fb_hs_server *hs, struct fb_request *req)
{
	uint8_t out[FB_HS_MSG_MAX];
	size_t out_len = 0;
	struct fb_session *s = NULL;
	fb_err err = fb_hs_server_handle(hs, fb_clock_ms(),
			fb_request_data(req), fb_request_len(req), out,
			sizeof(out), &out_len, &s);
	if (err == FB_OK && s != NULL) {
		const uint8_t *pk = fb_session_peer_key(s);
		for (int c = 0; c < 2; c++) {
			if (memcmp(fb_roster_at(roster, (size_t)c)->pk, pk,
					    FB_ID_PK_LEN) == 0) {
				fb_session_destroy(clients[c].s);
				clients[c].s = s;
				s = NULL;
			}
		}
		fb_session_destroy(s);
	}
	fb_request_reply_copy(req, out, out_len);
}

int
main(int argc, char **argv)
{
	if (argc != 6 || sodium_init() < 0) {
		fprintf(stderr,
				"usage: curious URL AGGREGATOR.key ROSTER DATA_0 "
				"DATA_1\n");
		return 99;
	}
	struct fb_identity *id = NULL;
	struct fb_roster *r = NULL;
	if (fb_identity_load(&id, argv[2]) != FB_OK ||
			fb_roster_load(&r, argv[3]) != FB_OK ||
			fb_roster_count(r) != 2) {
		fprintf(stderr, "curious: %s\n", fb_last_error(FB_EIO));
		return 99;
	}
	roster = r;
	for (int c = 0; c < 2; c++) {
		struct client *cl = &clients[c];
		if (fb_dataset_load(&cl->ds, argv[4 + c]) != FB_OK) {
			fprintf(stderr, "curious: %s\n", fb_last_error(FB_EIO));
			return 99;
		}
		n_items = cl->ds->n_items;
		n_bundles = cl->ds->n_bundles;
		cl->touched = calloc(n_items, 1);
		for (uint64_t k = 0; k < fb_csr_nnz(&cl->ds->ui); k++) {
			cl->touched[cl->ds->ui.col[k]] = 1;
		}
		for (uint32_t i = 0; i < n_items; i++) {
			cl->n_untouched += !cl->touched[i];
		}
		printf("# client %d: %u users, %llu U-I pairs, %u of %u items "
		       "untouched by its users\n",
				c, cl->ds->n_users,
				(unsigned long long)fb_csr_nnz(&cl->ds->ui),
				cl->n_untouched, n_items);
	}
	V = malloc((size_t)n_items * DIM * sizeof(float));
	W = malloc((size_t)n_bundles * DIM * sizeof(float));
	struct fb_rng rng;
	fb_rng_seed(&rng, 7, 0);
	for (size_t k = 0; k < (size_t)n_items * DIM; k++) {
		V[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	for (size_t k = 0; k < (size_t)n_bundles * DIM; k++) {
		W[k] = (float)(0.1 * fb_rng_normal(&rng));
	}
	struct fb_hs_server *hs = NULL;
	struct fb_hs_server_config hc = {0};
	const char *urls[] = {argv[1]};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 16u << 20};
	struct fb_listener *l = NULL;
	if (fb_hs_server_create(&hs, id, roster, &hc) != FB_OK ||
			fb_listener_create(&l, &lc) != FB_OK) {
		fprintf(stderr, "curious: %s\n", fb_last_error(FB_ENET));
		return 99;
	}
	uint64_t start = fb_clock_ms();
	while (clients[0].phase < 3 || clients[1].phase < 3) {
		if (fb_clock_ms() - start > 120000) {
			printf("# timed out\n");
			break;
		}
		struct fb_listener_event ev;
		if (fb_listener_wait(l, 100, &ev) != FB_OK ||
				ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		uint8_t type = fb_request_len(ev.req) > 3
				? fb_request_data(ev.req)[3]
				: 0;
		if (fb_wire_type_is_sealed(type)) {
			on_sealed(ev.req);
		} else {
			on_handshake(hs, ev.req);
		}
	}
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL); // let the DONE replies leave
	for (int c = 0; c < 2; c++) {
		struct client *cl = &clients[c];
		printf("# client %d: UPDATE sizes %zu and %zu bytes; round 1 "
		       "(none): %llu of %u untouched item rows exactly zero; "
		       "round 2 (user): %llu zero coordinates (%llu in "
		       "untouched rows)\n",
				c, cl->update_len[0], cl->update_len[1],
				(unsigned long long)cl->zero_rows_untouched[0],
				cl->n_untouched,
				(unsigned long long)cl->zero_coords_all[1],
				(unsigned long long)
						cl->zero_coords_untouched[1]);
	}
	struct client *a = &clients[0], *b = &clients[1];
	report(a->phase == 3 && b->phase == 3,
			"both clients answered both "
			"rounds");
	report(a->update_len[0] > 0 && a->update_len[0] == b->update_len[0],
			"round 1: both UPDATEs have the same size");
	report(a->update_len[1] > 0 && a->update_len[1] == b->update_len[1],
			"round 2: both UPDATEs have the same size");
	report(a->ds->n_users != b->ds->n_users,
			"the two clients have different numbers of users");
	report(a->zero_rows_untouched[0] > 0 && b->zero_rows_untouched[0] > 0,
			"control: without privacy, untouched items have "
			"exactly zero deltas");
	report(a->update_len[1] > 0 && a->zero_coords_untouched[1] == 0 &&
					b->zero_coords_untouched[1] == 0,
			"user-level DP: no untouched item has a zero coordinate");
	report(a->update_len[1] > 0 && a->zero_coords_all[1] == 0 &&
					b->zero_coords_all[1] == 0,
			"user-level DP: every coordinate of the update is "
			"non-zero");
	report(a->loss[0] > 0 && b->loss[0] > 0,
			"control: without privacy, the local loss is sent");
	report(a->update_len[1] > 0 && a->loss[1] == 0 && b->loss[1] == 0 &&
					a->metric_sums[1] == 0 &&
					b->metric_sums[1] == 0 &&
					a->eval_users[1] == 0 &&
					b->eval_users[1] == 0,
			"user-level DP: no loss, metric or count leaves "
			"un-noised");
	printf("1..%d\n", n_checks);
	fb_listener_destroy(l);
	fb_hs_server_destroy(hs);
	for (int c = 0; c < 2; c++) {
		fb_session_destroy(clients[c].s);
		fb_dataset_destroy(clients[c].ds);
		free(clients[c].touched);
	}
	free(V);
	free(W);
	fb_roster_destroy(r);
	fb_identity_destroy(id);
	fb_transport_fini();
	return n_failed == 0 ? 0 : 1;
}
