#include <config.h>
#include "token.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "db.h"
#include "settings.h"
#include "timeutil.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: hpod [--db FILE] token add --role admin|worker|read [--from-env VAR] NAME\n"
            "       hpod [--db FILE] token list\n"
            "       hpod [--db FILE] token revoke NAME\n");
    return 2;
}

static int random_token(char out[65])
{
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int token_add(struct db *db, int argc, char **argv)
{
    const char *role = NULL, *name = NULL, *from_env = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "--from-env") == 0 && i + 1 < argc)
            from_env = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return usage();
    }
    if (!role || !name)
        return usage();
    if (auth_role_parse(role) < 0) {
        fprintf(stderr, "hpod: role \"%s\" is not admin, worker or read\n", role);
        return 2;
    }
    char tok[65], hash[65];
    if (from_env) {
        /* register a token chosen elsewhere (a secret store), never printed */
        const char *v = getenv(from_env);
        if (!v || strlen(v) < 16) {
            fprintf(stderr,
                    "hpod: environment variable %s must hold a token of at least 16 "
                    "characters\n",
                    from_env);
            return 2;
        }
        auth_hash(v, hash);
    } else {
        if (random_token(tok) < 0) {
            fprintf(stderr, "hpod: cannot read /dev/urandom\n");
            return 1;
        }
        auth_hash(tok, hash);
    }
    sqlite3_stmt *q = db_stmt(db, "INSERT INTO tokens (name, role, hash, created_at) VALUES "
                                  "(?, ?, ?, ?)");
    if (!q)
        return 1;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, time_now_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "hpod: cannot add token \"%s\": %s\n", name,
                (rc & 0xff) == SQLITE_CONSTRAINT ? "the name is taken" : db_errmsg(db));
        return 1;
    }
    /* The token is shown once; only its hash is kept. */
    if (!from_env)
        printf("%s\n", tok);
    fprintf(stderr, "token \"%s\" (%s) added; it is shown only now\n", name, role);
    return 0;
}

static int token_list(struct db *db)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT name, role, created_at, revoked_at FROM tokens "
                                  "ORDER BY id");
    if (!q)
        return 1;
    printf("%-24s %-7s %-26s %s\n", "NAME", "ROLE", "CREATED", "STATE");
    while (sqlite3_step(q) == SQLITE_ROW) {
        char at[40];
        time_format_rfc3339(sqlite3_column_int64(q, 2), at, sizeof at);
        printf("%-24s %-7s %-26s %s\n", (const char *)sqlite3_column_text(q, 0),
               (const char *)sqlite3_column_text(q, 1), at,
               sqlite3_column_type(q, 3) == SQLITE_NULL ? "active" : "revoked");
    }
    sqlite3_reset(q);
    return 0;
}

static int token_revoke(struct db *db, const char *name)
{
    sqlite3_stmt *q = db_stmt(db, "UPDATE tokens SET revoked_at = ? WHERE name = ? AND "
                                  "revoked_at IS NULL");
    if (!q)
        return 1;
    sqlite3_bind_int64(q, 1, time_now_ms());
    sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "hpod: %s\n", db_errmsg(db));
        return 1;
    }
    if (sqlite3_changes(db_handle(db)) == 0) {
        fprintf(stderr, "hpod: no active token named \"%s\"\n", name);
        return 1;
    }
    fprintf(stderr, "token \"%s\" revoked\n", name);
    return 0;
}

int token_main(int argc, char **argv)
{
    if (argc < 1)
        return usage();
    if (db_setup(cfg.db_path, cfg.sync_full) < 0)
        return 1;
    struct db *db = db_thread();
    if (!db)
        return 1;
    int rc;
    if (strcmp(argv[0], "add") == 0)
        rc = token_add(db, argc - 1, argv + 1);
    else if (strcmp(argv[0], "list") == 0 && argc == 1)
        rc = token_list(db);
    else if (strcmp(argv[0], "revoke") == 0 && argc == 2)
        rc = token_revoke(db, argv[1]);
    else
        rc = usage();
    db_thread_close();
    return rc;
}
