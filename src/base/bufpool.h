/* bufpool.h: memory for buffers that grow large and come and go, the outbound path's
 * (buf_reserve_out, base/buf.h): blocks of 16 KiB to 2 MiB (powers of two) carved from
 * 2 MiB chunks of one reserved address range that transparent huge pages back.
 *
 * Why: a fan-out to a thousand connections fills ~170 MB of fresh buffer memory per
 * burst. In 4 KiB pages that was ~43,000 page faults per burst at 4-10 us each on the
 * benchmark VM, a fifth of the server's time (docs/performance.md, fourth pass); in
 * 2 MiB pages it is under a hundred.
 *
 * Contract: thread-safe (one mutex: a block changes hands when a buffer grows or is
 * released, not per message). bufpool_alloc takes a power of two in [BUFPOOL_MIN,
 * BUFPOOL_MAX] and returns NULL when the range is used up or the platform has no such
 * range (Windows): the caller then uses malloc. The first BUFPOOL_SMALL chunks use
 * ordinary pages, the ones a burst adds huge pages. bufpool_free takes a block back; a chunk
 * left empty keeps its memory for reuse (giving it back at once cost fan-in 5 % CPU in
 * faults: the next pass wanted it again). bufpool_trim, called by the workers' housekeeping
 * ticks, gives back the memory of chunks empty for a whole BUFPOOL_TRIM_NS beyond the
 * BUFPOOL_KEEP most recent (those too once nothing was allocated for BUFPOOL_IDLE_TRIMS
 * rounds), and says whether some are still to go (tick again), so what the pool holds
 * beyond its blocks in use is gone within two intervals of a burst, and all of it a few
 * seconds after the last one (an idle server keeps no 4 MiB for a burst long past).
 * bufpool_owns says whether a pointer is a block of the pool (two compares). */
#ifndef GNATSD_BUFPOOL_H
#define GNATSD_BUFPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUFPOOL_MIN ((size_t)16 * 1024)
#define BUFPOOL_MAX ((size_t)2 * 1024 * 1024)
#define BUFPOOL_KEEP 2
#define BUFPOOL_IDLE_TRIMS 4
#define BUFPOOL_TRIM_NS 1000000000LL
/* Chunks beyond this many resident ones are backed by huge pages (a 2 MiB page is
 * resident whole: with a chunk per block size, a light load would hold 2 MiB for each
 * size it used once; measured queue_128 RSS 15 -> 27 MB with huge pages from the first) */
#define BUFPOOL_SMALL 8

/* the reserved range, [lo, hi); both 0 until the first allocation reserves it */
extern _Atomic uintptr_t bufpool_lo, bufpool_hi;

static inline bool bufpool_owns(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= atomic_load_explicit(&bufpool_lo, memory_order_relaxed) &&
           a < atomic_load_explicit(&bufpool_hi, memory_order_relaxed);
}

/* Reserves the range (address space only) now: at start-up, so that the process's
 * size does not jump later. Optional: the first allocation does it otherwise. */
void bufpool_init(void);
void *bufpool_alloc(size_t size);
void bufpool_free(void *p);
bool bufpool_trim(int64_t now_ns);

typedef struct bufpool_stats {
    size_t used_bytes;      /* in blocks handed out */
    size_t resident_chunks; /* chunks whose memory the pool holds (in use or kept empty) */
    size_t chunks_released; /* times an empty chunk's memory was given back */
} bufpool_stats_t;
void bufpool_stats(bufpool_stats_t *st);

#endif
