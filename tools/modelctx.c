// tools/modelctx.c: the shared loading of a dataset folder and a trained
// model (modelctx.h); an aggregator checkpoint's users' factors are solved
// here from the folder's training split (floors.h), the retailer's own
// data, which never leaves it.
#include "modelctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/model/floors.h"
#include "fedbundle/model/train.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"

void
modelctx_federation_opts(struct fb_rep_opts *opts)
{
	struct fb_train_config tc;
	fb_train_config_defaults(&tc);
	fb_train_rep_opts(&tc, opts);
}

static const char *
yes(bool b)
{
	return b ? "true" : "false";
}

// What modelctx_config_opts collects.
struct opts_walk {
	const char *path;
	struct fb_rep_opts *opts;
	bool have_round, bias_in_round, user_level;
	bool in_round;
};

static fb_err opts_key(void *ctx, const struct fb_cfg_item *it);

// The "round" object of an aggregator's configuration.
static fb_err
opts_round(struct opts_walk *w, const struct fb_cfg_item *it)
{
	w->have_round = true;
	w->user_level = true; // the aggregator's default granularity
	w->in_round = true;
	fb_err err = fb_config_each(w->path, "round", it->text,
			strlen(it->text), FB_CFG_KIND_OBJECT, opts_key, w);
	w->in_round = false;
	return err;
}

static fb_err
opts_key(void *ctx, const struct fb_cfg_item *it)
{
	struct opts_walk *w = ctx;
	struct fb_rep_opts *o = w->opts;
	bool *flag = strcmp(it->key, "item_view") == 0      ? &o->item_view
			: strcmp(it->key, "use_attrs") == 0 ? &o->use_attrs
			: strcmp(it->key, "user_item_view") == 0
			? &o->user_item_view
			: strcmp(it->key, "bias") == 0 ? &o->bias
						       : NULL;
	if (flag != NULL && it->kind != FB_CFG_KIND_BOOL) {
		return fb_errorf(FB_EINVAL, "%s: %s%s: expected a boolean",
				w->path, w->in_round ? "round." : "", it->key);
	}
	if (flag != NULL) {
		*flag = strcmp(it->text, "true") == 0;
		w->bias_in_round |= w->in_round && flag == &o->bias;
	} else if (!w->in_round && strcmp(it->key, "round") == 0 &&
			it->kind == FB_CFG_KIND_OBJECT) {
		return opts_round(w, it);
	} else if (w->in_round && strcmp(it->key, "granularity") == 0) {
		w->user_level = it->string != NULL &&
				strcmp(it->string, "user") == 0;
	}
	return FB_OK;
}

fb_err
modelctx_config_opts(const char *path, struct fb_rep_opts *opts)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 1 << 20, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	struct fb_rep_opts o = *opts;
	struct opts_walk w = {.path = path, .opts = &o};
	err = fb_config_each(
			path, "", text, len, FB_CFG_KIND_OBJECT, opts_key, &w);
	free(text);
	if (err != FB_OK) {
		return err;
	}
	if (w.have_round && w.user_level && !w.bias_in_round) {
		// The aggregator's user-level DP defaults (dpdefaults.c).
		struct fb_train_config dp;
		fb_train_config_defaults_dp(&dp);
		o.bias = dp.hp.bias;
	}
	*opts = o;
	return FB_OK;
}

// The checkpoint's shared factors against ds: FB_EINVAL naming both.
static fb_err
check_fit(const struct fb_model *m, const char *path,
		const struct fb_dataset *ds, const char *data)
{
	if (m->n_items == ds->n_items && m->n_bundles == ds->n_bundles &&
			(m->n_attrs == 0 || m->n_attrs == ds->n_attrs)) {
		return FB_OK;
	}
	return fb_errorf(FB_EINVAL,
			"the checkpoint %s (%u items, %u bundles, %u "
			"attributes) does not fit the dataset %s in %s (%u, "
			"%u, %u)",
			path, m->n_items, m->n_bundles, m->n_attrs, ds->name,
			data, ds->n_items, ds->n_bundles, ds->n_attrs);
}

// The representation options of a checkpoint (meta, as loaded) into
// meta->opts, and into source where they came from: the config file
// config when given (over the federation's defaults, as before issue 14),
// else those the checkpoint records, else the federation's defaults.
static fb_err
checkpoint_opts(const char *config, struct fb_model_meta *meta, char *source,
		size_t cap)
{
	bool recorded = meta->opts_known;
	if (config == NULL && recorded) {
		snprintf(source, cap, "from the checkpoint");
		return FB_OK;
	}
	modelctx_federation_opts(&meta->opts);
	if (config == NULL) {
		snprintf(source, cap,
				"the federation's defaults: the checkpoint "
				"records none");
		return FB_OK;
	}
	snprintf(source, cap, "%s--config %s",
			recorded ? "the checkpoint's overridden by " : "from ",
			config);
	return modelctx_config_opts(config, &meta->opts);
}

// The users' factors of a checkpoint, solved from ds's training split.
static fb_err
solve_users(const struct fb_dataset *ds, const struct fb_model *model,
		const struct fb_rep_opts *opts, struct fb_matrix *P)
{
	struct fb_catalog cat = {0};
	struct fb_reps reps = {0};
	struct fb_floors_public fixed = {0};
	struct fb_floors_zr_config zc;
	fb_floors_zr_defaults(&zc);
	fb_err err = fb_catalog_init(&cat, ds);
	if (err == FB_OK) {
		err = fb_reps_init(&reps, model, opts);
	}
	if (err == FB_OK) {
		fb_reps_compute(&reps, model, &cat);
		err = fb_floors_fixed_init(&fixed, &reps.bundle, &reps.item,
				reps.opts.bias);
	}
	if (err == FB_OK) {
		err = fb_floors_model_users(
				&fixed, &zc, &reps, &ds->ub_train, &ds->ui, P);
	}
	fb_floors_public_finish(&fixed);
	fb_reps_finish(&reps);
	fb_catalog_finish(&cat);
	return err;
}

fb_err
modelctx_load_model(const struct fb_dataset *ds, const char *data,
		const char *model_path, const char *config,
		struct fb_model *model, struct fb_matrix *P,
		struct fb_model_meta *meta)
{
	fb_err err = fb_modelio_load_any(model_path, model, P, meta);
	if (err != FB_OK || P->rows > 0) {
		return err;
	}
	if (meta->kind != FB_TFILE_CHECKPOINT) {
		return fb_errorf(FB_EFORMAT, "%s holds no user factors",
				model_path);
	}
	char source[600];
	if ((err = checkpoint_opts(config, meta, source, sizeof(source))) !=
			FB_OK) {
		return err;
	}
	meta->opts.use_attrs = meta->opts.use_attrs && model->n_attrs > 0;
	if ((err = check_fit(model, model_path, ds, data)) != FB_OK ||
			(err = solve_users(ds, model, &meta->opts, P)) !=
					FB_OK) {
		return err;
	}
	struct fb_floors_zr_config zc;
	fb_floors_zr_defaults(&zc);
	fprintf(stderr,
			"%s is an aggregator checkpoint (shared factors only): "
			"the users' factors were solved locally from %s's "
			"training split and user items (implicit least "
			"squares, alpha %g, lambda %g, item weight %g), not "
			"trained; representations (%s): "
			"item_view %s, use_attrs %s, user_item_view %s, bias "
			"%s\n",
			model_path, data, zc.alpha, zc.lambda, zc.item_weight,
			source, yes(meta->opts.item_view),
			yes(meta->opts.use_attrs),
			yes(meta->opts.user_item_view), yes(meta->opts.bias));
	return FB_OK;
}

fb_err
modelctx_load(struct modelctx *c, const char *data, const char *model_path,
		const char *config)
{
	memset(c, 0, sizeof(*c));
	fb_err err = fb_dataset_load(&c->ds, data);
	if (err == FB_OK) {
		err = fb_catdir_ids_load(&c->ids, c->ds, data);
	}
	if (err == FB_OK) {
		err = modelctx_load_model(c->ds, data, model_path, config,
				&c->model, &c->P, &c->meta);
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
