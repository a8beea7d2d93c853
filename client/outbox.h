#ifndef OUTBOX_H
#define OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exponential backoff: min_s, then doubling up to max_s, until reset. */
struct backoff {
    double min_s; /* first delay */
    double max_s; /* cap */
    double cur_s; /* next delay to hand out */
};

/* Prepare a schedule starting at min_s and capped at max_s. */
void backoff_init(struct backoff *b, double min_s, double max_s);
/* The next delay in seconds; the one after it is twice as long (capped). */
double backoff_next(struct backoff *b);
/* Start over at min_s (after a success). */
void backoff_reset(struct backoff *b);

/* A worker slot's queue of requests that must reach the daemon in order:
 * intermediate reports and completions. While the daemon is unreachable they
 * wait here and are re-sent, oldest first, on the backoff schedule (0.2 s
 * doubling to 10 s). Memory is bounded: past max_reports queued reports the
 * oldest report is dropped (a completion never is). */
enum outbox_kind { OUTBOX_REPORT, OUTBOX_COMPLETE };

struct outbox_item {
    enum outbox_kind kind;    /* report or completion */
    char *path;               /* owned request path, e.g. "/api/v1/trials/7/report" */
    json_t *body;             /* owned JSON body */
    char *trial_id;           /* owned id of the trial it is about */
    unsigned attempts;        /* sends tried so far, this one included */
    struct outbox_item *next; /* younger item */
};

/* What sending an item came to. */
enum outbox_result {
    OUTBOX_SENT,  /* acknowledged: remove it */
    OUTBOX_DROP,  /* refused for good (e.g. 409, lease lost): remove it */
    OUTBOX_RETRY, /* daemon unreachable or 5xx: keep it, try again later */
};

struct outbox {
    struct outbox_item *head, *tail; /* oldest, youngest */
    size_t n;                        /* items queued */
    size_t n_reports;                /* of which reports */
    size_t max_reports;              /* cap on queued reports */
    size_t lost_reports;             /* reports dropped for the cap so far */
    struct backoff backoff;          /* retry schedule */
    int64_t retry_at_ms;             /* no attempt before this (monotonic ms) */
    unsigned failures;               /* consecutive failed attempts */
};

/* Prepare an empty queue holding at most max_reports reports (0: 10000). */
void outbox_init(struct outbox *o, size_t max_reports);
/* Free every item. */
void outbox_release(struct outbox *o);
/* Queue a request; body is taken (also on error). 0 or -1 when out of memory. */
int outbox_push(struct outbox *o, enum outbox_kind kind, const char *path, json_t *body,
                const char *trial_id);
/* True when an attempt is due at now_ms (queue not empty, retry time reached). */
bool outbox_due(const struct outbox *o, int64_t now_ms);
/* Milliseconds until the next attempt is due (0 when due, -1 when empty). */
int64_t outbox_wait_ms(const struct outbox *o, int64_t now_ms);
/* Send items oldest first through send (which sees attempts counted) until one asks for a retry
 * (which sets the retry time from the backoff) or the queue is empty. Does nothing before the retry
 * time. Returns the number of items removed. */
size_t outbox_flush(struct outbox *o, int64_t now_ms,
                    enum outbox_result (*send)(void *ctx, struct outbox_item *item), void *ctx);

#endif
