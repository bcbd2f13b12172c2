// include/fedbundle/util/clock.h: the one monotonic clock every deadline,
// timeout and timing in fedbundle reads, so that no two modules can
// disagree on what "now" is or which clock it comes from.
// Thread-safety: both functions may be called from any thread.
#ifndef FB_INCLUDE_FEDBUNDLE_CLOCK_H
#define FB_INCLUDE_FEDBUNDLE_CLOCK_H

#include <stdint.h>

// Milliseconds of CLOCK_MONOTONIC (unaffected by changes of the wall
// clock; its zero is arbitrary, so only differences mean anything).
uint64_t fb_clock_ms(void);

// Seconds of the same clock, with nanosecond resolution, for timings.
double fb_clock_s(void);

// CPU seconds the whole process has used (all its threads): what a
// timing costs on a shared machine, where wall time also counts waiting
// for a core.
double fb_clock_cpu_s(void);

#endif
