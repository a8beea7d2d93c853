#include <config.h>
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t (*clock_fn)(void);

void time_set_clock(int64_t (*fn)(void))
{
    clock_fn = fn;
}

int64_t time_now_ms(void)
{
    if (clock_fn)
        return clock_fn();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_rfc3339(int64_t ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(ms % 1000));
}

int time_parse_rfc3339(const char *text, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int frac_len = 0;
    unsigned frac = 0;
    char z = 0;
    int n = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    const char *p = text + n;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_len < 3) {
                frac = frac * 10 + (unsigned)(*p - '0');
                frac_len++;
            }
            p++;
        }
        while (frac_len < 3) {
            frac *= 10;
            frac_len++;
        }
    }
    z = *p;
    if ((z != 'Z' && z != 'z') || p[1] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1)
        return -1;
    *ms = (int64_t)secs * 1000 + frac;
    return 0;
}
