// tools/bundlectx.c: the shared loading of the completion commands
// (bundlectx.h), so they score with exactly the same representations.
#include "bundlectx.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

fb_err
bundlectx_init(struct bundlectx *c, const char *data, const char *model_path,
		float weight)
{
	memset(c, 0, sizeof(*c));
	struct modelctx *m = &c->m;
	fb_err err = modelctx_load(m, data, model_path, NULL);
	if (err == FB_OK) {
		err = fb_matrix_init(&c->users, m->P.rows, m->P.cols);
	}
	if (err != FB_OK) {
		return err;
	}
	fb_user_reps_compute(&c->users, &m->P, &m->ds->ui, &m->reps);
	if ((err = fb_compat_init(&c->compat, &m->ds->bi)) != FB_OK) {
		return err;
	}
	return fb_scorer_init(&c->scorer, &c->compat, &m->reps.item, weight);
}

void
bundlectx_finish(struct bundlectx *c)
{
	fb_scorer_finish(&c->scorer);
	fb_compat_finish(&c->compat);
	fb_matrix_finish(&c->users);
	modelctx_finish(&c->m);
	memset(c, 0, sizeof(*c));
}
