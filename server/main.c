#include <config.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "db.h"
#include "http.h"
#include "lease.h"
#include "llm_hook.h"
#include "log.h"
#include "settings.h"
#include "token.h"
#include "www.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hpod [--db FILE] [--listen HOST:PORT] [--config FILE] [--www DIR]\n"
               "            [--insecure] [-v] [--version]\n"
               "       hpod [--db FILE] token add|list|revoke ...\n");
}

int main(int argc, char **argv)
{
    log_set_ident("hpod");
    config_defaults();
    char err[1024];
    const char *listen = NULL, *db = NULL, *www = NULL;
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
        } else if (strcmp(a, "--config") == 0 && next) {
            free(cfg.config_path);
            cfg.config_path = strdup(argv[++i]);
        } else if (strcmp(a, "token") == 0) {
            break;
        } else {
            fprintf(stderr, "hpod: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (cfg.config_path && config_read_file(cfg.config_path, err, sizeof err) < 0) {
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
    log_set_level(cfg.verbose > 0 ? LOG_DEBUG : LOG_INFO);
    if (i < argc)
        return token_main(argc - i - 1, argv + i + 1);

    if (db_setup(cfg.db_path, cfg.sync_full) < 0)
        return 1;
    if (auth_reload() < 0) {
        fprintf(stderr, "hpod: cannot read tokens from \"%s\"\n", cfg.db_path);
        return 1;
    }
    if (!config_is_loopback() && auth_token_count() == 0 && !cfg.insecure) {
        fprintf(stderr,
                "hpod: refusing to listen on %s with no API tokens: add one with "
                "\"hpod token add --role admin NAME\", or pass --insecure\n",
                cfg.host);
        return 1;
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

    if (llm_hook_start() < 0) {
        fprintf(stderr, "hpod: cannot start the LLM threads\n");
        return 1;
    }
    struct http_options o = {
        .host = cfg.host,
        .port = cfg.port,
        .threads = cfg.threads,
        .max_body = cfg.max_body,
        .routes = api_routes,
        .fallback = www_serve,
    };
    struct MHD_Daemon *d = http_start(&o, err, sizeof err);
    if (!d) {
        fprintf(stderr, "hpod: %s\n", err);
        return 1;
    }
    if (lease_start(cfg.reaper_interval_ms) < 0) {
        fprintf(stderr, "hpod: cannot start the lease reaper\n");
        http_stop(d);
        return 1;
    }
    bool v6 = strchr(cfg.host, ':') != NULL;
    printf("hpod listening on http://%s%s%s:%u\n", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
           http_port(d));
    fflush(stdout);
    log_info("database %s, %zu API token(s)%s", cfg.db_path, auth_token_count(),
             auth_token_count() ? "" : " (open: loopback only)");

    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: finishing in-flight requests", sig);
    lease_stop();
    http_stop(d);
    llm_hook_stop();
    db_thread_close();
    curl_global_cleanup();
    config_release();
    log_info("stopped");
    return 0;
}
