/* common.h: tiny shared primitives (no dependencies beyond libc).
 * slice_t is borrowed bytes: never freed through a slice. */
#ifndef GNATSD_COMMON_H
#define GNATSD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct slice {
    const char *p;
    size_t n;
} slice_t;

static inline bool slice_eq(slice_t a, slice_t b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool slice_eq_str(slice_t a, const char *s)
{
    size_t n = strlen(s);
    return a.n == n && memcmp(a.p, s, n) == 0;
}

/* Abort-on-OOM allocators: the server never continues after a failed allocation. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
char *xstrdup(const char *s);

/* Go's %q (strconv.Quote) of n bytes into out (cap >= 3): quotes, backslash escapes,
 * \xNN for invalid UTF-8 and control bytes, \uNNNN for non-printable runes. Used for
 * peer-chosen text in log lines, so a newline cannot forge a line. Content that does
 * not fit is cut at a character boundary; the closing quote is always there.
 * Returns the length written (without the NUL). */
size_t quote_go(char *out, size_t cap, const char *s, size_t n);

/* Monotonic and wall clocks in nanoseconds. */
int64_t now_mono_ns(void);
int64_t now_wall_ns(void);

/* Basename of argv[0] (for syslog tags and the ports file name). */
extern const char *gnatsd_prog;

#define SERVER_VERSION "2.9.10"
#define SERVER_GO_VERSION "go1.19.8"

/* ---- keyed hashing ----------------------------------------------------------
 * For every table whose keys a peer chooses (sids, subjects, reply subjects):
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

#endif
