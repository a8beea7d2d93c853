#ifndef STORE_SOURCES_H
#define STORE_SOURCES_H

#include <stddef.h>

/* Where a study's trials came from, in the classes users ask about: how much
 * of the study did the LLM propose, and how much did a classical sampler
 * serve in its place. A trial's source string (DESIGN.md) falls in one of:
 *
 *   llm        "llm": a configuration the LLM proposed
 *   llm+gp     "llm+gp": LLM candidates ranked by the GP (llm.mode "rank")
 *   fallback   "fallback:NAME": the classical sampler serving for the LLM
 *   classical  a sampler's own name: "random", "sobol", "tpe", "gp", ...
 *   manual     "manual" (enqueued by a person) or "import" (imported
 *              without a source)
 *
 * The JSON and the metric are built by their callers from the counts. */

struct db;
struct serr;

enum source_class {
    SOURCE_LLM,       /* "llm" */
    SOURCE_LLM_GP,    /* "llm+gp" */
    SOURCE_FALLBACK,  /* "fallback:..." */
    SOURCE_CLASSICAL, /* any sampler's own name */
    SOURCE_MANUAL,    /* "manual", "import" */
    SOURCE_CLASSES    /* how many classes */
};

/* The trials of one study by source class. */
struct source_counts {
    char study[80];              /* study name */
    long long n[SOURCE_CLASSES]; /* trials of each class, any state */
};

/* The class of a trial's source string (borrowed). */
enum source_class source_classify(const char *source);
/* The class's name as the API and /metrics spell it: "llm", "llm+gp",
 * "fallback", "classical", "manual". Static. */
const char *source_class_name(enum source_class c);

/* Count the trials of the study called name by source class, or those of
 * every study when name is NULL (studies without trials included, ordered by
 * name). *out gets a new array of *n entries (free() it; NULL when *n is 0).
 * Returns 0, or -1 with e set: 404 when the named study does not exist,
 * 500/503 for the database. One read, consistent across studies. */
int store_sources_count(struct db *db, const char *name, struct source_counts **out, size_t *n,
                        struct serr *e);

#endif
