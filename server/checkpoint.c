// server/checkpoint.c: see checkpoint.h. The metadata is written with
// snprintf (names are [A-Za-z0-9._-], numbers in %.17g) and read back
// with cJSON, strictly: a field of the wrong type or a missing one is
// FB_EFORMAT naming the file. The cJSON tree never leaves the function
// that parsed it.
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fedbundle/privacy/ledger.h"
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
	char head[2 * FB_HASH_LEN + 1];
	fb_hash_hex(anchor.head, head);
	size_t n = 0;
	const struct fb_model *m = &fed->model;
	bool ok = meta_printf(meta, &n,
			"{\"format\": %d, \"last_committed\": %u, "
			"\"last_planned\": %u, \"optimizer\": \"%s\", "
			"\"optimizer_steps\": %llu, \"dim\": %u, \"n_items\": "
			"%u, \"n_bundles\": %u, \"n_attrs\": %u, "
			"\"ledger_count\": %llu, \"ledger_head\": \"%s\", "
			"\"clients\": [",
			CKPT_FORMAT, fed->last_committed, fed->last_planned,
			fed->opt.kind == AGG_OPT_FEDADAM ? "fedadam" : "fedavg",
			(unsigned long long)fed->opt.t, m->dim, m->n_items,
			m->n_bundles, m->n_attrs,
			(unsigned long long)anchor.count, head);
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
	return err;
}

// Copies tensor name of f into dst (same shape). FB_EFORMAT otherwise.
static fb_err
load_matrix(const struct fb_tfile *f, const char *path, const char *name,
		struct fb_matrix *dst)
{
	struct fb_tensor_view v;
	fb_err err = fb_tfile_get(f, name, &v);
	if (err != FB_OK) {
		return err;
	}
	if (v.rows != dst->rows || v.cols != dst->cols) {
		return fb_errorf(FB_EFORMAT,
				"%s: tensor %s is %zux%zu, the configured model "
				"needs %zux%zu",
				path, name, v.rows, v.cols, dst->rows,
				dst->cols);
	}
	if (dst->rows * dst->cols > 0) {
		memcpy(dst->data, v.data,
				dst->rows * dst->cols * sizeof(float));
	}
	// A broken model must not be served again (wire-v1 §9.7): clients
	// would refuse every plan made of it.
	for (size_t k = 0; k < dst->rows * dst->cols; k++) {
		if (!isfinite(dst->data[k])) {
			return fb_errorf(FB_EFORMAT,
					"%s: tensor %s holds a non-finite value "
					"(row %zu, column %zu): refusing a broken "
					"model; restore an earlier checkpoint",
					path, name, k / dst->cols,
					k % dst->cols);
		}
	}
	return FB_OK;
}

static fb_err
get_number(const cJSON *root, const char *path, const char *key, double lo,
		double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo) ||
			!(v->valuedouble <= hi)) {
		return fb_errorf(FB_EFORMAT,
				"%s: metadata %s is missing or out of range",
				path, key);
	}
	*out = v->valuedouble;
	return FB_OK;
}

// Reads the metadata into fed; the tree is freed before returning.
static fb_err
parse_meta(struct agg_fed *fed, const char *path, const char *text,
		struct agg_ledger_anchor *anchor, uint64_t *opt_steps)
{
	cJSON *root = cJSON_Parse(text);
	if (root == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fb_errorf(FB_EFORMAT,
				"%s: metadata is not a JSON object", path);
	}
	double fmt = 0, committed = 0, planned = 0, steps = 0, dim = 0;
	double items = 0, bundles = 0, attrs = 0, count = 0;
	fb_err err;
	if ((err = get_number(root, path, "format", CKPT_FORMAT, CKPT_FORMAT,
			     &fmt)) != FB_OK ||
			(err = get_number(root, path, "last_committed", 0,
					 UINT32_MAX, &committed)) != FB_OK ||
			(err = get_number(root, path, "last_planned", 0,
					 UINT32_MAX, &planned)) != FB_OK ||
			(err = get_number(root, path, "optimizer_steps", 0,
					 1e15, &steps)) != FB_OK ||
			(err = get_number(root, path, "dim", 1, 4096, &dim)) !=
					FB_OK ||
			(err = get_number(root, path, "n_items", 0, UINT32_MAX,
					 &items)) != FB_OK ||
			(err = get_number(root, path, "n_bundles", 0,
					 UINT32_MAX, &bundles)) != FB_OK ||
			(err = get_number(root, path, "n_attrs", 0, UINT32_MAX,
					 &attrs)) != FB_OK ||
			(err = get_number(root, path, "ledger_count", 0, 1e15,
					 &count)) != FB_OK) {
		goto out;
	}
	const struct fb_model *m = &fed->model;
	if ((uint32_t)dim != m->dim || (uint32_t)items != m->n_items ||
			(uint32_t)bundles != m->n_bundles ||
			(uint32_t)attrs != m->n_attrs) {
		err = fb_errorf(FB_EFORMAT,
				"%s: checkpoint of a model with d=%u, %u items, "
				"%u bundles, %u attrs; the configuration gives "
				"d=%u, %u, %u, %u",
				path, (uint32_t)dim, (uint32_t)items,
				(uint32_t)bundles, (uint32_t)attrs, m->dim,
				m->n_items, m->n_bundles, m->n_attrs);
		goto out;
	}
	const cJSON *head =
			cJSON_GetObjectItemCaseSensitive(root, "ledger_head");
	size_t bin = 0;
	if (!cJSON_IsString(head) ||
			sodium_hex2bin(anchor->head, FB_HASH_LEN,
					head->valuestring,
					strlen(head->valuestring), NULL, &bin,
					NULL) != 0 ||
			bin != FB_HASH_LEN) {
		err = fb_errorf(FB_EFORMAT,
				"%s: metadata ledger_head is not 64 "
				"hex digits",
				path);
		goto out;
	}
	anchor->count = (uint64_t)count;
	const cJSON *clients =
			cJSON_GetObjectItemCaseSensitive(root, "clients");
	if (!cJSON_IsArray(clients)) {
		err = fb_errorf(FB_EFORMAT,
				"%s: metadata clients is not an "
				"array",
				path);
		goto out;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, clients)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *eps =
				cJSON_GetObjectItemCaseSensitive(e, "epsilon");
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(
				e, "exhausted");
		const cJSON *priv =
				cJSON_GetObjectItemCaseSensitive(e, "private");
		double upd = 0, last = 0;
		if (!cJSON_IsString(name) || !cJSON_IsBool(ex) ||
				!cJSON_IsBool(priv) ||
				!(cJSON_IsNull(eps) ||
						(cJSON_IsNumber(eps) &&
								eps->valuedouble >=
										0)) ||
				get_number(e, path, "updates", 0, UINT32_MAX,
						&upd) != FB_OK ||
				get_number(e, path, "last_round", 0, committed,
						&last) != FB_OK) {
			err = fb_errorf(FB_EFORMAT,
					"%s: metadata: malformed client entry",
					path);
			goto out;
		}
		struct agg_client *cl = NULL;
		for (uint32_t c = 0; c < fed->n_clients; c++) {
			if (strcmp(fed->clients[c].name, name->valuestring) ==
					0) {
				cl = &fed->clients[c];
			}
		}
		if (cl == NULL) {
			fb_log(FB_LOG_WARN,
					"checkpoint: client %s is no longer "
					"enrolled",
					name->valuestring);
			continue;
		}
		cl->updates = (uint32_t)upd;
		cl->last_round = (uint32_t)last;
		// Not restored: exhaustion is the client's own claim, made
		// again at its every POLL, and a retailer may have raised its
		// budget while the aggregator was down; a stale flag would end
		// training at start for want of clients with budget left
		// (tests/integration/test-fed-lockout.sh, part C). The field
		// stays in the file for the operator.
		(void)ex;
		if (cJSON_IsNumber(eps)) {
			cl->reported = true;
			cl->epsilon = eps->valuedouble;
		} else if (cJSON_IsFalse(priv) && cl->updates > 0) {
			cl->reported = true;
			cl->epsilon = INFINITY;
		}
	}
	fed->last_committed = (uint32_t)committed;
	fed->last_planned = (uint32_t)planned;
	*opt_steps = (uint64_t)steps;
	err = FB_OK;
out:
	cJSON_Delete(root);
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
		err = load_matrix(f, path, "V", &m->V);
	}
	if (err == FB_OK) {
		err = load_matrix(f, path, "W", &m->W);
	}
	if (err == FB_OK && m->n_attrs > 0) {
		err = load_matrix(f, path, "M", &m->M);
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
			struct fb_model *mm = &fed->opt.m, *vv = &fed->opt.v;
			if ((err = load_matrix(f, path, "adam.m.V", &mm->V)) ==
							FB_OK &&
					(err = load_matrix(f, path, "adam.m.W",
							 &mm->W)) == FB_OK &&
					(err = load_matrix(f, path, "adam.v.V",
							 &vv->V)) == FB_OK &&
					(err = load_matrix(f, path, "adam.v.W",
							 &vv->W)) == FB_OK &&
					m->n_attrs > 0) {
				if ((err = load_matrix(f, path, "adam.m.M",
						     &mm->M)) == FB_OK) {
					err = load_matrix(f, path, "adam.v.M",
							&vv->M);
				}
			}
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
