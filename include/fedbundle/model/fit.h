// include/fedbundle/model/fit.h: a full training run: the model is
// initialised from the seed, trained epoch by epoch and evaluated on the
// tune split every cfg->eval_every epochs. Non-private, the parameters of
// the best tune Recall@K (K = the first cut-off; NDCG breaks ties) are
// kept and cfg->patience stops early: the protocol of the
// bundle-recommendation papers. Under DP the tune split chooses nothing
// (no ledger accounts it): every planned epoch runs and the last one is
// kept. The test split is evaluated once, with the kept parameters.
// Thread-safety: one run per call; it starts its own workers.
#ifndef FB_INCLUDE_FEDBUNDLE_FIT_H
#define FB_INCLUDE_FEDBUNDLE_FIT_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/eval.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/train.h"
#include "fedbundle/privacy/dp.h"

struct fb_fit_progress {
	uint32_t epoch;              // 1-based
	double epsilon;              // spent so far (DP runs; else 0)
	size_t releases;             // noised releases so far (DP runs)
	struct fb_train_stats stats; // of this epoch
	bool evaluated;              // tune was evaluated after this epoch
	struct fb_eval_result tune;  // valid when evaluated
	bool best; // this epoch's parameters are kept (so far)
};

// Called after every epoch (progress display, metrics files).
typedef void (*fb_fit_callback)(void *ctx, const struct fb_fit_progress *p);

struct fb_fit_result {
	uint32_t best_epoch; // the kept epoch: best on tune, or last (DP)
	bool budget_reached; // a DP run stopped at its budget
	double epsilon;      // spent by the run's ledger (DP runs)
	size_t releases;
	uint32_t epochs_run;
	struct fb_eval_result tune; // at the kept epoch
	struct fb_eval_result test; // at the kept epoch
	double train_seconds;       // training only, without evaluation
	double train_cpu_seconds;   // its process CPU time (all threads)
	// Every evaluation: each tune evaluation plus the test one.
	double eval_seconds_total;
	double test_eval_seconds; // the final test evaluation alone
};

// Trains on ds with cfg. On success *model and *P (zeroed on entry; the
// caller finishes them) hold the kept parameters. cb may be NULL.
// dp NULL: non-private epochs (fb_trainer_epoch). Otherwise user-level DP
// training: an epoch is ceil(1/q) releases, each a Poisson sample of the
// users with rate q whose exact clipped sum is noised by dp
// (include/fedbundle/privacy/dp.h) and divided by q * users, users the public
// count of dp's configuration (FB_EINVAL if it is 0); the run ends early,
// successfully, when the next release would exceed the budget; the kept
// parameters are the last epoch's, whatever tune says (cfg->patience is
// ignored). NOTE: the user factors in *P are never noised: they are the
// data owner's, not a release (docs/privacy.md §8).
fb_err fb_fit(const struct fb_dataset *ds, const struct fb_train_config *cfg,
		struct fb_dp *dp, struct fb_model *model, struct fb_matrix *P,
		fb_fit_callback cb, void *ctx, struct fb_fit_result *res);

// Where a fit starts besides the seeded initialisation. bundle_bias
// (n_bundles floats, or NULL): W's bias column starts there and its
// weight decay pulls toward it (fb_trainer_set_bias_anchor), so that
// training learns a correction to it; the start itself is evaluated on
// tune as epoch 0 and, non-private only, kept if no epoch beats it.
// Needs the bias and sgd.
struct fb_fit_start {
	const float *bundle_bias;
	// No epoch at all: the start (epoch 0) is the model, dp is not used
	// (a DP run that released only the counts behind bundle_bias).
	bool untrained;
};

// fb_fit from start (NULL: fb_fit itself). A kept epoch 0 means the start
// won on tune (non-private only): *model is the start.
fb_err fb_fit_from(const struct fb_dataset *ds,
		const struct fb_train_config *cfg, struct fb_dp *dp,
		const struct fb_fit_start *start, struct fb_model *model,
		struct fb_matrix *P, fb_fit_callback cb, void *ctx,
		struct fb_fit_result *res);

// Number of releases a DP fit of `epochs` epochs at rate q plans.
uint64_t fb_fit_dp_steps(uint32_t epochs, double q);

// Evaluates model + P on one split of ds (mask = train), the way fb_fit
// does (same representations, same cut-offs).
fb_err fb_fit_evaluate(const struct fb_dataset *ds,
		const struct fb_model *model, const struct fb_matrix *P,
		const struct fb_rep_opts *opts, const struct fb_csr *split,
		const uint32_t *ks, uint32_t n_k, int threads,
		struct fb_eval_result *out);

// Like fb_fit_evaluate(), and *per_user (the caller frees it) receives
// each evaluated user's metrics (fb_eval_ranking_users).
fb_err fb_fit_evaluate_users(const struct fb_dataset *ds,
		const struct fb_model *model, const struct fb_matrix *P,
		const struct fb_rep_opts *opts, const struct fb_csr *split,
		const uint32_t *ks, uint32_t n_k, int threads,
		struct fb_eval_result *out, struct fb_metrics **per_user);

#endif
