#include <config.h>
#include "locks.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

const char *lock_rank_name(enum lock_rank rank)
{
    switch (rank) {
    case LOCK_PROPOSE:
        return "LOCK_PROPOSE";
    case LOCK_DB_WRITE:
        return "LOCK_DB_WRITE";
    case LOCK_LLM_REGISTRY:
        return "LOCK_LLM_REGISTRY";
    case LOCK_LLM_TABLE:
        return "LOCK_LLM_TABLE";
    case LOCK_SPEC_CACHE:
        return "LOCK_SPEC_CACHE";
    case LOCK_HEARTBEATS:
        return "LOCK_HEARTBEATS";
    case LOCK_DB_CHECKPOINT:
        return "LOCK_DB_CHECKPOINT";
    case LOCK_LEASE:
        return "LOCK_LEASE";
    case LOCK_IMPORTANCE:
        return "LOCK_IMPORTANCE";
    case LOCK_HTTP_POOL:
        return "LOCK_HTTP_POOL";
    case LOCK_HTTP_WAIT:
        return "LOCK_HTTP_WAIT";
    case LOCK_HTTP_CONN:
        return "LOCK_HTTP_CONN";
    case LOCK_HTTP_FILES:
        return "LOCK_HTTP_FILES";
    case LOCK_LLM_PROVIDER:
        return "LOCK_LLM_PROVIDER";
    case LOCK_AUTH:
        return "LOCK_AUTH";
    case LOCK_RATELIMIT:
        return "LOCK_RATELIMIT";
    case LOCK_METRICS:
        return "LOCK_METRICS";
    case LOCK_LOG:
        return "LOCK_LOG";
    }
    return "LOCK_UNKNOWN";
}

#ifdef HPOD_LOCK_CHECK

#define HELD_MAX 16

/* The checked locks one thread holds, in the order taken. */
struct held {
    const struct lock *locks[HELD_MAX]; /* borrowed */
    size_t n;                           /* entries */
    size_t lost;                        /* taken past HELD_MAX, not recorded */
};

static pthread_key_t held_key;
static pthread_once_t held_once = PTHREAD_ONCE_INIT;
static void (*on_inversion)(const char *message);

static void held_make(void)
{
    pthread_key_create(&held_key, free);
}

/* The calling thread's record, made on first use; NULL when out of memory
 * (the checks are skipped then, the locking is not). */
static struct held *held_of_thread(void)
{
    pthread_once(&held_once, held_make);
    struct held *h = pthread_getspecific(held_key);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (h && pthread_setspecific(held_key, h) != 0) {
            free(h);
            h = NULL;
        }
    }
    return h;
}

void lock_set_inversion_handler(void (*handler)(const char *message))
{
    on_inversion = handler;
}

/* Report taking l while h holds a lock that is not above it. */
static void check_order(const struct held *h, const struct lock *l)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->locks[i]->rank < l->rank)
            continue;
        char msg[256];
        snprintf(msg, sizeof msg, "lock order violated: %s taken while %s is held (see locks.h)",
                 lock_rank_name(l->rank), lock_rank_name(h->locks[i]->rank));
        if (on_inversion) {
            on_inversion(msg);
            return;
        }
        log_error("%s", msg);
        abort();
    }
}

static void record(struct held *h, const struct lock *l)
{
    if (h->n < HELD_MAX)
        h->locks[h->n++] = l;
    else
        h->lost++;
}

void lock_take(struct lock *l)
{
    struct held *h = held_of_thread();
    if (h)
        check_order(h, l);
    pthread_mutex_lock(&l->mutex);
    if (h)
        record(h, l);
}

int lock_take_until(struct lock *l, const struct timespec *abs)
{
    struct held *h = held_of_thread();
    if (h)
        check_order(h, l);
    int rc = pthread_mutex_timedlock(&l->mutex, abs);
    if (rc == 0 && h)
        record(h, l);
    return rc;
}

void lock_drop(struct lock *l)
{
    struct held *h = held_of_thread();
    if (h) {
        /* locks may be released in any order: remove the newest entry of l */
        size_t i = h->n;
        while (i > 0 && h->locks[i - 1] != l)
            i--;
        if (i > 0) {
            for (; i < h->n; i++)
                h->locks[i - 1] = h->locks[i];
            h->n--;
        } else if (h->lost > 0) {
            h->lost--;
        }
    }
    pthread_mutex_unlock(&l->mutex);
}

void lock_wait(pthread_cond_t *c, struct lock *l)
{
    pthread_cond_wait(c, &l->mutex);
}

int lock_wait_until(pthread_cond_t *c, struct lock *l, const struct timespec *abs)
{
    return pthread_cond_timedwait(c, &l->mutex, abs);
}

#endif
