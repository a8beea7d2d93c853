#include <config.h>
#include "template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metricline.h"

char *template_env_name(const char *param)
{
    static const char prefix[] = "HPO_PARAM_";
    size_t n = strlen(param);
    char *out = malloc(sizeof prefix + n);
    if (!out)
        return NULL;
    memcpy(out, prefix, sizeof prefix - 1);
    for (size_t i = 0; i < n; i++) {
        char c = param[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        out[sizeof prefix - 1 + i] = c;
    }
    out[sizeof prefix - 1 + n] = '\0';
    return out;
}

char *template_value_text(const json_t *v)
{
    char num[48];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strdup(json_string_value(v));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(num);
    case JSON_REAL:
        metricline_format_number(json_real_value(v), num, sizeof num);
        return strdup(num);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    case JSON_NULL:
        return strdup("");
    default:
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    }
}

char *template_code_file_name(const char *name, const char *language)
{
    bool python = language && strcmp(language, "python") == 0;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s.%s", name, python ? "py" : "txt");
    return buf_steal(&b);
}

static int vars_set_text(json_t *vars, const char *name, const json_t *value)
{
    char *text = template_value_text(value);
    if (!text)
        return -1;
    int rc = json_object_set_new(vars, name, json_string(text));
    free(text);
    return rc;
}

json_t *template_vars_new(const json_t *spec_params, const json_t *params, const json_t *code_files,
                          const char *params_file, const char *trial_dir)
{
    json_t *vars = json_object();
    if (!vars)
        return NULL;
    size_t i;
    json_t *p;
    json_array_foreach(spec_params, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        if (name)
            json_object_set_new(vars, name, json_string(""));
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        const json_t *path = json_object_get(code_files, key);
        int rc = json_is_string(path) ? json_object_set(vars, key, (json_t *)path)
                                      : vars_set_text(vars, key, value);
        if (rc < 0) {
            json_decref(vars);
            return NULL;
        }
    }
    if (params_file)
        json_object_set_new(vars, "params_file", json_string(params_file));
    if (trial_dir)
        json_object_set_new(vars, "trial_dir", json_string(trial_dir));
    return vars;
}

char *template_expand(const char *arg, const json_t *vars)
{
    struct buf b;
    buf_init(&b);
    const char *p = arg;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_puts(&b, p);
            break;
        }
        buf_append(&b, p, (size_t)(open - p));
        const char *close = strchr(open + 1, '}');
        const char *nested = strchr(open + 1, '{');
        if (!close || (nested && nested < close)) {
            /* no placeholder here: keep the brace, look again after it */
            buf_append(&b, open, 1);
            p = open + 1;
            continue;
        }
        char key[128];
        size_t klen = (size_t)(close - open - 1);
        const json_t *v = NULL;
        if (klen > 0 && klen < sizeof key) {
            memcpy(key, open + 1, klen);
            key[klen] = '\0';
            v = json_object_get(vars, key);
        }
        if (json_is_string(v)) {
            buf_puts(&b, json_string_value(v));
            p = close + 1;
        } else {
            buf_append(&b, open, 1);
            p = open + 1;
        }
    }
    return buf_steal(&b);
}
