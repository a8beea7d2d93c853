#include <config.h>
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "front.h"
#include "jsonutil.h"
#include "llm_hook.h"
#include "llm_calls.h"
#include "render.h"
#include "settings.h"
#include "spec.h"
#include "store.h"
#include "sources.h"
#include "suggest.h"
#include "timeutil.h"
#include "transfer.h"
#include "wake.h"

enum http_result api_study_create(struct req *r)
{
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    char err[512];
    struct spec *sp = spec_parse(body, err, sizeof err);
    if (!sp) {
        http_reply_error(r, 400, "bad_spec", "%s", err);
        return HTTP_DONE;
    }
    bool llm_sampler = strcmp(sp->sampler, "llm") == 0;
    bool wants_llm = llm_sampler || json_is_integer(json_object_get(sp->llm, "init_trials"));
    const char *provider = sp->llm ? json_str(sp->llm, "provider", "default") : "default";
    if (wants_llm && !llm_hook_has_provider(provider)) {
        http_reply_error(r, 400, "no_llm_provider",
                         "%s but no LLM provider \"%s\" is configured: set "
                         "HPOD_LLM_FORMAT (openai or anthropic), HPOD_LLM_BASE_URL, "
                         "HPOD_LLM_MODEL and HPOD_LLM_API_KEY in hpod's environment, or add a "
                         "[provider %s] section to its config file, then restart hpod",
                         llm_sampler ? "sampler.name is \"llm\"" : "llm.init_trials is set",
                         provider, provider);
        spec_free(sp);
        return HTTP_DONE;
    }
    if (wants_llm &&
        !llm_hook_usable(provider, json_str(sp->llm, "model", NULL), err, sizeof err)) {
        http_reply_error(r, 400, "bad_spec", "%s", err);
        spec_free(sp);
        return HTTP_DONE;
    }
    struct db *db = api_db(r);
    if (!db) {
        spec_free(sp);
        return HTTP_DONE;
    }
    struct serr e;
    struct study_info out;
    bool created;
    int rc = store_study_create(db, body, sp, &out, &created, &e);
    spec_free(sp);
    if (rc < 0)
        return api_fail(r, &e);
    http_reply_json(r, created ? 201 : 200, render_study(&out, true));
    store_study_info_release(&out);
    return HTTP_DONE;
}

enum http_result api_study_list(struct req *r)
{
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct study_list list;
    if (store_study_list(db, &list, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_study_list(&list));
    store_study_list_release(&list);
    return HTTP_DONE;
}

enum http_result api_study_get(struct req *r)
{
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct study_info out;
    if (store_study_get(db, r->args[0], &out, &e) < 0)
        return api_fail(r, &e);
    bool several = out.n_objectives > 1;
    if (several && http_can_offload(r)) {
        store_study_info_release(&out);
        return HTTP_OFFLOAD; /* a hypervolume: not on the HTTP thread */
    }
    struct source_counts *sc;
    size_t n;
    if (store_sources_count(db, r->args[0], &sc, &n, &e) < 0) {
        store_study_info_release(&out);
        return api_fail(r, &e);
    }
    json_t *body = render_study(&out, true);
    store_study_info_release(&out);
    if (several) {
        struct front f;
        if (front_get(db, r->args[0], false, &f, &e) < 0) {
            free(sc);
            json_decref(body);
            return api_fail(r, &e);
        }
        render_front_summary(body, &f);
        front_release(&f);
    }
    json_t *sources = json_object();
    for (int c = 0; c < SOURCE_CLASSES; c++)
        json_object_set_new(sources, source_class_name(c), json_integer(sc[0].n[c]));
    free(sc);
    json_object_set_new(body, "sources", sources);
    http_reply_json(r, 200, body);
    return HTTP_DONE;
}

enum http_result api_study_patch(struct req *r)
{
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "state") != 0) {
            http_reply_error(r, 400, "bad_request", "%s: unknown field (only \"state\" can change)",
                             key);
            return HTTP_DONE;
        }
    }
    const char *state = json_str(body, "state", NULL);
    if (!state) {
        http_reply_error(r, 400, "bad_request",
                         "state: required, one of \"running\", \"paused\", \"finished\"");
        return HTTP_DONE;
    }
    enum study_state want;
    if (study_state_parse(state, &want) < 0) {
        http_reply_error(r, 400, "bad_state",
                         "state: must be \"running\", \"paused\" or \"finished\" (got \"%s\")",
                         state);
        return HTTP_DONE;
    }
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct study_info out;
    if (store_study_set_state(db, r->args[0], want, &out, &e) < 0)
        return api_fail(r, &e);
    /* paused, running, finished: each waiting suggest looks again */
    http_wake(wake_key_suggest(out.id), HTTP_WAKE_ALL);
    http_reply_json(r, 200, render_study(&out, true));
    store_study_info_release(&out);
    return HTTP_DONE;
}

enum http_result api_study_delete(struct req *r)
{
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    long long id = st.id;
    store_study_release(&st);
    if (store_study_delete(db, r->args[0], &e) < 0)
        return api_fail(r, &e);
    http_wake(wake_key_suggest(id), HTTP_WAKE_ALL); /* its waiting suggests answer 404 */
    http_wake(wake_key_importance(id), HTTP_WAKE_ALL);
    http_reply_json(r, 200, json_pack("{ss sb}", "name", r->args[0], "deleted", 1));
    return HTTP_DONE;
}

bool api_trial_filter(struct req *r, struct trial_filter *f)
{
    f->state = NULL;
    const char *state = http_query(r, "state");
    if (state && *state) {
        if (trial_state_parse(state, &f->state_value) < 0) {
            http_reply_error(r, 400, "bad_query",
                             "state: must be pending, running, completed, failed or pruned (got "
                             "\"%.40s\")",
                             state);
            return false;
        }
        f->state = &f->state_value;
    }
    f->source = http_query(r, "source");
    if (f->source && !*f->source)
        f->source = NULL;
    const char *order = http_query(r, "order");
    if (!order || !*order || strcmp(order, "asc") == 0)
        f->order = STORE_ORDER_NUMBER;
    else if (strcmp(order, "desc") == 0)
        f->order = STORE_ORDER_NUMBER_DESC;
    else if (strcmp(order, "value") == 0)
        f->order = STORE_ORDER_VALUE;
    else if (strcmp(order, "value_desc") == 0)
        f->order = STORE_ORDER_VALUE_DESC;
    else {
        http_reply_error(r, 400, "bad_query",
                         "order: must be asc, desc, value or value_desc (got \"%.40s\")", order);
        return false;
    }
    const char *jp = http_query(r, "pareto");
    f->pareto = jp && strcmp(jp, "true") == 0;
    if (jp && !f->pareto && strcmp(jp, "false") != 0) {
        http_reply_error(r, 400, "bad_query", "pareto: must be true or false (got \"%.40s\")", jp);
        return false;
    }
    return true;
}

enum http_result api_study_trials(struct req *r)
{
    struct trial_filter f;
    if (!api_trial_filter(r, &f))
        return HTTP_DONE;
    const char *curve = http_query(r, "curve");
    bool curves = curve && strcmp(curve, "true") == 0;
    if (curve && !curves && strcmp(curve, "false") != 0) {
        http_reply_error(r, 400, "bad_query", "curve: must be true or false (got \"%.40s\")",
                         curve);
        return HTTP_DONE;
    }
    long long after = http_query_int(r, "after", -1, 1LL << 60);
    if (http_replied(r))
        return HTTP_DONE;
    long long limit = http_query_int(r, "limit", 100, 1000);
    if (http_replied(r))
        return HTTP_DONE;
    if (limit == 0)
        limit = 1;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct trial_page page;
    if (store_trials_page(db, r->args[0], f.state, f.source, f.pareto, after, limit, f.order,
                          curves, &page, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_trial_page(&page));
    store_trial_page_release(&page);
    return HTTP_DONE;
}

/* The Pareto set of the study in the path, with its hypervolume history when
 * asked. */
static enum http_result study_front(struct req *r, struct db *db, bool history)
{
    struct serr e;
    struct front f;
    if (front_get(db, r->args[0], history, &f, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_front(&f));
    front_release(&f);
    return HTTP_DONE;
}

enum http_result api_study_pareto(struct req *r)
{
    const char *h = http_query(r, "history");
    bool history = h && strcmp(h, "true") == 0;
    if (h && !history && strcmp(h, "false") != 0) {
        http_reply_error(r, 400, "bad_query", "history: must be true or false (got \"%.40s\")", h);
        return HTTP_DONE;
    }
    if (http_can_offload(r))
        return HTTP_OFFLOAD; /* a hypervolume (with history, one per completed trial) */
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    return study_front(r, db, history);
}

enum http_result api_study_best(struct req *r)
{
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    bool several = st.spec->n_objectives > 1;
    store_study_release(&st);
    if (several && http_can_offload(r))
        return HTTP_OFFLOAD; /* a hypervolume: not on the HTTP thread */
    /* several objectives: a Pareto set, as /pareto answers it */
    if (several)
        return study_front(r, db, false);
    struct trial best;
    if (store_best(db, r->args[0], &best, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_trial(&best));
    store_trial_release(&best);
    return HTTP_DONE;
}

enum http_result api_study_enqueue(struct req *r)
{
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    json_t *params = json_object_get(body, "params");
    if (!json_is_object(params)) {
        http_reply_error(r, 400, "bad_params", "params: required, a JSON object");
        return HTTP_DONE;
    }
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct study st;
    struct serr e;
    if (store_study_load(db, r->args[0], &st, &e) < 0) {
        store_study_release(&st);
        return api_fail(r, &e);
    }
    char err[512];
    json_t *checked = space_check(st.spec->space, params, err, sizeof err);
    store_study_release(&st);
    if (!checked) {
        http_reply_error(r, 400, "bad_params", "params: %s", err);
        return HTTP_DONE;
    }
    struct trial_detail out;
    int rc = store_enqueue(db, r->args[0], checked, "manual", &out, &e);
    json_decref(checked);
    if (rc < 0)
        return api_fail(r, &e);
    http_wake(wake_key_suggest(out.trial.study_id), 1);
    http_reply_json(r, 201, render_trial_detail(&out));
    store_trial_detail_release(&out);
    return HTTP_DONE;
}

enum http_result api_study_suggest(struct req *r)
{
    json_t *body = http_body_json(r, true);
    if (!body)
        return HTTP_DONE;
    const char *worker = json_str(body, "worker", NULL);
    if (!worker || !*worker || strlen(worker) > 128) {
        http_reply_error(r, 400, "bad_request",
                         "worker: required, a string of 1 to 128 characters naming the worker");
        return HTTP_DONE;
    }
    json_t *jc = json_object_get(body, "count");
    long long count = 1;
    if (jc) {
        count = json_is_integer(jc) ? json_integer_value(jc) : -1;
        if (count < 1 || count > 64) {
            http_reply_error(r, 400, "bad_request", "count: must be an integer in 1..64");
            return HTTP_DONE;
        }
    }
    json_t *jw = json_object_get(body, "wait_s");
    double wait_s = 0;
    if (jw) {
        if (!json_is_num(jw) || json_num_value(jw) < 0) {
            http_reply_error(r, 400, "bad_request", "wait_s: must be a non-negative number");
            return HTTP_DONE;
        }
        wait_s = json_num_value(jw);
        if (wait_s > cfg.max_wait_s)
            wait_s = cfg.max_wait_s;
    }
    int64_t now = time_mono_ms();
    if (r->deadline_ms == 0 && wait_s > 0)
        r->deadline_ms = now + (int64_t)(wait_s * 1000.0);
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    if (http_can_offload(r) && suggest_is_slow(&st)) {
        store_study_release(&st);
        return HTTP_OFFLOAD;
    }
    /* before it looks: a change from here on is not missed if it parks */
    http_wait_on(r, wake_key_suggest(st.id));
    struct suggest_result res;
    int rc = suggest_run(db, &st, worker, r->token_id, (int)count, &res, &e);
    if (rc < 0) {
        suggest_result_release(&res);
        store_study_release(&st);
        return api_fail(r, &e);
    }
    if (res.trials.n == 0 && res.worth_waiting && r->deadline_ms > now && !http_draining()) {
        suggest_result_release(&res);
        store_study_release(&st);
        return HTTP_SUSPEND;
    }
    if (res.study_state != st.state)
        http_wake(wake_key_suggest(st.id), HTTP_WAKE_ALL); /* found finished: tell the others */
    json_t *trials = json_array();
    for (size_t i = 0; i < res.trials.n; i++)
        json_array_append_new(trials, render_lease(&res.trials.v[i], &st));
    json_t *out =
        json_pack("{so ss si}", "trials", trials, "study_state", study_state_name(res.study_state),
                  "retry_after_s", res.trials.n ? 0 : res.retry_after_s);
    suggest_result_release(&res);
    store_study_release(&st);
    http_reply_json(r, 200, out);
    return HTTP_DONE;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *json_or(const char *text, json_t *def)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (j) {
        json_decref(def);
        return j;
    }
    return def;
}

/* One audit row as the API shows it. */
static json_t *llm_call_json(const struct llm_call_row *c)
{
    char at[40];
    time_format_rfc3339(c->at_ms, at, sizeof at);
    json_t *o = json_pack(
        "{sI sI si ss ss so so so so so}", "id", (json_int_t)c->id, "proposal",
        (json_int_t)c->proposal, "attempt", c->attempt, "at", at, "provider",
        c->provider ? c->provider : "", "model", str_or_null(c->model), "model_requested",
        str_or_null(c->model_requested), "request", json_or(c->messages, json_null()),
        "request_body", json_or(c->body, json_null()), "params", json_or(c->params, json_object()));
    json_object_set_new(o, "structured", str_or_null(c->structured));
    json_object_set_new(o, "reply", str_or_null(c->reply));
    json_object_set_new(o, "reasoning", str_or_null(c->reasoning));
    json_object_set_new(o, "tokens_in", json_integer(c->tokens_in));
    json_object_set_new(o, "tokens_out", json_integer(c->tokens_out));
    json_object_set_new(o, "tokens_estimated", json_boolean(c->tokens_estimated));
    json_object_set_new(o, "latency_ms", json_integer(c->latency_ms));
    json_object_set_new(o, "status", c->status > 0 ? json_integer(c->status) : json_null());
    json_object_set_new(o, "error", str_or_null(c->error));
    json_object_set_new(o, "configs", json_integer(c->configs));
    json_object_set_new(o, "trials", json_or(c->trials, json_array()));
    return o;
}

enum http_result api_study_llm_calls(struct req *r)
{
    long long after = http_query_int(r, "after", 0, 1LL << 60);
    if (http_replied(r))
        return HTTP_DONE;
    long long limit = http_query_int(r, "limit", 50, 500);
    if (http_replied(r))
        return HTTP_DONE;
    if (limit == 0)
        limit = 1;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct study st;
    struct serr e;
    if (store_study_load(db, r->args[0], &st, &e) < 0)
        return api_fail(r, &e);
    long long sid = st.id;
    store_study_release(&st);
    struct llm_call_row *rows;
    size_t n;
    bool more;
    if (store_llm_calls_page(db, sid, after, (long)limit, &rows, &n, &more) < 0) {
        serr_db(&e, db, "llm calls");
        return api_fail(r, &e);
    }
    json_t *calls = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(calls, llm_call_json(&rows[i]));
    long long last = n ? rows[n - 1].id : 0;
    store_llm_call_rows_free(rows, n);
    http_reply_json(r, 200,
                    json_pack("{so so}", "calls", calls, "next_after",
                              more ? json_integer(last) : json_null()));
    return HTTP_DONE;
}

enum http_result api_study_export(struct req *r)
{
    if (http_can_offload(r))
        return HTTP_OFFLOAD; /* a whole study: not on the HTTP thread */
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    json_t *doc = transfer_export(db, r->args[0], &e);
    if (!doc)
        return api_fail(r, &e);
    http_reply_json(r, 200, doc);
    return HTTP_DONE;
}

enum http_result api_study_import(struct req *r)
{
    if (http_can_offload(r))
        return HTTP_OFFLOAD;
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    json_t *out = transfer_import(db, body, &e);
    if (!out)
        return api_fail(r, &e);
    http_reply_json(r, 201, out); /* a new study: nothing waits on it */
    return HTTP_DONE;
}
