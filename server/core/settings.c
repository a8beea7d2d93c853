#include <config.h>
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct settings cfg;

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

void config_defaults(void)
{
    memset(&cfg, 0, sizeof cfg);
    set_str(&cfg.db_path, "hpod.db");
    set_str(&cfg.host, "127.0.0.1");
    cfg.port = 8080;
    set_str(&cfg.www_dir, HPOD_DATADIR "/www");
    /* One HTTP thread by default. SQLite takes one writer at a time, and each
     * connection drops its page cache whenever another one wrote: with 32
     * simulated workers on 2 cores, one thread spent 250-300 us of CPU per
     * trial against 400-420 for two, and 8 threads were slower still. What
     * can be slow (a suggest that fits a model, an export) goes to the
     * offload threads, one per processor (2 to 8), so it never holds up a
     * heartbeat. */
    cfg.threads = 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.offload_threads = cpus < 2 ? 2 : cpus > 8 ? 8 : (unsigned)cpus;
    cfg.max_body = 4u << 20;
    cfg.worker_fail_limit = 3;
    cfg.worker_cooldown_s = 30;
    cfg.reaper_interval_ms = 250;
    cfg.max_wait_s = 60;
    cfg.llm_threads = 4;
    /* Connections: 4096 at once, 512 of them from one address (an IPv6 /64):
     * one client cannot take them all, while hundreds of workers behind one
     * NAT, or on the daemon's own machine, still fit. Deadlines that traffic
     * does not move: headers in 10 s, a body in 60 s, the next request of a
     * kept-alive connection within 120 s (more than the workers' 30 s
     * heartbeat), so that a client trickling bytes holds a connection for a
     * bounded time. */
    cfg.max_connections = 4096;
    cfg.max_connections_per_address = 512;
    cfg.header_timeout_s = 10;
    cfg.body_timeout_s = 60;
    cfg.idle_timeout_s = 120;
    cfg.busy_timeout_s = 10;
}

void config_release(void)
{
    free(cfg.db_path);
    free(cfg.host);
    free(cfg.www_dir);
    free(cfg.config_path);
    free(cfg.tls_cert);
    free(cfg.tls_key);
    memset(&cfg, 0, sizeof cfg);
}

int config_set_listen(const char *text, char *err, size_t errlen)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) {
        snprintf(err, errlen, "listen address \"%s\" must be HOST:PORT", text);
        return -1;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (*end || errno || port < 0 || port > 65535 || colon[1] == '\0') {
        snprintf(err, errlen, "listen port in \"%s\" must be 0..65535", text);
        return -1;
    }
    size_t hl = (size_t)(colon - text);
    const char *h = text;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *host = strndup(h, hl);
    free(cfg.host);
    cfg.host = host;
    cfg.port = (unsigned)port;
    return 0;
}

bool config_is_loopback(void)
{
    return strncmp(cfg.host, "127.", 4) == 0 || strcmp(cfg.host, "::1") == 0 ||
           strcmp(cfg.host, "localhost") == 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int set_uint(const char *key, const char *v, long lo, long hi, long *out, char *err,
                    size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*end || errno || n < lo || n > hi) {
        snprintf(err, errlen, "%s: must be an integer in %ld..%ld (got \"%s\")", key, lo, hi, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int set_key(const char *key, const char *v, char *err, size_t errlen)
{
    long n;
    if (strcmp(key, "db") == 0) {
        set_str(&cfg.db_path, v);
    } else if (strcmp(key, "listen") == 0) {
        return config_set_listen(v, err, errlen);
    } else if (strcmp(key, "www") == 0) {
        set_str(&cfg.www_dir, v);
    } else if (strcmp(key, "tls_cert") == 0) {
        set_str(&cfg.tls_cert, v);
    } else if (strcmp(key, "tls_key") == 0) {
        set_str(&cfg.tls_key, v);
    } else if (strcmp(key, "synchronous") == 0) {
        if (strcmp(v, "full") && strcmp(v, "normal")) {
            snprintf(err, errlen, "synchronous: must be \"normal\" or \"full\" (got \"%s\")", v);
            return -1;
        }
        cfg.sync_full = strcmp(v, "full") == 0;
    } else if (strcmp(key, "threads") == 0) {
        if (set_uint(key, v, 1, 256, &n, err, errlen) < 0)
            return -1;
        cfg.threads = (unsigned)n;
    } else if (strcmp(key, "offload_threads") == 0) {
        if (set_uint(key, v, 0, 64, &n, err, errlen) < 0)
            return -1;
        cfg.offload_threads = (unsigned)n;
    } else if (strcmp(key, "llm_threads") == 0) {
        if (set_uint(key, v, 1, 64, &n, err, errlen) < 0)
            return -1;
        cfg.llm_threads = (unsigned)n;
    } else if (strcmp(key, "max_body") == 0) {
        if (set_uint(key, v, 1024, 1L << 30, &n, err, errlen) < 0)
            return -1;
        cfg.max_body = (size_t)n;
    } else if (strcmp(key, "worker_fail_limit") == 0) {
        if (set_uint(key, v, 1, 1000000, &n, err, errlen) < 0)
            return -1;
        cfg.worker_fail_limit = (int)n;
    } else if (strcmp(key, "worker_cooldown_s") == 0) {
        if (set_uint(key, v, 0, 86400, &n, err, errlen) < 0)
            return -1;
        cfg.worker_cooldown_s = (int)n;
    } else if (strcmp(key, "max_wait_s") == 0) {
        if (set_uint(key, v, 0, 3600, &n, err, errlen) < 0)
            return -1;
        cfg.max_wait_s = (unsigned)n;
    } else if (strcmp(key, "rate_limit") == 0) {
        if (set_uint(key, v, 0, 1000000, &n, err, errlen) < 0)
            return -1;
        cfg.rate_limit = (unsigned)n;
    } else if (strcmp(key, "max_db_pages") == 0) {
        if (set_uint(key, v, 0, 2147483647L, &n, err, errlen) < 0)
            return -1;
        cfg.max_db_pages = n;
    } else if (strcmp(key, "max_connections") == 0) {
        if (set_uint(key, v, 16, 1000000, &n, err, errlen) < 0)
            return -1;
        cfg.max_connections = (unsigned)n;
    } else if (strcmp(key, "max_connections_per_address") == 0) {
        if (set_uint(key, v, 0, 1000000, &n, err, errlen) < 0)
            return -1;
        cfg.max_connections_per_address = (int)n;
    } else if (strcmp(key, "header_timeout_s") == 0) {
        if (set_uint(key, v, 1, 3600, &n, err, errlen) < 0)
            return -1;
        cfg.header_timeout_s = (unsigned)n;
    } else if (strcmp(key, "body_timeout_s") == 0) {
        if (set_uint(key, v, 1, 86400, &n, err, errlen) < 0)
            return -1;
        cfg.body_timeout_s = (unsigned)n;
    } else if (strcmp(key, "idle_timeout_s") == 0) {
        if (set_uint(key, v, 1, 86400, &n, err, errlen) < 0)
            return -1;
        cfg.idle_timeout_s = (unsigned)n;
    } else if (strcmp(key, "busy_timeout_s") == 0) {
        if (set_uint(key, v, 0, 3600, &n, err, errlen) < 0)
            return -1;
        cfg.busy_timeout_s = (unsigned)n;
    } else if (strcmp(key, "reaper_interval_ms") == 0) {
        if (set_uint(key, v, 10, 60000, &n, err, errlen) < 0)
            return -1;
        cfg.reaper_interval_ms = (int)n;
    } else {
        snprintf(err, errlen, "unknown setting \"%s\"", key);
        return -1;
    }
    return 0;
}

int config_read_file(const char *path, config_section_fn sections, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char line[4096], section[256] = "";
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        char msg[512] = "";
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                snprintf(msg, sizeof msg, "section header without \"]\"");
            } else {
                *close = '\0';
                snprintf(section, sizeof section, "%s", trim(s + 1));
                if ((!sections || sections(section, NULL, NULL, msg, sizeof msg) < 0) && !*msg)
                    snprintf(msg, sizeof msg, "unknown section \"%s\"", section);
            }
        } else {
            char *eq = strchr(s, '=');
            if (!eq) {
                snprintf(msg, sizeof msg, "expected \"key = value\"");
            } else {
                *eq = '\0';
                char *key = trim(s), *val = trim(eq + 1);
                size_t vl = strlen(val);
                if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
                    val[vl - 1] = '\0';
                    val++;
                }
                if (*section && sections)
                    sections(section, key, val, msg, sizeof msg);
                else
                    set_key(key, val, msg, sizeof msg);
            }
        }
        if (*msg) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}
