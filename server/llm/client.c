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
#define REPLY_KEEP           (256 * 1024) /* bytes of an unreadable body kept verbatim */
#define TOOL_NAME            "propose_configuration"
#define CHARS_PER_TOKEN      4

/* What one HTTP attempt came to. */
enum outcome {
    OUT_OK,       /* an answer */
    OUT_RETRY,    /* timeout, connection failure, 429, 5xx, unreadable 2xx: try again */
    OUT_FALLBACK, /* the server refused an optional field: resend without it */
    OUT_FAIL,     /* a definite failure: give up */
};

/* The request being retried and the fields it may drop. */
struct attempt {
    enum llm_level level; /* structure asked for */
    bool temperature;     /* send temperature */
    bool completion;      /* name the length cap max_completion_tokens, not max_tokens */
};

void llm_call_opts_init(struct llm_call_opts *o)
{
    memset(o, 0, sizeof *o);
    o->temperature = 0;
    o->json_mode = true;
}

void llm_exchange_release(struct llm_exchange *x)
{
    free(x->error);
    free(x->model_requested);
    free(x->model);
    json_decref(x->params);
    free(x->request);
    free(x->reply);
    free(x->reasoning);
    memset(x, 0, sizeof *x);
}

void llm_response_release(struct llm_response *resp)
{
    free(resp->text);
    free(resp->reasoning);
    free(resp->model);
    free(resp->request);
    free(resp->error);
    for (size_t i = 0; i < resp->n_ex; i++)
        llm_exchange_release(&resp->ex[i]);
    free(resp->ex);
    memset(resp, 0, sizeof *resp);
}

int llm_split_reasoning(const char *content, char **answer, char **reasoning)
{
    *answer = *reasoning = NULL;
    static const char open_tag[] = "<think>", close_tag[] = "</think>";
    const char *last_close = NULL;
    for (const char *c = strstr(content, close_tag); c; c = strstr(c + 1, close_tag))
        last_close = c;
    const char *open = strstr(content, open_tag);
    const char *rest = content;
    struct buf r;
    buf_init(&r);
    if (last_close) {
        /* everything up to the last closing tag is reasoning, tags dropped */
        const char *from = content;
        if (open && open < last_close)
            from = open + sizeof open_tag - 1;
        for (const char *p = from; p < last_close;) {
            const char *t = strstr(p, "<think>");
            const char *u = strstr(p, "</think>");
            const char *next = t && t < last_close ? t : NULL;
            if (u && u < last_close && (!next || u < next))
                next = u;
            if (!next) {
                buf_append(&r, p, (size_t)(last_close - p));
                break;
            }
            buf_append(&r, p, (size_t)(next - p));
            p = next + (next == t ? sizeof open_tag - 1 : sizeof close_tag - 1);
        }
        rest = last_close + sizeof close_tag - 1;
    } else if (open) {
        /* reasoning never closed: no answer yet */
        buf_puts(&r, open + sizeof open_tag - 1);
        rest = "";
    }
    while (*rest == ' ' || *rest == '\n' || *rest == '\r' || *rest == '\t')
        rest++;
    *answer = strdup(rest);
    if (r.len) {
        /* trim the blank lines around the reasoning */
        size_t a = 0, b = r.len;
        while (a < b && strchr(" \n\r\t", r.data[a]))
            a++;
        while (b > a && strchr(" \n\r\t", r.data[b - 1]))
            b--;
        *reasoning = b > a ? strndup(r.data + a, b - a) : NULL;
    }
    buf_release(&r);
    if (!*answer) {
        free(*reasoning);
        *reasoning = NULL;
        return -1;
    }
    return 0;
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

/* The name of the constraint a request at level carries in dialect d. */
static const char *structured_name(enum llm_dialect d, enum llm_level level)
{
    if (level == LLM_LEVEL_PROMPT || d == LLM_DIALECT_NONE)
        return "none";
    if (d == LLM_DIALECT_TOOL)
        return "tool";
    if (d == LLM_DIALECT_OLLAMA)
        return level == LLM_LEVEL_SCHEMA ? "format" : "format_json";
    if (level == LLM_LEVEL_OBJECT || d == LLM_DIALECT_JSON_OBJECT)
        return "json_object";
    return d == LLM_DIALECT_VLLM ? "guided_json" : "json_schema";
}

/* Put the constraint of level into an OpenAI-format body. */
static void openai_constraint(json_t *body, const struct llm_provider *p,
                              const struct llm_call_opts *o, enum llm_level level)
{
    if (level == LLM_LEVEL_PROMPT)
        return;
    if (level == LLM_LEVEL_SCHEMA && o->schema) {
        switch (p->dialect) {
        case LLM_DIALECT_JSON_SCHEMA:
            json_object_set_new(body, "response_format",
                                json_pack("{s:s, s:{s:s, s:b, s:O}}", "type", "json_schema",
                                          "json_schema", "name", "hpo_answer", "strict",
                                          o->schema_strict, "schema", o->schema));
            return;
        case LLM_DIALECT_VLLM:
            json_object_set_new(body, "guided_json", json_deep_copy(o->schema));
            return;
        case LLM_DIALECT_OLLAMA:
            json_object_set_new(body, "format", json_deep_copy(o->schema));
            return;
        default:
            break;
        }
    }
    if (p->dialect == LLM_DIALECT_OLLAMA)
        json_object_set_new(body, "format", json_string("json"));
    else
        json_object_set_new(body, "response_format", json_pack("{s:s}", "type", "json_object"));
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
    openai_constraint(body, p, o, a->level);
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
    if (body && a->level == LLM_LEVEL_SCHEMA && o->schema && p->dialect == LLM_DIALECT_TOOL) {
        json_object_set_new(body, "tools",
                            json_pack("[{s:s, s:s, s:O}]", "name", TOOL_NAME, "description",
                                      "Submit the configuration(s) to evaluate next.",
                                      "input_schema", o->schema));
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s, s:s}", "type", "tool", "name", TOOL_NAME));
    }
    buf_release(&system);
    return body;
}

/* The request parameters kept in the audit log. */
static json_t *request_params(const json_t *body, const char *structured)
{
    json_t *o = json_object();
    static const char *const keys[] = {"model", "temperature", "max_tokens",
                                       "max_completion_tokens"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    json_object_set_new(o, "structured", json_string(structured));
    return o;
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

static long usage_get(const json_t *usage, const char *key, bool *found)
{
    json_t *v = json_object_get(usage, key);
    if (!json_is_integer(v))
        return 0;
    *found = true;
    long long n = json_integer_value(v);
    return n > 0 ? (long)n : 0;
}

static long estimate(size_t chars)
{
    return (long)((chars + CHARS_PER_TOKEN - 1) / CHARS_PER_TOKEN);
}

/* Characters of the message contents sent. */
static size_t messages_chars(const json_t *messages)
{
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        n += strlen(json_str(m, "role", ""));
        n += strlen(json_str(m, "content", ""));
    }
    return n;
}

static void append_text(struct buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        if (b->len)
            buf_puts(b, "\n\n");
        buf_append(b, json_string_value(v), json_string_length(v));
    }
}

/* Pull the answer, reasoning, tokens and model out of a 2xx body into x (the
 * exchange) and resp (answer and reasoning). */
static enum outcome parse_success(const struct llm_provider *p, const struct httpc_response *hr,
                                  const json_t *messages, struct llm_exchange *x,
                                  struct llm_response *resp, char *err, size_t errlen)
{
    char perr[200];
    json_t *j =
        json_parse_text(hr->body.data ? hr->body.data : "", hr->body.len, perr, sizeof perr);
    if (!j || !json_is_object(j)) {
        if (j)
            snprintf(err, errlen, "the reply body is not a JSON object");
        else
            snprintf(err, errlen, "the reply body is not valid JSON (%zu bytes, %s%s)",
                     hr->body.len, perr,
                     strstr(perr, "premature end") || strstr(perr, "end of file") ? ", truncated"
                                                                                  : "");
        json_decref(j);
        if (hr->body.data)
            x->reply = strndup(hr->body.data, REPLY_KEEP);
        return OUT_RETRY;
    }
    json_t *usage = json_object_get(j, "usage");
    const char *model = json_str(j, "model", NULL);
    if (model && *model)
        x->model = strdup(model);
    enum outcome out = OUT_FAIL;
    struct buf content, reasoning;
    buf_init(&content);
    buf_init(&reasoning);
    bool have_usage = false, tool = false;
    if (p->format == LLM_FORMAT_OPENAI) {
        x->tokens_in = usage_get(usage, "prompt_tokens", &have_usage);
        x->tokens_out = usage_get(usage, "completion_tokens", &have_usage);
        json_t *choices = json_object_get(j, "choices");
        if (!json_is_array(choices) || json_array_size(choices) == 0) {
            snprintf(err, errlen, "the reply has no choices");
            goto out;
        }
        json_t *choice = json_array_get(choices, 0);
        json_t *msg = json_object_get(choice, "message");
        append_text(&reasoning, json_object_get(msg, "reasoning_content"));
        append_text(&reasoning, json_object_get(msg, "reasoning"));
        json_t *c = json_object_get(msg, "content");
        if (json_is_string(c))
            buf_append(&content, json_string_value(c), json_string_length(c));
        if (content.len == 0) {
            const char *finish = json_str(choice, "finish_reason", NULL);
            snprintf(err, errlen, "the reply has no message content%s%s%s",
                     finish ? " (finish_reason '" : "", finish ? finish : "", finish ? "')" : "");
            goto out;
        }
    } else {
        x->tokens_in = usage_get(usage, "input_tokens", &have_usage);
        x->tokens_out = usage_get(usage, "output_tokens", &have_usage);
        size_t i;
        json_t *block;
        json_array_foreach(json_object_get(j, "content"), i, block)
        {
            const char *type = json_str(block, "type", "");
            if (!strcmp(type, "thinking")) {
                append_text(&reasoning, json_object_get(block, "thinking"));
            } else if (!strcmp(type, "text") && !tool) {
                json_t *t = json_object_get(block, "text");
                if (json_is_string(t))
                    buf_append(&content, json_string_value(t), json_string_length(t));
            } else if (!strcmp(type, "tool_use") &&
                       json_is_object(json_object_get(block, "input"))) {
                /* the forced tool call's input is the answer; text around it is commentary */
                char *in =
                    json_dumps(json_object_get(block, "input"), JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (in) {
                    if (content.len) {
                        if (reasoning.len)
                            buf_puts(&reasoning, "\n\n");
                        buf_append(&reasoning, content.data, content.len);
                    }
                    buf_release(&content);
                    buf_init(&content);
                    buf_puts(&content, in);
                    free(in);
                    tool = true;
                }
            }
        }
        if (content.len == 0) {
            const char *stop = json_str(j, "stop_reason", NULL);
            snprintf(err, errlen, "the reply has no text content%s%s%s",
                     stop ? " (stop_reason '" : "", stop ? stop : "", stop ? "')" : "");
            goto out;
        }
    }
    x->reply = strdup(content.data);
    char *answer = NULL, *inline_reasoning = NULL;
    if (!x->reply || llm_split_reasoning(content.data, &answer, &inline_reasoning) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (inline_reasoning) {
        if (reasoning.len)
            buf_puts(&reasoning, "\n\n");
        buf_puts(&reasoning, inline_reasoning);
        free(inline_reasoning);
    }
    if (reasoning.len)
        x->reasoning = strdup(reasoning.data);
    if (!*answer) {
        snprintf(err, errlen, "the reply holds reasoning but no answer after it");
        free(answer);
        goto out;
    }
    free(resp->text);
    resp->text = answer;
    free(resp->reasoning);
    resp->reasoning = x->reasoning ? strdup(x->reasoning) : NULL;
    out = OUT_OK;
out:
    if (!have_usage) {
        x->tokens_in = estimate(messages_chars(messages));
        x->tokens_out = estimate(content.len + reasoning.len);
        x->tokens_estimated = true;
    }
    if (out != OUT_OK && !x->reply)
        x->reply = hr->body.data ? strndup(hr->body.data, REPLY_KEEP) : NULL;
    buf_release(&content);
    buf_release(&reasoning);
    json_decref(j);
    return out;
}

/* Whether a 400 body refuses the structured-output field the request sent
 * (named as the dialect names it, so that other 400s do not count). */
static bool refuses_structure(const struct llm_provider *p, enum llm_level level, const char *b)
{
    static const char *const openai[] = {"response_format", "json_schema", "schema", NULL};
    static const char *const vllm[] = {"guided", "response_format", "schema", NULL};
    static const char *const ollama[] = {"format", "schema", NULL};
    static const char *const tool[] = {"tool", "schema", NULL};
    const char *const *words = openai;
    if (p->dialect == LLM_DIALECT_OLLAMA)
        words = ollama;
    else if (p->dialect == LLM_DIALECT_TOOL)
        words = tool;
    else if (p->dialect == LLM_DIALECT_VLLM && level == LLM_LEVEL_SCHEMA)
        words = vllm;
    for (size_t i = 0; words[i]; i++)
        if (strstr(b, words[i]))
            return true;
    return false;
}

/* Classify one attempt; *wait_s gets the server's Retry-After when it gave one. */
static enum outcome classify(struct llm_provider *p, int rc, const struct httpc_response *hr,
                             const char *terr, const json_t *messages, struct attempt *a,
                             struct llm_exchange *x, struct llm_response *resp, double *wait_s,
                             char *err, size_t errlen)
{
    char excerpt[ERROR_EXCERPT + 8];
    *wait_s = -1;
    if (rc < 0) {
        if (hr->timed_out)
            snprintf(err, errlen, "no complete reply within %g s", p->timeout_s);
        else
            snprintf(err, errlen, "connection failed: %.400s", terr);
        if (hr->body.len)
            x->reply = strndup(hr->body.data, REPLY_KEEP);
        return OUT_RETRY;
    }
    if (hr->truncated) {
        snprintf(err, errlen, "the reply body is larger than %zu bytes", p->max_body);
        return OUT_FAIL;
    }
    long st = hr->status;
    if (st >= 200 && st < 300)
        return parse_success(p, hr, messages, x, resp, err, errlen);
    if (hr->body.len)
        x->reply = strndup(hr->body.data, REPLY_KEEP);
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
        const char *b = hr->body.data ? hr->body.data : "";
        if (a->level > LLM_LEVEL_PROMPT && strcmp(x->structured, "none") &&
            refuses_structure(p, a->level, b)) {
            llm_provider_refused(p, a->level);
            enum llm_level now = llm_provider_level(p);
            a->level = now < a->level ? now : a->level - 1;
            if (p->dialect == LLM_DIALECT_TOOL && a->level == LLM_LEVEL_OBJECT)
                a->level = LLM_LEVEL_PROMPT;
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

static struct llm_exchange *exchange_add(struct llm_response *resp)
{
    struct llm_exchange *v = realloc(resp->ex, (resp->n_ex + 1) * sizeof *v);
    if (!v)
        return NULL;
    resp->ex = v;
    struct llm_exchange *x = &v[resp->n_ex++];
    memset(x, 0, sizeof *x);
    return x;
}

/* The level a call starts at: the provider's, capped by what the call allows. */
static enum llm_level start_level(const struct llm_provider *p, const struct llm_call_opts *o)
{
    enum llm_level l = llm_provider_level(p);
    if (!o->json_mode)
        return LLM_LEVEL_PROMPT;
    if (!o->schema && l > LLM_LEVEL_OBJECT)
        l = LLM_LEVEL_OBJECT;
    if (p->dialect == LLM_DIALECT_TOOL && l == LLM_LEVEL_OBJECT)
        l = LLM_LEVEL_PROMPT;
    return l;
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
    resp->structured = "none";

    struct rng rng;
    rng_seed(&rng, (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)&rng);
    struct attempt a = {.level = start_level(p, o), .temperature = true};
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
        struct llm_exchange *x = body ? exchange_add(resp) : NULL;
        if (!x) {
            json_decref(body);
            snprintf(err, sizeof err, "cannot encode the request");
            break;
        }
        x->structured = structured_name(p->dialect, a.level);
        x->request = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        x->params = request_params(body, x->structured);
        x->model_requested = strdup(model);
        json_decref(body);
        if (!x->request) {
            snprintf(err, sizeof err, "cannot encode the request");
            break;
        }
        free(resp->request);
        resp->request = strdup(x->request);
        resp->structured = x->structured;

        struct httpc_response hr;
        httpc_response_init(&hr);
        char terr[512] = "";
        llm_provider_acquire(p);
        x->at_ms = time_now_ms();
        int64_t ta = time_mono_ms();
        int rc = httpc_request(c, "POST", path, x->request, strlen(x->request), headers,
                               (long)(p->timeout_s * 1000), &hr, terr, sizeof terr);
        x->latency_ms = (double)(time_mono_ms() - ta);
        llm_provider_release(p);
        resp->attempts++;
        resp->http_status = hr.status;
        x->http_status = hr.status;
        double wait_s;
        err[0] = '\0';
        enum outcome out =
            classify(p, rc, &hr, terr, messages, &a, x, resp, &wait_s, err, sizeof err);
        httpc_response_release(&hr);
        resp->tokens_in += x->tokens_in;
        resp->tokens_out += x->tokens_out;
        resp->tokens_estimated = resp->tokens_estimated || x->tokens_estimated;
        if (x->model) {
            free(resp->model);
            resp->model = strdup(x->model);
        }
        llm_provider_redact(p, x->reply);
        llm_provider_redact(p, x->reasoning);
        if (out == OUT_OK) {
            err[0] = '\0';
            break;
        }
        llm_provider_redact(p, err);
        x->error = strdup(err);
        if (out == OUT_FALLBACK && fallbacks++ < 4)
            continue;
        if (out != OUT_RETRY || retries >= p->max_retries) {
            if (out == OUT_RETRY && wait_s > 0)
                resp->retry_after_s = fmin(wait_s, p->retry_after_cap_s);
            break;
        }
        double d = wait_s >= 0 ? fmin(wait_s, p->retry_after_cap_s) : backoff(p, retries, &rng);
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
    llm_provider_redact(p, resp->reasoning);
    httpc_free(c);
    wipe_free(xkey);
    resp->latency_ms = (double)(time_mono_ms() - t0);
    return resp->error ? -1 : 0;
}
