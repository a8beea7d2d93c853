#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "sampler.h"
#include "sampler_auto.h"
#include "settings.h"
#include "history.h"
#include "suggest.h"
#include "test_db.h"

static long long one(struct db *db, const struct study *st, const char *worker, int count,
                     struct suggest_result *res)
{
    struct serr e;
    ck_assert_msg(suggest_run(db, st, worker, count, res, &e) == 0, "%s", e.msg);
    return res->trials.n ? res->trials.v[0].id : -1;
}

static void done(struct db *db, long long id, const char *worker, enum trial_state state,
                 double value)
{
    struct completion c = {.trial_id = id, .worker = worker, .state = state, .value = value};
    struct trial_detail d;
    bool already;
    struct serr e;
    ck_assert_msg(lease_complete(db, &c, &d, &already, &e) == 0, "%s", e.msg);
    store_trial_detail_release(&d);
}

START_TEST(lease_redeliver_parallel)
{
    config_defaults();
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "s", "\"budget\": {\"max_trials\": 4, \"max_parallel\": 2}", &st);
    struct suggest_result res;
    long long a = one(db, &st, "w:0", 1, &res);
    ck_assert_uint_eq(res.trials.n, 1);
    ck_assert_int_eq(res.trials.v[0].number, 0);
    ck_assert_int_eq(res.trials.v[0].state, TRIAL_RUNNING);
    ck_assert_str_eq(res.trials.v[0].source, "random");
    ck_assert_str_eq(res.trials.v[0].worker, "w:0");
    ck_assert_int_eq(res.study_state, STUDY_RUNNING);
    double x = json_real_value(json_object_get(res.trials.v[0].params, "x"));
    ck_assert(x >= 0 && x <= 1);
    suggest_result_release(&res);

    /* the same worker asking again gets its running trial back, not a new one */
    ck_assert_int_eq(one(db, &st, "w:0", 1, &res), a);
    ck_assert_int_eq(res.trials.v[0].attempts, 1);
    suggest_result_release(&res);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 1);

    /* max_parallel 2: a second worker gets one of the three it asks for */
    ck_assert_int_ge(one(db, &st, "w:1", 3, &res), 0);
    ck_assert_uint_eq(res.trials.n, 1);
    ck_assert_int_eq(res.trials.v[0].number, 1);
    long long b = res.trials.v[0].id;
    suggest_result_release(&res);
    ck_assert_int_eq(one(db, &st, "w:2", 1, &res), -1);
    ck_assert(res.worth_waiting);
    suggest_result_release(&res);

    /* an enqueued trial goes first, before the sampler makes another */
    done(db, a, "w:0", TRIAL_COMPLETED, 0.5);
    struct trial_detail d;
    struct serr e;
    json_t *p = json_pack("{sf}", "x", 0.75);
    ck_assert_int_eq(store_enqueue(db, "s", p, "manual", &d, &e), 0);
    json_decref(p);
    long long queued = d.trial.id;
    store_trial_detail_release(&d);
    ck_assert_int_eq(one(db, &st, "w:2", 1, &res), queued);
    ck_assert_str_eq(res.trials.v[0].source, "manual");
    suggest_result_release(&res);

    /* the budget: 4 trials made, 3 finished; the last one finishes the study */
    done(db, b, "w:1", TRIAL_FAILED, NAN);
    long long c = one(db, &st, "w:1", 1, &res);
    ck_assert_int_eq(res.trials.v[0].number, 3);
    suggest_result_release(&res);
    ck_assert_int_eq(one(db, &st, "w:3", 1, &res), -1); /* max_trials made */
    ck_assert(res.worth_waiting);
    suggest_result_release(&res);
    done(db, queued, "w:2", TRIAL_COMPLETED, 0.25);
    done(db, c, "w:1", TRIAL_COMPLETED, 0.125);
    ck_assert_int_eq(one(db, &st, "w:3", 1, &res), -1);
    ck_assert_int_eq(res.study_state, STUDY_FINISHED);
    ck_assert(!res.worth_waiting);
    suggest_result_release(&res);
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 4);
    store_study_release(&st);
    tdb_down(db);
    config_release();
}
END_TEST

START_TEST(paused_and_cut_off)
{
    config_defaults();
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "c", NULL, &st);
    struct suggest_result res;
    struct serr e;
    for (int i = 0; i < cfg.worker_fail_limit; i++) {
        long long id = one(db, &st, "bad:0", 1, &res);
        suggest_result_release(&res);
        done(db, id, "bad:0", TRIAL_FAILED, NAN);
    }
    ck_assert_int_eq(suggest_run(db, &st, "bad:0", 1, &res, &e), -1);
    suggest_result_release(&res);
    ck_assert_int_eq(e.status, 429);
    ck_assert_str_eq(e.code, "worker_cut_off");
    ck_assert_msg(strstr(e.msg, "\"bad:0\"") != NULL, "%s", e.msg);
    ck_assert_int_gt(e.retry_after_s, 0);
    ck_assert_int_le(e.retry_after_s, cfg.worker_cooldown_s);
    ck_assert_int_ge(one(db, &st, "good:0", 1, &res), 0);
    suggest_result_release(&res);

    struct study_info info;
    ck_assert_int_eq(store_study_set_state(db, "c", STUDY_PAUSED, &info, &e), 0);
    store_study_info_release(&info);
    struct study paused;
    ck_assert_int_eq(store_study_load(db, "c", &paused, &e), 0);
    ck_assert_int_eq(one(db, &paused, "good:1", 1, &res), -1);
    ck_assert_int_eq(res.study_state, STUDY_PAUSED);
    ck_assert(res.worth_waiting);
    suggest_result_release(&res);
    store_study_release(&paused);
    store_study_release(&st);
    tdb_down(db);
    config_release();
}
END_TEST

START_TEST(history)
{
    config_defaults();
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "h", "\"objective\": {\"name\": \"acc\", \"direction\": \"maximize\"}", &st);
    struct suggest_result res;
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = one(db, &st, "w:0", 1, &res);
        suggest_result_release(&res);
        if (i < 2)
            done(db, ids[i], "w:0", i == 0 ? TRIAL_COMPLETED : TRIAL_FAILED, 0.75);
    }
    struct sampler_ctx ctx;
    ck_assert_int_eq(history_load(db, &st, &ctx), 0);
    ck_assert_uint_eq(ctx.n_history, 2);
    ck_assert_uint_eq(ctx.n_pending, 1);
    ck_assert_int_eq(ctx.history[0].state, OBS_COMPLETED);
    ck_assert(ctx.history[0].value == -0.75); /* maximized: lower is better for samplers */
    ck_assert_int_eq(ctx.history[1].state, OBS_FAILED);
    ck_assert(isnan(ctx.history[1].value));
    ck_assert_int_eq(ctx.pending[0].number, 2);
    ck_assert_ptr_eq(ctx.space, st.spec->space);
    history_free(&ctx);
    store_study_release(&st);
    tdb_down(db);
    config_release();
}
END_TEST

START_TEST(history_several_objectives)
{
    config_defaults();
    struct db *db = tdb_up();
    struct study st;
    tdb_study(db, "hm",
              "\"objectives\": [{\"name\": \"err\"}, {\"name\": \"acc\", \"direction\": "
              "\"maximize\"}], \"constraints\": [{\"name\": \"mem\", \"min\": 1, \"max\": 5}]",
              &st);
    struct suggest_result res;
    long long ids[3];
    const char *workers[] = {"w:0", "w:2", "w:3"};
    for (int i = 0; i < 3; i++) {
        ids[i] = one(db, &st, workers[i], 1, &res);
        suggest_result_release(&res);
    }
    json_t *v = json_pack("{sf sf sf}", "err", 0.25, "acc", 0.75, "mem", 7.0);
    struct completion c = {
        .trial_id = ids[0], .worker = "w:0", .state = TRIAL_COMPLETED, .value = NAN, .values = v};
    bool already;
    struct serr e;
    ck_assert_msg(lease_complete(db, &c, NULL, &already, &e) == 0, "%s", e.msg);
    json_decref(v);
    done(db, ids[1], "w:2", TRIAL_FAILED, NAN);
    struct sampler_ctx ctx;
    ck_assert_int_eq(history_load(db, &st, &ctx), 0);
    ck_assert_uint_eq(ctx.n_history, 2);
    ck_assert_uint_eq(ctx.n_objectives, 2);
    ck_assert_uint_eq(ctx.n_constraints, 1);
    ck_assert(ctx.history[0].value == 0.25);
    ck_assert(ctx.values[0] == 0.25);
    ck_assert(ctx.values[1] == -0.75);    /* maximised: lower is better for samplers */
    ck_assert(ctx.constraints[0] == 2.0); /* 2 above its max: violated */
    ck_assert(isnan(ctx.values[2]) && isnan(ctx.values[3]) && isnan(ctx.constraints[1]));
    history_free(&ctx);
    /* auto hands a study of several objectives to mogp after its Sobol start */
    for (int i = 0; i < 6; i++) {
        long long id = one(db, &st, "w:1", 1, &res);
        ck_assert_int_ge(id, 0);
        v = json_pack("{sf sf sf}", "err", 0.1 * i, "acc", 0.1 * i, "mem", 2.0);
        c = (struct completion){
            .trial_id = id, .worker = "w:1", .state = TRIAL_COMPLETED, .value = NAN, .values = v};
        ck_assert_msg(lease_complete(db, &c, NULL, &already, &e) == 0, "%s", e.msg);
        json_decref(v);
        suggest_result_release(&res);
    }
    ck_assert_int_eq(history_load(db, &st, &ctx), 0);
    ck_assert_str_eq(sampler_auto_phase(&ctx), "mogp");
    history_free(&ctx);
    store_study_release(&st);
    tdb_down(db);
    config_release();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("suggest");
    TCase *tc = tcase_create("small study");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lease_redeliver_parallel);
    tcase_add_test(tc, paused_and_cut_off);
    tcase_add_test(tc, history);
    tcase_add_test(tc, history_several_objectives);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
