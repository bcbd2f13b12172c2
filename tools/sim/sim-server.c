// tools/sim/sim-server.c: the aggregator of a run: the library of server/
// run by agg_serve_loop() on its own thread, and its observer (round.h),
// which tells the driver, under struct sim_sync's mutex, when a round is
// planned (its participants), when it closed (a copy of the committed
// model, the round's statistics) and when training is over.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/privacy/dp.h"
#include "fedbundle/util/clock.h"
#include "server/sessions.h"
#include "sim-internal.h"

static void
observe(void *ctx, const struct agg_fed *fed, enum agg_event ev)
{
	struct sim_sync *s = ctx;
	pthread_mutex_lock(&s->mu);
	if (ev == AGG_EV_PLANNED) {
		s->planned = fed->round;
		s->planned_s = fb_clock_s();
		for (uint32_t c = 0; c < s->n_clients; c++) {
			s->participant[c] = fed->clients[c].participant;
		}
	} else if (ev == AGG_EV_CLOSED) {
		struct sim_round_rec *r = &s->rec;
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
		r->close_s = fb_clock_s();
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
	struct sim_sync *s = ctx;
	return atomic_load(&s->stop) ? s->stop_reason : NULL;
}

fb_err
sim_sync_init(struct sim_sync *s, uint32_t n_clients)
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

void
sim_sync_finish(struct sim_sync *s)
{
	free(s->participant);
	free(s->rec.client_eps);
	free(s->rec.client_status);
	fb_model_finish(&s->model);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

static void *
server_main(void *arg)
{
	struct sim_server *sv = arg;
	agg_serve_loop(&sv->srv, sv->listener, stop_requested, sv->sync);
	pthread_mutex_lock(&sv->sync->mu);
	sv->sync->server_ended = true;
	pthread_cond_broadcast(&sv->sync->cv);
	pthread_mutex_unlock(&sv->sync->mu);
	return NULL;
}

// Sets up the aggregator of cfg (its url set) and starts its thread
// (spawn) or leaves it to the caller's thread.
fb_err
sim_server_open(struct sim_server *sv, const struct fb_dataset *catalogue,
		const struct fb_identity *id, const struct fb_roster *roster,
		struct sim_sync *sync, const char *metrics_path)
{
	fb_err err = agg_fed_init(
			&sv->fed, &sv->cfg, catalogue, roster, fb_clock_ms());
	if (err != FB_OK) {
		return err;
	}
	sv->fed_ok = true;
	if (sv->cfg.round.secure_aggregation) {
		err = agg_fed_set_consortium(&sv->fed,
				fb_identity_public_key(id), sv->cfg.roster);
		if (err != FB_OK) {
			return err;
		}
	}
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
	sv->fed.idle_since_ms = fb_clock_ms();
	return FB_OK;
}

fb_err
sim_server_start(struct sim_server *sv)
{
	if (pthread_create(&sv->thread, NULL, server_main, sv) != 0) {
		return fb_errorf(FB_ENOMEM,
				"cannot start the aggregator thread");
	}
	sv->running = true;
	return FB_OK;
}

// Stops the aggregator's thread (if running) and frees it.
void
sim_server_close(struct sim_server *sv, const char *why)
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
