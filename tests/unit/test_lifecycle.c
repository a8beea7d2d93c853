#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lifecycle.h"
#include "spec.h"

static struct spec *parse(const char *text)
{
    char err[512] = "";
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "bad test JSON: %s", err);
    struct spec *s = spec_parse(v, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    json_decref(v);
    return s;
}

START_TEST(state_names_round_trip)
{
    const char *trials[] = {"pending", "running", "completed", "failed", "pruned"};
    for (int i = 0; i < TRIAL_STATES; i++) {
        enum trial_state s;
        ck_assert_int_eq(trial_state_parse(trials[i], &s), 0);
        ck_assert_int_eq(s, i);
        ck_assert_str_eq(trial_state_name(s), trials[i]);
    }
    const char *studies[] = {"running", "paused", "finished"};
    for (int i = 0; i < 3; i++) {
        enum study_state s;
        ck_assert_int_eq(study_state_parse(studies[i], &s), 0);
        ck_assert_int_eq(s, i);
        ck_assert_str_eq(study_state_name(s), studies[i]);
    }
    enum trial_state t = TRIAL_FAILED;
    ck_assert_int_eq(trial_state_parse("Running", &t), -1);
    ck_assert_int_eq(trial_state_parse("", &t), -1);
    ck_assert_int_eq(trial_state_parse(NULL, &t), -1);
    ck_assert_int_eq(t, TRIAL_FAILED); /* untouched */
    enum study_state st = STUDY_PAUSED;
    ck_assert_int_eq(study_state_parse("pending", &st), -1);
    ck_assert_int_eq(st, STUDY_PAUSED);
    ck_assert(!trial_state_final(TRIAL_PENDING) && !trial_state_final(TRIAL_RUNNING));
    ck_assert(trial_state_final(TRIAL_COMPLETED) && trial_state_final(TRIAL_FAILED) &&
              trial_state_final(TRIAL_PRUNED));
    ck_assert_str_eq(trial_action_name(ACTION_CONTINUE), "continue");
    ck_assert_str_eq(trial_action_name(ACTION_PRUNE), "prune");
    ck_assert_str_eq(trial_action_name(ACTION_STOP), "stop");
}
END_TEST

START_TEST(lease_checks)
{
    ck_assert_int_eq(lifecycle_lease_check(TRIAL_RUNNING, "a:0", "a:0"), LEASE_HELD);
    ck_assert_int_eq(lifecycle_lease_check(TRIAL_RUNNING, "a:0", "b:0"), LEASE_OTHER);
    ck_assert_int_eq(lifecycle_lease_check(TRIAL_PENDING, "", "a:0"), LEASE_NOT_RUNNING);
    ck_assert_int_eq(lifecycle_lease_check(TRIAL_COMPLETED, "a:0", "a:0"), LEASE_NOT_RUNNING);
    /* a completion sent again by the same worker is a resend, not a conflict */
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_COMPLETED, "a:0", "a:0", TRIAL_COMPLETED),
                     LEASE_RESENT);
    /* ... but not with another outcome, nor from another worker */
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_COMPLETED, "a:0", "a:0", TRIAL_FAILED),
                     LEASE_NOT_RUNNING);
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_FAILED, "a:0", "b:0", TRIAL_FAILED),
                     LEASE_NOT_RUNNING);
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_RUNNING, "a:0", "b:0", TRIAL_COMPLETED),
                     LEASE_OTHER);
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_RUNNING, "a:0", "a:0", TRIAL_PRUNED),
                     LEASE_HELD);
    ck_assert_int_eq(lifecycle_complete_check(TRIAL_RUNNING, NULL, "a:0", TRIAL_PRUNED),
                     LEASE_OTHER);
}
END_TEST

START_TEST(worker_cut_off)
{
    struct worker_limits lim = {3, 60};
    ck_assert(lifecycle_counts_against_worker(TRIAL_FAILED, false));
    ck_assert(!lifecycle_counts_against_worker(TRIAL_FAILED, true)); /* the code's fault */
    ck_assert(!lifecycle_counts_against_worker(TRIAL_COMPLETED, false));
    ck_assert(!lifecycle_counts_against_worker(TRIAL_PRUNED, false));
    ck_assert_int_eq(lifecycle_cut_off_until(0, &lim, 1000), 0);
    ck_assert_int_eq(lifecycle_cut_off_until(2, &lim, 1000), 0);
    ck_assert_int_eq(lifecycle_cut_off_until(3, &lim, 1000), 61000);
    ck_assert_int_eq(lifecycle_cut_off_until(4, &lim, 1000), 61000);

    struct spec *plain = parse("{\"name\": \"p\", \"params\": [{\"name\": \"x\", \"type\": "
                               "\"float\", \"low\": 0, \"high\": 1}]}");
    struct spec *code =
        parse("{\"name\": \"c\", \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
              "\"high\": 1}, {\"name\": \"m\", \"type\": \"code\", \"language\": \"python\", "
              "\"contract\": \"f\", \"baseline\": \"pass\"}]}");
    ck_assert(!lifecycle_has_code(plain));
    ck_assert(lifecycle_has_code(code));
    spec_free(plain);
    spec_free(code);
}
END_TEST

START_TEST(finishing_the_study)
{
    struct spec *sp = parse("{\"name\": \"f\", \"params\": [{\"name\": \"x\", \"type\": "
                            "\"float\", \"low\": 0, \"high\": 1}], \"budget\": {\"max_trials\": "
                            "5, \"max_failures\": 2}}");
    struct counts c = {0};
    c.completed = 3;
    c.running = 4; /* running trials do not count */
    c.pending = 9;
    ck_assert_ptr_null(lifecycle_finish_reason(&c, sp));
    c.pruned = 1;
    c.failed = 1;
    const char *why = lifecycle_finish_reason(&c, sp);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "max_trials") != NULL, "%s", why);
    memset(&c, 0, sizeof c);
    c.failed = 2;
    why = lifecycle_finish_reason(&c, sp);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "max_failures") != NULL, "%s", why);
    c.failed = 1;
    ck_assert_ptr_null(lifecycle_finish_reason(&c, sp));
    /* the lease: heartbeat_s 30 times stale_after 2 */
    ck_assert_int_eq(lease_ms(sp), 60000);
    spec_free(sp);
}
END_TEST

START_TEST(expiry_and_pruning)
{
    /* max_retries 2: attempts 1 and 2 are requeued, the third fails */
    ck_assert_int_eq(lifecycle_on_expiry(1, 2, false), EXPIRY_REQUEUE);
    ck_assert_int_eq(lifecycle_on_expiry(2, 2, false), EXPIRY_REQUEUE);
    ck_assert_int_eq(lifecycle_on_expiry(3, 2, false), EXPIRY_FAIL);
    ck_assert_int_eq(lifecycle_on_expiry(1, 0, false), EXPIRY_FAIL);
    /* a trial the pruner stopped ends pruned, whatever its attempts */
    ck_assert_int_eq(lifecycle_on_expiry(1, 2, true), EXPIRY_PRUNE);
    /* a prune decision sticks */
    ck_assert_int_eq(lifecycle_report_action(false, false), ACTION_CONTINUE);
    ck_assert_int_eq(lifecycle_report_action(false, true), ACTION_PRUNE);
    ck_assert_int_eq(lifecycle_report_action(true, false), ACTION_PRUNE);
    ck_assert_int_eq(lifecycle_heartbeat_action(false, false), ACTION_CONTINUE);
    ck_assert_int_eq(lifecycle_heartbeat_action(false, true), ACTION_PRUNE);
    ck_assert_int_eq(lifecycle_heartbeat_action(true, true), ACTION_STOP);
    ck_assert_int_eq(lifecycle_heartbeat_action(true, false), ACTION_STOP);
}
END_TEST

#define TWO_SPEC                                                                                   \
    "{\"name\": \"m\", \"objectives\": [{\"name\": \"err\"}, {\"name\": \"acc\", \"direction\": "  \
    "\"maximize\"}], \"constraints\": [{\"name\": \"mem\", \"max\": 5}, {\"name\": \"lat\", "      \
    "\"min\": 1, \"max\": 2}], \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "   \
    "\"high\": 1}]}"

START_TEST(objectives_and_constraints)
{
    struct spec *sp = parse(TWO_SPEC);
    ck_assert(spec_multi(sp));
    struct outcome oc;
    char err[256];
    json_t *v = json_pack("{sf sf sf sf}", "err", 0.25, "acc", 0.75, "mem", 4.0, "lat", 2.5);
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, NAN, v, &oc, err, sizeof err), 0);
    ck_assert_double_eq(oc.objs[0], 0.25);
    ck_assert_double_eq(oc.objs[1], 0.75);
    ck_assert_double_eq(oc.cons[0], -1.0); /* 1 below its max */
    ck_assert_double_eq(oc.cons[1], 0.5);  /* 0.5 above its max */
    ck_assert_int_eq(oc.feasible, 0);
    ck_assert_double_eq(oc.violation, 0.5);
    json_object_set_new(v, "lat", json_real(1.5));
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, NAN, v, &oc, err, sizeof err), 0);
    ck_assert_int_eq(oc.feasible, 1);
    ck_assert_double_eq(oc.violation, 0);
    ck_assert_double_eq(oc.cons[1], -0.5);

    /* "value" stands for the first objective when values does not name it */
    json_object_del(v, "err");
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, 0.5, v, &oc, err, sizeof err), 0);
    ck_assert_double_eq(oc.objs[0], 0.5);
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, NAN, v, &oc, err, sizeof err), -1);
    ck_assert_str_eq(err, "values.err: required: an objective of this study (a finite number)");
    /* a missing constraint metric, a null objective */
    json_object_set_new(v, "err", json_real(0.1));
    json_object_del(v, "mem");
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, NAN, v, &oc, err, sizeof err), -1);
    ck_assert_str_eq(err, "values.mem: required: a constraint of this study (a finite number)");
    json_object_set_new(v, "mem", json_real(1));
    json_object_set_new(v, "acc", json_null());
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_COMPLETED, NAN, v, &oc, err, sizeof err), -1);
    ck_assert(strstr(err, "values.acc: required") == err);
    /* a pruned trial needs nothing and is not judged */
    ck_assert_int_eq(lifecycle_outcome(sp, TRIAL_PRUNED, NAN, v, &oc, err, sizeof err), 0);
    ck_assert(isnan(oc.objs[1]));
    ck_assert_int_eq(oc.feasible, -1);
    ck_assert(isnan(oc.violation));
    json_decref(v);
    spec_free(sp);
}
END_TEST

START_TEST(dominance_and_reference)
{
    struct spec *sp = parse(TWO_SPEC);
    double a[] = {0.1, 0.9}, b[] = {0.2, 0.8}, c[] = {0.05, 0.5}, same[] = {0.1, 0.9};
    ck_assert(lifecycle_dominates(sp, a, b)); /* lower err, higher acc */
    ck_assert(!lifecycle_dominates(sp, b, a));
    ck_assert(!lifecycle_dominates(sp, a, c) && !lifecycle_dominates(sp, c, a));
    ck_assert(!lifecycle_dominates(sp, a, same));
    ck_assert_uint_eq(lifecycle_reference_after(sp), 10);
    double y[] = {0.1, 0.9, 0.5, 0.4, 0.3, 0.6};
    double ref[2];
    lifecycle_reference(sp, y, 3, ref);
    ck_assert_double_eq_tol(ref[0], 0.5 + 0.04, 1e-12); /* worst err + a tenth of 0.4 */
    ck_assert_double_eq_tol(ref[1], 0.4 - 0.05, 1e-12); /* worst acc - a tenth of 0.5 */
    double flat[] = {2.0, 0.0, 2.0, 0.0};
    lifecycle_reference(sp, flat, 2, ref);
    ck_assert_double_eq_tol(ref[0], 2.2, 1e-12);  /* no range: a tenth of the value */
    ck_assert_double_eq_tol(ref[1], -1.0, 1e-12); /* both 0: 1 */
    spec_free(sp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, state_names_round_trip);
    tcase_add_test(tc, lease_checks);
    tcase_add_test(tc, worker_cut_off);
    tcase_add_test(tc, finishing_the_study);
    tcase_add_test(tc, expiry_and_pruning);
    tcase_add_test(tc, objectives_and_constraints);
    tcase_add_test(tc, dominance_and_reference);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
