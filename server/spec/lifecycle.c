#include <config.h>
#include "lifecycle.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "space.h"

static const char *const trial_names[TRIAL_STATES] = {"pending", "running", "completed", "failed",
                                                      "pruned"};
static const char *const study_names[] = {"running", "paused", "finished"};
#define STUDY_STATES (sizeof study_names / sizeof study_names[0])
static const char *const action_names[] = {"continue", "prune", "stop"};

const char *trial_state_name(enum trial_state s)
{
    return (unsigned)s < TRIAL_STATES ? trial_names[s] : "unknown";
}

const char *study_state_name(enum study_state s)
{
    return (unsigned)s < STUDY_STATES ? study_names[s] : "unknown";
}

const char *trial_action_name(enum trial_action a)
{
    return (unsigned)a < sizeof action_names / sizeof action_names[0] ? action_names[a] : "stop";
}

int trial_state_parse(const char *text, enum trial_state *out)
{
    for (unsigned i = 0; text && i < TRIAL_STATES; i++)
        if (strcmp(text, trial_names[i]) == 0) {
            *out = (enum trial_state)i;
            return 0;
        }
    return -1;
}

int study_state_parse(const char *text, enum study_state *out)
{
    for (unsigned i = 0; text && i < STUDY_STATES; i++)
        if (strcmp(text, study_names[i]) == 0) {
            *out = (enum study_state)i;
            return 0;
        }
    return -1;
}

bool trial_state_final(enum trial_state s)
{
    return s == TRIAL_COMPLETED || s == TRIAL_FAILED || s == TRIAL_PRUNED;
}

static bool same_worker(const char *holder, const char *worker)
{
    return strcmp(holder ? holder : "", worker ? worker : "") == 0;
}

enum lease_check lifecycle_lease_check(enum trial_state now, const char *holder, const char *worker)
{
    if (now != TRIAL_RUNNING)
        return LEASE_NOT_RUNNING;
    return same_worker(holder, worker) ? LEASE_HELD : LEASE_OTHER;
}

enum lease_check lifecycle_complete_check(enum trial_state now, const char *holder,
                                          const char *worker, enum trial_state wanted)
{
    if (now != TRIAL_RUNNING && now == wanted && same_worker(holder, worker))
        return LEASE_RESENT;
    return lifecycle_lease_check(now, holder, worker);
}

bool lifecycle_counts_against_worker(enum trial_state outcome, bool has_code)
{
    return outcome == TRIAL_FAILED && !has_code;
}

bool lifecycle_has_code(const struct spec *sp)
{
    for (size_t i = 0; sp && sp->space && i < sp->space->n; i++)
        if (sp->space->params[i].type == PARAM_CODE)
            return true;
    return false;
}

int64_t lifecycle_cut_off_until(int failures, const struct worker_limits *lim, int64_t now_ms)
{
    if (failures <= 0 || failures < lim->fail_limit)
        return 0;
    return now_ms + (int64_t)lim->cooldown_s * 1000;
}

const char *lifecycle_finish_reason(const struct counts *c, const struct spec *sp)
{
    long long finished = c->completed + c->failed + c->pruned;
    if (finished >= sp->max_trials)
        return "stopped: the study reached max_trials";
    if (c->failed >= sp->max_failures)
        return "stopped: the study reached max_failures";
    return NULL;
}

enum expiry_fate lifecycle_on_expiry(int attempts, long max_retries, bool judged)
{
    if (judged)
        return EXPIRY_PRUNE;
    return attempts <= max_retries ? EXPIRY_REQUEUE : EXPIRY_FAIL;
}

enum trial_action lifecycle_report_action(bool judged, bool pruned_now)
{
    return judged || pruned_now ? ACTION_PRUNE : ACTION_CONTINUE;
}

enum trial_action lifecycle_heartbeat_action(bool study_finished, bool judged)
{
    if (study_finished)
        return ACTION_STOP;
    return judged ? ACTION_PRUNE : ACTION_CONTINUE;
}

int64_t lease_ms(const struct spec *sp)
{
    return (int64_t)(sp->heartbeat_s * 1000.0 * (double)sp->stale_after);
}

double lifecycle_constraint_value(const struct spec_constraint *c, double x)
{
    double below = c->has_min ? c->min - x : -INFINITY;
    double above = c->has_max ? x - c->max : -INFINITY;
    return below > above ? below : above;
}

/* values[name] as a finite number, else NAN. */
static double metric(const json_t *values, const char *name)
{
    json_t *v = json_object_get(values, name);
    if (!json_is_number(v))
        return NAN;
    double x = json_number_value(v);
    return isfinite(x) ? x : NAN;
}

int lifecycle_outcome(const struct spec *sp, enum trial_state state, double value,
                      const json_t *values, struct outcome *out, char *err, size_t errlen)
{
    bool completed = state == TRIAL_COMPLETED;
    out->feasible = -1;
    out->violation = NAN;
    for (size_t i = 0; i < sp->n_objectives; i++) {
        double x = metric(values, sp->objectives[i].name);
        if (i == 0 && isnan(x) && isfinite(value))
            x = value;
        out->objs[i] = x;
        if (completed && isnan(x)) {
            snprintf(err, errlen,
                     "values.%s: required: an objective of this study (a finite "
                     "number)",
                     sp->objectives[i].name);
            return -1;
        }
    }
    double total = 0;
    bool feasible = true;
    for (size_t i = 0; i < sp->n_constraints; i++) {
        const struct spec_constraint *c = &sp->constraints[i];
        double x = metric(values, c->name);
        out->cons[i] = isnan(x) ? NAN : lifecycle_constraint_value(c, x);
        if (completed && isnan(x)) {
            snprintf(err, errlen,
                     "values.%s: required: a constraint of this study (a finite "
                     "number)",
                     c->name);
            return -1;
        }
        if (out->cons[i] > 0) {
            feasible = false;
            total += out->cons[i];
        }
    }
    if (completed && sp->n_constraints > 0) {
        out->feasible = feasible;
        out->violation = total;
    }
    return 0;
}

bool lifecycle_dominates(const struct spec *sp, const double *a, const double *b)
{
    bool better = false;
    for (size_t i = 0; i < sp->n_objectives; i++) {
        double x = sp->objectives[i].maximize ? -a[i] : a[i];
        double y = sp->objectives[i].maximize ? -b[i] : b[i];
        if (!(x <= y))
            return false;
        if (x < y)
            better = true;
    }
    return better;
}

size_t lifecycle_reference_after(const struct spec *sp)
{
    size_t n = 2 * sp->n_objectives + 2;
    return n > 10 ? n : 10;
}

void lifecycle_reference(const struct spec *sp, const double *objs, size_t n, double *ref)
{
    size_t m = sp->n_objectives;
    for (size_t j = 0; j < m; j++) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double x = objs[i * m + j];
            if (x < lo)
                lo = x;
            if (x > hi)
                hi = x;
        }
        if (n == 0)
            lo = hi = 0;
        double margin = 0.1 * (hi - lo);
        if (margin == 0)
            margin = 0.1 * fabs(hi);
        if (margin == 0)
            margin = 1;
        ref[j] = sp->objectives[j].maximize ? lo - margin : hi + margin;
    }
}
