// bench/bench-pending.c: what the client's copy of an unacknowledged
// UPDATE (client/pending.c) costs in wall-clock time per plain round:
// node_pending_save (header, XXH3 checksum, write, fsync, rename, folder
// fsync) of an update the size of benchmarks §2's (100,000 items, 4800
// bundles, 2200 attributes, d = 64: 27.4 MB), then node_pending_remove,
// beside node_state_save of a client state of the same model size (the
// write every round already had), each with its CPU time (the copy's
// checksum is BLAKE2b-256, the state's XXH3-128). Each figure is the median of --reps
// repetitions after one warm-up (best in brackets), in a fresh folder
// under --dir (default: the working folder), so on that folder's disk.
// Usage: bench-pending [--dir DIR] [--reps N]
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/pending.h"
#include "client/state.h"
#include "fedbundle/util/clock.h"

#define N_ITEMS 100000
#define N_BUNDLES 4800
#define N_ATTRS 2200
#define DIM 64
#define N_USERS 500 // a retailer's users in §2 (8000 over 16)
#define MAX_REPS 101

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// Prints the median and best of n wall timings of moving `bytes`, and the
// median CPU time of the same n (sorted apart).
static void
report(const char *label, double *t, double *cpu, int n, size_t bytes)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	qsort(cpu, (size_t)n, sizeof(*cpu), cmp_double);
	double med = t[n / 2], best = t[0];
	printf("%-36s %7.1f ms %6.0f MB/s (best %.1f ms; CPU %.1f ms)\n", label,
			med * 1e3, (double)bytes / med / 1e6, best * 1e3,
			cpu[n / 2] * 1e3);
}

// A state with a model of the sizes above and N_USERS user factors.
static fb_err
make_state(struct node_state *st)
{
	memset(st, 0, sizeof(*st));
	fb_err err = fb_model_init(
			&st->global, N_ITEMS, N_BUNDLES, N_ATTRS, DIM);
	if (err == FB_OK) {
		err = fb_matrix_init(&st->P, N_USERS, DIM);
	}
	if (err != FB_OK) {
		return err;
	}
	for (size_t k = 0; k < (size_t)N_ITEMS * DIM; k++) {
		st->global.V.data[k] = (float)k * 1e-6f;
	}
	st->last_completed = 7;
	return FB_OK;
}

static int
run(const char *dir, int reps)
{
	char folder[4096], ppath[4200], spath[4200];
	snprintf(folder, sizeof(folder), "%s/bench-pending-XXXXXX", dir);
	if (mkdtemp(folder) == NULL) {
		perror(folder);
		return 1;
	}
	snprintf(ppath, sizeof(ppath), "%s/%s", folder, NODE_PENDING_FILE);
	snprintf(spath, sizeof(spath), "%s/state.fbt", folder);
	struct node_state st;
	fb_err err = make_state(&st);
	size_t len = (size_t)(N_ITEMS + N_BUNDLES + N_ATTRS) * DIM * 4;
	struct node_pending_copy c = {.round = 7, .len = len};
	c.bytes = malloc(len);
	int status = 1;
	if (err != FB_OK || c.bytes == NULL) {
		fprintf(stderr, "bench-pending: out of memory\n");
		goto out;
	}
	memcpy(c.bytes, st.global.V.data, (size_t)N_ITEMS * DIM * 4);
	memset(c.bytes + (size_t)N_ITEMS * DIM * 4, 0x5a,
			len - (size_t)N_ITEMS * DIM * 4);
	double ts[MAX_REPS] = {0}, tr[MAX_REPS] = {0}, tst[MAX_REPS] = {0};
	double cs[MAX_REPS] = {0}, cr[MAX_REPS] = {0}, cst[MAX_REPS] = {0};
	for (int r = -1; r < reps; r++) {
		double t0 = fb_clock_s(), c0 = fb_clock_cpu_s();
		err = node_pending_save(ppath, &c);
		double t1 = fb_clock_s(), c1 = fb_clock_cpu_s();
		if (err == FB_OK) {
			err = node_pending_remove(ppath);
		}
		double t2 = fb_clock_s(), c2 = fb_clock_cpu_s();
		if (err == FB_OK) {
			err = node_state_save(&st, spath);
		}
		double t3 = fb_clock_s(), c3 = fb_clock_cpu_s();
		if (err != FB_OK) {
			fprintf(stderr, "bench-pending: %s\n",
					fb_last_error(err));
			goto out;
		}
		if (r >= 0) { // r = -1 is the warm-up
			ts[r] = t1 - t0;
			tr[r] = t2 - t1;
			tst[r] = t3 - t2;
			cs[r] = c1 - c0;
			cr[r] = c2 - c1;
			cst[r] = c3 - c2;
		}
	}
	printf("%d repetitions in %s; copy %zu bytes\n", reps, folder, len);
	report("pending copy: save (write + fsync)", ts, cs, reps, len);
	report("pending copy: remove", tr, cr, reps, len);
	report("client state: save (write + fsync)", tst, cst, reps, len);
	status = 0;
out:
	unlink(ppath);
	unlink(spath);
	rmdir(folder);
	free(c.bytes);
	node_state_finish(&st);
	return status;
}

int
main(int argc, char **argv)
{
	const char *dir = ".";
	int reps = 7, o;
	static const struct option opts[] = {
			{"dir", required_argument, NULL, 'd'},
			{"reps", required_argument, NULL, 'r'},
			{NULL, 0, NULL, 0},
	};
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'd') {
			dir = optarg;
		} else if (o == 'r') {
			reps = atoi(optarg);
		} else {
			fprintf(stderr,
					"usage: bench-pending [--dir DIR] "
					"[--reps N]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "bench-pending: --reps '%d': 1 to %d\n", reps,
				MAX_REPS);
		return 2;
	}
	return run(dir, reps);
}
