#include <config.h>
#include "csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_init(struct csv *c)
{
    buf_init(&c->out);
    c->mid_row = false;
    c->failed = false;
}

void csv_release(struct csv *c)
{
    buf_release(&c->out);
}

static void put(struct csv *c, const char *s, size_t n)
{
    if (buf_append(&c->out, s, n) < 0)
        c->failed = true;
}

static void separate(struct csv *c)
{
    if (c->mid_row)
        put(c, ",", 1);
    c->mid_row = true;
}

void csv_text(struct csv *c, const char *s)
{
    separate(c);
    if (!s || !*s)
        return;
    bool guard = strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        put(c, "\"", 1);
    if (guard)
        put(c, "'", 1);
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "\"");
        put(c, p, n);
        p += n;
        if (*p == '"') {
            put(c, "\"\"", 2);
            p++;
        }
    }
    if (quote)
        put(c, "\"", 1);
}

void csv_number(struct csv *c, double v)
{
    separate(c);
    if (!isfinite(v))
        return;
    char t[40];
    snprintf(t, sizeof t, "%.15g", v); /* the shortest that reads back the same */
    if (strtod(t, NULL) != v)
        snprintf(t, sizeof t, "%.17g", v);
    put(c, t, strlen(t));
}

void csv_integer(struct csv *c, long long v)
{
    separate(c);
    if (buf_printf(&c->out, "%lld", v) < 0)
        c->failed = true;
}

void csv_end_row(struct csv *c)
{
    put(c, "\r\n", 2);
    c->mid_row = false;
}
