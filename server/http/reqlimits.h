#ifndef REQLIMITS_H
#define REQLIMITS_H

#include <stddef.h>

/* Limits on what a request may hold, checked on the raw text before it is
 * parsed so that a hostile body cannot drive the recursive code that walks
 * JSON values (parsing, dumping, comparing) deep into the stack. The other
 * limits live where the value is read: the body size in http.c, the number
 * of parameters in spec.c, the trials per suggest in api_studies.c. */

#define REQLIMITS_JSON_DEPTH  32           /* arrays and objects nested at most this deep */
#define REQLIMITS_JSON_STRING (256u << 10) /* bytes in one JSON string (key or value) */

/* Check JSON text (borrowed, len bytes, need not be NUL-terminated) against
 * REQLIMITS_JSON_DEPTH and REQLIMITS_JSON_STRING. Only the structure is looked at:
 * the text may still be invalid JSON. 0 when within the limits, else -1 with
 * a lower-case message naming the limit and the byte offset in err. */
int reqlimits_check_json(const char *text, size_t len, char *err, size_t errlen);

#endif
