#include <config.h>
#include "heartbeats.h"

#include "locks.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Open addressing on the trial id, linear probing, deletion by backward shift;
 * at most half full. A study rarely has more than a few thousand running
 * trials, so the table stays small. */
struct slot {
    long long id;       /* 0 = empty (trial ids start at 1) */
    int64_t expires_ms; /* the deadline */
};

static struct lock lock = LOCK_INITIALIZER(LOCK_HEARTBEATS);
static struct slot *slots;
static size_t cap, used; /* cap is 0 or a power of two */

static size_t home(long long id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 17) & (cap - 1);
}

static struct slot *find(long long id)
{
    if (cap == 0)
        return NULL;
    for (size_t i = home(id);; i = (i + 1) & (cap - 1)) {
        if (slots[i].id == id)
            return &slots[i];
        if (slots[i].id == 0)
            return NULL;
    }
}

static void put(long long id, int64_t expires_ms)
{
    size_t i = home(id);
    while (slots[i].id != 0 && slots[i].id != id)
        i = (i + 1) & (cap - 1);
    if (slots[i].id == 0)
        used++;
    slots[i].id = id;
    slots[i].expires_ms = expires_ms;
}

static int grow(void)
{
    size_t old_cap = cap;
    struct slot *old = slots;
    size_t n = cap ? cap * 2 : 256;
    struct slot *fresh = calloc(n, sizeof *fresh);
    if (!fresh)
        return -1;
    slots = fresh;
    cap = n;
    used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].id != 0)
            put(old[i].id, old[i].expires_ms);
    free(old);
    return 0;
}

/* Empty slot i and shift the run after it back, so probes stay unbroken. */
static void erase(size_t i)
{
    slots[i].id = 0;
    used--;
    for (size_t j = (i + 1) & (cap - 1); slots[j].id != 0; j = (j + 1) & (cap - 1)) {
        size_t h = home(slots[j].id);
        /* move j into the hole when its home is not inside (i, j] */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            slots[i] = slots[j];
            slots[j].id = 0;
            i = j;
        }
    }
}

void heartbeats_extend(long long id, int64_t expires_ms)
{
    if (id <= 0)
        return;
    lock_take(&lock);
    struct slot *s = find(id);
    if (s) {
        if (expires_ms > s->expires_ms)
            s->expires_ms = expires_ms;
    } else if (2 * (used + 1) <= cap || grow() == 0) {
        put(id, expires_ms);
    }
    lock_drop(&lock);
}

int64_t heartbeats_deadline(long long id)
{
    lock_take(&lock);
    struct slot *s = find(id);
    int64_t t = s ? s->expires_ms : 0;
    lock_drop(&lock);
    return t;
}

void heartbeats_forget(long long id)
{
    lock_take(&lock);
    struct slot *s = find(id);
    if (s)
        erase((size_t)(s - slots));
    lock_drop(&lock);
}

long heartbeats_prune(int64_t now_ms)
{
    long n = 0;
    lock_take(&lock);
    for (size_t i = 0; i < cap; i++) {
        /* an erase may shift a later entry into i: look at i again */
        while (slots[i].id != 0 && slots[i].expires_ms < now_ms) {
            erase(i);
            n++;
        }
    }
    lock_drop(&lock);
    return n;
}

void heartbeats_clear(void)
{
    lock_take(&lock);
    free(slots);
    slots = NULL;
    cap = used = 0;
    lock_drop(&lock);
}
