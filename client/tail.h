#ifndef TAIL_H
#define TAIL_H

#include <stddef.h>

#define TAIL_SIZE 4096 /* bytes of a command's stderr kept for the failure message */

/* A fixed ring holding the last TAIL_SIZE bytes written to it: the end of a
 * training command's standard error, quoted when its trial fails. */
struct tail {
    char data[TAIL_SIZE]; /* ring storage */
    size_t start;         /* index of the oldest byte */
    size_t len;           /* bytes held, at most TAIL_SIZE */
    size_t dropped;       /* bytes pushed out so far */
};

/* Prepare an empty ring. */
void tail_init(struct tail *t);
/* Add n bytes, pushing out the oldest when full. */
void tail_append(struct tail *t, const char *p, size_t n);
/* The bytes held, oldest first, as a string (new allocation, caller frees):
 * when bytes were pushed out the first, partial line is dropped (unless that
 * would drop everything), NUL bytes become '?', and trailing white space is
 * removed. NULL when out of memory. */
char *tail_text(const struct tail *t);

#endif
