// include/fedbundle/secagg/unmask.h: the aggregator's last step of a round
// of secure aggregation (protocols/secagg-v1.md §3.4): from the masked
// inputs of the survivors (the parties whose masked input was received),
// their reconstructed self-mask seeds, and the reconstructed mask secret
// keys of the dropped parties (those that shared keys but whose masked
// input never arrived), the exact sum of the survivors' inputs in Z_(2^64).
// Read as two's complement it is their int64 sum whenever the no-wrap
// bound of §2.2 holds.
// Thread-safety: stateless; any number of threads on distinct outputs.
#ifndef FB_INCLUDE_FEDBUNDLE_SECAGG_UNMASK_H
#define FB_INCLUDE_FEDBUNDLE_SECAGG_UNMASK_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/secagg/kx.h"
#include "fedbundle/util/err.h"

struct fb_secagg_survivor {
	uint32_t index;
	const uint64_t *masked; // its masked input, dim words (NULL for
				// fb_secagg_unmask_sum)
	uint8_t self_seed[FB_SECAGG_SEED_LEN]; // reconstructed from shares
	uint8_t mask_pk[FB_SECAGG_PK_LEN];     // from its advertisement
	const uint8_t *self_commit; // its advertisement's, or NULL: unchecked
};

struct fb_secagg_dropped {
	uint32_t index;
	uint8_t mask_sk[FB_SECAGG_SK_LEN]; // reconstructed from shares
	uint8_t mask_pk[FB_SECAGG_PK_LEN]; // from its advertisement
};

// Writes the sum of the survivors' inputs into sum[0..dim). Refuses with
// FB_EINVAL no survivor or a repeated or zero index; with FB_ECRYPTO
// (detail names the party) a self-mask seed that does not match its
// commitment, or a reconstructed mask secret key whose public key is not
// the advertised one (a share was wrong: the round must be abandoned);
// FB_ENOMEM. sum is written only on success; the derived seeds are wiped.
fb_err fb_secagg_unmask(int64_t *sum, size_t dim,
		const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t n_surv,
		const struct fb_secagg_dropped *dropped, size_t n_dropped)
		__attribute__((warn_unused_result));

// As fb_secagg_unmask() in the ring Z_(2^bits) (bits 32, 48 or 64,
// secagg-v1 §2.2; the sum read back sign-extended from bits) from the sum
// of the survivors' masked inputs, already added up in the ring, each
// word below 2^bits for bits < 64 (an aggregator that accumulates inputs as
// they arrive keeps O(dim) memory whatever the number of parties);
// surv[i].masked is not read. masked_sum may be (uint64_t *)sum: the
// masks are then taken off in place. On failure sum is untouched.
fb_err fb_secagg_unmask_sum(int64_t *sum, const uint64_t *masked_sum,
		size_t dim, uint32_t bits, const struct fb_secagg_ctx *ctx,
		const struct fb_secagg_survivor *surv, size_t n_surv,
		const struct fb_secagg_dropped *dropped, size_t n_dropped)
		__attribute__((warn_unused_result));

#endif
