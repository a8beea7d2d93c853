#ifndef REST_H
#define REST_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "httpc.h"

/* Small helpers for talking to hpod's REST API from the client. */

/* What a call came to, as the command-line client's exit status. */
enum rest_status {
    REST_OK = 0,          /* 2xx */
    REST_REFUSED = 1,     /* the daemon answered 4xx or 5xx */
    REST_USAGE = 2,       /* the command line was wrong (not from a call) */
    REST_UNREACHABLE = 3, /* no answer, or an answer that is not JSON */
};

/* Append s to b percent-encoded for a URL path segment. 0 or -1. */
int rest_escape(struct buf *b, const char *s);

/* One call: method on path (under the base URL) with body (borrowed, may be
 * NULL). On REST_OK *reply is the parsed answer (new reference); otherwise
 * *reply is NULL or the parsed error answer, and err holds the daemon's
 * message or the transport error. *status gets the HTTP status (0 when none). */
enum rest_status rest_call(struct httpc *http, const char *method, const char *path,
                           const json_t *body, long timeout_ms, json_t **reply, long *status,
                           char *err, size_t errlen);

#endif
