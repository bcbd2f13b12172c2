// bench/bench-noise.c: how fast DP noise is, beside the randomness it is
// made from. Prints randombytes_buf and ChaCha20 keystream throughput, the
// exact discrete Gaussian at sigma = 1, 100, 10^4, 10^6 grid steps (scalar
// and integer-vector calls) and the noise of one whole release of a
// 100k x 64 model (6.4M coordinates, 2^26 grid steps of noise, the i64 API
// of the DP layer), all measured by this program with the secure
// generator. --json prints one
// JSON object instead of lines. Figures are the best of a few repetitions.
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/privacy/noise.h"
#include "fedbundle/util/clock.h"

struct figure {
	char key[64]; // the label made a JSON key: [a-z0-9_]
	double per_s; // numbers (or samples) per second
	double bytes; // bytes per second (randomness sources) or 0
	double extra; // keystream bytes per sample, or seconds per release
	const char *extra_name;
};

#define MAX_FIG 32
static struct figure figs[MAX_FIG];
static int n_figs;
static bool json;

static void
report(const char *key, double per_s, double bytes, double extra,
		const char *extra_name)
{
	if (n_figs < MAX_FIG) {
		struct figure *f = &figs[n_figs++];
		size_t k = 0;
		for (const char *c = key; *c != '\0' && k + 1 < sizeof(f->key);
				c++) {
			bool alnum = (*c >= 'a' && *c <= 'z') ||
					(*c >= 'A' && *c <= 'Z') ||
					(*c >= '0' && *c <= '9');
			if (alnum) {
				f->key[k++] = *c >= 'A' && *c <= 'Z'
						? (char)(*c - 'A' + 'a')
						: *c;
			} else if (k > 0 && f->key[k - 1] != '_') {
				f->key[k++] = '_';
			}
		}
		while (k > 0 && f->key[k - 1] == '_') {
			k--;
		}
		f->key[k] = '\0';
		f->per_s = per_s;
		f->bytes = bytes;
		f->extra = extra;
		f->extra_name = extra_name;
	}
	if (json) {
		return;
	}
	printf("%-34s %10.2f M/s", key, per_s / 1e6);
	if (bytes > 0) {
		printf("  %7.3f GB/s", bytes / 1e9);
	}
	if (extra_name != NULL) {
		printf("  %s %.4g", extra_name, extra);
	}
	printf("\n");
	fflush(stdout);
}

static void
bench_sources(struct fb_noise *g)
{
	const size_t len = (size_t)64 << 20;
	uint8_t *buf = malloc(len);
	if (buf == NULL) {
		fprintf(stderr, "bench-noise: out of memory\n");
		exit(1);
	}
	double best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t0 = fb_clock_s();
		randombytes_buf(buf, len);
		double t = fb_clock_s() - t0;
		best = t < best ? t : best;
	}
	report("randombytes_buf (64 MiB calls)", (double)len / 8 / best,
			(double)len / best, 0, NULL);

	// Raw ChaCha20 in the 16 KiB blocks the generator uses.
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
	randombytes_buf(key, sizeof(key));
	best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t0 = fb_clock_s();
		for (size_t off = 0; off < len; off += 16384) {
			crypto_stream_chacha20(buf + off, 16384, nonce, key);
			nonce[0]++;
		}
		double t = fb_clock_s() - t0;
		best = t < best ? t : best;
	}
	report("crypto_stream_chacha20 (16 KiB)", (double)len / 8 / best,
			(double)len / best, 0, NULL);
	sodium_memzero(key, sizeof(key));

	best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t0 = fb_clock_s();
		fb_noise_fill(g, buf, len);
		double t = fb_clock_s() - t0;
		best = t < best ? t : best;
	}
	report("fb_noise_fill (64 MiB)", (double)len / 8 / best,
			(double)len / best, 0, NULL);

	const size_t n = 32u << 20;
	uint64_t acc = 0;
	best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t0 = fb_clock_s();
		for (size_t i = 0; i < n; i++) {
			acc += fb_noise_u64(g);
		}
		double t = fb_clock_s() - t0;
		best = t < best ? t : best;
	}
	report("fb_noise_u64", (double)n / best, 8.0 * (double)n / best, 0,
			NULL);
	if (acc == 42) { // keep the loop
		printf("#\n");
	}
	free(buf);
}

static void
bench_dgauss(struct fb_noise *g)
{
	const uint64_t sigmas[] = {1, 100, 10000, 1000000};
	const size_t n = 2000000;
	int32_t *v = calloc(n, sizeof(*v));
	if (v == NULL) {
		fprintf(stderr, "bench-noise: out of memory\n");
		exit(1);
	}
	for (int j = 0; j < 4; j++) {
		uint64_t s2 = sigmas[j] * sigmas[j];
		char key[64];
		double best = 1e30;
		double bytes = 0;
		int64_t sum = 0;
		for (int r = 0; r < 3; r++) {
			uint64_t b0 = fb_noise_stream_bytes(g);
			double t0 = fb_clock_s();
			for (size_t i = 0; i < n; i++) {
				int64_t x;
				if (fb_noise_discrete_gaussian(g, s2, 1, &x) !=
						FB_OK) {
					fprintf(stderr, "bench-noise: %s\n",
							fb_last_error(FB_EINVAL));
					exit(1);
				}
				sum += x;
			}
			double t = fb_clock_s() - t0;
			best = t < best ? t : best;
			bytes = (double)(fb_noise_stream_bytes(g) - b0) / n;
		}
		snprintf(key, sizeof(key), "dgauss sigma=%llu (scalar)",
				(unsigned long long)sigmas[j]);
		report(key, (double)n / best, 0, bytes,
				"stream_bytes_per_sample");
		best = 1e30;
		for (int r = 0; r < 3; r++) {
			double t0 = fb_clock_s();
			if (fb_noise_add_discrete_gaussian_i32(
					    g, v, n, s2, 1, NULL) != FB_OK) {
				exit(1);
			}
			double t = fb_clock_s() - t0;
			best = t < best ? t : best;
			memset(v, 0, n * sizeof(*v));
		}
		snprintf(key, sizeof(key), "dgauss sigma=%llu (i32 vector)",
				(unsigned long long)sigmas[j]);
		report(key, (double)n / best, 0, 0, NULL);
		if (sum == INT64_MIN) {
			printf("#\n");
		}
	}
	free(v);
}

// A whole release of a 100,000 x 64 model: noise of 2^26 grid steps
// (what fb_dp_grid_for gives) added to an exact int64 sum.
static void
bench_fixed(struct fb_noise *g)
{
	const size_t n = 100000 * 64;
	int64_t *v = malloc(n * sizeof(*v));
	if (v == NULL) {
		fprintf(stderr, "bench-noise: out of memory\n");
		exit(1);
	}
	uint64_t num, den;
	if (fb_noise_sigma2_rational(0x1p26, &num, &den) != FB_OK) {
		exit(1);
	}
	double best = 1e30;
	for (int r = 0; r < 2; r++) {
		for (size_t i = 0; i < n; i++) {
			v[i] = (int64_t)(i % 1000) - 500;
		}
		double t0 = fb_clock_s();
		if (fb_noise_add_discrete_gaussian_i64(g, v, n, num, den) !=
				FB_OK) {
			fprintf(stderr, "bench-noise: %s\n",
					fb_last_error(FB_EINVAL));
			exit(1);
		}
		double t = fb_clock_s() - t0;
		best = t < best ? t : best;
	}
	report("release: i64, 2^26 steps (6.4M)", (double)n / best, 0, best,
			"seconds_per_release");
	free(v);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "usage: bench-noise [--json]\n");
			return 2;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "bench-noise: libsodium failed to initialise\n");
		return 1;
	}
	struct fb_noise *g = NULL;
	if (fb_noise_create(&g) != FB_OK) {
		fprintf(stderr, "bench-noise: %s\n", fb_last_error(FB_ENOMEM));
		return 1;
	}
	if (!json) {
		printf("# bench-noise: secure generator (private: %s), one "
		       "thread, best of 2-3 runs\n",
				fb_noise_is_private(g) ? "yes" : "no");
	}
	bench_sources(g);
	bench_dgauss(g);
	bench_fixed(g);
	fb_noise_destroy(g);
	if (json) {
		printf("{");
		for (int i = 0; i < n_figs; i++) {
			printf("%s\"%s\": {\"per_s\": %.6g", i ? ", " : "",
					figs[i].key, figs[i].per_s);
			if (figs[i].bytes > 0) {
				printf(", \"bytes_per_s\": %.6g",
						figs[i].bytes);
			}
			if (figs[i].extra_name != NULL) {
				printf(", \"%s\": %.6g", figs[i].extra_name,
						figs[i].extra);
			}
			printf("}");
		}
		printf("}\n");
	}
	return 0;
}
