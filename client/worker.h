#ifndef WORKER_H
#define WORKER_H

#include <stdbool.h>
#include <stddef.h>

/* `hpo worker`: asks hpod for trials of one study and runs the training
 * command for each, in N concurrent slots (one thread each), until the study
 * finishes, --max-trials trials were run, or SIGINT/SIGTERM.
 *
 * Trials that carry code (a code parameter, written by an LLM) run only with
 * --allow-code: without it a worker refuses a study with code parameters at
 * start-up (exit status 2), and, should such a trial still arrive, fails it
 * with the reason and stops. They run confined: in the bubblewrap sandbox
 * (sandbox.h) unless --sandbox none, and under resource limits (CPU time,
 * address space, open files, processes, file size, output size). --sandbox
 * bwrap confines every trial, not only those with code. */

enum worker_sandbox {
    WORKER_SANDBOX_AUTO,  /* bwrap for trials with code, nothing for the others */
    WORKER_SANDBOX_BWRAP, /* --sandbox bwrap: every trial in bwrap */
    WORKER_SANDBOX_NONE,  /* --sandbox none: no bwrap; code trials keep the limits */
};

struct worker_opts {
    const char *server;          /* daemon base URL (borrowed) */
    const char *token;           /* bearer token (borrowed) or NULL */
    const char *study;           /* study name (borrowed) */
    int slots;                   /* concurrent trials, default 1 or the number of GPUs */
    char **gpus;                 /* owned array of n_gpus owned device ids from --gpus */
    int n_gpus;                  /* 0 when --gpus was not given */
    const char *id;              /* worker identity (borrowed); NULL: HOSTNAME-PID */
    const char *work_dir;        /* where trial directories go (borrowed), default "hpo-trials" */
    long max_trials;             /* stop after starting this many trials, 0 = no limit */
    double wait_s;               /* long-poll time of a suggest request, default 20 */
    double grace_s;              /* SIGTERM to SIGKILL delay, default 10 */
    bool allow_code;             /* --allow-code: run trials with code parameters */
    enum worker_sandbox sandbox; /* --sandbox bwrap|none, default auto */
    long mem_limit_mb;           /* --mem-limit: address space of a confined trial (4096), 0 none */
    long output_limit_mb;        /* --output-limit: stdout + stderr of a confined trial (64) */
    long file_limit_mb;          /* --file-limit: largest file a confined trial writes (1024) */
    long max_procs;              /* --max-procs: processes a confined trial may add (256) */
    char **cmd;                  /* borrowed NULL-terminated command after "--" */
    int n_cmd;                   /* words in cmd */
};

/* Parse the words after "worker" (argv[0] is "worker"; argv borrowed) into o,
 * whose server and token are kept. Returns 0, or -1 with a usage message in err. */
int worker_parse(struct worker_opts *o, int argc, char **argv, char *err, size_t errlen);
/* Free what worker_parse allocated. */
void worker_opts_release(struct worker_opts *o);
/* Run the worker; returns the process exit status (0 after the study finished
 * or a clean stop, 1 when the daemon refused, e.g. unknown study, 2 when the
 * worker refused the study's code or cannot set up its sandbox). */
int worker_run(const struct worker_opts *o);

#endif
