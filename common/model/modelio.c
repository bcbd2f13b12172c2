// common/model/modelio.c: model files over the tensor container. The metadata is
// a small JSON object parsed with the strict config parser, so an unknown
// or mistyped key in a model file is refused like one in a config file.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/model/modelio.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/tensorfile.h"

// The metadata as stored: a format number plus struct fb_model_meta.
struct meta_file {
	uint32_t format;
	struct fb_model_meta m;
};

#define META(field) offsetof(struct meta_file, m.field)

static const struct fb_cfg_field meta_fields[] = {
		{.name = "format",
				.type = FB_CFG_U32,
				.offset = offsetof(struct meta_file, format),
				.min = 1,
				.max = 1},
		{.name = "item_view",
				.type = FB_CFG_BOOL,
				.offset = META(opts.item_view)},
		{.name = "use_attrs",
				.type = FB_CFG_BOOL,
				.offset = META(opts.use_attrs)},
		{.name = "user_item_view",
				.type = FB_CFG_BOOL,
				.offset = META(opts.user_item_view)},
		{.name = "bias",
				.type = FB_CFG_BOOL,
				.offset = META(opts.bias)},
		{.name = "dataset",
				.type = FB_CFG_STRING,
				.offset = META(dataset),
				.str_cap = sizeof(((struct fb_model_meta *)0)
								  ->dataset)},
		{.name = "epoch",
				.type = FB_CFG_U32,
				.offset = META(epoch),
				.min = 0,
				.max = UINT32_MAX},
};

fb_err
fb_modelio_save(const char *path, const struct fb_model *model,
		const struct fb_matrix *P, const struct fb_model_meta *meta)
{
	char json[256];
	for (const char *c = meta->dataset; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
			return fb_errorf(FB_EINVAL,
					"dataset name has characters that "
					"cannot be stored");
		}
	}
	snprintf(json, sizeof(json),
			"{\"format\":1,\"item_view\":%s,\"use_attrs\":%s,"
			"\"user_item_view\":%s,\"bias\":%s,\"dataset\":\"%s\","
			"\"epoch\":%u}",
			meta->opts.item_view ? "true" : "false",
			meta->opts.use_attrs ? "true" : "false",
			meta->opts.user_item_view ? "true" : "false",
			meta->opts.bias ? "true" : "false", meta->dataset,
			meta->epoch);
	struct fb_tensor_view t[4];
	size_t n = 0;
	t[n++] = (struct fb_tensor_view){
			"V", model->V.rows, model->V.cols, model->V.data};
	t[n++] = (struct fb_tensor_view){
			"W", model->W.rows, model->W.cols, model->W.data};
	t[n++] = (struct fb_tensor_view){
			"M", model->M.rows, model->dim, model->M.data};
	if (P != NULL) {
		t[n++] = (struct fb_tensor_view){
				"P", P->rows, P->cols, P->data};
	}
	return fb_tfile_write(path, FB_TFILE_MODEL, json, t, n);
}

static fb_err
take(const struct fb_tfile *f, const char *path, const char *name, size_t dim,
		struct fb_matrix *out)
{
	struct fb_tensor_view v;
	fb_err err = fb_tfile_get(f, name, &v);
	if (err != FB_OK) {
		return err;
	}
	if (v.cols != dim || v.rows > UINT32_MAX) {
		return fb_errorf(FB_EFORMAT,
				"%s: tensor %s is %zu x %zu, expected d = %zu",
				path, name, v.rows, v.cols, dim);
	}
	err = fb_matrix_init(out, v.rows, v.cols);
	if (err == FB_OK && v.rows * v.cols > 0) {
		memcpy(out->data, v.data, v.rows * v.cols * sizeof(float));
	}
	return err;
}

// The few metadata keys of a checkpoint or a client state a model needs
// (0 / false when absent or of another kind), read through the config
// module's walk (fb_config_each): their owners parse the files strictly.
struct foreign_keys {
	uint32_t n_attrs, last_committed, last_completed;
	bool have_global, have_P, item_view, use_attrs, user_item_view, bias;
	uint32_t seen; // bit i: flags[i] below is in the metadata
};

// The bits of foreign_keys.seen of the four representation options.
#define FOREIGN_OPTS_SEEN 0x3cu

static fb_err
foreign_key(void *ctx, const struct fb_cfg_item *it)
{
	struct foreign_keys *k = ctx;
	static const struct {
		const char *name;
		size_t off;
	} nums[] =
			{
					{"n_attrs",
							offsetof(struct foreign_keys,
									n_attrs)},
					{"last_committed",
							offsetof(struct foreign_keys,
									last_committed)},
					{"last_completed",
							offsetof(struct foreign_keys,
									last_completed)},
			},
	  flags[] = {
			  {"have_global",
					  offsetof(struct foreign_keys,
							  have_global)},
			  {"have_P", offsetof(struct foreign_keys, have_P)},
			  {"item_view",
					  offsetof(struct foreign_keys,
							  item_view)},
			  {"use_attrs",
					  offsetof(struct foreign_keys,
							  use_attrs)},
			  {"user_item_view",
					  offsetof(struct foreign_keys,
							  user_item_view)},
			  {"bias", offsetof(struct foreign_keys, bias)},
	  };
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (it->kind == FB_CFG_KIND_NUMBER &&
				strcmp(it->key, nums[i].name) == 0) {
			double v = strtod(it->text, NULL);
			*(uint32_t *)(void *)((char *)k + nums[i].off) =
					v >= 0 && v <= UINT32_MAX ? (uint32_t)v
								  : 0;
		}
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (it->kind == FB_CFG_KIND_BOOL &&
				strcmp(it->key, flags[i].name) == 0) {
			*((bool *)(void *)((char *)k + flags[i].off)) =
					strcmp(it->text, "true") == 0;
			k->seen |= 1u << i;
		}
	}
	return FB_OK;
}

// What a model needs from the metadata of a checkpoint or a client state
// (both record the representation options; a checkpoint since issue 14).
// Their owners (server/checkpoint.c, client/state.c) parse these files
// strictly; here only the few keys a model needs are read and the rest is
// left to them, so a field they add does not break eval or export.
struct foreign_meta {
	bool have_global; // a model is in the file
	bool have_P;      // user factors are in the file
	uint32_t n_attrs; // M is in the file when > 0
};

static fb_err
parse_foreign(const char *path, enum fb_tfile_kind kind, const char *text,
		struct foreign_meta *fm, struct fb_model_meta *meta)
{
	struct foreign_keys k = {0};
	fb_err err = fb_config_each(path, "metadata", text, strlen(text),
			FB_CFG_KIND_OBJECT, foreign_key, &k);
	if (err != FB_OK) {
		return fb_errorf(FB_EFORMAT, "%s", fb_last_error(err));
	}
	memset(meta, 0, sizeof(*meta));
	meta->kind = kind;
	fm->n_attrs = k.n_attrs;
	meta->opts = (struct fb_rep_opts){.item_view = k.item_view,
			.use_attrs = k.use_attrs,
			.user_item_view = k.user_item_view,
			.bias = k.bias};
	if (kind == FB_TFILE_CHECKPOINT) {
		// The options the aggregator's rounds plan; a checkpoint
		// written before issue 14 has none: opts stay unknown.
		fm->have_global = true;
		fm->have_P = false;
		meta->epoch = k.last_committed;
		meta->opts_known = (k.seen & FOREIGN_OPTS_SEEN) ==
				FOREIGN_OPTS_SEEN;
		snprintf(meta->dataset, sizeof(meta->dataset), "checkpoint");
	} else {
		fm->have_global = k.have_global;
		fm->have_P = k.have_P;
		meta->epoch = k.last_completed;
		meta->opts_known = true;
		snprintf(meta->dataset, sizeof(meta->dataset), "client state");
	}
	if (!meta->opts_known) {
		meta->opts = (struct fb_rep_opts){0};
	}
	return FB_OK;
}

static fb_err
parse_model_meta(const char *path, const char *text, struct fb_model_meta *meta)
{
	struct meta_file mf = {0};
	struct fb_cfg_section section = {"", meta_fields,
			sizeof(meta_fields) / sizeof(meta_fields[0]), &mf};
	fb_err err = fb_config_parse(path, text, strlen(text), &section, 1);
	if (err == FB_OK && mf.format != 1) {
		err = fb_errorf(FB_EFORMAT, "%s: no model format in metadata",
				path);
	}
	if (err == FB_OK) {
		*meta = mf.m;
		meta->kind = FB_TFILE_MODEL;
		meta->opts_known = true;
	}
	return err;
}

// The factors of f into *model (and its P into *users when users is not
// NULL and the file has one).
static fb_err
take_model(const struct fb_tfile *f, const char *path, bool with_M,
		struct fb_model *tmp)
{
	struct fb_tensor_view v;
	fb_err err = fb_tfile_get(f, "V", &v);
	if (err == FB_OK && (v.cols == 0 || v.cols > 4096)) {
		err = fb_errorf(FB_EFORMAT, "%s: bad dimension %zu", path,
				v.cols);
	}
	if (err == FB_OK) {
		tmp->dim = (uint32_t)v.cols;
		err = take(f, path, "V", tmp->dim, &tmp->V);
	}
	if (err == FB_OK) {
		err = take(f, path, "W", tmp->dim, &tmp->W);
	}
	if (err == FB_OK && with_M) {
		err = take(f, path, "M", tmp->dim, &tmp->M);
	} else if (err == FB_OK) {
		err = fb_matrix_init(&tmp->M, 0, tmp->dim);
	}
	tmp->n_items = (uint32_t)tmp->V.rows;
	tmp->n_bundles = (uint32_t)tmp->W.rows;
	tmp->n_attrs = (uint32_t)tmp->M.rows;
	return err;
}

fb_err
fb_modelio_load_any(const char *path, struct fb_model *model,
		struct fb_matrix *P, struct fb_model_meta *meta)
{
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_read(&f, path, FB_TFILE_ANY);
	if (err != FB_OK) {
		return err;
	}
	enum fb_tfile_kind kind = fb_tfile_kind(f);
	struct fb_model_meta mm = {0};
	struct foreign_meta fm = {true, true, 1};
	const char *text = fb_tfile_meta(f);
	err = kind == FB_TFILE_MODEL
			? parse_model_meta(path, text, &mm)
			: parse_foreign(path, kind, text, &fm, &mm);
	if (err == FB_OK && !fm.have_global) {
		err = fb_errorf(FB_EFORMAT,
				"%s: this client state holds no model yet (the "
				"client has completed no round)",
				path);
	}
	struct fb_model tmp = {0};
	struct fb_matrix users = {0};
	if (err == FB_OK) {
		// A model file always has M (0 rows without attributes).
		err = take_model(f, path,
				kind == FB_TFILE_MODEL || fm.n_attrs > 0, &tmp);
	}
	struct fb_tensor_view v;
	if (err == FB_OK && P != NULL && fm.have_P &&
			(kind != FB_TFILE_MODEL ||
					fb_tfile_get(f, "P", &v) == FB_OK)) {
		err = take(f, path, "P", tmp.dim, &users);
	}
	fb_tfile_destroy(f);
	if (err != FB_OK) {
		fb_model_finish(&tmp);
		fb_matrix_finish(&users);
		return err;
	}
	*model = tmp;
	if (P != NULL) {
		*P = users;
	}
	*meta = mm;
	return FB_OK;
}

fb_err
fb_modelio_load(const char *path, struct fb_model *model, struct fb_matrix *P,
		struct fb_model_meta *meta)
{
	struct fb_model tmp = {0};
	struct fb_matrix users = {0};
	struct fb_model_meta mm;
	fb_err err = fb_modelio_load_any(
			path, &tmp, P != NULL ? &users : NULL, &mm);
	if (err != FB_OK) {
		return err;
	}
	if (P != NULL && users.rows == 0) {
		err = mm.kind == FB_TFILE_CHECKPOINT
				? fb_errorf(FB_EFORMAT,
						  "%s is an aggregator checkpoint: "
						  "it holds the shared factors but "
						  "no user factors (`fedbundle "
						  "eval` and `recommend` solve "
						  "them from a retailer's data; a "
						  "client state, state.fbc, holds "
						  "trained ones)",
						  path)
				: fb_errorf(FB_EFORMAT,
						  "%s holds no user factors",
						  path);
		fb_model_finish(&tmp);
		return err;
	}
	*model = tmp;
	if (P != NULL) {
		*P = users;
	}
	*meta = mm;
	return FB_OK;
}

fb_err
fb_modelio_load_users(const char *path, struct fb_matrix *P,
		struct fb_model_meta *meta)
{
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_read(&f, path, FB_TFILE_ANY);
	if (err != FB_OK) {
		return err;
	}
	struct fb_model_meta mm = {0};
	struct foreign_meta fm = {0};
	struct fb_tensor_view v = {0};
	if (fb_tfile_kind(f) != FB_TFILE_CLIENT) {
		err = fb_errorf(FB_EFORMAT, "%s is not a client state", path);
	} else {
		err = parse_foreign(path, FB_TFILE_CLIENT, fb_tfile_meta(f),
				&fm, &mm);
	}
	if (err == FB_OK && (!fm.have_P || fb_tfile_get(f, "P", &v) != FB_OK)) {
		err = fb_errorf(FB_EFORMAT, "%s holds no user factors", path);
	}
	struct fb_matrix users = {0};
	if (err == FB_OK) {
		err = take(f, path, "P", v.cols, &users);
	}
	fb_tfile_destroy(f);
	if (err != FB_OK) {
		return err;
	}
	*P = users;
	*meta = mm;
	return FB_OK;
}
