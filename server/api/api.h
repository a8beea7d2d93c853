#ifndef API_H
#define API_H

#include "http.h"

/* The routing table of the REST API (DESIGN.md), terminated by a NULL method. */
extern const struct route api_routes[];

/* Handlers, one file per group: api_studies.c, api_trials.c, api_misc.c. */
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
enum http_result api_trial_get(struct req *r);
enum http_result api_trial_heartbeat(struct req *r);
enum http_result api_trial_report(struct req *r);
enum http_result api_trial_complete(struct req *r);
enum http_result api_healthz(struct req *r);
enum http_result api_metrics(struct req *r);
enum http_result api_version(struct req *r);
enum http_result api_openapi(struct req *r);

/* Reply with e (from the store) as an error. Always HTTP_DONE. */
struct serr;
enum http_result api_fail(struct req *r, const struct serr *e);
/* The connection's per-thread database, or a 503 reply and NULL. */
struct db *api_db(struct req *r);

#endif
