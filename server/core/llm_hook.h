#ifndef LLM_HOOK_H
#define LLM_HOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The LLM inside the daemon: the provider registry (from HPOD_LLM_* and the
 * config file's [provider NAME] and [price MODEL] sections), and the threads
 * that keep a small queue of LLM proposals per study ahead of demand, so that a
 * suggest takes ready configurations and never waits on a call for long.
 *
 * A study uses the LLM when its sampler is "llm", or when it has an "llm"
 * object with init_trials (any sampler):
 *
 * - sampler llm: every trial comes from the LLM (source "llm"); with
 *   llm.init_trials N only the first N, then llm.then serves (source its name:
 *   the paper's LLM-seeded BO). With budget.max_parallel 1 a call starts only
 *   once a suggest asks, so that each proposal sees every earlier result (the
 *   paper's loop); with more, up to min(max_parallel, 4) + llm.batch proposals
 *   are kept ready. With llm.mode "rank" each call asks for
 *   llm.candidates configurations and the GP's expected improvement picks
 *   among them (source "llm+gp").
 * - another sampler with llm.init_trials N: the first N trials from the LLM,
 *   then the study's own sampler (source its name).
 *
 * While a study is in its LLM phase and no LLM proposal is ready, the classical
 * sampler serves the trial with source "fallback:NAME": when the provider
 * fails (the study then pauses, from the provider's backoff_s doubling up to a
 * minute), when the study's llm.max_tokens are spent, or when a suggest already
 * waited LLM_HOOK_WAIT_MS for a call in flight. Queued proposals live in memory only: those left at
 * a restart are lost (their calls stay in the audit log). */

/* How long suggests of a study may wait for a call in flight once its queue
 * runs dry, before the fallback serves them (and until the next proposal
 * lands): twice the study's recent call duration, at least LLM_HOOK_WAIT_MS,
 * at most LLM_HOOK_WAIT_MAX_MS. A suggest whose own wait_s ends first gets an
 * empty answer and asks again. */
#define LLM_HOOK_WAIT_MS     5000
#define LLM_HOOK_WAIT_MAX_MS 30000

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
/* Take up to k ready LLM proposals for study st, given its current history ctx
 * (borrowed; queued proposals that repeat a trial in it are dropped). Writes
 * configs (new references) and sources (new strings) and returns how many.
 * *wait is set when the caller should serve no more now and let the request
 * wait (briefly) for a call in flight; else the classical sampler serves the
 * rest. Never blocks on a call. Records which call each proposal came from, for
 * llm_hook_created(). */
int llm_hook_take(const struct study *st, const struct sampler_ctx *ctx, size_t k, json_t **configs,
                  char **sources, bool *wait);
/* Tell the hook that config (borrowed, as returned by the last llm_hook_take()
 * on this thread) became trial number: the call's audit row lists it. Runs in
 * the caller's transaction on db. */
void llm_hook_created(struct db *db, const json_t *config, long long number);
/* The classical sampler that serves st when the LLM does not. */
const char *llm_hook_classical(const struct study *st);
/* The source label of a trial proposed by the classical sampler name for st:
 * name itself, or "fallback:NAME" while the study is in its LLM phase (as seen
 * by the last llm_hook_take() on this thread). Borrowed, thread-local. */
const char *llm_hook_source_label(const struct study *st, const char *name);

#endif
