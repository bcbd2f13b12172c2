// client/state.c: see state.h. The metadata is flat JSON read with the
// strict schema parser (config.h), like model files.
#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/tensorfile.h"
#include "state.h"

#define STATE_FORMAT 1

struct meta {
	uint32_t format;
	uint32_t last_completed;
	char federation[2 * FB_WIRE_FEDERATION_ID_LEN + 1]; // "": unknown
	uint32_t rounds_trained;
	bool exhausted;
	bool done;
	uint64_t ledger_count;
	char ledger_head[2 * FB_HASH_LEN + 1];
	bool have_P;
	bool have_global;
	uint32_t dim;
	uint32_t n_attrs;
	bool item_view;
	bool use_attrs;
	bool user_item_view;
	bool bias;
};

#define M(f) offsetof(struct meta, f)
static const struct fb_cfg_field meta_fields[] = {
		{"format", FB_CFG_U32, M(format), STATE_FORMAT, STATE_FORMAT,
				.help = "state file format"},
		{"last_completed", FB_CFG_U32, M(last_completed), 0,
				4294967295.0, .help = "last round completed"},
		{"federation", FB_CFG_STRING, M(federation),
				.str_cap = 2 * FB_WIRE_FEDERATION_ID_LEN + 1,
				.help = "federation of last_completed (hex)"},
		{"rounds_trained", FB_CFG_U32, M(rounds_trained), 0,
				4294967295.0, .help = "rounds trained"},
		{"exhausted", FB_CFG_BOOL, M(exhausted),
				.help = "budget spent"},
		{"done", FB_CFG_BOOL, M(done), .help = "training over"},
		{"ledger_count", FB_CFG_U64, M(ledger_count), 0,
				9007199254740992.0, .help = "ledger anchor"},
		{"ledger_head", FB_CFG_STRING, M(ledger_head),
				.str_cap = 2 * FB_HASH_LEN + 1,
				.help = "ledger anchor"},
		{"have_P", FB_CFG_BOOL, M(have_P), .help = "user factors"},
		{"have_global", FB_CFG_BOOL, M(have_global),
				.help = "global model"},
		{"dim", FB_CFG_U32, M(dim), 0, 4096, .help = "d"},
		{"n_attrs", FB_CFG_U32, M(n_attrs), 0, 4294967295.0,
				.help = "attributes of the global model"},
		{"item_view", FB_CFG_BOOL, M(item_view), .help = "rep option"},
		{"use_attrs", FB_CFG_BOOL, M(use_attrs), .help = "rep option"},
		{"user_item_view", FB_CFG_BOOL, M(user_item_view),
				.help = "rep option"},
		{"bias", FB_CFG_BOOL, M(bias), .help = "rep option"},
};
#undef M

enum node_fed_change
node_state_follow(struct node_state *st,
		const uint8_t id[FB_WIRE_FEDERATION_ID_LEN], uint32_t round)
{
	if (!fb_wire_federation_id_set(id) ||
			memcmp(id, st->federation, FB_WIRE_FEDERATION_ID_LEN) ==
					0) {
		return NODE_FED_SAME;
	}
	bool known = fb_wire_federation_id_set(st->federation);
	memcpy(st->federation, id, FB_WIRE_FEDERATION_ID_LEN);
	if (!known && round > st->last_completed) {
		return NODE_FED_ADOPTED; // the numbering goes on
	}
	st->last_completed = 0;
	return NODE_FED_NEW;
}

void
node_state_finish(struct node_state *st)
{
	if (st == NULL) {
		return;
	}
	fb_matrix_finish(&st->P);
	fb_model_finish(&st->global);
	memset(st, 0, sizeof(*st));
}

fb_err
node_state_save(const struct node_state *st, const char *path)
{
	char head[2 * FB_HASH_LEN + 1];
	fb_hash_hex(st->ledger_head, head);
	// An unknown federation is written as absent, as before the field.
	char fed[2 * FB_WIRE_FEDERATION_ID_LEN + 40] = "";
	if (fb_wire_federation_id_set(st->federation)) {
		char hex[2 * FB_WIRE_FEDERATION_ID_LEN + 1];
		sodium_bin2hex(hex, sizeof(hex), st->federation,
				FB_WIRE_FEDERATION_ID_LEN);
		snprintf(fed, sizeof(fed), "\"federation\": \"%s\", ", hex);
	}
	bool have_global = st->global.dim > 0;
	char meta[1024];
	snprintf(meta, sizeof(meta),
			"{\"format\": %d, \"last_completed\": %u, %s"
			"\"rounds_trained\": %u, \"exhausted\": %s, \"done\": "
			"%s, \"ledger_count\": %llu, \"ledger_head\": \"%s\", "
			"\"have_P\": %s, \"have_global\": %s, \"dim\": %u, "
			"\"n_attrs\": %u, \"item_view\": %s, \"use_attrs\": %s, "
			"\"user_item_view\": %s, \"bias\": %s}",
			STATE_FORMAT, st->last_completed, fed,
			st->rounds_trained, st->exhausted ? "true" : "false",
			st->done ? "true" : "false",
			(unsigned long long)st->ledger_count, head,
			st->P.rows > 0 ? "true" : "false",
			have_global ? "true" : "false",
			have_global ? st->global.dim : (uint32_t)st->P.cols,
			st->global.n_attrs,
			st->opts.item_view ? "true" : "false",
			st->opts.use_attrs ? "true" : "false",
			st->opts.user_item_view ? "true" : "false",
			st->opts.bias ? "true" : "false");
	struct fb_tensor_view t[4];
	size_t n = 0;
	if (st->P.rows > 0) {
		t[n++] = (struct fb_tensor_view){
				"P", st->P.rows, st->P.cols, st->P.data};
	}
	if (have_global) {
		const struct fb_model *g = &st->global;
		t[n++] = (struct fb_tensor_view){
				"V", g->V.rows, g->V.cols, g->V.data};
		t[n++] = (struct fb_tensor_view){
				"W", g->W.rows, g->W.cols, g->W.data};
		if (g->n_attrs > 0) {
			t[n++] = (struct fb_tensor_view){
					"M", g->M.rows, g->M.cols, g->M.data};
		}
	}
	return fb_tfile_write(path, FB_TFILE_CLIENT, meta, t, n);
}

static fb_err
copy_tensor(const struct fb_tfile *f, const char *name, struct fb_matrix *m)
{
	struct fb_tensor_view v;
	fb_err err = fb_tfile_get(f, name, &v);
	if (err == FB_OK) {
		err = fb_matrix_init(m, v.rows, v.cols);
	}
	if (err == FB_OK && v.rows * v.cols > 0) {
		memcpy(m->data, v.data, v.rows * v.cols * sizeof(float));
	}
	return err;
}

fb_err
node_state_load(struct node_state *st, const char *path, bool *found)
{
	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*found = false;
		return FB_OK;
	}
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_read(&f, path, FB_TFILE_CLIENT);
	if (err != FB_OK) {
		return err;
	}
	struct meta m = {0};
	const char *text = fb_tfile_meta(f);
	struct fb_cfg_section sec = {"", meta_fields,
			sizeof(meta_fields) / sizeof(meta_fields[0]), &m};
	err = fb_config_parse(path, text, strlen(text), &sec, 1);
	size_t bin = 0;
	if (err == FB_OK &&
			(sodium_hex2bin(st->ledger_head, FB_HASH_LEN,
					 m.ledger_head, strlen(m.ledger_head),
					 NULL, &bin, NULL) != 0 ||
					bin != FB_HASH_LEN)) {
		err = fb_errorf(FB_EFORMAT,
				"%s: ledger_head is not 64 hex "
				"digits",
				path);
	}
	if (err == FB_OK && m.federation[0] != '\0' &&
			(sodium_hex2bin(st->federation,
					 FB_WIRE_FEDERATION_ID_LEN,
					 m.federation, strlen(m.federation),
					 NULL, &bin, NULL) != 0 ||
					bin != FB_WIRE_FEDERATION_ID_LEN ||
					!fb_wire_federation_id_set(
							st->federation))) {
		err = fb_errorf(FB_EFORMAT,
				"%s: federation is not 32 hex digits (not all "
				"zero)",
				path);
	}
	if (err == FB_OK && m.have_P) {
		err = copy_tensor(f, "P", &st->P);
	}
	if (err == FB_OK && m.have_global) {
		struct fb_model *g = &st->global;
		g->dim = m.dim;
		g->n_attrs = m.n_attrs;
		if ((err = copy_tensor(f, "V", &g->V)) == FB_OK &&
				(err = copy_tensor(f, "W", &g->W)) == FB_OK &&
				m.n_attrs > 0) {
			err = copy_tensor(f, "M", &g->M);
		}
		g->n_items = (uint32_t)g->V.rows;
		g->n_bundles = (uint32_t)g->W.rows;
		if (err == FB_OK &&
				(g->V.cols != m.dim || g->W.cols != m.dim ||
						(m.n_attrs > 0 &&
								(g->M.rows != m.n_attrs ||
										g->M.cols != m.dim)))) {
			err = fb_errorf(FB_EFORMAT,
					"%s: global model shapes disagree",
					path);
		}
	}
	if (err == FB_OK && st->P.rows > 0 && m.have_global &&
			st->P.cols != m.dim) {
		err = fb_errorf(FB_EFORMAT, "%s: P has d=%zu, the model d=%u",
				path, st->P.cols, m.dim);
	}
	fb_tfile_destroy(f);
	if (err != FB_OK) {
		node_state_finish(st);
		return err;
	}
	st->opts = (struct fb_rep_opts){.item_view = m.item_view,
			.use_attrs = m.use_attrs,
			.user_item_view = m.user_item_view,
			.bias = m.bias};
	st->last_completed = m.last_completed;
	st->rounds_trained = m.rounds_trained;
	st->exhausted = m.exhausted;
	st->done = m.done;
	st->ledger_count = m.ledger_count;
	*found = true;
	return FB_OK;
}

fb_err
node_state_check_ledger(const struct node_state *st, const struct fb_ledger *l,
		const char *ledger_path)
{
	if (l == NULL) {
		if (st->ledger_count > 0) {
			return fb_errorf(FB_EIO,
					"%s: the privacy ledger is missing, but "
					"the state records %llu releases in it: "
					"refusing to start from zero",
					ledger_path,
					(unsigned long long)st->ledger_count);
		}
		return FB_OK;
	}
	// A count of 0 anchors nothing (every ledger starts at the genesis
	// hash); a client without a state file has a zeroed head here.
	if (st->ledger_count > 0) {
		return fb_ledger_check_anchor(
				l, (size_t)st->ledger_count, st->ledger_head);
	}
	return FB_OK;
}

void
node_state_anchor(struct node_state *st, const struct fb_ledger *l)
{
	if (l == NULL) {
		// The head of an empty ledger (ledger.h): its genesis hash.
		static const char genesis[] = "fedbundle-ledger-v1";
		st->ledger_count = 0;
		fb_hash_buf(genesis, sizeof(genesis) - 1, st->ledger_head);
		return;
	}
	st->ledger_count = fb_ledger_count(l);
	fb_ledger_head(l, st->ledger_head);
}
