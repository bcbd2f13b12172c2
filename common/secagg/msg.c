// common/secagg/msg.c: the body codecs of the secure-aggregation messages
// (include/fedbundle/secagg/msg.h, secagg-v1 §6). Invariant, as in
// common/net/wire.c: a decoder reads a byte only after checking it lies in
// the buffer and accepts only bodies its encoder can produce, so decode ->
// encode is the identity on accepted bodies.
#include <assert.h>
#include <string.h>

#include "fedbundle/secagg/msg.h"

_Static_assert(FB_SA_ADVERT_MSG_LEN == 192, "SA_ADVERT layout");
_Static_assert(FB_SA_BUNDLE_ENTRY_LEN == 180, "bundle entry layout");
_Static_assert(FB_SA_CONSISTENCY_LEN == FB_ID_SIG_LEN, "SA_CONSISTENCY");

#define ADVERT_OFF_INDEX 20

// ---- SA_ADVERT ----

fb_err
fb_sa_advert_msg_encode(uint8_t out[FB_SA_ADVERT_MSG_LEN],
		const uint8_t advert[FB_SECAGG_ADVERT_LEN], uint64_t users)
{
	if (users == 0) {
		return fb_errorf(FB_EINVAL, "SA_ADVERT: declared users 0");
	}
	memcpy(out, advert, FB_SECAGG_ADVERT_LEN);
	fb_wire_store_u64(out + FB_SECAGG_ADVERT_LEN, users);
	return FB_OK;
}

fb_err
fb_sa_advert_msg_decode(
		struct fb_sa_advert_msg *m, const uint8_t *b, size_t len)
{
	if (len != FB_SA_ADVERT_MSG_LEN) {
		return fb_errorf(FB_EPROTO,
				"SA_ADVERT: body of %zu bytes, expected %d",
				len, FB_SA_ADVERT_MSG_LEN);
	}
	uint64_t users = fb_wire_load_u64(b + FB_SECAGG_ADVERT_LEN);
	if (users == 0) {
		return fb_errorf(FB_EPROTO,
				"SA_ADVERT: declared users at offset %d is 0",
				FB_SECAGG_ADVERT_LEN);
	}
	m->advert = b;
	m->users = users;
	return FB_OK;
}

// ---- lists ----

uint32_t
fb_sa_u32(const uint8_t *arr, uint32_t i)
{
	return fb_wire_load_u32(arr + 4 * (size_t)i);
}

uint32_t
fb_sa_advert_index(const uint8_t advert[FB_SECAGG_ADVERT_LEN])
{
	return fb_wire_load_u32(advert + ADVERT_OFF_INDEX);
}

const uint8_t *
fb_sa_peers_advert(const struct fb_sa_list *l, uint32_t i)
{
	return l->items + (size_t)i * FB_SECAGG_ADVERT_LEN;
}

uint32_t
fb_sa_bundles_party(const struct fb_sa_list *l, uint32_t i)
{
	return fb_wire_load_u32(l->items + (size_t)i * FB_SA_BUNDLE_ENTRY_LEN);
}

const uint8_t *
fb_sa_bundles_sealed(const struct fb_sa_list *l, uint32_t i)
{
	return l->items + (size_t)i * FB_SA_BUNDLE_ENTRY_LEN + 4;
}

static uint8_t *
list_init(uint8_t *out, uint32_t count)
{
	assert(count >= 1 && count <= FB_SA_PARTY_MAX);
	fb_wire_store_u16(out, (uint16_t)count);
	fb_wire_store_u16(out + 2, 0);
	return out + FB_SA_LIST_HDR_LEN;
}

// Checks the header of a list of entries of esize bytes filling len.
static fb_err
list_header(const char *msg, uint32_t *count, const uint8_t *b, size_t len,
		size_t esize)
{
	if (len < FB_SA_LIST_HDR_LEN) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes is shorter than its "
				"4-byte header",
				msg, len);
	}
	uint32_t n = fb_wire_load_u16(b);
	if (n == 0 || n > FB_SA_PARTY_MAX) {
		return fb_errorf(FB_EPROTO,
				"%s: count %u at offset 0 is not in 1..%d", msg,
				n, FB_SA_PARTY_MAX);
	}
	if (fb_wire_load_u16(b + 2) != 0) {
		return fb_errorf(FB_EPROTO,
				"%s: reserved field at offset 2 is not zero",
				msg);
	}
	if ((len - FB_SA_LIST_HDR_LEN) != (size_t)n * esize) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes, count %u needs %zu "
				"(truncated or trailing bytes)",
				msg, len, n,
				FB_SA_LIST_HDR_LEN + (size_t)n * esize);
	}
	*count = n;
	return FB_OK;
}

// Checks that party (at offset off), following prev, is in range and
// ascending.
static fb_err
party_next(const char *msg, const char *what, uint32_t party, uint32_t prev,
		size_t off)
{
	if (party == 0 || party > FB_SA_PARTY_MAX) {
		return fb_errorf(FB_EPROTO,
				"%s: %s %u at offset %zu is not in 1..%d", msg,
				what, party, off, FB_SA_PARTY_MAX);
	}
	if (party <= prev) {
		return fb_errorf(FB_EPROTO,
				"%s: %s %u at offset %zu does not ascend "
				"(after %u)",
				msg, what, party, off, prev);
	}
	return FB_OK;
}

size_t
fb_sa_peers_len(uint32_t count)
{
	return FB_SA_LIST_HDR_LEN + (size_t)count * FB_SECAGG_ADVERT_LEN;
}

uint8_t *
fb_sa_peers_init(uint8_t *out, uint32_t count)
{
	return list_init(out, count);
}

fb_err
fb_sa_peers_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
{
	uint32_t n = 0;
	fb_err err = list_header("SA_PEERS", &n, b, len, FB_SECAGG_ADVERT_LEN);
	uint32_t prev = 0;
	for (uint32_t i = 0; err == FB_OK && i < n; i++) {
		size_t off = FB_SA_LIST_HDR_LEN +
				(size_t)i * FB_SECAGG_ADVERT_LEN;
		uint32_t idx = fb_sa_advert_index(b + off);
		err = party_next("SA_PEERS", "index", idx, prev,
				off + ADVERT_OFF_INDEX);
		prev = idx;
	}
	if (err != FB_OK) {
		return err;
	}
	l->count = n;
	l->items = b + FB_SA_LIST_HDR_LEN;
	return FB_OK;
}

size_t
fb_sa_bundles_len(uint32_t count)
{
	return FB_SA_LIST_HDR_LEN + (size_t)count * FB_SA_BUNDLE_ENTRY_LEN;
}

uint8_t *
fb_sa_bundles_init(uint8_t *out, uint32_t count)
{
	return list_init(out, count);
}

void
fb_sa_bundles_put(uint8_t *first, uint32_t i, uint32_t party,
		const uint8_t sealed[FB_SECAGG_SHARES_SEALED_LEN])
{
	uint8_t *p = first + (size_t)i * FB_SA_BUNDLE_ENTRY_LEN;
	fb_wire_store_u32(p, party);
	memcpy(p + 4, sealed, FB_SECAGG_SHARES_SEALED_LEN);
}

fb_err
fb_sa_bundles_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
{
	uint32_t n = 0;
	fb_err err = list_header("SA_SHARES/SA_INBOX", &n, b, len,
			FB_SA_BUNDLE_ENTRY_LEN);
	uint32_t prev = 0;
	for (uint32_t i = 0; err == FB_OK && i < n; i++) {
		size_t off = FB_SA_LIST_HDR_LEN +
				(size_t)i * FB_SA_BUNDLE_ENTRY_LEN;
		uint32_t party = fb_wire_load_u32(b + off);
		err = party_next("SA_SHARES/SA_INBOX", "party", party, prev,
				off);
		prev = party;
	}
	if (err != FB_OK) {
		return err;
	}
	l->count = n;
	l->items = b + FB_SA_LIST_HDR_LEN;
	return FB_OK;
}

// ---- SA_UNMASK_REQ ----

size_t
fb_sa_unmask_req_len(uint32_t ns, uint32_t nd)
{
	return FB_SA_LIST_HDR_LEN + 4 * ((size_t)ns + nd);
}

// NULL if ns/nd are allowed counts, else what is wrong.
static const char *
counts_problem(uint32_t ns, uint32_t nd)
{
	if (ns == 0) {
		return "no survivor";
	}
	if ((uint64_t)ns + nd > FB_SA_PARTY_MAX) {
		return "more than 2000 parties";
	}
	return NULL;
}

// Checks both party lists (read with get at base + 4 i) and that no party
// is in both; err_code is FB_EINVAL (encoder) or FB_EPROTO (decoder).
static fb_err
req_lists_check(fb_err err_code, const uint32_t *surv, uint32_t ns,
		const uint32_t *drop, uint32_t nd)
{
	const char *problem = counts_problem(ns, nd);
	if (problem != NULL) {
		return fb_errorf(err_code, "SA_UNMASK_REQ: %s (ns %u, nd %u)",
				problem, ns, nd);
	}
	const uint32_t *lists[2] = {surv, drop};
	const uint32_t counts[2] = {ns, nd};
	const char *names[2] = {"survivor", "dropped party"};
	for (int k = 0; k < 2; k++) {
		uint32_t prev = 0;
		for (uint32_t i = 0; i < counts[k]; i++) {
			uint32_t p = lists[k][i];
			if (p == 0 || p > FB_SA_PARTY_MAX || p <= prev) {
				return fb_errorf(err_code,
						"SA_UNMASK_REQ: %s %u (entry "
						"%u) is not in 1..%d or does "
						"not ascend",
						names[k], p, i,
						FB_SA_PARTY_MAX);
			}
			prev = p;
		}
	}
	// Both ascending: a merge finds a common party.
	uint32_t i = 0, j = 0;
	while (i < ns && j < nd) {
		if (surv[i] == drop[j]) {
			return fb_errorf(err_code,
					"SA_UNMASK_REQ: party %u is both a "
					"survivor and dropped",
					surv[i]);
		}
		if (surv[i] < drop[j]) {
			i++;
		} else {
			j++;
		}
	}
	return FB_OK;
}

fb_err
fb_sa_unmask_req_encode(uint8_t *out, const uint32_t *surv, uint32_t ns,
		const uint32_t *drop, uint32_t nd)
{
	fb_err err = req_lists_check(FB_EINVAL, surv, ns, drop, nd);
	if (err != FB_OK) {
		return err;
	}
	fb_wire_store_u16(out, (uint16_t)ns);
	fb_wire_store_u16(out + 2, (uint16_t)nd);
	uint8_t *p = out + FB_SA_LIST_HDR_LEN;
	for (uint32_t i = 0; i < ns; i++, p += 4) {
		fb_wire_store_u32(p, surv[i]);
	}
	for (uint32_t i = 0; i < nd; i++, p += 4) {
		fb_wire_store_u32(p, drop[i]);
	}
	return FB_OK;
}

void
fb_sa_unmask_req_copy(const struct fb_sa_unmask_req *r, uint32_t *surv,
		uint32_t *drop)
{
	for (uint32_t i = 0; i < r->ns; i++) {
		surv[i] = fb_sa_u32(r->surv, i);
	}
	for (uint32_t i = 0; i < r->nd; i++) {
		drop[i] = fb_sa_u32(r->drop, i);
	}
}

// Checks the u16 ns, u16 nd header and that the body holds exactly
// ns + nd entries of esize bytes.
static fb_err
pair_header(const char *msg, uint32_t *ns, uint32_t *nd, const uint8_t *b,
		size_t len, size_t esize)
{
	if (len < FB_SA_LIST_HDR_LEN) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes is shorter than its "
				"4-byte header",
				msg, len);
	}
	uint32_t s = fb_wire_load_u16(b), d = fb_wire_load_u16(b + 2);
	const char *problem = counts_problem(s, d);
	if (problem != NULL) {
		return fb_errorf(FB_EPROTO, "%s: %s (ns %u, nd %u at offset 0)",
				msg, problem, s, d);
	}
	size_t need = FB_SA_LIST_HDR_LEN + ((size_t)s + d) * esize;
	if (len != need) {
		return fb_errorf(FB_EPROTO,
				"%s: body of %zu bytes, ns %u and nd %u need "
				"%zu (truncated or trailing bytes)",
				msg, len, s, d, need);
	}
	*ns = s;
	*nd = d;
	return FB_OK;
}

fb_err
fb_sa_unmask_req_decode(
		struct fb_sa_unmask_req *r, const uint8_t *b, size_t len)
{
	uint32_t ns = 0, nd = 0;
	fb_err err = pair_header("SA_UNMASK_REQ", &ns, &nd, b, len, 4);
	if (err != FB_OK) {
		return err;
	}
	struct fb_sa_unmask_req req = {
			.ns = ns,
			.nd = nd,
			.surv = b + FB_SA_LIST_HDR_LEN,
			.drop = b + FB_SA_LIST_HDR_LEN + 4 * (size_t)ns,
	};
	uint32_t surv[FB_SA_PARTY_MAX], drop[FB_SA_PARTY_MAX];
	fb_sa_unmask_req_copy(&req, surv, drop);
	err = req_lists_check(FB_EPROTO, surv, ns, drop, nd);
	if (err != FB_OK) {
		return err;
	}
	*r = req;
	return FB_OK;
}

// ---- SA_UNMASK ----

size_t
fb_sa_unmask_len(uint32_t ns, uint32_t nd)
{
	return FB_SA_LIST_HDR_LEN + FB_SHAMIR_SHARE_LEN * ((size_t)ns + nd);
}

fb_err
fb_sa_unmask_encode(uint8_t *out, uint32_t ns, uint32_t nd,
		const uint8_t *self_shares, const uint8_t *mask_shares)
{
	const char *problem = counts_problem(ns, nd);
	if (problem != NULL) {
		return fb_errorf(FB_EINVAL, "SA_UNMASK: %s (ns %u, nd %u)",
				problem, ns, nd);
	}
	fb_wire_store_u16(out, (uint16_t)ns);
	fb_wire_store_u16(out + 2, (uint16_t)nd);
	uint8_t *p = out + FB_SA_LIST_HDR_LEN;
	memcpy(p, self_shares, (size_t)ns * FB_SHAMIR_SHARE_LEN);
	if (nd > 0) {
		memcpy(p + (size_t)ns * FB_SHAMIR_SHARE_LEN, mask_shares,
				(size_t)nd * FB_SHAMIR_SHARE_LEN);
	}
	return FB_OK;
}

fb_err
fb_sa_unmask_decode(struct fb_sa_unmask *u, const uint8_t *b, size_t len)
{
	uint32_t ns = 0, nd = 0;
	fb_err err = pair_header(
			"SA_UNMASK", &ns, &nd, b, len, FB_SHAMIR_SHARE_LEN);
	if (err != FB_OK) {
		return err;
	}
	u->ns = ns;
	u->nd = nd;
	u->self_shares = b + FB_SA_LIST_HDR_LEN;
	u->mask_shares = b + FB_SA_LIST_HDR_LEN +
			(size_t)ns * FB_SHAMIR_SHARE_LEN;
	return FB_OK;
}

// ---- SA_CONSISTENCY, SA_SIGNATURES ----

fb_err
fb_sa_consistency_decode(const uint8_t **sig, const uint8_t *b, size_t len)
{
	if (len != FB_SA_CONSISTENCY_LEN) {
		return fb_errorf(FB_EPROTO,
				"SA_CONSISTENCY: body of %zu bytes, expected "
				"%d",
				len, FB_SA_CONSISTENCY_LEN);
	}
	*sig = b;
	return FB_OK;
}

size_t
fb_sa_sigs_len(uint32_t count)
{
	return FB_SA_LIST_HDR_LEN + (size_t)count * FB_SA_SIG_ENTRY_LEN;
}

uint8_t *
fb_sa_sigs_init(uint8_t *out, uint32_t count)
{
	return list_init(out, count);
}

void
fb_sa_sigs_put(uint8_t *first, uint32_t i, uint32_t signer,
		const uint8_t sig[FB_SA_CONSISTENCY_LEN])
{
	uint8_t *p = first + (size_t)i * FB_SA_SIG_ENTRY_LEN;
	fb_wire_store_u32(p, signer);
	memcpy(p + 4, sig, FB_SA_CONSISTENCY_LEN);
}

fb_err
fb_sa_sigs_decode(struct fb_sa_list *l, const uint8_t *b, size_t len)
{
	uint32_t n = 0;
	fb_err err = list_header(
			"SA_SIGNATURES", &n, b, len, FB_SA_SIG_ENTRY_LEN);
	uint32_t prev = 0;
	for (uint32_t i = 0; err == FB_OK && i < n; i++) {
		size_t off = FB_SA_LIST_HDR_LEN +
				(size_t)i * FB_SA_SIG_ENTRY_LEN;
		uint32_t party = fb_wire_load_u32(b + off);
		err = party_next("SA_SIGNATURES", "signer", party, prev, off);
		prev = party;
	}
	if (err != FB_OK) {
		return err;
	}
	l->count = n;
	l->items = b + FB_SA_LIST_HDR_LEN;
	return FB_OK;
}

uint32_t
fb_sa_sigs_signer(const struct fb_sa_list *l, uint32_t i)
{
	return fb_wire_load_u32(l->items + (size_t)i * FB_SA_SIG_ENTRY_LEN);
}

const uint8_t *
fb_sa_sigs_sig(const struct fb_sa_list *l, uint32_t i)
{
	return l->items + (size_t)i * FB_SA_SIG_ENTRY_LEN + 4;
}
