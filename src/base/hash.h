/* hash.h: the one hash function of the server, keyed.
 *
 * Contract: hash_bytes(p, n) depends on the bytes and on hash_seed only; the seed is
 * set once before main (hash.c) and never changes while threads run. */
#ifndef GNATSD_HASH_H
#define GNATSD_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* For every table whose keys a peer chooses (sids, subjects, reply subjects):
 * the state starts from a per-process random seed (getrandom at startup), so a
 * client cannot precompute keys that land in one bucket. Word at a time:
 * keys are short and the subject index hashes once per publish. */
extern uint64_t hash_seed;

static inline uint64_t hash_mix64(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* 1..7 bytes as one word, injective for a given n. Avoids a variable-length
 * memcpy (a libc call) on the hot path. */
static inline uint64_t hash_load_short(const char *p, size_t n)
{
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)a << 32 | b;
    }
    return (uint64_t)(uint8_t)p[0] << 16 | (uint64_t)(uint8_t)p[n >> 1] << 8 | (uint8_t)p[n - 1];
}

/* The tail is the (overlapping) last word, so there is no byte loop at all. */
static inline uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = hash_seed ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    if (n < 8) return hash_mix64((h ^ (n ? hash_load_short(p, n) : 0)) * 0x94d049bb133111ebull);
    const char *end = p + n - 8;
    for (; p < end; p += 8) {
        h = (h ^ hash_load8(p)) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    return hash_mix64((h ^ hash_load8(end)) * 0x94d049bb133111ebull);
}

/* The reference's name hashes (gateway reply prefixes, latency tags): the first n
 * bytes of SHA-256(s), each as a base-62 digit, into out (n + 1 bytes). */
void hash_name_b62(const char *s, char *out, int n);

#endif
