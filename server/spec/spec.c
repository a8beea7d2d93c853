#include <config.h>
#include "spec.h"

#include "pruner.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

static const char *const top_keys[] = {"name",        "description",     "objective", "objectives",
                                       "constraints", "reference_point", "params",    "sampler",
                                       "llm",         "pruner",          "budget",    "lease",
                                       NULL};
static const char *const objective_keys[] = {"name", "direction", NULL};
static const char *const constraint_keys[] = {"name", "min", "max", NULL};
static const char *const directions[] = {"minimize", "maximize", NULL};
static const char *const samplers[] = {"auto", "random", "sobol", "tpe", "gp",
                                       "mogp", "motpe",  "llm",   NULL};
static const char *const classical[] = {"auto", "random", "sobol", "tpe",
                                        "gp",   "mogp",   "motpe", NULL};
/* Samplers that model one objective and no constraint. */
static const char *const single_objective[] = {"tpe", "gp", NULL};
static const char *const llm_keys[] = {"provider", "model",       "history", "reasoning",
                                       "batch",    "init_trials", "then",    "max_tokens",
                                       "template", "temperature", "mode",    "candidates",
                                       "wait",     "fallback",    NULL};
static const char *const fallbacks[] = {"allow", "never", NULL};
#define LLM_WAIT_MAX_S 86400
static const char *const histories[] = {"compressed", "chat", NULL};
static const char *const pruners[] = {"none",  "median",   "asha", "hyperband",
                                      "curve", "patience", NULL};
static const char *const budget_keys[] = {"max_trials", "max_parallel", "max_failures",
                                          "trial_timeout_s", NULL};
static const char *const lease_keys[] = {"heartbeat_s", "stale_after", "max_retries", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

static void join_list(const char *const *list, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; list[i] && len < n; i++) {
        int w = snprintf(out + len, n - len, "%s%s", i ? ", " : "", list[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* The member key of obj, or NULL when absent or null. Borrowed. */
static json_t *opt(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* Reject keys of obj that are not in allowed; prefix names obj ("budget"). */
static int check_keys(const json_t *obj, const char *prefix, const char *const *allowed, char *err,
                      size_t errlen)
{
    const char *key;
    json_t *v;
    char list[256];
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!in_list(key, allowed)) {
            join_list(allowed, list, sizeof list);
            json_errf(err, errlen, "%s%s%s: unknown field (expected one of %s)",
                      prefix ? prefix : "", prefix ? "." : "", key, list);
            return -1;
        }
    }
    return 0;
}

/* An optional sub-object: NULL (absent), or the object; -1 on a wrong type. */
static int get_object(const json_t *in, const char *key, json_t **out, char *err, size_t errlen)
{
    json_t *v = opt(in, key);
    if (v && !json_is_object(v)) {
        json_errf(err, errlen, "%s: must be an object", key);
        return -1;
    }
    *out = v;
    return 0;
}

/* An optional string member that must be one of list (list NULL: any non-empty). */
static int get_word(const json_t *obj, const char *prefix, const char *key, const char *def,
                    const char *const *list, const char **out, char *err, size_t errlen)
{
    char a[128], l[256];
    json_t *v = opt(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v) || (list && !in_list(json_string_value(v), list)) ||
        (!list && json_string_length(v) == 0)) {
        json_quote(v, a, sizeof a);
        if (list) {
            join_list(list, l, sizeof l);
            json_errf(err, errlen, "%s.%s: must be one of %s (got %s)", prefix, key, l, a);
        } else {
            json_errf(err, errlen, "%s.%s: must be a non-empty string (got %s)", prefix, key, a);
        }
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* An optional integer member within [lo, hi]; a real with no fraction counts. */
static int get_long(const json_t *obj, const char *prefix, const char *key, long def, long lo,
                    long hi, long *out, char *err, size_t errlen)
{
    char a[128];
    json_t *v = opt(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    double x = json_is_num(v) ? json_num_value(v) : NAN;
    if (!isfinite(x) || x != floor(x) || x < (double)lo || x > (double)hi) {
        json_quote(v, a, sizeof a);
        json_errf(err, errlen, "%s.%s: must be an integer from %ld to %ld (got %s)", prefix, key,
                  lo, hi, a);
        return -1;
    }
    *out = (long)x;
    return 0;
}

/* An optional number member within [lo, hi]. */
static int get_double(const json_t *obj, const char *prefix, const char *key, double def, double lo,
                      double hi, double *out, char *err, size_t errlen)
{
    char a[128];
    json_t *v = opt(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    double x = json_is_num(v) ? json_num_value(v) : NAN;
    if (!isfinite(x) || x < lo || x > hi) {
        json_quote(v, a, sizeof a);
        json_errf(err, errlen, "%s.%s: must be a number from %g to %g (got %s)", prefix, key, lo,
                  hi, a);
        return -1;
    }
    *out = x;
    return 0;
}

bool spec_multi(const struct spec *s)
{
    return s->n_objectives > 1 || s->n_constraints > 0;
}

bool spec_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n < 1 || n > 64)
        return false;
    bool all_dots = true;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
        if (c != '.')
            all_dots = false;
    }
    /* "." and ".." would be folded away in a URL path */
    return !all_dots;
}

/* FNV-1a of the name, cut to 53 bits so that every JSON reader keeps it exact. */
static uint64_t seed_from_name(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h & ((1ULL << 53) - 1);
}

void spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->description);
    free(s->objective);
    for (size_t i = 0; i < s->n_objectives; i++)
        free(s->objectives[i].name);
    for (size_t i = 0; i < s->n_constraints; i++)
        free(s->constraints[i].name);
    space_free(s->space);
    free(s->sampler);
    json_decref(s->sampler_opts);
    json_decref(s->llm);
    free(s->pruner);
    json_decref(s->pruner_opts);
    json_decref(s->json);
    free(s);
}

/* A metric name a worker can report in "@hpo final NAME=VALUE"; field names the
 * member for the message ("objectives[1].name"). */
static int check_metric_name(const char *name, const char *field, char *err, size_t errlen)
{
    for (const char *p = name; *p; p++) {
        if (*p == '=' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '"' || *p == '\\' ||
            p - name >= 64) {
            json_errf(err, errlen,
                      "%s: invalid metric name \"%.64s\" (at most 64 characters, no "
                      "spaces, quotes or '=')",
                      field, name);
            return -1;
        }
    }
    return 0;
}

/* One objective object (or NULL for the defaults) into s->objectives[i]. */
static int parse_one_objective(struct spec *s, size_t i, const json_t *obj, const char *field,
                               json_t *out_list, char *err, size_t errlen)
{
    const char *name, *dir;
    char f[160];
    if (obj && check_keys(obj, field, objective_keys, err, errlen) < 0)
        return -1;
    if (get_word(obj, field, "name", "value", NULL, &name, err, errlen) < 0 ||
        get_word(obj, field, "direction", "minimize", directions, &dir, err, errlen) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.name", field);
    if (check_metric_name(name, f, err, errlen) < 0)
        return -1;
    for (size_t j = 0; j < i; j++) {
        if (!strcmp(s->objectives[j].name, name)) {
            json_errf(err, errlen, "%s: objective \"%s\" named twice", f, name);
            return -1;
        }
    }
    s->objectives[i].name = strdup(name);
    s->objectives[i].maximize = !strcmp(dir, "maximize");
    s->n_objectives = i + 1;
    if (!s->objectives[i].name)
        return -1;
    json_array_append_new(out_list, json_pack("{s:s, s:s}", "name", name, "direction", dir));
    return 0;
}

/* "objective" (one) or "objectives" (1 to SPEC_MAX_OBJECTIVES). The normalised
 * spec keeps the form it was given: "objective" for one objective given so,
 * "objectives" otherwise. */
static int parse_objective(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj, *list = opt(in, "objectives");
    char field[48], a[128];
    if (get_object(in, "objective", &obj, err, errlen) < 0)
        return -1;
    if (obj && list) {
        json_errf(err, errlen, "objectives: give either \"objective\" or \"objectives\", not both");
        return -1;
    }
    json_t *norm = json_array();
    if (!norm)
        return -1;
    if (list) {
        if (!json_is_array(list) || json_array_size(list) < 1 ||
            json_array_size(list) > SPEC_MAX_OBJECTIVES) {
            json_quote(list, a, sizeof a);
            json_errf(err, errlen, "objectives: must be an array of 1 to %d objects (got %s)",
                      SPEC_MAX_OBJECTIVES, a);
            goto out_free;
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *o = json_array_get(list, i);
            snprintf(field, sizeof field, "objectives[%zu]", i);
            if (!json_is_object(o)) {
                json_quote(o, a, sizeof a);
                json_errf(err, errlen, "%s: must be an object (got %s)", field, a);
                goto out_free;
            }
            if (!opt(o, "name")) {
                json_errf(err, errlen, "%s.name: required", field);
                goto out_free;
            }
            if (parse_one_objective(s, i, o, field, norm, err, errlen) < 0)
                goto out_free;
        }
        json_object_set_new(out, "objectives", norm);
    } else {
        if (parse_one_objective(s, 0, obj, "objective", norm, err, errlen) < 0)
            goto out_free;
        json_object_set(out, "objective", json_array_get(norm, 0));
        json_decref(norm);
    }
    s->objective = strdup(s->objectives[0].name);
    s->maximize = s->objectives[0].maximize;
    return s->objective ? 0 : -1;

out_free:
    json_decref(norm);
    return -1;
}

/* "constraints": [{"name", "min"?, "max"?}, ...]: metrics that must hold for a
 * trial to be feasible. */
static int parse_constraints(struct spec *s, const json_t *in, json_t *out, char *err,
                             size_t errlen)
{
    json_t *list = opt(in, "constraints");
    char field[40], f[64], a[128];
    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) > SPEC_MAX_CONSTRAINTS) {
        json_quote(list, a, sizeof a);
        json_errf(err, errlen, "constraints: must be an array of at most %d objects (got %s)",
                  SPEC_MAX_CONSTRAINTS, a);
        return -1;
    }
    json_t *norm = json_array();
    if (!norm)
        return -1;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *c = json_array_get(list, i);
        const char *name;
        struct spec_constraint *k = &s->constraints[i];
        snprintf(field, sizeof field, "constraints[%zu]", i);
        if (!json_is_object(c)) {
            json_quote(c, a, sizeof a);
            json_errf(err, errlen, "%s: must be an object (got %s)", field, a);
            goto out_free;
        }
        if (check_keys(c, field, constraint_keys, err, errlen) < 0)
            goto out_free;
        if (!opt(c, "name")) {
            json_errf(err, errlen, "%s.name: required", field);
            goto out_free;
        }
        snprintf(f, sizeof f, "%s.name", field);
        if (get_word(c, field, "name", NULL, NULL, &name, err, errlen) < 0 ||
            check_metric_name(name, f, err, errlen) < 0)
            goto out_free;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(s->constraints[j].name, name)) {
                json_errf(err, errlen,
                          "%s: constraint on \"%s\" given twice (give min and max "
                          "in one)",
                          f, name);
                goto out_free;
            }
        }
        k->has_min = opt(c, "min") != NULL;
        k->has_max = opt(c, "max") != NULL;
        if (!k->has_min && !k->has_max) {
            json_errf(err, errlen, "%s: needs \"min\", \"max\" or both", field);
            goto out_free;
        }
        if (get_double(c, field, "min", 0, -1e300, 1e300, &k->min, err, errlen) < 0 ||
            get_double(c, field, "max", 0, -1e300, 1e300, &k->max, err, errlen) < 0)
            goto out_free;
        if (k->has_min && k->has_max && k->min > k->max) {
            json_errf(err, errlen, "%s: min %g is above max %g", field, k->min, k->max);
            goto out_free;
        }
        k->name = strdup(name);
        s->n_constraints = i + 1;
        if (!k->name)
            goto out_free;
        json_t *o = json_pack("{s:s}", "name", name);
        if (k->has_min)
            json_object_set_new(o, "min", json_real(k->min));
        if (k->has_max)
            json_object_set_new(o, "max", json_real(k->max));
        json_array_append_new(norm, o);
    }
    json_object_set_new(out, "constraints", norm);
    return 0;

out_free:
    json_decref(norm);
    return -1;
}

/* "reference_point": the hypervolume reference, one number per objective in the
 * objectives' own units; without it the daemon derives one from the first
 * trials and records it. */
static int parse_reference(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *ref = opt(in, "reference_point");
    char a[128];
    if (!ref)
        return 0;
    if (!json_is_array(ref) || json_array_size(ref) != s->n_objectives) {
        json_quote(ref, a, sizeof a);
        json_errf(err, errlen,
                  "reference_point: must be an array of %zu numbers, one per "
                  "objective (got %s)",
                  s->n_objectives, a);
        return -1;
    }
    for (size_t i = 0; i < s->n_objectives; i++) {
        json_t *v = json_array_get(ref, i);
        double x = json_is_num(v) ? json_num_value(v) : NAN;
        if (!isfinite(x)) {
            json_quote(v, a, sizeof a);
            json_errf(err, errlen, "reference_point[%zu]: must be a finite number (got %s)", i, a);
            return -1;
        }
        s->reference[i] = x;
    }
    s->has_reference = true;
    json_object_set_new(out, "reference_point", json_deep_copy(ref));
    return 0;
}

static int parse_sampler(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj;
    const char *name;
    char a[128];
    if (get_object(in, "sampler", &obj, err, errlen) < 0)
        return -1;
    if (get_word(obj, "sampler", "name", "auto", samplers, &name, err, errlen) < 0)
        return -1;
    json_t *seed = opt(obj, "seed");
    if (seed) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0) {
            json_quote(seed, a, sizeof a);
            json_errf(err, errlen, "sampler.seed: must be a non-negative integer (got %s)", a);
            return -1;
        }
        s->seed = (uint64_t)json_integer_value(seed);
    } else {
        s->seed = seed_from_name(s->name);
    }
    if (spec_multi(s) && in_list(name, single_objective)) {
        json_errf(err, errlen,
                  "sampler.name: \"%s\" models one objective without constraints; this study "
                  "has %s: use auto, mogp, motpe, random, sobol or llm",
                  name, s->n_objectives > 1 ? "several objectives" : "constraints");
        return -1;
    }
    s->sampler = strdup(name);
    s->sampler_opts = obj ? json_deep_copy(obj) : json_object();
    if (!s->sampler || !s->sampler_opts)
        return -1;
    json_object_set_new(s->sampler_opts, "name", json_string(name));
    json_object_set_new(s->sampler_opts, "seed", json_integer((json_int_t)s->seed));
    json_object_set(out, "sampler", s->sampler_opts);
    return 0;
}

static int parse_llm(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj;
    const char *provider, *history, *then, *fallback;
    long batch, init_trials, candidates;
    double max_tokens, temperature;
    char a[128];
    if (get_object(in, "llm", &obj, err, errlen) < 0)
        return -1;
    if (!obj && strcmp(s->sampler, "llm") != 0)
        return 0; /* no LLM in this study */
    if (obj && check_keys(obj, "llm", llm_keys, err, errlen) < 0)
        return -1;
    if (get_word(obj, "llm", "provider", "default", NULL, &provider, err, errlen) < 0 ||
        get_word(obj, "llm", "history", "compressed", histories, &history, err, errlen) < 0 ||
        get_word(obj, "llm", "then", spec_multi(s) ? "auto" : "gp", classical, &then, err, errlen) <
            0 ||
        get_word(obj, "llm", "fallback", "allow", fallbacks, &fallback, err, errlen) < 0 ||
        get_long(obj, "llm", "batch", 1, 1, 16, &batch, err, errlen) < 0 ||
        get_long(obj, "llm", "init_trials", 0, 1, 1000000, &init_trials, err, errlen) < 0 ||
        get_long(obj, "llm", "candidates", 0, 1, 1000, &candidates, err, errlen) < 0 ||
        get_double(obj, "llm", "max_tokens", 500000, 1, 1e15, &max_tokens, err, errlen) < 0 ||
        get_double(obj, "llm", "temperature", 0, 0, 2, &temperature, err, errlen) < 0)
        return -1;
    if (spec_multi(s) && in_list(then, single_objective)) {
        json_errf(err, errlen,
                  "llm.then: \"%s\" models one objective without constraints; this study has "
                  "%s: use auto, mogp, motpe, random or sobol",
                  then, s->n_objectives > 1 ? "several objectives" : "constraints");
        return -1;
    }
    if (max_tokens != floor(max_tokens)) {
        json_quote(opt(obj, "max_tokens"), a, sizeof a);
        json_errf(err, errlen, "llm.max_tokens: must be a positive integer (got %s)", a);
        return -1;
    }
    /* "auto" (the bound follows from the provider's settings) or seconds */
    json_t *wait = opt(obj, "wait");
    if (wait && !(json_is_string(wait) && !strcmp(json_string_value(wait), "auto")) &&
        !(json_is_num(wait) && json_num_value(wait) >= 0 &&
          json_num_value(wait) <= LLM_WAIT_MAX_S)) {
        json_quote(wait, a, sizeof a);
        json_errf(err, errlen,
                  "llm.wait: must be \"auto\" or a number of seconds from 0 to %d (got %s)",
                  LLM_WAIT_MAX_S, a);
        return -1;
    }
    json_t *reasoning = opt(obj, "reasoning");
    if (reasoning && !json_is_boolean(reasoning)) {
        json_quote(reasoning, a, sizeof a);
        json_errf(err, errlen, "llm.reasoning: must be true or false (got %s)", a);
        return -1;
    }
    const char *strs[] = {"model", "template", "mode"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        json_t *v = opt(obj, strs[i]);
        if (v && (!json_is_string(v) || json_string_length(v) == 0)) {
            json_quote(v, a, sizeof a);
            json_errf(err, errlen, "llm.%s: must be a non-empty string (got %s)", strs[i], a);
            return -1;
        }
    }
    s->llm = obj ? json_deep_copy(obj) : json_object();
    if (!s->llm)
        return -1;
    json_object_set_new(s->llm, "provider", json_string(provider));
    json_object_set_new(s->llm, "history", json_string(history));
    json_object_set_new(s->llm, "reasoning", json_boolean(json_is_true(reasoning)));
    json_object_set_new(s->llm, "batch", json_integer(batch));
    json_object_set_new(s->llm, "init_trials",
                        opt(obj, "init_trials") ? json_integer(init_trials) : json_null());
    json_object_set_new(s->llm, "then", json_string(then));
    json_object_set_new(s->llm, "max_tokens", json_integer((json_int_t)max_tokens));
    json_object_set_new(s->llm, "wait", wait ? json_incref(wait) : json_string("auto"));
    json_object_set_new(s->llm, "fallback", json_string(fallback));
    if (opt(obj, "candidates"))
        json_object_set_new(s->llm, "candidates", json_integer(candidates));
    json_object_set(out, "llm", s->llm);
    return 0;
}

static int parse_pruner(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj;
    const char *name;
    if (get_object(in, "pruner", &obj, err, errlen) < 0 ||
        get_word(obj, "pruner", "name", "none", pruners, &name, err, errlen) < 0 ||
        pruner_validate(obj, err, errlen) < 0)
        return -1;
    const char *watched;
    if (get_word(obj, "pruner", "objective", s->objectives[0].name, NULL, &watched, err, errlen) <
        0)
        return -1;
    s->pruner_objective = s->n_objectives;
    for (size_t i = 0; i < s->n_objectives; i++)
        if (!strcmp(s->objectives[i].name, watched))
            s->pruner_objective = i;
    if (s->pruner_objective == s->n_objectives) {
        char list[256];
        size_t len = 0;
        list[0] = '\0';
        for (size_t i = 0; i < s->n_objectives && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", i ? ", " : "",
                                    s->objectives[i].name);
        json_errf(err, errlen,
                  "pruner.objective: \"%s\" is not an objective of this study "
                  "(expected one of %s)",
                  watched, list);
        return -1;
    }
    s->pruner = strdup(name);
    s->pruner_opts = obj ? json_deep_copy(obj) : json_object();
    if (!s->pruner || !s->pruner_opts)
        return -1;
    json_object_set_new(s->pruner_opts, "name", json_string(name));
    json_object_set(out, "pruner", s->pruner_opts);
    return 0;
}

static int parse_budget(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj;
    if (get_object(in, "budget", &obj, err, errlen) < 0)
        return -1;
    if (obj && check_keys(obj, "budget", budget_keys, err, errlen) < 0)
        return -1;
    if (get_long(obj, "budget", "max_trials", 100, 1, 1000000, &s->max_trials, err, errlen) < 0 ||
        get_long(obj, "budget", "max_parallel", 8, 1, 10000, &s->max_parallel, err, errlen) < 0 ||
        get_long(obj, "budget", "max_failures", 10, 1, 1000000000L, &s->max_failures, err, errlen) <
            0 ||
        get_double(obj, "budget", "trial_timeout_s", 3600, 0, 1e9, &s->trial_timeout_s, err,
                   errlen) < 0)
        return -1;
    json_t *timeout = s->trial_timeout_s == floor(s->trial_timeout_s)
                          ? json_integer((json_int_t)s->trial_timeout_s)
                          : json_real(s->trial_timeout_s);
    json_object_set_new(out, "budget",
                        json_pack("{s:I, s:I, s:I, s:o}", "max_trials", (json_int_t)s->max_trials,
                                  "max_parallel", (json_int_t)s->max_parallel, "max_failures",
                                  (json_int_t)s->max_failures, "trial_timeout_s", timeout));
    return 0;
}

static int parse_lease(struct spec *s, const json_t *in, json_t *out, char *err, size_t errlen)
{
    json_t *obj;
    if (get_object(in, "lease", &obj, err, errlen) < 0)
        return -1;
    if (obj && check_keys(obj, "lease", lease_keys, err, errlen) < 0)
        return -1;
    if (get_double(obj, "lease", "heartbeat_s", 30, 0.1, 86400, &s->heartbeat_s, err, errlen) < 0 ||
        get_long(obj, "lease", "stale_after", 2, 1, 1000000, &s->stale_after, err, errlen) < 0 ||
        get_long(obj, "lease", "max_retries", 2, 0, 1000000, &s->max_retries, err, errlen) < 0)
        return -1;
    json_t *hb = s->heartbeat_s == floor(s->heartbeat_s) ? json_integer((json_int_t)s->heartbeat_s)
                                                         : json_real(s->heartbeat_s);
    json_object_set_new(out, "lease",
                        json_pack("{s:o, s:I, s:I}", "heartbeat_s", hb, "stale_after",
                                  (json_int_t)s->stale_after, "max_retries",
                                  (json_int_t)s->max_retries));
    return 0;
}

struct spec *spec_parse(const json_t *in, char *err, size_t errlen)
{
    char a[128];
    if (!json_is_object(in)) {
        json_errf(err, errlen, "spec: must be a JSON object");
        return NULL;
    }
    if (check_keys(in, NULL, top_keys, err, errlen) < 0)
        return NULL;
    json_t *name = json_object_get(in, "name");
    if (!name) {
        json_errf(err, errlen, "name: required");
        return NULL;
    }
    if (!json_is_string(name) || !spec_name_valid(json_string_value(name))) {
        json_quote(name, a, sizeof a);
        json_errf(err, errlen,
                  "name: invalid study name %s (1 to 64 characters of A-Z a-z 0-9 . _ -)", a);
        return NULL;
    }
    json_t *desc = opt(in, "description");
    if (desc && !json_is_string(desc)) {
        json_quote(desc, a, sizeof a);
        json_errf(err, errlen, "description: must be a string (got %s)", a);
        return NULL;
    }
    json_t *params = json_object_get(in, "params");
    if (!params) {
        json_errf(err, errlen, "params: required");
        return NULL;
    }

    struct spec *s = calloc(1, sizeof *s);
    if (!s) {
        json_errf(err, errlen, "out of memory");
        return NULL;
    }
    s->json = json_object();
    s->name = strdup(json_string_value(name));
    s->description = strdup(desc ? json_string_value(desc) : "");
    if (!s->json || !s->name || !s->description)
        goto out_oom;
    json_object_set_new(s->json, "name", json_string(s->name));
    json_object_set_new(s->json, "description", json_string(s->description));
    if (parse_objective(s, in, s->json, err, errlen) < 0 ||
        parse_constraints(s, in, s->json, err, errlen) < 0 ||
        parse_reference(s, in, s->json, err, errlen) < 0)
        goto out_free;
    s->space = space_parse(params, err, errlen);
    if (!s->space)
        goto out_free;
    json_object_set_new(s->json, "params", json_deep_copy(params));
    if (parse_sampler(s, in, s->json, err, errlen) < 0 ||
        parse_llm(s, in, s->json, err, errlen) < 0 ||
        parse_pruner(s, in, s->json, err, errlen) < 0 ||
        parse_budget(s, in, s->json, err, errlen) < 0 ||
        parse_lease(s, in, s->json, err, errlen) < 0)
        goto out_free;
    return s;

out_oom:
    json_errf(err, errlen, "out of memory");
out_free:
    spec_free(s);
    return NULL;
}
