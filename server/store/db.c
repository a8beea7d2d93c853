#include <config.h>
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "locks.h"
#include "log.h"

extern const char *const schema_migrations[];
extern const size_t schema_migration_count;

#define STMT_CACHE 96

struct stmt_slot {
    const char *sql;    /* borrowed literal, the key */
    sqlite3_stmt *stmt; /* owned */
};

struct db {
    sqlite3 *h;                         /* owned */
    struct stmt_slot slots[STMT_CACHE]; /* prepared statements */
    size_t n_slots;                     /* used slots */
    int last_rc;                        /* last failing result code */
    bool writing;                       /* holds write_lock (between begin and end) */
    int patience_ms;                    /* db_set_patience(), -1 for the busy timeout */
    int busy_ms;                        /* the busy timeout SQLite has for it now */
    int log_err;                        /* the last error SQLite logged on its thread */
};

/* Writers of this process take turns here rather than in SQLite's busy handler,
 * which polls with sleeps of up to 100 ms and so stretches the tail latency when
 * many threads write at once. Other processes still meet busy_timeout. */
static struct lock write_lock = LOCK_INITIALIZER(LOCK_DB_WRITE);

/* WAL checkpoints. SQLite's default runs one inside whichever commit takes the
 * WAL past 1000 pages, with its fsyncs, so one request in a thousand waits for
 * them. Here that commit only wakes a thread that checkpoints on its own
 * connection; the hook still checkpoints inline when no such thread runs (the
 * token tool, tests) or when it falls far behind. The threshold is 4000 pages
 * (16 MB of WAL with 4 KB pages): the same few pages (the newest trials and
 * their index entries) change in every commit, and a checkpoint writes each
 * page once however often it changed, so rarer checkpoints write less. */
#define CKPT_FRAMES 4000
static struct lock ckpt_lock = LOCK_INITIALIZER(LOCK_DB_CHECKPOINT);
static pthread_cond_t ckpt_cond = PTHREAD_COND_INITIALIZER;
static pthread_t ckpt_thread;
static bool ckpt_running, ckpt_wanted;

static char *db_path;
static bool db_sync_full;
static long db_max_pages;
static int db_busy_ms = 10000;
static pthread_key_t db_key;
static pthread_once_t db_key_once = PTHREAD_ONCE_INIT;

static void db_key_destroy(void *p)
{
    db_close(p);
}

/* SQLite's error log, called on the thread that met the error: the code is
 * kept in that thread's connection (log_err), so that a failure is told with
 * its own code even when the code that meets it makes another call first (a
 * reset, a rollback), after which the connection's message would read "not an
 * error". Cleared at the start of each unit of work and whenever a thread
 * takes its connection. Connections opened with db_open() outside db_thread()
 * keep only SQLite's own last code. */
static void sqlite_log(void *arg, int code, const char *msg)
{
    (void)arg;
    (void)msg;
    int primary = code & 0xff;
    if (primary == SQLITE_OK || primary == SQLITE_NOTICE || primary == SQLITE_WARNING ||
        primary == SQLITE_SCHEMA || primary == SQLITE_ROW || primary == SQLITE_DONE)
        return;
    struct db *db = pthread_getspecific(db_key);
    if (db)
        db->log_err = code;
}

static void db_key_make(void)
{
    pthread_key_create(&db_key, db_key_destroy);
    sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL);
}

static void db_end_write(struct db *db)
{
    if (db->writing && sqlite3_get_autocommit(db->h)) {
        db->writing = false;
        lock_drop(&write_lock);
    }
}

static int exec(struct db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        db->last_rc = rc;
        log_error("sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
    (void)arg;
    if (frames < CKPT_FRAMES)
        return SQLITE_OK;
    lock_take(&ckpt_lock);
    bool background = ckpt_running;
    if (background) {
        ckpt_wanted = true;
        pthread_cond_signal(&ckpt_cond);
    }
    lock_drop(&ckpt_lock);
    if (!background || frames >= 8 * CKPT_FRAMES)
        sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

struct db *db_open(const char *path, char *err, size_t errlen)
{
    pthread_once(&db_key_once, db_key_make);
    struct db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(
        path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database \"%s\": %s", path,
                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        db_close(db);
        return NULL;
    }
    db->patience_ms = -1;
    db->busy_ms = db_busy_ms;
    sqlite3_busy_timeout(db->h, db->busy_ms);
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_wal_hook(db->h, wal_hook, NULL);
    char *msg = NULL;
    const char *pragmas = db_sync_full ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                         "PRAGMA foreign_keys=ON;"
                                       : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                         "PRAGMA foreign_keys=ON;";
    if (sqlite3_exec(db->h, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        if ((sqlite3_errcode(db->h) & 0xff) == SQLITE_NOTADB)
            snprintf(err, errlen, "\"%s\" is not an SQLite database (so not an hpod one)", path);
        else if ((sqlite3_errcode(db->h) & 0xff) == SQLITE_READONLY)
            snprintf(err, errlen, "database \"%s\" is read-only: hpod needs to write it", path);
        else
            snprintf(err, errlen, "cannot set up database \"%s\": %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        db_close(db);
        return NULL;
    }
    if (db_max_pages > 0) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA max_page_count = %ld", db_max_pages);
        if (sqlite3_exec(db->h, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "cannot set up database \"%s\": %s", path, sqlite3_errmsg(db->h));
            db_close(db);
            return NULL;
        }
    }
    return db;
}

void db_set_max_pages(long n)
{
    db_max_pages = n;
}

void db_set_busy_timeout(int ms)
{
    db_busy_ms = ms < 0 ? 0 : ms;
}

void db_set_patience(struct db *db, int ms)
{
    db->patience_ms = ms;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n_slots; i++)
        sqlite3_finalize(db->slots[i].stmt);
    if (db->h)
        sqlite3_close_v2(db->h);
    free(db);
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

int db_user_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(struct db *db, char *err, size_t errlen)
{
    int version = db_user_version(db);
    if (version < 0) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db->h));
        return -1;
    }
    if ((size_t)version > schema_migration_count) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this hpod knows (%zu): upgrade hpod",
                 version, schema_migration_count);
        return -1;
    }
    for (size_t v = (size_t)version; v < schema_migration_count; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %zu", v + 1);
        if (exec(db, "BEGIN IMMEDIATE") < 0 || exec(db, schema_migrations[v]) < 0 ||
            exec(db, pragma) < 0 || exec(db, "COMMIT") < 0) {
            snprintf(err, errlen, "schema migration %zu failed: %s", v + 1, sqlite3_errmsg(db->h));
            sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        log_info("database migrated to schema version %zu", v + 1);
    }
    return 0;
}

/* What is wrong with the file at path before SQLite opens it: a zero-length
 * file (usually a copy that failed; SQLite would take it for a new database),
 * a file or directory hpod may not write. 0 when none of these, else -1 with
 * the reason in err. A missing file is fine: it becomes a new database. */
static int db_precheck(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        return 0;
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "database \"%s\" is not a regular file", path);
        return -1;
    }
    if (sb.st_size == 0) {
        char wal[4096];
        struct stat wb;
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (stat(wal, &wb) < 0 || wb.st_size == 0) {
            snprintf(err, errlen,
                     "database \"%s\" is an empty file (a copy that failed?): restore it, or "
                     "remove it to start a new database",
                     path);
            return -1;
        }
    }
    if (access(path, W_OK) < 0) {
        snprintf(err, errlen, "database \"%s\" is read-only (%s): hpod needs to write it", path,
                 errno == EROFS ? "a read-only file system" : "no write permission");
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK) < 0) {
        snprintf(err, errlen,
                 "database \"%s\": its directory is read-only (%s): hpod writes its journal "
                 "(-wal and -shm files) beside it",
                 path, errno == EROFS ? "a read-only file system" : "no write permission");
        return -1;
    }
    return 0;
}

/* Whether an opened database is hpod's: a new (empty) one, or one whose
 * version says it was migrated and that holds the studies table. 0, or -1
 * with the reason in err. */
static int db_is_ours(struct db *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->h,
                                "SELECT (SELECT count(*) FROM sqlite_schema), (SELECT count(*) "
                                "FROM sqlite_schema WHERE type = 'table' AND name = 'studies')",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int code = sqlite3_extended_errcode(db->h) & 0xff;
        if (code == SQLITE_NOTADB)
            snprintf(err, errlen, "\"%s\" is not an SQLite database (not an hpod database)", path);
        else
            snprintf(err, errlen, "cannot read database \"%s\": %s", path, sqlite3_errmsg(db->h));
        sqlite3_finalize(st);
        return -1;
    }
    long long objects = sqlite3_column_int64(st, 0), studies = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    int version = db_user_version(db);
    if (objects > 0 && (version <= 0 || studies == 0)) {
        snprintf(err, errlen,
                 "\"%s\" is an SQLite database without hpod's schema (another program's "
                 "file?): give hpod its own file",
                 path);
        return -1;
    }
    return 0;
}

/* PRAGMA quick_check: 0 when it answers ok, else -1 with its first finding. */
static int db_quick_check(struct db *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    const char *row = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int out = 0;
    if (!row || strcmp(row, "ok") != 0) {
        char first[256];
        snprintf(first, sizeof first, "%s", row ? row : sqlite3_errmsg(db->h));
        for (char *p = first; *p; p++)
            if (*p == '\n')
                *p = ' ';
        snprintf(err, errlen,
                 "database \"%s\" is damaged (%s): run \"hpod check %s\" for the details and "
                 "restore a backup",
                 path, first, path);
        out = -1;
    }
    sqlite3_finalize(st);
    return out;
}

static int lock_fd = -1;

int db_lock(const char *path, char *err, size_t errlen)
{
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s-lock", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == EROFS || errno == EACCES))
        snprintf(err, errlen,
                 "database \"%s\" is read-only (%s): hpod needs to write it and the -lock, "
                 "-wal and -shm files beside it",
                 path, errno == EROFS ? "a read-only file system" : "no write permission");
    else if (fd < 0)
        snprintf(err, errlen, "cannot open the lock file \"%s\": %s", lock_path, strerror(errno));
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            snprintf(err, errlen,
                     "database \"%s\" is in use by another hpod%s%s%s: one daemon per "
                     "database",
                     path, *pid ? " (process " : "", pid, *pid ? ")" : "");
        else
            snprintf(err, errlen, "cannot lock \"%s\": %s", lock_path, strerror(e));
        close(fd);
        return -1;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len)
        log_warn("cannot write the process id to \"%s\"", lock_path);
    if (lock_fd >= 0)
        close(lock_fd);
    lock_fd = fd; /* held until the process ends */
    return 0;
}

/* The checks of a file that exists, on a read-only connection, so that
 * another program's database is not touched (not even switched to WAL):
 * SQLite's, hpod's schema, and with quick a PRAGMA quick_check. */
static int db_check_existing(const char *path, bool quick, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        return 0; /* a new database */
    struct db *ro = calloc(1, sizeof *ro);
    if (!ro) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sqlite3_open_v2(path, &ro->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database \"%s\": %s", path,
                 ro->h ? sqlite3_errmsg(ro->h) : sqlite3_errstr(rc));
        db_close(ro);
        return -1;
    }
    sqlite3_busy_timeout(ro->h, 10000);
    sqlite3_extended_result_codes(ro->h, 1);
    rc = db_is_ours(ro, path, err, errlen);
    if (rc == 0 && quick)
        rc = db_quick_check(ro, path, err, errlen);
    db_close(ro);
    return rc;
}

int db_check_file(const char *path, char *err, size_t errlen)
{
    pthread_once(&db_key_once, db_key_make);
    if (db_precheck(path, err, errlen) < 0)
        return -1;
    return db_check_existing(path, false, err, errlen);
}

int db_setup(const char *path, bool sync_full)
{
    pthread_once(&db_key_once, db_key_make);
    free(db_path);
    db_path = strdup(path);
    db_sync_full = sync_full;
    char err[1024];
    if (db_precheck(path, err, sizeof err) < 0 ||
        db_check_existing(path, true, err, sizeof err) < 0) {
        fprintf(stderr, "hpod: %s\n", err);
        return -1;
    }
    struct db *db = db_open(path, err, sizeof err);
    if (!db) {
        fprintf(stderr, "hpod: %s\n", err);
        return -1;
    }
    int rc = migrate(db, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "hpod: database \"%s\": %s\n", path, err);
    db_close(db);
    return rc;
}

static void *checkpointer(void *arg)
{
    (void)arg;
    char err[512];
    struct db *db = db_open(db_path, err, sizeof err);
    if (!db)
        log_error("checkpointer: %s", err);
    lock_take(&ckpt_lock);
    while (ckpt_running) {
        if (!ckpt_wanted) {
            lock_wait(&ckpt_cond, &ckpt_lock);
            continue;
        }
        lock_drop(&ckpt_lock);
        int rc = SQLITE_OK;
        if (db) {
            /* Most pages are copied while writers go on; the frames they add
             * meanwhile are copied with writers held, so that the checkpoint
             * completes and the next commit starts the WAL over. */
            rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            lock_take(&write_lock);
            if (rc == SQLITE_OK || rc == SQLITE_BUSY)
                rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            lock_drop(&write_lock);
        }
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("checkpoint: %s", sqlite3_errmsg(db->h));
        lock_take(&ckpt_lock);
        ckpt_wanted = false; /* the commits that asked meanwhile are in it */
    }
    lock_drop(&ckpt_lock);
    db_close(db);
    return NULL;
}

int db_checkpointer_start(void)
{
    lock_take(&ckpt_lock);
    ckpt_running = true;
    ckpt_wanted = false;
    lock_drop(&ckpt_lock);
    if (pthread_create(&ckpt_thread, NULL, checkpointer, NULL) != 0) {
        lock_take(&ckpt_lock);
        ckpt_running = false;
        lock_drop(&ckpt_lock);
        return -1;
    }
    return 0;
}

void db_checkpointer_stop(void)
{
    lock_take(&ckpt_lock);
    bool was = ckpt_running;
    ckpt_running = false;
    pthread_cond_signal(&ckpt_cond);
    lock_drop(&ckpt_lock);
    if (was)
        pthread_join(ckpt_thread, NULL);
}

struct db *db_thread(void)
{
    pthread_once(&db_key_once, db_key_make);
    struct db *db = pthread_getspecific(db_key);
    if (db) {
        db->log_err = SQLITE_OK;
        return db;
    }
    char err[512];
    db = db_open(db_path, err, sizeof err);
    if (!db) {
        log_error("%s", err);
        return NULL;
    }
    pthread_setspecific(db_key, db);
    return db;
}

void db_thread_close(void)
{
    struct db *db = pthread_getspecific(db_key);
    if (db) {
        pthread_setspecific(db_key, NULL);
        db_close(db);
    }
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
    for (size_t i = 0; i < db->n_slots; i++) {
        if (db->slots[i].sql == sql) {
            sqlite3_reset(db->slots[i].stmt);
            sqlite3_clear_bindings(db->slots[i].stmt);
            return db->slots[i].stmt;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(
        db->h, sql, -1, db->n_slots < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
    if (rc != SQLITE_OK) {
        db->last_rc = rc;
        log_error("sqlite prepare: %s", sqlite3_errmsg(db->h));
        return NULL;
    }
    if (db->n_slots < STMT_CACHE) {
        db->slots[db->n_slots].sql = sql;
        db->slots[db->n_slots].stmt = st;
        db->n_slots++;
    } else {
        log_warn("statement cache full; statement prepared uncached");
    }
    return st;
}

/* Run a statement without results (BEGIN, COMMIT) from the statement cache, so
 * that each transaction does not parse its own BEGIN and COMMIT again. */
static int step_once(struct db *db, const char *sql)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db->last_rc = rc;
        if (db->patience_ms < 0 || (rc & 0xff) != SQLITE_BUSY)
            log_error("sqlite: %s: %s", sql, sqlite3_errmsg(db->h));
        return -1;
    }
    return 0;
}

int db_begin(struct db *db)
{
    bool patient = db->patience_ms < 0;
    int wait_ms = patient ? db_busy_ms : db->patience_ms;
    if (!db->writing) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (lock_take_until(&write_lock, &until) != 0) {
            db->last_rc = SQLITE_BUSY;
            if (patient)
                log_error("sqlite: timed out waiting for the write lock");
            return -1;
        }
        db->writing = true;
    }
    /* the patient wait for another process's lock in SQLite's busy handler;
     * an impatient connection hears SQLITE_BUSY at once */
    int busy = patient ? db_busy_ms : 0;
    if (db->busy_ms != busy) {
        sqlite3_busy_timeout(db->h, busy);
        db->busy_ms = busy;
    }
    if (step_once(db, "BEGIN IMMEDIATE") < 0) {
        db_end_write(db);
        return -1;
    }
    return 0;
}

int db_commit(struct db *db)
{
    if (step_once(db, "COMMIT") < 0) {
        db_rollback(db);
        return -1;
    }
    db_end_write(db);
    return 0;
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h) && step_once(db, "ROLLBACK") < 0)
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    db_end_write(db);
}

static bool last_busy(struct db *db)
{
    return db_busy(db);
}

int db_run(struct db *db, int (*fn)(struct db *db, void *ctx), void *ctx)
{
    /* an impatient connection's caller does something else when busy */
    int tries = db->patience_ms < 0 ? DB_RUN_TRIES : 1;
    for (int attempt = 1;; attempt++) {
        db->last_rc = SQLITE_OK;
        db->log_err = SQLITE_OK;
        if (db_begin(db) < 0) {
            if (last_busy(db) && attempt < tries)
                continue;
            return -1;
        }
        if (fn(db, ctx) < 0) {
            bool busy = last_busy(db);
            db_rollback(db);
            if (busy && attempt < tries) {
                log_warn("sqlite: database busy, running the transaction again");
                continue;
            }
            return -1;
        }
        if (db_commit(db) == 0)
            return 0;
        if (!last_busy(db) || attempt >= tries)
            return -1;
    }
}

const char *db_errmsg(struct db *db)
{
    if (sqlite3_errcode(db->h) == SQLITE_OK && db->log_err != SQLITE_OK)
        return sqlite3_errstr(db->log_err);
    return sqlite3_errmsg(db->h);
}

bool db_busy(struct db *db)
{
    int rc = sqlite3_extended_errcode(db->h) & 0xff;
    if (rc == SQLITE_OK)
        rc = db->log_err & 0xff;
    return rc == SQLITE_BUSY || (db->last_rc & 0xff) == SQLITE_BUSY;
}

bool db_unavailable(struct db *db)
{
    int rc = sqlite3_extended_errcode(db->h) & 0xff;
    if (rc == SQLITE_OK)
        rc = db->log_err & 0xff;
    int last = db->last_rc & 0xff;
    return rc == SQLITE_FULL || rc == SQLITE_READONLY || rc == SQLITE_IOERR ||
           rc == SQLITE_CANTOPEN || rc == SQLITE_BUSY || last == SQLITE_FULL ||
           last == SQLITE_READONLY || last == SQLITE_IOERR || last == SQLITE_BUSY;
}
