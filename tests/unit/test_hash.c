/* test_hash.c: the keyed hash (common.h) that the sid map, the subject index
 * and the reply-permission map use (issue #11 finding 14). */
#include "base/hash.h"
#include "test.h"

#include <stdio.h>

/* The seed comes from getrandom at startup, not from the compile-time value. */
TEST(f14_seed_is_random)
{
    CHECK(hash_seed != 0x9e3779b97f4a7c15ull);
}

/* Keys chosen to share a bucket under one seed spread out under another: what a
 * client learns (or guesses) about one process does not aim collisions at another. */
TEST(f14_chosen_collisions_do_not_carry_over)
{
    uint64_t saved = hash_seed;
    enum { NKEYS = 64, MASK = 1023 };
    static char keys[NKEYS][24];
    size_t lens[NKEYS];
    for (int round = 0; round < 4; round++) {
        hash_seed = 0x1234567ull + (uint64_t)round * 0x9876543210ull;
        uint64_t target = hash_bytes("sid", 3) & MASK;
        int n = 0;
        for (unsigned i = 0; n < NKEYS; i++) {
            int l = snprintf(keys[n], sizeof keys[n], "%u", i);
            if ((hash_bytes(keys[n], (size_t)l) & MASK) == target) lens[n++] = (size_t)l;
        }
        hash_seed = ~hash_seed * 0xbf58476d1ce4e5b9ull;
        int bucket[MASK + 1] = {0}, worst = 0;
        for (int k = 0; k < NKEYS; k++) {
            int b = ++bucket[hash_bytes(keys[k], lens[k]) & MASK];
            if (b > worst) worst = b;
        }
        CHECK(worst <= 4); /* 64 keys over 1024 buckets */
    }
    hash_seed = saved;
}

/* Long keys (the word loop) as well as short ones depend on the seed. */
TEST(f14_every_length_is_keyed)
{
    uint64_t saved = hash_seed;
    char key[40];
    memset(key, 'a', sizeof key);
    for (size_t n = 1; n <= sizeof key; n++) {
        hash_seed = 1;
        uint64_t a = hash_bytes(key, n);
        hash_seed = 2;
        uint64_t b = hash_bytes(key, n);
        CHECK(a != b);
    }
    hash_seed = saved;
}

int main(void)
{
    RUN(f14_seed_is_random);
    RUN(f14_chosen_collisions_do_not_carry_over);
    RUN(f14_every_length_is_keyed);
    return test_summary();
}
