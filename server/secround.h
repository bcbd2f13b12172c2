// server/secround.h: the aggregator's side of a round of secure
// aggregation (protocols/secagg-v1.md; the wiring in round.h's
// AGG_COLLECTING). A secure round adds sub-stages to the collection:
// ADVERTS (SA_ADVERT answered with SA_PEERS once closed) -> SHARES
// (SA_SHARES answered with SA_INBOX) -> MASKED (UPDATE with the one
// masked tensor, summed into one u64 accumulator: memory flat in the
// number of parties) -> CONSIST (POLL UNMASK answered with SA_UNMASK_REQ,
// SA_CONSISTENCY with SA_SIGNATURES once t survivors signed, §3.5) ->
// UNMASK (SA_UNMASK of a signer answered with ACK) -> the commit from the unmasked int64 sum. Each
// stage closes when every party it waits for answered, or at its deadline;
// too few parties abandon the round ("secagg-too-few"), a failed unmask
// ("secagg-unmask-failed") or a sum above the honest bound
// ("secagg-over-bound") too. The crypto and the per-stage bookkeeping are
// the coordinator's (include/fedbundle/secagg/server.h); this file maps
// roster clients to party indices, keeps the deadlines and turns the
// unmasked sum into the model's step.
// Thread-safety: part of struct agg_fed, owned by the server's owner
// thread.
#ifndef FB_SERVER_SECROUND_H
#define FB_SERVER_SECROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

struct agg_fed;
struct agg_outcome;
struct fb_secagg_server;
struct fb_wire_round_config;

enum agg_sa_stage {
	AGG_SA_ADVERTS = 0, // collecting advertisements (U1)
	AGG_SA_SHARES,      // collecting share bundles (U2)
	AGG_SA_MASKED,      // collecting masked inputs (U3)
	AGG_SA_CONSIST,     // collecting signatures of U3 (secagg-v1 §3.5)
	AGG_SA_UNMASK,      // collecting reveals (U4)
	AGG_SA_DONE,        // unmasked: the round can commit
	AGG_SA_FAILED,      // the round is abandoned (st.abandoned says why)
};

struct agg_secround {
	bool enabled; // cfg round.secure_aggregation
	// secagg-v1 §3.6, from the aggregator's key and the roster file
	// (agg_secround_set_consortium); every plan carries it.
	uint8_t consortium[FB_SECAGG_CONSORTIUM_LEN];
	bool have_consortium;
	// The catalogue without users, for the trainer the commit steps with
	// (its arrays are the catalogue's: it must outlive the federation).
	struct fb_dataset cat;
	int32_t grid_log2; // the releases' grid (fb_dp_grid_for)
	size_t dim;        // release length (the layout's)
	// The current round.
	bool active; // the round being collected is secure
	struct agg_secagg_params p;
	uint32_t *index;  // per roster client: its party index, 0: none
	uint32_t *client; // per index 1..n: the roster client (0 unused)
	uint8_t *keys;    // the parties' roster keys, index order (TLV)
	bool *quit;       // per roster client: sent a sealed ERROR this round
	struct fb_secagg_server *co;
	enum agg_sa_stage stage;
	uint64_t stage_deadline_ms;
	uint64_t stage_since_ms;
	int64_t *sum;   // the unmasked sum (dim), valid in AGG_SA_DONE
	uint64_t users; // declared users of the survivors (U3)
	// The round's ring width (secagg-v1 §2.2), chosen at planning: the
	// narrowest of 32, 48, 64 bits for max(n, the users U1 declared in
	// the last round that closed its advertisements); sent in the PLAN.
	uint32_t ring_bits;
	uint64_t users_hint;
};

// Sets sa up for cfg over the catalogue ds (borrowed) and a model of
// model's shapes: a no-op unless cfg->round.secure_aggregation.
// FB_EINVAL (naming the key) if the parameters cannot fit even with every
// one of the n_clients enrolled clients a party; FB_ENOMEM.
fb_err agg_secround_init(struct agg_secround *sa, const struct agg_config *cfg,
		const struct fb_dataset *ds, const struct fb_model *model,
		uint32_t n_clients, double sigma);

// Frees sa; NULL-safe.
void agg_secround_finish(struct agg_secround *sa);

// secagg-v1 §3.6: the consortium id of the aggregator's public key and
// the roster file's bytes. FB_EIO if the file cannot be read.
fb_err agg_secagg_consortium(const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path, uint8_t out[FB_SECAGG_CONSORTIUM_LEN]);

// Sets fed's consortium id (agg_secagg_consortium); needed before a
// secure round is planned (main and the simulation call it after
// agg_fed_init).
fb_err agg_fed_set_consortium(struct agg_fed *fed,
		const uint8_t agg_pk[FB_ID_PK_LEN], const char *roster_path);

// The no-wrap bound of secagg-v1 §2.2 in Z_(2^bits) for p's parties
// holding users users together (each user moves a coordinate by at most
// floor(clip / grid) steps), noise multiplier sigma and clip on the grid
// 2^grid_log2: users x floor(clip / grid) + 40 x the std of the n shares'
// sum < 2^(bits - 1) (fb_secagg_ring_fits).
bool agg_secagg_no_wrap(const struct agg_secagg_params *p, uint64_t users,
		double sigma, double clip, int32_t grid_log2, uint32_t bits);

// The largest L2 norm (grid steps) of an honest sum of n releases whose
// parties declared users users together, sampled at rate q, except with
// probability FB_BOUND_FAIL_PROB: the users sampled (fb_bound_binomial)
// times one user's bound floor(clip / grid), plus the norm bound of the
// n noise shares over dim coordinates (fb_bound_noise). Each honest
// release is a sum over its sampled users, so the bound grows with the
// users, not only with the parties.
double agg_secagg_sum_bound(const struct agg_secagg_params *p, uint32_t n,
		uint64_t users, double q, double sigma, double clip,
		int32_t grid_log2, size_t dim);

// The model's step from a secure round's sum (an int64 sum on the
// release layout, users the survivors' declared users): gradient = sum *
// grid / (q * users), mapped to the model and stepped as a client's DP
// step is (fb_trainer_release_unpack, fb_trainer_apply), written as the
// delta new - model into delta (the model's shapes). FB_EINVAL, FB_ENOMEM.
fb_err agg_secround_delta(struct agg_fed *fed, const int64_t *sum,
		uint64_t users, struct fb_model *delta);

// ---- The stage machine, called by round.c ----

// Round fed->round was planned with its participants (round_start_ms
// set): numbers them 1..n in roster order, checks the parameters and the
// no-wrap bound and creates the coordinator. A round that cannot run is
// marked FAILED (st.abandoned says why) and closes at the next tick.
void agg_secround_plan(struct agg_fed *fed, uint64_t now_ms);

// True if client c may be sent PLAN TRAIN now (a party, advertisements
// still collected).
bool agg_secround_may_train(const struct agg_fed *fed, uint32_t c);

// Fills cfg's TLV 0x801d for client c.
void agg_secround_plan_tlv(const struct agg_fed *fed, uint32_t c,
		struct fb_wire_round_config *cfg);

// Closes the stages whose parties all answered or whose deadline passed;
// true once the round is to close (unmasked, or failed).
bool agg_secround_tick(struct agg_fed *fed, uint64_t now_ms);

// The current stage's deadline (absolute, monotonic ms).
uint64_t agg_secround_deadline(const struct agg_fed *fed);

// A secure round's UPDATE from client c, which current_participant
// accepted (round.c): decoded, checked (one MASKED u64 tensor of the
// release's length, the plan's privacy claims) and added to the ring sum.
void agg_secround_update(struct agg_fed *fed, uint32_t c, uint32_t round_id,
		const uint8_t *body, size_t len, uint64_t now_ms,
		struct agg_outcome *out);

// The round closed (after its statistics were reported): frees the
// coordinator and forgets the parties.
void agg_secround_close(struct agg_fed *fed);

// The largest secure-round message (the masked UPDATE, the PLAN with its
// TLV, SA_PEERS...) of fed, 0 without secure aggregation.
size_t agg_secround_max_msg(const struct agg_fed *fed);

#endif
