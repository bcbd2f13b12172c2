// tests/unit/test-model.c: representations against hand computation, the
// sgemm scoring path against naive dot products, and model files: round
// trip, refusal of every corrupted or truncated variant, and the
// representation options of an aggregator checkpoint, old and new.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/hash.h"
#include "fedbundle/util/tensorfile.h"
#include "harness.h"

// 2 users, 3 bundles, 4 items, 2 attributes, d = 2.
static struct fb_dataset *
tiny_dataset(void)
{
	struct fb_dataset *ds = NULL;
	if (fb_dataset_create(&ds, "tiny", 2, 3, 4, 2) != FB_OK) {
		return NULL;
	}
	uint32_t bi_r[] = {0, 0, 1, 2, 2, 2}, bi_c[] = {0, 1, 2, 1, 2, 3};
	uint32_t ia_r[] = {0, 1, 1, 3}, ia_c[] = {0, 0, 1, 1};
	uint32_t ui_r[] = {0, 0, 1}, ui_c[] = {1, 3, 0};
	fb_csr_finish(&ds->bi);
	fb_csr_finish(&ds->ia);
	fb_csr_finish(&ds->ui);
	if (fb_csr_from_pairs(&ds->bi, 3, 4, bi_r, bi_c, 6, false) != FB_OK ||
			fb_csr_from_pairs(&ds->ia, 4, 2, ia_r, ia_c, 4,
					false) != FB_OK ||
			fb_csr_from_pairs(&ds->ui, 2, 4, ui_r, ui_c, 3,
					false) != FB_OK) {
		fb_dataset_destroy(ds);
		return NULL;
	}
	return ds;
}

static void
fill(struct fb_matrix *m, float start)
{
	for (size_t k = 0; k < fb_matrix_len(m); k++) {
		m->data[k] = start + (float)k;
	}
}

TEST(reps_match_hand_computation)
{
	struct fb_dataset *ds = tiny_dataset();
	CHECK(ds != NULL);
	struct fb_model m;
	CHECK_OK(fb_model_init(&m, 4, 3, 2, 2));
	fill(&m.V, 0);   // V = [0 1; 2 3; 4 5; 6 7]
	fill(&m.W, 100); // W = [100 101; 102 103; 104 105]
	fill(&m.M, 10);  // M = [10 11; 12 13]
	struct fb_catalog cat;
	CHECK_OK(fb_catalog_init(&cat, ds));
	struct fb_rep_opts opts = {true, true, true, false};
	struct fb_reps r;
	CHECK_OK(fb_reps_init(&r, &m, &opts));
	fb_reps_compute(&r, &m, &cat);
	// Items: 0 has attr 0; 1 has attrs 0,1; 2 none; 3 has attr 1.
	float want_item[8] = {10, 12, 2 + 11, 3 + 12, 4, 5, 18, 20};
	for (int k = 0; k < 8; k++) {
		CHECK_NEAR(r.item.data[k], want_item[k], 1e-5);
	}
	// Bundle 0 = W0 + mean(item 0, item 1); 2 = W2 + mean(1, 2, 3).
	CHECK_NEAR(fb_matrix_row(&r.bundle, 0)[0], 100 + (10 + 13) / 2.0, 1e-4);
	CHECK_NEAR(fb_matrix_row(&r.bundle, 1)[1], 103 + 5, 1e-4);
	CHECK_NEAR(fb_matrix_row(&r.bundle, 2)[1], 105 + (15 + 5 + 20) / 3.0,
			1e-4);
	// Users: P + mean of their items' reps.
	struct fb_matrix P, U;
	CHECK_OK(fb_matrix_init(&P, 2, 2));
	CHECK_OK(fb_matrix_init(&U, 2, 2));
	fill(&P, 1);
	fb_user_reps_compute(&U, &P, &ds->ui, &r);
	CHECK_NEAR(U.data[0], 1 + (13 + 18) / 2.0, 1e-4);
	CHECK_NEAR(U.data[3], 4 + 12, 1e-4);
	// Switches off: reps are the raw factors.
	struct fb_rep_opts off = {false, false, false, false};
	struct fb_reps r0;
	CHECK_OK(fb_reps_init(&r0, &m, &off));
	fb_reps_compute(&r0, &m, &cat);
	CHECK(memcmp(r0.bundle.data, m.W.data, 6 * sizeof(float)) == 0);
	CHECK(memcmp(r0.item.data, m.V.data, 8 * sizeof(float)) == 0);
	fb_user_reps_compute(&U, &P, &ds->ui, &r0);
	CHECK(memcmp(U.data, P.data, 4 * sizeof(float)) == 0);
	fb_reps_finish(&r);
	fb_reps_finish(&r0);
	fb_matrix_finish(&P);
	fb_matrix_finish(&U);
	fb_catalog_finish(&cat);
	fb_model_finish(&m);
	fb_dataset_destroy(ds);
}

TEST(score_block_matches_naive)
{
	struct fb_rng rng;
	fb_rng_seed(&rng, 7, 0);
	struct fb_matrix U, B;
	CHECK_OK(fb_matrix_init(&U, 37, 19));
	CHECK_OK(fb_matrix_init(&B, 53, 19));
	fb_matrix_randn(&U, &rng, 1);
	fb_matrix_randn(&B, &rng, 1);
	float *out = malloc(10 * 53 * sizeof(float));
	CHECK(out != NULL);
	fb_model_score_block(&U, 5, 10, &B, out);
	for (size_t u = 0; u < 10; u++) {
		for (size_t b = 0; b < 53; b++) {
			double s = 0;
			for (size_t k = 0; k < 19; k++) {
				s += (double)fb_matrix_row(&U, 5 + u)[k] *
						fb_matrix_row(&B, b)[k];
			}
			CHECK_NEAR(out[u * 53 + b], s, 1e-4);
			CHECK_NEAR(fb_dot(fb_matrix_row(&U, 5 + u),
						   fb_matrix_row(&B, b), 19),
					s, 1e-4);
		}
	}
	free(out);
	fb_matrix_finish(&U);
	fb_matrix_finish(&B);
}

static char tmpdir[64];

static char *
tmp_path(const char *name)
{
	return fb_path_join(tmpdir, name);
}

// Parses a copy of the first len bytes of buf, its byte at (if < len)
// XORed with flip, as a file of kind; a file that parses is destroyed.
static fb_err
parse_copy(const char *buf, size_t len, size_t at, char flip,
		enum fb_tfile_kind kind, const char *label)
{
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		return FB_ENOMEM;
	}
	memcpy(copy, buf, len);
	if (at < len) {
		copy[at] ^= flip;
	}
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_parse(&f, label, copy, len, kind);
	fb_tfile_destroy(f);
	return err;
}

TEST(model_file_round_trip)
{
	struct fb_model m;
	CHECK_OK(fb_model_init(&m, 5, 3, 2, 4));
	struct fb_rng rng;
	fb_rng_seed(&rng, 1, 0);
	fb_model_randomize(&m, &rng, 1);
	struct fb_matrix P;
	CHECK_OK(fb_matrix_init(&P, 6, 4));
	fb_matrix_randn(&P, &rng, 1);
	struct fb_model_meta meta = {{true, false, true, true}, "tiny", 17,
			FB_TFILE_MODEL, true};
	char *path = tmp_path("m.fbm");
	CHECK_OK(fb_modelio_save(path, &m, &P, &meta));
	struct fb_model m2;
	struct fb_matrix P2;
	struct fb_model_meta meta2;
	CHECK_OK(fb_modelio_load(path, &m2, &P2, &meta2));
	CHECK(m2.dim == 4 && m2.n_items == 5 && m2.n_bundles == 3 &&
			m2.n_attrs == 2);
	CHECK(memcmp(m2.V.data, m.V.data, 20 * sizeof(float)) == 0);
	CHECK(memcmp(m2.W.data, m.W.data, 12 * sizeof(float)) == 0);
	CHECK(memcmp(m2.M.data, m.M.data, 8 * sizeof(float)) == 0);
	CHECK(memcmp(P2.data, P.data, 24 * sizeof(float)) == 0);
	CHECK(meta2.epoch == 17 && strcmp(meta2.dataset, "tiny") == 0);
	CHECK(meta2.opts.item_view && !meta2.opts.use_attrs &&
			meta2.opts.user_item_view);
	fb_model_finish(&m2);
	fb_matrix_finish(&P2);

	// Every single-byte corruption and every truncation is refused.
	char *buf;
	size_t len;
	CHECK_OK(fb_read_file(path, 1 << 20, &buf, &len));
	for (size_t k = 0; k < len; k++) {
		CHECK_ERR(parse_copy(buf, len, k, 0x20, FB_TFILE_MODEL,
					  "corrupt"),
				FB_EFORMAT);
	}
	for (size_t cut = 0; cut < len; cut += 7) {
		CHECK_ERR(parse_copy(buf, cut, SIZE_MAX, 0, FB_TFILE_MODEL,
					  "truncated"),
				FB_EFORMAT);
	}
	// The wrong kind is refused too.
	CHECK_ERR(parse_copy(buf, len, SIZE_MAX, 0, FB_TFILE_CHECKPOINT,
				  "kind"),
			FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "kind");
	free(buf);
	free(path);
	fb_model_finish(&m);
	fb_matrix_finish(&P);
}

// Format version 2 checksums with XXH3-128; files of version 1 (BLAKE2b-256)
// are still read, and each version's checksum is checked by its own rule.
TEST(tensorfile_versions)
{
	// xxHash's reference value of XXH3-128 over no input, canonical form.
	static const uint8_t empty[16] = {0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47,
			0x98, 0xd8, 0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49,
			0x7f};
	uint8_t sum[FB_TFILE_SUM_MAX];
	fb_tfile_sum(2, "", 0, sum);
	CHECK(memcmp(sum, empty, sizeof(empty)) == 0);
	CHECK(fb_tfile_sum_len(1) == 32 && fb_tfile_sum_len(2) == 16 &&
			fb_tfile_sum_len(0) == 0 && fb_tfile_sum_len(3) == 0);

	struct fb_model m;
	CHECK_OK(fb_model_init(&m, 5, 3, 0, 4));
	struct fb_rng rng;
	fb_rng_seed(&rng, 2, 0);
	fb_model_randomize(&m, &rng, 1);
	struct fb_model_meta meta = {{true, false, true, false}, "v", 3,
			FB_TFILE_MODEL, true};
	char *path = tmp_path("v2.fbm");
	CHECK_OK(fb_modelio_save(path, &m, NULL, &meta));
	char *buf;
	size_t len;
	CHECK_OK(fb_read_file(path, 1 << 20, &buf, &len));
	CHECK(buf[8] == 2 && buf[9] == 0 && buf[10] == 0 && buf[11] == 0);
	size_t body = len - 16;
	fb_tfile_sum(2, buf, body, sum);
	CHECK(memcmp(sum, buf + body, 16) == 0);

	// The same file as version 1: BLAKE2b-256 trailer, read alike.
	char *v1 = malloc(body + 32);
	memcpy(v1, buf, body);
	v1[8] = 1;
	fb_hash_buf(v1, body, (uint8_t *)v1 + body);
	struct fb_tfile *f = NULL;
	CHECK_OK(fb_tfile_parse(&f, "v1", v1, body + 32, FB_TFILE_MODEL));
	struct fb_tensor_view v;
	CHECK_OK(fb_tfile_get(f, "V", &v));
	CHECK(v.rows == 5 && v.cols == 4 &&
			memcmp(v.data, m.V.data, 20 * sizeof(float)) == 0);
	fb_tfile_destroy(f);

	// Version 1 with a version 2 trailer, and version 3: refused (the
	// version byte 2 XOR 3 is 1, 2 XOR 1 is 3).
	CHECK_ERR(parse_copy(buf, len, 8, 3, FB_TFILE_MODEL, "mixed"),
			FB_EFORMAT);
	CHECK_ERR(parse_copy(buf, len, 8, 1, FB_TFILE_MODEL, "v3"), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "format version 3");
	free(buf);
	free(path);
	fb_model_finish(&m);
}

TEST(failed_write_keeps_previous_file)
{
	struct fb_model m;
	CHECK_OK(fb_model_init(&m, 50, 30, 0, 8));
	struct fb_model_meta meta = {{true, true, true, false}, "x", 1,
			FB_TFILE_MODEL, true};
	char *path = tmp_path("keep.fbm");
	CHECK_OK(fb_modelio_save(path, &m, NULL, &meta));
	struct stat before;
	CHECK(stat(path, &before) == 0);
	m.V.data[0] = 42;
	setenv("FB_FAULT_WRITE_AFTER", "100", 1);
	CHECK_ERR(fb_modelio_save(path, &m, NULL, &meta), FB_EIO);
	unsetenv("FB_FAULT_WRITE_AFTER");
	struct fb_model m2;
	struct fb_model_meta meta2;
	CHECK_OK(fb_modelio_load(path, &m2, NULL, &meta2));
	CHECK(m2.V.data[0] == 0); // the old content, intact
	// No temporary file is left behind.
	char *tmp = malloc(strlen(path) + 32);
	snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
	CHECK(access(tmp, F_OK) != 0);
	free(tmp);
	// A model file without user factors cannot serve P.
	struct fb_model m3;
	struct fb_matrix P3;
	CHECK_ERR(fb_modelio_load(path, &m3, &P3, &meta2), FB_EFORMAT);
	fb_model_finish(&m2);
	fb_model_finish(&m);
	free(path);
}

// An aggregator checkpoint's metadata as server/checkpoint.c writes it,
// with opts (the representation members, since issue 14) after "format".
static char *
checkpoint_with(const char *name, const char *opts, const struct fb_model *m)
{
	char meta[512];
	snprintf(meta, sizeof(meta),
			"{\"format\": 1, %s\"last_committed\": 3, "
			"\"last_planned\": 3, \"optimizer\": \"fedavg\", "
			"\"optimizer_steps\": 0, \"dim\": 4, \"n_items\": 5, "
			"\"n_bundles\": 3, \"n_attrs\": 0, \"ledger_count\": "
			"0, \"ledger_head\": \"00\", \"catalog\": \"\", "
			"\"clients\": [{\"name\": \"r0\", \"epsilon\": null, "
			"\"private\": false, \"updates\": 3, \"last_round\": "
			"3, \"exhausted\": false}]}",
			opts);
	struct fb_tensor_view t[2] = {
			{"V", m->V.rows, m->V.cols, m->V.data},
			{"W", m->W.rows, m->W.cols, m->W.data},
	};
	char *path = tmp_path(name);
	if (fb_tfile_write(path, FB_TFILE_CHECKPOINT, meta, t, 2) != FB_OK) {
		free(path);
		return NULL;
	}
	return path;
}

// A checkpoint records the representation options of its rounds (issue
// 14); one written before still loads, its options unknown.
TEST(checkpoint_records_rep_options)
{
	struct fb_model m;
	CHECK_OK(fb_model_init(&m, 5, 3, 0, 4));
	fill(&m.V, 1);
	fill(&m.W, 100);
	char *old = checkpoint_with("old.fbc", "", &m);
	CHECK(old != NULL);
	struct fb_model m2;
	struct fb_matrix P;
	struct fb_model_meta meta;
	CHECK_OK(fb_modelio_load_any(old, &m2, &P, &meta));
	CHECK(meta.kind == FB_TFILE_CHECKPOINT && !meta.opts_known &&
			meta.epoch == 3 && P.rows == 0);
	CHECK(!meta.opts.item_view && !meta.opts.bias);
	CHECK(m2.n_items == 5 && m2.n_bundles == 3 && m2.n_attrs == 0 &&
			memcmp(m2.W.data, m.W.data, 12 * sizeof(float)) == 0);
	fb_model_finish(&m2);
	fb_matrix_finish(&P);

	char *now = checkpoint_with("new.fbc",
			"\"item_view\": true, \"use_attrs\": false, "
			"\"user_item_view\": false, \"bias\": true, ",
			&m);
	CHECK(now != NULL);
	CHECK_OK(fb_modelio_load_any(now, &m2, &P, &meta));
	CHECK(meta.kind == FB_TFILE_CHECKPOINT && meta.opts_known);
	CHECK(meta.opts.item_view && !meta.opts.use_attrs &&
			!meta.opts.user_item_view && meta.opts.bias);
	fb_model_finish(&m2);
	fb_matrix_finish(&P);

	// Some of the members only (no writer does that): not known.
	char *part = checkpoint_with("part.fbc", "\"bias\": true, ", &m);
	CHECK(part != NULL);
	CHECK_OK(fb_modelio_load_any(part, &m2, &P, &meta));
	CHECK(!meta.opts_known && !meta.opts.bias);
	fb_model_finish(&m2);
	fb_matrix_finish(&P);
	free(old);
	free(now);
	free(part);
	fb_model_finish(&m);
}

TEST(missing_file_is_an_io_error_naming_it)
{
	struct fb_model m;
	struct fb_model_meta meta;
	CHECK_ERR(fb_modelio_load("/nonexistent/model.fbm", &m, NULL, &meta),
			FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "/nonexistent/model.fbm");
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fb-test-model-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		return 99;
	}
	RUN(reps_match_hand_computation);
	RUN(score_block_matches_naive);
	RUN(model_file_round_trip);
	RUN(tensorfile_versions);
	RUN(failed_write_keeps_previous_file);
	RUN(checkpoint_records_rep_options);
	RUN(missing_file_is_an_io_error_naming_it);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0) {
		return 99;
	}
	return rc;
}
