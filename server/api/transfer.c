#include <config.h>
#include "transfer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "log.h"
#include "render.h"
#include "spec.h"
#include "timeutil.h"

json_t *transfer_export(struct db *db, const char *name, struct serr *e)
{
    struct study st;
    if (store_study_load(db, name, &st, e) < 0)
        return NULL;
    json_t *trials = json_array();
    json_t *byid = json_object(); /* trial id -> trial, to attach reports */
    struct trial_list all;
    sqlite3_stmt *r = db_stmt(db, "SELECT r.trial_id, r.step, r.value, r.values_json, r.at FROM "
                                  "trial_reports r JOIN trials t ON t.id = r.trial_id WHERE "
                                  "t.study_id = ? ORDER BY r.trial_id, r.step");
    if (!r) {
        serr_db(e, db, "export");
        goto out_fail;
    }
    if (store_trials_all(db, st.id, &all, e) < 0)
        goto out_fail;
    for (size_t i = 0; i < all.n; i++) {
        json_t *t = render_trial(&all.v[i]);
        char key[32];
        snprintf(key, sizeof key, "%lld", all.v[i].id);
        json_object_set_new(t, "reports", json_array());
        json_object_set(byid, key, t);
        json_object_del(t, "id");
        json_object_del(t, "lease_expires_at");
        json_array_append_new(trials, t);
    }
    store_trial_list_release(&all);
    sqlite3_bind_int64(r, 1, st.id);
    while (sqlite3_step(r) == SQLITE_ROW) {
        char key[32], at[40];
        snprintf(key, sizeof key, "%lld", (long long)sqlite3_column_int64(r, 0));
        json_t *t = json_object_get(byid, key);
        if (!t)
            continue;
        const char *vj = (const char *)sqlite3_column_text(r, 3);
        time_format_rfc3339(sqlite3_column_int64(r, 4), at, sizeof at);
        json_array_append_new(
            json_object_get(t, "reports"),
            json_pack("{sI so so ss}", "step", (json_int_t)sqlite3_column_int64(r, 1), "value",
                      sqlite3_column_type(r, 2) == SQLITE_NULL
                          ? json_null()
                          : json_real(sqlite3_column_double(r, 2)),
                      "values", vj ? json_loads(vj, 0, NULL) : json_null(), "at", at));
    }
    sqlite3_reset(r);
    json_decref(byid);
    json_t *doc = json_pack("{ss si sO ss so}", "format", "hpod-study", "version", 1, "spec",
                            st.spec->json, "state", study_state_name(st.state), "trials", trials);
    store_study_release(&st);
    return doc;
out_fail:
    json_decref(byid);
    json_decref(trials);
    store_study_release(&st);
    return NULL;
}

/* A time member of an imported trial: ms, now when absent, -1 when malformed. */
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

static void bind_time(sqlite3_stmt *q, int i, int64_t ms)
{
    if (ms > 0)
        sqlite3_bind_int64(q, i, ms);
    else
        sqlite3_bind_null(q, i);
}

/* Insert one trial of the document; -1 with e set. In the import transaction. */
static int import_trial(struct db *db, long long study_id, const struct spec *sp, size_t i,
                        const json_t *t, long long *max_number, struct serr *e)
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
    if (strcmp(state, "completed") == 0 && !isfinite(value)) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu].value: a completed trial needs one", i);
    }
    int64_t now = time_now_ms();
    int64_t created = time_member(t, "created_at", now);
    int64_t started = time_member(t, "started_at", 0);
    int64_t finished = time_member(t, "finished_at", strcmp(state, "pending") ? now : 0);
    if (created < 0 || started < 0 || finished < 0) {
        json_decref(params);
        return serr_set(e, 400, "bad_import", "trials[%zu]: times must be RFC 3339 UTC", i);
    }
    char *ptext = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    const json_t *values = json_object_get(t, "values");
    char *vtext =
        json_is_object(values) ? json_dumps(values, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(params);
    sqlite3_stmt *q = db_stmt(
        db, "INSERT INTO trials (study_id, number, state, params, value, values_json, source, "
            "worker, attempts, created_at, started_at, finished_at, error, last_step, "
            "last_value, sandbox) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    int rc = -1;
    if (!q) {
        serr_db(e, db, "import");
        goto out_free;
    }
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, number);
    sqlite3_bind_text(q, 3, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, ptext, -1, SQLITE_STATIC);
    if (isfinite(value) && strcmp(state, "pending") != 0)
        sqlite3_bind_double(q, 5, value);
    if (vtext)
        sqlite3_bind_text(q, 6, vtext, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, json_str(t, "source", "import"), -1, SQLITE_TRANSIENT);
    if (json_str(t, "worker", NULL))
        sqlite3_bind_text(q, 8, json_str(t, "worker", NULL), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 9, strcmp(state, "pending") ? json_int(t, "attempts", 1) : 0);
    bind_time(q, 10, created);
    bind_time(q, 11, started);
    bind_time(q, 12, finished);
    if (json_str(t, "error", NULL))
        sqlite3_bind_text(q, 13, json_str(t, "error", NULL), -1, SQLITE_TRANSIENT);
    if (json_is_integer(json_object_get(t, "last_step")))
        sqlite3_bind_int64(q, 14, json_int(t, "last_step", 0));
    if (json_is_num(json_object_get(t, "last_value")))
        sqlite3_bind_double(q, 15, json_num(t, "last_value", 0));
    if (json_str(t, "sandbox", NULL))
        sqlite3_bind_text(q, 16, json_str(t, "sandbox", NULL), -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(q);
    sqlite3_reset(q);
    if (s != SQLITE_DONE) {
        if ((s & 0xff) == SQLITE_CONSTRAINT)
            serr_set(e, 400, "bad_import", "trials[%zu].number: %lld appears twice", i, number);
        else
            serr_db(e, db, "import");
        goto out_free;
    }
    long long id = sqlite3_last_insert_rowid(db_handle(db));
    const json_t *reports = json_object_get(t, "reports");
    size_t k;
    json_t *rep;
    json_array_foreach(reports, k, rep)
    {
        const json_t *js = json_object_get(rep, "step");
        if (!json_is_integer(js) || json_integer_value(js) < 0) {
            serr_set(e, 400, "bad_import", "trials[%zu].reports[%zu].step: a non-negative integer",
                     i, k);
            goto out_free;
        }
        sqlite3_stmt *r = db_stmt(db, "INSERT OR REPLACE INTO trial_reports (trial_id, step, "
                                      "value, values_json, at) VALUES (?, ?, ?, ?, ?)");
        if (!r) {
            serr_db(e, db, "import");
            goto out_free;
        }
        const json_t *rv = json_object_get(rep, "values");
        char *rvt = json_is_object(rv) ? json_dumps(rv, JSON_COMPACT) : NULL;
        int64_t at = time_member(rep, "at", now);
        sqlite3_bind_int64(r, 1, id);
        sqlite3_bind_int64(r, 2, json_integer_value(js));
        if (json_is_num(json_object_get(rep, "value")))
            sqlite3_bind_double(r, 3, json_num(rep, "value", 0));
        if (rvt)
            sqlite3_bind_text(r, 4, rvt, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 5, at > 0 ? at : now);
        s = sqlite3_step(r);
        sqlite3_reset(r);
        free(rvt);
        if (s != SQLITE_DONE) {
            serr_db(e, db, "import");
            goto out_free;
        }
    }
    if (number > *max_number)
        *max_number = number;
    rc = 0;
out_free:
    free(ptext);
    free(vtext);
    return rc;
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
    if (db_begin(db) < 0) {
        serr_db(e, db, "import");
        goto out_free;
    }
    sqlite3_stmt *x = db_stmt(db, "SELECT 1 FROM studies WHERE name = ?");
    if (!x) {
        serr_db(e, db, "import");
        goto out_rollback;
    }
    sqlite3_bind_text(x, 1, sp->name, -1, SQLITE_STATIC);
    int exists = sqlite3_step(x) == SQLITE_ROW;
    sqlite3_reset(x);
    if (exists) {
        serr_set(e, 409, "name_taken", "a study named \"%s\" exists: import it under another name",
                 sp->name);
        goto out_rollback;
    }
    char *full = json_dumps(sp->json, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *canon = json_canonical(in);
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO studies (name, spec, spec_in, direction, "
                                    "created_at) VALUES (?, ?, ?, ?, ?)");
    int s = SQLITE_ERROR;
    if (ins && full && canon) {
        sqlite3_bind_text(ins, 1, sp->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, full, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, canon, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, sp->maximize ? -1 : 1);
        sqlite3_bind_int64(ins, 5, time_now_ms());
        s = sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    free(full);
    free(canon);
    if (s != SQLITE_DONE) {
        serr_db(e, db, "import");
        goto out_rollback;
    }
    long long sid = sqlite3_last_insert_rowid(db_handle(db));
    long long max_number = -1;
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t)
    {
        if (import_trial(db, sid, sp, i, t, &max_number, e) < 0)
            goto out_rollback;
    }
    sqlite3_stmt *n = db_stmt(db, "UPDATE studies SET next_number = ? WHERE id = ?");
    if (!n) {
        serr_db(e, db, "import");
        goto out_rollback;
    }
    sqlite3_bind_int64(n, 1, max_number + 1);
    sqlite3_bind_int64(n, 2, sid);
    s = sqlite3_step(n);
    sqlite3_reset(n);
    struct study st;
    struct counts c;
    if (s == SQLITE_DONE && store_study_load_id(db, sid, &st, e) == 0) {
        if (store_counts(db, sid, &c) < 0 || store_finish_if_done(db, &st, &c) < 0)
            s = SQLITE_ERROR;
        store_study_release(&st);
    }
    if (s != SQLITE_DONE || db_commit(db) < 0) {
        serr_db(e, db, "import");
        goto out_rollback;
    }
    store_event_bump();
    log_info("study \"%s\" imported with %zu trials", sp->name, json_array_size(trials));
    struct study_info info;
    if (store_study_get(db, sp->name, &info, e) == 0) {
        out = render_study(&info, true);
        store_study_info_release(&info);
    }
    goto out_free;
out_rollback:
    db_rollback(db);
out_free:
    spec_free(sp);
    return out;
}
