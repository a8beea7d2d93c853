#ifndef TOKENS_H
#define TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* API tokens as stored: a unique name, a role and the hex SHA-256 of the
 * secret (the secret itself is never stored). A revoked token keeps its row. */

struct db;

/* What a caller may do; each role allows what the ones below it allow. */
enum role { ROLE_NONE = 0, ROLE_READ = 1, ROLE_WORKER = 2, ROLE_ADMIN = 3 };

/* "admin", "worker", "read", or "none" for ROLE_NONE (static strings). */
const char *tokens_role_name(enum role role);
/* The role a name (borrowed) stands for; ROLE_NONE when it is none of the three. */
enum role tokens_role_parse(const char *name);

/* One stored token. */
struct token_row {
    char *name;         /* owned */
    enum role role;     /* its role (ROLE_NONE when the stored text is unknown) */
    char hash[65];      /* hex SHA-256 of the secret */
    int64_t created_at; /* ms since the epoch */
    bool revoked;       /* revoked_at is set */
    long long id;       /* its row id: what a lease records of the token that took it */
};

/* Tokens read in one go; release with tokens_list_release. */
struct token_list {
    struct token_row *rows; /* owned, n of them */
    size_t n;               /* rows */
    bool ever;              /* some token was ever added, revoked or not */
};

/* The active tokens (not revoked), and whether any token row exists, into
 * *out. 0, or -1 with nothing to release (db_errmsg() says why). */
int tokens_active(struct db *db, struct token_list *out);
/* Every token, revoked ones too, in the order they were added. 0 or -1. */
int tokens_all(struct db *db, struct token_list *out);
/* Free the rows; accepts a list that was never filled (all zero). */
void tokens_list_release(struct token_list *l);
/* Add a token (name and hash borrowed) created at now_ms, in one
 * transaction. 0, or -1 with the reason in why ("the name is taken", "another
 * token has the same secret", or the database's message). */
int tokens_add(struct db *db, const char *name, enum role role, const char *hash, int64_t now_ms,
               char *why, size_t whylen);
/* Revoke the active token named name (borrowed) at now_ms, in one
 * transaction. 1 when one was revoked, 0 when no active token has that name,
 * -1 with the database's message in why. */
int tokens_revoke(struct db *db, const char *name, int64_t now_ms, char *why, size_t whylen);

#endif
