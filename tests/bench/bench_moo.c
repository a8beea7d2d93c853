#include <config.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pareto.h"
#include "rng.h"
#include "sampler.h"
#include "space.h"
#include "timeutil.h"

/* Benchmark driver for several objectives and constraints. Two modes, each
 * printing one JSON object:
 *
 *   bench_moo [--seeds 10] [--budget 200] [--only NAME,...]
 *             [--samplers auto,motpe,random] [--jobs 2]
 *       median hypervolume (against each problem's fixed reference point) of
 *       the feasible trials after 50 and 200 evaluations:
 *       {problem: {sampler: {"50": median, "200": median, "seeds": {...}}}}
 *   bench_moo --latency [--reps 30] [--samplers auto]
 *       suggest latency with 200 finished trials on each problem:
 *       {sampler@problem: {"trials", "median_ms", "p99_ms"}}
 *
 * The problems and reference points are those of optuna_moo.py, which runs
 * Optuna's samplers on them. Progress goes to standard error. */

#define MAX_DIMS 8
#define MAX_OBJ  3
#define MAX_CON  2

struct problem {
    const char *name;
    int dims, nobj, ncon;
    double lo[MAX_DIMS], hi[MAX_DIMS];
    double ref[MAX_OBJ]; /* 1.1 times the largest value of each objective on the box */
    void (*fn)(const double *x, double *y, double *c);
};

static void zdt_g(const double *x, int n, double *g)
{
    double s = 0;
    for (int i = 1; i < n; i++)
        s += x[i];
    *g = 1 + 9 * s / (n - 1);
}

static void zdt1(const double *x, double *y, double *c)
{
    (void)c;
    double g;
    zdt_g(x, 8, &g);
    y[0] = x[0];
    y[1] = g * (1 - sqrt(x[0] / g));
}

static void zdt2(const double *x, double *y, double *c)
{
    (void)c;
    double g;
    zdt_g(x, 8, &g);
    y[0] = x[0];
    y[1] = g * (1 - (x[0] / g) * (x[0] / g));
}

/* DTLZ2 with 3 objectives and 6 variables (the last 4 in g). */
static void dtlz2(const double *x, double *y, double *c)
{
    (void)c;
    double g = 0;
    for (int i = 2; i < 6; i++)
        g += (x[i] - 0.5) * (x[i] - 0.5);
    double a = x[0] * M_PI / 2, b = x[1] * M_PI / 2;
    y[0] = (1 + g) * cos(a) * cos(b);
    y[1] = (1 + g) * cos(a) * sin(b);
    y[2] = (1 + g) * sin(a);
}

/* Binh and Korn's constrained problem; constraints as values <= 0. */
static void binh_korn(const double *x, double *y, double *c)
{
    y[0] = 4 * x[0] * x[0] + 4 * x[1] * x[1];
    y[1] = (x[0] - 5) * (x[0] - 5) + (x[1] - 5) * (x[1] - 5);
    c[0] = (x[0] - 5) * (x[0] - 5) + x[1] * x[1] - 25;
    c[1] = 7.7 - (x[0] - 8) * (x[0] - 8) - (x[1] + 3) * (x[1] + 3);
}

static const struct problem problems[] = {
    {"zdt1", 8, 2, 0, {0}, {1, 1, 1, 1, 1, 1, 1, 1}, {1.1, 11}, zdt1},
    {"zdt2", 8, 2, 0, {0}, {1, 1, 1, 1, 1, 1, 1, 1}, {1.1, 11}, zdt2},
    {"dtlz2", 6, 3, 0, {0}, {1, 1, 1, 1, 1, 1}, {2.2, 2.2, 2.2}, dtlz2},
    {"binh_korn", 2, 2, 2, {0, 0}, {5, 3}, {149.6, 55}, binh_korn},
};
#define N_PROBLEMS (sizeof problems / sizeof problems[0])

static const int checkpoints[] = {50, 200};
#define N_CHECKPOINTS 2

static double median(double *v, size_t n)
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

static struct space *problem_space(const struct problem *p)
{
    json_t *arr = json_array();
    for (int j = 0; j < p->dims; j++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", j);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:f}", "name", name, "type", "float",
                                             "low", p->lo[j], "high", p->hi[j]));
    }
    char err[256];
    struct space *s = space_parse(arr, err, sizeof err);
    if (!s)
        fprintf(stderr, "bench_moo: space: %s\n", err);
    json_decref(arr);
    return s;
}

/* A study's history: configurations, objective rows and constraint rows. */
struct history {
    struct obs *obs; /* owned; params owned references */
    double *values;  /* owned, n * nobj */
    double *cons;    /* owned, n * ncon */
    size_t n, cap, nobj, ncon;
};

static int history_add(struct history *h, json_t *params, const double *y, const double *c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct obs *o = realloc(h->obs, cap * sizeof *o);
        if (o)
            h->obs = o;
        double *v = realloc(h->values, cap * h->nobj * sizeof *v);
        if (v)
            h->values = v;
        double *cc = realloc(h->cons, cap * (h->ncon ? h->ncon : 1) * sizeof *cc);
        if (cc)
            h->cons = cc;
        if (!o || !v || !cc)
            return -1;
        h->cap = cap;
    }
    h->obs[h->n] =
        (struct obs){.params = params, .value = y[0], .state = OBS_COMPLETED, .number = (long)h->n};
    memcpy(h->values + h->n * h->nobj, y, h->nobj * sizeof *y);
    if (h->ncon)
        memcpy(h->cons + h->n * h->ncon, c, h->ncon * sizeof *c);
    h->n++;
    return 0;
}

static void history_release(struct history *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref((json_t *)h->obs[i].params);
    free(h->obs);
    free(h->values);
    free(h->cons);
    memset(h, 0, sizeof *h);
}

static json_t *propose(const char *sampler, const struct space *s, const struct history *h,
                       uint64_t seed)
{
    struct sampler_ctx ctx = {
        .space = s,
        .history = h->obs,
        .n_history = h->n,
        .seed = seed,
        .next_number = (long)h->n,
        .n_objectives = h->nobj,
        .values = h->values,
        .n_constraints = h->ncon,
        .constraints = h->ncon ? h->cons : NULL,
    };
    json_t *out = NULL;
    char err[256];
    if (sampler_propose(sampler, &ctx, 1, &out, err, sizeof err) < 0) {
        fprintf(stderr, "bench_moo: %s: %s\n", sampler, err);
        return NULL;
    }
    return out;
}

static void evaluate(const struct problem *p, const json_t *cfg, double *y, double *c)
{
    double x[MAX_DIMS];
    for (int j = 0; j < p->dims; j++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", j);
        x[j] = json_number_value(json_object_get(cfg, name));
    }
    p->fn(x, y, c);
}

/* Hypervolume of the feasible points among the first n of h. */
static double feasible_hv(const struct problem *p, const struct history *h, size_t n)
{
    double *pts = malloc((n ? n : 1) * (size_t)p->nobj * sizeof *pts);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = true;
        for (int j = 0; j < p->ncon; j++)
            ok = ok && h->cons[i * (size_t)p->ncon + (size_t)j] <= 0;
        if (!ok)
            continue;
        memcpy(pts + k * (size_t)p->nobj, h->values + i * (size_t)p->nobj,
               (size_t)p->nobj * sizeof *pts);
        k++;
    }
    double hv = pareto_hypervolume(pts, k, (size_t)p->nobj, p->ref, 0);
    free(pts);
    return hv;
}

struct run {
    const struct problem *p;
    const char *sampler;
    int seed;
    double hv[N_CHECKPOINTS]; /* result */
    double seconds;           /* result */
    int finished;
};

struct pool {
    struct run *runs;
    size_t n, next, done;
    int budget, seeds;
    pthread_mutex_t lock;
};

static void run_one(struct run *r, int budget)
{
    struct space *s = problem_space(r->p);
    struct history h = {.nobj = (size_t)r->p->nobj, .ncon = (size_t)r->p->ncon};
    int64_t t0 = time_mono_ms();
    for (int c = 0; c < N_CHECKPOINTS; c++)
        r->hv[c] = NAN;
    for (int t = 0; s && t < budget; t++) {
        json_t *cfg = propose(r->sampler, s, &h, (uint64_t)r->seed);
        if (!cfg)
            break;
        double y[MAX_OBJ], c[MAX_CON];
        evaluate(r->p, cfg, y, c);
        if (history_add(&h, cfg, y, c) < 0) {
            json_decref(cfg);
            break;
        }
        for (int k = 0; k < N_CHECKPOINTS; k++)
            if (t + 1 == checkpoints[k])
                r->hv[k] = feasible_hv(r->p, &h, h.n);
    }
    r->seconds = (double)(time_mono_ms() - t0) / 1000.0;
    if (getenv("BENCH_VERBOSE"))
        fprintf(stderr, "[run] %s %s seed %d: %.5g %.5g (%.1f s)\n", r->p->name, r->sampler,
                r->seed, r->hv[0], r->hv[1], r->seconds);
    history_release(&h);
    space_free(s);
}

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n)
            return NULL;
        run_one(&p->runs[i], p->budget);
        pthread_mutex_lock(&p->lock);
        p->done++;
        p->runs[i].finished = 1;
        const struct run *r = &p->runs[i];
        size_t first = i - (size_t)r->seed, left = 0;
        for (int k = 0; k < p->seeds; k++)
            left += !p->runs[first + (size_t)k].finished;
        if (left == 0) {
            double sum = 0, v[p->seeds], w[p->seeds];
            for (int k = 0; k < p->seeds; k++) {
                sum += p->runs[first + (size_t)k].seconds;
                v[k] = p->runs[first + (size_t)k].hv[0];
                w[k] = p->runs[first + (size_t)k].hv[1];
            }
            fprintf(stderr,
                    "[bench] %-10s %-6s median hv@50 %.5g hv@200 %.5g (%.1f s, %zu/%zu runs)\n",
                    r->p->name, r->sampler, median(v, (size_t)p->seeds),
                    median(w, (size_t)p->seeds), sum, p->done, p->n);
        }
        pthread_mutex_unlock(&p->lock);
    }
}

static bool listed(const char *list, const char *name)
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

static int split_list(char *list, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static int bench_hv(int seeds, int budget, const char *only, char *samplers, int jobs)
{
    const char *names[8];
    int nsamp = split_list(samplers, names, 8);
    size_t nprob = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++)
        nprob += listed(only, problems[o].name);
    struct pool p = {.budget = budget, .seeds = seeds};
    p.n = nprob * (size_t)nsamp * (size_t)seeds;
    p.runs = calloc(p.n ? p.n : 1, sizeof *p.runs);
    if (!p.runs)
        return -1;
    pthread_mutex_init(&p.lock, NULL);
    size_t k = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++) {
        if (!listed(only, problems[o].name))
            continue;
        for (int si = 0; si < nsamp; si++)
            for (int seed = 0; seed < seeds; seed++)
                p.runs[k++] = (struct run){&problems[o], names[si], seed, {0}, 0, 0};
    }
    jobs = jobs < 1 ? 1 : jobs > 16 ? 16 : jobs;
    pthread_t th[16];
    for (int j = 0; j < jobs; j++)
        pthread_create(&th[j], NULL, pool_worker, &p);
    for (int j = 0; j < jobs; j++)
        pthread_join(th[j], NULL);
    json_t *out = json_object();
    k = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++) {
        if (!listed(only, problems[o].name))
            continue;
        json_t *jo = json_object();
        for (int si = 0; si < nsamp; si++) {
            json_t *js = json_object(), *per = json_object();
            for (int c = 0; c < N_CHECKPOINTS; c++) {
                if (checkpoints[c] > budget)
                    continue;
                double v[seeds];
                for (int seed = 0; seed < seeds; seed++)
                    v[seed] = p.runs[k + (size_t)seed].hv[c];
                char key[16];
                snprintf(key, sizeof key, "%d", checkpoints[c]);
                json_object_set_new(js, key, json_real(median(v, (size_t)seeds)));
            }
            double secs = 0;
            for (int seed = 0; seed < seeds; seed++) {
                const struct run *r = &p.runs[k + (size_t)seed];
                secs += r->seconds;
                char key[16];
                snprintf(key, sizeof key, "%d", seed);
                json_object_set_new(per, key, json_pack("[f, f]", r->hv[0], r->hv[1]));
            }
            json_object_set_new(js, "seconds", json_real(secs));
            json_object_set_new(js, "seeds", per);
            json_object_set_new(jo, names[si], js);
            k += (size_t)seeds;
        }
        json_object_set_new(out, problems[o].name, jo);
    }
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    putchar('\n');
    json_decref(out);
    free(p.runs);
    pthread_mutex_destroy(&p.lock);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Suggest latency of sampler with trials finished trials (random points) on p. */
static json_t *latency_of(const char *sampler, const struct problem *p, int trials, int reps)
{
    struct space *s = problem_space(p);
    struct history h = {.nobj = (size_t)p->nobj, .ncon = (size_t)p->ncon};
    struct rng r;
    rng_seed(&r, 12345);
    for (int t = 0; s && t < trials; t++) {
        double u[MAX_DIMS];
        for (int j = 0; j < p->dims; j++)
            u[j] = rng_uniform(&r);
        json_t *cfg = space_from_unit(s, u);
        double y[MAX_OBJ], c[MAX_CON];
        evaluate(p, cfg, y, c);
        history_add(&h, cfg, y, c);
    }
    double ms[reps > 0 ? reps : 1];
    int ok = 0;
    for (int i = 0; s && i < reps; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        json_t *cfg = propose(sampler, s, &h, (uint64_t)i);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!cfg)
            break;
        json_decref(cfg);
        ms[ok++] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    }
    history_release(&h);
    space_free(s);
    if (ok == 0)
        return NULL;
    qsort(ms, (size_t)ok, sizeof ms[0], cmp_double);
    size_t i99 = (size_t)ceil(0.99 * ok) - 1;
    double med = ok % 2 ? ms[ok / 2] : 0.5 * (ms[ok / 2 - 1] + ms[ok / 2]);
    fprintf(stderr, "[bench] latency %s on %s with %d trials: median %.1f ms, p99 %.1f ms\n",
            sampler, p->name, trials, med, ms[i99]);
    return json_pack("{s:i, s:i, s:f, s:f, s:i}", "trials", trials, "dims", p->dims, "median_ms",
                     med, "p99_ms", ms[i99], "reps", ok);
}

static int bench_latency(int reps, char *samplers, const char *only)
{
    const char *names[8];
    int nsamp = split_list(samplers, names, 8);
    json_t *out = json_object();
    for (int si = 0; si < nsamp; si++)
        for (size_t o = 0; o < N_PROBLEMS; o++) {
            if (!listed(only, problems[o].name))
                continue;
            json_t *l = latency_of(names[si], &problems[o], 200, reps);
            if (l) {
                char key[64];
                snprintf(key, sizeof key, "%s@%s", names[si], problems[o].name);
                json_object_set_new(out, key, l);
            }
        }
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    putchar('\n');
    json_decref(out);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_moo [--seeds N] [--budget B] [--only NAME,...] "
                    "[--samplers LIST] [--jobs J]\n"
                    "       bench_moo --latency [--reps N] [--samplers LIST] [--only NAME,...]\n");
}

int main(int argc, char **argv)
{
    int seeds = 10, budget = 200, jobs = 2, reps = 30;
    bool latency = false;
    const char *only = NULL;
    char samplers_buf[256] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--latency") == 0) {
            latency = true;
        } else if (strcmp(a, "--seeds") == 0 && v) {
            seeds = atoi(v);
            i++;
        } else if (strcmp(a, "--budget") == 0 && v) {
            budget = atoi(v);
            i++;
        } else if (strcmp(a, "--jobs") == 0 && v) {
            jobs = atoi(v);
            i++;
        } else if (strcmp(a, "--reps") == 0 && v) {
            reps = atoi(v);
            i++;
        } else if (strcmp(a, "--only") == 0 && v) {
            only = v;
            i++;
        } else if (strcmp(a, "--samplers") == 0 && v) {
            snprintf(samplers_buf, sizeof samplers_buf, "%s", v);
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (seeds < 1 || budget < 1) {
        usage();
        return 2;
    }
    if (latency) {
        if (!*samplers_buf)
            snprintf(samplers_buf, sizeof samplers_buf, "auto");
        return bench_latency(reps, samplers_buf, only) < 0;
    }
    if (!*samplers_buf)
        snprintf(samplers_buf, sizeof samplers_buf, "auto,motpe,random");
    return bench_hv(seeds, budget, only, samplers_buf, jobs) < 0;
}
