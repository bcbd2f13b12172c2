// tests/unit/test-secagg-msg.c: the body codecs of the secure-aggregation
// messages (include/fedbundle/secagg/msg.h, secagg-v1 §6): known bytes,
// round trips returning views into the buffer, and each refusal of a
// malformed body with FB_EPROTO and a detail naming the problem.
#include <stdint.h>
#include <string.h>

#include "fedbundle/secagg/msg.h"
#include "harness.h"

#define REFUSED(expr, needle)                                                  \
	do {                                                                   \
		CHECK_ERR((expr), FB_EPROTO);                                  \
		CHECK_STR_CONTAINS(fb_last_error(FB_EPROTO), (needle));        \
	} while (0)

static uint8_t buf[FB_SA_LIST_HDR_LEN + 2001 * FB_SA_BUNDLE_ENTRY_LEN];
static uint8_t m[sizeof(buf)];

// An advertisement-shaped 184 bytes naming index (not signed: the codec
// does not look at the signature).
static void
fake_advert(uint8_t *a, uint32_t index)
{
	memset(a, (int)index, FB_SECAGG_ADVERT_LEN);
	fb_wire_store_u32(a + 20, index);
}

TEST(advert_msg)
{
	uint8_t ad[FB_SECAGG_ADVERT_LEN];
	fake_advert(ad, 7);
	CHECK_OK(fb_sa_advert_msg_encode(buf, ad, 0x0102030405060708ull));
	CHECK(memcmp(buf, ad, FB_SECAGG_ADVERT_LEN) == 0);
	const uint8_t users[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	CHECK(memcmp(buf + 184, users, 8) == 0);
	struct fb_sa_advert_msg d = {0};
	CHECK_OK(fb_sa_advert_msg_decode(&d, buf, FB_SA_ADVERT_MSG_LEN));
	CHECK(d.advert == buf && d.users == 0x0102030405060708ull);
	CHECK(fb_sa_advert_index(d.advert) == 7);
	REFUSED(fb_sa_advert_msg_decode(&d, buf, 191), "expected 192");
	REFUSED(fb_sa_advert_msg_decode(&d, buf, 193), "expected 192");
	REFUSED(fb_sa_advert_msg_decode(&d, buf, 0), "expected 192");
	memset(buf + 184, 0, 8);
	d.users = 99;
	REFUSED(fb_sa_advert_msg_decode(&d, buf, 192), "users");
	CHECK(d.users == 99); // untouched on failure
	CHECK_ERR(fb_sa_advert_msg_encode(buf, ad, 0), FB_EINVAL);
}

TEST(peers)
{
	const uint32_t idx[3] = {1, 4, 9};
	size_t len = fb_sa_peers_len(3);
	CHECK(len == 4 + 3 * 184);
	uint8_t *p = fb_sa_peers_init(buf, 3);
	CHECK(p == buf + 4);
	for (int i = 0; i < 3; i++) {
		fake_advert(p + 184 * i, idx[i]);
	}
	const uint8_t hdr[4] = {0, 3, 0, 0};
	CHECK(memcmp(buf, hdr, 4) == 0);
	struct fb_sa_list l = {0};
	CHECK_OK(fb_sa_peers_decode(&l, buf, len));
	CHECK(l.count == 3 && l.items == buf + 4);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK(fb_sa_peers_advert(&l, i) == buf + 4 + 184 * i);
		CHECK(fb_sa_advert_index(fb_sa_peers_advert(&l, i)) == idx[i]);
	}
	REFUSED(fb_sa_peers_decode(&l, buf, 3), "shorter");
	REFUSED(fb_sa_peers_decode(&l, buf, len - 1), "truncated");
	REFUSED(fb_sa_peers_decode(&l, buf, len + 184), "trailing");
	memcpy(m, buf, len);
	m[3] = 1;
	REFUSED(fb_sa_peers_decode(&l, m, len), "reserved");
	memcpy(m, buf, len);
	m[1] = 0;
	REFUSED(fb_sa_peers_decode(&l, m, 4), "count 0");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 4 + 184 + 20, 1); // 1, 1, 9: repeated
	REFUSED(fb_sa_peers_decode(&l, m, len), "does not ascend");
	fb_wire_store_u32(m + 4 + 184 + 20, 10); // 1, 10, 9
	REFUSED(fb_sa_peers_decode(&l, m, len), "does not ascend");
	fb_wire_store_u32(m + 4 + 20, 0);
	REFUSED(fb_sa_peers_decode(&l, m, len), "index 0");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 4 + 2 * 184 + 20, 2001);
	REFUSED(fb_sa_peers_decode(&l, m, len), "index 2001");
	// 2001 entries: above the largest n.
	fb_sa_peers_init(m, 2000);
	fb_wire_store_u16(m, 2001);
	REFUSED(fb_sa_peers_decode(&l, m, fb_sa_peers_len(2001)), "count 2001");
}

TEST(bundles)
{
	uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN];
	const uint32_t party[2] = {2, 3};
	size_t len = fb_sa_bundles_len(2);
	CHECK(len == 4 + 2 * 180);
	uint8_t *first = fb_sa_bundles_init(buf, 2);
	CHECK(first == buf + 4);
	for (uint32_t i = 0; i < 2; i++) {
		memset(sealed, 0x40 + (int)i, sizeof(sealed));
		fb_sa_bundles_put(first, i, party[i], sealed);
	}
	const uint8_t head[8] = {0, 2, 0, 0, 0, 0, 0, 2};
	CHECK(memcmp(buf, head, 8) == 0);
	CHECK(buf[8] == 0x40 && buf[8 + 175] == 0x40);
	CHECK(fb_wire_load_u32(buf + 184) == 3 && buf[188] == 0x41);
	struct fb_sa_list l = {0};
	CHECK_OK(fb_sa_bundles_decode(&l, buf, len));
	CHECK(l.count == 2);
	CHECK(fb_sa_bundles_party(&l, 0) == 2 &&
			fb_sa_bundles_party(&l, 1) == 3);
	CHECK(fb_sa_bundles_sealed(&l, 1) == buf + 188);
	REFUSED(fb_sa_bundles_decode(&l, buf, len - 1), "truncated");
	REFUSED(fb_sa_bundles_decode(&l, buf, len + 1), "trailing");
	REFUSED(fb_sa_bundles_decode(&l, buf, 2), "shorter");
	memcpy(m, buf, len);
	m[2] = 0x80;
	REFUSED(fb_sa_bundles_decode(&l, m, len), "reserved");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 184, 2);
	REFUSED(fb_sa_bundles_decode(&l, m, len), "party 2 at offset 184");
	fb_wire_store_u32(m + 4, 0);
	REFUSED(fb_sa_bundles_decode(&l, m, len), "party 0");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 184, 4000);
	REFUSED(fb_sa_bundles_decode(&l, m, len), "not in 1..2000");
	memcpy(m, buf, len);
	fb_wire_store_u16(m, 0);
	REFUSED(fb_sa_bundles_decode(&l, m, 4), "count 0");
}

TEST(unmask_req)
{
	const uint32_t surv[3] = {1, 3, 5}, drop[2] = {2, 4};
	size_t len = fb_sa_unmask_req_len(3, 2);
	CHECK(len == 4 + 20);
	CHECK_OK(fb_sa_unmask_req_encode(buf, surv, 3, drop, 2));
	const uint8_t want[24] = {0, 3, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
			5, 0, 0, 0, 2, 0, 0, 0, 4};
	CHECK(memcmp(buf, want, 24) == 0);
	struct fb_sa_unmask_req r = {0};
	CHECK_OK(fb_sa_unmask_req_decode(&r, buf, len));
	CHECK(r.ns == 3 && r.nd == 2 && r.surv == buf + 4 &&
			r.drop == buf + 16);
	uint32_t s2[3], d2[2];
	fb_sa_unmask_req_copy(&r, s2, d2);
	CHECK(memcmp(s2, surv, sizeof(s2)) == 0);
	CHECK(memcmp(d2, drop, sizeof(d2)) == 0);
	CHECK(fb_sa_u32(r.drop, 1) == 4);
	// No dropped party.
	CHECK_OK(fb_sa_unmask_req_encode(m, surv, 3, NULL, 0));
	CHECK_OK(fb_sa_unmask_req_decode(&r, m, fb_sa_unmask_req_len(3, 0)));
	CHECK(r.nd == 0);

	REFUSED(fb_sa_unmask_req_decode(&r, buf, len - 1), "truncated");
	REFUSED(fb_sa_unmask_req_decode(&r, buf, len + 4), "trailing");
	REFUSED(fb_sa_unmask_req_decode(&r, buf, 3), "shorter");
	memcpy(m, buf, len);
	m[1] = 0;
	REFUSED(fb_sa_unmask_req_decode(&r, m, 12), "no survivor");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 8, 1); // survivors 1, 1, 5
	REFUSED(fb_sa_unmask_req_decode(&r, m, len), "survivor 1");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 20, 1); // dropped 2, 1
	REFUSED(fb_sa_unmask_req_decode(&r, m, len), "dropped party 1");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 20, 5); // dropped 2, 5: 5 survived
	REFUSED(fb_sa_unmask_req_decode(&r, m, len), "party 5 is both");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 4, 0);
	REFUSED(fb_sa_unmask_req_decode(&r, m, len), "survivor 0");
	memcpy(m, buf, len);
	fb_wire_store_u32(m + 12, 2001);
	REFUSED(fb_sa_unmask_req_decode(&r, m, len), "survivor 2001");
	fb_wire_store_u16(m, 1000);
	fb_wire_store_u16(m + 2, 1001);
	REFUSED(fb_sa_unmask_req_decode(
				&r, m, fb_sa_unmask_req_len(1000, 1001)),
			"more than 2000");
	// The encoder refuses the same with FB_EINVAL.
	const uint32_t unsorted[2] = {3, 1}, both[1] = {3};
	CHECK_ERR(fb_sa_unmask_req_encode(m, unsorted, 2, NULL, 0), FB_EINVAL);
	CHECK_ERR(fb_sa_unmask_req_encode(m, surv, 3, both, 1), FB_EINVAL);
	CHECK_ERR(fb_sa_unmask_req_encode(m, surv, 0, drop, 2), FB_EINVAL);
}

TEST(unmask)
{
	uint8_t self[2 * FB_SHAMIR_SHARE_LEN], mask[FB_SHAMIR_SHARE_LEN];
	memset(self, 0x11, sizeof(self));
	memset(mask, 0x22, sizeof(mask));
	size_t len = fb_sa_unmask_len(2, 1);
	CHECK(len == 4 + 3 * 68);
	CHECK_OK(fb_sa_unmask_encode(buf, 2, 1, self, mask));
	const uint8_t hdr[4] = {0, 2, 0, 1};
	CHECK(memcmp(buf, hdr, 4) == 0);
	CHECK(memcmp(buf + 4, self, sizeof(self)) == 0);
	CHECK(memcmp(buf + 4 + 136, mask, sizeof(mask)) == 0);
	struct fb_sa_unmask u = {0};
	CHECK_OK(fb_sa_unmask_decode(&u, buf, len));
	CHECK(u.ns == 2 && u.nd == 1);
	CHECK(u.self_shares == buf + 4 && u.mask_shares == buf + 140);
	CHECK_OK(fb_sa_unmask_encode(m, 2, 0, self, NULL));
	CHECK_OK(fb_sa_unmask_decode(&u, m, fb_sa_unmask_len(2, 0)));
	CHECK(u.nd == 0);
	REFUSED(fb_sa_unmask_decode(&u, buf, len - 1), "truncated");
	REFUSED(fb_sa_unmask_decode(&u, buf, len + 68), "trailing");
	REFUSED(fb_sa_unmask_decode(&u, buf, 1), "shorter");
	memcpy(m, buf, len);
	m[1] = 0;
	REFUSED(fb_sa_unmask_decode(&u, m, fb_sa_unmask_len(0, 1)),
			"no survivor");
	fb_wire_store_u16(m, 2000);
	REFUSED(fb_sa_unmask_decode(&u, m, fb_sa_unmask_len(2000, 1)),
			"more than 2000");
	CHECK_ERR(fb_sa_unmask_encode(m, 0, 1, self, mask), FB_EINVAL);
}

// SA_CONSISTENCY is the 64-byte signature; SA_SIGNATURES a list of
// (u32 signer, signature), signers ascending (so none twice).
TEST(consistency_and_signatures)
{
	uint8_t sig[FB_SA_CONSISTENCY_LEN];
	memset(sig, 0xab, sizeof(sig));
	const uint8_t *v = NULL;
	CHECK_OK(fb_sa_consistency_decode(&v, sig, sizeof(sig)));
	CHECK(v == sig);
	REFUSED(fb_sa_consistency_decode(&v, sig, 63), "63 bytes");
	REFUSED(fb_sa_consistency_decode(&v, sig, 0), "expected 64");

	CHECK(FB_SA_SIG_ENTRY_LEN == 68 && fb_sa_sigs_len(2) == 140);
	uint8_t *first = fb_sa_sigs_init(buf, 2);
	fb_sa_sigs_put(first, 0, 1, sig);
	sig[0] = 0xcd;
	fb_sa_sigs_put(first, 1, 7, sig);
	static const uint8_t head[] = {0, 2, 0, 0, 0, 0, 0, 1, 0xab};
	CHECK(memcmp(buf, head, sizeof(head)) == 0);
	CHECK(buf[4 + 68 + 3] == 7 && buf[4 + 68 + 4] == 0xcd);
	struct fb_sa_list l;
	CHECK_OK(fb_sa_sigs_decode(&l, buf, 140));
	CHECK(l.count == 2 && fb_sa_sigs_signer(&l, 1) == 7);
	CHECK(fb_sa_sigs_sig(&l, 1) == buf + 4 + 68 + 4);
	REFUSED(fb_sa_sigs_decode(&l, buf, 139), "truncated");
	REFUSED(fb_sa_sigs_decode(&l, buf, 141), "trailing");
	memcpy(m, buf, 140);
	m[4 + 68 + 3] = 1; // signer 1 twice
	REFUSED(fb_sa_sigs_decode(&l, m, 140), "does not ascend");
	m[4 + 68 + 3] = 0; // signer 0
	REFUSED(fb_sa_sigs_decode(&l, m, 140), "not in 1..2000");
	memcpy(m, buf, 140);
	m[3] = 1; // reserved
	REFUSED(fb_sa_sigs_decode(&l, m, 140), "reserved");
	m[3] = 0;
	m[1] = 0; // count 0
	REFUSED(fb_sa_sigs_decode(&l, m, 4), "count 0");
}

int
main(void)
{
	RUN(advert_msg);
	RUN(peers);
	RUN(bundles);
	RUN(unmask_req);
	RUN(unmask);
	RUN(consistency_and_signatures);
	return harness_done();
}
