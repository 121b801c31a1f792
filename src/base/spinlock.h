/* spinlock.h: a small test-and-test-and-set lock for very short critical
 * sections (appending to a connection's outbound buffer). Uncontended it
 * costs one atomic exchange and one release store, half of a mutex's
 * lock+unlock pair; contended it spins briefly, then yields, since the holder
 * may be inside a write(2). */
#ifndef GNATSD_SPINLOCK_H
#define GNATSD_SPINLOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct spinlock {
    _Atomic bool held;
} spinlock_t;

static inline void spin_init(spinlock_t *l)
{
    atomic_init(&l->held, false);
}

/* the spin-wait hint of the CPU: it lets a sibling hyperthread run and saves
 * power while the holder finishes; the release builds include aarch64 */
static inline void spin_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline void spin_lock(spinlock_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_exchange_explicit(&l->held, true, memory_order_acquire)) return;
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (++spins > 64)
                sched_yield();
            else
                spin_relax();
        }
    }
}

static inline void spin_unlock(spinlock_t *l)
{
    atomic_store_explicit(&l->held, false, memory_order_release);
}

#endif
