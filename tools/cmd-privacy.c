// tools/cmd-privacy.c: `fedbundle privacy`, the privacy calculator of the
// Poisson-subsampled Gaussian (DP-SGD / DP-FedAvg style) mechanism.
// Given --sigma it prints epsilon; given --epsilon it prints the smallest
// noise multiplier meeting it. Scripts rely on the --json form exactly:
// {"epsilon": E, ...} or {"sigma": S, ...} when --accountant is given.
// Printed epsilons and sigmas are rounded UP (never below the computed
// bound), so a printed value can be fed back without breaking the target.
// It is the continuous Gaussian's calculator: fedbundle's fixed-point
// releases add the grid's small terms (accountant.h, fb_acct_grid), which
// the ledgers record and `fedbundle ledger verify` includes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/privacy/accountant.h"

static const char *const CMD = "privacy";

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle privacy --q Q --steps T --delta D\n"
			"                         (--sigma S | --epsilon E)\n"
			"                         [--accountant rdp|pld] [--json]\n"
			"\n"
			"Privacy of T steps of the Poisson-subsampled Gaussian "
			"mechanism\n"
			"(sampling rate Q, noise multiplier S = noise std / L2 "
			"sensitivity),\n"
			"add/remove-one neighbouring.\n"
			"\n"
			"  --q Q          sampling rate, in (0, 1]\n"
			"  --steps T      number of steps, >= 1\n"
			"  --delta D      target delta, in (0, 1)\n"
			"  --sigma S      noise multiplier: print epsilon\n"
			"  --epsilon E    target epsilon: print the smallest "
			"sigma meeting it\n"
			"  --accountant A rdp (Renyi DP, tight conversion) or "
			"pld (privacy\n"
			"                 loss distribution, tighter); both "
			"side by side if absent\n"
			"  --json         one JSON object: {\"epsilon\": ...} or "
			"{\"sigma\": ...};\n"
			"                 without --accountant, {\"rdp\": {...}, "
			"\"pld\": {...}}\n"
			"  --help         this text\n"
			"\n"
			"Epsilons and sigmas are upper bounds, printed rounded "
			"up.\n");
}

// The smallest decimal with `digits` significant digits that is >= x
// (x > 0).
static double
round_up(double x, int digits)
{
	if (!isfinite(x) || !(x > 0)) {
		return x;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%.*e", digits - 1, x);
	double r = strtod(buf, NULL);
	if (r >= x) {
		return r;
	}
	double step = pow(10.0, floor(log10(x)) - (digits - 1));
	snprintf(buf, sizeof(buf), "%.*e", digits - 1, x + step);
	r = strtod(buf, NULL);
	return r >= x ? r : x;
}

// Prints a number for JSON: finite with 10 significant digits, or null.
static void
json_num(const char *key, double v, const char *sep)
{
	if (isfinite(v)) {
		printf("\"%s\": %.10g%s", key, v, sep);
	} else {
		printf("\"%s\": null%s", key, sep);
	}
}

struct args {
	double q, sigma, eps, delta;
	uint64_t steps;
	bool have_q, have_sigma, have_eps, have_delta, have_steps;
	bool json, have_kind;
	enum fb_acct_kind kind;
};

// One accountant's answer.
struct result {
	double eps;   // epsilon (forward) or epsilon reached (calibration)
	double sigma; // calibration only
	double order; // RDP only
};

static int
compute(const struct args *a, enum fb_acct_kind kind, struct result *r)
{
	fb_err err;
	if (a->have_sigma) {
		struct fb_acct *acct = NULL;
		err = fb_acct_create(&acct, kind);
		if (err == FB_OK) {
			err = fb_acct_add(acct, a->q, a->sigma, a->steps);
		}
		if (err == FB_OK) {
			err = fb_acct_epsilon_order(
					acct, a->delta, &r->eps, &r->order);
		}
		fb_acct_destroy(acct);
		if (err != FB_OK) {
			return cli_fail(CMD, err, fb_acct_kind_name(kind));
		}
		r->eps = round_up(r->eps, 7);
		r->sigma = a->sigma;
		return 0;
	}
	err = fb_acct_calibrate_sigma(kind, a->q, a->steps, NULL, a->eps,
			a->delta, &r->sigma);
	if (err == FB_OK) {
		err = fb_acct_epsilon_for(kind, a->q, r->sigma, a->steps,
				a->delta, &r->eps);
	}
	if (err != FB_OK) {
		return cli_fail(CMD, err, fb_acct_kind_name(kind));
	}
	r->eps = round_up(r->eps, 7);
	r->order = NAN;
	return 0;
}

static void
print_json_one(const struct args *a, enum fb_acct_kind kind,
		const struct result *r, bool top)
{
	if (a->have_sigma) {
		json_num("epsilon", r->eps, ", ");
	} else {
		json_num("sigma", r->sigma, ", ");
		json_num("epsilon_reached", r->eps, ", ");
	}
	if (kind == FB_ACCT_RDP && isfinite(r->order)) {
		json_num("rdp_order", r->order, ", ");
	}
	printf("\"accountant\": \"%s\"", fb_acct_kind_name(kind));
	if (top) {
		printf(", ");
	}
}

static void
print_json_params(const struct args *a)
{
	json_num("q", a->q, ", ");
	if (a->have_sigma) {
		json_num("noise_multiplier", a->sigma, ", ");
	} else {
		json_num("target_epsilon", a->eps, ", ");
	}
	printf("\"steps\": %llu, ", (unsigned long long)a->steps);
	json_num("delta", a->delta, "");
}

static void
print_table(const struct args *a, const enum fb_acct_kind *kinds,
		const struct result *res, size_t n)
{
	printf("Poisson-subsampled Gaussian, add/remove-one neighbours\n");
	printf("  q = %.10g   steps = %llu   delta = %.10g   ", a->q,
			(unsigned long long)a->steps, a->delta);
	if (a->have_sigma) {
		printf("sigma = %.10g\n\n", a->sigma);
		printf("  %-12s %-14s %s\n", "accountant", "epsilon", "note");
	} else {
		printf("target epsilon = %.10g\n\n", a->eps);
		printf("  %-12s %-14s %-14s\n", "accountant", "sigma",
				"epsilon");
	}
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		const char *name = kinds[i] == FB_ACCT_RDP ? "RDP" : "PLD";
		if (a->have_sigma) {
			char note[64] = "";
			if (kinds[i] == FB_ACCT_RDP && isfinite(r->order)) {
				snprintf(note, sizeof(note),
						"optimal Renyi order %g",
						r->order);
			} else if (kinds[i] == FB_ACCT_PLD) {
				snprintf(note, sizeof(note),
						"both directions, pessimistic");
			}
			printf("  %-12s %-14.7g %s\n", name, r->eps, note);
		} else {
			printf("  %-12s %-14.7g %-14.7g\n", name, r->sigma,
					r->eps);
		}
	}
	if (a->have_sigma && a->q == 1.0) {
		// Without subsampling the mechanism is one Gaussian with
		// sigma / sqrt(T): its exact epsilon, for comparison.
		double e;
		if (fb_acct_gaussian_epsilon(a->sigma / sqrt((double)a->steps),
				    a->delta, &e) == FB_OK) {
			printf("  %-12s %-14.7g %s\n", "exact", round_up(e, 7),
					"analytic Gaussian (q = 1)");
		}
	}
}

static bool
parse_args(int argc, char **argv, struct args *a, int *status)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			*status = 0;
			return false;
		}
		if (strcmp(arg, "--json") == 0) {
			a->json = true;
			continue;
		}
		// --name value or --name=value
		const char *eq = strchr(arg, '=');
		size_t nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		const char *val = eq != NULL ? eq + 1 : NULL;
		static const char *const opts[] = {"--q", "--sigma",
				"--epsilon", "--steps", "--delta",
				"--accountant"};
		int which = -1;
		for (int k = 0; k < 6; k++) {
			if (strlen(opts[k]) == nlen &&
					strncmp(arg, opts[k], nlen) == 0) {
				which = k;
			}
		}
		if (which < 0) {
			*status = cli_usage_error(
					CMD, "unknown option '%s'", arg);
			return false;
		}
		if (val == NULL) {
			if (i + 1 >= argc) {
				*status = cli_usage_error(CMD,
						"%s needs a value",
						opts[which]);
				return false;
			}
			val = argv[++i];
		}
		bool ok = true;
		switch (which) {
		case 0:
			ok = cli_parse_double(CMD, "--q", val, &a->q);
			a->have_q = true;
			break;
		case 1:
			ok = cli_parse_double(CMD, "--sigma", val, &a->sigma);
			a->have_sigma = true;
			break;
		case 2:
			ok = cli_parse_double(CMD, "--epsilon", val, &a->eps);
			a->have_eps = true;
			break;
		case 3:
			ok = cli_parse_u64(CMD, "--steps", val, &a->steps);
			a->have_steps = true;
			break;
		case 4:
			ok = cli_parse_double(CMD, "--delta", val, &a->delta);
			a->have_delta = true;
			break;
		default:
			if (fb_acct_kind_parse(val, &a->kind) != FB_OK) {
				*status = cli_usage_error(CMD,
						"--accountant: '%s' is neither "
						"'rdp' nor 'pld'",
						val);
				return false;
			}
			a->have_kind = true;
			break;
		}
		if (!ok) {
			*status = 2;
			return false;
		}
	}
	const char *bad = NULL;
	char msg[160];
	if (!a->have_q || !a->have_steps || !a->have_delta) {
		bad = !a->have_q                 ? "--q is required"
				: !a->have_steps ? "--steps is required"
						 : "--delta is required";
	} else if (a->have_sigma == a->have_eps) {
		bad = "give exactly one of --sigma and --epsilon";
	} else if (!(a->q > 0 && a->q <= 1)) {
		snprintf(msg, sizeof(msg), "--q: %g is outside (0, 1]", a->q);
		bad = msg;
	} else if (a->steps < 1) {
		bad = "--steps: must be at least 1";
	} else if (!(a->delta > 0 && a->delta < 1)) {
		snprintf(msg, sizeof(msg), "--delta: %g is outside (0, 1)",
				a->delta);
		bad = msg;
	} else if (a->have_sigma && !(a->sigma > 0)) {
		snprintf(msg, sizeof(msg), "--sigma: %g must be positive",
				a->sigma);
		bad = msg;
	} else if (a->have_eps && !(a->eps > 0)) {
		snprintf(msg, sizeof(msg), "--epsilon: %g must be positive",
				a->eps);
		bad = msg;
	}
	if (bad != NULL) {
		*status = cli_usage_error(CMD, "%s", bad);
		return false;
	}
	return true;
}

int
cmd_privacy(int argc, char **argv)
{
	struct args a;
	int status = 0;
	if (!parse_args(argc, argv, &a, &status)) {
		return status;
	}
	enum fb_acct_kind kinds[2] = {FB_ACCT_RDP, FB_ACCT_PLD};
	size_t n = 2;
	if (a.have_kind) {
		kinds[0] = a.kind;
		n = 1;
	}
	struct result res[2];
	for (size_t i = 0; i < n; i++) {
		status = compute(&a, kinds[i], &res[i]);
		if (status != 0) {
			return status;
		}
	}
	if (!a.json) {
		print_table(&a, kinds, res, n);
		return 0;
	}
	printf("{");
	if (n == 1) {
		print_json_one(&a, kinds[0], &res[0], true);
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("\"%s\": {", fb_acct_kind_name(kinds[i]));
			print_json_one(&a, kinds[i], &res[i], false);
			printf("}, ");
		}
	}
	print_json_params(&a);
	printf("}\n");
	return 0;
}
