// tools/sim/sim-setup.c: setting a run up (sim-internal.h): the clocks,
// the seeds of a run's parts (all derived from its one seed), the dataset
// partitioned in memory among the retailers (the catalogue shared, not
// copied), the identities made in memory, and the aggregator's and the
// clients' configurations.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedbundle/data/partition.h"
#include "fedbundle/util/fsutil.h"
#include "server/dpdefaults.h"
#include "sim-internal.h"

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
	SEED_DROPOUT,
};

// Below 2^53 so that it fits the configuration files' integers.
static uint64_t
derive(uint64_t seed, enum seed_tag tag, uint64_t k)
{
	return mix(seed ^ mix(((uint64_t)tag << 32) + k)) &
			((UINT64_C(1) << 53) - 1);
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

void
sim_data_finish(struct sim_data *d)
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

fb_err
sim_data_load(struct sim_data *d, const struct sim_config *cfg,
		const char *out_dir)
{
	memset(d, 0, sizeof(*d));
	uint32_t *cluster = NULL, *owner = NULL, n_clusters = 0;
	bool from_file = false;
	fb_err err = fb_dataset_load(&d->ds, cfg->data);
	if (err != FB_OK) {
		return err;
	}
	struct fb_dataset *ds = d->ds;
	// The retailers' folders the simulation writes have no id maps: every
	// party uses the catalogue digest of the relations alone (catdir.h).
	ds->has_digest = false;
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
	sim_data_finish(d);
	return err;
}

void
sim_client_policy(struct node_policy *p, const struct sim_config *cfg,
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
	if (cfg->server.round.secure_aggregation) {
		// The consortium's roster (write_roster), against which the
		// retailer verifies its peers' advertisements; it assumes the
		// colluders the round's noise is calibrated for.
		snprintf(p->roster, sizeof(p->roster), "%s/roster", work);
		p->secagg_assumed_colluders =
				cfg->server.round.secagg_assumed_colluders;
	}
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
	p->sim_dropout = cfg->dropout;
	p->sim_dropout_seed = derive(cfg->seed, SEED_DROPOUT, k);
}

// Secure aggregation: the roster file every party reads (the consortium
// id, secagg-v1 §3.6, hashes it; clients verify advertisements against
// it), written to work/roster.
static fb_err
write_roster(struct sim_runner *R)
{
	size_t n = fb_roster_count(R->roster);
	char *text = malloc(n * FB_ID_PUB_LINE_MAX + 1);
	if (text == NULL) {
		return FB_ENOMEM;
	}
	size_t len = 0;
	fb_err err = FB_OK;
	for (size_t i = 0; i < n && err == FB_OK; i++) {
		const struct fb_peer_key *pk = fb_roster_at(R->roster, i);
		err = fb_peer_key_format(pk->pk, pk->name, text + len,
				FB_ID_PUB_LINE_MAX + 1);
		len += strlen(text + len);
	}
	char path[SIM_PATH_MAX + 96];
	snprintf(path, sizeof(path), "%s/roster", R->work);
	if (err == FB_OK) {
		err = fb_write_file_atomic(path, text, len, 0644);
	}
	free(text);
	return err;
}

fb_err
sim_make_identities(struct sim_runner *R)
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
	if (err == FB_OK && R->cfg->server.round.secure_aggregation) {
		err = write_roster(R);
	}
	if (err == FB_OK) {
		memcpy(R->server_pk.pk, fb_identity_public_key(R->server_id),
				FB_ID_PK_LEN);
		snprintf(R->server_pk.name, sizeof(R->server_pk.name), "%s",
				fb_identity_name(R->server_id));
	}
	return err;
}

// The aggregator's user-level DP defaults (server/dpdefaults.h) over the
// run's catalogue and retailers, copied into the run's configuration
// (config.json, the evaluation) and said like the aggregator says them.
static fb_err
dp_defaults(struct sim_runner *R)
{
	struct agg_config *a = &R->sv.cfg;
	const struct fb_dataset *ds = R->data.ds;
	struct agg_dpdefaults d;
	fb_err err = agg_dpdefaults_apply(
			a, ds->n_items, ds->n_bundles, R->cfg->retailers, &d);
	if (err != FB_OK || !d.applied) {
		return err;
	}
	struct agg_round_config *r = &R->resolved.server.round;
	r->q = a->round.q;
	r->hp = a->round.hp;
	if (!R->opt->quiet) {
		char line[640];
		agg_dpdefaults_describe(a, &d, line, sizeof(line));
		printf("%s\n", line);
	}
	return FB_OK;
}

// The aggregator's configuration for this run.
fb_err
sim_server_config(struct sim_runner *R)
{
	const struct sim_config *cfg = R->cfg;
	struct agg_config *a = &R->sv.cfg;
	*a = cfg->server;
	snprintf(a->listen, sizeof(a->listen), "%s", R->url);
	strcpy(a->key, "(in memory)");
	strcpy(a->roster, "(in memory)");
	if (a->round.secure_aggregation) {
		int n = snprintf(a->roster, sizeof(a->roster), "%s/roster",
				R->work);
		if (n < 0 || (size_t)n >= sizeof(a->roster)) {
			return fb_errorf(FB_EINVAL,
					"work folder %s: path too long",
					R->work);
		}
	}
	strcpy(a->catalog, "(in memory)");
	int len = snprintf(a->checkpoint_dir, sizeof(a->checkpoint_dir),
			"%s/aggregator", R->work);
	if (len < 0 || (size_t)len >= sizeof(a->checkpoint_dir)) {
		return fb_errorf(FB_EINVAL, "work folder %s: path too long",
				R->work);
	}
	a->rounds = cfg->rounds;
	a->min_clients = 0;         // every enrolled client
	a->plan_wait_ms = 86400000; // never plan without all of them
	a->deadline_ms = cfg->server.deadline_ms; // default: a day
	a->retry_after_ms = 100;
	a->linger_ms = 3600000; // until every client got PLAN DONE
	a->seed = derive(cfg->seed, SEED_MODEL, 0);
	a->accountant = cfg->accountant;
	a->round.granularity = cfg->privacy;
	a->round.target_epsilon = cfg->epsilon;
	if (a->round.min_users == 0) {
		// Every retailer declares its own user count (sim_client_policy):
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
		err = dp_defaults(R);
	}
	if (err == FB_OK) {
		err = agg_config_check(a, "simulation");
	}
	return err;
}
