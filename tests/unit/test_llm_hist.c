#include <config.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "test_db_util.h"
#include "llm_hist.h"
#include "log.h"

/* store/llm_hist on a temporary database: what the LLM threads read. */

static struct db *db;

static void db_up(void)
{
    db = test_db_up();
}

static void db_down(void)
{
    test_db_down();
    db = NULL;
}

static void exec(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db_handle(db), sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

/* Two running studies and a paused one; trials in every state. */
static void fill(void)
{
    exec("INSERT INTO studies (id, name, spec, spec_in, state, direction, next_number, "
         "tokens_in, tokens_out, created_at) VALUES "
         "(3, 'a', '{}', '{}', 'running', 1, 7, 1200, 80, 0), "
         "(5, 'b', '{}', '{}', 'paused', 1, 0, 0, 0, 0), "
         "(9, 'c', '{}', '{}', 'running', 1, 0, 0, 0, 0)");
    exec("INSERT INTO trials (study_id, number, state, params, source, created_at, error, "
         "last_step) VALUES "
         "(3, 0, 'completed', '{}', 'llm', 0, NULL, 4), "
         "(3, 1, 'failed', '{}', 'llm', 0, 'exit status 1: out of memory', NULL), "
         "(3, 2, 'pruned', '{}', 'llm', 0, NULL, 3), "
         "(3, 3, 'running', '{}', 'llm', 0, NULL, NULL), "
         "(3, 4, 'pending', '{}', 'manual', 0, NULL, NULL), "
         "(3, 5, 'failed', '{}', 'llm', 0, NULL, 2), "
         "(9, 0, 'failed', '{}', 'gp', 0, 'other study', NULL)");
}

START_TEST(running_ids)
{
    fill();
    long long *ids;
    size_t n;
    ck_assert_int_eq(store_running_study_ids(db, &ids, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 3);
    ck_assert_int_eq(ids[1], 9);
    free(ids);
    exec("UPDATE studies SET state = 'finished'");
    ck_assert_int_eq(store_running_study_ids(db, &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(ids);
}
END_TEST

START_TEST(numbers)
{
    fill();
    struct llm_numbers nb;
    ck_assert_int_eq(store_llm_numbers(db, 3, &nb), 0);
    ck_assert_int_eq(nb.next_number, 7);
    ck_assert_int_eq(nb.tokens_used, 1280);
    ck_assert_int_eq(nb.outstanding, 2); /* one running, one pending */
    ck_assert_int_eq(store_llm_numbers(db, 9, &nb), 0);
    ck_assert_int_eq(nb.outstanding, 0);
    /* an unknown study is an error, with zeros */
    ck_assert_int_eq(store_llm_numbers(db, 42, &nb), -1);
    ck_assert_int_eq(nb.next_number, 0);
}
END_TEST

START_TEST(trial_notes)
{
    fill();
    struct llm_trial_notes notes;
    ck_assert_int_eq(store_llm_trial_notes(db, 3, &notes), 0);
    ck_assert_uint_eq(notes.n, 3);
    ck_assert_int_eq(notes.v[0].number, 1);
    ck_assert_str_eq(notes.v[0].error, "exit status 1: out of memory");
    ck_assert_int_eq(notes.v[0].last_step, -1);
    ck_assert_int_eq(notes.v[1].number, 2);
    ck_assert_str_eq(notes.v[1].error, "");
    ck_assert_int_eq(notes.v[1].last_step, 3);
    ck_assert_int_eq(notes.v[2].number, 5);
    ck_assert_int_eq(notes.v[2].last_step, 2);
    /* released, then filled again for another study */
    store_llm_notes_release(&notes);
    ck_assert_int_eq(store_llm_trial_notes(db, 9, &notes), 0);
    ck_assert_uint_eq(notes.n, 1);
    ck_assert_str_eq(notes.v[0].error, "other study");
    store_llm_notes_release(&notes);
    ck_assert_uint_eq(notes.n, 0);
    ck_assert_ptr_null(notes.v);
    store_llm_notes_release(&notes); /* twice is harmless */
}
END_TEST

/* The metrics of finished trials by number, for multi-objective prompts. */
START_TEST(trial_values)
{
    fill();
    exec("UPDATE trials SET values_json = '{\"acc\": 0.9, \"ms\": 12}' WHERE study_id = 3 AND "
         "number = 0");
    exec("UPDATE trials SET values_json = '{\"acc\": 0.5}' WHERE study_id = 3 AND number = 2");
    exec("UPDATE trials SET values_json = 'not json' WHERE study_id = 3 AND number = 5");
    exec("UPDATE trials SET values_json = '{\"acc\": 1}' WHERE study_id = 3 AND number = 3");
    json_t *v = NULL;
    ck_assert_int_eq(store_llm_trial_values(db, 3, &v), 0);
    /* the completed and the pruned trial; not the running one, nor bad JSON */
    ck_assert_uint_eq(json_object_size(v), 2);
    ck_assert(json_real_value(json_object_get(json_object_get(v, "0"), "acc")) == 0.9);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(v, "0"), "ms")), 12);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(v, "2"), "acc"));
    ck_assert_ptr_null(json_object_get(v, "3"));
    json_decref(v);
    ck_assert_int_eq(store_llm_trial_values(db, 9, &v), 0);
    ck_assert_uint_eq(json_object_size(v), 0);
    json_decref(v);
    exec("DROP TABLE trials");
    json_t *sentinel = json_object();
    v = sentinel;
    ck_assert_int_eq(store_llm_trial_values(db, 3, &v), -1);
    ck_assert_ptr_null(v);
    json_decref(sentinel);
}
END_TEST

START_TEST(database_errors)
{
    fill();
    /* a table the statements need is gone: -1, nothing left to free */
    exec("DROP TABLE trials");
    struct llm_trial_notes notes;
    ck_assert_int_eq(store_llm_trial_notes(db, 3, &notes), -1);
    store_llm_notes_release(&notes);
    struct llm_numbers nb;
    ck_assert_int_eq(store_llm_numbers(db, 3, &nb), -1);
    exec("DROP TABLE studies");
    long long *ids = (long long *)&nb;
    size_t n = 9;
    ck_assert_int_eq(store_running_study_ids(db, &ids, &n), -1);
    ck_assert_ptr_null(ids);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static Suite *llm_hist_suite(void)
{
    Suite *su = suite_create("llm_hist");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, db_up, db_down);
    tcase_add_test(tc, running_ids);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, trial_notes);
    tcase_add_test(tc, trial_values);
    tcase_add_test(tc, database_errors);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(llm_hist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
