// tools/cli.h: what every `fedbundle` subcommand shares: the command table,
// strict number parsing and the one-line error convention ("fedbundle
// <cmd>: <reason>" on stderr, non-zero exit).
// Thread-safety: single-threaded use from main().
#ifndef FB_TOOLS_CLI_H
#define FB_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

// A subcommand: argv[0] is the subcommand's name; returns the exit status.
struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

// Prints "fedbundle <cmd>: <message>" to stderr and returns 2 (usage).
int cli_usage_error(const char *cmd, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

// Prints "fedbundle <cmd>: <what>: <detail of err>" and returns 1.
int cli_fail(const char *cmd, fb_err err, const char *what);

// Like cli_fail for a failure whose cause may be the arguments: exit 2 (as a
// usage error) when err is FB_EINVAL (an item out of range or repeated, a
// size the allowed items cannot fill), 1 otherwise (a file that cannot be
// read, no memory). fedbundle(1), EXIT STATUS.
int cli_arg_fail(const char *cmd, fb_err err, const char *what);

// Strict parsers: the whole string must be a number in range; on failure
// they print a usage error naming opt and return false.
bool cli_parse_u32(
		const char *cmd, const char *opt, const char *s, uint32_t *out);
bool cli_parse_u64(
		const char *cmd, const char *opt, const char *s, uint64_t *out);
bool cli_parse_double(
		const char *cmd, const char *opt, const char *s, double *out);
// --user N: a dense user number. Anything else is refused naming s and
// suggesting --user-id (the retailer's own customer id).
bool cli_parse_user(const char *cmd, const char *s, uint32_t *out);

// True if stderr is a terminal (progress lines are then redrawn in place).
bool cli_stderr_is_tty(void);

// The subcommands, each in tools/cmd-<name>.c.
int cmd_datagen(int argc, char **argv);
int cmd_partition(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_complete(int argc, char **argv);
int cmd_compose(int argc, char **argv);
int cmd_complete_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_sim_model(int argc, char **argv);
int cmd_privacy(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_floors(int argc, char **argv);
int cmd_subsample(int argc, char **argv);
int cmd_config_doc(int argc, char **argv);
int cmd_config_check(int argc, char **argv);

#endif
