#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "tokens.h"

/* Bearer tokens with roles. With no active token the daemon is open (every
 * caller is admin); it only starts that way on a loopback bind unless told
 * --insecure. Tokens are stored as SHA-256 hashes and compared in constant time. */

/* Load the active token hashes from db (the caller's connection) into
 * memory; 0, or -1 with the previous list left in force. */
int auth_reload(struct db *db);
/* True while no token was ever added: every caller is admin. Once a token
 * exists, revoking them all closes the daemon rather than opening it. */
bool auth_open(void);
/* Number of active tokens loaded. */
size_t auth_token_count(void);
/* Check an Authorization header value (borrowed, may be NULL) against the least
 * role needed. Sets *role to the caller's role (ROLE_NONE when no valid token).
 * 0 when allowed, -1 with a reason in why. */
int auth_check(const char *authorization, enum role need, enum role *role, char *why,
               size_t whylen);
/* auth_check() that also sets *token_id to the row id of the caller's token
 * (0 when it sent none or the daemon is open): leases record it, so that only
 * the token that took a trial may finish it. */
int auth_check_id(const char *authorization, enum role need, enum role *role, long long *token_id,
                  char *why, size_t whylen);
/* Hex SHA-256 of text into out (65 bytes). */
void auth_hash(const char *text, char out[65]);

#endif
