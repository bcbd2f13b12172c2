// tools/cmd-ledger.c: `fedbundle ledger verify|show`, the auditor's view of
// a privacy ledger: the hash chain is verified entry by entry, an optional
// anchor (count and head hash recorded elsewhere) detects removed tail
// entries, and the epsilon spent is recomputed from the entries alone by
// both accountants; budget entries (a client's recorded budget
// decisions, ledger.h) are counted and shown apart, and the last one is
// the budget the spent epsilon is compared with. It only reads (fb_ledger_open_read), so it works
// while a client or the aggregator holds the ledger for appending.
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/privacy/ledger.h"

static const char *const usage_text =
		"usage: fedbundle ledger verify FILE [--delta D] [--anchor "
		"COUNT:HASH] [--json]\n"
		"       fedbundle ledger show FILE\n"
		"\n"
		"verify  checks every entry and the BLAKE2b hash chain, and "
		"prints the\n"
		"        number of releases, the head hash and the epsilon they "
		"spend\n"
		"        (recomputed by the RDP and PLD accountants) at delta "
		"(default:\n"
		"        the last budget entry's delta, else the last "
		"entry's), and the\n"
		"        budget entries (the owner's recorded epsilon and "
		"delta). --anchor\n"
		"        checks that the first COUNT\n"
		"        entries hash to HASH (an anchor kept by the client "
		"state or\n"
		"        the aggregator), which detects entries removed at the "
		"end.\n"
		"        An incomplete final entry (a crash's torn append) is "
		"not counted\n"
		"        and is reported (--json: torn_bytes).\n"
		"show    prints the entries, one per line (budget entries "
		"as BUDGET\n"
		"        with their epsilon and delta).\n"
		"Exit status 0 if the ledger verifies, 1 otherwise.\n";

static int
verify(const char *path, double delta, const char *anchor, int json)
{
	struct fb_ledger *l = NULL;
	fb_err err = fb_ledger_open_read(&l, path);
	if (err != FB_OK) {
		if (json) {
			printf("{\"ok\": false, \"error\": \"%s\"}\n",
					fb_last_error(err));
		}
		return cli_fail("ledger", err, "verification failed");
	}
	size_t n = fb_ledger_count(l);
	if (anchor != NULL) {
		unsigned long long count = 0;
		char hex[2 * FB_HASH_LEN + 1] = "";
		uint8_t head[FB_HASH_LEN];
		size_t bin_len = 0;
		if (sscanf(anchor, "%llu:%64s", &count, hex) != 2 ||
				sodium_hex2bin(head, sizeof(head), hex,
						strlen(hex), NULL, &bin_len,
						NULL) != 0 ||
				bin_len != FB_HASH_LEN) {
			fb_ledger_close(l);
			return cli_usage_error("ledger",
					"--anchor: expected COUNT:HASH (64 hex "
					"digits)");
		}
		err = fb_ledger_check_anchor(l, (size_t)count, head);
		if (err != FB_OK) {
			fb_ledger_close(l);
			return cli_fail("ledger", err, "anchor check failed");
		}
	}
	struct fb_ledger_entry budget = {0};
	bool have_budget = false;
	fb_ledger_last_budget(l, &budget, &have_budget);
	size_t releases = fb_ledger_releases(l);
	if (delta <= 0 && have_budget) {
		delta = budget.delta;
	} else if (delta <= 0 && n > 0) {
		struct fb_ledger_entry e;
		fb_ledger_entry_at(l, n - 1, &e);
		delta = e.delta;
	}
	double eps[2] = {0, 0};
	for (int k = 0; k < 2 && releases > 0 && delta > 0; k++) {
		struct fb_acct *a = NULL;
		err = fb_ledger_accountant(l, (enum fb_acct_kind)k, &a);
		if (err == FB_OK) {
			err = fb_acct_epsilon(a, delta, &eps[k]);
		}
		fb_acct_destroy(a);
		if (err != FB_OK) {
			fb_ledger_close(l);
			return cli_fail("ledger", err, "accounting failed");
		}
	}
	// Releases with distributed noise (secure aggregation): also what
	// the owner keeps if every other party colluded with the aggregator.
	size_t ddg = 0;
	for (size_t k = 0; k < n; k++) {
		struct fb_ledger_entry e;
		fb_ledger_entry_at(l, k, &e);
		ddg += fb_ledger_is_ddg(&e);
	}
	double alone[2] = {0, 0};
	for (int k = 0; k < 2 && ddg > 0 && delta > 0; k++) {
		struct fb_acct *a = NULL;
		err = fb_ledger_accountant_alone(l, (enum fb_acct_kind)k, &a);
		if (err == FB_OK) {
			err = fb_acct_epsilon(a, delta, &alone[k]);
		}
		fb_acct_destroy(a);
		if (err != FB_OK) {
			fb_ledger_close(l);
			return cli_fail("ledger", err, "accounting failed");
		}
	}
	uint8_t head[FB_HASH_LEN];
	char hex[2 * FB_HASH_LEN + 1];
	fb_ledger_head(l, head);
	fb_hash_hex(head, hex);
	if (json) {
		// "epsilon_budget": the last budget entry's epsilon, 0 if none.
		// "torn_bytes": an incomplete final line, not counted (0: none).
		// With secure-aggregation releases only: how many, and the
		// epsilon with the owner's own noise shares alone.
		char sa[160] = "";
		if (ddg > 0) {
			snprintf(sa, sizeof(sa),
					", \"ddg_releases\": %zu, "
					"\"epsilon_alone_rdp\": %.6f, "
					"\"epsilon_alone_pld\": %.6f",
					ddg, alone[0], alone[1]);
		}
		printf("{\"ok\": true, \"releases\": %zu, \"budget_entries\": "
		       "%zu, \"entries\": %zu, \"head\": \"%s\", "
		       "\"anchor\": \"%zu:%s\", \"delta\": %g, "
		       "\"epsilon_budget\": %.17g, \"epsilon_rdp\": %.6f, "
		       "\"epsilon_pld\": %.6f, \"torn_bytes\": %zu%s}\n",
				releases, n - releases, n, hex, n, hex, delta,
				have_budget ? budget.epsilon : 0, eps[0],
				eps[1], fb_ledger_torn(l), sa);
	} else {
		printf("%s: OK, %zu releases, %zu budget entries, chain "
		       "intact\n",
				path, releases, n - releases);
		printf("head (anchor): %zu:%s\n", n, hex);
		if (fb_ledger_torn(l) > 0) {
			printf("torn final entry: %zu bytes not counted (a "
			       "crash, or an append in progress)\n",
					fb_ledger_torn(l));
		}
		if (releases > 0) {
			printf("epsilon at delta %g: %.4f (PLD), %.4f (RDP)\n",
					delta, eps[1], eps[0]);
		}
		if (ddg > 0) {
			printf("%zu releases with secure aggregation: with its "
			       "own noise shares alone (every other party "
			       "colluding), epsilon %.4f (PLD), %.4f (RDP)\n",
					ddg, alone[1], alone[0]);
		}
		if (have_budget) {
			printf("budget (entry %llu, after round %llu): epsilon "
			       "%g at delta %g\n",
					(unsigned long long)budget.seq,
					(unsigned long long)budget.round,
					budget.epsilon, budget.delta);
		}
	}
	fb_ledger_close(l);
	return 0;
}

static int
show(const char *path)
{
	struct fb_ledger *l = NULL;
	fb_err err = fb_ledger_open_read(&l, path);
	if (err != FB_OK) {
		return cli_fail("ledger", err, "cannot read");
	}
	printf("%6s %8s %-6s %10s %10s %6s %8s %10s  %s\n", "seq", "round",
			"mode", "q", "sigma", "steps", "clip", "delta", "time");
	for (size_t k = 0; k < fb_ledger_count(l); k++) {
		struct fb_ledger_entry e;
		fb_ledger_entry_at(l, k, &e);
		if (fb_ledger_is_budget(&e)) {
			printf("%6llu %8llu %-6s epsilon %g, delta %g (a new "
			       "budget, spends nothing)  %s\n",
					(unsigned long long)e.seq,
					(unsigned long long)e.round, "BUDGET",
					e.epsilon, e.delta, e.time);
			continue;
		}
		printf("%6llu %8llu %-6s %10.6g %10.6g %6llu %8.4g %10.3g  %s",
				(unsigned long long)e.seq,
				(unsigned long long)e.round, e.mode, e.q,
				e.sigma, (unsigned long long)e.steps, e.clip,
				e.delta, e.time);
		if (fb_ledger_is_ddg(&e)) {
			printf("  secagg: %llu honest shares, epsilon %.4f "
			       "(alone %.4f)",
					(unsigned long long)e.shares,
					e.eps_assumed, e.eps_alone);
		}
		printf("\n");
	}
	fb_ledger_close(l);
	return 0;
}

int
cmd_ledger(int argc, char **argv)
{
	static const struct option opts[] = {
			{"delta", required_argument, NULL, 'd'},
			{"anchor", required_argument, NULL, 'a'},
			{"json", no_argument, NULL, 'j'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	double delta = 0;
	const char *anchor = NULL;
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!cli_parse_double("ledger", "--delta", optarg,
					    &delta)) {
				return 2;
			}
			if (!(delta > 0 && delta < 1)) {
				return cli_usage_error("ledger",
						"--delta must be in (0, 1)");
			}
			break;
		case 'a':
			anchor = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("ledger", "unknown option");
		}
	}
	if (argc - optind != 2) {
		return cli_usage_error("ledger",
				"expected an action (verify or show) and a file");
	}
	const char *action = argv[optind], *path = argv[optind + 1];
	if (strcmp(action, "verify") == 0) {
		return verify(path, delta, anchor, json);
	}
	if (strcmp(action, "show") == 0) {
		return show(path);
	}
	return cli_usage_error("ledger", "unknown action '%s'", action);
}
