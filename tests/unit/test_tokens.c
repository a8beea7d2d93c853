#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "test_db_util.h"
#include "tokens.h"

static const char hash_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char hash_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

START_TEST(roles_parse_and_name)
{
    ck_assert_int_eq(tokens_role_parse("admin"), ROLE_ADMIN);
    ck_assert_int_eq(tokens_role_parse("worker"), ROLE_WORKER);
    ck_assert_int_eq(tokens_role_parse("read"), ROLE_READ);
    ck_assert_int_eq(tokens_role_parse("root"), ROLE_NONE);
    ck_assert_str_eq(tokens_role_name(ROLE_WORKER), "worker");
    ck_assert_str_eq(tokens_role_name(ROLE_NONE), "none");
}
END_TEST

START_TEST(empty_table)
{
    struct db *db = test_db_up();
    struct token_list l;
    ck_assert_int_eq(tokens_active(db, &l), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert(!l.ever);
    tokens_list_release(&l);
    test_db_down();
}
END_TEST

START_TEST(add_list_revoke)
{
    struct db *db = test_db_up();
    char why[256];
    ck_assert_int_eq(tokens_add(db, "ci", ROLE_WORKER, hash_a, 1000, why, sizeof why), 0);
    ck_assert_int_eq(tokens_add(db, "ops", ROLE_ADMIN, hash_b, 2000, why, sizeof why), 0);

    struct token_list l;
    ck_assert_int_eq(tokens_active(db, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(l.ever);
    ck_assert_str_eq(l.rows[0].name, "ci");
    ck_assert_int_eq(l.rows[0].role, ROLE_WORKER);
    ck_assert_str_eq(l.rows[0].hash, hash_a);
    ck_assert_int_eq(l.rows[1].role, ROLE_ADMIN);
    tokens_list_release(&l);

    ck_assert_int_eq(tokens_revoke(db, "ci", 3000, why, sizeof why), 1);
    ck_assert_int_eq(tokens_revoke(db, "ci", 4000, why, sizeof why), 0); /* already revoked */
    ck_assert_int_eq(tokens_revoke(db, "nobody", 4000, why, sizeof why), 0);

    ck_assert_int_eq(tokens_active(db, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.rows[0].name, "ops");
    tokens_list_release(&l);

    ck_assert_int_eq(tokens_all(db, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.rows[0].name, "ci");
    ck_assert(l.rows[0].revoked);
    ck_assert(l.rows[0].created_at == 1000);
    ck_assert(!l.rows[1].revoked);
    tokens_list_release(&l);

    /* every token revoked: the table still says tokens were made */
    ck_assert_int_eq(tokens_revoke(db, "ops", 5000, why, sizeof why), 1);
    ck_assert_int_eq(tokens_active(db, &l), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert(l.ever);
    tokens_list_release(&l);
    test_db_down();
}
END_TEST

START_TEST(refusals)
{
    struct db *db = test_db_up();
    char why[256];
    ck_assert_int_eq(tokens_add(db, "ci", ROLE_READ, hash_a, 1000, why, sizeof why), 0);
    ck_assert_int_eq(tokens_add(db, "ci", ROLE_ADMIN, hash_b, 1000, why, sizeof why), -1);
    ck_assert_str_eq(why, "the name is taken");
    ck_assert_int_eq(tokens_add(db, "other", ROLE_READ, hash_a, 1000, why, sizeof why), -1);
    ck_assert_str_eq(why, "another token has the same secret");
    ck_assert_int_eq(tokens_add(db, "x", ROLE_NONE, hash_b, 1000, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "role"));
    struct token_list l;
    ck_assert_int_eq(tokens_all(db, &l), 0);
    ck_assert_uint_eq(l.n, 1); /* nothing written by the refusals */
    ck_assert_int_eq(l.rows[0].role, ROLE_READ);
    tokens_list_release(&l);
    test_db_down();
}
END_TEST

START_TEST(full_disk)
{
    struct db *db = test_db_up();
    /* a new connection capped at the file's current size: inserts cannot grow it */
    db_thread_close();
    db_set_max_pages(1);
    db = db_thread();
    ck_assert_ptr_nonnull(db);
    char why[256];
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        char name[32], hash[65];
        snprintf(name, sizeof name, "token-%d", i);
        snprintf(hash, sizeof hash, "%064d", i);
        rc = tokens_add(db, name, ROLE_READ, hash, 1000, why, sizeof why);
    }
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(why, "full") != NULL, "the reason names the full disk: %s", why);
    db_set_max_pages(0);
    test_db_down();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokens");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, roles_parse_and_name);
    tcase_add_test(tc, empty_table);
    tcase_add_test(tc, add_list_revoke);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, full_disk);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
