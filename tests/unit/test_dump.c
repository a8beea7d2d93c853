#include <config.h>

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dump.h"
#include "settings.h"
#include "spec.h"
#include "stats.h"
#include "store.h"
#include "test_db_util.h"

/* A dump of study name with two finished trials, the second with two
 * reports; spec from a minimal spec. Release with dump_release. */
static void make_dump(struct dump *d, const char *name, long long second_number)
{
    char text[512];
    snprintf(
        text, sizeof text,
        "{\"name\": \"%s\", \"params\": [{\"name\": \"x\", \"type\": \"float\", \"low\": 0, "
        "\"high\": 1}], \"sampler\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 10}}",
        name);
    json_t *in = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(in);
    char err[256];
    struct spec *sp = spec_parse(in, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    d->spec_json = json_dumps(sp->json, JSON_COMPACT);
    d->spec_in_json = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
    d->direction = 1;
    spec_free(sp);
    json_decref(in);
    d->n_trials = 2;
    d->trials = calloc(2, sizeof *d->trials);
    struct dump_trial *a = &d->trials[0], *b = &d->trials[1];
    a->number = 0;
    a->state = strdup("completed");
    a->params_json = strdup("{\"x\":0.25}");
    a->has_value = true;
    a->value = 0.5;
    a->source = strdup("random");
    a->worker = strdup("w:0");
    a->attempts = 1;
    a->created_at = 1000;
    a->started_at = 1100;
    a->finished_at = 1200;
    b->number = second_number;
    b->state = strdup("failed");
    b->params_json = strdup("{\"x\":0.75}");
    b->source = strdup("llm");
    b->error = strdup("exit status 1");
    b->attempts = 2;
    b->created_at = 2000;
    b->has_last_step = true;
    b->last_step = 2;
    b->has_last_value = true;
    b->last_value = 0.125;
    b->n_reports = 2;
    b->reports = calloc(2, sizeof *b->reports);
    b->reports[0] = (struct dump_report){1, true, 0.25, strdup("{\"acc\":0.5}"), 2100};
    b->reports[1] = (struct dump_report){2, true, 0.125, NULL, 2200};
}

START_TEST(restore_then_read)
{
    struct db *db = test_db_up();
    struct dump in;
    make_dump(&in, "moved", 1);
    struct serr e;
    long long id = 0;
    ck_assert_msg(dump_restore(db, &in, &id, &e) == 0, "restore: %s", e.msg);
    ck_assert(id > 0);

    struct dump out;
    ck_assert_int_eq(dump_read(db, "moved", &out, &e), 0);
    ck_assert_str_eq(out.name, "moved");
    ck_assert_str_eq(out.state, "running");
    ck_assert_uint_eq(out.n_trials, 2);
    const struct dump_trial *a = &out.trials[0], *b = &out.trials[1];
    ck_assert_int_eq(a->number, 0);
    ck_assert_str_eq(a->state, "completed");
    ck_assert_str_eq(a->params_json, "{\"x\":0.25}");
    ck_assert(a->has_value && a->value == 0.5);
    ck_assert_str_eq(a->worker, "w:0");
    ck_assert(a->created_at == 1000 && a->started_at == 1100 && a->finished_at == 1200);
    ck_assert(!a->has_last_step && a->n_reports == 0 && a->error == NULL);
    ck_assert_str_eq(b->state, "failed");
    ck_assert(!b->has_value);
    ck_assert_str_eq(b->source, "llm");
    ck_assert_str_eq(b->error, "exit status 1");
    ck_assert(b->attempts == 2 && b->started_at == 0 && b->finished_at == 0);
    ck_assert(b->has_last_step && b->last_step == 2 && b->last_value == 0.125);
    ck_assert_uint_eq(b->n_reports, 2);
    ck_assert(b->reports[0].step == 1 && b->reports[0].value == 0.25 && b->reports[0].at == 2100);
    ck_assert_str_eq(b->reports[0].values_json, "{\"acc\":0.5}");
    ck_assert_ptr_null(b->reports[1].values_json);
    dump_release(&out);

    /* the next trial of the study takes the number after the highest */
    struct counts c;
    ck_assert_int_eq(store_counts(db, id, &c), 0);
    ck_assert_int_eq(c.next_number, 2);
    ck_assert_int_eq(c.completed, 1);
    ck_assert_int_eq(c.failed, 1);

    /* the name is now taken */
    ck_assert_int_eq(dump_restore(db, &in, &id, &e), -1);
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "name_taken");
    dump_release(&in);
    test_db_down();
}
END_TEST

START_TEST(a_number_twice_writes_nothing)
{
    struct db *db = test_db_up();
    struct dump in;
    make_dump(&in, "twice", 0);
    struct serr e;
    long long id = 0;
    ck_assert_int_eq(dump_restore(db, &in, &id, &e), -1);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.msg, "trials[1].number: 0 appears twice");
    struct dump out;
    ck_assert_int_eq(dump_read(db, "twice", &out, &e), -1);
    ck_assert_int_eq(e.status, 404); /* the study was rolled back with its trials */
    dump_release(&in);
    test_db_down();
}
END_TEST

START_TEST(read_unknown_study)
{
    struct db *db = test_db_up();
    struct dump out;
    struct serr e;
    ck_assert_int_eq(dump_read(db, "absent", &out, &e), -1);
    ck_assert_int_eq(e.status, 404);
    test_db_down();
}
END_TEST

START_TEST(stats_count_by_study_and_state)
{
    struct db *db = test_db_up();
    ck_assert_int_eq(stats_ping(db), 0);
    struct stats st;
    ck_assert_int_eq(stats_read(db, &st), 0);
    ck_assert_uint_eq(st.n_trials, 0);
    ck_assert_uint_eq(st.n_tokens, 0);
    stats_release(&st);
    struct dump in;
    make_dump(&in, "counted", 1);
    struct serr e;
    long long id;
    ck_assert_msg(dump_restore(db, &in, &id, &e) == 0, "restore: %s", e.msg);
    dump_release(&in);
    ck_assert_int_eq(stats_read(db, &st), 0);
    ck_assert_uint_eq(st.n_trials, 2);
    int seen = 0;
    for (size_t i = 0; i < st.n_trials; i++) {
        ck_assert_str_eq(st.trials[i].study, "counted");
        ck_assert_int_eq(st.trials[i].n, 1);
        seen |= strcmp(st.trials[i].state, "completed") == 0 ? 1 : 0;
        seen |= strcmp(st.trials[i].state, "failed") == 0 ? 2 : 0;
    }
    ck_assert_int_eq(seen, 3);
    ck_assert_uint_eq(st.n_tokens, 1);
    ck_assert_str_eq(st.tokens[0].study, "counted");
    ck_assert(st.tokens[0].in == 0 && st.tokens[0].out == 0);
    stats_release(&st);
    test_db_down();
}
END_TEST

int main(void)
{
    config_defaults();
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, restore_then_read);
    tcase_add_test(tc, a_number_twice_writes_nothing);
    tcase_add_test(tc, read_unknown_study);
    tcase_add_test(tc, stats_count_by_study_and_state);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
