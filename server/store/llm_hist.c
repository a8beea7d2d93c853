#include <config.h>
#include "llm_hist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running studies ---- */

struct ids_ctx {
    long long *ids; /* owned while filling */
    size_t n;       /* entries in ids */
};

static int ids_run(struct db *db, void *arg)
{
    struct ids_ctx *c = arg;
    free(c->ids);
    c->ids = NULL;
    c->n = 0;
    sqlite3_stmt *q = db_stmt(db, "SELECT id FROM studies WHERE state = 'running' ORDER BY id");
    if (!q)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (c->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            long long *v = realloc(c->ids, ncap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            c->ids = v;
            cap = ncap;
        }
        c->ids[c->n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_running_study_ids(struct db *db, long long **ids, size_t *n)
{
    struct ids_ctx c = {NULL, 0};
    *ids = NULL;
    *n = 0;
    if (db_run(db, ids_run, &c) < 0) {
        free(c.ids);
        return -1;
    }
    *ids = c.ids;
    *n = c.n;
    return 0;
}

/* ---- where a study stands ---- */

struct numbers_ctx {
    long long study_id;      /* study row id */
    struct llm_numbers *out; /* filled */
};

static int numbers_run(struct db *db, void *arg)
{
    struct numbers_ctx *c = arg;
    sqlite3_stmt *q = db_stmt(db, "SELECT s.next_number, s.tokens_in + s.tokens_out, (SELECT "
                                  "COUNT(*) FROM trials t WHERE t.study_id = s.id AND t.state IN "
                                  "('pending', 'running')) FROM studies s WHERE s.id = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, c->study_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        c->out->next_number = sqlite3_column_int64(q, 0);
        c->out->tokens_used = sqlite3_column_int64(q, 1);
        c->out->outstanding = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_llm_numbers(struct db *db, long long study_id, struct llm_numbers *out)
{
    memset(out, 0, sizeof *out);
    struct numbers_ctx c = {study_id, out};
    return db_run(db, numbers_run, &c);
}

/* ---- failed and pruned trials ---- */

struct notes_ctx {
    long long study_id;          /* study row id */
    struct llm_trial_notes *out; /* filled */
};

static int notes_run(struct db *db, void *arg)
{
    struct notes_ctx *c = arg;
    store_llm_notes_release(c->out);
    sqlite3_stmt *q = db_stmt(db, "SELECT number, error, last_step FROM trials WHERE study_id = ? "
                                  "AND state IN ('failed', 'pruned') ORDER BY number");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, c->study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (c->out->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct llm_trial_note *v = realloc(c->out->v, ncap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            c->out->v = v;
            cap = ncap;
        }
        const char *err = (const char *)sqlite3_column_text(q, 1);
        char *copy = strdup(err ? err : "");
        if (!copy) {
            rc = SQLITE_NOMEM;
            break;
        }
        struct llm_trial_note *t = &c->out->v[c->out->n++];
        t->number = sqlite3_column_int64(q, 0);
        t->error = copy;
        t->last_step = sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_llm_trial_notes(struct db *db, long long study_id, struct llm_trial_notes *out)
{
    memset(out, 0, sizeof *out);
    struct notes_ctx c = {study_id, out};
    return db_run(db, notes_run, &c);
}

void store_llm_notes_release(struct llm_trial_notes *notes)
{
    for (size_t i = 0; i < notes->n; i++)
        free(notes->v[i].error);
    free(notes->v);
    memset(notes, 0, sizeof *notes);
}

/* ---- the metrics of finished trials ---- */

struct values_ctx {
    long long study_id; /* study row id */
    json_t *out;        /* owned while filling */
};

static int values_run(struct db *db, void *arg)
{
    struct values_ctx *c = arg;
    json_decref(c->out);
    c->out = json_object();
    if (!c->out)
        return -1;
    sqlite3_stmt *q = db_stmt(db, "SELECT number, values_json FROM trials WHERE study_id = ? "
                                  "AND state IN ('completed', 'pruned') AND values_json IS NOT "
                                  "NULL ORDER BY number");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, c->study_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 1);
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        if (!json_is_object(v)) {
            json_decref(v);
            continue;
        }
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)sqlite3_column_int64(q, 0));
        if (json_object_set_new(c->out, key, v) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_llm_trial_values(struct db *db, long long study_id, json_t **out)
{
    struct values_ctx c = {study_id, NULL};
    *out = NULL;
    if (db_run(db, values_run, &c) < 0) {
        json_decref(c.out);
        return -1;
    }
    *out = c.out;
    return 0;
}
