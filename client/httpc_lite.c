#include <config.h>
#include "httpc.h"

/* The httpc.h API for hpo without linking libcurl: http:// over plain sockets
 * (HTTP/1.1, keep-alive, chunked bodies), and https:// through libcurl.so.4
 * loaded with dlopen() at the first https request. An idle worker thus maps no
 * TLS, SSH, LDAP or HTTP/2 library. curl/curl.h is included for the types and
 * option numbers of that second path only; nothing here links against it.
 * transport_error carries the CURLcode number of the failure either way. */

#include <curl/curl.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    LITE_CONNECT_MS = 10000,   /* connect timeout cap, as common/httpc.c */
    LITE_MAX_LINE = 64 * 1024, /* longest status, header or chunk-size line */
    LITE_MAX_HEADERS = 200,    /* header lines in one response */
};

struct httpc {
    char *base;      /* base URL without trailing slash */
    char *auth;      /* "Authorization: Bearer ..." or NULL */
    size_t max_body; /* cap on kept response bytes */
    int fd;          /* kept-alive connection, or -1 */
    char *peer;      /* "host port" that fd is connected to, or NULL */
    struct buf in;   /* bytes received on fd and not yet consumed */
    size_t pos;      /* first unconsumed byte of in */
    CURL *tls;       /* libcurl easy handle for https://, made at first use */
};

/* What went wrong in one exchange. */
struct xfer_err {
    int code;       /* CURLcode number */
    bool timed_out; /* code is CURLE_OPERATION_TIMEDOUT */
    bool peer_gone; /* the peer closed or reset before any response byte */
    char msg[200];  /* lower-case reason */
};

/* A parsed http:// URL. */
struct url {
    char host[256];      /* host name or address, without [] */
    char port[8];        /* decimal port */
    char authority[300]; /* host[:port] as written, for the Host header */
    const char *target;  /* borrowed: path and query from the URL, may be "" */
};

/* ---- small helpers ---- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_ms(void)
{
    return (int64_t)(mono_s() * 1000.0);
}

/* Milliseconds left before deadline for poll(): -1 (forever) when deadline is 0. */
static int ms_left(int64_t deadline)
{
    if (deadline == 0)
        return -1;
    int64_t left = deadline - mono_ms();
    if (left < 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static void set_err(struct xfer_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(struct xfer_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->timed_out = code == CURLE_OPERATION_TIMEDOUT;
}

/* strerror(errnum) with a lower-case first letter, as our messages are. */
static void set_errno_err(struct xfer_err *e, int code, const char *what, int errnum)
{
    char text[128];
    snprintf(text, sizeof text, "%s", strerror(errnum));
    if (text[0] && !(text[1] && isupper((unsigned char)text[1])))
        text[0] = (char)tolower((unsigned char)text[0]);
    if (what)
        set_err(e, code, "%s: %s", what, text);
    else
        set_err(e, code, "%s", text);
}

static void set_timeout_err(struct xfer_err *e, double start)
{
    set_err(e, CURLE_OPERATION_TIMEDOUT, "timed out after %lld ms",
            (long long)((mono_s() - start) * 1000.0 + 0.5));
}

/* Wipe and free a string that held the token. */
static void wipe_buf(struct buf *b)
{
    if (b->data) {
        volatile char *p = b->data;
        for (size_t i = 0; i < b->len; i++)
            p[i] = 0;
    }
    buf_release(b);
}

/* ---- URLs ---- */

static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Split an http:// URL (or one with no scheme, read as http) into u. */
static int url_parse(const char *s, struct url *u, struct xfer_err *e)
{
    if (has_prefix_ci(s, "http://")) {
        s += 7;
    } else if (strstr(s, "://")) {
        set_err(e, CURLE_UNSUPPORTED_PROTOCOL, "unsupported URL scheme");
        return -1;
    }
    size_t alen = strcspn(s, "/?#");
    if (alen == 0 || alen >= sizeof u->authority) {
        set_err(e, CURLE_URL_MALFORMAT, "no host or an over-long host in the URL");
        return -1;
    }
    if (memchr(s, '@', alen)) {
        set_err(e, CURLE_URL_MALFORMAT, "user names in URLs are not supported");
        return -1;
    }
    memcpy(u->authority, s, alen);
    u->authority[alen] = '\0';
    u->target = s + alen;

    const char *host = u->authority, *port = NULL;
    size_t hlen;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':')) {
            set_err(e, CURLE_URL_MALFORMAT, "bad IPv6 address in the URL");
            return -1;
        }
        host++;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(host, ':');
        hlen = colon ? (size_t)(colon - host) : strlen(host);
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof u->host) {
        set_err(e, CURLE_URL_MALFORMAT, "no host in the URL");
        return -1;
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    if (!port || !*port) {
        strcpy(u->port, "80");
        return 0;
    }
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (*end || errno || p < 1 || p > 65535 || !isdigit((unsigned char)port[0])) {
        set_err(e, CURLE_URL_MALFORMAT, "bad port \"%s\" in the URL", port);
        return -1;
    }
    snprintf(u->port, sizeof u->port, "%ld", p);
    return 0;
}

/* ---- the connection ---- */

static void conn_close(struct httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->peer);
    c->peer = NULL;
    buf_reset(&c->in);
    c->pos = 0;
}

/* Connect to u's host and port, trying each address in turn, within deadline. */
static int conn_open(struct httpc *c, const struct url *u, int64_t deadline, double start,
                     struct xfer_err *e)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0) {
        if (g == EAI_SYSTEM)
            set_errno_err(e, CURLE_COULDNT_RESOLVE_HOST, "cannot resolve host", errno);
        else
            set_err(e, CURLE_COULDNT_RESOLVE_HOST, "cannot resolve host \"%s\": %s", u->host,
                    gai_strerror(g));
        char *reason = strstr(e->msg, "\": ");
        if (reason && isupper((unsigned char)reason[3]) && !isupper((unsigned char)reason[4]))
            reason[3] = (char)tolower((unsigned char)reason[3]);
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    bool timed_out = false;
    for (struct addrinfo *ai = res; ai && fd < 0 && !timed_out; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n;
            do
                n = poll(&pfd, 1, ms_left(deadline));
            while (n < 0 && errno == EINTR);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (n == 0) {
                timed_out = true;
                rc = -1;
            } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
                last = errno;
                rc = -1;
            } else if (soerr != 0) {
                last = soerr;
                rc = -1;
            } else {
                rc = 0;
            }
        } else if (rc < 0) {
            last = errno;
        }
        if (rc < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out)
            set_timeout_err(e, start);
        else
            set_errno_err(e, CURLE_COULDNT_CONNECT, NULL, last);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t plen = strlen(u->host) + strlen(u->port) + 2;
    c->peer = malloc(plen);
    if (!c->peer) {
        close(fd);
        set_err(e, CURLE_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    snprintf(c->peer, plen, "%s %s", u->host, u->port);
    c->fd = fd;
    buf_reset(&c->in);
    c->pos = 0;
    return 0;
}

/* Is the kept-alive connection to peer still usable? A closed one, or one with
 * unasked-for bytes waiting, is closed here. */
static bool conn_usable(struct httpc *c, const char *peer)
{
    if (c->fd < 0)
        return false;
    if (strcmp(c->peer, peer) != 0 || c->pos != c->in.len) {
        conn_close(c);
        return false;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) != 0) {
        conn_close(c); /* end of stream, an error, or stray bytes */
        return false;
    }
    return true;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline, double start,
                    struct xfer_err *e)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            e->peer_gone = errno == EPIPE || errno == ECONNRESET;
            set_errno_err(e, CURLE_SEND_ERROR, "sending the request", errno);
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, ms_left(deadline));
        if (r == 0) {
            set_timeout_err(e, start);
            return -1;
        }
        if (r < 0 && errno != EINTR) {
            set_errno_err(e, CURLE_SEND_ERROR, "sending the request", errno);
            return -1;
        }
    }
    return 0;
}

/* Read more bytes into c->in: 1 when some came, 0 at the end of the stream, -1 on
 * an error or at the deadline (e set). got counts the bytes of this response. */
static int fill(struct httpc *c, int64_t deadline, double start, size_t *got, struct xfer_err *e)
{
    if (c->pos > 0 && c->pos == c->in.len) {
        buf_reset(&c->in);
        c->pos = 0;
    } else if (c->pos > 65536) {
        memmove(c->in.data, c->in.data + c->pos, c->in.len - c->pos);
        c->in.len -= c->pos;
        c->in.data[c->in.len] = '\0';
        c->pos = 0;
    }
    char tmp[16384];
    for (;;) {
        ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);
        if (r > 0) {
            if (buf_append(&c->in, tmp, (size_t)r) < 0) {
                set_err(e, CURLE_OUT_OF_MEMORY, "out of memory");
                return -1;
            }
            *got += (size_t)r;
            return 1;
        }
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            e->peer_gone = *got == 0 && errno == ECONNRESET;
            set_errno_err(e, CURLE_RECV_ERROR, "receiving the response", errno);
            return -1;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int n = poll(&pfd, 1, ms_left(deadline));
        if (n == 0) {
            set_timeout_err(e, start);
            return -1;
        }
        if (n < 0 && errno != EINTR) {
            set_errno_err(e, CURLE_RECV_ERROR, "receiving the response", errno);
            return -1;
        }
    }
}

/* ---- reading a response ---- */

struct reader {
    struct httpc *c;    /* the client, whose fd and in are read */
    int64_t deadline;   /* monotonic ms, 0 for none */
    double start;       /* monotonic s at the start of the exchange */
    size_t got;         /* bytes received for this response */
    struct xfer_err *e; /* where failures go */
};

/* The next line, without its line end, consumed: *line points into c->in and is
 * valid until the next read. 0, or -1 with the error set. */
static int read_line(struct reader *rd, char **line, size_t *len)
{
    struct httpc *c = rd->c;
    for (;;) {
        char *p = c->in.data ? c->in.data + c->pos : NULL;
        size_t avail = c->in.len - c->pos;
        char *nl = p ? memchr(p, '\n', avail) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - p);
            c->pos += n + 1;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            p[n] = '\0';
            *line = p;
            *len = n;
            return 0;
        }
        if (avail > LITE_MAX_LINE) {
            set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "over-long line in the response");
            return -1;
        }
        int r = fill(c, rd->deadline, rd->start, &rd->got, rd->e);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (rd->got == 0) {
                rd->e->peer_gone = true;
                set_err(rd->e, CURLE_GOT_NOTHING, "empty reply from server");
            } else {
                set_err(rd->e, CURLE_PARTIAL_FILE, "connection closed in the response header");
            }
            return -1;
        }
    }
}

/* Keep up to the cap of n bytes of body; false once the cap is passed. */
static bool body_keep(struct httpc_response *resp, const char *p, size_t n, size_t max_body,
                      struct xfer_err *e, int *fail)
{
    size_t room = max_body > resp->body.len ? max_body - resp->body.len : 0;
    size_t take = n < room ? n : room;
    if (take > 0 && buf_append(&resp->body, p, take) < 0) {
        set_err(e, CURLE_OUT_OF_MEMORY, "out of memory");
        *fail = -1;
        return false;
    }
    if (take < n) {
        resp->truncated = true;
        return false;
    }
    return true;
}

/* Move n body bytes (or, with until_eof, all up to the end of the stream) from the
 * connection into resp. 0 (also when the cap cut the body short), -1 on error. */
static int read_body(struct reader *rd, uint64_t n, bool until_eof, struct httpc_response *resp,
                     size_t max_body)
{
    struct httpc *c = rd->c;
    for (;;) {
        size_t avail = c->in.len - c->pos;
        size_t take = until_eof || (uint64_t)avail < n ? avail : (size_t)n;
        int fail = 0;
        bool more =
            body_keep(resp, c->in.data ? c->in.data + c->pos : "", take, max_body, rd->e, &fail);
        c->pos += take;
        if (!until_eof)
            n -= take;
        if (fail < 0)
            return -1;
        if (!more || (!until_eof && n == 0))
            return 0;
        int r = fill(c, rd->deadline, rd->start, &rd->got, rd->e);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (until_eof)
                return 0;
            set_err(rd->e, CURLE_PARTIAL_FILE,
                    "connection closed with %llu bytes of the body missing", (unsigned long long)n);
            return -1;
        }
    }
}

static int read_chunked(struct reader *rd, struct httpc_response *resp, size_t max_body)
{
    for (;;) {
        char *line;
        size_t len;
        if (read_line(rd, &line, &len) < 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == line || errno || (*end && *end != ';') || line[0] == '-') {
            set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "bad chunk size \"%.40s\"", line);
            return -1;
        }
        if (size == 0)
            break;
        if (read_body(rd, size, false, resp, max_body) < 0)
            return -1;
        if (resp->truncated)
            return 0;
        if (read_line(rd, &line, &len) < 0)
            return -1;
        if (len != 0) {
            set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "no line end after a chunk");
            return -1;
        }
    }
    for (int i = 0; i < LITE_MAX_HEADERS; i++) { /* trailer fields, up to an empty line */
        char *line;
        size_t len;
        if (read_line(rd, &line, &len) < 0)
            return -1;
        if (len == 0)
            return 0;
    }
    set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "too many trailer lines");
    return -1;
}

/* Does the comma-separated header value list contain token? */
static bool value_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, token, tl) == 0)
            return true;
        v += n;
    }
    return false;
}

/* The response to a request just sent: status, headers, body. *reuse says whether
 * the connection may carry the next request. */
static int read_response(struct reader *rd, const char *method, struct httpc_response *resp,
                         size_t max_body, bool *reuse)
{
    *reuse = false;
    char *line;
    size_t len;
    long status;
    int minor;
    bool chunked, close_conn, keep_alive, has_length;
    uint64_t length;
    do {
        if (read_line(rd, &line, &len) < 0)
            return -1;
        char *end;
        if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
            line[8] != ' ' || !isdigit((unsigned char)line[9])) {
            set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "not an HTTP/1.x status line: \"%.60s\"",
                    line);
            return -1;
        }
        minor = line[7] - '0';
        status = strtol(line + 9, &end, 10);
        if (end != line + 12 || (*end && *end != ' ') || status < 100) {
            set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "bad status line: \"%.60s\"", line);
            return -1;
        }
        chunked = close_conn = keep_alive = has_length = false;
        length = 0;
        int nh = 0;
        for (;;) {
            if (read_line(rd, &line, &len) < 0)
                return -1;
            if (len == 0)
                break;
            if (++nh > LITE_MAX_HEADERS) {
                set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "too many response header lines");
                return -1;
            }
            char *colon = strchr(line, ':');
            if (!colon || line[0] == ' ' || line[0] == '\t')
                continue; /* folded or odd lines carry nothing we use */
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strcasecmp(line, "content-length") == 0) {
                char *e2;
                errno = 0;
                unsigned long long cl = strtoull(v, &e2, 10);
                while (*e2 == ' ' || *e2 == '\t')
                    e2++;
                if (!isdigit((unsigned char)*v) || *e2 || errno || (has_length && cl != length)) {
                    set_err(rd->e, CURLE_WEIRD_SERVER_REPLY, "bad Content-Length \"%.40s\"", v);
                    return -1;
                }
                has_length = true;
                length = cl;
            } else if (strcasecmp(line, "transfer-encoding") == 0) {
                chunked = value_has_token(v, "chunked");
            } else if (strcasecmp(line, "connection") == 0) {
                close_conn = close_conn || value_has_token(v, "close");
                keep_alive = keep_alive || value_has_token(v, "keep-alive");
            } else if (strcasecmp(line, "retry-after") == 0) {
                char *e2;
                double ra = strtod(v, &e2);
                if (e2 != v && ra >= 0)
                    resp->retry_after_s = ra;
            }
        }
        /* 1xx answers are interim: the real one follows */
    } while (status < 200 && status != 101);
    resp->status = status;

    bool no_body = strcmp(method, "HEAD") == 0 || status == 204 || status == 304;
    bool until_eof = false;
    int rc;
    if (no_body)
        rc = 0;
    else if (chunked)
        rc = read_chunked(rd, resp, max_body);
    else if (has_length)
        rc = read_body(rd, length, false, resp, max_body);
    else {
        until_eof = true;
        rc = read_body(rd, 0, true, resp, max_body);
    }
    if (rc < 0)
        return -1;
    *reuse = !until_eof && !resp->truncated && !close_conn && (minor >= 1 || keep_alive) &&
             status != 101;
    return 0;
}

/* ---- https:// through libcurl.so.4, loaded at first use ---- */

struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};

static struct curl_api curl_api; /* filled once by curl_load() */
static bool curl_ok;             /* curl_api is usable */
static char curl_why[256];       /* why not, when it is not */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(curl_why, sizeof curl_why, "%s", dlerror());
        return;
    }
    static const struct {
        const char *name;
        size_t offset;
    } syms[] = {
        {"curl_global_init", offsetof(struct curl_api, global_init)},
        {"curl_easy_init", offsetof(struct curl_api, easy_init)},
        {"curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup)},
        {"curl_easy_reset", offsetof(struct curl_api, easy_reset)},
        {"curl_easy_setopt", offsetof(struct curl_api, easy_setopt)},
        {"curl_easy_perform", offsetof(struct curl_api, easy_perform)},
        {"curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo)},
        {"curl_easy_strerror", offsetof(struct curl_api, easy_strerror)},
        {"curl_slist_append", offsetof(struct curl_api, slist_append)},
        {"curl_slist_free_all", offsetof(struct curl_api, slist_free_all)},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(curl_why, sizeof curl_why, "libcurl.so.4 has no %s", syms[i].name);
            return;
        }
        /* POSIX guarantees a data pointer from dlsym() converts to a function one */
        memcpy((char *)&curl_api + syms[i].offset, &f, sizeof f);
    }
    if (curl_api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(curl_why, sizeof curl_why, "curl_global_init failed");
        return;
    }
    curl_ok = true;
}

struct sink {
    struct httpc_response *resp; /* where bytes and headers go */
    size_t max_body;             /* cap */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    struct xfer_err e;
    int fail = 0;
    if (!body_keep(s->resp, p, len, s->max_body, &e, &fail))
        return 0; /* stop the transfer */
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    double v = httpc_header_retry_after(p, len);
    if (v >= 0)
        s->resp->retry_after_s = v;
    return len;
}

static int tls_request(struct httpc *c, const char *method, const char *url, const char *body,
                       size_t body_len, const char *const *headers, long timeout_ms,
                       struct httpc_response *resp, struct xfer_err *e)
{
    pthread_once(&curl_once, curl_load);
    if (!curl_ok) {
        set_err(e, CURLE_UNSUPPORTED_PROTOCOL,
                "https needs libcurl.so.4 (Debian package libcurl4), which could not be "
                "loaded (%s); use http:// or install it",
                curl_why);
        return -1;
    }
    const struct curl_api *api = &curl_api;
    if (!c->tls && !(c->tls = api->easy_init())) {
        set_err(e, CURLE_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    struct curl_slist *hl = NULL;
    if (c->auth)
        hl = api->slist_append(hl, c->auth);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = api->slist_append(hl, headers[i]);
    hl = api->slist_append(hl, "Expect:");

    struct sink sink = {resp, c->max_body};
    CURL *h = c->tls;
    api->easy_reset(h);
    api->easy_setopt(h, CURLOPT_URL, url);
    api->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    api->easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    api->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    api->easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    api->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    api->easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    api->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 && timeout_ms < LITE_CONNECT_MS ? timeout_ms
                                                                    : (long)LITE_CONNECT_MS);
    if (timeout_ms > 0)
        api->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    const char *ca = getenv("HPO_CA_FILE");
    if (ca && *ca)
        api->easy_setopt(h, CURLOPT_CAINFO, ca); /* trust this CA; checks stay on */
    if (body) {
        api->easy_setopt(h, CURLOPT_POSTFIELDS, body);
        api->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "GET") == 0) {
        api->easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = api->easy_perform(h);
    api->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    api->slist_free_all(hl);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && resp->truncated)) {
        const char *text = api->easy_strerror(rc);
        set_err(e, (int)rc, "%s", text);
        if (e->msg[0] && !isupper((unsigned char)e->msg[1]))
            e->msg[0] = (char)tolower((unsigned char)e->msg[0]);
        if (rc == CURLE_PEER_FAILED_VERIFICATION && !(ca && *ca)) {
            size_t n = strlen(e->msg);
            snprintf(e->msg + n, sizeof e->msg - n,
                     " (a daemon with its own certificate: set HPO_CA_FILE to it)");
        }
        return -1;
    }
    return 0;
}

/* ---- the API ---- */

struct httpc *httpc_new(const char *base_url, const char *token)
{
    struct httpc *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = -1;
    buf_init(&c->in);
    c->base = httpc_base_url(base_url);
    if (!c->base) {
        httpc_free(c);
        return NULL;
    }
    c->auth = httpc_auth_line(token);
    c->max_body = 16u << 20;
    return c;
}

void httpc_free(struct httpc *c)
{
    if (!c)
        return;
    conn_close(c);
    buf_release(&c->in);
    if (c->tls && curl_ok)
        curl_api.easy_cleanup(c->tls);
    free(c->base);
    httpc_secret_free(c->auth); /* the token is a secret: wiped before it is freed */
    free(c);
}

void httpc_set_max_body(struct httpc *c, size_t max_body)
{
    c->max_body = max_body;
}

/* A header line from the caller that may go out as is: "Name: value", no line
 * breaks; "Name:" alone (libcurl's way of removing a header) is dropped. */
static bool header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n"))
        return false;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v != '\0';
}

/* The request head (and a small body) for one exchange. */
static int build_request(struct httpc *c, struct buf *req, const char *method, const struct url *u,
                         const char *body, size_t body_len, const char *const *headers)
{
    const char *t = u->target;
    size_t tlen = strcspn(t, "#");
    int rc = buf_printf(req, "%s %s%.*s HTTP/1.1\r\nHost: %s\r\n", method, t[0] == '/' ? "" : "/",
                        (int)tlen, t, u->authority);
    if (c->auth)
        rc |= buf_printf(req, "%s\r\n", c->auth);
    for (size_t i = 0; headers && headers[i]; i++) {
        if (header_ok(headers[i]))
            rc |= buf_printf(req, "%s\r\n", headers[i]);
    }
    bool wants_length =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (body || wants_length)
        rc |= buf_printf(req, "Content-Length: %zu\r\n", body ? body_len : 0);
    rc |= buf_puts(req, "\r\n");
    if (body && body_len <= 65536)
        rc |= buf_append(req, body, body_len);
    return rc < 0 ? -1 : 0;
}

static int plain_request(struct httpc *c, const char *method, const char *url, const char *body,
                         size_t body_len, const char *const *headers, long timeout_ms,
                         struct httpc_response *resp, double start, struct xfer_err *e)
{
    struct url u;
    if (url_parse(url, &u, e) < 0)
        return -1;
    char peer[300];
    snprintf(peer, sizeof peer, "%s %s", u.host, u.port);
    int64_t t0 = mono_ms();
    int64_t deadline = timeout_ms > 0 ? t0 + timeout_ms : 0;
    long cms = timeout_ms > 0 && timeout_ms < LITE_CONNECT_MS ? timeout_ms : LITE_CONNECT_MS;
    int64_t connect_deadline = deadline && deadline < t0 + cms ? deadline : t0 + cms;

    struct buf req;
    buf_init(&req);
    int ret = -1;
    if (build_request(c, &req, method, &u, body, body_len, headers) < 0) {
        set_err(e, CURLE_OUT_OF_MEMORY, "out of memory");
        goto out_free_req;
    }
    bool body_apart = body && body_len > 65536;
    for (int attempt = 0;; attempt++) {
        bool reused = conn_usable(c, peer);
        if (!reused && conn_open(c, &u, connect_deadline, start, e) < 0)
            goto out_free_req;
        memset(e, 0, sizeof *e);
        struct reader rd = {c, deadline, start, 0, e};
        bool reuse = false;
        int rc = send_all(c->fd, req.data, req.len, deadline, start, e);
        if (rc == 0 && body_apart)
            rc = send_all(c->fd, body, body_len, deadline, start, e);
        if (rc == 0)
            rc = read_response(&rd, method, resp, c->max_body, &reuse);
        if (rc == 0) {
            if (!reuse)
                conn_close(c);
            ret = 0;
            break;
        }
        conn_close(c);
        /* a kept-alive connection the server had dropped: once more on a new one */
        if (!(reused && attempt == 0 && e->peer_gone && rd.got == 0))
            break;
        resp->status = 0;
        resp->retry_after_s = -1;
    }
out_free_req:
    wipe_buf(&req); /* it holds the token */
    return ret;
}

int httpc_request(struct httpc *c, const char *method, const char *path, const char *body,
                  size_t body_len, const char *const *headers, long timeout_ms,
                  struct httpc_response *resp, char *err, size_t errlen)
{
    double start = mono_s();
    struct buf url;
    buf_init(&url);
    if (strncmp(path, "http", 4) == 0)
        buf_puts(&url, path);
    else
        buf_printf(&url, "%s%s", c->base, path);
    struct xfer_err e;
    memset(&e, 0, sizeof e);
    int rc;
    if (!url.data) {
        set_err(&e, CURLE_OUT_OF_MEMORY, "out of memory");
        rc = -1;
    } else if (has_prefix_ci(url.data, "https://")) {
        rc = tls_request(c, method, url.data, body, body_len, headers, timeout_ms, resp, &e);
    } else {
        rc = plain_request(c, method, url.data, body, body_len, headers, timeout_ms, resp, start,
                           &e);
    }
    resp->elapsed_s = mono_s() - start;
    if (rc < 0) {
        resp->transport_error = e.code ? e.code : CURLE_RECV_ERROR;
        resp->timed_out = e.timed_out;
        if (err)
            snprintf(err, errlen, "%s %s: %s", method, url.data ? url.data : path, e.msg);
    } else if (resp->truncated && err) {
        snprintf(err, errlen, "%s %s: response body larger than %zu bytes", method, url.data,
                 c->max_body);
    }
    buf_release(&url);
    return rc;
}
