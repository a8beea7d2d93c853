#ifndef DBCHECK_H
#define DBCHECK_H

#include <stddef.h>

/* "hpod check FILE": a database checked without changing it. SQLite's own
 * PRAGMA integrity_check and foreign_key_check, then the invariants of hpod's
 * schema that SQLite cannot enforce: a finished trial has its finish time, a
 * completed one its value, a pending or running one none; a running trial
 * has a lease (holder and deadline) and no other has one; a study's
 * next_number is above the number of each of its trials; params are JSON. */

/* Called once per finding with one line of text (borrowed). */
typedef void (*check_finding_fn)(void *arg, const char *text);

/* Open path read-only (never creating it) and check it, telling finding of
 * each problem. The number of findings, or -1 when the file cannot be read as
 * a database at all (err says why). */
long check_database(const char *path, check_finding_fn finding, void *arg, char *err,
                    size_t errlen);

#endif
