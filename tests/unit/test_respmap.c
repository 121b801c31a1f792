/* test_respmap.c: nats/respmap.h, the pending service responses of an account:
 * singleton and streamed entries, expiry, the interest-gone cleanup by literal and
 * wildcard subject, and the bound. */
#include "nats/respmap.h"
#include "test.h"

#define SL(s) ((slice_t){(s), sizeof(s) - 1})

static struct account *A = (struct account *)0x10, *B = (struct account *)0x20;
static int wanted; /* what still_wanted answers */

static bool still_wanted(const struct account *to, slice_t reply)
{
    (void)to, (void)reply;
    return wanted;
}

TEST(singleton_and_stream)
{
    respmap_t *m = respmap_new();
    char r[64];
    size_t rn;
    struct account *to;
    respmap_add(m, SL("_R_.t.1"), A, SL("inbox.1"), 1000, true, 0);
    respmap_add(m, SL("_R_.t.2"), B, SL("inbox.2"), 1000, false, 0);
    CHECK_EQ_INT(respmap_count(m, 1), 2);
    CHECK(respmap_take(m, SL("_R_.t.1"), 10, &to, r, sizeof r, &rn));
    CHECK(to == A && rn == 7 && memcmp(r, "inbox.1", 7) == 0);
    CHECK(!respmap_take(m, SL("_R_.t.1"), 10, &to, r, sizeof r, &rn)); /* answered once */
    /* a streamed entry stays, each response restarting its ttl */
    CHECK(respmap_take(m, SL("_R_.t.2"), 900, &to, r, sizeof r, &rn));
    CHECK(respmap_take(m, SL("_R_.t.2"), 1800, &to, r, sizeof r, &rn));
    CHECK(!respmap_take(m, SL("_R_.t.2"), 2900, &to, r, sizeof r, &rn)); /* expired */
    CHECK_EQ_INT(respmap_count(m, 2900), 0);
    respmap_free(m);
}

TEST(expired_entries_are_not_listed)
{
    respmap_t *m = respmap_new();
    for (int i = 0; i < 10; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "_R_.t.%d", i);
        respmap_add(m, (slice_t){k, (size_t)n}, A, SL("reply"), 250, false, i);
    }
    CHECK_EQ_INT(respmap_count(m, 100), 10);
    CHECK_EQ_INT(respmap_count(m, 255), 4);
    CHECK_EQ_INT(respmap_count(m, 1000), 0);
    respmap_free(m);
}

/* The keys interest_gone dropped, in order (service latency reports them: 408). */
static char lost[256];

static void on_lost(slice_t key)
{
    size_t l = strlen(lost);
    snprintf(lost + l, sizeof lost - l, "%s%.*s", l ? "," : "", (int)key.n, key.p);
}

TEST(interest_gone)
{
    lost[0] = 0;
    respmap_t *m = respmap_new();
    respmap_add(m, SL("_R_.t.1"), A, SL("_INBOX.x.1"), 1000, false, 0);
    respmap_add(m, SL("_R_.t.2"), A, SL("_INBOX.x.2"), 1000, false, 0);
    respmap_add(m, SL("_R_.t.3"), B, SL("_INBOX.x.1"), 1000, false, 0);
    respmap_add(m, SL("_R_.t.4"), A, SL("old.inbox"), 1000, false, 0);
    wanted = 1; /* another subscriber still wants it: kept */
    respmap_interest_gone(m, A, SL("old.inbox"), still_wanted, on_lost);
    CHECK_EQ_INT(respmap_count(m, 1), 4);
    CHECK_EQ_STR(lost, "");
    wanted = 0;
    respmap_interest_gone(m, A, SL("old.inbox"), still_wanted, on_lost); /* a literal: its own */
    CHECK_EQ_INT(respmap_count(m, 1), 3);
    CHECK_EQ_STR(lost, "_R_.t.4");
    respmap_interest_gone(m, A, SL("_INBOX.x.*"), still_wanted, NULL); /* a wildcard: A's only */
    CHECK_EQ_INT(respmap_count(m, 1), 1);
    CHECK_EQ_STR(lost, "_R_.t.4");
    char r[64];
    size_t rn;
    struct account *to;
    CHECK(respmap_take(m, SL("_R_.t.3"), 2, &to, r, sizeof r, &rn) && to == B);
    respmap_free(m);
}

TEST(bounded)
{
    respmap_t *m = respmap_new();
    char k[32];
    for (int i = 0; i < RESP_MAP_MAX + 10; i++) {
        int n = snprintf(k, sizeof k, "_R_.t.%d", i);
        respmap_add(m, (slice_t){k, (size_t)n}, A, SL("r"), 1000000, true, 0);
    }
    CHECK_EQ_INT(respmap_count(m, 1), RESP_MAP_MAX);
    char r[8];
    size_t rn;
    struct account *to;
    CHECK(!respmap_take(m, SL("_R_.t.0"), 1, &to, r, sizeof r, &rn)); /* the oldest went */
    int n = snprintf(k, sizeof k, "_R_.t.%d", RESP_MAP_MAX + 9);
    CHECK(respmap_take(m, (slice_t){k, (size_t)n}, 1, &to, r, sizeof r, &rn));
    respmap_free(m);
}

int main(void)
{
    RUN(singleton_and_stream);
    RUN(expired_entries_are_not_listed);
    RUN(interest_gone);
    RUN(bounded);
    return test_summary();
}
