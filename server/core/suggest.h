#ifndef SUGGEST_H
#define SUGGEST_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "store.h"

/* The suggest path: hand a worker trials to run. Re-delivers the worker's own
 * running trials, then leases pending (enqueued or requeued) trials, then asks
 * the study's sampler for new ones, within max_parallel and max_trials. */

struct suggest_result {
    struct trial_list trials;     /* owned: the trials leased (may be empty) */
    enum study_state study_state; /* the study's state */
    bool worth_waiting;           /* nothing now, but something may come (long-poll) */
    int retry_after_s;            /* advice for the worker when the list is empty */
};

/* Does a suggest on this study read its history or fit a model (every sampler
 * but random)? Such requests go to the offload threads. */
bool suggest_is_slow(const struct study *st);
/* Serve one suggest on a loaded study to worker, asking with the token whose
 * row id is token (0 for none; the leases record it); 0, or -1 with e set
 * (429 for a worker cut off, 5xx). res is set either way: release it. */
int suggest_run(struct db *db, const struct study *study, const char *worker, long long token,
                int count, struct suggest_result *res, struct serr *e);
/* Release what res owns. */
void suggest_result_release(struct suggest_result *res);

#endif
