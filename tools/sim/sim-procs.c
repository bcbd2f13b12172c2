// tools/sim/sim-procs.c: --processes: the clients are forked before any
// NNG call and run node_run() (fedbundle-client's loop) against a tcp
// loopback listener; the aggregator runs on the parent's thread. Their
// rounds overlap, the aggregator sums updates in arrival order and the
// run is not bit-reproducible (float addition is not associative). Each
// client evaluates its final state and leaves the sums in its folder.
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedbundle/model/fit.h"
#include "fedbundle/net/transport.h"
#include "fedbundle/util/log.h"
#include "sim-internal.h"

// A free tcp port on the loopback interface, for --processes and --tcp.
fb_err
sim_free_port(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		return fb_errorf(FB_EIO, "socket: %s", strerror(errno));
	}
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
			getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return fb_errorf(FB_EIO, "cannot find a free port: %s",
				strerror(errno));
	}
	*port = ntohs(a.sin_port);
	close(fd);
	return FB_OK;
}

// A forked client (--processes): runs fedbundle-client's loop on its
// data, then evaluates its final state and writes the sums.
static int
child_main(struct sim_runner *R, uint32_t k)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1) {
		return 1;
	}
	static char tag[32];
	snprintf(tag, sizeof(tag), "retailer-%03u", k);
	fb_log_set_tag(tag);
	struct sim_client *c = &R->cl[k];
	for (uint32_t j = 0; j < R->cfg->retailers; j++) {
		if (j != k) {
			fb_identity_destroy(R->ids[j]);
		}
	}
	fb_identity_destroy(R->server_id);
	fb_err err = node_open_with(&c->n, &c->pol, R->ids[k], &R->server_pk,
			R->data.parts[k]);
	if (err != FB_OK) {
		fprintf(stderr, "fedbundle simulate: %s: %s\n", tag,
				fb_last_error(err));
		return 1;
	}
	int rc = node_run(&c->n);
	struct fb_eval_result r;
	if (rc == 0 && c->n.st.global.dim > 0) {
		err = fb_fit_evaluate(R->data.parts[k], &c->n.st.global,
				&c->n.st.P, &c->n.st.opts,
				&R->data.parts[k]->ub_test, sim_eval_ks, 2,
				(int)R->cfg->threads, &r);
		char path[SIM_PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/final-eval.txt",
				c->pol.state_dir);
		FILE *fp = err == FB_OK ? fopen(path, "w") : NULL;
		if (fp != NULL) {
			fprintf(fp, "%.17g %.17g %.17g %.17g %llu\n",
					r.sum.recall[0], r.sum.ndcg[0],
					r.sum.recall[1], r.sum.ndcg[1],
					(unsigned long long)r.n_users);
			rc = fclose(fp) != 0;
		} else {
			rc = 1;
		}
	}
	node_close(&c->n);
	fb_transport_fini();
	return rc;
}

// --processes: fork the clients, run the aggregator on this thread.
fb_err
sim_run_processes(struct sim_runner *R, pid_t *pids)
{
	uint32_t k = R->cfg->retailers;
	fflush(NULL);
	for (uint32_t c = 0; c < k; c++) {
		pid_t pid = fork();
		if (pid < 0) {
			return fb_errorf(FB_EIO, "fork: %s", strerror(errno));
		}
		if (pid == 0) {
			_exit(child_main(R, c));
		}
		pids[c] = pid;
	}
	// Only now, in the parent: noise generators and NNG.
	fb_err err = sim_server_open(&R->sv, R->data.ds, R->server_id,
			R->roster, &R->sync, NULL);
	if (err != FB_OK) {
		return err;
	}
	R->res.noise_multiplier = R->sv.fed.plan_cfg.noise_multiplier;
	if ((err = sim_write_manifest(R)) != FB_OK ||
			(err = sim_server_start(&R->sv)) != FB_OK) {
		return err;
	}
	if (!R->opt->quiet) {
		printf("aggregator listening on %s; %u client processes\n",
				R->url, k);
		fflush(stdout);
	}
	// Closed rounds are written as they come, from a copy taken under
	// the lock (the aggregator does not wait for this thread).
	struct sim_sync *s = &R->sync;
	struct sim_round_rec rec = {0};
	rec.client_eps = calloc(k, sizeof(double));
	rec.client_status = calloc(k, 1);
	if (rec.client_eps == NULL || rec.client_status == NULL) {
		free(rec.client_eps);
		free(rec.client_status);
		return FB_ENOMEM;
	}
	uint32_t written = 0;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->closed == written && !s->server_ended) {
			pthread_cond_wait(&s->cv, &s->mu);
		}
		bool ended = s->closed == written;
		double *eps = rec.client_eps;
		uint8_t *status = rec.client_status;
		rec = s->rec;
		rec.client_eps = eps;
		rec.client_status = status;
		memcpy(eps, s->rec.client_eps, k * sizeof(double));
		memcpy(status, s->rec.client_status, k);
		written = s->closed;
		pthread_mutex_unlock(&s->mu);
		if (ended) {
			break;
		}
		if (R->t_first_plan == 0) {
			R->t_first_plan = rec.planned_s;
		}
		R->t_last_close = rec.close_s;
		err = sim_on_closed(
				R, &rec, NULL, rec.close_s - rec.planned_s, 0);
		if (err != FB_OK) {
			break;
		}
	}
	free(rec.client_eps);
	free(rec.client_status);
	if (err != FB_OK) {
		return err;
	}
	pthread_join(R->sv.thread, NULL);
	R->sv.running = false;
	int failed = 0;
	for (uint32_t c = 0; c < k; c++) {
		int st = 0;
		if (waitpid(pids[c], &st, 0) == pids[c]) {
			pids[c] = 0;
			failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
	}
	if (failed > 0) {
		return fb_errorf(FB_ESTATE, "%d client process(es) failed",
				failed);
	}
	// The final model, evaluated by every client on its test users.
	double sums[4] = {0, 0, 0, 0};
	uint64_t users = 0;
	for (uint32_t c = 0; c < k; c++) {
		char path[SIM_PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/final-eval.txt",
				R->cl[c].pol.state_dir);
		FILE *fp = fopen(path, "r");
		double v[4];
		unsigned long long u = 0;
		if (fp == NULL ||
				fscanf(fp, "%lf %lf %lf %lf %llu", &v[0], &v[1],
						&v[2], &v[3], &u) != 5) {
			if (fp != NULL) {
				fclose(fp);
			}
			return fb_errorf(FB_EFORMAT, "%s: missing or malformed",
					path);
		}
		fclose(fp);
		for (int i = 0; i < 4; i++) {
			sums[i] += v[i];
		}
		users += u;
	}
	if (users > 0) {
		R->res.have_eval = true;
		R->res.eval_users = users;
		for (int i = 0; i < 4; i++) {
			R->res.final_metric[i] = sums[i] / (double)users;
			R->res.best_metric[i] = R->res.final_metric[i];
		}
		R->res.best_round = R->res.rounds;
	}
	return FB_OK;
}
