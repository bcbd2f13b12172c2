// server/secround.c: see secround.h. Invariants: a secure round's model
// step is made only from a sum the coordinator unmasked with every
// commitment checked, that passed the honest bound (secagg-v1 §10.4),
// over at least n_min survivors; the aggregator never holds a party's
// input, only the running ring sum (the coordinator's one u64
// accumulator) and the unmasked int64 sum.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/train.h"
#include "fedbundle/net/bound.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "round.h"
#include "secround.h"

#define CONSORTIUM_LABEL "fedbundle/secagg-v1/consortium"

fb_err
agg_secround_init(struct agg_secround *sa, const struct agg_config *cfg,
		const struct fb_dataset *ds, const struct fb_model *model,
		uint32_t n_clients, double sigma)
{
	memset(sa, 0, sizeof(*sa));
	const struct agg_round_config *r = &cfg->round;
	if (!r->secure_aggregation) {
		return FB_OK;
	}
	sa->enabled = true;
	sa->cat = *ds;
	// The trainer of the commit visits no user.
	sa->cat.n_users = 0;
	sa->grid_log2 = fb_dp_grid_for(sigma * r->clip, r->clip);
	struct fb_release_layout L;
	struct fb_hparams hp = r->hp;
	hp.use_attrs = model->n_attrs > 0;
	fb_hparams_release_layout(&hp, model->n_items, model->n_bundles, &L);
	sa->dim = L.len;
	sa->index = calloc(n_clients, sizeof(*sa->index));
	sa->client = calloc((size_t)n_clients + 1, sizeof(*sa->client));
	sa->keys = calloc(n_clients, FB_ID_PK_LEN);
	sa->sum = malloc(sa->dim * sizeof(*sa->sum));
	if (sa->index == NULL || sa->client == NULL || sa->keys == NULL ||
			sa->sum == NULL) {
		return FB_ENOMEM;
	}
	return FB_OK;
}

void
agg_secround_finish(struct agg_secround *sa)
{
	if (sa == NULL) {
		return;
	}
	free(sa->index);
	free(sa->client);
	free(sa->keys);
	free(sa->sum);
	sa->index = NULL;
	sa->client = NULL;
	sa->keys = NULL;
	sa->sum = NULL;
}

fb_err
agg_secagg_consortium(const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path, uint8_t out[FB_SECAGG_CONSORTIUM_LEN])
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(roster_path, 1u << 26, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	uint8_t roster_hash[32], full[32];
	crypto_generichash(roster_hash, sizeof(roster_hash),
			(const uint8_t *)text, len, NULL, 0);
	free(text);
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof(full));
	crypto_generichash_update(&st, (const uint8_t *)CONSORTIUM_LABEL,
			strlen(CONSORTIUM_LABEL));
	crypto_generichash_update(&st, agg_pk, FB_ID_PK_LEN);
	crypto_generichash_update(&st, roster_hash, sizeof(roster_hash));
	crypto_generichash_final(&st, full, sizeof(full));
	memcpy(out, full, FB_SECAGG_CONSORTIUM_LEN);
	return FB_OK;
}

fb_err
agg_fed_set_consortium(struct agg_fed *fed, const uint8_t agg_pk[FB_ID_PK_LEN],
		const char *roster_path)
{
	struct agg_secround *sa = &fed->sa;
	if (!sa->enabled) {
		return FB_OK;
	}
	fb_err err = agg_secagg_consortium(agg_pk, roster_path, sa->consortium);
	if (err != FB_OK) {
		return fb_errorf(err,
				"secure aggregation: the consortium id needs "
				"the roster file: %s",
				fb_last_error(err));
	}
	sa->have_consortium = true;
	char hex[2 * FB_SECAGG_CONSORTIUM_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), sa->consortium,
			FB_SECAGG_CONSORTIUM_LEN);
	fb_log(FB_LOG_INFO, "secure aggregation: consortium %s (roster %s)",
			hex, roster_path);
	return FB_OK;
}

// The std, in grid steps, of the sum of n shares each calibrated for h
// honest ones (secagg-v1 §2.2, §7).
static double
sum_noise_std(const struct agg_secagg_params *p, uint32_t n, double sigma,
		double clip, int32_t grid_log2)
{
	double s = sigma * clip / ldexp(1.0, grid_log2);
	return s * sqrt((double)n / (double)p->h);
}

bool
agg_secagg_no_wrap(const struct agg_secagg_params *p, double sigma, double clip,
		int32_t grid_log2)
{
	double B = floor(clip / ldexp(1.0, grid_log2));
	double noise = sum_noise_std(p, p->n, sigma, clip, grid_log2);
	return (double)p->n * B + 40.0 * noise < 0x1p63;
}

double
agg_secagg_sum_bound(const struct agg_secagg_params *p, uint32_t n,
		double sigma, double clip, int32_t grid_log2, size_t dim)
{
	double B = floor(clip / ldexp(1.0, grid_log2));
	double noise = sum_noise_std(p, n, sigma, clip, grid_log2) *
			fb_bound_noise(sqrt((double)dim), 1,
					FB_BOUND_FAIL_PROB);
	return (double)n * B + noise;
}

// dst = a - b, element-wise (same shapes).
static void
sub_matrix(struct fb_matrix *dst, const struct fb_matrix *b)
{
	size_t n = fb_matrix_len(dst);
	for (size_t k = 0; k < n; k++) {
		dst->data[k] -= b->data[k];
	}
}

fb_err
agg_secround_delta(struct agg_fed *fed, const int64_t *sum, uint64_t users,
		struct fb_model *delta)
{
	const struct agg_secround *sa = &fed->sa;
	const struct fb_wire_round_config *p = &fed->plan_cfg;
	const struct fb_model *m = &fed->model;
	if (users == 0) {
		return fb_errorf(FB_EINVAL, "secure round: no declared users");
	}
	struct fb_train_config tc;
	fb_train_config_defaults(&tc);
	tc.hp = p->hp;
	tc.epochs = 1;
	tc.threads = 1;
	struct fb_matrix P;
	fb_matrix_init(&P, 0, m->dim); // no user: allocates nothing
	fb_err err = fb_matrix_copy(&delta->V, &m->V);
	if (err == FB_OK) {
		err = fb_matrix_copy(&delta->W, &m->W);
	}
	if (err == FB_OK && m->n_attrs > 0) {
		err = fb_matrix_copy(&delta->M, &m->M);
	}
	struct fb_trainer *t = NULL;
	struct fb_rep_grad g = {0};
	if (err == FB_OK) {
		err = fb_trainer_create(&t, &sa->cat, delta, &P, &tc);
	}
	if (err == FB_OK) {
		err = fb_rep_grad_init(&g, delta);
	}
	// As client/local.c train_dp scales its own release: grid / (q N),
	// N the survivors' public numbers of users together.
	double scale = ldexp(1.0, sa->grid_log2) /
			(p->sampling_rate * (double)users);
	if (err == FB_OK) {
		err = fb_trainer_release_unpack(t, sum, sa->dim, scale, &g);
	}
	if (err == FB_OK) {
		err = fb_trainer_apply(t, &g);
	}
	fb_rep_grad_finish(&g);
	fb_trainer_destroy(t);
	if (err != FB_OK) {
		return err;
	}
	sub_matrix(&delta->V, &m->V);
	sub_matrix(&delta->W, &m->W);
	if (m->n_attrs > 0) {
		sub_matrix(&delta->M, &m->M);
	}
	return FB_OK;
}
