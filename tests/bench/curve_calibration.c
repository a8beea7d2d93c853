/* make bench-pruning, calibration of the curve pruner's own extrapolation.
 *
 * Reads learning curves from standard input, one a line: a task name, then
 * the value after each step. For every curve and every prefix of 5, 8, 12 and
 * 20 points, curvefit_predict extrapolates to the last step; z is how many of
 * its standard deviations the true final value lies from the prediction.
 * Prints per task the share of predictions the final value fell more than
 * 1.645 sd below and above, with the ensemble's sd and with the sd the
 * pruner uses (times PRUNER_CURVE_OWN_SD_SCALE); a calibrated interval puts
 * 5% on each side. Curves whose final value is above 5 (diverged runs) are
 * left out: their misses say nothing of the trials a pruner must keep. */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curvefit.h"
#include "pruner.h"

#define MAX_STEPS 1000
#define MAX_TASKS 8

struct tally {
    char name[32];
    size_t n, below[2], above[2];
};

int main(void)
{
    static const size_t prefixes[] = {5, 8, 12, 20};
    static const double scales[2] = {1, PRUNER_CURVE_OWN_SD_SCALE};
    struct tally tasks[MAX_TASKS];
    size_t ntasks = 0, curves = 0;
    char *line = NULL;
    size_t cap = 0;
    double t[MAX_STEPS], y[MAX_STEPS];
    while (getline(&line, &cap, stdin) > 0) {
        char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
        if (!tok)
            continue;
        size_t k = 0;
        while (k < ntasks && strcmp(tasks[k].name, tok) != 0)
            k++;
        if (k == ntasks) {
            if (ntasks == MAX_TASKS) {
                fprintf(stderr, "curve_calibration: more than %d tasks\n", MAX_TASKS);
                return 2;
            }
            memset(&tasks[k], 0, sizeof tasks[k]);
            snprintf(tasks[k].name, sizeof tasks[k].name, "%s", tok);
            ntasks++;
        }
        size_t n = 0;
        while (n < MAX_STEPS && (tok = strtok_r(NULL, " \t\n", &save))) {
            t[n] = (double)(n + 1);
            y[n++] = strtod(tok, NULL);
        }
        if (n < 2 || !(y[n - 1] <= 5))
            continue;
        curves++;
        for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
            struct curvefit_pred pr;
            if (prefixes[p] >= n || curvefit_predict(t, y, prefixes[p], t[n - 1], &pr) != 0 ||
                !(pr.sd > 0))
                continue;
            double z = (y[n - 1] - pr.mean) / pr.sd;
            tasks[k].n++;
            for (int s = 0; s < 2; s++) {
                tasks[k].below[s] += z < -1.645 * scales[s];
                tasks[k].above[s] += z > 1.645 * scales[s];
            }
        }
    }
    free(line);
    printf("calibration of the curve pruner's own extrapolation: %zu curves, from 5, 8, 12 and "
           "20 points to the last step; share of final values more than 1.645 sd below / above "
           "the prediction (5%% / 5%% if calibrated)\n",
           curves);
    printf(
        "| task | predictions | ensemble sd | sd x %g (the pruner's) |\n| --- | ---: | ---: | ---: "
        "|\n",
        PRUNER_CURVE_OWN_SD_SCALE);
    for (size_t k = 0; k < ntasks; k++) {
        double n = tasks[k].n ? (double)tasks[k].n : 1;
        printf("| %s | %zu | %.1f%% / %.1f%% | %.1f%% / %.1f%% |\n", tasks[k].name, tasks[k].n,
               100 * (double)tasks[k].below[0] / n, 100 * (double)tasks[k].above[0] / n,
               100 * (double)tasks[k].below[1] / n, 100 * (double)tasks[k].above[1] / n);
    }
    return 0;
}
