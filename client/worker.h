#ifndef WORKER_H
#define WORKER_H

#include <stdint.h>

#include "worker_opts.h"

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
 * bwrap confines every trial, not only those with code.
 *
 * This file holds the slot loop: asking for trials, supervising the child,
 * heartbeats, reports and completions, and stopping. Options are parsed in
 * worker_opts.h, each trial's directory, files, command and environment are
 * made in worker_prep.h. */

/* Run the worker; returns the process exit status (0 after the study finished
 * or a clean stop, 1 when the daemon refused, e.g. unknown study, 2 when the
 * worker refused the study's code or cannot set up its sandbox). */
int worker_run(const struct worker_opts *o);

/* The HTTP timeout of a suggest that may wait wait_s on the daemon: the wait
 * plus a margin for the answer itself, so that a held long-poll is never
 * mistaken for an unreachable daemon. */
long worker_poll_timeout_ms(double wait_s);
/* How long a slot waits before asking again after a suggest answered no
 * trial (study_state from that answer, held_ms how long the daemon held the
 * request). A study whose LLM takes minutes answers empty long-polls until a
 * proposal lands: while the study runs, a request the daemon held for its wait
 * is asked again at once (0), with no backoff and nothing printed. An answer
 * given at once (wait_s 0, a paused study) waits retry_after_s, kept within
 * 0.2 to 60 s. */
int64_t worker_retry_ms(const char *study_state, double wait_s, int64_t held_ms,
                        double retry_after_s);

#endif
