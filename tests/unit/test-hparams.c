// tests/unit/test-hparams.c: the shared training hyper-parameters
// (include/fedbundle/model/hparams.h). One check with the schema's ranges and
// the rules across keys, naming the key; and the release layout, from
// which the client's trainer and the aggregator both derive what a round
// trains: for every combination of dim, bias, train_items, attributes and
// bundle_rank, what a client's trainer changes is exactly what the
// aggregator keeps (its mask) and counts (its client-level dimension).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/model/hparams.h"
#include "fedbundle/model/train.h"
#include "fedbundle/util/rng.h"
#include "harness.h"

TEST(defaults_pass_and_each_rule_names_its_key)
{
	struct fb_hparams hp;
	fb_hparams_defaults(&hp);
	CHECK_OK(fb_hparams_check(&hp, ""));
	hp.dim = 8;
	hp.bundle_rank = 64;
	CHECK_ERR(fb_hparams_check(&hp, "s.json: round."), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"s.json: round.bundle_rank: 64 is more than dim (8)");
	hp.bundle_rank = 8; // equal to dim: all, allowed
	CHECK_OK(fb_hparams_check(&hp, ""));
	hp.dim = 1;
	hp.bundle_rank = 0;
	hp.bias = true;
	CHECK_ERR(fb_hparams_check(&hp, ""), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "dim: must be at least 2");
}

// The schema's ranges hold whatever filled the struct (a decoded PLAN, a
// struct set in code), with the key named.
TEST(ranges_come_from_the_schema)
{
	struct fb_hparams hp;
	fb_hparams_defaults(&hp);
	hp.dim = 0;
	CHECK_ERR(fb_hparams_check(&hp, ""), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "dim: 0 outside 1..4096");
	fb_hparams_defaults(&hp);
	hp.negatives = 65;
	CHECK_ERR(fb_hparams_check(&hp, ""), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "negatives: 65 outside");
	fb_hparams_defaults(&hp);
	hp.lr = NAN;
	CHECK_ERR(fb_hparams_check(&hp, ""), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "lr: nan outside");
	fb_hparams_defaults(&hp);
	hp.optimizer = (enum fb_optimizer)2;
	CHECK_ERR(fb_hparams_check(&hp, ""), FB_EINVAL);
	CHECK_STR_CONTAINS(
			fb_last_error(FB_EINVAL), "optimizer: 2 is not 0 to 1");
	// Every key of the schema has a help line and a range check.
	size_t n;
	const struct fb_cfg_field *f = fb_hparams_fields(&n);
	CHECK(n == 15);
	for (size_t k = 0; k < n; k++) {
		CHECK(f[k].help != NULL && f[k].help[0] != '\0');
	}
}

static struct fb_dataset *
dataset(void)
{
	struct fb_datagen_config g;
	fb_datagen_config_defaults(&g);
	g.seed = 3;
	g.n_users = 60;
	g.n_items = 80;
	g.n_bundles = 30;
	g.threads = 1;
	struct fb_dataset *ds = NULL;
	return fb_datagen_run(&ds, &g, NULL) == FB_OK ? ds : NULL;
}

static void
sub_into(struct fb_matrix *d, const struct fb_matrix *m)
{
	for (size_t k = 0; k < fb_matrix_len(d); k++) {
		d->data[k] -= m->data[k];
	}
}

// One non-private SGD step of a client with hp on a random model: the
// model's change in *delta (allocated like model).
static fb_err
client_step(const struct fb_dataset *ds, const struct fb_hparams *hp,
		struct fb_model *delta)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp = *hp;
	uint32_t n_attrs = hp->use_attrs ? ds->n_attrs : 0;
	struct fb_model m = {0};
	struct fb_matrix P = {0};
	struct fb_rep_grad g = {0};
	struct fb_trainer *t = NULL;
	fb_err err = fb_model_init(
			&m, ds->n_items, ds->n_bundles, n_attrs, hp->dim);
	err = err ? err : fb_matrix_init(&P, ds->n_users, hp->dim);
	err = err ? err
		  : fb_model_init(delta, ds->n_items, ds->n_bundles, n_attrs,
				    hp->dim);
	if (err != FB_OK) {
		goto out;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, 11, hp->dim);
	fb_matrix_randn(&m.V, &rng, 0.3f);
	fb_matrix_randn(&m.W, &rng, 0.3f);
	fb_matrix_randn(&m.M, &rng, 0.3f);
	fb_matrix_randn(&P, &rng, 0.3f);
	fb_train_init_bias(&cfg, &m, &P);
	err = fb_model_copy(delta, &m);
	uint32_t users[60];
	if (err != FB_OK) {
		goto out;
	}
	for (uint32_t u = 0; u < ds->n_users && u < 60; u++) {
		users[u] = u;
	}
	err = fb_trainer_create(&t, ds, &m, &P, &cfg);
	err = err ? err : fb_rep_grad_init(&g, &m);
	err = err ? err
		  : fb_trainer_batch_gradient(
				    t, users, ds->n_users, 1.0, 1, &g, NULL);
	err = err ? err : fb_trainer_apply(t, &g);
	if (err == FB_OK) {
		// delta = before - after
		sub_into(&delta->V, &m.V);
		sub_into(&delta->W, &m.W);
		sub_into(&delta->M, &m.M);
	}
out:
	fb_trainer_destroy(t);
	fb_rep_grad_finish(&g);
	fb_matrix_finish(&P);
	fb_model_finish(&m);
	return err;
}

static bool
all_zero(const struct fb_matrix *m)
{
	for (size_t k = 0; k < fb_matrix_len(m); k++) {
		if (m->data[k] != 0.0f) {
			return false;
		}
	}
	return true;
}

// Whether column j of W changed in some row.
static bool
column_moved(const struct fb_matrix *w, size_t j)
{
	for (size_t r = 0; r < w->rows; r++) {
		if (fb_matrix_row(w, r)[j] != 0.0f) {
			return true;
		}
	}
	return false;
}

// The client's trained coordinates (what its trainer changes) against the
// aggregator's (server/round.c: fb_release_mask_bundles and
// fb_release_model_len of the same layout, summed by agg_central).
TEST(client_and_aggregator_agree_on_the_trained_coordinates)
{
	struct fb_dataset *ds = dataset();
	CHECK(ds != NULL && ds->n_attrs > 0);
	if (ds == NULL) {
		return;
	}
	unsigned combos = 0;
	const uint32_t dims[] = {2, 3, 6};
	for (size_t di = 0; di < 3; di++) {
		for (int bits = 0; bits < 8; bits++) {
			for (uint32_t rank = 0; rank <= dims[di]; rank++) {
				struct fb_hparams hp;
				fb_hparams_defaults(&hp);
				hp.dim = dims[di];
				hp.bias = bits & 1;
				hp.train_items = bits & 2;
				hp.use_attrs = bits & 4;
				hp.bundle_rank = rank;
				hp.optimizer = FB_OPT_SGD;
				hp.lr = 0.5;
				hp.l2 = 0; // a decay moves untrained values too
				hp.batch_users = 64;
				CHECK_OK(fb_hparams_check(&hp, ""));
				struct fb_model d = {0};
				CHECK_OK(client_step(ds, &hp, &d));
				struct fb_release_layout L;
				fb_hparams_release_layout(&hp, ds->n_items,
						ds->n_bundles, &L);
				// The aggregator's mask keeps everything the
				// client changed...
				struct fb_model kept = {0};
				CHECK_OK(fb_model_init(&kept, d.n_items,
						d.n_bundles, d.n_attrs, d.dim));
				CHECK_OK(fb_model_copy(&kept, &d));
				fb_release_mask_bundles(
						&L, kept.W.data, kept.W.rows);
				CHECK(memcmp(kept.W.data, d.W.data,
						      fb_matrix_len(&d.W) *
								      4) == 0);
				CHECK(L.items ||
						(all_zero(&d.V) &&
								all_zero(&d.M)));
				// ... and the client trains all it keeps.
				size_t moved = 0;
				for (size_t j = 0; j < hp.dim; j++) {
					bool in = j < L.lead ||
							(L.last && j == hp.dim - 1);
					CHECK(column_moved(&d.W, j) == in);
					moved += in;
				}
				CHECK(moved == L.per_bundle);
				if (L.items) {
					CHECK(!all_zero(&d.V));
					CHECK(d.n_attrs == 0 ||
							!all_zero(&d.M));
				}
				// The aggregator's client-level dimension and the
				// user-level release length count the same set.
				size_t n = (size_t)d.n_bundles * moved +
						(L.items ? fb_matrix_len(&d.V) + fb_matrix_len(&d.M)
							 : 0);
				CHECK(fb_release_model_len(&L, d.n_attrs) == n);
				CHECK(L.len ==
						(size_t)d.n_bundles * moved +
								(L.items ? fb_matrix_len(&d.V)
									 : 0));
				fb_model_finish(&kept);
				fb_model_finish(&d);
				combos++;
			}
		}
	}
	CHECK(combos == 8 * (3 + 4 + 7));
	fb_dataset_destroy(ds);
}

int
main(void)
{
	RUN(defaults_pass_and_each_rule_names_its_key);
	RUN(ranges_come_from_the_schema);
	RUN(client_and_aggregator_agree_on_the_trained_coordinates);
	return harness_done();
}
