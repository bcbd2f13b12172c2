// common/model/compat.c: the public item-compatibility statistic of
// compat.h. A query walks, for each given item, the bundles holding it and
// their items (about 6 bundles of 37 items per item on Youshu), so it costs
// a few hundred operations per given item plus one pass over the output;
// nothing of size items x items is ever formed. Leaving a bundle out is
// skipping it in these walks and in the degrees.
#include "fedbundle/model/compat.h"

#include <math.h>
#include <string.h>

fb_err
fb_compat_init(struct fb_compat *c, const struct fb_csr *bi)
{
	memset(c, 0, sizeof(*c));
	c->bi = bi;
	return fb_csr_transpose(&c->ib, bi);
}

void
fb_compat_finish(struct fb_compat *c)
{
	if (c == NULL) {
		return;
	}
	fb_csr_finish(&c->ib);
	memset(c, 0, sizeof(*c));
}

uint32_t
fb_compat_degree(const struct fb_compat *c, uint32_t j, uint32_t skip)
{
	uint32_t deg = fb_csr_row_len(&c->ib, j);
	if (skip != FB_COMPAT_NO_BUNDLE && fb_csr_has(c->bi, skip, j)) {
		deg--;
	}
	return deg;
}

// out[j] += w for every item j sharing a bundle (other than skip) with i.
static void
add_cooccur(const struct fb_compat *c, uint32_t i, uint32_t skip, float w,
		float *out)
{
	const uint32_t *bundles = fb_csr_row(&c->ib, i);
	uint32_t nb = fb_csr_row_len(&c->ib, i);
	for (uint32_t k = 0; k < nb; k++) {
		uint32_t b = bundles[k];
		if (b == skip) {
			continue;
		}
		const uint32_t *items = fb_csr_row(c->bi, b);
		uint32_t ni = fb_csr_row_len(c->bi, b);
		for (uint32_t m = 0; m < ni; m++) {
			out[items[m]] += w;
		}
	}
}

void
fb_compat_scores(const struct fb_compat *c, enum fb_compat_kind kind,
		const uint32_t *items, uint32_t n, uint32_t skip, float *out)
{
	uint32_t n_items = c->bi->n_cols;
	memset(out, 0, n_items * sizeof(*out));
	if (n == 0) {
		return;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = items[k];
		uint32_t deg = fb_compat_degree(c, i, skip);
		if (deg == 0) {
			continue;
		}
		float w = kind == FB_COMPAT_COSINE
				? 1.0f / ((float)n * sqrtf((float)deg))
				: 1.0f;
		add_cooccur(c, i, skip, w, out);
		// i co-occurs with itself in each of its bundles: not a pair.
		out[i] -= w * (float)deg;
	}
	if (kind != FB_COMPAT_COSINE) {
		return;
	}
	for (uint32_t j = 0; j < n_items; j++) {
		if (out[j] != 0.0f) {
			uint32_t deg = fb_compat_degree(c, j, skip);
			out[j] = deg > 0 ? out[j] / sqrtf((float)deg) : 0.0f;
		}
	}
}
