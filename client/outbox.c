#include <config.h>
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

void backoff_init(struct backoff *b, double min_s, double max_s)
{
    b->min_s = min_s;
    b->max_s = max_s;
    b->cur_s = min_s;
}

double backoff_next(struct backoff *b)
{
    double d = b->cur_s;
    b->cur_s = d * 2 > b->max_s ? b->max_s : d * 2;
    return d;
}

void backoff_reset(struct backoff *b)
{
    b->cur_s = b->min_s;
}

void outbox_init(struct outbox *o, size_t max_reports)
{
    memset(o, 0, sizeof *o);
    o->max_reports = max_reports ? max_reports : 10000;
    backoff_init(&o->backoff, 0.2, 10.0);
}

static void item_free(struct outbox_item *it)
{
    free(it->path);
    free(it->trial_id);
    json_decref(it->body);
    free(it);
}

void outbox_release(struct outbox *o)
{
    struct outbox_item *it = o->head;
    while (it) {
        struct outbox_item *next = it->next;
        item_free(it);
        it = next;
    }
    o->head = o->tail = NULL;
    o->n = o->n_reports = 0;
}

static void unlink_after(struct outbox *o, struct outbox_item *prev, struct outbox_item *it)
{
    if (prev)
        prev->next = it->next;
    else
        o->head = it->next;
    if (o->tail == it)
        o->tail = prev;
    o->n--;
    if (it->kind == OUTBOX_REPORT)
        o->n_reports--;
    item_free(it);
}

int outbox_push(struct outbox *o, enum outbox_kind kind, const char *path, json_t *body,
                const char *trial_id)
{
    struct outbox_item *it = calloc(1, sizeof *it);
    if (!it) {
        json_decref(body);
        return -1;
    }
    it->kind = kind;
    it->body = body;
    it->path = strdup(path);
    it->trial_id = strdup(trial_id ? trial_id : "");
    if (!it->path || !it->trial_id) {
        item_free(it);
        return -1;
    }
    if (kind == OUTBOX_REPORT && o->n_reports >= o->max_reports) {
        struct outbox_item *prev = NULL, *cur = o->head;
        while (cur && cur->kind != OUTBOX_REPORT) {
            prev = cur;
            cur = cur->next;
        }
        if (cur) {
            unlink_after(o, prev, cur);
            o->lost_reports++;
        }
    }
    if (o->tail)
        o->tail->next = it;
    else
        o->head = it;
    o->tail = it;
    o->n++;
    if (kind == OUTBOX_REPORT)
        o->n_reports++;
    return 0;
}

bool outbox_due(const struct outbox *o, int64_t now_ms)
{
    return o->head && now_ms >= o->retry_at_ms;
}

int64_t outbox_wait_ms(const struct outbox *o, int64_t now_ms)
{
    if (!o->head)
        return -1;
    return now_ms >= o->retry_at_ms ? 0 : o->retry_at_ms - now_ms;
}

size_t outbox_flush(struct outbox *o, int64_t now_ms,
                    enum outbox_result (*send)(void *ctx, struct outbox_item *item), void *ctx)
{
    size_t removed = 0;
    if (!outbox_due(o, now_ms))
        return 0;
    while (o->head) {
        o->head->attempts++;
        enum outbox_result r = send(ctx, o->head);
        if (r == OUTBOX_RETRY) {
            o->failures++;
            o->retry_at_ms = now_ms + (int64_t)(backoff_next(&o->backoff) * 1000);
            break;
        }
        o->failures = 0;
        backoff_reset(&o->backoff);
        o->retry_at_ms = 0;
        unlink_after(o, NULL, o->head);
        removed++;
    }
    return removed;
}
