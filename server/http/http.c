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
#include "jsonutil.h"
#include "locks.h"
#include "reqlimits.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "timeutil.h"

static const struct http_options *opts;

/* Suspended long-polls. */
struct waiter {
    struct req *r;       /* borrowed: lives until the connection completes */
    struct waiter *next; /* list link */
};
static struct lock wait_lock = LOCK_INITIALIZER(LOCK_HTTP_WAIT);
static struct waiter *waiters;

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
        ok = to == REQ_DISCARDING || to == REQ_RUNNING || to == REQ_REPLIED;
        break;
    case REQ_DISCARDING:
        ok = to == REQ_REPLIED;
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
}

void http_set_retry_after(struct req *r, int seconds)
{
    r->retry_after_s = seconds;
}

void http_reply_bytes(struct req *r, unsigned status, const char *content_type, const void *data,
                      size_t len, const char *const *extra_headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return;
    MHD_add_response_header(resp, "Content-Type", content_type);
    for (size_t i = 0; extra_headers && extra_headers[i] && extra_headers[i + 1]; i += 2)
        MHD_add_response_header(resp, extra_headers[i], extra_headers[i + 1]);
    queue(r, status, resp);
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
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0) {
        http_reply_error(r, 400, "bad_query", "%s: must be a non-negative integer (got \"%.40s\")",
                         key, v);
        return -1;
    }
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

/* Park r as a long-poll (its connection suspended, or already suspended when
 * the handler ran on an offload thread) until an event or its deadline. */
static void park(struct req *r)
{
    bool was_pool = r->state == REQ_OFFLOADED;
    lock_take(&wait_lock);
    struct waiter *w = malloc(sizeof *w);
    if (w) {
        /* from here the MHD thread may resume it and run the handler again */
        req_enter(r, REQ_PARKED);
        w->r = r;
        w->next = waiters;
        waiters = w;
        if (!was_pool)
            MHD_suspend_connection(r->conn);
    }
    lock_drop(&wait_lock);
    if (!w) {
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

static void dispatch(struct req *r)
{
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
            opts->fallback(r);
            return;
        }
        http_reply_error(r, 404, "not_found", "no such endpoint \"%s\"", r->url);
        return;
    }
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
    if (r->state == REQ_DISCARDING) {
        http_reply_error(r, 413, "body_too_large", "request body larger than %zu bytes",
                         opts->max_body);
        return;
    }
    req_enter(r, REQ_RUNNING);
    run_handler(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->started_mono_us = time_mono_us();
        r->state = REQ_RECEIVING;
        r->retry_after_s = -1;
        buf_init(&r->body);
        *con_cls = r;
        atomic_fetch_add(&in_flight, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->state == REQ_RECEIVING && r->body.len + *upload_size <= opts->max_body)
            buf_append(&r->body, upload_data, *upload_size);
        else if (r->state == REQ_RECEIVING)
            req_enter(r, REQ_DISCARDING);
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
    case REQ_DISCARDING:
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
    (void)conn;
    (void)toe;
    struct req *r = *con_cls;
    if (!r)
        return;
    lock_take(&wait_lock);
    for (struct waiter **pw = &waiters; *pw; pw = &(*pw)->next) {
        if ((*pw)->r == r) {
            struct waiter *w = *pw;
            *pw = w->next;
            free(w);
            break;
        }
    }
    lock_drop(&wait_lock);
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

static void resume_where(bool all, uint64_t seq)
{
    int64_t now = time_mono_ms();
    lock_take(&wait_lock);
    struct waiter **pw = &waiters;
    while (*pw) {
        struct waiter *w = *pw;
        if (all || w->r->wait_seq < seq || (w->r->deadline_ms && now >= w->r->deadline_ms)) {
            *pw = w->next;
            MHD_resume_connection(w->r->conn);
            free(w);
        } else {
            pw = &w->next;
        }
    }
    lock_drop(&wait_lock);
}

void http_resume_all(void)
{
    resume_where(true, 0);
}

void http_resume_due(uint64_t seq)
{
    resume_where(false, seq);
}

struct MHD_Daemon *http_start(const struct http_options *o, char *err, size_t errlen)
{
    opts = o;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen;
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
        sslen = sizeof *in4;
    } else if (inet_pton(AF_INET6, o->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)o->port);
        sslen = sizeof *in6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen address \"%s\" is not a numeric IPv4 or IPv6 address",
                 o->host);
        return NULL;
    }
    (void)sslen;
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
    struct MHD_OptionItem items[10];
    size_t n = 0;
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    /* one thread is the polling thread alone (MHD warns about a pool of one) */
    if (o->threads > 1)
        items[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->threads, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, 4096, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    if (tls) {
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert};
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key};
    }
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_ARRAY, items, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errlen, "cannot listen on %s:%u (address in use or not permitted)", o->host,
                 o->port);
        return NULL;
    }
    pool_start(o->offload_threads);
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
    MHD_stop_daemon(d);
}
