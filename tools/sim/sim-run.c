// tools/sim/sim-run.c: sim_run (sim.h): sets a run up (sim-setup.c), runs
// the aggregator (sim-server.c) with its clients in-process
// (sim-inproc.c, over inproc:// or with --tcp over tcp loopback) or as
// processes (sim-procs.c), and writes what it leaves (sim-output.c).
// Seeded noise: a reproducible simulation, not a private deployment.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedbundle/model/model.h"
#include "fedbundle/util/clock.h"
#include "fedbundle/util/fsutil.h"
#include "sim-internal.h"

const char *const sim_metric_names[4] = {
		"recall@20", "ndcg@20", "recall@40", "ndcg@40"};

static unsigned inproc_counter;

// The run's figures once training is over: epsilon, wall time, rounds per
// minute of training, peak resident set (of the client processes too).
static void
finish_result(struct sim_runner *R)
{
	R->res.epsilon = R->last_eps;
	if (R->cfg->privacy == SIM_PRIV_NONE) {
		R->res.epsilon = INFINITY;
	}
	R->res.wall_s = fb_clock_s() - R->t_start;
	double train = R->t_last_close - R->t_first_plan;
	R->res.rounds_per_min = train > 0 ? 60.0 * R->res.rounds / train : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	R->res.peak_rss_kb = ru.ru_maxrss;
	if (R->opt->processes) {
		R->res.agg_peak_rss_kb = ru.ru_maxrss;
		getrusage(RUSAGE_CHILDREN, &ru);
		if (ru.ru_maxrss > R->res.peak_rss_kb) {
			R->res.peak_rss_kb = ru.ru_maxrss;
		}
	}
}

// Stops and frees everything of R but R itself (a half-built run too):
// the aggregator, the clients (processes are terminated), the outputs.
static void
runner_free(struct sim_runner *R, pid_t *pids)
{
	uint32_t k = R->cfg->retailers;
	sim_server_close(&R->sv, "simulation finished");
	for (uint32_t c = 0; R->cl != NULL && c < k; c++) {
		if (R->cl[c].conn_open) {
			node_conn_close(&R->cl[c].conn);
		}
		if (R->cl[c].open) {
			node_close(&R->cl[c].n);
		}
	}
	for (uint32_t c = 0; pids != NULL && c < k; c++) {
		if (pids[c] > 0) {
			kill(pids[c], SIGTERM);
			waitpid(pids[c], NULL, 0);
		}
	}
	if (R->ev_ok) {
		sim_eval_finish(&R->ev);
	}
	free(R->cl);
	free(pids);
	for (uint32_t c = 0; R->ids != NULL && c < k; c++) {
		fb_identity_destroy(R->ids[c]);
	}
	free(R->ids);
	fb_identity_destroy(R->server_id);
	fb_roster_destroy(R->roster);
	if (R->sync.n_clients > 0) {
		sim_sync_finish(&R->sync);
	}
	sim_data_finish(&R->data);
	if (R->rounds != NULL) {
		fclose(R->rounds);
	}
	if (R->timing != NULL) {
		fclose(R->timing);
	}
}

fb_err
sim_run(const struct sim_config *cfg, const char *out_dir,
		const struct sim_options *opt, struct sim_result *res)
{
	struct sim_runner *R = calloc(1, sizeof(*R));
	if (R == NULL) {
		return FB_ENOMEM;
	}
	pid_t *pids = NULL;
	R->resolved = *cfg;
	R->cfg = &R->resolved;
	cfg = R->cfg;
	R->opt = opt;
	R->out = out_dir;
	R->t_start = fb_clock_s();
	R->last_eps = NAN;
	uint32_t k = cfg->retailers;
	fb_err err = sim_config_check(cfg, "simulation");
	if (err != FB_OK) {
		goto out;
	}
	if ((err = fb_mkdir_p(out_dir)) != FB_OK) {
		goto out;
	}
	snprintf(R->work, sizeof(R->work), "%s",
			opt->scratch != NULL ? opt->scratch : out_dir);
	if (opt->scratch == NULL) {
		strncat(R->work, "/work",
				sizeof(R->work) - strlen(R->work) - 1);
	}
	// Ledgers and states of an earlier run would be taken for this
	// run's: the work folder always starts empty.
	if ((err = sim_remove_tree(R->work)) != FB_OK ||
			(err = fb_mkdir_p(R->work)) != FB_OK ||
			(err = sim_write_config_file(R)) != FB_OK ||
			(err = sim_open_out(out_dir, "rounds.jsonl",
					 &R->rounds)) != FB_OK ||
			(err = sim_open_out(out_dir, "timing.jsonl",
					 &R->timing)) != FB_OK) {
		goto out;
	}
	fb_blas_set_threads(1);
	if ((err = sim_data_load(&R->data, cfg, out_dir)) != FB_OK ||
			(err = sim_make_identities(R)) != FB_OK ||
			(err = sim_sync_init(&R->sync, k)) != FB_OK) {
		goto out;
	}
	if (opt->processes || opt->tcp) {
		int port = 0;
		if ((err = sim_free_port(&port)) != FB_OK) {
			goto out;
		}
		snprintf(R->url, sizeof(R->url), "tcp://127.0.0.1:%d", port);
	} else {
		snprintf(R->url, sizeof(R->url),
				"inproc://fedbundle-sim-%ld-%u", (long)getpid(),
				inproc_counter++);
	}
	// config.json again, with the DP defaults the aggregator derived.
	if ((err = sim_server_config(R)) != FB_OK ||
			(err = sim_write_config_file(R)) != FB_OK) {
		goto out;
	}
	R->cl = calloc(k, sizeof(*R->cl));
	pids = calloc(k, sizeof(*pids));
	if (R->cl == NULL || pids == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < k; c++) {
		sim_client_policy(&R->cl[c].pol, cfg, R->url, R->work, c,
				R->data.parts[c]->n_users);
		R->cl[c].pol.test_no_noise = opt->test_no_noise;
		R->cl[c].pol.test_shared_stream = opt->test_shared_stream;
	}
	if (!opt->quiet) {
		printf("simulation: %u retailers (%s), %u rounds, privacy %s; "
		       "%s\n",
				k,
				cfg->partition == SIM_PART_IID ? "IID"
							       : "Dirichlet",
				cfg->rounds, sim_privacy_name(cfg->privacy),
				SIM_NOISE_NOTE);
		printf("trust: %s\n", sim_trust_text(cfg));
		fflush(stdout);
	}
	char *agg_log = fb_path_join(out_dir, "aggregator.jsonl");
	if (agg_log == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	if (opt->processes) {
		err = sim_run_processes(R, pids);
	} else {
		err = sim_run_inproc(R, agg_log);
	}
	free(agg_log);
	if (err != FB_OK) {
		goto out;
	}
	finish_result(R);
	err = sim_write_summary(R);
	if (err == FB_OK && opt->final_model != NULL && !opt->processes) {
		err = fb_model_copy(opt->final_model, &R->sync.model);
	}
out:
	runner_free(R, pids);
	if (err == FB_OK && res != NULL) {
		*res = R->res;
	}
	free(R);
	return err;
}
