#include <config.h>
#include "llm_hook.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "locks.h"
#include "wake.h"
#include "jsonutil.h"
#include "llm_hist.h"
#include "propose.h"
#include "provider.h"
#include "log.h"
#include "gp_rank.h"
#include "sampler.h"
#include "settings.h"
#include "store.h"
#include "llm_calls.h"
#include "history.h"
#include "timeutil.h"

#define SCAN_MS          1000  /* how often the threads look for studies to serve */
#define BACKOFF_MIN_MS   50    /* shortest pause of a study after a failed proposal */
#define QUEUE_AHEAD      4     /* proposals kept ahead of demand, at most, beyond a batch */
#define RANK_CANDIDATES  5     /* llm.candidates when a rank study does not say */
#define STOP_JOIN_MS     5000  /* how long llm_hook_stop() waits for a call in flight */
#define DEMAND_MS        60000 /* how long a suggest that found nothing counts as waiting */
#define WAIT_AUTO_MIN_MS 1000  /* shortest bound "auto" derives from a provider */

/* A configuration the LLM proposed that is not a trial yet. */
struct proposal {
    json_t *config;        /* owned normalised configuration */
    long long call_id;     /* llm_calls row of the reply it came from, 0 when unrecorded */
    struct proposal *next; /* next in the queue */
};

/* What the hook knows of one study that uses the LLM. Guarded by lock. */
struct lstudy {
    long long id;          /* study row id */
    char name[80];         /* for log lines */
    struct proposal *head; /* owned queue, oldest first (rank mode: the candidate pool) */
    struct proposal *tail; /* last entry */
    size_t n_queued;       /* entries in the queue */
    size_t target;         /* queue length to keep */
    size_t want;           /* configurations asked per call */
    bool rank;             /* llm.mode "rank": the GP picks among the queue */
    bool sequential;       /* max_parallel 1: call only when no trial is out or a
                              suggest waits (the paper's loop: each proposal sees
                              every result) */
    long long outstanding; /* trials pending or running, as last seen */
    bool active;           /* running and in its LLM phase, as last seen */
    bool busy;             /* a call is in flight */
    int users;             /* takes working on the entry outside the lock */
    bool exhausted;        /* llm.max_tokens spent */
    bool never;            /* llm.fallback "never" */
    int64_t bound_ms;      /* llm.wait: how long the LLM may fail or keep suggests
                              waiting before the fallback serves */
    int failures;          /* consecutive failed calls */
    int64_t failing_since; /* start of the first of them (monotonic ms), 0 when none */
    int64_t backoff_until; /* no call before this (monotonic ms) */
    int64_t starved_since; /* a suggest found nothing ready and no proposal landed
                              (or fallback served) since; 0 when none */
    int64_t demand_until;  /* a suggest waits for a proposal, until about this time */
    int64_t woken_for;     /* the last bound deadline announced to waiting suggests */
    long long next_seen;   /* highest next trial number seen (creations may be uncommitted) */
    unsigned seen;         /* scan generation that last found it */
    struct lstudy *next;   /* list link */
};

/* The provider registry, made on first use (config reading is single-threaded;
 * reg_lock covers the lazy creation from request threads in tests). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct llm_registry *reg;
static bool reg_broken;
static char reg_err[256];

static struct lock lock = LOCK_INITIALIZER(LOCK_LLM_TABLE);
static pthread_cond_t wake;
static bool wake_ready;
static struct lstudy *studies;
static pthread_t *threads;
static size_t n_threads;
static atomic_bool stopping;
static int64_t next_scan;
static bool scanning;
static unsigned scan_gen;

static struct llm_registry *registry(void)
{
    pthread_mutex_lock(&reg_lock);
    if (!reg && !reg_broken) {
        reg = llm_registry_new(reg_err, sizeof reg_err);
        reg_broken = reg == NULL;
    }
    pthread_mutex_unlock(&reg_lock);
    return reg;
}

int llm_hook_section(const char *section, const char *key, const char *value, char *err,
                     size_t errlen)
{
    err[0] = '\0';
    if (!key)
        return llm_config_header(section, err, errlen);
    struct llm_registry *r = registry();
    if (!r) {
        snprintf(err, errlen, "%s", reg_err);
        return -1;
    }
    return llm_config_section(r, section, key, value, err, errlen);
}

int llm_hook_has_provider(const char *name)
{
    struct llm_registry *r = registry();
    return r && llm_registry_get(r, name) != NULL;
}

bool llm_hook_usable(const char *name, const char *model, char *err, size_t errlen)
{
    struct llm_registry *r = registry();
    if (!r) {
        snprintf(err, errlen, "%s", reg_err);
        return false;
    }
    return llm_registry_usable(r, name, model, err, errlen);
}

/* ---- which trials are the LLM's ---- */

/* llm.init_trials, or -1 when the study has none. */
static long init_trials(const struct spec *sp)
{
    const json_t *v = sp->llm ? json_object_get(sp->llm, "init_trials") : NULL;
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static bool uses_llm(const struct spec *sp)
{
    return strcmp(sp->sampler, "llm") == 0 || init_trials(sp) >= 0;
}

/* Trials of the LLM phase not created yet, when the next trial gets number next. */
static long long phase_room(const struct spec *sp, long long next)
{
    if (!uses_llm(sp))
        return 0;
    long long end = sp->max_trials;
    long n = init_trials(sp);
    if (n >= 0 && n < end)
        end = n;
    return end > next ? end - next : 0;
}

static bool is_rank(const struct spec *sp)
{
    return strcmp(sp->sampler, "llm") == 0 && strcmp(json_str(sp->llm, "mode", ""), "rank") == 0;
}

const char *llm_hook_classical(const struct study *st)
{
    if (strcmp(st->spec->sampler, "llm") == 0)
        return json_str(st->spec->llm, "then", "gp");
    return st->spec->sampler;
}

const char *llm_hook_source_label(const struct llm_take *take, const char *name, char *buf,
                                  size_t buflen)
{
    snprintf(buf, buflen, take->phase ? "fallback:%s" : "%s", name);
    return buf;
}

/* The bound of the waiting policy for a study calling provider p (may be NULL):
 * llm.wait seconds, or for "auto" the longest one call may take with p's
 * settings (its attempts' timeouts and the backoffs between them). */
static int64_t wait_bound_ms(const struct spec *sp, const struct llm_provider *p)
{
    const json_t *w = sp->llm ? json_object_get(sp->llm, "wait") : NULL;
    if (json_is_number(w))
        return (int64_t)(json_number_value(w) * 1000.0);
    if (!p)
        return WAIT_AUTO_MIN_MS;
    double s =
        p->timeout_s * (p->max_retries + 1) + p->backoff_s * (ldexp(1.0, p->max_retries) - 1);
    int64_t ms = (int64_t)(s * 1000.0);
    return ms > WAIT_AUTO_MIN_MS ? ms : WAIT_AUTO_MIN_MS;
}

/* ---- the per-study table (lock held) ---- */

static void queue_push(struct lstudy *s, struct proposal *p)
{
    p->next = NULL;
    if (s->tail)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    s->n_queued++;
}

static struct proposal *queue_pop(struct lstudy *s)
{
    struct proposal *p = s->head;
    if (!p)
        return NULL;
    s->head = p->next;
    if (!s->head)
        s->tail = NULL;
    s->n_queued--;
    return p;
}

static void proposal_free(struct proposal *p)
{
    if (p) {
        json_decref(p->config);
        free(p);
    }
}

static void queue_clear(struct lstudy *s)
{
    struct proposal *p;
    while ((p = queue_pop(s)))
        proposal_free(p);
}

static struct lstudy *study_find(long long id)
{
    for (struct lstudy *s = studies; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static struct lstudy *study_get(long long id, const char *name)
{
    struct lstudy *s = study_find(id);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = id;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->seen = scan_gen;
    s->next = studies;
    studies = s;
    return s;
}

/* Bring what the entry knows up to date: phase, queue size, token budget. */
static void study_refresh(struct lstudy *s, const struct study *st, long long next,
                          long long tokens_used, long long outstanding)
{
    /* Counts read before a take's trials were committed are stale. */
    if (outstanding >= 0 && next >= s->next_seen)
        s->outstanding = outstanding;
    const struct spec *sp = st->spec;
    if (next > s->next_seen)
        s->next_seen = next;
    long long room = phase_room(sp, s->next_seen);
    s->rank = is_rank(sp);
    s->active = st->state == STUDY_RUNNING && room > 0;
    s->never = strcmp(json_str(sp->llm, "fallback", "allow"), "never") == 0;
    s->bound_ms = wait_bound_ms(
        sp, reg ? llm_registry_get(reg, json_str(sp->llm, "provider", "default")) : NULL);
    if (tokens_used >= 0)
        s->exhausted = tokens_used >= json_int(sp->llm, "max_tokens", 500000);
    if (s->rank) {
        s->want = (size_t)json_int(sp->llm, "candidates", RANK_CANDIDATES);
        s->target = s->want;
    } else {
        size_t batch = (size_t)json_int(sp->llm, "batch", 1);
        size_t ahead = sp->max_parallel < QUEUE_AHEAD ? (size_t)sp->max_parallel : QUEUE_AHEAD;
        s->sequential = sp->max_parallel == 1;
        s->want = batch < (size_t)room ? batch : (size_t)room;
        if (s->sequential)
            s->target = 0;
        else
            s->target = ahead + batch < (size_t)room ? ahead + batch : (size_t)room;
    }
}

/* Whether entry s wants another call now (lock held): its queue is short, or a
 * suggest waits on an empty one; a sequential study only when no trial is out
 * or a suggest waits. */
static bool wants_call(const struct lstudy *s, int64_t now)
{
    if (!s->active || s->exhausted || s->want == 0)
        return false;
    bool demand = s->demand_until > now;
    if (s->sequential)
        return s->n_queued == 0 && (s->outstanding == 0 || demand);
    return s->n_queued < s->target || (demand && s->n_queued == 0);
}

/* Whether the provider counts as down for s: its calls have been failing for
 * the bound (lock held). */
static bool is_down(const struct lstudy *s, int64_t now)
{
    return s->failures > 0 && now - s->failing_since >= s->bound_ms;
}

/* When suggests waiting on s must be looked at again because the bound runs
 * out (the provider goes down, or they waited it out), 0 when never (lock
 * held). */
static int64_t bound_deadline(const struct lstudy *s)
{
    if (s->never)
        return 0;
    int64_t t = s->starved_since ? s->starved_since + s->bound_ms : 0;
    if (s->failures > 0 && (t == 0 || s->failing_since + s->bound_ms < t))
        t = s->failing_since + s->bound_ms;
    return t;
}

/* Resume the suggests waiting on study_id: one, which passes the wake on to
 * the next when it is served. */
static void wake_requests(long long study_id)
{
    wake_study(study_id, 1);
}

/* ---- taking proposals (request threads) ---- */

static bool in_history(const struct sampler_ctx *ctx, const json_t *config)
{
    for (size_t i = 0; i < ctx->n_history; i++)
        if (json_same(ctx->history[i].params, config))
            return true;
    for (size_t i = 0; i < ctx->n_pending; i++)
        if (json_same(ctx->pending[i].params, config))
            return true;
    return false;
}

/* Rank mode: order the pool (taken out of the entry) best first by the GP. */
static struct proposal *rank_pool(const struct sampler_ctx *ctx, struct proposal *pool, size_t n)
{
    struct proposal **v = malloc(n * sizeof *v);
    const json_t **c = malloc(n * sizeof *c);
    double *score = malloc(n * sizeof *score);
    if (!v || !c || !score)
        goto out_free;
    size_t i = 0;
    for (struct proposal *p = pool; p; p = p->next, i++) {
        v[i] = p;
        c[i] = p->config;
    }
    if (gp_rank_best(ctx, c, n, score) < 0)
        goto out_free;
    /* Stable insertion sort by score, highest first (ties keep the LLM's order). */
    for (i = 1; i < n; i++) {
        struct proposal *p = v[i];
        double sc = score[i];
        size_t j = i;
        for (; j > 0 && score[j - 1] < sc; j--) {
            v[j] = v[j - 1];
            score[j] = score[j - 1];
        }
        v[j] = p;
        score[j] = sc;
    }
    for (i = 0; i + 1 < n; i++)
        v[i]->next = v[i + 1];
    v[n - 1]->next = NULL;
    pool = v[0];
out_free:
    free(v);
    free(c);
    free(score);
    return pool;
}

/* Decide, for a take that got fewer proposals than it wanted, whether the
 * request waits for the LLM or the fallback serves (lock held). */
static void take_short(struct lstudy *s, const struct study *st, int64_t now, struct llm_take *t)
{
    if (!s->starved_since)
        s->starved_since = now;
    s->demand_until = now + DEMAND_MS;
    if (s->exhausted) {
        if (s->never)
            snprintf(t->refused, sizeof t->refused,
                     "study \"%s\": llm.max_tokens (%lld) is spent and llm.fallback is "
                     "\"never\": raise llm.max_tokens or allow the fallback",
                     st->name, (long long)json_int(st->spec->llm, "max_tokens", 500000));
        return;
    }
    if (s->never) {
        t->wait = true;
    } else if (!s->active || n_threads == 0) {
        t->wait = false;
    } else if (is_down(s, now)) {
        t->wait = false;
    } else if (now - s->starved_since >= s->bound_ms) {
        /* waited the bound out: this one gets the fallback, the next waits again */
        s->starved_since = now;
        t->wait = false;
    } else {
        t->wait = true;
    }
    if (t->wait) {
        /* the request waited already (or could not): ask again soon, or once
         * the study's backoff ends when its calls fail */
        int64_t left = s->backoff_until - now;
        t->retry_after_s = left > 1000 ? (int)((left + 999) / 1000) : 1;
    }
}

int llm_hook_take(const struct study *st, const struct sampler_ctx *ctx, size_t k, json_t **configs,
                  char **sources, struct llm_take *take)
{
    memset(take, 0, sizeof *take);
    take->study_id = st->id;
    take->phase = phase_room(st->spec, ctx->next_number) > 0;
    if (!take->phase || k == 0)
        return 0;
    struct llm_registry *r = registry();
    const char *pname = json_str(st->spec->llm, "provider", "default");
    if (!r || !llm_registry_get(r, pname)) {
        if (strcmp(json_str(st->spec->llm, "fallback", "allow"), "never") == 0)
            snprintf(take->refused, sizeof take->refused,
                     "study \"%s\": llm provider \"%s\" is not configured and llm.fallback is "
                     "\"never\"",
                     st->name, pname);
        return 0;
    }
    lock_take(&lock);
    struct lstudy *s = study_get(st->id, st->name);
    if (!s) {
        lock_drop(&lock);
        return 0;
    }
    study_refresh(s, st, ctx->next_number, -1, (long long)ctx->n_pending);
    /* Take the queue out, check it against the current history outside the lock. */
    struct proposal *pool = s->head;
    s->head = s->tail = NULL;
    s->n_queued = 0;
    s->users++;
    bool rank = s->rank;
    lock_drop(&lock);

    struct proposal *kept = NULL, **link = &kept;
    size_t n_kept = 0;
    while (pool) {
        struct proposal *p = pool;
        pool = p->next;
        p->next = NULL;
        if (in_history(ctx, p->config)) {
            log_debug("study \"%s\": dropped a queued llm proposal that repeats a trial", st->name);
            proposal_free(p);
            continue;
        }
        *link = p;
        link = &p->next;
        n_kept++;
    }
    if (rank && n_kept > 1)
        kept = rank_pool(ctx, kept, n_kept);
    size_t got = 0;
    while (kept && got < k) {
        struct proposal *p = kept;
        kept = p->next;
        configs[got] = p->config;
        sources[got] = strdup(rank ? "llm+gp" : "llm");
        if (got < LLM_TAKE_MAX) {
            take->taken[got].config = p->config;
            take->taken[got].call_id = p->call_id;
            take->n = got + 1;
        }
        p->config = NULL;
        proposal_free(p);
        got++;
    }

    lock_take(&lock);
    /* Put back what was not taken, ahead of what landed meanwhile. */
    if (kept) {
        struct proposal *last = kept;
        size_t n = 1;
        while (last->next) {
            last = last->next;
            n++;
        }
        last->next = s->head;
        if (!s->head)
            s->tail = last;
        s->head = kept;
        s->n_queued += n;
    }
    s->users--;
    if (got < k)
        take_short(s, st, time_mono_ms(), take);
    else
        s->demand_until = 0; /* served (a suggest still waiting says so again) */
    /* The trials this suggest is about to create count already. */
    size_t made = take->wait || take->refused[0] ? got : k;
    study_refresh(s, st, ctx->next_number + (long long)made, -1,
                  (long long)(ctx->n_pending + made));
    if (wake_ready)
        pthread_cond_broadcast(&wake);
    lock_drop(&lock);
    return (int)got;
}

void llm_hook_created(struct db *db, const struct llm_take *take, const json_t *config,
                      long long number)
{
    for (size_t i = 0; i < take->n; i++) {
        if (take->taken[i].config != config)
            continue;
        if (take->taken[i].call_id <= 0)
            return;
        if (store_llm_call_add_trial(db, take->taken[i].call_id, number) < 0)
            log_warn("llm call %lld: cannot record trial %lld: %s", take->taken[i].call_id, number,
                     db_errmsg(db));
        return;
    }
}

/* ---- the LLM threads ---- */

/* The next trial number, the tokens spent and the trials out of a study. */
static void study_numbers(struct db *db, long long id, long long *next, long long *used,
                          long long *outstanding)
{
    struct llm_numbers n;
    if (store_llm_numbers(db, id, &n) < 0) /* zeros; a study deleted meanwhile is skipped */
        log_debug("llm: cannot read study %lld: %s", id, db_errmsg(db));
    *next = n.next_number;
    *used = n.tokens_used;
    *outstanding = n.outstanding;
}

/* Find the running studies that use the LLM and refresh their entries; forget
 * the others. */
static void scan(struct db *db)
{
    size_t n;
    long long *ids;
    if (store_running_study_ids(db, &ids, &n) < 0) {
        log_warn("llm: cannot list the running studies: %s", db_errmsg(db));
        return;
    }
    lock_take(&lock);
    unsigned gen = ++scan_gen;
    lock_drop(&lock);
    for (size_t i = 0; i < n; i++) {
        struct study st;
        struct serr e;
        if (store_study_load_id(db, ids[i], &st, &e) < 0)
            continue;
        /* A study whose provider is gone (restarted with another config) gets
         * the fallback: no entry. */
        if (uses_llm(st.spec) &&
            llm_registry_get(reg, json_str(st.spec->llm, "provider", "default"))) {
            long long next, used, out;
            study_numbers(db, st.id, &next, &used, &out);
            lock_take(&lock);
            struct lstudy *s = phase_room(st.spec, next) > 0 || study_find(st.id)
                                   ? study_get(st.id, st.name)
                                   : NULL;
            if (s) {
                study_refresh(s, &st, next, used, out);
                s->seen = gen;
            }
            lock_drop(&lock);
        }
        store_study_release(&st);
    }
    free(ids);
    /* Studies no longer running (or no longer in their LLM phase): drop. */
    lock_take(&lock);
    for (struct lstudy **ps = &studies; *ps;) {
        struct lstudy *s = *ps;
        if (s->seen != gen && !s->busy && s->users == 0) {
            *ps = s->next;
            queue_clear(s);
            free(s);
        } else {
            if (s->seen != gen)
                s->active = false;
            ps = &s->next;
        }
    }
    lock_drop(&lock);
}

/* The entry most in need of a call, or NULL (lock held). */
static struct lstudy *pick(int64_t now)
{
    struct lstudy *best = NULL;
    for (struct lstudy *s = studies; s; s = s->next) {
        if (s->busy || now < s->backoff_until || !wants_call(s, now))
            continue;
        /* A study whose suggests are waiting comes first, then the emptiest queue. */
        bool waits = s->demand_until > now, best_waits = best && best->demand_until > now;
        if (!best || (waits && !best_waits) ||
            (waits == best_waits && s->n_queued < best->n_queued))
            best = s;
    }
    return best;
}

/* Note the bounds that ran out since last seen, up to cap of them, with
 * their studies in ids, so that the suggests waiting on those look again; how
 * many (lock held). */
static size_t bounds_due(int64_t now, long long *ids, size_t cap)
{
    size_t n = 0;
    for (struct lstudy *s = studies; s && n < cap; s = s->next) {
        int64_t d = bound_deadline(s);
        if (d && now >= d && s->woken_for != d) {
            s->woken_for = d;
            ids[n++] = s->id;
        }
    }
    return n;
}

/* When the next timed event is due (lock held). */
static int64_t next_event(void)
{
    int64_t t = next_scan;
    for (struct lstudy *s = studies; s; s = s->next) {
        int64_t d = bound_deadline(s);
        if (d && s->woken_for != d && d < t)
            t = d;
        if (s->active && !s->busy && s->backoff_until > 0 && s->backoff_until < t)
            t = s->backoff_until;
    }
    return t;
}

/* Failed and pruned trials' details for the prompt: error texts and last steps. */
static json_t *trial_details(struct db *db, long long study_id)
{
    json_t *out = json_object();
    struct llm_trial_notes notes;
    if (store_llm_trial_notes(db, study_id, &notes) < 0)
        log_warn("llm: cannot read the failed trials of study %lld: %s", study_id, db_errmsg(db));
    for (size_t i = 0; out && i < notes.n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", notes.v[i].number);
        json_object_set_new(out, key,
                            json_pack("{ss sI}", "error", notes.v[i].error, "last_step",
                                      (json_int_t)notes.v[i].last_step));
    }
    store_llm_notes_release(&notes);
    return out;
}

/* Store the exchanges of one proposal and add their tokens (estimates
 * included) and cost to the study. Returns the row id of the last exchange
 * (the one whose reply gave the configurations), 0 when nothing was stored. */
static long long record(struct db *db, const struct study *st, const struct llm_provider *p,
                        const struct llm_proposal *out)
{
    size_t n = out->n_audits;
    if (n == 0)
        return 0;
    struct llm_call_rec *recs = calloc(n, sizeof *recs);
    char **texts = calloc(2 * n, sizeof *texts);
    long long id = 0;
    if (!recs || !texts)
        goto out_free;
    double cost = 0;
    long tin = 0, tout = 0;
    for (size_t i = 0; i < n; i++) {
        const struct llm_audit *a = &out->audits[i];
        struct llm_call_rec *r = &recs[i];
        texts[2 * i] = json_dumps(a->messages, JSON_COMPACT | JSON_PRESERVE_ORDER);
        texts[2 * i + 1] = a->params ? json_dumps(a->params, JSON_COMPACT) : NULL;
        llm_provider_redact(p, texts[2 * i]);
        llm_provider_redact(p, a->request);
        r->provider = a->provider ? a->provider : p->name;
        r->model = a->model;
        r->model_requested = a->model_requested;
        r->messages = texts[2 * i];
        r->body = a->request;
        r->params = texts[2 * i + 1];
        r->structured = a->structured;
        r->reply = a->reply;
        r->reasoning = a->reasoning;
        r->error = a->error;
        r->tokens_in = a->tokens_in;
        r->tokens_out = a->tokens_out;
        r->tokens_estimated = a->tokens_estimated;
        r->at_ms = a->at_ms;
        r->latency_ms = (long)llround(a->latency_ms);
        r->status = a->http_status;
        r->attempt = a->attempt;
        r->configs = (int)a->n_configs;
        /* priced by the model that answered, else the one asked for */
        double c = llm_registry_cost(reg, a->model ? a->model : a->model_requested, a->tokens_in,
                                     a->tokens_out);
        if (c > 0)
            cost += c;
        tin += a->tokens_in;
        tout += a->tokens_out;
    }
    if (store_llm_calls_add(db, st->id, recs, n, tin, tout, cost, &id) < 0) {
        log_error("study \"%s\": cannot store llm calls: %s", st->name, db_errmsg(db));
        id = 0;
    }
out_free:
    for (size_t i = 0; texts && i < 2 * n; i++)
        free(texts[i]);
    free(texts);
    free(recs);
    return id;
}

/* One call for entry s (busy, so it stays): build the history, ask, store the
 * exchanges, queue the configurations. */
static void serve(struct db *db, struct lstudy *s)
{
    struct study st;
    struct serr e;
    if (store_study_load_id(db, s->id, &st, &e) < 0) {
        lock_take(&lock);
        s->active = false;
        lock_drop(&lock);
        return;
    }
    long long next, used, outstanding;
    study_numbers(db, st.id, &next, &used, &outstanding);
    long long max_tokens = json_int(st.spec->llm, "max_tokens", 500000);
    struct llm_provider *prov =
        llm_registry_get(reg, json_str(st.spec->llm, "provider", "default"));
    lock_take(&lock);
    study_refresh(s, &st, next, used, outstanding);
    if (!prov)
        s->active = false;
    bool go = wants_call(s, time_mono_ms());
    size_t want = s->want, n_queued = s->n_queued;
    json_t **queued = go && n_queued ? calloc(n_queued, sizeof *queued) : NULL;
    size_t nq = 0;
    for (struct proposal *p = s->head; queued && p && nq < n_queued; p = p->next)
        queued[nq++] = json_deep_copy(p->config);
    lock_drop(&lock);
    if (!go) {
        store_study_release(&st);
        free(queued);
        return;
    }
    struct sampler_ctx ctx;
    struct llm_history h;
    memset(&h, 0, sizeof h);
    struct obs *pend = NULL;
    json_t *details = NULL, *metrics = NULL;
    struct llm_trial_reply *replies = NULL;
    size_t n_replies = 0;
    char *rejected_reply = NULL, *rejected_reason = NULL;
    struct llm_proposal out;
    memset(&out, 0, sizeof out);
    int n = -1;
    double took = 0;
    long long call_id = 0;
    if (history_load(db, &st, &ctx) < 0) {
        log_error("study \"%s\": cannot load the history for the llm: %s", st.name, db_errmsg(db));
        goto out_release;
    }
    /* Queued proposals count as being evaluated, so that the LLM proposes others. */
    pend = calloc(ctx.n_pending + nq + 1, sizeof *pend);
    if (!pend)
        goto out_release;
    if (ctx.n_pending)
        memcpy(pend, ctx.pending, ctx.n_pending * sizeof *pend);
    for (size_t i = 0; i < nq; i++)
        pend[ctx.n_pending + i] = (struct obs){queued[i], NAN, OBS_PENDING, -1};
    struct sampler_ctx hctx = ctx;
    hctx.pending = pend;
    hctx.n_pending = ctx.n_pending + nq;
    if (llm_history_from_obs(&h, &hctx, st.spec->maximize) < 0)
        goto out_release;
    details = trial_details(db, st.id);
    for (size_t i = 0; details && i < h.n_done; i++) {
        struct llm_trial *t = (struct llm_trial *)&h.done[i];
        char key[32];
        snprintf(key, sizeof key, "%ld", t->number);
        const json_t *d = json_object_get(details, key);
        if (!d)
            continue;
        if (t->state == OBS_FAILED && *json_str(d, "error", ""))
            t->error = json_str(d, "error", NULL);
        if (t->state == OBS_PRUNED)
            t->last_step = (long)json_int(d, "last_step", -1);
    }
    /* Several objectives or constraints: the prompt reads each finished
     * trial's objectives and constraint metrics from its reported values. */
    if (llm_prompt_multi(st.spec) && store_llm_trial_values(db, st.id, &metrics) < 0)
        log_warn("study \"%s\": cannot read the trials' metrics: %s", st.name, db_errmsg(db));
    for (size_t i = 0; metrics && i < h.n_done; i++) {
        struct llm_trial *t = (struct llm_trial *)&h.done[i];
        char key[32];
        snprintf(key, sizeof key, "%ld", t->number);
        t->values = json_object_get(metrics, key);
    }
    /* Chat history replays the LLM's own replies; other trials are the user's. */
    if (store_llm_history(db, st.id, &replies, &n_replies, &rejected_reply, &rejected_reason) < 0)
        log_warn("study \"%s\": cannot read the llm replies: %s", st.name, db_errmsg(db));
    for (size_t i = 0, k = 0; i < h.n_done; i++) {
        struct llm_trial *t = (struct llm_trial *)&h.done[i];
        while (k < n_replies && replies[k].number < t->number)
            k++;
        bool mine = k < n_replies && replies[k].number == t->number;
        t->origin = mine ? LLM_ORIGIN_LLM : LLM_ORIGIN_OTHER;
        t->reply = mine ? replies[k].reply : NULL;
    }
    h.rejected_reason = rejected_reason;
    struct llm_propose_opts o;
    llm_propose_opts_init(&o);
    o.want = want;
    o.tokens_left = (long)(max_tokens - used);
    o.cancel = &stopping;
    int64_t t0 = time_mono_ms();
    n = llm_propose(prov, st.spec, &h, &o, &out);
    took = (double)(time_mono_ms() - t0);
    call_id = record(db, &st, prov, &out);
    if (n > 0)
        log_info("study \"%s\": llm proposed %d configuration%s (%ld tokens in, %ld out)", st.name,
                 n, n == 1 ? "" : "s", out.tokens_in, out.tokens_out);
    else if (!atomic_load(&stopping))
        log_warn("study \"%s\": llm proposal failed: %s", st.name,
                 out.error ? out.error : "no configuration");

out_release:;
    int64_t now = time_mono_ms();
    bool wake_them = false;
    lock_take(&lock);
    if (used + out.tokens_in + out.tokens_out >= max_tokens && !s->exhausted) {
        s->exhausted = true;
        wake_them = true; /* suggests waiting for the LLM get the fallback */
    }
    if (n > 0) {
        size_t i;
        json_t *conf;
        json_array_foreach(out.configs, i, conf)
        {
            struct proposal *p = calloc(1, sizeof *p);
            if (!p)
                break;
            p->config = json_incref(conf);
            p->call_id = call_id;
            queue_push(s, p);
        }
        /* A rank pool keeps its freshest candidates. */
        while (s->rank && s->n_queued > 3 * s->want)
            proposal_free(queue_pop(s));
        /* The provider answers: an outage ends, waiting starts afresh. */
        s->failures = 0;
        s->failing_since = 0;
        s->backoff_until = 0;
        s->starved_since = 0;
        wake_them = true;
    } else if (!atomic_load(&stopping)) {
        /* Another call after a short pause: the provider's backoff_s, doubling
         * per failure up to LLM_HOOK_RETRY_MAX_MS (the client already honoured
         * Retry-After between its attempts). */
        if (s->failures++ == 0)
            s->failing_since = now - (int64_t)took;
        int64_t d = prov ? (int64_t)(prov->backoff_s * 1000.0) : LLM_HOOK_RETRY_MAX_MS;
        if (d < BACKOFF_MIN_MS)
            d = BACKOFF_MIN_MS;
        for (int i = 1; i < s->failures && d < LLM_HOOK_RETRY_MAX_MS; i++)
            d *= 2;
        s->backoff_until = now + (d < LLM_HOOK_RETRY_MAX_MS ? d : LLM_HOOK_RETRY_MAX_MS);
        /* A provider that said when to come back (429 or 503 with Retry-After on
         * the call's last attempt) is not asked before then. */
        int64_t ra = (int64_t)(out.retry_after_s * 1000.0);
        if (ra > 0 && now + ra > s->backoff_until)
            s->backoff_until = now + ra;
        /* Waiting suggests keep waiting; bounds_due() wakes them once the
         * provider counts as down. */
    }
    long long sid = s->id;
    lock_drop(&lock);
    if (wake_them)
        wake_requests(sid);
    json_decref(details);
    json_decref(metrics);
    store_llm_history_free(replies, n_replies, rejected_reply, rejected_reason);
    llm_proposal_release(&out);
    llm_history_release(&h);
    free(pend);
    if (ctx.history || ctx.pending)
        history_free(&ctx);
    for (size_t i = 0; i < nq; i++)
        json_decref(queued[i]);
    free(queued);
    store_study_release(&st);
}

static void *llm_thread(void *arg)
{
    (void)arg;
    lock_take(&lock);
    while (!atomic_load(&stopping)) {
        int64_t now = time_mono_ms();
        if (now >= next_scan && !scanning) {
            scanning = true;
            lock_drop(&lock);
            struct db *db = db_thread();
            if (db)
                scan(db);
            lock_take(&lock);
            scanning = false;
            next_scan = time_mono_ms() + SCAN_MS;
            continue;
        }
        long long due[32];
        size_t n_due = bounds_due(now, due, sizeof due / sizeof due[0]);
        if (n_due > 0) {
            lock_drop(&lock);
            for (size_t i = 0; i < n_due; i++)
                wake_requests(due[i]);
            lock_take(&lock);
            continue;
        }
        struct lstudy *s = pick(now);
        if (s) {
            s->busy = true;
            lock_drop(&lock);
            struct db *db = db_thread();
            if (db)
                serve(db, s);
            lock_take(&lock);
            s->busy = false;
            if (!db)
                s->backoff_until = time_mono_ms() + 1000;
            continue;
        }
        int64_t until = next_event();
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        lock_wait_until(&wake, &lock, &ts);
    }
    lock_drop(&lock);
    db_thread_close();
    return NULL;
}

int llm_hook_start(void)
{
    struct llm_registry *r = registry();
    char err[512];
    if (!r) {
        log_error("llm providers: %s", reg_err);
        return -1;
    }
    if (llm_registry_finish(r, err, sizeof err) < 0) {
        log_error("llm providers: %s", err);
        return -1;
    }
    if (r->n_providers == 0)
        return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&stopping, false);
    size_t want = cfg.llm_threads ? cfg.llm_threads : 1;
    threads = calloc(want, sizeof *threads);
    if (!threads)
        return -1;
    lock_take(&lock);
    wake_ready = true;
    next_scan = 0;
    lock_drop(&lock);
    for (n_threads = 0; n_threads < want; n_threads++)
        if (pthread_create(&threads[n_threads], NULL, llm_thread, NULL) != 0) {
            log_error("cannot start llm thread %zu", n_threads + 1);
            llm_hook_stop();
            return -1;
        }
    for (size_t i = 0; i < r->n_providers; i++)
        log_info("llm provider \"%s\": %s format at %s, model %s", r->providers[i]->name,
                 r->providers[i]->format == LLM_FORMAT_ANTHROPIC ? "anthropic" : "openai",
                 r->providers[i]->base_url,
                 r->providers[i]->model ? r->providers[i]->model : "(set by each study)");
    log_info("%zu llm thread%s", n_threads, n_threads == 1 ? "" : "s");
    return 0;
}

void llm_hook_stop(void)
{
    atomic_store(&stopping, true);
    lock_take(&lock);
    if (wake_ready)
        pthread_cond_broadcast(&wake);
    lock_drop(&lock);
    /* A call in flight gives up at its next retry or wait; one HTTP attempt may
     * run to its timeout, so the wait for it is bounded. */
    size_t left = 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_JOIN_MS / 1000;
    for (size_t i = 0; i < n_threads; i++) {
        if (pthread_timedjoin_np(threads[i], NULL, &until) != 0) {
            pthread_detach(threads[i]);
            left++;
        }
    }
    free(threads);
    threads = NULL;
    n_threads = 0;
    if (left) {
        /* Those threads still use the registry and the table: leave them be. */
        log_warn("%zu llm call%s still in flight at shutdown", left, left == 1 ? "" : "s");
        return;
    }
    lock_take(&lock);
    while (studies) {
        struct lstudy *s = studies;
        studies = s->next;
        queue_clear(s);
        free(s);
    }
    if (wake_ready) {
        wake_ready = false;
        lock_drop(&lock);
        pthread_cond_destroy(&wake);
    } else {
        lock_drop(&lock);
    }
    pthread_mutex_lock(&reg_lock);
    llm_registry_free(reg);
    reg = NULL;
    reg_broken = false;
    pthread_mutex_unlock(&reg_lock);
}
