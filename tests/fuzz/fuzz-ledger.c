// tests/fuzz/fuzz-ledger.c: libFuzzer target for the privacy ledger reader
// (common/privacy/ledger.c fb_ledger_open: line parser, canonical form, hash chain,
// torn-tail handling). Selector byte, bit 0:
//   0  the rest is a ledger file, opened as it is;
//   1  the rest is a recipe: up to 8 entries (4 bytes each: q, sigma, steps,
//      round) appended through fb_ledger_append, then the remaining bytes
//      appended raw to the file, as a crash or an editor would.
// Besides "no crash, no sanitizer report" it aborts when: an accepted
// ledger opens a second time with another count or head (dropping a torn
// tail must be idempotent); a recipe's own entries are not all kept, or
// their head hashes change, when the file is accepted; a refusal's detail
// does not name the file.
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/privacy/ledger.h"
#include "fuzz-tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-ledger: invariant broken: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 16)) {
		return 0;
	}
	const uint8_t *rest = data + 1;
	size_t len = size - 1;
	size_t made = 0;
	uint8_t heads[9][FB_HASH_LEN];
	const char *path;
	if ((data[0] & 1) == 0) {
		path = fuzz_tmp_write("ledger", rest, len, 0600);
	} else {
		path = fuzz_tmp_write("ledger", NULL, 0, 0600);
		struct fb_ledger *l = NULL;
		if (path == NULL || fb_ledger_open(&l, path, false) != FB_OK) {
			return 0;
		}
		size_t n = len / 4 < 8 ? len / 4 : 8;
		fb_ledger_head(l, heads[0]);
		for (size_t k = 0; k < n; k++) {
			const uint8_t *b = rest + 4 * k;
			struct fb_ledger_entry e = {
					.round = b[3],
					.q = (b[0] + 1) / 256.0,
					.sigma = 0.25 + b[1] / 16.0,
					.steps = 1 + b[2],
					.clip = 1,
					.delta = 1e-5,
			};
			snprintf(e.mode, sizeof(e.mode), "%s",
					(b[3] & 1) ? "client" : "user");
			require(fb_ledger_append(l, &e) == FB_OK,
					"append of a valid entry");
			made++;
			fb_ledger_head(l, heads[made]);
		}
		fb_ledger_close(l);
		int fd = open(path, O_WRONLY | O_APPEND);
		if (fd >= 0) {
			size_t tail = len - 4 * n;
			ssize_t w = tail > 0 ? write(fd, rest + 4 * n, tail)
					     : 0;
			(void)w;
			close(fd);
		}
	}
	if (path == NULL) {
		return 0;
	}
	struct fb_ledger *l = NULL;
	fb_err err = fb_ledger_open(&l, path, false);
	if (err != FB_OK) {
		require(strstr(fb_last_error(err), path) != NULL,
				"refusal names the file");
		return 0;
	}
	size_t count = fb_ledger_count(l);
	uint8_t head[FB_HASH_LEN];
	fb_ledger_head(l, head);
	require(count >= made, "every appended entry kept");
	for (size_t k = 0; (data[0] & 1) != 0 && k <= made; k++) {
		require(fb_ledger_check_anchor(l, k, heads[k]) == FB_OK,
				"the appended entries' heads unchanged");
	}
	for (size_t k = 0; k < count; k++) {
		struct fb_ledger_entry e;
		require(fb_ledger_entry_at(l, k, &e) == FB_OK && e.seq == k + 1,
				"entries numbered 1..count");
		require(e.q > 0 && e.q <= 1 && e.sigma > 0 && e.steps >= 1,
				"entry values in range");
	}
	fb_ledger_close(l);
	// A second open sees what the first left (torn tail dropped once).
	require(fb_ledger_open(&l, path, false) == FB_OK,
			"an accepted ledger opens again");
	uint8_t head2[FB_HASH_LEN];
	fb_ledger_head(l, head2);
	require(fb_ledger_count(l) == count &&
					memcmp(head, head2, FB_HASH_LEN) == 0,
			"reopening gives the same ledger");
	fb_ledger_close(l);
	return 0;
}
