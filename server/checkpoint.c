// server/checkpoint.c: see checkpoint.h. The metadata is written with
// snprintf (names are [A-Za-z0-9._-], numbers in %.17g) and read back
// with the config schema parser (config.h), strictly: a field of the wrong
// type, a missing or an unknown one is FB_EFORMAT naming the file and the
// key.
#include <errno.h>
#include <float.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catver.h"
#include "checkpoint.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"
#include "fedbundle/util/tensorfile.h"

#define META_MAX (64 * 1024)
#define CKPT_FORMAT 1

// Appends printf output to buf (cap META_MAX); false if it did not fit.
static bool __attribute__((format(printf, 3, 4)))
meta_printf(char *buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, META_MAX - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= META_MAX - *len) {
		return false;
	}
	*len += (size_t)n;
	return true;
}

// The aggregator ledger's anchor now (count 0 without a ledger).
static fb_err
ledger_anchor(const struct agg_fed *fed, struct agg_ledger_anchor *a)
{
	memset(a, 0, sizeof(*a));
	if (fed->ledger == NULL) {
		return FB_OK;
	}
	// Read through the handle that holds the ledger (round.h).
	a->count = fb_ledger_count(fed->ledger);
	fb_ledger_head(fed->ledger, a->head);
	return FB_OK;
}

// The representation options of the rounds fed plans, as the clients form
// them (round.hp after dpdefaults.c; use_attrs only when the model has
// attribute factors), as metadata members ending in ", ": `fedbundle
// eval` reads them (modelio.c). Empty without a configuration.
static void
rep_opts_json(const struct agg_fed *fed, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (fed->cfg == NULL) {
		return;
	}
	const struct fb_hparams *hp = &fed->cfg->round.hp;
	snprintf(buf, cap,
			"\"item_view\": %s, \"use_attrs\": %s, "
			"\"user_item_view\": %s, \"bias\": %s, ",
			hp->item_view ? "true" : "false",
			hp->use_attrs && fed->model.n_attrs > 0 ? "true"
								: "false",
			hp->user_item_view ? "true" : "false",
			hp->bias ? "true" : "false");
}

fb_err
agg_checkpoint_save(const struct agg_fed *fed)
{
	struct agg_ledger_anchor anchor;
	fb_err err = ledger_anchor(fed, &anchor);
	if (err != FB_OK) {
		return err;
	}
	char *meta = malloc(META_MAX);
	if (meta == NULL) {
		return FB_ENOMEM;
	}
	char head[2 * FB_HASH_LEN + 1], cat[FB_CATDIR_HEX_LEN + 1];
	fb_hash_hex(anchor.head, head);
	fb_hash_hex(fed->catver.new_digest, cat);
	char opts[160];
	rep_opts_json(fed, opts, sizeof(opts));
	size_t n = 0;
	const struct fb_model *m = &fed->model;
	bool ok = meta_printf(meta, &n,
			"{\"format\": %d, %s\"last_committed\": %u, "
			"\"last_planned\": %u, \"optimizer\": \"%s\", "
			"\"optimizer_steps\": %llu, \"dim\": %u, \"n_items\": "
			"%u, \"n_bundles\": %u, \"n_attrs\": %u, "
			"\"ledger_count\": %llu, \"ledger_head\": \"%s\", "
			"\"catalog\": \"%s\", \"clients\": [",
			CKPT_FORMAT, opts, fed->last_committed,
			fed->last_planned,
			fed->opt.kind == AGG_OPT_FEDADAM ? "fedadam" : "fedavg",
			(unsigned long long)fed->opt.t, m->dim, m->n_items,
			m->n_bundles, m->n_attrs,
			(unsigned long long)anchor.count, head, cat);
	for (uint32_t c = 0; c < fed->n_clients && ok; c++) {
		const struct agg_client *cl = &fed->clients[c];
		char eps[40] = "null";
		if (cl->reported && isfinite(cl->epsilon)) {
			snprintf(eps, sizeof(eps), "%.17g", cl->epsilon);
		}
		ok = meta_printf(meta, &n,
				"%s{\"name\": \"%s\", \"epsilon\": %s, "
				"\"private\": %s, \"updates\": %u, "
				"\"last_round\": %u, \"exhausted\": %s}",
				c > 0 ? ", " : "", cl->name, eps,
				cl->reported && isfinite(cl->epsilon) ? "true"
								      : "false",
				cl->updates, cl->last_round,
				cl->exhausted ? "true" : "false");
	}
	ok = ok && meta_printf(meta, &n, "]}");
	if (!ok) {
		free(meta);
		return fb_errorf(FB_EINVAL, "checkpoint metadata over %d bytes",
				META_MAX);
	}
	struct fb_tensor_view t[9];
	size_t nt = 0;
	t[nt++] = (struct fb_tensor_view){"V", m->V.rows, m->V.cols, m->V.data};
	t[nt++] = (struct fb_tensor_view){"W", m->W.rows, m->W.cols, m->W.data};
	if (m->n_attrs > 0) {
		t[nt++] = (struct fb_tensor_view){
				"M", m->M.rows, m->M.cols, m->M.data};
	}
	if (fed->opt.kind == AGG_OPT_FEDADAM) {
		const struct fb_model *mm = &fed->opt.m, *vv = &fed->opt.v;
		t[nt++] = (struct fb_tensor_view){
				"adam.m.V", mm->V.rows, mm->V.cols, mm->V.data};
		t[nt++] = (struct fb_tensor_view){
				"adam.m.W", mm->W.rows, mm->W.cols, mm->W.data};
		t[nt++] = (struct fb_tensor_view){
				"adam.v.V", vv->V.rows, vv->V.cols, vv->V.data};
		t[nt++] = (struct fb_tensor_view){
				"adam.v.W", vv->W.rows, vv->W.cols, vv->W.data};
		if (m->n_attrs > 0) {
			t[nt++] = (struct fb_tensor_view){"adam.m.M",
					mm->M.rows, mm->M.cols, mm->M.data};
			t[nt++] = (struct fb_tensor_view){"adam.v.M",
					vv->M.rows, vv->M.cols, vv->M.data};
		}
	}
	err = fb_tfile_write(fed->ckpt_path, FB_TFILE_CHECKPOINT, meta, t, nt);
	free(meta);
	if (err == FB_OK && fed->cfg != NULL) {
		// Only this version's maps are named by a checkpoint now (also
		// after a stop between an adoption's checkpoint and its prune).
		agg_catver_prune(fed->cfg->checkpoint_dir,
				fed->catver.new_digest);
	}
	return err;
}

// Copies tensor name of f into dst: the same shape, or with rows (a new
// catalogue version, catver.h) rows->n_old rows whose kept ones go to
// their new rows (dst's new rows are left as initialised). FB_EFORMAT
// otherwise.
static fb_err
load_matrix(const struct fb_tfile *f, const char *path, const char *name,
		struct fb_matrix *dst, const struct agg_catver_rows *rows)
{
	struct fb_tensor_view v;
	fb_err err = fb_tfile_get(f, name, &v);
	if (err != FB_OK) {
		return err;
	}
	size_t want = rows != NULL ? rows->n_old : dst->rows;
	if (v.rows != want || v.cols != dst->cols) {
		return fb_errorf(FB_EFORMAT,
				"%s: tensor %s is %zux%zu, the configured model "
				"needs %zux%zu",
				path, name, v.rows, v.cols, want, dst->cols);
	}
	// A broken model must not be served again (wire-v1 §9.7): clients
	// would refuse every plan made of it.
	for (size_t k = 0; k < v.rows * v.cols; k++) {
		if (!isfinite(v.data[k])) {
			return fb_errorf(FB_EFORMAT,
					"%s: tensor %s holds a non-finite value "
					"(row %zu, column %zu): refusing a broken "
					"model; restore an earlier checkpoint",
					path, name, k / v.cols, k % v.cols);
		}
	}
	if (rows != NULL) {
		struct fb_matrix src = {v.rows, v.cols, (float *)v.data};
		agg_catver_copy_rows(dst, &src, rows);
	} else if (dst->rows * dst->cols > 0) {
		memcpy(dst->data, v.data,
				dst->rows * dst->cols * sizeof(float));
	}
	return FB_OK;
}

// The metadata as parsed, before it is checked against the federation.
struct meta_client {
	char name[FB_ID_NAME_MAX + 1];
	double epsilon; // NAN: null (nothing reported, or not private)
	bool private_;
	uint32_t updates;
	uint32_t last_round;
	bool exhausted;
};

// An entry takes more than 64 bytes, so a file of META_MAX holds fewer.
#define META_MAX_CLIENTS (META_MAX / 64)

struct meta {
	uint32_t format;
	uint32_t last_committed;
	uint32_t last_planned;
	int optimizer;
	uint64_t optimizer_steps;
	uint32_t dim, n_items, n_bundles, n_attrs;
	uint64_t ledger_count;
	char ledger_head[2 * FB_HASH_LEN + 1];
	char catalog[FB_CATDIR_HEX_LEN + 1]; // "": written before versions
	// The rounds' representation options (rep_opts_json): for the tools,
	// absent before issue 14; the aggregator plans from its config.
	bool item_view, use_attrs, user_item_view, bias;
	struct meta_client clients[META_MAX_CLIENTS];
	uint32_t n_clients;
};

#define MC(f) offsetof(struct meta_client, f)
static const struct fb_cfg_field client_fields[] = {
		{.name = "name",
				.type = FB_CFG_STRING,
				.offset = MC(name),
				.str_cap = FB_ID_NAME_MAX + 1,
				.required = true},
		{.name = "epsilon",
				.type = FB_CFG_DOUBLE_OR_NULL,
				.offset = MC(epsilon),
				.min = 0,
				.max = DBL_MAX,
				.required = true},
		{.name = "private",
				.type = FB_CFG_BOOL,
				.offset = MC(private_),
				.required = true},
		{.name = "updates",
				.type = FB_CFG_U32,
				.offset = MC(updates),
				.max = UINT32_MAX,
				.required = true},
		{.name = "last_round",
				.type = FB_CFG_U32,
				.offset = MC(last_round),
				.max = UINT32_MAX,
				.required = true},
		{.name = "exhausted",
				.type = FB_CFG_BOOL,
				.offset = MC(exhausted),
				.required = true},
};

static const char *const optimizers[] = {"fedavg", "fedadam", NULL};

#define M(f) offsetof(struct meta, f)
#define M_U32(key, f, lo)                                                      \
	{                                                                      \
		.name = key, .type = FB_CFG_U32, .offset = M(f), .min = lo,    \
		.max = UINT32_MAX, .required = true                            \
	}
static const struct fb_cfg_field meta_fields[] = {
		{.name = "format",
				.type = FB_CFG_U32,
				.offset = M(format),
				.min = CKPT_FORMAT,
				.max = CKPT_FORMAT,
				.required = true},
		M_U32("last_committed", last_committed, 0),
		M_U32("last_planned", last_planned, 0),
		{.name = "optimizer",
				.type = FB_CFG_ENUM,
				.offset = M(optimizer),
				.choices = optimizers},
		{.name = "optimizer_steps",
				.type = FB_CFG_U64,
				.offset = M(optimizer_steps),
				.max = 1e15,
				.required = true},
		{.name = "dim",
				.type = FB_CFG_U32,
				.offset = M(dim),
				.min = 1,
				.max = 4096,
				.required = true},
		M_U32("n_items", n_items, 0),
		M_U32("n_bundles", n_bundles, 0),
		M_U32("n_attrs", n_attrs, 0),
		{.name = "ledger_count",
				.type = FB_CFG_U64,
				.offset = M(ledger_count),
				.max = 1e15,
				.required = true},
		{.name = "ledger_head",
				.type = FB_CFG_STRING,
				.offset = M(ledger_head),
				.str_cap = sizeof(
						((struct meta *)0)
								->ledger_head),
				.required = true},
		{.name = "catalog",
				.type = FB_CFG_STRING,
				.offset = M(catalog),
				.str_cap = sizeof(((struct meta *)0)->catalog)},
		{.name = "item_view",
				.type = FB_CFG_BOOL,
				.offset = M(item_view)},
		{.name = "use_attrs",
				.type = FB_CFG_BOOL,
				.offset = M(use_attrs)},
		{.name = "user_item_view",
				.type = FB_CFG_BOOL,
				.offset = M(user_item_view)},
		{.name = "bias", .type = FB_CFG_BOOL, .offset = M(bias)},
		{.name = "clients",
				.type = FB_CFG_OBJECT_LIST,
				.offset = M(clients),
				.list_max = META_MAX_CLIENTS,
				.count_offset = M(n_clients),
				.sub = client_fields,
				.n_sub = sizeof(client_fields) /
						sizeof(client_fields[0]),
				.elem_size = sizeof(struct meta_client),
				.required = true},
};
#define N_META_FIELDS (sizeof(meta_fields) / sizeof(meta_fields[0]))

// Compares the checkpoint's catalogue with the configured one
// (fed->catver.new_digest) and, if they differ, maps the rows by
// original id (catver.h). A checkpoint written before catalogue versions
// were recorded is taken as of the configured catalogue, as it was.
static fb_err
catalog_version(struct agg_fed *fed, const char *path, const struct meta *mt)
{
	uint8_t old[FB_HASH_LEN];
	if (mt->catalog[0] == '\0') {
		return FB_OK;
	}
	if (!fb_catdir_parse_hex(mt->catalog, old)) {
		return fb_errorf(FB_EFORMAT,
				"%s: metadata catalog is not 64 hex digits",
				path);
	}
	if (memcmp(old, fed->catver.new_digest, FB_HASH_LEN) == 0) {
		return FB_OK;
	}
	const struct fb_model *m = &fed->model;
	uint32_t old_n[AGG_CV_KINDS] = {
			mt->n_items, mt->n_bundles, mt->n_attrs};
	uint32_t new_n[AGG_CV_KINDS] = {m->n_items, m->n_bundles, m->n_attrs};
	const struct agg_config *cfg = fed->cfg;
	return agg_catver_plan(&fed->catver, cfg ? cfg->checkpoint_dir : "",
			old, old_n, cfg ? cfg->catalog : "", new_n);
}

// Checks the parsed metadata against the federation and restores it.
static fb_err
apply_meta(struct agg_fed *fed, const char *path, const struct meta *mt,
		struct agg_ledger_anchor *anchor, uint64_t *opt_steps)
{
	const struct fb_model *m = &fed->model;
	fb_err err = catalog_version(fed, path, mt);
	if (err != FB_OK) {
		return err;
	}
	if (mt->dim != m->dim ||
			(!fed->catver.changed &&
					(mt->n_items != m->n_items ||
							mt->n_bundles !=
									m->n_bundles ||
							mt->n_attrs != m->n_attrs))) {
		return fb_errorf(FB_EFORMAT,
				"%s: checkpoint of a model with d=%u, %u items, "
				"%u bundles, %u attrs; the configuration gives "
				"d=%u, %u, %u, %u",
				path, mt->dim, mt->n_items, mt->n_bundles,
				mt->n_attrs, m->dim, m->n_items, m->n_bundles,
				m->n_attrs);
	}
	size_t bin = 0;
	if (sodium_hex2bin(anchor->head, FB_HASH_LEN, mt->ledger_head,
			    strlen(mt->ledger_head), NULL, &bin, NULL) != 0 ||
			bin != FB_HASH_LEN) {
		return fb_errorf(FB_EFORMAT,
				"%s: metadata ledger_head is not 64 "
				"hex digits",
				path);
	}
	anchor->count = mt->ledger_count;
	for (uint32_t k = 0; k < mt->n_clients; k++) {
		if (mt->clients[k].last_round > mt->last_committed) {
			return fb_errorf(FB_EFORMAT,
					"%s: metadata: clients[%u].last_round: "
					"%u is after the last committed round "
					"%u",
					path, k, mt->clients[k].last_round,
					mt->last_committed);
		}
	}
	for (uint32_t k = 0; k < mt->n_clients; k++) {
		const struct meta_client *e = &mt->clients[k];
		struct agg_client *cl = NULL;
		for (uint32_t c = 0; c < fed->n_clients; c++) {
			if (strcmp(fed->clients[c].name, e->name) == 0) {
				cl = &fed->clients[c];
			}
		}
		if (cl == NULL) {
			fb_log(FB_LOG_WARN,
					"checkpoint: client %s is no longer "
					"enrolled",
					e->name);
			continue;
		}
		cl->updates = e->updates;
		cl->last_round = e->last_round;
		// Not restored: exhaustion is the client's own claim, made
		// again at its every POLL, and a retailer may have raised its
		// budget while the aggregator was down; a stale flag would end
		// training at start for want of clients with budget left
		// (tests/integration/test-fed-lockout.sh, part C). The field
		// stays in the file for the operator.
		if (!isnan(e->epsilon)) {
			cl->reported = true;
			cl->epsilon = e->epsilon;
		} else if (!e->private_ && cl->updates > 0) {
			cl->reported = true;
			cl->epsilon = INFINITY;
		}
	}
	fed->last_committed = mt->last_committed;
	fed->last_planned = mt->last_planned;
	*opt_steps = mt->optimizer_steps;
	return FB_OK;
}

// Reads the metadata into fed.
static fb_err
parse_meta(struct agg_fed *fed, const char *path, const char *text,
		struct agg_ledger_anchor *anchor, uint64_t *opt_steps)
{
	struct meta *mt = calloc(1, sizeof(*mt));
	if (mt == NULL) {
		return FB_ENOMEM;
	}
	struct fb_cfg_section s = {"", meta_fields, N_META_FIELDS, mt};
	char label[512];
	snprintf(label, sizeof(label), "%.480s: metadata", path);
	fb_err err = fb_config_parse(label, text, strlen(text), &s, 1);
	if (err == FB_EINVAL) {
		err = fb_errorf(FB_EFORMAT, "%s", fb_last_error(err));
	}
	if (err == FB_OK) {
		err = apply_meta(fed, path, mt, anchor, opt_steps);
	}
	free(mt);
	return err;
}

// Loads the tensors <prefix>V, W and M of f into m: rows mapped by
// original id when cv->changed (a new catalogue version), else the same
// shapes. M is read when the checkpoint's model has attributes and m has.
static fb_err
load_model(const struct fb_tfile *f, const char *path, const char *prefix,
		struct fb_model *m, const struct agg_catver *cv)
{
	static const char *const names[AGG_CV_KINDS] = {"V", "W", "M"};
	struct fb_matrix *mats[AGG_CV_KINDS] = {&m->V, &m->W, &m->M};
	fb_err err = FB_OK;
	for (int k = 0; k < AGG_CV_KINDS && err == FB_OK; k++) {
		const struct agg_catver_rows *rows =
				cv->changed ? &cv->rows[k] : NULL;
		bool in_file = rows != NULL
				? rows->n_old > 0 || k < AGG_CV_ATTRS
				: k < AGG_CV_ATTRS || m->n_attrs > 0;
		if (!in_file || (k == AGG_CV_ATTRS && m->n_attrs == 0)) {
			continue;
		}
		char name[FB_TFILE_NAME_LEN];
		snprintf(name, sizeof(name), "%s%s", prefix, names[k]);
		err = load_matrix(f, path, name, mats[k], rows);
	}
	return err;
}

fb_err
agg_checkpoint_load(struct agg_fed *fed, bool *found,
		struct agg_ledger_anchor *anchor)
{
	const char *path = fed->ckpt_path;
	if (access(path, F_OK) != 0) {
		if (errno == ENOENT) {
			*found = false;
			return FB_OK;
		}
		return fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	}
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_read(&f, path, FB_TFILE_CHECKPOINT);
	if (err != FB_OK) {
		return err;
	}
	uint64_t steps = 0;
	err = parse_meta(fed, path, fb_tfile_meta(f), anchor, &steps);
	struct fb_model *m = &fed->model;
	if (err == FB_OK) {
		err = load_model(f, path, "", m, &fed->catver);
	}
	if (err == FB_OK && fed->opt.kind == AGG_OPT_FEDADAM) {
		struct fb_tensor_view probe;
		if (steps > 0 && fb_tfile_get(f, "adam.m.V", &probe) != FB_OK) {
			err = fb_errorf(FB_EFORMAT,
					"%s: no FedAdam moments: the "
					"checkpoint was written by fedavg",
					path);
		}
		if (err == FB_OK && steps > 0) {
			err = load_model(f, path, "adam.m.", &fed->opt.m,
					&fed->catver);
		}
		if (err == FB_OK && steps > 0) {
			err = load_model(f, path, "adam.v.", &fed->opt.v,
					&fed->catver);
		}
	}
	fb_tfile_destroy(f);
	if (err != FB_OK) {
		return err;
	}
	fed->opt.t = steps;
	*found = true;
	return FB_OK;
}

fb_err
agg_checkpoint_adopt(struct agg_fed *fed)
{
	char a[FB_CATDIR_HEX_LEN + 1], b[FB_CATDIR_HEX_LEN + 1], what[256];
	fb_hash_hex(fed->catver.old_digest, a);
	fb_hash_hex(fed->catver.new_digest, b);
	agg_catver_describe(&fed->catver, what, sizeof(what));
	fb_log(FB_LOG_WARN,
			"new catalogue version adopted after round %u: %s -> "
			"%s; %s (kept rows keep their values, new rows start "
			"from the public initialisation, retired rows are "
			"dropped; %s); clients must import with the new "
			"catalogue",
			fed->last_committed, a, b, what,
			fed->opt.kind == AGG_OPT_FEDADAM
					? "FedAdam moments follow their rows, 0 "
					  "for new rows"
					: "no server moments");
	return agg_checkpoint_save(fed); // prunes the old version's maps
}

fb_err
agg_planned_write(const char *path, uint32_t round)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%u\n", round);
	return fb_write_file_atomic(path, buf, (size_t)n, 0644);
}

fb_err
agg_planned_read(const char *path, uint32_t *round)
{
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*round = 0;
		return FB_OK;
	}
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 64, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	bool ok = errno == 0 && end != text && (*end == '\n' || *end == '\0') &&
			v <= UINT32_MAX;
	free(text);
	if (!ok) {
		return fb_errorf(FB_EFORMAT, "%s: not a round id", path);
	}
	*round = (uint32_t)v;
	return FB_OK;
}

fb_err
agg_federation_write(
		const char *path, const uint8_t id[FB_WIRE_FEDERATION_ID_LEN])
{
	char buf[2 * FB_WIRE_FEDERATION_ID_LEN + 2];
	sodium_bin2hex(buf, sizeof(buf) - 1, id, FB_WIRE_FEDERATION_ID_LEN);
	strcat(buf, "\n");
	return fb_write_file_atomic(path, buf, strlen(buf), 0644);
}

fb_err
agg_federation_read(const char *path, uint8_t id[FB_WIRE_FEDERATION_ID_LEN],
		bool *found)
{
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*found = false;
		return FB_OK;
	}
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 64, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	uint8_t v[FB_WIRE_FEDERATION_ID_LEN];
	size_t bin = 0;
	const char *end = NULL;
	bool ok = sodium_hex2bin(v, sizeof(v), text, len, NULL, &bin, &end) ==
					0 &&
			bin == sizeof(v) && (*end == '\n' || *end == '\0') &&
			end + (*end == '\n') == text + len &&
			fb_wire_federation_id_set(v);
	free(text);
	if (!ok) {
		return fb_errorf(FB_EFORMAT,
				"%s: not a federation id (32 hex digits, not "
				"all zero)",
				path);
	}
	memcpy(id, v, sizeof(v));
	*found = true;
	return FB_OK;
}
