#include <config.h>
#include "suggest.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heartbeats.h"
#include "history.h"
#include "jsonutil.h"
#include "llm_hook.h"
#include "log.h"
#include "sampler.h"
#include "sampler_auto.h"
#include "settings.h"
#include "timeutil.h"

/* Proposals for one study are made one at a time so that each sees the trials
 * the previous one created (constant liar, distinct Sobol indices). Studies
 * take a lock by their id among a few, so that a model being fitted for one
 * does not hold up another (two studies that share a lock just take turns). */
#define PROPOSE_LOCKS 64
static pthread_mutex_t propose_locks[PROPOSE_LOCKS] = {[0 ... PROPOSE_LOCKS - 1] =
                                                           PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *propose_lock_of(long long study_id)
{
    return &propose_locks[(unsigned long long)study_id % PROPOSE_LOCKS];
}

void suggest_result_release(struct suggest_result *res)
{
    store_trial_list_release(&res->trials);
}

/* Ask the study's sampler for k configurations; each gets its source name. Fewer
 * (*made) when the LLM asks the request to wait for a call in flight; take
 * (the caller's) says what the LLM handed out. */
static int propose(struct db *db, const struct study *st, long long next, size_t k,
                   json_t **configs, char **sources, size_t *made, struct llm_take *take,
                   struct serr *e)
{
    *made = 0;
    struct sampler_ctx ctx;
    /* Random search depends only on the seed and the trial number: reading every
     * trial of the study for it would make each suggest O(trials). */
    if (strcmp(st->spec->sampler, "random") == 0) {
        memset(&ctx, 0, sizeof ctx);
        ctx.space = st->spec->space;
        ctx.seed = st->spec->seed;
        ctx.options = st->spec->sampler_opts;
    } else if (history_load(db, st, &ctx) < 0) {
        history_free(&ctx);
        return serr_db(e, db, "load history");
    }
    ctx.next_number = (long)next;
    char err[512] = "";
    int got = llm_hook_take(st, &ctx, k, configs, sources, take);
    if (got < 0)
        got = 0;
    size_t left = take->wait || take->refused[0] ? 0 : k - (size_t)got;
    int rc = 0;
    if (left > 0) {
        const char *name = llm_hook_classical(st);
        if (!sampler_find(name))
            name = "sobol";
        /* auto records the sampler that made each proposal: its phase moves
         * from sobol to gp within a batch as the earlier members count */
        const char *phase[64];
        bool is_auto = strcmp(name, "auto") == 0;
        for (size_t i = 0; is_auto && i < left && i < 64; i++) {
            struct sampler_ctx probe = ctx;
            probe.n_pending += i;
            phase[i] = sampler_auto_phase(&probe);
        }
        rc = sampler_propose(name, &ctx, left, configs + got, err, sizeof err);
        char label[80];
        for (size_t i = 0; rc == 0 && i < left; i++)
            sources[got + i] = strdup(llm_hook_source_label(
                take, is_auto && i < 64 ? phase[i] : name, label, sizeof label));
    }
    history_free(&ctx);
    if (rc < 0) {
        for (int i = 0; i < got; i++) {
            json_decref(configs[i]);
            free(sources[i]);
        }
        return serr_set(e, 500, "sampler_failed", "sampler could not propose: %s", err);
    }
    *made = (size_t)got + left;
    if (*made == 0 && take->refused[0])
        return serr_set(e, 409, "llm_unavailable", "%s", take->refused);
    return 0;
}

bool suggest_is_slow(const struct study *st)
{
    return strcmp(st->spec->sampler, "random") != 0;
}

/* Each new trial tells the LLM hook which proposal it came from. */
struct created_ctx {
    json_t **configs;            /* the proposals */
    const struct llm_take *take; /* what the LLM handed out among them */
};

static int trial_created(struct db *db, void *arg, size_t i, long long number)
{
    struct created_ctx *c = arg;
    llm_hook_created(db, c->take, c->configs[i], number);
    return 0;
}

/* Ask for want new trials and create them, leased to worker, into res. */
static int make_trials(struct db *db, const struct study *st, const char *worker, long long token,
                       const struct lease_plan *plan, struct suggest_result *res, struct serr *e)
{
    size_t want = plan->want;
    json_t **configs = calloc(want, sizeof *configs);
    char **sources = calloc(want, sizeof *sources);
    size_t made = 0;
    int rc = -1;
    if (!configs || !sources) {
        serr_set(e, 500, "internal", "out of memory");
        goto out_free;
    }
    struct llm_take take;
    if (propose(db, st, plan->counts.next_number, want, configs, sources, &made, &take, e) < 0) {
        free(configs); /* propose released what it made */
        free(sources);
        return -1;
    }
    for (size_t i = 0; i < made; i++)
        if (!sources[i]) {
            serr_set(e, 500, "internal", "out of memory");
            goto out_free;
        }
    struct created_ctx cc = {configs, &take};
    rc = store_trials_create(db, st, worker, token, configs, sources, made, trial_created, &cc,
                             &res->trials, e);
    if (rc == 0 && made == 0 && take.wait)
        res->retry_after_s = take.retry_after_s;
out_free:
    for (size_t i = 0; configs && sources && i < want; i++) {
        json_decref(configs[i]);
        free(sources[i]);
    }
    free(configs);
    free(sources);
    return rc;
}

int suggest_run(struct db *db, const struct study *st, const char *worker, long long token,
                int count, struct suggest_result *res, struct serr *e)
{
    memset(res, 0, sizeof *res);
    res->retry_after_s = 2;
    res->study_state = st->state;
    int rc = -1;
    pthread_mutex_t *propose_lock = propose_lock_of(st->id);
    pthread_mutex_lock(propose_lock);
    struct lease_plan plan;
    if (store_suggest_lease(db, st, worker, token, count, &plan, e) < 0)
        goto out_unlock;
    res->trials = plan.trials; /* moved */
    memset(&plan.trials, 0, sizeof plan.trials);
    res->study_state = plan.state;
    if (plan.redelivered) {
        log_info("study \"%s\": worker \"%s\" got its running trial back", st->name, worker);
        rc = 0;
        goto out_release;
    }
    for (size_t i = 0; i < res->trials.n; i++)
        heartbeats_forget(res->trials.v[i].id); /* deadlines of an earlier lease */
    if (plan.state != STUDY_RUNNING) {
        res->worth_waiting = plan.state != STUDY_FINISHED;
        rc = 0;
        goto out_release;
    }
    if (plan.blocked_until > 0) {
        int secs = (int)((plan.blocked_until - time_now_ms() + 999) / 1000);
        if (secs < 1)
            secs = 1;
        serr_set(e, 429, "worker_cut_off",
                 "worker \"%s\" failed %d trials in a row: no new trials for %d s", worker,
                 cfg.worker_fail_limit, secs);
        e->retry_after_s = secs;
        goto out_release;
    }
    if (plan.want > 0 && make_trials(db, st, worker, token, &plan, res, e) < 0) {
        store_trial_list_release(&res->trials);
        goto out_release;
    }
    if (res->trials.n == 0)
        res->worth_waiting = true;
    rc = 0;
out_release:
    store_lease_plan_release(&plan);
out_unlock:
    pthread_mutex_unlock(propose_lock);
    return rc;
}
