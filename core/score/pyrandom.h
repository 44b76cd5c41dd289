/* pyrandom.h — CPython's random.Random (MT19937), bit-exact.
 *
 * lm-eval picks few-shot examples with random.Random(1234).sample(pool, n); these
 * functions reproduce CPython 3.11's seeding, random(), getrandbits(), _randbelow(),
 * sample() over range(n) and shuffle(), call for call, so the same examples come out in
 * the same order. A pyrandom is plain memory (no allocation): declare it anywhere.
 * Not thread-safe per object; use one generator per thread. */
#ifndef EVALLUA_SCORE_PYRANDOM_H
#define EVALLUA_SCORE_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

#define PYRANDOM_N 624

typedef struct pyrandom {
    uint32_t mt[PYRANDOM_N]; /* MT19937 state */
    int mti;                 /* next word of mt to temper; PYRANDOM_N forces a refill */
} pyrandom;

/* random.Random(seed) for an int seed: init_by_array with the 32-bit words of
 * abs(seed), least significant first (seed 0 -> key [0]). */
void pyrandom_seed(pyrandom *r, int64_t seed);
/* Next raw 32-bit MT19937 output (genrand_uint32). */
uint32_t pyrandom_u32(pyrandom *r);
/* random.random(): a double in [0, 1) with 53 random bits. */
double pyrandom_random(pyrandom *r);
/* random.getrandbits(k) for 0 <= k <= 64 (k == 0 gives 0, as in CPython 3.9+). */
uint64_t pyrandom_getrandbits(pyrandom *r, int k);
/* random._randbelow(n): uniform in [0, n) by rejection on getrandbits(n.bit_length());
 * n == 0 gives 0 (CPython would loop forever). */
size_t pyrandom_randbelow(pyrandom *r, size_t n);
/* random.sample(range(n), k) into out[0..k): 0-based indices in CPython's order,
 * including its choice between the pool and the set algorithm. Requires k <= n. */
void pyrandom_sample(pyrandom *r, size_t n, size_t k, size_t *out);
/* random.shuffle(a) in place for a[0..n). */
void pyrandom_shuffle(pyrandom *r, size_t *a, size_t n);

#endif
