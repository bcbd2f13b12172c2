// tools/cmd-export.c: `fedbundle export`, a trained model's factors as
// NumPy .npy files plus the id maps, so a data scientist loads them with
// one np.load each. The model may be a model file, an aggregator
// checkpoint or a client state (modelio.h). The .npy v1.0 format is
// written here (numpy.org/doc/stable/reference/generated/numpy.lib.format
// .html): the magic "\x93NUMPY", version 1.0, a little-endian u16 header
// length, then a Python dict literal giving dtype '<f4', C order and the
// shape, padded with spaces and a newline so the data starts at a
// multiple of 64 bytes; then the floats, row-major, little-endian.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fedbundle/data/catdir.h"
#include "fedbundle/data/dataset.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/util/fsutil.h"

static const char *const usage_text =
		"usage: fedbundle export --model FILE --data DIR --out DIR\n"
		"\n"
		"Writes the model's factors as NumPy .npy files (float32, one row "
		"per id)\nand the ids of their rows, one per line (original ids "
		"when the folder has\nmaps, dense ids otherwise):\n"
		"  items.npy, items.txt       item factors V\n"
		"  bundles.npy, bundles.txt   bundle factors W\n"
		"  attrs.npy, attrs.txt       attribute factors M (with "
		"attributes)\n"
		"  users.npy, users.txt       user factors P (a model file or a "
		"client state)\n"
		"  item_reps.npy, bundle_reps.npy, user_reps.npy\n"
		"                             the representations scores use: "
		"score(u, b) =\n"
		"                             user_reps[u] . bundle_reps[b] "
		"(an aggregator\n"
		"                             checkpoint: item and bundle reps, "
		"from the\n"
		"                             options it records; none if it "
		"records none)\n"
		"  model.json                 source, epoch, dimension, options\n"
		"\n"
		"options:\n"
		"  --model FILE   model file, aggregator checkpoint or client state "
		"(required)\n"
		"  --data DIR     dataset or catalogue folder it was trained on "
		"(required)\n"
		"  --out DIR      output folder, created if missing (required)\n"
		"  --help         this text\n";

// The .npy v1.0 header of a rows x cols float32 matrix into buf (room
// for 128 bytes); returns its length, a multiple of 64.
static size_t
npy_header(char *buf, size_t rows, size_t cols)
{
	char dict[96];
	int n = snprintf(dict, sizeof(dict),
			"{'descr': '<f4', 'fortran_order': False, 'shape': "
			"(%zu, %zu), }",
			rows, cols);
	size_t total = 10 + (size_t)n + 1; // magic+version+len, dict, '\n'
	total = (total + 63) / 64 * 64;
	size_t hlen = total - 10;
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)(hlen >> 8);
	memcpy(buf + 10, dict, (size_t)n);
	memset(buf + 10 + n, ' ', hlen - (size_t)n - 1);
	buf[total - 1] = '\n';
	return total;
}

// Writes m to dir/name as .npy (little-endian floats whatever the host).
static fb_err
write_npy(const char *dir, const char *name, const struct fb_matrix *m)
{
	char path[4096], hdr[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct fb_atomic_file f = {0};
	fb_err err = fb_atomic_open(&f, path, 0644);
	if (err != FB_OK) {
		return err;
	}
	size_t hlen = npy_header(hdr, m->rows, m->cols);
	err = fb_atomic_write(&f, hdr, hlen);
	size_t len = fb_matrix_len(m);
	for (size_t i = 0; i < len && err == FB_OK; i += 1024) {
		uint8_t out[4096];
		size_t n = len - i < 1024 ? len - i : 1024;
		for (size_t j = 0; j < n; j++) {
			uint32_t bits;
			memcpy(&bits, &m->data[i + j], 4);
			for (int b = 0; b < 4; b++) {
				out[4 * j + b] = (uint8_t)(bits >> (8 * b));
			}
		}
		err = fb_atomic_write(&f, out, 4 * n);
	}
	if (err != FB_OK) {
		fb_atomic_abort(&f);
		return err;
	}
	return fb_atomic_commit(&f);
}

// Writes dir/name: the id of each of n rows, one per line, from map
// (original ids) or the dense ids when the map is empty.
static fb_err
write_ids(const char *dir, const char *name, const struct fb_idmap *map,
		uint32_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct fb_atomic_file f = {0};
	fb_err err = fb_atomic_open(&f, path, 0644);
	if (err != FB_OK) {
		return err;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (map != NULL && map->n == n) {
			fprintf(f.fp, "%s\n", fb_idmap_str(map, i));
		} else {
			fprintf(f.fp, "%u\n", i);
		}
	}
	return fb_atomic_commit(&f);
}

static const char *
kind_name(enum fb_tfile_kind kind)
{
	return kind == FB_TFILE_CHECKPOINT        ? "aggregator checkpoint"
			: kind == FB_TFILE_CLIENT ? "client state"
						  : "model file";
}

static fb_err
write_meta(const char *dir, const struct fb_model *model, size_t n_users,
		const struct fb_model_meta *meta)
{
	char path[4096], json[1024];
	snprintf(path, sizeof(path), "%s/model.json", dir);
	const struct fb_rep_opts *o = &meta->opts;
	char opts[256] = "null";
	if (meta->opts_known) {
		snprintf(opts, sizeof(opts),
				"{\"item_view\": %s, \"use_attrs\": %s, "
				"\"user_item_view\": %s, \"bias\": %s}",
				o->item_view ? "true" : "false",
				o->use_attrs ? "true" : "false",
				o->user_item_view ? "true" : "false",
				o->bias ? "true" : "false");
	}
	int n = snprintf(json, sizeof(json),
			"{\"source\": \"%s\", \"epoch\": %u, \"dim\": %u, "
			"\"items\": %u, \"bundles\": %u, \"attrs\": %u, "
			"\"users\": %zu, \"rep_options\": %s}\n",
			kind_name(meta->kind), meta->epoch, model->dim,
			model->n_items, model->n_bundles, model->n_attrs,
			n_users, opts);
	return fb_write_file_atomic(path, json, (size_t)n, 0644);
}

struct export
{
	struct fb_dataset *ds;
	struct fb_catdir_ids ids;
	struct fb_model model;
	struct fb_matrix P;
	struct fb_model_meta meta;
	struct fb_catalog cat;
	struct fb_reps reps;
	struct fb_matrix user_reps;
};

static void
export_finish(struct export *e)
{
	fb_matrix_finish(&e->user_reps);
	fb_reps_finish(&e->reps);
	fb_catalog_finish(&e->cat);
	fb_matrix_finish(&e->P);
	fb_model_finish(&e->model);
	fb_catdir_ids_finish(&e->ids);
	fb_dataset_destroy(e->ds);
}

static fb_err
export_load(struct export *e, const char *data, const char *model_path)
{
	fb_err err = fb_dataset_load(&e->ds, data);
	if (err == FB_OK) {
		err = fb_catdir_ids_load(&e->ids, e->ds, data);
	}
	if (err == FB_OK) {
		err = fb_modelio_load_any(
				model_path, &e->model, &e->P, &e->meta);
	}
	if (err != FB_OK) {
		return err;
	}
	const struct fb_dataset *ds = e->ds;
	if (e->model.n_items != ds->n_items ||
			e->model.n_bundles != ds->n_bundles ||
			(e->model.n_attrs != 0 &&
					e->model.n_attrs != ds->n_attrs) ||
			(e->P.rows != 0 && e->P.rows != ds->n_users)) {
		return fb_errorf(FB_EINVAL,
				"%s (%u items, %u bundles, %u attributes, %zu "
				"users) does not fit dataset %s (%u, %u, %u, %u)",
				model_path, e->model.n_items,
				e->model.n_bundles, e->model.n_attrs, e->P.rows,
				ds->name, ds->n_items, ds->n_bundles,
				ds->n_attrs, ds->n_users);
	}
	if (!e->meta.opts_known) {
		return FB_OK;
	}
	if ((err = fb_catalog_init(&e->cat, ds)) != FB_OK ||
			(err = fb_reps_init(&e->reps, &e->model,
					 &e->meta.opts)) != FB_OK) {
		return err;
	}
	fb_reps_compute(&e->reps, &e->model, &e->cat);
	if (e->P.rows == 0) {
		return FB_OK;
	}
	err = fb_matrix_init(&e->user_reps, e->P.rows, e->P.cols);
	if (err == FB_OK) {
		fb_user_reps_compute(&e->user_reps, &e->P, &ds->ui, &e->reps);
	}
	return err;
}

static fb_err
export_write(const struct export *e, const char *out)
{
	const struct fb_dataset *ds = e->ds;
	fb_err err = fb_mkdir_p(out);
	if (err == FB_OK) {
		err = write_npy(out, "items.npy", &e->model.V);
	}
	if (err == FB_OK) {
		err = write_ids(out, "items.txt", &e->ids.items, ds->n_items);
	}
	if (err == FB_OK) {
		err = write_npy(out, "bundles.npy", &e->model.W);
	}
	if (err == FB_OK) {
		err = write_ids(out, "bundles.txt", &e->ids.bundles,
				ds->n_bundles);
	}
	if (err == FB_OK && e->model.n_attrs > 0) {
		err = write_npy(out, "attrs.npy", &e->model.M);
		if (err == FB_OK) {
			err = write_ids(out, "attrs.txt", &e->ids.attrs,
					e->model.n_attrs);
		}
	}
	if (err == FB_OK && e->P.rows > 0) {
		err = write_npy(out, "users.npy", &e->P);
		if (err == FB_OK) {
			err = write_ids(out, "users.txt", &e->ids.users,
					ds->n_users);
		}
	}
	if (err == FB_OK && e->meta.opts_known) {
		err = write_npy(out, "item_reps.npy", &e->reps.item);
		if (err == FB_OK) {
			err = write_npy(out, "bundle_reps.npy",
					&e->reps.bundle);
		}
		if (err == FB_OK && e->P.rows > 0) {
			err = write_npy(out, "user_reps.npy", &e->user_reps);
		}
	}
	if (err == FB_OK) {
		err = write_meta(out, &e->model, e->P.rows, &e->meta);
	}
	return err;
}

int
cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
			{"model", required_argument, NULL, 'm'},
			{"data", required_argument, NULL, 'd'},
			{"out", required_argument, NULL, 'o'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	const char *model_path = NULL, *data = NULL, *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			model_path = optarg;
			break;
		case 'd':
			data = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_usage_error("export", "unknown option");
		}
	}
	if (optind < argc) {
		return cli_usage_error("export", "unexpected argument '%s'",
				argv[optind]);
	}
	if (model_path == NULL || data == NULL || out == NULL) {
		return cli_usage_error("export",
				"--model, --data and --out are required");
	}
	fb_blas_set_threads(1);
	struct export e = {0};
	fb_err err = export_load(&e, data, model_path);
	int status = 0;
	if (err != FB_OK) {
		status = cli_fail("export", err, "cannot load the model");
	} else if ((err = export_write(&e, out)) != FB_OK) {
		status = cli_fail("export", err, "cannot write the export");
	} else {
		fprintf(stderr, "export: %s (%s) to %s\n", model_path,
				kind_name(e.meta.kind), out);
	}
	export_finish(&e);
	return status;
}
