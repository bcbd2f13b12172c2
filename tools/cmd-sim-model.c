// tools/cmd-sim-model.c: `fedbundle sim-model`, the federated model of a
// simulation as one model file, so the centralized tools (eval,
// complete-eval, recommend) measure it on the whole dataset: the
// aggregator's shared factors plus every retailer's user factors, each at
// its global user id (partitions/retailer-NN/users.map). Only a simulation
// can do this: one party holds every retailer's state. A deployment never
// gathers the user factors, which stay at their retailers.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/idmap.h"
#include "fedbundle/model/modelio.h"

static const char *const usage_text =
		"usage: fedbundle sim-model --sim DIR --out FILE [--work DIR]\n"
		"\n"
		"Writes the final model of a `fedbundle simulate` run as one "
		"model file:\nthe aggregator checkpoint's shared factors (V, W, "
		"M) and every retailer's\nuser factors (its state.fbc) at their "
		"global ids. The run must have\nsaved its partitions "
		"(\"save_partitions\": true) for their users.map.\n"
		"\n"
		"options:\n"
		"  --sim DIR   output folder of the simulation (required)\n"
		"  --work DIR  its states and checkpoint, when it ran with "
		"--scratch\n              (default: DIR/work)\n"
		"  --out FILE  model file to write (required)\n"
		"  --help      this text\n";

// Copies the rows of one retailer's user factors Pk to their global ids
// in P (seen marks the rows already filled).
static fb_err
place(struct fb_matrix *P, bool *seen, const struct fb_matrix *Pk,
		const struct fb_idmap *map, const char *map_path)
{
	if (Pk->rows != map->n || Pk->cols != P->cols) {
		return fb_errorf(FB_EINVAL,
				"%s has %u users, its state %zu x %zu "
				"(d = %zu expected)",
				map_path, map->n, Pk->rows, Pk->cols, P->cols);
	}
	for (uint32_t u = 0; u < map->n; u++) {
		char *end;
		const char *s = fb_idmap_str(map, u);
		unsigned long g = strtoul(s, &end, 10);
		if (*end != '\0' || g >= P->rows || seen[g]) {
			return fb_errorf(FB_EINVAL,
					"%s: user %u maps to '%s', not a new "
					"global id below %zu",
					map_path, u, s, P->rows);
		}
		seen[g] = true;
		memcpy(P->data + g * P->cols, Pk->data + (size_t)u * Pk->cols,
				P->cols * sizeof(float));
	}
	return FB_OK;
}

// One retailer k: its map and state, added to P. *found is false when
// the simulation has no retailer k (its state file is absent).
static fb_err
add_retailer(const char *sim, const char *work, uint32_t k, struct fb_matrix *P,
		bool *seen, struct fb_rep_opts *opts, bool *found)
{
	char state[4096], map_path[4096];
	if (snprintf(state, sizeof(state), "%s/client-%03u/state.fbc", work,
			    k) >= (int)sizeof(state) ||
			snprintf(map_path, sizeof(map_path),
					"%s/partitions/retailer-%02u/users.map",
					sim, k) >= (int)sizeof(map_path)) {
		return fb_errorf(FB_EINVAL, "%s: path too long", sim);
	}
	FILE *f = fopen(state, "rb");
	*found = f != NULL;
	if (f == NULL) {
		return FB_OK;
	}
	fclose(f);
	struct fb_idmap map = {.what = "user"};
	struct fb_matrix Pk = {0};
	struct fb_model_meta meta;
	fb_err err = fb_idmap_load(&map, map_path);
	if (err == FB_OK) {
		err = fb_modelio_load_users(state, &Pk, &meta);
	}
	if (err == FB_OK && k > 0 &&
			memcmp(opts, &meta.opts, sizeof(*opts)) != 0) {
		err = fb_errorf(FB_EINVAL,
				"%s forms representations unlike retailer 0",
				state);
	}
	if (err == FB_OK) {
		*opts = meta.opts;
		err = place(P, seen, &Pk, &map, map_path);
	}
	fb_matrix_finish(&Pk);
	fb_idmap_finish(&map);
	return err;
}

// Every retailer's user factors into P, sized by the sum of their maps.
static fb_err
gather(const char *sim, const char *work, uint32_t n_users, struct fb_matrix *P,
		struct fb_rep_opts *opts)
{
	bool *seen = calloc(n_users, sizeof(*seen));
	if (seen == NULL) {
		return FB_ENOMEM;
	}
	fb_err err = FB_OK;
	bool found = true;
	uint32_t k = 0;
	for (; err == FB_OK && found; k++) {
		err = add_retailer(sim, work, k, P, seen, opts, &found);
	}
	for (uint32_t u = 0; err == FB_OK && u < n_users; u++) {
		if (!seen[u]) {
			err = fb_errorf(FB_EINVAL,
					"%s: no retailer holds global user %u "
					"(%u retailers found)",
					sim, u, k - 1);
		}
	}
	free(seen);
	return err;
}

// The number of users of all retailers: the sum of their maps' lengths.
static fb_err
count_users(const char *sim, uint32_t *n)
{
	*n = 0;
	for (uint32_t k = 0;; k++) {
		char path[4096];
		if (snprintf(path, sizeof(path),
				    "%s/partitions/retailer-%02u/users.map",
				    sim, k) >= (int)sizeof(path)) {
			return fb_errorf(FB_EINVAL, "%s: path too long", sim);
		}
		FILE *f = fopen(path, "r");
		if (f == NULL) {
			return k == 0 ? fb_errorf(FB_EINVAL,
							"%s: no partitions (run "
							"the simulation with "
							"\"save_partitions\": "
							"true)",
							sim)
				      : FB_OK;
		}
		fclose(f);
		struct fb_idmap map = {.what = "user"};
		fb_err err = fb_idmap_load(&map, path);
		*n += map.n;
		fb_idmap_finish(&map);
		if (err != FB_OK) {
			return err;
		}
	}
}

static fb_err
sim_model(const char *sim, const char *work, const char *out)
{
	char ckpt[4096];
	if (snprintf(ckpt, sizeof(ckpt), "%s/aggregator/checkpoint.fbc",
			    work) >= (int)sizeof(ckpt)) {
		return fb_errorf(FB_EINVAL, "%s: path too long", work);
	}
	struct fb_model model = {0};
	struct fb_matrix P = {0};
	struct fb_model_meta meta;
	uint32_t n_users;
	fb_err err = count_users(sim, &n_users);
	if (err == FB_OK) {
		err = fb_modelio_load_any(ckpt, &model, NULL, &meta);
	}
	if (err == FB_OK) {
		err = fb_matrix_init(&P, n_users, model.dim);
	}
	if (err == FB_OK) {
		err = gather(sim, work, n_users, &P, &meta.opts);
	}
	if (err == FB_OK) {
		snprintf(meta.dataset, sizeof(meta.dataset), "federated");
		err = fb_modelio_save(out, &model, &P, &meta);
	}
	fb_matrix_finish(&P);
	fb_model_finish(&model);
	return err;
}

int
cmd_sim_model(int argc, char **argv)
{
	static const struct option opts[] = {
			{"sim", required_argument, NULL, 's'},
			{"work", required_argument, NULL, 'w'},
			{"out", required_argument, NULL, 'o'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *sim = NULL, *work = NULL, *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sim = optarg;
			break;
		case 'w':
			work = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("sim-model", "unknown option");
		}
	}
	if (optind < argc || sim == NULL || out == NULL) {
		return cli_usage_error("sim-model",
				"--sim and --out are required (and no other "
				"argument)");
	}
	char buf[4096];
	if (work == NULL) {
		if (snprintf(buf, sizeof(buf), "%s/work", sim) >=
				(int)sizeof(buf)) {
			return cli_usage_error("sim-model", "--sim too long");
		}
		work = buf;
	}
	fb_err err = sim_model(sim, work, out);
	if (err != FB_OK) {
		return cli_fail("sim-model", err, "cannot write the model");
	}
	printf("sim-model: %s written\n", out);
	return 0;
}
