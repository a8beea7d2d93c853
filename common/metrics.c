#include <config.h>
#include "metrics.h"

#include "locks.h"
#include <pthread.h>
#include <string.h>

#define MAX_SERIES 128
#define MAX_EVENTS 32

/* Upper bounds of the latency buckets in seconds: heartbeats and reports take
 * well under a millisecond, long-polls up to their wait_s. */
static const double bounds_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
#define N_BOUNDS (sizeof bounds_s / sizeof bounds_s[0])

struct series {
    const char *route;           /* static label */
    unsigned status;             /* HTTP status */
    long long count;             /* requests */
    double sum_s;                /* total latency in seconds */
    long long buckets[N_BOUNDS]; /* cumulative counts at or under each bound */
};

struct event {
    const char *name; /* static label */
    const char *help; /* static HELP text */
    long long n;      /* total */
};

static struct lock lock = LOCK_INITIALIZER(LOCK_METRICS);
static struct series series[MAX_SERIES];
static size_t n_series;
/* The known events first, so that each counter exists at 0 from the start
 * (rate() and absent() need the series before the first event). */
#define KNOWN_EVENTS 9
static struct event events[MAX_EVENTS] = {
    {"lease_expired", "Leases that ran out because a worker stopped sending heartbeats.", 0},
    {"offloaded_requests", "Requests handed from the HTTP threads to the offload threads.", 0},
    {"longpoll_events", "Changes to a study that woke its waiting suggests (one per event).", 0},
    {"longpoll_resumed", "Waiting suggests resumed by a change to their own study.", 0},
    {"longpoll_expired", "Waiting suggests resumed because their wait_s ran out.", 0},
    {"connections_refused", "Connections refused: their address held max_connections_per_address.",
     0},
    {"connections_cut",
     "Connections cut: headers, body or next request not complete within their timeout.", 0},
    {"busy_offloaded",
     "Writes that found the database locked on the HTTP thread and waited on an offload thread.",
     0},
    {"static_not_modified", "Requests for a file of the page answered 304 Not Modified.", 0},
};
static size_t n_events = KNOWN_EVENTS;

void metrics_request(const char *route, unsigned status, int64_t us)
{
    double secs = (double)us / 1e6;
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
        s->sum_s += secs;
        for (size_t b = 0; b < N_BOUNDS; b++)
            if (secs <= bounds_s[b])
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
        e->help = NULL;
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
    buf_puts(out, "# HELP hpod_http_request_duration_seconds Time from a request's arrival to its "
                  "answer, by route and status.\n"
                  "# TYPE hpod_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n_series; i++) {
        struct series *s = &series[i];
        for (size_t b = 0; b < N_BOUNDS; b++)
            buf_printf(out,
                       "hpod_http_request_duration_seconds_bucket{route=\"%s\",status=\"%u\","
                       "le=\"%g\"} %lld\n",
                       s->route, s->status, bounds_s[b], s->buckets[b]);
        buf_printf(out,
                   "hpod_http_request_duration_seconds_bucket{route=\"%s\",status=\"%u\","
                   "le=\"+Inf\"} %lld\n",
                   s->route, s->status, s->count);
        buf_printf(out, "hpod_http_request_duration_seconds_sum{route=\"%s\",status=\"%u\"} %.6f\n",
                   s->route, s->status, s->sum_s);
        buf_printf(out,
                   "hpod_http_request_duration_seconds_count{route=\"%s\",status=\"%u\"} %lld\n",
                   s->route, s->status, s->count);
    }
    for (size_t i = 0; i < n_events; i++) {
        if (events[i].help)
            buf_printf(out, "# HELP hpod_%s_total %s\n", events[i].name, events[i].help);
        else
            buf_printf(out, "# HELP hpod_%s_total Count of %s events.\n", events[i].name,
                       events[i].name);
        buf_printf(out, "# TYPE hpod_%s_total counter\nhpod_%s_total %lld\n", events[i].name,
                   events[i].name, events[i].n);
    }
    lock_drop(&lock);
}
