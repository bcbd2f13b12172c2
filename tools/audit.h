// tools/audit.h: the `fedbundle audit` subcommands implemented outside
// tools/cmd-audit.c (the dispatcher), one file each.
// Thread-safety: single-threaded use from main().
#ifndef FB_TOOLS_AUDIT_H
#define FB_TOOLS_AUDIT_H

// `audit membership` (tools/audit-membership.c): a one-run canary audit
// of user-level DP training; argv[0] is the subcommand's name. Exit 0 when
// the empirical lower bound is at most the accountant's epsilon, 1 when it
// is above (a violation) or the run failed, 2 for usage errors.
int audit_membership(int argc, char **argv);

#endif
