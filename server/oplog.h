// server/oplog.h: what the operator sees: one human line per round on
// stdout (participants, updates / refusals / late, bytes, durations of
// broadcast, collection, aggregation and commit, the epsilon each client
// reported, the global Recall@20 / NDCG@20 = sum of the clients' sums /
// sum of their counts), the same as one JSON line in --metrics-out, and a
// summary at the end. Never user data, keys or update values.
// Thread-safety: owner thread only.
#ifndef FB_SERVER_OPLOG_H
#define FB_SERVER_OPLOG_H

#include <stdint.h>
#include <stdio.h>

#include "round.h"

// Reports the round that just closed (fed->st, fed->clients).
void agg_oplog_round(const struct agg_fed *fed);

// Keeps the JSON line of the round being committed (fed->st.committed
// set) in the checkpoint folder, written atomically before the
// checkpoint, so that a stop between the checkpoint and the metrics line
// loses no line (agg_oplog_recover). No-op without --metrics-out. FB_EIO.
fb_err agg_oplog_keep_line(const struct agg_fed *fed);

// After a restart (the checkpoint loaded, fed->metrics open): if the kept
// line is of the last committed round and metrics_path has no line for
// that round, appends it with "recovered": true.
void agg_oplog_recover(const struct agg_fed *fed, const char *metrics_path);

// After a new catalogue version was adopted at start-up (fed->catver
// changed): one human line and, with --metrics-out, one JSON line
// {"event": "catalog", "after_round": r, "old": hex, "new": hex, "items":
// {"kept": k, "new": n, "retired": t}, "bundles": ..., "attrs": ...}.
void agg_oplog_catalog(const struct agg_fed *fed);

// The end-of-run summary to fp.
void agg_oplog_summary(const struct agg_fed *fed, FILE *fp, uint64_t now_ms);

#endif
