/* pipe2() and execvpe() are GNU extensions */
#define _GNU_SOURCE 1
#include <config.h>
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUNNER_MAX_LINE 65536 /* a longer line is handed out in pieces */

void runner_init(struct runner *r)
{
    r->pid = 0;
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
                       const char *cwd, int in_fd, int out_fd, int err_fd)
{
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

int runner_start(struct runner *r, char *const argv[], char *const envp[], const char *cwd,
                 char *err, size_t errlen)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
        goto out_close;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        goto out_close;
    }
    if (pid == 0)
        child_exec(&r->limits, argv, envp, cwd, in_fd, out[1], errp[1]);
    if (!r->limits.new_session)
        setpgid(pid, pid); /* also done by the child; whichever runs first wins */
    close(in_fd);
    close(out[1]);
    close(errp[1]);
    r->pid = pid;
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
            if (r->pid > 0)
                kill(-r->pid, SIGKILL);
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
    }
    return r->exited;
}

void runner_finish(struct runner *r, runner_line_fn *on_line, void *ctx)
{
    /* whatever the command left running in its group goes too */
    if (r->pid > 0)
        kill(-r->pid, SIGKILL);
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
    if (r->pid > 0 && kill(-r->pid, sig) < 0 && !r->exited)
        kill(r->pid, sig);
}

void runner_release(struct runner *r)
{
    if (r->pid > 0 && !r->exited) {
        kill(-r->pid, SIGKILL);
        kill(r->pid, SIGKILL);
        int status;
        while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
            ;
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
