// tools/cmd-tune.c: `fedbundle tune`, hyper-parameter search for the
// centralized non-private model on a dataset's TUNE split (issue 17), so
// that a user with their own data gets tuned settings rather than the
// defaults chosen on Youshu. Random search or successive halving over a
// stated space; one CSV row per trial, rewritten atomically after each
// trial, read back on a rerun (resume); the best configuration written as
// a `fedbundle train --config` file. The test split is read once, after
// the search, to report the chosen configuration: a trial's fb_fit sees
// the tune split in the test split's place.
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/fit.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/rng.h"
#include "report.h"

static const char *const usage_text =
		"usage: fedbundle tune --data DIR --out DIR [options]\n"
		"\n"
		"Searches the hyper-parameters of the centralized, non-private "
		"model on\nthe dataset's TUNE split (the test split is never "
		"used to select), then\ntrains the best configuration once and "
		"reports its tune and test metrics.\n"
		"\n"
		"options:\n"
		"  --data DIR        dataset folder (required)\n"
		"  --out DIR         results folder (required): trials.csv, "
		"search.txt,\n"
		"                    best.json (a `fedbundle train --config` "
		"file),\n"
		"                    result.json; rerun with the same DIR to "
		"resume\n"
		"  --trials N        configurations to try (default 16)\n"
		"  --seconds S       start no trial after S seconds of this run\n"
		"                    (alone: random search until then)\n"
		"  --method M        random (default) or halving\n"
		"  --seed S          seed of the search and of every trial "
		"(default 1)\n"
		"  --epochs E        epochs of a trial (random), of the last "
		"rung\n"
		"                    (halving); early stopping on tune inside "
		"(default 20)\n"
		"  --threads T       worker threads (default 1)\n"
		"  --quiet           no progress on stderr\n"
		"  --help            this text\n"
		"\n"
		"search space (config 0 is always the defaults):\n"
		"  dim          one of 16, 32, 64, 128 (uniform over the powers "
		"of 2)\n"
		"  lr           log-uniform in [1e-3, 3e-2]\n"
		"  lr_user      log-uniform in [1e-2, 2e-1]\n"
		"  l2           log-uniform in [1e-5, 1e-2]\n"
		"  negatives    one of 1, 2, 4, 8\n"
		"  batch_users  one of 256, 512, 1024, 2048, 4096\n"
		"  item_weight  uniform in [0, 1]\n"
		"  init_std     log-uniform in [1e-2, 2e-1]\n"
		"  (values are rounded to 3 significant digits; the other keys "
		"keep\n  their defaults)\n"
		"\n"
		"methods:\n"
		"  random   N configurations, E epochs each.\n"
		"  halving  successive halving: rung 0 trains all N "
		"configurations;\n"
		"           rung k+1 retrains the best floor(N / 2^(k+1)) of "
		"rung k (tune\n"
		"           Recall@20, then NDCG@20) with twice the epochs; "
		"R = floor(log2 N)+1\n"
		"           rungs, rung k with max(1, E >> (R-1-k)) epochs, "
		"so the last\n"
		"           one trains one configuration for E epochs.\n"
		"A trial whose configuration and epochs an earlier one had repeats "
		"its\nresult (training is deterministic) with 0 seconds.\n"
		"The best trial is the one of the highest rung reached with the "
		"highest\ntune Recall@20 (NDCG@20 breaks ties).\n"
		"\n"
		"--dp is refused: selecting hyper-parameters on private data "
		"leaks it;\nthat is only allowed through an accounted "
		"selection (issue 15), not here.\n";

#define MAX_TRIALS 100000u

// One dimension of the search space: a field of struct fb_hparams.
enum space_kind { SPACE_LOG, SPACE_LIN, SPACE_CHOICE };

struct space_dim {
	const char *key;
	enum space_kind kind;
	size_t off;  // into struct fb_hparams
	bool is_u32; // else double
	double lo, hi;
	uint32_t choices[8];
	size_t n_choices;
};

#define HP(f) offsetof(struct fb_hparams, f)

// The search space, in CSV column order. Changing it changes
// SPACE_VERSION, so an old results folder is refused, not mixed.
static const struct space_dim space[] = {
		{"dim", SPACE_CHOICE, HP(dim), true, 0, 0, {16, 32, 64, 128},
				4},
		{"lr", SPACE_LOG, HP(lr), false, 1e-3, 3e-2, {0}, 0},
		{"lr_user", SPACE_LOG, HP(lr_user), false, 1e-2, 2e-1, {0}, 0},
		{"l2", SPACE_LOG, HP(l2), false, 1e-5, 1e-2, {0}, 0},
		{"negatives", SPACE_CHOICE, HP(negatives), true, 0, 0,
				{1, 2, 4, 8}, 4},
		{"batch_users", SPACE_CHOICE, HP(batch_users), true, 0, 0,
				{256, 512, 1024, 2048, 4096}, 5},
		{"item_weight", SPACE_LIN, HP(item_weight), false, 0, 1, {0},
				0},
		{"init_std", SPACE_LOG, HP(init_std), false, 1e-2, 2e-1, {0},
				0},
};
#define N_SPACE (sizeof(space) / sizeof(space[0]))
#define SPACE_VERSION 1

enum tune_method { METHOD_RANDOM, METHOD_HALVING };

struct tune_args {
	const char *data, *out;
	uint32_t trials, epochs, threads;
	double seconds;
	uint64_t seed;
	enum tune_method method;
	int quiet, have_trials;
};

// One trial: a configuration trained for some epochs.
struct trial {
	uint32_t config, rung, epochs;
	struct fb_hparams hp;
	char settings[256]; // the CSV columns of hp
	bool done;
	uint32_t best_epoch;
	double recall, ndcg, seconds;
};

struct tune_state {
	struct tune_args a;
	const struct fb_dataset *ds;
	struct trial *t;
	size_t n, cap;     // trials planned so far
	struct trial *old; // rows read back from trials.csv
	size_t n_old;
	char *csv_path;
	size_t total; // trials of the whole plan
	double start; // fb_clock_s() at the start of this run
	size_t ran;   // trials run (not read back) by this run
};

static double
round3(double x)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%.3g", x);
	return strtod(buf, NULL);
}

// The field at d->off of hp, through memcpy (no pointer casts).
static void
space_set(struct fb_hparams *hp, const struct space_dim *d, double v)
{
	unsigned char *p = (unsigned char *)hp + d->off;
	if (d->is_u32) {
		uint32_t u = (uint32_t)v;
		memcpy(p, &u, sizeof(u));
	} else {
		double r = round3(v);
		memcpy(p, &r, sizeof(r));
	}
}

static double
space_get(const struct fb_hparams *hp, const struct space_dim *d)
{
	const unsigned char *p = (const unsigned char *)hp + d->off;
	if (d->is_u32) {
		uint32_t u;
		memcpy(&u, p, sizeof(u));
		return u;
	}
	double r;
	memcpy(&r, p, sizeof(r));
	return r;
}

// Configuration `config` of the search: 0 is the defaults, every other
// one drawn from its own stream of the seed (independent of the others,
// so that a longer run keeps the configurations of a shorter one).
static void
sample_config(uint64_t seed, uint32_t config, struct fb_hparams *hp)
{
	fb_hparams_defaults(hp);
	if (config == 0) {
		return;
	}
	struct fb_rng rng;
	fb_rng_seed(&rng, seed, 0x7475000000000000ull + config);
	for (int i = 0; i < 16; i++) {
		(void)fb_rng_next(&rng); // past the seeding's first outputs
	}
	for (size_t i = 0; i < N_SPACE; i++) {
		const struct space_dim *d = &space[i];
		double u = fb_rng_uniform(&rng), v;
		if (d->kind == SPACE_CHOICE) {
			v = d->choices[(size_t)(u * (double)d->n_choices)];
		} else if (d->kind == SPACE_LOG) {
			v = exp(log(d->lo) + u * (log(d->hi) - log(d->lo)));
		} else {
			v = d->lo + u * (d->hi - d->lo);
		}
		space_set(hp, d, v);
	}
}

// Writes one value as the CSV and the config file hold it.
static size_t
format_value(const struct fb_hparams *hp, const struct space_dim *d, char *buf,
		size_t n)
{
	double v = space_get(hp, d);
	int len = d->is_u32 ? snprintf(buf, n, "%u", (uint32_t)v)
			    : snprintf(buf, n, "%.3g", v);
	return len < 0 ? 0 : (size_t)len;
}

// Writes the values of hp's searched keys into buf, with sep between
// them ("," for the CSV, " " with key= for progress).
static void
format_settings(const struct fb_hparams *hp, bool named, char *buf, size_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < N_SPACE && at < n; i++) {
		at += (size_t)snprintf(buf + at, n - at, "%s%s%s",
				i > 0 ? (named ? " " : ",") : "",
				named ? space[i].key : "", named ? "=" : "");
		at += format_value(hp, &space[i], buf + at, n - at);
	}
}

static const char *
method_name(enum tune_method m)
{
	return m == METHOD_HALVING ? "halving" : "random";
}

static int
parse_option(int c, struct tune_args *a)
{
	bool ok = true;
	switch (c) {
	case 'd':
		a->data = optarg;
		break;
	case 'o':
		a->out = optarg;
		break;
	case 'n':
		ok = cli_parse_u32("tune", "--trials", optarg, &a->trials);
		if (ok && (a->trials == 0 || a->trials > MAX_TRIALS)) {
			return cli_usage_error("tune",
					"--trials must be 1 to %u", MAX_TRIALS);
		}
		a->have_trials = 1;
		break;
	case 'S':
		ok = cli_parse_double("tune", "--seconds", optarg, &a->seconds);
		if (ok && !(a->seconds > 0)) {
			return cli_usage_error(
					"tune", "--seconds must be positive");
		}
		break;
	case 'm':
		if (strcmp(optarg, "random") == 0) {
			a->method = METHOD_RANDOM;
		} else if (strcmp(optarg, "halving") == 0) {
			a->method = METHOD_HALVING;
		} else {
			return cli_usage_error("tune",
					"--method: '%s' is not random or halving",
					optarg);
		}
		break;
	case 's':
		ok = cli_parse_u64("tune", "--seed", optarg, &a->seed);
		break;
	case 'e':
		ok = cli_parse_u32("tune", "--epochs", optarg, &a->epochs);
		if (ok && a->epochs == 0) {
			return cli_usage_error(
					"tune", "--epochs must be positive");
		}
		break;
	case 't':
		ok = cli_parse_u32("tune", "--threads", optarg, &a->threads);
		if (ok && a->threads == 0) {
			return cli_usage_error(
					"tune", "--threads must be positive");
		}
		break;
	case 'q':
		a->quiet = 1;
		break;
	case 'D':
		if (strcmp(optarg, "none") == 0) {
			break;
		}
		return cli_usage_error("tune",
				"--dp %s refused: tuning hyper-parameters on "
				"private data leaks it through the selection; it "
				"is only allowed through an accounted selection "
				"(issue 15), which is not implemented here. Tune "
				"on public or non-sensitive data, or use the DP "
				"defaults of `fedbundle train --dp user`",
				optarg);
	default:
		return cli_usage_error("tune", "unknown option");
	}
	return ok ? 0 : 2;
}

static int
parse_args(int argc, char **argv, struct tune_args *a)
{
	static const struct option opts[] = {
			{"data", required_argument, NULL, 'd'},
			{"out", required_argument, NULL, 'o'},
			{"trials", required_argument, NULL, 'n'},
			{"seconds", required_argument, NULL, 'S'},
			{"method", required_argument, NULL, 'm'},
			{"seed", required_argument, NULL, 's'},
			{"epochs", required_argument, NULL, 'e'},
			{"threads", required_argument, NULL, 't'},
			{"quiet", no_argument, NULL, 'q'},
			{"dp", required_argument, NULL, 'D'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->trials = 16;
	a->epochs = 20;
	a->threads = 1;
	a->seed = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return -1;
		}
		int rc = parse_option(c, a);
		if (rc != 0) {
			return rc;
		}
	}
	if (optind < argc) {
		return cli_usage_error("tune", "unexpected argument '%s'",
				argv[optind]);
	}
	if (a->data == NULL || a->out == NULL) {
		return cli_usage_error("tune", "--data and --out are required");
	}
	if (a->seconds > 0 && !a->have_trials && a->method == METHOD_RANDOM) {
		a->trials = MAX_TRIALS;
	}
	return 0;
}

// Rungs of successive halving over n configurations (1 for random).
static uint32_t
n_rungs(const struct tune_args *a)
{
	uint32_t r = 1;
	if (a->method == METHOD_HALVING) {
		while ((a->trials >> r) >= 1) {
			r++;
		}
	}
	return r;
}

static uint32_t
rung_epochs(const struct tune_args *a, uint32_t rung)
{
	uint32_t shift = n_rungs(a) - 1 - rung;
	uint32_t e = shift >= 32 ? 0 : a->epochs >> shift;
	return e > 0 ? e : 1;
}

// What defines the search: a results folder of another one is refused.
// The trial count is part of it for halving only (it shapes the rungs;
// random search just continues with more or fewer configurations).
static char *
search_text(const struct tune_state *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		return NULL;
	}
	fprintf(fp, "fedbundle tune search (space v%d)\ndataset %s\n",
			SPACE_VERSION, s->ds->name);
	fprintf(fp, "method %s\nseed %llu\nepochs %u\n",
			method_name(s->a.method), (unsigned long long)s->a.seed,
			s->a.epochs);
	if (s->a.method == METHOD_HALVING) {
		fprintf(fp, "configurations %u\n", s->a.trials);
	}
	for (size_t i = 0; i < N_SPACE; i++) {
		const struct space_dim *d = &space[i];
		fprintf(fp, "space %s ", d->key);
		if (d->kind == SPACE_CHOICE) {
			for (size_t j = 0; j < d->n_choices; j++) {
				fprintf(fp, "%s%u", j ? "," : "{",
						d->choices[j]);
			}
			fprintf(fp, "}\n");
		} else {
			fprintf(fp, "%s [%g, %g]\n",
					d->kind == SPACE_LOG ? "log-uniform"
							     : "uniform",
					d->lo, d->hi);
		}
	}
	fclose(fp);
	return buf;
}

// Writes search.txt, or checks that the one there is this search's.
static fb_err
check_search(const struct tune_state *s)
{
	char *want = search_text(s);
	char *path = fb_path_join(s->a.out, "search.txt");
	char *have = NULL;
	size_t len = 0;
	fb_err err = want != NULL && path != NULL ? FB_OK : FB_ENOMEM;
	if (err == FB_OK) {
		err = fb_read_file(path, 1 << 20, &have, &len);
		if (err != FB_OK) {
			err = fb_write_file_atomic(
					path, want, strlen(want), 0644);
		} else if (strcmp(have, want) != 0) {
			err = fb_errorf(FB_EINVAL,
					"%s: this folder holds another search "
					"(a different dataset, method, seed, "
					"epochs, trial count for halving or "
					"search space); use another --out or "
					"the same settings to resume. The "
					"folder's search:\n%s",
					path, have);
		}
	}
	free(want);
	free(path);
	free(have);
	return err;
}

static const char *const csv_header =
		"trial,config,rung,epochs,%s,best_epoch,tune_recall@20,"
		"tune_ndcg@20,seconds\n";

static fb_err
write_csv(const struct tune_state *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		return FB_ENOMEM;
	}
	char keys[256] = "";
	for (size_t i = 0, at = 0; i < N_SPACE; i++) {
		at += (size_t)snprintf(keys + at, sizeof(keys) - at, "%s%s",
				i ? "," : "", space[i].key);
	}
	fprintf(fp, csv_header, keys);
	for (size_t i = 0; i < s->n && s->t[i].done; i++) {
		const struct trial *t = &s->t[i];
		fprintf(fp, "%zu,%u,%u,%u,%s,%u,%.6f,%.6f,%.3f\n", i + 1,
				t->config, t->rung, t->epochs, t->settings,
				t->best_epoch, t->recall, t->ndcg, t->seconds);
	}
	fclose(fp);
	fb_err err = fb_write_file_atomic(s->csv_path, buf, len, 0644);
	free(buf);
	return err;
}

// Parses one data row of trials.csv into t (the settings kept as text).
static fb_err
parse_row(const char *path, size_t line, char *row, struct trial *t)
{
	char *f[32];
	size_t n = 0;
	for (char *p = row; n < 32; n++) {
		f[n] = p;
		p = strchr(p, ',');
		if (p == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n != 4 + N_SPACE + 4) {
		return fb_errorf(FB_EFORMAT, "%s:%zu: %zu fields, not %zu",
				path, line, n, 4 + N_SPACE + 4);
	}
	memset(t, 0, sizeof(*t));
	t->config = (uint32_t)strtoul(f[1], NULL, 10);
	t->rung = (uint32_t)strtoul(f[2], NULL, 10);
	t->epochs = (uint32_t)strtoul(f[3], NULL, 10);
	size_t at = 0;
	for (size_t i = 0; i < N_SPACE; i++) {
		at += (size_t)snprintf(t->settings + at,
				sizeof(t->settings) - at, "%s%s", i ? "," : "",
				f[4 + i]);
	}
	t->best_epoch = (uint32_t)strtoul(f[4 + N_SPACE], NULL, 10);
	t->recall = strtod(f[5 + N_SPACE], NULL);
	t->ndcg = strtod(f[6 + N_SPACE], NULL);
	t->seconds = strtod(f[7 + N_SPACE], NULL);
	t->done = true;
	return FB_OK;
}

// Reads back the completed trials of an earlier run, if any.
static fb_err
read_csv(struct tune_state *s)
{
	char *text = NULL;
	size_t len = 0;
	if (fb_read_file(s->csv_path, 64u << 20, &text, &len) != FB_OK) {
		return FB_OK; // no earlier run
	}
	size_t lines = 1;
	for (size_t i = 0; i < len; i++) {
		lines += text[i] == '\n';
	}
	s->old = calloc(lines, sizeof(*s->old));
	fb_err err = s->old != NULL ? FB_OK : FB_ENOMEM;
	char *save = NULL;
	size_t line = 0;
	for (char *row = strtok_r(text, "\n", &save);
			row != NULL && err == FB_OK;
			row = strtok_r(NULL, "\n", &save)) {
		if (++line > 1) {
			err = parse_row(s->csv_path, line, row,
					&s->old[s->n_old++]);
		}
	}
	free(text);
	return err;
}

// Trains t's configuration with the tune split in the test split's place.
static fb_err
run_trial(struct tune_state *s, struct trial *t)
{
	struct fb_dataset tds = *s->ds;
	tds.ub_test = s->ds->ub_tune; // never read the test split here
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp = t->hp;
	cfg.epochs = t->epochs;
	cfg.threads = s->a.threads;
	cfg.seed = s->a.seed;
	fb_err err = fb_train_config_check(&cfg);
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_fit_result res;
	double t0 = fb_clock_s();
	if (err == FB_OK) {
		err = fb_fit(&tds, &cfg, NULL, &model, &P, NULL, NULL, &res);
	}
	if (err == FB_OK) {
		t->best_epoch = res.best_epoch;
		t->recall = res.tune.mean.recall[0];
		t->ndcg = res.tune.mean.ndcg[0];
		t->seconds = fb_clock_s() - t0;
		t->done = true;
	}
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	return err;
}

// Is a better than b: higher rung, then tune Recall@20, then NDCG@20.
static bool
trial_better(const struct trial *a, const struct trial *b)
{
	if (a->rung != b->rung) {
		return a->rung > b->rung;
	}
	if (a->recall != b->recall) {
		return a->recall > b->recall;
	}
	return a->ndcg > b->ndcg;
}

static const struct trial *
best_trial(const struct tune_state *s)
{
	const struct trial *best = NULL;
	for (size_t i = 0; i < s->n; i++) {
		if (s->t[i].done &&
				(best == NULL ||
						trial_better(&s->t[i], best))) {
			best = &s->t[i];
		}
	}
	return best;
}

static void
print_progress(const struct tune_state *s, size_t i, bool resumed)
{
	if (s->a.quiet) {
		return;
	}
	const struct trial *t = &s->t[i];
	const struct trial *b = best_trial(s);
	char named[256];
	format_settings(&t->hp, true, named, sizeof(named));
	char total[32] = "?";
	if (s->total < MAX_TRIALS) {
		snprintf(total, sizeof(total), "%zu", s->total);
	}
	fprintf(stderr,
			"tune: trial %zu of %s%s (config %u, rung %u, %u "
			"epochs): %s -> tune Recall@20 %.4f NDCG@20 %.4f "
			"(epoch %u, %.1f s); best so far %.4f (trial %zu)\n",
			i + 1, total, resumed ? " [done, read back]" : "",
			t->config, t->rung, t->epochs, named, t->recall,
			t->ndcg, t->best_epoch, t->seconds, b->recall,
			(size_t)(b - s->t) + 1);
}

// Halving with few epochs can give two rungs the same epochs: training is
// deterministic, so the trial repeats the earlier result (0 seconds).
static bool
repeat_trial(const struct tune_state *s, struct trial *t)
{
	for (size_t j = 0; j < s->n; j++) {
		const struct trial *o = &s->t[j];
		if (o->done && o->config == t->config &&
				o->epochs == t->epochs) {
			t->best_epoch = o->best_epoch;
			t->recall = o->recall;
			t->ndcg = o->ndcg;
			t->seconds = 0;
			t->done = true;
			return true;
		}
	}
	return false;
}

static bool
out_of_time(const struct tune_state *s)
{
	return s->a.seconds > 0 && fb_clock_s() - s->start >= s->a.seconds;
}

// Plans trial i (config, rung, epochs), then reads it back from the
// earlier run's rows or runs it. *stop: the time budget is spent.
static fb_err
do_trial(struct tune_state *s, uint32_t config, uint32_t rung, bool *stop)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct trial *t = realloc(s->t, cap * sizeof(*t));
		if (t == NULL) {
			return FB_ENOMEM;
		}
		s->t = t;
		s->cap = cap;
	}
	size_t i = s->n;
	struct trial *t = &s->t[i];
	memset(t, 0, sizeof(*t));
	t->config = config;
	t->rung = rung;
	t->epochs = rung_epochs(&s->a, rung);
	sample_config(s->a.seed, config, &t->hp);
	format_settings(&t->hp, false, t->settings, sizeof(t->settings));
	if (i < s->n_old) {
		const struct trial *o = &s->old[i];
		if (o->config != t->config || o->rung != t->rung ||
				o->epochs != t->epochs ||
				strcmp(o->settings, t->settings) != 0) {
			return fb_errorf(FB_EINVAL,
					"%s: row %zu (config %u, %s) is not "
					"this search's trial %zu (config %u, "
					"%s): the search changed; use another "
					"--out",
					s->csv_path, i + 1, o->config,
					o->settings, i + 1, t->config,
					t->settings);
		}
		struct fb_hparams hp = t->hp;
		*t = *o;
		t->hp = hp;
		s->n++;
		print_progress(s, i, true);
		return FB_OK;
	}
	if (out_of_time(s)) {
		*stop = true;
		return FB_OK;
	}
	fb_err err = repeat_trial(s, t) ? FB_OK : run_trial(s, t);
	if (err != FB_OK) {
		return err;
	}
	s->n++;
	s->ran++;
	print_progress(s, i, false);
	return write_csv(s);
}

static int
cmp_trial_desc(const void *a, const void *b)
{
	const struct trial *x = *(const struct trial *const *)a;
	const struct trial *y = *(const struct trial *const *)b;
	if (trial_better(x, y)) {
		return -1;
	}
	return trial_better(y, x)
			? 1
			: (x->config > y->config) - (x->config < y->config);
}

// The configurations of rung `rung` (> 0): the best n of the rung before.
static fb_err
survivors(const struct tune_state *s, uint32_t rung, uint32_t n, uint32_t *out)
{
	const struct trial **prev = calloc(s->n, sizeof(*prev));
	if (prev == NULL) {
		return FB_ENOMEM;
	}
	size_t m = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->t[i].rung == rung - 1) {
			prev[m++] = &s->t[i];
		}
	}
	qsort(prev, m, sizeof(*prev), cmp_trial_desc);
	for (uint32_t i = 0; i < n && i < m; i++) {
		out[i] = prev[i]->config;
	}
	free(prev);
	return FB_OK;
}

static fb_err
search(struct tune_state *s)
{
	uint32_t R = n_rungs(&s->a);
	s->total = 0;
	for (uint32_t r = 0; r < R; r++) {
		s->total += s->a.trials >> r;
	}
	uint32_t *configs = calloc(s->a.trials, sizeof(*configs));
	if (configs == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	bool stop = false;
	for (uint32_t r = 0; r < R && err == FB_OK && !stop; r++) {
		uint32_t n = s->a.trials >> r;
		for (uint32_t i = 0; i < n && r == 0; i++) {
			configs[i] = i;
		}
		if (r > 0) {
			err = survivors(s, r, n, configs);
		}
		for (uint32_t i = 0; i < n && err == FB_OK && !stop; i++) {
			err = do_trial(s, configs[i], r, &stop);
		}
	}
	free(configs);
	return err;
}

// best.json: the best configuration as a `fedbundle train --config` file.
static fb_err
write_best(const struct tune_state *s, const struct trial *b)
{
	char buf[1024];
	size_t at = (size_t)snprintf(buf, sizeof(buf), "{\n");
	for (size_t i = 0; i < N_SPACE; i++) {
		at += (size_t)snprintf(buf + at, sizeof(buf) - at,
				"  \"%s\": ", space[i].key);
		at += format_value(
				&b->hp, &space[i], buf + at, sizeof(buf) - at);
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, ",\n");
	}
	snprintf(buf + at, sizeof(buf) - at,
			"  \"epochs\": %u,\n  \"seed\": %llu\n}\n", b->epochs,
			(unsigned long long)s->a.seed);
	char *path = fb_path_join(s->a.out, "best.json");
	if (path == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = fb_write_file_atomic(path, buf, strlen(buf), 0644);
	free(path);
	return err;
}

// Trains the best configuration on the real dataset: its tune metrics and,
// once, its test metrics.
static fb_err
final_fit(const struct tune_state *s, const struct trial *b,
		struct fb_fit_result *res)
{
	struct fb_train_config cfg;
	fb_train_config_defaults(&cfg);
	cfg.hp = b->hp;
	cfg.epochs = b->epochs;
	cfg.threads = s->a.threads;
	cfg.seed = s->a.seed;
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	fb_err err = fb_fit(s->ds, &cfg, NULL, &model, &P, NULL, NULL, res);
	fb_model_finish(&model);
	fb_matrix_finish(&P);
	return err;
}

static fb_err
report(const struct tune_state *s, const struct trial *b,
		const struct fb_fit_result *res)
{
	const struct trial *def = NULL;
	for (size_t i = 0; i < s->n && def == NULL; i++) {
		if (s->t[i].config == 0 && s->t[i].rung == b->rung) {
			def = &s->t[i];
		}
	}
	char named[256];
	format_settings(&b->hp, true, named, sizeof(named));
	printf("best of %zu trials: trial %zu (config %u, %u epochs): %s\n",
			s->n, (size_t)(b - s->t) + 1, b->config, b->epochs,
			named);
	printf("  config: %s/best.json (fedbundle train --data %s --config "
	       "%s/best.json)\n",
			s->a.out, s->a.data, s->a.out);
	if (def != NULL) {
		printf("  defaults (config 0) at the same epochs: tune "
		       "Recall@20 %.4f\n",
				def->recall);
	}
	printf("TUNE split (selection), best epoch %u: Recall@20 %.4f "
	       "NDCG@20 %.4f\n",
			res->best_epoch, res->tune.mean.recall[0],
			res->tune.mean.ndcg[0]);
	printf("TEST split (evaluated once, after the search; not used to "
	       "select): Recall@20 %.4f NDCG@20 %.4f\n",
			res->test.mean.recall[0], res->test.mean.ndcg[0]);
	char *path = fb_path_join(s->a.out, "result.json");
	if (path == NULL) {
		return FB_ENOMEM;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	fb_err err = fp != NULL ? FB_OK : FB_ENOMEM;
	if (err == FB_OK) {
		fprintf(fp,
				"{\"best_trial\": %zu, \"config\": %u, \"epochs\": "
				"%u, \"best_epoch\": %u, \"tune\": {",
				(size_t)(b - s->t) + 1, b->config, b->epochs,
				res->best_epoch);
		report_metrics_json(fp, &res->tune.mean);
		fprintf(fp, "}, \"test\": {");
		report_metrics_json(fp, &res->test.mean);
		fprintf(fp, "}}\n");
		fclose(fp);
		err = fb_write_file_atomic(path, buf, len, 0644);
	}
	free(buf);
	free(path);
	return err;
}

static int
finish_search(struct tune_state *s)
{
	const struct trial *b = best_trial(s);
	if (b == NULL) {
		return cli_usage_error("tune",
				"no trial completed within --seconds %g",
				s->a.seconds);
	}
	fb_err err = write_best(s, b);
	if (err != FB_OK) {
		return cli_fail("tune", err, "cannot write best.json");
	}
	if (!s->a.quiet) {
		fprintf(stderr,
				"tune: %zu trials (%zu run now); training the "
				"best once more to report its test metrics\n",
				s->n, s->ran);
	}
	struct fb_fit_result res;
	err = final_fit(s, b, &res);
	if (err == FB_OK) {
		err = report(s, b, &res);
	}
	if (err != FB_OK) {
		return cli_fail("tune", err,
				"final run of the best configuration");
	}
	return 0;
}

int
cmd_tune(int argc, char **argv)
{
	struct tune_state s;
	memset(&s, 0, sizeof(s));
	int rc = parse_args(argc, argv, &s.a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	fb_blas_set_threads(1);
	struct fb_dataset *ds = NULL;
	fb_err err = fb_dataset_load(&ds, s.a.data);
	if (err != FB_OK) {
		return cli_fail("tune", err, "cannot load the dataset");
	}
	s.ds = ds;
	s.start = fb_clock_s();
	s.csv_path = fb_path_join(s.a.out, "trials.csv");
	err = s.csv_path != NULL ? fb_mkdir_p(s.a.out) : FB_ENOMEM;
	if (err == FB_OK) {
		err = check_search(&s);
	}
	if (err == FB_OK) {
		err = read_csv(&s);
	}
	if (err == FB_OK) {
		err = search(&s);
	}
	rc = err == FB_OK ? finish_search(&s)
			  : cli_fail("tune", err, "search failed");
	free(s.t);
	free(s.old);
	free(s.csv_path);
	fb_dataset_destroy(ds);
	return rc;
}
