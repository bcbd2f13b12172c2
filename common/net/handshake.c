// common/net/handshake.c: the key exchange of protocols/wire-v1.md §3.
// Invariants: every secret (ephemeral X25519 keys, shared secrets, derived
// keys) lives in sodium_malloc memory or in stack buffers wiped before
// return; a refused message changes neither side's state (the server only
// drops expired pending entries); the server does only cheap checks (sizes,
// version, roster) before any public-key operation; the pending table has a
// fixed size chosen at creation, so HELLO floods evict old entries instead
// of growing memory. Randomness is drawn in a fixed order (client: ephemeral
// secret, nonce; server: ephemeral secret, nonce, session id) so the golden
// vectors can reproduce it with a deterministic randombytes implementation.
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/net/handshake.h"
#include "fedbundle/util/log.h"

#define LABEL_TRANSCRIPT "fedbundle/wire-v1/transcript"
#define LABEL_SERVER_SIG "fedbundle/wire-v1/server-signature"
#define LABEL_CLIENT_SIG "fedbundle/wire-v1/client-signature"
#define LABEL_KEY_C2S "fedbundle/wire-v1/key-c2s"
#define LABEL_KEY_S2C "fedbundle/wire-v1/key-s2c"
#define TH_LEN 32
#define SIG_MSG_MAX 96                // longest label + TH
#define X_LEN crypto_scalarmult_BYTES // 32

// Offsets of §3.2-3.4.
#define HELLO_VMIN 8
#define HELLO_VMAX 9
#define HELLO_RSV 10
#define HELLO_PK 12
#define HELLO_EPH 44
#define HELLO_NONCE 76
#define WELCOME_RSV 8
#define WELCOME_PK 12
#define WELCOME_EPH 44
#define WELCOME_NONCE 76
#define WELCOME_SID 108
#define WELCOME_SIG 124
#define AUTH_SID 8
#define AUTH_SIG 24
#define AUTH_OK_BODY_LEN 8

_Static_assert(WELCOME_SIG + FB_ID_SIG_LEN == FB_HS_WELCOME_LEN, "WELCOME");
_Static_assert(AUTH_SIG + FB_ID_SIG_LEN == FB_HS_AUTH_LEN, "AUTH");
_Static_assert(HELLO_NONCE + FB_HS_NONCE_LEN == FB_HS_HELLO_LEN, "HELLO");

// TH = BLAKE2b-256(LABEL_TRANSCRIPT || HELLO || WELCOME without signature).
static void
transcript_hash(uint8_t th[TH_LEN], const uint8_t *hello,
		const uint8_t *welcome)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, TH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)LABEL_TRANSCRIPT,
			strlen(LABEL_TRANSCRIPT));
	crypto_generichash_update(&st, hello, FB_HS_HELLO_LEN);
	crypto_generichash_update(&st, welcome, WELCOME_SIG);
	crypto_generichash_final(&st, th, TH_LEN);
	sodium_memzero(&st, sizeof(st));
}

// The message an identity signs: label || TH.
static size_t
sig_message(uint8_t *out, const char *label, const uint8_t th[TH_LEN])
{
	size_t n = strlen(label);
	if (n + TH_LEN > SIG_MSG_MAX) {
		fb_panic("handshake: label '%s' too long", label);
	}
	memcpy(out, label, n);
	memcpy(out + n, th, TH_LEN);
	return n + TH_LEN;
}

// k = BLAKE2b-256(key = shared, label || TH).
static void
derive_key(uint8_t k[FB_ENV_KEY_LEN], const uint8_t shared[X_LEN],
		const char *label, const uint8_t th[TH_LEN])
{
	uint8_t m[SIG_MSG_MAX];
	size_t n = sig_message(m, label, th);
	crypto_generichash(k, FB_ENV_KEY_LEN, m, n, shared, X_LEN);
	sodium_memzero(m, sizeof(m));
}

// Derives both direction keys from our ephemeral secret and their public
// ephemeral key. FB_ECRYPTO if the shared secret is all zero (low order).
static fb_err
derive_keys(uint8_t c2s[FB_ENV_KEY_LEN], uint8_t s2c[FB_ENV_KEY_LEN],
		const uint8_t eph_sk[X_LEN], const uint8_t peer_eph[X_LEN],
		const uint8_t th[TH_LEN])
{
	uint8_t shared[X_LEN];
	if (crypto_scalarmult(shared, eph_sk, peer_eph) != 0) {
		sodium_memzero(shared, sizeof(shared));
		return FB_ECRYPTO;
	}
	derive_key(c2s, shared, LABEL_KEY_C2S, th);
	derive_key(s2c, shared, LABEL_KEY_S2C, th);
	sodium_memzero(shared, sizeof(shared));
	return FB_OK;
}

static void
put_header(uint8_t *out, uint8_t ver, uint8_t type)
{
	struct fb_wire_header hdr = {.ver = ver, .type = type, .round_id = 0};
	fb_wire_header_encode(out, &hdr);
}

// Checks magic, type, round_id 0 and the exact length of a handshake
// message; returns the header version in *ver.
static fb_err
check_plain(const uint8_t *msg, size_t len, uint8_t type, size_t want,
		uint8_t *ver)
{
	struct fb_wire_header hdr;
	fb_err err = fb_wire_header_decode(&hdr, msg, len);
	if (err != FB_OK) {
		return err;
	}
	if (hdr.type != type) {
		return fb_errorf(FB_EPROTO, "expected %s, got type 0x%02x (%s)",
				fb_wire_type_name(type), hdr.type,
				fb_wire_type_name(hdr.type));
	}
	if (len != want) {
		return fb_errorf(FB_EPROTO, "%s of %zu bytes, expected %zu",
				fb_wire_type_name(type), len, want);
	}
	if (hdr.round_id != 0) {
		return fb_errorf(FB_EPROTO, "%s with round_id %u, expected 0",
				fb_wire_type_name(type), hdr.round_id);
	}
	*ver = hdr.ver;
	return FB_OK;
}

// A short, log-safe fingerprint of a public key: its first 6 bytes in hex.
static const char *
key_prefix(const uint8_t *pk, char buf[13])
{
	sodium_bin2hex(buf, 13, pk, 6);
	return buf;
}

// ---- client ----

enum client_state { C_INIT, C_HELLO_SENT, C_AUTH_SENT, C_DONE };

struct fb_hs_client {
	enum client_state state;
	const struct fb_identity *id;
	struct fb_peer_key server;
	uint8_t eph_sk[X_LEN];
	uint8_t hello[FB_HS_HELLO_LEN];
	struct fb_session *session; // after an accepted WELCOME
	uint16_t refusal;
	uint8_t keys[2 * FB_ENV_KEY_LEN]; // scratch: c2s || s2c
};

fb_err
fb_hs_client_create(struct fb_hs_client **out, const struct fb_identity *id,
		const struct fb_peer_key *server)
{
	struct fb_hs_client *c = sodium_malloc(sizeof(*c));
	if (c == NULL) {
		return FB_ENOMEM;
	}
	memset(c, 0, sizeof(*c));
	c->state = C_INIT;
	c->id = id;
	c->server = *server;
	*out = c;
	return FB_OK;
}

void
fb_hs_client_destroy(struct fb_hs_client *c)
{
	if (c != NULL) {
		fb_session_destroy(c->session);
		sodium_free(c);
	}
}

uint16_t
fb_hs_client_refusal(const struct fb_hs_client *c)
{
	return c->refusal;
}

fb_err
fb_hs_client_hello(
		struct fb_hs_client *c, uint8_t *out, size_t cap, size_t *len)
{
	if (c->state != C_INIT) {
		return fb_errorf(FB_ESTATE, "HELLO was already sent");
	}
	if (cap < FB_HS_HELLO_LEN) {
		return fb_errorf(FB_EINVAL,
				"HELLO: buffer of %zu bytes, need %d", cap,
				FB_HS_HELLO_LEN);
	}
	uint8_t *h = c->hello;
	put_header(h, FB_WIRE_VERSION_FROZEN, FB_WIRE_HELLO);
	h[HELLO_VMIN] = FB_WIRE_VERSION_MIN;
	h[HELLO_VMAX] = FB_WIRE_VERSION_MAX;
	h[HELLO_RSV] = h[HELLO_RSV + 1] = 0;
	memcpy(h + HELLO_PK, fb_identity_public_key(c->id), FB_ID_PK_LEN);
	randombytes_buf(c->eph_sk, X_LEN);
	crypto_scalarmult_base(h + HELLO_EPH, c->eph_sk);
	randombytes_buf(h + HELLO_NONCE, FB_HS_NONCE_LEN);
	memcpy(out, h, FB_HS_HELLO_LEN);
	*len = FB_HS_HELLO_LEN;
	c->state = C_HELLO_SENT;
	return FB_OK;
}

// A plaintext ERROR where a handshake reply was expected: records its
// reason and returns FB_EPROTO with the server's text.
static fb_err
client_refused(struct fb_hs_client *c, const char *step, const uint8_t *msg,
		size_t len)
{
	struct fb_wire_reason_text e;
	fb_err err = fb_wire_error_decode(
			&e, msg + FB_WIRE_HDR_LEN, len - FB_WIRE_HDR_LEN);
	if (err != FB_OK) {
		return err;
	}
	c->refusal = e.reason;
	return fb_errorf(FB_EPROTO, "server %s refused the %s: %s (%s)",
			c->server.name, step, fb_wire_reason_name(e.reason),
			e.text);
}

fb_err
fb_hs_client_welcome(struct fb_hs_client *c, const uint8_t *msg, size_t len,
		uint8_t *out, size_t cap, size_t *out_len)
{
	if (c->state != C_HELLO_SENT) {
		return fb_errorf(FB_ESTATE, "WELCOME not expected now");
	}
	if (cap < FB_HS_AUTH_LEN) {
		return fb_errorf(FB_EINVAL,
				"AUTH: buffer of %zu bytes, need %d", cap,
				FB_HS_AUTH_LEN);
	}
	if (len >= FB_WIRE_HDR_LEN && msg[0] == FB_WIRE_MAGIC0 &&
			msg[1] == FB_WIRE_MAGIC1 &&
			msg[3] == FB_WIRE_ERROR_PLAIN) {
		return client_refused(c, "HELLO", msg, len);
	}
	uint8_t ver = 0;
	fb_err err = check_plain(
			msg, len, FB_WIRE_WELCOME, FB_HS_WELCOME_LEN, &ver);
	if (err != FB_OK) {
		return err;
	}
	if (ver < c->hello[HELLO_VMIN] || ver > c->hello[HELLO_VMAX]) {
		return fb_errorf(FB_EPROTO,
				"WELCOME chose version %u outside the offered "
				"%u-%u",
				ver, c->hello[HELLO_VMIN],
				c->hello[HELLO_VMAX]);
	}
	for (size_t i = WELCOME_RSV; i < WELCOME_PK; i++) {
		if (msg[i] != 0) {
			return fb_errorf(FB_EPROTO,
					"WELCOME: reserved byte at offset %zu "
					"is not zero",
					i);
		}
	}
	char kp[13];
	if (sodium_memcmp(msg + WELCOME_PK, c->server.pk, FB_ID_PK_LEN) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"WELCOME: server key %s... is not the pinned "
				"key of %s",
				key_prefix(msg + WELCOME_PK, kp),
				c->server.name);
	}
	uint8_t th[TH_LEN];
	uint8_t m[SIG_MSG_MAX];
	transcript_hash(th, c->hello, msg);
	size_t mlen = sig_message(m, LABEL_SERVER_SIG, th);
	if (crypto_sign_verify_detached(
			    msg + WELCOME_SIG, m, mlen, c->server.pk) != 0) {
		return fb_errorf(FB_ECRYPTO,
				"WELCOME: signature of %s does not verify "
				"(tampered HELLO or WELCOME, or downgrade)",
				c->server.name);
	}
	uint8_t *keys = c->keys;
	struct fb_session *session = NULL;
	uint8_t *c2s = keys, *s2c = keys + FB_ENV_KEY_LEN;
	err = derive_keys(c2s, s2c, c->eph_sk, msg + WELCOME_EPH, th);
	if (err != FB_OK) {
		err = fb_errorf(FB_ECRYPTO,
				"WELCOME: server ephemeral key has low order");
		goto fail;
	}
	err = fb_session_create(&session, ver, msg + WELCOME_SID, c2s, s2c,
			c->server.pk, c->server.name);
	if (err != FB_OK) {
		goto fail;
	}
	err = fb_identity_sign(c->id, out + AUTH_SIG, m,
			sig_message(m, LABEL_CLIENT_SIG, th));
	if (err != FB_OK) {
		goto fail;
	}
	put_header(out, ver, FB_WIRE_AUTH);
	memcpy(out + AUTH_SID, msg + WELCOME_SID, FB_ENV_SID_LEN);
	*out_len = FB_HS_AUTH_LEN;
	c->session = session;
	sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
	c->state = C_AUTH_SENT;
	sodium_memzero(keys, sizeof(c->keys));
	return FB_OK;
fail:
	fb_session_destroy(session);
	sodium_memzero(keys, sizeof(c->keys));
	return err;
}

fb_err
fb_hs_client_finish(struct fb_hs_client *c, uint8_t *msg, size_t len,
		struct fb_session **session, uint64_t *max_msg_len)
{
	if (c->state != C_AUTH_SENT) {
		return fb_errorf(FB_ESTATE, "AUTH_OK not expected now");
	}
	struct fb_wire_header hdr;
	fb_err err = fb_wire_header_decode(&hdr, msg, len);
	if (err != FB_OK) {
		return err;
	}
	if (hdr.type == FB_WIRE_ERROR_PLAIN) {
		return client_refused(c, "AUTH", msg, len);
	}
	if (hdr.type != FB_WIRE_AUTH_OK || len != FB_HS_AUTH_OK_LEN ||
			hdr.round_id != 0) {
		return fb_errorf(FB_EPROTO,
				"expected a %d-byte AUTH_OK for round 0, got "
				"%s of %zu bytes for round %u",
				(int)FB_HS_AUTH_OK_LEN,
				fb_wire_type_name(hdr.type), len, hdr.round_id);
	}
	uint8_t *body;
	size_t body_len;
	err = fb_env_open(c->session, msg, len, &hdr, &body, &body_len);
	if (err != FB_OK) {
		return err;
	}
	*max_msg_len = fb_wire_load_u64(body);
	*session = c->session;
	c->session = NULL;
	c->state = C_DONE;
	return FB_OK;
}

// ---- server ----

struct pending {
	bool used;
	uint8_t version;
	uint64_t created_ms;
	uint8_t sid[FB_ENV_SID_LEN];
	uint8_t client_pk[FB_ID_PK_LEN];
	uint8_t th[TH_LEN];
	uint8_t c2s[FB_ENV_KEY_LEN];
	uint8_t s2c[FB_ENV_KEY_LEN];
};

// Working memory for one HELLO, allocated once: sodium_malloc costs
// several system calls, too much to pay per handshake.
struct scratch {
	struct pending entry;
	uint8_t eph_sk[X_LEN];
};

struct fb_hs_server {
	const struct fb_identity *id;
	const struct fb_roster *roster;
	struct fb_hs_server_config cfg;
	struct pending *table; // cfg.max_pending entries, sodium_malloc'd
	size_t n_pending;
	struct scratch *scratch;    // secrets of the HELLO being handled
	uint64_t abandon_logged_ms; // note_abandoned()'s last line; 0: none
};

fb_err
fb_hs_server_create(struct fb_hs_server **out, const struct fb_identity *id,
		const struct fb_roster *roster,
		const struct fb_hs_server_config *cfg)
{
	struct fb_hs_server_config c = {0};
	if (cfg != NULL) {
		c = *cfg;
	}
	if (c.max_pending == 0) {
		c.max_pending = FB_HS_DEFAULT_MAX_PENDING;
	}
	if (c.max_age_ms == 0) {
		c.max_age_ms = FB_HS_DEFAULT_MAX_AGE_MS;
	}
	if (c.max_per_key == 0) {
		c.max_per_key = FB_HS_DEFAULT_MAX_PER_KEY;
	}
	if (c.max_pending > (1u << 20)) {
		return fb_errorf(FB_EINVAL,
				"max_pending %u is above the 1048576 limit",
				c.max_pending);
	}
	struct fb_hs_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return FB_ENOMEM;
	}
	s->table = sodium_allocarray(c.max_pending, sizeof(*s->table));
	s->scratch = sodium_malloc(sizeof(*s->scratch));
	if (s->table == NULL || s->scratch == NULL) {
		sodium_free(s->table);
		sodium_free(s->scratch);
		free(s);
		return FB_ENOMEM;
	}
	memset(s->table, 0, c.max_pending * sizeof(*s->table));
	s->id = id;
	s->roster = roster;
	s->cfg = c;
	*out = s;
	return FB_OK;
}

void
fb_hs_server_destroy(struct fb_hs_server *s)
{
	if (s != NULL) {
		sodium_free(s->table);
		sodium_free(s->scratch);
		free(s);
	}
}

void
fb_hs_server_set_roster(struct fb_hs_server *s, const struct fb_roster *roster)
{
	s->roster = roster;
}

size_t
fb_hs_server_pending(const struct fb_hs_server *s)
{
	return s->n_pending;
}

static void
drop_pending(struct fb_hs_server *s, struct pending *p)
{
	sodium_memzero(p, sizeof(*p));
	s->n_pending--;
}

// Logs a pending handshake dropped without its AUTH: HELLO answered, AUTH
// never came, most often from a client that pinned another aggregator key
// (it refuses our WELCOME and says so in its own log). At most one line per
// max_age_ms, so a HELLO flood under an enrolled key cannot flood the log.
static void
note_abandoned(struct fb_hs_server *s, const struct pending *p, uint64_t now_ms)
{
	if (s->abandon_logged_ms != 0 &&
			now_ms - s->abandon_logged_ms < s->cfg.max_age_ms) {
		return;
	}
	s->abandon_logged_ms = now_ms != 0 ? now_ms : 1;
	const struct fb_peer_key *peer =
			fb_roster_find(s->roster, p->client_pk);
	fb_log(FB_LOG_WARN,
			"handshake of %s abandoned: HELLO without AUTH (does "
			"its pinned aggregator key match this aggregator's?)",
			peer != NULL ? peer->name : "a revoked client");
}

static void
expire_pending(struct fb_hs_server *s, uint64_t now_ms)
{
	for (uint32_t i = 0; i < s->cfg.max_pending && s->n_pending > 0; i++) {
		struct pending *p = &s->table[i];
		if (p->used &&
				(now_ms < p->created_ms ||
						now_ms - p->created_ms >
								s->cfg.max_age_ms)) {
			note_abandoned(s, p, now_ms);
			drop_pending(s, p);
		}
	}
}

// The slot for a new pending handshake of client_pk: the oldest of that
// key's if it already has max_per_key, else a free slot, else the oldest
// of all (§3.8).
static struct pending *
slot_for_new(struct fb_hs_server *s, const uint8_t client_pk[FB_ID_PK_LEN],
		uint64_t now_ms)
{
	struct pending *oldest = NULL, *oldest_of_key = NULL, *unused = NULL;
	uint32_t of_key = 0;
	for (uint32_t i = 0; i < s->cfg.max_pending; i++) {
		struct pending *p = &s->table[i];
		if (!p->used) {
			unused = unused != NULL ? unused : p;
			continue;
		}
		if (oldest == NULL || p->created_ms < oldest->created_ms) {
			oldest = p;
		}
		if (memcmp(p->client_pk, client_pk, FB_ID_PK_LEN) == 0) {
			of_key++;
			if (oldest_of_key == NULL ||
					p->created_ms < oldest_of_key->created_ms) {
				oldest_of_key = p;
			}
		}
	}
	struct pending *victim = of_key >= s->cfg.max_per_key ? oldest_of_key
			: unused == NULL                      ? oldest
							      : NULL;
	if (victim == NULL) {
		return unused;
	}
	if (victim == oldest_of_key) {
		note_abandoned(s, victim, now_ms);
	}
	drop_pending(s, victim);
	return victim;
}

static struct pending *
find_pending(struct fb_hs_server *s, const uint8_t sid[FB_ENV_SID_LEN])
{
	for (uint32_t i = 0; i < s->cfg.max_pending; i++) {
		struct pending *p = &s->table[i];
		if (p->used && memcmp(p->sid, sid, FB_ENV_SID_LEN) == 0) {
			return p;
		}
	}
	return NULL;
}

// Writes a plaintext ERROR reply and returns err (its detail kept).
static fb_err
refuse(uint8_t *out, size_t cap, size_t *out_len, fb_err err, uint16_t reason,
		const char *text)
{
	// Cannot fail: cap >= FB_HS_MSG_MAX was checked and text is short.
	if (fb_wire_plain_error_encode(out, cap, 0, reason, text, out_len) !=
			FB_OK) {
		fb_panic("handshake: ERROR reply does not fit");
	}
	return err;
}

static fb_err
server_hello(struct fb_hs_server *s, uint64_t now_ms, const uint8_t *msg,
		size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t ver = 0;
	fb_err err = check_plain(
			msg, len, FB_WIRE_HELLO, FB_HS_HELLO_LEN, &ver);
	if (err != FB_OK) {
		return refuse(out, cap, out_len, err, FB_WIRE_REASON_MALFORMED,
				"malformed HELLO");
	}
	if (ver != FB_WIRE_VERSION_FROZEN) {
		err = fb_errorf(FB_EPROTO,
				"HELLO with header version %u, not %d", ver,
				FB_WIRE_VERSION_FROZEN);
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNSUPPORTED_VERSION,
				"HELLO header version must be 1");
	}
	uint8_t vmin = msg[HELLO_VMIN], vmax = msg[HELLO_VMAX];
	if (vmin == 0 || vmin > vmax || msg[HELLO_RSV] != 0 ||
			msg[HELLO_RSV + 1] != 0) {
		err = fb_errorf(FB_EPROTO,
				"HELLO: bad version range %u-%u or non-zero "
				"reserved bytes",
				vmin, vmax);
		return refuse(out, cap, out_len, err, FB_WIRE_REASON_MALFORMED,
				"malformed HELLO");
	}
	uint8_t chosen =
			vmax < FB_WIRE_VERSION_MAX ? vmax : FB_WIRE_VERSION_MAX;
	if (chosen < vmin || chosen < FB_WIRE_VERSION_MIN) {
		err = fb_errorf(FB_EPROTO,
				"HELLO offers versions %u-%u, server speaks "
				"%d-%d",
				vmin, vmax, FB_WIRE_VERSION_MIN,
				FB_WIRE_VERSION_MAX);
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNSUPPORTED_VERSION,
				"no common protocol version");
	}
	char kp[13];
	const uint8_t *client_pk = msg + HELLO_PK;
	const struct fb_peer_key *peer = fb_roster_find(s->roster, client_pk);
	if (peer == NULL) {
		err = fb_errorf(FB_ECRYPTO,
				"HELLO from unknown client key %s...",
				key_prefix(client_pk, kp));
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNKNOWN_KEY,
				"client key is not enrolled");
	}
	struct pending *tmp = &s->scratch->entry;
	uint8_t *eph_sk = s->scratch->eph_sk;
	uint8_t *w = out;
	put_header(w, chosen, FB_WIRE_WELCOME);
	memset(w + WELCOME_RSV, 0, WELCOME_PK - WELCOME_RSV);
	memcpy(w + WELCOME_PK, fb_identity_public_key(s->id), FB_ID_PK_LEN);
	randombytes_buf(eph_sk, X_LEN);
	crypto_scalarmult_base(w + WELCOME_EPH, eph_sk);
	randombytes_buf(w + WELCOME_NONCE, FB_HS_NONCE_LEN);
	randombytes_buf(w + WELCOME_SID, FB_ENV_SID_LEN);
	transcript_hash(tmp->th, msg, w);
	if (derive_keys(tmp->c2s, tmp->s2c, eph_sk, msg + HELLO_EPH, tmp->th) !=
			FB_OK) {
		err = fb_errorf(FB_ECRYPTO,
				"HELLO from %s: ephemeral key has low order",
				peer->name);
		refuse(out, cap, out_len, err, FB_WIRE_REASON_MALFORMED,
				"bad ephemeral key");
		goto done;
	}
	uint8_t m[SIG_MSG_MAX];
	err = fb_identity_sign(s->id, w + WELCOME_SIG, m,
			sig_message(m, LABEL_SERVER_SIG, tmp->th));
	if (err != FB_OK) {
		refuse(out, cap, out_len, err, FB_WIRE_REASON_INTERNAL,
				"internal error");
		goto done;
	}
	tmp->used = true;
	tmp->version = chosen;
	tmp->created_ms = now_ms;
	memcpy(tmp->sid, w + WELCOME_SID, FB_ENV_SID_LEN);
	memcpy(tmp->client_pk, client_pk, FB_ID_PK_LEN);
	*slot_for_new(s, client_pk, now_ms) = *tmp;
	s->n_pending++;
	*out_len = FB_HS_WELCOME_LEN;
done:
	sodium_memzero(s->scratch, sizeof(*s->scratch));
	return err;
}

static fb_err
server_auth(struct fb_hs_server *s, const uint8_t *msg, size_t len,
		uint8_t *out, size_t cap, size_t *out_len,
		struct fb_session **session)
{
	uint8_t ver = 0;
	fb_err err = check_plain(msg, len, FB_WIRE_AUTH, FB_HS_AUTH_LEN, &ver);
	if (err != FB_OK) {
		return refuse(out, cap, out_len, err, FB_WIRE_REASON_MALFORMED,
				"malformed AUTH");
	}
	struct pending *p = find_pending(s, msg + AUTH_SID);
	if (p == NULL) {
		err = fb_errorf(FB_ESTATE,
				"AUTH for an unknown, evicted or expired "
				"handshake");
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNKNOWN_SESSION,
				"unknown or expired handshake");
	}
	char kp[13];
	const struct fb_peer_key *peer =
			fb_roster_find(s->roster, p->client_pk);
	if (peer == NULL) {
		err = fb_errorf(FB_ECRYPTO,
				"AUTH from client key %s... no longer enrolled",
				key_prefix(p->client_pk, kp));
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNKNOWN_KEY,
				"client key is not enrolled");
	}
	if (ver != p->version) {
		err = fb_errorf(FB_EPROTO, "AUTH from %s: version %u, chose %u",
				peer->name, ver, p->version);
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_UNSUPPORTED_VERSION,
				"version differs from WELCOME");
	}
	uint8_t m[SIG_MSG_MAX];
	size_t mlen = sig_message(m, LABEL_CLIENT_SIG, p->th);
	if (crypto_sign_verify_detached(
			    msg + AUTH_SIG, m, mlen, p->client_pk) != 0) {
		err = fb_errorf(FB_ECRYPTO,
				"AUTH from %s: signature does not verify",
				peer->name);
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_BAD_SIGNATURE, "bad signature");
	}
	struct fb_session *sess = NULL;
	err = fb_session_create(&sess, p->version, p->sid, p->s2c, p->c2s,
			p->client_pk, peer->name);
	if (err != FB_OK) {
		err = fb_errorf(err, "AUTH from %s: no memory for the session",
				peer->name);
		return refuse(out, cap, out_len, err,
				FB_WIRE_REASON_SERVER_BUSY, "server busy");
	}
	fb_wire_store_u64(out + FB_ENV_BODY_OFF, s->cfg.max_msg_len);
	err = fb_env_seal(sess, out, FB_HS_AUTH_OK_LEN, FB_WIRE_AUTH_OK, 0);
	if (err != FB_OK) {
		fb_session_destroy(sess);
		return refuse(out, cap, out_len, err, FB_WIRE_REASON_INTERNAL,
				"internal error");
	}
	drop_pending(s, p);
	*out_len = FB_HS_AUTH_OK_LEN;
	*session = sess;
	return FB_OK;
}

fb_err
fb_hs_server_handle(struct fb_hs_server *s, uint64_t now_ms, const uint8_t *msg,
		size_t len, uint8_t *out, size_t cap, size_t *out_len,
		struct fb_session **session)
{
	if (cap < FB_HS_MSG_MAX) {
		return fb_errorf(FB_EINVAL,
				"handshake reply buffer of %zu bytes, need %d",
				cap, (int)FB_HS_MSG_MAX);
	}
	expire_pending(s, now_ms);
	struct fb_wire_header hdr;
	fb_err err = fb_wire_header_decode(&hdr, msg, len);
	if (err != FB_OK) {
		return refuse(out, cap, out_len, err, FB_WIRE_REASON_MALFORMED,
				"malformed message");
	}
	switch (hdr.type) {
	case FB_WIRE_HELLO:
		return server_hello(s, now_ms, msg, len, out, cap, out_len);
	case FB_WIRE_AUTH:
		return server_auth(s, msg, len, out, cap, out_len, session);
	}
	err = fb_errorf(FB_EPROTO,
			"type 0x%02x (%s) is not a handshake request", hdr.type,
			fb_wire_type_name(hdr.type));
	return refuse(out, cap, out_len, err, FB_WIRE_REASON_UNEXPECTED,
			"expected HELLO or AUTH");
}
