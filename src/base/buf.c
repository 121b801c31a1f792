#include "base/buf.h"
#include "base/bufpool.h"

#include <stdio.h>
#include <stdlib.h>

/* Grows b to hold extra more bytes. A block of the pool stays in the pool while its size
 * is one the pool has (and leaves it for malloc past that); pooled asks for the pool. */
static void grow(buf_t *b, size_t extra, bool pooled)
{
    size_t need = b->len + extra;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    bool from_pool = bufpool_owns(b->p);
    if ((pooled || from_pool) && cap >= BUFPOOL_MIN && cap <= BUFPOOL_MAX) {
        size_t pc = (cap & (cap - 1)) ? (size_t)1 << (64 - __builtin_clzll(cap)) : cap;
        char *p = pc <= BUFPOOL_MAX ? bufpool_alloc(pc) : NULL;
        if (p) {
            if (b->len) memcpy(p, b->p, b->len);
            if (from_pool)
                bufpool_free(b->p);
            else
                free(b->p);
            b->p = p;
            b->cap = pc;
            return;
        }
    }
    if (from_pool) {
        char *p = xmalloc(cap);
        memcpy(p, b->p, b->len);
        bufpool_free(b->p);
        b->p = p;
    } else {
        b->p = xrealloc(b->p, cap);
    }
    b->cap = cap;
}

void buf_reserve(buf_t *b, size_t extra)
{
    grow(b, extra, false);
}

void buf_reserve_out(buf_t *b, size_t extra)
{
    grow(b, extra, true);
}

void buf_free(buf_t *b)
{
    if (bufpool_owns(b->p))
        bufpool_free(b->p);
    else
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_put_u64(buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

void buf_put_i64(buf_t *b, int64_t v)
{
    if (v < 0) {
        buf_putc(b, '-');
        buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        buf_put_u64(b, (uint64_t)v);
    }
}
