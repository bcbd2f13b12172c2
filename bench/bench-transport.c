// bench/bench-transport.c: the transport's limit on this machine, for
// docs/benchmarks-federation.md: fedbundle's own NNG transport
// (common/net/transport.c: the listener reading SP frames from nng_stream on
// tcp:// and ipc://, rep0 contexts on inproc://; a req0 dialer) moving
// SIZE-byte requests and SIZE-byte replies over tcp:// loopback, the way an
// UPDATE and a PLAN travel. One thread answers (as the aggregator's owner
// thread does), the main thread sends. Prints the median of REPS round
// trips as GB/s of payload moved (request + reply).
// usage: bench-transport [--size MB] [--reps N] [--url URL] [--json]
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/net/transport.h"
#include "fedbundle/util/clock.h"

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct server {
	struct fb_listener *l;
	size_t size;
	int reps;
};

static void *
serve(void *arg)
{
	struct server *s = arg;
	for (int k = 0; k < s->reps;) {
		struct fb_listener_event ev;
		if (fb_listener_wait(s->l, 1000, &ev) != FB_OK ||
				ev.kind != FB_LISTENER_REQUEST) {
			continue;
		}
		struct fb_msg *m = NULL;
		if (fb_msg_alloc(&m, s->size) != FB_OK) {
			fb_request_drop(ev.req);
			continue;
		}
		memset(fb_msg_data(m), 0x5a, s->size);
		fb_request_reply_take(ev.req, m);
		k++;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	double mb = 25.6;
	int reps = 9;
	bool json = false;
	const char *url = "tcp://127.0.0.1:47391";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
			mb = atof(argv[++i]);
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr,
					"usage: bench-transport [--size MB] "
					"[--reps N] [--url URL] [--json]\n");
			return 2;
		}
	}
	size_t size = (size_t)(mb * 1e6);
	reps = reps < 1 ? 1 : reps;
	struct server s = {NULL, size, reps + 1};
	const char *urls[1] = {url};
	struct fb_listener_config lc = {
			.urls = urls, .n_urls = 1, .recv_max = size};
	struct fb_dialer *d = NULL;
	struct fb_dialer_config dc = {url, size, 100, 1000};
	if (fb_listener_create(&s.l, &lc) != FB_OK ||
			fb_dialer_create(&d, &dc) != FB_OK) {
		fprintf(stderr, "bench-transport: %s\n",
				fb_last_error(FB_ENET));
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, serve, &s);
	double *times = calloc((size_t)reps, sizeof(*times));
	for (int k = 0; k <= reps; k++) { // the first is a warm-up
		struct fb_msg *m = NULL, *r = NULL;
		if (fb_msg_alloc(&m, size) != FB_OK) {
			return 1;
		}
		memset(fb_msg_data(m), 0xa5, size);
		double t0 = fb_clock_s();
		if (fb_dialer_call_take(d, m, 60000, &r) != FB_OK) {
			fprintf(stderr, "bench-transport: %s\n",
					fb_last_error(FB_ENET));
			return 1;
		}
		if (k > 0) {
			times[k - 1] = fb_clock_s() - t0;
		}
		fb_msg_free(r);
	}
	pthread_join(t, NULL);
	qsort(times, (size_t)reps, sizeof(*times), cmp_double);
	double med = 2.0 * (double)size / times[reps / 2] / 1e9;
	double best = 2.0 * (double)size / times[0] / 1e9;
	if (json) {
		printf("{\"nng_tcp_loopback\": {\"median\": %.4g, \"best\": "
		       "%.4g, \"unit\": \"GB/s\", \"message_mb\": %.1f}}\n",
				med, best, mb);
	} else {
		printf("NNG tcp loopback, %.1f MB request + reply: %.3g GB/s "
		       "median (best %.3g)\n",
				mb, med, best);
	}
	free(times);
	fb_dialer_destroy(d);
	fb_listener_destroy(s.l);
	fb_transport_fini();
	return 0;
}
