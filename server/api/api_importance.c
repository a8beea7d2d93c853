#include <config.h>
#include "api.h"

#include "importances.h"
#include "render.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "wake.h"

/* How long a request waits for importances being computed, unless it says
 * (wait_s): enough for a study of thousands of trials. */
#define IMPORTANCE_WAIT_S 5

/* GET /studies/{name}/importance?method=fanova|gp&wait_s=N. A report for the
 * study's current number of completed trials answers 200 at once; otherwise
 * the worker computes it while the request waits (suspended, never computing
 * on the HTTP thread) up to wait_s seconds, then 200, or 202 with
 * {"state": "computing"} and Retry-After: ask again. */
enum http_result api_study_importance(struct req *r)
{
    const char *method = http_query(r, "method");
    enum imp_method m = IMP_FANOVA;
    if (method && *method && importances_method_parse(method, &m) < 0) {
        http_reply_error(r, 400, "bad_query", "method: must be fanova or gp (got \"%.40s\")",
                         method);
        return HTTP_DONE;
    }
    long long wait_s = http_query_int(r, "wait_s", IMPORTANCE_WAIT_S, cfg.max_wait_s);
    if (http_replied(r))
        return HTTP_DONE;
    int64_t now = time_mono_ms();
    if (r->deadline_ms == 0 && wait_s > 0)
        r->deadline_ms = now + wait_s * 1000;
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    /* before asking, so that a report finished in between is not missed */
    http_wait_on(r, wake_key_importance(st.id));
    struct imp_report rep;
    long long n = 0;
    int rc = importances_get(db, &st, m, &rep, &n, &e);
    store_study_release(&st);
    if (rc < 0)
        return api_fail(r, &e);
    if (rc == 1) {
        http_reply_json(r, 200, render_importance(&rep));
        imp_report_release(&rep);
        return HTTP_DONE;
    }
    if (r->deadline_ms > now && !http_draining())
        return HTTP_SUSPEND;
    http_set_retry_after(r, 1);
    http_reply_json(r, 202, render_importance_computing(r->args[0], m, n));
    return HTTP_DONE;
}
