// tests/unit/test-catver.c: a new catalogue version adopted at a round
// boundary (server/catver.c, server/checkpoint.c, agg_fed_init). The row
// map by original id; a federation checkpointed on catalogue v1 and set
// up again on v2 (items, bundles and attributes added and retired, dense
// ids shifted): kept rows and their FedAdam moments are the checkpoint's
// bit for bit, new rows are what a fresh federation on v2 starts from
// (the public initialisation) with zero moments, the rounds and steps
// carry over, the checkpoint is rewritten on v2 and v1's stored maps are
// removed; a restart on v2 changes nothing; a catalogue without original
// ids is refused naming both digests.
#include <unistd.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/csvimport.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "fixture.h"
#include "harness.h"
#include "server/checkpoint.h"
#include "server/config.h"
#include "server/round.h"

// Builds the catalogue folder ROOT/name from the two CSV texts.
static const char *
build(const char *name, const char *bundles, const char *items)
{
	char b[64], i[64];
	snprintf(b, sizeof(b), "%s-b.csv", name);
	snprintf(i, sizeof(i), "%s-i.csv", name);
	const char *root = fixture_root();
	struct fb_csvimport_catalog_options o = {
			.bundles_path = fixture_put(root, b, bundles),
			.items_path = fixture_put(root, i, items),
			.name = "Catalog"};
	const char *out = fixture_path(root, name);
	CHECK_OK(fb_csvimport_catalog(&o, out, NULL));
	return out;
}

TEST(rows_map_and_copy)
{
	struct fb_idmap old = {.what = "item"}, cur = {.what = "item"};
	const char *o[] = {"A", "B", "C", "D"}, *c[] = {"C", "E", "A"};
	uint32_t id;
	for (int k = 0; k < 4; k++) {
		CHECK_OK(fb_idmap_intern(&old, o[k], 1, &id));
	}
	for (int k = 0; k < 3; k++) {
		CHECK_OK(fb_idmap_intern(&cur, c[k], 1, &id));
	}
	struct agg_catver_rows r = {0};
	CHECK_OK(agg_catver_rows_map(&r, &old, &cur));
	CHECK(r.n_old == 4 && r.n_new == 3);
	CHECK(r.kept == 2 && r.added == 1 && r.retired == 2);
	CHECK(r.from[0] == 2 && r.from[1] == AGG_CATVER_NEW && r.from[2] == 0);
	float sd[8] = {0, 1, 10, 11, 20, 21, 30, 31};
	float dd[6] = {-1, -1, -1, -1, -1, -1};
	struct fb_matrix src = {4, 2, sd}, dst = {3, 2, dd};
	agg_catver_copy_rows(&dst, &src, &r);
	CHECK(dd[0] == 20 && dd[1] == 21 && dd[2] == -1 && dd[3] == -1);
	CHECK(dd[4] == 0 && dd[5] == 1);
	free(r.from);
	fb_idmap_finish(&old);
	fb_idmap_finish(&cur);
}

// v1: bundles B1..B3, items I1..I4, attributes red, green, sweet.
static const char v1_bundles[] = "bundle_id,item_id\n"
				 "B1,I1\nB1,I2\nB2,I2\nB2,I3\nB3,I3\nB3,I4\n";
static const char v1_items[] = "item_id,attrs\n"
			       "I1,red\nI2,green|sweet\nI3,red\nI4,sweet\n";
// v2: B1 and I1 and red retired; B4, B5, I5, I6 and sour added; every
// dense id shifted.
static const char v2_bundles[] = "bundle_id,item_id\n"
				 "B4,I5\nB4,I2\nB2,I2\nB2,I3\nB3,I3\nB3,I4\n"
				 "B5,I6\nB5,I4\n";
static const char v2_items[] = "item_id,attrs\n"
			       "I2,green|sweet\nI3,sour\nI4,sweet\nI5,sour\n"
			       "I6,green\n";

static struct fb_roster *
roster2(void)
{
	struct fb_roster *r = NULL;
	CHECK_OK(fb_roster_create(&r));
	for (int c = 0; c < 2; c++) {
		uint8_t pk[FB_ID_PK_LEN];
		memset(pk, c + 1, sizeof(pk));
		char name[16];
		snprintf(name, sizeof(name), "retailer-%d", c);
		CHECK_OK(fb_roster_add(r, pk, name));
	}
	return r;
}

static void
config(struct agg_config *cfg, const char *catalog, const char *ckpt)
{
	agg_config_defaults(cfg);
	snprintf(cfg->catalog, sizeof(cfg->catalog), "%s", catalog);
	snprintf(cfg->checkpoint_dir, sizeof(cfg->checkpoint_dir), "%s", ckpt);
	cfg->rounds = 10;
	cfg->quorum = 1;
	cfg->public_init = true;
	cfg->server_optimizer = AGG_OPT_FEDADAM;
	cfg->round.granularity = FB_WIRE_GRAN_NONE;
	cfg->round.hp.dim = 4;
	cfg->round.hp.use_attrs = true;
}

// Distinct values everywhere: base + 100 row + column.
static void
fill(struct fb_matrix *m, float base)
{
	for (size_t r = 0; r < m->rows; r++) {
		for (size_t c = 0; c < m->cols; c++) {
			fb_matrix_row(m, r)[c] =
					base + 100.0f * (float)r + (float)c;
		}
	}
}

static bool
row_is(const struct fb_matrix *m, size_t r, const float *want)
{
	return memcmp(fb_matrix_row(m, r), want, m->cols * sizeof(float)) == 0;
}

static bool
row_zero(const struct fb_matrix *m, size_t r)
{
	for (size_t c = 0; c < m->cols; c++) {
		if (fb_matrix_row(m, r)[c] != 0) {
			return false;
		}
	}
	return true;
}

// For every row of new (catalogue ids n) the saved row of old (ids o) of
// the same original id, else the row of fresh; moments likewise, else 0.
static void
check_kind(const struct fb_matrix *got, const struct fb_matrix *saved,
		const struct fb_matrix *fresh, const struct fb_matrix *mom,
		const struct fb_matrix *saved_mom, const struct fb_idmap *o,
		const struct fb_idmap *n, uint32_t *kept)
{
	CHECK(got->rows == n->n);
	for (uint32_t k = 0; k < n->n; k++) {
		const char *s = fb_idmap_str(n, k);
		uint32_t j;
		if (fb_idmap_find(o, s, strlen(s), &j)) {
			CHECK(row_is(got, k, fb_matrix_row(saved, j)));
			CHECK(row_is(mom, k, fb_matrix_row(saved_mom, j)));
			(*kept)++;
		} else {
			CHECK(row_is(got, k, fb_matrix_row(fresh, k)));
			CHECK(row_zero(mom, k));
		}
	}
}

TEST(adopt_new_version)
{
	const char *v1 = build("v1", v1_bundles, v1_items);
	const char *v2 = build("v2", v2_bundles, v2_items);
	const char *ckpt = fixture_path(fixture_root(), "ckpt");
	struct fb_dataset *ds1 = NULL, *ds2 = NULL, *dense = NULL;
	CHECK_OK(fb_dataset_load(&ds1, v1));
	CHECK_OK(fb_dataset_load(&ds2, v2));
	struct fb_catdir_ids id1, id2;
	CHECK_OK(fb_catdir_ids_load(&id1, ds1, v1));
	CHECK_OK(fb_catdir_ids_load(&id2, ds2, v2));
	struct fb_roster *roster = roster2();
	struct agg_config c1, c2, cr;
	config(&c1, v1, ckpt);
	config(&c2, v2, ckpt);
	config(&cr, v2, fixture_path(fixture_root(), "fresh"));

	// v1: a federation that "trained" 2 rounds and 3 FedAdam steps.
	struct agg_fed f1, f2, ref, f3;
	CHECK_OK(agg_fed_init(&f1, &c1, ds1, roster, 0));
	CHECK(!f1.catver.changed && f1.model.n_attrs == 3);
	struct fb_model *m = &f1.model;
	fill(&m->V, 1000), fill(&m->W, 2000), fill(&m->M, 3000);
	fill(&f1.opt.m.V, 4000), fill(&f1.opt.m.W, 5000);
	fill(&f1.opt.m.M, 6000), fill(&f1.opt.v.V, 7000);
	fill(&f1.opt.v.W, 8000), fill(&f1.opt.v.M, 9000);
	f1.opt.t = 3;
	f1.last_committed = f1.last_planned = 2;
	CHECK_OK(agg_checkpoint_save(&f1));
	char hex1[FB_CATDIR_HEX_LEN + 1], hex2[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(ds1->catalog_digest, hex1);
	fb_hash_hex(ds2->catalog_digest, hex2);
	char stored1[400], stored2[400];
	snprintf(stored1, sizeof(stored1), "%s/catalog-%s/items.map", ckpt,
			hex1);
	snprintf(stored2, sizeof(stored2), "%s/catalog-%s/items.map", ckpt,
			hex2);
	CHECK(access(stored1, F_OK) == 0);

	// What a fresh federation on v2 starts from.
	CHECK_OK(agg_fed_init(&ref, &cr, ds2, roster, 0));
	CHECK(!ref.resumed);

	// v2 over v1's checkpoint.
	CHECK_OK(agg_fed_init(&f2, &c2, ds2, roster, 0));
	const struct agg_catver *cv = &f2.catver;
	CHECK(f2.resumed && cv->changed);
	CHECK(memcmp(cv->old_digest, ds1->catalog_digest, FB_HASH_LEN) == 0);
	CHECK(memcmp(cv->new_digest, ds2->catalog_digest, FB_HASH_LEN) == 0);
	const struct agg_catver_rows *ri = &cv->rows[AGG_CV_ITEMS],
				     *rb = &cv->rows[AGG_CV_BUNDLES],
				     *ra = &cv->rows[AGG_CV_ATTRS];
	CHECK(ri->kept == 3 && ri->added == 2 && ri->retired == 1);
	CHECK(rb->kept == 2 && rb->added == 2 && rb->retired == 1);
	CHECK(ra->kept == 2 && ra->added == 1 && ra->retired == 1);
	uint32_t kept = 0;
	check_kind(&f2.model.V, &m->V, &ref.model.V, &f2.opt.m.V, &f1.opt.m.V,
			&id1.items, &id2.items, &kept);
	check_kind(&f2.model.V, &m->V, &ref.model.V, &f2.opt.v.V, &f1.opt.v.V,
			&id1.items, &id2.items, &kept);
	check_kind(&f2.model.W, &m->W, &ref.model.W, &f2.opt.m.W, &f1.opt.m.W,
			&id1.bundles, &id2.bundles, &kept);
	check_kind(&f2.model.W, &m->W, &ref.model.W, &f2.opt.v.W, &f1.opt.v.W,
			&id1.bundles, &id2.bundles, &kept);
	check_kind(&f2.model.M, &m->M, &ref.model.M, &f2.opt.m.M, &f1.opt.m.M,
			&id1.attrs, &id2.attrs, &kept);
	check_kind(&f2.model.M, &m->M, &ref.model.M, &f2.opt.v.M, &f1.opt.v.M,
			&id1.attrs, &id2.attrs, &kept);
	CHECK(kept == 2 * (3 + 2 + 2));
	CHECK(f2.opt.t == 3 && f2.last_committed == 2);
	// Adopted once: the checkpoint is of v2, v1's maps are gone.
	CHECK(access(stored1, F_OK) != 0 && access(stored2, F_OK) == 0);

	// A restart on v2: no change, the same model.
	CHECK_OK(agg_fed_init(&f3, &c2, ds2, roster, 0));
	CHECK(f3.resumed && !f3.catver.changed);
	CHECK(memcmp(f3.model.V.data, f2.model.V.data,
			      fb_matrix_len(&f2.model.V) * sizeof(float)) == 0);
	CHECK(memcmp(f3.model.W.data, f2.model.W.data,
			      fb_matrix_len(&f2.model.W) * sizeof(float)) == 0);
	agg_fed_finish(&f3);

	// The same catalogue without original ids cannot be adopted.
	const char *dd = fixture_path(fixture_root(), "dense");
	CHECK_OK(fb_dataset_save(ds2, dd));
	CHECK_OK(fb_dataset_load(&dense, dd));
	struct agg_config cd;
	config(&cd, dd, ckpt);
	char hexd[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(dense->catalog_digest, hexd);
	CHECK(strcmp(hexd, hex2) != 0);
	CHECK_ERR(agg_fed_init(&f3, &cd, dense, roster, 0), FB_EINVAL);
	const char *why = fb_last_error(FB_EINVAL);
	CHECK_STR_CONTAINS(why, hex2);
	CHECK_STR_CONTAINS(why, hexd);
	CHECK_STR_CONTAINS(why, "no original ids");

	agg_fed_finish(&f1);
	agg_fed_finish(&f2);
	agg_fed_finish(&ref);
	fb_roster_destroy(roster);
	fb_catdir_ids_finish(&id1);
	fb_catdir_ids_finish(&id2);
	fb_dataset_destroy(ds1);
	fb_dataset_destroy(ds2);
	fb_dataset_destroy(dense);
}

int
main(void)
{
	fb_log_set_level(FB_LOG_ERROR);
	fixture_init("catver");
	RUN(rows_map_and_copy);
	RUN(adopt_new_version);
	fixture_finish();
	return harness_done();
}
