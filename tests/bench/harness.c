#include <config.h>
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double harness_median(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    if (n == 0)
        return NAN;
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void harness_percentiles(double *ms, size_t n, double *median, double *p99)
{
    *median = harness_median(ms, n);
    *p99 = ms[(size_t)ceil(0.99 * (double)n) - 1];
}

double harness_ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

bool harness_listed(const char *list, const char *name)
{
    if (!list || !*list)
        return true;
    size_t n = strlen(name);
    for (const char *q = list; *q;) {
        const char *comma = strchr(q, ',');
        size_t len = comma ? (size_t)(comma - q) : strlen(q);
        if (len == n && strncmp(q, name, n) == 0)
            return true;
        q += len + (comma ? 1 : 0);
    }
    return false;
}

int harness_split_list(char *list, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

struct space *harness_box_space(int dims, const double *lo, const double *hi, const char *who)
{
    json_t *arr = json_array();
    for (int j = 0; j < dims; j++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", j);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:f}", "name", name, "type", "float",
                                             "low", lo[j], "high", hi[j]));
    }
    char err[256];
    struct space *s = space_parse(arr, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s: space: %s\n", who, err);
    json_decref(arr);
    return s;
}

int harness_history_add(struct harness_history *h, json_t *params, enum obs_state state,
                        const double *y, const double *c)
{
    size_t nobj = h->nobj > 1 ? h->nobj : 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct obs *o = realloc(h->obs, cap * sizeof *o);
        if (o)
            h->obs = o;
        double *v = nobj ? realloc(h->values, cap * nobj * sizeof *v) : NULL;
        if (v)
            h->values = v;
        double *cc = h->ncon ? realloc(h->cons, cap * h->ncon * sizeof *cc) : NULL;
        if (cc)
            h->cons = cc;
        if (!o || (nobj && !v) || (h->ncon && !cc)) {
            json_decref(params);
            return -1;
        }
        h->cap = cap;
    }
    h->obs[h->n] = (struct obs){params, y[0], state, (long)h->n};
    if (nobj)
        memcpy(h->values + h->n * nobj, y, nobj * sizeof *y);
    if (h->ncon)
        memcpy(h->cons + h->n * h->ncon, c, h->ncon * sizeof *c);
    h->n++;
    return 0;
}

void harness_history_release(struct harness_history *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref((json_t *)h->obs[i].params);
    free(h->obs);
    free(h->values);
    free(h->cons);
    h->obs = NULL;
    h->values = h->cons = NULL;
    h->n = h->cap = 0;
}

json_t *harness_propose(const char *who, const char *sampler, const struct space *s,
                        const struct harness_history *h, uint64_t seed, const json_t *options)
{
    struct sampler_ctx ctx = {
        .space = s,
        .history = h->obs,
        .n_history = h->n,
        .seed = seed,
        .next_number = (long)h->n,
        .options = options,
        .n_objectives = h->nobj > 1 ? h->nobj : 0,
        .values = h->nobj > 1 ? h->values : NULL,
        .n_constraints = h->ncon,
        .constraints = h->ncon ? h->cons : NULL,
    };
    json_t *out = NULL;
    char err[256];
    if (sampler_propose(sampler, &ctx, 1, &out, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s: %s\n", who, sampler, err);
        return NULL;
    }
    return out;
}

struct pool {
    size_t n, next, group, finished;
    unsigned char *left; /* per group: runs not finished */
    void (*job)(size_t, void *);
    void (*done)(size_t, size_t, void *);
    void *arg;
    pthread_mutex_t lock;
};

static void *pool_worker(void *vp)
{
    struct pool *p = vp;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n)
            return NULL;
        p->job(i, p->arg);
        pthread_mutex_lock(&p->lock);
        p->finished++;
        if (--p->left[i / p->group] == 0 && p->done)
            p->done(i - i % p->group, p->finished, p->arg);
        pthread_mutex_unlock(&p->lock);
    }
}

int harness_pool_run(size_t n, size_t group, int jobs, void (*job)(size_t i, void *arg),
                     void (*done)(size_t first, size_t finished, void *arg), void *arg)
{
    group = group < 1 ? 1 : group > 255 ? 255 : group;
    struct pool p = {.n = n, .group = group, .job = job, .done = done, .arg = arg};
    size_t ngroups = (n + group - 1) / group;
    p.left = malloc(ngroups ? ngroups : 1);
    if (!p.left)
        return -1;
    for (size_t k = 0; k < ngroups; k++)
        p.left[k] = (unsigned char)(n - k * group < group ? n - k * group : group);
    pthread_mutex_init(&p.lock, NULL);
    jobs = jobs < 1 ? 1 : jobs > 16 ? 16 : jobs;
    pthread_t th[16];
    int started = 0;
    for (int j = 0; j < jobs; j++)
        started += pthread_create(&th[started], NULL, pool_worker, &p) == 0;
    if (started == 0)
        pool_worker(&p);
    for (int j = 0; j < started; j++)
        pthread_join(th[j], NULL);
    pthread_mutex_destroy(&p.lock);
    free(p.left);
    return 0;
}
