#include <config.h>
#include "reqlimits.h"

#include <stdbool.h>
#include <stdio.h>

int reqlimits_check_json(const char *text, size_t len, char *err, size_t errlen)
{
    unsigned depth = 0;
    bool in_string = false, escaped = false;
    size_t string_start = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
                continue;
            }
            if (i - string_start >= REQLIMITS_JSON_STRING) {
                snprintf(err, errlen, "a JSON string starting at byte %zu is longer than %u bytes",
                         string_start, REQLIMITS_JSON_STRING);
                return -1;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            string_start = i + 1;
            break;
        case '[':
        case '{':
            if (++depth > REQLIMITS_JSON_DEPTH) {
                snprintf(err, errlen, "JSON nested deeper than %d levels at byte %zu",
                         REQLIMITS_JSON_DEPTH, i);
                return -1;
            }
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return 0;
}
