#include <config.h>
#include "ratelimit.h"

#include "locks.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define SLOTS 8192 /* buckets kept; a power of two */
#define PROBE 8    /* slots looked at per key before the oldest is reused */

struct bucket {
    uint64_t key;    /* hash of the caller's key, 0 when the slot is free */
    double tokens;   /* requests that may be sent now */
    int64_t last_ms; /* when tokens was last brought up to date */
};

static struct lock lock = LOCK_INITIALIZER(LOCK_RATELIMIT);
static struct bucket *table;
static unsigned rate;

void ratelimit_configure(unsigned per_s)
{
    lock_take(&lock);
    rate = per_s;
    lock_drop(&lock);
}

void ratelimit_release(void)
{
    lock_take(&lock);
    free(table);
    table = NULL;
    lock_drop(&lock);
}

static uint64_t hash_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

/* The bucket of key: its own, a free one, or the one idle the longest. */
static struct bucket *find(uint64_t key, int64_t now_ms)
{
    size_t at = (size_t)(key & (SLOTS - 1));
    struct bucket *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct bucket *b = &table[(at + i) & (SLOTS - 1)];
        if (b->key == key)
            return b;
        if (b->key == 0 || !oldest || b->last_ms < oldest->last_ms)
            oldest = b;
        if (b->key == 0)
            break;
    }
    oldest->key = key;
    oldest->tokens = rate;
    oldest->last_ms = now_ms;
    return oldest;
}

int ratelimit_take(const char *key, int64_t now_ms, int *retry_after_s)
{
    int rc = 0;
    lock_take(&lock);
    if (rate == 0)
        goto out_unlock;
    if (!table) {
        table = calloc(SLOTS, sizeof *table);
        if (!table)
            goto out_unlock; /* no memory for the table: do not refuse work over it */
    }
    struct bucket *b = find(hash_key(key), now_ms);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > rate)
            b->tokens = rate;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double wait = (1.0 - b->tokens) / rate;
        *retry_after_s = (int)ceil(wait);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
        rc = -1;
    }
out_unlock:
    lock_drop(&lock);
    return rc;
}

unsigned ratelimit_rate(void)
{
    lock_take(&lock);
    unsigned per_s = rate;
    lock_drop(&lock);
    return per_s;
}
