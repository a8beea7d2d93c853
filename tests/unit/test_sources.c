#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "test_db_util.h"
#include "log.h"
#include "store.h"
#include "sources.h"

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
    sqlite3_free(msg);
}

static long long add_study(const char *name)
{
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db),
                                        "INSERT INTO studies (name, spec, spec_in, direction, "
                                        "created_at) VALUES (?, '{}', '{}', 1, 0)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    return sqlite3_last_insert_rowid(db_handle(db));
}

/* n trials of the study from source, in the given state. */
static void add_trials(long long study, const char *source, const char *state, int n)
{
    static long long number;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db),
                                        "INSERT INTO trials (study_id, number, state, params, "
                                        "source, created_at) VALUES (?, ?, ?, '{}', ?, 0)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(q, 1, study);
        sqlite3_bind_int64(q, 2, number++);
        sqlite3_bind_text(q, 3, state, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, source, -1, SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
}

START_TEST(test_classify)
{
    static const struct {
        const char *source;     /* a trial's source */
        enum source_class want; /* its class */
    } cases[] = {
        {"llm", SOURCE_LLM},
        {"llm+gp", SOURCE_LLM_GP},
        {"fallback:gp", SOURCE_FALLBACK},
        {"fallback:sobol", SOURCE_FALLBACK},
        {"gp", SOURCE_CLASSICAL},
        {"tpe", SOURCE_CLASSICAL},
        {"sobol", SOURCE_CLASSICAL},
        {"random", SOURCE_CLASSICAL},
        {"manual", SOURCE_MANUAL},
        {"import", SOURCE_MANUAL},
        {"llmx", SOURCE_CLASSICAL},
        {"fallback", SOURCE_CLASSICAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(source_classify(cases[i].source) == cases[i].want, "%s", cases[i].source);
    ck_assert_str_eq(source_class_name(SOURCE_LLM), "llm");
    ck_assert_str_eq(source_class_name(SOURCE_LLM_GP), "llm+gp");
    ck_assert_str_eq(source_class_name(SOURCE_FALLBACK), "fallback");
    ck_assert_str_eq(source_class_name(SOURCE_CLASSICAL), "classical");
    ck_assert_str_eq(source_class_name(SOURCE_MANUAL), "manual");
}
END_TEST

START_TEST(test_count)
{
    db_up();
    long long a = add_study("a-llm");
    add_study("b-empty");
    long long c = add_study("c-random");
    add_trials(a, "llm", "completed", 5);
    add_trials(a, "llm", "running", 1);
    add_trials(a, "llm+gp", "pending", 2);
    add_trials(a, "fallback:gp", "failed", 3);
    add_trials(a, "gp", "completed", 4);
    add_trials(a, "manual", "completed", 1);
    add_trials(a, "import", "pruned", 1);
    add_trials(c, "random", "completed", 7);

    struct source_counts *sc;
    size_t n;
    struct serr e;
    ck_assert_int_eq(store_sources_count(db, NULL, &sc, &n, &e), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(sc[0].study, "a-llm");
    ck_assert_int_eq(sc[0].n[SOURCE_LLM], 6);
    ck_assert_int_eq(sc[0].n[SOURCE_LLM_GP], 2);
    ck_assert_int_eq(sc[0].n[SOURCE_FALLBACK], 3);
    ck_assert_int_eq(sc[0].n[SOURCE_CLASSICAL], 4);
    ck_assert_int_eq(sc[0].n[SOURCE_MANUAL], 2);
    ck_assert_str_eq(sc[1].study, "b-empty");
    for (int k = 0; k < SOURCE_CLASSES; k++)
        ck_assert_int_eq(sc[1].n[k], 0);
    ck_assert_str_eq(sc[2].study, "c-random");
    ck_assert_int_eq(sc[2].n[SOURCE_CLASSICAL], 7);
    ck_assert_int_eq(sc[2].n[SOURCE_LLM] + sc[2].n[SOURCE_FALLBACK] + sc[2].n[SOURCE_MANUAL], 0);
    free(sc);

    ck_assert_int_eq(store_sources_count(db, "c-random", &sc, &n, &e), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(sc[0].study, "c-random");
    ck_assert_int_eq(sc[0].n[SOURCE_CLASSICAL], 7);
    free(sc);

    ck_assert_int_eq(store_sources_count(db, "b-empty", &sc, &n, &e), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(sc[0].n[SOURCE_LLM], 0);
    free(sc);

    ck_assert_int_eq(store_sources_count(db, "nope", &sc, &n, &e), -1);
    ck_assert_uint_eq(e.status, 404);
    ck_assert_str_eq(e.msg, "no study named \"nope\"");
    ck_assert_ptr_null(sc);
    ck_assert_uint_eq(n, 0);

    /* a database that cannot answer: 5xx, nothing handed out */
    exec("ALTER TABLE trials RENAME TO trials_gone");
    ck_assert_int_eq(store_sources_count(db, NULL, &sc, &n, &e), -1);
    ck_assert_uint_ge(e.status, 500);
    ck_assert_ptr_nonnull(strstr(e.msg, "trial sources"));
    ck_assert_ptr_null(sc);
    db_down();
}
END_TEST

static Suite *sources_suite(void)
{
    Suite *s = suite_create("sources");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sources_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
