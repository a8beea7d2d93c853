#ifndef API_H
#define API_H

#include "http.h"
#include "store.h"

/* The routing table of the REST API (DESIGN.md), terminated by a NULL method. */
extern const struct route api_routes[];

/* Handlers, one file per group: api_studies.c, api_trials.c, api_notes.c,
 * api_charts.c (CSV and contour), api_importance.c, api_misc.c. */
enum http_result api_study_create(struct req *r);
enum http_result api_study_list(struct req *r);
enum http_result api_study_get(struct req *r);
enum http_result api_study_patch(struct req *r);
enum http_result api_study_delete(struct req *r);
enum http_result api_study_trials(struct req *r);
enum http_result api_study_best(struct req *r);
enum http_result api_study_pareto(struct req *r);
enum http_result api_study_export(struct req *r);
enum http_result api_study_import(struct req *r);
enum http_result api_study_enqueue(struct req *r);
enum http_result api_study_suggest(struct req *r);
enum http_result api_study_llm_calls(struct req *r);
enum http_result api_study_importance(struct req *r);
enum http_result api_study_note(struct req *r);
enum http_result api_trial_note(struct req *r);
enum http_result api_study_trials_csv(struct req *r);
enum http_result api_study_contour(struct req *r);
enum http_result api_trial_get(struct req *r);
enum http_result api_trial_heartbeat(struct req *r);
enum http_result api_trial_report(struct req *r);
enum http_result api_trial_complete(struct req *r);
enum http_result api_healthz(struct req *r);
enum http_result api_metrics(struct req *r);
enum http_result api_version(struct req *r);
enum http_result api_openapi(struct req *r);

/* The filters and order of a list of trials (?state=&source=&order=), as
 * GET .../trials and .../trials.csv read them. */
struct trial_filter {
    const enum trial_state *state; /* &state_value, or NULL for every state */
    enum trial_state state_value;  /* the state asked for */
    const char *source;            /* borrowed from the request, NULL for every source */
    enum store_order order;        /* asc, desc, value, value_desc */
    bool pareto;                   /* pareto=true: only the trials of the Pareto front */
};
/* Read them from r's query; false after a 400 reply. */
bool api_trial_filter(struct req *r, struct trial_filter *f);

/* Reply with e (from the store) as an error: HTTP_DONE, or HTTP_OFFLOAD
 * without a reply when the database was busy and the request may go to an
 * offload thread to wait for it (the handler then runs again there). */
struct serr;
enum http_result api_fail(struct req *r, const struct serr *e);
/* The connection's per-thread database, or a 503 reply and NULL. On the HTTP
 * thread (when the request could be offloaded) it is impatient: a write
 * finding the write lock held fails at once as busy (db_set_patience). */
struct db *api_db(struct req *r);
/* The connection's database with the study named by the path's first
 * argument loaded into *st (release it with store_study_release), or NULL
 * after an error reply (404, 503) with *st released. */
struct study;
struct db *api_study_db(struct req *r, struct study *st);

#endif
