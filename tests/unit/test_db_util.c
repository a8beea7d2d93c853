#include <config.h>
#include "test_db_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

static char db_path[512];

struct db *test_db_up(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(db_path, sizeof db_path, "%s/test_store.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(db_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(db_path); /* a new database: hpod refuses an empty file */
    log_set_level(LOG_WARN);
    ck_assert_int_eq(db_setup(db_path, false), 0);
    struct db *db = db_thread();
    ck_assert_ptr_nonnull(db);
    return db;
}

void test_db_down(void)
{
    db_thread_close();
    char p[600];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
}
