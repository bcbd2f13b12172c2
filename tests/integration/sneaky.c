// tests/integration/sneaky.c: a malicious secure-aggregation aggregator
// for test-fed-secagg-refusals.sh. It runs one secure round
// (protocols/secagg-v1.md) with three real fedbundle-client processes,
// keeping its books with the coordinator (secagg/server.h), and cheats
// twice:
//   - the shares that index 1 sealed for index 2 reach index 2 with one
//     byte flipped: index 2 must refuse the round (REFUSE secagg-refused
//     naming index 1) before it releases anything;
//   - index 1 is asked to reveal as if it had dropped (listed among the
//     dropped parties): its guard must refuse (a sealed ERROR
//     secagg-refused, no shares, no signature), while index 3, asked
//     honestly (index 2 dropped), signs the sets (SA_CONSISTENCY,
//     secagg-v1 §3.5); forwarded its own signature alone, one of a
//     threshold of 2, it must refuse to reveal (sealed ERROR
//     secagg-refused, no shares).
// Then every client gets PLAN DONE. Prints TAP; exit 0 if every check
// holds.
//
// With --curious it is an honest but curious aggregator instead
// (test-fed-privacy.sh): it runs the round honestly, unmasks the sum S
// (written to OUT, one int64 a line) and looks at what it saw of each
// retailer, its masked input y_i: the bytes of y_i must pass a chi-square
// test of uniformity, and y_i (read as signed integers) must be
// uncorrelated with PREV, the sum S' another round over the same model
// and data unmasked, while the control, S against S', is clearly
// correlated: the statistic sees a retailer's signal when it is there.
//
// With --few the plan's n_min is 3 of the 3 parties (t stays 2) and the
// round runs honestly until the unmask: index 1 is asked to reveal for a
// sum of 2 survivors (index 2 listed as dropped). That is at least t but
// below n_min, so the sum would carry fewer noise shares than each client
// accounted (secagg-v1 §3.4, §7): index 1 must refuse (sealed ERROR
// secagg-refused, no shares); indices 2 and 3, asked for all three
// survivors, answer.
//
// With --split (issue 13: an aggregator that lies about who dropped) the
// round runs honestly until the unmask, then each client gets other
// survivor sets: index 1 is told 3 dropped ({1, 2}, dropped {3}), index 2
// that all survived ({1, 2, 3}), index 3 that 2 dropped ({1, 3}, dropped
// {2}); each passes the guard of §3.4 alone. Each signs what it was told,
// and the aggregator forwards all three signatures to each: every client
// must find signatures that do not verify over its own sets and refuse
// (sealed ERROR secagg-refused): no share of anyone is revealed.
// usage: sneaky URL AGGREGATOR.key ROSTER DATA_0
//        sneaky --few URL AGGREGATOR.key ROSTER DATA_0
//        sneaky --split URL AGGREGATOR.key ROSTER DATA_0
//        sneaky --curious URL AGGREGATOR.key ROSTER DATA_0 OUT [PREV]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeagg.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"

#define DIM 16
#define K 3
#define ROUND 1

struct client {
	bool advertised, shared, uploaded, done;
	uint16_t refuse_reason; // REFUSE of the round
	char refuse_text[FB_WIRE_TEXT_MAX + 1];
	uint16_t error_reason;         // sealed ERROR
	uint32_t unmask_ns, unmask_nd; // SA_UNMASK received
	uint32_t masked_rows;          // UPDATE's MASKED tensor
	uint64_t *masked;              // its values (--curious)
	bool revealed;                 // SA_UNMASK added (--curious)
	bool got_unmask;               // any SA_UNMASK received
	bool got_done;
	uint8_t req[64]; // the SA_UNMASK_REQ body it was sent
	size_t req_len;
	bool signed_; // its SA_CONSISTENCY received
	bool sig_ok;  // ... and it verifies over req
	uint8_t sig[FB_SA_CONSISTENCY_LEN];
};

static struct client clients[K];
static struct fakeagg fa;
static uint8_t keys[K * FB_ID_PK_LEN];
static struct fb_secagg_server *co;
static size_t dim;             // the release layout's length
static uint8_t consortium[16]; // secagg-v1 §3.6, as clients compute it
static bool curious;           // --curious: honest, and looking
static bool few;               // --few: an unmask below n_min
static bool split;             // --split: each client other sets

static struct fb_wire_plan
make_plan(uint32_t index)
{
	struct fb_wire_plan p;
	fakeagg_train_plan(&fa, &p);
	struct fb_wire_round_config *c = &p.config;
	c->granularity = FB_WIRE_GRAN_USER;
	c->sampling_rate = 0.5;
	c->noise_multiplier = curious ? 0.05 : 1.0;
	c->clip_norm = 1.0;
	c->delta = 1e-5;
	c->local_epochs = 1;
	c->local_steps = 1;
	c->hp.lr = 0.01;
	c->hp.item_weight = 1.0;
	c->hp.negatives = 1;
	c->hp.use_attrs = false;
	c->has_secagg = true;
	memcpy(c->sa.consortium, consortium, sizeof(consortium));
	c->sa.n = K;
	c->sa.t = 2;
	c->sa.n_min = few ? 3 : 2;
	c->sa.noise_shares = few ? 3 : 2;
	c->sa.index = index;
	c->sa.keys = keys;
	return p;
}

// Seals body (blen bytes) as type for cl and answers req with it.
static void
reply_raw(struct fb_request *req, struct client *cl, uint8_t type,
		const uint8_t *body, size_t blen)
{
	fakeagg_reply(&fa, req, (int)(cl - clients), type, ROUND, body, blen);
}

static void
reply_plan(struct fb_request *req, struct client *cl,
		const struct fb_wire_plan *p)
{
	fakeagg_reply_plan(&fa, req, (int)(cl - clients), ROUND, p);
}

static void
reply_wait(struct fb_request *req, struct client *cl)
{
	struct fb_wire_plan p = {
			.kind = FB_WIRE_PLAN_WAIT, .retry_after_ms = 100};
	reply_plan(req, cl, &p);
}

static bool
all(bool (*f)(const struct client *))
{
	for (int c = 0; c < K; c++) {
		if (!f(&clients[c])) {
			return false;
		}
	}
	return true;
}

static bool
advertised(const struct client *c)
{
	return c->advertised;
}

static bool
shared(const struct client *c)
{
	return c->shared;
}

// SA_INBOX of index, with a flipped byte in the bundle from index 1 to 2.
static void
reply_inbox(struct fb_request *req, struct client *cl, uint32_t index)
{
	size_t len = fb_secagg_server_inbox_len(co, index);
	uint8_t *b = malloc(len + 1);
	if (b == NULL || len == 0 ||
			fb_secagg_server_inbox(co, index, b) != FB_OK) {
		free(b);
		fb_request_drop(req);
		return;
	}
	if (index == 2 && !curious && !few && !split) {
		// Entry 0 is from index 1: flip a byte of its ciphertext.
		b[FB_SA_LIST_HDR_LEN + 4 + 40] ^= 0x01;
	}
	reply_raw(req, cl, FB_WIRE_SA_INBOX, b, len);
	free(b);
}

static bool masked_closed;

// POLL UNMASK: wait for both uploads, then a malicious request to index
// 1 (itself and index 2 dropped) and the honest one to index 3.
static void
reply_unmask(struct fb_request *req, struct client *cl, uint32_t index)
{
	if (!clients[0].uploaded || !clients[2].uploaded ||
			((curious || few || split) && !clients[1].uploaded)) {
		reply_wait(req, cl);
		return;
	}
	if (!masked_closed) {
		masked_closed = fb_secagg_server_close_masked(co) == FB_OK;
	}
	uint8_t b[64];
	size_t len = 0;
	if (split) {
		static const uint32_t surv[3][3] = {{1, 2}, {1, 2, 3}, {1, 3}};
		static const uint32_t drop[3][1] = {{3}, {0}, {2}};
		static const uint32_t ns[3] = {2, 3, 2}, nd[3] = {1, 0, 1};
		uint32_t k = index - 1;
		len = fb_sa_unmask_req_len(ns[k], nd[k]);
		if (fb_sa_unmask_req_encode(b, surv[k], ns[k], drop[k],
				    nd[k]) != FB_OK) {
			len = 0;
		}
	} else if (index == 1 && few) {
		static const uint32_t surv[2] = {1, 3}, drop[1] = {2};
		len = fb_sa_unmask_req_len(2, 1);
		if (fb_sa_unmask_req_encode(b, surv, 2, drop, 1) != FB_OK) {
			len = 0;
		}
	} else if (index == 1 && !curious) {
		static const uint32_t surv[1] = {3}, drop[2] = {1, 2};
		len = fb_sa_unmask_req_len(1, 2);
		if (fb_sa_unmask_req_encode(b, surv, 1, drop, 2) != FB_OK) {
			len = 0;
		}
	} else if (masked_closed &&
			fb_secagg_server_unmask_req_len(co) <= sizeof(b)) {
		len = fb_secagg_server_unmask_req_len(co);
		fb_secagg_server_unmask_req(co, b);
	}
	if (len == 0) {
		fb_request_drop(req);
		return;
	}
	memcpy(cl->req, b, len);
	cl->req_len = len;
	reply_raw(req, cl, FB_WIRE_SA_UNMASK_REQ, b, len);
}

// SA_CONSISTENCY (secagg-v1 §3.5): kept (and checked against the sets
// this client was sent); PLAN WAIT until every client that uploaded
// signed or left, then every signature kept, whatever sets it is over.
static void
on_consist(struct fb_request *req, struct client *cl, uint32_t index,
		const uint8_t *body, size_t blen)
{
	const uint8_t *sig = NULL;
	if (!cl->signed_ &&
			fb_sa_consistency_decode(&sig, body, blen) == FB_OK) {
		struct fb_secagg_ctx ctx = {.round = ROUND};
		memcpy(ctx.consortium, consortium, sizeof(consortium));
		memcpy(cl->sig, sig, sizeof(cl->sig));
		cl->signed_ = true;
		cl->sig_ok = fb_secagg_consist_verify(sig, &ctx, cl->req,
					     cl->req_len,
					     keys + (index - 1) * FB_ID_PK_LEN,
					     index) == FB_OK;
		printf("# index %u signed the sets it was sent (%s)\n", index,
				cl->sig_ok ? "verifies" : "DOES NOT VERIFY");
	}
	uint32_t count = 0;
	for (int c = 0; c < K; c++) {
		const struct client *o = &clients[c];
		if (o->uploaded && !o->signed_ && !o->done) {
			reply_wait(req, cl);
			return;
		}
		count += o->signed_;
	}
	uint8_t b[4 + K * FB_SA_SIG_ENTRY_LEN];
	uint8_t *first = fb_sa_sigs_init(b, count);
	uint32_t i = 0;
	for (int c = 0; c < K; c++) {
		if (clients[c].signed_) {
			fb_sa_sigs_put(first, i++, (uint32_t)c + 1,
					clients[c].sig);
		}
	}
	reply_raw(req, cl, FB_WIRE_SA_SIGNATURES, b, fb_sa_sigs_len(count));
}

static void
on_update(struct client *cl, uint32_t index, const uint8_t *body, size_t blen)
{
	struct fb_wire_limits lim = {16, UINT32_MAX, 1, true};
	struct fb_wire_update u;
	bool dup = false;
	if (fb_wire_update_decode(&u, body, blen, &lim) != FB_OK ||
			u.n_tensors != 1 ||
			u.tensors[0].id != FB_WIRE_TENSOR_MASKED ||
			u.tensors[0].dtype != FB_WIRE_DTYPE_U64) {
		printf("# index %u: UPDATE is not one masked tensor\n", index);
		return;
	}
	cl->masked_rows = u.tensors[0].rows;
	if (curious && cl->masked == NULL && u.tensors[0].rows == dim &&
			(cl->masked = malloc(dim * sizeof(uint64_t))) != NULL) {
		memcpy(cl->masked, u.tensors[0].data, dim * sizeof(uint64_t));
	}
	if (fb_secagg_server_add_masked(co, index, u.tensors[0].data,
			    u.tensors[0].rows, &dup) == FB_OK) {
		cl->uploaded = true;
	}
}

static void
on_poll(struct fb_request *req, struct client *cl, uint32_t index,
		const uint8_t *body, size_t blen)
{
	struct fb_wire_poll poll;
	if (fb_wire_poll_decode(&poll, body, blen) != FB_OK) {
		fb_request_drop(req);
		return;
	}
	if (poll.status == FB_WIRE_POLL_UPLOAD) {
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_UPLOAD,
				.deadline_ms = 60000};
		reply_plan(req, cl, &p);
	} else if (poll.status == FB_WIRE_POLL_UNMASK) {
		reply_unmask(req, cl, index);
	} else if (!cl->done) {
		struct fb_wire_plan p = make_plan(index);
		reply_plan(req, cl, &p);
	} else {
		struct fb_wire_plan p = {.kind = FB_WIRE_PLAN_DONE};
		reply_plan(req, cl, &p);
		cl->got_done = true;
	}
}

// SA_ADVERT and SA_SHARES: recorded; the list once all three sent theirs,
// WAIT until then.
static void
on_stage(struct fb_request *req, struct client *cl, uint32_t index,
		uint8_t type, const uint8_t *body, size_t blen)
{
	bool dup = false;
	if (type == FB_WIRE_SA_ADVERT) {
		struct fb_sa_advert_msg m;
		if (fb_sa_advert_msg_decode(&m, body, blen) == FB_OK &&
				fb_secagg_server_add_advert(co, index, m.advert,
						m.users, &dup) == FB_OK) {
			cl->advertised = true;
		}
		if (!all(advertised)) {
			reply_wait(req, cl);
			return;
		}
		if (fb_secagg_server_stage(co) == FB_SA_ADVERTS &&
				fb_secagg_server_close_adverts(co) != FB_OK) {
			printf("# closing the adverts: %s\n",
					fb_last_error(FB_ESTATE));
		}
		size_t len = fb_secagg_server_peers_len(co);
		uint8_t *b = malloc(len + 1);
		if (b != NULL && len > 0) {
			fb_secagg_server_peers(co, b);
			reply_raw(req, cl, FB_WIRE_SA_PEERS, b, len);
		} else {
			fb_request_drop(req);
		}
		free(b);
		return;
	}
	if (fb_secagg_server_add_shares(co, index, body, blen, &dup) == FB_OK) {
		cl->shared = true;
	}
	if (!all(shared)) {
		reply_wait(req, cl);
		return;
	}
	if (fb_secagg_server_stage(co) == FB_SA_SHARES &&
			fb_secagg_server_close_shares(co) != FB_OK) {
		printf("# closing the shares: %s\n", fb_last_error(FB_ESTATE));
	}
	reply_inbox(req, cl, index);
}

static void
on_sealed(struct fakeagg *agg, struct fb_request *req, int who,
		const struct fb_wire_header *h, const uint8_t *body,
		size_t blen)
{
	(void)agg;
	struct client *cl = &clients[who];
	uint32_t index = (uint32_t)who + 1;
	struct fb_wire_reason_text r;
	struct fb_sa_unmask un;
	switch (h->type) {
	case FB_WIRE_POLL:
		on_poll(req, cl, index, body, blen);
		return;
	case FB_WIRE_SA_ADVERT:
	case FB_WIRE_SA_SHARES:
		on_stage(req, cl, index, h->type, body, blen);
		return;
	case FB_WIRE_SA_CONSISTENCY:
		on_consist(req, cl, index, body, blen);
		return;
	case FB_WIRE_UPDATE:
		on_update(cl, index, body, blen);
		break;
	case FB_WIRE_REFUSE:
		if (fb_wire_refuse_decode(&r, body, blen) == FB_OK) {
			cl->refuse_reason = r.reason;
			snprintf(cl->refuse_text, sizeof(cl->refuse_text), "%s",
					r.text);
			printf("# index %u refused: %s: %s\n", index,
					fb_wire_reason_name(r.reason), r.text);
		}
		cl->done = true;
		break;
	case FB_WIRE_ERROR:
		if (fb_wire_error_decode(&r, body, blen) == FB_OK) {
			cl->error_reason = r.reason;
			printf("# index %u sent ERROR %s: %s\n", index,
					fb_wire_reason_name(r.reason), r.text);
		}
		cl->done = true;
		break;
	case FB_WIRE_SA_UNMASK:
		cl->got_unmask = true;
		if (fb_sa_unmask_decode(&un, body, blen) == FB_OK) {
			cl->unmask_ns = un.ns;
			cl->unmask_nd = un.nd;
		}
		if (curious && !cl->revealed) {
			bool dup = false;
			cl->revealed = fb_secagg_server_add_reveal(co, index,
						       body, blen,
						       &dup) == FB_OK;
		}
		cl->done = true;
		break;
	default:
		printf("# index %u: unexpected %s\n", index,
				fb_wire_type_name(h->type));
		break;
	}
	fakeagg_reply_ack(&fa, req, who, ROUND);
}

static bool
finished(struct fakeagg *agg)
{
	(void)agg;
	return clients[0].got_done && clients[1].got_done &&
			clients[2].got_done;
}

// The model and the coordinator of the round.
static int
setup(const char *data)
{
	struct fb_dataset *ds = NULL;
	if (fb_dataset_load(&ds, data) != FB_OK) {
		fprintf(stderr, "sneaky: %s\n", fb_last_error(FB_EIO));
		return 99;
	}
	bool ok = fakeagg_model(&fa, ds->n_items, ds->n_bundles, DIM, 7);
	fb_dataset_destroy(ds);
	if (!ok) {
		return 99;
	}
	struct fb_wire_plan p = make_plan(1);
	struct fb_release_layout L;
	fb_hparams_release_layout(&p.config.hp, fa.n_items, fa.n_bundles, &L);
	dim = L.len;
	for (int c = 0; c < K; c++) {
		memcpy(keys + c * FB_ID_PK_LEN, fb_roster_at(fa.roster, c)->pk,
				FB_ID_PK_LEN);
	}
	struct fb_secagg_server_params sp = {.n = K,
			.t = 2,
			.n_min = few ? 3 : 2,
			.id_keys = keys,
			.dim = dim};
	memcpy(sp.ctx.consortium, consortium, sizeof(consortium));
	sp.ctx.round = ROUND;
	if (fb_secagg_server_create(&co, &sp) != FB_OK) {
		fprintf(stderr, "sneaky: %s\n", fb_last_error(FB_EINVAL));
		return 99;
	}
	return 0;
}

static void
few_checks(void)
{
	struct client *a = &clients[0], *b = &clients[1], *c = &clients[2];
	fakeagg_check(&fa, a->uploaded && b->uploaded && c->uploaded,
			"all three sent their masked input (n_min 3 parties)");
	fakeagg_check(&fa,
			a->error_reason == FB_WIRE_REASON_SECAGG_REFUSED &&
					a->unmask_ns == 0,
			"index 1 refused to reveal for 2 survivors, below "
			"n_min 3 (sealed ERROR secagg-refused, no shares)");
	fakeagg_check(&fa,
			b->unmask_ns == 3 && b->unmask_nd == 0 &&
					c->unmask_ns == 3 && c->unmask_nd == 0,
			"indices 2 and 3 answered the request for all three");
	fakeagg_check(&fa, a->got_done && b->got_done && c->got_done,
			"every client then got PLAN DONE");
}

static void
checks(void)
{
	struct client *a = &clients[0], *b = &clients[1], *c = &clients[2];
	fakeagg_check(&fa,
			b->refuse_reason == FB_WIRE_REASON_SECAGG_REFUSED &&
					strstr(b->refuse_text,
							"the shares of index 1 "
							"do not open") != NULL,
			"index 2 refused the round (secagg-refused) naming "
			"index 1, whose shares were tampered with");
	fakeagg_check(&fa, !b->uploaded && b->masked_rows == 0,
			"index 2 sent no masked input");
	fakeagg_check(&fa,
			a->uploaded && c->uploaded && a->masked_rows == dim &&
					c->masked_rows == dim,
			"indices 1 and 3 sent one masked u64 tensor of the "
			"release layout");
	fakeagg_check(&fa,
			a->error_reason == FB_WIRE_REASON_SECAGG_REFUSED &&
					a->unmask_ns == 0,
			"index 1 refused an unmask request listing itself as "
			"dropped (sealed ERROR secagg-refused, no shares)");
	fakeagg_check(&fa, !a->signed_,
			"index 1 did not sign the request it refused");
	fakeagg_check(&fa, c->signed_ && c->sig_ok,
			"index 3 signed the honest request's sets (2 "
			"survivors, 1 dropped)");
	fakeagg_check(&fa,
			c->error_reason == FB_WIRE_REASON_SECAGG_REFUSED &&
					!c->got_unmask,
			"index 3, sent its own signature alone (threshold 2), "
			"refused to reveal (sealed ERROR secagg-refused, no "
			"shares)");
	fakeagg_check(&fa, a->got_done && b->got_done && c->got_done,
			"every client then got PLAN DONE");
}

static void
split_checks(void)
{
	for (int k = 0; k < K; k++) {
		const struct client *cl = &clients[k];
		char what[160];
		snprintf(what, sizeof(what),
				"index %d sent its masked input and signed the "
				"sets it was sent",
				k + 1);
		fakeagg_check(&fa, cl->uploaded && cl->signed_ && cl->sig_ok,
				what);
		snprintf(what, sizeof(what),
				"index %d refused to reveal (sealed ERROR "
				"secagg-refused) and sent no SA_UNMASK",
				k + 1);
		fakeagg_check(&fa,
				cl->error_reason == FB_WIRE_REASON_SECAGG_REFUSED &&
						!cl->got_unmask,
				what);
	}
	fakeagg_check(&fa,
			clients[0].got_done && clients[1].got_done &&
					clients[2].got_done,
			"every client then got PLAN DONE");
}

// ---- --curious: what an honest but curious aggregator sees ----

// The chi-square statistic of the n bytes at p against the uniform
// distribution (255 degrees of freedom).
static double
chi_square(const uint8_t *p, size_t n)
{
	double count[256] = {0};
	for (size_t k = 0; k < n; k++) {
		count[p[k]]++;
	}
	double e = (double)n / 256.0, x = 0;
	for (int b = 0; b < 256; b++) {
		x += (count[b] - e) * (count[b] - e) / e;
	}
	return x;
}

// Pearson's correlation of a[0..n) and b[0..n), read as signed integers.
static double
correlation(const int64_t *a, const int64_t *b, size_t n)
{
	long double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
	for (size_t k = 0; k < n; k++) {
		long double x = (long double)a[k], y = (long double)b[k];
		sa += x;
		sb += y;
		saa += x * x;
		sbb += y * y;
		sab += x * y;
	}
	long double m = (long double)n;
	long double cov = sab - sa * sb / m;
	long double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
	return va > 0 && vb > 0 ? (double)(cov / sqrtl(va * vb)) : 0;
}

// Reads n int64 values, one a line, from path into v.
static bool
read_sum(const char *path, int64_t *v, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t k = 0;
	long long x;
	while (f != NULL && k < n && fscanf(f, "%lld", &x) == 1) {
		v[k++] = x;
	}
	if (f != NULL) {
		fclose(f);
	}
	return k == n;
}

// Unmasks the sum, writes it to out and checks what the aggregator saw.
// Chi-square over 255 degrees of freedom: mean 255, sd 22.6; 400 is
// beyond 6 sd (p < 1e-9 for uniform bytes). Correlation over dim pairs
// of independent values: sd 1/sqrt(dim); 6 sd is the bound.
static void
curious_checks(const char *out, const char *prev)
{
	int64_t *sum = malloc(dim * sizeof(*sum));
	int64_t *before = malloc(dim * sizeof(*before));
	bool unmasked = sum != NULL && before != NULL &&
			fb_secagg_server_finish(co, sum) == FB_OK;
	fakeagg_check(&fa, unmasked,
			"the honest round unmasked the sum of the three");
	FILE *f = unmasked ? fopen(out, "w") : NULL;
	for (size_t k = 0; f != NULL && k < dim; k++) {
		fprintf(f, "%lld\n", (long long)sum[k]);
	}
	if (f != NULL) {
		fclose(f);
	}
	double bound = 6.0 / sqrt((double)dim);
	double sum_chi = unmasked
			? chi_square((const uint8_t *)sum, dim * sizeof(*sum))
			: 0;
	printf("# the unmasked sum: chi-square of its bytes %.1f\n", sum_chi);
	fakeagg_check(&fa, sum_chi > 400,
			"control: the bytes of the unmasked sum fail "
			"the uniformity test");
	bool have_prev =
			unmasked && prev != NULL && read_sum(prev, before, dim);
	double r_sums = have_prev ? correlation(sum, before, dim) : 0;
	if (prev != NULL) {
		printf("# correlation of the sum with the earlier round's: "
		       "%.4f (bound %.4f)\n",
				r_sums, bound);
		fakeagg_check(&fa, r_sums > 5 * bound,
				"control: the sums of two rounds "
				"are correlated (the statistic "
				"sees the retailers' signal)");
	}
	for (int c = 0; c < K; c++) {
		const uint64_t *y = clients[c].masked;
		double chi = y != NULL ? chi_square((const uint8_t *)y,
							 dim * sizeof(*y))
				       : 1e9;
		printf("# index %d: chi-square of its masked input's %zu "
		       "bytes %.1f\n",
				c + 1, dim * sizeof(*y), chi);
		fakeagg_check(&fa, chi < 400,
				"a masked input's bytes pass the chi-square "
				"test of uniformity");
		if (prev == NULL) {
			continue;
		}
		double r = y != NULL && have_prev
				? correlation((const int64_t *)y, before, dim)
				: 1;
		printf("# index %d: correlation of its masked input with the "
		       "earlier sum %.4f\n",
				c + 1, r);
		fakeagg_check(&fa, fabs(r) < bound,
				"a masked input is uncorrelated with "
				"the retailers' signal");
	}
	free(sum);
	free(before);
}

int
main(int argc, char **argv)
{
	const char *out = NULL, *prev = NULL;
	if (argc > 1 && strcmp(argv[1], "--curious") == 0 &&
			(argc == 7 || argc == 8)) {
		curious = true;
		out = argv[6];
		prev = argc == 8 ? argv[7] : NULL;
		argv++;
		argc = 5;
	} else if (argc == 6 && strcmp(argv[1], "--few") == 0) {
		few = true;
		argv++;
		argc = 5;
	} else if (argc == 6 && strcmp(argv[1], "--split") == 0) {
		split = true;
		argv++;
		argc = 5;
	}
	if (argc != 5) {
		fprintf(stderr,
				"usage: sneaky URL AGGREGATOR.key ROSTER "
				"DATA_0\n"
				"       sneaky --curious URL AGGREGATOR.key "
				"ROSTER DATA_0 OUT [PREV]\n"
				"       sneaky --few URL AGGREGATOR.key ROSTER "
				"DATA_0\n"
				"       sneaky --split URL AGGREGATOR.key ROSTER "
				"DATA_0\n");
		return 99;
	}
	if (!fakeagg_init(&fa, "sneaky", argv[1], argv[2], argv[3],
			    16u << 20) ||
			fa.n_clients != K ||
			fb_secagg_consortium(fb_identity_public_key(fa.id),
					argv[3], consortium) != FB_OK ||
			setup(argv[4]) != 0) {
		fprintf(stderr, "sneaky: cannot start: %s\n",
				fb_last_error(FB_EIO));
		fakeagg_finish(&fa);
		return 99;
	}
	const struct fakeagg_ops ops = {
			.on_sealed = on_sealed, .finished = finished};
	// The linger lets the DONE replies leave.
	if (!fakeagg_serve(&fa, &ops, 300, 120000)) {
		printf("# timed out\n");
	}
	if (curious) {
		curious_checks(out, prev);
	} else if (few) {
		few_checks();
	} else if (split) {
		split_checks();
	} else {
		checks();
	}
	int rc = fakeagg_checks_end(&fa);
	fb_secagg_server_destroy(co);
	for (int c = 0; c < K; c++) {
		free(clients[c].masked);
	}
	fakeagg_finish(&fa);
	return rc;
}
