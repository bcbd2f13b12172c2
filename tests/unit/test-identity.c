// tests/unit/test-identity.c: identities against RFC 8032's published test
// vectors, the .key/.pub file formats (base64 computed by hand), key file
// permissions (0644 refused, 0600 accepted), no silent overwrite, and the
// roster with its line-numbered errors.
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedbundle/net/identity.h"
#include "fedbundle/util/fsutil.h"
#include "harness.h"

// RFC 8032 §7.1, TEST 1 and TEST 2.
static const char *seed1_hex =
		"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *pk1_hex =
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *sig1_hex =
		"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
static const char *pk1_b64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char *seed1_b64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char *pk2_b64 = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=";

static char tmpdir[64];

static void
hex(uint8_t *out, size_t n, const char *h)
{
	CHECK(sodium_hex2bin(out, n, h, strlen(h), NULL, NULL, NULL) == 0);
}

static char *
path(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

static void
write_text(const char *p, const char *text, mode_t mode)
{
	CHECK_OK(fb_write_file_atomic(p, text, strlen(text), mode));
}

TEST(rfc8032_vectors)
{
	uint8_t seed[32], pk[32], sig[64], want_sig[64];
	hex(seed, 32, seed1_hex);
	hex(pk, 32, pk1_hex);
	hex(want_sig, 64, sig1_hex);
	struct fb_identity *id = NULL;
	CHECK_OK(fb_identity_from_seed(&id, seed, "rfc8032"));
	CHECK(memcmp(fb_identity_public_key(id), pk, 32) == 0);
	CHECK(strcmp(fb_identity_name(id), "rfc8032") == 0);
	CHECK_OK(fb_identity_sign(id, sig, (const uint8_t *)"", 0));
	CHECK(memcmp(sig, want_sig, 64) == 0);
	fb_identity_destroy(id);
	fb_identity_destroy(NULL);
}

TEST(names)
{
	CHECK(fb_id_name_valid("retailer-A_1.eu"));
	CHECK(!fb_id_name_valid(""));
	CHECK(!fb_id_name_valid(NULL));
	CHECK(!fb_id_name_valid("a b"));
	CHECK(!fb_id_name_valid("caf\xc3\xa9"));
	char longname[80];
	memset(longname, 'n', 64);
	longname[64] = '\0';
	CHECK(fb_id_name_valid(longname));
	longname[64] = 'n';
	longname[65] = '\0';
	CHECK(!fb_id_name_valid(longname));
	struct fb_identity *id = NULL;
	CHECK_ERR(fb_identity_generate(&id, "bad name"), FB_EINVAL);
	CHECK(id == NULL);
}

TEST(pub_line_format_and_parse)
{
	uint8_t pk[32];
	hex(pk, 32, pk1_hex);
	char line[FB_ID_PUB_LINE_MAX];
	CHECK_OK(fb_peer_key_format(pk, "alice", line, sizeof(line)));
	char want[160];
	snprintf(want, sizeof(want), "fedbundle-ed25519 %s alice\n", pk1_b64);
	CHECK(strcmp(line, want) == 0);
	struct fb_peer_key k;
	CHECK_OK(fb_peer_key_parse(&k, line));
	CHECK(memcmp(k.pk, pk, 32) == 0 && strcmp(k.name, "alice") == 0);
	line[strlen(line) - 1] = '\0'; // the newline is optional
	CHECK_OK(fb_peer_key_parse(&k, line));

	char bad[200];
	snprintf(bad, sizeof(bad), "fedbundle-x25519 %s alice\n", pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "does not start");
	snprintf(bad, sizeof(bad), "fedbundle-ed25519 %.43s alice\n", pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "base64");
	snprintf(bad, sizeof(bad), "fedbundle-ed25519 %s\n", pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "no name");
	snprintf(bad, sizeof(bad), "fedbundle-ed25519 %s alice extra\n",
			pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	snprintf(bad, sizeof(bad), "fedbundle-ed25519 %s \n", pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	snprintf(bad, sizeof(bad), "fedbundle-ed25519 %s alice\r\n", pk1_b64);
	CHECK_ERR(fb_peer_key_parse(&k, bad), FB_EFORMAT);
	CHECK_ERR(fb_peer_key_format(pk, "no/slash", line, sizeof(line)),
			FB_EINVAL);
}

TEST(save_load_modes)
{
	struct fb_identity *id = NULL, *back = NULL;
	CHECK_OK(fb_identity_generate(&id, "node-1"));
	CHECK_OK(fb_identity_save(id, path("node1"), false));
	struct stat st;
	CHECK(stat(path("node1.key"), &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
	CHECK(stat(path("node1.pub"), &st) == 0);
	CHECK((st.st_mode & 0777) == 0644);
	CHECK_OK(fb_identity_load(&back, path("node1.key")));
	CHECK(memcmp(fb_identity_public_key(back), fb_identity_public_key(id),
			      32) == 0);
	CHECK(strcmp(fb_identity_name(back), "node-1") == 0);
	struct fb_peer_key k;
	CHECK_OK(fb_peer_key_load(&k, path("node1.pub")));
	CHECK(memcmp(k.pk, fb_identity_public_key(id), 32) == 0);
	// Signatures of the loaded key verify with the .pub key.
	uint8_t sig[64];
	CHECK_OK(fb_identity_sign(back, sig, (const uint8_t *)"m", 1));
	CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, k.pk) ==
			0);
	fb_identity_destroy(back);
	back = NULL;

	// Group or other access refused, naming the file and its mode.
	CHECK(chmod(path("node1.key"), 0644) == 0);
	CHECK_ERR(fb_identity_load(&back, path("node1.key")), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), path("node1.key"));
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "mode 0644");
	CHECK(chmod(path("node1.key"), 0640) == 0);
	CHECK_ERR(fb_identity_load(&back, path("node1.key")), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "mode 0640");
	CHECK(chmod(path("node1.key"), 0602) == 0);
	CHECK_ERR(fb_identity_load(&back, path("node1.key")), FB_EIO);
	CHECK(back == NULL);
	CHECK(chmod(path("node1.key"), 0400) == 0);
	CHECK_OK(fb_identity_load(&back, path("node1.key")));
	fb_identity_destroy(back);
	back = NULL;
	CHECK(chmod(path("node1.key"), 0600) == 0);
	CHECK_OK(fb_identity_load(&back, path("node1.key")));
	fb_identity_destroy(back);
	back = NULL;
	CHECK_ERR(fb_identity_load(&back, path("missing.key")), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "missing.key");

	// No overwrite unless forced.
	struct fb_identity *other = NULL;
	CHECK_OK(fb_identity_generate(&other, "node-2"));
	CHECK_ERR(fb_identity_save(other, path("node1"), false), FB_EIO);
	CHECK_STR_CONTAINS(fb_last_error(FB_EIO), "already exists");
	CHECK_OK(fb_identity_load(&back, path("node1.key")));
	CHECK(strcmp(fb_identity_name(back), "node-1") == 0);
	fb_identity_destroy(back);
	back = NULL;
	CHECK_OK(fb_identity_save(other, path("node1"), true));
	CHECK_OK(fb_identity_load(&back, path("node1.key")));
	CHECK(strcmp(fb_identity_name(back), "node-2") == 0);
	CHECK(stat(path("node1.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	fb_identity_destroy(back);
	fb_identity_destroy(other);
	fb_identity_destroy(id);
}

TEST(key_file_contents)
{
	// A hand-written key file of the RFC 8032 seed.
	char text[200];
	snprintf(text, sizeof(text), "fedbundle-ed25519-secret %s rfc\n",
			seed1_b64);
	write_text(path("rfc.key"), text, 0600);
	struct fb_identity *id = NULL;
	CHECK_OK(fb_identity_load(&id, path("rfc.key")));
	uint8_t pk[32];
	hex(pk, 32, pk1_hex);
	CHECK(memcmp(fb_identity_public_key(id), pk, 32) == 0);
	CHECK(strcmp(fb_identity_name(id), "rfc") == 0);
	fb_identity_destroy(id);
	id = NULL;
	// What fb_identity_save writes for that seed: exactly the same text.
	CHECK(unlink(path("rfc.key")) == 0);
	uint8_t seed[32];
	hex(seed, 32, seed1_hex);
	CHECK_OK(fb_identity_from_seed(&id, seed, "rfc"));
	CHECK_OK(fb_identity_save(id, path("rfc"), false));
	fb_identity_destroy(id);
	id = NULL;
	char *got = NULL;
	size_t len = 0;
	CHECK_OK(fb_read_file(path("rfc.key"), 4096, &got, &len));
	CHECK(strcmp(got, text) == 0);
	free(got);

	const char *bad[] = {
			"fedbundle-ed25519 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A= x\n",
			"fedbundle-ed25519-secret nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2 x\n",
			"fedbundle-ed25519-secret nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n",
			"fedbundle-ed25519-secret nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A= x\nmore\n",
			"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path("bad.key"), bad[i], 0600);
		CHECK_ERR(fb_identity_load(&id, path("bad.key")), FB_EFORMAT);
		CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), path("bad.key"));
		CHECK(id == NULL);
	}
}

TEST(roster)
{
	char text[1024];
	snprintf(text, sizeof(text),
			"# enrolled retailers\n"
			"\n"
			"fedbundle-ed25519 %s retailer-a\n"
			"  # indented comment\n"
			"fedbundle-ed25519 %s retailer-b\n",
			pk1_b64, pk2_b64);
	write_text(path("roster"), text, 0644);
	struct fb_roster *r = NULL;
	CHECK_OK(fb_roster_load(&r, path("roster")));
	CHECK(fb_roster_count(r) == 2);
	uint8_t pk[32];
	hex(pk, 32, pk1_hex);
	const struct fb_peer_key *e = fb_roster_find(r, pk);
	CHECK(e != NULL && strcmp(e->name, "retailer-a") == 0);
	pk[0] ^= 1;
	CHECK(fb_roster_find(r, pk) == NULL);
	fb_roster_destroy(r);
	r = NULL;

	// A repeated key is refused with its line number.
	snprintf(text, sizeof(text),
			"fedbundle-ed25519 %s a\n"
			"# c\n"
			"fedbundle-ed25519 %s b\n"
			"fedbundle-ed25519 %s c\n",
			pk1_b64, pk2_b64, pk1_b64);
	write_text(path("roster"), text, 0644);
	CHECK_ERR(fb_roster_load(&r, path("roster")), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "roster:4:");
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "already enrolled");
	snprintf(text, sizeof(text),
			"fedbundle-ed25519 %s a\n"
			"fedbundle-ed25519 %s a\n",
			pk1_b64, pk2_b64);
	write_text(path("roster"), text, 0644);
	CHECK_ERR(fb_roster_load(&r, path("roster")), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "roster:2:");
	write_text(path("roster"), "fedbundle-ed25519 garbage a\n", 0644);
	CHECK_ERR(fb_roster_load(&r, path("roster")), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "roster:1:");
	CHECK(r == NULL);
	fb_roster_destroy(NULL);
}

// The optional max_users field of a roster line (secagg-v1 §10.4): read
// where present, 0 where absent (old files load unchanged), and a bad
// value is refused naming the file and line.
TEST(roster_max_users)
{
	char text[1024];
	snprintf(text, sizeof(text),
			"fedbundle-ed25519 %s retailer-a max_users=5000\n"
			"# no cap on b\n"
			"fedbundle-ed25519 %s retailer-b\n",
			pk1_b64, pk2_b64);
	write_text(path("roster"), text, 0644);
	struct fb_roster *r = NULL;
	CHECK_OK(fb_roster_load(&r, path("roster")));
	CHECK(fb_roster_count(r) == 2);
	CHECK(strcmp(fb_roster_at(r, 0)->name, "retailer-a") == 0);
	CHECK(fb_roster_at(r, 0)->max_users == 5000);
	CHECK(fb_roster_at(r, 1)->max_users == 0);
	// Copied with its entry.
	struct fb_roster *c = NULL;
	CHECK_OK(fb_roster_create(&c));
	CHECK_OK(fb_roster_add_entry(c, fb_roster_at(r, 0)));
	CHECK(fb_roster_at(c, 0)->max_users == 5000);
	fb_roster_destroy(c);
	fb_roster_destroy(r);
	r = NULL;
	snprintf(text, sizeof(text), "fedbundle-ed25519 %s a max_users=%s\n",
			pk1_b64, "9007199254740992"); // 2^53: the largest
	write_text(path("roster"), text, 0644);
	CHECK_OK(fb_roster_load(&r, path("roster")));
	CHECK(fb_roster_at(r, 0)->max_users == UINT64_C(1) << 53);
	fb_roster_destroy(r);
	r = NULL;
	const char *bad[] = {"0", "-1", "", "12x", "1e6", "9007199254740993",
			"99999999999999999999999", "5 max_users=6", "5 extra",
			" 5", "+5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
				"# first\n"
				"fedbundle-ed25519 %s a\n"
				"fedbundle-ed25519 %s b max_users=%s\n",
				pk1_b64, pk2_b64, bad[i]);
		write_text(path("roster"), text, 0644);
		CHECK_ERR(fb_roster_load(&r, path("roster")), FB_EFORMAT);
		CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "roster:3:");
		CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "max_users");
		CHECK(r == NULL);
	}
	// A misspelt field is not a name.
	snprintf(text, sizeof(text), "fedbundle-ed25519 %s a maxusers=5\n",
			pk1_b64);
	write_text(path("roster"), text, 0644);
	CHECK_ERR(fb_roster_load(&r, path("roster")), FB_EFORMAT);
	CHECK_STR_CONTAINS(fb_last_error(FB_EFORMAT), "roster:1:");
}

int
main(void)
{
	if (sodium_init() < 0) {
		return 99;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fb-test-identity.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		return 99;
	}
	RUN(rfc8032_vectors);
	RUN(names);
	RUN(pub_line_format_and_parse);
	RUN(save_load_modes);
	RUN(key_file_contents);
	RUN(roster);
	RUN(roster_max_users);
	const char *files[] = {"node1.key", "node1.pub", "rfc.key", "rfc.pub",
			"bad.key", "roster"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		unlink(path(files[i]));
	}
	rmdir(tmpdir);
	return harness_done();
}
