#include <config.h>
#include "tail.h"

#include <stdlib.h>
#include <string.h>

void tail_init(struct tail *t)
{
    t->start = 0;
    t->len = 0;
    t->dropped = 0;
}

void tail_append(struct tail *t, const char *p, size_t n)
{
    if (n >= TAIL_SIZE) {
        t->dropped += t->len + n - TAIL_SIZE;
        memcpy(t->data, p + n - TAIL_SIZE, TAIL_SIZE);
        t->start = 0;
        t->len = TAIL_SIZE;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (t->len == TAIL_SIZE) {
            t->data[t->start] = p[i];
            t->start = (t->start + 1) % TAIL_SIZE;
            t->dropped++;
        } else {
            t->data[(t->start + t->len) % TAIL_SIZE] = p[i];
            t->len++;
        }
    }
}

char *tail_text(const struct tail *t)
{
    char *out = malloc(t->len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < t->len; i++) {
        char c = t->data[(t->start + i) % TAIL_SIZE];
        out[i] = c ? c : '?';
    }
    size_t len = t->len;
    out[len] = '\0';
    size_t skip = 0;
    if (t->dropped > 0) {
        char *nl = memchr(out, '\n', len);
        if (nl && (size_t)(nl - out) + 1 < len)
            skip = (size_t)(nl - out) + 1;
    }
    if (skip)
        memmove(out, out + skip, len - skip + 1);
    len -= skip;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' ' ||
                       out[len - 1] == '\t'))
        out[--len] = '\0';
    return out;
}
