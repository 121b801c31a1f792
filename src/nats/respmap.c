/* respmap.c: pending service responses of one account (see respmap.h).
 *
 * Two chained hash indexes over the same entries (by key; by requester
 * account and reply) and one age list. Tables double up to RESP_MAP_MAX
 * buckets; hashes are the keyed hash (clients choose reply subjects). */
#include "nats/respmap.h"
#include "base/hash.h"
#include "index/sublist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct ent {
    struct ent *knext, *rnext; /* the key chain, the reply chain */
    struct ent *older, *newer;
    uint64_t kh, rh;
    struct account *to;
    int64_t expires_ns, ttl_ns;
    bool singleton;
    uint32_t klen, rlen;
    char data[]; /* key, then reply */
} ent_t;

struct respmap {
    pthread_mutex_t mu;
    ent_t **kb, **rb;
    size_t cap, n;
    _Atomic size_t live; /* n, readable without the lock: most maps are empty */
    ent_t *oldest, *newest;
};

static uint64_t reply_hash(const struct account *to, const char *r, size_t n)
{
    return hash_bytes(r, n) ^ hash_mix64((uint64_t)(uintptr_t)to);
}

respmap_t *respmap_new(void)
{
    respmap_t *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static ent_t **kslot(respmap_t *m, const char *k, size_t n, uint64_t h)
{
    ent_t **pp = &m->kb[h & (m->cap - 1)];
    while (*pp && !((*pp)->kh == h && (*pp)->klen == n && memcmp((*pp)->data, k, n) == 0))
        pp = &(*pp)->knext;
    return pp;
}

static void unlink_from(ent_t **pp, ent_t *e, bool reply_chain)
{
    while (*pp && *pp != e)
        pp = reply_chain ? &(*pp)->rnext : &(*pp)->knext;
    if (*pp) *pp = reply_chain ? e->rnext : e->knext;
}

/* Under mu. */
static void drop(respmap_t *m, ent_t *e)
{
    unlink_from(&m->kb[e->kh & (m->cap - 1)], e, false);
    unlink_from(&m->rb[e->rh & (m->cap - 1)], e, true);
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    m->n--;
    atomic_store_explicit(&m->live, m->n, memory_order_relaxed);
    free(e);
}

static void grow(respmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    ent_t **kb = xcalloc(ncap, sizeof *kb), **rb = xcalloc(ncap, sizeof *rb);
    for (ent_t *e = m->oldest; e; e = e->newer) {
        e->knext = kb[e->kh & (ncap - 1)];
        kb[e->kh & (ncap - 1)] = e;
        e->rnext = rb[e->rh & (ncap - 1)];
        rb[e->rh & (ncap - 1)] = e;
    }
    free(m->kb);
    free(m->rb);
    m->kb = kb;
    m->rb = rb;
    m->cap = ncap;
}

void respmap_add(respmap_t *m, slice_t key, struct account *to, slice_t reply, int64_t ttl_ns,
                 bool singleton, int64_t now_ns)
{
    ent_t *e = xmalloc(sizeof *e + key.n + reply.n);
    e->kh = hash_bytes(key.p, key.n);
    e->rh = reply_hash(to, reply.p, reply.n);
    e->to = to;
    e->ttl_ns = ttl_ns;
    e->expires_ns = now_ns + ttl_ns;
    e->singleton = singleton;
    e->klen = (uint32_t)key.n;
    e->rlen = (uint32_t)reply.n;
    memcpy(e->data, key.p, key.n);
    memcpy(e->data + key.n, reply.p, reply.n);
    pthread_mutex_lock(&m->mu);
    while (m->oldest && (m->n >= RESP_MAP_MAX || m->oldest->expires_ns <= now_ns))
        drop(m, m->oldest);
    if (m->n + 1 > m->cap && m->cap < RESP_MAP_MAX) grow(m);
    if (!m->cap) grow(m);
    ent_t **ks = &m->kb[e->kh & (m->cap - 1)], **rs = &m->rb[e->rh & (m->cap - 1)];
    e->knext = *ks;
    *ks = e;
    e->rnext = *rs;
    *rs = e;
    e->newer = NULL;
    e->older = m->newest;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
    m->n++;
    atomic_store_explicit(&m->live, m->n, memory_order_relaxed);
    pthread_mutex_unlock(&m->mu);
}

void respmap_remove(respmap_t *m, slice_t key)
{
    uint64_t h = hash_bytes(key.p, key.n);
    pthread_mutex_lock(&m->mu);
    if (m->cap) {
        ent_t *e = *kslot(m, key.p, key.n, h);
        if (e) drop(m, e);
    }
    pthread_mutex_unlock(&m->mu);
}

bool respmap_take(respmap_t *m, slice_t key, int64_t now_ns, struct account **to, char *reply,
                  size_t cap, size_t *rn)
{
    bool ok = false;
    uint64_t h = hash_bytes(key.p, key.n);
    pthread_mutex_lock(&m->mu);
    ent_t *e = m->cap ? *kslot(m, key.p, key.n, h) : NULL;
    if (e && e->expires_ns > now_ns && e->rlen < cap) {
        *to = e->to;
        memcpy(reply, e->data + e->klen, e->rlen);
        *rn = e->rlen;
        ok = true;
        if (e->singleton)
            drop(m, e);
        else
            e->expires_ns = now_ns + e->ttl_ns;
    } else if (e) {
        drop(m, e);
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* Under mu: an entry the requester no longer waits for. */
static void drop_lost(respmap_t *m, ent_t *e, void (*dropped)(slice_t key))
{
    if (dropped) dropped((slice_t){e->data, e->klen});
    drop(m, e);
}

void respmap_interest_gone(respmap_t *m, const struct account *to, slice_t pattern,
                           bool (*still_wanted)(const struct account *to, slice_t reply),
                           void (*dropped)(slice_t key))
{
    /* every unsubscribe of an importing account comes here: an empty map costs a load
     * (an entry added meanwhile is for a request still in flight, not this sub's) */
    if (!atomic_load_explicit(&m->live, memory_order_relaxed)) return;
    pthread_mutex_lock(&m->mu);
    if (!m->n) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    if (!subject_has_wildcard(pattern.p, pattern.n)) {
        /* a literal (an old-style request's inbox): its own chain only */
        uint64_t h = reply_hash(to, pattern.p, pattern.n);
        for (ent_t *e = m->rb[h & (m->cap - 1)], *next; e; e = next) {
            next = e->rnext;
            if (e->to == to && e->rh == h && e->rlen == pattern.n &&
                memcmp(e->data + e->klen, pattern.p, pattern.n) == 0 && !still_wanted(to, pattern))
                drop_lost(m, e, dropped);
        }
    } else {
        for (ent_t *e = m->oldest, *next; e; e = next) {
            next = e->newer;
            slice_t r = {e->data + e->klen, e->rlen};
            if (e->to == to && subject_matches(pattern.p, pattern.n, r.p, r.n) &&
                !still_wanted(to, r))
                drop_lost(m, e, dropped);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

size_t respmap_list(respmap_t *m, int64_t now_ns,
                    void (*fn)(void *arg, slice_t key, const struct account *to, slice_t reply),
                    void *arg)
{
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (ent_t *e = m->oldest, *next; e; e = next) {
        next = e->newer;
        if (e->expires_ns <= now_ns) {
            drop(m, e);
            continue;
        }
        if (fn) fn(arg, (slice_t){e->data, e->klen}, e->to, (slice_t){e->data + e->klen, e->rlen});
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

size_t respmap_count(respmap_t *m, int64_t now_ns)
{
    return respmap_list(m, now_ns, NULL, NULL);
}

void respmap_free(respmap_t *m)
{
    if (!m) return;
    while (m->oldest)
        drop(m, m->oldest);
    free(m->kb);
    free(m->rb);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
