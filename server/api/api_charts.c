#include <config.h>
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contour.h"
#include "csv.h"
#include "jsonutil.h"
#include "render.h"
#include "sources.h"
#include "store.h"

/* Trials per store call while writing the CSV. */
#define CSV_PAGE 1000

/* The page's groups of sources (source=group:NAME): llm (with llm+gp),
 * classical, fallback, manual. -1 for a name that is none of them. */
static int source_group(const char *name)
{
    if (strcmp(name, "llm") == 0)
        return SOURCE_LLM;
    if (strcmp(name, "classical") == 0)
        return SOURCE_CLASSICAL;
    if (strcmp(name, "fallback") == 0)
        return SOURCE_FALLBACK;
    if (strcmp(name, "manual") == 0)
        return SOURCE_MANUAL;
    return -1;
}

static bool in_group(const struct trial *t, int group)
{
    if (group < 0)
        return true;
    enum source_class c = source_classify(t->source ? t->source : "");
    if (c == SOURCE_LLM_GP)
        c = SOURCE_LLM;
    return (int)c == group;
}

enum http_result api_study_trials_csv(struct req *r)
{
    struct trial_filter f;
    if (!api_trial_filter(r, &f))
        return HTTP_DONE;
    int group = -1;
    if (f.source && strncmp(f.source, "group:", 6) == 0) {
        group = source_group(f.source + 6);
        if (group < 0) {
            http_reply_error(r, 400, "bad_query",
                             "source: group:%.40s is not one of group:llm, group:classical, "
                             "group:fallback, group:manual",
                             f.source + 6);
            return HTTP_DONE;
        }
        f.source = NULL;
    }
    if (http_can_offload(r))
        return HTTP_OFFLOAD; /* a whole study: not on the HTTP thread */
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    struct csv c;
    csv_init(&c);
    render_trials_csv_header(&c, st.spec);
    long long after = -1;
    for (;;) {
        struct trial_page page;
        if (store_trials_page(db, r->args[0], f.state, f.source, f.pareto, after, CSV_PAGE, f.order,
                              false, &page, &e) < 0) {
            csv_release(&c);
            store_study_release(&st);
            return api_fail(r, &e);
        }
        for (size_t i = 0; i < page.trials.n; i++)
            if (in_group(&page.trials.v[i], group))
                render_trial_csv(&c, &page.trials.v[i], st.spec);
        bool more = page.more && page.trials.n > 0;
        after = page.next_after;
        store_trial_page_release(&page);
        if (!more)
            break;
    }
    if (c.failed) {
        csv_release(&c);
        store_study_release(&st);
        http_reply_error(r, 500, "internal", "csv: out of memory");
        return HTTP_DONE;
    }
    char disposition[200];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s-trials.csv\"",
             st.name); /* study names hold no quote: [A-Za-z0-9._-] */
    const char *headers[] = {"Content-Disposition", disposition, NULL};
    http_reply_bytes(r, 200, "text/csv; charset=utf-8; header=present", c.out.data, c.out.len,
                     headers);
    csv_release(&c);
    store_study_release(&st);
    return HTTP_DONE;
}

/* Grid points per numeric axis: default, least and most. */
#define GRID_DEFAULT 40
#define GRID_MIN     5
#define GRID_MAX     100

/* One axis of the contour: a parameter mapped to [0, 1]. */
struct axis {
    const struct param *p; /* borrowed */
    size_t n;              /* grid points (categorical: one per choice) */
    double *u;             /* owned: the grid in [0, 1] */
};

/* The position of value v (borrowed) of the axis in [0, 1], or NAN when it
 * has none (absent, out of the space, not one of the choices). */
static double axis_pos(const struct axis *a, const json_t *v)
{
    const struct param *p = a->p;
    if (!v)
        return NAN;
    if (p->type == PARAM_CATEGORICAL) {
        size_t i;
        json_t *c;
        json_array_foreach(p->choices, i, c) if (json_equal(c, v)) return (i + 0.5) / (double)a->n;
        return NAN;
    }
    if (!json_is_number(v))
        return NAN;
    double x = json_number_value(v);
    if (p->log)
        return x > 0 ? (log(x) - log(p->low)) / (log(p->high) - log(p->low)) : NAN;
    return (x - p->low) / (p->high - p->low);
}

/* The parameter value at position u of a numeric axis. */
static double axis_value(const struct axis *a, double u)
{
    const struct param *p = a->p;
    if (u <= 0)
        return p->low;
    if (u >= 1)
        return p->high;
    if (p->log)
        return exp(log(p->low) + u * (log(p->high) - log(p->low)));
    return p->low + u * (p->high - p->low);
}

/* The axis of parameter name (query key key) into *a; false after a 400. */
static bool axis_init(struct req *r, const struct spec *sp, const char *key, size_t grid,
                      struct axis *a)
{
    const char *name = http_query(r, key);
    if (!name || !*name) {
        http_reply_error(r, 400, "bad_query", "%s: required, the name of a parameter", key);
        return false;
    }
    a->p = space_find(sp->space, name, NULL);
    if (!a->p) {
        http_reply_error(r, 400, "bad_query", "%s: no parameter named \"%.64s\"", key, name);
        return false;
    }
    if (a->p->type == PARAM_CODE) {
        http_reply_error(r, 400, "bad_query", "%s: \"%.64s\" is code, which has no axis", key,
                         name);
        return false;
    }
    a->n = a->p->type == PARAM_CATEGORICAL ? json_array_size(a->p->choices) : grid;
    double ints = a->p->high - a->p->low + 1; /* an int axis has no more points than values */
    if (a->p->type == PARAM_INT && !a->p->log && ints >= 2 && ints < (double)a->n)
        a->n = (size_t)ints;
    a->u = calloc(a->n, sizeof *a->u);
    if (!a->u) {
        http_reply_error(r, 500, "internal", "contour: out of memory");
        return false;
    }
    for (size_t i = 0; i < a->n; i++)
        a->u[i] = a->p->type == PARAM_CATEGORICAL ? (i + 0.5) / (double)a->n
                                                  : (double)i / (double)(a->n - 1);
    return true;
}

/* The axis as the answer shows it: name, type, log, and the grid in the
 * parameter's units (categorical: the choices), with cell edges for numbers. */
static json_t *axis_json(const struct axis *a)
{
    const struct param *p = a->p;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "type",
                        json_string(p->type == PARAM_FLOAT ? "float"
                                    : p->type == PARAM_INT ? "int"
                                                           : "categorical"));
    json_object_set_new(o, "log", json_boolean(p->log));
    if (p->type == PARAM_CATEGORICAL) {
        json_object_set_new(o, "values", json_deep_copy(p->choices));
        return o;
    }
    json_object_set_new(o, "low", json_real(p->low));
    json_object_set_new(o, "high", json_real(p->high));
    json_t *values = json_array(), *edges = json_array();
    for (size_t i = 0; i < a->n; i++)
        json_array_append_new(values, json_real(axis_value(a, a->u[i])));
    double half = 0.5 / (double)(a->n - 1);
    for (size_t i = 0; i <= a->n; i++) {
        double u = i == 0 ? 0 : i == a->n ? 1 : a->u[i] - half;
        json_array_append_new(edges, json_real(axis_value(a, u)));
    }
    json_object_set_new(o, "values", values);
    json_object_set_new(o, "edges", edges);
    return o;
}

/* The contour's answer for the completed trials of list; NULL when out of
 * memory. */
static json_t *contour_json(const struct study *st, const struct trial_list *list,
                            const struct axis *ax, const struct axis *ay)
{
    size_t n = 0;
    double *pu = malloc((list->n + 1) * sizeof *pu);
    double *pv = malloc((list->n + 1) * sizeof *pv);
    double *pz = malloc((list->n + 1) * sizeof *pz);
    double *z = malloc(ax->n * ay->n * sizeof *z);
    json_t *points = json_array();
    json_t *out = NULL;
    if (!pu || !pv || !pz || !z || !points)
        goto out_free;
    for (size_t i = 0; i < list->n; i++) {
        const struct trial *t = &list->v[i];
        if (t->state != TRIAL_COMPLETED || !isfinite(t->value))
            continue;
        const json_t *vx = json_object_get(t->params, ax->p->name);
        const json_t *vy = json_object_get(t->params, ay->p->name);
        double u = axis_pos(ax, vx), v = axis_pos(ay, vy);
        if (!isfinite(u) || !isfinite(v))
            continue;
        pu[n] = u;
        pv[n] = v;
        pz[n] = t->value;
        n++;
        json_array_append_new(points, json_pack("{sI sO sO sf}", "number", (json_int_t)t->number,
                                                "x", vx, "y", vy, "value", t->value));
    }
    struct contour_points cp = {pu, pv, pz, n};
    contour_idw(&cp, ax->u, ax->n, ay->u, ay->n, 0, z);
    json_t *rows = json_array();
    for (size_t j = 0; j < ay->n; j++) {
        json_t *row = json_array();
        for (size_t i = 0; i < ax->n; i++) {
            double v = z[j * ax->n + i];
            json_array_append_new(row, isfinite(v) ? json_real(v) : json_null());
        }
        json_array_append_new(rows, row);
    }
    out = json_pack("{ss ss ss ss sI so so so sO}", "study", st->name, "objective",
                    st->spec->objective, "direction", st->spec->maximize ? "maximize" : "minimize",
                    "method", "idw", "n_trials", (json_int_t)n, "x", axis_json(ax), "y",
                    axis_json(ay), "z", rows, "points", points);
    if (out && n < 2)
        json_object_set_new(out, "note",
                            json_string(n ? "one completed trial sets both parameters: the "
                                            "surface is flat"
                                          : "no completed trial sets both parameters yet"));
out_free:
    json_decref(points);
    free(pu);
    free(pv);
    free(pz);
    free(z);
    return out;
}

enum http_result api_study_contour(struct req *r)
{
    long long grid = http_query_int(r, "grid", GRID_DEFAULT, 1LL << 40);
    if (http_replied(r))
        return HTTP_DONE;
    if (grid < GRID_MIN || grid > GRID_MAX) {
        http_reply_error(r, 400, "bad_query", "grid: must be between %d and %d (got %lld)",
                         GRID_MIN, GRID_MAX, grid);
        return HTTP_DONE;
    }
    if (http_can_offload(r))
        return HTTP_OFFLOAD; /* every trial of the study */
    struct serr e;
    struct study st;
    struct db *db = api_study_db(r, &st);
    if (!db)
        return HTTP_DONE;
    struct axis ax = {0}, ay = {0};
    struct trial_list list = {0};
    if (!axis_init(r, st.spec, "x", (size_t)grid, &ax) ||
        !axis_init(r, st.spec, "y", (size_t)grid, &ay))
        goto out_free;
    if (ax.p == ay.p) {
        http_reply_error(r, 400, "bad_query", "y: must name another parameter than x");
        goto out_free;
    }
    if (store_trials_all(db, st.id, &list, &e) < 0) {
        api_fail(r, &e);
        goto out_free;
    }
    json_t *out = contour_json(&st, &list, &ax, &ay);
    if (out)
        http_reply_json(r, 200, out);
    else
        http_reply_error(r, 500, "internal", "contour: out of memory");
out_free:
    store_trial_list_release(&list);
    free(ax.u);
    free(ay.u);
    store_study_release(&st);
    return HTTP_DONE;
}
