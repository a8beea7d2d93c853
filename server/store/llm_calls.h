#ifndef STORE_LLM_CALLS_H
#define STORE_LLM_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* The LLM audit log (table llm_calls): one row per HTTP exchange with a
 * provider, grouped by the proposal it served (proposal = the id of the
 * proposal's first exchange), with the trials created from the proposal's
 * answer listed on the row that gave it. Text fields are stored as given: the
 * caller redacts API keys before. */

/* One exchange to store (all pointers borrowed; NULL stores SQL NULL). */
struct llm_call_rec {
    const char *provider;        /* provider name */
    const char *model;           /* model that answered, or NULL */
    const char *model_requested; /* model asked for */
    const char *messages;        /* JSON text of the messages sent */
    const char *body;            /* JSON text of the request body, or NULL */
    const char *params;          /* JSON text of the request parameters, or NULL */
    const char *structured;      /* output constraint sent, or NULL */
    const char *reply;           /* reply verbatim, or NULL */
    const char *reasoning;       /* reasoning text, or NULL */
    const char *error;           /* error, or NULL */
    long tokens_in;              /* prompt tokens */
    long tokens_out;             /* completion tokens */
    bool tokens_estimated;       /* counts are estimates */
    int64_t at_ms;               /* start, ms since the epoch */
    long latency_ms;             /* duration */
    long status;                 /* HTTP status, 0 when none */
    int attempt;                 /* 1, 2, ... within the proposal */
    int configs;                 /* configurations accepted from the reply */
};

/* One stored row, as read back (strings owned by the row). */
struct llm_call_row {
    long long id;          /* row id */
    long long proposal;    /* id of the proposal's first row */
    int attempt;           /* place in the proposal */
    int64_t at_ms;         /* start, ms since the epoch */
    char *provider;        /* owned */
    char *model;           /* owned, or NULL */
    char *model_requested; /* owned, or NULL (rows older than the column) */
    char *messages;        /* owned JSON text */
    char *body;            /* owned JSON text, or NULL */
    char *params;          /* owned JSON text, or NULL */
    char *structured;      /* owned, or NULL */
    char *reply;           /* owned, or NULL */
    char *reasoning;       /* owned, or NULL */
    char *error;           /* owned, or NULL */
    char *trials;          /* owned JSON text: array of trial numbers */
    long tokens_in;        /* prompt tokens */
    long tokens_out;       /* completion tokens */
    bool tokens_estimated; /* counts are estimates */
    long latency_ms;       /* duration */
    long status;           /* HTTP status, 0 when none */
    int configs;           /* configurations accepted from the reply */
};

/* Store the n exchanges of one proposal of study_id (n >= 1) and add tokens_in,
 * tokens_out and cost to the study's totals, in one transaction. *last_id gets
 * the row id of the last exchange (the one whose reply the trials came from).
 * 0, or -1 (nothing stored; db_errmsg() tells why). */
int store_llm_calls_add(struct db *db, long long study_id, const struct llm_call_rec *recs,
                        size_t n, long tokens_in, long tokens_out, double cost, long long *last_id);

/* Rows of study_id with id > after, by id, at most limit: a new array in *rows
 * (free with store_llm_call_rows_free()), its length in *n, and whether more
 * follow in *more. 0 or -1. */
int store_llm_calls_page(struct db *db, long long study_id, long long after, long limit,
                         struct llm_call_row **rows, size_t *n, bool *more);
/* Free rows from store_llm_calls_page(); accepts NULL. */
void store_llm_call_rows_free(struct llm_call_row *rows, size_t n);

/* List trial number on row call_id (in the caller's transaction). 0 or -1. */
int store_llm_call_add_trial(struct db *db, long long call_id, long long number);

/* The reply that produced a trial: for chat history. */
struct llm_trial_reply {
    long long number; /* trial number */
    char *reply;      /* owned reply verbatim */
};

/* What the LLM said about study_id, for its next prompt: for each trial an
 * LLM proposal created, the reply it came from (new array in *replies, length
 * *n), and when the study's latest proposal ended with no configuration
 * because its reply was invalid (its last row's error reads "invalid reply:
 * REASON"), that reply and REASON (new strings in *rejected_reply and
 * *rejected_reason, else NULL). Free with
 * store_llm_history_free(). 0 or -1. */
int store_llm_history(struct db *db, long long study_id, struct llm_trial_reply **replies,
                      size_t *n, char **rejected_reply, char **rejected_reason);
/* Free what store_llm_history() made; accepts NULL. */
void store_llm_history_free(struct llm_trial_reply *replies, size_t n, char *rejected_reply,
                            char *rejected_reason);

#endif
