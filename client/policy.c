// client/policy.c: the policy schema (policy.h). Every key has a range and
// a help line; required paths are checked after loading.
#include <libgen.h>
#include <stddef.h>
#include <string.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/config.h"
#include "policy.h"

static const char *const acct_names[] = {"rdp", "pld", NULL};
static const char *const secagg_names[] = {"allow", "require", NULL};

#define P(f) offsetof(struct node_policy, f)
#define S(f) .str_cap = sizeof(((struct node_policy *)0)->f)
static const struct fb_cfg_field fields[] = {
		{"data", FB_CFG_STRING, P(data_dir), S(data_dir),
				.help = "the retailer's dataset folder (its "
					"customers, the public catalogue)"},
		{"server_url", FB_CFG_STRING, P(server_url), S(server_url),
				.help = "the aggregator's URL (tcp://host:port, "
					"ipc:///path)"},
		{"server_key", FB_CFG_STRING, P(server_key), S(server_key),
				.help = "the aggregator's pinned .pub file"},
		{"key", FB_CFG_STRING, P(key), S(key),
				.help = "this client's identity key file "
					"(fedbundle keygen)"},
		{"state_dir", FB_CFG_STRING, P(state_dir), S(state_dir),
				.help = "where the client's durable state lives"},
		{"ledger", FB_CFG_STRING, P(ledger), S(ledger),
				.help = "the privacy ledger (default: "
					"state_dir/privacy.ledger)"},
		{"users", FB_CFG_U64, P(users), 0, 9007199254740992.0,
				.help = "the PUBLIC number of users this retailer "
					"declares: user-level releases are "
					"normalised by q times it (required with "
					"allow_user; never counted from the data)"},
		{"epsilon", FB_CFG_DOUBLE, P(epsilon), 1e-6, 1e6,
				.help = "privacy budget epsilon over all rounds"},
		{"delta", FB_CFG_DOUBLE, P(delta), 1e-300, 0.1,
				.help = "privacy budget delta (epsilon is "
					"reported at this delta)"},
		{"allow_none", FB_CFG_BOOL, P(allow_none),
				.help = "take part in non-private rounds"},
		{"allow_user", FB_CFG_BOOL, P(allow_user),
				.help = "take part in user-level DP rounds"},
		{"allow_client", FB_CFG_BOOL, P(allow_client),
				.help = "take part in client-level DP rounds "
					"(noise added by the aggregator)"},
		{"min_noise_multiplier", FB_CFG_DOUBLE, P(min_noise_multiplier),
				0, 1e6,
				.help = "refuse private rounds with a smaller "
					"sigma"},
		{"max_update_bytes", FB_CFG_U64, P(max_update_bytes), 0,
				9007199254740992.0,
				.help = "refuse rounds whose UPDATE would be "
					"larger (0: no limit)"},
		{"max_dim", FB_CFG_U32, P(max_dim), 1, 4096,
				.help = "largest factor dimension accepted "
					"(bounds the message size)"},
		{"report_eval", FB_CFG_BOOL, P(report_eval),
				.help = "allow reporting Recall/NDCG sums (false: "
					"refuse plans asking for them); in "
					"user-level DP rounds they are a noised, "
					"accounted release of their own"},
		{"eval_noise_multiplier", FB_CFG_DOUBLE,
				P(eval_noise_multiplier), 0.5, 1e6,
				.help = "noise multiplier of that release (noise "
					"std / 2, the bound of one user's "
					"contribution)"},
		{"accountant", FB_CFG_ENUM, P(accountant),
				.choices = acct_names, .help = "rdp or pld"},
		{"threads", FB_CFG_U32, P(threads), 1, 64,
				.help = "local training threads"},
		{"seed", FB_CFG_U64, P(seed), 0, 9007199254740992.0,
				.help = "seed of initialisation and sampling of "
					"negatives (never of noise)"},
		{"request_timeout_ms", FB_CFG_U32, P(request_timeout_ms), 100,
				36e5, .help = "wait this long for a reply"},
		{"give_up_ms", FB_CFG_U32, P(give_up_ms), 0, 864e5,
				.help = "stop after this long without reaching "
					"the aggregator (0: never)"},
		{"reconnect_min_ms", FB_CFG_U32, P(reconnect_min_ms), 10, 6e4,
				.help = "first wait before a new handshake "
					"after a failure (doubles per failure)"},
		{"reconnect_max_ms", FB_CFG_U32, P(reconnect_max_ms), 10, 36e5,
				.help = "longest wait between handshake "
					"attempts"},
		{"secure_aggregation", FB_CFG_ENUM, P(secure_aggregation),
				.choices = secagg_names,
				.help = "allow: take part in user-level rounds "
					"with or without secure aggregation; "
					"require: refuse user-level rounds "
					"without it"},
		{"secagg_assumed_colluders", FB_CFG_U32,
				P(secagg_assumed_colluders), 0, 2000,
				.help = "other clients assumed to collude with "
					"the aggregator in a secure round: its "
					"release is accounted with that many "
					"fewer honest noise shares"},
		{"roster", FB_CFG_STRING, P(roster), S(roster),
				.help = "the consortium roster (the aggregator's "
					"roster file); required to take part in "
					"secure aggregation rounds"},
		{"status_listen", FB_CFG_STRING, P(status_listen),
				S(status_listen),
				.help = "serve GET /metrics (Prometheus text "
					"format: epsilon spent and left, "
					"rounds, refusals; nothing about a "
					"user) on this http://host:port "
					"(empty: off)"},
};
#undef S
#undef P
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

void
node_policy_defaults(struct node_policy *p)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->state_dir, "state");
	p->epsilon = 8;
	p->delta = 1e-5;
	p->allow_none = false;
	p->allow_user = true;
	p->allow_client = false;
	p->min_noise_multiplier = 0.3;
	p->max_update_bytes = 0;
	p->max_dim = 256;
	p->report_eval = false;
	p->eval_noise_multiplier = 10;
	p->accountant = FB_ACCT_PLD;
	p->threads = 1;
	p->seed = 1;
	p->request_timeout_ms = 60000;
	p->give_up_ms = 120000;
	p->reconnect_min_ms = 100;
	p->reconnect_max_ms = 5000;
	p->secure_aggregation = NODE_SECAGG_ALLOW;
	p->secagg_assumed_colluders = 0;
}

static fb_err
resolve(char *path, size_t cap, const char *base, const char *key)
{
	if (path[0] == '\0' || path[0] == '/') {
		return FB_OK;
	}
	char tmp[NODE_PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s/%s", base, path);
	if (n < 0 || (size_t)n >= cap) {
		return fb_errorf(FB_EINVAL, "%s: path too long", key);
	}
	memcpy(path, tmp, (size_t)n + 1);
	return FB_OK;
}

fb_err
node_policy_load(struct node_policy *p, const char *path)
{
	struct node_policy c;
	node_policy_defaults(&c);
	struct fb_cfg_section s = {"", fields, N_FIELDS, &c};
	fb_err err = fb_config_load(path, &s, 1);
	if (err != FB_OK) {
		return err;
	}
	if (c.allow_user && c.users == 0) {
		return fb_errorf(FB_EINVAL,
				"%s: users: required with allow_user (the public "
				"number of users releases are normalised by; "
				"declare it, e.g. your user count rounded up)",
				path);
	}
	if (c.reconnect_min_ms > c.reconnect_max_ms) {
		return fb_errorf(FB_EINVAL,
				"%s: reconnect_min_ms (%u) is above "
				"reconnect_max_ms (%u)",
				path, c.reconnect_min_ms, c.reconnect_max_ms);
	}
	if (c.data_dir[0] == '\0' || c.server_url[0] == '\0' ||
			c.server_key[0] == '\0' || c.key[0] == '\0') {
		return fb_errorf(FB_EINVAL,
				"%s: data, server_url, server_key and key are "
				"required",
				path);
	}
	char dir_buf[NODE_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	const char *base = dirname(dir_buf);
	if ((err = resolve(c.data_dir, sizeof(c.data_dir), base, "data")) !=
					FB_OK ||
			(err = resolve(c.server_key, sizeof(c.server_key), base,
					 "server_key")) != FB_OK ||
			(err = resolve(c.key, sizeof(c.key), base, "key")) !=
					FB_OK ||
			(err = resolve(c.state_dir, sizeof(c.state_dir), base,
					 "state_dir")) != FB_OK ||
			(err = resolve(c.ledger, sizeof(c.ledger), base,
					 "ledger")) != FB_OK ||
			(err = resolve(c.roster, sizeof(c.roster), base,
					 "roster")) != FB_OK) {
		return fb_errorf(err, "%s: %s", path, fb_last_error(err));
	}
	if (c.ledger[0] == '\0') {
		int n = snprintf(c.ledger, sizeof(c.ledger),
				"%s/privacy.ledger", c.state_dir);
		if (n < 0 || (size_t)n >= sizeof(c.ledger)) {
			return fb_errorf(FB_EINVAL, "%s: state_dir too long",
					path);
		}
	}
	*p = c;
	return FB_OK;
}

void
node_policy_print_keys(FILE *fp, enum fb_cfg_style style)
{
	static struct node_policy p; // static: large path buffers
	node_policy_defaults(&p);
	fb_config_print_header(fp, style);
	for (size_t i = 0; i < N_FIELDS; i++) {
		fb_config_print_key(fp, style, "", &fields[i], &p);
	}
}
