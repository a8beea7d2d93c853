#ifndef LEASE_H
#define LEASE_H

/* The lease reaper: a thread that requeues or fails running trials whose
 * heartbeats stopped, wakes long-polls whose deadline passed, and reloads the
 * token list. */

/* Start the thread; 0 or -1. */
int lease_start(int interval_ms);
/* Stop it and wait for it. */
void lease_stop(void);

#endif
