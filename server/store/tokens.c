#include <config.h>
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

const char *tokens_role_name(enum role role)
{
    switch (role) {
    case ROLE_ADMIN:
        return "admin";
    case ROLE_WORKER:
        return "worker";
    case ROLE_READ:
        return "read";
    case ROLE_NONE:
        break;
    }
    return "none";
}

enum role tokens_role_parse(const char *name)
{
    if (strcmp(name, "admin") == 0)
        return ROLE_ADMIN;
    if (strcmp(name, "worker") == 0)
        return ROLE_WORKER;
    if (strcmp(name, "read") == 0)
        return ROLE_READ;
    return ROLE_NONE;
}

void tokens_list_release(struct token_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->rows[i].name);
    free(l->rows);
    l->rows = NULL;
    l->n = 0;
}

/* Append the row q stands on to l; -1 when out of memory. */
static int append_row(struct token_list *l, size_t *cap, sqlite3_stmt *q)
{
    if (l->n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 8;
        struct token_row *grown = realloc(l->rows, grown_cap * sizeof *grown);
        if (!grown)
            return -1;
        l->rows = grown;
        *cap = grown_cap;
    }
    struct token_row *t = &l->rows[l->n];
    const char *name = (const char *)sqlite3_column_text(q, 0);
    const char *role = (const char *)sqlite3_column_text(q, 1);
    const char *hash = (const char *)sqlite3_column_text(q, 2);
    t->name = strdup(name ? name : "");
    if (!t->name)
        return -1;
    t->role = role ? tokens_role_parse(role) : ROLE_NONE;
    snprintf(t->hash, sizeof t->hash, "%s", hash ? hash : "");
    t->created_at = sqlite3_column_int64(q, 3);
    t->revoked = sqlite3_column_type(q, 4) != SQLITE_NULL;
    t->id = sqlite3_column_int64(q, 5);
    l->n++;
    return 0;
}

/* Every row q selects (name, role, hash, created_at, revoked_at, id) into out. */
static int read_rows(sqlite3_stmt *q, struct token_list *out)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (append_row(out, &cap, q) < 0) {
            sqlite3_reset(q);
            tokens_list_release(out);
            return -1;
        }
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        tokens_list_release(out);
        return -1;
    }
    return 0;
}

int tokens_active(struct db *db, struct token_list *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = db_stmt(db, "SELECT name, role, hash, created_at, revoked_at, id FROM "
                                  "tokens WHERE revoked_at IS NULL ORDER BY id");
    if (!q || read_rows(q, out) < 0)
        return -1;
    out->ever = out->n > 0;
    sqlite3_stmt *c = db_stmt(db, "SELECT EXISTS (SELECT 1 FROM tokens)");
    if (!c) {
        tokens_list_release(out);
        return -1;
    }
    int rc = sqlite3_step(c);
    if (rc == SQLITE_ROW)
        out->ever = sqlite3_column_int(c, 0) != 0;
    sqlite3_reset(c);
    if (rc != SQLITE_ROW) {
        tokens_list_release(out);
        return -1;
    }
    return 0;
}

int tokens_all(struct db *db, struct token_list *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = db_stmt(db, "SELECT name, role, hash, created_at, revoked_at, id FROM "
                                  "tokens ORDER BY id");
    if (!q || read_rows(q, out) < 0)
        return -1;
    out->ever = out->n > 0;
    return 0;
}

/* What tokens_add's transaction needs and tells. */
struct add_ctx {
    const char *name; /* borrowed */
    enum role role;   /* the role */
    const char *hash; /* borrowed */
    int64_t now_ms;   /* creation time */
    char why[256];    /* the failure, from inside the transaction */
};

static int add_tx(struct db *db, void *arg)
{
    struct add_ctx *a = arg;
    sqlite3_stmt *q =
        db_stmt(db, "INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)");
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tokens_role_name(a->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, a->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, a->now_ms);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return 0;
    const char *msg = db_errmsg(db);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        msg =
            strstr(msg, "tokens.hash") ? "another token has the same secret" : "the name is taken";
    snprintf(a->why, sizeof a->why, "%s", msg);
    return -1;
}

int tokens_add(struct db *db, const char *name, enum role role, const char *hash, int64_t now_ms,
               char *why, size_t whylen)
{
    if (role == ROLE_NONE) {
        snprintf(why, whylen, "a token needs the admin, worker or read role");
        return -1;
    }
    struct add_ctx a = {name, role, hash, now_ms, ""};
    if (db_run(db, add_tx, &a) == 0)
        return 0;
    snprintf(why, whylen, "%s", a.why[0] ? a.why : db_errmsg(db));
    return -1;
}

/* What tokens_revoke's transaction needs and tells. */
struct revoke_ctx {
    const char *name; /* borrowed */
    int64_t now_ms;   /* revocation time */
    int changed;      /* rows revoked */
    char why[256];    /* the failure, from inside the transaction */
};

static int revoke_tx(struct db *db, void *arg)
{
    struct revoke_ctx *v = arg;
    sqlite3_stmt *q =
        db_stmt(db, "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, v->now_ms);
    sqlite3_bind_text(q, 2, v->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        snprintf(v->why, sizeof v->why, "%s", db_errmsg(db));
        return -1;
    }
    v->changed = sqlite3_changes(db_handle(db));
    return 0;
}

int tokens_revoke(struct db *db, const char *name, int64_t now_ms, char *why, size_t whylen)
{
    struct revoke_ctx v = {name, now_ms, 0, ""};
    if (db_run(db, revoke_tx, &v) < 0) {
        snprintf(why, whylen, "%s", v.why[0] ? v.why : db_errmsg(db));
        return -1;
    }
    return v.changed > 0 ? 1 : 0;
}
