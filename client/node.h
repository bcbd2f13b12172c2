// client/node.h: the client's side of protocols/wire-v1.md §6.1:
// CONNECT -> HANDSHAKE -> POLL loop. It dials the aggregator (it never
// listens), authenticates with fb_hs_client against the pinned server key,
// and polls: WAIT sleeps retry_after_ms plus up to 20% jitter (at least
// 100 ms); TRAIN runs the local round (local.h) and sends UPDATE or REFUSE
// (a TRAIN plan of secure aggregation starts a secure round, whose stages
// the following steps drive: secround.h);
// DONE keeps the final model and ends. Any refusal, timeout or dropped
// connection discards the session and starts again after a backoff with
// jitter (reconnect_min_ms doubling to reconnect_max_ms, reset only by a
// request that made progress); a PLAN it cannot use is answered with a
// sealed ERROR first (§6.1). An UPDATE whose ACK did not arrive
// is offered again, the same bytes, before anything else (§6.1), also
// after a restart (its copy is kept in the state folder: pending.h). The
// state is written after every acknowledged round; the privacy ledger is
// written before an UPDATE exists. A client that trains holds its ledger
// open and locked from node_open to node_close, so a second client (or
// `fedbundle train`) on the same ledger is refused at start. Logs round
// ids, sizes, epsilon, loss and CPU seconds per stage, never user data.
// Thread-safety: one thread.
#ifndef FB_CLIENT_NODE_H
#define FB_CLIENT_NODE_H

#include "fedbundle/data/dataset.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/util/err.h"
#include "local.h"
#include "policy.h"
#include "state.h"
#include "status.h"

struct node {
	const struct node_policy *pol;
	struct fb_identity *id;
	struct fb_peer_key server;
	struct fb_dataset *ds;
	struct node_state st;
	// The privacy ledger: open for appending and locked for a client
	// that trains (NODE_RUN), read-only for one that only reads
	// (NODE_READ); NULL if there is none (yet). Anchors and budget checks
	// read it here, never through a second open.
	struct fb_ledger *ledger;
	char state_path[NODE_PATH_MAX + 32];
	bool ds_borrowed; // ds belongs to the caller (node_open_with)
	// Keep the received global model in st and the training workspace in
	// work after a round (true). A simulation of many clients in one
	// process drops both: the model is the same for every client, and a
	// copy and a trainer each would grow with them.
	bool keep_global;
	struct node_work work;
	// An UPDATE whose ACK did not arrive (a timeout or a dropped
	// connection): the round's result with a copy of the message before
	// sealing (bytes, len). The next step offers these same bytes again
	// (wire-v1 §6.1) instead of training the round again, which would
	// spend privacy budget twice. A plain round's copy is also on disk
	// (pending.h, at pending_path) from before the UPDATE is sent until
	// the state records the round or the copy is given up, so that a
	// restarted client resends it too; a secure round's stays in memory
	// only. The buffer (cap bytes) is kept from round to round: a
	// model-sized allocation per round would cost fresh pages.
	struct node_pending {
		bool active;           // an unacknowledged UPDATE is held
		struct node_round res; // res.update is NULL
		uint32_t round;
		uint8_t *bytes;
		size_t len, cap;
		uint32_t tries;
		bool on_disk;        // a copy of disk_round is at pending_path
		uint32_t disk_round; // (it may outlive active: node_complete)
	} pending;
	char pending_path[NODE_PATH_MAX + 32];
	struct node_cpu cpu; // this round's open, decode, seal and save
	// The consortium roster (policy key roster; NULL: none), the
	// consortium id this client computes from it and the pinned
	// aggregator key (secagg-v1 §3.6; set with roster), and the secure
	// round in progress (secround.h; NULL: none). In memory only: a
	// restarted client is a dropout of the round it was in.
	struct fb_roster *roster;
	uint8_t consortium[16];
	struct node_secround *sr;
	// A simulated dropout (pol->sim_dropout): the round this client
	// dropped out of (0: none yet; it answers nothing more in it, and a
	// plan of it offered again is waited out), and, while a secure round
	// runs that it will drop out of, the point (enum node_drop).
	uint32_t dropped_round;
	int drop_at;
	// A PLAN WAIT is slept for this share of its time (0: all of it).
	// A simulation stepping K clients in turn in one thread sets 1/K:
	// the others' turns are the rest of the wait, and a stage's pass
	// over them then takes about one retry_after_ms, not K of them.
	double wait_scale;
	// The status page (status.h; NULL: none): acknowledged rounds and
	// refusals are recorded in it. Owned by whoever started it.
	struct node_status *status;
};

// Where a simulated dropout leaves a round (pol->sim_dropout).
enum node_drop {
	NODE_DROP_NONE = 0,
	NODE_DROP_BEFORE_ADVERT, // plan received: nothing sent (plain: no
				 // UPDATE)
	NODE_DROP_AFTER_ADVERT,  // SA_PEERS received: no SA_SHARES
	NODE_DROP_AFTER_SHARES,  // SA_INBOX received: no masked input
	NODE_DROP_AFTER_MASKED,  // masked input accepted: no SA_UNMASK
};

// The simulated dropout of round for a client of pol: NODE_DROP_NONE, or
// where it leaves the round (secure: one of the four points, uniformly;
// plain: NODE_DROP_BEFORE_ADVERT). A pure function of pol->sim_dropout,
// pol->sim_dropout_seed and round, so that a run repeats.
enum node_drop node_drop_point(
		const struct node_policy *pol, uint32_t round, bool secure);

// What a node is opened for.
enum node_use {
	// Training (fedbundle-client run): the state may be new; the ledger
	// is opened for appending and locked until node_close (created if
	// the state has never recorded a release, state.h).
	NODE_RUN,
	// Reading (eval, recommend): the state must exist; the ledger is
	// read without the lock, so this works while a client trains.
	NODE_READ,
};

// Loads the identity, the pinned key, the dataset and the state, opens
// the privacy ledger for use and checks it against the state's anchor
// (refusing a missing or altered ledger). FB_EIO/FB_EFORMAT/FB_EINVAL
// with a detail; FB_ESTATE, naming the ledger, if NODE_RUN finds it held
// by another process. On failure the caller still calls node_close().
fb_err node_open(struct node *n, const struct node_policy *pol,
		enum node_use use);

// Like node_open() with NODE_RUN, for a client whose files are already in
// memory (a simulation): takes id, copies server, borrows ds (which must
// outlive n). The state and ledger still live in pol's state_dir and
// ledger. On failure id is destroyed by node_close().
fb_err node_open_with(struct node *n, const struct node_policy *pol,
		struct fb_identity *id, const struct fb_peer_key *server,
		struct fb_dataset *ds);

// Frees what node_open loaded and closes the ledger (releasing its
// lock); NULL-safe.
void node_close(struct node *n);

// The connection of a client to the aggregator: its dialer, the session
// (NULL: none yet) and the retry state.
struct node_conn {
	struct fb_dialer *d;
	struct fb_session *s;
	uint32_t pipe;
	size_t recv_max;
	uint32_t backoff_ms;
	uint64_t last_ok_ms;
};

// Opens the dialer to pol->server_url (in the background). FB_ENET,
// FB_EINVAL, FB_ENOMEM. The caller closes c.
fb_err node_conn_open(struct node *n, struct node_conn *c);

// Drops the session and closes the dialer; safe on a zeroed c.
void node_conn_close(struct node_conn *c);

enum node_step {
	NODE_STEP_AGAIN, // go on
	NODE_STEP_DONE,  // PLAN DONE received, state written
	NODE_STEP_FATAL, // not enrolled, or the state cannot be kept
};

// Establishes a session if c has none: a handshake, after the backoff
// of an earlier failure. NODE_STEP_AGAIN (c->s is NULL if it failed and
// is worth retrying) or NODE_STEP_FATAL (this client is not enrolled).
enum node_step node_connect(struct node *n, struct node_conn *c);

// One turn of the POLL loop: a handshake if there is no session (after
// the backoff), then one POLL and what follows it (WAIT sleeps; TRAIN
// trains, answers and writes the state). node_run() is this in a loop.
enum node_step node_step(struct node *n, struct node_conn *c);

// Makes SIGHUP ask for a roster reload between rounds (reload.h) instead
// of ending the process. node_run() calls it; call it before loading the
// data so that a reload during start-up is not fatal. SIGINT and SIGTERM
// keep ending a client that is still loading at once.
void node_catch_hup(void);

// Runs the POLL loop until PLAN DONE (0), a fatal refusal or giving up
// (non-zero exit status).
int node_run(struct node *n);

// ---- the requests a secure round's stages make (client/secround.c) ----

// Sends a sealed copy of body (len bytes) as type for round and opens the
// reply, as every request of the loop does: any failure (timeout, a
// plaintext or sealed ERROR, a reply that does not open) drops the
// session and is logged. On success *reply holds the opened message
// (the caller frees it), *h its header and *rbody, *rlen its body.
fb_err node_call_body(struct node *n, struct node_conn *c, const uint8_t *body,
		size_t len, uint8_t type, uint32_t round, struct fb_msg **reply,
		struct fb_wire_header *h, uint8_t **rbody, size_t *rlen);

// Like node_call_body() for a POLL with status (header round).
fb_err node_call_poll(struct node *n, struct node_conn *c, uint8_t status,
		uint32_t round, struct fb_msg **reply, struct fb_wire_header *h,
		uint8_t **body, size_t *blen);

// Sleeps a PLAN WAIT's retry_after_ms (at least 100), times
// n->wait_scale if that is in (0, 1), plus jitter; a stop signal cuts it
// short.
void node_wait(const struct node *n, uint32_t retry_after_ms);

// The next handshake waits longer (a failed request, §6.1).
void node_backoff(struct node *n, struct node_conn *c);

// A sealed ERROR with reason for round; the session ends.
void node_report_error(struct node *n, struct node_conn *c, uint32_t round,
		uint16_t reason, const char *text);

// Sends res (REFUSE, or UPDATE: res->update taken, a copy kept pending
// until its ACK) for round after an upload slot, and waits for the ACK:
// true if one came (into *ack), false if the session was lost.
bool node_answer(struct node *n, struct node_conn *c, uint32_t round,
		struct node_round *res, struct fb_wire_ack *ack);

// Records round as completed (trained: a release was made), refreshes
// the budget flag and saves the state (NODE_STEP_FATAL if it cannot).
enum node_step node_complete(struct node *n, struct node_conn *c,
		uint32_t round, bool trained, const struct node_cpu *cpu);

// True once SIGINT or SIGTERM came.
bool node_stopping(void);

// The client leaves round now (a simulated dropout, NODE_DROP_*): logs
// it and records it in n->dropped_round; nothing is sent. The caller has
// freed any round state.
void node_drop_round(struct node *n, uint32_t round, enum node_drop at);

#endif
