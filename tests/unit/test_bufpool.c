/* test_bufpool: the huge-page block pool behind the outbound buffers (base/bufpool.h)
 * and buf.c's use of it: contents survive every move between malloc and the pool, blocks
 * never overlap, empty chunks beyond the keep give their memory back, and two threads
 * can take and return blocks at once (run under ASan and TSan by make test). */
#include "test.h"
#include "base/buf.h"
#include "base/bufpool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifdef T_ASAN
#include <sanitizer/asan_interface.h>
#endif

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 131u + seed) & 0xff);
}

static int same(const char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)((i * 131u + seed) & 0xff)) return 0;
    return 1;
}

/* Run first: the workers' ticks call bufpool_trim before anything was allocated (it read
 * the lists before they were set up: a crash at a server's first tick). */
TEST(trim_before_any_allocation)
{
    CHECK(!bufpool_trim(BUFPOOL_TRIM_NS * 2)); /* (a whole interval since "0") */
    bufpool_stats_t st;
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes, 0);
    CHECK_EQ_INT(st.resident_chunks, 0);
}

TEST(grow_moves_between_malloc_and_pool)
{
    bufpool_stats_t st0, st;
    bufpool_stats(&st0);
    buf_t b = {0};
    char chunk[3000];
    fill(chunk, sizeof chunk, 7);
    size_t total = 0;
    int pooled = 0, big = 0;
    while (total < 5u * 1024 * 1024) {
        buf_append_out(&b, chunk, sizeof chunk);
        total += sizeof chunk;
        if (b.cap >= BUFPOOL_MIN && b.cap <= BUFPOOL_MAX) {
            CHECK(bufpool_owns(b.p));
            pooled++;
        } else {
            CHECK(!bufpool_owns(b.p));
            if (b.cap > BUFPOOL_MAX) big++;
        }
    }
    CHECK(pooled > 0);
    CHECK(big > 0);
    CHECK_EQ_INT(b.len, total);
    int ok = 1;
    for (size_t off = 0; off < total; off += sizeof chunk)
        ok &= same(b.p + off, sizeof chunk, 7);
    CHECK(ok);
    buf_free(&b);
    CHECK(b.p == NULL && b.cap == 0);
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes, st0.used_bytes);
}

TEST(generic_growth_keeps_a_pool_block_in_the_pool)
{
    buf_t b = {0};
    buf_reserve_out(&b, 20000); /* 32 KiB */
    CHECK(bufpool_owns(b.p));
    CHECK_EQ_INT(b.cap, 32768);
    fill(b.p, 20000, 3);
    b.len = 20000;
    buf_reserve(&b, 100000); /* the generic call: the next size still comes from the pool */
    CHECK(bufpool_owns(b.p));
    CHECK_EQ_INT(b.cap, 131072);
    CHECK(same(b.p, 20000, 3));
    buf_free(&b);
    /* plain buffers stay with malloc */
    buf_reserve(&b, 100000);
    CHECK(!bufpool_owns(b.p));
    buf_free(&b);
}

/* bufpool_trim's clock: a whole interval further at each call */
static int64_t fake_now(void)
{
    static int64_t t = 1000000000000LL;
    return t += BUFPOOL_TRIM_NS;
}

TEST(blocks_do_not_overlap_and_empty_chunks_are_released)
{
    enum { N = 300 }; /* 16 KiB blocks: 128 per chunk, so three chunks */
    bufpool_stats_t st0, st;
    bufpool_stats(&st0);
    char *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = bufpool_alloc(BUFPOOL_MIN);
        CHECK(v[i] != NULL);
        if (!v[i]) return;
        CHECK(bufpool_owns(v[i]));
        fill(v[i], BUFPOOL_MIN, (unsigned)i);
    }
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= same(v[i], BUFPOOL_MIN, (unsigned)i);
    CHECK(ok);
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes - st0.used_bytes, (size_t)N * BUFPOOL_MIN);
    for (int i = 0; i < N; i++)
        bufpool_free(v[i]);
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes, st0.used_bytes);
    /* emptied chunks keep their memory until they were empty for a whole trim interval */
    CHECK_EQ_INT(st.chunks_released, st0.chunks_released);
    CHECK(bufpool_trim(fake_now()));
    bufpool_stats(&st);
    CHECK_EQ_INT(st.chunks_released, st0.chunks_released);
    /* three chunks emptied: at most BUFPOOL_KEEP of them keep their memory, and the
     * trim says they are still to go (the workers tick on until the pool is idle) */
    CHECK(bufpool_trim(fake_now()));
    bufpool_stats(&st);
    CHECK(st.chunks_released >= st0.chunks_released + 3 - BUFPOOL_KEEP);
    CHECK(st.resident_chunks <= BUFPOOL_KEEP);
    /* a released chunk is handed out again, reading as zeroes or as written: usable */
    char *p = bufpool_alloc(BUFPOOL_MAX);
    CHECK(p != NULL);
    if (p) {
        fill(p, BUFPOOL_MAX, 9);
        CHECK(same(p, BUFPOOL_MAX, 9));
        bufpool_free(p);
    }
}

/* The BUFPOOL_KEEP chunks kept for the next burst go too once nothing was allocated
 * for BUFPOOL_IDLE_TRIMS rounds; an allocation meanwhile starts the count again. */
TEST(kept_chunks_go_once_the_pool_is_idle)
{
    enum { N = 3 * 128 }; /* three chunks of 16 KiB blocks */
    char **v = malloc(N * sizeof *v);
    CHECK(v != NULL);
    if (!v) return;
    for (int i = 0; i < N; i++) {
        v[i] = bufpool_alloc(BUFPOOL_MIN);
        CHECK(v[i] != NULL);
        if (!v[i]) return;
    }
    for (int i = 0; i < N; i++)
        bufpool_free(v[i]);
    free(v);
    bufpool_stats_t st;
    for (int k = 0; k < 3; k++)
        bufpool_trim(fake_now());
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes, 0);
    CHECK_EQ_INT(st.resident_chunks, BUFPOOL_KEEP); /* kept for the next burst */
    /* a small allocation now: the pool is in use, the kept chunks stay */
    bufpool_free(bufpool_alloc(BUFPOOL_MIN));
    for (int k = 0; k < BUFPOOL_IDLE_TRIMS; k++)
        CHECK(bufpool_trim(fake_now()));
    bufpool_stats(&st);
    CHECK_EQ_INT(st.resident_chunks, BUFPOOL_KEEP);
    /* then idle: all of them go, and nothing is left to tick for */
    int rounds = 0;
    while (bufpool_trim(fake_now()) && rounds < 10)
        rounds++;
    CHECK(rounds <= 3);
    bufpool_stats(&st);
    CHECK_EQ_INT(st.resident_chunks, 0);
}

TEST(sizes_the_pool_does_not_take)
{
    CHECK(bufpool_alloc(4096) == NULL);
    CHECK(bufpool_alloc(BUFPOOL_MIN + 1) == NULL);
    CHECK(bufpool_alloc(BUFPOOL_MAX * 2) == NULL);
    CHECK(!bufpool_owns(NULL));
    int x;
    CHECK(!bufpool_owns(&x));
}

/* Under ASan a returned block is poisoned (a use after free is reported) and a handed
 * out one is not; elsewhere there is nothing to check. */
TEST(freed_blocks_are_poisoned_under_asan)
{
#ifdef T_ASAN
    char *p = bufpool_alloc(BUFPOOL_MIN * 4);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(!__asan_address_is_poisoned(p));
    CHECK(!__asan_address_is_poisoned(p + BUFPOOL_MIN * 4 - 1));
    bufpool_free(p);
    CHECK(__asan_address_is_poisoned(p));
    CHECK(__asan_address_is_poisoned(p + BUFPOOL_MIN * 4 - 1));
#endif
}

#ifdef __linux__
/* The VmFlags of the mapping holding p ("hg": huge pages advised, "nh": advised against). */
static int vm_flag(const void *p, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0, found = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s", flag);
            found = strstr(line, want) != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}
#endif

/* The first BUFPOOL_SMALL resident chunks stay in ordinary pages, the ones past them are
 * advised for huge pages. */
TEST(huge_pages_only_past_the_first_chunks)
{
#ifdef __linux__
    enum { N = BUFPOOL_SMALL + 2 };
    char *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = bufpool_alloc(BUFPOOL_MAX); /* one chunk each */
        CHECK(v[i] != NULL);
        if (!v[i]) return;
    }
    CHECK_EQ_INT(vm_flag(v[N - 1], "hg"), 1);
    int small = 0;
    for (int i = 0; i < N; i++)
        small += vm_flag(v[i], "nh") == 1;
    CHECK(small >= 1);
    for (int i = 0; i < N; i++)
        bufpool_free(v[i]);
#endif
}

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char *held[16] = {0};
    size_t size[16] = {0};
    int bad = 0;
    for (int k = 0; k < 4000; k++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % 16);
        if (held[i]) {
            bad += !same(held[i], 64, (unsigned)i + (unsigned)(uintptr_t)arg);
            bufpool_free(held[i]);
            held[i] = NULL;
        } else {
            size[i] = BUFPOOL_MIN << ((seed >> 16) % 8);
            held[i] = bufpool_alloc(size[i]);
            if (held[i]) fill(held[i], 64, (unsigned)i + (unsigned)(uintptr_t)arg);
        }
    }
    for (int i = 0; i < 16; i++)
        if (held[i]) bufpool_free(held[i]);
    return (void *)(intptr_t)bad;
}

TEST(two_threads)
{
    bufpool_stats_t st0, st;
    bufpool_stats(&st0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i * 1000 + 1));
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK_EQ_INT((intptr_t)r, 0);
    }
    bufpool_stats(&st);
    CHECK_EQ_INT(st.used_bytes, st0.used_bytes);
}

int main(void)
{
    RUN(trim_before_any_allocation);
    RUN(grow_moves_between_malloc_and_pool);
    RUN(generic_growth_keeps_a_pool_block_in_the_pool);
    RUN(blocks_do_not_overlap_and_empty_chunks_are_released);
    RUN(kept_chunks_go_once_the_pool_is_idle);
    RUN(sizes_the_pool_does_not_take);
    RUN(freed_blocks_are_poisoned_under_asan);
    RUN(huge_pages_only_past_the_first_chunks);
    RUN(two_threads);
    return test_summary();
}
