// tools/cmd-simulate.c: `fedbundle simulate`, a whole consortium on one
// machine with the real aggregator and client code (tools/sim.h does the
// work). The configuration file is the only input; --seed, --rounds and
// --threads override it (and the resolved configuration written to
// OUT/config.json says what ran). Errors are one line naming the file
// and the key.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/util/log.h"
#include "sim/sim.h"

static const char cmd[] = "simulate";

static void
usage(void)
{
	printf("usage: fedbundle simulate --config FILE [--out DIR] "
	       "[--processes] [options]\n"
	       "\n"
	       "Runs a consortium on this machine: the aggregator and K "
	       "retailers with the\ncode of fedbundle-server and "
	       "fedbundle-client, over NNG inproc:// in one\nprocess (or, "
	       "with --processes, as separate processes over tcp "
	       "loopback):\nthe real handshake, sealed messages, rounds and "
	       "DP. The dataset folder is\npartitioned in memory (IID or "
	       "Dirichlet).\nEvery run: %s.\nIn-process runs are "
	       "deterministic: the same configuration, seed and\nthreads "
	       "give byte-identical OUT/rounds.jsonl.\n"
	       "\n"
	       "Writes to OUT: config.json (every key, resolved), "
	       "manifest.json (config,\nseed, version, dataset checksums, "
	       "retailers), rounds.jsonl (one line per\nround: participants, "
	       "loss, Recall/NDCG@20/40 of the round's model over\nevery "
	       "retailer's test users, epsilon per client, bytes), "
	       "timing.jsonl,\naggregator.jsonl, summary.json, and work/ "
	       "(ledgers, states, checkpoint).\n"
	       "\n"
	       "options:\n"
	       "  --config FILE     simulation configuration (keys below; "
	       "required)\n"
	       "  --out DIR         output folder (default: FILE without "
	       ".json, plus .out)\n"
	       "  --processes       clients as processes over tcp loopback "
	       "(not bit-\n"
	       "                    reproducible: updates are summed in "
	       "arrival order;\n"
	       "                    per-round metrics are the clients' "
	       "reported Recall@20\n"
	       "                    of the previous round's model)\n"
	       "  --tcp             in-process, but over tcp loopback "
	       "instead of inproc://\n"
	       "                    (sockets, framing and kernel buffers "
	       "exercised; as\n"
	       "                    deterministic as the inproc run)\n"
	       "  --scratch DIR     ledgers, states and checkpoint here "
	       "instead of OUT/work\n"
	       "                    (e.g. on tmpfs; emptied first)\n"
	       "  --seed N          override the configuration's seed\n"
	       "  --rounds N        override the configuration's rounds\n"
	       "  --threads N       override the configuration's threads\n"
	       "  --quiet           no per-round lines\n"
	       "  --log-level L     silent, error (default), warn, info, "
	       "debug\n"
	       "  --help            this text\n"
	       "\n"
	       "configuration keys (\"round\": the keys of fedbundle-server's "
	       "round section):\n",
			SIM_NOISE_NOTE);
	sim_config_print_keys(stdout, FB_CFG_HELP);
}

// The command line, for the manifest.
static char *
join_args(int argc, char **argv)
{
	size_t len = 32;
	for (int i = 0; i < argc; i++) {
		len += strlen(argv[i]) + 1;
	}
	char *s = malloc(len);
	if (s == NULL) {
		return NULL;
	}
	strcpy(s, "fedbundle");
	for (int i = 0; i < argc; i++) {
		strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int
cmd_simulate(int argc, char **argv)
{
	static const struct option opts[] = {
			{"config", required_argument, NULL, 'c'},
			{"out", required_argument, NULL, 'o'},
			{"processes", no_argument, NULL, 'p'},
			{"tcp", no_argument, NULL, 'T'},
			{"scratch", required_argument, NULL, 'S'},
			{"seed", required_argument, NULL, 's'},
			{"rounds", required_argument, NULL, 'r'},
			{"threads", required_argument, NULL, 't'},
			{"quiet", no_argument, NULL, 'q'},
			{"log-level", required_argument, NULL, 'L'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *out = NULL;
	struct sim_options so = {0};
	uint64_t seed = 0;
	uint32_t rounds = 0, threads = 0;
	bool have_seed = false;
	fb_log_set_level(FB_LOG_ERROR);
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			so.processes = true;
			break;
		case 'T':
			so.tcp = true;
			break;
		case 'S':
			so.scratch = optarg;
			break;
		case 's':
			if (!cli_parse_u64(cmd, "--seed", optarg, &seed)) {
				return 2;
			}
			have_seed = true;
			break;
		case 'r':
			if (!cli_parse_u32(cmd, "--rounds", optarg, &rounds)) {
				return 2;
			}
			if (rounds == 0) {
				return cli_usage_error(
						cmd, "--rounds: must be > 0");
			}
			break;
		case 't':
			if (!cli_parse_u32(cmd, "--threads", optarg,
					    &threads) ||
					threads == 0 || threads > 64) {
				return cli_usage_error(cmd,
						"--threads: must be 1..64");
			}
			break;
		case 'q':
			so.quiet = true;
			break;
		case 'L': {
			enum fb_log_level lv;
			if (!fb_log_parse_level(optarg, &lv)) {
				return cli_usage_error(cmd,
						"--log-level: unknown level '%s'",
						optarg);
			}
			fb_log_set_level(lv);
			break;
		}
		case 'h':
			usage();
			return 0;
		case ':':
			return cli_usage_error(cmd, "%s needs a value",
					argv[optind - 1]);
		default:
			return cli_usage_error(cmd, "unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return cli_usage_error(
				cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (config == NULL) {
		return cli_usage_error(cmd, "--config FILE is required");
	}
	struct sim_config cfg;
	fb_err err = sim_config_load(&cfg, config);
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	if (have_seed) {
		cfg.seed = seed;
	}
	if (rounds > 0) {
		cfg.rounds = rounds;
	}
	if (threads > 0) {
		cfg.threads = threads;
	}
	char *def_out = NULL;
	if (out == NULL) {
		size_t n = strlen(config);
		def_out = malloc(n + 8);
		if (def_out == NULL) {
			return cli_fail(cmd, FB_ENOMEM, "starting");
		}
		strcpy(def_out, config);
		if (n > 5 && strcmp(def_out + n - 5, ".json") == 0) {
			def_out[n - 5] = '\0';
		}
		strcat(def_out, ".out");
		out = def_out;
	}
	char *line = join_args(argc, argv);
	so.command = line;
	fb_log_set_tag("simulate");
	struct sim_result res;
	err = sim_run(&cfg, out, &so, &res);
	free(line);
	if (err != FB_OK) {
		free(def_out);
		fprintf(stderr, "fedbundle %s: %s\n", cmd, fb_last_error(err));
		return 1;
	}
	printf("simulation finished: %u rounds (%u committed), %s", res.rounds,
			res.committed, sim_privacy_name(cfg.privacy));
	if (cfg.privacy == SIM_PRIV_NONE) {
		printf(" (non-private)");
	} else {
		printf(", noise multiplier %.4f, epsilon spent %.4f (delta %g)",
				res.noise_multiplier, res.epsilon,
				cfg.server.round.delta);
	}
	printf("\n");
	if (res.have_eval) {
		printf("  final: Recall@20 %.4f NDCG@20 %.4f Recall@40 %.4f "
		       "NDCG@40 %.4f over %llu test users\n",
				res.final_metric[0], res.final_metric[1],
				res.final_metric[2], res.final_metric[3],
				(unsigned long long)res.eval_users);
		if (!so.processes) {
			printf("  best:  Recall@20 %.4f (round %u)\n",
					res.best_metric[0], res.best_round);
		}
	}
	printf("  %.2f rounds/min, wall time %.1f s, peak RSS %.1f MB, "
	       "traffic %.1f MB\n",
			res.rounds_per_min, res.wall_s,
			(double)res.peak_rss_kb / 1024.0,
			(double)res.bytes / 1e6);
	printf("  %s; results in %s\n", SIM_NOISE_NOTE, out);
	free(def_out);
	return 0;
}
