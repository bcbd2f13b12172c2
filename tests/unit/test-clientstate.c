// tests/unit/test-clientstate.c: the client's state file (client/state.c)
// round trip, with the federation its last completed round belongs to
// (wire-v1 §6.1 "A new federation") and without one; a state file written
// before federation ids (no "federation" key) loads with an unknown id and
// its old fields intact; a malformed id is refused. And what a plan's
// federation id does to the state (node_state_follow): only the round
// count is ever reset, never the ledger anchor or the budget flags.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/state.h"
#include "fedbundle/util/tensorfile.h"
#include "harness.h"

static char dir[64];
static char path[128];

static void
sample(struct node_state *st)
{
	memset(st, 0, sizeof(*st));
	st->last_completed = 7;
	st->rounds_trained = 5;
	st->ledger_count = 3;
	for (int k = 0; k < FB_HASH_LEN; k++) {
		st->ledger_head[k] = (uint8_t)k;
	}
}

// The state file's metadata JSON, for checks on its text.
static char *
meta_of(const char *p)
{
	struct fb_tfile *f = NULL;
	if (fb_tfile_read(&f, p, FB_TFILE_CLIENT) != FB_OK) {
		return NULL;
	}
	char *m = strdup(fb_tfile_meta(f));
	fb_tfile_destroy(f);
	return m;
}

TEST(round_trip_with_federation)
{
	struct node_state st, back;
	sample(&st);
	for (int k = 0; k < FB_WIRE_FEDERATION_ID_LEN; k++) {
		st.federation[k] = (uint8_t)(0xa0 + k);
	}
	CHECK_OK(node_state_save(&st, path));
	char *m = meta_of(path);
	CHECK(m != NULL);
	CHECK_STR_CONTAINS(m,
			"\"federation\": "
			"\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\"");
	free(m);
	bool found = false;
	CHECK_OK(node_state_load(&back, path, &found));
	CHECK(found);
	CHECK(memcmp(back.federation, st.federation, 16) == 0);
	CHECK(back.last_completed == 7 && back.rounds_trained == 5);
	CHECK(back.ledger_count == 3);
	CHECK(memcmp(back.ledger_head, st.ledger_head, FB_HASH_LEN) == 0);
	node_state_finish(&back);
}

TEST(round_trip_without_federation)
{
	struct node_state st, back;
	sample(&st);
	CHECK_OK(node_state_save(&st, path));
	char *m = meta_of(path);
	CHECK(m != NULL);
	CHECK(strstr(m, "federation") == NULL); // unknown: not written
	free(m);
	bool found = false;
	CHECK_OK(node_state_load(&back, path, &found));
	CHECK(found && !fb_wire_federation_id_set(back.federation));
	CHECK(back.last_completed == 7);
	node_state_finish(&back);
}

// The metadata exactly as client/state.c wrote it before federation ids.
static const char legacy_meta[] =
		"{\"format\": 1, \"last_completed\": 12, \"rounds_trained\": "
		"9, \"exhausted\": false, \"done\": false, \"ledger_count\": "
		"0, \"ledger_head\": \"00000000000000000000000000000000000000"
		"00000000000000000000000000\", \"have_P\": false, "
		"\"have_global\": false, \"dim\": 0, \"n_attrs\": 0, "
		"\"item_view\": true, \"use_attrs\": true, \"user_item_view\": "
		"true, \"bias\": false}";

TEST(legacy_state_loads_with_unknown_federation)
{
	CHECK_OK(fb_tfile_write(path, FB_TFILE_CLIENT, legacy_meta, NULL, 0));
	struct node_state back;
	bool found = false;
	CHECK_OK(node_state_load(&back, path, &found));
	CHECK(found && !fb_wire_federation_id_set(back.federation));
	CHECK(back.last_completed == 12 && back.rounds_trained == 9);
	node_state_finish(&back);
}

TEST(bad_federation_refused)
{
	static const char *const bad[] = {
			"\"federation\": \"a0a1\", ",
			// all zero: 32 hex digits
			"\"federation\": \"00000000000000000000000000000000\", ",
			"\"federation\": \"zz000000000000000000000000000000\", ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char meta[1024];
		snprintf(meta, sizeof(meta), "{%s%s", bad[i], legacy_meta + 1);
		CHECK_OK(fb_tfile_write(path, FB_TFILE_CLIENT, meta, NULL, 0));
		struct node_state back;
		bool found = false;
		CHECK_ERR(node_state_load(&back, path, &found), FB_EFORMAT);
		CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "federation");
	}
}

TEST(follow_federation)
{
	uint8_t a[FB_WIRE_FEDERATION_ID_LEN], b[FB_WIRE_FEDERATION_ID_LEN];
	uint8_t none[FB_WIRE_FEDERATION_ID_LEN] = {0};
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	struct node_state st;
	sample(&st); // last_completed 7, no federation yet
	st.exhausted = true;
	// A plan without an id changes nothing.
	CHECK(node_state_follow(&st, none, 3) == NODE_FED_SAME);
	CHECK(st.last_completed == 7 &&
			!fb_wire_federation_id_set(st.federation));
	// A first id on a round above the count: adopted, the count goes on.
	CHECK(node_state_follow(&st, a, 8) == NODE_FED_ADOPTED);
	CHECK(memcmp(st.federation, a, 16) == 0 && st.last_completed == 7);
	CHECK(node_state_follow(&st, a, 8) == NODE_FED_SAME);
	CHECK(node_state_follow(&st, a, 2) == NODE_FED_SAME); // an old round:
	CHECK(st.last_completed == 7); // the caller refuses it (wrong-round)
	// Another id: a new numbering, the count starts again.
	CHECK(node_state_follow(&st, b, 1) == NODE_FED_NEW);
	CHECK(memcmp(st.federation, b, 16) == 0 && st.last_completed == 0);
	CHECK(node_state_follow(&st, none, 1) == NODE_FED_SAME);
	CHECK(memcmp(st.federation, b, 16) == 0);
	// Nothing else moved.
	CHECK(st.exhausted && st.rounds_trained == 5 && st.ledger_count == 3);
	CHECK(st.ledger_head[1] == 1);
	// A state from before ids meeting an aggregator that started
	// afresh (round 1 already completed): a new numbering too.
	sample(&st);
	CHECK(node_state_follow(&st, a, 1) == NODE_FED_NEW);
	CHECK(st.last_completed == 0 && memcmp(st.federation, a, 16) == 0);
	sample(&st);
	CHECK(node_state_follow(&st, a, 7) == NODE_FED_NEW);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fb-test-clientstate-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		return 99;
	}
	snprintf(path, sizeof(path), "%s/state.fbc", dir);
	RUN(round_trip_with_federation);
	RUN(round_trip_without_federation);
	RUN(legacy_state_loads_with_unknown_federation);
	RUN(bad_federation_refused);
	RUN(follow_federation);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
