#ifndef PRUNER_HOOK_H
#define PRUNER_HOOK_H

#include <stdbool.h>

#include "db.h"

/* The study's pruner (server/pruners/) fed from the database. The other trials
 * a report is compared with:
 * - median: the study's completed trials, and its running trials that reached
 *   the step, each by its latest report at or before the step (a trial that
 *   skipped the step counts with its report before it; one that ended before
 *   the step with its last report). Pruned and failed trials do not count: as
 *   in Optuna, the median is that of the trials that went on, and the running
 *   ones add evidence while many trials run in parallel;
 * - asha: every other trial that reached the rung, by its first report at or
 *   after the rung step (the value it had when it crossed the rung); the first
 *   rung from the trial length when not given (pruner_asha_min_resource());
 * - hyperband: as asha, among the trials of the same bracket only (a trial's
 *   bracket follows from its number);
 * - curve: the trial's own curve, the completed trials' final values, and for
 *   the latest of them their value at the step (their latest report at or
 *   before it) beside their final value; the probability it computed is stored
 *   with the report (trial_reports.prune_p);
 * - patience: the trial's own curve, and the study's best completed value
 *   (a stalled trial that is no worse than it is spared).
 * The trial length (asha, hyperband, curve) is the option max_resource, else
 * the longest completed trial's last step.
 * A prune decision sticks: it is recorded in the trial (trials.prune_step, and
 * the pruner's account in trials.prune_reason), and every later report and
 * heartbeat of the trial answers "prune". */

/* Whether the study's pruner stops trial_id after it reported value at step.
 * Runs after the report's transaction committed, outside any transaction:
 * its reads see the report, its fits hold no lock, and its writes (the
 * probability, the mark) are short transactions of their own. The
 * decision is made at the trial's latest step: a late report for an earlier
 * step adds to the curve but does not cross asha rungs again. A decision to
 * stop that cannot be stored (the database busy or failing) answers false:
 * the trial goes on and its next report is judged again. */
bool pruner_hook_decide(struct db *db, long long study_id, long long trial_id, long long step,
                        double value);

/* Whether judging a report of trial_id takes long: the curve pruner fits
 * curves for milliseconds (10 ms at 40 reports with 2,000 completed trials),
 * the others read a few rows. The daemon judges such reports on an offload
 * thread, so that the HTTP thread goes on serving everyone else. */
bool pruner_hook_is_slow(struct db *db, long long trial_id);

/* True when trial_id was already judged to be pruned at one of its reports:
 * what its heartbeats answer ("prune") while the worker has not stopped it. */
bool pruner_hook_should_stop(struct db *db, long long trial_id);

#endif
