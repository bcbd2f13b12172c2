// server/round.h: the federation as the aggregator sees it: the global
// model, the enrolled clients and the round state machine of
// protocols/wire-v1.md §6.2: IDLE (between rounds) -> plan r ->
// COLLECTING (answer POLL with PLAN TRAIN r, sum UPDATEs) -> at the
// deadline or when every participant answered: commit (quorum reached:
// server optimizer, checkpoint) or abandon (model untouched; the id is
// never reused) -> IDLE ... -> OVER (answer PLAN DONE). Round ids strictly
// increase, also across restarts: the last planned id is written to disk
// before any PLAN of it leaves (checkpoint.h).
// Thread-safety: owned by the server's one owner thread.
#ifndef FB_SERVER_ROUND_H
#define FB_SERVER_ROUND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "aggregate.h"
#include "catver.h"
#include "config.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/net/bound.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/privacy/noise.h"
#include "secround.h"

// A slot held since since_ms; it lapses after the kind's grant time.
struct agg_slot {
	bool held;
	uint64_t since_ms;
};

enum agg_client_status {
	AGG_CL_IDLE = 0, // not a participant of the current round
	AGG_CL_WAITING,  // participant, not answered yet
	AGG_CL_UPDATE,   // its update was counted
	AGG_CL_REFUSED,  // it sent REFUSE
	AGG_CL_REJECTED, // its update failed the checks
	AGG_CL_DROPPED,  // it reported no budget or a pause
};

struct agg_client {
	char name[FB_ID_NAME_MAX + 1];
	uint8_t pk[FB_ID_PK_LEN]; // its roster key
	bool connected; // has a live session (kept by the server loop)
	bool revoked;   // its key left the roster (reload.h): never planned,
			// no session; kept for its index and counters
	uint64_t max_users; // its roster line's max_users (0: none), the
			    // most users it may declare (secagg-v1 §10.4)
	bool exhausted;     // its last POLL said its privacy budget is spent
			    // (not restored from a checkpoint: a claim)
	bool paused;
	bool done_sent;      // got PLAN DONE
	uint32_t offered;    // last round it was sent PLAN TRAIN for
	double epsilon;      // last epsilon reported (INFINITY: not private)
	bool reported;       // epsilon is valid
	uint32_t updates;    // updates counted over the run
	uint32_t last_round; // round of its last counted update
	// The current round.
	bool participant;
	enum agg_client_status status;
	uint16_t refuse_reason; // of its REFUSE, or why its update was rejected
	// Its upload slot (granted to a POLL UPLOAD) and download slot (sent
	// the model, not heard from since): §5.2.
	struct agg_slot up, down;
};

enum agg_state {
	AGG_IDLE,
	AGG_COLLECTING,
	AGG_OVER,
};

// Reason codes counted one by one (wire-v1 §8); higher ones share the
// last counter.
#define AGG_REASONS 32

struct agg_round_stats {
	uint32_t participants;
	uint32_t updates, refusals, late, rejected, dropped;
	uint64_t bytes_in, bytes_out;
	double broadcast_s;       // round start -> last PLAN TRAIN sent
	double collection_s;      // round start -> close
	double aggregation_s;     // opening, checking and summing updates
	double open_s;            // of which opening (AEAD) the UPDATEs
	double seal_s;            // sealing replies (PLANs, ACKs)
	double commit_s;          // noise, optimizer, checkpoint
	uint32_t upload_grants;   // PLAN UPLOAD answers (renewals included)
	uint32_t upload_waits;    // PLAN WAIT answers to upload requests
	uint32_t uploads_peak;    // most upload slots held at once
	uint32_t download_grants; // PLAN TRAIN or DONE with the model sent
	uint32_t download_waits;  // PLAN WAIT answers for want of a slot
	uint32_t downloads_peak;  // most download slots held at once
	bool committed;
	// Not committed: why (static text: "quorum", "stopped",
	// "non-finite-model", "model-out-of-bounds", "moved-beyond-bound",
	// "checkpoint-failed", "secagg-too-few", "secagg-unmask-failed",
	// "secagg-over-bound"); NULL while committed or collecting.
	const char *abandoned;
	double model_move; // L2 norm of the commit's move of the model
	// A secure round (secround.h): the parties n, the sizes of U1
	// (advertised), U2 (shared), U3 (masked input counted) and U4
	// (revealed), and the time from the round's start to the unmasked
	// sum (or its failure).
	bool secure;
	uint32_t sa_n, sa_u1, sa_u2, sa_u3, sa_u4;
	double secagg_s;
	// REFUSEs by reason code (codes of AGG_REASONS and above in the
	// last slot), logged at the round's close as one warning.
	uint32_t refused_by[AGG_REASONS];
	char first_refusal[400]; // "<client>: <reason> (<text>)"
};

// What an observer of the federation is told (struct agg_fed.observer).
enum agg_event {
	AGG_EV_PLANNED = 1, // fed->round was planned (participants chosen)
	AGG_EV_CLOSED,      // fed->round closed: committed or abandoned
	AGG_EV_OVER,        // training is over (fed->over_reason)
};

struct agg_fed {
	const struct agg_config *cfg;
	struct fb_wire_round_config plan_cfg; // what TRAIN plans carry
	uint32_t steps_per_round;             // DP releases per round
	// What an honest update of the current round can be (wire-v1 §9.7):
	// the catalogue's map norm (fixed), the round's bound (from the model
	// when it was planned) and the limit updates are checked against
	// (the bound, lowered by max_update_norm).
	struct fb_bound_catalog catalog;
	struct fb_bound bound;
	struct agg_update_limit limit;
	struct fb_model model;
	struct agg_opt opt;
	struct agg_accum acc;
	// Client-level DP: the exact sum of the round's clipped updates.
	struct agg_central central;
	struct agg_client *clients;
	uint32_t n_clients;
	struct fb_noise *rng; // CSPRNG: client sampling, central noise
	// Secure aggregation (cfg round.secure_aggregation): the current
	// round's parties and stage (secround.h).
	struct agg_secround sa;
	// Client-level DP (granularity client): the aggregator's ledger,
	// open and locked from agg_fed_init to agg_fed_finish (the daemon's
	// life), and the DP state over it.
	struct fb_ledger *ledger;
	struct fb_dp *dp;
	char ledger_path[AGG_PATH_MAX + 32];
	// Schedule.
	enum agg_state state;
	uint32_t round;          // current (or last) round id
	uint32_t last_committed; // 0: none
	uint32_t last_planned;   // 0: none
	// The last round planned before this process started: every round up
	// to it is closed, whoever it was offered to (a restart forgets that).
	uint32_t earlier_life;
	uint64_t round_start_ms;
	uint64_t deadline_ms; // absolute, monotonic
	uint64_t idle_since_ms;
	uint64_t over_since_ms;
	char over_reason[160];
	struct agg_round_stats st;
	// Totals.
	uint32_t n_committed, n_abandoned;
	uint32_t refused_by[AGG_REASONS]; // REFUSEs by reason, all rounds
	const char *last_abandoned;       // why the last round was abandoned
	char first_refusal[400];          // "<client>: <reason> (<text>)"
	uint64_t total_in, total_out;
	bool have_eval;
	double last_recall, last_ndcg; // global metrics of the last round
	uint64_t last_eval_users;
	uint64_t started_ms;
	bool fatal; // a commit could not be made durable: stop
	// No round is planned while set: a roster reload waits for the
	// secure round to close (server/reload.h), and the loop's next turn
	// must see it closed before the next one starts.
	bool hold_plan;
	// Output.
	FILE *metrics; // JSON lines, or NULL
	FILE *human;   // one line per round
	char ckpt_path[AGG_PATH_MAX + 32];
	char planned_path[AGG_PATH_MAX + 32];
	bool resumed; // started from a checkpoint
	// The configured catalogue's digest and, when the checkpoint was of
	// another version, how its rows were mapped (catver.h).
	struct agg_catver catver;
	// Optional observer (a simulation), called on the owner thread when
	// a round is planned, when it closed (after the commit and the
	// operator's log, before the round's state is reset) and when
	// training is over. NULL: none.
	void (*observer)(void *ctx, const struct agg_fed *fed,
			enum agg_event event);
	void *observer_ctx;
};

// Sets up the federation: the model from the checkpoint in
// cfg->checkpoint_dir if there is one (else from cfg->seed), the clients
// of roster, the privacy calibration and, for granularity client, the
// aggregator's ledger. ds is the catalogue (only its sizes and bundle /
// attribute relations are used; with secure aggregation it is read at
// every commit and must outlive fed). FB_EINVAL for a configuration that does
// not fit, FB_EFORMAT/FB_EIO for a bad checkpoint or ledger.
fb_err agg_fed_init(struct agg_fed *fed, const struct agg_config *cfg,
		const struct fb_dataset *ds, const struct fb_roster *roster,
		uint64_t now_ms);

// Frees everything; NULL-safe.
void agg_fed_finish(struct agg_fed *fed);

// The clients enrolled now (not revoked by a roster reload).
uint32_t agg_fed_enrolled(const struct agg_fed *fed);

// Advances the schedule: closes a round at its deadline or when every
// participant answered, plans the next one when enough clients are
// connected, and decides when training is over.
void agg_fed_tick(struct agg_fed *fed, uint64_t now_ms);

// Milliseconds until the next deadline the schedule cares about (for the
// event wait), at least 1.
int agg_fed_wakeup_ms(const struct agg_fed *fed, uint64_t now_ms);

// A POLL from client c with status (enum fb_wire_poll_status). Fills *plan
// with the reply (TRAIN with views of the model, WAIT or DONE).
void agg_fed_poll(struct agg_fed *fed, uint32_t c, uint8_t status,
		uint64_t now_ms, struct fb_wire_plan *plan);

// What to answer an UPDATE, REFUSE or client ERROR.
struct agg_outcome {
	bool error;      // answer a sealed ERROR (reason) and end the session
	uint8_t status;  // else an ACK with this status
	uint16_t reason; // enum fb_wire_reason
	char text[160];
};

// An UPDATE for round_id from client c, its opened body (4-byte aligned,
// decoded here). Counts it when it is acceptable.
void agg_fed_update(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const uint8_t *body, size_t len, uint64_t now_ms,
		struct agg_outcome *out);

// What to answer a request of a secure round (secround.c): a body of
// type (SA_PEERS, SA_INBOX, SA_UNMASK_REQ or SA_SIGNATURES, len bytes,
// written by agg_fed_sa_write), a PLAN WAIT of retry_after_ms, or out (an ACK or a
// sealed ERROR).
enum agg_sa_reply_kind {
	AGG_SA_REPLY_OUT = 0,
	AGG_SA_REPLY_WAIT,
	AGG_SA_REPLY_BODY,
};
struct agg_sa_reply {
	enum agg_sa_reply_kind kind;
	uint8_t type;
	size_t len;
	uint32_t retry_after_ms;
	struct agg_outcome out;
};

// A request of secure aggregation from client c for round_id (its opened
// body): type SA_ADVERT, SA_SHARES or SA_UNMASK, or FB_WIRE_POLL for a
// POLL with status UNMASK (body NULL). Fills *rep (protocols/secagg-v1.md
// §6; the replies of the wiring plan): the stage's reply once the stage
// it waits for is closed, PLAN WAIT while it is open, ACK late for a
// closed or abandoned round, ACK rejected (not-selected, duplicate), or a
// sealed ERROR (malformed, wrong-round, unexpected).
void agg_fed_sa_request(struct agg_fed *fed, uint32_t c, uint8_t type,
		uint32_t round_id, const uint8_t *body, size_t len,
		uint64_t now_ms, struct agg_sa_reply *rep);

// Writes the body rep announced (rep->kind AGG_SA_REPLY_BODY, rep->len
// bytes at out), before anything else changes fed.
void agg_fed_sa_write(const struct agg_fed *fed, uint32_t c,
		const struct agg_sa_reply *rep, uint8_t *out);

// Client c sent a sealed ERROR about round_id (e.g. secagg-refused: its
// guard refused an unmask request): in a secure round, no stage waits for
// it any more.
void agg_fed_client_error(struct agg_fed *fed, uint32_t c, uint32_t round_id);

// A REFUSE for round_id from client c, decoded.
void agg_fed_refuse(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const struct fb_wire_reason_text *refuse, uint64_t now_ms,
		struct agg_outcome *out);

// Client c was heard from (a sealed message opened) or its connection
// closed: the model sent to it, if any, has left the aggregator's memory,
// and its download slot is free.
void agg_fed_heard(struct agg_fed *fed, uint32_t c);

// A POLL UPLOAD for round_id from client c. True with *plan: UPLOAD
// (a slot is granted: send now) or WAIT (every slot is taken). False with
// *out: what the UPDATE would be answered now (late, duplicate, not a
// participant, wrong round), which the client takes as the round's answer.
bool agg_fed_upload_ask(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		uint64_t now_ms, struct fb_wire_plan *plan,
		struct agg_outcome *out);

// True once training is over and every client that is connected has been
// sent DONE (or linger_ms passed).
bool agg_fed_finished(const struct agg_fed *fed, uint64_t now_ms);

// Ends training now (signal): a collecting round is abandoned.
void agg_fed_stop(struct agg_fed *fed, uint64_t now_ms, const char *why);

// The largest message of a session: PLAN TRAIN or UPDATE with the model.
size_t agg_fed_max_msg(const struct agg_fed *fed);

// The handshake server's configuration: agg_fed_max_msg announced, and a
// pending table with room for every enrolled key's FB_HS_DEFAULT_MAX_PER_KEY
// handshakes, so that a full table can only be one key's flood, which
// then evicts that key's own entries (wire-v1 §3.8).
struct fb_hs_server_config agg_fed_hs_config(const struct agg_fed *fed);

// Why a run committed nothing: abandoned rounds, the last one's reason,
// and the clients' refusals by reason with the first one's text, into
// buf. For the exit message of a run where every round was abandoned.
void agg_fed_failure(const struct agg_fed *fed, char *buf, size_t cap);

#endif
