#ifndef WORKER_OPTS_H
#define WORKER_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The command line of `hpo worker`: the words after "worker" parsed into one
 * struct of settings with their defaults, and the usage text that documents
 * them. Nothing here talks to the daemon or starts a process. */

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
    bool keep_leases;            /* --keep-leases: a stop leaves running trials leased */
    enum worker_sandbox sandbox; /* --sandbox bwrap|none, default auto */
    long mem_limit_mb;           /* --mem-limit: address space of a confined trial (4096), 0 none */
    long output_limit_mb;        /* --output-limit: stdout + stderr of a confined trial (64) */
    long echo_limit_mb;          /* --echo-limit: output of a trial echoed to the console (64,
                                    0 none); the rest is dropped, the trial runs on */
    long report_rate;            /* --report-rate: intermediate reports sent per second per
                                    trial (5, 0 no limit); the latest step waits for its turn */
    long file_limit_mb;          /* --file-limit: largest file a confined trial writes (1024) */
    long max_procs;              /* --max-procs: processes a confined trial may add (256) */
    char **cmd;                  /* borrowed NULL-terminated command after "--" */
    int n_cmd;                   /* words in cmd */
    bool help;                   /* --help or -h: print worker_opts_usage() and run nothing */
};

/* Parse the words after "worker" (argv[0] is "worker"; argv borrowed) into o,
 * whose server and token are kept. Returns 0 (with o->help set when --help was
 * asked for: the other fields are then incomplete), or -1 with a usage message
 * in err. */
int worker_parse(struct worker_opts *o, int argc, char **argv, char *err, size_t errlen);
/* Free what worker_parse allocated. */
void worker_opts_release(struct worker_opts *o);
/* Write the usage of `hpo worker`, every option with its default, to f. */
void worker_opts_usage(FILE *f);

#endif
