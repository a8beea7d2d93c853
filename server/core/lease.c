#include <config.h>
#include "lease.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "db.h"
#include "heartbeats.h"
#include "locks.h"
#include "log.h"
#include "metrics.h"
#include "pruner_hook.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "wake.h"

static pthread_t thread;
static struct lock lock = LOCK_INITIALIZER(LOCK_LEASE);
static pthread_cond_t wake;
static bool running;
static int interval;
static void (*periodic_task)(void);

int lease_reap(struct db *db, int64_t now_ms)
{
    long long ids[64];
    int n = store_reap(db, now_ms, heartbeats_deadline, ids, 64);
    for (int i = 0; i < n && i < 64; i++) {
        heartbeats_forget(ids[i]);
        /* requeued, or failed (which may finish the study): its waiters look */
        long long sid = store_trial_study(db, ids[i]);
        if (sid > 0)
            wake_study(sid, 1);
    }
    if (n > 0)
        metrics_count("lease_expired", n);
    return n;
}

int lease_heartbeat(struct db *db, long long id, const char *worker, const struct caller *who,
                    enum trial_action *action, struct serr *e)
{
    int64_t ms;
    if (store_heartbeat(db, id, worker, who, action, &ms, e) < 0)
        return -1;
    heartbeats_extend(id, time_now_ms() + ms);
    return 0;
}

int lease_report(struct db *db, const struct report_in *r, enum trial_action *action,
                 struct serr *e)
{
    return store_report(db, r, pruner_hook_decide, action, e);
}

int lease_complete(struct db *db, struct completion *c, struct trial_detail *out, bool *already,
                   struct serr *e)
{
    c->limits.fail_limit = cfg.worker_fail_limit;
    c->limits.cooldown_s = cfg.worker_cooldown_s;
    if (store_complete(db, c, out, already, e) < 0)
        return -1;
    heartbeats_forget(c->trial_id);
    return 0;
}

static void *reaper(void *arg)
{
    (void)arg;
    int64_t last_auth = 0;
    lock_take(&lock);
    while (running) {
        lock_drop(&lock);
        struct db *db = db_thread();
        if (db) {
            int n = lease_reap(db, time_now_ms());
            if (n < 0)
                log_warn("lease reaper: %s", db_errmsg(db));
            if (time_mono_ms() - last_auth > 2000) {
                if (periodic_task)
                    periodic_task();
                heartbeats_prune(time_now_ms());
                last_auth = time_mono_ms();
            }
        }
        lock_take(&lock);
        if (!running)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(interval % 1000) * 1000000L;
        ts.tv_sec += interval / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        lock_wait_until(&wake, &lock, &ts);
    }
    lock_drop(&lock);
    db_thread_close();
    return NULL;
}

int lease_start(int interval_ms, void (*periodic)(void))
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &ca);
    pthread_condattr_destroy(&ca);
    interval = interval_ms;
    periodic_task = periodic;
    running = true;
    if (pthread_create(&thread, NULL, reaper, NULL) != 0) {
        running = false;
        return -1;
    }
    return 0;
}

void lease_stop(void)
{
    lock_take(&lock);
    if (!running) {
        lock_drop(&lock);
        return;
    }
    running = false;
    pthread_cond_signal(&wake);
    lock_drop(&lock);
    pthread_join(thread, NULL);
}
