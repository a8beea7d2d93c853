#include <config.h>
#include "front.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pareto.h"

const char *front_reference_name(enum front_reference r)
{
    switch (r) {
    case FRONT_REF_SPEC:
        return "spec";
    case FRONT_REF_DERIVED:
        return "derived";
    case FRONT_REF_NONE:
        break;
    }
    return NULL;
}

void front_release(struct front *f)
{
    store_trial_list_release(&f->trials);
    store_study_release(&f->st);
    free(f->hv_numbers);
    free(f->hv_values);
    memset(f, 0, sizeof *f);
}

double front_hypervolume(const struct spec *sp, const double *objs, size_t n, const double *ref)
{
    size_t m = sp->n_objectives;
    double *y = malloc((n + 1) * m * sizeof *y);
    double r[SPEC_MAX_OBJECTIVES];
    if (!y)
        return NAN;
    for (size_t j = 0; j < m; j++)
        r[j] = sp->objectives[j].maximize ? -ref[j] : ref[j];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            y[i * m + j] = sp->objectives[j].maximize ? -objs[i * m + j] : objs[i * m + j];
    double hv = pareto_hypervolume(y, n, m, r, sp->seed);
    free(y);
    return hv;
}

/* A trial's objective vector (own units) into v; false when one is missing. */
static bool trial_objs(const struct trial *t, size_t m, double *v)
{
    for (size_t j = 0; j < m; j++) {
        json_t *x = json_array_get(t->objs, j);
        v[j] = json_is_number(x) ? json_number_value(x) : NAN;
        if (!isfinite(v[j]))
            return false;
    }
    return true;
}

/* Order of two front members: the first objective, best first, then number. */
static int cmp_first(const struct spec *sp, const struct trial *a, const struct trial *b)
{
    double x = NAN, y = NAN;
    json_t *ja = json_array_get(a->objs, 0), *jb = json_array_get(b->objs, 0);
    if (json_is_number(ja))
        x = json_number_value(ja);
    if (json_is_number(jb))
        y = json_number_value(jb);
    if (sp->objectives[0].maximize) {
        x = -x;
        y = -y;
    }
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    return (a->number > b->number) - (a->number < b->number);
}

/* Sort the front (an insertion sort: fronts are small, and it needs no
 * comparison state outside its arguments). */
static void sort_front(const struct spec *sp, struct trial_list *l)
{
    for (size_t i = 1; i < l->n; i++) {
        struct trial t = l->v[i];
        size_t k = i;
        while (k > 0 && cmp_first(sp, &l->v[k - 1], &t) > 0) {
            l->v[k] = l->v[k - 1];
            k--;
        }
        l->v[k] = t;
    }
}

/* The hypervolume after each completed trial, by number, into f. */
static int hv_history(struct db *db, struct front *f, struct serr *e)
{
    const struct spec *sp = f->st.spec;
    size_t m = sp->n_objectives, n;
    double *objs;
    int *feasible;
    if (store_objective_rows(db, f->st.id, m, &f->hv_numbers, &objs, &feasible, &n, e) < 0)
        return -1;
    f->hv_values = malloc((n + 1) * sizeof *f->hv_values);
    double *front = malloc((n + 1) * m * sizeof *front);
    int rc = -1;
    if (!f->hv_values || !front) {
        serr_set(e, 500, "internal", "out of memory");
        goto out_free;
    }
    size_t nf = 0;
    double hv = f->ref_source == FRONT_REF_NONE ? NAN : 0;
    for (size_t i = 0; i < n; i++) {
        const double *y = objs + i * m;
        bool ok = feasible[i] != 0;
        for (size_t j = 0; j < m; j++)
            ok = ok && isfinite(y[j]);
        bool dominated = false;
        for (size_t k = 0; ok && k < nf && !dominated; k++)
            dominated = lifecycle_dominates(sp, front + k * m, y);
        if (ok && !dominated) {
            size_t kept = 0; /* drop the members the new point dominates */
            for (size_t k = 0; k < nf; k++)
                if (!lifecycle_dominates(sp, y, front + k * m))
                    memmove(front + kept++ * m, front + k * m, m * sizeof *front);
            memcpy(front + kept * m, y, m * sizeof *front);
            nf = kept + 1;
            if (f->ref_source != FRONT_REF_NONE)
                hv = front_hypervolume(sp, front, nf, f->reference);
        }
        f->hv_values[i] = hv;
    }
    f->n_hv = n;
    rc = 0;
out_free:
    free(objs);
    free(feasible);
    free(front);
    return rc;
}

int front_get(struct db *db, const char *name, bool history, struct front *out, struct serr *e)
{
    memset(out, 0, sizeof *out);
    out->hypervolume = NAN;
    struct study_info info;
    if (store_study_get(db, name, &info, e) < 0)
        return -1;
    int rc = -1;
    if (store_study_load_id(db, info.id, &out->st, e) < 0)
        goto out_release;
    const struct spec *sp = out->st.spec;
    size_t m = sp->n_objectives;
    out->n_completed = info.counts.completed;
    if (m < 2) {
        /* one objective: the best (feasible) trial is the front */
        if (info.best) {
            out->trials.v = info.best; /* moved */
            out->trials.n = 1;
            info.best = NULL;
        }
        struct front_rows rows;
        if (store_front(db, out->st.id, &rows, e) < 0)
            goto out_release;
        out->n_completed = rows.n_completed;
        out->n_feasible = rows.n_feasible;
        store_front_release(&rows);
        out->history = history;
        rc = 0;
        goto out_release;
    }
    if (sp->has_reference) {
        out->ref_source = FRONT_REF_SPEC;
        memcpy(out->reference, sp->reference, m * sizeof *out->reference);
    } else if (info.reference_derived) {
        out->ref_source = FRONT_REF_DERIVED;
        memcpy(out->reference, info.reference, m * sizeof *out->reference);
    }
    struct front_rows rows;
    if (store_front(db, out->st.id, &rows, e) < 0)
        goto out_release;
    out->trials = rows.trials; /* moved */
    out->n_completed = rows.n_completed;
    out->n_feasible = rows.n_feasible;
    sort_front(sp, &out->trials);
    if (out->ref_source != FRONT_REF_NONE) {
        double *y = malloc((out->trials.n + 1) * m * sizeof *y);
        size_t n = 0;
        for (size_t i = 0; y && i < out->trials.n; i++)
            n += trial_objs(&out->trials.v[i], m, y + n * m);
        out->hypervolume = y ? front_hypervolume(sp, y, n, out->reference) : NAN;
        free(y);
    }
    out->history = history;
    rc = history ? hv_history(db, out, e) : 0;
out_release:
    store_study_info_release(&info);
    if (rc < 0)
        front_release(out);
    return rc;
}
