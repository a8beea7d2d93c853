#ifndef LOCKS_H
#define LOCKS_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* The lock order of hpod. Every mutex of the daemon is listed here, outermost
 * first: a thread that holds one of them may take only those below it. Two
 * threads that follow this order cannot deadlock on these locks.
 *
 *   LOCK_PROPOSE       server/core/suggest.c propose_locks[]: one study's proposal,
 *                      held across its write transaction (one at a time)
 *   LOCK_DB_WRITE      server/store/db.c write_lock: this process's writers take
 *                      turns (between db_begin and COMMIT or ROLLBACK)
 *   LOCK_LLM_REGISTRY  server/core/llm_hook.c reg_lock: the provider registry's
 *                      lazy creation
 *   LOCK_LLM_TABLE     server/core/llm_hook.c lock: the per-study proposal queues
 *   LOCK_SPEC_CACHE    server/store/store.c spec_lock: parsed specs by study
 *   LOCK_HEARTBEATS    server/core/heartbeats.c lock: heartbeat deadlines in memory
 *   LOCK_DB_CHECKPOINT server/store/db.c ckpt_lock: the checkpoint thread's wake-up
 *                      (taken by a commit's WAL hook, under LOCK_DB_WRITE)
 *   LOCK_LEASE         server/core/lease.c lock: the reaper's sleep and stop
 *   LOCK_IMPORTANCE    server/core/importances.c lock: the importance reports and
 *                      the worker's queue (nothing else is taken while held)
 *   LOCK_HTTP_POOL     server/http/http.c pool_lock: requests queued for the
 *                      offload threads
 *   LOCK_HTTP_WAIT     server/http/http.c wait_lock: the suspended long-polls
 *   LOCK_HTTP_CONN     server/http/http.c conn_lock: the open connections, their
 *                      deadlines and the count per address
 *   LOCK_HTTP_FILES    server/http/www.c files_lock: the page's files in memory
 *   LOCK_LLM_PROVIDER  server/llm/provider.c provider.lock: calls in flight
 *   LOCK_AUTH          server/http/auth.c lock (a rwlock): the token table
 *   LOCK_RATELIMIT     server/http/ratelimit.c lock: the request buckets
 *   LOCK_METRICS       server/http/metrics.c lock: the counters
 *   LOCK_LOG           common/log.c log_lock: one log line at a time (any code
 *                      may log while holding any of the above)
 *
 * The locks declared as struct lock below are checked: in a build configured
 * with --enable-debug (HPOD_LOCK_CHECK), each thread records the locks it
 * holds, and taking one that is not below all of them (an inversion, or a
 * second lock of the same rank) reports both and aborts. Without it, struct
 * lock is a plain mutex and the functions compile to the pthread calls. */

enum lock_rank {
    LOCK_PROPOSE = 1,
    LOCK_DB_WRITE,
    LOCK_LLM_REGISTRY,
    LOCK_LLM_TABLE,
    LOCK_SPEC_CACHE,
    LOCK_HEARTBEATS,
    LOCK_DB_CHECKPOINT,
    LOCK_LEASE,
    LOCK_IMPORTANCE,
    LOCK_HTTP_POOL,
    LOCK_HTTP_WAIT,
    LOCK_HTTP_CONN,
    LOCK_HTTP_FILES,
    LOCK_LLM_PROVIDER,
    LOCK_AUTH,
    LOCK_RATELIMIT,
    LOCK_METRICS,
    LOCK_LOG,
};

/* A mutex with its place in the order. */
struct lock {
    pthread_mutex_t mutex; /* the mutex itself (for condition waits) */
    enum lock_rank rank;   /* its place in the order above */
};

#define LOCK_INITIALIZER(rank)                                                                     \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (rank)                                                          \
    }

/* The name of a rank ("LOCK_DB_WRITE"), a static string. */
const char *lock_rank_name(enum lock_rank rank);

#ifdef HPOD_LOCK_CHECK

/* Take l; an inversion is reported (lock_set_inversion_handler) first. */
void lock_take(struct lock *l);
/* Take l unless abs (CLOCK_REALTIME) passes first: 0, or the error of
 * pthread_mutex_timedlock (ETIMEDOUT). */
int lock_take_until(struct lock *l, const struct timespec *abs);
/* Release l. */
void lock_drop(struct lock *l);
/* Wait on c, which releases l meanwhile; the thread still counts as holding l
 * (it takes nothing else while it waits). */
void lock_wait(pthread_cond_t *c, struct lock *l);
/* The same, until abs on c's clock: 0 or ETIMEDOUT. */
int lock_wait_until(pthread_cond_t *c, struct lock *l, const struct timespec *abs);
/* What an inversion does: the default logs both locks and aborts. Tests pass
 * a handler that records the message (borrowed, valid during the call); the
 * lock is then taken all the same. NULL restores the default. */
void lock_set_inversion_handler(void (*handler)(const char *message));

#else

static inline void lock_take(struct lock *l)
{
    pthread_mutex_lock(&l->mutex);
}

static inline int lock_take_until(struct lock *l, const struct timespec *abs)
{
    return pthread_mutex_timedlock(&l->mutex, abs);
}

static inline void lock_drop(struct lock *l)
{
    pthread_mutex_unlock(&l->mutex);
}

static inline void lock_wait(pthread_cond_t *c, struct lock *l)
{
    pthread_cond_wait(c, &l->mutex);
}

static inline int lock_wait_until(pthread_cond_t *c, struct lock *l, const struct timespec *abs)
{
    return pthread_cond_timedwait(c, &l->mutex, abs);
}

#endif

#endif
