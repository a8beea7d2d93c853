#ifndef LLM_HOOK_H
#define LLM_HOOK_H

#include <jansson.h>
#include <stddef.h>

/* The seam between the daemon's config file and the LLM provider registry. With
 * key NULL it announces a section header and returns 0 when the section is
 * known; with a key it sets one value. -1 with err set otherwise. */
int llm_hook_section(const char *section, const char *key, const char *value, char *err,
                     size_t errlen);

struct study;
struct db;

/* Start the LLM proposal threads (no-op without providers); 0 or -1. */
int llm_hook_start(void);
/* Stop them and free the registry. */
void llm_hook_stop(void);
/* Whether a provider called name is configured. */
int llm_hook_has_provider(const char *name);
/* Take up to k ready LLM proposals for study st (configs new references, sources
 * new strings); returns how many (0 when the study does not use the LLM now). */
int llm_hook_take(const struct study *st, size_t k, json_t **configs, char **sources);
/* The classical sampler that serves st when the LLM does not. */
const char *llm_hook_classical(const struct study *st);
/* The source label of a trial proposed by the classical sampler name for st:
 * name itself, or "fallback:NAME" when the study asked for the LLM. */
const char *llm_hook_source_label(const struct study *st, const char *name);

#endif
