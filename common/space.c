#include <config.h>
#include "space.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"

#define SPACE_MAX_PARAMS       256
#define CODE_MAX_BYTES_DEFAULT 65536
#define CODE_MAX_BYTES_LIMIT   (16 * 1024 * 1024)
#define INT_LIMIT              9007199254740992.0 /* 2^53: every integer up to here is exact */
#define FLOAT_TOL              1e-12              /* relative slack on float bounds */
#define GRID_TOL               1e-9               /* relative slack on step grids */

/* ---- small formatting helpers ---- */

/* Shortest text that reads back as exactly v. */
static void fmt_num(double v, char *out, size_t n)
{
    if (!isfinite(v)) {
        snprintf(out, n, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    /* plain digits rather than 1e+03 for everyday magnitudes */
    double mag = fabs(v);
    if (mag >= 1 && mag < 1e15) {
        int digits = (int)floor(log10(mag)) + 1;
        if (digits > prec)
            prec = digits;
    }
    snprintf(out, n, "%.*g", prec, v);
}

/* A value for a message: always in double quotes, strings as JSON text, cut
 * short when long. */
static void fmt_value(const json_t *v, char *out, size_t n)
{
    char tmp[96];
    if (!v) {
        snprintf(out, n, "\"(absent)\"");
        return;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        size_t j = 0;
        tmp[j++] = '"';
        for (size_t i = 0; i < len && j < 60; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\') {
                tmp[j++] = '\\';
                tmp[j++] = (char)c;
            } else if (c == '\n') {
                tmp[j++] = '\\';
                tmp[j++] = 'n';
            } else if (c < 0x20) {
                tmp[j++] = '?';
            } else {
                tmp[j++] = (char)c;
            }
        }
        if (j >= 60 && len > 40) {
            /* do not cut a UTF-8 sequence in half */
            while (j > 1 && ((unsigned char)tmp[j - 1] & 0xC0) == 0x80)
                j--;
            if (j > 1 && ((unsigned char)tmp[j - 1] & 0x80))
                j--;
            memcpy(tmp + j, "...", 3);
            j += 3;
        }
        tmp[j++] = '"';
        tmp[j] = '\0';
        snprintf(out, n, "%s", tmp);
        return;
    }
    if (json_is_real(v)) {
        fmt_num(json_real_value(v), tmp, sizeof tmp);
        snprintf(out, n, "\"%s\"", tmp);
        return;
    }
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!d) {
        snprintf(out, n, "\"?\"");
        return;
    }
    if (strlen(d) > 50)
        snprintf(out, n, "\"%.47s...\"", d);
    else
        snprintf(out, n, "\"%s\"", d);
    free(d);
}

static void fmt_num_q(double v, char *out, size_t n)
{
    char tmp[40];
    fmt_num(v, tmp, sizeof tmp);
    snprintf(out, n, "\"%s\"", tmp);
}

/* Choices as a short JSON list for messages. */
static void fmt_choices(const json_t *choices, char *out, size_t n)
{
    char *d = json_dumps(choices, JSON_ENCODE_ANY);
    if (!d) {
        snprintf(out, n, "[...]");
        return;
    }
    if (strlen(d) > 200)
        snprintf(out, n, "%.196s ...]", d);
    else
        snprintf(out, n, "%s", d);
    free(d);
}

static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool symbol_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_ident_char(s[i]))
            return false;
    return true;
}

/* Whether sym occurs in text as a whole word. */
static bool has_word(const char *text, const char *sym)
{
    size_t n = strlen(sym);
    if (!n)
        return false;
    for (const char *p = strstr(text, sym); p; p = strstr(p + 1, sym)) {
        bool left = p == text || !is_ident_char(p[-1]);
        bool right = !is_ident_char(p[n]);
        if (left && right)
            return true;
    }
    return false;
}

/* ---- grids ---- */

/* Number of grid points above low for a stepped parameter. */
static double grid_kmax(const struct param *p)
{
    if (p->type == PARAM_INT)
        return floor((p->high - p->low) / p->step);
    return floor((p->high - p->low) / p->step * (1 + GRID_TOL) + GRID_TOL);
}

static double clampd(double v, double lo, double hi)
{
    if (v < lo)
        return lo;
    if (v > hi)
        return hi;
    return v;
}

/* The k-th grid value; float grids are tidied to 15 significant digits when that
 * moves them by far less than a step (0.30000000000000004 becomes 0.3). */
static double grid_value(const struct param *p, double k)
{
    double g = p->low + k * p->step;
    if (p->type == PARAM_FLOAT) {
        char b[40];
        snprintf(b, sizeof b, "%.15g", g);
        double c = strtod(b, NULL);
        if (fabs(c - g) <= 1e-6 * p->step)
            g = c;
    }
    return clampd(g, p->low, p->high);
}

static bool is_grid(const struct param *p)
{
    return p->step > 0 && (p->type == PARAM_INT || !p->log);
}

/* Bounds of the log-space interval an int log parameter is sampled from:
 * widened by half a step so that end values get their share of mass. */
static void int_log_bounds(const struct param *p, double *lo, double *hi)
{
    double top = p->low + grid_kmax(p) * p->step;
    *lo = fmax(p->low - 0.5 * p->step, 0.5 * p->low);
    *hi = top + 0.5 * p->step;
}

static double clamp_unit(double u)
{
    if (!(u > 0))
        return 0;
    if (u > 1)
        return 1;
    return u;
}

/* ---- values ---- */

int param_choice_index(const struct param *p, const json_t *value)
{
    if (!p || p->type != PARAM_CATEGORICAL || !value)
        return -1;
    for (size_t i = 0; i < json_array_size(p->choices); i++)
        if (json_same(json_array_get(p->choices, i), value))
            return (int)i;
    return -1;
}

/* Check one value against p; a new normalised reference, or NULL with why set
 * (a message without the parameter name). */
static json_t *check_value(const struct param *p, const json_t *v, char *why, size_t whylen)
{
    char a[128], b[128], c[128];
    switch (p->type) {
    case PARAM_FLOAT: {
        if (!json_is_num(v)) {
            fmt_value(v, a, sizeof a);
            json_errf(why, whylen, "must be a number (got %s)", a);
            return NULL;
        }
        double x = json_num_value(v);
        double tol = FLOAT_TOL * fmax(fabs(p->low), fabs(p->high));
        if (!isfinite(x) || x < p->low - tol || x > p->high + tol) {
            fmt_value(v, a, sizeof a);
            fmt_num(p->low, b, sizeof b);
            fmt_num(p->high, c, sizeof c);
            json_errf(why, whylen, "%s is out of range [%s, %s]", a, b, c);
            return NULL;
        }
        x = clampd(x, p->low, p->high);
        if (is_grid(p)) {
            double k = nearbyint((x - p->low) / p->step);
            double kmax = grid_kmax(p);
            k = clampd(k, 0, kmax);
            double g = grid_value(p, k);
            if (fabs(x - g) > GRID_TOL * fmax(fabs(g), p->step)) {
                fmt_value(v, a, sizeof a);
                fmt_num(p->low, b, sizeof b);
                fmt_num(p->step, c, sizeof c);
                json_errf(why, whylen, "%s is not on the grid %s + k * %s", a, b, c);
                return NULL;
            }
            x = g;
        }
        return json_real(x);
    }
    case PARAM_INT: {
        if (!json_is_num(v)) {
            fmt_value(v, a, sizeof a);
            json_errf(why, whylen, "must be an integer (got %s)", a);
            return NULL;
        }
        double x = json_num_value(v);
        if (!isfinite(x) || x != floor(x) || fabs(x) > INT_LIMIT) {
            fmt_value(v, a, sizeof a);
            json_errf(why, whylen, "must be an integer (got %s)", a);
            return NULL;
        }
        if (x < p->low || x > p->high) {
            fmt_value(v, a, sizeof a);
            fmt_num(p->low, b, sizeof b);
            fmt_num(p->high, c, sizeof c);
            json_errf(why, whylen, "%s is out of range [%s, %s]", a, b, c);
            return NULL;
        }
        if (p->step > 1 && fmod(x - p->low, p->step) != 0) {
            fmt_value(v, a, sizeof a);
            fmt_num(p->low, b, sizeof b);
            fmt_num(p->step, c, sizeof c);
            json_errf(why, whylen, "%s is not on the grid %s + k * %s", a, b, c);
            return NULL;
        }
        return json_integer((json_int_t)x);
    }
    case PARAM_CATEGORICAL: {
        int i = param_choice_index(p, v);
        if (i < 0) {
            fmt_value(v, a, sizeof a);
            char ch[256];
            fmt_choices(p->choices, ch, sizeof ch);
            json_errf(why, whylen, "%s is not one of %s", a, ch);
            return NULL;
        }
        return json_deep_copy(json_array_get(p->choices, (size_t)i));
    }
    case PARAM_CODE: {
        if (!json_is_string(v)) {
            fmt_value(v, a, sizeof a);
            json_errf(why, whylen, "must be a string of %s source (got %s)", p->language, a);
            return NULL;
        }
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (len == 0) {
            json_errf(why, whylen, "must not be empty");
            return NULL;
        }
        if (strlen(s) != len) {
            json_errf(why, whylen, "must not contain NUL bytes");
            return NULL;
        }
        if (len > p->max_bytes) {
            json_errf(why, whylen, "is %zu bytes, more than max_bytes %zu", len, p->max_bytes);
            return NULL;
        }
        for (size_t i = 0; i < json_array_size(p->requires); i++) {
            const char *sym = json_string_value(json_array_get(p->requires, i));
            if (sym && !has_word(s, sym)) {
                json_errf(why, whylen, "must contain the symbol \"%s\"", sym);
                return NULL;
            }
        }
        return json_stringn(s, len);
    }
    }
    json_errf(why, whylen, "unknown parameter type");
    return NULL;
}

/* Whether value v of the parent p matches one of the (normalised) when values. */
static bool when_match(const struct param *parent, const json_t *when_values, const json_t *v)
{
    if (!v)
        return false;
    for (size_t j = 0; j < json_array_size(when_values); j++) {
        const json_t *w = json_array_get(when_values, j);
        if (json_same(w, v))
            return true;
        if (parent->type == PARAM_FLOAT && json_is_num(v) && json_is_num(w)) {
            double x = json_num_value(v), y = json_num_value(w);
            if (fabs(x - y) <= FLOAT_TOL * fmax(1e-300, fmax(fabs(x), fabs(y))))
                return true;
        }
    }
    return false;
}

/* ---- parsing ---- */

static void param_release(struct param *p)
{
    free(p->name);
    json_decref(p->choices);
    free(p->language);
    free(p->contract);
    free(p->baseline);
    json_decref(p->requires);
    json_decref(p->when_values);
    memset(p, 0, sizeof *p);
}

void space_free(struct space *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        param_release(&s->params[i]);
    free(s->params);
    free(s);
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(key, allowed[i]))
            return true;
    return false;
}

static const char *const keys_float[] = {"name", "type", "when", "description", "low",
                                         "high", "log",  "step", NULL};
static const char *const keys_categorical[] = {"name",        "type",    "when",
                                               "description", "choices", NULL};
static const char *const keys_code[] = {"name",      "type",     "when",     "description",
                                        "language",  "contract", "baseline", "requires",
                                        "max_bytes", NULL};

static const char *type_name(enum param_type t)
{
    switch (t) {
    case PARAM_FLOAT:
        return "float";
    case PARAM_INT:
        return "int";
    case PARAM_CATEGORICAL:
        return "categorical";
    case PARAM_CODE:
        return "code";
    }
    return "?";
}

/* Read a numeric bound of a float or int parameter. */
static int parse_bound(const json_t *obj, size_t i, const char *key, bool is_int, double *out,
                       char *err, size_t errlen)
{
    char a[128];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        json_errf(err, errlen, "params[%zu].%s: required", i, key);
        return -1;
    }
    if (!json_is_num(v) || !isfinite(json_num_value(v))) {
        fmt_value(v, a, sizeof a);
        json_errf(err, errlen, "params[%zu].%s: must be a number (got %s)", i, key, a);
        return -1;
    }
    double x = json_num_value(v);
    if (is_int && (x != floor(x) || fabs(x) > INT_LIMIT)) {
        fmt_value(v, a, sizeof a);
        json_errf(err, errlen, "params[%zu].%s: must be an integer (got %s)", i, key, a);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_numeric(struct param *p, const json_t *obj, size_t i, char *err, size_t errlen)
{
    bool is_int = p->type == PARAM_INT;
    char a[128], b[128];
    if (parse_bound(obj, i, "low", is_int, &p->low, err, errlen) < 0 ||
        parse_bound(obj, i, "high", is_int, &p->high, err, errlen) < 0)
        return -1;
    if (p->low >= p->high) {
        fmt_num_q(p->low, a, sizeof a);
        fmt_num_q(p->high, b, sizeof b);
        json_errf(err, errlen, "params[%zu].low: must be below high (%s >= %s)", i, a, b);
        return -1;
    }
    if (!isfinite(p->high - p->low)) {
        json_errf(err, errlen, "params[%zu].high: range is too wide", i);
        return -1;
    }
    json_t *lg = json_object_get(obj, "log");
    if (lg && !json_is_boolean(lg)) {
        fmt_value(lg, a, sizeof a);
        json_errf(err, errlen, "params[%zu].log: must be true or false (got %s)", i, a);
        return -1;
    }
    p->log = json_is_true(lg);
    if (p->log && p->low <= 0) {
        fmt_num_q(p->low, a, sizeof a);
        json_errf(err, errlen, "params[%zu].low: must be positive with log scale (got %s)", i, a);
        return -1;
    }
    json_t *st = json_object_get(obj, "step");
    p->step = is_int ? 1 : 0;
    if (st) {
        if (!json_is_num(st) || !isfinite(json_num_value(st)) || json_num_value(st) <= 0) {
            fmt_value(st, a, sizeof a);
            json_errf(err, errlen, "params[%zu].step: must be a positive number (got %s)", i, a);
            return -1;
        }
        double x = json_num_value(st);
        if (is_int && x != floor(x)) {
            fmt_value(st, a, sizeof a);
            json_errf(err, errlen, "params[%zu].step: must be a positive integer (got %s)", i, a);
            return -1;
        }
        /* relative slack: 0.5 - 0.4 is a hair below 0.1 in binary */
        if (x > (p->high - p->low) * (1.0 + 1e-9)) {
            fmt_value(st, a, sizeof a);
            fmt_num_q(p->high - p->low, b, sizeof b);
            json_errf(err, errlen, "params[%zu].step: must not exceed high - low (%s > %s)", i, a,
                      b);
            return -1;
        }
        if (!is_int && p->log) {
            json_errf(err, errlen,
                      "params[%zu].step: cannot be combined with log for a float parameter", i);
            return -1;
        }
        if (!is_int && (p->high - p->low) / x > 1e12) {
            fmt_value(st, a, sizeof a);
            json_errf(err, errlen, "params[%zu].step: too small for the range (got %s)", i, a);
            return -1;
        }
        p->step = x;
    }
    return 0;
}

static int parse_categorical(struct param *p, const json_t *obj, size_t i, char *err, size_t errlen)
{
    char a[128];
    json_t *ch = json_object_get(obj, "choices");
    if (!ch) {
        json_errf(err, errlen, "params[%zu].choices: required", i);
        return -1;
    }
    if (!json_is_array(ch) || json_array_size(ch) == 0) {
        json_errf(err, errlen, "params[%zu].choices: must be a non-empty array", i);
        return -1;
    }
    if (json_array_size(ch) > 10000) {
        json_errf(err, errlen, "params[%zu].choices: at most 10000 choices", i);
        return -1;
    }
    for (size_t j = 0; j < json_array_size(ch); j++) {
        json_t *c = json_array_get(ch, j);
        if (!json_is_string(c) && !json_is_num(c) && !json_is_boolean(c)) {
            fmt_value(c, a, sizeof a);
            json_errf(err, errlen,
                      "params[%zu].choices[%zu]: must be a string, number or boolean (got %s)", i,
                      j, a);
            return -1;
        }
        for (size_t k = 0; k < j; k++) {
            if (json_same(json_array_get(ch, k), c)) {
                fmt_value(c, a, sizeof a);
                json_errf(err, errlen, "params[%zu].choices[%zu]: duplicate choice %s", i, j, a);
                return -1;
            }
        }
    }
    p->choices = json_deep_copy(ch);
    return p->choices ? 0 : -1;
}

static int parse_code_string(const json_t *obj, size_t i, const char *key, bool required,
                             bool nonempty, char **out, char *err, size_t errlen)
{
    char a[128];
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            json_errf(err, errlen, "params[%zu].%s: required for a code parameter", i, key);
            return -1;
        }
        *out = strdup("");
        return *out ? 0 : -1;
    }
    if (!json_is_string(v)) {
        fmt_value(v, a, sizeof a);
        json_errf(err, errlen, "params[%zu].%s: must be a string (got %s)", i, key, a);
        return -1;
    }
    if (nonempty && json_string_length(v) == 0) {
        json_errf(err, errlen, "params[%zu].%s: must not be empty", i, key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

static int parse_code(struct param *p, const json_t *obj, size_t i, char *err, size_t errlen)
{
    char a[128];
    if (parse_code_string(obj, i, "language", true, true, &p->language, err, errlen) < 0 ||
        parse_code_string(obj, i, "contract", false, false, &p->contract, err, errlen) < 0 ||
        parse_code_string(obj, i, "baseline", true, true, &p->baseline, err, errlen) < 0)
        return -1;
    p->max_bytes = CODE_MAX_BYTES_DEFAULT;
    json_t *mb = json_object_get(obj, "max_bytes");
    if (mb) {
        if (!json_is_integer(mb) || json_integer_value(mb) < 1 ||
            json_integer_value(mb) > CODE_MAX_BYTES_LIMIT) {
            fmt_value(mb, a, sizeof a);
            json_errf(err, errlen,
                      "params[%zu].max_bytes: must be an integer from 1 to %d (got %s)", i,
                      CODE_MAX_BYTES_LIMIT, a);
            return -1;
        }
        p->max_bytes = (size_t)json_integer_value(mb);
    }
    json_t *rq = json_object_get(obj, "requires");
    if (rq) {
        if (!json_is_array(rq)) {
            json_errf(err, errlen, "params[%zu].requires: must be an array of symbol names", i);
            return -1;
        }
        for (size_t j = 0; j < json_array_size(rq); j++) {
            json_t *s = json_array_get(rq, j);
            if (!json_is_string(s) || !symbol_valid(json_string_value(s))) {
                fmt_value(s, a, sizeof a);
                json_errf(err, errlen, "params[%zu].requires[%zu]: invalid symbol name %s", i, j,
                          a);
                return -1;
            }
        }
        p->requires = json_deep_copy(rq);
        if (!p->requires)
            return -1;
    }
    /* classical samplers hand out the baseline, so it must pass the same check */
    json_t *base = json_string(p->baseline);
    char why[256];
    json_t *ok = base ? check_value(p, base, why, sizeof why) : NULL;
    json_decref(base);
    if (!ok) {
        json_errf(err, errlen, "params[%zu].baseline: %s", i, why);
        return -1;
    }
    json_decref(ok);
    return 0;
}

/* Whether any entry of arr after index i has the given name. */
static bool named_later(const json_t *arr, size_t i, const char *name)
{
    for (size_t j = i + 1; j < json_array_size(arr); j++) {
        const char *nm = json_string_value(json_object_get(json_array_get(arr, j), "name"));
        if (nm && !strcmp(nm, name))
            return true;
    }
    return false;
}

static int parse_when(struct space *s, const json_t *arr, size_t i, const json_t *w, char *err,
                      size_t errlen)
{
    struct param *p = &s->params[i];
    char a[128], why[384];
    if (!json_is_object(w) || json_object_size(w) != 1) {
        json_errf(err, errlen,
                  "params[%zu].when: must be an object with one key, e.g. {\"kernel\": [\"poly\"]}",
                  i);
        return -1;
    }
    const char *pname = json_object_iter_key(json_object_iter((json_t *)w));
    json_t *vals = json_object_iter_value(json_object_iter((json_t *)w));
    if (!strcmp(pname, p->name)) {
        json_errf(err, errlen, "params[%zu].when: parameter \"%s\" cannot depend on itself", i,
                  pname);
        return -1;
    }
    size_t pi;
    const struct param *parent = space_find(s, pname, &pi);
    if (!parent || pi >= i) {
        if (named_later(arr, i, pname))
            json_errf(err, errlen,
                      "params[%zu].when: parameter \"%s\" must come before \"%s\" in params", i,
                      pname, p->name);
        else
            json_errf(err, errlen, "params[%zu].when: unknown parameter \"%s\"", i, pname);
        return -1;
    }
    if (parent->type == PARAM_CODE) {
        json_errf(err, errlen, "params[%zu].when: code parameter \"%s\" cannot be a condition", i,
                  pname);
        return -1;
    }
    if (!json_is_array(vals) || json_array_size(vals) == 0) {
        json_errf(err, errlen, "params[%zu].when.%s: must be a non-empty array of values", i,
                  pname);
        return -1;
    }
    p->when_values = json_array();
    if (!p->when_values)
        return -1;
    for (size_t j = 0; j < json_array_size(vals); j++) {
        json_t *v = json_array_get(vals, j);
        json_t *nv = check_value(parent, v, why, sizeof why);
        if (!nv) {
            fmt_value(v, a, sizeof a);
            json_errf(err, errlen, "params[%zu].when.%s[%zu]: impossible value of \"%s\": %s", i,
                      pname, j, pname, why);
            return -1;
        }
        json_array_append_new(p->when_values, nv);
    }
    p->parent = (int)pi;
    return 0;
}

static int parse_param(struct space *s, const json_t *arr, size_t i, char *err, size_t errlen)
{
    struct param *p = &s->params[i];
    const json_t *obj = json_array_get(arr, i);
    char a[128];
    p->parent = -1;
    if (!json_is_object(obj)) {
        fmt_value(obj, a, sizeof a);
        json_errf(err, errlen, "params[%zu]: must be an object (got %s)", i, a);
        return -1;
    }
    json_t *nm = json_object_get(obj, "name");
    if (!nm) {
        json_errf(err, errlen, "params[%zu].name: required", i);
        return -1;
    }
    if (!json_is_string(nm) || !name_valid(json_string_value(nm))) {
        fmt_value(nm, a, sizeof a);
        json_errf(err, errlen,
                  "params[%zu].name: invalid name %s (1 to 64 characters of A-Z a-z 0-9 _ . -)", i,
                  a);
        return -1;
    }
    size_t prev;
    if (space_find(s, json_string_value(nm), &prev)) {
        json_errf(err, errlen, "params[%zu].name: duplicate name \"%s\" (also params[%zu])", i,
                  json_string_value(nm), prev);
        return -1;
    }
    json_t *ty = json_object_get(obj, "type");
    if (!ty) {
        json_errf(err, errlen, "params[%zu].type: required (float, int, categorical or code)", i);
        return -1;
    }
    const char *t = json_string_value(ty);
    const char *const *allowed;
    if (t && !strcmp(t, "float")) {
        p->type = PARAM_FLOAT;
        allowed = keys_float;
    } else if (t && !strcmp(t, "int")) {
        p->type = PARAM_INT;
        allowed = keys_float;
    } else if (t && !strcmp(t, "categorical")) {
        p->type = PARAM_CATEGORICAL;
        allowed = keys_categorical;
    } else if (t && !strcmp(t, "code")) {
        p->type = PARAM_CODE;
        allowed = keys_code;
    } else {
        fmt_value(ty, a, sizeof a);
        json_errf(err, errlen,
                  "params[%zu].type: unknown type %s (expected float, int, categorical or code)", i,
                  a);
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (!key_allowed(key, allowed)) {
            json_errf(err, errlen, "params[%zu].%s: unknown field for a %s parameter", i, key,
                      type_name(p->type));
            return -1;
        }
    }
    json_t *desc = json_object_get(obj, "description");
    if (desc && !json_is_string(desc)) {
        json_errf(err, errlen, "params[%zu].description: must be a string", i);
        return -1;
    }
    p->name = strdup(json_string_value(nm));
    if (!p->name) {
        json_errf(err, errlen, "out of memory");
        return -1;
    }
    /* the name counts from here on (space_find sees it) */
    s->n = i + 1;
    int rc = 0;
    switch (p->type) {
    case PARAM_FLOAT:
    case PARAM_INT:
        rc = parse_numeric(p, obj, i, err, errlen);
        break;
    case PARAM_CATEGORICAL:
        rc = parse_categorical(p, obj, i, err, errlen);
        break;
    case PARAM_CODE:
        rc = parse_code(p, obj, i, err, errlen);
        break;
    }
    if (rc < 0)
        return -1;
    json_t *w = json_object_get(obj, "when");
    if (w && parse_when(s, arr, i, w, err, errlen) < 0)
        return -1;
    return 0;
}

struct space *space_parse(const json_t *params, char *err, size_t errlen)
{
    if (!json_is_array(params) || json_array_size(params) == 0) {
        json_errf(err, errlen, "params: must be a non-empty array");
        return NULL;
    }
    size_t n = json_array_size(params);
    if (n > SPACE_MAX_PARAMS) {
        json_errf(err, errlen, "params: at most %d parameters (got %zu)", SPACE_MAX_PARAMS, n);
        return NULL;
    }
    struct space *s = calloc(1, sizeof *s);
    if (!s) {
        json_errf(err, errlen, "out of memory");
        return NULL;
    }
    s->params = calloc(n, sizeof *s->params);
    if (!s->params) {
        json_errf(err, errlen, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_param(s, params, i, err, errlen) < 0) {
            /* parse_param may have filled params[i] before failing */
            s->n = i + 1;
            goto out_free;
        }
    }
    s->n = n;
    return s;

out_free:
    space_free(s);
    return NULL;
}

/* ---- queries ---- */

const struct param *space_find(const struct space *s, const char *name, size_t *index)
{
    if (!s || !name)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (s->params[i].name && !strcmp(s->params[i].name, name)) {
            if (index)
                *index = i;
            return &s->params[i];
        }
    }
    return NULL;
}

bool space_active(const struct space *s, size_t i, const json_t *config)
{
    if (!s || i >= s->n)
        return false;
    const struct param *p = &s->params[i];
    if (p->parent < 0)
        return true;
    size_t pi = (size_t)p->parent;
    if (!space_active(s, pi, config))
        return false;
    const struct param *parent = &s->params[pi];
    return when_match(parent, p->when_values, json_object_get(config, parent->name));
}

json_t *space_check(const struct space *s, const json_t *config, char *err, size_t errlen)
{
    char why[512], a[128];
    if (!json_is_object(config)) {
        json_errf(err, errlen, "configuration must be a JSON object of parameter values");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)config, key, val)
    {
        if (!space_find(s, key, NULL)) {
            json_errf(err, errlen, "%s: unknown parameter", key);
            return NULL;
        }
    }
    json_t *out = json_object();
    if (!out) {
        json_errf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        json_t *v = json_object_get(config, p->name);
        bool active = true;
        const struct param *parent = NULL;
        json_t *pv = NULL;
        if (p->parent >= 0) {
            parent = &s->params[p->parent];
            pv = json_object_get(out, parent->name);
            active = when_match(parent, p->when_values, pv);
        }
        if (!active) {
            if (!v || json_is_null(v))
                continue;
            if (pv) {
                fmt_value(pv, a, sizeof a);
                json_errf(err, errlen, "%s: is inactive when %s is %s; leave it out", p->name,
                          parent->name, a);
            } else {
                json_errf(err, errlen, "%s: is inactive because %s is inactive; leave it out",
                          p->name, parent->name);
            }
            goto out_fail;
        }
        if (!v) {
            if (parent) {
                fmt_value(pv, a, sizeof a);
                json_errf(err, errlen, "%s: missing (it is active when %s is %s)", p->name,
                          parent->name, a);
            } else {
                json_errf(err, errlen, "%s: missing", p->name);
            }
            goto out_fail;
        }
        json_t *nv = check_value(p, v, why, sizeof why);
        if (!nv) {
            json_errf(err, errlen, "%s: %s", p->name, why);
            goto out_fail;
        }
        json_object_set_new(out, p->name, nv);
    }
    return out;

out_fail:
    json_decref(out);
    return NULL;
}

/* ---- unit cube ---- */

double param_to_unit(const struct param *p, const json_t *value)
{
    if (!p)
        return 0.5;
    switch (p->type) {
    case PARAM_FLOAT:
    case PARAM_INT: {
        if (!json_is_num(value))
            return 0.5;
        double x = clampd(json_num_value(value), p->low, p->high);
        if (p->type == PARAM_INT && p->log) {
            double lo, hi;
            int_log_bounds(p, &lo, &hi);
            return clamp_unit((log(x) - log(lo)) / (log(hi) - log(lo)));
        }
        if (is_grid(p)) {
            double kmax = grid_kmax(p);
            double k = clampd(nearbyint((x - p->low) / p->step), 0, kmax);
            return (k + 0.5) / (kmax + 1);
        }
        if (p->log)
            return clamp_unit((log(x) - log(p->low)) / (log(p->high) - log(p->low)));
        return clamp_unit((x - p->low) / (p->high - p->low));
    }
    case PARAM_CATEGORICAL: {
        int i = param_choice_index(p, value);
        if (i < 0)
            return 0.5;
        return (i + 0.5) / (double)json_array_size(p->choices);
    }
    case PARAM_CODE:
        return 0.5;
    }
    return 0.5;
}

json_t *param_from_unit(const struct param *p, double u)
{
    if (!p)
        return NULL;
    u = clamp_unit(u);
    switch (p->type) {
    case PARAM_FLOAT:
    case PARAM_INT: {
        double kmax = is_grid(p) ? grid_kmax(p) : 0;
        double x;
        if (p->type == PARAM_INT && p->log) {
            double lo, hi;
            int_log_bounds(p, &lo, &hi);
            double y = exp(log(lo) + u * (log(hi) - log(lo)));
            double k = clampd(nearbyint((y - p->low) / p->step), 0, kmax);
            x = grid_value(p, k);
        } else if (is_grid(p)) {
            double k = clampd(floor(u * (kmax + 1)), 0, kmax);
            x = grid_value(p, k);
        } else if (p->log) {
            x = u >= 1 ? p->high : exp(log(p->low) + u * (log(p->high) - log(p->low)));
            if (u <= 0)
                x = p->low;
        } else {
            x = u >= 1 ? p->high : p->low + u * (p->high - p->low);
        }
        x = clampd(x, p->low, p->high);
        if (p->type == PARAM_INT)
            return json_integer((json_int_t)x);
        return json_real(x);
    }
    case PARAM_CATEGORICAL: {
        size_t n = json_array_size(p->choices);
        size_t i = (size_t)floor(u * (double)n);
        if (i >= n)
            i = n - 1;
        return json_deep_copy(json_array_get(p->choices, i));
    }
    case PARAM_CODE:
        return json_string(p->baseline ? p->baseline : "");
    }
    return NULL;
}

json_t *space_from_unit(const struct space *s, const double *u)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (!space_active(s, i, out))
            continue;
        json_t *v = param_from_unit(&s->params[i], u[i]);
        if (!v || json_object_set_new(out, s->params[i].name, v) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

char *param_describe(const struct param *p)
{
    struct buf b;
    char lo[40], hi[40], st[40];
    buf_init(&b);
    switch (p->type) {
    case PARAM_FLOAT:
    case PARAM_INT:
        fmt_num(p->low, lo, sizeof lo);
        fmt_num(p->high, hi, sizeof hi);
        buf_printf(&b, "%s in [%s, %s]", type_name(p->type), lo, hi);
        if (p->log)
            buf_puts(&b, ", log scale");
        if (p->step > 0 && !(p->type == PARAM_INT && p->step == 1)) {
            fmt_num(p->step, st, sizeof st);
            buf_printf(&b, ", step %s", st);
        }
        break;
    case PARAM_CATEGORICAL: {
        char *d = json_dumps(p->choices, JSON_ENCODE_ANY);
        buf_printf(&b, "one of %s", d ? d : "[]");
        free(d);
        break;
    }
    case PARAM_CODE:
        buf_printf(&b, "%s code", p->language);
        if (p->contract && *p->contract)
            buf_printf(&b, " (contract: %s)", p->contract);
        if (json_array_size(p->requires) > 0) {
            buf_puts(&b, " (must contain");
            for (size_t i = 0; i < json_array_size(p->requires); i++)
                buf_printf(&b, "%s %s", i ? "," : "",
                           json_string_value(json_array_get(p->requires, i)));
            buf_puts(&b, ")");
        }
        buf_printf(&b, ", at most %zu bytes", p->max_bytes);
        break;
    }
    return buf_steal(&b);
}

char *space_describe_when(const struct space *s, size_t i)
{
    if (!s || i >= s->n || s->params[i].parent < 0)
        return NULL;
    const struct param *p = &s->params[i];
    const struct param *parent = &s->params[p->parent];
    struct buf b;
    buf_init(&b);
    if (json_array_size(p->when_values) == 1) {
        char *d = json_dumps(json_array_get(p->when_values, 0), JSON_ENCODE_ANY);
        buf_printf(&b, "only when %s is %s", parent->name, d ? d : "?");
        free(d);
    } else {
        char *d = json_dumps(p->when_values, JSON_ENCODE_ANY);
        buf_printf(&b, "only when %s is one of %s", parent->name, d ? d : "[]");
        free(d);
    }
    return buf_steal(&b);
}
