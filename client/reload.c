// client/reload.c: see reload.h. The new roster and its consortium id are
// both computed before anything is replaced, so a failure changes
// nothing; the old roster is freed only once the new one is in place.
#include <stdio.h>
#include <string.h>

#include "fedbundle/secagg/advert.h"
#include "fedbundle/util/log.h"
#include "reload.h"

// Appends " name" of every key of a that b lacks to buf.
static void
names_missing(const struct fb_roster *a, const struct fb_roster *b, char *buf,
		size_t cap)
{
	for (size_t i = 0; i < fb_roster_count(a); i++) {
		const struct fb_peer_key *k = fb_roster_at(a, i);
		size_t at = strlen(buf);
		if ((b == NULL || fb_roster_find(b, k->pk) == NULL) &&
				at < cap) {
			snprintf(buf + at, cap - at, " %s", k->name);
		}
	}
}

fb_err
node_reload_roster(struct node *n)
{
	const char *path = n->pol->roster;
	if (path[0] == '\0') {
		return fb_errorf(FB_EINVAL,
				"the policy names no roster: nothing to "
				"reload");
	}
	struct fb_roster *next = NULL;
	uint8_t id[sizeof(n->consortium)];
	fb_err err = fb_roster_load(&next, path);
	if (err == FB_OK) {
		err = fb_secagg_consortium(n->server.pk, path, id);
	}
	if (err != FB_OK) {
		fb_roster_destroy(next);
		return err;
	}
	char added[512] = "", removed[512] = "";
	if (n->roster != NULL) {
		names_missing(next, n->roster, added, sizeof(added));
		names_missing(n->roster, next, removed, sizeof(removed));
	} else {
		names_missing(next, NULL, added, sizeof(added));
	}
	fb_roster_destroy(n->roster);
	n->roster = next;
	memcpy(n->consortium, id, sizeof(n->consortium));
	fb_log(FB_LOG_WARN,
			"roster %s reloaded: %zu member(s); added:%s; "
			"removed:%s",
			path, fb_roster_count(next),
			added[0] != '\0' ? added : " none",
			removed[0] != '\0' ? removed : " none");
	return FB_OK;
}
