#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

/* A growable byte buffer, always NUL-terminated after init. */
struct buf {
    char *data; /* owned; NUL-terminated */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
};

/* Prepare an empty buffer. */
void buf_init(struct buf *b);
/* Free the storage; the buffer may be initialised again. */
void buf_release(struct buf *b);
/* Drop the contents, keep the storage. */
void buf_reset(struct buf *b);
/* Append n bytes; 0 or -1 when out of memory. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
int buf_puts(struct buf *b, const char *s);
/* Append formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hand the data to the caller (new allocation, caller frees) and reset. */
char *buf_steal(struct buf *b);

#endif
