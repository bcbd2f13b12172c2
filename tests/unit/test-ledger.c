// tests/unit/test-ledger.c: the privacy ledger: entries survive reopening,
// the chain detects any altered, removed or reordered entry, anchors detect
// removal at the end, a torn final line is dropped, a failed append leaves
// nothing behind, and a missing ledger is refused unless creating one.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/fsutil.h"
#include "fedbundle/ledger.h"
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
	int rc = harness_done();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? rc : 99;
}
