#ifndef API_H
#define API_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "httpc.h"

/* Small helpers for talking to hpod's REST API from the client. */

/* What a call came to, as the command-line client's exit status. */
enum api_status {
    API_OK = 0,          /* 2xx */
    API_REFUSED = 1,     /* the daemon answered 4xx or 5xx */
    API_USAGE = 2,       /* the command line was wrong (not from a call) */
    API_UNREACHABLE = 3, /* no answer, or an answer that is not JSON */
};

/* Append s to b percent-encoded for a URL path segment. 0 or -1. */
int api_escape(struct buf *b, const char *s);

/* One call: method on path (under the base URL) with body (borrowed, may be
 * NULL). On API_OK *reply is the parsed answer (new reference); otherwise
 * *reply is NULL or the parsed error answer, and err holds the daemon's
 * message or the transport error. *status gets the HTTP status (0 when none). */
enum api_status api_call(struct httpc *http, const char *method, const char *path,
                         const json_t *body, long timeout_ms, json_t **reply, long *status,
                         char *err, size_t errlen);

#endif
