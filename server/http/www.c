#include <config.h>
#include "www.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char *root; /* resolved directory, no trailing slash */

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "frame-ancestors 'none'; base-uri 'none'";

int www_set_dir(const char *dir)
{
    char resolved[PATH_MAX];
    free(root);
    root = NULL;
    if (!realpath(dir, resolved))
        return -1;
    root = strdup(resolved);
    return root ? 0 : -1;
}

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

enum http_result www_serve(struct req *r)
{
    static const char *const headers[] = {"Content-Security-Policy",
                                          csp,
                                          "Referrer-Policy",
                                          "no-referrer",
                                          "X-Frame-Options",
                                          "DENY",
                                          NULL,
                                          NULL};
    if (!root) {
        http_reply_error(r, 404, "not_found", "no web page is installed");
        return HTTP_DONE;
    }
    const char *url = r->url;
    if (strstr(url, "..") || strchr(url, '\\') || url[0] != '/') {
        http_reply_error(r, 404, "not_found", "no such file \"%.80s\"", url);
        return HTTP_DONE;
    }
    char path[PATH_MAX], real[PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s%s", root, url,
                 url[strlen(url) - 1] == '/' ? "index.html" : "") >= (int)sizeof path) {
        http_reply_error(r, 414, "uri_too_long", "path too long");
        return HTTP_DONE;
    }
    size_t rl = strlen(root);
    if (!realpath(path, real) || strncmp(real, root, rl) != 0 || (real[rl] && real[rl] != '/')) {
        http_reply_error(r, 404, "not_found", "no such file \"%.80s\"", url);
        return HTTP_DONE;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        if (fd >= 0)
            close(fd);
        http_reply_error(r, 404, "not_found", "no such file \"%.80s\"", url);
        return HTTP_DONE;
    }
    char *data = malloc((size_t)st.st_size + 1);
    ssize_t got = data ? read(fd, data, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(data);
        http_reply_error(r, 500, "internal", "cannot read \"%.80s\"", url);
        return HTTP_DONE;
    }
    http_reply_bytes(r, 200, mime_of(real), data, (size_t)got, headers);
    free(data);
    return HTTP_DONE;
}
