// tools/audit-common.c: see audit-common.h. One copy of what the client-
// level and secure modes of the sensitivity audit set up alike, so that
// both audit the same split, policies and plans.
#include <stdlib.h>
#include <string.h>

#include "audit-common.h"
#include "fedbundle/data/partition.h"

uint64_t
audit_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

fb_err
audit_partition(const struct fb_dataset *ds, uint32_t K, uint64_t seed,
		uint32_t *owner, uint32_t *local, struct fb_dataset **part)
{
	if (ds->n_users < K) {
		return fb_errorf(FB_EINVAL, "%u users for %u retailers",
				ds->n_users, K);
	}
	struct fb_partition_config pc;
	fb_partition_config_defaults(&pc);
	pc.n_retailers = K;
	pc.mode = FB_PARTITION_IID;
	pc.seed = seed;
	fb_err err = fb_partition_assign(ds->n_users, NULL, 0, &pc, owner);
	for (uint32_t r = 0; r < K && err == FB_OK; r++) {
		uint32_t *global = NULL;
		err = fb_partition_extract(ds, owner, r, &part[r], &global);
		for (uint32_t j = 0; err == FB_OK && local != NULL &&
				j < part[r]->n_users;
				j++) {
			local[global[j]] = j;
		}
		free(global);
	}
	return err;
}

void
audit_policy(struct node_policy *pol, uint64_t users, uint64_t seed, uint32_t r)
{
	node_policy_defaults(pol);
	pol->users = users;
	pol->min_noise_multiplier = 0;
	pol->max_dim = 4096;
	pol->report_eval = false;
	pol->threads = 1;
	pol->seed = audit_mix(seed + r);
}

void
audit_plan(struct fb_wire_plan *p, const struct fb_model *m,
		const struct fb_hparams *hp, const struct fb_dp_config *dpc)
{
	memset(p, 0, sizeof(*p));
	p->kind = FB_WIRE_PLAN_TRAIN;
	p->deadline_ms = 600000;
	struct fb_wire_round_config *c = &p->config;
	c->sampling_rate = 1;
	c->noise_multiplier = dpc->sigma;
	c->clip_norm = dpc->clip;
	c->delta = dpc->delta;
	c->local_steps = 1;
	c->update_dtype = FB_WIRE_DTYPE_F32;
	c->has_train_opts = true;
	c->hp = *hp;
	p->tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, m->n_items, m->dim, m->V.data};
	p->tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, m->n_bundles, m->dim, m->W.data};
	p->n_tensors = 2;
	if (m->n_attrs > 0) {
		p->tensors[2] = (struct fb_wire_tensor){
				FB_WIRE_TENSOR_ATTR_PROJ, FB_WIRE_DTYPE_F32, 0,
				m->n_attrs, m->dim, m->M.data};
		p->n_tensors = 3;
	}
}

bool
audit_same_matrix(const struct fb_matrix *a, const struct fb_matrix *b)
{
	return a->rows == b->rows && a->cols == b->cols &&
			(fb_matrix_len(a) == 0 ||
					memcmp(a->data, b->data,
							fb_matrix_len(a) *
									sizeof(float)) ==
							0);
}

bool
audit_same_rows_but(const struct fb_matrix *P, const struct fb_matrix *Q,
		uint32_t skip)
{
	if (P->rows != Q->rows || P->cols != Q->cols) {
		return false;
	}
	size_t row = P->cols * sizeof(float);
	size_t before = skip < P->rows ? skip : P->rows;
	if (before > 0 && memcmp(P->data, Q->data, before * row) != 0) {
		return false;
	}
	if (skip >= P->rows) {
		return true;
	}
	size_t after = P->rows - skip - 1;
	return after == 0 ||
			memcmp(fb_matrix_row(P, skip + 1),
					fb_matrix_row(Q, skip + 1),
					after * row) == 0;
}
