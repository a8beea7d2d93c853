#include <config.h>
#include "api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lease.h"
#include "pruner_hook.h"
#include "render.h"
#include "store.h"
#include "wake.h"

/* The trial id in the path, or -1 after a 404 reply. Digits alone, as the
 * API writes ids: no sign, space or leading zero, so that one trial has one
 * path ("%201" and "+1" are not trial 1). */
static long long trial_id(struct req *r)
{
    const char *a = r->args[0];
    size_t len = strspn(a, "0123456789");
    if (len == 0 || a[len] || a[0] == '0' || len > 18) {
        http_reply_error(r, 404, "not_found", "no trial with id \"%.40s\"", a);
        return -1;
    }
    return strtoll(a, NULL, 10);
}

/* The "worker" member of the body, or NULL after a 400 reply. */
static const char *body_worker(struct req *r, json_t *body)
{
    const char *w = json_str(body, "worker", NULL);
    if (!w || !*w || strlen(w) > 128) {
        http_reply_error(r, 400, "bad_request",
                         "worker: required, a string of 1 to 128 characters naming the worker");
        return NULL;
    }
    return w;
}

/* The token of the request, as the store checks it against the lease. */
static struct caller caller_of(const struct req *r)
{
    struct caller c = {r->token_id, r->role >= ROLE_ADMIN};
    return c;
}

/* Check that "values", when present, is an object of numbers. */
static bool values_ok(struct req *r, const json_t *values)
{
    if (!values || json_is_null(values))
        return true;
    if (!json_is_object(values)) {
        http_reply_error(r, 400, "bad_value",
                         "values: must be an object of metric names to numbers");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)values, k, v)
    {
        if (!json_is_num(v) && !json_is_null(v)) {
            http_reply_error(r, 400, "bad_value", "values.%s: must be a number", k);
            return false;
        }
    }
    return true;
}

enum http_result api_trial_get(struct req *r)
{
    long long id = trial_id(r);
    if (id < 0)
        return HTTP_DONE;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct trial_detail t;
    if (store_trial_get(db, id, &t, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_trial_detail(&t));
    store_trial_detail_release(&t);
    return HTTP_DONE;
}

enum http_result api_trial_heartbeat(struct req *r)
{
    long long id = trial_id(r);
    if (id < 0)
        return HTTP_DONE;
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    const char *worker = body_worker(r, body);
    if (!worker)
        return HTTP_DONE;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    enum trial_action action;
    struct caller who = caller_of(r);
    if (lease_heartbeat(db, id, worker, &who, &action, &e) < 0) {
        if (e.status == 409) {
            http_reply_json(r, 409,
                            json_pack("{s:{s:s,s:s},s:s}", "error", "code", e.code, "message",
                                      e.msg, "action", "stop"));
            return HTTP_DONE;
        }
        return api_fail(r, &e);
    }
    http_reply_json(r, 200, json_pack("{ss}", "action", trial_action_name(action)));
    return HTTP_DONE;
}

enum http_result api_trial_report(struct req *r)
{
    long long id = trial_id(r);
    if (id < 0)
        return HTTP_DONE;
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    const char *worker = body_worker(r, body);
    if (!worker)
        return HTTP_DONE;
    json_t *js = json_object_get(body, "step");
    if (!json_is_integer(js) || json_integer_value(js) < 0) {
        http_reply_error(r, 400, "bad_request", "step: required, a non-negative integer");
        return HTTP_DONE;
    }
    json_t *values = json_object_get(body, "values");
    if (!values_ok(r, values))
        return HTTP_DONE;
    json_t *jv = json_object_get(body, "value");
    double value = NAN;
    if (jv && !json_is_null(jv)) {
        if (!json_is_num(jv) || !isfinite(json_num_value(jv))) {
            http_reply_error(r, 400, "bad_value", "value: must be a finite number");
            return HTTP_DONE;
        }
        value = json_num_value(jv);
    } else if (!values || json_object_size(values) == 0) {
        http_reply_error(r, 400, "bad_value", "value: required (or a non-empty \"values\")");
        return HTTP_DONE;
    }
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    if (http_can_offload(r) && pruner_hook_is_slow(db, id))
        return HTTP_OFFLOAD;
    struct serr e;
    enum trial_action action;
    struct report_in in = {id, worker, json_integer_value(js), value, values, caller_of(r)};
    if (lease_report(db, &in, &action, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, json_pack("{ss}", "action", trial_action_name(action)));
    return HTTP_DONE;
}

enum http_result api_trial_complete(struct req *r)
{
    long long id = trial_id(r);
    if (id < 0)
        return HTTP_DONE;
    json_t *body = http_body_json(r, false);
    if (!body)
        return HTTP_DONE;
    const char *worker = body_worker(r, body);
    if (!worker)
        return HTTP_DONE;
    json_t *js = json_object_get(body, "state");
    if (js && !json_is_string(js)) {
        http_reply_error(r, 400, "bad_state",
                         "state: must be the string \"completed\", \"failed\" or \"pruned\"");
        return HTTP_DONE;
    }
    const char *state = js ? json_string_value(js) : "completed";
    json_t *values = json_object_get(body, "values");
    if (!values_ok(r, values))
        return HTTP_DONE;
    json_t *jv = json_object_get(body, "value");
    double value = NAN;
    if (jv && !json_is_null(jv)) {
        if (!json_is_num(jv) || !isfinite(json_num_value(jv))) {
            http_reply_error(r, 400, "bad_value", "value: must be a finite number (got %s)",
                             json_is_string(jv) ? "a string" : "a non-finite or non-number");
            return HTTP_DONE;
        }
        value = json_num_value(jv);
    }
    json_t *jerr = json_object_get(body, "error");
    if (jerr && !json_is_null(jerr) && !json_is_string(jerr)) {
        http_reply_error(r, 400, "bad_request", "error: must be a string");
        return HTTP_DONE;
    }
    const char *error = json_is_string(jerr) ? json_string_value(jerr) : NULL;
    json_t *jsb = json_object_get(body, "sandbox");
    if (jsb && !json_is_null(jsb) &&
        (!json_is_string(jsb) || json_string_length(jsb) == 0 || json_string_length(jsb) > 32)) {
        http_reply_error(r, 400, "bad_request",
                         "sandbox: must be a short string such as \"bwrap\"");
        return HTTP_DONE;
    }
    const char *sandbox = json_is_string(jsb) ? json_string_value(jsb) : NULL;
    enum trial_state outcome;
    if (trial_state_parse(state, &outcome) < 0 || !trial_state_final(outcome)) {
        http_reply_error(r, 400, "bad_state",
                         "state: must be \"completed\", \"failed\" or \"pruned\" (got \"%s\")",
                         state);
        return HTTP_DONE;
    }
    char *error_cut = NULL;
    if (error && strlen(error) > 16384) {
        error_cut = strndup(error, 16384);
        error = error_cut;
    }
    struct db *db = api_db(r);
    if (!db) {
        free(error_cut);
        return HTTP_DONE;
    }
    struct serr e;
    bool already;
    struct trial_detail t;
    struct completion c = {.trial_id = id,
                           .worker = worker,
                           .state = outcome,
                           .value = value,
                           .values = values,
                           .error = error,
                           .sandbox = sandbox,
                           .who = caller_of(r)};
    int rc = lease_complete(db, &c, &t, &already, &e);
    free(error_cut);
    if (rc < 0)
        return api_fail(r, &e);
    if (!already)
        http_wake(wake_key_suggest(t.trial.study_id), 1); /* a slot freed, or the study finished */
    json_t *out = render_trial_detail(&t);
    json_object_set_new(out, "recorded_before", json_boolean(already));
    store_trial_detail_release(&t);
    http_reply_json(r, 200, out);
    return HTTP_DONE;
}
