// common/privacy/ledger.c: the append-only, hash-chained privacy ledger. Entries
// live in memory after a full verification at open; an append writes one
// line with O_APPEND, fsyncs it, and only then adds it to memory, so the
// in-memory ledger never holds an entry the disk might not have. Lines are
// parsed with the strict config parser, so a hand-edited line with an
// extra, missing-type or misspelt field is refused like a bad config.
// An appending handle holds flock(LOCK_EX) on its open file description
// from before it reads the file until it is closed: what it replayed is
// the whole ledger for as long as it may append. Read-only handles take
// no lock, never write, and read a snapshot. Budget entries (ledger.h)
// have their own canonical line; each kind's line must be exactly what
// format_body() prints for it, so a field of the other kind cannot be
// slipped into an entry.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/config.h"
#include "fedbundle/util/fsutil.h"
#include "fedbundle/util/log.h"

#define GENESIS_LABEL "fedbundle-ledger-v1"
#define MAX_LINE 1024
#define MAX_FILE ((size_t)1 << 30)

struct fb_ledger {
	char *path;
	int fd; // open for appending and locked; -1 for a read-only handle
	struct fb_ledger_entry *entries;
	uint8_t (*heads)[FB_HASH_LEN]; // heads[k] = hash after k entries
	size_t n;
	size_t cap;
	bool unsynced; // appended entries not yet fsync'd
	size_t torn;   // bytes of an incomplete final line found at open
};

// A parsed line: the entry plus its chain fields.
struct line {
	struct fb_ledger_entry e;
	char prev[2 * FB_HASH_LEN + 1];
	char hash[2 * FB_HASH_LEN + 1];
};

#define L(f) offsetof(struct line, f)
static const struct fb_cfg_field line_fields[] = {
		{.name = "seq",
				.type = FB_CFG_U64,
				.offset = L(e.seq),
				.min = 1,
				.max = 9007199254740992.0,
				.help = "entry number"},
		{.name = "round",
				.type = FB_CFG_U64,
				.offset = L(e.round),
				.min = 0,
				.max = 9007199254740992.0,
				.help = "step or round"},
		{.name = "mode",
				.type = FB_CFG_STRING,
				.offset = L(e.mode),
				.str_cap = sizeof(((struct fb_ledger_entry *)0)
								  ->mode),
				.help = "granularity"},
		{.name = "q",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.q),
				.min = 0,
				.max = 1,
				.help = "sampling rate"},
		{.name = "sigma",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.sigma),
				.min = 0,
				.max = 1e300,
				.help = "noise multiplier"},
		{.name = "steps",
				.type = FB_CFG_U64,
				.offset = L(e.steps),
				.min = 1,
				.max = 9007199254740992.0,
				.help = "compositions"},
		{.name = "clip",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.clip),
				.min = 0,
				.max = 1e300,
				.help = "clipping norm"},
		{.name = "epsilon",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.epsilon),
				.min = 0,
				.max = 1e300,
				.help = "budget epsilon"},
		{.name = "delta",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.delta),
				.min = 0,
				.max = 1,
				.help = "delta target"},
		{.name = "dim",
				.type = FB_CFG_U64,
				.offset = L(e.dim),
				.min = 1,
				.max = 9007199254740992.0,
				.help = "coordinates of the release"},
		{.name = "noise_steps",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.noise_steps),
				.min = 1,
				.max = 1e300,
				.help = "noise std in grid steps"},
		{.name = "mech",
				.type = FB_CFG_STRING,
				.offset = L(e.mech),
				.str_cap = sizeof(((struct fb_ledger_entry *)0)
								  ->mech),
				.help = "noise mechanism (secagg-ddg)"},
		{.name = "shares",
				.type = FB_CFG_U64,
				.offset = L(e.shares),
				.min = 1,
				.max = 9007199254740992.0,
				.help = "honest noise shares accounted"},
		{.name = "sigma_share",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.sigma_share),
				.min = 0,
				.max = 1e300,
				.help = "std of own share, grid steps"},
		{.name = "eps_assumed",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.eps_assumed),
				.min = 0,
				.max = 1e300,
				.help = "epsilon spent, shares assumed"},
		{.name = "eps_alone",
				.type = FB_CFG_DOUBLE,
				.offset = L(e.eps_alone),
				.min = 0,
				.max = 1e300,
				.help = "epsilon spent, own shares alone"},
		{.name = "time",
				.type = FB_CFG_STRING,
				.offset = L(e.time),
				.str_cap = sizeof(((struct fb_ledger_entry *)0)
								  ->time),
				.help = "UTC time"},
		{.name = "prev",
				.type = FB_CFG_STRING,
				.offset = L(prev),
				.str_cap = 2 * FB_HASH_LEN + 1,
				.help = "previous hash"},
		{.name = "hash",
				.type = FB_CFG_STRING,
				.offset = L(hash),
				.str_cap = 2 * FB_HASH_LEN + 1,
				.help = "this entry's hash"},
};

static const char hash_key[] = ",\"hash\":\"";

static void
genesis(uint8_t out[FB_HASH_LEN])
{
	fb_hash_buf(GENESIS_LABEL, strlen(GENESIS_LABEL), out);
}

// The line of e after prev, without the trailing "hash" part, into buf.
static int
format_body(char *buf, size_t cap, const struct fb_ledger_entry *e,
		const uint8_t prev[FB_HASH_LEN])
{
	char prev_hex[2 * FB_HASH_LEN + 1];
	fb_hash_hex(prev, prev_hex);
	if (fb_ledger_is_budget(e)) {
		return snprintf(buf, cap,
				"{\"seq\":%llu,\"round\":%llu,\"mode\":\"%s\","
				"\"epsilon\":%.17g,\"delta\":%.17g,\"time\":"
				"\"%s\",\"prev\":\"%s\"",
				(unsigned long long)e->seq,
				(unsigned long long)e->round, e->mode,
				e->epsilon, e->delta, e->time, prev_hex);
	}
	// The grid's fields only where they were recorded: entries written
	// before them keep their canonical form.
	char grid[320] = "";
	if (e->dim > 0) {
		snprintf(grid, sizeof(grid),
				",\"dim\":%llu,\"noise_steps\":%.17g",
				(unsigned long long)e->dim, e->noise_steps);
	}
	if (fb_ledger_is_ddg(e)) {
		size_t used = strlen(grid);
		snprintf(grid + used, sizeof(grid) - used,
				",\"mech\":\"%s\",\"shares\":%llu,"
				"\"sigma_share\":%.17g,\"eps_assumed\":%.17g,"
				"\"eps_alone\":%.17g",
				e->mech, (unsigned long long)e->shares,
				e->sigma_share, e->eps_assumed, e->eps_alone);
	}
	return snprintf(buf, cap,
			"{\"seq\":%llu,\"round\":%llu,\"mode\":\"%s\","
			"\"q\":%.17g,\"sigma\":%.17g,\"steps\":%llu,"
			"\"clip\":%.17g,\"delta\":%.17g%s,\"time\":\"%s\","
			"\"prev\":\"%s\"",
			(unsigned long long)e->seq,
			(unsigned long long)e->round, e->mode, e->q, e->sigma,
			(unsigned long long)e->steps, e->clip, e->delta, grid,
			e->time, prev_hex);
}

static fb_err
grow(struct fb_ledger *l)
{
	if (l->n + 1 < l->cap) {
		return FB_OK;
	}
	size_t cap = l->cap > 0 ? 2 * l->cap : 64;
	struct fb_ledger_entry *e = realloc(l->entries, cap * sizeof(*e));
	if (e == NULL) {
		return FB_ENOMEM;
	}
	l->entries = e;
	uint8_t(*h)[FB_HASH_LEN] = realloc(l->heads, cap * sizeof(*h));
	if (h == NULL) {
		return FB_ENOMEM;
	}
	l->heads = h;
	l->cap = cap;
	return FB_OK;
}

bool
fb_ledger_is_budget(const struct fb_ledger_entry *e)
{
	return strcmp(e->mode, FB_LEDGER_MODE_BUDGET) == 0;
}

bool
fb_ledger_is_ddg(const struct fb_ledger_entry *e)
{
	return strcmp(e->mech, FB_LEDGER_MECH_DDG) == 0;
}

// The grid's exponent of a distributed-noise release: noise_steps is
// sigma * clip / 2^k with k an integer, so k is recovered exactly from
// the recorded values; false if no integer k gives noise_steps back.
static bool
ddg_grid_log2(const struct fb_ledger_entry *e, int *k)
{
	if (!(e->sigma > 0) || !(e->clip > 0) || !(e->noise_steps > 0)) {
		return false;
	}
	double k_d = round(log2(e->sigma * e->clip / e->noise_steps));
	if (!(fabs(k_d) <= 1100)) {
		return false;
	}
	*k = (int)k_d;
	return e->sigma * ldexp(e->clip, -*k) == e->noise_steps;
}

void
fb_ledger_ddg_of(const struct fb_ledger_entry *e, struct fb_acct_ddg *out)
{
	int k = 0;
	ddg_grid_log2(e, &k); // checked when the entry was accepted
	*out = (struct fb_acct_ddg){.q = e->q,
			.sigma_share = e->sigma_share,
			.n_honest = e->shares,
			.l2 = ldexp(e->clip, -k),
			.l1 = 0,
			.dim = e->dim};
}

// Whether a distributed-noise release's fields fit together, or another
// entry carries none of them.
static bool
valid_ddg(const struct fb_ledger_entry *e)
{
	if (!fb_ledger_is_ddg(e)) {
		return e->mech[0] == '\0' && e->shares == 0 &&
				e->sigma_share == 0 && e->eps_assumed == 0 &&
				e->eps_alone == 0;
	}
	int k = 0;
	return strcmp(e->mode, "user") == 0 && e->steps == 1 && e->dim > 0 &&
			e->shares >= 1 &&
			e->sigma_share >= FB_ACCT_DDG_SIGMA_MIN &&
			isfinite(e->sigma_share) && e->eps_assumed >= 0 &&
			e->eps_alone >= 0 && ddg_grid_log2(e, &k);
}

// Whether e's values fit its kind (release or budget).
static bool
valid_entry(const struct fb_ledger_entry *e)
{
	if (fb_ledger_is_budget(e)) {
		return e->epsilon > 0 && isfinite(e->epsilon) && e->delta > 0 &&
				e->delta < 1 && e->q == 0 && e->sigma == 0 &&
				e->steps == 0 && e->clip == 0 && e->dim == 0 &&
				e->noise_steps == 0 && e->mech[0] == '\0' &&
				valid_ddg(e);
	}
	if (!valid_ddg(e)) {
		return false;
	}
	bool mode = strcmp(e->mode, "user") == 0 ||
			strcmp(e->mode, "client") == 0;
	return mode && e->q > 0 && e->q <= 1 && e->sigma > 0 && e->steps >= 1 &&
			e->clip >= 0 && e->delta >= 0 && e->delta <= 1 &&
			e->epsilon == 0 &&
			(e->dim > 0) == (e->noise_steps >= 1);
}

// Verifies and adds one complete line (without its newline).
static fb_err
add_line(struct fb_ledger *l, const char *text, size_t len, size_t lineno)
{
	if (len >= MAX_LINE) {
		return fb_errorf(FB_EFORMAT, "%s:%zu: line too long", l->path,
				lineno);
	}
	struct line ln = {0};
	struct fb_cfg_section s = {"", line_fields,
			sizeof(line_fields) / sizeof(line_fields[0]), &ln};
	char label[300];
	snprintf(label, sizeof(label), "%.280s:%zu", l->path, lineno);
	fb_err err = fb_config_parse(label, text, len, &s, 1);
	if (err != FB_OK) {
		return fb_errorf(FB_EFORMAT, "%s", fb_last_error(err));
	}
	if (ln.e.seq != l->n + 1) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: entry %llu where %zu was expected "
				"(entries removed or reordered)",
				l->path, lineno, (unsigned long long)ln.e.seq,
				l->n + 1);
	}
	if (!valid_entry(&ln.e)) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: invalid mode, q, sigma, grid or budget",
				l->path, lineno);
	}
	// Recompute the body from the parsed values: it must match the line
	// byte for byte (canonical form), and its hash the stored one.
	char body[MAX_LINE];
	int bl = format_body(body, sizeof(body), &ln.e, l->heads[l->n]);
	char want_hex[2 * FB_HASH_LEN + 1];
	if (bl < 0 || (size_t)bl >= sizeof(body) || (size_t)bl > len ||
			memcmp(body, text, (size_t)bl) != 0 ||
			len - (size_t)bl !=
					strlen(hash_key) + 2 * FB_HASH_LEN +
							2 ||
			memcmp(text + bl, hash_key, strlen(hash_key)) != 0) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: entry altered (not in canonical form or "
				"its prev does not chain to entry %zu)",
				l->path, lineno, l->n);
	}
	uint8_t digest[FB_HASH_LEN];
	fb_hash_buf(body, (size_t)bl, digest);
	fb_hash_hex(digest, want_hex);
	if (strcmp(want_hex, ln.hash) != 0) {
		return fb_errorf(FB_EFORMAT,
				"%s:%zu: hash mismatch (entry altered)",
				l->path, lineno);
	}
	err = grow(l);
	if (err != FB_OK) {
		return err;
	}
	l->entries[l->n] = ln.e;
	memcpy(l->heads[l->n + 1], digest, FB_HASH_LEN);
	l->n++;
	return FB_OK;
}

void
fb_ledger_close(struct fb_ledger *l)
{
	if (l == NULL) {
		return;
	}
	if (l->fd >= 0) {
		close(l->fd);
	}
	free(l->path);
	free(l->entries);
	free(l->heads);
	free(l);
}

// A missing ledger: an error unless the caller may create it.
static fb_err
missing(const char *path, int errnum)
{
	return fb_errorf(FB_EIO,
			"%s: privacy ledger missing (%s): refusing to start "
			"from zero; restore it or point to the right file",
			path, strerror(errnum));
}

// Opens path for reading and appending; an absent file is created (empty,
// mode 0600) only if create.
static fb_err
open_append(const char *path, bool create, int *out)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC;
	int fd = open(path, flags);
	if (fd < 0 && errno == ENOENT && create) {
		// O_EXCL: of two creators, one creates the file and the other
		// opens it (and then finds it locked).
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			fb_err err = fb_fsync_dir_of(path);
			if (err != FB_OK) {
				close(fd);
				return err;
			}
		} else if (errno == EEXIST) {
			fd = open(path, flags);
		}
	}
	if (fd < 0 && errno == ENOENT && !create) {
		return missing(path, errno);
	}
	if (fd < 0) {
		return fb_errorf(FB_EIO, "%s: cannot open for appending: %s",
				path, strerror(errno));
	}
	*out = fd;
	return FB_OK;
}

// Takes the one-writer lock of the ledger behind fd. flock belongs to the
// open file description, so a second open of the same file in this
// process is refused as well.
static fb_err
lock_writer(int fd, const char *path)
{
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			return fb_errorf(FB_ESTATE,
					"%s: privacy ledger in use: another "
					"process, or another DP state of this "
					"process, holds it for appending (one "
					"writer at a time, or both would spend "
					"the same budget)",
					path);
		}
		return fb_errorf(FB_EIO, "%s: cannot lock the ledger: %s", path,
				strerror(errno));
	}
	// The lock guards the path only if the path still names this file
	// (not one renamed over it between the open and the lock).
	struct stat a, b;
	if (fstat(fd, &a) != 0 || stat(path, &b) != 0 || a.st_dev != b.st_dev ||
			a.st_ino != b.st_ino) {
		return fb_errorf(FB_ESTATE,
				"%s: the ledger was replaced while being "
				"opened; try again",
				path);
	}
	return FB_OK;
}

// Reads the file behind fd from its start into a malloc'd buffer, up to
// its end (a read-only handle may see an append in progress).
static fb_err
read_all(int fd, const char *path, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		return fb_errorf(FB_EIO, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > MAX_FILE) {
		return fb_errorf(FB_EFORMAT, "%s: %lld bytes, more than %zu",
				path, (long long)st.st_size, MAX_FILE);
	}
	size_t cap = (size_t)st.st_size;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		return FB_ENOMEM;
	}
	size_t got = 0;
	while (got < cap) {
		ssize_t r = pread(fd, buf + got, cap - got, (off_t)got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			free(buf);
			return fb_errorf(FB_EIO, "%s: read failed: %s", path,
					strerror(errno));
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return FB_OK;
}

// Verifies every complete line of the file behind fd into l; *end is the
// length of those lines (anything after is a torn final line).
static fb_err
load(struct fb_ledger *l, int fd, size_t *end, size_t *len)
{
	char *buf = NULL;
	fb_err err = read_all(fd, l->path, &buf, len);
	if (err != FB_OK) {
		return err;
	}
	size_t start = 0, lineno = 1;
	while (err == FB_OK && start < *len) {
		char *nl = memchr(buf + start, '\n', *len - start);
		if (nl == NULL) {
			break; // torn tail, handled by the caller
		}
		err = add_line(l, buf + start, (size_t)(nl - (buf + start)),
				lineno++);
		start = (size_t)(nl - buf) + 1;
	}
	free(buf);
	*end = start;
	return err;
}

// A new, empty handle of path.
static fb_err
handle_create(struct fb_ledger **out, const char *path)
{
	struct fb_ledger *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return FB_ENOMEM;
	}
	l->fd = -1;
	l->path = strdup(path);
	fb_err err = l->path != NULL ? grow(l) : FB_ENOMEM;
	if (err != FB_OK) {
		fb_ledger_close(l);
		return err;
	}
	genesis(l->heads[0]);
	*out = l;
	return FB_OK;
}

fb_err
fb_ledger_open(struct fb_ledger **out, const char *path, bool create)
{
	struct fb_ledger *l = NULL;
	fb_err err = handle_create(&l, path);
	if (err != FB_OK) {
		return err;
	}
	// Locked before it is read: no other writer can append after the
	// replay this handle's budget checks rest on.
	err = open_append(path, create, &l->fd);
	if (err == FB_OK) {
		err = lock_writer(l->fd, path);
	}
	size_t end = 0, len = 0;
	if (err == FB_OK) {
		err = load(l, l->fd, &end, &len);
	}
	if (err != FB_OK) {
		goto fail;
	}
	if (end < len) {
		l->torn = len - end;
		fb_log(FB_LOG_WARN,
				"%s: dropping a torn final entry (%zu bytes) "
				"left by a crash before it was complete",
				path, len - end);
		if (ftruncate(l->fd, (off_t)end) != 0 || fsync(l->fd) != 0) {
			err = fb_errorf(FB_EIO,
					"%s: cannot drop torn entry: %s", path,
					strerror(errno));
			goto fail;
		}
	}
	*out = l;
	return FB_OK;
fail:
	fb_ledger_close(l);
	return err;
}

fb_err
fb_ledger_open_read(struct fb_ledger **out, const char *path)
{
	struct fb_ledger *l = NULL;
	fb_err err = handle_create(&l, path);
	if (err != FB_OK) {
		return err;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? missing(path, errno)
				      : fb_errorf(FB_EIO, "%s: cannot open: %s",
							path, strerror(errno));
		goto fail;
	}
	size_t end = 0, len = 0;
	err = load(l, fd, &end, &len);
	close(fd);
	if (err != FB_OK) {
		goto fail;
	}
	if (end < len) {
		l->torn = len - end;
		// Left for the writer: it is its append in progress, or a
		// crash's torn line the next appending open drops.
		fb_log(FB_LOG_WARN,
				"%s: ignoring an incomplete final entry (%zu "
				"bytes): an append in progress or a crash",
				path, len - end);
	}
	*out = l;
	return FB_OK;
fail:
	fb_ledger_close(l);
	return err;
}

// Fault injection for tests: FB_FAULT_LEDGER_APPEND=N makes the N-th
// append of this process write half its line and fail with ENOSPC.
static bool
inject_fault(void)
{
	static long count;
	const char *v = getenv("FB_FAULT_LEDGER_APPEND");
	return v != NULL && ++count == atol(v);
}

static fb_err
append(struct fb_ledger *l, const struct fb_ledger_entry *in, bool sync)
{
	if (l->fd < 0) {
		return fb_errorf(FB_ESTATE, "%s: ledger opened read-only",
				l->path);
	}
	struct fb_ledger_entry e = *in;
	if (!valid_entry(&e)) {
		return fb_errorf(FB_EINVAL, "ledger entry: bad values");
	}
	e.seq = l->n + 1;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(e.time, sizeof(e.time), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char line[MAX_LINE];
	int bl = format_body(line, sizeof(line), &e, l->heads[l->n]);
	if (bl < 0 || (size_t)bl + 100 >= sizeof(line)) {
		return fb_errorf(FB_EINVAL, "ledger entry too long");
	}
	uint8_t digest[FB_HASH_LEN];
	fb_hash_buf(line, (size_t)bl, digest);
	char hex[2 * FB_HASH_LEN + 1];
	fb_hash_hex(digest, hex);
	int n = snprintf(line + bl, sizeof(line) - (size_t)bl, "%s%s\"}\n",
			hash_key, hex);
	size_t total = (size_t)bl + (size_t)n;
	fb_err err = grow(l);
	if (err != FB_OK) {
		return err;
	}
	struct stat st;
	if (fstat(l->fd, &st) != 0) {
		return fb_errorf(FB_EIO, "%s: %s", l->path, strerror(errno));
	}
	ssize_t w;
	if (inject_fault()) {
		w = write(l->fd, line, total / 2);
		errno = ENOSPC;
		w = -1;
	} else {
		w = write(l->fd, line, total);
	}
	if (w != (ssize_t)total || (sync && fsync(l->fd) != 0)) {
		int saved = errno;
		// Take back a partial line so the file stays a valid ledger.
		if (ftruncate(l->fd, st.st_size) != 0) {
			fb_log(FB_LOG_ERROR,
					"%s: cannot truncate a failed append",
					l->path);
		}
		return fb_errorf(FB_EIO,
				"%s: ledger append failed (%s): the release "
				"must not happen",
				l->path,
				w < 0 ? strerror(saved) : "short write");
	}
	l->entries[l->n] = e;
	memcpy(l->heads[l->n + 1], digest, FB_HASH_LEN);
	l->n++;
	l->unsynced = !sync;
	return FB_OK;
}

fb_err
fb_ledger_append(struct fb_ledger *l, const struct fb_ledger_entry *e)
{
	return append(l, e, true);
}

fb_err
fb_ledger_append_deferred(struct fb_ledger *l, const struct fb_ledger_entry *e)
{
	return append(l, e, false);
}

fb_err
fb_ledger_sync(struct fb_ledger *l)
{
	if (l->unsynced) {
		if (fsync(l->fd) != 0) {
			return fb_errorf(FB_EIO,
					"%s: ledger sync failed (%s): nothing "
					"may be released",
					l->path, strerror(errno));
		}
		l->unsynced = false;
	}
	return FB_OK;
}

size_t
fb_ledger_torn(const struct fb_ledger *l)
{
	return l->torn;
}

size_t
fb_ledger_count(const struct fb_ledger *l)
{
	return l->n;
}

size_t
fb_ledger_releases(const struct fb_ledger *l)
{
	size_t n = 0;
	for (size_t k = 0; k < l->n; k++) {
		n += !fb_ledger_is_budget(&l->entries[k]);
	}
	return n;
}

fb_err
fb_ledger_append_budget(struct fb_ledger *l, uint64_t round, double epsilon,
		double delta)
{
	struct fb_ledger_entry e = {
			.round = round, .epsilon = epsilon, .delta = delta};
	strcpy(e.mode, FB_LEDGER_MODE_BUDGET);
	return fb_ledger_append(l, &e);
}

void
fb_ledger_last_budget(const struct fb_ledger *l, struct fb_ledger_entry *out,
		bool *found)
{
	*found = false;
	for (size_t k = l->n; k-- > 0;) {
		if (fb_ledger_is_budget(&l->entries[k])) {
			*out = l->entries[k];
			*found = true;
			return;
		}
	}
}

fb_err
fb_ledger_entry_at(const struct fb_ledger *l, size_t k,
		struct fb_ledger_entry *out)
{
	if (k >= l->n) {
		return fb_errorf(FB_EINVAL, "ledger entry %zu of %zu", k, l->n);
	}
	*out = l->entries[k];
	return FB_OK;
}

void
fb_ledger_head(const struct fb_ledger *l, uint8_t out[FB_HASH_LEN])
{
	memcpy(out, l->heads[l->n], FB_HASH_LEN);
}

fb_err
fb_ledger_check_anchor(const struct fb_ledger *l, size_t count,
		const uint8_t head[FB_HASH_LEN])
{
	if (count > l->n) {
		return fb_errorf(FB_EFORMAT,
				"%s: %zu entries, but %zu were recorded before: "
				"entries were removed",
				l->path, l->n, count);
	}
	if (memcmp(l->heads[count], head, FB_HASH_LEN) != 0) {
		return fb_errorf(FB_EFORMAT,
				"%s: the first %zu entries differ from the ones "
				"recorded before: the ledger was replaced",
				l->path, count);
	}
	return FB_OK;
}

// Replays l into a new accountant; alone: distributed-noise releases
// with their own share only.
static fb_err
replay(const struct fb_ledger *l, enum fb_acct_kind kind, bool alone,
		struct fb_acct **out)
{
	struct fb_acct *a = NULL;
	fb_err err = fb_acct_create(&a, kind);
	for (size_t k = 0; err == FB_OK && k < l->n; k++) {
		const struct fb_ledger_entry *e = &l->entries[k];
		if (fb_ledger_is_budget(e)) {
			continue; // a decision, not a release
		}
		if (fb_ledger_is_ddg(e)) {
			struct fb_acct_ddg m;
			fb_ledger_ddg_of(e, &m);
			m.n_honest = alone ? 1 : m.n_honest;
			err = fb_acct_add_ddg(a, &m, e->steps);
			continue;
		}
		err = fb_acct_add(a, e->q, e->sigma, e->steps);
		if (err == FB_OK && e->dim > 0) {
			struct fb_acct_grid g = {e->dim, e->noise_steps};
			err = fb_acct_add_grid(a, &g, e->steps);
		}
	}
	if (err != FB_OK) {
		fb_acct_destroy(a);
		return err;
	}
	*out = a;
	return FB_OK;
}

fb_err
fb_ledger_accountant(const struct fb_ledger *l, enum fb_acct_kind kind,
		struct fb_acct **out)
{
	return replay(l, kind, false, out);
}

fb_err
fb_ledger_accountant_alone(const struct fb_ledger *l, enum fb_acct_kind kind,
		struct fb_acct **out)
{
	return replay(l, kind, true, out);
}
