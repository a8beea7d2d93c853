/* libFuzzer harness: an LLM's reply text as the proposal engine reads it, against
 * a fixed space with every kind of parameter and a condition. Every accepted
 * configuration must pass the space's check. */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct space *space;

static const char space_json[] =
    "[{\"name\": \"C\", \"type\": \"float\", \"low\": 0.001, \"high\": 1000, \"log\": true},"
    " {\"name\": \"lr\", \"type\": \"float\", \"low\": 0, \"high\": 1, \"step\": 0.05},"
    " {\"name\": \"kernel\", \"type\": \"categorical\", \"choices\": [\"rbf\", \"poly\", 3, true]},"
    " {\"name\": \"degree\", \"type\": \"int\", \"low\": 2, \"high\": 5,"
    "  \"when\": {\"kernel\": [\"poly\"]}},"
    " {\"name\": \"layers\", \"type\": \"int\", \"low\": 1, \"high\": 4096, \"log\": true},"
    " {\"name\": \"model\", \"type\": \"code\", \"language\": \"python\","
    "  \"contract\": \"define f()\", \"baseline\": \"def f():\\n    return 1\\n\"}]";

static void setup(void)
{
    json_error_t je;
    json_t *params = json_loads(space_json, 0, &je);
    char err[256];
    space = params ? space_parse(params, err, sizeof err) : NULL;
    json_decref(params);
    if (!space) {
        fprintf(stderr, "fuzz_reply: the fixed space does not parse\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!space)
        setup();
    if (size < 1)
        return 0;
    size_t want = 1 + data[0] % 4;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    json_t *configs = NULL;
    char err[1024] = "";
    int n = llm_reply_parse(space, text, want, NULL, &configs, err, sizeof err);
    if (n < 0 && !err[0]) {
        fprintf(stderr, "fuzz_reply: refused without a reason\n");
        abort();
    }
    if (n >= 0) {
        if (n < 1 || (size_t)n > want || !json_is_array(configs) ||
            json_array_size(configs) != (size_t)n) {
            fprintf(stderr, "fuzz_reply: %d configurations for want %zu\n", n, want);
            abort();
        }
        size_t i;
        json_t *c;
        json_array_foreach(configs, i, c)
        {
            char e2[512];
            json_t *checked = space_check(space, c, e2, sizeof e2);
            if (!checked) {
                fprintf(stderr, "fuzz_reply: an accepted configuration fails the check: %s\n", e2);
                abort();
            }
            json_decref(checked);
        }
    }
    json_decref(configs);
    free(text);
    return 0;
}
