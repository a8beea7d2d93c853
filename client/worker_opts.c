#include <config.h>
#include "worker_opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int split_gpus(struct worker_opts *o, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        char **grown = realloc(o->gpus, (size_t)(o->n_gpus + 1) * sizeof *grown);
        if (!grown) {
            free(copy);
            return -1;
        }
        o->gpus = grown;
        o->gpus[o->n_gpus] = strdup(tok);
        if (!o->gpus[o->n_gpus]) {
            free(copy);
            return -1;
        }
        o->n_gpus++;
    }
    free(copy);
    return 0;
}

int worker_parse(struct worker_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    o->study = NULL;
    o->slots = 0;
    o->gpus = NULL;
    o->n_gpus = 0;
    o->id = NULL;
    o->work_dir = "hpo-trials";
    o->max_trials = 0;
    o->wait_s = 20;
    o->grace_s = 10;
    o->cmd = NULL;
    o->n_cmd = 0;
    o->allow_code = false;
    o->keep_leases = false;
    o->sandbox = WORKER_SANDBOX_AUTO;
    o->mem_limit_mb = 4096;
    o->output_limit_mb = 64;
    o->echo_limit_mb = 64;
    o->report_rate = 5;
    o->file_limit_mb = 1024;
    o->max_procs = 256;
    o->help = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-') {
            snprintf(err, errlen,
                     "worker: unexpected argument \"%s\" (the command goes after \"--\")", a);
            return -1;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
            return 0;
        }
        if (strcmp(a, "--allow-code") == 0) {
            o->allow_code = true;
            continue;
        }
        if (strcmp(a, "--keep-leases") == 0) {
            o->keep_leases = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        char name[32];
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) {
            snprintf(err, errlen, "worker: unknown option \"%s\"", a);
            return -1;
        }
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        static const char *const with_value[] = {"--study",        "--slots",       "--gpus",
                                                 "--id",           "--work-dir",    "--max-trials",
                                                 "--wait",         "--grace",       "--server",
                                                 "--token",        "--sandbox",     "--mem-limit",
                                                 "--output-limit", "--file-limit",  "--max-procs",
                                                 "--echo-limit",   "--report-rate", NULL};
        bool known = false;
        for (int k = 0; with_value[k]; k++)
            known = known || strcmp(name, with_value[k]) == 0;
        if (!known) {
            snprintf(err, errlen, "worker: unknown option \"%s\"", a);
            return -1;
        }
        if (!val) {
            snprintf(err, errlen, "worker: option \"%s\" needs a value", name);
            return -1;
        }
        if (!eq)
            i++;
        long l;
        double d;
        if (strcmp(name, "--study") == 0) {
            o->study = val;
        } else if (strcmp(name, "--server") == 0) {
            o->server = val;
        } else if (strcmp(name, "--token") == 0) {
            o->token = val;
        } else if (strcmp(name, "--id") == 0) {
            if (!*val || strlen(val) > 120) {
                snprintf(err, errlen, "worker: bad --id \"%s\"", val);
                return -1;
            }
            o->id = val;
        } else if (strcmp(name, "--work-dir") == 0) {
            o->work_dir = val;
        } else if (strcmp(name, "--gpus") == 0) {
            if (split_gpus(o, val) < 0 || o->n_gpus == 0) {
                snprintf(err, errlen, "worker: bad --gpus \"%s\" (e.g. 0,1)", val);
                return -1;
            }
        } else if (strcmp(name, "--slots") == 0) {
            if (parse_long(val, &l) < 0 || l < 1 || l > 1024) {
                snprintf(err, errlen, "worker: --slots must be 1 to 1024, got \"%s\"", val);
                return -1;
            }
            o->slots = (int)l;
        } else if (strcmp(name, "--max-trials") == 0) {
            if (parse_long(val, &l) < 0 || l < 1) {
                snprintf(err, errlen, "worker: --max-trials must be a positive integer, got \"%s\"",
                         val);
                return -1;
            }
            o->max_trials = l;
        } else if (strcmp(name, "--wait") == 0) {
            if (parse_double(val, &d) < 0 || d > 3600) {
                snprintf(err, errlen, "worker: --wait must be 0 to 3600 seconds, got \"%s\"", val);
                return -1;
            }
            o->wait_s = d;
        } else if (strcmp(name, "--sandbox") == 0) {
            if (strcmp(val, "bwrap") == 0) {
                o->sandbox = WORKER_SANDBOX_BWRAP;
            } else if (strcmp(val, "none") == 0) {
                o->sandbox = WORKER_SANDBOX_NONE;
            } else {
                snprintf(err, errlen, "worker: --sandbox must be bwrap or none, got \"%s\"", val);
                return -1;
            }
        } else if (strcmp(name, "--mem-limit") == 0 || strcmp(name, "--output-limit") == 0 ||
                   strcmp(name, "--file-limit") == 0 || strcmp(name, "--max-procs") == 0) {
            bool zero_ok = strcmp(name, "--output-limit") != 0 && strcmp(name, "--max-procs") != 0;
            if (parse_long(val, &l) < 0 || (l == 0 && !zero_ok) || l > 16L * 1024 * 1024) {
                snprintf(err, errlen, "worker: %s must be a %s integer, got \"%s\"", name,
                         zero_ok ? "non-negative" : "positive", val);
                return -1;
            }
            if (strcmp(name, "--mem-limit") == 0)
                o->mem_limit_mb = l;
            else if (strcmp(name, "--output-limit") == 0)
                o->output_limit_mb = l;
            else if (strcmp(name, "--file-limit") == 0)
                o->file_limit_mb = l;
            else
                o->max_procs = l;
        } else if (strcmp(name, "--echo-limit") == 0 || strcmp(name, "--report-rate") == 0) {
            if (parse_long(val, &l) < 0 || l < 0 || l > 16L * 1024 * 1024) {
                snprintf(err, errlen, "worker: %s must be a non-negative integer, got \"%s\"", name,
                         val);
                return -1;
            }
            if (strcmp(name, "--echo-limit") == 0)
                o->echo_limit_mb = l;
            else
                o->report_rate = l;
        } else if (strcmp(name, "--grace") == 0) {
            if (parse_double(val, &d) < 0 || d > 86400) {
                snprintf(err, errlen, "worker: --grace must be a number of seconds, got \"%s\"",
                         val);
                return -1;
            }
            o->grace_s = d;
        }
    }
    if (!o->study) {
        snprintf(err, errlen, "worker: --study NAME is required");
        return -1;
    }
    if (i >= argc) {
        snprintf(err, errlen, "worker: no command given (hpo worker --study NAME -- CMD ARGS...)");
        return -1;
    }
    o->cmd = argv + i;
    o->n_cmd = argc - i;
    if (o->slots == 0)
        o->slots = o->n_gpus > 0 ? o->n_gpus : 1;
    return 0;
}

void worker_opts_release(struct worker_opts *o)
{
    for (int i = 0; i < o->n_gpus; i++)
        free(o->gpus[i]);
    free(o->gpus);
    o->gpus = NULL;
    o->n_gpus = 0;
}

static const char usage[] =
    "usage: hpo [--server URL] [--token T] worker --study NAME [OPTIONS] -- CMD ARGS...\n"
    "\n"
    "Ask hpod for trials of the study and run CMD for each, in a fresh trial\n"
    "directory, until the study finishes. In CMD ARGS, {param} is replaced by the\n"
    "parameter's value, {params_file} and {trial_dir} by their paths; {x} that is\n"
    "not a parameter is left as is. Relative paths to existing files are made\n"
    "absolute first. \"@hpo step=N metric=V\" and \"@hpo final metric=V\" lines on\n"
    "CMD's stdout (or `hpo report` inside the trial) are its results.\n"
    "\n"
    "options:\n"
    "  --study NAME        the study (required)\n"
    "  --slots N           trials at once, 1 to 1024 (default 1, or one per GPU)\n"
    "  --gpus LIST         devices, e.g. 0,1: CUDA_VISIBLE_DEVICES per slot\n"
    "  --id ID             worker identity (default HOSTNAME-PID); a worker restarted\n"
    "                      with the same id gets its running trials back\n"
    "  --work-dir DIR      where trial directories go (default hpo-trials)\n"
    "  --max-trials N      stop after starting N trials (default: no limit)\n"
    "  --wait S            long-poll time of each request for a trial, 0 to 3600\n"
    "                      seconds (default 20; hpod caps it at its max_wait_s).\n"
    "                      While the study runs but has no trial ready (its LLM is\n"
    "                      still answering, all trials are out) the request is\n"
    "                      asked again at once, however long that takes\n"
    "  --grace S           from SIGTERM to SIGKILL when a trial is stopped (default 10)\n"
    "  --keep-leases       on SIGTERM or SIGINT stop the running trials without\n"
    "                      failing them: the same --id gets them back when it starts\n"
    "                      again, or hpod requeues them when their leases run out\n"
    "                      (a batch scheduler's preemption, requeue or time limit)\n"
    "  --allow-code        run trials whose parameters include code an LLM wrote\n"
    "  --sandbox bwrap|none\n"
    "                      bwrap: every trial in the bubblewrap sandbox; none: no\n"
    "                      sandbox (default: bwrap for trials with code only)\n"
    "  --mem-limit MB      address space of a confined trial (default 4096, 0 none)\n"
    "  --output-limit MB   stdout + stderr of a confined trial (default 64)\n"
    "  --file-limit MB     largest file a confined trial writes (default 1024, 0 none)\n"
    "  --max-procs N       processes a confined trial may add (default 256)\n"
    "  --echo-limit MB     output of a trial shown on the console (default 64, 0 no\n"
    "                      limit); past it the rest is dropped with one notice and\n"
    "                      the trial runs on (its @hpo lines still count)\n"
    "  --report-rate N     intermediate reports sent per second per trial (default 5,\n"
    "                      0 no limit); faster \"@hpo step=\" lines are coalesced: the\n"
    "                      latest step is sent when its turn comes, the final always\n"
    "  --server URL, --token T\n"
    "                      as before the command (HPO_SERVER, HPO_TOKEN)\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 the study finished or the worker was stopped, 1 the daemon\n"
    "refused (e.g. unknown study), 2 usage error or the study's code refused\n";

void worker_opts_usage(FILE *f)
{
    fputs(usage, f);
}
