#ifndef JSONUTIL_H
#define JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Small helpers over jansson that keep call sites short. Every getter borrows. */

/* The string member key of obj, or def when absent or not a string. */
const char *json_str(const json_t *obj, const char *key, const char *def);
/* The numeric member key (integer or real) of obj, or def. */
double json_num(const json_t *obj, const char *key, double def);
/* The integer member key of obj, or def (a real with no fraction counts). */
long long json_int(const json_t *obj, const char *key, long long def);
/* The boolean member key of obj, or def. */
bool json_bool(const json_t *obj, const char *key, bool def);
/* True when v is a JSON number (integer or real). */
bool json_is_num(const json_t *v);
/* The value of a JSON number as a double. */
double json_num_value(const json_t *v);
/* Compact, key-sorted text of v (new allocation, caller frees), or NULL. */
char *json_canonical(const json_t *v);
/* Parse text; on failure write "line L column C: jansson's message" into err. New reference. */
json_t *json_parse_text(const char *text, size_t len, char *err, size_t errlen);
/* Write a formatted message into err (errlen bytes); nothing when err is NULL.
 * The one way validators fill their error buffers. */
void json_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A value (borrowed) for a message: its JSON text in double quotes, cut short
 * past some 50 characters, into out (n bytes). */
void json_quote(const json_t *v, char *out, size_t n);
/* Deep equality that treats 3 and 3.0 as the same number. */
bool json_same(const json_t *a, const json_t *b);

#endif
