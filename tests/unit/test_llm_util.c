#include <config.h>
#include "test_llm_util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

json_t *tl_json(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

struct spec *tl_spec(const char *name, const char *description, const char *objective,
                     bool maximize, long max_trials, const char *params, const char *llm)
{
    char err[512] = "";
    struct spec *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    s->name = strdup(name);
    s->description = strdup(description ? description : "");
    s->objective = strdup(objective);
    s->maximize = maximize;
    s->max_trials = max_trials;
    json_t *p = tl_json(params);
    s->space = space_parse(p, err, sizeof err);
    ck_assert_msg(s->space != NULL, "space_parse: %s", err);
    json_decref(p);
    s->llm = llm ? tl_json(llm) : json_object();
    s->sampler = strdup("llm");
    return s;
}

void tl_spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->description);
    free(s->objective);
    free(s->sampler);
    space_free(s->space);
    json_decref(s->llm);
    free(s);
}

void tl_history_init(struct tl_history *t)
{
    memset(t, 0, sizeof *t);
}

static void sync_view(struct tl_history *t)
{
    t->h.done = t->done;
    t->h.pending = t->pending;
}

void tl_history_done_json(struct tl_history *t, long number, json_t *params, enum obs_state st,
                          double value)
{
    if (t->h.n_done == t->cap_done) {
        t->cap_done = t->cap_done ? 2 * t->cap_done : 16;
        t->done = realloc(t->done, t->cap_done * sizeof *t->done);
        ck_assert_ptr_nonnull(t->done);
    }
    struct llm_trial *tr = &t->done[t->h.n_done++];
    memset(tr, 0, sizeof *tr);
    tr->params = params;
    tr->state = st;
    tr->value = value;
    tr->number = number;
    tr->last_step = -1;
    sync_view(t);
}

void tl_history_done(struct tl_history *t, long number, const char *params, enum obs_state st,
                     double value, const char *error, long last_step)
{
    tl_history_done_json(t, number, tl_json(params), st, value);
    struct llm_trial *tr = &t->done[t->h.n_done - 1];
    tr->error = error ? strdup(error) : NULL;
    tr->last_step = last_step;
}

void tl_history_values(struct tl_history *t, const char *values)
{
    ck_assert_uint_gt(t->h.n_done, 0);
    struct llm_trial *tr = &t->done[t->h.n_done - 1];
    json_decref((json_t *)tr->values);
    tr->values = tl_json(values);
}

void tl_history_pending(struct tl_history *t, long number, const char *params)
{
    if (t->h.n_pending == t->cap_pending) {
        t->cap_pending = t->cap_pending ? 2 * t->cap_pending : 8;
        t->pending = realloc(t->pending, t->cap_pending * sizeof *t->pending);
        ck_assert_ptr_nonnull(t->pending);
    }
    struct llm_trial *tr = &t->pending[t->h.n_pending++];
    memset(tr, 0, sizeof *tr);
    tr->params = tl_json(params);
    tr->state = OBS_PENDING;
    tr->value = NAN;
    tr->number = number;
    tr->last_step = -1;
    sync_view(t);
}

void tl_history_release(struct tl_history *t)
{
    for (size_t i = 0; i < t->h.n_done; i++) {
        json_decref((json_t *)t->done[i].params);
        json_decref((json_t *)t->done[i].values);
        free((char *)t->done[i].error);
    }
    for (size_t i = 0; i < t->h.n_pending; i++)
        json_decref((json_t *)t->pending[i].params);
    free(t->done);
    free(t->pending);
    memset(t, 0, sizeof *t);
}

static char *src_path(const char *rel)
{
    const char *top = getenv("TOP_SRCDIR");
    size_t n = strlen(top ? top : ".") + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", top ? top : ".", rel);
    return p;
}

char *tl_read_src(const char *rel)
{
    char *path = src_path(rel);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *data = malloc(cap);
    size_t got;
    while ((got = fread(data + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    data[len] = '\0';
    fclose(f);
    return data;
}

void tl_golden(const char *rel, const char *text)
{
    const char *update = getenv("HPOD_UPDATE_GOLDEN");
    if (update && !strcmp(update, "1")) {
        char *path = src_path(rel);
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        fputs(text, f);
        fclose(f);
        free(path);
        return;
    }
    char *want = tl_read_src(rel);
    ck_assert_msg(want != NULL, "golden file %s is missing (HPOD_UPDATE_GOLDEN=1 writes it)", rel);
    if (strcmp(want, text) != 0) {
        size_t i = 0;
        while (want[i] && want[i] == text[i])
            i++;
        size_t from = i > 60 ? i - 60 : 0;
        ck_abort_msg("%s differs at byte %zu:\n--- want ---\n%.160s\n--- got ---\n%.160s", rel, i,
                     want + from, text + from);
    }
    free(want);
}
