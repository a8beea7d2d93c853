#include <config.h>
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"

/* What both transports share, common/httpc.c (libcurl, the daemon) and
 * client/httpc_lite.c (plain sockets, hpo): the response's life cycle, and
 * httpc_json() on top of httpc_request(). */

void httpc_response_init(struct httpc_response *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->body);
    r->retry_after_s = -1;
}

void httpc_response_release(struct httpc_response *r)
{
    buf_release(&r->body);
}

json_t *httpc_json(struct httpc *c, const char *method, const char *path, const json_t *body,
                   long timeout_ms, long *status, double *retry_after_s, char *err, size_t errlen)
{
    static const char *const hdrs[] = {"Content-Type: application/json", "Accept: application/json",
                                       NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct httpc_response resp;
    httpc_response_init(&resp);
    int rc = httpc_request(c, method, path, text, text ? strlen(text) : 0, hdrs, timeout_ms, &resp,
                           err, errlen);
    free(text);
    *status = resp.status;
    if (retry_after_s)
        *retry_after_s = resp.retry_after_s;
    json_t *out = NULL;
    if (rc == 0) {
        char perr[160];
        out =
            json_parse_text(resp.body.data ? resp.body.data : "", resp.body.len, perr, sizeof perr);
        if (!out) {
            if (err)
                snprintf(err, errlen, "%s %s: status %ld, unparseable reply: %s", method, path,
                         resp.status, perr);
        } else if (resp.status >= 400 && err) {
            const char *msg = json_str(json_object_get(out, "error"), "message", "error");
            snprintf(err, errlen, "%s", msg);
        }
    }
    httpc_response_release(&resp);
    return out;
}

double httpc_header_retry_after(const char *p, size_t len)
{
    static const char name[] = "retry-after:";
    if (len <= sizeof name - 1 || strncasecmp(p, name, sizeof name - 1) != 0)
        return -1;
    char tmp[64];
    size_t m = len - (sizeof name - 1);
    if (m >= sizeof tmp)
        m = sizeof tmp - 1;
    memcpy(tmp, p + sizeof name - 1, m);
    tmp[m] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    return end != tmp && v >= 0 ? v : -1;
}

char *httpc_base_url(const char *base_url)
{
    char *b = strdup(base_url ? base_url : "");
    if (!b)
        return NULL;
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/')
        b[--n] = '\0';
    return b;
}

char *httpc_auth_line(const char *token)
{
    if (!token || !*token)
        return NULL;
    size_t len = strlen(token) + 32;
    char *line = malloc(len);
    if (line)
        snprintf(line, len, "Authorization: Bearer %s", token);
    return line;
}

void httpc_secret_free(char *secret)
{
    if (!secret)
        return;
    volatile char *p = secret;
    while (*p)
        *p++ = 0;
    free(secret);
}
