#ifndef LLM_HIST_H
#define LLM_HIST_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"

/* What the LLM threads read of the studies they serve, beyond the trials
 * themselves (history_load() reads those): which studies run, where a
 * study stands, and why its failed and pruned trials ended, for the prompt.
 * Each function is one transaction. */

/* Where a study stands. */
struct llm_numbers {
    long long next_number; /* the number the next trial gets */
    long long tokens_used; /* LLM tokens spent so far, in and out */
    long long outstanding; /* trials pending or running */
};

/* Why a failed or pruned trial ended. */
struct llm_trial_note {
    long long number;    /* trial number */
    char *error;         /* owned error text, "" when none */
    long long last_step; /* last reported step, -1 when none */
};

/* The notes of a study's failed and pruned trials, by number. */
struct llm_trial_notes {
    struct llm_trial_note *v; /* owned array */
    size_t n;                 /* entries in v */
};

/* The row ids of the running studies, in id order: *ids (new array, free()
 * it) and *n. 0, or -1 on a database error (nothing to free). */
int store_running_study_ids(struct db *db, long long **ids, size_t *n);
/* Fill out for study id. 0, or -1 on a database error or an unknown study. */
int store_llm_numbers(struct db *db, long long study_id, struct llm_numbers *out);
/* Fill out (release it with store_llm_notes_release() in every case). 0, or
 * -1 on a database error. */
int store_llm_trial_notes(struct db *db, long long study_id, struct llm_trial_notes *out);
/* Free what notes owns; the struct may be filled again. */
void store_llm_notes_release(struct llm_trial_notes *notes);
/* The metrics each completed or pruned trial of study_id reported with its
 * result, for the prompts of studies with several objectives or constraints:
 * a new object in *out mapping the trial number (as a string) to its values
 * object; trials with no values, or values that do not parse as an object,
 * are left out. 0, or -1 on a database error or when out of memory (then
 * *out is NULL). */
int store_llm_trial_values(struct db *db, long long study_id, json_t **out);

#endif
