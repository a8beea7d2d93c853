#include <config.h>
#include "client.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "httpc.h"
#include "jsonutil.h"
#include "log.h"
#include "rng.h"
#include "timeutil.h"

#define ANTHROPIC_VERSION    "2023-06-01"
#define ANTHROPIC_MAX_TOKENS 4096
#define BACKOFF_CAP_S        60.0
#define ERROR_EXCERPT        300

/* What one HTTP attempt came to. */
enum outcome {
    OUT_OK,       /* a reply text */
    OUT_RETRY,    /* timeout, connection failure, 429 or 5xx: try again */
    OUT_FALLBACK, /* the server refused an optional field: resend without it */
    OUT_FAIL,     /* a definite failure: give up */
};

/* The request being retried and the fields it may drop. */
struct attempt {
    bool json_mode;   /* send response_format */
    bool temperature; /* send temperature */
    bool completion;  /* name the length cap max_completion_tokens, not max_tokens */
};

void llm_call_opts_init(struct llm_call_opts *o)
{
    memset(o, 0, sizeof *o);
    o->temperature = 0;
    o->json_mode = true;
}

void llm_response_release(struct llm_response *resp)
{
    free(resp->text);
    free(resp->model);
    free(resp->request);
    free(resp->error);
    memset(resp, 0, sizeof *resp);
}

static bool cancelled(const struct llm_call_opts *o)
{
    return o->cancel && atomic_load(o->cancel);
}

/* Sleep for s seconds in short slices; false when cancelled meanwhile. */
static bool nap(double s, const struct llm_call_opts *o)
{
    int64_t end = time_mono_ms() + (int64_t)(s * 1000);
    for (;;) {
        if (cancelled(o))
            return false;
        int64_t left = end - time_mono_ms();
        if (left <= 0)
            return true;
        if (left > 50)
            left = 50;
        struct timespec ts = {left / 1000, (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static json_t *openai_body(const struct llm_provider *p, const json_t *messages, const char *model,
                           const struct llm_call_opts *o, const struct attempt *a)
{
    json_t *body = json_pack("{s:s, s:O}", "model", model, "messages", messages);
    if (!body)
        return NULL;
    if (a->temperature)
        json_object_set_new(body, "temperature", json_real(o->temperature));
    if (p->max_output_tokens > 0)
        json_object_set_new(body, a->completion ? "max_completion_tokens" : "max_tokens",
                            json_integer(p->max_output_tokens));
    if (a->json_mode)
        json_object_set_new(body, "response_format", json_pack("{s:s}", "type", "json_object"));
    return body;
}

static json_t *anthropic_body(const struct llm_provider *p, const json_t *messages,
                              const char *model, const struct llm_call_opts *o,
                              const struct attempt *a)
{
    json_t *msgs = json_array();
    struct buf system;
    buf_init(&system);
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_str(m, "role", "user");
        const char *content = json_str(m, "content", "");
        if (!strcmp(role, "system")) {
            if (system.len)
                buf_puts(&system, "\n\n");
            buf_puts(&system, content);
        } else {
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", role, "content", content));
        }
    }
    long max_tokens = p->max_output_tokens > 0 ? p->max_output_tokens : ANTHROPIC_MAX_TOKENS;
    json_t *body = json_pack("{s:s, s:I, s:o}", "model", model, "max_tokens",
                             (json_int_t)max_tokens, "messages", msgs);
    if (body && system.len)
        json_object_set_new(body, "system", json_string(system.data));
    if (body && a->temperature)
        json_object_set_new(body, "temperature", json_real(o->temperature));
    buf_release(&system);
    return body;
}

/* The server's own error message from an error body, or a short excerpt. */
static void error_excerpt(const struct httpc_response *hr, char *out, size_t outlen)
{
    json_t *j = json_loadb(hr->body.data ? hr->body.data : "", hr->body.len, 0, NULL);
    const char *msg = NULL;
    if (j) {
        json_t *e = json_object_get(j, "error");
        if (json_is_string(e))
            msg = json_string_value(e);
        else
            msg = json_str(e, "message", NULL);
        if (!msg)
            msg = json_str(j, "message", NULL);
    }
    if (msg) {
        snprintf(out, outlen, "%.*s", ERROR_EXCERPT, msg);
    } else {
        size_t n = hr->body.len < ERROR_EXCERPT ? hr->body.len : ERROR_EXCERPT;
        snprintf(out, outlen, "%.*s", (int)n, hr->body.data ? hr->body.data : "");
    }
    for (char *s = out; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
    json_decref(j);
}

static long usage_get(const json_t *usage, const char *key)
{
    long long v = json_int(usage, key, 0);
    return v > 0 ? (long)v : 0;
}

/* Pull the reply text, tokens and model out of a 2xx body. */
static enum outcome parse_success(const struct llm_provider *p, const struct httpc_response *hr,
                                  struct llm_response *resp, char *err, size_t errlen)
{
    char perr[200];
    json_t *j =
        json_parse_text(hr->body.data ? hr->body.data : "", hr->body.len, perr, sizeof perr);
    if (!j) {
        snprintf(err, errlen, "the reply body is not valid JSON (%zu bytes, %s%s)", hr->body.len,
                 perr,
                 strstr(perr, "premature end") || strstr(perr, "end of file") ? ", truncated" : "");
        return OUT_FAIL;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "the reply body is not a JSON object");
        json_decref(j);
        return OUT_FAIL;
    }
    json_t *usage = json_object_get(j, "usage");
    const char *model = json_str(j, "model", NULL);
    if (model && *model) {
        free(resp->model);
        resp->model = strdup(model);
    }
    enum outcome out = OUT_FAIL;
    struct buf text;
    buf_init(&text);
    if (p->format == LLM_FORMAT_OPENAI) {
        resp->tokens_in += usage_get(usage, "prompt_tokens");
        resp->tokens_out += usage_get(usage, "completion_tokens");
        json_t *choices = json_object_get(j, "choices");
        if (!json_is_array(choices) || json_array_size(choices) == 0) {
            snprintf(err, errlen, "the reply has no choices");
            goto out;
        }
        json_t *choice = json_array_get(choices, 0);
        json_t *content = json_object_get(json_object_get(choice, "message"), "content");
        if (!json_is_string(content) || json_string_length(content) == 0) {
            const char *finish = json_str(choice, "finish_reason", NULL);
            snprintf(err, errlen, "the reply has no message content%s%s%s",
                     finish ? " (finish_reason '" : "", finish ? finish : "", finish ? "')" : "");
            goto out;
        }
        buf_append(&text, json_string_value(content), json_string_length(content));
    } else {
        resp->tokens_in += usage_get(usage, "input_tokens");
        resp->tokens_out += usage_get(usage, "output_tokens");
        json_t *content = json_object_get(j, "content");
        size_t i;
        json_t *block;
        json_array_foreach(content, i, block)
        {
            if (strcmp(json_str(block, "type", ""), "text"))
                continue;
            json_t *t = json_object_get(block, "text");
            if (json_is_string(t))
                buf_append(&text, json_string_value(t), json_string_length(t));
        }
        if (text.len == 0) {
            const char *stop = json_str(j, "stop_reason", NULL);
            snprintf(err, errlen, "the reply has no text content%s%s%s",
                     stop ? " (stop_reason '" : "", stop ? stop : "", stop ? "')" : "");
            goto out;
        }
    }
    resp->text = buf_steal(&text);
    out = resp->text ? OUT_OK : OUT_FAIL;
    if (!resp->text)
        snprintf(err, errlen, "out of memory");
out:
    buf_release(&text);
    json_decref(j);
    return out;
}

/* Classify one attempt; *wait_s gets the server's Retry-After when it gave one. */
static enum outcome classify(struct llm_provider *p, int rc, const struct httpc_response *hr,
                             const char *terr, struct attempt *a, struct llm_response *resp,
                             double *wait_s, char *err, size_t errlen)
{
    char excerpt[ERROR_EXCERPT + 8];
    *wait_s = -1;
    if (rc < 0) {
        if (hr->timed_out)
            snprintf(err, errlen, "no complete reply within %g s", p->timeout_s);
        else
            snprintf(err, errlen, "connection failed: %.400s", terr);
        return OUT_RETRY;
    }
    if (hr->truncated) {
        snprintf(err, errlen, "the reply body is larger than %zu bytes", p->max_body);
        return OUT_FAIL;
    }
    long st = hr->status;
    if (st >= 200 && st < 300)
        return parse_success(p, hr, resp, err, errlen);
    error_excerpt(hr, excerpt, sizeof excerpt);
    if (st == 429) {
        *wait_s = hr->retry_after_s;
        snprintf(err, errlen, "rate limited (HTTP 429): %s", excerpt);
        return OUT_RETRY;
    }
    if (st >= 500) {
        *wait_s = hr->retry_after_s;
        snprintf(err, errlen, "server error (HTTP %ld): %s", st, excerpt);
        return OUT_RETRY;
    }
    snprintf(err, errlen, "HTTP %ld: %s", st, excerpt);
    if (st == 400 || st == 422) {
        /* some OpenAI-compatible servers refuse JSON mode or a temperature */
        const char *b = hr->body.data ? hr->body.data : "";
        if (a->json_mode && strstr(b, "response_format")) {
            a->json_mode = false;
            atomic_store(&p->json_mode_rejected, true);
            return OUT_FALLBACK;
        }
        if (a->temperature && strstr(b, "temperature")) {
            a->temperature = false;
            return OUT_FALLBACK;
        }
        if (!a->completion && p->format == LLM_FORMAT_OPENAI && p->max_output_tokens > 0 &&
            strstr(b, "max_completion_tokens")) {
            a->completion = true;
            return OUT_FALLBACK;
        }
    }
    return OUT_FAIL;
}

static double backoff(const struct llm_provider *p, int retry, struct rng *r)
{
    double d = p->backoff_s * pow(2.0, retry) * (0.5 + rng_uniform(r));
    return d > BACKOFF_CAP_S ? BACKOFF_CAP_S : d;
}

static char *key_header(const struct llm_provider *p)
{
    if (p->format != LLM_FORMAT_ANTHROPIC || !p->api_key)
        return NULL;
    size_t n = strlen(p->api_key) + 16;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "x-api-key: %s", p->api_key);
    return h;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = 0;
    free(s);
}

int llm_call(struct llm_provider *p, const json_t *messages, const struct llm_call_opts *o,
             struct llm_response *resp)
{
    struct llm_call_opts defaults;
    if (!o) {
        llm_call_opts_init(&defaults);
        o = &defaults;
    }
    memset(resp, 0, sizeof *resp);
    int64_t t0 = time_mono_ms();
    char err[512] = "";
    const char *model = o->model && *o->model ? o->model : p->model;
    if (!model) {
        resp->error = strdup("no model: set llm.model in the study or a model for the provider");
        return -1;
    }
    resp->model = strdup(model);

    struct rng rng;
    rng_seed(&rng, (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)&rng);
    struct attempt a = {
        .json_mode = o->json_mode && p->json_mode && p->format == LLM_FORMAT_OPENAI &&
                     !atomic_load(&p->json_mode_rejected),
        .temperature = true,
    };
    const bool anthropic = p->format == LLM_FORMAT_ANTHROPIC;
    const char *path = anthropic ? "/messages" : "/chat/completions";
    char *xkey = key_header(p);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json",
                             anthropic ? "anthropic-version: " ANTHROPIC_VERSION : NULL, xkey,
                             NULL};
    struct httpc *c = httpc_new(p->base_url, anthropic ? NULL : p->api_key);
    if (!c) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    httpc_set_max_body(c, p->max_body);

    int retries = 0, fallbacks = 0;
    for (;;) {
        if (cancelled(o)) {
            snprintf(err, sizeof err, "cancelled");
            break;
        }
        json_t *body = anthropic ? anthropic_body(p, messages, model, o, &a)
                                 : openai_body(p, messages, model, o, &a);
        free(resp->request);
        resp->request = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        if (!resp->request) {
            snprintf(err, sizeof err, "cannot encode the request");
            break;
        }
        resp->json_mode = a.json_mode;

        struct httpc_response hr;
        httpc_response_init(&hr);
        char terr[512] = "";
        llm_provider_acquire(p);
        int rc = httpc_request(c, "POST", path, resp->request, strlen(resp->request), headers,
                               (long)(p->timeout_s * 1000), &hr, terr, sizeof terr);
        llm_provider_release(p);
        resp->attempts++;
        resp->http_status = hr.status;
        double wait_s;
        err[0] = '\0';
        enum outcome out = classify(p, rc, &hr, terr, &a, resp, &wait_s, err, sizeof err);
        httpc_response_release(&hr);
        if (out == OUT_OK) {
            err[0] = '\0';
            break;
        }
        if (out == OUT_FALLBACK && fallbacks++ < 3)
            continue;
        if (out != OUT_RETRY || retries >= p->max_retries)
            break;
        double d = wait_s >= 0 ? fmin(wait_s, p->retry_after_cap_s) : backoff(p, retries, &rng);
        llm_provider_redact(p, err);
        log_debug("llm provider '%s': attempt %d failed (%s), retrying in %.2f s", p->name,
                  resp->attempts, err, d);
        retries++;
        if (!nap(d, o)) {
            snprintf(err, sizeof err, "cancelled");
            break;
        }
    }

out:
    if (!err[0] && !resp->text)
        snprintf(err, sizeof err, "no reply");
    if (err[0]) {
        size_t n = strlen(err);
        if (resp->attempts > 1 && n + 40 < sizeof err)
            snprintf(err + n, sizeof err - n, " (after %d attempts)", resp->attempts);
        llm_provider_redact(p, err);
        resp->error = strdup(err);
        free(resp->text);
        resp->text = NULL;
    }
    llm_provider_redact(p, resp->text);
    httpc_free(c);
    wipe_free(xkey);
    resp->latency_ms = (double)(time_mono_ms() - t0);
    return resp->error ? -1 : 0;
}
