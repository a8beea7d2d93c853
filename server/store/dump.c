#include <config.h>
#include "dump.h"

#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

void dump_trial_release(struct dump_trial *t)
{
    free(t->state);
    free(t->params_json);
    free(t->values_json);
    free(t->source);
    free(t->worker);
    free(t->error);
    free(t->sandbox);
    free(t->note);
    free(t->objs_json);
    for (size_t k = 0; k < t->n_reports; k++)
        free(t->reports[k].values_json);
    free(t->reports);
    memset(t, 0, sizeof *t);
}

void dump_release(struct dump *d)
{
    for (size_t i = 0; i < d->n_trials; i++)
        dump_trial_release(&d->trials[i]);
    free(d->trials);
    free(d->name);
    free(d->spec_json);
    free(d->reference_json);
    free(d->spec_in_json);
    free(d->state);
    free(d->note);
    memset(d, 0, sizeof *d);
}

/* A copy of text column i, NULL when the column is NULL; *oom set when the
 * copy failed. */
static char *col_dup(sqlite3_stmt *q, int i, bool *oom)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (!c)
        *oom = true;
    return c;
}

static int64_t col_time(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(q, i);
}

/* Trial row ids beside their index in the dump, sorted by id, so that the
 * reports (read in id order) find their trial. */
struct id_index {
    long long id; /* trial row id */
    size_t at;    /* index in dump.trials */
};

static int by_id(const void *a, const void *b)
{
    long long x = ((const struct id_index *)a)->id, y = ((const struct id_index *)b)->id;
    return x < y ? -1 : x > y;
}

/* Room for one more element of size each in *items (n used, *cap allocated). */
static int grow(void **items, size_t n, size_t *cap, size_t each)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : 16;
    void *grown = realloc(*items, want * each);
    if (!grown)
        return -1;
    *items = grown;
    *cap = want;
    return 0;
}

static int read_trials(struct db *db, long long study_id, struct dump *out, struct id_index **ids,
                       struct serr *e)
{
    sqlite3_stmt *q =
        db_stmt(db, "SELECT t.id, t.number, t.state, t.params, t.value, t.values_json, t.source, "
                    "t.worker, t.attempts, t.created_at, t.started_at, t.finished_at, t.error, "
                    "t.last_step, t.last_value, t.sandbox, t.note, t.note_at, t.objs, t.feasible, "
                    "t.violation, (SELECT count(*) FROM trials WHERE study_id = ?1) FROM trials t "
                    "WHERE t.study_id = ?1 "
                    "ORDER BY t.number");
    if (!q)
        return serr_db(e, db, "export");
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0, idcap = 0;
    bool oom = false;
    long long counted = -1;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        counted = sqlite3_column_int64(q, 21);
        if (grow((void **)&out->trials, out->n_trials, &cap, sizeof *out->trials) < 0 ||
            grow((void **)ids, out->n_trials, &idcap, sizeof **ids) < 0) {
            oom = true;
            break;
        }
        struct dump_trial *t = &out->trials[out->n_trials];
        memset(t, 0, sizeof *t);
        (*ids)[out->n_trials].id = sqlite3_column_int64(q, 0);
        (*ids)[out->n_trials].at = out->n_trials;
        out->n_trials++;
        t->number = sqlite3_column_int64(q, 1);
        t->state = col_dup(q, 2, &oom);
        t->params_json = col_dup(q, 3, &oom);
        t->has_value = sqlite3_column_type(q, 4) != SQLITE_NULL;
        t->value = sqlite3_column_double(q, 4);
        t->values_json = col_dup(q, 5, &oom);
        t->source = col_dup(q, 6, &oom);
        t->worker = col_dup(q, 7, &oom);
        t->attempts = sqlite3_column_int64(q, 8);
        t->created_at = col_time(q, 9);
        t->started_at = col_time(q, 10);
        t->finished_at = col_time(q, 11);
        t->error = col_dup(q, 12, &oom);
        t->has_last_step = sqlite3_column_type(q, 13) != SQLITE_NULL;
        t->last_step = sqlite3_column_int64(q, 13);
        t->has_last_value = sqlite3_column_type(q, 14) != SQLITE_NULL;
        t->last_value = sqlite3_column_double(q, 14);
        t->sandbox = col_dup(q, 15, &oom);
        t->note = col_dup(q, 16, &oom);
        t->note_at = col_time(q, 17);
        t->objs_json = col_dup(q, 18, &oom);
        t->feasible =
            sqlite3_column_type(q, 19) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 19) != 0;
        t->has_violation = sqlite3_column_type(q, 20) != SQLITE_NULL;
        t->violation = sqlite3_column_double(q, 20);
        if (oom)
            break;
    }
    sqlite3_reset(q);
    if (oom)
        return serr_set(e, 500, "internal", "export: out of memory");
    if (rc != SQLITE_DONE)
        return serr_db(e, db, "export");
    /* The same statement counted the study's trials by its index: fewer rows
     * read means the table lost some without SQLite noticing (a damaged page
     * that still looks like one), and an export must not be short. */
    if (counted >= 0 && (size_t)counted != out->n_trials)
        return serr_set(e, 500, "storage_error",
                        "export: the study has %lld trials by its index but %zu could be read: "
                        "the database is damaged (see \"hpod check\")",
                        counted, out->n_trials);
    qsort(*ids, out->n_trials, sizeof **ids, by_id);
    return 0;
}

static int read_reports(struct db *db, long long study_id, struct dump *out,
                        const struct id_index *ids, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT r.trial_id, r.step, r.value, r.values_json, r.at FROM "
                                  "trial_reports r JOIN trials t ON t.id = r.trial_id WHERE "
                                  "t.study_id = ? ORDER BY r.trial_id, r.step");
    if (!q)
        return serr_db(e, db, "export");
    sqlite3_bind_int64(q, 1, study_id);
    struct dump_trial *t = NULL;
    long long t_id = 0;
    size_t cap = 0;
    bool oom = false;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(q, 0);
        if (!t || id != t_id) {
            struct id_index key = {id, 0};
            const struct id_index *hit = bsearch(&key, ids, out->n_trials, sizeof *ids, by_id);
            if (!hit)
                continue; /* a trial added after the trials were read */
            t = &out->trials[hit->at];
            t_id = id;
            cap = t->n_reports;
        }
        if (grow((void **)&t->reports, t->n_reports, &cap, sizeof *t->reports) < 0) {
            oom = true;
            break;
        }
        struct dump_report *rep = &t->reports[t->n_reports++];
        rep->step = sqlite3_column_int64(q, 1);
        rep->has_value = sqlite3_column_type(q, 2) != SQLITE_NULL;
        rep->value = sqlite3_column_double(q, 2);
        rep->values_json = col_dup(q, 3, &oom);
        rep->at = sqlite3_column_int64(q, 4);
        if (oom)
            break;
    }
    sqlite3_reset(q);
    if (oom)
        return serr_set(e, 500, "internal", "export: out of memory");
    if (rc != SQLITE_DONE)
        return serr_db(e, db, "export");
    return 0;
}

static int read_note(struct db *db, long long study_id, struct dump *out, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT note, note_at FROM studies WHERE id = ?");
    if (!q)
        return serr_db(e, db, "export");
    sqlite3_bind_int64(q, 1, study_id);
    int rc = sqlite3_step(q);
    bool oom = false;
    if (rc == SQLITE_ROW) {
        out->note = col_dup(q, 0, &oom);
        out->note_at = col_time(q, 1);
    }
    sqlite3_reset(q);
    if (oom)
        return serr_set(e, 500, "internal", "export: out of memory");
    if (rc != SQLITE_ROW)
        return serr_db(e, db, "export");
    return 0;
}

int dump_read(struct db *db, const char *name, struct dump *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct study st;
    if (store_study_load(db, name, &st, e) < 0)
        return -1;
    struct id_index *ids = NULL;
    int rc = -1;
    out->name = strdup(st.name);
    out->state = strdup(study_state_name(st.state));
    out->spec_json = json_dumps(st.spec->json, JSON_COMPACT | JSON_REAL_PRECISION(17));
    out->direction = st.direction;
    out->multi = spec_multi(st.spec);
    sqlite3_stmt *r = db_stmt(db, "SELECT reference FROM studies WHERE id = ?");
    bool oom = false;
    if (!r) {
        serr_db(e, db, "export");
        goto out_release;
    }
    sqlite3_bind_int64(r, 1, st.id);
    if (sqlite3_step(r) == SQLITE_ROW)
        out->reference_json = col_dup(r, 0, &oom);
    sqlite3_reset(r);
    if (oom || !out->name || !out->state || !out->spec_json) {
        serr_set(e, 500, "internal", "export: out of memory");
        goto out_release;
    }
    if (read_note(db, st.id, out, e) < 0 || read_trials(db, st.id, out, &ids, e) < 0 ||
        read_reports(db, st.id, out, ids, e) < 0)
        goto out_release;
    rc = 0;
out_release:
    free(ids);
    store_study_release(&st);
    if (rc < 0)
        dump_release(out);
    return rc;
}

/* What dump_restore's transaction needs and tells. */
struct restore_ctx {
    const struct dump *in; /* borrowed */
    int64_t now_ms;        /* the study's creation time */
    long long study_id;    /* the new study's row id */
    struct serr *e;        /* borrowed: the failure */
};

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static void bind_time(sqlite3_stmt *q, int i, int64_t ms)
{
    if (ms > 0)
        sqlite3_bind_int64(q, i, ms);
    else
        sqlite3_bind_null(q, i);
}

static int restore_reports(struct db *db, long long trial_id, const struct dump_trial *t,
                           struct serr *e)
{
    for (size_t k = 0; k < t->n_reports; k++) {
        const struct dump_report *rep = &t->reports[k];
        sqlite3_stmt *q = db_stmt(db, "INSERT OR REPLACE INTO trial_reports (trial_id, step, "
                                      "value, values_json, at) VALUES (?, ?, ?, ?, ?)");
        if (!q)
            return serr_db(e, db, "import");
        sqlite3_bind_int64(q, 1, trial_id);
        sqlite3_bind_int64(q, 2, rep->step);
        if (rep->has_value)
            sqlite3_bind_double(q, 3, rep->value);
        bind_text_or_null(q, 4, rep->values_json);
        sqlite3_bind_int64(q, 5, rep->at);
        int s = sqlite3_step(q);
        sqlite3_reset(q);
        if (s != SQLITE_DONE)
            return serr_db(e, db, "import");
    }
    return 0;
}

static int restore_trial(struct db *db, long long study_id, size_t i, const struct dump_trial *t,
                         struct serr *e)
{
    sqlite3_stmt *q = db_stmt(
        db, "INSERT INTO trials (study_id, number, state, params, value, values_json, source, "
            "worker, attempts, created_at, started_at, finished_at, error, last_step, "
            "last_value, sandbox, note, note_at, objs, feasible, violation) VALUES (?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!q)
        return serr_db(e, db, "import");
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, t->number);
    sqlite3_bind_text(q, 3, t->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, t->params_json, -1, SQLITE_STATIC);
    if (t->has_value)
        sqlite3_bind_double(q, 5, t->value);
    bind_text_or_null(q, 6, t->values_json);
    bind_text_or_null(q, 7, t->source);
    bind_text_or_null(q, 8, t->worker);
    sqlite3_bind_int64(q, 9, t->attempts);
    bind_time(q, 10, t->created_at);
    bind_time(q, 11, t->started_at);
    bind_time(q, 12, t->finished_at);
    bind_text_or_null(q, 13, t->error);
    if (t->has_last_step)
        sqlite3_bind_int64(q, 14, t->last_step);
    if (t->has_last_value)
        sqlite3_bind_double(q, 15, t->last_value);
    bind_text_or_null(q, 16, t->sandbox);
    bind_text_or_null(q, 17, t->note);
    bind_time(q, 18, t->note ? t->note_at : 0);
    bind_text_or_null(q, 19, t->objs_json);
    if (t->feasible >= 0)
        sqlite3_bind_int(q, 20, t->feasible);
    if (t->has_violation)
        sqlite3_bind_double(q, 21, t->violation);
    int s = sqlite3_step(q);
    sqlite3_reset(q);
    if (s != SQLITE_DONE) {
        if (s == SQLITE_CONSTRAINT_UNIQUE || s == SQLITE_CONSTRAINT_PRIMARYKEY)
            return serr_set(e, 400, "bad_import", "trials[%zu].number: %lld appears twice", i,
                            t->number);
        if ((s & 0xff) == SQLITE_CONSTRAINT)
            return serr_set(e, 400, "bad_import", "trials[%zu]: refused by the database: %s", i,
                            db_errmsg(db));
        return serr_db(e, db, "import");
    }
    return restore_reports(db, sqlite3_last_insert_rowid(db_handle(db)), t, e);
}

static int restore_tx(struct db *db, void *arg)
{
    struct restore_ctx *c = arg;
    const struct dump *in = c->in;
    c->e->status = 0; /* a failure of an earlier run is not this run's */
    sqlite3_stmt *x = db_stmt(db, "SELECT 1 FROM studies WHERE name = ?");
    if (!x)
        return serr_db(c->e, db, "import");
    sqlite3_bind_text(x, 1, in->name, -1, SQLITE_STATIC);
    int s = sqlite3_step(x);
    sqlite3_reset(x);
    if (s == SQLITE_ROW)
        return serr_set(c->e, 409, "name_taken",
                        "a study named \"%s\" exists: import it under another name", in->name);
    if (s != SQLITE_DONE)
        return serr_db(c->e, db, "import");
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO studies (name, spec, spec_in, direction, "
                                    "created_at, note, note_at, n_objectives, n_constraints) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, "
                                    "COALESCE(json_array_length(?2, '$.objectives'), 1), "
                                    "COALESCE(json_array_length(?2, '$.constraints'), 0))");
    if (!ins)
        return serr_db(c->e, db, "import");
    sqlite3_bind_text(ins, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, in->spec_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, in->spec_in_json, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 4, in->direction);
    sqlite3_bind_int64(ins, 5, c->now_ms);
    bind_text_or_null(ins, 6, in->note);
    bind_time(ins, 7, in->note ? in->note_at : 0);
    s = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (s != SQLITE_DONE)
        return serr_db(c->e, db, "import");
    c->study_id = sqlite3_last_insert_rowid(db_handle(db));
    long long max_number = -1;
    for (size_t i = 0; i < in->n_trials; i++) {
        if (restore_trial(db, c->study_id, i, &in->trials[i], c->e) < 0)
            return -1;
        if (in->trials[i].number > max_number)
            max_number = in->trials[i].number;
    }
    sqlite3_stmt *n = db_stmt(db, "UPDATE studies SET next_number = ? WHERE id = ?");
    if (!n)
        return serr_db(c->e, db, "import");
    sqlite3_bind_int64(n, 1, max_number + 1);
    sqlite3_bind_int64(n, 2, c->study_id);
    s = sqlite3_step(n);
    sqlite3_reset(n);
    if (s != SQLITE_DONE)
        return serr_db(c->e, db, "import");
    if (store_front_restore(db, c->study_id, in->reference_json) < 0)
        return serr_db(c->e, db, "import");
    struct study st;
    if (store_study_load_id(db, c->study_id, &st, c->e) < 0)
        return -1;
    struct counts counts;
    int rc = store_counts(db, c->study_id, &counts);
    if (rc == 0 && store_finish_if_done(db, &st, &counts) < 0)
        rc = -1;
    store_study_release(&st);
    return rc < 0 ? serr_db(c->e, db, "import") : 0;
}

int dump_restore(struct db *db, const struct dump *in, long long *study_id, struct serr *e)
{
    struct restore_ctx c = {in, time_now_ms(), 0, e};
    e->status = 0;
    if (db_run(db, restore_tx, &c) < 0) {
        if (e->status == 0)
            serr_db(e, db, "import");
        return -1;
    }
    *study_id = c.study_id;
    return 0;
}
