#ifndef CLI_H
#define CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "httpc.h"

/* The `hpo` subcommands that talk to hpod for a person or a script: study,
 * trials, best, enqueue, llm-log and report. Each returns the process exit
 * status: 0 ok, 1 the daemon said no (its message printed as "hpo: MESSAGE"),
 * 2 usage error, 3 daemon unreachable. */
struct cli {
    const char *server; /* daemon base URL (borrowed) */
    const char *token;  /* bearer token (borrowed) or NULL */
    bool json;          /* print the daemon's JSON instead of tables */
    struct httpc *http; /* owned client, made on first use */
};

/* Prepare c for server and token (borrowed). */
void cli_init(struct cli *c, const char *server, const char *token);
/* Free the client. */
void cli_release(struct cli *c);

/* Each takes the words from the subcommand's name on (argv[0] is e.g. "study"). */
int cli_study(struct cli *c, int argc, char **argv);
int cli_trials(struct cli *c, int argc, char **argv);
int cli_best(struct cli *c, int argc, char **argv);
int cli_enqueue(struct cli *c, int argc, char **argv);
int cli_llm_log(struct cli *c, int argc, char **argv);
/* hpo note NAME [--trial N] TEXT | --file F | --clear */
int cli_note(struct cli *c, int argc, char **argv);
int cli_report(struct cli *c, int argc, char **argv);
/* hpo export NAME [--format json|csv]: the study with every trial and report. */
int cli_export(struct cli *c, int argc, char **argv);
/* hpo import FILE [--name NEW]: recreate an exported study on this daemon. */
int cli_import(struct cli *c, int argc, char **argv);

/* The value of a "k=v" word for enqueue: v parsed as JSON when it is valid
 * JSON (1, 0.5, true, "x", [1]), otherwise v as a string. New reference. */
json_t *cli_parse_value(const char *text);

#endif
