// tools/fedbundle.c: the `fedbundle` command-line tool. It only dispatches:
// each subcommand lives in tools/cmd-<name>.c and parses its own options.
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "fb_config.h"
#include "fb_vcs.h"

static int
cmd_version(int argc, char **argv)
{
	printf("fedbundle %s (%s)\n", FB_VERSION, FB_VCS_TAG);
	return 0;
}

static const struct cli_command commands[] = {
		// One line per subcommand, in the order `fedbundle --help` lists them.
		{"train", "train the recommender centrally (reference run)",
				cmd_train},
		{"tune", "search hyper-parameters on the tune split (resumable)",
				cmd_tune},
		{"catalog",
				"build the consortium's catalogue from CSV, or "
				"print a folder's catalogue digest",
				cmd_catalog},
		{"import", "turn CSV exports into a dataset folder",
				cmd_import},
		{"eval", "evaluate a model: Recall, NDCG, Precision, F1 at K",
				cmd_eval},
		{"recommend", "top-K bundles for a user, or the score of an item set",
				cmd_recommend},
		{"complete", "the items that best complete a partial bundle",
				cmd_complete},
		{"compose", "compose personalised bundles of given size",
				cmd_compose},
		{"complete-eval", "bundle completion: model against baselines",
				cmd_complete_eval},
		{"sim-model", "a simulation's federated model as one model file",
				cmd_sim_model},
		{"export", "write a model's factors as NumPy .npy plus the ids",
				cmd_export},
		{"datagen", "generate a synthetic consortium dataset",
				cmd_datagen},
		{"partition", "split a dataset's users across retailers",
				cmd_partition},
		{"keygen", "create an identity key pair (PREFIX.key, PREFIX.pub)",
				cmd_keygen},
		{"ledger", "verify or show a privacy ledger", cmd_ledger},
		{"privacy", "epsilon for a noise level, or sigma for a target",
				cmd_privacy},
		{"audit", "check that the privacy guarantee holds on a dataset",
				cmd_audit},
		{"simulate", "a whole consortium on this machine (research)",
				cmd_simulate},
		{"sweep", "many simulations over a grid, into one CSV (resumable)",
				cmd_sweep},
		{"plot", "figures of a sweep's results.csv (gnuplot)",
				cmd_plot},
		{"floors",
				"the two floors of a DP figure: DP popularity, "
				"zero-release",
				cmd_floors},
		{"subsample", "a dataset cut down to N random users",
				cmd_subsample},
		{"config-doc",
				"print docs/configuration.md: every "
				"configuration key",
				cmd_config_doc},
		{"config-check",
				"check a configuration file with its "
				"program's loader",
				cmd_config_check},
		{"version", "print the version", cmd_version},
};

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle <command> [options]\n\n"
			"A privacy-preserving federated bundle recommender.\n\n"
			"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		fprintf(fp, "  %-10s %s\n", commands[i].name,
				commands[i].summary);
	}
	fprintf(fp,
			"\n'fedbundle <command> --help' (or -h) describes a "
			"command;\n'fedbundle --version' prints the version.\n");
}

// -h is --help in every subcommand (and every audit check): no option
// takes "-h" as a value, so it is rewritten once here rather than in each
// command's option table.
static void
alias_short_help(int argc, char **argv)
{
	static char help[] = "--help";
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			return;
		}
		if (strcmp(argv[i], "-h") == 0) {
			argv[i] = help;
		}
	}
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "fedbundle: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		return cmd_version(argc - 1, argv + 1);
	}
	alias_short_help(argc, argv);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "fedbundle: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
