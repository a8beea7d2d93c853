#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

/* The daemon's settings: defaults, then the config file, then the command line. */
struct settings {
    char *db_path;            /* --db, default ./hpod.db */
    char *host;               /* --listen host part, default 127.0.0.1 */
    unsigned port;            /* --listen port part, default 8080; 0 = any free port */
    char *www_dir;            /* --www, default the installed page */
    char *config_path;        /* --config FILE, or NULL */
    unsigned threads;         /* HTTP threads (threads = N) */
    unsigned offload_threads; /* threads for slow requests (offload_threads = N) */
    size_t max_body;          /* request body limit in bytes (max_body = N) */
    bool insecure;            /* --insecure: allow a non-loopback bind with no tokens */
    bool sync_full;           /* synchronous = full instead of normal */
    int verbose;              /* -v count */
    int worker_fail_limit;    /* consecutive failures that cut a worker off */
    int worker_cooldown_s;    /* how long a cut-off worker waits */
    int reaper_interval_ms;   /* lease reaper tick */
    unsigned max_wait_s;      /* cap on a suggest's wait_s */
    unsigned llm_threads;     /* threads making LLM calls */
    char *tls_cert;           /* --tls-cert PEM file, or NULL */
    char *tls_key;            /* --tls-key PEM file, or NULL */
    unsigned rate_limit;      /* requests per second per token or address, 0 = off */
    long max_db_pages;        /* cap on the database size in pages (max_db_pages = N), 0 = none */
    unsigned max_connections; /* open HTTP connections at once */
    int max_connections_per_address; /* from one address (IPv6: one /64), 0 = no limit */
    unsigned header_timeout_s;       /* request line and headers complete within */
    unsigned body_timeout_s;         /* a request body complete within, after its headers */
    unsigned idle_timeout_s;         /* a kept-alive connection's next request line within */
    unsigned busy_timeout_s;         /* how long a write waits for another process's write lock */
};

/* The settings in force (filled by config_load). */
extern struct settings cfg;

/* Fill cfg with defaults. */
void config_defaults(void);
/* The reader of a config file's sections: with key NULL it is told a section
 * header and returns 0 when the section is its own (-1 with err empty when
 * not: "unknown section"); with a key it takes one "key = value" line. -1 with
 * err set on a bad line. main.c passes the LLM registry's (llm_hook_section). */
typedef int (*config_section_fn)(const char *section, const char *key, const char *value, char *err,
                                 size_t errlen);
/* Read a config file: `key = value` lines, `#` comments, `[section NAME]` blocks
 * (handed to sections, which may be NULL: then every section is unknown). 0,
 * or -1 with a message naming the file and line. */
int config_read_file(const char *path, config_section_fn sections, char *err, size_t errlen);
/* Parse "HOST:PORT" (or "[v6]:PORT") into cfg.host and cfg.port; 0 or -1. */
int config_set_listen(const char *text, char *err, size_t errlen);
/* Whether cfg.host is a loopback address. */
bool config_is_loopback(void);
/* Release what cfg owns. */
void config_release(void);

#endif
