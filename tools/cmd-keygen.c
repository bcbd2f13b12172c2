// tools/cmd-keygen.c: `fedbundle keygen`, a long-term Ed25519 identity
// (protocols/wire-v1.md §3.1): PREFIX.key (secret, 0600) and PREFIX.pub (one
// line, for the aggregator's roster or a client's pin). The work is
// fb_identity_generate + fb_identity_save; this file only parses options,
// refuses to overwrite without --force, and prints the .pub line.
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/net/identity.h"

static const char cmd[] = "keygen";

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: fedbundle keygen --out PREFIX [--name NAME] "
			"[--force]\n\n"
			"Creates a long-term Ed25519 identity for an aggregator "
			"or a client:\n"
			"  PREFIX.key  the secret key, mode 0600 (fedbundle "
			"refuses to load it\n"
			"              if group or others can access it)\n"
			"  PREFIX.pub  one line: fedbundle-ed25519 "
			"<base64 key> <name>\n\n"
			"Append each client's .pub line to the aggregator's "
			"roster file; give\n"
			"the aggregator's .pub to every client, which pins it.\n\n"
			"options:\n"
			"  --out PREFIX  where to write PREFIX.key and "
			"PREFIX.pub (required)\n"
			"  --name NAME   the identity's name, its peer id in "
			"logs: 1-%d characters\n"
			"                of A-Z a-z 0-9 . _ - (default: the "
			"last part of PREFIX)\n"
			"  --force       overwrite existing PREFIX.key and "
			"PREFIX.pub\n"
			"  -h, --help    show this help\n",
			FB_ID_NAME_MAX);
}

int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
			{"out", required_argument, NULL, 'o'},
			{"name", required_argument, NULL, 'n'},
			{"force", no_argument, NULL, 'f'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *prefix = NULL, *name = NULL;
	bool force = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			prefix = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
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
	if (prefix == NULL || prefix[0] == '\0') {
		return cli_usage_error(cmd, "--out PREFIX is required");
	}
	if (name == NULL) {
		const char *slash = strrchr(prefix, '/');
		name = slash != NULL ? slash + 1 : prefix;
	}
	if (!fb_id_name_valid(name)) {
		return cli_usage_error(cmd,
				"name '%s' is not 1-%d characters of A-Z a-z "
				"0-9 . _ - (use --name)",
				name, FB_ID_NAME_MAX);
	}
	struct fb_identity *id = NULL;
	fb_err err = fb_identity_generate(&id, name);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "cannot create the identity");
	}
	err = fb_identity_save(id, prefix, force);
	if (err != FB_OK) {
		fb_identity_destroy(id);
		if (!force && strstr(fb_last_error(err), "already exists")) {
			fprintf(stderr,
					"fedbundle %s: %s (use --force to replace "
					"it)\n",
					cmd, fb_last_error(err));
			return 1;
		}
		return cli_fail(cmd, err, "cannot write the key files");
	}
	char line[FB_ID_PUB_LINE_MAX];
	err = fb_peer_key_format(fb_identity_public_key(id),
			fb_identity_name(id), line, sizeof(line));
	fb_identity_destroy(id);
	if (err != FB_OK) {
		return cli_fail(cmd, err, "cannot format the public key");
	}
	fputs(line, stdout);
	fprintf(stderr,
			"fedbundle %s: wrote %s.key (secret, mode 0600) and "
			"%s.pub\n",
			cmd, prefix, prefix);
	return 0;
}
