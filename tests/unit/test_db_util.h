#ifndef TEST_DB_UTIL_H
#define TEST_DB_UTIL_H

/* A fresh migrated database in TMPDIR for one test, and its removal. */

struct db;

/* Create the database and open a connection to it (the calling thread's, so
 * that the store's helpers see the same one). Fails the test on error. */
struct db *test_db_up(void);
/* Close the connection and delete the files. */
void test_db_down(void);

#endif
