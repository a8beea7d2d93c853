#ifndef LLM_REPLY_H
#define LLM_REPLY_H

#include <jansson.h>
#include <stddef.h>

#include "llm/prompt.h"
#include "space.h"

/* Reading an LLM's reply: find the JSON in it (bare, in a ``` fence, after a line
 * of analysis or inside prose; the last JSON value that looks like an answer
 * wins), accept one configuration object, an array of them, or
 * {"configs": [...]}, check each against the space and reject repeats of
 * finished or pending trials and of each other. Lenient where the intent is
 * clear: a parameter whose condition does not hold is dropped rather than
 * rejected, and a value near a declared step grid is snapped onto it. */

/* Parse text (borrowed) into at most want configurations. On success returns
 * the number accepted (>= 1) and a new array of normalised configurations in
 * *configs; when some configurations of the reply were rejected, err says why
 * (else err is ""). When none is usable returns -1 with the reason in err, in
 * words meant for the LLM ("C: 5000 is out of range [0.001, 1000]"). h (may be
 * NULL) gives the finished and pending trials that must not be repeated. */
int llm_reply_parse(const struct space *s, const char *text, size_t want,
                    const struct llm_history *h, json_t **configs, char *err, size_t errlen);

#endif
