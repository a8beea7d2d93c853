#ifndef TEST_LLM_UTIL_H
#define TEST_LLM_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "prompt.h"
#include "spec.h"

/* Helpers shared by the LLM unit tests. */

/* Parse JSON text or fail the test. New reference. */
json_t *tl_json(const char *text);
/* A study spec built by hand (the spec parser lives in the daemon library):
 * params and llm are JSON texts (llm may be NULL). Free with tl_spec_free(). */
struct spec *tl_spec(const char *name, const char *description, const char *objective,
                     bool maximize, long max_trials, const char *params, const char *llm);
void tl_spec_free(struct spec *s);

/* A history whose trials own their params. */
struct tl_history {
    struct llm_history h;      /* the view handed to the code under test */
    struct llm_trial *done;    /* owned */
    struct llm_trial *pending; /* owned */
    size_t cap_done, cap_pending;
};
void tl_history_init(struct tl_history *t);
/* Add a finished trial: params JSON text, state, value, error (may be NULL), last step. */
void tl_history_done(struct tl_history *t, long number, const char *params, enum obs_state st,
                     double value, const char *error, long last_step);
/* Add a finished trial taking a JSON configuration (reference taken). */
void tl_history_done_json(struct tl_history *t, long number, json_t *params, enum obs_state st,
                          double value);
/* Give the last finished trial the reported metrics values (JSON text). */
void tl_history_values(struct tl_history *t, const char *values);
void tl_history_pending(struct tl_history *t, long number, const char *params);
void tl_history_release(struct tl_history *t);

/* The text of a file under the source tree (TOP_SRCDIR, else "."), or NULL. */
char *tl_read_src(const char *rel);
/* Compare text with a golden file; with HPOD_UPDATE_GOLDEN=1 rewrite it instead. */
void tl_golden(const char *rel, const char *text);

#endif
