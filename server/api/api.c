#include <config.h>
#include "api.h"

#include "db.h"
#include "metrics.h"
#include "store.h"

const struct route api_routes[] = {
    {"POST", "/api/v1/studies", ROLE_ADMIN, api_study_create, "study_create"},
    {"POST", "/api/v1/studies/import", ROLE_ADMIN, api_study_import, "study_import"},
    {"GET", "/api/v1/studies", ROLE_READ, api_study_list, "study_list"},
    {"GET", "/api/v1/studies/{}", ROLE_READ, api_study_get, "study_get"},
    {"PATCH", "/api/v1/studies/{}", ROLE_ADMIN, api_study_patch, "study_patch"},
    {"DELETE", "/api/v1/studies/{}", ROLE_ADMIN, api_study_delete, "study_delete"},
    {"GET", "/api/v1/studies/{}/trials", ROLE_READ, api_study_trials, "study_trials"},
    {"GET", "/api/v1/studies/{}/trials.csv", ROLE_READ, api_study_trials_csv, "study_trials_csv"},
    {"PUT", "/api/v1/studies/{}/note", ROLE_WORKER, api_study_note, "study_note"},
    {"PUT", "/api/v1/studies/{}/trials/{}/note", ROLE_WORKER, api_trial_note, "trial_note"},
    {"GET", "/api/v1/studies/{}/contour", ROLE_READ, api_study_contour, "study_contour"},
    {"POST", "/api/v1/studies/{}/trials", ROLE_WORKER, api_study_enqueue, "study_enqueue"},
    {"GET", "/api/v1/studies/{}/best", ROLE_READ, api_study_best, "study_best"},
    {"GET", "/api/v1/studies/{}/pareto", ROLE_READ, api_study_pareto, "study_pareto"},
    {"GET", "/api/v1/studies/{}/export", ROLE_READ, api_study_export, "study_export"},
    {"GET", "/api/v1/studies/{}/importance", ROLE_READ, api_study_importance, "study_importance"},
    {"POST", "/api/v1/studies/{}/suggest", ROLE_WORKER, api_study_suggest, "suggest"},
    {"GET", "/api/v1/studies/{}/llm-calls", ROLE_READ, api_study_llm_calls, "llm_calls"},
    {"GET", "/api/v1/trials/{}", ROLE_READ, api_trial_get, "trial_get"},
    {"POST", "/api/v1/trials/{}/heartbeat", ROLE_WORKER, api_trial_heartbeat, "heartbeat"},
    {"POST", "/api/v1/trials/{}/report", ROLE_WORKER, api_trial_report, "report"},
    {"POST", "/api/v1/trials/{}/complete", ROLE_WORKER, api_trial_complete, "complete"},
    {"GET", "/api/v1/version", ROLE_NONE, api_version, "version"},
    {"GET", "/api/v1/openapi.json", ROLE_NONE, api_openapi, "openapi"},
    {"GET", "/healthz", ROLE_NONE, api_healthz, "healthz"},
    {"GET", "/metrics", ROLE_READ, api_metrics, "metrics"},
    {NULL, NULL, ROLE_NONE, NULL, NULL},
};

/* How long a request on the HTTP thread waits for this process's write lock
 * before it goes to an offload thread, which may wait the busy timeout. */
#define HTTP_THREAD_PATIENCE_MS 20

enum http_result api_fail(struct req *r, const struct serr *e)
{
    if (e->busy && http_can_offload(r)) {
        /* The write lock is held (by another process, or a writer of ours
         * that waits for one): wait for it on an offload thread, so that the
         * HTTP thread goes on answering everything else. The handler runs
         * again from the start there; it committed nothing. */
        metrics_count("busy_offloaded", 1);
        return HTTP_OFFLOAD;
    }
    if (e->retry_after_s >= 0)
        http_set_retry_after(r, e->retry_after_s);
    http_reply_error(r, e->status, e->code, "%s", e->msg);
    return HTTP_DONE;
}

struct db *api_study_db(struct req *r, struct study *st)
{
    struct db *db = api_db(r);
    if (!db)
        return NULL;
    struct serr e;
    if (store_study_load(db, r->args[0], st, &e) < 0) {
        store_study_release(st);
        api_fail(r, &e);
        return NULL;
    }
    return db;
}

struct db *api_db(struct req *r)
{
    struct db *db = db_thread();
    if (!db) {
        http_set_retry_after(r, 5);
        http_reply_error(r, 503, "storage_unavailable", "the database cannot be opened");
        return NULL;
    }
    /* on the HTTP thread a busy write gives up at once (api_fail) */
    db_set_patience(db, http_can_offload(r) ? HTTP_THREAD_PATIENCE_MS : -1);
    return db;
}
