#include <config.h>
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "conns.h"
#include "jsonutil.h"
#include "locks.h"
#include "reqlimits.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "timeutil.h"

static const struct http_options *opts;

/* Suspended long-polls, by the key they wait on (a study id): each key has
 * its event sequence and its parked requests, oldest first. Keys are made by
 * their first event or park and kept (a few dozen bytes per study). */
struct wkey {
    long long key;           /* the key */
    uint64_t seq;            /* moved by each wake (from wait_seq_next: never reused) */
    struct req *head, *tail; /* parked requests, oldest first */
    struct wkey *next;       /* hash chain */
};
#define WKEY_BUCKETS 256
static struct lock wait_lock = LOCK_INITIALIZER(LOCK_HTTP_WAIT);
static struct wkey *wkeys[WKEY_BUCKETS];
static uint64_t wait_seq_next; /* the last sequence handed out */
static size_t n_parked;        /* requests in the lists */

/* Requests handed to the offload threads, first in first out. */
static struct lock pool_lock = LOCK_INITIALIZER(LOCK_HTTP_POOL);
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
struct pool_item {
    struct req *r;          /* borrowed: its connection is suspended */
    struct pool_item *next; /* queue link */
};
static struct pool_item *pool_head, **pool_tail = &pool_head;
static pthread_t *pool_threads;
/* Requests begun and not yet completed; set when the daemon stops, so that
 * long-polls answer at once instead of waiting again. */
static atomic_int in_flight;
static atomic_bool draining;
static unsigned pool_n;
static bool pool_stopping;

static void req_free(struct req *r)
{
    if (!r)
        return;
    if (r->deferred)
        MHD_destroy_response(r->deferred);
    for (int i = 0; i < HTTP_MAX_ARGS; i++)
        free(r->args[i]);
    buf_release(&r->body);
    json_decref(r->json);
    if (r->handler_state && r->handler_state_free)
        r->handler_state_free(r->handler_state);
    free(r);
}

/* The one place a request changes state (enum req_state in http.h). A move
 * the lifecycle does not have is a bug: logged in every build, and it aborts
 * unless NDEBUG is defined. */
static void req_enter(struct req *r, enum req_state to)
{
    bool ok = false;
    switch (r->state) {
    case REQ_RECEIVING:
        ok = to == REQ_RUNNING || to == REQ_REPLIED;
        break;
    case REQ_RUNNING:
        ok = to == REQ_INLINE || to == REQ_OFFLOADED || to == REQ_PARKED || to == REQ_REPLIED;
        break;
    case REQ_INLINE:
    case REQ_OFFLOADED:
        ok = to == REQ_PARKED || to == REQ_REPLIED;
        break;
    case REQ_PARKED:
        ok = to == REQ_RUNNING || to == REQ_REPLIED;
        break;
    case REQ_REPLIED:
        ok = false;
        break;
    }
    if (!ok) {
        log_error("%s %s: request state %d cannot become %d", r->method, r->url, (int)r->state,
                  (int)to);
#ifndef NDEBUG
        abort();
#endif
    }
    r->state = to;
}

bool http_replied(const struct req *r)
{
    return r->state == REQ_REPLIED;
}

static void queue(struct req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->state == REQ_REPLIED) {
        log_warn("%s %s: a second reply (%u) dropped", r->method, r->url, status);
        MHD_destroy_response(resp);
        return;
    }
    if (!MHD_get_response_header(resp, "Cache-Control"))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->retry_after_s >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", r->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    if (r->state == REQ_OFFLOADED) {
        /* MHD takes replies on its own thread: keep it for the resumption */
        if (r->deferred)
            MHD_destroy_response(r->deferred);
        r->deferred = resp;
        r->deferred_status = status;
    } else {
        if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
            log_warn("could not queue a %u response for %s %s", status, r->method, r->url);
        MHD_destroy_response(resp);
    }
    req_enter(r, REQ_REPLIED);
    metrics_request(r->route ? r->route->name : "other", status,
                    time_mono_us() - r->started_mono_us);
    if (r->woken) {
        /* resumed by an event and answered: what woke it may serve the next */
        r->woken = false;
        http_wake(r->wait_key, 1);
    }
}

void http_set_retry_after(struct req *r, int seconds)
{
    r->retry_after_s = seconds;
}

/* Add extra_headers (name, value pairs up to a NULL name) to resp. */
static void add_headers(struct MHD_Response *resp, const char *const *extra_headers)
{
    for (size_t i = 0; extra_headers && extra_headers[i] && extra_headers[i + 1]; i += 2)
        MHD_add_response_header(resp, extra_headers[i], extra_headers[i + 1]);
}

void http_reply_bytes(struct req *r, unsigned status, const char *content_type, const void *data,
                      size_t len, const char *const *extra_headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return;
    MHD_add_response_header(resp, "Content-Type", content_type);
    add_headers(resp, extra_headers);
    queue(r, status, resp);
}

void http_reply_shared(struct req *r, unsigned status, const char *content_type, const void *data,
                       size_t len, const char *const *extra_headers, void (*release)(void *))
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, (void *)data, release);
    if (!resp) {
        release((void *)data);
        return;
    }
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    add_headers(resp, extra_headers);
    queue(r, status, resp);
}

const char *http_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_reply_json(struct req *r, unsigned status, json_t *value)
{
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(value);
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        http_reply_bytes(r, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    queue(r, status, resp);
}

/* Replace each byte of s that is not part of a valid UTF-8 sequence with '?':
 * messages quote what the client sent, and JSON strings must be UTF-8. */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (p[0] < 0x80) {
            p++;
            continue;
        } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
            n = 1;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
            n = 2;
            lo = p[0] == 0xe0 ? 0xa0 : 0x80;
            hi = p[0] == 0xed ? 0x9f : 0xbf;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
            n = 3;
            lo = p[0] == 0xf0 ? 0x90 : 0x80;
            hi = p[0] == 0xf4 ? 0x8f : 0xbf;
        }
        bool ok = n > 0 && p[1] >= lo && p[1] <= hi;
        for (size_t i = 2; ok && i <= n; i++)
            ok = p[i] >= 0x80 && p[i] <= 0xbf;
        if (ok) {
            p += n + 1;
        } else {
            *p = '?';
            p++;
        }
    }
}

void http_reply_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_scrub(msg);
    if (status >= 500)
        log_warn("%s %s: %u %s", r->method, r->url, status, msg);
    else
        log_debug("%s %s: %u %s", r->method, r->url, status, msg);
    http_reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

json_t *http_body_json(struct req *r, bool allow_empty)
{
    if (r->json)
        return r->json;
    if (r->body.len == 0 && allow_empty) {
        r->json = json_object();
        return r->json;
    }
    if (r->body.len == 0) {
        http_reply_error(r, 400, "bad_json", "request body is empty: a JSON object is required");
        return NULL;
    }
    char err[256];
    if (reqlimits_check_json(r->body.data, r->body.len, err, sizeof err) < 0) {
        http_reply_error(r, 400, "bad_json", "request body refused: %s", err);
        return NULL;
    }
    json_t *v = json_parse_text(r->body.data, r->body.len, err, sizeof err);
    if (!v) {
        http_reply_error(r, 400, "bad_json", "invalid JSON body: %s", err);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_error(r, 400, "bad_json", "request body must be a JSON object");
        return NULL;
    }
    r->json = v;
    return v;
}

const char *http_query(struct req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

long long http_query_int(struct req *r, const char *key, long long def, long long max)
{
    const char *v = http_query(r, key);
    if (!v || !*v)
        return def;
    size_t len = strspn(v, "0123456789");
    if (v[len]) {
        http_reply_error(r, 400, "bad_query", "%s: must be a non-negative integer (got \"%.40s\")",
                         key, v);
        return -1;
    }
    long long n = len > 18 ? max : strtoll(v, NULL, 10);
    return n > max ? max : n;
}

/* Match url against pattern; fill args with decoded {} segments. */
static bool match(const char *pattern, const char *url, char **args)
{
    int n = 0;
    const char *p = pattern, *u = url;
    while (*p && *u) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(u, '/');
            size_t len = end ? (size_t)(end - u) : strlen(u);
            if (len == 0 || n >= HTTP_MAX_ARGS)
                goto fail;
            args[n] = strndup(u, len);
            n++;
            u += len;
            p += 2;
            continue;
        }
        if (*p != *u)
            goto fail;
        p++;
        u++;
    }
    if (*p == '\0' && *u == '\0')
        return true;
fail:
    for (int i = 0; i < n; i++) {
        free(args[i]);
        args[i] = NULL;
    }
    return false;
}

/* The entry of key, made when absent and make is set; NULL when absent or
 * out of memory (wait_lock held). */
static struct wkey *wkey_find(long long key, bool make)
{
    size_t b = (size_t)((unsigned long long)key * 0x9E3779B97F4A7C15ull >> 56) % WKEY_BUCKETS;
    for (struct wkey *k = wkeys[b]; k; k = k->next)
        if (k->key == key)
            return k;
    if (!make)
        return NULL;
    struct wkey *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->key = key;
    k->next = wkeys[b];
    wkeys[b] = k;
    return k;
}

/* Take r out of its key's list (wait_lock held, r->waiting). */
static void wait_unlink(struct wkey *k, struct req *r)
{
    if (r->wait_prev)
        r->wait_prev->wait_next = r->wait_next;
    else
        k->head = r->wait_next;
    if (r->wait_next)
        r->wait_next->wait_prev = r->wait_prev;
    else
        k->tail = r->wait_prev;
    r->wait_prev = r->wait_next = NULL;
    r->waiting = false;
    n_parked--;
}

/* Resume a parked r that was unlinked (wait_lock held). */
static void wait_resume(struct req *r, bool by_event)
{
    r->woken = by_event;
    MHD_resume_connection(r->conn);
}

void http_wait_on(struct req *r, long long key)
{
    lock_take(&wait_lock);
    struct wkey *k = wkey_find(key, false);
    r->wait_key = key;
    r->wait_seq = k ? k->seq : 0;
    lock_drop(&wait_lock);
}

void http_wake(long long key, int n)
{
    int woken = 0;
    lock_take(&wait_lock);
    struct wkey *k = wkey_find(key, true);
    if (k) {
        k->seq = ++wait_seq_next;
        while (k->head && (n < 0 || woken < n)) {
            struct req *r = k->head;
            wait_unlink(k, r);
            wait_resume(r, true);
            woken++;
        }
    } else {
        /* out of memory for the key: wake everything rather than lose it */
        lock_drop(&wait_lock);
        log_warn("out of memory: every long-poll resumed");
        http_resume_all();
        return;
    }
    lock_drop(&wait_lock);
    metrics_count("longpoll_events", 1);
    if (woken)
        metrics_count("longpoll_resumed", woken);
}

/* Park r as a long-poll (its connection suspended, or already suspended when
 * the handler ran on an offload thread) on r->wait_key until a wake of the
 * key, its deadline, or the daemon stopping. When the key moved since its
 * handler looked (http_wait_on), it is resumed at once. */
static void park(struct req *r)
{
    bool was_pool = r->state == REQ_OFFLOADED;
    bool moved = false;
    lock_take(&wait_lock);
    struct wkey *k = wkey_find(r->wait_key, true);
    if (k) {
        /* from here the MHD thread may resume it and run the handler again */
        req_enter(r, REQ_PARKED);
        r->woken = false;
        r->wait_next = NULL;
        r->wait_prev = k->tail;
        if (k->tail)
            k->tail->wait_next = r;
        else
            k->head = r;
        k->tail = r;
        r->waiting = true;
        n_parked++;
        if (!was_pool)
            MHD_suspend_connection(r->conn);
        if (k->seq != r->wait_seq) {
            /* an event came while the handler looked: look again */
            wait_unlink(k, r);
            wait_resume(r, true);
            moved = true;
        }
    }
    lock_drop(&wait_lock);
    if (moved)
        metrics_count("longpoll_resumed", 1);
    if (!k) {
        http_reply_error(r, 503, "unavailable", "out of memory");
        if (was_pool)
            MHD_resume_connection(r->conn);
    }
}

/* Hand r to the offload threads; -1 when they are gone (stopping). */
static int pool_enqueue(struct req *r)
{
    struct pool_item *it = malloc(sizeof *it);
    if (!it)
        return -1;
    it->r = r;
    it->next = NULL;
    lock_take(&pool_lock);
    if (pool_stopping || pool_n == 0) {
        lock_drop(&pool_lock);
        free(it);
        return -1;
    }
    req_enter(r, REQ_OFFLOADED);
    MHD_suspend_connection(r->conn);
    *pool_tail = it;
    pool_tail = &it->next;
    pthread_cond_signal(&pool_cond);
    lock_drop(&pool_lock);
    metrics_count("offloaded_requests", 1);
    return 0;
}

/* Run r's handler on the MHD thread and act on its result. */
static void run_handler(struct req *r)
{
    for (;;) {
        enum http_result res = r->route->handler(r);
        if (r->state == REQ_REPLIED)
            return;
        if (res == HTTP_OFFLOAD && r->state == REQ_RUNNING) {
            if (pool_enqueue(r) == 0)
                return;
            req_enter(r, REQ_INLINE); /* run it here after all */
            continue;
        }
        if (res == HTTP_SUSPEND)
            park(r);
        else
            http_reply_error(r, 500, "internal", "handler gave no reply");
        return;
    }
}

static void *pool_main(void *arg)
{
    (void)arg;
    lock_take(&pool_lock);
    for (;;) {
        while (!pool_head && !pool_stopping)
            lock_wait(&pool_cond, &pool_lock);
        if (!pool_head)
            break; /* stopping, and nothing left */
        struct pool_item *it = pool_head;
        pool_head = it->next;
        if (!pool_head)
            pool_tail = &pool_head;
        lock_drop(&pool_lock);
        struct req *r = it->r;
        free(it);
        enum http_result res = r->route->handler(r);
        if (res == HTTP_SUSPEND && r->state == REQ_OFFLOADED) {
            park(r); /* stays suspended; an event resumes it on the MHD thread */
        } else {
            if (r->state != REQ_REPLIED)
                http_reply_error(r, 500, "internal", "handler gave no reply");
            MHD_resume_connection(r->conn);
        }
        lock_take(&pool_lock);
    }
    lock_drop(&pool_lock);
    if (opts->thread_exit)
        opts->thread_exit();
    return NULL;
}

static void pool_start(unsigned n)
{
    pool_stopping = false;
    pool_threads = calloc(n, sizeof *pool_threads);
    for (pool_n = 0; pool_threads && pool_n < n; pool_n++)
        if (pthread_create(&pool_threads[pool_n], NULL, pool_main, NULL) != 0)
            break;
    if (n > 0 && pool_n == 0)
        log_warn("no offload thread: slow requests run on the HTTP threads");
}

/* Finish what was handed over, then end the threads. */
static void pool_stop(void)
{
    lock_take(&pool_lock);
    pool_stopping = true;
    pthread_cond_broadcast(&pool_cond);
    lock_drop(&pool_lock);
    for (unsigned i = 0; i < pool_n; i++)
        pthread_join(pool_threads[i], NULL);
    free(pool_threads);
    pool_threads = NULL;
    pool_n = 0;
}

bool http_can_offload(const struct req *r)
{
    return r->state == REQ_RUNNING && pool_n > 0;
}

/* "addr:" and the caller's numeric address into key. */
static void client_address(struct req *r, char *key, size_t keylen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char text[INET6_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
    }
    snprintf(key, keylen, "addr:%s", text);
}

/* Take one request from the bucket of r's caller (authorization: the
 * Authorization header, borrowed, may be NULL); true after a 429 reply with
 * Retry-After when the caller is over the rate. */
static bool rate_limited(struct req *r, const char *authorization)
{
    unsigned per_s = ratelimit_rate();
    if (per_s == 0)
        return false;
    char key[256];
    /* The token was checked before: a token here is a valid one. In open mode
     * any text passes, so the address is the caller there. */
    if (authorization && r->role != ROLE_NONE && auth_token_count() > 0 &&
        strncasecmp(authorization, "Bearer ", 7) == 0)
        snprintf(key, sizeof key, "token:%.200s", authorization + 7);
    else
        client_address(r, key, sizeof key);
    int retry = 1;
    if (ratelimit_take(key, time_mono_ms(), &retry) == 0)
        return false;
    http_set_retry_after(r, retry);
    http_reply_error(r, 429, "rate_limited",
                     "more than %u requests per second from this %s: retry after %d s", per_s,
                     strncmp(key, "token:", 6) == 0 ? "token" : "address", retry);
    return true;
}

/* Headers that frame the body: a Content-Length given twice with different
 * values, a Transfer-Encoding other than chunked, or both headers at once
 * leave what the body is open to reading, and are refused. */
struct framing {
    int n_length;         /* Content-Length headers */
    const char *length;   /* the first one's value */
    bool conflict;        /* two of them differ */
    const char *encoding; /* Transfer-Encoding, or NULL */
};

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (!value)
        value = "";
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->n_length++ == 0)
            f->length = value;
        else if (strcmp(f->length, value) != 0)
            f->conflict = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        if (f->encoding && strcasecmp(f->encoding, value) != 0)
            f->conflict = true;
        f->encoding = value;
    }
    return MHD_YES;
}

/* Decide r from its headers alone, on the first call, before any byte of its
 * body is read: framing, route, token, rate, declared size. A refusal is
 * queued now, so that libmicrohttpd sends no "100 Continue" and reads no
 * body (it closes the connection after the reply when one was announced). */
static void admit(struct req *r)
{
    struct framing f = {0, NULL, false, NULL};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_header, &f);
    if (f.conflict || (f.encoding && (f.n_length > 0 || strcasecmp(f.encoding, "chunked") != 0))) {
        http_reply_error(r, 400, "bad_request",
                         f.conflict   ? "conflicting Content-Length or Transfer-Encoding headers"
                         : f.n_length ? "Content-Length and Transfer-Encoding cannot both be sent"
                                      : "Transfer-Encoding: only chunked is understood");
        return;
    }
    const struct route *routes = opts->routes;
    bool path_known = false;
    for (size_t i = 0; routes[i].method; i++) {
        char *args[HTTP_MAX_ARGS] = {0};
        if (!match(routes[i].pattern, r->url, args))
            continue;
        if (strcmp(routes[i].method, r->method) != 0) {
            path_known = true;
            for (int k = 0; k < HTTP_MAX_ARGS; k++)
                free(args[k]);
            continue;
        }
        memcpy(r->args, args, sizeof args);
        r->route = &routes[i];
        break;
    }
    if (!r->route) {
        if (path_known) {
            http_reply_error(r, 405, "method_not_allowed", "method %s not allowed on \"%s\"",
                             r->method, r->url);
            return;
        }
        if (opts->fallback && (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) &&
            strncmp(r->url, "/api/", 5) != 0) {
            r->fallback = true;
        } else {
            http_reply_error(r, 404, "not_found", "no such endpoint \"%s\"", r->url);
            return;
        }
    } else {
        const char *authz =
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        char why[160];
        if (auth_check_id(authz, r->route->role, &r->role, &r->token_id, why, sizeof why) < 0) {
            bool no_token = r->role == ROLE_NONE;
            http_reply_error(r, no_token ? 401 : 403, no_token ? "unauthorized" : "forbidden", "%s",
                             why);
            return;
        }
        if (rate_limited(r, authz))
            return;
    }
    if (f.length) {
        /* libmicrohttpd answered a length that is not a number itself */
        unsigned long long len = strtoull(f.length, NULL, 10);
        if (len > opts->max_body) {
            http_reply_error(r, 413, "body_too_large", "request body larger than %zu bytes",
                             opts->max_body);
            return;
        }
    }
}

/* The body is complete: run the handler, or the fallback. */
static void dispatch(struct req *r)
{
    if (r->fallback) {
        opts->fallback(r);
        if (r->state != REQ_REPLIED)
            http_reply_error(r, 500, "internal", "no reply for \"%s\"", r->url);
        return;
    }
    req_enter(r, REQ_RUNNING);
    run_handler(r);
}

/* Resume the long-polls past their deadline. */
static void resume_expired(int64_t now)
{
    int n = 0;
    lock_take(&wait_lock);
    for (size_t b = 0; n_parked > 0 && b < WKEY_BUCKETS; b++)
        for (struct wkey *k = wkeys[b]; k; k = k->next)
            for (struct req *r = k->head, *next; r; r = next) {
                next = r->wait_next;
                if (r->deadline_ms && now >= r->deadline_ms) {
                    wait_unlink(k, r);
                    wait_resume(r, false);
                    n++;
                }
            }
    lock_drop(&wait_lock);
    if (n)
        metrics_count("longpoll_expired", n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        /* the headers are in: decide from them before any body */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->started_mono_us = time_mono_us();
        r->state = REQ_RECEIVING;
        r->retry_after_s = -1;
        conns_headers_in(conn);
        buf_init(&r->body);
        *con_cls = r;
        atomic_fetch_add(&in_flight, 1);
        admit(r);
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->state == REQ_RECEIVING && r->body.len + *upload_size > opts->max_body) {
            /* a chunked body past the limit (a declared length was refused
             * before): no reply can be queued in the middle of a body */
            log_debug("%s %s: chunked body past %zu bytes: connection closed", r->method, r->url,
                      opts->max_body);
            return MHD_NO;
        }
        if (r->state == REQ_RECEIVING)
            buf_append(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->deferred) {
        /* back from an offload thread with its reply */
        if (MHD_queue_response(conn, r->deferred_status, r->deferred) != MHD_YES)
            log_warn("could not queue a %u response for %s %s", r->deferred_status, r->method,
                     r->url);
        MHD_destroy_response(r->deferred);
        r->deferred = NULL;
        return MHD_YES;
    }
    switch (r->state) {
    case REQ_RECEIVING:
        conns_answering(conn);
        dispatch(r);
        break;
    case REQ_PARKED:
        /* resumed long-poll: run the handler again */
        req_enter(r, REQ_RUNNING);
        run_handler(r);
        break;
    case REQ_RUNNING:
    case REQ_INLINE:
    case REQ_OFFLOADED:
    case REQ_REPLIED:
        break; /* nothing new for this request */
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    conns_answered(conn);
    struct req *r = *con_cls;
    if (!r)
        return;
    lock_take(&wait_lock);
    if (r->waiting) {
        struct wkey *k = wkey_find(r->wait_key, false);
        if (k)
            wait_unlink(k, r);
    }
    bool pass = r->woken; /* woken, then gone before it could answer */
    lock_drop(&wait_lock);
    if (pass)
        http_wake(r->wait_key, 1);
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

size_t http_waiting(void)
{
    lock_take(&wait_lock);
    size_t n = n_parked;
    lock_drop(&wait_lock);
    return n;
}

size_t http_connections(void)
{
    return conns_open();
}

void http_resume_all(void)
{
    lock_take(&wait_lock);
    for (size_t b = 0; b < WKEY_BUCKETS; b++)
        for (struct wkey *k = wkeys[b]; k; k = k->next) {
            k->seq = ++wait_seq_next;
            while (k->head) {
                struct req *r = k->head;
                wait_unlink(k, r);
                wait_resume(r, false);
            }
        }
    lock_drop(&wait_lock);
}

/* libmicrohttpd's messages. Before it serves they are about its set-up (a
 * port in use, an option it ignores): warnings. After, most are about one
 * connection (a client that hung up, a bad TLS record), which the slow
 * clients cut by the sweeper produce by the thousand: debug lines, but for
 * the ones about the daemon itself (accept, threads, memory, limits), at most
 * one warning every 10 s. */
static atomic_bool mhd_serving;
static _Atomic int64_t mhd_warned_ms;

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    bool serious = !atomic_load(&mhd_serving);
    if (!serious && (strstr(msg, "accept") || strstr(msg, "thread") || strstr(msg, "memory") ||
                     strstr(msg, "limit"))) {
        int64_t now = time_mono_ms(), last = atomic_load(&mhd_warned_ms);
        serious = now - last >= 10000 && atomic_compare_exchange_strong(&mhd_warned_ms, &last, now);
    }
    if (serious)
        log_warn("libmicrohttpd: %s", msg);
    else
        log_debug("libmicrohttpd: %s", msg);
}

struct MHD_Daemon *http_start(const struct http_options *o, char *err, size_t errlen)
{
    opts = o;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* poll(), not epoll: with libmicrohttpd 0.9.75's epoll loop, a thread that
     * had 128 or more connections ready at once could go back to sleep with
     * requests unanswered (tests/faults/connections.py); poll is level
     * triggered and costs little at the hundreds of connections a daemon has. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, o->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, o->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen address \"%s\" is not a numeric IPv4 or IPv6 address",
                 o->host);
        return NULL;
    }
    bool tls = o->tls_cert && o->tls_key;
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen,
                     "this libmicrohttpd was built without TLS: --tls-cert and "
                     "--tls-key cannot be used");
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    unsigned idle_s = o->idle_timeout_s ? o->idle_timeout_s : 120;
    conns_configure(o->header_timeout_s ? o->header_timeout_s : 10,
                    o->body_timeout_s ? o->body_timeout_s : 60, idle_s,
                    o->max_per_address < 0 ? 0
                    : o->max_per_address   ? (unsigned)o->max_per_address
                                           : 512);
    unsigned max_conn = conns_fit(o->max_connections ? o->max_connections : 4096);
    /* a thread pool shares the limit out among its threads: each needs some */
    if (o->threads > 1 && max_conn < 4 * o->threads)
        max_conn = 4 * o->threads;
    struct MHD_OptionItem items[16];
    size_t n = 0;
    /* first, so that it has every message */
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    /* one thread is the polling thread alone (MHD warns about a pool of one) */
    if (o->threads > 1)
        items[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->threads, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    items[n++] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)conns_notify, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)conns_uri, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle_s, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    if (tls) {
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert};
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key};
    }
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, conns_accept, NULL, on_request, NULL,
                                            MHD_OPTION_ARRAY, items, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errlen, "cannot listen on %s:%u (address in use or not permitted)", o->host,
                 o->port);
        return NULL;
    }
    if (conns_sweeper_start(resume_expired) < 0) {
        MHD_stop_daemon(d);
        snprintf(err, errlen, "cannot start the connection sweeper thread");
        return NULL;
    }
    pool_start(o->offload_threads);
    atomic_store(&mhd_serving, true);
    return d;
}

unsigned http_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

bool http_draining(void)
{
    return atomic_load(&draining);
}

void http_stop(struct MHD_Daemon *d)
{
    atomic_store(&draining, true);
    pool_stop();
    http_resume_all();
    /* let the requests under way, the woken long-polls among them, answer */
    for (int i = 0; i < 300 && atomic_load(&in_flight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    conns_sweeper_stop();
    MHD_stop_daemon(d);
}
