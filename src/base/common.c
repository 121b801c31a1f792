#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t hash_seed = 0x9e3779b97f4a7c15ull;

/* Before main and before any thread: the seed never changes afterwards. */
__attribute__((constructor)) static void hash_seed_init(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
            ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&v;
    }
    hash_seed = v;
}

/* Length of the valid UTF-8 sequence at p (n bytes left) and its rune, 0 if invalid. */
static size_t utf8_rune(const unsigned char *p, size_t n, uint32_t *r)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *r = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *r = v;
    return len;
}

/* unicode.IsPrint, for the runes that matter in logs (controls, separators, BOM). */
static bool rune_printable(uint32_t r)
{
    if (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xad) return false;
    if (r == 0x2028 || r == 0x2029 || r == 0xfeff || (r >= 0x200b && r <= 0x200f)) return false;
    if ((r >= 0x202a && r <= 0x202e) || (r >= 0x2060 && r <= 0x206f)) return false;
    return true;
}

size_t quote_go(char *out, size_t cap, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t o = 0;
    out[o++] = '"';
    while (p < end) {
        char tmp[12];
        size_t tl;
        uint32_t r;
        size_t rl = utf8_rune(p, (size_t)(end - p), &r);
        if (rl == 0) {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            rl = 1;
        } else if (r == '"' || r == '\\') {
            tmp[0] = '\\', tmp[1] = (char)r, tl = 2;
        } else if (rune_printable(r)) {
            memcpy(tmp, p, rl);
            tl = rl;
        } else {
            const char *esc = r == '\a'   ? "\\a"
                              : r == '\b' ? "\\b"
                              : r == '\f' ? "\\f"
                              : r == '\n' ? "\\n"
                              : r == '\r' ? "\\r"
                              : r == '\t' ? "\\t"
                              : r == '\v' ? "\\v"
                                          : NULL;
            if (esc)
                tl = (size_t)snprintf(tmp, sizeof tmp, "%s", esc);
            else if (r < 0x80)
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)r);
            else if (r < 0x10000)
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)r);
            else
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)r);
        }
        if (o + tl + 2 > cap) break; /* room for the closing quote and the NUL */
        memcpy(out + o, tmp, tl);
        o += tl;
        p += rl;
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

static void oom(size_t n)
{
    fprintf(stderr, "gnatsd: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom(n * sz);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

int64_t now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t now_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *gnatsd_prog = "nats-server";
