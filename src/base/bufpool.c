/* bufpool.c: see bufpool.h. A chunk serves one block size at a time; its free blocks
 * are a bitmap in the chunk's record (never in the block: a released chunk is not
 * touched again until it is handed out). Chunks with free blocks are listed per size,
 * empty ones on two lists: still resident (reused first, the most recently emptied on
 * top) and released. */
#include "base/bufpool.h"
#include "base/common.h"
#include "base/os.h"

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_SHIFT 21
#define CHUNK ((size_t)1 << CHUNK_SHIFT)
#define MIN_SHIFT 14
#define NCLASS (CHUNK_SHIFT - MIN_SHIFT + 1) /* 16 KiB .. 2 MiB */
#define NO_CLASS 0xff
/* Address space only (memory is taken as touched): room for 8,192 chunks. Beyond it
 * buffers come from malloc, as on a platform without the range. */
#define RESERVE ((size_t)16 << 30)

_Atomic uintptr_t bufpool_lo, bufpool_hi;

typedef struct chunk {
    int32_t prev, next; /* on one list: partial[cls], empty_res or empty_rel; or none (full) */
    uint16_t used;      /* blocks handed out */
    uint8_t cls;        /* NO_CLASS: empty */
    bool huge;          /* advised for huge pages (the range starts without advice) */
    uint32_t emptied;   /* the trim epoch in which it became empty */
    uint64_t free[2];   /* free blocks (128 of 16 KiB at most) */
} chunk_t;

static struct {
    pthread_mutex_t mu;
    pthread_once_t once;
    char *base;
    chunk_t *meta;
    int32_t nmeta, top; /* chunks in the range; chunks ever handed out (the rest untouched) */
    int32_t partial[NCLASS];
    int32_t empty_res, empty_rel;
    int32_t nempty_res, nresident;
    size_t used_bytes, released;
    uint32_t epoch;       /* bufpool_trim rounds */
    uint32_t alloc_epoch; /* the round of the last allocation */
    int64_t last_trim_ns;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static void pool_init(void)
{
    for (int k = 0; k < NCLASS; k++)
        P.partial[k] = -1;
    P.empty_res = P.empty_rel = -1;
    if (SIZE_MAX / 4 < RESERVE) return; /* 32-bit: not worth the address space */
    char *b = os_vm_reserve(RESERVE, CHUNK);
    if (!b) return;
    P.meta = calloc(RESERVE / CHUNK, sizeof *P.meta);
    if (!P.meta) return;           /* (the range stays reserved, unused) */
    os_vm_huge(b, RESERVE, false); /* (also where THP is "always": take_empty decides) */
    P.base = b;
    P.nmeta = (int32_t)(RESERVE / CHUNK);
    atomic_store(&bufpool_lo, (uintptr_t)b);
    atomic_store(&bufpool_hi, (uintptr_t)b + RESERVE);
}

static void list_push(int32_t *head, int32_t i)
{
    P.meta[i].prev = -1;
    P.meta[i].next = *head;
    if (*head >= 0) P.meta[*head].prev = i;
    *head = i;
}

static void list_del(int32_t *head, int32_t i)
{
    chunk_t *c = &P.meta[i];
    if (c->prev >= 0)
        P.meta[c->prev].next = c->next;
    else
        *head = c->next;
    if (c->next >= 0) P.meta[c->next].prev = c->prev;
    c->prev = c->next = -1;
}

static int nblocks(int cls)
{
    return 1 << (CHUNK_SHIFT - MIN_SHIFT - cls);
}

/* An empty chunk for class cls (a resident one first), or -1. */
static int32_t take_empty(int cls)
{
    int32_t i;
    bool fresh = true; /* its memory is to be touched anew */
    if ((i = P.empty_res) >= 0) {
        list_del(&P.empty_res, i);
        P.nempty_res--;
        fresh = false;
    } else if ((i = P.empty_rel) >= 0) {
        list_del(&P.empty_rel, i);
        P.nresident++;
    } else if (P.top < P.nmeta && os_vm_commit(P.base + ((size_t)P.top << CHUNK_SHIFT), CHUNK)) {
        i = P.top++;
        P.nresident++;
    } else {
        return -1;
    }
    chunk_t *c = &P.meta[i];
    if (fresh) {
        /* the first chunks in 4 KiB pages: a light load's buffers hold only the pages they
         * touch; past them huge pages, where a burst would fault page after page */
        bool huge = P.nresident > BUFPOOL_SMALL;
        if (huge != c->huge) os_vm_huge(P.base + ((size_t)i << CHUNK_SHIFT), CHUNK, huge);
        c->huge = huge;
    }
    int n = nblocks(cls);
    c->cls = (uint8_t)cls;
    c->used = 0;
    c->free[0] = n >= 64 ? ~0ULL : (1ULL << n) - 1;
    c->free[1] = n == 128 ? ~0ULL : 0;
    list_push(&P.partial[cls], i);
    return i;
}

void bufpool_init(void)
{
    pthread_once(&P.once, pool_init);
}

void *bufpool_alloc(size_t size)
{
    pthread_once(&P.once, pool_init);
    if (!P.base || size < BUFPOOL_MIN || size > BUFPOOL_MAX || (size & (size - 1))) return NULL;
    int cls = __builtin_ctzll(size) - MIN_SHIFT;
    pthread_mutex_lock(&P.mu);
    int32_t i = P.partial[cls];
    if (i < 0 && (i = take_empty(cls)) < 0) {
        pthread_mutex_unlock(&P.mu);
        return NULL;
    }
    chunk_t *c = &P.meta[i];
    int word = c->free[0] ? 0 : 1;
    int bit = __builtin_ctzll(c->free[word]);
    c->free[word] &= ~(1ULL << bit);
    if (++c->used == nblocks(cls)) list_del(&P.partial[cls], i);
    P.used_bytes += size;
    P.alloc_epoch = P.epoch;
    pthread_mutex_unlock(&P.mu);
    char *p =
        P.base + ((size_t)i << CHUNK_SHIFT) + ((size_t)(word * 64 + bit) << (MIN_SHIFT + cls));
    UNPOISON(p, size);
    return p;
}

void bufpool_free(void *p)
{
    size_t off = (size_t)((char *)p - P.base);
    int32_t i = (int32_t)(off >> CHUNK_SHIFT);
    pthread_mutex_lock(&P.mu);
    chunk_t *c = &P.meta[i];
    int cls = c->cls;
    size_t size = (size_t)1 << (MIN_SHIFT + cls);
    int b = (int)((off & (CHUNK - 1)) >> (MIN_SHIFT + cls));
    POISON(p, size);
    bool was_full = c->used == nblocks(cls);
    c->free[b / 64] |= 1ULL << (b % 64);
    P.used_bytes -= size;
    if (--c->used == 0) {
        if (!was_full) list_del(&P.partial[cls], i);
        c->cls = NO_CLASS;
        c->emptied = P.epoch;
        list_push(&P.empty_res, i);
        P.nempty_res++;
    } else if (was_full) {
        list_push(&P.partial[cls], i);
    }
    pthread_mutex_unlock(&P.mu);
}

bool bufpool_trim(int64_t now_ns)
{
    pthread_once(&P.once, pool_init); /* (the lists are set up there: before, nothing to do) */
    pthread_mutex_lock(&P.mu);
    if (now_ns - P.last_trim_ns >= BUFPOOL_TRIM_NS) {
        P.last_trim_ns = now_ns;
        P.epoch++;
        /* the list is most recently emptied first: skip the ones kept (none once the
         * pool has been idle), then release what has been empty since before the
         * previous trim */
        int32_t i = P.empty_res;
        int keep = P.epoch - P.alloc_epoch > BUFPOOL_IDLE_TRIMS ? 0 : BUFPOOL_KEEP;
        for (int k = 0; i >= 0 && k < keep; k++)
            i = P.meta[i].next;
        while (i >= 0) {
            int32_t next = P.meta[i].next;
            if (P.epoch - P.meta[i].emptied >= 2) {
                /* (a madvise of 2 MiB under the lock: once per chunk a burst left) */
                list_del(&P.empty_res, i);
                P.nempty_res--;
                UNPOISON(P.base + ((size_t)i << CHUNK_SHIFT), CHUNK);
                os_vm_release(P.base + ((size_t)i << CHUNK_SHIFT), CHUNK);
                list_push(&P.empty_rel, i);
                P.nresident--;
                P.released++;
            }
            i = next;
        }
    }
    bool more = P.nempty_res > 0; /* (the kept ones too: they go once the pool is idle) */
    pthread_mutex_unlock(&P.mu);
    return more;
}

void bufpool_stats(bufpool_stats_t *st)
{
    pthread_mutex_lock(&P.mu);
    st->used_bytes = P.used_bytes;
    st->resident_chunks = (size_t)P.nresident;
    st->chunks_released = P.released;
    pthread_mutex_unlock(&P.mu);
}
