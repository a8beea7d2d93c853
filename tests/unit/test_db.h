#ifndef TEST_DB_H
#define TEST_DB_H

/* A temporary database for the store's tests, and studies created through the
 * store from a spec given as JSON text. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "jsonutil.h"
#include "log.h"
#include "spec.h"
#include "store.h"

static char tdb_path[512];

/* A fresh database file with the schema; a connection to it. */
static struct db *tdb_up(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(tdb_path, sizeof tdb_path, "%s/test_store.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tdb_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(tdb_path); /* a new database: hpod refuses an empty file */
    log_set_level(LOG_ERROR);
    db_set_max_pages(0);
    ck_assert_int_eq(db_setup(tdb_path, false), 0);
    char err[256];
    struct db *db = db_open(tdb_path, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    return db;
}

static void tdb_down(struct db *db)
{
    db_close(db);
    store_spec_cache_free();
    char p[600];
    unlink(tdb_path);
    snprintf(p, sizeof p, "%s-wal", tdb_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", tdb_path);
    unlink(p);
}

static json_t *tdb_json(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

/* A study named name with one float x in [0, 1] and the given extra members
 * of the spec (e.g. "\"budget\": {...}"), created through the store. */
static void tdb_study(struct db *db, const char *name, const char *extra, struct study *st)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"%s\", \"sampler\": {\"name\": \"random\"}, \"params\": [{\"name\": "
             "\"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]%s%s}",
             name, extra && *extra ? ", " : "", extra ? extra : "");
    json_t *in = tdb_json(text);
    char err[512];
    struct spec *sp = spec_parse(in, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    struct study_info info;
    bool created;
    struct serr e;
    ck_assert_msg(store_study_create(db, in, sp, &info, &created, &e) == 0, "%s", e.msg);
    ck_assert(created);
    store_study_info_release(&info);
    spec_free(sp);
    json_decref(in);
    ck_assert_msg(store_study_load(db, name, st, &e) == 0, "%s", e.msg);
}

/* One value of the database: the first column of the first row of sql. */
static long long tdb_int(struct db *db, const char *sql)
{
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db), sql, -1, &q, NULL), SQLITE_OK);
    long long v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    return v;
}

#endif
