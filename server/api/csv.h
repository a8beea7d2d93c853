#ifndef CSV_H
#define CSV_H

#include <stdbool.h>

#include "buf.h"

/* Comma-separated values as RFC 4180 writes them (CRLF line ends, a field
 * holding a comma, quote, CR or LF quoted with its quotes doubled), safe to
 * open in a spreadsheet: a text cell that starts with = + - @, a tab or a
 * carriage return gets a leading apostrophe, so that no formula runs. */

/* A CSV document under construction. */
struct csv {
    struct buf out; /* the text so far */
    bool mid_row;   /* a cell was written on the current row */
    bool failed;    /* out of memory: the text is incomplete */
};

void csv_init(struct csv *c);
/* Free the text. */
void csv_release(struct csv *c);
/* A text cell (borrowed; NULL writes an empty cell), guarded and quoted. */
void csv_text(struct csv *c, const char *s);
/* A number cell as written by the daemon (never guarded); NAN writes an
 * empty cell. */
void csv_number(struct csv *c, double v);
/* An integer cell. */
void csv_integer(struct csv *c, long long v);
/* End the current row. */
void csv_end_row(struct csv *c);

#endif
