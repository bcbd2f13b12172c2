// tests/unit/test-ledger.c: the privacy ledger: entries survive reopening,
// the chain detects any altered, removed or reordered entry, anchors detect
// removal at the end, a torn final line is dropped, a failed append leaves
// nothing behind, a missing ledger is refused unless creating one, and a
// ledger has one writer: a second appending open, in this process or in
// another, is refused while read-only opens go on working. Budget entries
// (a recorded new epsilon and delta) are written in their own canonical
// form, replayed, skipped by the accountant, and covered by the chain.
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/fsutil.h"
#include "harness.h"

static char dir[64];

static char *
path_of(const char *name)
{
	return fb_path_join(dir, name);
}

static struct fb_ledger_entry
entry(uint64_t round, double q, double sigma)
{
	struct fb_ledger_entry e = {0};
	e.round = round;
	strcpy(e.mode, "user");
	e.q = q;
	e.sigma = sigma;
	e.steps = 1;
	e.clip = 1.0;
	e.delta = 1e-6;
	return e;
}

static char *
write_ledger(const char *name, int n)
{
	char *p = path_of(name);
	unlink(p);
	struct fb_ledger *l = NULL;
	if (fb_ledger_open(&l, p, true) != FB_OK) {
		return NULL;
	}
	for (int k = 0; k < n; k++) {
		struct fb_ledger_entry e = entry(k, 0.01 * (k + 1), 1.1);
		if (fb_ledger_append(l, &e) != FB_OK) {
			fb_ledger_close(l);
			return NULL;
		}
	}
	fb_ledger_close(l);
	return p;
}

TEST(entries_survive_reopen_and_replay)
{
	char *p = write_ledger("a.ledger", 5);
	CHECK(p != NULL);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 5);
	struct fb_ledger_entry e;
	CHECK_OK(fb_ledger_entry_at(l, 2, &e));
	CHECK(e.seq == 3 && e.round == 2 && e.q == 0.03 && e.sigma == 1.1);
	CHECK(strcmp(e.mode, "user") == 0 && e.time[0] == '2');
	// The accountant replayed from the ledger equals one fed directly.
	struct fb_acct *a = NULL, *b = NULL;
	CHECK_OK(fb_ledger_accountant(l, FB_ACCT_RDP, &a));
	CHECK_OK(fb_acct_create(&b, FB_ACCT_RDP));
	for (int k = 0; k < 5; k++) {
		CHECK_OK(fb_acct_add(b, 0.01 * (k + 1), 1.1, 1));
	}
	double ea, eb;
	CHECK_OK(fb_acct_epsilon(a, 1e-6, &ea));
	CHECK_OK(fb_acct_epsilon(b, 1e-6, &eb));
	CHECK(ea == eb && ea > 0);
	// Appending after reopen continues the chain.
	struct fb_ledger_entry more = entry(9, 0.5, 2);
	CHECK_OK(fb_ledger_append(l, &more));
	uint8_t head[FB_HASH_LEN];
	fb_ledger_head(l, head);
	fb_ledger_close(l);
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 6);
	CHECK_OK(fb_ledger_check_anchor(l, 6, head));
	CHECK_ERR(fb_ledger_check_anchor(l, 6, (uint8_t[FB_HASH_LEN]){0}),
			FB_EFORMAT);
	CHECK_ERR(fb_ledger_check_anchor(l, 7, head), FB_EFORMAT);
	fb_ledger_close(l);
	fb_acct_destroy(a);
	fb_acct_destroy(b);
	free(p);
}

// Rewrites the file with one transformation of its lines applied.
static void
rewrite(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static char *
slurp(const char *p)
{
	char *buf;
	size_t len;
	if (fb_read_file(p, 1 << 20, &buf, &len) != FB_OK) {
		return NULL;
	}
	return buf;
}

TEST(tampering_is_detected)
{
	char *p = write_ledger("b.ledger", 4);
	CHECK(p != NULL);
	char *orig = slurp(p);
	CHECK(orig != NULL);
	struct fb_ledger *l = NULL;
	// 1. A changed value (sigma 1.1 -> 1.2 in entry 2).
	char *t = strdup(orig);
	char *second = strchr(t, '\n') + 1;
	char *s = strstr(second, "\"sigma\":1.1");
	s[10] = '2';
	rewrite(p, t);
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), ":2:");
	free(t);
	// 2. A removed middle entry.
	t = strdup(orig);
	second = strchr(t, '\n') + 1;
	char *third = strchr(second, '\n') + 1;
	memmove(second, third, strlen(third) + 1);
	rewrite(p, t);
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "removed or reordered");
	free(t);
	// 3. Any flipped byte anywhere.
	size_t len = strlen(orig);
	for (size_t k = 0; k < len; k += 5) {
		if (orig[k] == '\n') {
			continue;
		}
		t = strdup(orig);
		t[k] = t[k] == 'a' ? 'b' : 'a';
		rewrite(p, t);
		fb_err err = fb_ledger_open(&l, p, false);
		if (err == FB_OK) {
			fb_ledger_close(l);
			HARNESS_FAIL("byte %zu altered but accepted", k);
		}
		free(t);
	}
	// 4. Removing the last entry passes the chain but not the anchor.
	rewrite(p, orig);
	CHECK_OK(fb_ledger_open(&l, p, false));
	uint8_t head[FB_HASH_LEN];
	fb_ledger_head(l, head);
	fb_ledger_close(l);
	t = strdup(orig);
	t[len - 1] = '\0';
	*(strrchr(t, '\n') + 1) = '\0';
	rewrite(p, t);
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 3);
	CHECK_ERR(fb_ledger_check_anchor(l, 4, head), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "removed");
	fb_ledger_close(l);
	free(t);
	free(orig);
	free(p);
}

TEST(torn_tail_is_dropped_and_chain_continues)
{
	char *p = write_ledger("c.ledger", 3);
	CHECK(p != NULL);
	FILE *f = fopen(p, "a");
	fputs("{\"seq\":4,\"round\":3,\"mo", f);
	fclose(f);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 3);
	struct fb_ledger_entry e = entry(3, 0.2, 1.5);
	CHECK_OK(fb_ledger_append(l, &e));
	fb_ledger_close(l);
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 4);
	fb_ledger_close(l);
	free(p);
}

TEST(missing_ledger_is_refused_unless_created)
{
	char *p = path_of("none.ledger");
	struct fb_ledger *l = NULL;
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EIO);
	CHECK_STR_CONTAINS(
			fb_last_error(FB_EIO), "refusing to start from zero");
	CHECK_OK(fb_ledger_open(&l, p, true));
	CHECK(fb_ledger_count(l) == 0);
	struct stat st;
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	fb_ledger_close(l);
	free(p);
}

TEST(bad_entries_are_refused)
{
	char *p = write_ledger("d.ledger", 0);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, false));
	struct fb_ledger_entry e = entry(1, 0, 1);
	CHECK_ERR(fb_ledger_append(l, &e), FB_EINVAL);
	e = entry(1, 0.1, 0);
	CHECK_ERR(fb_ledger_append(l, &e), FB_EINVAL);
	e = entry(1, 0.1, 1);
	strcpy(e.mode, "none");
	CHECK_ERR(fb_ledger_append(l, &e), FB_EINVAL);
	CHECK(fb_ledger_count(l) == 0);
	fb_ledger_close(l);
	free(p);
}

TEST(second_writer_in_this_process_is_refused)
{
	char *p = write_ledger("e.ledger", 2);
	CHECK(p != NULL);
	struct fb_ledger *a = NULL, *b = NULL, *r = NULL;
	CHECK_OK(fb_ledger_open(&a, p, false));
	// Not even with create, and not through another path to it.
	CHECK_ERR(fb_ledger_open(&b, p, false), FB_ESTATE);
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), p);
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "in use");
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "another process");
	CHECK_STR_CONTAINS(fb_last_error(FB_ESTATE), "another DP state");
	CHECK_ERR(fb_ledger_open(&b, p, true), FB_ESTATE);
	char other[80];
	snprintf(other, sizeof(other), "%s/./e.ledger", dir);
	CHECK_ERR(fb_ledger_open(&b, other, false), FB_ESTATE);
	CHECK(b == NULL);
	// A reader needs no lock and sees what the holder appended.
	struct fb_ledger_entry e = entry(7, 0.1, 1.3);
	CHECK_OK(fb_ledger_append(a, &e));
	CHECK_OK(fb_ledger_open_read(&r, p));
	CHECK(fb_ledger_count(r) == 3);
	uint8_t ha[FB_HASH_LEN], hr[FB_HASH_LEN];
	fb_ledger_head(a, ha);
	fb_ledger_head(r, hr);
	CHECK(memcmp(ha, hr, FB_HASH_LEN) == 0);
	// ... but cannot append.
	CHECK_ERR(fb_ledger_append(r, &e), FB_ESTATE);
	CHECK(fb_ledger_count(r) == 3);
	fb_ledger_close(r);
	// Once the holder closes, the next writer gets the ledger.
	fb_ledger_close(a);
	CHECK_OK(fb_ledger_open(&b, p, false));
	CHECK(fb_ledger_count(b) == 3);
	fb_ledger_close(b);
	free(p);
}

// In a child: 0 if an appending open of p is refused with the lock's
// error and a read-only one works, 1 otherwise (or if want_ok and the
// appending open succeeds: 0).
static int
child_open(const char *p, bool want_ok)
{
	struct fb_ledger *l = NULL;
	fb_err err = fb_ledger_open(&l, p, false);
	fb_ledger_close(l);
	if (want_ok) {
		return err == FB_OK ? 0 : 1;
	}
	if (err != FB_ESTATE ||
			strstr(fb_last_error(err), "another process") == NULL) {
		return 1;
	}
	err = fb_ledger_open_read(&l, p);
	int rc = err == FB_OK && fb_ledger_count(l) == 2 ? 0 : 1;
	fb_ledger_close(l);
	return rc;
}

static int
in_child(const char *p, bool want_ok)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		_exit(child_open(p, want_ok));
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		return -1;
	}
	return WEXITSTATUS(status);
}

TEST(writer_in_another_process_is_refused)
{
	char *p = write_ledger("f.ledger", 2);
	CHECK(p != NULL);
	struct fb_ledger *a = NULL;
	CHECK_OK(fb_ledger_open(&a, p, false));
	CHECK(in_child(p, false) == 0);
	fb_ledger_close(a);
	CHECK(in_child(p, true) == 0);
	free(p);
}

TEST(reader_leaves_a_torn_tail_alone)
{
	char *p = write_ledger("g.ledger", 3);
	CHECK(p != NULL);
	FILE *f = fopen(p, "a");
	fputs("{\"seq\":4,\"round\":3,\"mo", f);
	fclose(f);
	struct stat before, after;
	CHECK(stat(p, &before) == 0);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open_read(&l, p));
	CHECK(fb_ledger_count(l) == 3);
	fb_ledger_close(l);
	CHECK(stat(p, &after) == 0 && after.st_size == before.st_size);
	CHECK_ERR(fb_ledger_open_read(&l, "/nonexistent/x.ledger"), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "missing");
	free(p);
}

// A release's grid (dim, noise in grid steps) is part of its entry: written
// in canonical form only when present, so older entries still verify,
// replayed into the accountant's grid terms, and covered by the hash.
TEST(grid_fields_are_recorded_and_replayed)
{
	char *p = path_of("grid.ledger");
	unlink(p);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, true));
	struct fb_ledger_entry old = entry(1, 0.25, 2.0); // no grid
	struct fb_ledger_entry e = entry(2, 0.25, 2.0);
	e.dim = 43000;
	e.noise_steps = 0x1p26;
	CHECK_OK(fb_ledger_append(l, &old));
	CHECK_OK(fb_ledger_append(l, &e));
	struct fb_ledger_entry bad = entry(3, 0.25, 2.0);
	bad.dim = 5; // without its noise
	CHECK_ERR(fb_ledger_append(l, &bad), FB_EINVAL);
	fb_ledger_close(l);
	char *text = slurp(p);
	CHECK(text != NULL);
	CHECK(strstr(text, "\"delta\":9.9999999999999995e-07,\"time\"") !=
			NULL);
	CHECK(strstr(text, ",\"dim\":43000,\"noise_steps\":67108864,") != NULL);
	CHECK_OK(fb_ledger_open(&l, p, false));
	struct fb_ledger_entry got;
	CHECK_OK(fb_ledger_entry_at(l, 1, &got));
	CHECK(got.dim == 43000 && got.noise_steps == 0x1p26);
	CHECK_OK(fb_ledger_entry_at(l, 0, &got));
	CHECK(got.dim == 0 && got.noise_steps == 0);
	// The replayed accountant holds the second entry's grid terms.
	struct fb_acct *a = NULL, *b = NULL;
	CHECK_OK(fb_ledger_accountant(l, FB_ACCT_RDP, &a));
	CHECK_OK(fb_acct_create(&b, FB_ACCT_RDP));
	CHECK_OK(fb_acct_add(b, 0.25, 2.0, 2));
	struct fb_acct_grid g = {43000, 0x1p26};
	CHECK_OK(fb_acct_add_grid(b, &g, 1));
	double ea, eb;
	CHECK_OK(fb_acct_epsilon(a, 1e-6, &ea));
	CHECK_OK(fb_acct_epsilon(b, 1e-6, &eb));
	CHECK(ea == eb);
	fb_acct_destroy(a);
	fb_acct_destroy(b);
	fb_ledger_close(l);
	// Altering the recorded grid breaks the entry.
	size_t at = 0;
	while (text[at] != '\0' &&
			strncmp(text + at, "\"dim\":43000", 11) != 0) {
		at++;
	}
	CHECK(text[at] != '\0');
	text[at + 7] = '1';
	rewrite(p, text);
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
	free(text);
	free(p);
}

// text with the first from replaced by to (malloc'd), or NULL. Not
// inlined: gcc 12 then takes text for a pointer to slurp()'s local.
static __attribute__((noinline)) char *
replace_once(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (at == NULL) {
		return NULL;
	}
	size_t head = (size_t)(at - text), cap = strlen(text) + strlen(to) + 1;
	char *t = malloc(cap);
	if (t != NULL) {
		snprintf(t, cap, "%.*s%s%s", (int)head, text, to,
				at + strlen(from));
	}
	return t;
}

// A release with distributed noise (secure aggregation) carries its
// mechanism, shares, share std and both epsilons, written only for it (the
// plain entry before it keeps its form), replayed through fb_acct_add_ddg
// with its recorded shares (and with one share by the "alone" replay),
// and covered by the hash like any field.
TEST(ddg_entries_are_recorded_and_replayed)
{
	char *p = path_of("ddg.ledger");
	unlink(p);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, true));
	struct fb_ledger_entry plain = entry(1, 0.25, 2.0);
	plain.dim = 43000;
	plain.noise_steps = 2.0 * ldexp(1.0, 26); // clip 1, grid 2^-26
	struct fb_ledger_entry d = entry(2, 0.25, 2.0);
	d.dim = 43000;
	d.noise_steps = 2.0 * ldexp(1.0, 26);
	strcpy(d.mech, FB_LEDGER_MECH_DDG);
	d.shares = 4;
	d.sigma_share = d.noise_steps / sqrt(5.0);
	d.eps_assumed = 1.25;
	d.eps_alone = 3.5;
	CHECK_OK(fb_ledger_append(l, &plain));
	CHECK_OK(fb_ledger_append(l, &d));
	// A ddg release whose grid is not a power of two, or with no shares,
	// and ddg fields on a plain release are refused.
	struct fb_ledger_entry bad = d;
	bad.noise_steps *= 1.5;
	CHECK_ERR(fb_ledger_append(l, &bad), FB_EINVAL);
	bad = d;
	bad.shares = 0;
	CHECK_ERR(fb_ledger_append(l, &bad), FB_EINVAL);
	bad = plain;
	bad.eps_alone = 1;
	CHECK_ERR(fb_ledger_append(l, &bad), FB_EINVAL);
	fb_ledger_close(l);
	char *text = slurp(p);
	CHECK(text != NULL);
	CHECK(strstr(text, "\"noise_steps\":134217728,\"time\"") != NULL);
	CHECK(strstr(text,
			      "\"noise_steps\":134217728,\"mech\":\"secagg-ddg\","
			      "\"shares\":4,\"sigma_share\":") != NULL);
	CHECK(strstr(text, "\"eps_assumed\":1.25,\"eps_alone\":3.5,\"time\"") !=
			NULL);
	CHECK_OK(fb_ledger_open(&l, p, false));
	struct fb_ledger_entry got;
	CHECK_OK(fb_ledger_entry_at(l, 1, &got));
	CHECK(fb_ledger_is_ddg(&got) && got.shares == 4 &&
			got.sigma_share == d.sigma_share &&
			got.eps_assumed == 1.25 && got.eps_alone == 3.5);
	CHECK_OK(fb_ledger_entry_at(l, 0, &got));
	CHECK(!fb_ledger_is_ddg(&got) && got.shares == 0);
	CHECK_OK(fb_ledger_entry_at(l, 1, &got));
	struct fb_acct_ddg m;
	fb_ledger_ddg_of(&got, &m);
	CHECK(m.l2 == ldexp(1.0, 26) && m.n_honest == 4 && m.dim == 43000 &&
			m.q == 0.25 && m.sigma_share == d.sigma_share);
	// Replayed: the plain release, then the ddg one with 4 shares; the
	// alone replay with one share (a larger epsilon).
	struct fb_acct *a = NULL, *b = NULL, *alone = NULL;
	CHECK_OK(fb_ledger_accountant(l, FB_ACCT_RDP, &a));
	CHECK_OK(fb_ledger_accountant_alone(l, FB_ACCT_RDP, &alone));
	CHECK_OK(fb_acct_create(&b, FB_ACCT_RDP));
	CHECK_OK(fb_acct_add(b, 0.25, 2.0, 1));
	struct fb_acct_grid g = {43000, plain.noise_steps};
	CHECK_OK(fb_acct_add_grid(b, &g, 1));
	CHECK_OK(fb_acct_add_ddg(b, &m, 1));
	double ea, eb, ealone;
	CHECK_OK(fb_acct_epsilon(a, 1e-6, &ea));
	CHECK_OK(fb_acct_epsilon(b, 1e-6, &eb));
	CHECK_OK(fb_acct_epsilon(alone, 1e-6, &ealone));
	CHECK(ea == eb);
	CHECK(ealone > ea * 1.2);
	fb_acct_destroy(a);
	fb_acct_destroy(b);
	fb_acct_destroy(alone);
	fb_ledger_close(l);
	// Altering a recorded share count breaks the entry.
	char *t = replace_once(text, "\"shares\":4", "\"shares\":9");
	CHECK(t != NULL);
	rewrite(p, t);
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
	free(t);
	free(text);
	free(p);
}

// A budget entry records a decision, not a release: its own canonical
// line, found by fb_ledger_last_budget, not counted as a release, skipped
// by the accountant replay, and covered by the chain like any entry.
TEST(budget_entries_are_recorded_replayed_and_not_spent)
{
	char *p = path_of("budget.ledger");
	unlink(p);
	struct fb_ledger *l = NULL;
	CHECK_OK(fb_ledger_open(&l, p, true));
	struct fb_ledger_entry last;
	bool found = true;
	fb_ledger_last_budget(l, &last, &found);
	CHECK(!found);
	CHECK_OK(fb_ledger_append_budget(l, 0, 4, 1e-5));
	struct fb_ledger_entry e = entry(1, 0.5, 1.2);
	CHECK_OK(fb_ledger_append(l, &e));
	CHECK_OK(fb_ledger_append(l, &e));
	CHECK_OK(fb_ledger_append_budget(l, 1, 6.5, 1e-5));
	e = entry(2, 0.5, 1.2);
	CHECK_OK(fb_ledger_append(l, &e));
	// Bad budgets are refused, nothing written.
	CHECK_ERR(fb_ledger_append_budget(l, 2, 0, 1e-5), FB_EINVAL);
	CHECK_ERR(fb_ledger_append_budget(l, 2, INFINITY, 1e-5), FB_EINVAL);
	CHECK_ERR(fb_ledger_append_budget(l, 2, NAN, 1e-5), FB_EINVAL);
	CHECK_ERR(fb_ledger_append_budget(l, 2, 1, 0), FB_EINVAL);
	CHECK_ERR(fb_ledger_append_budget(l, 2, 1, 1), FB_EINVAL);
	// A release may not carry an epsilon, a budget entry no q or sigma.
	e.epsilon = 3;
	CHECK_ERR(fb_ledger_append(l, &e), FB_EINVAL);
	struct fb_ledger_entry b = {.round = 2, .epsilon = 3, .delta = 1e-5};
	strcpy(b.mode, FB_LEDGER_MODE_BUDGET);
	b.q = 0.5;
	CHECK_ERR(fb_ledger_append(l, &b), FB_EINVAL);
	CHECK(fb_ledger_count(l) == 5 && fb_ledger_releases(l) == 3);
	fb_ledger_close(l);
	char *text = slurp(p);
	CHECK(text != NULL);
	CHECK(strstr(text,
			      "{\"seq\":4,\"round\":1,\"mode\":\"budget\","
			      "\"epsilon\":6.5,\"delta\":1.0000000000000001e-05,"
			      "\"time\":\"") != NULL);
	// Replayed from disk.
	CHECK_OK(fb_ledger_open(&l, p, false));
	CHECK(fb_ledger_count(l) == 5 && fb_ledger_releases(l) == 3);
	fb_ledger_last_budget(l, &last, &found);
	CHECK(found && last.seq == 4 && last.round == 1 &&
			last.epsilon == 6.5 && last.delta == 1e-5 &&
			fb_ledger_is_budget(&last));
	CHECK_OK(fb_ledger_entry_at(l, 0, &last));
	CHECK(fb_ledger_is_budget(&last) && last.epsilon == 4);
	CHECK_OK(fb_ledger_entry_at(l, 1, &last));
	CHECK(!fb_ledger_is_budget(&last) && last.epsilon == 0);
	// The accountant sees the three releases only.
	struct fb_acct *a = NULL, *c = NULL;
	CHECK_OK(fb_ledger_accountant(l, FB_ACCT_RDP, &a));
	CHECK_OK(fb_acct_create(&c, FB_ACCT_RDP));
	CHECK_OK(fb_acct_add(c, 0.5, 1.2, 3));
	CHECK(fb_acct_total_steps(a) == 3);
	double ea, ec;
	CHECK_OK(fb_acct_epsilon(a, 1e-5, &ea));
	CHECK_OK(fb_acct_epsilon(c, 1e-5, &ec));
	CHECK(ea == ec);
	fb_acct_destroy(a);
	fb_acct_destroy(c);
	fb_ledger_close(l);
	// A ledger of budget entries only spends nothing.
	char *q = path_of("budget-only.ledger");
	unlink(q);
	CHECK_OK(fb_ledger_open(&l, q, true));
	CHECK_OK(fb_ledger_append_budget(l, 0, 2, 1e-6));
	CHECK_OK(fb_ledger_accountant(l, FB_ACCT_PLD, &a));
	CHECK(fb_acct_total_steps(a) == 0);
	CHECK_OK(fb_acct_epsilon(a, 1e-6, &ea));
	CHECK(ea == 0);
	fb_acct_destroy(a);
	fb_ledger_close(l);
	free(q);
	// Tampering: a raised epsilon, a q slipped into the budget line, or
	// the entry removed, all break the ledger.
	const char *edits[][2] = {
			{"\"epsilon\":6.5", "\"epsilon\":9.5"},
			{"\"mode\":\"budget\",\"epsilon\":6.5",
					"\"mode\":\"budget\",\"q\":0,"
					"\"epsilon\":6.5"},
			{"\"mode\":\"budget\",\"epsilon\":6.5",
					"\"mode\":\"user\",\"epsilon\":6.5"},
	};
	for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
		char *t = replace_once(text, edits[k][0], edits[k][1]);
		CHECK(t != NULL);
		rewrite(p, t);
		CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
		CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), ":4:");
		free(t);
	}
	char *t = strdup(text);
	char *fourth = t;
	for (int k = 0; k < 3; k++) {
		fourth = strchr(fourth, '\n') + 1;
	}
	memmove(fourth, strchr(fourth, '\n') + 1,
			strlen(strchr(fourth, '\n') + 1) + 1);
	rewrite(p, t);
	CHECK_ERR(fb_ledger_open(&l, p, false), FB_EFORMAT);
	free(t);
	free(text);
	free(p);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-ledger-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return 99;
	}
	RUN(entries_survive_reopen_and_replay);
	RUN(tampering_is_detected);
	RUN(torn_tail_is_dropped_and_chain_continues);
	RUN(missing_ledger_is_refused_unless_created);
	RUN(bad_entries_are_refused);
	RUN(second_writer_in_this_process_is_refused);
	RUN(writer_in_another_process_is_refused);
	RUN(reader_leaves_a_torn_tail_alone);
	RUN(grid_fields_are_recorded_and_replayed);
	RUN(budget_entries_are_recorded_replayed_and_not_spent);
	RUN(ddg_entries_are_recorded_and_replayed);
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? rc : 99;
}
