// tools/modelctx.c: the shared loading of a dataset folder and a trained
// model (modelctx.h).
#include "modelctx.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

fb_err
modelctx_load(struct modelctx *c, const char *data, const char *model_path)
{
	memset(c, 0, sizeof(*c));
	fb_err err = fb_dataset_load(&c->ds, data);
	if (err == FB_OK) {
		err = fb_catdir_ids_load(&c->ids, c->ds, data);
	}
	if (err == FB_OK) {
		err = fb_modelio_load(model_path, &c->model, &c->P, &c->meta);
	}
	if (err != FB_OK) {
		return err;
	}
	if (c->model.n_items != c->ds->n_items ||
			c->model.n_bundles != c->ds->n_bundles ||
			c->P.rows != c->ds->n_users) {
		return fb_errorf(FB_EINVAL,
				"%s does not fit dataset %s (%zu users, %u items, "
				"%u bundles in the model)",
				model_path, c->ds->name, c->P.rows,
				c->model.n_items, c->model.n_bundles);
	}
	if ((err = fb_catalog_init(&c->cat, c->ds)) != FB_OK ||
			(err = fb_reps_init(&c->reps, &c->model,
					 &c->meta.opts)) != FB_OK) {
		return err;
	}
	fb_reps_compute(&c->reps, &c->model, &c->cat);
	return FB_OK;
}

void
modelctx_finish(struct modelctx *c)
{
	fb_reps_finish(&c->reps);
	fb_catalog_finish(&c->cat);
	fb_model_finish(&c->model);
	fb_matrix_finish(&c->P);
	fb_dataset_destroy(c->ds);
	fb_catdir_ids_finish(&c->ids);
	memset(c, 0, sizeof(*c));
}

bool
modelctx_parse_items(const struct modelctx *c, const char *cmd,
		const char *what, const char *list, bool unique,
		uint32_t *items, uint32_t max, uint32_t *n)
{
	fb_err err = fb_catdir_parse_items(&c->ids, c->ds->n_items, what, list,
			unique, items, max, n);
	if (err == FB_ENOMEM) {
		cli_fail(cmd, err, what);
	} else if (err != FB_OK) {
		cli_usage_error(cmd, "%s", fb_last_error(err));
	}
	return err == FB_OK;
}
