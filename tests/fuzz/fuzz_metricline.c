/* libFuzzer harness: the "@hpo ..." line parser of the worker. A line that
 * parses must be written back by metricline_format() into a line that parses to
 * the same pairs. */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metricline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *line)
{
    fprintf(stderr, "fuzz_metricline: %s: \"%s\"\n", what, line);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    struct metricline m, back;
    metricline_init(&m);
    metricline_init(&back);
    char err[256] = "";
    int rc = metricline_parse(line, &m, err, sizeof err);
    if (rc < 0 && !err[0])
        fail("malformed line without a message", line);
    if (rc == 1) {
        if (m.n == 0)
            fail("a metrics line with no pairs", line);
        for (size_t i = 0; i < m.n; i++)
            if (!isfinite(m.values[i]))
                fail("a value that is not finite", line);
        char *text = metricline_format(&m);
        if (!text)
            fail("format", line);
        if (metricline_parse(text, &back, err, sizeof err) != 1)
            fail("the formatted line does not parse", text);
        if (back.n != m.n || back.final != m.final || back.has_step != m.has_step ||
            (m.has_step && back.step != m.step))
            fail("the formatted line parses differently", text);
        for (size_t i = 0; i < m.n; i++)
            if (strcmp(back.names[i], m.names[i]) != 0 || back.values[i] != m.values[i])
                fail("a pair changes through format and parse", text);
        json_t *v = metricline_values_json(&m);
        json_decref(v);
        free(text);
    }
    metricline_release(&back);
    metricline_release(&m);
    free(line);
    return 0;
}
