#include <config.h>
#include "sources.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store.h"

enum source_class source_classify(const char *source)
{
    if (strcmp(source, "llm") == 0)
        return SOURCE_LLM;
    if (strcmp(source, "llm+gp") == 0)
        return SOURCE_LLM_GP;
    if (strncmp(source, "fallback:", 9) == 0)
        return SOURCE_FALLBACK;
    if (strcmp(source, "manual") == 0 || strcmp(source, "import") == 0)
        return SOURCE_MANUAL;
    return SOURCE_CLASSICAL;
}

const char *source_class_name(enum source_class c)
{
    static const char *const names[SOURCE_CLASSES] = {"llm", "llm+gp", "fallback", "classical",
                                                      "manual"};
    return c < SOURCE_CLASSES ? names[c] : "classical";
}

int store_sources_count(struct db *db, const char *name, struct source_counts **out, size_t *n,
                        struct serr *e)
{
    *out = NULL;
    *n = 0;
    /* a row per (study, distinct source); a study without trials gives one
     * row with a NULL source and a count of 0 */
    sqlite3_stmt *q = db_stmt(db, "SELECT s.id, s.name, t.source, COUNT(t.id) FROM studies s "
                                  "LEFT JOIN trials t ON t.study_id = s.id "
                                  "WHERE ?1 IS NULL OR s.name = ?1 "
                                  "GROUP BY s.id, t.source ORDER BY s.name, s.id");
    if (!q)
        return serr_db(e, db, "trial sources");
    if (name)
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    struct source_counts *v = NULL;
    size_t len = 0, cap = 0;
    long long last_id = -1;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(q, 0);
        if (id != last_id) {
            if (len == cap) {
                size_t grown_cap = cap ? 2 * cap : 8;
                struct source_counts *grown = realloc(v, grown_cap * sizeof *grown);
                if (!grown) {
                    sqlite3_reset(q);
                    free(v);
                    return serr_set(e, 500, "internal", "trial sources: out of memory");
                }
                v = grown;
                cap = grown_cap;
            }
            memset(&v[len], 0, sizeof v[len]);
            snprintf(v[len].study, sizeof v[len].study, "%s",
                     (const char *)sqlite3_column_text(q, 1));
            len++;
            last_id = id;
        }
        const char *source = (const char *)sqlite3_column_text(q, 2);
        if (source)
            v[len - 1].n[source_classify(source)] += sqlite3_column_int64(q, 3);
    }
    sqlite3_reset(q);
    if (step != SQLITE_DONE) {
        free(v);
        return serr_db(e, db, "trial sources");
    }
    if (name && len == 0)
        return serr_set(e, 404, "not_found", "no study named \"%s\"", name);
    *out = v;
    *n = len;
    return 0;
}
