// client/node.c: see node.h. Invariants: a session is used only while
// every message of it opened; any refusal, sealed ERROR, timeout or reply
// on another connection drops it (§4.4, §5.1); the round counts as
// completed only when its ACK was opened; the state file is rewritten
// only after that, with the ledger anchor of that moment, read from the
// ledger handle the node holds (locked) from open to close.
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "fedbundle/net/envelope.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/crashpoint.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "local.h"
#include "node.h"
#include "pending.h"
#include "reload.h"
#include "secround.h"

#define CONFIG_SLACK 4096 // room for config fields this client does not know

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t hup_signal; // reload the roster (reload.h)

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
on_hup(int sig)
{
	hup_signal = sig;
}

// A SIGHUP came: reloads the roster once no secure round is in progress
// (a plain round runs within one step), never mid-round (reload.h).
static void
reload_if_asked(struct node *n)
{
	if (hup_signal == 0 || n->sr != NULL) {
		return;
	}
	hup_signal = 0;
	fb_err err = node_reload_roster(n);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR,
				"roster reload refused, the old roster stays "
				"in force: %s",
				fb_last_error(err));
	}
}

// Sleeps ms, or less once a stop signal came: in slices of 100 ms, since
// the signal may be delivered to one of NNG's threads rather than
// interrupt this one's nanosleep.
static void
sleep_ms(uint32_t ms)
{
	uint64_t end = fb_clock_ms() + ms;
	for (uint64_t now = fb_clock_ms(); now < end && stop_signal == 0;
			now = fb_clock_ms()) {
		uint64_t left = end - now < 100 ? end - now : 100;
		struct timespec ts = {0, (long)left * 1000000L};
		nanosleep(&ts, NULL);
	}
}

// ms plus a uniform jitter of up to 20% (§6.1).
static uint32_t
jitter(uint32_t ms)
{
	uint32_t extra = ms / 5;
	return ms + (extra > 0 ? randombytes_uniform(extra + 1) : 0);
}

// Recomputes st.exhausted from the ledger and the policy (budget.h),
// logging a change: the state file's flag is only what was true when it
// was written, before a budget raised since. On an accounting error the
// flag is left as it was (the next plan is checked against the ledger
// again before any release).
static fb_err
refresh_exhausted(struct node *n)
{
	double spent = 0;
	bool exhausted = false;
	fb_err err = node_budget_check(n->pol, n->ledger, &spent, &exhausted);
	if (err != FB_OK) {
		return err;
	}
	if (exhausted && !n->st.exhausted) {
		fb_log(FB_LOG_INFO,
				"privacy budget exhausted: epsilon %.4f spent of "
				"%g (delta %g); this client will not train "
				"again unless its policy's epsilon is raised",
				spent, n->pol->epsilon, n->pol->delta);
	} else if (!exhausted && n->st.exhausted) {
		fb_log(FB_LOG_INFO,
				"privacy budget left: epsilon %.4f spent of %g "
				"(delta %g); ready to train again",
				spent, n->pol->epsilon, n->pol->delta);
	}
	n->st.exhausted = exhausted;
	return FB_OK;
}

// Whether the copy c found at start still stands (wire-v1 §6.1 "A lost
// ACK"). The state may not know the copy's federation yet: the plan of
// the copy's round made the last life follow it (follow_federation)
// before it stopped, the state unsaved; the same is done again here.
static bool
pending_stands(struct node *n, const struct node_pending_copy *c)
{
	char fed[2 * FB_WIRE_FEDERATION_ID_LEN + 1] = "none";
	if (fb_wire_federation_id_set(c->federation)) {
		sodium_bin2hex(fed, sizeof(fed), c->federation,
				FB_WIRE_FEDERATION_ID_LEN);
	}
	if (fb_wire_federation_id_set(n->st.federation) &&
			memcmp(c->federation, n->st.federation,
					FB_WIRE_FEDERATION_ID_LEN) != 0) {
		fb_log(FB_LOG_INFO,
				"round %u: the saved update is of another "
				"federation (%s): removed",
				c->round, fed);
		return false;
	}
	// Before following the copy's federation, which may reset the count.
	if (c->round <= n->st.last_completed) {
		fb_log(FB_LOG_INFO,
				"round %u: the saved update is of a completed "
				"round (last completed %u): removed",
				c->round, n->st.last_completed);
		return false;
	}
	if (fb_wire_federation_id_set(c->federation) &&
			node_state_follow(&n->st, c->federation, c->round) !=
					NODE_FED_SAME) {
		fb_log(FB_LOG_INFO, "round %u: federation %s (saved update)",
				c->round, fed);
	}
	return true;
}

// A training client's first step after the handshake is the resend of an
// UPDATE whose ACK did not arrive before it stopped, if its copy is in the
// state folder (pending.h). A damaged copy is removed with a warning: the
// round is then trained again if it is still offered.
static void
load_pending(struct node *n)
{
	snprintf(n->pending_path, sizeof(n->pending_path), "%s/%s",
			n->pol->state_dir, NODE_PENDING_FILE);
	struct node_pending_copy c;
	bool found = false;
	fb_err err = node_pending_load(n->pending_path, &found, &c);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN,
				"%s; going on without it (its round is trained "
				"again if it is offered again)",
				fb_last_error(err));
	}
	if (err == FB_EFORMAT ||
			(err == FB_OK && found && !pending_stands(n, &c))) {
		err = node_pending_remove(n->pending_path);
		if (err != FB_OK) {
			fb_log(FB_LOG_WARN, "%s", fb_last_error(err));
		}
		free(c.bytes);
		return;
	}
	if (err != FB_OK || !found) {
		return;
	}
	struct node_pending *p = &n->pending;
	free(p->bytes);
	*p = (struct node_pending){.active = true,
			.res = c.res,
			.round = c.round,
			.bytes = c.bytes,
			.len = c.len,
			.cap = c.len,
			.on_disk = true,
			.disk_round = c.round};
	fb_log(FB_LOG_INFO,
			"round %u: an update whose ACK did not arrive before "
			"the restart (%.2f MB): offering it again first",
			c.round, (double)c.len / 1e6);
}

// What node_open and node_open_with share once the identity, the pinned
// key and the dataset are there: the state and the ledger.
static fb_err
open_state(struct node *n, enum node_use use)
{
	const struct node_policy *pol = n->pol;
	if (pol->users > 0 && pol->users < n->ds->n_users) {
		// Releases are divided by q x users and the aggregator bounds
		// them from it (protocols/wire-v1.md §9.7): a declaration below
		// the users actually there could make honest updates too large.
		return fb_errorf(FB_EINVAL,
				"users: the policy declares %llu users, fewer "
				"than the %u in %s; declare at least as many "
				"(a round figure above the count; "
				"docs/operations.md)",
				(unsigned long long)pol->users, n->ds->n_users,
				pol->data_dir);
	}
	fb_err err = fb_mkdir_p(pol->state_dir);
	if (err != FB_OK) {
		return err;
	}
	snprintf(n->state_path, sizeof(n->state_path), "%s/state.fbc",
			pol->state_dir);
	bool found = false;
	err = node_state_load(&n->st, n->state_path, &found);
	if (err != FB_OK) {
		return err;
	}
	if (!found && use == NODE_READ) {
		return fb_errorf(FB_ESTATE,
				"%s: no client state yet (run the "
				"client first)",
				n->state_path);
	}
	if (found && n->st.P.rows > 0 && n->st.P.rows != n->ds->n_users) {
		return fb_errorf(FB_EFORMAT,
				"%s: state of %zu users, the dataset has %u",
				n->state_path, n->st.P.rows, n->ds->n_users);
	}
	// A missing ledger is left NULL for the check below, unless a client
	// that trains may create it: only one whose state has never recorded
	// a release (state.h). A training client holds it until node_close.
	bool missing = access(pol->ledger, F_OK) != 0 && errno == ENOENT;
	if (use == NODE_RUN && (!missing || n->st.ledger_count == 0)) {
		err = fb_ledger_open(&n->ledger, pol->ledger,
				n->st.ledger_count == 0);
	} else if (!missing) {
		err = fb_ledger_open_read(&n->ledger, pol->ledger);
	}
	if (err == FB_OK) {
		err = node_state_check_ledger(&n->st, n->ledger, pol->ledger);
	}
	if (err == FB_OK && !found) {
		// A first start: anchor whatever ledger is already there.
		node_state_anchor(&n->st, n->ledger);
	}
	if (err == FB_OK && use == NODE_RUN && n->ledger != NULL) {
		// A budget other than the last recorded one is a decision of
		// this retailer: recorded before anything is released under it.
		err = node_budget_record(pol, n->ledger, n->st.last_completed);
	}
	if (err == FB_OK) {
		err = refresh_exhausted(n);
	}
	if (err == FB_OK && use == NODE_RUN) {
		load_pending(n);
	}
	if (err == FB_OK && use == NODE_RUN && pol->roster[0] != '\0') {
		// The consortium roster peers' advertisements are checked
		// against in secure rounds (secagg-v1 §3.1).
		err = fb_roster_load(&n->roster, pol->roster);
		if (err == FB_OK) {
			err = fb_secagg_consortium(n->server.pk, pol->roster,
					n->consortium);
		}
	}
	return err;
}

fb_err
node_open(struct node *n, const struct node_policy *pol, enum node_use use)
{
	memset(n, 0, sizeof(*n));
	n->pol = pol;
	n->keep_global = true;
	fb_err err = fb_identity_load(&n->id, pol->key);
	if (err == FB_OK) {
		err = fb_peer_key_load(&n->server, pol->server_key);
	}
	if (err == FB_OK) {
		err = fb_dataset_load(&n->ds, pol->data_dir);
	}
	if (err != FB_OK) {
		return err;
	}
	return open_state(n, use);
}

fb_err
node_open_with(struct node *n, const struct node_policy *pol,
		struct fb_identity *id, const struct fb_peer_key *server,
		struct fb_dataset *ds)
{
	memset(n, 0, sizeof(*n));
	n->pol = pol;
	n->keep_global = true;
	n->id = id;
	n->server = *server;
	n->ds = ds;
	n->ds_borrowed = true;
	return open_state(n, NODE_RUN);
}

void
node_close(struct node *n)
{
	if (n == NULL) {
		return;
	}
	node_secround_destroy(n->sr);
	n->sr = NULL;
	fb_roster_destroy(n->roster);
	n->roster = NULL;
	free(n->pending.bytes);
	memset(&n->pending, 0, sizeof(n->pending));
	node_work_finish(&n->work); // before the dataset its trainer reads
	node_state_finish(&n->st);
	fb_ledger_close(n->ledger); // releases its lock
	n->ledger = NULL;
	if (!n->ds_borrowed) {
		fb_dataset_destroy(n->ds);
	}
	fb_identity_destroy(n->id);
	n->ds = NULL;
	n->id = NULL;
}

static void
drop_session(struct node_conn *c)
{
	fb_session_destroy(c->s);
	c->s = NULL;
}

static uint32_t
reconnect_min(const struct node *n)
{
	return n->pol->reconnect_min_ms > 0 ? n->pol->reconnect_min_ms : 100;
}

static uint32_t
reconnect_max(const struct node *n)
{
	uint32_t max = n->pol->reconnect_max_ms > 0 ? n->pol->reconnect_max_ms
						    : 5000;
	return max > reconnect_min(n) ? max : reconnect_min(n);
}

// NNG's own reconnection (connection attempts while the aggregator is
// unreachable, which cost it nothing) backs off from the same minimum to
// at most 1 s, so that a client notices a restarted aggregator within a
// second; handshakes back off further (backoff()).
static uint32_t
transport_reconnect_max(const struct node *n)
{
	return reconnect_max(n) < 1000 ? reconnect_max(n) : 1000;
}

// A session was lost or could not be made (§6.1): the next handshake
// waits backoff_ms, reconnect_min_ms doubled per failure in a row up to
// reconnect_max_ms, jittered in node_connect. Only a request that made
// progress (a usable PLAN, an ACK) resets it, never a handshake alone: an
// aggregator that authenticates the client and then refuses it must not
// see it come back at once, forever.
static void
backoff(const struct node *n, struct node_conn *c)
{
	uint64_t next = c->backoff_ms == 0 ? reconnect_min(n)
					   : 2 * (uint64_t)c->backoff_ms;
	c->backoff_ms = next > reconnect_max(n) ? reconnect_max(n)
						: (uint32_t)next;
}

// The largest PLAN this client accepts: the catalogue's model at max_dim
// with every configuration field it knows, plus room for fields it does
// not (wire-v1 §1.4): its receive limit, set before it dials.
static size_t
max_plan_len(const struct node *n)
{
	const struct fb_dataset *ds = n->ds;
	uint32_t d = n->pol->max_dim;
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 1;
	p.config = (struct fb_wire_round_config){
			.sampling_rate = 1,
			.clip_norm = 1,
			.local_epochs = 1,
			.hp.lr = 1,
			.hp.negatives = 1,
			.hp.dim = d,
			.update_dtype = FB_WIRE_DTYPE_F32,
			.has_train_opts = true,
	};
	fb_wire_hparams_defaults(&p.config.hp);
	p.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, ds->n_items, d, NULL};
	p.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, ds->n_bundles, d, NULL};
	p.tensors[2] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ATTR_PROJ,
			FB_WIRE_DTYPE_F32, 0, ds->n_attrs > 0 ? ds->n_attrs : 1,
			d, NULL};
	p.n_tensors = 3;
	size_t len = FB_SEALED_LEN(fb_wire_plan_len(&p)) + CONFIG_SLACK;
	if (n->pol->roster[0] != '\0') {
		// A secure round: the plan's secagg field (36 + 32 n bytes),
		// the largest SA_PEERS or SA_INBOX reply, and the masked
		// UPDATE (the aggregator's limit covers it: u64 elements of a
		// release layout of at most (items + bundles) x d).
		size_t sa = 36 +
				(size_t)FB_WIRE_SECAGG_N_MAX *
						FB_WIRE_SECAGG_KEY_LEN;
		size_t peers = FB_SEALED_LEN(fb_sa_peers_len(FB_SA_PARTY_MAX));
		len += sa > peers ? sa : peers;
		struct fb_wire_update u;
		memset(&u, 0, sizeof(u));
		u.clip_norm = 1;
		u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
				FB_WIRE_DTYPE_U64, 0,
				(ds->n_items + ds->n_bundles) * d, 1, NULL};
		u.n_tensors = 1;
		size_t masked = FB_SEALED_LEN(fb_wire_update_len(&u));
		len = masked + CONFIG_SLACK > len ? masked + CONFIG_SLACK : len;
	}
	return len;
}

static fb_err
call(struct node *n, struct node_conn *c, struct fb_msg *req,
		struct fb_msg **reply)
{
	return fb_dialer_call_take(
			c->d, req, (int)n->pol->request_timeout_ms, reply);
}

static fb_err
call_copy(struct node *n, struct node_conn *c, const uint8_t *buf, size_t len,
		struct fb_msg **reply)
{
	struct fb_msg *m = NULL;
	fb_err err = fb_msg_alloc(&m, len);
	if (err != FB_OK) {
		return err;
	}
	memcpy(fb_msg_data(m), buf, len);
	return call(n, c, m, reply);
}

// The reason of a plaintext ERROR reply, 0 if msg is not one.
static uint16_t
plain_reason(struct fb_msg *m)
{
	struct fb_wire_header h;
	struct fb_wire_reason_text e;
	if (fb_wire_header_decode(&h, fb_msg_data(m), fb_msg_len(m)) != FB_OK ||
			h.type != FB_WIRE_ERROR_PLAIN ||
			fb_wire_error_decode(&e,
					fb_msg_data(m) + FB_WIRE_HDR_LEN,
					fb_msg_len(m) - FB_WIRE_HDR_LEN) !=
					FB_OK) {
		return 0;
	}
	return e.reason;
}

// HELLO -> WELCOME -> AUTH -> AUTH_OK (§3). *fatal for a refusal that
// retrying cannot fix (this key is not enrolled).
static fb_err
handshake(struct node *n, struct node_conn *c, bool *fatal)
{
	struct fb_hs_client *hs = NULL;
	struct fb_msg *reply = NULL;
	uint8_t buf[FB_HS_MSG_MAX];
	size_t len = 0;
	*fatal = false;
	fb_err err = fb_hs_client_create(&hs, n->id, &n->server);
	if (err == FB_OK) {
		err = fb_hs_client_hello(hs, buf, sizeof(buf), &len);
	}
	if (err == FB_OK) {
		err = call_copy(n, c, buf, len, &reply);
	}
	if (err == FB_OK) {
		err = fb_hs_client_welcome(hs, fb_msg_data(reply),
				fb_msg_len(reply), buf, sizeof(buf), &len);
		if (err != FB_OK && fb_hs_client_refusal(hs) != 0) {
			uint16_t r = fb_hs_client_refusal(hs);
			*fatal = r == FB_WIRE_REASON_UNKNOWN_KEY;
			err = fb_errorf(FB_EPROTO,
					"the aggregator refused HELLO: %s%s",
					fb_wire_reason_name(r),
					*fatal ? ": this client is not "
						 "enrolled"
					       : "");
		}
		fb_msg_free(reply);
		reply = NULL;
	}
	if (err == FB_OK) {
		err = call_copy(n, c, buf, len, &reply);
	}
	uint64_t max_msg = 0;
	if (err == FB_OK) {
		uint32_t pipe = fb_msg_pipe(reply);
		uint16_t r = plain_reason(reply);
		err = fb_hs_client_finish(hs, fb_msg_data(reply),
				fb_msg_len(reply), &c->s, &max_msg);
		if (err != FB_OK && r != 0) {
			err = fb_errorf(FB_EPROTO,
					"the aggregator refused AUTH: %s",
					fb_wire_reason_name(r));
		}
		c->pipe = pipe;
		fb_msg_free(reply);
	}
	fb_hs_client_destroy(hs);
	if (err != FB_OK) {
		return err;
	}
	fb_log(FB_LOG_INFO, "session established with %s (pipe %u)",
			n->server.name, c->pipe);
	if (max_msg > c->recv_max) {
		// §1.4: a PLAN it cannot receive would close the connection
		// at every READY poll; it cannot take part.
		*fatal = true;
		drop_session(c);
		return fb_errorf(FB_EPROTO,
				"the aggregator announces messages of up to "
				"%llu bytes, over this client's limit of %zu "
				"(its catalogue at max_dim %u): raise max_dim "
				"or check the catalogue",
				(unsigned long long)max_msg, c->recv_max,
				n->pol->max_dim);
	}
	return FB_OK;
}

static void redial(struct node *n, struct node_conn *c);

// Seals the body at FB_ENV_BODY_OFF of m (taken), sends it and opens the
// reply. On success *reply holds the opened reply (the caller frees it).
// Any failure drops the session.
static fb_err
sealed_call(struct node *n, struct node_conn *c, struct fb_msg *m, uint8_t type,
		uint32_t round, struct fb_msg **reply, struct fb_wire_header *h,
		uint8_t **body, size_t *blen)
{
	double cpu0 = node_cpu_s();
	fb_err err = fb_env_seal(
			c->s, fb_msg_data(m), fb_msg_len(m), type, round);
	n->cpu.seal += node_cpu_s() - cpu0;
	if (err != FB_OK) {
		fb_msg_free(m);
		drop_session(c);
		return err;
	}
	struct fb_msg *r = NULL;
	err = call(n, c, m, &r);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN, "%s (round %u): %s",
				fb_wire_type_name(type), round,
				fb_last_error(err));
		drop_session(c);
		if (err == FB_ETIMEOUT) {
			redial(n, c); // see redial()
		}
		return err;
	}
	uint16_t reason = plain_reason(r);
	if (reason != 0) {
		fb_log(FB_LOG_WARN, "the aggregator refused %s (round %u): %s",
				fb_wire_type_name(type), round,
				fb_wire_reason_name(reason));
		fb_msg_free(r);
		drop_session(c);
		return fb_errorf(FB_EPROTO, "refused: %s",
				fb_wire_reason_name(reason));
	}
	if (fb_msg_pipe(r) != c->pipe) {
		fb_log(FB_LOG_WARN, "reply on a new connection: new handshake");
		fb_msg_free(r);
		drop_session(c);
		return fb_errorf(FB_ECLOSED, "connection changed");
	}
	cpu0 = node_cpu_s();
	err = fb_env_open(c->s, fb_msg_data(r), fb_msg_len(r), h, body, blen);
	n->cpu.open += node_cpu_s() - cpu0;
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN, "reply to %s refused: %s",
				fb_wire_type_name(type), fb_last_error(err));
		fb_msg_free(r);
		drop_session(c);
		return err;
	}
	if (h->type == FB_WIRE_ERROR) {
		struct fb_wire_reason_text e;
		if (fb_wire_error_decode(&e, *body, *blen) == FB_OK) {
			fb_log(FB_LOG_WARN,
					"the aggregator answered %s (round "
					"%u) with ERROR %s: %s",
					fb_wire_type_name(type), round,
					fb_wire_reason_name(e.reason), e.text);
		}
		fb_msg_free(r);
		drop_session(c);
		return fb_errorf(FB_EPROTO, "sealed ERROR");
	}
	*reply = r;
	return FB_OK;
}

static fb_err
alloc_body(struct fb_msg **m, size_t body_len)
{
	return fb_msg_alloc(m, FB_SEALED_LEN(body_len));
}

// True if the PLAN body has a critical config entry (§5.3.1, bit 15): no
// such entry is known to this client, so it must refuse the plan.
static bool
has_critical_field(const uint8_t *body, size_t len)
{
	if (len < 16 || body[0] != FB_WIRE_PLAN_TRAIN) {
		return false;
	}
	size_t cfg = fb_wire_load_u32(body + 12);
	size_t end = cfg <= len - 16 ? 16 + cfg : len;
	for (size_t off = 16; off + 4 <= end;) {
		uint16_t type = fb_wire_load_u16(body + off);
		if (type & 0x8000u) {
			return true;
		}
		off += 4 + fb_wire_load_u16(body + off + 2);
	}
	return false;
}

// The decoder limits of a PLAN for this client: its catalogue's largest
// dimension and its policy's max_dim.
static struct fb_wire_limits
plan_limits(const struct node *n)
{
	const struct fb_dataset *ds = n->ds;
	uint32_t rows = ds->n_items > ds->n_bundles ? ds->n_items
						    : ds->n_bundles;
	rows = rows > ds->n_attrs ? rows : ds->n_attrs;
	struct fb_wire_limits lim = {
			FB_WIRE_MAX_TENSORS, rows, n->pol->max_dim, true};
	return lim;
}

// Tells the aggregator, in a sealed ERROR with reason for round, that
// its last reply cannot be used (§5.7, §6.1), waits for the ACK and ends
// the session (§5.1) whatever the answer.
static void
report_error(struct node *n, struct node_conn *c, uint32_t round,
		uint16_t reason, const char *text)
{
	struct fb_wire_reason_text e = {.reason = reason};
	snprintf(e.text, sizeof(e.text), "%s", text);
	size_t blen = fb_wire_reason_text_len(e.text);
	struct fb_msg *m = NULL;
	if (c->s != NULL && alloc_body(&m, blen) == FB_OK &&
			fb_wire_error_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, &e, &blen) == FB_OK) {
		struct fb_msg *reply = NULL;
		struct fb_wire_header h;
		uint8_t *body;
		if (sealed_call(n, c, m, FB_WIRE_ERROR, round, &reply, &h,
				    &body, &blen) == FB_OK) {
			fb_msg_free(reply);
		}
		m = NULL; // sealed_call took it
	}
	fb_msg_free(m);
	drop_session(c);
}

// A POLL with status, its body encoded at FB_ENV_BODY_OFF; NULL when out
// of memory.
static struct fb_msg *
poll_message(uint8_t status)
{
	struct fb_wire_poll poll = {.status = status};
	struct fb_msg *m = NULL;
	size_t blen = FB_WIRE_POLL_LEN;
	if (alloc_body(&m, blen) != FB_OK ||
			fb_wire_poll_encode(fb_msg_data(m) + FB_ENV_BODY_OFF,
					blen, &poll, &blen) != FB_OK) {
		fb_msg_free(m);
		return NULL;
	}
	return m;
}

enum upload_ask {
	ASK_GO,       // PLAN UPLOAD: send the update now
	ASK_ANSWERED, // the aggregator answered for the round (*ack)
	ASK_FAILED,   // no answer; the session is dropped
};

// Asks for an upload slot for round's update (§5.2 POLL UPLOAD) until the
// aggregator grants one (PLAN UPLOAD), or answers for the round as it
// would answer the UPDATE (an ACK: late, duplicate, not selected). While
// every slot is taken it answers PLAN WAIT and the client asks again
// after retry_after_ms (at least 100 ms, plus jitter). This keeps the
// aggregator's memory for uploads in flight bounded by its slots, not by
// the number of clients.
static enum upload_ask
ask_upload(struct node *n, struct node_conn *c, uint32_t round,
		struct fb_wire_ack *ack)
{
	struct fb_wire_limits lim = plan_limits(n);
	while (stop_signal == 0) {
		struct fb_msg *m = poll_message(FB_WIRE_POLL_UPLOAD);
		if (m == NULL) {
			drop_session(c);
			return ASK_FAILED;
		}
		size_t blen;
		struct fb_msg *reply = NULL;
		struct fb_wire_header h;
		uint8_t *body;
		if (sealed_call(n, c, m, FB_WIRE_POLL, round, &reply, &h, &body,
				    &blen) != FB_OK) {
			return ASK_FAILED;
		}
		struct fb_wire_plan plan;
		fb_err err = FB_OK;
		if (h.type == FB_WIRE_ACK) {
			err = fb_wire_ack_decode(ack, body, blen);
		} else if (h.type == FB_WIRE_PLAN) {
			err = fb_wire_plan_decode(&plan, body, blen, &lim);
		} else {
			err = fb_errorf(FB_EPROTO, "%s instead of PLAN or ACK",
					fb_wire_type_name(h.type));
		}
		fb_msg_free(reply);
		uint16_t bad = err != FB_OK &&
						(h.type == FB_WIRE_ACK ||
								h.type == FB_WIRE_PLAN)
				? FB_WIRE_REASON_MALFORMED
				: FB_WIRE_REASON_UNEXPECTED;
		if (err == FB_OK && h.round_id != round) {
			err = fb_errorf(FB_EPROTO, "an answer for round %u",
					h.round_id);
		}
		if (err == FB_OK && h.type == FB_WIRE_PLAN &&
				plan.kind != FB_WIRE_PLAN_UPLOAD &&
				plan.kind != FB_WIRE_PLAN_WAIT) {
			err = fb_errorf(FB_EPROTO,
					"PLAN kind %u to an upload request",
					plan.kind);
		}
		if (err != FB_OK) {
			fb_log(FB_LOG_WARN,
					"round %u: bad answer to the upload "
					"request: %s",
					round, fb_last_error(err));
			report_error(n, c, round, bad,
					"bad answer to the upload request");
			return ASK_FAILED;
		}
		if (h.type == FB_WIRE_ACK) {
			return ASK_ANSWERED;
		}
		if (plan.kind == FB_WIRE_PLAN_UPLOAD) {
			return ASK_GO;
		}
		sleep_ms(jitter(plan.retry_after_ms < 100
						? 100
						: plan.retry_after_ms));
	}
	drop_session(c);
	return ASK_FAILED;
}

// Removes the copy on disk, if any (pending.h).
static void
remove_pending_file(struct node *n)
{
	struct node_pending *p = &n->pending;
	if (!p->on_disk) {
		return;
	}
	fb_err err = node_pending_remove(n->pending_path);
	if (err != FB_OK) {
		// Harmless: at start a copy of a completed round is removed,
		// any other is resent at most PENDING_TRIES times.
		fb_log(FB_LOG_WARN, "round %u: %s", p->disk_round,
				fb_last_error(err));
	}
	p->on_disk = false;
}

// Forgets the copy, in memory and on disk (given up, a new federation).
static void
drop_pending(struct node *n)
{
	n->pending.active = false;
	n->pending.tries = 0;
	remove_pending_file(n);
}

// Writes the copy of a plain round to the state folder before its UPDATE
// is sent (pending.c says why in this order). A failure is logged: the
// copy is then in memory only, as a secure round's always is.
static void
save_pending(struct node *n)
{
	struct node_pending *p = &n->pending;
	double cpu0 = node_cpu_s();
	struct node_pending_copy c = {.round = p->round,
			.res = p->res,
			.bytes = p->bytes,
			.len = p->len};
	memcpy(c.federation, n->st.federation, sizeof(c.federation));
	fb_err err = node_pending_save(n->pending_path, &c);
	n->cpu.save += node_cpu_s() - cpu0;
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN,
				"round %u: the copy of the update is kept in "
				"memory only (a restart would train the round "
				"again): %s",
				p->round, fb_last_error(err));
		return;
	}
	p->on_disk = true;
	p->disk_round = p->round;
	fb_crashpoint("client.pending_saved"); // the copy on disk, not sent
}

// Keeps a copy of the unsealed UPDATE m of round until its ACK arrives.
static void
keep_pending(struct node *n, uint32_t round, const struct node_round *res,
		struct fb_msg *m)
{
	struct node_pending *p = &n->pending;
	if (p->active && p->round == round) {
		return; // a resend: the copy is already there
	}
	drop_pending(n);
	if (p->cap < fb_msg_len(m)) {
		uint8_t *b = realloc(p->bytes, fb_msg_len(m));
		if (b == NULL) {
			fb_log(FB_LOG_WARN,
					"round %u: no memory to keep a copy of "
					"the update: it cannot be resent if its "
					"ACK is lost",
					round);
			return;
		}
		p->bytes = b;
		p->cap = fb_msg_len(m);
	}
	p->active = true;
	memcpy(p->bytes, fb_msg_data(m), fb_msg_len(m));
	p->len = fb_msg_len(m);
	p->round = round;
	p->res = *res;
	p->res.update = NULL;
	if (n->sr == NULL) {
		save_pending(n);
	}
}

// Sends REFUSE or UPDATE for round and waits for its ACK. True if acked.
// An UPDATE is sent only once an upload slot is granted (ask_upload); a
// copy stays in n->pending until its ACK arrives.
static bool
answer_round(struct node *n, struct node_conn *c, uint32_t round,
		struct node_round *res, struct fb_wire_ack *ack_out)
{
	struct fb_msg *m = res->update;
	res->update = NULL;
	if (!res->refuse) {
		keep_pending(n, round, res, m);
	}
	uint8_t type = FB_WIRE_UPDATE;
	if (res->refuse) {
		struct fb_wire_reason_text r = {.reason = res->reason};
		snprintf(r.text, sizeof(r.text), "%s", res->text);
		size_t blen = fb_wire_reason_text_len(r.text);
		if (alloc_body(&m, blen) != FB_OK ||
				fb_wire_refuse_encode(fb_msg_data(m) +
								FB_ENV_BODY_OFF,
						blen, &r, &blen) != FB_OK) {
			fb_msg_free(m);
			drop_session(c);
			return false;
		}
		type = FB_WIRE_REFUSE;
	}
	size_t sent = fb_msg_len(m);
	struct fb_wire_ack ack;
	fb_err err = FB_OK;
	struct fb_wire_header h = {.type = FB_WIRE_ACK, .round_id = round};
	enum upload_ask ask =
			res->refuse ? ASK_GO : ask_upload(n, c, round, &ack);
	if (ask == ASK_FAILED) {
		fb_msg_free(m);
		return false;
	}
	if (ask == ASK_ANSWERED) {
		fb_msg_free(m); // the aggregator does not want it any more
		sent = 0;
	} else {
		if (!res->refuse) {
			fb_log(FB_LOG_INFO,
					"round %u: upload slot granted: sending "
					"the update (%.2f MB)",
					round, (double)sent / 1e6);
			fb_crashpoint("client.send"); // with a delay: mid-send
		}
		struct fb_msg *reply = NULL;
		uint8_t *body;
		size_t blen;
		if (sealed_call(n, c, m, type, round, &reply, &h, &body,
				    &blen) != FB_OK) {
			return false;
		}
		err = h.type == FB_WIRE_ACK
				? fb_wire_ack_decode(&ack, body, blen)
				: fb_errorf(FB_EPROTO, "%s instead of ACK",
						  fb_wire_type_name(h.type));
		fb_msg_free(reply);
	}
	if (err != FB_OK || h.round_id != round) {
		fb_log(FB_LOG_WARN, "round %u: bad answer to %s: %s", round,
				fb_wire_type_name(type), fb_last_error(err));
		drop_session(c);
		return false;
	}
	if (!res->refuse) {
		// Answered: accepted, late or rejected. The copy on disk goes
		// once the state records the round (node_complete).
		n->pending.active = false;
		n->pending.tries = 0;
	}
	if (ack_out != NULL) {
		*ack_out = ack;
	}
	static const char *const st[] = {"accepted", "late", "rejected"};
	if (!res->refuse && ack.status == FB_WIRE_ACK_REJECTED &&
			ack.reason == FB_WIRE_REASON_OVER_BOUND) {
		// An honest update is within the bound except with probability
		// 1e-9 (wire-v1 §9.7): a client bug, or a model or plan that
		// changed underneath. Its budget was spent all the same.
		fb_log(FB_LOG_WARN,
				"round %u: the aggregator refused our update as "
				"larger than any honest update can be (over-bound: "
				"%s); the update was not used, its privacy budget "
				"is spent",
				round, ack.text);
	} else if (!res->refuse && ack.status == FB_WIRE_ACK_REJECTED) {
		fb_log(FB_LOG_WARN, "round %u: update rejected (%s: %s)", round,
				fb_wire_reason_name(ack.reason), ack.text);
	}
	if (res->refuse) {
		node_status_refused(n->status, round, res->reason);
		fb_log(FB_LOG_INFO, "round %u: refused (%s: %s); ACK %s", round,
				fb_wire_reason_name(res->reason), res->text,
				ack.status < 3 ? st[ack.status] : "?");
		return true;
	}
	if (isfinite(res->epsilon)) {
		fb_log(FB_LOG_INFO,
				"round %u: %u DP steps in %.2fs, local loss "
				"%.4f, epsilon %.4f spent (delta %g, %zu "
				"releases); update %.2f MB %s%s%s%s",
				round, res->steps, res->train_s, res->loss,
				res->epsilon, n->pol->delta, res->releases,
				(double)sent / 1e6,
				ack.status < 3 ? st[ack.status] : "?",
				ack.reason != 0 ? " (" : "",
				ack.reason != 0 ? fb_wire_reason_name(
								  ack.reason)
						: "",
				ack.reason != 0 ? ")" : "");
	} else {
		fb_log(FB_LOG_INFO,
				"round %u: %u local steps in %.2fs, local loss "
				"%.4f, NOT private at the client (epsilon inf); "
				"update %.2f MB %s%s%s%s",
				round, res->steps, res->train_s, res->loss,
				(double)sent / 1e6,
				ack.status < 3 ? st[ack.status] : "?",
				ack.reason != 0 ? " (" : "",
				ack.reason != 0 ? fb_wire_reason_name(
								  ack.reason)
						: "",
				ack.reason != 0 ? ")" : "");
	}
	return true;
}

static fb_err
save_state(struct node *n)
{
	double cpu0 = node_cpu_s();
	node_state_anchor(&n->st, n->ledger);
	fb_err err = node_state_save(&n->st, n->state_path);
	n->cpu.save += node_cpu_s() - cpu0;
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "cannot write the state: %s",
				fb_last_error(err));
	}
	return err;
}

// PLAN DONE: keep the final model when it fits the catalogue.
static void
keep_final(struct node *n, const struct fb_wire_plan *plan)
{
	const struct fb_wire_tensor *v = NULL, *w = NULL, *m = NULL;
	for (uint32_t k = 0; k < plan->n_tensors; k++) {
		const struct fb_wire_tensor *t = &plan->tensors[k];
		if (t->dtype != FB_WIRE_DTYPE_F32) {
			continue;
		}
		v = t->id == FB_WIRE_TENSOR_ITEMS ? t : v;
		w = t->id == FB_WIRE_TENSOR_BUNDLES ? t : w;
		m = t->id == FB_WIRE_TENSOR_ATTR_PROJ ? t : m;
	}
	const struct fb_dataset *ds = n->ds;
	if (v == NULL || w == NULL || v->rows != ds->n_items ||
			w->rows != ds->n_bundles || v->cols != w->cols ||
			(m != NULL &&
					(m->rows != ds->n_attrs ||
							m->cols != v->cols))) {
		fb_log(FB_LOG_WARN,
				"PLAN DONE without a usable model: keeping "
				"the last one received");
		return;
	}
	struct fb_model g = {0};
	if (fb_model_init(&g, ds->n_items, ds->n_bundles,
			    m != NULL ? ds->n_attrs : 0, v->cols) != FB_OK) {
		return;
	}
	memcpy(g.V.data, v->data, fb_matrix_len(&g.V) * sizeof(float));
	memcpy(g.W.data, w->data, fb_matrix_len(&g.W) * sizeof(float));
	if (m != NULL) {
		memcpy(g.M.data, m->data, fb_matrix_len(&g.M) * sizeof(float));
	}
	fb_model_finish(&n->st.global);
	n->st.global = g;
	n->st.opts.use_attrs = m != NULL;
}

// The round's CPU seconds per stage (struct node_cpu), one INFO line.
static void
log_cpu(const struct node *n, uint32_t round, const struct node_cpu *local)
{
	fb_log(FB_LOG_INFO,
			"round %u: cpu s: open %.4f decode %.4f prepare %.4f "
			"train %.4f eval %.4f encode %.4f seal %.4f save %.4f",
			round, n->cpu.open, n->cpu.decode, local->prepare,
			local->train, local->eval, local->encode, n->cpu.seal,
			n->cpu.save);
}

// Answers round with res (REFUSE or UPDATE) and, once acknowledged,
// records it as completed and saves the state.
static enum node_step
finish_round(struct node *n, struct node_conn *c, uint32_t round,
		struct node_round *res)
{
	bool trained = !res->refuse;
	if (!answer_round(n, c, round, res, NULL)) { // it took res->update
		backoff(n, c);
		return NODE_STEP_AGAIN;
	}
	return node_complete(n, c, round, trained, &res->cpu);
}

enum node_step
node_complete(struct node *n, struct node_conn *c, uint32_t round, bool trained,
		const struct node_cpu *cpu)
{
	c->backoff_ms = 0;                 // acknowledged: progress
	fb_crashpoint("client.after_ack"); // acknowledged, state not saved
	if (n->pending.active && n->pending.round <= round) {
		n->pending.active = false;
		n->pending.tries = 0;
	}
	n->st.last_completed = round;
	n->st.rounds_trained += trained;
	node_status_round(n->status, round, trained);
	fb_err err = refresh_exhausted(n);
	if (err != FB_OK) {
		fb_log(FB_LOG_WARN, "round %u: %s", round, fb_last_error(err));
	}
	if (save_state(n) != FB_OK) {
		return NODE_STEP_FATAL;
	}
	// Only now: a copy found at start is then of a completed round.
	if (n->pending.on_disk && n->pending.disk_round <= round) {
		remove_pending_file(n);
	}
	if (trained) {
		log_cpu(n, round, cpu);
	}
	return NODE_STEP_AGAIN;
}

// Offers the pending UPDATE again (§6.1): it asks for an upload slot for
// its round, and the aggregator answers as for any UPDATE (accepted, or
// duplicate if the first copy was counted, or late). After
// PENDING_TRIES failed attempts (an aggregator that answers with ERROR,
// e.g. after losing the round in a restart) the copy is dropped and the
// client polls as usual.
#define PENDING_TRIES 5
static enum node_step
resend_pending(struct node *n, struct node_conn *c)
{
	struct node_pending *p = &n->pending;
	uint32_t round = p->round;
	if (round <= n->st.last_completed || ++p->tries > PENDING_TRIES) {
		if (round > n->st.last_completed) {
			fb_log(FB_LOG_WARN,
					"round %u: giving up resending the "
					"update after %u attempts",
					round, PENDING_TRIES);
		}
		drop_pending(n);
		return NODE_STEP_AGAIN;
	}
	fb_log(FB_LOG_INFO,
			"round %u: its ACK did not arrive: offering the same "
			"update again (attempt %u)",
			round, p->tries);
	struct node_round res = p->res;
	if (fb_msg_alloc(&res.update, p->len) != FB_OK) {
		return NODE_STEP_FATAL;
	}
	memcpy(fb_msg_data(res.update), p->bytes, p->len);
	memset(&n->cpu, 0, sizeof(n->cpu));
	return finish_round(n, c, round, &res);
}

// wire-v1 §6.1 "A new federation": a TRAIN plan whose federation id
// (§5.3.1 0x001b) differs from the one last_completed counts in comes
// from an aggregator that restarted its round numbering (a new, empty
// checkpoint folder): the client counts again in the new federation
// (node_state_follow), so that its rounds are not refused as completed.
// Only round bookkeeping is reset: the ledger, and so every budget check,
// carries over; a pending update of the old federation is dropped (its
// round id means another round now). The state is saved with the round
// that follows.
static void
follow_federation(struct node *n, const struct fb_wire_round_config *cfg,
		uint32_t round)
{
	char was[2 * FB_WIRE_FEDERATION_ID_LEN + 1] = "unknown";
	if (fb_wire_federation_id_set(n->st.federation)) {
		sodium_bin2hex(was, sizeof(was), n->st.federation,
				FB_WIRE_FEDERATION_ID_LEN);
	}
	uint32_t old_last = n->st.last_completed;
	enum node_fed_change ch =
			node_state_follow(&n->st, cfg->federation_id, round);
	if (ch == NODE_FED_SAME) {
		return;
	}
	char now[2 * FB_WIRE_FEDERATION_ID_LEN + 1];
	sodium_bin2hex(now, sizeof(now), cfg->federation_id,
			FB_WIRE_FEDERATION_ID_LEN);
	if (ch == NODE_FED_ADOPTED) {
		fb_log(FB_LOG_INFO, "round %u: federation %s", round, now);
		return;
	}
	fb_log(FB_LOG_WARN,
			"the aggregator started a new federation %s (was %s); "
			"round numbering restarts; the privacy ledger carries "
			"over (last completed round %u of the old one)",
			now, was, old_last);
	drop_pending(n);
}

// ---- simulated dropouts (pol->sim_dropout) ----

// splitmix64's finaliser.
static uint64_t
mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

enum node_drop
node_drop_point(const struct node_policy *pol, uint32_t round, bool secure)
{
	if (!(pol->sim_dropout > 0)) {
		return NODE_DROP_NONE;
	}
	uint64_t x = mix64(pol->sim_dropout_seed ^ mix64(round));
	double u = (double)(x >> 11) * 0x1p-53;
	if (u >= pol->sim_dropout) {
		return NODE_DROP_NONE;
	}
	if (!secure) {
		return NODE_DROP_BEFORE_ADVERT;
	}
	return (enum node_drop)(NODE_DROP_BEFORE_ADVERT + mix64(x) % 4);
}

static const char *const drop_names[] = {"", "before advertising",
		"after advertising", "after sending its shares",
		"after uploading its masked input"};

void
node_drop_round(struct node *n, uint32_t round, enum node_drop at)
{
	n->dropped_round = round;
	n->drop_at = NODE_DROP_NONE;
	fb_log(FB_LOG_INFO,
			"round %u: simulated dropout %s: the round is left "
			"unanswered",
			round, drop_names[at]);
}

// A plan for round (not yet completed): true if the client does not take
// it, as a simulated dropout: round is the one it dropped out of (offered
// again: waited out, the deadline's time at most 1 s) or the one it drops
// out of now, before anything is sent. Otherwise n->drop_at says where a
// secure round will be left (client/secround.c).
static bool
sim_dropout(struct node *n, uint32_t round, const struct fb_wire_plan *plan,
		bool secure)
{
	if (round == n->dropped_round) {
		uint32_t ms = plan->deadline_ms < 1000 ? plan->deadline_ms
						       : 1000;
		sleep_ms(ms < 100 ? 100 : ms);
		return true;
	}
	enum node_drop at = node_drop_point(n->pol, round, secure);
	if (at == NODE_DROP_BEFORE_ADVERT) {
		node_drop_round(n, round, at);
		return true;
	}
	n->drop_at = at;
	return false;
}

// One POLL and what follows it.
static enum node_step
poll_once(struct node *n, struct node_conn *c)
{
	struct fb_msg *m = poll_message(n->st.exhausted
					? FB_WIRE_POLL_BUDGET_EXHAUSTED
					: FB_WIRE_POLL_READY);
	if (m == NULL) {
		return NODE_STEP_FATAL;
	}
	memset(&n->cpu, 0, sizeof(n->cpu));
	size_t blen;
	struct fb_msg *reply = NULL;
	struct fb_wire_header h;
	uint8_t *body;
	if (sealed_call(n, c, m, FB_WIRE_POLL, n->st.last_completed, &reply, &h,
			    &body, &blen) != FB_OK) {
		backoff(n, c);
		return NODE_STEP_AGAIN;
	}
	c->last_ok_ms = fb_clock_ms();
	struct fb_wire_limits lim = plan_limits(n);
	struct fb_wire_plan plan;
	double cpu0 = node_cpu_s();
	fb_err err = h.type == FB_WIRE_PLAN
			? fb_wire_plan_decode(&plan, body, blen, &lim)
			: fb_errorf(FB_EPROTO, "%s instead of PLAN",
					  fb_wire_type_name(h.type));
	n->cpu.decode = node_cpu_s() - cpu0;
	uint16_t bad = err != FB_OK && h.type == FB_WIRE_PLAN
			? FB_WIRE_REASON_MALFORMED
			: FB_WIRE_REASON_UNEXPECTED;
	if (err == FB_OK && plan.kind == FB_WIRE_PLAN_UPLOAD) {
		err = fb_errorf(FB_EPROTO, "PLAN UPLOAD to a %s poll",
				n->st.exhausted ? "BUDGET_EXHAUSTED" : "READY");
	}
	if (err != FB_OK) {
		bool critical = h.type == FB_WIRE_PLAN &&
				has_critical_field(body, blen);
		fb_log(FB_LOG_WARN, "refusing the plan of round %u: %s",
				h.round_id, fb_last_error(err));
		fb_msg_free(reply);
		if (critical) {
			struct node_round res = {.refuse = true,
					.reason = FB_WIRE_REASON_UNSUPPORTED_FIELD};
			snprintf(res.text, sizeof(res.text),
					"unknown critical config field");
			answer_round(n, c, h.round_id, &res, NULL);
		} else {
			// §6.1: a PLAN it cannot use is answered, then the
			// session ends and the client backs off (the same
			// plan would come again at once).
			report_error(n, c, h.round_id, bad,
					bad == FB_WIRE_REASON_MALFORMED
							? "the PLAN does not "
							  "decode"
							: "not a PLAN for this "
							  "poll");
			backoff(n, c);
		}
		return NODE_STEP_AGAIN;
	}
	c->backoff_ms = 0; // a usable PLAN: progress
	if (plan.kind == FB_WIRE_PLAN_WAIT) {
		fb_msg_free(reply);
		node_wait(n, plan.retry_after_ms);
		return NODE_STEP_AGAIN;
	}
	if (plan.kind == FB_WIRE_PLAN_DONE) {
		if (n->keep_global) {
			keep_final(n, &plan);
		}
		fb_msg_free(reply);
		n->st.done = true;
		fb_log(FB_LOG_INFO,
				"training over (round %u): %u rounds "
				"trained, last completed %u",
				h.round_id, n->st.rounds_trained,
				n->st.last_completed);
		return save_state(n) == FB_OK ? NODE_STEP_DONE
					      : NODE_STEP_FATAL;
	}
	uint32_t round = h.round_id;
	follow_federation(n, &plan.config, round);
	if (round > n->st.last_completed &&
			sim_dropout(n, round, &plan, plan.config.has_secagg)) {
		fb_msg_free(reply);
		return NODE_STEP_AGAIN;
	}
	struct node_round res;
	if (round <= n->st.last_completed) {
		memset(&res, 0, sizeof(res));
		res.refuse = true;
		res.reason = FB_WIRE_REASON_WRONG_ROUND;
		snprintf(res.text, sizeof(res.text),
				"round %u is already completed", round);
		err = FB_OK;
	} else if (plan.config.has_secagg) {
		fb_log(FB_LOG_INFO,
				"round %u: plan received (user-level DP with "
				"secure aggregation: %u parties, threshold %u, "
				"index %u; %.2f MB)",
				round, plan.config.sa.n, plan.config.sa.t,
				plan.config.sa.index,
				(double)FB_SEALED_LEN(blen) / 1e6);
		err = node_secround_begin(n, &plan, round, &res);
		if (err == FB_OK && !res.refuse) {
			fb_msg_free(reply); // prepared: the model was copied
			return NODE_STEP_AGAIN;
		}
	} else {
		static const char *const gran[] = {"non-private",
				"user-level DP", "client-level DP"};
		fb_log(FB_LOG_INFO,
				"round %u: plan received (%s, %.2f MB), "
				"training",
				round, gran[plan.config.granularity],
				(double)FB_SEALED_LEN(blen) / 1e6);
		err = node_local_round(n->pol, n->ds, &n->st, n->ledger, &plan,
				round, n->keep_global ? &n->work : NULL, &res);
	}
	fb_msg_free(reply); // the plan's tensors are not needed any more
	if (!n->keep_global) {
		fb_model_finish(&n->st.global);
		memset(&n->st.global, 0, sizeof(n->st.global));
	}
	if (err == FB_ECLOSED && node_stopping()) {
		fb_log(FB_LOG_INFO, "%s", fb_last_error(err));
		return NODE_STEP_AGAIN; // the run loop sees the stop
	}
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "round %u: %s", round, fb_last_error(err));
		return NODE_STEP_FATAL;
	}
	return finish_round(n, c, round, &res);
}

// ---- for client/secround.c (node.h) ----

fb_err
node_call_body(struct node *n, struct node_conn *c, const uint8_t *body,
		size_t len, uint8_t type, uint32_t round, struct fb_msg **reply,
		struct fb_wire_header *h, uint8_t **rbody, size_t *rlen)
{
	struct fb_msg *m = NULL;
	if (c->s == NULL) {
		return fb_errorf(FB_ECLOSED, "%s: no session",
				fb_wire_type_name(type));
	}
	if (alloc_body(&m, len) != FB_OK) {
		drop_session(c);
		return FB_ENOMEM;
	}
	memcpy(fb_msg_data(m) + FB_ENV_BODY_OFF, body, len);
	return sealed_call(n, c, m, type, round, reply, h, rbody, rlen);
}

fb_err
node_call_poll(struct node *n, struct node_conn *c, uint8_t status,
		uint32_t round, struct fb_msg **reply, struct fb_wire_header *h,
		uint8_t **body, size_t *blen)
{
	struct fb_msg *m = poll_message(status);
	if (m == NULL) {
		drop_session(c);
		return FB_ENOMEM;
	}
	return sealed_call(n, c, m, FB_WIRE_POLL, round, reply, h, body, blen);
}

void
node_wait(const struct node *n, uint32_t retry_after_ms)
{
	uint32_t ms = retry_after_ms < 100 ? 100 : retry_after_ms;
	if (n->wait_scale > 0 && n->wait_scale < 1) {
		ms = (uint32_t)((double)ms * n->wait_scale);
		ms = ms > 0 ? ms : 1;
	}
	sleep_ms(jitter(ms));
}

void
node_backoff(struct node *n, struct node_conn *c)
{
	backoff(n, c);
}

void
node_report_error(struct node *n, struct node_conn *c, uint32_t round,
		uint16_t reason, const char *text)
{
	report_error(n, c, round, reason, text);
}

bool
node_answer(struct node *n, struct node_conn *c, uint32_t round,
		struct node_round *res, struct fb_wire_ack *ack)
{
	return answer_round(n, c, round, res, ack);
}

bool
node_stopping(void)
{
	return stop_signal != 0;
}

fb_err
node_conn_open(struct node *n, struct node_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->recv_max = max_plan_len(n);
	struct fb_dialer_config dc = {n->pol->server_url, c->recv_max,
			reconnect_min(n), transport_reconnect_max(n)};
	fb_err err = fb_dialer_create(&c->d, &dc);
	if (err != FB_OK) {
		return err;
	}
	fb_dialer_set_abort(c->d, &stop_signal);
	c->last_ok_ms = fb_clock_ms();
	return FB_OK;
}

void
node_conn_close(struct node_conn *c)
{
	drop_session(c);
	fb_dialer_destroy(c->d);
	c->d = NULL;
}

// A handshake or sealed request that timed out means no connection (or no
// answer) for request_timeout_ms: NNG 1.5.2's dialer was seen never to
// reconnect after the aggregator was killed mid-request
// (tests/integration/test-fed-crash-server.sh, test-fed-restart-server.sh),
// so start a fresh dialer. The old one is kept if a new one cannot be
// made.
static void
redial(struct node *n, struct node_conn *c)
{
	struct fb_dialer_config dc = {n->pol->server_url, c->recv_max,
			reconnect_min(n), transport_reconnect_max(n)};
	struct fb_dialer *d = NULL;
	if (fb_dialer_create(&d, &dc) == FB_OK) {
		fb_dialer_set_abort(d, &stop_signal);
		fb_dialer_destroy(c->d);
		c->d = d;
		fb_log(FB_LOG_WARN,
				"no connection to the aggregator within %u ms: "
				"dialing again",
				n->pol->request_timeout_ms);
	}
}

enum node_step
node_connect(struct node *n, struct node_conn *c)
{
	if (c->s == NULL) {
		if (c->backoff_ms > 0) {
			// Uniform in [backoff/2, backoff] (§6.1).
			uint32_t half = c->backoff_ms / 2;
			sleep_ms(c->backoff_ms - half +
					randombytes_uniform(half + 1));
		}
		bool fatal = false;
		fb_err err = handshake(n, c, &fatal);
		if (fatal) {
			fb_log(FB_LOG_ERROR, "%s", fb_last_error(err));
			return NODE_STEP_FATAL;
		}
		if (err != FB_OK) {
			// A key or signature that does not verify is not a
			// network hiccup: wrong pinned key, or an impostor.
			fb_log(err == FB_ECRYPTO ? FB_LOG_ERROR : FB_LOG_DEBUG,
					"handshake: %s%s", fb_last_error(err),
					err == FB_ECRYPTO
							? " (check server_key "
							  "in the policy; "
							  "retrying)"
							: "");
			if (err == FB_ETIMEOUT) {
				redial(n, c);
			}
			backoff(n, c);
			return NODE_STEP_AGAIN;
		}
		// Not a reset of the backoff: that needs a request that made
		// progress (backoff()).
		c->last_ok_ms = fb_clock_ms();
	}
	return NODE_STEP_AGAIN;
}

enum node_step
node_step(struct node *n, struct node_conn *c)
{
	if (c->s == NULL) {
		enum node_step s = node_connect(n, c);
		if (s != NODE_STEP_AGAIN || c->s == NULL) {
			return s;
		}
	}
	if (n->sr != NULL) {
		return node_secround_step(n, c); // holds its own pending
	}
	if (n->pending.active) {
		return resend_pending(n, c);
	}
	return poll_once(n, c);
}

void
node_catch_hup(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

int
node_run(struct node *n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	node_catch_hup();
	node_local_set_stop(&stop_signal);
	struct node_conn c;
	fb_err err = node_conn_open(n, &c);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR, "%s", fb_last_error(err));
		return 1;
	}
	fb_log(FB_LOG_INFO,
			"client of %s at %s: %u users, last completed round "
			"%u%s",
			n->server.name, n->pol->server_url, n->ds->n_users,
			n->st.last_completed,
			n->st.exhausted ? ", privacy budget exhausted" : "");
	int rc = 0;
	while (stop_signal == 0) {
		uint64_t now = fb_clock_ms();
		if (n->pol->give_up_ms > 0 &&
				now - c.last_ok_ms > n->pol->give_up_ms) {
			fb_log(FB_LOG_ERROR,
					"no answer from the aggregator for %u ms: "
					"giving up",
					n->pol->give_up_ms);
			rc = 3;
			break;
		}
		reload_if_asked(n);
		enum node_step s = node_step(n, &c);
		if (s == NODE_STEP_DONE) {
			break;
		}
		if (s == NODE_STEP_FATAL) {
			rc = 1;
			break;
		}
	}
	node_conn_close(&c);
	return rc;
}
