// common/net/wire.c: encoders and decoders of the bodies of protocols/wire-v1.md
// §5. Invariants: a decoder reads a byte only after checking that it lies
// inside the buffer, refuses anything the spec does not allow (so that
// decode -> encode is the identity on accepted bodies, except for unknown
// optional config fields, which are skipped), and never copies a tensor:
// views point into the caller's buffer. Tensor payloads are little-endian,
// which is why this file refuses to build on a big-endian host.
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fedbundle/net/wire.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor views assume a little-endian host (protocols/wire-v1.md §2.1)"
#endif

_Static_assert(sizeof(float) == 4, "float must be IEEE-754 binary32");
_Static_assert(sizeof(double) == 8, "double must be IEEE-754 binary64");

bool
fb_wire_type_known(uint8_t type)
{
	switch (type) {
	case FB_WIRE_HELLO:
	case FB_WIRE_WELCOME:
	case FB_WIRE_AUTH:
	case FB_WIRE_ERROR_PLAIN:
	case FB_WIRE_AUTH_OK:
	case FB_WIRE_POLL:
	case FB_WIRE_PLAN:
	case FB_WIRE_UPDATE:
	case FB_WIRE_REFUSE:
	case FB_WIRE_ACK:
	case FB_WIRE_ERROR:
	case FB_WIRE_SA_ADVERT:
	case FB_WIRE_SA_PEERS:
	case FB_WIRE_SA_SHARES:
	case FB_WIRE_SA_INBOX:
	case FB_WIRE_SA_UNMASK_REQ:
	case FB_WIRE_SA_UNMASK:
	case FB_WIRE_SA_CONSISTENCY:
	case FB_WIRE_SA_SIGNATURES:
		return true;
	}
	return false;
}

const char *
fb_wire_type_name(uint8_t type)
{
	switch (type) {
	case FB_WIRE_HELLO:
		return "HELLO";
	case FB_WIRE_WELCOME:
		return "WELCOME";
	case FB_WIRE_AUTH:
		return "AUTH";
	case FB_WIRE_ERROR_PLAIN:
		return "ERROR (plaintext)";
	case FB_WIRE_AUTH_OK:
		return "AUTH_OK";
	case FB_WIRE_POLL:
		return "POLL";
	case FB_WIRE_PLAN:
		return "PLAN";
	case FB_WIRE_UPDATE:
		return "UPDATE";
	case FB_WIRE_REFUSE:
		return "REFUSE";
	case FB_WIRE_ACK:
		return "ACK";
	case FB_WIRE_ERROR:
		return "ERROR";
	case FB_WIRE_SA_ADVERT:
		return "SA_ADVERT";
	case FB_WIRE_SA_PEERS:
		return "SA_PEERS";
	case FB_WIRE_SA_SHARES:
		return "SA_SHARES";
	case FB_WIRE_SA_INBOX:
		return "SA_INBOX";
	case FB_WIRE_SA_UNMASK_REQ:
		return "SA_UNMASK_REQ";
	case FB_WIRE_SA_UNMASK:
		return "SA_UNMASK";
	case FB_WIRE_SA_CONSISTENCY:
		return "SA_CONSISTENCY";
	case FB_WIRE_SA_SIGNATURES:
		return "SA_SIGNATURES";
	}
	return "unknown";
}

const char *
fb_wire_reason_name(uint16_t reason)
{
	static const char *const names[] = {
			[FB_WIRE_REASON_NONE] = "none",
			[FB_WIRE_REASON_UNSUPPORTED_VERSION] =
					"unsupported-version",
			[FB_WIRE_REASON_UNKNOWN_KEY] = "unknown-key",
			[FB_WIRE_REASON_BAD_SIGNATURE] = "bad-signature",
			[FB_WIRE_REASON_UNKNOWN_SESSION] = "unknown-session",
			[FB_WIRE_REASON_AUTH_FAILED] = "auth-failed",
			[FB_WIRE_REASON_REPLAY] = "replay",
			[FB_WIRE_REASON_WRONG_ROUND] = "wrong-round",
			[FB_WIRE_REASON_TOO_LARGE] = "too-large",
			[FB_WIRE_REASON_MALFORMED] = "malformed",
			[FB_WIRE_REASON_UNEXPECTED] = "unexpected",
			[FB_WIRE_REASON_BUDGET_EXHAUSTED] = "budget-exhausted",
			[FB_WIRE_REASON_POLICY_REFUSED] = "policy-refused",
			[FB_WIRE_REASON_LATE] = "late",
			[FB_WIRE_REASON_SERVER_BUSY] = "server-busy",
			[FB_WIRE_REASON_SHAPE_MISMATCH] = "shape-mismatch",
			[FB_WIRE_REASON_PRIVACY_MISMATCH] = "privacy-mismatch",
			[FB_WIRE_REASON_NOT_SELECTED] = "not-selected",
			[FB_WIRE_REASON_DUPLICATE] = "duplicate",
			[FB_WIRE_REASON_UNSUPPORTED_FIELD] =
					"unsupported-field",
			[FB_WIRE_REASON_SHUTTING_DOWN] = "shutting-down",
			[FB_WIRE_REASON_INTERNAL] = "internal",
			[FB_WIRE_REASON_WRONG_CONNECTION] = "wrong-connection",
			[FB_WIRE_REASON_OVER_BOUND] = "over-bound",
			[FB_WIRE_REASON_CATALOG_MISMATCH] = "catalog-mismatch",
			[FB_WIRE_REASON_SECAGG_REFUSED] = "secagg-refused",
	};
	if (reason < sizeof(names) / sizeof(names[0])) {
		return names[reason];
	}
	return "unknown";
}

void
fb_wire_header_encode(
		uint8_t out[FB_WIRE_HDR_LEN], const struct fb_wire_header *hdr)
{
	out[0] = FB_WIRE_MAGIC0;
	out[1] = FB_WIRE_MAGIC1;
	out[2] = hdr->ver;
	out[3] = hdr->type;
	fb_wire_store_u32(out + 4, hdr->round_id);
}

fb_err
fb_wire_header_decode(
		struct fb_wire_header *out, const uint8_t *msg, size_t len)
{
	if (len < FB_WIRE_HDR_LEN) {
		return fb_errorf(FB_EPROTO,
				"message of %zu bytes is shorter "
				"than the 8-byte header",
				len);
	}
	if (msg[0] != FB_WIRE_MAGIC0 || msg[1] != FB_WIRE_MAGIC1) {
		return fb_errorf(FB_EPROTO,
				"bad magic 0x%02x 0x%02x, expected 0x46 0x42",
				msg[0], msg[1]);
	}
	out->ver = msg[2];
	out->type = msg[3];
	out->round_id = fb_wire_load_u32(msg + 4);
	return FB_OK;
}

static void
store_f64(uint8_t *p, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	fb_wire_store_u64(p, u);
}

static double
load_f64(const uint8_t *p)
{
	uint64_t u = fb_wire_load_u64(p);
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

// ---- texts (§5.5-5.7) ----

static size_t
text_len(const char *text)
{
	if (text == NULL) {
		return 0;
	}
	size_t n = 0;
	while (n < FB_WIRE_TEXT_MAX && text[n] != '\0') {
		n++;
	}
	return n;
}

// Writes text_len u16 then the sanitised text; returns bytes written.
static size_t
put_text(uint8_t *p, const char *text)
{
	size_t n = text_len(text);
	fb_wire_store_u16(p, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		p[2 + i] = c >= 0x20 && c <= 0x7e ? c : '?';
	}
	return 2 + n;
}

// Reads text_len u16 + text at body[off..], which must end exactly at len.
static fb_err
get_text(char out[FB_WIRE_TEXT_MAX + 1], const char *msg, const uint8_t *body,
		size_t len, size_t off)
{
	if (len - off < 2) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes ends before text_len "
				"at offset %zu",
				msg, len, off);
	}
	size_t n = fb_wire_load_u16(body + off);
	off += 2;
	if (n > FB_WIRE_TEXT_MAX) {
		return fb_errorf(FB_EPROTO,
				"%s: text_len %zu exceeds the maximum %d", msg,
				n, FB_WIRE_TEXT_MAX);
	}
	if (len - off != n) {
		return fb_errorf(FB_EPROTO,
				"%s: text_len %zu but %zu bytes follow at "
				"offset %zu (truncated or trailing bytes)",
				msg, n, len - off, off);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = body[off + i];
		if (c < 0x20 || c > 0x7e) {
			return fb_errorf(FB_EPROTO,
					"%s: text byte 0x%02x at offset %zu is "
					"not printable ASCII",
					msg, c, off + i);
		}
		out[i] = (char)c;
	}
	out[n] = '\0';
	return FB_OK;
}

// ---- POLL (§5.2) ----

fb_err
fb_wire_poll_encode(uint8_t *body, size_t cap, const struct fb_wire_poll *poll,
		size_t *len)
{
	if (poll->status > FB_WIRE_POLL_UNMASK) {
		return fb_errorf(FB_EINVAL, "POLL: status %u is not defined",
				poll->status);
	}
	if (cap < FB_WIRE_POLL_LEN) {
		return fb_errorf(FB_EINVAL,
				"POLL: buffer of %zu bytes, need %d", cap,
				FB_WIRE_POLL_LEN);
	}
	body[0] = poll->status;
	body[1] = body[2] = body[3] = 0;
	*len = FB_WIRE_POLL_LEN;
	return FB_OK;
}

fb_err
fb_wire_poll_decode(struct fb_wire_poll *out, const uint8_t *body, size_t len)
{
	if (len != FB_WIRE_POLL_LEN) {
		return fb_errorf(FB_EPROTO,
				"POLL: body of %zu bytes, expected %d", len,
				FB_WIRE_POLL_LEN);
	}
	if (body[0] > FB_WIRE_POLL_UNMASK) {
		return fb_errorf(FB_EPROTO,
				"POLL: status %u at offset 0 is not defined",
				body[0]);
	}
	if (body[1] != 0 || body[2] != 0 || body[3] != 0) {
		return fb_errorf(FB_EPROTO,
				"POLL: reserved bytes at offsets 1-3 are not "
				"zero");
	}
	out->status = body[0];
	return FB_OK;
}

// ---- REFUSE, ERROR (§5.5, §5.7) ----

size_t
fb_wire_reason_text_len(const char *text)
{
	return 4 + text_len(text);
}

static fb_err
reason_text_encode(const char *msg, uint8_t *body, size_t cap,
		const struct fb_wire_reason_text *rt, size_t *len)
{
	if (rt->reason == FB_WIRE_REASON_NONE) {
		return fb_errorf(FB_EINVAL,
				"%s: reason 0 (none) is not allowed", msg);
	}
	size_t need = fb_wire_reason_text_len(rt->text);
	if (cap < need) {
		return fb_errorf(FB_EINVAL, "%s: buffer of %zu bytes, need %zu",
				msg, cap, need);
	}
	fb_wire_store_u16(body, rt->reason);
	*len = 2 + put_text(body + 2, rt->text);
	return FB_OK;
}

static fb_err
reason_text_decode(const char *msg, struct fb_wire_reason_text *out,
		const uint8_t *body, size_t len)
{
	struct fb_wire_reason_text rt;
	if (len < 2) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes ends before the reason "
				"code",
				msg, len);
	}
	rt.reason = fb_wire_load_u16(body);
	if (rt.reason == FB_WIRE_REASON_NONE) {
		return fb_errorf(FB_EPROTO,
				"%s: reason 0 (none) at offset 0 is not allowed",
				msg);
	}
	fb_err err = get_text(rt.text, msg, body, len, 2);
	if (err != FB_OK) {
		return err;
	}
	*out = rt;
	return FB_OK;
}

fb_err
fb_wire_refuse_encode(uint8_t *body, size_t cap,
		const struct fb_wire_reason_text *refuse, size_t *len)
{
	return reason_text_encode("REFUSE", body, cap, refuse, len);
}

fb_err
fb_wire_refuse_decode(struct fb_wire_reason_text *out, const uint8_t *body,
		size_t len)
{
	return reason_text_decode("REFUSE", out, body, len);
}

fb_err
fb_wire_error_encode(uint8_t *body, size_t cap,
		const struct fb_wire_reason_text *error, size_t *len)
{
	return reason_text_encode("ERROR", body, cap, error, len);
}

fb_err
fb_wire_error_decode(struct fb_wire_reason_text *out, const uint8_t *body,
		size_t len)
{
	return reason_text_decode("ERROR", out, body, len);
}

fb_err
fb_wire_plain_error_encode(uint8_t *msg, size_t cap, uint32_t round_id,
		uint16_t reason, const char *text, size_t *len)
{
	size_t need = FB_WIRE_HDR_LEN + fb_wire_reason_text_len(text);
	if (cap < need) {
		return fb_errorf(FB_EINVAL,
				"ERROR: buffer of %zu bytes, need %zu", cap,
				need);
	}
	struct fb_wire_header hdr = {
			.ver = FB_WIRE_VERSION_FROZEN,
			.type = FB_WIRE_ERROR_PLAIN,
			.round_id = round_id,
	};
	fb_wire_header_encode(msg, &hdr);
	fb_wire_store_u16(msg + FB_WIRE_HDR_LEN, reason);
	*len = FB_WIRE_HDR_LEN + 2 + put_text(msg + FB_WIRE_HDR_LEN + 2, text);
	return FB_OK;
}

// ---- ACK (§5.6) ----

size_t
fb_wire_ack_len(const char *text)
{
	return 6 + text_len(text);
}

fb_err
fb_wire_ack_encode(uint8_t *body, size_t cap, const struct fb_wire_ack *ack,
		size_t *len)
{
	if (ack->status > FB_WIRE_ACK_REJECTED) {
		return fb_errorf(FB_EINVAL, "ACK: status %u is not defined",
				ack->status);
	}
	if ((ack->status == FB_WIRE_ACK_ACCEPTED) !=
			(ack->reason == FB_WIRE_REASON_NONE)) {
		return fb_errorf(FB_EINVAL,
				"ACK: status %u with reason %u (accepted goes "
				"with reason 0, and only it)",
				ack->status, ack->reason);
	}
	size_t need = fb_wire_ack_len(ack->text);
	if (cap < need) {
		return fb_errorf(FB_EINVAL,
				"ACK: buffer of %zu bytes, need %zu", cap,
				need);
	}
	body[0] = ack->status;
	body[1] = 0;
	fb_wire_store_u16(body + 2, ack->reason);
	*len = 4 + put_text(body + 4, ack->text);
	return FB_OK;
}

fb_err
fb_wire_ack_decode(struct fb_wire_ack *out, const uint8_t *body, size_t len)
{
	struct fb_wire_ack ack;
	if (len < 4) {
		return fb_errorf(FB_EPROTO,
				"ACK: body of %zu bytes is shorter than its "
				"fixed 6 bytes",
				len);
	}
	if (body[0] > FB_WIRE_ACK_REJECTED) {
		return fb_errorf(FB_EPROTO,
				"ACK: status %u at offset 0 is not defined",
				body[0]);
	}
	if (body[1] != 0) {
		return fb_errorf(FB_EPROTO,
				"ACK: reserved byte at offset 1 is not zero");
	}
	ack.status = body[0];
	ack.reason = fb_wire_load_u16(body + 2);
	if ((ack.status == FB_WIRE_ACK_ACCEPTED) !=
			(ack.reason == FB_WIRE_REASON_NONE)) {
		return fb_errorf(FB_EPROTO,
				"ACK: status %u with reason %u at offset 2 "
				"(accepted goes with reason 0, and only it)",
				ack.status, ack.reason);
	}
	fb_err err = get_text(ack.text, "ACK", body, len, 4);
	if (err != FB_OK) {
		return err;
	}
	*out = ack;
	return FB_OK;
}

// ---- round configuration TLVs (§5.3.1) ----

// F_OPT: an enum fb_optimizer in memory, one byte on the wire.
// F_B32: 32 raw bytes. F_ID16: 16 opaque bytes (the federation id), never
// all zero.
enum field_kind {
	F_U8,
	F_BOOL,
	F_I8,
	F_U32,
	F_U64,
	F_F64,
	F_OPT,
	F_B32,
	F_ID16
};

struct field {
	uint16_t type;
	uint8_t kind;
	bool required;
	size_t off;
	const char *name;
};

#define CFG(member) offsetof(struct fb_wire_round_config, member)
static const struct field fields[] = {
		{0x0001, F_U8, true, CFG(granularity), "granularity"},
		{0x0002, F_F64, true, CFG(sampling_rate), "sampling_rate"},
		{0x0003, F_F64, true, CFG(noise_multiplier),
				"noise_multiplier"},
		{0x0004, F_F64, true, CFG(clip_norm), "clip_norm"},
		{0x0005, F_F64, true, CFG(delta), "delta"},
		{0x0006, F_U32, true, CFG(local_epochs), "local_epochs"},
		{0x0007, F_U32, true, CFG(local_steps), "local_steps"},
		{0x0008, F_F64, true, CFG(hp.lr), "learning_rate"},
		{0x0009, F_F64, true, CFG(hp.l2), "l2"},
		{0x000a, F_F64, true, CFG(hp.item_weight), "item_loss_weight"},
		{0x000b, F_U32, true, CFG(hp.negatives), "negatives"},
		{0x000c, F_U32, true, CFG(hp.dim), "dim"},
		{0x000d, F_BOOL, true, CFG(report_eval), "report_eval"},
		{0x000e, F_U8, false, CFG(update_dtype), "update_dtype"},
		{0x000f, F_I8, false, CFG(update_exp), "update_exp"},
		// Optional training switches: encoded only with has_train_opts.
		{0x0010, F_BOOL, false, CFG(hp.item_view), "item_view"},
		{0x0011, F_BOOL, false, CFG(hp.use_attrs), "use_attrs"},
		{0x0012, F_BOOL, false, CFG(hp.user_item_view),
				"user_item_view"},
		{0x0013, F_U32, false, CFG(hp.batch_users), "batch_users"},
		{0x0014, F_F64, false, CFG(hp.lr_user), "lr_user"},
		{0x0015, F_OPT, false, CFG(hp.optimizer), "local_optimizer"},
		{0x0016, F_F64, false, CFG(hp.init_std), "init_std"},
		{0x0017, F_BOOL, false, CFG(hp.bias), "bias"},
		{0x0018, F_BOOL, false, CFG(hp.train_items), "train_items"},
		{0x0019, F_U32, false, CFG(hp.bundle_rank), "bundle_rank"},
		// Encoded only when set (> 0, not all zero).
		{0x001a, F_U64, false, CFG(min_users), "min_users"},
		// Encoded only with has_catalog_digest.
		{0x001b, F_B32, false, CFG(catalog_digest), "catalog_digest"},
		{0x001c, F_ID16, false, CFG(federation_id), "federation_id"},
};
#define FIRST_TRAIN_OPT 0x0010
#define LAST_TRAIN_OPT 0x0019
#define TYPE_MIN_USERS 0x001a
#define TYPE_CATALOG_DIGEST 0x001b
#define TYPE_FEDERATION_ID 0x001c
// Variable length, outside the table: see secagg_len() and friends.
#define TYPE_SECAGG 0x801d
// One byte, the ring width; only with TYPE_SECAGG (secagg-v1 §6).
#define TYPE_SECAGG_RING 0x801e
#define SECAGG_FIXED_LEN (FB_WIRE_SECAGG_CONSORTIUM_LEN + 5 * 4)
#undef CFG
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
#define CFG_CRITICAL 0x8000u

static size_t
field_size(uint8_t kind)
{
	switch (kind) {
	case F_U32:
		return 4;
	case F_U64:
	case F_F64:
		return 8;
	case F_B32:
		return 32;
	case F_ID16:
		return FB_WIRE_FEDERATION_ID_LEN;
	default:
		return 1;
	}
}

void
fb_wire_hparams_defaults(struct fb_hparams *hp)
{
	hp->item_view = true;
	hp->use_attrs = true;
	hp->user_item_view = true;
	hp->batch_users = 512;
	hp->lr_user = 0.05;
	hp->optimizer = FB_OPT_ADAM;
	hp->init_std = 0.1;
	hp->bias = false;
	hp->train_items = true;
	hp->bundle_rank = 0;
}

// True if field f is sent for configuration c.
static bool
field_sent(const struct field *f, const struct fb_wire_round_config *c)
{
	if (f->type == TYPE_MIN_USERS) {
		return c->min_users > 0;
	}
	if (f->type == TYPE_CATALOG_DIGEST) {
		return c->has_catalog_digest;
	}
	if (f->type == TYPE_FEDERATION_ID) {
		return fb_wire_federation_id_set(c->federation_id);
	}
	return f->type < FIRST_TRAIN_OPT || c->has_train_opts;
}

// Value bytes of the secagg field of a configuration that passed
// config_problem().
static size_t
secagg_len(const struct fb_wire_secagg *sa)
{
	return SECAGG_FIXED_LEN + (size_t)sa->n * FB_WIRE_SECAGG_KEY_LEN;
}

// True if the secagg_ring field is encoded: a ring other than 64 bits.
static bool
ring_sent(const struct fb_wire_secagg *sa)
{
	return sa->ring_bits == 32 || sa->ring_bits == 48;
}

static size_t
config_len(const struct fb_wire_round_config *c)
{
	size_t n = 0;
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (field_sent(&fields[i], c)) {
			n += 4 + field_size(fields[i].kind);
		}
	}
	if (c->has_secagg) {
		n += 4 + secagg_len(&c->sa);
	}
	if (c->has_secagg && ring_sent(&c->sa)) {
		n += 4 + 1;
	}
	return n;
}

// NULL if the secagg field is allowed (secagg-v1 §6), else what is wrong
// (perhaps written in buf).
static const char *
secagg_problem(const struct fb_wire_round_config *c, char *buf, size_t cap)
{
	const struct fb_wire_secagg *sa = &c->sa;
	if (c->granularity != FB_WIRE_GRAN_USER) {
		return "secagg requires granularity 1 (user)";
	}
	if (sa->n < 3 || sa->n > FB_WIRE_SECAGG_N_MAX) {
		return "secagg n is not in 3..2000";
	}
	if (sa->t > sa->n || 2 * sa->t <= sa->n) {
		return "secagg t is not in n/2 < t <= n";
	}
	if (sa->n_min < sa->t || sa->n_min > sa->n) {
		return "secagg n_min is not in t..n";
	}
	if (sa->noise_shares < 1 || sa->noise_shares > sa->n_min) {
		return "secagg noise_shares is not in 1..n_min";
	}
	if (sa->index < 1 || sa->index > sa->n) {
		return "secagg index is not in 1..n";
	}
	if (sa->ring_bits != 0 && sa->ring_bits != 32 && sa->ring_bits != 48 &&
			sa->ring_bits != 64) {
		return "secagg_ring is not 32, 48 or 64";
	}
	if (sa->keys == NULL) {
		return "secagg keys are missing";
	}
	for (uint32_t i = 1; i < sa->n; i++) {
		const uint8_t *ki =
				sa->keys + (size_t)i * FB_WIRE_SECAGG_KEY_LEN;
		for (uint32_t j = 0; j < i; j++) {
			if (memcmp(ki, sa->keys + (size_t)j * FB_WIRE_SECAGG_KEY_LEN,
					    FB_WIRE_SECAGG_KEY_LEN) == 0) {
				snprintf(buf, cap,
						"secagg key of index %u repeats "
						"that of index %u",
						i + 1, j + 1);
				return buf;
			}
		}
	}
	return NULL;
}

// NULL if the configuration is allowed by §5.3.1, else what is wrong
// (for the hyper-parameters, fb_hparams_check's detail, copied to buf).
static const char *
config_problem(const struct fb_wire_round_config *c, char *buf, size_t cap)
{
	if (c->granularity > FB_WIRE_GRAN_CLIENT) {
		return "granularity is not 0, 1 or 2";
	}
	if (!(c->sampling_rate > 0 && c->sampling_rate <= 1)) {
		return "sampling_rate is not in (0, 1]";
	}
	if (!(isfinite(c->noise_multiplier) && c->noise_multiplier >= 0)) {
		return "noise_multiplier is not finite and >= 0";
	}
	if (!(isfinite(c->clip_norm) && c->clip_norm > 0)) {
		return "clip_norm is not finite and > 0";
	}
	if (!(c->delta >= 0 && c->delta < 1)) {
		return "delta is not in [0, 1)";
	}
	if (c->local_epochs == 0 && c->local_steps == 0) {
		return "local_epochs and local_steps are both 0";
	}
	if (c->update_dtype != FB_WIRE_DTYPE_F32 &&
			c->update_dtype != FB_WIRE_DTYPE_I32) {
		return "update_dtype is not 1 (f32) or 2 (i32)";
	}
	if (c->update_dtype == FB_WIRE_DTYPE_F32 && c->update_exp != 0) {
		return "update_exp is not 0 with update_dtype f32";
	}
	if (c->has_secagg) {
		const char *problem = secagg_problem(c, buf, cap);
		if (problem != NULL) {
			return problem;
		}
	}
	// The hyper-parameters the receiver will hold: without the optional
	// switches, their defaults.
	struct fb_hparams hp = c->hp;
	if (!c->has_train_opts) {
		fb_wire_hparams_defaults(&hp);
	}
	fb_err err = fb_hparams_check(&hp, "");
	if (err != FB_OK) {
		snprintf(buf, cap, "%s", fb_last_error(err));
		return buf;
	}
	return NULL;
}

// Writes the secagg TLV; returns its bytes.
static size_t
secagg_encode(uint8_t *p, const struct fb_wire_secagg *sa)
{
	size_t n = secagg_len(sa);
	fb_wire_store_u16(p, TYPE_SECAGG);
	fb_wire_store_u16(p + 2, (uint16_t)n);
	uint8_t *v = p + 4;
	memcpy(v, sa->consortium, FB_WIRE_SECAGG_CONSORTIUM_LEN);
	v += FB_WIRE_SECAGG_CONSORTIUM_LEN;
	fb_wire_store_u32(v, sa->n);
	fb_wire_store_u32(v + 4, sa->t);
	fb_wire_store_u32(v + 8, sa->n_min);
	fb_wire_store_u32(v + 12, sa->noise_shares);
	fb_wire_store_u32(v + 16, sa->index);
	memcpy(v + 20, sa->keys, (size_t)sa->n * FB_WIRE_SECAGG_KEY_LEN);
	return 4 + n;
}

// Reads the secagg TLV value v of n bytes at offset off (for details);
// the domain is checked later with the rest (config_problem()).
static fb_err
secagg_decode(struct fb_wire_round_config *c, const uint8_t *v, size_t n,
		size_t off)
{
	if (c->has_secagg) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg (0x801d) at offset "
				"%zu is repeated",
				off);
	}
	if (n < SECAGG_FIXED_LEN) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg at offset %zu has "
				"length %zu, shorter than %d",
				off, n, SECAGG_FIXED_LEN);
	}
	struct fb_wire_secagg sa = {0};
	memcpy(sa.consortium, v, FB_WIRE_SECAGG_CONSORTIUM_LEN);
	v += FB_WIRE_SECAGG_CONSORTIUM_LEN;
	sa.n = fb_wire_load_u32(v);
	sa.t = fb_wire_load_u32(v + 4);
	sa.n_min = fb_wire_load_u32(v + 8);
	sa.noise_shares = fb_wire_load_u32(v + 12);
	sa.index = fb_wire_load_u32(v + 16);
	sa.keys = v + 20;
	if ((n - SECAGG_FIXED_LEN) % FB_WIRE_SECAGG_KEY_LEN != 0 ||
			(n - SECAGG_FIXED_LEN) / FB_WIRE_SECAGG_KEY_LEN !=
					sa.n) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg at offset %zu has "
				"length %zu, expected 36 + 32 x n (n = %u)",
				off, n, sa.n);
	}
	c->has_secagg = true;
	c->sa = sa;
	return FB_OK;
}

// Reads the secagg_ring TLV value v of n bytes at offset off into *ring.
static fb_err
ring_decode(uint32_t *ring, const uint8_t *v, size_t n, size_t off)
{
	if (*ring != 0) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg_ring (0x801e) at "
				"offset %zu is repeated",
				off);
	}
	if (n != 1 || (v[0] != 32 && v[0] != 48 && v[0] != 64)) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg_ring at offset %zu: "
				"length %zu, value %u (need 1 byte: 32, 48 or "
				"64)",
				off, n, n > 0 ? v[0] : 0);
	}
	*ring = v[0];
	return FB_OK;
}

static size_t
config_encode(uint8_t *p, const struct fb_wire_round_config *c)
{
	const uint8_t *base = (const uint8_t *)c;
	size_t off = 0;
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct field *f = &fields[i];
		if (!field_sent(f, c)) {
			continue;
		}
		size_t n = field_size(f->kind);
		fb_wire_store_u16(p + off, f->type);
		fb_wire_store_u16(p + off + 2, (uint16_t)n);
		uint8_t *v = p + off + 4;
		switch (f->kind) {
		case F_U8:
		case F_I8:
			memcpy(v, base + f->off, 1);
			break;
		case F_BOOL: {
			bool b;
			memcpy(&b, base + f->off, sizeof(b));
			v[0] = b ? 1 : 0;
			break;
		}
		case F_OPT: {
			enum fb_optimizer o;
			memcpy(&o, base + f->off, sizeof(o));
			v[0] = (uint8_t)o;
			break;
		}
		case F_U32: {
			uint32_t u;
			memcpy(&u, base + f->off, sizeof(u));
			fb_wire_store_u32(v, u);
			break;
		}
		case F_U64: {
			uint64_t u;
			memcpy(&u, base + f->off, sizeof(u));
			fb_wire_store_u64(v, u);
			break;
		}
		case F_F64: {
			double d;
			memcpy(&d, base + f->off, sizeof(d));
			store_f64(v, d);
			break;
		}
		case F_B32:
			memcpy(v, base + f->off, 32);
			break;
		case F_ID16:
			memcpy(v, base + f->off, FB_WIRE_FEDERATION_ID_LEN);
			break;
		}
		off += 4 + n;
	}
	if (c->has_secagg) {
		off += secagg_encode(p + off, &c->sa);
	}
	if (c->has_secagg && ring_sent(&c->sa)) {
		fb_wire_store_u16(p + off, TYPE_SECAGG_RING);
		fb_wire_store_u16(p + off + 2, 1);
		p[off + 4] = (uint8_t)c->sa.ring_bits;
		off += 4 + 1;
	}
	return off;
}

static fb_err
config_decode(struct fb_wire_round_config *out, const uint8_t *p, size_t len,
		size_t base_off)
{
	struct fb_wire_round_config c = {
			.update_dtype = FB_WIRE_DTYPE_F32,
			.update_exp = 0,
	};
	fb_wire_hparams_defaults(&c.hp);
	uint8_t *dst = (uint8_t *)&c;
	bool seen[N_FIELDS] = {false};
	uint32_t ring = 0; // secagg_ring, applied once secagg is read
	size_t off = 0;
	while (off < len) {
		if (len - off < 4) {
			return fb_errorf(FB_EPROTO,
					"PLAN: config entry at offset %zu is "
					"truncated",
					base_off + off);
		}
		uint16_t type = fb_wire_load_u16(p + off);
		size_t n = fb_wire_load_u16(p + off + 2);
		if (len - off - 4 < n) {
			return fb_errorf(FB_EPROTO,
					"PLAN: config field 0x%04x at offset "
					"%zu: length %zu runs past the block",
					type, base_off + off, n);
		}
		const uint8_t *v = p + off + 4;
		if (type == TYPE_SECAGG) {
			fb_err err = secagg_decode(&c, v, n, base_off + off);
			if (err != FB_OK) {
				return err;
			}
			off += 4 + n;
			continue;
		}
		if (type == TYPE_SECAGG_RING) {
			fb_err err = ring_decode(&ring, v, n, base_off + off);
			if (err != FB_OK) {
				return err;
			}
			off += 4 + n;
			continue;
		}
		size_t k = 0;
		while (k < N_FIELDS && fields[k].type != type) {
			k++;
		}
		if (k == N_FIELDS) {
			if (type & CFG_CRITICAL) {
				return fb_errorf(FB_EPROTO,
						"PLAN: unsupported critical "
						"config field 0x%04x at offset "
						"%zu",
						type, base_off + off);
			}
			off += 4 + n; // unknown optional field: skipped
			continue;
		}
		const struct field *f = &fields[k];
		if (seen[k]) {
			return fb_errorf(FB_EPROTO,
					"PLAN: config field %s (0x%04x) at "
					"offset %zu is repeated",
					f->name, type, base_off + off);
		}
		seen[k] = true;
		if (type >= FIRST_TRAIN_OPT && type <= LAST_TRAIN_OPT) {
			c.has_train_opts = true;
		}
		if (n != field_size(f->kind)) {
			return fb_errorf(FB_EPROTO,
					"PLAN: config field %s at offset %zu "
					"has length %zu, expected %zu",
					f->name, base_off + off, n,
					field_size(f->kind));
		}
		switch (f->kind) {
		case F_U8:
		case F_I8:
			memcpy(dst + f->off, v, 1);
			break;
		case F_BOOL: {
			if (v[0] > 1) {
				return fb_errorf(FB_EPROTO,
						"PLAN: config field %s at "
						"offset %zu is %u, not 0 or 1",
						f->name, base_off + off, v[0]);
			}
			bool b = v[0] == 1;
			memcpy(dst + f->off, &b, sizeof(b));
			break;
		}
		case F_OPT: {
			// Checked with the other hyper-parameters.
			enum fb_optimizer o = (enum fb_optimizer)v[0];
			memcpy(dst + f->off, &o, sizeof(o));
			break;
		}
		case F_U32: {
			uint32_t u = fb_wire_load_u32(v);
			memcpy(dst + f->off, &u, sizeof(u));
			break;
		}
		case F_U64: {
			uint64_t u = fb_wire_load_u64(v);
			if (u == 0) {
				return fb_errorf(FB_EPROTO,
						"PLAN: config field %s at "
						"offset %zu is 0",
						f->name, base_off + off);
			}
			memcpy(dst + f->off, &u, sizeof(u));
			break;
		}
		case F_F64: {
			double d = load_f64(v);
			memcpy(dst + f->off, &d, sizeof(d));
			break;
		}
		case F_B32:
			memcpy(dst + f->off, v, 32);
			c.has_catalog_digest = true;
			break;
		case F_ID16:
			if (!fb_wire_federation_id_set(v)) {
				return fb_errorf(FB_EPROTO,
						"PLAN: config field %s at "
						"offset %zu is all zero",
						f->name, base_off + off);
			}
			memcpy(dst + f->off, v, FB_WIRE_FEDERATION_ID_LEN);
			break;
		}
		off += 4 + n;
	}
	for (size_t k = 0; k < N_FIELDS; k++) {
		if (fields[k].required && !seen[k]) {
			return fb_errorf(FB_EPROTO,
					"PLAN: required config field %s "
					"(0x%04x) is missing",
					fields[k].name, fields[k].type);
		}
	}
	if (ring != 0 && !c.has_secagg) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config field secagg_ring (0x801e) "
				"without secagg (0x801d)");
	}
	if (c.has_secagg) {
		c.sa.ring_bits = ring != 0 ? ring : 64;
	}
	char buf[FB_WIRE_TEXT_MAX];
	const char *problem = config_problem(&c, buf, sizeof(buf));
	if (problem != NULL) {
		return fb_errorf(FB_EPROTO, "PLAN: config: %s", problem);
	}
	*out = c;
	return FB_OK;
}

// ---- tensor blocks (§5.8) ----

#define TENSOR_DESC_LEN 12

static const char *
tensor_problem(const struct fb_wire_tensor *t)
{
	if (t->id == 0) {
		return "id 0 is not allowed";
	}
	if (t->dtype < FB_WIRE_DTYPE_F32 || t->dtype > FB_WIRE_DTYPE_U32) {
		return "dtype is not 1 (f32), 2 (i32), 3 (u64), 4 (u48) or 5 "
		       "(u32)";
	}
	if (t->dtype == FB_WIRE_DTYPE_F32 && t->exp != 0) {
		return "exp is not 0 for an f32 tensor";
	}
	if (t->rows == 0 || t->cols == 0) {
		return "a dimension is 0";
	}
	return NULL;
}

// Bytes of a tensor block; 0 if a tensor is invalid or the total does not
// fit in size_t.
static size_t
tensors_len(uint32_t n, const struct fb_wire_tensor *t)
{
	if (n > FB_WIRE_MAX_TENSORS) {
		return 0;
	}
	uint64_t total = 4;
	for (uint32_t i = 0; i < n; i++) {
		if (tensor_problem(&t[i]) != NULL) {
			return 0;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (t[j].id == t[i].id) {
				return 0;
			}
		}
		// rows, cols < 2^32, so count < 2^64; bound the byte total.
		uint64_t count = (uint64_t)t[i].rows * t[i].cols;
		uint32_t esize = fb_wire_dtype_size(t[i].dtype);
		if (count > (SIZE_MAX / 2 - total) / esize) {
			return 0;
		}
		size_t bytes = (size_t)count * esize;
		total += TENSOR_DESC_LEN + pad4(bytes);
	}
	return (size_t)total;
}

static fb_err
tensors_check(const char *msg, uint32_t n, const struct fb_wire_tensor *t)
{
	if (n > FB_WIRE_MAX_TENSORS) {
		return fb_errorf(FB_EINVAL, "%s: %u tensors, at most %d", msg,
				n, FB_WIRE_MAX_TENSORS);
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *problem = tensor_problem(&t[i]);
		if (problem != NULL) {
			return fb_errorf(FB_EINVAL, "%s: tensor %u: %s", msg, i,
					problem);
		}
		for (uint32_t j = 0; j < i; j++) {
			if (t[j].id == t[i].id) {
				return fb_errorf(FB_EINVAL,
						"%s: tensor %u repeats id %u",
						msg, i, t[i].id);
			}
		}
	}
	return FB_OK;
}

static size_t
tensors_encode(uint8_t *p, uint32_t n, const struct fb_wire_tensor *t,
		void **slots)
{
	fb_wire_store_u32(p, n);
	size_t off = 4;
	for (uint32_t i = 0; i < n; i++) {
		fb_wire_store_u16(p + off, t[i].id);
		p[off + 2] = t[i].dtype;
		p[off + 3] = (uint8_t)t[i].exp;
		fb_wire_store_u32(p + off + 4, t[i].rows);
		fb_wire_store_u32(p + off + 8, t[i].cols);
		off += TENSOR_DESC_LEN;
		size_t bytes = (size_t)fb_wire_tensor_bytes(&t[i]);
		if (t[i].data != NULL) {
			memcpy(p + off, t[i].data, bytes);
		} else {
			memset(p + off, 0, bytes);
		}
		if (slots != NULL) {
			slots[i] = p + off;
		}
		memset(p + off + bytes, 0, pad4(bytes) - bytes);
		off += pad4(bytes);
	}
	return off;
}

static bool
all_finite_f32(const uint8_t *p, size_t count, size_t *bad)
{
	for (size_t i = 0; i < count; i++) {
		uint32_t bits;
		memcpy(&bits, p + 4 * i, sizeof(bits));
		if ((bits & 0x7f800000u) == 0x7f800000u) {
			*bad = i;
			return false;
		}
	}
	return true;
}

// Decodes the tensor block that must fill body[off..len) exactly.
static fb_err
tensors_decode(const char *msg, const uint8_t *body, size_t len, size_t off,
		const struct fb_wire_limits *lim, uint32_t *n_out,
		struct fb_wire_tensor *out)
{
	struct fb_wire_tensor t[FB_WIRE_MAX_TENSORS];
	if (len - off < 4) {
		return fb_errorf(FB_EPROTO,
				"%s: body ends at %zu before the tensor count "
				"at offset %zu",
				msg, len, off);
	}
	uint32_t n = fb_wire_load_u32(body + off);
	uint32_t max_n = lim->max_tensors < FB_WIRE_MAX_TENSORS
			? lim->max_tensors
			: FB_WIRE_MAX_TENSORS;
	if (n > max_n) {
		return fb_errorf(FB_EPROTO,
				"%s: %u tensors at offset %zu, at most %u", msg,
				n, off, max_n);
	}
	off += 4;
	for (uint32_t i = 0; i < n; i++) {
		if (len - off < TENSOR_DESC_LEN) {
			return fb_errorf(FB_EPROTO,
					"%s: tensor %u: descriptor at offset "
					"%zu is truncated",
					msg, i, off);
		}
		t[i].id = fb_wire_load_u16(body + off);
		t[i].dtype = body[off + 2];
		t[i].exp = (int8_t)body[off + 3];
		t[i].rows = fb_wire_load_u32(body + off + 4);
		t[i].cols = fb_wire_load_u32(body + off + 8);
		const char *problem = tensor_problem(&t[i]);
		if (problem != NULL) {
			return fb_errorf(FB_EPROTO,
					"%s: tensor %u at offset %zu: %s", msg,
					i, off, problem);
		}
		for (uint32_t j = 0; j < i; j++) {
			if (t[j].id == t[i].id) {
				return fb_errorf(FB_EPROTO,
						"%s: tensor %u at offset %zu "
						"repeats id %u",
						msg, i, off, t[i].id);
			}
		}
		if (t[i].rows > lim->max_rows || t[i].cols > lim->max_cols) {
			return fb_errorf(FB_EPROTO,
					"%s: tensor %u (id %u) at offset %zu "
					"is %u x %u, limit %u x %u",
					msg, i, t[i].id, off, t[i].rows,
					t[i].cols, lim->max_rows,
					lim->max_cols);
		}
		off += TENSOR_DESC_LEN;
		uint64_t count = (uint64_t)t[i].rows * t[i].cols;
		uint32_t esize = fb_wire_dtype_size(t[i].dtype);
		if (count > (len - off) / esize) {
			return fb_errorf(FB_EPROTO,
					"%s: tensor %u (id %u): %u x %u "
					"payload at offset %zu runs past the "
					"body end %zu",
					msg, i, t[i].id, t[i].rows, t[i].cols,
					off, len);
		}
		size_t bytes = (size_t)count * esize;
		size_t bad;
		if (lim->require_finite && t[i].dtype == FB_WIRE_DTYPE_F32 &&
				!all_finite_f32(body + off, (size_t)count,
						&bad)) {
			return fb_errorf(FB_EPROTO,
					"%s: tensor %u (id %u): element %zu at "
					"offset %zu is not finite",
					msg, i, t[i].id, bad, off + 4 * bad);
		}
		t[i].data = body + off;
		off += bytes;
		// Only u48 payloads are padded (to a multiple of 4), with zeros.
		for (size_t k = bytes; k < pad4(bytes); k++, off++) {
			if (off >= len || body[off] != 0) {
				return fb_errorf(FB_EPROTO,
						"%s: tensor %u (id %u): padding "
						"byte at offset %zu is missing "
						"or not 0",
						msg, i, t[i].id, off);
			}
		}
	}
	if (off != len) {
		return fb_errorf(FB_EPROTO,
				"%s: %zu trailing bytes after the tensor block "
				"at offset %zu",
				msg, len - off, off);
	}
	*n_out = n;
	memcpy(out, t, n * sizeof(t[0]));
	return FB_OK;
}

static fb_err
check_limits(const struct fb_wire_limits *lim)
{
	if (lim == NULL || lim->max_rows == 0 || lim->max_cols == 0) {
		return fb_errorf(FB_EINVAL,
				"wire limits missing or with a zero bound");
	}
	return FB_OK;
}

static fb_err
check_aligned(const char *msg, const uint8_t *body)
{
	if (((uintptr_t)body & 3) != 0) {
		return fb_errorf(FB_EINVAL,
				"%s: body buffer %p is not 4-byte aligned", msg,
				(const void *)body);
	}
	return FB_OK;
}

// ---- PLAN (§5.3) ----

#define PLAN_FIXED_LEN 16

// NULL if plan is allowed, else what is wrong (perhaps written in buf,
// FB_WIRE_TEXT_MAX bytes).
static const char *
plan_problem(const struct fb_wire_plan *plan, char *buf)
{
	switch (plan->kind) {
	case FB_WIRE_PLAN_TRAIN:
		if (plan->retry_after_ms != 0) {
			return "retry_after_ms is not 0 in a TRAIN plan";
		}
		if (plan->deadline_ms == 0) {
			return "deadline_ms is 0 in a TRAIN plan";
		}
		if (plan->n_tensors == 0) {
			return "a TRAIN plan carries no tensors";
		}
		return config_problem(&plan->config, buf, FB_WIRE_TEXT_MAX);
	case FB_WIRE_PLAN_WAIT:
		if (plan->deadline_ms != 0) {
			return "deadline_ms is not 0 in a WAIT plan";
		}
		if (plan->n_tensors != 0) {
			return "a WAIT plan carries tensors";
		}
		return NULL;
	case FB_WIRE_PLAN_DONE:
		if (plan->retry_after_ms != 0 || plan->deadline_ms != 0) {
			return "retry_after_ms or deadline_ms is not 0 in a "
			       "DONE plan";
		}
		return NULL;
	case FB_WIRE_PLAN_UPLOAD:
		if (plan->retry_after_ms != 0) {
			return "retry_after_ms is not 0 in an UPLOAD plan";
		}
		if (plan->deadline_ms == 0) {
			return "deadline_ms is 0 in an UPLOAD plan";
		}
		if (plan->n_tensors != 0) {
			return "an UPLOAD plan carries tensors";
		}
		return NULL;
	}
	return "kind is not 1 (TRAIN), 2 (WAIT), 3 (DONE) or 4 (UPLOAD)";
}

size_t
fb_wire_plan_len(const struct fb_wire_plan *plan)
{
	char buf[FB_WIRE_TEXT_MAX];
	if (plan_problem(plan, buf) != NULL) {
		return 0;
	}
	size_t t = tensors_len(plan->n_tensors, plan->tensors);
	if (t == 0) {
		return 0;
	}
	size_t cfg = plan->kind == FB_WIRE_PLAN_TRAIN
			? pad4(config_len(&plan->config))
			: 0;
	return PLAN_FIXED_LEN + cfg + t;
}

fb_err
fb_wire_plan_encode(uint8_t *body, size_t cap, const struct fb_wire_plan *plan,
		size_t *len, void **slots)
{
	char buf[FB_WIRE_TEXT_MAX];
	const char *problem = plan_problem(plan, buf);
	if (problem != NULL) {
		return fb_errorf(FB_EINVAL, "PLAN: %s", problem);
	}
	fb_err err = tensors_check("PLAN", plan->n_tensors, plan->tensors);
	if (err != FB_OK) {
		return err;
	}
	size_t need = fb_wire_plan_len(plan);
	if (need == 0 || cap < need) {
		return fb_errorf(FB_EINVAL,
				"PLAN: buffer of %zu bytes, need %zu", cap,
				need);
	}
	body[0] = plan->kind;
	body[1] = body[2] = body[3] = 0;
	fb_wire_store_u32(body + 4, plan->retry_after_ms);
	fb_wire_store_u32(body + 8, plan->deadline_ms);
	size_t cfg = 0;
	if (plan->kind == FB_WIRE_PLAN_TRAIN) {
		cfg = config_encode(body + PLAN_FIXED_LEN, &plan->config);
	}
	fb_wire_store_u32(body + 12, (uint32_t)cfg);
	memset(body + PLAN_FIXED_LEN + cfg, 0, pad4(cfg) - cfg);
	size_t off = PLAN_FIXED_LEN + pad4(cfg);
	off += tensors_encode(
			body + off, plan->n_tensors, plan->tensors, slots);
	*len = off;
	return FB_OK;
}

fb_err
fb_wire_plan_decode(struct fb_wire_plan *out, const uint8_t *body, size_t len,
		const struct fb_wire_limits *lim)
{
	fb_err err = check_limits(lim);
	if (err == FB_OK) {
		err = check_aligned("PLAN", body);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_wire_plan plan;
	memset(&plan, 0, sizeof(plan));
	if (len < PLAN_FIXED_LEN) {
		return fb_errorf(FB_EPROTO,
				"PLAN: body of %zu bytes is shorter than its "
				"fixed %d bytes",
				len, PLAN_FIXED_LEN);
	}
	plan.kind = body[0];
	if (body[1] != 0 || body[2] != 0 || body[3] != 0) {
		return fb_errorf(FB_EPROTO,
				"PLAN: reserved bytes at offsets 1-3 are not "
				"zero");
	}
	plan.retry_after_ms = fb_wire_load_u32(body + 4);
	plan.deadline_ms = fb_wire_load_u32(body + 8);
	size_t cfg = fb_wire_load_u32(body + 12);
	if (plan.kind != FB_WIRE_PLAN_TRAIN && cfg != 0) {
		return fb_errorf(FB_EPROTO,
				"PLAN: kind %u carries a %zu-byte config "
				"block",
				plan.kind, cfg);
	}
	if (plan.kind == FB_WIRE_PLAN_TRAIN && cfg == 0) {
		return fb_errorf(FB_EPROTO,
				"PLAN: TRAIN plan without a config block");
	}
	if (cfg > len - PLAN_FIXED_LEN || pad4(cfg) > len - PLAN_FIXED_LEN) {
		return fb_errorf(FB_EPROTO,
				"PLAN: config_len %zu at offset 12 runs past "
				"the body of %zu bytes",
				cfg, len);
	}
	if (cfg > 0) {
		err = config_decode(&plan.config, body + PLAN_FIXED_LEN, cfg,
				PLAN_FIXED_LEN);
		if (err != FB_OK) {
			return err;
		}
	}
	for (size_t i = PLAN_FIXED_LEN + cfg; i < PLAN_FIXED_LEN + pad4(cfg);
			i++) {
		if (body[i] != 0) {
			return fb_errorf(FB_EPROTO,
					"PLAN: padding byte at offset %zu is "
					"not zero",
					i);
		}
	}
	err = tensors_decode("PLAN", body, len, PLAN_FIXED_LEN + pad4(cfg), lim,
			&plan.n_tensors, plan.tensors);
	if (err != FB_OK) {
		return err;
	}
	char buf[FB_WIRE_TEXT_MAX];
	const char *problem = plan_problem(&plan, buf);
	if (problem != NULL) {
		return fb_errorf(FB_EPROTO, "PLAN: %s", problem);
	}
	*out = plan;
	return FB_OK;
}

// ---- UPDATE (§5.4) ----

#define UPDATE_FIXED_LEN 52

static const char *
update_problem(const struct fb_wire_update *u)
{
	if (!(isfinite(u->clip_norm) && u->clip_norm > 0)) {
		return "clip_norm is not finite and > 0";
	}
	if (!(isfinite(u->noise_multiplier) && u->noise_multiplier >= 0)) {
		return "noise_multiplier is not finite and >= 0";
	}
	if (!(u->epsilon_spent >= 0)) { // +inf allowed: not private
		return "epsilon_spent is NaN or negative";
	}
	if (!isfinite(u->train_loss)) {
		return "train_loss is not finite";
	}
	double users = u->eval_users;
	// Each user contributes a value in [0, 1]; allow rounding in the sum.
	double hi = users + users * 1e-9;
	if (!(u->recall_sum >= 0 && u->recall_sum <= hi)) {
		return "recall_sum is not in [0, eval_users]";
	}
	if (!(u->ndcg_sum >= 0 && u->ndcg_sum <= hi)) {
		return "ndcg_sum is not in [0, eval_users]";
	}
	if (u->n_tensors == 0) {
		return "an UPDATE carries no tensors";
	}
	return NULL;
}

size_t
fb_wire_update_len(const struct fb_wire_update *update)
{
	if (update_problem(update) != NULL) {
		return 0;
	}
	size_t t = tensors_len(update->n_tensors, update->tensors);
	return t == 0 ? 0 : UPDATE_FIXED_LEN + t;
}

fb_err
fb_wire_update_encode(uint8_t *body, size_t cap,
		const struct fb_wire_update *update, size_t *len, void **slots)
{
	const char *problem = update_problem(update);
	if (problem != NULL) {
		return fb_errorf(FB_EINVAL, "UPDATE: %s", problem);
	}
	fb_err err = tensors_check(
			"UPDATE", update->n_tensors, update->tensors);
	if (err != FB_OK) {
		return err;
	}
	size_t need = fb_wire_update_len(update);
	if (need == 0 || cap < need) {
		return fb_errorf(FB_EINVAL,
				"UPDATE: buffer of %zu bytes, need %zu", cap,
				need);
	}
	store_f64(body + 0, update->clip_norm);
	store_f64(body + 8, update->noise_multiplier);
	store_f64(body + 16, update->epsilon_spent);
	store_f64(body + 24, update->train_loss);
	store_f64(body + 32, update->recall_sum);
	store_f64(body + 40, update->ndcg_sum);
	fb_wire_store_u32(body + 48, update->eval_users);
	size_t off = UPDATE_FIXED_LEN;
	off += tensors_encode(
			body + off, update->n_tensors, update->tensors, slots);
	*len = off;
	return FB_OK;
}

fb_err
fb_wire_update_decode(struct fb_wire_update *out, const uint8_t *body,
		size_t len, const struct fb_wire_limits *lim)
{
	fb_err err = check_limits(lim);
	if (err == FB_OK) {
		err = check_aligned("UPDATE", body);
	}
	if (err != FB_OK) {
		return err;
	}
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	if (len < UPDATE_FIXED_LEN) {
		return fb_errorf(FB_EPROTO,
				"UPDATE: body of %zu bytes is shorter than its "
				"fixed %d bytes",
				len, UPDATE_FIXED_LEN);
	}
	u.clip_norm = load_f64(body + 0);
	u.noise_multiplier = load_f64(body + 8);
	u.epsilon_spent = load_f64(body + 16);
	u.train_loss = load_f64(body + 24);
	u.recall_sum = load_f64(body + 32);
	u.ndcg_sum = load_f64(body + 40);
	u.eval_users = fb_wire_load_u32(body + 48);
	err = tensors_decode("UPDATE", body, len, UPDATE_FIXED_LEN, lim,
			&u.n_tensors, u.tensors);
	if (err != FB_OK) {
		return err;
	}
	const char *problem = update_problem(&u);
	if (problem != NULL) {
		return fb_errorf(FB_EPROTO, "UPDATE: %s", problem);
	}
	*out = u;
	return FB_OK;
}
