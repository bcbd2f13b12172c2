// server/sessions.c: see sessions.h. A linear table: the consortium has
// tens of clients, and a lookup is one 16-byte compare per entry, far below
// the cost of opening the message it serves.
#include <stdlib.h>
#include <string.h>

#include "sessions.h"

fb_err
agg_sessions_init(struct agg_sessions *t, size_t cap)
{
	t->v = calloc(cap > 0 ? cap : 1, sizeof(*t->v));
	t->cap = cap > 0 ? cap : 1;
	t->removed = NULL;
	t->removed_ctx = NULL;
	return t->v != NULL ? FB_OK : FB_ENOMEM;
}

void
agg_sessions_finish(struct agg_sessions *t)
{
	if (t == NULL || t->v == NULL) {
		return;
	}
	for (size_t i = 0; i < t->cap; i++) {
		fb_session_destroy(t->v[i].s);
	}
	free(t->v);
	t->v = NULL;
}

struct agg_session *
agg_sessions_add(struct agg_sessions *t, struct fb_session *s, uint32_t pipe,
		uint32_t client, uint64_t now_ms)
{
	struct agg_session *slot = NULL;
	for (size_t i = 0; i < t->cap; i++) {
		struct agg_session *e = &t->v[i];
		if (e->s != NULL && e->client == client) {
			agg_sessions_remove(t, e);
		}
		if (e->s == NULL && slot == NULL) {
			slot = e;
		}
	}
	if (slot == NULL) {
		slot = &t->v[0];
		for (size_t i = 1; i < t->cap; i++) {
			if (t->v[i].last_ms < slot->last_ms) {
				slot = &t->v[i];
			}
		}
		agg_sessions_remove(t, slot);
	}
	slot->s = s;
	slot->pipe = pipe;
	slot->client = client;
	slot->last_ms = now_ms;
	return slot;
}

struct agg_session *
agg_sessions_find(struct agg_sessions *t, const uint8_t sid[FB_ENV_SID_LEN])
{
	for (size_t i = 0; i < t->cap; i++) {
		struct agg_session *e = &t->v[i];
		if (e->s != NULL &&
				memcmp(fb_session_id(e->s), sid,
						FB_ENV_SID_LEN) == 0) {
			return e;
		}
	}
	return NULL;
}

void
agg_sessions_remove(struct agg_sessions *t, struct agg_session *e)
{
	uint32_t pipe = e->pipe;
	fb_session_destroy(e->s);
	memset(e, 0, sizeof(*e));
	if (t->removed != NULL) {
		t->removed(t->removed_ctx, pipe);
	}
}

size_t
agg_sessions_pipe_closed(struct agg_sessions *t, uint32_t pipe)
{
	size_t n = 0;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->v[i].s != NULL && t->v[i].pipe == pipe) {
			agg_sessions_remove(t, &t->v[i]);
			n++;
		}
	}
	return n;
}

int
agg_sessions_has_client(const struct agg_sessions *t, uint32_t client)
{
	for (size_t i = 0; i < t->cap; i++) {
		if (t->v[i].s != NULL && t->v[i].client == client) {
			return 1;
		}
	}
	return 0;
}
