#include <config.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "locks.h"

/* The checks are what is tested: this file is always built with them. */
#ifndef HPOD_LOCK_CHECK
#error "test_locks needs HPOD_LOCK_CHECK"
#endif

static struct lock db_write = LOCK_INITIALIZER(LOCK_DB_WRITE);
static struct lock table = LOCK_INITIALIZER(LOCK_LLM_TABLE);
static struct lock beats = LOCK_INITIALIZER(LOCK_HEARTBEATS);
static struct lock wait_a = LOCK_INITIALIZER(LOCK_HTTP_WAIT);
static struct lock wait_b = LOCK_INITIALIZER(LOCK_HTTP_WAIT);

static int reports;
static char last[256];

static void record(const char *message)
{
    reports++;
    snprintf(last, sizeof last, "%s", message);
}

static void setup(void)
{
    reports = 0;
    last[0] = '\0';
    lock_set_inversion_handler(record);
}

static void teardown(void)
{
    lock_set_inversion_handler(NULL);
}

START_TEST(the_order_passes)
{
    lock_take(&db_write);
    lock_take(&table);
    lock_take(&beats);
    lock_drop(&beats);
    lock_drop(&table);
    lock_drop(&db_write);
    /* each alone, in any order of time */
    lock_take(&beats);
    lock_drop(&beats);
    lock_take(&db_write);
    lock_drop(&db_write);
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(an_inversion_is_caught)
{
    lock_take(&beats);
    lock_take(&db_write); /* the write lock is above the heartbeats */
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(last, "LOCK_DB_WRITE taken while LOCK_HEARTBEATS is held"));
    lock_drop(&db_write);
    lock_drop(&beats);
}
END_TEST

START_TEST(two_of_one_rank_are_caught)
{
    lock_take(&wait_a);
    lock_take(&wait_b);
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(last, "LOCK_HTTP_WAIT taken while LOCK_HTTP_WAIT is held"));
    lock_drop(&wait_b);
    lock_drop(&wait_a);
}
END_TEST

START_TEST(release_in_any_order)
{
    lock_take(&db_write);
    lock_take(&beats);
    lock_drop(&db_write); /* the outer one first */
    lock_take(&table);    /* the heartbeats are still held, and below the table */
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(last, "LOCK_LLM_TABLE taken while LOCK_HEARTBEATS is held"));
    lock_drop(&table);
    lock_drop(&beats);
    lock_take(&db_write); /* nothing held any more */
    lock_drop(&db_write);
    ck_assert_int_eq(reports, 1);
}
END_TEST

START_TEST(timed_take_and_wait_count_as_held)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    ck_assert_int_eq(lock_take_until(&beats, &until), 0);
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 1000000;
    if (soon.tv_nsec >= 1000000000L) {
        soon.tv_sec++;
        soon.tv_nsec -= 1000000000L;
    }
    ck_assert_int_eq(lock_wait_until(&c, &beats, &soon), ETIMEDOUT);
    lock_take(&table); /* still holding the heartbeats after the wait */
    ck_assert_int_eq(reports, 1);
    lock_drop(&table);
    lock_drop(&beats);
    pthread_cond_destroy(&c);
}
END_TEST

static void *take_db_write(void *arg)
{
    (void)arg;
    lock_take(&db_write);
    lock_drop(&db_write);
    return NULL;
}

START_TEST(threads_are_apart)
{
    /* one thread holding the heartbeats does not restrict another */
    lock_take(&beats);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_db_write, NULL), 0);
    pthread_join(t, NULL);
    lock_drop(&beats);
    ck_assert_int_eq(reports, 0);
}
END_TEST

START_TEST(the_default_aborts)
{
    lock_set_inversion_handler(NULL);
    lock_take(&beats);
    lock_take(&db_write); /* never returns */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("locks");
    TCase *tc = tcase_create("order");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, the_order_passes);
    tcase_add_test(tc, an_inversion_is_caught);
    tcase_add_test(tc, two_of_one_rank_are_caught);
    tcase_add_test(tc, release_in_any_order);
    tcase_add_test(tc, timed_take_and_wait_count_as_held);
    tcase_add_test(tc, threads_are_apart);
    tcase_add_test_raise_signal(tc, the_default_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
