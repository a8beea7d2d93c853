#ifndef WORKER_H
#define WORKER_H

#include <stdbool.h>
#include <stddef.h>

/* `hpo worker`: asks hpod for trials of one study and runs the training
 * command for each, in N concurrent slots (one thread each), until the study
 * finishes, --max-trials trials were run, or SIGINT/SIGTERM. */
struct worker_opts {
    const char *server;   /* daemon base URL (borrowed) */
    const char *token;    /* bearer token (borrowed) or NULL */
    const char *study;    /* study name (borrowed) */
    int slots;            /* concurrent trials, default 1 or the number of GPUs */
    char **gpus;          /* owned array of n_gpus owned device ids from --gpus */
    int n_gpus;           /* 0 when --gpus was not given */
    const char *id;       /* worker identity (borrowed); NULL: HOSTNAME-PID */
    const char *work_dir; /* where trial directories go (borrowed), default "hpo-trials" */
    long max_trials;      /* stop after starting this many trials, 0 = no limit */
    double wait_s;        /* long-poll time of a suggest request, default 20 */
    double grace_s;       /* SIGTERM to SIGKILL delay, default 10 */
    char **cmd;           /* borrowed NULL-terminated command after "--" */
    int n_cmd;            /* words in cmd */
};

/* Parse the words after "worker" (argv[0] is "worker"; argv borrowed) into o,
 * whose server and token are kept. Returns 0, or -1 with a usage message in err. */
int worker_parse(struct worker_opts *o, int argc, char **argv, char *err, size_t errlen);
/* Free what worker_parse allocated. */
void worker_opts_release(struct worker_opts *o);
/* Run the worker; returns the process exit status (0 after the study finished
 * or a clean stop, 1 when the daemon refused, e.g. unknown study). */
int worker_run(const struct worker_opts *o);

#endif
