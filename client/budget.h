// client/budget.h: when a client's privacy budget is exhausted, and the
// record of its budget decisions in its ledger.
//
// The rule (docs/privacy.md, wire-v1 §6.1): a client is exhausted iff the
// epsilon its ledger's releases spend, replayed by its policy's accountant
// at its policy's delta, is at least its policy's epsilon. It is the
// precise form of "no plan its policy allows fits": the policy bounds a
// plan's noise multiplier only from below and its sampling rate to
// (0, 1], and a release's cost tends to 0 as sigma grows, so while any
// room is left some allowed plan fits (up to the accountant's own ~1e-9
// slack in delta, in which a client stays READY and refuses each plan).
// A plan that does not fit while room is left is refused
// (policy-refused) and the client stays READY; exhaustion depends only on
// what was spent, never on what an aggregator asked for.
// Thread-safety: the client's one thread.
#ifndef FB_CLIENT_BUDGET_H
#define FB_CLIENT_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/err.h"
#include "policy.h"

// The epsilon spent by the releases of l (NULL: none) at the policy's
// delta, by its accountant, into *spent, and whether that exhausts the
// policy's budget (the rule above) into *exhausted. FB_EINVAL/FB_ENOMEM
// from the accountant.
fb_err node_budget_check(const struct node_policy *pol,
		const struct fb_ledger *l, double *spent, bool *exhausted);

// How many more rounds of steps releases at (q, sigma) each fit the
// policy's budget on top of the releases of l (NULL: none), by the
// policy's accountant at its delta, into *rounds (capped at max_rounds).
// Continuous releases: the fixed-point grid's terms (accountant.h) are
// not counted, so the figure may be one round high; secure plans use
// node_budget_rounds_fit_ddg(). FB_EINVAL for bad (q, sigma, steps), FB_ENOMEM.
fb_err node_budget_rounds_fit(const struct node_policy *pol,
		const struct fb_ledger *l, double q, double sigma,
		uint64_t steps, uint64_t max_rounds, uint64_t *rounds);

// Like node_budget_rounds_fit() for secure rounds (protocols/
// secagg-v1.md §7): one release per round with distributed discrete
// Gaussian noise shaped like m (its n_honest the plan's n_min less the
// colluders the policy assumes), composed exactly as the ledger will
// account it (fb_acct_add_ddg, fb_acct_would_exceed_ddg), grid terms
// included. FB_EINVAL for a bad m or max_rounds 0, FB_ENOMEM.
fb_err node_budget_rounds_fit_ddg(const struct node_policy *pol,
		const struct fb_ledger *l, const struct fb_acct_ddg *m,
		uint64_t max_rounds, uint64_t *rounds);

// The epsilon at the policy's delta, by its accountant, after k more
// secure rounds shaped like m on top of l's releases (NULL: none), into
// *eps. FB_EINVAL, FB_ENOMEM.
fb_err node_budget_epsilon_after_ddg(const struct node_policy *pol,
		const struct fb_ledger *l, const struct fb_acct_ddg *m,
		uint64_t k, double *eps);

// The last distributed-noise release of l (fb_ledger_is_ddg) as the
// accountant composes it (fb_ledger_ddg_of) into *m, and its ledger
// sequence number into *seq. FB_EINVAL, naming the ledger, if l (NULL:
// no ledger yet) holds none.
fb_err node_budget_last_ddg(const struct node_policy *pol,
		const struct fb_ledger *l, struct fb_acct_ddg *m,
		uint64_t *seq);

// Records the policy's budget in the appending ledger l when it differs
// from the last budget entry (or there is none yet): a budget entry after
// round. A raise (a larger epsilon or delta) is logged at warning, a
// first budget or a lowered one at info. FB_EIO as fb_ledger_append().
fb_err node_budget_record(const struct node_policy *pol, struct fb_ledger *l,
		uint32_t round);

#endif
