// tools/audit.h: the subcommands of `fedbundle audit` (tools/cmd-audit.c),
// one file each (tools/audit-<name>.c). Each takes argv[0] = its own name
// and returns the exit status: 0 the audit passed, 1 it found a violation
// (or, for membership, the run failed), 2 it could not run (usage,
// unreadable input, internal error).
// Thread-safety: single-threaded use from main().
#ifndef FB_TOOLS_AUDIT_H
#define FB_TOOLS_AUDIT_H

// tools/audit-sensitivity.c: the exact pre-noise release on D and on D
// without one user (or one retailer), against the accounted sensitivity.
int audit_sensitivity(int argc, char **argv);

// tools/audit-membership.c: a one-run canary audit of user-level DP
// training: an empirical lower bound on epsilon against the accountant's.
int audit_membership(int argc, char **argv);

#endif
