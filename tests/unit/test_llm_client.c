#include <config.h>

#include <check.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "httpc.h"
#include "jsonutil.h"
#include "client.h"
#include "propose.h"
#include "provider.h"
#include "rng.h"
#include "test_llm_util.h"
#include "timeutil.h"

/* The LLM client and proposal engine against tests/fake-llm/fakellm.py. */

#define KEY "sk-test-SECRET-0123456789abcdef"

static pid_t fake_pid = -1;
static char fake_url[128];

static void fake_start(void)
{
    const char *py = getenv("PYTHON3");
    const char *top = getenv("TOP_SRCDIR");
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/fake-llm/fakellm.py", top ? top : ".");
    int fds[2];
    if (pipe(fds) < 0) {
        perror("pipe");
        exit(99);
    }
    fake_pid = fork();
    if (fake_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(py && *py ? py : "/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256] = "";
    if (!f || !fgets(line, sizeof line, f) ||
        sscanf(line, "fakellm listening on %127s", fake_url) != 1) {
        fprintf(stderr, "fake LLM server did not start (%s)\n", script);
        exit(99);
    }
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
    }
}

static json_t *fake_json(const char *method, const char *path, const json_t *body)
{
    struct httpc *c = httpc_new(fake_url, NULL);
    long status = 0;
    char err[256] = "";
    json_t *r = httpc_json(c, method, path, body, 10000, &status, NULL, err, sizeof err);
    ck_assert_msg(r != NULL && status == 200, "%s %s: %ld %s", method, path, status, err);
    httpc_free(c);
    return r;
}

/* Load a script (JSON text) and clear the request log. */
static void fake_script(const char *text)
{
    json_t *j = tl_json(text);
    json_decref(fake_json("POST", "/_script", j));
    json_decref(j);
}

/* Every chat request the fake server saw (new reference). */
static json_t *fake_requests(void)
{
    return fake_json("GET", "/_requests", NULL);
}

static struct llm_registry *reg;

/* A provider talking to the fake server, with short timeouts and backoff. */
static struct llm_provider *fake_provider(const char *format)
{
    char err[256] = "", url[256];
    reg = llm_registry_new(err, sizeof err);
    ck_assert_ptr_nonnull(reg);
    snprintf(url, sizeof url, "%s/v1", fake_url);
    const char *sec = "provider fake";
    const char *kv[][2] = {{"format", format},   {"base_url", url},  {"model", "m-test"},
                           {"api_key", KEY},     {"timeout_s", "5"}, {"max_retries", "3"},
                           {"backoff_s", "0.02"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_msg(llm_config_section(reg, sec, kv[i][0], kv[i][1], err, sizeof err) == 0, "%s",
                      err);
    ck_assert_int_eq(llm_registry_finish(reg, err, sizeof err), 0);
    return llm_registry_get(reg, "fake");
}

static void teardown(void)
{
    llm_registry_free(reg);
    reg = NULL;
}

static json_t *simple_messages(void)
{
    return tl_json("[{\"role\": \"system\", \"content\": \"be brief\"},"
                   " {\"role\": \"user\", \"content\": \"give a config\"}]");
}

static void assert_no_key(const char *what, const char *s)
{
    if (s)
        ck_assert_msg(strstr(s, KEY) == NULL && strstr(s, "SECRET") == NULL,
                      "the API key leaked into %s: %s", what, s);
}

static void assert_response_clean(const struct llm_response *r)
{
    assert_no_key("the error", r->error);
    assert_no_key("the reply", r->text);
    assert_no_key("the request", r->request);
}

/* One call with the default options; the response must be released. */
static int call(struct llm_provider *p, struct llm_response *r)
{
    json_t *m = simple_messages();
    int rc = llm_call(p, m, NULL, r);
    json_decref(m);
    assert_response_clean(r);
    return rc;
}

static void assert_error_has(const struct llm_response *r, const char *piece)
{
    ck_assert_msg(r->error && strstr(r->error, piece), "error '%s' lacks '%s'",
                  r->error ? r->error : "(none)", piece);
}

static const char *req_header(const json_t *req, const char *name)
{
    return json_str(json_object_get(req, "headers"), name, NULL);
}

/* ---- client: formats ---- */

START_TEST(test_openai_ok)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"config\": {\"C\": 1.5}, \"usage\": [123, 45]}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_str_eq(r.text, "{\"C\": 1.5}");
    ck_assert_int_eq(r.tokens_in, 123);
    ck_assert_int_eq(r.tokens_out, 45);
    ck_assert_int_eq(r.attempts, 1);
    ck_assert_int_eq(r.http_status, 200);
    ck_assert_str_eq(r.model, "m-test");
    ck_assert_ptr_null(r.error);
    json_t *reqs = fake_requests();
    ck_assert_int_eq(json_array_size(reqs), 1);
    json_t *q = json_array_get(reqs, 0);
    ck_assert_str_eq(json_str(q, "path", ""), "/v1/chat/completions");
    ck_assert_str_eq(req_header(q, "authorization"), "Bearer " KEY);
    ck_assert_ptr_null(req_header(q, "x-api-key"));
    json_t *body = json_object_get(q, "body");
    ck_assert_str_eq(json_str(body, "model", ""), "m-test");
    ck_assert(json_num(body, "temperature", -1) == 0);
    ck_assert_str_eq(json_str(json_object_get(body, "response_format"), "type", ""), "json_object");
    ck_assert_ptr_null(json_object_get(body, "max_tokens"));
    json_t *msgs = json_object_get(body, "messages");
    ck_assert_int_eq(json_array_size(msgs), 2);
    ck_assert_str_eq(json_str(json_array_get(msgs, 0), "role", ""), "system");
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_anthropic_ok)
{
    struct llm_provider *p = fake_provider("anthropic");
    fake_script("[{\"config\": {\"C\": 2}, \"usage\": [77, 9], \"model\": \"claude-fake\"}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_str_eq(r.text, "{\"C\": 2}");
    ck_assert_int_eq(r.tokens_in, 77);
    ck_assert_int_eq(r.tokens_out, 9);
    ck_assert_str_eq(r.model, "claude-fake");
    json_t *reqs = fake_requests();
    json_t *q = json_array_get(reqs, 0);
    ck_assert_str_eq(json_str(q, "path", ""), "/v1/messages");
    ck_assert_str_eq(req_header(q, "x-api-key"), KEY);
    ck_assert_str_eq(req_header(q, "anthropic-version"), "2023-06-01");
    ck_assert_ptr_null(req_header(q, "authorization"));
    json_t *body = json_object_get(q, "body");
    ck_assert_str_eq(json_str(body, "system", ""), "be brief");
    ck_assert_int_eq(json_array_size(json_object_get(body, "messages")), 1);
    ck_assert_str_eq(json_str(json_array_get(json_object_get(body, "messages"), 0), "role", ""),
                     "user");
    ck_assert_int_eq(json_int(body, "max_tokens", 0), 4096);
    ck_assert_ptr_null(json_object_get(body, "response_format"));
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

/* ---- client: faults ---- */

START_TEST(test_timeout_then_ok)
{
    struct llm_provider *p = fake_provider("openai");
    p->timeout_s = 1;
    fake_script("[{\"fault\": \"timeout\", \"seconds\": 3}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 2);
    ck_assert_msg(r.latency_ms >= 1000, "latency %.0f ms", r.latency_ms);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_timeout_exhausted)
{
    struct llm_provider *p = fake_provider("anthropic");
    p->timeout_s = 0.5;
    p->max_retries = 1;
    fake_script("[{\"fault\": \"timeout\", \"seconds\": 2}, {\"fault\": \"timeout\", "
                "\"seconds\": 2}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), -1);
    assert_error_has(&r, "no complete reply within 0.5 s");
    assert_error_has(&r, "after 2 attempts");
    ck_assert_int_eq(r.http_status, 0);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_slow_drip_then_ok)
{
    struct llm_provider *p = fake_provider("openai");
    p->timeout_s = 1;
    fake_script("[{\"fault\": \"slow_drip\", \"drip\": 0.05}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 2);
    llm_response_release(&r);
}
END_TEST

/* Seconds between the server's receipt of requests i and i + 1. */
static double request_gap(const json_t *reqs, size_t i)
{
    return json_num(json_array_get(reqs, i + 1), "time", 0) -
           json_num(json_array_get(reqs, i), "time", 0);
}

START_TEST(test_429_retry_after)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"status\": 429, \"retry_after\": 1}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 2);
    json_t *reqs = fake_requests();
    double gap = request_gap(reqs, 0);
    ck_assert_msg(gap >= 0.95 && gap < 3, "waited %.3f s after Retry-After: 1", gap);
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_429_retry_after_capped)
{
    struct llm_provider *p = fake_provider("anthropic");
    p->retry_after_cap_s = 0.3;
    fake_script("[{\"status\": 429, \"retry_after\": 30}, {\"status\": 429, \"retry_after\": 30},"
                " {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 3);
    json_t *reqs = fake_requests();
    double gap = request_gap(reqs, 0);
    ck_assert_msg(gap >= 0.25 && gap < 2, "waited %.3f s with a 0.3 s cap", gap);
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_429_counts_as_retry)
{
    struct llm_provider *p = fake_provider("openai");
    p->max_retries = 1;
    p->retry_after_cap_s = 0.1;
    fake_script("[{\"status\": 429, \"retry_after\": 1}, {\"status\": 429, \"retry_after\": 1},"
                " {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), -1);
    ck_assert_int_eq(r.attempts, 2);
    ck_assert_int_eq(r.http_status, 429);
    assert_error_has(&r, "rate limited (HTTP 429)");
    llm_response_release(&r);
}
END_TEST

START_TEST(test_5xx_then_ok)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"status\": 500}, {\"status\": 503}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 3);
    ck_assert_int_eq(r.http_status, 200);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_5xx_exhausted)
{
    struct llm_provider *p = fake_provider("anthropic");
    p->max_retries = 2;
    fake_script("[{\"status\": 503}, {\"status\": 503}, {\"status\": 503, \"body\": {\"error\": "
                "{\"message\": \"overloaded\"}}}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), -1);
    ck_assert_int_eq(r.attempts, 3);
    ck_assert_int_eq(r.http_status, 503);
    assert_error_has(&r, "server error (HTTP 503): overloaded");
    assert_error_has(&r, "after 3 attempts");
    ck_assert_ptr_null(r.text);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_reset_then_ok)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"fault\": \"reset\"}, {\"fault\": \"short_body\"}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 3);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_4xx_not_retried)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"status\": 404, \"body\": {\"error\": {\"message\": \"model m-test not "
                "found\"}}}, {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), -1);
    ck_assert_int_eq(r.attempts, 1);
    assert_error_has(&r, "HTTP 404: model m-test not found");
    llm_response_release(&r);
}
END_TEST

/* A 200 whose body is cut short or not JSON is retried like a 5xx; the audit
 * keeps the unreadable body verbatim. */
START_TEST(test_bad_bodies_retried)
{
    static const struct {
        const char *format, *step, *want;
    } cases[] = {
        {"openai", "{\"fault\": \"malformed\"}", "not valid JSON"},
        {"anthropic", "{\"fault\": \"malformed\"}", "not valid JSON"},
        {"openai", "{\"fault\": \"truncated\"}", "truncated"},
        {"anthropic", "{\"fault\": \"truncated\"}", "truncated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llm_provider *p = fake_provider(cases[i].format);
        char script[256];
        snprintf(script, sizeof script, "[%s, {\"config\": {\"C\": 1}}]", cases[i].step);
        fake_script(script);
        struct llm_response r;
        ck_assert_msg(call(p, &r) == 0, "%s %s: %s", cases[i].format, cases[i].step, r.error);
        ck_assert_int_eq(r.attempts, 2);
        ck_assert_int_eq(r.n_ex, 2);
        ck_assert_int_eq(r.ex[0].http_status, 200);
        ck_assert_msg(r.ex[0].error && strstr(r.ex[0].error, cases[i].want), "%s", r.ex[0].error);
        ck_assert_ptr_nonnull(r.ex[0].reply);
        ck_assert_ptr_null(r.ex[1].error);
        ck_assert_str_eq(r.text, "{\"C\": 1}");
        llm_response_release(&r);
        teardown();
    }
}
END_TEST

START_TEST(test_bad_bodies)
{
    static const struct {
        const char *format, *step, *want;
    } cases[] = {
        {"openai", "{\"fault\": \"empty_choices\"}", "the reply has no choices"},
        {"anthropic", "{\"fault\": \"empty_choices\"}", "the reply has no text content"},
        {"openai", "{\"fault\": \"huge\", \"mb\": 5}", "larger than 4194304 bytes"},
        {"anthropic", "{\"fault\": \"huge\", \"mb\": 5}", "larger than 4194304 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llm_provider *p = fake_provider(cases[i].format);
        char script[256];
        snprintf(script, sizeof script, "[%s, {\"config\": {\"C\": 1}}]", cases[i].step);
        fake_script(script);
        struct llm_response r;
        ck_assert_msg(call(p, &r) == -1, "%s %s accepted", cases[i].format, cases[i].step);
        assert_error_has(&r, cases[i].want);
        ck_assert_msg(r.attempts == 1, "%s was retried", cases[i].step);
        llm_response_release(&r);
        teardown();
    }
}
END_TEST

START_TEST(test_json_mode_fallback)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("{\"reject_response_format\": true, \"steps\": [{\"config\": {\"C\": 1}}, "
                "{\"config\": {\"C\": 2}}]}");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_str_eq(r.text, "{\"C\": 1}");
    ck_assert_str_eq(r.structured, "none");
    ck_assert_int_eq(r.n_ex, 2);
    ck_assert_int_eq(r.ex[0].http_status, 400);
    ck_assert_str_eq(r.ex[0].structured, "json_object");
    ck_assert_ptr_nonnull(strstr(r.ex[0].error, "response_format"));
    ck_assert_int_eq(r.ex[1].http_status, 200);
    ck_assert_ptr_null(r.ex[1].error);
    json_t *reqs = fake_requests();
    ck_assert_int_eq(json_array_size(reqs), 2);
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(json_array_get(reqs, 0), "body"), "response_format"));
    ck_assert_ptr_null(
        json_object_get(json_object_get(json_array_get(reqs, 1), "body"), "response_format"));
    json_decref(reqs);
    llm_response_release(&r);
    /* the provider remembers: the next call does not try again */
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_str_eq(r.text, "{\"C\": 2}");
    reqs = fake_requests();
    ck_assert_int_eq(json_array_size(reqs), 3);
    ck_assert_ptr_null(
        json_object_get(json_object_get(json_array_get(reqs, 2), "body"), "response_format"));
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_refused_fields_fallback)
{
    struct llm_provider *p = fake_provider("openai");
    p->max_output_tokens = 1000;
    fake_script("[{\"status\": 400, \"body\": {\"error\": {\"message\": \"Unsupported value: "
                "'temperature' does not support 0 with this model\"}}},"
                " {\"status\": 400, \"body\": {\"error\": {\"message\": \"Unsupported "
                "parameter: 'max_tokens'; use 'max_completion_tokens' instead\"}}},"
                " {\"config\": {\"C\": 1}}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert_int_eq(r.attempts, 3);
    json_t *reqs = fake_requests();
    json_t *last = json_object_get(json_array_get(reqs, 2), "body");
    ck_assert_ptr_null(json_object_get(last, "temperature"));
    ck_assert_ptr_null(json_object_get(last, "max_tokens"));
    ck_assert_int_eq(json_int(last, "max_completion_tokens", 0), 1000);
    ck_assert_ptr_nonnull(json_object_get(last, "response_format"));
    json_decref(reqs);
    llm_response_release(&r);
}
END_TEST

START_TEST(test_key_redacted)
{
    static const char *const formats[] = {"openai", "anthropic"};
    for (size_t i = 0; i < 2; i++) {
        struct llm_provider *p = fake_provider(formats[i]);
        fake_script("[{\"fault\": \"echo_key\"}]");
        struct llm_response r;
        ck_assert_int_eq(call(p, &r), -1); /* call() checks that the key is absent */
        assert_error_has(&r, "HTTP 401: invalid api key");
        assert_error_has(&r, "[redacted]");
        llm_response_release(&r);
        teardown();
    }
}
END_TEST

struct worker_arg {
    struct llm_provider *p; /* shared provider */
    int rc;                 /* result of the call */
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    struct llm_response r;
    json_t *m = simple_messages();
    w->rc = llm_call(w->p, m, NULL, &r);
    json_decref(m);
    llm_response_release(&r);
    return NULL;
}

START_TEST(test_concurrency_cap)
{
    struct llm_provider *p = fake_provider("openai");
    p->max_concurrent = 2;
    fake_script("{\"steps\": [], \"default\": {\"config\": {\"C\": 1}, \"delay\": 0.3}}");
    pthread_t th[6];
    struct worker_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (struct worker_arg){p, -1};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].rc, 0);
    }
    json_t *stats = fake_json("GET", "/_stats", NULL);
    ck_assert_int_eq(json_int(stats, "requests", 0), 6);
    ck_assert_int_eq(json_int(stats, "max_in_flight", 0), 2);
    json_decref(stats);
}
END_TEST

static atomic_bool cancel_flag;

static void *cancel_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(&cancel_flag, true);
    return NULL;
}

START_TEST(test_cancel_during_wait)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"status\": 429, \"retry_after\": 30}, {\"config\": {\"C\": 1}}]");
    atomic_store(&cancel_flag, false);
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, NULL);
    struct llm_call_opts o;
    llm_call_opts_init(&o);
    o.cancel = &cancel_flag;
    json_t *m = simple_messages();
    struct llm_response r;
    int64_t t0 = time_mono_ms();
    ck_assert_int_eq(llm_call(p, m, &o, &r), -1);
    ck_assert_msg(time_mono_ms() - t0 < 5000, "cancel took too long");
    assert_error_has(&r, "cancelled");
    pthread_join(th, NULL);
    json_decref(m);
    llm_response_release(&r);
}
END_TEST

/* ---- the proposal engine ---- */

static const char svm_params[] =
    "[{\"name\": \"C\", \"type\": \"float\", \"low\": 0.001, \"high\": 1000, \"log\": true},"
    " {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\", "
    "\"linear\"]},"
    " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5, \"when\": {\"kernel\": "
    "[\"poly\"]}}]";

static void assert_audits_clean(const struct llm_proposal *pr)
{
    for (size_t i = 0; i < pr->n_audits; i++) {
        const struct llm_audit *a = &pr->audits[i];
        char *m = json_dumps(a->messages, JSON_COMPACT);
        assert_no_key("audit messages", m);
        free(m);
        assert_no_key("audit request", a->request);
        assert_no_key("audit reply", a->reply);
        assert_no_key("audit error", a->error);
        ck_assert_str_eq(a->provider, "fake");
        ck_assert_ptr_nonnull(a->messages);
    }
    assert_no_key("proposal error", pr->error);
}

static int propose(struct llm_provider *p, const struct spec *s, const struct llm_history *h,
                   struct llm_proposal *pr)
{
    int rc = llm_propose(p, s, h, NULL, pr);
    assert_audits_clean(pr);
    return rc;
}

START_TEST(test_propose_ok)
{
    struct llm_provider *p = fake_provider("openai");
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params, NULL);
    struct tl_history t;
    tl_history_init(&t);
    tl_history_done(&t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\"}", OBS_COMPLETED, 0.1, NULL, -1);
    fake_script("[{\"reply\": \"```json\\n{\\\"C\\\": 3, \\\"kernel\\\": \\\"poly\\\", "
                "\\\"degree\\\": 3}\\n```\", \"usage\": [500, 20]}]");
    struct llm_proposal pr;
    ck_assert_int_eq(propose(p, s, &t.h, &pr), 1);
    ck_assert_int_eq(json_array_size(pr.configs), 1);
    json_t *want = tl_json("{\"C\": 3.0, \"kernel\": \"poly\", \"degree\": 3}");
    ck_assert(json_same(json_array_get(pr.configs, 0), want));
    json_decref(want);
    ck_assert_int_eq(pr.n_audits, 1);
    ck_assert_int_eq(pr.tokens_in, 500);
    ck_assert_int_eq(pr.tokens_out, 20);
    struct llm_audit *a = &pr.audits[0];
    ck_assert_int_eq(a->n_configs, 1);
    ck_assert_int_eq(a->http_status, 200);
    ck_assert_str_eq(a->model, "m-test");
    ck_assert_ptr_null(a->error);
    ck_assert_ptr_null(pr.error);
    ck_assert_ptr_nonnull(strstr(a->reply, "```json"));
    /* the audit holds exactly the messages the server received */
    json_t *reqs = fake_requests();
    json_t *sent = json_object_get(json_object_get(json_array_get(reqs, 0), "body"), "messages");
    ck_assert(json_equal(sent, a->messages));
    json_decref(reqs);
    llm_proposal_release(&pr);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_propose_reask)
{
    struct llm_provider *p = fake_provider("anthropic");
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params, NULL);
    struct tl_history t;
    tl_history_init(&t);
    tl_history_done(&t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\"}", OBS_COMPLETED, 0.1, NULL, -1);
    fake_script("[{\"reply\": \"I suggest {\\\"C\\\": 5000, \\\"kernel\\\": \\\"rbf\\\"}\", "
                "\"usage\": [100, 10]},"
                " {\"config\": {\"C\": 1, \"kernel\": \"rbf\"}, \"usage\": [130, 10]},"
                " {\"config\": {\"C\": 2, \"kernel\": \"rbf\"}, \"usage\": [160, 10]}]");
    struct llm_proposal pr;
    ck_assert_int_eq(propose(p, s, &t.h, &pr), 1);
    ck_assert_int_eq(pr.n_audits, 3);
    ck_assert_msg(strstr(pr.audits[0].error, "C: \"5000\" is out of range"), "%s",
                  pr.audits[0].error);
    ck_assert_msg(strstr(pr.audits[1].error, "already evaluated as trial #0"), "%s",
                  pr.audits[1].error);
    ck_assert_ptr_null(pr.audits[2].error);
    ck_assert_int_eq(pr.tokens_in, 390);
    ck_assert_int_eq(pr.tokens_out, 30);
    /* the re-ask carries the bad reply and the reason */
    json_t *msgs = pr.audits[1].messages;
    size_t n = json_array_size(msgs);
    ck_assert_str_eq(json_str(json_array_get(msgs, n - 2), "role", ""), "assistant");
    ck_assert_str_eq(json_str(json_array_get(msgs, n - 2), "content", ""),
                     "I suggest {\"C\": 5000, \"kernel\": \"rbf\"}");
    const char *ask = json_str(json_array_get(msgs, n - 1), "content", "");
    ck_assert_msg(strstr(ask, "Your reply was invalid: C: \"5000\" is out of range") &&
                      strstr(ask, "Answer again with one JSON object only"),
                  "%s", ask);
    json_t *want = tl_json("{\"C\": 2.0, \"kernel\": \"rbf\"}");
    ck_assert(json_same(json_array_get(pr.configs, 0), want));
    json_decref(want);
    llm_proposal_release(&pr);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_propose_gives_up)
{
    struct llm_provider *p = fake_provider("openai");
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params, NULL);
    struct tl_history t;
    tl_history_init(&t);
    fake_script("{\"steps\": [], \"default\": {\"reply\": \"I cannot decide.\"}}");
    struct llm_proposal pr;
    ck_assert_int_eq(propose(p, s, &t.h, &pr), -1);
    ck_assert_int_eq(pr.n_audits, 3);
    ck_assert_int_eq(json_array_size(pr.configs), 0);
    ck_assert_msg(strstr(pr.error, "invalid reply: no JSON object"), "%s", pr.error);
    llm_proposal_release(&pr);

    /* a token limit stops the re-asks early */
    struct llm_propose_opts o;
    llm_propose_opts_init(&o);
    o.tokens_left = 1;
    fake_script("{\"steps\": [], \"default\": {\"reply\": \"I cannot decide.\"}}");
    ck_assert_int_eq(llm_propose(p, s, &t.h, &o, &pr), -1);
    ck_assert_int_eq(pr.n_audits, 1);
    llm_proposal_release(&pr);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_propose_call_fails)
{
    struct llm_provider *p = fake_provider("openai");
    p->max_retries = 1;
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params, NULL);
    struct tl_history t;
    tl_history_init(&t);
    fake_script("[{\"status\": 500}, {\"status\": 500}, {\"config\": {\"C\": 1, \"kernel\": "
                "\"rbf\"}}]");
    struct llm_proposal pr;
    ck_assert_int_eq(propose(p, s, &t.h, &pr), -1);
    /* one audit record per HTTP exchange, each with its own status */
    ck_assert_int_eq(pr.n_audits, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(pr.audits[i].http_status, 500);
        ck_assert_int_eq(pr.audits[i].attempt, (int)i + 1);
        ck_assert_msg(pr.audits[i].error && strstr(pr.audits[i].error, "HTTP 500"), "%s",
                      pr.audits[i].error);
    }
    ck_assert_msg(strstr(pr.error, "llm call failed: server error (HTTP 500)"), "%s", pr.error);
    llm_proposal_release(&pr);

    fake_script("[{\"fault\": \"echo_key\"}]");
    ck_assert_int_eq(propose(p, s, &t.h, &pr), -1);
    ck_assert_msg(strstr(pr.error, "[redacted]"), "%s", pr.error);
    llm_proposal_release(&pr);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_propose_batch_reasoning)
{
    struct llm_provider *p = fake_provider("openai");
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params,
                             "{\"batch\": 3, \"reasoning\": true, \"model\": \"m-study\", "
                             "\"temperature\": 0.5}");
    struct tl_history t;
    tl_history_init(&t);
    tl_history_pending(&t, 0, "{\"C\": 1.0, \"kernel\": \"rbf\"}");
    fake_script("[{\"reply\": \"Spread out over kernels.\\n{\\\"configs\\\": ["
                "{\\\"C\\\": 1, \\\"kernel\\\": \\\"rbf\\\"},"
                "{\\\"C\\\": 0.1, \\\"kernel\\\": \\\"linear\\\"},"
                "{\\\"C\\\": 10, \\\"kernel\\\": \\\"poly\\\", \\\"degree\\\": 2},"
                "{\\\"C\\\": 20, \\\"kernel\\\": \\\"rbf\\\"}]}\"}]");
    struct llm_proposal pr;
    /* the first repeats the pending trial; three remain */
    ck_assert_int_eq(propose(p, s, &t.h, &pr), 3);
    ck_assert_msg(pr.audits[0].error && strstr(pr.audits[0].error, "being evaluated now"), "%s",
                  pr.audits[0].error ? pr.audits[0].error : "(none)");
    json_t *reqs = fake_requests();
    json_t *body = json_object_get(json_array_get(reqs, 0), "body");
    /* the answer's schema: a reasoning string, then exactly 3 configurations */
    json_t *rf = json_object_get(body, "response_format");
    ck_assert_str_eq(json_str(rf, "type", ""), "json_schema");
    json_t *sch = json_object_get(json_object_get(rf, "json_schema"), "schema");
    ck_assert_str_eq(
        json_str(json_object_get(json_object_get(sch, "properties"), "reasoning"), "type", ""),
        "string");
    json_t *cf = json_object_get(json_object_get(sch, "properties"), "configs");
    ck_assert_int_eq(json_int(cf, "minItems", 0), 3);
    ck_assert_int_eq(json_int(cf, "maxItems", 0), 3);
    ck_assert_str_eq(json_str(body, "model", ""), "m-study");
    ck_assert(json_num(body, "temperature", -1) == 0.5);
    const char *user =
        json_str(json_array_get(json_object_get(body, "messages"), 1), "content", "");
    ck_assert_ptr_nonnull(strstr(user, "holding 3 different configurations"));
    ck_assert_ptr_nonnull(strstr(user, "in the \"reasoning\" field"));
    json_decref(reqs);
    llm_proposal_release(&pr);
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

/* A study run end to end against random valid replies: every proposal valid,
 * none repeated, the prompt bounded. */
static void long_study(const char *format, const char *llm)
{
    struct llm_provider *p = fake_provider(format);
    struct spec *s = tl_spec("long", "a long study", "loss", false, 60, svm_params, llm);
    char script[1024];
    snprintf(script, sizeof script,
             "{\"seed\": 3, \"steps\": [], \"default\": {\"mode\": "
             "\"random_valid\", \"space\": %s}}",
             svm_params);
    fake_script(script);
    struct tl_history t;
    tl_history_init(&t);
    struct rng r;
    rng_seed(&r, 11);
    size_t size20 = 0;
    for (long i = 0; i < 50; i++) {
        struct llm_proposal pr;
        int n = propose(p, s, &t.h, &pr);
        ck_assert_msg(n == 1, "trial %ld: %s", i, pr.error ? pr.error : "?");
        if (i == 20)
            size20 = strlen(pr.audits[0].request);
        if (i == 49) {
            size_t size50 = strlen(pr.audits[0].request);
            ck_assert_msg(size50 <= 2 * size20, "request grew from %zu to %zu bytes", size20,
                          size50);
        }
        json_t *cfg = json_incref(json_array_get(pr.configs, 0));
        for (size_t j = 0; j < t.h.n_done; j++)
            ck_assert(!json_same(cfg, t.done[j].params));
        tl_history_done_json(&t, i, cfg, OBS_COMPLETED, rng_uniform(&r));
        llm_proposal_release(&pr);
    }
    tl_history_release(&t);
    tl_spec_free(s);
}

START_TEST(test_propose_long_study)
{
    long_study("openai", NULL);
    teardown();
    long_study("anthropic", "{\"history\": \"chat\"}");
}
END_TEST

/* ---- structured outputs, reasoning, tokens ---- */

static const char small_schema[] =
    "{\"type\": \"object\", \"properties\": {\"C\": {\"type\": \"number\", \"minimum\": 0.001, "
    "\"maximum\": 1000}}, \"required\": [\"C\"], \"additionalProperties\": false}";

/* A provider on the fake server with a given structured dialect. */
static struct llm_provider *dialect_provider(const char *format, const char *structured)
{
    char err[256] = "", url[256];
    reg = llm_registry_new(err, sizeof err);
    snprintf(url, sizeof url, "%s/v1", fake_url);
    const char *kv[][2] = {{"format", format},        {"base_url", url},  {"model", "m-test"},
                           {"api_key", KEY},          {"timeout_s", "5"}, {"backoff_s", "0.02"},
                           {"structured", structured}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_msg(llm_config_section(reg, "provider d", kv[i][0], kv[i][1], err, sizeof err) ==
                          0,
                      "%s", err);
    ck_assert_msg(llm_registry_finish(reg, err, sizeof err) == 0, "%s", err);
    return llm_registry_get(reg, "d");
}

static int call_schema(struct llm_provider *p, const json_t *schema, struct llm_response *r)
{
    struct llm_call_opts o;
    llm_call_opts_init(&o);
    o.schema = schema;
    o.schema_strict = true;
    json_t *m = simple_messages();
    int rc = llm_call(p, m, &o, r);
    json_decref(m);
    assert_response_clean(r);
    return rc;
}

START_TEST(test_dialect_bodies)
{
    static const struct {
        const char *format, *structured, *name;
    } cases[] = {
        {"openai", "json_schema", "json_schema"},
        {"openai", "vllm", "guided_json"},
        {"openai", "ollama", "format"},
        {"openai", "json_object", "json_object"},
        {"openai", "none", "none"},
        {"anthropic", "tool", "tool"},
    };
    json_t *schema = tl_json(small_schema);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llm_provider *p = dialect_provider(cases[i].format, cases[i].structured);
        fake_script("[{\"config\": {\"C\": 1.5}}]");
        struct llm_response r;
        ck_assert_msg(call_schema(p, schema, &r) == 0, "%s: %s", cases[i].structured, r.error);
        json_t *ans = tl_json(r.text), *want = tl_json("{\"C\": 1.5}");
        ck_assert_msg(json_equal(ans, want), "%s", r.text);
        json_decref(ans);
        json_decref(want);
        ck_assert_int_eq(r.n_ex, 1);
        ck_assert_str_eq(r.ex[0].structured, cases[i].name);
        ck_assert_str_eq(json_str(r.ex[0].params, "structured", ""), cases[i].name);
        json_t *reqs = fake_requests();
        json_t *body = json_object_get(json_array_get(reqs, 0), "body");
        json_t *rf = json_object_get(body, "response_format");
        const char *sname = cases[i].structured;
        if (!strcmp(sname, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            ck_assert_str_eq(json_str(rf, "type", ""), "json_schema");
            ck_assert(json_is_true(json_object_get(js, "strict")));
            ck_assert(*json_str(js, "name", ""));
            ck_assert(json_equal(json_object_get(js, "schema"), schema));
        } else if (!strcmp(sname, "vllm")) {
            ck_assert(json_equal(json_object_get(body, "guided_json"), schema));
            ck_assert_ptr_null(rf);
        } else if (!strcmp(sname, "ollama")) {
            ck_assert(json_equal(json_object_get(body, "format"), schema));
            ck_assert_ptr_null(rf);
        } else if (!strcmp(sname, "json_object")) {
            ck_assert_str_eq(json_str(rf, "type", ""), "json_object");
            ck_assert_ptr_null(json_object_get(rf, "json_schema"));
        } else if (!strcmp(sname, "none")) {
            ck_assert_ptr_null(rf);
            ck_assert_ptr_null(json_object_get(body, "guided_json"));
            ck_assert_ptr_null(json_object_get(body, "format"));
        } else {
            json_t *tool = json_array_get(json_object_get(body, "tools"), 0);
            ck_assert(json_equal(json_object_get(tool, "input_schema"), schema));
            json_t *choice = json_object_get(body, "tool_choice");
            ck_assert_str_eq(json_str(choice, "type", ""), "tool");
            ck_assert_str_eq(json_str(choice, "name", ""), json_str(tool, "name", "?"));
            ck_assert_ptr_null(rf);
        }
        json_decref(reqs);
        llm_response_release(&r);
        teardown();
    }
    json_decref(schema);
}
END_TEST

/* Asks one call, expects its exchanges' constraints and statuses. */
static void expect_chain(struct llm_provider *p, const json_t *schema, const char *const *names,
                         const long *statuses, size_t n)
{
    struct llm_response r;
    ck_assert_msg(call_schema(p, schema, &r) == 0, "%s", r.error);
    ck_assert_int_eq(r.n_ex, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(r.ex[i].structured, names[i]);
        ck_assert_int_eq(r.ex[i].http_status, statuses[i]);
        ck_assert((statuses[i] == 200) == (r.ex[i].error == NULL));
    }
    llm_response_release(&r);
}

START_TEST(test_structured_fallback_chain)
{
    json_t *schema = tl_json(small_schema);
    static const long s400_200[] = {400, 200}, s400_400_200[] = {400, 400, 200}, s200[] = {200};
    /* json_schema refused: JSON mode, remembered */
    struct llm_provider *p = dialect_provider("openai", "json_schema");
    fake_script("{\"reject_json_schema\": true, \"steps\": [], \"default\": {\"config\": "
                "{\"C\": 1}}}");
    expect_chain(p, schema, (const char *[]){"json_schema", "json_object"}, s400_200, 2);
    expect_chain(p, schema, (const char *[]){"json_object"}, s200, 1);
    ck_assert_int_eq(llm_provider_level(p), LLM_LEVEL_OBJECT);
    teardown();
    /* both refused: the prompt alone, remembered */
    p = dialect_provider("openai", "json_schema");
    fake_script("{\"reject_json_schema\": true, \"reject_response_format\": true, \"steps\": [], "
                "\"default\": {\"config\": {\"C\": 1}}}");
    expect_chain(p, schema, (const char *[]){"json_schema", "json_object", "none"}, s400_400_200,
                 3);
    expect_chain(p, schema, (const char *[]){"none"}, s200, 1);
    teardown();
    /* another 400 is a failure of its own: the level stays */
    p = dialect_provider("openai", "json_schema");
    fake_script("[{\"status\": 400, \"body\": {\"error\": {\"message\": \"the context "
                "length is exceeded\"}}}]");
    struct llm_response r;
    ck_assert_int_eq(call_schema(p, schema, &r), -1);
    ck_assert_int_eq(r.n_ex, 1);
    ck_assert_int_eq(llm_provider_level(p), LLM_LEVEL_SCHEMA);
    llm_response_release(&r);
    teardown();
    /* vLLM's guided_json refused: JSON mode */
    p = dialect_provider("openai", "vllm");
    fake_script("{\"reject_json_schema\": true, \"steps\": [], \"default\": {\"config\": "
                "{\"C\": 1}}}");
    expect_chain(p, schema, (const char *[]){"guided_json", "json_object"}, s400_200, 2);
    teardown();
    /* Anthropic refusing the tool: the prompt alone */
    p = dialect_provider("anthropic", "tool");
    fake_script("{\"reject_json_schema\": true, \"steps\": [], \"default\": {\"config\": "
                "{\"C\": 1}}}");
    expect_chain(p, schema, (const char *[]){"tool", "none"}, s400_200, 2);
    expect_chain(p, schema, (const char *[]){"none"}, s200, 1);
    teardown();
    json_decref(schema);
}
END_TEST

START_TEST(test_reasoning_replies)
{
    struct spec *s = tl_spec("svm", "svm", "val_error", false, 20, svm_params, NULL);
    struct tl_history t;
    tl_history_init(&t);
    static const struct {
        const char *format, *step, *thought;
    } cases[] = {
        {"openai",
         "{\"config\": {\"C\": 2, \"kernel\": \"rbf\"}, \"think\": \"draft {\\\"C\\\": 999, "
         "\\\"kernel\\\": \\\"linear\\\"}\"}",
         "draft {\"C\": 999"},
        {"openai",
         "{\"config\": {\"C\": 2, \"kernel\": \"rbf\"}, \"reasoning\": \"{\\\"C\\\": 999, "
         "\\\"kernel\\\": \\\"linear\\\"} maybe\"}",
         "{\"C\": 999"},
        {"anthropic",
         "{\"config\": {\"C\": 2, \"kernel\": \"rbf\"}, \"reasoning\": \"{\\\"C\\\": 999, "
         "\\\"kernel\\\": \\\"linear\\\"} maybe\"}",
         "{\"C\": 999"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llm_provider *p = fake_provider(cases[i].format);
        char script[512];
        snprintf(script, sizeof script, "[%s]", cases[i].step);
        fake_script(script);
        struct llm_proposal pr;
        ck_assert_msg(propose(p, s, &t.h, &pr) == 1, "%zu: %s", i, pr.error);
        json_t *cfg = json_array_get(pr.configs, 0);
        ck_assert_msg(json_num(cfg, "C", 0) == 2 && !strcmp(json_str(cfg, "kernel", ""), "rbf"),
                      "case %zu took the draft", i);
        ck_assert_int_eq(pr.n_audits, 1);
        ck_assert_msg(pr.audits[0].reasoning && strstr(pr.audits[0].reasoning, cases[i].thought),
                      "case %zu: reasoning '%s'", i,
                      pr.audits[0].reasoning ? pr.audits[0].reasoning : "(none)");
        if (!strcmp(cases[i].format, "anthropic"))
            ck_assert_str_eq(pr.audits[0].structured, "tool");
        llm_proposal_release(&pr);
        teardown();
    }
    tl_history_release(&t);
    tl_spec_free(s);
}
END_TEST

START_TEST(test_estimated_tokens)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"config\": {\"C\": 1}, \"usage\": false}, {\"config\": {\"C\": 1}, "
                "\"usage\": [7, 3]}]");
    struct llm_response r;
    ck_assert_int_eq(call(p, &r), 0);
    /* "system" + "be brief" + "user" + "give a config" = 31 characters: 8 tokens */
    ck_assert(r.ex[0].tokens_estimated && r.tokens_estimated);
    ck_assert_int_eq(r.ex[0].tokens_in, 8);
    ck_assert_int_eq(r.ex[0].tokens_out, 2); /* {"C": 1} is 8 characters */
    llm_response_release(&r);
    ck_assert_int_eq(call(p, &r), 0);
    ck_assert(!r.ex[0].tokens_estimated && !r.tokens_estimated);
    ck_assert_int_eq(r.ex[0].tokens_in, 7);
    ck_assert_int_eq(r.ex[0].tokens_out, 3);
    llm_response_release(&r);
}
END_TEST

/* The key in a reply is redacted as a whole token; code quoting part of it is
 * kept verbatim. */
START_TEST(test_reply_key_whole_token)
{
    struct llm_provider *p = fake_provider("openai");
    fake_script("[{\"reply\": \"{\\\"C\\\": 1} with " KEY " and x = 'test-SECRET-01234'\"}]");
    json_t *m = simple_messages();
    struct llm_response r;
    ck_assert_int_eq(llm_call(p, m, NULL, &r), 0);
    ck_assert_str_eq(r.ex[0].reply, "{\"C\": 1} with [redacted] and x = 'test-SECRET-01234'");
    ck_assert_str_eq(r.text, "{\"C\": 1} with [redacted] and x = 'test-SECRET-01234'");
    json_decref(m);
    llm_response_release(&r);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("llm_client");
    TCase *tc = tcase_create("client");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_openai_ok);
    tcase_add_test(tc, test_anthropic_ok);
    tcase_add_test(tc, test_timeout_then_ok);
    tcase_add_test(tc, test_timeout_exhausted);
    tcase_add_test(tc, test_slow_drip_then_ok);
    tcase_add_test(tc, test_429_retry_after);
    tcase_add_test(tc, test_429_retry_after_capped);
    tcase_add_test(tc, test_429_counts_as_retry);
    tcase_add_test(tc, test_5xx_then_ok);
    tcase_add_test(tc, test_5xx_exhausted);
    tcase_add_test(tc, test_reset_then_ok);
    tcase_add_test(tc, test_4xx_not_retried);
    tcase_add_test(tc, test_bad_bodies);
    tcase_add_test(tc, test_bad_bodies_retried);
    tcase_add_test(tc, test_dialect_bodies);
    tcase_add_test(tc, test_structured_fallback_chain);
    tcase_add_test(tc, test_reasoning_replies);
    tcase_add_test(tc, test_estimated_tokens);
    tcase_add_test(tc, test_reply_key_whole_token);
    tcase_add_test(tc, test_json_mode_fallback);
    tcase_add_test(tc, test_refused_fields_fallback);
    tcase_add_test(tc, test_key_redacted);
    tcase_add_test(tc, test_concurrency_cap);
    tcase_add_test(tc, test_cancel_during_wait);
    suite_add_tcase(s, tc);
    tc = tcase_create("propose");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_propose_ok);
    tcase_add_test(tc, test_propose_reask);
    tcase_add_test(tc, test_propose_gives_up);
    tcase_add_test(tc, test_propose_call_fails);
    tcase_add_test(tc, test_propose_batch_reasoning);
    tcase_add_test(tc, test_propose_long_study);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_start();
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fake_stop();
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
