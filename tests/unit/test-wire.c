// tests/unit/test-wire.c: the body codec of protocols/wire-v1.md §5. Known
// bytes computed by hand from the spec's tables, round trips that check the
// decoder returns views (no copies), and every class of malformed input
// refused with FB_EPROTO and a detail naming the problem.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/wire.h"
#include "harness.h"

#define REFUSED(expr, needle)                                                  \
	do {                                                                   \
		CHECK_ERR((expr), FB_EPROTO);                                  \
		CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), (needle));        \
	} while (0)

static const struct fb_wire_limits lim = {
		.max_tensors = 4,
		.max_rows = 100,
		.max_cols = 16,
		.require_finite = true,
};

// 4-byte aligned scratch buffers.
static _Alignas(16) uint8_t buf[8192];
static _Alignas(16) uint8_t buf2[8192];

static const float v_data[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 8.0f};
static const float w_data[4] = {0.125f, 1.0f, -1.0f, 2.0f};

static struct fb_wire_round_config
sample_config(void)
{
	struct fb_wire_round_config c = {
			.granularity = FB_WIRE_GRAN_USER,
			.sampling_rate = 0.01,
			.noise_multiplier = 1.1,
			.clip_norm = 0.5,
			.delta = 1e-6,
			.local_epochs = 2,
			.local_steps = 0,
			.hp.lr = 0.05,
			.hp.l2 = 1e-4,
			.hp.item_weight = 0.3,
			.hp.negatives = 4,
			.hp.dim = 2,
			.report_eval = true,
			.update_dtype = FB_WIRE_DTYPE_F32,
			.update_exp = 0,
	};
	return c;
}

static struct fb_wire_plan
sample_plan(void)
{
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 60000;
	p.config = sample_config();
	p.n_tensors = 2;
	p.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, 3, 2, v_data};
	p.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, 2, 2, w_data};
	return p;
}

static struct fb_wire_update
sample_update(void)
{
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = 1.0;
	u.noise_multiplier = 2.0;
	u.epsilon_spent = 0.5;
	u.train_loss = 0.75;
	u.recall_sum = 1.25;
	u.ndcg_sum = 0.5;
	u.eval_users = 3;
	u.n_tensors = 1;
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, 1, 2, v_data};
	return u;
}

TEST(header_bytes)
{
	struct fb_wire_header h = {
			.ver = 1, .type = FB_WIRE_PLAN, .round_id = 0x01020304};
	uint8_t out[8];
	fb_wire_header_encode(out, &h);
	const uint8_t want[8] = {
			0x46, 0x42, 0x01, 0x83, 0x01, 0x02, 0x03, 0x04};
	CHECK(memcmp(out, want, 8) == 0);
	struct fb_wire_header d;
	CHECK_OK(fb_wire_header_decode(&d, out, 8));
	CHECK(d.ver == 1 && d.type == 0x83 && d.round_id == 0x01020304);
	REFUSED(fb_wire_header_decode(&d, out, 7), "shorter");
	out[1] = 0x52;
	REFUSED(fb_wire_header_decode(&d, out, 8), "magic");
	CHECK(fb_wire_type_is_sealed(FB_WIRE_POLL));
	CHECK(!fb_wire_type_is_sealed(FB_WIRE_HELLO));
	CHECK(!fb_wire_type_is_sealed(FB_WIRE_ERROR_PLAIN));
	CHECK(fb_wire_type_known(FB_WIRE_ERROR));
	CHECK(!fb_wire_type_known(0x87));
	CHECK(strcmp(fb_wire_reason_name(FB_WIRE_REASON_LATE), "late") == 0);
	CHECK(strcmp(fb_wire_reason_name(999), "unknown") == 0);
}

TEST(poll_bytes_and_refusals)
{
	size_t len = 0;
	struct fb_wire_poll p = {.status = FB_WIRE_POLL_BUDGET_EXHAUSTED};
	CHECK_OK(fb_wire_poll_encode(buf, sizeof(buf), &p, &len));
	CHECK(len == 4);
	const uint8_t want[4] = {1, 0, 0, 0};
	CHECK(memcmp(buf, want, 4) == 0);
	struct fb_wire_poll d = {.status = 99};
	CHECK_OK(fb_wire_poll_decode(&d, buf, len));
	CHECK(d.status == 1);
	REFUSED(fb_wire_poll_decode(&d, buf, 3), "expected 4");
	REFUSED(fb_wire_poll_decode(&d, buf, 5), "expected 4");
	buf[2] = 1;
	REFUSED(fb_wire_poll_decode(&d, buf, 4), "reserved");
	buf[2] = 0;
	buf[0] = 3; // UPLOAD
	CHECK_OK(fb_wire_poll_decode(&d, buf, 4));
	CHECK(d.status == FB_WIRE_POLL_UPLOAD);
	buf[0] = 4; // UNMASK (secure aggregation)
	CHECK_OK(fb_wire_poll_decode(&d, buf, 4));
	CHECK(d.status == FB_WIRE_POLL_UNMASK);
	buf[0] = 5;
	d.status = 77;
	REFUSED(fb_wire_poll_decode(&d, buf, 4), "status 5");
	CHECK(d.status == 77); // untouched on failure
	p.status = 9;
	CHECK_ERR(fb_wire_poll_encode(buf, sizeof(buf), &p, &len), FB_EINVAL);
}

TEST(reason_texts)
{
	size_t len = 0;
	struct fb_wire_reason_text r = {.reason = 11};
	strcpy(r.text, "budget");
	CHECK(fb_wire_reason_text_len(r.text) == 10);
	CHECK_OK(fb_wire_refuse_encode(buf, sizeof(buf), &r, &len));
	const uint8_t want[10] = {
			0x00, 0x0b, 0x00, 0x06, 'b', 'u', 'd', 'g', 'e', 't'};
	CHECK(len == 10 && memcmp(buf, want, 10) == 0);
	struct fb_wire_reason_text d;
	CHECK_OK(fb_wire_refuse_decode(&d, buf, len));
	CHECK(d.reason == 11 && strcmp(d.text, "budget") == 0);
	for (size_t n = 0; n < len; n++) {
		CHECK_ERR(fb_wire_refuse_decode(&d, buf, n), FB_EPROTO);
	}
	REFUSED(fb_wire_refuse_decode(&d, buf, len + 1), "trailing");
	buf[1] = 0; // reason 0 (none)
	REFUSED(fb_wire_refuse_decode(&d, buf, len), "reason 0");
	buf[1] = 0x0b;
	buf[5] = '\n';
	REFUSED(fb_wire_error_decode(&d, buf, len), "printable");
	buf[2] = 0x01; // text_len 262 > 256
	buf[3] = 0x06;
	REFUSED(fb_wire_error_decode(&d, buf, len), "exceeds");

	// Encoders sanitise and truncate.
	strcpy(r.text, "a\nb\x7f");
	CHECK_OK(fb_wire_error_encode(buf, sizeof(buf), &r, &len));
	CHECK(len == 8 && memcmp(buf + 4, "a?b?", 4) == 0);
	memset(r.text, 'x', FB_WIRE_TEXT_MAX);
	r.text[FB_WIRE_TEXT_MAX] = '\0';
	CHECK_OK(fb_wire_error_encode(buf, sizeof(buf), &r, &len));
	CHECK(len == 4 + FB_WIRE_TEXT_MAX);
	CHECK_OK(fb_wire_error_decode(&d, buf, len));
	CHECK(strlen(d.text) == FB_WIRE_TEXT_MAX);
	CHECK_ERR(fb_wire_error_encode(buf, 10, &r, &len), FB_EINVAL);
	r.reason = 0;
	CHECK_ERR(fb_wire_error_encode(buf, sizeof(buf), &r, &len), FB_EINVAL);
	r.reason = 9;

	// The plaintext ERROR of §5.7.
	CHECK_OK(fb_wire_plain_error_encode(
			buf, sizeof(buf), 7, 2, "unknown key", &len));
	const uint8_t plain[] = {0x46, 0x42, 0x01, 0x0f, 0, 0, 0, 7, 0x00, 0x02,
			0x00, 0x0b, 'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'k',
			'e', 'y'};
	CHECK(len == sizeof(plain) && memcmp(buf, plain, len) == 0);
}

TEST(ack_bytes_and_refusals)
{
	size_t len = 0;
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_LATE,
			.reason = FB_WIRE_REASON_LATE};
	strcpy(a.text, "late");
	CHECK(fb_wire_ack_len(a.text) == 10);
	CHECK_OK(fb_wire_ack_encode(buf, sizeof(buf), &a, &len));
	const uint8_t want[10] = {
			0x01, 0x00, 0x00, 0x0d, 0x00, 0x04, 'l', 'a', 't', 'e'};
	CHECK(len == 10 && memcmp(buf, want, 10) == 0);
	struct fb_wire_ack d;
	CHECK_OK(fb_wire_ack_decode(&d, buf, len));
	CHECK(d.status == 1 && d.reason == 13 && strcmp(d.text, "late") == 0);
	for (size_t n = 0; n < len; n++) {
		CHECK_ERR(fb_wire_ack_decode(&d, buf, n), FB_EPROTO);
	}
	REFUSED(fb_wire_ack_decode(&d, buf, len + 1), "trailing");
	buf[1] = 1;
	REFUSED(fb_wire_ack_decode(&d, buf, len), "reserved");
	buf[1] = 0;
	buf[3] = 0; // late without a reason
	REFUSED(fb_wire_ack_decode(&d, buf, len), "reason 0");
	buf[0] = 0;
	buf[3] = 0x0d; // accepted with a reason
	REFUSED(fb_wire_ack_decode(&d, buf, len), "accepted goes");
	buf[0] = 3;
	REFUSED(fb_wire_ack_decode(&d, buf, len), "status 3");
	a.status = FB_WIRE_ACK_ACCEPTED;
	CHECK_ERR(fb_wire_ack_encode(buf, sizeof(buf), &a, &len), FB_EINVAL);
}

TEST(plan_round_trip_views)
{
	struct fb_wire_plan p = sample_plan();
	size_t want = 16 + 136 + 4 + (12 + 24) + (12 + 16);
	CHECK(fb_wire_plan_len(&p) == want);
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	CHECK(len == want);
	// Fixed part: kind 1, reserved, retry 0, deadline 60000, cfg_len 136.
	const uint8_t fixed[16] = {1, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0xea,
			0x60, 0x00, 0x00, 0x00, 0x88};
	CHECK(memcmp(buf, fixed, 16) == 0);
	// First TLV: granularity (0x0001), length 1, value 1.
	const uint8_t tlv[5] = {0x00, 0x01, 0x00, 0x01, 0x01};
	CHECK(memcmp(buf + 16, tlv, 5) == 0);
	// Second TLV: sampling_rate 0.01 = 0x3f847ae147ae147b big-endian.
	const uint8_t tlv2[12] = {0x00, 0x02, 0x00, 0x08, 0x3f, 0x84, 0x7a,
			0xe1, 0x47, 0xae, 0x14, 0x7b};
	CHECK(memcmp(buf + 21, tlv2, 12) == 0);
	// Tensor block: count 2, V descriptor, 1.5f little-endian.
	const uint8_t tb[16] = {0, 0, 0, 2, 0x00, 0x01, 0x01, 0x00, 0, 0, 0, 3,
			0, 0, 0, 2};
	CHECK(memcmp(buf + 152, tb, 16) == 0);
	const uint8_t f15[4] = {0x00, 0x00, 0xc0, 0x3f};
	CHECK(memcmp(buf + 168, f15, 4) == 0);

	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_TRAIN && d.deadline_ms == 60000);
	CHECK(d.retry_after_ms == 0);
	CHECK(d.config.granularity == FB_WIRE_GRAN_USER);
	CHECK(d.config.sampling_rate == 0.01 &&
			d.config.noise_multiplier == 1.1);
	CHECK(d.config.clip_norm == 0.5 && d.config.delta == 1e-6);
	CHECK(d.config.local_epochs == 2 && d.config.local_steps == 0);
	CHECK(d.config.hp.lr == 0.05 && d.config.hp.l2 == 1e-4);
	CHECK(d.config.hp.item_weight == 0.3 && d.config.hp.negatives == 4);
	CHECK(d.config.hp.dim == 2 && d.config.report_eval);
	CHECK(d.config.update_dtype == FB_WIRE_DTYPE_F32);
	CHECK(d.n_tensors == 2);
	CHECK(d.tensors[0].id == 1 && d.tensors[0].rows == 3 &&
			d.tensors[0].cols == 2);
	CHECK(d.tensors[1].id == 2 && d.tensors[1].rows == 2);
	// Views, not copies: the payloads are where the encoder put them.
	CHECK(d.tensors[0].data == buf + 168);
	CHECK(d.tensors[1].data == buf + 168 + 24 + 12);
	const float *v = d.tensors[0].data;
	CHECK(v[0] == 1.5f && v[5] == 8.0f);
	CHECK(((const float *)d.tensors[1].data)[3] == 2.0f);
	// Canonical: re-encoding the decoded plan gives the same bytes.
	size_t len2 = 0;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &d, &len2, NULL));
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
}

TEST(plan_wait_done)
{
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_WAIT;
	p.retry_after_ms = 1500;
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	const uint8_t want[20] = {2, 0, 0, 0, 0, 0, 0x05, 0xdc, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0, 0};
	CHECK(len == 20 && memcmp(buf, want, 20) == 0);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_WAIT && d.retry_after_ms == 1500);
	CHECK(d.n_tensors == 0);
	buf[19] = 1; // a WAIT with a tensor count of 1 is truncated anyway
	REFUSED(fb_wire_plan_decode(&d, buf, len, &lim), "truncated");
	p.deadline_ms = 5;
	CHECK_ERR(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL),
			FB_EINVAL);
	CHECK(fb_wire_plan_len(&p) == 0);

	struct fb_wire_plan done = sample_plan();
	done.kind = FB_WIRE_PLAN_DONE;
	done.deadline_ms = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &done, &len, NULL));
	CHECK(len == 16 + 4 + 36 + 28);
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_DONE && d.n_tensors == 2);

	// UPLOAD: a deadline, no retry, no config, no tensors.
	struct fb_wire_plan up = {
			.kind = FB_WIRE_PLAN_UPLOAD, .deadline_ms = 0x01020304};
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &up, &len, NULL));
	const uint8_t want_up[20] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0,
			0, 0, 0, 0, 0, 0};
	CHECK(len == 20 && memcmp(buf, want_up, 20) == 0);
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_UPLOAD && d.deadline_ms == 0x01020304);
	buf[11] = 0;
	buf[10] = 0;
	buf[9] = 0;
	buf[8] = 0;
	REFUSED(fb_wire_plan_decode(&d, buf, len, &lim), "deadline_ms is 0");
	buf[8] = 1;
	buf[7] = 1;
	REFUSED(fb_wire_plan_decode(&d, buf, len, &lim), "retry_after_ms");
	up.retry_after_ms = 5;
	CHECK_ERR(fb_wire_plan_encode(buf, sizeof(buf), &up, &len, NULL),
			FB_EINVAL);
}

TEST(zero_copy_slots)
{
	struct fb_wire_update u = sample_update();
	u.tensors[0].data = NULL;
	u.tensors[0].rows = 4;
	u.tensors[0].cols = 3;
	void *slots[1] = {NULL};
	size_t len = 0;
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, slots));
	CHECK(slots[0] == buf + 52 + 16);
	float *dst = slots[0];
	for (int i = 0; i < 12; i++) {
		CHECK(dst[i] == 0.0f); // zero-filled for the caller
		dst[i] = (float)i * 0.5f;
	}
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.tensors[0].data == slots[0]);
	CHECK(((const float *)d.tensors[0].data)[11] == 5.5f);
}

TEST(update_round_trip)
{
	struct fb_wire_update u = sample_update();
	size_t len = 0;
	CHECK(fb_wire_update_len(&u) == 52 + 4 + 12 + 8);
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK(len == 76);
	const uint8_t head[16] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0,
			0, 0, 0, 0, 0}; // 1.0 and 2.0, binary64 big-endian
	CHECK(memcmp(buf, head, 16) == 0);
	const uint8_t users[4] = {0, 0, 0, 3};
	CHECK(memcmp(buf + 48, users, 4) == 0);
	const uint8_t payload[8] = {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00,
			0xc0}; // 1.5f, -2.0f little-endian
	CHECK(memcmp(buf + 68, payload, 8) == 0);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.clip_norm == 1.0 && d.noise_multiplier == 2.0);
	CHECK(d.epsilon_spent == 0.5 && d.train_loss == 0.75);
	CHECK(d.recall_sum == 1.25 && d.ndcg_sum == 0.5 && d.eval_users == 3);
	CHECK(d.n_tensors == 1 && d.tensors[0].data == buf + 68);

	// Not private: epsilon +inf is allowed; a NaN epsilon is not.
	u.epsilon_spent = INFINITY;
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(isinf(d.epsilon_spent));
	u.epsilon_spent = NAN;
	CHECK_ERR(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL),
			FB_EINVAL);

	// Fixed point int32 tensors (discrete Gaussian path).
	const int32_t ints[4] = {-3, 1 << 20, 0, 7};
	u = sample_update();
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_I32, -16, 2, 2, ints};
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK(buf[52 + 4 + 2] == 2 && buf[52 + 4 + 3] == 0xf0);
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.tensors[0].dtype == FB_WIRE_DTYPE_I32 &&
			d.tensors[0].exp == -16);
	CHECK(((const int32_t *)d.tensors[0].data)[0] == -3);
}

// Replaces the config block of a valid TRAIN body with cfg (cfg_len bytes).
static size_t
splice_config(uint8_t *out, const uint8_t *valid, size_t valid_len,
		const uint8_t *cfg, size_t cfg_len)
{
	memcpy(out, valid, 12);
	fb_wire_store_u32(out + 12, (uint32_t)cfg_len);
	memcpy(out + 16, cfg, cfg_len);
	size_t off = 16 + cfg_len;
	while (off % 4 != 0) {
		out[off++] = 0;
	}
	memcpy(out + off, valid + 152, valid_len - 152);
	return off + valid_len - 152;
}

// §5.3.1 type 0x001a min_users: a u64 sent only when set, which is not one
// of the training switches, and 0 refused; §8 code 23 over-bound.
TEST(plan_min_users)
{
	CHECK(strcmp(fb_wire_reason_name(FB_WIRE_REASON_OVER_BOUND),
			      "over-bound") == 0);
	CHECK(FB_WIRE_REASON_OVER_BOUND == 23);
	struct fb_wire_plan p = sample_plan();
	size_t base = fb_wire_plan_len(&p);
	p.config.min_users = 12000;
	CHECK(fb_wire_plan_len(&p) == base + 12);
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	// The last TLV of the block (ascending types): 0x001a, 8 bytes,
	// 12000 big-endian.
	const uint8_t tlv[12] = {
			0x00, 0x1a, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0x2e, 0xe0};
	CHECK(fb_wire_load_u32(buf + 12) == 136 + 12);
	CHECK(memcmp(buf + 16 + 136, tlv, 12) == 0);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.config.min_users == 12000);
	CHECK(!d.config.has_train_opts); // not a training switch
	size_t len2 = 0;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &d, &len2, NULL));
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
	// Absent: 0, and the old bytes (plan.hex has none).
	p.config.min_users = 0;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &p, &len2, NULL));
	CHECK(len2 == base);
	CHECK_OK(fb_wire_plan_decode(&d, buf2, len2, &lim));
	CHECK(d.config.min_users == 0);
	// Present with 0, or of another length: refused.
	static _Alignas(16) uint8_t m[8192];
	memcpy(m, buf, len);
	memset(m + 16 + 136 + 4, 0, 8);
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "min_users");
	uint8_t cfg[256];
	memcpy(cfg, buf + 16, 136);
	const uint8_t short_tlv[8] = {0x00, 0x1a, 0x00, 0x04, 0, 0, 0x2e, 0xe0};
	memcpy(cfg + 136, short_tlv, 8);
	size_t n = splice_config(m, buf2, len2, cfg, 144);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "min_users");
}

// §5.3.1 type 0x001c federation_id: 16 opaque bytes sent only when set
// (not all zero), after min_users; all zero or another length refused, and
// an old decoder's rule (unknown non-critical type: skipped) keeps plans
// without it meaning "no id".
TEST(plan_federation_id)
{
	struct fb_wire_plan p = sample_plan();
	size_t base = fb_wire_plan_len(&p);
	for (int k = 0; k < FB_WIRE_FEDERATION_ID_LEN; k++) {
		p.config.federation_id[k] = (uint8_t)(0xf0 + k);
	}
	p.config.min_users = 12000;
	CHECK(fb_wire_plan_len(&p) == base + 12 + 20);
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	// The last TLV of the block (ascending types): 0x001c, 16 bytes.
	const uint8_t *tlv = buf + 16 + 136 + 12;
	CHECK(fb_wire_load_u32(buf + 12) == 136 + 12 + 20);
	CHECK(fb_wire_load_u16(tlv) == 0x001c &&
			fb_wire_load_u16(tlv + 2) == 16);
	CHECK(memcmp(tlv + 4, p.config.federation_id, 16) == 0);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(memcmp(d.config.federation_id, p.config.federation_id, 16) == 0);
	CHECK(d.config.min_users == 12000 && !d.config.has_train_opts);
	size_t len2 = 0;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &d, &len2, NULL));
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
	// Absent: all zero.
	p.config.min_users = 0;
	memset(p.config.federation_id, 0, 16);
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &p, &len2, NULL));
	CHECK(len2 == base);
	CHECK_OK(fb_wire_plan_decode(&d, buf2, len2, &lim));
	CHECK(!fb_wire_federation_id_set(d.config.federation_id));
	// Present and all zero, or of another length: refused.
	static _Alignas(16) uint8_t m[8192];
	memcpy(m, buf, len);
	memset(m + 16 + 136 + 12 + 4, 0, 16);
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "federation_id");
	uint8_t cfg[256];
	memcpy(cfg, buf + 16, 136);
	const uint8_t short_tlv[12] = {
			0x00, 0x1c, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
	memcpy(cfg + 136, short_tlv, 12);
	size_t n = splice_config(m, buf2, len2, cfg, 148);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "federation_id");
}

TEST(plan_malformed)
{
	struct fb_wire_plan p = sample_plan();
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	static _Alignas(16) uint8_t m[8192];
	struct fb_wire_plan d;
	d.kind = 99;

	// Every truncation and a trailing byte.
	for (size_t n = 0; n < len; n++) {
		memcpy(m, buf, n);
		CHECK_ERR(fb_wire_plan_decode(&d, m, n, &lim), FB_EPROTO);
	}
	CHECK(d.kind == 99); // out untouched by every refusal
	memcpy(m, buf, len);
	m[len] = 0;
	REFUSED(fb_wire_plan_decode(&d, m, len + 1, &lim), "trailing");

#define PATCHED(off, val, needle)                                              \
	do {                                                                   \
		memcpy(m, buf, len);                                           \
		m[(off)] = (uint8_t)(val);                                     \
		REFUSED(fb_wire_plan_decode(&d, m, len, &lim), (needle));      \
	} while (0)
	PATCHED(0, 4, "kind");
	PATCHED(2, 1, "reserved");
	PATCHED(7, 1, "retry_after_ms");
	PATCHED(20, 3, "granularity");      // granularity 3
	PATCHED(25, 0x40, "sampling_rate"); // q = 528
	PATCHED(3 + 16, 2, "length");       // granularity TLV length 2
	// One value of each config field out of its domain (§5.3.1 offsets).
	PATCHED(37, 0xff, "noise_multiplier"); // negative
	PATCHED(49, 0xbf, "clip_norm");        // -0.5
	PATCHED(61, 0x40, "delta");            // > 1
	PATCHED(76, 0, "both 0");              // epochs 0, steps 0
	PATCHED(89, 0xbf, "lr: -");            // learning_rate < 0
	PATCHED(101, 0xbf, "l2: -");           // negative
	PATCHED(113, 0xbf, "item_weight: -");  // item_loss_weight
	PATCHED(128, 0, "negatives: 0 outside");
	PATCHED(136, 0, "dim: 0 outside");
	PATCHED(146, 3, "update_dtype");
	PATCHED(151, 1, "update_exp");
	PATCHED(15, 0x89, "truncated"); // 137: runs into the tensors
	PATCHED(155, 5, "at most 4");   // tensor count 5 > lim
	PATCHED(157, 0, "id 0");
	PATCHED(157, 2, "repeats id");
	PATCHED(158, 6, "dtype");
	PATCHED(159, 1, "exp");
	PATCHED(163, 0, "dimension is 0");
	PATCHED(167, 0, "dimension is 0");
	PATCHED(163, 101, "limit 100 x 16");
	PATCHED(167, 17, "limit 100 x 16");
	PATCHED(160, 0xff, "limit");
	// Element 1 of V becomes a NaN (0x7fc00000).
	memcpy(m, buf, len);
	const uint8_t nan_le[4] = {0x00, 0x00, 0xc0, 0x7f};
	memcpy(m + 172, nan_le, 4);
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "element 1");
	struct fb_wire_limits lax = lim;
	lax.require_finite = false;
	CHECK_OK(fb_wire_plan_decode(&d, m, len, &lax));
	CHECK(isnan(((const float *)d.tensors[0].data)[1]));
	// Huge dimensions within generous limits must not overflow.
	struct fb_wire_limits huge = {16, UINT32_MAX, UINT32_MAX, true};
	memcpy(m, buf, len);
	memset(m + 160, 0xff, 8);
	REFUSED(fb_wire_plan_decode(&d, m, len, &huge), "runs past");
	// A count above the protocol maximum even with a lax caller limit.
	memcpy(m, buf, len);
	m[155] = 17;
	REFUSED(fb_wire_plan_decode(&d, m, len, &huge), "at most 16");
#undef PATCHED

	// TLV surgery on the canonical config block (buf[16..152)).
	uint8_t cfg[256];
	size_t n;
	memcpy(cfg, buf + 16, 136);
	memcpy(cfg + 136, buf + 16, 5); // granularity again
	n = splice_config(m, buf, len, cfg, 141);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "repeated");
	n = splice_config(m, buf, len, buf + 16 + 5, 131); // no granularity
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "granularity");
	const uint8_t opt[6] = {0x01, 0x00, 0x00, 0x02, 0xaa, 0xbb};
	memcpy(cfg + 136, opt, 6); // unknown optional field: skipped
	n = splice_config(m, buf, len, cfg, 142);
	CHECK_OK(fb_wire_plan_decode(&d, m, n, &lim));
	CHECK(d.config.hp.negatives == 4);
	m[16 + 142] = 1; // non-zero padding after the block
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "padding");
	const uint8_t crit[4] = {0x80, 0x01, 0x00, 0x00};
	memcpy(cfg + 136, crit, 4); // unknown critical field: refused
	n = splice_config(m, buf, len, cfg, 140);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "critical");
	memcpy(cfg + 136, opt, 3); // an entry header cut short
	n = splice_config(m, buf, len, cfg, 139);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "truncated");
	memcpy(cfg + 136, opt, 5); // value runs past the block
	n = splice_config(m, buf, len, cfg, 141);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "runs past");
	memcpy(cfg, buf + 16, 136); // report_eval = 2
	cfg[136 - 15 + 4] = 2;
	n = splice_config(m, buf, len, cfg, 136);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "report_eval");

	// A TRAIN plan must carry a config; others must not.
	memcpy(m, buf, len);
	memset(m + 12, 0, 4);
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "without a config");
	memcpy(m, buf, len);
	m[0] = FB_WIRE_PLAN_WAIT;
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "config block");

	// Caller mistakes are FB_EINVAL, not FB_EPROTO.
	memcpy(m + 1, buf, len);
	CHECK_ERR(fb_wire_plan_decode(&d, m + 1, len, &lim), FB_EINVAL);
	struct fb_wire_limits zero = {0};
	CHECK_ERR(fb_wire_plan_decode(&d, buf, len, &zero), FB_EINVAL);
	CHECK_ERR(fb_wire_plan_encode(buf2, len - 1, &p, &n, NULL), FB_EINVAL);
	p.config.clip_norm = 0;
	CHECK_ERR(fb_wire_plan_encode(buf2, sizeof(buf2), &p, &n, NULL),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "clip_norm");
	p = sample_plan();
	p.tensors[1].id = 1;
	CHECK(fb_wire_plan_len(&p) == 0);
	CHECK_ERR(fb_wire_plan_encode(buf2, sizeof(buf2), &p, &n, NULL),
			FB_EINVAL);
}

TEST(update_malformed)
{
	struct fb_wire_update u = sample_update();
	size_t len = 0;
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	static _Alignas(16) uint8_t m[256];
	struct fb_wire_update d;
	for (size_t n = 0; n < len; n++) {
		memcpy(m, buf, n);
		CHECK_ERR(fb_wire_update_decode(&d, m, n, &lim), FB_EPROTO);
	}
	memcpy(m, buf, len);
	m[len] = 0;
	REFUSED(fb_wire_update_decode(&d, m, len + 1, &lim), "trailing");
#define PATCHED(off, val, needle)                                              \
	do {                                                                   \
		memcpy(m, buf, len);                                           \
		m[(off)] = (uint8_t)(val);                                     \
		REFUSED(fb_wire_update_decode(&d, m, len, &lim), (needle));    \
	} while (0)
	PATCHED(0, 0xbf, "clip_norm");        // -1.0
	PATCHED(8, 0xff, "noise_multiplier"); // negative
	PATCHED(16, 0xbf, "epsilon_spent");   // -0.5
	PATCHED(51, 1, "recall_sum");         // 1.25 > 1 user
	PATCHED(32, 0xbf, "recall_sum");      // negative
	PATCHED(40, 0x7f, "ndcg_sum");        // huge
	PATCHED(55, 0, "trailing");
	PATCHED(63, 0, "dimension is 0");
#undef PATCHED
}

TEST(update_train_loss_nonfinite)
{
	struct fb_wire_update u = sample_update();
	size_t len = 0;
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	struct fb_wire_update d;
	memset(buf + 24, 0, 8);
	buf[24] = 0x7f; // 0x7ff0000000000000 = +inf
	buf[25] = 0xf0;
	REFUSED(fb_wire_update_decode(&d, buf, len, &lim), "train_loss");
}

// Secure aggregation (secagg-v1 §6): types 0x90-0x97, reason 25, POLL
// status 4 (poll_bytes_and_refusals), and the u64 tensor of a masked input.
TEST(secagg_types_and_u64_tensor)
{
	for (uint8_t t = 0x90; t <= 0x97; t++) {
		CHECK(fb_wire_type_known(t) && fb_wire_type_is_sealed(t));
	}
	CHECK(!fb_wire_type_known(0x98));
	CHECK(strcmp(fb_wire_type_name(0x96), "SA_CONSISTENCY") == 0);
	CHECK(strcmp(fb_wire_type_name(0x97), "SA_SIGNATURES") == 0);
	CHECK(strcmp(fb_wire_type_name(FB_WIRE_SA_ADVERT), "SA_ADVERT") == 0);
	CHECK(strcmp(fb_wire_type_name(0x95), "SA_UNMASK") == 0);
	CHECK(strcmp(fb_wire_type_name(0x94), "SA_UNMASK_REQ") == 0);
	CHECK(FB_WIRE_REASON_SECAGG_REFUSED == 25);
	CHECK(strcmp(fb_wire_reason_name(25), "secagg-refused") == 0);
	CHECK(strcmp(fb_wire_reason_name(26), "unknown") == 0);

	const uint64_t ring[3] = {0x0102030405060708ull, UINT64_MAX,
			0x8000000000000000ull};
	struct fb_wire_update u = sample_update();
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			FB_WIRE_DTYPE_U64, -20, 3, 1, ring};
	CHECK(fb_wire_tensor_bytes(&u.tensors[0]) == 24);
	size_t len = 0;
	CHECK(fb_wire_update_len(&u) == 52 + 4 + 12 + 24);
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK(len == 92);
	const uint8_t desc[12] = {0, 4, 3, 0xec, 0, 0, 0, 3, 0, 0, 0, 1};
	CHECK(memcmp(buf + 56, desc, 12) == 0);
	const uint8_t e0[8] = {8, 7, 6, 5, 4, 3, 2, 1}; // little-endian
	CHECK(memcmp(buf + 68, e0, 8) == 0);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.n_tensors == 1 && d.tensors[0].data == buf + 68);
	CHECK(d.tensors[0].dtype == FB_WIRE_DTYPE_U64 &&
			d.tensors[0].exp == -20);
	for (size_t i = 0; i < 3; i++) {
		CHECK(fb_wire_tensor_u64(&d.tensors[0], i) == ring[i]);
	}
	// Its payload is counted in 8-byte elements.
	REFUSED(fb_wire_update_decode(&d, buf, len - 4, &lim), "runs past");
	REFUSED(fb_wire_update_decode(&d, buf, len - 8, &lim), "runs past");
	memset(buf + len, 0, 8);
	REFUSED(fb_wire_update_decode(&d, buf, len + 8, &lim), "trailing");
	// As 4-byte elements the same 3 x 1 would leave 12 trailing bytes.
	buf[58] = FB_WIRE_DTYPE_I32;
	REFUSED(fb_wire_update_decode(&d, buf, len, &lim), "trailing");
	buf[58] = 6;
	REFUSED(fb_wire_update_decode(&d, buf, len, &lim), "dtype");
}

// secagg-v1 §6: u48 ring elements are 6 bytes little-endian, the payload
// padded with zeros to a multiple of 4; u32 ones 4 bytes.
TEST(u48_and_u32_tensors)
{
	const uint8_t six[18] = {1, 2, 3, 4, 5, 6, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xff, 0, 0, 0, 0, 0, 0x80};
	struct fb_wire_update u = sample_update();
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			FB_WIRE_DTYPE_U48, -20, 3, 1, six};
	CHECK(fb_wire_tensor_bytes(&u.tensors[0]) == 18);
	size_t len = 0;
	CHECK(fb_wire_update_len(&u) == 52 + 4 + 12 + 20);
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK(len == 88 && buf[58] == 4);
	CHECK(memcmp(buf + 68, six, 18) == 0 && buf[86] == 0 && buf[87] == 0);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.tensors[0].dtype == FB_WIRE_DTYPE_U48 &&
			d.tensors[0].rows == 3 &&
			d.tensors[0].data == buf + 68);
	REFUSED(fb_wire_update_decode(&d, buf, len - 2, &lim), "padding");
	buf[87] = 1;
	REFUSED(fb_wire_update_decode(&d, buf, len, &lim), "padding");
	u.tensors[0].dtype = FB_WIRE_DTYPE_U32;
	CHECK(fb_wire_update_len(&u) == 52 + 4 + 12 + 12);
	CHECK_OK(fb_wire_update_encode(buf, sizeof(buf), &u, &len, NULL));
	CHECK_OK(fb_wire_update_decode(&d, buf, len, &lim));
	CHECK(d.tensors[0].dtype == FB_WIRE_DTYPE_U32 && buf[58] == 5);
}

static uint8_t sa_keys[4 * 32];

static struct fb_wire_plan
secagg_plan(void)
{
	struct fb_wire_plan p = sample_plan();
	for (size_t i = 0; i < sizeof(sa_keys); i++) {
		sa_keys[i] = (uint8_t)(i * 7 + 1);
	}
	p.config.has_secagg = true;
	for (int i = 0; i < 16; i++) {
		p.config.sa.consortium[i] = (uint8_t)(0xa0 + i);
	}
	p.config.sa.n = 3;
	p.config.sa.t = 2;
	p.config.sa.n_min = 3;
	p.config.sa.noise_shares = 2;
	p.config.sa.index = 2;
	p.config.sa.keys = sa_keys;
	return p;
}

// §5.3.1 type 0x801e secagg_ring: one byte after 0x801d, only for 32 and
// 48; absent (and 64) the ring is Z_(2^64) and the PLAN has its old bytes.
TEST(plan_secagg_ring)
{
	struct fb_wire_plan p = secagg_plan();
	size_t base = fb_wire_plan_len(&p), len = 0, len2 = 0;
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &p, &len2, NULL));
	CHECK_OK(fb_wire_plan_decode(&d, buf2, len2, &lim));
	CHECK(d.config.sa.ring_bits == 64);
	p.config.sa.ring_bits = 64;
	CHECK(fb_wire_plan_len(&p) == base); // 64: not encoded
	const uint32_t rings[2] = {48, 32};
	for (int k = 0; k < 2; k++) {
		p.config.sa.ring_bits = rings[k];
		CHECK(fb_wire_plan_len(&p) == base + 8); // 5, padded to 4
		CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
		size_t tlv = 16 + 136 + 4 + 132; // after 0x801d
		const uint8_t want[5] = {0x80, 0x1e, 0, 1, (uint8_t)rings[k]};
		CHECK(memcmp(buf + tlv, want, 5) == 0);
		CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
		CHECK(d.config.sa.ring_bits == rings[k]);
		uint8_t m[1024];
		memcpy(m, buf, len);
		m[tlv + 4] = 40;
		REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "secagg_ring");
		m[tlv + 4] = 48;
		m[tlv + 3] = 0; // length 0: the value byte is then a stray
		REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "secagg_ring");
	}
	p.config.sa.ring_bits = 40;
	CHECK_ERR(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "secagg_ring");
}

// §5.3.1 type 0x801d secagg: critical, after the other fields, 36 + 32 n
// bytes; every value outside its domain refused by encoder and decoder.
TEST(plan_secagg)
{
	struct fb_wire_plan p = secagg_plan();
	struct fb_wire_plan plain = sample_plan();
	size_t base = fb_wire_plan_len(&plain);
	CHECK(fb_wire_plan_len(&p) == base + 4 + 36 + 96);
	size_t len = 0;
	CHECK_OK(fb_wire_plan_encode(buf, sizeof(buf), &p, &len, NULL));
	size_t tlv = 16 + 136; // after the canonical config block
	const uint8_t hdr[8] = {0x80, 0x1d, 0, 132, 0xa0, 0xa1, 0xa2, 0xa3};
	CHECK(memcmp(buf + tlv, hdr, 8) == 0);
	const uint8_t nums[20] = {0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
			2, 0, 0, 0, 2};
	CHECK(memcmp(buf + tlv + 20, nums, 20) == 0);
	CHECK(memcmp(buf + tlv + 40, sa_keys, 96) == 0);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, buf, len, &lim));
	CHECK(d.config.has_secagg);
	CHECK(memcmp(d.config.sa.consortium, p.config.sa.consortium, 16) == 0);
	CHECK(d.config.sa.n == 3 && d.config.sa.t == 2);
	CHECK(d.config.sa.n_min == 3 && d.config.sa.noise_shares == 2);
	CHECK(d.config.sa.index == 2);
	CHECK(d.config.sa.keys == buf + tlv + 40); // a view
	size_t len2 = 0;
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &d, &len2, NULL));
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
	// Absent: not encoded, not set.
	CHECK_OK(fb_wire_plan_encode(buf2, sizeof(buf2), &plain, &len2, NULL));
	CHECK_OK(fb_wire_plan_decode(&d, buf2, len2, &lim));
	CHECK(!d.config.has_secagg);

	// Encoder refusals (FB_EINVAL), each one value out of its domain.
	struct {
		size_t off; // byte offset in struct fb_wire_secagg's u32s
		uint32_t value;
		const char *needle;
	} bad[] = {
			{0, 2, "n is not"},
			{0, 2001, "n is not"},
			{1, 1, "t is not"},
			{1, 4, "t is not"},
			{2, 1, "n_min"},
			{2, 4, "n_min"},
			{3, 0, "noise_shares"},
			{3, 4, "noise_shares"},
			{4, 0, "index"},
			{4, 4, "index"},
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct fb_wire_plan q = secagg_plan();
		uint32_t *f[5] = {&q.config.sa.n, &q.config.sa.t,
				&q.config.sa.n_min, &q.config.sa.noise_shares,
				&q.config.sa.index};
		*f[bad[k].off] = bad[k].value;
		CHECK(fb_wire_plan_len(&q) == 0);
		CHECK_ERR(fb_wire_plan_encode(
					  buf2, sizeof(buf2), &q, &len2, NULL),
				FB_EINVAL);
		CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), bad[k].needle);
		// The same value on the wire (n: the length no longer
		// matches, so the length is named).
		uint8_t m[1024];
		memcpy(m, buf, len);
		fb_wire_store_u32(m + tlv + 20 + 4 * bad[k].off, bad[k].value);
		REFUSED(fb_wire_plan_decode(&d, m, len, &lim),
				bad[k].off == 0 ? "36 + 32 x n"
						: bad[k].needle);
	}
	struct fb_wire_plan q = secagg_plan();
	q.config.granularity = FB_WIRE_GRAN_CLIENT;
	CHECK_ERR(fb_wire_plan_encode(buf2, sizeof(buf2), &q, &len2, NULL),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "granularity 1");
	q = secagg_plan();
	memcpy(sa_keys + 64, sa_keys, 32);
	CHECK_ERR(fb_wire_plan_encode(buf2, sizeof(buf2), &q, &len2, NULL),
			FB_EINVAL);
	CHECK_STR_CONTAINS(fb_last_error(FB_EINVAL), "index 3 repeats");
	q.config.sa.keys = NULL;
	CHECK_ERR(fb_wire_plan_encode(buf2, sizeof(buf2), &q, &len2, NULL),
			FB_EINVAL);

	// Decoder refusals on the wire.
	uint8_t m[1024];
	memcpy(m, buf, len);
	m[16 + 4] = FB_WIRE_GRAN_CLIENT; // granularity TLV value
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "granularity 1");
	memcpy(m, buf, len);
	memcpy(m + tlv + 40 + 64, m + tlv + 40 + 32, 32);
	REFUSED(fb_wire_plan_decode(&d, m, len, &lim), "index 3 repeats");
	uint8_t cfg[512];
	memcpy(cfg, buf + 16, 136 + 136);
	memcpy(cfg + 272, buf + tlv, 136); // the TLV twice
	size_t n = splice_config(m, buf, len, cfg, 408);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "repeated");
	memcpy(cfg, buf + 16, 136 + 4 + 20); // value cut to 20 bytes
	fb_wire_store_u16(cfg + 136 + 2, 20);
	n = splice_config(m, buf, len, cfg, 160);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "shorter than 36");
	memcpy(cfg, buf + 16, 136 + 4 + 131); // one key byte short
	fb_wire_store_u16(cfg + 136 + 2, 131);
	n = splice_config(m, buf, len, cfg, 271);
	REFUSED(fb_wire_plan_decode(&d, m, n, &lim), "36 + 32 x n");
}

int
main(void)
{
	RUN(header_bytes);
	RUN(poll_bytes_and_refusals);
	RUN(reason_texts);
	RUN(ack_bytes_and_refusals);
	RUN(plan_round_trip_views);
	RUN(plan_wait_done);
	RUN(zero_copy_slots);
	RUN(update_round_trip);
	RUN(plan_min_users);
	RUN(plan_federation_id);
	RUN(plan_malformed);
	RUN(update_malformed);
	RUN(update_train_loss_nonfinite);
	RUN(secagg_types_and_u64_tensor);
	RUN(plan_secagg);
	RUN(plan_secagg_ring);
	RUN(u48_and_u32_tensors);
	return harness_done();
}
