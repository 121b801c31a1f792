/* test_deadline_grid.c: core/core.h deadline_after, a connection's deadline (PING,
 * auth and TLS timeouts) on the grid of 1/16 of its delay (1 ms to 1 s): never early,
 * less than a grid step late, and the same for every connection whose exact time falls
 * in one step (one timer pass serves them all). */
#include "core/core.h"
#include "test.h"

#define MS 1000000LL
#define S 1000000000LL

static int64_t grid(int64_t d)
{
    int64_t g = d / 16;
    return g < MS ? MS : g > S ? S : g;
}

TEST(never_early_less_than_a_step_late)
{
    static const int64_t delays[] = {1 * MS, 20 * MS, 100 * MS, 2 * S, 120 * S, 3600 * S};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        int64_t d = delays[i], g = grid(d);
        for (int64_t now = 5 * S + 123; now < 5 * S + 3 * g; now += g / 7 + 1) {
            int64_t t = deadline_after(now, d);
            CHECK(t >= now + d);
            CHECK(t - (now + d) < g);
            CHECK_EQ_INT(t % g, 0);
        }
    }
}

TEST(one_step_one_due_time)
{
    /* First PINGs (2 s): connections made within 125 ms of each other on the grid
     * share their due time; 2 minutes: within a second. */
    CHECK_EQ_INT(deadline_after(10 * S + 1, 2 * S), deadline_after(10 * S + 125 * MS, 2 * S));
    CHECK(deadline_after(10 * S + 125 * MS + 1, 2 * S) != deadline_after(10 * S, 2 * S));
    CHECK_EQ_INT(deadline_after(7 * S + 1, 120 * S), deadline_after(8 * S, 120 * S));
    /* Exact on the grid stays: nothing is added. */
    CHECK_EQ_INT(deadline_after(8 * S, 2 * S), 10 * S);
}

int main(void)
{
    RUN(never_early_less_than_a_step_late);
    RUN(one_step_one_due_time);
    return test_summary();
}
