#ifndef TRANSFER_H
#define TRANSFER_H

#include <jansson.h>

#include "store.h"

/* Moving a study between daemons: the export document holds the spec and every
 * trial with its intermediate reports; import recreates them under the spec's
 * name (or another). Format: {"format": "hpod-study", "version": 1, "spec",
 * "state", "trials": [trial + "reports"]}. */

/* The export document of study name. New reference, or NULL with e set. */
json_t *transfer_export(struct db *db, const char *name, struct serr *e);
/* Create a study from an export document (borrowed), in one transaction. The
 * whole document is checked first: 400 naming the offending trial and field;
 * then 409 when the name is taken. Returns the new study's JSON (new
 * reference) or NULL. */
json_t *transfer_import(struct db *db, const json_t *doc, struct serr *e);

#endif
