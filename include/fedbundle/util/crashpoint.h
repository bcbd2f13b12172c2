// include/fedbundle/util/crashpoint.h: named crash points for the crash-safety
// tests (tests/integration/test-fed-crash*.sh). A crash point marks a
// distinct step of a round where a real crash must leave the on-disk state
// (checkpoint, planned-round marker, ledger, client state) consistent.
// The environment variable FB_CRASH_AT arms one point:
//   FB_CRASH_AT=NAME        SIGKILL at the first hit of NAME
//   FB_CRASH_AT=NAME#N      at its N-th hit (N >= 1)
//   FB_CRASH_AT=NAME#N+MS   MS milliseconds after its N-th hit (from a
//                           helper thread: the process goes on meanwhile,
//                           e.g. into a send, and dies part-way)
// Before the kill one line "crashpoint NAME#N: SIGKILL" goes to stderr, so
// a test can tell that the point was reached. Unarmed, a crash point costs
// one string compare against a cached value. Never armed in production.
// Thread-safety: may be called from any thread; hits are counted atomically.
#ifndef FB_INCLUDE_FEDBUNDLE_CRASHPOINT_H
#define FB_INCLUDE_FEDBUNDLE_CRASHPOINT_H

// Counts a hit of the crash point name (a static string, [a-z._:-]) and
// kills the process with SIGKILL if FB_CRASH_AT arms this hit.
void fb_crashpoint(const char *name);

#endif
