#include <config.h>
#include "forest.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Trees are grown like CART regression trees: at each node the split of least
 * squared error over every feature, found by one pass over the node's samples
 * kept in order of each feature. The orders come from one sort per feature of
 * the whole data; a bootstrap sample inherits them, and a split partitions
 * them stably, so a tree costs O(d n depth) after the sort. */

void forest_opts_defaults(struct forest_opts *o, size_t n)
{
    o->trees = 64;
    o->max_depth = 16;
    o->min_leaf = n < 64 ? 1 : 3;
    o->seed = 1;
}

/* What growing one tree needs. */
struct grow {
    const double *x; /* borrowed, n * d */
    const double *y; /* borrowed, n */
    size_t d;        /* features */
    size_t m;        /* samples in the bootstrap */
    const struct forest_opts *o;
    size_t *row;            /* m: the data row of each sample */
    double *xs;             /* d * m: per feature, each sample's value (feature-major) */
    double *ys;             /* m: each sample's target */
    size_t *ord;            /* d * m: per feature, samples in order of that feature */
    unsigned char *go_left; /* m: per sample, the side of the split being made */
    size_t *tmp;            /* m: scratch for the partition */
    struct forest_tree *t;  /* the tree being grown */
};

/* A new node (index), or -1 when out of memory. */
static int node_add(struct forest_tree *t)
{
    if (t->n == t->cap) {
        size_t c = t->cap ? 2 * t->cap : 64;
        struct forest_node *v = realloc(t->nodes, c * sizeof *v);
        if (!v)
            return -1;
        t->nodes = v;
        t->cap = c;
    }
    struct forest_node *nd = &t->nodes[t->n];
    nd->feature = -1;
    nd->threshold = 0;
    nd->left = nd->right = -1;
    nd->value = 0;
    return (int)t->n++;
}

/* The cut between two neighbouring values a < b: the midpoint, or 0 exactly
 * when it separates absent values (negative) from present ones. */
static double cut_between(double a, double b)
{
    if (a < 0 && b >= 0)
        return 0;
    return a + (b - a) / 2;
}

/* Grow the subtree of the samples at positions [lo, hi) of every order; its
 * root's index, or -1 when out of memory. */
static int grow_node(struct grow *g, size_t lo, size_t hi, int depth)
{
    int id = node_add(g->t);
    if (id < 0)
        return -1;
    size_t cnt = hi - lo;
    double sum = 0;
    for (size_t k = lo; k < hi; k++)
        sum += g->ys[g->ord[k]];
    double mean = sum / (double)cnt;
    g->t->nodes[id].value = mean;
    double sse = 0, sumsq = 0;
    for (size_t k = lo; k < hi; k++) {
        double v = g->ys[g->ord[k]], r = v - mean;
        sse += r * r;
        sumsq += v * v;
    }
    size_t min_leaf = g->o->min_leaf ? g->o->min_leaf : 1;
    if (depth >= g->o->max_depth || cnt < 2 * min_leaf || sse <= 1e-12 * sumsq)
        return id;
    /* The best split: the largest drop of the squared error, which is
     * sum_l^2 / n_l + sum_r^2 / n_r - sum^2 / n. */
    double best_gain = 1e-12 * sse;
    int best_j = -1;
    size_t best_k = 0;
    double best_cut = 0;
    double base = sum * sum / (double)cnt;
    for (size_t j = 0; j < g->d; j++) {
        const size_t *o = g->ord + j * g->m;
        const double *xj = g->xs + j * g->m;
        double sl = 0;
        for (size_t k = lo; k + 1 < hi; k++) {
            sl += g->ys[o[k]];
            size_t nl = k + 1 - lo, nr = cnt - nl;
            if (nl < min_leaf)
                continue;
            if (nr < min_leaf)
                break;
            double a = xj[o[k]], b = xj[o[k + 1]];
            if (!(a < b))
                continue;
            double sr = sum - sl;
            double gain = sl * sl / (double)nl + sr * sr / (double)nr - base;
            if (gain > best_gain) {
                best_gain = gain;
                best_j = (int)j;
                best_k = k + 1;
                best_cut = cut_between(a, b);
            }
        }
    }
    if (best_j < 0)
        return id;
    const size_t *ob = g->ord + (size_t)best_j * g->m;
    for (size_t k = lo; k < hi; k++)
        g->go_left[ob[k]] = k < best_k;
    size_t mid = best_k;
    for (size_t j = 0; j < g->d; j++) {
        size_t *o = g->ord + j * g->m;
        size_t a = lo, b = 0;
        for (size_t k = lo; k < hi; k++) {
            if (g->go_left[o[k]])
                o[a++] = o[k];
            else
                g->tmp[b++] = o[k];
        }
        memcpy(o + a, g->tmp, b * sizeof *o);
    }
    int l = grow_node(g, lo, mid, depth + 1);
    if (l < 0)
        return -1;
    int r = grow_node(g, mid, hi, depth + 1);
    if (r < 0)
        return -1;
    struct forest_node *nd = &g->t->nodes[id];
    nd->feature = best_j;
    nd->threshold = best_cut;
    nd->left = l;
    nd->right = r;
    return id;
}

/* For the whole-data sort of one feature. */
struct keyed {
    double v;   /* the feature's value */
    size_t row; /* data row */
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *p = a, *q = b;
    if (p->v != q->v)
        return p->v < q->v ? -1 : 1;
    return (p->row > q->row) - (p->row < q->row);
}

struct forest *forest_fit(const double *x, const double *y, size_t n, size_t d,
                          const struct forest_opts *o)
{
    if (n == 0 || o->trees <= 0)
        return NULL;
    struct forest *f = calloc(1, sizeof *f);
    size_t dd = d ? d : 1;
    size_t *sorted = malloc(dd * n * sizeof *sorted); /* per feature, rows in order */
    struct keyed *kv = malloc(n * sizeof *kv);
    size_t *count = malloc(n * sizeof *count);
    struct grow g = {.d = d, .m = n, .o = o};
    g.row = malloc(n * sizeof *g.row);
    g.xs = malloc(dd * n * sizeof *g.xs);
    g.ys = malloc(n * sizeof *g.ys);
    g.ord = malloc(dd * n * sizeof *g.ord);
    g.go_left = malloc(n);
    g.tmp = malloc(n * sizeof *g.tmp);
    if (!f || !sorted || !kv || !count || !g.row || !g.xs || !g.ys || !g.ord || !g.go_left ||
        !g.tmp)
        goto fail;
    f->d = d;
    f->trees = calloc((size_t)o->trees, sizeof *f->trees);
    if (!f->trees)
        goto fail;
    f->n_trees = (size_t)o->trees;
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < n; i++)
            kv[i] = (struct keyed){x[i * d + j], i};
        qsort(kv, n, sizeof *kv, cmp_keyed);
        for (size_t i = 0; i < n; i++)
            sorted[j * n + i] = kv[i].row;
    }
    struct rng r;
    rng_seed(&r, o->seed);
    for (size_t t = 0; t < f->n_trees; t++) {
        /* The bootstrap: n draws with replacement; sample s stands for the
         * data row row[s], samples numbered in row order. */
        memset(count, 0, n * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[rng_below(&r, n)]++;
        size_t s = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < count[i]; c++)
                g.row[s++] = i;
        for (size_t k = 0; k < n; k++) {
            g.ys[k] = y[g.row[k]];
            for (size_t j = 0; j < d; j++)
                g.xs[j * n + k] = x[g.row[k] * d + j];
        }
        /* first sample of each row, to carry the whole-data orders over */
        size_t acc = 0;
        for (size_t i = 0; i < n; i++) {
            size_t c = count[i];
            count[i] = acc;
            acc += c;
        }
        for (size_t j = 0; j < d; j++) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                size_t row = sorted[j * n + i];
                size_t first = count[row];
                size_t end = row + 1 < n ? count[row + 1] : n;
                for (size_t c = first; c < end; c++)
                    g.ord[j * n + k++] = c;
            }
        }
        if (d == 0)
            for (size_t i = 0; i < n; i++)
                g.ord[i] = i;
        g.t = &f->trees[t];
        if (grow_node(&g, 0, n, 0) < 0)
            goto fail;
    }
    free(sorted);
    free(kv);
    free(count);
    free(g.row);
    free(g.xs);
    free(g.ys);
    free(g.ord);
    free(g.go_left);
    free(g.tmp);
    return f;
fail:
    free(sorted);
    free(kv);
    free(count);
    free(g.row);
    free(g.xs);
    free(g.ys);
    free(g.ord);
    free(g.go_left);
    free(g.tmp);
    forest_free(f);
    return NULL;
}

void forest_free(struct forest *f)
{
    if (!f)
        return;
    for (size_t t = 0; t < f->n_trees && f->trees; t++)
        free(f->trees[t].nodes);
    free(f->trees);
    free(f);
}

static double tree_predict(const struct forest_tree *t, const double *x)
{
    int i = 0;
    while (t->nodes[i].feature >= 0)
        i = x[t->nodes[i].feature] < t->nodes[i].threshold ? t->nodes[i].left : t->nodes[i].right;
    return t->nodes[i].value;
}

double forest_predict(const struct forest *f, const double *x)
{
    double s = 0;
    for (size_t t = 0; t < f->n_trees; t++)
        s += tree_predict(&f->trees[t], x);
    return f->n_trees ? s / (double)f->n_trees : 0;
}

/* The measure of [a, b] for a feature whose absent share is w. */
static double measure(double w, double a, double b)
{
    double m = 0;
    double lo = a > -1 ? a : -1, hi = b < 0 ? b : 0;
    if (hi > lo)
        m += w * (hi - lo);
    lo = a > 0 ? a : 0;
    hi = b < 1 ? b : 1;
    if (hi > lo)
        m += (1 - w) * (hi - lo);
    return m;
}

/* A leaf of a tree as a box of the input space. */
struct leaf_box {
    double value; /* the leaf's prediction */
    double vol;   /* the box's measure */
};

/* Collect the leaves under node i, whose box is lo..hi (d each, changed and
 * restored on the way), into leaves (value, volume) and boxes (2 d per leaf). */
static void collect(const struct forest_tree *t, int i, size_t d, const double *w, double *lo,
                    double *hi, struct leaf_box *leaves, double *boxes, size_t *nl)
{
    const struct forest_node *nd = &t->nodes[i];
    if (nd->feature < 0) {
        double vol = 1;
        for (size_t j = 0; j < d; j++)
            vol *= measure(w ? w[j] : 0, lo[j], hi[j]);
        leaves[*nl] = (struct leaf_box){nd->value, vol};
        memcpy(boxes + *nl * 2 * d, lo, d * sizeof *lo);
        memcpy(boxes + *nl * 2 * d + d, hi, d * sizeof *hi);
        (*nl)++;
        return;
    }
    size_t j = (size_t)nd->feature;
    double keep = hi[j];
    if (nd->threshold < hi[j])
        hi[j] = nd->threshold;
    collect(t, nd->left, d, w, lo, hi, leaves, boxes, nl);
    hi[j] = keep;
    keep = lo[j];
    if (nd->threshold > lo[j])
        lo[j] = nd->threshold;
    collect(t, nd->right, d, w, lo, hi, leaves, boxes, nl);
    lo[j] = keep;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The index of c in the sorted cuts (it is one of them). */
static size_t cut_index(const double *cuts, size_t nc, double c)
{
    size_t lo = 0, hi = nc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cuts[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int forest_main_effects(const struct forest *f, const double *w_missing, double *frac)
{
    size_t d = f->d;
    for (size_t j = 0; j < d; j++)
        frac[j] = 0;
    size_t max_nodes = 0;
    for (size_t t = 0; t < f->n_trees; t++)
        if (f->trees[t].n > max_nodes)
            max_nodes = f->trees[t].n;
    size_t dd = d ? d : 1, ml = max_nodes + 1;
    struct leaf_box *leaves = malloc(ml * sizeof *leaves);
    double *boxes = malloc(ml * 2 * dd * sizeof *boxes);
    double *meas = malloc(ml * dd * sizeof *meas); /* per leaf, its measure along each feature */
    double *rest = malloc(ml * dd * sizeof *rest); /* per leaf, the product of the others */
    double *lo = malloc(dd * sizeof *lo), *hi = malloc(dd * sizeof *hi);
    double *cuts = malloc((max_nodes + 2) * sizeof *cuts);
    double *marg = malloc((max_nodes + 2) * sizeof *marg);
    double *vj = malloc(dd * sizeof *vj);
    int varied = -1;
    if (!leaves || !boxes || !meas || !rest || !lo || !hi || !cuts || !marg || !vj)
        goto out;
    varied = 0;
    for (size_t t = 0; t < f->n_trees; t++) {
        const struct forest_tree *tr = &f->trees[t];
        for (size_t j = 0; j < d; j++) {
            lo[j] = -1;
            hi[j] = 1;
        }
        size_t nl = 0;
        collect(tr, 0, d, w_missing, lo, hi, leaves, boxes, &nl);
        /* The mean and variance of the prediction over the space (the leaves
         * partition it, and each feature's measure totals 1). */
        double f0 = 0, total = 0;
        for (size_t l = 0; l < nl; l++) {
            f0 += leaves[l].value * leaves[l].vol;
            total += leaves[l].vol;
        }
        if (total <= 0)
            continue;
        f0 /= total;
        double var = 0;
        for (size_t l = 0; l < nl; l++) {
            double r = leaves[l].value - f0;
            var += leaves[l].vol * r * r;
        }
        var /= total;
        if (!(var > 1e-300) || !(var > 1e-24 * f0 * f0))
            continue;
        /* Each leaf's volume without feature j, for every j: products of
         * the measures before j and after it. */
        for (size_t l = 0; l < nl; l++) {
            const double *blo = boxes + l * 2 * d, *bhi = blo + d;
            double *ml_ = meas + l * d, *rl = rest + l * d;
            for (size_t i = 0; i < d; i++)
                ml_[i] = measure(w_missing ? w_missing[i] : 0, blo[i], bhi[i]);
            double before = 1;
            for (size_t i = 0; i < d; i++) {
                rl[i] = before;
                before *= ml_[i];
            }
            double after = 1;
            for (size_t i = d; i-- > 0;) {
                rl[i] *= after;
                after *= ml_[i];
            }
        }
        for (size_t j = 0; j < d; j++) {
            /* The cuts of feature j split its domain into intervals on which
             * the marginal prediction (the mean over the other features) is
             * constant. */
            double wj = w_missing ? w_missing[j] : 0;
            size_t nc = 0;
            cuts[nc++] = -1;
            cuts[nc++] = 1;
            for (size_t k = 0; k < tr->n; k++)
                if (tr->nodes[k].feature == (int)j)
                    cuts[nc++] = tr->nodes[k].threshold;
            vj[j] = 0;
            if (nc == 2)
                continue;
            qsort(cuts, nc, sizeof *cuts, cmp_double);
            size_t u = 1;
            for (size_t k = 1; k < nc; k++)
                if (cuts[k] != cuts[u - 1])
                    cuts[u++] = cuts[k];
            nc = u;
            /* each leaf adds its value times its volume without j to the
             * intervals it spans: a difference array, summed after */
            for (size_t k = 0; k < nc; k++)
                marg[k] = 0;
            for (size_t l = 0; l < nl; l++) {
                double r = rest[l * d + j];
                if (r <= 0)
                    continue;
                const double *blo = boxes + l * 2 * d, *bhi = blo + d;
                size_t a = cut_index(cuts, nc, blo[j]), b = cut_index(cuts, nc, bhi[j]);
                marg[a] += leaves[l].value * r;
                marg[b] -= leaves[l].value * r;
            }
            double run = 0, v = 0;
            for (size_t k = 0; k + 1 < nc; k++) {
                run += marg[k];
                double r = run - f0;
                v += measure(wj, cuts[k], cuts[k + 1]) * r * r;
            }
            vj[j] = v / total;
        }
        for (size_t j = 0; j < d; j++)
            frac[j] += vj[j] / var;
        varied++;
    }
    for (size_t j = 0; varied > 0 && j < d; j++)
        frac[j] /= varied;
out:
    free(leaves);
    free(boxes);
    free(meas);
    free(rest);
    free(lo);
    free(hi);
    free(cuts);
    free(marg);
    free(vj);
    return varied;
}
