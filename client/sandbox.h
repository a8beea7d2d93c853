#ifndef SANDBOX_H
#define SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* The sandbox of `hpo worker` for trials that run untrusted code (a code
 * parameter written by an LLM): bubblewrap (bwrap) with no network, the whole
 * file system read-only except the trial directory, a private /tmp and
 * /dev/shm, fresh /dev and /proc, its own PID, IPC and UTS namespaces, no
 * capabilities (bwrap keeps them for root unless told), and death with the
 * worker. The resource limits are the runner's (runner_limits), set before
 * bwrap is executed so that they hold inside.
 *
 * The process group is kept (no --new-session): the runner starts bwrap in a
 * new session of its own instead (setsid, so there is no controlling terminal
 * to type into), and SIGTERM to that group still reaches the command inside
 * for a graceful stop; SIGKILL of the group ends bwrap, whose PID namespace
 * takes every process inside with it, including any that left the group. */

/* The absolute path of the bwrap program found in PATH, or NULL when it is
 * not installed. New allocation. */
char *sandbox_find_bwrap(void);

/* The command line that runs argv (borrowed, NULL-terminated) inside the
 * sandbox: bwrap at path bwrap, the trial directory dir bound writable and
 * made the working directory, and each of ro (borrowed, NULL-terminated, may
 * be NULL) bound read-only (directories under /tmp that the command needs,
 * since /tmp is private). New NULL-terminated array of new strings, or NULL
 * when out of memory. */
char **sandbox_command(const char *bwrap, const char *dir, char *const ro[], char *const argv[]);

/* Check that the sandbox can be set up here (user namespaces or root) by
 * running "true" in it. 0, or -1 with bwrap's own message in err. */
int sandbox_probe(const char *bwrap, char *err, size_t errlen);

/* The number of processes and threads the real user owns now (what
 * RLIMIT_NPROC counts), from /proc. */
unsigned long sandbox_user_tasks(void);

/* Whether path lies under /tmp or /dev/shm, which the sandbox replaces with
 * empty private ones. */
bool sandbox_hidden_path(const char *path);

#endif
