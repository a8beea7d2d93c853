#include <config.h>
#include "provider.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_OPENAI_URL    "https://api.openai.com/v1"
#define DEFAULT_ANTHROPIC_URL "https://api.anthropic.com/v1"

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
    free(s);
}

static int set_str(char **dst, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

static int set_url(char **dst, const char *value)
{
    if (set_str(dst, value) < 0)
        return -1;
    size_t n = strlen(*dst);
    while (n > 0 && (*dst)[n - 1] == '/')
        (*dst)[--n] = '\0';
    return 0;
}

static struct llm_provider *provider_new(const char *name)
{
    struct llm_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->name = strdup(name);
    if (!p->name) {
        free(p);
        return NULL;
    }
    p->format = LLM_FORMAT_OPENAI;
    p->timeout_s = 120;
    p->max_concurrent = 4;
    p->max_retries = 3;
    p->backoff_s = 1;
    p->retry_after_cap_s = 60;
    p->max_output_tokens = 0;
    p->max_body = 4u << 20;
    p->dialect = LLM_DIALECT_JSON_SCHEMA;
    atomic_init(&p->level, LLM_LEVEL_SCHEMA);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

static void provider_free(struct llm_provider *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->base_url);
    free(p->model);
    wipe_free(p->api_key);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

static int parse_format(const char *value, enum llm_format *out)
{
    if (strcasecmp(value, "openai") == 0)
        *out = LLM_FORMAT_OPENAI;
    else if (strcasecmp(value, "anthropic") == 0)
        *out = LLM_FORMAT_ANTHROPIC;
    else
        return -1;
    return 0;
}

static int parse_double(const char *value, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *value, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static const char *const dialect_names[] = {
    [LLM_DIALECT_NONE] = "none",
    [LLM_DIALECT_JSON_OBJECT] = "json_object",
    [LLM_DIALECT_JSON_SCHEMA] = "json_schema",
    [LLM_DIALECT_VLLM] = "vllm",
    [LLM_DIALECT_OLLAMA] = "ollama",
    [LLM_DIALECT_TOOL] = "tool",
};

const char *llm_dialect_name(enum llm_dialect d)
{
    return (size_t)d < sizeof dialect_names / sizeof dialect_names[0] ? dialect_names[d] : "none";
}

static int parse_dialect(const char *value, enum llm_dialect *out)
{
    for (size_t i = 0; i < sizeof dialect_names / sizeof dialect_names[0]; i++)
        if (!strcasecmp(value, dialect_names[i])) {
            *out = (enum llm_dialect)i;
            return 0;
        }
    return -1;
}

static int parse_bool(const char *value, bool *out)
{
    if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1"))
        *out = true;
    else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcmp(value, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

static int registry_add(struct llm_registry *reg, struct llm_provider *p)
{
    struct llm_provider **v = realloc(reg->providers, (reg->n_providers + 1) * sizeof *v);
    if (!v)
        return -1;
    reg->providers = v;
    reg->providers[reg->n_providers++] = p;
    return 0;
}

struct llm_registry *llm_registry_new(char *err, size_t errlen)
{
    struct llm_registry *reg = calloc(1, sizeof *reg);
    if (!reg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *format = getenv("HPOD_LLM_FORMAT");
    const char *url = getenv("HPOD_LLM_BASE_URL");
    const char *model = getenv("HPOD_LLM_MODEL");
    const char *key = getenv("HPOD_LLM_API_KEY");
    if (!(format && *format) && !(url && *url) && !(model && *model) && !(key && *key))
        return reg;

    struct llm_provider *p = provider_new("default");
    if (!p || registry_add(reg, p) < 0) {
        provider_free(p);
        snprintf(err, errlen, "out of memory");
        goto out_free_reg;
    }
    if (format && *format && parse_format(format, &p->format) < 0) {
        snprintf(err, errlen, "HPOD_LLM_FORMAT: unknown format '%s' (openai or anthropic)", format);
        goto out_free_reg;
    }
    if (url && *url) {
        if (set_url(&p->base_url, url) < 0)
            goto out_oom;
    } else if (set_url(&p->base_url, p->format == LLM_FORMAT_ANTHROPIC ? DEFAULT_ANTHROPIC_URL
                                                                       : DEFAULT_OPENAI_URL) < 0) {
        goto out_oom;
    }
    if (model && *model && set_str(&p->model, model) < 0)
        goto out_oom;
    if (key && *key && set_str(&p->api_key, key) < 0)
        goto out_oom;
    return reg;

out_oom:
    snprintf(err, errlen, "out of memory");
out_free_reg:
    llm_registry_free(reg);
    return NULL;
}

void llm_registry_free(struct llm_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n_providers; i++)
        provider_free(reg->providers[i]);
    free(reg->providers);
    for (size_t i = 0; i < reg->n_prices; i++)
        free(reg->prices[i].model);
    free(reg->prices);
    free(reg);
}

/* The word after kind in section ("provider  local" -> "local"), or NULL. */
static const char *section_arg(const char *section, const char *kind)
{
    size_t n = strlen(kind);
    if (strncasecmp(section, kind, n) != 0 || (section[n] != ' ' && section[n] != '\t'))
        return NULL;
    const char *s = section + n;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s ? s : NULL;
}

int llm_config_header(const char *section, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (section_arg(section, "provider") || section_arg(section, "price"))
        return 0;
    if (!strcasecmp(section, "provider") || !strcasecmp(section, "price"))
        snprintf(err, errlen, "[%s]: needs a name, e.g. [provider local] or [price gpt-4o]",
                 section);
    return -1;
}

static int config_provider(struct llm_registry *reg, const char *name, const char *key,
                           const char *value, char *err, size_t errlen)
{
    struct llm_provider *p = llm_registry_get(reg, name);
    if (!p) {
        p = provider_new(name);
        if (!p || registry_add(reg, p) < 0) {
            provider_free(p);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    long l;
    double d;
    int rc = 0;
    if (!strcmp(key, "format")) {
        if (parse_format(value, &p->format) < 0) {
            snprintf(err, errlen, "[provider %s] format: unknown format '%s' (openai or anthropic)",
                     name, value);
            return -1;
        }
    } else if (!strcmp(key, "base_url")) {
        if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
            snprintf(err, errlen, "[provider %s] base_url: '%s' is not an http(s) URL", name,
                     value);
            return -1;
        }
        rc = set_url(&p->base_url, value);
    } else if (!strcmp(key, "model")) {
        rc = set_str(&p->model, value);
    } else if (!strcmp(key, "api_key")) {
        wipe_free(p->api_key);
        p->api_key = NULL;
        rc = set_str(&p->api_key, value);
    } else if (!strcmp(key, "api_key_env")) {
        const char *v = getenv(value);
        if (!v || !*v) {
            snprintf(err, errlen, "[provider %s] api_key_env: environment variable '%s' is not set",
                     name, value);
            return -1;
        }
        wipe_free(p->api_key);
        p->api_key = NULL;
        rc = set_str(&p->api_key, v);
    } else if (!strcmp(key, "timeout_s")) {
        if (parse_double(value, 0.001, 86400, &p->timeout_s) < 0)
            goto out_bad;
    } else if (!strcmp(key, "backoff_s")) {
        if (parse_double(value, 0, 3600, &p->backoff_s) < 0)
            goto out_bad;
    } else if (!strcmp(key, "retry_after_cap_s")) {
        if (parse_double(value, 0, 3600, &p->retry_after_cap_s) < 0)
            goto out_bad;
    } else if (!strcmp(key, "max_concurrent")) {
        if (parse_long(value, 1, 1024, &l) < 0)
            goto out_bad;
        p->max_concurrent = (int)l;
    } else if (!strcmp(key, "max_retries")) {
        if (parse_long(value, 0, 100, &l) < 0)
            goto out_bad;
        p->max_retries = (int)l;
    } else if (!strcmp(key, "max_output_tokens")) {
        if (parse_long(value, 1, 10000000, &p->max_output_tokens) < 0)
            goto out_bad;
    } else if (!strcmp(key, "max_body_mib")) {
        if (parse_double(value, 0.001, 1024, &d) < 0)
            goto out_bad;
        p->max_body = (size_t)(d * 1048576);
    } else if (!strcmp(key, "json_mode")) {
        bool on;
        if (parse_bool(value, &on) < 0)
            goto out_bad;
        if (!on) {
            p->dialect = LLM_DIALECT_NONE;
            p->dialect_set = true;
        }
    } else if (!strcmp(key, "structured")) {
        if (parse_dialect(value, &p->dialect) < 0) {
            snprintf(err, errlen,
                     "[provider %s] structured: unknown value '%s' (json_schema, json_object, "
                     "vllm, ollama, tool or none)",
                     name, value);
            return -1;
        }
        p->dialect_set = true;
    } else {
        snprintf(err, errlen, "[provider %s] %s: unknown key", name, key);
        return -1;
    }
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    return rc;

out_bad:
    snprintf(err, errlen, "[provider %s] %s: invalid value '%s'", name, key, value);
    return -1;
}

static struct llm_price *price_get(const struct llm_registry *reg, const char *model)
{
    for (size_t i = 0; i < reg->n_prices; i++)
        if (!strcmp(reg->prices[i].model, model))
            return &reg->prices[i];
    return NULL;
}

/* The price of model: its own, else the longest price name it starts with. */
static const struct llm_price *price_match(const struct llm_registry *reg, const char *model)
{
    const struct llm_price *best = price_get(reg, model);
    if (best)
        return best;
    size_t best_len = 0;
    for (size_t i = 0; i < reg->n_prices; i++) {
        size_t n = strlen(reg->prices[i].model);
        if (n > best_len && !strncmp(reg->prices[i].model, model, n)) {
            best = &reg->prices[i];
            best_len = n;
        }
    }
    return best;
}

static int config_price(struct llm_registry *reg, const char *model, const char *key,
                        const char *value, char *err, size_t errlen)
{
    struct llm_price *pr = price_get(reg, model);
    if (!pr) {
        struct llm_price *v = realloc(reg->prices, (reg->n_prices + 1) * sizeof *v);
        if (!v) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        reg->prices = v;
        pr = &reg->prices[reg->n_prices];
        memset(pr, 0, sizeof *pr);
        pr->model = strdup(model);
        if (!pr->model) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        reg->n_prices++;
    }
    double *dst;
    if (!strcmp(key, "input_per_mtok")) {
        dst = &pr->input_per_mtok;
    } else if (!strcmp(key, "output_per_mtok")) {
        dst = &pr->output_per_mtok;
    } else {
        snprintf(err, errlen, "[price %s] %s: unknown key", model, key);
        return -1;
    }
    if (parse_double(value, 0, 1e9, dst) < 0) {
        snprintf(err, errlen, "[price %s] %s: invalid value '%s'", model, key, value);
        return -1;
    }
    return 0;
}

int llm_config_section(struct llm_registry *reg, const char *section, const char *key,
                       const char *value, char *err, size_t errlen)
{
    const char *arg;
    if ((arg = section_arg(section, "provider")) != NULL)
        return config_provider(reg, arg, key, value, err, errlen);
    if ((arg = section_arg(section, "price")) != NULL)
        return config_price(reg, arg, key, value, err, errlen);
    snprintf(err, errlen, "[%s]: expected [provider NAME] or [price MODEL]", section);
    return -1;
}

int llm_registry_finish(struct llm_registry *reg, char *err, size_t errlen)
{
    for (size_t i = 0; i < reg->n_providers; i++) {
        struct llm_provider *p = reg->providers[i];
        if (!p->base_url) {
            const char *url =
                p->format == LLM_FORMAT_ANTHROPIC ? DEFAULT_ANTHROPIC_URL : DEFAULT_OPENAI_URL;
            if (set_url(&p->base_url, url) < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        if (p->api_key && strlen(p->api_key) < LLM_KEY_MIN) {
            snprintf(err, errlen,
                     "provider '%s': the api key is %zu characters long, too short to keep out "
                     "of stored replies and logs (at least %d)",
                     p->name, strlen(p->api_key), LLM_KEY_MIN);
            return -1;
        }
        bool anthropic = p->format == LLM_FORMAT_ANTHROPIC;
        if (!p->dialect_set)
            p->dialect = anthropic ? LLM_DIALECT_TOOL : LLM_DIALECT_JSON_SCHEMA;
        if (anthropic && p->dialect != LLM_DIALECT_TOOL && p->dialect != LLM_DIALECT_NONE) {
            snprintf(err, errlen,
                     "[provider %s] structured: '%s' is not for the anthropic format (tool or "
                     "none)",
                     p->name, llm_dialect_name(p->dialect));
            return -1;
        }
        if (!anthropic && p->dialect == LLM_DIALECT_TOOL) {
            snprintf(err, errlen,
                     "[provider %s] structured: 'tool' is for the anthropic format (json_schema, "
                     "json_object, vllm, ollama or none)",
                     p->name);
            return -1;
        }
        enum llm_level top = LLM_LEVEL_SCHEMA;
        if (p->dialect == LLM_DIALECT_NONE)
            top = LLM_LEVEL_PROMPT;
        else if (p->dialect == LLM_DIALECT_JSON_OBJECT)
            top = LLM_LEVEL_OBJECT;
        atomic_store(&p->level, top);
    }
    return 0;
}

struct llm_provider *llm_registry_get(const struct llm_registry *reg, const char *name)
{
    if (!reg || !name)
        return NULL;
    for (size_t i = 0; i < reg->n_providers; i++)
        if (!strcmp(reg->providers[i]->name, name))
            return reg->providers[i];
    return NULL;
}

bool llm_registry_usable(const struct llm_registry *reg, const char *name, const char *study_model,
                         char *err, size_t errlen)
{
    if (!name)
        name = "default";
    const struct llm_provider *p = llm_registry_get(reg, name);
    if (!p) {
        if (!strcmp(name, "default"))
            snprintf(err, errlen,
                     "llm.provider: no LLM provider is configured; set HPOD_LLM_BASE_URL, "
                     "HPOD_LLM_MODEL and HPOD_LLM_API_KEY (and HPOD_LLM_FORMAT=anthropic for "
                     "Anthropic) in the daemon's environment, or add a [provider default] "
                     "section to its config file");
        else
            snprintf(err, errlen,
                     "llm.provider: no LLM provider '%s'; add a [provider %s] section to the "
                     "daemon's config file",
                     name, name);
        return false;
    }
    if (!p->model && !(study_model && *study_model)) {
        snprintf(err, errlen,
                 "llm.model: provider '%s' has no default model; set llm.model in the study or "
                 "%s",
                 name,
                 strcmp(name, "default") ? "model in its config section"
                                         : "HPOD_LLM_MODEL in the daemon's environment");
        return false;
    }
    return true;
}

double llm_registry_cost(const struct llm_registry *reg, const char *model, long tokens_in,
                         long tokens_out)
{
    if (!reg || !model)
        return -1;
    const struct llm_price *pr = price_match(reg, model);
    if (!pr)
        return -1;
    return (pr->input_per_mtok * (double)tokens_in + pr->output_per_mtok * (double)tokens_out) /
           1e6;
}

void llm_provider_acquire(struct llm_provider *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->in_flight >= p->max_concurrent)
        pthread_cond_wait(&p->cond, &p->lock);
    p->in_flight++;
    pthread_mutex_unlock(&p->lock);
}

void llm_provider_release(struct llm_provider *p)
{
    pthread_mutex_lock(&p->lock);
    p->in_flight--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

void llm_provider_redact(const struct llm_provider *p, char *s)
{
    static const char mark[] = "[redacted]";
    if (!p || !s || !p->api_key || !*p->api_key)
        return;
    size_t klen = strlen(p->api_key);
    char *from = s, *hit;
    while ((hit = strstr(from, p->api_key)) != NULL) {
        bool whole = (hit == s || !key_char(hit[-1])) && !key_char(hit[klen]);
        if (!whole || klen < sizeof mark - 1) {
            /* a part of a longer token, or a key shorter than the mark (refused at
             * start-up; kept safe here): not this key, or starred in place */
            if (whole)
                memset(hit, '*', klen);
            from = hit + 1;
            continue;
        }
        memcpy(hit, mark, sizeof mark - 1);
        memmove(hit + sizeof mark - 1, hit + klen, strlen(hit + klen) + 1);
        from = hit + sizeof mark - 1;
    }
}

enum llm_level llm_provider_level(const struct llm_provider *p)
{
    return (enum llm_level)atomic_load(&((struct llm_provider *)p)->level);
}

void llm_provider_refused(struct llm_provider *p, enum llm_level level)
{
    int want = level > LLM_LEVEL_PROMPT ? (int)level - 1 : LLM_LEVEL_PROMPT;
    /* a forced tool call has no JSON-object step below it */
    if (p->dialect == LLM_DIALECT_TOOL && want == LLM_LEVEL_OBJECT)
        want = LLM_LEVEL_PROMPT;
    int cur = atomic_load(&p->level);
    while (cur > want && !atomic_compare_exchange_weak(&p->level, &cur, want))
        ;
}
