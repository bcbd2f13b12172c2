// server/aggregate.h: checking and summing client updates in a streaming
// way (one accumulator of the model's shape plus the message being
// processed: memory O(model), not O(clients x model)), and the server
// optimizers that apply the sum to the global model: FedAvg
// (global += lr * sum / n) and FedAdam (Reddi et al. 2021, "Adaptive
// Federated Optimization": the negated mean delta is the pseudo-gradient;
// m, v moments without bias correction, adaptivity tau).
// Thread-safety: owned by the server's owner thread.
#ifndef FB_SERVER_AGGREGATE_H
#define FB_SERVER_AGGREGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/model/model.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"

// The running sum of a round.
struct agg_accum {
	struct fb_model sum; // same shapes as the global model
	uint32_t n;          // updates added
	uint32_t clipped;    // updates scaled down (granularity client)
	double max_norm;     // the largest L2 norm added (before clipping)
	double recall_sum;
	double ndcg_sum;
	uint64_t eval_users;
	double loss_sum; // sum of the clients' mean losses
};

// Allocates a zeroed accumulator shaped like model. FB_ENOMEM.
fb_err agg_accum_init(struct agg_accum *a, const struct fb_model *model);

// Frees it; NULL-safe.
void agg_accum_finish(struct agg_accum *a);

// Zeroes the sum and the counters.
void agg_accum_reset(struct agg_accum *a);

// The most an accepted update may be (protocols/wire-v1.md §9.7): its L2
// norm over every model tensor together, and its largest |coordinate|.
// +infinity: no limit.
struct agg_update_limit {
	double l2, linf;
};

// Checks a decoded UPDATE (the decoder refused NaN and infinities) against
// the plan's configuration, the model and lim (protocols/wire-v1.md §5.4,
// §6.2), in this order: every model tensor exactly once with the model's
// shape, dtype f32 (unknown tensor ids are ignored): shape-mismatch; the
// claimed clip_norm and noise_multiplier equal to the plan's:
// privacy-mismatch; the norm and the largest |coordinate| within lim
// (NULL: no limit): over-bound. Returns 0 if acceptable, else the reason
// code with a short text for the ACK in text (cap >= 128); *norm (NULL:
// not wanted) receives the L2 norm once the shapes are checked.
uint16_t agg_update_check(const struct fb_wire_update *u,
		const struct fb_wire_round_config *cfg,
		const struct fb_model *model,
		const struct agg_update_limit *lim, char *text, size_t cap,
		double *norm);

// Adds a checked update. clip > 0 enforces the L2 bound on the whole
// delta (all tensors together) by scaling it down (granularity client);
// 0 adds it as it is. *norm receives the delta's norm before clipping.
void agg_accum_add(struct agg_accum *a, const struct fb_wire_update *u,
		double clip, double *norm);

// Client-level DP (central noise): the exact sum of the retailers'
// clipped updates over the coordinates a round trains, on the DP layer's
// fixed-point grid. Each update is restricted to those coordinates,
// scaled to L2 norm at most clip, truncated toward zero onto the grid and
// checked in integers to have squared norm at most floor(clip / grid)^2
// (shrunk until it does), then summed in 64-bit integers: removing one
// retailer moves the sum by at most clip, bit for bit, whatever the others
// and their arrival order (docs/privacy.md section 2, client level). The
// trained coordinates, packed: for each bundle its `lead` leading columns
// and, if `last`, its last one; then, if `items`, every coordinate of V
// and of M.
struct agg_central {
	int64_t *sum;
	size_t len;
	uint32_t lead;
	bool last, items;
	double clip, inv_grid;
	uint64_t bound2;
};

// The number of trained coordinates of model under the release layout L
// (hparams.h; its lead, last and items): fb_release_model_len.
size_t agg_central_len(const struct fb_model *model,
		const struct fb_release_layout *L);

// Sets up a zeroed sum for model over the coordinates L trains. FB_EINVAL
// if clip is not 1 to 2^31 grid steps of 2^grid_log2; FB_ENOMEM.
fb_err agg_central_init(struct agg_central *c, const struct fb_model *model,
		const struct fb_release_layout *L, double clip,
		int32_t grid_log2);

// Frees the sum; NULL-safe.
void agg_central_finish(struct agg_central *c);

// Zeroes the sum.
void agg_central_reset(struct agg_central *c);

// Adds a checked update (its tensors have the model's shapes), clipped to
// c->clip. *clipped is set if it had to be scaled down.
void agg_central_add(struct agg_central *c, const struct fb_wire_update *u,
		bool *clipped);

// sum = grid * v over the trained coordinates (v: c->len integers, the
// noised sum), 0 elsewhere.
void agg_central_unpack(const struct agg_central *c, const int64_t *v,
		struct fb_model *sum);

// Counts a checked update in a's counters (n, metric sums, norm) without
// adding its tensors: for updates summed by an agg_central.
void agg_accum_note(struct agg_accum *a, const struct fb_wire_update *u,
		double norm, bool clipped);

struct agg_opt {
	int kind; // enum agg_server_opt
	double lr, beta1, beta2, tau;
	struct fb_model m, v; // FedAdam moments (allocated for fedadam)
	uint64_t t;           // steps applied
};

// Sets up the optimizer for model's shapes. FB_ENOMEM.
fb_err agg_opt_init(struct agg_opt *o, int kind, double lr, double beta1,
		double beta2, double tau, const struct fb_model *model);

// Frees the moments; NULL-safe.
void agg_opt_finish(struct agg_opt *o);

// Applies the mean delta sum / divisor (divisor > 0) to model.
void agg_opt_apply(struct agg_opt *o, struct fb_model *model,
		const struct fb_model *sum, double divisor);

// What agg_opt_apply(o, model, sum, divisor) would make of the model,
// computed with the same float operations but changing nothing: whether
// every coordinate of the new model and of the FedAdam moments is finite,
// the new model's largest |coordinate|, and how far the model moves (L2
// over every tensor, and the largest move of one coordinate).
struct agg_candidate {
	bool finite;
	double max_abs;
	double move_l2;
	double move_linf;
};
void agg_opt_check(const struct agg_opt *o, const struct fb_model *model,
		const struct fb_model *sum, double divisor,
		struct agg_candidate *out);

// How far one application of o can move a coordinate, whatever the sum:
// FedAdam's per-coordinate step bound (bound.h fb_bound_adam_ratio, no
// bias correction, its moments' step count) times lr; +infinity for
// FedAvg (its move is lr times the mean delta).
double agg_opt_step_linf(const struct agg_opt *o);

#endif
