/* test_pass_budget: a producer's pass and the buffers of a wide fan-out (core/core.h
 * pass_fanout, worker_read_must_stop). A fan-out to n consumers stages each message
 * once per consumer; the pass ends once it staged its budget. Each consumer's share of
 * the pass must stay within the power of two below PASS_BUDGET / n, through buf.c's own
 * growth: a share just past a power of two doubled every consumer's buffers (fanout_1000
 * staged 33.5 KB each into 64 KiB blocks, 200 MB where 105 MB do), and at most
 * PASS_SHARE_MAX. And the pass must not get much smaller than that allows (small writes
 * cost throughput). */
#include "test.h"
#include "base/buf.h"
#include "core/core.h"

#include <string.h>

static size_t pow2_below(size_t x)
{
    size_t p = 1;
    while (p * 2 <= x)
        p *= 2;
    return p;
}

/* One pass of a fan-out to n of messages written as wsz bytes in a room of room bytes
 * each (deliver reserves room, writes wsz): one consumer's stage stands for all n (they
 * all get every message). Returns the bytes the pass staged; *cap gets the stage's. */
static uint64_t one_pass(uint32_t n, size_t room, size_t wsz, size_t *cap)
{
    worker_t w;
    memset(&w, 0, sizeof w);
    w.pass_budget = PASS_BUDGET;
    buf_t stage = {0};
    for (;;) {
        if (n > 1) pass_fanout(&w, n, room);
        buf_reserve_out(&stage, room);
        stage.len += wsz;
        w.staged_total += (uint64_t)n * wsz;
        if (worker_read_must_stop(&w)) break;
    }
    *cap = stage.cap;
    buf_free(&stage);
    return w.staged_total - w.pass_mark;
}

TEST(a_wide_fanout_share_stays_within_its_power_of_two)
{
    static const uint32_t widths[] = {2,   4,    8,    16,   33,   100,  333,
                                      500, 1000, 1500, 2000, 5000, 20000};
    static const size_t sizes[] = {16, 128, 1024, 4000, 16384, 40000, 200000};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) {
            uint32_t n = widths[i];
            size_t wsz = 30 + sizes[j] + 2, room = 64 + 16 + 16 + sizes[j] + 2;
            size_t fit = pow2_below(PASS_BUDGET / n), cap, most = PASS_SHARE_MAX;
            while (most < PASS_SHARE_MSGS * room)
                most *= 2;
            if (fit > most) fit = most;
            uint64_t staged = one_pass(n, room, wsz, &cap);
            if (fit <= room) continue; /* shares of a message or two: nothing to fit */
            CHECK(cap <= fit);
            /* at least half of what the shares allow, less a message per consumer */
            uint64_t allowed = (uint64_t)n * most < PASS_BUDGET ? (uint64_t)n * most : PASS_BUDGET;
            CHECK(staged + (uint64_t)n * room > allowed / 2);
        }
    }
}

/* n = 1000 is the benchmark's fanout_1000: 32 KiB shares, not 64 KiB. */
TEST(fanout_1000_takes_32_kib_shares)
{
    size_t cap;
    uint64_t staged = one_pass(1000, 64 + 32 + 128 + 2, 30 + 128 + 2, &cap);
    CHECK(cap == 32 * 1024);
    CHECK(staged > (uint64_t)1000 * 30 * 1024);
}

/* 128 consumers: 64 KiB shares (PASS_SHARE_MAX), not 256 KiB. */
TEST(mid_fanouts_take_at_most_the_share_max)
{
    size_t cap;
    one_pass(128, 64 + 32 + 128 + 2, 30 + 128 + 2, &cap);
    CHECK(cap == PASS_SHARE_MAX);
}

/* 40 KB messages to 8 consumers: a share holds 8 of them at least (512 KiB), not one
 * (a pass per message cost 22 % of the rate). */
TEST(big_messages_keep_several_per_share)
{
    size_t cap, room = 64 + 32 + 40000 + 2;
    uint64_t staged = one_pass(8, room, 30 + 40000 + 2, &cap);
    CHECK(cap == 512 * 1024);
    CHECK(staged >= (uint64_t)8 * PASS_SHARE_MSGS * 40000);
}

/* A single consumer keeps the whole budget (its stage is committed at STAGE_MAX). */
TEST(one_consumer_keeps_the_budget)
{
    size_t cap;
    uint64_t staged = one_pass(1, 200, 160, &cap);
    CHECK(staged > PASS_BUDGET);
}

/* 4 consumers: 64 KiB shares, not the 1 MiB+ that doubled into 2 MiB blocks. */
TEST(narrow_fanouts_take_the_share_max_too)
{
    size_t cap;
    one_pass(4, 200, 160, &cap);
    CHECK(cap == PASS_SHARE_MAX);
}

int main(void)
{
    RUN(a_wide_fanout_share_stays_within_its_power_of_two);
    RUN(fanout_1000_takes_32_kib_shares);
    RUN(mid_fanouts_take_at_most_the_share_max);
    RUN(narrow_fanouts_take_the_share_max_too);
    RUN(big_messages_keep_several_per_share);
    RUN(one_consumer_keeps_the_budget);
    return test_summary();
}
