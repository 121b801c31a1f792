/* common.h: tiny shared primitives (no dependencies beyond libc): slices, allocators
 * that abort on OOM, owned-string assignment, clocks, the server's version.
 * slice_t is borrowed bytes: never freed through a slice. */
#ifndef GNATSD_COMMON_H
#define GNATSD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Asks for the cache line at p. GCC 12 drops a __builtin_prefetch whose address comes
 * from an inlined lookup (checked: none was emitted in deliver_all), so on x86 it is
 * an instruction it must keep. */
#if defined(__x86_64__) || defined(__i386__)
#define prefetch_line(p) __asm__ volatile("prefetcht0 %0" ::"m"(*(const char *)(p)))
#else
#define prefetch_line(p) __builtin_prefetch(p)
#endif

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

/* Replaces the string *dst owns by a copy of s (NULL stores NULL). */
void set_str(char **dst, const char *s);
/* The same, but an empty s stores NULL too (optional fields: a flag given as "",
 * a CONNECT's "name":""). */
void set_str_nonempty(char **dst, const char *s);

/* Monotonic and wall clocks in nanoseconds. */
int64_t now_mono_ns(void);
int64_t now_wall_ns(void);

/* Basename of argv[0] (for syslog tags and the ports file name). */
extern const char *gnatsd_prog;

#define SERVER_VERSION "2.9.10"
#define SERVER_GO_VERSION "go1.19.8"

/* The value of a hex digit (either case), -1 for anything else. */
static inline int hex_val(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A growable array of owned strings. */
static inline void strv_push(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = s;
}

static inline void strv_free(char ***v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

#endif
