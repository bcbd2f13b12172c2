// tests/unit/test-catalog.c: the consortium's catalogue (catdir.h,
// idmap.h, csvimport.h's catalogue build and import --catalog): the .map
// parser's errors, a digest that follows the content (relations and
// original ids, not names or row order of users), the build's numbering,
// names and attributes, and an import whose ids are the catalogue's
// whatever order the retailer's rows come in, with unknown rows reported
// and, with strict, refused before anything is written.
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/catdir.h"
#include "fedbundle/data/csvimport.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/fsutil.h"
#include "fixture.h"
#include "harness.h"

static const char bundles_csv[] = "bundle_id,item_id\n"
				  "B1,I1\nB1,I2\nB2,I2\nB2,I3\n";
static const char items_csv[] =
		"item_id,name,attrs\n"
		"I1,Apple,red|fruit\nI4,\"Pear, green\",fruit\n";

static const char *
build(struct fb_csvimport_catalog_summary *sum)
{
	const char *dir = fixture_dir();
	struct fb_csvimport_catalog_options o = {
			.bundles_path = fixture_put(dir, "b.csv", bundles_csv),
			.items_path = fixture_put(dir, "i.csv", items_csv),
			.name = "Catalog"};
	char *out = fb_path_join(dir, "cat");
	static char keep[8][300];
	static int slot;
	char *p = keep[slot++ % 8];
	snprintf(p, sizeof(keep[0]), "%s", out);
	free(out);
	CHECK_OK(fb_csvimport_catalog(&o, p, sum));
	return p;
}

TEST(idmap_load_errors)
{
	const char *d = fixture_dir();
	struct fb_idmap m = {.what = "item"};
	CHECK_OK(fb_idmap_load(&m, fixture_put(d, "ok.map", "0\tA\n1\tB b\n")));
	CHECK(m.n == 2 && strcmp(fb_idmap_str(&m, 1), "B b") == 0);
	fb_idmap_finish(&m);
	CHECK_ERR(fb_idmap_load(&m, fixture_put(d, "gap.map", "0\tA\n2\tB\n")),
			FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "gap.map:2");
	CHECK_ERR(fb_idmap_load(&m, fixture_put(d, "dup.map", "0\tA\n1\tA\n")),
			FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "also dense id 0");
	CHECK_ERR(fb_idmap_load(&m, fixture_put(d, "empty.map", "0\t\n")),
			FB_EFORMAT);
	CHECK(m.n == 0);
}

TEST(build_numbering_names_attrs)
{
	struct fb_csvimport_catalog_summary s;
	const char *cat = build(&s);
	CHECK(s.n_bundles == 2 && s.n_items == 4 && s.n_attrs == 2);
	CHECK(s.named_items == 2 && s.n_item_attrs == 3);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_dataset_load(&ds, cat));
	CHECK(ds->n_users == 0 && ds->has_ids && ds->has_digest);
	CHECK(memcmp(ds->catalog_digest, s.digest, FB_HASH_LEN) == 0);
	struct fb_catdir_ids ids;
	CHECK_OK(fb_catdir_ids_load(&ids, ds, cat));
	// Bundles file first, then the items file: I4 is item 3.
	CHECK(strcmp(fb_idmap_str(&ids.items, 3), "I4") == 0);
	CHECK(strcmp(ids.item_names[3], "Pear, green") == 0);
	CHECK(ids.item_names[1] == NULL && ids.bundle_names == NULL);
	CHECK(fb_csr_has(&ds->ia, 0, 0) && fb_csr_has(&ds->ia, 3, 1));
	fb_catdir_ids_finish(&ids);
	fb_dataset_destroy(ds);
}

// The items file's price column: item_prices.txt, loaded as numbers
// (NAN where empty), not in the digest; a bad price names file:line.
TEST(build_prices)
{
	struct fb_csvimport_catalog_summary plain, s;
	const char *dir = fixture_dir();
	struct fb_csvimport_catalog_options o = {
			.bundles_path = fixture_put(dir, "b.csv", bundles_csv),
			.items_path = fixture_put(dir, "i.csv",
					"item_id,price\nI1,4.99\nI2,\nI3,12\n"),
			.name = "Catalog"};
	char *cat = fb_path_join(dir, "cat");
	CHECK_OK(fb_csvimport_catalog(&o, cat, &s));
	CHECK(s.priced_items == 2);
	// The same catalogue without prices has the same digest.
	o.items_path = fixture_put(dir, "np.csv", "item_id\nI1\nI2\nI3\n");
	char *cat2 = fb_path_join(dir, "cat2");
	CHECK_OK(fb_csvimport_catalog(&o, cat2, &plain));
	CHECK(plain.priced_items == 0);
	CHECK(memcmp(s.digest, plain.digest, FB_HASH_LEN) == 0);
	free(cat2);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_dataset_load(&ds, cat));
	struct fb_catdir_ids ids;
	CHECK_OK(fb_catdir_ids_load(&ids, ds, cat));
	CHECK(ids.item_prices != NULL && ids.item_prices[0] == 4.99);
	CHECK(isnan(ids.item_prices[1]) && ids.item_prices[2] == 12);
	fb_catdir_ids_finish(&ids);
	fb_dataset_destroy(ds);
	free(cat);
	o.items_path = fixture_put(dir, "bad.csv",
			"item_id,price\nI1,4.99\nI2,\"4,99\"\n");
	char *bad = fb_path_join(dir, "bad");
	CHECK_ERR(fb_csvimport_catalog(&o, bad, NULL), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT),
			"bad.csv:3: price '4,99' is not a non-negative decimal");
	free(bad);
}

// Item lists by original id with items.map, by dense id without.
TEST(parse_items)
{
	struct fb_csvimport_catalog_summary s;
	const char *cat = build(&s);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_dataset_load(&ds, cat));
	struct fb_catdir_ids ids;
	CHECK_OK(fb_catdir_ids_load(&ids, ds, cat));
	uint32_t it[4], n = 0;
	CHECK_OK(fb_catdir_parse_items(
			&ids, 4, "--items", " I4 ,I1\nI3", true, it, 4, &n));
	CHECK(n == 3 && it[0] == 3 && it[1] == 0 && it[2] == 2);
	CHECK_ERR(fb_catdir_parse_items(
				  &ids, 4, "--items", "I1,I9", true, it, 4, &n),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"--items: item 'I9' is not in the folder's items.map");
	CHECK_ERR(fb_catdir_parse_items(
				  &ids, 4, "--items", "1", true, it, 4, &n),
			FB_EINVAL);
	CHECK_ERR(fb_catdir_parse_items(
				  &ids, 4, "--items", "I1,I1", true, it, 4, &n),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "item 'I1' given twice");
	CHECK_OK(fb_catdir_parse_items(
			&ids, 4, "f", "I1,I1", false, it, 4, &n));
	CHECK(n == 2);
	CHECK_ERR(fb_catdir_parse_items(&ids, 4, "f", " , ", false, it, 4, &n),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "f: no item ids");
	struct fb_catdir_ids none;
	memset(&none, 0, sizeof(none));
	CHECK_OK(fb_catdir_parse_items(
			&none, 4, "--items", "3 1,0", true, it, 4, &n));
	CHECK(n == 3 && it[0] == 3 && it[1] == 1 && it[2] == 0);
	CHECK_ERR(fb_catdir_parse_items(
				  &none, 4, "--items", "4", true, it, 4, &n),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"item '4' is not a dense item id 0..3");
	fb_catdir_ids_finish(&ids);
	fb_dataset_destroy(ds);
}

TEST(digest_follows_content)
{
	struct fb_csvimport_catalog_summary a, b;
	const char *cat = build(&a);
	build(&b);
	CHECK(memcmp(a.digest, b.digest, FB_HASH_LEN) == 0);
	// Another original id for one item: another catalogue.
	char *path = fb_path_join(cat, "items.map");
	static const char other[] = "0\tI1\n1\tI2\n2\tI3\n3\tI5\n";
	CHECK_OK(fb_write_file_atomic(path, other, strlen(other), 0644));
	free(path);
	struct fb_dataset *ds = NULL;
	CHECK_ERR(fb_dataset_load(&ds, cat), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "catalog.txt records");
	path = fb_path_join(cat, FB_CATDIR_MANIFEST);
	CHECK(unlink(path) == 0);
	free(path);
	CHECK_OK(fb_dataset_load(&ds, cat));
	CHECK(memcmp(ds->catalog_digest, a.digest, FB_HASH_LEN) != 0);
	// Without the maps, the relations alone: a dataset built in memory
	// with the same relations has that digest.
	uint8_t d1[FB_HASH_LEN], d2[FB_HASH_LEN];
	fb_catdir_digest_of(ds, NULL, d1);
	ds->has_digest = false;
	fb_catdir_digest(ds, d2);
	CHECK(memcmp(d1, d2, FB_HASH_LEN) == 0);
	fb_dataset_destroy(ds);
}

TEST(import_onto_the_catalogue)
{
	struct fb_csvimport_catalog_summary s;
	const char *cat = build(&s);
	const char *d = fixture_dir();
	struct fb_csvimport_options o;
	fb_csvimport_options_init(&o);
	o.catalog_dir = cat;
	o.name = "r";
	o.split[0] = 1;
	o.split[1] = o.split[2] = 0;
	// B2 named first: its dense id is still the catalogue's 1.
	o.interactions_path = fixture_put(d, "ub.csv",
			"user_id,bundle_id\nu1,B2\nu1,B9\nu2,B1\n");
	o.user_items_path = fixture_put(
			d, "ui.csv", "user_id,item_id\nu2,I4\nu3,IX\n");
	char *out = fb_path_join(d, "out");
	struct fb_csvimport_summary sum;
	CHECK_OK(fb_csvimport_run(&o, out, &sum));
	CHECK(sum.interactions.rows == 3 && sum.interactions.unknown == 1);
	CHECK(sum.interactions.first_line[0] == 3);
	CHECK(strcmp(sum.interactions.first_id[0], "B9") == 0);
	CHECK(sum.user_items.unknown == 1 && sum.n_users == 3);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_dataset_load(&ds, out));
	CHECK(fb_csr_has(&ds->ub_train, 0, 1) &&
			fb_csr_has(&ds->ub_train, 1, 0));
	CHECK(fb_csr_has(&ds->ui, 1, 3) && ds->n_items == 4);
	CHECK(memcmp(ds->catalog_digest, s.digest, FB_HASH_LEN) == 0);
	struct fb_catdir_ids ids;
	CHECK_OK(fb_catdir_ids_load(&ids, ds, out));
	uint32_t u = 99;
	CHECK_OK(fb_catdir_user(&ids, out, "u2", &u));
	CHECK(u == 1);
	CHECK_ERR(fb_catdir_user(&ids, out, "zz", &u), FB_EINVAL);
	fb_catdir_ids_finish(&ids);
	fb_dataset_destroy(ds);
	free(out);

	o.strict = true;
	out = fb_path_join(d, "strict");
	CHECK_ERR(fb_csvimport_run(&o, out, &sum), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "ub.csv:3 'B9'");
	struct stat st;
	CHECK(stat(out, &st) != 0);
	free(out);
}

int
main(void)
{
	fixture_init("catalog");
	RUN(idmap_load_errors);
	RUN(build_numbering_names_attrs);
	RUN(build_prices);
	RUN(parse_items);
	RUN(digest_follows_content);
	RUN(import_onto_the_catalogue);
	fixture_finish();
	return harness_done();
}
