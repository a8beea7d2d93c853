#ifndef HTTPC_H
#define HTTPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* An HTTP client with a base URL and an optional bearer token, keeping its
 * connection alive between requests. Not shared between threads: one client per
 * thread. Two implementations: common/httpc.c on libcurl (the daemon;
 * curl_global_init() must have been called in main() before any client is made)
 * and client/httpc_lite.c on plain sockets (hpo; it loads libcurl only for
 * https:// URLs, at first use, and needs no set-up). */
struct httpc;

struct httpc_response {
    long status;          /* HTTP status, 0 when no response came */
    struct buf body;      /* response body (owned by the response) */
    double retry_after_s; /* Retry-After header in seconds, or -1 when absent */
    int transport_error;  /* 0, or the CURLcode (number) of a transport failure */
    bool timed_out;       /* the transport failure was a timeout */
    bool truncated;       /* the body went past max_body and was cut off */
    double elapsed_s;     /* wall time of the exchange */
};

/* New client for base_url (copied), e.g. "http://127.0.0.1:8080". token may be NULL. */
struct httpc *httpc_new(const char *base_url, const char *token);
/* Free a client; accepts NULL. */
void httpc_free(struct httpc *c);
/* Cap on the bytes of a response body kept (default 16 MiB). */
void httpc_set_max_body(struct httpc *c, size_t max_body);
/* Prepare an empty response; release it with httpc_response_release(). */
void httpc_response_init(struct httpc_response *r);
void httpc_response_release(struct httpc_response *r);

/* One request. path is appended to the base URL unless it starts with "http".
 * headers is a NULL-terminated list of "Name: value" lines (borrowed) or NULL.
 * Returns 0 when a response arrived (whatever its status), -1 on a transport
 * failure with the reason in err. */
int httpc_request(struct httpc *c, const char *method, const char *path, const char *body,
                  size_t body_len, const char *const *headers, long timeout_ms,
                  struct httpc_response *resp, char *err, size_t errlen);

/* A JSON request to the hpod API: body (borrowed, may be NULL) is sent as JSON and
 * the reply parsed. Returns the parsed reply (new reference) and its status in
 * *status, or NULL with err set on transport failure or an unparseable body. For
 * an error reply, err holds the server's message and the parsed body is returned. */
json_t *httpc_json(struct httpc *c, const char *method, const char *path, const json_t *body,
                   long timeout_ms, long *status, double *retry_after_s, char *err, size_t errlen);

/* Shared by both implementations: the base URL without trailing slashes (new
 * allocation), the "Authorization: Bearer T" line for token (new allocation,
 * NULL when token is NULL or empty), and freeing such a line after wiping it
 * (it holds a secret; accepts NULL). */
char *httpc_base_url(const char *base_url);
char *httpc_auth_line(const char *token);
void httpc_secret_free(char *secret);
/* If the header line p (len bytes, "Name: value") is Retry-After with a number of
 * seconds, return it; else -1. Shared by both implementations. */
double httpc_header_retry_after(const char *p, size_t len);

#endif
