#ifndef OPENAPI_H
#define OPENAPI_H

/* The API description (schema/openapi.json), compiled in. */
extern const char openapi_json[];

#endif
