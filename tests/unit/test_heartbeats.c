#include <config.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "heartbeats.h"

START_TEST(extend_keeps_the_later)
{
    heartbeats_clear();
    ck_assert(heartbeats_deadline(7) == 0);
    heartbeats_extend(7, 1000);
    ck_assert(heartbeats_deadline(7) == 1000);
    heartbeats_extend(7, 900); /* a late, older heartbeat does not shorten it */
    ck_assert(heartbeats_deadline(7) == 1000);
    heartbeats_extend(7, 2000);
    ck_assert(heartbeats_deadline(7) == 2000);
    heartbeats_forget(7);
    ck_assert(heartbeats_deadline(7) == 0);
    heartbeats_extend(0, 5); /* no trial has id 0 */
    ck_assert(heartbeats_deadline(0) == 0);
    heartbeats_clear();
}
END_TEST

/* Random extends, forgets and prunes against a plain array, through growth
 * and deletions that shift probe runs (ids crowd a few hash homes). */
START_TEST(matches_a_reference)
{
    enum { IDS = 5000 };
    static int64_t ref[IDS + 1];
    for (int i = 0; i <= IDS; i++)
        ref[i] = 0;
    heartbeats_clear();
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int64_t now = 0;
    for (int step = 0; step < 400000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long long id = 1 + (long long)(x % IDS);
        unsigned op = (unsigned)(x >> 40) % 16;
        if (op < 9) {
            int64_t t = now + (int64_t)((x >> 20) % 1000);
            heartbeats_extend(id, t);
            if (t > ref[id])
                ref[id] = t;
        } else if (op < 14) {
            heartbeats_forget(id);
            ref[id] = 0;
        } else if (op == 14) {
            ck_assert_int_eq(heartbeats_deadline(id), ref[id]);
        } else if (step % 64 == 0) {
            now += 50;
            long dropped = heartbeats_prune(now);
            long want = 0;
            for (int i = 1; i <= IDS; i++)
                if (ref[i] != 0 && ref[i] < now) {
                    ref[i] = 0;
                    want++;
                }
            ck_assert_int_eq(dropped, want);
        }
    }
    for (int i = 1; i <= IDS; i++)
        ck_assert_msg(heartbeats_deadline(i) == ref[i], "id %d", i);
    heartbeats_clear();
}
END_TEST

static Suite *heartbeats_suite(void)
{
    Suite *s = suite_create("heartbeats");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, extend_keeps_the_later);
    tcase_add_test(tc, matches_a_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(heartbeats_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
