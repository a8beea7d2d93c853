#include <config.h>
#include "llm/reply.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"

#define MAX_CANDIDATES 64

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
    json_t *cands[MAX_CANDIDATES];
    char why_json[200] = "";
    size_t nc = find_candidates(text, cands, MAX_CANDIDATES, why_json, sizeof why_json);
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
            norm = t ? space_check(s, t, cerr, sizeof cerr) : NULL;
            json_decref(t);
            if (!norm)
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
