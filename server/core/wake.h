#ifndef WAKE_H
#define WAKE_H

/* Waking the long-polls. The core changes what a waiting suggest waits for
 * (a proposal arrives, a lease runs out), while the requests themselves are
 * held by the layer above; that layer registers how to wake them, and the
 * core calls wake_study() without knowing who listens. */

/* The waker: resume up to n (-1: all) requests waiting on the study, and mark
 * it changed. Set once at start-up, before any thread runs (main.c wires the
 * HTTP layer's http_wake); NULL (the default) wakes nothing, which is what
 * tools and tests need. */
void wake_register(void (*waker)(long long study_id, int n));
/* Tell the waiting requests of one study that something they wait for
 * changed: n of them may be served (-1: every one should look again). Only
 * that study's requests are woken; each one woken that is served passes the
 * wake on to the next, so n need not be exact. */
void wake_study(long long study_id, int n);

#endif
