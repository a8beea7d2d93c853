#ifndef WORKER_PREP_H
#define WORKER_PREP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Trial preparation for `hpo worker`: the study's directory, then for each
 * trial a fresh directory holding params.json, one file per code parameter
 * and the report file that `hpo report` appends to; the command with its
 * {placeholders} expanded (wrapped in bwrap when the trial is sandboxed); and
 * the environment of DESIGN.md's worker protocol. No HTTP, no threads: what it
 * needs travels in the two structs below. */

/* In the trial directory: the lines `hpo report` writes for the worker. */
#define WORKER_REPORT_FILE "hpo-reports.txt"

/* What every trial of one worker shares; all borrowed, set at start-up. */
struct worker_prep {
    const char *server;        /* HPO_SERVER */
    const char *study;         /* HPO_STUDY */
    const char *study_dir;     /* absolute directory of the study's trials */
    const json_t *params_spec; /* the spec's "params" array */
    char **cmd;                /* command with resolved paths, NULL-terminated */
    int n_cmd;                 /* words in cmd */
    const char *bwrap;         /* path of bwrap, or NULL when no trial runs in it */
    char **ro_paths;           /* read-only binds of the sandbox, NULL-terminated, or NULL */
};

/* One trial to prepare (all borrowed). */
struct worker_prep_trial {
    const char *id;        /* trial id as text: HPO_TRIAL_ID */
    long long number;      /* trial number: directory name, HPO_TRIAL_NUMBER */
    const json_t *params;  /* the trial's parameters */
    const char *worker_id; /* "ID:SLOT": HPO_WORKER */
    const char *gpu;       /* CUDA_VISIBLE_DEVICES, or NULL to inherit it */
    bool confined;         /* untrusted: the worker's HPO_TOKEN is not passed on */
    bool use_bwrap;        /* run the command inside bwrap */
};

/* What worker_prep_trial made; the caller owns every field that is set. */
struct worker_prep_out {
    char *dir;     /* owned trial directory, or NULL */
    int report_fd; /* read end of the report file, or -1 */
    char **argv;   /* owned NULL-terminated command, or NULL */
    char **env;    /* owned NULL-terminated environment, or NULL */
};

/* Prepare t's directory, files, command and environment. out is set from the
 * start and filled as far as preparation got, also on failure (free with worker_prep_out_release).
 * Returns 0, or -1 with a message in err. */
int worker_prep_trial(const struct worker_prep *wp, const struct worker_prep_trial *t,
                      struct worker_prep_out *out, char *err, size_t errlen);
/* Free argv and env of out (dir and report_fd are left to the caller, who may
 * have taken them) and set them to NULL. */
void worker_prep_out_release(struct worker_prep_out *out);

/* The command words with relative paths made absolute, since the command runs
 * in its trial directory: the program when it holds a '/', and any argument
 * that names an existing regular file relative to the current directory. A new
 * NULL-terminated array (free with worker_prep_strv_free), or NULL. */
char **worker_prep_cmd(char *const *cmd, int n_cmd);
/* Make work_dir (with its parents) and the study's directory in it; a new
 * absolute path, or NULL with a message in err. */
char *worker_prep_study_dir(const char *work_dir, const char *study, char *err, size_t errlen);
/* The first parameter of params that the spec's params_spec declares as code,
 * or NULL. Borrowed from params. */
const char *worker_prep_code_param(const json_t *params_spec, const json_t *params);
/* Free a NULL-terminated array of strings; accepts NULL. */
void worker_prep_strv_free(char **v);

#endif
