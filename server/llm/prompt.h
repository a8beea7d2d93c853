#ifndef LLM_PROMPT_H
#define LLM_PROMPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sampler.h"
#include "spec.h"

/* The prompts that ask an LLM for configurations, following the structure of
 * Zhang et al. (a system line, then the task, the search space, the budget, the
 * metric, an instruction to explore, the answer format), with the history of the
 * study carried in one of two forms:
 *
 * - compressed (default): every call sends the system line and one user message
 *   holding the whole prompt, including one line per finished trial. On long
 *   studies only the keep_best best and keep_recent most recent trials are
 *   listed, so the prompt stops growing.
 * - chat: a conversation; the first user message is the prompt without history,
 *   then each finished trial is an assistant turn and a user turn with its
 *   outcome. The assistant turn replays the LLM's own reply that proposed the
 *   trial (reasoning lines included; <think> blocks left out; trials of one
 *   batch reply share one turn); a trial the LLM did not propose is told in a
 *   user turn as a result the user added; a trial of unknown origin shows
 *   its configuration as the assistant turn. On long studies the middle turns are
 *   dropped: the first message then lists the best of the dropped trials, and
 *   only the keep_recent most recent turns remain.
 *
 * Trials still being evaluated are listed as such in the last user message so
 * that parallel workers get different proposals. When the latest reply could
 * not be used, the last user message says why.
 *
 * Study template (the spec's llm.template): a string that replaces the default
 * first user message. These placeholders are replaced; any other text, braces
 * included, is kept as written:
 *
 *   {description}  the study's description
 *   {metric}       what the objective is called and which way is better
 *   {objective}    the objective's name alone, e.g. val_error
 *   {direction}    "minimize" or "maximize"
 *   {space}        the search space, one parameter per line (type, range, log
 *                  scale, choices, condition; code parameters with their
 *                  contract and baseline source)
 *   {budget}       a sentence with the total budget and what is left
 *   {trials_left}  the number of evaluations left, e.g. 37
 *   {max_trials}   the total budget, e.g. 100
 *   {history}      the finished trials, one per line (empty in chat form, where
 *                  results arrive as later turns)
 *   {pending}      the configurations being evaluated now (empty when none)
 *   {explore}      the instruction to explore other regions when stuck
 *   {format}       the answer format with an example (single, batch,
 *                  reasoning line)
 *
 * Several objectives or constraints (spec n_objectives > 1 or n_constraints
 * > 0): {metric} lists every objective with its direction and every
 * constraint with its bounds and says that the goal is the Pareto front. A
 * finished trial's outcome shows each objective and constraint metric from
 * its values, whether it is feasible (a constraint metric not reported counts
 * as violated) and "on the front" when it is; the history ends with the
 * current front (completed feasible trials that no other such trial matches
 * or beats on every objective) in place of the best trial, and on long
 * studies the front trials are the ones kept first. The instruction asks for
 * configurations that extend the front, and the format for an "aim" string in
 * each configuration: the trade-off it aims at (reply.h drops it from the
 * configuration; it stays in the reply kept in the audit log).
 *
 * A template without {format} gets the format appended, since replies that
 * ignore it are rejected. Runs of blank lines left by empty placeholders are
 * collapsed.
 *
 * Code parameters (the paper's "code as a hyperparameter"): the space lists
 * each with its language, contract, required symbols, size limit and the
 * baseline source in a fenced block. The answer format asks for a placeholder
 * "<<code:NAME>>" in the JSON and the complete source after it in a fenced
 * block labelled with the language: models write code in fences readily and
 * without the escaping errors of long JSON strings (a JSON string is accepted
 * too, see reply.h). Since the reply is then not pure JSON, such studies are
 * asked without the provider's JSON mode. In the history, a trial's code is
 * written as <baseline>, <same as #N>, or <source below> followed by the
 * source in a fenced block (for the best trial and the CODE_SHOWN most recent
 * ones with new code; the others give its size only), and a failure keeps its
 * error text with its lines (the reason and the end of stderr, e.g. a Python
 * traceback), cut in the middle when long. */

enum llm_history_mode { LLM_HISTORY_COMPRESSED, LLM_HISTORY_CHAT };

/* Who proposed a trial, as the chat history shows it. */
enum llm_origin {
    LLM_ORIGIN_UNKNOWN, /* not said: its configuration is shown as an assistant turn */
    LLM_ORIGIN_LLM,     /* an LLM reply: that reply is replayed verbatim */
    LLM_ORIGIN_OTHER,   /* fallback, classical sampler or a person: a result the user adds */
};

/* A finished or pending trial as the prompt shows it. */
struct llm_trial {
    const json_t *params;   /* borrowed normalised configuration */
    enum obs_state state;   /* completed, pruned, failed, or pending */
    double value;           /* objective as reported, not oriented; for pruned the last
                               reported value; NAN when none */
    long number;            /* trial number within the study */
    const char *error;      /* failed: borrowed error text, or NULL */
    long last_step;         /* pruned: last reported step, or -1 */
    enum llm_origin origin; /* who proposed it (chat history) */
    const char *reply;      /* LLM_ORIGIN_LLM: borrowed reply text it came from */
    const json_t *values;   /* borrowed metrics reported with the result, by name, or NULL:
                               studies with several objectives or constraints read their
                               objectives and constraint metrics here */
};

/* What the study has seen so far. */
struct llm_history {
    const struct llm_trial *done;    /* finished trials, ordered by number */
    size_t n_done;                   /* entries in done */
    const struct llm_trial *pending; /* trials pending or running */
    size_t n_pending;                /* entries in pending */
    const char *rejected_reason;     /* borrowed: why the latest LLM reply gave no usable
                                        configuration (told in the next prompt), or NULL */
};

/* Fill h from a sampler context's finished and pending trials (ctx borrowed;
 * params stay borrowed from it): values are turned back to the objective's own
 * sign (struct obs values are negated for maximized studies). error and
 * last_step are left empty (NULL, -1) for the caller to add from its store.
 * 0, or -1 when out of memory. Release with llm_history_release(). */
int llm_history_from_obs(struct llm_history *h, const struct sampler_ctx *ctx, bool maximize);
/* Free the arrays llm_history_from_obs() made; accepts an empty history. */
void llm_history_release(struct llm_history *h);

/* The prompt settings of a study, from its "llm" object. */
struct llm_prompt_opts {
    enum llm_history_mode history; /* llm.history: "compressed" or "chat" */
    bool reasoning;                /* llm.reasoning: a line of analysis before the JSON */
    size_t batch;                  /* llm.batch: configurations per call (1..32) */
    size_t keep_best;              /* llm.keep_best: best trials kept on long studies (10) */
    size_t keep_recent;            /* llm.keep_recent: recent trials kept (20) */
    const char *template_text;     /* llm.template (borrowed from the spec), or NULL */
    bool schema_answer;            /* the provider constrains the answer to the space's JSON
                                      Schema: the format asks for code as JSON strings and the
                                      analysis in a "reasoning" field (not from the spec) */
};

/* Read and check the prompt settings in llm (the spec's "llm" object, borrowed;
 * NULL gives the defaults). template_text borrows from llm. Returns 0, or -1
 * with a message naming the field ("llm.history: must be \"compressed\" or
 * \"chat\""); spec validation may call this too. */
int llm_prompt_opts_parse(const json_t *llm, struct llm_prompt_opts *o, char *err, size_t errlen);

/* The messages for the next call: a new JSON array of {"role", "content"}
 * objects, the first with role "system". The number of evaluations left is
 * max_trials minus the finished and pending trials. NULL with err on failure. */
json_t *llm_prompt_build(const struct spec *spec, const struct llm_prompt_opts *o,
                         const struct llm_history *h, char *err, size_t errlen);

/* Append to messages (borrowed, modified) the invalid reply (reply text) as an
 * assistant turn and a user turn asking again because of reason, restating
 * the format (with the code blocks when spec, which may be NULL, has code
 * parameters). 0 or -1. */
int llm_prompt_reask(json_t *messages, const struct spec *spec, const struct llm_prompt_opts *o,
                     const char *reply, const char *reason);

/* Whether the prompts of spec present several objectives or constraints (a
 * Pareto front) and ask for an "aim" with each configuration. */
bool llm_prompt_multi(const struct spec *spec);

/* Total characters of the message contents (to measure prompt size). */
size_t llm_prompt_size(const json_t *messages);

#endif
