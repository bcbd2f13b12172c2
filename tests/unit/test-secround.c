// tests/unit/test-secround.c: the aggregator's side of secure aggregation
// (server/secround.c, protocols/secagg-v1.md): its configuration keys and
// their refusals, the parameters of a round of n parties, the no-wrap
// bound of §2.2, the consortium id of §3.6 and the step the aggregator
// makes from an unmasked sum, checked against the formula of the plan
// (gradient = sum * grid / (q * N), one SGD step) on the toy catalogue.
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/data/datagen.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/log.h"
#include "harness.h"
#include "server/config.h"
#include "server/round.h"
#include "server/secround.h"

static char workdir[64];
static struct fb_dataset *catalogue;

// Writes the configuration {base keys, round: {round}, extra top keys}
// and loads it into *cfg.
static fb_err
load(struct agg_config *cfg, const char *top, const char *round)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/agg.json", workdir);
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		return FB_EIO;
	}
	fprintf(fp,
			"{\"key\": \"k\", \"roster\": \"r\", \"catalog\": "
			"\"c\"%s%s, \"round\": {\"min_users\": 10, "
			"\"noise_multiplier\": 1%s%s}}\n",
			top[0] != '\0' ? ", " : "", top,
			round[0] != '\0' ? ", " : "", round);
	fclose(fp);
	return agg_config_load(cfg, path);
}

TEST(secure_defaults_one_sgd_release_per_round)
{
	struct agg_config cfg;
	CHECK_OK(load(&cfg, "", "\"secure_aggregation\": true"));
	CHECK(cfg.round.secure_aggregation);
	CHECK(cfg.round.local_steps == 1);
	CHECK(cfg.round.hp.optimizer == FB_OPT_SGD);
	CHECK(cfg.round.secagg_threshold == 0);
	CHECK(cfg.round.secagg_min_survivors == 0);
	CHECK(cfg.round.secagg_assumed_colluders == 0);
	CHECK(cfg.round.secagg_stage_ms == 10000);
	// Without it, the defaults are the usual ones.
	struct agg_config d, plain;
	agg_config_defaults(&d);
	CHECK_OK(load(&plain, "", ""));
	CHECK(!plain.round.secure_aggregation);
	CHECK(plain.round.local_steps == d.round.local_steps);
	CHECK(plain.round.hp.optimizer == d.round.hp.optimizer);
	// Explicit values that fit are kept.
	CHECK_OK(load(&cfg, "",
			"\"secure_aggregation\": true, \"local_steps\": 1, "
			"\"optimizer\": \"sgd\", \"secagg_threshold\": 3, "
			"\"secagg_min_survivors\": 4, "
			"\"secagg_assumed_colluders\": 1, "
			"\"secagg_stage_ms\": 500"));
	CHECK(cfg.round.secagg_threshold == 3);
	CHECK(cfg.round.secagg_min_survivors == 4);
	CHECK(cfg.round.secagg_assumed_colluders == 1);
	CHECK(cfg.round.secagg_stage_ms == 500);
}

// Loads and expects FB_EINVAL whose detail names key.
static void
refused(const char *top, const char *round, const char *key)
{
	struct agg_config cfg;
	CHECK_ERR(load(&cfg, top, round), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), key);
}

TEST(secure_refuses_what_it_cannot_run)
{
	refused("", "\"secure_aggregation\": true, \"local_steps\": 2",
			"round.local_steps");
	refused("", "\"secure_aggregation\": true, \"optimizer\": \"adam\"",
			"round.optimizer");
	refused("", "\"secure_aggregation\": true, \"granularity\": \"client\"",
			"round.granularity");
	refused("", "\"secure_aggregation\": true, \"granularity\": \"none\"",
			"round.granularity");
	refused("\"participation\": \"sampled\"",
			"\"secure_aggregation\": true", "participation");
	refused("",
			"\"secure_aggregation\": true, \"secagg_threshold\": 4, "
			"\"secagg_min_survivors\": 3",
			"round.secagg_min_survivors");
	refused("",
			"\"secure_aggregation\": true, \"secagg_threshold\": 3, "
			"\"secagg_assumed_colluders\": 3",
			"round.secagg_assumed_colluders");
	refused("", "\"secure_aggregation\": true, \"secagg_threshold\": 2001",
			"secagg_threshold");
	refused("", "\"secure_aggregation\": true, \"secagg_stage_ms\": 0",
			"secagg_stage_ms");
}

TEST(round_parameters_follow_the_parties)
{
	struct agg_config cfg;
	agg_config_defaults(&cfg);
	struct agg_round_config *r = &cfg.round;
	r->secure_aggregation = true;
	struct agg_secagg_params p;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.n == 4 && p.t == 3 && p.n_min == 3 && p.h == 3);
	CHECK_OK(agg_secagg_params(r, 5, &p));
	CHECK(p.t == 3 && p.n_min == 3 && p.h == 3);
	CHECK_ERR(agg_secagg_params(r, 2, &p), FB_EINVAL);
	CHECK_ERR(agg_secagg_params(r, 2001, &p), FB_EINVAL);
	// c colluders: t > (n + c) / 2 (secagg-v1 §10.3), h = n_min - c.
	r->secagg_assumed_colluders = 1;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.t == 3 && p.n_min == 3 && p.h == 2);
	r->secagg_threshold = 2; // 2 * 2 <= 4 + 1
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_threshold");
	r->secagg_threshold = 5; // more than the parties
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	r->secagg_threshold = 3;
	r->secagg_min_survivors = 5;
	CHECK_ERR(agg_secagg_params(r, 4, &p), FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_min_survivors");
	r->secagg_min_survivors = 4;
	CHECK_OK(agg_secagg_params(r, 4, &p));
	CHECK(p.t == 3 && p.n_min == 4 && p.h == 3);
}

TEST(no_wrap_bound_of_the_ring)
{
	struct agg_secagg_params p = {4, 3, 3, 3};
	// fedbundle's grid: 2^26..2^27 noise steps, clip below 2^31 steps.
	int32_t g = fb_dp_grid_for(1.0 * 1.0, 1.0);
	CHECK(agg_secagg_no_wrap(&p, 1.0, 1.0, g));
	// A grid so fine that the clip alone is 2^62 steps: 4 of them wrap.
	CHECK(!agg_secagg_no_wrap(&p, 1.0, 1.0, -62));
	// The honest sum bound: n clipped releases plus the noise's bound.
	double b1 = agg_secagg_sum_bound(&p, 3, 1.0, 1.0, g, 100);
	double b2 = agg_secagg_sum_bound(&p, 4, 1.0, 1.0, g, 100);
	CHECK(b1 > 3 * floor(ldexp(1.0, -g)) && b2 > b1);
}

TEST(consortium_id_is_the_spec_hash)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/roster", workdir);
	FILE *fp = fopen(path, "w");
	CHECK(fp != NULL);
	fputs("a line\n", fp);
	fclose(fp);
	uint8_t pk[FB_ID_PK_LEN];
	memset(pk, 7, sizeof(pk));
	uint8_t id[FB_SECAGG_CONSORTIUM_LEN];
	CHECK_OK(agg_secagg_consortium(pk, path, id));
	// secagg-v1 §3.6, computed here from the definition.
	uint8_t rh[32], full[32];
	crypto_generichash(rh, 32, (const uint8_t *)"a line\n", 7, NULL, 0);
	uint8_t msg[30 + 32 + 32];
	memcpy(msg, "fedbundle/secagg-v1/consortium", 30);
	memcpy(msg + 30, pk, 32);
	memcpy(msg + 62, rh, 32);
	crypto_generichash(full, 32, msg, sizeof(msg), NULL, 0);
	CHECK(memcmp(id, full, FB_SECAGG_CONSORTIUM_LEN) == 0);
	snprintf(path, sizeof(path), "%s/no-such-roster", workdir);
	CHECK(agg_secagg_consortium(pk, path, id) != FB_OK);
}

// A federation with secure aggregation over the toy catalogue.
static void
open_fed(struct agg_fed *fed, struct agg_config *cfg, struct fb_roster **ro)
{
	agg_config_defaults(cfg);
	snprintf(cfg->checkpoint_dir, sizeof(cfg->checkpoint_dir), "%s/ck",
			workdir);
	cfg->public_init = false;
	cfg->round.noise_multiplier = 1;
	cfg->round.hp.dim = 8;
	cfg->round.hp.use_attrs = false;
	cfg->round.hp.optimizer = FB_OPT_SGD;
	cfg->round.hp.l2 = 0;
	cfg->round.hp.lr = 0.5;
	cfg->round.local_steps = 1;
	cfg->round.min_users = 10;
	cfg->round.secure_aggregation = true;
	strcpy(cfg->key, "k");
	strcpy(cfg->roster, "r");
	strcpy(cfg->catalog, "c");
	CHECK_OK(agg_config_check(cfg, "test"));
	CHECK_OK(fb_roster_create(ro));
	for (uint32_t c = 0; c < 4; c++) {
		uint8_t pk[FB_ID_PK_LEN];
		memset(pk, (int)c + 1, sizeof(pk));
		char name[16];
		snprintf(name, sizeof(name), "retailer-%u", c);
		CHECK_OK(fb_roster_add(*ro, pk, name));
	}
	CHECK_OK(agg_fed_init(fed, cfg, catalogue, *ro, 0));
	fed->human = NULL;
}

TEST(step_from_the_sum_is_the_clients_dp_step)
{
	static struct agg_config cfg;
	static struct agg_fed fed;
	struct fb_roster *ro = NULL;
	open_fed(&fed, &cfg, &ro);
	struct agg_secround *sa = &fed.sa;
	CHECK(sa->enabled && sa->dim > 0);
	CHECK(sa->grid_log2 ==
			fb_dp_grid_for(fed.plan_cfg.noise_multiplier *
							cfg.round.clip,
					cfg.round.clip));
	struct fb_release_layout L;
	fb_hparams_release_layout(&fed.plan_cfg.hp, fed.model.n_items,
			fed.model.n_bundles, &L);
	CHECK(L.len == sa->dim);
	int64_t *sum = calloc(sa->dim, sizeof(*sum));
	CHECK(sum != NULL);
	for (size_t k = 0; k < sa->dim; k++) {
		sum[k] = (int64_t)(k % 7) * 1000003 - 3000000;
	}
	struct fb_model delta;
	CHECK_OK(fb_model_init(&delta, fed.model.n_items, fed.model.n_bundles,
			fed.model.n_attrs, fed.model.dim));
	uint64_t users = 123;
	CHECK_OK(agg_secround_delta(&fed, sum, users, &delta));
	// SGD, l2 0: W_b moves by -lr * grad of b's representation, which
	// is the layout's coordinates of b times grid / (q N).
	double scale = ldexp(1.0, sa->grid_log2) /
			(fed.plan_cfg.sampling_rate * (double)users);
	double lr = fed.plan_cfg.hp.lr;
	for (uint32_t b = 0; b < L.n_bundles; b++) {
		for (uint32_t c = 0; c < L.per_bundle; c++) {
			uint32_t col = c < L.lead ? c : L.dim - 1;
			double want = -lr *
					(float)((double)sum[b * L.per_bundle +
								c] *
							scale);
			double got = fb_matrix_row(&delta.W, b)[col];
			CHECK_NEAR(got, want, 1e-6 + 1e-4 * fabs(want));
		}
	}
	CHECK_ERR(agg_secround_delta(&fed, sum, 0, &delta), FB_EINVAL);
	fb_model_finish(&delta);
	free(sum);
	agg_fed_finish(&fed);
	fb_roster_destroy(ro);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	fb_log_set_level(FB_LOG_ERROR);
	snprintf(workdir, sizeof(workdir), "/tmp/fb-test-secround-XXXXXX");
	if (mkdtemp(workdir) == NULL) {
		return 99;
	}
	struct fb_datagen_config gc;
	fb_datagen_config_defaults(&gc);
	gc.seed = 1;
	gc.threads = 1;
	if (fb_datagen_apply_preset(&gc, "toy") != FB_OK ||
			fb_datagen_run(&catalogue, &gc, NULL) != FB_OK) {
		printf("Bail out! cannot make the toy catalogue\n");
		return 99;
	}
	RUN(secure_defaults_one_sgd_release_per_round);
	RUN(secure_refuses_what_it_cannot_run);
	RUN(round_parameters_follow_the_parties);
	RUN(no_wrap_bound_of_the_ring);
	RUN(consortium_id_is_the_spec_hash);
	RUN(step_from_the_sum_is_the_clients_dp_step);
	fb_dataset_destroy(catalogue);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", workdir);
	}
	return harness_done();
}
