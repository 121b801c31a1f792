/* buf.h: a growable byte buffer. The buffer owns p; buf_free releases it (never free():
 * p may be a block of base/bufpool.h). len <= cap always; p may be NULL while cap == 0.
 * buf_reserve_out/buf_append_out are for buffers that grow large and churn (the
 * outbound path's): their big sizes come from the huge-page pool. */
#ifndef GNATSD_BUF_H
#define GNATSD_BUF_H

#include "base/common.h"
#include <stdarg.h>

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

void buf_reserve(buf_t *b, size_t extra);
void buf_reserve_out(buf_t *b, size_t extra);
void buf_free(buf_t *b);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void buf_append(buf_t *b, const void *p, size_t n)
{
    if (unlikely(n == 0)) return;
    if (unlikely(b->cap - b->len < n)) buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void buf_append_out(buf_t *b, const void *p, size_t n)
{
    if (unlikely(n == 0)) return;
    if (unlikely(b->cap - b->len < n)) buf_reserve_out(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* A busy buffer's block is worth giving back (buf_free, then grow again) when it is
 * above BUF_KEEP_BUSY and more than 8x the most it had to hold lately (need): one
 * backlog otherwise sized it for as long as it was in use. The margin keeps a stream
 * whose writes vary from reallocating: decided per write, a quarter of the capacity was
 * crossed on 97 % of a single stream's writes (docs/performance.md, eighth pass). */
#define BUF_KEEP_BUSY ((size_t)64 * 1024)
static inline bool buf_oversized(const buf_t *b, size_t need)
{
    return b->cap > BUF_KEEP_BUSY && need < b->cap / 8;
}

static inline void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static inline void buf_putc(buf_t *b, char c)
{
    if (unlikely(b->cap == b->len)) buf_reserve(b, 1);
    b->p[b->len++] = c;
}

/* Appends the decimal form of v. */
void buf_put_i64(buf_t *b, int64_t v);
void buf_put_u64(buf_t *b, uint64_t v);

#endif
