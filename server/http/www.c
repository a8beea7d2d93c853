#include <config.h>
#include "www.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "locks.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"

static char *root; /* resolved directory, no trailing slash */

/* The page's files in memory, each as it was when last read: a request looks
 * at the file (fstat of a descriptor opened without blocking, so that a FIFO
 * or a device cannot hold the HTTP thread) and reads it again only when its
 * size, time or inode changed. A reply holds its entry until sent, so that an
 * entry replaced meanwhile lives on until its last reply is out. */
struct file {
    char *path;            /* owned: the resolved path */
    dev_t dev;             /* the version held: device, */
    ino_t ino;             /* inode, */
    off_t size;            /* size, */
    struct timespec mtime; /* and modification time */
    char etag[24];         /* "\"" 16 hex digits of the SHA-256 of the bytes "\"" */
    int refs;              /* the cache's (while listed) and each reply's */
    struct file *next;     /* list link */
    size_t len;            /* bytes in data */
    char data[];           /* the bytes */
};
#define FILE_MAX  (64u << 20) /* larger files are not served */
#define CACHE_MAX (64u << 20) /* past this, unused entries are dropped */
static struct lock files_lock = LOCK_INITIALIZER(LOCK_HTTP_FILES);
static struct file *files;
static size_t cached_bytes;

/* Drop one reference (files_lock not held). */
static void file_unref(struct file *f)
{
    lock_take(&files_lock);
    bool last = --f->refs == 0;
    lock_drop(&files_lock);
    if (last) {
        free(f->path);
        free(f);
    }
}

/* libmicrohttpd's release of a reply's body: data is an entry's bytes. */
static void release_data(void *data)
{
    file_unref((struct file *)((char *)data - offsetof(struct file, data)));
}

/* Take f out of the list (files_lock held); the caller drops the list's
 * reference, and frees f when it was the last. */
static bool file_unlist(struct file *f)
{
    for (struct file **pf = &files; *pf; pf = &(*pf)->next)
        if (*pf == f) {
            *pf = f->next;
            cached_bytes -= f->len;
            return --f->refs == 0;
        }
    return false;
}

static bool same_version(const struct file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* The entry of path as fd (open, a regular file described by st) holds it now,
 * with a reference for the caller; NULL when it cannot be read. */
static struct file *file_get(const char *path, int fd, const struct stat *st)
{
    lock_take(&files_lock);
    for (struct file *f = files; f; f = f->next)
        if (strcmp(f->path, path) == 0 && same_version(f, st)) {
            f->refs++;
            lock_drop(&files_lock);
            return f;
        }
    lock_drop(&files_lock);
    size_t size = (size_t)st->st_size;
    struct file *f = calloc(1, sizeof *f + size + 1);
    if (!f)
        return NULL;
    f->path = strdup(path);
    size_t got = 0;
    while (f->path && got < size) {
        ssize_t n = pread(fd, f->data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (!f->path || got != size) {
        free(f->path);
        free(f);
        return NULL;
    }
    f->len = size;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    uint8_t h[32];
    sha256(f->data, size, h);
    snprintf(f->etag, sizeof f->etag, "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7]);
    f->refs = 2; /* the list's and the caller's */
    struct file *gone[64];
    size_t n_gone = 0;
    lock_take(&files_lock);
    /* the older version of the file, and past the cap the unused others */
    for (struct file *o = files, *next; o; o = next) {
        next = o->next;
        bool old = strcmp(o->path, path) == 0;
        if ((old || cached_bytes + size > CACHE_MAX) && n_gone < 64 && file_unlist(o))
            gone[n_gone++] = o;
    }
    f->next = files;
    files = f;
    cached_bytes += size;
    lock_drop(&files_lock);
    for (size_t i = 0; i < n_gone; i++) {
        free(gone[i]->path);
        free(gone[i]);
    }
    return f;
}

/* Does an If-None-Match header (a list of entity tags, or "*") name etag?
 * Weak tags (W/"...") match too: a GET compares weakly. */
static bool etag_listed(const char *header, const char *etag)
{
    if (!header)
        return false;
    size_t el = strlen(etag);
    for (const char *p = header; *p;) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, el) == 0 &&
            (p[el] == '\0' || p[el] == ',' || p[el] == ' ' || p[el] == '\t'))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

void www_release(void)
{
    lock_take(&files_lock);
    struct file *f = files;
    files = NULL;
    cached_bytes = 0;
    lock_drop(&files_lock);
    while (f) {
        struct file *next = f->next;
        file_unref(f);
        f = next;
    }
    free(root);
    root = NULL;
}

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
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
    int fd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)FILE_MAX) {
        if (fd >= 0)
            close(fd);
        http_reply_error(r, 404, "not_found", "no such file \"%.80s\"", url);
        return HTTP_DONE;
    }
    struct file *f = file_get(real, fd, &st);
    close(fd);
    if (!f) {
        http_reply_error(r, 500, "internal", "cannot read \"%.80s\"", url);
        return HTTP_DONE;
    }
    /* The names are not versioned (vendor/echarts.min.js is the same name
     * after an upgrade), so nothing is cached without asking: the browser
     * revalidates each file with its ETag and gets a 304 with no body while
     * the file is unchanged. */
    const char *const headers[] = {"Content-Security-Policy",
                                   csp,
                                   "Referrer-Policy",
                                   "no-referrer",
                                   "X-Frame-Options",
                                   "DENY",
                                   "ETag",
                                   f->etag,
                                   "Cache-Control",
                                   "no-cache",
                                   NULL,
                                   NULL};
    if (etag_listed(http_header(r, "If-None-Match"), f->etag)) {
        metrics_count("static_not_modified", 1);
        http_reply_shared(r, 304, NULL, f->data, 0, headers, release_data);
        return HTTP_DONE;
    }
    http_reply_shared(r, 200, mime_of(real), f->data, f->len, headers, release_data);
    return HTTP_DONE;
}
