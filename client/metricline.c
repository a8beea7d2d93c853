#include <config.h>
#include "metricline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define METRICLINE_MAX_PAIRS 256
#define METRICLINE_MAX_NAME  64

void metricline_init(struct metricline *m)
{
    memset(m, 0, sizeof *m);
}

void metricline_release(struct metricline *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    free(m->names);
    free(m->values);
    metricline_init(m);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_valid(const char *s, size_t len)
{
    if (len == 0 || len > METRICLINE_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '/' || c == '-'))
            return false;
    }
    return true;
}

static int add_pair(struct metricline *m, const char *name, size_t len, double v)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strlen(m->names[i]) == len && memcmp(m->names[i], name, len) == 0) {
            m->values[i] = v;
            return 0;
        }
    }
    char **names = realloc(m->names, (m->n + 1) * sizeof *names);
    if (!names)
        return -1;
    m->names = names;
    double *values = realloc(m->values, (m->n + 1) * sizeof *values);
    if (!values)
        return -1;
    m->values = values;
    char *copy = strndup(name, len);
    if (!copy)
        return -1;
    m->names[m->n] = copy;
    m->values[m->n] = v;
    m->n++;
    return 0;
}

/* Copy token [s, s+len) into tmp (bounded) for error messages and number parsing. */
static void token_copy(char *tmp, size_t tmplen, const char *s, size_t len)
{
    size_t n = len < tmplen - 1 ? len : tmplen - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
}

static int parse_token(struct metricline *m, const char *s, size_t len, char *err, size_t errlen)
{
    char tok[128];
    token_copy(tok, sizeof tok, s, len);
    if (len == 5 && memcmp(s, "final", 5) == 0) {
        m->final = true;
        return 0;
    }
    const char *eq = memchr(s, '=', len);
    if (!eq) {
        snprintf(err, errlen, "expected name=value, got \"%s\"", tok);
        return -1;
    }
    size_t nlen = (size_t)(eq - s);
    const char *val = eq + 1;
    size_t vlen = len - nlen - 1;
    char num[128];
    if (vlen == 0 || vlen >= sizeof num) {
        snprintf(err, errlen, "bad value in \"%s\"", tok);
        return -1;
    }
    token_copy(num, sizeof num, val, vlen);
    if (nlen == 4 && memcmp(s, "step", 4) == 0) {
        char *end;
        errno = 0;
        long long step = strtoll(num, &end, 10);
        if (*end || errno || step < 0 || num[0] == '+' || num[0] == '-' || num[0] == ' ') {
            snprintf(err, errlen, "step must be a non-negative integer, got \"%s\"", num);
            return -1;
        }
        m->has_step = true;
        m->step = step;
        return 0;
    }
    if (!name_valid(s, nlen)) {
        snprintf(err, errlen, "bad metric name in \"%s\"", tok);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(num, &end);
    if (*end || end == num || !isfinite(v) || errno == ERANGE) {
        snprintf(err, errlen, "value of \"%.*s\" is not a finite number: \"%s\"", (int)nlen, s,
                 num);
        return -1;
    }
    if (m->n >= METRICLINE_MAX_PAIRS) {
        snprintf(err, errlen, "more than %d metrics on one line", METRICLINE_MAX_PAIRS);
        return -1;
    }
    if (add_pair(m, s, nlen, v) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int metricline_parse(const char *text, struct metricline *m, char *err, size_t errlen)
{
    metricline_release(m);
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "@hpo", 4) != 0 || (p[4] && !is_space(p[4])))
        return 0;
    p += 4;
    for (;;) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_space(*p))
            p++;
        if (parse_token(m, start, (size_t)(p - start), err, errlen) < 0) {
            metricline_release(m);
            return -1;
        }
    }
    if (m->n == 0) {
        snprintf(err, errlen, "no name=value pair after \"@hpo\"");
        metricline_release(m);
        return -1;
    }
    return 1;
}

bool metricline_objective(const struct metricline *m, const char *objective, double *value,
                          const char **name)
{
    if (m->n == 0)
        return false;
    size_t k = 0;
    for (size_t i = 0; objective && i < m->n; i++) {
        if (strcmp(m->names[i], objective) == 0) {
            k = i;
            break;
        }
    }
    *value = m->values[k];
    if (name)
        *name = m->names[k];
    return true;
}

json_t *metricline_values_json(const struct metricline *m)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < m->n; i++)
        json_object_set_new(o, m->names[i], json_real(m->values[i]));
    return o;
}

void metricline_format_number(double v, char *out, size_t outlen)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

char *metricline_format(const struct metricline *m)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "@hpo");
    if (m->final)
        buf_puts(&b, " final");
    if (m->has_step)
        buf_printf(&b, " step=%lld", m->step);
    for (size_t i = 0; i < m->n; i++) {
        char num[40];
        metricline_format_number(m->values[i], num, sizeof num);
        buf_printf(&b, " %s=%s", m->names[i], num);
    }
    return buf_steal(&b);
}
