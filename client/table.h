#ifndef TABLE_H
#define TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Plain-text tables and value formatting for people (`--json` is for programs). */
struct table;

/* New table with ncols columns titled headers (borrowed, copied). */
struct table *table_new(size_t ncols, const char *const *headers);
/* Free a table; accepts NULL. */
void table_free(struct table *t);
/* Add a row of ncols cells (borrowed, copied; NULL prints as "-"). 0 or -1. */
int table_add(struct table *t, const char *const *cells);
/* Rows added so far. */
size_t table_rows(const struct table *t);
/* Print the header and the rows with columns padded to their widest cell
 * (the last column is not padded) and two spaces between columns. */
void table_print(const struct table *t, FILE *f);

/* A number for people: "%.6g", "-" for null or a non-number. Into out (>= 32 bytes). */
void table_number(const json_t *v, char *out, size_t outlen);
/* Parameters as "name=value name=value" in their order; a value longer than
 * max_value (or holding a newline, e.g. code) is shown as "<N bytes>".
 * New allocation, caller frees. */
char *table_params_text(const json_t *params, size_t max_value);

#endif
