#include <config.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rng.h"
#include "sampler.h"
#include "space.h"
#include "timeutil.h"

/* Sampler benchmark driver. Three modes, each printing one JSON object:
 *
 *   bench_samplers [--seeds 20] [--budget 100] [--only NAME,...]
 *                  [--samplers random,sobol,tpe,gp,auto] [--jobs 2]
 *       median simple regret over seeds per objective, sampler and budget
 *       (10/30/100), in the shape of the reference script's output:
 *       {objective: {sampler: {budget: median}}}
 *   bench_samplers --latency [--reps 30]
 *       suggest latency of tpe with 2000 finished trials and of gp with 200
 *       (both in 6 dimensions): {sampler: {"trials", "median_ms", "p99_ms"}}
 *   bench_samplers --task SCRIPT [--python PY] [--seeds 10] [--first-seed 0]
 *                  [--budget 30] [--sampler auto] [--jobs 2]
 *       tunes a worker-style task script (SCRIPT --spec gives the space, SCRIPT
 *       --params-file F prints "@hpo final NAME=V") with the sampler called
 *       directly, and prints the median best value at budgets 10 and 30 and
 *       each seed's: {sampler: {budget: median, "seeds": {seed: [best10, best30]}}}
 *
 * BENCH_VERBOSE=1 in the environment prints every synthetic run's regrets.
 *
 * Progress goes to standard error. */

/* ---- objectives (as in the reference script) ---- */

static double branin(const double *x)
{
    double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10, t = 1 / (8 * M_PI);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
    return a * u * u + s * (1 - t) * cos(x[0]) + s;
}

static const double h6_a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                  {0.05, 10, 17, 0.1, 8, 14},
                                  {3, 3.5, 1.7, 10, 17, 8},
                                  {17, 8, 0.05, 10, 0.1, 14}};
static const double h6_p[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                  {2329, 4135, 8307, 3736, 1004, 9991},
                                  {2348, 1451, 3522, 2883, 3047, 6650},
                                  {4047, 8828, 8732, 5743, 1091, 381}};
static const double h6_alpha[4] = {1.0, 1.2, 3.0, 3.2};

static double hartmann6(const double *x)
{
    double total = 0;
    for (int i = 0; i < 4; i++) {
        double inner = 0;
        for (int j = 0; j < 6; j++) {
            double t = x[j] - 1e-4 * h6_p[i][j];
            inner += h6_a[i][j] * t * t;
        }
        total -= h6_alpha[i] * exp(-inner);
    }
    return total;
}

static double rosenbrock4(const double *x)
{
    double s = 0;
    for (int i = 0; i < 3; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        s += 100 * a * a + b * b;
    }
    return s;
}

static double ackley5(const double *x)
{
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 5; i++) {
        s1 += x[i] * x[i];
        s2 += cos(2 * M_PI * x[i]);
    }
    s1 /= 5;
    s2 /= 5;
    return -20 * exp(-0.2 * sqrt(s1)) - exp(s2) + 20 + M_E;
}

static double levy5(const double *x)
{
    double w[5];
    for (int i = 0; i < 5; i++)
        w[i] = 1 + (x[i] - 1) / 4;
    double s = pow(sin(M_PI * w[0]), 2);
    for (int i = 0; i < 4; i++)
        s += (w[i] - 1) * (w[i] - 1) * (1 + 10 * pow(sin(M_PI * w[i] + 1), 2));
    s += (w[4] - 1) * (w[4] - 1) * (1 + pow(sin(2 * M_PI * w[4]), 2));
    return s;
}

static double styblinski_tang5(const double *x)
{
    double s = 0;
    for (int i = 0; i < 5; i++)
        s += pow(x[i], 4) - 16 * x[i] * x[i] + 5 * x[i];
    return s / 2;
}

struct objective {
    const char *name;
    double (*fn)(const double *x);
    int dims;
    double lo[6], hi[6]; /* per dimension */
    double minimum;
};

static const struct objective objectives[] = {
    {"branin", branin, 2, {-5, 0}, {10, 15}, 0.397887},
    {"hartmann6", hartmann6, 6, {0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, -3.32237},
    {"rosenbrock4", rosenbrock4, 4, {-5, -5, -5, -5}, {10, 10, 10, 10}, 0.0},
    {"ackley5",
     ackley5,
     5,
     {-32.768, -32.768, -32.768, -32.768, -32.768},
     {32.768, 32.768, 32.768, 32.768, 32.768},
     0.0},
    {"levy5", levy5, 5, {-10, -10, -10, -10, -10}, {10, 10, 10, 10, 10}, 0.0},
    {"styblinski_tang5", styblinski_tang5, 5, {-5, -5, -5, -5, -5}, {5, 5, 5, 5, 5}, -39.16617 * 5},
};
#define N_OBJECTIVES (sizeof objectives / sizeof objectives[0])

static const int checkpoints[] = {10, 30, 100};
#define N_CHECKPOINTS 3

/* ---- helpers ---- */

static struct space *objective_space(const struct objective *o)
{
    return harness_box_space(o->dims, o->lo, o->hi, "bench_samplers");
}

/* One sampler proposal with the given history; new reference or NULL. */
static json_t *propose(const char *sampler, const struct space *s, const struct harness_history *h,
                       uint64_t seed, json_t *options)
{
    return harness_propose("bench_samplers", sampler, s, h, seed, options);
}

/* ---- synthetic objectives ---- */

struct run {
    const struct objective *obj;
    const char *sampler;
    int seed;
    double regret[N_CHECKPOINTS]; /* result */
    double seconds;               /* result */
    int failed;                   /* result */
};

struct pool {
    struct run *runs;
    size_t n;
    int budget; /* trials per run */
    int seeds;  /* seeds per (objective, sampler) */
};

static void run_one(size_t i, void *arg)
{
    struct pool *pool = arg;
    struct run *r = &pool->runs[i];
    int budget = pool->budget;
    struct space *s = objective_space(r->obj);
    struct harness_history h = {0};
    double best = INFINITY, x[6];
    int64_t t0 = time_mono_ms();
    int c = 0;
    if (!s) {
        r->failed = 1;
        return;
    }
    for (int t = 0; t < budget; t++) {
        json_t *p = propose(r->sampler, s, &h, (uint64_t)r->seed, NULL);
        if (!p) {
            r->failed = 1;
            break;
        }
        for (int j = 0; j < r->obj->dims; j++) {
            char name[16];
            snprintf(name, sizeof name, "x%d", j);
            x[j] = json_real_value(json_object_get(p, name));
        }
        double y = r->obj->fn(x);
        harness_history_add(&h, p, OBS_COMPLETED, &y, NULL);
        if (y < best)
            best = y;
        if (c < N_CHECKPOINTS && t + 1 == checkpoints[c])
            r->regret[c++] = best - r->obj->minimum;
    }
    for (; c < N_CHECKPOINTS; c++)
        r->regret[c] = NAN;
    r->seconds = (double)(time_mono_ms() - t0) / 1000.0;
    if (getenv("BENCH_VERBOSE"))
        fprintf(stderr, "[run] %s %s seed %d: %.4g %.4g %.4g (%.1f s)\n", r->obj->name, r->sampler,
                r->seed, r->regret[0], r->regret[1], r->regret[2], r->seconds);
    harness_history_release(&h);
    space_free(s);
}

/* Progress: every seed of an (objective, sampler) pair has finished. */
static void runs_done(size_t first, size_t finished, void *arg)
{
    struct pool *p = arg;
    const struct run *r = &p->runs[first];
    double sum = 0, v[p->seeds];
    for (int k = 0; k < p->seeds; k++) {
        sum += p->runs[first + (size_t)k].seconds;
        v[k] = p->runs[first + (size_t)k].regret[N_CHECKPOINTS - 1];
    }
    fprintf(stderr, "[bench] %-16s %-6s median regret@%d %.4g (%.1f s, %zu/%zu runs)\n",
            r->obj->name, r->sampler, p->budget, harness_median(v, (size_t)p->seeds), sum, finished,
            p->n);
}

static int bench_synthetic(int seeds, int budget, const char *only, char *samplers, int jobs)
{
    const char *names[16];
    int nsamp = harness_split_list(samplers, names, 16);
    for (int i = 0; i < nsamp; i++)
        if (!sampler_find(names[i])) {
            fprintf(stderr, "bench_samplers: sampler \"%s\" is not built; skipped\n", names[i]);
            names[i--] = names[--nsamp];
        }
    size_t nobj = 0;
    for (size_t o = 0; o < N_OBJECTIVES; o++)
        nobj += harness_listed(only, objectives[o].name);
    struct pool p = {.budget = budget, .seeds = seeds};
    p.n = nobj * (size_t)nsamp * (size_t)seeds;
    p.runs = calloc(p.n ? p.n : 1, sizeof *p.runs);
    if (!p.runs)
        return -1;
    size_t k = 0;
    for (size_t o = 0; o < N_OBJECTIVES; o++) {
        if (!harness_listed(only, objectives[o].name))
            continue;
        for (int si = 0; si < nsamp; si++)
            for (int seed = 0; seed < seeds; seed++)
                p.runs[k++] = (struct run){&objectives[o], names[si], seed, {0}, 0, 0};
    }
    if (harness_pool_run(p.n, (size_t)seeds, jobs, run_one, runs_done, &p) < 0) {
        free(p.runs);
        return -1;
    }
    json_t *out = json_object();
    k = 0;
    for (size_t o = 0; o < N_OBJECTIVES; o++) {
        if (!harness_listed(only, objectives[o].name))
            continue;
        json_t *jo = json_object();
        for (int si = 0; si < nsamp; si++) {
            json_t *js = json_object();
            for (int c = 0; c < N_CHECKPOINTS; c++) {
                if (checkpoints[c] > budget)
                    continue;
                double v[seeds];
                for (int seed = 0; seed < seeds; seed++)
                    v[seed] = p.runs[k + (size_t)seed].regret[c];
                char key[16];
                snprintf(key, sizeof key, "%d", checkpoints[c]);
                json_object_set_new(js, key, json_real(harness_median(v, (size_t)seeds)));
            }
            double secs = 0;
            for (int seed = 0; seed < seeds; seed++)
                secs += p.runs[k + (size_t)seed].seconds;
            json_object_set_new(js, "seconds", json_real(secs));
            json_object_set_new(jo, names[si], js);
            k += (size_t)seeds;
        }
        json_object_set_new(out, objectives[o].name, jo);
    }
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    putchar('\n');
    json_decref(out);
    free(p.runs);
    return 0;
}

/* ---- latency ---- */

static json_t *latency_of(const char *sampler, int trials, int reps)
{
    const struct objective *o = &objectives[1]; /* hartmann6: 6 dimensions */
    struct space *s = objective_space(o);
    struct harness_history h = {0};
    struct rng r;
    rng_seed(&r, 12345);
    double x[6];
    for (int t = 0; t < trials; t++) {
        json_t *p = json_object();
        for (int j = 0; j < 6; j++) {
            char name[16];
            snprintf(name, sizeof name, "x%d", j);
            x[j] = rng_uniform(&r);
            json_object_set_new(p, name, json_real(x[j]));
        }
        double y = o->fn(x);
        harness_history_add(&h, p, OBS_COMPLETED, &y, NULL);
    }
    double ms[reps > 0 ? reps : 1];
    int ok = 0;
    for (int i = 0; i < reps; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        json_t *p = propose(sampler, s, &h, (uint64_t)i, NULL);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!p)
            break;
        json_decref(p);
        ms[ok++] = harness_ms_between(&a, &b);
    }
    harness_history_release(&h);
    space_free(s);
    if (ok == 0)
        return NULL;
    double med, p99;
    harness_percentiles(ms, (size_t)ok, &med, &p99);
    fprintf(stderr, "[bench] latency %s with %d trials: median %.1f ms, p99 %.1f ms (%d reps)\n",
            sampler, trials, med, p99, ok);
    return json_pack("{s:i, s:i, s:f, s:f, s:f}", "trials", trials, "dims", 6, "median_ms", med,
                     "p99_ms", p99, "reps", (double)ok);
}

static int bench_latency(int reps)
{
    json_t *out = json_object();
    static const struct {
        const char *sampler;
        int trials;
    } cases[] = {{"tpe", 2000}, {"gp", 200}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!sampler_find(cases[i].sampler)) {
            fprintf(stderr, "bench_samplers: sampler \"%s\" is not built; skipped\n",
                    cases[i].sampler);
            continue;
        }
        json_t *l = latency_of(cases[i].sampler, cases[i].trials, reps);
        if (l) {
            char key[32];
            snprintf(key, sizeof key, "%s@%d", cases[i].sampler, cases[i].trials);
            json_object_set_new(out, key, l);
        }
    }
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    putchar('\n');
    json_decref(out);
    return 0;
}

/* ---- a worker-style task script ---- */

/* Run argv and capture its standard output (new allocation) or NULL. */
static char *run_capture(char *const argv[])
{
    int fd[2];
    if (pipe(fd) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t got;
    while (buf && (got = read(fd[0], buf + len, cap - len - 1)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)got;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!buf)
        return NULL;
    buf[len] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct task {
    const char *python, *script, *sampler;
    const struct space *space;
    int budget;
    int seed;
    double best[2]; /* result at budgets 10 and 30 */
    double seconds; /* result */
};

struct task_pool {
    struct task *tasks;
    int n;
};

static double task_eval(const struct task *t, const json_t *params)
{
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/hpo-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NAN;
    char *text = json_dumps(params, JSON_COMPACT);
    FILE *f = fdopen(fd, "w");
    if (f) {
        fputs(text ? text : "{}", f);
        fclose(f);
    } else {
        close(fd);
    }
    free(text);
    char *argv[] = {(char *)t->python, (char *)t->script, "--params-file", path, NULL};
    char *outp = run_capture(argv);
    unlink(path);
    double v = NAN;
    for (char *line = outp ? strtok(outp, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *eq;
        if (strncmp(line, "@hpo final ", 11) == 0 && (eq = strchr(line, '=')))
            v = strtod(eq + 1, NULL);
    }
    free(outp);
    return v;
}

static void task_run(size_t ti, void *arg)
{
    struct task *t = &((struct task_pool *)arg)->tasks[ti];
    int64_t t0 = time_mono_ms();
    struct harness_history h = {0};
    double best = INFINITY;
    t->best[0] = t->best[1] = NAN;
    for (int i = 0; i < t->budget; i++) {
        json_t *p = propose(t->sampler, t->space, &h, (uint64_t)t->seed, NULL);
        if (!p)
            break;
        double v = task_eval(t, p);
        if (getenv("BENCH_VERBOSE")) {
            char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(4));
            fprintf(stderr, "[trial] seed %d #%d %.4f %s\n", t->seed, i, v, text ? text : "");
            free(text);
        }
        double y = isfinite(v) ? v : NAN;
        harness_history_add(&h, p, isfinite(v) ? OBS_COMPLETED : OBS_FAILED, &y, NULL);
        if (isfinite(v) && v < best)
            best = v;
        if (i + 1 == 10)
            t->best[0] = best;
        if (i + 1 == 30)
            t->best[1] = best;
    }
    harness_history_release(&h);
    t->seconds = (double)(time_mono_ms() - t0) / 1000.0;
}

static void task_done(size_t i, size_t finished, void *arg)
{
    struct task_pool *p = arg;
    const struct task *t = &p->tasks[i];
    fprintf(stderr, "[bench] task %s seed %d: best %.4f at 10, %.4f at %d (%.0f s, %zu/%d)\n",
            t->sampler, t->seed, t->best[0], t->best[1], t->budget, t->seconds, finished, p->n);
}

static int bench_task(const char *python, const char *script, const char *sampler, int seeds,
                      int first_seed, int budget, int jobs)
{
    char *argv[] = {(char *)python, (char *)script, "--spec", NULL};
    char *spec = run_capture(argv);
    char err[256];
    json_error_t jerr;
    json_t *params = spec ? json_loads(spec, 0, &jerr) : NULL;
    free(spec);
    struct space *s = params ? space_parse(params, err, sizeof err) : NULL;
    json_decref(params);
    if (!s) {
        fprintf(stderr, "bench_samplers: cannot read the space of %s\n", script);
        return -1;
    }
    struct task_pool p = {.n = seeds};
    p.tasks = calloc((size_t)seeds, sizeof *p.tasks);
    if (!p.tasks) {
        space_free(s);
        return -1;
    }
    for (int i = 0; i < seeds; i++)
        p.tasks[i] =
            (struct task){python, script, sampler, s, budget, first_seed + i, {NAN, NAN}, 0};
    if (harness_pool_run((size_t)seeds, 1, jobs, task_run, task_done, &p) < 0) {
        free(p.tasks);
        space_free(s);
        return -1;
    }
    double v10[seeds], v30[seeds];
    for (int i = 0; i < seeds; i++) {
        v10[i] = p.tasks[i].best[0];
        v30[i] = p.tasks[i].best[1];
    }
    json_t *res = json_object();
    if (budget >= 10)
        json_object_set_new(res, "10", json_real(harness_median(v10, (size_t)seeds)));
    if (budget >= 30)
        json_object_set_new(res, "30", json_real(harness_median(v30, (size_t)seeds)));
    json_t *per = json_object();
    for (int i = 0; i < seeds; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", p.tasks[i].seed);
        json_t *pair = json_array();
        for (int b = 0; b < 2; b++)
            json_array_append_new(pair, isfinite(p.tasks[i].best[b]) ? json_real(p.tasks[i].best[b])
                                                                     : json_null());
        json_object_set_new(per, key, pair);
    }
    json_object_set_new(res, "seeds", per);
    json_t *out = json_pack("{s:o}", sampler, res);
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    putchar('\n');
    json_decref(out);
    free(p.tasks);
    space_free(s);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_samplers [--seeds N] [--budget B] [--only NAME,...] "
                    "[--samplers LIST] [--jobs J]\n"
                    "       bench_samplers --latency [--reps N]\n"
                    "       bench_samplers --task SCRIPT [--python PY] [--sampler NAME] "
                    "[--seeds N] [--first-seed S] [--budget B] [--jobs J]\n");
}

int main(int argc, char **argv)
{
    int seeds = -1, budget = -1, jobs = 2, reps = 30, first_seed = 0;
    const char *only = NULL, *task = NULL, *python = "/usr/bin/python3", *tsampler = "auto";
    char samplers[256] = "auto,gp,tpe,sobol,random";
    bool latency = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--latency") == 0) {
            latency = true;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--seeds") == 0)
            seeds = atoi(v);
        else if (strcmp(a, "--budget") == 0)
            budget = atoi(v);
        else if (strcmp(a, "--jobs") == 0)
            jobs = atoi(v);
        else if (strcmp(a, "--first-seed") == 0)
            first_seed = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            reps = atoi(v);
        else if (strcmp(a, "--only") == 0)
            only = v;
        else if (strcmp(a, "--samplers") == 0)
            snprintf(samplers, sizeof samplers, "%s", v);
        else if (strcmp(a, "--task") == 0)
            task = v;
        else if (strcmp(a, "--python") == 0)
            python = v;
        else if (strcmp(a, "--sampler") == 0)
            tsampler = v;
        else {
            usage();
            return 2;
        }
    }
    if (latency)
        return bench_latency(reps) == 0 ? 0 : 1;
    if (task)
        return bench_task(python, task, tsampler, seeds > 0 ? seeds : 10, first_seed,
                          budget > 0 ? budget : 30, jobs) == 0
                   ? 0
                   : 1;
    return bench_synthetic(seeds > 0 ? seeds : 20, budget > 0 ? budget : 100, only, samplers,
                           jobs) == 0
               ? 0
               : 1;
}
