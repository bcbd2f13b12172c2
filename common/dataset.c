// common/dataset.c: the in-memory dataset and its folder format.
#include <stdlib.h>
#include <string.h>

#include "fedbundle/dataset.h"

static fb_err
empty_csr(struct fb_csr *m, uint32_t n_rows, uint32_t n_cols)
{
	m->n_rows = n_rows;
	m->n_cols = n_cols;
	m->col = NULL;
	m->row_ptr = calloc((size_t)n_rows + 1, sizeof(*m->row_ptr));
	return m->row_ptr != NULL ? FB_OK : FB_ENOMEM;
}

fb_err
fb_dataset_create(struct fb_dataset **out, const char *name, uint32_t n_users,
		uint32_t n_bundles, uint32_t n_items, uint32_t n_attrs)
{
	struct fb_dataset *ds = calloc(1, sizeof(*ds));
	if (ds == NULL) {
		return FB_ENOMEM;
	}
	ds->name = strdup(name);
	ds->n_users = n_users;
	ds->n_bundles = n_bundles;
	ds->n_items = n_items;
	ds->n_attrs = n_attrs;
	if (ds->name == NULL ||
			empty_csr(&ds->ub_train, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ub_tune, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ub_test, n_users, n_bundles) != FB_OK ||
			empty_csr(&ds->ui, n_users, n_items) != FB_OK ||
			empty_csr(&ds->bi, n_bundles, n_items) != FB_OK ||
			empty_csr(&ds->ia, n_items, n_attrs) != FB_OK) {
		fb_dataset_destroy(ds);
		return FB_ENOMEM;
	}
	*out = ds;
	return FB_OK;
}

void
fb_dataset_destroy(struct fb_dataset *ds)
{
	if (ds == NULL) {
		return;
	}
	fb_csr_finish(&ds->ub_train);
	fb_csr_finish(&ds->ub_tune);
	fb_csr_finish(&ds->ub_test);
	fb_csr_finish(&ds->ui);
	fb_csr_finish(&ds->bi);
	fb_csr_finish(&ds->ia);
	free(ds->name);
	free(ds);
}
