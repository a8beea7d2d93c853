#include <config.h>
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"

int stats_ping(struct db *db)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT 1");
    if (!q)
        return -1;
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

void stats_release(struct stats *s)
{
    for (size_t i = 0; i < s->n_trials; i++) {
        free(s->trials[i].study);
        free(s->trials[i].state);
    }
    for (size_t i = 0; i < s->n_tokens; i++)
        free(s->tokens[i].study);
    free(s->trials);
    free(s->tokens);
    memset(s, 0, sizeof *s);
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

static char *col_dup(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    return strdup(s ? s : "");
}

static int read_trials(struct db *db, struct stats *out)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT s.name, t.state, COUNT(*) FROM trials t JOIN studies s "
                                  "ON s.id = t.study_id GROUP BY s.id, t.state");
    if (!q)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow((void **)&out->trials, out->n_trials, &cap, sizeof *out->trials) < 0)
            break;
        struct stats_trials *t = &out->trials[out->n_trials];
        t->study = col_dup(q, 0);
        t->state = col_dup(q, 1);
        t->n = sqlite3_column_int64(q, 2);
        out->n_trials++;
        if (!t->study || !t->state)
            break;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int read_tokens(struct db *db, struct stats *out)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT name, tokens_in, tokens_out FROM studies");
    if (!q)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow((void **)&out->tokens, out->n_tokens, &cap, sizeof *out->tokens) < 0)
            break;
        struct stats_tokens *t = &out->tokens[out->n_tokens];
        t->study = col_dup(q, 0);
        t->in = sqlite3_column_int64(q, 1);
        t->out = sqlite3_column_int64(q, 2);
        out->n_tokens++;
        if (!t->study)
            break;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int stats_read(struct db *db, struct stats *out)
{
    memset(out, 0, sizeof *out);
    if (read_trials(db, out) < 0 || read_tokens(db, out) < 0) {
        stats_release(out);
        return -1;
    }
    return 0;
}
