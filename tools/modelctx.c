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
		const char *list, uint32_t *items, uint32_t max, uint32_t *n)
{
	char *buf = strdup(list);
	if (buf == NULL) {
		cli_usage_error(cmd, "out of memory");
		return false;
	}
	bool ok = true;
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",\n", &save);
			ok && tok != NULL; tok = strtok_r(NULL, ",\n", &save)) {
		if (*n == max) {
			cli_usage_error(cmd, "at most %u items", max);
			ok = false;
		} else if (!cli_parse_u32(cmd, "item", tok, &items[*n])) {
			ok = false;
		} else if (items[*n] >= c->ds->n_items) {
			cli_usage_error(cmd, "item %u out of range (%u items)",
					items[*n], c->ds->n_items);
			ok = false;
		} else {
			(*n)++;
		}
	}
	free(buf);
	return ok;
}
