#ifndef LLM_PROPOSE_H
#define LLM_PROPOSE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "client.h"
#include "prompt.h"
#include "provider.h"
#include "spec.h"

/* The proposal engine: prompt, call, read the reply, and when it is invalid ask
 * again with the reason (a bounded number of times). A pure function of its
 * inputs: it keeps no state between calls and touches no database, so the
 * daemon may run it on any worker thread; the only shared state it uses is the
 * provider's concurrency semaphore. The caller stores the audit records, turns
 * the configurations into trials, and falls back to a classical sampler when
 * none came. */

/* One HTTP exchange with the LLM, as stored in the audit log. */
struct llm_audit {
    char *provider;    /* owned provider name */
    char *model;       /* owned model that answered (or was asked) */
    json_t *messages;  /* owned: the exact messages sent (JSON array) */
    char *request;     /* owned JSON text of the request body (holds no key), or NULL */
    char *reply;       /* owned reply text, or NULL when the call failed */
    long tokens_in;    /* prompt tokens reported */
    long tokens_out;   /* completion tokens reported */
    double latency_ms; /* wall time including retries */
    long http_status;  /* last HTTP status, 0 when none arrived */
    int attempts;      /* HTTP attempts */
    char *error;       /* owned: why the call failed or the reply was rejected, or NULL */
    size_t n_configs;  /* configurations accepted from this reply */
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
