/* test_out_segments: how a connection's outbound bytes are held while it is behind
 * (core/outbound.c out_put, out_next). Producers hand over whole buffers (a stage's);
 * a consumer that keeps up gets each one swapped in, one behind by more than a buffer
 * queues them as segments. What it holds must follow its backlog: with one growing
 * buffer swapped with the write buffer, both took the backlog's size rounded up to a
 * power of two (a 64-consumer fan-out held ~1 MiB per consumer with ~300 KB queued).
 * And the bytes must come out in the order they went in, whatever path each took. */
#include "test.h"
#include "base/buf.h"
#include "base/bufpool.h"
#include "core/loop.h"

#include <stdlib.h>

static conn_t *conn_new(void)
{
    conn_t *c = calloc(1, sizeof *c);
    spin_init(&c->out_lock);
    return c;
}

static void conn_done(conn_t *c)
{
    out_free(c);
    free(c);
}

/* A producer's buffer b filled with n bytes of the running sequence *seq. */
static void fill(buf_t *b, size_t n, uint32_t *seq)
{
    buf_reserve_out(b, n);
    for (size_t i = 0; i < n; i++)
        b->p[b->len++] = (char)(*seq)++;
}

/* count producer buffers of size bytes each handed to c (b is the producer's). */
static void put_n(conn_t *c, buf_t *b, int count, size_t size, uint32_t *seq)
{
    for (int i = 0; i < count; i++) {
        fill(b, size, seq);
        out_put(c, b);
    }
}

/* Memory in the pool's blocks (every outbound buffer past 16 KiB is one). */
static size_t held(void)
{
    bufpool_stats_t st;
    bufpool_stats(&st);
    return st.used_bytes;
}

/* The flusher writes up to n bytes: checks they continue the sequence *seq. Returns
 * false on a byte out of order. */
static bool drain(conn_t *c, size_t n, uint32_t *seq)
{
    while (n > 0) {
        if (c->wpos == c->wbuf.len && !out_next(c)) return true;
        size_t k = c->wbuf.len - c->wpos;
        if (k > n) k = n;
        for (size_t i = 0; i < k; i++)
            if (c->wbuf.p[c->wpos + i] != (char)(*seq)++) return false;
        c->wpos += k;
        n -= k;
    }
    return true;
}

/* The flusher writes everything left: in order, all of it; then c and b go. */
static void finish(conn_t *c, buf_t *b, uint32_t in, uint32_t *out)
{
    CHECK(drain(c, SIZE_MAX, out));
    CHECK(in == *out && conn_out_pending(c) == 0);
    buf_free(b);
    conn_done(c);
}

TEST(a_consumer_that_keeps_up_swaps_buffers_and_queues_nothing)
{
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    for (int i = 0; i < 50; i++) {
        fill(&b, 60000, &in);
        out_put(c, &b);
        CHECK(b.len == 0);
        CHECK(drain(c, SIZE_MAX, &out));
    }
    CHECK(c->outq == NULL); /* the common case allocates nothing */
    finish(c, &b, in, &out);
}

TEST(a_backlog_is_held_in_about_its_own_size)
{
    /* a fan-out's shares: 60,000 bytes per pass, nothing written for 20 passes (within
     * the pool's sizes, which held() sees) */
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    size_t before = held();
    put_n(c, &b, 20, 60000, &in);
    size_t pend = conn_out_pending(c);
    CHECK(pend == 20 * 60000);
    /* one growing buffer: 2 MiB for 1.2 MB; segments: 64 KiB blocks of 60,000 */
    CHECK(held() - before <= pend + pend / 4); /* (+ the producer's own buffer) */
    finish(c, &b, in, &out);
}

TEST(small_commits_fill_a_segment_then_start_the_next)
{
    /* many producers' small batches (a fan-in): out is queued once it would have to grow
     * past a segment */
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    size_t before = held();
    fill(&b, 100, &in);
    out_put(c, &b);
    put_n(c, &b, 8000, 150, &in);
    size_t pend = conn_out_pending(c);
    CHECK(pend == 100 + 8000 * 150);
    CHECK(held() - before <= pend + pend / 4);
    finish(c, &b, in, &out);
}

TEST(a_producers_oversized_buffer_is_not_queued_as_it_is)
{
    /* a stage grown to 1 MiB by an earlier burst now commits 20,000 bytes at a time to
     * a consumer that does not read: the backlog must not hold 1 MiB per 20,000 bytes */
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    size_t before = held();
    for (int i = 0; i < 30; i++) {
        buf_reserve_out(&b, 1024 * 1024);
        fill(&b, 20000, &in);
        out_put(c, &b);
    }
    size_t pend = conn_out_pending(c);
    CHECK(pend == 30 * 20000);
    /* segments of 32 KiB; besides them the producer's block and one spare */
    CHECK(held() - before <= 2 * pend + 2 * 1024 * 1024 + 64 * 1024);
    finish(c, &b, in, &out);
}

TEST(bytes_come_out_in_order_whatever_path_they_took)
{
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    uint64_t r = 88172645463325252ULL;
    for (int i = 0; i < 3000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        static const size_t sizes[] = {1, 90, 4000, 16 * 1024 - 1, 16 * 1024, 70000};
        if ((r >> 24) % 7 == 0) buf_reserve_out(&b, 300000); /* an oversized one */
        fill(&b, sizes[r % 6], &in);
        out_put(c, &b);
        CHECK(conn_out_pending(c) == (size_t)(in - out));
        if ((r >> 8) % 3 == 0) CHECK(drain(c, (r >> 16) % 200000, &out));
        CHECK(conn_out_pending(c) == (size_t)(in - out));
    }
    finish(c, &b, in, &out);
}

TEST(a_producer_gets_back_a_buffer_the_size_it_handed_over)
{
    /* behind: the producer's next batch goes into a buffer ready for it (the one the
     * flusher last emptied, or a block of the same size), not one regrown by doubling
     * from nothing at every hand-over */
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    put_n(c, &b, 4, 60000, &in);
    CHECK(drain(c, 130000, &out)); /* two segments written, a third begun */
    fill(&b, 60000, &in);
    out_put(c, &b);
    CHECK(b.len == 0 && b.cap >= 60000);
    finish(c, &b, in, &out);
}

TEST(an_idle_connection_gives_back_its_queue)
{
    conn_t *c = conn_new();
    buf_t b = {0};
    uint32_t in = 0, out = 0;
    put_n(c, &b, 4, 60000, &in);
    c->out_total = 1;
    CHECK(drain(c, SIZE_MAX, &out));
    CHECK(c->outq != NULL);
    trim_out(c, false); /* output since the last tick: kept */
    CHECK(c->outq != NULL);
    trim_out(c, false); /* a whole tick without: gone */
    CHECK(c->outq == NULL && c->out.cap == 0 && c->wbuf.cap == 0);
    buf_free(&b);
    conn_done(c);
}

int main(void)
{
    RUN(a_consumer_that_keeps_up_swaps_buffers_and_queues_nothing);
    RUN(a_backlog_is_held_in_about_its_own_size);
    RUN(small_commits_fill_a_segment_then_start_the_next);
    RUN(a_producers_oversized_buffer_is_not_queued_as_it_is);
    RUN(bytes_come_out_in_order_whatever_path_they_took);
    RUN(a_producer_gets_back_a_buffer_the_size_it_handed_over);
    RUN(an_idle_connection_gives_back_its_queue);
    return test_summary();
}
