// tests/vectors/test-vectors.c: the golden vectors of protocols/wire-v1.md
// §10, one session between fixed identities with a deterministic
// randombytes implementation (tests only). Check mode (default): every
// tests/vectors/*.hex file must be byte-for-byte what this program writes,
// each side consumes the other side's bytes as read from the files, and an
// independent re-derivation of the key schedule from the spec's formulas
// opens every sealed vector. Write mode (--write DIR) regenerates the files.
// Usage: test-vectors [--write] DIR
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/handshake.h"
#include "fedbundle/secagg/client.h"
#include "fedbundle/secagg/consist.h"
#include "fedbundle/secagg/mask.h"
#include "fedbundle/secagg/msg.h"
#include "fedbundle/secagg/server.h"
#include "fedbundle/util/fsutil.h"
#include "harness.h"

// ---- deterministic randombytes (tests only) ----

// Draw k (0-based) of n bytes = randombytes_buf_deterministic(n, seed_k),
// seed_k = BLAKE2b-256(key = MASTER, message = k as u64 big-endian).
static const uint8_t master[32] = "fedbundle wire-v1 golden vectors";
static uint64_t draw_count;

static void
draw(uint64_t k, void *buf, size_t n)
{
	uint8_t kb[8], seed[32];
	fb_wire_store_u64(kb, k);
	crypto_generichash(seed, sizeof(seed), kb, sizeof(kb), master,
			sizeof(master));
	randombytes_buf_deterministic(buf, n, seed);
}

static const char *
det_name(void)
{
	return "fedbundle-test-deterministic";
}

static void
det_buf(void *const buf, const size_t size)
{
	draw(draw_count++, buf, size);
}

static uint32_t
det_random(void)
{
	uint32_t r;
	det_buf(&r, sizeof(r));
	return r;
}

static randombytes_implementation det_impl = {
		.implementation_name = det_name,
		.random = det_random,
		.buf = det_buf,
};

// ---- vector files ----

static bool write_mode;
static const char *dir;
static char text[65536];
static size_t text_len;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text + text_len, sizeof(text) - text_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text) - text_len) {
		fb_panic("vector text too long");
	}
	text_len += (size_t)n;
}

static void
note_hex(const char *label, const uint8_t *p, size_t n)
{
	note("# %s (%zu bytes):\n", label, n);
	for (size_t i = 0; i < n; i += 32) {
		note("#   ");
		for (size_t j = i; j < n && j < i + 32; j++) {
			note("%02x", p[j]);
		}
		note("\n");
	}
}

static void
begin(const char *title, const char *section, const char *direction)
{
	text_len = 0;
	note("# fedbundle wire-v1 golden vector: %s (protocols/wire-v1.md "
	     "%s)\n",
			title, section);
	note("# Direction: %s.\n# Lines starting with '#' are comments; the "
	     "other lines are the message\n# bytes in hex, 32 per line.\n",
			direction);
}

// Finishes the current file with the message bytes. Write mode: writes
// DIR/name. Check mode: the file must equal the text exactly. Either way
// returns the message as read back from the text (what the peer consumes).
static size_t
emit(const char *name, const uint8_t *msg, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i += 32) {
		for (size_t j = i; j < len && j < i + 32; j++) {
			note("%02x", msg[j]);
		}
		note("\n");
	}
	char *path = fb_path_join(dir, name);
	CHECK(path != NULL);
	char *file = NULL;
	size_t file_len = 0;
	if (write_mode) {
		CHECK_OK(fb_write_file_atomic(path, text, text_len, 0644));
	}
	fb_err err = fb_read_file(path, 1 << 20, &file, &file_len);
	free(path);
	CHECK_OK(err);
	if (file_len != text_len || memcmp(file, text, text_len) != 0) {
		size_t i = 0;
		while (i < file_len && i < text_len && file[i] == text[i]) {
			i++;
		}
		free(file);
		HARNESS_FAIL("%s differs from what the code produces at "
			     "character %zu (regenerate only for a deliberate "
			     "protocol change)",
				name, i);
	}
	// Parse the hex lines back: the peer consumes the file's bytes.
	size_t n = 0;
	for (char *line = file; line < file + file_len;) {
		char *nl = strchr(line, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - line) : strlen(line);
		if (ll > 0 && line[0] != '#') {
			size_t got = 0;
			CHECK(sodium_hex2bin(out + n, 65536 - n, line, ll, NULL,
					      &got, NULL) == 0);
			n += got;
		}
		line += ll + 1;
	}
	free(file);
	CHECK(n == len);
	return n;
}

// ---- the session ----

static struct fb_identity *server_id, *client_id, *stranger_id;
static struct fb_roster *roster;
static struct fb_peer_key pin;
static struct fb_hs_client *hc;
static struct fb_hs_server *hs;
static struct fb_session *cs, *ss; // client's and server's sessions
static uint8_t hello[65536], welcome[65536], auth[65536], auth_ok[65536];
static size_t hello_len, welcome_len, auth_len, auth_ok_len;
static const uint64_t max_msg_len = 1048576;

static const float plan_v[6] = {0.5f, -0.25f, 1.0f, 2.0f, -1.5f, 0.125f};
static const float plan_w[4] = {1.0f, -1.0f, 0.5f, 0.75f};
static const float upd_v[6] = {0.0625f, -0.125f, 0.25f, -0.5f, 1.0f, -2.0f};
static const int32_t upd_w[4] = {256, -128, 3, -1};

static struct fb_wire_plan
expected_plan(void)
{
	struct fb_wire_plan p;
	memset(&p, 0, sizeof(p));
	p.kind = FB_WIRE_PLAN_TRAIN;
	p.deadline_ms = 600000;
	p.config = (struct fb_wire_round_config){
			.granularity = FB_WIRE_GRAN_USER,
			.sampling_rate = 0.05,
			.noise_multiplier = 1.0,
			.clip_norm = 1.0,
			.delta = 1e-5,
			.local_epochs = 1,
			.local_steps = 0,
			.hp.lr = 0.05,
			.hp.l2 = 1e-4,
			.hp.item_weight = 0.5,
			.hp.negatives = 1,
			.hp.dim = 2,
			.report_eval = true,
			.update_dtype = FB_WIRE_DTYPE_F32,
			.update_exp = 0,
	};
	p.n_tensors = 2;
	p.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, 3, 2, plan_v};
	p.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, 2, 2, plan_w};
	return p;
}

static struct fb_wire_update
expected_update(void)
{
	struct fb_wire_update u;
	memset(&u, 0, sizeof(u));
	u.clip_norm = 1.0;
	u.noise_multiplier = 1.0;
	u.epsilon_spent = 0.4375;
	u.train_loss = 0.6875;
	u.recall_sum = 1.5;
	u.ndcg_sum = 0.875;
	u.eval_users = 4;
	u.n_tensors = 2;
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, 3, 2, upd_v};
	u.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_I32, -8, 2, 2, upd_w};
	return u;
}

static const struct fb_wire_limits lim = {4, 16, 16, true};

// The key schedule of §3.6 from the spec's formulas, the deterministic
// draws and the HELLO and WELCOME bytes, without the handshake code.
static uint8_t spec_th[32], spec_shared[32], spec_c2s[32], spec_s2c[32];

static void
derive_from_spec(void)
{
	uint8_t eph_c[32], eph_s[32], e_s[32];
	draw(0, eph_c, 32);
	draw(2, eph_s, 32);
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st,
			(const uint8_t *)"fedbundle/wire-v1/transcript", 28);
	crypto_generichash_update(&st, hello, 108);
	crypto_generichash_update(&st, welcome, 124);
	crypto_generichash_final(&st, spec_th, 32);
	CHECK(crypto_scalarmult_base(e_s, eph_s) == 0);
	CHECK(crypto_scalarmult(spec_shared, eph_c, e_s) == 0);
	uint8_t m[57];
	memcpy(m, "fedbundle/wire-v1/key-c2s", 25);
	memcpy(m + 25, spec_th, 32);
	crypto_generichash(spec_c2s, 32, m, 57, spec_shared, 32);
	memcpy(m, "fedbundle/wire-v1/key-s2c", 25);
	crypto_generichash(spec_s2c, 32, m, 57, spec_shared, 32);
}

TEST(handshake_vectors)
{
	uint8_t pk[32];
	memcpy(pk, fb_identity_public_key(client_id), 32);
	CHECK_OK(fb_hs_client_create(&hc, client_id, &pin));
	struct fb_hs_server_config cfg = {.max_msg_len = max_msg_len};
	CHECK_OK(fb_hs_server_create(&hs, server_id, roster, &cfg));
	uint8_t msg[65536];
	size_t len = 0;

	CHECK_OK(fb_hs_client_hello(hc, msg, sizeof(msg), &len));
	begin("HELLO", "§3.2", "Client -> server, plaintext");
	note("# client identity: Ed25519 seed = 32 bytes 0x43, name "
	     "retailer-a\n");
	note_hex("client identity public key", pk, 32);
	uint8_t eph[32];
	draw(0, eph, 32);
	note_hex("client ephemeral X25519 secret (draw 0)", eph, 32);
	note("# layout: header 46 42 01 01 00000000 | ver_min 01 | ver_max 01 "
	     "|\n#   reserved 0000 | client pk | client ephemeral pk | "
	     "client nonce (draw 1)\n");
	hello_len = emit("hello.hex", msg, len, hello);

	struct fb_session *none = NULL;
	CHECK_OK(fb_hs_server_handle(hs, 0, hello, hello_len, msg, sizeof(msg),
			&len, &none));
	begin("WELCOME", "§3.3", "Server -> client, plaintext");
	note("# server identity: Ed25519 seed = 32 bytes 0x53, name "
	     "aggregator\n");
	note_hex("server identity public key", pin.pk, 32);
	draw(2, eph, 32);
	note_hex("server ephemeral X25519 secret (draw 2)", eph, 32);
	uint8_t th[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st,
			(const uint8_t *)"fedbundle/wire-v1/transcript", 28);
	crypto_generichash_update(&st, hello, hello_len);
	crypto_generichash_update(&st, msg, 124);
	crypto_generichash_final(&st, th, 32);
	note_hex("transcript hash TH = BLAKE2b-256(\"fedbundle/wire-v1/"
		 "transcript\" || HELLO || WELCOME[0..124))",
			th, 32);
	note("# layout: header 46 42 01 02 00000000 | reserved 00000000 | "
	     "server pk |\n#   server ephemeral pk | server nonce (draw 3) | "
	     "session id (draw 4) |\n#   Ed25519 signature of "
	     "\"fedbundle/wire-v1/server-signature\" || TH\n");
	welcome_len = emit("welcome.hex", msg, len, welcome);

	CHECK_OK(fb_hs_client_welcome(
			hc, welcome, welcome_len, msg, sizeof(msg), &len));
	begin("AUTH", "§3.4", "Client -> server, plaintext");
	note("# layout: header 46 42 01 03 00000000 | session id |\n#   "
	     "Ed25519 signature of \"fedbundle/wire-v1/client-signature\" "
	     "|| TH\n");
	auth_len = emit("auth.hex", msg, len, auth);

	CHECK_OK(fb_hs_server_handle(
			hs, 1, auth, auth_len, msg, sizeof(msg), &len, &ss));
	begin("AUTH_OK", "§3.5", "Server -> client, sealed with k_s2c, seq 0");
	derive_from_spec();
	note("# key schedule of this session (§3.6):\n");
	note_hex("X25519 shared secret", spec_shared, 32);
	note_hex("k_c2s = BLAKE2b-256(key = shared, "
		 "\"fedbundle/wire-v1/key-c2s\" || TH)",
			spec_c2s, 32);
	note_hex("k_s2c = BLAKE2b-256(key = shared, "
		 "\"fedbundle/wire-v1/key-s2c\" || TH)",
			spec_s2c, 32);
	uint8_t body[8];
	fb_wire_store_u64(body, max_msg_len);
	note_hex("plaintext body: max_msg_len u64", body, 8);
	auth_ok_len = emit("auth_ok.hex", msg, len, auth_ok);
	uint64_t max = 0;
	memcpy(msg, auth_ok, auth_ok_len); // opened in place: keep the vector
	CHECK_OK(fb_hs_client_finish(hc, msg, auth_ok_len, &cs, &max));
	CHECK(max == max_msg_len);
	CHECK(strcmp(fb_session_peer_name(ss), "retailer-a") == 0);
}

// Rebuilds the key schedule of §3.6 from the spec's formulas and the
// deterministic draws, without the handshake code, and opens AUTH_OK.
static struct fb_session *spec_c, *spec_s;

TEST(key_schedule_from_the_spec)
{
	uint8_t eph_c[32], eph_s[32], nonce_c[32], nonce_s[32], sid[16];
	draw(0, eph_c, 32);
	draw(1, nonce_c, 32);
	draw(2, eph_s, 32);
	draw(3, nonce_s, 32);
	draw(4, sid, 16);
	uint8_t e_c[32], e_s[32];
	CHECK(crypto_scalarmult_base(e_c, eph_c) == 0);
	CHECK(crypto_scalarmult_base(e_s, eph_s) == 0);
	// HELLO, by hand.
	uint8_t h[108] = {0x46, 0x42, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0};
	memcpy(h + 12, fb_identity_public_key(client_id), 32);
	memcpy(h + 44, e_c, 32);
	memcpy(h + 76, nonce_c, 32);
	CHECK(hello_len == 108 && memcmp(h, hello, 108) == 0);
	// WELCOME up to the signature, by hand.
	uint8_t w[124] = {0x46, 0x42, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
	memcpy(w + 12, pin.pk, 32);
	memcpy(w + 44, e_s, 32);
	memcpy(w + 76, nonce_s, 32);
	memcpy(w + 108, sid, 16);
	CHECK(welcome_len == 188 && memcmp(w, welcome, 124) == 0);
	uint8_t th[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st,
			(const uint8_t *)"fedbundle/wire-v1/transcript", 28);
	crypto_generichash_update(&st, h, 108);
	crypto_generichash_update(&st, w, 124);
	crypto_generichash_final(&st, th, 32);
	uint8_t m[80];
	memcpy(m, "fedbundle/wire-v1/server-signature", 34);
	memcpy(m + 34, th, 32);
	CHECK(crypto_sign_verify_detached(welcome + 124, m, 66, pin.pk) == 0);
	memcpy(m, "fedbundle/wire-v1/client-signature", 34);
	CHECK(crypto_sign_verify_detached(auth + 24, m, 66,
			      fb_identity_public_key(client_id)) == 0);
	CHECK(memcmp(auth + 8, sid, 16) == 0);
	// Both sides compute the same X25519 secret, and TH as above.
	uint8_t x2[32];
	CHECK(crypto_scalarmult(x2, eph_s, e_c) == 0);
	CHECK(memcmp(spec_shared, x2, 32) == 0);
	CHECK(memcmp(spec_th, th, 32) == 0);
	CHECK_OK(fb_session_create(&spec_c, 1, sid, spec_c2s, spec_s2c, pin.pk,
			"aggregator"));
	CHECK_OK(fb_session_create(&spec_s, 1, sid, spec_s2c, spec_c2s,
			fb_identity_public_key(client_id), "retailer-a"));
	uint8_t copy[64];
	memcpy(copy, auth_ok, auth_ok_len);
	struct fb_wire_header hdr;
	uint8_t *body;
	size_t blen;
	CHECK_OK(fb_env_open(spec_c, copy, auth_ok_len, &hdr, &body, &blen));
	CHECK(hdr.type == FB_WIRE_AUTH_OK && blen == 8);
	CHECK(fb_wire_load_u64(body) == max_msg_len);
	sodium_memzero(x2, 32);
}

// Seals body (len bytes) with the sender's session, compares with the
// file, then opens the file's bytes with the receiver's session and with
// the spec-derived one; returns the opened body in *out.
static size_t
sealed_vector(const char *name, const char *title, const char *section,
		bool from_client, uint8_t type, uint32_t round,
		const uint8_t *body, size_t len, uint8_t *file_msg,
		uint8_t **out)
{
	struct fb_session *tx = from_client ? cs : ss;
	struct fb_session *rx = from_client ? ss : cs;
	struct fb_session *spec_rx = from_client ? spec_s : spec_c;
	static _Alignas(16) uint8_t msg[65536];
	static _Alignas(16) uint8_t copy[65536];
	memcpy(msg + FB_ENV_BODY_OFF, body, len);
	uint64_t seq = fb_session_tx_seq(tx);
	char dirn[128];
	snprintf(dirn, sizeof(dirn), "%s, sealed with %s, seq %llu",
			from_client ? "Client -> server" : "Server -> client",
			from_client ? "k_c2s" : "k_s2c",
			(unsigned long long)seq);
	begin(title, section, dirn);
	note_hex("plaintext body", body, len);
	CHECK_OK(fb_env_seal(tx, msg, FB_SEALED_LEN(len), type, round));
	size_t n = emit(name, msg, FB_SEALED_LEN(len), file_msg);
	struct fb_wire_header hdr;
	uint8_t *p;
	size_t plen;
	memcpy(copy, file_msg, n);
	CHECK_OK(fb_env_open(spec_rx, copy, n, &hdr, &p, &plen));
	CHECK(plen == len && memcmp(p, body, len) == 0);
	CHECK_OK(fb_env_open(rx, file_msg, n, &hdr, &p, &plen));
	CHECK(hdr.type == type && hdr.round_id == round && hdr.ver == 1);
	*out = p;
	return plen;
}

static _Alignas(16) uint8_t file_msg[65536];
static _Alignas(16) uint8_t body_buf[65536];

TEST(poll_vector)
{
	size_t len;
	struct fb_wire_poll poll = {.status = FB_WIRE_POLL_READY};
	CHECK_OK(fb_wire_poll_encode(body_buf, sizeof(body_buf), &poll, &len));
	uint8_t *p;
	size_t n = sealed_vector("poll.hex", "POLL", "§5.2", true, FB_WIRE_POLL,
			0, body_buf, len, file_msg, &p);
	struct fb_wire_poll d;
	CHECK_OK(fb_wire_poll_decode(&d, p, n));
	CHECK(d.status == FB_WIRE_POLL_READY);
}

TEST(plan_vector)
{
	struct fb_wire_plan plan = expected_plan();
	size_t len;
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("plan.hex", "PLAN (TRAIN, round 1)", "§5.3",
			false, FB_WIRE_PLAN, 1, body_buf, len, file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_TRAIN && d.deadline_ms == 600000);
	CHECK(d.config.sampling_rate == 0.05 && d.config.delta == 1e-5);
	CHECK(d.config.hp.item_weight == 0.5 && d.config.hp.dim == 2);
	CHECK(d.n_tensors == 2 && d.tensors[0].rows == 3);
	CHECK(!d.config.has_catalog_digest);
	CHECK(memcmp(d.tensors[0].data, plan_v, sizeof(plan_v)) == 0);
	CHECK(memcmp(d.tensors[1].data, plan_w, sizeof(plan_w)) == 0);
	CHECK(d.tensors[0].data == file_msg + FB_ENV_BODY_OFF + 156 + 12);
}

TEST(update_vector)
{
	struct fb_wire_update u = expected_update();
	size_t len;
	CHECK_OK(fb_wire_update_encode(
			body_buf, sizeof(body_buf), &u, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("update.hex", "UPDATE (round 1)", "§5.4", true,
			FB_WIRE_UPDATE, 1, body_buf, len, file_msg, &p);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, p, n, &lim));
	CHECK(d.epsilon_spent == 0.4375 && d.train_loss == 0.6875);
	CHECK(d.recall_sum == 1.5 && d.ndcg_sum == 0.875 && d.eval_users == 4);
	CHECK(d.tensors[1].dtype == FB_WIRE_DTYPE_I32 &&
			d.tensors[1].exp == -8);
	CHECK(memcmp(d.tensors[0].data, upd_v, sizeof(upd_v)) == 0);
	CHECK(memcmp(d.tensors[1].data, upd_w, sizeof(upd_w)) == 0);
}

TEST(ack_vector)
{
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_ACCEPTED};
	strcpy(a.text, "update accepted");
	size_t len;
	CHECK_OK(fb_wire_ack_encode(body_buf, sizeof(body_buf), &a, &len));
	uint8_t *p;
	size_t n = sealed_vector("ack.hex", "ACK (round 1, accepted)", "§5.6",
			false, FB_WIRE_ACK, 1, body_buf, len, file_msg, &p);
	struct fb_wire_ack d;
	CHECK_OK(fb_wire_ack_decode(&d, p, n));
	CHECK(d.status == FB_WIRE_ACK_ACCEPTED && d.reason == 0);
	CHECK(strcmp(d.text, "update accepted") == 0);
}

TEST(refuse_vector)
{
	struct fb_wire_reason_text r = {
			.reason = FB_WIRE_REASON_BUDGET_EXHAUSTED};
	strcpy(r.text, "epsilon budget exhausted");
	size_t len;
	CHECK_OK(fb_wire_refuse_encode(body_buf, sizeof(body_buf), &r, &len));
	uint8_t *p;
	size_t n = sealed_vector("refuse.hex", "REFUSE (round 2)", "§5.5", true,
			FB_WIRE_REFUSE, 2, body_buf, len, file_msg, &p);
	struct fb_wire_reason_text d;
	CHECK_OK(fb_wire_refuse_decode(&d, p, n));
	CHECK(d.reason == FB_WIRE_REASON_BUDGET_EXHAUSTED);
	CHECK(strcmp(d.text, "epsilon budget exhausted") == 0);
}

TEST(error_vectors)
{
	struct fb_wire_reason_text r = {.reason = FB_WIRE_REASON_WRONG_ROUND};
	strcpy(r.text, "round 2 was not offered to you");
	size_t len;
	CHECK_OK(fb_wire_error_encode(body_buf, sizeof(body_buf), &r, &len));
	uint8_t *p;
	size_t n = sealed_vector("error.hex", "ERROR (sealed, round 2)", "§5.7",
			false, FB_WIRE_ERROR, 2, body_buf, len, file_msg, &p);
	struct fb_wire_reason_text d;
	CHECK_OK(fb_wire_error_decode(&d, p, n));
	CHECK(d.reason == FB_WIRE_REASON_WRONG_ROUND);

	// The plaintext ERROR: the server refusing a HELLO of a stranger.
	struct fb_hs_client *c = NULL;
	CHECK_OK(fb_hs_client_create(&c, stranger_id, &pin));
	uint8_t h[FB_HS_MSG_MAX], msg[FB_HS_MSG_MAX];
	size_t hl, ml;
	CHECK_OK(fb_hs_client_hello(c, h, sizeof(h), &hl));
	struct fb_session *none = NULL;
	CHECK_ERR(fb_hs_server_handle(
				  hs, 2, h, hl, msg, sizeof(msg), &ml, &none),
			FB_ECRYPTO);
	begin("ERROR (plaintext)", "§5.7",
			"Server -> client, plaintext: the reply to a HELLO "
			"whose client key\n# is not in the roster");
	n = emit("error-plain.hex", msg, ml, file_msg);
	struct fb_wire_header hdr;
	CHECK_OK(fb_wire_header_decode(&hdr, file_msg, n));
	CHECK(hdr.type == FB_WIRE_ERROR_PLAIN && hdr.ver == 1);
	CHECK_OK(fb_wire_error_decode(&d, file_msg + 8, n - 8));
	CHECK(d.reason == FB_WIRE_REASON_UNKNOWN_KEY);
	fb_hs_client_destroy(c);
}

// The upload request and its grant (§5.2 status 3, §5.3 kind 4), sealed
// after the others: their sequence numbers continue each direction's.
TEST(upload_vectors)
{
	struct fb_wire_poll poll = {.status = FB_WIRE_POLL_UPLOAD};
	size_t len;
	CHECK_OK(fb_wire_poll_encode(body_buf, sizeof(body_buf), &poll, &len));
	uint8_t *p;
	size_t n = sealed_vector("poll-upload.hex",
			"POLL (UPLOAD, round 1: may I send my update?)", "§5.2",
			true, FB_WIRE_POLL, 1, body_buf, len, file_msg, &p);
	struct fb_wire_poll d;
	CHECK_OK(fb_wire_poll_decode(&d, p, n));
	CHECK(d.status == FB_WIRE_POLL_UPLOAD);

	struct fb_wire_plan plan = {
			.kind = FB_WIRE_PLAN_UPLOAD, .deadline_ms = 30000};
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	n = sealed_vector("plan-upload.hex",
			"PLAN (UPLOAD, round 1: send it now)", "§5.3", false,
			FB_WIRE_PLAN, 1, body_buf, len, file_msg, &p);
	struct fb_wire_plan dp;
	CHECK_OK(fb_wire_plan_decode(&dp, p, n, &lim));
	CHECK(dp.kind == FB_WIRE_PLAN_UPLOAD && dp.deadline_ms == 30000);
	CHECK(dp.n_tensors == 0);
}

// The other answers a client meets (§5.2, §5.3, §5.6), sealed after the
// upload vectors, numbering continued: the ACK that answers POLL UPLOAD
// instead of PLAN UPLOAD, PLAN WAIT, a PLAN TRAIN with every optional
// training field (0x0010-0x0019) and the attribute tensor, a PLAN TRAIN
// that asks for i32 updates, and PLAN DONE with the final model.
static const float plan_m[4] = {0.25f, 0.5f, -0.75f, 1.0f};
static const float done_v[6] = {0.75f, -0.5f, 1.25f, 2.5f, -1.0f, 0.25f};
static const float done_w[4] = {1.5f, -0.75f, 0.5f, 0.0625f};

static struct fb_wire_plan
opts_plan(void)
{
	struct fb_wire_plan p = expected_plan();
	p.deadline_ms = 300000;
	p.config.has_train_opts = true;
	p.config.hp.item_view = false;
	p.config.hp.use_attrs = true;
	p.config.hp.user_item_view = false;
	p.config.hp.batch_users = 256;
	p.config.hp.lr_user = 0.025;
	p.config.hp.optimizer = FB_OPT_SGD;
	p.config.hp.init_std = 0.01;
	p.config.hp.bias = true;
	p.config.hp.train_items = false;
	p.config.hp.bundle_rank = 1;
	p.n_tensors = 3;
	p.tensors[2] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ATTR_PROJ,
			FB_WIRE_DTYPE_F32, 0, 2, 2, plan_m};
	return p;
}

static struct fb_wire_plan
i32_plan(void)
{
	struct fb_wire_plan p = expected_plan();
	p.config.granularity = FB_WIRE_GRAN_CLIENT;
	p.config.sampling_rate = 1.0;
	p.config.noise_multiplier = 0.0;
	p.config.report_eval = false;
	p.config.update_dtype = FB_WIRE_DTYPE_I32;
	p.config.update_exp = -10;
	return p;
}

// plan.hex's configuration and model with a catalogue digest: BLAKE2b-256
// of the ASCII bytes "fedbundle golden catalogue".
static struct fb_wire_plan
catalog_plan(void)
{
	struct fb_wire_plan p = expected_plan();
	static const char label[] = "fedbundle golden catalogue";
	p.config.has_catalog_digest = true;
	crypto_generichash(p.config.catalog_digest, 32,
			(const unsigned char *)label, sizeof(label) - 1, NULL,
			0);
	return p;
}

TEST(catalog_vector)
{
	struct fb_wire_plan plan = catalog_plan();
	size_t len;
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("plan-catalog.hex",
			"PLAN (TRAIN, round 4: plan.hex's config and model with "
			"a catalog_digest)",
			"§5.3, §5.3.1", false, FB_WIRE_PLAN, 4, body_buf, len,
			file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.config.has_catalog_digest);
	CHECK(memcmp(d.config.catalog_digest, plan.config.catalog_digest, 32) ==
			0);
	CHECK(d.config.min_users == 0 && !d.config.has_train_opts);
}

TEST(more_answer_vectors)
{
	// The answer to poll-upload.hex when the first copy was counted.
	struct fb_wire_ack a = {.status = FB_WIRE_ACK_REJECTED,
			.reason = FB_WIRE_REASON_DUPLICATE};
	strcpy(a.text, "already counted");
	size_t len;
	CHECK_OK(fb_wire_ack_encode(body_buf, sizeof(body_buf), &a, &len));
	uint8_t *p;
	size_t n = sealed_vector("ack-upload.hex",
			"ACK (round 1, rejected duplicate: the answer to POLL "
			"UPLOAD\n# when the update was counted already)",
			"§5.2, §5.6", false, FB_WIRE_ACK, 1, body_buf, len,
			file_msg, &p);
	struct fb_wire_ack da;
	CHECK_OK(fb_wire_ack_decode(&da, p, n));
	CHECK(da.status == FB_WIRE_ACK_REJECTED &&
			da.reason == FB_WIRE_REASON_DUPLICATE);
	CHECK(strcmp(da.text, "already counted") == 0);

	struct fb_wire_plan plan = {
			.kind = FB_WIRE_PLAN_WAIT, .retry_after_ms = 500};
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	n = sealed_vector("plan-wait.hex",
			"PLAN (WAIT, round 1: poll again in 500 ms)", "§5.3",
			false, FB_WIRE_PLAN, 1, body_buf, len, file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_WAIT && d.retry_after_ms == 500);
	CHECK(d.deadline_ms == 0 && d.n_tensors == 0);

	plan = opts_plan();
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	n = sealed_vector("plan-opts.hex",
			"PLAN (TRAIN, round 2: every optional training field, "
			"V, W and M)",
			"§5.3, §5.3.1", false, FB_WIRE_PLAN, 2, body_buf, len,
			file_msg, &p);
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	const struct fb_hparams *o = &d.config.hp;
	CHECK(d.kind == FB_WIRE_PLAN_TRAIN && d.config.has_train_opts);
	CHECK(!o->item_view && o->use_attrs && !o->user_item_view);
	CHECK(o->batch_users == 256 && o->lr_user == 0.025);
	CHECK(o->optimizer == FB_OPT_SGD && o->init_std == 0.01);
	CHECK(o->bias && !o->train_items && o->bundle_rank == 1);
	CHECK(d.n_tensors == 3 && d.tensors[2].id == FB_WIRE_TENSOR_ATTR_PROJ);
	CHECK(memcmp(d.tensors[2].data, plan_m, sizeof(plan_m)) == 0);

	plan = i32_plan();
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	n = sealed_vector("plan-i32.hex",
			"PLAN (TRAIN, round 3: client-level DP, i32 updates "
			"with exp -10)",
			"§5.3, §5.3.1, §5.8", false, FB_WIRE_PLAN, 3, body_buf,
			len, file_msg, &p);
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.config.granularity == FB_WIRE_GRAN_CLIENT);
	CHECK(d.config.update_dtype == FB_WIRE_DTYPE_I32);
	CHECK(d.config.update_exp == -10 && !d.config.has_train_opts);
	CHECK(d.config.hp.item_view && d.config.hp.batch_users == 512);

	plan = (struct fb_wire_plan){.kind = FB_WIRE_PLAN_DONE, .n_tensors = 2};
	plan.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_ITEMS,
			FB_WIRE_DTYPE_F32, 0, 3, 2, done_v};
	plan.tensors[1] = (struct fb_wire_tensor){FB_WIRE_TENSOR_BUNDLES,
			FB_WIRE_DTYPE_F32, 0, 2, 2, done_w};
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	n = sealed_vector("plan-done.hex",
			"PLAN (DONE, round 3: the final model)", "§5.3", false,
			FB_WIRE_PLAN, 3, body_buf, len, file_msg, &p);
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_DONE && d.n_tensors == 2);
	CHECK(d.retry_after_ms == 0 && d.deadline_ms == 0);
	CHECK(memcmp(d.tensors[0].data, done_v, sizeof(done_v)) == 0);
	CHECK(memcmp(d.tensors[1].data, done_w, sizeof(done_w)) == 0);
}

// A PLAN as fedbundle's aggregator sends it at user level (§5.3.1): with
// min_users (0x001a) and the federation id (0x001c) of its round
// numbering, after the vectors above, numbering continued. The id is the
// ASCII of "federation-id-v1", readable in the hex.
TEST(federation_vector)
{
	struct fb_wire_plan plan = expected_plan();
	plan.config.min_users = 1000;
	memcpy(plan.config.federation_id, "federation-id-v1",
			FB_WIRE_FEDERATION_ID_LEN);
	size_t len;
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("plan-federation.hex",
			"PLAN (TRAIN, round 1: min_users 1000 and the federation "
			"id\n# \"federation-id-v1\")",
			"§2.3, §5.3.1, §6.1", false, FB_WIRE_PLAN, 1, body_buf,
			len, file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.kind == FB_WIRE_PLAN_TRAIN && d.config.min_users == 1000);
	CHECK(memcmp(d.config.federation_id, "federation-id-v1",
			      FB_WIRE_FEDERATION_ID_LEN) == 0);
	CHECK(!d.config.has_train_opts && d.n_tensors == 2);
}

// ---- secure aggregation (protocols/secagg-v1.md §6, §8) ----

// A round 5 of secure aggregation between retailer-a (index 1, the
// session above), retailer-b (2, Ed25519 seed 32 x 0x44) and retailer-c
// (3, seed 32 x 0x45), consortium id the ASCII of "consortium-id-v1",
// n 3, t 2, n_min 2, noise_shares 2. retailer-c drops after sharing its
// keys, so the unmask request names survivors {1, 2} and dropped {3}.
// Only retailer-a's messages and the aggregator's answers to it travel
// over the session (numbering continued); b and c talk to the same
// fb_secagg_server in memory. Sealed after all the vectors above.
#define SA_ROUND 5
#define SA_DIM 4
static const int64_t sa_x[3][SA_DIM] = {
		{3, -1, 1 << 20, -7},
		{-2, 5, 0, 9},
		{100, 100, 100, 100},
};

struct sa_round {
	struct fb_identity *id[4];
	struct fb_secagg_client *c[4];
	struct fb_secagg_server *srv;
	uint8_t keys[3 * FB_ID_PK_LEN];
};

static void
sa_setup(struct sa_round *r)
{
	uint8_t seed[32];
	memset(seed, 0x44, 32);
	CHECK_OK(fb_identity_from_seed(&r->id[2], seed, "retailer-b"));
	memset(seed, 0x45, 32);
	CHECK_OK(fb_identity_from_seed(&r->id[3], seed, "retailer-c"));
	memcpy(r->keys, fb_identity_public_key(client_id), 32);
	memcpy(r->keys + 32, fb_identity_public_key(r->id[2]), 32);
	memcpy(r->keys + 64, fb_identity_public_key(r->id[3]), 32);
	struct fb_secagg_client_params cp = {.n = 3, .t = 2};
	memcpy(cp.ctx.consortium, "consortium-id-v1", 16);
	cp.ctx.round = SA_ROUND;
	for (uint32_t i = 1; i <= 3; i++) {
		cp.index = i;
		CHECK_OK(fb_secagg_client_create(&r->c[i], &cp));
	}
	struct fb_secagg_server_params sp = {
			cp.ctx, 3, 2, 2, r->keys, SA_DIM, 0, false};
	CHECK_OK(fb_secagg_server_create(&r->srv, &sp));
}

static void
sa_teardown(struct sa_round *r)
{
	for (uint32_t i = 1; i <= 3; i++) {
		fb_secagg_client_destroy(r->c[i]);
	}
	fb_secagg_server_destroy(r->srv);
	fb_identity_destroy(r->id[2]);
	fb_identity_destroy(r->id[3]);
}

static void
sa_plan(struct sa_round *r)
{
	struct fb_wire_plan plan = expected_plan();
	plan.config.local_epochs = 0;
	plan.config.local_steps = 1;
	plan.config.has_secagg = true;
	memcpy(plan.config.sa.consortium, "consortium-id-v1", 16);
	plan.config.sa.n = 3;
	plan.config.sa.t = 2;
	plan.config.sa.n_min = 2;
	plan.config.sa.noise_shares = 2;
	plan.config.sa.index = 1;
	plan.config.sa.keys = r->keys;
	size_t len;
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("plan-secagg.hex",
			"PLAN (TRAIN, round 5: plan.hex's config with "
			"local_steps 1 and the\n# critical secagg field "
			"0x801d: consortium \"consortium-id-v1\", n 3, t 2,\n# "
			"n_min 2, noise_shares 2, index 1, the keys of "
			"retailer-a, -b, -c)",
			"§5.3.1; protocols/secagg-v1.md §6", false,
			FB_WIRE_PLAN, SA_ROUND, body_buf, len, file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.config.has_secagg && d.config.sa.n == 3 &&
			d.config.sa.index == 1 && d.config.local_steps == 1);
	CHECK(memcmp(d.config.sa.keys, r->keys, sizeof(r->keys)) == 0);
}

static void
sa_adverts(struct sa_round *r)
{
	uint8_t ad[FB_SECAGG_ADVERT_LEN], msg[FB_SA_ADVERT_MSG_LEN];
	struct fb_identity *id[4] = {NULL, client_id, r->id[2], r->id[3]};
	for (uint32_t i = 1; i <= 3; i++) {
		CHECK_OK(fb_secagg_client_advert(r->c[i], id[i], ad));
		CHECK_OK(fb_sa_advert_msg_encode(msg, ad, 1000 * i));
		const uint8_t *b = msg;
		size_t n = sizeof(msg);
		if (i == 1) {
			uint8_t *p;
			n = sealed_vector("sa-advert.hex",
					"SA_ADVERT (round 5, index 1, 1000 "
					"users)",
					"§2.2; protocols/secagg-v1.md §3.1, §6",
					true, FB_WIRE_SA_ADVERT, SA_ROUND, msg,
					sizeof(msg), file_msg, &p);
			b = p;
		}
		struct fb_sa_advert_msg m;
		CHECK_OK(fb_sa_advert_msg_decode(&m, b, n));
		CHECK_OK(fb_secagg_server_add_advert(
				r->srv, i, m.advert, m.users, NULL));
	}
	CHECK_OK(fb_secagg_server_close_adverts(r->srv));
	size_t len = fb_secagg_server_peers_len(r->srv);
	fb_secagg_server_peers(r->srv, body_buf);
	uint8_t *p;
	size_t n = sealed_vector("sa-peers.hex",
			"SA_PEERS (round 5: the advertisements of indices 1, "
			"2, 3)",
			"§2.2; protocols/secagg-v1.md §6", false,
			FB_WIRE_SA_PEERS, SA_ROUND, body_buf, len, file_msg,
			&p);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_peers_decode(&l, p, n));
	CHECK(l.count == 3);
	for (uint32_t i = 1; i <= 3; i++) {
		for (uint32_t k = 0; k < 3; k++) {
			if (k + 1 != i) {
				CHECK_OK(fb_secagg_client_add_peer(r->c[i],
						fb_sa_peers_advert(&l, k),
						r->keys + 32 * k));
			}
		}
	}
}

static void
sa_shares(struct sa_round *r)
{
	for (uint32_t i = 1; i <= 3; i++) {
		size_t len = fb_sa_bundles_len(2);
		uint8_t *first = fb_sa_bundles_init(body_buf, 2);
		uint32_t k = 0;
		for (uint32_t j = 1; j <= 3; j++) {
			uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
			if (j != i) {
				CHECK_OK(fb_secagg_client_seal_shares(
						r->c[i], j, box));
				fb_sa_bundles_put(first, k++, j, box);
			}
		}
		const uint8_t *b = body_buf;
		if (i == 1) {
			uint8_t *p;
			len = sealed_vector("sa-shares.hex",
					"SA_SHARES (round 5: index 1's sealed "
					"bundles for 2 and 3)",
					"§2.2; protocols/secagg-v1.md §3.2, §6",
					true, FB_WIRE_SA_SHARES, SA_ROUND,
					body_buf, len, file_msg, &p);
			b = p;
		}
		CHECK_OK(fb_secagg_server_add_shares(r->srv, i, b, len, NULL));
	}
	CHECK_OK(fb_secagg_server_close_shares(r->srv));
	for (uint32_t i = 1; i <= 3; i++) {
		size_t len = fb_secagg_server_inbox_len(r->srv, i);
		CHECK_OK(fb_secagg_server_inbox(r->srv, i, body_buf));
		const uint8_t *b = body_buf;
		if (i == 1) {
			uint8_t *p;
			len = sealed_vector("sa-inbox.hex",
					"SA_INBOX (round 5: the bundles of 2 "
					"and 3 for index 1)",
					"§2.2; protocols/secagg-v1.md §3.2, §6",
					false, FB_WIRE_SA_INBOX, SA_ROUND,
					body_buf, len, file_msg, &p);
			b = p;
		}
		struct fb_sa_list l;
		CHECK_OK(fb_sa_bundles_decode(&l, b, len));
		for (uint32_t k = 0; k < l.count; k++) {
			CHECK_OK(fb_secagg_client_open_shares(r->c[i],
					fb_sa_bundles_party(&l, k),
					fb_sa_bundles_sealed(&l, k)));
		}
	}
}

// Masked inputs of 1 (an UPDATE over the session) and 2; 3 drops.
static void
sa_masked(struct sa_round *r)
{
	uint64_t y[SA_DIM];
	CHECK_OK(fb_secagg_client_mask(r->c[1], sa_x[0], SA_DIM, y));
	struct fb_wire_update u = {
			.clip_norm = 1.0,
			.noise_multiplier = 1.0,
			.epsilon_spent = 0.25,
			.n_tensors = 1,
	};
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			FB_WIRE_DTYPE_U64, -20, SA_DIM, 1, y};
	size_t len;
	CHECK_OK(fb_wire_update_encode(
			body_buf, sizeof(body_buf), &u, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("update-masked.hex",
			"UPDATE (round 5: index 1's masked input, tensor id 4 "
			"MASKED,\n# dtype 3 u64, exp -20, 4 x 1; its input was "
			"3, -1, 2^20, -7)",
			"§5.4, §5.8; protocols/secagg-v1.md §3.3, §6", true,
			FB_WIRE_UPDATE, SA_ROUND, body_buf, len, file_msg, &p);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, p, n, &lim));
	CHECK(d.n_tensors == 1 && d.tensors[0].dtype == FB_WIRE_DTYPE_U64);
	CHECK(fb_wire_tensor_u64(&d.tensors[0], 3) == y[3]);
	CHECK_OK(fb_secagg_server_add_masked(
			r->srv, 1, d.tensors[0].data, d.tensors[0].rows, NULL));
	CHECK_OK(fb_secagg_client_mask(r->c[2], sa_x[1], SA_DIM, y));
	CHECK_OK(fb_secagg_server_add_masked(r->srv, 2, y, SA_DIM, NULL));
	CHECK_OK(fb_secagg_server_close_masked(r->srv));
}

static void
sa_unmask(struct sa_round *r)
{
	struct fb_wire_poll poll = {.status = FB_WIRE_POLL_UNMASK};
	size_t len;
	CHECK_OK(fb_wire_poll_encode(body_buf, sizeof(body_buf), &poll, &len));
	uint8_t *p;
	size_t n = sealed_vector("poll-unmask.hex",
			"POLL (UNMASK, round 5: my masked input was accepted, "
			"what is there\n# to unmask?)",
			"§5.2; protocols/secagg-v1.md §6", true, FB_WIRE_POLL,
			SA_ROUND, body_buf, len, file_msg, &p);
	struct fb_wire_poll dp;
	CHECK_OK(fb_wire_poll_decode(&dp, p, n));
	CHECK(dp.status == FB_WIRE_POLL_UNMASK);

	static uint8_t req[64];
	size_t req_len = fb_secagg_server_unmask_req_len(r->srv);
	fb_secagg_server_unmask_req(r->srv, req);
	for (uint32_t i = 1; i <= 2; i++) {
		const uint8_t *b = req;
		n = req_len;
		if (i == 1) {
			n = sealed_vector("sa-unmask-req.hex",
					"SA_UNMASK_REQ (round 5: survivors 1, "
					"2; dropped 3)",
					"§2.2; protocols/secagg-v1.md §3.4, §6",
					false, FB_WIRE_SA_UNMASK_REQ, SA_ROUND,
					req, req_len, file_msg, &p);
			b = p;
		}
		struct fb_sa_unmask_req q;
		CHECK_OK(fb_sa_unmask_req_decode(&q, b, n));
		CHECK(q.ns == 2 && q.nd == 1);
		uint32_t surv[2], drop[1];
		fb_sa_unmask_req_copy(&q, surv, drop);
		uint8_t self[2 * FB_SHAMIR_SHARE_LEN],
				mask[FB_SHAMIR_SHARE_LEN];
		CHECK_OK(fb_secagg_client_reveal(
				r->c[i], surv, 2, drop, 1, self, mask));
		len = fb_sa_unmask_len(2, 1);
		CHECK_OK(fb_sa_unmask_encode(body_buf, 2, 1, self, mask));
		b = body_buf;
		if (i == 1) {
			len = sealed_vector("sa-unmask.hex",
					"SA_UNMASK (round 5: index 1's shares "
					"of the self-mask seeds of 1\n# and 2 "
					"and of the mask key of 3)",
					"§2.2; protocols/secagg-v1.md §3.4, §6",
					true, FB_WIRE_SA_UNMASK, SA_ROUND,
					body_buf, len, file_msg, &p);
			b = p;
		}
		CHECK_OK(fb_secagg_server_add_reveal(r->srv, i, b, len, NULL));
	}
}

TEST(secagg_vectors)
{
	struct sa_round r;
	memset(&r, 0, sizeof(r));
	sa_setup(&r);
	sa_plan(&r);
	sa_adverts(&r);
	sa_shares(&r);
	sa_masked(&r);
	sa_unmask(&r);
	int64_t sum[SA_DIM];
	CHECK_OK(fb_secagg_server_finish(r.srv, sum));
	for (int k = 0; k < SA_DIM; k++) {
		CHECK(sum[k] == sa_x[0][k] + sa_x[1][k]);
	}
	CHECK(fb_secagg_server_users(r.srv) == 3000);
	sa_teardown(&r);
}

// A second round, r 6, in Z_(2^48) (secagg-v1 §2.2): its PLAN (the
// secagg_ring field 0x801e after 0x801d) and index 1's masked input
// (dtype 4 u48) are vectors, sealed after every other one so that those
// keep their bytes; the rest runs in memory, and the sum is checked.
#define SA48_ROUND 6

static void
sa48_setup(struct sa_round *r)
{
	uint8_t seed[32];
	memset(seed, 0x44, 32);
	CHECK_OK(fb_identity_from_seed(&r->id[2], seed, "retailer-b"));
	memset(seed, 0x45, 32);
	CHECK_OK(fb_identity_from_seed(&r->id[3], seed, "retailer-c"));
	memcpy(r->keys, fb_identity_public_key(client_id), 32);
	memcpy(r->keys + 32, fb_identity_public_key(r->id[2]), 32);
	memcpy(r->keys + 64, fb_identity_public_key(r->id[3]), 32);
	struct fb_secagg_client_params cp = {.n = 3, .t = 2, .ring_bits = 48};
	memcpy(cp.ctx.consortium, "consortium-id-v1", 16);
	cp.ctx.round = SA48_ROUND;
	for (uint32_t i = 1; i <= 3; i++) {
		cp.index = i;
		CHECK_OK(fb_secagg_client_create(&r->c[i], &cp));
	}
	struct fb_secagg_server_params sp = {
			cp.ctx, 3, 2, 2, r->keys, SA_DIM, 48, false};
	CHECK_OK(fb_secagg_server_create(&r->srv, &sp));
}

static void
sa48_plan(struct sa_round *r)
{
	struct fb_wire_plan plan = expected_plan();
	plan.config.local_epochs = 0;
	plan.config.local_steps = 1;
	plan.config.has_secagg = true;
	memcpy(plan.config.sa.consortium, "consortium-id-v1", 16);
	plan.config.sa.n = 3;
	plan.config.sa.t = 2;
	plan.config.sa.n_min = 2;
	plan.config.sa.noise_shares = 2;
	plan.config.sa.index = 1;
	plan.config.sa.keys = r->keys;
	plan.config.sa.ring_bits = 48;
	size_t len;
	CHECK_OK(fb_wire_plan_encode(
			body_buf, sizeof(body_buf), &plan, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("plan-secagg48.hex",
			"PLAN (TRAIN, round 6: plan-secagg.hex's config, and "
			"the critical\n# secagg_ring field 0x801e after 0x801d: "
			"the ring Z_(2^48))",
			"§5.3.1; protocols/secagg-v1.md §2.2, §6", false,
			FB_WIRE_PLAN, SA48_ROUND, body_buf, len, file_msg, &p);
	struct fb_wire_plan d;
	CHECK_OK(fb_wire_plan_decode(&d, p, n, &lim));
	CHECK(d.config.has_secagg && d.config.sa.ring_bits == 48);
	// The field, after 0x801d: 801e 0001 30.
	static const uint8_t tlv[5] = {0x80, 0x1e, 0x00, 0x01, 0x30};
	bool found = false;
	for (size_t k = 0; k + sizeof(tlv) <= n && !found; k++) {
		found = memcmp(p + k, tlv, sizeof(tlv)) == 0;
	}
	CHECK(found);
}

// Adverts, shares and inboxes of the three parties, in memory.
static void
sa48_exchange(struct sa_round *r)
{
	struct fb_identity *id[4] = {NULL, client_id, r->id[2], r->id[3]};
	for (uint32_t i = 1; i <= 3; i++) {
		uint8_t ad[FB_SECAGG_ADVERT_LEN];
		CHECK_OK(fb_secagg_client_advert(r->c[i], id[i], ad));
		CHECK_OK(fb_secagg_server_add_advert(
				r->srv, i, ad, 1000, NULL));
	}
	CHECK_OK(fb_secagg_server_close_adverts(r->srv));
	fb_secagg_server_peers(r->srv, body_buf);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_peers_decode(
			&l, body_buf, fb_secagg_server_peers_len(r->srv)));
	for (uint32_t i = 1; i <= 3; i++) {
		for (uint32_t k = 0; k < 3; k++) {
			if (k + 1 != i) {
				CHECK_OK(fb_secagg_client_add_peer(r->c[i],
						fb_sa_peers_advert(&l, k),
						r->keys + 32 * k));
			}
		}
	}
	for (uint32_t i = 1; i <= 3; i++) {
		uint8_t *first = fb_sa_bundles_init(body_buf, 2);
		uint32_t k = 0;
		for (uint32_t j = 1; j <= 3; j++) {
			uint8_t box[FB_SECAGG_SHARES_SEALED_LEN];
			if (j != i) {
				CHECK_OK(fb_secagg_client_seal_shares(
						r->c[i], j, box));
				fb_sa_bundles_put(first, k++, j, box);
			}
		}
		CHECK_OK(fb_secagg_server_add_shares(r->srv, i, body_buf,
				fb_sa_bundles_len(2), NULL));
	}
	CHECK_OK(fb_secagg_server_close_shares(r->srv));
	for (uint32_t i = 1; i <= 3; i++) {
		size_t len = fb_secagg_server_inbox_len(r->srv, i);
		CHECK_OK(fb_secagg_server_inbox(r->srv, i, body_buf));
		CHECK_OK(fb_sa_bundles_decode(&l, body_buf, len));
		for (uint32_t k = 0; k < l.count; k++) {
			CHECK_OK(fb_secagg_client_open_shares(r->c[i],
					fb_sa_bundles_party(&l, k),
					fb_sa_bundles_sealed(&l, k)));
		}
	}
}

// Index 1's masked input as a vector, 2's in memory; 3 drops.
static void
sa48_masked(struct sa_round *r)
{
	uint64_t y[SA_DIM];
	uint8_t packed[SA_DIM * 6];
	CHECK_OK(fb_secagg_client_mask(r->c[1], sa_x[0], SA_DIM, y));
	fb_secagg_ring_pack(packed, y, SA_DIM, 48);
	struct fb_wire_update u = {
			.clip_norm = 1.0,
			.noise_multiplier = 1.0,
			.epsilon_spent = 0.25,
			.n_tensors = 1,
	};
	u.tensors[0] = (struct fb_wire_tensor){FB_WIRE_TENSOR_MASKED,
			FB_WIRE_DTYPE_U48, -20, SA_DIM, 1, packed};
	size_t len;
	CHECK_OK(fb_wire_update_encode(
			body_buf, sizeof(body_buf), &u, &len, NULL));
	uint8_t *p;
	size_t n = sealed_vector("update-masked48.hex",
			"UPDATE (round 6: index 1's masked input in Z_(2^48), "
			"tensor id 4\n# MASKED, dtype 4 u48, exp -20, 4 x 1: 24 "
			"bytes; its input was 3, -1, 2^20, -7)",
			"§5.4, §5.8; protocols/secagg-v1.md §2.2, §3.3, §6",
			true, FB_WIRE_UPDATE, SA48_ROUND, body_buf, len,
			file_msg, &p);
	CHECK(len == 52 + 4 + 12 + 24);
	struct fb_wire_update d;
	CHECK_OK(fb_wire_update_decode(&d, p, n, &lim));
	CHECK(d.n_tensors == 1 && d.tensors[0].dtype == FB_WIRE_DTYPE_U48);
	CHECK_OK(fb_secagg_server_add_masked(
			r->srv, 1, d.tensors[0].data, d.tensors[0].rows, NULL));
	CHECK_OK(fb_secagg_client_mask(r->c[2], sa_x[1], SA_DIM, y));
	fb_secagg_ring_pack(packed, y, SA_DIM, 48);
	CHECK_OK(fb_secagg_server_add_masked(r->srv, 2, packed, SA_DIM, NULL));
	CHECK_OK(fb_secagg_server_close_masked(r->srv));
}

static void
sa48_unmask(struct sa_round *r)
{
	static uint8_t req[64];
	size_t req_len = fb_secagg_server_unmask_req_len(r->srv);
	fb_secagg_server_unmask_req(r->srv, req);
	for (uint32_t i = 1; i <= 2; i++) {
		struct fb_sa_unmask_req q;
		CHECK_OK(fb_sa_unmask_req_decode(&q, req, req_len));
		uint32_t surv[2], drop[1];
		fb_sa_unmask_req_copy(&q, surv, drop);
		uint8_t self[2 * FB_SHAMIR_SHARE_LEN],
				mask[FB_SHAMIR_SHARE_LEN];
		CHECK_OK(fb_secagg_client_reveal(
				r->c[i], surv, 2, drop, 1, self, mask));
		CHECK_OK(fb_sa_unmask_encode(body_buf, 2, 1, self, mask));
		CHECK_OK(fb_secagg_server_add_reveal(r->srv, i, body_buf,
				fb_sa_unmask_len(2, 1), NULL));
	}
}

TEST(secagg48_vectors)
{
	struct sa_round r;
	memset(&r, 0, sizeof(r));
	sa48_setup(&r);
	sa48_plan(&r);
	sa48_exchange(&r);
	sa48_masked(&r);
	sa48_unmask(&r);
	int64_t sum[SA_DIM];
	CHECK_OK(fb_secagg_server_finish(r.srv, sum));
	for (int k = 0; k < SA_DIM; k++) {
		CHECK(sum[k] == sa_x[0][k] + sa_x[1][k]);
	}
	sa_teardown(&r);
}

// The consistency round (secagg-v1 §3.5) of round 5, sealed after every
// other vector (so those keep their bytes): retailer-a's signature of the
// sets of sa-unmask-req.hex (survivors 1, 2; dropped 3), and the
// signatures of 1 and 2 the aggregator forwards. Ed25519 is deterministic:
// no random draw.
TEST(secagg_consistency_vectors)
{
	static const uint32_t surv[2] = {1, 2}, drop[1] = {3};
	uint8_t req[16];
	CHECK_OK(fb_sa_unmask_req_encode(req, surv, 2, drop, 1));
	struct fb_secagg_ctx ctx = {.round = SA_ROUND};
	memcpy(ctx.consortium, "consortium-id-v1", 16);
	struct fb_identity *b = NULL;
	uint8_t seed[32];
	memset(seed, 0x44, 32);
	CHECK_OK(fb_identity_from_seed(&b, seed, "retailer-b"));
	uint8_t sig1[64], sig2[64];
	CHECK_OK(fb_secagg_consist_sign(
			sig1, &ctx, req, sizeof(req), client_id));
	CHECK_OK(fb_secagg_consist_sign(sig2, &ctx, req, sizeof(req), b));
	uint8_t *p;
	size_t n = sealed_vector("sa-consistency.hex",
			"SA_CONSISTENCY (round 5: index 1's Ed25519 signature "
			"of the sets\n# of sa-unmask-req.hex: survivors 1, 2; "
			"dropped 3)",
			"§2.2; protocols/secagg-v1.md §3.5, §6", true,
			FB_WIRE_SA_CONSISTENCY, SA_ROUND, sig1, sizeof(sig1),
			file_msg, &p);
	const uint8_t *got;
	CHECK_OK(fb_sa_consistency_decode(&got, p, n));
	CHECK_OK(fb_secagg_consist_verify(got, &ctx, req, sizeof(req),
			fb_identity_public_key(client_id), 1));
	uint8_t body[4 + 2 * 68];
	uint8_t *first = fb_sa_sigs_init(body, 2);
	fb_sa_sigs_put(first, 0, 1, sig1);
	fb_sa_sigs_put(first, 1, 2, sig2);
	CHECK(fb_sa_sigs_len(2) == sizeof(body));
	n = sealed_vector("sa-signatures.hex",
			"SA_SIGNATURES (round 5: the signatures of indices 1 "
			"and 2 over\n# the same sets)",
			"§2.2; protocols/secagg-v1.md §3.5, §6", false,
			FB_WIRE_SA_SIGNATURES, SA_ROUND, body, sizeof(body),
			file_msg, &p);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_sigs_decode(&l, p, n));
	CHECK(l.count == 2 && fb_sa_sigs_signer(&l, 1) == 2);
	CHECK_OK(fb_secagg_consist_verify(fb_sa_sigs_sig(&l, 1), &ctx, req,
			sizeof(req), fb_identity_public_key(b), 2));
	// Over other sets (3 a survivor) the signature does not verify.
	static const uint32_t surv3[3] = {1, 2, 3};
	uint8_t other[16];
	CHECK_OK(fb_sa_unmask_req_encode(other, surv3, 3, NULL, 0));
	CHECK_ERR(fb_secagg_consist_verify(fb_sa_sigs_sig(&l, 1), &ctx, other,
				  sizeof(other), fb_identity_public_key(b), 2),
			FB_ECRYPTO);
	fb_identity_destroy(b);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		write_mode = true;
		dir = argv[2];
	} else if (argc == 2) {
		dir = argv[1];
	} else {
		fprintf(stderr, "usage: test-vectors [--write] DIR\n");
		return 99;
	}
	// Must precede sodium_init(); the draws are counted from 0 after it.
	randombytes_set_implementation(&det_impl);
	if (sodium_init() < 0) {
		return 99;
	}
	draw_count = 0;
	uint8_t seed[32];
	memset(seed, 0x53, 32);
	fb_err e1 = fb_identity_from_seed(&server_id, seed, "aggregator");
	memset(seed, 0x43, 32);
	fb_err e2 = fb_identity_from_seed(&client_id, seed, "retailer-a");
	memset(seed, 0x58, 32);
	fb_err e3 = fb_identity_from_seed(&stranger_id, seed, "stranger");
	if (e1 != FB_OK || e2 != FB_OK || e3 != FB_OK ||
			fb_roster_create(&roster) != FB_OK ||
			fb_roster_add(roster, fb_identity_public_key(client_id),
					"retailer-a") != FB_OK) {
		return 99;
	}
	memcpy(pin.pk, fb_identity_public_key(server_id), 32);
	strcpy(pin.name, "aggregator");
	RUN(handshake_vectors);
	RUN(key_schedule_from_the_spec);
	RUN(poll_vector);
	RUN(plan_vector);
	RUN(update_vector);
	RUN(ack_vector);
	RUN(refuse_vector);
	RUN(error_vectors);
	RUN(upload_vectors);
	RUN(more_answer_vectors);
	RUN(catalog_vector);
	RUN(federation_vector);
	RUN(secagg_vectors);
	RUN(secagg48_vectors);
	RUN(secagg_consistency_vectors);
	fb_session_destroy(cs);
	fb_session_destroy(ss);
	fb_session_destroy(spec_c);
	fb_session_destroy(spec_s);
	fb_hs_client_destroy(hc);
	fb_hs_server_destroy(hs);
	fb_roster_destroy(roster);
	fb_identity_destroy(server_id);
	fb_identity_destroy(client_id);
	fb_identity_destroy(stranger_id);
	return harness_done();
}
