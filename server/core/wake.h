#ifndef WAKE_H
#define WAKE_H

/* Waking the long-polls. The core changes what a waiting request waits for
 * (a proposal arrives, a lease runs out, importances are computed), while
 * the requests themselves are held by the layer above; that layer registers
 * how to wake them, and the core calls wake_study() or wake_importance()
 * without knowing who listens.
 *
 * A long-poll waits on a key: a study's suggests on wake_key_suggest(id), the
 * requests for its importances on wake_key_importance(id), so that a change
 * wakes the requests it concerns and no other. */

static inline long long wake_key_suggest(long long study_id)
{
    return study_id;
}

static inline long long wake_key_importance(long long study_id)
{
    return -study_id;
}

/* The waker: resume up to n (-1: all) requests waiting on key, and mark the
 * key changed. Set once at start-up, before any thread runs (main.c wires
 * the HTTP layer's http_wake); NULL (the default) wakes nothing, which is
 * what tools and tests need. */
void wake_register(void (*waker)(long long key, int n));
/* Tell the suggests waiting on a study that something they wait for
 * changed: n of them may be served (-1: every one should look again). Each
 * one woken that is served passes the wake on to the next, so n need not be
 * exact. */
void wake_study(long long study_id, int n);
/* Tell every request waiting for a study's importances that a report is
 * ready (or failed). */
void wake_importance(long long study_id);

#endif
