// server/main.c: `fedbundle-server`, the aggregator. Reads its strict JSON
// configuration, loads its identity, the roster and the public catalogue,
// resumes from its checkpoint if there is one, and runs the round loop:
// one owner thread takes requests from the transport's queue, answers
// each (serve.h) and advances the schedule (round.h) between them. Ends
// after the last round once the connected clients got PLAN DONE, or on
// SIGINT/SIGTERM (a collecting round is then abandoned; the checkpoint of
// the last commit stands). SIGHUP reloads the roster (reload.h).
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dpdefaults.h"
#include "fb_config.h"
#include "fb_vcs.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/model.h"
#include "fedbundle/net/handshake.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/log.h"
#include "oplog.h"
#include "reload.h"
#include "round.h"
#include "serve.h"
#include "status.h"

static volatile sig_atomic_t stop_signal, hup_signal;

static void
on_signal(int sig)
{
	if (sig == SIGHUP) {
		hup_signal = 1;
	} else {
		stop_signal = sig;
	}
}

// What the loop's turn hook works on.
struct daemon {
	struct agg_server *srv;
	struct agg_reload reload;
	struct agg_status *status; // NULL: no status page
};

// agg_serve_loop's turn hook: publishes the status snapshot; a SIGHUP
// reloads the roster, and a reload waiting for a secure round completes
// once it ended.
static void
on_turn(void *ctx, uint64_t now_ms)
{
	struct daemon *d = ctx;
	if (d->status != NULL) {
		agg_status_publish(d->status, d->srv->fed, d->srv);
	}
	bool due = agg_reload_due(&d->reload, d->srv);
	if (hup_signal == 0 && !due) {
		return;
	}
	hup_signal = 0;
	fb_err err = agg_reload_roster(&d->reload, d->srv, now_ms);
	if (err != FB_OK) {
		fb_log(FB_LOG_ERROR,
				"roster reload refused, the old roster stays "
				"in force: %s",
				fb_last_error(err));
	}
}

// agg_serve_loop's stop test: the reason once a signal came.
static const char *
signalled(void *ctx)
{
	return stop_signal != 0 ? "stopped by a signal" : NULL;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle-server --config FILE [options]\n"
			"\n"
			"The fedbundle aggregator: plans rounds, sends the global "
			"model to the\nenrolled clients (protocols/wire-v1.md), "
			"sums their updates and applies\nthe server optimizer, "
			"checkpointing after every committed round.\n"
			"\n"
			"options:\n"
			"  --config FILE       JSON configuration (keys below; "
			"required)\n"
			"  --metrics-out FILE  append one JSON line per round\n"
			"  --listen URLS       override the config's listen\n"
			"  --rounds N          override the config's rounds\n"
			"  --log-level L       silent, error, warn, info "
			"(default) or debug\n"
			"  --log-format F      text (default: dated lines) or "
			"json (one object a line)\n"
			"  --quiet             no per-round lines on stdout\n"
			"  -h, --help          this text\n"
			"  --version           print the version and exit\n"
			"\n"
			"configuration keys (relative paths are relative to the "
			"config file):\n");
	agg_config_print_keys(fp, FB_CFG_HELP);
}

struct args {
	const char *config, *metrics, *listen;
	uint32_t rounds;
	int quiet;
};

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "fedbundle-server: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
			{"config", required_argument, NULL, 'c'},
			{"metrics-out", required_argument, NULL, 'm'},
			{"listen", required_argument, NULL, 'l'},
			{"rounds", required_argument, NULL, 'r'},
			{"log-level", required_argument, NULL, 'L'},
			{"log-format", required_argument, NULL, 'F'},
			{"quiet", no_argument, NULL, 'q'},
			{"help", no_argument, NULL, 'h'},
			{"version", no_argument, NULL, 'V'},
			{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 'm':
			a->metrics = optarg;
			break;
		case 'l':
			a->listen = optarg;
			break;
		case 'r': {
			char *end = NULL;
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || v == 0 ||
					v > 1000000) {
				return usage_error("--rounds: '%s' is not a "
						   "number in 1..1000000",
						optarg);
			}
			a->rounds = (uint32_t)v;
			break;
		}
		case 'L': {
			enum fb_log_level lv;
			if (!fb_log_parse_level(optarg, &lv)) {
				return usage_error("--log-level: unknown level "
						   "'%s'",
						optarg);
			}
			fb_log_set_level(lv);
			break;
		}
		case 'F': {
			enum fb_log_format lf;
			if (!fb_log_parse_format(optarg, &lf)) {
				return usage_error(
						"--log-format: unknown format "
						"'%s' (text or json)",
						optarg);
			}
			fb_log_set_format(lf);
			break;
		}
		case 'q':
			a->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			printf("fedbundle-server %s (%s)\n", FB_VERSION,
					FB_VCS_TAG);
			return -1;
		default:
			return usage_error("%s", "unknown option");
		}
	}
	if (optind < argc) {
		return usage_error("unexpected argument '%s'", argv[optind]);
	}
	if (a->config == NULL) {
		return usage_error("%s", "--config FILE is required");
	}
	return 0;
}

static int
fail(const char *what, fb_err err)
{
	fb_log_say(FB_LOG_ERROR, "fedbundle-server", "%s: %s", what,
			fb_last_error(err));
	return 1;
}

// The user-level DP defaults from the rule (dpdefaults.h), said at
// start-up like `fedbundle train --dp user` says them: false, with the
// error printed, if the rule cannot use the configuration.
static bool
dp_defaults(struct agg_config *cfg, const struct fb_dataset *cat,
		const struct fb_roster *roster, const char *path)
{
	struct agg_dpdefaults d;
	fb_err err = agg_dpdefaults_apply(cfg, cat->n_items, cat->n_bundles,
			(uint32_t)fb_roster_count(roster), &d);
	if (err == FB_OK) {
		err = agg_config_check(cfg, path);
	}
	if (err != FB_OK) {
		fail("bad configuration", err);
		return false;
	}
	if (d.applied) {
		char line[640];
		agg_dpdefaults_describe(cfg, &d, line, sizeof(line));
		fb_log_say(FB_LOG_INFO, "fedbundle-server", "%s", line);
	}
	return true;
}

// The start-up check of the catalogue against the configured version
// (catalog_digest): false, with the error printed, if they differ.
static bool
catalog_matches(const struct agg_config *cfg, const struct fb_dataset *cat)
{
	uint8_t have[FB_HASH_LEN], want[FB_HASH_LEN];
	char hex[FB_CATDIR_HEX_LEN + 1];
	fb_catdir_digest(cat, have);
	fb_hash_hex(have, hex);
	if (cat->n_users > 0) {
		fb_log(FB_LOG_WARN,
				"catalogue %s holds %u users: the aggregator "
				"uses only its catalogue files",
				cfg->catalog, cat->n_users);
	}
	if (cfg->catalog_digest[0] == '\0') {
		fb_log(FB_LOG_INFO, "catalogue %s: digest %s", cfg->catalog,
				hex);
		return true;
	}
	if (fb_catdir_parse_hex(cfg->catalog_digest, want) &&
			memcmp(have, want, FB_HASH_LEN) == 0) {
		return true;
	}
	fb_log_say(FB_LOG_ERROR, "fedbundle-server",
			"bad configuration: the catalogue "
			"%s is version %s (%u bundles, %u items, %u attrs), "
			"but catalog_digest names %s: give the consortium's "
			"catalogue folder, or the digest `fedbundle catalog "
			"digest` prints for it",
			cfg->catalog, hex, cat->n_bundles, cat->n_items,
			cat->n_attrs, cfg->catalog_digest);
	return false;
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr,
				"fedbundle-server: libsodium failed to "
				"initialise\n");
		return 1;
	}
	fb_log_set_tag("server");
	double started_unix_s = (double)time(NULL);
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		return rc < 0 ? 0 : rc;
	}
	static struct agg_config cfg;
	fb_err err = agg_config_load(&cfg, a.config);
	if (err != FB_OK) {
		return fail("bad configuration", err);
	}
	if (a.listen != NULL) {
		snprintf(cfg.listen, sizeof(cfg.listen), "%s", a.listen);
		if ((err = agg_config_split_urls(&cfg)) != FB_OK) {
			return fail("--listen", err);
		}
	}
	if (a.rounds > 0) {
		cfg.rounds = a.rounds;
	}
	fb_blas_set_threads(1);
	struct fb_identity *id = NULL;
	struct fb_roster *roster = NULL;
	struct fb_dataset *cat = NULL;
	struct fb_hs_server *hs = NULL;
	struct fb_listener *listener = NULL;
	static struct agg_fed fed;
	struct agg_server srv = {0};
	struct daemon dmn = {.srv = &srv};
	bool fed_ok = false;
	rc = 1;
	if ((err = fb_identity_load(&id, cfg.key)) != FB_OK) {
		fail("cannot load the identity key", err);
		goto out;
	}
	if ((err = fb_roster_load(&roster, cfg.roster)) != FB_OK) {
		fail("cannot load the roster", err);
		goto out;
	}
	if ((err = fb_dataset_load(&cat, cfg.catalog)) != FB_OK) {
		fail("cannot load the catalogue", err);
		goto out;
	}
	if (!catalog_matches(&cfg, cat) ||
			!dp_defaults(&cfg, cat, roster, a.config)) {
		goto out;
	}
	if ((err = agg_fed_init(&fed, &cfg, cat, roster, fb_clock_ms())) !=
			FB_OK) {
		fail("cannot set up the federation", err);
		goto out;
	}
	fed_ok = true;
	if ((err = agg_fed_set_consortium(&fed, fb_identity_public_key(id),
			     cfg.roster)) != FB_OK) {
		fail("cannot set up secure aggregation", err);
		goto out;
	}
	if (a.quiet) {
		fed.human = NULL;
	}
	if (a.metrics != NULL) {
		fed.metrics = fopen(a.metrics, "a");
		if (fed.metrics == NULL) {
			fail("--metrics-out",
					fb_errorf(FB_EIO, "%s: cannot open",
							a.metrics));
			goto out;
		}
		agg_oplog_recover(&fed, a.metrics);
	}
	agg_oplog_catalog(&fed);
	size_t max_msg = agg_fed_max_msg(&fed);
	struct fb_hs_server_config hc = agg_fed_hs_config(&fed);
	if ((err = fb_hs_server_create(&hs, id, roster, &hc)) != FB_OK ||
			(err = agg_sessions_init(&srv.sessions,
					 4 * (size_t)fed.n_clients + 16)) !=
					FB_OK) {
		fail("cannot set up the handshake", err);
		goto out;
	}
	struct fb_listener_config lc = agg_config_listener(&cfg, max_msg);
	if ((err = fb_listener_create(&listener, &lc)) != FB_OK) {
		fail("cannot listen", err);
		goto out;
	}
	// Clients may wait for a quorum from now on, not from start-up
	// (calibrating sigma can take a while).
	fed.idle_since_ms = fb_clock_ms();
	srv.roster = roster;
	srv.hs = hs;
	srv.fed = &fed;
	dmn.reload.path = cfg.roster;
	dmn.reload.agg_pk = fb_identity_public_key(id);
	srv.turn = on_turn;
	srv.turn_ctx = &dmn;
	if (cfg.status_listen[0] != '\0') {
		if ((err = agg_status_start(&dmn.status, cfg.status_listen,
				     started_unix_s)) != FB_OK) {
			fail("cannot serve the status page", err);
			goto out;
		}
		fed.observer = agg_status_observe;
		fed.observer_ctx = dmn.status;
		fb_log(FB_LOG_INFO, "status page on %s/metrics",
				cfg.status_listen);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	static const char *const gran[] = {"none (NOT private)",
			"user-level DP", "client-level DP (central noise)"};
	fb_log_say(FB_LOG_INFO, "fedbundle-server",
			"%s listening on %s; %u client(s) "
			"enrolled; %u rounds, quorum %u, deadline %u ms; %s, "
			"noise multiplier %.4f; model %u items, %u bundles, "
			"%u attrs, d=%u; largest message %.2f MB",
			fb_identity_name(id), cfg.listen, fed.n_clients,
			cfg.rounds, cfg.quorum, cfg.deadline_ms,
			gran[cfg.round.granularity],
			fed.plan_cfg.noise_multiplier, fed.model.n_items,
			fed.model.n_bundles, fed.model.n_attrs, fed.model.dim,
			(double)max_msg / 1e6);
	agg_serve_loop(&srv, listener, signalled, NULL);
	// Replies still queued in NNG are dropped on close: give them time.
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	agg_oplog_summary(&fed, stdout, fb_clock_ms());
	fprintf(stdout, "  refused messages: %llu\n",
			(unsigned long long)srv.refused);
	rc = fed.fatal ? 1 : 0;
	if (fed.n_committed == 0 && fed.n_abandoned > 0 && stop_signal == 0) {
		// Nothing was trained: a configuration that can never run
		// must not look like a success to whoever started it.
		char why[1024];
		agg_fed_failure(&fed, why, sizeof(why));
		fb_log_say(FB_LOG_ERROR, "fedbundle-server", "%s", why);
		rc = 1;
	}
out:
	agg_status_stop(dmn.status);
	fb_listener_destroy(listener);
	agg_sessions_finish(&srv.sessions);
	fb_hs_server_destroy(hs);
	agg_reload_finish(&dmn.reload);
	if (fed.metrics != NULL) {
		fclose(fed.metrics);
	}
	if (fed_ok) {
		agg_fed_finish(&fed);
	}
	fb_dataset_destroy(cat);
	fb_roster_destroy(roster);
	fb_identity_destroy(id);
	fb_transport_fini();
	return rc;
}
