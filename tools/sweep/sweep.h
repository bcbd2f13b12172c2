// tools/sweep/sweep.h: what the parts of `fedbundle sweep` share (the
// command itself is tools/cmd-sweep.c): the grid and its points
// (sweep-grid.c), the done markers, results.csv and the grid's record in
// the output folder (sweep-results.c), and the runner of points as child
// processes (sweep-run.c).
// Thread-safety: single-threaded; the runner forks.
#ifndef FB_TOOLS_SWEEP_H
#define FB_TOOLS_SWEEP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fedbundle/util/hash.h"
#include "sim/sim.h"

#define SWEEP_CMD "sweep"

#define MAX_AXES 16
#define MAX_VALUES 64
#define VALUE_MAX 128
#define MAX_POINTS 100000

struct axis {
	char name[64]; // as written in the grid
	char key[64];  // the config key it sets ("round.clip")
	char values[MAX_VALUES][VALUE_MAX]; // JSON text of each value
	size_t n;
};

struct point {
	struct sim_config cfg;
	size_t value[MAX_AXES]; // index of each axis's value
	char id[512];           // folder name
	char hash[2 * FB_HASH_LEN + 1];
	bool done;
	bool todo; // to run now
	bool failed;
	int status; // the exit status of its child (POINT_*)
	double wall_s;
	pid_t pid;
};

struct grid {
	char path[SIM_PATH_MAX];
	char base_label[2 * SIM_PATH_MAX + 32];
	char *base_text; // the base configuration's JSON
	size_t base_len;
	char base_dir[SIM_PATH_MAX];
	struct axis axes[MAX_AXES];
	size_t n_axes;
	char *per_privacy[3]; // JSON fragment applied to points of a mode
};

#define N_COLUMNS 31
#define COL_FINAL_RECALL20 16

// OUT/sweep.json: the hash of the grid the folder was started with. What
// `--point K` runs is the K-th point of that grid, so a folder refuses
// any other grid rather than let two workers mean two points by one K.
#define RECORD_NAME "sweep.json"

struct sweep {
	const char *out;
	const char *scratch;
	bool keep_work;
	bool single; // --point: one point, no results.csv
	struct point *pts;
	size_t n;
};

// A point child's exit status.
enum {
	POINT_RAN = 0,      // ran; its marker is written
	POINT_FAILED = 1,   // the simulation or its marker failed
	POINT_BUSY = 3,     // another process holds the point's lock
	POINT_WAS_DONE = 4, // finished by another process meanwhile
};

// `--point K` of a point another process is running: refused, with the
// status of sysexits.h's EX_TEMPFAIL (try again later).
#define EXIT_BUSY 75

struct tally {
	size_t n_done;    // points with a marker, whole grid (not --point)
	size_t ran;       // children that ended
	size_t failed;    // of which failed
	size_t busy;      // of which found the point locked by another
	size_t elsewhere; // of which found it finished by another
};

// Set by SIGINT/SIGTERM (sweep_catch_signals): the runner stops starting
// points and waits for the running ones.
extern volatile sig_atomic_t sweep_stop_signal;

// ---- sweep-grid.c ----

// Reads and checks the grid file at path into *g; errors name the file
// and the key.
fb_err sweep_grid_load(struct grid *g, const char *path);

// The JSON text of axis i's value as point p runs it: a non-private
// point has epsilon "inf" and privacy "none" whatever its axes said.
const char *sweep_point_value(
		const struct point *p, const struct grid *g, size_t i);

// A value's text without the quotes of a JSON string.
void sweep_unquote(char *out, size_t cap, const char *v);

// Builds every point, checks it and drops the duplicates.
fb_err sweep_make_points(
		const struct grid *g, struct point **out, size_t *n_out);

// ---- sweep-results.c ----

// The marker: "column<TAB>value" lines, then "hash<TAB>...".
fb_err sweep_write_done(const char *dir, const struct point *p,
		const struct sim_result *r);

// Reads a marker into vals (one per column); true if it is there and its
// hash is the point's.
bool sweep_read_done(const char *out, const struct point *p, char vals[][128]);

// Rewrites OUT/results.csv from the markers, in grid order. *n_done
// receives the number of finished points.
fb_err sweep_write_csv(const char *out, const struct point *pts, size_t n,
		size_t *n_done);

// The grid's hash: the points in their order, each its folder name and
// the hash of its resolved configuration. Whitespace or key order in the
// grid file does not count; a changed base, axis or value does.
void sweep_grid_hash(const struct point *pts, size_t n,
		char hex[2 * FB_HASH_LEN + 1]);

// Checks the grid against the folder's record: FB_EINVAL naming both if
// they differ. With create, a folder without a record gets this grid's
// (atomically, once: of concurrent first workers one record wins and the
// others check against it); without, a missing record is fine.
fb_err sweep_check_record(const char *out, const char *grid_path,
		const struct point *pts, size_t n, bool create);

// ---- sweep-run.c ----

// A duration as "1h02m03s" into buf.
void sweep_hms(char *buf, size_t cap, double s);

// The one point runner: forks a child (run_point) for every point with
// todo set, at most jobs at a time, until they all ended or a signal came
// (then the children are killed; their locks die with them).
void sweep_run_points(
		struct sweep *sw, uint32_t jobs, size_t todo, struct tally *t);

// Installs the SIGINT/SIGTERM handler (sweep_stop_signal).
void sweep_catch_signals(void);

#endif
