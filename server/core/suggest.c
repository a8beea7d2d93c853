#include <config.h>
#include "suggest.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heartbeats.h"
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
    json_decref(res->trials);
    res->trials = NULL;
}

static enum obs_state obs_state_of(const char *s)
{
    if (strcmp(s, "completed") == 0)
        return OBS_COMPLETED;
    if (strcmp(s, "pruned") == 0)
        return OBS_PRUNED;
    if (strcmp(s, "failed") == 0)
        return OBS_FAILED;
    return OBS_PENDING;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Every started trial's reports of one study, in memory, by trial id. */
struct curves {
    long long *id;   /* trial ids, ascending */
    long long *last; /* each trial's last step */
    size_t *off;     /* trial k's reports are [off[k], off[k + 1]) */
    size_t nt;       /* trials */
    long long *step; /* report steps, ascending within a trial */
    double *val;     /* report values, NAN when not a number */
    size_t nr;       /* reports */
};

/* Reports beyond this many are not loaded: pruned trials then go without an
 * estimate (the samplers' fallback), rather than slow every suggestion. */
#define CURVES_MAX_REPORTS 4000000

static void curves_free(struct curves *c)
{
    free(c->id);
    free(c->last);
    free(c->off);
    free(c->step);
    free(c->val);
    memset(c, 0, sizeof *c);
}

static int curves_load(struct db *db, long long study_id, struct curves *c)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *q = db_stmt(db, "SELECT t.id, t.last_step, r.step, r.value FROM trials t JOIN "
                                  "trial_reports r ON r.trial_id = t.id WHERE t.study_id = ? AND "
                                  "t.state <> 'pending' ORDER BY t.id, r.step");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, study_id);
    size_t capt = 0, capr = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (c->nr == CURVES_MAX_REPORTS) {
            rc = SQLITE_TOOBIG;
            break;
        }
        long long id = sqlite3_column_int64(q, 0);
        if (c->nt == 0 || c->id[c->nt - 1] != id) {
            if (c->nt + 1 >= capt) {
                capt = capt ? 2 * capt : 256;
                long long *ni = realloc(c->id, capt * sizeof *ni);
                if (ni)
                    c->id = ni;
                long long *nl = realloc(c->last, capt * sizeof *nl);
                if (nl)
                    c->last = nl;
                size_t *no = realloc(c->off, (capt + 1) * sizeof *no);
                if (no)
                    c->off = no;
                if (!ni || !nl || !no) {
                    rc = SQLITE_NOMEM;
                    break;
                }
            }
            c->id[c->nt] = id;
            c->last[c->nt] = sqlite3_column_int64(q, 1);
            c->off[c->nt++] = c->nr;
        }
        if (c->nr == capr) {
            capr = capr ? 2 * capr : 4096;
            long long *ns = realloc(c->step, capr * sizeof *ns);
            if (ns)
                c->step = ns;
            double *nv = realloc(c->val, capr * sizeof *nv);
            if (nv)
                c->val = nv;
            if (!ns || !nv) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        c->step[c->nr] = sqlite3_column_int64(q, 2);
        c->val[c->nr++] =
            sqlite3_column_type(q, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 3);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        curves_free(c);
        return -1;
    }
    if (c->off)
        c->off[c->nt] = c->nr;
    return 0;
}

/* Trial k's latest value at or before step, NAN when it has none. */
static double curves_value_at(const struct curves *c, size_t k, long long step)
{
    size_t lo = c->off[k], hi = c->off[k + 1];
    while (lo < hi) { /* the first report after step */
        size_t mid = lo + (hi - lo) / 2;
        if (c->step[mid] <= step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > c->off[k] ? c->val[lo - 1] : NAN;
}

/* Multi-fidelity evidence from pruned trials (struct obs_mf): each one's
 * quantile at its last step among the other started trials that reached that
 * step (by their latest report at or before it), mapped onto the sorted final
 * values of the completed ones. On entry mf[i] holds the trial's id in
 * value_final and its last step in fidelity. */
static void pruned_estimates(struct db *db, const struct study *st, const struct obs *hist,
                             struct obs_mf *mf, size_t nh)
{
    size_t nf = 0, np = 0;
    long long max_step = 0;
    for (size_t i = 0; i < nh; i++) {
        bool done = hist[i].state == OBS_COMPLETED && isfinite(hist[i].value);
        nf += done;
        np += hist[i].state == OBS_PRUNED;
        if (done && (long long)mf[i].fidelity > max_step)
            max_step = (long long)mf[i].fidelity;
    }
    double *finals = np && nf && max_step > 0 ? malloc(nf * sizeof *finals) : NULL;
    struct curves c;
    if (finals && curves_load(db, st->id, &c) < 0) {
        free(finals);
        finals = NULL;
    }
    nf = 0;
    for (size_t i = 0; finals && i < nh; i++)
        if (hist[i].state == OBS_COMPLETED && isfinite(hist[i].value))
            finals[nf++] = hist[i].value;
    if (finals)
        qsort(finals, nf, sizeof *finals, cmp_double);
    for (size_t i = 0; i < nh; i++) {
        const struct obs *o = &hist[i];
        long long id = (long long)mf[i].value_final, step = (long long)mf[i].fidelity;
        mf[i].fidelity = 0;
        mf[i].value_final = NAN;
        if (!finals || o->state != OBS_PRUNED || step <= 0 || !isfinite(o->value))
            continue;
        /* the last value as stored, in the study's direction */
        double raw = st->direction < 0 ? -o->value : o->value;
        double count = 0, below = 0;
        for (size_t k = 0; k < c.nt; k++) {
            if (c.id[k] == id || c.last[k] < step)
                continue;
            double v = curves_value_at(&c, k, step);
            if (isnan(v))
                continue;
            count++;
            below += v < raw ? 1 : v == raw ? 0.5 : 0;
        }
        /* quantile by stored value, turned to "better than" in the study's
         * direction (lower oriented value is better) */
        double q = (below + 0.5) / (count + 1);
        if (st->direction < 0)
            q = 1 - q;
        double pos = q * (double)(nf - 1);
        size_t lo = (size_t)floor(pos), hi = lo + 1 < nf ? lo + 1 : lo;
        mf[i].value_final = finals[lo] + (pos - (double)lo) * (finals[hi] - finals[lo]);
        mf[i].fidelity = step >= max_step ? 1 : (double)step / (double)max_step;
    }
    if (finals)
        curves_free(&c);
    free(finals);
}

int suggest_history_load(struct db *db, const struct study *st, struct sampler_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    sqlite3_stmt *q = db_stmt(db, "SELECT params, state, value, last_value, number, id, "
                                  "last_step FROM trials WHERE study_id = ? ORDER BY number");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, st->id);
    size_t cap = 64, nh = 0, np = 0;
    struct obs *hist = calloc(cap, sizeof *hist), *pend = calloc(cap, sizeof *pend);
    struct obs_mf *mf = calloc(cap, sizeof *mf);
    size_t caph = cap, capp = cap;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *params = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
        if (!params)
            continue;
        enum obs_state s = obs_state_of((const char *)sqlite3_column_text(q, 1));
        double v = NAN;
        if (s == OBS_COMPLETED && sqlite3_column_type(q, 2) != SQLITE_NULL)
            v = sqlite3_column_double(q, 2);
        else if (s == OBS_PRUNED)
            v = sqlite3_column_type(q, 2) != SQLITE_NULL   ? sqlite3_column_double(q, 2)
                : sqlite3_column_type(q, 3) != SQLITE_NULL ? sqlite3_column_double(q, 3)
                                                           : NAN;
        if (isfinite(v) && st->direction < 0)
            v = -v;
        struct obs o = {params, v, s, (long)sqlite3_column_int64(q, 4)};
        if (s == OBS_PENDING) {
            if (np == capp) {
                capp *= 2;
                pend = realloc(pend, capp * sizeof *pend);
            }
            pend[np++] = o;
        } else {
            if (nh == caph) {
                caph *= 2;
                hist = realloc(hist, caph * sizeof *hist);
                mf = realloc(mf, caph * sizeof *mf);
            }
            /* until pruned_estimates(): the trial id and its last step */
            mf[nh].value_final = (double)sqlite3_column_int64(q, 5);
            mf[nh].fidelity = (double)sqlite3_column_int64(q, 6);
            hist[nh++] = o;
        }
    }
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        pruned_estimates(db, st, hist, mf, nh);
    else
        memset(mf, 0, caph * sizeof *mf);
    ctx->mf = mf;
    ctx->history = hist;
    ctx->n_history = nh;
    ctx->pending = pend;
    ctx->n_pending = np;
    ctx->space = st->spec->space;
    ctx->seed = st->spec->seed;
    ctx->options = st->spec->sampler_opts;
    return rc == SQLITE_DONE ? 0 : -1;
}

void suggest_history_free(struct sampler_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_history; i++)
        json_decref((json_t *)ctx->history[i].params);
    for (size_t i = 0; i < ctx->n_pending; i++)
        json_decref((json_t *)ctx->pending[i].params);
    free((void *)ctx->history);
    free((void *)ctx->pending);
    free((void *)ctx->mf);
    memset(ctx, 0, sizeof *ctx);
}

/* Is the worker cut off? Sets e to 429 when it is. */
static int check_worker(struct db *db, long long study_id, const char *worker, struct serr *e)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT blocked_until FROM workers WHERE study_id = ? AND "
                                  "worker = ?");
    if (!q)
        return serr_db(e, db, "suggest");
    sqlite3_bind_int64(q, 1, study_id);
    sqlite3_bind_text(q, 2, worker, -1, SQLITE_STATIC);
    int64_t until = 0;
    if (sqlite3_step(q) == SQLITE_ROW)
        until = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    int64_t now = time_now_ms();
    if (until > now) {
        int secs = (int)((until - now + 999) / 1000);
        serr_set(e, 429, "worker_cut_off",
                 "worker \"%s\" failed %d trials in a row: no new trials for %d s", worker,
                 cfg.worker_fail_limit, secs);
        e->retry_after_s = secs;
        return -1;
    }
    return 0;
}

static int64_t lease_expiry(const struct study *st, int64_t now)
{
    return now + lease_ms(st->spec);
}

/* The row of attempt number attempt of trial id, opened now by worker. */
static int attempt_open(struct db *db, long long id, long long attempt, const char *worker,
                        int64_t now)
{
    sqlite3_stmt *a = db_stmt(db, "INSERT OR REPLACE INTO trial_attempts (trial_id, attempt, "
                                  "worker, started_at) VALUES (?, ?, ?, ?)");
    if (!a)
        return -1;
    sqlite3_bind_int64(a, 1, id);
    sqlite3_bind_int64(a, 2, attempt);
    sqlite3_bind_text(a, 3, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 4, now);
    int rc = sqlite3_step(a);
    sqlite3_reset(a);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Append trial id, as the worker sees it, to out. */
static int lease_reply(struct db *db, const struct study *st, long long id, json_t *out)
{
    sqlite3_stmt *g = db_stmt(db, "SELECT " STORE_TRIAL_COLS " FROM trials t WHERE t.id = ?");
    if (!g)
        return -1;
    sqlite3_bind_int64(g, 1, id);
    if (sqlite3_step(g) == SQLITE_ROW) {
        json_t *t = store_trial_row(g);
        json_object_set_new(t, "heartbeat_s", json_real(st->spec->heartbeat_s));
        json_object_set_new(t, "study", json_string(st->name));
        json_array_append_new(out, t);
    }
    sqlite3_reset(g);
    return 0;
}

/* Lease trial id (pending, or the worker's own running one when redeliver) to
 * worker, in a transaction, and append it to out. */
static int lease_trial(struct db *db, const struct study *st, long long id, const char *worker,
                       bool redeliver, json_t *out)
{
    int64_t now = time_now_ms();
    sqlite3_stmt *q;
    if (redeliver) {
        q = db_stmt(db, "UPDATE trials SET lease_expires_at = ?2 WHERE id = ?1 RETURNING 0");
    } else {
        q = db_stmt(db, "UPDATE trials SET state = 'running', worker = ?3, lease_expires_at = ?2, "
                        "attempts = attempts + 1, started_at = ?4 WHERE id = ?1 "
                        "RETURNING attempts");
    }
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, lease_expiry(st, now));
    if (!redeliver) {
        sqlite3_bind_text(q, 3, worker, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, now);
    }
    int rc = sqlite3_step(q);
    long long attempt = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || attempt < 0)
        return -1;
    if (!redeliver && attempt_open(db, id, attempt, worker, now) < 0)
        return -1;
    if (!redeliver)
        heartbeats_forget(id); /* deadlines of an earlier lease */
    return lease_reply(db, st, id, out);
}

/* Insert a new trial for params, already leased to worker (one row write
 * rather than a pending row then its lease). In a transaction. */
static int create_trial(struct db *db, const struct study *st, const json_t *params,
                        const char *source, const char *worker, json_t *out, long long *number)
{
    char *text = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text)
        return -1;
    sqlite3_stmt *n = db_stmt(db, "UPDATE studies SET next_number = next_number + 1 WHERE id = ? "
                                  "RETURNING next_number - 1");
    sqlite3_stmt *ins = db_stmt(db, "INSERT INTO trials (study_id, number, state, params, source, "
                                    "created_at, worker, lease_expires_at, attempts, started_at) "
                                    "VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, 1, ?5)");
    int rc = -1;
    if (!n || !ins)
        goto out_free;
    sqlite3_bind_int64(n, 1, st->id);
    *number = sqlite3_step(n) == SQLITE_ROW ? sqlite3_column_int64(n, 0) : -1;
    sqlite3_reset(n);
    if (*number < 0)
        goto out_free;
    int64_t now = time_now_ms();
    sqlite3_bind_int64(ins, 1, st->id);
    sqlite3_bind_int64(ins, 2, *number);
    sqlite3_bind_text(ins, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, now);
    sqlite3_bind_text(ins, 6, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 7, lease_expiry(st, now));
    int s = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (s != SQLITE_DONE)
        goto out_free;
    long long id = sqlite3_last_insert_rowid(db_handle(db));
    if (attempt_open(db, id, 1, worker, now) == 0)
        rc = lease_reply(db, st, id, out);
out_free:
    free(text);
    return rc;
}

/* Ask the study's sampler for k configurations; each gets its source name. Fewer
 * (*made) when the LLM asks the request to wait for a call in flight. */
static int propose(struct db *db, const struct study *st, long long next, size_t k,
                   json_t **configs, char **sources, size_t *made, struct serr *e)
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
    } else if (suggest_history_load(db, st, &ctx) < 0) {
        suggest_history_free(&ctx);
        return serr_db(e, db, "load history");
    }
    ctx.next_number = (long)next;
    char err[512] = "";
    bool wait = false;
    int got = llm_hook_take(st, &ctx, k, configs, sources, &wait);
    if (got < 0)
        got = 0;
    size_t left = wait ? 0 : k - (size_t)got;
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
        for (size_t i = 0; rc == 0 && i < left; i++)
            sources[got + i] =
                strdup(llm_hook_source_label(st, is_auto && i < 64 ? phase[i] : name));
    }
    suggest_history_free(&ctx);
    if (rc < 0) {
        for (int i = 0; i < got; i++) {
            json_decref(configs[i]);
            free(sources[i]);
        }
        return serr_set(e, 500, "sampler_failed", "sampler could not propose: %s", err);
    }
    *made = (size_t)got + left;
    return 0;
}

bool suggest_is_slow(const struct study *st)
{
    return strcmp(st->spec->sampler, "random") != 0;
}

int suggest_run(struct db *db, const struct study *study, const char *worker, int count,
                struct suggest_result *res, struct serr *e)
{
    memset(res, 0, sizeof *res);
    res->trials = json_array();
    res->retry_after_s = 2;
    struct study st = *study; /* its state may change below */
    int rc = -1;
    pthread_mutex_t *propose_lock = propose_lock_of(st.id);
    pthread_mutex_lock(propose_lock);
    if (db_begin(db) < 0) {
        serr_db(e, db, "suggest");
        goto out_unlock;
    }
    snprintf(res->study_state, sizeof res->study_state, "%s", st.state);
    /* The worker's own running trials come back first (restart of a worker). */
    sqlite3_stmt *mine = db_stmt(db, "SELECT id FROM trials WHERE study_id = ? AND worker = ? "
                                     "AND state = 'running' ORDER BY +number");
    if (!mine) {
        serr_db(e, db, "suggest");
        goto out_rollback;
    }
    sqlite3_bind_int64(mine, 1, st.id);
    sqlite3_bind_text(mine, 2, worker, -1, SQLITE_STATIC);
    long long ids[64];
    size_t n_ids = 0;
    while (n_ids < 64 && sqlite3_step(mine) == SQLITE_ROW)
        ids[n_ids++] = sqlite3_column_int64(mine, 0);
    sqlite3_reset(mine);
    for (size_t i = 0; i < n_ids && (int)json_array_size(res->trials) < count; i++)
        if (lease_trial(db, &st, ids[i], worker, true, res->trials) < 0) {
            serr_db(e, db, "suggest");
            goto out_rollback;
        }
    if (json_array_size(res->trials) > 0) {
        if (db_commit(db) < 0) {
            serr_db(e, db, "suggest");
            goto out_unlock;
        }
        log_info("study \"%s\": worker \"%s\" got its running trial back", st.name, worker);
        rc = 0;
        goto out_unlock;
    }
    struct counts c;
    if (store_counts(db, st.id, &c) < 0) {
        serr_db(e, db, "suggest");
        goto out_rollback;
    }
    if (store_finish_if_done(db, &st, &c)) {
        snprintf(res->study_state, sizeof res->study_state, "finished");
        if (db_commit(db) < 0) {
            serr_db(e, db, "suggest");
            goto out_unlock;
        }
        store_event_bump();
        rc = 0;
        goto out_unlock;
    }
    if (strcmp(st.state, "running") != 0) {
        res->worth_waiting = true;
        db_rollback(db);
        rc = 0;
        goto out_unlock;
    }
    if (check_worker(db, st.id, worker, e) < 0)
        goto out_rollback;
    long long running = c.running;
    long long created = c.pending + c.running + c.completed + c.failed + c.pruned;
    size_t want = 0;
    while ((int)json_array_size(res->trials) + (int)want < count &&
           running < st.spec->max_parallel) {
        sqlite3_stmt *p = db_stmt(db, "SELECT id FROM trials WHERE study_id = ? AND state = "
                                      "'pending' ORDER BY +number LIMIT 1");
        if (!p) {
            serr_db(e, db, "suggest");
            goto out_rollback;
        }
        sqlite3_bind_int64(p, 1, st.id);
        long long id = sqlite3_step(p) == SQLITE_ROW ? sqlite3_column_int64(p, 0) : -1;
        sqlite3_reset(p);
        if (id >= 0) {
            if (lease_trial(db, &st, id, worker, false, res->trials) < 0) {
                serr_db(e, db, "suggest");
                goto out_rollback;
            }
            running++;
            continue;
        }
        if (created + (long long)want >= st.spec->max_trials)
            break;
        want++;
        running++;
    }
    if (db_commit(db) < 0) {
        serr_db(e, db, "suggest");
        goto out_unlock;
    }
    if (want > 0) {
        json_t **configs = calloc(want, sizeof *configs);
        char **sources = calloc(want, sizeof *sources);
        size_t made = 0;
        if (!configs || !sources ||
            propose(db, &st, c.next_number, want, configs, sources, &made, e) < 0) {
            free(configs);
            free(sources);
            goto out_unlock;
        }
        bool failed = false;
        if (db_begin(db) < 0) {
            serr_db(e, db, "suggest");
            failed = true;
        } else {
            int ok = 0;
            for (size_t i = 0; i < made && ok == 0; i++) {
                long long number;
                ok = create_trial(db, &st, configs[i], sources[i], worker, res->trials, &number);
                if (ok == 0)
                    llm_hook_created(db, configs[i], number);
            }
            if (ok < 0 || db_commit(db) < 0) {
                db_rollback(db);
                serr_db(e, db, "suggest");
                json_array_clear(res->trials);
                failed = true;
            }
        }
        for (size_t i = 0; i < want; i++) {
            json_decref(configs[i]);
            free(sources[i]);
        }
        free(configs);
        free(sources);
        if (failed)
            goto out_unlock;
    }
    if (json_array_size(res->trials) > 0)
        store_event_bump();
    else
        res->worth_waiting = true;
    rc = 0;
    goto out_unlock;
out_rollback:
    db_rollback(db);
out_unlock:
    pthread_mutex_unlock(propose_lock);
    return rc;
}
