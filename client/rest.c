#include <config.h>
#include "rest.h"

#include <stdio.h>
#include <string.h>

int rest_escape(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int rc;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            char ch = (char)c;
            rc = buf_append(b, &ch, 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_append(b, enc, 3);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

enum rest_status rest_call(struct httpc *http, const char *method, const char *path,
                           const json_t *body, long timeout_ms, json_t **reply, long *status,
                           char *err, size_t errlen)
{
    err[0] = '\0';
    json_t *r = httpc_json(http, method, path, body, timeout_ms, status, NULL, err, errlen);
    *reply = r;
    if (*status == 0)
        return REST_UNREACHABLE;
    if (*status >= 200 && *status < 300) {
        if (!r)
            *reply = json_object(); /* e.g. 204 No Content */
        err[0] = '\0';
        return REST_OK;
    }
    if (!r || !json_is_object(json_object_get(r, "error"))) {
        /* not an hpod error answer: say what came back */
        snprintf(err, errlen, "%s %s: HTTP status %ld", method, path, *status);
    }
    return REST_REFUSED;
}
