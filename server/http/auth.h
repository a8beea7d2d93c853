#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* What a caller may do; each role allows what the ones below it allow. */
enum role { ROLE_NONE = 0, ROLE_READ = 1, ROLE_WORKER = 2, ROLE_ADMIN = 3 };

/* Bearer tokens with roles. With no active token the daemon is open (every
 * caller is admin); it only starts that way on a loopback bind unless told
 * --insecure. Tokens are stored as SHA-256 hashes and compared in constant time. */

/* Load the active token hashes from the database into memory; 0 or -1. */
int auth_reload(void);
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
/* Role name ("admin", "worker", "read") and back (-1 when unknown). */
const char *auth_role_name(enum role role);
int auth_role_parse(const char *name);
/* Hex SHA-256 of text into out (65 bytes). */
void auth_hash(const char *text, char out[65]);

#endif
