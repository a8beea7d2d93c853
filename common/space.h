#ifndef SPACE_H
#define SPACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The search space of a study: an ordered list of typed parameters, some active
 * only for given values of an earlier one. Parsed once from the spec's "params". */

enum param_type { PARAM_FLOAT, PARAM_INT, PARAM_CATEGORICAL, PARAM_CODE };

struct param {
    char *name;           /* owned; [A-Za-z0-9_.-]{1,64} */
    enum param_type type; /* kind of value */
    double low, high;     /* float and int: inclusive bounds, low < high */
    bool log;             /* float and int: sampled uniformly in log space */
    double step;          /* float and int: grid step from low, 0 for none (int: 1 by default) */
    json_t *choices;      /* categorical: owned array of strings, numbers or booleans */
    char *language;       /* code: owned language tag, e.g. "python" */
    char *contract;       /* code: owned text stating what the code must define */
    char *baseline;       /* code: owned source used when no LLM writes one */
    json_t *requires;     /* code: owned array of symbol names the code must contain, or NULL */
    size_t max_bytes;     /* code: size limit of the source (default 65536) */
    int parent;           /* index of the earlier parameter named by "when", or -1 */
    json_t *when_values;  /* owned array of parent values that make this one active, or NULL */
};

struct space {
    struct param *params; /* owned array of n */
    size_t n;             /* number of parameters */
};

/* Parse the spec's "params" array (borrowed). On error returns NULL and writes a
 * lower-case message naming the field, e.g. "params[2].low: must be below high". */
struct space *space_parse(const json_t *params, char *err, size_t errlen);
/* Free a space; accepts NULL. */
void space_free(struct space *s);
/* The parameter called name (and its index in *index if not NULL), or NULL. */
const struct param *space_find(const struct space *s, const char *name, size_t *index);
/* Whether parameter i is active in config (borrowed), given its parent's value. */
bool space_active(const struct space *s, size_t i, const json_t *config);
/* Check a concrete configuration (borrowed) against the space. Returns a new,
 * normalised copy (ints as JSON integers, floats as reals, categorical values as
 * the canonical choice) or NULL with a message naming the parameter. Every active
 * parameter must be present, every inactive one absent (null counts as absent
 * and is dropped), no unknown names. Floats within 1e-12 relative of a bound are
 * clamped; stepped values within 1e-9 of a grid point are snapped to it. */
json_t *space_check(const struct space *s, const json_t *config, char *err, size_t errlen);

/* Map a value (borrowed) of p into [0, 1]: floats and ints through log space when
 * log is set, categorical choice i of n to (i + 0.5) / n, code to 0.5. Ints and
 * stepped floats own equal cells (in log space for log ints) with the value at the
 * centre, so param_from_unit(p, param_to_unit(p, v)) gives v back. */
double param_to_unit(const struct param *p, const json_t *value);
/* The value of p at u in [0, 1] (clamped): floats and ints snapped to the step
 * grid and kept in bounds, categorical choice floor(u * n), code the baseline.
 * New reference. */
json_t *param_from_unit(const struct param *p, double u);
/* Index of value (borrowed) among p's choices, or -1. */
int param_choice_index(const struct param *p, const json_t *value);
/* Build a configuration from one unit coordinate per parameter (u has s->n
 * entries); inactive parameters are left out. New reference. */
json_t *space_from_unit(const struct space *s, const double *u);
/* Human-readable one-line description of p ("float in [0.001, 1000], log scale"),
 * for prompts and tables. New allocation, caller frees. */
char *param_describe(const struct param *p);
/* The condition of parameter i as text ("only when kernel is \"poly\""), or NULL
 * when it is always active. New allocation, caller frees. */
char *space_describe_when(const struct space *s, size_t i);

#endif
