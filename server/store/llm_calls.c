#include <config.h>
#include "llm_calls.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

int store_llm_calls_add(struct db *db, long long study_id, const struct llm_call_rec *recs,
                        size_t n, long tokens_in, long tokens_out, double cost, long long *last_id)
{
    *last_id = 0;
    if (n == 0)
        return 0;
    if (db_begin(db) < 0)
        return -1;
    long long first = 0;
    for (size_t i = 0; i < n; i++) {
        const struct llm_call_rec *r = &recs[i];
        sqlite3_stmt *q = db_stmt(
            db,
            "INSERT INTO llm_calls (study_id, at, provider, model, request, reply, tokens_in, "
            "tokens_out, latency_ms, status, error, proposal, attempt, model_requested, params, "
            "body, reasoning, tokens_estimated, structured, configs) VALUES (?1, ?2, ?3, ?4, "
            "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)");
        if (!q)
            goto out_rollback;
        sqlite3_bind_int64(q, 1, study_id);
        sqlite3_bind_int64(q, 2, r->at_ms);
        bind_text(q, 3, r->provider ? r->provider : "");
        bind_text(q, 4, r->model);
        bind_text(q, 5, r->messages ? r->messages : "[]");
        bind_text(q, 6, r->reply);
        sqlite3_bind_int64(q, 7, r->tokens_in);
        sqlite3_bind_int64(q, 8, r->tokens_out);
        sqlite3_bind_int64(q, 9, r->latency_ms);
        if (r->status > 0)
            sqlite3_bind_int64(q, 10, r->status);
        else
            sqlite3_bind_null(q, 10);
        bind_text(q, 11, r->error);
        if (first)
            sqlite3_bind_int64(q, 12, first);
        else
            sqlite3_bind_null(q, 12);
        sqlite3_bind_int(q, 13, r->attempt > 0 ? r->attempt : (int)i + 1);
        bind_text(q, 14, r->model_requested);
        bind_text(q, 15, r->params);
        bind_text(q, 16, r->body);
        bind_text(q, 17, r->reasoning);
        sqlite3_bind_int(q, 18, r->tokens_estimated);
        bind_text(q, 19, r->structured);
        sqlite3_bind_int(q, 20, r->configs);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            goto out_rollback;
        *last_id = sqlite3_last_insert_rowid(db_handle(db));
        if (!first) {
            first = *last_id;
            sqlite3_stmt *u = db_stmt(db, "UPDATE llm_calls SET proposal = id WHERE id = ?");
            if (!u)
                goto out_rollback;
            sqlite3_bind_int64(u, 1, first);
            rc = sqlite3_step(u);
            sqlite3_reset(u);
            if (rc != SQLITE_DONE)
                goto out_rollback;
        }
    }
    sqlite3_stmt *u = db_stmt(db, "UPDATE studies SET tokens_in = tokens_in + ?, tokens_out = "
                                  "tokens_out + ?, cost_usd = cost_usd + ? WHERE id = ?");
    if (!u)
        goto out_rollback;
    sqlite3_bind_int64(u, 1, tokens_in);
    sqlite3_bind_int64(u, 2, tokens_out);
    sqlite3_bind_double(u, 3, cost > 0 ? cost : 0);
    sqlite3_bind_int64(u, 4, study_id);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    if (rc != SQLITE_DONE || db_commit(db) < 0)
        goto out_rollback;
    return 0;
out_rollback:
    db_rollback(db);
    *last_id = 0;
    return -1;
}

static char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? strdup((const char *)t) : NULL;
}

void store_llm_call_rows_free(struct llm_call_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        struct llm_call_row *r = &rows[i];
        free(r->provider);
        free(r->model);
        free(r->model_requested);
        free(r->messages);
        free(r->body);
        free(r->params);
        free(r->structured);
        free(r->reply);
        free(r->reasoning);
        free(r->error);
        free(r->trials);
    }
    free(rows);
}

int store_llm_calls_page(struct db *db, long long study_id, long long after, long limit,
                         struct llm_call_row **rows, size_t *n, bool *more)
{
    *rows = NULL;
    *n = 0;
    *more = false;
    sqlite3_stmt *q = db_stmt(
        db, "SELECT id, COALESCE(proposal, id), attempt, at, provider, model, model_requested, "
            "request, body, params, structured, reply, reasoning, error, trials, tokens_in, "
            "tokens_out, tokens_estimated, latency_ms, status, configs FROM llm_calls WHERE "
            "study_id = ? AND id > ? ORDER BY id LIMIT ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_int64(q, 2, after);
    sqlite3_bind_int64(q, 3, limit + 1);
    struct llm_call_row *v = calloc((size_t)limit + 1, sizeof *v);
    if (!v) {
        sqlite3_reset(q);
        return -1;
    }
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((long)k == limit) {
            *more = true;
            break;
        }
        struct llm_call_row *r = &v[k++];
        r->id = sqlite3_column_int64(q, 0);
        r->proposal = sqlite3_column_int64(q, 1);
        r->attempt = sqlite3_column_int(q, 2);
        r->at_ms = sqlite3_column_int64(q, 3);
        r->provider = col_text(q, 4);
        r->model = col_text(q, 5);
        r->model_requested = col_text(q, 6);
        r->messages = col_text(q, 7);
        r->body = col_text(q, 8);
        r->params = col_text(q, 9);
        r->structured = col_text(q, 10);
        r->reply = col_text(q, 11);
        r->reasoning = col_text(q, 12);
        r->error = col_text(q, 13);
        r->trials = col_text(q, 14);
        r->tokens_in = (long)sqlite3_column_int64(q, 15);
        r->tokens_out = (long)sqlite3_column_int64(q, 16);
        r->tokens_estimated = sqlite3_column_int(q, 17) != 0;
        r->latency_ms = (long)sqlite3_column_int64(q, 18);
        r->status = sqlite3_column_type(q, 19) == SQLITE_NULL ? 0 : sqlite3_column_int(q, 19);
        r->configs = sqlite3_column_int(q, 20);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_llm_call_rows_free(v, k);
        return -1;
    }
    *rows = v;
    *n = k;
    return 0;
}

int store_llm_call_add_trial(struct db *db, long long call_id, long long number)
{
    sqlite3_stmt *q =
        db_stmt(db, "UPDATE llm_calls SET trials = json_insert(trials, '$[#]', ?1) WHERE id = ?2");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, number);
    sqlite3_bind_int64(q, 2, call_id);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

void store_llm_history_free(struct llm_trial_reply *replies, size_t n, char *rejected_reply,
                            char *rejected_reason)
{
    for (size_t i = 0; replies && i < n; i++)
        free(replies[i].reply);
    free(replies);
    free(rejected_reply);
    free(rejected_reason);
}

int store_llm_history(struct db *db, long long study_id, struct llm_trial_reply **replies,
                      size_t *n, char **rejected_reply, char **rejected_reason)
{
    *replies = NULL;
    *n = 0;
    *rejected_reply = *rejected_reason = NULL;
    sqlite3_stmt *q = db_stmt(db, "SELECT j.value, c.reply FROM llm_calls c, json_each(c.trials) j "
                                  "WHERE c.study_id = ? AND c.trials != '[]' AND c.reply IS NOT "
                                  "NULL ORDER BY j.value");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            struct llm_trial_reply *v = realloc(*replies, cap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            *replies = v;
        }
        struct llm_trial_reply *t = &(*replies)[*n];
        t->number = sqlite3_column_int64(q, 0);
        t->reply = col_text(q, 1);
        if (t->reply)
            (*n)++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        goto out_fail;
    /* the last exchange of the latest proposal, when its reply was read and
     * rejected (propose marks those errors "invalid reply: ") */
    sqlite3_stmt *l = db_stmt(db, "SELECT reply, substr(error, 16) FROM llm_calls WHERE study_id = "
                                  "? AND id = (SELECT MAX(id) FROM llm_calls WHERE study_id = ?) "
                                  "AND configs = 0 AND error LIKE 'invalid reply: %'");
    if (!l)
        goto out_fail;
    sqlite3_bind_int64(l, 1, study_id);
    sqlite3_bind_int64(l, 2, study_id);
    rc = sqlite3_step(l);
    if (rc == SQLITE_ROW && sqlite3_column_type(l, 0) != SQLITE_NULL &&
        sqlite3_column_type(l, 1) != SQLITE_NULL) {
        *rejected_reply = col_text(l, 0);
        *rejected_reason = col_text(l, 1);
    }
    sqlite3_reset(l);
    return 0;
out_fail:
    store_llm_history_free(*replies, *n, NULL, NULL);
    *replies = NULL;
    *n = 0;
    return -1;
}
