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

#include "fedbundle/err.h"
#include "fedbundle/model.h"
#include "fedbundle/wire.h"

// The running sum of a round.
struct agg_accum {
	struct fb_model sum; // same shapes as the global model
	uint32_t n;          // updates added
	uint32_t clipped;    // updates scaled down (granularity client)
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

// Checks a decoded UPDATE against the plan's configuration and the model
// (protocols/wire-v1.md §5.4, §6.2): every model tensor exactly once with
// the model's shape, dtype f32 (unknown tensor ids are ignored), and the
// claimed clip_norm and noise_multiplier equal to the plan's, and, for
// granularity client, an L2 norm (all tensors) within the clip_norm (plus
// 1e-5 relative for rounding). Returns 0 if
// acceptable, else the reason code (shape-mismatch, privacy-mismatch) with
// a short text for the ACK in text (cap >= 128).
uint16_t agg_update_check(const struct fb_wire_update *u,
		const struct fb_wire_round_config *cfg,
		const struct fb_model *model, char *text, size_t cap);

// Adds a checked update. clip > 0 enforces the L2 bound on the whole
// delta (all tensors together) by scaling it down (granularity client);
// 0 adds it as it is. *norm receives the delta's norm before clipping.
void agg_accum_add(struct agg_accum *a, const struct fb_wire_update *u,
		double clip, double *norm);

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

#endif
