/* pyrandom.c — CPython's random.Random, bit-exact (see pyrandom.h).
 * MT19937 as in CPython's Modules/_randommodule.c (Matsumoto & Nishimura's reference
 * code); sample/shuffle/_randbelow as in CPython 3.11's Lib/random.py. */
#include "score/pyrandom.h"

#include <math.h>
#include <stdlib.h>

#include "util/buf.h"

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

static void mt_init_genrand(pyrandom *r, uint32_t s)
{
    r->mt[0] = s;
    for (int i = 1; i < PYRANDOM_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = PYRANDOM_N;
}

static void mt_init_by_array(pyrandom *r, const uint32_t *key, size_t key_len)
{
    uint32_t *mt = r->mt;
    mt_init_genrand(r, 19650218u);
    size_t i = 1, j = 0;
    for (size_t k = PYRANDOM_N > key_len ? PYRANDOM_N : key_len; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= PYRANDOM_N) mt[0] = mt[PYRANDOM_N - 1], i = 1;
        if (j >= key_len) j = 0;
    }
    for (size_t k = PYRANDOM_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= PYRANDOM_N) mt[0] = mt[PYRANDOM_N - 1], i = 1;
    }
    mt[0] = 0x80000000u;
}

void pyrandom_seed(pyrandom *r, int64_t seed)
{
    uint64_t mag = seed < 0 ? (uint64_t)0 - (uint64_t)seed : (uint64_t)seed;
    uint32_t key[2] = {(uint32_t)mag, (uint32_t)(mag >> 32)};
    mt_init_by_array(r, key, key[1] ? 2 : 1);
}

static uint32_t mt_twist(const uint32_t *mt, int a, int b, int m)
{
    uint32_t y = (mt[a] & MT_UPPER) | (mt[b] & MT_LOWER);
    return mt[m] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
}

static void mt_refill(pyrandom *r)
{
    uint32_t *mt = r->mt;
    int kk;
    for (kk = 0; kk < PYRANDOM_N - MT_M; kk++) mt[kk] = mt_twist(mt, kk, kk + 1, kk + MT_M);
    for (; kk < PYRANDOM_N - 1; kk++) mt[kk] = mt_twist(mt, kk, kk + 1, kk + MT_M - PYRANDOM_N);
    mt[PYRANDOM_N - 1] = mt_twist(mt, PYRANDOM_N - 1, 0, MT_M - 1);
    r->mti = 0;
}

uint32_t pyrandom_u32(pyrandom *r)
{
    if (r->mti >= PYRANDOM_N) mt_refill(r);
    uint32_t y = r->mt[r->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double pyrandom_random(pyrandom *r)
{
    uint32_t a = pyrandom_u32(r) >> 5, b = pyrandom_u32(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

uint64_t pyrandom_getrandbits(pyrandom *r, int k)
{
    if (k <= 0) return 0;
    if (k <= 32) return pyrandom_u32(r) >> (32 - k);
    /* CPython fills 32-bit words from the least significant; the last is shifted down. */
    uint64_t lo = pyrandom_u32(r);
    uint64_t hi = pyrandom_u32(r) >> (64 - (k > 64 ? 64 : k));
    return lo | hi << 32;
}

static int bit_length(size_t n)
{
    int k = 0;
    while (n) k++, n >>= 1;
    return k;
}

size_t pyrandom_randbelow(pyrandom *r, size_t n)
{
    if (n == 0) return 0;
    int k = bit_length(n);
    uint64_t v = pyrandom_getrandbits(r, k);
    while (v >= n) v = pyrandom_getrandbits(r, k);
    return (size_t)v;
}

/* CPython's threshold: below it, sample() tracks the pool as a list, above it a set. */
static size_t sample_setsize(size_t k)
{
    size_t setsize = 21;
    if (k > 5) {
        double e = ceil(log((double)(k * 3)) / log(4.0)); /* math.log(k * 3, 4) */
        if (e >= 31) return SIZE_MAX;
        setsize += (size_t)1 << (2 * (int)e);
    }
    return setsize;
}

static void sample_pool(pyrandom *r, size_t n, size_t k, size_t *out)
{
    size_t *pool = xmalloc((n ? n : 1) * sizeof *pool); /* (n) not yet selected */
    for (size_t i = 0; i < n; i++) pool[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = pyrandom_randbelow(r, n - i);
        out[i] = pool[j];
        pool[j] = pool[n - i - 1];
    }
    free(pool);
}

/* Insert v into an open-addressing set of cap slots (value+1 stored; 0 = empty).
 * Returns 0 when v was already present. */
static int set_add(size_t *slots, size_t cap, size_t v)
{
    size_t h = (v * 0x9E3779B97F4A7C15u) & (cap - 1);
    while (slots[h]) {
        if (slots[h] == v + 1) return 0;
        h = (h + 1) & (cap - 1);
    }
    slots[h] = v + 1;
    return 1;
}

static void sample_set(pyrandom *r, size_t n, size_t k, size_t *out)
{
    size_t cap = 16;
    while (cap < 2 * k) cap *= 2;
    size_t *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < k; i++) {
        size_t j = pyrandom_randbelow(r, n);
        while (!set_add(slots, cap, j)) j = pyrandom_randbelow(r, n);
        out[i] = j;
    }
    free(slots);
}

void pyrandom_sample(pyrandom *r, size_t n, size_t k, size_t *out)
{
    if (k > n) k = n; /* precondition; CPython raises ValueError */
    if (n <= sample_setsize(k)) sample_pool(r, n, k, out);
    else sample_set(r, n, k, out);
}

void pyrandom_shuffle(pyrandom *r, size_t *a, size_t n)
{
    for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--) {
        size_t j = pyrandom_randbelow(r, i + 1);
        size_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
