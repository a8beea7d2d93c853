/* libFuzzer harness: a study spec as POST /api/v1/studies receives it. Checks
 * that nothing crashes, that a refusal says why, that the stored form of an
 * accepted spec is accepted again unchanged, and that configurations drawn from
 * its space pass the space's own check. */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "reqlimits.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_spec: %s: %s\n", what, detail);
    abort();
}

/* Draw a few configurations from the space and check each against it. */
static void check_space(const struct space *s, const uint8_t *data, size_t size)
{
    double u[300];
    if (s->n > sizeof u / sizeof u[0])
        fail("space", "more parameters than spec.c allows");
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < s->n; i++) {
            uint8_t b = size ? data[(i * 7 + (size_t)k * 13) % size] : 0;
            u[i] = k == 0 ? 0.0 : k == 1 ? 1.0 : k == 2 ? 0.5 : b / 255.0;
        }
        json_t *config = space_from_unit(s, u);
        if (!config)
            fail("space_from_unit", "returned NULL");
        char err[512] = "";
        json_t *checked = space_check(s, config, err, sizeof err);
        if (!checked) {
            char *text = json_dumps(config, JSON_COMPACT);
            fprintf(stderr, "config %s\n", text ? text : "?");
            free(text);
            fail("a configuration drawn from the space fails its check", err);
        }
        json_decref(checked);
        json_decref(config);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    const char *text = (const char *)data;
    if (reqlimits_check_json(text, size, err, sizeof err) < 0)
        return 0;
    json_t *in = json_parse_text(text, size, err, sizeof err);
    if (!in)
        return 0;
    if (json_is_object(in)) {
        err[0] = '\0';
        struct spec *sp = spec_parse(in, err, sizeof err);
        if (!sp && !err[0])
            fail("refused", "no message");
        if (sp) {
            struct spec *again = spec_parse(sp->json, err, sizeof err);
            if (!again)
                fail("the stored form of an accepted spec is refused", err);
            if (!json_equal(again->json, sp->json))
                fail("the stored form changes when parsed again", sp->name);
            check_space(sp->space, data, size);
            spec_free(again);
            spec_free(sp);
        }
    }
    json_decref(in);
    return 0;
}
