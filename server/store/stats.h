#ifndef STATS_H
#define STATS_H

#include <stddef.h>

/* What /healthz and /metrics read from the database. */

struct db;

/* Trials of one study in one state. */
struct stats_trials {
    char *study; /* owned: the study's name */
    char *state; /* owned: the trial state */
    long long n; /* trials */
};

/* LLM tokens used by one study. */
struct stats_tokens {
    char *study;       /* owned: the study's name */
    long long in, out; /* prompt and completion tokens */
};

/* Everything /metrics shows from the database; release with stats_release. */
struct stats {
    struct stats_trials *trials; /* owned, n_trials of them, by study then state */
    size_t n_trials;             /* entries of trials */
    struct stats_tokens *tokens; /* owned, n_tokens of them, one per study */
    size_t n_tokens;             /* entries of tokens */
};

/* 0 when the database answers a query, -1 otherwise (db_errmsg() says why). */
int stats_ping(struct db *db);
/* Trial counts by study and state, and token use by study, into *out. 0, or
 * -1 with nothing to release (db_errmsg() says why). */
int stats_read(struct db *db, struct stats *out);
/* Free what stats_read filled; accepts an all-zero struct. */
void stats_release(struct stats *s);

#endif
