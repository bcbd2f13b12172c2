// tests/fuzz/make-seeds.c: writes the seed corpora of fuzz-tensorfile,
// fuzz-ledger, fuzz-identity and fuzz-pending with the real writers
// (modelio, client state, aggregator checkpoints without and with the
// rounds' representation options, ledger appends, key generation, the
// client's pending-update copy), so the
// seeds are exactly what fedbundle writes. Seeds are committed; run this
// only to regenerate them (deterministic keys from fixed seeds):
//   build/tests/fuzz/make-seeds tests/fuzz/corpus
// Every seed starts with the target's selector byte (see each target).
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fedbundle/model/modelio.h"
#include "fedbundle/net/identity.h"
#include "fedbundle/privacy/ledger.h"
#include "fedbundle/util/fsutil.h"
#include "pending.h"
#include "round.h"
#include "state.h"

static const char *root;

static void
die(const char *what)
{
	fprintf(stderr, "make-seeds: %s: %s\n", what, fb_last_error(FB_EIO));
	exit(1);
}

// Writes sel followed by the bytes of file src into corpus/target/name.
static void
seed_from(const char *target, const char *name, uint8_t sel, const char *src)
{
	char *buf = NULL;
	size_t len = 0;
	if (fb_read_file(src, 1 << 24, &buf, &len) != FB_OK) {
		die(src);
	}
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (fb_mkdir_p(path) != FB_OK) {
		die(path);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fputc(sel, fp) == EOF ||
			fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
		die(path);
	}
	free(buf);
}

static void
fill(struct fb_matrix *m, float base)
{
	for (size_t k = 0; k < m->rows * m->cols; k++) {
		m->data[k] = base + 0.125f * (float)k;
	}
}

// A checkpoint as the aggregator writes it now: with a configuration, so
// the metadata records the rounds' representation options (item_view,
// use_attrs, user_item_view, bias); its catalogue is all zero like the
// fuzz target's, so the checkpoint reader accepts it. Read as a
// checkpoint (fedavg), with its checksum recomputed, and by the model
// reader (`fedbundle eval` takes the options from there).
static void
seed_checkpoint_opts(const char *tmp, const struct fb_model *m)
{
	static struct agg_config cfg;
	static struct agg_fed fed;
	memset(&cfg, 0, sizeof(cfg));
	memset(&fed, 0, sizeof(fed));
	cfg.round.hp.item_view = true;
	cfg.round.hp.use_attrs = true;
	cfg.round.hp.bias = true;
	snprintf(cfg.checkpoint_dir, sizeof(cfg.checkpoint_dir), "%s", tmp);
	fed.cfg = &cfg;
	fed.model = *m;
	if (agg_opt_init(&fed.opt, AGG_OPT_FEDAVG, 1, 0.9, 0.99, 1e-3, m) !=
			FB_OK) {
		die("opt");
	}
	struct agg_client cl[2];
	memset(cl, 0, sizeof(cl));
	snprintf(cl[0].name, sizeof(cl[0].name), "retailer-0");
	snprintf(cl[1].name, sizeof(cl[1].name), "retailer-1");
	cl[0].reported = true;
	cl[0].epsilon = 2.25;
	cl[0].updates = 6;
	cl[0].last_round = 6;
	cl[1].updates = 5;
	cl[1].last_round = 5;
	fed.clients = cl;
	fed.n_clients = 2;
	fed.last_committed = 6;
	fed.last_planned = 7;
	snprintf(fed.ckpt_path, sizeof(fed.ckpt_path), "%s/checkpoint-opts.fbc",
			tmp);
	if (agg_checkpoint_save(&fed) != FB_OK) {
		die(fed.ckpt_path);
	}
	seed_from("tensorfile", "checkpoint-repopts", 3, fed.ckpt_path);
	seed_from("tensorfile", "checkpoint-repopts-fixsum", 3 | 16,
			fed.ckpt_path);
	seed_from("tensorfile", "checkpoint-repopts-model", 1, fed.ckpt_path);
	agg_opt_finish(&fed.opt);
}

int
main(int argc, char **argv)
{
	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: make-seeds CORPUS_DIR\n");
		return 2;
	}
	root = argv[1];
	char tmp[] = "/tmp/fb-seeds-XXXXXX";
	if (mkdtemp(tmp) == NULL) {
		die("mkdtemp");
	}
	char p[512];
	// ---- tensor files ----
	struct fb_model m = {0};
	if (fb_model_init(&m, 4, 3, 2, 2) != FB_OK) {
		die("model");
	}
	fill(&m.V, 0.5f);
	fill(&m.W, -1.0f);
	fill(&m.M, 2.0f);
	struct fb_matrix P = {0};
	if (fb_matrix_init(&P, 5, 2) != FB_OK) {
		die("P");
	}
	fill(&P, 0.25f);
	struct fb_model_meta meta = {{true, true, true, false}, "toy", 3,
			FB_TFILE_MODEL, true};
	snprintf(p, sizeof(p), "%s/model.fbm", tmp);
	if (fb_modelio_save(p, &m, &P, &meta) != FB_OK) {
		die(p);
	}
	seed_from("tensorfile", "model", 1 | 4, p);
	seed_from("tensorfile", "model-raw", 0 | (0 << 2), p);
	seed_from("tensorfile", "model-fixsum", 1 | 4 | 16, p);
	struct node_state st;
	memset(&st, 0, sizeof(st));
	st.P = P;
	st.global = m;
	st.opts = meta.opts;
	st.last_completed = 7;
	st.rounds_trained = 5;
	fb_hash_buf("fedbundle-ledger-v1", 19, st.ledger_head);
	snprintf(p, sizeof(p), "%s/state.fbc", tmp);
	if (node_state_save(&st, p) != FB_OK) {
		die(p);
	}
	seed_from("tensorfile", "state", 2, p);
	seed_from("tensorfile", "state-raw", 0 | (2 << 2), p);
	seed_from("tensorfile", "state-fixsum", 2 | 16, p);
	for (int opt = 0; opt < 2; opt++) {
		static struct agg_fed fed;
		memset(&fed, 0, sizeof(fed));
		fed.model = m;
		if (agg_opt_init(&fed.opt, opt, 1, 0.9, 0.99, 1e-3, &m) !=
				FB_OK) {
			die("opt");
		}
		if (opt == AGG_OPT_FEDADAM) {
			fill(&fed.opt.m.V, 0.1f);
			fill(&fed.opt.v.W, 0.2f);
			fed.opt.t = 3;
		}
		struct agg_client cl[2];
		memset(cl, 0, sizeof(cl));
		snprintf(cl[0].name, sizeof(cl[0].name), "retailer-0");
		snprintf(cl[1].name, sizeof(cl[1].name), "retailer-1");
		cl[0].reported = true;
		cl[0].epsilon = 1.5;
		cl[0].updates = 3;
		cl[1].exhausted = true;
		fed.clients = cl;
		fed.n_clients = 2;
		fed.last_committed = 3;
		fed.last_planned = 4;
		snprintf(fed.ckpt_path, sizeof(fed.ckpt_path),
				"%s/checkpoint.fbc", tmp);
		if (agg_checkpoint_save(&fed) != FB_OK) {
			die(fed.ckpt_path);
		}
		uint8_t sel = (uint8_t)(3 | (opt == AGG_OPT_FEDADAM ? 32 : 0));
		seed_from("tensorfile",
				opt == AGG_OPT_FEDADAM ? "checkpoint-fedadam"
						       : "checkpoint-fedavg",
				sel, fed.ckpt_path);
		seed_from("tensorfile",
				opt == AGG_OPT_FEDADAM
						? "checkpoint-fedadam-fixsum"
						: "checkpoint-fedavg-fixsum",
				(uint8_t)(sel | 16), fed.ckpt_path);
		agg_opt_finish(&fed.opt);
	}
	seed_checkpoint_opts(tmp, &m);
	// ---- ledger ----
	snprintf(p, sizeof(p), "%s/privacy.ledger", tmp);
	struct fb_ledger *l = NULL;
	if (fb_ledger_open(&l, p, true) != FB_OK) {
		die(p);
	}
	for (int k = 0; k < 3; k++) {
		struct fb_ledger_entry e = {.round = (uint64_t)k + 1,
				.q = 0.25,
				.sigma = 1.1,
				.steps = 2,
				.clip = 1,
				.delta = 1e-5};
		snprintf(e.mode, sizeof(e.mode), "user");
		if (fb_ledger_append(l, &e) != FB_OK) {
			die("append");
		}
	}
	fb_ledger_close(l);
	seed_from("ledger", "three-entries", 0, p);
	FILE *fp = fopen(p, "ab");
	if (fp == NULL || fputs("{\"seq\":4,\"round\":4,\"mo", fp) < 0 ||
			fclose(fp) != 0) {
		die(p);
	}
	seed_from("ledger", "torn-tail", 0, p);
	snprintf(p, sizeof(p), "%s/recipe", tmp);
	static const uint8_t recipe[] = {63, 15, 1, 1, 255, 0, 0, 2, 7, 200, 3,
			3, '{', '"', 's', 'e', 'q', '"', ':', '9', '}', '\n'};
	if (fb_write_file_atomic(p, recipe, sizeof(recipe), 0644) != FB_OK) {
		die(p);
	}
	seed_from("ledger", "recipe-bad-tail", 1, p);
	// ---- identities ----
	uint8_t seed[FB_ID_SEED_LEN];
	struct fb_roster *r = NULL;
	if (fb_roster_create(&r) != FB_OK) {
		die("roster");
	}
	char roster[1024] = "# enrolled retailers\n\n";
	for (int k = 0; k < 2; k++) {
		memset(seed, 0x41 + k, sizeof(seed));
		struct fb_identity *id = NULL;
		char name[32], prefix[600];
		snprintf(name, sizeof(name), "retailer-%d", k);
		snprintf(prefix, sizeof(prefix), "%s/%s", tmp, name);
		if (fb_identity_from_seed(&id, seed, name) != FB_OK ||
				fb_identity_save(id, prefix, true) != FB_OK) {
			die("identity");
		}
		char line[FB_ID_PUB_LINE_MAX];
		if (fb_peer_key_format(fb_identity_public_key(id), name, line,
				    sizeof(line)) != FB_OK) {
			die("format");
		}
		strncat(roster, line, sizeof(roster) - strlen(roster) - 1);
		fb_identity_destroy(id);
		char kp[700];
		snprintf(kp, sizeof(kp), "%s.pub", prefix);
		if (k == 0) {
			seed_from("identity", "pub-line", 0, kp);
			snprintf(kp, sizeof(kp), "%s.key", prefix);
			seed_from("identity", "key-file", 2, kp);
			seed_from("identity", "key-file-open-mode", 3, kp);
		}
	}
	fb_roster_destroy(r);
	snprintf(p, sizeof(p), "%s/roster.txt", tmp);
	if (fb_write_file_atomic(p, roster, strlen(roster), 0644) != FB_OK) {
		die(p);
	}
	seed_from("identity", "roster", 1, p);
	// The client's copy of an unacknowledged UPDATE: 40 bytes, round 3.
	uint8_t upd[40];
	for (size_t k = 0; k < sizeof(upd); k++) {
		upd[k] = (uint8_t)(k * 7);
	}
	struct node_pending_copy pc = {
			.round = 3, .bytes = upd, .len = sizeof(upd)};
	memset(pc.federation, 0xab, sizeof(pc.federation));
	pc.res.steps = 4;
	pc.res.releases = 9;
	pc.res.epsilon = 1.5;
	pc.res.loss = 0.25;
	snprintf(p, sizeof(p), "%s/%s", tmp, NODE_PENDING_FILE);
	if (node_pending_save(p, &pc) != FB_OK) {
		die(p);
	}
	seed_from("pending", "copy", 0, p);
	seed_from("pending", "copy-fixsum", 1, p);
	printf("seeds written under %s (scratch files in %s)\n", root, tmp);
	return 0;
}
