#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdbool.h>
#include <stdio.h>

/* The worker's output, shared by its slot threads: whole lines to stdout or
 * stderr, never interleaved, and on a terminal a live progress line kept at the
 * bottom of standard error. */

/* Start; live is true to keep a progress line (standard error is a terminal). */
void console_init(bool live);
/* Print one line (a newline is added) to f, under the console lock. */
void console_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the progress line's text (borrowed, copied) and redraw it when live. */
void console_progress(const char *text);
/* Erase the progress line for good (at exit). */
void console_done(void);

#endif
