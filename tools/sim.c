// tools/sim.c: see sim.h. The aggregator is the library of server/ run by
// agg_serve_loop() on its own thread, listening on inproc://; the clients
// are the library of client/ (node_step(): the loop body of
// fedbundle-client), driven one at a time by the calling thread in roster
// order, so that every run sends the aggregator the same requests in the
// same order. The aggregator's observer (round.h) tells the driver when a
// round is planned (its participants), when it closed (a copy of the
// committed model, the round's statistics) and when training is over.
// Memory: each client keeps only its data (the catalogue is shared, not
// copied), its user factors and its small state: it drops the received
// model after its round (node.keep_global false), and since one client
// trains at a time the trainer's per-round buffers exist once. The
// evaluation reuses one user-representation buffer for every client.
// Each client holds its own ledger (locked) from its node_open_with to
// its node_close, so the run needs a file descriptor per client.
// With --processes the clients are forked before any NNG call and run
// node_run() against a tcp loopback listener; their rounds then overlap,
// the aggregator sums updates in arrival order and the run is not
// bit-reproducible (float addition is not associative).
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/node.h"
#include "client/policy.h"
#include "fb_vcs.h"
#include "fedbundle/dataset.h"
#include "fedbundle/eval.h"
#include "fedbundle/fit.h"
#include "fedbundle/fsutil.h"
#include "fedbundle/handshake.h"
#include "fedbundle/hash.h"
#include "fedbundle/identity.h"
#include "fedbundle/log.h"
#include "fedbundle/model.h"
#include "fedbundle/partition.h"
#include "fedbundle/transport.h"
#include "server/round.h"
#include "server/serve.h"
#include "server/sessions.h"
#include "sim.h"

const char *const sim_metric_names[4] = {
		"recall@20", "ndcg@20", "recall@40", "ndcg@40"};

static const uint32_t eval_ks[2] = {20, 40};

static double
mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t
mono_ms(void)
{
	return (uint64_t)(mono_s() * 1000.0);
}

// splitmix64's finaliser: seeds of the parts of a run from its one seed.
static uint64_t
mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

enum seed_tag {
	SEED_MODEL = 1,
	SEED_SERVER_NOISE,
	SEED_CLIENT,
	SEED_CLIENT_NOISE,
};

// Below 2^53 so that it fits the configuration files' integers.
static uint64_t
derive(uint64_t seed, enum seed_tag tag, uint64_t k)
{
	return mix(seed ^ mix(((uint64_t)tag << 32) + k)) &
			((UINT64_C(1) << 53) - 1);
}

// A finite number, or null.
static void
json_number(FILE *fp, double v)
{
	if (isfinite(v)) {
		fprintf(fp, "%.10g", v);
	} else {
		fputs("null", fp);
	}
}

fb_err
sim_remove_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		return errno == ENOENT ? FB_OK
				       : fb_errorf(FB_EIO, "%s: %s", path,
							 strerror(errno));
	}
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		if (d == NULL) {
			return fb_errorf(FB_EIO, "%s: %s", path,
					strerror(errno));
		}
		struct dirent *e;
		fb_err err = FB_OK;
		while (err == FB_OK && (e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
					strcmp(e->d_name, "..") == 0) {
				continue;
			}
			char *sub = fb_path_join(path, e->d_name);
			err = sub == NULL ? FB_ENOMEM : sim_remove_tree(sub);
			free(sub);
		}
		closedir(d);
		if (err != FB_OK) {
			return err;
		}
		if (rmdir(path) != 0) {
			return fb_errorf(FB_EIO, "%s: %s", path,
					strerror(errno));
		}
		return FB_OK;
	}
	if (unlink(path) != 0) {
		return fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	}
	return FB_OK;
}

// ---- the dataset and its partition ----

struct sim_data {
	struct fb_dataset *ds;     // whole dataset; user relations freed
	struct fb_dataset **parts; // K retailers; catalogue borrowed from ds
	uint32_t k;
	uint32_t max_users;
};

static void
data_finish(struct sim_data *d)
{
	for (uint32_t r = 0; d->parts != NULL && r < d->k; r++) {
		if (d->parts[r] != NULL) {
			// The catalogue is ds's: do not free it twice.
			memset(&d->parts[r]->bi, 0, sizeof(d->parts[r]->bi));
			memset(&d->parts[r]->ia, 0, sizeof(d->parts[r]->ia));
			fb_dataset_destroy(d->parts[r]);
		}
	}
	free(d->parts);
	fb_dataset_destroy(d->ds);
	memset(d, 0, sizeof(*d));
}

static fb_err
data_load(struct sim_data *d, const struct sim_config *cfg, const char *out_dir)
{
	memset(d, 0, sizeof(*d));
	uint32_t *cluster = NULL, *owner = NULL, n_clusters = 0;
	bool from_file = false;
	fb_err err = fb_dataset_load(&d->ds, cfg->data);
	if (err != FB_OK) {
		return err;
	}
	struct fb_dataset *ds = d->ds;
	if (cfg->retailers > ds->n_users) {
		err = fb_errorf(FB_EINVAL,
				"retailers: %u is more than the %u users of %s "
				"(no retailer may be empty)",
				cfg->retailers, ds->n_users, cfg->data);
		goto fail;
	}
	struct fb_partition_config pc;
	fb_partition_config_defaults(&pc);
	pc.n_retailers = cfg->retailers;
	pc.mode = cfg->partition == SIM_PART_DIRICHLET ? FB_PARTITION_DIRICHLET
						       : FB_PARTITION_IID;
	pc.alpha = cfg->alpha;
	pc.seed = cfg->partition_seed != 0 ? cfg->partition_seed : cfg->seed;
	pc.n_clusters = cfg->clusters;
	if (pc.mode == FB_PARTITION_DIRICHLET) {
		// As `fedbundle partition` does: the generator's clusters if
		// the folder has them, else k-means on the data.
		char *cpath = fb_path_join(cfg->data, "user_cluster.txt");
		if (cpath == NULL) {
			err = FB_ENOMEM;
			goto fail;
		}
		if (access(cpath, F_OK) == 0) {
			err = fb_partition_read_clusters(cpath, ds->n_users,
					&cluster, &n_clusters);
			from_file = true;
		} else {
			cluster = malloc(((size_t)ds->n_users + 1) *
					sizeof(*cluster));
			err = cluster == NULL
					? FB_ENOMEM
					: fb_partition_cluster_users(ds,
							  cfg->clusters,
							  pc.seed, cluster);
			n_clusters = cfg->clusters;
		}
		free(cpath);
		if (err != FB_OK) {
			goto fail;
		}
	}
	owner = malloc(((size_t)ds->n_users + 1) * sizeof(*owner));
	if (owner == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	if ((err = fb_partition_assign(ds->n_users, cluster, n_clusters, &pc,
			     owner)) != FB_OK) {
		goto fail;
	}
	if (cfg->save_partitions) {
		char *dir = fb_path_join(out_dir, "partitions");
		pc.user_cluster = from_file ? cluster : NULL;
		pc.cluster_source = from_file ? "user_cluster.txt" : NULL;
		err = dir == NULL ? FB_ENOMEM
				  : fb_partition_run(ds, &pc, dir, NULL);
		free(dir);
		if (err != FB_OK) {
			goto fail;
		}
	}
	d->k = cfg->retailers;
	d->parts = calloc(d->k, sizeof(*d->parts));
	if (d->parts == NULL) {
		err = FB_ENOMEM;
		goto fail;
	}
	for (uint32_t r = 0; r < d->k; r++) {
		uint32_t *global = NULL;
		err = fb_partition_extract(ds, owner, r, &d->parts[r], &global);
		free(global);
		if (err != FB_OK) {
			goto fail;
		}
		// One catalogue for all: the retailers' copies are released.
		fb_csr_finish(&d->parts[r]->bi);
		fb_csr_finish(&d->parts[r]->ia);
		d->parts[r]->bi = ds->bi;
		d->parts[r]->ia = ds->ia;
		if (d->parts[r]->n_users > d->max_users) {
			d->max_users = d->parts[r]->n_users;
		}
	}
	// The retailers hold the users now; the catalogue stays.
	fb_csr_finish(&ds->ub_train);
	fb_csr_finish(&ds->ub_tune);
	fb_csr_finish(&ds->ub_test);
	fb_csr_finish(&ds->ui);
	free(cluster);
	free(owner);
	return FB_OK;
fail:
	free(cluster);
	free(owner);
	data_finish(d);
	return err;
}

// BLAKE2b-256 of every regular file of dir, in name order, as JSON.
static fb_err
write_checksums(FILE *fp, const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		return fb_errorf(FB_EIO, "%s: %s", dir, strerror(errno));
	}
	fb_err err = FB_OK;
	unsigned char *buf = malloc(1u << 20);
	if (buf == NULL) {
		err = FB_ENOMEM;
	}
	bool first = true;
	fprintf(fp, "[");
	for (int i = 0; i < n; i++) {
		char *path = err == FB_OK ? fb_path_join(dir, names[i]->d_name)
					  : NULL;
		struct stat sb;
		if (path != NULL && stat(path, &sb) == 0 &&
				S_ISREG(sb.st_mode)) {
			FILE *f = fopen(path, "rb");
			if (f == NULL) {
				err = fb_errorf(FB_EIO, "%s: %s", path,
						strerror(errno));
			} else {
				struct fb_hash h;
				fb_hash_init(&h);
				size_t got;
				while ((got = fread(buf, 1, 1u << 20, f)) > 0) {
					fb_hash_update(&h, buf, got);
				}
				if (ferror(f)) {
					err = fb_errorf(FB_EIO,
							"%s: read error", path);
				}
				fclose(f);
				uint8_t digest[FB_HASH_LEN];
				char hex[2 * FB_HASH_LEN + 1];
				fb_hash_final(&h, digest);
				fb_hash_hex(digest, hex);
				fprintf(fp, "%s\n    {\"file\": ",
						first ? "" : ",");
				sim_json_string(fp, names[i]->d_name);
				fprintf(fp,
						", \"bytes\": %lld, \"blake2b-256\": "
						"\"%s\"}",
						(long long)sb.st_size, hex);
				first = false;
			}
		}
		free(path);
		free(names[i]);
	}
	fprintf(fp, "\n  ]");
	free(names);
	free(buf);
	return err;
}

// ---- what the aggregator's observer hands the driver ----

// The record of a closed round.
struct round_rec {
	uint32_t round;
	bool committed;
	struct agg_round_stats st;
	uint32_t n_updates;
	double loss;
	uint64_t reported_users;
	double reported_recall, reported_ndcg;
	bool have_agg_eps;
	double agg_eps;
	double *client_eps; // NAN: no counted update this round
	uint8_t *client_status;
	double planned_s; // when it was planned (mono_s)
	double close_s;   // when it closed
};

struct sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t n_clients;
	uint32_t planned;      // last planned round id
	double planned_s;      // when
	uint8_t *participant;  // of the last planned round
	uint32_t closed;       // last closed round id
	struct round_rec rec;  // of the last closed round
	struct fb_model model; // the model after the last closed round
	fb_err model_err;
	bool over;
	char over_reason[160];
	bool server_ended; // agg_serve_loop returned
	atomic_bool stop;  // the driver asks the aggregator to stop
	char stop_reason[160];
};

static void
observe(void *ctx, const struct agg_fed *fed, enum agg_event ev)
{
	struct sync *s = ctx;
	pthread_mutex_lock(&s->mu);
	if (ev == AGG_EV_PLANNED) {
		s->planned = fed->round;
		s->planned_s = mono_s();
		for (uint32_t c = 0; c < s->n_clients; c++) {
			s->participant[c] = fed->clients[c].participant;
		}
	} else if (ev == AGG_EV_CLOSED) {
		struct round_rec *r = &s->rec;
		r->round = fed->round;
		r->committed = fed->st.committed;
		r->st = fed->st;
		r->n_updates = fed->acc.n;
		r->loss = fed->acc.n > 0 ? fed->acc.loss_sum / fed->acc.n : NAN;
		r->reported_users = fed->acc.eval_users;
		r->reported_recall = fed->acc.recall_sum;
		r->reported_ndcg = fed->acc.ndcg_sum;
		r->have_agg_eps = false;
		if (fed->dp != NULL) {
			size_t rel = 0;
			r->have_agg_eps = fb_dp_spent(fed->dp, &r->agg_eps,
							  &rel) == FB_OK;
		}
		for (uint32_t c = 0; c < s->n_clients; c++) {
			const struct agg_client *cl = &fed->clients[c];
			r->client_status[c] = cl->participant
					? (uint8_t)cl->status
					: (uint8_t)AGG_CL_IDLE;
			r->client_eps[c] = cl->participant &&
							cl->status == AGG_CL_UPDATE
					? cl->epsilon
					: NAN;
		}
		r->planned_s = s->planned_s; // the next plan comes after
		r->close_s = mono_s();
		s->model_err = fb_model_copy(&s->model, &fed->model);
		s->closed = fed->round;
	} else {
		s->over = true;
		snprintf(s->over_reason, sizeof(s->over_reason), "%s",
				fed->over_reason);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static const char *
stop_requested(void *ctx)
{
	struct sync *s = ctx;
	return atomic_load(&s->stop) ? s->stop_reason : NULL;
}

static fb_err
sync_init(struct sync *s, uint32_t n_clients)
{
	memset(s, 0, sizeof(*s));
	s->n_clients = n_clients;
	atomic_init(&s->stop, false);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->participant = calloc(n_clients, 1);
	s->rec.client_eps = calloc(n_clients, sizeof(double));
	s->rec.client_status = calloc(n_clients, 1);
	if (s->participant == NULL || s->rec.client_eps == NULL ||
			s->rec.client_status == NULL) {
		return FB_ENOMEM;
	}
	return FB_OK;
}

static void
sync_finish(struct sync *s)
{
	free(s->participant);
	free(s->rec.client_eps);
	free(s->rec.client_status);
	fb_model_finish(&s->model);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

// ---- the aggregator ----

struct server {
	struct agg_config cfg;
	struct agg_fed fed;
	bool fed_ok;
	struct agg_server srv;
	struct fb_hs_server *hs;
	struct fb_listener *listener;
	pthread_t thread;
	bool running;
	struct sync *sync;
	FILE *metrics;
};

static void *
server_main(void *arg)
{
	struct server *sv = arg;
	agg_serve_loop(&sv->srv, sv->listener, stop_requested, sv->sync);
	pthread_mutex_lock(&sv->sync->mu);
	sv->sync->server_ended = true;
	pthread_cond_broadcast(&sv->sync->cv);
	pthread_mutex_unlock(&sv->sync->mu);
	return NULL;
}

// Sets up the aggregator of cfg (its url set) and starts its thread
// (spawn) or leaves it to the caller's thread.
static fb_err
server_open(struct server *sv, const struct fb_dataset *catalogue,
		const struct fb_identity *id, const struct fb_roster *roster,
		struct sync *sync, const char *metrics_path)
{
	fb_err err = agg_fed_init(
			&sv->fed, &sv->cfg, catalogue, roster, mono_ms());
	if (err != FB_OK) {
		return err;
	}
	sv->fed_ok = true;
	sv->sync = sync;
	sv->fed.human = NULL;
	sv->fed.observer = observe;
	sv->fed.observer_ctx = sync;
	if (metrics_path != NULL) {
		sv->metrics = fopen(metrics_path, "w");
		if (sv->metrics == NULL) {
			return fb_errorf(FB_EIO, "%s: %s", metrics_path,
					strerror(errno));
		}
		sv->fed.metrics = sv->metrics;
	}
	size_t max_msg = agg_fed_max_msg(&sv->fed);
	struct fb_hs_server_config hc = agg_fed_hs_config(&sv->fed);
	if ((err = fb_hs_server_create(&sv->hs, id, roster, &hc)) != FB_OK ||
			(err = agg_sessions_init(&sv->srv.sessions,
					 4 * (size_t)sv->fed.n_clients + 16)) !=
					FB_OK) {
		return err;
	}
	struct fb_listener_config lc = agg_config_listener(&sv->cfg, max_msg);
	if ((err = fb_listener_create(&sv->listener, &lc)) != FB_OK) {
		return err;
	}
	sv->srv.roster = roster;
	sv->srv.hs = sv->hs;
	sv->srv.fed = &sv->fed;
	sv->fed.idle_since_ms = mono_ms();
	return FB_OK;
}

static fb_err
server_start(struct server *sv)
{
	if (pthread_create(&sv->thread, NULL, server_main, sv) != 0) {
		return fb_errorf(FB_ENOMEM,
				"cannot start the aggregator thread");
	}
	sv->running = true;
	return FB_OK;
}

// Stops the aggregator's thread (if running) and frees it.
static void
server_close(struct server *sv, const char *why)
{
	if (sv->running) {
		snprintf(sv->sync->stop_reason, sizeof(sv->sync->stop_reason),
				"%s", why);
		atomic_store(&sv->sync->stop, true);
		pthread_join(sv->thread, NULL);
		sv->running = false;
	}
	fb_listener_destroy(sv->listener);
	agg_sessions_finish(&sv->srv.sessions);
	fb_hs_server_destroy(sv->hs);
	if (sv->fed_ok) {
		agg_fed_finish(&sv->fed);
	}
	if (sv->metrics != NULL) {
		fclose(sv->metrics);
	}
	sv->listener = NULL;
	sv->hs = NULL;
	sv->fed_ok = false;
	sv->metrics = NULL;
}

// ---- the clients ----

struct client {
	struct node_policy pol;
	struct node n;
	struct node_conn conn;
	bool open, conn_open;
	double train_s; // driver time in this client's rounds, this round
};

static void
client_policy(struct node_policy *p, const struct sim_config *cfg,
		const char *url, const char *work, uint32_t k, uint32_t users)
{
	node_policy_defaults(p);
	// Each simulated retailer declares its size (its users in the
	// partition): in a deployment the declaration is public.
	p->users = users > 0 ? users : 1;
	strcpy(p->data_dir, "(in memory)");
	strcpy(p->key, "(in memory)");
	strcpy(p->server_key, "(in memory)");
	snprintf(p->server_url, sizeof(p->server_url), "%s", url);
	snprintf(p->state_dir, sizeof(p->state_dir), "%s/client-%03u", work, k);
	snprintf(p->ledger, sizeof(p->ledger), "%s/client-%03u/privacy.ledger",
			work, k);
	const struct agg_round_config *r = &cfg->server.round;
	p->epsilon = cfg->epsilon;
	p->delta = r->delta > 0 ? r->delta : 1e-5;
	p->allow_none = true;
	p->allow_user = true;
	p->allow_client = true;
	p->min_noise_multiplier = 0;
	p->max_update_bytes = 0;
	p->max_dim = r->hp.dim;
	p->report_eval = true;
	p->accountant = cfg->accountant;
	p->threads = cfg->threads;
	p->seed = derive(cfg->seed, SEED_CLIENT, k);
	p->request_timeout_ms = 3600000;
	p->give_up_ms = 0;
	p->seeded_noise = true;
	p->noise_seed = derive(cfg->seed, SEED_CLIENT_NOISE, k);
}

// ---- evaluation: every client's test users, on one model ----

struct evaluator {
	struct fb_catalog cat;
	struct fb_reps reps;
	struct fb_matrix users; // scratch, max users x dim
	bool cat_ok;
};

static fb_err
eval_init(struct evaluator *e, const struct sim_data *d,
		const struct fb_model *shape, const struct sim_config *cfg)
{
	memset(e, 0, sizeof(*e));
	fb_err err = fb_catalog_init(&e->cat, d->ds);
	if (err != FB_OK) {
		return err;
	}
	e->cat_ok = true;
	const struct agg_round_config *r = &cfg->server.round;
	struct fb_rep_opts o = {r->hp.item_view, r->hp.use_attrs,
			r->hp.user_item_view, r->hp.bias};
	err = fb_reps_init(&e->reps, shape, &o);
	if (err == FB_OK) {
		err = fb_matrix_init(&e->users, d->max_users, shape->dim);
	}
	return err;
}

static void
eval_finish(struct evaluator *e)
{
	fb_matrix_finish(&e->users);
	fb_reps_finish(&e->reps);
	if (e->cat_ok) {
		fb_catalog_finish(&e->cat);
	}
}

// Sums of Recall/NDCG@20/40 over the test users of every client that has
// user factors, for model: as each client would compute them
// (fb_fit_evaluate), with the representations computed once.
static fb_err
eval_round(struct evaluator *e, const struct fb_model *model,
		const struct sim_data *d, struct client *cl, int threads,
		double sums[4], uint64_t *users)
{
	fb_reps_compute(&e->reps, model, &e->cat);
	memset(sums, 0, 4 * sizeof(double));
	*users = 0;
	for (uint32_t k = 0; k < d->k; k++) {
		const struct fb_matrix *P = &cl[k].n.st.P;
		const struct fb_dataset *ds = d->parts[k];
		if (P->rows != ds->n_users || P->cols != model->dim) {
			continue; // never trained: nothing to evaluate
		}
		struct fb_matrix u = {P->rows, P->cols, e->users.data};
		fb_user_reps_compute(&u, P, &ds->ui, &e->reps);
		struct fb_eval_result r;
		fb_err err = fb_eval_ranking(&u, &e->reps.bundle, &ds->ub_train,
				&ds->ub_test, eval_ks, 2, threads, &r);
		if (err != FB_OK) {
			return err;
		}
		sums[0] += r.sum.recall[0];
		sums[1] += r.sum.ndcg[0];
		sums[2] += r.sum.recall[1];
		sums[3] += r.sum.ndcg[1];
		*users += r.n_users;
	}
	return FB_OK;
}

// ---- output ----

static const char *const status_names[] = {
		"idle", "missing", "update", "refused", "rejected", "dropped"};

// One line of rounds.jsonl: deterministic for a seed (no times).
static void
write_round_line(FILE *fp, const struct sim_config *cfg,
		const struct round_rec *r, double sigma, bool evaluated,
		const double m[4], uint64_t users)
{
	fprintf(fp,
			"{\"round\": %u, \"status\": \"%s\", \"privacy\": \"%s\", "
			"\"noise_multiplier\": ",
			r->round, r->committed ? "committed" : "abandoned",
			sim_privacy_name(cfg->privacy));
	json_number(fp, sigma);
	fprintf(fp,
			", \"participants\": %u, \"updates\": %u, "
			"\"refusals\": %u, \"loss\": ",
			r->st.participants, r->st.updates, r->st.refusals);
	json_number(fp, r->loss);
	if (evaluated) {
		for (int i = 0; i < 4; i++) {
			fprintf(fp, ", \"%s\": ", sim_metric_names[i]);
			json_number(fp, users > 0 ? m[i] / (double)users : NAN);
		}
		fprintf(fp, ", \"eval_users\": %llu",
				(unsigned long long)users);
	}
	if (r->reported_users > 0) {
		fprintf(fp, ", \"reported_recall@20\": ");
		json_number(fp, r->reported_recall / (double)r->reported_users);
		fprintf(fp, ", \"reported_ndcg@20\": ");
		json_number(fp, r->reported_ndcg / (double)r->reported_users);
		fprintf(fp, ", \"reported_users\": %llu",
				(unsigned long long)r->reported_users);
	}
	double max_eps = -1;
	fprintf(fp, ", \"epsilon\": [");
	for (uint32_t c = 0; c < cfg->retailers; c++) {
		fprintf(fp, "%s", c > 0 ? ", " : "");
		if (r->client_status[c] == AGG_CL_UPDATE) {
			json_number(fp, r->client_eps[c]);
			if (!isfinite(r->client_eps[c]) ||
					r->client_eps[c] > max_eps) {
				max_eps = isfinite(r->client_eps[c])
						? r->client_eps[c]
						: INFINITY;
			}
		} else {
			sim_json_string(fp,
					status_names[r->client_status[c] < 6
									? r->client_status[c]
									: 0]);
		}
	}
	fprintf(fp, "], \"epsilon_max\": ");
	json_number(fp, max_eps >= 0 ? max_eps : NAN);
	if (r->have_agg_eps) {
		fprintf(fp, ", \"aggregator_epsilon\": ");
		json_number(fp, r->agg_eps);
	}
	fprintf(fp,
			", \"bytes_in\": %llu, \"bytes_out\": %llu, \"noise\": "
			"\"" SIM_NOISE_NOTE "\"}\n",
			(unsigned long long)r->st.bytes_in,
			(unsigned long long)r->st.bytes_out);
	fflush(fp);
}

// The epsilon a round spent, as the run reports it.
static double
round_epsilon(const struct sim_config *cfg, const struct round_rec *r)
{
	if (cfg->privacy == SIM_PRIV_NONE) {
		return INFINITY;
	}
	if (cfg->privacy == SIM_PRIV_CLIENT) {
		return r->have_agg_eps ? r->agg_eps : NAN;
	}
	double e = NAN;
	for (uint32_t c = 0; c < cfg->retailers; c++) {
		if (r->client_status[c] == AGG_CL_UPDATE &&
				(isnan(e) || r->client_eps[c] > e)) {
			e = r->client_eps[c];
		}
	}
	return e;
}

struct run {
	const struct sim_config *cfg;
	const struct sim_options *opt;
	const char *out;
	char work[SIM_PATH_MAX + 64];
	struct sim_data data;
	struct fb_identity *server_id;
	struct fb_identity **ids; // clients' (taken by their nodes)
	struct fb_roster *roster;
	struct fb_peer_key server_pk;
	struct server sv;
	struct sync sync;
	struct client *cl;
	struct evaluator ev;
	bool ev_ok;
	FILE *rounds, *timing;
	char url[128];
	struct sim_result res;
	double t_start, t_first_plan, t_last_close;
	bool have_best;
	double last_eps;
	uint32_t last_evaluated;
};

static fb_err
make_identities(struct run *R)
{
	uint32_t k = R->cfg->retailers;
	fb_err err = fb_identity_generate(&R->server_id, "aggregator");
	if (err == FB_OK) {
		err = fb_roster_create(&R->roster);
	}
	R->ids = calloc(k, sizeof(*R->ids));
	if (err == FB_OK && R->ids == NULL) {
		err = FB_ENOMEM;
	}
	for (uint32_t c = 0; err == FB_OK && c < k; c++) {
		char name[32];
		snprintf(name, sizeof(name), "retailer-%03u", c);
		err = fb_identity_generate(&R->ids[c], name);
		if (err == FB_OK) {
			err = fb_roster_add(R->roster,
					fb_identity_public_key(R->ids[c]),
					name);
		}
	}
	if (err == FB_OK) {
		memcpy(R->server_pk.pk, fb_identity_public_key(R->server_id),
				FB_ID_PK_LEN);
		snprintf(R->server_pk.name, sizeof(R->server_pk.name), "%s",
				fb_identity_name(R->server_id));
	}
	return err;
}

// The aggregator's configuration for this run.
static fb_err
server_config(struct run *R)
{
	const struct sim_config *cfg = R->cfg;
	struct agg_config *a = &R->sv.cfg;
	*a = cfg->server;
	snprintf(a->listen, sizeof(a->listen), "%s", R->url);
	strcpy(a->key, "(in memory)");
	strcpy(a->roster, "(in memory)");
	strcpy(a->catalog, "(in memory)");
	snprintf(a->checkpoint_dir, sizeof(a->checkpoint_dir), "%s/aggregator",
			R->work);
	a->rounds = cfg->rounds;
	a->min_clients = 0;         // every enrolled client
	a->plan_wait_ms = 86400000; // never plan without all of them
	a->deadline_ms = 86400000;  // a round ends when all answered
	a->retry_after_ms = 100;
	a->linger_ms = 3600000; // until every client got PLAN DONE
	a->seed = derive(cfg->seed, SEED_MODEL, 0);
	a->accountant = cfg->accountant;
	a->round.granularity = cfg->privacy;
	a->round.target_epsilon = cfg->epsilon;
	if (a->round.min_users == 0) {
		// Every retailer declares its own user count (client_policy):
		// the smallest is the fewest any declares.
		uint64_t fewest = UINT64_MAX;
		for (uint32_t k = 0; k < cfg->retailers; k++) {
			uint64_t n = R->data.parts[k]->n_users;
			n = n > 0 ? n : 1;
			fewest = n < fewest ? n : fewest;
		}
		a->round.min_users = fewest;
	}
	if (R->opt->processes && cfg->privacy == SIM_PRIV_NONE) {
		// The only per-round metrics; under DP they would be releases
		// of their own (docs/privacy.md), so only the final model is
		// evaluated there.
		a->round.report_eval = true;
	}
	a->seeded_noise = true;
	a->noise_seed = derive(cfg->seed, SEED_SERVER_NOISE, 0);
	fb_err err = agg_config_split_urls(a);
	if (err == FB_OK) {
		err = agg_config_check(a, "simulation");
	}
	return err;
}

static fb_err
write_config_file(struct run *R)
{
	char *path = fb_path_join(R->out, "config.json");
	FILE *fp = path != NULL ? fopen(path, "w") : NULL;
	if (fp == NULL) {
		fb_err err = path == NULL ? FB_ENOMEM
					  : fb_errorf(FB_EIO, "%s: %s", path,
							    strerror(errno));
		free(path);
		return err;
	}
	sim_config_write_json(fp, R->cfg, 0);
	fputc('\n', fp);
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	fb_err err = bad ? fb_errorf(FB_EIO, "%s: write error", path) : FB_OK;
	free(path);
	return err;
}

static fb_err
write_manifest(struct run *R)
{
	const struct sim_config *cfg = R->cfg;
	char *path = fb_path_join(R->out, "manifest.json");
	FILE *fp = path != NULL ? fopen(path, "w") : NULL;
	if (fp == NULL) {
		fb_err err = path == NULL ? FB_ENOMEM
					  : fb_errorf(FB_EIO, "%s: %s", path,
							    strerror(errno));
		free(path);
		return err;
	}
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(fp, "{\n  \"tool\": \"fedbundle simulate\",\n  \"version\": ");
	sim_json_string(fp, FB_VCS_TAG);
	fprintf(fp, ",\n  \"command\": ");
	sim_json_string(fp, R->opt->command != NULL ? R->opt->command : "");
	fprintf(fp,
			",\n  \"started\": \"%s\",\n  \"noise\": \"" SIM_NOISE_NOTE
			"\",\n  \"seed\": %llu,\n  \"mode\": \"%s\",\n"
			"  \"privacy\": {\"mode\": \"%s\", \"noise_multiplier\": ",
			when, (unsigned long long)cfg->seed,
			R->opt->processes ? "processes (tcp loopback)"
					: R->opt->tcp
					? "in-process (tcp loopback)"
					: "in-process (inproc)",
			sim_privacy_name(cfg->privacy));
	json_number(fp, R->res.noise_multiplier);
	fprintf(fp, ", \"target_epsilon\": ");
	json_number(fp,
			cfg->privacy == SIM_PRIV_NONE ? INFINITY
						      : cfg->epsilon);
	fprintf(fp, ", \"delta\": %.10g, \"trust\": ", cfg->server.round.delta);
	sim_json_string(fp, sim_trust_text(cfg->privacy));
	fprintf(fp, "},\n  \"config\": ");
	sim_config_write_json(fp, cfg, 2);
	fprintf(fp, ",\n  \"dataset\": {\"path\": ");
	sim_json_string(fp, cfg->data);
	fprintf(fp,
			", \"users\": %u, \"bundles\": %u, \"items\": %u, "
			"\"attrs\": %u,\n  \"files\": ",
			R->data.ds->n_users, R->data.ds->n_bundles,
			R->data.ds->n_items, R->data.ds->n_attrs);
	fb_err err = write_checksums(fp, cfg->data);
	fprintf(fp, "},\n  \"retailers\": [");
	for (uint32_t k = 0; k < R->data.k; k++) {
		const struct fb_dataset *p = R->data.parts[k];
		fprintf(fp,
				"%s\n    {\"users\": %u, \"train_pairs\": %llu, "
				"\"test_pairs\": %llu}",
				k > 0 ? "," : "", p->n_users,
				(unsigned long long)fb_csr_nnz(&p->ub_train),
				(unsigned long long)fb_csr_nnz(&p->ub_test));
	}
	fprintf(fp, "\n  ]\n}\n");
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	if (err == FB_OK && bad) {
		err = fb_errorf(FB_EIO, "%s: write error", path);
	}
	free(path);
	return err;
}

static fb_err
open_out(const char *out, const char *name, FILE **fp)
{
	char *path = fb_path_join(out, name);
	*fp = path != NULL ? fopen(path, "w") : NULL;
	fb_err err = *fp != NULL ? FB_OK
			: path == NULL
			? FB_ENOMEM
			: fb_errorf(FB_EIO, "%s: %s", path, strerror(errno));
	free(path);
	return err;
}

// Handles a closed round: evaluation, the lines, the best so far.
static fb_err
on_closed(struct run *R, const struct round_rec *r,
		const struct fb_model *model, double round_s, double train_s)
{
	const struct sim_config *cfg = R->cfg;
	bool evaluate = !R->opt->processes &&
			(r->round % cfg->eval_every == 0 ||
					r->round >= cfg->rounds);
	double sums[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
	uint64_t users = 0;
	double t0 = mono_s();
	if (evaluate) {
		fb_err err = eval_round(&R->ev, model, &R->data, R->cl,
				(int)cfg->threads, sums, &users);
		if (err != FB_OK) {
			return err;
		}
		R->last_evaluated = r->round;
	}
	double eval_s = mono_s() - t0;
	write_round_line(R->rounds, cfg, r, R->res.noise_multiplier, evaluate,
			sums, users);
	fprintf(R->timing,
			"{\"round\": %u, \"wall_s\": %.4f, \"clients_s\": %.4f, "
			"\"eval_s\": %.4f, \"aggregation_s\": %.4f, "
			"\"commit_s\": %.4f}\n",
			r->round, round_s + eval_s, train_s, eval_s,
			r->st.aggregation_s, r->st.commit_s);
	fflush(R->timing);
	struct sim_result *res = &R->res;
	res->rounds++;
	res->committed += r->committed;
	res->bytes += r->st.bytes_in + r->st.bytes_out;
	double eps = round_epsilon(cfg, r);
	if (!isnan(eps)) {
		R->last_eps = eps;
	}
	if (evaluate && users > 0) {
		for (int i = 0; i < 4; i++) {
			m[i] = sums[i] / (double)users;
			res->final_metric[i] = m[i];
			if (!R->have_best || m[i] > res->best_metric[i]) {
				res->best_metric[i] = m[i];
				if (i == 0) {
					res->best_round = r->round;
				}
			}
		}
		R->have_best = true;
		res->have_eval = true;
		res->eval_users = users;
	}
	if (!R->opt->quiet) {
		printf("round %3u %-9s participants %u", r->round,
				r->committed ? "committed" : "abandoned",
				r->st.participants);
		if (isfinite(r->loss)) {
			printf("  loss %.4f", r->loss);
		}
		if (evaluate && users > 0) {
			printf("  Recall@20 %.4f NDCG@20 %.4f", m[0], m[1]);
		} else if (r->reported_users > 0) {
			printf("  Recall@20 %.4f (reported, model of the "
			       "round before)",
					r->reported_recall / r->reported_users);
		}
		if (isfinite(eps)) {
			printf("  epsilon %.3f", eps);
		} else if (cfg->privacy == SIM_PRIV_NONE) {
			printf("  epsilon inf (non-private)");
		}
		printf("  %.2f s\n", round_s + eval_s);
		fflush(stdout);
	}
	return FB_OK;
}

static fb_err
wait_locked(struct sync *s, bool (*ready)(const struct sync *s, uint32_t),
		uint32_t arg)
{
	while (!ready(s, arg)) {
		if (s->server_ended) {
			return fb_errorf(FB_ESTATE,
					"the aggregator stopped: %s",
					s->over ? s->over_reason
						: "an internal error (see the "
						  "log)");
		}
		pthread_cond_wait(&s->cv, &s->mu);
	}
	return FB_OK;
}

static bool
planned_after(const struct sync *s, uint32_t r)
{
	return s->planned > r || s->over;
}

static bool
closed_at(const struct sync *s, uint32_t r)
{
	return s->closed >= r;
}

// Runs client k until it has answered round r (or is done).
static fb_err
client_round(struct run *R, uint32_t k, uint32_t r)
{
	struct client *c = &R->cl[k];
	for (int tries = 0; c->n.st.last_completed < r && tries < 5; tries++) {
		enum node_step s = node_step(&c->n, &c->conn);
		if (s == NODE_STEP_FATAL) {
			return fb_errorf(FB_ESTATE,
					"retailer-%03u failed in "
					"round %u (see the log)",
					k, r);
		}
		if (s == NODE_STEP_DONE) {
			return FB_OK;
		}
	}
	if (c->n.st.last_completed < r) {
		return fb_errorf(FB_ESTATE,
				"retailer-%03u did not complete round %u", k,
				r);
	}
	return FB_OK;
}

// The in-process driver: the clients' rounds in roster order.
static fb_err
drive(struct run *R)
{
	struct sync *s = &R->sync;
	uint32_t k = R->cfg->retailers;
	fb_err err = FB_OK;
	for (uint32_t c = 0; c < k && err == FB_OK; c++) {
		for (int tries = 0; R->cl[c].conn.s == NULL && tries < 5;
				tries++) {
			if (node_connect(&R->cl[c].n, &R->cl[c].conn) ==
					NODE_STEP_FATAL) {
				return fb_errorf(FB_ESTATE,
						"retailer-%03u could not connect",
						c);
			}
		}
		if (R->cl[c].conn.s == NULL) {
			err = fb_errorf(FB_ESTATE,
					"retailer-%03u: no session with the "
					"aggregator",
					c);
		}
	}
	uint8_t *part = calloc(k, 1);
	if (part == NULL) {
		return FB_ENOMEM;
	}
	uint32_t done = 0; // last round handled
	while (err == FB_OK) {
		pthread_mutex_lock(&s->mu);
		err = wait_locked(s, planned_after, done);
		uint32_t r = s->planned;
		double planned_s = s->planned_s;
		bool over = s->over && r <= done;
		memcpy(part, s->participant, k);
		pthread_mutex_unlock(&s->mu);
		if (err != FB_OK || over) {
			break;
		}
		if (R->t_first_plan == 0) {
			R->t_first_plan = planned_s;
		}
		double t0 = mono_s();
		for (uint32_t c = 0; c < k && err == FB_OK; c++) {
			if (part[c]) {
				err = client_round(R, c, r);
			}
		}
		double train_s = mono_s() - t0;
		if (err != FB_OK) {
			break;
		}
		pthread_mutex_lock(&s->mu);
		err = wait_locked(s, closed_at, r);
		pthread_mutex_unlock(&s->mu);
		if (err != FB_OK) {
			break;
		}
		// The copy stays valid: the next round cannot close before
		// the driver runs its clients.
		if (s->model_err != FB_OK) {
			err = s->model_err;
			break;
		}
		R->t_last_close = s->rec.close_s;
		err = on_closed(R, &s->rec, &s->model,
				s->rec.close_s - planned_s, train_s);
		done = r;
	}
	free(part);
	if (err == FB_OK && done > 0 && R->last_evaluated < done) {
		// Training ended before a round due for evaluation (a budget
		// or the quorum): the final model is evaluated all the same.
		double sums[4];
		uint64_t users = 0;
		err = eval_round(&R->ev, &s->model, &R->data, R->cl,
				(int)R->cfg->threads, sums, &users);
		for (int i = 0; err == FB_OK && users > 0 && i < 4; i++) {
			R->res.final_metric[i] = sums[i] / (double)users;
			if (!R->have_best) {
				R->res.best_metric[i] = R->res.final_metric[i];
				R->res.best_round = done;
			}
			R->res.have_eval = true;
			R->res.eval_users = users;
		}
	}
	if (err != FB_OK) {
		return err;
	}
	// Training is over: every client fetches PLAN DONE and hangs up, as
	// fedbundle-client does, which frees its download slot (§5.2); until
	// then others may be told to wait (at least 100 ms a time).
	for (uint32_t c = 0; c < k; c++) {
		struct client *cl = &R->cl[c];
		for (int tries = 0; !cl->n.st.done && tries < 100; tries++) {
			if (node_step(&cl->n, &cl->conn) == NODE_STEP_FATAL) {
				return fb_errorf(FB_ESTATE,
						"retailer-%03u failed at the end",
						c);
			}
		}
		if (cl->conn_open) {
			node_conn_close(&cl->conn);
			cl->conn_open = false;
		}
	}
	return FB_OK;
}

// A free tcp port on the loopback interface, for --processes and --tcp.
static fb_err
free_port(int *port)
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
child_main(struct run *R, uint32_t k)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1) {
		return 1;
	}
	static char tag[32];
	snprintf(tag, sizeof(tag), "retailer-%03u", k);
	fb_log_set_tag(tag);
	struct client *c = &R->cl[k];
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
				&R->data.parts[k]->ub_test, eval_ks, 2,
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

// In one process every client holds its ledger open (and locked) for the
// whole run, one descriptor each: raises the soft limit on descriptors,
// up to the hard one, if k clients and some spare would not fit.
static void
raise_fd_limit(uint32_t k)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)k + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
		return;
	}
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want
			? rl.rlim_max
			: want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fb_log_errno(FB_LOG_WARN, "cannot raise the %s limit",
				"descriptor");
	}
}

// --processes: fork the clients, run the aggregator on this thread.
static fb_err
run_processes(struct run *R, pid_t *pids)
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
	fb_err err = server_open(&R->sv, R->data.ds, R->server_id, R->roster,
			&R->sync, NULL);
	if (err != FB_OK) {
		return err;
	}
	R->res.noise_multiplier = R->sv.fed.plan_cfg.noise_multiplier;
	if ((err = write_manifest(R)) != FB_OK ||
			(err = server_start(&R->sv)) != FB_OK) {
		return err;
	}
	if (!R->opt->quiet) {
		printf("aggregator listening on %s; %u client processes\n",
				R->url, k);
		fflush(stdout);
	}
	// Closed rounds are written as they come, from a copy taken under
	// the lock (the aggregator does not wait for this thread).
	struct sync *s = &R->sync;
	struct round_rec rec = {0};
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
		err = on_closed(R, &rec, NULL, rec.close_s - rec.planned_s, 0);
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

static fb_err
write_summary(struct run *R)
{
	FILE *fp = NULL;
	fb_err err = open_out(R->out, "summary.json", &fp);
	if (err != FB_OK) {
		return err;
	}
	const struct sim_result *s = &R->res;
	fprintf(fp,
			"{\"noise\": \"" SIM_NOISE_NOTE
			"\", \"privacy\": \"%s\", "
			"\"retailers\": %u, \"rounds\": %u, \"committed\": %u, "
			"\"noise_multiplier\": ",
			sim_privacy_name(R->cfg->privacy), R->cfg->retailers,
			s->rounds, s->committed);
	json_number(fp, s->noise_multiplier);
	fprintf(fp, ", \"epsilon\": ");
	json_number(fp, s->epsilon);
	for (int i = 0; i < 4; i++) {
		fprintf(fp, ", \"final_%s\": ", sim_metric_names[i]);
		json_number(fp, s->have_eval ? s->final_metric[i] : NAN);
	}
	for (int i = 0; i < 4; i++) {
		fprintf(fp, ", \"best_%s\": ", sim_metric_names[i]);
		json_number(fp, s->have_eval ? s->best_metric[i] : NAN);
	}
	fprintf(fp,
			", \"best_round\": %u, \"eval_users\": %llu, "
			"\"bytes\": %llu, \"wall_s\": %.3f, "
			"\"rounds_per_min\": %.4f, \"peak_rss_kb\": %ld, "
			"\"trust\": ",
			s->best_round, (unsigned long long)s->eval_users,
			(unsigned long long)s->bytes, s->wall_s,
			s->rounds_per_min, s->peak_rss_kb);
	sim_json_string(fp, sim_trust_text(R->cfg->privacy));
	fprintf(fp, "}\n");
	bool bad = ferror(fp) != 0;
	bad |= fclose(fp) != 0;
	return bad ? fb_errorf(FB_EIO, "%s/summary.json: write error", R->out)
		   : FB_OK;
}

static unsigned inproc_counter;

fb_err
sim_run(const struct sim_config *cfg, const char *out_dir,
		const struct sim_options *opt, struct sim_result *res)
{
	struct run *R = calloc(1, sizeof(*R));
	if (R == NULL) {
		return FB_ENOMEM;
	}
	pid_t *pids = NULL;
	R->cfg = cfg;
	R->opt = opt;
	R->out = out_dir;
	R->t_start = mono_s();
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
			(err = write_config_file(R)) != FB_OK ||
			(err = open_out(out_dir, "rounds.jsonl", &R->rounds)) !=
					FB_OK ||
			(err = open_out(out_dir, "timing.jsonl", &R->timing)) !=
					FB_OK) {
		goto out;
	}
	fb_blas_set_threads(1);
	if ((err = data_load(&R->data, cfg, out_dir)) != FB_OK ||
			(err = make_identities(R)) != FB_OK ||
			(err = sync_init(&R->sync, k)) != FB_OK) {
		goto out;
	}
	if (opt->processes || opt->tcp) {
		int port = 0;
		if ((err = free_port(&port)) != FB_OK) {
			goto out;
		}
		snprintf(R->url, sizeof(R->url), "tcp://127.0.0.1:%d", port);
	} else {
		snprintf(R->url, sizeof(R->url),
				"inproc://fedbundle-sim-%ld-%u", (long)getpid(),
				inproc_counter++);
	}
	if ((err = server_config(R)) != FB_OK) {
		goto out;
	}
	R->cl = calloc(k, sizeof(*R->cl));
	pids = calloc(k, sizeof(*pids));
	if (R->cl == NULL || pids == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < k; c++) {
		client_policy(&R->cl[c].pol, cfg, R->url, R->work, c,
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
		printf("trust: %s\n", sim_trust_text(cfg->privacy));
		fflush(stdout);
	}
	char *agg_log = fb_path_join(out_dir, "aggregator.jsonl");
	if (agg_log == NULL) {
		err = FB_ENOMEM;
		goto out;
	}
	if (opt->processes) {
		free(agg_log);
		err = run_processes(R, pids);
		goto finish;
	}
	err = server_open(&R->sv, R->data.ds, R->server_id, R->roster, &R->sync,
			agg_log);
	free(agg_log);
	if (err != FB_OK) {
		goto out;
	}
	R->res.noise_multiplier = R->sv.fed.plan_cfg.noise_multiplier;
	if ((err = write_manifest(R)) != FB_OK ||
			(err = eval_init(&R->ev, &R->data, &R->sv.fed.model,
					 cfg)) != FB_OK) {
		goto out;
	}
	R->ev_ok = true;
	raise_fd_limit(k);
	for (uint32_t c = 0; c < k && err == FB_OK; c++) {
		struct client *cl = &R->cl[c];
		err = node_open_with(&cl->n, &cl->pol, R->ids[c], &R->server_pk,
				R->data.parts[c]);
		R->ids[c] = NULL; // taken
		cl->open = true;
		cl->n.keep_global = false;
		if (err == FB_OK) {
			err = node_conn_open(&cl->n, &cl->conn);
			cl->conn_open = err == FB_OK;
		}
	}
	if (err != FB_OK || (err = server_start(&R->sv)) != FB_OK) {
		goto out;
	}
	err = drive(R);
finish:
	if (err != FB_OK) {
		goto out;
	}
	R->res.epsilon = R->last_eps;
	if (cfg->privacy == SIM_PRIV_NONE) {
		R->res.epsilon = INFINITY;
	}
	R->res.wall_s = mono_s() - R->t_start;
	double train = R->t_last_close - R->t_first_plan;
	R->res.rounds_per_min = train > 0 ? 60.0 * R->res.rounds / train : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	R->res.peak_rss_kb = ru.ru_maxrss;
	if (opt->processes) {
		getrusage(RUSAGE_CHILDREN, &ru);
		if (ru.ru_maxrss > R->res.peak_rss_kb) {
			R->res.peak_rss_kb = ru.ru_maxrss;
		}
	}
	err = write_summary(R);
	if (err == FB_OK && opt->final_model != NULL && !opt->processes) {
		err = fb_model_copy(opt->final_model, &R->sync.model);
	}
out:
	server_close(&R->sv, "simulation finished");
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
		eval_finish(&R->ev);
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
		sync_finish(&R->sync);
	}
	data_finish(&R->data);
	if (R->rounds != NULL) {
		fclose(R->rounds);
	}
	if (R->timing != NULL) {
		fclose(R->timing);
	}
	if (err == FB_OK && res != NULL) {
		*res = R->res;
	}
	free(R);
	return err;
}
