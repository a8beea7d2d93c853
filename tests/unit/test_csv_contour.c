#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contour.h"
#include "csv.h"

/* The text of one row of cells written by fill(). */
static char *row(void (*fill)(struct csv *c))
{
    struct csv c;
    csv_init(&c);
    fill(&c);
    csv_end_row(&c);
    ck_assert(!c.failed);
    char *s = strdup(c.out.data ? c.out.data : "");
    csv_release(&c);
    return s;
}

static void plain_cells(struct csv *c)
{
    csv_integer(c, 12);
    csv_text(c, "completed");
    csv_number(c, -0.25);
    csv_number(c, NAN);
    csv_text(c, NULL);
    csv_number(c, 0.1);
}

START_TEST(test_plain)
{
    char *s = row(plain_cells);
    ck_assert_str_eq(s, "12,completed,-0.25,,,0.1\r\n");
    free(s);
}
END_TEST

static void quoted_cells(struct csv *c)
{
    csv_text(c, "a,b");
    csv_text(c, "say \"hi\"");
    csv_text(c, "two\nlines");
    csv_text(c, "cr\rhere");
}

START_TEST(test_quoting)
{
    char *s = row(quoted_cells);
    ck_assert_str_eq(s, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\"\r\n");
    free(s);
}
END_TEST

static void formula_cells(struct csv *c)
{
    csv_text(c, "=SUM(A1:A2)");
    csv_text(c, "+1");
    csv_text(c, "-2");
    csv_text(c, "@cmd");
    csv_text(c, "\tx");
    csv_text(c, "\ry");
    csv_text(c, "a=b");
}

START_TEST(test_formulas)
{
    char *s = row(formula_cells);
    ck_assert_str_eq(s, "\"'=SUM(A1:A2)\",\"'+1\",\"'-2\",\"'@cmd\",\"'\tx\",\"'\ry\",a=b\r\n");
    free(s);
}
END_TEST

static void exact_cells(struct csv *c)
{
    csv_number(c, 1.0 / 3.0);
    csv_number(c, 1e-300);
}

START_TEST(test_numbers_read_back)
{
    char *s = row(exact_cells);
    char *comma = strchr(s, ',');
    ck_assert_ptr_nonnull(comma);
    ck_assert(strtod(s, NULL) == 1.0 / 3.0);
    ck_assert(strtod(comma + 1, NULL) == 1e-300);
    free(s);
}
END_TEST

START_TEST(test_idw)
{
    double u[] = {0, 1}, v[] = {0, 0}, z[] = {1, 3};
    struct contour_points p = {u, v, z, 2};
    double gu[] = {0, 0.5, 1}, gv[] = {0, 1};
    double out[6];
    contour_idw(&p, gu, 3, gv, 2, 0, out);
    ck_assert(out[0] == 1);                  /* on a point: its value */
    ck_assert(fabs(out[1] - 2) < 1e-12);     /* halfway: the mean */
    ck_assert(out[2] == 3);                  /* on the other point */
    ck_assert(out[3] > 1 && out[3] < 2);     /* nearer the first */
    ck_assert(fabs(out[4] - 2) < 1e-12);     /* equally far from both */
    contour_idw(&p, gu, 3, gv, 2, 0.6, out); /* cells far from every trial stay empty */
    ck_assert(!isnan(out[1]));
    ck_assert(isnan(out[3]) && isnan(out[4]) && isnan(out[5]));
    struct contour_points none = {u, v, z, 0};
    contour_idw(&none, gu, 3, gv, 2, 0, out);
    for (int i = 0; i < 6; i++)
        ck_assert(isnan(out[i]));
}
END_TEST

START_TEST(test_idw_same_place)
{
    double u[] = {0.5, 0.5}, v[] = {0.5, 0.5}, z[] = {2, 4};
    struct contour_points p = {u, v, z, 2};
    double g[] = {0.5}, out[1];
    contour_idw(&p, g, 1, g, 1, 0, out);
    ck_assert(out[0] == 3); /* two trials at one place: their mean */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csv and contour");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_plain);
    tcase_add_test(tc, test_quoting);
    tcase_add_test(tc, test_formulas);
    tcase_add_test(tc, test_numbers_read_back);
    tcase_add_test(tc, test_idw);
    tcase_add_test(tc, test_idw_same_place);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
