#include <config.h>
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "template.h"

struct table {
    size_t ncols;  /* columns */
    size_t nrows;  /* rows, header included */
    char **cells;  /* owned nrows * ncols owned strings */
    size_t *width; /* owned widest cell per column */
};

static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) /* count UTF-8 lead bytes only */
            w++;
    return w;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->width = calloc(ncols, sizeof *t->width);
    if (!t->width || table_add(t, headers) < 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
}

int table_add(struct table *t, const char *const *cells)
{
    char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *grown);
    if (!grown)
        return -1;
    t->cells = grown;
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "-");
        if (!row[c]) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            return -1;
        }
        size_t w = text_width(row[c]);
        if (w > t->width[c])
            t->width[c] = w;
    }
    t->nrows++;
    return 0;
}

size_t table_rows(const struct table *t)
{
    return t->nrows - 1;
}

void table_print(const struct table *t, FILE *f)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->cells + r * t->ncols;
        for (size_t c = 0; c < t->ncols; c++) {
            fputs(row[c], f);
            if (c + 1 < t->ncols) {
                for (size_t w = text_width(row[c]); w < t->width[c] + 2; w++)
                    fputc(' ', f);
            }
        }
        fputc('\n', f);
    }
}

void table_number(const json_t *v, char *out, size_t outlen)
{
    if (json_is_integer(v))
        snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, outlen, "%.6g", json_real_value(v));
    else
        snprintf(out, outlen, "-");
}

char *table_params_text(const json_t *params, size_t max_value)
{
    struct buf b;
    buf_init(&b);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        if (b.len)
            buf_puts(&b, " ");
        if (json_is_real(value)) {
            buf_printf(&b, "%s=%.6g", key, json_real_value(value));
            continue;
        }
        char *text = template_value_text(value);
        if (!text)
            continue;
        if (strlen(text) > max_value || strchr(text, '\n'))
            buf_printf(&b, "%s=<%zu bytes>", key, strlen(text));
        else
            buf_printf(&b, "%s=%s", key, text);
        free(text);
    }
    return buf_steal(&b);
}
