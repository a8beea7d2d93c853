#include <config.h>
#include "llm/prompt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"

#define MAX_BATCH      32
#define ERROR_CHARS    200
#define CODE_CHARS     160
#define BASELINE_CHARS 8000
#define PENDING_LISTED 50

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

/* A configuration as one line of JSON, keys in the order of the space. */
static void put_config(struct buf *b, const struct space *s, const json_t *cfg, bool example)
{
    bool first = true;
    buf_puts(b, "{");
    for (size_t i = 0; i < s->n; i++) {
        json_t *v = json_object_get(cfg, s->params[i].name);
        if (!v)
            continue;
        buf_printf(b, "%s", first ? "" : ", ");
        put_json_string(b, s->params[i].name, strlen(s->params[i].name));
        buf_puts(b, ": ");
        put_value(b, &s->params[i], v, example);
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

/* "val_error = 0.123" or "stopped early ..." or "failed: ...". */
static void put_outcome(struct buf *b, const struct spec *spec, const struct llm_trial *t)
{
    switch (t->state) {
    case OBS_COMPLETED:
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

static void put_trial_line(struct buf *b, const struct spec *spec, const struct llm_trial *t)
{
    buf_printf(b, "#%ld ", t->number);
    put_config(b, spec->space, t->params, false);
    buf_puts(b, " -> ");
    put_outcome(b, spec, t);
    buf_puts(b, "\n");
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

/* Mark in keep[] the k best completed trials among done[lo..hi). */
static void mark_best(const struct spec *spec, const struct llm_trial *done, size_t lo, size_t hi,
                      size_t k, bool *keep)
{
    for (size_t round = 0; round < k; round++) {
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

static void put_best(struct buf *b, const struct spec *spec, const struct llm_history *h)
{
    long bi = best_index(spec, h->done, h->n_done);
    if (bi < 0)
        return;
    buf_printf(b, "Best so far: #%ld with %s = ", h->done[bi].number, objective(spec));
    put_number(b, h->done[bi].value, false);
    buf_puts(b, ".\n");
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
        mark_best(spec, h->done, 0, recent_from, o->keep_best, keep);
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
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            put_trial_line(b, spec, &h->done[i]);
    put_best(b, spec, h);
    free(keep);
    return 0;
}

static void put_pending(struct buf *b, const struct spec *spec, const struct llm_history *h)
{
    if (h->n_pending == 0)
        return;
    buf_puts(b, "Being evaluated now (do not propose these again):\n");
    for (size_t i = 0; i < h->n_pending && i < PENDING_LISTED; i++) {
        buf_puts(b, "- ");
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
            buf_append(b, p->baseline, n > BASELINE_CHARS ? BASELINE_CHARS : n);
            if (n > BASELINE_CHARS)
                buf_printf(b, "\n... (%zu more bytes)", n - BASELINE_CHARS);
            buf_puts(b, "\n  ```\n");
        }
    }
}

static void put_metric(struct buf *b, const struct spec *spec)
{
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

static bool has_code(const struct space *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->params[i].type == PARAM_CODE)
            return true;
    return false;
}

static void put_example(struct buf *b, const struct space *s, double u)
{
    double *us = malloc((s->n ? s->n : 1) * sizeof *us);
    if (!us)
        return;
    for (size_t i = 0; i < s->n; i++)
        us[i] = u;
    json_t *ex = space_from_unit(s, us);
    put_config(b, s, ex, true);
    json_decref(ex);
    free(us);
}

static void put_format(struct buf *b, const struct spec *spec, const struct llm_prompt_opts *o)
{
    const struct space *s = spec->space;
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
    if (has_code(s))
        buf_puts(b, " The value of a code parameter is its complete source as one JSON string.");
    if (o->reasoning)
        buf_puts(b, " First write one short line of analysis of the results so far, then the "
                    "JSON on the next line, with nothing after it.");
    else
        buf_puts(b, " Write nothing but the JSON.");
    buf_puts(b, " An example of the format (the values only illustrate it):\n");
    if (o->batch > 1) {
        buf_puts(b, "{\"configs\": [");
        put_example(b, s, 0.25);
        buf_puts(b, ", ");
        put_example(b, s, 0.75);
        buf_puts(b, "]}");
    } else {
        put_example(b, s, 0.5);
    }
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
    struct buf space, metric, budget, history, pending, format;
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
        {"explore", explore_text},
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
    if (from > 0) {
        bool *keep = calloc(from, sizeof *keep);
        if (!keep)
            goto out;
        mark_best(spec, h->done, 0, from, o->keep_best, keep);
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
                    put_trial_line(&b, spec, &h->done[i]);
            while (b.len && b.data[b.len - 1] == '\n')
                b.data[--b.len] = '\0';
        }
        free(keep);
    }
    if (append_msg(msgs, "user", bstr(&b)) < 0)
        goto out;
    for (size_t i = from; i < n; i++) {
        const struct llm_trial *t = &h->done[i];
        buf_reset(&b);
        put_config(&b, spec->space, t->params, false);
        if (append_msg(msgs, "assistant", bstr(&b)) < 0)
            goto out;
        buf_reset(&b);
        buf_printf(&b, "Trial #%ld: ", t->number);
        put_outcome(&b, spec, t);
        buf_puts(&b, ".");
        if (i + 1 < n) {
            buf_printf(&b, " %s", next_request(o));
        } else {
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
    }
    rc = 0;
out:
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
        return msgs;
    }
    char *text = first_message(spec, o, h, false);
    if (!text || append_msg(msgs, "user", text) < 0) {
        free(text);
        goto out_oom;
    }
    free(text);
    return msgs;

out_oom:
    snprintf(err, errlen, "out of memory while building the prompt");
    json_decref(msgs);
    return NULL;
}

int llm_prompt_reask(json_t *messages, const struct llm_prompt_opts *o, const char *reply,
                     const char *reason)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "Your reply was invalid: %s. ", reason);
    if (o->reasoning)
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
