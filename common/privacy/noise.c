// common/privacy/noise.c: the exact discrete Gaussian (Canonne, Kamath, Steinke
// 2020, Algorithms 1-3) over a ChaCha20 stream keyed by randombytes_buf.
// Invariants: every accept/reject decision compares integers (rational
// probabilities p/q by Lemire's unbiased method or by lazily comparing the
// binary expansion of p/q with fresh random bits); no product exceeds 128
// bits, which is why the discrete Gaussian's proposal is cut where
// |y| d t would reach 2^64 (beyond 253 sigma); key and buffered keystream
// live in the sodium_malloc'd struct and are wiped on destroy; no keystream
// byte is handed out twice, and none is the key of another block (fast key
// erasure: block i+1's key is 32 bytes generated after block i and wiped
// from the buffer before any byte of block i is used).
#include <math.h>
#include <sodium.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "fedbundle/privacy/noise.h"

#define BLOCK_LEN 16384
#define KEY_LEN crypto_stream_chacha20_KEYBYTES

struct u128 {
	uint64_t hi, lo;
};

// Set-up of Algorithm 3 for one sigma^2, cached in the generator.
struct dg_params {
	uint64_t num_in, den_in; // as passed (cache key); num_in == 0: empty
	uint64_t n, d;           // sigma^2 = n / d in lowest terms
	uint64_t t;    // floor(sigma) + 1: the Laplace proposal's scale
	uint64_t dt;   // d * t
	uint64_t ymax; // largest |y| with |y| * d * t < 2^64
	struct u128 q; // 2 n d t^2: gamma(y) = (|y| d t - n)^2 / q
};

struct fb_noise {
	uint8_t block[BLOCK_LEN +
			KEY_LEN]; // keystream; the tail is the next key
	uint8_t key[KEY_LEN];
	size_t pos;     // next unused byte of block
	uint64_t bits;  // unused random bits, consumed from bit 0
	unsigned nbits; // how many
	bool secure;    // keyed from randombytes_buf and re-keyed from it
	pid_t pid;      // process that keyed it (secure mode re-keys on fork)
	uint64_t key_bytes;   // keystream bytes since the last system key
	uint64_t total_bytes; // keystream bytes ever produced
	struct dg_params cache;
};

// ---- the stream ---------------------------------------------------------

static void
refill(struct fb_noise *s)
{
	static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
	if (s->secure) {
		pid_t pid = getpid();
		if (s->key_bytes >= FB_NOISE_REKEY_BYTES || pid != s->pid) {
			randombytes_buf(s->key, KEY_LEN);
			s->key_bytes = 0;
			s->pid = pid;
		}
	}
	// Each key encrypts exactly one block, so a fixed nonce is safe.
	crypto_stream_chacha20(s->block, sizeof(s->block), nonce, s->key);
	memcpy(s->key, s->block + BLOCK_LEN, KEY_LEN);
	sodium_memzero(s->block + BLOCK_LEN, KEY_LEN);
	s->pos = 0;
	s->key_bytes += sizeof(s->block);
	s->total_bytes += sizeof(s->block);
}

static inline uint64_t
next_u64(struct fb_noise *s)
{
	if (s->pos > BLOCK_LEN - 8) {
		refill(s);
	}
	const uint8_t *p = s->block + s->pos;
	s->pos += 8;
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
			(uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
			(uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
			(uint64_t)p[7] << 56;
}

static inline uint32_t
next_u32(struct fb_noise *s)
{
	if (s->pos > BLOCK_LEN - 4) {
		refill(s);
	}
	const uint8_t *p = s->block + s->pos;
	s->pos += 4;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			(uint32_t)p[3] << 24;
}

static inline unsigned
next_bit(struct fb_noise *s)
{
	if (s->nbits == 0) {
		s->bits = next_u64(s);
		s->nbits = 64;
	}
	unsigned b = (unsigned)(s->bits & 1);
	s->bits >>= 1;
	s->nbits--;
	return b;
}

// ---- 128-bit helpers (no __int128 in ISO C) ------------------------------

static inline struct u128
mul64(uint64_t a, uint64_t b)
{
	uint64_t a0 = (uint32_t)a, a1 = a >> 32;
	uint64_t b0 = (uint32_t)b, b1 = b >> 32;
	uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
	struct u128 r = {
			.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32),
			.lo = (mid << 32) | (uint32_t)p00,
	};
	return r;
}

static inline bool
lt128(struct u128 a, struct u128 b)
{
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static inline struct u128
sub128(struct u128 a, struct u128 b)
{
	struct u128 r = {.hi = a.hi - b.hi - (a.lo < b.lo), .lo = a.lo - b.lo};
	return r;
}

// q * k, or false if the product is 2^126 or more.
static inline bool
mul128_small(struct u128 q, uint64_t k, struct u128 *out)
{
	struct u128 lo = mul64(q.lo, k);
	struct u128 hi = mul64(q.hi, k);
	uint64_t h = hi.lo + lo.hi;
	if (hi.hi != 0 || h < hi.lo || h >= (UINT64_C(1) << 62)) {
		return false;
	}
	out->hi = h;
	out->lo = lo.lo;
	return true;
}

// ---- uniform integers and rational Bernoullis ---------------------------

// Uniform in [0, bound), 1 <= bound < 2^32 (Lemire 2019, unbiased).
static inline uint32_t
below32(struct fb_noise *s, uint32_t bound)
{
	uint64_t m = (uint64_t)next_u32(s) * bound;
	uint32_t l = (uint32_t)m;
	if (l < bound) {
		uint32_t thr = (uint32_t)(0u - bound) % bound;
		while (l < thr) {
			m = (uint64_t)next_u32(s) * bound;
			l = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

// Uniform in [0, bound), bound >= 1.
static inline uint64_t
below(struct fb_noise *s, uint64_t bound)
{
	if (bound <= UINT32_MAX) {
		return below32(s, (uint32_t)bound);
	}
	struct u128 m = mul64(next_u64(s), bound);
	if (m.lo < bound) {
		uint64_t thr = (0 - bound) % bound;
		while (m.lo < thr) {
			m = mul64(next_u64(s), bound);
		}
	}
	return m.hi;
}

// Bernoulli(p / q), q >= 1, p <= q: a uniform U in [0, q) is below p.
static inline bool
bern64(struct fb_noise *s, uint64_t p, uint64_t q)
{
	return below(s, q) < p;
}

// Bernoulli(p / q), p <= q < 2^127: compares the binary expansion of p / q,
// produced by long division, with random bits until they differ (2 bits on
// average).
static bool
bern128(struct fb_noise *s, struct u128 p, struct u128 q)
{
	if (q.hi == 0) {
		return bern64(s, p.lo, q.lo);
	}
	for (;;) {
		p.hi = (p.hi << 1) | (p.lo >> 63);
		p.lo <<= 1;
		unsigned e = !lt128(p, q);
		if (e) {
			p = sub128(p, q);
		}
		if (next_bit(s) != e) {
			return e; // U < p/q iff the first differing bit is p/q's
		}
	}
}

// Bernoulli(exp(-1)): Algorithm 1 with gamma = 1, whose first draw,
// Bernoulli(1/1), always succeeds.
static bool
bern_exp_m1(struct fb_noise *s)
{
	uint32_t k = 2;
	while (below32(s, k) == 0) { // Bernoulli(1/k)
		k++;
	}
	return k & 1;
}

// Bernoulli(exp(-p/q)) for 0 <= p < q <= 2^64 - 1: Algorithm 1 (gamma < 1),
// drawing A_k ~ Bernoulli(p / (q k)) until one fails; true iff that k is
// odd.
static bool
bern_exp_frac64(struct fb_noise *s, uint64_t p, uint64_t q)
{
	if (p == 0) {
		return true;
	}
	uint64_t k = 1;
	for (;;) {
		bool a;
		if (k <= UINT64_MAX / q) {
			a = bern64(s, p, q * k);
		} else { // Bernoulli(xy) = Bernoulli(x) and Bernoulli(y)
			a = bern64(s, p, q) && bern64(s, 1, k);
		}
		if (!a) {
			return k & 1;
		}
		k++;
	}
}

// The same for 128-bit p < q < 2^126.
static bool
bern_exp_frac128(struct fb_noise *s, struct u128 p, struct u128 q)
{
	if (q.hi == 0) {
		return bern_exp_frac64(s, p.lo, q.lo);
	}
	uint64_t k = 1;
	for (;;) {
		struct u128 qk;
		bool a;
		if (mul128_small(q, k, &qk)) {
			a = bern128(s, p, qk);
		} else {
			a = bern128(s, p, q) && bern64(s, 1, k);
		}
		if (!a) {
			return k & 1;
		}
		k++;
	}
}

// Bernoulli(exp(-p/q)), 1 <= q < 2^126 (Algorithm 1): one Bernoulli(exp(-1))
// per whole unit of gamma = p/q, stopping at the first failure, then the
// fractional part.
static bool
bern_exp128(struct fb_noise *s, struct u128 p, struct u128 q)
{
	while (!lt128(p, q)) {
		p = sub128(p, q);
		if (!bern_exp_m1(s)) {
			return false;
		}
	}
	return bern_exp_frac128(s, p, q);
}

// ---- discrete Laplace and Gaussian --------------------------------------

// Algorithm 2: P[y] proportional to exp(-|y| sc / t), 1 <= t, sc <= 2^32,
// y = floor(X / sc) with X = U + t V, conditioned on V <= vmax, which keeps
// X <= xmax (xmax >= t).
static int64_t
dlap(struct fb_noise *s, uint64_t t, uint64_t sc, uint64_t xmax)
{
	uint64_t vmax = (xmax - (t - 1)) / t; // u + t v <= xmax for all u < t
	for (;;) {
		uint64_t u = t == 1 ? 0 : below(s, t);
		if (!bern_exp_frac64(s, u, t)) {
			continue;
		}
		// V: successes of Bernoulli(exp(-1)) before the first failure.
		// Past vmax the draw is rejected whatever follows, so stop there.
		uint64_t v = 0;
		bool over = false;
		while (bern_exp_m1(s)) {
			if (++v > vmax) {
				over = true;
				break;
			}
		}
		if (over) {
			continue;
		}
		uint64_t y = (u + t * v) / sc;
		if (next_bit(s)) {
			if (y == 0) {
				continue;
			}
			return -(int64_t)y;
		}
		return (int64_t)y;
	}
}

static uint64_t
gcd64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

// r^2 d > n, for r <= 2^29 (r^2 < 2^58), d <= 2^32.
static bool
sq_times_gt(uint64_t r, uint64_t d, uint64_t n)
{
	struct u128 p = mul64(r * r, d);
	return p.hi != 0 || p.lo > n;
}

static fb_err
check_sigma2(uint64_t num, uint64_t den)
{
	if (num < 1 || num > FB_NOISE_SIGMA2_NUM_MAX || den < 1 ||
			den > FB_NOISE_SIGMA2_DEN_MAX) {
		return fb_errorf(FB_EINVAL,
				"noise: sigma^2 = %llu/%llu outside 1 <= num <= "
				"2^56, 1 <= den <= 2^32",
				(unsigned long long)num,
				(unsigned long long)den);
	}
	return FB_OK;
}

// The cached set-up for sigma^2 = num / den (validated by the caller).
static const struct dg_params *
dg_setup(struct fb_noise *s, uint64_t num, uint64_t den)
{
	struct dg_params *p = &s->cache;
	if (p->num_in == num && p->den_in == den) {
		return p;
	}
	uint64_t g = gcd64(num, den);
	p->n = num / g;
	p->d = den / g;
	// floor(sqrt(n / d)) = the largest r with r^2 d <= n; r <= 2^28.
	uint64_t r = (uint64_t)sqrt((double)p->n / (double)p->d);
	while (r > 0 && sq_times_gt(r, p->d, p->n)) {
		r--;
	}
	while (!sq_times_gt(r + 1, p->d, p->n)) {
		r++;
	}
	p->t = r + 1;
	p->dt = p->d * p->t; // <= sqrt(n d) + d < 2^45
	p->ymax = UINT64_MAX / p->dt;
	// d t^2 <= n + 2 sqrt(n d) + d < 2^57, so q < 2^114.
	p->q = mul64(2 * p->n, p->dt * p->t);
	p->num_in = num;
	p->den_in = den;
	return p;
}

// Algorithm 3: a Laplace(t) proposal y accepted with probability
// exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)) = exp(-(|y| d t - n)^2 / q).
static inline int64_t
dgauss(struct fb_noise *s, const struct dg_params *p)
{
	for (;;) {
		int64_t y = dlap(s, p->t, 1, p->ymax);
		uint64_t ay = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
		uint64_t ydt = ay * p->dt; // < 2^64 since ay <= ymax
		uint64_t a = ydt >= p->n ? ydt - p->n : p->n - ydt;
		if (bern_exp128(s, mul64(a, a), p->q)) {
			return y;
		}
	}
}

// ---- public API ---------------------------------------------------------

static fb_err
create(struct fb_noise **out, const uint8_t *seed)
{
	if (out == NULL) {
		return fb_errorf(FB_EINVAL, "noise: out is NULL");
	}
	if (sodium_init() < 0) {
		return fb_errorf(FB_ECRYPTO, "noise: sodium_init failed");
	}
	struct fb_noise *s = sodium_malloc(sizeof(*s));
	if (s == NULL) {
		return fb_errorf(FB_ENOMEM, "noise: sodium_malloc(%zu) failed",
				sizeof(*s));
	}
	memset(s, 0, sizeof(*s));
	s->secure = seed == NULL;
	s->pid = getpid();
	if (seed != NULL) {
		memcpy(s->key, seed, KEY_LEN);
	} else {
		randombytes_buf(s->key, KEY_LEN);
	}
	s->pos = BLOCK_LEN; // empty: the first draw refills
	*out = s;
	return FB_OK;
}

fb_err
fb_noise_create(struct fb_noise **out)
{
	return create(out, NULL);
}

fb_err
fb_noise_create_seeded(struct fb_noise **out, const uint8_t *seed)
{
	if (seed == NULL) {
		return fb_errorf(FB_EINVAL, "noise: seed is NULL");
	}
	return create(out, seed);
}

void
fb_noise_destroy(struct fb_noise *noise)
{
	if (noise == NULL) {
		return;
	}
	sodium_memzero(noise, sizeof(*noise));
	sodium_free(noise);
}

bool
fb_noise_is_private(const struct fb_noise *noise)
{
	return noise != NULL && noise->secure;
}

uint64_t
fb_noise_stream_bytes(const struct fb_noise *noise)
{
	return noise->total_bytes;
}

void
fb_noise_fill(struct fb_noise *noise, void *buf, size_t len)
{
	uint8_t *dst = buf;
	while (len > 0) {
		if (noise->pos == BLOCK_LEN) {
			refill(noise);
		}
		size_t n = BLOCK_LEN - noise->pos;
		if (n > len) {
			n = len;
		}
		memcpy(dst, noise->block + noise->pos, n);
		noise->pos += n;
		dst += n;
		len -= n;
	}
}

uint64_t
fb_noise_u64(struct fb_noise *noise)
{
	return next_u64(noise);
}

fb_err
fb_noise_uniform(struct fb_noise *noise, uint64_t bound, uint64_t *out)
{
	if (noise == NULL || out == NULL || bound == 0) {
		return fb_errorf(FB_EINVAL, "noise: uniform below %llu",
				(unsigned long long)bound);
	}
	*out = below(noise, bound);
	return FB_OK;
}

fb_err
fb_noise_bernoulli(struct fb_noise *noise, uint64_t p, uint64_t q, bool *out)
{
	if (noise == NULL || out == NULL || q == 0 || p > q) {
		return fb_errorf(FB_EINVAL, "noise: Bernoulli(%llu/%llu)",
				(unsigned long long)p, (unsigned long long)q);
	}
	*out = bern64(noise, p, q);
	return FB_OK;
}

fb_err
fb_noise_bernoulli_exp(
		struct fb_noise *noise, uint64_t num, uint64_t den, bool *out)
{
	if (noise == NULL || out == NULL || den == 0) {
		return fb_errorf(FB_EINVAL, "noise: Bernoulli(exp(-%llu/%llu))",
				(unsigned long long)num,
				(unsigned long long)den);
	}
	struct u128 p = {.hi = 0, .lo = num}, q = {.hi = 0, .lo = den};
	*out = bern_exp128(noise, p, q);
	return FB_OK;
}

fb_err
fb_noise_discrete_laplace(
		struct fb_noise *noise, uint64_t t, uint64_t s, int64_t *out)
{
	if (noise == NULL || out == NULL || t < 1 || t > FB_NOISE_LAPLACE_MAX ||
			s < 1 || s > FB_NOISE_LAPLACE_MAX) {
		return fb_errorf(FB_EINVAL,
				"noise: discrete Laplace scale %llu/%llu outside "
				"1 <= t, s <= 2^32",
				(unsigned long long)t, (unsigned long long)s);
	}
	*out = dlap(noise, t, s, UINT64_C(1) << 62);
	return FB_OK;
}

fb_err
fb_noise_discrete_gaussian(struct fb_noise *noise, uint64_t sigma2_num,
		uint64_t sigma2_den, int64_t *out)
{
	if (noise == NULL || out == NULL) {
		return fb_errorf(FB_EINVAL, "noise: NULL argument");
	}
	fb_err err = check_sigma2(sigma2_num, sigma2_den);
	if (err != FB_OK) {
		return err;
	}
	*out = dgauss(noise, dg_setup(noise, sigma2_num, sigma2_den));
	return FB_OK;
}

// A vector call notices a fork: the child drops the parent's buffered
// keystream and re-keys from randombytes_buf at the next refill.
static void
check_fork(struct fb_noise *s)
{
	if (s->secure && getpid() != s->pid) {
		s->pos = BLOCK_LEN;
		s->nbits = 0;
		s->bits = 0;
	}
}

fb_err
fb_noise_add_discrete_gaussian_i32(struct fb_noise *noise, int32_t *v,
		size_t len, uint64_t sigma2_num, uint64_t sigma2_den,
		size_t *n_saturated)
{
	if (noise == NULL || (v == NULL && len > 0)) {
		return fb_errorf(FB_EINVAL, "noise: NULL argument");
	}
	fb_err err = check_sigma2(sigma2_num, sigma2_den);
	if (err != FB_OK) {
		return err;
	}
	check_fork(noise);
	const struct dg_params *p = dg_setup(noise, sigma2_num, sigma2_den);
	size_t sat = 0;
	for (size_t i = 0; i < len; i++) {
		int64_t w = (int64_t)v[i] + dgauss(noise, p);
		if (w > INT32_MAX) {
			w = INT32_MAX;
			sat++;
		} else if (w < INT32_MIN) {
			w = INT32_MIN;
			sat++;
		}
		v[i] = (int32_t)w;
	}
	if (n_saturated != NULL) {
		*n_saturated = sat;
	}
	return FB_OK;
}

fb_err
fb_noise_add_discrete_gaussian_i64(struct fb_noise *noise, int64_t *v,
		size_t len, uint64_t sigma2_num, uint64_t sigma2_den)
{
	if (noise == NULL || (v == NULL && len > 0)) {
		return fb_errorf(FB_EINVAL, "noise: NULL argument");
	}
	fb_err err = check_sigma2(sigma2_num, sigma2_den);
	if (err != FB_OK) {
		return err;
	}
	const int64_t lim = INT64_C(1) << 62;
	for (size_t i = 0; i < len; i++) {
		if (v[i] > lim || v[i] < -lim) {
			return fb_errorf(FB_EINVAL,
					"noise: v[%zu] = %lld exceeds 2^62 grid "
					"steps",
					i, (long long)v[i]);
		}
	}
	check_fork(noise);
	const struct dg_params *p = dg_setup(noise, sigma2_num, sigma2_den);
	for (size_t i = 0; i < len; i++) {
		// |noise| < 253 sigma <= 2^36: no overflow below 2^62.
		v[i] += dgauss(noise, p);
	}
	return FB_OK;
}

fb_err
fb_noise_sigma2_rational(double sigma, uint64_t *num, uint64_t *den)
{
	if (num == NULL || den == NULL) {
		return fb_errorf(FB_EINVAL, "noise: NULL argument");
	}
	if (!(sigma >= FB_NOISE_SIGMA_INT_MIN &&
			    sigma <= FB_NOISE_SIGMA_INT_MAX)) {
		return fb_errorf(FB_EINVAL,
				"noise: sigma = %g grid steps outside "
				"[2^-16, 2^28]",
				sigma);
	}
	// sigma = m 2^-k exactly (m < 2^53, 24 <= k <= 68), so sigma^2 =
	// m^2 2^-2k and num = ceil(m^2 2^(e - 2k)) for den = 2^e, in integers.
	int ex;
	double f = frexp(sigma, &ex);
	uint64_t m = (uint64_t)ldexp(f, 53);
	int k = 53 - ex;
	struct u128 sq = mul64(m, m);
	int e = 32;
	uint64_t n;
	for (;;) {
		int sh = 2 * k - e; // >= 48 - 32 > 0
		struct u128 q;
		bool rest;
		if (sh >= 128) {
			q.hi = q.lo = 0;
			rest = sq.hi != 0 || sq.lo != 0;
		} else if (sh >= 64) {
			q.hi = 0;
			q.lo = sq.hi >> (sh - 64);
			rest = sq.lo != 0 ||
					(sh > 64 && (sq.hi << (128 - sh)) != 0);
		} else {
			q.hi = sq.hi >> sh;
			q.lo = (sq.lo >> sh) | (sq.hi << (64 - sh));
			rest = (sq.lo << (64 - sh)) != 0;
		}
		if (q.hi == 0 && q.lo + rest <= FB_NOISE_SIGMA2_NUM_MAX) {
			n = q.lo + rest;
			break;
		}
		e--; // sigma^2 <= 2^56, so e = 0 always fits
	}
	while (e > 0 && (n & 1) == 0) {
		n >>= 1;
		e--;
	}
	*num = n;
	*den = UINT64_C(1) << e;
	return FB_OK;
}

double
fb_noise_dgauss_tau(double sigma_int, uint64_t n_shares)
{
	if (!isfinite(sigma_int) || !(sigma_int > 0)) {
		return NAN;
	}
	if (n_shares <= 1) {
		return 0.0;
	}
	const double pi = 3.14159265358979323846;
	double c = 2 * pi * pi * sigma_int * sigma_int;
	uint64_t terms = n_shares - 1;
	uint64_t exact =
			terms < (UINT64_C(1) << 20) ? terms : UINT64_C(1) << 20;
	double sum = 0, last = 0;
	for (uint64_t k = 1; k <= exact; k++) {
		last = exp(-c * (double)k / (double)(k + 1));
		sum += last;
	}
	// The terms decrease towards exp(-c) (k / (k+1) grows): the last one
	// computed bounds every later one.
	sum += (double)(terms - exact) * last;
	return 10 * sum * (1 + 0x1p-40);
}
