#ifndef LLM_PROVIDER_H
#define LLM_PROVIDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* LLM providers: where and how the daemon calls a language model. The provider
 * called "default" may come from the environment alone (HPOD_LLM_FORMAT,
 * HPOD_LLM_BASE_URL, HPOD_LLM_MODEL, HPOD_LLM_API_KEY); others come from
 * "[provider NAME]" sections of the daemon's config file, and "[price MODEL]"
 * sections give token prices for cost figures.
 *
 * Config file sections handled here (keys are "key = value" lines):
 *
 *     [provider NAME]
 *     format = openai | anthropic      (default openai)
 *     base_url = http://127.0.0.1:8000/v1
 *     model = NAME                     (a study's llm.model overrides it)
 *     api_key = SECRET                 or  api_key_env = VARIABLE
 *     timeout_s = 120                  per HTTP attempt
 *     max_concurrent = 4               calls in flight to this provider
 *     max_retries = 3                  extra attempts after timeouts, 429, 5xx
 *     backoff_s = 1                    first backoff delay, doubled per retry
 *     max_output_tokens = 4096         reply length cap: Anthropic's max_tokens (4096
 *                                      when unset); sent to OpenAI servers only when set
 *     structured = json_schema         how replies are constrained to the space's JSON
 *                                      Schema: json_schema (OpenAI response_format,
 *                                      also llama.cpp), json_object (JSON mode only),
 *                                      vllm (guided_json), ollama (its "format"
 *                                      field), tool (Anthropic forced tool call), none;
 *                                      default json_schema for openai, tool for anthropic
 *     json_mode = false                the same as structured = none (older key)
 *
 *     [price MODEL]
 *     input_per_mtok = 2.5             currency units per million prompt tokens
 *     output_per_mtok = 10             currency units per million completion tokens
 *
 * A "[provider default]" section starts from the environment's values, if any,
 * and overrides the keys it names. After configuration the registry is read-only
 * and may be shared by all threads; a provider's only mutable state is its
 * concurrency semaphore and how far it fell back from structured outputs, both
 * thread-safe.
 *
 * A price applies to the model that answered: by its exact name, else the
 * longest price name that is a prefix of it ("gpt-4o-mini-2024-07-18" takes
 * [price gpt-4o-mini] before [price gpt-4o]). API keys shorter than
 * LLM_KEY_MIN characters are refused: they could not be told apart from
 * ordinary text when redacted. */

#define LLM_KEY_MIN 8

enum llm_format { LLM_FORMAT_OPENAI, LLM_FORMAT_ANTHROPIC };

/* How a provider is asked to constrain its reply (the config's "structured"). */
enum llm_dialect {
    LLM_DIALECT_NONE,        /* the prompt alone */
    LLM_DIALECT_JSON_OBJECT, /* response_format {"type": "json_object"} */
    LLM_DIALECT_JSON_SCHEMA, /* response_format {"type": "json_schema", ...} */
    LLM_DIALECT_VLLM,        /* vLLM's guided_json field */
    LLM_DIALECT_OLLAMA,      /* Ollama's format field */
    LLM_DIALECT_TOOL,        /* Anthropic: a forced tool call whose input is the answer */
};

/* Levels of structure a request may ask for, from most to least; a provider
 * refusing one is asked at the next (and remembers it). */
enum llm_level {
    LLM_LEVEL_PROMPT = 0, /* no constraint */
    LLM_LEVEL_OBJECT = 1, /* some JSON object */
    LLM_LEVEL_SCHEMA = 2, /* the space's JSON Schema */
};

struct llm_provider {
    char *name;               /* owned */
    enum llm_format format;   /* wire format */
    char *base_url;           /* owned, without trailing slash */
    char *model;              /* owned default model, may be NULL (the study names one) */
    char *api_key;            /* owned secret, may be NULL; never logged */
    double timeout_s;         /* per HTTP attempt (default 120) */
    int max_concurrent;       /* calls in flight at once (default 4) */
    int max_retries;          /* retries after the first attempt (default 3) */
    double backoff_s;         /* first backoff delay in seconds (default 1) */
    double retry_after_cap_s; /* longest Retry-After honoured (default 60) */
    long max_output_tokens;   /* reply length cap, 0 = unset (Anthropic then gets 4096) */
    size_t max_body;          /* largest reply body accepted (default 4 MiB) */
    enum llm_dialect dialect; /* how replies are constrained (default by format) */
    bool dialect_set;         /* dialect came from the config */
    atomic_int level;         /* highest enum llm_level still tried (lowered on refusal) */
    pthread_mutex_t lock;     /* guards in_flight */
    pthread_cond_t cond;      /* signalled when a slot frees */
    int in_flight;            /* calls currently holding a slot */
};

struct llm_price {
    char *model;            /* owned model name */
    double input_per_mtok;  /* per million prompt tokens */
    double output_per_mtok; /* per million completion tokens */
};

struct llm_registry {
    struct llm_provider **providers; /* owned array of owned providers */
    size_t n_providers;              /* entries in providers */
    struct llm_price *prices;        /* owned array */
    size_t n_prices;                 /* entries in prices */
};

/* A new registry holding the "default" provider when any HPOD_LLM_* variable is
 * set, else empty. NULL when out of memory or the environment is invalid (a
 * message in err, e.g. "HPOD_LLM_FORMAT: unknown format 'x'"). */
struct llm_registry *llm_registry_new(char *err, size_t errlen);
/* Free a registry and its providers; accepts NULL. No call may be in flight. */
void llm_registry_free(struct llm_registry *reg);

/* Claim a section header (the text between the brackets, e.g. "provider local"
 * or "price gpt-4o"): 0 when it belongs here, so the config reader forwards its
 * keys to llm_config_section(); -1 with err empty when it is not ours; -1 with
 * err set when it is ours but malformed ("[provider]" without a name). */
int llm_config_header(const char *section, char *err, size_t errlen);
/* Apply one "key = value" line (all borrowed, already trimmed) of section.
 * Returns 0, or -1 with a message naming the key and quoting the value. */
int llm_config_section(struct llm_registry *reg, const char *section, const char *key,
                       const char *value, char *err, size_t errlen);
/* Check the registry once the whole file is read (every provider has a base
 * URL, an api_key_env variable was set, ...). 0, or -1 with a message. */
int llm_registry_finish(struct llm_registry *reg, char *err, size_t errlen);

/* The provider called name (borrowed), or NULL. */
struct llm_provider *llm_registry_get(const struct llm_registry *reg, const char *name);
/* Whether a study can use provider name with study_model (the study's llm.model,
 * may be NULL). When not, err tells the user how to configure one (for the 400
 * at study creation). */
bool llm_registry_usable(const struct llm_registry *reg, const char *name, const char *study_model,
                         char *err, size_t errlen);
/* Cost of a call in the currency of the [price] sections, or -1 when the
 * model has no price (exact name, else the longest prefix, see above). */
double llm_registry_cost(const struct llm_registry *reg, const char *model, long tokens_in,
                         long tokens_out);

/* Take one of the provider's concurrency slots, waiting while all are busy. */
void llm_provider_acquire(struct llm_provider *p);
/* Give a slot back. */
void llm_provider_release(struct llm_provider *p);

/* Replace each whole-token occurrence of the provider's API key in s (the
 * full key, not preceded or followed by a letter, digit, '-' or '_') with
 * "[redacted]", in place (the text only shrinks). Other text, parts of the
 * key included, is left as it is. For error strings, replies and logs;
 * accepts NULL. */
void llm_provider_redact(const struct llm_provider *p, char *s);
/* The name of a dialect ("json_schema", ...). */
const char *llm_dialect_name(enum llm_dialect d);
/* The structure level the provider is at now (thread-safe). */
enum llm_level llm_provider_level(const struct llm_provider *p);
/* Record that the provider refused level (a 400): later requests ask at most
 * the next lower one. Thread-safe; concurrent refusals lower it once each step. */
void llm_provider_refused(struct llm_provider *p, enum llm_level level);

#endif
