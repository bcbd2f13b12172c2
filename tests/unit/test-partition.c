// tests/unit/test-partition.c: the partitioner puts every user in exactly
// one non-empty retailer, balances IID splits, skews Dirichlet splits more
// as alpha shrinks (measured as the total-variation distance between each
// retailer's cluster mix and the population's), recovers the generator's
// clusters with k-means when it must compute them, and writes folders that
// load and, mapped back through users.map, give back exactly the input.
// Youshu (FB_DATA_ROOT) is partitioned too when present.
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/data/partition.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fixture.h"
#include "harness.h"

static struct fb_dataset *
generate(uint32_t users, uint32_t items, uint32_t categories,
		uint32_t **cluster)
{
	struct fb_datagen_config c;
	fb_datagen_config_defaults(&c);
	c.n_users = users;
	c.n_items = items;
	c.n_bundles = 400;
	c.n_categories = categories;
	struct fb_dataset *ds = NULL;
	if (fb_datagen_run(&ds, &c, cluster) != FB_OK) {
		return NULL;
	}
	return ds;
}

// Mean over retailers, weighted by size, of the total-variation distance
// between the retailer's cluster distribution and the population's.
static double
skew(const uint32_t *owner, const uint32_t *cluster, uint32_t U, uint32_t K,
		uint32_t G)
{
	double *h = calloc((size_t)K * G, sizeof(*h));
	double *all = calloc(G, sizeof(*all));
	double *size = calloc(K, sizeof(*size));
	for (uint32_t u = 0; u < U; u++) {
		h[(size_t)owner[u] * G + cluster[u]] += 1;
		all[cluster[u]] += 1;
		size[owner[u]] += 1;
	}
	double s = 0;
	for (uint32_t k = 0; k < K; k++) {
		double tv = 0;
		for (uint32_t g = 0; g < G; g++) {
			tv += fabs(h[(size_t)k * G + g] / size[k] - all[g] / U);
		}
		s += 0.5 * tv * size[k];
	}
	free(h);
	free(all);
	free(size);
	return s / U;
}

static void
sizes(const uint32_t *owner, uint32_t U, uint32_t K, uint32_t *size)
{
	memset(size, 0, K * sizeof(*size));
	for (uint32_t u = 0; u < U; u++) {
		size[owner[u]]++;
	}
}

TEST(iid_is_balanced)
{
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = 7;
	uint32_t U = 1003, owner[1003], size[7];
	CHECK_OK(fb_partition_assign(U, NULL, 0, &cfg, owner));
	sizes(owner, U, 7, size);
	for (uint32_t k = 0; k < 7; k++) {
		// 1003 = 7 * 143 + 2: sizes 143 or 144.
		CHECK(size[k] == 143 || size[k] == 144);
	}
	// Random, not blocks: the first 100 users land on several retailers.
	uint32_t first[7] = {0};
	for (uint32_t u = 0; u < 100; u++) {
		first[owner[u]]++;
	}
	for (uint32_t k = 0; k < 7; k++) {
		CHECK(first[k] > 3 && first[k] < 30);
	}
}

TEST(dirichlet_skew_grows_as_alpha_shrinks)
{
	uint32_t *cluster = NULL;
	struct fb_dataset *ds = generate(4000, 3000, 0, &cluster);
	CHECK(ds != NULL);
	uint32_t U = ds->n_users, K = 4, G = 16;
	uint32_t *owner = malloc(U * sizeof(*owner));
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = K;
	CHECK_OK(fb_partition_assign(U, NULL, 0, &cfg, owner));
	double iid = skew(owner, cluster, U, K, G);
	cfg.mode = FB_PARTITION_DIRICHLET;
	const double alphas[] = {100, 1, 0.1};
	double tv[3];
	for (int k = 0; k < 3; k++) {
		cfg.alpha = alphas[k];
		CHECK_OK(fb_partition_assign(U, cluster, G, &cfg, owner));
		tv[k] = skew(owner, cluster, U, K, G);
		uint32_t size[4];
		sizes(owner, U, K, size);
		for (uint32_t j = 0; j < K; j++) {
			CHECK(size[j] > 0);
		}
	}
	printf("# cluster-mix TV distance: iid %.3f, alpha 100 %.3f, "
	       "1 %.3f, 0.1 %.3f\n",
			iid, tv[0], tv[1], tv[2]);
	// Sampling noise alone (1000 users per retailer, 16 clusters) is
	// about 0.05; with alpha 0.1 most clusters sit in one retailer.
	CHECK(iid < 0.1);
	CHECK(tv[0] < 0.1);
	CHECK(tv[1] > 2 * tv[0]);
	CHECK(tv[2] > tv[1]);
	CHECK(tv[2] > 0.5);
	free(owner);
	free(cluster);
	fb_dataset_destroy(ds);
}

TEST(assign_is_deterministic_per_seed)
{
	uint32_t U = 2000, G = 10;
	uint32_t *cluster = malloc(U * sizeof(*cluster));
	uint32_t *a = malloc(U * sizeof(*a)), *b = malloc(U * sizeof(*b));
	for (uint32_t u = 0; u < U; u++) {
		cluster[u] = (u * 7) % G;
	}
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = 5;
	cfg.mode = FB_PARTITION_DIRICHLET;
	cfg.alpha = 0.5;
	CHECK_OK(fb_partition_assign(U, cluster, G, &cfg, a));
	CHECK_OK(fb_partition_assign(U, cluster, G, &cfg, b));
	CHECK(memcmp(a, b, U * sizeof(*a)) == 0);
	cfg.seed = 2;
	CHECK_OK(fb_partition_assign(U, cluster, G, &cfg, b));
	CHECK(memcmp(a, b, U * sizeof(*a)) != 0);
	free(cluster);
	free(a);
	free(b);
}

TEST(no_retailer_is_empty)
{
	// As many retailers as users with a tiny alpha: the Dirichlet cut
	// leaves most retailers empty and the repair must fill them all.
	uint32_t U = 12, owner[12], cluster[12], size[12];
	for (uint32_t u = 0; u < U; u++) {
		cluster[u] = u % 3;
	}
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = 12;
	cfg.mode = FB_PARTITION_DIRICHLET;
	cfg.alpha = 0.01;
	CHECK_OK(fb_partition_assign(U, cluster, 3, &cfg, owner));
	sizes(owner, U, 12, size);
	for (uint32_t k = 0; k < 12; k++) {
		CHECK(size[k] == 1);
	}
	cfg.n_retailers = 13;
	CHECK_ERR(fb_partition_assign(U, cluster, 3, &cfg, owner), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "13 not in [1, 12]");
	cfg.n_retailers = 0;
	CHECK_ERR(fb_partition_assign(U, cluster, 3, &cfg, owner), FB_EINVAL);
	cfg.n_retailers = 3;
	cfg.alpha = 0;
	CHECK_ERR(fb_partition_assign(U, cluster, 3, &cfg, owner), FB_EINVAL);
	cfg.alpha = 1;
	cluster[5] = 3;
	CHECK_ERR(fb_partition_assign(U, cluster, 3, &cfg, owner), FB_EINVAL);
}

// Fraction of users whose k-means cluster's majority true cluster is
// their own true cluster.
static double
purity(const uint32_t *found, const uint32_t *truth, uint32_t U, uint32_t G)
{
	uint32_t *t = calloc((size_t)G * G, sizeof(*t));
	for (uint32_t u = 0; u < U; u++) {
		t[(size_t)found[u] * G + truth[u]]++;
	}
	uint64_t agree = 0;
	for (uint32_t f = 0; f < G; f++) {
		uint32_t best = 0;
		for (uint32_t g = 0; g < G; g++) {
			best = t[(size_t)f * G + g] > best
					? t[(size_t)f * G + g]
					: best;
		}
		agree += best;
	}
	free(t);
	return (double)agree / U;
}

TEST(kmeans_recovers_taste_clusters)
{
	// 64 categories for 16 clusters: tastes that the data can tell
	// apart (with 8 categories, clusters share their favourites).
	uint32_t *truth = NULL;
	struct fb_dataset *ds = generate(3000, 6000, 64, &truth);
	CHECK(ds != NULL);
	uint32_t U = ds->n_users;
	uint32_t *a = malloc(U * sizeof(*a)), *b = malloc(U * sizeof(*b));
	CHECK_OK(fb_partition_cluster_users(ds, 16, 7, a));
	CHECK_OK(fb_partition_cluster_users(ds, 16, 7, b));
	CHECK(memcmp(a, b, U * sizeof(*a)) == 0);
	double p = purity(a, truth, U, 16);
	// A clustering unrelated to the truth scores about 0.1 here.
	uint32_t *shuffled = malloc(U * sizeof(*shuffled));
	for (uint32_t u = 0; u < U; u++) {
		shuffled[u] = a[(u * 7919) % U];
	}
	double chance = purity(shuffled, truth, U, 16);
	printf("# k-means purity %.3f (chance %.3f)\n", p, chance);
	CHECK(p > 0.45);
	CHECK(chance < 0.2);
	for (uint32_t u = 0; u < U; u++) {
		CHECK(a[u] < 16);
	}
	CHECK_ERR(fb_partition_cluster_users(ds, 0, 7, a), FB_EINVAL);
	free(a);
	free(b);
	free(shuffled);
	free(truth);
	fb_dataset_destroy(ds);
}

static char *
subdir(const char *dir, const char *name)
{
	return fb_path_join(dir, name);
}

// Reads dir/users.map into a malloc'd local -> global array.
static uint32_t *
read_map(const char *dir, uint32_t n)
{
	char *path = subdir(dir, "users.map");
	char *buf = NULL;
	size_t len = 0;
	uint32_t *g = NULL;
	if (fb_read_file(path, 1 << 26, &buf, &len) == FB_OK) {
		g = malloc(((size_t)n + 1) * sizeof(*g));
		char *p = buf;
		for (uint32_t k = 0; k < n; k++) {
			char *end;
			unsigned long l = strtoul(p, &end, 10);
			if (l != k || *end != '\t') {
				free(g);
				g = NULL;
				break;
			}
			g[k] = (uint32_t)strtoul(end + 1, &p, 10);
			if (*p != '\n') {
				free(g);
				g = NULL;
				break;
			}
			p++;
		}
		if (g != NULL && p != buf + len) {
			free(g);
			g = NULL;
		}
	}
	free(buf);
	free(path);
	return g;
}

static bool
rows_equal(const struct fb_csr *a, uint32_t ra, const struct fb_csr *b,
		uint32_t rb)
{
	uint32_t n = fb_csr_row_len(a, ra);
	return n == fb_csr_row_len(b, rb) &&
			memcmp(fb_csr_row(a, ra), fb_csr_row(b, rb),
					n * sizeof(uint32_t)) == 0;
}

static bool
csr_equal(const struct fb_csr *a, const struct fb_csr *b)
{
	if (a->n_rows != b->n_rows || a->n_cols != b->n_cols ||
			fb_csr_nnz(a) != fb_csr_nnz(b)) {
		return false;
	}
	for (uint32_t r = 0; r < a->n_rows; r++) {
		if (!rows_equal(a, r, b, r)) {
			return false;
		}
	}
	return true;
}

// Loads every retailer folder of out (K of them) and checks that the
// union, mapped back, is ds exactly; returns the users per retailer.
static void
check_round_trip(const struct fb_dataset *ds, const char *out, uint32_t K,
		uint32_t *size)
{
	uint32_t *seen = calloc(ds->n_users, sizeof(*seen));
	uint64_t nnz[4] = {0};
	for (uint32_t k = 0; k < K; k++) {
		char name[32];
		snprintf(name, sizeof(name), "retailer-%02u", k);
		char *dir = subdir(out, name);
		struct fb_dataset *rd = NULL;
		CHECK_OK(fb_dataset_load(&rd, dir));
		CHECK(rd->n_users > 0);
		CHECK(rd->n_bundles == ds->n_bundles &&
				rd->n_items == ds->n_items &&
				rd->n_attrs == ds->n_attrs);
		CHECK(strcmp(rd->name, ds->name) == 0);
		CHECK(csr_equal(&rd->bi, &ds->bi));
		CHECK(csr_equal(&rd->ia, &ds->ia));
		uint32_t *g = read_map(dir, rd->n_users);
		CHECK(g != NULL);
		for (uint32_t l = 0; l < rd->n_users; l++) {
			CHECK(g[l] < ds->n_users);
			CHECK(l == 0 || g[l] > g[l - 1]);
			seen[g[l]]++;
			CHECK(rows_equal(
					&rd->ub_train, l, &ds->ub_train, g[l]));
			CHECK(rows_equal(&rd->ub_tune, l, &ds->ub_tune, g[l]));
			CHECK(rows_equal(&rd->ub_test, l, &ds->ub_test, g[l]));
			CHECK(rows_equal(&rd->ui, l, &ds->ui, g[l]));
		}
		nnz[0] += fb_csr_nnz(&rd->ub_train);
		nnz[1] += fb_csr_nnz(&rd->ub_tune);
		nnz[2] += fb_csr_nnz(&rd->ub_test);
		nnz[3] += fb_csr_nnz(&rd->ui);
		size[k] = rd->n_users;
		free(g);
		fb_dataset_destroy(rd);
		free(dir);
	}
	for (uint32_t u = 0; u < ds->n_users; u++) {
		CHECK(seen[u] == 1);
	}
	CHECK(nnz[0] == fb_csr_nnz(&ds->ub_train));
	CHECK(nnz[1] == fb_csr_nnz(&ds->ub_tune));
	CHECK(nnz[2] == fb_csr_nnz(&ds->ub_test));
	CHECK(nnz[3] == fb_csr_nnz(&ds->ui));
	free(seen);
}

// partition.json as read back with the strict schema parser: every key
// the manifest has is listed, so an unknown or missing one fails the test.
struct manifest_retailer {
	char dir[32];
	uint64_t users, user_item, ub_train, ub_tune, ub_test;
	uint32_t cluster_users[64];
	uint32_t n_cluster_users;
};
struct manifest {
	char dataset[64], mode[16], cluster_source[64];
	uint64_t users, bundles, items, retailers, seed, clusters;
	double alpha, divergence;
	struct manifest_retailer r[8];
	uint32_t n_r;
};

#define MR(f) offsetof(struct manifest_retailer, f)
#define MR_U64(key, f)                                                         \
	{                                                                      \
		.name = key, .type = FB_CFG_U64, .offset = MR(f), .max = 1e15, \
		.required = true                                               \
	}
static const struct fb_cfg_field retailer_fields[] = {
		{.name = "dir",
				.type = FB_CFG_STRING,
				.offset = MR(dir),
				.str_cap = 32,
				.required = true},
		MR_U64("users", users),
		MR_U64("user_item", user_item),
		MR_U64("user_bundle_train", ub_train),
		MR_U64("user_bundle_tune", ub_tune),
		MR_U64("user_bundle_test", ub_test),
		{.name = "cluster_users",
				.type = FB_CFG_U32_LIST,
				.offset = MR(cluster_users),
				.max = UINT32_MAX,
				.list_max = 64,
				.count_offset = MR(n_cluster_users)},
};

#define MF(f) offsetof(struct manifest, f)
#define MF_U64(key, f)                                                         \
	{                                                                      \
		.name = key, .type = FB_CFG_U64, .offset = MF(f), .max = 1e15, \
		.required = true                                               \
	}
#define MF_STR(key, f)                                                         \
	{                                                                      \
		.name = key, .type = FB_CFG_STRING, .offset = MF(f),           \
		.str_cap = sizeof(((struct manifest *)0)->f), .required = true \
	}
static const struct fb_cfg_field manifest_fields[] = {
		MF_STR("dataset", dataset),
		MF_U64("users", users),
		MF_U64("bundles", bundles),
		MF_U64("items", items),
		MF_U64("retailers", retailers),
		MF_STR("mode", mode),
		{.name = "alpha",
				.type = FB_CFG_DOUBLE_OR_NULL,
				.offset = MF(alpha),
				.max = 1e300,
				.required = true},
		MF_U64("seed", seed),
		MF_STR("cluster_source", cluster_source),
		MF_U64("clusters", clusters),
		{.name = "cluster_divergence",
				.type = FB_CFG_DOUBLE,
				.offset = MF(divergence),
				.max = 1},
		{.name = "retailer_list",
				.type = FB_CFG_OBJECT_LIST,
				.offset = MF(r),
				.list_max = 8,
				.count_offset = MF(n_r),
				.sub = retailer_fields,
				.n_sub = sizeof(retailer_fields) /
						sizeof(retailer_fields[0]),
				.elem_size = sizeof(struct manifest_retailer),
				.required = true},
};

// Reads OUT/partition.json into *m; its text, when text is not NULL.
static fb_err
read_manifest(const char *out, struct manifest *m, char **text)
{
	memset(m, 0, sizeof(*m));
	m->divergence = -1;
	char *path = subdir(out, "partition.json");
	struct fb_cfg_section s = {"", manifest_fields,
			sizeof(manifest_fields) / sizeof(manifest_fields[0]),
			m};
	fb_err err = fb_config_load(path, &s, 1);
	if (err == FB_OK && text != NULL) {
		size_t len = 0;
		err = fb_read_file(path, 1 << 20, text, &len);
	}
	free(path);
	return err;
}

TEST(run_writes_loadable_folders_that_map_back)
{
	uint32_t *cluster = NULL;
	struct fb_dataset *ds = generate(900, 3000, 0, &cluster);
	CHECK(ds != NULL);
	char *out = subdir(fixture_root(), "dirichlet");
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = 3;
	cfg.mode = FB_PARTITION_DIRICHLET;
	cfg.alpha = 0.3;
	cfg.seed = 11;
	cfg.user_cluster = cluster;
	cfg.cluster_source = "user_cluster.txt";
	struct fb_partition_stats *st = NULL;
	CHECK_OK(fb_partition_run(ds, &cfg, out, &st));
	uint32_t size[3];
	check_round_trip(ds, out, 3, size);
	struct manifest j;
	CHECK_OK(read_manifest(out, &j, NULL));
	CHECK(j.retailers == 3 && j.seed == 11);
	CHECK(j.alpha == 0.3 && j.clusters == 16);
	CHECK(strcmp(j.mode, "dirichlet") == 0);
	CHECK(j.divergence > 0.2);
	CHECK(j.n_r == 3);
	for (int k = 0; k < 3; k++) {
		const struct manifest_retailer *r = &j.r[k];
		CHECK(r->users == size[k] && st[k].n_users == size[k]);
		CHECK(r->ub_test == st[k].n_user_bundle[2]);
		CHECK(r->user_item == st[k].n_user_item);
		double s = 0;
		for (uint32_t g = 0; g < r->n_cluster_users; g++) {
			s += r->cluster_users[g];
		}
		CHECK(r->n_cluster_users == 16 && s == size[k]);
	}
	free(st);

	// IID through the same path, without clusters.
	char *iid = subdir(fixture_root(), "iid");
	cfg.mode = FB_PARTITION_IID;
	cfg.user_cluster = NULL;
	cfg.n_retailers = 4;
	CHECK_OK(fb_partition_run(ds, &cfg, iid, NULL));
	uint32_t size4[4];
	check_round_trip(ds, iid, 4, size4);
	for (int k = 0; k < 4; k++) {
		CHECK(size4[k] == 225);
	}
	char *text = NULL;
	CHECK_OK(read_manifest(iid, &j, &text));
	CHECK(isnan(j.alpha) && j.divergence == -1 &&
			j.r[0].n_cluster_users == 0);
	CHECK(strcmp(j.cluster_source, "none") == 0);
	// The manifest's fixed layout, byte for byte (partition.c).
	CHECK(text != NULL &&
			strncmp(text, "{\n\t\"dataset\":\t\"Synth\",\n\t\"users\":\t900,\n",
					36) == 0);
	CHECK(text != NULL && strstr(text, "\t\"alpha\":\tnull,\n") != NULL);
	CHECK(text != NULL &&
			strstr(text, "\t\t\t\"user_bundle_test\":\t") != NULL);
	CHECK(text != NULL &&
			strstr(text,
					"\n\t\t}, {\n\t\t\t\"dir\":\t"
					"\"retailer-01\",\n") != NULL);
	CHECK(text != NULL && strstr(text, "\n\t\t}]\n}\n") != NULL);
	free(text);

	// Dirichlet without clusters computes them.
	char *km = subdir(fixture_root(), "kmeans");
	cfg.mode = FB_PARTITION_DIRICHLET;
	cfg.n_clusters = 8;
	CHECK_OK(fb_partition_run(ds, &cfg, km, NULL));
	check_round_trip(ds, km, 4, size4);
	CHECK_OK(read_manifest(km, &j, NULL));
	CHECK(j.clusters == 8 && j.r[3].n_cluster_users == 8);
	CHECK(strcmp(j.cluster_source, "kmeans") == 0);

	cfg.n_retailers = 901;
	CHECK_ERR(fb_partition_run(ds, &cfg, km, NULL), FB_EINVAL);
	free(out);
	free(iid);
	free(km);
	free(cluster);
	fb_dataset_destroy(ds);
}

static fb_err
write_text(const char *path, const char *text)
{
	return fb_write_file_atomic(path, text, strlen(text), 0644);
}

TEST(cluster_file_round_trip_and_errors)
{
	uint32_t cl[5] = {3, 0, 2, 2, 1};
	CHECK_OK(fb_datagen_write_clusters(fixture_root(), cl, 5));
	char *path = subdir(fixture_root(), "user_cluster.txt");
	uint32_t *back = NULL, g = 0;
	CHECK_OK(fb_partition_read_clusters(path, 5, &back, &g));
	CHECK(g == 4 && memcmp(back, cl, sizeof(cl)) == 0);
	free(back);
	back = NULL;
	CHECK_OK(write_text(path, "0\t1\n2\t0\n1\t1\n"));
	CHECK_ERR(fb_partition_read_clusters(path, 4, &back, &g), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "user 3 has no cluster");
	CHECK_OK(write_text(path, "0\t1\n1\t0\n0\t1\n"));
	CHECK_ERR(fb_partition_read_clusters(path, 2, &back, &g), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), ":3: user 0 appears");
	CHECK_OK(write_text(path, "0\t1\n1 0\n"));
	CHECK_ERR(fb_partition_read_clusters(path, 2, &back, &g), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "user_cluster.txt:2");
	CHECK(back == NULL);
	unlink(path);
	free(path);
}

TEST(youshu_partitions_with_kmeans)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/youshu", getenv("FB_DATA_ROOT"));
	struct fb_dataset *ds = NULL;
	CHECK_OK(fb_dataset_load(&ds, dir));
	uint32_t U = ds->n_users;
	uint32_t *cluster = malloc(U * sizeof(*cluster));
	uint32_t *owner = malloc(U * sizeof(*owner));
	CHECK_OK(fb_partition_cluster_users(ds, 16, 1, cluster));
	uint32_t count[16] = {0}, used = 0;
	for (uint32_t u = 0; u < U; u++) {
		count[cluster[u]]++;
	}
	for (int g = 0; g < 16; g++) {
		used += count[g] > 0;
	}
	CHECK(used == 16);
	struct fb_partition_config cfg;
	fb_partition_config_defaults(&cfg);
	cfg.n_retailers = 5;
	cfg.mode = FB_PARTITION_DIRICHLET;
	cfg.alpha = 0.1;
	CHECK_OK(fb_partition_assign(U, cluster, 16, &cfg, owner));
	double low = skew(owner, cluster, U, 5, 16);
	cfg.alpha = 1000;
	CHECK_OK(fb_partition_assign(U, cluster, 16, &cfg, owner));
	double high = skew(owner, cluster, U, 5, 16);
	printf("# Youshu, 16 k-means clusters: skew %.3f at alpha 0.1, "
	       "%.3f at alpha 1000\n",
			low, high);
	CHECK(low > 0.4 && high < 0.1);
	free(cluster);
	free(owner);
	fb_dataset_destroy(ds);
}

int
main(void)
{
	fixture_init("partition");
	RUN(iid_is_balanced);
	RUN(dirichlet_skew_grows_as_alpha_shrinks);
	RUN(assign_is_deterministic_per_seed);
	RUN(no_retailer_is_empty);
	RUN(kmeans_recovers_taste_clusters);
	RUN(run_writes_loadable_folders_that_map_back);
	RUN(cluster_file_round_trip_and_errors);
	const char *root = getenv("FB_DATA_ROOT");
	char dir[512];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/youshu", root != NULL ? root : "");
	if (root == NULL || stat(dir, &st) != 0) {
		harness_run_count++;
		printf("ok %d - youshu_partitions_with_kmeans # SKIP Youshu "
		       "not found (FB_DATA_ROOT=%s)\n",
				harness_run_count,
				root != NULL ? root : "unset");
	} else {
		RUN(youshu_partitions_with_kmeans);
	}
	fixture_finish();
	return harness_done();
}
