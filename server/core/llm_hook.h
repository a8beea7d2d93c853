#ifndef LLM_HOOK_H
#define LLM_HOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The LLM inside the daemon: the provider registry (from HPOD_LLM_* and the
 * config file's [provider NAME] and [price MODEL] sections), and the threads
 * that keep a small queue of LLM proposals per study ahead of demand.
 *
 * A study uses the LLM when its sampler is "llm", or when it has an "llm"
 * object with init_trials (any sampler):
 *
 * - sampler llm: every trial comes from the LLM (source "llm"); with
 *   llm.init_trials N only the first N, then llm.then serves (source its name:
 *   the paper's LLM-seeded BO). With budget.max_parallel 1 a call starts only
 *   once no trial is out or a suggest asks, so that each proposal sees every
 *   earlier result (the paper's loop); with more, up to
 *   min(max_parallel, 4) + llm.batch proposals are kept ready. With llm.mode
 *   "rank" each call asks for llm.candidates configurations and the GP's
 *   expected improvement picks among them (source "llm+gp").
 * - another sampler with llm.init_trials N: the first N trials from the LLM,
 *   then the study's own sampler (source its name).
 *
 * The waiting policy. A study in its LLM phase makes one call at a time; a
 * suggest that finds no proposal ready waits for it (its request long-polls
 * up to its wait_s, then answers an empty list with retry_after_s and the
 * worker asks again). The classical sampler serves the trial instead, with
 * source "fallback:NAME", only
 *
 * - when the provider is down: its calls have been failing for the study's
 *   bound (llm.wait seconds; by default, "auto", the longest one call may take
 *   with the provider's settings: timeout_s x (max_retries + 1) plus the
 *   backoffs backoff_s x (2^max_retries - 1)); every suggest then gets the
 *   fallback at once, while calls go on;
 * - when suggests have waited the bound without a proposal landing (a provider
 *   slower than llm.wait): one fallback trial, and the next suggest waits
 *   again;
 * - when the study's llm.max_tokens are spent.
 *
 * A failed call (an HTTP error after the client's own retries, a body that is
 * not a reply, replies still invalid after the re-asks) is followed by another
 * after a short backoff (backoff_s doubling, at most LLM_HOOK_RETRY_MAX_MS);
 * the first call that succeeds ends the outage, so the fallback never sticks.
 * With llm.fallback "never" the classical sampler never serves the LLM phase:
 * suggests wait and answer empty lists for as long as the provider fails, and
 * a suggest of a study whose llm.max_tokens are spent (or whose provider is
 * gone) is refused with 409 llm_unavailable. A waiting suggest answers at once
 * when the daemon stops (the HTTP layer resumes it while draining and this
 * hook never makes it wait inside a call). Queued proposals live in memory only: those left at a
 * restart are lost (their calls stay in the audit log). */

/* Longest pause between two failed calls of a study. */
#define LLM_HOOK_RETRY_MAX_MS 5000

/* The seam between the daemon's config file and the LLM provider registry. With
 * key NULL it announces a section header and returns 0 when the section is
 * known (-1 with err empty when not); with a key it sets one value. -1 with err
 * set otherwise. */
int llm_hook_section(const char *section, const char *key, const char *value, char *err,
                     size_t errlen);

struct study;
struct db;
struct sampler_ctx;

/* Check the registry and start the LLM proposal threads (cfg.llm_threads; none
 * without providers). 0, or -1 after logging why. */
int llm_hook_start(void);
/* Stop them (calls in flight are cancelled), drop the queues, free the registry. */
void llm_hook_stop(void);
/* Whether a provider called name is configured. */
int llm_hook_has_provider(const char *name);
/* Whether a study can call provider name with model (its llm.model, may be
 * NULL): the provider exists and a model is known. When not, err says what to
 * set. */
bool llm_hook_usable(const char *name, const char *model, char *err, size_t errlen);
/* What llm_hook_take() handed out, for llm_hook_created() and
 * llm_hook_source_label(): one per suggest, owned by the caller. */
#define LLM_TAKE_MAX 64
struct llm_take {
    long long study_id; /* the study of the take */
    bool phase;         /* the study is in its LLM phase */
    bool wait;          /* serve no more now: the request waits for the LLM */
    int retry_after_s;  /* advice for a worker whose request ends empty */
    char refused[256];  /* when not empty: no trial may be made ("never" and no LLM) */
    size_t n;           /* entries in taken */
    struct {
        const json_t *config; /* borrowed: identity only */
        long long call_id;    /* llm_calls row of the reply, 0 when unrecorded */
    } taken[LLM_TAKE_MAX];    /* the proposals handed out, in order */
};

/* Take up to k ready LLM proposals for study st, given its current history ctx
 * (borrowed; queued proposals that repeat a trial in it are dropped). Writes
 * configs (new references) and sources (new strings) and returns how many;
 * fills take (the caller's, overwritten). take->wait is set when the caller
 * should serve no more now and let the request wait for a call; else the
 * classical sampler serves the rest, unless take->refused says why no trial
 * may be made. Never blocks on a call. */
int llm_hook_take(const struct study *st, const struct sampler_ctx *ctx, size_t k, json_t **configs,
                  char **sources, struct llm_take *take);
/* Tell the hook that config (borrowed, as handed out by the take) became
 * trial number: the call's audit row lists it. Runs in the caller's
 * transaction on db. */
void llm_hook_created(struct db *db, const struct llm_take *take, const json_t *config,
                      long long number);
/* The classical sampler that serves st when the LLM does not. */
const char *llm_hook_classical(const struct study *st);
/* The source label of a trial proposed by the classical sampler name after
 * take: name itself, or "fallback:NAME" while the study is in its LLM phase.
 * Written to buf (size buflen); returns buf. */
const char *llm_hook_source_label(const struct llm_take *take, const char *name, char *buf,
                                  size_t buflen);

#endif
