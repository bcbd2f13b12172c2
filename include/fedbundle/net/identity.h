// include/fedbundle/net/identity.h: long-term Ed25519 identities of fedbundle
// nodes (protocols/wire-v1.md §3.1), their files and the aggregator's roster.
//   PREFIX.key  "fedbundle-ed25519-secret <base64 32-byte seed> <name>\n",
//               mode 0600; loading refuses a file group or others can access.
//   PREFIX.pub  "fedbundle-ed25519 <base64 32-byte public key> <name>\n".
//   roster      one .pub line per enrolled client, optionally followed by
//               " max_users=N" (1 <= N <= 2^53): the most users that client
//               may declare in a secure round (protocols/secagg-v1.md
//               §10.4); '#' comments, blank lines.
// Names are 1-64 bytes of [A-Za-z0-9._-]; a client's name is its peer id in
// logs. Secret keys live in sodium_malloc memory (guard pages, mlock'd,
// read-only outside signing); stack copies are wiped with sodium_memzero.
// Thread-safety: an identity or roster is immutable once loaded and may be
// used from any number of threads.
#ifndef FB_INCLUDE_FEDBUNDLE_IDENTITY_H
#define FB_INCLUDE_FEDBUNDLE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/util/err.h"

#define FB_ID_PK_LEN 32   // Ed25519 public key
#define FB_ID_SEED_LEN 32 // Ed25519 seed (what PREFIX.key holds)
#define FB_ID_SIG_LEN 64  // Ed25519 signature
#define FB_ID_NAME_MAX 64 // longest name, bytes
// Longest .pub line: tag, ' ', 44 base64 bytes, ' ', name, '\n', NUL.
#define FB_ID_PUB_LINE_MAX 132
// The first word of a .pub line and of a .key file.
#define FB_ID_PUB_TAG "fedbundle-ed25519"
#define FB_ID_KEY_TAG "fedbundle-ed25519-secret"

// A node's own identity: secret key, public key and name. Opaque.
struct fb_identity;

// A peer's public identity (a .pub line).
struct fb_peer_key {
	uint8_t pk[FB_ID_PK_LEN];
	char name[FB_ID_NAME_MAX + 1];
	// A roster entry only: its max_users field, 0 if the line has none.
	uint64_t max_users;
};

// The largest max_users a roster line may give (2^53: exact in a double).
#define FB_ROSTER_MAX_USERS_MAX (UINT64_C(1) << 53)

// True if name is 1..FB_ID_NAME_MAX bytes of [A-Za-z0-9._-].
bool fb_id_name_valid(const char *name);

// Creates a fresh identity from the CSPRNG. FB_EINVAL for a bad name,
// FB_ENOMEM. The caller destroys it.
fb_err fb_identity_generate(struct fb_identity **out, const char *name);

// Creates the identity of a 32-byte Ed25519 seed (RFC 8032 secret key):
// for tests and golden vectors. Errors as fb_identity_generate().
fb_err fb_identity_from_seed(struct fb_identity **out,
		const uint8_t seed[FB_ID_SEED_LEN], const char *name);

// Loads PREFIX.key. Refuses (FB_EIO, detail naming the file and its mode)
// a file that is not regular or that group or others may access (any bit of
// 077); FB_EFORMAT for malformed content; FB_EIO if it cannot be read.
fb_err fb_identity_load(struct fb_identity **out, const char *key_path);

// Writes prefix.key (0600) and prefix.pub (0644), each atomically. Unless
// force, refuses with FB_EIO if either file exists (detail names it).
fb_err fb_identity_save(
		const struct fb_identity *id, const char *prefix, bool force);

// Frees the identity and wipes its secret; NULL is a no-op.
void fb_identity_destroy(struct fb_identity *id);

// The identity's public key (FB_ID_PK_LEN bytes) and name; valid until
// fb_identity_destroy().
const uint8_t *fb_identity_public_key(const struct fb_identity *id);
const char *fb_identity_name(const struct fb_identity *id);

// Signs msg with the identity's Ed25519 key into sig. FB_ECRYPTO if
// libsodium fails.
fb_err fb_identity_sign(const struct fb_identity *id,
		uint8_t sig[FB_ID_SIG_LEN], const uint8_t *msg, size_t len);

// Formats the .pub line ("tag base64 name\n") of pk and name into buf of
// cap >= FB_ID_PUB_LINE_MAX bytes. FB_EINVAL for a bad name or short cap.
fb_err fb_peer_key_format(const uint8_t pk[FB_ID_PK_LEN], const char *name,
		char *buf, size_t cap);

// Parses one .pub line (a trailing '\n' is allowed). FB_EFORMAT with a
// detail naming what is wrong.
fb_err fb_peer_key_parse(struct fb_peer_key *out, const char *line);

// Loads a .pub file of exactly one line. FB_EIO, FB_EFORMAT ("path: ...").
fb_err fb_peer_key_load(struct fb_peer_key *out, const char *path);

// The enrolled clients: a set of peer keys with unique keys and names.
struct fb_roster;

// An empty roster. FB_ENOMEM. The caller destroys it.
fb_err fb_roster_create(struct fb_roster **out);

// Loads a roster file: one .pub line per client with an optional
// " max_users=N" after the name, '#' comments and blank lines ignored.
// FB_EFORMAT "path:line: ..." for a bad line, a bad max_users or a
// repeated key or name; FB_EIO if unreadable.
fb_err fb_roster_load(struct fb_roster **out, const char *path);

// Adds a client. FB_EINVAL for a bad name or a key or name already present.
fb_err fb_roster_add(struct fb_roster *roster, const uint8_t pk[FB_ID_PK_LEN],
		const char *name);

// Like fb_roster_add(), with every field of k (its max_users too).
fb_err fb_roster_add_entry(
		struct fb_roster *roster, const struct fb_peer_key *k);

// The entry of pk, or NULL if pk is not enrolled. Valid until the roster
// is destroyed.
const struct fb_peer_key *fb_roster_find(
		const struct fb_roster *roster, const uint8_t pk[FB_ID_PK_LEN]);

// Number of enrolled clients.
size_t fb_roster_count(const struct fb_roster *roster);

// The i-th enrolled client (file order), or NULL if i >= count. Valid
// until the roster is destroyed.
const struct fb_peer_key *fb_roster_at(
		const struct fb_roster *roster, size_t i);

// Frees the roster; NULL is a no-op.
void fb_roster_destroy(struct fb_roster *roster);

#endif
