// include/fedbundle/util/parallel.h: a minimal fork-join parallel loop over
// pthreads. Work is split into `threads` contiguous ranges, so which thread
// handles which index is a pure function of (n, threads): callers that
// reduce per-thread results in thread order stay deterministic.
// Thread-safety: fn runs concurrently on disjoint ranges.
#ifndef FB_INCLUDE_FEDBUNDLE_PARALLEL_H
#define FB_INCLUDE_FEDBUNDLE_PARALLEL_H

#include <stddef.h>

// Calls fn(ctx, thread, begin, end) for `threads` contiguous ranges covering
// [0, n); thread 0 runs on the caller. If a thread cannot be started, its
// range runs on the caller, so the loop always completes.
void fb_parallel_for(int threads, size_t n,
		void (*fn)(void *ctx, int thread, size_t begin, size_t end),
		void *ctx);

#endif
