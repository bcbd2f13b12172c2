// tests/unit/test-config.c: the strict JSON config parser: defaults kept,
// values copied, and every kind of bad input refused with the key path.
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/train.h"
#include "fedbundle/util/config.h"
#include "harness.h"

struct sample {
	uint32_t n;
	double x;
	bool flag;
	int mode;
	uint32_t list[4];
	uint32_t n_list;
	char name[8];
	uint64_t big;
};

static const char *const modes[] = {"fast", "slow", NULL};

#define O(f) offsetof(struct sample, f)
static const struct fb_cfg_field fields[] = {
		{.name = "n",
				.type = FB_CFG_U32,
				.offset = O(n),
				.min = 1,
				.max = 10},
		{.name = "x",
				.type = FB_CFG_DOUBLE,
				.offset = O(x),
				.min = 0,
				.max = 1},
		{.name = "flag", .type = FB_CFG_BOOL, .offset = O(flag)},
		{.name = "mode",
				.type = FB_CFG_ENUM,
				.offset = O(mode),
				.choices = modes},
		{.name = "list",
				.type = FB_CFG_U32_LIST,
				.offset = O(list),
				.min = 1,
				.max = 100,
				.list_max = 4,
				.count_offset = O(n_list)},
		{.name = "name",
				.type = FB_CFG_STRING,
				.offset = O(name),
				.str_cap = 8},
};

struct inner {
	uint64_t big;
};
static const struct fb_cfg_field inner_fields[] = {
		{.name = "big",
				.type = FB_CFG_U64,
				.offset = 0,
				.min = 0,
				.max = 9007199254740992.0},
};

static fb_err
parse(const char *text, struct sample *s, struct inner *in)
{
	struct fb_cfg_section sections[2] = {
			{"", fields, sizeof(fields) / sizeof(fields[0]), s},
			{"inner", inner_fields, 1, in},
	};
	return fb_config_parse("t.json", text, strlen(text), sections, 2);
}

TEST(values_are_copied_and_defaults_kept)
{
	struct sample s = {.n = 3, .x = 0.5, .mode = 1};
	struct inner in = {7};
	CHECK_OK(parse("{\"x\": 0.25, \"flag\": true, \"mode\": \"fast\", "
		       "\"list\": [20, 40], \"name\": \"abc\", "
		       "\"inner\": {\"big\": 4294967296}}",
			&s, &in));
	CHECK(s.n == 3); // default kept
	CHECK(s.x == 0.25 && s.flag && s.mode == 0);
	CHECK(s.n_list == 2 && s.list[0] == 20 && s.list[1] == 40);
	CHECK(strcmp(s.name, "abc") == 0);
	CHECK(in.big == 4294967296ULL);
}

static void
expect_error(const char *text, const char *needle)
{
	struct sample s = {0};
	struct inner in = {0};
	fb_err err = parse(text, &s, &in);
	if (err != FB_EINVAL) {
		HARNESS_FAIL("accepted: %s", text);
	}
	CHECK_STR_CONTAINS(fb_last_error(err), "t.json");
	CHECK_STR_CONTAINS(fb_last_error(err), needle);
}

TEST(bad_input_is_refused_with_the_key_path)
{
	expect_error("{\"nn\": 1}", "nn: unknown key");
	expect_error("{\"N\": 1}", "N: unknown key"); // case-sensitive
	expect_error("{\"n\": \"1\"}", "n: expected an integer, got a string");
	expect_error("{\"n\": 1.5}", "n: 1.5 is not an integer");
	expect_error("{\"n\": 11}", "n: 11 outside 1..10");
	expect_error("{\"n\": 0}", "n: 0 outside");
	expect_error("{\"n\": -3}", "n: -3 outside");
	expect_error("{\"x\": true}", "x: expected a number, got a boolean");
	expect_error("{\"x\": 2}", "x: 2 outside 0..1");
	expect_error("{\"flag\": 1}", "flag: expected true or false");
	expect_error("{\"mode\": \"medium\"}",
			"mode: \"medium\" is not one of: "
			"fast, slow");
	expect_error("{\"list\": []}", "list: needs 1 to 4 elements");
	expect_error("{\"list\": [1,2,3,4,5]}", "list: needs 1 to 4");
	expect_error("{\"list\": [1, 0]}", "list[1]: 0 outside");
	expect_error("{\"list\": 5}", "list: expected an array");
	expect_error("{\"name\": \"toolongname\"}", "name: longer than 7");
	expect_error("{\"inner\": {\"bigg\": 1}}", "inner.bigg: unknown key");
	expect_error("{\"inner\": 3}", "inner: expected an object");
	expect_error("{\"n\": 1, \"n\": 2}", "n: key appears twice");
	expect_error("[1, 2]", "expected a JSON object, got an array");
	expect_error("{\"n\": 1} x", "trailing characters");
	expect_error("{\"n\": 1,\n \"x\": }", "t.json:2:");
	expect_error("", "invalid JSON");
}

TEST(train_schema_accepts_a_full_config_and_refuses_typos)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	struct fb_cfg_section s[FB_TRAIN_CONFIG_SECTIONS];
	fb_train_config_sections(&cfg, "", s);
	const char *ok = "{\"dim\": 32, \"lr\": 0.002, \"optimizer\": \"sgd\", "
			 "\"item_view\": false, \"ks\": [10, 20, 40], "
			 "\"seed\": 123456789012}";
	CHECK_OK(fb_config_parse("train.json", ok, strlen(ok), s,
			FB_TRAIN_CONFIG_SECTIONS));
	CHECK(cfg.hp.dim == 32 && cfg.hp.lr == 0.002 &&
			cfg.hp.optimizer == FB_OPT_SGD);
	CHECK(!cfg.hp.item_view && cfg.n_k == 3 && cfg.ks[2] == 40);
	CHECK(cfg.seed == 123456789012ULL);
	CHECK_OK(fb_train_config_check(&cfg));
	const char *typo = "{\"learning_rate\": 0.1}";
	CHECK_ERR(fb_config_parse("train.json", typo, strlen(typo), s,
				  FB_TRAIN_CONFIG_SECTIONS),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"train.json: learning_rate: unknown key");
	// The former name of negatives still works.
	const char *old = "{\"neg_per_pos\": 5}";
	CHECK_OK(fb_config_parse("train.json", old, strlen(old), s,
			FB_TRAIN_CONFIG_SECTIONS));
	CHECK(cfg.hp.negatives == 5);
	// Every key of the schema has a help line (docs are generated from it).
	for (size_t j = 0; j < FB_TRAIN_CONFIG_SECTIONS; j++) {
		for (size_t k = 0; k < s[j].n_fields; k++) {
			CHECK(s[j].fields[k].help != NULL &&
					s[j].fields[k].help[0] != '\0');
		}
	}
}

// A named section may be made of several tables (the aggregator's
// "round": its own keys and the shared hyper-parameters, hparams.h).
TEST(a_section_of_several_tables)
{
	struct outer {
		uint32_t rounds;
		struct fb_hparams hp;
	} o = {0};
	fb_hparams_defaults(&o.hp);
	static const struct fb_cfg_field own[] = {
			{"rounds", FB_CFG_U32, offsetof(struct outer, rounds),
					1, 10, .help = "rounds"},
	};
	size_t n;
	const struct fb_cfg_field *hp = fb_hparams_fields(&n);
	struct fb_cfg_section s[2] = {
			{"round", own, 1, &o},
			{"round", hp, n, &o.hp},
	};
	const char *ok = "{\"round\": {\"rounds\": 3, \"dim\": 8, "
			 "\"bundle_rank\": 4}}";
	CHECK_OK(fb_config_parse("s.json", ok, strlen(ok), s, 2));
	CHECK(o.rounds == 3 && o.hp.dim == 8 && o.hp.bundle_rank == 4);
	const char *typo = "{\"round\": {\"dims\": 8}}";
	CHECK_ERR(fb_config_parse("s.json", typo, strlen(typo), s, 2),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"s.json: round.dims: unknown key");
	const char *twice = "{\"round\": {\"dim\": 8, \"dim\": 9}}";
	CHECK_ERR(fb_config_parse("s.json", twice, strlen(twice), s, 2),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "key appears twice");
}

// An array of objects parsed with a sub-schema, a nullable number and
// required keys (the aggregator's checkpoint metadata).
struct client {
	char name[8];
	double eps;
	uint32_t updates;
};
struct roster {
	struct client c[3];
	uint32_t n;
};

#define C(f) offsetof(struct client, f)
static const struct fb_cfg_field client_fields[] = {
		{.name = "name",
				.type = FB_CFG_STRING,
				.offset = C(name),
				.str_cap = 8,
				.required = true},
		{.name = "eps",
				.type = FB_CFG_DOUBLE_OR_NULL,
				.offset = C(eps),
				.min = 0,
				.max = 100,
				.required = true},
		{.name = "updates",
				.type = FB_CFG_U32,
				.offset = C(updates),
				.max = 10},
};
static const struct fb_cfg_field roster_fields[] = {
		{.name = "clients",
				.type = FB_CFG_OBJECT_LIST,
				.offset = offsetof(struct roster, c),
				.list_max = 3,
				.count_offset = offsetof(struct roster, n),
				.sub = client_fields,
				.n_sub = 3,
				.elem_size = sizeof(struct client),
				.required = true},
};

static fb_err
parse_roster(const char *text, struct roster *r)
{
	struct fb_cfg_section s = {"", roster_fields, 1, r};
	return fb_config_parse("r.json", text, strlen(text), &s, 1);
}

TEST(object_lists_nullable_numbers_and_required_keys)
{
	struct roster r = {.c = {{.updates = 7}, {.updates = 7}}, .n = 9};
	CHECK_OK(parse_roster("{\"clients\": [{\"name\": \"a\", \"eps\": "
			      "1.5, \"updates\": 2}, {\"name\": \"b\", "
			      "\"eps\": null}]}",
			&r));
	CHECK(r.n == 2 && strcmp(r.c[0].name, "a") == 0);
	CHECK(r.c[0].eps == 1.5 && r.c[0].updates == 2);
	CHECK(strcmp(r.c[1].name, "b") == 0 && isnan(r.c[1].eps));
	CHECK(r.c[1].updates == 7); // an absent optional key keeps its value
	CHECK_OK(parse_roster("{\"clients\": []}", &r));
	CHECK(r.n == 0);
	static const char *const bad[][2] = {
			{"{}", "r.json: clients: missing"},
			{"{\"clients\": {}}",
					"r.json: clients: expected an array, "
					"got an object"},
			{"{\"clients\": [1]}",
					"r.json: clients[0]: expected an "
					"object, got a number"},
			{"{\"clients\": [{\"name\": \"a\", \"eps\": 1}, "
			 "{\"name\": \"b\"}]}",
					"r.json: clients[1].eps: missing"},
			{"{\"clients\": [{\"name\": \"a\", \"eps\": \"x\"}]}",
					"r.json: clients[0].eps: expected a "
					"number or null, got a string"},
			{"{\"clients\": [{\"name\": \"a\", \"eps\": -1}]}",
					"r.json: clients[0].eps: -1 outside "
					"0..100"},
			{"{\"clients\": [{\"name\": \"a\", \"eps\": 1, "
			 "\"who\": 1}]}",
					"r.json: clients[0].who: unknown key"},
			{"{\"clients\": [{\"name\": \"a\", \"eps\": 1, "
			 "\"eps\": 2}]}",
					"r.json: clients[0].eps: key appears "
					"twice"},
			{"{\"clients\": [{}, {}, {}, {}]}",
					"r.json: clients: has 4 elements, at "
					"most 3 allowed"},
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		CHECK_ERR(parse_roster(bad[k][0], &r), FB_EINVAL);
		CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), bad[k][1]);
	}
}

// Collects what fb_config_each hands over, one "key|kind|text|string" line
// per item.
static fb_err
collect(void *ctx, const struct fb_cfg_item *item)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 512 - n, "%s|%zu|%s|%s|%s\n",
			item->key != NULL ? item->key : "-", item->index,
			fb_config_kind_name(item->kind), item->text,
			item->string != NULL ? item->string : "-");
	return strcmp(item->text, "\"stop\"") == 0 ? FB_EPROTO : FB_OK;
}

TEST(each_walks_unknown_keys_as_json_text)
{
	char out[512] = "";
	const char *obj = "{\"b\": [1, 2.50, \"x\"], \"a\": {\"k\": true},"
			  " \"s\": \"q\\\"t\", \"n\": null}";
	CHECK_OK(fb_config_each("g.json", "", obj, strlen(obj),
			FB_CFG_KIND_OBJECT, collect, out));
	CHECK(strcmp(out,
			      "b|0|an array|[1,2.5,\"x\"]|-\n"
			      "a|1|an object|{\"k\":true}|-\n"
			      "s|2|a string|\"q\\\"t\"|q\"t\n"
			      "n|3|null|null|-\n") == 0);
	out[0] = '\0';
	const char *arr = "[false, 1e3]";
	CHECK_OK(fb_config_each("g.json", "axes.x", arr, strlen(arr),
			FB_CFG_KIND_ARRAY, collect, out));
	CHECK(strcmp(out, "-|0|a boolean|false|-\n-|1|a number|1000|-\n") == 0);
	// The callback's error stops the walk.
	out[0] = '\0';
	const char *stop = "[\"stop\", 1]";
	CHECK_ERR(fb_config_each("g.json", "", stop, strlen(stop),
				  FB_CFG_KIND_ARRAY, collect, out),
			FB_EPROTO);
	CHECK(strchr(out, '\n') == strrchr(out, '\n')); // one item seen
	CHECK_ERR(fb_config_each("g.json", "axes", arr, strlen(arr),
				  FB_CFG_KIND_OBJECT, collect, out),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"g.json: axes: expected an object, got an array");
	CHECK_ERR(fb_config_each("g.json", "", arr, strlen(arr),
				  FB_CFG_KIND_OBJECT, collect, out),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL),
			"g.json: expected an object, got an array");
	CHECK_ERR(fb_config_each("g.json", "", "{\n,", 3, FB_CFG_KIND_OBJECT,
				  collect, out),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "g.json:2:");
	CHECK_ERR(fb_config_each("g.json", "", "[] x", 4, FB_CFG_KIND_ARRAY,
				  collect, out),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "trailing characters");
}

TEST(write_string_escapes_like_cjson)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	CHECK(fp != NULL);
	CHECK(fb_config_write_string(fp, "a\"b\\c\b\f\n\r\t\x01\x1f\xc3\xa9/"));
	CHECK(fb_config_write_string(fp, ""));
	fclose(fp);
	CHECK(strcmp(buf,
			      "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f"
			      "\xc3\xa9/\"\"\"") == 0);
	free(buf);
}

int
main(void)
{
	RUN(values_are_copied_and_defaults_kept);
	RUN(bad_input_is_refused_with_the_key_path);
	RUN(train_schema_accepts_a_full_config_and_refuses_typos);
	RUN(a_section_of_several_tables);
	RUN(object_lists_nullable_numbers_and_required_keys);
	RUN(each_walks_unknown_keys_as_json_text);
	RUN(write_string_escapes_like_cjson);
	return harness_done();
}
