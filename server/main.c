#include <config.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "dbcheck.h"
#include "db.h"
#include "heartbeats.h"
#include "importances.h"
#include "http.h"
#include "lease.h"
#include "llm_hook.h"
#include "log.h"
#include "ratelimit.h"
#include "settings.h"
#include "store.h"
#include "timeutil.h"
#include "token.h"
#include "wake.h"
#include "www.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hpod [--db FILE] [--listen HOST:PORT] [--config FILE] [--www DIR]\n"
               "            [--tls-cert FILE --tls-key FILE] [--insecure] [-v] [--version]\n"
               "       hpod [--db FILE] token add|list|revoke ...\n"
               "       hpod check [FILE]    check a database (default --db) and exit\n");
}

/* The whole of a PEM file as a string (new allocation), or NULL with a message. */
static char *read_pem(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "hpod: cannot read the TLS %s \"%s\"\n", what, path);
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        buf_append(&b, chunk, n);
    fclose(f);
    if (b.len == 0 || !strstr(b.data, "-----BEGIN ")) {
        fprintf(stderr, "hpod: the TLS %s \"%s\" is not a PEM file\n", what, path);
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void print_finding(void *arg, const char *text)
{
    (void)arg;
    printf("%s\n", text);
}

/* "hpod check [FILE]": 0 when the database is sound, 1 with findings, 2 when it
 * cannot be read at all. */
static int check_main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "hpod: check takes at most one FILE\n");
        return 2;
    }
    const char *path = argc == 1 ? argv[0] : cfg.db_path;
    char err[1024];
    long n = check_database(path, print_finding, NULL, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "hpod: check: %s\n", err);
        return 2;
    }
    fflush(stdout);
    if (n > 0) {
        fprintf(stderr, "hpod: database \"%s\": %ld problem(s) found\n", path, n);
        return 1;
    }
    fprintf(stderr, "database \"%s\": no problem found\n", path);
    return 0;
}

/* The lease reaper's periodic task: tokens added or revoked by "hpod token"
 * take effect within seconds. */
static void reload_tokens(void)
{
    if (auth_reload(db_thread()) < 0)
        log_warn("cannot reload the API tokens: the previous list stays in force");
}

int main(int argc, char **argv)
{
    log_set_ident("hpod");
    config_defaults();
    char err[1024];
    const char *listen = NULL, *db = NULL, *www = NULL, *tls_cert = NULL, *tls_key = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--version") == 0) {
            printf("hpod %s\n", PACKAGE_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            cfg.verbose++;
        } else if (strcmp(a, "--insecure") == 0) {
            cfg.insecure = true;
        } else if (strcmp(a, "--db") == 0 && next) {
            db = argv[++i];
        } else if (strcmp(a, "--listen") == 0 && next) {
            listen = argv[++i];
        } else if (strcmp(a, "--www") == 0 && next) {
            www = argv[++i];
        } else if (strcmp(a, "--tls-cert") == 0 && next) {
            tls_cert = argv[++i];
        } else if (strcmp(a, "--tls-key") == 0 && next) {
            tls_key = argv[++i];
        } else if (strcmp(a, "--config") == 0 && next) {
            free(cfg.config_path);
            cfg.config_path = strdup(argv[++i]);
        } else if (strcmp(a, "token") == 0 || strcmp(a, "check") == 0) {
            break;
        } else {
            fprintf(stderr, "hpod: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (cfg.config_path &&
        config_read_file(cfg.config_path, llm_hook_section, err, sizeof err) < 0) {
        fprintf(stderr, "hpod: %s\n", err);
        return 1;
    }
    if (db) {
        free(cfg.db_path);
        cfg.db_path = strdup(db);
    }
    if (www) {
        free(cfg.www_dir);
        cfg.www_dir = strdup(www);
    }
    if (listen && config_set_listen(listen, err, sizeof err) < 0) {
        fprintf(stderr, "hpod: %s\n", err);
        return 2;
    }
    if (tls_cert) {
        free(cfg.tls_cert);
        cfg.tls_cert = strdup(tls_cert);
    }
    if (tls_key) {
        free(cfg.tls_key);
        cfg.tls_key = strdup(tls_key);
    }
    log_set_level(cfg.verbose > 0 ? LOG_DEBUG : LOG_INFO);
    db_set_max_pages(cfg.max_db_pages);
    db_set_busy_timeout(cfg.busy_timeout_s * 1000);
    ratelimit_configure(cfg.rate_limit);
    if (i < argc && strcmp(argv[i], "check") == 0)
        return check_main(argc - i - 1, argv + i + 1);
    if (i < argc)
        return token_main(argc - i - 1, argv + i + 1);

    if (db_check_file(cfg.db_path, err, sizeof err) < 0 ||
        db_lock(cfg.db_path, err, sizeof err) < 0) {
        fprintf(stderr, "hpod: %s\n", err);
        return 1;
    }
    if (db_setup(cfg.db_path, cfg.sync_full) < 0)
        return 1;
    if (auth_reload(db_thread()) < 0) {
        fprintf(stderr, "hpod: cannot read tokens from \"%s\"\n", cfg.db_path);
        return 1;
    }
    if (!config_is_loopback() && auth_open() && !cfg.insecure) {
        fprintf(stderr,
                "hpod: refusing to listen on %s with no API tokens: add one with "
                "\"hpod token add --role admin NAME\", or pass --insecure\n",
                cfg.host);
        return 1;
    }
    if (!cfg.tls_cert != !cfg.tls_key) {
        fprintf(stderr, "hpod: TLS needs both a certificate and a key (--tls-cert FILE "
                        "--tls-key FILE)\n");
        return 2;
    }
    char *cert_pem = NULL, *key_pem = NULL;
    if (cfg.tls_cert) {
        cert_pem = read_pem(cfg.tls_cert, "certificate");
        key_pem = cert_pem ? read_pem(cfg.tls_key, "key") : NULL;
        if (!key_pem) {
            free(cert_pem);
            return 1;
        }
    }
    if (www_set_dir(cfg.www_dir) < 0)
        log_warn("web page directory \"%s\" not found: the page is not served", cfg.www_dir);

    /* Signals are taken by sigwait() below; every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    wake_register(http_wake);
    if (llm_hook_start() < 0) {
        fprintf(stderr, "hpod: cannot start the LLM threads\n");
        return 1;
    }
    struct http_options o = {
        .host = cfg.host,
        .port = cfg.port,
        .threads = cfg.threads,
        .offload_threads = cfg.offload_threads,
        .max_body = cfg.max_body,
        .max_connections = cfg.max_connections,
        .max_per_address = cfg.max_connections_per_address ? cfg.max_connections_per_address : -1,
        .header_timeout_s = cfg.header_timeout_s,
        .body_timeout_s = cfg.body_timeout_s,
        .idle_timeout_s = cfg.idle_timeout_s,
        .routes = api_routes,
        .fallback = www_serve,
        .tls_cert = cert_pem,
        .tls_key = key_pem,
        .thread_exit = db_thread_close,
    };
    struct db *gdb = db_thread();
    int graced = gdb ? store_lease_grace(gdb, time_now_ms()) : 0;
    if (graced > 0)
        log_info("%d running trial(s) given a full lease from now (the daemon was down)", graced);
    int repaired = gdb ? store_objectives_repair(gdb) : 0;
    if (repaired > 0)
        log_info("%d stud%s of several objectives or with constraints given their trials' "
                 "objectives, feasibility and Pareto set",
                 repaired, repaired == 1 ? "y" : "ies");
    else if (repaired < 0)
        log_warn("objectives of earlier trials not recorded: %s", db_errmsg(gdb));
    struct MHD_Daemon *d = http_start(&o, err, sizeof err);
    if (!d) {
        fprintf(stderr, "hpod: %s\n", err);
        free(cert_pem);
        free(key_pem);
        return 1;
    }
    if (db_checkpointer_start() < 0)
        log_warn("no checkpoint thread: commits checkpoint the WAL themselves");
    if (lease_start(cfg.reaper_interval_ms, reload_tokens) < 0) {
        fprintf(stderr, "hpod: cannot start the lease reaper\n");
        http_stop(d);
        return 1;
    }
    if (importances_start() < 0)
        log_warn("no importance thread: parameter importances answer 503");
    bool v6 = strchr(cfg.host, ':') != NULL;
    printf("hpod listening on %s://%s%s%s:%u\n", cert_pem ? "https" : "http", v6 ? "[" : "",
           cfg.host, v6 ? "]" : "", http_port(d));
    fflush(stdout);
    log_info("database %s, %zu API token(s)%s", cfg.db_path, auth_token_count(),
             auth_open() ? " (open: no token was ever added)" : "");

    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: finishing in-flight requests", sig);
    lease_stop();
    http_stop(d);
    importances_stop();
    llm_hook_stop();
    ratelimit_release();
    www_release();
    free(cert_pem);
    free(key_pem);
    db_checkpointer_stop();
    db_thread_close();
    heartbeats_clear();
    store_spec_cache_free();
    curl_global_cleanup();
    config_release();
    log_info("stopped");
    return 0;
}
