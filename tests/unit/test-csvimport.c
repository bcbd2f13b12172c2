// tests/unit/test-csvimport.c: the RFC 4180 reader (quoting, line breaks,
// line numbers, errors), the import (id maps in order of first appearance,
// merged duplicates, ignored columns, errors naming file and line) and the
// per-user split (hand-counted small cases, disjointness, coverage,
// fractions over many users, determinism).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/data/csvimport.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/rng.h"
#include "fixture.h"
#include "harness.h"

static char *
slurp(const char *dir, const char *name)
{
	char *p = fb_path_join(dir, name);
	char *buf = NULL;
	size_t len;
	fb_err err = fb_read_file(p, 1 << 20, &buf, &len);
	free(p);
	CHECK_OK(err);
	return buf;
}

// Reads every record of text; returns the records joined as
// "f1|f2|...;" so a test can compare one string.
static fb_err
records(const char *text, size_t len, char *out, size_t cap)
{
	struct fb_csvimport_reader rd;
	fb_csvimport_reader_init(&rd, "t.csv", text, len);
	size_t used = 0;
	out[0] = '\0';
	fb_err err;
	for (;;) {
		bool got;
		err = fb_csvimport_reader_next(&rd, &got);
		if (err != FB_OK || !got) {
			break;
		}
		used += (size_t)snprintf(
				out + used, cap - used, "%zu:", rd.record_line);
		for (size_t i = 0; i < rd.n_fields; i++) {
			used += (size_t)snprintf(out + used, cap - used, "%s%s",
					i > 0 ? "|" : "", rd.field[i]);
		}
		used += (size_t)snprintf(out + used, cap - used, ";");
	}
	fb_csvimport_reader_finish(&rd);
	return err;
}

TEST(reader_quoting)
{
	char out[512];
	const char text[] = "\xef\xbb\xbf"
			    "a,b,c\r\n"
			    "\"x,y\",\"say \"\"hi\"\"\",\"\"\r\n"
			    "\n"
			    "\"two\nlines\",plain,\n"
			    "last,,\"q\"";
	CHECK_OK(records(text, sizeof(text) - 1, out, sizeof(out)));
	CHECK(strcmp(out,
			      "1:a|b|c;2:x,y|say \"hi\"|;4:two\nlines|plain|;"
			      "6:last||q;") == 0);
	// Field lengths count embedded NUL bytes.
	struct fb_csvimport_reader rd;
	const char nul[] = "\"a\0b\",c\n";
	fb_csvimport_reader_init(&rd, "n.csv", nul, sizeof(nul) - 1);
	bool got;
	CHECK_OK(fb_csvimport_reader_next(&rd, &got));
	CHECK(got && rd.n_fields == 2 && rd.field_len[0] == 3);
	CHECK(memcmp(rd.field[0], "a\0b", 4) == 0);
	CHECK_OK(fb_csvimport_reader_next(&rd, &got));
	CHECK(!got);
	fb_csvimport_reader_finish(&rd);
	fb_csvimport_reader_finish(&rd);
	// Empty input, and only blank lines.
	CHECK_OK(records("", 0, out, sizeof(out)));
	CHECK(strcmp(out, "") == 0);
	CHECK_OK(records("\r\n\n", 3, out, sizeof(out)));
	CHECK(strcmp(out, "") == 0);
	// A single empty quoted field is a record, not a blank line.
	CHECK_OK(records("\"\"\n", 3, out, sizeof(out)));
	CHECK(strcmp(out, "1:;") == 0);
}

TEST(reader_errors_name_the_line)
{
	char out[512];
	const struct {
		const char *text;
		const char *needle;
	} cases[] = {
			{"a,b\nx,y\"z\n",
					"t.csv:2: quote inside an unquoted field"},
			{"a,b\n\"x\"y,z\n",
					"t.csv:2: unexpected 'y' after a closing quote"},
			{"a,b\n\"x\" ,z\n",
					"t.csv:2: unexpected space after a closing quote"},
			{"a,b\nx,\"never\nclosed\n",
					"t.csv:4: quoted field opened on line 2 is never closed"},
			{"a,b\rc,d\n", "t.csv:1: CR not followed by LF outside quotes"},
			{"a,b\n\n\nx,y\r",
					"t.csv:4: CR not followed by LF outside quotes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fb_err err = records(cases[i].text, strlen(cases[i].text), out,
				sizeof(out));
		if (err != FB_EFORMAT) {
			HARNESS_FAIL("case %zu: %s", i, fb_strerror(err));
		}
		CHECK_STR_CONTAINS(fb_last_error(err), cases[i].needle);
	}
	// After an error the reader reports no more records.
	struct fb_csvimport_reader rd;
	const char bad[] = "a\"b\nc,d\n";
	fb_csvimport_reader_init(&rd, "t.csv", bad, sizeof(bad) - 1);
	bool got;
	CHECK_ERR(fb_csvimport_reader_next(&rd, &got), FB_EFORMAT);
	CHECK_OK(fb_csvimport_reader_next(&rd, &got));
	CHECK(!got);
	fb_csvimport_reader_finish(&rd);
}

TEST(import_maps_and_dataset)
{
	const char *in = fixture_dir();
	struct fb_csvimport_options opt;
	fb_csvimport_options_init(&opt);
	opt.name = "Shop";
	// Columns in another order, an extra column, a quoted id with a comma,
	// a repeated membership.
	opt.bundles_path = fixture_put(in, "bundles.csv",
			"item_id,note,bundle_id\r\n"
			"sku-9,\"gift, boxed\",B2\r\n"
			"sku-1,,B2\r\n"
			"sku-1,,\"B,1\"\r\n"
			"sku-9,,B2\r\n"
			"sku-4,\"multi\nline\",B3\r\n");
	opt.interactions_path = fixture_put(in, "ub.csv",
			"user_id,bundle_id,timestamp\n"
			"carol,B3,2024-01-01\n"
			"alice,B2,2024-01-02\n"
			"alice,\"B,1\",2024-01-03\n"
			"alice,B2,2024-01-04\n"
			"bob,B3,2024-01-05\n"
			"alice,B3,2024-01-06\n");
	opt.user_items_path = fixture_put(in, "ui.csv",
			"user_id,item_id\n"
			"dave,sku-1\n"
			"bob,sku-7\n"
			"bob,sku-7\n");
	const char *out = fixture_dir();
	struct fb_csvimport_summary sum;
	CHECK_OK(fb_csvimport_run(&opt, out, &sum));
	CHECK(sum.n_users == 4 && sum.n_bundles == 3 && sum.n_items == 4);
	CHECK(sum.n_bundle_items == 4 && sum.dup_bundle_items == 1);
	CHECK(sum.n_user_bundles == 5 && sum.dup_user_bundles == 1);
	CHECK(sum.n_user_items == 2 && sum.dup_user_items == 1);
	// alice has 3 pairs: one in each split; others keep theirs in train.
	CHECK(sum.n_split[0] == 3 && sum.n_split[1] == 1 &&
			sum.n_split[2] == 1);

	char *users = slurp(out, "users.map");
	CHECK(strcmp(users, "0\tcarol\n1\talice\n2\tbob\n3\tdave\n") == 0);
	free(users);
	char *bundles = slurp(out, "bundles.map");
	CHECK(strcmp(bundles, "0\tB2\n1\tB,1\n2\tB3\n") == 0);
	free(bundles);
	char *items = slurp(out, "items.map");
	CHECK(strcmp(items, "0\tsku-9\n1\tsku-1\n2\tsku-4\n3\tsku-7\n") == 0);
	free(items);

	struct fb_dataset *ds;
	CHECK_OK(fb_dataset_load(&ds, out));
	CHECK(strcmp(ds->name, "Shop") == 0);
	CHECK(ds->n_users == 4 && ds->n_bundles == 3 && ds->n_items == 4);
	// B2 = {sku-9, sku-1}, B,1 = {sku-1}, B3 = {sku-4}.
	CHECK(fb_csr_row_len(&ds->bi, 0) == 2 && fb_csr_has(&ds->bi, 0, 0) &&
			fb_csr_has(&ds->bi, 0, 1));
	CHECK(fb_csr_row_len(&ds->bi, 1) == 1 && fb_csr_has(&ds->bi, 1, 1));
	CHECK(fb_csr_row_len(&ds->bi, 2) == 1 && fb_csr_has(&ds->bi, 2, 2));
	// carol (0) -> B3 (2), bob (2) -> B3, both train only.
	CHECK(fb_csr_has(&ds->ub_train, 0, 2) &&
			fb_csr_has(&ds->ub_train, 2, 2));
	// alice (1): B2, B,1, B3 over the three splits.
	CHECK(fb_csr_row_len(&ds->ub_train, 1) == 1 &&
			fb_csr_row_len(&ds->ub_tune, 1) == 1 &&
			fb_csr_row_len(&ds->ub_test, 1) == 1);
	CHECK(fb_csr_has(&ds->ui, 3, 1) && fb_csr_has(&ds->ui, 2, 3));
	CHECK(fb_csr_row_len(&ds->ui, 2) == 1);
	fb_dataset_destroy(ds);

	// Importing again gives byte-identical files.
	const char *again = fixture_dir();
	CHECK_OK(fb_csvimport_run(&opt, again, NULL));
	const char *files[] = {"user_bundle_train.txt", "user_bundle_tune.txt",
			"user_bundle_test.txt", "bundle_item.txt",
			"user_item.txt", "Shop_data_size.txt", "users.map"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *a = slurp(out, files[i]), *b = slurp(again, files[i]);
		CHECK(strcmp(a, b) == 0);
		free(a);
		free(b);
	}
}

static void
expect_import_error(const char *bundles, const char *ub, const char *ui,
		fb_err want, const char *needle)
{
	const char *in = fixture_dir();
	struct fb_csvimport_options opt;
	fb_csvimport_options_init(&opt);
	opt.bundles_path = fixture_put(in, "cat.csv", bundles);
	opt.interactions_path = fixture_put(in, "ub.csv", ub);
	opt.user_items_path = ui != NULL ? fixture_put(in, "ui.csv", ui) : NULL;
	fb_err err = fb_csvimport_run(&opt, fixture_dir(), NULL);
	if (err != want) {
		HARNESS_FAIL("import returned %s (%s), expected %s with '%s'",
				fb_strerror(err), fb_last_error(err),
				fb_strerror(want), needle);
	}
	CHECK_STR_CONTAINS(fb_last_error(err), needle);
}

TEST(import_errors)
{
	const char *cat = "bundle_id,item_id\nb1,i1\nb2,i2\n";
	expect_import_error(cat, "user_id,bundle_id\nu1,b1\nu2,b9\n", NULL,
			FB_EFORMAT,
			"ub.csv:3: bundle_id 'b9' is not in the catalogue");
	expect_import_error(cat, "user,bundle_id\nu1,b1\n", NULL, FB_EFORMAT,
			"ub.csv:1: no 'user_id' column in the header");
	expect_import_error("bundle_id,item_id,bundle_id\nb,i,b\n",
			"user_id,bundle_id\n", NULL, FB_EFORMAT,
			"cat.csv:1: column 'bundle_id' appears twice");
	expect_import_error(cat, "user_id,bundle_id\nu1,b1\n,b2\n", NULL,
			FB_EFORMAT, "ub.csv:3: empty user_id");
	expect_import_error(cat, "user_id,bundle_id\n\"u\t1\",b1\n", NULL,
			FB_EFORMAT,
			"ub.csv:2: user_id contains a control character (byte 0x09)");
	expect_import_error(cat, "user_id,bundle_id\nu1,b1,extra\n", NULL,
			FB_EFORMAT, "ub.csv:2: 3 fields, but the header has 2");
	expect_import_error(cat, "user_id,bundle_id\nu1,b1\n",
			"user_id,item_id\nu1,\"i\n2\"\n", FB_EFORMAT,
			"ui.csv:2: item_id contains a control character (byte 0x0a)");
	expect_import_error(cat, "", NULL, FB_EFORMAT,
			"ub.csv: empty file (expected a header row");
	expect_import_error("bundle_id,item_id\nb1,\"i1\n",
			"user_id,bundle_id\n", NULL, FB_EFORMAT,
			"cat.csv:3: quoted field opened on line 2 is never closed");

	struct fb_csvimport_options opt;
	fb_csvimport_options_init(&opt);
	opt.bundles_path = "/nonexistent/cat.csv";
	opt.interactions_path = "/nonexistent/ub.csv";
	CHECK_ERR(fb_csvimport_run(&opt, fixture_dir(), NULL), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "/nonexistent/cat.csv");
	opt.split[0] = 0.8;
	CHECK_ERR(fb_csvimport_run(&opt, fixture_dir(), NULL), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "must sum to 1");
	opt.split[0] = 0.7;
	opt.name = "a/b";
	CHECK_ERR(fb_csvimport_run(&opt, fixture_dir(), NULL), FB_EINVAL);
}

// Messy exports: invalid UTF-8 is refused at file:line:column, a file
// with a header and no data rows is refused naming it, spaces around ids
// are trimmed and counted with the first place.
TEST(import_messy_exports)
{
	const char *cat = "bundle_id,item_id\nb1,i1\nb2,i2\n";
	expect_import_error(cat, "user_id,bundle_id\nu1,b1\nCaf\xe9,b2\n", NULL,
			FB_EFORMAT, "ub.csv:3:4: invalid UTF-8 (byte 0xe9)");
	// A truncated sequence, an overlong '/', a surrogate.
	expect_import_error(cat, "user_id,bundle_id,note\nu1,b1,\"x\xc3\"\n",
			NULL, FB_EFORMAT,
			"ub.csv:2:9: invalid UTF-8 (byte 0xc3)");
	expect_import_error(cat, "user_id,bundle_id\nu\xc0\xaf,b1\n", NULL,
			FB_EFORMAT, "ub.csv:2:2: invalid UTF-8 (byte 0xc0)");
	expect_import_error(cat, "user_id,bundle_id\nu\xed\xa0\x80,b1\n", NULL,
			FB_EFORMAT, "ub.csv:2:2: invalid UTF-8 (byte 0xed)");
	expect_import_error(cat, "user_id,bundle_id\n", NULL, FB_EFORMAT,
			"ub.csv: no data rows after the header");
	expect_import_error(cat, "user_id,bundle_id\r\n\r\n\n", NULL,
			FB_EFORMAT, "ub.csv: no data rows after the header");
	expect_import_error("bundle_id,item_id\n", "user_id,bundle_id\nu,b\n",
			NULL, FB_EFORMAT,
			"cat.csv: no data rows after the header");
	expect_import_error(cat, "user_id,bundle_id\nu1,b1\n",
			"user_id,item_id\n", FB_EFORMAT,
			"ui.csv: no data rows after the header");
	expect_import_error(cat, "user_id,bundle_id\nu1,\"  \"\n", NULL,
			FB_EFORMAT, "ub.csv:2: empty bundle_id");

	// Valid multi-byte ids pass; " b1" and "b1 " are b1.
	const char *in = fixture_dir(), *out = fixture_dir();
	struct fb_csvimport_options opt;
	fb_csvimport_options_init(&opt);
	opt.bundles_path = fixture_put(in, "cat.csv", cat);
	opt.interactions_path = fixture_put(in, "ub.csv",
			"user_id,bundle_id\nCaf\xc3\xa9,b1\n\xf0\x9f\x9b\x92, b1\n"
			"Caf\xc3\xa9,\"b2 \"\n");
	struct fb_csvimport_summary sum;
	CHECK_OK(fb_csvimport_run(&opt, out, &sum));
	CHECK(sum.n_users == 2 && sum.n_bundles == 2);
	CHECK(sum.notes.trimmed == 2);
	CHECK(sum.notes.trimmed_line == 3);
	CHECK(strcmp(sum.notes.trimmed_path, opt.interactions_path) == 0);
	char *maps = slurp(out, "bundles.map");
	CHECK(strcmp(maps, "0\tb1\n1\tb2\n") == 0);
	free(maps);
}

// A users x 50 relation where user u has len_of(u) bundles.
static uint32_t
len_of(uint32_t u)
{
	return u % 41;
}

static void
make_pool(struct fb_csr *all, uint32_t n_users)
{
	uint64_t n = 0;
	for (uint32_t u = 0; u < n_users; u++) {
		n += len_of(u);
	}
	uint32_t *r = malloc(n * sizeof(*r) + 4),
		 *c = malloc(n * sizeof(*c) + 4);
	n = 0;
	for (uint32_t u = 0; u < n_users; u++) {
		for (uint32_t k = 0; k < len_of(u); k++) {
			r[n] = u;
			c[n++] = (u * 7 + k * 3) % 50;
		}
	}
	// (u*7 + 3k) mod 50 is distinct for k < 50 / gcd(3, 50) = 50.
	fb_err err = fb_csr_from_pairs(all, n_users, 50, r, c, n, false);
	free(r);
	free(c);
	CHECK_OK(err);
}

TEST(split_properties)
{
	const uint32_t n_users = 8200;
	struct fb_csr all, s[3], again[3], other[3];
	make_pool(&all, n_users);
	const double frac[3] = {0.7, 0.1, 0.2};
	CHECK_OK(fb_csvimport_split(s, &all, 42, frac));
	uint64_t total[3] = {0, 0, 0};
	for (uint32_t u = 0; u < n_users; u++) {
		uint32_t len = fb_csr_row_len(&all, u);
		uint32_t got[3];
		for (int k = 0; k < 3; k++) {
			got[k] = fb_csr_row_len(&s[k], u);
			total[k] += got[k];
			const uint32_t *row = fb_csr_row(&s[k], u);
			for (uint32_t j = 0; j < got[k]; j++) {
				CHECK(j == 0 || row[j - 1] < row[j]);
				CHECK(fb_csr_has(&all, u, row[j]));
				for (int o = 0; o < 3; o++) {
					CHECK(o == k ||
							!fb_csr_has(&s[o], u,
									row[j]));
				}
			}
		}
		CHECK(got[0] + got[1] + got[2] == len);
		if (len < 3) {
			CHECK(got[0] == len);
		} else {
			CHECK(got[0] >= 1 && got[1] >= 1 && got[2] >= 1);
		}
		// Hand-counted: 3 -> 1/1/1, and 4 -> 2/1/1 (test 0.8 and tune
		// 0.4 round to 0 or 1, then are raised to the minimum of 1).
		if (len == 3) {
			CHECK(got[0] == 1 && got[1] == 1 && got[2] == 1);
		}
		if (len == 4) {
			CHECK(got[0] == 2 && got[1] == 1 && got[2] == 1);
		}
	}
	uint64_t nnz = fb_csr_nnz(&all);
	CHECK(total[0] + total[1] + total[2] == nnz);
	// Rows of 0..40 pairs average 20, so the minimum of one pushes tune
	// and test slightly above their shares; within 1.5 points overall.
	CHECK_NEAR((double)total[0] / nnz, 0.7, 0.015);
	CHECK_NEAR((double)total[1] / nnz, 0.1, 0.015);
	CHECK_NEAR((double)total[2] / nnz, 0.2, 0.015);
	// Same seed, same split; another seed, another split.
	CHECK_OK(fb_csvimport_split(again, &all, 42, frac));
	CHECK_OK(fb_csvimport_split(other, &all, 43, frac));
	CHECK(memcmp(again[2].col, s[2].col, fb_csr_nnz(&s[2]) * 4) == 0);
	CHECK(fb_csr_nnz(&other[2]) != fb_csr_nnz(&s[2]) ||
			memcmp(other[2].col, s[2].col, fb_csr_nnz(&s[2]) * 4) !=
					0);
	for (int k = 0; k < 3; k++) {
		fb_csr_finish(&s[k]);
		fb_csr_finish(&again[k]);
		fb_csr_finish(&other[k]);
	}
	fb_csr_finish(&all);
}

TEST(split_without_tune)
{
	struct fb_csr all, s[3];
	make_pool(&all, 2000);
	const double frac[3] = {0.8, 0.0, 0.2};
	CHECK_OK(fb_csvimport_split(s, &all, 1, frac));
	CHECK(fb_csr_nnz(&s[1]) == 0);
	for (uint32_t u = 0; u < 2000; u++) {
		if (fb_csr_row_len(&all, u) >= 3) {
			CHECK(fb_csr_row_len(&s[2], u) >= 1);
			CHECK(fb_csr_row_len(&s[0], u) >= 1);
		}
	}
	for (int k = 0; k < 3; k++) {
		fb_csr_finish(&s[k]);
	}
	const double bad[][3] = {{0.7, 0.1, 0.1}, {0.0, 0.5, 0.5},
			{1.2, -0.1, -0.1}, {0.7, 0.3, NAN}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_ERR(fb_csvimport_split(s, &all, 1, bad[i]), FB_EINVAL);
	}
	fb_csr_finish(&all);
}

int
main(void)
{
	fixture_init("csvimport");
	RUN(reader_quoting);
	RUN(reader_errors_name_the_line);
	RUN(import_maps_and_dataset);
	RUN(import_errors);
	RUN(import_messy_exports);
	RUN(split_properties);
	RUN(split_without_tune);
	fixture_finish();
	return harness_done();
}
