#ifndef WWW_H
#define WWW_H

#include "http.h"

/* Serve the web page: files under the www directory only, with a
 * Content-Security-Policy that forbids inline script. */

/* Set the directory (copied); 0, or -1 when it cannot be resolved. */
int www_set_dir(const char *dir);
/* The fallback handler for GET paths outside the API. */
enum http_result www_serve(struct req *r);

#endif
