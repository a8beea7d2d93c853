#include <config.h>
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "store.h"
#include "sources.h"

enum http_result api_healthz(struct req *r)
{
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    sqlite3_stmt *q = db_stmt(db, "SELECT 1");
    if (!q || sqlite3_step(q) != SQLITE_ROW) {
        if (q)
            sqlite3_reset(q);
        http_reply_error(r, 503, "storage_unavailable", "database not answering: %s",
                         db_errmsg(db));
        return HTTP_DONE;
    }
    sqlite3_reset(q);
    http_reply_json(r, 200, json_pack("{ss}", "status", "ok"));
    return HTTP_DONE;
}

enum http_result api_version(struct req *r)
{
    http_reply_json(r, 200, json_pack("{ss ss}", "name", PACKAGE_NAME, "version", PACKAGE_VERSION));
    return HTTP_DONE;
}

enum http_result api_openapi(struct req *r)
{
    http_reply_bytes(r, 200, "application/json", openapi_json, strlen(openapi_json), NULL);
    return HTTP_DONE;
}

enum http_result api_metrics(struct req *r)
{
    struct buf out;
    buf_init(&out);
    metrics_render(&out);
    struct db *db = api_db(r);
    if (!db) {
        buf_release(&out);
        return HTTP_DONE;
    }
    sqlite3_stmt *q = db_stmt(db, "SELECT s.name, t.state, COUNT(*) FROM trials t JOIN studies s "
                                  "ON s.id = t.study_id GROUP BY s.id, t.state");
    buf_puts(&out, "# HELP hpod_trials Trials by study and state.\n# TYPE hpod_trials gauge\n");
    while (q && sqlite3_step(q) == SQLITE_ROW)
        buf_printf(&out, "hpod_trials{study=\"%s\",state=\"%s\"} %lld\n",
                   (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
                   (long long)sqlite3_column_int64(q, 2));
    if (q)
        sqlite3_reset(q);
    sqlite3_stmt *t = db_stmt(db, "SELECT name, tokens_in, tokens_out, cost_usd FROM studies");
    buf_puts(&out, "# HELP hpod_llm_tokens_total LLM tokens used by study and direction (in: "
                   "prompts, out: replies).\n"
                   "# TYPE hpod_llm_tokens_total counter\n");
    while (t && sqlite3_step(t) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(t, 0);
        buf_printf(&out, "hpod_llm_tokens_total{study=\"%s\",direction=\"in\"} %lld\n", n,
                   (long long)sqlite3_column_int64(t, 1));
        buf_printf(&out, "hpod_llm_tokens_total{study=\"%s\",direction=\"out\"} %lld\n", n,
                   (long long)sqlite3_column_int64(t, 2));
    }
    if (t)
        sqlite3_reset(t);
    struct source_counts *sc = NULL;
    size_t n = 0;
    struct serr e;
    if (store_sources_count(db, NULL, &sc, &n, &e) < 0)
        log_warn("metrics: %s", e.msg);
    buf_puts(&out, "# HELP hpod_study_trials_by_source Trials of a study by where they came from: "
                   "llm, llm+gp (LLM candidates ranked by the GP), fallback (the classical "
                   "sampler serving for the LLM), classical, manual.\n"
                   "# TYPE hpod_study_trials_by_source gauge\n");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < SOURCE_CLASSES; c++)
            buf_printf(&out, "hpod_study_trials_by_source{study=\"%s\",source=\"%s\"} %lld\n",
                       sc[i].study, source_class_name(c), sc[i].n[c]);
    free(sc);
    http_reply_bytes(r, 200, "text/plain; version=0.0.4", out.data, out.len, NULL);
    buf_release(&out);
    return HTTP_DONE;
}
