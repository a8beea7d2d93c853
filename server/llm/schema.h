#ifndef LLM_SCHEMA_H
#define LLM_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "space.h"

/* The JSON Schema of a valid answer, made from a study's search space, for
 * providers that constrain their output to a schema (structured outputs, a
 * forced tool call).
 *
 * One configuration is an object with one property per parameter: float as
 * "number" and int as "integer", both with minimum and maximum (log scale and
 * step in the description); categorical as an "enum" of its choices (whatever
 * their JSON types); code as a "string" holding the whole source (maxLength
 * the size limit). Unconditional parameters are required. A parameter with a
 * condition ("when") is optional, and an "allOf" of if/then/else clauses makes
 * it required when its parent takes one of the listed values and forbidden
 * otherwise. No other property is allowed.
 *
 * The answer is one configuration, or with batch > 1 {"configs": [...]} with
 * exactly batch items. With reasoning, a required "reasoning" string comes
 * first, at the top level (the paper's line of analysis before the answer).
 * With aim (studies with several objectives or constraints), each
 * configuration also requires an "aim" string, its first property: the
 * trade-off between the objectives it aims at. */

struct llm_schema_opts {
    size_t batch;   /* configurations per answer (1 = a bare configuration) */
    bool reasoning; /* a "reasoning" string before the answer */
    bool aim;       /* an "aim" string in each configuration */
};

/* The schema (new reference), or NULL when out of memory. *strict_ok (may be
 * NULL) tells whether it fits OpenAI's strict mode (no conditional
 * parameters: every property required). */
json_t *llm_schema_build(const struct space *s, const struct llm_schema_opts *o, bool *strict_ok);

#endif
