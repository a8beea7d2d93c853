#ifndef TOKEN_H
#define TOKEN_H

/* `hpod token add|list|revoke`: manage API tokens in the database. Returns the
 * process exit status. argv starts after "token". */
int token_main(int argc, char **argv);

#endif
