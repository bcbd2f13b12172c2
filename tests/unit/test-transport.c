// tests/unit/test-transport.c: the NNG transport of
// include/fedbundle/transport.h over ipc:// in a temporary folder: requests
// reach the owner thread through the queue and are answered on their own
// context (several clients in flight at once), a message over the
// receiver's NNG_OPT_RECVMAXSZ never arrives (the sender times out), a
// closed client's pipe is reported, a dialer started before its listener
// connects once the listener appears, and a PLAN with the optional
// training switches of §5.3.1 crosses the wire intact (wire.c).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/envelope.h"
#include "fedbundle/transport.h"
#include "fedbundle/wire.h"
#include "harness.h"

static char dir[256];
static char url[320];

static void
make_url(const char *name)
{
	snprintf(url, sizeof(url), "ipc://%s/%s.sock", dir, name);
}

static struct fb_msg *
msg_of(const char *text)
{
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, strlen(text)) != FB_OK) {
		return NULL;
	}
	memcpy(fb_msg_data(m), text, strlen(text));
	return m;
}

// Answers n requests with their bytes reversed; records the pipes seen.
struct echo {
	struct fb_listener *l;
	int n;
	int answered;
	uint32_t pipes[8];
};

static void *
echo_owner(void *arg)
{
	struct echo *e = arg;
	while (e->answered < e->n) {
		struct fb_listener_event ev;
		if (fb_listener_wait(e->l, 5000, &ev) != FB_OK) {
			break;
		}
		if (ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		size_t len = fb_request_len(ev.req);
		uint8_t buf[4096];
		if (len > sizeof(buf)) {
			break; // the test's messages are all smaller
		}
		const uint8_t *in = fb_request_data(ev.req);
		for (size_t k = 0; k < len; k++) {
			buf[k] = in[len - 1 - k];
		}
		if (e->answered < 8) {
			e->pipes[e->answered] = ev.pipe;
		}
		if (fb_request_reply_copy(ev.req, buf, len) == FB_OK) {
			e->answered++;
		}
	}
	return NULL;
}

struct caller {
	struct fb_dialer *d;
	const char *text;
	int ok;
};

static void *
call_once(void *arg)
{
	struct caller *c = arg;
	struct fb_msg *reply = NULL;
	if (fb_dialer_call_take(c->d, msg_of(c->text), 5000, &reply) == FB_OK) {
		size_t n = strlen(c->text);
		c->ok = fb_msg_len(reply) == n;
		for (size_t k = 0; k < n && c->ok; k++) {
			c->ok = fb_msg_data(reply)[k] ==
					(uint8_t)c->text[n - 1 - k];
		}
		c->ok = c->ok && fb_msg_pipe(reply) != 0;
		fb_msg_free(reply);
	}
	return NULL;
}

TEST(requests_reach_the_owner_and_are_answered)
{
	make_url("echo");
	const char *urls[] = {url};
	struct fb_listener_config lc = {urls, 1, 4096, 4};
	struct echo e = {.n = 3};
	CHECK_OK(fb_listener_create(&e.l, &lc));
	struct fb_dialer_config dc = {url, 4096, 10, 100};
	struct caller c[3] = {{NULL, "hello", 0}, {NULL, "abcdefgh", 0},
			{NULL, "x", 0}};
	for (int k = 0; k < 3; k++) {
		CHECK_OK(fb_dialer_create(&c[k].d, &dc));
	}
	pthread_t owner, th[3];
	pthread_create(&owner, NULL, echo_owner, &e);
	for (int k = 0; k < 3; k++) {
		pthread_create(&th[k], NULL, call_once, &c[k]);
	}
	for (int k = 0; k < 3; k++) {
		pthread_join(th[k], NULL);
	}
	pthread_join(owner, NULL);
	CHECK(e.answered == 3);
	for (int k = 0; k < 3; k++) {
		CHECK(c[k].ok);
	}
	// Three dialers: three distinct connections.
	CHECK(e.pipes[0] != e.pipes[1] && e.pipes[1] != e.pipes[2] &&
			e.pipes[0] != e.pipes[2]);
	for (int k = 0; k < 3; k++) {
		fb_dialer_destroy(c[k].d);
	}
	fb_listener_destroy(e.l);
}

TEST(oversized_request_never_arrives)
{
	make_url("small");
	const char *urls[] = {url};
	struct fb_listener_config lc = {urls, 1, 64, 2};
	struct fb_listener *l = NULL;
	CHECK_OK(fb_listener_create(&l, &lc));
	struct fb_dialer_config dc = {url, 4096, 10, 100};
	struct fb_dialer *d = NULL;
	CHECK_OK(fb_dialer_create(&d, &dc));
	struct fb_msg *big = NULL, *reply = NULL;
	CHECK_OK(fb_msg_alloc(&big, 64 + 200));
	memset(fb_msg_data(big), 7, 64 + 200);
	// The receiver drops the connection: the caller learns it at once
	// (FB_ENET, req0 fails a request whose pipe closed) or times out.
	fb_err e0 = fb_dialer_call_take(d, big, 300, &reply);
	CHECK(e0 == FB_ENET || e0 == FB_ETIMEOUT);
	struct fb_listener_event ev;
	int requests = 0;
	while (fb_listener_wait(l, 100, &ev) == FB_OK) {
		requests += ev.kind == FB_LISTENER_REQUEST;
		if (ev.kind == FB_LISTENER_REQUEST) {
			fb_request_drop(ev.req);
		}
	}
	CHECK(requests == 0);
	// 64 bytes is within the limit (NNG's own header is extra) and is
	// delivered, on a new connection.
	struct fb_msg *ok = NULL;
	CHECK_OK(fb_msg_alloc(&ok, 64));
	memset(fb_msg_data(ok), 1, 64);
	struct echo e = {.l = l, .n = 1};
	pthread_t owner;
	pthread_create(&owner, NULL, echo_owner, &e);
	CHECK_OK(fb_dialer_call_take(d, ok, 5000, &reply));
	pthread_join(owner, NULL);
	CHECK(fb_msg_len(reply) == 64);
	fb_msg_free(reply);
	fb_dialer_destroy(d);
	fb_listener_destroy(l);
}

TEST(closed_pipe_is_reported)
{
	make_url("pipes");
	const char *urls[] = {url};
	struct fb_listener_config lc = {urls, 1, 4096, 2};
	struct echo e = {.n = 1};
	CHECK_OK(fb_listener_create(&e.l, &lc));
	struct fb_dialer_config dc = {url, 4096, 10, 100};
	struct caller c = {NULL, "ping", 0};
	CHECK_OK(fb_dialer_create(&c.d, &dc));
	pthread_t owner;
	pthread_create(&owner, NULL, echo_owner, &e);
	call_once(&c);
	pthread_join(owner, NULL);
	CHECK(c.ok);
	fb_dialer_destroy(c.d);
	struct fb_listener_event ev;
	bool closed = false;
	for (int k = 0; k < 50 && !closed; k++) {
		if (fb_listener_wait(e.l, 100, &ev) == FB_OK &&
				ev.kind == FB_LISTENER_PIPE_CLOSED) {
			closed = ev.pipe == e.pipes[0];
		}
	}
	CHECK(closed);
	fb_listener_destroy(e.l);
}

TEST(dialer_before_listener_connects_later)
{
	make_url("late");
	struct fb_dialer_config dc = {url, 4096, 10, 50};
	struct caller c = {NULL, "late", 0};
	CHECK_OK(fb_dialer_create(&c.d, &dc));
	struct fb_msg *reply = NULL;
	CHECK_ERR(fb_dialer_call_take(c.d, msg_of("x"), 200, &reply),
			FB_ETIMEOUT);
	const char *urls[] = {url};
	struct fb_listener_config lc = {urls, 1, 4096, 2};
	struct echo e = {.n = 1};
	CHECK_OK(fb_listener_create(&e.l, &lc));
	pthread_t owner;
	pthread_create(&owner, NULL, echo_owner, &e);
	call_once(&c);
	pthread_join(owner, NULL);
	CHECK(c.ok);
	fb_dialer_destroy(c.d);
	fb_listener_destroy(e.l);
}

TEST(bad_url_is_refused)
{
	const char *urls[] = {"nonsense://here"};
	struct fb_listener_config lc = {urls, 1, 4096, 2};
	struct fb_listener *l = NULL;
	CHECK_ERR(fb_listener_create(&l, &lc), FB_ENET);
	CHECK_STR_CONTAINS(fb_last_error(FB_ENET), "nonsense://here");
	struct fb_listener_config none = {urls, 0, 4096, 2};
	CHECK_ERR(fb_listener_create(&l, &none), FB_EINVAL);
}

// A PLAN with the optional training switches (§5.3.1, 0x0010-0x0016)
// through a real socket: every switch survives, and a plan without them
// decodes to the documented defaults.
TEST(plan_with_train_opts_crosses_the_wire)
{
	make_url("plan");
	const char *urls[] = {url};
	struct fb_listener_config lc = {urls, 1, 1 << 16, 2};
	struct fb_listener *l = NULL;
	CHECK_OK(fb_listener_create(&l, &lc));
	struct fb_dialer_config dc = {url, 1 << 16, 10, 100};
	struct fb_dialer *d = NULL;
	CHECK_OK(fb_dialer_create(&d, &dc));
	static const float v[6] = {1, 2, 3, 4, 5, 6};
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 1000;
	p.config = (struct fb_wire_round_config){
			.granularity = FB_WIRE_GRAN_NONE,
			.sampling_rate = 1,
			.clip_norm = 1,
			.local_epochs = 1,
			.learning_rate = 0.01,
			.negatives = 1,
			.dim = 2,
			.update_dtype = FB_WIRE_DTYPE_F32,
			.has_train_opts = true,
	};
	p.config.train = (struct fb_wire_train_opts){
			.item_view = false,
			.use_attrs = true,
			.user_item_view = false,
			.batch_users = 77,
			.lr_user = 0.25,
			.optimizer = FB_WIRE_OPT_SGD,
			.init_std = 0.5,
	};
	p.n_tensors = 1;
	p.tensors[0] = (struct fb_wire_tensor){
			FB_WIRE_TENSOR_ITEMS, FB_WIRE_DTYPE_F32, 0, 3, 2, v};
	size_t blen = fb_wire_plan_len(&p);
	CHECK(blen > 0);
	struct fb_msg *m = NULL;
	CHECK_OK(fb_msg_alloc(&m, blen));
	CHECK_OK(fb_wire_plan_encode(fb_msg_data(m), blen, &p, &blen, NULL));
	struct echo e = {.l = l, .n = 1};
	pthread_t owner;
	pthread_create(&owner, NULL, echo_owner, &e);
	struct fb_msg *reply = NULL;
	CHECK_OK(fb_dialer_call_take(d, m, 5000, &reply));
	pthread_join(owner, NULL);
	// The echo reversed it: reverse back into an aligned buffer.
	static _Alignas(16) uint8_t back[1 << 12];
	CHECK(fb_msg_len(reply) == blen && blen <= sizeof(back));
	for (size_t k = 0; k < blen; k++) {
		back[k] = fb_msg_data(reply)[blen - 1 - k];
	}
	fb_msg_free(reply);
	struct fb_wire_limits lim = {4, 16, 16, true};
	struct fb_wire_plan q;
	CHECK_OK(fb_wire_plan_decode(&q, back, blen, &lim));
	CHECK(q.config.has_train_opts);
	CHECK(!q.config.train.item_view && q.config.train.use_attrs &&
			!q.config.train.user_item_view);
	CHECK(q.config.train.batch_users == 77 &&
			q.config.train.lr_user == 0.25 &&
			q.config.train.optimizer == FB_WIRE_OPT_SGD &&
			q.config.train.init_std == 0.5);
	// Ten more TLVs than the 136-byte block of §10.3: 5 bools (5 bytes
	// each), two u32 (8 each), two f64 (12 each), one u8 (5) = 70 bytes.
	CHECK(fb_wire_load_u32(back + 12) == 136 + 70);
	CHECK(!q.config.train.bias && !q.config.train.train_items &&
			q.config.train.bundle_rank == 0);
	// Without them: the defaults, and the old 136-byte block.
	p.config.has_train_opts = false;
	CHECK_OK(fb_wire_plan_encode(back, sizeof(back), &p, &blen, NULL));
	CHECK(fb_wire_load_u32(back + 12) == 136);
	CHECK_OK(fb_wire_plan_decode(&q, back, blen, &lim));
	CHECK(!q.config.has_train_opts);
	CHECK(q.config.train.item_view && q.config.train.use_attrs &&
			q.config.train.user_item_view &&
			q.config.train.batch_users == 512 &&
			q.config.train.lr_user == 0.05 &&
			q.config.train.optimizer == FB_WIRE_OPT_ADAM &&
			q.config.train.init_std == 0.1);
	// A bad switch value is refused by the encoder.
	p.config.has_train_opts = true;
	p.config.train.batch_users = 0;
	CHECK_ERR(fb_wire_plan_encode(back, sizeof(back), &p, &blen, NULL),
			FB_EINVAL);
	fb_dialer_destroy(d);
	fb_listener_destroy(l);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-transport-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		printf("1..0 # SKIP cannot create a temporary folder\n");
		return 99;
	}
	RUN(requests_reach_the_owner_and_are_answered);
	RUN(oversized_request_never_arrives);
	RUN(closed_pipe_is_reported);
	RUN(dialer_before_listener_connects_later);
	RUN(bad_url_is_refused);
	RUN(plan_with_train_opts_crosses_the_wire);
	fb_transport_fini();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", dir);
	}
	return harness_done();
}
