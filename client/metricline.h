#ifndef METRICLINE_H
#define METRICLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* One "@hpo ..." metrics line printed by a training command (or written by
 * `hpo report`): "@hpo step=3 val_error=0.125 acc=0.9" is an intermediate
 * report, "@hpo final val_error=0.118" the result. */
struct metricline {
    bool final;     /* the word "final" was given */
    bool has_step;  /* "step=N" was given */
    long long step; /* N, a non-negative integer */
    size_t n;       /* number of name=value pairs, in the order given */
    char **names;   /* owned array of n owned names */
    double *values; /* owned array of n finite values */
};

/* Prepare an empty line. */
void metricline_init(struct metricline *m);
/* Free the pairs; the line may be initialised again. */
void metricline_release(struct metricline *m);

/* Parse text (one line, a trailing newline is ignored) into m, which must be
 * initialised; m is reset first. Returns 1 for a metrics line, 0 for any other
 * line (m left empty), -1 for a line that starts with "@hpo" but is malformed,
 * with a lower-case message quoting the bad token in err. A line must hold at
 * least one pair; values must be finite numbers; metric names are
 * [A-Za-z0-9_.:/-]{1,64}; a name given twice keeps its last value. */
int metricline_parse(const char *text, struct metricline *m, char *err, size_t errlen);

/* The value of the objective metric called objective (may be NULL), or of the
 * first pair when the line lacks it. False when the line has no pairs. The name
 * used is stored in *name (borrowed from m) when name is not NULL. */
bool metricline_objective(const struct metricline *m, const char *objective, double *value,
                          const char **name);

/* All pairs as a JSON object in the order given. New reference. */
json_t *metricline_values_json(const struct metricline *m);

/* Shortest text of v that reads back as the same double ("0.1", "1e-05",
 * "3"), into out (at least 32 bytes). */
void metricline_format_number(double v, char *out, size_t outlen);

/* Write m back as a metrics line ("@hpo [final] [step=N] name=value ...",
 * no newline). New allocation, caller frees. */
char *metricline_format(const struct metricline *m);

#endif
