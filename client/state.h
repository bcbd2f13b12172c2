// client/state.h: the client's durable state, one tensor file of kind
// CLIENT written atomically after every round: its users' factors P, the
// latest global model it received, the last round it completed and the
// federation (the aggregator's round numbering, wire-v1 §2.3) that round
// id belongs to, and the anchor of its privacy ledger (entry count and
// head hash at that time). A state file written before federation ids
// loads with an unknown (all-zero) one.
// On start the ledger is checked against the anchor: a ledger that is
// missing, corrupt, or shorter than the anchor refuses the start (the
// budget would otherwise restart from zero). Entries after the anchor are
// fine: they are releases of a round that was cut short.
// Thread-safety: plain data owned by the client's one thread.
#ifndef FB_CLIENT_STATE_H
#define FB_CLIENT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/model/model.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

struct node_state {
	struct fb_matrix P;      // n_users x d; 0 rows before the first round
	struct fb_model global;  // latest global model; dim 0 before any
	struct fb_rep_opts opts; // how the global model forms representations
	uint32_t last_completed; // last round whose UPDATE/REFUSE was acked
	// The federation last_completed counts in (§5.3.1 0x001c); all zero:
	// unknown (none seen yet, or a state from before federation ids).
	uint8_t federation[FB_WIRE_FEDERATION_ID_LEN];
	uint32_t rounds_trained; // rounds it sent an update for
	bool exhausted;          // its privacy budget is spent
	bool done;               // it received PLAN DONE
	uint64_t ledger_count;   // anchor of the privacy ledger
	uint8_t ledger_head[FB_HASH_LEN];
};

// What a TRAIN plan's federation id did to the state (wire-v1 §6.1, "A
// new federation").
enum node_fed_change {
	NODE_FED_SAME,    // no id in the plan, or the state's: nothing changed
	NODE_FED_ADOPTED, // the state had none: it took the plan's
	NODE_FED_NEW,     // a new numbering: the plan's id, last_completed 0
};

// Follows the federation id of a TRAIN plan for round (all zero: the plan
// has none). Another id than st's, or st without one while round is one
// it completed already (a state from before federation ids meeting an
// aggregator that started afresh), is a new federation: st takes the id
// and last_completed becomes 0. Nothing else of st changes (the ledger
// anchor, exhaustion and rounds_trained carry over).
enum node_fed_change node_state_follow(struct node_state *st,
		const uint8_t id[FB_WIRE_FEDERATION_ID_LEN], uint32_t round);

// Frees the matrices; NULL-safe.
void node_state_finish(struct node_state *st);

// Reads path into *st (zeroed first); *found is false (and *st empty) if
// there is no file. FB_EFORMAT/FB_EIO for a corrupt or unreadable one.
fb_err node_state_load(struct node_state *st, const char *path, bool *found);

// Writes *st to path atomically. FB_EIO.
fb_err node_state_save(const struct node_state *st, const char *path);

struct fb_ledger;

// Checks the open ledger l (NULL: there is none at ledger_path) against
// the anchor of st: FB_EIO if it is missing while the anchor counts
// entries, FB_EFORMAT if entries were removed or replaced. A missing
// ledger with a zero anchor is fine. ledger_path names it in the errors.
fb_err node_state_check_ledger(const struct node_state *st,
		const struct fb_ledger *l, const char *ledger_path);

// Sets the anchor of st from the open ledger l now (count 0 if NULL).
void node_state_anchor(struct node_state *st, const struct fb_ledger *l);

#endif
