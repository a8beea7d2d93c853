#ifndef LLM_REPLY_H
#define LLM_REPLY_H

#include <jansson.h>
#include <stddef.h>

#include "prompt.h"
#include "space.h"

/* Reading an LLM's reply: find the JSON in it (bare, in a ``` fence, after a line
 * of analysis or inside prose; the last JSON value that looks like an answer
 * wins), accept one configuration object, an array of them, or
 * {"configs": [...]}, check each against the space and reject repeats of
 * finished or pending trials and of each other. Lenient where the intent is
 * clear: a parameter whose condition does not hold is dropped rather than
 * rejected, and a value near a declared step grid is snapped onto it. The
 * notes an answer may carry beside the parameters, a "reasoning" string and,
 * in studies with several objectives, an "aim" (or "trade_off") string per
 * configuration, are dropped from the configuration (unless the space has a
 * parameter of that name); they stay in the reply text the audit log keeps.
 *
 * Code parameters: the source comes either as a JSON string (escaped), or, as
 * the prompt asks, as a placeholder "<<code:NAME>>" in the JSON followed by a
 * fenced block (```python ... ```) holding the source. Placeholders take the
 * code blocks of the reply in order; a block whose info string names the
 * placeholder's label or the parameter ("```python model") is taken for it
 * first. A block labelled with another language than the parameter's is
 * rejected (python also accepts py and python3; an unlabelled block is
 * accepted). A string that is itself a fenced block loses its fences. In a
 * reply of one configuration, a code parameter missing from the JSON takes
 * the reply's only code block. Code blocks are not searched for the JSON.
 * Then the space's check applies: not empty, at most max_bytes, and every
 * symbol of "requires" present as a whole word. */

/* Parse text (borrowed) into at most want configurations. On success returns
 * the number accepted (>= 1) and a new array of normalised configurations in
 * *configs; when some configurations of the reply were rejected, err says why
 * (else err is ""). When none is usable returns -1 with the reason in err, in
 * words meant for the LLM ("C: 5000 is out of range [0.001, 1000]"). h (may be
 * NULL) gives the finished and pending trials that must not be repeated. */
int llm_reply_parse(const struct space *s, const char *text, size_t want,
                    const struct llm_history *h, json_t **configs, char *err, size_t errlen);

#endif
