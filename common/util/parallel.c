// common/util/parallel.c: fork-join over pthreads, one thread per range. The
// loops it runs are long (whole passes over a model), so creating threads
// per call costs far less than the work.
#include <pthread.h>

#include "fedbundle/util/parallel.h"

#define MAX_THREADS 64

struct range {
	void (*fn)(void *ctx, int thread, size_t begin, size_t end);
	void *ctx;
	int thread;
	size_t begin;
	size_t end;
};

static void *
run_range(void *arg)
{
	struct range *r = arg;
	r->fn(r->ctx, r->thread, r->begin, r->end);
	return NULL;
}

void
fb_parallel_for(int threads, size_t n,
		void (*fn)(void *ctx, int thread, size_t begin, size_t end),
		void *ctx)
{
	if (threads < 1) {
		threads = 1;
	}
	if (threads > MAX_THREADS) {
		threads = MAX_THREADS;
	}
	if ((size_t)threads > n) {
		threads = n > 0 ? (int)n : 1;
	}
	struct range ranges[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int started[MAX_THREADS] = {0};
	for (int t = 0; t < threads; t++) {
		ranges[t] = (struct range){fn, ctx, t, n * (size_t)t / threads,
				n * (size_t)(t + 1) / threads};
	}
	for (int t = 1; t < threads; t++) {
		started[t] = pthread_create(&tids[t], NULL, run_range,
					     &ranges[t]) == 0;
	}
	run_range(&ranges[0]);
	for (int t = 1; t < threads; t++) {
		if (started[t]) {
			pthread_join(tids[t], NULL);
		} else {
			run_range(&ranges[t]);
		}
	}
}
