/* libFuzzer harness: the daemon end to end. hpod's HTTP front, routing table and
 * handlers run in-process on 127.0.0.1 (port 0) with a database in a temporary
 * directory; each input becomes one HTTP request on a fresh connection. The first
 * byte picks a request template (or sends the rest as raw bytes); the rest is the
 * body, or the query string for GET. Every answer must be a 2xx or 4xx, every
 * API error a JSON object {"error": {"code", "message"}}, and the daemon must keep
 * answering. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "buf.h"
#include "db.h"
#include "http.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct target {
    const char *method; /* HTTP method */
    const char *path;   /* path; for GET the input is appended as the query */
};

static const struct target targets[] = {
    {"POST", "/api/v1/studies"},
    {"POST", "/api/v1/studies/f/suggest"},
    {"POST", "/api/v1/studies/f/trials"},
    {"PATCH", "/api/v1/studies/p"},
    {"POST", "/api/v1/trials/1/heartbeat"},
    {"POST", "/api/v1/trials/1/report"},
    {"POST", "/api/v1/trials/2/complete"},
    {"POST", "/api/v1/studies/f/suggest"},
    {"GET", "/api/v1/studies/f/trials?"},
    {"GET", "/api/v1/studies/f/llm-calls?"},
    {"GET", "/api/v1/studies/"},
    {"GET", "/api/v1/trials/"},
};
#define N_TARGETS (sizeof targets / sizeof targets[0])

static struct MHD_Daemon *daemon_;
static unsigned port;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_http: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* Send req (len bytes) on a new connection; the status code (0 when the daemon
 * closed without an answer, -1 when it said nothing within wait_s) and the
 * answer into out. */
/* libFuzzer's timer signal interrupts system calls (it is installed without
 * SA_RESTART): each call below is repeated on EINTR, so that an interrupted
 * recv is not taken for a daemon that closed without answering. */
static int exchange(const char *req, size_t len, struct buf *out, int wait_s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = -1;
    for (int tries = 0; fd < 0; tries++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        int err = errno;
        close(fd);
        fd = -1;
        if (err != EINTR || tries >= 100)
            die("the daemon does not accept connections", strerror(err));
    }
    struct timeval tv = {wait_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the daemon closed early: read what it said */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    buf_reset(out);
    char chunk[8192];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            buf_append(out, chunk, (size_t)n);
    close(fd);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -1;
    int status = 0;
    if (out->len > 12 && strncmp(out->data, "HTTP/1.", 7) == 0)
        status = atoi(out->data + 9);
    return status;
}

static void setup(void)
{
    char dir[] = "/tmp/hpod-fuzz-XXXXXX";
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    if (tmp && *tmp) {
        snprintf(path, sizeof path, "%s/hpod-fuzz-XXXXXX", tmp);
        if (!mkdtemp(path))
            die("mkdtemp", path);
    } else {
        if (!mkdtemp(dir))
            die("mkdtemp", dir);
        snprintf(path, sizeof path, "%s", dir);
    }
    char db[4200];
    snprintf(db, sizeof db, "%s/fuzz.db", path);
    config_defaults();
    cfg.max_wait_s = 0; /* no long-poll: an input must finish at once */
    cfg.max_body = 1u << 20;
    if (db_setup(db, false) < 0 || auth_reload(db_thread()) < 0)
        die("database set-up", db);
    static struct http_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    o.offload_threads = 1; /* slow routes go through the offload lane too */
    o.max_body = cfg.max_body;
    o.routes = api_routes;
    char err[256];
    daemon_ = http_start(&o, err, sizeof err);
    if (!daemon_)
        die("http_start", err);
    port = http_port(daemon_);
    static const char *const init[] = {
        "{\"name\": \"f\", \"objective\": {\"name\": \"loss\"}, \"params\": ["
        "{\"name\": \"x\", \"type\": \"float\", \"low\": -5, \"high\": 5},"
        "{\"name\": \"n\", \"type\": \"int\", \"low\": 1, \"high\": 64, \"log\": true},"
        "{\"name\": \"opt\", \"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", 1]},"
        "{\"name\": \"m\", \"type\": \"float\", \"low\": 0, \"high\": 1,"
        " \"when\": {\"opt\": [\"sgd\"]}}],"
        "\"sampler\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 100000,"
        " \"max_parallel\": 10000, \"max_failures\": 100000}}",
        "{\"name\": \"p\", \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0,"
        " \"high\": 1}], \"sampler\": {\"name\": \"random\"}}",
    };
    struct buf req, out;
    buf_init(&req);
    buf_init(&out);
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&req);
        buf_printf(&req,
                   "POST /api/v1/studies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   strlen(init[i]), init[i]);
        if (exchange(req.data, req.len, &out, 10) != 201)
            die("cannot create the fuzzing studies", out.data);
    }
    static const char sug[] = "{\"worker\": \"w\", \"count\": 2}";
    buf_reset(&req);
    buf_printf(&req,
               "POST /api/v1/studies/f/suggest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Length: %zu\r\n\r\n%s",
               strlen(sug), sug);
    if (exchange(req.data, req.len, &out, 10) != 200)
        die("cannot lease the fuzzing trials", out.data);
    buf_release(&req);
    buf_release(&out);
}

/* Percent-encode bytes that cannot stand in a request line as they are. */
static void append_query(struct buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c > 0x20 && c < 0x7f && c != '#' && c != '%')
            buf_append(b, &c, 1);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* The body of an answer, after the blank line. */
static const char *body_of(const struct buf *out)
{
    const char *p = strstr(out->data, "\r\n\r\n");
    return p ? p + 4 : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!daemon_)
        setup();
    if (size < 1)
        return 0;
    struct buf req, out;
    buf_init(&req);
    buf_init(&out);
    size_t pick = data[0] % (N_TARGETS + 1);
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    bool api = pick < N_TARGETS;
    if (!api) {
        /* End the header section: libmicrohttpd keeps a half-closed connection
         * with unfinished headers open until its connection timeout. */
        buf_append(&req, rest, n);
        buf_puts(&req, "\r\n\r\n");
    } else if (strcmp(targets[pick].method, "GET") == 0) {
        buf_printf(&req, "GET %s", targets[pick].path);
        append_query(&req, rest, n > 2048 ? 2048 : n);
        buf_puts(&req, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    } else {
        buf_printf(&req,
                   "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\n\r\n",
                   targets[pick].method, targets[pick].path, n);
        buf_append(&req, rest, n);
    }
    int status = exchange(req.data, req.len, &out, api ? 10 : 2);
    if (status < 0 && api)
        die("no answer within 10 s", req.data);
    /* libmicrohttpd itself answers 501 and 505 to unknown protocol features */
    if (status >= 500 && (api || (status != 501 && status != 505)))
        die("a 5xx answer", out.data);
    if (api) {
        if (status == 0)
            die("a well-formed request got no answer", req.data);
        if (status >= 400 && strstr(targets[pick].path, "/api/") &&
            strncmp(body_of(&out), "{", 1) == 0) {
            json_t *j = json_loads(body_of(&out), 0, NULL);
            json_t *e = json_object_get(j, "error");
            if (!json_is_string(json_object_get(e, "code")) ||
                !json_is_string(json_object_get(e, "message")))
                die("an error answer without code and message", out.data);
            json_decref(j);
        } else if (status >= 400 && status != 404 && status != 405) {
            die("an error answer that is not JSON", out.data);
        }
    }
    /* the daemon keeps answering */
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (exchange(health, sizeof health - 1, &out, 10) != 200)
        die("/healthz does not answer 200 after the input", out.data);
    buf_release(&req);
    buf_release(&out);
    return 0;
}
