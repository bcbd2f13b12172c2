// tools/sweep/sweep-run.c: the runner of `fedbundle sweep` (sweep.h): each point
// in a child process under its lock, progress, signals.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/fsutil.h"
#include "sharedfs.h"
#include "sweep.h"

// ---- running points ----

volatile sig_atomic_t sweep_stop_signal;

static void
on_signal(int sig)
{
	sweep_stop_signal = sig;
}

// The child: takes the point's lock (OUT/points/<id>/lock, flock: it
// dies with the process), checks the marker again under it, then runs
// one simulation and writes its marker. Its output goes to
// OUT/points/<id>/log.txt, opened only under the lock, so a second
// worker on the same point never touches the first one's files.
static int
run_point(const struct sweep *sw, struct point *p)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	char dir[SIM_PATH_MAX + 600], log[SIM_PATH_MAX + 700];
	snprintf(dir, sizeof(dir), "%s/points/%s", sw->out, p->id);
	fb_err err = fb_mkdir_p(dir);
	snprintf(log, sizeof(log), "%s/lock", dir);
	int lock = -1;
	bool busy = false;
	if (err == FB_OK) {
		err = sharedfs_trylock(log, &lock, &busy);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle sweep: %s: %s\n", p->id,
				fb_last_error(err));
		return POINT_FAILED;
	}
	if (busy) {
		return POINT_BUSY;
	}
	static char vals[N_COLUMNS][128];
	if (sweep_read_done(sw->out, p, vals)) {
		return POINT_WAS_DONE;
	}
	snprintf(log, sizeof(log), "%s/log.txt", dir);
	if (freopen(log, "w", stdout) == NULL ||
			dup2(fileno(stdout), STDERR_FILENO) < 0) {
		return POINT_FAILED;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char scratch[SIM_PATH_MAX + 600];
	struct sim_options so = {0};
	so.quiet = false;
	so.command = "fedbundle sweep";
	if (sw->scratch != NULL) {
		snprintf(scratch, sizeof(scratch), "%s/%s", sw->scratch, p->id);
		so.scratch = scratch;
	}
	struct sim_result r;
	err = sim_run(&p->cfg, dir, &so, &r);
	if (err == FB_OK) {
		err = sweep_write_done(dir, p, &r);
	}
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle sweep: %s: %s\n", p->id,
				fb_last_error(err));
		return POINT_FAILED;
	}
	if (!sw->keep_work) {
		char work[SIM_PATH_MAX + 700];
		// The simulation's work folder: the scratch one, or OUT/work.
		if (sw->scratch != NULL) {
			snprintf(work, sizeof(work), "%s", scratch);
		} else {
			snprintf(work, sizeof(work), "%s/work", dir);
		}
		err = sim_remove_tree(work);
		if (err != FB_OK) {
			fprintf(stderr, "%s\n", fb_last_error(err));
		}
	}
	return POINT_RAN;
}

void
sweep_hms(char *buf, size_t cap, double s)
{
	long t = s > 0 ? (long)(s + 0.5) : 0;
	snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

// The last line of a failed point's log.
static void
last_line(const char *out, const struct point *p, char *buf, size_t cap)
{
	char path[SIM_PATH_MAX + 700];
	snprintf(path, sizeof(path), "%s/points/%s/log.txt", out, p->id);
	snprintf(buf, cap, "%s", "(no log)");
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		return;
	}
	char line[512];
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0') {
			snprintf(buf, cap, "%s", line);
		}
	}
	fclose(fp);
}

// The terminal's progress line while points run: done, elapsed, the
// estimate of the time left and the points running.
static void
redraw(const struct sweep *sw, size_t n_done, double elapsed, size_t ran,
		double work_s, size_t todo, uint32_t jobs)
{
	char e[32], l[32] = "?";
	sweep_hms(e, sizeof(e), elapsed);
	if (ran > 0) {
		sweep_hms(l, sizeof(l),
				(double)(todo - ran) * (work_s / (double)ran) /
						(double)jobs);
	}
	fprintf(stderr, "\r\033[K[%zu/%zu] %3.0f%%  elapsed %s  left ~%s  running:",
			n_done, sw->n, 100.0 * (double)n_done / (double)sw->n,
			e, l);
	for (size_t i = 0, shown = 0; i < sw->n && shown < 2; i++) {
		if (sw->pts[i].pid > 0) {
			fprintf(stderr, " %.60s", sw->pts[i].id);
			shown++;
		}
	}
	fflush(stderr);
}

// What sweep_run_points did.

// One line on a point that ended (status: the child's exit status).
static void
report(const struct sweep *sw, const struct point *p, int status,
		const struct tally *t, double elapsed, double left, bool tty)
{
	static char vals[N_COLUMNS][128];
	char what[1200];
	if (status == POINT_BUSY) {
		snprintf(what, sizeof(what),
				"%s: another process is running it (its lock "
				"%s/points/%.100s/lock is held): %s",
				p->id, sw->out, p->id,
				sw->single ? "refused" : "skipped");
	} else if (status == POINT_WAS_DONE) {
		snprintf(what, sizeof(what),
				"%s: finished by another process: skipped",
				p->id);
	} else if (p->done) {
		sweep_read_done(sw->out, p, vals);
		snprintf(what, sizeof(what), "%s: Recall@20 %s", p->id,
				vals[COL_FINAL_RECALL20][0] != '\0'
						? vals[COL_FINAL_RECALL20]
						: "-");
	} else {
		char why[512];
		last_line(sw->out, p, why, sizeof(why));
		snprintf(what, sizeof(what), "%s FAILED: %.400s", p->id, why);
	}
	char e[32], l[32];
	sweep_hms(e, sizeof(e), elapsed);
	sweep_hms(l, sizeof(l), left);
	if (sw->single) {
		fprintf(stderr, "fedbundle sweep: point %zu: %s (%.1f s)\n",
				(size_t)(p - sw->pts), what, p->wall_s);
	} else if (tty) {
		fprintf(stderr,
				"\r\033[K[%zu/%zu] %3.0f%%  elapsed %s  left ~%s  "
				"%s%s",
				t->n_done, sw->n,
				100.0 * (double)t->n_done / (double)sw->n, e, l,
				what, p->done ? "" : "\n");
	} else {
		fprintf(stderr,
				"point %zu/%zu done in %.1f s (elapsed %s, ~%s "
				"left): %s\n",
				t->n_done, sw->n, p->wall_s, e, l, what);
	}
}

// Notes how a child ended in p and t; with a whole sweep, rewrites
// results.csv.
static void
finish_point(struct sweep *sw, struct point *p, int st, struct tally *t)
{
	static char vals[N_COLUMNS][128];
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : POINT_FAILED;
	t->ran++;
	p->done = (status == POINT_RAN || status == POINT_WAS_DONE) &&
			sweep_read_done(sw->out, p, vals);
	if (status == POINT_BUSY) {
		t->busy++;
	} else if (status == POINT_WAS_DONE) {
		t->elsewhere++;
	} else if (!p->done) {
		p->failed = true;
		t->failed++;
	}
	p->status = status;
	if (!sw->single) {
		fb_err err = sweep_write_csv(
				sw->out, sw->pts, sw->n, &t->n_done);
		if (err != FB_OK) {
			fprintf(stderr, "fedbundle sweep: results.csv: %s\n",
					fb_last_error(err));
		}
	}
}

// The one point runner: forks a child (run_point) for every point with
// todo set, at most jobs at a time, until they all ended or a signal came
// (then the children are killed; their locks die with them).
void
sweep_run_points(struct sweep *sw, uint32_t jobs, size_t todo, struct tally *t)
{
	bool tty = !sw->single && cli_stderr_is_tty();
	double t0 = fb_clock_s(), work_s = 0;
	size_t next = 0, running = 0;
	fflush(NULL);
	while (sweep_stop_signal == 0) {
		while (running < jobs && next < sw->n) {
			struct point *p = &sw->pts[next++];
			if (!p->todo) {
				continue;
			}
			p->wall_s = fb_clock_s();
			pid_t pid = fork();
			if (pid < 0) {
				fprintf(stderr, "fedbundle sweep: fork: %s\n",
						strerror(errno));
				sweep_stop_signal = SIGTERM;
				break;
			}
			if (pid == 0) {
				_exit(run_point(sw, p));
			}
			p->pid = pid;
			running++;
		}
		if (running == 0) {
			break;
		}
		int st = 0;
		pid_t pid = waitpid(-1, &st, tty ? WNOHANG : 0);
		if (pid == 0) {
			// On a terminal the line ticks while points run.
			redraw(sw, t->n_done, fb_clock_s() - t0, t->ran, work_s,
					todo, jobs);
			struct timespec ts = {0, 200 * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		struct point *p = NULL;
		for (size_t i = 0; i < sw->n; i++) {
			if (sw->pts[i].pid == pid) {
				p = &sw->pts[i];
			}
		}
		if (p == NULL) {
			continue;
		}
		running--;
		p->pid = 0;
		p->wall_s = fb_clock_s() - p->wall_s;
		work_s += p->wall_s;
		finish_point(sw, p, st, t);
		double left = (double)(todo - t->ran) *
				(work_s / (double)t->ran) / (double)jobs;
		report(sw, p, p->status, t, fb_clock_s() - t0, left, tty);
	}
	for (size_t i = 0; sweep_stop_signal != 0 && i < sw->n; i++) {
		if (sw->pts[i].pid > 0) {
			kill(sw->pts[i].pid, SIGKILL);
			waitpid(sw->pts[i].pid, NULL, 0);
		}
	}
	if (tty) {
		fputc('\n', stderr);
	}
}

void
sweep_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
