#include <config.h>

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
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
 *       suggest latency with 200 finished trials on each problem, wall clock
 *       and the proposing thread's processor time:
 *       {sampler@problem: {"trials", "median_ms", "p99_ms", "cpu_median_ms",
 *       "cpu_p99_ms"}}
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

static struct space *problem_space(const struct problem *p)
{
    return harness_box_space(p->dims, p->lo, p->hi, "bench_moo");
}

static struct harness_history problem_history(const struct problem *p)
{
    return (struct harness_history){.nobj = (size_t)p->nobj, .ncon = (size_t)p->ncon};
}

static json_t *propose(const char *sampler, const struct space *s, const struct harness_history *h,
                       uint64_t seed)
{
    return harness_propose("bench_moo", sampler, s, h, seed, NULL);
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
static double feasible_hv(const struct problem *p, const struct harness_history *h, size_t n)
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
};

struct pool {
    struct run *runs;
    size_t n;
    int budget, seeds;
};

static void run_one(size_t i, void *arg)
{
    struct pool *pool = arg;
    struct run *r = &pool->runs[i];
    int budget = pool->budget;
    struct space *s = problem_space(r->p);
    struct harness_history h = problem_history(r->p);
    int64_t t0 = time_mono_ms();
    for (int c = 0; c < N_CHECKPOINTS; c++)
        r->hv[c] = NAN;
    for (int t = 0; s && t < budget; t++) {
        json_t *cfg = propose(r->sampler, s, &h, (uint64_t)r->seed);
        if (!cfg)
            break;
        double y[MAX_OBJ], c[MAX_CON];
        evaluate(r->p, cfg, y, c);
        if (harness_history_add(&h, cfg, OBS_COMPLETED, y, c) < 0)
            break;
        for (int k = 0; k < N_CHECKPOINTS; k++)
            if (t + 1 == checkpoints[k])
                r->hv[k] = feasible_hv(r->p, &h, h.n);
    }
    r->seconds = (double)(time_mono_ms() - t0) / 1000.0;
    if (getenv("BENCH_VERBOSE"))
        fprintf(stderr, "[run] %s %s seed %d: %.5g %.5g (%.1f s)\n", r->p->name, r->sampler,
                r->seed, r->hv[0], r->hv[1], r->seconds);
    harness_history_release(&h);
    space_free(s);
}

/* Progress: every seed of a (problem, sampler) pair has finished. */
static void runs_done(size_t first, size_t finished, void *arg)
{
    struct pool *p = arg;
    const struct run *r = &p->runs[first];
    double sum = 0, v[p->seeds], w[p->seeds];
    for (int k = 0; k < p->seeds; k++) {
        sum += p->runs[first + (size_t)k].seconds;
        v[k] = p->runs[first + (size_t)k].hv[0];
        w[k] = p->runs[first + (size_t)k].hv[1];
    }
    fprintf(stderr, "[bench] %-10s %-6s median hv@50 %.5g hv@200 %.5g (%.1f s, %zu/%zu runs)\n",
            r->p->name, r->sampler, harness_median(v, (size_t)p->seeds),
            harness_median(w, (size_t)p->seeds), sum, finished, p->n);
}

static int bench_hv(int seeds, int budget, const char *only, char *samplers, int jobs)
{
    const char *names[8];
    int nsamp = harness_split_list(samplers, names, 8);
    size_t nprob = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++)
        nprob += harness_listed(only, problems[o].name);
    struct pool p = {.budget = budget, .seeds = seeds};
    p.n = nprob * (size_t)nsamp * (size_t)seeds;
    p.runs = calloc(p.n ? p.n : 1, sizeof *p.runs);
    if (!p.runs)
        return -1;
    size_t k = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++) {
        if (!harness_listed(only, problems[o].name))
            continue;
        for (int si = 0; si < nsamp; si++)
            for (int seed = 0; seed < seeds; seed++)
                p.runs[k++] = (struct run){&problems[o], names[si], seed, {0}, 0};
    }
    if (harness_pool_run(p.n, (size_t)seeds, jobs, run_one, runs_done, &p) < 0) {
        free(p.runs);
        return -1;
    }
    json_t *out = json_object();
    k = 0;
    for (size_t o = 0; o < N_PROBLEMS; o++) {
        if (!harness_listed(only, problems[o].name))
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
                json_object_set_new(js, key, json_real(harness_median(v, (size_t)seeds)));
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
    return 0;
}

/* Suggest latency of sampler with trials finished trials (random points) on p. */
static json_t *latency_of(const char *sampler, const struct problem *p, int trials, int reps)
{
    struct space *s = problem_space(p);
    struct harness_history h = problem_history(p);
    struct rng r;
    rng_seed(&r, 12345);
    for (int t = 0; s && t < trials; t++) {
        double u[MAX_DIMS];
        for (int j = 0; j < p->dims; j++)
            u[j] = rng_uniform(&r);
        json_t *cfg = space_from_unit(s, u);
        double y[MAX_OBJ], c[MAX_CON];
        evaluate(p, cfg, y, c);
        harness_history_add(&h, cfg, OBS_COMPLETED, y, c);
    }
    double ms[reps > 0 ? reps : 1], cpu[reps > 0 ? reps : 1];
    int ok = 0;
    for (int i = 0; s && i < reps; i++) {
        struct timespec a, b, ca, cb;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
        json_t *cfg = propose(sampler, s, &h, (uint64_t)i);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!cfg)
            break;
        json_decref(cfg);
        cpu[ok] = harness_ms_between(&ca, &cb);
        ms[ok++] = harness_ms_between(&a, &b);
    }
    harness_history_release(&h);
    space_free(s);
    if (ok == 0)
        return NULL;
    double med, p99, cmed, cp99;
    harness_percentiles(ms, (size_t)ok, &med, &p99);
    harness_percentiles(cpu, (size_t)ok, &cmed, &cp99);
    fprintf(stderr,
            "[bench] latency %s on %s with %d trials: median %.1f ms, p99 %.1f ms "
            "(processor time: median %.1f ms, p99 %.1f ms)\n",
            sampler, p->name, trials, med, p99, cmed, cp99);
    return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:i}", "trials", trials, "dims", p->dims,
                     "median_ms", med, "p99_ms", p99, "cpu_median_ms", cmed, "cpu_p99_ms", cp99,
                     "reps", ok);
}

static int bench_latency(int reps, char *samplers, const char *only)
{
    const char *names[8];
    int nsamp = harness_split_list(samplers, names, 8);
    json_t *out = json_object();
    for (int si = 0; si < nsamp; si++)
        for (size_t o = 0; o < N_PROBLEMS; o++) {
            if (!harness_listed(only, problems[o].name))
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
