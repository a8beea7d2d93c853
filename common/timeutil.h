#ifndef TIMEUTIL_H
#define TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch. A test may replace the clock. */
int64_t time_now_ms(void);
/* Monotonic time in milliseconds, for intervals. */
int64_t time_mono_ms(void);
/* Monotonic time in microseconds, for short intervals (request latency). */
int64_t time_mono_us(void);
/* Replace the wall clock (NULL restores the system clock); a test seam. */
void time_set_clock(int64_t (*clock)(void));
/* Format ms since the epoch as RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void time_format_rfc3339(int64_t ms, char *out, size_t outlen);

/* Parse "YYYY-MM-DDTHH:MM:SS[.fff]Z" (as time_format_rfc3339 writes) into ms
 * since the epoch; 0, or -1 when text is not of that form. */
int time_parse_rfc3339(const char *text, int64_t *ms);

#endif
