#include <config.h>
#include "prompt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client.h"
#include "jsonutil.h"

#define MAX_BATCH        32
#define ERROR_CHARS      200
#define CODE_CHARS       160
#define BASELINE_CHARS   8000
#define PENDING_LISTED   50
#define CODE_SHOWN       3    /* most recent trials whose new source is printed in full */
#define CODE_BLOCK_CHARS 6000 /* longest source printed in a prompt */
#define CODE_ERROR_HEAD  300  /* code studies: first bytes of a long failure text kept */
#define CODE_ERROR_TAIL  1500 /* and its last bytes (the end of a traceback) */

/* How the code values of the listed trials are written: in studies with code
 * parameters, a trial line refers to the source ("<baseline>", "<same as #3>",
 * "<source below>", or its size), and the new source of the best and the most
 * recent trials follows its line in a fenced block. */
struct code_view {
    const struct llm_history *h; /* the trials */
    const bool *show;            /* per done trial: its new source is printed, or NULL */
};

static const char system_line[] =
    "You are an expert machine learning engineer who tunes hyperparameters. You choose "
    "each configuration to evaluate next from the results seen so far, and you answer in "
    "exactly the format asked for.";

static const char default_template[] = "The task: {description}\n"
                                       "\n"
                                       "{metric}\n"
                                       "\n"
                                       "The search space, one parameter per line:\n"
                                       "{space}\n"
                                       "\n"
                                       "{budget}\n"
                                       "\n"
                                       "{history}\n"
                                       "\n"
                                       "{pending}\n"
                                       "\n"
                                       "{explore}\n"
                                       "\n"
                                       "{format}";

int llm_prompt_opts_parse(const json_t *llm, struct llm_prompt_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->history = LLM_HISTORY_COMPRESSED;
    o->batch = 1;
    o->keep_best = 10;
    o->keep_recent = 20;
    if (!llm || json_is_null(llm))
        return 0;
    if (!json_is_object(llm)) {
        snprintf(err, errlen, "llm: must be an object");
        return -1;
    }
    json_t *v = json_object_get(llm, "history");
    if (v && !json_is_null(v)) {
        const char *h = json_string_value(v);
        if (h && !strcmp(h, "compressed")) {
            o->history = LLM_HISTORY_COMPRESSED;
        } else if (h && !strcmp(h, "chat")) {
            o->history = LLM_HISTORY_CHAT;
        } else {
            snprintf(err, errlen, "llm.history: must be \"compressed\" or \"chat\"");
            return -1;
        }
    }
    v = json_object_get(llm, "reasoning");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            snprintf(err, errlen, "llm.reasoning: must be true or false");
            return -1;
        }
        o->reasoning = json_is_true(v);
    }
    static const struct {
        const char *key;
        long lo, hi;
    } counts[] = {{"batch", 1, MAX_BATCH}, {"keep_best", 0, 1000}, {"keep_recent", 1, 1000}};
    size_t *dst[] = {&o->batch, &o->keep_best, &o->keep_recent};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        v = json_object_get(llm, counts[i].key);
        if (!v || json_is_null(v))
            continue;
        double d = json_is_num(v) ? json_num_value(v) : NAN;
        if (!(d == floor(d) && d >= (double)counts[i].lo && d <= (double)counts[i].hi)) {
            snprintf(err, errlen, "llm.%s: must be an integer from %ld to %ld", counts[i].key,
                     counts[i].lo, counts[i].hi);
            return -1;
        }
        *dst[i] = (size_t)d;
    }
    v = json_object_get(llm, "template");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            snprintf(err, errlen, "llm.template: must be a non-empty string");
            return -1;
        }
        o->template_text = json_string_value(v);
    }
    return 0;
}

/* The text of b, "" when nothing was written. */
static const char *bstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

static const char *objective(const struct spec *spec)
{
    return spec->objective && *spec->objective ? spec->objective : "value";
}

bool llm_prompt_multi(const struct spec *spec)
{
    return spec->n_objectives > 1 || spec->n_constraints > 0;
}

static size_t n_obj(const struct spec *spec)
{
    return spec->n_objectives > 1 ? spec->n_objectives : 1;
}

/* Name and direction of objective k (0: the first, also of a hand-made spec
 * that fills objective alone). */
static const char *obj_name(const struct spec *spec, size_t k)
{
    return k == 0 || k >= spec->n_objectives ? objective(spec) : spec->objectives[k].name;
}

static bool obj_max(const struct spec *spec, size_t k)
{
    return k == 0 || k >= spec->n_objectives ? spec->maximize : spec->objectives[k].maximize;
}

/* A metric of t's result by name, NAN when not reported as a number. */
static double metric(const struct llm_trial *t, const char *name)
{
    const json_t *v = t->values ? json_object_get(t->values, name) : NULL;
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

/* Objective k of t as reported, NAN when missing. */
static double obj_value(const struct spec *spec, const struct llm_trial *t, size_t k)
{
    double v = metric(t, obj_name(spec, k));
    return isnan(v) && k == 0 ? t->value : v;
}

/* Whether the value x of constraint c holds; a missing value does not. */
static bool constraint_holds(const struct spec_constraint *c, double x)
{
    return !isnan(x) && !(c->has_min && x < c->min) && !(c->has_max && x > c->max);
}

static bool feasible(const struct spec *spec, const struct llm_trial *t)
{
    for (size_t i = 0; i < spec->n_constraints; i++)
        if (!constraint_holds(&spec->constraints[i], metric(t, spec->constraints[i].name)))
            return false;
    return true;
}

/* Whether t can be on the front: completed, feasible, every objective known. */
static bool front_candidate(const struct spec *spec, const struct llm_trial *t)
{
    if (t->state != OBS_COMPLETED || !feasible(spec, t))
        return false;
    for (size_t k = 0; k < n_obj(spec); k++)
        if (!isfinite(obj_value(spec, t, k)))
            return false;
    return true;
}

/* Whether a is at least as good as b on every objective and better on one. */
static bool dominates(const struct spec *spec, const struct llm_trial *a, const struct llm_trial *b)
{
    bool strictly = false;
    for (size_t k = 0; k < n_obj(spec); k++) {
        double x = obj_value(spec, a, k), y = obj_value(spec, b, k);
        if (obj_max(spec, k)) {
            x = -x;
            y = -y;
        }
        if (x > y)
            return false;
        strictly = strictly || x < y;
    }
    return strictly;
}

/* Whether t (one of h's trials) is on the current front of h's done trials. */
static bool on_front(const struct spec *spec, const struct llm_history *h,
                     const struct llm_trial *t)
{
    if (!h || !front_candidate(spec, t))
        return false;
    for (size_t i = 0; i < h->n_done; i++) {
        const struct llm_trial *u = &h->done[i];
        if (u != t && front_candidate(spec, u) && dominates(spec, u, t))
            return false;
    }
    return true;
}

static void trials_from_obs(struct llm_trial *out, const struct obs *in, size_t n, bool maximize)
{
    for (size_t i = 0; i < n; i++) {
        out[i].params = in[i].params;
        out[i].state = in[i].state;
        out[i].value = maximize && !isnan(in[i].value) ? -in[i].value : in[i].value;
        out[i].number = in[i].number;
        out[i].error = NULL;
        out[i].last_step = -1;
    }
}

int llm_history_from_obs(struct llm_history *h, const struct sampler_ctx *ctx, bool maximize)
{
    memset(h, 0, sizeof *h);
    struct llm_trial *done = calloc(ctx->n_history + 1, sizeof *done);
    struct llm_trial *pending = calloc(ctx->n_pending + 1, sizeof *pending);
    if (!done || !pending) {
        free(done);
        free(pending);
        return -1;
    }
    trials_from_obs(done, ctx->history, ctx->n_history, maximize);
    trials_from_obs(pending, ctx->pending, ctx->n_pending, maximize);
    h->done = done;
    h->n_done = ctx->n_history;
    h->pending = pending;
    h->n_pending = ctx->n_pending;
    return 0;
}

void llm_history_release(struct llm_history *h)
{
    free((struct llm_trial *)h->done);
    free((struct llm_trial *)h->pending);
    memset(h, 0, sizeof *h);
}

/* ---- formatting values ---- */

static void put_number(struct buf *b, double v, bool as_float)
{
    char tmp[64];
    if (!isfinite(v)) {
        buf_puts(b, isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    snprintf(tmp, sizeof tmp, "%.6g", v);
    buf_puts(b, tmp);
    if (as_float && !strpbrk(tmp, ".e"))
        buf_puts(b, ".0");
}

/* Text of a JSON string (quoted and escaped). */
static void put_json_string(struct buf *b, const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    buf_puts(b, d ? d : "\"\"");
    free(d);
    json_decref(j);
}

/* The earliest done trial before index upto whose value of p equals v, or -1. */
static long same_code(const struct llm_history *h, size_t upto, const struct param *p,
                      const json_t *v)
{
    for (size_t j = 0; j < upto && j < h->n_done; j++) {
        const json_t *o = h->done[j].params ? json_object_get(h->done[j].params, p->name) : NULL;
        if (o && json_equal((json_t *)o, (json_t *)v))
            return (long)j;
    }
    return -1;
}

static bool is_baseline(const struct param *p, const json_t *v)
{
    const char *s = json_string_value(v);
    return s && p->baseline && strcmp(s, p->baseline) == 0;
}

/* Whether the value v of code parameter p in done trial self is new: neither
 * the baseline nor the source of an earlier trial. */
static bool code_is_new(const struct llm_history *h, size_t self, const struct param *p,
                        const json_t *v)
{
    return json_is_string(v) && !is_baseline(p, v) && same_code(h, self, p, v) < 0;
}

/* A reference to the source v of p in done trial self (or a pending trial when
 * self is h->n_done): what the LLM needs to tell the attempts apart. */
static void put_code_ref(struct buf *b, const struct code_view *cv, size_t self,
                         const struct param *p, const json_t *v)
{
    char text[128];
    long j;
    if (is_baseline(p, v))
        snprintf(text, sizeof text, "<baseline>");
    else if ((j = same_code(cv->h, self, p, v)) >= 0)
        snprintf(text, sizeof text, "<same as #%ld>", cv->h->done[j].number);
    else if (cv->show && self < cv->h->n_done && cv->show[self])
        snprintf(text, sizeof text, "<source below>");
    else
        snprintf(text, sizeof text, "<%s source, %zu bytes, not shown>",
                 p->language ? p->language : "code", strlen(json_string_value(v)));
    put_json_string(b, text, strlen(text));
}

static void put_value(struct buf *b, const struct param *p, const json_t *v, bool example)
{
    if (p && p->type == PARAM_CODE) {
        if (example) {
            buf_printf(b, "\"<%s source>\"", p->language ? p->language : "code");
            return;
        }
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        if (n > CODE_CHARS) {
            struct buf t;
            buf_init(&t);
            buf_append(&t, s, CODE_CHARS);
            buf_printf(&t, " ... (%zu bytes)", n);
            put_json_string(b, bstr(&t), t.len);
            buf_release(&t);
            return;
        }
    }
    if (json_is_integer(v)) {
        buf_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        put_number(b, json_real_value(v), true);
    } else {
        char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_puts(b, d ? d : "null");
        free(d);
    }
}

/* The placeholder of code parameter p in an example or a chat turn:
 * "<<code:NAME>>", or "<<code:NAME:K>>" for configuration K of a batch. */
static void put_placeholder(struct buf *b, const struct param *p, size_t k)
{
    struct buf t;
    buf_init(&t);
    if (k > 0)
        buf_printf(&t, "<<code:%s:%zu>>", p->name, k);
    else
        buf_printf(&t, "<<code:%s>>", p->name);
    put_json_string(b, bstr(&t), t.len);
    buf_release(&t);
}

/* A fenced block of source (cut at CODE_BLOCK_CHARS). */
static void put_code_block(struct buf *b, const struct param *p, const char *label, const char *src)
{
    size_t n = strlen(src);
    buf_printf(b, "```%s%s%s\n", p->language ? p->language : "", label ? " " : "",
               label ? label : "");
    buf_append(b, src, n > CODE_BLOCK_CHARS ? CODE_BLOCK_CHARS : n);
    if (n > CODE_BLOCK_CHARS)
        buf_printf(b, "\n# ... (%zu more bytes not shown)", n - CODE_BLOCK_CHARS);
    else if (n > 0 && src[n - 1] == '\n')
        b->data[--b->len] = '\0';
    buf_puts(b, "\n```\n");
}

/* How put_config writes code values. */
enum code_mode {
    CODE_INLINE,      /* the start of the source as a JSON string */
    CODE_EXAMPLE,     /* "<python source>" */
    CODE_PLACEHOLDER, /* "<<code:NAME>>" (or with :K for configuration K > 0) */
    CODE_REF,         /* a reference through a code_view */
};

/* A configuration as one line of JSON, keys in the order of the space. cv and
 * self serve CODE_REF; k numbers placeholders in a batch example. */
static void put_config_code(struct buf *b, const struct space *s, const json_t *cfg,
                            enum code_mode mode, const struct code_view *cv, size_t self, size_t k)
{
    bool first = true;
    buf_puts(b, "{");
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        json_t *v = json_object_get(cfg, p->name);
        if (!v)
            continue;
        buf_printf(b, "%s", first ? "" : ", ");
        put_json_string(b, p->name, strlen(p->name));
        buf_puts(b, ": ");
        if (p->type == PARAM_CODE && mode == CODE_PLACEHOLDER)
            put_placeholder(b, p, k);
        else if (p->type == PARAM_CODE && mode == CODE_REF && cv && json_is_string(v))
            put_code_ref(b, cv, self, p, v);
        else
            put_value(b, p, v, mode == CODE_EXAMPLE);
        first = false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v)
    {
        if (space_find(s, key, NULL))
            continue;
        buf_printf(b, "%s", first ? "" : ", ");
        put_json_string(b, key, strlen(key));
        buf_puts(b, ": ");
        put_value(b, NULL, v, false);
        first = false;
    }
    buf_puts(b, "}");
}

static void put_config(struct buf *b, const struct space *s, const json_t *cfg, bool example)
{
    put_config_code(b, s, cfg, example ? CODE_EXAMPLE : CODE_INLINE, NULL, 0, 0);
}

static bool has_code(const struct space *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->params[i].type == PARAM_CODE)
            return true;
    return false;
}

/* Append text[0, n) with every line after the first indented by four spaces. */
static void put_indented(struct buf *b, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\r')
            continue;
        buf_append(b, &text[i], 1);
        if (text[i] == '\n')
            buf_puts(b, "    ");
    }
}

/* A failure of a trial with code: the error text (the reason and the end of
 * the command's stderr, e.g. a traceback) kept with its lines, its middle cut
 * when long, since the end says what went wrong. */
static void put_error_block(struct buf *b, const char *e)
{
    size_t n = strlen(e);
    while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == ' ' || e[n - 1] == '\r'))
        n--;
    buf_puts(b, "failed: ");
    if (n <= CODE_ERROR_HEAD + CODE_ERROR_TAIL) {
        put_indented(b, e, n);
        return;
    }
    put_indented(b, e, CODE_ERROR_HEAD);
    buf_printf(b, "\n    [... %zu bytes cut ...]\n    ", n - CODE_ERROR_HEAD - CODE_ERROR_TAIL);
    put_indented(b, e + n - CODE_ERROR_TAIL, CODE_ERROR_TAIL);
}

/* A constraint's bounds: "<= 8", ">= 0.5" or "in [0.5, 8]". */
static void put_bounds(struct buf *b, const struct spec_constraint *c)
{
    if (c->has_min && c->has_max) {
        buf_puts(b, "in [");
        put_number(b, c->min, false);
        buf_puts(b, ", ");
        put_number(b, c->max, false);
        buf_puts(b, "]");
    } else {
        buf_puts(b, c->has_min ? ">= " : "<= ");
        put_number(b, c->has_min ? c->min : c->max, false);
    }
}

/* A completed trial of a study with several objectives or constraints: every
 * objective, every constraint metric, feasibility and front membership. */
static void put_multi_outcome(struct buf *b, const struct spec *spec, const struct llm_history *h,
                              const struct llm_trial *t)
{
    for (size_t k = 0; k < n_obj(spec); k++) {
        double v = obj_value(spec, t, k);
        buf_printf(b, "%s%s = ", k ? ", " : "", obj_name(spec, k));
        if (isnan(v))
            buf_puts(b, "not reported");
        else
            put_number(b, v, false);
    }
    for (size_t i = 0; i < spec->n_constraints; i++) {
        const struct spec_constraint *c = &spec->constraints[i];
        double v = metric(t, c->name);
        buf_printf(b, ", %s = ", c->name);
        if (isnan(v))
            buf_puts(b, "not reported");
        else
            put_number(b, v, false);
        if (!constraint_holds(c, v)) {
            buf_puts(b, " (violates ");
            put_bounds(b, c);
            buf_puts(b, ")");
        }
    }
    buf_puts(b, " (completed");
    if (spec->n_constraints)
        buf_puts(b, feasible(spec, t) ? ", feasible" : ", infeasible");
    if (on_front(spec, h, t))
        buf_puts(b, ", on the front");
    buf_puts(b, ")");
}

/* "val_error = 0.123" or "stopped early ..." or "failed: ...". h (may be
 * NULL) gives the front of a multi-objective study. */
static void put_outcome(struct buf *b, const struct spec *spec, const struct llm_history *h,
                        const struct llm_trial *t)
{
    switch (t->state) {
    case OBS_COMPLETED:
        if (llm_prompt_multi(spec)) {
            put_multi_outcome(b, spec, h, t);
            break;
        }
        buf_printf(b, "%s = ", objective(spec));
        put_number(b, t->value, false);
        buf_puts(b, " (completed)");
        break;
    case OBS_PRUNED:
        buf_puts(b, "stopped early");
        if (t->last_step >= 0)
            buf_printf(b, " at step %ld", t->last_step);
        if (!isnan(t->value)) {
            buf_printf(b, " with %s = ", objective(spec));
            put_number(b, t->value, false);
        }
        buf_puts(b, " (pruned)");
        break;
    case OBS_FAILED: {
        const char *e = t->error && *t->error ? t->error : "no error text";
        size_t n = strlen(e);
        if (has_code(spec->space)) {
            put_error_block(b, e);
            break;
        }
        buf_puts(b, "failed: ");
        size_t start = b->len;
        buf_append(b, e, n > ERROR_CHARS ? ERROR_CHARS : n);
        for (size_t i = start; i < b->len; i++)
            if (b->data[i] == '\n' || b->data[i] == '\r' || b->data[i] == '\t')
                b->data[i] = ' ';
        if (n > ERROR_CHARS)
            buf_puts(b, "...");
        break;
    }
    case OBS_PENDING:
        buf_puts(b, "being evaluated");
        break;
    }
}

/* After the line of done trial i: the new sources it ran, when shown. */
static void put_trial_code(struct buf *b, const struct spec *spec, const struct code_view *cv,
                           size_t i)
{
    if (!cv || !cv->show || !cv->show[i])
        return;
    const struct space *s = spec->space;
    const struct llm_trial *t = &cv->h->done[i];
    for (size_t k = 0; k < s->n; k++) {
        const struct param *p = &s->params[k];
        const json_t *v = json_object_get(t->params, p->name);
        if (p->type != PARAM_CODE || !code_is_new(cv->h, i, p, v))
            continue;
        buf_printf(b, "Source of %s in #%ld:\n", p->name, t->number);
        put_code_block(b, p, NULL, json_string_value(v));
    }
}

/* One line per trial: number, configuration, outcome; for done trial i of a
 * study with code (cv not NULL) the code references and the shown sources. */
static void put_trial_line(struct buf *b, const struct spec *spec, const struct llm_history *h,
                           const struct llm_trial *t, const struct code_view *cv, size_t i)
{
    buf_printf(b, "#%ld ", t->number);
    if (cv)
        put_config_code(b, spec->space, t->params, CODE_REF, cv, i, 0);
    else
        put_config(b, spec->space, t->params, false);
    buf_puts(b, " -> ");
    put_outcome(b, spec, h, t);
    buf_puts(b, "\n");
    put_trial_code(b, spec, cv, i);
}

/* Whether done trial i ran a new source for some code parameter. */
static bool trial_has_new_code(const struct spec *spec, const struct llm_history *h, size_t i)
{
    const struct space *s = spec->space;
    for (size_t k = 0; k < s->n; k++) {
        const struct param *p = &s->params[k];
        if (p->type == PARAM_CODE &&
            code_is_new(h, i, p, json_object_get(h->done[i].params, p->name)))
            return true;
    }
    return false;
}

static bool better(const struct spec *spec, double a, double b)
{
    if (isnan(a))
        return false;
    if (isnan(b))
        return true;
    return spec->maximize ? a > b : a < b;
}

/* Index of the best completed trial among done[0..n), or -1. */
static long best_index(const struct spec *spec, const struct llm_trial *done, size_t n)
{
    long best = -1;
    for (size_t i = 0; i < n; i++)
        if (done[i].state == OBS_COMPLETED &&
            (best < 0 || better(spec, done[i].value, done[best].value)))
            best = (long)i;
    return best;
}

/* Mark in keep[] the k best completed trials among h->done[lo..hi); in a
 * study with several objectives or constraints the front trials first. */
static void mark_best(const struct spec *spec, const struct llm_history *h, size_t lo, size_t hi,
                      size_t k, bool *keep)
{
    const struct llm_trial *done = h->done;
    size_t round = 0;
    for (size_t i = lo; llm_prompt_multi(spec) && i < hi && round < k; i++)
        if (!keep[i] && on_front(spec, h, &done[i])) {
            keep[i] = true;
            round++;
        }
    for (; round < k; round++) {
        long pick = -1;
        for (size_t i = lo; i < hi; i++) {
            if (keep[i] || done[i].state != OBS_COMPLETED || isnan(done[i].value))
                continue;
            if (pick < 0 || better(spec, done[i].value, done[pick].value))
                pick = (long)i;
        }
        if (pick < 0)
            break;
        keep[pick] = true;
    }
}

/* The current front of a study with several objectives or constraints; with
 * one objective (and constraints), the best feasible trials. */
static void put_front(struct buf *b, const struct spec *spec, const struct llm_history *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_done; i++)
        n += on_front(spec, h, &h->done[i]);
    if (n == 0) {
        if (n_obj(spec) == 1)
            buf_puts(b, "No feasible trial has completed yet.\n");
        else
            buf_puts(b, spec->n_constraints
                            ? "The front is empty: no feasible trial has completed yet.\n"
                            : "The front is empty: no trial has completed yet.\n");
        return;
    }
    if (n_obj(spec) == 1)
        buf_puts(b, "Best feasible so far:\n");
    else
        buf_printf(b,
                   "The current Pareto front (%zu trial%s: completed%s, and dominated by no "
                   "other):\n",
                   n, n == 1 ? "" : "s", spec->n_constraints ? ", feasible" : "");
    for (size_t i = 0; i < h->n_done; i++) {
        const struct llm_trial *t = &h->done[i];
        if (!on_front(spec, h, t))
            continue;
        buf_printf(b, "- #%ld ", t->number);
        for (size_t k = 0; k < n_obj(spec); k++) {
            buf_printf(b, "%s%s = ", k ? ", " : "", obj_name(spec, k));
            put_number(b, obj_value(spec, t, k), false);
        }
        buf_puts(b, ": ");
        put_config(b, spec->space, t->params, false);
        buf_puts(b, "\n");
    }
}

static void put_best(struct buf *b, const struct spec *spec, const struct llm_history *h)
{
    if (llm_prompt_multi(spec)) {
        put_front(b, spec, h);
        return;
    }
    long bi = best_index(spec, h->done, h->n_done);
    if (bi < 0)
        return;
    buf_printf(b, "Best so far: #%ld with %s = ", h->done[bi].number, objective(spec));
    put_number(b, h->done[bi].value, false);
    buf_puts(b, ".\n");
}

/* Which of the listed done trials print their new source: the CODE_SHOWN most
 * recent ones and the best completed one. New array of h->n_done + 1 entries,
 * or NULL when out of memory. */
static bool *code_shown(const struct spec *spec, const struct llm_history *h, const bool *listed)
{
    bool *show = calloc(h->n_done + 1, sizeof *show);
    if (!show)
        return NULL;
    size_t count = 0;
    long best = -1;
    for (size_t i = h->n_done; i-- > 0;) {
        if (!listed[i] || !trial_has_new_code(spec, h, i))
            continue;
        if (count < CODE_SHOWN) {
            show[i] = true;
            count++;
        }
        if (h->done[i].state == OBS_COMPLETED &&
            (best < 0 || better(spec, h->done[i].value, h->done[best].value)))
            best = (long)i;
    }
    if (best >= 0)
        show[best] = true;
    return show;
}

/* The {history} text of the compressed form. */
static int put_history(struct buf *b, const struct spec *spec, const struct llm_prompt_opts *o,
                       const struct llm_history *h)
{
    if (h->n_done == 0) {
        buf_puts(b, "No evaluation has finished yet.");
        return 0;
    }
    size_t n = h->n_done;
    bool *keep = calloc(n, sizeof *keep);
    if (!keep)
        return -1;
    size_t recent_from = n > o->keep_recent ? n - o->keep_recent : 0;
    if (n <= o->keep_best + o->keep_recent) {
        for (size_t i = 0; i < n; i++)
            keep[i] = true;
    } else {
        for (size_t i = recent_from; i < n; i++)
            keep[i] = true;
        mark_best(spec, h, 0, recent_from, o->keep_best, keep);
    }
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        shown += keep[i];
    if (shown < n)
        buf_printf(b,
                   "Results so far: %zu evaluations have finished; listed below are the %zu "
                   "best of the older ones and the %zu most recent, oldest first:\n",
                   n, shown - (n - recent_from), n - recent_from);
    else
        buf_puts(b, "Results so far, oldest first (trial number, configuration, outcome):\n");
    struct code_view cv = {h, NULL};
    if (has_code(spec->space)) {
        bool *show = code_shown(spec, h, keep);
        if (!show) {
            free(keep);
            return -1;
        }
        cv.show = show;
        buf_puts(b, "Code parameters are shown as <baseline>, <same as #N> or <source below>; "
                    "the new source of the best and of the most recent trials follows their "
                    "line.\n");
    }
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            put_trial_line(b, spec, h, &h->done[i], cv.show ? &cv : NULL, i);
    put_best(b, spec, h);
    free((bool *)cv.show);
    free(keep);
    return 0;
}

static void put_pending(struct buf *b, const struct spec *spec, const struct llm_history *h)
{
    if (h->n_pending == 0)
        return;
    buf_puts(b, "Being evaluated now (do not propose these again):\n");
    struct code_view cv = {h, NULL};
    bool code = has_code(spec->space);
    for (size_t i = 0; i < h->n_pending && i < PENDING_LISTED; i++) {
        buf_puts(b, "- ");
        if (code)
            put_config_code(b, spec->space, h->pending[i].params, CODE_REF, &cv, h->n_done, 0);
        else
            put_config(b, spec->space, h->pending[i].params, false);
        buf_puts(b, "\n");
    }
    if (h->n_pending > PENDING_LISTED)
        buf_printf(b, "- and %zu more\n", h->n_pending - PENDING_LISTED);
}

static void put_space(struct buf *b, const struct space *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        char *d = param_describe(p);
        char *w = space_describe_when(s, i);
        buf_printf(b, "- %s: %s%s%s\n", p->name, d ? d : "", w ? "; " : "", w ? w : "");
        free(d);
        free(w);
        if (p->type == PARAM_CODE && p->baseline && *p->baseline) {
            size_t n = strlen(p->baseline);
            buf_printf(b, "  Baseline %s source (a working starting point):\n  ```%s\n", p->name,
                       p->language ? p->language : "");
            while (n > 0 && p->baseline[n - 1] == '\n')
                n--;
            buf_append(b, p->baseline, n > BASELINE_CHARS ? BASELINE_CHARS : n);
            if (n > BASELINE_CHARS)
                buf_printf(b, "\n... (%zu more bytes)", n - BASELINE_CHARS);
            buf_puts(b, "\n  ```\n");
        }
    }
}

static void put_metric(struct buf *b, const struct spec *spec)
{
    if (llm_prompt_multi(spec)) {
        if (n_obj(spec) > 1)
            buf_printf(b,
                       "Each evaluation trains with the chosen configuration and reports %zu "
                       "objectives, optimised together:\n",
                       n_obj(spec));
        else
            buf_puts(b, "Each evaluation trains with the chosen configuration and reports the "
                        "objective:\n");
        for (size_t k = 0; k < n_obj(spec); k++)
            buf_printf(b, "- \"%s\": %s is better (%s)\n", obj_name(spec, k),
                       obj_max(spec, k) ? "higher" : "lower",
                       obj_max(spec, k) ? "maximize" : "minimize");
        if (spec->n_constraints) {
            buf_puts(b, "A configuration is feasible only when the metrics it reports meet every "
                        "constraint (a metric not reported counts as a violation):\n");
            for (size_t i = 0; i < spec->n_constraints; i++) {
                buf_printf(b, "- \"%s\" ", spec->constraints[i].name);
                put_bounds(b, &spec->constraints[i]);
                buf_puts(b, "\n");
            }
        }
        if (n_obj(spec) > 1)
            buf_printf(b,
                       "No single configuration is best: the goal is the Pareto front, the "
                       "%sconfigurations that no other %sconfiguration dominates (is at least "
                       "as good on every objective and better on one).",
                       spec->n_constraints ? "feasible " : "",
                       spec->n_constraints ? "feasible " : "");
        else
            buf_puts(b, "The goal is the best feasible configuration; infeasible results do not "
                        "count, however good their objective.");
        return;
    }
    buf_printf(b,
               "Each evaluation trains with the chosen configuration and reports the objective "
               "\"%s\"; %s is better (the study %s it).",
               objective(spec), spec->maximize ? "higher" : "lower",
               spec->maximize ? "maximizes" : "minimizes");
}

static const char explore_text[] =
    "If the results stop improving, move to a region of the search space that has not been "
    "tried yet rather than making small changes around the best point. Never propose a "
    "configuration that has already been evaluated or is being evaluated now.";

static const char explore_multi_text[] =
    "Propose a configuration that extends the front: one expected to beat the front trials "
    "near it on at least one objective, or to fill a gap between them, and say which "
    "trade-off it aims at. Spread the proposals along the front rather than only "
    "improving one objective. If the front stops moving, try a region of the search space "
    "that has not been tried yet. Never propose a configuration that has already been "
    "evaluated or is being evaluated now.";

static const char explore_constrained_text[] =
    " Stay within the constraints: an infeasible result does not count, however good its "
    "objective values.";

/* What the aim of a configuration weighs: "between the objectives". */
static const char *trade_off_between(const struct spec *spec)
{
    return n_obj(spec) > 1 ? "between the objectives" : "between the objective and the constraints";
}

static const char aim_example[] = "\"aim\": \"<the trade-off this configuration aims at>\"";

/* The example configuration at u (see put_example) with an "aim" first when
 * aim. */
static void put_example(struct buf *b, const struct space *s, double u, size_t k,
                        struct buf *blocks);
static void put_example_aim(struct buf *b, const struct space *s, double u, size_t k,
                            struct buf *blocks, bool aim)
{
    if (!aim) {
        put_example(b, s, u, k, blocks);
        return;
    }
    struct buf one;
    buf_init(&one);
    put_example(&one, s, u, k, blocks);
    buf_printf(b, "{%s%s%s", aim_example, one.len > 2 ? ", " : "}",
               one.len > 2 ? one.data + 1 : "");
    buf_release(&one);
}

/* The example configuration at u. In a study with code (blocks not NULL) a
 * code parameter is a placeholder, numbered k in a batch (0: unnumbered), and
 * its fenced block is appended to blocks. */
static void put_example(struct buf *b, const struct space *s, double u, size_t k,
                        struct buf *blocks)
{
    double *us = malloc((s->n ? s->n : 1) * sizeof *us);
    if (!us)
        return;
    for (size_t i = 0; i < s->n; i++)
        us[i] = u;
    json_t *ex = space_from_unit(s, us);
    if (!blocks) {
        put_config(b, s, ex, true);
    } else {
        put_config_code(b, s, ex, CODE_PLACEHOLDER, NULL, 0, k);
        for (size_t i = 0; i < s->n; i++) {
            const struct param *p = &s->params[i];
            if (p->type != PARAM_CODE || !json_object_get(ex, p->name))
                continue;
            buf_printf(blocks, "```%s", p->language ? p->language : "");
            if (k > 0)
                buf_printf(blocks, " %s:%zu", p->name, k);
            buf_printf(blocks, "\n<the complete %s source of %s>\n```\n",
                       p->language ? p->language : "", p->name);
        }
    }
    json_decref(ex);
    free(us);
}

static void put_format(struct buf *b, const struct spec *spec, const struct llm_prompt_opts *o)
{
    const struct space *s = spec->space;
    bool code = has_code(s);
    bool aim = llm_prompt_multi(spec);
    if (o->schema_answer) {
        /* the answer's schema carries the analysis as a field */
        if (o->batch > 1)
            buf_printf(b,
                       "Answer with one JSON object of the form {\"configs\": [...]} holding %zu "
                       "different configurations, as the response schema describes.",
                       o->batch);
        else
            buf_puts(b, "Answer with one JSON object as the response schema describes.");
        buf_puts(b, " Leave out a parameter whose condition does not hold.");
        if (code)
            buf_puts(b, " For a code parameter, give its complete source as a JSON string; the "
                        "source must follow the parameter's contract, and a trial whose code "
                        "fails is reported back with its error output.");
        if (aim)
            buf_printf(b,
                       " Give %s \"aim\" field one short sentence on the trade-off %s it aims "
                       "at.",
                       o->batch > 1 ? "each configuration's" : "the", trade_off_between(spec));
        if (o->reasoning)
            buf_puts(b, " Put one short line of analysis of the results so far in the "
                        "\"reasoning\" field.");
        buf_puts(b, " An example of the format (the values only illustrate it):\n");
        if (o->reasoning)
            buf_puts(b, "{\"reasoning\": \"...\", ");
        if (o->batch > 1) {
            buf_puts(b, o->reasoning ? "\"configs\": [" : "{\"configs\": [");
            put_example_aim(b, s, 0.25, 1, NULL, aim);
            buf_puts(b, ", ");
            put_example_aim(b, s, 0.75, 2, NULL, aim);
            buf_puts(b, "]}");
        } else {
            struct buf one;
            buf_init(&one);
            put_example_aim(&one, s, 0.5, 0, NULL, aim);
            /* the example's fields follow the reasoning inside the same object */
            buf_puts(b, o->reasoning && one.len > 1 ? one.data + 1 : bstr(&one));
            buf_release(&one);
        }
        return;
    }
    if (o->batch > 1)
        buf_printf(b,
                   "Answer with one JSON object of the form {\"configs\": [...]} holding %zu "
                   "different configurations. Each configuration is a JSON object whose keys "
                   "are the parameter names and whose values are the settings you choose.",
                   o->batch);
    else
        buf_puts(b, "Answer with one JSON object whose keys are the parameter names and whose "
                    "values are the settings you choose.");
    buf_puts(b, " Leave out a parameter whose condition does not hold. Integers must be whole "
                "numbers and a choice must be one of the listed values.");
    if (aim)
        buf_printf(b,
                   " Besides the parameters, %s has an \"aim\" key whose value is one short "
                   "sentence: the trade-off %s it aims at%s.",
                   o->batch > 1 ? "each configuration" : "the object", trade_off_between(spec),
                   n_obj(spec) > 1 ? " (which objective it favours, or which gap in the front it "
                                     "fills)"
                                   : "");
    if (code) {
        buf_puts(b, " For a code parameter, write the placeholder \"<<code:NAME>>\" as its "
                    "value in the JSON");
        if (o->batch > 1)
            buf_puts(b, " (\"<<code:NAME:K>>\" in configuration K)");
        buf_puts(b, " and give its complete source after the JSON in a fenced block labelled "
                    "with its language, one block per placeholder, in the same order. The "
                    "source must follow the parameter's contract; a trial whose code fails is "
                    "reported back with its error output.");
    }
    if (o->reasoning)
        buf_printf(b,
                   " First write one short line of analysis of the results so far, then the "
                   "JSON on the next line%s, with nothing after %s.",
                   code ? ", then the code blocks" : "", code ? "them" : "it");
    else
        buf_puts(b, code ? " Write nothing but the JSON and the code blocks."
                         : " Write nothing but the JSON.");
    buf_puts(b, " An example of the format (the values only illustrate it):\n");
    struct buf blocks;
    buf_init(&blocks);
    struct buf *bl = code ? &blocks : NULL;
    if (o->batch > 1) {
        buf_puts(b, "{\"configs\": [");
        put_example_aim(b, s, 0.25, 1, bl, aim);
        buf_puts(b, ", ");
        put_example_aim(b, s, 0.75, 2, bl, aim);
        buf_puts(b, "]}");
    } else {
        put_example_aim(b, s, 0.5, 0, bl, aim);
    }
    if (blocks.len) {
        while (blocks.len && blocks.data[blocks.len - 1] == '\n')
            blocks.data[--blocks.len] = '\0';
        buf_printf(b, "\n%s", blocks.data);
    }
    buf_release(&blocks);
}

/* ---- template rendering ---- */

struct slot {
    const char *name; /* placeholder without braces */
    const char *text; /* replacement */
};

static int render(struct buf *out, const char *tmpl, const struct slot *slots, size_t n)
{
    bool saw_format = false;
    const char *s = tmpl;
    while (*s) {
        if (*s == '{') {
            const char *close = strchr(s + 1, '}');
            size_t len = close ? (size_t)(close - s - 1) : 0;
            size_t i = 0;
            for (; close && i < n; i++)
                if (strlen(slots[i].name) == len && !strncmp(slots[i].name, s + 1, len))
                    break;
            if (close && i < n) {
                if (!strcmp(slots[i].name, "format"))
                    saw_format = true;
                buf_puts(out, slots[i].text);
                s = close + 1;
                continue;
            }
        }
        buf_append(out, s, 1);
        s++;
    }
    if (!saw_format) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(slots[i].name, "format"))
                buf_printf(out, "\n\n%s", slots[i].text);
    }
    return 0;
}

/* Collapse runs of blank lines, trim trailing space per line and at the ends. */
static char *tidy(const char *in)
{
    struct buf b;
    buf_init(&b);
    const char *s = in;
    while (*s == '\n')
        s++;
    int newlines = 0;
    for (; *s; s++) {
        if (*s == '\n') {
            while (b.len > 0 && (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
                b.data[--b.len] = '\0';
            if (++newlines <= 2)
                buf_append(&b, s, 1);
            continue;
        }
        newlines = 0;
        buf_append(&b, s, 1);
    }
    while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
        b.data[--b.len] = '\0';
    return buf_steal(&b);
}

static long trials_left(const struct spec *spec, const struct llm_history *h)
{
    long left = spec->max_trials - (long)h->n_done - (long)h->n_pending;
    return left > 0 ? left : 0;
}

static int append_msg(json_t *msgs, const char *role, const char *content)
{
    return json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", role, "content", content));
}

/* The first user message: the template with every slot filled. */
static char *first_message(const struct spec *spec, const struct llm_prompt_opts *o,
                           const struct llm_history *h, bool chat)
{
    struct buf space, metric, budget, history, pending, format, explore;
    buf_init(&explore);
    buf_init(&space);
    buf_init(&metric);
    buf_init(&budget);
    buf_init(&history);
    buf_init(&pending);
    buf_init(&format);
    char *out = NULL;
    char left[32], total[32], desc_fallback[128];
    long tl = chat ? spec->max_trials : trials_left(spec, h);
    snprintf(left, sizeof left, "%ld", tl);
    snprintf(total, sizeof total, "%ld", spec->max_trials);
    snprintf(desc_fallback, sizeof desc_fallback, "the study \"%s\" (no description given)",
             spec->name ? spec->name : "");

    put_space(&space, spec->space);
    while (space.len && space.data[space.len - 1] == '\n')
        space.data[--space.len] = '\0';
    put_metric(&metric, spec);
    if (chat)
        buf_printf(&budget, "The budget is %ld evaluations in total.", spec->max_trials);
    else
        buf_printf(&budget, "The budget is %ld evaluations in total; %ld are left.",
                   spec->max_trials, tl);
    if (!chat && put_history(&history, spec, o, h) < 0)
        goto out;
    if (!chat || h->n_done == 0)
        put_pending(&pending, spec, h);
    put_format(&format, spec, o);
    if (!llm_prompt_multi(spec)) {
        buf_puts(&explore, explore_text);
    } else if (n_obj(spec) == 1) {
        buf_puts(&explore, explore_text);
        buf_puts(&explore, explore_constrained_text);
    } else {
        buf_puts(&explore, explore_multi_text);
        if (spec->n_constraints)
            buf_puts(&explore, explore_constrained_text);
    }

    const struct slot slots[] = {
        {"description",
         spec->description && *spec->description ? spec->description : desc_fallback},
        {"metric", bstr(&metric)},
        {"objective", objective(spec)},
        {"direction", spec->maximize ? "maximize" : "minimize"},
        {"space", bstr(&space)},
        {"budget", bstr(&budget)},
        {"trials_left", left},
        {"max_trials", total},
        {"history", bstr(&history)},
        {"pending", bstr(&pending)},
        {"explore", bstr(&explore)},
        {"format", bstr(&format)},
    };
    struct buf text;
    buf_init(&text);
    render(&text, o->template_text ? o->template_text : default_template, slots,
           sizeof slots / sizeof slots[0]);
    out = tidy(bstr(&text));
    buf_release(&text);
out:
    buf_release(&space);
    buf_release(&metric);
    buf_release(&budget);
    buf_release(&history);
    buf_release(&pending);
    buf_release(&format);
    buf_release(&explore);
    return out;
}

static const char *next_request(const struct llm_prompt_opts *o)
{
    return o->batch > 1 ? "Give the next configurations in the same format."
                        : "Give the next configuration in the same format.";
}

/* The chat form: first message, then a turn pair per kept trial. */
static int build_chat(json_t *msgs, const struct spec *spec, const struct llm_prompt_opts *o,
                      const struct llm_history *h)
{
    int rc = -1;
    char *first = first_message(spec, o, h, true);
    if (!first)
        return -1;
    size_t n = h->n_done;
    size_t from = n > o->keep_recent ? n - o->keep_recent : 0;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, first);
    struct code_view cv = {h, NULL};
    const struct code_view *cvp = NULL;
    bool *keep = calloc(n + 1, sizeof *keep);
    if (!keep)
        goto out;
    mark_best(spec, h, 0, from, o->keep_best, keep);
    for (size_t i = from; i < n; i++)
        keep[i] = true;
    if (has_code(spec->space)) {
        cv.show = code_shown(spec, h, keep);
        if (!cv.show)
            goto out;
        cvp = &cv;
    }
    if (from > 0) {
        size_t k = 0;
        for (size_t i = 0; i < from; i++)
            k += keep[i];
        buf_printf(&b,
                   "\n\nThe conversation was shortened: %zu earlier evaluations are not shown "
                   "as turns.",
                   from);
        if (k > 0) {
            buf_printf(&b, " The best %zu of them:\n", k);
            for (size_t i = 0; i < from; i++)
                if (keep[i])
                    put_trial_line(&b, spec, h, &h->done[i], cvp, i);
            while (b.len && b.data[b.len - 1] == '\n')
                b.data[--b.len] = '\0';
        }
    }
    /* b is the user turn being written; it goes out before each assistant turn */
    bool has_result = false;
    const char *last_reply = NULL;
    for (size_t i = from; i < n; i++) {
        const struct llm_trial *t = &h->done[i];
        bool same_reply = t->origin == LLM_ORIGIN_LLM && t->reply && last_reply &&
                          strcmp(t->reply, last_reply) == 0;
        if (t->origin == LLM_ORIGIN_OTHER) {
            buf_puts(&b, "\n\nA result added by the user (not proposed by you): ");
            put_config(&b, spec->space, t->params, false);
            buf_printf(&b, " as trial #%ld: ", t->number);
            put_outcome(&b, spec, h, t);
            buf_puts(&b, cvp && t->state == OBS_FAILED ? "\n" : ".");
            has_result = true;
            continue;
        }
        if (same_reply) {
            buf_puts(&b, "\n");
        } else {
            if (has_result)
                buf_printf(&b, " %s", next_request(o));
            if (append_msg(msgs, "user", bstr(&b)) < 0)
                goto out;
            buf_reset(&b);
            if (t->origin == LLM_ORIGIN_LLM && t->reply) {
                char *answer = NULL, *thought = NULL;
                if (llm_split_reasoning(t->reply, &answer, &thought) < 0)
                    goto out;
                free(thought);
                buf_puts(&b, *answer ? answer : t->reply);
                free(answer);
                last_reply = t->reply;
            } else if (cvp) {
                put_config_code(&b, spec->space, t->params, CODE_REF, cvp, i, 0);
                buf_puts(&b, "\n");
                put_trial_code(&b, spec, cvp, i);
                while (b.len && b.data[b.len - 1] == '\n')
                    b.data[--b.len] = '\0';
                last_reply = NULL;
            } else {
                put_config(&b, spec->space, t->params, false);
                last_reply = NULL;
            }
            if (append_msg(msgs, "assistant", bstr(&b)) < 0)
                goto out;
            buf_reset(&b);
        }
        buf_printf(&b, "Trial #%ld: ", t->number);
        put_outcome(&b, spec, h, t);
        buf_puts(&b, cvp && t->state == OBS_FAILED ? "\n" : ".");
        has_result = true;
    }
    if (n > from) {
        buf_puts(&b, "\n\n");
        put_best(&b, spec, h);
        buf_printf(&b, "%ld of %ld evaluations are left.\n", trials_left(spec, h),
                   spec->max_trials);
        put_pending(&b, spec, h);
        buf_printf(&b, "%s", next_request(o));
        if (o->batch > 1)
            buf_printf(&b, " (%zu configurations)", o->batch);
    }
    if (append_msg(msgs, "user", bstr(&b)) < 0)
        goto out;
    rc = 0;
out:
    free((bool *)cv.show);
    free(keep);
    buf_release(&b);
    free(first);
    return rc;
}

json_t *llm_prompt_build(const struct spec *spec, const struct llm_prompt_opts *o,
                         const struct llm_history *h, char *err, size_t errlen)
{
    json_t *msgs = json_array();
    if (!msgs || append_msg(msgs, "system", system_line) < 0)
        goto out_oom;
    if (o->history == LLM_HISTORY_CHAT) {
        if (build_chat(msgs, spec, o, h) < 0)
            goto out_oom;
    } else {
        char *text = first_message(spec, o, h, false);
        if (!text || append_msg(msgs, "user", text) < 0) {
            free(text);
            goto out_oom;
        }
        free(text);
    }
    if (h && h->rejected_reason && *h->rejected_reason) {
        /* the paper feeds errors back: the last reply's fault, in the last turn */
        json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
        struct buf b;
        buf_init(&b);
        buf_printf(&b,
                   "%s\n\nYour previous reply could not be used: %s. Do not repeat that "
                   "mistake.",
                   json_str(last, "content", ""), h->rejected_reason);
        int rc = json_object_set_new(last, "content", json_string(bstr(&b)));
        buf_release(&b);
        if (rc < 0)
            goto out_oom;
    }
    return msgs;

out_oom:
    snprintf(err, errlen, "out of memory while building the prompt");
    json_decref(msgs);
    return NULL;
}

int llm_prompt_reask(json_t *messages, const struct spec *spec, const struct llm_prompt_opts *o,
                     const char *reply, const char *reason)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "Your reply was invalid: %s. ", reason);
    if (spec && has_code(spec->space))
        buf_printf(&b,
                   "Answer again in the format asked for: %sthe JSON object%s with a "
                   "placeholder \"<<code:NAME>>\" for each code parameter, then one fenced "
                   "code block per placeholder.",
                   o->reasoning ? "one short line of analysis, then " : "",
                   o->batch > 1 ? " {\"configs\": [...]}" : "");
    else if (o->reasoning)
        buf_puts(&b, "Answer again in the format asked for: one short line of analysis, then "
                     "the JSON on the next line.");
    else if (o->batch > 1)
        buf_puts(&b, "Answer again with one JSON object {\"configs\": [...]} only.");
    else
        buf_puts(&b, "Answer again with one JSON object only.");
    int rc = 0;
    if (append_msg(messages, "assistant", reply && *reply ? reply : "(empty reply)") < 0 ||
        append_msg(messages, "user", bstr(&b)) < 0)
        rc = -1;
    buf_release(&b);
    return rc;
}

size_t llm_prompt_size(const json_t *messages)
{
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(messages, i, m) n += strlen(json_str(m, "content", ""));
    return n;
}
