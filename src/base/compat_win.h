/* compat_win.h: the POSIX and GNU libc calls the code base uses that mingw-w64's C
 * runtime lacks, for the Windows build only: the Makefile's win64 target force-includes
 * it (-include), so the callers keep their one code path. Nothing here touches the OS
 * (that is os.h's); these are plain library gaps. */
#ifndef GNATSD_COMPAT_WIN_H
#define GNATSD_COMPAT_WIN_H
#ifdef _WIN32

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Windows handles are not inherited unless asked for, and regular files do not block:
 * the open() flags that say so on Linux have nothing to do. */
#define O_CLOEXEC 0
#define O_NONBLOCK 0
#define O_NOFOLLOW 0

/* A store the compiler may not drop: the barrier says the bytes are read afterwards. */
static inline void explicit_bzero(void *p, size_t n)
{
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static inline void *memmem(const void *hay, size_t hn, const void *needle, size_t nn)
{
    if (nn == 0) return (void *)hay;
    const char *h = hay, *end = h + hn;
    while (hn >= nn) {
        const char *p = memchr(h, *(const char *)needle, hn - nn + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, nn) == 0) return (void *)p;
        hn -= (size_t)(p + 1 - h);
        h = p + 1;
    }
    (void)end;
    return NULL;
}

/* GNU qsort_r (the context last) over the runtime's qsort_s (the context first). */
struct compat_qsort_ctx {
    int (*cmp)(const void *, const void *, void *);
    void *arg;
};
static inline int compat_qsort_tramp(void *ctx, const void *a, const void *b)
{
    struct compat_qsort_ctx *c = ctx;
    return c->cmp(a, b, c->arg);
}
static inline void qsort_r(void *base, size_t n, size_t size,
                           int (*cmp)(const void *, const void *, void *), void *arg)
{
    struct compat_qsort_ctx c = {cmp, arg};
    qsort_s(base, n, size, compat_qsort_tramp, &c);
}

#endif
#endif
