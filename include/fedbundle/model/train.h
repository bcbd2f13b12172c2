// include/fedbundle/model/train.h: BPR training of the bundle model.
// Loss, per user u (DESIGN.md "Model"):
//   sum over train pairs (u, b+) of -log sigmoid(s(u,b+) - s(u,b-))
//   + item_weight * sum over (u, i+) of -log sigmoid(s(u,i+) - s(u,i-))
//   + l2 * (|p_u|^2 + |shared params|^2)
// with b-, i- drawn uniformly among the bundles/items u has not interacted
// with in training. User factors P are updated by per-sample SGD inside a
// batch (they are local to their owner); the shared parameters by SGD or
// Adam once per batch, from the batch's summed gradient.
//
// Per-user contributions. The gradient a user contributes to the shared
// parameters is computed with respect to the item and bundle
// *representations* (item reps |I| x d, bundle reps |B| x d, see model.h);
// the gradients of V, W and M follow from it by the public linear map of the
// catalogue (fb_trainer_apply). Each user's contribution is formed on its
// own before it is added to the batch sum, so it can be clipped to an L2 norm
// (struct fb_batch_opts.clip): this is what user-level DP needs, and because
// the map to V, W, M is public, noise added to the summed representation
// gradient protects V, W and M by post-processing.
//
// Random choices: each user's negatives come from a stream keyed by the
// seed, the batch's stream number and the user's index alone, so a user's
// contribution is a function of that user's data and factors and of public
// values: adding or removing another user, reordering the batch or
// changing the thread count never changes it (the DP sensitivity rests on
// this). DP releases are exact integer sums (fb_trainer_batch_release), the
// same for every thread count; non-private float sums depend on the seed
// and the thread count.
// Thread-safety: a trainer is used by one thread; it runs its own workers.
#ifndef FB_INCLUDE_FEDBUNDLE_TRAIN_H
#define FB_INCLUDE_FEDBUNDLE_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/eval.h"
#include "fedbundle/model/hparams.h"
#include "fedbundle/model/model.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/err.h"

// The centralized trainer's configuration: the shared hyper-parameters
// (hparams.h) and what only a centralized run has. fb_train_config_defaults()
// gives the defaults; the JSON config (include/fedbundle/util/config.h)
// overrides them key by key.
struct fb_train_config {
	struct fb_hparams hp;
	uint32_t epochs;     // maximum number of epochs
	uint32_t eval_every; // evaluate on tune every this many epochs
	uint32_t patience;   // stop after this many evaluations without gain
	double adam_beta1;
	double adam_beta2;
	double adam_eps;
	// V starts from the public catalogue's co-membership eigenvectors
	// (pretrain.h) instead of noise.
	bool public_init;
	uint32_t threads; // worker threads (>= 1)
	uint64_t seed;
	// TEST ONLY, never a configuration key: draw every user of a worker
	// from one stream per batch (the behaviour before per-user streams),
	// which breaks the DP sensitivity bound; the audits use it to show
	// that they can fail.
	bool test_shared_stream;
	// Not a configuration key: the bias column of W is neither trained
	// nor released (the release layout drops it; fb_fit_from sets it for
	// a fixed bundle-bias prior, fit.h). Needs the bias.
	bool freeze_bias;
	uint32_t n_k; // evaluation cut-offs
	uint32_t ks[FB_METRICS_MAX_K];
};

// Fills cfg with the defaults (tuned on Youshu's tune split, non-private).
void fb_train_config_defaults(struct fb_train_config *cfg);

// The defaults for user-level DP training: items keep their public
// factors, the release is a low-rank bundle gradient plus a bias, and
// plain SGD, which DP noise hurts far less than Adam. Its lr (20) and
// bundle_rank (8) are the values tuned on Youshu's tune split before issue
// 15, kept only for callers that pin a configuration (the audits, the
// benchmark); `fedbundle train --dp user` replaces them (and q) by the
// rule of dprule.h unless given explicitly.
void fb_train_config_defaults_dp(struct fb_train_config *cfg);

// The JSON schema of what struct fb_train_config adds to the shared
// hyper-parameters (see config.h), n entries: a "train" configuration is
// this table over cfg plus fb_hparams_fields() over cfg->hp.
const struct fb_cfg_field *fb_train_config_fields(size_t *n);

// The sections of a "train" configuration over cfg, named name ("" for
// top-level keys): this file's table and the shared hyper-parameters'.
#define FB_TRAIN_CONFIG_SECTIONS 2
void fb_train_config_sections(struct fb_train_config *cfg, const char *name,
		struct fb_cfg_section out[FB_TRAIN_CONFIG_SECTIONS]);

// The representation switches of cfg.
void fb_train_rep_opts(
		const struct fb_train_config *cfg, struct fb_rep_opts *out);

// The packed layout of one DP release under cfg: fb_hparams_release_layout
// of cfg->hp (hparams.h), the one place that computes it, without the
// bias coordinate when cfg->freeze_bias.
// Fills out for cfg over a catalogue of n_items and n_bundles.
void fb_train_release_layout(const struct fb_train_config *cfg,
		uint32_t n_items, uint32_t n_bundles,
		struct fb_release_layout *out);

// Sets the bias coordinate (cfg->bias): user factors' last coordinate 1,
// V's, W's and M's 0. A no-op without the bias.
void fb_train_init_bias(const struct fb_train_config *cfg,
		struct fb_model *model, struct fb_matrix *P);

// Checks ranges (the hyper-parameters by fb_hparams_check); FB_EINVAL
// with the offending field named.
fb_err fb_train_config_check(const struct fb_train_config *cfg);

// Gradient with respect to the representations, summed over users.
struct fb_rep_grad {
	struct fb_matrix bundle; // n_bundles x d
	struct fb_matrix item;   // n_items x d
};

// Allocates a zeroed gradient of model's shapes.
fb_err fb_rep_grad_init(struct fb_rep_grad *g, const struct fb_model *model);

// Frees g; NULL-safe.
void fb_rep_grad_finish(struct fb_rep_grad *g);

// Statistics of a batch or an epoch.
struct fb_train_stats {
	double loss;          // mean BPR loss per sample (both terms)
	uint64_t samples;     // (u, pos, neg) triples processed
	uint64_t users;       // users processed
	uint64_t clipped;     // users whose contribution was scaled down
	double max_user_norm; // largest unclipped user contribution norm
	double seconds;
};

struct fb_trainer;

// Creates a trainer over ds (which must outlive it) for model (shared,
// borrowed) and P (the users' factors, ds->n_users x dim, borrowed).
// Only ds's training relations are read.
fb_err fb_trainer_create(struct fb_trainer **out, const struct fb_dataset *ds,
		struct fb_model *model, struct fb_matrix *P,
		const struct fb_train_config *cfg);

// Makes t what fb_trainer_create(ds, model, P, cfg) would make of its
// model's and P's current values, keeping its buffers (about six model
// sizes): a fresh optimizer state and representations recomputed. A
// client that trains every round from a new global model saves the
// allocation and page faults of a new trainer this way. FB_EINVAL (t
// unchanged) if cfg is invalid or differs in what the buffers were built
// for (threads, optimizer, negatives per positive, representation
// switches, whether item_weight is 0); then create a new trainer.
fb_err fb_trainer_restart(
		struct fb_trainer *t, const struct fb_train_config *cfg);

// Frees the trainer (not the model, P or ds); NULL is a no-op.
void fb_trainer_destroy(struct fb_trainer *t);

// One non-private epoch: every user with training interactions once, in
// a seeded shuffled order, in batches of cfg->batch_users.
fb_err fb_trainer_epoch(struct fb_trainer *t, uint32_t epoch,
		struct fb_train_stats *stats);

// Runs users[0..n) against the current representations, updates their
// factors in P, and writes into g the sum of their representation
// gradients divided by normalizer (> 0). g is overwritten. stream numbers
// the batch (with the seed and each user, it keys the negative sampling).
// Non-private: nothing is clipped.
fb_err fb_trainer_batch_gradient(struct fb_trainer *t, const uint32_t *users,
		uint32_t n, double normalizer, uint64_t stream,
		struct fb_rep_grad *g, struct fb_train_stats *stats);

// The pre-noise sum of one DP release (dp.h, step 2). Runs users[0..n) as
// fb_trainer_batch_gradient does and writes into out[0..len) (len: the
// layout's, fb_train_release_layout of the trainer's configuration) the
// exact integer sum over the users of their contributions on the grid
// 2^grid_log2: each user's representation gradient restricted to the
// layout, scaled to L2 norm at most clip, truncated toward zero to whole
// grid steps, and checked in integers to have squared norm at most
// floor(clip / 2^grid_log2)^2 (shrunk until it does). Removing one user
// therefore moves out by at most clip in L2 (floor(clip / grid) steps),
// exactly, whatever the other users and the thread count. FB_EINVAL if
// clip is not 1 to FB_DP_CLIP_STEPS_MAX grid steps, len is not the
// layout's, a user is out of range, or the sum could overflow.
fb_err fb_trainer_batch_release(struct fb_trainer *t, const uint32_t *users,
		uint32_t n, double clip, int32_t grid_log2, uint64_t stream,
		int64_t *out, size_t len, struct fb_train_stats *stats);

// g = scale * v, v a release in the layout of the trainer's
// configuration (len coordinates): every bundle coordinate outside the
// layout is 0; the item gradient is written only when the layout holds
// it, and is otherwise left as it was (fb_trainer_apply does not read it
// then). FB_EINVAL if the lengths or g's shapes do not fit.
fb_err fb_trainer_release_unpack(const struct fb_trainer *t, const int64_t *v,
		size_t len, double scale, struct fb_rep_grad *g);

// From now on the weight decay of W's bias column (cfg->bias) pulls each
// bundle's bias toward anchor[b] (n_bundles floats, copied) instead of
// 0: the trained part is the correction W_b,bias - anchor[b] (the
// popularity prior of `train --dp user`, docs/privacy.md section 12).
// FB_EINVAL without the bias or with another optimizer than sgd;
// FB_ENOMEM.
fb_err fb_trainer_set_bias_anchor(struct fb_trainer *t, const float *anchor);

// One optimizer step of the shared parameters from the representation
// gradient g (plus L2). The representations are recomputed when next
// read (the next batch, fb_trainer_reps), not here: a client's last step
// of a round would otherwise compute them for nobody.
fb_err fb_trainer_apply(struct fb_trainer *t, const struct fb_rep_grad *g);

// The configuration the trainer runs with.
const struct fb_train_config *fb_trainer_config(const struct fb_trainer *t);

// The representations of the current model, computed first if a step
// changed it (valid until the next apply).
const struct fb_reps *fb_trainer_reps(struct fb_trainer *t);

// The representation switches the trainer runs with (no computation).
const struct fb_rep_opts *fb_trainer_rep_opts(const struct fb_trainer *t);

// Recomputes the representations after the caller changed the model.
void fb_trainer_refresh(struct fb_trainer *t);

// Users with training interactions (the ones an epoch visits).
const uint32_t *fb_trainer_active_users(
		const struct fb_trainer *t, uint32_t *n);

#endif
