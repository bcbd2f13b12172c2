// tests/fuzz/fuzz-pending.c: libFuzzer target for the client's on-disk copy
// of an unacknowledged UPDATE (client/pending.c node_pending_load): a file
// a crash or an operator may leave damaged in the state folder. Selector
// byte, bit 0: recompute the trailing BLAKE2b-256 over the rest first, so
// that mutations reach the header fields behind it. Besides "no crash, no
// sanitizer report" it aborts when an accepted copy is inconsistent (its
// bytes not the file's, over the size limit), when saving an accepted copy
// and loading it again does not give the same copy, or when a refusal's
// detail does not name the file.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/hash.h"
#include "fuzz-tmp.h"
#include "pending.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-pending: invariant broken: %s\n", what);
		abort();
	}
}

static bool
same_copy(const struct node_pending_copy *a, const struct node_pending_copy *b)
{
	return a->round == b->round && a->len == b->len &&
			memcmp(a->federation, b->federation,
					sizeof(a->federation)) == 0 &&
			a->res.steps == b->res.steps &&
			a->res.releases == b->res.releases &&
			a->res.eval_users == b->res.eval_users &&
			memcmp(a->bytes, b->bytes, a->len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 16)) {
		return 0;
	}
	size_t len = size - 1;
	uint8_t *file = malloc(len > 0 ? len : 1);
	require(file != NULL, "malloc");
	memcpy(file, data + 1, len);
	if ((data[0] & 1) != 0 && len >= FB_HASH_LEN) {
		fb_hash_buf(file, len - FB_HASH_LEN, file + len - FB_HASH_LEN);
	}
	const char *path = fuzz_tmp_write("fbp", file, len, 0600);
	free(file);
	if (path == NULL) {
		return 0;
	}
	char where[512];
	snprintf(where, sizeof(where), "%s", path);
	bool found = false;
	struct node_pending_copy c;
	fb_err err = node_pending_load(where, &found, &c);
	if (err != FB_OK) {
		require(strstr(fb_last_error(err), where) != NULL,
				"a refusal names the file");
		return 0;
	}
	require(found, "an existing file is found");
	require(c.len <= NODE_PENDING_MAX_LEN && c.len <= len,
			"the copy fits the file");
	const char *again = fuzz_tmp_write("fbp2", NULL, 0, 0600);
	if (again != NULL) {
		char where2[512];
		snprintf(where2, sizeof(where2), "%s", again);
		require(node_pending_save(where2, &c) == FB_OK,
				"an accepted copy can be saved");
		struct node_pending_copy d;
		bool found2 = false;
		require(node_pending_load(where2, &found2, &d) == FB_OK &&
						found2,
				"a saved copy loads");
		require(same_copy(&c, &d), "save and load round-trip");
		free(d.bytes);
	}
	free(c.bytes);
	return 0;
}
