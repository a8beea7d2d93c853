#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>

#include "buf.h"

/* Process-wide counters for GET /metrics (Prometheus text format). */

/* Count one request of route (a static label) answered with status in ms. */
void metrics_request(const char *route, unsigned status, int64_t ms);
/* Count an event by a static name ("lease_expired", "llm_call", "llm_error" ...). */
void metrics_count(const char *name, long long n);
/* Append the counters in Prometheus text format. */
void metrics_render(struct buf *out);

#endif
