/* sublist_bench.c: ns per sublist_match on cache hits (1 and 2 threads), on
 * misses (cache off), per insert+match+remove of an _INBOX subject, and per removal
 * of one of 50,000 subscriptions to one subject.
 * Build (after make): gcc -std=gnu11 -O2 -D_GNU_SOURCE -pthread -Isrc -o /tmp/slb
 *        bench/sublist_bench.c build/libgnatsd.a -lssl -lcrypto -lcrypt -lm */
#include "base/common.h"
#include "base/qsbr.h"
#include "index/sublist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { NSUBJ = 1024, ITERS = 20000000 };

static sublist_t *sl;
static char subjects[NSUBJ][48];
static size_t lens[NSUBJ];
static volatile uint64_t sink;

static sub_t *mksub(const char *subj, const char *q)
{
    size_t n = strlen(subj), qn = q ? strlen(q) : 0;
    sub_t *s = calloc(1, sizeof(*s) + n + qn);
    memcpy(s->mem, subj, n);
    s->subject = (slice_t){s->mem, n};
    if (qn) {
        memcpy(s->mem + n, q, qn);
        s->queue = (slice_t){s->mem + n, qn};
    }
    return s;
}

static void *hit_loop(void *arg)
{
    long iters = (long)(intptr_t)arg;
    qsbr_register();
    uint64_t acc = 0;
    for (long i = 0; i < iters; i++) {
        unsigned k = (unsigned)i & (NSUBJ - 1);
        acc += sublist_match(sl, subjects[k], lens[k])->nplain;
        if ((i & 63) == 0) qsbr_quiescent();
    }
    sink += acc;
    qsbr_unregister();
    return NULL;
}

static double bench_threads(int nthreads, long iters)
{
    pthread_t t[8];
    int64_t t0 = now_mono_ns();
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, hit_loop, (void *)(intptr_t)iters);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    return (double)(now_mono_ns() - t0) / (double)iters;
}

int main(void)
{
    sl = sublist_new(true);
    /* A plausible mix: per-service literals, some wildcards, a queue group. */
    for (int i = 0; i < NSUBJ; i++) {
        lens[i] = (size_t)snprintf(subjects[i], sizeof(subjects[i]), "svc.orders.%d.created", i);
        sublist_insert(sl, mksub(subjects[i], NULL));
    }
    sublist_insert(sl, mksub("svc.*.*.created", NULL));
    sublist_insert(sl, mksub("svc.>", "workers"));
    sublist_insert(sl, mksub(">", NULL));

    hit_loop((void *)(intptr_t)NSUBJ); /* warm the cache */
    printf("cache hit, 1 thread:  %.1f ns/match\n", bench_threads(1, ITERS));
    printf("cache hit, 2 threads: %.1f ns/match (wall per thread-iteration)\n",
           bench_threads(2, ITERS));

    sublist_t *cached = sl;
    sl = sublist_new(false);
    for (int i = 0; i < NSUBJ; i++)
        sublist_insert(sl, mksub(subjects[i], NULL));
    sublist_insert(sl, mksub("svc.*.*.created", NULL));
    sublist_insert(sl, mksub("svc.>", "workers"));
    printf("miss (cache off):     %.1f ns/match\n", bench_threads(1, ITERS / 20));
    sl = cached;

    /* Request/reply churn: a fresh inbox per request. */
    qsbr_register();
    int64_t t0 = now_mono_ns();
    enum { CHURN = 1000000 };
    for (int i = 0; i < CHURN; i++) {
        char inbox[48];
        int n = snprintf(inbox, sizeof(inbox), "_INBOX.Xk3d9a0fQ.%d", i);
        sub_t *s = mksub(inbox, NULL);
        sublist_insert(sl, s);
        sink += sublist_match(sl, inbox, (size_t)n)->nplain;
        sublist_remove(sl, s);
        qsbr_retire(s, free);
        qsbr_quiescent();
    }
    printf("inbox insert+match+remove: %.1f ns/cycle\n", (double)(now_mono_ns() - t0) / CHURN);
    t0 = now_mono_ns();
    enum { WILD = 2000 };
    for (int i = 0; i < WILD; i++) {
        sub_t *s = mksub("svc.orders.*.created", NULL);
        sublist_insert(sl, s);
        sublist_remove(sl, s);
        qsbr_retire(s, free);
        qsbr_quiescent();
    }
    printf("wildcard insert+remove (occupied-set scan x2): %.0f ns/cycle\n",
           (double)(now_mono_ns() - t0) / WILD);
    /* Many connections on one subject going at once (a fan-out's subscribers after a
     * network blip): each removal used to search the subject's array. */
    enum { FAN = 50000 };
    sub_t **fan = malloc(FAN * sizeof *fan);
    for (int i = 0; i < FAN; i++)
        sublist_insert(sl, fan[i] = mksub("fan.out", NULL));
    t0 = now_mono_ns();
    for (int i = 0; i < FAN; i++) {
        sublist_remove(sl, fan[i]);
        qsbr_retire(fan[i], free);
        qsbr_quiescent();
    }
    printf("remove %d subs of one subject, oldest first: %.0f ns/remove\n", FAN,
           (double)(now_mono_ns() - t0) / FAN);
    free(fan);
    sublist_stats_t st;
    sublist_stats(sl, &st);
    printf("stats: subs=%llu cache=%llu matches=%llu hits=%llu\n", (unsigned long long)st.num_subs,
           (unsigned long long)st.num_cache, (unsigned long long)st.num_matches,
           (unsigned long long)st.cache_hits);
    qsbr_unregister();
    return 0;
}
