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
#include "propose.h"
#include "provider.h"
#include "log.h"
#include "gp_rank.h"
#include "sampler.h"
#include "settings.h"
#include "store.h"
#include "suggest.h"
#include "timeutil.h"

#define SCAN_MS         1000  /* how often the threads look for studies to serve */
#define BACKOFF_MIN_MS  50    /* shortest pause of a study after a failed proposal */
#define BACKOFF_MAX_MS  60000 /* longest pause, reached by doubling */
#define QUEUE_AHEAD     4     /* proposals kept ahead of demand, at most, beyond a batch */
#define RANK_CANDIDATES 5     /* llm.candidates when a rank study does not say */
#define STOP_JOIN_MS    5000  /* how long llm_hook_stop() waits for a call in flight */
#define TAKEN_MAX       64    /* proposals remembered per take (a suggest's count cap) */

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
    bool sequential;       /* max_parallel 1: call only when a suggest waits (the
                              paper's loop: each proposal sees every result) */
    double latency_ms;     /* recent duration of a successful proposal (smoothed) */
    long long outstanding; /* trials pending or running, as last seen */
    bool active;           /* running and in its LLM phase, as last seen */
    bool busy;             /* a call is in flight */
    int users;             /* takes working on the entry outside the lock */
    bool exhausted;        /* llm.max_tokens spent */
    int failures;          /* consecutive failed calls */
    int64_t backoff_until; /* no call before this (monotonic ms) */
    int64_t wait_until;    /* suggests may wait for the LLM until this; 0: no window */
    bool landed;           /* a proposal landed since the window opened */
    bool wait_spent;       /* a window ran out with nothing landing: no more until one does */
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

/* What the last take on this thread handed out. */
struct taken {
    const json_t *config; /* borrowed: identity only */
    long long call_id;    /* llm_calls row */
};
static __thread struct taken tl_taken[TAKEN_MAX];
static __thread size_t tl_n_taken;
static __thread long long tl_study = -1;
static __thread bool tl_phase;

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

const char *llm_hook_source_label(const struct study *st, const char *name)
{
    static __thread char label[80];
    if (tl_study == st->id && tl_phase) {
        snprintf(label, sizeof label, "fallback:%s", name);
        return label;
    }
    return name;
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
    s->active = strcmp(st->state, "running") == 0 && room > 0;
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
static bool wants_call(const struct lstudy *s)
{
    if (!s->active || s->exhausted || s->want == 0)
        return false;
    if (s->sequential)
        return s->n_queued == 0 && (s->outstanding == 0 || s->wait_until);
    return s->n_queued < s->target || (s->wait_until && s->n_queued == 0);
}

/* Resume the suggests waiting for something to change. */
static void wake_requests(void)
{
    store_event_bump();
    wake_due(store_event_seq());
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

int llm_hook_take(const struct study *st, const struct sampler_ctx *ctx, size_t k, json_t **configs,
                  char **sources, bool *wait)
{
    *wait = false;
    tl_n_taken = 0;
    tl_study = st->id;
    tl_phase = phase_room(st->spec, ctx->next_number) > 0;
    if (!tl_phase || k == 0)
        return 0;
    struct llm_registry *r = registry();
    if (!r || !llm_registry_get(r, json_str(st->spec->llm, "provider", "default")))
        return 0;
    int64_t now = time_mono_ms();
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
        if (got < TAKEN_MAX) {
            tl_taken[got].config = p->config;
            tl_taken[got].call_id = p->call_id;
            tl_n_taken = got + 1;
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
    if (got < k) {
        /* Nothing ready: wait for the call in flight while the LLM looks healthy
         * and a window is open; once it runs out the fallback serves. */
        bool healthy = s->active && !s->exhausted && s->failures == 0 && now >= s->backoff_until &&
                       n_threads > 0;
        if (s->wait_until && now >= s->wait_until) {
            s->wait_until = 0;
            s->wait_spent = !s->landed;
        }
        if (healthy && !s->wait_until && !s->wait_spent) {
            /* Long enough for a call of the usual duration, at least the default. */
            double len =
                2 * s->latency_ms > LLM_HOOK_WAIT_MS ? 2 * s->latency_ms : LLM_HOOK_WAIT_MS;
            s->wait_until =
                now + (int64_t)(len < LLM_HOOK_WAIT_MAX_MS ? len : LLM_HOOK_WAIT_MAX_MS);
            s->landed = false;
        }
        *wait = healthy && s->wait_until > now;
    } else if (s->wait_until) {
        /* Served: the window closes (a suggest still waiting opens another). */
        s->wait_until = 0;
    }
    /* The trials this suggest is about to create count already. */
    size_t made = *wait ? got : k;
    study_refresh(s, st, ctx->next_number + (long long)made, -1,
                  (long long)(ctx->n_pending + made));
    if (wake_ready)
        pthread_cond_broadcast(&wake);
    lock_drop(&lock);
    return (int)got;
}

void llm_hook_created(struct db *db, const json_t *config, long long number)
{
    for (size_t i = 0; i < tl_n_taken; i++) {
        if (tl_taken[i].config != config)
            continue;
        if (tl_taken[i].call_id <= 0)
            return;
        sqlite3_stmt *q = db_stmt(db, "UPDATE llm_calls SET trials = json_insert(trials, '$[#]', "
                                      "?1) WHERE id = ?2");
        if (!q)
            return;
        sqlite3_bind_int64(q, 1, number);
        sqlite3_bind_int64(q, 2, tl_taken[i].call_id);
        if (sqlite3_step(q) != SQLITE_DONE)
            log_warn("llm call %lld: cannot record trial %lld: %s", tl_taken[i].call_id, number,
                     db_errmsg(db));
        sqlite3_reset(q);
        return;
    }
}

/* ---- the LLM threads ---- */

/* The next trial number, the tokens spent and the trials out of a study. */
static void study_numbers(struct db *db, long long id, long long *next, long long *used,
                          long long *outstanding)
{
    *next = *used = *outstanding = 0;
    sqlite3_stmt *c = db_stmt(db, "SELECT s.next_number, s.tokens_in + s.tokens_out, (SELECT "
                                  "COUNT(*) FROM trials t WHERE t.study_id = s.id AND t.state IN "
                                  "('pending', 'running')) FROM studies s WHERE s.id = ?");
    if (!c)
        return;
    sqlite3_bind_int64(c, 1, id);
    if (sqlite3_step(c) == SQLITE_ROW) {
        *next = sqlite3_column_int64(c, 0);
        *used = sqlite3_column_int64(c, 1);
        *outstanding = sqlite3_column_int64(c, 2);
    }
    sqlite3_reset(c);
}

/* Find the running studies that use the LLM and refresh their entries; forget
 * the others. */
static void scan(struct db *db)
{
    sqlite3_stmt *q = db_stmt(db, "SELECT id FROM studies WHERE state = 'running' ORDER BY id");
    if (!q)
        return;
    size_t n = 0, cap = 16;
    long long *ids = malloc(cap * sizeof *ids);
    while (ids && sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            long long *v = realloc(ids, 2 * cap * sizeof *ids);
            if (!v)
                break;
            ids = v;
            cap *= 2;
        }
        ids[n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    if (!ids)
        return;
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
        if (s->busy || now < s->backoff_until || !wants_call(s))
            continue;
        /* A study whose suggests are waiting comes first, then the emptiest queue. */
        if (!best || (s->wait_until && !best->wait_until) ||
            (!s->wait_until == !best->wait_until && s->n_queued < best->n_queued))
            best = s;
    }
    return best;
}

/* Close the waiting windows that ran out; true when one did (lock held). */
static bool expire_windows(int64_t now)
{
    bool any = false;
    for (struct lstudy *s = studies; s; s = s->next) {
        if (s->wait_until && now >= s->wait_until) {
            s->wait_until = 0;
            s->wait_spent = !s->landed;
            any = true;
        }
    }
    return any;
}

/* When the next timed event is due (lock held). */
static int64_t next_event(void)
{
    int64_t t = next_scan;
    for (struct lstudy *s = studies; s; s = s->next) {
        if (s->wait_until && s->wait_until < t)
            t = s->wait_until;
        if (s->active && !s->busy && s->backoff_until > 0 && s->backoff_until < t)
            t = s->backoff_until;
    }
    return t;
}

/* Failed and pruned trials' details for the prompt: error texts and last steps. */
static json_t *trial_details(struct db *db, long long study_id)
{
    json_t *out = json_object();
    sqlite3_stmt *q = db_stmt(db, "SELECT number, error, last_step FROM trials WHERE study_id = ? "
                                  "AND state IN ('failed', 'pruned')");
    if (!q || !out)
        return out;
    sqlite3_bind_int64(q, 1, study_id);
    while (sqlite3_step(q) == SQLITE_ROW) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)sqlite3_column_int64(q, 0));
        const char *err = (const char *)sqlite3_column_text(q, 1);
        json_object_set_new(out, key,
                            json_pack("{ss sI}", "error", err ? err : "", "last_step",
                                      (json_int_t)(sqlite3_column_type(q, 2) == SQLITE_NULL
                                                       ? -1
                                                       : sqlite3_column_int64(q, 2))));
    }
    sqlite3_reset(q);
    return out;
}

/* Store the exchanges of one proposal and add their tokens and cost to the
 * study. Returns the row id of the last exchange (the one whose reply gave the
 * configurations), 0 when nothing was stored. */
static long long record(struct db *db, const struct study *st, const struct llm_provider *p,
                        const struct llm_proposal *out)
{
    if (out->n_audits == 0)
        return 0;
    if (db_begin(db) < 0) {
        log_error("study \"%s\": cannot store llm calls: %s", st->name, db_errmsg(db));
        return 0;
    }
    int64_t at = time_now_ms();
    for (size_t i = 0; i < out->n_audits; i++)
        at -= (int64_t)out->audits[i].latency_ms;
    long long id = 0;
    double cost = 0;
    long tin = 0, tout = 0;
    for (size_t i = 0; i < out->n_audits; i++) {
        const struct llm_audit *a = &out->audits[i];
        char *messages = json_dumps(a->messages, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (messages)
            llm_provider_redact(p, messages);
        sqlite3_stmt *q = db_stmt(db, "INSERT INTO llm_calls (study_id, at, provider, model, "
                                      "request, reply, tokens_in, tokens_out, latency_ms, status, "
                                      "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!q || !messages) {
            free(messages);
            goto out_rollback;
        }
        sqlite3_bind_int64(q, 1, st->id);
        sqlite3_bind_int64(q, 2, at);
        sqlite3_bind_text(q, 3, a->provider ? a->provider : p->name, -1, SQLITE_STATIC);
        if (a->model)
            sqlite3_bind_text(q, 4, a->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, messages, -1, SQLITE_STATIC);
        if (a->reply)
            sqlite3_bind_text(q, 6, a->reply, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 7, a->tokens_in);
        sqlite3_bind_int64(q, 8, a->tokens_out);
        sqlite3_bind_int64(q, 9, (sqlite3_int64)llround(a->latency_ms));
        if (a->http_status > 0)
            sqlite3_bind_int64(q, 10, a->http_status);
        if (a->error)
            sqlite3_bind_text(q, 11, a->error, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        free(messages);
        if (rc != SQLITE_DONE)
            goto out_rollback;
        id = sqlite3_last_insert_rowid(db_handle(db));
        at += (int64_t)a->latency_ms;
        double c =
            llm_registry_cost(reg, a->model ? a->model : p->model, a->tokens_in, a->tokens_out);
        if (c > 0)
            cost += c;
        tin += a->tokens_in;
        tout += a->tokens_out;
    }
    sqlite3_stmt *u = db_stmt(db, "UPDATE studies SET tokens_in = tokens_in + ?, tokens_out = "
                                  "tokens_out + ?, cost_usd = cost_usd + ? WHERE id = ?");
    if (!u)
        goto out_rollback;
    sqlite3_bind_int64(u, 1, tin);
    sqlite3_bind_int64(u, 2, tout);
    sqlite3_bind_double(u, 3, cost);
    sqlite3_bind_int64(u, 4, st->id);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    if (rc != SQLITE_DONE || db_commit(db) < 0)
        goto out_rollback;
    return id;
out_rollback:
    log_error("study \"%s\": cannot store llm calls: %s", st->name, db_errmsg(db));
    db_rollback(db);
    return 0;
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
    bool go = wants_call(s);
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
    json_t *details = NULL;
    struct llm_proposal out;
    memset(&out, 0, sizeof out);
    int n = -1;
    double took = 0;
    long long call_id = 0;
    if (suggest_history_load(db, &st, &ctx) < 0) {
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
    if (used + out.tokens_in + out.tokens_out >= max_tokens)
        s->exhausted = true;
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
        s->failures = 0;
        s->backoff_until = 0;
        s->latency_ms = s->latency_ms > 0 ? 0.7 * s->latency_ms + 0.3 * took : took;
        s->landed = true;
        s->wait_spent = false;
        wake_them = true;
    } else if (!atomic_load(&stopping)) {
        /* The pause starts at the provider's backoff_s and doubles per failure. */
        s->failures++;
        int64_t d = prov ? (int64_t)(prov->backoff_s * 1000.0) : BACKOFF_MAX_MS;
        if (d < BACKOFF_MIN_MS)
            d = BACKOFF_MIN_MS;
        for (int i = 1; i < s->failures && d < BACKOFF_MAX_MS; i++)
            d *= 2;
        s->backoff_until = now + (d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS);
        /* Suggests waiting for this call get the fallback now. */
        if (s->wait_until) {
            s->wait_until = 0;
            s->wait_spent = true;
            wake_them = true;
        }
    }
    lock_drop(&lock);
    if (wake_them)
        wake_requests();
    json_decref(details);
    llm_proposal_release(&out);
    llm_history_release(&h);
    free(pend);
    if (ctx.history || ctx.pending)
        suggest_history_free(&ctx);
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
        if (expire_windows(now)) {
            lock_drop(&lock);
            wake_requests();
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
