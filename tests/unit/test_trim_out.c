/* test_trim_out: what a housekeeping tick leaves a connection of its two outbound
 * buffers (core/outbound.c trim_out, base/buf.h buf_oversized). Idle since the last
 * tick: both go. Busy: at the end of a HOUSEKEEP_NS period, each is kept unless it is
 * above BUF_KEEP_BUSY and more than 8x the largest write of the period (or what is
 * queued now); a buffer in use (bytes queued, a write not finished) is never touched. A busy
 * consumer once behind by a MiB otherwise kept its 2 MiB buffers for as long as it got a message
 * per tick. */
#include "test.h"
#include "base/buf.h"
#include "core/loop.h"

#include <stdlib.h>

/* A connection whose out and wbuf have capacities out_cap and wbuf_cap (empty), that
 * queued something since the last tick (busy) or not, whose largest write since then
 * was wpeak bytes. */
static conn_t *conn_with(size_t out_cap, size_t wbuf_cap, bool busy, size_t wpeak)
{
    conn_t *c = calloc(1, sizeof *c);
    spin_init(&c->out_lock);
    if (out_cap) buf_reserve_out(&c->out, out_cap);
    if (wbuf_cap) buf_reserve_out(&c->wbuf, wbuf_cap);
    c->out_total = busy ? 100 : 0;
    c->wpeak = wpeak;
    return c;
}

static void conn_done(conn_t *c)
{
    buf_free(&c->out);
    buf_free(&c->wbuf);
    free(c);
}

TEST(idle_gives_back_both_whatever_their_size)
{
    conn_t *c = conn_with(32 * 1024, 1024, false, 0);
    trim_out(c, true);
    CHECK(c->out.cap == 0 && c->wbuf.cap == 0);
    conn_done(c);
}

TEST(busy_gives_back_buffers_sized_by_a_past_backlog)
{
    conn_t *c = conn_with(2 * 1024 * 1024, 2 * 1024 * 1024, true, 900);
    trim_out(c, true);
    CHECK(c->out.cap == 0 && c->wbuf.cap == 0);
    conn_done(c);
}

TEST(busy_keeps_buffers_its_writes_still_need)
{
    /* writes of 64 KiB in 256 KiB buffers (a stream whose write sizes vary): kept */
    conn_t *c = conn_with(256 * 1024, 256 * 1024, true, 64 * 1024);
    trim_out(c, true);
    CHECK(c->out.cap >= 256 * 1024 && c->wbuf.cap >= 256 * 1024);
    /* just under an eighth: given back */
    c->out_total++;
    c->wpeak = 32 * 1024 - 1;
    trim_out(c, true);
    CHECK(c->out.cap == 0 && c->wbuf.cap == 0);
    conn_done(c);
}

TEST(busy_keeps_small_buffers)
{
    conn_t *c = conn_with(BUF_KEEP_BUSY, BUF_KEEP_BUSY, true, 10);
    trim_out(c, true);
    CHECK(c->out.cap == BUF_KEEP_BUSY && c->wbuf.cap == BUF_KEEP_BUSY);
    conn_done(c);
}

TEST(what_is_queued_counts_as_a_write)
{
    /* 1 MiB queued in out, nothing written this tick: out is in use, and wbuf (2 MiB) is
     * what that write will need */
    conn_t *c = conn_with(2 * 1024 * 1024, 2 * 1024 * 1024, true, 0);
    c->out.len = 1024 * 1024;
    trim_out(c, true);
    CHECK(c->out.cap == 2 * 1024 * 1024 && c->wbuf.cap == 2 * 1024 * 1024);
    conn_done(c);
}

TEST(a_write_in_progress_is_not_touched)
{
    conn_t *c = conn_with(0, 2 * 1024 * 1024, true, 0);
    c->wbuf.len = 1000;
    c->wpos = 10;
    trim_out(c, true);
    CHECK(c->wbuf.cap == 2 * 1024 * 1024 && c->wbuf.len == 1000 && c->wpos == 10);
    c->flushing = true; /* a flusher owns wbuf: nothing is decided */
    c->wbuf.len = c->wpos = 0;
    c->out_total++;
    trim_out(c, true);
    CHECK(c->wbuf.cap == 2 * 1024 * 1024);
    conn_done(c);
}

TEST(busy_buffers_are_judged_only_when_a_period_ends)
{
    /* the timers ran early (a pause was due): a big write earlier in the period counts */
    conn_t *c = conn_with(1024 * 1024, 1024 * 1024, true, 600 * 1024);
    trim_out(c, false);
    CHECK(c->out.cap == 1024 * 1024 && c->wbuf.cap == 1024 * 1024);
    CHECK(c->wpeak == 600 * 1024);
    c->out_total++;
    trim_out(c, true);
    CHECK(c->out.cap == 1024 * 1024 && c->wbuf.cap == 1024 * 1024);
    /* and a run before the end of the next period decides nothing either */
    c->out_total++;
    trim_out(c, false);
    CHECK(c->out.cap == 1024 * 1024 && c->wbuf.cap == 1024 * 1024);
    conn_done(c);
}

TEST(the_peak_is_per_period)
{
    /* a period with a big write keeps the buffers; the next, with only small ones, not */
    conn_t *c = conn_with(1024 * 1024, 1024 * 1024, true, 600 * 1024);
    trim_out(c, true);
    CHECK(c->out.cap == 1024 * 1024 && c->wbuf.cap == 1024 * 1024);
    CHECK(c->wpeak == 0);
    c->out_total++;
    trim_out(c, true);
    CHECK(c->out.cap == 0 && c->wbuf.cap == 0);
    conn_done(c);
}

int main(void)
{
    RUN(idle_gives_back_both_whatever_their_size);
    RUN(busy_gives_back_buffers_sized_by_a_past_backlog);
    RUN(busy_keeps_buffers_its_writes_still_need);
    RUN(busy_keeps_small_buffers);
    RUN(what_is_queued_counts_as_a_write);
    RUN(a_write_in_progress_is_not_touched);
    RUN(busy_buffers_are_judged_only_when_a_period_ends);
    RUN(the_peak_is_per_period);
    return test_summary();
}
