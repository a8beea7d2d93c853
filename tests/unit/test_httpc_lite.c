#include <config.h>

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"

/* hpo's HTTP client (client/httpc_lite.c) against a scripted server: a process
 * of its own, forked before any test, whose threads listen on 127.0.0.1 (and
 * ::1 when there is one) port 0 and answer by path. Not threads of this
 * process: Check forks a child for each test, and a fork while another thread
 * holds an allocator lock (a thread starting up, a connection being freed)
 * leaves the child blocked on its first malloc, which the sanitizer build's
 * allocator showed. The server tells which connection and which request on it
 * it served in the reply body ("conn=N req=K"), the only way a test sees
 * keep-alive. */

static int port4;           /* the IPv4 listener's port */
static int port6;           /* the IPv6 listener's port, 0 when ::1 is missing */
static int refused_port;    /* bound, never listening: connecting is refused */
static atomic_int conn_seq; /* connections accepted so far */

static void put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void puts_fd(int fd, const char *s)
{
    put(fd, s, strlen(s));
}

static void reply(int fd, const char *status_line, const char *extra, const char *body, size_t n)
{
    char head[512];
    snprintf(head, sizeof head, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status_line, extra,
             n);
    puts_fd(fd, head);
    put(fd, body, n);
}

/* Answer one request; false to close the connection afterwards. */
static bool respond(int fd, int conn, int req, const char *path, const char *text, size_t len)
{
    char body[128];
    snprintf(body, sizeof body, "conn=%d req=%d", conn, req);
    if (strcmp(path, "/cl") == 0 || (strcmp(path, "/drop") == 0 && req == 1)) {
        reply(fd, "200 OK", "Content-Type: text/plain\r\n", body, strlen(body));
        return true;
    }
    if (strcmp(path, "/drop") == 0)
        return false; /* a kept-alive connection dropped as the request comes */
    if (strcmp(path, "/bye") == 0) {
        reply(fd, "200 OK", "", body, strlen(body));
        return false; /* closes without having said Connection: close */
    }
    if (strcmp(path, "/close") == 0) {
        reply(fd, "200 OK", "Connection: close\r\n", body, strlen(body));
        return false;
    }
    if (strcmp(path, "/echo") == 0) {
        reply(fd, "200 OK", "", text, len);
        return true;
    }
    if (strcmp(path, "/chunked") == 0) {
        puts_fd(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7;ext=1\r\nhello, \r\n");
        usleep(20000); /* the rest in another segment */
        puts_fd(fd, "8\r\nchunked \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
        return true;
    }
    if (strcmp(path, "/retry") == 0) {
        const char *j = "{\"error\":{\"code\":\"busy\",\"message\":\"no trials for now\"}}";
        reply(fd, "429 Too Many Requests", "Retry-After: 7\r\nContent-Type: application/json\r\n",
              j, strlen(j));
        return true;
    }
    if (strcmp(path, "/missing") == 0) {
        const char *j = "{\"error\":{\"code\":\"not_found\",\"message\":\"no study \\\"x\\\"\"}}";
        reply(fd, "404 Not Found", "Content-Type: application/json\r\n", j, strlen(j));
        return true;
    }
    if (strcmp(path, "/stall") == 0) {
        sleep(3);
        return false;
    }
    if (strcmp(path, "/stallbody") == 0) {
        puts_fd(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        sleep(3);
        return false;
    }
    if (strcmp(path, "/big") == 0) {
        static char big[100000];
        memset(big, 'x', sizeof big);
        reply(fd, "200 OK", "", big, sizeof big);
        return true;
    }
    if (strcmp(path, "/eof") == 0) {
        puts_fd(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
        return false;
    }
    if (strcmp(path, "/continue") == 0) {
        puts_fd(fd,
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
        return true;
    }
    if (strcmp(path, "/garbage") == 0) {
        puts_fd(fd, "SSH-2.0-nope\r\n\r\n");
        return false;
    }
    reply(fd, "404 Not Found", "", "no such path", 12);
    return true;
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int conn = atomic_fetch_add(&conn_seq, 1) + 1;
    /* on the stack: a connection thread may still be running when the test's
     * process exits, and the leak checker would count a heap buffer */
    char buf[65536];
    size_t len = 0;
    for (int req = 1;; req++) {
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == 65536)
                goto out;
            ssize_t r = recv(fd, buf + len, 65536 - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        size_t head = (size_t)(end + 4 - buf);
        size_t cl = 0;
        for (char *p = buf; p < end; p++) {
            if (strncasecmp(p, "\r\nContent-Length:", 17) == 0)
                cl = strtoul(p + 17, NULL, 10);
        }
        while (len < head + cl && len < 65536) {
            ssize_t r = recv(fd, buf + len, 65536 - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        char path[256] = "";
        sscanf(buf, "%*s %255s", path);
        path[strcspn(path, "?")] = '\0';
        bool keep = respond(fd, conn, req, path, buf, head + cl);
        memmove(buf, buf + head + cl, len - head - cl);
        len -= head + cl;
        if (!keep)
            break;
    }
out:
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
    return NULL;
}

/* A socket on the loopback address of family, port 0; its port, or 0. */
static int listen_on(int family, bool do_listen, int *fd_out)
{
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || (do_listen && listen(fd, 64) < 0) ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return 0;
    }
    *fd_out = fd;
    return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                   : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static pid_t server_pid = -1;

/* Binds the sockets here (the ports are known before the tests start) and
 * serves them from a child process, which dies with this one. */
static void server_start(void)
{
    int fd4 = -1, fd6 = -1, fdr = -1;
    port4 = listen_on(AF_INET, true, &fd4);
    port6 = listen_on(AF_INET6, true, &fd6);
    refused_port = listen_on(AF_INET, false, &fdr);
    pid_t parent = getpid();
    server_pid = fork();
    if (server_pid < 0) {
        port4 = 0;
        return;
    }
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        pthread_t t;
        if (port6)
            pthread_create(&t, NULL, accept_main, (void *)(intptr_t)fd6);
        if (port4)
            accept_main((void *)(intptr_t)fd4);
        for (;;)
            pause();
    }
    if (fd4 >= 0)
        close(fd4);
    if (fd6 >= 0)
        close(fd6);
}

static void server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
}

static struct httpc *client(const char *token)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port4);
    struct httpc *c = httpc_new(base, token);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* GET path; the body must look like "conn=N req=K": N is returned, K checked. */
static int get_conn(struct httpc *c, const char *path, int want_req)
{
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    int rc = httpc_request(c, "GET", path, NULL, 0, NULL, 5000, &r, err, sizeof err);
    ck_assert_msg(rc == 0, "GET %s: %s", path, err);
    ck_assert_int_eq(r.status, 200);
    int conn = 0, req = 0;
    ck_assert_msg(sscanf(r.body.data, "conn=%d req=%d", &conn, &req) == 2, "body \"%s\"",
                  r.body.data);
    ck_assert_int_eq(req, want_req);
    httpc_response_release(&r);
    return conn;
}

START_TEST(test_content_length)
{
    struct httpc *c = client(NULL);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "GET", "/cl", NULL, 0, NULL, 5000, &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.transport_error, 0);
    ck_assert(!r.timed_out && !r.truncated);
    ck_assert(r.retry_after_s == -1);
    ck_assert(r.elapsed_s > 0 && r.elapsed_s < 5);
    ck_assert_uint_eq(r.body.len, strlen(r.body.data));
    ck_assert(strncmp(r.body.data, "conn=", 5) == 0);
    httpc_response_release(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_request_head)
{
    struct httpc *c = client("s3cret");
    const char *const hdrs[] = {"X-Test: yes", "Expect:", "Bad: a\r\nInjected: 1", NULL};
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(
        httpc_request(c, "POST", "/echo?q=1", "{\"a\":1}", 7, hdrs, 5000, &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, 200);
    const char *t = r.body.data;
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", port4);
    ck_assert_msg(strncmp(t, "POST /echo?q=1 HTTP/1.1\r\n", 25) == 0, "request: %s", t);
    ck_assert_ptr_nonnull(strstr(t, host));
    ck_assert_ptr_nonnull(strstr(t, "\r\nAuthorization: Bearer s3cret\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Length: 7\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nX-Test: yes\r\n"));
    ck_assert_ptr_null(strstr(t, "Expect"));
    ck_assert_ptr_null(strstr(t, "Injected"));
    ck_assert(r.body.len > 7 && strcmp(t + r.body.len - 11, "\r\n\r\n{\"a\":1}") == 0);
    httpc_response_release(&r);

    /* a POST with no body still says how long it is */
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "POST", "/echo", NULL, 0, NULL, 5000, &r, err, sizeof err),
                     0);
    ck_assert_ptr_nonnull(strstr(r.body.data, "\r\nContent-Length: 0\r\n"));
    httpc_response_release(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_chunked)
{
    struct httpc *c = client(NULL);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "GET", "/chunked", NULL, 0, NULL, 5000, &r, err, sizeof err),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "hello, chunked world");
    ck_assert_uint_eq(r.body.len, 20);
    httpc_response_release(&r);
    /* the whole chunked body and its trailer were read: the connection goes on */
    int conn = get_conn(c, "/cl", 2);
    ck_assert_int_gt(conn, 0);
    httpc_free(c);
}
END_TEST

START_TEST(test_retry_after)
{
    struct httpc *c = client(NULL);
    long status = 0;
    double ra = -1;
    char err[256] = "";
    json_t *j = httpc_json(c, "POST", "/retry", NULL, 5000, &status, &ra, err, sizeof err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(status, 429);
    ck_assert(ra == 7);
    ck_assert_str_eq(err, "no trials for now");
    json_decref(j);
    httpc_free(c);
}
END_TEST

START_TEST(test_json_error)
{
    struct httpc *c = client(NULL);
    long status = 0;
    double ra = 0;
    char err[256] = "";
    json_t *j = httpc_json(c, "GET", "/missing", NULL, 5000, &status, &ra, err, sizeof err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(status, 404);
    ck_assert(ra == -1);
    ck_assert_str_eq(err, "no study \"x\"");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "not_found");
    json_decref(j);
    httpc_free(c);
}
END_TEST

START_TEST(test_refused)
{
    char base[64], want[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", refused_port);
    snprintf(want, sizeof want, "GET http://127.0.0.1:%d/x: connection refused", refused_port);
    struct httpc *c = httpc_new(base, NULL);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "GET", "/x", NULL, 0, NULL, 5000, &r, err, sizeof err), -1);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ne(r.transport_error, 0);
    ck_assert(!r.timed_out);
    ck_assert_str_eq(err, want);
    httpc_response_release(&r);

    /* through httpc_json: no reply, status 0 */
    long status = -1;
    json_t *j = httpc_json(c, "GET", "/x", NULL, 5000, &status, NULL, err, sizeof err);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(status, 0);
    ck_assert_ptr_nonnull(strstr(err, "connection refused"));
    httpc_free(c);
}
END_TEST

START_TEST(test_timeout)
{
    struct httpc *c = client(NULL);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "GET", "/stall", NULL, 0, NULL, 300, &r, err, sizeof err),
                     -1);
    ck_assert(r.timed_out);
    ck_assert_int_ne(r.transport_error, 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(err, ": timed out after ") != NULL, "err: %s", err);
    ck_assert_msg(r.elapsed_s >= 0.29 && r.elapsed_s < 2, "elapsed %g s", r.elapsed_s);
    httpc_response_release(&r);

    /* a body that stops half-way: the status is known, the exchange still fails */
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "GET", "/stallbody", NULL, 0, NULL, 300, &r, err, sizeof err),
                     -1);
    ck_assert(r.timed_out);
    ck_assert_int_eq(r.status, 200);
    httpc_response_release(&r);

    /* and the client is fine afterwards */
    get_conn(c, "/cl", 1);
    httpc_free(c);
}
END_TEST

START_TEST(test_truncated)
{
    struct httpc *c = client(NULL);
    httpc_set_max_body(c, 1000);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "GET", "/big", NULL, 0, NULL, 5000, &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.truncated);
    ck_assert_int_eq(r.transport_error, 0);
    ck_assert_uint_eq(r.body.len, 1000);
    ck_assert_msg(strstr(err, "larger than 1000 bytes") != NULL, "err: %s", err);
    httpc_response_release(&r);

    /* under the cap: whole */
    httpc_set_max_body(c, 100000);
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "GET", "/big", NULL, 0, NULL, 5000, &r, err, sizeof err), 0);
    ck_assert(!r.truncated);
    ck_assert_uint_eq(r.body.len, 100000);
    httpc_response_release(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_keepalive)
{
    struct httpc *c = client(NULL);
    int a = get_conn(c, "/cl", 1);
    int b = get_conn(c, "/cl", 2);
    ck_assert_int_eq(a, b);
    /* Connection: close is obeyed: the next request goes on a new connection */
    int d = get_conn(c, "/close", 3);
    ck_assert_int_eq(d, a);
    int e = get_conn(c, "/cl", 1);
    ck_assert_int_ne(e, a);
    httpc_free(c);
}
END_TEST

START_TEST(test_server_closes_between)
{
    struct httpc *c = client(NULL);
    int a = get_conn(c, "/bye", 1);
    usleep(100000); /* the server's FIN arrives */
    int b = get_conn(c, "/cl", 1);
    ck_assert_int_ne(a, b);
    httpc_free(c);
}
END_TEST

START_TEST(test_dropped_on_reuse)
{
    /* the kept-alive connection dies as the second request arrives, before any
     * answer: the client sends it once more on a fresh connection */
    struct httpc *c = client(NULL);
    int a = get_conn(c, "/drop", 1);
    int b = get_conn(c, "/drop", 1);
    ck_assert_int_ne(a, b);
    httpc_free(c);
}
END_TEST

START_TEST(test_ipv6)
{
    if (!port6)
        return; /* no ::1 here */
    char base[64];
    snprintf(base, sizeof base, "http://[::1]:%d/", port6);
    struct httpc *c = httpc_new(base, NULL);
    struct httpc_response r;
    httpc_response_init(&r);
    char err[256] = "";
    ck_assert_int_eq(httpc_request(c, "POST", "/echo", "x", 1, NULL, 5000, &r, err, sizeof err), 0);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: [::1]:%d\r\n", port6);
    ck_assert_ptr_nonnull(strstr(r.body.data, host));
    httpc_response_release(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_absolute_and_bad_urls)
{
    char base[64], abs[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", refused_port);
    snprintf(abs, sizeof abs, "http://127.0.0.1:%d/cl", port4);
    struct httpc *c = httpc_new(base, NULL);
    get_conn(c, abs, 1);
    httpc_free(c);

    const char *bad[] = {"ftp://127.0.0.1:21", "http://127.0.0.1:99999", "http://[::1",
                         "http://:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = httpc_new(bad[i], NULL);
        struct httpc_response r;
        httpc_response_init(&r);
        char err[256] = "";
        ck_assert_int_eq(httpc_request(c, "GET", "/x", NULL, 0, NULL, 1000, &r, err, sizeof err),
                         -1);
        ck_assert_int_ne(r.transport_error, 0);
        ck_assert_msg(strncmp(err, "GET ", 4) == 0 && strstr(err, bad[i]), "err: %s", err);
        httpc_response_release(&r);
        httpc_free(c);
    }
}
END_TEST

START_TEST(test_odd_replies)
{
    struct httpc *c = client(NULL);
    struct httpc_response r;
    char err[256] = "";

    /* HTTP/1.0, no length: the body runs to the end of the stream */
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "GET", "/eof", NULL, 0, NULL, 5000, &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "until the end");
    httpc_response_release(&r);

    /* an interim 100 is skipped */
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "GET", "/continue", NULL, 0, NULL, 5000, &r, err, sizeof err),
                     0);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body.data, "ok");
    httpc_response_release(&r);

    /* not HTTP at all */
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_request(c, "GET", "/garbage", NULL, 0, NULL, 5000, &r, err, sizeof err),
                     -1);
    ck_assert_int_ne(r.transport_error, 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(err, "not an HTTP") != NULL, "err: %s", err);
    httpc_response_release(&r);
    httpc_free(c);
}
END_TEST

static Suite *httpc_lite_suite(void)
{
    Suite *s = suite_create("httpc_lite");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30); /* Check's 4 s is short for a sanitizer build on a busy machine */
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_request_head);
    tcase_add_test(tc, test_chunked);
    tcase_add_test(tc, test_retry_after);
    tcase_add_test(tc, test_json_error);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_keepalive);
    tcase_add_test(tc, test_server_closes_between);
    tcase_add_test(tc, test_dropped_on_reuse);
    tcase_add_test(tc, test_ipv6);
    tcase_add_test(tc, test_absolute_and_bad_urls);
    tcase_add_test(tc, test_odd_replies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    server_start();
    if (!port4 || !refused_port) {
        fprintf(stderr, "test_httpc_lite: cannot listen on 127.0.0.1\n");
        server_stop();
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(httpc_lite_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    server_stop();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
