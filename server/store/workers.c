#include <config.h>
#include "store.h"

#include "log.h"
#include "store_int.h"
#include "timeutil.h"

int store_worker_result(struct db *db, long long study_id, const char *worker, bool failed,
                        const struct worker_limits *lim)
{
    /* A success with nothing to reset writes nothing, unless last_seen is
     * over 10 s old. */
    int64_t now = time_now_ms();
    sqlite3_stmt *q =
        db_stmt(db, "INSERT INTO workers (study_id, worker, last_seen, consecutive_failures) "
                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (study_id, worker) DO UPDATE SET "
                    "last_seen = ?3, consecutive_failures = CASE WHEN ?4 = 0 THEN 0 ELSE "
                    "consecutive_failures + 1 END WHERE ?4 != 0 OR consecutive_failures != 0 "
                    "OR last_seen < ?3 - 10000 RETURNING consecutive_failures");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_text(q, 2, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int(q, 4, failed ? 1 : 0);
    int n = 0;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        n = sqlite3_column_int(q, 0);
        rc = sqlite3_step(q);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return -1;
    int64_t until = failed ? lifecycle_cut_off_until(n, lim, now) : 0;
    if (until == 0)
        return 0;
    sqlite3_stmt *b = db_stmt(db, "UPDATE workers SET blocked_until = ?, "
                                  "consecutive_failures = 0 WHERE study_id = ? AND worker = ?");
    if (!b)
        return -1;
    sqlite3_bind_int64(b, 1, until);
    sqlite3_bind_int64(b, 2, study_id);
    sqlite3_bind_text(b, 3, worker, -1, SQLITE_STATIC);
    rc = sqlite3_step(b);
    sqlite3_reset(b);
    if (rc != SQLITE_DONE)
        return -1;
    log_warn("worker \"%s\" failed %d trials in a row: no new trials for %d s", worker, n,
             lim->cooldown_s);
    return 0;
}

int store_worker_blocked_until(struct db *db, long long study_id, const char *worker,
                               int64_t *until)
{
    *until = 0;
    sqlite3_stmt *q = db_stmt(db, "SELECT blocked_until FROM workers WHERE study_id = ? AND "
                                  "worker = ?");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_text(q, 2, worker, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *until = sqlite3_column_int64(q, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}
