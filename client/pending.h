// client/pending.h: the on-disk copy of an UPDATE whose ACK has not
// arrived (wire-v1 §6.1 "A lost ACK"), so that a client that restarts
// offers the same bytes again instead of training the round again (which
// would spend the round's budget twice). One file in the state folder,
// written atomically (mode 0600) before the UPDATE leaves, removed once
// the state records the round completed or the copy is given up. Why the
// writes are ordered as they are: client/pending.c.
// Thread-safety: plain functions on caller-owned data; one thread per file.
#ifndef FB_CLIENT_PENDING_H
#define FB_CLIENT_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"
#include "local.h"

// The file's name in the state folder.
#define NODE_PENDING_FILE "pending-update.fbp"

// The largest copy a load accepts (the UPDATE's bytes): 1 GiB.
#define NODE_PENDING_MAX_LEN ((size_t)1 << 30)

// A copy: its round, the federation that round counts in (all zero:
// unknown), the round's result as finish_round needs it (res.update and
// res.cpu are not kept) and the UPDATE before sealing (bytes, len).
struct node_pending_copy {
	uint32_t round;
	uint8_t federation[FB_WIRE_FEDERATION_ID_LEN];
	struct node_round res;
	uint8_t *bytes;
	size_t len;
};

// Writes c to path atomically, mode 0600 (tmp + fsync + rename + folder
// fsync). FB_EIO naming path; the old file, if any, is then untouched.
// FB_EINVAL (nothing written) for a copy over NODE_PENDING_MAX_LEN, which
// node_pending_load would refuse.
fb_err node_pending_save(const char *path, const struct node_pending_copy *c);

// Reads path into *c: *found is false (and *c zeroed) if there is no file.
// FB_EFORMAT naming path for a file that is truncated, altered (checksum),
// of another version or not a copy at all; FB_EIO if it cannot be read.
// On success c->bytes is malloc'd: the caller frees it.
fb_err node_pending_load(
		const char *path, bool *found, struct node_pending_copy *c);

// Removes path; a missing file is fine. FB_EIO naming path otherwise.
fb_err node_pending_remove(const char *path);

#endif
