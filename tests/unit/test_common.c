#include <config.h>

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jsonutil.h"
#include "rng.h"
#include "timeutil.h"

/* ---- buf ---- */

START_TEST(buf_append_grows)
{
    struct buf b;
    buf_init(&b);
    ck_assert_int_eq(buf_puts(&b, ""), 0);
    ck_assert_str_eq(b.data, "");
    char expect[5001];
    for (int i = 0; i < 5000; i++) {
        char c = (char)('a' + i % 26);
        ck_assert_int_eq(buf_append(&b, &c, 1), 0);
        expect[i] = c;
    }
    expect[5000] = '\0';
    ck_assert_uint_eq(b.len, 5000);
    ck_assert(b.cap > 5000);
    ck_assert_str_eq(b.data, expect);
    size_t cap = b.cap;
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_int_eq(buf_append(&b, "xy\0z", 4), 0); /* bytes, not a string */
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(memcmp(b.data, "xy\0z", 5), 0);
    buf_release(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(buf_printf_long)
{
    struct buf b;
    buf_init(&b);
    ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "42-x");
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(buf_printf(&b, "[%s]%05.1f", big, 3.14159), 0);
    ck_assert_uint_eq(b.len, 4 + 1 + 999 + 1 + 5);
    ck_assert_uint_eq(strlen(b.data), b.len);
    ck_assert_str_eq(b.data + b.len - 6, "]003.1");
    ck_assert_int_eq(strncmp(b.data, "42-x[qqq", 8), 0);
    char *s = buf_steal(&b);
    ck_assert_uint_eq(strlen(s), 1010);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    free(s);
    s = buf_steal(&b); /* never NULL, even when empty */
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    free(s);
    buf_release(&b);
}
END_TEST

/* ---- rng ---- */

START_TEST(rng_reproducible)
{
    struct rng a, b, c;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    rng_seed(&c, 12346);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_u64(&a);
        ck_assert(x == rng_u64(&b));
        if (x != rng_u64(&c))
            differ++;
    }
    ck_assert_int_gt(differ, 990);
    rng_seed(&a, 0); /* seed 0 must not give the all-zero state */
    ck_assert(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
    uint64_t first = rng_u64(&a), same = 1;
    for (int i = 0; i < 10; i++)
        same &= rng_u64(&a) == first;
    ck_assert(!same);
    ck_assert(rng_mix(1, 2) == rng_mix(1, 2));
    ck_assert(rng_mix(1, 2) != rng_mix(2, 1));
    ck_assert(rng_mix(1, 2) != rng_mix(1, 3));
}
END_TEST

START_TEST(rng_uniformity)
{
    struct rng r;
    rng_seed(&r, 99);
    int bins[10] = {0};
    double sum = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        bins[(int)(u * 10)]++;
        sum += u;
    }
    double chi2 = 0;
    for (int i = 0; i < 10; i++)
        chi2 += (bins[i] - n / 10.0) * (bins[i] - n / 10.0) / (n / 10.0);
    /* 9 degrees of freedom: P(chi2 > 27.9) = 0.001 */
    ck_assert_msg(chi2 < 27.9, "chi2 %g", chi2);
    ck_assert_double_eq_tol(sum / n, 0.5, 0.005);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t k = rng_below(&r, 7);
        ck_assert(k < 7);
        counts[k]++;
    }
    for (int i = 0; i < 7; i++)
        ck_assert_msg(counts[i] > 9500 && counts[i] < 10500, "%d drawn %d times", i, counts[i]);
    ck_assert(rng_below(&r, 1) == 0);
}
END_TEST

START_TEST(rng_normal_moments)
{
    struct rng r;
    rng_seed(&r, 5);
    double s1 = 0, s2 = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        ck_assert(isfinite(z));
        s1 += z;
        s2 += z * z;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    ck_assert_double_eq_tol(mean, 0, 0.02);
    ck_assert_double_eq_tol(var, 1, 0.03);
}
END_TEST

/* ---- jsonutil ---- */

static json_t *J(const char *text)
{
    char err[256];
    json_t *v = json_parse_text(text, strlen(text), err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

START_TEST(json_same_numbers)
{
    json_t *a = J("{\"x\": [1, 2.5, {\"y\": 3}], \"s\": \"t\", \"b\": true, \"n\": null}");
    json_t *b = J("{\"n\": null, \"b\": true, \"s\": \"t\", \"x\": [1.0, 2.5, {\"y\": 3.0}]}");
    ck_assert(json_same(a, b));
    ck_assert(!json_equal(a, b)); /* jansson alone says they differ */
    json_decref(b);
    b = J("{\"n\": null, \"b\": true, \"s\": \"t\", \"x\": [1.0, 2.5, {\"y\": 3.5}]}");
    ck_assert(!json_same(a, b));
    json_decref(b);
    b = J("{\"n\": null, \"b\": true, \"s\": \"t\", \"x\": [1, 2.5, {\"y\": 3}], \"z\": 0}");
    ck_assert(!json_same(a, b));
    json_decref(b);
    b = J("{\"n\": null, \"b\": true, \"s\": \"t\", \"x\": [1, 2.5]}");
    ck_assert(!json_same(a, b));
    json_decref(b);
    json_decref(a);
    json_t *t = json_true(), *one = json_integer(1), *onef = json_real(1.0), *s1 = json_string("1");
    ck_assert(!json_same(t, one));
    ck_assert(!json_same(one, t));
    ck_assert(json_same(one, onef));
    ck_assert(!json_same(s1, one));
    ck_assert(!json_same(json_null(), json_false()));
    ck_assert(json_same(json_null(), json_null()));
    json_decref(one);
    json_decref(onef);
    json_decref(s1);
}
END_TEST

START_TEST(json_parse_errors)
{
    char err[256] = "";
    const char *bad = "{\"a\": 1,\n  \"b\": }";
    ck_assert_ptr_null(json_parse_text(bad, strlen(bad), err, sizeof err));
    ck_assert_msg(strncmp(err, "line 2 column ", 14) == 0, "got %s", err);
    ck_assert_int_eq(atoi(err + 14), 8);
    const char *dup = "{\"a\": 1, \"a\": 2}";
    ck_assert_ptr_null(json_parse_text(dup, strlen(dup), err, sizeof err));
    ck_assert_msg(strstr(err, "duplicate") != NULL, "got %s", err);
    /* only len bytes are read */
    json_t *v = json_parse_text("[1]garbage", 3, err, sizeof err);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    v = json_parse_text("42", 2, err, sizeof err); /* any value, not only objects */
    ck_assert(json_is_integer(v));
    json_decref(v);
    ck_assert_ptr_null(json_parse_text("", 0, NULL, 0));
}
END_TEST

START_TEST(json_getters)
{
    json_t *o = J("{\"s\": \"x\", \"i\": 3, \"r\": 2.5, \"w\": 4.0, \"b\": true, \"z\": null}");
    ck_assert_str_eq(json_str(o, "s", "d"), "x");
    ck_assert_str_eq(json_str(o, "i", "d"), "d");
    ck_assert_str_eq(json_str(o, "missing", "d"), "d");
    ck_assert(json_num(o, "i", 0) == 3);
    ck_assert(json_num(o, "r", 0) == 2.5);
    ck_assert(json_num(o, "b", -1) == -1);
    ck_assert_int_eq(json_int(o, "i", 0), 3);
    ck_assert_int_eq(json_int(o, "w", 0), 4);
    ck_assert_int_eq(json_int(o, "r", -7), -7);
    ck_assert(json_bool(o, "b", false));
    ck_assert(!json_bool(o, "i", false));
    ck_assert(json_is_num(json_object_get(o, "r")));
    ck_assert(!json_is_num(json_object_get(o, "b")));
    char *c = json_canonical(o);
    ck_assert_str_eq(c, "{\"b\":true,\"i\":3,\"r\":2.5,\"s\":\"x\",\"w\":4.0,\"z\":null}");
    free(c);
    json_decref(o);
}
END_TEST

/* ---- timeutil ---- */

static int64_t fixed_clock(void)
{
    return 1700000000123LL;
}

START_TEST(time_format)
{
    char out[40];
    time_format_rfc3339(0, out, sizeof out);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    time_format_rfc3339(1700000000123LL, out, sizeof out);
    ck_assert_str_eq(out, "2023-11-14T22:13:20.123Z");
    time_format_rfc3339(951782400999LL, out, sizeof out); /* a leap day */
    ck_assert_str_eq(out, "2000-02-29T00:00:00.999Z");
    time_format_rfc3339(4102444799000LL, out, sizeof out);
    ck_assert_str_eq(out, "2099-12-31T23:59:59.000Z");
    time_format_rfc3339(-1, out, sizeof out); /* before the epoch */
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
}
END_TEST

/* The hand-written calendar against the C library's, over 400 years. */
START_TEST(time_format_matches_libc)
{
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ms = (int64_t)(x % 12622780800000ULL) - 2208988800000LL; /* 1900 to 2300 */
        char got[40], want[40], base[24];
        time_format_rfc3339(ms, got, sizeof got);
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof want, "%s.%03dZ", base, (int)(ms - (int64_t)secs * 1000));
        ck_assert_msg(strcmp(got, want) == 0, "%lld: got %s, want %s", (long long)ms, got, want);
    }
}
END_TEST

START_TEST(time_clock_seam)
{
    int64_t before = time_now_ms();
    ck_assert(before > 1600000000000LL);
    time_set_clock(fixed_clock);
    ck_assert(time_now_ms() == 1700000000123LL);
    time_set_clock(NULL);
    ck_assert(time_now_ms() >= before);
    int64_t m1 = time_mono_ms(), m2 = time_mono_ms();
    ck_assert(m2 >= m1);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *su = suite_create("common");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, buf_append_grows);
    tcase_add_test(tc, buf_printf_long);
    suite_add_tcase(su, tc);
    tc = tcase_create("rng");
    tcase_add_test(tc, rng_reproducible);
    tcase_add_test(tc, rng_uniformity);
    tcase_add_test(tc, rng_normal_moments);
    suite_add_tcase(su, tc);
    tc = tcase_create("jsonutil");
    tcase_add_test(tc, json_same_numbers);
    tcase_add_test(tc, json_parse_errors);
    tcase_add_test(tc, json_getters);
    suite_add_tcase(su, tc);
    tc = tcase_create("timeutil");
    tcase_add_test(tc, time_format);
    tcase_add_test(tc, time_format_matches_libc);
    tcase_add_test(tc, time_clock_seam);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(common_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
