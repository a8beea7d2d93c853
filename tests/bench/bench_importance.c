#include <config.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "importance.h"
#include "rng.h"
#include "space.h"

/* The cost of the importance computation: N trials (default 1000) of D
 * parameters (default 10: floats, a log float, ints and categoricals), the
 * value mostly decided by the first two. Prints the CPU time of each method
 * (and the wall-clock time, which other processes inflate) and the
 * importances it found. Run by hand: make bench-importance. */

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000;
    size_t d = argc > 2 ? (size_t)atol(argv[2]) : 10;
    if (n < 2 || d < 2) {
        fprintf(stderr, "usage: bench_importance [TRIALS >= 2] [PARAMS >= 2]\n");
        return 2;
    }
    json_t *params = json_array();
    for (size_t j = 0; j < d; j++) {
        char name[32];
        snprintf(name, sizeof name, "p%zu", j);
        json_t *p;
        if (j % 4 == 2)
            p = json_pack("{ss ss si si}", "name", name, "type", "int", "low", 1, "high", 64);
        else if (j % 4 == 3)
            p = json_pack("{ss ss s[sss]}", "name", name, "type", "categorical", "choices", "a",
                          "b", "c");
        else
            p = json_pack("{ss ss sf sf sb}", "name", name, "type", "float", "low", 1e-4, "high",
                          1.0, "log", j % 4 == 1);
        json_array_append_new(params, p);
    }
    char err[256];
    struct space *s = space_parse(params, err, sizeof err);
    json_decref(params);
    if (!s) {
        fprintf(stderr, "bench_importance: %s\n", err);
        return 1;
    }
    struct rng r;
    rng_seed(&r, 1);
    json_t **configs = calloc(n, sizeof *configs);
    double *y = malloc(n * sizeof *y), *u = malloc(d * sizeof *u);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            u[j] = rng_uniform(&r);
        configs[i] = space_from_unit(s, u);
        y[i] = 3 * u[0] + (u[1] - 0.5) * (u[1] - 0.5) * 4 + 0.2 * u[2] + 0.05 * rng_normal(&r);
    }
    const char *names[] = {"fanova", "gp"};
    for (int m = 0; m < 2; m++) {
        double *imp = calloc(d, sizeof *imp);
        const char *note = NULL;
        double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        int rc = m == 0 ? importance_fanova(s, (const json_t *const *)configs, y, n, 7, imp, &note)
                        : importance_gp(s, (const json_t *const *)configs, y, n, 7, imp, &note);
        double ms = (now_s(CLOCK_MONOTONIC) - t0) * 1000;
        double cpu = (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1000;
        printf("%s: %zu trials x %zu params: %.0f ms of CPU (%.0f ms wall)%s%s\n  ", names[m], n, d,
               cpu, ms, rc < 0 ? " (failed)" : "", note ? note : "");
        for (size_t j = 0; j < d; j++)
            printf(" p%zu=%.3f", j, imp[j]);
        printf("\n");
        free(imp);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(configs[i]);
    free(configs);
    free(y);
    free(u);
    space_free(s);
    return 0;
}
