// tests/unit/test-datagen.c: the synthetic generator is deterministic
// (per seed, whatever the thread count), has the promised structure
// (Zipf-like popularity, bundle sizes, related bundle items, one attribute
// per group, a 70/10/20 per-user split with one pair in every split), and
// is learnable: an item-overlap scorer written here beats training
// popularity on test Recall@20 under the PROVENANCE.md protocol, and does
// not when the generator's taste is switched off (the negative control).
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/fsutil.h"
#include "harness.h"

static void
toy(struct fb_datagen_config *c, uint32_t users, uint32_t items,
		uint32_t bundles)
{
	fb_datagen_config_defaults(c);
	c->n_users = users;
	c->n_items = items;
	c->n_bundles = bundles;
}

static bool
csr_equal(const struct fb_csr *a, const struct fb_csr *b)
{
	if (a->n_rows != b->n_rows || a->n_cols != b->n_cols ||
			fb_csr_nnz(a) != fb_csr_nnz(b)) {
		return false;
	}
	return memcmp(a->row_ptr, b->row_ptr,
			       ((size_t)a->n_rows + 1) * sizeof(*a->row_ptr)) ==
			0 &&
			memcmp(a->col, b->col,
					fb_csr_nnz(a) * sizeof(*a->col)) == 0;
}

static bool
datasets_equal(const struct fb_dataset *a, const struct fb_dataset *b)
{
	return a->n_users == b->n_users && a->n_items == b->n_items &&
			a->n_bundles == b->n_bundles &&
			a->n_attrs == b->n_attrs &&
			strcmp(a->name, b->name) == 0 &&
			csr_equal(&a->ub_train, &b->ub_train) &&
			csr_equal(&a->ub_tune, &b->ub_tune) &&
			csr_equal(&a->ub_test, &b->ub_test) &&
			csr_equal(&a->ui, &b->ui) &&
			csr_equal(&a->bi, &b->bi) && csr_equal(&a->ia, &b->ia);
}

TEST(same_seed_same_data_any_thread_count)
{
	struct fb_datagen_config c;
	toy(&c, 5000, 2000, 300);
	c.threads = 1;
	struct fb_dataset *a = NULL, *b = NULL;
	uint32_t *ca = NULL, *cb = NULL;
	CHECK_OK(fb_datagen_run(&a, &c, &ca));
	c.threads = 3;
	CHECK_OK(fb_datagen_run(&b, &c, &cb));
	CHECK(datasets_equal(a, b));
	CHECK(memcmp(ca, cb, c.n_users * sizeof(*ca)) == 0);
	CHECK(fb_csr_nnz(&a->ui) > 0 && fb_csr_nnz(&a->ub_test) > 0);
	fb_dataset_destroy(a);
	fb_dataset_destroy(b);
	free(ca);
	free(cb);
}

TEST(different_seed_different_data)
{
	struct fb_datagen_config c;
	toy(&c, 500, 2000, 300);
	struct fb_dataset *a = NULL, *b = NULL;
	CHECK_OK(fb_datagen_run(&a, &c, NULL));
	c.seed = 2;
	CHECK_OK(fb_datagen_run(&b, &c, NULL));
	CHECK(!csr_equal(&a->ui, &b->ui));
	CHECK(!csr_equal(&a->bi, &b->bi));
	CHECK(!csr_equal(&a->ub_train, &b->ub_train));
	CHECK(!csr_equal(&a->ia, &b->ia));
	fb_dataset_destroy(a);
	fb_dataset_destroy(b);
}

// Share of the pairs of m that fall on the top 10% of its columns.
static double
top_decile_share(const struct fb_csr *m)
{
	uint64_t *cnt = calloc(m->n_cols, sizeof(*cnt));
	for (uint64_t k = 0; k < fb_csr_nnz(m); k++) {
		cnt[m->col[k]]++;
	}
	// Partial selection by repeated max is fine at test sizes.
	uint64_t top = 0;
	uint32_t n_top = m->n_cols / 10;
	for (uint32_t t = 0; t < n_top; t++) {
		uint32_t best = 0;
		for (uint32_t c = 1; c < m->n_cols; c++) {
			best = cnt[c] > cnt[best] ? c : best;
		}
		top += cnt[best];
		cnt[best] = 0;
	}
	free(cnt);
	return (double)top / (double)fb_csr_nnz(m);
}

TEST(popularity_is_heavy_tailed)
{
	struct fb_datagen_config c;
	toy(&c, 2000, 2000, 300);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	double ui = top_decile_share(&ds->ui), bi = top_decile_share(&ds->bi);
	printf("# top 10%% of items: %.3f of U-I, %.3f of B-I pairs\n", ui, bi);
	// Uniform popularity would give 0.1 (plus sampling noise).
	CHECK(ui > 0.5);
	CHECK(bi > 0.4);
	fb_dataset_destroy(ds);
	// The knob is what makes it: flat popularity gives a flat head.
	c.item_zipf = 0.0;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	double flat = top_decile_share(&ds->ui);
	printf("# with item zipf 0: %.3f\n", flat);
	CHECK(flat < 0.3);
	fb_dataset_destroy(ds);
}

TEST(bundles_have_sizes_and_related_items)
{
	struct fb_datagen_config c;
	toy(&c, 500, 8000, 600);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	uint32_t P = c.n_price_bands;
	uint32_t C = 16, R = 160; // auto: 8000 / 500 and 8000 / 50
	CHECK(ds->n_attrs == P + R + C);
	uint64_t total = 0;
	double share_sum = 0;
	uint32_t hist[16];
	for (uint32_t b = 0; b < ds->n_bundles; b++) {
		uint32_t n = fb_csr_row_len(&ds->bi, b);
		CHECK(n >= c.bundle_size_min && n <= c.bundle_size_max);
		total += n;
		memset(hist, 0, sizeof(hist));
		const uint32_t *row = fb_csr_row(&ds->bi, b);
		for (uint32_t e = 0; e < n; e++) {
			const uint32_t *a = fb_csr_row(&ds->ia, row[e]);
			hist[a[2] - P - R]++;
		}
		uint32_t top = 0;
		for (uint32_t j = 0; j < C; j++) {
			top = hist[j] > top ? hist[j] : top;
		}
		share_sum += (double)top / n;
	}
	double mean = (double)total / ds->n_bundles;
	double share = share_sum / ds->n_bundles;
	printf("# mean bundle size %.2f, mean share of the main category "
	       "%.3f\n",
			mean, share);
	CHECK_NEAR(mean, c.bundle_size_mean, 4.0);
	// Items drawn regardless of the bundle would put about 1/8 of a
	// 37-item bundle on its commonest of 16 categories.
	CHECK(share > 0.5);
	fb_dataset_destroy(ds);
	// The mean follows the configuration.
	c.bundle_size_mean = 12;
	c.bundle_size_min = 2;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	CHECK_NEAR((double)fb_csr_nnz(&ds->bi) / ds->n_bundles, 12.0, 1.5);
	fb_dataset_destroy(ds);
}

TEST(items_have_one_attribute_per_group)
{
	struct fb_datagen_config c;
	toy(&c, 300, 3000, 100);
	c.n_price_bands = 4;
	c.n_brands = 30;
	c.n_categories = 10;
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	CHECK(ds->n_attrs == 44);
	uint32_t used[44] = {0};
	for (uint32_t i = 0; i < ds->n_items; i++) {
		CHECK(fb_csr_row_len(&ds->ia, i) == 3);
		const uint32_t *a = fb_csr_row(&ds->ia, i);
		CHECK(a[0] < 4);
		CHECK(a[1] >= 4 && a[1] < 34);
		CHECK(a[2] >= 34 && a[2] < 44);
		used[a[0]]++;
		used[a[1]]++;
		used[a[2]]++;
	}
	for (uint32_t k = 0; k < 44; k++) {
		CHECK(used[k] > 0); // every value occurs at 3000 items
	}
	// Brands keep mostly to a category: brand b belongs to category
	// b mod 10, and 80% of items draw a brand of their own category.
	uint32_t loyal = 0;
	for (uint32_t i = 0; i < ds->n_items; i++) {
		const uint32_t *a = fb_csr_row(&ds->ia, i);
		loyal += (a[1] - 4) % 10 == a[2] - 34;
	}
	CHECK_NEAR((double)loyal / ds->n_items, 0.8 + 0.2 * 0.1, 0.03);
	fb_dataset_destroy(ds);
}

TEST(users_concentrate_on_their_categories)
{
	struct fb_datagen_config c;
	toy(&c, 2000, 8000, 300);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	uint32_t P = c.n_price_bands, R = 160, C = 16;
	uint64_t global[16] = {0};
	double share_sum = 0;
	uint32_t n_users = 0, hist[16];
	for (uint32_t u = 0; u < ds->n_users; u++) {
		uint32_t n = fb_csr_row_len(&ds->ui, u);
		const uint32_t *row = fb_csr_row(&ds->ui, u);
		memset(hist, 0, sizeof(hist));
		for (uint32_t e = 0; e < n; e++) {
			uint32_t j = fb_csr_row(&ds->ia, row[e])[2] - P - R;
			hist[j]++;
			global[j]++;
		}
		if (n < 10) {
			continue;
		}
		uint32_t top = 0;
		for (uint32_t j = 0; j < C; j++) {
			top = hist[j] > top ? hist[j] : top;
		}
		share_sum += (double)top / n;
		n_users++;
	}
	uint64_t gtop = 0;
	for (uint32_t j = 0; j < C; j++) {
		gtop = global[j] > gtop ? global[j] : gtop;
	}
	double user_share = share_sum / n_users;
	double global_share = (double)gtop / fb_csr_nnz(&ds->ui);
	printf("# top-category share: users %.3f, all pairs %.3f\n", user_share,
			global_share);
	CHECK(user_share > 2 * global_share);
	fb_dataset_destroy(ds);
}

TEST(split_follows_the_protocol)
{
	struct fb_datagen_config c;
	toy(&c, 4000, 4000, 800);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	const struct fb_csr *s[3] = {&ds->ub_train, &ds->ub_tune, &ds->ub_test};
	uint64_t n[3] = {fb_csr_nnz(s[0]), fb_csr_nnz(s[1]), fb_csr_nnz(s[2])};
	double all = (double)(n[0] + n[1] + n[2]);
	printf("# split %.3f / %.3f / %.3f of %.0f pairs\n", n[0] / all,
			n[1] / all, n[2] / all, all);
	CHECK_NEAR(n[0] / all, 0.7, 0.03);
	CHECK_NEAR(n[1] / all, 0.1, 0.02);
	CHECK_NEAR(n[2] / all, 0.2, 0.02);
	uint32_t active = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		uint32_t len[3], tot = 0;
		for (int k = 0; k < 3; k++) {
			len[k] = fb_csr_row_len(s[k], u);
			tot += len[k];
		}
		if (tot == 0) {
			continue;
		}
		active++;
		CHECK(tot >= c.ub_min);
		CHECK(len[0] >= 1 && len[1] >= 1 && len[2] >= 1);
		for (int k = 0; k < 3; k++) {
			const uint32_t *row = fb_csr_row(s[k], u);
			for (uint32_t e = 0; e < len[k]; e++) {
				for (int o = 0; o < 3; o++) {
					CHECK(o == k ||
							!fb_csr_has(s[o], u,
									row[e]));
				}
			}
		}
	}
	printf("# %u of %u users have U-B pairs, %.2f each\n", active,
			ds->n_users, all / active);
	CHECK_NEAR((double)active / ds->n_users, c.ub_user_frac, 0.03);
	CHECK_NEAR(all / active, c.ub_mean, 2.0);
	fb_dataset_destroy(ds);
}

// Test Recall@20 of a scorer by PROVENANCE.md: all bundles ranked, train
// positives masked, users without test pairs dropped, recall = hits /
// #positives, ties broken towards the lower bundle id.
enum scorer { POPULARITY, ITEM_OVERLAP };

static double
test_recall(const struct fb_dataset *ds, enum scorer how, uint32_t K)
{
	uint32_t B = ds->n_bundles;
	double *pop = calloc(B, sizeof(*pop));
	double *score = malloc(B * sizeof(*score));
	double *profile = calloc(ds->n_items, sizeof(*profile));
	for (uint64_t k = 0; k < fb_csr_nnz(&ds->ub_train); k++) {
		pop[ds->ub_train.col[k]] += 1;
	}
	double sum = 0;
	uint32_t n_users = 0;
	for (uint32_t u = 0; u < ds->n_users; u++) {
		uint32_t n_test = fb_csr_row_len(&ds->ub_test, u);
		if (n_test == 0) {
			continue;
		}
		const uint32_t *ui = fb_csr_row(&ds->ui, u);
		uint32_t n_ui = fb_csr_row_len(&ds->ui, u);
		const uint32_t *tr = fb_csr_row(&ds->ub_train, u);
		uint32_t n_tr = fb_csr_row_len(&ds->ub_train, u);
		if (how == ITEM_OVERLAP) {
			// The user's items: U-I and the items of training
			// bundles. A bundle scores its mean overlap with
			// them, times its popularity.
			for (uint32_t e = 0; e < n_ui; e++) {
				profile[ui[e]] += 1;
			}
			for (uint32_t e = 0; e < n_tr; e++) {
				const uint32_t *bi = fb_csr_row(&ds->bi, tr[e]);
				uint32_t n = fb_csr_row_len(&ds->bi, tr[e]);
				for (uint32_t f = 0; f < n; f++) {
					profile[bi[f]] += 1;
				}
			}
		}
		for (uint32_t b = 0; b < B; b++) {
			if (how == POPULARITY) {
				score[b] = pop[b];
				continue;
			}
			const uint32_t *bi = fb_csr_row(&ds->bi, b);
			uint32_t n = fb_csr_row_len(&ds->bi, b);
			double s = 0;
			for (uint32_t f = 0; f < n; f++) {
				s += profile[bi[f]];
			}
			score[b] = (s / n) * (pop[b] + 1);
		}
		if (how == ITEM_OVERLAP) {
			for (uint32_t e = 0; e < n_ui; e++) {
				profile[ui[e]] = 0;
			}
			for (uint32_t e = 0; e < n_tr; e++) {
				const uint32_t *bi = fb_csr_row(&ds->bi, tr[e]);
				uint32_t n = fb_csr_row_len(&ds->bi, tr[e]);
				for (uint32_t f = 0; f < n; f++) {
					profile[bi[f]] = 0;
				}
			}
		}
		for (uint32_t e = 0; e < n_tr; e++) {
			score[tr[e]] = -INFINITY;
		}
		const uint32_t *te = fb_csr_row(&ds->ub_test, u);
		uint32_t hits = 0;
		for (uint32_t e = 0; e < n_test; e++) {
			uint32_t ahead = 0;
			for (uint32_t b = 0; b < B && ahead < K; b++) {
				ahead += score[b] > score[te[e]] ||
						(score[b] == score[te[e]] &&
								b < te[e]);
			}
			hits += ahead < K;
		}
		sum += (double)hits / n_test;
		n_users++;
	}
	free(pop);
	free(score);
	free(profile);
	return sum / n_users;
}

TEST(personal_taste_beats_popularity)
{
	struct fb_datagen_config c;
	toy(&c, 3000, 3000, 400);
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	double pop = test_recall(ds, POPULARITY, 20);
	double knn = test_recall(ds, ITEM_OVERLAP, 20);
	printf("# test Recall@20: popularity %.4f, item overlap %.4f\n", pop,
			knn);
	CHECK(pop > 0.05);
	CHECK(knn > 1.25 * pop);
	CHECK(knn - pop > 0.05);
	fb_dataset_destroy(ds);
}

TEST(without_taste_popularity_is_as_good)
{
	// The negative control: users who ignore their taste leave nothing
	// personal to learn, and the same scorer then gains nothing.
	struct fb_datagen_config c;
	toy(&c, 3000, 3000, 400);
	c.taste = 0;
	c.fine_taste = 0;
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	double pop = test_recall(ds, POPULARITY, 20);
	double knn = test_recall(ds, ITEM_OVERLAP, 20);
	printf("# no taste: popularity %.4f, item overlap %.4f\n", pop, knn);
	CHECK(knn < 1.1 * pop);
	fb_dataset_destroy(ds);
}

TEST(presets_and_bad_configs)
{
	struct fb_datagen_config c;
	fb_datagen_config_defaults(&c);
	CHECK_OK(fb_datagen_apply_preset(&c, "large"));
	CHECK(c.n_users == 1000000 && c.n_items == 100000 &&
			c.n_bundles == 20000);
	CHECK_OK(fb_datagen_apply_preset(&c, "toy"));
	CHECK(c.n_users == 500);
	CHECK_ERR(fb_datagen_apply_preset(&c, "huge"), FB_EINVAL);
	CHECK(c.n_users == 500);

	struct fb_datagen_config b = c;
	CHECK_OK(fb_datagen_resolve(&b));
	CHECK(b.n_categories == 8 && b.n_brands == 40);

	b = c;
	b.tune_frac = 0.5;
	b.test_frac = 0.5;
	CHECK_ERR(fb_datagen_resolve(&b), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "tune + test");
	b = c;
	b.bundle_size_min = 200;
	CHECK_ERR(fb_datagen_resolve(&b), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "bundle size");
	b = c;
	b.n_items = 0;
	CHECK_ERR(fb_datagen_resolve(&b), FB_EINVAL);
	b = c;
	b.ub_user_frac = 1.5;
	CHECK_ERR(fb_datagen_resolve(&b), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "fraction of users");
	b = c;
	b.name = "a/b";
	CHECK_ERR(fb_datagen_resolve(&b), FB_EINVAL);
	// Caps: a bundle cannot hold more items than exist.
	b = c;
	b.n_items = 100;
	b.bundle_size_min = 5;
	CHECK_OK(fb_datagen_resolve(&b));
	CHECK(b.bundle_size_max == 100 && b.ui_max == 60);

	// Out-parameters are written only on success.
	struct fb_dataset sentinel;
	struct fb_dataset *ds = &sentinel;
	uint32_t *cl = (uint32_t *)&sentinel;
	b = c;
	b.dim = 0;
	CHECK_ERR(fb_datagen_run(&ds, &b, &cl), FB_EINVAL);
	CHECK(ds == &sentinel && cl == (uint32_t *)&sentinel);
}

// Removes a folder holding only files.
static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
				strcmp(e->d_name, "..") != 0) {
			char *p = fb_path_join(dir, e->d_name);
			if (p != NULL) {
				unlink(p);
			}
			free(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

static bool
same_file(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	bool same = fb_read_file(a, 1 << 26, &x, &nx) == FB_OK &&
			fb_read_file(b, 1 << 26, &y, &ny) == FB_OK &&
			nx == ny && memcmp(x, y, nx) == 0;
	free(x);
	free(y);
	return same;
}

TEST(saved_files_are_byte_identical_and_load)
{
	char a[] = "/tmp/fb-datagen-XXXXXX", b[] = "/tmp/fb-datagen-XXXXXX";
	CHECK(mkdtemp(a) != NULL);
	CHECK(mkdtemp(b) != NULL);
	struct fb_datagen_config c;
	toy(&c, 500, 2000, 300);
	struct fb_dataset *ds = NULL, *back = NULL;
	uint32_t *cl = NULL;
	for (int k = 0; k < 2; k++) {
		c.threads = k == 0 ? 1 : 2;
		CHECK_OK(fb_datagen_run(&ds, &c, &cl));
		CHECK_OK(fb_dataset_save(ds, k == 0 ? a : b));
		CHECK_OK(fb_datagen_write_clusters(
				k == 0 ? a : b, cl, ds->n_users));
		fb_dataset_destroy(ds);
		ds = NULL;
		free(cl);
		cl = NULL;
	}
	static const char *const files[] = {"Synth_data_size.txt",
			"user_bundle_train.txt", "user_bundle_tune.txt",
			"user_bundle_test.txt", "user_item.txt",
			"bundle_item.txt", "item_attr.txt", "user_cluster.txt"};
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		char *pa = fb_path_join(a, files[k]);
		char *pb = fb_path_join(b, files[k]);
		bool same = same_file(pa, pb);
		free(pa);
		free(pb);
		if (!same) {
			HARNESS_FAIL("%s differs between two runs", files[k]);
		}
	}
	CHECK_OK(fb_datagen_run(&ds, &c, NULL));
	CHECK_OK(fb_dataset_load(&back, a));
	CHECK(datasets_equal(ds, back));
	fb_dataset_destroy(ds);
	fb_dataset_destroy(back);
	remove_dir(a);
	remove_dir(b);
}

int
main(void)
{
	RUN(same_seed_same_data_any_thread_count);
	RUN(different_seed_different_data);
	RUN(popularity_is_heavy_tailed);
	RUN(bundles_have_sizes_and_related_items);
	RUN(items_have_one_attribute_per_group);
	RUN(users_concentrate_on_their_categories);
	RUN(split_follows_the_protocol);
	RUN(personal_taste_beats_popularity);
	RUN(without_taste_popularity_is_as_good);
	RUN(presets_and_bad_configs);
	RUN(saved_files_are_byte_identical_and_load);
	return harness_done();
}
