// common/model/hparams.c: the one schema, validation and release layout of the
// training hyper-parameters (hparams.h). The validation reads its ranges
// from the schema table, so a configuration file, a decoded PLAN and a
// struct filled in code are held to the same limits; the rules across
// keys are written once below.
#include <math.h>
#include <string.h>

#include "fedbundle/model/hparams.h"

static const char *const optimizer_names[] = {"sgd", "adam", NULL};

#define F(field) offsetof(struct fb_hparams, field)
// In the order of the aggregator's "round" section, which the simulation
// writes back key by key.
static const struct fb_cfg_field fields[] = {
		{"lr", FB_CFG_DOUBLE, F(lr), 1e-12, 1e3,
				.help = "learning rate of item, bundle and "
					"attribute factors"},
		{"lr_user", FB_CFG_DOUBLE, F(lr_user), 0, 1e3,
				.help = "learning rate of user factors (SGD)"},
		{"l2", FB_CFG_DOUBLE, F(l2), 0, 1e3, .help = "L2 weight"},
		{"item_weight", FB_CFG_DOUBLE, F(item_weight), 0, 1e3,
				.help = "weight of the user-item BPR term"},
		{"negatives", FB_CFG_U32, F(negatives), 1, 64,
				.help = "negatives sampled per positive pair"},
		{"dim", FB_CFG_U32, F(dim), 1, 4096,
				.help = "factor dimension d"},
		{"batch_users", FB_CFG_U32, F(batch_users), 1, 1e9,
				.help = "users per non-private batch"},
		{"optimizer", FB_CFG_ENUM, F(optimizer),
				.choices = optimizer_names,
				.help = "optimizer of the shared factors: sgd or "
					"adam"},
		{"init_std", FB_CFG_DOUBLE, F(init_std), 0, 10,
				.help = "std of the initial factors the trainer "
					"creates (a client: its users')"},
		{"item_view", FB_CFG_BOOL, F(item_view),
				.help = "bundle representation includes its "
					"items' mean"},
		{"use_attrs", FB_CFG_BOOL, F(use_attrs),
				.help = "item representation includes attribute "
					"factors"},
		{"user_item_view", FB_CFG_BOOL, F(user_item_view),
				.help = "user representation for bundles includes "
					"the mean of the user's items"},
		{"bias", FB_CFG_BOOL, F(bias),
				.help = "reserve the last factor coordinate for a "
					"popularity bias"},
		{"train_items", FB_CFG_BOOL, F(train_items),
				.help = "train item and attribute factors (false: "
					"keep their initialisation; only bundle "
					"factors are trained)"},
		{"bundle_rank", FB_CFG_U32, F(bundle_rank), 0, 4096,
				.help = "train only this many leading bundle-factor "
					"coordinates (plus the bias; 0: all; at most "
					"dim)"},
};
#undef F
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

void
fb_hparams_defaults(struct fb_hparams *hp)
{
	memset(hp, 0, sizeof(*hp));
	hp->dim = 64;
	hp->batch_users = 2048;
	hp->negatives = 2;
	hp->lr = 0.003;
	hp->lr_user = 0.05;
	hp->l2 = 6e-4;
	hp->item_weight = 0.2;
	hp->init_std = 0.05;
	hp->optimizer = FB_OPT_ADAM;
	hp->item_view = true;
	hp->use_attrs = true;
	hp->user_item_view = true;
	hp->bias = false;
	hp->train_items = true;
	hp->bundle_rank = 0;
}

const struct fb_cfg_field *
fb_hparams_fields(size_t *n)
{
	*n = N_FIELDS;
	return fields;
}

// Checks one value against its schema entry.
static fb_err
check_range(const struct fb_hparams *hp, const struct fb_cfg_field *f,
		const char *where)
{
	const char *p = (const char *)hp + f->offset;
	switch (f->type) {
	case FB_CFG_U32: {
		uint32_t v;
		memcpy(&v, p, sizeof(v));
		if (v < f->min || v > f->max) {
			return fb_errorf(FB_EINVAL,
					"%s%s: %u outside %.0f..%.0f", where,
					f->name, v, f->min, f->max);
		}
		return FB_OK;
	}
	case FB_CFG_DOUBLE: {
		double v;
		memcpy(&v, p, sizeof(v));
		if (!isfinite(v) || v < f->min || v > f->max) {
			return fb_errorf(FB_EINVAL, "%s%s: %g outside %g..%g",
					where, f->name, v, f->min, f->max);
		}
		return FB_OK;
	}
	case FB_CFG_ENUM: {
		enum fb_optimizer v;
		memcpy(&v, p, sizeof(v));
		size_t n = 0;
		while (f->choices[n] != NULL) {
			n++;
		}
		if ((unsigned)v >= n) {
			return fb_errorf(FB_EINVAL, "%s%s: %u is not 0 to %zu",
					where, f->name, (unsigned)v, n - 1);
		}
		return FB_OK;
	}
	default:
		return FB_OK; // booleans
	}
}

fb_err
fb_hparams_check(const struct fb_hparams *hp, const char *where)
{
	for (size_t k = 0; k < N_FIELDS; k++) {
		fb_err err = check_range(hp, &fields[k], where);
		if (err != FB_OK) {
			return err;
		}
	}
	if (hp->bundle_rank > hp->dim) {
		return fb_errorf(FB_EINVAL,
				"%sbundle_rank: %u is more than dim (%u): it "
				"counts leading coordinates of the bundle "
				"factors",
				where, hp->bundle_rank, hp->dim);
	}
	if (hp->bias && hp->dim < 2) {
		return fb_errorf(FB_EINVAL,
				"%sdim: must be at least 2 with bias (the bias "
				"takes the last coordinate)",
				where);
	}
	return FB_OK;
}

void
fb_hparams_release_layout(const struct fb_hparams *hp, uint32_t n_items,
		uint32_t n_bundles, struct fb_release_layout *out)
{
	uint32_t end = hp->bias ? hp->dim - 1 : hp->dim;
	uint32_t rank = hp->bundle_rank;
	out->n_bundles = n_bundles;
	out->n_items = n_items;
	out->dim = hp->dim;
	out->lead = rank > 0 && rank < end ? rank : end;
	out->last = hp->bias;
	out->items = hp->train_items;
	out->per_bundle = out->lead + (out->last ? 1 : 0);
	out->len = (size_t)n_bundles * out->per_bundle +
			(out->items ? (size_t)n_items * hp->dim : 0);
}

size_t
fb_release_model_len(const struct fb_release_layout *L, size_t n_attrs)
{
	size_t n = (size_t)L->n_bundles * L->per_bundle;
	if (L->items) {
		n += ((size_t)L->n_items + n_attrs) * L->dim;
	}
	return n;
}

void
fb_release_mask_bundles(
		const struct fb_release_layout *L, float *w, size_t rows)
{
	size_t end = L->last ? L->dim - 1 : L->dim;
	if (L->lead >= end) {
		return;
	}
	for (size_t r = 0; r < rows; r++) {
		memset(w + r * L->dim + L->lead, 0,
				(end - L->lead) * sizeof(float));
	}
}
