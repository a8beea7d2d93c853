#ifndef LLM_PROPOSE_H
#define LLM_PROPOSE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "prompt.h"
#include "provider.h"
#include "spec.h"

/* The proposal engine: prompt, call, read the reply, and when it is invalid ask
 * again with the reason (a bounded number of times). Replies are constrained
 * by the space's JSON Schema (schema.h) where the provider supports it, except
 * for studies with code parameters, whose answers carry the source in fenced
 * blocks after the JSON. A pure function of its
 * inputs: it keeps no state between calls and touches no database, so the
 * daemon may run it on any worker thread; the only shared state it uses is the
 * provider's concurrency semaphore. The caller stores the audit records, turns
 * the configurations into trials, and falls back to a classical sampler when
 * none came. */

/* One HTTP exchange with the LLM, as stored in the audit log. */
struct llm_audit {
    char *provider;         /* owned provider name */
    char *model;            /* owned model that answered, or NULL when none did */
    char *model_requested;  /* owned model asked for */
    json_t *messages;       /* owned: the exact messages sent (JSON array) */
    char *request;          /* owned JSON text of the request body (holds no key), or NULL */
    json_t *params;         /* owned request parameters (temperature, max_tokens,
                               structured, model), or NULL */
    const char *structured; /* static name of the output constraint sent ("none", ...) */
    char *reply;            /* owned reply verbatim, or NULL when none came */
    char *reasoning;        /* owned reasoning kept apart from the answer, or NULL */
    long tokens_in;         /* prompt tokens, reported or estimated */
    long tokens_out;        /* completion tokens, reported or estimated */
    bool tokens_estimated;  /* the provider gave no usage: counts are estimates */
    int64_t at_ms;          /* wall-clock start, ms since the epoch */
    double latency_ms;      /* this exchange alone */
    long http_status;       /* HTTP status, 0 when none arrived */
    int attempt;            /* 1, 2, ...: its place among the proposal's exchanges */
    char *error;            /* owned: why it failed or its reply was rejected, or NULL */
    size_t n_configs;       /* configurations accepted from this reply */
};

struct llm_propose_opts {
    size_t want;               /* configurations wanted; 0 = the study's llm.batch */
    int max_reasks;            /* re-asks after an invalid reply (default 2) */
    long tokens_left;          /* stop re-asking once this many tokens were spent;
                                  <= 0 means no limit */
    const atomic_bool *cancel; /* borrowed shutdown flag, may be NULL */
};

struct llm_proposal {
    json_t *configs;          /* owned array of normalised configurations (maybe empty) */
    struct llm_audit *audits; /* owned array, one per exchange, in order */
    size_t n_audits;          /* entries in audits */
    long tokens_in;           /* sum over the exchanges */
    long tokens_out;          /* sum over the exchanges */
    bool tokens_estimated;    /* some exchange's counts are estimates */
    double retry_after_s;     /* when the last call failed on a Retry-After: how long the
                                 provider asked to wait (seconds), else 0 */
    char *error;              /* owned: why no configuration came, else NULL */
};

/* Default options: the study's batch, 2 re-asks, no token limit. */
void llm_propose_opts_init(struct llm_propose_opts *o);

/* Ask provider p for up to o->want configurations for the study spec, given
 * its history h (borrowed). Fills out (release it with llm_proposal_release()
 * in every case). Returns the number of configurations proposed (>= 1), or -1
 * with out->error set: a bad llm object, no model, a failed call, or replies
 * still invalid after the re-asks. The audit records hold every exchange,
 * including the failed ones. */
int llm_propose(struct llm_provider *p, const struct spec *spec, const struct llm_history *h,
                const struct llm_propose_opts *o, struct llm_proposal *out);
/* Free what a proposal owns; the struct may be filled again. */
void llm_proposal_release(struct llm_proposal *out);

#endif
