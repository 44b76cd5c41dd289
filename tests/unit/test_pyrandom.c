/* test_pyrandom.c — CPython random.Random compatibility, bit for bit.
 *
 * Every constant below was printed by CPython 3.11.7 with one-off commands of the form
 *   python3 -c "import random; r = random.Random(1234); print([r.random().hex() for _ in range(5)])"
 * (likewise getrandbits, _randbelow, sample and shuffle as named in each test). */
#include <stdint.h>

#include "check.h"
#include "score/pyrandom.h"

static void check_random5(int64_t seed, const double want[5])
{
    pyrandom r;
    pyrandom_seed(&r, seed);
    for (int i = 0; i < 5; i++) CHECK(pyrandom_random(&r) == want[i]);
}

static void test_random(void)
{
    /* [r.random().hex() for _ in range(5)] for Random(1234), (0), (2**40+7), (-5) */
    const double s1234[5] = {0x1.eed2ff71cd77dp-1, 0x1.c34f680ef4f52p-2, 0x1.eaf602e68d680p-8,
                             0x1.d26b70fc527d5p-1, 0x1.e0e7ddb3a5ed6p-1};
    const double s0[5] = {0x1.b0580f98a7dbep-1, 0x1.84129978f9c1ap-1, 0x1.aeaa51052e978p-2,
                          0x1.092178fb945a6p-2, 0x1.05c5ccdf19707p-1};
    const double s2p40[5] = {0x1.3a3761afd4291p-1, 0x1.a13cb57c0715ap-1, 0x1.e3d88c68edf49p-1,
                             0x1.240a3fed28776p-1, 0x1.e758a5a01babcp-2};
    const double sneg5[5] = {0x1.3eecf89059360p-1, 0x1.7bcb8116f23eep-1, 0x1.97239c6c3047fp-1,
                             0x1.e288d7f5db50cp-1, 0x1.7ad3fc69bae32p-1};
    check_random5(1234, s1234);
    check_random5(0, s0);
    check_random5(((int64_t)1 << 40) + 7, s2p40);
    check_random5(-5, sneg5); /* CPython seeds with abs(seed) */
    pyrandom r;
    pyrandom_seed(&r, 1234);
    CHECK_NEAR(pyrandom_random(&r), 0.9664535356921388, 0); /* repr() of the first value */
}

static void test_getrandbits(void)
{
    pyrandom r;
    pyrandom_seed(&r, 1234); /* [r.getrandbits(32) for _ in range(3)] */
    CHECK(pyrandom_u32(&r) == 4150886329u);
    CHECK(pyrandom_u32(&r) == 3342196574u);
    CHECK(pyrandom_u32(&r) == 1892932127u);
    pyrandom_seed(&r, 1234); /* getrandbits(5), (40), (64), (33) in a row */
    CHECK(pyrandom_getrandbits(&r, 5) == 30);
    CHECK(pyrandom_getrandbits(&r, 40) == UINT64_C(484378533726));
    CHECK(pyrandom_getrandbits(&r, 64) == UINT64_C(138193304849869414));
    CHECK(pyrandom_getrandbits(&r, 33) == UINT64_C(4684278597));
    CHECK(pyrandom_getrandbits(&r, 0) == 0);
}

static void test_randbelow(void)
{
    /* [r._randbelow(n) for n in [1, 2, 3, 10, 100, 7473, 2**33+1]] with Random(1234) */
    const size_t n[7] = {1, 2, 3, 10, 100, 7473, ((size_t)1 << 33) + 1};
    const size_t want[7] = {0, 0, 0, 1, 74, 286, 360511942};
    pyrandom r;
    pyrandom_seed(&r, 1234);
    for (int i = 0; i < 7; i++) CHECK(pyrandom_randbelow(&r, n[i]) == want[i]);
}

static void check_sample(pyrandom *r, size_t n, size_t k, const size_t *want)
{
    size_t got[32];
    pyrandom_sample(r, n, k, got);
    int same = 1;
    for (size_t i = 0; i < k; i++) same &= got[i] == want[i];
    CHECK(same);
    if (!same) {
        fprintf(stderr, "  sample(range(%zu), %zu) got:", n, k);
        for (size_t i = 0; i < k; i++) fprintf(stderr, " %zu", got[i]);
        fprintf(stderr, "\n");
    }
}

static void test_sample(void)
{
    /* lm-eval's gsm8k 5-shot draws:
     * r = Random(1234); [r.sample(range(7473), 5) for _ in range(3)] */
    const size_t gsm[3][5] = {{6374, 3610, 957, 61, 742},
                              {7462, 6610, 4769, 286, 5501},
                              {5677, 687, 806, 6279, 2905}};
    pyrandom r;
    pyrandom_seed(&r, 1234);
    for (int i = 0; i < 3; i++) check_sample(&r, 7473, 5, gsm[i]);

    pyrandom_seed(&r, 1234); /* Random(1234).sample(range(10), 3): pool algorithm */
    check_sample(&r, 10, 3, (const size_t[]){7, 1, 0});

    /* r = Random(42); r.sample(range(30), 8), r.sample(range(1000), 20): k > 5 setsize */
    pyrandom_seed(&r, 42);
    check_sample(&r, 30, 8, (const size_t[]){20, 3, 0, 23, 8, 7, 24, 4});
    check_sample(&r, 1000, 20, (const size_t[]){754, 104, 692, 758, 913, 558, 89, 604, 432, 32,
                                                 30, 95, 223, 238, 517, 616, 27, 574, 203, 733});
    pyrandom_seed(&r, 7); /* Random(7).sample(range(10), 10) */
    check_sample(&r, 10, 10, (const size_t[]){5, 2, 6, 9, 0, 7, 4, 1, 3, 8});
}

static void test_shuffle(void)
{
    /* x = list(range(10)); Random(1234).shuffle(x) */
    const size_t want[10] = {2, 8, 3, 5, 6, 4, 9, 0, 1, 7};
    size_t a[10];
    for (size_t i = 0; i < 10; i++) a[i] = i;
    pyrandom r;
    pyrandom_seed(&r, 1234);
    pyrandom_shuffle(&r, a, 10);
    CHECK(memcmp(a, want, sizeof a) == 0);
    pyrandom_shuffle(&r, a, 0); /* empty and single-element lists are no-ops */
    pyrandom_shuffle(&r, a, 1);
    CHECK(a[0] == 2);
}

int main(void)
{
    test_random();
    test_getrandbits();
    test_randbelow();
    test_sample();
    test_shuffle();
    return check_summary();
}
