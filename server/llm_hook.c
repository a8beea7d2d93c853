#include <config.h>
#include "llm_hook.h"

#include <stdio.h>
#include <string.h>

#include "store.h"

int llm_hook_section(const char *section, const char *key, const char *value, char *err,
                     size_t errlen)
{
    (void)key;
    (void)value;
    snprintf(err, errlen, "unknown section \"%s\"", section);
    return -1;
}

int llm_hook_start(void)
{
    return 0;
}

void llm_hook_stop(void)
{
}

int llm_hook_has_provider(const char *name)
{
    (void)name;
    return 0;
}

int llm_hook_take(const struct study *st, size_t k, json_t **configs, char **sources)
{
    (void)st;
    (void)k;
    (void)configs;
    (void)sources;
    return 0;
}

const char *llm_hook_classical(const struct study *st)
{
    if (strcmp(st->spec->sampler, "llm") == 0) {
        const char *then = st->spec->llm ? json_string_value(json_object_get(st->spec->llm, "then"))
                                         : NULL;
        return then ? then : "auto";
    }
    return st->spec->sampler;
}

const char *llm_hook_source_label(const struct study *st, const char *name)
{
    static __thread char label[64];
    if (strcmp(st->spec->sampler, "llm") == 0) {
        snprintf(label, sizeof label, "fallback:%s", name);
        return label;
    }
    return name;
}
