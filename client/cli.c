#include <config.h>
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rest.h"
#include "buf.h"
#include "jsonutil.h"
#include "metricline.h"
#include "table.h"
#include "template.h"

#define CLI_TIMEOUT_MS 60000
#define CLI_MAX_POS    256

void cli_init(struct cli *c, const char *server, const char *token)
{
    c->server = server;
    c->token = token;
    c->json = false;
    c->http = NULL;
}

void cli_release(struct cli *c)
{
    httpc_free(c->http);
    c->http = NULL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hpo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see hpo --help)\n", stderr);
    va_end(ap);
    return REST_USAGE;
}

/* One option a subcommand takes. */
struct opt {
    const char *name;   /* "--state" */
    const char **value; /* where its value goes, or NULL for a flag */
    bool *flag;         /* set for a flag */
};

/* Split argv[1..] into options (opts, plus --json, --server and --token
 * everywhere) and positional words (borrowed into pos). */
static int parse_opts(struct cli *c, int argc, char **argv, const struct opt *opts, char **pos,
                      int *npos)
{
    *npos = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] != '-' || a[2] == '\0') {
            if (!only_pos && strcmp(a, "--") == 0) {
                only_pos = true;
                continue;
            }
            if (*npos >= CLI_MAX_POS)
                return usage_error("%s: too many arguments", argv[0]);
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen == 6 && strncmp(a, "--json", 6) == 0 && !eq) {
            c->json = true;
            continue;
        }
        const char **slot = NULL;
        bool *flag = NULL;
        if (nlen == 8 && strncmp(a, "--server", 8) == 0)
            slot = &c->server;
        else if (nlen == 7 && strncmp(a, "--token", 7) == 0)
            slot = &c->token;
        for (int k = 0; opts && opts[k].name && !slot && !flag; k++) {
            if (strlen(opts[k].name) == nlen && strncmp(a, opts[k].name, nlen) == 0) {
                slot = opts[k].value;
                flag = opts[k].flag;
            }
        }
        if (flag && !eq) {
            *flag = true;
            continue;
        }
        if (!slot)
            return usage_error("%s: unknown option \"%s\"", argv[0], a);
        if (eq) {
            *slot = eq + 1;
        } else if (i + 1 < argc) {
            *slot = argv[++i];
        } else {
            return usage_error("%s: option \"%s\" needs a value", argv[0], a);
        }
    }
    return 0;
}

static struct httpc *cli_http(struct cli *c)
{
    if (!c->http)
        c->http = httpc_new(c->server, c->token);
    return c->http;
}

/* Make a call and report failures; on success *reply is a new reference. */
static int cli_call(struct cli *c, const char *method, const char *path, const json_t *body,
                    json_t **reply, long *status)
{
    char err[1024];
    long st = 0;
    *reply = NULL;
    struct httpc *http = cli_http(c);
    if (!http) {
        fprintf(stderr, "hpo: cannot make an HTTP client\n");
        return REST_UNREACHABLE;
    }
    enum rest_status rc =
        rest_call(http, method, path, body, CLI_TIMEOUT_MS, reply, &st, err, sizeof err);
    if (status)
        *status = st;
    if (rc == REST_OK)
        return 0;
    if (rc == REST_UNREACHABLE)
        fprintf(stderr, "hpo: cannot reach hpod at %s: %s\n", c->server, err);
    else
        fprintf(stderr, "hpo: %s\n", err);
    json_decref(*reply);
    *reply = NULL;
    return rc;
}

static void print_json(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

static char *study_path(const char *name, const char *suffix)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "/api/v1/studies");
    if (name) {
        buf_puts(&b, "/");
        rest_escape(&b, name);
    }
    if (suffix)
        buf_puts(&b, suffix);
    return buf_steal(&b);
}

static long long count_of(const json_t *counts, const char *state)
{
    return json_int(counts, state, 0);
}

/* The best value of a study object: "best_value", or "best"'s "value". */
static const json_t *best_value_of(const json_t *study)
{
    const json_t *v = json_object_get(study, "best_value");
    if (json_is_num(v))
        return v;
    const json_t *best = json_object_get(study, "best");
    if (!json_is_object(best))
        best = json_object_get(study, "best_trial");
    if (json_is_object(best))
        return json_object_get(best, "value");
    return json_is_num(best) ? best : NULL;
}

static const json_t *spec_of(const json_t *study)
{
    const json_t *spec = json_object_get(study, "spec");
    return json_is_object(spec) ? spec : study;
}

/* ---- study ---- */

static int read_all(const char *file, struct buf *out)
{
    int fd = strcmp(file, "-") == 0 ? 0 : open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[8192];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        if (buf_append(out, chunk, (size_t)n) < 0) {
            rc = -1;
            break;
        }
    }
    if (fd != 0)
        close(fd);
    return rc;
}

static int study_create(struct cli *c, const char *file)
{
    struct buf text;
    buf_init(&text);
    if (read_all(file, &text) < 0) {
        fprintf(stderr, "hpo: cannot read \"%s\": %s\n", file, strerror(errno));
        buf_release(&text);
        return REST_USAGE;
    }
    char err[256];
    json_t *spec = json_parse_text(text.data ? text.data : "", text.len, err, sizeof err);
    buf_release(&text);
    if (!spec) {
        fprintf(stderr, "hpo: %s%s%s is not JSON: %s\n", strcmp(file, "-") ? "\"" : "",
                strcmp(file, "-") ? file : "standard input", strcmp(file, "-") ? "\"" : "", err);
        return REST_USAGE;
    }
    json_t *reply;
    long status;
    int rc = cli_call(c, "POST", "/api/v1/studies", spec, &reply, &status);
    if (rc == 0) {
        const char *name = json_str(reply, "name", json_str(spec, "name", "?"));
        if (c->json)
            print_json(reply);
        else if (status == 201)
            printf("created study %s\n", name);
        else
            printf("study %s already exists with the same spec\n", name);
    }
    json_decref(reply);
    json_decref(spec);
    return rc;
}

static void progress_text(const json_t *study, char *out, size_t outlen)
{
    const json_t *counts = json_object_get(study, "counts");
    long long done =
        count_of(counts, "completed") + count_of(counts, "failed") + count_of(counts, "pruned");
    long long max = json_int(study, "max_trials",
                             json_int(json_object_get(spec_of(study), "budget"), "max_trials", 0));
    if (max > 0)
        snprintf(out, outlen, "%lld/%lld", done, max);
    else
        snprintf(out, outlen, "%lld", done);
}

static int study_list(struct cli *c)
{
    json_t *reply;
    int rc = cli_call(c, "GET", "/api/v1/studies", NULL, &reply, NULL);
    if (rc != 0)
        return rc;
    if (c->json) {
        print_json(reply);
        json_decref(reply);
        return 0;
    }
    const json_t *list = json_is_array(reply) ? reply : json_object_get(reply, "studies");
    static const char *const head[] = {"NAME",    "STATE", "DONE",   "RUNNING",
                                       "PENDING", "BEST",  "SAMPLER"};
    struct table *t = table_new(7, head);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        char done[48], running[24], pending[24], best[40];
        const json_t *counts = json_object_get(s, "counts");
        progress_text(s, done, sizeof done);
        snprintf(running, sizeof running, "%lld", count_of(counts, "running"));
        snprintf(pending, sizeof pending, "%lld", count_of(counts, "pending"));
        table_number(best_value_of(s), best, sizeof best);
        const json_t *sampler = json_object_get(spec_of(s), "sampler");
        const char *sname =
            json_is_string(sampler) ? json_string_value(sampler) : json_str(sampler, "name", NULL);
        const char *row[] = {json_str(s, "name", "?"),
                             json_str(s, "state", NULL),
                             done,
                             running,
                             pending,
                             best,
                             sname};
        table_add(t, row);
    }
    if (t && table_rows(t) > 0)
        table_print(t, stdout);
    else
        printf("no studies\n");
    table_free(t);
    json_decref(reply);
    return 0;
}

/* "C=12.3 kernel=rbf" for a trial (borrowed). */
static void print_trial_line(const char *label, const json_t *trial, const char *objective)
{
    char value[40];
    table_number(json_object_get(trial, "value"), value, sizeof value);
    char *params = table_params_text(json_object_get(trial, "params"), 40);
    printf("%-11s%s=%s (trial %lld)", label, objective, value, json_int(trial, "number", -1));
    if (params && *params)
        printf(": %s", params);
    printf("\n");
    free(params);
}

static void print_numbers(const char *label, const json_t *obj)
{
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return;
    printf("%-11s", label);
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)obj, key, v)
    {
        char num[40];
        if (json_is_num(v))
            table_number(v, num, sizeof num);
        else if (json_is_string(v))
            snprintf(num, sizeof num, "%.38s", json_string_value(v));
        else
            continue;
        printf("%s%s %s", first ? "" : ", ", key, num);
        first = false;
    }
    printf("\n");
}

/* Does the spec ask for the LLM (its sampler, or LLM-seeded trials)? */
static bool spec_uses_llm(const json_t *spec)
{
    const json_t *sampler = json_object_get(spec, "sampler");
    const char *name =
        json_is_string(sampler) ? json_string_value(sampler) : json_str(sampler, "name", "");
    const json_t *llm = json_object_get(spec, "llm");
    return strcmp(name, "llm") == 0 || json_is_integer(json_object_get(llm, "init_trials"));
}

/* "trials from the LLM: 9 of 12 (fallback 3)" from the study's "sources",
 * for studies that use the LLM (or hold trials of it, e.g. imported). */
static void print_sources(const json_t *spec, const json_t *sources)
{
    if (!json_is_object(sources))
        return;
    long long llm = json_int(sources, "llm", 0), ranked = json_int(sources, "llm+gp", 0);
    long long fallback = json_int(sources, "fallback", 0);
    long long classical = json_int(sources, "classical", 0),
              manual = json_int(sources, "manual", 0);
    if (!spec_uses_llm(spec) && llm + ranked + fallback == 0)
        return;
    printf("%-11strials from the LLM: %lld of %lld (", "sources", llm + ranked,
           llm + ranked + fallback + classical + manual);
    if (ranked > 0)
        printf("%lld ranked by the GP, ", ranked);
    printf("fallback %lld", fallback);
    if (classical > 0)
        printf(", classical %lld", classical);
    if (manual > 0)
        printf(", manual %lld", manual);
    printf(")\n");
}

/* ---- several objectives ---- */

/* The objectives of a spec: its "objectives" array, else NULL. */
static const json_t *objectives_of(const json_t *spec)
{
    const json_t *list = json_object_get(spec, "objectives");
    return json_is_array(list) && json_array_size(list) > 0 ? list : NULL;
}

/* The first objective object of a spec (borrowed), or NULL. */
static const json_t *first_objective(const json_t *spec)
{
    const json_t *list = objectives_of(spec);
    return list ? json_array_get(list, 0) : json_object_get(spec, "objective");
}

/* "objectives acc (maximize), latency_ms (minimize)" and "constraints
 * mem_gb <= 6, ..." lines. */
static void print_objectives(const json_t *spec)
{
    const json_t *list = objectives_of(spec);
    size_t i;
    const json_t *o;
    if (!list) {
        o = first_objective(spec);
        printf("%-11s%s (%s)\n", "objective", json_str(o, "name", "value"),
               json_str(o, "direction", "minimize"));
    } else {
        printf("%-11s", json_array_size(list) > 1 ? "objectives" : "objective");
        json_array_foreach(list, i, o)
        {
            printf("%s%s (%s)", i ? ", " : "", json_str(o, "name", "?"),
                   json_str(o, "direction", "minimize"));
        }
        printf("\n");
    }
    const json_t *cons = json_object_get(spec, "constraints");
    if (!json_is_array(cons) || json_array_size(cons) == 0)
        return;
    printf("%-11s", "constraint");
    json_array_foreach(cons, i, o)
    {
        char lo[40], hi[40];
        const json_t *mn = json_object_get(o, "min"), *mx = json_object_get(o, "max");
        table_number(mn, lo, sizeof lo);
        table_number(mx, hi, sizeof hi);
        printf("%s%s ", i ? ", " : "", json_str(o, "name", "?"));
        if (json_is_num(mn) && json_is_num(mx))
            printf("in [%s, %s]", lo, hi);
        else if (json_is_num(mn))
            printf(">= %s", lo);
        else
            printf("<= %s", hi);
    }
    printf("\n");
}

/* "[1, 2.5] (from the spec)" for a reference point, or "none". */
static void print_reference(const json_t *ref, const char *source)
{
    if (!json_is_array(ref)) {
        printf("none");
        return;
    }
    size_t i;
    const json_t *v;
    printf("[");
    json_array_foreach(ref, i, v)
    {
        char num[40];
        table_number(v, num, sizeof num);
        printf("%s%s", i ? ", " : "", num);
    }
    printf("]");
    if (source && !strcmp(source, "spec"))
        printf(" (from the spec)");
    else if (source && !strcmp(source, "derived"))
        printf(" (derived from the trials)");
}

/* The Pareto set of a study (p: the answer of GET .../pareto, borrowed): a
 * table of its trials (number, each objective, feasible, params), then the
 * hypervolume and its reference point. */
static void print_front(const json_t *p)
{
    const json_t *objs = json_object_get(p, "objectives");
    const json_t *trials = json_object_get(p, "trials");
    size_t no = json_is_array(objs) ? json_array_size(objs) : 0;
    size_t ncols = no + 3;
    const char **head = calloc(ncols, sizeof *head);
    const char **cells = calloc(ncols, sizeof *cells);
    char(*nums)[40] = calloc(no + 1, sizeof *nums);
    char **titles = calloc(no + 1, sizeof *titles);
    if (!head || !cells || !nums || !titles)
        goto out_free;
    head[0] = "number";
    for (size_t k = 0; k < no; k++) {
        const json_t *o = json_array_get(objs, k);
        size_t n = strlen(json_str(o, "name", "?")) + 8;
        titles[k] = malloc(n);
        if (titles[k])
            snprintf(titles[k], n, "%s (%s)", json_str(o, "name", "?"),
                     !strcmp(json_str(o, "direction", "minimize"), "maximize") ? "max" : "min");
        head[k + 1] = titles[k] ? titles[k] : "?";
    }
    head[no + 1] = "feasible";
    head[no + 2] = "params";
    struct table *t = table_new(ncols, head);
    size_t i;
    const json_t *tr;
    json_array_foreach(trials, i, tr)
    {
        char number[32];
        snprintf(number, sizeof number, "%lld", json_int(tr, "number", -1));
        cells[0] = number;
        const json_t *vals = json_object_get(tr, "objectives");
        for (size_t k = 0; k < no; k++) {
            const json_t *v = json_array_get(vals, k);
            if (!v) /* an older answer: the metric by name */
                v = json_object_get(json_object_get(tr, "values"),
                                    json_str(json_array_get(objs, k), "name", ""));
            table_number(v, nums[k], sizeof nums[k]);
            cells[k + 1] = nums[k];
        }
        const json_t *f = json_object_get(tr, "feasible");
        cells[no + 1] = json_is_true(f) ? "yes" : json_is_false(f) ? "no" : "-";
        char *params = table_params_text(json_object_get(tr, "params"), 24);
        cells[no + 2] = params ? params : "";
        if (t)
            table_add(t, cells);
        free(params);
    }
    long long n_front = (long long)(json_is_array(trials) ? json_array_size(trials) : 0);
    printf("Pareto front: %lld trial%s of %lld completed (%lld feasible)\n", n_front,
           n_front == 1 ? "" : "s", json_int(p, "n_completed", 0), json_int(p, "n_feasible", 0));
    if (t && table_rows(t) > 0)
        table_print(t, stdout);
    table_free(t);
    char hv[40];
    table_number(json_object_get(p, "hypervolume"), hv, sizeof hv);
    printf("hypervolume %s, reference point ", hv);
    print_reference(json_object_get(p, "reference_point"), json_str(p, "reference_source", NULL));
    printf("\n");
out_free:
    for (size_t k = 0; titles && k < no; k++)
        free(titles[k]);
    free(titles);
    free(nums);
    free(cells);
    free(head);
}

static int study_show(struct cli *c, const char *name)
{
    char *path = study_path(name, NULL);
    json_t *reply;
    int rc = cli_call(c, "GET", path, NULL, &reply, NULL);
    free(path);
    if (rc != 0)
        return rc;
    if (c->json) {
        print_json(reply);
        json_decref(reply);
        return 0;
    }
    const json_t *spec = spec_of(reply);
    const json_t *obj = first_objective(spec);
    const char *objective = json_str(obj, "name", "value");
    const json_t *objs = objectives_of(spec);
    const json_t *cons = json_object_get(spec, "constraints");
    bool several = json_array_size(objs) > 1;
    const json_t *counts = json_object_get(reply, "counts");
    char progress[48];
    progress_text(reply, progress, sizeof progress);
    printf("%-11s%s (%s)\n", "study", json_str(reply, "name", name), json_str(reply, "state", "?"));
    const char *desc = json_str(spec, "description", "");
    if (*desc)
        printf("%-11s%.*s%s\n", "about", 200, desc, strlen(desc) > 200 ? "..." : "");
    const char *note = json_str(reply, "note", "");
    if (*note) {
        /* its first line, as "about" shows the description */
        size_t len = strcspn(note, "\n");
        printf("%-11s%.*s%s\n", "note", (int)(len > 200 ? 200 : len), note,
               len > 200 || note[len] ? "..." : "");
    }
    if (objs || json_array_size(cons) > 0)
        print_objectives(spec);
    else
        printf("%-11s%s (%s)\n", "objective", objective, json_str(obj, "direction", "minimize"));
    printf("%-11s%s finished: %lld completed, %lld failed, %lld pruned; %lld running, %lld "
           "pending\n",
           "progress", progress, count_of(counts, "completed"), count_of(counts, "failed"),
           count_of(counts, "pruned"), count_of(counts, "running"), count_of(counts, "pending"));
    print_sources(spec, json_object_get(reply, "sources"));
    const json_t *best = json_object_get(reply, "best");
    if (!json_is_object(best))
        best = json_object_get(reply, "best_trial");
    if (several) {
        char hv[40];
        table_number(json_object_get(reply, "hypervolume"), hv, sizeof hv);
        printf("%-11s%lld trial%s, hypervolume %s, reference point ", "front",
               json_int(reply, "pareto_size", 0), json_int(reply, "pareto_size", 0) == 1 ? "" : "s",
               hv);
        print_reference(json_object_get(reply, "reference_point"),
                        json_str(reply, "reference_source", NULL));
        printf("\n");
    } else if (json_is_object(best)) {
        print_trial_line("best", best, objective);
    } else {
        printf("%-11s%s\n", "best", "none yet");
    }
    const json_t *sampler = json_object_get(spec, "sampler");
    if (json_is_object(sampler)) {
        printf("%-11s%s", "sampler", json_str(sampler, "name", "?"));
        if (json_is_integer(json_object_get(sampler, "seed")))
            printf(" (seed %lld)", json_int(sampler, "seed", 0));
        printf("\n");
    }
    const json_t *pruner = json_object_get(spec, "pruner");
    if (json_is_object(pruner) && strcmp(json_str(pruner, "name", "none"), "none") != 0)
        printf("%-11s%s\n", "pruner", json_str(pruner, "name", "?"));
    const json_t *llm = json_object_get(reply, "llm");
    if (!json_is_object(llm))
        llm = json_object_get(reply, "llm_tokens");
    long long tin = json_int(llm, "tokens_in", -1), tout = json_int(llm, "tokens_out", -1);
    if (tin >= 0 && tout >= 0) {
        if (tin + tout > 0 || json_is_object(json_object_get(spec, "llm"))) {
            printf("%-11s%lld tokens (%lld in, %lld out)", "llm", tin + tout, tin, tout);
            if (json_num(llm, "cost_usd", 0) > 0)
                printf(", about $%.2f", json_num(llm, "cost_usd", 0));
            printf("\n");
        }
    } else {
        print_numbers("llm", llm);
    }
    json_decref(reply);
    if (several) {
        /* the front itself, as hpo best prints it */
        char *ppath = study_path(name, "/pareto");
        json_t *front = NULL;
        rc = cli_call(c, "GET", ppath, NULL, &front, NULL);
        free(ppath);
        if (rc != 0)
            return rc;
        printf("\n");
        print_front(front);
        json_decref(front);
    }
    return 0;
}

static int study_simple(struct cli *c, const char *verb, const char *name)
{
    char *path = study_path(name, NULL);
    json_t *reply;
    int rc;
    if (strcmp(verb, "delete") == 0) {
        rc = cli_call(c, "DELETE", path, NULL, &reply, NULL);
    } else {
        const char *state = strcmp(verb, "pause") == 0 ? "paused" : "running";
        json_t *body = json_pack("{s:s}", "state", state);
        rc = cli_call(c, "PATCH", path, body, &reply, NULL);
        json_decref(body);
    }
    free(path);
    if (rc == 0) {
        if (c->json)
            print_json(reply);
        else if (strcmp(verb, "delete") == 0)
            printf("deleted study %s\n", name);
        else
            printf("study %s %s\n", name,
                   json_str(reply, "state", verb[0] == 'p' ? "paused" : "running"));
    }
    json_decref(reply);
    return rc;
}

int cli_study(struct cli *c, int argc, char **argv)
{
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, NULL, pos, &npos);
    if (rc)
        return rc;
    if (npos < 1)
        return usage_error("study: say create, list, show, pause, resume or delete");
    const char *verb = pos[0];
    if (strcmp(verb, "list") == 0) {
        if (npos != 1)
            return usage_error("study list takes no arguments");
        return study_list(c);
    }
    static const char *const verbs[] = {"create", "show", "pause", "resume", "delete", NULL};
    bool known = false;
    for (int i = 0; verbs[i]; i++)
        known = known || strcmp(verb, verbs[i]) == 0;
    if (!known)
        return usage_error("study: unknown command \"%s\"", verb);
    if (npos != 2)
        return usage_error("study %s takes one argument (%s)", verb,
                           strcmp(verb, "create") == 0 ? "FILE" : "NAME");
    if (strcmp(verb, "create") == 0)
        return study_create(c, pos[1]);
    if (strcmp(verb, "show") == 0)
        return study_show(c, pos[1]);
    return study_simple(c, verb, pos[1]);
}

/* ---- trials ---- */

static int parse_count(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1)
        return -1;
    *out = v;
    return 0;
}

int cli_trials(struct cli *c, int argc, char **argv)
{
    const char *state = NULL, *limit_s = NULL;
    const struct opt opts[] = {{"--state", &state, NULL}, {"--limit", &limit_s, NULL}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return usage_error("trials takes one study NAME");
    long limit = 0;
    if (limit_s && parse_count(limit_s, &limit) < 0)
        return usage_error("trials: --limit must be a positive integer, got \"%s\"", limit_s);
    json_t *all = json_array();
    json_t *next = json_null();
    long long after = -1;
    for (;;) {
        long page = 100;
        if (limit > 0 && limit - (long)json_array_size(all) < page)
            page = limit - (long)json_array_size(all);
        char *path = study_path(pos[0], "/trials");
        struct buf q;
        buf_init(&q);
        buf_printf(&q, "%s?limit=%ld", path, page);
        free(path);
        if (state) {
            buf_puts(&q, "&state=");
            rest_escape(&q, state);
        }
        if (after >= 0)
            buf_printf(&q, "&after=%lld", after);
        json_t *reply;
        rc = cli_call(c, "GET", q.data, NULL, &reply, NULL);
        buf_release(&q);
        if (rc != 0)
            break;
        const json_t *list = json_is_array(reply) ? reply : json_object_get(reply, "trials");
        json_array_extend(all, (json_t *)list);
        json_t *na = json_object_get(reply, "next_after");
        json_decref(next);
        next = json_incref(na ? na : json_null());
        bool more = json_is_integer(na) && json_array_size(list) > 0 &&
                    (limit == 0 || (long)json_array_size(all) < limit);
        if (more)
            after = json_integer_value(na);
        json_decref(reply);
        if (!more)
            break;
    }
    if (rc == 0 && c->json) {
        json_t *out = json_pack("{s:O, s:O}", "trials", all, "next_after", next);
        print_json(out);
        json_decref(out);
    } else if (rc == 0) {
        static const char *const head[] = {"NUMBER", "STATE", "VALUE", "SOURCE", "PARAMS"};
        struct table *t = table_new(5, head);
        size_t i;
        json_t *tr;
        json_array_foreach(all, i, tr)
        {
            char num[32], value[40];
            snprintf(num, sizeof num, "%lld", json_int(tr, "number", -1));
            table_number(json_object_get(tr, "value"), value, sizeof value);
            char *params = table_params_text(json_object_get(tr, "params"), 40);
            const char *row[] = {num, json_str(tr, "state", NULL), value,
                                 json_str(tr, "source", NULL), params};
            table_add(t, row);
            free(params);
        }
        if (t && table_rows(t) > 0)
            table_print(t, stdout);
        else
            printf("no trials\n");
        table_free(t);
    }
    json_decref(all);
    json_decref(next);
    return rc;
}

/* ---- best ---- */

int cli_best(struct cli *c, int argc, char **argv)
{
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, NULL, pos, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return usage_error("best takes one study NAME");
    char *path = study_path(pos[0], "/best");
    json_t *reply;
    rc = cli_call(c, "GET", path, NULL, &reply, NULL);
    free(path);
    if (rc != 0)
        return rc;
    if (c->json) {
        print_json(reply);
        json_decref(reply);
        return 0;
    }
    if (json_is_true(json_object_get(reply, "pareto"))) {
        /* several objectives: the Pareto set, not one trial */
        print_front(reply);
        json_decref(reply);
        return 0;
    }
    const json_t *trial = json_object_get(reply, "trial");
    if (!json_is_object(trial))
        trial = reply;
    char value[40];
    table_number(json_object_get(trial, "value"), value, sizeof value);
    printf("trial %lld: value %s (%s", json_int(trial, "number", -1), value,
           json_str(trial, "state", "?"));
    if (json_str(trial, "source", NULL))
        printf(", source %s", json_str(trial, "source", ""));
    printf(")\n");
    const json_t *params = json_object_get(trial, "params");
    size_t width = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        if (strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach((json_t *)params, key, v)
    {
        char *text = template_value_text(v);
        if (text && strchr(text, '\n'))
            printf("  %s:\n%s\n", key, text);
        else
            printf("  %-*s  %s\n", (int)width, key, text ? text : "");
        free(text);
    }
    const json_t *values = json_object_get(trial, "values");
    if (json_is_object(values) && json_object_size(values) > 1)
        print_numbers("metrics", values);
    json_decref(reply);
    return 0;
}

/* ---- enqueue ---- */

json_t *cli_parse_value(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    return v ? v : json_string(text);
}

int cli_enqueue(struct cli *c, int argc, char **argv)
{
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, NULL, pos, &npos);
    if (rc)
        return rc;
    if (npos < 2)
        return usage_error("enqueue takes a study NAME and k=v parameters");
    json_t *params = json_object();
    for (int i = 1; i < npos; i++) {
        const char *eq = strchr(pos[i], '=');
        if (!eq || eq == pos[i]) {
            json_decref(params);
            return usage_error("enqueue: expected name=value, got \"%s\"", pos[i]);
        }
        char *name = strndup(pos[i], (size_t)(eq - pos[i]));
        json_object_set_new(params, name, cli_parse_value(eq + 1));
        free(name);
    }
    json_t *body = json_pack("{s:o}", "params", params);
    char *path = study_path(pos[0], "/trials");
    json_t *reply;
    rc = cli_call(c, "POST", path, body, &reply, NULL);
    free(path);
    json_decref(body);
    if (rc == 0) {
        const json_t *trial = json_object_get(reply, "trial");
        if (!json_is_object(trial))
            trial = reply;
        if (c->json)
            print_json(reply);
        else
            printf("enqueued trial %lld\n", json_int(trial, "number", -1));
    }
    json_decref(reply);
    return rc;
}

/* ---- note ---- */

int cli_note(struct cli *c, int argc, char **argv)
{
    const char *trial_s = NULL, *file = NULL;
    bool clear = false;
    const struct opt opts[] = {
        {"--trial", &trial_s, NULL}, {"--file", &file, NULL}, {"--clear", NULL, &clear}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos < 1 || npos > 2)
        return usage_error("note takes a study NAME and the TEXT (or --file F, or --clear)");
    if ((npos == 2) + (file != NULL) + clear != 1)
        return usage_error("note: give the TEXT, --file F or --clear, one of them");
    long number = -1;
    if (trial_s) {
        char *end;
        errno = 0;
        number = strtol(trial_s, &end, 10);
        if (errno || *end || end == trial_s || number < 0)
            return usage_error("note: --trial must be a trial number, got \"%s\"", trial_s);
    }
    struct buf text;
    buf_init(&text);
    if (file && read_all(file, &text) < 0) {
        fprintf(stderr, "hpo: cannot read %s%s%s: %s\n", strcmp(file, "-") ? "\"" : "",
                strcmp(file, "-") ? file : "standard input", strcmp(file, "-") ? "\"" : "",
                strerror(errno));
        buf_release(&text);
        return 1;
    }
    json_t *note = clear  ? json_null()
                   : file ? json_stringn(text.data ? text.data : "", text.len)
                          : json_string(pos[1]);
    buf_release(&text);
    if (!note) {
        fprintf(stderr, "hpo: note: the text is not UTF-8\n");
        return 1;
    }
    json_t *body = json_pack("{s:o}", "note", note);
    char suffix[64];
    if (number >= 0)
        snprintf(suffix, sizeof suffix, "/trials/%ld/note", number);
    else
        snprintf(suffix, sizeof suffix, "/note");
    char *path = study_path(pos[0], suffix);
    json_t *reply;
    rc = cli_call(c, "PUT", path, body, &reply, NULL);
    free(path);
    json_decref(body);
    if (rc == 0) {
        if (c->json)
            print_json(reply);
        else if (number >= 0)
            printf(json_is_string(json_object_get(reply, "note")) ? "note of trial %ld saved\n"
                                                                  : "note of trial %ld removed\n",
                   number);
        else
            printf(json_is_string(json_object_get(reply, "note")) ? "note of %s saved\n"
                                                                  : "note of %s removed\n",
                   pos[0]);
    }
    json_decref(reply);
    return rc;
}

/* ---- llm-log ---- */

static void print_text_block(const json_t *v)
{
    if (json_is_string(v)) {
        printf("%s\n", json_string_value(v));
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            const json_t *content = json_object_get(m, "content");
            if (json_is_object(m) && json_is_string(content))
                printf("[%s] %s\n", json_str(m, "role", "?"), json_string_value(content));
            else
                print_text_block(m);
        }
        return;
    }
    if (v && !json_is_null(v)) {
        json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
    }
}

/* One audit row of GET /studies/{name}/llm-calls (one HTTP exchange), as a
 * person reads it: a heading per proposal, the messages when they differ from
 * the previous exchange's, then the reasoning and the reply. */
static void print_llm_call(const json_t *call, const json_t *prev)
{
    long long proposal = json_int(call, "proposal", json_int(call, "id", 0));
    if (!prev || json_int(prev, "proposal", json_int(prev, "id", 0)) != proposal)
        printf("##### proposal %lld\n", proposal);
    const char *est = json_is_true(json_object_get(call, "tokens_estimated")) ? "~" : "";
    printf("=== call %lld (attempt %lld)  %s  %s/%s", json_int(call, "id", 0),
           json_int(call, "attempt", 1), json_str(call, "at", "?"), json_str(call, "provider", "?"),
           json_str(call, "model", json_str(call, "model_requested", "?")));
    const char *asked = json_str(call, "model_requested", NULL);
    const char *model = json_str(call, "model", NULL);
    if (asked && (!model || strcmp(asked, model)))
        printf(" (asked %s)", asked);
    const json_t *status = json_object_get(call, "status");
    if (json_is_integer(status))
        printf("  status %lld", (long long)json_integer_value(status));
    else
        printf("  no answer");
    printf("  tokens %s%lld in / %s%lld out%s  latency %.1f s", est, json_int(call, "tokens_in", 0),
           est, json_int(call, "tokens_out", 0), *est ? " (estimated)" : "",
           json_num(call, "latency_ms", 0) / 1000.0);
    const char *structured = json_str(call, "structured", NULL);
    if (structured)
        printf("  structured %s", structured);
    const json_t *trials = json_object_get(call, "trials");
    if (json_is_array(trials) && json_array_size(trials) > 0) {
        printf("  trials");
        size_t i;
        json_t *t;
        json_array_foreach(trials, i, t)
        {
            char *text = template_value_text(t);
            printf("%s %s", i ? "," : "", text ? text : "?");
            free(text);
        }
    }
    printf("\n");
    const json_t *params = json_object_get(call, "params");
    if (json_is_object(params) && json_object_size(params) > 0) {
        char *ptext = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("params: %s\n", ptext ? ptext : "?");
        free(ptext);
    }
    const char *error = json_str(call, "error", NULL);
    if (error && *error)
        printf("error: %s\n", error);
    const json_t *request = json_object_get(call, "request");
    if (!prev || !json_equal(request, json_object_get(prev, "request"))) {
        size_t i;
        json_t *m;
        json_array_foreach(request, i, m)
        {
            printf("--- %s\n", json_str(m, "role", "message"));
            print_text_block(json_object_get(m, "content"));
        }
    } else {
        printf("(the same messages as the call before)\n");
    }
    const json_t *reasoning = json_object_get(call, "reasoning");
    if (json_is_string(reasoning)) {
        printf("--- reasoning\n");
        print_text_block(reasoning);
    }
    printf("--- reply\n");
    print_text_block(json_object_get(call, "reply"));
    printf("\n");
}

int cli_llm_log(struct cli *c, int argc, char **argv)
{
    const char *limit_s = NULL;
    const struct opt opts[] = {{"--limit", &limit_s, NULL}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return usage_error("llm-log takes one study NAME");
    long limit = 0;
    if (limit_s && parse_count(limit_s, &limit) < 0)
        return usage_error("llm-log: --limit must be a positive integer, got \"%s\"", limit_s);
    json_t *all = json_array();
    long long after = -1;
    for (;;) {
        char *path = study_path(pos[0], "/llm-calls");
        struct buf q;
        buf_init(&q);
        buf_printf(&q, "%s?limit=100", path);
        free(path);
        if (after >= 0)
            buf_printf(&q, "&after=%lld", after);
        json_t *reply;
        rc = cli_call(c, "GET", q.data, NULL, &reply, NULL);
        buf_release(&q);
        if (rc != 0)
            break;
        const json_t *list = json_is_array(reply) ? reply : json_object_get(reply, "calls");
        if (!list)
            list = json_object_get(reply, "llm_calls");
        json_array_extend(all, (json_t *)list);
        json_t *na = json_object_get(reply, "next_after");
        bool more = json_is_integer(na) && json_array_size(list) > 0 &&
                    (limit == 0 || (long)json_array_size(all) < limit);
        if (more)
            after = json_integer_value(na);
        json_decref(reply);
        if (!more)
            break;
    }
    while (limit > 0 && (long)json_array_size(all) > limit)
        json_array_remove(all, json_array_size(all) - 1);
    if (rc == 0 && c->json) {
        json_t *out = json_pack("{s:O}", "calls", all);
        print_json(out);
        json_decref(out);
    } else if (rc == 0) {
        size_t i;
        json_t *call;
        json_array_foreach(all, i, call)
            print_llm_call(call, i ? json_array_get(all, i - 1) : NULL);
        if (json_array_size(all) == 0)
            printf("no LLM calls\n");
    }
    json_decref(all);
    return rc;
}

/* ---- report ---- */

static int report_direct(struct cli *c, const struct metricline *m, const char *trial_id,
                         const char *worker)
{
    /* no worker file: send it ourselves (a job run by another kind of worker) */
    const char *objective = NULL;
    json_t *study = NULL;
    const char *study_name = getenv("HPO_STUDY");
    if (study_name) {
        char *path = study_path(study_name, NULL);
        if (cli_call(c, "GET", path, NULL, &study, NULL) == 0)
            objective = json_str(json_object_get(spec_of(study), "objective"), "name", NULL);
        free(path);
    }
    double value;
    metricline_objective(m, objective, &value, NULL);
    json_t *values = metricline_values_json(m);
    json_t *body;
    const char *verb;
    if (m->final) {
        body = json_pack("{s:s, s:s, s:f, s:o}", "worker", worker, "state", "completed", "value",
                         value, "values", values);
        verb = "/complete";
    } else {
        body = json_pack("{s:s, s:I, s:f, s:o}", "worker", worker, "step",
                         (json_int_t)(m->has_step ? m->step : 0), "value", value, "values", values);
        verb = "/report";
    }
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/api/v1/trials/");
    rest_escape(&path, trial_id);
    buf_puts(&path, verb);
    json_t *reply;
    int rc = cli_call(c, "POST", path.data, body, &reply, NULL);
    if (rc == 0) {
        if (c->json)
            print_json(reply);
        else if (!m->final)
            printf("%s\n", json_str(reply, "action", "continue"));
    }
    json_decref(reply);
    json_decref(body);
    json_decref(study);
    buf_release(&path);
    return rc;
}

int cli_report(struct cli *c, int argc, char **argv)
{
    const char *step = NULL;
    bool final = false;
    const struct opt opts[] = {{"--step", &step, NULL}, {"--final", NULL, &final}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos < 1)
        return usage_error("report needs NAME=VALUE metrics");
    if (final && step)
        return usage_error("report: --final and --step do not go together");
    struct buf line;
    buf_init(&line);
    buf_puts(&line, "@hpo");
    if (final)
        buf_puts(&line, " final");
    if (step)
        buf_printf(&line, " step=%s", step);
    for (int i = 0; i < npos; i++) {
        if (strchr(pos[i], ' ') || strchr(pos[i], '\t') || strchr(pos[i], '\n') ||
            strcmp(pos[i], "final") == 0 || strncmp(pos[i], "step=", 5) == 0) {
            buf_release(&line);
            return usage_error("report: bad metric \"%s\"", pos[i]);
        }
        buf_printf(&line, " %s", pos[i]);
    }
    struct metricline m;
    metricline_init(&m);
    char err[256];
    if (metricline_parse(line.data, &m, err, sizeof err) != 1) {
        buf_release(&line);
        return usage_error("report: %s", err);
    }
    const char *file = getenv("HPO_REPORT_FILE");
    const char *trial_id = getenv("HPO_TRIAL_ID");
    const char *worker = getenv("HPO_WORKER");
    if (file && *file) {
        /* the worker reads this file and sends the reports (buffered, retried) */
        char *text = metricline_format(&m);
        struct buf out;
        buf_init(&out);
        buf_printf(&out, "%s\n", text ? text : "");
        free(text);
        int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, out.data, out.len) != (ssize_t)out.len) {
            fprintf(stderr, "hpo: cannot write \"%s\": %s\n", file, strerror(errno));
            rc = REST_UNREACHABLE;
        }
        if (fd >= 0)
            close(fd);
        buf_release(&out);
    } else if (trial_id && worker) {
        rc = report_direct(c, &m, trial_id, worker);
    } else {
        fprintf(stderr, "hpo: report works inside a trial run by hpo worker "
                        "(HPO_REPORT_FILE, or HPO_TRIAL_ID and HPO_WORKER, are not set)\n");
        rc = REST_USAGE;
    }
    metricline_release(&m);
    buf_release(&line);
    return rc;
}

/* One CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, f);
        return;
    }
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void csv_value(FILE *f, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    char *text = template_value_text(v);
    csv_field(f, text ? text : "");
    free(text);
}

/* The export as CSV: one row per trial, one column per parameter and metric. */
static void print_csv(const json_t *doc)
{
    const json_t *params = json_object_get(json_object_get(doc, "spec"), "params");
    const json_t *trials = json_object_get(doc, "trials");
    json_t *metrics = json_object(); /* names of all "values" keys, in first-seen order */
    size_t i;
    json_t *t, *p;
    json_array_foreach(trials, i, t)
    {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(t, "values"), k, v)
        {
            json_object_set_new(metrics, k, json_true());
        }
    }
    fputs("number,state,value,source,worker,attempts,created_at,started_at,finished_at", stdout);
    json_array_foreach(params, i, p)
    {
        fputc(',', stdout);
        csv_field(stdout, json_str(p, "name", ""));
    }
    const char *mk;
    json_t *mv;
    json_object_foreach(metrics, mk, mv)
    {
        fputs(",values.", stdout);
        csv_field(stdout, mk);
    }
    fputs(",error\n", stdout);
    json_array_foreach(trials, i, t)
    {
        static const char *const cols[] = {"number",     "state",      "value",
                                           "source",     "worker",     "attempts",
                                           "created_at", "started_at", "finished_at"};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            if (c)
                fputc(',', stdout);
            csv_value(stdout, json_object_get(t, cols[c]));
        }
        size_t j;
        json_array_foreach(params, j, p)
        {
            fputc(',', stdout);
            csv_value(stdout,
                      json_object_get(json_object_get(t, "params"), json_str(p, "name", "")));
        }
        json_object_foreach(metrics, mk, mv)
        {
            fputc(',', stdout);
            csv_value(stdout, json_object_get(json_object_get(t, "values"), mk));
        }
        fputc(',', stdout);
        csv_value(stdout, json_object_get(t, "error"));
        fputc('\n', stdout);
    }
    json_decref(metrics);
}

int cli_export(struct cli *c, int argc, char **argv)
{
    const char *format = NULL;
    const struct opt opts[] = {{"--format", &format, NULL}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return usage_error("export takes one study NAME");
    if (!format)
        format = "json";
    if (strcmp(format, "json") && strcmp(format, "csv"))
        return usage_error("export: --format must be json or csv, got \"%s\"", format);
    char *path = study_path(pos[0], "/export");
    json_t *doc;
    rc = cli_call(c, "GET", path, NULL, &doc, NULL);
    free(path);
    if (rc != 0)
        return rc;
    if (strcmp(format, "csv") == 0)
        print_csv(doc);
    else
        print_json(doc);
    json_decref(doc);
    return 0;
}

int cli_import(struct cli *c, int argc, char **argv)
{
    const char *name = NULL;
    const struct opt opts[] = {{"--name", &name, NULL}, {0}};
    char *pos[CLI_MAX_POS];
    int npos;
    int rc = parse_opts(c, argc, argv, opts, pos, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return usage_error("import takes one FILE (- for standard input), from hpo export");
    json_error_t je;
    json_t *doc =
        strcmp(pos[0], "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(pos[0], 0, &je);
    if (!doc) {
        fprintf(stderr, "hpo: %s: line %d column %d: %s\n", pos[0], je.line, je.column, je.text);
        return 2;
    }
    json_t *spec = json_object_get(doc, "spec");
    if (name && json_is_object(spec))
        json_object_set_new(spec, "name", json_string(name));
    json_t *reply;
    rc = cli_call(c, "POST", "/api/v1/studies/import", doc, &reply, NULL);
    json_decref(doc);
    if (rc != 0)
        return rc;
    if (c->json)
        print_json(reply);
    else
        printf("imported study %s: %lld trials\n", json_str(reply, "name", "?"),
               json_int(json_object_get(reply, "counts"), "completed", 0) +
                   json_int(json_object_get(reply, "counts"), "failed", 0) +
                   json_int(json_object_get(reply, "counts"), "pruned", 0) +
                   json_int(json_object_get(reply, "counts"), "pending", 0));
    json_decref(reply);
    return 0;
}
