#include <config.h>
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "stats.h"
#include "store.h"
#include "sources.h"

enum http_result api_healthz(struct req *r)
{
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    if (stats_ping(db) < 0) {
        http_reply_error(r, 503, "storage_unavailable", "database not answering: %s",
                         db_errmsg(db));
        return HTTP_DONE;
    }
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
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct stats st;
    if (stats_read(db, &st) < 0) {
        struct serr e;
        serr_db(&e, db, "metrics");
        return api_fail(r, &e);
    }
    struct buf out;
    buf_init(&out);
    metrics_render(&out);
    buf_printf(&out,
               "# HELP hpod_longpoll_waiting Suggests waiting (parked) for a trial now.\n"
               "# TYPE hpod_longpoll_waiting gauge\nhpod_longpoll_waiting %zu\n"
               "# HELP hpod_connections_open HTTP connections open now.\n"
               "# TYPE hpod_connections_open gauge\nhpod_connections_open %zu\n",
               http_waiting(), http_connections());
    buf_puts(&out, "# HELP hpod_trials Trials by study and state.\n# TYPE hpod_trials gauge\n");
    for (size_t i = 0; i < st.n_trials; i++)
        buf_printf(&out, "hpod_trials{study=\"%s\",state=\"%s\"} %lld\n", st.trials[i].study,
                   st.trials[i].state, st.trials[i].n);
    buf_puts(&out, "# HELP hpod_llm_tokens_total LLM tokens used by study and direction (in: "
                   "prompts, out: replies).\n"
                   "# TYPE hpod_llm_tokens_total counter\n");
    for (size_t i = 0; i < st.n_tokens; i++) {
        buf_printf(&out, "hpod_llm_tokens_total{study=\"%s\",direction=\"in\"} %lld\n",
                   st.tokens[i].study, st.tokens[i].in);
        buf_printf(&out, "hpod_llm_tokens_total{study=\"%s\",direction=\"out\"} %lld\n",
                   st.tokens[i].study, st.tokens[i].out);
    }
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
    stats_release(&st);
    http_reply_bytes(r, 200, "text/plain; version=0.0.4", out.data, out.len, NULL);
    buf_release(&out);
    return HTTP_DONE;
}
