// tests/unit/test-transport.c: the NNG transport of
// include/fedbundle/net/transport.h over ipc:// in a temporary folder: requests
// reach the owner thread through the queue and are answered on their own
// context (several clients in flight at once), a message over the
// receiver's NNG_OPT_RECVMAXSZ never arrives (the sender times out), a
// closed client's pipe is reported, a dialer started before its listener
// connects once the listener appears, and a PLAN with the optional
// training switches of §5.3.1 crosses the wire intact (wire.c). The limits
// of untrusted connections (§1.8), driven by raw sockets that speak just
// enough SP: a frame over the small limit closes the connection at its
// header and trust lifts it, a started message and an unauthenticated
// connection each have a deadline, the cap closes the oldest idle
// connection, strikes close a connection after its reply, and a peer that
// is not SP is refused. And the framing of §1.9 byte by byte, over tcp://
// and ipc://, as an implementation without NNG would send and read it.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/clock.h"
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
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
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
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 64};
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
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
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
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
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
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
	struct fb_listener *l = NULL;
	CHECK_ERR(fb_listener_create(&l, &lc), FB_ENET);
	CHECK_STR_CONTAINS(fb_last_error(FB_ENET), "nonsense://here");
	struct fb_listener_config none = {
			.urls = urls, .n_urls = 0, .recv_max = 4096};
	CHECK_ERR(fb_listener_create(&l, &none), FB_EINVAL);
}

// A PLAN with the optional training switches (§5.3.1, 0x0010-0x0016)
// through a real socket: every switch survives, and a plan without them
// decodes to the documented defaults.
TEST(plan_with_train_opts_crosses_the_wire)
{
	make_url("plan");
	const char *urls[] = {url};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 1 << 16};
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
			.hp.lr = 0.01,
			.hp.negatives = 1,
			.hp.dim = 2,
			.update_dtype = FB_WIRE_DTYPE_F32,
			.has_train_opts = true,
	};
	p.config.hp.item_view = false;
	p.config.hp.use_attrs = true;
	p.config.hp.user_item_view = false;
	p.config.hp.batch_users = 77;
	p.config.hp.lr_user = 0.25;
	p.config.hp.optimizer = FB_OPT_SGD;
	p.config.hp.init_std = 0.5;
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
	CHECK(!q.config.hp.item_view && q.config.hp.use_attrs &&
			!q.config.hp.user_item_view);
	CHECK(q.config.hp.batch_users == 77 && q.config.hp.lr_user == 0.25 &&
			q.config.hp.optimizer == FB_OPT_SGD &&
			q.config.hp.init_std == 0.5);
	// Ten more TLVs than the 136-byte block of §10.3: 5 bools (5 bytes
	// each), two u32 (8 each), two f64 (12 each), one u8 (5) = 70 bytes.
	CHECK(fb_wire_load_u32(back + 12) == 136 + 70);
	CHECK(!q.config.hp.bias && !q.config.hp.train_items &&
			q.config.hp.bundle_rank == 0);
	// Without them: the defaults, and the old 136-byte block.
	p.config.has_train_opts = false;
	CHECK_OK(fb_wire_plan_encode(back, sizeof(back), &p, &blen, NULL));
	CHECK(fb_wire_load_u32(back + 12) == 136);
	CHECK_OK(fb_wire_plan_decode(&q, back, blen, &lim));
	CHECK(!q.config.has_train_opts);
	CHECK(q.config.hp.item_view && q.config.hp.use_attrs &&
			q.config.hp.user_item_view &&
			q.config.hp.batch_users == 512 &&
			q.config.hp.lr_user == 0.05 &&
			q.config.hp.optimizer == FB_OPT_ADAM &&
			q.config.hp.init_std == 0.1);
	// A bad switch value is refused by the encoder.
	p.config.has_train_opts = true;
	p.config.hp.batch_users = 0;
	CHECK_ERR(fb_wire_plan_encode(back, sizeof(back), &p, &blen, NULL),
			FB_EINVAL);
	fb_dialer_destroy(d);
	fb_listener_destroy(l);
}

// ---- untrusted connections (§1.8) ----

// A raw connection to url's ipc socket that sent the first n bytes of a
// req0 peer's SP header, then extra (len bytes); -1 on failure.
static int
raw_connect(size_t n, const void *extra, size_t len)
{
	static const uint8_t sp[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t plen = strlen(url + 6);
	if (plen < sizeof(un.sun_path)) {
		memcpy(un.sun_path, url + 6, plen + 1);
	}
	if (fd < 0 || plen >= sizeof(un.sun_path) ||
			connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0 ||
			send(fd, sp, n, MSG_NOSIGNAL) != (ssize_t)n ||
			(len > 0 &&
					send(fd, extra, len, MSG_NOSIGNAL) !=
							(ssize_t)len)) {
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	return fd;
}

// Seconds until the listener closed fd (what it sends is discarded), or
// -1 if fd was still open after limit seconds.
static double
closed_after(int fd, double t0, double limit)
{
	while (fb_clock_s() - t0 < limit) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 20) > 0) {
			uint8_t buf[64];
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				return fb_clock_s() - t0;
			}
		}
	}
	return -1;
}

// An ipc frame header announcing len bytes.
static void
ipc_frame_header(uint8_t out[9], uint64_t len)
{
	out[0] = 1;
	for (int i = 0; i < 8; i++) {
		out[1 + i] = (uint8_t)(len >> (56 - 8 * i));
	}
}

// Answers every request with its bytes; "trust me" makes its connection
// trusted first, and with strike set every request is a strike.
struct gate {
	struct fb_listener *l;
	bool strike;
	atomic_int answered, closed, stop;
	uint32_t last_pipe;
};

static void *
gate_owner(void *arg)
{
	struct gate *g = arg;
	while (!atomic_load(&g->stop)) {
		struct fb_listener_event ev;
		if (fb_listener_wait(g->l, 50, &ev) != FB_OK) {
			continue;
		}
		if (ev.kind == FB_LISTENER_PIPE_CLOSED) {
			atomic_fetch_add(&g->closed, 1);
			continue;
		}
		size_t len = fb_request_len(ev.req);
		if (len == 8 &&
				memcmp(fb_request_data(ev.req), "trust me",
						8) == 0) {
			fb_listener_trust(g->l, ev.pipe, true);
		}
		if (g->strike) {
			(void)fb_request_strike(ev.req);
		}
		g->last_pipe = ev.pipe;
		uint8_t buf[4096];
		memcpy(buf, fb_request_data(ev.req), len < 4096 ? len : 4096);
		if (fb_request_reply_copy(ev.req, buf,
				    len < 4096 ? len : 4096) == FB_OK) {
			atomic_fetch_add(&g->answered, 1);
		}
	}
	return NULL;
}

static struct fb_msg *
msg_of_len(size_t len)
{
	struct fb_msg *m = NULL;
	if (fb_msg_alloc(&m, len) == FB_OK) {
		memset(fb_msg_data(m), 'x', len);
	}
	return m;
}

TEST(untrusted_limit_is_small_until_trusted)
{
	make_url("trust");
	const char *urls[] = {url};
	struct fb_listener_config lc = {.urls = urls,
			.n_urls = 1,
			.recv_max = 4096,
			.preauth_recv_max = 64};
	struct gate g = {0};
	CHECK_OK(fb_listener_create(&g.l, &lc));
	pthread_t owner;
	pthread_create(&owner, NULL, gate_owner, &g);
	struct fb_dialer_config dc = {url, 4096, 10, 50};
	struct fb_dialer *d = NULL;
	CHECK_OK(fb_dialer_create(&d, &dc));
	struct fb_msg *reply = NULL;
	// 200 bytes before trust: the connection is closed at the header.
	fb_err e0 = fb_dialer_call_take(d, msg_of_len(200), 300, &reply);
	CHECK(e0 == FB_ENET || e0 == FB_ETIMEOUT);
	CHECK(atomic_load(&g.answered) == 0);
	CHECK_OK(fb_dialer_call_take(d, msg_of("trust me"), 5000, &reply));
	uint32_t pipe = fb_msg_pipe(reply);
	fb_msg_free(reply);
	// The same connection, trusted: 200 and 4096 bytes arrive.
	CHECK_OK(fb_dialer_call_take(d, msg_of_len(200), 5000, &reply));
	CHECK(fb_msg_len(reply) == 200 && fb_msg_pipe(reply) == pipe);
	fb_msg_free(reply);
	CHECK_OK(fb_dialer_call_take(d, msg_of_len(4096), 5000, &reply));
	CHECK(fb_msg_len(reply) == 4096);
	fb_msg_free(reply);
	atomic_store(&g.stop, 1);
	pthread_join(owner, NULL);
	struct fb_listener_stats st;
	fb_listener_stats(g.l, &st);
	printf("# accepted %llu, too large %llu, trusted %u\n",
			(unsigned long long)st.accepted,
			(unsigned long long)
					st.closed[FB_LISTENER_CLOSE_TOO_LARGE],
			st.trusted);
	CHECK(st.closed[FB_LISTENER_CLOSE_TOO_LARGE] >= 1);
	CHECK(st.trusted == 1 && st.untrusted == 0);
	fb_dialer_destroy(d);
	fb_listener_destroy(g.l);
}

TEST(stalled_and_silent_connections_are_closed_in_time)
{
	make_url("deadlines");
	const char *urls[] = {url};
	struct fb_listener_config lc = {.urls = urls,
			.n_urls = 1,
			.recv_max = 4096,
			.preauth_recv_max = 512,
			.preauth_timeout_ms = 600,
			.preauth_message_ms = 300};
	struct fb_listener *l = NULL;
	CHECK_OK(fb_listener_create(&l, &lc));
	uint8_t half[9 + 10];
	ipc_frame_header(half, 20);
	memset(half + 9, 0x80, 10);
	double t0 = fb_clock_s();
	int silent = raw_connect(0, NULL, 0); // not even the SP header
	int halfsp = raw_connect(4, NULL, 0);
	int halfhead = raw_connect(8, half, 5); // a frame header cut short
	int halfmsg = raw_connect(8, half, sizeof(half));
	CHECK(silent >= 0 && halfsp >= 0 && halfhead >= 0 && halfmsg >= 0);
	double a = closed_after(halfsp, t0, 5);
	double b = closed_after(halfhead, t0, 5);
	double c = closed_after(halfmsg, t0, 5);
	double d = closed_after(silent, t0, 5);
	printf("# closed after %.3f, %.3f, %.3f s (started messages, 0.3 s) "
	       "and %.3f s (silent, 0.6 s)\n",
			a, b, c, d);
	CHECK(a >= 0.25 && a < 2.3);
	CHECK(b >= 0.25 && b < 2.3);
	CHECK(c >= 0.25 && c < 2.3);
	CHECK(d >= 0.55 && d < 2.6);
	close(silent);
	close(halfsp);
	close(halfhead);
	close(halfmsg);
	struct fb_listener_stats st;
	fb_listener_stats(l, &st);
	CHECK(st.closed[FB_LISTENER_CLOSE_STALLED] == 3);
	CHECK(st.closed[FB_LISTENER_CLOSE_PREAUTH] == 1);
	fb_listener_destroy(l);
}

TEST(announced_frame_over_the_limit_is_cut_at_once)
{
	make_url("huge");
	const char *urls[] = {url};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
	struct fb_listener *l = NULL;
	CHECK_OK(fb_listener_create(&l, &lc));
	uint8_t head[9];
	ipc_frame_header(head, (uint64_t)1 << 40); // one terabyte
	double t0 = fb_clock_s();
	int fd = raw_connect(8, head, sizeof(head));
	CHECK(fd >= 0);
	double t = closed_after(fd, t0, 5);
	printf("# a frame of 1 TB announced: closed after %.3f s\n", t);
	CHECK(t >= 0 && t < 1);
	close(fd);
	// Not SP at all.
	int http = raw_connect(0, "GET / HTTP/1.1\r\n\r\n", 18);
	CHECK(http >= 0 && closed_after(http, fb_clock_s(), 5) >= 0);
	close(http);
	struct fb_listener_stats st;
	fb_listener_stats(l, &st);
	CHECK(st.closed[FB_LISTENER_CLOSE_TOO_LARGE] == 1);
	CHECK(st.closed[FB_LISTENER_CLOSE_PROTOCOL] == 1);
	fb_listener_destroy(l);
}

TEST(cap_closes_the_oldest_idle_connection)
{
	make_url("cap");
	const char *urls[] = {url};
	struct fb_listener_config lc = {.urls = urls,
			.n_urls = 1,
			.recv_max = 4096,
			.preauth_max = 2};
	struct fb_listener *l = NULL;
	CHECK_OK(fb_listener_create(&l, &lc));
	int a = raw_connect(8, NULL, 0);
	struct timespec pause = {0, 50 * 1000000L};
	nanosleep(&pause, NULL);
	int b = raw_connect(8, NULL, 0);
	nanosleep(&pause, NULL);
	int c = raw_connect(8, NULL, 0);
	CHECK(a >= 0 && b >= 0 && c >= 0);
	double t0 = fb_clock_s();
	CHECK(closed_after(a, t0, 2) >= 0);
	CHECK(closed_after(b, t0, 0.3) < 0 && closed_after(c, t0, 0.3) < 0);
	struct fb_listener_stats st;
	fb_listener_stats(l, &st);
	CHECK(st.closed[FB_LISTENER_CLOSE_CAP] == 1 && st.untrusted == 2);
	close(a);
	close(b);
	close(c);
	fb_listener_destroy(l);
}

TEST(strikes_close_the_connection_after_the_reply)
{
	make_url("strikes");
	const char *urls[] = {url};
	struct fb_listener_config lc = {.urls = urls,
			.n_urls = 1,
			.recv_max = 4096,
			.max_strikes = 2};
	struct gate g = {.strike = true};
	CHECK_OK(fb_listener_create(&g.l, &lc));
	pthread_t owner;
	pthread_create(&owner, NULL, gate_owner, &g);
	struct fb_dialer_config dc = {url, 4096, 10, 50};
	struct fb_dialer *d = NULL;
	CHECK_OK(fb_dialer_create(&d, &dc));
	struct fb_msg *reply = NULL;
	CHECK_OK(fb_dialer_call_take(d, msg_of("one"), 5000, &reply));
	uint32_t p1 = fb_msg_pipe(reply);
	fb_msg_free(reply);
	// The second strike is answered, then the connection closes.
	CHECK_OK(fb_dialer_call_take(d, msg_of("two"), 5000, &reply));
	CHECK(fb_msg_pipe(reply) == p1);
	fb_msg_free(reply);
	for (int k = 0; k < 100 && atomic_load(&g.closed) == 0; k++) {
		struct timespec pause = {0, 20 * 1000000L};
		nanosleep(&pause, NULL);
	}
	CHECK(atomic_load(&g.closed) == 1);
	// The dialer reconnects: a new connection, with no strikes (a call
	// made before the dialer noticed the closure fails).
	fb_err e3 = FB_ENET;
	for (int k = 0; k < 3 && e3 != FB_OK; k++) {
		e3 = fb_dialer_call_take(d, msg_of("three"), 5000, &reply);
	}
	CHECK_OK(e3);
	CHECK(fb_msg_pipe(reply) != p1);
	fb_msg_free(reply);
	atomic_store(&g.stop, 1);
	pthread_join(owner, NULL);
	struct fb_listener_stats st;
	fb_listener_stats(g.l, &st);
	CHECK(st.closed[FB_LISTENER_CLOSE_STRIKES] == 1);
	fb_dialer_destroy(d);
	fb_listener_destroy(g.l);
}

// ---- the SP framing of wire-v1 §1.9, byte by byte ----

// A raw TCP connection to 127.0.0.1:port, or -1.
static int
tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
			.sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

// A TCP port that was free a moment ago.
static int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			getsockname(fd, (struct sockaddr *)&a, &al) == 0) {
		port = ntohs(a.sin_port);
	}
	if (fd >= 0) {
		close(fd);
	}
	return port;
}

// Reads exactly n bytes within 5 s; false on EOF, error or time-out.
static bool
read_exactly(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	double t0 = fb_clock_s();
	while (got < n && fb_clock_s() - t0 < 5) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r <= 0) {
			return false;
		}
		got += (size_t)r;
	}
	return got == n;
}

// One request frame: [01 over ipc] u64 BE length | bt | body, sent whole.
static bool
send_frame(int fd, bool ipc, const uint8_t *bt, size_t bt_len, const char *body)
{
	uint8_t f[128];
	size_t k = 0, n = strlen(body);
	uint64_t len = bt_len + n;
	if (ipc) {
		f[k++] = 1;
	}
	for (int i = 7; i >= 0; i--) {
		f[k++] = (uint8_t)(len >> (8 * i));
	}
	memcpy(f + k, bt, bt_len);
	memcpy(f + k + bt_len, body, n);
	k += bt_len + n;
	return send(fd, f, k, MSG_NOSIGNAL) == (ssize_t)k;
}

// The reply frame to a request (bt, body) must be exactly
// [01] u64 BE (bt_len + body_len) | bt | body: rep0 echoes the backtrace.
static bool
reply_is(int fd, bool ipc, const uint8_t *bt, size_t bt_len, const char *body)
{
	uint8_t want[128], got[128];
	size_t k = 0, n = strlen(body);
	uint64_t len = bt_len + n;
	if (ipc) {
		want[k++] = 1;
	}
	for (int i = 7; i >= 0; i--) {
		want[k++] = (uint8_t)(len >> (8 * i));
	}
	memcpy(want + k, bt, bt_len);
	memcpy(want + k + bt_len, body, n);
	k += bt_len + n;
	return read_exactly(fd, got, k) && memcmp(got, want, k) == 0;
}

// Speaks SP to the listener with raw sockets as wire-v1 §1.9 says, on one
// URL (port > 0: tcp://127.0.0.1:port; else ipc:// in the test folder).
static void
raw_sp_exchange(int port)
{
	bool ipc = port <= 0;
	char tcp_url[64];
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%d", port);
	if (ipc) {
		make_url("sp");
	}
	const char *urls[] = {ipc ? url : tcp_url};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = 4096};
	struct gate g = {0};
	CHECK_OK(fb_listener_create(&g.l, &lc));
	pthread_t owner;
	pthread_create(&owner, NULL, gate_owner, &g);
	int fd = ipc ? raw_connect(0, NULL, 0) : tcp_connect(port);
	CHECK(fd >= 0);
	// The listener speaks first: rep0's SP header, 00 'S' 'P' 00 0031 0000.
	static const uint8_t rep0[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
	static const uint8_t req0[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	uint8_t head[8];
	CHECK(read_exactly(fd, head, 8) && memcmp(head, rep0, 8) == 0);
	CHECK(send(fd, req0, 8, MSG_NOSIGNAL) == 8);
	// A request id with bit 31 set, echoed before the reply.
	static const uint8_t id1[4] = {0x80, 0x00, 0x00, 0x2a};
	CHECK(send_frame(fd, ipc, id1, 4, "hello"));
	CHECK(reply_is(fd, ipc, id1, 4, "hello"));
	// Any id (the listener does not check they increase), and a
	// backtrace of two words (a device's hop, then the id): both echoed.
	static const uint8_t bt2[8] = {0, 0, 0, 7, 0xf1, 0x23, 0x45, 0x67};
	CHECK(send_frame(fd, ipc, bt2, 8, "hop"));
	CHECK(reply_is(fd, ipc, bt2, 8, "hop"));
	// No word with bit 31 set (within 8 hops): not req0; closed.
	static const uint8_t noid[4] = {0x00, 0x00, 0x00, 0x2b};
	CHECK(send_frame(fd, ipc, noid, 4, "x"));
	CHECK(closed_after(fd, fb_clock_s(), 5) >= 0);
	close(fd);
	// A peer announcing another protocol (rep0 itself, 0x0031) is closed.
	fd = ipc ? raw_connect(0, NULL, 0) : tcp_connect(port);
	CHECK(fd >= 0 && read_exactly(fd, head, 8));
	CHECK(send(fd, rep0, 8, MSG_NOSIGNAL) == 8);
	CHECK(closed_after(fd, fb_clock_s(), 5) >= 0);
	close(fd);
	atomic_store(&g.stop, 1);
	pthread_join(owner, NULL);
	struct fb_listener_stats st;
	fb_listener_stats(g.l, &st);
	CHECK(atomic_load(&g.answered) == 2);
	CHECK(st.closed[FB_LISTENER_CLOSE_PROTOCOL] == 2);
	fb_listener_destroy(g.l);
}

TEST(sp_framing_byte_by_byte_over_tcp)
{
	int port = free_port();
	CHECK(port > 0);
	raw_sp_exchange(port);
}

TEST(sp_framing_byte_by_byte_over_ipc)
{
	raw_sp_exchange(0);
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
	RUN(untrusted_limit_is_small_until_trusted);
	RUN(stalled_and_silent_connections_are_closed_in_time);
	RUN(announced_frame_over_the_limit_is_cut_at_once);
	RUN(cap_closes_the_oldest_idle_connection);
	RUN(strikes_close_the_connection_after_the_reply);
	RUN(sp_framing_byte_by_byte_over_tcp);
	RUN(sp_framing_byte_by_byte_over_ipc);
	fb_transport_fini();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", dir);
	}
	return harness_done();
}
