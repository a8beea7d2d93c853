#include <config.h>
#include "dbcheck.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Findings beyond this many per check are counted, not listed. */
#define CHECK_LIST_MAX 50

/* The schema's own rules, each a query whose rows (one text column) are the
 * trials or studies that break it. */
static const char *const invariants[] = {
    "SELECT printf('trial %d (study \"%s\" #%d) is completed without a value', t.id, "
    "COALESCE(s.name, '?'), t.number) FROM trials t LEFT JOIN studies s ON s.id = t.study_id "
    "WHERE t.state = 'completed' AND t.value IS NULL AND t.values_json IS NULL",
    "SELECT printf('trial %d (study \"%s\" #%d) is %s but has a value', t.id, "
    "COALESCE(s.name, '?'), t.number, t.state) FROM trials t LEFT JOIN studies s ON s.id = "
    "t.study_id WHERE t.state IN ('pending', 'running') AND t.value IS NOT NULL",
    "SELECT printf('trial %d (study \"%s\" #%d) is running without a lease (holder or "
    "deadline missing)', t.id, COALESCE(s.name, '?'), t.number) FROM trials t LEFT JOIN "
    "studies s ON s.id = t.study_id WHERE t.state = 'running' AND (t.worker IS NULL OR "
    "t.lease_expires_at IS NULL OR t.attempts < 1)",
    "SELECT printf('trial %d (study \"%s\" #%d) is %s but holds a lease', t.id, "
    "COALESCE(s.name, '?'), t.number, t.state) FROM trials t LEFT JOIN studies s ON s.id = "
    "t.study_id WHERE t.state <> 'running' AND t.lease_expires_at IS NOT NULL",
    "SELECT printf('trial %d (study \"%s\" #%d) is %s without a finish time', t.id, "
    "COALESCE(s.name, '?'), t.number, t.state) FROM trials t LEFT JOIN studies s ON s.id = "
    "t.study_id WHERE t.state IN ('completed', 'failed', 'pruned') AND t.finished_at IS NULL",
    "SELECT printf('trial %d (study \"%s\" #%d) has a state hpod does not know: \"%s\"', t.id, "
    "COALESCE(s.name, '?'), t.number, t.state) FROM trials t LEFT JOIN studies s ON s.id = "
    "t.study_id WHERE t.state NOT IN ('pending', 'running', 'completed', 'failed', 'pruned')",
    "SELECT printf('trial %d (study \"%s\" #%d) has params that are not a JSON object', t.id, "
    "COALESCE(s.name, '?'), t.number) FROM trials t LEFT JOIN studies s ON s.id = t.study_id "
    "WHERE NOT json_valid(t.params) OR json_type(t.params) <> 'object'",
    "SELECT printf('study \"%s\": next_number %d is not above its largest trial number %d', "
    "s.name, s.next_number, max(t.number)) FROM studies s JOIN trials t ON t.study_id = s.id "
    "GROUP BY s.id HAVING max(t.number) >= s.next_number",
    "SELECT printf('study \"%s\" has a state hpod does not know: \"%s\"', name, state) FROM "
    "studies WHERE state NOT IN ('running', 'paused', 'finished')",
    "SELECT printf('study \"%s\" has a spec that is not JSON', name) FROM studies WHERE NOT "
    "json_valid(spec)",
};

struct checker {
    sqlite3 *h;               /* the read-only connection */
    check_finding_fn finding; /* told of each */
    void *arg;                /* its argument */
    long n;                   /* findings so far */
};

static void tell(struct checker *c, const char *text)
{
    c->n++;
    c->finding(c->arg, text);
}

/* Run sql; each row's first column (with prefix) is a finding, except the
 * single row "ok" of SQLite's checks. A query that fails is a finding too. */
static void run(struct checker *c, const char *sql, const char *prefix)
{
    sqlite3_stmt *q;
    char line[1200];
    if (sqlite3_prepare_v2(c->h, sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(line, sizeof line, "%scannot run the check: %s", prefix, sqlite3_errmsg(c->h));
        tell(c, line);
        return;
    }
    long rows = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        if (rows == 0 && text && strcmp(text, "ok") == 0 && strstr(sql, "_check"))
            continue;
        rows++;
        if (rows <= CHECK_LIST_MAX) {
            snprintf(line, sizeof line, "%s%s", prefix, text ? text : "(null)");
            tell(c, line);
        } else {
            c->n++;
        }
    }
    if (rows > CHECK_LIST_MAX) {
        snprintf(line, sizeof line, "%s... and %ld more like these", prefix, rows - CHECK_LIST_MAX);
        c->finding(c->arg, line);
    }
    if (rc != SQLITE_DONE) {
        snprintf(line, sizeof line, "%sthe check stopped: %s", prefix, sqlite3_errmsg(c->h));
        tell(c, line);
    }
    sqlite3_finalize(q);
}

long check_database(const char *path, check_finding_fn finding, void *arg, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) < 0) {
        snprintf(err, errlen, "no database \"%s\"", path);
        return -1;
    }
    if (sb.st_size == 0) {
        snprintf(err, errlen, "database \"%s\" is an empty file", path);
        return -1;
    }
    struct checker c = {NULL, finding, arg, 0};
    if (sqlite3_open_v2(path, &c.h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open \"%s\": %s", path,
                 c.h ? sqlite3_errmsg(c.h) : "out of memory");
        sqlite3_close(c.h);
        return -1;
    }
    sqlite3_busy_timeout(c.h, 10000);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(c.h,
                                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                "name IN ('studies', 'trials')",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "\"%s\" cannot be read as an SQLite database: %s", path,
                 sqlite3_errmsg(c.h));
        sqlite3_finalize(q);
        sqlite3_close(c.h);
        return -1;
    }
    bool ours = sqlite3_column_int(q, 0) == 2;
    sqlite3_finalize(q);
    run(&c, "PRAGMA integrity_check(100)", "integrity_check: ");
    run(&c,
        "SELECT printf('%s row %d refers to a missing row of %s', \"table\", rowid, parent) "
        "FROM pragma_foreign_key_check",
        "foreign keys: ");
    if (!ours) {
        tell(&c, "not an hpod database: it has no studies and trials tables");
    } else {
        for (size_t i = 0; i < sizeof invariants / sizeof *invariants; i++)
            run(&c, invariants[i], "");
    }
    sqlite3_close(c.h);
    return c.n;
}
