// common/model/modelio.c: model files over the tensor container. The metadata is
// a small JSON object parsed with the strict config parser, so an unknown
// or mistyped key in a model file is refused like one in a config file.
#include <stddef.h>
#include <stdio.h>
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

fb_err
fb_modelio_load(const char *path, struct fb_model *model, struct fb_matrix *P,
		struct fb_model_meta *meta)
{
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_read(&f, path, FB_TFILE_MODEL);
	if (err != FB_OK) {
		return err;
	}
	struct meta_file mf = {0};
	struct fb_cfg_section section = {"", meta_fields,
			sizeof(meta_fields) / sizeof(meta_fields[0]), &mf};
	const char *text = fb_tfile_meta(f);
	err = fb_config_parse(path, text, strlen(text), &section, 1);
	if (err == FB_OK && mf.format != 1) {
		err = fb_errorf(FB_EFORMAT, "%s: no model format in metadata",
				path);
	}
	struct fb_model tmp = {0};
	struct fb_matrix users = {0};
	struct fb_tensor_view v;
	if (err == FB_OK) {
		err = fb_tfile_get(f, "V", &v);
	}
	if (err == FB_OK && (v.cols == 0 || v.cols > 4096)) {
		err = fb_errorf(FB_EFORMAT, "%s: bad dimension %zu", path,
				v.cols);
	}
	if (err == FB_OK) {
		tmp.dim = (uint32_t)v.cols;
		err = take(f, path, "V", tmp.dim, &tmp.V);
	}
	if (err == FB_OK) {
		err = take(f, path, "W", tmp.dim, &tmp.W);
	}
	if (err == FB_OK) {
		err = take(f, path, "M", tmp.dim, &tmp.M);
	}
	if (err == FB_OK && P != NULL) {
		err = take(f, path, "P", tmp.dim, &users);
	}
	fb_tfile_destroy(f);
	if (err != FB_OK) {
		fb_model_finish(&tmp);
		fb_matrix_finish(&users);
		return err;
	}
	tmp.n_items = (uint32_t)tmp.V.rows;
	tmp.n_bundles = (uint32_t)tmp.W.rows;
	tmp.n_attrs = (uint32_t)tmp.M.rows;
	*model = tmp;
	if (P != NULL) {
		*P = users;
	}
	*meta = mf.m;
	return FB_OK;
}
