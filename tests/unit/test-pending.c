// tests/unit/test-pending.c: the on-disk copy of an unacknowledged UPDATE
// (client/pending.c, wire-v1 §6.1 "A lost ACK"): a round trip keeps every
// field the resend needs and the bytes, mode 0600; a missing file is not
// an error; a truncated file, a flipped byte, another version and a file
// that is not a copy at all are each refused with FB_EFORMAT naming the
// file; removing a missing file is fine.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/pending.h"
#include "fedbundle/util/fsutil.h"
#include "harness.h"

static char dir[64];
static char path[128];
static uint8_t bytes[5000];

static void
sample(struct node_pending_copy *c)
{
	memset(c, 0, sizeof(*c));
	c->round = 42;
	for (int k = 0; k < FB_WIRE_FEDERATION_ID_LEN; k++) {
		c->federation[k] = (uint8_t)(0xc0 + k);
	}
	c->res.steps = 4;
	c->res.eval_users = 17;
	c->res.loss = 0.4579;
	c->res.epsilon = 5.7273;
	c->res.eps_alone = INFINITY;
	c->res.releases = 12;
	c->res.recall_sum = 3.25;
	c->res.ndcg_sum = 1.5;
	c->res.train_s = 0.02;
	c->res.eval_s = 0.001;
	for (size_t k = 0; k < sizeof(bytes); k++) {
		bytes[k] = (uint8_t)(k * 7 + 1);
	}
	c->bytes = bytes;
	c->len = sizeof(bytes);
}

// Rewrites the saved file through edit(buf, &len).
static void
tamper(void (*edit)(char *buf, size_t *len))
{
	char *buf = NULL;
	size_t len = 0;
	if (fb_read_file(path, 1 << 20, &buf, &len) != FB_OK) {
		HARNESS_FAIL("cannot read %s", path);
	}
	edit(buf, &len);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(buf, 1, len, f) == len);
	fclose(f);
	free(buf);
}

// A load must fail with FB_EFORMAT and a detail naming the file and want.
static void
check_refused(const char *want)
{
	struct node_pending_copy c;
	bool found = true;
	fb_clear_error();
	CHECK_ERR(node_pending_load(path, &found, &c), FB_EFORMAT);
	const char *detail = fb_last_error(FB_EFORMAT);
	printf("# %s\n", detail);
	CHECK_STR_CONTAINS(detail, path);
	CHECK_STR_CONTAINS(detail, want);
	CHECK(c.bytes == NULL);
}

TEST(round_trip)
{
	struct node_pending_copy c, back;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	struct stat sb;
	CHECK(stat(path, &sb) == 0);
	CHECK((sb.st_mode & 0777) == 0600);
	bool found = false;
	CHECK_OK(node_pending_load(path, &found, &back));
	CHECK(found);
	CHECK(back.round == 42);
	CHECK(memcmp(back.federation, c.federation, sizeof(c.federation)) == 0);
	CHECK(back.res.steps == 4 && back.res.eval_users == 17);
	CHECK(back.res.loss == c.res.loss);
	CHECK(back.res.epsilon == c.res.epsilon);
	CHECK(isinf(back.res.eps_alone));
	CHECK(back.res.releases == 12);
	CHECK(back.res.recall_sum == 3.25 && back.res.ndcg_sum == 1.5);
	CHECK(back.res.train_s == c.res.train_s);
	CHECK(back.res.eval_s == c.res.eval_s);
	CHECK(back.res.update == NULL && !back.res.refuse);
	CHECK(back.len == sizeof(bytes));
	CHECK(memcmp(back.bytes, bytes, sizeof(bytes)) == 0);
	free(back.bytes);
}

TEST(missing_file)
{
	CHECK_OK(node_pending_remove(path));
	CHECK_OK(node_pending_remove(path)); // twice: still fine
	struct node_pending_copy c;
	bool found = true;
	CHECK_OK(node_pending_load(path, &found, &c));
	CHECK(!found);
	CHECK(c.bytes == NULL);
}

static void
cut_tail(char *buf, size_t *len)
{
	(void)buf;
	*len -= 100; // into the bytes' end and the checksum
}

static void
cut_header(char *buf, size_t *len)
{
	(void)buf;
	*len = 40; // within the header
}

static void
flip_body(char *buf, size_t *len)
{
	buf[*len / 2] ^= 0x01;
}

static void
flip_figure(char *buf, size_t *len)
{
	(void)len;
	buf[40] ^= 0x80; // steps and the like: covered by the checksum too
}

static void
next_version(char *buf, size_t *len)
{
	(void)len;
	buf[8] = 2; // the version (u32 LE) follows the 8-byte magic
}

static void
not_a_copy(char *buf, size_t *len)
{
	memcpy(buf, "{\"form", 6);
	(void)len;
}

TEST(truncated_refused)
{
	struct node_pending_copy c;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	tamper(cut_tail);
	check_refused("truncated");
	CHECK_OK(node_pending_save(path, &c));
	tamper(cut_header);
	check_refused("truncated");
}

TEST(flipped_byte_refused)
{
	struct node_pending_copy c;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	tamper(flip_body);
	check_refused("checksum");
	CHECK_OK(node_pending_save(path, &c));
	tamper(flip_figure);
	check_refused("checksum");
}

TEST(wrong_version_refused)
{
	struct node_pending_copy c;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	tamper(next_version);
	check_refused("version 2");
}

TEST(not_a_copy_refused)
{
	struct node_pending_copy c;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	tamper(not_a_copy);
	check_refused("magic");
}

TEST(save_replaces)
{
	struct node_pending_copy c, back;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	c.round = 43;
	c.len = 10;
	CHECK_OK(node_pending_save(path, &c));
	bool found = false;
	CHECK_OK(node_pending_load(path, &found, &back));
	CHECK(found && back.round == 43 && back.len == 10);
	CHECK(memcmp(back.bytes, bytes, 10) == 0);
	free(back.bytes);
	CHECK_OK(node_pending_remove(path));
	CHECK(access(path, F_OK) != 0);
}

// A copy a load would refuse is not written: the old copy stays.
TEST(over_limit_not_written)
{
	struct node_pending_copy c, back;
	sample(&c);
	CHECK_OK(node_pending_save(path, &c));
	c.round = 44;
	c.len = NODE_PENDING_MAX_LEN + 1; // checked before any byte is read
	CHECK(node_pending_save(path, &c) == FB_EINVAL);
	CHECK(strstr(fb_last_error(FB_EINVAL), path) != NULL);
	bool found = false;
	CHECK_OK(node_pending_load(path, &found, &back));
	CHECK(found && back.round == 42);
	free(back.bytes);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-pending-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return 99;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, NODE_PENDING_FILE);
	RUN(round_trip);
	RUN(missing_file);
	RUN(truncated_refused);
	RUN(flipped_byte_refused);
	RUN(wrong_version_refused);
	RUN(not_a_copy_refused);
	RUN(save_replaces);
	RUN(over_limit_not_written);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
