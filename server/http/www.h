#ifndef WWW_H
#define WWW_H

#include "http.h"

/* Serve the web page: files under the www directory only, with a
 * Content-Security-Policy that forbids inline script. */

/* Set the directory (copied); 0, or -1 when it cannot be resolved. */
int www_set_dir(const char *dir);
/* The fallback handler for GET paths outside the API: regular files only
 * (anything else is 404 at once), from memory, with an ETag and
 * Cache-Control: no-cache; If-None-Match with the ETag gets 304. */
enum http_result www_serve(struct req *r);
/* Free the files in memory and the directory (at exit, once no reply holds
 * one). */
void www_release(void);

#endif
