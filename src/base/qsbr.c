/* qsbr.c: epoch-based quiescent-state reclamation.
 *
 * Design. One global epoch G (starts at 1, only grows). Every registered
 * thread owns a cache-line-sized slot whose `local` is 0 while the thread is
 * offline and otherwise the value of G the thread saw at its last quiescent
 * point (or when it came online). G may move from E to E+1 only when every
 * online slot shows E, i.e. every online thread has passed a quiescent point
 * since G became E.
 *
 * qsbr_retire() tags the object with the current G (after a full fence, so the
 * unlink that precedes it is globally visible before the tag is read). An
 * object tagged T is freed once G >= T + 2: the move T+1 -> T+2 needs every
 * online thread to have announced a quiescent state after G became T+1, which
 * happened after the retirement, so no thread can still hold a pointer it
 * loaded before the unlink. Threads that come online later read G first and
 * so can only have seen the object already unlinked.
 *
 * Retired objects go to the retiring thread's own list (no lock, FIFO so the
 * tags are non-decreasing and reclaiming stops at the first young entry).
 * Unregistered threads (and threads that unregister with work pending) use a
 * global list under a mutex, drained by any registered thread.
 *
 * Advancing the epoch scans the slots, so only threads that have pending
 * retirements try it; idle readers just copy G into their slot, and only when
 * G changed (a quiescent point with nothing to do is a load and a compare).
 *
 * Memory ordering: a reader's accesses to an object happen before its release
 * store of `local`; the advancer loads every `local` with acquire and moves G
 * with an acq_rel CAS; the reclaimer loads G with acquire before freeing. That
 * chain gives ThreadSanitizer (and the hardware) the happens-before edge from
 * the last read to the free. */
#include "base/qsbr.h"
#include "base/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct retired {
    void *p;
    void (*fn)(void *);
    uint64_t tag;
} retired_t;

/* FIFO of retired objects: items[head..len) are pending. */
typedef struct rvec {
    retired_t *items;
    size_t head, len, cap;
} rvec_t;

typedef struct qslot {
    _Atomic uint64_t local; /* 0 = offline, else last observed epoch */
    _Atomic bool in_use;
    rvec_t rv; /* touched only by the owning thread (and drain_all) */
} __attribute__((aligned(64))) qslot_t;

static qslot_t slots[QSBR_MAX_THREADS];
static _Atomic int slot_hi; /* one past the highest slot ever claimed */
static _Atomic uint64_t global_epoch = 1;

static pthread_mutex_t orphan_mu = PTHREAD_MUTEX_INITIALIZER;
static rvec_t orphans;                 /* guarded by orphan_mu */
static _Atomic size_t orphans_pending; /* hint, read without the mutex */

static __thread qslot_t *my_slot;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

static void rvec_push(rvec_t *v, void *p, void (*fn)(void *), uint64_t tag)
{
    if (v->len == v->cap) {
        if (v->head > v->cap / 2) {
            /* Mostly drained: slide down instead of growing. */
            memmove(v->items, v->items + v->head, (v->len - v->head) * sizeof(*v->items));
            v->len -= v->head;
            v->head = 0;
        } else {
            v->cap = v->cap ? v->cap * 2 : 64;
            v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
        }
    }
    v->items[v->len++] = (retired_t){p, fn, tag};
}

static size_t rvec_pending(const rvec_t *v)
{
    return v->len - v->head;
}

/* Free the entries of the calling thread's own list that are old enough.
 * A free function may retire more objects onto the same list (it can grow or
 * slide under us), so re-read the vector on every step. */
static void reclaim_local(rvec_t *v)
{
    uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
    while (v->head < v->len && v->items[v->head].tag + 2 <= g) {
        retired_t r = v->items[v->head++];
        r.fn(r.p);
    }
    if (v->head == v->len) v->head = v->len = 0;
}

static void reclaim_orphans(bool all)
{
    if (atomic_load_explicit(&orphans_pending, memory_order_relaxed) == 0) return;
    retired_t batch[64];
    size_t n;
    do {
        uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
        n = 0;
        pthread_mutex_lock(&orphan_mu);
        while (n < ARRAY_LEN(batch) && orphans.head < orphans.len &&
               (all || orphans.items[orphans.head].tag + 2 <= g))
            batch[n++] = orphans.items[orphans.head++];
        if (orphans.head == orphans.len) orphans.head = orphans.len = 0;
        atomic_store_explicit(&orphans_pending, rvec_pending(&orphans), memory_order_relaxed);
        pthread_mutex_unlock(&orphan_mu);
        /* Outside the mutex: a free function may retire again. */
        for (size_t i = 0; i < n; i++)
            batch[i].fn(batch[i].p);
    } while (n == ARRAY_LEN(batch));
}

/* Move G forward by one if every online thread has observed it. */
static void try_advance(void)
{
    uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
    int hi = atomic_load_explicit(&slot_hi, memory_order_acquire);
    for (int i = 0; i < hi; i++) {
        if (!atomic_load_explicit(&slots[i].in_use, memory_order_acquire)) continue;
        uint64_t l = atomic_load_explicit(&slots[i].local, memory_order_acquire);
        if (l != 0 && l != g) return;
    }
    atomic_compare_exchange_strong_explicit(&global_epoch, &g, g + 1, memory_order_acq_rel,
                                            memory_order_acquire);
}

/* Publish "online at epoch G". The full fence orders the store before every
 * later load of shared pointers (store-load), pairing with the fence in
 * qsbr_retire: either the retirer sees us online at an old epoch, or we see
 * the object already unlinked. */
static void announce(qslot_t *s)
{
    uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
    atomic_store_explicit(&s->local, g, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
}

static void thread_exit_hook(void *arg)
{
    /* A thread that exits while registered would pin the epoch forever. */
    if (arg && my_slot == arg) qsbr_unregister();
}

static void make_key(void)
{
    pthread_key_create(&exit_key, thread_exit_hook);
}

int qsbr_register(void)
{
    if (my_slot) return (int)(my_slot - slots);
    pthread_once(&key_once, make_key);
    for (int i = 0; i < QSBR_MAX_THREADS; i++) {
        bool expect = false;
        if (atomic_compare_exchange_strong_explicit(&slots[i].in_use, &expect, true,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            int hi = atomic_load_explicit(&slot_hi, memory_order_relaxed);
            while (hi < i + 1 && !atomic_compare_exchange_weak_explicit(&slot_hi, &hi, i + 1,
                                                                        memory_order_acq_rel,
                                                                        memory_order_relaxed))
                ;
            my_slot = &slots[i];
            announce(my_slot);
            pthread_setspecific(exit_key, my_slot);
            return i;
        }
    }
    fprintf(stderr, "gnatsd: qsbr: more than %d registered threads\n", QSBR_MAX_THREADS);
    abort();
}

void qsbr_unregister(void)
{
    qslot_t *s = my_slot;
    if (!s) return;
    atomic_store_explicit(&s->local, 0, memory_order_release);
    if (rvec_pending(&s->rv)) {
        /* Hand leftovers (with their tags) to the shared list. */
        pthread_mutex_lock(&orphan_mu);
        for (size_t i = s->rv.head; i < s->rv.len; i++)
            rvec_push(&orphans, s->rv.items[i].p, s->rv.items[i].fn, s->rv.items[i].tag);
        atomic_store_explicit(&orphans_pending, rvec_pending(&orphans), memory_order_relaxed);
        pthread_mutex_unlock(&orphan_mu);
    }
    free(s->rv.items);
    s->rv = (rvec_t){0};
    my_slot = NULL;
    pthread_setspecific(exit_key, NULL);
    atomic_store_explicit(&s->in_use, false, memory_order_release);
}

void qsbr_quiescent(void)
{
    qslot_t *s = my_slot;
    if (!s) {
        qsbr_poll();
        return;
    }
    uint64_t g = atomic_load_explicit(&global_epoch, memory_order_acquire);
    uint64_t l = atomic_load_explicit(&s->local, memory_order_relaxed);
    /* Unchanged G: our slot already says so, and nothing is waiting on us.
     * Offline (0): stay offline; only qsbr_online() brings us back. */
    if (l != g && l != 0) announce(s);
    if (rvec_pending(&s->rv) || atomic_load_explicit(&orphans_pending, memory_order_relaxed)) {
        try_advance();
        reclaim_local(&s->rv);
        reclaim_orphans(false);
    }
}

void qsbr_offline(void)
{
    qslot_t *s = my_slot;
    if (s) atomic_store_explicit(&s->local, 0, memory_order_release);
}

void qsbr_online(void)
{
    qslot_t *s = my_slot;
    if (s) announce(s);
}

void qsbr_retire(void *p, void (*free_fn)(void *))
{
    if (!p) return;
    /* The caller unlinked p just before; make that visible before we read
     * the epoch, so a reader that later reports this epoch cannot still load
     * the old pointer. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t tag = atomic_load_explicit(&global_epoch, memory_order_seq_cst);
    qslot_t *s = my_slot;
    if (s) {
        rvec_push(&s->rv, p, free_fn, tag);
        return;
    }
    pthread_mutex_lock(&orphan_mu);
    rvec_push(&orphans, p, free_fn, tag);
    atomic_store_explicit(&orphans_pending, rvec_pending(&orphans), memory_order_relaxed);
    pthread_mutex_unlock(&orphan_mu);
}

void qsbr_poll(void)
{
    qslot_t *s = my_slot;
    if (s && rvec_pending(&s->rv)) {
        try_advance();
        reclaim_local(&s->rv);
    } else if (atomic_load_explicit(&orphans_pending, memory_order_relaxed)) {
        try_advance();
    }
    reclaim_orphans(false);
}

void qsbr_drain_all(void)
{
    /* Free functions may retire more objects: loop until nothing is left. */
    for (;;) {
        bool any = false;
        int hi = atomic_load_explicit(&slot_hi, memory_order_acquire);
        for (int i = 0; i < hi; i++) {
            rvec_t *v = &slots[i].rv;
            while (v->head < v->len) {
                retired_t r = v->items[v->head++];
                r.fn(r.p);
                any = true;
            }
            v->head = v->len = 0;
            if (!atomic_load_explicit(&slots[i].in_use, memory_order_acquire)) {
                free(v->items);
                *v = (rvec_t){0};
            }
        }
        if (atomic_load_explicit(&orphans_pending, memory_order_relaxed)) {
            reclaim_orphans(true);
            any = true;
        }
        if (!any) break;
    }
    pthread_mutex_lock(&orphan_mu);
    if (orphans.head == orphans.len) {
        free(orphans.items);
        orphans = (rvec_t){0};
    }
    pthread_mutex_unlock(&orphan_mu);
}
