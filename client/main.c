#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "worker.h"

static const char usage[] =
    "usage: hpo [--server URL] [--token T] [--json] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  study create FILE         create a study from a JSON spec (FILE may be -)\n"
    "  study list                all studies\n"
    "  study show NAME           state, progress, best trial, sampler, LLM use\n"
    "  study pause|resume NAME   stop or restart handing out trials\n"
    "  study delete NAME         remove a study and its trials\n"
    "  trials NAME [--state S] [--limit N]\n"
    "                            the study's trials\n"
    "  best NAME                 the best finished trial\n"
    "  enqueue NAME k=v ...      queue a trial with these parameters (values read as\n"
    "                            JSON when they parse, else as strings)\n"
    "  llm-log NAME [--limit N]  the LLM exchanges: prompt, reply, tokens, trials\n"
    "  note NAME [--trial N] TEXT | --file F | --clear\n"
    "                            write (or remove) the note of the study or of its\n"
    "                            trial N; F may be -\n"
    "  export NAME [--format json|csv]\n"
    "                            the study with every trial and its reports\n"
    "  import FILE [--name NEW]  recreate an exported study (FILE may be -)\n"
    "  report [--step N] NAME=VALUE ...\n"
    "  report --final NAME=VALUE ...\n"
    "                            from inside a trial: an intermediate or final result\n"
    "  worker --study NAME [--slots N] [--gpus 0,1] [--id ID] [--work-dir DIR]\n"
    "         [--max-trials N] [--wait S] [--grace S] [--allow-code]\n"
    "         [--sandbox bwrap|none] [--mem-limit MB] [--output-limit MB]\n"
    "         [--file-limit MB] [--max-procs N] -- CMD ARGS...\n"
    "                            run trials: CMD with {param}, {params_file} and\n"
    "                            {trial_dir} replaced, in a fresh trial directory;\n"
    "                            \"@hpo step=N metric=V\" and \"@hpo final metric=V\"\n"
    "                            lines on its stdout are its results; {x} that is\n"
    "                            not a parameter is left as is. The command runs in\n"
    "                            its trial directory: relative paths to existing\n"
    "                            files in CMD ARGS are made absolute first;\n"
    "                            hpo worker --help: every option with its default\n"
    "\n"
    "environment: HPO_SERVER (default http://127.0.0.1:8080), HPO_TOKEN,\n"
    "  HPO_CA_FILE (PEM certificates to trust for an https:// daemon, e.g. one\n"
    "  started with --tls-cert and its own certificate; https needs libcurl4)\n"
    "exit status: 0 ok, 1 the daemon refused, 2 usage error, 3 daemon unreachable\n";

int main(int argc, char **argv)
{
    const char *server = getenv("HPO_SERVER");
    const char *token = getenv("HPO_TOKEN");
    bool json = false;
    if (!server || !*server)
        server = "http://127.0.0.1:8080";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("hpo %s\n", PACKAGE_VERSION);
            return 0;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if ((strcmp(a, "--server") == 0 || strcmp(a, "--token") == 0) && i + 1 < argc) {
            if (a[2] == 's')
                server = argv[++i];
            else
                token = argv[++i];
        } else if (strncmp(a, "--server=", 9) == 0) {
            server = a + 9;
        } else if (strncmp(a, "--token=", 8) == 0) {
            token = a + 8;
        } else {
            fprintf(stderr, "hpo: unknown option \"%s\" (see hpo --help)\n", a);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    /* No HTTP set-up: the client (httpc_lite.c) speaks plain HTTP itself and loads
     * libcurl only at its first https:// request, so an idle worker stays small. */
    int rc;
    if (strcmp(cmd, "worker") == 0) {
        struct worker_opts o;
        char err[256];
        o.server = server;
        o.token = token;
        if (worker_parse(&o, argc - i, argv + i, err, sizeof err) < 0) {
            fprintf(stderr, "hpo: %s (see hpo worker --help)\n", err);
            rc = 2;
        } else if (o.help) {
            worker_opts_usage(stdout);
            rc = 0;
        } else {
            rc = worker_run(&o);
        }
        worker_opts_release(&o);
    } else {
        static const struct {
            const char *name;
            int (*fn)(struct cli *, int, char **);
        } cmds[] = {{"study", cli_study},     {"trials", cli_trials},   {"best", cli_best},
                    {"enqueue", cli_enqueue}, {"llm-log", cli_llm_log}, {"note", cli_note},
                    {"report", cli_report},   {"export", cli_export},   {"import", cli_import}};
        struct cli c;
        cli_init(&c, server, token);
        c.json = json;
        rc = -1;
        for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
            if (strcmp(cmd, cmds[k].name) == 0)
                rc = cmds[k].fn(&c, argc - i, argv + i);
        }
        if (rc < 0) {
            fprintf(stderr, "hpo: unknown command \"%s\" (see hpo --help)\n", cmd);
            rc = 2;
        }
        cli_release(&c);
    }
    return rc;
}
