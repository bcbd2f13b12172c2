// include/fedbundle/privacy/ledger.h: the privacy ledger of a data owner: every
// release of a noised statistic with its (q, sigma, steps), appended and
// fsync'd BEFORE the release leaves the process, so a crash can only make
// the ledger over-count, never under-count.
// File format: one JSON object per line (human-auditable), fields in a fixed
// order, the last two being "prev" (hash of the previous entry; the first
// entry's prev is BLAKE2b-256("fedbundle-ledger-v1")) and "hash" =
// BLAKE2b-256(the line's bytes up to, not including, ',"hash":'). Altering
// or removing an entry breaks the chain; removing entries at the end is
// detected by comparing the count and head hash with an anchor kept
// elsewhere (the client's state file, the aggregator's log).
// Two kinds of entry: a release (mode "user" or "client": q, sigma, steps,
// clip, delta and, when recorded, the grid's dim and noise_steps; a
// release of secure aggregation adds the fields of its distributed noise,
// see struct fb_ledger_entry), and a
// budget decision (mode "budget": the owner's epsilon and delta from then
// on, written when a client starts with a policy budget other than the last
// one recorded). A budget entry's line holds seq, round, mode, epsilon,
// delta, time, prev and hash, in that order; it spends nothing, and the
// accountant replay skips it. Ledgers written before budget entries
// existed load unchanged (their lines never carry "epsilon").
// One writer: an appending handle (fb_ledger_open) holds an exclusive lock
// on the file for its whole life, so a second appending open, by another
// process or in this one, is refused; each would otherwise replay the
// ledger and spend the same remaining budget. Readers that never append
// use fb_ledger_open_read(), which takes no lock, or read through the
// holder's handle when they run in the holder's process.
// Thread-safety: a ledger belongs to one thread.
#ifndef FB_INCLUDE_FEDBUNDLE_LEDGER_H
#define FB_INCLUDE_FEDBUNDLE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedbundle/privacy/accountant.h"
#include "fedbundle/util/err.h"
#include "fedbundle/util/hash.h"

// The mode of a budget entry.
#define FB_LEDGER_MODE_BUDGET "budget"

struct fb_ledger_entry {
	uint64_t seq;   // 1, 2, ... (written by the ledger)
	uint64_t round; // training step or federated round it belongs to;
			// a budget entry: the last round completed before it
	char mode[8];   // "user" or "client" (releases), or "budget"
	double q;       // sampling rate of the release
	double sigma;   // noise multiplier: noise std / L2 sensitivity
	uint64_t steps; // number of identical compositions it stands for
	double clip;    // clipping norm used (informational)
	double delta;   // the owner's delta target (informational for a
			// release; a budget entry: the new delta)
	// A budget entry only (0 in releases): the owner's epsilon from now
	// on. A budget entry has q, sigma, steps, clip, dim and noise_steps 0.
	double epsilon;
	// The release's fixed-point grid (accountant.h, fb_acct_grid): its
	// coordinates and its noise in grid steps; 0 in entries written
	// before they were recorded (accounted as continuous releases).
	uint64_t dim;
	double noise_steps;
	// A release with distributed noise (secure aggregation,
	// protocols/secagg-v1.md §7) only: mech FB_LEDGER_MECH_DDG, mode
	// "user", steps 1 and the grid recorded; its sigma is the plan's
	// central noise multiplier and noise_steps = sigma clip / grid the
	// central std in grid steps as for any release (so the grid, a power
	// of two, is known exactly), of which this owner added one share of
	// sigma_share grid steps; the release is accounted as `shares` honest
	// shares (fb_acct_add_ddg, l2 = clip / grid). eps_assumed: the total
	// epsilon spent after it under that assumption; eps_alone: the total
	// if in every such release its own share had been the only noise
	// (fb_ledger_accountant_alone). All empty or 0 in other entries,
	// whose lines do not carry them (older ledgers load unchanged).
	char mech[16];
	uint64_t shares;
	double sigma_share;
	double eps_assumed;
	double eps_alone;
	char time[24]; // UTC, ISO 8601 (written by the ledger)
};

// The mech of a release with distributed discrete Gaussian noise.
#define FB_LEDGER_MECH_DDG "secagg-ddg"

// True if e is a release with distributed noise (mech secagg-ddg).
bool fb_ledger_is_ddg(const struct fb_ledger_entry *e);

// The distributed-noise release of e (fb_ledger_is_ddg) for the
// accountant: q, sigma_share, n_honest = shares, l2 = clip / grid, l1 0,
// dim.
void fb_ledger_ddg_of(const struct fb_ledger_entry *e, struct fb_acct_ddg *out);

struct fb_ledger;

// Opens the ledger at path for appending: takes its exclusive lock
// (flock(LOCK_EX), non-blocking, held until fb_ledger_close), then
// verifies every entry and the chain. FB_ESTATE, naming the file, if
// another handle (another process, or another DP state of this process)
// holds the lock; a child forked while the handle is open shares it. A
// missing file is created (empty, 0600) only if create is true;
// otherwise, and for a corrupt file, an error names the file and the
// first bad line. A final line without its newline is a torn append from
// a crash: the release it guarded never left (appends are fsync'd
// first), so it is dropped with a warning. The caller closes *out.
fb_err fb_ledger_open(struct fb_ledger **out, const char *path, bool create);

// Opens the ledger at path read-only, without the lock, so it works while
// a writer holds it: the entries on disk at the time, verified as by
// fb_ledger_open(); an incomplete final line (an append in progress, or a
// crash) is ignored and left on disk. A missing file is an error.
// Appending through the handle fails with FB_ESTATE. The caller closes
// *out.
fb_err fb_ledger_open_read(struct fb_ledger **out, const char *path);

// The length in bytes of the incomplete final line found when l was
// opened (dropped by fb_ledger_open, ignored by fb_ledger_open_read); 0 if
// there was none. Reported by `fedbundle ledger verify`.
size_t fb_ledger_torn(const struct fb_ledger *l);

// Closes the ledger, releasing its lock; NULL is a no-op.
void fb_ledger_close(struct fb_ledger *l);

// Appends e (seq and time are filled in), fsyncs, and only then returns
// FB_OK. On failure nothing was appended (a partial line is truncated
// away) and the release must not happen; FB_ESTATE on a read-only handle.
fb_err fb_ledger_append(struct fb_ledger *l, const struct fb_ledger_entry *e);

// Like fb_ledger_append() but without the fsync: the entry is written
// (and counted) but not yet durable. For releases that stay inside the
// process until a later fb_ledger_sync() (centralized training: a step's
// noisy gradient never leaves, the final model does); every such release
// MUST be followed by fb_ledger_sync() before anything derived from it
// leaves the process.
fb_err fb_ledger_append_deferred(
		struct fb_ledger *l, const struct fb_ledger_entry *e);

// Makes every deferred append durable. FB_EIO: nothing may be released.
fb_err fb_ledger_sync(struct fb_ledger *l);

// Number of entries (releases and budget entries).
size_t fb_ledger_count(const struct fb_ledger *l);

// Number of release entries (budget entries not counted).
size_t fb_ledger_releases(const struct fb_ledger *l);

// True if e is a budget entry (mode "budget").
bool fb_ledger_is_budget(const struct fb_ledger_entry *e);

// Appends a budget entry (epsilon > 0 and finite, delta in (0, 1)) after
// round, fsync'd like any entry. FB_EINVAL for bad values, else as
// fb_ledger_append().
fb_err fb_ledger_append_budget(struct fb_ledger *l, uint64_t round,
		double epsilon, double delta);

// The last budget entry into *out; *found is false (and *out untouched)
// if the ledger holds none.
void fb_ledger_last_budget(const struct fb_ledger *l,
		struct fb_ledger_entry *out, bool *found);

// Entry k (0-based) into *out.
fb_err fb_ledger_entry_at(const struct fb_ledger *l, size_t k,
		struct fb_ledger_entry *out);

// Hash of the last entry (the genesis hash if empty).
void fb_ledger_head(const struct fb_ledger *l, uint8_t out[FB_HASH_LEN]);

// Checks an anchor (count and head hash recorded elsewhere): FB_EFORMAT if
// the ledger has fewer entries or a different hash at that count (entries
// were removed or replaced).
fb_err fb_ledger_check_anchor(const struct fb_ledger *l, size_t count,
		const uint8_t head[FB_HASH_LEN]);

// Replays every release entry into a new accountant of the given kind
// (budget entries spend nothing and are skipped; distributed-noise
// releases through fb_acct_add_ddg with their recorded shares). The
// caller destroys *out.
fb_err fb_ledger_accountant(const struct fb_ledger *l, enum fb_acct_kind kind,
		struct fb_acct **out);

// Like fb_ledger_accountant() but each distributed-noise release counts
// as if its own share were its only noise (n_honest = 1): what the owner
// keeps if every other party colluded with the aggregator every time.
fb_err fb_ledger_accountant_alone(const struct fb_ledger *l,
		enum fb_acct_kind kind, struct fb_acct **out);

#endif
