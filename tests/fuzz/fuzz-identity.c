// tests/fuzz/fuzz-identity.c: libFuzzer target for identity files and
// rosters (common/net/identity.c, protocols/wire-v1.md §3.1). Selector byte,
// bits 0-1:
//   0  one .pub line through fb_peer_key_parse (NUL-terminated copy);
//   1  a roster file through fb_roster_load;
//   2  a .key file of mode 0600 through fb_identity_load;
//   3  the same file with mode 0644: must always be refused.
// Besides "no crash, no sanitizer report" it aborts when: an accepted
// .pub line does not survive format -> parse unchanged; an accepted
// roster holds an invalid name, a repeated key or name, or cannot find
// its own keys; an accepted key file's identity cannot sign a message its
// public key verifies (checked through a re-parse of its .pub line); a
// key file that others may read is accepted.
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/identity.h"
#include "fuzz-tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-identity: invariant broken: %s\n", what);
		abort();
	}
}

static void
check_pub_roundtrip(const struct fb_peer_key *k)
{
	char line[FB_ID_PUB_LINE_MAX];
	require(fb_id_name_valid(k->name), "accepted name is valid");
	require(fb_peer_key_format(k->pk, k->name, line, sizeof(line)) == FB_OK,
			"accepted key formats");
	struct fb_peer_key again;
	require(fb_peer_key_parse(&again, line) == FB_OK &&
					memcmp(again.pk, k->pk, FB_ID_PK_LEN) ==
							0 &&
					strcmp(again.name, k->name) == 0,
			"format -> parse gives the same key");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	if (!init) {
		require(sodium_init() >= 0, "sodium_init");
		init = true;
	}
	if (size < 1 || size > (1 << 16)) {
		return 0;
	}
	const uint8_t *rest = data + 1;
	size_t len = size - 1;
	switch (data[0] & 3) {
	case 0: {
		char *line = malloc(len + 1);
		require(line != NULL, "allocation");
		memcpy(line, rest, len);
		line[len] = '\0';
		struct fb_peer_key k;
		if (fb_peer_key_parse(&k, line) == FB_OK) {
			check_pub_roundtrip(&k);
		}
		free(line);
		break;
	}
	case 1: {
		const char *path = fuzz_tmp_write("roster", rest, len, 0600);
		struct fb_roster *r = NULL;
		if (path == NULL || fb_roster_load(&r, path) != FB_OK) {
			break;
		}
		size_t n = fb_roster_count(r);
		for (size_t i = 0; i < n; i++) {
			const struct fb_peer_key *a = fb_roster_at(r, i);
			check_pub_roundtrip(a);
			require(fb_roster_find(r, a->pk) == a,
					"the roster finds its own keys");
			for (size_t j = i + 1; j < n; j++) {
				const struct fb_peer_key *b =
						fb_roster_at(r, j);
				require(memcmp(a->pk, b->pk,
							FB_ID_PK_LEN) != 0 &&
								strcmp(a->name, b->name) !=
										0,
						"no repeated key or name");
			}
		}
		fb_roster_destroy(r);
		break;
	}
	default: {
		bool open_mode = (data[0] & 3) == 3;
		const char *path = fuzz_tmp_write(
				"key", rest, len, open_mode ? 0644 : 0600);
		struct fb_identity *id = NULL;
		if (path == NULL) {
			break;
		}
		fb_err err = fb_identity_load(&id, path);
		require(!open_mode || err != FB_OK,
				"a key file others may read is refused");
		if (err == FB_OK) {
			uint8_t sig[FB_ID_SIG_LEN];
			static const uint8_t msg[3] = {1, 2, 3};
			require(fb_identity_sign(id, sig, msg, sizeof(msg)) ==
									FB_OK &&
							crypto_sign_verify_detached(
									sig,
									msg,
									sizeof(msg),
									fb_identity_public_key(
											id)) ==
									0,
					"the loaded key signs");
			struct fb_peer_key k;
			memcpy(k.pk, fb_identity_public_key(id), FB_ID_PK_LEN);
			snprintf(k.name, sizeof(k.name), "%s",
					fb_identity_name(id));
			check_pub_roundtrip(&k);
			fb_identity_destroy(id);
		}
		break;
	}
	}
	return 0;
}
