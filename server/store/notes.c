#include <config.h>
#include "store.h"

#include <string.h>

#include "store_int.h"
#include "timeutil.h"

/* What a note's transaction needs and tells. */
struct note_tx {
    const char *name;  /* borrowed: the study */
    long long number;  /* the trial's number, or -1 for the study's own note */
    const char *text;  /* borrowed: the note, NULL to remove it */
    int64_t at;        /* when it is written */
    struct trial *out; /* the trial written, or NULL */
    struct serr *e;    /* borrowed: the failure */
};

static void bind_note(sqlite3_stmt *q, const struct note_tx *c)
{
    if (c->text) {
        sqlite3_bind_text(q, 1, c->text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, c->at);
    } else {
        sqlite3_bind_null(q, 1);
        sqlite3_bind_null(q, 2);
    }
}

static int study_note_body(struct db *db, void *arg)
{
    struct note_tx *c = arg;
    c->e->status = 0;
    sqlite3_stmt *q =
        db_stmt(db, "UPDATE studies SET note = ?, note_at = ? WHERE name = ? RETURNING id");
    if (!q)
        return serr_db(c->e, db, "set study note");
    bind_note(q, c);
    sqlite3_bind_text(q, 3, c->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return serr_set(c->e, 404, "not_found", "no study named \"%s\"", c->name);
    if (rc != SQLITE_ROW)
        return serr_db(c->e, db, "set study note");
    return 0;
}

static int trial_note_body(struct db *db, void *arg)
{
    struct note_tx *c = arg;
    c->e->status = 0;
    sqlite3_stmt *s = db_stmt(db, "SELECT id FROM studies WHERE name = ?");
    if (!s)
        return serr_db(c->e, db, "set trial note");
    sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    long long sid = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return serr_set(c->e, 404, "not_found", "no study named \"%s\"", c->name);
    if (rc != SQLITE_ROW)
        return serr_db(c->e, db, "set trial note");
    sqlite3_stmt *u = db_stmt(db, "UPDATE trials SET note = ?, note_at = ? WHERE study_id = ? AND "
                                  "number = ? RETURNING id");
    if (!u)
        return serr_db(c->e, db, "set trial note");
    bind_note(u, c);
    sqlite3_bind_int64(u, 3, sid);
    sqlite3_bind_int64(u, 4, c->number);
    rc = sqlite3_step(u);
    long long tid = rc == SQLITE_ROW ? sqlite3_column_int64(u, 0) : -1;
    sqlite3_reset(u);
    if (rc == SQLITE_DONE)
        return serr_set(c->e, 404, "not_found", "study \"%s\" has no trial %lld", c->name,
                        c->number);
    if (rc != SQLITE_ROW)
        return serr_db(c->e, db, "set trial note");
    sqlite3_stmt *g = db_stmt(db, "SELECT " TRIAL_COLS " FROM trials t WHERE t.id = ?");
    if (!g)
        return serr_db(c->e, db, "set trial note");
    sqlite3_bind_int64(g, 1, tid);
    rc = sqlite3_step(g);
    if (rc == SQLITE_ROW) {
        store_trial_release(c->out); /* from an earlier run of this transaction */
        trial_read(g, c->out);
    }
    sqlite3_reset(g);
    return rc == SQLITE_ROW ? 0 : serr_db(c->e, db, "set trial note");
}

int store_study_note_set(struct db *db, const char *name, const char *text, int64_t *at,
                         struct serr *e)
{
    struct note_tx c = {name, -1, text && *text ? text : NULL, time_now_ms(), NULL, e};
    if (store_run(db, study_note_body, &c, e, "set study note") < 0)
        return -1;
    *at = c.text ? c.at : STORE_NO_TIME;
    return 0;
}

int store_trial_note_set(struct db *db, const char *name, long long number, const char *text,
                         struct trial *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    struct note_tx c = {name, number, text && *text ? text : NULL, time_now_ms(), out, e};
    if (store_run(db, trial_note_body, &c, e, "set trial note") < 0) {
        store_trial_release(out);
        return -1;
    }
    return 0;
}
