#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "pareto.h"
#include "rng.h"

/* ---- dominance and sorting ---- */

START_TEST(test_dominates)
{
    double a[] = {1, 2}, b[] = {1, 3}, c[] = {0, 4};
    ck_assert(pareto_dominates(a, b, 2));
    ck_assert(!pareto_dominates(b, a, 2));
    ck_assert(!pareto_dominates(a, a, 2));
    ck_assert(!pareto_dominates(a, c, 2));
    ck_assert(!pareto_dominates(c, a, 2));
}
END_TEST

START_TEST(test_sort_known_fronts)
{
    /* Four nested fronts of a 2-D problem, shuffled, and a NAN point. */
    double y[] = {
        3,   3,   /* front 2 */
        1,   2,   /* front 0 */
        0,   5,   /* front 0 */
        2,   1,   /* front 0 */
        NAN, 0,   /* unranked */
        1,   4,   /* front 1 */
        2,   2,   /* front 1 */
        4,   0.5, /* front 0 */
        5,   5,   /* front 3 */
    };
    int want[] = {2, 0, 0, 0, -1, 1, 1, 0, 3};
    int rank[9];
    ck_assert_int_eq(pareto_sort(y, 9, 2, rank), 4);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(rank[i] == want[i], "point %d: rank %d, want %d", i, rank[i], want[i]);
}
END_TEST

START_TEST(test_sort_random_consistent)
{
    /* On random 3-objective points: no point dominates another of its own front,
     * and every point of front r > 0 is dominated by one of front r - 1. */
    struct rng r;
    rng_seed(&r, 5);
    enum { N = 120, M = 3 };
    double y[N * M];
    int rank[N];
    for (int i = 0; i < N * M; i++)
        y[i] = (double)rng_below(&r, 6); /* ties on purpose */
    int nf = pareto_sort(y, N, M, rank);
    ck_assert_int_gt(nf, 1);
    for (int i = 0; i < N; i++) {
        bool dominated_by_prev = rank[i] == 0;
        for (int k = 0; k < N; k++) {
            if (rank[k] == rank[i])
                ck_assert(!pareto_dominates(y + k * M, y + i * M, M));
            if (rank[k] == rank[i] - 1 && pareto_dominates(y + k * M, y + i * M, M))
                dominated_by_prev = true;
            if (pareto_dominates(y + k * M, y + i * M, M))
                ck_assert_int_lt(rank[k], rank[i]);
        }
        ck_assert_msg(dominated_by_prev, "point %d of front %d", i, rank[i]);
    }
}
END_TEST

START_TEST(test_crowding)
{
    double y[] = {0, 4, 1, 2, 2, 1.5, 4, 0};
    double d[4];
    pareto_crowding(y, 4, 2, d);
    ck_assert(isinf(d[0]) && isinf(d[3]));
    /* point 1: (2 - 0) / 4 + (4 - 1.5) / 4; point 2: (4 - 1) / 4 + (2 - 0) / 4 */
    ck_assert_double_eq_tol(d[1], 0.5 + 0.625, 1e-12);
    ck_assert_double_eq_tol(d[2], 0.75 + 0.5, 1e-12);
}
END_TEST

/* ---- hypervolume ---- */

START_TEST(test_hv_2d_known)
{
    double ref[] = {4, 4};
    /* Staircase: (1,3), (2,2), (3,1) against (4,4): 3 + 2 + 1 = 6. */
    double y[] = {2, 2, 3, 1, 1, 3};
    ck_assert_double_eq_tol(pareto_hypervolume(y, 3, 2, ref, 0), 6.0, 1e-12);
    /* A dominated point, a duplicate and a point outside the box change nothing. */
    double y2[] = {2, 2, 3, 1, 1, 3, 2.5, 2.5, 2, 2, 5, 0};
    ck_assert_double_eq_tol(pareto_hypervolume(y2, 6, 2, ref, 0), 6.0, 1e-12);
    /* A point on the reference boundary adds nothing. */
    double y3[] = {4, 0};
    ck_assert_double_eq_tol(pareto_hypervolume(y3, 1, 2, ref, 0), 0.0, 1e-300);
    ck_assert_double_eq_tol(pareto_hypervolume(NULL, 0, 2, ref, 0), 0.0, 1e-300);
}
END_TEST

START_TEST(test_hv_2d_linear_front)
{
    /* N points evenly spaced on f2 = 1 - f1 against (1, 1): point i > 0 adds a
     * strip of width h = 1 / (N - 1) and height 1 - i h, which sums to 1/2 - h/2. */
    enum { N = 101 };
    double y[2 * N], ref[] = {1, 1};
    for (int i = 0; i < N; i++) {
        y[2 * i] = (double)i / (N - 1);
        y[2 * i + 1] = 1 - y[2 * i];
    }
    double h = 1.0 / (N - 1);
    ck_assert_double_eq_tol(pareto_hypervolume(y, N, 2, ref, 0), 0.5 - h / 2, 1e-12);
}
END_TEST

/* Brute force on a grid: the fraction of cell centres dominated. */
static double hv_grid(const double *y, size_t n, size_t m, const double *ref, int g)
{
    size_t total = 1, hit = 0;
    for (size_t j = 0; j < m; j++)
        total *= (size_t)g;
    double z[4];
    for (size_t c = 0; c < total; c++) {
        size_t t = c;
        for (size_t j = 0; j < m; j++) {
            z[j] = ((double)(t % (size_t)g) + 0.5) / g * ref[j];
            t /= (size_t)g;
        }
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
    double vol = 1;
    for (size_t j = 0; j < m; j++)
        vol *= ref[j];
    return vol * (double)hit / (double)total;
}

START_TEST(test_hv_3d_known)
{
    double ref[] = {2, 2, 2};
    double one[] = {1, 1, 1};
    ck_assert_double_eq_tol(pareto_hypervolume(one, 1, 3, ref, 0), 1.0, 1e-12);
    /* (0,1,1), (1,0,1), (1,1,0) against (2,2,2): each box 2*1*1 = 2, pairwise
     * overlaps 1*1*1, triple overlap (1,1,1) box = 1: 6 - 3 + 1 = 4. */
    double y[] = {0, 1, 1, 1, 0, 1, 1, 1, 0};
    ck_assert_double_eq_tol(pareto_hypervolume(y, 3, 3, ref, 0), 4.0, 1e-12);
    /* Points on integer coordinates: a grid count of unit cells is exact. */
    struct rng r;
    rng_seed(&r, 11);
    double ref4[] = {4, 4, 4};
    for (int round = 0; round < 20; round++) {
        double p[8 * 3];
        for (int i = 0; i < 24; i++)
            p[i] = (double)rng_below(&r, 5);
        ck_assert_double_eq_tol(pareto_hypervolume(p, 8, 3, ref4, 0), hv_grid(p, 8, 3, ref4, 4),
                                1e-9);
    }
}
END_TEST

START_TEST(test_hv_4d_and_mc)
{
    struct rng r;
    rng_seed(&r, 12);
    double ref[] = {3, 3, 3, 3, 3};
    for (int round = 0; round < 10; round++) {
        double p[6 * 4];
        for (int i = 0; i < 24; i++)
            p[i] = (double)rng_below(&r, 4);
        ck_assert_double_eq_tol(pareto_hypervolume(p, 6, 4, ref, 0), hv_grid(p, 6, 4, ref, 3),
                                1e-9);
    }
    /* Five objectives: the Monte Carlo estimate of two boxes is within 2%. */
    double one[] = {1, 1, 1, 1, 1, 2, 0.5, 2, 2, 2};
    /* the box [1,3]^5 (32) and [2,3]x[0.5,3]x[2,3]^3 (2.5) overlap in
     * [2,3]x[1,3]x[2,3]^3 (2) */
    double exact = 32 + 2.5 - 2;
    double est = pareto_hypervolume(one, 2, 5, ref, 3);
    ck_assert_msg(fabs(est - exact) < 0.02 * exact, "estimate %g, exact %g", est, exact);
}
END_TEST

START_TEST(test_hv_order)
{
    /* The knee point alone holds the most volume; then the extremes. */
    double y[] = {0, 3, 1, 1, 3, 0};
    double ref[] = {4, 4};
    size_t order[3];
    ck_assert_int_eq(pareto_hv_order(y, 3, 2, ref, order), 0);
    ck_assert_uint_eq(order[0], 1);
    ck_assert(order[1] != 1 && order[2] != 1 && order[1] != order[2]);
}
END_TEST

static Suite *pareto_suite(void)
{
    Suite *s = suite_create("pareto");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dominates);
    tcase_add_test(tc, test_sort_known_fronts);
    tcase_add_test(tc, test_sort_random_consistent);
    tcase_add_test(tc, test_crowding);
    tcase_add_test(tc, test_hv_2d_known);
    tcase_add_test(tc, test_hv_2d_linear_front);
    tcase_add_test(tc, test_hv_3d_known);
    tcase_add_test(tc, test_hv_4d_and_mc);
    tcase_add_test(tc, test_hv_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pareto_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
