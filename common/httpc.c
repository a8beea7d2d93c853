#include <config.h>
#include "httpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct httpc {
    CURL *curl;      /* the easy handle, reused for keep-alive */
    char *base;      /* base URL without trailing slash */
    char *auth;      /* "Authorization: Bearer ..." or NULL */
    size_t max_body; /* cap on kept response bytes */
};

struct sink {
    struct httpc_response *resp; /* where bytes and headers go */
    size_t max_body;             /* cap */
};

struct httpc *httpc_new(const char *base_url, const char *token)
{
    struct httpc *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->curl = curl_easy_init();
    c->base = httpc_base_url(base_url);
    if (!c->curl || !c->base) {
        httpc_free(c);
        return NULL;
    }
    c->auth = httpc_auth_line(token);
    c->max_body = 16u << 20;
    return c;
}

void httpc_free(struct httpc *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    httpc_secret_free(c->auth); /* the token is a secret: wiped before it is freed */
    free(c);
}

void httpc_set_max_body(struct httpc *c, size_t max_body)
{
    c->max_body = max_body;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->resp->body.len + len > s->max_body) {
        s->resp->truncated = true;
        return 0; /* stop the transfer */
    }
    if (buf_append(&s->resp->body, p, len) < 0)
        return 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    double v = httpc_header_retry_after(p, len);
    if (v >= 0)
        s->resp->retry_after_s = v;
    return len;
}

int httpc_request(struct httpc *c, const char *method, const char *path, const char *body,
                  size_t body_len, const char *const *headers, long timeout_ms,
                  struct httpc_response *resp, char *err, size_t errlen)
{
    struct buf url;
    buf_init(&url);
    if (strncmp(path, "http", 4) == 0)
        buf_puts(&url, path);
    else
        buf_printf(&url, "%s%s", c->base, path);

    struct curl_slist *hl = NULL;
    if (c->auth)
        hl = curl_slist_append(hl, c->auth);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");

    struct sink sink = {resp, c->max_body};
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000L);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(h);
    double total = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &total);
    resp->elapsed_s = total;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(hl);
    int ret = 0;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && resp->truncated)) {
        resp->transport_error = (int)rc;
        resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        if (err)
            snprintf(err, errlen, "%s %s: %s", method, url.data, curl_easy_strerror(rc));
        ret = -1;
    } else if (rc != CURLE_OK && err) {
        snprintf(err, errlen, "%s %s: response body larger than %zu bytes", method, url.data,
                 c->max_body);
    }
    buf_release(&url);
    return ret;
}
