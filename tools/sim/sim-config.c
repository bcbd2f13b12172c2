// tools/sim/sim-config.c: the simulation's configuration file (sim.h), on the
// strict schema parser of include/fedbundle/util/config.h. The "round" section
// IS the aggregator's round schema (agg_round_sections), so a simulation
// takes exactly the keys fedbundle-server does; the "server" section is
// the subset of the aggregator's top-level keys that make sense without
// files or a network. granularity and target_epsilon come from the
// top-level "privacy" and "epsilon" keys only: naming them twice would
// let the two disagree. The resolved configuration is written back with
// every key, so a run's config.json can be run again as it is.
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/fsutil.h"
#include "sim.h"

static const char *const partition_names[] = {"iid", "dirichlet", NULL};
static const char *const privacy_names[] = {"none", "user", "client", NULL};
static const char *const acct_names[] = {"rdp", "pld", NULL};

#define C(f) offsetof(struct sim_config, f)
static const struct fb_cfg_field top_fields[] = {
		{"data", FB_CFG_STRING, C(data), .str_cap = SIM_PATH_MAX,
				.help = "dataset folder (relative paths: to the "
					"configuration file)"},
		{"retailers", FB_CFG_U32, C(retailers), 1, 1e6,
				.help = "number of retailers K (clients)"},
		{"partition", FB_CFG_ENUM, C(partition),
				.choices = partition_names,
				.help = "users across retailers: iid or dirichlet"},
		{"alpha", FB_CFG_DOUBLE, C(alpha), 1e-6, 1e6,
				.help = "Dirichlet concentration (smaller: more "
					"skewed retailers)"},
		{"clusters", FB_CFG_U32, C(clusters), 1, 65536,
				.help = "k-means user clusters when the dataset "
					"has no user_cluster.txt"},
		{"rounds", FB_CFG_U32, C(rounds), 1, 1e6,
				.help = "rounds of the federation"},
		{"privacy", FB_CFG_ENUM, C(privacy), .choices = privacy_names,
				.help = "none, user (DP at each retailer) or "
					"client (DP-FedAvg, central noise)"},
		{"epsilon", FB_CFG_DOUBLE, C(epsilon), 1e-6, 1e6,
				.help = "target epsilon of the whole run "
					"(calibrates sigma; the budget)"},
		{"seed", FB_CFG_U64, C(seed), 0, 9007199254740992.0,
				.help = "seed of everything: model, partition, "
					"training, noise"},
		{"partition_seed", FB_CFG_U64, C(partition_seed), 0,
				9007199254740992.0,
				.help = "seed of the partition (0: seed)"},
		{"threads", FB_CFG_U32, C(threads), 1, 64,
				.help = "training threads of each client"},
		{"eval_every", FB_CFG_U32, C(eval_every), 1, 1e6,
				.help = "evaluate every N rounds (and the last)"},
		{"accountant", FB_CFG_ENUM, C(accountant),
				.choices = acct_names,
				.help = "rdp or pld: calibration and every ledger"},
		{"save_partitions", FB_CFG_BOOL, C(save_partitions),
				.help = "also write the retailers' folders to "
					"OUT/partitions"},
		{"dropout", FB_CFG_DOUBLE, C(dropout), 0, 0.99,
				.help = "probability that a retailer drops out "
					"of a round after its plan (seeded; "
					"secure rounds: at a random stage); set "
					"server.deadline_ms and "
					"round.secagg_stage_ms short"},
};
#undef C

// The aggregator's top-level keys a simulation takes ("server" section).
static const char *const server_keys[] = {"quorum", "participation",
		"q_clients", "server_optimizer", "server_lr", "server_beta1",
		"server_beta2", "server_tau", "init_std", "public_init",
		"max_update_norm", "max_model_abs", "deadline_ms", NULL};

// The round keys a simulation takes from its top level instead.
static bool
round_key_skipped(const char *name)
{
	return strcmp(name, "granularity") == 0 ||
			strcmp(name, "target_epsilon") == 0;
}

// Room for every key of server_keys (it ends with NULL).
#define MAX_SERVER_FIELDS (sizeof(server_keys) / sizeof(server_keys[0]) - 1)

// Copies the allowed entries of the aggregator's top-level schema.
static size_t
server_fields(struct fb_cfg_field *out)
{
	size_t n_all = 0, n = 0;
	const struct fb_cfg_field *all = agg_config_fields(&n_all);
	for (size_t i = 0; i < n_all; i++) {
		for (size_t k = 0; server_keys[k] != NULL; k++) {
			if (strcmp(all[i].name, server_keys[k]) == 0 &&
					n < MAX_SERVER_FIELDS) {
				out[n++] = all[i];
			}
		}
	}
	return n;
}

const char *
sim_privacy_name(int privacy)
{
	return privacy >= 0 && privacy <= 2 ? privacy_names[privacy] : "?";
}

const char *
sim_trust_text(const struct sim_config *cfg)
{
	if (cfg->privacy == SIM_PRIV_USER &&
			cfg->server.round.secure_aggregation) {
		return "the aggregator learns only the sum of the retailers' "
		       "masked releases; each retailer adds a share of the "
		       "noise, which reaches the target epsilon only while at "
		       "most secagg_assumed_colluders retailers collude with "
		       "the aggregator (else each keeps its eps_alone)";
	}
	switch (cfg->privacy) {
	case SIM_PRIV_NONE:
		return "nobody is protected: the aggregator (and anyone who "
		       "sees the model) sees every retailer's non-private "
		       "updates";
	case SIM_PRIV_USER:
		return "no party needs to be trusted: each retailer clips and "
		       "noises its own customers' contributions before "
		       "anything leaves it";
	case SIM_PRIV_CLIENT:
		return "the aggregator must be trusted: it sees each "
		       "retailer's clipped but unnoised update; its central "
		       "noise protects retailers from everyone else";
	}
	return "?";
}

void
sim_config_defaults(struct sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->retailers = 4;
	cfg->partition = SIM_PART_IID;
	cfg->alpha = 0.5;
	cfg->clusters = 16;
	cfg->rounds = 10;
	cfg->privacy = SIM_PRIV_USER;
	cfg->epsilon = 8;
	cfg->seed = 1;
	cfg->partition_seed = 0;
	cfg->threads = 1;
	cfg->eval_every = 1;
	cfg->accountant = FB_ACCT_PLD;
	agg_config_defaults(&cfg->server);
	cfg->server.deadline_ms = 86400000; // a round ends when all answered
	cfg->server.round.report_eval = false;
}

fb_err
sim_config_check(const struct sim_config *cfg, const char *label)
{
	if (cfg->data[0] == '\0') {
		return fb_errorf(FB_EINVAL,
				"%s: data: required (the dataset folder)",
				label);
	}
	const struct agg_round_config *r = &cfg->server.round;
	if (cfg->privacy != SIM_PRIV_NONE && !(r->delta > 0)) {
		return fb_errorf(FB_EINVAL,
				"%s: round.delta: must be > 0 with privacy %s",
				label, sim_privacy_name(cfg->privacy));
	}
	char where[SIM_PATH_MAX + 16];
	snprintf(where, sizeof(where), "%s: round.", label);
	fb_err err = fb_hparams_check(&r->hp, where);
	if (err != FB_OK) {
		return err;
	}
	if (cfg->server.quorum > cfg->retailers) {
		return fb_errorf(FB_EINVAL,
				"%s: server.quorum: %u is more than the %u "
				"retailers",
				label, cfg->server.quorum, cfg->retailers);
	}
	// The aggregator's own checks, on what the run will hand it.
	struct agg_config a = cfg->server;
	strcpy(a.key, "(in memory)");
	strcpy(a.roster, "(in memory)");
	strcpy(a.catalog, "(in memory)");
	a.round.granularity = cfg->privacy;
	a.round.target_epsilon = cfg->epsilon;
	if (a.round.min_users == 0) {
		a.round.min_users = 1; // the smallest retailer's, at run time
	}
	return agg_config_check(&a, label);
}

fb_err
sim_config_parse(struct sim_config *cfg, const char *label, const char *text,
		size_t len, const char *base_dir)
{
	struct sim_config c = *cfg;
	// Sentinels: the parser leaves them alone unless the keys are there.
	c.server.round.granularity = -1;
	c.server.round.target_epsilon = NAN;
	struct fb_cfg_field sfields[MAX_SERVER_FIELDS];
	size_t n_sfields = server_fields(sfields);
	struct fb_cfg_section s[2 + AGG_ROUND_SECTIONS] = {
			{"", top_fields,
					sizeof(top_fields) /
							sizeof(top_fields[0]),
					&c},
			{"server", sfields, n_sfields, &c.server},
	};
	agg_round_sections(&c.server.round, "round", s + 2);
	const struct agg_round_config before = c.server.round;
	agg_round_preset(&c.server.round);
	fb_err err = fb_config_parse(
			label, text, len, s, 2 + AGG_ROUND_SECTIONS);
	if (err != FB_OK) {
		return err;
	}
	agg_round_resolve(&c.server.round, &before);
	// The keys given here, beside those the base configuration gave.
	err = agg_round_note_given(&c.server.round, label, text, len);
	if (err != FB_OK) {
		return err;
	}
	if (c.server.round.granularity != -1) {
		return fb_errorf(FB_EINVAL,
				"%s: round.granularity: not a simulation key "
				"(use the top-level \"privacy\")",
				label);
	}
	if (!isnan(c.server.round.target_epsilon)) {
		return fb_errorf(FB_EINVAL,
				"%s: round.target_epsilon: not a simulation key "
				"(use the top-level \"epsilon\")",
				label);
	}
	c.server.round.granularity = cfg->server.round.granularity;
	c.server.round.target_epsilon = cfg->server.round.target_epsilon;
	if (base_dir != NULL && c.data[0] != '\0' && c.data[0] != '/') {
		char tmp[2 * SIM_PATH_MAX + 2];
		snprintf(tmp, sizeof(tmp), "%s/%s", base_dir, c.data);
		if (strlen(tmp) >= sizeof(c.data)) {
			return fb_errorf(FB_EINVAL,
					"%s: data: path too long after joining "
					"the configuration's folder",
					label);
		}
		strcpy(c.data, tmp);
	}
	// An absolute path in manifests and resolved configurations.
	char *abs = base_dir != NULL ? realpath(c.data, NULL) : NULL;
	if (abs != NULL && strlen(abs) < sizeof(c.data)) {
		strcpy(c.data, abs);
	}
	free(abs);
	if ((err = sim_config_check(&c, label)) != FB_OK) {
		return err;
	}
	*cfg = c;
	return FB_OK;
}

fb_err
sim_config_load(struct sim_config *out, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 1u << 20, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	char dir_buf[SIM_PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	struct sim_config c;
	sim_config_defaults(&c);
	err = sim_config_parse(&c, path, text, len, dirname(dir_buf));
	free(text);
	if (err == FB_OK) {
		*out = c;
	}
	return err;
}

static void
write_value(FILE *fp, const struct fb_cfg_field *f, const void *target)
{
	const char *p = (const char *)target + f->offset;
	switch (f->type) {
	case FB_CFG_U32:
		fprintf(fp, "%u", *(const uint32_t *)(const void *)p);
		break;
	case FB_CFG_U64:
		fprintf(fp, "%llu",
				(unsigned long long)*(
						const uint64_t *)(const void *)
						p);
		break;
	case FB_CFG_DOUBLE:
		fprintf(fp, "%.17g", *(const double *)(const void *)p);
		break;
	case FB_CFG_BOOL:
		fputs(*(const bool *)(const void *)p ? "true" : "false", fp);
		break;
	case FB_CFG_ENUM:
		fb_config_write_string(
				fp, f->choices[*(const int *)(const void *)p]);
		break;
	case FB_CFG_U32_LIST: {
		uint32_t n = *(const uint32_t *)(const void
						*)((const char *)target +
				f->count_offset);
		fputc('[', fp);
		for (uint32_t k = 0; k < n; k++) {
			fprintf(fp, "%s%u", k > 0 ? ", " : "",
					((const uint32_t *)(const void *)p)[k]);
		}
		fputc(']', fp);
		break;
	}
	case FB_CFG_STRING:
		fb_config_write_string(fp, p);
		break;
	case FB_CFG_DOUBLE_OR_NULL: {
		double x = *(const double *)(const void *)p;
		if (isnan(x)) {
			fputs("null", fp);
		} else {
			fprintf(fp, "%.17g", x);
		}
		break;
	}
	case FB_CFG_OBJECT_LIST:
		fb_panic("%s: no simulation key is a list of objects", f->name);
	}
}

static void
write_fields(FILE *fp, const struct fb_cfg_field *f, size_t n,
		const void *target, bool round, int indent, bool *first)
{
	for (size_t i = 0; i < n; i++) {
		if (round && round_key_skipped(f[i].name)) {
			continue;
		}
		fprintf(fp, "%s\n%*s\"%s\": ", *first ? "" : ",", indent, "",
				f[i].name);
		write_value(fp, &f[i], target);
		*first = false;
	}
}

void
sim_config_write_json(FILE *fp, const struct sim_config *cfg, int indent)
{
	struct fb_cfg_field sfields[MAX_SERVER_FIELDS];
	size_t n_sfields = server_fields(sfields);
	struct agg_round_config round = cfg->server.round;
	struct fb_cfg_section rs[AGG_ROUND_SECTIONS];
	agg_round_sections(&round, "round", rs);
	bool first = true;
	fputc('{', fp);
	write_fields(fp, top_fields, sizeof(top_fields) / sizeof(top_fields[0]),
			cfg, false, indent + 2, &first);
	fprintf(fp, ",\n%*s\"server\": {", indent + 2, "");
	first = true;
	write_fields(fp, sfields, n_sfields, &cfg->server, false, indent + 4,
			&first);
	fprintf(fp, "\n%*s},\n%*s\"round\": {", indent + 2, "", indent + 2, "");
	first = true;
	for (size_t k = 0; k < AGG_ROUND_SECTIONS; k++) {
		write_fields(fp, rs[k].fields, rs[k].n_fields, rs[k].target,
				true, indent + 4, &first);
	}
	fprintf(fp, "\n%*s}\n%*s}", indent + 2, "", indent, "");
}

static void
print_fields(FILE *fp, enum fb_cfg_style style, const char *prefix,
		const struct fb_cfg_field *f, size_t n, const void *target,
		bool round)
{
	for (size_t i = 0; i < n; i++) {
		if (round && round_key_skipped(f[i].name)) {
			continue;
		}
		fb_config_print_key(fp, style, prefix, &f[i], target);
	}
}

void
sim_config_print_keys(FILE *fp, enum fb_cfg_style style)
{
	static struct sim_config cfg; // static: large path buffers
	sim_config_defaults(&cfg);
	struct fb_cfg_field sfields[MAX_SERVER_FIELDS];
	size_t n_sfields = server_fields(sfields);
	struct fb_cfg_section rs[AGG_ROUND_SECTIONS];
	agg_round_sections(&cfg.server.round, "round", rs);
	fb_config_print_header(fp, style);
	print_fields(fp, style, "", top_fields,
			sizeof(top_fields) / sizeof(top_fields[0]), &cfg,
			false);
	print_fields(fp, style, "server.", sfields, n_sfields, &cfg.server,
			false);
	for (size_t k = 0; k < AGG_ROUND_SECTIONS; k++) {
		print_fields(fp, style, "round.", rs[k].fields, rs[k].n_fields,
				rs[k].target, true);
	}
}
