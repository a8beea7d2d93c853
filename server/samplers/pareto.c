#include <config.h>
#include "pareto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Fronts larger than this are ordered by crowding distance rather than by
 * greedy hypervolume selection (whose cost grows as n^3 times a hypervolume). */
#define HV_ORDER_GREEDY_MAX   40
#define HV_ORDER_GREEDY_MAX_4 16

bool pareto_dominates(const double *a, const double *b, size_t m)
{
    bool better = false;
    for (size_t j = 0; j < m; j++) {
        if (a[j] > b[j])
            return false;
        if (a[j] < b[j])
            better = true;
    }
    return better;
}

static bool has_nan(const double *p, size_t m)
{
    for (size_t j = 0; j < m; j++)
        if (isnan(p[j]))
            return true;
    return false;
}

int pareto_sort(const double *y, size_t n, size_t m, int *rank)
{
    if (n == 0)
        return 0;
    /* Count, for every point, how many points dominate it; peel fronts. */
    size_t *ndom = calloc(n, sizeof *ndom);
    size_t *front = malloc(n * sizeof *front);
    if (!ndom || !front) {
        free(ndom);
        free(front);
        return -1;
    }
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        rank[i] = has_nan(y + i * m, m) ? -1 : -2;
        left += rank[i] == -2;
    }
    for (size_t i = 0; i < n; i++) {
        if (rank[i] == -1)
            continue;
        for (size_t k = 0; k < n; k++)
            if (k != i && rank[k] != -1 && pareto_dominates(y + k * m, y + i * m, m))
                ndom[i]++;
    }
    int r = 0;
    while (left > 0) {
        size_t nf = 0;
        for (size_t i = 0; i < n; i++)
            if (rank[i] == -2 && ndom[i] == 0)
                front[nf++] = i;
        for (size_t f = 0; f < nf; f++)
            rank[front[f]] = r;
        for (size_t f = 0; f < nf; f++)
            for (size_t k = 0; k < n; k++)
                if (rank[k] == -2 && pareto_dominates(y + front[f] * m, y + k * m, m))
                    ndom[k]--;
        left -= nf;
        r++;
    }
    free(ndom);
    free(front);
    return r;
}

struct sort_key {
    double v;
    size_t i;
};

static int cmp_key(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

void pareto_crowding(const double *y, size_t n, size_t m, double *dist)
{
    for (size_t i = 0; i < n; i++)
        dist[i] = 0;
    if (n <= 2) {
        for (size_t i = 0; i < n; i++)
            dist[i] = INFINITY;
        return;
    }
    struct sort_key *k = malloc(n * sizeof *k);
    if (!k) {
        for (size_t i = 0; i < n; i++)
            dist[i] = INFINITY;
        return;
    }
    for (size_t j = 0; j < m; j++) {
        for (size_t i = 0; i < n; i++)
            k[i] = (struct sort_key){y[i * m + j], i};
        qsort(k, n, sizeof *k, cmp_key);
        double span = k[n - 1].v - k[0].v;
        dist[k[0].i] = INFINITY;
        dist[k[n - 1].i] = INFINITY;
        if (!(span > 0))
            continue;
        for (size_t t = 1; t + 1 < n; t++)
            dist[k[t].i] += (k[t + 1].v - k[t - 1].v) / span;
    }
    free(k);
}

/* Two objectives: sweep along the first, points already below ref. */
static double hv2(const double *y, size_t n, const double *ref, struct sort_key *k)
{
    for (size_t i = 0; i < n; i++)
        k[i] = (struct sort_key){y[i * 2], i};
    qsort(k, n, sizeof *k, cmp_key);
    double hv = 0, top = ref[1];
    for (size_t t = 0; t < n; t++) {
        const double *p = y + k[t].i * 2;
        if (p[1] < top) {
            hv += (ref[0] - p[0]) * (top - p[1]);
            top = p[1];
        }
    }
    return hv;
}

/* m >= 3 objectives: slices between consecutive values of the last objective,
 * each the (m - 1)-dimensional hypervolume of the points at or below it.
 * Points already below ref. NAN when out of memory. */
static double hv_rec(const double *y, size_t n, size_t m, const double *ref)
{
    if (n == 0)
        return 0;
    if (m == 1) {
        double lo = ref[0];
        for (size_t i = 0; i < n; i++)
            lo = y[i] < lo ? y[i] : lo;
        return ref[0] - lo;
    }
    struct sort_key *k = malloc(n * sizeof *k);
    if (!k)
        return NAN;
    if (m == 2) {
        double hv = hv2(y, n, ref, k);
        free(k);
        return hv;
    }
    double *proj = malloc(n * (m - 1) * sizeof *proj);
    if (!proj) {
        free(k);
        return NAN;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (struct sort_key){y[i * m + m - 1], i};
    qsort(k, n, sizeof *k, cmp_key);
    double hv = 0;
    for (size_t t = 0; t < n; t++) {
        memcpy(proj + t * (m - 1), y + k[t].i * m, (m - 1) * sizeof *proj);
        double next = t + 1 < n ? k[t + 1].v : ref[m - 1];
        if (next <= k[t].v)
            continue;
        double area = hv_rec(proj, t + 1, m - 1, ref);
        if (isnan(area)) {
            hv = NAN;
            break;
        }
        hv += area * (next - k[t].v);
    }
    free(proj);
    free(k);
    return hv;
}

static double hv_mc(const double *y, size_t n, size_t m, const double *ref, uint64_t seed)
{
    double *lo = malloc(m * sizeof *lo), *z = malloc(m * sizeof *z);
    if (!lo || !z) {
        free(lo);
        free(z);
        return NAN;
    }
    double box = 1;
    for (size_t j = 0; j < m; j++) {
        lo[j] = ref[j];
        for (size_t i = 0; i < n; i++)
            lo[j] = y[i * m + j] < lo[j] ? y[i * m + j] : lo[j];
        box *= ref[j] - lo[j];
    }
    struct rng r;
    rng_seed(&r, seed);
    size_t hit = 0;
    for (size_t s = 0; s < PARETO_MC_SAMPLES; s++) {
        for (size_t j = 0; j < m; j++)
            z[j] = lo[j] + rng_uniform(&r) * (ref[j] - lo[j]);
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < m && y[i * m + j] <= z[j])
                j++;
            if (j == m) {
                hit++;
                break;
            }
        }
    }
    free(lo);
    free(z);
    return box * (double)hit / (double)PARETO_MC_SAMPLES;
}

double pareto_hypervolume(const double *y, size_t n, size_t m, const double *ref, uint64_t seed)
{
    if (m == 0)
        return 0;
    double *in = malloc((n ? n : 1) * m * sizeof *in);
    if (!in)
        return NAN;
    /* Keep the points strictly below ref that no other kept point dominates. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = y + i * m;
        size_t j = 0;
        while (j < m && p[j] < ref[j])
            j++;
        if (j < m)
            continue;
        memcpy(in + k * m, p, m * sizeof *in);
        k++;
    }
    size_t kept = 0;
    for (size_t i = 0; i < k; i++) {
        bool dominated = false;
        for (size_t t = 0; t < k && !dominated; t++)
            dominated = t != i && (pareto_dominates(in + t * m, in + i * m, m) ||
                                   (t < i && memcmp(in + t * m, in + i * m, m * sizeof *in) == 0));
        if (!dominated)
            memmove(in + kept++ * m, in + i * m, m * sizeof *in);
    }
    double hv = m <= PARETO_EXACT_MAX ? hv_rec(in, kept, m, ref) : hv_mc(in, kept, m, ref, seed);
    free(in);
    return hv;
}

int pareto_hv_order(const double *y, size_t n, size_t m, const double *ref, size_t *order)
{
    if (n == 0)
        return 0;
    size_t cap = m >= 4 ? HV_ORDER_GREEDY_MAX_4 : HV_ORDER_GREEDY_MAX;
    if (n > cap) {
        double *dist = malloc(n * sizeof *dist);
        struct sort_key *k = malloc(n * sizeof *k);
        if (!dist || !k) {
            free(dist);
            free(k);
            return -1;
        }
        pareto_crowding(y, n, m, dist);
        for (size_t i = 0; i < n; i++)
            k[i] = (struct sort_key){-dist[i], i};
        qsort(k, n, sizeof *k, cmp_key);
        for (size_t i = 0; i < n; i++)
            order[i] = k[i].i;
        free(dist);
        free(k);
        return 0;
    }
    double *sel = malloc(n * m * sizeof *sel);
    bool *used = calloc(n, sizeof *used);
    if (!sel || !used) {
        free(sel);
        free(used);
        return -1;
    }
    for (size_t s = 0; s < n; s++) {
        double best = -INFINITY;
        size_t bi = 0;
        for (size_t i = 0; i < n; i++) {
            if (used[i])
                continue;
            memcpy(sel + s * m, y + i * m, m * sizeof *sel);
            double hv = pareto_hypervolume(sel, s + 1, m, ref, 1);
            if (hv > best) {
                best = hv;
                bi = i;
            }
        }
        used[bi] = true;
        order[s] = bi;
        memcpy(sel + s * m, y + bi * m, m * sizeof *sel);
    }
    free(sel);
    free(used);
    return 0;
}
