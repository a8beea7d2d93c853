#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>

#include "buf.h"

/* Process-wide counters for GET /metrics (Prometheus text format). */

/* Count one request of route (a static label) answered with status after us
 * microseconds. */
void metrics_request(const char *route, unsigned status, int64_t us);
/* Count an event by a static name ("lease_expired", "offloaded_requests" ...);
 * rendered as the counter hpod_NAME_total. The known events are present at 0
 * from the start. */
void metrics_count(const char *name, long long n);
/* Append the counters in Prometheus text format. */
void metrics_render(struct buf *out);

#endif
