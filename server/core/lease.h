#ifndef LEASE_H
#define LEASE_H

/* The lease reaper: a thread that requeues or fails running trials whose
 * heartbeats stopped, wakes long-polls whose deadline passed (wake.h), and
 * runs a periodic task of the caller's (the token list's reload). */

/* Start the thread, passing every interval_ms; periodic (may be NULL) runs on
 * it about every 2 s. 0 or -1. */
int lease_start(int interval_ms, void (*periodic)(void));
/* Stop it and wait for it. */
void lease_stop(void);

#endif
