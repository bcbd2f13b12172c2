// tools/cmd-audit.c: `fedbundle audit <check>`, checks that the privacy
// guarantee holds on real data and can fail: each check is a subcommand
// in its own file (tools/audit.h); this file only dispatches.
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

static const struct cli_command checks[] = {
		// One line per check, in the order `fedbundle audit --help`
		// lists them.
		{"sensitivity",
				"removing one user (or retailer) moves a "
				"release by <= kappa C",
				audit_sensitivity},
		{"membership",
				"canaries in one training run: a lower bound on "
				"epsilon",
				audit_membership},
};

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle audit <check> [options]\n\n"
			"Checks, on a dataset, that the privacy guarantee holds "
			"(exit status 0),\nor shows where it does not (1); 2 if "
			"the check could not run.\n\nchecks:\n");
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		fprintf(fp, "  %-12s %s\n", checks[i].name, checks[i].summary);
	}
	fprintf(fp, "\n'fedbundle audit <check> --help' describes a check.\n");
}

int
cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (strcmp(argv[1], checks[i].name) == 0) {
			return checks[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "fedbundle audit: unknown check '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
