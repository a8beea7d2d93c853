#ifndef WAKE_H
#define WAKE_H

#include <stdint.h>

/* Waking the long-polls. The core changes what a waiting suggest waits for
 * (a proposal arrives, a lease runs out), while the requests themselves are
 * held by the layer above; that layer registers how to wake them, and the
 * core calls wake_due() without knowing who listens. */

/* The waker: resume the requests waiting on an event older than seq, or past
 * their deadline. Set once at start-up, before any thread runs (main.c wires
 * the HTTP layer's http_resume_due); NULL (the default) wakes nothing, which
 * is what tools and tests need. */
void wake_register(void (*waker)(uint64_t seq));
/* Call the waker with seq, the store's event sequence (store_event_seq()) as
 * it is after the change. */
void wake_due(uint64_t seq);

#endif
