#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stdint.h>

/* Requests per second per caller, as a token bucket: each caller may send
 * `rate_limit` requests per second on average and up to that many at once.
 * A caller is its API token, or its address when it sends none. Off (0) by
 * default: a loopback daemon with workers on the same host needs no limit. */

/* Set the allowed rate in requests per second; 0 turns limiting off. Call
 * before the HTTP threads start. */
void ratelimit_configure(unsigned per_s);
/* Take one request from the bucket of key (borrowed) at monotonic time now_ms.
 * 0 when allowed; -1 when over the rate, with the whole seconds until one
 * more request is allowed in *retry_after_s. */
int ratelimit_take(const char *key, int64_t now_ms, int *retry_after_s);
/* The allowed rate in requests per second; 0 when limiting is off. */
unsigned ratelimit_rate(void);
/* Forget every bucket and free the table. */
void ratelimit_release(void);

#endif
