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
#include "tokens.h"
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
    enum role r = tokens_role_parse(role);
    if (r == ROLE_NONE) {
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
    char why[512];
    if (tokens_add(db, name, r, hash, time_now_ms(), why, sizeof why) < 0) {
        fprintf(stderr, "hpod: cannot add token \"%s\": %s\n", name, why);
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
    struct token_list all;
    if (tokens_all(db, &all) < 0) {
        fprintf(stderr, "hpod: cannot read the tokens: %s\n", db_errmsg(db));
        return 1;
    }
    printf("%-24s %-7s %-26s %s\n", "NAME", "ROLE", "CREATED", "STATE");
    for (size_t i = 0; i < all.n; i++) {
        char at[40];
        time_format_rfc3339(all.rows[i].created_at, at, sizeof at);
        printf("%-24s %-7s %-26s %s\n", all.rows[i].name, tokens_role_name(all.rows[i].role), at,
               all.rows[i].revoked ? "revoked" : "active");
    }
    tokens_list_release(&all);
    return 0;
}

static int token_revoke(struct db *db, const char *name)
{
    char why[512];
    int rc = tokens_revoke(db, name, time_now_ms(), why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "hpod: cannot revoke token \"%s\": %s\n", name, why);
        return 1;
    }
    if (rc == 0) {
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
