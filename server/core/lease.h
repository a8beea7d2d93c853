#ifndef LEASE_H
#define LEASE_H

#include <stdint.h>

#include "store.h"

/* A trial's lease seen from the daemon: the store keeps it in the database,
 * heartbeats.h keeps the deadlines that heartbeats extend in memory, and the
 * calls below keep the two together.
 *
 * The lease reaper: a thread that requeues or fails running trials whose
 * heartbeats stopped, wakes the long-polls of their studies (wake.h), and
 * runs a periodic task of the caller's (the token list's reload). The HTTP
 * layer resumes long-polls whose own deadline passed. */

/* Start the thread, passing every interval_ms; periodic (may be NULL) runs on
 * it about every 2 s. 0 or -1. */
int lease_start(int interval_ms, void (*periodic)(void));
/* Stop it and wait for it. */
void lease_stop(void);
/* One pass of the reaper at now_ms: expire the leases neither the database
 * nor the heartbeats in memory hold any longer, and wake their studies'
 * waiting suggests. The number reaped, or -1. */
int lease_reap(struct db *db, int64_t now_ms);

/* A heartbeat from worker with who's token: check its lease (409 when it does
 * not hold it, or with another token) and extend it in memory; *action is what
 * the worker is told. */
int lease_heartbeat(struct db *db, long long id, const char *worker, const struct caller *who,
                    enum trial_action *action, struct serr *e);
/* A report, with the study's pruner asked inside its transaction. */
int lease_report(struct db *db, const struct report_in *r, enum trial_action *action,
                 struct serr *e);
/* A completion (store_complete()); the lease held in memory ends with it. The
 * cut-off limits come from the daemon's settings. */
int lease_complete(struct db *db, struct completion *c, struct trial_detail *out, bool *already,
                   struct serr *e);

#endif
