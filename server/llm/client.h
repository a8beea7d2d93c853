#ifndef LLM_CLIENT_H
#define LLM_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "provider.h"

/* One chat call to a provider: OpenAI chat completions
 * (POST {base_url}/chat/completions) or Anthropic messages
 * (POST {base_url}/messages). Timeouts, connection failures, 429 (honouring
 * Retry-After up to the provider's cap), 5xx and 2xx bodies that are
 * truncated or not JSON are retried with exponential backoff and jitter, at
 * most max_retries times; every HTTP attempt holds one of the provider's
 * concurrency slots.
 *
 * Structured outputs: with a schema, the reply is constrained to it in the
 * provider's dialect (provider.h): OpenAI response_format json_schema, vLLM
 * guided_json, Ollama format, or for Anthropic a forced tool call whose input
 * is the answer. A 400 (or 422) refusing it is answered by asking again one
 * level lower (schema, then JSON object mode, then the prompt alone); the
 * provider remembers the level for later calls. A server that refuses a
 * temperature or wants max_completion_tokens is asked again without it.
 *
 * Reasoning models: reasoning in <think>...</think> (or everything before a
 * lone </think>), in an OpenAI-style reasoning_content or reasoning field, or
 * in Anthropic thinking blocks is kept apart; the answer is the final part
 * alone, so that a draft inside the reasoning is never read as the answer.
 *
 * Every HTTP attempt is reported as one struct llm_exchange, in order: what was
 * sent, what came back verbatim, the status, the error, tokens (as reported,
 * or estimated at 4 characters a token and marked so when the reply has no
 * usage). The API key never appears in an error, a log line or a kept text
 * (redacted as a whole token). Thread-safe: each call makes its own HTTP
 * client. */

struct llm_call_opts {
    const char *model;         /* borrowed model name, or NULL for the provider's */
    double temperature;        /* sampling temperature (0 for the paper's setting) */
    bool json_mode;            /* the answer is one JSON value: JSON mode may be asked */
    const json_t *schema;      /* borrowed JSON Schema of the answer, or NULL */
    bool schema_strict;        /* the schema fits OpenAI's strict mode */
    const atomic_bool *cancel; /* borrowed; when it becomes true the call gives up
                                  before its next attempt or during a wait; may be NULL */
};

/* One HTTP attempt, as the audit log keeps it. */
struct llm_exchange {
    int64_t at_ms;          /* wall-clock start, ms since the epoch */
    double latency_ms;      /* this attempt alone */
    long http_status;       /* 0 when no response arrived */
    char *error;            /* owned: why this attempt failed, or NULL */
    long tokens_in;         /* prompt tokens, reported or estimated */
    long tokens_out;        /* completion tokens (reasoning included) */
    bool tokens_estimated;  /* the reply had no usage: the counts are estimates */
    char *model_requested;  /* owned model asked for */
    char *model;            /* owned model that answered, or NULL */
    json_t *params;         /* owned request parameters: {"model", "temperature",
                               "max_tokens", "structured"} (absent ones left out) */
    const char *structured; /* static name of the constraint sent: "json_schema",
                               "json_object", "guided_json", "format", "format_json",
                               "tool" or "none" */
    char *request;          /* owned JSON text of the request body (holds no key) */
    char *reply;            /* owned: the reply verbatim (message content, tool input
                               or, when none could be read, the body), or NULL */
    char *reasoning;        /* owned reasoning text kept apart, or NULL */
};

struct llm_response {
    char *text;              /* owned answer (final part), NULL when the call failed */
    char *reasoning;         /* owned reasoning of the answering attempt, or NULL */
    char *model;             /* owned: the model the server named, else the one asked for */
    long tokens_in;          /* prompt tokens of all attempts */
    long tokens_out;         /* completion tokens of all attempts */
    bool tokens_estimated;   /* some count is an estimate */
    double latency_ms;       /* wall time of the whole call, retries and waits included */
    long http_status;        /* status of the last attempt, 0 when no response arrived */
    int attempts;            /* HTTP requests made (= n_exchanges) */
    const char *structured;  /* constraint of the last request (see llm_exchange) */
    char *request;           /* owned JSON text of the last request body (holds no key) */
    char *error;             /* owned message when the call failed, else NULL */
    struct llm_exchange *ex; /* owned array: every attempt, in order */
    size_t n_ex;             /* entries in ex */
    double retry_after_s;    /* the last attempt's Retry-After (capped by the provider's
                                retry_after_cap_s) when the call failed on it, else 0:
                                the next call should not start before it runs out */
};

/* Default options: provider's model, temperature 0, JSON mode on, no schema. */
void llm_call_opts_init(struct llm_call_opts *o);

/* Send messages (borrowed JSON array of {"role": "system"|"user"|"assistant",
 * "content": "..."}) to provider p and fill resp (which the caller releases with
 * llm_response_release() in every case). Returns 0 when an answer arrived,
 * -1 with resp->error set otherwise. */
int llm_call(struct llm_provider *p, const json_t *messages, const struct llm_call_opts *o,
             struct llm_response *resp);
/* Free what a response owns; the struct may be filled again. */
void llm_response_release(struct llm_response *resp);
/* Free what an exchange owns and clear it. */
void llm_exchange_release(struct llm_exchange *x);

/* Split a message content (borrowed) into its reasoning (<think>...</think>
 * blocks, or all before a lone closing tag) and the answer after it: new
 * strings in *answer and *reasoning (NULL when there is none). An unclosed
 * <think> leaves an empty answer. 0, or -1 when out of memory. */
int llm_split_reasoning(const char *content, char **answer, char **reasoning);

#endif
