/* sha256.h — SHA-256 (FIPS 180-4), for the response cache's keys.
 *
 *   sha256_ctx c;  sha256_init(&c);  sha256_update(&c, p, n) ...;  sha256_final(&c, digest);
 *
 * Byte-oriented and incremental; no allocation; not constant-time (keys are not secrets).
 * On x86-64 CPUs with the SHA extensions (Intel since Ice Lake / Goldmont, AMD since Zen)
 * blocks are compressed with them — ~10x fewer instructions than the portable code. */
#ifndef EVALLUA_CACHE_SHA256_H
#define EVALLUA_CACHE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

typedef struct sha256_ctx {
    uint32_t h[8];     /* chaining state */
    uint64_t bits;     /* message length so far, in bits */
    uint8_t block[64]; /* pending input, block_len bytes of it */
    size_t block_len;
    int accel;         /* 1: compress with the CPU's SHA extensions (set by sha256_init;
                          a test may clear it to check the portable code) */
} sha256_ctx;

/* Start a new digest. */
void sha256_init(sha256_ctx *c);
/* Feed n bytes of data (data may be NULL when n is 0). */
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Finish: write the 32-byte digest to out; c must be re-initialised before reuse. */
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);
/* One-shot digest of n bytes. */
void sha256(const void *data, size_t n, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest into out (65 bytes: 64 digits and a NUL). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[2 * SHA256_DIGEST_LEN + 1]);

#endif
