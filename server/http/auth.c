#include <config.h>
#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sha256.h"

struct token {
    char hash[65];  /* hex SHA-256 */
    enum role role; /* what it may do */
    long long id;   /* its row id */
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct token *tokens;
static size_t n_tokens;
static bool ever; /* a token was ever added (even if all are revoked now) */

void auth_hash(const char *text, char out[65])
{
    uint8_t d[32];
    sha256(text, strlen(text), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int auth_reload(struct db *db)
{
    if (!db)
        return -1;
    struct token_list stored;
    if (tokens_active(db, &stored) < 0)
        return -1;
    struct token *list = stored.n ? calloc(stored.n, sizeof *list) : NULL;
    if (stored.n && !list) {
        tokens_list_release(&stored);
        return -1;
    }
    for (size_t i = 0; i < stored.n; i++) {
        memcpy(list[i].hash, stored.rows[i].hash, sizeof list[i].hash);
        list[i].role = stored.rows[i].role;
        list[i].id = stored.rows[i].id;
    }
    pthread_rwlock_wrlock(&lock);
    ever = stored.ever;
    free(tokens);
    tokens = list;
    n_tokens = stored.n;
    pthread_rwlock_unlock(&lock);
    tokens_list_release(&stored);
    return 0;
}

bool auth_open(void)
{
    pthread_rwlock_rdlock(&lock);
    bool open = !ever;
    pthread_rwlock_unlock(&lock);
    return open;
}

size_t auth_token_count(void)
{
    pthread_rwlock_rdlock(&lock);
    size_t n = n_tokens;
    pthread_rwlock_unlock(&lock);
    return n;
}

/* Compare two 64-character hex strings in time independent of where they differ. */
static bool same_hash(const char *a, const char *b)
{
    unsigned diff = 0;
    for (int i = 0; i < 64; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

int auth_check(const char *authorization, enum role need, enum role *role, char *why, size_t whylen)
{
    long long id;
    return auth_check_id(authorization, need, role, &id, why, whylen);
}

int auth_check_id(const char *authorization, enum role need, enum role *role, long long *token_id,
                  char *why, size_t whylen)
{
    *token_id = 0;
    pthread_rwlock_rdlock(&lock);
    if (!ever) {
        /* no token was ever made: the open mode of a loopback daemon */
        pthread_rwlock_unlock(&lock);
        *role = ROLE_ADMIN;
        return 0;
    }
    *role = ROLE_NONE;
    const char *tok = NULL;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0)
        tok = authorization + 7;
    if (!tok || !*tok) {
        pthread_rwlock_unlock(&lock);
        if (need == ROLE_NONE)
            return 0; /* open routes: /healthz, version, the API description */
        snprintf(why, whylen, "a token is required: send \"Authorization: Bearer TOKEN\"");
        return -1;
    }
    char h[65];
    auth_hash(tok, h);
    enum role found = ROLE_NONE;
    long long found_id = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        if (same_hash(h, tokens[i].hash)) {
            found = tokens[i].role;
            found_id = tokens[i].id;
        }
    }
    pthread_rwlock_unlock(&lock);
    if (found == ROLE_NONE) {
        snprintf(why, whylen, "the token is not valid (unknown or revoked)");
        return -1;
    }
    *role = found;
    *token_id = found_id;
    if (found < need) {
        snprintf(why, whylen, "this needs the %s role; the token has the %s role",
                 tokens_role_name(need), tokens_role_name(found));
        return -1;
    }
    return 0;
}
