// bench/bench-machine.c: the machine's limits, measured by one program so
// the project can say how close its own code comes to them: STREAM triad
// and memcpy bandwidth (128 MB arrays, one thread), the sum of 10 buffered
// 25.6 MB vectors (blockwise vs one accumulate per arrival), libsodium's
// XChaCha20-Poly1305, BLAKE2b, ChaCha20 and randombytes_buf on 30 MB,
// xxHash's XXH3-128 (the tensor files' checksum) on 30 MB, and OpenBLAS
// sgemm at 2048^3 and at the scoring shape (1024 users x 20000 bundles x
// 64) with 1 and 2 threads. Each figure is the median of several
// repetitions after a warm-up (best in brackets). --json prints one JSON
// object instead of lines.
#include <cblas.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "fb_config.h"

#include "fedbundle/util/clock.h"

#define REPS 5

static bool json;
static int n_printed;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// Median and minimum of REPS timings.
struct timing {
	double median, best;
};

static struct timing
summarize(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	struct timing r = {t[n / 2], t[0]};
	return r;
}

// One figure: rate = amount / time, in unit (GB/s or GFLOP/s).
static void
report(const char *key, const char *label, double amount, struct timing t,
		const char *unit, const char *note)
{
	double med = amount / t.median, best = amount / t.best;
	if (json) {
		printf("%s\"%s\": {\"median\": %.4g, \"best\": %.4g, "
		       "\"unit\": \"%s\"}",
				n_printed ? ", " : "", key, med, best, unit);
	} else {
		printf("%-44s %8.2f %-8s (best %.2f)%s%s\n", label, med, unit,
				best, note ? "  " : "", note ? note : "");
	}
	n_printed++;
	fflush(stdout);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL) {
		fprintf(stderr, "bench-machine: cannot allocate %zu bytes\n",
				n);
		exit(1);
	}
	return p;
}

// The kernels take restrict pointers so that -O2 vectorises them without
// run-time alias checks.
static void
triad(double *restrict a, const double *restrict b, const double *restrict c,
		double s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		a[i] = b[i] + s * c[i];
	}
}

static void
add_into(float *restrict acc, const float *restrict src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		acc[i] += src[i];
	}
}

// acc (=|+=) a + b [+ c + d]: several inputs per pass over the block, so
// acc is loaded and stored once per 4 inputs.
static void
add2(float *restrict acc, const float *restrict a, const float *restrict b,
		size_t n, bool set)
{
	for (size_t i = 0; i < n; i++) {
		acc[i] = (set ? 0.0f : acc[i]) + (a[i] + b[i]);
	}
}

static void
add4(float *restrict acc, const float *restrict a, const float *restrict b,
		const float *restrict c, const float *restrict d, size_t n,
		bool set)
{
	for (size_t i = 0; i < n; i++) {
		acc[i] = (set ? 0.0f : acc[i]) +
				((a[i] + b[i]) + (c[i] + d[i]));
	}
}

static void
bench_memory(void)
{
	const size_t n = (size_t)16 << 20; // 16M doubles = 128 MiB per array
	double *a = xmalloc(n * sizeof(double));
	double *b = xmalloc(n * sizeof(double));
	double *c = xmalloc(n * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		a[i] = 0;
		b[i] = (double)(i & 1023);
		c[i] = 1.0 / (double)((i & 255) + 1);
	}
	double t[REPS];
	const double s = 3.0;
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		triad(a, b, c, s, n);
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	// STREAM counts 3 arrays (two reads and one write) per iteration.
	report("stream_triad", "STREAM triad, 3 x 128 MiB, 1 thread",
			3.0 * (double)n * sizeof(double) / 1e9,
			summarize(t, REPS), "GB/s", NULL);
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		memcpy(c, a, n * sizeof(double));
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("memcpy", "memcpy 128 MiB (bytes copied)",
			(double)n * sizeof(double) / 1e9, summarize(t, REPS),
			"GB/s", NULL);
	if (a[7] + c[5] == -1) {
		printf("#\n");
	}
	free(a);
	free(b);
	free(c);
}

static void
bench_vector_sum(void)
{
	enum { NV = 10, BLOCK = 8192 }; // 32 KiB of acc stays in L1
	const size_t d = 6400000;       // 100k x 64 floats = 25.6 MB
	float *v[NV];
	for (int k = 0; k < NV; k++) {
		v[k] = xmalloc(d * sizeof(float));
		for (size_t i = 0; i < d; i++) {
			v[k][i] = (float)((i + (size_t)k) & 63) * 0.25f;
		}
	}
	float *acc = xmalloc(d * sizeof(float));
	memset(acc, 0, d * sizeof(float));
	double t[REPS];
	// Blocked: each output block is summed over all vectors while it
	// stays in L1, four inputs per pass: every input byte is read once.
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		for (size_t b0 = 0; b0 < d; b0 += BLOCK) {
			size_t len = b0 + BLOCK < d ? BLOCK : d - b0;
			int k = 0;
			for (; k + 4 <= NV; k += 4) {
				add4(acc + b0, v[k] + b0, v[k + 1] + b0,
						v[k + 2] + b0, v[k + 3] + b0,
						len, k == 0);
			}
			for (; k + 2 <= NV; k += 2) {
				add2(acc + b0, v[k] + b0, v[k + 1] + b0, len,
						k == 0);
			}
			if (k < NV) {
				add_into(acc + b0, v[k] + b0, len);
			}
		}
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	double in_gb = (double)NV * (double)d * sizeof(float) / 1e9;
	report("sum_10_vectors_blocked",
			"sum of 10 x 25.6 MB vectors, blocked (input)", in_gb,
			summarize(t, REPS), "GB/s", NULL);
	// Per arrival: acc += v[k] over the whole vector, k after k.
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		memset(acc, 0, d * sizeof(float));
		for (int k = 0; k < NV; k++) {
			add_into(acc, v[k], d);
		}
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("sum_10_vectors_per_arrival",
			"sum of 10 x 25.6 MB vectors, per arrival (input)",
			in_gb, summarize(t, REPS), "GB/s", NULL);
	if (acc[3] == -1) {
		printf("#\n");
	}
	for (int k = 0; k < NV; k++) {
		free(v[k]);
	}
	free(acc);
}

static void
bench_crypto(void)
{
	const size_t len = (size_t)30 << 20;
	const size_t abytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t *m = xmalloc(len);
	uint8_t *c = xmalloc(len + abytes);
	uint8_t *back = xmalloc(len);
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(m, len);
	double gb = (double)len / 1e9;
	double ts[REPS], to[REPS];
	for (int r = 0; r <= REPS; r++) {
		unsigned long long clen = 0, mlen = 0;
		double t0 = fb_clock_s();
		crypto_aead_xchacha20poly1305_ietf_encrypt(
				c, &clen, m, len, NULL, 0, NULL, nonce, key);
		double t1 = fb_clock_s();
		int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(back, &mlen,
				NULL, c, clen, NULL, 0, nonce, key);
		double t2 = fb_clock_s();
		if (rc != 0 || mlen != len || memcmp(back, m, len) != 0) {
			fprintf(stderr, "bench-machine: AEAD round trip failed\n");
			exit(1);
		}
		if (r > 0) {
			ts[r - 1] = t1 - t0;
			to[r - 1] = t2 - t1;
		}
	}
	report("xchacha20poly1305_seal", "XChaCha20-Poly1305 seal, 30 MiB", gb,
			summarize(ts, REPS), "GB/s", NULL);
	report("xchacha20poly1305_open", "XChaCha20-Poly1305 open, 30 MiB", gb,
			summarize(to, REPS), "GB/s", NULL);
	double t[REPS];
	uint8_t h[crypto_generichash_BYTES];
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		crypto_generichash(h, sizeof(h), m, len, NULL, 0);
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("blake2b", "BLAKE2b (crypto_generichash), 30 MiB", gb,
			summarize(t, REPS), "GB/s", NULL);
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		volatile XXH64_hash_t sink = XXH3_128bits(m, len).low64;
		double dt = fb_clock_s() - t0;
		(void)sink;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("xxh3_128", "XXH3-128 (tensor file checksum), 30 MiB", gb,
			summarize(t, REPS), "GB/s", NULL);
	uint8_t snonce[crypto_stream_chacha20_NONCEBYTES] = {0};
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		crypto_stream_chacha20(c, len, snonce, key);
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("chacha20_keystream", "ChaCha20 keystream, 30 MiB", gb,
			summarize(t, REPS), "GB/s", NULL);
	for (int r = 0; r <= REPS; r++) {
		double t0 = fb_clock_s();
		randombytes_buf(m, len);
		double dt = fb_clock_s() - t0;
		if (r > 0) {
			t[r - 1] = dt;
		}
	}
	report("randombytes_buf", "randombytes_buf, 30 MiB", gb,
			summarize(t, REPS), "GB/s", NULL);
	sodium_memzero(key, sizeof(key));
	free(m);
	free(c);
	free(back);
}

static bool
set_threads(int n)
{
#ifdef FB_HAVE_OPENBLAS
	openblas_set_num_threads(n);
	return true;
#else
	return n == 1;
#endif
}

static void
bench_sgemm_shape(const char *key, const char *label, int m, int n, int k,
		bool trans_b)
{
	float *a = xmalloc((size_t)m * (size_t)k * sizeof(float));
	float *b = xmalloc((size_t)k * (size_t)n * sizeof(float));
	float *c = xmalloc((size_t)m * (size_t)n * sizeof(float));
	for (size_t i = 0; i < (size_t)m * (size_t)k; i++) {
		a[i] = (float)(i % 17) * 0.01f;
	}
	for (size_t i = 0; i < (size_t)k * (size_t)n; i++) {
		b[i] = (float)(i % 13) * 0.02f;
	}
	memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
	double gflop = 2.0 * m * (double)n * k / 1e9;
	for (int threads = 1; threads <= 2; threads++) {
		char key_t[64], label_t[96];
		snprintf(key_t, sizeof(key_t), "%s_%dt", key, threads);
		snprintf(label_t, sizeof(label_t), "%s, %d thread%s", label,
				threads, threads > 1 ? "s" : "");
		if (!set_threads(threads)) {
			if (!json) {
				printf("%-44s n/a (no OpenBLAS thread control)\n",
						label_t);
			}
			continue;
		}
		double t[REPS];
		for (int r = 0; r <= REPS; r++) {
			double t0 = fb_clock_s();
			if (trans_b) { // B is n x k row-major: C = A B^T
				cblas_sgemm(CblasRowMajor, CblasNoTrans,
						CblasTrans, m, n, k, 1.0f, a, k,
						b, k, 0.0f, c, n);
			} else {
				cblas_sgemm(CblasRowMajor, CblasNoTrans,
						CblasNoTrans, m, n, k, 1.0f, a,
						k, b, n, 0.0f, c, n);
			}
			double dt = fb_clock_s() - t0;
			if (r > 0) {
				t[r - 1] = dt;
			}
		}
		report(key_t, label_t, gflop, summarize(t, REPS), "GFLOP/s",
				NULL);
	}
	free(a);
	free(b);
	free(c);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "usage: bench-machine [--json]\n");
			return 2;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "bench-machine: libsodium failed to initialise\n");
		return 1;
	}
	if (json) {
		printf("{");
	} else {
		printf("# bench-machine: median of %d runs after a warm-up "
		       "(best in brackets); GB = 10^9 bytes\n",
				REPS);
	}
	bench_memory();
	bench_vector_sum();
	bench_crypto();
	bench_sgemm_shape(
			"sgemm_2048", "sgemm 2048^3", 2048, 2048, 2048, false);
	bench_sgemm_shape("sgemm_scoring",
			"sgemm scoring 1024 x 20000 x 64 (A B^T)", 1024, 20000,
			64, true);
	if (json) {
		printf("}\n");
	}
	return 0;
}
