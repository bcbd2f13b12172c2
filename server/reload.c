// server/reload.c: see reload.h. The file is loaded into a fresh roster
// and compared with the federation's clients by key; clients are never
// removed from fed->clients (sessions, the checkpoint and the secure
// round's tables name them by index), only marked revoked, and new ones
// are appended.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/log.h"
#include "reload.h"
#include "secround.h"

static int
client_index(const struct agg_fed *fed, const uint8_t pk[FB_ID_PK_LEN])
{
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		if (memcmp(fed->clients[c].pk, pk, FB_ID_PK_LEN) == 0) {
			return (int)c;
		}
	}
	return -1;
}

// Appends " name" to the list buf.
static void
add_name(char *buf, size_t cap, const char *name)
{
	size_t at = strlen(buf);
	if (at < cap) {
		snprintf(buf + at, cap - at, " %s", name);
	}
}

// Takes client c out of everything: its sessions, its slots, the round it
// is in (as a dropout; a secure round stops waiting for it).
static void
revoke(struct agg_server *srv, uint32_t c)
{
	struct agg_fed *fed = srv->fed;
	struct agg_client *cl = &fed->clients[c];
	for (size_t i = 0; i < srv->sessions.cap; i++) {
		struct agg_session *e = &srv->sessions.v[i];
		if (e->s != NULL && e->client == c) {
			agg_sessions_remove(&srv->sessions, e);
		}
	}
	cl->revoked = true;
	cl->connected = false;
	cl->up.held = false;
	cl->down.held = false;
	if (fed->state == AGG_COLLECTING && cl->participant) {
		agg_fed_client_error(fed, c, fed->round);
		if (cl->status == AGG_CL_WAITING) {
			cl->status = AGG_CL_DROPPED;
			fed->st.dropped++;
		}
	}
}

// Enrolls k: a revoked client of the same key again, else a new client.
static fb_err
enrol(struct agg_fed *fed, const struct fb_peer_key *k)
{
	int c = client_index(fed, k->pk);
	struct agg_client *cl;
	if (c >= 0) {
		cl = &fed->clients[c];
	} else {
		struct agg_client *v = realloc(fed->clients,
				(fed->n_clients + 1) * sizeof(*v));
		if (v == NULL) {
			return FB_ENOMEM;
		}
		fed->clients = v;
		cl = &v[fed->n_clients++];
		memset(cl, 0, sizeof(*cl));
		memcpy(cl->pk, k->pk, FB_ID_PK_LEN);
	}
	cl->revoked = false;
	snprintf(cl->name, sizeof(cl->name), "%s", k->name);
	cl->max_users = k->max_users;
	return FB_OK;
}

// The secure round's tables for the new number of clients, and the
// consortium id of the new file (between secure rounds only).
static fb_err
resize_secure(const struct agg_reload *rl, struct agg_fed *fed)
{
	struct fb_dataset ds = fed->sa.cat;
	agg_secround_finish(&fed->sa);
	fb_err err = agg_secround_init(&fed->sa, fed->cfg, &ds, &fed->model,
			fed->n_clients, fed->plan_cfg.noise_multiplier);
	if (err == FB_OK) {
		err = agg_fed_set_consortium(fed, rl->agg_pk, rl->path);
	}
	return err;
}

// Refuses a file the federation cannot run with; FB_OK if it can.
static fb_err
check_fits(const struct agg_reload *rl, const struct agg_fed *fed,
		const struct fb_roster *next, bool grow)
{
	size_t n = fb_roster_count(next);
	if (n < fed->cfg->quorum) {
		return fb_errorf(FB_EINVAL,
				"%s: enrolls %zu client(s), fewer than the "
				"quorum %u",
				rl->path, n, fed->cfg->quorum);
	}
	uint32_t total = fed->n_clients;
	for (size_t i = 0; i < n; i++) {
		total += client_index(fed, fb_roster_at(next, i)->pk) < 0;
	}
	struct agg_secagg_params p;
	if (fed->sa.enabled && grow &&
			agg_secagg_params(&fed->cfg->round, total, &p) !=
					FB_OK) {
		return fb_errorf(FB_EINVAL,
				"%s: secure aggregation cannot run with %u "
				"client(s): %s",
				rl->path, total, fb_last_error(FB_EINVAL));
	}
	return FB_OK;
}

// The keys of next that are in force now: all of them, or while a secure
// round runs only those the federation already knows (its tables cannot
// grow mid-round). Names of the others into waiting.
static fb_err
in_force(const struct agg_fed *fed, const struct fb_roster *next, bool grow,
		struct fb_roster **out, char *waiting, size_t cap)
{
	fb_err err = fb_roster_create(out);
	for (size_t i = 0; err == FB_OK && i < fb_roster_count(next); i++) {
		const struct fb_peer_key *k = fb_roster_at(next, i);
		if (grow || client_index(fed, k->pk) >= 0) {
			err = fb_roster_add_entry(*out, k);
		} else {
			add_name(waiting, cap, k->name);
		}
	}
	return err;
}

// The warning a reload writes: what changed.
static void
log_change(const struct agg_reload *rl, const struct agg_fed *fed,
		const char *added, const char *revoked, const char *waiting)
{
	fb_log(FB_LOG_WARN,
			"roster %s reloaded: %u client(s) enrolled; added:%s; "
			"revoked:%s%s%s",
			rl->path, agg_fed_enrolled(fed),
			added[0] != '\0' ? added : " none",
			revoked[0] != '\0' ? revoked : " none",
			waiting[0] != '\0' ? "; enrolled once the secure "
					     "round ends:"
					   : "",
			waiting);
}

fb_err
agg_reload_roster(
		struct agg_reload *rl, struct agg_server *srv, uint64_t now_ms)
{
	struct agg_fed *fed = srv->fed;
	struct fb_roster *next = NULL, *force = NULL;
	bool grow = !fed->sa.active;
	char added[512] = "", revoked[512] = "", waiting[512] = "";
	fb_err err = fb_roster_load(&next, rl->path);
	if (err == FB_OK) {
		err = check_fits(rl, fed, next, grow);
	}
	if (err == FB_OK) {
		err = in_force(fed, next, grow, &force, waiting,
				sizeof(waiting));
	}
	fb_roster_destroy(next);
	if (err != FB_OK) {
		fb_roster_destroy(force);
		return err;
	}
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		struct agg_client *cl = &fed->clients[c];
		if (!cl->revoked && fb_roster_find(force, cl->pk) == NULL) {
			revoke(srv, c);
			add_name(revoked, sizeof(revoked), cl->name);
		}
	}
	for (size_t i = 0; err == FB_OK && i < fb_roster_count(force); i++) {
		const struct fb_peer_key *k = fb_roster_at(force, i);
		int c = client_index(fed, k->pk);
		if (c < 0 || fed->clients[c].revoked) {
			err = enrol(fed, k);
			add_name(added, sizeof(added), k->name);
		} else {
			fed->clients[c].max_users = k->max_users; // its new cap
		}
	}
	if (err == FB_OK && fed->sa.enabled && grow) {
		err = resize_secure(rl, fed);
	}
	fb_hs_server_set_roster(srv->hs, force);
	srv->roster = force;
	fb_roster_destroy(rl->roster);
	rl->roster = force;
	bool was_pending = rl->pending;
	rl->pending = fed->sa.enabled && !grow;
	if (was_pending && added[0] == '\0' && revoked[0] == '\0' &&
			waiting[0] == '\0') {
		fb_log(FB_LOG_INFO,
				"roster %s: the secure round ended; secure "
				"aggregation now uses the reloaded roster",
				rl->path);
	} else {
		log_change(rl, fed, added, revoked, waiting);
	}
	if (err != FB_OK) {
		// Memory ran out half-way: the secure round's tables may
		// be gone, so training stops.
		fb_log(FB_LOG_ERROR, "roster %s: reload incomplete: %s",
				rl->path, fb_last_error(err));
		fed->fatal = true;
		agg_fed_stop(fed, now_ms, "out of memory reloading the roster");
	}
	return FB_OK;
}

bool
agg_reload_due(const struct agg_reload *rl, const struct agg_server *srv)
{
	return rl->pending && !srv->fed->sa.active;
}

void
agg_reload_finish(struct agg_reload *rl)
{
	if (rl != NULL) {
		fb_roster_destroy(rl->roster);
		rl->roster = NULL;
	}
}
