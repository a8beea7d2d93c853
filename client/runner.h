#ifndef RUNNER_H
#define RUNNER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "tail.h"

/* Limits a child runs under (all zero: none). The resource limits are set in
 * the child before exec, so they hold for everything it starts, a sandbox
 * included. */
struct runner_limits {
    bool new_session;       /* setsid(): its own session and process group, no
                               controlling terminal */
    unsigned long cpu_s;    /* RLIMIT_CPU in seconds (SIGXCPU, SIGKILL 5 s later) */
    unsigned long as_bytes; /* RLIMIT_AS: address space */
    unsigned long nofile;   /* RLIMIT_NOFILE: open files */
    unsigned long nproc;    /* RLIMIT_NPROC: processes and threads of the user
                               (not enforced for root) */
    unsigned long fsize;    /* RLIMIT_FSIZE: largest file it may write (SIGXFSZ) */
    size_t output_max;      /* bytes of stdout and stderr together read before the
                               child's group is killed */
};

/* One training command run in its own process group under a supervisor
 * process that kills everything the command started (setsid ones too) when
 * the command ends or the worker dies, even of SIGKILL; with
 * its standard output and error read line by line through pipes and the end of
 * its standard error kept for the failure message. Standard input is
 * /dev/null. */
struct runner {
    pid_t pid;                   /* the supervisor (the child reaped); 0 before start */
    pid_t pgid;                  /* the command, also its process group id; 0 when unknown */
    int pidfd;                   /* readable when the child exits, or -1 */
    int out_fd;                  /* read end of its stdout pipe, -1 once closed */
    int err_fd;                  /* read end of its stderr pipe, -1 once closed */
    struct buf out_line;         /* incomplete stdout line */
    struct buf err_line;         /* incomplete stderr line */
    struct tail err_tail;        /* last bytes of stderr */
    bool exited;                 /* the child was reaped */
    int status;                  /* its wait status once exited */
    struct runner_limits limits; /* applied at start (runner_set_limits) */
    size_t out_bytes;            /* bytes read from stdout and stderr */
    bool out_exceeded;           /* limits.output_max was passed: the child was killed */
};

/* Called for every complete output line (without the newline; borrowed). */
typedef void runner_line_fn(void *ctx, const char *line, bool is_stderr);

/* Prepare r (before start or after release). */
void runner_init(struct runner *r);
/* Run the next child under lim (copied); call before runner_start. */
void runner_set_limits(struct runner *r, const struct runner_limits *lim);
/* Start argv[0] (searched in PATH) with argv, the environment envp and working
 * directory cwd (all borrowed). The child's signal mask and dispositions are
 * reset. A command that cannot be executed exits 127 with the reason on its
 * stderr. Returns 0, or -1 with err set when no child could be made. */
int runner_start(struct runner *r, char *const argv[], char *const envp[], const char *cwd,
                 char *err, size_t errlen);
/* Fill fds (room for 3) with what to poll while the child runs; returns the count. */
int runner_pollfds(const struct runner *r, struct pollfd *fds);
/* Read whatever output is available without blocking and call on_line per line. */
void runner_pump(struct runner *r, runner_line_fn *on_line, void *ctx);
/* Reap the child if it has exited (no waiting); true once it has. */
bool runner_reap(struct runner *r);
/* After the child exited: read the output still buffered in the pipes, hand
 * out the last incomplete lines, close the pipes. Processes the command left
 * behind in its group are killed, so they cannot hold the pipes open. */
void runner_finish(struct runner *r, runner_line_fn *on_line, void *ctx);
/* Send sig to the command's whole process group. */
void runner_kill(const struct runner *r, int sig);
/* Kill and reap the children of this process that are no supervisor: the
 * processes a killed supervisor left, inherited by a worker that is a child
 * subreaper. Returns how many. */
int runner_sweep_orphans(void);
/* Close everything; a child still running is killed with SIGKILL and reaped. */
void runner_release(struct runner *r);
/* "exit status 3" or "killed by signal 9 (SIGKILL)" for a wait status, into
 * out; a signal of a resource limit is named ("CPU time limit exceeded"). */
void runner_status_text(int status, char *out, size_t outlen);

#endif
