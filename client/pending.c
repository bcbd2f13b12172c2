// client/pending.c: see pending.h. The copy of an unacknowledged UPDATE
// is a noisy release already recorded in the privacy ledger: keeping it
// on disk costs no privacy. Why the order of writes in a round (node.c)
// never trains a round twice nor resends a round recorded complete, at
// each point where the client may die (crashpoint.h names in brackets):
// 1. training appends each release to the ledger [client.train,
//    client.after_ledger]: no copy, nothing sent. A restart trains the
//    round again if it is still offered; the first releases are counted
//    in the ledger but were never disclosed (over-counted, never under).
// 2. the copy is written (tmp + fsync + rename) BEFORE the UPDATE is sent
//    [client.pending_saved]: from here on a restart finds it and resends.
// 3. the UPDATE leaves [client.send], its ACK arrives [client.after_ack]:
//    the state does not yet record the round; a restart resends the same
//    bytes (the ACK says accepted, duplicate or late) and never trains.
// 4. the state is saved with the round completed, THEN the copy removed:
//    a restart in between finds a copy of a round <= last_completed and
//    removes it unsent. The removal is not fsync'd: a copy that comes
//    back after a crash is removed again at start (completed round) or
//    given up again (resent at most PENDING_TRIES times).
// The one way a round is trained twice: a copy given up after
// PENDING_TRIES failed offers (network failures count too) or one that
// cannot be read at start (an I/O error; the file is kept) is dropped,
// and if the aggregator still offers its round, the round is trained
// again. Its releases are in the ledger: over-counted, never under.
// The file: magic, version, round, federation, the round's figures, the
// bytes and a BLAKE2b-256 of all before it, integers little-endian.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/hash.h"
#include "pending.h"

#define PENDING_MAGIC "FBPENDUP"
#define PENDING_VERSION 1
#define MAGIC_LEN 8
// magic, version, round, federation, 2 x u32, 8 x 8-byte figures, len
#define HEADER_LEN                                                             \
	(MAGIC_LEN + 4 + 4 + FB_WIRE_FEDERATION_ID_LEN + 2 * 4 + 8 * 8 + 8)

static uint8_t *
put_u32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++) {
		p[k] = (uint8_t)(v >> (8 * k));
	}
	return p + 4;
}

static uint8_t *
put_u64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++) {
		p[k] = (uint8_t)(v >> (8 * k));
	}
	return p + 8;
}

static uint8_t *
put_f64(uint8_t *p, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return put_u64(p, bits);
}

static uint32_t
get_u32(const uint8_t **p)
{
	uint32_t v = 0;
	for (int k = 0; k < 4; k++) {
		v |= (uint32_t)(*p)[k] << (8 * k);
	}
	*p += 4;
	return v;
}

static uint64_t
get_u64(const uint8_t **p)
{
	uint64_t v = 0;
	for (int k = 0; k < 8; k++) {
		v |= (uint64_t)(*p)[k] << (8 * k);
	}
	*p += 8;
	return v;
}

static double
get_f64(const uint8_t **p)
{
	uint64_t bits = get_u64(p);
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static void
encode_header(uint8_t h[HEADER_LEN], const struct node_pending_copy *c)
{
	const struct node_round *r = &c->res;
	memcpy(h, PENDING_MAGIC, MAGIC_LEN);
	uint8_t *p = put_u32(h + MAGIC_LEN, PENDING_VERSION);
	p = put_u32(p, c->round);
	memcpy(p, c->federation, FB_WIRE_FEDERATION_ID_LEN);
	p += FB_WIRE_FEDERATION_ID_LEN;
	p = put_u32(p, r->steps);
	p = put_u32(p, r->eval_users);
	p = put_f64(p, r->loss);
	p = put_f64(p, r->epsilon);
	p = put_f64(p, r->eps_alone);
	p = put_u64(p, r->releases);
	p = put_f64(p, r->recall_sum);
	p = put_f64(p, r->ndcg_sum);
	p = put_f64(p, r->train_s);
	p = put_f64(p, r->eval_s);
	put_u64(p, c->len);
}

fb_err
node_pending_save(const char *path, const struct node_pending_copy *c)
{
	if (c->len > NODE_PENDING_MAX_LEN) {
		// Not written: a load would refuse it as damaged.
		return fb_errorf(FB_EINVAL,
				"%s: an update of %zu bytes is over the copy's "
				"limit of %zu",
				path, c->len, NODE_PENDING_MAX_LEN);
	}
	uint8_t h[HEADER_LEN], sum[FB_HASH_LEN];
	encode_header(h, c);
	struct fb_hash hs;
	fb_hash_init(&hs);
	fb_hash_update(&hs, h, sizeof(h));
	fb_hash_update(&hs, c->bytes, c->len);
	fb_hash_final(&hs, sum);
	struct fb_atomic_file f;
	fb_err err = fb_atomic_open(&f, path, 0600);
	if (err != FB_OK) {
		return err;
	}
	if ((err = fb_atomic_write(&f, h, sizeof(h))) != FB_OK ||
			(err = fb_atomic_write(&f, c->bytes, c->len)) !=
					FB_OK ||
			(err = fb_atomic_write(&f, sum, sizeof(sum))) !=
					FB_OK) {
		fb_atomic_abort(&f);
		return err;
	}
	return fb_atomic_commit(&f);
}

// Checks the framing of the file's buf (size bytes) and reads its header
// into *c (bytes not set). FB_EFORMAT naming path.
static fb_err
decode_header(const char *path, const uint8_t *buf, size_t size,
		struct node_pending_copy *c)
{
	if (size < MAGIC_LEN || memcmp(buf, PENDING_MAGIC, MAGIC_LEN) != 0) {
		return fb_errorf(FB_EFORMAT,
				"%s: not a copy of a pending update (bad magic)",
				path);
	}
	if (size < HEADER_LEN + FB_HASH_LEN) {
		return fb_errorf(FB_EFORMAT,
				"%s: truncated (%zu bytes, a copy has at least "
				"%d)",
				path, size, HEADER_LEN + FB_HASH_LEN);
	}
	const uint8_t *p = buf + MAGIC_LEN;
	uint32_t version = get_u32(&p);
	if (version != PENDING_VERSION) {
		return fb_errorf(FB_EFORMAT,
				"%s: format version %u, this client reads "
				"version %d",
				path, version, PENDING_VERSION);
	}
	memset(c, 0, sizeof(*c));
	c->round = get_u32(&p);
	memcpy(c->federation, p, FB_WIRE_FEDERATION_ID_LEN);
	p += FB_WIRE_FEDERATION_ID_LEN;
	struct node_round *r = &c->res;
	r->steps = get_u32(&p);
	r->eval_users = get_u32(&p);
	r->loss = get_f64(&p);
	r->epsilon = get_f64(&p);
	r->eps_alone = get_f64(&p);
	r->releases = (size_t)get_u64(&p);
	r->recall_sum = get_f64(&p);
	r->ndcg_sum = get_f64(&p);
	r->train_s = get_f64(&p);
	r->eval_s = get_f64(&p);
	uint64_t len = get_u64(&p);
	if (len != size - HEADER_LEN - FB_HASH_LEN) {
		return fb_errorf(FB_EFORMAT,
				"%s: truncated or padded (%zu bytes, its header "
				"announces an update of %llu)",
				path, size, (unsigned long long)len);
	}
	c->len = (size_t)len;
	uint8_t sum[FB_HASH_LEN];
	fb_hash_buf(buf, size - FB_HASH_LEN, sum);
	if (memcmp(sum, buf + size - FB_HASH_LEN, FB_HASH_LEN) != 0) {
		return fb_errorf(FB_EFORMAT,
				"%s: checksum mismatch (the file was altered or "
				"damaged)",
				path);
	}
	return FB_OK;
}

fb_err
node_pending_load(const char *path, bool *found, struct node_pending_copy *c)
{
	memset(c, 0, sizeof(*c));
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*found = false;
		return FB_OK;
	}
	char *buf = NULL;
	size_t size = 0;
	fb_err err = fb_read_file(path,
			NODE_PENDING_MAX_LEN + HEADER_LEN + FB_HASH_LEN, &buf,
			&size);
	if (err != FB_OK) {
		return err;
	}
	struct node_pending_copy got;
	err = decode_header(path, (const uint8_t *)buf, size, &got);
	if (err != FB_OK) {
		free(buf);
		return err;
	}
	got.bytes = malloc(got.len > 0 ? got.len : 1);
	if (got.bytes == NULL) {
		free(buf);
		return FB_ENOMEM;
	}
	memcpy(got.bytes, buf + HEADER_LEN, got.len);
	free(buf);
	*c = got;
	*found = true;
	return FB_OK;
}

fb_err
node_pending_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT) {
		return fb_errorf(FB_EIO, "%s: cannot remove: %s", path,
				strerror(errno));
	}
	return FB_OK;
}
