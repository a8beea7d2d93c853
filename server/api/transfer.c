#include <config.h>
#include "transfer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "jsonutil.h"
#include "log.h"
#include "render.h"
#include "spec.h"
#include "timeutil.h"

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* JSON text as a value; null when absent or not JSON. */
static json_t *parsed_or_null(const char *s, size_t flags)
{
    json_t *v = s ? json_loads(s, flags, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char s[40];
    time_format_rfc3339(ms, s, sizeof s);
    return json_string(s);
}

/* An exported trial: the members of a trial in any answer, without the row id
 * and the lease, and with its reports. New reference. */
static json_t *trial_json(const struct dump_trial *t, bool multi)
{
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(t->number));
    json_object_set_new(o, "state", text_or_null(t->state));
    json_object_set_new(o, "params", parsed_or_null(t->params_json, JSON_DECODE_ANY));
    json_object_set_new(o, "value", t->has_value ? json_real(t->value) : json_null());
    json_object_set_new(o, "values", parsed_or_null(t->values_json, JSON_DECODE_ANY));
    json_object_set_new(o, "source", text_or_null(t->source));
    json_object_set_new(o, "worker", text_or_null(t->worker));
    json_object_set_new(o, "attempts", json_integer(t->attempts));
    json_object_set_new(o, "created_at", time_or_null(t->created_at));
    json_object_set_new(o, "started_at", time_or_null(t->started_at));
    json_object_set_new(o, "finished_at", time_or_null(t->finished_at));
    json_object_set_new(o, "error", text_or_null(t->error));
    json_object_set_new(o, "last_step",
                        t->has_last_step ? json_integer(t->last_step) : json_null());
    json_object_set_new(o, "last_value",
                        t->has_last_value ? json_real(t->last_value) : json_null());
    json_object_set_new(o, "sandbox", text_or_null(t->sandbox));
    if (multi) {
        json_object_set_new(o, "objectives", parsed_or_null(t->objs_json, 0));
        json_object_set_new(o, "feasible",
                            t->feasible < 0 ? json_null() : json_boolean(t->feasible));
    }
    json_t *reports = json_array();
    for (size_t k = 0; k < t->n_reports; k++) {
        const struct dump_report *r = &t->reports[k];
        json_array_append_new(
            reports, json_pack("{sI so so so}", "step", (json_int_t)r->step, "value",
                               r->has_value ? json_real(r->value) : json_null(), "values",
                               parsed_or_null(r->values_json, 0), "at", time_or_null(r->at)));
    }
    json_object_set_new(o, "reports", reports);
    return o;
}

json_t *transfer_export(struct db *db, const char *name, struct serr *e)
{
    struct dump d;
    if (dump_read(db, name, &d, e) < 0)
        return NULL;
    json_t *trials = json_array();
    for (size_t i = 0; i < d.n_trials; i++)
        json_array_append_new(trials, trial_json(&d.trials[i], d.multi));
    json_t *doc = json_pack("{ss si so ss so}", "format", "hpod-study", "version", 1, "spec",
                            parsed_or_null(d.spec_json, 0), "state", d.state, "trials", trials);
    if (doc && d.multi)
        json_object_set_new(doc, "reference_point", parsed_or_null(d.reference_json, 0));
    dump_release(&d);
    if (!doc)
        serr_set(e, 500, "internal", "export: out of memory");
    return doc;
}

/* A time member of an imported trial: ms, def when absent, -1 when malformed. */
static int64_t time_member(const json_t *t, const char *key, int64_t def)
{
    const json_t *v = json_object_get(t, key);
    if (!v || json_is_null(v))
        return def;
    int64_t ms;
    if (!json_is_string(v) || time_parse_rfc3339(json_string_value(v), &ms) < 0)
        return -1;
    return ms;
}

/* An objective vector as JSON text (null for NAN); a new string or NULL. */
static char *objs_json_text(const double *objs, size_t m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m; i++)
        json_array_append_new(a, isfinite(objs[i]) ? json_real(objs[i]) : json_null());
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(a);
    return text;
}

/* The recorded reference point of an export (borrowed doc): JSON text (new
 * string) when it is an array of finite numbers, one per objective; NULL when
 * absent or null; -1 with e set when malformed. */
static int import_reference(const json_t *doc, const struct spec *sp, char **out, struct serr *e)
{
    *out = NULL;
    const json_t *ref = json_object_get(doc, "reference_point");
    if (!ref || json_is_null(ref))
        return 0;
    double v[SPEC_MAX_OBJECTIVES];
    bool ok =
        json_is_array(ref) && json_array_size(ref) == sp->n_objectives && sp->n_objectives > 1;
    for (size_t i = 0; ok && i < sp->n_objectives; i++) {
        const json_t *x = json_array_get(ref, i);
        v[i] = json_is_num(x) ? json_num_value(x) : NAN;
        ok = isfinite(v[i]);
    }
    if (!ok)
        return serr_set(e, 400, "bad_import",
                        "reference_point: must be null or an array of %zu finite numbers, one per "
                        "objective",
                        sp->n_objectives);
    *out = objs_json_text(v, sp->n_objectives);
    return *out ? 0 : serr_set(e, 500, "internal", "import: out of memory");
}

/* A copy of s, NULL for NULL; *oom set when the copy failed. */
static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (!c)
        *oom = true;
    return c;
}

/* Trial i of the document (borrowed) checked against the spec into *out
 * (all zero on entry). 0, or -1 with e naming the trial and field. */
static int import_trial(const struct spec *sp, size_t i, const json_t *t, int64_t now,
                        struct dump_trial *out, struct serr *e)
{
    if (!json_is_object(t))
        return serr_set(e, 400, "bad_import", "trials[%zu]: must be an object", i);
    const json_t *jn = json_object_get(t, "number");
    if (!json_is_integer(jn) || json_integer_value(jn) < 0)
        return serr_set(e, 400, "bad_import", "trials[%zu].number: a non-negative integer", i);
    long long number = json_integer_value(jn);
    const char *state = json_str(t, "state", "");
    if (strcmp(state, "pending") == 0 || strcmp(state, "running") == 0)
        state = "pending"; /* it runs again here */
    else if (strcmp(state, "completed") && strcmp(state, "failed") && strcmp(state, "pruned"))
        return serr_set(e, 400, "bad_import", "trials[%zu].state: unknown state \"%s\"", i, state);
    bool pending = strcmp(state, "pending") == 0;
    char err[512];
    json_t *params = space_check(sp->space, json_object_get(t, "params"), err, sizeof err);
    if (!params)
        return serr_set(e, 400, "bad_import", "trials[%zu].params: %s", i, err);
    const json_t *jv = json_object_get(t, "value");
    double value = json_is_num(jv) ? json_num_value(jv) : NAN;
    if (jv && !json_is_null(jv) && (!json_is_num(jv) || !isfinite(value))) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu].value: must be a finite number", i);
    }
    struct outcome oc = {.feasible = -1, .violation = NAN};
    bool multi = spec_multi(sp);
    enum trial_state ts = TRIAL_PENDING;
    trial_state_parse(state, &ts);
    if (multi &&
        lifecycle_outcome(sp, ts, value, json_object_get(t, "values"), &oc, err, sizeof err) < 0) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu].%s", i, err);
    }
    if (multi && !pending)
        value = oc.objs[0];
    if (!multi && strcmp(state, "completed") == 0 && !isfinite(value)) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu].value: a completed trial needs one", i);
    }
    int64_t created = time_member(t, "created_at", now);
    int64_t started = time_member(t, "started_at", 0);
    int64_t finished = time_member(t, "finished_at", pending ? 0 : now);
    if (created < 0 || started < 0 || finished < 0) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu]: times must be RFC 3339 UTC", i);
    }
    const json_t *reports = json_object_get(t, "reports");
    size_t k;
    json_t *rep;
    json_array_foreach(reports, k, rep)
    {
        const json_t *js = json_object_get(rep, "step");
        if (!json_is_integer(js) || json_integer_value(js) < 0) {
            json_decref(params);
            return serr_set(e, 400, "bad_import",
                            "trials[%zu].reports[%zu].step: a non-negative integer", i, k);
        }
    }
    bool oom = false;
    out->number = number;
    out->state = dup_or_null(state, &oom);
    out->params_json = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(params);
    if (!out->params_json)
        oom = true;
    out->has_value = isfinite(value) && !pending;
    out->value = out->has_value ? value : 0;
    const json_t *values = json_object_get(t, "values");
    if (json_is_object(values) &&
        !(out->values_json = json_dumps(values, JSON_COMPACT | JSON_REAL_PRECISION(17))))
        oom = true;
    out->source = dup_or_null(json_str(t, "source", "import"), &oom);
    out->worker = dup_or_null(json_str(t, "worker", NULL), &oom);
    out->attempts = pending ? 0 : json_int(t, "attempts", 1);
    out->created_at = created;
    out->started_at = started;
    out->finished_at = finished;
    out->error = dup_or_null(json_str(t, "error", NULL), &oom);
    out->has_last_step = json_is_integer(json_object_get(t, "last_step"));
    out->last_step = out->has_last_step ? json_int(t, "last_step", 0) : 0;
    out->has_last_value = json_is_num(json_object_get(t, "last_value"));
    out->last_value = out->has_last_value ? json_num(t, "last_value", 0) : 0;
    out->sandbox = dup_or_null(json_str(t, "sandbox", NULL), &oom);
    out->feasible = -1;
    if (multi && !pending && ts != TRIAL_FAILED) {
        bool any = false;
        for (size_t j = 0; j < sp->n_objectives; j++)
            any = any || isfinite(oc.objs[j]);
        if (any && !(out->objs_json = objs_json_text(oc.objs, sp->n_objectives)))
            oom = true;
        out->feasible = oc.feasible;
        out->has_violation = oc.feasible >= 0;
        out->violation = out->has_violation ? oc.violation : 0;
    }
    size_t n = json_array_size(reports);
    out->reports = n ? calloc(n, sizeof *out->reports) : NULL;
    if (n && !out->reports)
        oom = true;
    json_array_foreach(reports, k, rep)
    {
        if (!out->reports)
            break;
        struct dump_report *r = &out->reports[out->n_reports++];
        r->step = json_integer_value(json_object_get(rep, "step"));
        r->has_value = json_is_num(json_object_get(rep, "value"));
        r->value = r->has_value ? json_num(rep, "value", 0) : 0;
        const json_t *rv = json_object_get(rep, "values");
        if (json_is_object(rv) && !(r->values_json = json_dumps(rv, JSON_COMPACT)))
            oom = true;
        int64_t at = time_member(rep, "at", now);
        r->at = at > 0 ? at : now;
    }
    if (oom)
        return serr_set(e, 500, "internal", "import: out of memory");
    return 0;
}

json_t *transfer_import(struct db *db, const json_t *doc, struct serr *e)
{
    if (strcmp(json_str(doc, "format", ""), "hpod-study") != 0 ||
        json_int(doc, "version", 0) != 1) {
        serr_set(e, 400, "bad_import",
                 "format: not an hpod study export (expected \"format\": \"hpod-study\", "
                 "\"version\": 1)");
        return NULL;
    }
    const json_t *in = json_object_get(doc, "spec");
    char err[512];
    struct spec *sp = spec_parse(in, err, sizeof err);
    if (!sp) {
        serr_set(e, 400, "bad_import", "spec: %s", err);
        return NULL;
    }
    const json_t *trials = json_object_get(doc, "trials");
    if (trials && !json_is_array(trials)) {
        spec_free(sp);
        serr_set(e, 400, "bad_import", "trials: must be an array");
        return NULL;
    }
    json_t *out = NULL;
    struct dump d = {0};
    d.name = strdup(sp->name);
    d.spec_json = json_dumps(sp->json, JSON_COMPACT | JSON_REAL_PRECISION(17));
    d.spec_in_json = json_canonical(in);
    d.direction = sp->maximize ? -1 : 1;
    size_t n = json_array_size(trials);
    d.trials = n ? calloc(n, sizeof *d.trials) : NULL;
    if (!d.name || !d.spec_json || !d.spec_in_json || (n && !d.trials)) {
        serr_set(e, 500, "internal", "import: out of memory");
        goto out_free;
    }
    if (import_reference(doc, sp, &d.reference_json, e) < 0)
        goto out_free;
    int64_t now = time_now_ms();
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        d.n_trials++;
        if (import_trial(sp, i, t, now, &d.trials[i], e) < 0)
            goto out_free;
    }
    long long sid;
    if (dump_restore(db, &d, &sid, e) < 0)
        goto out_free;
    log_info("study \"%s\" imported with %zu trials", sp->name, n);
    struct study_info info;
    if (store_study_get(db, sp->name, &info, e) == 0) {
        out = render_study(&info, true);
        store_study_info_release(&info);
    }
out_free:
    dump_release(&d);
    spec_free(sp);
    return out;
}
