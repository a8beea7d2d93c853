#include <config.h>
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "store.h"

/* The note of a PUT body {"note": "..."|null}: *text gets it (borrowed from
 * the body, NULL to remove the note). false after a 400 or 413 reply. */
static bool body_note(struct req *r, const char **text)
{
    json_t *body = http_body_json(r, false);
    if (!body)
        return false;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "note") != 0) {
            http_reply_error(r, 400, "bad_request", "%.40s: unknown field (only \"note\")", key);
            return false;
        }
    }
    json_t *note = json_object_get(body, "note");
    if (!note) {
        http_reply_error(r, 400, "bad_request",
                         "note: required, a string (or null or \"\" to remove the note)");
        return false;
    }
    if (json_is_null(note)) {
        *text = NULL;
        return true;
    }
    if (!json_is_string(note)) {
        http_reply_error(r, 400, "bad_request", "note: must be a string or null");
        return false;
    }
    if (json_string_length(note) > STORE_NOTE_MAX) {
        http_reply_error(r, 413, "note_too_large", "note: %zu bytes, more than the %d allowed",
                         json_string_length(note), STORE_NOTE_MAX);
        return false;
    }
    *text = json_string_value(note);
    return true;
}

enum http_result api_study_note(struct req *r)
{
    const char *text;
    if (!body_note(r, &text))
        return HTTP_DONE;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    int64_t at;
    if (store_study_note_set(db, r->args[0], text, &at, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_note(r->args[0], -1, text && *text ? text : NULL, at));
    return HTTP_DONE;
}

enum http_result api_trial_note(struct req *r)
{
    char *end;
    long long number = strtoll(r->args[1], &end, 10);
    if (*end || end == r->args[1] || number < 0) {
        http_reply_error(r, 404, "not_found", "no trial numbered \"%.40s\"", r->args[1]);
        return HTTP_DONE;
    }
    const char *text;
    if (!body_note(r, &text))
        return HTTP_DONE;
    struct db *db = api_db(r);
    if (!db)
        return HTTP_DONE;
    struct serr e;
    struct trial t;
    if (store_trial_note_set(db, r->args[0], number, text, &t, &e) < 0)
        return api_fail(r, &e);
    http_reply_json(r, 200, render_note(r->args[0], t.number, t.note, t.note_at));
    store_trial_release(&t);
    return HTTP_DONE;
}
