#include <config.h>
#include "gp_enc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gp_enc_release(struct gp_enc *e)
{
    free(e->off);
    free(e->width);
    free(e->movable);
    free(e->u);
}

int gp_enc_init(struct gp_enc *e, const struct space *s)
{
    size_t n = s->n ? s->n : 1;
    memset(e, 0, sizeof *e);
    e->s = s;
    e->off = calloc(n, sizeof *e->off);
    e->width = calloc(n, sizeof *e->width);
    e->u = calloc(n, sizeof *e->u);
    if (!e->off || !e->width || !e->u)
        return -1;
    e->plain = true;
    for (size_t i = 0; i < s->n; i++) {
        const struct param *p = &s->params[i];
        e->off[i] = e->nf;
        if (p->parent >= 0)
            e->plain = false;
        switch (p->type) {
        case PARAM_FLOAT:
        case PARAM_INT:
            e->width[i] = 1;
            if (p->type == PARAM_INT || p->step > 0)
                e->plain = false;
            break;
        case PARAM_CATEGORICAL:
            e->width[i] = json_array_size(p->choices);
            e->plain = false;
            break;
        case PARAM_CODE:
            e->width[i] = 0;
            break;
        }
        e->nf += e->width[i];
    }
    e->movable = calloc(e->nf ? e->nf : 1, sizeof *e->movable);
    if (!e->movable)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->params[i].type == PARAM_FLOAT || s->params[i].type == PARAM_INT)
            e->movable[e->off[i]] = true;
    return 0;
}

void gp_enc_encode(const struct gp_enc *e, const json_t *config, double *f)
{
    for (size_t i = 0; i < e->s->n; i++) {
        const struct param *p = &e->s->params[i];
        const json_t *v = json_object_get(config, p->name);
        double *fi = f + e->off[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
            fi[0] = v ? param_to_unit(p, v) : 0.5;
        } else if (p->type == PARAM_CATEGORICAL) {
            int c = v ? param_choice_index(p, v) : -1;
            for (size_t j = 0; j < e->width[i]; j++)
                fi[j] = (int)j == c ? 1.0 : 0.0;
        }
    }
}

json_t *gp_enc_decode(const struct gp_enc *e, const double *f)
{
    for (size_t i = 0; i < e->s->n; i++) {
        const struct param *p = &e->s->params[i];
        const double *fi = f + e->off[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
            e->u[i] = fi[0] < 0 ? 0 : fi[0] > 1 ? 1 : fi[0];
        } else if (p->type == PARAM_CATEGORICAL && e->width[i] > 0) {
            size_t best = 0;
            for (size_t j = 1; j < e->width[i]; j++)
                if (fi[j] > fi[best])
                    best = j;
            e->u[i] = (best + 0.5) / (double)e->width[i];
        } else {
            e->u[i] = 0.5;
        }
    }
    return space_from_unit(e->s, e->u);
}

void gp_enc_canonical(const struct gp_enc *e, double *f)
{
    if (e->plain) {
        for (size_t j = 0; j < e->nf; j++)
            f[j] = f[j] < 0 ? 0 : f[j] > 1 ? 1 : f[j];
        return;
    }
    json_t *c = gp_enc_decode(e, f);
    if (c)
        gp_enc_encode(e, c, f);
    json_decref(c);
}

void gp_enc_from_unit(const struct gp_enc *e, const double *u, double *f)
{
    for (size_t i = 0; i < e->s->n; i++) {
        const struct param *p = &e->s->params[i];
        double *fi = f + e->off[i];
        if (p->type == PARAM_FLOAT || p->type == PARAM_INT) {
            fi[0] = u[i];
        } else if (p->type == PARAM_CATEGORICAL) {
            size_t c = (size_t)floor(u[i] * (double)e->width[i]);
            if (c >= e->width[i])
                c = e->width[i] - 1;
            for (size_t j = 0; j < e->width[i]; j++)
                fi[j] = j == c ? 1.0 : 0.0;
        }
    }
}

void gp_enc_ls_max(const struct gp_enc *e, double bound, double *ls_max)
{
    for (size_t j = 0; j < e->nf; j++)
        ls_max[j] = 0;
    for (size_t i = 0; i < e->s->n; i++)
        if (e->s->params[i].type == PARAM_CATEGORICAL)
            for (size_t j = 0; j < e->width[i]; j++)
                ls_max[e->off[i] + j] = bound;
}
