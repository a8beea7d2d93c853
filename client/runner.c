/* pipe2() and execvpe() are GNU extensions */
#define _GNU_SOURCE 1
#include <config.h>
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUNNER_MAX_LINE 65536 /* a longer line is handed out in pieces */

void runner_init(struct runner *r)
{
    r->pid = 0;
    r->pgid = 0;
    r->pidfd = -1;
    r->out_fd = -1;
    r->err_fd = -1;
    buf_init(&r->out_line);
    buf_init(&r->err_line);
    tail_init(&r->err_tail);
    r->exited = false;
    r->status = 0;
    memset(&r->limits, 0, sizeof r->limits);
    r->out_bytes = 0;
    r->out_exceeded = false;
}

void runner_set_limits(struct runner *r, const struct runner_limits *lim)
{
    if (lim)
        r->limits = *lim;
    else
        memset(&r->limits, 0, sizeof r->limits);
}

static void set_limit(int resource, unsigned long soft, unsigned long hard)
{
    struct rlimit cur, want;
    if (getrlimit(resource, &cur) < 0)
        return;
    want.rlim_cur = (rlim_t)soft;
    want.rlim_max = (rlim_t)hard;
    /* never above what we have ourselves (unprivileged users cannot raise it) */
    if (cur.rlim_max != RLIM_INFINITY && want.rlim_max > cur.rlim_max)
        want.rlim_max = cur.rlim_max;
    if (want.rlim_cur > want.rlim_max)
        want.rlim_cur = want.rlim_max;
    setrlimit(resource, &want);
}

/* In the child: the resource limits of lim. */
static void apply_limits(const struct runner_limits *lim)
{
    if (lim->cpu_s)
        set_limit(RLIMIT_CPU, lim->cpu_s, lim->cpu_s + 5);
    if (lim->as_bytes)
        set_limit(RLIMIT_AS, lim->as_bytes, lim->as_bytes);
    if (lim->nofile)
        set_limit(RLIMIT_NOFILE, lim->nofile, lim->nofile);
    if (lim->nproc)
        set_limit(RLIMIT_NPROC, lim->nproc, lim->nproc);
    if (lim->fsize)
        set_limit(RLIMIT_FSIZE, lim->fsize, lim->fsize);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void write_str(int fd, const char *s)
{
    ssize_t n = write(fd, s, strlen(s));
    (void)n;
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void child_exec(const struct runner_limits *lim, char *const argv[], char *const envp[],
                       const char *cwd, int in_fd, int out_fd, int err_fd, pid_t parent)
{
    /* the command dies with its supervisor; checked again after setting it,
     * since the supervisor may have died in between */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGXCPU, &dfl, NULL);
    sigaction(SIGXFSZ, &dfl, NULL);
    if (!lim->new_session || setsid() < 0)
        setpgid(0, 0);
    apply_limits(lim);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    if (chdir(cwd) < 0) {
        int e = errno;
        write_str(2, "hpo: cannot enter trial directory: ");
        write_str(2, strerror(e));
        write_str(2, "\n");
        _exit(127);
    }
    execvpe(argv[0], argv, envp);
    int e = errno;
    write_str(2, "hpo: cannot run \"");
    write_str(2, argv[0]);
    write_str(2, "\": ");
    write_str(2, strerror(e));
    write_str(2, "\n");
    _exit(127);
}

/* ---- the supervisor ----
 *
 * Between the worker and each command sits a small process of its own (a fork
 * of the worker that execs nothing): it is a child subreaper, so whatever the
 * command starts and leaves behind, even in a session of its own (setsid),
 * becomes its child when its parent dies; it gets SIGTERM when the worker dies
 * (PR_SET_PDEATHSIG, even of SIGKILL). When the command ends, or the worker
 * is gone, it kills the command's process group and every process it has
 * inherited, until none is left, and then exits as the command did (its exit
 * status, or the same signal). So no process of a trial outlives the trial or
 * the worker. Only async-signal-safe calls run in it: the worker has threads. */

/* The parent process id in /proc/PID/stat, or -1. */
static long stat_ppid(const char *pid)
{
    char path[64] = "/proc/";
    strcat(path, pid);
    strcat(path, "/stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char text[512];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *p = strrchr(text, ')'); /* the name may hold spaces and parentheses */
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return -1;
    long v = 0;
    for (p += 4; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Call fn(pid, arg) for every process whose parent is parent; returns how
 * many, or -1 when /proc cannot be read. Async-signal-safe (getdents64). */
static int for_children(pid_t parent, void (*fn)(pid_t pid, void *arg), void *arg)
{
    int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    char buf[8192];
    int found = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '1' || d->d_name[0] > '9')
                continue;
            if (stat_ppid(d->d_name) != (long)parent)
                continue;
            long v = 0;
            for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
                v = v * 10 + (*c - '0');
            fn((pid_t)v, arg);
            found++;
        }
    }
    close(dfd);
    return found;
}

static void kill_one(pid_t pid, void *arg)
{
    (void)arg;
    kill(pid, SIGKILL);
}

/* Kill the command's group and every child of this process until none is
 * left; *status gets the command's wait status when it is reaped here. */
static void sweep(pid_t cmd, int *status, bool *have)
{
    for (int round = 0; round < 100000; round++) {
        kill(-cmd, SIGKILL);
        for_children(getpid(), kill_one, NULL);
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno == ECHILD)
            return;
        if (p == cmd) {
            *status = st;
            *have = true;
        }
    }
}

static void supervise_cmd(const struct runner_limits *lim, char *const argv[], char *const envp[],
                          const char *cwd, int in_fd, int out_fd, int err_fd, int pid_fd,
                          pid_t worker)
{
    setpgid(0, 0); /* not in the worker's group: a terminal's ^C is the worker's to pass on */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    if (getppid() != worker)
        _exit(127); /* the worker died before the command could start */
    pid_t me = getpid();
    pid_t cmd = fork();
    if (cmd < 0) {
        write_str(err_fd, "hpo: cannot fork the command\n");
        _exit(127);
    }
    if (cmd == 0)
        child_exec(lim, argv, envp, cwd, in_fd, out_fd, err_fd, me);
    if (!lim->new_session)
        setpgid(cmd, cmd); /* also done by the command; whichever runs first wins */
    ssize_t w = write(pid_fd, &cmd, sizeof cmd);
    (void)w;
    close(pid_fd);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    int status = 0;
    bool have = false;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig == SIGCHLD) {
            int st;
            pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0)
                if (p == cmd) {
                    status = st;
                    have = true;
                }
            if (have)
                break;
            continue;
        }
        if (getppid() != worker)
            break; /* the worker is gone: so is the trial */
        if (sig > 0)
            kill(-cmd, sig); /* a signal for the trial */
    }
    sweep(cmd, &status, &have);
    if (!have || getppid() != worker)
        _exit(127);
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    /* end as the command did: the same signal, without a core of this process */
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    sigaction(sig, &dfl, NULL);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ; /* signals forwarded already */
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    kill(me, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    _exit(128 + sig);
}

/* The supervisors running now, so that the worker tells them from the
 * orphans it inherits as a subreaper of its own (runner_sweep_orphans). */
#define MAX_SUPERVISORS 1100
static pthread_mutex_t sup_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t supervisors[MAX_SUPERVISORS];

static void sup_add_locked(pid_t pid)
{
    for (int i = 0; i < MAX_SUPERVISORS; i++)
        if (supervisors[i] == 0) {
            supervisors[i] = pid;
            break;
        }
}

static void sup_remove(pid_t pid)
{
    pthread_mutex_lock(&sup_lock);
    for (int i = 0; i < MAX_SUPERVISORS; i++)
        if (supervisors[i] == pid)
            supervisors[i] = 0;
    pthread_mutex_unlock(&sup_lock);
}

static bool sup_known(pid_t pid)
{
    bool known = false;
    pthread_mutex_lock(&sup_lock);
    for (int i = 0; i < MAX_SUPERVISORS && !known; i++)
        known = supervisors[i] == pid;
    pthread_mutex_unlock(&sup_lock);
    return known;
}

static void sweep_stray(pid_t pid, void *arg)
{
    int *n = arg;
    if (sup_known(pid))
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    (*n)++;
}

int runner_sweep_orphans(void)
{
    int n = 0;
    for_children(getpid(), sweep_stray, &n);
    return n;
}

int runner_start(struct runner *r, char *const argv[], char *const envp[], const char *cwd,
                 char *err, size_t errlen)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, pidp[2] = {-1, -1};
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        pipe2(pidp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
        goto out_close;
    }
    pid_t worker = getpid();
    /* forked and listed under the lock: a sweep never sees it unlisted */
    pthread_mutex_lock(&sup_lock);
    pid_t pid = fork();
    if (pid == 0) {
        close(pidp[0]);
        supervise_cmd(&r->limits, argv, envp, cwd, in_fd, out[1], errp[1], pidp[1], worker);
    }
    if (pid > 0)
        sup_add_locked(pid);
    pthread_mutex_unlock(&sup_lock);
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        goto out_close;
    }
    close(in_fd);
    close(out[1]);
    close(errp[1]);
    close(pidp[1]);
    pid_t cmd = 0;
    ssize_t got;
    while ((got = read(pidp[0], &cmd, sizeof cmd)) < 0 && errno == EINTR)
        ;
    close(pidp[0]);
    r->pid = pid;
    r->pgid = got == (ssize_t)sizeof cmd && cmd > 0 ? cmd : 0;
    r->out_fd = out[0];
    r->err_fd = errp[0];
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
    r->pidfd = -1;
#ifdef SYS_pidfd_open
    r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (r->pidfd < 0)
        r->pidfd = -1;
#endif
    r->exited = false;
    r->out_bytes = 0;
    r->out_exceeded = false;
    return 0;

out_close:
    if (in_fd >= 0)
        close(in_fd);
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (pidp[i] >= 0)
            close(pidp[i]);
    }
    return -1;
}

int runner_pollfds(const struct runner *r, struct pollfd *fds)
{
    int n = 0;
    if (r->out_fd >= 0)
        fds[n++] = (struct pollfd){.fd = r->out_fd, .events = POLLIN};
    if (r->err_fd >= 0)
        fds[n++] = (struct pollfd){.fd = r->err_fd, .events = POLLIN};
    if (r->pidfd >= 0 && !r->exited)
        fds[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
    return n;
}

/* Hand out the complete lines in line (and all of it when flush). */
static void emit_lines(struct buf *line, bool is_stderr, bool flush, runner_line_fn *on_line,
                       void *ctx)
{
    size_t pos = 0;
    while (pos < line->len) {
        char *nl = memchr(line->data + pos, '\n', line->len - pos);
        size_t end;
        if (nl)
            end = (size_t)(nl - line->data);
        else if (flush || line->len - pos >= RUNNER_MAX_LINE)
            end = line->len;
        else
            break;
        char saved = line->data[end];
        line->data[end] = '\0';
        size_t len = end - pos;
        if (len > 0 && line->data[end - 1] == '\r')
            line->data[end - 1] = '\0';
        on_line(ctx, line->data + pos, is_stderr);
        line->data[end] = saved;
        pos = nl ? end + 1 : end;
    }
    if (pos > 0) {
        memmove(line->data, line->data + pos, line->len - pos);
        line->len -= pos;
        line->data[line->len] = '\0';
    }
    if (line->len == 0 && line->cap > RUNNER_MAX_LINE)
        buf_release(line); /* keep an idle runner small */
}

/* Read fd until it would block or closes; returns false once it closed. */
static bool read_stream(struct runner *r, int *fd, bool is_stderr, runner_line_fn *on_line,
                        void *ctx)
{
    char chunk[8192];
    struct buf *line = is_stderr ? &r->err_line : &r->out_line;
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n > 0 && r->out_exceeded)
            continue; /* drained, not handed out */
        if (n > 0 && r->limits.output_max && r->out_bytes + (size_t)n > r->limits.output_max) {
            /* past the output limit: the group goes, the rest is drained unread */
            r->out_exceeded = true;
            if (r->pgid > 0)
                kill(-r->pgid, SIGKILL);
            n = (ssize_t)(r->limits.output_max - r->out_bytes);
            r->out_bytes = r->limits.output_max;
            if (n == 0)
                continue;
        } else if (n > 0) {
            r->out_bytes += (size_t)n;
        }
        if (n > 0) {
            if (is_stderr)
                tail_append(&r->err_tail, chunk, (size_t)n);
            buf_append(line, chunk, (size_t)n);
            emit_lines(line, is_stderr, false, on_line, ctx);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        close_fd(fd);
        emit_lines(line, is_stderr, true, on_line, ctx);
        return false;
    }
    return true;
}

void runner_pump(struct runner *r, runner_line_fn *on_line, void *ctx)
{
    if (r->out_fd >= 0)
        read_stream(r, &r->out_fd, false, on_line, ctx);
    if (r->err_fd >= 0)
        read_stream(r, &r->err_fd, true, on_line, ctx);
}

bool runner_reap(struct runner *r)
{
    if (r->exited)
        return true;
    if (r->pid <= 0)
        return false;
    int status;
    pid_t got = waitpid(r->pid, &status, WNOHANG);
    if (got == r->pid) {
        r->exited = true;
        r->status = status;
        close_fd(&r->pidfd);
        sup_remove(r->pid);
    }
    return r->exited;
}

void runner_finish(struct runner *r, runner_line_fn *on_line, void *ctx)
{
    /* whatever the command left running goes too (its supervisor saw to it
     * already; this is for a supervisor that was killed itself) */
    if (r->pgid > 0)
        kill(-r->pgid, SIGKILL);
    runner_sweep_orphans();
    runner_pump(r, on_line, ctx);
    if (r->out_fd >= 0) {
        close_fd(&r->out_fd);
        emit_lines(&r->out_line, false, true, on_line, ctx);
    }
    if (r->err_fd >= 0) {
        close_fd(&r->err_fd);
        emit_lines(&r->err_line, true, true, on_line, ctx);
    }
}

void runner_kill(const struct runner *r, int sig)
{
    if (r->exited)
        return;
    if (r->pgid > 0 && kill(-r->pgid, sig) == 0)
        return;
    /* no group (yet, or any more): the supervisor passes it on */
    if (r->pid > 0)
        kill(r->pid, sig == SIGKILL ? SIGTERM : sig);
}

void runner_release(struct runner *r)
{
    if (r->pid > 0 && !r->exited) {
        if (r->pgid > 0)
            kill(-r->pgid, SIGKILL);
        kill(r->pid, SIGTERM); /* it sweeps what is left, then exits */
        int status;
        while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
            ;
        sup_remove(r->pid);
    }
    close_fd(&r->out_fd);
    close_fd(&r->err_fd);
    close_fd(&r->pidfd);
    buf_release(&r->out_line);
    buf_release(&r->err_line);
    r->pid = 0;
}

void runner_status_text(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status))
        snprintf(out, outlen, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
        snprintf(out, outlen, "killed by signal %d (CPU time limit exceeded)", SIGXCPU);
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ)
        snprintf(out, outlen, "killed by signal %d (file size limit exceeded)", SIGXFSZ);
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, outlen, "wait status %d", status);
}
