#ifndef DB_H
#define DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* One SQLite connection with its cache of prepared statements. Each thread has
 * its own (db_thread()); a connection is never shared between threads. */
struct db;

/* Set the database file and open it once to apply pending migrations; prints a
 * clear line and returns -1 when the file cannot be opened or migrated, is
 * empty (a failed copy is not taken for a new database), read-only, not an
 * SQLite file, another program's SQLite file, or fails PRAGMA quick_check (a
 * damaged database is refused rather than served with rows missing). */
int db_setup(const char *path, bool sync_full);
/* The cheap part of db_setup()'s refusals (an empty, read-only, non-SQLite or
 * foreign file), reading only: to run before db_lock() makes its lock file
 * beside a file that is not hpod's. 0, or -1 with the reason in err. */
int db_check_file(const char *path, char *err, size_t errlen);
/* Take the exclusive lock of the database at path (flock on "PATH-lock", which
 * gets this process's id) for the rest of the process's life: one daemon per
 * database, since leases live partly in its memory. 0, or -1 with the reason
 * (naming the process that holds it) in err. */
int db_lock(const char *path, char *err, size_t errlen);
/* Cap the database file at n pages on every connection opened from now on
 * (PRAGMA max_page_count; 0 = no cap): writes past it fail as "database or
 * disk is full", which is how a full disk is tested. */
void db_set_max_pages(long n);
/* How long a transaction waits for another process's write lock (SQLite's
 * busy timeout), and for this process's other writers, before it fails as
 * busy: ms, for every connection (default 10000). */
void db_set_busy_timeout(int ms);
/* Make this connection's transactions wait at most ms (>= 0) for the write
 * lock of this process and none for another process's, and not run again
 * when busy, so that the caller hears SQLITE_BUSY at once and can hand the
 * work to a thread that may wait (the HTTP threads do); -1 restores the busy
 * timeout and the retries. Reads are not affected but for SQLite's rare
 * busy reads (WAL recovery). */
void db_set_patience(struct db *db, int ms);
/* True when the last failure was SQLITE_BUSY (the write lock not had in time). */
bool db_busy(struct db *db);
/* Start and stop the thread that checkpoints the WAL when a commit takes it
 * past 4000 pages (without it, the committing thread does). */
int db_checkpointer_start(void);
void db_checkpointer_stop(void);
/* The calling thread's connection, opened on first use; NULL on failure. */
struct db *db_thread(void);
/* Close the calling thread's connection now (also done at thread exit). */
void db_thread_close(void);
/* Open a private connection (for tools and tests); free with db_close(). */
struct db *db_open(const char *path, char *err, size_t errlen);
/* Close a connection from db_open(); accepts NULL. */
void db_close(struct db *db);
/* The raw handle (borrowed). */
sqlite3 *db_handle(struct db *db);
/* A prepared statement for sql, which must be a string literal (its address is the
 * cache key). The statement is reset and its bindings cleared. Borrowed. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK; 0 or -1. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* Run one unit of work as one transaction: BEGIN IMMEDIATE, fn(db, ctx),
 * then COMMIT when fn returns 0 or ROLLBACK when it returns -1. When the
 * database was busy (another process held the write lock past busy_timeout,
 * at BEGIN, in a statement or at COMMIT), the whole unit is rolled back and run
 * again, up to DB_RUN_TRIES times, so fn must keep no state between runs but
 * what it writes to ctx afresh. Returns 0 once committed, -1 otherwise (fn's
 * own failure, or the database's: db_errmsg() and db_unavailable() say which).
 * The only way the store writes. */
#define DB_RUN_TRIES 3
int db_run(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx);
/* The last error message of the connection (borrowed); when a later call
 * reset it, the last error SQLite reported on this thread since the unit of
 * work began, never "not an error" after a failure. */
const char *db_errmsg(struct db *db);
/* True when the last error was the disk being full, read-only or I/O: the
 * request should answer 503 rather than 500. */
bool db_unavailable(struct db *db);
/* Schema version of the opened database. */
int db_user_version(struct db *db);

#endif
