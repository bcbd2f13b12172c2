// server/config.c: the aggregator's JSON schema (server/config.h). Every
// key has a range and a help line; relative paths are resolved against
// the configuration file's folder so that a work folder can be moved.
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/model/train.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"

static const char *const gran_names[] = {"none", "user", "client", NULL};
static const char *const part_names[] = {"all", "sampled", NULL};
static const char *const sopt_names[] = {"fedavg", "fedadam", NULL};
static const char *const acct_names[] = {"rdp", "pld", NULL};

// The largest configuration file read (fb_config_load's limit).
#define AGG_CONFIG_MAX (1u << 20)

#define T(f) offsetof(struct agg_config, f)
#define S(f) .str_cap = sizeof(((struct agg_config *)0)->f)
static const struct fb_cfg_field top_fields[] = {
		{"listen", FB_CFG_STRING, T(listen), S(listen),
				.help = "URLs to listen on, comma-separated "
					"(tcp://host:port, ipc:///path)"},
		{"status_listen", FB_CFG_STRING, T(status_listen),
				S(status_listen),
				.help = "serve GET /metrics (Prometheus text "
					"format: rounds, clients, traffic, "
					"epsilon) on this http://host:port "
					"(empty: off)"},
		{"key", FB_CFG_STRING, T(key), S(key),
				.help = "the aggregator's identity key file "
					"(fedbundle keygen)"},
		{"roster", FB_CFG_STRING, T(roster), S(roster),
				.help = "enrolled clients: one .pub line each"},
		{"catalog", FB_CFG_STRING, T(catalog), S(catalog),
				.help = "dataset folder of the public catalogue "
					"(`fedbundle catalog build`; only "
					"sizes, bundle_item, item_attr and the "
					"id maps are used)"},
		{"catalog_digest", FB_CFG_STRING, T(catalog_digest),
				S(catalog_digest),
				.help = "the catalogue version every party "
					"uses (`fedbundle catalog digest`); "
					"start-up fails if catalog has another"},
		{"checkpoint_dir", FB_CFG_STRING, T(checkpoint_dir),
				S(checkpoint_dir),
				.help = "where the checkpoint (and the client-level "
					"DP ledger) live"},
		{"rounds", FB_CFG_U32, T(rounds), 1, 1e6,
				.help = "round ids to run (committed or abandoned)"},
		{"quorum", FB_CFG_U32, T(quorum), 1, 1e6,
				.help = "updates needed to commit a round"},
		{"min_clients", FB_CFG_U32, T(min_clients), 0, 1e6,
				.help = "connected clients to wait for before "
					"planning a round (0: all enrolled)"},
		{"plan_wait_ms", FB_CFG_U32, T(plan_wait_ms), 0, 864e5,
				.help = "after this wait, plan with a quorum of "
					"connected clients"},
		{"deadline_ms", FB_CFG_U32, T(deadline_ms), 1, 864e5,
				.help = "collection time of a round"},
		{"retry_after_ms", FB_CFG_U32, T(retry_after_ms), 0, 36e5,
				.help = "PLAN WAIT: poll again after this"},
		{"upload_slots", FB_CFG_U32, T(upload_slots), 0, 1e6,
				.help = "clients allowed to upload at once "
					"(bounds the memory of updates in "
					"flight; 0: no limit)"},
		{"upload_grant_ms", FB_CFG_U32, T(upload_grant_ms), 1, 36e5,
				.help = "an upload slot not used within this is "
					"given to another client"},
		{"upload_retry_ms", FB_CFG_U32, T(upload_retry_ms), 0, 6e4,
				.help = "a client waiting for an upload slot asks "
					"again after this (at least 100 ms)"},
		{"download_slots", FB_CFG_U32, T(download_slots), 0, 1e6,
				.help = "clients sent the model (PLAN TRAIN or "
					"DONE) at once (bounds the memory of "
					"replies in flight; 0: no limit)"},
		{"download_grant_ms", FB_CFG_U32, T(download_grant_ms), 1, 36e5,
				.help = "a model download the client has not "
					"confirmed (by its next message) frees "
					"its slot after this"},
		{"download_retry_ms", FB_CFG_U32, T(download_retry_ms), 0, 6e4,
				.help = "a client waiting for a download slot "
					"polls again after this (at least "
					"100 ms)"},
		{"linger_ms", FB_CFG_U32, T(linger_ms), 0, 36e5,
				.help = "after the last round, keep answering DONE "
					"this long"},
		{"participation", FB_CFG_ENUM, T(participation),
				.choices = part_names,
				.help = "all (connected clients) or sampled "
					"(Poisson, rate q_clients)"},
		{"q_clients", FB_CFG_DOUBLE, T(q_clients), 1e-9, 1,
				.help = "client sampling rate (participation "
					"sampled)"},
		{"server_optimizer", FB_CFG_ENUM, T(server_optimizer),
				.choices = sopt_names,
				.help = "fedavg or fedadam"},
		{"server_lr", FB_CFG_DOUBLE, T(server_lr), 1e-9, 1e3,
				.help = "server learning rate"},
		{"server_beta1", FB_CFG_DOUBLE, T(server_beta1), 0, 0.999999,
				.help = "FedAdam first-moment decay"},
		{"server_beta2", FB_CFG_DOUBLE, T(server_beta2), 0, 0.999999999,
				.help = "FedAdam second-moment decay"},
		{"server_tau", FB_CFG_DOUBLE, T(server_tau), 1e-12, 1,
				.help = "FedAdam adaptivity (epsilon)"},
		{"init_std", FB_CFG_DOUBLE, T(init_std), 0, 10,
				.help = "std of the initial global factors"},
		{"public_init", FB_CFG_BOOL, T(public_init),
				.help = "initialise item factors from the public "
					"catalogue (co-membership eigenvectors) and "
					"bundle factors at 0"},
		{"seed", FB_CFG_U64, T(seed), 0, 9007199254740992.0,
				.help = "seed of the initial model"},
		{"accountant", FB_CFG_ENUM, T(accountant),
				.choices = acct_names,
				.help = "rdp or pld: calibration and the "
					"client-level ledger"},
		{"contexts", FB_CFG_U32, T(contexts), 1, 1024,
				.help = "inproc:// requests served concurrently "
					"(NNG contexts)"},
		{"preauth_timeout_ms", FB_CFG_U32, T(preauth_timeout_ms), 100,
				36e5,
				.help = "a connection that has not authenticated "
					"this long after it opened (or lost its "
					"session) is closed"},
		{"preauth_message_ms", FB_CFG_U32, T(preauth_message_ms), 100,
				36e5,
				.help = "before authentication, a message whose "
					"first byte came must be complete within "
					"this, or the connection is closed"},
		{"message_timeout_ms", FB_CFG_U32, T(message_timeout_ms), 100,
				864e5,
				.help = "after authentication, the same for a "
					"request (an UPDATE: allow for the slowest "
					"link) and for sending a reply"},
		{"preauth_connections", FB_CFG_U32, T(preauth_connections), 1,
				1e6,
				.help = "unauthenticated connections open at once; "
					"a new one closes the oldest idle one"},
		{"max_refusals", FB_CFG_U32, T(max_refusals), 1, 1e6,
				.help = "refused messages in a row (before a "
					"successful handshake) that close a "
					"connection"},
		{"log_interval_ms", FB_CFG_U32, T(log_interval_ms), 100, 864e5,
				.help = "refusals are logged one by one up to a "
					"budget per interval, then summed up in "
					"one line per interval"},
		{"max_update_norm", FB_CFG_DOUBLE, T(max_update_norm), 0, 1e30,
				.help = "refuse (over-bound) an update of a larger "
					"L2 norm, below the bound derived from "
					"the plan (0: that bound only; the only "
					"bound of granularity none with sgd)"},
		{"max_model_abs", FB_CFG_DOUBLE, T(max_model_abs), 1e-6, 1e30,
				.help = "abandon a round whose new model would "
					"have a coordinate larger in absolute "
					"value"},
};
#undef S
#undef T

#define R(f) offsetof(struct agg_round_config, f)
// Before the shared hyper-parameters (hparams.c).
static const struct fb_cfg_field round_head[] = {
		{"granularity", FB_CFG_ENUM, R(granularity),
				.choices = gran_names,
				.help = "privacy unit: none, user (DP at each "
					"client) or client (DP-FedAvg, noise "
					"here)"},
		{"q", FB_CFG_DOUBLE, R(q), 1e-9, 1,
				.help = "user sampling rate of a local DP step"},
		{"noise_multiplier", FB_CFG_DOUBLE, R(noise_multiplier), 0, 1e6,
				.help = "sigma (0: calibrate to target_epsilon)"},
		{"target_epsilon", FB_CFG_DOUBLE, R(target_epsilon), 0, 1e6,
				.help = "epsilon to spend over all rounds "
					"(calibration; client-level budget)"},
		{"clip", FB_CFG_DOUBLE, R(clip), 1e-9, 1e6,
				.help = "L2 clipping norm per user (user) or per "
					"client update (client)"},
		{"delta", FB_CFG_DOUBLE, R(delta), 0, 0.1,
				.help = "delta of the accounting"},
		{"local_epochs", FB_CFG_U32, R(local_epochs), 0, 1e6,
				.help = "local passes per round"},
		{"local_steps", FB_CFG_U32, R(local_steps), 0, 1e6,
				.help = "local steps per round (0: local_epochs)"},
};

// After the shared hyper-parameters (hparams.c).
static const struct fb_cfg_field round_tail[] = {
		{"report_eval", FB_CFG_BOOL, R(report_eval),
				.help = "clients report Recall@20/NDCG@20 sums"},
		{"min_users", FB_CFG_U64, R(min_users), 0, 9007199254740992.0,
				.help = "granularity user (required; simulate: 0 "
					"takes the smallest retailer's): the "
					"fewest users a retailer may declare; "
					"honest updates are bounded from it"},
		{"secure_aggregation", FB_CFG_BOOL, R(secure_aggregation),
				.help = "granularity user: the aggregator learns "
					"only the sum of the retailers' masked "
					"releases, each noised with a share "
					"(protocols/secagg-v1.md); participation "
					"all, one release per round (local_steps "
					"1, optimizer sgd)"},
		{"secagg_threshold", FB_CFG_U32, R(secagg_threshold), 0, 2000,
				.help = "secure aggregation: shares needed to "
					"unmask, t (0: floor((n + "
					"secagg_assumed_colluders) / 2) + 1 of "
					"the round's n parties)"},
		{"secagg_min_survivors", FB_CFG_U32, R(secagg_min_survivors), 0,
				2000,
				.help = "secure aggregation: the fewest "
					"survivors a round commits with, n_min "
					">= t (0: n - max(1, floor(n / 10)), "
					"at least t); the noise is calibrated "
					"for n_min - secagg_assumed_colluders "
					"honest shares"},
		{"secagg_assumed_colluders", FB_CFG_U32,
				R(secagg_assumed_colluders), 0, 2000,
				.help = "secure aggregation: retailers assumed "
					"to collude with the aggregator, c "
					"(n_min - c >= 1)"},
		{"secagg_stage_ms", FB_CFG_U32, R(secagg_stage_ms), 1, 864e5,
				.help = "secure aggregation: how long the "
					"advertisement, share and unmask stages "
					"wait for the retailers"},
		{"secagg_max_users", FB_CFG_U64, R(secagg_max_users), 0,
				9007199254740992.0,
				.help = "secure aggregation: the most users a "
					"retailer may declare when its roster "
					"line has no max_users (0: no cap); an "
					"advertisement above its cap is refused "
					"and the retailer left out of the "
					"round"},
};
#undef R

void
agg_config_defaults(struct agg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->listen, "tcp://127.0.0.1:7411");
	strcpy(cfg->checkpoint_dir, "checkpoint");
	cfg->rounds = 10;
	cfg->quorum = 1;
	cfg->min_clients = 0;
	cfg->plan_wait_ms = 2000;
	cfg->deadline_ms = 60000;
	cfg->retry_after_ms = 200;
	cfg->upload_slots = 4;
	cfg->upload_grant_ms = 10000;
	cfg->upload_retry_ms = 100;
	cfg->download_slots = 4;
	cfg->download_grant_ms = 10000;
	cfg->download_retry_ms = 100;
	cfg->linger_ms = 3000;
	cfg->participation = AGG_PART_ALL;
	cfg->q_clients = 1.0;
	cfg->server_optimizer = AGG_OPT_FEDAVG;
	cfg->server_lr = 1.0;
	cfg->server_beta1 = 0.9;
	cfg->server_beta2 = 0.99;
	cfg->server_tau = 1e-3;
	// The model hyper-parameters follow the centralized defaults
	// (fb_train_config_defaults), so that both runs agree by default.
	struct fb_train_config tc;
	fb_train_config_defaults(&tc);
	cfg->init_std = tc.hp.init_std;
	cfg->public_init = tc.public_init;
	cfg->seed = 1;
	cfg->accountant = FB_ACCT_PLD;
	cfg->contexts = 32;
	cfg->preauth_timeout_ms = 10000;
	cfg->preauth_message_ms = 5000;
	cfg->message_timeout_ms = 60000;
	cfg->preauth_connections = 128;
	cfg->max_refusals = 4;
	cfg->log_interval_ms = 10000;
	cfg->max_update_norm = 0;
	cfg->max_model_abs = 1e4;
	struct agg_round_config *r = &cfg->round;
	r->granularity = FB_WIRE_GRAN_USER;
	r->q = 0.1;
	r->noise_multiplier = 0;
	r->target_epsilon = 8;
	r->clip = 1;
	r->delta = 1e-5;
	r->local_epochs = 1;
	r->local_steps = 0;
	r->hp = tc.hp;
	r->report_eval = false;
	r->secure_aggregation = false;
	r->secagg_stage_ms = 10000;
}

// Marks of a key the file did not name (agg_round_preset).
#define UNSET_STEPS UINT32_MAX
#define UNSET_OPT ((enum fb_optimizer)0x7f)

void
agg_round_preset(struct agg_round_config *r)
{
	r->local_steps = UNSET_STEPS;
	r->hp.optimizer = UNSET_OPT;
}

void
agg_round_resolve(struct agg_round_config *r,
		const struct agg_round_config *before)
{
	bool secure = r->secure_aggregation;
	if (r->local_steps == UNSET_STEPS) {
		r->local_steps = secure ? 1 : before->local_steps;
	}
	if (r->hp.optimizer == UNSET_OPT) {
		r->hp.optimizer = secure ? FB_OPT_SGD : before->hp.optimizer;
	}
}

// The default n_min: the round survives max(1, floor(n / 10)) dropouts.
// Each share is sized for n_min - c honest shares, so when all n survive
// the sum carries n / n_min times the target variance: n_min = t (about
// n / 2) would double it and cost accuracy at small epsilon (docs/research.md
// §3), n_min = n abandons a round at the first dropout. A public quantity
// (n) only; never below the threshold t.
uint32_t
agg_secagg_default_min_survivors(uint32_t n, uint32_t t)
{
	uint32_t tolerate = n / 10 > 1 ? n / 10 : 1;
	uint32_t n_min = n > tolerate ? n - tolerate : n;
	return n_min > t ? n_min : t;
}

fb_err
agg_secagg_params(const struct agg_round_config *r, uint32_t n,
		struct agg_secagg_params *out)
{
	uint32_t c = r->secagg_assumed_colluders;
	if (n < 3 || n > 2000) {
		return fb_errorf(FB_EINVAL,
				"secure aggregation needs 3 to 2000 parties, "
				"not %u",
				n);
	}
	uint32_t t = r->secagg_threshold > 0 ? r->secagg_threshold
					     : (n + c) / 2 + 1;
	// protocols/secagg-v1.md §2.3, §10.3: t > (n + c) / 2.
	if (2 * (uint64_t)t <= (uint64_t)n + c || t > n) {
		return fb_errorf(FB_EINVAL,
				"round.secagg_threshold: %u does not fit %u "
				"parties with %u assumed colluder(s): it must "
				"be above (n + c) / 2 and at most n",
				t, n, c);
	}
	uint32_t n_min = r->secagg_min_survivors > 0
			? r->secagg_min_survivors
			: agg_secagg_default_min_survivors(n, t);
	if (n_min < t || n_min > n) {
		return fb_errorf(FB_EINVAL,
				"round.secagg_min_survivors: %u is not "
				"between the threshold %u and the %u parties",
				n_min, t, n);
	}
	if (n_min <= c) {
		return fb_errorf(FB_EINVAL,
				"round.secagg_assumed_colluders: %u leaves no "
				"honest share among %u survivors",
				c, n_min);
	}
	*out = (struct agg_secagg_params){n, t, n_min, n_min - c};
	return FB_OK;
}

// The keys secure aggregation needs or refuses (server/secround.c).
static fb_err
check_secagg(const struct agg_config *c, const char *path)
{
	const struct agg_round_config *r = &c->round;
	if (!r->secure_aggregation) {
		return FB_OK;
	}
	const char *bad = NULL;
	if (r->granularity != FB_WIRE_GRAN_USER) {
		bad = "round.granularity: must be user";
	} else if (c->participation != AGG_PART_ALL) {
		bad = "participation: must be all (the noise is calibrated "
		      "for every retailer's share: secagg-v1 §7)";
	} else if (r->local_steps != 1) {
		bad = "round.local_steps: must be 1 (one release per round)";
	} else if (r->hp.optimizer != FB_OPT_SGD) {
		bad = "round.optimizer: must be sgd (the aggregator steps "
		      "from the summed release as a client would)";
	} else if (r->secagg_threshold > 0 && r->secagg_min_survivors > 0 &&
			r->secagg_min_survivors < r->secagg_threshold) {
		bad = "round.secagg_min_survivors: below "
		      "round.secagg_threshold";
	}
	if (bad != NULL) {
		return fb_errorf(FB_EINVAL, "%s: secure_aggregation: %s", path,
				bad);
	}
	uint32_t n_min = r->secagg_min_survivors > 0 ? r->secagg_min_survivors
						     : r->secagg_threshold;
	if (n_min > 0 && n_min <= r->secagg_assumed_colluders) {
		return fb_errorf(FB_EINVAL,
				"%s: round.secagg_assumed_colluders: %u leaves "
				"no honest share among %u survivors "
				"(secagg_min_survivors)",
				path, r->secagg_assumed_colluders, n_min);
	}
	return FB_OK;
}

static const struct {
	const char *name;
	uint32_t bit;
} round_keys[] = {
		{"q", AGG_KEY_Q},
		{"lr", AGG_KEY_LR},
		{"bundle_rank", AGG_KEY_BUNDLE_RANK},
		{"optimizer", AGG_KEY_OPTIMIZER},
		{"bias", AGG_KEY_BIAS},
		{"train_items", AGG_KEY_TRAIN_ITEMS},
		{"lr_user", AGG_KEY_LR_USER},
};

static fb_err
note_round_key(void *ctx, const struct fb_cfg_item *item)
{
	uint32_t *given = ctx;
	for (size_t k = 0; k < sizeof(round_keys) / sizeof(round_keys[0]);
			k++) {
		if (strcmp(item->key, round_keys[k].name) == 0) {
			*given |= round_keys[k].bit;
		}
	}
	return FB_OK;
}

struct round_walk {
	const char *label;
	uint32_t given;
};

static fb_err
find_round(void *ctx, const struct fb_cfg_item *item)
{
	struct round_walk *w = ctx;
	if (strcmp(item->key, "round") != 0 ||
			item->kind != FB_CFG_KIND_OBJECT) {
		return FB_OK;
	}
	return fb_config_each(w->label, "round", item->text, strlen(item->text),
			FB_CFG_KIND_OBJECT, note_round_key, &w->given);
}

fb_err
agg_round_note_given(struct agg_round_config *r, const char *label,
		const char *text, size_t len)
{
	struct round_walk w = {label, 0};
	fb_err err = fb_config_each(label, "", text, len, FB_CFG_KIND_OBJECT,
			find_round, &w);
	if (err == FB_OK) {
		r->given |= w.given;
	}
	return err;
}

// Makes a relative path relative to base_dir, in place.
static fb_err
resolve(char *path, size_t cap, const char *base_dir, const char *key)
{
	if (path[0] == '\0' || path[0] == '/') {
		return FB_OK;
	}
	char tmp[AGG_PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s/%s", base_dir, path);
	if (n < 0 || (size_t)n >= cap) {
		return fb_errorf(FB_EINVAL,
				"%s: path too long after joining "
				"the config folder",
				key);
	}
	memcpy(path, tmp, (size_t)n + 1);
	return FB_OK;
}

fb_err
agg_config_split_urls(struct agg_config *cfg)
{
	strcpy(cfg->url_buf, cfg->listen);
	cfg->n_urls = 0;
	for (char *save = NULL, *tok = strtok_r(cfg->url_buf, ",", &save);
			tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ') {
			tok++;
		}
		if (*tok == '\0') {
			continue;
		}
		if (cfg->n_urls == AGG_MAX_URLS) {
			return fb_errorf(FB_EINVAL, "listen: more than %d URLs",
					AGG_MAX_URLS);
		}
		cfg->urls[cfg->n_urls++] = tok;
	}
	if (cfg->n_urls == 0) {
		return fb_errorf(FB_EINVAL, "listen: no URL");
	}
	return FB_OK;
}

static fb_err
check(const struct agg_config *c, const char *path)
{
	const struct agg_round_config *r = &c->round;
	if (c->key[0] == '\0' || c->roster[0] == '\0' ||
			c->catalog[0] == '\0') {
		return fb_errorf(FB_EINVAL,
				"%s: key, roster and catalog are "
				"required",
				path);
	}
	uint8_t digest[FB_HASH_LEN];
	if (c->catalog_digest[0] != '\0' &&
			!fb_catdir_parse_hex(c->catalog_digest, digest)) {
		return fb_errorf(FB_EINVAL,
				"%s: catalog_digest: '%s' is not 64 hex digits",
				path, c->catalog_digest);
	}
	char where[AGG_PATH_MAX + 16];
	snprintf(where, sizeof(where), "%s: round.", path);
	fb_err err = fb_hparams_check(&r->hp, where);
	if (err != FB_OK) {
		return err;
	}
	if (r->local_epochs == 0 && r->local_steps == 0) {
		return fb_errorf(FB_EINVAL,
				"%s: round.local_epochs and round.local_steps "
				"are both 0",
				path);
	}
	if (r->granularity != FB_WIRE_GRAN_NONE && r->noise_multiplier == 0 &&
			r->target_epsilon <= 0) {
		return fb_errorf(FB_EINVAL,
				"%s: round: granularity %s needs "
				"noise_multiplier > 0 or target_epsilon > 0",
				path, gran_names[r->granularity]);
	}
	if (r->granularity != FB_WIRE_GRAN_NONE && !(r->delta > 0)) {
		return fb_errorf(FB_EINVAL,
				"%s: round.delta must be > 0 with privacy",
				path);
	}
	if (r->granularity == FB_WIRE_GRAN_USER && r->min_users == 0) {
		return fb_errorf(FB_EINVAL,
				"%s: round.min_users: required with granularity "
				"user: the fewest users a retailer may declare "
				"(its policy's \"users\"), from which honest "
				"updates are bounded (protocols/wire-v1.md "
				"§9.7)",
				path);
	}
	if (r->granularity == FB_WIRE_GRAN_CLIENT && r->target_epsilon <= 0) {
		return fb_errorf(FB_EINVAL,
				"%s: round.target_epsilon is the aggregator's "
				"budget with granularity client: must be > 0",
				path);
	}
	return check_secagg(c, path);
}

fb_err
agg_config_load(struct agg_config *cfg, const char *path)
{
	struct agg_config c;
	agg_config_defaults(&c);
	const struct agg_round_config before = c.round;
	struct fb_cfg_section s[1 + AGG_ROUND_SECTIONS] = {
			{"", top_fields,
					sizeof(top_fields) /
							sizeof(top_fields[0]),
					&c},
	};
	agg_round_sections(&c.round, "round", s + 1);
	agg_round_preset(&c.round);
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, AGG_CONFIG_MAX, &text, &len);
	if (err == FB_OK) {
		err = fb_config_parse(
				path, text, len, s, 1 + AGG_ROUND_SECTIONS);
	}
	if (err == FB_OK) {
		err = agg_round_note_given(&c.round, path, text, len);
	}
	free(text);
	if (err != FB_OK) {
		return err;
	}
	agg_round_resolve(&c.round, &before);
	char dir_buf[AGG_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	const char *base = dirname(dir_buf);
	if ((err = resolve(c.key, sizeof(c.key), base, "key")) != FB_OK ||
			(err = resolve(c.roster, sizeof(c.roster), base,
					 "roster")) != FB_OK ||
			(err = resolve(c.catalog, sizeof(c.catalog), base,
					 "catalog")) != FB_OK ||
			(err = resolve(c.checkpoint_dir,
					 sizeof(c.checkpoint_dir), base,
					 "checkpoint_dir")) != FB_OK) {
		return fb_errorf(err, "%s: %s", path, fb_last_error(err));
	}
	if ((err = check(&c, path)) != FB_OK) {
		return err;
	}
	*cfg = c;
	err = agg_config_split_urls(cfg);
	if (err != FB_OK) {
		// Name the file, like every other configuration error.
		return fb_errorf(err, "%s: %s", path, fb_last_error(err));
	}
	return FB_OK;
}

static void
print_fields(FILE *fp, enum fb_cfg_style style, const char *prefix,
		const struct fb_cfg_section *s)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		fb_config_print_key(
				fp, style, prefix, &s->fields[i], s->target);
	}
}

void
agg_round_sections(struct agg_round_config *r, const char *name,
		struct fb_cfg_section out[AGG_ROUND_SECTIONS])
{
	size_t n;
	const struct fb_cfg_field *hp = fb_hparams_fields(&n);
	out[0] = (struct fb_cfg_section){name, round_head,
			sizeof(round_head) / sizeof(round_head[0]), r};
	out[1] = (struct fb_cfg_section){name, hp, n, &r->hp};
	out[2] = (struct fb_cfg_section){name, round_tail,
			sizeof(round_tail) / sizeof(round_tail[0]), r};
}

void
agg_config_print_keys(FILE *fp, enum fb_cfg_style style)
{
	static struct agg_config c; // static: large path buffers
	agg_config_defaults(&c);
	struct fb_cfg_section s[1 + AGG_ROUND_SECTIONS] = {
			{"", top_fields,
					sizeof(top_fields) /
							sizeof(top_fields[0]),
					&c},
	};
	agg_round_sections(&c.round, "round", s + 1);
	fb_config_print_header(fp, style);
	print_fields(fp, style, "", &s[0]);
	for (size_t k = 1; k <= AGG_ROUND_SECTIONS; k++) {
		print_fields(fp, style, "round.", &s[k]);
	}
}

const struct fb_cfg_field *
agg_config_fields(size_t *n)
{
	*n = sizeof(top_fields) / sizeof(top_fields[0]);
	return top_fields;
}

struct fb_listener_config
agg_config_listener(const struct agg_config *cfg, size_t max_msg)
{
	return (struct fb_listener_config){
			.urls = (const char *const *)cfg->urls,
			.n_urls = cfg->n_urls,
			.recv_max = max_msg,
			.n_contexts = cfg->contexts,
			.preauth_recv_max = FB_WIRE_PREAUTH_MAX,
			.preauth_timeout_ms = cfg->preauth_timeout_ms,
			.preauth_message_ms = cfg->preauth_message_ms,
			.message_timeout_ms = cfg->message_timeout_ms,
			.preauth_max = cfg->preauth_connections,
			.max_strikes = cfg->max_refusals,
	};
}

fb_err
agg_config_check(const struct agg_config *cfg, const char *label)
{
	return check(cfg, label);
}
