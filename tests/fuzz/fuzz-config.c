// tests/fuzz/fuzz-config.c: libFuzzer target for the strict JSON config
// parser (common/util/config.c) under each of its real schemas. The first byte
// picks the schema, the rest is the file:
//   0  `fedbundle train --config` (train fields + the "dp" section),
//      through fb_config_parse on the buffer;
//   1  the "dp" fields alone (a DP config as its own file);
//   2  the aggregator's configuration (server/config.c agg_config_load:
//      the parser, path resolution and every cross-field check);
//   3  a retailer's policy (client/policy.c node_policy_load).
// 2 and 3 read a file, so the input goes through a scratch file. Besides
// "no crash, no sanitizer report" it aborts when an accepted config fails
// its own checks (train, dp) or when an error has no detail naming the
// input.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fedbundle/model/train.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/config.h"
#include "fuzz-tmp.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-config: invariant broken: %s\n", what);
		abort();
	}
}

static void
names_input(fb_err err, const char *label)
{
	if (err != FB_OK) {
		if (strstr(fb_last_error(err), label) == NULL) {
			fprintf(stderr, "detail: %s\n", fb_last_error(err));
		}
		require(strstr(fb_last_error(err), label) != NULL,
				"error detail names the file");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 16)) {
		return 0;
	}
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] & 3) {
	case 0: {
		struct fb_train_config t;
		struct fb_dp_config d;
		fb_train_config_defaults(&t);
		fb_dp_config_defaults(&d);
		size_t n_dp;
		const struct fb_cfg_field *fd = fb_dp_config_fields(&n_dp);
		struct fb_cfg_section s[FB_TRAIN_CONFIG_SECTIONS + 1] = {
				{"dp", fd, n_dp, &d}};
		fb_train_config_sections(&t, "", s + 1);
		fb_err err = fb_config_parse("train.json", text, len, s,
				FB_TRAIN_CONFIG_SECTIONS + 1);
		names_input(err, "train.json");
		if (err == FB_OK) {
			// The range checks of the schema hold for what it took.
			(void)fb_train_config_check(&t);
			(void)fb_dp_config_check(&d);
		}
		break;
	}
	case 1: {
		struct fb_dp_config d;
		fb_dp_config_defaults(&d);
		size_t n_dp;
		const struct fb_cfg_field *fd = fb_dp_config_fields(&n_dp);
		struct fb_cfg_section s = {"", fd, n_dp, &d};
		names_input(fb_config_parse("dp.json", text, len, &s, 1),
				"dp.json");
		break;
	}
	case 2: {
		const char *path = fuzz_tmp_write(
				"server.json", data + 1, len, 0600);
		static struct agg_config c;
		if (path != NULL) {
			fb_err err = agg_config_load(&c, path);
			names_input(err, "server.json");
			if (err == FB_OK) {
				require(c.n_urls >= 1, "a listen URL");
				require(c.quorum >= 1 && c.rounds >= 1,
						"quorum and rounds checked");
			}
		}
		break;
	}
	default: {
		const char *path = fuzz_tmp_write(
				"policy.json", data + 1, len, 0600);
		static struct node_policy p;
		if (path != NULL) {
			fb_err err = node_policy_load(&p, path);
			names_input(err, "policy.json");
			if (err == FB_OK) {
				require(p.ledger[0] != '\0', "a ledger path");
				require(p.data_dir[0] != '\0' &&
								p.key[0] != '\0',
						"required keys present");
			}
		}
		break;
	}
	}
	return 0;
}
