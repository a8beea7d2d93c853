#include <config.h>

#include <check.h>
#include <math.h>
#include <time.h>

#include "importances.h"
#include "test_db.h"
#include "wake.h"

/* What the worker woke (wake.h), as the HTTP layer would hear it. */
static _Atomic long long woken_key;
static void record_wake(long long key, int n)
{
    (void)n;
    woken_key = key;
}

/* The importance worker and its reports on a temporary database: what the
 * route of GET /studies/{name}/importance relies on. */

static const struct worker_limits limits = {3, 60};

/* A study "imp" of two floats x and y in [0, 1]. */
static void make_study(struct db *db, struct study *st)
{
    json_t *in = tdb_json("{\"name\": \"imp\", \"sampler\": {\"name\": \"random\", \"seed\": 4}, "
                          "\"objective\": {\"name\": \"val_error\", \"direction\": \"minimize\"}, "
                          "\"params\": [{\"name\": \"y\", \"type\": \"float\", \"low\": 0, "
                          "\"high\": 1}, {\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
                          "\"high\": 1}]}");
    char err[512];
    struct spec *sp = spec_parse(in, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    struct study_info info;
    bool created;
    struct serr e;
    ck_assert_msg(store_study_create(db, in, sp, &info, &created, &e) == 0, "%s", e.msg);
    store_study_info_release(&info);
    spec_free(sp);
    json_decref(in);
    ck_assert_msg(store_study_load(db, "imp", st, &e) == 0, "%s", e.msg);
}

/* n trials of st at (x, y) = the k-th point of a fixed sequence, ended in
 * state with value 5 x + 0.1 y. */
static void add_trials(struct db *db, const struct study *st, size_t n, enum trial_state state)
{
    static unsigned k;
    for (size_t i = 0; i < n; i++) {
        k++;
        double x = fmod(k * 0.6180339887, 1.0), y = fmod(k * 0.4142135623, 1.0);
        json_t *config = json_pack("{sf sf}", "x", x, "y", y);
        char *source = "test";
        struct trial_list out = {0};
        struct serr e;
        ck_assert_msg(
            store_trials_create(db, st, "w:0", 0, &config, &source, 1, NULL, NULL, &out, &e) == 0,
            "%s", e.msg);
        struct completion c = {.trial_id = out.v[0].id,
                               .worker = "w:0",
                               .state = state,
                               .value = state == TRIAL_FAILED ? NAN : 5 * x + 0.1 * y,
                               .limits = limits};
        struct trial_detail d;
        bool already;
        ck_assert_msg(store_complete(db, &c, &d, &already, &e) == 0, "%s", e.msg);
        store_trial_detail_release(&d);
        store_trial_list_release(&out);
        json_decref(config);
    }
}

/* importances_get until it has the report (the worker bumps the event
 * sequence when one is ready); fails the test after a minute. */
static void get_ready(struct db *db, const struct study *st, enum imp_method m,
                      struct imp_report *rep)
{
    for (int i = 0; i < 6000; i++) {
        long long n;
        struct serr e;
        int rc = importances_get(db, st, m, rep, &n, &e);
        ck_assert_msg(rc >= 0, "%s", e.msg);
        if (rc == 1)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("no report within a minute");
}

START_TEST(compute_from_completed_trials)
{
    struct db *db = tdb_up();
    struct study st;
    make_study(db, &st);
    add_trials(db, &st, 30, TRIAL_COMPLETED);
    add_trials(db, &st, 3, TRIAL_PRUNED);
    add_trials(db, &st, 2, TRIAL_FAILED);
    struct imp_report rep;
    struct serr e;
    ck_assert_msg(importances_compute(db, &st, IMP_FANOVA, &rep, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(rep.study, "imp");
    ck_assert_int_eq(rep.n_trials, 30); /* pruned and failed trials left out */
    ck_assert_int_eq(tdb_int(db, "SELECT count(*) FROM trials"), 35);
    ck_assert_str_eq(rep.objective, "val_error");
    ck_assert_ptr_null(rep.note);
    ck_assert_uint_eq(rep.n, 2);
    ck_assert_str_eq(rep.v[0].param, "x");
    ck_assert_str_eq(rep.v[1].param, "y");
    ck_assert_msg(rep.v[0].importance > 0.8, "%g", rep.v[0].importance);
    ck_assert(fabs(rep.v[0].importance + rep.v[1].importance - 1) < 1e-9);
    /* the same trials, the same answer */
    struct imp_report again;
    ck_assert_int_eq(importances_compute(db, &st, IMP_FANOVA, &again, &e), 0);
    ck_assert(again.v[0].importance == rep.v[0].importance);
    imp_report_release(&again);
    imp_report_release(&rep);
    ck_assert_int_eq(importances_compute(db, &st, IMP_GP, &rep, &e), 0);
    ck_assert_str_eq(rep.v[0].param, "x");
    imp_report_release(&rep);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(few_trials_need_no_worker)
{
    struct db *db = tdb_up();
    struct study st;
    make_study(db, &st);
    add_trials(db, &st, 1, TRIAL_COMPLETED);
    struct imp_report rep;
    long long n = -1;
    struct serr e;
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), 1);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(rep.n_trials, 1);
    ck_assert_uint_eq(rep.n, 2);
    ck_assert(rep.v[0].importance == 0 && rep.v[1].importance == 0);
    ck_assert_str_eq(rep.v[0].param, "y"); /* ties in the space's order */
    ck_assert_ptr_nonnull(rep.note);
    imp_report_release(&rep);
    /* another study: its own space and count */
    struct study other;
    tdb_study(db, "other", NULL, &other);
    ck_assert_int_eq(importances_get(db, &other, IMP_GP, &rep, &n, &e), 1);
    ck_assert_str_eq(rep.study, "other");
    ck_assert_int_eq(rep.method, IMP_GP);
    ck_assert_int_eq(rep.n_trials, 0);
    ck_assert_uint_eq(rep.n, 1);
    ck_assert_str_eq(rep.v[0].param, "x");
    imp_report_release(&rep);
    store_study_release(&other);
    /* two trials need a model: without the worker, 503 */
    add_trials(db, &st, 1, TRIAL_COMPLETED);
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), -1);
    ck_assert_uint_eq(e.status, 503);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(worker_keeps_reports_by_count)
{
    struct db *db = tdb_up();
    struct study st;
    make_study(db, &st);
    add_trials(db, &st, 20, TRIAL_COMPLETED);
    ck_assert_int_eq(importances_start(), 0);
    struct imp_report rep, ready, direct;
    long long n = -1;
    struct serr e;
    woken_key = 0;
    wake_register(record_wake);
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), 0);
    ck_assert_int_eq(n, 20);
    get_ready(db, &st, IMP_FANOVA, &ready);
    /* the requests waiting for this study's importances are woken, and only
     * they (not its suggests) */
    for (int i = 0; i < 500 && woken_key == 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(woken_key, wake_key_importance(st.id));
    ck_assert_int_ne(woken_key, wake_key_suggest(st.id));
    wake_register(NULL);
    ck_assert_int_eq(ready.n_trials, 20);
    ck_assert_int_eq(importances_compute(db, &st, IMP_FANOVA, &direct, &e), 0);
    for (size_t i = 0; i < ready.n; i++) {
        ck_assert_str_eq(ready.v[i].param, direct.v[i].param);
        ck_assert(ready.v[i].importance == direct.v[i].importance);
    }
    imp_report_release(&direct);
    /* asked again at the same count: at once, the same */
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), 1);
    ck_assert(rep.v[0].importance == ready.v[0].importance);
    imp_report_release(&rep);
    /* the other method is a report of its own */
    ck_assert_int_eq(importances_get(db, &st, IMP_GP, &rep, &n, &e), 0);
    get_ready(db, &st, IMP_GP, &rep);
    ck_assert_int_eq(rep.method, IMP_GP);
    imp_report_release(&rep);
    /* a pruned trial changes nothing; a completed one asks for a new report */
    add_trials(db, &st, 1, TRIAL_PRUNED);
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), 1);
    imp_report_release(&rep);
    add_trials(db, &st, 1, TRIAL_COMPLETED);
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), 0);
    ck_assert_int_eq(n, 21);
    get_ready(db, &st, IMP_FANOVA, &rep);
    ck_assert_int_eq(rep.n_trials, 21);
    imp_report_release(&rep);
    imp_report_release(&ready);
    importances_stop();
    /* stopped: nothing is computed any more */
    add_trials(db, &st, 1, TRIAL_COMPLETED);
    ck_assert_int_eq(importances_get(db, &st, IMP_FANOVA, &rep, &n, &e), -1);
    ck_assert_uint_eq(e.status, 503);
    store_study_release(&st);
    tdb_down(db);
}
END_TEST

START_TEST(method_names)
{
    enum imp_method m;
    ck_assert_int_eq(importances_method_parse("fanova", &m), 0);
    ck_assert_int_eq(m, IMP_FANOVA);
    ck_assert_int_eq(importances_method_parse("gp", &m), 0);
    ck_assert_int_eq(m, IMP_GP);
    ck_assert_int_eq(importances_method_parse("GP", &m), -1);
    ck_assert_int_eq(importances_method_parse("", &m), -1);
    ck_assert_str_eq(importances_method_name(IMP_GP), "gp");
    ck_assert_str_eq(importances_method_name(IMP_FANOVA), "fanova");
}
END_TEST

static Suite *importances_suite(void)
{
    Suite *s = suite_create("importances");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, method_names);
    tcase_add_test(tc, compute_from_completed_trials);
    tcase_add_test(tc, few_trials_need_no_worker);
    tcase_add_test(tc, worker_keeps_reports_by_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(importances_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
