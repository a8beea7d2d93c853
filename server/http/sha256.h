#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4) of len bytes at data into out. */
void sha256(const void *data, size_t len, uint8_t out[32]);

#endif
