#ifndef RENDER_H
#define RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "front.h"
#include "store.h"

/* The JSON of studies and trials, as the API answers them (DESIGN.md, "REST
 * API"): built here from the store's structs, so that the store knows no JSON
 * layout and every answer shows a trial the same way. Each function returns a
 * new reference and borrows its argument. */

/* A trial: id, number, state, params, value, values, source, worker, attempts,
 * times, error, last_step, last_value, lease_expires_at (the later of the
 * database's and the heartbeats' in memory), sandbox; for a study of several
 * objectives or with constraints also objectives (in the spec's order, null
 * before it finishes with one) and feasible (null unless completed under
 * constraints). */
json_t *render_trial(const struct trial *t);
/* A trial with its study's name, reports and attempts (GET /trials/{id}). */
json_t *render_trial_detail(const struct trial_detail *d);
/* A trial as suggest hands it to a worker: the trial with heartbeat_s and its
 * study's name. */
json_t *render_lease(const struct trial *t, const struct study *st);
/* A study's summary; full adds the best trial and the spec. */
json_t *render_study(const struct study_info *s, bool full);
/* {"studies": [...]} */
json_t *render_study_list(const struct study_list *l);
/* A study's Pareto set (GET /studies/{name}/pareto): study, objectives,
 * reference_point, reference_source, hypervolume, pareto (true), trials,
 * n_completed, n_feasible, and hypervolume_history when f has it. */
json_t *render_front(const struct front *f);
/* Add a study's hypervolume, reference_point, reference_source and
 * pareto_size from f to study (borrowed, changed). */
void render_front_summary(json_t *study, const struct front *f);
/* {"trials": [...], "next_after": n|null, "total": n} */
json_t *render_trial_page(const struct trial_page *p);

#endif
