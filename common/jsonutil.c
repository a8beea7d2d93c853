#include <config.h>
#include "jsonutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *json_str(const json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

bool json_is_num(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

double json_num_value(const json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

double json_num(const json_t *obj, const char *key, double def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_num(v) ? json_num_value(v) : def;
}

long long json_int(const json_t *obj, const char *key, long long def)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15)
        return (long long)json_real_value(v);
    return def;
}

bool json_bool(const json_t *obj, const char *key, bool def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

char *json_canonical(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

json_t *json_parse_text(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v && err)
        snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
    return v;
}

bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_num(a) && json_is_num(b))
        return json_num_value(a) == json_num_value(b);
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *va;
        json_object_foreach((json_t *)a, k, va)
        {
            if (!json_same(va, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

void json_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void json_quote(const json_t *v, char *out, size_t n)
{
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!d) {
        snprintf(out, n, "\"?\"");
        return;
    }
    if (json_is_string(v)) {
        if (strlen(d) > 60)
            snprintf(out, n, "%.56s...\"", d);
        else
            snprintf(out, n, "%s", d);
    } else if (strlen(d) > 50) {
        snprintf(out, n, "\"%.46s...\"", d);
    } else {
        snprintf(out, n, "\"%s\"", d);
    }
    free(d);
}
