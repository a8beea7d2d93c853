#include <config.h>
#include "metrics.h"

#include "locks.h"
#include <pthread.h>
#include <string.h>

#define MAX_SERIES 128
#define MAX_EVENTS 32

static const double bounds_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};
#define N_BOUNDS (sizeof bounds_ms / sizeof bounds_ms[0])

struct series {
    const char *route;           /* static label */
    unsigned status;             /* HTTP status */
    long long count;             /* requests */
    double sum_ms;               /* total latency */
    long long buckets[N_BOUNDS]; /* cumulative counts at or under each bound */
};

struct event {
    const char *name; /* static label */
    long long n;      /* total */
};

static struct lock lock = LOCK_INITIALIZER(LOCK_METRICS);
static struct series series[MAX_SERIES];
static size_t n_series;
static struct event events[MAX_EVENTS];
static size_t n_events;

void metrics_request(const char *route, unsigned status, int64_t ms)
{
    lock_take(&lock);
    struct series *s = NULL;
    for (size_t i = 0; i < n_series; i++)
        if (series[i].status == status && strcmp(series[i].route, route) == 0)
            s = &series[i];
    if (!s && n_series < MAX_SERIES) {
        s = &series[n_series++];
        s->route = route;
        s->status = status;
    }
    if (s) {
        s->count++;
        s->sum_ms += (double)ms;
        for (size_t b = 0; b < N_BOUNDS; b++)
            if ((double)ms <= bounds_ms[b])
                s->buckets[b]++;
    }
    lock_drop(&lock);
}

void metrics_count(const char *name, long long n)
{
    lock_take(&lock);
    struct event *e = NULL;
    for (size_t i = 0; i < n_events; i++)
        if (strcmp(events[i].name, name) == 0)
            e = &events[i];
    if (!e && n_events < MAX_EVENTS) {
        e = &events[n_events++];
        e->name = name;
    }
    if (e)
        e->n += n;
    lock_drop(&lock);
}

void metrics_render(struct buf *out)
{
    lock_take(&lock);
    buf_puts(out, "# HELP hpod_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE hpod_http_requests_total counter\n");
    for (size_t i = 0; i < n_series; i++)
        buf_printf(out, "hpod_http_requests_total{route=\"%s\",status=\"%u\"} %lld\n",
                   series[i].route, series[i].status, series[i].count);
    buf_puts(out, "# HELP hpod_http_request_duration_ms Request latency in milliseconds.\n"
                  "# TYPE hpod_http_request_duration_ms histogram\n");
    for (size_t i = 0; i < n_series; i++) {
        struct series *s = &series[i];
        for (size_t b = 0; b < N_BOUNDS; b++)
            buf_printf(out,
                       "hpod_http_request_duration_ms_bucket{route=\"%s\",status=\"%u\",le=\"%g\"} "
                       "%lld\n",
                       s->route, s->status, bounds_ms[b], s->buckets[b]);
        buf_printf(out,
                   "hpod_http_request_duration_ms_bucket{route=\"%s\",status=\"%u\",le=\"+Inf\"} "
                   "%lld\n",
                   s->route, s->status, s->count);
        buf_printf(out, "hpod_http_request_duration_ms_sum{route=\"%s\",status=\"%u\"} %.3f\n",
                   s->route, s->status, s->sum_ms);
        buf_printf(out, "hpod_http_request_duration_ms_count{route=\"%s\",status=\"%u\"} %lld\n",
                   s->route, s->status, s->count);
    }
    for (size_t i = 0; i < n_events; i++)
        buf_printf(out, "# TYPE hpod_%s_total counter\nhpod_%s_total %lld\n", events[i].name,
                   events[i].name, events[i].n);
    lock_drop(&lock);
}
