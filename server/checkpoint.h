// server/checkpoint.h: the aggregator's durable state. After every commit
// the checkpoint (tensor file kind CHECKPOINT, written atomically) holds
// the global model, the FedAdam moments and, in its metadata JSON, the last
// committed round, the per-client epsilon as reported, the anchor
// (count, head hash) of the aggregator's own ledger for client-level DP,
// and the representation options its rounds plan (item_view, use_attrs,
// user_item_view, bias, as resolved: read by `fedbundle eval`, modelio.h;
// absent from checkpoints written before issue 14).
// Before a round's first PLAN leaves, its id is written to a small marker
// file, so a restarted aggregator never reuses the id of a round that was
// collecting when it died (that round is abandoned, never applied twice).
// Beside them, a federation-id file names the round numbering those
// files continue (wire-v1 §2.3): drawn when the aggregator starts with
// no round planned, kept while the numbering is resumed.
// Thread-safety: reentrant; called from the owner thread.
#ifndef FB_SERVER_CHECKPOINT_H
#define FB_SERVER_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "fedbundle/net/wire.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"
#include "round.h"

// What the checkpoint says of the aggregator's ledger.
struct agg_ledger_anchor {
	uint64_t count;
	uint8_t head[FB_HASH_LEN];
};

// Writes fed's checkpoint to fed->ckpt_path atomically, then removes the
// stored maps of catalogue versions other than fed's (catver.h). FB_EIO.
fb_err agg_checkpoint_save(const struct agg_fed *fed);

// Loads fed->ckpt_path into fed (model, moments, rounds, clients) if it
// exists (*found false otherwise, fed untouched). Shapes must match the
// model fed was set up with, unless the checkpoint records a catalogue
// other than fed->catver.new_digest: then its rows are mapped by original
// id into fed->model (set up with the public initialisation) and
// fed->catver says how (catver.h). FB_EFORMAT/FB_EIO with a detail;
// FB_EINVAL for a change of a catalogue without original ids.
fb_err agg_checkpoint_load(struct agg_fed *fed, bool *found,
		struct agg_ledger_anchor *anchor);

// After agg_fed_init mapped a checkpoint of another catalogue version onto
// the configured one (fed->catver.changed, catver.h): logs what changed
// at warning, writes the checkpoint of the new version at once (the
// change is made once, at this round boundary) and removes the stored
// maps of older versions. FB_EIO.
fb_err agg_checkpoint_adopt(struct agg_fed *fed);

// Writes the last planned round id to path (atomically, fsync'd). FB_EIO.
fb_err agg_planned_write(const char *path, uint32_t round);

// Reads it; *round = 0 if the file does not exist. FB_EFORMAT, FB_EIO.
fb_err agg_planned_read(const char *path, uint32_t *round);

// Writes a federation id to path: 32 lower-case hex digits and a newline
// (atomically, fsync'd). FB_EIO.
fb_err agg_federation_write(
		const char *path, const uint8_t id[FB_WIRE_FEDERATION_ID_LEN]);

// Reads it into id; *found is false (id untouched) if the file does not
// exist. FB_EFORMAT (not 32 hex digits, or all zero), FB_EIO.
fb_err agg_federation_read(const char *path,
		uint8_t id[FB_WIRE_FEDERATION_ID_LEN], bool *found);

#endif
