#ifndef HTTP_H
#define HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "auth.h"

/* The HTTP front: libmicrohttpd with an internal thread pool, a static routing
 * table (api.c), request bodies gathered up to a limit, JSON replies, and
 * suspension of long-polls. */

#define HTTP_MAX_ARGS 2

/* Where a request is in its life; http.c moves it, in one function:
 *
 *   RECEIVING --refused from its headers alone--> REPLIED (400, 401, 403, 404,
 *             405, 413, 429: queued on the first call, before any body is read,
 *             so that no "100 Continue" goes out and the body is never taken)
 *   RECEIVING --body complete--> RUNNING, or REPLIED at once (a file)
 *   RUNNING --HTTP_OFFLOAD--> OFFLOADED, or INLINE when the offload threads refuse
 *   RUNNING, INLINE, OFFLOADED --HTTP_SUSPEND--> PARKED --event or deadline--> RUNNING
 *   RUNNING, INLINE, OFFLOADED --a reply--> REPLIED
 *
 * A chunked body that outgrows the limit closes the connection (no reply can
 * be queued in the middle of a body). */
enum req_state {
    REQ_RECEIVING = 0, /* admitted from its headers; the body is arriving */
    REQ_RUNNING,       /* the handler runs on the HTTP thread */
    REQ_INLINE,        /* as RUNNING, but the offload threads are gone: it stays here */
    REQ_OFFLOADED,     /* suspended, queued for or running on an offload thread */
    REQ_PARKED,        /* suspended long-poll, waiting for an event or its deadline */
    REQ_REPLIED,       /* a reply is queued, or kept in deferred for the HTTP thread */
};

struct req {
    struct MHD_Connection *conn;        /* borrowed */
    const char *method;                 /* borrowed */
    const char *url;                    /* borrowed, path only */
    char *args[HTTP_MAX_ARGS];          /* owned: the {} segments of the matched route, decoded */
    struct buf body;                    /* request body */
    json_t *json;                       /* owned: the parsed body, once a handler asked for it */
    enum role role;                     /* role of the caller's token */
    long long token_id;                 /* row id of the caller's token, 0 for none */
    const struct route *route;          /* matched route, or NULL */
    enum req_state state;               /* see enum req_state */
    int retry_after_s;                  /* Retry-After of the reply in seconds, -1 for none */
    int64_t deadline_ms;                /* long-poll deadline (monotonic), 0 when not polling */
    long long wait_key;                 /* what the long-poll waits on (a study id; http_wait_on) */
    uint64_t wait_seq;                  /* wait_key's event sequence when its handler looked */
    struct req *wait_prev, *wait_next;  /* links among the parked requests of wait_key */
    bool waiting;                       /* in those links (under the wait lock) */
    bool woken;                         /* resumed by an event: passes it on unless it parks */
    bool fallback;                      /* no route: the fallback (a file) answers */
    int64_t started_mono_us;            /* when the request started (monotonic) */
    struct MHD_Response *deferred;      /* owned: a reply made off the MHD thread, to queue */
    unsigned deferred_status;           /* its status */
    void *handler_state;                /* a handler's private state across resumptions */
    void (*handler_state_free)(void *); /* frees handler_state */
};

/* A handler's result. HTTP_OFFLOAD (from the MHD thread only, before any
 * reply) runs the handler again on an offload thread, so that a slow request
 * (a model-based suggest, an export) does not hold up the fast ones sharing
 * the HTTP thread; the handler sees r->state REQ_OFFLOADED there. */
enum http_result { HTTP_DONE = 0, HTTP_SUSPEND = 1, HTTP_OFFLOAD = 2 };

typedef enum http_result (*http_handler)(struct req *r);

struct route {
    const char *method;   /* "GET", "POST", ... */
    const char *pattern;  /* "/api/v1/studies/{}/trials": {} matches one segment */
    enum role role;       /* least role allowed */
    http_handler handler; /* called once the body is complete */
    const char *name;     /* metric label */
};

/* Limits that 0 leaves at their defaults (in parentheses). The timeouts are
 * deadlines that traffic does not move: a connection is cut when its request
 * line and headers are not in header_timeout_s after it opened (10), or after
 * its request line came when it had served a request before; when a body is
 * not complete body_timeout_s after its headers (60); when a kept-alive
 * connection sends no complete request line idle_timeout_s after its last
 * reply (120, also libmicrohttpd's inactivity timeout). */
struct http_options {
    const char *host;           /* bind address, borrowed */
    unsigned port;              /* 0 picks a free port */
    unsigned threads;           /* HTTP threads (MHD's pool; 1 = one polling thread) */
    unsigned offload_threads;   /* threads for HTTP_OFFLOAD handlers */
    size_t max_body;            /* bytes */
    unsigned max_connections;   /* open connections at once (4096; fewer when the
                                   descriptor limit is lower) */
    int max_per_address;        /* open connections from one address, an IPv6 /64
                                   counting as one (512); -1 for no limit */
    unsigned header_timeout_s;  /* see above */
    unsigned body_timeout_s;    /* see above */
    unsigned idle_timeout_s;    /* see above */
    const struct route *routes; /* the routing table, terminated by a NULL method */
    http_handler fallback;      /* for GET paths no route matches (static files), or NULL */
    const char *tls_cert; /* PEM text of the certificate (chain), borrowed; NULL = plain HTTP */
    const char *tls_key;  /* PEM text of its private key, borrowed; set with tls_cert */
    void (*thread_exit)(void); /* called by each offload thread as it ends, or NULL */
};

/* Start serving; returns the daemon, or NULL with a message in err. */
struct MHD_Daemon *http_start(const struct http_options *o, char *err, size_t errlen);
/* May r's handler return HTTP_OFFLOAD (not already offloaded, threads there)? */
bool http_can_offload(const struct req *r);
/* True once http_stop() began: long-polls answer now rather than wait. */
bool http_draining(void);
/* The port actually bound. */
unsigned http_port(struct MHD_Daemon *d);
/* Stop: wake the long-polls, let the requests under way answer (up to 3 s),
 * and release the daemon. */
void http_stop(struct MHD_Daemon *d);

/* Reply with JSON (value is taken: decref'd even on error). */
void http_reply_json(struct req *r, unsigned status, json_t *value);
/* Reply with {"error": {"code": code, "message": message}}. */
void http_reply_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reply with a byte body (copied) of the given content type. */
void http_reply_bytes(struct req *r, unsigned status, const char *content_type, const void *data,
                      size_t len, const char *const *extra_headers);
/* Reply with a body that is not copied: data stays valid until release(data),
 * which the HTTP library calls once the reply is sent or dropped (also when no
 * reply could be made). A Cache-Control among extra_headers replaces the
 * default no-store. */
void http_reply_shared(struct req *r, unsigned status, const char *content_type, const void *data,
                       size_t len, const char *const *extra_headers, void (*release)(void *));
/* A request header (borrowed) or NULL. */
const char *http_header(struct req *r, const char *name);
/* Add Retry-After (seconds) to the reply r is about to get; kept in r, so
 * that it holds whichever thread replies. */
void http_set_retry_after(struct req *r, int seconds);
/* True once r has its reply (a handler may stop there). */
bool http_replied(const struct req *r);
/* The body parsed as JSON (borrowed, kept in r). On failure replies 400 with
 * jansson's message and position and returns NULL. An empty body is {} when
 * allow_empty is set. The body must be an object. */
json_t *http_body_json(struct req *r, bool allow_empty);
/* A query-string argument (borrowed) or NULL. */
const char *http_query(struct req *r, const char *key);
/* A query argument as a non-negative integer, def when absent; -1 and a 400 reply
 * when present but malformed. */
long long http_query_int(struct req *r, const char *key, long long def, long long max);
/* Long-polls. A handler about to look for what it would wait on calls
 * http_wait_on() with a key (a study id) first; returning HTTP_SUSPEND then
 * parks it on that key until http_wake() of the key, its deadline_ms, or the
 * daemon stopping. A wake between the look and the park is not lost: the park
 * sees the key's sequence moved and resumes at once. A request resumed by a
 * wake passes it on to the next one parked on the key when it answers (it
 * took something, or the study changed under it) and keeps it when it parks
 * again (nothing was left), so that an event resumes as many requests as it
 * can serve, plus one, and none of another key. */
#define HTTP_WAKE_ALL (-1)
void http_wait_on(struct req *r, long long key);
/* Resume up to n (HTTP_WAKE_ALL: every) requests parked on key, oldest first,
 * and mark the key changed. Any thread. */
void http_wake(long long key, int n);
/* Requests parked now, and connections open now (for /metrics). */
size_t http_waiting(void);
size_t http_connections(void);
/* Resume every suspended connection (they run their handler again). */
void http_resume_all(void);

#endif
