// tests/integration/curious.c: a curious fake aggregator for
// test-fed-privacy.sh. It speaks protocols/wire-v1.md through the shared
// fake aggregator (fakeagg.h) to two real fedbundle-client processes
// with very different data, and looks at
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeagg.h"
#include "fedbundle/data/dataset.h"

#define DIM 16

struct client {
	struct fb_dataset *ds;
	uint8_t *touched; // items in some user's U-I row
	uint32_t n_untouched;
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
static uint32_t n_items;

static struct fb_wire_plan
make_plan(const struct fakeagg *fa, int round)
{
	struct fb_wire_plan p;
	fakeagg_train_plan(fa, &p);
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
	c->hp.item_view = false;
	c->hp.use_attrs = false;
	c->hp.user_item_view = false;
	return p;
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
on_sealed(struct fakeagg *fa, struct fb_request *req, int who,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen)
{
	struct client *cl = &clients[who];
	struct fb_wire_poll poll;
	if (h->type == FB_WIRE_POLL &&
			fb_wire_poll_decode(&poll, body, blen) == FB_OK &&
			poll.status == FB_WIRE_POLL_UPLOAD) {
		// An honest aggregator's answer: upload now.
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_UPLOAD,
				.deadline_ms = 60000};
		fakeagg_reply_plan(fa, req, who, h->round_id, &p);
		return;
	}
	if (h->type == FB_WIRE_POLL) {
		struct fb_wire_plan p;
		if (cl->phase < 2) {
			p = make_plan(fa, cl->phase + 1);
		} else {
			memset(&p, 0, sizeof(p));
			p.kind = FB_WIRE_PLAN_DONE;
		}
		fakeagg_reply_plan(fa, req, who,
				(uint32_t)(cl->phase < 2 ? cl->phase + 1 : 2),
				&p);
		if (cl->phase == 2) {
			cl->phase = 3;
		}
		return;
	}
	if (h->type == FB_WIRE_UPDATE && cl->phase < 2 &&
			h->round_id == (uint32_t)cl->phase + 1) {
		cl->update_len[cl->phase] = fb_request_len(req);
		analyse(cl, cl->phase, body, blen);
		cl->phase++;
	} else if (h->type == FB_WIRE_REFUSE) {
		struct fb_wire_reason_text r;
		if (fb_wire_refuse_decode(&r, body, blen) == FB_OK) {
			printf("# client refused round %u: %s\n", h->round_id,
					r.text);
		}
		cl->phase = 3;
	}
	fakeagg_reply_ack(fa, req, who, h->round_id);
}

static bool
finished(struct fakeagg *fa)
{
	(void)fa;
	return clients[0].phase >= 3 && clients[1].phase >= 3;
}

// Loads client c's dataset and marks the items its users touched.
static bool
load_client(int c, const char *path)
{
	struct client *cl = &clients[c];
	if (fb_dataset_load(&cl->ds, path) != FB_OK) {
		fprintf(stderr, "curious: %s\n", fb_last_error(FB_EIO));
		return false;
	}
	n_items = cl->ds->n_items;
	cl->touched = calloc(n_items, 1);
	if (cl->touched == NULL) {
		return false;
	}
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
	return true;
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr,
				"usage: curious URL AGGREGATOR.key ROSTER DATA_0 "
				"DATA_1\n");
		return 99;
	}
	struct fakeagg fa;
	bool ok = fakeagg_init(
			&fa, "curious", argv[1], argv[2], argv[3], 16u << 20);
	if (ok && fa.n_clients != 2) {
		fprintf(stderr, "curious: %s: 2 clients expected\n", argv[3]);
		ok = false;
	}
	ok = ok && load_client(0, argv[4]) && load_client(1, argv[5]) &&
			fakeagg_model(&fa, n_items, clients[0].ds->n_bundles,
					DIM, 7);
	if (!ok) {
		fakeagg_finish(&fa);
		return 99;
	}
	const struct fakeagg_ops ops = {
			.on_sealed = on_sealed, .finished = finished};
	// The linger lets the DONE replies leave.
	if (!fakeagg_serve(&fa, &ops, 300, 120000)) {
		printf("# timed out\n");
	}
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
	fakeagg_check(&fa, a->phase == 3 && b->phase == 3,
			"both clients answered both "
			"rounds");
	fakeagg_check(&fa,
			a->update_len[0] > 0 &&
					a->update_len[0] == b->update_len[0],
			"round 1: both UPDATEs have the same size");
	fakeagg_check(&fa,
			a->update_len[1] > 0 &&
					a->update_len[1] == b->update_len[1],
			"round 2: both UPDATEs have the same size");
	fakeagg_check(&fa, a->ds->n_users != b->ds->n_users,
			"the two clients have different numbers of users");
	fakeagg_check(&fa,
			a->zero_rows_untouched[0] > 0 &&
					b->zero_rows_untouched[0] > 0,
			"control: without privacy, untouched items have "
			"exactly zero deltas");
	fakeagg_check(&fa,
			a->update_len[1] > 0 &&
					a->zero_coords_untouched[1] == 0 &&
					b->zero_coords_untouched[1] == 0,
			"user-level DP: no untouched item has a zero coordinate");
	fakeagg_check(&fa,
			a->update_len[1] > 0 && a->zero_coords_all[1] == 0 &&
					b->zero_coords_all[1] == 0,
			"user-level DP: every coordinate of the update is "
			"non-zero");
	fakeagg_check(&fa, a->loss[0] > 0 && b->loss[0] > 0,
			"control: without privacy, the local loss is sent");
	fakeagg_check(&fa,
			a->update_len[1] > 0 && a->loss[1] == 0 &&
					b->loss[1] == 0 &&
					a->metric_sums[1] == 0 &&
					b->metric_sums[1] == 0 &&
					a->eval_users[1] == 0 &&
					b->eval_users[1] == 0,
			"user-level DP: no loss, metric or count leaves "
			"un-noised");
	int rc = fakeagg_checks_end(&fa);
	for (int c = 0; c < 2; c++) {
		fb_dataset_destroy(clients[c].ds);
		free(clients[c].touched);
	}
	fakeagg_finish(&fa);
	return rc;
}
