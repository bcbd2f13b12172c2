// tests/fuzz/fuzz-secagg.c: libFuzzer target for the body codecs of the
// secure-aggregation messages (common/secagg/msg.c, secagg-v1 §6). The
// first input byte picks the decoder (mod 7); the rest is the body, copied
// to an exact-size buffer so ASan sees any read past it. Besides "no
// crash, no sanitizer report" it aborts when a view leaves the body, an
// accepted list is not strictly ascending or has a party both survivor
// and dropped, or re-encoding an accepted body does not give back the
// same bytes.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/secagg/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-secagg: invariant broken: %s\n", what);
		abort();
	}
}

static uint8_t enc[FB_SA_LIST_HDR_LEN +
		FB_SA_PARTY_MAX * FB_SA_BUNDLE_ENTRY_LEN];

static void
inside(const uint8_t *body, size_t len, const uint8_t *p, size_t n)
{
	require(p >= body && p <= body + len && n <= (size_t)(body + len - p),
			"view outside the body");
}

static void
same(const uint8_t *body, size_t len, size_t n)
{
	require(n == len && memcmp(enc, body, len) == 0,
			"re-encoding differs from the accepted body");
}

static void
fuzz_advert(const uint8_t *body, size_t len)
{
	struct fb_sa_advert_msg m;
	if (fb_sa_advert_msg_decode(&m, body, len) != FB_OK) {
		return;
	}
	inside(body, len, m.advert, FB_SECAGG_ADVERT_LEN);
	require(fb_sa_advert_msg_encode(enc, m.advert, m.users) == FB_OK,
			"SA_ADVERT does not re-encode");
	same(body, len, FB_SA_ADVERT_MSG_LEN);
}

static void
fuzz_peers(const uint8_t *body, size_t len)
{
	struct fb_sa_list l;
	if (fb_sa_peers_decode(&l, body, len) != FB_OK) {
		return;
	}
	inside(body, len, l.items, (size_t)l.count * FB_SECAGG_ADVERT_LEN);
	uint8_t *p = fb_sa_peers_init(enc, l.count);
	uint32_t prev = 0;
	for (uint32_t i = 0; i < l.count; i++) {
		const uint8_t *ad = fb_sa_peers_advert(&l, i);
		require(fb_sa_advert_index(ad) > prev, "SA_PEERS order");
		prev = fb_sa_advert_index(ad);
		memcpy(p + (size_t)i * FB_SECAGG_ADVERT_LEN, ad,
				FB_SECAGG_ADVERT_LEN);
	}
	same(body, len, fb_sa_peers_len(l.count));
}

static void
fuzz_bundles(const uint8_t *body, size_t len)
{
	struct fb_sa_list l;
	if (fb_sa_bundles_decode(&l, body, len) != FB_OK) {
		return;
	}
	inside(body, len, l.items, (size_t)l.count * FB_SA_BUNDLE_ENTRY_LEN);
	uint8_t *first = fb_sa_bundles_init(enc, l.count);
	uint32_t prev = 0;
	for (uint32_t i = 0; i < l.count; i++) {
		uint32_t party = fb_sa_bundles_party(&l, i);
		require(party > prev && party <= FB_SA_PARTY_MAX,
				"SA_SHARES/SA_INBOX order");
		prev = party;
		fb_sa_bundles_put(first, i, party, fb_sa_bundles_sealed(&l, i));
	}
	same(body, len, fb_sa_bundles_len(l.count));
}

static void
fuzz_unmask_req(const uint8_t *body, size_t len)
{
	struct fb_sa_unmask_req r;
	if (fb_sa_unmask_req_decode(&r, body, len) != FB_OK) {
		return;
	}
	static uint32_t surv[FB_SA_PARTY_MAX], drop[FB_SA_PARTY_MAX];
	require(r.ns >= 1 && r.ns + r.nd <= FB_SA_PARTY_MAX,
			"SA_UNMASK_REQ counts");
	inside(body, len, r.surv, 4 * (size_t)r.ns);
	inside(body, len, r.drop, 4 * (size_t)r.nd);
	fb_sa_unmask_req_copy(&r, surv, drop);
	for (uint32_t i = 0; i < r.ns; i++) {
		for (uint32_t j = 0; j < r.nd; j++) {
			require(surv[i] != drop[j], "a party in both lists");
		}
	}
	require(fb_sa_unmask_req_encode(enc, surv, r.ns, drop, r.nd) == FB_OK,
			"SA_UNMASK_REQ does not re-encode");
	same(body, len, fb_sa_unmask_req_len(r.ns, r.nd));
}

static void
fuzz_unmask(const uint8_t *body, size_t len)
{
	struct fb_sa_unmask u;
	if (fb_sa_unmask_decode(&u, body, len) != FB_OK) {
		return;
	}
	inside(body, len, u.self_shares, (size_t)u.ns * FB_SHAMIR_SHARE_LEN);
	inside(body, len, u.mask_shares, (size_t)u.nd * FB_SHAMIR_SHARE_LEN);
	require(fb_sa_unmask_encode(enc, u.ns, u.nd, u.self_shares,
				u.mask_shares) == FB_OK,
			"SA_UNMASK does not re-encode");
	same(body, len, fb_sa_unmask_len(u.ns, u.nd));
}

static void
fuzz_consistency(const uint8_t *body, size_t len)
{
	const uint8_t *sig = NULL;
	if (fb_sa_consistency_decode(&sig, body, len) != FB_OK) {
		return;
	}
	require(sig == body && len == FB_SA_CONSISTENCY_LEN,
			"SA_CONSISTENCY view");
}

static void
fuzz_sigs(const uint8_t *body, size_t len)
{
	struct fb_sa_list l;
	if (fb_sa_sigs_decode(&l, body, len) != FB_OK) {
		return;
	}
	inside(body, len, l.items, (size_t)l.count * FB_SA_SIG_ENTRY_LEN);
	uint8_t *first = fb_sa_sigs_init(enc, l.count);
	for (uint32_t i = 0; i < l.count; i++) {
		require(i == 0 ||
						fb_sa_sigs_signer(&l, i) >
								fb_sa_sigs_signer(
										&l,
										i - 1),
				"SA_SIGNATURES signers not ascending");
		fb_sa_sigs_put(first, i, fb_sa_sigs_signer(&l, i),
				fb_sa_sigs_sig(&l, i));
	}
	same(body, len, fb_sa_sigs_len(l.count));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > sizeof(enc)) {
		return 0;
	}
	size_t len = size - 1;
	uint8_t *body = malloc(len > 0 ? len : 1);
	if (body == NULL) {
		return 0;
	}
	memcpy(body, data + 1, len);
	switch (data[0] % 7) {
	case 0:
		fuzz_advert(body, len);
		break;
	case 1:
		fuzz_peers(body, len);
		break;
	case 2:
		fuzz_bundles(body, len);
		break;
	case 3:
		fuzz_unmask_req(body, len);
		break;
	case 4:
		fuzz_unmask(body, len);
		break;
	case 5:
		fuzz_consistency(body, len);
		break;
	default:
		fuzz_sigs(body, len);
		break;
	}
	free(body);
	return 0;
}
