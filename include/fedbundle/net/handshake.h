// include/fedbundle/net/handshake.h: the authenticated key exchange of
// protocols/wire-v1.md §3, as two state machines over byte buffers (no I/O):
//   client                                   server
//   fb_hs_client_hello()     -- HELLO -->    fb_hs_server_handle()
//   fb_hs_client_welcome()   <-- WELCOME --
//                            -- AUTH -->     fb_hs_server_handle()
//   fb_hs_client_finish()    <-- AUTH_OK --  (server's session is ready)
// Both sides sign a BLAKE2b hash of the whole transcript (HELLO and WELCOME,
// version range included: downgrade-proof) with their long-term Ed25519
// keys, agree on ephemeral X25519 keys (forward secrecy) and derive one key
// per direction bound to both identities and the transcript. The server
// refuses keys not in its roster; the client refuses a server key other
// than the pinned one. The server keeps a bounded table of pending
// handshakes (size and age, oldest evicted) so a flood cannot exhaust it.
// Thread-safety: a client or server state machine belongs to one thread at
// a time. The identity and roster they point at are only read.
#ifndef FB_INCLUDE_FEDBUNDLE_HANDSHAKE_H
#define FB_INCLUDE_FEDBUNDLE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/envelope.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"

#define FB_HS_HELLO_LEN 108                // §3.2
#define FB_HS_WELCOME_LEN 188              // §3.3
#define FB_HS_AUTH_LEN 88                  // §3.4
#define FB_HS_AUTH_OK_LEN FB_SEALED_LEN(8) // §3.5: 56 bytes
#define FB_HS_NONCE_LEN 32
// A buffer of this many bytes holds any handshake message or reply
// (the largest is a plaintext ERROR).
#define FB_HS_MSG_MAX FB_WIRE_PLAIN_ERROR_MAX

// ---- client ----

struct fb_hs_client;

// Starts a handshake of identity id with the server whose pinned public
// key (its .pub) is server. Both must outlive the handshake. FB_ENOMEM.
fb_err fb_hs_client_create(struct fb_hs_client **out,
		const struct fb_identity *id, const struct fb_peer_key *server);

// Wipes and frees the handshake (and a session not yet handed out); NULL
// is a no-op.
void fb_hs_client_destroy(struct fb_hs_client *c);

// Draws the ephemeral key and nonce and writes HELLO (FB_HS_HELLO_LEN
// bytes) into out. FB_ESTATE if called twice, FB_EINVAL if cap is short.
fb_err fb_hs_client_hello(
		struct fb_hs_client *c, uint8_t *out, size_t cap, size_t *len);

// Consumes the server's reply to HELLO and writes AUTH (FB_HS_AUTH_LEN
// bytes) into out, which must not overlap msg. Refusals leave the state unchanged, so the genuine
// WELCOME can still follow a forged one:
//   FB_EPROTO  malformed, unexpected type or version, or a plaintext ERROR
//              from the server (fb_hs_client_refusal() gives its reason);
//   FB_ECRYPTO server key is not the pinned one, bad signature (e.g. a
//              tampered HELLO or WELCOME: downgrade), low-order key.
// FB_ESTATE before hello() or after a WELCOME was accepted.
fb_err fb_hs_client_welcome(struct fb_hs_client *c, const uint8_t *msg,
		size_t len, uint8_t *out, size_t cap, size_t *out_len)
		__attribute__((warn_unused_result));

// Consumes the server's reply to AUTH, opening AUTH_OK in place in msg.
// On success hands the established session to the caller (*session; the
// caller destroys it) and stores the largest message length the server
// will send or accept (0: not announced) in *max_msg_len. Refusals leave
// the state unchanged: FB_EPROTO (malformed, plaintext ERROR), FB_ECRYPTO
// (tag does not verify), FB_ESTATE (not after an accepted WELCOME).
fb_err fb_hs_client_finish(struct fb_hs_client *c, uint8_t *msg, size_t len,
		struct fb_session **session, uint64_t *max_msg_len)
		__attribute__((warn_unused_result));

// The reason code of the last plaintext ERROR the server sent, 0 if none.
uint16_t fb_hs_client_refusal(const struct fb_hs_client *c);

// ---- server ----

#define FB_HS_DEFAULT_MAX_PENDING 256
#define FB_HS_DEFAULT_MAX_AGE_MS 10000
#define FB_HS_DEFAULT_MAX_PER_KEY 2

struct fb_hs_server_config {
	uint32_t max_pending; // pending handshakes kept; 0: the default
	uint32_t max_age_ms;  // a pending handshake expires after; 0: default
	uint64_t max_msg_len; // announced in AUTH_OK (0: not announced)
	// Pending handshakes of one client key; a HELLO beyond it replaces
	// that key's oldest (a flood with one enrolled, public key then
	// evicts no other client's handshake). 0: the default.
	uint32_t max_per_key;
};

struct fb_hs_server;

// Creates the server side for identity id and the enrolled clients of
// roster (both must outlive the server, or see set_roster). FB_ENOMEM,
// FB_EINVAL for a bad config.
fb_err fb_hs_server_create(struct fb_hs_server **out,
		const struct fb_identity *id, const struct fb_roster *roster,
		const struct fb_hs_server_config *cfg);

// Wipes and frees the server side and its pending table; NULL is a no-op.
void fb_hs_server_destroy(struct fb_hs_server *s);

// Replaces the roster (e.g. after a reload). A pending handshake whose key
// is no longer enrolled is refused at AUTH.
void fb_hs_server_set_roster(
		struct fb_hs_server *s, const struct fb_roster *roster);

// Consumes a plaintext HELLO or AUTH received at now_ms (a monotonic clock)
// and writes the reply into out (cap >= FB_HS_MSG_MAX; msg and out must not
// overlap); *out_len is its length and it MUST be sent, whatever is
// returned except FB_EINVAL, since every request gets one reply. Returns:
//   FB_OK      out holds WELCOME (after HELLO; *session untouched) or the
//              sealed AUTH_OK (after AUTH; *session is the established
//              session, owned by the caller, its peer name the roster name);
//   FB_EPROTO  malformed, unsupported version or unexpected type;
//   FB_ECRYPTO unknown client key, bad signature, low-order ephemeral key;
//   FB_ESTATE  AUTH for an unknown, evicted or expired handshake;
//   FB_ENOMEM  no memory for the session;
// where every refusal leaves a plaintext ERROR in out and fb_last_error()
// says what to log (peer name or key prefix, never secrets), and leaves
// the pending table unchanged except for evicting expired entries.
// FB_EINVAL (out untouched): cap < FB_HS_MSG_MAX.
fb_err fb_hs_server_handle(struct fb_hs_server *s, uint64_t now_ms,
		const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
		size_t *out_len, struct fb_session **session)
		__attribute__((warn_unused_result));

// Number of pending handshakes (for tests and metrics).
size_t fb_hs_server_pending(const struct fb_hs_server *s);

#endif
