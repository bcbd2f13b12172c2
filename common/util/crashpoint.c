// common/util/crashpoint.c: see crashpoint.h. FB_CRASH_AT is read once (the
// first call) into a static copy; only hits of the armed name are
// counted. The kill is raise(SIGKILL): no atexit handler, no buffered
// stdio flush, no destructor runs, exactly like a power cut for the
// process (the kernel still has what was written).
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/util/crashpoint.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char armed[128];
static unsigned long armed_hit = 1;
static unsigned long armed_delay_ms;
static atomic_ulong hits;

static void
parse_env(void)
{
	const char *v = getenv("FB_CRASH_AT");
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof(armed)) {
		return;
	}
	snprintf(armed, sizeof(armed), "%s", v);
	char *plus = strchr(armed, '+');
	if (plus != NULL) {
		*plus = '\0';
		armed_delay_ms = strtoul(plus + 1, NULL, 10);
	}
	char *hash = strchr(armed, '#');
	if (hash != NULL) {
		*hash = '\0';
		armed_hit = strtoul(hash + 1, NULL, 10);
		if (armed_hit == 0) {
			armed_hit = 1;
		}
	}
}

static void
say(const char *name, unsigned long n, const char *how)
{
	char line[200];
	int len = snprintf(line, sizeof(line), "crashpoint %s#%lu: %s\n", name,
			n, how);
	if (len > 0) {
		ssize_t w = write(STDERR_FILENO, line,
				(size_t)len < sizeof(line) ? (size_t)len
							   : sizeof(line) - 1);
		(void)w;
	}
}

static void *
delayed_kill(void *arg)
{
	(void)arg;
	struct timespec ts = {(time_t)(armed_delay_ms / 1000),
			(long)(armed_delay_ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
	raise(SIGKILL);
	return NULL;
}

void
fb_crashpoint(const char *name)
{
	pthread_once(&once, parse_env);
	if (armed[0] == '\0' || strcmp(name, armed) != 0) {
		return;
	}
	unsigned long n = atomic_fetch_add(&hits, 1) + 1;
	if (n != armed_hit) {
		return;
	}
	if (armed_delay_ms == 0) {
		say(name, n, "SIGKILL");
		raise(SIGKILL);
		return;
	}
	say(name, n, "SIGKILL after a delay");
	pthread_t t;
	if (pthread_create(&t, NULL, delayed_kill, NULL) != 0) {
		raise(SIGKILL);
		return;
	}
	pthread_detach(t);
}
