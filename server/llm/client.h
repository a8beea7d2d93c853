#ifndef LLM_CLIENT_H
#define LLM_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "provider.h"

/* One chat exchange with a provider: OpenAI chat completions
 * (POST {base_url}/chat/completions) or Anthropic messages
 * (POST {base_url}/messages). Timeouts, connection failures, 429 (honouring
 * Retry-After up to the provider's cap) and 5xx are retried with exponential
 * backoff and jitter, at most max_retries times; every HTTP attempt holds one of
 * the provider's concurrency slots. A server that refuses response_format or
 * temperature is asked once more without it (and response_format is not sent
 * to it again). The API key never appears in an error, a log line or the reply
 * kept. Thread-safe: each call makes its own HTTP client. */

struct llm_call_opts {
    const char *model;         /* borrowed model name, or NULL for the provider's */
    double temperature;        /* sampling temperature (0 for the paper's setting) */
    bool json_mode;            /* ask OpenAI-format servers for a JSON object reply */
    const atomic_bool *cancel; /* borrowed; when it becomes true the call gives up
                                  before its next attempt or during a wait; may be NULL */
};

struct llm_response {
    char *text;        /* owned reply text, NULL when the call failed */
    char *model;       /* owned: the model the server named, else the one asked for */
    long tokens_in;    /* prompt tokens the server reported (all attempts) */
    long tokens_out;   /* completion tokens the server reported (all attempts) */
    double latency_ms; /* wall time of the whole call, retries and waits included */
    long http_status;  /* status of the last attempt, 0 when no response arrived */
    int attempts;      /* HTTP requests made */
    bool json_mode;    /* the last request asked for a JSON object reply */
    char *request;     /* owned JSON text of the last request body (holds no key) */
    char *error;       /* owned message when the call failed, else NULL */
};

/* Default options: provider's model, temperature 0, JSON mode on. */
void llm_call_opts_init(struct llm_call_opts *o);

/* Send messages (borrowed JSON array of {"role": "system"|"user"|"assistant",
 * "content": "..."}) to provider p and fill resp (which the caller releases with
 * llm_response_release() in every case). Returns 0 when a reply text arrived,
 * -1 with resp->error set otherwise. */
int llm_call(struct llm_provider *p, const json_t *messages, const struct llm_call_opts *o,
             struct llm_response *resp);
/* Free what a response owns; the struct may be filled again. */
void llm_response_release(struct llm_response *resp);

#endif
