/* gwreply.c: see gwreply.h. */
#include "nats/gwreply.h"
#include "base/hash.h"

#include <pthread.h>
#include <stdlib.h>

#define RMAP_MAX 4096            /* entries per connection: a bound, not a target */
#define RMAP_TTL_NS 2000000000LL /* the reference keeps them 2 s */

typedef struct rent {
    struct rent *next;
    int64_t exp;
    uint64_t h;
    size_t n; /* the full reply's length */
    char full[];
} rent_t;

typedef struct gw_rmap {
    pthread_mutex_t mu;
    rent_t *b[256];
    size_t n;
} gw_rmap_t;

static void rmap_sweep_locked(gw_rmap_t *m, int64_t now)
{
    for (size_t i = 0; i < ARRAY_LEN(m->b); i++) {
        for (rent_t **pp = &m->b[i]; *pp;) {
            if ((*pp)->exp <= now) {
                rent_t *e = *pp;
                *pp = e->next;
                free(e);
                m->n--;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

void gwreply_track(conn_t *c, slice_t reply)
{
    gw_rmap_t *m = atomic_load_explicit(&c->gw_rmap, memory_order_acquire);
    if (!m) {
        gw_rmap_t *nm = xcalloc(1, sizeof *nm);
        pthread_mutex_init(&nm->mu, NULL);
        gw_rmap_t *expected = NULL;
        if (atomic_compare_exchange_strong(&c->gw_rmap, &expected, nm)) {
            m = nm;
            atomic_store_explicit(&c->gw_mapped, true, memory_order_release);
        } else {
            pthread_mutex_destroy(&nm->mu);
            free(nm);
            m = expected;
        }
    }
    slice_t sh = {reply.p + GW_PREFIX_LEN, reply.n - GW_PREFIX_LEN};
    uint64_t h = hash_bytes(sh.p, sh.n);
    int64_t now = now_mono_ns();
    pthread_mutex_lock(&m->mu);
    rent_t **pp = &m->b[h & 255];
    for (; *pp; pp = &(*pp)->next) {
        rent_t *e = *pp;
        if (e->h == h && e->n == reply.n && memcmp(e->full, reply.p, reply.n) == 0) {
            e->exp = now + RMAP_TTL_NS;
            pthread_mutex_unlock(&m->mu);
            return;
        }
    }
    if (m->n >= RMAP_MAX) rmap_sweep_locked(m, now);
    if (m->n < RMAP_MAX) {
        rent_t *e = xmalloc(sizeof *e + reply.n);
        e->exp = now + RMAP_TTL_NS;
        e->h = h;
        e->n = reply.n;
        memcpy(e->full, reply.p, reply.n);
        e->next = m->b[h & 255];
        m->b[h & 255] = e;
        m->n++;
    }
    pthread_mutex_unlock(&m->mu);
}

bool gwreply_mapped(conn_t *c, slice_t subj, char *out, size_t cap, slice_t *res)
{
    gw_rmap_t *m = atomic_load_explicit(&c->gw_rmap, memory_order_acquire);
    if (!m) return false;
    uint64_t h = hash_bytes(subj.p, subj.n);
    int64_t now = now_mono_ns();
    bool found = false;
    pthread_mutex_lock(&m->mu);
    for (rent_t **pp = &m->b[h & 255]; *pp; pp = &(*pp)->next) {
        rent_t *e = *pp;
        if (e->h != h || e->n - GW_PREFIX_LEN != subj.n ||
            memcmp(e->full + GW_PREFIX_LEN, subj.p, subj.n) != 0)
            continue;
        if (e->exp > now && e->n <= cap) {
            memcpy(out, e->full, e->n);
            *res = (slice_t){out, e->n};
            found = true;
        }
        break;
    }
    if (m->n > RMAP_MAX / 2) rmap_sweep_locked(m, now);
    pthread_mutex_unlock(&m->mu);
    return found;
}

void gwreply_free(conn_t *c)
{
    gw_rmap_t *m = atomic_exchange(&c->gw_rmap, NULL);
    if (!m) return;
    rmap_sweep_locked(m, INT64_MAX);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
