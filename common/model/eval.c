// common/model/eval.c: blocked all-ranking evaluation. Users with positives are
// gathered into blocks of BLOCK rows, scored against all bundles with one
// sgemm per block into a reused buffer, and ranked per row. Per-user metrics
// land in a per-user array that is summed in user order at the end, so the
// result is identical for any thread count.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fedbundle/model/eval.h"
#include "fedbundle/util/clock.h"

#define BLOCK 128

struct eval_job {
	const struct fb_matrix *user_reps;
	const struct fb_matrix *bundle_reps;
	const struct fb_csr *mask;
	const struct fb_csr *truth;
	const uint32_t *users; // users with positives
	uint32_t n_users;
	const float *fixed_scores; // popularity: one row for everybody
	struct fb_metrics proto;   // cut-offs, zeroed
	uint32_t max_k;
	struct fb_metrics *per_user;
	int n_threads;
	int thread;
	fb_err err;
};

static void *
eval_worker(void *arg)
{
	struct eval_job *job = arg;
	size_t n_b = job->bundle_reps != NULL ? job->bundle_reps->rows
					      : job->truth->n_cols;
	size_t d = job->user_reps != NULL ? job->user_reps->cols : 0;
	float *scores = NULL;
	struct fb_matrix block = {0};
	uint32_t *top = malloc(job->max_k * sizeof(*top));
	if (job->fixed_scores == NULL) {
		scores = malloc((size_t)BLOCK * n_b * sizeof(*scores));
		if (fb_matrix_init(&block, BLOCK, d) != FB_OK) {
			job->err = FB_ENOMEM;
			goto out;
		}
	}
	if (top == NULL || (job->fixed_scores == NULL && scores == NULL)) {
		job->err = FB_ENOMEM;
		goto out;
	}
	uint32_t n_blocks = (job->n_users + BLOCK - 1) / BLOCK;
	for (uint32_t blk = (uint32_t)job->thread; blk < n_blocks;
			blk += (uint32_t)job->n_threads) {
		uint32_t first = blk * BLOCK;
		uint32_t count = job->n_users - first < BLOCK
				? job->n_users - first
				: BLOCK;
		if (job->fixed_scores == NULL) {
			for (uint32_t r = 0; r < count; r++) {
				memcpy(fb_matrix_row(&block, r),
						fb_matrix_row(job->user_reps,
								job->users[first +
										r]),
						d * sizeof(float));
			}
			fb_model_score_block(&block, 0, count, job->bundle_reps,
					scores);
		}
		for (uint32_t r = 0; r < count; r++) {
			uint32_t u = job->users[first + r];
			const float *row = job->fixed_scores != NULL
					? job->fixed_scores
					: scores + (size_t)r * n_b;
			const uint32_t *ex = NULL;
			uint32_t n_ex = 0;
			if (job->mask != NULL && u < job->mask->n_rows) {
				ex = fb_csr_row(job->mask, u);
				n_ex = fb_csr_row_len(job->mask, u);
			}
			uint32_t n_top = fb_topk(row, (uint32_t)n_b, ex, n_ex,
					job->max_k, top);
			struct fb_metrics *m = &job->per_user[first + r];
			*m = job->proto;
			fb_metrics_user(m, top, n_top,
					fb_csr_row(job->truth, u),
					fb_csr_row_len(job->truth, u));
		}
	}
out:
	free(scores);
	free(top);
	fb_matrix_finish(&block);
	return NULL;
}

// per_user_out (may be NULL) receives the per-user metrics, in user
// order, for the caller to free.
static fb_err
run_eval(struct eval_job *proto_job, int threads, struct fb_eval_result *out,
		struct fb_metrics **per_user_out)
{
	double t0 = fb_clock_s();
	const struct fb_csr *truth = proto_job->truth;
	uint32_t *users = malloc(((size_t)truth->n_rows + 1) * sizeof(*users));
	if (users == NULL) {
		return FB_ENOMEM;
	}
	uint32_t n = 0;
	for (uint32_t u = 0; u < truth->n_rows; u++) {
		if (fb_csr_row_len(truth, u) > 0) {
			users[n++] = u;
		}
	}
	struct fb_metrics *per_user = calloc(n > 0 ? n : 1, sizeof(*per_user));
	if (per_user == NULL) {
		free(users);
		return FB_ENOMEM;
	}
	if (threads < 1) {
		threads = 1;
	}
	if (threads > 64) {
		threads = 64;
	}
	struct eval_job jobs[64];
	pthread_t tids[64];
	uint32_t max_k = 0;
	for (uint32_t j = 0; j < proto_job->proto.n_k; j++) {
		if (proto_job->proto.k[j] > max_k) {
			max_k = proto_job->proto.k[j];
		}
	}
	for (int t = 0; t < threads; t++) {
		jobs[t] = *proto_job;
		jobs[t].users = users;
		jobs[t].n_users = n;
		jobs[t].per_user = per_user;
		jobs[t].max_k = max_k;
		jobs[t].n_threads = threads;
		jobs[t].thread = t;
		jobs[t].err = FB_OK;
	}
	int started = 0;
	for (int t = 1; t < threads; t++) {
		if (pthread_create(&tids[t], NULL, eval_worker, &jobs[t]) !=
				0) {
			break;
		}
		started = t;
	}
	// If some threads failed to start, this thread covers their blocks.
	jobs[0].n_threads = threads;
	eval_worker(&jobs[0]);
	for (int t = started + 1; t < threads; t++) {
		jobs[t].thread = t;
		eval_worker(&jobs[t]);
	}
	fb_err err = jobs[0].err;
	for (int t = 1; t <= started; t++) {
		pthread_join(tids[t], NULL);
	}
	for (int t = 1; t < threads; t++) {
		if (jobs[t].err != FB_OK) {
			err = jobs[t].err;
		}
	}
	if (err == FB_OK) {
		memset(out, 0, sizeof(*out));
		out->sum = proto_job->proto;
		for (uint32_t k = 0; k < n; k++) {
			fb_metrics_add(&out->sum, &per_user[k]);
		}
		out->mean = out->sum;
		if (n > 0) {
			fb_metrics_scale(&out->mean, 1.0 / n);
		}
		out->n_users = n;
		out->seconds = fb_clock_s() - t0;
		if (per_user_out != NULL) {
			*per_user_out = per_user;
			per_user = NULL;
		}
	}
	free(per_user);
	free(users);
	return err;
}

fb_err
fb_eval_ranking(const struct fb_matrix *user_reps,
		const struct fb_matrix *bundle_reps, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out)
{
	return fb_eval_ranking_users(user_reps, bundle_reps, mask, truth, ks,
			n_k, threads, out, NULL);
}

fb_err
fb_eval_ranking_users(const struct fb_matrix *user_reps,
		const struct fb_matrix *bundle_reps, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		int threads, struct fb_eval_result *out,
		struct fb_metrics **per_user)
{
	struct eval_job job = {0};
	fb_err err = fb_metrics_init(&job.proto, ks, n_k);
	if (err != FB_OK) {
		return err;
	}
	if (user_reps->cols != bundle_reps->cols ||
			truth->n_rows > user_reps->rows ||
			truth->n_cols != bundle_reps->rows ||
			(mask != NULL && mask->n_cols != truth->n_cols)) {
		return fb_errorf(FB_EINVAL,
				"evaluation: %zu users x %zu dims against %zu "
				"bundles x %zu dims, split %u x %u",
				user_reps->rows, user_reps->cols,
				bundle_reps->rows, bundle_reps->cols,
				truth->n_rows, truth->n_cols);
	}
	job.user_reps = user_reps;
	job.bundle_reps = bundle_reps;
	job.mask = mask;
	job.truth = truth;
	return run_eval(&job, threads, out, per_user);
}

fb_err
fb_eval_fixed(const float *scores, const struct fb_csr *mask,
		const struct fb_csr *truth, const uint32_t *ks, uint32_t n_k,
		struct fb_eval_result *out)
{
	struct eval_job job = {0};
	fb_err err = fb_metrics_init(&job.proto, ks, n_k);
	if (err != FB_OK) {
		return err;
	}
	if (mask != NULL && mask->n_cols != truth->n_cols) {
		return fb_errorf(FB_EINVAL,
				"fixed ranking: mask of %u vs %u "
				"bundles",
				mask->n_cols, truth->n_cols);
	}
	job.mask = mask;
	job.truth = truth;
	job.fixed_scores = scores;
	return run_eval(&job, 1, out, NULL);
}

fb_err
fb_eval_popularity(const struct fb_csr *train, const struct fb_csr *truth,
		const uint32_t *ks, uint32_t n_k, struct fb_eval_result *out)
{
	if (train->n_cols != truth->n_cols) {
		return fb_errorf(FB_EINVAL, "popularity: %u vs %u bundles",
				train->n_cols, truth->n_cols);
	}
	float *pop = calloc(
			train->n_cols > 0 ? train->n_cols : 1, sizeof(*pop));
	if (pop == NULL) {
		return FB_ENOMEM;
	}
	uint64_t nnz = fb_csr_nnz(train);
	for (uint64_t k = 0; k < nnz; k++) {
		pop[train->col[k]] += 1.0f;
	}
	fb_err err = fb_eval_fixed(pop, train, truth, ks, n_k, out);
	free(pop);
	return err;
}
