// include/fedbundle/net/wire.h: the wire codec of protocols/wire-v1.md: the
// 8-byte header, reason codes, and the byte layouts of the sealed bodies
// (POLL, PLAN, UPDATE, REFUSE, ACK, ERROR) with their tensor blocks.
// Metadata is big-endian; tensor payloads are little-endian (float32, int32
// fixed point, or uint64 ring elements of secure aggregation) so x86 and ARM hosts use them in place. Encoders write
// into caller buffers sized by the *_len() functions; decoders never copy a
// tensor: they return views (pointer + shape) into the caller's buffer, which
// must outlive them. Every length is checked before it is read.
// Thread-safety: all functions are reentrant; they touch only their arguments.
#ifndef FB_INCLUDE_FEDBUNDLE_WIRE_H
#define FB_INCLUDE_FEDBUNDLE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/model/hparams.h"
#include "fedbundle/util/err.h"

// protocols/wire-v1.md §2: 'F' 'B' | ver | type | round_id (u32 BE).
#define FB_WIRE_MAGIC0 0x46
#define FB_WIRE_MAGIC1 0x42
#define FB_WIRE_HDR_LEN 8
// The protocol versions this library speaks (§7).
#define FB_WIRE_VERSION_MIN 1
#define FB_WIRE_VERSION_MAX 1
// HELLO and the plaintext ERROR always carry this header version (§3.1).
#define FB_WIRE_VERSION_FROZEN 1
// The largest message an aggregator accepts on a connection before its
// peer authenticated there (§1.8): every HELLO, AUTH, POLL, REFUSE and
// ERROR fits; an UPDATE does not.
#define FB_WIRE_PREAUTH_MAX 512

// Message types (§2.2). Bit 7 set = sealed in the envelope of §4.
enum fb_wire_type {
	FB_WIRE_HELLO = 0x01,       // §3.2, plaintext, client -> server
	FB_WIRE_WELCOME = 0x02,     // §3.3, plaintext, server -> client
	FB_WIRE_AUTH = 0x03,        // §3.4, plaintext, client -> server
	FB_WIRE_ERROR_PLAIN = 0x0F, // §5.7, plaintext, either way
	FB_WIRE_AUTH_OK = 0x81,     // §3.5, sealed, server -> client
	FB_WIRE_POLL = 0x82,        // §5.2, sealed, client -> server
	FB_WIRE_PLAN = 0x83,        // §5.3, sealed, server -> client
	FB_WIRE_UPDATE = 0x84,      // §5.4, sealed, client -> server
	FB_WIRE_REFUSE = 0x85,      // §5.5, sealed, client -> server
	FB_WIRE_ACK = 0x86,         // §5.6, sealed, server -> client
	FB_WIRE_ERROR = 0x8F,       // §5.7, sealed, either way
	// Secure aggregation (protocols/secagg-v1.md §6), all sealed; bodies
	// in include/fedbundle/secagg/msg.h.
	FB_WIRE_SA_ADVERT = 0x90,      // client -> server
	FB_WIRE_SA_PEERS = 0x91,       // server -> client
	FB_WIRE_SA_SHARES = 0x92,      // client -> server
	FB_WIRE_SA_INBOX = 0x93,       // server -> client
	FB_WIRE_SA_UNMASK_REQ = 0x94,  // server -> client
	FB_WIRE_SA_UNMASK = 0x95,      // client -> server
	FB_WIRE_SA_CONSISTENCY = 0x96, // client -> server (§3.5)
	FB_WIRE_SA_SIGNATURES = 0x97,  // server -> client (§3.5)
};

// True if type (a header's type byte) is sealed (§2.2: bit 7).
static inline bool
fb_wire_type_is_sealed(uint8_t type)
{
	return (type & 0x80) != 0;
}

// True if type is one of enum fb_wire_type.
bool fb_wire_type_known(uint8_t type);

// A static name such as "PLAN" for a type, "unknown" if not known.
const char *fb_wire_type_name(uint8_t type);

// Reason codes of ERROR, REFUSE and ACK (§8). Receivers treat a code they
// do not know as a generic failure.
enum fb_wire_reason {
	FB_WIRE_REASON_NONE = 0,
	FB_WIRE_REASON_UNSUPPORTED_VERSION = 1,
	FB_WIRE_REASON_UNKNOWN_KEY = 2,
	FB_WIRE_REASON_BAD_SIGNATURE = 3,
	FB_WIRE_REASON_UNKNOWN_SESSION = 4,
	FB_WIRE_REASON_AUTH_FAILED = 5,
	FB_WIRE_REASON_REPLAY = 6,
	FB_WIRE_REASON_WRONG_ROUND = 7,
	FB_WIRE_REASON_TOO_LARGE = 8,
	FB_WIRE_REASON_MALFORMED = 9,
	FB_WIRE_REASON_UNEXPECTED = 10,
	FB_WIRE_REASON_BUDGET_EXHAUSTED = 11,
	FB_WIRE_REASON_POLICY_REFUSED = 12,
	FB_WIRE_REASON_LATE = 13,
	FB_WIRE_REASON_SERVER_BUSY = 14,
	FB_WIRE_REASON_SHAPE_MISMATCH = 15,
	FB_WIRE_REASON_PRIVACY_MISMATCH = 16,
	FB_WIRE_REASON_NOT_SELECTED = 17,
	FB_WIRE_REASON_DUPLICATE = 18,
	FB_WIRE_REASON_UNSUPPORTED_FIELD = 19,
	FB_WIRE_REASON_SHUTTING_DOWN = 20,
	FB_WIRE_REASON_INTERNAL = 21,
	FB_WIRE_REASON_WRONG_CONNECTION = 22, // session of another connection
	// The update is larger than any honest update of the plan can be
	// (§5.4, §9.7).
	FB_WIRE_REASON_OVER_BOUND = 23,
	// The plan's catalogue digest is not the client's (§5.3.1, 0x001b).
	FB_WIRE_REASON_CATALOG_MISMATCH = 24,
	// A client refuses a round of secure aggregation: a bundle that does
	// not open, an unmask request its guard refuses (secagg-v1 §3.4).
	FB_WIRE_REASON_SECAGG_REFUSED = 25,
};

// A static lower-case name such as "unknown-key"; "unknown" if not known.
const char *fb_wire_reason_name(uint16_t reason);

// Big-endian loads and stores for metadata fields (§2.1).
static inline uint16_t
fb_wire_load_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
fb_wire_load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			(uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
fb_wire_load_u64(const uint8_t *p)
{
	return (uint64_t)fb_wire_load_u32(p) << 32 | fb_wire_load_u32(p + 4);
}

static inline void
fb_wire_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
fb_wire_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
fb_wire_store_u64(uint8_t *p, uint64_t v)
{
	fb_wire_store_u32(p, (uint32_t)(v >> 32));
	fb_wire_store_u32(p + 4, (uint32_t)v);
}

// §2: the fixed header of every message.
struct fb_wire_header {
	uint8_t ver;       // protocol version
	uint8_t type;      // enum fb_wire_type
	uint32_t round_id; // meaning per type (§2.3)
};

// Writes the 8 header bytes.
void fb_wire_header_encode(
		uint8_t out[FB_WIRE_HDR_LEN], const struct fb_wire_header *hdr);

// Reads the header of a message of len bytes. Checks only the magic and the
// length (FB_EPROTO); ver and type are returned as they are, for the caller
// to answer an unknown version or type with the right ERROR (§2.2, §7).
fb_err fb_wire_header_decode(struct fb_wire_header *out, const uint8_t *msg,
		size_t len) __attribute__((warn_unused_result));

// Caller-chosen bounds for decoders (§5.8). Decoders refuse more tensors,
// rows or columns than these with FB_EPROTO.
struct fb_wire_limits {
	uint32_t max_tensors; // at most FB_WIRE_MAX_TENSORS
	uint32_t max_rows;    // per tensor, >= 1
	uint32_t max_cols;    // per tensor, >= 1
	bool require_finite;  // refuse NaN and infinities in float32 payloads
};

// Longest reason text (§5.5-5.7), in bytes of printable ASCII.
#define FB_WIRE_TEXT_MAX 256
// Most tensors one message may carry (§5.8).
#define FB_WIRE_MAX_TENSORS 16

// Tensor ids (§5.8); ids 5..65535 are reserved for future tensors.
enum fb_wire_tensor_id {
	FB_WIRE_TENSOR_ITEMS = 1,     // item factors V, |I| x d
	FB_WIRE_TENSOR_BUNDLES = 2,   // bundle factors W, |B| x d
	FB_WIRE_TENSOR_ATTR_PROJ = 3, // attribute projection M, |A| x d
	// A masked input of secure aggregation (secagg-v1 §3.3): dtype U64,
	// U48 or U32 (the round's ring), release length x 1.
	FB_WIRE_TENSOR_MASKED = 4,
};

// Element types of tensor payloads (§5.8), little-endian.
enum fb_wire_dtype {
	FB_WIRE_DTYPE_F32 = 1, // IEEE-754 binary32, 4 bytes
	FB_WIRE_DTYPE_I32 = 2, // two's complement, 4 bytes; value = int * 2^exp
	// Ring elements of Z_(2^64) (secagg-v1 §2.2), 8 bytes; exp is the grid
	// exponent. A decoded view is only 4-byte aligned: read elements with
	// memcpy (or fb_wire_tensor_u64()), never through a uint64_t pointer.
	FB_WIRE_DTYPE_U64 = 3,
	// Ring elements of Z_(2^48) and Z_(2^32) (secagg-v1 §2.2, §6), 6 and
	// 4 bytes little-endian, the same use as U64. A U48 payload is
	// padded with zero bytes to a multiple of 4.
	FB_WIRE_DTYPE_U48 = 4,
	FB_WIRE_DTYPE_U32 = 5,
};

// Bytes of one element of dtype (8 for U64, 6 for U48, else 4).
static inline uint32_t
fb_wire_dtype_size(uint8_t dtype)
{
	return dtype == FB_WIRE_DTYPE_U64            ? 8u
			: dtype == FB_WIRE_DTYPE_U48 ? 6u
						     : 4u;
}

// The dtype of a masked input in Z_(2^bits) (secagg-v1 §6): U32, U48, or
// U64 for 64 (and 0, a plan without secagg_ring).
static inline uint8_t
fb_wire_dtype_of_ring(uint32_t bits)
{
	return bits == 32            ? FB_WIRE_DTYPE_U32
			: bits == 48 ? FB_WIRE_DTYPE_U48
				     : FB_WIRE_DTYPE_U64;
}

// One tensor. Decoded: data points into the decoded buffer (4-byte aligned
// when the body is), rows*cols elements, little-endian, row-major.
// Encoded: data is copied from, or, if NULL, the payload is left for the
// caller to fill through the encoder's slots (zero-copy).
struct fb_wire_tensor {
	uint16_t id;   // enum fb_wire_tensor_id
	uint8_t dtype; // enum fb_wire_dtype
	int8_t exp;    // power-of-two exponent of I32; 0 for F32
	uint32_t rows;
	uint32_t cols;
	const void *data;
};

// Payload bytes of a tensor (rows * cols * element size).
static inline uint64_t
fb_wire_tensor_bytes(const struct fb_wire_tensor *t)
{
	return (uint64_t)t->rows * t->cols * fb_wire_dtype_size(t->dtype);
}

// Element i of a U64 tensor view (little-endian, unaligned-safe).
static inline uint64_t
fb_wire_tensor_u64(const struct fb_wire_tensor *t, size_t i)
{
	const uint8_t *p = (const uint8_t *)t->data + 8 * i;
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--) {
		v = v << 8 | p[k];
	}
	return v;
}

// §5.2 POLL: "I am ready, give me the current plan". The header round_id
// is the last round the client completed (0: none); with status UPLOAD,
// the round whose update the client holds.
#define FB_WIRE_POLL_LEN 4
enum fb_wire_poll_status {
	FB_WIRE_POLL_READY = 0,            // can train now
	FB_WIRE_POLL_BUDGET_EXHAUSTED = 1, // will not train again
	FB_WIRE_POLL_PAUSED = 2,           // will not train for now
	FB_WIRE_POLL_UPLOAD = 3,           // holds an update: may it send?
	// Secure aggregation: sent its masked input (header round_id = r)
	// and waits for the unmask request (secagg-v1 §6).
	FB_WIRE_POLL_UNMASK = 4,
};
struct fb_wire_poll {
	uint8_t status; // enum fb_wire_poll_status
};

// §5.3 PLAN kinds.
enum fb_wire_plan_kind {
	FB_WIRE_PLAN_TRAIN = 1,
	FB_WIRE_PLAN_WAIT = 2,
	FB_WIRE_PLAN_DONE = 3,
	FB_WIRE_PLAN_UPLOAD = 4, // answer to POLL UPLOAD: send the update now
};

// §5.3.1 privacy granularity.
enum fb_wire_granularity {
	FB_WIRE_GRAN_NONE = 0,
	FB_WIRE_GRAN_USER = 1,
	FB_WIRE_GRAN_CLIENT = 2,
};

// §5.3.1 the defaults of the optional training switches (types
// 0x0010-0x0019) a decoder gives absent ones: item_view, use_attrs,
// user_item_view 1, batch_users 512, lr_user 0.05, local_optimizer adam,
// init_std 0.1, bias 0, train_items 1, bundle_rank 0. Sets only those
// fields of hp.
void fb_wire_hparams_defaults(struct fb_hparams *hp);

// §5.3.1 type 0x001c: a federation id is 16 random bytes the aggregator
// draws when it starts a round numbering from nothing (§2.3); all zero
// means none (absent, or unknown to a client).
#define FB_WIRE_FEDERATION_ID_LEN 16

// True if id is a federation id (not all zero).
static inline bool
fb_wire_federation_id_set(const uint8_t id[FB_WIRE_FEDERATION_ID_LEN])
{
	uint8_t any = 0;
	for (int k = 0; k < FB_WIRE_FEDERATION_ID_LEN; k++) {
		any |= id[k];
	}
	return any != 0;
}

// §5.3.1 type 0x801d (critical): the secure-aggregation parameters of a
// round (protocols/secagg-v1.md §6): consortium (16) | n u32 | t u32 |
// n_min u32 | noise_shares u32 | index u32 | n x 32-byte Ed25519 identity
// keys of indices 1..n (all big-endian), length 36 + 32 n. Allowed only
// with granularity user. Type 0x801e secagg_ring (critical, 1 byte): the
// ring width b of the round, 32 or 48 (secagg-v1 §2.2, §6); only with
// 0x801d; absent, b is 64. Checked on encoding and decoding: 3 <= n <=
// FB_WIRE_SECAGG_N_MAX, n/2 < t <= n, t <= n_min <= n, 1 <= noise_shares
// <= n_min, 1 <= index <= n, no key repeated.
#define FB_WIRE_SECAGG_N_MAX 2000
#define FB_WIRE_SECAGG_CONSORTIUM_LEN 16
#define FB_WIRE_SECAGG_KEY_LEN 32
struct fb_wire_secagg {
	uint8_t consortium[FB_WIRE_SECAGG_CONSORTIUM_LEN];
	uint32_t n;            // parties, indices 1..n
	uint32_t t;            // Shamir threshold
	uint32_t n_min;        // fewest survivors a commit may have
	uint32_t noise_shares; // h: honest shares the noise is calibrated for
	uint32_t index;        // the receiving client's index
	// The ring width b: 32, 48 or 64; 0 is 64. 0x801e is encoded only
	// for 32 and 48, so a 64-bit round's PLAN is the bytes it always
	// was; a decoder gives 64 when absent.
	uint32_t ring_bits;
	// n * FB_WIRE_SECAGG_KEY_LEN bytes: decoded, a view into the PLAN
	// body; encoded, copied from.
	const uint8_t *keys;
};

// §5.3.1 the round configuration of a TRAIN plan (a TLV block on the wire).
// Its hyper-parameters are the shared struct (hparams.h), checked by
// fb_hparams_check on encoding and decoding: learning_rate (0x0008), l2,
// item_loss_weight, negatives and dim are required; the training switches
// are optional. local_optimizer (0x0015) is enum fb_optimizer's value.
struct fb_wire_round_config {
	uint8_t granularity;     // enum fb_wire_granularity
	double sampling_rate;    // q, in (0, 1]
	double noise_multiplier; // sigma >= 0
	double clip_norm;        // C > 0
	double delta;            // in [0, 1)
	uint32_t local_epochs;   // local_epochs or local_steps > 0
	uint32_t local_steps;    // 0: run local_epochs
	bool report_eval;        // send Recall/NDCG sums in the UPDATE
	uint8_t update_dtype;    // enum fb_wire_dtype of the UPDATE tensors
	int8_t update_exp;       // its exponent (0 for F32)
	struct fb_hparams hp;
	// §5.3.1 optional training switches (types 0x0010-0x0019): encoded
	// only when has_train_opts is true (else they must be the defaults
	// above, which a receiver assumes); a decoder sets it when any of them
	// was present and fills absent ones from the defaults.
	bool has_train_opts;
	// §5.3.1 type 0x001a: the smallest number of users a client may
	// declare (user level: its releases are divided by q times its
	// declaration), from which the aggregator bounds an honest update
	// (§9.7). 0: absent (not encoded); a decoded one is >= 1.
	uint64_t min_users;
	// §5.3.1 type 0x001b: the digest of the catalogue the model's rows
	// are numbered by (include/fedbundle/data/catdir.h); encoded only
	// when has_catalog_digest, which a decoder sets when present.
	bool has_catalog_digest;
	uint8_t catalog_digest[32];
	// §5.3.1 type 0x001c: the id of the aggregator's round numbering
	// (§2.3, §6.1 "A new federation"). All zero: absent (not encoded);
	// a decoded one is never all zero.
	uint8_t federation_id[FB_WIRE_FEDERATION_ID_LEN];
	// §5.3.1 type 0x801d: secure aggregation; encoded only with
	// has_secagg, which a decoder sets when present.
	bool has_secagg;
	struct fb_wire_secagg sa;
};

// §5.3 PLAN. TRAIN carries config and the model; WAIT carries only
// retry_after_ms; DONE may carry the final model.
struct fb_wire_plan {
	uint8_t kind;            // enum fb_wire_plan_kind
	uint32_t retry_after_ms; // WAIT only, else 0
	uint32_t deadline_ms;    // TRAIN only (> 0): time left, from sending
	struct fb_wire_round_config config; // TRAIN only
	uint32_t n_tensors;
	struct fb_wire_tensor tensors[FB_WIRE_MAX_TENSORS];
};

// §5.4 UPDATE: what the client claims, its metric sums, then its update.
struct fb_wire_update {
	double clip_norm;        // C the client clipped to
	double noise_multiplier; // sigma the client noised with
	double epsilon_spent;    // as reported; >= 0, +inf when not private
	double train_loss;       // mean local training loss, finite
	double recall_sum;       // sum of Recall@20 over eval_users users
	double ndcg_sum;         // sum of NDCG@20 over eval_users users
	uint32_t eval_users;     // 0 when not evaluating (sums then 0)
	uint32_t n_tensors;
	struct fb_wire_tensor tensors[FB_WIRE_MAX_TENSORS];
};

// §5.5 REFUSE, §5.7 ERROR: a reason code and a short printable text.
struct fb_wire_reason_text {
	uint16_t reason;                 // enum fb_wire_reason
	char text[FB_WIRE_TEXT_MAX + 1]; // NUL-terminated
};

// §5.6 ACK status.
enum fb_wire_ack_status {
	FB_WIRE_ACK_ACCEPTED = 0,
	FB_WIRE_ACK_LATE = 1,
	FB_WIRE_ACK_REJECTED = 2,
};
struct fb_wire_ack {
	uint8_t status;                  // enum fb_wire_ack_status
	uint16_t reason;                 // enum fb_wire_reason
	char text[FB_WIRE_TEXT_MAX + 1]; // NUL-terminated
};

// Encoders: body is the caller's buffer of cap bytes (for a sealed
// message, the bytes at FB_ENV_BODY_OFF of it); on success *len is the
// body length. They return FB_EINVAL (detail names the field) for a value
// the spec forbids or a cap below the *_len() size. Texts are truncated to
// FB_WIRE_TEXT_MAX bytes and bytes outside 0x20..0x7e become '?'.
// For PLAN and UPDATE, slots (NULL or n_tensors entries) receives the
// address of each tensor's payload inside body: tensors whose data is NULL
// are zero-filled for the caller to write in place.

// Body size of a plan, 0 if the plan is invalid.
size_t fb_wire_plan_len(const struct fb_wire_plan *plan);
// Encodes a PLAN body (§5.3): the config block only for TRAIN.
fb_err fb_wire_plan_encode(uint8_t *body, size_t cap,
		const struct fb_wire_plan *plan, size_t *len, void **slots);

// Body size of an update, 0 if the update is invalid.
size_t fb_wire_update_len(const struct fb_wire_update *update);
// Encodes an UPDATE body (§5.4).
fb_err fb_wire_update_encode(uint8_t *body, size_t cap,
		const struct fb_wire_update *update, size_t *len, void **slots);

// Encodes a POLL body (§5.2), FB_WIRE_POLL_LEN bytes.
fb_err fb_wire_poll_encode(uint8_t *body, size_t cap,
		const struct fb_wire_poll *poll, size_t *len);

// Body size of a REFUSE or ERROR with this text (after truncation).
size_t fb_wire_reason_text_len(const char *text);
// Encodes a REFUSE body (§5.5); reason 0 is FB_EINVAL.
fb_err fb_wire_refuse_encode(uint8_t *body, size_t cap,
		const struct fb_wire_reason_text *refuse, size_t *len);
// Encodes an ERROR body (§5.7) to be sealed; reason 0 is FB_EINVAL.
fb_err fb_wire_error_encode(uint8_t *body, size_t cap,
		const struct fb_wire_reason_text *error, size_t *len);

// Body size of an ACK with this text (after truncation).
size_t fb_wire_ack_len(const char *text);
// Encodes an ACK body (§5.6); FB_EINVAL unless reason is 0 exactly when
// status is accepted.
fb_err fb_wire_ack_encode(uint8_t *body, size_t cap,
		const struct fb_wire_ack *ack, size_t *len);

// A whole plaintext ERROR message (§5.7): header (ver 1, type ERROR_PLAIN,
// round_id) then the ERROR body. At most FB_WIRE_PLAIN_ERROR_MAX bytes.
#define FB_WIRE_PLAIN_ERROR_MAX (FB_WIRE_HDR_LEN + 4 + FB_WIRE_TEXT_MAX)
fb_err fb_wire_plain_error_encode(uint8_t *msg, size_t cap, uint32_t round_id,
		uint16_t reason, const char *text, size_t *len);

// Decoders: body/len is a whole opened body (or, for the plaintext ERROR,
// the bytes after the header). They refuse with FB_EPROTO and a detail
// naming the message, the field and its offset: any length running past
// the end, trailing bytes, non-zero reserved bytes or padding, values the
// spec forbids, and tensors beyond lim. PLAN and UPDATE need body 4-byte
// aligned (FB_EINVAL otherwise: a caller bug) and return tensor views into
// body. *out is written only on success.

// Decodes a POLL body (§5.2).
fb_err fb_wire_poll_decode(struct fb_wire_poll *out, const uint8_t *body,
		size_t len) __attribute__((warn_unused_result));
// Decodes a PLAN body (§5.3); unknown optional config fields are skipped,
// unknown critical ones refused.
fb_err fb_wire_plan_decode(struct fb_wire_plan *out, const uint8_t *body,
		size_t len, const struct fb_wire_limits *lim)
		__attribute__((warn_unused_result));
// Decodes an UPDATE body (§5.4).
fb_err fb_wire_update_decode(struct fb_wire_update *out, const uint8_t *body,
		size_t len, const struct fb_wire_limits *lim)
		__attribute__((warn_unused_result));
// Decodes a REFUSE body (§5.5); reason 0 is refused.
fb_err fb_wire_refuse_decode(struct fb_wire_reason_text *out,
		const uint8_t *body, size_t len)
		__attribute__((warn_unused_result));
// Decodes an ACK body (§5.6).
fb_err fb_wire_ack_decode(struct fb_wire_ack *out, const uint8_t *body,
		size_t len) __attribute__((warn_unused_result));
// Decodes an ERROR body (§5.7), sealed or after a plaintext header.
fb_err fb_wire_error_decode(struct fb_wire_reason_text *out,
		const uint8_t *body, size_t len)
		__attribute__((warn_unused_result));

#endif
