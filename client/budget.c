// client/budget.c: see budget.h. The spent epsilon is always recomputed
// from the ledger (the state file's old "exhausted" flag is not trusted):
// a budget raised by the retailer takes effect at the next start.
#include <stdio.h>

#include "budget.h"
#include "fedbundle/util/log.h"

fb_err
node_budget_check(const struct node_policy *pol, const struct fb_ledger *l,
		double *spent, bool *exhausted)
{
	double eps = 0;
	if (l != NULL && fb_ledger_releases(l) > 0) {
		struct fb_acct *acct = NULL;
		fb_err err = fb_ledger_accountant(
				l, (enum fb_acct_kind)pol->accountant, &acct);
		if (err == FB_OK) {
			err = fb_acct_epsilon(acct, pol->delta, &eps);
		}
		fb_acct_destroy(acct);
		if (err != FB_OK) {
			return fb_errorf(err,
					"%s: cannot account the ledger: %s",
					pol->ledger, fb_last_error(err));
		}
	}
	*spent = eps;
	*exhausted = eps >= pol->epsilon;
	return FB_OK;
}

// A plan: (q, sigma) continuous releases, steps a round, or (ddg != NULL)
// one distributed-noise release a round.
struct plan {
	double q, sigma;
	uint64_t steps;
	const struct fb_acct_ddg *ddg;
};

// *exceed: k rounds of p on top of acct break the policy's budget.
static fb_err
rounds_exceed(struct fb_acct *acct, const struct node_policy *pol,
		const struct plan *p, uint64_t k, bool *exceed)
{
	if (p->ddg != NULL) {
		return fb_acct_would_exceed_ddg(acct, p->ddg, k, pol->epsilon,
				pol->delta, exceed);
	}
	return fb_acct_would_exceed(acct, p->q, p->sigma, k * p->steps, NULL,
			pol->epsilon, pol->delta, exceed);
}

// The rounds of p that fit (at most max_rounds) on top of l's releases.
static fb_err
rounds_fit(const struct node_policy *pol, const struct fb_ledger *l,
		const struct plan *p, uint64_t max_rounds, uint64_t *rounds)
{
	struct fb_acct *acct = NULL;
	fb_err err = l != NULL && fb_ledger_releases(l) > 0
			? fb_ledger_accountant(l,
					  (enum fb_acct_kind)pol->accountant,
					  &acct)
			: fb_acct_create(&acct,
					  (enum fb_acct_kind)pol->accountant);
	// Doubling up to max_rounds, then bisection: lo rounds fit, and hi
	// do not once exceed is set.
	uint64_t lo = 0, hi = 1;
	bool exceed = false;
	while (err == FB_OK && !exceed) {
		err = rounds_exceed(acct, pol, p, hi, &exceed);
		if (err != FB_OK || exceed) {
			break;
		}
		lo = hi;
		if (hi == max_rounds) {
			break;
		}
		hi = hi > max_rounds / 2 ? max_rounds : 2 * hi;
	}
	while (err == FB_OK && exceed && hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		bool ex = false;
		err = rounds_exceed(acct, pol, p, mid, &ex);
		if (ex) {
			hi = mid;
		} else {
			lo = mid;
		}
	}
	fb_acct_destroy(acct);
	if (err != FB_OK) {
		return err;
	}
	*rounds = lo;
	return FB_OK;
}

fb_err
node_budget_rounds_fit(const struct node_policy *pol, const struct fb_ledger *l,
		double q, double sigma, uint64_t steps, uint64_t max_rounds,
		uint64_t *rounds)
{
	if (!(q > 0 && q <= 1) || !(sigma > 0) || steps == 0 ||
			max_rounds == 0 || max_rounds > UINT64_MAX / steps) {
		return fb_errorf(FB_EINVAL,
				"plan q %g, sigma %g, steps %llu: need q in "
				"(0, 1], sigma > 0, steps >= 1",
				q, sigma, (unsigned long long)steps);
	}
	struct plan p = {q, sigma, steps, NULL};
	return rounds_fit(pol, l, &p, max_rounds, rounds);
}

fb_err
node_budget_rounds_fit_ddg(const struct node_policy *pol,
		const struct fb_ledger *l, const struct fb_acct_ddg *m,
		uint64_t max_rounds, uint64_t *rounds)
{
	if (max_rounds == 0) {
		return fb_errorf(FB_EINVAL, "secure plan: max_rounds is 0");
	}
	struct plan p = {m->q, 0, 1, m};
	return rounds_fit(pol, l, &p, max_rounds, rounds);
}

fb_err
node_budget_epsilon_after_ddg(const struct node_policy *pol,
		const struct fb_ledger *l, const struct fb_acct_ddg *m,
		uint64_t k, double *eps)
{
	enum fb_acct_kind kind = (enum fb_acct_kind)pol->accountant;
	struct fb_acct *acct = NULL;
	fb_err err = l != NULL ? fb_ledger_accountant(l, kind, &acct)
			       : fb_acct_create(&acct, kind);
	if (err == FB_OK) {
		err = fb_acct_add_ddg(acct, m, k);
	}
	if (err == FB_OK) {
		err = fb_acct_epsilon(acct, pol->delta, eps);
	}
	fb_acct_destroy(acct);
	return err;
}

fb_err
node_budget_last_ddg(const struct node_policy *pol, const struct fb_ledger *l,
		struct fb_acct_ddg *m, uint64_t *seq)
{
	size_t n = l != NULL ? fb_ledger_count(l) : 0;
	for (size_t k = n; k-- > 0;) {
		struct fb_ledger_entry e;
		if (fb_ledger_entry_at(l, k, &e) == FB_OK &&
				fb_ledger_is_ddg(&e)) {
			fb_ledger_ddg_of(&e, m);
			*seq = e.seq;
			return FB_OK;
		}
	}
	return fb_errorf(FB_EINVAL,
			"%s: no secure (secagg-ddg) release in the ledger to "
			"take the plan from",
			pol->ledger);
}

fb_err
node_budget_record(const struct node_policy *pol, struct fb_ledger *l,
		uint32_t round)
{
	struct fb_ledger_entry last;
	bool found = false;
	fb_ledger_last_budget(l, &last, &found);
	if (found && last.epsilon == pol->epsilon && last.delta == pol->delta) {
		return FB_OK;
	}
	fb_err err = fb_ledger_append_budget(
			l, round, pol->epsilon, pol->delta);
	if (err != FB_OK) {
		return err;
	}
	size_t seq = fb_ledger_count(l);
	if (!found) {
		fb_log(FB_LOG_INFO,
				"privacy budget epsilon %g at delta %g recorded "
				"as ledger entry %zu",
				pol->epsilon, pol->delta, seq);
	} else if (pol->epsilon > last.epsilon || pol->delta > last.delta) {
		fb_log(FB_LOG_WARN,
				"budget raised from %g to %g (delta %g to %g), "
				"recorded as ledger entry %zu: a new decision of "
				"this retailer",
				last.epsilon, pol->epsilon, last.delta,
				pol->delta, seq);
	} else {
		fb_log(FB_LOG_INFO,
				"budget lowered from %g to %g (delta %g to %g), "
				"recorded as ledger entry %zu",
				last.epsilon, pol->epsilon, last.delta,
				pol->delta, seq);
	}
	return FB_OK;
}
