// common/secagg/unmask.c: removal of the masks from the sum of masked
// inputs (include/fedbundle/secagg/unmask.h, protocols/secagg-v1.md §3.4).
// The survivors' masked inputs are summed block by block (each input read
// once), then every self mask and every mask a survivor shared with a
// dropped party is taken off in one blocked pass (secagg/mask.c). Pairwise
// masks between two survivors cancel in the sum and are never expanded.
// Invariant: the reconstructed seeds and keys checked against their public
// commitments before any is used; derived seeds in sodium_malloc memory.
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/advert.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/unmask.h"

#define BLOCK_WORDS 4096

static fb_err
check_parties(const struct fb_secagg_survivor *surv, size_t ns,
		const struct fb_secagg_dropped *dropped, size_t nd)
{
	size_t n = ns + nd;
	uint32_t *idx = malloc(n * sizeof(*idx));
	if (idx == NULL) {
		return fb_errorf(FB_ENOMEM, "secagg unmask: %zu parties", n);
	}
	for (size_t i = 0; i < ns; i++) {
		idx[i] = surv[i].index;
	}
	for (size_t i = 0; i < nd; i++) {
		idx[ns + i] = dropped[i].index;
	}
	fb_err err = FB_OK;
	for (size_t i = 0; i < n && err == FB_OK; i++) {
		if (idx[i] == 0) {
			err = fb_errorf(FB_EINVAL, "secagg unmask: index 0");
		}
		for (size_t j = i + 1; j < n && err == FB_OK; j++) {
			if (idx[i] == idx[j]) {
				err = fb_errorf(FB_EINVAL,
						"secagg unmask: party %u listed "
						"twice",
						idx[i]);
			}
		}
	}
	free(idx);
	return err;
}

static fb_err
check_secrets(const struct fb_secagg_survivor *surv, size_t ns,
		const struct fb_secagg_dropped *dropped, size_t nd)
{
	for (size_t i = 0; i < ns; i++) {
		uint8_t c[FB_SECAGG_COMMIT_LEN];
		if (surv[i].self_commit == NULL) {
			continue;
		}
		fb_secagg_self_commit(c, surv[i].self_seed);
		if (sodium_memcmp(c, surv[i].self_commit, sizeof(c)) != 0) {
			return fb_errorf(FB_ECRYPTO,
					"secagg unmask: survivor %u's "
					"reconstructed self-mask seed does not "
					"match its commitment",
					surv[i].index);
		}
	}
	for (size_t i = 0; i < nd; i++) {
		struct fb_secagg_keypair kp;
		memcpy(kp.sk, dropped[i].mask_sk, sizeof(kp.sk));
		bool ok = fb_secagg_keypair_from_sk(&kp) == FB_OK &&
				sodium_memcmp(kp.pk, dropped[i].mask_pk,
						sizeof(kp.pk)) == 0;
		sodium_memzero(&kp, sizeof(kp));
		if (!ok) {
			return fb_errorf(FB_ECRYPTO,
					"secagg unmask: dropped party %u's "
					"reconstructed mask key is not its "
					"advertised one",
					dropped[i].index);
		}
	}
	return FB_OK;
}

// out = sum of the masked inputs, blockwise.
static void
sum_inputs(uint64_t *out, size_t dim, const struct fb_secagg_survivor *surv,
		size_t ns)
{
	for (size_t w = 0; w < dim; w += BLOCK_WORDS) {
		size_t len = dim - w < BLOCK_WORDS ? dim - w : BLOCK_WORDS;
		memcpy(out + w, surv[0].masked + w, len * sizeof(*out));
		for (size_t s = 1; s < ns; s++) {
			const uint64_t *in = surv[s].masked + w;
			uint64_t *o = out + w;
			for (size_t i = 0; i < len; i++) {
				o[i] += in[i];
			}
		}
	}
}

// The masks to take off: -self of each survivor; for each dropped v and
// survivor u the opposite of what u applied (+ if u < v).
static fb_err
build_masks(uint8_t *seeds, struct fb_secagg_mask *masks,
		const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t ns,
		const struct fb_secagg_dropped *dropped, size_t nd)
{
	size_t k = 0;
	for (size_t u = 0; u < ns; u++, k++) {
		memcpy(seeds + k * FB_SECAGG_SEED_LEN, surv[u].self_seed,
				FB_SECAGG_SEED_LEN);
		masks[k].sign = -1;
	}
	for (size_t v = 0; v < nd; v++) {
		struct fb_secagg_keypair kp;
		memcpy(kp.sk, dropped[v].mask_sk, sizeof(kp.sk));
		memcpy(kp.pk, dropped[v].mask_pk, sizeof(kp.pk));
		for (size_t u = 0; u < ns; u++, k++) {
			fb_err err = fb_secagg_pair_seed(
					seeds + k * FB_SECAGG_SEED_LEN, ctx,
					dropped[v].index, &kp, surv[u].index,
					surv[u].mask_pk);
			if (err != FB_OK) {
				sodium_memzero(&kp, sizeof(kp));
				return err;
			}
			masks[k].sign = surv[u].index < dropped[v].index ? -1
									 : 1;
		}
		sodium_memzero(&kp, sizeof(kp));
	}
	for (size_t j = 0; j < k; j++) {
		masks[j].seed = seeds + j * FB_SECAGG_SEED_LEN;
	}
	return FB_OK;
}

// Checks, then takes the masks off: sum = masked_sum (or, if masked_sum
// is NULL, the sum of the survivors' masked inputs) minus the masks.
static fb_err
unmask(int64_t *sum, const uint64_t *masked_sum, size_t dim, uint32_t bits,
		const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t n_surv,
		const struct fb_secagg_dropped *dropped, size_t n_dropped)
{
	if (sum == NULL || ctx == NULL || surv == NULL || n_surv == 0 ||
			(dropped == NULL && n_dropped > 0) ||
			dim > FB_SECAGG_DIM_MAX || !fb_secagg_ring_ok(bits)) {
		return fb_errorf(FB_EINVAL,
				"secagg unmask: %zu survivors, dim %zu, ring "
				"%u bits",
				n_surv, dim, bits);
	}
	fb_err err = check_parties(surv, n_surv, dropped, n_dropped);
	if (err == FB_OK) {
		err = check_secrets(surv, n_surv, dropped, n_dropped);
	}
	if (err != FB_OK) {
		return err;
	}
	size_t k = n_surv + n_surv * n_dropped;
	uint8_t *seeds = sodium_malloc(k * FB_SECAGG_SEED_LEN);
	struct fb_secagg_mask *masks = malloc(k * sizeof(*masks));
	if (seeds == NULL || masks == NULL) {
		err = fb_errorf(FB_ENOMEM, "secagg unmask: %zu masks", k);
		goto out;
	}
	err = build_masks(seeds, masks, ctx, surv, n_surv, dropped, n_dropped);
	if (err != FB_OK) {
		goto out;
	}
	// Every check is done: nothing below fails, so sum is written only
	// on success. int64_t and uint64_t may alias (C17 6.5p7); the ring
	// element read as two's complement is the int64 sum.
	uint64_t *acc = (uint64_t *)sum;
	if (masked_sum != NULL) {
		memmove(acc, masked_sum, dim * sizeof(*acc));
	} else {
		sum_inputs(acc, dim, surv, n_surv);
	}
	err = fb_secagg_mask_apply_ring(acc, dim, bits, masks, k);
	for (size_t i = 0; err == FB_OK && bits < 64 && i < dim; i++) {
		sum[i] = fb_secagg_ring_signed(acc[i], bits);
	}
out:
	sodium_free(seeds); // wipes; NULL is a no-op
	free(masks);
	return err;
}

fb_err
fb_secagg_unmask(int64_t *sum, size_t dim, const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t n_surv,
		const struct fb_secagg_dropped *dropped, size_t n_dropped)
{
	for (size_t i = 0; i < n_surv && surv != NULL; i++) {
		if (surv[i].masked == NULL && dim > 0) {
			return fb_errorf(FB_EINVAL,
					"secagg unmask: survivor %u has no "
					"masked input",
					surv[i].index);
		}
	}
	return unmask(sum, NULL, dim, 64, ctx, surv, n_surv, dropped,
			n_dropped);
}

fb_err
fb_secagg_unmask_sum(int64_t *sum, const uint64_t *masked_sum, size_t dim,
		uint32_t bits, const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t n_surv,
		const struct fb_secagg_dropped *dropped, size_t n_dropped)
{
	if (masked_sum == NULL && dim > 0) {
		return fb_errorf(FB_EINVAL, "secagg unmask: no masked sum");
	}
	return unmask(sum, masked_sum, dim, bits, ctx, surv, n_surv, dropped,
			n_dropped);
}
