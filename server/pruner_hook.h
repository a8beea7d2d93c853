#ifndef PRUNER_HOOK_H
#define PRUNER_HOOK_H

#include <stdbool.h>

#include "db.h"

/* Whether the study's pruner stops trial_id after it reported value at step.
 * Runs inside the report's transaction. */
bool pruner_hook_decide(struct db *db, long long study_id, long long trial_id, long long step,
                        double value);

#endif
