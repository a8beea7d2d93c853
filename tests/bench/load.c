/* Load generator for hpod: N simulated workers, each looping suggest -> one
 * heartbeat -> complete (value x^2 + y^2 of the trial's params) on one study for
 * a fixed time, all driven by one libcurl multi handle with a kept-alive
 * connection per worker. The loop is libcurl's socket interface on epoll, so
 * that each answer costs the generator O(1) and not a poll over every worker:
 * on a small machine the generator shares the cores with the daemon it loads. Prints one JSON line:
 * trials completed, trials per second, errors, and p50/p99 latency of each call.
 *
 *   load --server URL --study NAME [--workers N] [--seconds S] [--token T]
 */
#include <config.h>

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "buf.h"
#include "timeutil.h"

enum call { CALL_SUGGEST, CALL_HEARTBEAT, CALL_COMPLETE, N_CALLS };
static const char *const call_names[N_CALLS] = {"suggest", "heartbeat", "complete"};

struct series {
    double *ms;    /* owned latencies in milliseconds */
    size_t n, cap; /* used and allocated entries */
};

struct sim {
    CURL *h;            /* owned easy handle, kept across requests */
    int id;             /* worker number */
    enum call call;     /* request in flight */
    long long trial;    /* trial held, 0 when none */
    double value;       /* its objective */
    struct buf resp;    /* response body */
    char body[256];     /* request body */
    char url[1024];     /* request URL */
    int64_t started_us; /* when the request was sent */
};

static const char *server, *study, *token;
static struct series lat[N_CALLS];
static long long completed, errors, empty_suggests;
static struct curl_slist *headers;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void series_add(struct series *s, double ms)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *grown = realloc(s->ms, cap * sizeof *grown);
        if (!grown)
            return;
        s->ms = grown;
        s->cap = cap;
    }
    s->ms[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(struct series *s, double q)
{
    if (s->n == 0)
        return NAN;
    size_t i = (size_t)(q * (double)s->n);
    return s->ms[i < s->n ? i : s->n - 1];
}

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
    struct sim *s = cls;
    buf_append(&s->resp, p, size * n);
    return size * n;
}

static void send_next(CURLM *m, struct sim *s)
{
    switch (s->call) {
    case CALL_SUGGEST:
        snprintf(s->url, sizeof s->url, "%s/api/v1/studies/%s/suggest", server, study);
        snprintf(s->body, sizeof s->body, "{\"worker\":\"load-%d\",\"wait_s\":1}", s->id);
        break;
    case CALL_HEARTBEAT:
        snprintf(s->url, sizeof s->url, "%s/api/v1/trials/%lld/heartbeat", server, s->trial);
        snprintf(s->body, sizeof s->body, "{\"worker\":\"load-%d\"}", s->id);
        break;
    default:
        snprintf(s->url, sizeof s->url, "%s/api/v1/trials/%lld/complete", server, s->trial);
        snprintf(s->body, sizeof s->body, "{\"worker\":\"load-%d\",\"value\":%.17g}", s->id,
                 s->value);
        break;
    }
    buf_reset(&s->resp);
    curl_easy_setopt(s->h, CURLOPT_URL, s->url);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
    s->started_us = now_us();
    curl_multi_add_handle(m, s->h);
}

/* Read the answer to s's request and choose the next call. */
static void on_done(struct sim *s, CURLcode res)
{
    double ms = (double)(now_us() - s->started_us) / 1000.0;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    series_add(&lat[s->call], ms);
    if (res != CURLE_OK || status != 200) {
        errors++;
        if (errors <= 5)
            fprintf(stderr, "load: %s answered %ld (%s): %.200s\n", call_names[s->call], status,
                    curl_easy_strerror(res), s->resp.data ? s->resp.data : "");
        s->call = CALL_SUGGEST;
        return;
    }
    if (s->call == CALL_SUGGEST) {
        json_t *j = json_loadb(s->resp.data, s->resp.len, 0, NULL);
        json_t *t = json_array_get(json_object_get(j, "trials"), 0);
        if (t) {
            json_t *p = json_object_get(t, "params");
            double x = json_number_value(json_object_get(p, "x"));
            double y = json_number_value(json_object_get(p, "y"));
            s->trial = json_integer_value(json_object_get(t, "id"));
            s->value = x * x + y * y;
            s->call = CALL_HEARTBEAT;
        } else {
            empty_suggests++;
        }
        json_decref(j);
    } else if (s->call == CALL_HEARTBEAT) {
        s->call = CALL_COMPLETE;
    } else {
        completed++;
        s->call = CALL_SUGGEST;
    }
}

/* libcurl's socket interface: which sockets to watch, and its next timeout. */
static int ep = -1;
static long timer_ms = -1;

static int on_socket(CURL *h, curl_socket_t fd, int what, void *cls, void *sock_cls)
{
    (void)h;
    (void)cls;
    struct epoll_event ev = {.data.fd = fd};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    (void)sock_cls;
    return 0;
}

static int on_timer(CURLM *m, long ms, void *cls)
{
    (void)m;
    (void)cls;
    timer_ms = ms;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: load --server URL --study NAME [--workers N] [--seconds S] "
                    "[--token T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int workers = 8;
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next)
            return usage();
        if (strcmp(argv[i], "--server") == 0)
            server = next;
        else if (strcmp(argv[i], "--study") == 0)
            study = next;
        else if (strcmp(argv[i], "--token") == 0)
            token = next;
        else if (strcmp(argv[i], "--workers") == 0)
            workers = atoi(next);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(next);
        else
            return usage();
        i++;
    }
    if (!server || !study || workers < 1 || workers > 4096 || !(seconds > 0))
        return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[512];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    CURLM *m = curl_multi_init();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!m || ep < 0)
        return 1;
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)workers);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    struct sim *sims = calloc((size_t)workers, sizeof *sims);
    if (!m || !sims)
        return 1;
    for (int i = 0; i < workers; i++) {
        struct sim *s = &sims[i];
        s->id = i;
        s->h = curl_easy_init();
        buf_init(&s->resp);
        curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
        s->call = CALL_SUGGEST;
        send_next(m, s);
    }
    int64_t start = now_us(), end = start + (int64_t)(seconds * 1e6);
    int active = workers;
    int still = 0;
    curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &still);
    while (active > 0) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct sim *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode res = msg->data.result;
            curl_multi_remove_handle(m, s->h);
            on_done(s, res);
            /* past the end a worker finishes the trial it holds, then stops */
            if (now_us() < end || s->call != CALL_SUGGEST)
                send_next(m, s);
            else
                active--;
        }
        if (active == 0)
            break;
        struct epoll_event ev[64];
        int n = epoll_wait(ep, ev, 64, timer_ms < 0 || timer_ms > 100 ? 100 : (int)timer_ms);
        if (n <= 0) {
            timer_ms = -1;
            curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &still);
            continue;
        }
        for (int i = 0; i < n; i++) {
            int flags = ((ev[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                        ((ev[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((ev[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(m, ev[i].data.fd, flags, &still);
        }
    }
    double wall = (double)(now_us() - start) / 1e6;
    printf("{\"workers\": %d, \"seconds\": %.2f, \"trials\": %lld, \"trials_per_s\": %.1f, "
           "\"errors\": %lld, \"empty_suggests\": %lld",
           workers, wall, completed, (double)completed / wall, errors, empty_suggests);
    for (int c = 0; c < N_CALLS; c++) {
        qsort(lat[c].ms, lat[c].n, sizeof *lat[c].ms, cmp_double);
        if (lat[c].n == 0) { /* JSON has no NaN */
            printf(", \"%s\": {\"n\": 0, \"p50_ms\": null, \"p99_ms\": null, \"max_ms\": null}",
                   call_names[c]);
            continue;
        }
        printf(", \"%s\": {\"n\": %zu, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}",
               call_names[c], lat[c].n, quantile(&lat[c], 0.5), quantile(&lat[c], 0.99),
               lat[c].ms[lat[c].n - 1]);
    }
    printf("}\n");
    for (int i = 0; i < workers; i++) {
        curl_easy_cleanup(sims[i].h);
        buf_release(&sims[i].resp);
    }
    free(sims);
    for (int c = 0; c < N_CALLS; c++)
        free(lat[c].ms);
    curl_multi_cleanup(m);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
