// tests/fuzz/fuzz-tensorfile.c: libFuzzer target for the tensor file
// container (common/util/tensorfile.c fb_tfile_parse) and the three readers on
// top of it: model files (common/model/modelio.c), a client's state
// (client/state.c) and the aggregator's checkpoint (server/checkpoint.c,
// a fedavg and a fedadam one, model 4 items x 3 bundles x 2 attrs, d = 2,
// clients retailer-0 and retailer-1: the shapes of the seed corpus).
// Selector byte: bits 0-1 the reader (0 raw container of the kind in bits
// 2-3, 1 model, 2 client state, 3 checkpoint); bit 4 recomputes the
// trailing checksum of the file's format version first, so that mutations
// reach the fields behind it; bit 5 picks the fedadam checkpoint. Besides
// "no crash, no sanitizer report" it aborts when an accepted file breaks
// what its reader promises (tensor views inside the buffer, consistent
// shapes) or when a refusal names neither the file nor the cause.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/util/tensorfile.h"
#include "fuzz-tmp.h"
#include "round.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-tensorfile: invariant broken: %s\n",
				what);
		abort();
	}
}

static struct agg_fed feds[2];

static void
setup_fed(struct agg_fed *fed, int opt)
{
	memset(fed, 0, sizeof(*fed));
	if (fb_model_init(&fed->model, 4, 3, 2, 2) != FB_OK ||
			agg_opt_init(&fed->opt, opt, 1.0, 0.9, 0.99, 1e-3,
					&fed->model) != FB_OK) {
		abort();
	}
	fed->n_clients = 2;
	fed->clients = calloc(2, sizeof(*fed->clients));
	if (fed->clients == NULL) {
		abort();
	}
}

static void
reset_clients(struct agg_fed *fed)
{
	for (uint32_t c = 0; c < fed->n_clients; c++) {
		memset(&fed->clients[c], 0, sizeof(fed->clients[c]));
		snprintf(fed->clients[c].name, sizeof(fed->clients[c].name),
				"retailer-%u", c);
	}
}

static void
check_raw(const uint8_t *data, size_t size, enum fb_tfile_kind kind)
{
	char *buf = malloc(size > 0 ? size : 1);
	require(buf != NULL, "allocation");
	memcpy(buf, data, size);
	struct fb_tfile *f = NULL;
	fb_err err = fb_tfile_parse(&f, "fuzz.fbt", buf, size, kind);
	if (err != FB_OK) {
		require(strstr(fb_last_error(err), "fuzz.fbt") != NULL,
				"refusal names the file");
		return;
	}
	static const char *const names[] = {"V", "W", "M", "P", "adam.m.V"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		struct fb_tensor_view v;
		if (fb_tfile_get(f, names[k], &v) == FB_OK) {
			require(v.rows == 0 || v.cols == 0 ||
							v.rows * v.cols * 4 <=
									size,
					"tensor fits the file");
			if (v.rows * v.cols > 0) {
				volatile float x = v.data[v.rows * v.cols - 1];
				(void)x; // ASan: the view is inside the file
			}
		}
	}
	require(strlen(fb_tfile_meta(f)) <= size, "metadata fits");
	fb_tfile_destroy(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20)) {
		return 0;
	}
	uint8_t sel = data[0];
	size_t len = size - 1;
	uint8_t *img = malloc(len > 0 ? len : 1);
	require(img != NULL, "allocation");
	memcpy(img, data + 1, len);
	uint32_t version = 0;
	for (int k = 3; len >= 12 && k >= 0; k--) {
		version = version << 8 | img[8 + k];
	}
	size_t sum_len = fb_tfile_sum_len(version);
	if ((sel & 16) != 0 && sum_len > 0 && len >= sum_len) {
		fb_tfile_sum(version, img, len - sum_len, img + len - sum_len);
	}
	switch (sel & 3) {
	case 0:
		check_raw(img, len, (enum fb_tfile_kind)(1 + (sel >> 2) % 3));
		break;
	case 1: {
		const char *path = fuzz_tmp_write("fbm", img, len, 0600);
		struct fb_model m = {0};
		struct fb_matrix P = {0};
		struct fb_model_meta meta;
		if (path != NULL &&
				fb_modelio_load(path, &m, (sel & 4) ? &P : NULL,
						&meta) == FB_OK) {
			require(m.V.cols == m.dim && m.W.cols == m.dim &&
							m.M.cols == m.dim,
					"model shapes agree");
			require((sel & 4) == 0 || P.cols == m.dim,
					"user factors of the model's d");
			fb_model_finish(&m);
			fb_matrix_finish(&P);
		}
		break;
	}
	case 2: {
		const char *path = fuzz_tmp_write("state", img, len, 0600);
		struct node_state st;
		bool found = false;
		if (path != NULL &&
				node_state_load(&st, path, &found) == FB_OK) {
			require(found, "a state was found");
			require(st.global.dim == 0 || st.P.rows == 0 ||
							st.P.cols == st.global.dim,
					"state shapes agree");
			node_state_finish(&st);
		}
		break;
	}
	default: {
		if (feds[0].clients == NULL) {
			setup_fed(&feds[0], AGG_OPT_FEDAVG);
			setup_fed(&feds[1], AGG_OPT_FEDADAM);
		}
		struct agg_fed *fed = &feds[(sel >> 5) & 1];
		reset_clients(fed);
		const char *path = fuzz_tmp_write("fbc", img, len, 0600);
		if (path == NULL) {
			break;
		}
		snprintf(fed->ckpt_path, sizeof(fed->ckpt_path), "%s", path);
		bool found = false;
		struct agg_ledger_anchor anchor;
		if (agg_checkpoint_load(fed, &found, &anchor) == FB_OK) {
			require(found, "a checkpoint was found");
			require(fed->model.V.rows == 4 && fed->model.dim == 2,
					"the model kept its shape");
		}
		break;
	}
	}
	free(img);
	return 0;
}
