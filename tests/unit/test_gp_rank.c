#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "gp_rank.h"
#include "sampler.h"
#include "space.h"

/* gp_rank_best(): the GP's expected improvement orders an LLM's candidates. */

static json_t *J(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s: %s", err, text);
    return v;
}

static struct space *space_1d(void)
{
    char err[256] = "";
    json_t *p = J("[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1}]");
    struct space *s = space_parse(p, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    json_decref(p);
    return s;
}

static json_t *at(double x)
{
    return json_pack("{sf}", "x", x);
}

/* Observations of (x - 0.3)^2 on a grid, skipping the minimum. */
struct hist {
    struct obs o[32];
    json_t *p[32];
    size_t n;
};

static void hist_fill(struct hist *h)
{
    h->n = 0;
    for (int i = 0; i <= 10; i++) {
        double x = i / 10.0;
        if (i == 3)
            continue;
        h->p[h->n] = at(x);
        h->o[h->n] = (struct obs){h->p[h->n], (x - 0.3) * (x - 0.3), OBS_COMPLETED, (long)h->n};
        h->n++;
    }
}

static void hist_release(struct hist *h)
{
    for (size_t i = 0; i < h->n; i++)
        json_decref(h->p[i]);
}

START_TEST(picks_candidate_near_the_modelled_minimum)
{
    struct space *s = space_1d();
    struct hist h;
    hist_fill(&h);
    struct sampler_ctx ctx = {.space = s,
                              .history = h.o,
                              .n_history = h.n,
                              .pending = NULL,
                              .n_pending = 0,
                              .seed = 7,
                              .next_number = (long)h.n,
                              .options = NULL};
    json_t *c[3] = {at(0.95), at(0.31), at(0.62)};
    double score[3];
    int best = gp_rank_best(&ctx, (const json_t *const *)c, 3, score);
    ck_assert_int_eq(best, 1);
    ck_assert(score[1] > score[0] && score[1] > score[2]);
    for (int i = 0; i < 3; i++)
        json_decref(c[i]);
    hist_release(&h);
    space_free(s);
}
END_TEST

START_TEST(pending_trial_makes_its_neighbour_less_attractive)
{
    struct space *s = space_1d();
    struct hist h;
    hist_fill(&h);
    json_t *c[2] = {at(0.31), at(0.27)};
    struct sampler_ctx ctx = {.space = s,
                              .history = h.o,
                              .n_history = h.n,
                              .pending = NULL,
                              .n_pending = 0,
                              .seed = 7,
                              .next_number = (long)h.n,
                              .options = NULL};
    double free_score[2], busy_score[2];
    ck_assert_int_ge(gp_rank_best(&ctx, (const json_t *const *)c, 2, free_score), 0);
    json_t *pp = at(0.31);
    struct obs pend = {pp, NAN, OBS_PENDING, 99};
    ctx.pending = &pend;
    ctx.n_pending = 1;
    ck_assert_int_ge(gp_rank_best(&ctx, (const json_t *const *)c, 2, busy_score), 0);
    ck_assert(busy_score[0] < free_score[0]);
    json_decref(pp);
    for (int i = 0; i < 2; i++)
        json_decref(c[i]);
    hist_release(&h);
    space_free(s);
}
END_TEST

START_TEST(too_little_history_keeps_the_llm_order)
{
    struct space *s = space_1d();
    json_t *p = at(0.5);
    struct obs o = {p, 1.0, OBS_COMPLETED, 0};
    struct sampler_ctx ctx = {.space = s,
                              .history = &o,
                              .n_history = 1,
                              .pending = NULL,
                              .n_pending = 0,
                              .seed = 7,
                              .next_number = 1,
                              .options = NULL};
    json_t *c[2] = {at(0.9), at(0.1)};
    double score[2] = {5, 5};
    ck_assert_int_eq(gp_rank_best(&ctx, (const json_t *const *)c, 2, score), 0);
    ck_assert(score[0] == 0 && score[1] == 0);
    ck_assert_int_eq(gp_rank_best(&ctx, (const json_t *const *)c, 0, NULL), -1);
    json_decref(c[0]);
    json_decref(c[1]);
    json_decref(p);
    space_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("gp_rank");
    TCase *tc = tcase_create("rank");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, picks_candidate_near_the_modelled_minimum);
    tcase_add_test(tc, pending_trial_makes_its_neighbour_less_attractive);
    tcase_add_test(tc, too_little_history_keeps_the_llm_order);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
