/* pipe2() is a GNU extension */
#define _GNU_SOURCE 1
#include <config.h>
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rest.h"
#include "buf.h"
#include "console.h"
#include "httpc.h"
#include "jsonutil.h"
#include "metricline.h"
#include "outbox.h"
#include "runner.h"
#include "sandbox.h"
#include "table.h"
#include "template.h"
#include "timeutil.h"
#include "worker_prep.h"

#define POLL_TICK_MS      250   /* how often the report file is looked at */
#define MAX_SERVER_ERRORS 10    /* 5xx answers before a queued request is given up */
#define POLL_MARGIN_MS    15000 /* a long-poll's HTTP timeout beyond its wait_s */
#define CPU_MARGIN_S      60    /* CPU time of a confined trial beyond timeout x CPUs */
#define OPEN_FILES        256   /* open files of a confined trial */
#define STOP_SIGNAL_MS    2000  /* how long a child's SIGTERM may precede the worker's own */

enum slot_state { SLOT_ACTIVE, SLOT_WAITING, SLOT_DONE };

struct worker {
    const struct worker_opts *o; /* options (borrowed) */
    char *base_id;               /* owned worker identity without the slot */
    char **cmd;                  /* owned command with resolved paths, NULL-terminated */
    char *study_dir;             /* owned absolute directory of this study's trials */
    json_t *spec;                /* owned study spec as the daemon holds it */
    const json_t *params_spec;   /* borrowed from spec: the "params" array */
    const char *objective;       /* borrowed from spec: metric name */
    bool maximize;               /* objective direction */
    double trial_timeout_s;      /* 0: none */
    double heartbeat_s;          /* the spec's lease.heartbeat_s, used when suggest omits it */
    int stop_pipe[2];            /* read end becomes readable when stopping */
    atomic_bool stopping;        /* SIGINT/SIGTERM received */
    atomic_bool hurry;           /* a second signal: SIGKILL at once */
    int64_t stop_at_ms;          /* when stopping began (monotonic) */
    pthread_mutex_t lock;        /* guards the fields below */
    long claimed;                /* trials asked for or run, for --max-trials */
    long done, completed, failed, pruned; /* finished trials by outcome */
    int running;                          /* trials running now */
    bool have_best;                       /* best holds a value */
    double best;                          /* best completed value of this worker */
    long long best_number;                /* its trial number */
    int exit_code;                        /* 0, 1 after a refusal, 2 after refusing code */
    const char *code_param;  /* borrowed from spec: the first code parameter, or NULL */
    char *bwrap;             /* owned path of bwrap when the sandbox is used */
    char **ro_paths;         /* owned: paths under /tmp the command needs, bound
                                read-only in the sandbox (NULL-terminated) */
    struct worker_prep prep; /* what every trial's preparation needs (borrows the above) */
};

struct slot {
    struct worker *w;      /* the worker (borrowed) */
    int index;             /* slot number from 0 */
    char worker_id[160];   /* "ID:SLOT" */
    const char *gpu;       /* device for CUDA_VISIBLE_DEVICES, or NULL */
    struct httpc *http;    /* this thread's client */
    struct outbox outbox;  /* reports and completions not yet acknowledged */
    atomic_int state;      /* enum slot_state */
    pthread_t thread;      /* the slot's thread */
    struct trial_run *run; /* the trial running now, or NULL */
    bool unreachable;      /* the last exchange found the daemon unreachable */
};

struct trial_run {
    char *id;                 /* owned trial id as text */
    long long number;         /* trial number */
    json_t *params;           /* owned params */
    double heartbeat_s;       /* interval */
    char *dir;                /* owned trial directory */
    int report_fd;            /* read end of the report file, or -1 */
    struct buf report_line;   /* incomplete line of the report file */
    struct runner runner;     /* the child */
    int64_t start_ms;         /* monotonic start */
    bool have_final;          /* a final line was seen */
    double final_value;       /* its objective value */
    json_t *final_values;     /* owned: its pairs */
    char final_name[72];      /* metric name of final_value */
    bool have_last;           /* an intermediate report was seen */
    double last_value;        /* the last one's objective value */
    json_t *last_values;      /* owned: its pairs */
    char last_name[72];       /* metric name of last_value */
    long long last_step;      /* its step */
    json_t *held_report;      /* owned: the latest report waiting for its turn, or NULL */
    int64_t next_report_ms;   /* when the held report may be sent (--report-rate) */
    double report_tokens;     /* reports that may be sent now */
    int64_t report_refill_ms; /* when report_tokens was last topped up, 0 before */
    long long held_reports;   /* reports coalesced into a later one */
    size_t echoed;            /* bytes of output shown on the console */
    bool echo_dropped;        /* --echo-limit passed: the rest is not shown */
    bool lease_lost;          /* heartbeat said stop, or 404/409: do not complete */
    bool prune;               /* a report was answered "prune" */
    bool timed_out;           /* ran past trial_timeout_s */
    bool stopped;             /* the worker is stopping */
    bool killing;             /* SIGTERM sent */
    bool hard_killed;         /* SIGKILL sent */
    int64_t kill_at_ms;       /* when SIGKILL follows */
    const char *sandbox;      /* "bwrap" or "none" once started, NULL before */
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    return time_mono_ms();
}

static bool worker_stopping(const struct worker *w)
{
    return atomic_load(&w->stopping);
}

/* Sleep up to ms, waking early when the worker starts stopping. */
static void slot_sleep(struct slot *s, int64_t ms)
{
    if (ms <= 0)
        return;
    struct pollfd p = {.fd = s->w->stop_pipe[0], .events = POLLIN};
    if (worker_stopping(s->w))
        p.fd = -1;
    poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

static void update_progress(struct worker *w)
{
    char text[200], best[96] = "";
    pthread_mutex_lock(&w->lock);
    if (w->have_best)
        snprintf(best, sizeof best, ", best %s=%.6g (trial %lld)", w->objective, w->best,
                 w->best_number);
    snprintf(text, sizeof text,
             "[hpo] %d running, %ld done: %ld completed, %ld failed, %ld pruned%s", w->running,
             w->done, w->completed, w->failed, w->pruned, best);
    pthread_mutex_unlock(&w->lock);
    console_progress(text);
}

/* ---- talking to the daemon ---- */

static void note_reachable(struct slot *s, bool reachable, const char *err)
{
    if (!reachable && !s->unreachable)
        console_line(stderr, "hpo worker: slot %d: daemon unreachable (%s); retrying", s->index,
                     err);
    else if (reachable && s->unreachable)
        console_line(stderr, "hpo worker: slot %d: daemon reachable again", s->index);
    s->unreachable = !reachable;
}

static enum outbox_result slot_send(void *ctx, struct outbox_item *it)
{
    struct slot *s = ctx;
    char err[512];
    long status = 0;
    json_t *reply =
        httpc_json(s->http, "POST", it->path, it->body, 30000, &status, NULL, err, sizeof err);
    enum outbox_result res = OUTBOX_SENT;
    struct trial_run *run = s->run && strcmp(s->run->id, it->trial_id) == 0 ? s->run : NULL;
    const char *what = it->kind == OUTBOX_COMPLETE ? "completion" : "report";
    if (status == 0) {
        note_reachable(s, false, err);
        res = OUTBOX_RETRY;
        goto out;
    }
    note_reachable(s, true, NULL);
    if (status >= 500 || status == 429) {
        if (it->attempts >= MAX_SERVER_ERRORS) {
            console_line(stderr, "hpo worker: trial %s: %s given up after %u answers of %ld: %s",
                         it->trial_id, what, it->attempts, status, err);
            res = OUTBOX_DROP;
        } else {
            res = OUTBOX_RETRY;
        }
        goto out;
    }
    if (status >= 200 && status < 300) {
        const char *action = json_str(reply, "action", "continue");
        if (run && it->kind == OUTBOX_REPORT && strcmp(action, "prune") == 0)
            run->prune = true;
        goto out;
    }
    if (status == 404 || status == 409) {
        console_line(stderr, "hpo worker: trial %s: %s refused, lease lost (%s)", it->trial_id,
                     what, err);
        if (run)
            run->lease_lost = true;
    } else {
        console_line(stderr, "hpo worker: trial %s: %s refused with status %ld: %s", it->trial_id,
                     what, status, err);
    }
    res = OUTBOX_DROP;
out:
    json_decref(reply);
    return res;
}

static void slot_flush(struct slot *s)
{
    outbox_flush(&s->outbox, now_ms(), slot_send, s);
}

static void slot_queue(struct slot *s, enum outbox_kind kind, const char *trial_id,
                       const char *verb, json_t *body)
{
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/api/v1/trials/");
    rest_escape(&path, trial_id);
    buf_printf(&path, "/%s", verb);
    size_t lost = s->outbox.lost_reports;
    if (outbox_push(&s->outbox, kind, path.data, body, trial_id) < 0)
        console_line(stderr, "hpo worker: out of memory queueing a %s", verb);
    if (s->outbox.lost_reports > lost && s->outbox.lost_reports % 1000 == 1)
        console_line(stderr, "hpo worker: slot %d: too many reports queued, dropping the oldest",
                     s->index);
    buf_release(&path);
    slot_flush(s);
}

/* ---- one trial ---- */

static void run_free(struct trial_run *t)
{
    if (!t)
        return;
    runner_release(&t->runner);
    if (t->report_fd >= 0)
        close(t->report_fd);
    buf_release(&t->report_line);
    free(t->id);
    free(t->dir);
    json_decref(t->params);
    json_decref(t->final_values);
    json_decref(t->last_values);
    json_decref(t->held_report);
    free(t);
}

/* Send the report waiting for its turn when its turn has come (or now, when
 * the trial ended: the last intermediate value is never lost). The turns are
 * a token bucket: --report-rate a second, as many at once after a pause. */
static void send_held_report(struct slot *s, struct trial_run *t, bool now)
{
    if (!t->held_report)
        return;
    int64_t at = now_ms();
    double rate = (double)s->w->o->report_rate;
    if (rate > 0) {
        if (t->report_refill_ms == 0) {
            t->report_tokens = rate;
        } else {
            t->report_tokens += (double)(at - t->report_refill_ms) * rate / 1000.0;
            if (t->report_tokens > rate)
                t->report_tokens = rate;
        }
        t->report_refill_ms = at;
        if (t->report_tokens < 1.0 && !now) {
            t->next_report_ms = at + (int64_t)((1.0 - t->report_tokens) * 1000.0 / rate) + 1;
            return;
        }
        t->report_tokens -= 1.0;
    }
    json_t *body = t->held_report;
    t->held_report = NULL;
    slot_queue(s, OUTBOX_REPORT, t->id, "report", body);
}

static void handle_metrics(struct slot *s, struct trial_run *t, const char *text)
{
    struct metricline m;
    metricline_init(&m);
    char err[256];
    int rc = metricline_parse(text, &m, err, sizeof err);
    if (rc < 0)
        console_line(stderr, "hpo worker: trial %lld: ignored metrics line: %s", t->number, err);
    if (rc <= 0)
        goto out;
    double value;
    const char *name;
    metricline_objective(&m, s->w->objective, &value, &name);
    if (m.final) {
        t->have_final = true;
        t->final_value = value;
        snprintf(t->final_name, sizeof t->final_name, "%s", name);
        json_decref(t->final_values);
        t->final_values = metricline_values_json(&m);
        goto out;
    }
    long long step = m.has_step ? m.step : (t->have_last ? t->last_step + 1 : 1);
    t->have_last = true;
    t->last_step = step;
    t->last_value = value;
    snprintf(t->last_name, sizeof t->last_name, "%s", name);
    json_decref(t->last_values);
    t->last_values = metricline_values_json(&m);
    json_t *body = json_pack("{s:s, s:I, s:f, s:O}", "worker", s->worker_id, "step",
                             (json_int_t)step, "value", value, "values", t->last_values);
    if (!body)
        goto out;
    /* at most --report-rate reports a second: a faster one waits, replaced by
     * any later one, so that the latest step is always the one sent */
    if (t->held_report)
        t->held_reports++;
    json_decref(t->held_report);
    t->held_report = body;
    send_held_report(s, t, false);
out:
    metricline_release(&m);
}

struct line_ctx {
    struct slot *s;      /* slot */
    struct trial_run *t; /* its trial */
};

static void on_child_line(void *ctx, const char *line, bool is_stderr)
{
    struct line_ctx *c = ctx;
    size_t limit = (size_t)c->s->w->o->echo_limit_mb << 20;
    size_t len = strlen(line) + 1;
    if (!limit || c->t->echoed + len <= limit) {
        c->t->echoed += len;
        console_line(is_stderr ? stderr : stdout, "[%lld] %s", c->t->number, line);
    } else if (!c->t->echo_dropped) {
        c->t->echo_dropped = true;
        console_line(stderr,
                     "[%lld] hpo worker: more than %ld MiB of output: the rest is not shown "
                     "(--echo-limit); the trial runs on",
                     c->t->number, c->s->w->o->echo_limit_mb);
    }
    if (!is_stderr)
        handle_metrics(c->s, c->t, line);
}

/* Read new lines of the report file written by `hpo report`. */
static void read_reports(struct slot *s, struct trial_run *t, bool at_end)
{
    if (t->report_fd < 0)
        return;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(t->report_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_append(&t->report_line, chunk, (size_t)n);
    }
    size_t pos = 0;
    while (pos < t->report_line.len) {
        char *nl = memchr(t->report_line.data + pos, '\n', t->report_line.len - pos);
        if (!nl && !at_end)
            break;
        size_t end = nl ? (size_t)(nl - t->report_line.data) : t->report_line.len;
        t->report_line.data[end] = '\0';
        handle_metrics(s, t, t->report_line.data + pos);
        pos = nl ? end + 1 : end;
    }
    if (pos >= t->report_line.len) {
        buf_reset(&t->report_line);
    } else if (pos > 0) {
        memmove(t->report_line.data, t->report_line.data + pos, t->report_line.len - pos);
        t->report_line.len -= pos;
        t->report_line.data[t->report_line.len] = '\0';
    }
}

static void heartbeat(struct slot *s, struct trial_run *t, int64_t *next_ms)
{
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/api/v1/trials/");
    rest_escape(&path, t->id);
    buf_puts(&path, "/heartbeat");
    json_t *body = json_pack("{s:s}", "worker", s->worker_id);
    char err[512];
    long status = 0;
    json_t *reply =
        httpc_json(s->http, "POST", path.data, body, 10000, &status, NULL, err, sizeof err);
    int64_t interval = (int64_t)(t->heartbeat_s * 1000);
    if (status == 0) {
        note_reachable(s, false, err);
        interval = interval < 1000 ? interval : 1000;
    } else {
        note_reachable(s, true, NULL);
        if (status == 404 || status == 409 ||
            (status == 200 && strcmp(json_str(reply, "action", "continue"), "stop") == 0)) {
            console_line(stderr, "hpo worker: trial %lld: the daemon took the trial back (%s)",
                         t->number, status == 200 ? "stop" : err);
            t->lease_lost = true;
        } else if (status == 200 && strcmp(json_str(reply, "action", "continue"), "prune") == 0) {
            /* the pruner judged the trial at a report whose answer got lost */
            t->prune = true;
        } else if (status >= 500) {
            interval = interval < 1000 ? interval : 1000;
        }
    }
    *next_ms = now_ms() + (interval > 100 ? interval : 100);
    json_decref(reply);
    json_decref(body);
    buf_release(&path);
}

/* The child ended by SIGTERM, SIGINT or SIGHUP (or bwrap said so). */
static bool stop_signal(const struct trial_run *t)
{
    int st = t->runner.status;
    bool bwrap = t->sandbox && strcmp(t->sandbox, "bwrap") == 0;
    int sig = WIFSIGNALED(st)                                   ? WTERMSIG(st)
              : WIFEXITED(st) && bwrap && WEXITSTATUS(st) > 128 ? WEXITSTATUS(st) - 128
                                                                : 0;
    return sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

static void begin_kill(struct slot *s, struct trial_run *t)
{
    if (t->killing)
        return;
    t->killing = true;
    bool hurry = atomic_load(&s->w->hurry) || s->w->o->grace_s <= 0;
    runner_kill(&t->runner, hurry ? SIGKILL : SIGTERM);
    t->hard_killed = hurry;
    t->kill_at_ms = now_ms() + (int64_t)(s->w->o->grace_s * 1000);
}

/* Watch the child until it exits. */
static void supervise(struct slot *s, struct trial_run *t)
{
    struct worker *w = s->w;
    struct line_ctx lc = {s, t};
    int64_t next_hb = now_ms() + (int64_t)(t->heartbeat_s * 1000);
    int64_t deadline =
        w->trial_timeout_s > 0 ? t->start_ms + (int64_t)(w->trial_timeout_s * 1000) : INT64_MAX;
    for (;;) {
        int64_t now = now_ms();
        int64_t wait = POLL_TICK_MS;
        if (!t->lease_lost)
            wait = next_hb - now < wait ? next_hb - now : wait;
        if (!t->killing) {
            wait = deadline - now < wait ? deadline - now : wait;
        } else if (!t->hard_killed) {
            wait = t->kill_at_ms - now < wait ? t->kill_at_ms - now : wait;
        }
        int64_t ow = outbox_wait_ms(&s->outbox, now);
        if (ow >= 0 && ow < wait)
            wait = ow;
        if (t->held_report && t->next_report_ms - now < wait)
            wait = t->next_report_ms - now;
        if (wait < 0)
            wait = 0;
        struct pollfd fds[4];
        int n = runner_pollfds(&t->runner, fds);
        if (!t->killing && !worker_stopping(w))
            fds[n++] = (struct pollfd){.fd = w->stop_pipe[0], .events = POLLIN};
        poll(fds, (nfds_t)n, (int)wait);
        runner_pump(&t->runner, on_child_line, &lc);
        read_reports(s, t, false);
        send_held_report(s, t, false);
        now = now_ms();
        if (outbox_due(&s->outbox, now))
            slot_flush(s);
        if (!t->lease_lost && now >= next_hb)
            heartbeat(s, t, &next_hb); /* also during the grace time: keep the lease */
        if (!t->killing) {
            if (worker_stopping(w))
                t->stopped = true;
            else if (now >= deadline)
                t->timed_out = true;
            if (t->stopped || t->timed_out || t->prune || t->lease_lost)
                begin_kill(s, t);
        }
        if (t->killing && !t->hard_killed && (now >= t->kill_at_ms || atomic_load(&w->hurry))) {
            runner_kill(&t->runner, SIGKILL);
            t->hard_killed = true;
        }
        if (runner_reap(&t->runner))
            break;
    }
    /* A batch scheduler ending the job (requeue, time limit, scancel) signals
     * every process of it at once: a child that died of a stop signal the
     * worker did not send was stopped with the worker, whose own signal may
     * come a moment later. */
    if (!t->killing && !worker_stopping(w) && stop_signal(t)) {
        struct pollfd pfd = {.fd = w->stop_pipe[0], .events = POLLIN};
        poll(&pfd, 1, STOP_SIGNAL_MS);
    }
    if (!t->killing && worker_stopping(w))
        t->stopped = true;
    runner_finish(&t->runner, on_child_line, &lc);
    read_reports(s, t, true);
    if (!t->lease_lost)
        send_held_report(s, t, true); /* before the complete: the latest step is kept */
    if (t->held_reports > 0)
        console_line(stderr, "[%lld] hpo worker: %lld report(s) coalesced (--report-rate %ld/s)",
                     t->number, t->held_reports, w->o->report_rate);
}

static void record_outcome(struct worker *w, const char *state, const struct trial_run *t)
{
    pthread_mutex_lock(&w->lock);
    w->running--;
    w->done++;
    if (strcmp(state, "completed") == 0) {
        w->completed++;
        bool better =
            !w->have_best || (w->maximize ? t->final_value > w->best : t->final_value < w->best);
        if (better) {
            w->have_best = true;
            w->best = t->final_value;
            w->best_number = t->number;
        }
    } else if (strcmp(state, "pruned") == 0) {
        w->pruned++;
    } else if (strcmp(state, "failed") == 0) {
        w->failed++;
    } else {
        w->done--;
    }
    pthread_mutex_unlock(&w->lock);
}

/* The last line of text, for the one-line log. */
static const char *last_line(const char *text)
{
    const char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

static void finish_trial(struct slot *s, struct trial_run *t, const char *start_error)
{
    struct worker *w = s->w;
    double secs = (double)(now_ms() - t->start_ms) / 1000.0;
    char reason[256] = "";
    const char *state = "failed";
    if (t->lease_lost) {
        console_line(stderr, "trial %lld abandoned: the lease is gone (%.1f s)", t->number, secs);
        record_outcome(w, "abandoned", t);
        return;
    }
    int status = t->runner.status;
    bool bwrap = t->sandbox && strcmp(t->sandbox, "bwrap") == 0;
    if (bwrap && WIFEXITED(status) && WEXITSTATUS(status) > 128 && WEXITSTATUS(status) < 128 + 65)
        status = WEXITSTATUS(status) - 128; /* bwrap exits 128 + N when its command got signal N */
    bool ran_to_end = t->have_final && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (t->stopped && w->o->keep_leases && !start_error && !ran_to_end) {
        /* no complete: the lease stays with this worker id until it runs out */
        console_line(stderr, "trial %lld stopped, left leased to %s (%.1f s)", t->number,
                     s->worker_id, secs);
        record_outcome(w, "kept", t);
        return;
    }
    if (start_error)
        snprintf(reason, sizeof reason, "%s", start_error);
    else if (t->runner.out_exceeded)
        snprintf(reason, sizeof reason,
                 "output limit exceeded (more than %ld MiB on stdout and stderr)",
                 w->o->output_limit_mb);
    else if (t->stopped && !ran_to_end)
        snprintf(reason, sizeof reason, "worker stopped");
    else if (t->prune)
        state = "pruned";
    else if (t->timed_out)
        snprintf(reason, sizeof reason, "timed out after %g s", w->trial_timeout_s);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        runner_status_text(status, reason, sizeof reason);
    else if (!t->have_final)
        snprintf(reason, sizeof reason, "no final value for %s", w->objective);
    else
        state = "completed";

    json_t *body = json_pack("{s:s, s:s}", "worker", s->worker_id, "state", state);
    if (body && t->sandbox)
        json_object_set_new(body, "sandbox", json_string(t->sandbox));
    struct buf msg;
    buf_init(&msg);
    char num[40];
    if (strcmp(state, "completed") == 0) {
        json_object_set_new(body, "value", json_real(t->final_value));
        json_object_set(body, "values", t->final_values);
        metricline_format_number(t->final_value, num, sizeof num);
        console_line(stderr, "trial %lld completed %s=%s (%.1f s)", t->number, t->final_name, num,
                     secs);
    } else if (strcmp(state, "pruned") == 0) {
        if (t->have_last) {
            json_object_set_new(body, "value", json_real(t->last_value));
            json_object_set(body, "values", t->last_values);
            metricline_format_number(t->last_value, num, sizeof num);
            console_line(stderr, "trial %lld pruned at step %lld %s=%s (%.1f s)", t->number,
                         t->last_step, t->last_name, num, secs);
        } else {
            console_line(stderr, "trial %lld pruned (%.1f s)", t->number, secs);
        }
    } else {
        char *tail = tail_text(&t->runner.err_tail);
        buf_puts(&msg, reason);
        bool quote = tail && *tail && !t->stopped && !start_error;
        if (quote)
            buf_printf(&msg, ": %s", tail);
        json_object_set_new(body, "error", json_string(msg.data));
        if (quote)
            console_line(stderr, "trial %lld failed: %s: %s (%.1f s)", t->number, reason,
                         last_line(tail), secs);
        else
            console_line(stderr, "trial %lld failed: %s (%.1f s)", t->number, reason, secs);
        free(tail);
    }
    buf_release(&msg);
    record_outcome(w, state, t);
    if (body)
        slot_queue(s, OUTBOX_COMPLETE, t->id, "complete", body);
}

static int set_limits(const struct worker *w, struct trial_run *t)
{
    const struct worker_opts *o = w->o;
    struct runner_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.new_session = true;
    if (w->trial_timeout_s > 0) {
        /* CPU time adds up over threads: the wall-clock timeout times the CPUs */
        int cpus = get_nprocs();
        lim.cpu_s = (unsigned long)ceil(w->trial_timeout_s) * (unsigned long)(cpus > 0 ? cpus : 1) +
                    CPU_MARGIN_S;
    }
    lim.as_bytes = (unsigned long)o->mem_limit_mb << 20;
    lim.nofile = OPEN_FILES;
    /* RLIMIT_NPROC counts every process and thread of the user (root is exempt) */
    lim.nproc = (unsigned long)o->max_procs + (getuid() != 0 ? sandbox_user_tasks() : 0);
    lim.fsize = (unsigned long)o->file_limit_mb << 20;
    lim.output_max = (size_t)o->output_limit_mb << 20;
    runner_set_limits(&t->runner, &lim);
    return 0;
}

static void worker_refuse(struct worker *w);

/* Prepare the trial's run; the directory and the report file go to t at once,
 * so that they are released with it whatever happens next. */
static int prepare(struct slot *s, struct trial_run *t, const struct worker_prep_trial *pt,
                   struct worker_prep_out *out, char *err, size_t errlen)
{
    int rc = worker_prep_trial(&s->w->prep, pt, out, err, errlen);
    t->dir = out->dir;
    t->report_fd = out->report_fd;
    out->dir = NULL;
    out->report_fd = -1;
    return rc;
}

static void run_trial(struct slot *s, const json_t *trial)
{
    struct worker *w = s->w;
    struct trial_run *t = calloc(1, sizeof *t);
    if (!t)
        return;
    runner_init(&t->runner);
    buf_init(&t->report_line);
    t->report_fd = -1;
    t->id = template_value_text(json_object_get(trial, "id"));
    t->number = json_int(trial, "number", 0);
    t->params = json_incref(json_object_get(trial, "params"));
    if (!json_is_object(t->params)) {
        json_decref(t->params);
        t->params = json_object();
    }
    t->heartbeat_s = json_num(trial, "heartbeat_s", w->heartbeat_s);
    if (t->heartbeat_s <= 0)
        t->heartbeat_s = 30;
    t->start_ms = now_ms();
    s->run = t;
    pthread_mutex_lock(&w->lock);
    w->running++;
    pthread_mutex_unlock(&w->lock);

    struct worker_prep_out prep = {NULL, -1, NULL, NULL};
    struct worker_prep_trial pt = {
        .id = t->id,
        .number = t->number,
        .params = t->params,
        .worker_id = s->worker_id,
        .gpu = s->gpu,
    };
    char err[512];
    char *ptext = table_params_text(t->params, 40);
    const char *code = worker_prep_code_param(w->params_spec, t->params);
    bool confined = code || w->o->sandbox == WORKER_SANDBOX_BWRAP;
    bool use_bwrap = confined && w->o->sandbox != WORKER_SANDBOX_NONE;
    pt.confined = confined;
    pt.use_bwrap = use_bwrap;
    err[0] = '\0';
    if (code && !w->o->allow_code)
        snprintf(err, sizeof err,
                 "refused: this trial carries code (parameter %s); start the worker with "
                 "--allow-code to run it",
                 code);
    else if (use_bwrap && !w->bwrap)
        snprintf(err, sizeof err,
                 "refused: the sandbox is not available: install bubblewrap (apt-get install "
                 "bubblewrap) or pass --sandbox none");
    if (err[0]) {
        /* every trial of this study would be refused: stop asking */
        console_line(stderr, "trial %lld %s", t->number, err);
        finish_trial(s, t, err);
        worker_refuse(w);
    } else if (confined && set_limits(w, t) < 0) {
        snprintf(err, sizeof err, "cannot set the limits of a confined trial");
        finish_trial(s, t, err);
    } else if (prepare(s, t, &pt, &prep, err, sizeof err) < 0 ||
               runner_start(&t->runner, prep.argv, prep.env, t->dir, err, sizeof err) < 0) {
        console_line(stderr, "trial %lld cannot start: %s", t->number, err);
        finish_trial(s, t, err);
    } else {
        t->sandbox = use_bwrap ? "bwrap" : "none";
        console_line(stderr, "trial %lld started on slot %d%s: %s", t->number, s->index,
                     use_bwrap  ? " (sandbox bwrap)"
                     : confined ? " (no sandbox, limits)"
                                : "",
                     ptext ? ptext : "");
        update_progress(w);
        supervise(s, t);
        finish_trial(s, t, NULL);
    }
    update_progress(w);
    free(ptext);
    worker_prep_out_release(&prep);
    s->run = NULL;
    run_free(t);
}

/* ---- the slot loop ---- */

static bool claim_trial(struct worker *w)
{
    bool ok = true;
    pthread_mutex_lock(&w->lock);
    if (w->o->max_trials > 0 && w->claimed >= w->o->max_trials)
        ok = false;
    else
        w->claimed++;
    pthread_mutex_unlock(&w->lock);
    return ok;
}

static void unclaim_trial(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->claimed--;
    pthread_mutex_unlock(&w->lock);
}

static void set_exit_code(struct worker *w, int code)
{
    pthread_mutex_lock(&w->lock);
    if (w->exit_code == 0)
        w->exit_code = code;
    pthread_mutex_unlock(&w->lock);
}

/* A trial was refused for its code: every other one would be too, so stop
 * the worker with exit status 2. */
static void worker_refuse(struct worker *w)
{
    set_exit_code(w, 2);
    if (!atomic_exchange(&w->stopping, true)) {
        w->stop_at_ms = now_ms();
        ssize_t n = write(w->stop_pipe[1], "x", 1);
        (void)n;
    }
}

long worker_poll_timeout_ms(double wait_s)
{
    return (long)(wait_s * 1000) + POLL_MARGIN_MS;
}

int64_t worker_retry_ms(const char *study_state, double wait_s, int64_t held_ms,
                        double retry_after_s)
{
    /* held: the daemon kept the request for its wait (or a second of it) */
    double held_enough = wait_s * 900 < 1000 ? wait_s * 900 : 1000;
    if (strcmp(study_state, "running") == 0 && wait_s > 0 && (double)held_ms >= held_enough)
        return 0;
    double wait = retry_after_s < 0.2 ? 0.2 : retry_after_s > 60 ? 60 : retry_after_s;
    return (int64_t)(wait * 1000);
}

/* Ask for a trial and run it. Returns false when the slot should stop. */
static bool slot_step(struct slot *s, struct backoff *bo)
{
    struct worker *w = s->w;
    if (!claim_trial(w))
        return false;
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/api/v1/studies/");
    rest_escape(&path, w->o->study);
    buf_puts(&path, "/suggest");
    json_t *body =
        json_pack("{s:s, s:i, s:f}", "worker", s->worker_id, "count", 1, "wait_s", w->o->wait_s);
    char err[512];
    long status = 0;
    double retry_after = -1;
    atomic_store(&s->state, SLOT_WAITING);
    int64_t asked_ms = now_ms();
    json_t *reply =
        httpc_json(s->http, "POST", path.data, body, worker_poll_timeout_ms(w->o->wait_s), &status,
                   &retry_after, err, sizeof err);
    int64_t held_ms = now_ms() - asked_ms;
    atomic_store(&s->state, SLOT_ACTIVE);
    json_decref(body);
    buf_release(&path);
    bool go_on = true;
    const json_t *trial = json_array_get(json_object_get(reply, "trials"), 0);
    if (status != 200 || !trial)
        unclaim_trial(w);
    if (worker_stopping(w)) {
        /* a trial handed out now is left to its lease (same --id gets it back) */
        go_on = false;
        goto out;
    }
    if (status == 0 || status >= 500 || (status == 200 && !reply)) {
        note_reachable(s, status != 0, err);
        if (status != 0)
            console_line(stderr, "hpo worker: slot %d: suggest answered %ld: %s", s->index, status,
                         err);
        slot_sleep(s, (int64_t)(backoff_next(bo) * 1000));
        goto out;
    }
    note_reachable(s, true, NULL);
    backoff_reset(bo);
    if (status == 429) {
        double wait = retry_after >= 0 ? retry_after : json_num(reply, "retry_after_s", 10);
        console_line(stderr, "hpo worker: slot %d: no trials for now (%s); waiting %g s", s->index,
                     err, wait);
        slot_sleep(s, (int64_t)(wait * 1000));
        goto out;
    }
    if (status != 200) {
        console_line(stderr, "hpo: %s", err);
        set_exit_code(w, 1);
        go_on = false;
        goto out;
    }
    if (!trial) {
        const char *state = json_str(reply, "study_state", "");
        if (strcmp(state, "finished") == 0) {
            go_on = false;
            goto out;
        }
        /* a long-poll that ran out on a running study is asked again at once */
        slot_sleep(
            s, worker_retry_ms(state, w->o->wait_s, held_ms, json_num(reply, "retry_after_s", 1)));
        goto out;
    }
    run_trial(s, trial);
out:
    json_decref(reply);
    return go_on;
}

static void *slot_main(void *arg)
{
    struct slot *s = arg;
    struct worker *w = s->w;
    struct backoff bo;
    backoff_init(&bo, 0.2, 10.0);
    while (!worker_stopping(w)) {
        if (s->outbox.head) {
            /* results of the last trial first: the daemon must have them */
            slot_flush(s);
            if (s->outbox.head) {
                slot_sleep(s, outbox_wait_ms(&s->outbox, now_ms()));
                continue;
            }
        }
        if (!slot_step(s, &bo))
            break;
    }
    /* last chance for queued results while stopping: bounded by the grace time */
    int64_t until = now_ms() + (int64_t)((w->o->grace_s > 5 ? w->o->grace_s : 5) * 1000);
    while (s->outbox.head && now_ms() < until && !atomic_load(&w->hurry)) {
        slot_flush(s);
        if (s->outbox.head)
            poll(NULL, 0, (int)(outbox_wait_ms(&s->outbox, now_ms()) + 1));
    }
    if (s->outbox.head)
        console_line(stderr, "hpo worker: slot %d: %zu results not delivered (daemon unreachable)",
                     s->index, s->outbox.n);
    atomic_store(&s->state, SLOT_DONE);
    return NULL;
}

/* ---- start-up ---- */

static char *default_id(void)
{
    char host[256];
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s-%ld", host, (long)getpid());
    return buf_steal(&b);
}

/* Wait up to ms for SIGINT/SIGTERM; returns the signal or 0. */
static int wait_signal(const sigset_t *set, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Fetch the study's spec, retrying while the daemon is unreachable. */
static int fetch_spec(struct worker *w, const sigset_t *sigs)
{
    struct httpc *http = httpc_new(w->o->server, w->o->token);
    if (!http)
        return 1;
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/api/v1/studies/");
    rest_escape(&path, w->o->study);
    struct backoff bo;
    backoff_init(&bo, 0.2, 10.0);
    bool warned = false;
    int rc = 1;
    for (;;) {
        json_t *reply = NULL;
        long status;
        char err[512];
        enum rest_status st =
            rest_call(http, "GET", path.data, NULL, 30000, &reply, &status, err, sizeof err);
        if (st == REST_OK) {
            json_t *spec = json_object_get(reply, "spec");
            w->spec = json_incref(json_is_object(spec) ? spec : reply);
            json_decref(reply);
            rc = 0;
            break;
        }
        json_decref(reply);
        if (st == REST_REFUSED && status < 500) {
            fprintf(stderr, "hpo: %s\n", err);
            break;
        }
        if (!warned)
            fprintf(stderr, "hpo worker: daemon at %s unreachable (%s); retrying\n", w->o->server,
                    err);
        warned = true;
        if (wait_signal(sigs, (int64_t)(backoff_next(&bo) * 1000))) {
            rc = 0;
            atomic_store(&w->stopping, true);
            break;
        }
    }
    buf_release(&path);
    httpc_free(http);
    if (rc == 0 && w->spec) {
        w->params_spec = json_object_get(w->spec, "params");
        const json_t *obj = json_object_get(w->spec, "objective");
        w->objective = json_str(obj, "name", "value");
        w->maximize = strcmp(json_str(obj, "direction", "minimize"), "maximize") == 0;
        w->trial_timeout_s = json_num(json_object_get(w->spec, "budget"), "trial_timeout_s", 0);
        w->heartbeat_s = json_num(json_object_get(w->spec, "lease"), "heartbeat_s", 30);
    }
    return rc;
}

/* Add path (or, for a regular file directly in /tmp, the file) to the paths
 * bound read-only in the sandbox when /tmp hides it. */
static int add_ro_path(struct worker *w, size_t *n, const char *path)
{
    if (!sandbox_hidden_path(path) || strcmp(path, "/tmp") == 0 || strcmp(path, "/dev/shm") == 0)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(w->ro_paths[i], path) == 0)
            return 0;
    char **grown = realloc(w->ro_paths, (*n + 2) * sizeof *grown);
    if (!grown)
        return -1;
    w->ro_paths = grown;
    grown[*n] = strdup(path);
    if (!grown[*n])
        return -1;
    grown[++*n] = NULL;
    return 0;
}

/* The sandbox's read-only binds: the worker's directory and those of the
 * command's files, when they lie under /tmp. */
static int collect_ro_paths(struct worker *w)
{
    size_t n = 0;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && add_ro_path(w, &n, cwd) < 0)
        return -1;
    for (int i = 0; w->cmd[i]; i++) {
        struct stat st;
        const char *a = w->cmd[i];
        if (a[0] != '/' || stat(a, &st) < 0)
            continue;
        char *dir = strdup(a);
        if (!dir)
            return -1;
        char *slash = strrchr(dir, '/');
        if (S_ISREG(st.st_mode) && slash && slash != dir)
            *slash = '\0';
        int rc =
            add_ro_path(w, &n, strcmp(dir, "/tmp") == 0 || strcmp(dir, "/dev/shm") == 0 ? a : dir);
        free(dir);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Check the study against --allow-code and set up the sandbox it needs.
 * 0, or -1 after a message (the worker exits 2). */
static int setup_code(struct worker *w)
{
    const struct worker_opts *o = w->o;
    size_t i;
    json_t *p;
    json_array_foreach(w->params_spec, i, p)
    {
        if (strcmp(json_str(p, "type", ""), "code") == 0) {
            w->code_param = json_str(p, "name", "?");
            break;
        }
    }
    if (w->code_param && !o->allow_code) {
        fprintf(stderr,
                "hpo: study \"%s\" has a code parameter (\"%s\"): its trials run code that "
                "an LLM wrote; start the worker with --allow-code to run them (sandboxed with "
                "bubblewrap unless --sandbox none)\n",
                o->study, w->code_param);
        return -1;
    }
    bool need =
        (w->code_param && o->sandbox != WORKER_SANDBOX_NONE) || o->sandbox == WORKER_SANDBOX_BWRAP;
    if (!need) {
        if (w->code_param)
            fprintf(stderr, "hpo worker: --sandbox none: trials with code run unsandboxed, "
                            "under resource limits only\n");
        return 0;
    }
    w->bwrap = sandbox_find_bwrap();
    if (!w->bwrap) {
        fprintf(stderr, "hpo: the sandbox is not available: install bubblewrap (apt-get install "
                        "bubblewrap) or pass --sandbox none\n");
        return -1;
    }
    char err[1024];
    if (sandbox_probe(w->bwrap, err, sizeof err) < 0) {
        fprintf(stderr,
                "hpo: the bubblewrap sandbox cannot be set up here: %s (bwrap needs "
                "unprivileged user namespaces or root; or pass --sandbox none)\n",
                err);
        return -1;
    }
    if (collect_ro_paths(w) < 0) {
        fprintf(stderr, "hpo: out of memory\n");
        return -1;
    }
    char cpu[64] = "no CPU limit (no trial_timeout_s)";
    if (w->trial_timeout_s > 0)
        snprintf(cpu, sizeof cpu, "CPU %g s x %d CPUs + %d s", ceil(w->trial_timeout_s),
                 get_nprocs(), CPU_MARGIN_S);
    fprintf(stderr,
            "hpo worker: sandbox bwrap (%s) for %s: no network, read-only file system but the "
            "trial directory, private /tmp; limits: %s, memory %ld MiB, %d open files, %ld more "
            "processes, files %ld MiB, output %ld MiB\n",
            w->bwrap, o->sandbox == WORKER_SANDBOX_BWRAP ? "every trial" : "trials with code", cpu,
            o->mem_limit_mb, OPEN_FILES, o->max_procs, o->file_limit_mb, o->output_limit_mb);
    return 0;
}

int worker_run(const struct worker_opts *o)
{
    struct worker w;
    memset(&w, 0, sizeof w);
    w.o = o;
    pthread_mutex_init(&w.lock, NULL);
    atomic_init(&w.stopping, false);
    atomic_init(&w.hurry, false);
    w.stop_pipe[0] = w.stop_pipe[1] = -1;
    int code = 1;
    struct slot *slots = NULL;
    int started = 0;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    w.base_id = o->id ? strdup(o->id) : default_id();
    w.cmd = worker_prep_cmd(o->cmd, o->n_cmd);
    if (!w.base_id || !w.cmd || pipe2(w.stop_pipe, O_CLOEXEC) < 0) {
        fprintf(stderr, "hpo: cannot start the worker: %s\n", strerror(errno));
        goto out;
    }
    if (fetch_spec(&w, &sigs) != 0)
        goto out;
    if (atomic_load(&w.stopping)) {
        code = 0;
        goto out;
    }
    if (setup_code(&w) < 0) {
        code = 2;
        goto out;
    }
    char err[512];
    w.study_dir = worker_prep_study_dir(o->work_dir, o->study, err, sizeof err);
    if (!w.study_dir) {
        fprintf(stderr, "hpo: %s\n", err);
        goto out;
    }
    w.prep = (struct worker_prep){
        .server = o->server,
        .study = o->study,
        .study_dir = w.study_dir,
        .params_spec = w.params_spec,
        .cmd = w.cmd,
        .n_cmd = o->n_cmd,
        .bwrap = w.bwrap,
        .ro_paths = w.ro_paths,
    };

    console_init(isatty(2));
    /* what a trial leaves behind when its supervisor is killed comes here, to
     * be killed (runner_sweep_orphans) rather than to live on under init */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    slots = calloc((size_t)o->slots, sizeof *slots);
    if (!slots)
        goto out;
    for (int i = 0; i < o->slots; i++) {
        struct slot *s = &slots[i];
        s->w = &w;
        s->index = i;
        snprintf(s->worker_id, sizeof s->worker_id, "%s:%d", w.base_id, i);
        s->gpu = o->n_gpus > 0 ? o->gpus[i % o->n_gpus] : NULL;
        outbox_init(&s->outbox, 0);
        atomic_init(&s->state, SLOT_ACTIVE);
        s->http = httpc_new(o->server, o->token);
    }
    console_line(stderr, "hpo worker %s: study %s, %d slot%s, trials in %s", w.base_id, o->study,
                 o->slots, o->slots == 1 ? "" : "s", w.study_dir);
    for (int i = 0; i < o->slots; i++) {
        if (!slots[i].http || pthread_create(&slots[i].thread, NULL, slot_main, &slots[i]) != 0) {
            fprintf(stderr, "hpo: cannot start slot %d\n", i);
            atomic_store(&w.stopping, true);
            break;
        }
        started++;
    }
    /* the main thread: signals and the progress line */
    int64_t idle_since = 0, swept_at = now_ms();
    for (;;) {
        int sig = wait_signal(&sigs, 300);
        if (now_ms() - swept_at >= 2000) {
            runner_sweep_orphans();
            swept_at = now_ms();
        }
        if (sig) {
            if (!atomic_load(&w.stopping)) {
                console_line(stderr, "hpo worker: %s: stopping (again to kill at once)",
                             sig == SIGINT ? "SIGINT" : "SIGTERM");
                w.stop_at_ms = now_ms();
                atomic_store(&w.stopping, true);
                ssize_t n = write(w.stop_pipe[1], "x", 1);
                (void)n;
            } else {
                atomic_store(&w.hurry, true);
            }
        }
        int done = 0, waiting = 0;
        for (int i = 0; i < started; i++) {
            int st = atomic_load(&slots[i].state);
            done += st == SLOT_DONE;
            waiting += st == SLOT_WAITING;
        }
        if (done == started)
            break;
        if (atomic_load(&w.stopping) && done + waiting == started) {
            /* the rest wait on a long-poll: give them a moment, then leave */
            if (!idle_since)
                idle_since = now_ms();
            else if (now_ms() - idle_since > 500)
                break;
        } else {
            idle_since = 0;
        }
        update_progress(&w);
    }
    console_done();
    bool all_joined = true;
    for (int i = 0; i < started; i++) {
        if (atomic_load(&slots[i].state) == SLOT_DONE)
            pthread_join(slots[i].thread, NULL);
        else
            all_joined = false;
    }
    code = w.exit_code;
    pthread_mutex_lock(&w.lock);
    console_line(stderr,
                 "hpo worker %s: %s; %ld trials done (%ld completed, %ld failed, %ld pruned)",
                 w.base_id, atomic_load(&w.stopping) ? "stopped" : "no more trials", w.done,
                 w.completed, w.failed, w.pruned);
    pthread_mutex_unlock(&w.lock);
    if (!all_joined) {
        /* slots still in a long-poll hold nothing worth waiting for */
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
out:
    for (int i = 0; slots && i < o->slots; i++) {
        httpc_free(slots[i].http);
        outbox_release(&slots[i].outbox);
    }
    free(slots);
    free(w.base_id);
    worker_prep_strv_free(w.cmd);
    free(w.study_dir);
    free(w.bwrap);
    worker_prep_strv_free(w.ro_paths);
    json_decref(w.spec);
    if (w.stop_pipe[0] >= 0) {
        close(w.stop_pipe[0]);
        close(w.stop_pipe[1]);
    }
    pthread_mutex_destroy(&w.lock);
    return code;
}
