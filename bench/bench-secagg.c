// bench/bench-secagg.c: the cost of secure aggregation's masks beside the
// machine's ChaCha20 limit (docs/benchmarks.md; MACHINE-NOTES: ~2 GB/s).
// On a vector of 6.75M coordinates (the 27 MB float model as 54 MB of
// Z_(2^64) words) it times: raw libsodium keystream (crypto_stream_chacha20
// and crypto_stream_chacha20_ietf into one buffer, and the cipher alone on
// an L1-resident 16 KiB buffer), fb_secagg_expand, and
// fb_secagg_mask_apply with 1 and 16 masks (a client of a 17-party round
// applies 1 self mask + 16 pairwise masks). Median of REPS runs after a
// warm-up, GB/s of keystream (8 bytes per coordinate per mask), timed in
// process CPU seconds (one thread), so that other jobs on a shared machine
// move the figures less than wall time would. "raw ... in L1" is the
// keystream alone, the limit; "mask_apply" is keystream + add.
// Then the ring the aggregator picks at fedbundle's grid, Z_(2^48) (6
// bytes of keystream a coordinate and mask), on the 6,443,200 coordinates
// of the issue-13 release, with a 16-party round's 16 masks: applied in
// place, and the client's path of the round (client/secround.c): the
// masks' sum written into a fresh buffer, added to the release and wiped
// in one pass, the buffer freed.
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/secagg/mask.h"

#define REPS 5
#define DIM ((size_t)6750000)
#define DIM48 ((size_t)6443200) // issue 13's release

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

enum what { RAW, RAW_IETF, RAW_L1, EXPAND, APPLY, APPLY48, CLIENT48 };

// The client's path in Z_(2^48) (fb_secagg_maskset_expand, _add): the
// sum of the k masks written into a fresh buffer, added to v (the
// release) and wiped in the same pass, the buffer freed.
static void
client48(uint64_t *v, const struct fb_secagg_mask *m, size_t k)
{
	uint64_t *s = malloc(DIM48 * sizeof(*s));
	if (s == NULL || fb_secagg_mask_sum_ring(s, DIM48, 48, m, k) != FB_OK) {
		exit(1);
	}
	for (size_t i = 0; i < DIM48; i++) {
		v[i] = (v[i] + s[i]) & ((UINT64_C(1) << 48) - 1);
		s[i] = 0;
	}
	__asm__ __volatile__("" : : "r"(s) : "memory");
	free(s);
}

static double
run_once(enum what w, uint64_t *v, const struct fb_secagg_mask *m, size_t k)
{
	static const uint8_t nonce[12];
	double t0 = now();
	switch (w) {
	case RAW:
		crypto_stream_chacha20(
				(unsigned char *)v, DIM * 8, nonce, m[0].seed);
		break;
	case RAW_IETF:
		crypto_stream_chacha20_ietf(
				(unsigned char *)v, DIM * 8, nonce, m[0].seed);
		break;
	case RAW_L1: // the cipher alone: 16 KiB blocks into one L1 buffer
		for (size_t i = 0; i < DIM; i += 2048) {
			crypto_stream_chacha20_ietf_xor_ic((unsigned char *)v,
					(const unsigned char *)v, 2048 * 8,
					nonce, (uint32_t)(i / 8), m[0].seed);
		}
		break;
	case EXPAND:
		if (fb_secagg_expand(v, DIM, m[0].seed) != FB_OK) {
			exit(1);
		}
		break;
	case APPLY:
		if (fb_secagg_mask_apply(v, DIM, m, k) != FB_OK) {
			exit(1);
		}
		break;
	case APPLY48:
		if (fb_secagg_mask_apply_ring(v, DIM48, 48, m, k) != FB_OK) {
			exit(1);
		}
		break;
	case CLIENT48:
		client48(v, m, k);
		break;
	}
	return now() - t0;
}

static void
bench(const char *label, enum what w, uint64_t *v,
		const struct fb_secagg_mask *m, size_t k)
{
	double t[REPS];
	run_once(w, v, m, k); // warm-up: pages faulted in
	for (int r = 0; r < REPS; r++) {
		t[r] = run_once(w, v, m, k);
	}
	qsort(t, REPS, sizeof(t[0]), cmp);
	double bytes = w >= APPLY48 ? (double)DIM48 * 6 * (double)k
				    : (double)DIM * 8 * (double)k;
	printf("%-44s %7.2f GB/s  (median %.1f ms, best %.2f GB/s)\n", label,
			bytes / t[REPS / 2] * 1e-9, t[REPS / 2] * 1e3,
			bytes / t[0] * 1e-9);
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	uint64_t *v = malloc(DIM * sizeof(*v));
	uint8_t seeds[17][32];
	struct fb_secagg_mask m[17];
	if (v == NULL) {
		return 1;
	}
	memset(v, 0, DIM * sizeof(*v));
	for (int j = 0; j < 17; j++) {
		randombytes_buf(seeds[j], 32);
		m[j] = (struct fb_secagg_mask){seeds[j], j % 2 ? -1 : 1};
	}
	printf("secagg masks on %zu coordinates (%.1f MB of u64), 1 thread\n",
			DIM, (double)DIM * 8 / 1e6);
	bench("raw crypto_stream_chacha20", RAW, v, m, 1);
	bench("raw crypto_stream_chacha20_ietf", RAW_IETF, v, m, 1);
	bench("keystream only: xor_ic, 16 KiB in L1", RAW_L1, v, m, 1);
	bench("fb_secagg_expand", EXPAND, v, m, 1);
	bench("fb_secagg_mask_apply, 1 mask", APPLY, v, m, 1);
	bench("keystream + add: mask_apply, 17 masks", APPLY, v, m, 17);
	printf("Z_(2^48), %zu coordinates, 16 masks (6 bytes a word)\n", DIM48);
	bench("in place: mask_apply_ring", APPLY48, v, m, 16);
	bench("client: fresh sum buffer, add, wipe", CLIENT48, v, m, 16);
	free(v);
	return 0;
}
