// common/net/identity.c: Ed25519 identities, their key files and the roster
// (protocols/wire-v1.md §3.1). Invariants: the secret key only ever lives in
// sodium_malloc memory (read-only except while being built) or in stack
// buffers wiped with sodium_memzero before returning; a key file is only
// loaded if group and others have no access to it; the .key file is written
// unbuffered so no stdio buffer keeps a copy of the seed.
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/util/fsutil.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define B64_KEY_LEN 44 // base64 of 32 bytes, with padding
#define KEY_FILE_MAX 512

struct fb_identity {
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	uint8_t pk[FB_ID_PK_LEN];
	char name[FB_ID_NAME_MAX + 1];
};

struct fb_roster {
	struct fb_peer_key *keys;
	size_t n, cap;
};

bool
fb_id_name_valid(const char *name)
{
	size_t n = 0;
	if (name == NULL) {
		return false;
	}
	for (; name[n] != '\0'; n++) {
		char c = name[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '.' ||
				c == '_' || c == '-';
		if (!ok || n >= FB_ID_NAME_MAX) {
			return false;
		}
	}
	return n > 0;
}

fb_err
fb_identity_from_seed(struct fb_identity **out,
		const uint8_t seed[FB_ID_SEED_LEN], const char *name)
{
	if (!fb_id_name_valid(name)) {
		return fb_errorf(FB_EINVAL,
				"identity name '%s' is not 1-%d characters of "
				"A-Z a-z 0-9 . _ -",
				name != NULL ? name : "(null)", FB_ID_NAME_MAX);
	}
	struct fb_identity *id = sodium_malloc(sizeof(*id));
	if (id == NULL) {
		return FB_ENOMEM;
	}
	if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0) {
		sodium_free(id);
		return fb_errorf(FB_ECRYPTO, "Ed25519 key derivation failed");
	}
	snprintf(id->name, sizeof(id->name), "%s", name);
	sodium_mprotect_readonly(id);
	*out = id;
	return FB_OK;
}

fb_err
fb_identity_generate(struct fb_identity **out, const char *name)
{
	uint8_t seed[FB_ID_SEED_LEN];
	randombytes_buf(seed, sizeof(seed));
	fb_err err = fb_identity_from_seed(out, seed, name);
	sodium_memzero(seed, sizeof(seed));
	return err;
}

void
fb_identity_destroy(struct fb_identity *id)
{
	if (id != NULL) {
		sodium_free(id); // makes it writable, wipes it, unmaps it
	}
}

const uint8_t *
fb_identity_public_key(const struct fb_identity *id)
{
	return id->pk;
}

const char *
fb_identity_name(const struct fb_identity *id)
{
	return id->name;
}

fb_err
fb_identity_sign(const struct fb_identity *id, uint8_t sig[FB_ID_SIG_LEN],
		const uint8_t *msg, size_t len)
{
	if (crypto_sign_detached(sig, NULL, msg, len, id->sk) != 0) {
		return fb_errorf(FB_ECRYPTO, "Ed25519 signing failed");
	}
	return FB_OK;
}

// Splits "tag b64 name" (an optional final '\n'); checks the tag and name.
// On success key/key_len point at the base64 word and name is copied.
static fb_err
split_line(const char *line, size_t len, const char *tag, const char **key,
		size_t *key_len, char name[FB_ID_NAME_MAX + 1])
{
	if (len > 0 && line[len - 1] == '\n') {
		len--;
	}
	size_t tag_len = strlen(tag);
	if (len <= tag_len || memcmp(line, tag, tag_len) != 0 ||
			line[tag_len] != ' ') {
		return fb_errorf(FB_EFORMAT, "does not start with '%s '", tag);
	}
	const char *k = line + tag_len + 1;
	const char *end = line + len;
	const char *sp = memchr(k, ' ', (size_t)(end - k));
	if (sp == NULL) {
		return fb_errorf(FB_EFORMAT,
				"has no name after the key (expected '%s KEY "
				"NAME')",
				tag);
	}
	size_t name_len = (size_t)(end - sp - 1);
	if (name_len == 0 || name_len > FB_ID_NAME_MAX ||
			memchr(sp + 1, '\0', name_len) != NULL) {
		return fb_errorf(FB_EFORMAT,
				"name is empty or longer than %d "
				"bytes",
				FB_ID_NAME_MAX);
	}
	char tmp[FB_ID_NAME_MAX + 1];
	memcpy(tmp, sp + 1, name_len);
	tmp[name_len] = '\0';
	if (!fb_id_name_valid(tmp)) {
		return fb_errorf(FB_EFORMAT,
				"name '%.*s' has characters outside A-Z a-z "
				"0-9 . _ -",
				(int)name_len, sp + 1);
	}
	memcpy(name, tmp, name_len + 1);
	*key = k;
	*key_len = (size_t)(sp - k);
	return FB_OK;
}

static fb_err
decode_key32(uint8_t out[32], const char *b64, size_t len)
{
	size_t bin_len = 0;
	const char *b64_end = NULL;
	if (len != B64_KEY_LEN ||
			sodium_base642bin(out, 32, b64, len, NULL, &bin_len,
					&b64_end, B64_VARIANT) != 0 ||
			bin_len != 32 || b64_end != b64 + len) {
		return fb_errorf(FB_EFORMAT,
				"key is not %d characters of base64 encoding "
				"32 bytes",
				B64_KEY_LEN);
	}
	return FB_OK;
}

fb_err
fb_peer_key_parse(struct fb_peer_key *out, const char *line)
{
	struct fb_peer_key pk = {{0}, {0}, 0};
	const char *key = NULL;
	size_t key_len = 0;
	fb_err err = split_line(line, strlen(line), FB_ID_PUB_TAG, &key,
			&key_len, pk.name);
	if (err == FB_OK) {
		err = decode_key32(pk.pk, key, key_len);
	}
	if (err != FB_OK) {
		return err;
	}
	*out = pk;
	return FB_OK;
}

fb_err
fb_peer_key_format(const uint8_t pk[FB_ID_PK_LEN], const char *name, char *buf,
		size_t cap)
{
	if (!fb_id_name_valid(name)) {
		return fb_errorf(FB_EINVAL, "identity name '%s' is not valid",
				name != NULL ? name : "(null)");
	}
	if (cap < FB_ID_PUB_LINE_MAX) {
		return fb_errorf(FB_EINVAL, "buffer of %zu bytes, need %d", cap,
				FB_ID_PUB_LINE_MAX);
	}
	char b64[B64_KEY_LEN + 1];
	sodium_bin2base64(b64, sizeof(b64), pk, FB_ID_PK_LEN, B64_VARIANT);
	snprintf(buf, cap, "%s %s %s\n", FB_ID_PUB_TAG, b64, name);
	return FB_OK;
}

// Prefixes the current detail with "path: " (or "path:line: ").
static fb_err
with_location(fb_err err, const char *path, size_t line)
{
	char detail[400];
	snprintf(detail, sizeof(detail), "%s", fb_last_error(err));
	if (line > 0) {
		return fb_errorf(err, "%s:%zu: %s", path, line, detail);
	}
	return fb_errorf(err, "%s: %s", path, detail);
}

fb_err
fb_peer_key_load(struct fb_peer_key *out, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = fb_read_file(path, 4096, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	char *nl = memchr(text, '\n', len);
	if (nl != NULL && (size_t)(nl - text) + 1 != len) {
		free(text);
		return fb_errorf(FB_EFORMAT,
				"%s: expected exactly one line, found more",
				path);
	}
	err = fb_peer_key_parse(out, text);
	free(text);
	return err != FB_OK ? with_location(err, path, 0) : FB_OK;
}

// Reads the whole key file into sodium_malloc memory after checking that it
// is a regular file only its owner may access.
static fb_err
read_secret_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return fb_errorf(FB_EIO, "%s: cannot open: %s", path,
				strerror(errno));
	}
	fb_err err = FB_OK;
	char *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = fb_errorf(FB_EIO, "%s: not a regular file", path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		err = fb_errorf(FB_EIO,
				"%s: mode %04o lets group or others access "
				"the secret key; refusing it (chmod 600 %s)",
				path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	buf = sodium_malloc(KEY_FILE_MAX + 1);
	if (buf == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, KEY_FILE_MAX + 1 - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			err = fb_errorf(FB_EIO, "%s: read failed: %s", path,
					strerror(errno));
			goto fail;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
		if (got > KEY_FILE_MAX) {
			err = fb_errorf(FB_EFORMAT,
					"%s: larger than %d bytes, not a key "
					"file",
					path, KEY_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return FB_OK;
fail:
	close(fd);
	sodium_free(buf);
	return err;
}

fb_err
fb_identity_load(struct fb_identity **out, const char *key_path)
{
	char *text = NULL;
	size_t len = 0;
	fb_err err = read_secret_file(key_path, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	uint8_t seed[FB_ID_SEED_LEN];
	char name[FB_ID_NAME_MAX + 1];
	const char *key = NULL;
	size_t key_len = 0;
	if (memchr(text, '\0', len) != NULL) {
		err = fb_errorf(FB_EFORMAT, "contains a NUL byte");
	} else {
		err = split_line(
				text, len, FB_ID_KEY_TAG, &key, &key_len, name);
	}
	if (err == FB_OK) {
		err = decode_key32(seed, key, key_len);
	}
	if (err == FB_OK) {
		err = fb_identity_from_seed(out, seed, name);
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_free(text);
	return err == FB_EFORMAT ? with_location(err, key_path, 0) : err;
}

static fb_err
refuse_existing(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0) {
		return fb_errorf(FB_EIO,
				"%s already exists; not overwriting it", path);
	}
	if (errno != ENOENT) {
		return fb_errorf(FB_EIO, "%s: cannot check: %s", path,
				strerror(errno));
	}
	return FB_OK;
}

fb_err
fb_identity_save(const struct fb_identity *id, const char *prefix, bool force)
{
	size_t n = strlen(prefix) + 5;
	char *key_path = malloc(n);
	char *pub_path = malloc(n);
	char *text = sodium_malloc(KEY_FILE_MAX);
	fb_err err = FB_OK;
	if (key_path == NULL || pub_path == NULL || text == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	snprintf(key_path, n, "%s.key", prefix);
	snprintf(pub_path, n, "%s.pub", prefix);
	if (!force) {
		err = refuse_existing(key_path);
		if (err == FB_OK) {
			err = refuse_existing(pub_path);
		}
		if (err != FB_OK) {
			goto fail;
		}
	}
	// The seed is the first half of libsodium's Ed25519 secret key.
	char b64[B64_KEY_LEN + 1];
	sodium_bin2base64(
			b64, sizeof(b64), id->sk, FB_ID_SEED_LEN, B64_VARIANT);
	int tlen = snprintf(text, KEY_FILE_MAX, "%s %s %s\n", FB_ID_KEY_TAG,
			b64, id->name);
	sodium_memzero(b64, sizeof(b64));
	struct fb_atomic_file f;
	err = fb_atomic_open(&f, key_path, 0600);
	if (err != FB_OK) {
		goto fail;
	}
	setvbuf(f.fp, NULL, _IONBF, 0);
	err = fb_atomic_write(&f, text, (size_t)tlen);
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		goto fail;
	}
	err = fb_atomic_commit(&f);
	if (err != FB_OK) {
		goto fail;
	}
	char line[FB_ID_PUB_LINE_MAX];
	err = fb_peer_key_format(id->pk, id->name, line, sizeof(line));
	if (err == FB_OK) {
		err = fb_write_file_atomic(pub_path, line, strlen(line), 0644);
	}
fail:
	sodium_free(text);
	free(key_path);
	free(pub_path);
	return err;
}

fb_err
fb_roster_create(struct fb_roster **out)
{
	struct fb_roster *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return FB_ENOMEM;
	}
	*out = r;
	return FB_OK;
}

void
fb_roster_destroy(struct fb_roster *roster)
{
	if (roster != NULL) {
		free(roster->keys);
		free(roster);
	}
}

size_t
fb_roster_count(const struct fb_roster *roster)
{
	return roster->n;
}

const struct fb_peer_key *
fb_roster_at(const struct fb_roster *roster, size_t i)
{
	return i < roster->n ? &roster->keys[i] : NULL;
}

const struct fb_peer_key *
fb_roster_find(const struct fb_roster *roster, const uint8_t pk[FB_ID_PK_LEN])
{
	for (size_t i = 0; i < roster->n; i++) {
		if (memcmp(roster->keys[i].pk, pk, FB_ID_PK_LEN) == 0) {
			return &roster->keys[i];
		}
	}
	return NULL;
}

fb_err
fb_roster_add(struct fb_roster *roster, const uint8_t pk[FB_ID_PK_LEN],
		const char *name)
{
	if (!fb_id_name_valid(name)) {
		return fb_errorf(FB_EINVAL, "client name '%s' is not valid",
				name != NULL ? name : "(null)");
	}
	struct fb_peer_key k = {{0}, {0}, 0};
	memcpy(k.pk, pk, FB_ID_PK_LEN);
	memcpy(k.name, name, strlen(name) + 1);
	return fb_roster_add_entry(roster, &k);
}

fb_err
fb_roster_add_entry(struct fb_roster *roster, const struct fb_peer_key *k)
{
	const uint8_t *pk = k->pk;
	const char *name = k->name;
	if (!fb_id_name_valid(name)) {
		return fb_errorf(FB_EINVAL, "client name '%s' is not valid",
				name != NULL ? name : "(null)");
	}
	for (size_t i = 0; i < roster->n; i++) {
		if (memcmp(roster->keys[i].pk, pk, FB_ID_PK_LEN) == 0) {
			return fb_errorf(FB_EINVAL,
					"key of '%s' is already enrolled as "
					"'%s'",
					name, roster->keys[i].name);
		}
		if (strcmp(roster->keys[i].name, name) == 0) {
			return fb_errorf(FB_EINVAL,
					"name '%s' is already enrolled", name);
		}
	}
	if (roster->n == roster->cap) {
		size_t cap = roster->cap > 0 ? 2 * roster->cap : 16;
		struct fb_peer_key *v = realloc(roster->keys, cap * sizeof(*v));
		if (v == NULL) {
			return FB_ENOMEM;
		}
		roster->keys = v;
		roster->cap = cap;
	}
	roster->keys[roster->n++] = *k;
	return FB_OK;
}

// Splits an optional " max_users=N" off the end of the roster line s
// (cut there) into *max (0 if absent). FB_EFORMAT for a bad N.
static fb_err
cut_max_users(char *s, uint64_t *max)
{
	static const char key[] = " max_users=";
	*max = 0;
	char *f = strstr(s, key);
	if (f == NULL) {
		return FB_OK;
	}
	const char *v = f + sizeof(key) - 1;
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (end == v || *v < '0' || *v > '9' || errno != 0 || *end != '\0' ||
			n == 0 || n > FB_ROSTER_MAX_USERS_MAX) {
		return fb_errorf(FB_EFORMAT,
				"max_users '%.40s': expected a whole number "
				"from 1 to 2^53",
				v);
	}
	*f = '\0';
	*max = (uint64_t)n;
	return FB_OK;
}

fb_err
fb_roster_load(struct fb_roster **out, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	struct fb_roster *r = NULL;
	fb_err err = fb_read_file(path, 64u << 20, &text, &len);
	if (err != FB_OK) {
		return err;
	}
	err = fb_roster_create(&r);
	if (err != FB_OK) {
		goto fail;
	}
	size_t lineno = 0;
	for (char *p = text; p < text + len;) {
		char *nl = memchr(p, '\n', (size_t)(text + len - p));
		char *end = nl != NULL ? nl : text + len;
		*end = '\0';
		lineno++;
		char *s = p;
		p = end + 1;
		while (*s == ' ' || *s == '\t') {
			s++;
		}
		if (*s == '\0' || *s == '#') {
			continue;
		}
		if ((size_t)(end - s) != strlen(s)) {
			err = fb_errorf(FB_EFORMAT,
					"%s:%zu: contains a NUL byte", path,
					lineno);
			goto fail;
		}
		struct fb_peer_key k;
		uint64_t max = 0;
		err = cut_max_users(s, &max);
		if (err == FB_OK) {
			err = fb_peer_key_parse(&k, s);
		}
		if (err == FB_OK) {
			k.max_users = max;
			err = fb_roster_add_entry(r, &k);
			if (err == FB_EINVAL) { // a repeated key or name
				char detail[400];
				snprintf(detail, sizeof(detail), "%s",
						fb_last_error(err));
				err = fb_errorf(FB_EFORMAT, "%s", detail);
			}
		}
		if (err != FB_OK) {
			err = with_location(err, path, lineno);
			goto fail;
		}
	}
	free(text);
	*out = r;
	return FB_OK;
fail:
	free(text);
	fb_roster_destroy(r);
	return err;
}
