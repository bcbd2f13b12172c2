// client/local.h: what a client does with a TRAIN plan
// (protocols/wire-v1.md §6.1): check it against its policy and budget,
// train locally from the received global model, and build the UPDATE body
// (the delta local - received for every shared tensor, dense), ready to be
// sealed in place. Granularity none: plain local epochs. Granularity user:
// each local step is one DP release exactly as fit.c's DP epoch does it:
// budget check and durable ledger entry (fb_dp_begin_release), Poisson
// sample of the client's users from the CSPRNG, clipped summed gradient,
// discrete Gaussian noise on every coordinate, division by q * |users|,
// optimizer step; the ledger is on disk before the update exists.
// Granularity client: plain local training, then the whole delta clipped
// to clip_norm (the aggregator adds the noise).
// Thread-safety: one call at a time (it runs its own trainer threads).
#ifndef FB_CLIENT_LOCAL_H
#define FB_CLIENT_LOCAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"
#include "policy.h"
#include "state.h"

// CPU seconds of the client's thread in each stage of one round, for the
// operator and bench/bench-federation.sh: what the round costs the client
// beside its training (open and decode the PLAN, prepare the model and
// trainer, encode and seal the UPDATE, save the state). Training threads
// beyond the first (policy "threads") are not counted.
struct node_cpu {
	double open, decode, prepare, train, eval, encode, seal, save;
};

// CPU seconds of the calling thread.
double node_cpu_s(void);

struct node_round {
	bool refuse;     // answer REFUSE (reason, text) instead
	bool exhausted;  // the refusal is budget-exhausted (nothing left)
	uint16_t reason; // enum fb_wire_reason
	char text[160];
	struct fb_msg *update; // FB_SEALED_LEN(body) bytes, body encoded
	uint32_t steps;        // local steps (DP releases in user mode)
	double loss;           // mean local loss
	double epsilon;        // reported (INFINITY when not private)
	double eps_alone; // secure round: epsilon with its own shares alone
	size_t releases;  // ledger entries in total
	double recall_sum, ndcg_sum;
	uint32_t eval_users;
	double train_s, eval_s;
	struct node_cpu cpu; // prepare, train, eval and encode filled here
};

// What a client keeps between rounds so that it does not build them again
// (about seven model sizes of buffers, their allocation and page faults):
// its working copy of the model and the trainer over it, restarted on
// each round's global model (fb_trainer_restart), and the buffers the
// next global model is received into. Not saved.
struct node_work {
	struct fb_model local;
	struct fb_trainer *trainer;
	struct fb_model spare; // the last global model's buffers, for the next
};

// Frees w's model and trainer; NULL-safe.
void node_work_finish(struct node_work *w);

struct fb_ledger;

// Makes training stop between two steps (or epochs) once *flag is set (a
// SIGTERM: node.c), so that a stop never waits for a whole round of
// training; node_local_round then fails with FB_ECLOSED and nothing is
// sent (the releases made so far stay in the ledger: counted, never
// disclosed). NULL (the default) never stops. Set once, before rounds run.
void node_local_set_stop(const volatile sig_atomic_t *flag);

// Handles a decoded TRAIN plan for round. On success either out->refuse is
// set (nothing was trained, nothing released) or out->update holds the
// UPDATE message (the caller seals, sends and frees it), st->P holds the
// trained user factors and st->global the received model. The workspace
// work (NULL: a temporary one) is reused and kept for the next round.
// ledger is the client's privacy ledger, open for appending (the caller
// holds it, node.h); a user-level round checks its budget on it and
// appends its releases to it. Errors (FB_ENOMEM, FB_EIO writing the
// ledger...) mean nothing may be sent.
fb_err node_local_round(const struct node_policy *pol,
		const struct fb_dataset *ds, struct node_state *st,
		struct fb_ledger *ledger, const struct fb_wire_plan *plan,
		uint32_t round, struct node_work *work, struct node_round *out);

// A round of secure aggregation (protocols/secagg-v1.md; the plan
// carries the secagg field, wire-v1 §5.3.1 0x801d), in three calls:
// node_local_secure_prepare at PLAN time checks the plan against the
// policy (as node_local_round does), the roster (every index's key
// enrolled, this client's key at its index; the plan's consortium id is
// consortium, the one this client computed, secagg-v1 §3.6), the
// colluders it assumes
// and the budget of the round's ONE release, accounted as a distributed
// discrete Gaussian of n_min - secagg_assumed_colluders honest shares
// (fb_dp_set_shares), and keeps the received model; once the shares are
// exchanged, node_local_secure_release makes that release (durable
// ledger entry, Poisson sample, exact clipped sum on the release layout,
// its noise share) as int64 grid steps, ready to be masked; and
// node_local_secure_encode builds the UPDATE around the masked input.
// Metrics are never released in a secure round.
struct node_secure;
struct fb_roster;

// On success either out->refuse is set (nothing kept, *sec NULL) or *sec
// holds the round (the caller destroys it). plan's tensors are read
// during the call only. Errors as node_local_round.
fb_err node_local_secure_prepare(const struct node_policy *pol,
		const struct fb_dataset *ds, struct node_state *st,
		struct fb_ledger *ledger, const struct fb_roster *roster,
		const uint8_t consortium[16], const uint8_t own_pk[32],
		const struct fb_wire_plan *plan, uint32_t round,
		struct node_work *work, struct node_secure **sec,
		struct node_round *out);

// Coordinates of the release (the masked tensor's rows).
size_t node_local_secure_len(const struct node_secure *s);

// The release: *x points to its node_local_secure_len() coordinates
// (owned by s; the caller may mask them in place and pass them to
// node_local_secure_encode as the ring elements); out gets steps, loss, epsilon (assumed), eps_alone,
// releases and timings; st->global becomes the received model. Errors
// (FB_EBUDGET, FB_EIO writing the ledger...) mean nothing may leave.
fb_err node_local_secure_release(
		struct node_secure *s, int64_t **x, struct node_round *out);

// The UPDATE of masked input y (node_local_secure_len() ring elements)
// into out->update, FB_SEALED_LEN(body) bytes, body encoded.
fb_err node_local_secure_encode(struct node_secure *s, const uint64_t *y,
		struct node_round *out);

// Frees s, handing its buffers back to the workspace; NULL-safe.
void node_local_secure_destroy(struct node_secure *s);

// Evaluates st->P with st->global on the test split of ds (Recall@20 and
// NDCG@20 sums and the number of users), as fb_fit_evaluate does.
fb_err node_local_eval(const struct node_policy *pol,
		const struct fb_dataset *ds, const struct node_state *st,
		double *recall_sum, double *ndcg_sum, uint32_t *users);

#endif
