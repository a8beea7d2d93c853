#include <config.h>
#include "reply.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsonutil.h"

#define MAX_CANDIDATES 64
#define MAX_FENCES     64
#define PLACEHOLDER    "<<code"

/* A fenced block of the reply (``` or ~~~, at least three, at the start of a
 * line), as offsets into the text. */
struct fence {
    size_t start, end;     /* the whole block, opening line to closing fence */
    size_t body, body_len; /* its content, without the fence lines */
    char lang[32];         /* first word of the info string, lower-cased, or "" */
    char label[80];        /* second word of the info string, or "" */
    bool json;             /* labelled json, or its content is one JSON value */
    bool used;             /* its source went into a configuration */
};

/* Every JSON object or array that parses at some '{' or '[' of text, outermost
 * first, in order of appearance. Returns how many were stored in out. */
static size_t find_candidates(const char *text, json_t **out, size_t max, char *why, size_t whylen)
{
    size_t n = 0, len = strlen(text), i = 0;
    bool noted = false;
    while (i < len && n < max) {
        if (text[i] != '{' && text[i] != '[') {
            i++;
            continue;
        }
        json_error_t e;
        json_t *j = json_loadb(text + i, len - i, JSON_DISABLE_EOF_CHECK, &e);
        if (!j) {
            if (!noted && whylen) {
                snprintf(why, whylen, "%s at byte %zu", e.text, i + (size_t)e.position);
                noted = true;
            }
            i++;
            continue;
        }
        out[n++] = j;
        i += e.position > 0 ? (size_t)e.position : 1;
    }
    return n;
}

/* Length of the fence marker (three or more ` or ~) at p, or 0. */
static size_t fence_marker(const char *p, char *ch)
{
    if (*p != '`' && *p != '~')
        return 0;
    size_t n = 0;
    while (p[n] == *p)
        n++;
    if (n < 3)
        return 0;
    *ch = *p;
    return n;
}

static void copy_word(const char **p, const char *end, char *out, size_t outlen, bool lower)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    size_t n = 0;
    while (*p < end && **p != ' ' && **p != '\t' && **p != '\r') {
        char c = **p;
        if (lower && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (n + 1 < outlen)
            out[n++] = c;
        (*p)++;
    }
    out[n] = '\0';
}

/* Whether text[body, body + len) is one JSON value. */
static bool is_json_text(const char *text, size_t body, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(text + body, len, JSON_DECODE_ANY, &e);
    bool ok = j && (json_is_object(j) || json_is_array(j));
    json_decref(j);
    return ok;
}

/* The fenced blocks of text, in order. An unclosed block runs to the end; a
 * closing fence at the end of the last code line is accepted too. */
static size_t find_fences(const char *text, struct fence *out, size_t max)
{
    size_t n = 0, len = strlen(text), pos = 0;
    while (pos < len && n < max) {
        const char *line = text + pos;
        const char *eol = strchr(line, '\n');
        size_t next = eol ? (size_t)(eol - text) + 1 : len;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        char ch = 0;
        size_t m = fence_marker(p, &ch);
        if (!m) {
            pos = next;
            continue;
        }
        struct fence *f = &out[n];
        memset(f, 0, sizeof *f);
        f->start = pos;
        const char *info = p + m, *info_end = eol ? eol : text + len;
        copy_word(&info, info_end, f->lang, sizeof f->lang, true);
        copy_word(&info, info_end, f->label, sizeof f->label, false);
        f->body = next;
        f->end = len;
        f->body_len = len - next;
        /* the closing fence: a line of at least m marker characters */
        size_t q = next;
        while (q < len) {
            const char *l2 = text + q;
            const char *e2 = strchr(l2, '\n');
            size_t after = e2 ? (size_t)(e2 - text) + 1 : len;
            const char *r = l2;
            while (*r == ' ' || *r == '\t')
                r++;
            char c2 = 0;
            size_t m2 = fence_marker(r, &c2);
            const char *rest = r + m2;
            while (*rest == ' ' || *rest == '\t' || *rest == '\r')
                rest++;
            if (m2 >= m && c2 == ch && (*rest == '\n' || *rest == '\0')) {
                f->body_len = q - next;
                f->end = after;
                break;
            }
            q = after;
        }
        if (f->end == len && q >= len) {
            /* no closing line: a marker at the end of a code line closes it */
            char marker[4] = {ch, ch, ch, '\0'};
            const char *close = strstr(text + next, marker);
            if (close) {
                f->body_len = (size_t)(close - (text + next));
                f->end = (size_t)(close - text) + 3;
                while (text[f->end] == ch)
                    f->end++;
            }
        }
        if (f->body_len > 0 && text[f->body + f->body_len - 1] == '\n')
            f->body_len--;
        if (f->body_len > 0 && text[f->body + f->body_len - 1] == '\r')
            f->body_len--;
        f->json = strcmp(f->lang, "json") == 0 ||
                  ((!f->lang[0]) && is_json_text(text, f->body, f->body_len));
        n++;
        pos = f->end > pos ? f->end : next;
    }
    return n;
}

/* Whether a fence labelled tag may hold source in language. */
static bool lang_matches(const char *tag, const char *language)
{
    if (!tag[0] || !language)
        return true;
    if (strcasecmp(tag, language) == 0)
        return true;
    if (strcasecmp(language, "python") == 0)
        return !strcmp(tag, "py") || !strcmp(tag, "python3") || !strcmp(tag, "py3");
    return false;
}

/* The label of a placeholder "<<code:LABEL>>" ("" for "<<code>>") in label,
 * or false when s is not one. */
static bool placeholder(const char *s, char *label, size_t labellen)
{
    while (*s == ' ')
        s++;
    if (strncmp(s, PLACEHOLDER, strlen(PLACEHOLDER)) != 0)
        return false;
    s += strlen(PLACEHOLDER);
    const char *end = strstr(s, ">>");
    if (!end)
        return false;
    for (const char *t = end + 2; *t; t++)
        if (*t != ' ')
            return false;
    if (*s == ':')
        s++;
    else if (s != end)
        return false;
    size_t n = (size_t)(end - s);
    if (n >= labellen)
        n = labellen - 1;
    memcpy(label, s, n);
    label[n] = '\0';
    return true;
}

/* The next unused code block for a placeholder: one whose info string names
 * label or the parameter, else the first unused one in order. */
static struct fence *pick_fence(struct fence *f, size_t nf, const char *label, const char *name)
{
    for (size_t i = 0; i < nf; i++)
        if (!f[i].json && !f[i].used && f[i].label[0] &&
            ((label[0] && strcmp(f[i].label, label) == 0) || strcmp(f[i].label, name) == 0))
            return &f[i];
    for (size_t i = 0; i < nf; i++)
        if (!f[i].json && !f[i].used && !f[i].label[0])
            return &f[i];
    for (size_t i = 0; i < nf; i++)
        if (!f[i].json && !f[i].used)
            return &f[i];
    return NULL;
}

/* Set cfg[name] to the source of fence f in text, after checking its language. */
static int take_fence(json_t *cfg, const struct param *p, struct fence *f, const char *text,
                      struct buf *why)
{
    if (!lang_matches(f->lang, p->language)) {
        buf_printf(why, "%s: the code block is labelled \"%s\", but %s must be %s source", p->name,
                   f->lang, p->name, p->language);
        return -1;
    }
    f->used = true;
    /* the lines of the block, ending in one newline */
    size_t n = f->body_len;
    while (n > 0 && strchr(" \t\r\n", text[f->body + n - 1]))
        n--;
    struct buf src;
    buf_init(&src);
    buf_append(&src, text + f->body, n);
    buf_puts(&src, "\n");
    int rc = json_object_set_new(cfg, p->name, json_string(src.data ? src.data : "\n"));
    buf_release(&src);
    return rc;
}

/* Put the source of code parameters into cfg (modified): a placeholder
 * "<<code:LABEL>>" takes a fenced block of the reply, a string that is itself
 * a fenced block loses its fences; with fill, a missing code parameter takes
 * the only unused block. 0, or -1 with the reason in why. */
static int resolve_code(const struct space *s, json_t *cfg, struct fence *f, size_t nf,
                        const char *text, bool fill, struct buf *why)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(cfg, tmp, key, v)
    {
        const struct param *p = space_find(s, key, NULL);
        if (!p || p->type != PARAM_CODE || !json_is_string(v))
            continue;
        const char *sv = json_string_value(v);
        char label[80];
        if (placeholder(sv, label, sizeof label)) {
            struct fence *b = pick_fence(f, nf, label, p->name);
            if (!b) {
                buf_printf(why,
                           "%s: the placeholder \"%s\" needs a fenced code block after the "
                           "JSON, and the reply has none left",
                           key, sv);
                return -1;
            }
            if (take_fence(cfg, p, b, text, why) < 0)
                return -1;
            continue;
        }
        const char *t = sv;
        while (*t == ' ' || *t == '\n')
            t++;
        char ch;
        struct fence inner;
        if (fence_marker(t, &ch) && find_fences(t, &inner, 1) == 1) {
            char *copy = strdup(t);
            int rc = copy ? take_fence(cfg, p, &inner, copy, why) : -1;
            free(copy);
            if (rc < 0)
                return -1;
        }
    }
    if (!fill)
        return 0;
    const struct param *missing = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        if (p->type != PARAM_CODE || json_object_get(cfg, p->name) || !space_active(s, i, cfg))
            continue;
        if (missing)
            return 0;
        missing = p;
    }
    if (!missing)
        return 0;
    struct fence *b = NULL;
    for (size_t i = 0; i < nf; i++) {
        if (f[i].json || f[i].used)
            continue;
        if (b)
            return 0;
        b = &f[i];
    }
    return b ? take_fence(cfg, missing, b, text, why) : 0;
}

static bool space_has_code(const struct space *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->params[i].type == PARAM_CODE)
            return true;
    return false;
}

/* The configurations a candidate holds (new array), or NULL. */
static json_t *candidate_configs(json_t *j)
{
    if (json_is_array(j))
        return json_incref(j);
    if (!json_is_object(j))
        return NULL;
    json_t *c = json_object_get(j, "configs");
    if (json_is_array(c))
        return json_incref(c);
    c = json_object_get(j, "config");
    if (json_is_object(c))
        return json_pack("[O]", c);
    c = json_object_get(j, "configurations");
    if (json_is_array(c))
        return json_incref(c);
    return json_pack("[O]", j);
}

/* How much a candidate looks like an answer: 2 when a configuration names a
 * parameter of the space, 1 when it is a wrapper or an object, 0 otherwise. */
static int candidate_score(const struct space *s, json_t *configs)
{
    int score = 0;
    size_t i;
    json_t *c;
    json_array_foreach(configs, i, c)
    {
        if (!json_is_object(c))
            continue;
        score = score < 1 ? 1 : score;
        const char *key;
        json_t *v;
        json_object_foreach(c, key, v)
        {
            if (space_find(s, key, NULL))
                return 2;
        }
    }
    return score;
}

/* Drop inactive parameters and snap grid values, in a copy (new reference). */
static json_t *tolerate(const struct space *s, const json_t *cfg)
{
    json_t *c = json_deep_copy(cfg);
    if (!c)
        return NULL;
    /* the reasoning field a structured answer may carry is not a parameter */
    if (json_is_string(json_object_get(c, "reasoning")) && !space_find(s, "reasoning", NULL))
        json_object_del(c, "reasoning");
    /* nor the trade-off a configuration of a multi-objective study aims at */
    static const char *const notes[] = {"aim", "trade_off"};
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (json_is_string(json_object_get(c, notes[i])) && !space_find(s, notes[i], NULL))
            json_object_del(c, notes[i]);
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        json_t *v = json_object_get(c, p->name);
        if (!v)
            continue;
        if (!space_active(s, i, c)) {
            json_object_del(c, p->name);
            continue;
        }
        if (p->step > 0 && json_is_num(v) && (p->type == PARAM_FLOAT || p->step != 1)) {
            double x = json_num_value(v);
            if (x < p->low || x > p->high)
                continue;
            double k = nearbyint((x - p->low) / p->step);
            double y = p->low + k * p->step;
            if (y > p->high)
                y -= p->step;
            if (p->type == PARAM_INT)
                json_object_set_new(c, p->name, json_integer((json_int_t)nearbyint(y)));
            else
                json_object_set_new(c, p->name, json_real(y));
        }
    }
    return c;
}

static void put_config_short(struct buf *b, const json_t *cfg)
{
    char *d = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (d && strlen(d) > 200)
        strcpy(d + 197, "...");
    buf_puts(b, d ? d : "{}");
    free(d);
}

/* Why cfg (normalised) may not be proposed, or false when it may. */
static bool is_repeat(const json_t *cfg, const struct llm_history *h, const json_t *accepted,
                      struct buf *why)
{
    for (size_t i = 0; h && i < h->n_done; i++)
        if (h->done[i].params && json_same(cfg, h->done[i].params)) {
            put_config_short(why, cfg);
            buf_printf(why, " was already evaluated as trial #%ld", h->done[i].number);
            return true;
        }
    for (size_t i = 0; h && i < h->n_pending; i++)
        if (h->pending[i].params && json_same(cfg, h->pending[i].params)) {
            put_config_short(why, cfg);
            buf_printf(why, " is being evaluated now as trial #%ld", h->pending[i].number);
            return true;
        }
    size_t i;
    json_t *a;
    json_array_foreach(accepted, i, a)
    {
        if (json_same(cfg, a)) {
            put_config_short(why, cfg);
            buf_puts(why, " appears twice in the reply");
            return true;
        }
    }
    return false;
}

int llm_reply_parse(const struct space *s, const char *text, size_t want,
                    const struct llm_history *h, json_t **configs, char *err, size_t errlen)
{
    *configs = NULL;
    if (errlen)
        err[0] = '\0';
    if (want == 0)
        want = 1;
    if (!text || !*text) {
        snprintf(err, errlen, "the reply was empty");
        return -1;
    }
    /* code blocks are set aside: the braces of the source are not the answer */
    struct fence fences[MAX_FENCES];
    size_t nf = 0;
    char *json_text = NULL;
    bool code = space_has_code(s);
    if (code) {
        nf = find_fences(text, fences, MAX_FENCES);
        json_text = strdup(text);
        if (!json_text) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < nf; i++)
            if (!fences[i].json)
                for (size_t k = fences[i].start; k < fences[i].end; k++)
                    if (json_text[k] != '\n')
                        json_text[k] = ' ';
    }
    json_t *cands[MAX_CANDIDATES];
    char why_json[200] = "";
    size_t nc = find_candidates(json_text ? json_text : text, cands, MAX_CANDIDATES, why_json,
                                sizeof why_json);
    free(json_text);
    json_t *list = NULL;
    int best = -1;
    for (size_t i = nc; i-- > 0;) {
        json_t *l = candidate_configs(cands[i]);
        if (!l)
            continue;
        int score = candidate_score(s, l);
        if (score > best) {
            json_decref(list);
            list = l;
            best = score;
        } else {
            json_decref(l);
        }
        if (best == 2)
            break;
    }
    for (size_t i = 0; i < nc; i++)
        json_decref(cands[i]);
    if (!list) {
        if (why_json[0])
            snprintf(err, errlen, "no valid JSON object found in the reply (%s)", why_json);
        else
            snprintf(err, errlen, "no JSON object found in the reply");
        return -1;
    }
    if (json_array_size(list) == 0) {
        snprintf(err, errlen, "the reply holds no configuration");
        json_decref(list);
        return -1;
    }

    json_t *accepted = json_array();
    struct buf why;
    buf_init(&why);
    size_t n_rejected = 0;
    bool many = json_array_size(list) > 1;
    size_t i;
    json_t *cfg;
    json_array_foreach(list, i, cfg)
    {
        if (json_array_size(accepted) >= want)
            break;
        char cerr[512];
        struct buf one;
        buf_init(&one);
        json_t *norm = NULL;
        if (!json_is_object(cfg)) {
            buf_puts(&one, "a configuration must be a JSON object of parameter values");
        } else {
            json_t *t = tolerate(s, cfg);
            if (t && code && resolve_code(s, t, fences, nf, text, !many, &one) < 0) {
                json_decref(t);
                t = NULL;
            }
            norm = t ? space_check(s, t, cerr, sizeof cerr) : NULL;
            json_decref(t);
            if (!norm && one.len == 0)
                buf_puts(&one, t ? cerr : "out of memory");
            else if (is_repeat(norm, h, accepted, &one)) {
                json_decref(norm);
                norm = NULL;
            }
        }
        if (norm) {
            json_array_append_new(accepted, norm);
        } else {
            n_rejected++;
            if (why.len)
                buf_puts(&why, "; ");
            if (many)
                buf_printf(&why, "configuration %zu: ", i + 1);
            buf_puts(&why, one.data ? one.data : "rejected");
        }
        buf_release(&one);
    }
    json_decref(list);
    snprintf(err, errlen, "%s", n_rejected && why.data ? why.data : "");
    buf_release(&why);
    if (json_array_size(accepted) == 0) {
        json_decref(accepted);
        return -1;
    }
    *configs = accepted;
    return (int)json_array_size(accepted);
}
